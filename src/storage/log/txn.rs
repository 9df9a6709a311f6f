//! [`Log`]'s side of transactions: the aborted-transaction entries of its segments
//! and reads that stop at the last stable offset. Which transactions are open is the
//! producer state's business ([`crate::storage::producer_state`]); the log only stores
//! what it is told.

use std::sync::Arc;

use bytes::Bytes;

use super::Log;
use crate::protocol::records::BatchIter;
use crate::storage::error::Result;
use crate::storage::flush::SyncItem;
use crate::storage::txn_index::AbortedTxn;

impl Log {
    /// Records an aborted transaction whose marker was just appended: an entry in the
    /// active segment's `.txnindex`, synced by the next flush.
    pub fn append_aborted_txn(&mut self, txn: AbortedTxn) -> Result<()> {
        let last = self.segments.len() - 1;
        let index = &mut self.segments[last].txn_index;
        index.append(txn)?;
        if let Some(file) = index.file() {
            self.flush.note(SyncItem::Plain {
                file: Arc::clone(file),
                path: index.file_path().to_path_buf(),
            });
        }
        Ok(())
    }

    /// Re-adds an aborted transaction found by a rebuild of the producer state if the
    /// segment holding its marker lost the entry (a crash between the two writes).
    /// Blocking (it may open a rolled segment's file): for opening a log.
    pub fn restore_aborted_txn(&mut self, txn: AbortedTxn) -> Result<()> {
        let at = self
            .segments
            .partition_point(|s| s.base_offset() <= txn.last_offset)
            .saturating_sub(1);
        let Some(segment) = self.segments.get_mut(at) else {
            return Ok(());
        };
        let known = segment
            .txn_index
            .entries()
            .iter()
            .any(|e| e.producer_id == txn.producer_id && e.last_offset == txn.last_offset);
        if known {
            return Ok(());
        }
        tracing::warn!(
            segment = %segment.txn_index.file_path().display(),
            producer_id = txn.producer_id,
            marker = txn.last_offset,
            "re-adding a lost aborted-transaction entry"
        );
        segment.txn_index.append(txn)?;
        if let Some(file) = segment.txn_index.file() {
            file.sync_data().map_err(crate::storage::error::io_err(
                "sync txn index",
                segment.txn_index.file_path(),
            ))?;
        }
        Ok(())
    }

    /// Kafka's `collectAbortedTransactions`: the aborted transactions that overlap
    /// `[fetch_offset, upper_bound_offset)`, from the segment holding `fetch_offset`
    /// on (an entry lives with its marker, at or after the transaction's data). Stops
    /// after the segment with an entry whose last stable offset reaches the bound: every
    /// later transaction started after it.
    pub fn collect_aborted_txns(
        &self,
        fetch_offset: i64,
        upper_bound_offset: i64,
    ) -> Vec<AbortedTxn> {
        let first = self
            .segments
            .partition_point(|s| s.base_offset() <= fetch_offset)
            .saturating_sub(1);
        let mut out = Vec::new();
        for segment in &self.segments[first..] {
            if segment
                .txn_index
                .collect(fetch_offset, upper_bound_offset, &mut out)
            {
                break;
            }
        }
        out
    }

    /// Like [`Log::read`], but only batches whose base offset is below `max_offset`
    /// (the last stable offset, always a batch boundary): what a read_committed
    /// consumer may see. Empty when `offset` is at or past `max_offset`.
    pub fn read_below(&self, offset: i64, max_bytes: usize, max_offset: i64) -> Result<Bytes> {
        let bytes = self.read(offset, max_bytes)?;
        if offset >= max_offset {
            return Ok(Bytes::new());
        }
        let mut end = 0;
        for batch in BatchIter::new(&bytes) {
            if batch.base_offset() >= max_offset {
                break;
            }
            end += batch.total_size();
        }
        Ok(if end == bytes.len() {
            bytes
        } else {
            bytes.slice(..end)
        })
    }

    /// Tells the cleaner where the oldest open transaction starts: it never cleans at
    /// or past it (a transaction's batches must stay until its marker decides them).
    pub fn set_first_unstable_offset(&mut self, offset: Option<i64>) {
        self.first_unstable_offset = offset;
    }
}
