//! The partition's side of transactions: the commit/abort markers the transaction
//! coordinator writes, the producer state every appended batch goes through (open
//! transactions, the last stable offset, the aborted-transaction index), and
//! DescribeProducers.

use actix::prelude::*;
use bytes::Bytes;

use super::{now_ms, Append, Appended, PartitionActor, PartitionError};
use crate::protocol::records::control::{marker_batch, ControlMarker};
use crate::protocol::records::RecordBatch;
use crate::storage::producer_state::ActiveProducer;

/// Writes the control batch (commit or abort marker) that ends a producer's
/// transaction on this partition. Sent by the transaction coordinator. A marker whose
/// `producer_epoch` is older than the producer's current epoch is refused with
/// [`PartitionError::InvalidProducerEpoch`] and not written.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "Result<Appended, PartitionError>")]
pub struct WriteTxnMarker {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub coordinator_epoch: i32,
    pub commit: bool,
    pub wait_for_fsync: bool,
}

/// From the transaction coordinator, once AddPartitionsToTxn added this partition to
/// the producer's transaction: its transactional batches may now be written here.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct ExpectTxn {
    pub producer_id: i64,
    pub producer_epoch: i16,
}

/// The producers this partition remembers (DescribeProducers), by producer id.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "Result<Vec<ActiveProducer>, PartitionError>")]
pub struct DescribeProducers;

impl PartitionActor {
    /// Applies an appended batch (stored at `base_offset`) to the producer state; an
    /// abort marker gets its `.txnindex` entry, and the cleaner learns where the oldest
    /// open transaction now starts. The caller publishes the offsets, which wakes the
    /// read_committed fetches the moved LSO lets through.
    pub(super) fn apply_to_producers(
        &mut self,
        batch: &RecordBatch<'_>,
        base_offset: i64,
        timestamp: i64,
    ) {
        let Some(log) = self.log.as_mut() else {
            return;
        };
        let before = self.producers.first_unstable_offset();
        let completed = self.producers.apply(batch, base_offset, timestamp);
        if let Some(txn) = completed.filter(|t| !t.commit) {
            log.append_aborted_txn(self.producers.aborted_entry(&txn));
        }
        let after = self.producers.first_unstable_offset();
        if before != after {
            log.set_first_unstable_offset(after);
        }
    }
}

impl PartitionActor {
    /// A client's transactional batch is written only into a transaction that its
    /// coordinator added this partition to (KIP-890 part 1, checked here against what
    /// the coordinator told this partition, so the append stays in request order): a
    /// made-up producer id would otherwise open a transaction nothing ever closes, and
    /// the last stable offset would stop there for good.
    pub(super) fn verify_client_txn(&self, batch: &Bytes) -> Result<(), PartitionError> {
        let Ok(header) = RecordBatch::parse(batch) else {
            return Ok(());
        };
        if !header.is_transactional() || header.is_control() {
            return Ok(());
        }
        let (producer_id, epoch) = (header.producer_id(), header.producer_epoch());
        if self.producers.in_transaction(producer_id, epoch) {
            return Ok(());
        }
        match self.expected_txns.get(&producer_id) {
            Some(&expected) if expected == epoch => Ok(()),
            Some(&expected) if expected > epoch => {
                Err(PartitionError::InvalidProducerEpoch(format!(
                    "producer {producer_id}: epoch {epoch} is older than the current {expected}"
                )))
            }
            _ => Err(PartitionError::InvalidTxnState(format!(
                "producer {producer_id} (epoch {epoch}) has no transaction that includes {}",
                self.name
            ))),
        }
    }
}

impl Handler<ExpectTxn> for PartitionActor {
    type Result = ();

    fn handle(&mut self, msg: ExpectTxn, _: &mut Context<Self>) {
        let epoch = self
            .expected_txns
            .entry(msg.producer_id)
            .or_insert(msg.producer_epoch);
        *epoch = (*epoch).max(msg.producer_epoch);
    }
}

impl Handler<WriteTxnMarker> for PartitionActor {
    type Result = ResponseFuture<Result<Appended, PartitionError>>;

    fn handle(&mut self, msg: WriteTxnMarker, ctx: &mut Context<Self>) -> Self::Result {
        // The transaction ends here: its producer must be added again to write more.
        if self
            .expected_txns
            .get(&msg.producer_id)
            .is_some_and(|&e| e <= msg.producer_epoch)
        {
            self.expected_txns.remove(&msg.producer_id);
        }
        let marker = ControlMarker {
            commit: msg.commit,
            coordinator_epoch: msg.coordinator_epoch,
        };
        let batch = marker_batch(msg.producer_id, msg.producer_epoch, marker, now_ms());
        // The append path checks the epoch and applies the marker like any batch.
        <Self as Handler<Append>>::handle(
            self,
            Append {
                batch: Bytes::from(batch),
                wait_for_fsync: msg.wait_for_fsync,
            },
            ctx,
        )
    }
}

impl Handler<DescribeProducers> for PartitionActor {
    type Result = Result<Vec<ActiveProducer>, PartitionError>;

    fn handle(&mut self, _: DescribeProducers, _: &mut Context<Self>) -> Self::Result {
        if self.log.is_none() {
            return Err(PartitionError::Closed);
        }
        Ok(self.producers.active_producers())
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Fetch, InjectFailure, IsolationLevel, ListOffset};
    use super::*;
    use crate::protocol::records::{BatchIter, RecordBatchBuilder, RecordSpec};
    use crate::storage::LogConfig;

    fn start_partition(dir: &std::path::Path) -> Addr<PartitionActor> {
        let config = LogConfig {
            segment_bytes: 1 << 20,
            ..LogConfig::default()
        };
        super::super::tests::start_partition_with(dir, "t-0", config).0
    }

    fn batch(pid: i64, epoch: i16, seq: i32, txn: bool) -> Bytes {
        // Today's time: a batch a year older than the marker would roll the segment
        // (segment.ms), and a read returns one segment's batches.
        let b = RecordBatchBuilder::new(0, now_ms());
        let b = if pid >= 0 {
            b.producer(pid, epoch, seq).transactional(txn)
        } else {
            b
        };
        Bytes::from(b.record(RecordSpec::new(None, Some(b"v"))).build())
    }

    async fn append(p: &Addr<PartitionActor>, batch: Bytes) -> Appended {
        p.send(Append {
            batch,
            wait_for_fsync: false,
        })
        .await
        .expect("mailbox")
        .expect("append")
    }

    fn marker(pid: i64, epoch: i16, commit: bool) -> WriteTxnMarker {
        WriteTxnMarker {
            producer_id: pid,
            producer_epoch: epoch,
            coordinator_epoch: 0,
            commit,
            wait_for_fsync: false,
        }
    }

    fn fetch(offset: i64, isolation: IsolationLevel) -> Fetch {
        Fetch {
            offset,
            max_bytes: 1 << 20,
            isolation,
            replica: None,
            current_leader_epoch: -1,
        }
    }

    fn bases(records: &Bytes) -> Vec<i64> {
        BatchIter::new(records).map(|b| b.base_offset()).collect()
    }

    #[actix::test]
    async fn read_committed_stops_at_the_lso_and_lists_the_aborted_transaction() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = start_partition(dir.path());
        append(&p, batch(-1, 0, 0, false)).await;
        append(&p, batch(1, 0, 0, true)).await;
        append(&p, batch(-1, 0, 0, false)).await;
        let rc = p
            .send(fetch(0, IsolationLevel::ReadCommitted))
            .await
            .expect("mailbox")
            .expect("fetch");
        assert_eq!(bases(&rc.records), vec![0]);
        assert_eq!(
            (rc.offsets.last_stable_offset, rc.offsets.high_watermark),
            (1, 3)
        );
        let (_, latest) = p
            .send(ListOffset {
                timestamp: -1,
                isolation: IsolationLevel::ReadCommitted,
            })
            .await
            .expect("mailbox")
            .expect("list");
        assert_eq!(latest, 1);

        let m = p
            .send(marker(1, 0, false))
            .await
            .expect("mailbox")
            .expect("marker");
        assert_eq!(m.base_offset, 3);
        let rc = p
            .send(fetch(0, IsolationLevel::ReadCommitted))
            .await
            .expect("mailbox")
            .expect("fetch");
        assert_eq!(bases(&rc.records), vec![0, 1, 2, 3]);
        assert_eq!(rc.offsets.last_stable_offset, 4);
        assert_eq!(rc.aborted.len(), 1);
        assert_eq!(
            (rc.aborted[0].producer_id, rc.aborted[0].first_offset),
            (1, 1)
        );
        let ru = p
            .send(fetch(0, IsolationLevel::ReadUncommitted))
            .await
            .expect("mailbox")
            .expect("fetch");
        assert!(ru.aborted.is_empty(), "read_uncommitted lists none");
        let later = p
            .send(fetch(2, IsolationLevel::ReadCommitted))
            .await
            .expect("mailbox")
            .expect("fetch");
        assert_eq!(later.aborted.len(), 1, "its marker is at or after 2");
    }

    #[actix::test]
    async fn a_plain_append_moves_the_high_watermark_and_only_the_marker_the_lso() {
        let dir = tempfile::tempdir().expect("tmp");
        let config = LogConfig {
            segment_bytes: 1 << 20,
            ..LogConfig::default()
        };
        let (p, offsets) = super::super::tests::start_partition_with(dir.path(), "t-0", config);
        let committed = || offsets.borrow().readable_end(IsolationLevel::ReadCommitted);
        append(&p, batch(1, 0, 0, true)).await;
        assert_eq!(committed(), 0);
        // What a read_committed fetch waits on: the high watermark moves, the LSO not.
        append(&p, batch(-1, 0, 0, false)).await;
        assert_eq!(offsets.borrow().high_watermark, 2);
        assert_eq!(committed(), 0);
        p.send(marker(1, 0, true))
            .await
            .expect("mailbox")
            .expect("marker");
        assert_eq!(committed(), 3);
        let data = p
            .send(fetch(0, IsolationLevel::ReadCommitted))
            .await
            .expect("mailbox")
            .expect("fetch");
        assert_eq!(bases(&data.records), vec![0, 1, 2]);
        assert!(data.aborted.is_empty(), "committed");
    }

    #[actix::test]
    async fn an_older_epochs_marker_is_fenced_and_not_written() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = start_partition(dir.path());
        append(&p, batch(1, 2, 0, true)).await;
        let fenced = p.send(marker(1, 1, false)).await.expect("mailbox");
        assert!(matches!(
            fenced,
            Err(PartitionError::InvalidProducerEpoch(_))
        ));
        let (_, end) = p
            .send(ListOffset {
                timestamp: -1,
                isolation: IsolationLevel::ReadUncommitted,
            })
            .await
            .expect("mailbox")
            .expect("list");
        assert_eq!(end, 1, "nothing written");
        let producers = p
            .send(DescribeProducers)
            .await
            .expect("mailbox")
            .expect("describe");
        assert_eq!(producers.len(), 1);
        assert_eq!(
            (
                producers[0].producer_epoch,
                producers[0].current_txn_start_offset
            ),
            (2, 0),
            "still open"
        );
    }

    #[actix::test]
    async fn an_open_transaction_and_its_lso_survive_a_restart() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = start_partition(dir.path());
        append(&p, batch(-1, 0, 0, false)).await;
        append(&p, batch(4, 0, 0, true)).await;
        append(&p, batch(-1, 0, 0, false)).await;
        p.send(InjectFailure).await.expect("mailbox");
        let rc = p
            .send(fetch(0, IsolationLevel::ReadCommitted))
            .await
            .expect("mailbox")
            .expect("fetch after restart");
        assert_eq!(rc.offsets.last_stable_offset, 1);
        assert_eq!(bases(&rc.records), vec![0]);
        let producers = p
            .send(DescribeProducers)
            .await
            .expect("mailbox")
            .expect("describe");
        assert_eq!(producers[0].current_txn_start_offset, 1);
    }

    #[actix::test]
    async fn the_lso_bounds_timestamp_lookups_and_never_falls_below_the_log_start() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = start_partition(dir.path());
        append(&p, batch(-1, 0, 0, false)).await;
        append(&p, batch(6, 0, 0, true)).await;
        append(&p, batch(-1, 0, 0, false)).await;
        let lookup = |isolation| ListOffset {
            timestamp: 0,
            isolation,
        };
        let rc = p
            .send(lookup(IsolationLevel::ReadCommitted))
            .await
            .expect("mailbox")
            .expect("list");
        assert_eq!(rc.1, 0, "offset 0 is below the LSO");
        p.send(super::super::DeleteRecords { offset: 1 })
            .await
            .expect("mailbox")
            .expect("delete");
        let rc = p
            .send(lookup(IsolationLevel::ReadCommitted))
            .await
            .expect("mailbox")
            .expect("list");
        assert_eq!(
            rc,
            (-1, -1),
            "the first batch from 1 is at the LSO: not readable"
        );
        let ru = p
            .send(lookup(IsolationLevel::ReadUncommitted))
            .await
            .expect("mailbox")
            .expect("list");
        assert_eq!(ru.1, 1);
        p.send(super::super::DeleteRecords { offset: 2 })
            .await
            .expect("mailbox")
            .expect("delete");
        let data = p
            .send(fetch(2, IsolationLevel::ReadCommitted))
            .await
            .expect("mailbox")
            .expect("fetch");
        assert_eq!(
            data.offsets.last_stable_offset, 2,
            "the open transaction started below the log start"
        );
    }
}
