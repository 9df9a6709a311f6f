//! The two passes of a cleaning: map the dirty section's keys, then rewrite each group
//! of segments through the swap protocol.

use std::sync::Arc;

use super::offset_map::OffsetMap;
use super::swap::{self, SwapStep};
use super::{
    CleanedGroup, CleanedLog, CleanerCheckpoint, CleanerError, CleanerStats, CleaningJob, Throttler,
};
use crate::protocol::records::compression::{compress_batch, records_of};
use crate::protocol::records::{
    BatchIter, MaxTimestampRewrite, Record, RecordBatch, RecordBatchBuilder, RecordSpec,
    RecordsError, TimestampType,
};
use crate::storage::error::{Error, Result};
use crate::storage::mmap::MappedFile;
use crate::storage::recovery::LogOpenStats;
use crate::storage::segment::LogSegment;

/// The most a compressed records section may inflate to while cleaning.
const MAX_DECOMPRESSED_BYTES: usize = 256 * 1024 * 1024;

/// A rolled segment as the cleaner reads it: immutable once rolled.
#[derive(Debug, Clone)]
pub(crate) struct SegmentSource {
    pub(crate) base_offset: i64,
    /// The offset after its last batch.
    pub(crate) next_offset: i64,
    pub(crate) log: Arc<MappedFile>,
    /// Its `.txnindex` entries, which the cleaned segment replacing it carries on.
    pub(crate) aborted: Vec<crate::storage::txn_index::AbortedTxn>,
}

impl SegmentSource {
    pub(crate) fn size(&self) -> usize {
        self.log.len()
    }
}

/// What happens to one batch.
enum Filtered {
    /// Copied byte for byte.
    Keep,
    /// Nothing survives.
    Drop,
    /// Rewritten with the survivors (same base offset and last offset delta).
    Rewrite(Vec<u8>),
}

struct Pass<'a> {
    job: &'a CleaningJob,
    map: OffsetMap,
    throttler: Throttler,
    stats: CleanerStats,
    /// The earliest delete horizon of the tombstones kept.
    min_horizon: Option<i64>,
    /// Tests stop the swap protocol here.
    stop_after: Option<SwapStep>,
}

/// Whether `batch` is data of a transaction that was aborted: its producer's abort
/// marker closes a transaction that spans the batch.
fn in_aborted_txn(
    batch: &RecordBatch<'_>,
    aborted: &[crate::storage::txn_index::AbortedTxn],
) -> bool {
    batch.is_transactional()
        && aborted.iter().any(|t| {
            t.producer_id == batch.producer_id()
                && (t.first_offset..=t.last_offset).contains(&batch.base_offset())
        })
}

fn corrupt(source: &SegmentSource, e: RecordsError) -> Error {
    Error::Corrupt {
        path: source.log.path().to_path_buf(),
        reason: format!("while cleaning: {e}"),
    }
}

/// A rolled segment must be whole batches to its end: anything else is corruption, and
/// cleaning past it would silently drop the batches after it.
fn check_consumed(source: &SegmentSource, iter: &BatchIter<'_>) -> Result<()> {
    if iter.valid_bytes() == source.size() {
        return Ok(());
    }
    Err(Error::Corrupt {
        path: source.log.path().to_path_buf(),
        reason: format!(
            "while cleaning: no whole batch at position {} ({})",
            iter.valid_bytes(),
            iter.stop_reason()
                .map_or_else(|| "unknown".to_owned(), ToString::to_string)
        ),
    })
}

pub(super) fn run(job: CleaningJob) -> Result<CleanedLog, CleanerError> {
    run_with(job, None)
}

/// [`run`], stopping the swap protocol of the first group after `stop_after`.
pub(crate) fn run_with(
    job: CleaningJob,
    stop_after: Option<SwapStep>,
) -> Result<CleanedLog, CleanerError> {
    let mut pass = Pass {
        job: &job,
        map: OffsetMap::new(job.cleaner.dedupe_buffer_bytes),
        throttler: Throttler::new(job.cleaner.io_max_bytes_per_second),
        stats: CleanerStats {
            segments_before: job.segments.len(),
            ..CleanerStats::default()
        },
        min_horizon: None,
        stop_after,
    };
    let map_end = pass.build_map()?;
    let to_clean: Vec<SegmentSource> = job
        .segments
        .iter()
        .filter(|s| s.base_offset < map_end)
        .cloned()
        .collect();
    let mut groups = Vec::new();
    let mut failure = None;
    for group in group_by_size(&to_clean, job.config.segment_bytes as usize) {
        match pass.clean_group(group) {
            Ok(done) => groups.push(done),
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
        if pass.stop_after.is_some() {
            break;
        }
    }
    // Groups already swapped on disk must reach the log even if a later one failed.
    let failure = match failure {
        Some(e) if groups.is_empty() => return Err(e),
        other => other.map(|e| e.to_string()),
    };
    let mut stats = pass.stats;
    stats.keys_mapped = pass.map.len() as u64;
    stats.throttled_ms = pass.throttler.slept().as_millis() as u64;
    stats.segments_after = job.segments.len() - groups.iter().map(|g| g.old.len()).sum::<usize>()
        + groups.iter().filter(|g| g.new.is_some()).count();
    let checkpoint = (failure.is_none() && stop_after.is_none()).then_some(CleanerCheckpoint {
        first_dirty_offset: map_end,
        delete_horizon_ms: pass.min_horizon,
    });
    if let Some(checkpoint) = &checkpoint {
        checkpoint.write(&job.dir)?;
    }
    Ok(CleanedLog {
        token: job.token(),
        groups,
        checkpoint,
        stats,
        failure,
    })
}

/// Kafka's `groupSegmentsBySize`: consecutive segments whose sizes add up to at most
/// `max_bytes` and whose offsets fit one segment's 4-byte relative offsets.
fn group_by_size(segments: &[SegmentSource], max_bytes: usize) -> Vec<&[SegmentSource]> {
    let mut groups = Vec::new();
    let mut start = 0;
    while start < segments.len() {
        let mut end = start + 1;
        let mut size = segments[start].size();
        while let Some(next) = segments.get(end) {
            let span = next.next_offset - 1 - segments[start].base_offset;
            if size + next.size() > max_bytes || span > i64::from(i32::MAX) {
                break;
            }
            size += next.size();
            end += 1;
        }
        groups.push(&segments[start..end]);
        start = end;
    }
    groups
}

impl Pass<'_> {
    /// Pass one: maps the keys of the dirty segments, whole segments at a time, until
    /// the map is full. Returns the end of the mapped section (the next checkpoint).
    fn build_map(&mut self) -> Result<i64, CleanerError> {
        let job = self.job;
        let mut end = job.first_dirty_offset;
        for (i, source) in job.segments.iter().enumerate() {
            if source.base_offset < job.first_dirty_offset {
                continue;
            }
            if self.map.is_full() {
                break;
            }
            let mut batches = BatchIter::new(source.log.contents());
            for batch in batches.by_ref() {
                job.check_cancelled()?;
                self.throttler.maybe_throttle(batch.total_size() as u64);
                self.stats.bytes_read += batch.total_size() as u64;
                // An aborted transaction's record is never a key's latest value: it
                // must not make the committed one before it obsolete (Kafka's cleaner
                // skips aborted batches when it builds its map).
                if batch.is_control() || in_aborted_txn(&batch, &job.aborted) {
                    continue;
                }
                let section = batch
                    .decompressed_records(MAX_DECOMPRESSED_BYTES)
                    .map_err(|e| corrupt(source, e))?;
                for record in
                    records_of(&section, batch.record_count()).map_err(|e| corrupt(source, e))?
                {
                    let record = record.map_err(|e| corrupt(source, e))?;
                    if let Some(key) = record.key {
                        self.map
                            .put(key, batch.base_offset() + i64::from(record.offset_delta));
                    }
                }
            }
            check_consumed(source, &batches)?;
            end = job
                .segments
                .get(i + 1)
                .map_or(job.first_uncleanable_offset, |s| s.base_offset);
        }
        Ok(end)
    }

    /// Pass two for one group: writes the survivors into a `.cleaned` segment and
    /// swaps it in, or retires the group if nothing survives.
    fn clean_group(&mut self, group: &[SegmentSource]) -> Result<CleanedGroup, CleanerError> {
        let job = self.job;
        let base = group[0].base_offset;
        let old_bases: Vec<i64> = group.iter().map(|s| s.base_offset).collect();
        let paths = swap::paths_with_suffix(&job.dir, base, swap::CLEANED_SUFFIX);
        for p in &paths {
            swap::remove_if_exists(p)?;
        }
        let total: usize = group.iter().map(SegmentSource::size).sum();
        let capacity = (total + total / 8 + 64 * 1024).min(u32::MAX as usize);
        let txn_path = swap::txn_path_with_suffix(&job.dir, base, swap::CLEANED_SUFFIX);
        let mut cleaned = LogSegment::create_at(
            &paths,
            txn_path.clone(),
            base,
            capacity,
            &job.config,
            job.now_ms,
        )?;
        let mut written = 0usize;
        for source in group {
            let mut batches = BatchIter::new(source.log.contents());
            for batch in batches.by_ref() {
                job.check_cancelled()?;
                batch.verify_crc().map_err(|e| corrupt(source, e))?;
                let size = batch.total_size();
                self.throttler.maybe_throttle(size as u64);
                self.stats.bytes_read += size as u64;
                let out = match self.filter(&batch).map_err(|e| corrupt(source, e))? {
                    Filtered::Drop => continue,
                    Filtered::Keep => std::borrow::Cow::Borrowed(batch.bytes()),
                    Filtered::Rewrite(bytes) => std::borrow::Cow::Owned(bytes),
                };
                cleaned
                    .append(&out, batch.base_offset(), MaxTimestampRewrite::Keep, None)?
                    .ok_or_else(|| Error::Corrupt {
                        path: paths[0].clone(),
                        reason: "cleaned segment outgrew its preallocation".into(),
                    })?;
                self.throttler.maybe_throttle(out.len() as u64);
                self.stats.bytes_written += out.len() as u64;
                written += 1;
            }
            check_consumed(source, &batches)?;
        }
        job.check_cancelled()?;
        if written == 0 {
            drop(cleaned);
            for p in paths.iter().chain([&txn_path]) {
                swap::remove_if_exists(p)?;
            }
            let mut old_paths = Vec::new();
            for &old in &old_bases {
                old_paths.extend(swap::retire_segment(&job.dir, old)?);
            }
            crate::storage::mmap::sync_dir(&job.dir)?;
            return Ok(CleanedGroup {
                old: group.to_vec(),
                old_paths,
                new: None,
            });
        }
        // Control batches always survive, so every abort marker of the group is still
        // here and its entry stays valid.
        for txn in group.iter().flat_map(|s| s.aborted.iter()) {
            cleaned.txn_index.append(*txn)?;
        }
        cleaned.seal()?;
        cleaned.txn_index.sync()?;
        cleaned.log_file().sync_all()?;
        cleaned.offset_index.file().sync_all()?;
        cleaned.time_index.file().sync_all()?;
        drop(cleaned);
        let old_paths = swap::commit(&job.dir, base, &old_bases, self.stop_after)?;
        let new = if self.stop_after.is_none() {
            let mut segment = LogSegment::open(&job.dir, base, &job.config, false)?;
            segment.load(
                &job.dir,
                &job.config,
                false,
                false,
                None,
                &mut LogOpenStats::default(),
            )?;
            Some(segment)
        } else {
            None
        };
        Ok(CleanedGroup {
            old: group.to_vec(),
            old_paths,
            new,
        })
    }

    /// Decides one batch's fate: the latest record per key stays, records without a
    /// key go, tombstones stay until their delete horizon.
    fn filter(&mut self, batch: &RecordBatch<'_>) -> Result<Filtered, RecordsError> {
        if batch.is_control() {
            return Ok(Filtered::Keep);
        }
        let section = batch.decompressed_records(MAX_DECOMPRESSED_BYTES)?;
        let horizon = batch.has_delete_horizon().then(|| batch.base_timestamp());
        let tombstones_expired = horizon.is_some_and(|h| h <= self.job.now_ms);
        let mut kept: Vec<Record<'_>> = Vec::new();
        let mut removed = 0u64;
        for record in records_of(&section, batch.record_count())? {
            let record = record?;
            self.stats.records_read += 1;
            let offset = batch.base_offset() + i64::from(record.offset_delta);
            let keep = match record.key {
                None => false,
                Some(key) => match self.map.get(key) {
                    Some(latest) if offset < latest => false,
                    _ => record.value.is_some() || !tombstones_expired,
                },
            };
            if keep {
                kept.push(record);
            } else {
                removed += 1;
            }
        }
        self.stats.records_removed += removed;
        if kept.is_empty() {
            return Ok(Filtered::Drop);
        }
        let has_tombstone = kept.iter().any(|r| r.value.is_none());
        let new_horizon = match (has_tombstone, horizon) {
            (false, _) => None,
            (true, Some(h)) => Some(h),
            (true, None) => Some(
                self.job
                    .now_ms
                    .saturating_add(self.job.config.delete_retention_ms as i64),
            ),
        };
        if let Some(h) = new_horizon {
            self.min_horizon = Some(self.min_horizon.map_or(h, |m| m.min(h)));
        }
        if removed == 0 && new_horizon == horizon {
            return Ok(Filtered::Keep);
        }
        Ok(Filtered::Rewrite(rewrite(batch, &kept, new_horizon)?))
    }
}

/// A batch with only `kept` records: same base offset, last offset delta, producer
/// fields, epoch, timestamp type and codec (Kafka's `MemoryRecords.filterTo`).
fn rewrite(
    batch: &RecordBatch<'_>,
    kept: &[Record<'_>],
    horizon: Option<i64>,
) -> Result<Vec<u8>, RecordsError> {
    let mut builder = RecordBatchBuilder::new(batch.base_offset(), batch.base_timestamp())
        .partition_leader_epoch(batch.partition_leader_epoch())
        .producer(
            batch.producer_id(),
            batch.producer_epoch(),
            batch.base_sequence(),
        )
        .transactional(batch.is_transactional())
        .last_offset_delta(batch.last_offset_delta());
    if batch.timestamp_type() == TimestampType::LogAppendTime {
        builder = builder.log_append_time(batch.max_timestamp());
    }
    if let Some(h) = horizon {
        builder = builder.delete_horizon(h);
    }
    for r in kept {
        let mut spec = RecordSpec::new(r.key, r.value)
            .timestamp(batch.base_timestamp().wrapping_add(r.timestamp_delta))
            .offset_delta(r.offset_delta);
        for h in &r.headers {
            spec = spec.header(h.key, h.value);
        }
        builder = builder.record(spec);
    }
    compress_batch(&builder.build(), batch.compression()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kafka_vector(name: &str) -> Option<Vec<u8>> {
        let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/kafka-wire-vectors/records/vectors.json");
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                assert!(
                    std::env::var("AEON_REQUIRE_SHARED").as_deref() != Ok("1"),
                    "AEON_REQUIRE_SHARED=1 but {} is unreadable: {e}",
                    path.display()
                );
                println!("skipped: {} not found ({e})", path.display());
                return None;
            }
        };
        let doc: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        let hex = doc["vectors"]
            .as_array()
            .expect("vectors")
            .iter()
            .find(|v| v["name"] == name)
            .and_then(|v| v["hex"].as_str())
            .expect("the vector is there");
        Some(
            (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
                .collect(),
        )
    }

    #[test]
    fn a_rewritten_batch_is_byte_for_byte_what_kafka_writes_after_compaction() {
        let Some(expected) = kafka_vector("compacted_records_keep_offset_gaps") else {
            return;
        };
        // The batch before compaction: the record at delta 1 is superseded.
        let ts = 0x018b_cfe5_6800;
        let original = RecordBatchBuilder::new(100, ts)
            .partition_leader_epoch(-1)
            .record(RecordSpec::new(Some(b"k1"), Some(b"old")))
            .record(RecordSpec::new(Some(b"k3"), Some(b"gone")).timestamp(ts + 100))
            .record(RecordSpec::new(Some(b"k2"), Some(b"new")).timestamp(ts + 200))
            .build();
        let batch = RecordBatch::parse(&original).expect("batch");
        let section = batch.decompressed_records(1 << 20).expect("records");
        let records: Vec<Record<'_>> = records_of(&section, batch.record_count())
            .expect("records")
            .map(|r| r.expect("record"))
            .collect();
        let kept = [records[0].clone(), records[2].clone()];
        assert_eq!(rewrite(&batch, &kept, None).expect("rewrite"), expected);
    }
}
