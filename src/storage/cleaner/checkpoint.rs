//! [`CleanerCheckpoint`]: how far a partition's log has been cleaned.

use std::path::Path;

use crate::storage::error::Result;
use crate::storage::mmap::write_atomically;

/// The cleaner's checkpoint of one partition, `cleaner-offset-checkpoint` in the
/// partition directory (Kafka keeps one such file per log directory; Aeon one per
/// partition, so a partition's directory is self-contained).
///
/// # Format
///
/// UTF-8 text, one `key=value` per line:
///
/// ```text
/// first_dirty_offset=12000
/// delete_horizon_ms=1700000086400000
/// ```
///
/// `first_dirty_offset`: every offset below it has been cleaned at least once (Kafka's
/// "first dirty offset"); always a segment base offset at the time it was written.
/// `delete_horizon_ms` (optional): the earliest delete horizon among the tombstones
/// the last cleaning kept; once the clock passes it, a cleaning is due even without new
/// dirty data, so expired tombstones go.
///
/// # Writes and crashes
///
/// Written to `cleaner-offset-checkpoint.tmp`, fsynced, renamed over the file, and the
/// directory fsynced: a crash leaves the old checkpoint or the new one. A missing or
/// unreadable file reads as "nothing cleaned yet", which only costs a full cleaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CleanerCheckpoint {
    pub first_dirty_offset: i64,
    pub delete_horizon_ms: Option<i64>,
}

/// The checkpoint's file name in a partition directory.
pub const CHECKPOINT_FILE: &str = "cleaner-offset-checkpoint";

impl CleanerCheckpoint {
    /// Reads the checkpoint of the log in `dir` (the default if absent or unreadable).
    pub fn read(dir: &Path) -> Self {
        let Ok(text) = std::fs::read_to_string(dir.join(CHECKPOINT_FILE)) else {
            return Self::default();
        };
        let mut checkpoint = Self::default();
        for (key, value) in text.lines().filter_map(|l| l.split_once('=')) {
            match (key.trim(), value.trim().parse::<i64>()) {
                ("first_dirty_offset", Ok(v)) => checkpoint.first_dirty_offset = v.max(0),
                ("delete_horizon_ms", Ok(v)) => checkpoint.delete_horizon_ms = Some(v),
                _ => {}
            }
        }
        checkpoint
    }

    /// Writes the checkpoint atomically (see the type's doc).
    pub fn write(&self, dir: &Path) -> Result<()> {
        let mut text = format!("first_dirty_offset={}\n", self.first_dirty_offset);
        if let Some(h) = self.delete_horizon_ms {
            text.push_str(&format!("delete_horizon_ms={h}\n"));
        }
        write_atomically(&dir.join(CHECKPOINT_FILE), text.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_round_trips_and_a_missing_or_garbled_file_reads_as_default() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            CleanerCheckpoint::read(dir.path()),
            CleanerCheckpoint::default()
        );
        let c = CleanerCheckpoint {
            first_dirty_offset: 12_000,
            delete_horizon_ms: Some(42),
        };
        c.write(dir.path()).unwrap();
        assert_eq!(CleanerCheckpoint::read(dir.path()), c);
        let c2 = CleanerCheckpoint {
            first_dirty_offset: 5,
            delete_horizon_ms: None,
        };
        c2.write(dir.path()).unwrap();
        assert_eq!(CleanerCheckpoint::read(dir.path()), c2);
        std::fs::write(dir.path().join(CHECKPOINT_FILE), b"\xff\xfe garbage").unwrap();
        assert_eq!(
            CleanerCheckpoint::read(dir.path()),
            CleanerCheckpoint::default()
        );
    }
}
