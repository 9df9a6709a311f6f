//! [`LogSegment`]: one `.log` file, memory-mapped, with its offset and time indexes.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use super::config::LogConfig;
use super::error::{Error, Result};
use super::flush::SyncItem;
use super::index::{OffsetIndex, TimeIndex};
use super::log::TimestampOffset;
use super::mmap::MappedFile;
use super::txn_index::TxnIndex;
use crate::protocol::records::compression::MAX_DECOMPRESSED_BATCH;
use crate::protocol::records::{self, BatchIter, RecordBatch};

/// The file name of a segment file: the base offset in 20 digits and the extension.
pub(crate) fn file_name(base_offset: i64, extension: &str) -> String {
    format!("{base_offset:020}.{extension}")
}

/// How far ahead of the write position the active `.log` file's blocks are allocated.
const ALLOCATE_AHEAD_BYTES: usize = 4 * 1024 * 1024;

/// One segment: `<base offset>.log`, `.index`, `.timeindex` and `.txnindex` (the
/// aborted transactions whose markers it holds; format on [`TxnIndex`]).
///
/// # The `.log` format
///
/// RecordBatch v2 bytes back to back, exactly as received except for the base offset
/// (assigned on append) and, for LogAppendTime topics, the stamped maxTimestamp and
/// CRC; see [`crate::protocol::records`]. No header, no framing of Aeon's own, so
/// Kafka's tools read the files.
///
/// # Preallocation and trimming
///
/// The active segment is created at `segment.bytes` of zeros (sparse) and mapped
/// whole; appends copy into the mapping. A batch that does not fit rolls the segment.
/// At roll and at clean shutdown the file is trimmed to the end of its last batch, so
/// an inactive segment's file length is its size.
///
/// # After a crash
///
/// The active file may be longer than its data: the preallocated zeros after the last
/// batch read as a batch length of 0, which is not a batch, so they end the data.
/// Recovery (see [`super::recovery`]) walks the last segment from its last sound index
/// entry, checks each batch's length, magic and CRC-32C, cuts the file at the first bad
/// byte (back to zeros up to the preallocated size) and rebuilds the indexes to match.
///
/// # Compacted segments
///
/// The log cleaner replaces rolled segments with rewritten ones in the same format,
/// whose batches keep their offsets, so offsets in a segment may have gaps; the files
/// pass through `.cleaned` and `.swap` names first (see `super::cleaner::swap`).
#[derive(Debug)]
pub(crate) struct LogSegment {
    pub(super) base_offset: i64,
    pub(super) log: Arc<MappedFile>,
    pub(super) offset_index: OffsetIndex,
    pub(super) time_index: TimeIndex,
    pub(super) txn_index: TxnIndex,
    /// The offset after the last batch.
    pub(super) next_offset: i64,
    pub(super) bytes_since_last_index_entry: usize,
    pub(super) max_timestamp_so_far: i64,
    pub(super) offset_of_max_timestamp_so_far: i64,
    /// The first batch's max timestamp, which `segment.ms` counts from (as Kafka).
    pub(super) rolling_based_timestamp: Option<i64>,
    /// Creation (or, for an opened segment, modification) time, for segments without
    /// timestamps.
    pub(super) created_ms: i64,
    pub(super) index_interval_bytes: usize,
}

/// Where and how a batch was appended to a segment.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SegmentAppend {
    pub(crate) position: usize,
    pub(crate) end: usize,
}

impl LogSegment {
    pub(crate) fn paths(dir: &Path, base_offset: i64) -> [PathBuf; 3] {
        [
            dir.join(file_name(base_offset, "log")),
            dir.join(file_name(base_offset, "index")),
            dir.join(file_name(base_offset, "timeindex")),
        ]
    }

    /// Creates a new, empty, preallocated active segment.
    pub(crate) fn create(
        dir: &Path,
        base_offset: i64,
        config: &LogConfig,
        now_ms: i64,
    ) -> Result<Self> {
        Self::create_at(
            &Self::paths(dir, base_offset),
            TxnIndex::path(dir, base_offset),
            base_offset,
            config.segment_bytes as usize,
            config,
            now_ms,
        )
    }

    /// Creates an empty segment in the given files (`.log`, `.index`, `.timeindex`
    /// paths and the `.txnindex` one, which may carry a suffix such as the cleaner's
    /// `.cleaned`), its log preallocated to `log_capacity`.
    pub(crate) fn create_at(
        paths: &[PathBuf; 3],
        txn_path: PathBuf,
        base_offset: i64,
        log_capacity: usize,
        config: &LogConfig,
        now_ms: i64,
    ) -> Result<Self> {
        let [log_path, index_path, time_path] = paths;
        let log = MappedFile::create(log_path, log_capacity)?;
        let mut offset_index =
            OffsetIndex::open(index_path, base_offset, config.segment_index_bytes as usize)?;
        let mut time_index =
            TimeIndex::open(time_path, base_offset, config.segment_index_bytes as usize)?;
        // Index files left over without their log would otherwise resurface.
        offset_index.truncate_entries(0)?;
        time_index.truncate_entries(0)?;
        let txn_index = TxnIndex::create(txn_path)?;
        Ok(Self::assemble(
            base_offset,
            log,
            offset_index,
            time_index,
            txn_index,
            now_ms,
            config,
        ))
    }

    /// Opens the files of an existing segment without validating them; the active one
    /// is extended to `segment.bytes` again. [`LogSegment::load`] validates.
    pub(crate) fn open(
        dir: &Path,
        base_offset: i64,
        config: &LogConfig,
        active: bool,
    ) -> Result<Self> {
        let [log_path, index_path, time_path] = Self::paths(dir, base_offset);
        let (log_cap, index_cap) = if active {
            (
                config.segment_bytes as usize,
                config.segment_index_bytes as usize,
            )
        } else {
            (0, 0)
        };
        let log = MappedFile::open(&log_path, log_cap)?;
        let offset_index = OffsetIndex::open(&index_path, base_offset, index_cap)?;
        let time_index = TimeIndex::open(&time_path, base_offset, index_cap)?;
        // Only the active segment appends, so only its file stays open (created here,
        // off the owner's thread, for a log written before transactions existed).
        let txn_index = TxnIndex::open(TxnIndex::path(dir, base_offset), active)?;
        let modified_ms = std::fs::metadata(&log_path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_millis() as i64);
        Ok(Self::assemble(
            base_offset,
            log,
            offset_index,
            time_index,
            txn_index,
            modified_ms,
            config,
        ))
    }

    pub(super) fn assemble(
        base_offset: i64,
        log: MappedFile,
        offset_index: OffsetIndex,
        time_index: TimeIndex,
        txn_index: TxnIndex,
        created_ms: i64,
        config: &LogConfig,
    ) -> Self {
        log.set_allocate_ahead(ALLOCATE_AHEAD_BYTES);
        Self {
            base_offset,
            log: Arc::new(log),
            offset_index,
            time_index,
            txn_index,
            next_offset: base_offset,
            bytes_since_last_index_entry: 0,
            max_timestamp_so_far: records::NO_TIMESTAMP,
            offset_of_max_timestamp_so_far: base_offset,
            rolling_based_timestamp: None,
            created_ms,
            index_interval_bytes: config.index_interval_bytes as usize,
        }
    }

    pub(crate) fn base_offset(&self) -> i64 {
        self.base_offset
    }

    pub(crate) fn next_offset(&self) -> i64 {
        self.next_offset
    }

    /// A recovery point at this segment's committed end: valid once the segment's
    /// bytes and index files are synced.
    pub(crate) fn synced_point(&self) -> super::recovery::RecoveryPoint {
        super::recovery::RecoveryPoint {
            offset: self.base_offset,
            position: self.size() as u64,
            max_timestamp: self.max_timestamp_so_far,
            offset_of_max_timestamp: self.offset_of_max_timestamp_so_far,
        }
    }

    /// Bytes of batches in the `.log`.
    pub(crate) fn size(&self) -> usize {
        self.log.len()
    }

    pub(crate) fn log_file(&self) -> &Arc<MappedFile> {
        &self.log
    }

    /// Bytes still free in the preallocated file.
    pub(crate) fn remaining(&self) -> usize {
        self.log.remaining()
    }

    pub(crate) fn indexes_full(&self) -> bool {
        self.offset_index.is_full() || self.time_index.is_full()
    }

    /// Index bytes in use (entries, not preallocation).
    pub(crate) fn index_bytes(&self) -> usize {
        self.offset_index.file().len() + self.time_index.file().len()
    }

    /// The newest timestamp in the segment, or its file time when it has none.
    pub(crate) fn largest_timestamp(&self) -> i64 {
        if self.max_timestamp_so_far >= 0 {
            self.max_timestamp_so_far
        } else {
            self.created_ms
        }
    }

    /// (max timestamp, last offset of the batch that first reached it), if any.
    pub(crate) fn max_timestamp_and_offset(&self) -> Option<(i64, i64)> {
        (self.max_timestamp_so_far >= 0).then_some((
            self.max_timestamp_so_far,
            self.offset_of_max_timestamp_so_far,
        ))
    }

    /// How long this segment has been filling, as Kafka counts for `segment.ms`.
    pub(crate) fn time_waited_for_roll(&self, now_ms: i64, batch_max_timestamp: i64) -> i64 {
        match self.rolling_based_timestamp {
            Some(ts) if ts >= 0 => batch_max_timestamp.saturating_sub(ts),
            _ => now_ms.saturating_sub(self.created_ms).max(0),
        }
    }

    /// Whether offsets up to `last_offset` still fit the 4-byte relative offsets.
    pub(crate) fn can_hold_offset(&self, last_offset: i64) -> bool {
        last_offset
            .checked_sub(self.base_offset)
            .is_some_and(|d| (0..=i64::from(i32::MAX)).contains(&d))
    }

    /// Copies a validated batch in, assigns `offset` as its base offset, stamps the
    /// log-append time if given, and indexes it. `None` if it does not fit.
    pub(crate) fn append(
        &mut self,
        batch: &[u8],
        offset: i64,
        rewrite: records::MaxTimestampRewrite,
        leader_epoch: Option<i32>,
    ) -> Result<Option<SegmentAppend>> {
        // Disk blocks for the batch and for one entry in each index first: on a full
        // disk this fails with nothing written, and nothing below can fault.
        self.log.reserve(batch.len())?;
        self.offset_index
            .file()
            .reserve(super::index::OFFSET_ENTRY_SIZE)?;
        self.time_index
            .file()
            .reserve(super::index::TIME_ENTRY_SIZE)?;
        // The rewrite happens on a copy of the header, so the caller's bytes are copied
        // once, into the page cache, and never patched in place there.
        let mut header = [0u8; records::RECORD_BATCH_OVERHEAD];
        let (head, body) =
            batch
                .split_at_checked(header.len())
                .ok_or(records::RecordsError::Incomplete {
                    needed: header.len(),
                    available: batch.len(),
                })?;
        header.copy_from_slice(head);
        records::rewrite_header(&mut header, body, offset, rewrite)?;
        if let Some(epoch) = leader_epoch {
            // Outside the CRC, like the base offset.
            let at = records::PARTITION_LEADER_EPOCH_OFFSET;
            header[at..at + 4].copy_from_slice(&epoch.to_be_bytes());
        }
        let Some(position) = self.log.append_with_head(batch, &header)? else {
            return Ok(None);
        };
        let end = position + batch.len();
        // From the caller's bytes, not the mapping: touching a page written by pwrite
        // through the mapping would cost a page fault.
        let input = RecordBatch::parse(batch)?;
        let last = offset.saturating_add(i64::from(input.last_offset_delta()));
        self.track(position, batch.len(), last, rewrite.max_timestamp(&input))?;
        Ok(Some(SegmentAppend { position, end }))
    }

    /// Index bookkeeping for a batch at `position` (Kafka's `LogSegment.append`).
    pub(super) fn track(
        &mut self,
        position: usize,
        size: usize,
        last_offset: i64,
        max_timestamp: i64,
    ) -> Result<()> {
        if max_timestamp > self.max_timestamp_so_far {
            self.max_timestamp_so_far = max_timestamp;
            self.offset_of_max_timestamp_so_far = last_offset;
        }
        if self.rolling_based_timestamp.is_none() {
            self.rolling_based_timestamp = Some(max_timestamp);
        }
        if self.bytes_since_last_index_entry > self.index_interval_bytes
            && !self.offset_index.is_full()
        {
            self.offset_index.append(last_offset, position as u32)?;
            self.time_index.maybe_append(
                self.max_timestamp_so_far,
                self.offset_of_max_timestamp_so_far,
            )?;
            self.bytes_since_last_index_entry = 0;
        }
        self.bytes_since_last_index_entry += size;
        self.next_offset = last_offset.saturating_add(1);
        Ok(())
    }

    /// The position of the first batch whose last offset is >= `offset`.
    pub(crate) fn find_batch(&self, offset: i64) -> Option<usize> {
        let (_, start) = self.offset_index.lookup(offset);
        let data = self.log.contents();
        let mut position = start as usize;
        for batch in BatchIter::new(data.get(position..)?) {
            if batch.last_offset() >= offset {
                return Some(position);
            }
            position += batch.total_size();
        }
        None
    }

    /// Whole batches from the one holding `offset`, up to `max_bytes` but at least
    /// one; `None` if no batch here reaches `offset`.
    pub(crate) fn read(&self, offset: i64, max_bytes: usize) -> Option<Bytes> {
        let start = self.find_batch(offset)?;
        let data = self.log.contents();
        let mut end = start;
        for batch in BatchIter::new(&data[start..]) {
            let size = batch.total_size();
            if end > start && end - start + size > max_bytes {
                break;
            }
            end += size;
        }
        Some(self.log.slice(start, end))
    }

    /// The first record at or after `starting_offset` whose timestamp is >= `ts`
    /// (Kafka's `LogSegment.findOffsetByTimestamp`): the time index leads to the first
    /// batch that may hold it, then records are read batch by batch.
    pub(crate) fn find_offset_by_timestamp(
        &self,
        ts: i64,
        starting_offset: i64,
    ) -> Result<Option<TimestampOffset>> {
        let (_, from_offset) = self.time_index.lookup(ts);
        let (_, start) = self.offset_index.lookup(from_offset.max(starting_offset));
        let data = self.log.contents();
        let Some(batches) = data.get(start as usize..) else {
            return Ok(None);
        };
        for batch in BatchIter::new(batches) {
            if batch.max_timestamp() < ts || batch.last_offset() < starting_offset {
                continue;
            }
            if let Some(r) =
                batch.first_record_at_or_after(ts, starting_offset, MAX_DECOMPRESSED_BATCH)?
            {
                return Ok(Some(TimestampOffset {
                    timestamp: r.timestamp,
                    offset: r.offset,
                }));
            }
        }
        Ok(None)
    }

    /// The first record holding `max_timestamp`, searched from the batch holding
    /// `offset` (the segment's offset of its max timestamp so far): Kafka's
    /// `MAX_TIMESTAMP` lookup.
    pub(crate) fn offset_of_max_timestamp(
        &self,
        max_timestamp: i64,
        offset: i64,
    ) -> Result<Option<TimestampOffset>> {
        let (_, start) = self.offset_index.lookup(offset);
        let data = self.log.contents();
        let Some(batches) = data.get(start as usize..) else {
            return Ok(None);
        };
        let Some(batch) = BatchIter::new(batches).find(|b| b.max_timestamp() == max_timestamp)
        else {
            return Ok(None);
        };
        Ok(batch
            .offset_of_max_timestamp(MAX_DECOMPRESSED_BATCH)?
            .map(|offset| TimestampOffset {
                timestamp: max_timestamp,
                offset,
            }))
    }

    /// Makes the segment inactive: a last time-index entry, and no more appends.
    /// Returns the syncs that trim the three files to their content and make the new
    /// lengths durable.
    pub(crate) fn seal(&mut self) -> Result<[SyncItem; 3]> {
        self.write_final_time_entry()?;
        // The three trims are done by the syncs returned (a roll's flush runs them on
        // the blocking pool); until then only the length of the files is too long.
        self.log.seal();
        self.offset_index.file().seal();
        self.time_index.file().seal();
        Ok([
            SyncItem::File(Arc::clone(&self.log)),
            SyncItem::File(Arc::clone(self.offset_index.file())),
            SyncItem::File(Arc::clone(self.time_index.file())),
        ])
    }

    pub(crate) fn write_final_time_entry(&self) -> Result<()> {
        if self.max_timestamp_so_far >= 0 {
            self.time_index.maybe_append(
                self.max_timestamp_so_far,
                self.offset_of_max_timestamp_so_far,
            )?;
        }
        Ok(())
    }

    /// Renames the segment's files (the `.txnindex` too) to `*.deleted`, Kafka's mark
    /// for files to delete asynchronously. Returns the new paths.
    pub(crate) fn rename_for_delete(&self, dir: &Path) -> Result<Vec<PathBuf>> {
        let mut renamed = Vec::with_capacity(4);
        let [log, index, time] = Self::paths(dir, self.base_offset);
        for path in [log, index, time, TxnIndex::path(dir, self.base_offset)] {
            let mut to = path.clone().into_os_string();
            to.push(".deleted");
            let to = PathBuf::from(to);
            match std::fs::rename(&path, &to) {
                Ok(()) => renamed.push(to),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(Error::Io {
                        op: "rename for deletion",
                        path,
                        source,
                    })
                }
            }
        }
        Ok(renamed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::log::tests::{batch, small_config, T0};

    fn segment_with(dir: &Path, batches: usize) -> (LogSegment, Vec<(i64, usize)>) {
        let config = LogConfig {
            index_interval_bytes: 300,
            ..small_config()
        };
        let mut segment = LogSegment::create(dir, 100, &config, T0).unwrap();
        let mut at = Vec::new();
        let mut offset = 100;
        for i in 0..batches {
            let b = batch(1 + i % 2, 100, T0 + i as i64);
            let Some(appended) = segment
                .append(&b, offset, records::MaxTimestampRewrite::Keep, None)
                .unwrap()
            else {
                break;
            };
            at.push((offset, appended.position));
            offset = segment.next_offset();
        }
        (segment, at)
    }

    #[test]
    fn sparse_index_entries_lead_reads_to_the_batch_holding_each_offset() {
        let dir = tempfile::tempdir().unwrap();
        let (segment, at) = segment_with(dir.path(), 20);
        assert!(
            segment.offset_index.entries() >= 3,
            "an entry about every 300 bytes"
        );
        assert!(segment.offset_index.entries() < at.len());
        for (i, &(base, position)) in at.iter().enumerate() {
            let last = at.get(i + 1).map_or(segment.next_offset(), |n| n.0) - 1;
            for offset in base..=last {
                assert_eq!(
                    segment.find_batch(offset),
                    Some(position),
                    "offset {offset}"
                );
            }
        }
        assert_eq!(segment.find_batch(segment.next_offset()), None);
    }

    #[test]
    fn append_that_does_not_fit_returns_none_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (mut segment, _) = segment_with(dir.path(), 1000);
        let (size, next) = (segment.size(), segment.next_offset());
        assert!(segment
            .append(
                &batch(1, 100, T0),
                next,
                records::MaxTimestampRewrite::Keep,
                None
            )
            .unwrap()
            .is_none());
        assert_eq!((segment.size(), segment.next_offset()), (size, next));
    }

    #[test]
    fn seal_refuses_appends_and_its_syncs_trim_all_three_files() {
        let dir = tempfile::tempdir().unwrap();
        let (mut segment, _) = segment_with(dir.path(), 10);
        let [log, index, time] = LogSegment::paths(dir.path(), 100);
        let len = |p: &Path| std::fs::metadata(p).unwrap().len() as usize;
        let syncs = segment.seal().unwrap();
        // Sealing makes no system call; the syncs it returns trim (off the writer).
        assert!(len(&log) > segment.size(), "not trimmed yet");
        for item in syncs {
            item.sync().unwrap();
        }
        assert_eq!(len(&log), segment.size());
        assert_eq!(len(&index), segment.offset_index.entries() * 8);
        assert_eq!(len(&time), segment.time_index.entries() * 12);
        assert_eq!(
            segment.time_index.last_entry().map(|e| e.0),
            Some(T0 + 9),
            "final entry"
        );
        let next = segment.next_offset();
        assert!(segment
            .append(
                &batch(1, 1, T0),
                next,
                records::MaxTimestampRewrite::Keep,
                None
            )
            .unwrap()
            .is_none());
    }

    #[test]
    fn find_offset_by_timestamp_uses_the_time_index_and_walks_to_the_first_match() {
        let dir = tempfile::tempdir().unwrap();
        let (segment, at) = segment_with(dir.path(), 20);
        for (i, &(base, _)) in at.iter().enumerate() {
            assert_eq!(
                segment
                    .find_offset_by_timestamp(T0 + i as i64, 0)
                    .unwrap()
                    .map(|f| (f.offset, f.timestamp)),
                Some((base, T0 + i as i64))
            );
        }
        assert_eq!(segment.find_offset_by_timestamp(T0 + 100, 0).unwrap(), None);
        let (third, _) = at[3];
        assert_eq!(
            segment
                .find_offset_by_timestamp(T0, third)
                .unwrap()
                .map(|f| (f.offset, f.timestamp)),
            Some((third, T0 + 3))
        );
    }
}
