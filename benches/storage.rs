//! Storage engine benchmarks: append vs a plain sequential write, zero-copy reads,
//! offset lookup across 100 segments, reopen of a 1 GiB log (clean and after a
//! crash), and the memory the indexes take. Sizes are kept small enough that the whole
//! run takes a few minutes on two cores.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use aeon::protocol::records::{RecordBatchBuilder, RecordSpec};
use aeon::storage::{Log, LogConfig};
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};

const T0: i64 = 1_700_000_000_000;
const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;

/// A one-record batch of `total` bytes (or within a byte or two of it).
fn batch_of(total: usize) -> Vec<u8> {
    let mut value_len = total.saturating_sub(80);
    let mut best = Vec::new();
    for _ in 0..8 {
        best = RecordBatchBuilder::new(0, T0)
            .record(RecordSpec::new(None, Some(&vec![7u8; value_len])))
            .build();
        match best.len().cmp(&total) {
            std::cmp::Ordering::Equal => break,
            std::cmp::Ordering::Greater => value_len -= best.len() - total,
            std::cmp::Ordering::Less => value_len += total - best.len(),
        }
    }
    best
}

fn config() -> LogConfig {
    LogConfig {
        max_message_bytes: 2 * MIB as u32,
        retention_ms: None,
        ..LogConfig::default()
    }
}

fn append(c: &mut Criterion) {
    const TOTAL: usize = 64 * MIB;
    let mut group = c.benchmark_group("append");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(8))
        .warm_up_time(Duration::from_secs(1));
    group.throughput(Throughput::Bytes(TOTAL as u64));
    for (label, size) in [("1KiB", KIB), ("16KiB", 16 * KIB), ("1MiB", MIB)] {
        let batch = batch_of(size);
        let count = TOTAL / size;
        group.bench_with_input(BenchmarkId::new("log", label), &batch, |b, batch| {
            b.iter_batched(
                || {
                    let dir = tempfile::tempdir().unwrap();
                    let log = Log::open(dir.path().join("bench-0"), config(), T0).unwrap();
                    (dir, log)
                },
                |(dir, mut log)| {
                    for _ in 0..count {
                        log.append(batch, T0).unwrap();
                    }
                    (dir, log)
                },
                BatchSize::PerIteration,
            )
        });
        group.bench_with_input(
            BenchmarkId::new("plain_write_preallocated", label),
            &batch,
            |b, batch| {
                b.iter_batched(
                    || {
                        let dir = tempfile::tempdir().unwrap();
                        let file = File::create(dir.path().join("plain.log")).unwrap();
                        file.set_len(1 << 30).unwrap();
                        (dir, file)
                    },
                    |(dir, mut file)| {
                        for _ in 0..count {
                            file.write_all(batch).unwrap();
                        }
                        (dir, file)
                    },
                    BatchSize::PerIteration,
                )
            },
        );
        group.bench_with_input(
            BenchmarkId::new("plain_write", label),
            &batch,
            |b, batch| {
                b.iter_batched(
                    || {
                        let dir = tempfile::tempdir().unwrap();
                        let file = File::create(dir.path().join("plain.log")).unwrap();
                        (dir, file)
                    },
                    |(dir, mut file)| {
                        for _ in 0..count {
                            file.write_all(batch).unwrap();
                        }
                        (dir, file)
                    },
                    BatchSize::PerIteration,
                )
            },
        );
    }
    group.finish();
}

fn fill(dir: &Path, config: LogConfig, batch: &[u8], total: usize) -> Log {
    let mut log = Log::open(dir, config, T0).unwrap();
    for _ in 0..total / batch.len() {
        log.append(batch, T0).unwrap();
    }
    log
}

fn read(c: &mut Criterion) {
    const TOTAL: usize = 256 * MIB;
    let dir = tempfile::tempdir().unwrap();
    let batch = batch_of(16 * KIB);
    let log = fill(dir.path(), config(), &batch, TOTAL);
    let (end, batch_len) = (log.log_end_offset(), batch.len());
    let mut group = c.benchmark_group("read");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(5));
    group.throughput(Throughput::Bytes(log.size_bytes()));
    group.bench_function("warm_zero_copy_1MiB_fetches", |b| {
        b.iter(|| {
            let (mut offset, mut bytes) = (0, 0usize);
            while offset < end {
                let slice = log.read(offset, MIB).unwrap();
                bytes += slice.len();
                offset += (slice.len() / batch_len) as i64;
            }
            bytes
        })
    });
    group.bench_function("warm_read_and_crc_1MiB_fetches", |b| {
        b.iter(|| {
            let (mut offset, mut crc) = (0, 0u32);
            while offset < end {
                let slice = log.read(offset, MIB).unwrap();
                crc ^= crc32c::crc32c(&slice);
                offset += (slice.len() / batch_len) as i64;
            }
            crc
        })
    });
    group.finish();
}

fn lookup(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        segment_bytes: MIB as u32,
        ..config()
    };
    let log = fill(dir.path(), config, &batch_of(KIB), 100 * MIB - 100 * KIB);
    assert!(
        log.segment_count() >= 100,
        "{} segments",
        log.segment_count()
    );
    let end = log.log_end_offset();
    let mut x: u64 = 88172645463325252;
    let targets: Vec<i64> = (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % end as u64) as i64
        })
        .collect();
    let mut group = c.benchmark_group("lookup");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(4));
    let mut i = 0;
    group.bench_function(
        format!(
            "read_one_batch_at_random_offset_{}_segments",
            log.segment_count()
        ),
        |b| {
            b.iter(|| {
                i = (i + 1) % targets.len();
                log.read(targets[i], 1).unwrap()
            })
        },
    );
    group.bench_function("offset_for_timestamp", |b| {
        b.iter(|| log.offset_for_timestamp(T0))
    });
    group.finish();
}

fn reopen(c: &mut Criterion) {
    const TOTAL: usize = 1024 * MIB;
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        segment_bytes: 128 * MIB as u32,
        ..config()
    };
    let path = dir.path().join("reopen-0");
    let log = fill(&path, config.clone(), &batch_of(16 * KIB), TOTAL);
    eprintln!(
        "index memory: {} bytes of index entries for {} bytes of log in {} segments ({:.3}% of the data)",
        log.index_bytes(),
        log.size_bytes(),
        log.segment_count(),
        log.index_bytes() as f64 * 100.0 / log.size_bytes() as f64
    );
    log.close().unwrap();
    let mut group = c.benchmark_group("reopen_1GiB");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(5));
    group.bench_function("after_clean_shutdown", |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                let log = Log::open(&path, config.clone(), T0).unwrap();
                spent += start.elapsed();
                assert_eq!(log.open_stats().scanned_bytes, 0);
                log.close().unwrap();
            }
            spent
        })
    });
    drop(Log::open(&path, config.clone(), T0).unwrap()); // a crash: no marker from here on
    group.bench_function("after_crash", |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                let log = Log::open(&path, config.clone(), T0).unwrap();
                spent += start.elapsed();
                assert!(log.open_stats().recovered);
                drop(log); // no marker: the next open recovers again
            }
            spent
        })
    });
    let last = {
        let log = Log::open(&path, config.clone(), T0).unwrap();
        *log.segment_base_offsets().last().unwrap()
    };
    let index = path.join(format!("{last:020}.index"));
    let mut lost_stats = None;
    group.bench_function("after_crash_with_last_index_lost", |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                let _ = std::fs::remove_file(&index);
                let start = Instant::now();
                let log = Log::open(&path, config.clone(), T0).unwrap();
                spent += start.elapsed();
                let stats = log.open_stats();
                assert!(stats.recovered && stats.scanned_bytes > 0);
                lost_stats = Some(stats.clone());
                drop(log);
            }
            spent
        })
    });
    group.finish();
    eprintln!("crash reopen stats, last index lost: {lost_stats:?}");
    let log = Log::open(&path, config, T0).unwrap();
    eprintln!("crash reopen stats, indexes intact: {:?}", log.open_stats());
}

criterion_group!(benches, append, read, lookup, reopen);
criterion_main!(benches);
