//! Crash consistency of the real `aeon` binary.
//!
//! `kill -9` at random moments: producers produce with acks=all under
//! `log.flush.before.ack`, a committer commits group offsets up to the acknowledged data, and the broker is
//! SIGKILLed and restarted 20 times. Afterwards every acknowledged message is present
//! at the offset it was acknowledged with, in the order it was produced, undamaged
//! (payloads and CRCs checked), nothing is stored twice, and no committed group offset
//! is ahead of the data.
//!
//! SIGTERM: a clean shutdown, after which the next start recovers nothing (the broker
//! logs "log recovered after an unclean shutdown" for each partition it had to scan).

mod common;

use common::{aeon_serving, client_config, create_topic_at, producer_with, AeonProcess};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{ClientContext, Message, Offset, TopicPartitionList};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TOPIC: &str = "crash";
const PARTITIONS: i32 = 3;
const CYCLES: usize = 20;
const GROUP: &str = "crash-group";
const RECOVERED_LINE: &str = "log recovered after an unclean shutdown";

fn start_aeon(data_dir: &Path, config: &Path) -> AeonProcess {
    AeonProcess::spawn(aeon_serving(data_dir, 0).arg("--config").arg(config))
}

/// The partitions `aeon` scanned to recover them, by its log.
fn recovered_partitions(aeon: &AeonProcess) -> usize {
    aeon.log_lines_containing(RECOVERED_LINE)
}

fn write_config(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("aeon.toml");
    std::fs::write(
        &path,
        format!(
            "\"log.flush.before.ack\" = true\n\
             \"num.partitions\" = {PARTITIONS}\n\
             \"num.network.threads\" = 2\n\
             \"log.segment.bytes\" = 1048576\n\
             \"group.initial.rebalance.delay.ms\" = 0\n"
        ),
    )
    .expect("config");
    path
}

/// An acknowledgement: the producer's sequence number and the offset it got.
type Acks = Arc<Mutex<Vec<(u64, i64)>>>;

/// Records the offset of every acknowledged message.
#[derive(Clone, Default)]
struct AckLog(Acks);

impl ClientContext for AckLog {}

impl ProducerContext for AckLog {
    type DeliveryOpaque = Box<u64>;

    fn delivery(&self, result: &DeliveryResult<'_>, seq: Box<u64>) {
        if let Ok(m) = result {
            self.0.lock().expect("acks").push((*seq, m.offset()));
        }
    }
}

fn payload(partition: i32, seq: u64) -> String {
    format!("p{partition}-{seq:08}-{}", "x".repeat((seq % 97) as usize))
}

fn parse_payload(partition: i32, bytes: &[u8]) -> u64 {
    let text = std::str::from_utf8(bytes).expect("payload is UTF-8");
    let mut parts = text.splitn(3, '-');
    assert_eq!(
        parts.next(),
        Some(format!("p{partition}").as_str()),
        "{text}"
    );
    let seq: u64 = parts.next().and_then(|s| s.parse().ok()).expect("seq");
    assert_eq!(text, payload(partition, seq), "payload intact");
    seq
}

/// One producer per partition: produces with acks=all until `stop`, numbering its
/// messages from `next_seq`. Returns the next unused sequence number.
fn produce_until(addr: &str, partition: i32, mut seq: u64, acks: Acks, stop: &AtomicBool) -> u64 {
    let producer: BaseProducer<AckLog> = client_config(addr)
        .set("acks", "all")
        .set("retries", "0")
        .set("linger.ms", "2")
        .set("message.timeout.ms", "1500")
        .set("socket.timeout.ms", "30000")
        .create_with_context(AckLog(acks))
        .expect("producer");
    while !stop.load(Ordering::Relaxed) {
        let p = payload(partition, seq);
        let record = BaseRecord::with_opaque_to(TOPIC, Box::new(seq))
            .partition(partition)
            .key(p.as_bytes())
            .payload(p.as_bytes());
        match producer.send::<[u8], [u8]>(record) {
            Ok(()) => seq += 1,
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
        producer.poll(Duration::from_millis(1));
    }
    // Whatever was in flight when the broker died fails or times out here.
    let _ = producer.flush(Duration::from_secs(10));
    seq
}

/// Commits, for the group, the offset after the newest acknowledged message of each
/// partition (where a consumer that read everything acknowledged would commit), with
/// raw OffsetCommit requests (a simple-consumer commit: generation -1, no member),
/// until `stop` or the broker dies. Returns the commits the broker accepted.
fn commit_acked(addr: &str, acks: &[Acks], stop: &AtomicBool) -> Vec<(i32, i64)> {
    use aeon::protocol::frame::decode_response;
    use aeon::protocol::messages::offset_commit_request::{
        OffsetCommitRequest, OffsetCommitRequestPartition, OffsetCommitRequestTopic,
    };
    use aeon::protocol::{ApiKey, Response};
    let mut accepted = Vec::new();
    let Ok(mut s) = std::net::TcpStream::connect(addr) else {
        return accepted;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let mut correlation_id = 0;
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(30));
        let partitions: Vec<OffsetCommitRequestPartition> = (0..PARTITIONS)
            .filter_map(|p| {
                let newest = acks[p as usize]
                    .lock()
                    .expect("acks")
                    .iter()
                    .map(|(_, o)| *o)
                    .max()?;
                Some(OffsetCommitRequestPartition {
                    partition_index: p,
                    committed_offset: newest + 1,
                    committed_leader_epoch: -1,
                    ..Default::default()
                })
            })
            .collect();
        if partitions.is_empty() {
            continue;
        }
        let request = OffsetCommitRequest {
            group_id: GROUP.into(),
            generation_id_or_member_epoch: -1,
            member_id: String::new(),
            retention_time_ms: -1,
            topics: vec![OffsetCommitRequestTopic {
                name: TOPIC.into(),
                partitions: partitions.clone(),
                ..Default::default()
            }],
            ..Default::default()
        };
        correlation_id += 1;
        // The broker is killed under this loop: a failed write or read ends it.
        let frame = common::request_frame(8, correlation_id, request.into());
        if s.write_all(&frame).is_err() {
            break;
        }
        let Ok(buf) = common::try_read_frame(&mut s) else {
            break;
        };
        let Ok((_, Response::OffsetCommit(r))) = decode_response(ApiKey::OffsetCommit, 8, buf)
        else {
            panic!("an OffsetCommit response")
        };
        for t in r.topics {
            for p in t.partitions.iter().filter(|p| p.error_code == 0) {
                if let Some(c) = partitions
                    .iter()
                    .find(|c| c.partition_index == p.partition_index)
                {
                    accepted.push((p.partition_index, c.committed_offset));
                }
            }
        }
    }
    accepted
}

/// Creates the topic and the group's first commit (which creates `__consumer_offsets`)
/// before the kills start, so that the short cycles spend their time producing and
/// committing rather than creating topics. Ends with a clean shutdown.
fn prepare(data: &Path, config: &Path) {
    let mut aeon = start_aeon(data, config);
    create_topic_at(&aeon.addr, TOPIC, PARTITIONS);
    let zero: Vec<Acks> = (0..PARTITIONS)
        .map(|_| Arc::new(Mutex::new(vec![(0, -1)])))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let stop = AtomicBool::new(false);
        let accepted = std::thread::scope(|s| {
            let committer = s.spawn(|| commit_acked(&aeon.addr, &zero, &stop));
            std::thread::sleep(Duration::from_secs(2));
            stop.store(true, Ordering::Relaxed);
            committer.join().expect("committer")
        });
        if !accepted.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the group's first commit is accepted"
        );
    }
    aeon.sigterm(Duration::from_secs(60));
}

/// A small deterministic generator for the kill moments.
struct Lcg(u64);

impl Lcg {
    fn next_ms(&mut self, lo: u64, hi: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        lo + (self.0 >> 33) % (hi - lo)
    }
}

#[test]
fn acknowledged_messages_survive_twenty_sigkills_in_order_and_intact() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("data");
    let config = write_config(dir.path());
    let acks: Vec<Acks> = (0..PARTITIONS).map(|_| Acks::default()).collect();
    let mut next_seq = vec![0u64; PARTITIONS as usize];
    let mut committed: Vec<(i32, i64)> = Vec::new();
    let seed = std::env::var("AEON_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    eprintln!("kill moments from seed {seed} (AEON_CRASH_SEED to repeat)");
    let mut rng = Lcg(seed);
    prepare(&data, &config);
    let mut recoveries = 0;
    for cycle in 0..CYCLES {
        let aeon = start_aeon(&data, &config);
        if cycle > 0 {
            recoveries += recovered_partitions(&aeon);
        }
        let stop = AtomicBool::new(false);
        let kill_after = Duration::from_millis(rng.next_ms(150, 700));
        std::thread::scope(|s| {
            let producers: Vec<_> = (0..PARTITIONS)
                .map(|p| {
                    let (addr, acks, seq, stop) = (
                        &aeon.addr,
                        acks[p as usize].clone(),
                        next_seq[p as usize],
                        &stop,
                    );
                    s.spawn(move || produce_until(addr, p, seq, acks, stop))
                })
                .collect();
            let committer = s.spawn(|| commit_acked(&aeon.addr, &acks, &stop));
            std::thread::sleep(kill_after);
            // Still producing and committing: the kill lands mid-traffic.
            kill_9(aeon.child.id());
            stop.store(true, Ordering::Relaxed);
            for (p, h) in producers.into_iter().enumerate() {
                next_seq[p] = h.join().expect("producer");
            }
            committed.extend(committer.join().expect("committer"));
        });
    }
    assert!(
        recoveries > 0,
        "restarts after SIGKILL recover (and say so in the log)"
    );

    // The verdict, from a final start.
    let aeon = start_aeon(&data, &config);
    let consumer: BaseConsumer = client_config(&aeon.addr)
        .set("group.id", "crash-verifier")
        .set("enable.auto.commit", "false")
        .set("check.crcs", "true")
        .create()
        .expect("consumer");
    let mut total_acked = 0;
    for p in 0..PARTITIONS {
        let (_, high) = consumer
            .fetch_watermarks(TOPIC, p, Duration::from_secs(30))
            .expect("watermarks");
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(TOPIC, p, Offset::Beginning)
            .expect("tpl");
        consumer.assign(&tpl).expect("assign");
        let mut stored: BTreeMap<i64, u64> = BTreeMap::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while (stored.len() as i64) < high && Instant::now() < deadline {
            match consumer.poll(Duration::from_millis(100)) {
                Some(Ok(m)) => {
                    let seq = parse_payload(p, m.payload().expect("payload"));
                    stored.insert(m.offset(), seq);
                }
                Some(Err(e)) => panic!("consuming partition {p}: {e}"),
                None => {}
            }
        }
        assert_eq!(
            stored.len() as i64,
            high,
            "partition {p}: every offset readable"
        );
        let unique: std::collections::BTreeSet<u64> = stored.values().copied().collect();
        assert_eq!(
            unique.len(),
            stored.len(),
            "partition {p}: no message stored twice"
        );
        let mut acked = acks[p as usize].lock().expect("acks").clone();
        total_acked += acked.len();
        for &(seq, offset) in &acked {
            assert_eq!(
                stored.get(&offset),
                Some(&seq),
                "partition {p}: acknowledged message {seq} at offset {offset}"
            );
        }
        // Acknowledged messages in the order they were produced. (An unacknowledged
        // one, whose request outlived its connection, may land anywhere after it.)
        acked.sort_unstable();
        let misordered = acked.windows(2).find(|w| w[0].1 >= w[1].1);
        assert_eq!(
            misordered, None,
            "partition {p}: acknowledged messages (seq, offset) in production order"
        );
        for &(cp, co) in committed.iter().filter(|(cp, _)| *cp == p) {
            assert!(
                co <= high,
                "partition {cp}: committed offset {co} is ahead of the data ({high})"
            );
        }
    }
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition(TOPIC, p);
    }
    let group: BaseConsumer = client_config(&aeon.addr)
        .set("group.id", GROUP)
        .create()
        .expect("consumer");
    let final_commits = group
        .committed_offsets(tpl, Duration::from_secs(30))
        .expect("committed offsets");
    for e in final_commits.elements() {
        if let Offset::Offset(o) = e.offset() {
            let (_, high) = consumer
                .fetch_watermarks(TOPIC, e.partition(), Duration::from_secs(30))
                .expect("watermarks");
            assert!(
                o <= high,
                "the group's committed offset {o} is past the data {high}"
            );
        }
    }
    eprintln!(
        "{CYCLES} SIGKILLs: {total_acked} acknowledged messages all present; {} commits; {recoveries} partition recoveries",
        committed.len()
    );
    assert!(total_acked > 0, "the producers got acknowledgements");
    assert!(!committed.is_empty(), "the committer got commits accepted");
}

fn kill_9(pid: u32) {
    let status = Command::new("kill")
        .arg("-KILL")
        .arg(pid.to_string())
        .status()
        .expect("kill");
    assert!(status.success(), "SIGKILL {pid}");
}

#[test]
fn sigterm_then_restart_does_no_recovery_scan() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("data");
    let config = write_config(dir.path());
    let mut aeon = start_aeon(&data, &config);
    let producer = producer_with(&client_config(&aeon.addr), &[]);
    common::produce_all(
        &producer,
        (0..3000).map(|i| {
            BaseRecord::<[u8], [u8]>::to(TOPIC)
                .partition(i % PARTITIONS)
                .payload(b"clean")
        }),
    );
    drop(producer);
    aeon.sigterm(Duration::from_secs(60));

    let mut aeon = start_aeon(&data, &config);
    // Metadata for the topic: its partitions are open once this answers.
    let consumer: BaseConsumer = client_config(&aeon.addr).create().expect("consumer");
    let mut total = 0;
    for p in 0..PARTITIONS {
        let (_, high) = consumer
            .fetch_watermarks(TOPIC, p, Duration::from_secs(30))
            .expect("watermarks");
        total += high;
    }
    assert_eq!(total, 3000, "everything is there after the clean restart");
    assert_eq!(
        recovered_partitions(&aeon),
        0,
        "a clean shutdown leaves nothing to recover"
    );

    // And the contrast: SIGKILL, then the next start does recover.
    aeon.sigkill();
    let aeon = start_aeon(&data, &config);
    let consumer: BaseConsumer = client_config(&aeon.addr).create().expect("consumer");
    consumer
        .fetch_watermarks(TOPIC, 0, Duration::from_secs(30))
        .expect("watermarks");
    assert!(
        recovered_partitions(&aeon) >= PARTITIONS as usize,
        "after SIGKILL each partition is recovered"
    );
}

/// Bytes the broker scanned to recover partition `partition` of `topic`, by its log.
fn scanned_bytes(aeon: &AeonProcess, topic: &str, partition: i32) -> Option<u64> {
    let name = format!("partition={topic}-{partition} ");
    aeon.log
        .lock()
        .expect("log lines")
        .iter()
        .filter(|l| l.contains(RECOVERED_LINE) && l.contains(&name))
        .find_map(|l| {
            l.split("scanned_bytes=")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
}

/// Produces `n` messages of 1 KiB to partition 0 of `topic` and waits for their acks,
/// in batches of at most 16 KiB: recovery scans from the last index entry below the
/// recovery point, which is at most one batch before it.
fn produce_kib(addr: &str, topic: &str, n: usize) {
    let producer = producer_with(
        &client_config(addr),
        &[("linger.ms", "5"), ("batch.size", "16384")],
    );
    let value = vec![7u8; 1024];
    common::produce_all(
        &producer,
        (0..n).map(|_| {
            BaseRecord::<[u8], [u8]>::to(topic)
                .partition(0)
                .payload(&value)
        }),
    );
}

/// `log.flush.offset.checkpoint.interval.ms`: once a partition's active segment was
/// synced and its recovery point moved inside it, a kill -9 costs a scan of what came
/// after, not of the whole segment; with the checkpoint off, the whole segment is
/// scanned again. Nothing acknowledged is lost either way.
#[test]
fn after_a_recovery_checkpoint_a_crash_scans_only_what_came_later() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("data");
    let config = |interval_ms: u64| {
        let path = dir.path().join(format!("aeon-{interval_ms}.toml"));
        std::fs::write(
            &path,
            format!(
                "\"log.segment.bytes\" = 67108864\n\
                 \"log.flush.offset.checkpoint.interval.ms\" = {interval_ms}\n"
            ),
        )
        .expect("config");
        path
    };
    let topic = "checkpointed";
    let mut aeon = start_aeon(&data, &config(200));
    create_topic_at(&aeon.addr, topic, 1);
    produce_kib(&aeon.addr, topic, 3000);
    // The point moves to the end of the 3 MB within a period of the last append: it
    // is there once it passed 3 MB and stayed put for five periods.
    let point = data.join(format!("{topic}-0")).join(".aeon_recovery_point");
    let position = || {
        std::fs::read_to_string(&point)
            .ok()
            .and_then(|t| t.split_whitespace().nth(1)?.parse::<u64>().ok())
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let before = position();
        std::thread::sleep(Duration::from_secs(1));
        let after = position();
        if after.is_some_and(|p| p >= 3_000_000) && after == before {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the recovery point never settled at the end: {after:?}"
        );
    }
    produce_kib(&aeon.addr, topic, 10);
    aeon.sigkill();

    let mut aeon = start_aeon(&data, &config(0));
    let consumer: BaseConsumer = client_config(&aeon.addr).create().expect("consumer");
    let (_, high) = consumer
        .fetch_watermarks(topic, 0, Duration::from_secs(30))
        .expect("watermarks");
    assert_eq!(high, 3010, "every acknowledged message is there");
    let scanned = scanned_bytes(&aeon, topic, 0).expect("the partition was recovered");
    assert!(
        scanned < 200_000,
        "only what came after the checkpoint is scanned: {scanned} bytes of more than 3 MB"
    );

    // The checkpoint off: the recovery point stays where it was, so a crash now
    // scans everything produced since, 3 MB more.
    produce_kib(&aeon.addr, topic, 3000);
    aeon.sigkill();
    let aeon = start_aeon(&data, &config(0));
    let consumer: BaseConsumer = client_config(&aeon.addr).create().expect("consumer");
    let (_, high) = consumer
        .fetch_watermarks(topic, 0, Duration::from_secs(30))
        .expect("watermarks");
    assert_eq!(high, 6010);
    let scanned = scanned_bytes(&aeon, topic, 0).expect("the partition was recovered");
    assert!(
        scanned > 3_000_000,
        "without a checkpoint the new data is scanned: {scanned} bytes"
    );
}
