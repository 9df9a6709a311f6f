//! Opening a log: the clean-shutdown marker, loading segments, and recovering the
//! last one after a crash.
//!
//! After a clean shutdown ([`super::Log::close`] writes the marker) every file was
//! trimmed and synced, so opening trusts them: each segment's indexes get a structural
//! check, and only the batch headers after the last offset-index entry are walked to
//! find the segment's next offset and newest timestamp (about one index interval). No
//! CRC is computed.
//!
//! Without the marker, only the last segment is scanned: from its last offset-index
//! entry whose batch checks out (or from the start when the index is missing or
//! malformed), each batch's length bounds, magic, header and CRC-32C are checked, and
//! the file is cut at the first bad byte; index entries past that point are dropped and
//! the indexes are rebuilt from the walk. Earlier segments were trimmed and synced when
//! they rolled, before their successor was created.
//!
//! The marker is removed (and the removal synced) on open, so a crash after this open
//! is detected by the next one.

use std::path::Path;
use std::sync::Arc;

use super::config::LogConfig;
use super::error::{io_err, Error, Result};
use super::index::{OffsetIndex, TimeIndex};
use super::mmap::sync_dir;
use super::segment::LogSegment;
use crate::protocol::records::{BatchIter, RecordBatch};

/// The clean-shutdown marker in a partition directory. It holds the log start offset.
pub(crate) const CLEAN_SHUTDOWN_FILE: &str = ".aeon_clean_shutdown";

/// What opening a log did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogOpenStats {
    /// The clean-shutdown marker was absent: the last segment was recovered.
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
    let path = dir.join(CLEAN_SHUTDOWN_FILE);
    std::fs::write(&path, format!("log_start_offset={log_start_offset}\n"))
        .map_err(io_err("write", &path))?;
    std::fs::File::open(&path)
        .and_then(|f| f.sync_all())
        .map_err(io_err("fsync", &path))?;
    sync_dir(dir)
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

/// Base offsets of the segments in `dir`, sorted; deletes leftover `*.deleted` files.
fn list_segments(dir: &Path) -> Result<Vec<i64>> {
    let mut bases = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_err("list", dir))? {
        let entry = entry.map_err(io_err("list", dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.ends_with(".deleted") {
            let path = entry.path();
            std::fs::remove_file(&path).map_err(io_err("remove", &path))?;
        } else if let Some(stem) = name.strip_suffix(".log") {
            if stem.len() == 20 {
                if let Ok(base) = stem.parse::<i64>() {
                    bases.push(base);
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
    let clean = take_clean_shutdown(dir)?;
    let bases = list_segments(dir)?;
    let mut stats = LogOpenStats {
        recovered: clean.is_none(),
        ..LogOpenStats::default()
    };
    let mut segments = Vec::with_capacity(bases.len().max(1));
    for (i, &base) in bases.iter().enumerate() {
        let active = i + 1 == bases.len();
        let mut segment = LogSegment::open(dir, base, config, active)?;
        segment.load(dir, config, active, active && clean.is_none(), &mut stats)?;
        segments.push(segment);
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
    /// Validates the indexes against the log, walks the batches after the last index
    /// entry that checks out (verifying CRCs if `verify`), cuts the log after the last
    /// good batch, and leaves the segment ready: next offset, timestamps, indexes.
    pub(crate) fn load(
        &mut self,
        dir: &Path,
        config: &LogConfig,
        active: bool,
        verify: bool,
        stats: &mut LogOpenStats,
    ) -> Result<()> {
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

        let mut anchor = if sane {
            self.offset_index.last_entry()
        } else {
            None
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
        let must_rebuild = anchor.is_none() && (!sane || self.offset_index.entries() > 0);
        if must_rebuild {
            stats.rebuilt_indexes += 1;
            self.reset_indexes(dir, config)?;
        }

        let from = match anchor {
            Some((offset, position)) => {
                if verify {
                    // Entries past the anchor are not vouched for by a checked batch.
                    let keep = (0..self.time_index.entries())
                        .take_while(|&i| self.time_index.entry(i).1 <= offset)
                        .count();
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
            let ordered = batch.base_offset() >= self.next_offset;
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
        // Only for the statistics: a look at the start of the tail, not the whole preallocation.
        let garbage = data[position..].iter().take(64 * 1024).any(|&b| b != 0);
        drop(data_owner);
        if position < file_len {
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
        if !active && must_rebuild {
            self.write_final_time_entry()?;
            self.offset_index.file().trim()?;
            self.time_index.file().trim()?;
        }
        Ok(())
    }

    /// Replaces both index files with new, empty, preallocated ones.
    fn reset_indexes(&mut self, dir: &Path, config: &LogConfig) -> Result<()> {
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
