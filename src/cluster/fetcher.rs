//! Replica fetchers (Kafka's `ReplicaFetcherThread`): one task per leader this broker
//! follows partitions of, carrying all of them in one Fetch (ReplicaId = this broker)
//! over one connection to the leader's PLAINTEXT listener. The leader's batches are
//! appended unchanged (same offsets, same bytes) and its high watermark is learnt from
//! each answer.
//!
//! Before a partition is fetched at a leader epoch, the follower asks the leader where
//! its own latest epoch ends (OffsetForLeaderEpoch) and cuts what it holds beyond that
//! (KIP-101/279): a tail written under a leader that lost its place never survives.

use crate::actors::partition::{
    AppendReplica, EpochEndOffset, LatestEpoch, PartitionActor, PartitionError, PartitionOffsets,
    TruncateTo,
};
use crate::cluster::peer::{PeerConnection, PeerError as FetchError};
use crate::cluster::MetadataImage;
use crate::protocol::messages::fetch_request::{FetchPartition, FetchRequest, FetchTopic};
use crate::protocol::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderEpochRequest, OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use crate::protocol::{ErrorCode, Request, Response};
use actix::Addr;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Fetch v12: topics by name, the replica id in the body.
const FETCH_VERSION: i16 = 12;
const EPOCH_VERSION: i16 = 4;

/// The settings of every fetcher (Kafka's `replica.fetch.*`).
#[derive(Debug, Clone, Copy)]
pub struct FetcherSettings {
    pub me: i32,
    pub max_wait_ms: i32,
    pub min_bytes: i32,
    pub max_bytes: i32,
    pub partition_max_bytes: i32,
    pub backoff: Duration,
    pub request_timeout: Duration,
}

/// One partition this broker follows.
#[derive(Clone)]
pub struct Followed {
    pub topic: String,
    pub partition: i32,
    pub leader_epoch: i32,
    pub addr: Addr<PartitionActor>,
    pub offsets: watch::Receiver<PartitionOffsets>,
}

/// The fetchers of one broker, by the leader each fetches from.
pub struct Fetchers {
    settings: FetcherSettings,
    images: watch::Receiver<Arc<MetadataImage>>,
    by_leader: HashMap<i32, watch::Sender<Arc<Vec<Followed>>>>,
}

impl Fetchers {
    pub fn new(settings: FetcherSettings, images: watch::Receiver<Arc<MetadataImage>>) -> Self {
        Fetchers {
            settings,
            images,
            by_leader: HashMap::new(),
        }
    }

    /// Follows exactly `assignment` (leader -> partitions): a fetcher starts for a new
    /// leader and stops for one no longer followed.
    pub fn assign(&mut self, mut assignment: BTreeMap<i32, Vec<Followed>>) {
        self.by_leader
            .retain(|leader, _| assignment.contains_key(leader));
        for (leader, partitions) in std::mem::take(&mut assignment) {
            let partitions = Arc::new(partitions);
            match self.by_leader.get(&leader) {
                Some(tx) => {
                    tx.send_replace(partitions);
                }
                None => {
                    let (tx, rx) = watch::channel(partitions);
                    self.by_leader.insert(leader, tx);
                    let fetcher = Fetcher {
                        settings: self.settings,
                        leader,
                        images: self.images.clone(),
                        partitions: rx,
                        checked: HashMap::new(),
                    };
                    actix::spawn(fetcher.run());
                }
            }
        }
    }
}

struct Fetcher {
    settings: FetcherSettings,
    leader: i32,
    images: watch::Receiver<Arc<MetadataImage>>,
    partitions: watch::Receiver<Arc<Vec<Followed>>>,
    /// (topic, partition) -> the leader epoch its log was checked against.
    checked: HashMap<(String, i32), i32>,
}

impl Fetcher {
    async fn run(mut self) {
        let mut connection: Option<PeerConnection> = None;
        loop {
            if self.partitions.has_changed().is_err() {
                return; // no longer followed
            }
            let partitions = Arc::clone(&self.partitions.borrow_and_update());
            if partitions.is_empty() {
                if self.partitions.changed().await.is_err() {
                    return;
                }
                continue;
            }
            if connection.is_none() {
                match self.connect().await {
                    Ok(c) => connection = Some(c),
                    Err(error) => {
                        tracing::debug!(leader = self.leader, %error, "replica fetcher cannot reach its leader");
                        tokio::time::sleep(self.settings.backoff).await;
                        continue;
                    }
                }
            }
            let Some(conn) = connection.as_mut() else {
                continue;
            };
            if let Err(error) = self.round(conn, &partitions).await {
                tracing::info!(leader = self.leader, %error, "replica fetch failed; reconnecting");
                connection = None;
                tokio::time::sleep(self.settings.backoff).await;
            }
        }
    }

    async fn connect(&self) -> Result<PeerConnection, FetchError> {
        let image = Arc::clone(&self.images.borrow());
        let client_id = format!("replica-fetcher-{}", self.settings.me);
        PeerConnection::connect(
            &image,
            self.leader,
            client_id,
            self.settings.request_timeout,
        )
        .await
    }

    /// One round: the truncation check of partitions new at their epoch, then a fetch
    /// of every checked one.
    async fn round(
        &mut self,
        conn: &mut PeerConnection,
        partitions: &[Followed],
    ) -> Result<(), FetchError> {
        let unchecked: Vec<&Followed> = partitions
            .iter()
            .filter(|p| self.checked.get(&(p.topic.clone(), p.partition)) != Some(&p.leader_epoch))
            .collect();
        if !unchecked.is_empty() {
            self.truncate(conn, &unchecked).await?;
        }
        let ready: Vec<&Followed> = partitions
            .iter()
            .filter(|p| self.checked.get(&(p.topic.clone(), p.partition)) == Some(&p.leader_epoch))
            .collect();
        if ready.is_empty() {
            tokio::time::sleep(self.settings.backoff).await;
            return Ok(());
        }
        self.fetch(conn, &ready).await
    }

    /// KIP-279: asks the leader where each partition's latest local epoch ends, and cuts
    /// the local log there.
    async fn truncate(
        &mut self,
        conn: &mut PeerConnection,
        partitions: &[&Followed],
    ) -> Result<(), FetchError> {
        let mut local = Vec::with_capacity(partitions.len());
        for p in partitions {
            match p.addr.send(LatestEpoch).await {
                Ok(Ok(latest)) => local.push(Some(latest)),
                _ => local.push(None),
            }
        }
        let mut topics: BTreeMap<&str, Vec<OffsetForLeaderPartition>> = BTreeMap::new();
        for (p, latest) in partitions.iter().zip(&local) {
            // A log with no epoch (empty, or written before it was replicated) has
            // nothing to check.
            if let Some((Some(epoch), _)) = latest {
                topics
                    .entry(&p.topic)
                    .or_default()
                    .push(OffsetForLeaderPartition {
                        partition: p.partition,
                        current_leader_epoch: p.leader_epoch,
                        leader_epoch: *epoch,
                        ..Default::default()
                    });
            }
        }
        let mut answers: HashMap<(String, i32), (ErrorCode, i32, i64)> = HashMap::new();
        if !topics.is_empty() {
            let request = OffsetForLeaderEpochRequest {
                replica_id: self.settings.me,
                topics: topics
                    .into_iter()
                    .map(|(topic, partitions)| OffsetForLeaderTopic {
                        topic: topic.to_string(),
                        partitions,
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            };
            let response = conn
                .call(
                    EPOCH_VERSION,
                    Request::OffsetForLeaderEpoch(request),
                    self.settings.request_timeout,
                )
                .await?;
            let Response::OffsetForLeaderEpoch(response) = response else {
                return Err(FetchError::Protocol(
                    "not an OffsetForLeaderEpoch answer".into(),
                ));
            };
            for t in response.topics {
                for p in t.partitions {
                    answers.insert(
                        (t.topic.clone(), p.partition),
                        (
                            ErrorCode::from_code(p.error_code)
                                .unwrap_or(ErrorCode::UnknownServerError),
                            p.leader_epoch,
                            p.end_offset,
                        ),
                    );
                }
            }
        }
        for (p, latest) in partitions.iter().zip(local) {
            let key = (p.topic.clone(), p.partition);
            let Some((epoch, end)) = latest else { continue };
            let cut_at = match (epoch, answers.get(&key)) {
                (None, _) => None,
                (Some(_), Some((ErrorCode::None, leader_epoch, leader_end))) => {
                    if *leader_end < 0 {
                        // The leader knows no epoch at or below ours: keep what is
                        // committed, as Kafka does.
                        Some(p.offsets.borrow().high_watermark)
                    } else if Some(*leader_epoch) == epoch {
                        Some((*leader_end).min(end))
                    } else {
                        // The leader's epoch is older than ours: ours ends where that
                        // epoch ends here, or where it ends there if sooner.
                        let ours = p
                            .addr
                            .send(EpochEndOffset {
                                epoch: *leader_epoch,
                                current_epoch: -1,
                                local: true,
                            })
                            .await;
                        match ours {
                            Ok(Ok((_, ours))) if ours >= 0 => Some((*leader_end).min(ours)),
                            _ => Some((*leader_end).min(end)),
                        }
                    }
                }
                // Not ready at the leader (an older or newer epoch there, not yet its
                // leader): asked again next round.
                (Some(_), _) => continue,
            };
            if let Some(offset) = cut_at.filter(|&o| o < end) {
                let truncate = TruncateTo {
                    offset,
                    start_over: false,
                    leader_epoch: p.leader_epoch,
                };
                match p.addr.send(truncate).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => {
                        tracing::warn!(partition = %format_args!("{}-{}", p.topic, p.partition), error = %e, "truncation failed; trying again");
                        continue;
                    }
                    Err(_) => continue,
                }
            }
            self.checked.insert(key, p.leader_epoch);
        }
        Ok(())
    }

    async fn fetch(
        &mut self,
        conn: &mut PeerConnection,
        partitions: &[&Followed],
    ) -> Result<(), FetchError> {
        let mut topics: BTreeMap<&str, Vec<FetchPartition>> = BTreeMap::new();
        for p in partitions {
            let offsets = *p.offsets.borrow();
            topics.entry(&p.topic).or_default().push(FetchPartition {
                partition: p.partition,
                current_leader_epoch: p.leader_epoch,
                fetch_offset: offsets.log_end_offset,
                log_start_offset: offsets.log_start_offset,
                partition_max_bytes: self.settings.partition_max_bytes,
                last_fetched_epoch: -1,
                ..Default::default()
            });
        }
        let request = FetchRequest {
            replica_id: self.settings.me,
            max_wait_ms: self.settings.max_wait_ms,
            min_bytes: self.settings.min_bytes,
            max_bytes: self.settings.max_bytes,
            isolation_level: 0,
            session_id: 0,
            session_epoch: -1,
            topics: topics
                .into_iter()
                .map(|(topic, partitions)| FetchTopic {
                    topic: topic.to_string(),
                    partitions,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        let timeout = self.settings.request_timeout
            + Duration::from_millis(u64::try_from(self.settings.max_wait_ms).unwrap_or(0));
        let response = conn
            .call(FETCH_VERSION, Request::Fetch(request), timeout)
            .await?;
        let Response::Fetch(response) = response else {
            return Err(FetchError::Protocol("not a Fetch answer".into()));
        };
        if response.error_code != 0 {
            return Err(FetchError::Protocol(format!(
                "fetch refused with error {}",
                response.error_code
            )));
        }
        let by_key: HashMap<(&str, i32), &Followed> = partitions
            .iter()
            .map(|p| ((p.topic.as_str(), p.partition), *p))
            .collect();
        let mut appends = Vec::new();
        let mut failed = false;
        for t in &response.responses {
            for data in &t.partitions {
                let Some(p) = by_key.get(&(t.topic.as_str(), data.partition_index)) else {
                    continue;
                };
                match ErrorCode::from_code(data.error_code).unwrap_or(ErrorCode::UnknownServerError)
                {
                    ErrorCode::None => {
                        let append = AppendReplica {
                            records: data.records.clone().unwrap_or_default(),
                            leader_high_watermark: data.high_watermark,
                            leader_log_start: data.log_start_offset,
                            leader_epoch: p.leader_epoch,
                        };
                        appends.push((*p, append.clone(), p.addr.send(append)));
                    }
                    ErrorCode::OffsetOutOfRange => {
                        let ours = p.offsets.borrow().log_end_offset;
                        if data.log_start_offset > ours {
                            // Behind the leader's log start (retention or DeleteRecords
                            // moved it while this replica was away): start over there.
                            tracing::info!(partition = %format_args!("{}-{}", p.topic, p.partition), leader_start = data.log_start_offset, ours, "behind the leader's log start; starting over there");
                            let start_over = TruncateTo {
                                offset: data.log_start_offset,
                                start_over: true,
                                leader_epoch: p.leader_epoch,
                            };
                            let _ = p.addr.send(start_over).await;
                        } else {
                            // Ahead of the leader (a tail it never had): check against
                            // its epochs again.
                            tracing::warn!(partition = %format_args!("{}-{}", p.topic, p.partition), "replica fetch offset out of range at the leader");
                            self.checked.remove(&(p.topic.clone(), p.partition));
                        }
                        failed = true;
                    }
                    code => {
                        tracing::debug!(partition = %format_args!("{}-{}", p.topic, p.partition), ?code, "replica fetch refused");
                        failed = true;
                    }
                }
            }
        }
        for (p, again, append) in appends {
            match append.await {
                Ok(Ok(_)) => {}
                Ok(Err(PartitionError::OffsetOutOfRange {
                    offset,
                    log_start_offset,
                    log_end_offset,
                })) if log_start_offset == log_end_offset && offset < log_end_offset => {
                    // Started over at the leader's log start, which is inside a batch:
                    // start at that batch instead (Kafka's follower does the same).
                    let start_over = TruncateTo {
                        offset,
                        start_over: true,
                        leader_epoch: p.leader_epoch,
                    };
                    if let Ok(Ok(_)) = p.addr.send(start_over).await {
                        let _ = p.addr.send(again).await;
                    }
                }
                Ok(Err(PartitionError::OffsetOutOfRange { .. })) => {
                    self.checked.remove(&(p.topic.clone(), p.partition));
                }
                Ok(Err(e)) => {
                    tracing::warn!(partition = %format_args!("{}-{}", p.topic, p.partition), error = %e, "appending the leader's batches failed");
                    failed = true;
                }
                Err(_) => failed = true,
            }
        }
        if failed {
            // Errors are answered at once: do not ask again at once.
            tokio::time::sleep(self.settings.backoff).await;
        }
        Ok(())
    }
}
