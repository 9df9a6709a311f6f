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
fn a_leader_stamps_its_epoch_outside_the_crc() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), small_config(), T0).unwrap();
    log.append(&batch(1, 10, T0), T0).unwrap();
    log.set_partition_leader_epoch(7);
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
fn offset_for_timestamp_finds_the_first_batch_reaching_it() {
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
        let found = log.offset_for_timestamp(target);
        assert_eq!(
            found.map(|f| (f.offset, f.timestamp)),
            expected,
            "target {target}"
        );
    }
    assert_eq!(log.offset_for_timestamp(T0 + 391), None);
    let max = log.max_timestamp().unwrap();
    assert_eq!((max.timestamp, max.offset), (T0 + 390, 79));
}

#[test]
fn retention_bytes_deletes_whole_old_segments_but_never_the_active_one() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        retention_bytes: Some(0),
        ..small_config()
    };
    let mut log = Log::open(dir.path(), config, T0).unwrap();
    for _ in 0..10 {
        log.append(&batch(1, 900, T0), T0).unwrap();
    }
    let segments = log.segment_count();
    let removed = log.apply_retention(T0).unwrap();
    assert_eq!(removed.len(), segments - 1);
    assert_eq!(log.segment_count(), 1);
    let active_base = log.segment_base_offsets()[0];
    assert_eq!(log.log_start_offset(), active_base);
    assert!(removed.iter().all(|r| r.paths.iter().all(|p| p.exists())));
    delete_segments(&removed).unwrap();
    assert!(removed.iter().all(|r| r.paths.iter().all(|p| !p.exists())));
    assert!(matches!(
        log.read(0, 1),
        Err(Error::OffsetOutOfRange { .. })
    ));
    assert_eq!(
        log.read(active_base, 1).unwrap().len(),
        batch(1, 900, T0).len()
    );
}

#[test]
fn retention_ms_deletes_segments_older_than_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        retention_ms: Some(1000),
        ..small_config()
    };
    let mut log = Log::open(dir.path(), config, T0).unwrap();
    for i in 0..8 {
        log.append(&batch(1, 900, T0 + i * 1000), T0).unwrap();
    }
    let before = log.segment_base_offsets();
    let removed = log.apply_retention(T0 + 4500).unwrap();
    // Segments whose newest batch is older than T0 + 3500 go.
    assert!(!removed.is_empty());
    for r in &removed {
        let idx = before.iter().position(|b| *b == r.base_offset).unwrap();
        assert!(idx + 1 < before.len());
    }
    let first_left = log.segment_base_offsets()[0];
    let newest_removed = log.offset_for_timestamp(0).unwrap();
    assert_eq!(newest_removed.offset, first_left);
    assert!(newest_removed.timestamp >= T0 + 3500);
}

#[test]
fn delete_records_moves_the_log_start_and_drops_segments_below_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), small_config(), T0).unwrap();
    for _ in 0..10 {
        log.append(&batch(2, 400, T0), T0).unwrap();
    }
    let bases = log.segment_base_offsets();
    let target = bases[2] + 1;
    let removed = log.delete_records(target).unwrap();
    assert_eq!(removed.len(), 2);
    assert_eq!(log.log_start_offset(), target);
    assert!(log.read(target - 1, 1).is_err());
    let first = RecordBatch::parse(&log.read(target, 1).unwrap()[..])
        .unwrap()
        .base_offset();
    assert_eq!(first, target - 1, "the batch containing the start offset");
    assert!(log.delete_records(log.log_end_offset() + 1).is_err());
    log.close().unwrap();
    let log = Log::open(dir.path(), small_config(), T0).unwrap();
    assert_eq!(
        log.log_start_offset(),
        target,
        "kept across a clean shutdown"
    );
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
fn flush_messages_flushes_on_append_and_concurrent_flushes_share_one_sync() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        flush_messages: Some(4),
        ..small_config()
    };
    let mut log = Log::open(dir.path(), config, T0).unwrap();
    log.append(&batch(3, 1, T0), T0).unwrap();
    assert_eq!(log.recovery_point(), 0);
    log.append(&batch(1, 1, T0), T0).unwrap();
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
