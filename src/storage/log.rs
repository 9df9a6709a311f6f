//! [`Log`]: the ordered segments of one partition; opening, append, roll, flush and
//! clean shutdown here; reads and timestamp lookups in `log/read.rs`, retention and
//! DeleteRecords in `log/retention.rs`, transactions' side in `log/txn.rs`, the
//! cleaner's side in `log/compaction.rs`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use super::config::LogConfig;
use super::epochs::EpochCache;
use super::error::{io_err, Error, Result};
use super::flush::{FlushHandle, SyncItem};
use super::prepare::PreparedSegment;
use super::recovery::{self, LogOpenStats, RecoveryPoint};
use super::segment::LogSegment;
use crate::protocol::records::compression::MAX_DECOMPRESSED_BATCH;
use crate::protocol::records::{MaxTimestampRewrite, RecordBatch, TimestampType, NO_TIMESTAMP};

/// Kafka's roll jitter: a random part of `segment.jitter.ms` (less than `segment.ms`).
fn roll_jitter_ms(config: &LogConfig) -> i64 {
    let jitter = config.segment_jitter_ms.min(config.segment_ms);
    if jitter == 0 {
        return 0;
    }
    let random = uuid::Uuid::new_v4().as_u128() as u64;
    clamp_i64(random % jitter)
}

/// A CreateTime batch keeps its header's max timestamp unless the header says none (-1)
/// or less than its base timestamp, which some producers send while stamping only the
/// records: then the records' largest timestamp is written, as Kafka's `LogValidator`
/// does. Well-formed headers are trusted, so an ordinary append reads no record.
fn create_time_rewrite(header: &RecordBatch<'_>) -> Result<MaxTimestampRewrite> {
    if header.max_timestamp() != NO_TIMESTAMP && header.max_timestamp() >= header.base_timestamp() {
        return Ok(MaxTimestampRewrite::Keep);
    }
    Ok(header
        .records_max_timestamp(MAX_DECOMPRESSED_BATCH)?
        .filter(|&ts| ts != header.max_timestamp())
        .map_or(MaxTimestampRewrite::Keep, MaxTimestampRewrite::CreateTime))
}

/// A config value in milliseconds or bytes as i64, saturating (u64::MAX is "never").
fn clamp_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}
mod compaction;
mod read;
mod retention;
mod txn;
pub use compaction::CleanableStats;
pub use retention::{delete_segments, RemovedSegment};

/// What an append did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    /// The offset assigned to the batch's first record.
    pub base_offset: i64,
    /// The offset of its last record.
    pub last_offset: i64,
    /// The time stamped on a LogAppendTime topic, -1 on a CreateTime one (as Kafka's
    /// produce response has it).
    pub log_append_time_ms: i64,
}

/// A timestamp and the offset it was found at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampOffset {
    pub timestamp: i64,
    pub offset: i64,
}

/// The log of one partition: segments ordered by base offset, the last one active.
///
/// Single writer: `&mut self` appends, rolls and removes; `&self` reads. Reads return
/// `Bytes` that share the segment mapping, valid after the log moves on or drops.
#[derive(Debug)]
pub struct Log {
    pub(super) dir: PathBuf,
    pub(super) config: LogConfig,
    pub(super) segments: Vec<LogSegment>,
    pub(super) log_start_offset: i64,
    pub(super) flush: FlushHandle,
    last_flush_ms: i64,
    open_stats: LogOpenStats,
    pub(super) prepared: Option<PreparedSegment>,
    /// Whether a roll without a prepared segment creates the files itself (blocking)
    /// or refuses with [`Error::SegmentNotPrepared`].
    pub(super) create_segments_inline: bool,
    leader_epoch: Option<i32>,
    /// This active segment's share of `segment.jitter.ms`, drawn when it started.
    roll_jitter_ms: i64,
    cleaner: compaction::CleanerState,
    /// Where the oldest open transaction starts (set by the producer state's owner):
    /// the cleaner stops before it.
    first_unstable_offset: Option<i64>,
    /// The recovery point last noted for a flush ([`Log::note_recovery_point`]).
    noted_recovery_point: Option<RecoveryPoint>,
    /// Where each leader epoch starts (`leader-epoch-checkpoint`).
    pub(super) epochs: EpochCache,
}

impl Drop for Log {
    fn drop(&mut self) {
        self.cleaner.cancel();
    }
}

impl Log {
    /// The directory of a partition's log: `<data_dir>/<topic>-<partition>`.
    pub fn partition_dir(data_dir: &Path, topic: &str, partition: i32) -> PathBuf {
        data_dir.join(format!("{topic}-{partition}"))
    }

    /// Opens (or creates) the log in `dir`; see [`super::recovery`] for what a crash
    /// costs. `now_ms` is the wall clock, used for new segments.
    pub fn open(dir: impl Into<PathBuf>, config: LogConfig, now_ms: i64) -> Result<Self> {
        let dir = dir.into();
        // A cleaning of this directory by a previous owner finishes its swap first.
        super::cleaner::wait_until_idle(&dir);
        let loaded = recovery::load_log(&dir, &config, now_ms)?;
        let end = loaded
            .segments
            .last()
            .map_or(loaded.log_start_offset, LogSegment::next_offset);
        // After a clean shutdown everything was synced. After a crash the recovered
        // bytes may sit only in the page cache (a killed process) or be on disk (a power
        // loss): the recovery point stays at the first segment until the next flush
        // syncs every file, as Kafka does not trust unflushed segments either.
        let flush = if loaded.stats.recovered {
            let start = loaded.segments.first().map_or(end, LogSegment::base_offset);
            let mut pending: Vec<SyncItem> = loaded
                .segments
                .iter()
                .map(|s| SyncItem::File(std::sync::Arc::clone(s.log_file())))
                .collect();
            pending.push(SyncItem::Dir(dir.clone()));
            // Once those are synced, a later crash need not recover them again.
            if let Some(active) = loaded.segments.last() {
                pending.push(SyncItem::RecoveryPoint {
                    dir: dir.clone(),
                    point: RecoveryPoint::segment_start(active.base_offset()),
                });
            }
            FlushHandle::new(start, end, pending)
        } else {
            FlushHandle::new(end, end, Vec::new())
        };
        let checkpoint = super::cleaner::CleanerCheckpoint::read(&dir);
        // Epochs past what recovery kept describe batches that are gone.
        let mut epochs = EpochCache::load(&dir)?;
        epochs.truncate_from_end(end);
        epochs.truncate_from_start(loaded.log_start_offset);
        let jitter = roll_jitter_ms(&config);
        // After a clean shutdown the point on disk is the active segment's end: nothing
        // to sync for it until the next append.
        let noted_recovery_point = if loaded.stats.recovered {
            None
        } else {
            loaded.segments.last().map(LogSegment::synced_point)
        };
        Ok(Self {
            dir,
            config,
            segments: loaded.segments,
            log_start_offset: loaded.log_start_offset,
            flush,
            last_flush_ms: now_ms,
            open_stats: loaded.stats,
            prepared: None,
            create_segments_inline: true,
            leader_epoch: None,
            roll_jitter_ms: jitter,
            cleaner: compaction::CleanerState {
                checkpoint,
                in_flight: None,
            },
            first_unstable_offset: None,
            noted_recovery_point,
            epochs,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn config(&self) -> &LogConfig {
        &self.config
    }

    /// Applies changed topic configs live. Sizes and times take effect from the next
    /// append, roll or retention check; the active segment keeps the size it was
    /// preallocated with until it rolls.
    pub fn set_config(&mut self, config: LogConfig) {
        self.config = config;
    }

    /// What [`Log::open`] did (recovery, bytes scanned).
    pub fn open_stats(&self) -> &LogOpenStats {
        &self.open_stats
    }

    pub(super) fn active(&self) -> &LogSegment {
        &self.segments[self.segments.len() - 1]
    }

    fn active_mut(&mut self) -> &mut LogSegment {
        let last = self.segments.len() - 1;
        &mut self.segments[last]
    }

    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset
    }

    /// The offset the next append gets.
    pub fn log_end_offset(&self) -> i64 {
        self.active().next_offset()
    }

    /// On a single node every appended offset is committed: the log end offset.
    pub fn high_watermark(&self) -> i64 {
        self.log_end_offset()
    }

    /// Every offset below this is on disk (Kafka's recovery point).
    pub fn recovery_point(&self) -> i64 {
        self.flush.flushed_offset()
    }

    /// Bytes of batches in all segments.
    pub fn size_bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.size() as u64).sum()
    }

    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// Base offsets of the segments, oldest first.
    pub fn segment_base_offsets(&self) -> Vec<i64> {
        self.segments.iter().map(LogSegment::base_offset).collect()
    }

    /// Bytes of index entries in all segments (what the indexes occupy once paged in).
    pub fn index_bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.index_bytes() as u64).sum()
    }

    /// Stamps `epoch` as the partitionLeaderEpoch of every batch appended from now on,
    /// as a Kafka leader does (by default batches keep the producer's value, -1).
    /// The epoch starts at the log end offset in the epoch cache. A follower stops
    /// stamping with `None`: it keeps the leader's batches as they are.
    pub fn set_partition_leader_epoch(&mut self, epoch: Option<i32>) {
        self.leader_epoch = epoch;
        if let Some(epoch) = epoch {
            let end = self.log_end_offset();
            self.epochs.assign(epoch, end);
        }
    }

    /// The leader-epoch cache.
    pub fn epochs(&self) -> &EpochCache {
        &self.epochs
    }

    /// Kafka's `endOffsetFor` on this log (OffsetForLeaderEpoch).
    pub fn end_offset_for_epoch(&self, epoch: i32) -> (i32, i64) {
        self.epochs.end_offset_for(epoch, self.log_end_offset())
    }

    /// The epoch checkpoint to write off the owner's thread, if the epochs changed.
    pub fn epoch_checkpoint_due(&mut self) -> Option<(PathBuf, String)> {
        self.epochs.checkpoint_due(&self.dir)
    }

    /// A handle that flushes this log from any thread (group commit).
    pub fn flush_handle(&self) -> FlushHandle {
        self.flush.clone()
    }

    /// Appends one validated batch: assigns offsets from the log end offset by
    /// rewriting its base offset, stamps `now_ms` on a LogAppendTime topic (fixing the
    /// CRC), copies it into the active segment (rolling first if needed) and indexes it.
    /// The owner asks [`Log::flush_due`] afterwards, for `flush.messages` / `flush.ms`.
    pub fn append(&mut self, batch: &[u8], now_ms: i64) -> Result<AppendInfo> {
        let header = Self::one_batch(batch)?;
        let size = batch.len();
        for (limit, setting) in [
            (self.config.max_message_bytes as usize, "max.message.bytes"),
            (self.config.segment_bytes as usize, "segment.bytes"),
        ] {
            if size > limit {
                return Err(Error::BatchTooLarge {
                    size,
                    limit,
                    setting,
                });
            }
        }
        let delta = i64::from(header.last_offset_delta());
        let base_offset = self.log_end_offset();
        let last_offset = base_offset
            .checked_add(delta)
            .ok_or(Error::OffsetOutOfRange {
                offset: base_offset,
                log_start_offset: self.log_start_offset,
                log_end_offset: base_offset,
            })?;
        let log_append_time =
            (self.config.message_timestamp_type == TimestampType::LogAppendTime).then_some(now_ms);
        let rewrite = match log_append_time {
            Some(ts) => MaxTimestampRewrite::LogAppendTime(ts),
            None => create_time_rewrite(&header)?,
        };
        let max_timestamp = rewrite.max_timestamp(&header);
        if log_append_time.is_none() {
            self.check_timestamps(&header, max_timestamp, now_ms)?;
        }
        let leader_epoch = self.leader_epoch;
        self.write(
            batch,
            base_offset,
            last_offset,
            max_timestamp,
            rewrite,
            leader_epoch,
            now_ms,
        )?;
        Ok(AppendInfo {
            base_offset,
            last_offset,
            log_append_time_ms: log_append_time.unwrap_or(NO_TIMESTAMP),
        })
    }

    /// A follower's append: one batch of its leader's, kept as it is (offsets,
    /// timestamps, leader epoch, CRC), which must start at the log end offset. A batch
    /// of a newer leader epoch starts that epoch in the epoch cache.
    pub fn append_replica(&mut self, batch: &[u8], now_ms: i64) -> Result<AppendInfo> {
        let header = Self::one_batch(batch)?;
        let base_offset = header.base_offset();
        let end = self.log_end_offset();
        if base_offset != end {
            return Err(Error::OffsetOutOfRange {
                offset: base_offset,
                log_start_offset: self.log_start_offset,
                log_end_offset: end,
            });
        }
        let last_offset = header.last_offset();
        let epoch = header.partition_leader_epoch();
        self.write(
            batch,
            base_offset,
            last_offset,
            header.max_timestamp(),
            MaxTimestampRewrite::Keep,
            None,
            now_ms,
        )?;
        if epoch >= 0
            && self
                .epochs
                .latest_epoch()
                .is_none_or(|latest| epoch > latest)
        {
            self.epochs.assign(epoch, base_offset);
        }
        Ok(AppendInfo {
            base_offset,
            last_offset,
            log_append_time_ms: NO_TIMESTAMP,
        })
    }

    /// `batch` parsed, checked to be exactly one batch with a valid header.
    fn one_batch(batch: &[u8]) -> Result<RecordBatch<'_>> {
        let header = RecordBatch::parse(batch)?;
        if header.total_size() != batch.len() {
            return Err(Error::NotOneBatch {
                expected: header.total_size(),
                actual: batch.len(),
            });
        }
        header.validate_header()?;
        Ok(header)
    }

    /// Copies a checked batch into the active segment (rolling first when due) and
    /// notes it for the flusher.
    #[allow(clippy::too_many_arguments)]
    fn write(
        &mut self,
        batch: &[u8],
        base_offset: i64,
        last_offset: i64,
        max_timestamp: i64,
        rewrite: MaxTimestampRewrite,
        leader_epoch: Option<i32>,
        now_ms: i64,
    ) -> Result<()> {
        let size = batch.len();
        if self.should_roll(size, max_timestamp, last_offset, now_ms) {
            self.roll(now_ms)?;
        }
        let appended = self
            .active_mut()
            .append(batch, base_offset, rewrite, leader_epoch)?
            .ok_or(Error::BatchTooLarge {
                size,
                limit: self.active().remaining(),
                setting: "segment.bytes",
            })?;
        let end_offset = last_offset.saturating_add(1);
        self.flush.note_append(
            self.active().log_file(),
            appended.position,
            appended.end,
            end_offset,
        );
        Ok(())
    }

    /// Kafka's check of CreateTime timestamps against the broker's clock
    /// (`message.timestamp.after.max.ms`, `message.timestamp.before.max.ms`): the
    /// batch's max timestamp bounds the future; the past is checked record by record
    /// only when a limit is set (by default none is). One far-future timestamp would
    /// otherwise hold back time retention of every later segment.
    fn check_timestamps(
        &self,
        header: &RecordBatch<'_>,
        max_timestamp: i64,
        now_ms: i64,
    ) -> Result<()> {
        let low = self
            .config
            .timestamp_before_max_ms
            .map_or(i64::MIN, |ms| now_ms.saturating_sub(clamp_i64(ms)));
        let high = self
            .config
            .timestamp_after_max_ms
            .map_or(i64::MAX, |ms| now_ms.saturating_add(clamp_i64(ms)));
        if max_timestamp > high {
            return Err(Error::InvalidTimestamp {
                timestamp: max_timestamp,
                low,
                high,
            });
        }
        if self.config.timestamp_before_max_ms.is_some() {
            if let Some(min) = header.records_min_timestamp(MAX_DECOMPRESSED_BATCH)? {
                if min < low {
                    return Err(Error::InvalidTimestamp {
                        timestamp: min,
                        low,
                        high,
                    });
                }
            }
        }
        Ok(())
    }

    /// Kafka's `shouldRoll`: the batch does not fit, the segment is older than
    /// `segment.ms` (less this segment's jitter), an index is full, or the offsets
    /// outgrow the relative offsets.
    fn should_roll(&self, size: usize, max_timestamp: i64, last_offset: i64, now_ms: i64) -> bool {
        let active = self.active();
        if active.size() == 0 {
            return false;
        }
        size > active.remaining()
            || active.time_waited_for_roll(now_ms, max_timestamp)
                > clamp_i64(self.config.segment_ms).saturating_sub(self.roll_jitter_ms)
            || active.indexes_full()
            || !active.can_hold_offset(last_offset)
    }

    /// Seals the active segment and starts a new one at the log end offset. Does
    /// nothing when the active segment is empty.
    pub fn roll(&mut self, now_ms: i64) -> Result<()> {
        if self.active().size() == 0 {
            return Ok(());
        }
        if self.prepared.is_none() && !self.create_segments_inline {
            return Err(Error::SegmentNotPrepared);
        }
        let base = self.log_end_offset();
        for item in self.active_mut().seal()? {
            self.flush.note(item);
        }
        let segment = match self.prepared.take() {
            Some(prepared) => prepared.install(&self.dir, base, &self.config, now_ms)?,
            None => LogSegment::create(&self.dir, base, &self.config, now_ms)?,
        };
        self.segments.push(segment);
        self.flush.note(SyncItem::Dir(self.dir.clone()));
        self.reset_recovery_point(base);
        self.roll_jitter_ms = roll_jitter_ms(&self.config);
        Ok(())
    }

    /// Flushes everything appended so far; returns the flushed offset.
    pub fn flush(&mut self) -> Result<i64> {
        self.flush.flush()
    }

    /// Whether `flush.messages` or `flush.ms` asks for a flush at `now_ms`: then the
    /// handle to flush with, off the owner's thread (the fsync blocks), and the flush
    /// counts as started now.
    pub fn flush_due(&mut self, now_ms: i64) -> Option<FlushHandle> {
        let unflushed = self.log_end_offset() - self.flush.flushed_offset();
        let by_count = self
            .config
            .flush_messages
            .is_some_and(|n| unflushed >= clamp_i64(n));
        let by_time = self
            .config
            .flush_ms
            .is_some_and(|ms| now_ms.saturating_sub(self.last_flush_ms) >= clamp_i64(ms));
        (unflushed > 0 && (by_count || by_time)).then(|| {
            self.last_flush_ms = now_ms;
            self.flush.clone()
        })
    }

    /// Clean shutdown: trims the active segment and its indexes to their content,
    /// flushes everything, and writes the marker that lets the next open skip recovery.
    pub fn close(mut self) -> Result<()> {
        self.cleaner.cancel();
        for item in self.active_mut().seal()? {
            self.flush.note(item);
        }
        self.flush.flush()?;
        recovery::write_recovery_point(&self.dir, self.active().synced_point())?;
        recovery::write_clean_shutdown(&self.dir, self.log_start_offset)
    }

    /// Notes, for the next flush, a recovery point at the start of the segment based at
    /// `base`, and forgets the last one noted.
    /// The log starts over: a cleaning in flight and the open transactions' start no
    /// longer apply.
    pub(super) fn forget_cleaning_and_transactions(&mut self) {
        self.cleaner.cancel();
        self.first_unstable_offset = None;
    }

    pub(super) fn reset_recovery_point(&mut self, base: i64) {
        self.flush.note(SyncItem::RecoveryPoint {
            dir: self.dir.clone(),
            point: RecoveryPoint::segment_start(base),
        });
        self.noted_recovery_point = None;
    }

    /// Notes, for the next flush, the active segment's index files and then a recovery
    /// point at its current end (after the bytes appended so far, already noted), so
    /// that once that flush is done a crash recovers only what comes later. False when
    /// the point would not move.
    pub fn note_recovery_point(&mut self) -> bool {
        let active = self.active();
        let point = active.synced_point();
        if point.position == 0 || self.noted_recovery_point == Some(point) {
            return false;
        }
        self.flush
            .note(SyncItem::File(Arc::clone(active.offset_index.file())));
        self.flush
            .note(SyncItem::File(Arc::clone(active.time_index.file())));
        self.flush.note(SyncItem::RecoveryPoint {
            dir: self.dir.clone(),
            point,
        });
        self.noted_recovery_point = Some(point);
        true
    }

    /// Drops the log and removes its directory with every file: for a deleted
    /// partition. Blocking; run it off the owner's thread.
    pub fn delete(self) -> Result<()> {
        let dir = self.dir.clone();
        drop(self);
        super::cleaner::wait_until_idle(&dir);
        std::fs::remove_dir_all(&dir).map_err(io_err("remove directory", &dir))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::protocol::records::{self, RecordBatchBuilder, RecordSpec};

    pub(crate) const T0: i64 = 1_700_000_000_000;

    /// A batch of `records` records with `value_len`-byte values at timestamp `ts`.
    pub(crate) fn batch(records: usize, value_len: usize, ts: i64) -> Vec<u8> {
        let mut b = RecordBatchBuilder::new(0, ts);
        for i in 0..records {
            let value = vec![(i % 251) as u8; value_len];
            b = b.record(RecordSpec::new(
                Some(format!("k{i}").as_bytes()),
                Some(&value),
            ));
        }
        b.build()
    }

    pub(crate) fn small_config() -> LogConfig {
        LogConfig {
            segment_bytes: 4096,
            segment_index_bytes: 1024,
            index_interval_bytes: 256,
            retention_ms: None,
            ..LogConfig::default()
        }
    }

    fn with_base(bytes: &[u8], base: i64) -> Vec<u8> {
        let mut v = bytes.to_vec();
        records::set_base_offset(&mut v, base).unwrap();
        v
    }

    #[test]
    fn append_assigns_consecutive_offsets_and_read_returns_the_stored_batch() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = Log::open(dir.path().join("t-0"), small_config(), T0).unwrap();
        let a = batch(3, 10, T0);
        let b = batch(2, 10, T0 + 1);
        let ia = log.append(&a, T0).unwrap();
        let ib = log.append(&b, T0).unwrap();
        assert_eq!(
            (ia.base_offset, ia.last_offset, ia.log_append_time_ms),
            (0, 2, -1)
        );
        assert_eq!((ib.base_offset, ib.last_offset), (3, 4));
        assert_eq!(log.log_end_offset(), 5);
        assert_eq!(log.high_watermark(), 5);
        assert_eq!(
            &log.read(1, 1).unwrap()[..],
            &a[..],
            "the batch containing offset 1, whole"
        );
        assert_eq!(&log.read(4, 1).unwrap()[..], &with_base(&b, 3)[..]);
        let both = log.read(0, 10_000).unwrap();
        assert_eq!(both.len(), a.len() + b.len());
        assert!(log.read(5, 100).unwrap().is_empty());
        assert!(matches!(
            log.read(6, 100),
            Err(Error::OffsetOutOfRange { offset: 6, .. })
        ));
        assert!(matches!(
            log.read(-1, 100),
            Err(Error::OffsetOutOfRange { .. })
        ));
    }

    #[test]
    fn read_returns_one_whole_batch_larger_than_max_bytes_and_never_splits() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = Log::open(dir.path(), small_config(), T0).unwrap();
        let big = batch(1, 500, T0);
        log.append(&big, T0).unwrap();
        log.append(&big, T0).unwrap();
        assert_eq!(log.read(0, 10).unwrap().len(), big.len());
        assert_eq!(log.read(0, big.len() * 2 - 1).unwrap().len(), big.len());
        assert_eq!(log.read(0, big.len() * 2).unwrap().len(), big.len() * 2);
    }

    #[test]
    fn read_slices_outlive_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = Log::open(dir.path(), small_config(), T0).unwrap();
        let a = batch(2, 30, T0);
        log.append(&a, T0).unwrap();
        let slice = log.read(0, 1000).unwrap();
        drop(log);
        assert_eq!(&slice[..], &a[..]);
    }

    #[test]
    fn segments_roll_when_full_and_use_kafka_file_names() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = Log::open(dir.path(), small_config(), T0).unwrap();
        let b = batch(1, 900, T0);
        for _ in 0..10 {
            log.append(&b, T0).unwrap();
        }
        assert!(log.segment_count() >= 3);
        // A roll's files are trimmed by its flush (a partition runs it in the
        // background at once).
        log.flush().unwrap();
        for base in log.segment_base_offsets() {
            for ext in ["log", "index", "timeindex"] {
                assert!(dir.path().join(format!("{base:020}.{ext}")).exists());
            }
        }
        let first = dir.path().join(format!("{:020}.log", 0));
        let size = std::fs::metadata(first).unwrap().len() as usize;
        assert_eq!(
            size % b.len(),
            0,
            "a rolled segment is trimmed to whole batches"
        );
        for offset in 0..10 {
            assert_eq!(
                &log.read(offset, 1).unwrap()[..],
                &with_base(&b, offset)[..]
            );
        }
        assert!(matches!(
            log.append(&batch(1, 5000, T0), T0),
            Err(Error::BatchTooLarge {
                setting: "segment.bytes",
                ..
            })
        ));
    }

    #[test]
    fn segment_ms_rolls_by_batch_timestamps() {
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig {
            segment_ms: 1000,
            ..small_config()
        };
        let mut log = Log::open(dir.path(), config, T0).unwrap();
        log.append(&batch(1, 1, T0), T0).unwrap();
        log.append(&batch(1, 1, T0 + 1000), T0).unwrap();
        assert_eq!(log.segment_count(), 1);
        log.append(&batch(1, 1, T0 + 1001), T0).unwrap();
        assert_eq!(log.segment_base_offsets(), vec![0, 2]);
    }

    #[test]
    fn log_append_time_topic_stamps_the_batch_and_keeps_the_crc_valid() {
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig {
            message_timestamp_type: TimestampType::LogAppendTime,
            ..small_config()
        };
        let mut log = Log::open(dir.path(), config, T0).unwrap();
        let info = log.append(&batch(2, 5, 123), T0 + 77).unwrap();
        assert_eq!(info.log_append_time_ms, T0 + 77);
        let bytes = log.read(0, 1000).unwrap();
        let stored = RecordBatch::parse(&bytes).unwrap();
        stored.verify_crc().unwrap();
        assert_eq!(stored.timestamp_type(), TimestampType::LogAppendTime);
        assert_eq!(stored.max_timestamp(), T0 + 77);
    }

    #[test]
    fn a_batch_whose_header_lacks_its_max_timestamp_gets_the_records_max() {
        use crate::protocol::records::{compression::compress_batch, Compression};
        let dir = tempfile::tempdir().unwrap();
        let mut log = Log::open(dir.path(), small_config(), T0).unwrap();
        for (i, codec) in [Compression::None, Compression::Zstd]
            .into_iter()
            .enumerate()
        {
            let mut b = RecordBatchBuilder::new(0, T0).max_timestamp(NO_TIMESTAMP);
            for ts in [T0 + 1000, T0 + 9000, T0 + 2000] {
                b = b.record(RecordSpec::new(None, Some(b"v")).timestamp(ts + i as i64 * 10_000));
            }
            log.append(&compress_batch(&b.build(), codec).unwrap(), T0)
                .unwrap();
        }
        let bytes = log.read(3, 1000).unwrap();
        let stored = RecordBatch::parse(&bytes).unwrap();
        stored.verify_crc().unwrap();
        assert_eq!(stored.max_timestamp(), T0 + 19_000);
        assert_eq!(stored.timestamp_type(), TimestampType::CreateTime);
        let max = log.max_timestamp().unwrap().unwrap();
        assert_eq!((max.offset, max.timestamp), (4, T0 + 19_000));
        let at = log.offset_for_timestamp(T0 + 1500).unwrap().unwrap();
        assert_eq!((at.offset, at.timestamp), (1, T0 + 9000));
        let at = log.offset_for_timestamp(T0 + 9500).unwrap().unwrap();
        assert_eq!((at.offset, at.timestamp), (3, T0 + 11_000));
    }

    #[test]
    fn each_segment_draws_its_roll_jitter_below_segment_jitter_ms() {
        let config = LogConfig {
            segment_ms: 10_000,
            segment_jitter_ms: 1000,
            ..small_config()
        };
        let draws: Vec<i64> = (0..64).map(|_| roll_jitter_ms(&config)).collect();
        assert!(draws.iter().all(|&j| (0..1000).contains(&j)), "{draws:?}");
        assert!(draws.iter().any(|&j| j != draws[0]), "random, not fixed");
        let none = LogConfig {
            segment_jitter_ms: 0,
            ..config
        };
        assert_eq!(roll_jitter_ms(&none), 0);
    }

    #[test]
    fn a_leader_stamps_its_epoch_outside_the_crc() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = Log::open(dir.path(), small_config(), T0).unwrap();
        log.append(&batch(1, 10, T0), T0).unwrap();
        log.set_partition_leader_epoch(Some(7));
        log.append(&batch(1, 10, T0), T0).unwrap();
        log.append(&batch(1, 100 * 1024, T0), T0).unwrap_err(); // too big for small_config
        let first = log.read(0, 1).unwrap();
        let second = log.read(1, 1).unwrap();
        assert_eq!(
            RecordBatch::parse(&first).unwrap().partition_leader_epoch(),
            -1
        );
        let second = RecordBatch::parse(&second).unwrap();
        assert_eq!(second.partition_leader_epoch(), 7);
        second.verify_crc().unwrap();
    }

    #[test]
    fn offset_for_timestamp_finds_the_first_record_reaching_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = Log::open(dir.path(), small_config(), T0).unwrap();
        // Timestamps 0, 10, 20, ... with one out-of-order batch; several segments.
        let mut bases = Vec::new();
        for i in 0..40i64 {
            let ts = if i == 17 { T0 + 5 } else { T0 + i * 10 };
            bases.push((log.append(&batch(2, 200, ts), T0).unwrap().base_offset, ts));
        }
        assert!(log.segment_count() > 2);
        for target in [T0 - 1, T0, T0 + 1, T0 + 95, T0 + 170, T0 + 171, T0 + 390] {
            let expected = bases.iter().find(|(_, ts)| *ts >= target).copied();
            let found = log.offset_for_timestamp(target).unwrap();
            assert_eq!(
                found.map(|f| (f.offset, f.timestamp)),
                expected,
                "target {target}"
            );
        }
        assert_eq!(log.offset_for_timestamp(T0 + 391).unwrap(), None);
        // The first record holding the max timestamp, not its batch's last offset.
        let max = log.max_timestamp().unwrap().unwrap();
        assert_eq!((max.timestamp, max.offset), (T0 + 390, 78));
    }

    #[test]
    fn clean_close_reopens_without_scanning_and_crash_reopen_scans_only_the_last_segment() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = Log::open(dir.path(), small_config(), T0).unwrap();
        let b = batch(3, 300, T0);
        for _ in 0..30 {
            log.append(&b, T0).unwrap();
        }
        let (end, segments) = (log.log_end_offset(), log.segment_count());
        let last_segment_size = std::fs::metadata(dir.path().join(format!(
            "{:020}.log",
            log.segment_base_offsets()[segments - 1]
        )))
        .unwrap()
        .len();
        assert_eq!(last_segment_size, 4096, "active segment is preallocated");
        log.close().unwrap();

        let log = Log::open(dir.path(), small_config(), T0).unwrap();
        let stats = log.open_stats().clone();
        assert!(!stats.recovered);
        assert_eq!(stats.scanned_bytes, 0);
        assert_eq!(stats.rebuilt_indexes, 0);
        assert!(stats.walked_bytes <= (segments * 2 * (256 + b.len())) as u64);
        assert_eq!((log.log_end_offset(), log.segment_count()), (end, segments));
        assert!(!dir.path().join(recovery::CLEAN_SHUTDOWN_FILE).exists());
        drop(log); // a crash: no marker

        let mut log = Log::open(dir.path(), small_config(), T0).unwrap();
        let stats = log.open_stats().clone();
        assert!(stats.recovered);
        assert!(stats.scanned_bytes > 0 && stats.scanned_bytes <= 4096);
        assert_eq!(log.log_end_offset(), end);
        for offset in (0..end).step_by(3) {
            assert_eq!(
                &log.read(offset, 1).unwrap()[..],
                &with_base(&b, offset)[..]
            );
        }
        log.append(&b, T0).unwrap();
        assert_eq!(log.log_end_offset(), end + 3);
    }

    #[test]
    fn flush_messages_makes_a_flush_due_and_concurrent_flushes_share_one_sync() {
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig {
            flush_messages: Some(4),
            ..small_config()
        };
        let mut log = Log::open(dir.path(), config, T0).unwrap();
        log.append(&batch(3, 1, T0), T0).unwrap();
        assert!(log.flush_due(T0).is_none());
        assert_eq!(log.recovery_point(), 0);
        log.append(&batch(1, 1, T0), T0).unwrap();
        let due = log.flush_due(T0).expect("four messages unflushed");
        std::thread::spawn(move || due.flush().unwrap())
            .join()
            .unwrap();
        assert_eq!(log.recovery_point(), 4);

        log.append(&batch(2, 1, T0), T0).unwrap();
        let handle = log.flush_handle();
        let rounds = handle.sync_rounds();
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let h = handle.clone();
                std::thread::spawn(move || h.flush_up_to(6).unwrap())
            })
            .collect();
        for t in threads {
            assert!(t.join().unwrap() >= 6);
        }
        assert_eq!(handle.sync_rounds(), rounds + 1, "eight waiters, one sync");
        assert_eq!(log.recovery_point(), 6);
    }

    #[test]
    fn appends_continue_while_another_thread_flushes() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = Log::open(dir.path(), small_config(), T0).unwrap();
        let handle = log.flush_handle();
        let flusher = std::thread::spawn(move || {
            let mut last = 0;
            while last < 200 {
                last = handle.flush_up_to(i64::MAX).unwrap();
                std::thread::yield_now();
            }
            handle.sync_rounds()
        });
        for _ in 0..200 {
            log.append(&batch(1, 100, T0), T0).unwrap();
        }
        let rounds = flusher.join().unwrap();
        assert!(rounds >= 1);
        assert_eq!(log.recovery_point(), 200);
    }

    #[test]
    fn large_batches_take_the_write_path_and_read_back_stamped_and_recoverable() {
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig {
            segment_bytes: 1 << 20,
            message_timestamp_type: TimestampType::LogAppendTime,
            ..small_config()
        };
        let mut log = Log::open(dir.path(), config.clone(), T0).unwrap();
        let mut expected = Vec::new();
        for i in 0..20 {
            let b = batch(1 + i % 3, if i % 2 == 0 { 100 * 1024 } else { 300 }, T0);
            assert_eq!(b.len() >= super::super::mmap::WRITE_SYSCALL_MIN, i % 2 == 0);
            let info = log.append(&b, T0 + i as i64).unwrap();
            let mut stored = b.clone();
            records::set_base_offset(&mut stored, info.base_offset).unwrap();
            records::set_log_append_time(&mut stored, T0 + i as i64).unwrap();
            expected.push((info.base_offset, stored));
        }
        assert!(log.segment_count() > 1);
        let check = |log: &Log| {
            for (base, stored) in &expected {
                let got = log.read(*base, 1).unwrap();
                assert_eq!(&got[..], &stored[..]);
                RecordBatch::parse(&got).unwrap().verify_crc().unwrap();
            }
        };
        check(&log);
        drop(log);
        let log = Log::open(dir.path(), config, T0).unwrap();
        assert!(log.open_stats().recovered);
        check(&log);
    }

    #[test]
    fn log_can_move_to_another_thread_and_flush_handles_and_reads_can_be_shared() {
        fn send<T: Send>() {}
        fn send_sync<T: Send + Sync>() {}
        send::<Log>();
        send_sync::<FlushHandle>();
        send_sync::<Bytes>();
        send_sync::<RemovedSegment>();
    }

    #[test]
    fn appending_garbage_is_a_typed_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = Log::open(dir.path(), small_config(), T0).unwrap();
        assert!(matches!(
            log.append(&[0u8; 10], T0),
            Err(Error::InvalidBatch(_))
        ));
        let mut two = batch(1, 1, T0);
        two.extend_from_slice(&batch(1, 1, T0));
        assert!(matches!(
            log.append(&two, T0),
            Err(Error::NotOneBatch { .. })
        ));
        assert_eq!(log.log_end_offset(), 0);
    }
}
