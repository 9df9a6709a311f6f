//! Fetch (v4+): reads the requested partitions that have something new from their
//! actors, within the response and per-partition byte limits, and waits for `min_bytes`
//! across partitions for up to `max_wait_ms`. Which partitions have data, and the wait,
//! come from the offsets each partition publishes (a watch channel): a partition with
//! nothing past the fetch offset gets no message, and a waiting fetch none either, so a
//! fetch's cost follows the partitions with data, not all the partitions it names.
//! A fetch returns as soon as `min_bytes` are there; it never waits out `max_wait_ms`
//! when data is available. Fetch sessions are answered sessionless (session id 0), so
//! clients send full fetches.
//!
//! `isolation_level` 1 (read_committed) reads only below each partition's last stable
//! offset, waits for that to move rather than for the high watermark, and lists the
//! aborted transactions overlapping what it returns (an empty list when there are
//! none; read_uncommitted gets none at all, as in Kafka).

use super::topic_naming::TopicNaming;
use super::{BrokerContext, LeaderHints, Session};
use crate::actors::partition::PartitionOffsets;
use crate::actors::partition::{Fetch, FetchData, IsolationLevel, PartitionError};
use crate::actors::routing::{any_change, OffsetsWatch, PartitionRoute, TopicRoute};
use crate::protocol::messages::fetch_request::FetchRequest;
use crate::protocol::messages::fetch_response::{
    AbortedTransaction, FetchResponse, FetchableTopicResponse, LeaderIdAndEpoch, NodeEndpoint,
    PartitionData,
};
use crate::protocol::records::RecordBatch;
use crate::protocol::ErrorCode;
use crate::security::acl::AclOperation;
use crate::security::authorizer::Authz;
use bytes::Bytes;
use futures::future::join_all;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Fetch names topics by id from v13.
const TOPIC_IDS_FROM: i16 = 13;

/// One requested partition: where its answer goes, its place in its topic's route (or
/// why there is none) and what to read from it.
struct PartitionRead {
    topic: usize,
    partition: i32,
    route: Result<usize, ErrorCode>,
    offset: i64,
    max_bytes: usize,
    current_leader_epoch: i32,
}

/// The longest prefix of whole batches in `records` that fits `budget` bytes.
fn whole_batches_within(records: &Bytes, budget: usize) -> Bytes {
    let mut end = 0;
    while end < records.len() {
        match RecordBatch::peek_total_size(&records[end..], usize::MAX) {
            Ok(size) if end + size <= budget => end += size,
            _ => break,
        }
    }
    records.slice(..end)
}

/// The partitions of a fetch, as the routing snapshot of its start has them. Nothing
/// per partition is cloned until the fetch has to wait: a partition's offsets are read
/// in the snapshot, and only a partition with data gets a message.
struct Reads<'a> {
    plan: &'a [PartitionRead],
    topics: &'a [Option<Arc<TopicRoute>>],
    isolation: IsolationLevel,
    /// A follower's fetch: its broker id.
    replica: Option<i32>,
    /// Each partition's watch of its offsets, made at the first wait.
    watches: Option<Vec<Option<OffsetsWatch>>>,
    /// The offsets each partition's last read went by.
    read_at: Vec<Option<PartitionOffsets>>,
}

impl<'a> Reads<'a> {
    fn new(
        plan: &'a [PartitionRead],
        topics: &'a [Option<Arc<TopicRoute>>],
        isolation: IsolationLevel,
        replica: Option<i32>,
    ) -> Self {
        Reads {
            plan,
            topics,
            isolation,
            replica,
            watches: None,
            read_at: vec![None; plan.len()],
        }
    }

    fn route(&self, p: &PartitionRead) -> Option<&'a PartitionRoute> {
        let topics = self.topics;
        let i = *p.route.as_ref().ok()?;
        topics.get(p.topic)?.as_ref()?.partitions.get(i)?.as_ref()
    }

    /// Reads every partition with something past its fetch offset; the others answer
    /// empty without a message.
    async fn read_all(&mut self, response_max: usize) -> Vec<Result<FetchData, PartitionError>> {
        let mut results: Vec<Result<FetchData, PartitionError>> =
            Vec::with_capacity(self.plan.len());
        let mut reads = Vec::new();
        for (i, p) in self.plan.iter().enumerate() {
            let Some(route) = self.route(p) else {
                results.push(Err(PartitionError::Closed));
                continue;
            };
            // Marked seen when the fetch has waited before, so that a change after
            // this read ends the next wait.
            let offsets = match self.watches.as_mut().and_then(|w| w[i].as_mut()) {
                Some(watch) => watch.seen(),
                None => route.offsets(),
            };
            self.read_at[i] = Some(offsets);
            // At the end of what it may read: nothing to ask the actor. (An offset past
            // the end, or before the log start, is read: the actor answers
            // OFFSET_OUT_OF_RANGE.)
            // A follower's read is always sent: its fetch offset is its position.
            if self.replica.is_none() && p.offset == offsets.readable_end(self.isolation) {
                results.push(Ok(FetchData {
                    offsets,
                    ..FetchData::default()
                }));
                continue;
            }
            results.push(Ok(FetchData::default()));
            reads.push((
                i,
                route.addr.send(Fetch {
                    offset: p.offset,
                    max_bytes: p.max_bytes.min(response_max),
                    isolation: self.isolation,
                    replica: self.replica,
                    current_leader_epoch: p.current_leader_epoch,
                }),
            ));
        }
        let (places, sends): (Vec<usize>, Vec<_>) = reads.into_iter().unzip();
        for (i, answer) in places.into_iter().zip(join_all(sends).await) {
            results[i] = answer.unwrap_or(Err(PartitionError::Closed));
        }
        // The response limit, in request order: the first partition with data always
        // gets at least one batch (KIP-74); later ones only what still fits.
        let mut used = 0usize;
        for r in results.iter_mut().flatten() {
            let budget = response_max.saturating_sub(used);
            if used > 0 && r.records.len() > budget {
                r.records = whole_batches_within(&r.records, budget);
                // Aborted transactions that only overlap the cut batches stay listed:
                // harmless, as in Kafka, where the list may cover more than is returned.
            }
            used += r.records.len();
        }
        results
    }

    /// Waits up to `wait` for a partition's offsets to change after the last read. The
    /// first wait makes the watches and marks them seen; a change between the read and
    /// that ends it at once.
    async fn wait(&mut self, wait: Duration) {
        if self.watches.is_none() {
            let watches: Vec<Option<OffsetsWatch>> = self
                .plan
                .iter()
                .map(|p| self.route(p).map(PartitionRoute::watch))
                .collect();
            self.watches = Some(watches);
            let moved = self
                .watches
                .iter_mut()
                .flatten()
                .zip(&self.read_at)
                .any(|(w, read)| w.as_mut().is_some_and(|w| Some(w.seen()) != *read));
            if moved {
                return;
            }
        }
        any_change(self.watches.iter_mut().flatten().flatten(), wait).await;
    }
}

pub async fn handle(
    ctx: &BrokerContext,
    session: &Session,
    authz: &Authz<'_>,
    req: FetchRequest,
    version: i16,
) -> FetchResponse {
    // KIP-951: CurrentLeader from v12, NodeEndpoints from v16.
    let mut hints = LeaderHints::for_version(version, 12, 16);
    let naming = TopicNaming::of(version, TOPIC_IDS_FROM);
    // A follower's fetch names its broker (Kafka's ReplicaId, in ReplicaState from
    // v15); it needs CLUSTER_ACTION, as in Kafka.
    let replica_id = if version >= 15 {
        req.replica_state.replica_id
    } else {
        req.replica_id
    };
    let replica = (replica_id >= 0).then_some(replica_id);
    let replica_refused = replica.is_some() && !authz.cluster(AclOperation::ClusterAction);
    let routing = ctx.routing.load();
    let mut topics = Vec::with_capacity(req.topics.len());
    let mut plan = Vec::new();
    // Each topic's route: its partitions, and its counters.
    let mut topic_routes = Vec::with_capacity(req.topics.len());
    for (ti, t) in req.topics.iter().enumerate() {
        let route = if replica_refused {
            Err(ErrorCode::TopicAuthorizationFailed)
        } else {
            naming.find_authorized(&routing, &t.topic, &t.topic_id, authz, AclOperation::Read)
        };
        topic_routes.push(route.ok().cloned());
        for p in &t.partitions {
            plan.push(PartitionRead {
                topic: ti,
                partition: p.partition,
                route: route.and_then(|r| match r.partition(p.partition) {
                    Some(_) => usize::try_from(p.partition).map_err(|_| naming.unknown_topic()),
                    None if r.has_partition(p.partition) => Err(ErrorCode::NotLeaderOrFollower),
                    None => Err(naming.unknown_topic()),
                }),
                offset: p.fetch_offset,
                max_bytes: usize::try_from(p.partition_max_bytes).unwrap_or(0),
                current_leader_epoch: p.current_leader_epoch,
            });
        }
        topics.push(FetchableTopicResponse {
            topic: t.topic.clone(),
            topic_id: t.topic_id,
            partitions: Vec::new(),
            ..Default::default()
        });
    }
    drop(routing);
    let response_max = usize::try_from(req.max_bytes)
        .unwrap_or(0)
        .min(ctx.config.load().fetch_max_bytes);
    let min_bytes = usize::try_from(req.min_bytes).unwrap_or(0);
    let isolation = match replica {
        Some(_) => IsolationLevel::ReadUncommitted,
        None => IsolationLevel::from_kafka(req.isolation_level),
    };
    let deadline =
        Instant::now() + Duration::from_millis(u64::try_from(req.max_wait_ms).unwrap_or(0));
    let mut reads = Reads::new(&plan, &topic_routes, isolation, replica);
    let results = loop {
        let results = reads.read_all(response_max).await;
        let bytes: usize = results.iter().flatten().map(|d| d.records.len()).sum();
        let failed = results.iter().any(Result::is_err);
        let now = Instant::now();
        // An unknown partition fails the read; with no partition at all there is
        // nothing to wait on either.
        if bytes >= min_bytes || failed || now >= deadline || plan.is_empty() {
            break results;
        }
        // Wait until a partition reports a change (then read again) or the wait runs
        // out. A change after `read_all` saw the offsets is never missed.
        reads.wait(deadline - now).await;
    };
    for (p, res) in plan.iter().zip(results) {
        // The offsets the records were read at; a partition that failed reports them
        // as they are now.
        let offsets = match &res {
            Ok(d) => d.offsets,
            Err(_) => reads
                .route(p)
                .map(PartitionRoute::offsets)
                .unwrap_or_default(),
        };
        let (code, records, aborted) = match (&p.route, res) {
            (Err(code), _) => (*code, Bytes::new(), Vec::new()),
            (Ok(_), Ok(d)) => (ErrorCode::None, d.records, d.aborted),
            (Ok(_), Err(e)) => (e.code(), Bytes::new(), Vec::new()),
        };
        if let Some(topic) = &topic_routes[p.topic] {
            if code == ErrorCode::None {
                topic.metrics.fetched(records.len() as u64);
            } else {
                topic.metrics.fetch_failed();
            }
        }
        let aborted_transactions = (isolation == IsolationLevel::ReadCommitted).then(|| {
            aborted
                .into_iter()
                .map(|a| AbortedTransaction {
                    producer_id: a.producer_id,
                    first_offset: a.first_offset,
                    ..Default::default()
                })
                .collect()
        });
        let known = p.route.is_ok();
        // KIP-951: where a partition led elsewhere is led.
        let mut current_leader = LeaderIdAndEpoch::default();
        if code == ErrorCode::NotLeaderOrFollower {
            let routing = ctx.routing.load();
            let hint = topic_routes[p.topic]
                .as_ref()
                .and_then(|t| hints.note(&routing, &session.listener, t, p.partition));
            if let Some((leader, epoch)) = hint {
                current_leader.leader_id = leader;
                current_leader.leader_epoch = epoch;
            }
        }
        topics[p.topic].partitions.push(PartitionData {
            current_leader,
            partition_index: p.partition,
            error_code: code.code(),
            high_watermark: if known { offsets.high_watermark } else { -1 },
            last_stable_offset: if known {
                offsets.last_stable_offset
            } else {
                -1
            },
            log_start_offset: if known { offsets.log_start_offset } else { -1 },
            records: Some(records),
            aborted_transactions,
            ..Default::default()
        });
    }
    FetchResponse {
        error_code: 0,
        session_id: 0,
        responses: topics,
        node_endpoints: hints.endpoints(|node_id, host, port, rack| NodeEndpoint {
            node_id,
            host,
            port,
            rack,
            ..Default::default()
        }),
        ..Default::default()
    }
}
