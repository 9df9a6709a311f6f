//! A full disk on append: the append fails with [`Error::NoSpace`] before anything is
//! written, the log keeps every batch it had and stays readable, takes appends again
//! once there is space, and reopens after a crash with everything that was appended.
//! The ENOSPC is injected (`mmap::fault`); `tests/limits_test.rs` fills a real tmpfs.

use super::log::tests::{batch, small_config, T0};
use super::mmap::fault;
use super::{Error, Log};
use crate::protocol::records::BatchIter;

fn read_all(log: &Log) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < log.log_end_offset() {
        for b in BatchIter::new(&log.read(offset, usize::MAX).unwrap()) {
            offset = b.next_offset();
            out.push(b.bytes().to_vec());
        }
    }
    out
}

fn assert_no_space_keeps_the_log(dir: &std::path::Path, failing_file: &str) {
    let mut log = Log::open(dir, small_config(), T0).unwrap();
    for i in 0..5 {
        log.append(&batch(2, 30, T0 + i), T0).unwrap();
    }
    let before = read_all(&log);
    let end = log.log_end_offset();
    let base = *log.segment_base_offsets().last().unwrap();
    fault::no_space_once(&format!("{}/{base:020}.{failing_file}", dir.display()));
    // Enough bytes that the log and both indexes must allocate again.
    let big = batch(1, 1500, T0 + 10);
    match log.append(&big, T0) {
        Err(Error::NoSpace { path }) => {
            assert!(path.ends_with(format!("{base:020}.{failing_file}")))
        }
        other => panic!("expected NoSpace, got {other:?}"),
    }
    assert_eq!(log.log_end_offset(), end, "nothing was appended");
    assert_eq!(
        read_all(&log),
        before,
        "the log stays readable and unchanged"
    );
    let info = log.append(&big, T0).unwrap();
    assert_eq!(info.base_offset, end, "appends resume at the same offset");
    let after = read_all(&log);
    drop(log); // a crash: no clean shutdown
    let log = Log::open(dir, small_config(), T0).unwrap();
    assert!(log.open_stats().recovered);
    assert_eq!(read_all(&log), after);
}

#[test]
fn no_space_for_the_segment_fails_the_append_and_keeps_the_log() {
    let dir = tempfile::tempdir().unwrap();
    assert_no_space_keeps_the_log(&dir.path().join("t-0"), "log");
}

#[test]
fn no_space_for_an_index_fails_the_append_and_keeps_the_log() {
    let dir = tempfile::tempdir().unwrap();
    assert_no_space_keeps_the_log(&dir.path().join("t-1"), "index");
    let dir = tempfile::tempdir().unwrap();
    assert_no_space_keeps_the_log(&dir.path().join("t-2"), "timeindex");
}
