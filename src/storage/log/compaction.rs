//! [`Log`]'s side of compaction: deciding that a cleaning is due, handing out what
//! it needs, and swapping its result in. The cleaning itself is
//! [`crate::storage::cleaner`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::{Log, RemovedSegment};
use crate::storage::cleaner::{
    CleanedLog, CleanerCheckpoint, CleanerConfig, CleaningJob, CleaningToken, DirGuard,
    SegmentSource,
};
use crate::storage::segment::LogSegment;

/// The cleaner's state kept by a log: its checkpoint and the running cleaning.
#[derive(Debug, Default)]
pub(super) struct CleanerState {
    pub(super) checkpoint: CleanerCheckpoint,
    /// The cancel flag of the running cleaning, if one runs.
    pub(super) in_flight: Option<Arc<AtomicBool>>,
}

impl CleanerState {
    /// Asks a running cleaning to stop (the log is closing or dropped).
    pub(super) fn cancel(&self) {
        if let Some(flag) = &self.in_flight {
            flag.store(true, Ordering::Release);
        }
    }
}

/// How dirty a log is, as the cleaner sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CleanableStats {
    pub first_dirty_offset: i64,
    pub first_uncleanable_offset: i64,
    pub clean_bytes: u64,
    pub dirty_bytes: u64,
}

impl CleanableStats {
    /// Dirty bytes over cleanable bytes (0 for an empty log).
    pub fn dirty_ratio(&self) -> f64 {
        let total = self.clean_bytes + self.dirty_bytes;
        if total == 0 {
            0.0
        } else {
            self.dirty_bytes as f64 / total as f64
        }
    }
}

impl Log {
    /// Whether a cleaning is running; segment removals (retention, delete-records)
    /// wait until it is finished or aborted.
    pub fn is_cleaning(&self) -> bool {
        self.cleaner.in_flight.is_some()
    }

    /// The cleaner's checkpoint as last written.
    pub fn cleaner_checkpoint(&self) -> CleanerCheckpoint {
        self.cleaner.checkpoint
    }

    fn rolled(&self) -> &[LogSegment] {
        &self.segments[..self.segments.len() - 1]
    }

    /// The clean and dirty sections at `now_ms` (Kafka's `LogCleanerManager.
    /// cleanableOffsets`): dirty runs from the checkpoint to the active segment or the
    /// first segment with a record younger than `min.compaction.lag.ms`.
    pub fn cleanable_stats(&self, now_ms: i64) -> CleanableStats {
        let active_base = self.active().base_offset();
        let rolled = self.rolled();
        let first_base = rolled.first().map_or(active_base, LogSegment::base_offset);
        let first_dirty = self
            .cleaner
            .checkpoint
            .first_dirty_offset
            .clamp(first_base, active_base);
        let lag = self.config.min_compaction_lag_ms.min(i64::MAX as u64) as i64;
        let first_uncleanable = rolled
            .iter()
            .filter(|s| s.base_offset() >= first_dirty)
            .find(|s| lag > 0 && s.largest_timestamp() > now_ms.saturating_sub(lag))
            .map_or(active_base, LogSegment::base_offset);
        // Never at or past the last stable offset: the segment holding the oldest open
        // transaction's start is not cleanable (Kafka's firstUnstableOffset).
        let first_uncleanable = match self.first_unstable_offset {
            Some(unstable) => {
                let holding = self
                    .segments
                    .partition_point(|s| s.base_offset() <= unstable)
                    .saturating_sub(1);
                first_uncleanable.min(self.segments[holding].base_offset())
            }
            None => first_uncleanable,
        };
        let (mut clean_bytes, mut dirty_bytes) = (0, 0);
        for s in rolled
            .iter()
            .take_while(|s| s.base_offset() < first_uncleanable)
        {
            if s.base_offset() < first_dirty {
                clean_bytes += s.size() as u64;
            } else {
                dirty_bytes += s.size() as u64;
            }
        }
        CleanableStats {
            first_dirty_offset: first_dirty.min(first_uncleanable),
            first_uncleanable_offset: first_uncleanable,
            clean_bytes,
            dirty_bytes,
        }
    }

    /// Plans a cleaning if one is due at `now_ms`: the log is compacted, none runs,
    /// and the dirty ratio reaches `min.cleanable.dirty.ratio`, or a dirty record is
    /// older than `max.compaction.lag.ms`, or a kept tombstone's delete horizon has
    /// passed. The returned job holds `Arc`s of the rolled segments; run it anywhere,
    /// then hand its result to [`Log::finish_cleaning`] (or call
    /// [`Log::abort_cleaning`] if it failed).
    pub fn prepare_cleaning(
        &mut self,
        now_ms: i64,
        cleaner: &CleanerConfig,
    ) -> Option<CleaningJob> {
        self.plan_cleaning(now_ms, cleaner, false)
    }

    /// Like [`Log::prepare_cleaning`], whether due or not (tests, tools).
    pub fn prepare_cleaning_now(
        &mut self,
        now_ms: i64,
        cleaner: &CleanerConfig,
    ) -> Option<CleaningJob> {
        self.plan_cleaning(now_ms, cleaner, true)
    }

    /// Cleans now, whether due or not, and applies the result as the partition actor
    /// does (the segments it replaced deleted at once).
    #[cfg(test)]
    pub(crate) fn clean_now(&mut self, now_ms: i64) -> crate::storage::cleaner::CleanerStats {
        let job = self
            .prepare_cleaning_now(now_ms, &CleanerConfig::default())
            .expect("a cleaning");
        let cleaned = job.run().expect("the cleaning runs");
        let stats = cleaned.stats.clone();
        let removed = self.finish_cleaning(cleaned);
        crate::storage::delete_segments(&removed).expect("the replaced segments deleted");
        stats
    }

    fn plan_cleaning(
        &mut self,
        now_ms: i64,
        cleaner: &CleanerConfig,
        force: bool,
    ) -> Option<CleaningJob> {
        if !self.config.compact || self.is_cleaning() {
            return None;
        }
        let stats = self.cleanable_stats(now_ms);
        let max_lag = self.config.max_compaction_lag_ms.min(i64::MAX as u64) as i64;
        let overdue = self
            .rolled()
            .iter()
            .find(|s| s.base_offset() >= stats.first_dirty_offset)
            .filter(|s| s.base_offset() < stats.first_uncleanable_offset)
            .and_then(|s| s.rolling_based_timestamp)
            .is_some_and(|first| first >= 0 && first < now_ms.saturating_sub(max_lag));
        let horizon_passed = self
            .cleaner
            .checkpoint
            .delete_horizon_ms
            .is_some_and(|h| h <= now_ms);
        let due = (stats.dirty_bytes > 0
            && (stats.dirty_ratio() >= self.config.min_cleanable_dirty_ratio || overdue))
            || (horizon_passed && stats.clean_bytes + stats.dirty_bytes > 0);
        if !(due || force && stats.clean_bytes + stats.dirty_bytes > 0) {
            return None;
        }
        let guard = DirGuard::acquire(&self.dir)?;
        let cancel = Arc::new(AtomicBool::new(false));
        self.cleaner.in_flight = Some(Arc::clone(&cancel));
        let segments = self
            .rolled()
            .iter()
            .take_while(|s| s.base_offset() < stats.first_uncleanable_offset)
            .map(|s| SegmentSource {
                base_offset: s.base_offset(),
                next_offset: s.next_offset(),
                log: Arc::clone(s.log_file()),
                aborted: s.txn_index.entries().to_vec(),
            })
            .collect();
        let aborted = self
            .segments
            .iter()
            .flat_map(|s| s.txn_index.entries().iter().copied())
            .collect();
        Some(CleaningJob {
            dir: self.dir.clone(),
            config: self.config.clone(),
            cleaner: cleaner.clone(),
            segments,
            aborted,
            first_dirty_offset: stats.first_dirty_offset,
            first_uncleanable_offset: stats.first_uncleanable_offset,
            now_ms,
            cancel,
            _guard: guard,
        })
    }

    /// Forgets a failed or cancelled cleaning; its `.cleaned` files are deleted at the
    /// next open or overwritten by the next cleaning.
    pub fn abort_cleaning(&mut self, token: &CleaningToken) {
        if self.cleaner.in_flight.as_ref().is_some_and(|f| token.is(f)) {
            self.cleaner.in_flight = None;
        }
    }

    /// Swaps a finished cleaning's segments in for the old ones (the files are
    /// already in place: this only changes the in-memory list). Returns the old
    /// segments, whose files are renamed to `*.deleted`, for deletion off this thread.
    /// Readers holding `Bytes` of old segments keep their mappings alive.
    pub fn finish_cleaning(&mut self, cleaned: CleanedLog) -> Vec<RemovedSegment> {
        let mut removed = Vec::new();
        if !self
            .cleaner
            .in_flight
            .as_ref()
            .is_some_and(|f| cleaned.token.is(f))
        {
            // A previous owner's cleaning: this log was opened after it, from its files.
            self.cleaner.checkpoint = CleanerCheckpoint::read(&self.dir);
            return removed;
        }
        self.cleaner.in_flight = None;
        for group in cleaned.groups {
            let Some(first) = group.old.first() else {
                continue;
            };
            let at = self
                .segments
                .iter()
                .position(|s| s.base_offset() == first.base_offset);
            let matches = at.is_some_and(|at| {
                at + group.old.len() < self.segments.len()
                    && group
                        .old
                        .iter()
                        .zip(&self.segments[at..])
                        .all(|(o, s)| Arc::ptr_eq(&o.log, s.log_file()))
            });
            let (Some(at), true) = (at, matches) else {
                // The log was reopened meanwhile and already maps the new files.
                continue;
            };
            let replaced: Vec<LogSegment> = match group.new {
                Some(new) => self
                    .segments
                    .splice(at..at + group.old.len(), [new])
                    .collect(),
                None => self.segments.drain(at..at + group.old.len()).collect(),
            };
            removed.push(RemovedSegment {
                base_offset: first.base_offset,
                paths: group.old_paths,
            });
            drop(replaced);
        }
        self.log_start_offset = self.log_start_offset.max(self.segments[0].base_offset());
        self.epochs.truncate_from_start(self.log_start_offset);
        if let Some(checkpoint) = cleaned.checkpoint {
            self.cleaner.checkpoint = checkpoint;
        }
        removed
    }
}
