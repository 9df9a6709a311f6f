//! [`TxnIndex`]: the aborted-transaction index of one segment (Kafka's
//! `TransactionIndex`), which read_committed fetches use to tell a consumer which
//! producers' batches to drop.
//!
//! # The `.txnindex` format
//!
//! `<base offset, 20 digits>.txnindex` next to the segment's `.log`. Kafka's layout, so
//! Kafka's tools read it: 34-byte big-endian entries back to back, no header.
//!
//! ```text
//! version int16 (0) | producerId int64 | firstOffset int64 | lastOffset int64 |
//! lastStableOffset int64
//! ```
//!
//! One entry per aborted transaction, written to the segment that holds its abort
//! marker (`lastOffset` is the marker's offset; `firstOffset` is the transaction's first
//! batch on this partition, possibly in an earlier segment). Entries are in marker
//! order. The file is not preallocated: a preallocated zero entry could not be told
//! from a real one.
//!
//! # After a crash
//!
//! An entry is added in memory when its marker is appended (reads see it at once); the
//! log's next flush writes and syncs it, off the owner's thread (a roll starts one at
//! once, and so does a clean shutdown). A torn last entry (a length not a multiple of 34) is ignored on load and
//! overwritten by the next append. An entry lost altogether (the marker reached the log,
//! the entry did not) is re-added when the producer state is rebuilt, because the
//! rebuild replays every batch after the newest producer snapshot, and the partition
//! writes a snapshot only once what it covers (entries included) is flushed. An entry
//! whose marker a recovery cuts off is dropped with it.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::error::{io_err, Result};
use super::flush::SyncItem;

/// Bytes of one entry.
pub const ENTRY_SIZE: usize = 34;
const VERSION: i16 = 0;

/// One aborted transaction of one producer on this partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTxn {
    pub producer_id: i64,
    /// The offset of the transaction's first batch.
    pub first_offset: i64,
    /// The offset of its abort marker.
    pub last_offset: i64,
    /// The partition's last stable offset once this transaction ended.
    pub last_stable_offset: i64,
}

/// Opens an index file for writing, creating it if missing.
pub(crate) fn open_for_append(path: &Path) -> Result<File> {
    File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(io_err("open txn index", path))
}

impl AbortedTxn {
    fn encode(&self) -> [u8; ENTRY_SIZE] {
        let mut out = [0u8; ENTRY_SIZE];
        out[0..2].copy_from_slice(&VERSION.to_be_bytes());
        out[2..10].copy_from_slice(&self.producer_id.to_be_bytes());
        out[10..18].copy_from_slice(&self.first_offset.to_be_bytes());
        out[18..26].copy_from_slice(&self.last_offset.to_be_bytes());
        out[26..34].copy_from_slice(&self.last_stable_offset.to_be_bytes());
        out
    }

    /// `None` for an entry of a version this code does not know.
    fn decode(entry: &[u8; ENTRY_SIZE]) -> Option<Self> {
        let i64_at = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&entry[at..at + 8]);
            i64::from_be_bytes(b)
        };
        (i16::from_be_bytes([entry[0], entry[1]]) == VERSION).then(|| AbortedTxn {
            producer_id: i64_at(2),
            first_offset: i64_at(10),
            last_offset: i64_at(18),
            last_stable_offset: i64_at(26),
        })
    }
}

/// The aborted transactions of one segment: all of them in memory (they are few: one
/// per aborted transaction), and the file they are appended to. No descriptor is held
/// (as in Kafka, whose `TransactionIndex` opens its channel lazily): a write opens the
/// file, so a broker with many partitions spends no descriptor per segment on it.
#[derive(Debug)]
pub(crate) struct TxnIndex {
    path: PathBuf,
    entries: Vec<AbortedTxn>,
}

impl TxnIndex {
    /// The file of the segment at `base_offset` in `dir`.
    pub(crate) fn path(dir: &Path, base_offset: i64) -> PathBuf {
        dir.join(super::segment::file_name(base_offset, "txnindex"))
    }

    /// Creates an empty index (an existing file is emptied: it belonged to a segment
    /// that no longer exists). Blocking: off the owner's thread, with the segment.
    pub(crate) fn create(path: PathBuf) -> Result<Self> {
        File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .map_err(io_err("create txn index", &path))?;
        Ok(Self {
            path,
            entries: Vec::new(),
        })
    }

    /// An index over an empty file already created (a prepared segment's).
    pub(crate) fn empty(path: PathBuf) -> Self {
        Self {
            path,
            entries: Vec::new(),
        }
    }

    /// Loads the entries of an existing file (none if it is missing). A torn last entry
    /// and anything after an unknown version are ignored, and cut off when `writable`
    /// (the file created if missing).
    pub(crate) fn open(path: PathBuf, writable: bool) -> Result<Self> {
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(source) => return Err(io_err("read txn index", &path)(source)),
        };
        let mut entries = Vec::with_capacity(bytes.len() / ENTRY_SIZE);
        for chunk in bytes.chunks_exact(ENTRY_SIZE) {
            let mut entry = [0u8; ENTRY_SIZE];
            entry.copy_from_slice(chunk);
            match AbortedTxn::decode(&entry) {
                Some(e) => entries.push(e),
                None => break,
            }
        }
        let index = Self { path, entries };
        let whole = (index.entries.len() * ENTRY_SIZE) as u64;
        if writable && whole != bytes.len() as u64 {
            tracing::warn!(path = %index.path.display(), "cutting a torn txn index tail");
            open_for_append(&index.path)?
                .set_len(whole)
                .map_err(io_err("cut txn index", &index.path))?;
        }
        Ok(index)
    }

    pub(crate) fn entries(&self) -> &[AbortedTxn] {
        &self.entries
    }

    pub(crate) fn file_path(&self) -> &Path {
        &self.path
    }

    /// Adds an entry in memory and returns the write that puts it in the file, for the
    /// log's flush to do off the owner's thread (no file I/O here). An entry whose write
    /// a crash loses is re-added when the producer state is rebuilt (module docs).
    pub(crate) fn push(&mut self, txn: AbortedTxn) -> SyncItem {
        let at = (self.entries.len() * ENTRY_SIZE) as u64;
        self.entries.push(txn);
        SyncItem::TxnEntry {
            path: self.path.clone(),
            at,
            bytes: txn.encode(),
        }
    }

    /// Appends an entry to memory and to the file now (blocking: a cleaner's or a
    /// recovery's write); [`TxnIndex::sync`] makes the writes durable.
    pub(crate) fn append(&mut self, txn: AbortedTxn) -> Result<()> {
        let at = (self.entries.len() * ENTRY_SIZE) as u64;
        open_for_append(&self.path)?
            .write_all_at(&txn.encode(), at)
            .map_err(io_err("append to txn index", &self.path))?;
        self.entries.push(txn);
        Ok(())
    }

    /// fsyncs the file (the writes of every descriptor it was opened with).
    pub(crate) fn sync(&self) -> Result<()> {
        open_for_append(&self.path)?
            .sync_all()
            .map_err(io_err("sync txn index", &self.path))
    }

    /// Keeps only the entries whose marker is below `offset` (a truncation of the
    /// segment), in memory and in the file.
    pub(crate) fn truncate_to(&mut self, offset: i64) -> Result<()> {
        let keep = self.entries.partition_point(|e| e.last_offset < offset);
        if keep == self.entries.len() {
            return Ok(());
        }
        self.entries.truncate(keep);
        let file = File::options()
            .write(true)
            .open(&self.path)
            .map_err(io_err("open txn index", &self.path))?;
        file.set_len((keep * ENTRY_SIZE) as u64)
            .map_err(io_err("truncate txn index", &self.path))?;
        file.sync_all()
            .map_err(io_err("sync txn index", &self.path))
    }

    /// Kafka's `TransactionIndex.collectAbortedTxns`: adds the entries that overlap
    /// `[fetch_offset, upper_bound_offset)` to `out`. Returns whether the search is
    /// complete: an entry's last stable offset reached the bound, so no transaction in
    /// a later segment can have started below it.
    pub(crate) fn collect(
        &self,
        fetch_offset: i64,
        upper_bound_offset: i64,
        out: &mut Vec<AbortedTxn>,
    ) -> bool {
        for e in &self.entries {
            if e.last_offset >= fetch_offset && e.first_offset < upper_bound_offset {
                out.push(*e);
            }
            if e.last_stable_offset >= upper_bound_offset {
                return true;
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn txn(pid: i64, first: i64, last: i64) -> AbortedTxn {
        AbortedTxn {
            producer_id: pid,
            first_offset: first,
            last_offset: last,
            last_stable_offset: last + 1,
        }
    }

    #[test]
    fn entries_are_kafkas_34_byte_layout_and_survive_a_reopen() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = TxnIndex::path(dir.path(), 100);
        assert!(path
            .to_string_lossy()
            .ends_with("00000000000000000100.txnindex"));
        let mut index = TxnIndex::create(path.clone()).expect("create");
        index.append(txn(7, 100, 105)).expect("append");
        index.append(txn(8, 101, 110)).expect("append");
        let bytes = std::fs::read(&path).expect("read");
        assert_eq!(bytes.len(), 2 * ENTRY_SIZE);
        assert_eq!(&bytes[0..2], &[0, 0], "version 0");
        assert_eq!(&bytes[2..10], &7i64.to_be_bytes());
        assert_eq!(&bytes[10..18], &100i64.to_be_bytes());
        assert_eq!(&bytes[18..26], &105i64.to_be_bytes());
        assert_eq!(&bytes[26..34], &106i64.to_be_bytes());
        let reopened = TxnIndex::open(path, false).expect("open");
        assert_eq!(reopened.entries(), &[txn(7, 100, 105), txn(8, 101, 110)]);
    }

    #[test]
    fn a_torn_tail_is_ignored_and_cut_and_the_next_append_follows_the_whole_entries() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = TxnIndex::path(dir.path(), 0);
        let mut index = TxnIndex::create(path.clone()).expect("create");
        index.append(txn(1, 0, 3)).expect("append");
        drop(index);
        let mut bytes = std::fs::read(&path).expect("read");
        bytes.extend_from_slice(&txn(2, 4, 9).encode()[..20]);
        std::fs::write(&path, &bytes).expect("write");
        assert_eq!(
            TxnIndex::open(path.clone(), false).expect("open").entries(),
            &[txn(1, 0, 3)]
        );
        let mut index = TxnIndex::open(path.clone(), true).expect("open");
        assert_eq!(
            std::fs::metadata(&path).expect("meta").len(),
            ENTRY_SIZE as u64
        );
        index.append(txn(3, 10, 12)).expect("append");
        let reopened = TxnIndex::open(path, false).expect("open");
        assert_eq!(reopened.entries(), &[txn(1, 0, 3), txn(3, 10, 12)]);
    }

    #[test]
    fn a_missing_file_is_an_empty_index() {
        let dir = tempfile::tempdir().expect("tmp");
        let index = TxnIndex::open(TxnIndex::path(dir.path(), 0), false).expect("open");
        assert!(index.entries().is_empty());
    }

    #[test]
    fn collect_returns_the_entries_overlapping_the_range() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut index = TxnIndex::create(TxnIndex::path(dir.path(), 0)).expect("create");
        for t in [txn(1, 0, 5), txn(2, 3, 20), txn(3, 21, 30)] {
            index.append(t).expect("append");
        }
        let mut out = Vec::new();
        assert!(
            index.collect(6, 21, &mut out),
            "complete: producer 2's entry has LSO 21"
        );
        assert_eq!(out, vec![txn(2, 3, 20)], "ended before 6 / starts at 21");
        out.clear();
        assert!(index.collect(5, 22, &mut out));
        assert_eq!(out.len(), 3);
        out.clear();
        assert!(!index.collect(0, 100, &mut out), "no LSO reaches 100");
    }

    #[test]
    fn truncation_drops_entries_whose_marker_is_cut() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = TxnIndex::path(dir.path(), 0);
        let mut index = TxnIndex::create(path.clone()).expect("create");
        index.append(txn(1, 0, 5)).expect("append");
        index.append(txn(2, 6, 9)).expect("append");
        index.truncate_to(9).expect("truncate");
        assert_eq!(index.entries(), &[txn(1, 0, 5)]);
        assert_eq!(
            TxnIndex::open(path, false).expect("open").entries(),
            &[txn(1, 0, 5)]
        );
    }
}
