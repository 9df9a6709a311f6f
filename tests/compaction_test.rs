//! Log compaction end to end: rdkafka producers and consumers against a real broker
//! (and the `aeon` binary, killed in the middle of a cleaning).

mod common;

use common::{
    admin_at, aeon_serving, assigned_consumer, client_config, consume, create_topic_with,
    produce_all, producer_with, AeonProcess, Deliveries, Got, TestBroker,
};
use rdkafka::admin::{NewTopic, TopicReplication};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

const KEYS: usize = 1_000;

fn fast_cleaner(c: &mut aeon::config::Config) {
    c.set("log.cleaner.backoff.ms", "200").expect("backoff");
}

fn compacted_topic(bootstrap: &str, name: &str, extra: &[(&str, &str)]) {
    let mut topic = NewTopic::new(name, 1, TopicReplication::Fixed(1))
        .set("cleanup.policy", "compact")
        .set("segment.bytes", "1048576")
        .set("min.cleanable.dirty.ratio", "0.01");
    for (k, v) in extra {
        topic = topic.set(k, v);
    }
    create_topic_with(&admin_at(bootstrap), &topic);
}

/// Everything from the beginning up to the high watermark, with a fresh consumer.
fn read_all(bootstrap: &str, topic: &str) -> Vec<Got> {
    let consumer = assigned_consumer(
        client_config(bootstrap)
            .set("group.id", "compaction-reader")
            .set("enable.auto.commit", "false"),
        topic,
        1,
    );
    let (_, high) = consumer
        .fetch_watermarks(topic, 0, Duration::from_secs(10))
        .expect("watermarks");
    let mut out: Vec<Got> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while out.last().is_none_or(|g| g.offset < high - 1) && Instant::now() < deadline {
        out.extend(consume(&consumer, 1, Duration::from_millis(500)));
    }
    out
}

/// Polls `read_all` until `done` holds or a minute passes.
fn wait_for(bootstrap: &str, topic: &str, done: impl Fn(&[Got]) -> bool) -> Vec<Got> {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let got = read_all(bootstrap, topic);
        if done(&got) || Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn value(i: usize) -> Vec<u8> {
    format!("value-{i:08}-{}", "x".repeat(80)).into_bytes()
}

/// Produces `count` updates over [`KEYS`] keys, starting at update `from`; returns the
/// latest value per key.
fn produce_updates(
    producer: &BaseProducer<Deliveries>,
    topic: &str,
    from: usize,
    count: usize,
    latest: &mut BTreeMap<Vec<u8>, Vec<u8>>,
) {
    let records: Vec<(Vec<u8>, Vec<u8>)> = (from..from + count)
        .map(|i| (format!("key-{:04}", i % KEYS).into_bytes(), value(i)))
        .collect();
    produce_all(
        producer,
        records
            .iter()
            .map(|(k, v)| BaseRecord::to(topic).key(&k[..]).payload(&v[..])),
    );
    latest.extend(records);
}

fn partition_dir(data: &Path, topic: &str) -> PathBuf {
    data.join(format!("{topic}-0"))
}

/// Bytes the partition's files occupy on disk (allocated blocks, so the sparse
/// preallocation of the active segment counts only as far as it is written).
fn disk_bytes(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.blocks() * 512)
                .sum()
        })
        .unwrap_or(0)
}

/// Waits past `segment.ms`, then appends a marker so every update sits in a rolled
/// segment (the cleaner never touches the active one).
fn roll_with_marker(producer: &BaseProducer<Deliveries>, topic: &str, segment_ms: u64) {
    std::thread::sleep(Duration::from_millis(segment_ms + 200));
    produce_all(
        producer,
        [BaseRecord::to(topic)
            .key(&b"~marker"[..])
            .payload(&b"end"[..])],
    );
}

fn assert_latest_per_key(got: &[Got], latest: &BTreeMap<Vec<u8>, Vec<u8>>) {
    let mut seen = BTreeMap::new();
    for g in got {
        let key = g.key.clone().expect("every record has a key");
        assert!(
            seen.insert(key, g.value.clone()).is_none(),
            "one record per key"
        );
    }
    assert!(
        got.windows(2).all(|w| w[0].offset < w[1].offset),
        "offset order"
    );
    for (k, v) in latest {
        assert_eq!(seen.get(k), Some(&Some(v.clone())), "latest value of {k:?}");
    }
}

#[test]
fn a_consumer_from_the_beginning_sees_exactly_the_latest_value_per_key() {
    let broker = TestBroker::start_with(fast_cleaner);
    let bootstrap = broker.bootstrap();
    compacted_topic(&bootstrap, "compacted", &[("segment.ms", "1000")]);
    let mut latest = BTreeMap::new();
    // Half of the updates lz4-compressed, so the cleaner decodes and re-encodes them.
    let lz4 = broker.producer(&[("compression.type", "lz4"), ("linger.ms", "20")]);
    produce_updates(&lz4, "compacted", 0, 50_000, &mut latest);
    let plain = broker.producer(&[("linger.ms", "20")]);
    produce_updates(&plain, "compacted", 50_000, 50_000, &mut latest);
    let dir = partition_dir(broker.dir.path(), "compacted");
    let segments = std::fs::read_dir(&dir)
        .expect("dir")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".log"))
        })
        .count();
    roll_with_marker(&plain, "compacted", 1000);
    let got = wait_for(&bootstrap, "compacted", |g| g.len() == KEYS + 1);
    assert_eq!(got.len(), KEYS + 1, "1000 latest values and the marker");
    assert_latest_per_key(&got[..KEYS], &latest);
    assert_eq!(got[KEYS].key.as_deref(), Some(&b"~marker"[..]));
    assert_eq!(got[KEYS].offset, 100_000, "offsets are kept");
    eprintln!(
        "compaction: 100000 updates over {KEYS} keys in {segments} segments -> {} bytes on disk",
        disk_bytes(&dir)
    );
}

#[test]
fn tombstoned_keys_disappear_after_delete_retention_ms() {
    let broker = TestBroker::start_with(fast_cleaner);
    let bootstrap = broker.bootstrap();
    compacted_topic(
        &bootstrap,
        "tombstones",
        &[("segment.ms", "500"), ("delete.retention.ms", "4000")],
    );
    let producer = broker.producer(&[]);
    let keys: Vec<Vec<u8>> = (0..10).map(|i| format!("k{i}").into_bytes()).collect();
    produce_all(
        &producer,
        keys.iter()
            .map(|k| BaseRecord::to("tombstones").key(&k[..]).payload(&b"v"[..])),
    );
    // Tombstones (null values) for k0..k4.
    produce_all(
        &producer,
        keys[..5]
            .iter()
            .map(|k| BaseRecord::<[u8], [u8]>::to("tombstones").key(&k[..])),
    );
    roll_with_marker(&producer, "tombstones", 500);
    let started = Instant::now();
    let got = wait_for(&bootstrap, "tombstones", |g| g.len() <= 11);
    assert_eq!(got.len(), 11, "5 values, 5 tombstones, the marker: {got:?}");
    assert_eq!(got.iter().filter(|g| g.value.is_none()).count(), 5);
    let got = wait_for(&bootstrap, "tombstones", |g| g.len() == 6);
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "kept for delete.retention.ms"
    );
    let keys_left: Vec<_> = got.iter().filter_map(|g| g.key.clone()).collect();
    let mut expected: Vec<Vec<u8>> = keys[5..].to_vec();
    expected.push(b"~marker".to_vec());
    assert_eq!(keys_left, expected);
    assert!(got.iter().all(|g| g.value.is_some()));
}

#[test]
fn a_record_without_a_key_is_rejected_on_a_compacted_topic() {
    let broker = TestBroker::start();
    let bootstrap = broker.bootstrap();
    compacted_topic(&bootstrap, "keyed-only", &[]);
    broker.create_topic("anything-goes", 1);
    let producer = broker.producer(&[("retries", "0")]);
    producer
        .send(BaseRecord::<[u8], [u8]>::to("keyed-only").payload(&b"no key"[..]))
        .expect("queued");
    producer.flush(Duration::from_secs(20)).expect("flushed");
    assert_eq!(producer.context().failed.load(Ordering::Relaxed), 1);
    let producer = broker.producer(&[]);
    produce_all(
        &producer,
        [BaseRecord::<[u8], [u8]>::to("anything-goes").payload(&b"no key"[..])],
    );
    produce_all(
        &producer,
        [BaseRecord::to("keyed-only")
            .key(&b"k"[..])
            .payload(&b"v"[..])],
    );
}

#[test]
fn disk_use_of_a_compacted_topic_stays_flat_under_updates() {
    let broker = TestBroker::start_with(fast_cleaner);
    let bootstrap = broker.bootstrap();
    compacted_topic(&bootstrap, "updates", &[("segment.ms", "300")]);
    let dir = partition_dir(broker.dir.path(), "updates");
    let producer = broker.producer(&[("linger.ms", "20")]);
    let mut latest = BTreeMap::new();
    let mut sizes = Vec::new();
    let rounds = 30;
    for round in 0..rounds {
        produce_updates(&producer, "updates", round * 10_000, 10_000, &mut latest);
        std::thread::sleep(Duration::from_millis(400));
        sizes.push(disk_bytes(&dir));
    }
    roll_with_marker(&producer, "updates", 300);
    let got = wait_for(&bootstrap, "updates", |g| g.len() == KEYS + 1);
    assert_latest_per_key(&got[..KEYS], &latest);
    let written = (rounds * 10_000 * (value(0).len() + 8)) as u64;
    let max = *sizes.iter().max().expect("sizes");
    let last_third = &sizes[sizes.len() * 2 / 3..];
    eprintln!(
        "disk use under updates: {written} bytes of records written; on disk per round (KiB): {:?}; final {} KiB",
        sizes.iter().map(|s| s / 1024).collect::<Vec<_>>(),
        disk_bytes(&dir) / 1024
    );
    assert!(max < written / 4, "max {max} of {written}");
    assert!(
        last_third.iter().all(|&s| s < 8 * 1024 * 1024),
        "flat, not growing: {sizes:?}"
    );
}

#[test]
fn a_broker_killed_during_a_cleaning_restarts_with_an_intact_log() {
    let data = tempfile::tempdir().expect("tmp");
    let slow = [
        ("AEON_LOG_CLEANER_BACKOFF_MS", "100"),
        ("AEON_LOG_CLEANER_IO_MAX_BYTES_PER_SECOND", "400000"),
    ];
    let mut aeon = AeonProcess::spawn(aeon_serving(data.path(), 0).envs(slow));
    let addr = aeon.addr.clone();
    compacted_topic(&addr, "killed", &[("segment.ms", "1000")]);
    let producer = producer_with(&client_config(&addr), &[("linger.ms", "20")]);
    let mut latest = BTreeMap::new();
    produce_updates(&producer, "killed", 0, 30_000, &mut latest);
    roll_with_marker(&producer, "killed", 1000);
    drop(producer);
    // Kill -9 while a cleaning is writing its `.cleaned` segment.
    let dir = partition_dir(data.path(), "killed");
    let deadline = Instant::now() + Duration::from_secs(60);
    let cleaning = || {
        std::fs::read_dir(&dir).is_ok_and(|entries| {
            entries.filter_map(Result::ok).any(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name.ends_with(".cleaned") || name.ends_with(".swap")
            })
        })
    };
    while !cleaning() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(cleaning(), "a cleaning was under way");
    aeon.sigkill();

    let aeon =
        AeonProcess::spawn(aeon_serving(data.path(), 0).env("AEON_LOG_CLEANER_BACKOFF_MS", "100"));
    let addr = &aeon.addr;
    let got = read_all(addr, "killed");
    assert!(
        got.len() > KEYS,
        "readable from the start: {} records",
        got.len()
    );
    assert!(got.windows(2).all(|w| w[0].offset < w[1].offset));
    let mut last: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    for g in &got {
        last.insert(g.key.clone().expect("key"), g.value.clone().expect("value"));
    }
    for (k, v) in &latest {
        assert_eq!(
            last.get(k),
            Some(v),
            "latest value of {k:?} survives the kill"
        );
    }
    // The interrupted cleaning simply runs again.
    let got = wait_for(addr, "killed", |g| g.len() == KEYS + 1);
    assert_latest_per_key(&got[..KEYS], &latest);
}

fn small_offsets_log(c: &mut aeon::config::Config) {
    fast_cleaner(c);
    c.set("offsets.topic.num.partitions", "1")
        .expect("partitions");
    c.set("offsets.topic.segment.bytes", "1048576")
        .expect("segment bytes");
    c.set("log.roll.ms", "500").expect("roll");
}

#[test]
fn the_consumer_offsets_log_stays_bounded_under_repeated_commits() {
    use rdkafka::consumer::CommitMode;
    let mut broker = TestBroker::start_with(small_offsets_log);
    broker.create_topic("committed", 4);
    let consumer: BaseConsumer = broker
        .client_config()
        .set("group.id", "busy-committer")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let metadata = "m".repeat(2000);
    let dir = partition_dir(broker.dir.path(), "__consumer_offsets");
    let commits = 3_000;
    let mut sizes = Vec::new();
    for i in 0..commits {
        let mut tpl = TopicPartitionList::new();
        for p in 0..4 {
            tpl.add_partition_offset("committed", p, Offset::Offset(i))
                .expect("tpl");
        }
        for mut e in tpl.elements() {
            e.set_metadata(&metadata);
        }
        consumer.commit(&tpl, CommitMode::Sync).expect("commit");
        if i % 500 == 499 {
            sizes.push(disk_bytes(&dir));
        }
    }
    // Let the last segment roll (log.roll.ms) and the cleaner catch up.
    std::thread::sleep(Duration::from_millis(600));
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset("committed", 0, Offset::Offset(commits))
        .expect("tpl");
    consumer.commit(&tpl, CommitMode::Sync).expect("commit");
    let deadline = Instant::now() + Duration::from_secs(30);
    while disk_bytes(&dir) > 2 * 1024 * 1024 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    let written = commits as u64 * 4 * 2100;
    let end = disk_bytes(&dir);
    eprintln!(
        "__consumer_offsets: ~{written} bytes of commits; on disk every 500 commits (KiB): {:?}; final {} KiB",
        sizes.iter().map(|s| s / 1024).collect::<Vec<_>>(),
        end / 1024
    );
    assert!(end <= 2 * 1024 * 1024, "bounded: {end} bytes");
    // The latest commits are what the group reads back after a restart, which
    // replays the compacted log.
    drop(consumer);
    broker.restart();
    let consumer: BaseConsumer = broker
        .client_config()
        .set("group.id", "busy-committer")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut query = TopicPartitionList::new();
    for p in 0..4 {
        query.add_partition("committed", p);
    }
    let committed = consumer
        .committed_offsets(query, Duration::from_secs(10))
        .expect("committed");
    let offsets: Vec<_> = committed.elements().iter().map(|e| e.offset()).collect();
    assert_eq!(
        offsets,
        vec![
            Offset::Offset(commits),
            Offset::Offset(commits - 1),
            Offset::Offset(commits - 1),
            Offset::Offset(commits - 1)
        ]
    );
}

fn codec_id(name: &str) -> u8 {
    match name {
        "gzip" => 1,
        "snappy" => 2,
        "lz4" => 3,
        _ => 4,
    }
}

#[test]
fn batches_rewritten_with_every_codec_are_read_back_by_librdkafka() {
    let broker = TestBroker::start_with(fast_cleaner);
    let bootstrap = broker.bootstrap();
    for codec in ["gzip", "snappy", "lz4", "zstd"] {
        let topic = format!("codec-{codec}");
        compacted_topic(&bootstrap, &topic, &[("segment.ms", "300")]);
        let producer = broker.producer(&[("compression.type", codec), ("linger.ms", "50")]);
        // Updates of 100 keys, many per batch: survivors must be re-encoded.
        let records: Vec<(Vec<u8>, Vec<u8>)> = (0..3_000)
            .map(|i| (format!("key-{:03}", i % 100).into_bytes(), value(i)))
            .collect();
        produce_all(
            &producer,
            records
                .iter()
                .map(|(k, v)| BaseRecord::to(&topic).key(&k[..]).payload(&v[..])),
        );
        let latest: BTreeMap<Vec<u8>, Vec<u8>> = records.into_iter().collect();
        roll_with_marker(&producer, &topic, 300);
        let got = wait_for(&bootstrap, &topic, |g| g.len() == 101);
        assert_eq!(got.len(), 101, "{codec}");
        assert_latest_per_key(&got[..100], &latest);
        // On disk: the survivors sit in batches of the same codec, rewritten with
        // offset gaps (fewer records than their offset span).
        let segment = partition_dir(broker.dir.path(), &topic).join(format!("{:020}.log", 0));
        let bytes = std::fs::read(&segment).expect("first segment");
        let batches: Vec<_> = aeon::protocol::records::BatchIter::new(&bytes).collect();
        assert!(batches
            .iter()
            .all(|b| b.compression().ok().map(|c| c.id()) == Some(codec_id(codec))));
        assert!(
            batches
                .iter()
                .any(|b| i64::from(b.record_count()) < b.last_offset() - b.base_offset() + 1),
            "{codec}: a rewritten batch"
        );
    }
}

/// A compacted topic refuses records without a key with INVALID_RECORD, compressed or
/// not (the compressed ones are decompressed for the check off the connection's thread),
/// and keeps what it accepts in order.
#[test]
fn a_compacted_topic_refuses_keyless_records_in_any_codec() {
    use aeon::protocol::records::compression::compress_batch;
    use aeon::protocol::records::{Compression, RecordBatchBuilder, RecordSpec};
    let broker = TestBroker::start();
    broker.create_topic_with(
        &NewTopic::new("keyed", 1, TopicReplication::Fixed(1)).set("cleanup.policy", "compact"),
    );
    let batch = |keyless: bool| {
        RecordBatchBuilder::new(0, 1)
            .record(RecordSpec::new(Some(b"k"), Some(b"v")))
            .record(RecordSpec::new(
                (!keyless).then_some(&b"k2"[..]),
                Some(b"v2"),
            ))
            .build()
    };
    let mut s = std::net::TcpStream::connect(broker.bootstrap()).expect("connect");
    let mut accepted = 0;
    for codec in [Compression::None, Compression::Gzip, Compression::Zstd] {
        for keyless in [true, false] {
            let bytes = compress_batch(&batch(keyless), codec).expect("compress");
            let p = common::produce_raw(&mut s, "keyed", None, bytes);
            let expected = if keyless { 87 } else { 0 };
            assert_eq!(p.error_code, expected, "{codec:?} keyless={keyless}");
            if !keyless {
                assert_eq!(p.base_offset, accepted * 2, "{codec:?}");
                accepted += 1;
            }
        }
    }
}
