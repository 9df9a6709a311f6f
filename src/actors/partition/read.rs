//! Reads: fetches (answered at once; a fetch waits for data on the offsets watch, in
//! its connection) and ListOffsets.

use super::*;

impl PartitionActor {
    pub(super) fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        isolation: IsolationLevel,
    ) -> Result<FetchData, PartitionError> {
        let log = self.log.as_ref().ok_or(PartitionError::Closed)?;
        let offsets = self.current_offsets();
        if isolation == IsolationLevel::ReadUncommitted {
            // Consumers read below the high watermark: only what every in-sync replica
            // has.
            let records = if offsets.high_watermark < offsets.log_end_offset {
                log.read_below(offset, max_bytes, offsets.high_watermark)
            } else {
                log.read(offset, max_bytes)
            }
            .map_err(storage_error)?;
            return Ok(FetchData {
                records,
                offsets,
                aborted: Vec::new(),
            });
        }
        // Without an open transaction the LSO is the high watermark and a plain read
        // stops there by itself; without an aborted transaction from `offset` on there is
        // nothing to list. Only otherwise are the batches read walked.
        let records = if offsets.last_stable_offset >= offsets.high_watermark {
            log.read(offset, max_bytes)
        } else {
            log.read_below(offset, max_bytes, offsets.last_stable_offset)
        }
        .map_err(storage_error)?;
        let aborted = if log.has_aborted_txns_from(offset) {
            match crate::protocol::records::BatchIter::new(&records).last() {
                Some(last) => log.collect_aborted_txns(offset, last.next_offset()),
                None => Vec::new(),
            }
        } else {
            Vec::new()
        };
        Ok(FetchData {
            records,
            offsets,
            aborted,
        })
    }

    /// The end of what a read with `isolation` may see.
    pub(super) fn readable_end(&self, isolation: IsolationLevel) -> i64 {
        self.current_offsets().readable_end(isolation)
    }
}

impl Handler<Fetch> for PartitionActor {
    type Result = Result<FetchData, PartitionError>;

    fn handle(&mut self, msg: Fetch, ctx: &mut Context<Self>) -> Self::Result {
        self.check_leader_epoch(msg.current_leader_epoch)?;
        if let Some(replica) = msg.replica {
            // A follower reads up to the log end; its fetch offset is its position.
            self.follower_fetched(replica, msg.offset, ctx)?;
            let log = self.log.as_ref().ok_or(PartitionError::Closed)?;
            let records = log.read(msg.offset, msg.max_bytes).map_err(storage_error)?;
            return Ok(FetchData {
                records,
                offsets: self.current_offsets(),
                aborted: Vec::new(),
            });
        }
        if !self.role.serves_clients() {
            return Err(PartitionError::Closed);
        }
        self.read(msg.offset, msg.max_bytes, msg.isolation)
    }
}

impl Handler<ListOffset> for PartitionActor {
    type Result = Result<(i64, i64), PartitionError>;

    fn handle(&mut self, msg: ListOffset, _: &mut Context<Self>) -> Self::Result {
        if !self.role.serves_clients() {
            return Err(PartitionError::Closed);
        }
        let log = self.log.as_ref().ok_or(PartitionError::Closed)?;
        // Kafka answers a timestamp lookup only below what the isolation level may
        // read (the LSO for read_committed).
        let end = self.readable_end(msg.isolation);
        let found = |t: Option<storage::TimestampOffset>| {
            t.filter(|t| t.offset < end)
                .map_or((-1, -1), |t| (t.timestamp, t.offset))
        };
        Ok(match msg.timestamp {
            LATEST_TIMESTAMP => (-1, end),
            // Without tiered storage the local log starts where the log does.
            EARLIEST_TIMESTAMP | EARLIEST_LOCAL_TIMESTAMP => (-1, log.log_start_offset()),
            // Nothing is tiered: Kafka answers -1, -1 (KIP-1005).
            LATEST_TIERED_TIMESTAMP => (-1, -1),
            MAX_TIMESTAMP => found(log.max_timestamp().map_err(storage_error)?),
            ts => found(log.offset_for_timestamp(ts).map_err(storage_error)?),
        })
    }
}
