//! Log compaction (Kafka's log cleaner): keeps the latest record per key in the
//! segments of a compacted log, off the append path.
//!
//! A cleaning is planned on the log owner's thread ([`crate::storage::Log::prepare_cleaning`]
//! takes `Arc`s of the rolled segments, which are immutable), runs anywhere
//! ([`CleaningJob::run`], blocking, throttled), and is applied back on the owner's thread
//! ([`crate::storage::Log::finish_cleaning`], a quick swap of in-memory segments). The
//! owner keeps appending meanwhile; it only holds back segment removals (retention,
//! delete-records) until the cleaning is applied.
//!
//! # What a cleaning does (Kafka's `Cleaner.doClean`)
//!
//! 1. The dirty section runs from the first dirty offset ([`checkpoint`]) to the first
//!    uncleanable offset: the active segment, or the first segment holding a record
//!    younger than `min.compaction.lag.ms`. Pass one maps each key in it to its latest
//!    offset ([`offset_map`]), segment by segment, up to the map's memory budget.
//! 2. Pass two rewrites every segment below the mapped end, oldest first, in groups
//!    whose sizes add up to at most `segment.bytes` (Kafka's `groupSegmentsBySize`).
//!    A record stays if it is the latest of its key (or its key is not in the map: it
//!    lies in the clean section with nothing newer); a record without a key goes; a
//!    tombstone (null value) stays until its batch's delete horizon, stamped at its
//!    first cleaning as now + `delete.retention.ms` (KIP-534). Control batches
//!    (transaction markers) stay as they are. A batch keeps its base offset and last
//!    offset delta, so offsets never change; a batch with nothing removed is copied
//!    byte for byte; a compressed batch is decompressed and its survivors written back
//!    with the same codec.
//! 3. Each group becomes one new segment through the swap protocol ([`swap`]); a
//!    group with no surviving batch is removed. The checkpoint moves to the mapped end.
//!
//! # Never
//!
//! The cleaner never touches the active segment, never changes an offset, and never
//! leaves the log unreadable: a crash at any point leaves either the old segments or
//! the new ones, and the next open finishes or rolls back the swap.

pub mod checkpoint;
mod clean;
pub(crate) mod offset_map;
pub(crate) mod swap;
mod throttle;

#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};

pub use checkpoint::CleanerCheckpoint;
pub(crate) use clean::SegmentSource;
pub use throttle::Throttler;

use super::config::LogConfig;
use super::segment::LogSegment;

/// Broker-wide cleaner settings (Kafka's `log.cleaner.*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CleanerConfig {
    /// `log.cleaner.io.max.bytes.per.second`: bytes read plus written per second by one
    /// cleaning; `None` is unlimited.
    pub io_max_bytes_per_second: Option<u64>,
    /// `log.cleaner.dedupe.buffer.size`: the memory for one cleaning's key map.
    pub dedupe_buffer_bytes: usize,
}

impl Default for CleanerConfig {
    fn default() -> Self {
        Self {
            io_max_bytes_per_second: None,
            dedupe_buffer_bytes: 128 * 1024 * 1024,
        }
    }
}

/// Why a cleaning stopped early.
#[derive(Debug, thiserror::Error)]
pub enum CleanerError {
    #[error("cleaning of {} cancelled: the log was closed", dir.display())]
    Cancelled { dir: PathBuf },
    #[error(transparent)]
    Storage(#[from] super::Error),
}

/// One planned cleaning: everything it needs, owned, so it runs on any thread.
#[derive(Debug)]
pub struct CleaningJob {
    pub(crate) dir: PathBuf,
    pub(crate) config: LogConfig,
    pub(crate) cleaner: CleanerConfig,
    /// The rolled segments from the oldest up to the first uncleanable offset.
    pub(crate) segments: Vec<SegmentSource>,
    /// Every aborted transaction the log's `.txnindex` files know of (an abort marker
    /// may sit past the segments cleaned): their data never counts as a key's latest.
    pub(crate) aborted: Vec<crate::storage::txn_index::AbortedTxn>,
    pub(crate) first_dirty_offset: i64,
    /// The first offset the cleaner must not touch (active segment or compaction lag).
    pub(crate) first_uncleanable_offset: i64,
    pub(crate) now_ms: i64,
    pub(crate) cancel: Arc<AtomicBool>,
    pub(crate) _guard: DirGuard,
}

/// Names one cleaning, so a log applies or aborts only the cleaning it started (a
/// reopened log may see a previous owner's result arrive late).
#[derive(Debug, Clone)]
pub struct CleaningToken(pub(crate) Arc<AtomicBool>);

impl CleaningToken {
    pub(crate) fn is(&self, flag: &Arc<AtomicBool>) -> bool {
        Arc::ptr_eq(&self.0, flag)
    }
}

/// The outcome of a cleaning, already on disk: what the log owner swaps in.
#[derive(Debug)]
pub struct CleanedLog {
    pub(crate) token: CleaningToken,
    pub(crate) groups: Vec<CleanedGroup>,
    /// The new checkpoint; `None` when the cleaning stopped part way.
    pub(crate) checkpoint: Option<CleanerCheckpoint>,
    pub stats: CleanerStats,
    /// Why the cleaning stopped after swapping some groups (they still apply).
    pub failure: Option<String>,
}

/// One group of old segments and the segment that replaced it (none if empty).
#[derive(Debug)]
pub(crate) struct CleanedGroup {
    pub(crate) old: Vec<SegmentSource>,
    pub(crate) old_paths: Vec<PathBuf>,
    pub(crate) new: Option<LogSegment>,
}

/// What a cleaning did, for logs and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CleanerStats {
    pub bytes_read: u64,
    pub bytes_written: u64,
    pub records_read: u64,
    pub records_removed: u64,
    pub keys_mapped: u64,
    pub segments_before: usize,
    pub segments_after: usize,
    /// Time spent sleeping to stay under the I/O limit.
    pub throttled_ms: u64,
}

impl CleaningJob {
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The token to give [`crate::storage::Log::abort_cleaning`] if the job fails.
    pub fn token(&self) -> CleaningToken {
        CleaningToken(Arc::clone(&self.cancel))
    }

    /// Runs the cleaning: map, rewrite, swap. Blocking; meant for a blocking thread.
    pub fn run(self) -> Result<CleanedLog, CleanerError> {
        clean::run(self)
    }

    pub(crate) fn check_cancelled(&self) -> Result<(), CleanerError> {
        if self.cancel.load(Ordering::Acquire) {
            return Err(CleanerError::Cancelled {
                dir: self.dir.clone(),
            });
        }
        Ok(())
    }
}

/// Directories with a cleaning running. Opening a log waits until its directory is
/// free, so recovery never races a swap in progress (a supervised restart).
static CLEANING_DIRS: Mutex<Option<HashSet<PathBuf>>> = Mutex::new(None);
static CLEANING_DONE: Condvar = Condvar::new();

/// Marks a directory as being cleaned until dropped.
#[derive(Debug)]
pub(crate) struct DirGuard {
    dir: PathBuf,
}

impl DirGuard {
    /// `None` if a cleaning of `dir` is already running.
    pub(crate) fn acquire(dir: &Path) -> Option<Self> {
        let mut dirs = CLEANING_DIRS.lock().unwrap_or_else(PoisonError::into_inner);
        dirs.get_or_insert_with(HashSet::new)
            .insert(dir.to_path_buf())
            .then(|| Self {
                dir: dir.to_path_buf(),
            })
    }
}

impl Drop for DirGuard {
    fn drop(&mut self) {
        let mut dirs = CLEANING_DIRS.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(set) = dirs.as_mut() {
            set.remove(&self.dir);
        }
        CLEANING_DONE.notify_all();
    }
}

/// Waits until no cleaning runs on `dir` (a cancelled one stops within a batch).
pub(crate) fn wait_until_idle(dir: &Path) {
    let mut dirs = CLEANING_DIRS.lock().unwrap_or_else(PoisonError::into_inner);
    while dirs.as_ref().is_some_and(|set| set.contains(dir)) {
        dirs = CLEANING_DONE
            .wait(dirs)
            .unwrap_or_else(PoisonError::into_inner);
    }
}
