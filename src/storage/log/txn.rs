//! [`Log`]'s side of transactions: the aborted-transaction entries of its segments
//! and reads that stop at the last stable offset. Which transactions are open is the
//! producer state's business ([`crate::storage::producer_state`]); the log only stores
//! what it is told.

use bytes::Bytes;

use super::Log;
use crate::protocol::records::BatchIter;
use crate::storage::error::Result;
use crate::storage::txn_index::AbortedTxn;

impl Log {
    /// Records an aborted transaction whose marker was just appended: an entry in the
    /// active segment's `.txnindex`, in memory at once (reads see it) and written and
    /// synced by the next flush, off the owner's thread.
    pub fn append_aborted_txn(&mut self, txn: AbortedTxn) {
        let item = self.active_mut().txn_index.push(txn);
        self.flush.note(item);
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
        segment.txn_index.sync()
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

    /// Whether an aborted transaction ends at or after `offset`: without one, a
    /// read_committed fetch from there has nothing to list (checked before the fetch
    /// walks its batches to find where its data ends).
    pub fn has_aborted_txns_from(&self, offset: i64) -> bool {
        let first = self
            .segments
            .partition_point(|s| s.base_offset() <= offset)
            .saturating_sub(1);
        // Entries are appended in marker order: a segment's last one is its latest.
        self.segments[first..].iter().any(|s| {
            s.txn_index
                .entries()
                .last()
                .is_some_and(|e| e.last_offset >= offset)
        })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::records::control::{marker_batch, ControlMarker};
    use crate::protocol::records::{RecordBatch, RecordBatchBuilder, RecordSpec};
    use crate::storage::log::tests::{batch, small_config, T0};
    use crate::storage::producer_state::{self, ProducerState};
    use crate::storage::txn_index::{TxnIndex, ENTRY_SIZE};
    use crate::storage::LogConfig;

    /// `n` transactional records of producer `pid` (epoch 0), all with key `key`.
    fn txn_batch(pid: i64, seq: i32, n: usize, key: &str) -> Vec<u8> {
        let mut b = RecordBatchBuilder::new(0, T0)
            .producer(pid, 0, seq)
            .transactional(true);
        for _ in 0..n {
            b = b.record(RecordSpec::new(Some(key.as_bytes()), Some(&[7u8; 100])));
        }
        b.build()
    }

    fn marker(pid: i64, commit: bool) -> Vec<u8> {
        let m = ControlMarker {
            commit,
            coordinator_epoch: 0,
        };
        marker_batch(pid, 0, m, T0)
    }

    /// Appends a batch and applies it to the producer state as the partition does.
    fn append(log: &mut Log, state: &mut ProducerState, bytes: &[u8]) -> i64 {
        let info = log.append(bytes, T0).unwrap();
        let b = RecordBatch::parse(bytes).unwrap();
        if let Some(t) = state.apply(&b, info.base_offset, T0) {
            if !t.commit {
                log.append_aborted_txn(state.aborted_entry(&t));
            }
        }
        log.set_first_unstable_offset(state.first_unstable_offset());
        info.base_offset
    }

    #[test]
    fn aborted_transactions_are_collected_from_the_fetch_offsets_segment_on() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = Log::open(dir.path(), small_config(), T0).unwrap();
        let mut s = ProducerState::default();
        let first = append(&mut log, &mut s, &txn_batch(1, 0, 2, "a"));
        log.roll(T0).unwrap();
        append(&mut log, &mut s, &batch(1, 10, T0));
        let p2 = append(&mut log, &mut s, &txn_batch(2, 0, 1, "b"));
        log.roll(T0).unwrap();
        let m1 = append(&mut log, &mut s, &marker(1, false));
        let m2 = append(&mut log, &mut s, &marker(2, true));
        let p3 = append(&mut log, &mut s, &txn_batch(3, 0, 1, "c"));
        let m3 = append(&mut log, &mut s, &marker(3, false));
        let end = log.log_end_offset();
        assert!(log.segment_count() >= 3);

        let all = log.collect_aborted_txns(0, end);
        let ids: Vec<(i64, i64, i64)> = all
            .iter()
            .map(|t| (t.producer_id, t.first_offset, t.last_offset))
            .collect();
        assert_eq!(
            ids,
            vec![(1, first, m1), (3, p3, m3)],
            "the commit is not listed"
        );
        assert_eq!(all[0].last_stable_offset, p2, "producer 2 was still open");
        assert_eq!(
            log.collect_aborted_txns(0, 1).len(),
            1,
            "a transaction whose marker is two segments on still overlaps [0, 1)"
        );
        assert!(log.collect_aborted_txns(m1 + 1, p3).is_empty());
        assert_eq!(log.collect_aborted_txns(m2, end).len(), 1);
        assert!(log.has_aborted_txns_from(0) && log.has_aborted_txns_from(m3));
        assert!(
            !log.has_aborted_txns_from(m3 + 1),
            "nothing ends after the last abort"
        );
        // Only the marker's segment holds the entries, in Kafka's 34-byte layout, once
        // the flush that writes them has run.
        log.flush().unwrap();
        let last_base = *log.segment_base_offsets().last().unwrap();
        let len = |base| {
            std::fs::metadata(TxnIndex::path(dir.path(), base))
                .unwrap()
                .len()
        };
        assert_eq!(len(last_base), 2 * ENTRY_SIZE as u64);
        assert_eq!(len(0), 0);
    }

    #[test]
    fn read_below_returns_only_batches_under_the_lso() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = Log::open(dir.path(), small_config(), T0).unwrap();
        let mut s = ProducerState::default();
        append(&mut log, &mut s, &batch(2, 10, T0));
        let open = append(&mut log, &mut s, &txn_batch(1, 0, 1, "a"));
        append(&mut log, &mut s, &batch(2, 10, T0));
        let lso = s.last_stable_offset(log.high_watermark());
        assert_eq!(lso, open);
        let read = log.read_below(0, 1 << 20, lso).unwrap();
        let bases: Vec<i64> = crate::protocol::records::BatchIter::new(&read)
            .map(|b| b.base_offset())
            .collect();
        assert_eq!(bases, vec![0]);
        assert!(log.read_below(open, 1 << 20, lso).unwrap().is_empty());
        assert!(log.read_below(log.log_end_offset() + 1, 10, lso).is_err());
        append(&mut log, &mut s, &marker(1, true));
        let lso = s.last_stable_offset(log.high_watermark());
        assert_eq!(lso, log.log_end_offset());
        assert_eq!(
            log.read_below(0, 1 << 20, lso).unwrap().len(),
            log.read(0, 1 << 20).unwrap().len()
        );
    }

    #[test]
    fn retention_and_truncation_take_the_txnindex_with_their_segment() {
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig {
            retention_bytes: Some(0),
            ..small_config()
        };
        let mut log = Log::open(dir.path(), config, T0).unwrap();
        let mut s = ProducerState::default();
        append(&mut log, &mut s, &txn_batch(1, 0, 1, "a"));
        append(&mut log, &mut s, &marker(1, false));
        log.roll(T0).unwrap();
        let second = log.log_end_offset();
        append(&mut log, &mut s, &txn_batch(2, 0, 1, "a"));
        let m2 = append(&mut log, &mut s, &marker(2, false));
        append(&mut log, &mut s, &batch(1, 10, T0));
        log.roll(T0).unwrap();
        append(&mut log, &mut s, &batch(1, 10, T0));
        assert_eq!(log.collect_aborted_txns(0, log.log_end_offset()).len(), 2);

        // Truncating at producer 2's marker drops its entry, in the file too.
        log.truncate_to(m2, T0).unwrap();
        assert_eq!(log.collect_aborted_txns(0, log.log_end_offset()).len(), 1);
        let file = TxnIndex::path(dir.path(), second);
        assert_eq!(std::fs::metadata(&file).unwrap().len(), 0);

        // Retention removes the first segment's txnindex with it.
        let first = TxnIndex::path(dir.path(), 0);
        assert!(first.exists());
        let removed = log.apply_retention(T0).unwrap();
        assert!(removed
            .iter()
            .flat_map(|r| r.paths.iter())
            .any(|p| p.to_string_lossy().ends_with(".txnindex.deleted")));
        crate::storage::delete_segments(&removed).unwrap();
        assert!(!first.exists());
        assert!(log.collect_aborted_txns(0, log.log_end_offset()).is_empty());
    }

    #[test]
    fn a_lost_txnindex_entry_is_re_added_when_the_producer_state_is_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = Log::open(dir.path(), small_config(), T0).unwrap();
        let mut s = ProducerState::default();
        let first = append(&mut log, &mut s, &txn_batch(1, 0, 1, "a"));
        let m = append(&mut log, &mut s, &marker(1, false));
        append(&mut log, &mut s, &txn_batch(2, 0, 1, "a"));
        let base = *log.segment_base_offsets().last().unwrap();
        drop(log); // a crash after the marker, before its entry reached the file
        let file = TxnIndex::path(dir.path(), base);
        std::fs::OpenOptions::new()
            .write(true)
            .open(&file)
            .unwrap()
            .set_len(0)
            .unwrap();

        let mut log = Log::open(dir.path(), small_config(), T0).unwrap();
        assert!(log.collect_aborted_txns(0, 100).is_empty());
        let rebuilt = producer_state::rebuild(&mut log).unwrap();
        assert_eq!(rebuilt, s, "the same state as before the crash");
        let entries = log.collect_aborted_txns(0, 100);
        assert_eq!(entries.len(), 1);
        assert_eq!(
            (entries[0].first_offset, entries[0].last_offset),
            (first, m)
        );
        assert_eq!(std::fs::metadata(&file).unwrap().len(), ENTRY_SIZE as u64);

        drop(log);
        let mut log = Log::open(dir.path(), small_config(), T0).unwrap();
        producer_state::rebuild(&mut log).unwrap();
        assert_eq!(
            log.collect_aborted_txns(0, 100).len(),
            1,
            "an entry already there is not added twice"
        );
    }

    /// A compacted log in `dir` that the cleaner finds dirty enough at once.
    fn compacted_log(dir: &std::path::Path) -> Log {
        let config = LogConfig {
            compact: true,
            min_cleanable_dirty_ratio: 0.01,
            ..small_config()
        };
        Log::open(dir, config, T0).unwrap()
    }

    #[test]
    fn the_cleaner_carries_txnindex_entries_and_never_cleans_past_the_lso() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = compacted_log(dir.path());
        let mut s = ProducerState::default();
        append(&mut log, &mut s, &txn_batch(1, 0, 1, "k"));
        let m1 = append(&mut log, &mut s, &marker(1, false));
        log.roll(T0).unwrap();
        append(&mut log, &mut s, &batch(1, 10, T0));
        log.roll(T0).unwrap();
        let open_segment = log.log_end_offset();
        let open = append(&mut log, &mut s, &txn_batch(2, 0, 1, "k"));
        log.roll(T0).unwrap();
        // Newer values of "k" that would make producer 2's record obsolete.
        append(&mut log, &mut s, &txn_batch(3, 0, 1, "k"));
        append(&mut log, &mut s, &marker(3, true));
        log.roll(T0).unwrap();
        append(&mut log, &mut s, &batch(1, 10, T0));
        assert_eq!(s.first_unstable_offset(), Some(open));
        let stats = log.cleanable_stats(T0);
        assert_eq!(stats.first_uncleanable_offset, open_segment);

        log.clean_now(T0);
        let still = log.read(open, 1).unwrap();
        assert_eq!(
            RecordBatch::parse(&still).unwrap().base_offset(),
            open,
            "the open transaction's batch is untouched"
        );
        let entries = log.collect_aborted_txns(0, log.log_end_offset());
        assert_eq!(entries.len(), 1, "the cleaned segment kept the entry");
        assert_eq!(entries[0].last_offset, m1);
        drop(log);
        let log = Log::open(dir.path(), small_config(), T0).unwrap();
        assert_eq!(log.collect_aborted_txns(0, log.log_end_offset()).len(), 1);
    }

    #[test]
    fn an_aborted_transactions_record_does_not_make_the_committed_one_obsolete() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = compacted_log(dir.path());
        let mut s = ProducerState::default();
        // Producer 1 commits "k"; producer 2 writes "k" later and aborts.
        let committed = append(&mut log, &mut s, &txn_batch(1, 0, 1, "k"));
        append(&mut log, &mut s, &marker(1, true));
        append(&mut log, &mut s, &txn_batch(2, 0, 1, "k"));
        log.roll(T0).unwrap();
        // The abort marker in a later segment than the aborted record.
        append(&mut log, &mut s, &marker(2, false));
        log.roll(T0).unwrap();
        append(&mut log, &mut s, &batch(1, 10, T0));
        log.clean_now(T0);
        let kept = log.read(committed, 1).unwrap();
        assert_eq!(
            RecordBatch::parse(&kept).unwrap().base_offset(),
            committed,
            "the committed value of \"k\" is still its latest"
        );
    }

    #[test]
    fn an_entry_whose_marker_recovery_cuts_off_goes_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = Log::open(dir.path(), small_config(), T0).unwrap();
        let mut s = ProducerState::default();
        append(&mut log, &mut s, &txn_batch(1, 0, 1, "a"));
        let position = log.size_bytes();
        let m = append(&mut log, &mut s, &marker(1, false));
        assert_eq!(log.collect_aborted_txns(0, 100).len(), 1);
        drop(log); // a crash that tore the marker: zeros where it was
        let path = dir
            .path()
            .join(crate::storage::segment::file_name(0, "log"));
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[position as usize..position as usize + 64].fill(0);
        std::fs::write(&path, &bytes).unwrap();

        let log = Log::open(dir.path(), small_config(), T0).unwrap();
        assert_eq!(log.log_end_offset(), m, "the marker was cut");
        assert!(log.collect_aborted_txns(0, 100).is_empty());
        assert_eq!(
            std::fs::metadata(TxnIndex::path(dir.path(), 0))
                .unwrap()
                .len(),
            0
        );
    }
}
