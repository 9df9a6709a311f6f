use super::*;

fn id(producer_id: i64, epoch: i16, first_seq: i32, last_seq: i32) -> BatchIdentity {
    BatchIdentity {
        producer_id,
        epoch,
        first_seq,
        last_seq,
    }
}

#[test]
fn duplicates_are_found_gaps_refused_and_old_epochs_fenced() {
    let mut s = ProducerState::default();
    assert_eq!(s.check(&id(7, 0, 0, 4)), Ok(None));
    s.update(&id(7, 0, 0, 4), 100, 104);
    s.update(&id(7, 0, 5, 9), 105, 109);
    assert_eq!(
        s.check(&id(7, 0, 0, 4))
            .expect("dup")
            .map(|b| b.first_offset),
        Some(100)
    );
    assert_eq!(s.check(&id(7, 0, 10, 12)), Ok(None));
    assert!(matches!(
        s.check(&id(7, 0, 12, 14)),
        Err(SequenceError::OutOfOrder { .. })
    ));
    s.update(&id(7, 1, 0, 0), 110, 110);
    assert!(matches!(
        s.check(&id(7, 0, 1, 1)),
        Err(SequenceError::FencedEpoch { .. })
    ));
    assert!(
        matches!(
            s.check(&id(7, 2, 5, 5)),
            Err(SequenceError::OutOfOrder { .. })
        ),
        "a new epoch starts at 0"
    );
    assert_eq!(
        s.check(&id(8, 0, 42, 42)),
        Ok(None),
        "an unknown producer may start anywhere"
    );
}

#[test]
fn only_the_last_five_batches_are_remembered() {
    let mut s = ProducerState::default();
    for i in 0..7 {
        s.update(&id(1, 0, i, i), i64::from(i), i64::from(i));
    }
    assert!(matches!(
        s.check(&id(1, 0, 1, 1)),
        Err(SequenceError::OutOfOrder { .. })
    ));
    assert!(s.check(&id(1, 0, 2, 2)).expect("dup").is_some());
}

#[test]
fn sequences_wrap_at_i32_max() {
    let mut s = ProducerState::default();
    s.update(&id(1, 0, i32::MAX - 1, i32::MAX), 0, 1);
    assert_eq!(s.check(&id(1, 0, 0, 3)), Ok(None));
}

#[test]
fn snapshots_round_trip_and_damage_is_detected() {
    let mut s = ProducerState::default();
    s.update(&id(1, 3, 0, 9), 0, 9);
    s.update(&id(2, 0, 5, 5), 10, 10);
    let bytes = s.snapshot(11);
    assert_eq!(ProducerState::from_snapshot(&bytes), Some((11, s.clone())));
    for i in 0..bytes.len() {
        let mut bad = bytes.clone();
        bad[i] ^= 0x40;
        assert_eq!(ProducerState::from_snapshot(&bad), None, "flip at {i}");
        assert_eq!(
            ProducerState::from_snapshot(&bytes[..i]),
            None,
            "cut at {i}"
        );
    }
}

#[test]
fn the_newest_intact_snapshot_at_or_below_an_offset_is_loaded() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut s = ProducerState::default();
    s.update(&id(1, 0, 0, 0), 0, 0);
    write_snapshot(dir.path(), 1, &s.snapshot(1)).expect("write");
    s.update(&id(1, 0, 1, 1), 1, 1);
    write_snapshot(dir.path(), 2, &s.snapshot(2)).expect("write");
    std::fs::write(snapshot_path(dir.path(), 3), b"garbage").expect("write");
    let (offset, loaded) = load_snapshot(dir.path(), 10).expect("load").expect("found");
    assert_eq!((offset, loaded), (2, s.clone()));
    assert_eq!(
        load_snapshot(dir.path(), 1).expect("load").map(|(o, _)| o),
        Some(1)
    );
}

use crate::protocol::records::control::{marker_batch, ControlMarker};
use crate::protocol::records::{RecordBatchBuilder, RecordSpec};

/// A batch of `n` records from producer `pid`, transactional or not.
fn data(pid: i64, epoch: i16, seq: i32, n: usize, txn: bool) -> Vec<u8> {
    let mut b = RecordBatchBuilder::new(0, 1_000)
        .producer(pid, epoch, seq)
        .transactional(txn);
    for _ in 0..n {
        b = b.record(RecordSpec::new(None, Some(b"v")));
    }
    b.build()
}

fn marker(pid: i64, epoch: i16, commit: bool) -> Vec<u8> {
    marker_batch(
        pid,
        epoch,
        ControlMarker {
            commit,
            coordinator_epoch: 4,
        },
        2_000,
    )
}

fn apply(s: &mut ProducerState, bytes: &[u8], at: i64) -> Option<CompletedTxn> {
    let batch = RecordBatch::parse(bytes).expect("batch");
    s.apply(&batch, at, batch.max_timestamp())
}

#[test]
fn a_transaction_opens_at_its_first_batch_and_its_marker_closes_it() {
    let mut s = ProducerState::default();
    assert_eq!(apply(&mut s, &data(1, 0, 0, 3, true), 10), None);
    assert_eq!(apply(&mut s, &data(1, 0, 3, 2, true), 13), None);
    assert_eq!(s.first_unstable_offset(), Some(10));
    assert_eq!(s.last_stable_offset(20), 10);
    let done = apply(&mut s, &marker(1, 0, false), 15);
    assert_eq!(
        done,
        Some(CompletedTxn {
            producer_id: 1,
            first_offset: 10,
            last_offset: 15,
            commit: false
        })
    );
    assert_eq!(s.first_unstable_offset(), None);
    assert_eq!(s.last_stable_offset(16), 16, "the high watermark");
    let p = s.active_producers();
    assert_eq!(p.len(), 1);
    assert_eq!(
        (
            p[0].last_sequence,
            p[0].coordinator_epoch,
            p[0].current_txn_start_offset
        ),
        (4, 4, -1)
    );
    assert_eq!(p[0].last_timestamp, 2_000);
}

#[test]
fn the_lso_is_the_oldest_open_transaction_over_all_producers() {
    let mut s = ProducerState::default();
    apply(&mut s, &data(1, 0, 0, 1, false), 0);
    assert_eq!(s.first_unstable_offset(), None, "not transactional");
    apply(&mut s, &data(2, 0, 0, 1, true), 1);
    apply(&mut s, &data(3, 0, 0, 1, true), 2);
    apply(&mut s, &data(2, 0, 1, 1, true), 3);
    assert_eq!(s.last_stable_offset(4), 1);
    let done = apply(&mut s, &marker(2, 0, true), 4).expect("completed");
    assert!(done.commit);
    assert_eq!(s.last_stable_offset(5), 2, "producer 3's still open");
    let aborted = apply(&mut s, &marker(3, 0, false), 5).expect("completed");
    assert_eq!(
        s.aborted_entry(&aborted).last_stable_offset,
        6,
        "none open: the offset after the marker"
    );
    assert_eq!(s.last_stable_offset(6), 6);
}

#[test]
fn a_transactional_batch_without_a_sequence_still_opens_the_transaction() {
    let mut s = ProducerState::default();
    apply(&mut s, &data(5, 2, -1, 1, true), 7);
    assert_eq!(s.first_unstable_offset(), Some(7));
    assert_eq!(s.active_producers()[0].producer_epoch, 2);
    assert_eq!(s.active_producers()[0].last_sequence, -1);
    let done = apply(&mut s, &marker(5, 2, true), 8).expect("completed");
    assert_eq!((done.first_offset, done.last_offset), (7, 8));
}

#[test]
fn a_marker_with_a_newer_epoch_bumps_it_and_an_older_one_is_fenced() {
    let mut s = ProducerState::default();
    apply(&mut s, &data(1, 0, 0, 1, true), 0);
    assert_eq!(s.check_epoch(1, 0), Ok(()));
    apply(&mut s, &marker(1, 1, false), 1);
    assert!(
        s.check(&id(1, 0, 1, 1)).is_err(),
        "the old epoch's batches are fenced"
    );
    assert_eq!(
        s.check(&id(1, 1, 0, 0)),
        Ok(None),
        "not a duplicate: the old epoch's batches were forgotten"
    );
    assert!(matches!(
        s.check_epoch(1, 0),
        Err(SequenceError::FencedEpoch { current: 1, .. })
    ));
    assert_eq!(s.check_epoch(99, 0), Ok(()), "unknown producers pass");
    let done = apply(&mut s, &marker(1, 1, true), 2).expect("completed");
    assert_eq!(
        (done.first_offset, done.last_offset),
        (2, 2),
        "nothing open: the marker's own offset, as Kafka"
    );
}

#[test]
fn snapshots_v2_keep_open_transactions_and_v1_files_still_load() {
    let mut s = ProducerState::default();
    apply(&mut s, &data(1, 3, 0, 2, true), 100);
    apply(&mut s, &data(2, 0, 0, 1, false), 102);
    apply(&mut s, &data(4, 0, -1, 1, true), 103);
    apply(&mut s, &marker(4, 0, false), 104);
    let bytes = s.snapshot(105);
    let (offset, loaded) = ProducerState::from_snapshot(&bytes).expect("v2");
    assert_eq!((offset, &loaded), (105, &s));
    assert_eq!(loaded.first_unstable_offset(), Some(100));
    assert_eq!(loaded.active_producers(), s.active_producers());

    // A version 1 file as the previous release wrote it: one producer, one batch.
    let mut v1 = Vec::new();
    v1.extend_from_slice(MAGIC);
    v1.extend_from_slice(&1u16.to_be_bytes());
    v1.extend_from_slice(&9i64.to_be_bytes());
    v1.extend_from_slice(&1u32.to_be_bytes());
    v1.extend_from_slice(&7i64.to_be_bytes());
    v1.extend_from_slice(&2i16.to_be_bytes());
    v1.push(1);
    for v in [0i32, 4] {
        v1.extend_from_slice(&v.to_be_bytes());
    }
    for v in [0i64, 4] {
        v1.extend_from_slice(&v.to_be_bytes());
    }
    let crc = crc32c::crc32c(&v1);
    v1.extend_from_slice(&crc.to_be_bytes());
    let (offset, old) = ProducerState::from_snapshot(&v1).expect("v1");
    assert_eq!(offset, 9);
    assert_eq!(old.first_unstable_offset(), None);
    assert_eq!(
        old.check(&id(7, 2, 0, 4))
            .expect("dup")
            .map(|b| b.last_offset),
        Some(4)
    );
}
