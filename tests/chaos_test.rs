//! The fault checker: three `aeon` processes, a topic of three partitions with three
//! replicas and `min.insync.replicas=2`, an idempotent acks=all producer running
//! throughout, and a seeded random schedule of faults: kill -9 a partition's leader,
//! kill -9 a follower (each restarted after), SIGSTOP a broker past its session and
//! resume it, or cut a broker off from the quorum past its session (it is fenced but,
//! its metadata frozen, still believes it leads) and heal. After the schedule every acknowledged record must be there exactly once,
//! in order in its partition, and every replica must hold the same bytes.
//!
//! CI runs a short schedule; `scripts/chaos.sh --cycles N --seed S` a longer one
//! (`CHAOS_CYCLES`, `CHAOS_SEED`). The figures are printed at the end.

mod common;

use common::cluster::{partition_batches, placement, reader, until, Acked, TestCluster};
use common::{admin_at, assigned_consumer, client_config, consume, create_topic_with};
use rdkafka::admin::{NewTopic, TopicReplication};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const TOPIC: &str = "chaos";
const PARTITIONS: i32 = 3;

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
    let mut rng = Rng(seed);
    // Proxied: a broker can be cut off from the quorum (its controller links).
    let mut cluster = TestCluster::build(3, 0, true, true, "\"replica.lag.time.max.ms\" = 5000\n");
    cluster.start(&[1, 2, 3]);
    let admin = admin_at(&cluster.bootstrap());
    create_topic_with(
        &admin,
        &NewTopic::new(TOPIC, PARTITIONS, TopicReplication::Fixed(3))
            .set("min.insync.replicas", "2"),
    );
    until(Duration::from_secs(30), "every replica in sync", || {
        all_in_sync(&placement(&cluster.addr(1), TOPIC))
    });

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

    let mut elections = Vec::new();
    let mut faults = BTreeMap::<&str, u32>::new();
    for cycle in 0..cycles {
        std::thread::sleep(Duration::from_millis(500 + rng.below(1500)));
        let now = placement(&cluster.bootstrap(), TOPIC);
        let partition = rng.below(PARTITIONS as u64) as i32;
        let Some((leader, _)) = now.get(&partition).cloned() else {
            panic!("cycle {cycle}: no placement: {now:?}");
        };
        let fault = rng.below(4);
        let victim = match fault {
            0 => leader,
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
            "cut off from the quorum past the session",
        ][fault as usize];
        *faults.entry(name).or_default() += 1;
        eprintln!("cycle {cycle}: {name}: broker {victim} (partition {partition} led by {leader})");
        let led: Vec<i32> = now
            .iter()
            .filter(|(_, (l, _))| *l == victim)
            .map(|(p, _)| *p)
            .collect();
        let started = Instant::now();
        match fault {
            2 => cluster.signal(victim, "STOP"),
            // Fenced, and its metadata frozen: it still believes it leads and takes
            // produce requests, which no follower fetches any more.
            3 => cluster.isolate(victim, true),
            _ => cluster.kill(victim),
        }
        let other = (1..=3).find(|&b| b != victim).expect("another broker");
        // Every partition the victim led gets a leader elsewhere.
        if !led.is_empty() {
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
            if fault == 2 {
                cluster.signal(victim, "CONT");
            } else {
                cluster.isolate(victim, false);
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
