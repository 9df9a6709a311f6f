//! The fault checker: three `aeon` processes, a topic of three partitions with three
//! replicas and `min.insync.replicas=2`, an idempotent acks=all producer running
//! throughout, and a seeded random schedule of faults: kill -9 a partition's leader,
//! kill -9 a follower (each restarted after), SIGSTOP a broker past its session and
//! resume it, cut a broker off from the others past its session (its quorum links and
//! the brokers' connections to each other's client listeners: replication, transaction
//! verification and markers; it is fenced but, its metadata frozen, must stop serving
//! what it led once its heartbeats go unacknowledged) and heal, or cut the clients off
//! a partition's leader for as long and heal. A transactional
//! consume-transform-produce copies the topic to another throughout (unless
//! CHAOS_TRANSFORM=0). After the schedule
//! every acknowledged record must be there exactly once, in order in its partition, and
//! every replica must hold the same bytes; read_committed must never show an aborted
//! record, the transform's committed offsets must not be ahead of the data and every
//! input below them must have been written exactly once; and no two brokers may have
//! led one partition at one leader epoch.
//!
//! CI runs a short schedule; `scripts/chaos.sh --cycles N --seed S` a longer one
//! (`CHAOS_CYCLES`, `CHAOS_SEED`). The figures are printed at the end.
//! `CHAOS_CLIENT_LOG=<file>` writes the transform producer's librdkafka debug log
//! (`eos,broker`) there, and `CLUSTER_LOG_DIR` / `CLUSTER_RUST_LOG` keep the brokers'.

mod common;

use common::cluster::{partition_batches, placement, reader, until, Acked, TestCluster};
use common::{admin_at, assigned_consumer, client_config, consume, create_topic_with};
use rdkafka::admin::{NewTopic, TopicReplication};
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerGroupMetadata};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const TOPIC: &str = "chaos";
const PARTITIONS: i32 = 3;
/// Where the transactional consume-transform-produce writes what it read from TOPIC.
const OUT: &str = "chaos-out";
const GROUP: &str = "chaos-transform";

/// SplitMix64: the schedule from a seed, the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn all_in_sync(p: &BTreeMap<i32, (i32, BTreeSet<i32>)>) -> bool {
    p.len() == PARTITIONS as usize && p.values().all(|(l, isr)| *l > 0 && isr.len() == 3)
}

/// What a failed check prints: the placement, and what each broker logged about roles,
/// fetchers, fencing and the ISR.
fn dump(cluster: &TestCluster, placement: &BTreeMap<i32, (i32, BTreeSet<i32>)>) {
    eprintln!("placement (leader, ISR) by partition: {placement:?}");
    for node in &cluster.nodes {
        let Some(process) = &node.process else {
            continue;
        };
        let lines = process.log.lock().expect("log");
        let relevant: Vec<&String> = lines
            .iter()
            .filter(|l| {
                [
                    "chaos-",
                    "partition::replica",
                    "cluster::fetcher",
                    "fencing",
                    "ISR",
                    "transaction",
                    "WARN",
                    "ERROR",
                    "panicked",
                ]
                .iter()
                .any(|w| l.contains(w))
            })
            .collect();
        for line in &relevant[relevant.len().saturating_sub(40)..] {
            eprintln!("broker {}: {line}", node.id);
        }
        // A panic's message is on the lines after "panicked at".
        for (i, line) in lines.iter().enumerate() {
            if line.contains("panicked at") {
                for l in &lines[i..(i + 4).min(lines.len())] {
                    eprintln!("broker {} panic: {l}", node.id);
                }
            }
        }
    }
}

/// Every partition of TOPIC at its committed offset for GROUP (the start if none).
/// `seen` keeps the last offsets read; one that goes back is printed, with the time,
/// to find in the brokers' logs.
fn rewind(consumer: &BaseConsumer, seen: &mut BTreeMap<i32, i64>) -> bool {
    let mut all = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        all.add_partition(TOPIC, p);
    }
    let Ok(committed) = consumer.committed_offsets(all, Duration::from_secs(10)) else {
        return false;
    };
    let mut at = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        let Some(entry) = committed.find_partition(TOPIC, p) else {
            return false;
        };
        // A partition whose offsets a transaction still holds (UNSTABLE_OFFSET_COMMIT,
        // KIP-447) is asked again, not read from the start.
        if let Err(e) = entry.error() {
            eprintln!("transform: committed offset of partition {p}: {e}");
            return false;
        }
        let offset = match entry.offset() {
            Offset::Offset(o) => Offset::Offset(o),
            _ => Offset::Beginning,
        };
        let now = match offset {
            Offset::Offset(o) => o,
            _ => -1,
        };
        if let Some(before) = seen.insert(p, now).filter(|&b| b > now) {
            let at = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis());
            eprintln!("transform: the committed offset of partition {p} went back from {before} to {now} (unix ms {at})");
        }
        if at.add_partition_offset(TOPIC, p, offset).is_err() {
            return false;
        }
    }
    consumer.assign(&at).is_ok()
}

/// What the transform did: transactions committed, aborted on purpose, and aborted or
/// restarted because of a fault.
#[derive(Debug, Default)]
struct Transformed {
    committed: u64,
    aborted: u64,
    failed: u64,
    /// Rounds whose send_offsets_to_transaction never returned (see `send_offsets`).
    stuck: u64,
}

/// The transform producer's context: librdkafka's log lines, timed, go to the file
/// `CHAOS_CLIENT_LOG` names (the producer then runs with `debug=eos,broker`).
struct ClientLog(Option<Mutex<std::fs::File>>);

impl ClientContext for ClientLog {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, line: &str) {
        if let Some(file) = &self.0 {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            let mut file = file.lock().expect("client log");
            let _ = writeln!(
                file,
                "{}.{:03} {level:?} {fac} {line}",
                now.as_secs(),
                now.subsec_millis()
            );
        }
    }
}

impl ProducerContext for ClientLog {
    type DeliveryOpaque = ();
    fn delivery(&self, _: &DeliveryResult<'_>, _: ()) {}
}

type TxnProducer = BaseProducer<ClientLog>;

/// One round's failure: the client's error, or a call that never returned.
enum RoundError {
    Client(KafkaError),
    Stuck,
}

impl From<KafkaError> for RoundError {
    fn from(e: KafkaError) -> Self {
        RoundError::Client(e)
    }
}

/// `send_offsets_to_transaction`, given up on when it has not returned well past its
/// timeout (None). librdkafka 2.12 can wait for ever there: its coordinator requests
/// never check their timeout (librdkafka issue 5456), and a group coordinator that left
/// the metadata (a fenced broker, as in Kafka) is not looked up again until some other
/// broker connection changes state (issue 5511). An application then abandons the
/// producer and makes a new one with the same transactional id, whose InitProducerId
/// fences the stuck one and aborts its transaction; the transform does the same.
fn send_offsets(
    producer: &Arc<TxnProducer>,
    offsets: TopicPartitionList,
    metadata: ConsumerGroupMetadata,
    timeout: Duration,
) -> Option<KafkaResult<()>> {
    let (tx, rx) = std::sync::mpsc::channel();
    let producer = Arc::clone(producer);
    std::thread::spawn(move || {
        let _ = tx.send(producer.send_offsets_to_transaction(&offsets, &metadata, timeout));
    });
    rx.recv_timeout(timeout + Duration::from_secs(30)).ok()
}

/// The transactional consume-transform-produce (Kafka's exactly-once loop): reads TOPIC
/// read_committed, writes each value to the same partition of OUT and commits the
/// group's offsets in the same transaction. Every fifth transaction writes
/// "aborted-<v>" records and aborts; those records must never be read committed. On an
/// error the transaction is aborted (or the producer made anew when fenced) and the
/// input rewound to the committed offsets.
fn transform(bootstrap: String, stop: Arc<AtomicBool>) -> Transformed {
    let consumer: BaseConsumer = client_config(&bootstrap)
        .set("group.id", GROUP)
        .set("isolation.level", "read_committed")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let log_path = std::env::var("CHAOS_CLIENT_LOG").ok();
    let producer_of = || -> Arc<TxnProducer> {
        let mut config = client_config(&bootstrap);
        config
            .set("transactional.id", "chaos-transform")
            .set("transaction.timeout.ms", "60000")
            .set("message.timeout.ms", "60000")
            .set("linger.ms", "5");
        let log = log_path.as_ref().map(|path| {
            config
                .set("debug", "eos,broker")
                .set_log_level(RDKafkaLogLevel::Debug);
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .expect("client log");
            Mutex::new(file)
        });
        let producer: TxnProducer = config
            .create_with_context(ClientLog(log))
            .expect("transactional producer");
        let producer = Arc::new(producer);
        if log_path.is_some() {
            // The log lines wait on the producer's queue for a poll.
            let polled = Arc::downgrade(&producer);
            std::thread::spawn(move || {
                while let Some(producer) = polled.upgrade() {
                    producer.poll(Duration::from_millis(100));
                }
            });
        }
        while let Err(e) = producer.init_transactions(Duration::from_secs(30)) {
            eprintln!("transform: init: {e}");
            std::thread::sleep(Duration::from_millis(500));
        }
        producer
    };
    let mut producer = producer_of();
    let mut done = Transformed::default();
    let mut seen = BTreeMap::new();
    while !rewind(&consumer, &mut seen) {
        std::thread::sleep(Duration::from_millis(200));
    }
    let mut round: u64 = 0;
    while !stop.load(Ordering::SeqCst) {
        let mut read = Vec::new();
        let until = Instant::now() + Duration::from_millis(200);
        while read.len() < 200 && Instant::now() < until {
            if let Some(Ok(m)) = consumer.poll(Duration::from_millis(50)) {
                read.push((
                    m.partition(),
                    m.offset(),
                    m.payload().unwrap_or_default().to_vec(),
                ));
            }
        }
        if read.is_empty() {
            continue;
        }
        round += 1;
        let abort_on_purpose = round % 5 == 0;
        // Each output record's key is the round that wrote it: a duplicate names both.
        let key = round.to_string();
        let outcome = (|| -> Result<(), RoundError> {
            producer.begin_transaction()?;
            for (partition, _, value) in &read {
                let value = if abort_on_purpose {
                    format!("aborted-{}", String::from_utf8_lossy(value)).into_bytes()
                } else {
                    value.to_vec()
                };
                let mut record = BaseRecord::<[u8], [u8]>::to(OUT)
                    .partition(*partition)
                    .key(key.as_bytes())
                    .payload(&value);
                while let Err((e, r)) = producer.send(record) {
                    if !matches!(
                        e,
                        KafkaError::MessageProduction(rdkafka::types::RDKafkaErrorCode::QueueFull)
                    ) {
                        return Err(e.into());
                    }
                    producer.poll(Duration::from_millis(10));
                    record = r;
                }
            }
            producer.flush(Duration::from_secs(60))?;
            if abort_on_purpose {
                return Ok(producer.abort_transaction(Duration::from_secs(60))?);
            }
            let mut offsets = TopicPartitionList::new();
            let mut next = BTreeMap::<i32, i64>::new();
            for (partition, offset, _) in &read {
                next.insert(*partition, offset + 1);
            }
            for (partition, offset) in &next {
                offsets.add_partition_offset(TOPIC, *partition, Offset::Offset(*offset))?;
            }
            let metadata = consumer
                .group_metadata()
                .ok_or(KafkaError::NoMessageReceived)?;
            send_offsets(&producer, offsets, metadata, Duration::from_secs(60))
                .ok_or(RoundError::Stuck)??;
            Ok(producer.commit_transaction(Duration::from_secs(60))?)
        })();
        match outcome {
            Ok(()) if abort_on_purpose => done.aborted += 1,
            Ok(()) => {
                done.committed += 1;
                continue;
            }
            Err(RoundError::Stuck) => {
                done.stuck += 1;
                eprintln!(
                    "transform: round {round}: send_offsets_to_transaction did not return in 90 s; a new producer fences this one"
                );
                producer = producer_of();
            }
            Err(RoundError::Client(e)) => {
                done.failed += 1;
                let (first, last) = (
                    read.first().map(|r| (r.0, r.1)),
                    read.last().map(|r| (r.0, r.1)),
                );
                eprintln!("transform: round {round} (inputs {first:?}..{last:?}) failed: {e}");
                let fatal = matches!(&e, KafkaError::Transaction(t) if t.is_fatal());
                if fatal || producer.abort_transaction(Duration::from_secs(60)).is_err() {
                    producer = producer_of();
                }
            }
        }
        // Aborted: read it again from the committed offsets.
        while !rewind(&consumer, &mut seen) {
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    done
}

/// The "leading" lines each broker logged: (partition, leader epoch) -> the brokers
/// that led it at that epoch.
fn harvest_leaders(cluster: &TestCluster, into: &mut BTreeMap<(String, i32), BTreeSet<i32>>) {
    for node in &cluster.nodes {
        let Some(process) = &node.process else {
            continue;
        };
        for line in process.log.lock().expect("log").iter() {
            if !line.contains("leading") {
                continue;
            }
            let field = |name: &str| {
                line.split_whitespace()
                    .find_map(|w| w.strip_prefix(name))
                    .map(str::to_string)
            };
            if let (Some(partition), Some(epoch)) = (field("partition="), field("epoch=")) {
                if let Ok(epoch) = epoch.parse::<i32>() {
                    into.entry((partition, epoch)).or_default().insert(node.id);
                }
            }
        }
    }
}

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn every_acknowledged_record_survives_a_random_schedule_of_faults() {
    let cycles = env("CHAOS_CYCLES", 6);
    let seed = env("CHAOS_SEED", 20261204);
    // The transactional consume-transform-produce runs unless CHAOS_TRANSFORM=0
    // (`scripts/chaos.sh --no-transform`).
    let with_transform = env("CHAOS_TRANSFORM", 1) == 1;
    let mut rng = Rng(seed);
    // Proxied: a broker can be cut off from the others, or from the clients.
    let mut cluster = TestCluster::build(3, 0, true, true, "\"replica.lag.time.max.ms\" = 5000\n");
    cluster.start(&[1, 2, 3]);
    let admin = admin_at(&cluster.bootstrap());
    for topic in [TOPIC, OUT] {
        create_topic_with(
            &admin,
            &NewTopic::new(topic, PARTITIONS, TopicReplication::Fixed(3))
                .set("min.insync.replicas", "2"),
        );
        until(Duration::from_secs(30), "every replica in sync", || {
            all_in_sync(&placement(&cluster.addr(1), topic))
        });
    }

    // The producer: value i to partition i % 3, about 1,000 a second, until told.
    let bootstrap = cluster.bootstrap();
    let stop = Arc::new(AtomicBool::new(false));
    let producing = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let producer: BaseProducer<Acked> = client_config(&bootstrap)
                .set("acks", "all")
                .set("enable.idempotence", "true")
                .set("linger.ms", "5")
                .set("message.timeout.ms", "300000")
                .create_with_context(Acked::default())
                .expect("producer");
            let mut i: u64 = 0;
            while !stop.load(Ordering::SeqCst) {
                let value = i.to_string();
                let record = BaseRecord::<[u8], [u8]>::to(TOPIC)
                    .partition((i % PARTITIONS as u64) as i32)
                    .payload(value.as_bytes());
                match producer.send(record) {
                    Ok(()) => i += 1,
                    Err(_) => {
                        producer.poll(Duration::from_millis(10));
                        continue;
                    }
                }
                if i % 10 == 0 {
                    producer.poll(Duration::from_millis(5));
                }
            }
            producer
                .flush(Duration::from_secs(300))
                .expect("every record acknowledged or failed");
            let ctx = producer.context();
            let acked = ctx.values.lock().expect("acked").clone();
            let failed = ctx.failed.lock().expect("failed").clone();
            (i, acked, failed)
        })
    };

    // The transform's outcome comes through a channel: a transaction stuck in the
    // client is a failure to report, not a hang.
    let transforming = with_transform.then(|| {
        let (bootstrap, stop) = (cluster.bootstrap(), Arc::clone(&stop));
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(transform(bootstrap, stop));
        });
        rx
    });

    let mut leaders_seen = BTreeMap::<(String, i32), BTreeSet<i32>>::new();
    let mut elections = Vec::new();
    let mut faults = BTreeMap::<&str, u32>::new();
    for cycle in 0..cycles {
        std::thread::sleep(Duration::from_millis(500 + rng.below(1500)));
        let now = placement(&cluster.bootstrap(), TOPIC);
        let partition = rng.below(PARTITIONS as u64) as i32;
        let Some((leader, _)) = now.get(&partition).cloned() else {
            panic!("cycle {cycle}: no placement: {now:?}");
        };
        let fault = rng.below(5);
        let victim = match fault {
            0 | 4 => leader,
            1 => [1, 2, 3]
                .into_iter()
                .filter(|&b| b != leader)
                .nth(rng.below(2) as usize)
                .expect("a follower"),
            _ => 1 + rng.below(3) as i32,
        };
        let name = [
            "kill the leader",
            "kill a follower",
            "pause past the session",
            "cut off from the others past the session",
            "cut off from the clients",
        ][fault as usize];
        *faults.entry(name).or_default() += 1;
        eprintln!("cycle {cycle}: {name}: broker {victim} (partition {partition} led by {leader})");
        let led: Vec<i32> = now
            .iter()
            .filter(|(_, (l, _))| *l == victim)
            .map(|(p, _)| *p)
            .collect();
        let started = Instant::now();
        harvest_leaders(&cluster, &mut leaders_seen);
        match fault {
            2 => cluster.signal(victim, "STOP"),
            // Fenced, its metadata frozen: once its heartbeats go unacknowledged past
            // its session it must stop serving what it led.
            3 => cluster.isolate(victim, true),
            // It stays the leader, in its session: the clients wait and retry.
            4 => cluster.cut_clients(victim, true),
            _ => cluster.kill(victim),
        }
        let other = (1..=3).find(|&b| b != victim).expect("another broker");
        // Every partition the victim led gets a leader elsewhere.
        if !led.is_empty() && fault != 4 {
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                let p = placement(&cluster.addr(other), TOPIC);
                let moved = led
                    .iter()
                    .all(|part| p.get(part).is_some_and(|(l, _)| *l > 0 && *l != victim));
                if moved {
                    break;
                }
                if Instant::now() > deadline {
                    dump(&cluster, &p);
                    panic!("cycle {cycle}: no new leader within 60 s");
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            elections.push(started.elapsed());
        }
        if fault >= 2 {
            // Past its session (3 s) whether or not it led anything.
            let past = Duration::from_secs(4).saturating_sub(started.elapsed());
            std::thread::sleep(past);
            match fault {
                2 => cluster.signal(victim, "CONT"),
                3 => cluster.isolate(victim, false),
                _ => cluster.cut_clients(victim, false),
            }
        } else {
            cluster.start(&[victim]);
        }
        let deadline = Instant::now() + Duration::from_secs(90);
        while !all_in_sync(&placement(&cluster.addr(other), TOPIC)) {
            if Instant::now() > deadline {
                dump(&cluster, &placement(&cluster.addr(other), TOPIC));
                panic!("cycle {cycle}: the replicas are not back in sync within 90 s");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    stop.store(true, Ordering::SeqCst);
    let (sent, acked, failed) = producing.join().expect("producer");
    let transformed = transforming.map(|rx| {
        rx.recv_timeout(Duration::from_secs(180))
            .unwrap_or_else(|_| {
                dump(&cluster, &placement(&cluster.bootstrap(), TOPIC));
                panic!("the transform did not finish its last transaction within 180 s")
            })
    });
    harvest_leaders(&cluster, &mut leaders_seen);
    let split: Vec<_> = leaders_seen.iter().filter(|(_, by)| by.len() > 1).collect();
    assert!(split.is_empty(), "two leaders in one epoch: {split:?}");
    assert!(
        failed.is_empty(),
        "deliveries failed: {:?}",
        &failed[..failed.len().min(5)]
    );

    let consumer = assigned_consumer(&reader(&cluster.bootstrap()), TOPIC, PARTITIONS);
    let got = consume(&consumer, acked.len(), Duration::from_secs(120));
    let mut seen = BTreeMap::<u64, usize>::new();
    let mut last = BTreeMap::<i32, u64>::new();
    let mut out_of_order = 0;
    for g in &got {
        let v: u64 = std::str::from_utf8(g.value.as_deref().unwrap_or_default())
            .ok()
            .and_then(|s| s.parse().ok())
            .expect("a numeric value");
        *seen.entry(v).or_default() += 1;
        if let Some(prev) = last.insert(g.partition, v) {
            if prev >= v {
                out_of_order += 1;
            }
        }
    }
    let lost = acked.iter().filter(|v| !seen.contains_key(v)).count();
    let duplicates: usize = seen.values().map(|n| n - 1).sum();
    let mut sorted = elections.clone();
    sorted.sort();
    let median = sorted.get(sorted.len() / 2).copied().unwrap_or_default();
    eprintln!(
        "chaos: seed {seed}, {cycles} cycles ({faults:?}); {sent} sent, {} acknowledged, {} read; lost {lost}, duplicates {duplicates}, out of order {out_of_order}; {} leader elections, median {median:?} from the fault to every new leader",
        acked.len(),
        got.len(),
        elections.len()
    );
    assert_eq!(lost, 0, "acknowledged records lost");
    assert_eq!(duplicates, 0, "records read twice");
    assert_eq!(out_of_order, 0, "records out of order");

    if let Some(transformed) = transformed {
        // The transform: read_committed never shows an aborted record, the group's
        // committed offsets are never ahead of the data, and every input below them was
        // written to OUT exactly once.
        let mut config = reader(&cluster.bootstrap());
        config.set("isolation.level", "read_committed");
        let out = assigned_consumer(&config, OUT, PARTITIONS);
        let mut read_out = Vec::new();
        loop {
            let got = consume(&out, 100_000, Duration::from_secs(5));
            if got.is_empty() {
                break;
            }
            read_out.extend(got);
        }
        let aborted = read_out
            .iter()
            .filter(|g| {
                g.value
                    .as_deref()
                    .unwrap_or_default()
                    .starts_with(b"aborted")
            })
            .count();
        let mut written = BTreeMap::<Vec<u8>, usize>::new();
        for g in &read_out {
            *written
                .entry(g.value.clone().unwrap_or_default())
                .or_default() += 1;
        }
        let transform_duplicates: usize = written.values().map(|n| n - 1).sum();
        let mut rounds_of = BTreeMap::<&[u8], Vec<String>>::new();
        for g in &read_out {
            let value = g.value.as_deref().unwrap_or_default();
            if written.get(value).is_some_and(|&n| n > 1) {
                let round =
                    String::from_utf8_lossy(g.key.as_deref().unwrap_or_default()).into_owned();
                rounds_of
                    .entry(value)
                    .or_default()
                    .push(format!("p{}@{} round {round}", g.partition, g.offset));
            }
        }
        for (value, rounds) in rounds_of.iter().take(5) {
            eprintln!(
                "transform: {} written by {rounds:?}",
                String::from_utf8_lossy(value)
            );
        }
        let group: BaseConsumer = client_config(&cluster.bootstrap())
            .set("group.id", GROUP)
            .create()
            .expect("consumer");
        let mut all = TopicPartitionList::new();
        for p in 0..PARTITIONS {
            all.add_partition(TOPIC, p);
        }
        let committed = group
            .committed_offsets(all, Duration::from_secs(30))
            .expect("committed offsets");
        eprintln!(
            "transform: {transformed:?}; {} records read committed from {OUT}, {aborted} of them aborted, {transform_duplicates} duplicates",
            read_out.len()
        );
        assert_eq!(aborted, 0, "read_committed showed aborted records");
        assert_eq!(transform_duplicates, 0, "the transform wrote inputs twice");
        assert!(transformed.committed > 0, "the transform committed nothing");
        for p in 0..PARTITIONS {
            let offset = match committed.find_partition(TOPIC, p).map(|e| e.offset()) {
                Some(Offset::Offset(o)) => o,
                _ => 0,
            };
            let (_, high) = group
                .fetch_watermarks(TOPIC, p, Duration::from_secs(10))
                .expect("watermarks");
            assert!(
                offset <= high,
                "partition {p}: committed {offset} ahead of the data ({high})"
            );
            let missing = got
                .iter()
                .filter(|g| g.partition == p && g.offset < offset)
                .filter(|g| !written.contains_key(&g.value.clone().unwrap_or_default()))
                .count();
            assert_eq!(
                missing, 0,
                "partition {p}: inputs below the committed offset {offset} never written"
            );
        }
    }
    until(
        Duration::from_secs(30),
        "replicas hold the same bytes",
        || {
            (0..PARTITIONS).all(|p| {
                let first = partition_batches(&cluster.data_dir(1), TOPIC, p);
                [2, 3]
                    .iter()
                    .all(|&id| partition_batches(&cluster.data_dir(id), TOPIC, p) == first)
            })
        },
    );
}
