//! Crash test: a child process (this test binary, re-executed) appends and flushes
//! until it is killed with SIGKILL at a random moment; after each kill the log must
//! reopen to a prefix of the deterministic append sequence that holds everything the
//! child reported as flushed.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{Log, LogConfig};
use crate::protocol::records::{BatchIter, RecordBatchBuilder, RecordSpec};

const CHILD_ENV: &str = "AEON_CRASH_CHILD_DIR";
const CHILD_TEST: &str = "storage::crash_tests::crash_child_appends_until_killed";
const T0: i64 = 1_700_000_000_000;

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 64 * 1024,
        segment_index_bytes: 4096,
        index_interval_bytes: 1024,
        retention_ms: None,
        ..LogConfig::default()
    }
}

/// The batch appended at `base`, as stored: its content is a function of its offset.
fn expected_batch(base: i64) -> Vec<u8> {
    let len = (base as usize * 7919) % 3000;
    let value: Vec<u8> = (0..len).map(|i| (i as i64 + base) as u8).collect();
    RecordBatchBuilder::new(base, T0 + base)
        .record(RecordSpec::new(
            Some(format!("offset-{base}").as_bytes()),
            Some(&value),
        ))
        .build()
}

/// The child's role: append forever, flushing every few batches and reporting the
/// flushed offset on stdout. Does nothing when run as an ordinary test.
#[test]
fn crash_child_appends_until_killed() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let mut log = Log::open(&dir, config(), T0).unwrap();
    let started = Instant::now();
    let mut n = 0u64;
    while started.elapsed() < Duration::from_secs(20) {
        let base = log.log_end_offset();
        let info = log.append(&expected_batch(base), T0).unwrap();
        assert_eq!(info.base_offset, base);
        n += 1;
        if n % 3 == 0 {
            let flushed = log.flush().unwrap();
            println!("flushed {flushed}");
        }
    }
}

/// Reads the whole log, checking every batch against the deterministic sequence.
fn check_prefix(dir: &Path, flushed: i64) -> i64 {
    let log = Log::open(dir, config(), T0).unwrap();
    // Recovered, unless the child was killed before it created anything.
    assert!(log.open_stats().recovered || log.log_end_offset() == 0);
    // From the recovery point: the active segment, and the one before it when the
    // child was killed between a roll and the flush after it (one roll at most between
    // two flushes here).
    assert!(
        log.open_stats().scanned_bytes <= 2 * 64 * 1024,
        "recovery scans the segments from the recovery point only: {} bytes, {:?}",
        log.open_stats().scanned_bytes,
        log.open_stats()
    );
    let end = log.log_end_offset();
    assert!(
        end >= flushed,
        "lost flushed data: log end {end} < flushed {flushed}"
    );
    let mut offset = 0;
    while offset < end {
        let bytes = log.read(offset, 1 << 20).unwrap();
        for batch in BatchIter::new(&bytes) {
            assert_eq!(batch.base_offset(), offset);
            assert_eq!(
                batch.bytes(),
                &expected_batch(offset)[..],
                "batch at {offset} differs"
            );
            offset = batch.next_offset();
        }
    }
    assert_eq!(offset, end);
    end
}

#[test]
fn log_survives_sigkill_at_random_moments_with_everything_flushed() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let log_dir = dir.path().join("crash-0");
    let exe = std::env::current_exe().unwrap();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15 ^ u64::from(std::process::id());
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut kills, mut last_end) = (0, 0);
    while kills < 20 && Instant::now() < deadline {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let delay = Duration::from_millis(20 + seed % 180);
        let mut child = Command::new(&exe)
            .args([CHILD_TEST, "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, &log_dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut flushed = 0i64;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(v) = line.strip_prefix("flushed ") {
                    flushed = flushed.max(v.trim().parse().unwrap_or(0));
                }
            }
            flushed
        });
        std::thread::sleep(delay);
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
        let flushed = reader.join().unwrap();
        let end = check_prefix(&log_dir, flushed);
        assert!(
            end >= last_end,
            "the log shrank below what an earlier round recovered"
        );
        last_end = end;
        kills += 1;
    }
    assert_eq!(kills, 20);
    assert!(last_end > 0, "the child never appended");
    println!("crash test: {kills} SIGKILLs, log end {last_end}");
}
