//! Tests of the cleaner through [`Log`]: what survives a cleaning, when a cleaning
//! is due, crashes between the swap steps, and a model-based property test.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::clean::run_with;
use super::swap::SwapStep;
use super::*;
use crate::protocol::records::compression::{compress_batch, records_of};
use crate::protocol::records::{
    BatchIter, Compression, RecordBatch, RecordBatchBuilder, RecordSpec,
};
use crate::storage::log::tests::T0;
use crate::storage::{Log, LogConfig};

const DAY: i64 = 24 * 60 * 60 * 1000;

/// One record as a consumer sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    offset: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
}

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 16 * 1024,
        segment_index_bytes: 4096,
        index_interval_bytes: 512,
        retention_ms: None,
        compact: true,
        delete_retention_ms: DAY as u64,
        min_cleanable_dirty_ratio: 0.01,
        ..LogConfig::default()
    }
}

/// A batch of (key, value) records at `ts`.
fn keyed(records: &[(Option<&str>, Option<&str>)], ts: i64) -> Vec<u8> {
    let mut b = RecordBatchBuilder::new(0, ts);
    for (k, v) in records {
        b = b.record(RecordSpec::new(k.map(str::as_bytes), v.map(str::as_bytes)));
    }
    b.build()
}

/// Every record from the log start, in order.
fn read_all(log: &Log) -> Vec<Seen> {
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < log.log_end_offset() {
        let bytes = log.read(offset, 1 << 20).unwrap();
        if bytes.is_empty() {
            break;
        }
        for batch in BatchIter::new(&bytes) {
            batch.verify_crc().unwrap();
            offset = batch.next_offset();
            if batch.is_control() {
                continue;
            }
            let section = batch.decompressed_records(1 << 24).unwrap();
            for r in records_of(&section, batch.record_count()).unwrap() {
                let r = r.unwrap();
                out.push(Seen {
                    offset: batch.base_offset() + i64::from(r.offset_delta),
                    key: r.key.map(<[u8]>::to_vec),
                    value: r.value.map(<[u8]>::to_vec),
                });
            }
        }
    }
    out
}

/// The latest record per key among `records`, in offset order.
fn latest_per_key(records: &[Seen]) -> Vec<Seen> {
    let mut latest: BTreeMap<Vec<u8>, i64> = BTreeMap::new();
    for r in records {
        if let Some(k) = &r.key {
            latest.insert(k.clone(), r.offset);
        }
    }
    records
        .iter()
        .filter(|r| r.key.as_ref().is_some_and(|k| latest[k] == r.offset))
        .cloned()
        .collect()
}

#[test]
fn cleaning_keeps_exactly_the_latest_value_per_key_in_offset_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), config(), T0).unwrap();
    for i in 0..2_000 {
        let records: Vec<(String, String)> = (0..5)
            .map(|j| {
                let n = i * 5 + j;
                (format!("key-{}", n % 100), format!("value-{n}"))
            })
            .collect();
        let specs: Vec<_> = records
            .iter()
            .map(|(k, v)| (Some(k.as_str()), Some(v.as_str())))
            .collect();
        log.append(&keyed(&specs, T0), T0).unwrap();
    }
    log.roll(T0).unwrap();
    let before = read_all(&log);
    let segments = log.segment_count();
    assert!(segments > 20, "{segments} segments");
    let stats = log.clean_now(T0);
    assert_eq!(stats.records_read, 10_000);
    assert_eq!(stats.records_removed, 9_900);
    assert_eq!(stats.keys_mapped, 100);
    let after = read_all(&log);
    assert_eq!(after, latest_per_key(&before));
    assert_eq!(after.len(), 100);
    assert!(after.iter().all(|r| r.offset >= 9_900));
    assert!(log.segment_count() < segments);
    assert!(log.size_bytes() < 16 * 1024);
    assert_eq!(log.log_end_offset(), 10_000, "offsets never change");
    assert_eq!(log.cleaner_checkpoint().first_dirty_offset, 10_000);
    // Appends carry on after the swap; the cleaned log survives a reopen.
    log.append(&keyed(&[(Some("key-1"), Some("new"))], T0), T0)
        .unwrap();
    log.close().unwrap();
    let log = Log::open(dir.path(), config(), T0).unwrap();
    let reopened = read_all(&log);
    assert_eq!(&reopened[..100], &after[..]);
    assert_eq!(reopened.len(), 101);
    assert_eq!(log.cleaner_checkpoint().first_dirty_offset, 10_000);
    // Every surviving batch kept its base offset and last offset delta.
    let bytes = log.read(9_900, 1 << 20).unwrap();
    let first = RecordBatch::parse(&bytes).unwrap();
    assert_eq!((first.base_offset(), first.last_offset()), (9_900, 9_904));
}

#[test]
fn tombstones_stay_until_their_delete_horizon_then_go() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), config(), T0).unwrap();
    log.append(
        &keyed(&[(Some("a"), Some("1")), (Some("b"), Some("1"))], T0),
        T0,
    )
    .unwrap();
    log.append(&keyed(&[(Some("a"), None)], T0), T0).unwrap();
    log.roll(T0).unwrap();
    log.clean_now(T0 + 1000);
    let seen = read_all(&log);
    assert_eq!(seen.len(), 2, "b's value and a's tombstone: {seen:?}");
    assert_eq!(seen[1].value, None);
    let horizon = log.cleaner_checkpoint().delete_horizon_ms;
    assert_eq!(horizon, Some(T0 + 1000 + DAY));
    let now = T0 + 1000 + DAY - 1;
    assert!(
        log.prepare_cleaning(now, &CleanerConfig::default())
            .is_none(),
        "nothing dirty and no horizon passed"
    );
    log.clean_now(now);
    assert_eq!(read_all(&log).len(), 2, "kept until the horizon");
    let job = log
        .prepare_cleaning(T0 + 1000 + DAY, &CleanerConfig::default())
        .expect("a passed horizon makes a cleaning due");
    let cleaned = job.run().unwrap();
    log.finish_cleaning(cleaned);
    let seen = read_all(&log);
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].key.as_deref(), Some(&b"b"[..]));
    assert_eq!(log.cleaner_checkpoint().delete_horizon_ms, None);
}

#[test]
fn keyless_records_go_and_control_batches_stay() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), config(), T0).unwrap();
    log.append(&keyed(&[(None, Some("x")), (Some("k"), Some("1"))], T0), T0)
        .unwrap();
    let marker = RecordBatchBuilder::new(0, T0)
        .producer(7, 0, -1)
        .transactional(true)
        .control(true)
        .record(RecordSpec::new(
            Some(&[0, 0, 0, 1]),
            Some(&[0, 0, 0, 0, 0, 0]),
        ))
        .build();
    log.append(&marker, T0).unwrap();
    log.append(&keyed(&[(Some("k"), Some("2"))], T0), T0)
        .unwrap();
    log.roll(T0).unwrap();
    log.clean_now(T0);
    let seen = read_all(&log);
    assert_eq!(seen.len(), 1);
    assert_eq!(
        (seen[0].offset, seen[0].value.as_deref()),
        (3, Some(&b"2"[..]))
    );
    let control = log.read(2, 1).unwrap();
    let control = RecordBatch::parse(&control).unwrap();
    assert!(control.is_control());
    let mut stored = marker.clone();
    crate::protocol::records::set_base_offset(&mut stored, 2).unwrap();
    assert_eq!(control.bytes(), &stored[..]);
}

#[test]
fn compressed_batches_are_cleaned_and_keep_their_codec() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), config(), T0).unwrap();
    let codecs = [
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];
    for round in 0..3 {
        for (i, codec) in codecs.iter().enumerate() {
            let v = format!("{round}-{i}");
            let plain = keyed(
                &[
                    (Some("same"), Some(&v)),
                    (Some(&format!("own-{i}")), Some(&v)),
                ],
                T0,
            );
            log.append(&compress_batch(&plain, *codec).unwrap(), T0)
                .unwrap();
        }
    }
    log.roll(T0).unwrap();
    let before = read_all(&log);
    log.clean_now(T0);
    assert_eq!(read_all(&log), latest_per_key(&before));
    let mut offset = 0;
    let mut codecs_seen = Vec::new();
    while offset < log.log_end_offset() {
        let bytes = log.read(offset, 1).unwrap();
        let batch = RecordBatch::parse(&bytes).unwrap();
        codecs_seen.push(batch.compression().unwrap());
        offset = batch.next_offset();
    }
    assert_eq!(
        codecs_seen, codecs,
        "one survivor batch per codec, same codec"
    );
}

#[test]
fn the_active_segment_and_records_younger_than_the_lag_are_never_cleaned() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        min_compaction_lag_ms: 10_000,
        ..config()
    };
    let mut log = Log::open(dir.path(), cfg, T0).unwrap();
    log.append(&keyed(&[(Some("k"), Some("1"))], T0), T0)
        .unwrap();
    log.roll(T0).unwrap();
    log.append(&keyed(&[(Some("k"), Some("2"))], T0 + 20_000), T0)
        .unwrap();
    log.roll(T0).unwrap();
    log.append(&keyed(&[(Some("k"), Some("3"))], T0 + 30_000), T0)
        .unwrap();
    // At T0 + 25 s the second segment is younger than the lag: only the first counts.
    let stats = log.cleanable_stats(T0 + 25_000);
    assert_eq!(
        (stats.first_dirty_offset, stats.first_uncleanable_offset),
        (0, 1)
    );
    log.clean_now(T0 + 25_000);
    assert_eq!(read_all(&log).len(), 3, "nothing newer was mapped");
    // Later, both rolled segments are cleanable; the active one never is.
    let stats = log.cleanable_stats(T0 + 60_000);
    assert_eq!(stats.first_uncleanable_offset, 2);
    log.clean_now(T0 + 60_000);
    let seen = read_all(&log);
    assert_eq!(
        seen.iter().map(|r| r.offset).collect::<Vec<_>>(),
        vec![1, 2],
        "the active segment's record stays beside the cleaned latest"
    );
}

#[test]
fn the_dirty_ratio_and_the_max_lag_decide_when_a_cleaning_is_due() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        min_cleanable_dirty_ratio: 0.5,
        ..config()
    };
    let mut log = Log::open(dir.path(), cfg.clone(), T0).unwrap();
    let none = CleanerConfig::default();
    assert!(log.prepare_cleaning(T0, &none).is_none(), "nothing rolled");
    for i in 0..10 {
        let v = format!("{i}");
        log.append(&keyed(&[(Some(&format!("k{i}")), Some(&v))], T0), T0)
            .unwrap();
    }
    log.roll(T0).unwrap();
    let job = log.prepare_cleaning(T0, &none).expect("all dirty: ratio 1");
    assert!(log.prepare_cleaning(T0, &none).is_none(), "one at a time");
    assert!(log.is_cleaning());
    let cleaned = job.run().unwrap();
    log.finish_cleaning(cleaned);
    assert!(!log.is_cleaning());
    // One small dirty segment beside a bigger clean one: below the ratio.
    log.append(&keyed(&[(Some("k0"), Some("x"))], T0), T0)
        .unwrap();
    log.roll(T0).unwrap();
    let stats = log.cleanable_stats(T0);
    assert!(stats.dirty_ratio() < 0.5, "{stats:?}");
    assert!(log.prepare_cleaning(T0, &none).is_none());
    // ... unless the dirty record is older than max.compaction.lag.ms.
    log.set_config(LogConfig {
        max_compaction_lag_ms: 1000,
        ..cfg
    });
    assert!(log.prepare_cleaning(T0 + 500, &none).is_none());
    let job = log
        .prepare_cleaning(T0 + 1001, &none)
        .expect("overdue by max.compaction.lag.ms");
    log.abort_cleaning(&job.token());
    assert!(!log.is_cleaning());
    // A log that is not compacted is never cleaned.
    log.set_config(LogConfig {
        compact: false,
        ..config()
    });
    assert!(log.prepare_cleaning_now(T0, &none).is_none());
}

#[test]
fn appends_and_reads_continue_while_a_cleaning_runs_on_another_thread() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), config(), T0).unwrap();
    for i in 0..500 {
        let v = format!("{i}");
        log.append(&keyed(&[(Some(&format!("k{}", i % 10)), Some(&v))], T0), T0)
            .unwrap();
    }
    log.roll(T0).unwrap();
    let held = log.read(0, 1 << 20).unwrap();
    let job = log.prepare_cleaning(T0, &CleanerConfig::default()).unwrap();
    let worker = std::thread::spawn(move || job.run());
    for i in 0..500 {
        let v = format!("late-{i}");
        log.append(&keyed(&[(Some("late"), Some(&v))], T0), T0)
            .unwrap();
        assert_eq!(log.apply_retention(T0).unwrap(), vec![]);
    }
    let cleaned = worker.join().unwrap().unwrap();
    let removed = log.finish_cleaning(cleaned);
    crate::storage::delete_segments(&removed).unwrap();
    let seen = read_all(&log);
    assert_eq!(seen.len(), 10 + 500);
    assert!(
        held.len() > 1000,
        "a slice of an old segment stays readable"
    );
    RecordBatch::parse(&held).unwrap().verify_crc().unwrap();
}

#[test]
fn the_throttle_slows_a_cleaning_to_the_configured_rate() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), config(), T0).unwrap();
    let value = "v".repeat(1000);
    for i in 0..100 {
        log.append(
            &keyed(&[(Some(&format!("k{}", i % 5)), Some(&value))], T0),
            T0,
        )
        .unwrap();
    }
    log.roll(T0).unwrap();
    let throttled = CleanerConfig {
        io_max_bytes_per_second: Some(500_000),
        ..CleanerConfig::default()
    };
    let start = std::time::Instant::now();
    let job = log.prepare_cleaning(T0, &throttled).unwrap();
    let cleaned = job.run().unwrap();
    let io = cleaned.stats.bytes_read + cleaned.stats.bytes_written;
    log.finish_cleaning(cleaned);
    let floor = std::time::Duration::from_secs_f64(io as f64 / 500_000.0 * 0.95);
    assert!(io > 200_000, "{io}");
    assert!(
        start.elapsed() >= floor,
        "{:?} < {floor:?}",
        start.elapsed()
    );
}

/// A log with superseded records spread over several segments; the first segment
/// also holds a few keys never written again, so its cleaned version is not empty.
fn dirty_log(dir: &std::path::Path) -> Log {
    let mut log = Log::open(dir, config(), T0).unwrap();
    for i in 0..5 {
        let k = format!("only-once-{i}");
        log.append(&keyed(&[(Some(&k), Some("v"))], T0), T0)
            .unwrap();
    }
    for i in 0..600 {
        let v = format!("value-{i}-{}", "x".repeat(i % 40));
        let k = format!("key-{}", i % 37);
        let tombstone = i % 50 == 49;
        let value = (!tombstone).then_some(v.as_str());
        log.append(&keyed(&[(Some(&k), value)], T0), T0).unwrap();
    }
    log.roll(T0).unwrap();
    log
}

#[test]
fn a_crash_between_any_two_swap_steps_leaves_the_log_before_or_after() {
    for stop in [SwapStep::Cleaned, SwapStep::Swapped, SwapStep::OldDeleted] {
        let dir = tempfile::tempdir().unwrap();
        let mut log = dirty_log(dir.path());
        let before = read_all(&log);
        let end = log.log_end_offset();
        let job = log
            .prepare_cleaning_now(T0, &CleanerConfig::default())
            .unwrap();
        run_with(job, Some(stop)).unwrap();
        drop(log); // the crash: no clean-shutdown marker, no finish_cleaning
        let mut log = Log::open(dir.path(), config(), T0).unwrap();
        let after = read_all(&log);
        assert_eq!(log.log_end_offset(), end, "{stop:?}");
        if stop == SwapStep::Cleaned {
            assert_eq!(after, before, "rolled back: {stop:?}");
        } else {
            assert_ne!(after, before, "finished: {stop:?}");
            assert!(after.iter().all(|r| before.contains(r)), "{stop:?}");
            assert_eq!(latest_per_key(&after), latest_per_key(&before), "{stop:?}");
        }
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".cleaned") || n.ends_with(".swap") || n.ends_with(".deleted"))
            .collect();
        assert!(leftovers.is_empty(), "{stop:?}: {leftovers:?}");
        // The cleaning can simply run again.
        log.clean_now(T0);
        assert_eq!(read_all(&log), latest_per_key(&before), "{stop:?}");
    }
}

#[test]
fn a_crash_while_writing_cleaned_files_or_renaming_swaps_is_recovered() {
    let dir = tempfile::tempdir().unwrap();
    let log = dirty_log(dir.path());
    let before = read_all(&log);
    let bases = log.segment_base_offsets();
    drop(log);
    // A torn `.cleaned` file: ignored and deleted.
    std::fs::write(
        dir.path().join(format!("{:020}.log.cleaned", bases[0])),
        b"torn",
    )
    .unwrap();
    // Index swaps renamed before a crash, the log's rename not done: rolled back.
    let orphan = dir.path().join(format!("{:020}.index.swap", bases[1]));
    std::fs::write(&orphan, b"x").unwrap();
    let log = Log::open(dir.path(), config(), T0).unwrap();
    assert_eq!(read_all(&log), before);
    assert!(!dir
        .path()
        .join(format!("{:020}.log.cleaned", bases[0]))
        .exists());
    assert!(!orphan.exists());
    // A swap whose index was already renamed into place (step 3 half done).
    let mut log = log;
    let job = log
        .prepare_cleaning_now(T0, &CleanerConfig::default())
        .unwrap();
    run_with(job, Some(SwapStep::OldDeleted)).unwrap();
    drop(log);
    let base = bases[0];
    let index = dir.path().join(format!("{base:020}.index"));
    std::fs::rename(dir.path().join(format!("{base:020}.index.swap")), &index).unwrap();
    let log = Log::open(dir.path(), config(), T0).unwrap();
    let after = read_all(&log);
    assert!(after.iter().all(|r| before.contains(r)));
    assert_eq!(latest_per_key(&after), latest_per_key(&before));
    for r in &after {
        let bytes = log.read(r.offset, 1).unwrap();
        let b = RecordBatch::parse(&bytes).unwrap();
        assert!(b.base_offset() <= r.offset && r.offset <= b.last_offset());
    }
}

#[test]
fn a_closed_log_cancels_its_cleaning_and_a_reopen_waits_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = dirty_log(dir.path());
    let before = read_all(&log);
    let slow = CleanerConfig {
        io_max_bytes_per_second: Some(50_000),
        ..CleanerConfig::default()
    };
    let job = log.prepare_cleaning_now(T0, &slow).unwrap();
    let worker = std::thread::spawn(move || job.run());
    std::thread::sleep(std::time::Duration::from_millis(50));
    log.close().unwrap();
    let log = Log::open(dir.path(), config(), T0).unwrap();
    assert!(matches!(
        worker.join().unwrap(),
        Err(CleanerError::Cancelled { .. })
    ));
    assert_eq!(read_all(&log), before);
}

/// Flips a byte in the middle of the segment file starting at `base`.
fn corrupt_segment(dir: &std::path::Path, base: i64) {
    use std::io::{Seek, SeekFrom, Write};
    let path = dir.join(format!("{base:020}.log"));
    let len = std::fs::metadata(&path).unwrap().len();
    let mut f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.seek(SeekFrom::Start(len / 2)).unwrap();
    f.write_all(b"\xde\xad\xbe\xef").unwrap();
}

#[test]
fn a_corrupt_segment_stops_the_cleaning_but_keeps_the_groups_already_swapped() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = dirty_log(dir.path());
    let before = read_all(&log);
    let bases = log.segment_base_offsets();
    assert!(bases.len() >= 4, "{bases:?}");
    corrupt_segment(dir.path(), bases[2]);
    let job = log
        .prepare_cleaning_now(T0, &CleanerConfig::default())
        .unwrap();
    let token = job.token();
    let cleaned = job.run().unwrap();
    let failure = cleaned.failure.clone().expect("stopped part way");
    assert!(
        failure.contains(&format!("{:020}.log", bases[2])),
        "{failure}"
    );
    assert_eq!(cleaned.groups.len(), 2, "the first two groups were swapped");
    log.finish_cleaning(cleaned);
    assert!(!log.is_cleaning());
    log.abort_cleaning(&token); // harmless once finished
    assert_eq!(log.cleaner_checkpoint(), CleanerCheckpoint::default());
    // The swapped groups read compacted; the rest as before, up to the bad bytes.
    let after = read_all_lenient(&log);
    assert!(after.iter().all(|r| before.contains(r)));
    assert!(after.len() < before.len());
    // Corruption in the first group: nothing swapped, an error, the log untouched.
    let dir = tempfile::tempdir().unwrap();
    let mut log = dirty_log(dir.path());
    let bases = log.segment_base_offsets();
    corrupt_segment(dir.path(), 0);
    let job = log
        .prepare_cleaning_now(T0, &CleanerConfig::default())
        .unwrap();
    let token = job.token();
    assert!(matches!(
        job.run(),
        Err(CleanerError::Storage(crate::storage::Error::Corrupt { .. }))
    ));
    log.abort_cleaning(&token);
    assert!(!log.is_cleaning());
    assert_eq!(log.segment_base_offsets(), bases);
    assert!(!std::fs::read_dir(dir.path()).unwrap().any(|e| e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .contains(".swap")));
}

/// Like [`read_all`], skipping batches whose CRC fails (a corrupted test segment).
fn read_all_lenient(log: &Log) -> Vec<Seen> {
    let mut out = Vec::new();
    for base in log.segment_base_offsets() {
        let bytes = log
            .read(base.max(log.log_start_offset()), usize::MAX)
            .unwrap();
        for batch in BatchIter::new(&bytes) {
            if batch.verify_crc().is_err() || batch.is_control() {
                continue;
            }
            let section = batch.decompressed_records(1 << 24).unwrap();
            for r in records_of(&section, batch.record_count()).unwrap() {
                let r = r.unwrap();
                out.push(Seen {
                    offset: batch.base_offset() + i64::from(r.offset_delta),
                    key: r.key.map(<[u8]>::to_vec),
                    value: r.value.map(<[u8]>::to_vec),
                });
            }
        }
    }
    out.dedup();
    out
}

// ---- model-based property test ----

#[derive(Debug, Clone)]
enum Op {
    Append { keys: Vec<(u8, bool)>, ts_step: i64 },
    Roll,
    Clean { advance: i64 },
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (proptest::collection::vec((0u8..12, proptest::bool::weighted(0.15)), 1..6), 0i64..1000)
            .prop_map(|(keys, ts_step)| Op::Append { keys, ts_step }),
        2 => Just(Op::Roll),
        2 => (0i64..2 * DAY).prop_map(|advance| Op::Clean { advance }),
        1 => Just(Op::Reopen),
    ]
}

/// The model: records with their tombstone horizon once cleaned.
#[derive(Debug, Default)]
struct Model {
    records: Vec<(Seen, Option<i64>)>,
}

impl Model {
    /// A cleaning at `now` of everything below `active_base`.
    fn clean(&mut self, now: i64, active_base: i64) {
        let mut latest: BTreeMap<Vec<u8>, i64> = BTreeMap::new();
        for (r, _) in self.records.iter().filter(|(r, _)| r.offset < active_base) {
            if let Some(k) = &r.key {
                latest.insert(k.clone(), r.offset);
            }
        }
        self.records.retain_mut(|(r, horizon)| {
            if r.offset >= active_base {
                return true;
            }
            let Some(k) = &r.key else { return false };
            if latest[k] != r.offset {
                return false;
            }
            if r.value.is_none() {
                match horizon {
                    Some(h) if *h <= now => return false,
                    Some(_) => {}
                    None => *horizon = Some(now + DAY),
                }
            }
            true
        });
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn a_cleaned_log_reads_as_the_latest_record_per_key(ops in proptest::collection::vec(op(), 1..60)) {
        let dir = tempfile::tempdir().unwrap();
        let cfg = LogConfig { segment_bytes: 1024, ..config() };
        let mut log = Log::open(dir.path(), cfg.clone(), T0).unwrap();
        let mut model = Model::default();
        let (mut now, mut ts) = (T0, T0);
        for op in ops {
            match op {
                Op::Append { keys, ts_step } => {
                    ts += ts_step;
                    let specs: Vec<(String, Option<String>)> = keys
                        .iter()
                        .map(|(k, tomb)| (format!("k{k}"), (!tomb).then(|| format!("v{ts}-{k}"))))
                        .collect();
                    let refs: Vec<_> = specs.iter().map(|(k, v)| (Some(k.as_str()), v.as_deref())).collect();
                    let info = log.append(&keyed(&refs, ts), now).unwrap();
                    for (i, (k, v)) in specs.into_iter().enumerate() {
                        model.records.push((Seen {
                            offset: info.base_offset + i as i64,
                            key: Some(k.into_bytes()),
                            value: v.map(String::into_bytes),
                        }, None));
                    }
                }
                Op::Roll => log.roll(now).unwrap(),
                Op::Clean { advance } => {
                    now += advance;
                    let active_base = *log.segment_base_offsets().last().unwrap();
                    if let Some(job) = log.prepare_cleaning_now(now, &CleanerConfig::default()) {
                        let cleaned = job.run().unwrap();
                        let removed = log.finish_cleaning(cleaned);
                        crate::storage::delete_segments(&removed).unwrap();
                        model.clean(now, active_base);
                    }
                }
                Op::Reopen => {
                    drop(log);
                    log = Log::open(dir.path(), cfg.clone(), T0).unwrap();
                }
            }
            let expected: Vec<Seen> = model.records.iter().map(|(r, _)| r.clone()).collect();
            prop_assert_eq!(read_all(&log), expected);
        }
    }
}

/// A compacted log whose first two segments hold aborted transactions.
fn log_with_aborted_txns(dir: &std::path::Path) -> Log {
    use crate::protocol::records::control::{marker_batch, ControlMarker};
    use crate::storage::producer_state::ProducerState;
    let mut log = Log::open(dir, config(), T0).unwrap();
    let mut state = ProducerState::default();
    for pid in [1i64, 2] {
        for (seq, key) in ["a", "b"].iter().enumerate() {
            let b = RecordBatchBuilder::new(0, T0)
                .producer(pid, 0, seq as i32)
                .transactional(true)
                .record(RecordSpec::new(Some(key.as_bytes()), Some(b"v")))
                .build();
            let info = log.append(&b, T0).unwrap();
            state.apply(&RecordBatch::parse(&b).unwrap(), info.base_offset, T0);
        }
        let m = ControlMarker {
            commit: false,
            coordinator_epoch: 0,
        };
        let b = marker_batch(pid, 0, m, T0);
        let info = log.append(&b, T0).unwrap();
        let done = state
            .apply(&RecordBatch::parse(&b).unwrap(), info.base_offset, T0)
            .unwrap();
        log.append_aborted_txn(state.aborted_entry(&done));
        log.append(&keyed(&[(Some("a"), Some("new"))], T0), T0)
            .unwrap();
        log.roll(T0).unwrap();
    }
    log.append(&keyed(&[(Some("b"), Some("new"))], T0), T0)
        .unwrap();
    // The rolled segments' flush (a partition starts it at each roll) writes their
    // `.txnindex` entries.
    log.flush().unwrap();
    log
}

#[test]
fn a_cleaned_segment_keeps_the_txnindex_entries_of_the_segments_it_replaces_across_crashes() {
    for stop in [
        None,
        Some(SwapStep::Cleaned),
        Some(SwapStep::Swapped),
        Some(SwapStep::OldDeleted),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut log = log_with_aborted_txns(dir.path());
        let end = log.log_end_offset();
        let before = log.collect_aborted_txns(0, end);
        assert_eq!(before.len(), 2);
        let job = log
            .prepare_cleaning_now(T0, &CleanerConfig::default())
            .unwrap();
        let cleaned = run_with(job, stop).unwrap();
        let log = match stop {
            None => {
                let removed = log.finish_cleaning(cleaned);
                crate::storage::delete_segments(&removed).unwrap();
                assert_eq!(log.segment_count(), 2, "two segments cleaned into one");
                log
            }
            Some(_) => {
                drop(log); // the crash
                Log::open(dir.path(), config(), T0).unwrap()
            }
        };
        assert_eq!(log.collect_aborted_txns(0, end), before, "{stop:?}");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".cleaned") || n.ends_with(".swap"))
            .collect();
        assert!(leftovers.is_empty(), "{stop:?}: {leftovers:?}");
    }
}
