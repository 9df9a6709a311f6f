//! How a transaction coordinator reaches the rest of the broker: its records in
//! `__transaction_state`, the partitions it tells about a transaction (KIP-890's
//! registration), the markers it writes, the groups it settles, and producer ids.

use super::*;
use crate::actors::broker::write_marker;
use crate::cluster::txn::{leader_of, write_markers_at, Led, Markers};
use std::collections::{BTreeMap, BTreeSet};

/// What the actor needs to reach the rest of the broker; cloned into its futures.
#[derive(Clone)]
pub struct TxnIo {
    pub log: Addr<PartitionActor>,
    pub broker: Addr<BrokerActor>,
    pub routing: RoutingHandle,
    pub wait_for_fsync: bool,
    pub max_timeout_ms: u32,
    /// `transactional.id.expiration.ms`.
    pub expiration_ms: u32,
}

impl TxnIo {
    /// Appends the id's metadata to `__transaction_state`.
    pub(super) async fn persist(&self, id: &str, m: &TxnMetadata) -> Result<(), ErrorCode> {
        self.append(id, Some(&record::value_bytes(m))).await
    }

    /// Appends the id's tombstone: it expired.
    pub(super) async fn forget(&self, id: &str) -> Result<(), ErrorCode> {
        self.append(id, None).await
    }

    pub(super) async fn append(&self, id: &str, value: Option<&[u8]>) -> Result<(), ErrorCode> {
        let batch = RecordBatchBuilder::new(0, now_ms())
            .record(RecordSpec::new(Some(&record::key_bytes(id)), value))
            .build();
        let append = Append {
            batch: Bytes::from(batch),
            wait_for_fsync: self.wait_for_fsync,
        };
        match append_replicated(&self.log, append).await {
            Ok(_) => Ok(()),
            // This broker no longer leads the partition: the client finds the new one.
            Err(PartitionError::Closed) => Err(ErrorCode::NotCoordinator),
            Err(e) => {
                tracing::warn!(transactional_id = %id, error = %e, "persisting transaction state failed");
                Err(ErrorCode::CoordinatorNotAvailable)
            }
        }
    }

    /// Tells each of `partitions` that the producer's transaction may write there
    /// (the partitions refuse a client's transactional batch otherwise), and waits until
    /// each has it. A partition that no longer exists needs nothing.
    pub(super) async fn expect_writes(
        &self,
        producer_id: i64,
        producer_epoch: i16,
        partitions: &[(String, i32)],
    ) {
        let sends = self.partition_actors(partitions).into_iter().map(|addr| {
            addr.send(ExpectTxn {
                producer_id,
                producer_epoch,
            })
        });
        futures::future::join_all(sends).await;
    }

    /// The actors of those of `partitions` that exist.
    pub(super) fn partition_actors<'a>(
        &self,
        partitions: impl IntoIterator<Item = &'a (String, i32)>,
    ) -> Vec<Addr<PartitionActor>> {
        let routing = self.routing.load();
        partitions
            .into_iter()
            .filter_map(|(topic, p)| routing.partition(topic, *p).map(|r| r.addr.clone()))
            .collect()
    }

    pub(super) async fn allocate_producer_id(&self) -> Result<i64, ErrorCode> {
        match self.broker.send(AllocateProducerId).await {
            Ok(Ok(id)) => Ok(id),
            Ok(Err((code, message))) => {
                tracing::warn!(%message, "no producer id");
                Err(code)
            }
            Err(_) => Err(ErrorCode::CoordinatorNotAvailable),
        }
    }

    /// Writes the markers of a prepared transaction to each of its partitions, those
    /// led elsewhere with WriteTxnMarkers to their leaders. Its groups' `__consumer_offsets`
    /// partitions are among them (AddOffsetsToTxn adds them): whichever broker writes
    /// a marker there settles the groups it coordinates. Done once every in-sync replica
    /// has each marker. A deleted partition needs no marker; one without a leader now
    /// is retried later.
    pub(super) async fn write_markers(&self, id: &str, m: &TxnMetadata) -> Result<(), String> {
        let commit = m.state == TxnState::PrepareCommit;
        let routing = self.routing.load_full();
        let mut here = Vec::new();
        let mut elsewhere: BTreeMap<i32, BTreeSet<(String, i32)>> = BTreeMap::new();
        for (topic, partition) in &m.partitions {
            match leader_of(&routing, topic, *partition) {
                Led::Here => here.extend(
                    routing
                        .partition(topic, *partition)
                        .map(|r| ((topic.as_str(), *partition), r.addr.clone())),
                ),
                Led::At(broker) => {
                    elsewhere
                        .entry(broker)
                        .or_default()
                        .insert((topic.clone(), *partition));
                }
                Led::Offline => return Err(format!("{topic}-{partition} has no leader now")),
                Led::Gone => {}
            }
        }
        let local = here.iter().map(|(at, leader)| {
            let marker = WriteTxnMarker {
                producer_id: m.producer_id,
                producer_epoch: m.producer_epoch,
                coordinator_epoch: COORDINATOR_EPOCH,
                commit,
                wait_for_fsync: self.wait_for_fsync,
            };
            write_marker(&self.broker, *at, leader, marker)
        });
        let markers = Markers {
            producer_id: m.producer_id,
            producer_epoch: m.producer_epoch,
            commit,
            coordinator_epoch: COORDINATOR_EPOCH,
        };
        let remote = elsewhere.iter().map(|(broker, partitions)| {
            let partitions: Vec<(String, i32)> = partitions.iter().cloned().collect();
            let routing = &routing;
            async move { write_markers_at(routing, *broker, markers, &partitions).await }
        });
        let (local, remote) = futures::future::join(
            futures::future::join_all(local),
            futures::future::join_all(remote),
        )
        .await;
        for result in local {
            result.map_err(|e| format!("marker: {e}"))?;
        }
        for result in remote {
            result.map_err(|e| format!("marker: {e}"))?;
        }
        tracing::debug!(transactional_id = %id, commit, partitions = m.partitions.len(), "transaction markers written");
        Ok(())
    }

    /// Carries out a prepared decision: markers, then the Complete* state. Returns the
    /// newest metadata that is persisted and whether the transaction is complete.
    pub(super) async fn complete(&self, id: &str, prepared: TxnMetadata) -> (TxnMetadata, bool) {
        if let Err(error) = self.write_markers(id, &prepared).await {
            tracing::warn!(transactional_id = %id, %error, "transaction markers not written yet; retrying");
            return (prepared, false);
        }
        let done = prepared.complete(now_ms());
        match self.persist(id, &done).await {
            Ok(()) => (done, true),
            Err(_) => (prepared, false),
        }
    }

    /// Persists a Prepare* decision and carries it out. `Err` if the decision itself
    /// could not be persisted (nothing changed); else the newest persisted metadata.
    pub(super) async fn end(
        &self,
        id: &str,
        prepared: TxnMetadata,
    ) -> Result<(TxnMetadata, bool), ErrorCode> {
        self.persist(id, &prepared).await?;
        Ok(self.complete(id, prepared).await)
    }

    /// InitProducerId: aborts an open transaction first, then bumps the epoch (or gives
    /// a new id its first producer id).
    pub(super) async fn init(
        &self,
        id: &str,
        current: Option<TxnMetadata>,
        msg: &InitTxnProducer,
    ) -> (Option<TxnMetadata>, Result<(i64, i16), ErrorCode>) {
        let now = now_ms();
        if let Err(e) = TxnMetadata::check_timeout(msg.timeout_ms, self.max_timeout_ms) {
            return (current, Err(e));
        }
        let Some(mut m) = current else {
            let fresh = match self.allocate_producer_id().await {
                Ok(pid) => TxnMetadata::new(pid, msg.timeout_ms, now),
                Err(e) => return (None, Err(e)),
            };
            return match self.persist(id, &fresh).await {
                Ok(()) => {
                    let answer = (fresh.producer_id, fresh.producer_epoch);
                    (Some(fresh), Ok(answer))
                }
                Err(e) => (None, Err(e)),
            };
        };
        loop {
            let next = match m.init_producer_id(msg.timeout_ms, msg.expected, now_ms()) {
                Ok(InitStep::Ready(next)) => next,
                Ok(InitStep::NewProducerId) => match self.allocate_producer_id().await {
                    Ok(pid) => m.with_new_producer_id(pid, msg.timeout_ms, now_ms()),
                    Err(e) => return (Some(m), Err(e)),
                },
                Ok(InitStep::AbortFirst(prepared)) => {
                    tracing::info!(transactional_id = %id, "a new producer fences the open transaction; aborting it");
                    match self.end(id, prepared).await {
                        Ok((after, true)) => {
                            m = after;
                            continue;
                        }
                        Ok((after, false)) => {
                            return (Some(after), Err(ErrorCode::ConcurrentTransactions))
                        }
                        Err(e) => return (Some(m), Err(e)),
                    }
                }
                Err(e) => return (Some(m), Err(e)),
            };
            return match self.persist(id, &next).await {
                Ok(()) => {
                    let answer = (next.producer_id, next.producer_epoch);
                    (Some(next), Ok(answer))
                }
                Err(e) => (Some(m), Err(e)),
            };
        }
    }
}
