use super::*;
use crate::protocol::records::{RecordBatchBuilder, RecordSpec};

fn batch(n: usize) -> Bytes {
    let mut b = RecordBatchBuilder::new(0, 1_700_000_000_000);
    for i in 0..n {
        b = b.record(RecordSpec::new(
            Some(format!("k{i}").as_bytes()),
            Some(b"value"),
        ));
    }
    Bytes::from(b.build())
}

fn small_config() -> LogConfig {
    LogConfig {
        segment_bytes: 1 << 20,
        ..LogConfig::default()
    }
}

fn start_partition(
    dir: &std::path::Path,
) -> (Addr<PartitionActor>, watch::Receiver<PartitionOffsets>) {
    let log = open_log(dir.join("t-0"), small_config()).expect("open");
    start(
        &actix::Arbiter::current(),
        "t-0".into(),
        log,
        Duration::from_secs(60),
    )
}

#[actix::test]
async fn appends_get_consecutive_offsets_and_fetch_reads_them_back() {
    let dir = tempfile::tempdir().expect("tmp");
    let (p, offsets) = start_partition(dir.path());
    let a = p
        .send(Append {
            batch: batch(3),
            wait_for_fsync: false,
        })
        .await
        .expect("mailbox")
        .expect("append");
    let b = p
        .send(Append {
            batch: batch(2),
            wait_for_fsync: true,
        })
        .await
        .expect("mailbox")
        .expect("append");
    assert_eq!((a.base_offset, a.last_offset), (0, 2));
    assert_eq!((b.base_offset, b.last_offset), (3, 4));
    assert_eq!(offsets.borrow().high_watermark, 5);
    let data = p
        .send(Fetch {
            offset: 3,
            max_bytes: 1 << 20,
            wait: None,
            isolation: IsolationLevel::ReadUncommitted,
        })
        .await
        .expect("mailbox")
        .expect("fetch");
    let first = crate::protocol::records::RecordBatch::parse(&data.records).expect("batch");
    assert_eq!(first.base_offset(), 3);
    let err = p
        .send(Fetch {
            offset: 6,
            max_bytes: 100,
            wait: None,
            isolation: IsolationLevel::ReadUncommitted,
        })
        .await
        .expect("mailbox");
    assert!(matches!(err, Err(PartitionError::OffsetOutOfRange { .. })));
}

#[actix::test]
async fn a_waiting_fetch_is_woken_by_an_append() {
    let dir = tempfile::tempdir().expect("tmp");
    let (p, _) = start_partition(dir.path());
    let waiting = p.send(Fetch {
        offset: 0,
        max_bytes: 1 << 20,
        wait: Some(Duration::from_secs(30)),
        isolation: IsolationLevel::ReadUncommitted,
    });
    let started = Instant::now();
    let appender = p.clone();
    actix_rt::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        appender
            .send(Append {
                batch: batch(1),
                wait_for_fsync: false,
            })
            .await
            .expect("mailbox")
            .expect("append");
    });
    let data = waiting.await.expect("mailbox").expect("fetch");
    assert!(!data.records.is_empty(), "woken with the appended batch");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "woken by the append, not by the wait running out"
    );
}

#[actix::test]
async fn each_parked_fetch_is_answered_at_its_own_deadline_under_one_timer() {
    let dir = tempfile::tempdir().expect("tmp");
    let (p, _) = start_partition(dir.path());
    let park = |wait: Duration| {
        p.send(Fetch {
            offset: 0,
            max_bytes: 100,
            wait: Some(wait),
            isolation: IsolationLevel::ReadUncommitted,
        })
    };
    // A long wait arms the timer first; a shorter one parked after it must not be
    // held back to the long one's deadline.
    let long = park(Duration::from_secs(30));
    let started = Instant::now();
    let short = park(Duration::from_millis(100))
        .await
        .expect("mailbox")
        .expect("fetch");
    assert!(short.records.is_empty());
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "answered at its own deadline ({:?})",
        started.elapsed()
    );
    let shorter_still = park(Duration::from_millis(50));
    shorter_still.await.expect("mailbox").expect("fetch");
    // The long one is still parked and is answered by data.
    p.send(Append {
        batch: batch(1),
        wait_for_fsync: false,
    })
    .await
    .expect("mailbox")
    .expect("append");
    let data = long.await.expect("mailbox").expect("fetch");
    assert!(!data.records.is_empty());
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[actix::test]
async fn a_waiting_fetch_with_no_data_returns_empty_when_its_wait_ends() {
    let dir = tempfile::tempdir().expect("tmp");
    let (p, _) = start_partition(dir.path());
    let data = p
        .send(Fetch {
            offset: 0,
            max_bytes: 100,
            wait: Some(Duration::from_millis(50)),
            isolation: IsolationLevel::ReadUncommitted,
        })
        .await
        .expect("mailbox")
        .expect("fetch");
    assert!(data.records.is_empty());
}

#[actix::test]
async fn a_failed_partition_is_restarted_and_reopens_its_log() {
    let dir = tempfile::tempdir().expect("tmp");
    let (p, _) = start_partition(dir.path());
    p.send(Append {
        batch: batch(4),
        wait_for_fsync: false,
    })
    .await
    .expect("mailbox")
    .expect("append");
    p.send(InjectFailure).await.expect("mailbox");
    // The supervisor restarts the actor; the same address serves the reopened log.
    let after = p
        .send(Append {
            batch: batch(1),
            wait_for_fsync: false,
        })
        .await
        .expect("mailbox")
        .expect("append after restart");
    assert_eq!(after.base_offset, 4, "the reopened log kept every offset");
    let (_, offset) = p
        .send(ListOffset {
            timestamp: -1,
            isolation: IsolationLevel::ReadUncommitted,
        })
        .await
        .expect("mailbox")
        .expect("list");
    assert_eq!(offset, 5);
}

fn producer_batch(producer_id: i64, epoch: i16, base_sequence: i32, n: usize) -> Bytes {
    let mut b =
        RecordBatchBuilder::new(0, 1_700_000_000_000).producer(producer_id, epoch, base_sequence);
    for _ in 0..n {
        b = b.record(RecordSpec::new(None, Some(b"v")));
    }
    Bytes::from(b.build())
}

#[actix::test]
async fn idempotent_batches_are_deduplicated_and_checked_across_restarts() {
    let dir = tempfile::tempdir().expect("tmp");
    let (p, _) = start_partition(dir.path());
    let append = |batch| Append {
        batch,
        wait_for_fsync: false,
    };
    let first = p
        .send(append(producer_batch(9, 0, 0, 3)))
        .await
        .expect("mailbox")
        .expect("append");
    p.send(append(producer_batch(9, 0, 3, 2)))
        .await
        .expect("mailbox")
        .expect("append");
    let dup = p
        .send(append(producer_batch(9, 0, 0, 3)))
        .await
        .expect("mailbox")
        .expect("duplicate");
    assert_eq!(
        (dup.base_offset, dup.last_offset),
        (first.base_offset, first.last_offset),
        "the original offsets"
    );
    let gap = p
        .send(append(producer_batch(9, 0, 7, 1)))
        .await
        .expect("mailbox");
    assert!(matches!(gap, Err(PartitionError::OutOfOrderSequence(_))));
    p.send(append(producer_batch(9, 1, 0, 1)))
        .await
        .expect("mailbox")
        .expect("new epoch");
    let fenced = p
        .send(append(producer_batch(9, 0, 5, 1)))
        .await
        .expect("mailbox");
    assert!(matches!(
        fenced,
        Err(PartitionError::InvalidProducerEpoch(_))
    ));
    let (_, end) = p
        .send(ListOffset {
            timestamp: -1,
            isolation: IsolationLevel::ReadUncommitted,
        })
        .await
        .expect("mailbox")
        .expect("end");
    assert_eq!(end, 6, "the duplicate was not written again");

    // After a crash (no clean close) the state is rebuilt from the log.
    p.send(InjectFailure).await.expect("mailbox");
    let dup = p
        .send(append(producer_batch(9, 1, 0, 1)))
        .await
        .expect("mailbox")
        .expect("duplicate after restart");
    assert_eq!(dup.base_offset, 5);
    // After a clean close it comes from the snapshot.
    p.send(Close { delete: false })
        .await
        .expect("mailbox")
        .expect("close");
    assert!(std::fs::read_dir(dir.path().join("t-0"))
        .expect("dir")
        .flatten()
        .any(|e| e.file_name().to_string_lossy().ends_with(".snapshot")));
    let (p, _) = start_partition(dir.path());
    let dup = p
        .send(append(producer_batch(9, 1, 0, 1)))
        .await
        .expect("mailbox")
        .expect("duplicate after reopen");
    assert_eq!(dup.base_offset, 5);
    let next = p
        .send(append(producer_batch(9, 1, 1, 1)))
        .await
        .expect("mailbox")
        .expect("next in sequence");
    assert_eq!(next.base_offset, 6);
}
