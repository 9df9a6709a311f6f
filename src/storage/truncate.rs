//! [`Log::truncate_to`]: cutting the end of the log (Kafka's `truncateTo`), for a
//! follower whose log diverged from its leader's.
//!
//! Only the tests call it today: a single broker never truncates (recovery cuts a torn
//! tail itself). It is kept, tested, for replication, whose followers truncate to the
//! leader's epoch end offset before they fetch (KIP-101/279).

use std::sync::Arc;

use super::error::{Error, Result};
use super::flush::SyncItem;
use super::log::{Log, RemovedSegment};
use super::recovery::LogOpenStats;
use super::segment::LogSegment;

impl Log {
    /// Removes every batch whose last offset is >= `offset`: whole segments above it
    /// (renamed to `*.deleted` and returned, like retention), and in the segment that
    /// holds it everything from the batch containing `offset` on, so the new log end
    /// offset is that batch's base offset. The cut segment is trimmed and sealed and a
    /// new active segment starts at the new end; cut bytes are never written again.
    ///
    /// Fails with [`Error::SegmentInUse`], changing nothing, while read results that
    /// share the segment to be cut are alive (shrinking the file under them would be
    /// unsound). Blocking: it first flushes, so that pending syncs let go of the files.
    pub fn truncate_to(&mut self, offset: i64, now_ms: i64) -> Result<Vec<RemovedSegment>> {
        if offset >= self.log_end_offset() {
            return Ok(Vec::new());
        }
        if offset < self.log_start_offset {
            return Err(Error::OffsetOutOfRange {
                offset,
                log_start_offset: self.log_start_offset,
                log_end_offset: self.log_end_offset(),
            });
        }
        self.flush.flush()?;
        let keep = self
            .segments
            .partition_point(|s| s.base_offset() <= offset)
            .max(1);
        let cut = &self.segments[keep - 1];
        let cut_base = cut.base_offset();
        let position = cut.find_batch(offset);
        if position.is_some() && Arc::strong_count(cut.log_file()) > 1 {
            return Err(Error::SegmentInUse {
                path: cut.log_file().path().to_path_buf(),
            });
        }

        let mut removed = Vec::new();
        let above: Vec<LogSegment> = self.segments.drain(keep..).collect();
        for segment in above {
            removed.push(RemovedSegment {
                base_offset: segment.base_offset(),
                paths: segment.rename_for_delete(&self.dir)?,
            });
        }
        let mut new_end = self.active().next_offset();
        if let Some(position) = position {
            let (dir, config) = (self.dir.clone(), self.config.clone());
            let segment = self.segments.last_mut().ok_or_else(|| Error::Corrupt {
                path: dir.clone(),
                reason: "no segment left to truncate".into(),
            })?;
            segment.truncate_at(position, &dir, &config)?;
            new_end = segment.next_offset();
            if segment.size() == 0 {
                let empty = self.segments.remove(self.segments.len() - 1);
                removed.push(RemovedSegment {
                    base_offset: empty.base_offset(),
                    paths: empty.rename_for_delete(&self.dir)?,
                });
            }
        }
        if position.is_some() || self.segments.last().is_none_or(|s| s.remaining() == 0) {
            self.segments.push(LogSegment::create(
                &self.dir,
                new_end,
                &self.config,
                now_ms,
            )?);
            self.flush.note(SyncItem::Dir(self.dir.clone()));
        }
        self.log_start_offset = self.log_start_offset.min(new_end);
        self.epochs.truncate_from_end(new_end);
        self.flush.truncated(new_end);
        // A recovery point inside what was cut would vouch for bytes that are gone:
        // recovery starts at the cut segment again until the next point.
        self.reset_recovery_point(cut_base);
        Ok(removed)
    }
}

impl Log {
    /// Kafka's `truncateFullyAndStartAt`: a follower whose log ends before its leader's
    /// starts (retention or DeleteRecords moved the leader's start past it) drops every
    /// segment and starts again, empty, at `offset`. The old segments are renamed to
    /// `*.deleted` and returned, as retention's are; the leader epochs go too. Blocking:
    /// it creates the new segment's files.
    pub fn truncate_fully_and_start_at(
        &mut self,
        offset: i64,
        now_ms: i64,
    ) -> Result<Vec<RemovedSegment>> {
        self.flush.flush()?;
        // The new segment first: if it cannot be made, nothing changed.
        let fresh = LogSegment::create(&self.dir, offset, &self.config, now_ms)?;
        self.forget_cleaning_and_transactions();
        if let Some(prepared) = self.prepared.take() {
            prepared.discard()?;
        }
        let old = std::mem::replace(&mut self.segments, vec![fresh]);
        self.log_start_offset = offset;
        self.epochs.clear();
        self.flush.restarted(offset);
        self.flush.note(SyncItem::Dir(self.dir.clone()));
        self.reset_recovery_point(offset);
        let mut removed = Vec::with_capacity(old.len());
        for segment in old {
            removed.push(RemovedSegment {
                base_offset: segment.base_offset(),
                paths: segment.rename_for_delete(&self.dir)?,
            });
        }
        Ok(removed)
    }
}

impl LogSegment {
    /// Cuts the `.log` at `position`, rebuilds the indexes from what is left, and
    /// trims and seals the segment. Needs the only reference to the mapping.
    fn truncate_at(
        &mut self,
        position: usize,
        dir: &std::path::Path,
        config: &super::LogConfig,
    ) -> Result<()> {
        let path = self.log.path().to_path_buf();
        Arc::get_mut(&mut self.log)
            .ok_or(Error::SegmentInUse { path })?
            .cut(position)?;
        self.reset_indexes(dir, config)?;
        self.rolling_based_timestamp = None;
        self.load(
            dir,
            config,
            false,
            false,
            None,
            &mut LogOpenStats::default(),
        )?;
        self.txn_index.truncate_to(self.next_offset)?;
        for item in self.seal()? {
            // The caller flushed just before; these make the new lengths durable.
            item.sync()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::records::RecordBatch;
    use crate::storage::log::tests::{batch, small_config, T0};

    #[test]
    fn truncate_to_cuts_at_the_batch_holding_the_offset_and_appends_continue() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = Log::open(dir.path(), small_config(), T0).unwrap();
        for _ in 0..20 {
            log.append(&batch(2, 300, T0), T0).unwrap();
        }
        let segments = log.segment_count();
        assert!(segments > 3);
        let removed = log.truncate_to(13, T0).unwrap();
        assert!(!removed.is_empty());
        assert_eq!(log.log_end_offset(), 12, "the whole batch 12..=13 goes");
        assert!(log.segment_count() < segments);
        assert!(log.read(12, 100).unwrap().is_empty());
        assert!(log.read(13, 100).is_err());
        let last = RecordBatch::parse(&log.read(10, 1).unwrap())
            .unwrap()
            .last_offset();
        assert_eq!(last, 11);
        let info = log.append(&batch(1, 5, T0), T0).unwrap();
        assert_eq!(info.base_offset, 12);
        crate::storage::delete_segments(&removed).unwrap();

        log.close().unwrap();
        let log = Log::open(dir.path(), small_config(), T0).unwrap();
        assert_eq!(log.log_end_offset(), 13);
        assert_eq!(log.open_stats().rebuilt_indexes, 0);
        drop(log);
        let log = Log::open(dir.path(), small_config(), T0).unwrap();
        assert!(log.open_stats().recovered);
        assert_eq!(log.log_end_offset(), 13);
    }

    #[test]
    fn truncate_to_refuses_while_reads_share_the_segment_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = Log::open(dir.path(), small_config(), T0).unwrap();
        for _ in 0..6 {
            log.append(&batch(1, 100, T0), T0).unwrap();
        }
        let slice = log.read(4, 1).unwrap();
        assert!(matches!(
            log.truncate_to(4, T0),
            Err(Error::SegmentInUse { .. })
        ));
        assert_eq!(log.log_end_offset(), 6);
        drop(slice);
        log.truncate_to(4, T0).unwrap();
        assert_eq!(log.log_end_offset(), 4);
        assert!(
            log.truncate_to(9, T0).unwrap().is_empty(),
            "past the end: nothing to do"
        );
    }

    #[test]
    fn a_log_truncated_fully_starts_over_empty_at_the_offset_and_reopens_there() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut log = Log::open(dir.path(), small_config(), T0).expect("open");
        for _ in 0..20 {
            log.append(&batch(3, 100, T0), T0).expect("append");
        }
        log.set_partition_leader_epoch(Some(2));
        let removed = log
            .truncate_fully_and_start_at(500, T0)
            .expect("start over");
        assert!(!removed.is_empty());
        assert_eq!((log.log_start_offset(), log.log_end_offset()), (500, 500));
        assert!(
            log.epochs().entries().is_empty(),
            "the epochs went with the data"
        );
        // A leader's batch at 500 is taken as it is; earlier offsets are gone.
        let mut leader = batch(4, 100, T0);
        crate::protocol::records::set_base_offset(&mut leader, 500).expect("base offset");
        log.append_replica(&leader, T0).expect("replica append");
        assert_eq!(log.log_end_offset(), 504);
        assert!(
            log.read(10, 1 << 20).is_err(),
            "below the start is out of range"
        );
        crate::storage::delete_segments(&removed).expect("delete");
        log.close().expect("close");
        let log = Log::open(dir.path(), small_config(), T0).expect("reopen");
        assert_eq!((log.log_start_offset(), log.log_end_offset()), (500, 504));
    }

    #[test]
    fn truncate_to_the_first_offset_leaves_an_empty_log_at_that_offset() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = Log::open(dir.path(), small_config(), T0).unwrap();
        for _ in 0..3 {
            log.append(&batch(1, 100, T0), T0).unwrap();
        }
        log.truncate_to(0, T0).unwrap();
        assert_eq!((log.log_start_offset(), log.log_end_offset()), (0, 0));
        assert_eq!(log.segment_base_offsets(), vec![0]);
        assert_eq!(log.append(&batch(1, 1, T0), T0).unwrap().base_offset, 0);
    }
}
