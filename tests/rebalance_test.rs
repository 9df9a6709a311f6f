//! Rebalances with the real rdkafka client: partitions spread evenly, move when a
//! member leaves or dies, nothing is lost under churn, commits survive a restart, and
//! cooperative-sticky rebalances incrementally.

mod common;

use common::{group_config, produce_all, TestBroker};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::producer::BaseRecord;
use rdkafka::ClientContext;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const TOPIC_PARTITIONS: i32 = 6;

fn fast_groups(c: &mut aeon::config::Config) {
    c.set("group.initial.rebalance.delay.ms", "0").expect("set");
}

/// Records rebalance events of one consumer.
#[derive(Clone, Default)]
struct Events(Arc<Mutex<Vec<String>>>);

impl ClientContext for Events {}

impl ConsumerContext for Events {
    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let e = match rebalance {
            Rebalance::Assign(tpl) => format!("assign {}", tpl.count()),
            Rebalance::Revoke(tpl) => format!("revoke {}", tpl.count()),
            Rebalance::Error(e) => format!("error {e}"),
        };
        self.0.lock().expect("events").push(e);
    }
}

/// A consumer running in its own thread: it polls, records what it consumed and
/// commits after processing.
struct Member {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    assignment: Arc<Mutex<BTreeSet<i32>>>,
    events: Events,
}

impl Member {
    fn start(
        broker: &TestBroker,
        group: &str,
        topic: &str,
        extra: &[(&str, &str)],
        seen: Arc<Mutex<Vec<String>>>,
    ) -> Member {
        let mut c = group_config(&broker.client_config(), group);
        c.set("heartbeat.interval.ms", "300");
        for (k, v) in extra {
            c.set(*k, *v);
        }
        let events = Events::default();
        let consumer: BaseConsumer<Events> =
            c.create_with_context(events.clone()).expect("consumer");
        consumer.subscribe(&[topic]).expect("subscribe");
        let stop = Arc::new(AtomicBool::new(false));
        let assignment = Arc::new(Mutex::new(BTreeSet::new()));
        let (s, a) = (stop.clone(), assignment.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                common::poll_and_commit(&consumer, &seen);
                if let Ok(tpl) = consumer.assignment() {
                    *a.lock().expect("assignment") =
                        tpl.elements().iter().map(|e| e.partition()).collect();
                }
            }
            // Commit the positions synchronously: async commits still in flight would
            // be lost with the consumer.
            if let Ok(positions) = consumer.position() {
                let _ = consumer.commit(&positions, CommitMode::Sync);
            }
            drop(consumer);
        });
        Member {
            stop,
            thread: Some(thread),
            assignment,
            events,
        }
    }

    fn assignment(&self) -> BTreeSet<i32> {
        self.assignment.lock().expect("assignment").clone()
    }

    /// Stops polling and closes the consumer (a clean leave, unless it is static).
    fn close(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Waits until the members' assignments split all partitions with no overlap and
/// `check` holds for the sizes.
fn wait_for_split(
    members: &[&Member],
    timeout: Duration,
    check: impl Fn(&[usize]) -> bool,
) -> Vec<BTreeSet<i32>> {
    let deadline = Instant::now() + timeout;
    loop {
        let sets: Vec<BTreeSet<i32>> = members.iter().map(|m| m.assignment()).collect();
        let union: BTreeSet<i32> = sets.iter().flatten().copied().collect();
        let total: usize = sets.iter().map(BTreeSet::len).sum();
        let sizes: Vec<usize> = sets.iter().map(BTreeSet::len).collect();
        if union.len() == TOPIC_PARTITIONS as usize && total == union.len() && check(&sizes) {
            return sets;
        }
        assert!(
            Instant::now() < deadline,
            "no clean split within {timeout:?}: {sets:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn produce_range(broker: &TestBroker, topic: &str, range: std::ops::Range<usize>) {
    let producer = broker.producer(&[]);
    let values: Vec<String> = range.map(|i| format!("m{i}")).collect();
    produce_all(
        &producer,
        values.iter().map(|v| {
            BaseRecord::<[u8], [u8]>::to(topic)
                .payload(v.as_bytes())
                .key(v.as_bytes())
        }),
    );
}

fn wait_for_all(seen: &Mutex<Vec<String>>, n: usize, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let distinct: BTreeSet<String> = seen.lock().expect("seen").iter().cloned().collect();
        let missing: Vec<String> = (0..n)
            .map(|i| format!("m{i}"))
            .filter(|v| !distinct.contains(v))
            .collect();
        if missing.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {n} messages never consumed, e.g. {:?}",
            missing.len(),
            &missing[..missing.len().min(5)]
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn members_split_partitions_move_on_leave_and_on_death_and_nothing_is_lost() {
    let broker = TestBroker::start_with(fast_groups);
    broker.create_topic("churn", TOPIC_PARTITIONS);
    let seen = Arc::new(Mutex::new(Vec::new()));
    produce_range(&broker, "churn", 0..600);

    let a = Member::start(&broker, "churners", "churn", &[], seen.clone());
    let b = Member::start(&broker, "churners", "churn", &[], seen.clone());
    // A static member: librdkafka does not send LeaveGroup when it closes, so closing
    // it looks like a crash to the coordinator.
    let c = Member::start(
        &broker,
        "churners",
        "churn",
        &[("group.instance.id", "static-c")],
        seen.clone(),
    );
    let sets = wait_for_split(&[&a, &b, &c], Duration::from_secs(30), |s| {
        s.iter().all(|&n| n == 2)
    });
    assert!(
        sets.iter().all(|s| s.len() == 2),
        "3 members, 6 partitions: 2 each, {sets:?}"
    );
    produce_range(&broker, "churn", 600..1200);

    // A clean leave: the other two own everything within a few seconds.
    b.close();
    let started = Instant::now();
    wait_for_split(&[&a, &c], Duration::from_secs(10), |s| {
        s.iter().all(|&n| n == 3)
    });
    let after_leave = started.elapsed();
    produce_range(&broker, "churn", 1200..1800);

    // A member that dies without leaving: its partitions move after session.timeout.ms.
    c.close();
    wait_for_split(&[&a], Duration::from_secs(30), |s| s == [6]);
    produce_range(&broker, "churn", 1800..2400);
    wait_for_all(&seen, 2400, Duration::from_secs(30));
    eprintln!("after a clean leave the group rebalanced in {after_leave:?}");
    a.close();
}

#[test]
fn committed_offsets_survive_a_broker_restart() {
    let mut broker = TestBroker::start_with(fast_groups);
    broker.create_topic("resume", 2);
    produce_range(&broker, "resume", 0..100);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let m = Member::start(&broker, "resumers", "resume", &[], seen.clone());
    wait_for_all(&seen, 100, Duration::from_secs(30));
    m.close();

    broker.restart();
    produce_range(&broker, "resume", 100..150);
    let seen_after = Arc::new(Mutex::new(Vec::new()));
    let m = Member::start(&broker, "resumers", "resume", &[], seen_after.clone());
    let deadline = Instant::now() + Duration::from_secs(30);
    while seen_after.lock().expect("seen").len() < 50 {
        assert!(
            Instant::now() < deadline,
            "the new consumer did not get the 50 new messages"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
    let after: Vec<String> = seen_after.lock().expect("seen").clone();
    let old: Vec<&String> = after
        .iter()
        .filter(|v| v[1..].parse::<usize>().is_ok_and(|i| i < 100))
        .collect();
    assert!(
        old.is_empty(),
        "the group resumed where it left off, but re-read {} old messages",
        old.len()
    );
    assert_eq!(after.len(), 50);
    m.close();
}

#[test]
fn cooperative_sticky_rebalances_incrementally() {
    let broker = TestBroker::start_with(fast_groups);
    broker.create_topic("sticky", TOPIC_PARTITIONS);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let strategy = [("partition.assignment.strategy", "cooperative-sticky")];
    let a = Member::start(&broker, "stickies", "sticky", &strategy, seen.clone());
    wait_for_split(&[&a], Duration::from_secs(30), |s| s == [6]);
    let b = Member::start(&broker, "stickies", "sticky", &strategy, seen.clone());
    wait_for_split(&[&a, &b], Duration::from_secs(30), |s| {
        s.iter().all(|&n| n == 3)
    });
    let events = a.events.0.lock().expect("events").clone();
    // Incremental: the first member gives up only the 3 partitions that move; an eager
    // rebalance would revoke all 6 first.
    assert!(
        events.iter().any(|e| e == "revoke 3"),
        "incremental revoke of 3: {events:?}"
    );
    assert!(
        !events.iter().any(|e| e == "revoke 6"),
        "never revoked everything: {events:?}"
    );
    assert!(events.iter().any(|e| e == "assign 6"), "{events:?}");
    a.close();
    b.close();
}
