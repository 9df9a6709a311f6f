//! Making the next segment off the owner's thread.
//!
//! Rolling needs three new files, preallocated and mapped. That is quick on a sparse
//! file but still blocking I/O, so the owner of a [`Log`] can have it done elsewhere:
//! [`Log::segment_preparer`] gives a `Send` [`SegmentPreparer`] whose
//! [`SegmentPreparer::prepare`] creates the files under temporary names
//! (`.prepared-<uuid>.log|.index|.timeindex|.txnindex`) on a blocking thread, and
//! [`Log::offer_prepared`] hands the result back. The next roll only renames them to
//! their Kafka names. Without a prepared segment a roll creates the files itself.
//! Leftover `.prepared-*` files are deleted when the log opens.
//!
//! The same goes for the active segment's next blocks: [`Log::ahead_work`] gives a
//! `Send` [`AheadWork`] that allocates (`fallocate`) the part of the file the next
//! appends will write, so the append itself finds its blocks ready instead of waiting
//! on the filesystem's journal on the owner's thread.

use std::path::{Path, PathBuf};

use super::config::LogConfig;
use super::error::{io_err, Result};
use super::index::{OffsetIndex, TimeIndex, OFFSET_ENTRY_SIZE, TIME_ENTRY_SIZE};
use super::log::Log;
use super::mmap::MappedFile;
use super::segment::LogSegment;
use super::txn_index::TxnIndex;

/// The file-name prefix of prepared, not yet installed segment files.
pub(crate) const PREPARED_PREFIX: &str = ".prepared-";

/// Creates empty segments for a log, on any thread.
#[derive(Debug, Clone)]
pub struct SegmentPreparer {
    dir: PathBuf,
    config: LogConfig,
}

/// An empty, preallocated, mapped segment waiting for a roll of the log it was made
/// for. Drop it with [`PreparedSegment::discard`] to delete its files.
#[derive(Debug)]
pub struct PreparedSegment {
    log: MappedFile,
    index: MappedFile,
    time_index: MappedFile,
    /// The empty `.txnindex`, so an abort marker never creates a file on the owner's
    /// thread.
    txn_index: PathBuf,
}

impl SegmentPreparer {
    /// Creates the three files (blocking).
    pub fn prepare(&self) -> Result<PreparedSegment> {
        let stem = format!("{PREPARED_PREFIX}{}", uuid::Uuid::new_v4().simple());
        let path = |ext: &str| self.dir.join(format!("{stem}.{ext}"));
        let index_bytes = self.config.segment_index_bytes as usize;
        let log = MappedFile::create(&path("log"), self.config.segment_bytes as usize)?;
        if self.config.preallocate {
            log.reserve(self.config.segment_bytes as usize)?;
        }
        Ok(PreparedSegment {
            log,
            index: MappedFile::create(
                &path("index"),
                index_bytes / OFFSET_ENTRY_SIZE * OFFSET_ENTRY_SIZE,
            )?,
            time_index: MappedFile::create(
                &path("timeindex"),
                index_bytes / TIME_ENTRY_SIZE * TIME_ENTRY_SIZE,
            )?,
            txn_index: TxnIndex::create(path("txnindex"))?
                .file_path()
                .to_path_buf(),
        })
    }
}

impl PreparedSegment {
    /// Deletes the files of a segment that will not be used (blocking).
    pub fn discard(self) -> Result<()> {
        for file in [&self.log, &self.index, &self.time_index] {
            std::fs::remove_file(file.path())
                .map_err(io_err("delete prepared segment", file.path()))?;
        }
        let path = &self.txn_index;
        std::fs::remove_file(path).map_err(io_err("delete prepared segment", path))?;
        Ok(())
    }

    /// Renames the files to the segment at `base_offset` and makes it a segment.
    pub(crate) fn install(
        mut self,
        dir: &Path,
        base_offset: i64,
        config: &LogConfig,
        now_ms: i64,
    ) -> Result<LogSegment> {
        let [log_path, index_path, time_path] = LogSegment::paths(dir, base_offset);
        self.log.rename(&log_path)?;
        self.index.rename(&index_path)?;
        self.time_index.rename(&time_path)?;
        let txn_path = TxnIndex::path(dir, base_offset);
        std::fs::rename(&self.txn_index, &txn_path)
            .map_err(io_err("install prepared txn index", &txn_path))?;
        Ok(LogSegment::assemble(
            base_offset,
            self.log,
            OffsetIndex::from_file(self.index, base_offset),
            TimeIndex::from_file(self.time_index, base_offset),
            TxnIndex::empty(txn_path),
            now_ms,
            config,
        ))
    }
}

/// Allocates the active segment's blocks ahead of its appends, on any thread.
#[derive(Debug)]
pub struct AheadWork {
    file: std::sync::Arc<MappedFile>,
    target: usize,
}

impl AheadWork {
    pub fn run(self) -> Result<()> {
        self.file.fill_ahead(self.target)
    }
}

impl Log {
    /// The work that keeps the active segment's blocks and pages ahead of the appends,
    /// when some is due.
    pub fn ahead_work(&self) -> Option<AheadWork> {
        let file = self.active().log_file();
        file.ahead_due().map(|target| AheadWork {
            file: std::sync::Arc::clone(file),
            target,
        })
    }

    /// A handle that creates the next segment's files on another thread.
    pub fn segment_preparer(&self) -> SegmentPreparer {
        SegmentPreparer {
            dir: self.dir.clone(),
            config: self.config.clone(),
        }
    }

    /// From now on a roll never creates files on the owner's thread: an append that
    /// must roll while no prepared segment is held fails with
    /// [`crate::storage::Error::SegmentNotPrepared`] and changes nothing.
    pub fn prepare_segments_elsewhere(&mut self) {
        self.create_segments_inline = false;
    }

    /// Whether a segment should be prepared now: none is held, and the active segment
    /// is at least half full, so a roll by size is near. A partition that never fills
    /// its segment keeps no second set of files, mappings and descriptors waiting (a
    /// roll that comes first, by time or a full index, makes its files while the
    /// partition's mailbox waits).
    pub fn wants_prepared_segment(&self) -> bool {
        self.prepared.is_none()
            && self.active().size() as u64 >= u64::from(self.config.segment_bytes) / 2
    }

    /// Keeps `segment` for the next roll. Returns it back if one is already held;
    /// discard that one off the owner's thread.
    pub fn offer_prepared(&mut self, segment: PreparedSegment) -> Option<PreparedSegment> {
        if self.prepared.is_some() {
            return Some(segment);
        }
        self.prepared = Some(segment);
        None
    }
}

#[cfg(test)]
mod tests {
    use crate::storage::log::tests::{batch, small_config, T0};
    use crate::storage::Log;

    #[test]
    fn preallocate_gives_a_prepared_segment_every_block_and_otherwise_none() {
        use std::os::unix::fs::MetadataExt;
        let allocated = |preallocate: bool| {
            let dir = tempfile::tempdir().unwrap();
            let config = crate::storage::LogConfig {
                segment_bytes: 1 << 20,
                preallocate,
                ..small_config()
            };
            let log = Log::open(dir.path(), config, T0).unwrap();
            let prepared = log.segment_preparer().prepare().unwrap();
            let blocks = std::fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap())
                .filter(|e| e.file_name().to_string_lossy().ends_with(".log"))
                .filter(|e| e.file_name().to_string_lossy().starts_with(".prepared-"))
                .map(|e| e.metadata().unwrap().blocks() * 512)
                .sum::<u64>();
            prepared.discard().unwrap();
            blocks
        };
        assert!(allocated(true) >= 1 << 20);
        assert!(allocated(false) < 1 << 20);
    }

    #[test]
    fn a_segment_prepared_on_another_thread_is_used_by_the_next_roll() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = Log::open(dir.path(), small_config(), T0).unwrap();
        let preparer = log.segment_preparer();
        let prepared = std::thread::spawn(move || preparer.prepare().unwrap())
            .join()
            .unwrap();
        assert!(
            !log.wants_prepared_segment(),
            "an empty segment is far from a roll"
        );
        assert!(log.offer_prepared(prepared).is_none());
        assert!(!log.wants_prepared_segment());
        let extra = log.segment_preparer().prepare().unwrap();
        let extra = log.offer_prepared(extra).expect("one is enough");
        extra.discard().unwrap();

        let b = batch(1, 900, T0);
        for _ in 0..5 {
            log.append(&b, T0).unwrap();
        }
        assert!(log.segment_count() >= 2);
        assert!(
            !log.wants_prepared_segment(),
            "the roll used it, and the new segment is far from the next"
        );
        for _ in 0..2 {
            log.append(&b, T0).unwrap();
        }
        assert_eq!(log.segment_count(), 2);
        assert!(
            log.wants_prepared_segment(),
            "half full: the next roll is near"
        );
        let second = log.segment_base_offsets()[1];
        assert!(dir.path().join(format!("{second:020}.log")).exists());
        for offset in 0..7 {
            assert_eq!(log.read(offset, 1).unwrap().len(), b.len());
        }
        // A leftover prepared segment is cleaned up at open.
        let leftover = log.segment_preparer().prepare().unwrap();
        log.offer_prepared(leftover);
        log.close().unwrap();
        let log = Log::open(dir.path(), small_config(), T0).unwrap();
        assert_eq!(log.log_end_offset(), 7);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(
            names.iter().all(|n| !n.starts_with(".prepared-")),
            "{names:?}"
        );
    }

    #[test]
    fn a_log_that_prepares_elsewhere_refuses_a_roll_without_one_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = Log::open(dir.path(), small_config(), T0).unwrap();
        log.prepare_segments_elsewhere();
        let b = batch(1, 900, T0);
        let mut appended = 0;
        let refused = loop {
            match log.append(&b, T0) {
                Ok(_) => appended += 1,
                Err(e) => break e,
            }
        };
        assert!(
            matches!(refused, crate::storage::Error::SegmentNotPrepared),
            "{refused}"
        );
        assert_eq!(log.segment_count(), 1);
        assert_eq!(log.log_end_offset(), appended);
        let files = std::fs::read_dir(dir.path()).unwrap().count();

        let prepared = log.segment_preparer().prepare().unwrap();
        assert!(log.offer_prepared(prepared).is_none());
        log.append(&b, T0).unwrap();
        assert_eq!(log.segment_count(), 2);
        assert_eq!(log.log_end_offset(), appended + 1);
        assert!(std::fs::read_dir(dir.path()).unwrap().count() > files);
    }
}
