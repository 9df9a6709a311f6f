//! [`FlushHandle`]: group-commit fsync that any thread can drive.
//!
//! The log's owner appends; each append records the dirty byte range of the segment
//! mapping (ranges of one segment merge) and the new log end offset in the handle's
//! shared state. Rolls add the trimmed files (fsync, for their new length) and the
//! directory (for the new file). [`FlushHandle::flush_up_to`] takes everything
//! recorded so far, syncs it without holding the lock, and then advances the flushed
//! offset to the log end offset that was recorded when it took the work.
//!
//! Group commit: while one flush runs, other callers wait for it; if that flush
//! covered their offset they return without another fsync, otherwise the first of
//! them takes everything appended meanwhile and syncs it in one round. N appends that
//! arrive during an fsync therefore share the next one.
//!
//! The handle holds `Arc`s of the mappings and files it will sync, so the owner may
//! hand a clone to a blocking thread and keep appending; a segment deleted meanwhile
//! stays mapped until the sync is done.

use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use super::error::Result;
use super::mmap::{sync_dir, MappedFile};

/// Something to make durable.
#[derive(Debug, Clone)]
pub(crate) enum SyncItem {
    /// Bytes `start..end` of a mapping (msync).
    Range {
        file: Arc<MappedFile>,
        start: usize,
        end: usize,
    },
    /// A whole file including its length (fsync), after a trim.
    File(Arc<MappedFile>),
    /// A directory, after files were created in it.
    Dir(PathBuf),
    /// A `.txnindex` entry: the file opened, the entry written at `at`, the file's
    /// data synced.
    TxnEntry {
        path: PathBuf,
        at: u64,
        bytes: [u8; super::txn_index::ENTRY_SIZE],
    },
    /// The recovery point of the log in `dir`: noted after the items it depends on (a
    /// roll's files, or the active segment's bytes and index files), it is written once
    /// they are synced (items sync in order), so it never claims what is not on disk.
    RecoveryPoint {
        dir: PathBuf,
        point: super::recovery::RecoveryPoint,
    },
}

impl SyncItem {
    pub(crate) fn sync(&self) -> Result<()> {
        match self {
            Self::Range { file, start, end } => file.sync_range(*start, *end),
            Self::File(file) => file.sync_all(),
            Self::Dir(dir) => sync_dir(dir),
            Self::TxnEntry { path, at, bytes } => {
                use std::os::unix::fs::FileExt;
                let file = super::txn_index::open_for_append(path)?;
                file.write_all_at(bytes, *at)
                    .map_err(super::error::io_err("append to txn index", path))?;
                file.sync_data()
                    .map_err(super::error::io_err("sync txn index", path))
            }
            Self::RecoveryPoint { dir, point } => {
                super::recovery::write_recovery_point(dir, *point)
            }
        }
    }
}

#[derive(Debug)]
struct State {
    pending: Vec<SyncItem>,
    /// The log end offset after the last recorded append.
    end_offset: i64,
    /// Every offset below this is on disk (Kafka's recovery point).
    flushed_offset: i64,
    syncing: bool,
    rounds: u64,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    done: Condvar,
}

/// A cloneable, thread-safe handle that makes a log's appends durable.
#[derive(Debug, Clone)]
pub struct FlushHandle {
    shared: Arc<Shared>,
}

impl FlushHandle {
    /// A handle for a log that ends at `end_offset`, whose offsets below
    /// `flushed_offset` are on disk and the rest will be once `pending` is synced.
    pub(crate) fn new(flushed_offset: i64, end_offset: i64, pending: Vec<SyncItem>) -> Self {
        Self {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    pending,
                    end_offset,
                    flushed_offset,
                    syncing: false,
                    rounds: 0,
                }),
                done: Condvar::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Records the bytes `start..end` of `file` as appended, up to `end_offset`.
    pub(crate) fn note_append(
        &self,
        file: &Arc<MappedFile>,
        start: usize,
        end: usize,
        end_offset: i64,
    ) {
        let mut st = self.lock();
        st.end_offset = end_offset;
        if let Some(SyncItem::Range {
            file: last,
            end: last_end,
            ..
        }) = st.pending.last_mut()
        {
            if Arc::ptr_eq(last, file) && *last_end == start {
                *last_end = end;
                return;
            }
        }
        st.pending.push(SyncItem::Range {
            file: Arc::clone(file),
            start,
            end,
        });
    }

    /// Records a file or directory to sync with the next flush.
    pub(crate) fn note(&self, item: SyncItem) {
        self.lock().pending.push(item);
    }

    /// After the log started over, empty, at `offset` (a follower behind its leader's
    /// start): nothing below it is left to sync.
    pub(crate) fn restarted(&self, offset: i64) {
        let mut st = self.lock();
        st.end_offset = offset;
        st.flushed_offset = offset;
    }

    /// After a truncation: the log now ends at `end_offset`.
    pub(crate) fn truncated(&self, end_offset: i64) {
        let mut st = self.lock();
        st.end_offset = end_offset;
        st.flushed_offset = st.flushed_offset.min(end_offset);
    }

    /// Returns once every offset below `offset` (capped at the log end offset) is on
    /// disk; returns the flushed offset, which may be larger. Blocks: call it from a
    /// thread that may block.
    pub fn flush_up_to(&self, offset: i64) -> Result<i64> {
        self.sync(offset, false)
    }

    /// Syncs until `offset` is flushed; with `everything`, also until nothing is
    /// pending (the files trimmed by a roll, new directories).
    fn sync(&self, offset: i64, everything: bool) -> Result<i64> {
        let mut st = self.lock();
        loop {
            let target = offset.min(st.end_offset);
            let idle = !st.syncing && st.pending.is_empty();
            if st.flushed_offset >= target && (!everything || idle) {
                return Ok(st.flushed_offset);
            }
            if !st.syncing {
                break;
            }
            st = self
                .shared
                .done
                .wait(st)
                .unwrap_or_else(PoisonError::into_inner);
        }
        let work = std::mem::take(&mut st.pending);
        let covers = st.end_offset;
        st.syncing = true;
        drop(st);

        let result = work.iter().try_for_each(SyncItem::sync);

        let mut st = self.lock();
        st.syncing = false;
        st.rounds += 1;
        match &result {
            Ok(()) => st.flushed_offset = st.flushed_offset.max(covers),
            Err(_) => {
                // Keep the work for a retry, ahead of what came meanwhile.
                let later = std::mem::replace(&mut st.pending, work);
                st.pending.extend(later);
            }
        }
        let flushed = st.flushed_offset;
        drop(st);
        self.shared.done.notify_all();
        result.map(|()| flushed)
    }

    /// Flushes everything appended so far and every pending file and directory sync.
    pub fn flush(&self) -> Result<i64> {
        self.sync(i64::MAX, true)
    }

    /// Every offset below this is on disk (Kafka's recovery point).
    pub fn flushed_offset(&self) -> i64 {
        self.lock().flushed_offset
    }

    /// How many sync rounds ran (each is one msync/fsync pass over the pending work).
    pub fn sync_rounds(&self) -> u64 {
        self.lock().rounds
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flush_up_to_a_flushed_offset_returns_without_a_sync_round() {
        let handle = FlushHandle::new(10, 10, Vec::new());
        assert_eq!(handle.flush_up_to(5).unwrap(), 10);
        assert_eq!(handle.flush().unwrap(), 10);
        assert_eq!(handle.sync_rounds(), 0);
    }

    #[test]
    fn appends_recorded_during_a_flush_are_covered_by_the_next_one() {
        let dir = tempfile::tempdir().unwrap();
        let file = Arc::new(MappedFile::create(&dir.path().join("f"), 4096).unwrap());
        let handle = FlushHandle::new(0, 0, Vec::new());
        file.append(&[1; 100], |_| Ok::<(), crate::storage::Error>(()))
            .unwrap();
        handle.note_append(&file, 0, 100, 1);
        file.append(&[2; 100], |_| Ok::<(), crate::storage::Error>(()))
            .unwrap();
        handle.note_append(&file, 100, 200, 2);
        assert_eq!(
            handle.lock().pending.len(),
            1,
            "adjacent ranges of one file merge"
        );
        assert_eq!(
            handle.flush_up_to(1).unwrap(),
            2,
            "a flush covers all that was recorded"
        );
        assert_eq!(handle.sync_rounds(), 1);
        handle.note(SyncItem::Dir(dir.path().to_path_buf()));
        handle.note_append(&file, 200, 200, 3);
        assert_eq!(
            handle.flush_up_to(100).unwrap(),
            3,
            "capped at the log end offset"
        );
        assert_eq!(handle.flushed_offset(), 3);

        // A trimmed file to sync after everything is flushed: flush_up_to has nothing
        // to wait for, flush() still syncs it.
        handle.note(SyncItem::File(Arc::clone(&file)));
        let rounds = handle.sync_rounds();
        handle.flush_up_to(3).unwrap();
        assert_eq!(handle.sync_rounds(), rounds);
        handle.flush().unwrap();
        assert_eq!(handle.sync_rounds(), rounds + 1);
        assert!(handle.lock().pending.is_empty());
        assert_eq!(
            Arc::strong_count(&file),
            1,
            "synced work lets go of the file"
        );
    }
}
