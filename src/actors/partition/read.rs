//! Reads: fetches (answered at once or parked until data or their deadline) and
//! ListOffsets.

use super::waiters::Waiter;
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
            let records = log.read(offset, max_bytes).map_err(storage_error)?;
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

    /// The offset a fetch waits to be below: the last stable offset for
    /// read_committed, else the high watermark.
    pub(super) fn readable_end(&self, isolation: IsolationLevel) -> i64 {
        let o = self.current_offsets();
        match isolation {
            IsolationLevel::ReadUncommitted => o.high_watermark,
            IsolationLevel::ReadCommitted => o.last_stable_offset,
        }
    }

    /// Answers the parked fetches that now have data or whose wait is over.
    pub(super) fn wake_waiters(&mut self) {
        if self.waiters.is_empty() {
            return;
        }
        let o = self.current_offsets();
        let mut woken = self
            .waiters
            .take_ready(o.high_watermark, o.last_stable_offset);
        woken.extend(self.waiters.take_expired(Instant::now()));
        for w in woken {
            if !w.reply.is_closed() {
                let _ = w.reply.send(self.read(w.offset, w.max_bytes, w.isolation));
            }
        }
    }

    /// Sets the waiter timer for the earliest deadline of the parked fetches (none when
    /// nothing waits), keeping the one already set if it fires no later.
    pub(super) fn arm_waiter_timer(&mut self, ctx: &mut Context<Self>) {
        let earliest = self.waiters.earliest_deadline();
        if let Some((at, handle)) = self.waiter_timer {
            if earliest.is_some_and(|e| at <= e) {
                return;
            }
            ctx.cancel_future(handle);
            self.waiter_timer = None;
        }
        let Some(earliest) = earliest else { return };
        let wait = earliest.saturating_duration_since(Instant::now());
        let handle = ctx.run_later(wait, |act, ctx| {
            act.waiter_timer = None;
            act.wake_waiters();
            act.arm_waiter_timer(ctx);
        });
        self.waiter_timer = Some((earliest, handle));
    }
}

impl Handler<Fetch> for PartitionActor {
    type Result = ResponseFuture<Result<FetchData, PartitionError>>;

    fn handle(&mut self, msg: Fetch, ctx: &mut Context<Self>) -> Self::Result {
        let data = self.read(msg.offset, msg.max_bytes, msg.isolation);
        match (data, msg.wait) {
            (Ok(d), Some(wait)) if d.records.is_empty() && !wait.is_zero() => {
                let (tx, rx) = oneshot::channel();
                self.waiters.park(Waiter {
                    offset: msg.offset,
                    max_bytes: msg.max_bytes,
                    isolation: msg.isolation,
                    deadline: Instant::now() + wait,
                    reply: tx,
                });
                // A timer only while fetches wait: an idle partition costs no wakeups.
                self.arm_waiter_timer(ctx);
                Box::pin(async move { rx.await.unwrap_or(Err(PartitionError::Closed)) })
            }
            (res, _) => Box::pin(async move { res }),
        }
    }
}

impl Handler<ListOffset> for PartitionActor {
    type Result = Result<(i64, i64), PartitionError>;

    fn handle(&mut self, msg: ListOffset, _: &mut Context<Self>) -> Self::Result {
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
