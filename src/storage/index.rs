//! The two sparse indexes of a segment: [`OffsetIndex`] and [`TimeIndex`].
//!
//! Both are Kafka's own formats, so Kafka's `kafka-dump-log` reads them, and both are
//! memory-mapped [`MappedFile`]s that only ever grow at the end.

use std::path::Path;
use std::sync::Arc;

use super::error::{Error, Result};
use super::mmap::MappedFile;

fn be_i32(b: &[u8]) -> i32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    i32::from_be_bytes(a)
}

fn be_i64(b: &[u8]) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    i64::from_be_bytes(a)
}

/// An index file of `E` entries: a memory-mapped [`MappedFile`] of fixed-size entries
/// that only grows at the end, with the segment's base offset its entries are relative
/// to. [`OffsetIndex`] and [`TimeIndex`] are its two kinds.
#[derive(Debug)]
pub(crate) struct IndexFile<E> {
    file: Arc<MappedFile>,
    base_offset: i64,
    kind: std::marker::PhantomData<E>,
}

/// What an index's entries are: their size, how one reads, and what a lookup below the
/// first entry answers.
pub(crate) trait IndexEntry {
    const SIZE: usize;
    /// An entry, decoded with the segment's base offset.
    type Value: Copy;
    fn decode(base_offset: i64, bytes: &[u8]) -> Self::Value;
    /// The entry's key, which lookups search: its offset or its timestamp.
    fn key(value: &Self::Value) -> i64;
    /// What a lookup below every entry answers.
    fn before_first(base_offset: i64) -> Self::Value;
}

impl<E: IndexEntry> IndexFile<E> {
    /// Opens (or creates empty) the index at `path`, preallocated to `capacity` (rounded
    /// down to whole entries).
    pub(crate) fn open(path: &Path, base_offset: i64, capacity: usize) -> Result<Self> {
        let capacity = capacity / E::SIZE * E::SIZE;
        Ok(Self::from_file(
            MappedFile::open(path, capacity)?,
            base_offset,
        ))
    }

    /// An index over an already created, empty file. The index keeps the mapping,
    /// not the descriptor.
    pub(crate) fn from_file(mut file: MappedFile, base_offset: i64) -> Self {
        file.release_descriptor();
        Self {
            file: Arc::new(file),
            base_offset,
            kind: std::marker::PhantomData,
        }
    }

    pub(crate) fn file(&self) -> &Arc<MappedFile> {
        &self.file
    }

    pub(crate) fn entries(&self) -> usize {
        self.file.len() / E::SIZE
    }

    /// Entry `i`.
    pub(crate) fn entry(&self, i: usize) -> E::Value {
        E::decode(
            self.base_offset,
            &self.file.contents()[i * E::SIZE..(i + 1) * E::SIZE],
        )
    }

    pub(crate) fn last_entry(&self) -> Option<E::Value> {
        self.entries().checked_sub(1).map(|i| self.entry(i))
    }

    pub(crate) fn is_full(&self) -> bool {
        self.file.remaining() < E::SIZE
    }

    /// How many leading entries satisfy `pred`, for a `pred` true on a prefix of the
    /// entries and false after it (a binary search, like `slice::partition_point`).
    pub(crate) fn partition_point(&self, pred: impl Fn(&E::Value) -> bool) -> usize {
        let (mut lo, mut hi) = (0usize, self.entries());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if pred(&self.entry(mid)) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// The last entry whose key is <= `target`, or [`IndexEntry::before_first`].
    pub(crate) fn lookup(&self, target: i64) -> E::Value {
        match self.partition_point(|e| E::key(e) <= target).checked_sub(1) {
            Some(i) => self.entry(i),
            None => E::before_first(self.base_offset),
        }
    }

    /// The offset `offset` relative to the base offset, if it fits the entry's int32.
    fn relative(&self, offset: i64) -> Option<i32> {
        i32::try_from(offset.saturating_sub(self.base_offset)).ok()
    }

    /// The number of leading entries that are well formed, by `ok(previous, entry)`.
    fn valid_prefix_by(&self, ok: impl Fn(Option<E::Value>, E::Value) -> bool) -> usize {
        let mut prev = None;
        for i in 0..self.entries() {
            let e = self.entry(i);
            if !ok(prev, e) {
                return i;
            }
            prev = Some(e);
        }
        self.entries()
    }

    /// Keeps the first `n` entries.
    pub(crate) fn truncate_entries(&mut self, n: usize) -> Result<()> {
        let path = self.file.path().to_path_buf();
        Arc::get_mut(&mut self.file)
            .ok_or(Error::Corrupt {
                path,
                reason: "index is shared while being recovered".into(),
            })?
            .cut(n * E::SIZE)
    }

    fn corrupt(&self, reason: &str) -> Error {
        Error::Corrupt {
            path: self.file.path().to_path_buf(),
            reason: reason.into(),
        }
    }
}

/// The offset index (`<base offset>.index`): maps offsets to positions in the `.log`.
///
/// # Format
///
/// A sequence of 8-byte entries, big-endian, no header:
///
/// ```text
/// relativeOffset  int32   last offset of the indexed batch - segment base offset
/// position        int32   byte position of that batch in the .log file
/// ```
///
/// Entries are strictly increasing in both fields.
///
/// # Sparseness
///
/// An entry is added for a batch once more than `index.interval.bytes` of log were
/// written since the previous entry (Kafka's rule), so the index is about
/// 8 bytes per 4 KiB of log by default. [`OffsetIndex::lookup`] returns the last entry
/// at or below the target; the reader walks batch headers forward from its position,
/// at most about one interval.
///
/// # Preallocation and trimming
///
/// The active segment's index file is created at `segment.index.bytes` (rounded down
/// to whole entries) of zeros, sparse, and mapped; a full index rolls the segment.
/// When the segment rolls and at clean shutdown the file is trimmed to its entries.
///
/// # After a crash
///
/// The file may still be preallocated: the entries are the longest prefix that is
/// strictly increasing and points inside the log; trailing zeros end it. Recovery
/// keeps entries up to the last one whose batch checks out and rebuilds the rest from
/// the log; an index that is missing or fails these checks is rebuilt from its segment.
pub(crate) type OffsetIndex = IndexFile<OffsetEntry>;

/// An offset-index entry: (absolute offset, position in the `.log`).
#[derive(Debug)]
pub(crate) struct OffsetEntry;

/// Bytes per offset-index entry.
pub(crate) const OFFSET_ENTRY_SIZE: usize = 8;

impl IndexEntry for OffsetEntry {
    const SIZE: usize = OFFSET_ENTRY_SIZE;
    type Value = (i64, u32);

    fn decode(base_offset: i64, b: &[u8]) -> (i64, u32) {
        (
            base_offset.saturating_add(i64::from(be_i32(b))),
            be_i32(&b[4..]) as u32,
        )
    }

    fn key(value: &(i64, u32)) -> i64 {
        value.0
    }

    fn before_first(base_offset: i64) -> (i64, u32) {
        (base_offset, 0)
    }
}

impl IndexFile<OffsetEntry> {
    /// Appends an entry for the batch whose last offset is `offset` at `position`.
    pub(crate) fn append(&self, offset: i64, position: u32) -> Result<()> {
        let relative = self
            .relative(offset)
            .ok_or_else(|| self.corrupt("relative offset overflows"))?;
        let mut entry = [0u8; OFFSET_ENTRY_SIZE];
        entry[..4].copy_from_slice(&relative.to_be_bytes());
        entry[4..].copy_from_slice(&position.to_be_bytes());
        match self.file.append(&entry, |_| Ok::<(), Error>(()))? {
            Some(_) => Ok(()),
            None => Err(self.corrupt("offset index is full")),
        }
    }

    /// The number of leading entries that are well formed: strictly increasing and
    /// pointing before `log_len`.
    pub(crate) fn valid_prefix(&self, log_len: usize) -> usize {
        let base = self.base_offset;
        self.valid_prefix_by(|prev, (offset, position)| {
            offset >= base
                && (position as usize) < log_len
                && prev.is_none_or(|(po, pp)| offset > po && position > pp)
        })
    }

    /// Whether the file holds exactly well-formed entries.
    pub(crate) fn is_sane(&self, log_len: usize) -> bool {
        self.file.len() % OFFSET_ENTRY_SIZE == 0 && self.valid_prefix(log_len) == self.entries()
    }
}

/// The time index (`<base offset>.timeindex`): maps timestamps to offsets.
///
/// # Format
///
/// A sequence of 12-byte entries, big-endian, no header:
///
/// ```text
/// timestamp       int64   the largest batch maxTimestamp in the segment so far
/// relativeOffset  int32   last offset of the batch that first reached it - base offset
/// ```
///
/// Timestamps are strictly increasing, offsets non-decreasing.
///
/// # Sparseness
///
/// At each offset-index entry, an entry is added if the segment's largest timestamp
/// grew since the last one (Kafka's `maybeAppend`), and once more when the segment
/// rolls or the log closes, so the last entry holds the segment's largest timestamp.
/// [`TimeIndex::lookup`] returns the last entry at or below a timestamp; every batch
/// before its offset has a smaller max timestamp, so a search may start there.
///
/// # Preallocation and trimming, after a crash
///
/// As for [`OffsetIndex`]: preallocated to `segment.index.bytes` (whole entries),
/// trimmed at roll and clean shutdown; after a crash the entries are the well-formed
/// prefix, cut back to those the recovered offset index vouches for, or rebuilt.
pub(crate) type TimeIndex = IndexFile<TimeEntry>;

/// A time-index entry: (timestamp, absolute offset).
#[derive(Debug)]
pub(crate) struct TimeEntry;

/// Bytes per time-index entry.
pub(crate) const TIME_ENTRY_SIZE: usize = 12;

impl IndexEntry for TimeEntry {
    const SIZE: usize = TIME_ENTRY_SIZE;
    type Value = (i64, i64);

    fn decode(base_offset: i64, b: &[u8]) -> (i64, i64) {
        (
            be_i64(b),
            base_offset.saturating_add(i64::from(be_i32(&b[8..]))),
        )
    }

    fn key(value: &(i64, i64)) -> i64 {
        value.0
    }

    fn before_first(base_offset: i64) -> (i64, i64) {
        (-1, base_offset)
    }
}

impl IndexFile<TimeEntry> {
    /// Appends (timestamp, offset) if the timestamp is larger than the last entry's.
    pub(crate) fn maybe_append(&self, timestamp: i64, offset: i64) -> Result<()> {
        if let Some((last_ts, last_offset)) = self.last_entry() {
            if timestamp <= last_ts || offset < last_offset {
                return Ok(());
            }
        }
        let Some(relative) = self.relative(offset) else {
            return Ok(());
        };
        let mut entry = [0u8; TIME_ENTRY_SIZE];
        entry[..8].copy_from_slice(&timestamp.to_be_bytes());
        entry[8..].copy_from_slice(&relative.to_be_bytes());
        // A full time index only loses sparseness; the log rolls on `is_full` anyway.
        self.file.append(&entry, |_| Ok::<(), Error>(()))?;
        Ok(())
    }

    /// The number of leading entries that are well formed.
    pub(crate) fn valid_prefix(&self) -> usize {
        let base = self.base_offset;
        self.valid_prefix_by(|prev, (ts, offset)| {
            offset >= base && prev.is_none_or(|(pt, po)| ts > pt && offset >= po)
        })
    }

    pub(crate) fn is_sane(&self) -> bool {
        self.file.len() % TIME_ENTRY_SIZE == 0 && self.valid_prefix() == self.entries()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_index_lookup_finds_the_last_entry_at_or_below() {
        let dir = tempfile::tempdir().unwrap();
        let idx = OffsetIndex::open(&dir.path().join("0.index"), 100, 1024).unwrap();
        assert_eq!(idx.lookup(150), (100, 0));
        idx.append(110, 4000).unwrap();
        idx.append(120, 8000).unwrap();
        assert_eq!(idx.lookup(105), (100, 0));
        assert_eq!(idx.lookup(110), (110, 4000));
        assert_eq!(idx.lookup(119), (110, 4000));
        assert_eq!(idx.lookup(500), (120, 8000));
        assert!(idx.is_sane(10_000));
        assert!(!idx.is_sane(8000), "a position past the log is corrupt");
    }

    #[test]
    fn preallocated_zeros_end_the_valid_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.index");
        {
            let idx = OffsetIndex::open(&path, 0, 80).unwrap();
            idx.append(5, 100).unwrap();
            idx.append(9, 200).unwrap();
        }
        let idx = OffsetIndex::open(&path, 0, 80).unwrap();
        assert_eq!(idx.entries(), 10, "the file is preallocated");
        assert_eq!(idx.valid_prefix(1000), 2);
        assert!(!idx.is_sane(1000));
    }

    #[test]
    fn offset_index_reports_full() {
        let dir = tempfile::tempdir().unwrap();
        let idx = OffsetIndex::open(&dir.path().join("0.index"), 0, 17).unwrap();
        idx.append(1, 10).unwrap();
        assert!(!idx.is_full());
        idx.append(2, 20).unwrap();
        assert!(idx.is_full());
        assert!(idx.append(3, 30).is_err());
    }

    #[test]
    fn time_index_appends_only_growing_timestamps_and_looks_up_floor() {
        let dir = tempfile::tempdir().unwrap();
        let idx = TimeIndex::open(&dir.path().join("0.timeindex"), 0, 1200).unwrap();
        idx.maybe_append(1000, 3).unwrap();
        idx.maybe_append(1000, 5).unwrap();
        idx.maybe_append(900, 6).unwrap();
        idx.maybe_append(2000, 9).unwrap();
        assert_eq!(idx.entries(), 2);
        assert_eq!(idx.lookup(999), (-1, 0));
        assert_eq!(idx.lookup(1500), (1000, 3));
        assert_eq!(idx.lookup(2000), (2000, 9));
        assert!(idx.is_sane());
    }
}
