//! The leader-epoch cache of a partition (Kafka's `LeaderEpochFileCache`): for every
//! leader epoch, the offset its first batch took. A follower asks its leader where one
//! of its epochs ends (OffsetForLeaderEpoch) and truncates what it holds beyond that
//! (KIP-101/279), so a tail written under a leader that lost its place never survives.
//!
//! Kept in `leader-epoch-checkpoint`, Kafka's format: a version line (`0`), a count
//! line, then `epoch start_offset` per line. Changes are rare (a new leader), and the
//! file is written by the owner off its arbiter ([`EpochCache::checkpoint_due`]).

use std::path::{Path, PathBuf};

use super::error::{io_err, Error, Result};

/// The file's name in the partition directory.
pub const CHECKPOINT_FILE: &str = "leader-epoch-checkpoint";
/// The high watermark's checkpoint in the partition directory: Kafka's
/// `replication-offset-checkpoint` format (version, count, `topic partition offset`
/// lines) with this partition's one line (Kafka keeps one file per log directory).
pub const HIGH_WATERMARK_FILE: &str = "replication-offset-checkpoint";

/// The high watermark last checkpointed in `dir`, if any (a file that does not parse
/// counts as none: the high watermark then starts at the log end, as on a single
/// broker, or lower once a leader says so).
pub fn read_high_watermark(dir: &Path) -> Option<i64> {
    let text = std::fs::read_to_string(dir.join(HIGH_WATERMARK_FILE)).ok()?;
    let mut lines = text.lines();
    (lines.next()?.trim() == "0").then_some(())?;
    (lines.next()?.trim() == "1").then_some(())?;
    lines.next()?.split_whitespace().nth(2)?.parse().ok()
}

/// The high watermark checkpoint of partition `name` (`topic-partition`) in `dir`: the
/// path and content to write off the owner's thread.
pub fn high_watermark_checkpoint(dir: &Path, name: &str, hw: i64) -> (PathBuf, String) {
    let (topic, partition) = name.rsplit_once('-').unwrap_or((name, "0"));
    (
        dir.join(HIGH_WATERMARK_FILE),
        format!("0\n1\n{topic} {partition} {hw}\n"),
    )
}
/// The epoch and offset Kafka answers when it knows none (`UNDEFINED_EPOCH`).
pub const UNDEFINED: i32 = -1;
/// At most this many entries are read from a checkpoint file (a partition has one per
/// leader change it saw; a longer file is corrupt).
const MAX_ENTRIES: usize = 1 << 20;

/// One epoch and where it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochEntry {
    pub epoch: i32,
    pub start_offset: i64,
}

/// The epochs of one partition, oldest first; epochs and start offsets both grow.
#[derive(Debug, Default)]
pub struct EpochCache {
    entries: Vec<EpochEntry>,
    /// Changed since the last checkpoint was handed out.
    dirty: bool,
}

impl EpochCache {
    /// Reads `dir`'s checkpoint (an absent file is an empty cache).
    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join(CHECKPOINT_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(io_err("read", &path)(e)),
        };
        let corrupt = |reason: &str| Error::Corrupt {
            path: path.clone(),
            reason: reason.to_string(),
        };
        let mut lines = text.lines();
        if lines.next().map(str::trim) != Some("0") {
            return Err(corrupt("unknown checkpoint version"));
        }
        let count: usize = lines
            .next()
            .and_then(|l| l.trim().parse().ok())
            .filter(|&n| n <= MAX_ENTRIES)
            .ok_or_else(|| corrupt("bad entry count"))?;
        let mut cache = Self::default();
        for line in lines.take(count) {
            let mut parts = line.split_whitespace();
            let epoch = parts.next().and_then(|p| p.parse().ok());
            let start = parts.next().and_then(|p| p.parse().ok());
            match (epoch, start) {
                (Some(epoch), Some(start_offset)) => cache.assign(epoch, start_offset),
                _ => return Err(corrupt("bad entry")),
            }
        }
        if cache.entries.len() != count {
            return Err(corrupt("fewer entries than counted"));
        }
        cache.dirty = false;
        Ok(cache)
    }

    pub fn entries(&self) -> &[EpochEntry] {
        &self.entries
    }

    pub fn latest_epoch(&self) -> Option<i32> {
        self.entries.last().map(|e| e.epoch)
    }

    /// Records that `epoch` starts at `start_offset`. The latest epoch again is a no-op;
    /// entries it contradicts (a later or equal epoch, or one starting at or after it)
    /// are dropped, as Kafka's cache does.
    pub fn assign(&mut self, epoch: i32, start_offset: i64) {
        if epoch < 0 {
            return;
        }
        if let Some(last) = self.entries.last() {
            if last.epoch == epoch && last.start_offset <= start_offset {
                return;
            }
        }
        self.entries
            .retain(|e| e.epoch < epoch && e.start_offset < start_offset);
        self.entries.push(EpochEntry {
            epoch,
            start_offset,
        });
        self.dirty = true;
    }

    /// Kafka's `endOffsetFor`: the largest epoch at or below `requested` that this log
    /// has, and the offset where it ends (the next epoch's start, or `log_end_offset`
    /// for the latest). `(UNDEFINED, -1)` when `requested` is above every epoch here or
    /// undefined.
    pub fn end_offset_for(&self, requested: i32, log_end_offset: i64) -> (i32, i64) {
        if requested < 0 {
            return (UNDEFINED, -1);
        }
        if self.latest_epoch() == Some(requested) {
            return (requested, log_end_offset);
        }
        let higher = self.entries.iter().find(|e| e.epoch > requested);
        let Some(higher) = higher else {
            return (UNDEFINED, -1);
        };
        match self.entries.iter().rev().find(|e| e.epoch <= requested) {
            Some(floor) => (floor.epoch, higher.start_offset),
            None => (requested, higher.start_offset),
        }
    }

    /// The log started over: no epoch is left.
    pub fn clear(&mut self) {
        self.dirty |= !self.entries.is_empty();
        self.entries.clear();
    }

    /// The log was cut at `end_offset`: epochs starting at or after it go.
    pub fn truncate_from_end(&mut self, end_offset: i64) {
        let before = self.entries.len();
        self.entries.retain(|e| e.start_offset < end_offset);
        self.dirty |= self.entries.len() != before;
    }

    /// The log now starts at `start_offset`: epochs wholly before it go, the one that
    /// holds it starts there.
    pub fn truncate_from_start(&mut self, start_offset: i64) {
        let holding = self
            .entries
            .iter()
            .rposition(|e| e.start_offset <= start_offset);
        if let Some(i) = holding {
            if i > 0 || self.entries[i].start_offset != start_offset {
                self.entries.drain(..i);
                self.entries[0].start_offset = start_offset;
                self.dirty = true;
            }
        }
    }

    /// The checkpoint to write (path and content) if the cache changed since the last
    /// one: written by the caller with [`super::write_atomically`], off its arbiter.
    pub fn checkpoint_due(&mut self, dir: &Path) -> Option<(PathBuf, String)> {
        if !self.dirty {
            return None;
        }
        self.dirty = false;
        let mut text = format!("0\n{}\n", self.entries.len());
        for e in &self.entries {
            text.push_str(&format!("{} {}\n", e.epoch, e.start_offset));
        }
        Some((dir.join(CHECKPOINT_FILE), text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(entries: &[(i32, i64)]) -> EpochCache {
        let mut c = EpochCache::default();
        for &(e, o) in entries {
            c.assign(e, o);
        }
        c
    }

    #[test]
    fn end_offsets_follow_kafkas_rules() {
        let c = cache(&[(1, 0), (3, 10), (5, 20)]);
        assert_eq!(
            c.end_offset_for(5, 30),
            (5, 30),
            "the latest ends at the log end"
        );
        assert_eq!(c.end_offset_for(3, 30), (3, 20));
        assert_eq!(
            c.end_offset_for(4, 30),
            (3, 20),
            "an epoch between: the floor's"
        );
        assert_eq!(
            c.end_offset_for(0, 30),
            (0, 0),
            "below the first: its start"
        );
        assert_eq!(
            c.end_offset_for(6, 30),
            (UNDEFINED, -1),
            "above every epoch"
        );
        assert_eq!(c.end_offset_for(-1, 30), (UNDEFINED, -1));
    }

    #[test]
    fn assign_drops_what_it_contradicts_and_truncation_cuts_both_ends() {
        let mut c = cache(&[(1, 0), (3, 10), (5, 20)]);
        c.assign(5, 25);
        assert_eq!(
            c.latest_epoch(),
            Some(5),
            "the latest again changes nothing"
        );
        assert_eq!(c.entries().last().map(|e| e.start_offset), Some(20));
        c.assign(4, 15);
        assert_eq!(
            c.entries(),
            &[
                EpochEntry {
                    epoch: 1,
                    start_offset: 0
                },
                EpochEntry {
                    epoch: 3,
                    start_offset: 10
                },
                EpochEntry {
                    epoch: 4,
                    start_offset: 15
                }
            ]
        );
        c.truncate_from_end(15);
        assert_eq!(c.latest_epoch(), Some(3));
        c.truncate_from_start(12);
        assert_eq!(
            c.entries(),
            &[EpochEntry {
                epoch: 3,
                start_offset: 12
            }]
        );
    }

    #[test]
    fn the_high_watermark_checkpoint_round_trips() {
        let dir = tempfile::tempdir().expect("tmp");
        assert_eq!(read_high_watermark(dir.path()), None);
        let (path, text) = high_watermark_checkpoint(dir.path(), "my-topic-3", 42);
        assert_eq!(text, "0\n1\nmy-topic 3 42\n");
        std::fs::write(path, text).expect("write");
        assert_eq!(read_high_watermark(dir.path()), Some(42));
    }

    #[test]
    fn the_checkpoint_round_trips_and_a_bad_one_is_an_error() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut c = cache(&[(0, 0), (2, 7)]);
        let (path, text) = c.checkpoint_due(dir.path()).expect("dirty");
        assert!(c.checkpoint_due(dir.path()).is_none(), "written once");
        std::fs::write(&path, text).expect("write");
        let back = EpochCache::load(dir.path()).expect("load");
        assert_eq!(back.entries(), c.entries());
        std::fs::write(&path, "0\n99999999999\n").expect("write");
        assert!(EpochCache::load(dir.path()).is_err());
        std::fs::write(&path, "0\n2\n1 x\n").expect("write");
        assert!(EpochCache::load(dir.path()).is_err());
    }
}
