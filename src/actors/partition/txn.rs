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
    ) -> Result<(), crate::storage::Error> {
        let Some(log) = self.log.as_mut() else {
            return Ok(());
        };
        let before = self.producers.first_unstable_offset();
        let completed = self.producers.apply(batch, base_offset, timestamp);
        if let Some(txn) = completed.filter(|t| !t.commit) {
            log.append_aborted_txn(self.producers.aborted_entry(&txn))?;
        }
        let after = self.producers.first_unstable_offset();
        if before != after {
            log.set_first_unstable_offset(after);
        }
        Ok(())
    }
}

impl Handler<WriteTxnMarker> for PartitionActor {
    type Result = ResponseFuture<Result<Appended, PartitionError>>;

    fn handle(&mut self, msg: WriteTxnMarker, ctx: &mut Context<Self>) -> Self::Result {
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
