//! Opening a log: the clean-shutdown marker, loading segments, and recovering the
//! last one after a crash.
//!
//! After a clean shutdown ([`super::Log::close`] writes the marker) every file was
//! trimmed and synced, so opening trusts them: each segment's indexes get a structural
//! check, and only the batch headers after the last offset-index entry are walked to
//! find the segment's next offset and newest timestamp (about one index interval). No
//! CRC is computed.
//!
//! Without the marker, every segment from the recovery point on is scanned from its
//! start (Kafka's recovery of the segments after `recovery-point-offset-checkpoint`):
//! each batch's length bounds, magic, header and CRC-32C are checked, the file is cut
//! at the first bad byte, and the indexes are rebuilt from the walk. A segment cut
//! before its end is followed by nothing: later segments, written after the hole, are
//! deleted, so what survives is always a prefix of what was appended, even after a
//! power loss that wrote back pages out of order.
//!
//! The recovery point (`.aeon_recovery_point`, the base offset of the first segment
//! that may not be on disk) is written by the flush that syncs a rolled segment, after
//! the segment, and at a clean close; without the file every segment is recovered.
//!
//! The marker is removed (and the removal synced) on open, so a crash after this open
//! is detected by the next one.

use std::path::Path;
use std::sync::Arc;

use super::cleaner::swap::remove_if_exists;
use super::config::LogConfig;
use super::error::{io_err, Error, Result};
use super::index::{OffsetIndex, TimeIndex};
use super::mmap::{sync_dir, write_atomically};
use super::segment::LogSegment;
use crate::protocol::records::{BatchIter, RecordBatch};

/// The clean-shutdown marker in a partition directory. It holds the log start offset.
pub(crate) const CLEAN_SHUTDOWN_FILE: &str = ".aeon_clean_shutdown";

/// What opening a log did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogOpenStats {
    /// The clean-shutdown marker was absent from an existing log: the last segment
    /// was recovered.
    pub recovered: bool,
    /// Bytes whose CRC was checked (0 after a clean shutdown).
    pub scanned_bytes: u64,
    /// Bytes of batch headers walked without a CRC check (clean opens).
    pub walked_bytes: u64,
    /// Segments whose indexes were rebuilt from the log.
    pub rebuilt_indexes: usize,
    /// Segments whose `.log` was cut at a bad byte.
    pub truncated_segments: usize,
    /// Segments in the log.
    pub segments: usize,
}

pub(crate) struct Loaded {
    pub(crate) segments: Vec<LogSegment>,
    pub(crate) log_start_offset: i64,
    pub(crate) stats: LogOpenStats,
}

/// Writes the marker (and syncs it): the log was closed cleanly at this start offset.
pub(crate) fn write_clean_shutdown(dir: &Path, log_start_offset: i64) -> Result<()> {
    write_atomically(
        &dir.join(CLEAN_SHUTDOWN_FILE),
        format!("log_start_offset={log_start_offset}\n").as_bytes(),
    )
}

/// The recovery point file in a partition directory (see [`RecoveryPoint`]).
pub(crate) const RECOVERY_POINT_FILE: &str = ".aeon_recovery_point";

/// Where recovery after a crash starts: every segment below the one based at `offset`
/// is on disk, and so are the first `position` bytes of that one, with their index
/// entries; the newest timestamp in those bytes is `max_timestamp` (at
/// `offset_of_max_timestamp`). A roll writes it with position 0 once the rolled segment
/// is synced; the periodic checkpoint (`log.flush.offset.checkpoint.interval.ms`) moves
/// it inside the active segment after syncing the segment and its indexes, so a crash
/// costs a scan of what came after, not of the whole active segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecoveryPoint {
    pub offset: i64,
    pub position: u64,
    pub max_timestamp: i64,
    pub offset_of_max_timestamp: i64,
}

impl RecoveryPoint {
    /// The start of the segment based at `offset`: nothing of it vouched for.
    pub fn segment_start(offset: i64) -> Self {
        RecoveryPoint {
            offset,
            position: 0,
            max_timestamp: -1,
            offset_of_max_timestamp: -1,
        }
    }

    /// The file's text: `offset position max_timestamp offset_of_max_timestamp`.
    fn to_text(self) -> String {
        format!(
            "{} {} {} {}\n",
            self.offset, self.position, self.max_timestamp, self.offset_of_max_timestamp
        )
    }

    /// Reads the file's text; a bare offset (the segment's start) is read as well.
    fn parse(text: &str) -> Option<Self> {
        let mut fields = text.split_whitespace();
        let offset = fields.next()?.parse::<i64>().ok().filter(|&o| o >= 0)?;
        let mut point = Self::segment_start(offset);
        if let Some(position) = fields.next() {
            point.position = position.parse().ok()?;
            point.max_timestamp = fields.next()?.parse().ok()?;
            point.offset_of_max_timestamp = fields.next()?.parse().ok()?;
        }
        Some(point)
    }
}

/// Records (durably) where recovery after a crash may start. Blocking.
pub fn write_recovery_point(dir: &Path, point: RecoveryPoint) -> Result<()> {
    write_atomically(&dir.join(RECOVERY_POINT_FILE), point.to_text().as_bytes())
}

/// The recovery point; the start of the first segment (recover everything) when there
/// is none or it is unreadable.
fn read_recovery_point(dir: &Path) -> RecoveryPoint {
    std::fs::read_to_string(dir.join(RECOVERY_POINT_FILE))
        .ok()
        .and_then(|t| RecoveryPoint::parse(&t))
        .unwrap_or(RecoveryPoint::segment_start(0))
}

/// Reads and removes the marker: `Some(log start offset)` after a clean shutdown.
fn take_clean_shutdown(dir: &Path) -> Result<Option<i64>> {
    let path = dir.join(CLEAN_SHUTDOWN_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(Error::Io {
                op: "read",
                path,
                source,
            })
        }
    };
    std::fs::remove_file(&path).map_err(io_err("remove", &path))?;
    sync_dir(dir)?;
    // A marker we cannot read is treated as absent: recovery is always safe.
    Ok(text
        .trim()
        .strip_prefix("log_start_offset=")
        .and_then(|v| v.parse().ok()))
}

/// Base offsets of the segments in `dir`, sorted; deletes leftover `*.deleted` and
/// `.prepared-*` files.
fn list_segments(dir: &Path) -> Result<Vec<i64>> {
    let mut bases = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_err("list", dir))? {
        let entry = entry.map_err(io_err("list", dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.ends_with(".deleted") || name.starts_with(super::prepare::PREPARED_PREFIX) {
            let path = entry.path();
            std::fs::remove_file(&path).map_err(io_err("remove", &path))?;
        } else if let Some(stem) = name.strip_suffix(".log") {
            if stem.len() == 20 {
                // Kafka's names are 20 digits: no sign, so never a negative offset.
                if stem.bytes().all(|b| b.is_ascii_digit()) {
                    if let Ok(base) = stem.parse::<i64>() {
                        bases.push(base);
                    }
                }
            }
        }
    }
    bases.sort_unstable();
    Ok(bases)
}

/// Opens every segment of the log in `dir` (creating the directory and a first
/// segment if needed), recovering the last one unless the log was closed cleanly.
pub(crate) fn load_log(dir: &Path, config: &LogConfig, now_ms: i64) -> Result<Loaded> {
    std::fs::create_dir_all(dir).map_err(io_err("create directory", dir))?;
    super::cleaner::swap::recover(dir)?;
    let clean = take_clean_shutdown(dir)?;
    let bases = list_segments(dir)?;
    let mut stats = LogOpenStats {
        // A new, empty directory has nothing to recover.
        recovered: clean.is_none() && !bases.is_empty(),
        ..LogOpenStats::default()
    };
    let recovery_point = read_recovery_point(dir);
    // The first segment that may not be on disk: the one holding the recovery point.
    let first_unflushed = bases
        .iter()
        .rposition(|&b| b <= recovery_point.offset)
        .unwrap_or(0);
    let mut segments: Vec<LogSegment> = Vec::with_capacity(bases.len().max(1));
    let mut i = 0;
    while i < bases.len() {
        let base = bases[i];
        let active = i + 1 == bases.len();
        let verify = clean.is_none() && i >= first_unflushed;
        // The part of the segment the recovery point vouches for is not scanned again.
        let synced = (verify && base == recovery_point.offset && recovery_point.position > 0)
            .then_some(&recovery_point);
        let mut segment = LogSegment::open(dir, base, config, active)?;
        let stopped_early = segment.load(dir, config, active, verify, synced, &mut stats)?;
        if synced.is_some_and(|p| (segment.size() as u64) < p.position) {
            // Bytes it vouched for were cut (damaged on disk): it vouches for nothing
            // in this segment any more, before anything is written over them.
            write_recovery_point(dir, RecoveryPoint::segment_start(base))?;
        }
        if verify {
            // Entries whose abort marker was in the cut tail go with it.
            let end = segment.next_offset();
            segment.txn_index.truncate_to(end)?;
        }
        // A rolled segment whose batches stop short of the next segment's base lost
        // its tail (zeros where a power loss kept no page). Zeros after batches that
        // do reach it are only a file longer than its content.
        let hole = stopped_early
            && bases
                .get(i + 1)
                .is_some_and(|&next| segment.next_offset() < next);
        if hole {
            // A hole: what was written after it cannot be kept.
            tracing::warn!(dir = %dir.display(), base, "a segment was cut before its end; deleting the segments after it");
            for &later in &bases[i + 1..] {
                for path in LogSegment::paths(dir, later) {
                    remove_if_exists(&path)?;
                }
                remove_if_exists(&super::txn_index::TxnIndex::path(dir, later))?;
            }
            sync_dir(dir)?;
            // It is the last segment now: reopened as the active one.
            drop(segment);
            let mut segment = LogSegment::open(dir, base, config, true)?;
            segment.load(dir, config, true, true, synced, &mut stats)?;
            segments.push(segment);
            break;
        }
        segments.push(segment);
        i += 1;
    }
    if segments.is_empty() {
        let base = clean.unwrap_or(0).max(0);
        segments.push(LogSegment::create(dir, base, config, now_ms)?);
        sync_dir(dir)?;
    }
    stats.segments = segments.len();
    let first_base = segments[0].base_offset();
    let end = segments[segments.len() - 1].next_offset();
    let log_start_offset = clean.unwrap_or(first_base).clamp(first_base, end);
    Ok(Loaded {
        segments,
        log_start_offset,
        stats,
    })
}

impl LogSegment {
    /// Leaves the segment ready (next offset, timestamps, indexes). Trusted (`verify`
    /// false): the indexes are checked for structure and the batches after the last
    /// offset-index entry are walked. Verified: every batch from the start is checked
    /// (CRC included) and the indexes are rebuilt from the walk; with a recovery point
    /// inside this segment (`synced`), from the last offset-index entry below its
    /// position instead, the bytes and entries before it being on disk. The log is cut
    /// after the last good batch; true if the batches stopped before the end of the
    /// file.
    pub(crate) fn load(
        &mut self,
        dir: &Path,
        config: &LogConfig,
        active: bool,
        verify: bool,
        synced: Option<&RecoveryPoint>,
        stats: &mut LogOpenStats,
    ) -> Result<bool> {
        let file_len = self.log.len();
        let sane = if verify {
            let n = self.offset_index.valid_prefix(file_len);
            self.offset_index.truncate_entries(n)?;
            let m = self.time_index.valid_prefix();
            self.time_index.truncate_entries(m)?;
            true
        } else {
            self.offset_index.is_sane(file_len) && self.time_index.is_sane()
        };
        let data_owner = Arc::clone(&self.log);
        let data = data_owner.contents();

        // A verified segment is read from its start (after a power loss its index may
        // have reached the disk while earlier log pages did not), or from the last
        // index entry below what its recovery point vouches for: those bytes and
        // entries were synced before the point was written.
        let synced = synced.filter(|_| verify);
        let mut anchor = match synced {
            None if sane && !verify => self.offset_index.last_entry(),
            None => None,
            Some(point) => self
                .offset_index
                .partition_point(|&(_, position)| u64::from(position) < point.position)
                .checked_sub(1)
                .map(|i| self.offset_index.entry(i)),
        };
        if let Some((offset, position)) = anchor {
            let good = data
                .get(position as usize..)
                .and_then(|rest| RecordBatch::parse(rest).ok())
                .is_some_and(|b| b.last_offset() == offset && (!verify || b.verify_crc().is_ok()));
            if !good {
                anchor = None;
            }
        }
        let must_rebuild =
            anchor.is_none() && (!sane || (!verify && self.offset_index.entries() > 0));
        if must_rebuild {
            tracing::warn!(segment = %self.log.path().display(), "index missing or inconsistent; rebuilding it from the log");
            stats.rebuilt_indexes += 1;
            self.reset_indexes(dir, config)?;
        }

        let from = match anchor {
            Some((offset, position)) => {
                if verify {
                    // Entries past the anchor are not vouched for by a checked batch;
                    // the scan from it writes them again.
                    let keep = self.offset_index.partition_point(|&(o, _)| o <= offset);
                    self.offset_index.truncate_entries(keep)?;
                    let keep = self.time_index.partition_point(|&(_, o)| o <= offset);
                    self.time_index.truncate_entries(keep)?;
                }
                position as usize
            }
            None => {
                if verify {
                    self.offset_index.truncate_entries(0)?;
                    self.time_index.truncate_entries(0)?;
                }
                0
            }
        };
        // A trusted (or kept) time index knows the largest timestamp up to here,
        // including the final entry written at roll or close.
        if let Some((ts, at)) = self.time_index.last_entry() {
            self.max_timestamp_so_far = ts;
            self.offset_of_max_timestamp_so_far = at;
        }
        // The recovery point knows it for every byte it vouches for (the time index
        // only at its intervals); the batches scanned again from the anchor are
        // tracked anew below.
        if let Some(point) = synced.filter(|_| anchor.is_some()) {
            if point.max_timestamp > self.max_timestamp_so_far {
                self.max_timestamp_so_far = point.max_timestamp;
                self.offset_of_max_timestamp_so_far = point.offset_of_max_timestamp;
            }
        }

        if let Some(first) = data.get(..from).and_then(|d| RecordBatch::parse(d).ok()) {
            self.rolling_based_timestamp = Some(first.max_timestamp());
        }
        let mut position = from;
        for batch in BatchIter::new(&data[from..]) {
            let size = batch.total_size();
            if verify {
                if batch.verify_crc().is_err() {
                    break;
                }
                stats.scanned_bytes += size as u64;
            } else {
                stats.walked_bytes += size as u64;
            }
            // Aeon assigns offsets contiguously, so a recovered batch must start exactly
            // where the previous one ended; a trusted (possibly Kafka-compacted) file may
            // have gaps. The base offset is outside the CRC: this is what checks it.
            // A rolled segment may have been compacted (gaps, a first batch past its
            // base): there offsets only have to grow.
            let ordered = if verify && active {
                (anchor.is_some() && position == from) || batch.base_offset() == self.next_offset
            } else {
                batch.base_offset() >= self.next_offset
            };
            if batch.validate_header().is_err()
                || !ordered
                || !self.can_hold_offset(batch.last_offset())
            {
                break;
            }
            if anchor.is_some() && position == from {
                // Already indexed: restore the state right after it.
                self.bytes_since_last_index_entry = size;
                self.next_offset = batch.next_offset();
                if batch.max_timestamp() > self.max_timestamp_so_far {
                    self.max_timestamp_so_far = batch.max_timestamp();
                    self.offset_of_max_timestamp_so_far = batch.last_offset();
                }
                if from == 0 {
                    self.rolling_based_timestamp = Some(batch.max_timestamp());
                }
            } else {
                self.track(position, size, batch.last_offset(), batch.max_timestamp())?;
            }
            position += size;
        }
        // Only for the statistics: a look at the start of the tail (its first page), not
        // the whole preallocation.
        let garbage = data[position..].iter().take(4096).any(|&b| b != 0);
        drop(data_owner);
        if position < file_len {
            if garbage {
                tracing::warn!(
                    segment = %self.log.path().display(),
                    valid_bytes = position,
                    "cutting the log after its last complete, valid batch"
                );
            }
            stats.truncated_segments += usize::from(garbage);
            let path = self.log.path().to_path_buf();
            Arc::get_mut(&mut self.log)
                .ok_or(Error::Corrupt {
                    path,
                    reason: "segment is shared while being recovered".into(),
                })?
                .cut(position)?;
            if !active {
                self.log.trim()?;
            }
        }
        let stopped_early = position < file_len;
        if !active && (must_rebuild || verify) {
            self.write_final_time_entry()?;
            self.offset_index.file().trim()?;
            self.time_index.file().trim()?;
        }
        Ok(stopped_early)
    }

    /// Replaces both index files with new, empty, preallocated ones.
    pub(crate) fn reset_indexes(&mut self, dir: &Path, config: &LogConfig) -> Result<()> {
        let [_, index_path, time_path] = Self::paths(dir, self.base_offset);
        for path in [&index_path, &time_path] {
            match std::fs::remove_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(Error::Io {
                        op: "remove index",
                        path: path.clone(),
                        source,
                    })
                }
            }
        }
        let capacity = config.segment_index_bytes as usize;
        self.offset_index = OffsetIndex::open(&index_path, self.base_offset, capacity)?;
        self.time_index = TimeIndex::open(&time_path, self.base_offset, capacity)?;
        self.max_timestamp_so_far = crate::protocol::records::NO_TIMESTAMP;
        self.offset_of_max_timestamp_so_far = self.base_offset;
        self.bytes_since_last_index_entry = 0;
        self.next_offset = self.base_offset;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::super::log::tests::{batch, small_config, T0};
    use super::super::Log;
    use super::*;
    use crate::protocol::records::{self, PARTITION_LEADER_EPOCH_OFFSET};

    /// A log with several segments, left as after a crash. Returns the batches as
    /// stored and the path and position of the last batch in the last segment.
    fn crashed_log(dir: &Path) -> (Vec<Vec<u8>>, PathBuf, usize) {
        let mut log = Log::open(dir, small_config(), T0).unwrap();
        let mut stored = Vec::new();
        for i in 0..23 {
            let b = batch(1 + i % 3, 40 + (i * 37) % 300, T0 + i as i64);
            let info = log.append(&b, T0).unwrap();
            let mut s = b.clone();
            records::set_base_offset(&mut s, info.base_offset).unwrap();
            stored.push(s);
        }
        let last_base = *log.segment_base_offsets().last().unwrap();
        let path = dir.join(format!("{last_base:020}.log"));
        let last_len = stored.last().unwrap().len();
        let in_last: usize = stored
            .iter()
            .filter(|b| RecordBatch::parse(b).unwrap().base_offset() >= last_base)
            .map(Vec::len)
            .sum();
        assert!(
            in_last > last_len,
            "the last segment holds more than one batch"
        );
        drop(log);
        (stored, path, in_last - last_len)
    }

    fn copy_dir(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }

    fn read_all(log: &Log) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut offset = log.log_start_offset();
        while offset < log.log_end_offset() {
            let bytes = log.read(offset, usize::MAX).unwrap();
            assert!(!bytes.is_empty());
            for b in BatchIter::new(&bytes) {
                offset = b.next_offset();
                out.push(b.bytes().to_vec());
            }
        }
        out
    }

    /// Opens the damaged copy and checks that it holds a prefix of `stored` that keeps
    /// at least `at_least` batches, that it stays that way, and that it appends again.
    fn assert_recovers_to_prefix(dir: &Path, stored: &[Vec<u8>], at_least: usize) {
        let mut log = Log::open(dir, small_config(), T0).unwrap();
        assert!(log.open_stats().recovered);
        let got = read_all(&log);
        assert!(
            got.len() >= at_least,
            "lost acknowledged data: {} < {at_least}",
            got.len()
        );
        assert_eq!(
            &got[..],
            &stored[..got.len()],
            "not a prefix of what was appended"
        );
        let end = log.log_end_offset();
        assert_eq!(
            end,
            RecordBatch::parse(&got[got.len() - 1])
                .unwrap()
                .next_offset()
        );
        log.append(&batch(1, 5, T0), T0).unwrap();
        drop(log);
        let log = Log::open(dir, small_config(), T0).unwrap();
        assert_eq!(log.log_end_offset(), end + 1);
        assert_eq!(&read_all(&log)[..got.len()], &got[..]);
    }

    fn damage(template: &Path, case: &Path, log_file: &Path, f: impl FnOnce(&Path)) {
        copy_dir(template, case);
        f(&case.join(log_file.file_name().unwrap()));
    }

    /// A power loss can keep later pages and lose earlier ones: a rolled segment whose
    /// flush had not run may come back with a hole (zeros) while the next segment's
    /// bytes survive. Recovery keeps the prefix before the hole and nothing after it.
    #[test]
    fn a_hole_in_an_unflushed_rolled_segment_keeps_the_prefix_and_drops_what_follows() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = Log::open(dir.path(), small_config(), T0).unwrap();
        for i in 0..40 {
            log.append(&batch(2, 100 + i, T0 + i as i64), T0).unwrap();
        }
        let bases = log.segment_base_offsets();
        assert!(bases.len() >= 4, "{bases:?}");
        let expected = read_all(&log);
        drop(log); // a crash: no close, no marker, no flush, no recovery point
        assert!(!dir.path().join(RECOVERY_POINT_FILE).exists());
        let second = dir.path().join(format!("{:020}.log", bases[1]));
        let mut bytes = std::fs::read(&second).unwrap();
        let first_batch = RecordBatch::parse(&bytes).unwrap().total_size();
        let hole = first_batch + 10;
        bytes[hole..hole + 200].fill(0);
        std::fs::write(&second, &bytes).unwrap();

        let log = Log::open(dir.path(), small_config(), T0).unwrap();
        assert!(log.open_stats().recovered);
        assert_eq!(
            log.log_end_offset(),
            bases[1] + 2,
            "the batch before the hole ends it"
        );
        assert_eq!(log.segment_base_offsets(), vec![bases[0], bases[1]]);
        let kept = read_all(&log);
        assert_eq!(
            kept[..],
            expected[..kept.len()],
            "a prefix of what was appended"
        );
        for &later in &bases[2..] {
            assert!(!dir.path().join(format!("{later:020}.log")).exists());
        }
        drop(log);
        // Appends go on after the prefix, in a new segment.
        let mut log = Log::open(dir.path(), small_config(), T0).unwrap();
        let info = log.append(&batch(2, 100, T0), T0).unwrap();
        assert_eq!(info.base_offset, bases[1] + 2);
        assert_eq!(read_all(&log).len(), kept.len() + 1);
    }

    /// A rolled segment longer than its batches (zeros after them, as an allocation
    /// that raced a roll could leave) is complete: its batches reach the next segment's
    /// base. Nothing after it is dropped.
    #[test]
    fn zeros_after_the_batches_of_a_complete_rolled_segment_are_no_hole() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = Log::open(dir.path(), small_config(), T0).unwrap();
        for i in 0..40 {
            log.append(&batch(2, 100 + i, T0 + i as i64), T0).unwrap();
        }
        let bases = log.segment_base_offsets();
        let (expected, end) = (read_all(&log), log.log_end_offset());
        drop(log);
        let second = dir.path().join(format!("{:020}.log", bases[1]));
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(&second)
            .unwrap();
        let len = file.metadata().unwrap().len();
        file.set_len(len + 4096).unwrap();
        let log = Log::open(dir.path(), small_config(), T0).unwrap();
        assert_eq!(log.segment_base_offsets(), bases);
        assert_eq!((read_all(&log), log.log_end_offset()), (expected, end));
    }

    #[test]
    fn a_flushed_roll_moves_the_recovery_point_and_recovery_starts_there() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = Log::open(dir.path(), small_config(), T0).unwrap();
        for i in 0..40 {
            log.append(&batch(2, 100 + i, T0 + i as i64), T0).unwrap();
        }
        log.flush().unwrap();
        let bases = log.segment_base_offsets();
        let last = *bases.last().unwrap();
        assert_eq!(
            read_recovery_point(dir.path()),
            RecoveryPoint::segment_start(last)
        );
        let expected = read_all(&log);
        drop(log);
        let log = Log::open(dir.path(), small_config(), T0).unwrap();
        let active_bytes = std::fs::read(dir.path().join(format!("{last:020}.log")))
            .unwrap()
            .len() as u64;
        assert!(
            log.open_stats().scanned_bytes <= active_bytes,
            "only the active segment"
        );
        assert_eq!(read_all(&log), expected);
    }

    /// One segment of 1 MiB (nothing rolls), an index entry every 256 bytes.
    fn one_segment_config() -> LogConfig {
        LogConfig {
            segment_bytes: 1 << 20,
            segment_index_bytes: 1 << 16,
            ..small_config()
        }
    }

    /// A log with `before` batches synced under a recovery point inside the active
    /// segment, then `after` more, left as after a crash (dropped, never closed).
    /// Timestamps go down after the point, so the newest one lies before it.
    fn crashed_after_a_point(
        dir: &Path,
        before: usize,
        after: usize,
    ) -> (Vec<Vec<u8>>, RecoveryPoint, (i64, i64)) {
        let mut log = Log::open(dir, one_segment_config(), T0).unwrap();
        for i in 0..before {
            log.append(&batch(3, 200, T0 + 1_000 + i as i64), T0)
                .unwrap();
        }
        assert!(log.note_recovery_point());
        assert!(!log.note_recovery_point(), "nothing new since");
        log.flush().unwrap();
        let point = read_recovery_point(dir);
        for i in 0..after {
            log.append(&batch(2, 100, T0 + i as i64), T0).unwrap();
        }
        assert_eq!(log.segment_count(), 1);
        let stored = read_all(&log);
        let newest = log.max_timestamp().unwrap().unwrap();
        drop(log);
        (stored, point, (newest.timestamp, newest.offset))
    }

    #[test]
    fn a_recovery_point_inside_the_active_segment_bounds_the_scan_after_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        let (stored, point, newest_before) = crashed_after_a_point(dir.path(), 200, 20);
        let before: usize = stored[..200].iter().map(Vec::len).sum();
        let after: usize = stored[200..].iter().map(Vec::len).sum();
        assert_eq!(point.offset, 0);
        assert_eq!(point.position, before as u64);
        assert_eq!(point.max_timestamp, T0 + 1_199);
        let log = Log::open(dir.path(), one_segment_config(), T0).unwrap();
        let stats = log.open_stats();
        assert!(stats.recovered);
        // From the last index entry below the point: at most an index interval and
        // a batch more than what came after it.
        assert!(
            stats.scanned_bytes >= after as u64
                && stats.scanned_bytes <= (after + 256 + stored[199].len()) as u64,
            "scanned {} bytes of {}; {after} came after the point",
            stats.scanned_bytes,
            before + after
        );
        assert_eq!(read_all(&log), stored);
        assert_eq!(log.log_end_offset(), 200 * 3 + 20 * 2);
        // The newest timestamp is known although its batch was not scanned again,
        // and timestamp lookups find batches on both sides of the point.
        // (The first record of the newest batch: its records share the timestamp.)
        let newest = log.max_timestamp().unwrap().unwrap();
        assert_eq!((newest.timestamp, newest.offset), (T0 + 1_199, 597));
        assert_eq!((newest.timestamp, newest.offset), newest_before);
        assert_eq!(
            log.offset_for_timestamp(T0 + 1_100)
                .unwrap()
                .unwrap()
                .offset,
            300
        );
        assert_eq!(
            log.offset_for_timestamp(T0 + 1_199)
                .unwrap()
                .unwrap()
                .offset,
            597
        );
        // Every offset reads from where it is (the rebuilt index entries after the
        // anchor included).
        for offset in [0, 299, 597, 600, 630, 639] {
            let bytes = log.read(offset, 1).unwrap();
            let first = RecordBatch::parse(&bytes).unwrap();
            assert!(first.base_offset() <= offset && offset <= first.last_offset());
        }
        drop(log);
        // A second crash with nothing new: the point still holds.
        let log = Log::open(dir.path(), one_segment_config(), T0).unwrap();
        assert_eq!(read_all(&log), stored);
    }

    #[test]
    fn a_cleanly_reopened_log_has_no_recovery_point_to_move_until_it_takes_appends() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = Log::open(dir.path(), one_segment_config(), T0).unwrap();
        assert!(
            !log.note_recovery_point(),
            "an empty segment vouches for nothing"
        );
        log.append(&batch(2, 100, T0), T0).unwrap();
        log.close().unwrap();
        let at_close = read_recovery_point(dir.path());
        assert!(
            at_close.position > 0,
            "a clean shutdown records the segment's end"
        );
        let mut log = Log::open(dir.path(), one_segment_config(), T0).unwrap();
        assert!(
            !log.note_recovery_point(),
            "the point on disk is already there"
        );
        log.append(&batch(2, 100, T0), T0).unwrap();
        assert!(log.note_recovery_point());
        log.flush().unwrap();
        assert!(read_recovery_point(dir.path()).position > at_close.position);
    }

    #[test]
    fn a_torn_tail_after_a_recovery_point_is_cut_and_what_it_vouches_for_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let (stored, point, _) = crashed_after_a_point(dir.path(), 50, 10);
        let path = dir.path().join(format!("{:020}.log", 0));
        let bytes = std::fs::read(&path).unwrap();
        // The last batch after the point is torn in its middle.
        let end: usize = stored.iter().map(Vec::len).sum();
        let torn = end - stored[59].len() / 2;
        let mut damaged = bytes.clone();
        damaged[torn..end].fill(0xAB);
        std::fs::write(&path, &damaged).unwrap();
        let log = Log::open(dir.path(), one_segment_config(), T0).unwrap();
        assert_eq!(read_all(&log), stored[..59]);
        assert!(log.open_stats().scanned_bytes < point.position);
    }

    #[test]
    fn damaged_bytes_under_a_recovery_point_are_cut_and_the_point_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let (stored, point, _) = crashed_after_a_point(dir.path(), 30, 5);
        let path = dir.path().join(format!("{:020}.log", 0));
        let mut bytes = std::fs::read(&path).unwrap();
        // A byte of the last batch the point vouches for (inside its records, under
        // the CRC) rots on disk.
        bytes[point.position as usize - 10] ^= 0xFF;
        std::fs::write(&path, &bytes).unwrap();
        let log = Log::open(dir.path(), one_segment_config(), T0).unwrap();
        assert_eq!(read_all(&log), stored[..29]);
        assert_eq!(
            read_recovery_point(dir.path()),
            RecoveryPoint::segment_start(0),
            "the point vouches for nothing in the cut segment"
        );
    }

    #[test]
    fn a_recovery_point_for_a_segment_that_is_gone_recovers_everything() {
        let dir = tempfile::tempdir().unwrap();
        let (stored, _, _) = crashed_after_a_point(dir.path(), 30, 5);
        // As if the segment it names had been deleted: it names another base.
        write_recovery_point(
            dir.path(),
            RecoveryPoint {
                offset: 7,
                position: 1_000,
                max_timestamp: T0,
                offset_of_max_timestamp: 7,
            },
        )
        .unwrap();
        let log = Log::open(dir.path(), one_segment_config(), T0).unwrap();
        let total: usize = stored.iter().map(Vec::len).sum();
        assert_eq!(log.open_stats().scanned_bytes, total as u64);
        assert_eq!(read_all(&log), stored);
    }

    #[test]
    fn recovery_point_files_of_both_forms_read_back() {
        let point = RecoveryPoint {
            offset: 42,
            position: 4096,
            max_timestamp: 1_700_000_000_000,
            offset_of_max_timestamp: 50,
        };
        assert_eq!(RecoveryPoint::parse(&point.to_text()), Some(point));
        assert_eq!(
            RecoveryPoint::parse("42\n"),
            Some(RecoveryPoint::segment_start(42))
        );
        for bad in ["", "-1", "x", "42 4096", "42 4096 1", "42 -5 1 1"] {
            assert_eq!(RecoveryPoint::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn truncating_the_last_batch_at_every_byte_recovers_a_prefix() {
        let root = tempfile::tempdir().unwrap();
        let template = root.path().join("template");
        let (stored, log_file, last_pos) = crashed_log(&template);
        let last_len = stored.last().unwrap().len();
        for cut in 0..=last_len {
            let case = root.path().join(format!("cut-{cut}"));
            damage(&template, &case, &log_file, |p| {
                let f = std::fs::OpenOptions::new().write(true).open(p).unwrap();
                f.set_len((last_pos + cut) as u64).unwrap();
            });
            let keep = if cut == last_len {
                stored.len()
            } else {
                stored.len() - 1
            };
            assert_recovers_to_prefix(&case, &stored, keep);
            std::fs::remove_dir_all(&case).unwrap();
        }
    }

    #[test]
    fn zero_filling_the_tail_from_any_byte_of_the_last_batch_recovers_a_prefix() {
        let root = tempfile::tempdir().unwrap();
        let template = root.path().join("template");
        let (stored, log_file, last_pos) = crashed_log(&template);
        let last_len = stored.last().unwrap().len();
        for from in 0..last_len {
            let case = root.path().join(format!("zero-{from}"));
            damage(&template, &case, &log_file, |p| {
                let mut bytes = std::fs::read(p).unwrap();
                bytes[last_pos + from..].fill(0);
                std::fs::write(p, bytes).unwrap();
            });
            assert_recovers_to_prefix(&case, &stored, stored.len() - 1);
            std::fs::remove_dir_all(&case).unwrap();
        }
    }

    #[test]
    fn flipping_any_checked_byte_of_the_last_batch_cuts_it_off() {
        let root = tempfile::tempdir().unwrap();
        let template = root.path().join("template");
        let (stored, log_file, last_pos) = crashed_log(&template);
        let last_len = stored.last().unwrap().len();
        // partitionLeaderEpoch is outside the CRC and carries no invariant a reader
        // could check (as in Kafka); every other byte is checked.
        let epoch = PARTITION_LEADER_EPOCH_OFFSET..PARTITION_LEADER_EPOCH_OFFSET + 4;
        for at in (0..last_len).filter(|i| !epoch.contains(i)) {
            let case = root.path().join(format!("flip-{at}"));
            damage(&template, &case, &log_file, |p| {
                let mut bytes = std::fs::read(p).unwrap();
                bytes[last_pos + at] ^= 0x5a;
                std::fs::write(p, bytes).unwrap();
            });
            let log = Log::open(&case, small_config(), T0).unwrap();
            let got = read_all(&log);
            assert_eq!(
                got.len(),
                stored.len() - 1,
                "flip at byte {at} was not detected"
            );
            drop(log);
            assert_recovers_to_prefix(&case, &stored, stored.len() - 1);
            std::fs::remove_dir_all(&case).unwrap();
        }
    }

    #[test]
    fn a_deleted_or_damaged_index_is_rebuilt_from_its_segment() {
        let root = tempfile::tempdir().unwrap();
        let template = root.path().join("template");
        let (stored, log_file, _) = crashed_log(&template);
        let index = log_file.with_extension("index");
        let timeindex = log_file.with_extension("timeindex");
        for (name, how) in [
            ("delete-index", 0),
            ("delete-timeindex", 1),
            ("garbage-index", 2),
            ("garbage-timeindex", 3),
            ("short-index", 4),
        ] {
            let case = root.path().join(name);
            copy_dir(&template, &case);
            let target = case.join(if how % 2 == 0 {
                index.file_name().unwrap()
            } else {
                timeindex.file_name().unwrap()
            });
            match how {
                0 | 1 => std::fs::remove_file(&target).unwrap(),
                2 | 3 => std::fs::write(&target, [0xab; 40]).unwrap(),
                _ => std::fs::write(&target, [0, 0, 0, 9, 0, 0, 0xff, 0xff]).unwrap(),
            }
            assert_recovers_to_prefix(&case, &stored, stored.len());
        }
    }

    #[test]
    fn a_damaged_index_of_an_old_segment_after_clean_shutdown_is_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = Log::open(dir.path(), small_config(), T0).unwrap();
        for i in 0..30 {
            log.append(&batch(2, 100 + i, T0 + i as i64), T0).unwrap();
        }
        let end = log.log_end_offset();
        let first_ts = log.offset_for_timestamp(T0 + 3).unwrap().unwrap();
        let expected = read_all(&log);
        log.close().unwrap();
        let first_index = dir.path().join(format!("{:020}.index", 0));
        let len = std::fs::metadata(&first_index).unwrap().len();
        assert!(len > 0);
        std::fs::write(&first_index, vec![0x7f; len as usize]).unwrap();
        std::fs::remove_file(dir.path().join(format!("{:020}.timeindex", 0))).unwrap();

        let log = Log::open(dir.path(), small_config(), T0).unwrap();
        assert!(!log.open_stats().recovered);
        assert_eq!(log.open_stats().rebuilt_indexes, 1);
        assert_eq!(log.log_end_offset(), end);
        assert_eq!(read_all(&log), expected);
        assert_eq!(log.offset_for_timestamp(T0 + 3).unwrap(), Some(first_ts));
        log.close().unwrap();
        let log = Log::open(dir.path(), small_config(), T0).unwrap();
        assert_eq!(
            log.open_stats().rebuilt_indexes,
            0,
            "the rebuilt index was kept"
        );
    }

    #[test]
    fn hostile_segment_names_never_panic() {
        for name in [
            "09223372036854775807",
            "09223372036854775000",
            "-0000000000000000001",
            "99999999999999999999",
        ] {
            let dir = tempfile::tempdir().unwrap();
            let mut bytes = batch(3, 10, T0);
            records::set_base_offset(&mut bytes, i64::MAX - 1).unwrap();
            std::fs::write(dir.path().join(format!("{name}.log")), &bytes).unwrap();
            if let Ok(mut log) = Log::open(dir.path(), small_config(), T0) {
                let _ = log.append(&batch(1, 1, T0), T0);
                let _ = log.read(log.log_start_offset(), 100);
                let _ = log.apply_retention(T0);
            }
        }
    }

    #[test]
    fn an_unreadable_marker_means_recovery() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = Log::open(dir.path(), small_config(), T0).unwrap();
        log.append(&batch(1, 1, T0), T0).unwrap();
        log.close().unwrap();
        std::fs::write(dir.path().join(CLEAN_SHUTDOWN_FILE), "garbage").unwrap();
        let log = Log::open(dir.path(), small_config(), T0).unwrap();
        assert!(log.open_stats().recovered);
        assert_eq!(log.log_end_offset(), 1);
    }

    #[test]
    fn random_garbage_in_every_file_never_panics() {
        use proptest::prelude::*;
        proptest!(ProptestConfig { cases: 48, ..ProptestConfig::default() }, |(
            garbage in proptest::collection::vec(any::<u8>(), 0..600),
            which in 0usize..3,
            at in any::<prop::sample::Index>(),
            clean: bool,
        )| {
            let dir = tempfile::tempdir().unwrap();
            let mut log = Log::open(dir.path(), small_config(), T0).unwrap();
            for i in 0..12 {
                log.append(&batch(1, 150, T0 + i), T0).unwrap();
            }
            let base = *log.segment_base_offsets().last().unwrap();
            if clean { log.close().unwrap() } else { drop(log) }
            let ext = ["log", "index", "timeindex"][which];
            let path = dir.path().join(format!("{base:020}.{ext}"));
            let mut bytes = std::fs::read(&path).unwrap();
            let start = at.index(bytes.len() + 1);
            let end = (start + garbage.len()).min(bytes.len());
            bytes[start..end].copy_from_slice(&garbage[..end - start]);
            std::fs::write(&path, bytes).unwrap();
            // A clean open trusts the files (no CRC), so damage there may surface as
            // reads that end early; it must never panic.
            if let Ok(log) = Log::open(dir.path(), small_config(), T0) {
                let mut offset = log.log_start_offset();
                while let Ok(bytes) = log.read(offset, 1000) {
                    let Some(last) = BatchIter::new(&bytes).last() else { break };
                    if last.next_offset() <= offset {
                        break;
                    }
                    offset = last.next_offset();
                }
                let _ = log.offset_for_timestamp(T0 + 5);
                let _ = log.max_timestamp();
            }
        });
    }
}
