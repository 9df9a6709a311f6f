//! The consumer group protocol of KIP-848 (`group.protocol=consumer`) with the real
//! librdkafka client: the broker assigns, members reconcile, and no partition is ever
//! owned by two members at once.

mod common;

use aeon::protocol::messages::consumer_group_describe_request::ConsumerGroupDescribeRequest;
use aeon::protocol::messages::consumer_group_describe_response::DescribedGroup;
use aeon::protocol::{Request, Response};
use common::{free_port, produce_all, raw, TestBroker};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::producer::BaseRecord;
use rdkafka::{ClientContext, TopicPartitionList};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Broker settings that make the new protocol quick to watch: members heartbeat every
/// 300 ms and a silent one is removed after 4 s.
fn fast_consumer_groups(c: &mut aeon::config::Config) {
    for (k, v) in [
        ("group.consumer.min.heartbeat.interval.ms", "100"),
        ("group.consumer.heartbeat.interval.ms", "300"),
        ("group.consumer.min.session.timeout.ms", "1000"),
        ("group.consumer.session.timeout.ms", "4000"),
        ("group.initial.rebalance.delay.ms", "0"),
    ] {
        c.set(k, v).expect("set");
    }
}

/// Who owns each (topic, partition), as the members' rebalance callbacks report it: a
/// member takes a partition before it starts consuming it and gives it back after it
/// stopped, so two owners at once is a partition owned twice.
#[derive(Clone, Default)]
struct Owners {
    owners: Arc<Mutex<BTreeMap<(String, i32), String>>>,
    violations: Arc<Mutex<Vec<String>>>,
    errors: Arc<Mutex<Vec<String>>>,
}

impl Owners {
    fn take(&self, member: &str, tpl: &TopicPartitionList) {
        let mut owners = self.owners.lock().expect("owners");
        for e in tpl.elements() {
            let key = (e.topic().to_string(), e.partition());
            if let Some(other) = owners.get(&key).filter(|o| *o != member) {
                self.violations.lock().expect("violations").push(format!(
                    "{member} got {}-{} while {other} still owned it",
                    key.0, key.1
                ));
            }
            owners.insert(key, member.to_string());
        }
    }

    fn give_back(&self, member: &str, tpl: &TopicPartitionList) {
        let mut owners = self.owners.lock().expect("owners");
        for e in tpl.elements() {
            let key = (e.topic().to_string(), e.partition());
            if owners.get(&key).map(String::as_str) == Some(member) {
                owners.remove(&key);
            }
        }
    }

    fn owned_by(&self, member: &str) -> BTreeSet<i32> {
        self.owners
            .lock()
            .expect("owners")
            .iter()
            .filter(|(_, o)| o.as_str() == member)
            .map(|((_, p), _)| *p)
            .collect()
    }

    /// How many partitions, of any topic, `member` owns.
    fn count(&self, member: &str) -> usize {
        self.owners
            .lock()
            .expect("owners")
            .values()
            .filter(|o| o.as_str() == member)
            .count()
    }

    fn check(&self) {
        let v = self.violations.lock().expect("violations");
        assert!(v.is_empty(), "partitions owned twice: {v:?}");
        let e = self.errors.lock().expect("errors");
        assert!(e.is_empty(), "rebalance errors: {e:?}");
    }
}

/// One member's view, kept by its rebalance callbacks.
#[derive(Clone)]
struct MemberContext {
    name: String,
    owners: Owners,
}

impl ClientContext for MemberContext {}

impl ConsumerContext for MemberContext {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => self.owners.take(&self.name, tpl),
            Rebalance::Revoke(_) => {}
            Rebalance::Error(e) => self
                .owners
                .errors
                .lock()
                .expect("errors")
                .push(format!("{}: {e}", self.name)),
        }
    }

    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            self.owners.give_back(&self.name, tpl);
        }
    }
}

fn member_config(
    broker: &TestBroker,
    group: &str,
    extra: &[(&str, &str)],
) -> rdkafka::ClientConfig {
    let mut c = broker.client_config();
    c.set("group.id", group)
        .set("group.protocol", "consumer")
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false");
    for (k, v) in extra {
        c.set(*k, *v);
    }
    c
}

/// A member polling in its own thread, recording the values it consumed.
struct Member {
    name: String,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Member {
    fn start(
        broker: &TestBroker,
        group: &str,
        name: &str,
        topics: &[&str],
        extra: &[(&str, &str)],
        owners: &Owners,
        seen: Arc<Mutex<Vec<String>>>,
    ) -> Member {
        let context = MemberContext {
            name: name.to_string(),
            owners: owners.clone(),
        };
        let consumer: BaseConsumer<MemberContext> = member_config(broker, group, extra)
            .create_with_context(context)
            .expect("consumer");
        consumer.subscribe(topics).expect("subscribe");
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                common::poll_and_commit(&consumer, &seen);
            }
            // Dropping the consumer leaves the group (epoch -1).
            consumer.unsubscribe();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline && consumer.assignment().is_ok_and(|a| a.count() > 0) {
                let _ = consumer.poll(Duration::from_millis(50));
            }
        });
        Member {
            name: name.to_string(),
            stop,
            thread: Some(thread),
        }
    }

    fn leave(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().expect("member thread");
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

/// Waits until `check` holds, polling every 100 ms; panics with `what` after `within`.
/// Waits until the group's first member has applied its assignment of all `partitions`
/// before a second member joins. Two members joining together meet a race of the
/// client that Kafka's coordinator has too: librdkafka can heartbeat at its new epoch
/// reporting the partitions it owned before (none) while it is still applying that
/// epoch's assignment; the coordinator, as Kafka's `CurrentAssignmentBuilder` does,
/// then takes the unreported partitions as already revoked and gives them to the other
/// member, and the first one revokes them only when its next answer arrives. The
/// tests check ownership at every callback, so they let each member settle first.
fn first_owns_all(owners: &Owners, member: &str, partitions: usize) {
    eventually(
        Duration::from_secs(20),
        &format!("{member} owns all {partitions}"),
        || owners.owned_by(member).len() == partitions,
    );
}

fn eventually(within: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// ConsumerGroupDescribe v1 of one group, over a plain socket.
fn describe(broker: &TestBroker, group: &str) -> DescribedGroup {
    let req = ConsumerGroupDescribeRequest {
        group_ids: vec![group.to_string()],
        ..Default::default()
    };
    match raw(&broker.bootstrap(), 1, Request::ConsumerGroupDescribe(req)) {
        Response::ConsumerGroupDescribe(mut r) if r.groups.len() == 1 => r.groups.remove(0),
        other => panic!("unexpected answer: {other:?}"),
    }
}

/// Each member's current assignment of `topic` as the coordinator sees it.
fn assignments(group: &DescribedGroup) -> Vec<BTreeSet<i32>> {
    group
        .members
        .iter()
        .map(|m| {
            m.assignment
                .topic_partitions
                .iter()
                .flat_map(|t| t.partitions.iter().copied())
                .collect()
        })
        .collect()
}

fn produce_values(broker: &TestBroker, topic: &str, partitions: i32, n: usize) -> Vec<String> {
    let producer = broker.producer(&[]);
    let values: Vec<String> = (0..n).map(|i| format!("v{i}")).collect();
    produce_all(
        &producer,
        values.iter().enumerate().map(|(i, v)| {
            BaseRecord::<[u8], [u8], ()>::to(topic)
                .payload(v.as_bytes())
                .partition((i as i32) % partitions)
        }),
    );
    values
}

#[test]
fn one_member_owns_every_partition_and_reads_them() {
    let broker = TestBroker::start_with(fast_consumer_groups);
    broker.create_topic("solo", 6);
    let values = produce_values(&broker, "solo", 6, 120);
    let owners = Owners::default();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let m = Member::start(
        &broker,
        "g-solo",
        "a",
        &["solo"],
        &[],
        &owners,
        seen.clone(),
    );
    eventually(Duration::from_secs(20), "every value consumed", || {
        seen.lock().expect("seen").len() >= values.len()
    });
    assert_eq!(owners.owned_by("a"), (0..6).collect());
    let got: BTreeSet<String> = seen.lock().expect("seen").iter().cloned().collect();
    assert_eq!(got, values.into_iter().collect());
    m.leave();
    owners.check();
}

#[test]
fn two_members_split_six_partitions_and_the_survivor_takes_all_when_one_leaves() {
    let broker = TestBroker::start_with(fast_consumer_groups);
    broker.create_topic("split", 6);
    let owners = Owners::default();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let a = Member::start(
        &broker,
        "g-split",
        "a",
        &["split"],
        &[],
        &owners,
        seen.clone(),
    );
    first_owns_all(&owners, "a", 6);
    let b = Member::start(
        &broker,
        "g-split",
        "b",
        &["split"],
        &[],
        &owners,
        seen.clone(),
    );
    eventually(Duration::from_secs(20), "a and b own three each", || {
        owners.owned_by("a").len() == 3 && owners.owned_by("b").len() == 3
    });
    owners.check();
    eventually(
        Duration::from_secs(10),
        "the coordinator sees a stable group",
        || describe(&broker, "g-split").group_state == "Stable",
    );
    let described = describe(&broker, "g-split");
    assert_eq!(described.error_code, 0);
    assert_eq!(described.assignor_name, "uniform");
    assert!(described.group_epoch >= 2, "{described:?}");
    assert_eq!(described.assignment_epoch, described.group_epoch);
    let split = assignments(&described);
    assert_eq!(split.len(), 2);
    assert!(split[0].is_disjoint(&split[1]));
    assert_eq!(split.iter().flatten().count(), 6);
    for m in &described.members {
        assert_eq!(m.member_epoch, described.group_epoch);
        assert_eq!(m.member_type, 1, "a consumer-protocol member");
        assert_eq!(m.subscribed_topic_names, vec!["split".to_string()]);
        assert_eq!(m.assignment, m.target_assignment);
        assert_eq!(m.assignment.topic_partitions[0].topic_name, "split");
    }
    let name = a.name.clone();
    a.leave();
    eventually(Duration::from_secs(20), "b owns all six", || {
        owners.owned_by("b").len() == 6 && owners.owned_by(&name).is_empty()
    });
    b.leave();
    owners.check();
}

#[test]
fn range_gives_each_member_a_contiguous_range() {
    let broker = TestBroker::start_with(fast_consumer_groups);
    broker.create_topic("ranged", 6);
    let owners = Owners::default();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let range = [("group.remote.assignor", "range")];
    let a = Member::start(
        &broker,
        "g-range",
        "a",
        &["ranged"],
        &range,
        &owners,
        seen.clone(),
    );
    first_owns_all(&owners, "a", 6);
    let b = Member::start(
        &broker,
        "g-range",
        "b",
        &["ranged"],
        &range,
        &owners,
        seen.clone(),
    );
    eventually(Duration::from_secs(20), "a and b own three each", || {
        owners.owned_by("a").len() == 3 && owners.owned_by("b").len() == 3
    });
    let halves = [BTreeSet::from([0, 1, 2]), BTreeSet::from([3, 4, 5])];
    for member in ["a", "b"] {
        assert!(
            halves.contains(&owners.owned_by(member)),
            "{member} owns {:?}, not a contiguous half",
            owners.owned_by(member)
        );
    }
    assert_eq!(describe(&broker, "g-range").assignor_name, "range");
    a.leave();
    b.leave();
    owners.check();
}

#[test]
fn a_static_member_comes_back_to_its_partitions() {
    let broker = TestBroker::start_with(fast_consumer_groups);
    broker.create_topic("statics", 6);
    let owners = Owners::default();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let start = |name: &str| {
        let instance = [("group.instance.id", name)];
        Member::start(
            &broker,
            "g-static",
            name,
            &["statics"],
            &instance,
            &owners,
            seen.clone(),
        )
    };
    let a = start("a");
    first_owns_all(&owners, "a", 6);
    let b = start("b");
    eventually(Duration::from_secs(20), "a and b own three each", || {
        owners.owned_by("a").len() == 3 && owners.owned_by("b").len() == 3
    });
    let before = owners.owned_by("a");
    let epoch_before = describe(&broker, "g-static").group_epoch;
    // A static member's close is a temporary leave (epoch -2): its partitions wait for
    // it, nobody else gets them.
    a.leave();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        owners.owned_by("b").len(),
        3,
        "b did not take a's partitions"
    );
    let away = describe(&broker, "g-static");
    assert_eq!(
        away.members.len(),
        2,
        "the static member is still in the group"
    );
    assert_eq!(
        away.group_epoch, epoch_before,
        "no rebalance while it is away"
    );
    let a = start("a");
    eventually(
        Duration::from_secs(20),
        "a owns its partitions again",
        || owners.owned_by("a") == before,
    );
    assert_eq!(owners.owned_by("b").len(), 3);
    a.leave();
    b.leave();
    owners.check();
}

#[test]
fn a_regex_subscription_picks_up_a_topic_created_later() {
    let broker = TestBroker::start_with(fast_consumer_groups);
    broker.create_topic("metrics-a", 2);
    broker.create_topic("other", 2);
    let owners = Owners::default();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let m = Member::start(
        &broker,
        "g-regex",
        "a",
        &["^metrics-.*"],
        &[],
        &owners,
        seen.clone(),
    );
    let topics = || -> BTreeSet<String> {
        owners
            .owners
            .lock()
            .expect("owners")
            .keys()
            .map(|(t, _)| t.clone())
            .collect()
    };
    eventually(Duration::from_secs(20), "a owns metrics-a", || {
        topics() == BTreeSet::from(["metrics-a".to_string()])
    });
    broker.create_topic("metrics-b", 3);
    eventually(Duration::from_secs(20), "a owns metrics-b too", || {
        owners.count("a") == 5
    });
    assert_eq!(
        topics(),
        BTreeSet::from(["metrics-a".to_string(), "metrics-b".to_string()])
    );
    // librdkafka sends its regexes combined, each in parentheses.
    let described = describe(&broker, "g-regex");
    assert_eq!(
        described.members[0].subscribed_topic_regex.as_deref(),
        Some("(^metrics-.*)")
    );
    m.leave();
    owners.check();
}

#[test]
fn committed_offsets_resume_in_the_next_member() {
    let broker = TestBroker::start_with(fast_consumer_groups);
    broker.create_topic("resume", 3);
    let values = produce_values(&broker, "resume", 3, 90);
    let c: BaseConsumer = member_config(&broker, "g-resume", &[])
        .create()
        .expect("consumer");
    c.subscribe(&["resume"]).expect("subscribe");
    let first = common::consume(&c, 45, Duration::from_secs(20));
    assert_eq!(first.len(), 45);
    c.commit_consumer_state(CommitMode::Sync)
        .expect("commit at the member epoch");
    drop(c);
    let d: BaseConsumer = member_config(&broker, "g-resume", &[])
        .create()
        .expect("consumer");
    d.subscribe(&["resume"]).expect("subscribe");
    let rest = common::consume(&d, 45, Duration::from_secs(20));
    assert_eq!(
        rest.len(),
        45,
        "the second member reads what the first did not commit"
    );
    let mut got: Vec<String> = first
        .iter()
        .chain(rest.iter())
        .map(|g| String::from_utf8_lossy(g.value.as_deref().unwrap_or_default()).into_owned())
        .collect();
    got.sort();
    let mut want = values;
    want.sort();
    assert_eq!(got, want, "every value once");
    assert!(common::consume(&d, 1, Duration::from_secs(2)).is_empty());
}

#[test]
fn the_group_survives_a_broker_restart_at_its_epoch() {
    let port = free_port();
    let mut broker = TestBroker::start_with(move |c| {
        fast_consumer_groups(c);
        c.set("listeners", &format!("127.0.0.1:{port}"))
            .expect("listeners");
    });
    broker.create_topic("durable", 4);
    let owners = Owners::default();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let a = Member::start(
        &broker,
        "g-durable",
        "a",
        &["durable"],
        &[],
        &owners,
        seen.clone(),
    );
    first_owns_all(&owners, "a", 4);
    let b = Member::start(
        &broker,
        "g-durable",
        "b",
        &["durable"],
        &[],
        &owners,
        seen.clone(),
    );
    eventually(Duration::from_secs(20), "a and b own two each", || {
        owners.owned_by("a").len() == 2 && owners.owned_by("b").len() == 2
    });
    eventually(Duration::from_secs(10), "stable", || {
        describe(&broker, "g-durable").group_state == "Stable"
    });
    let before = describe(&broker, "g-durable");
    broker.restart();
    let after = describe(&broker, "g-durable");
    assert_eq!(
        after.group_epoch, before.group_epoch,
        "the epoch is restored"
    );
    assert_eq!(after.assignment_epoch, before.assignment_epoch);
    assert_eq!(
        assignments(&after),
        assignments(&before),
        "the assignment is restored"
    );
    // The members reconnect and carry on at that epoch: no reassignment.
    std::thread::sleep(Duration::from_secs(2));
    let later = describe(&broker, "g-durable");
    assert_eq!(later.group_epoch, before.group_epoch, "{later:?}");
    assert_eq!(later.group_state, "Stable");
    assert_eq!(owners.owned_by("a").len(), 2);
    assert_eq!(owners.owned_by("b").len(), 2);
    a.leave();
    b.leave();
    owners.check();
}

/// The member of [`a_killed_member_loses_its_partitions_after_its_session`] that is
/// killed: this test binary run again with `MEMBER_PROCESS_BOOTSTRAP` set, printing how
/// many partitions it owns whenever that changes. Run as a plain test, it has nothing to
/// do.
#[test]
fn member_process() {
    let Ok(bootstrap) = std::env::var("MEMBER_PROCESS_BOOTSTRAP") else {
        return;
    };
    let consumer: BaseConsumer = common::client_config(&bootstrap)
        .set("group.id", "g-killed")
        .set("group.protocol", "consumer")
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    consumer.subscribe(&["killed"]).expect("subscribe");
    let mut last = usize::MAX;
    loop {
        let _ = consumer.poll(Duration::from_millis(50));
        let owned = consumer.assignment().map_or(0, |a| a.count());
        if owned != last {
            println!("owned {owned}");
            last = owned;
        }
    }
}

#[test]
fn a_killed_member_loses_its_partitions_after_its_session() {
    use std::io::BufRead;
    let broker = TestBroker::start_with(fast_consumer_groups);
    broker.create_topic("killed", 6);
    let mut child = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "member_process",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env("MEMBER_PROCESS_BOOTSTRAP", broker.bootstrap())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("member process");
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let wait_for = |want: &str| {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) if line.ends_with(want) => return,
                Ok(line) => eprintln!("member process: {line}"),
                Err(_) => panic!("the member process never printed {want:?}"),
            }
        }
    };
    wait_for("owned 6");
    let owners = Owners::default();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let b = Member::start(&broker, "g-killed", "b", &["killed"], &[], &owners, seen);
    wait_for("owned 3");
    eventually(Duration::from_secs(20), "b owns three", || {
        owners.owned_by("b").len() == 3
    });
    let epoch = describe(&broker, "g-killed").group_epoch;
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    // Nobody leaves: the dead member holds its partitions until its 4 s session ends.
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(describe(&broker, "g-killed").members.len(), 2);
    assert_eq!(owners.owned_by("b").len(), 3);
    eventually(Duration::from_secs(20), "b owns all six", || {
        owners.owned_by("b").len() == 6
    });
    let after = describe(&broker, "g-killed");
    assert_eq!(after.members.len(), 1);
    assert!(after.group_epoch > epoch, "the removal moved the epoch");
    b.leave();
    owners.check();
}

/// A classic (JoinGroup/SyncGroup) member's settings.
const CLASSIC: [(&str, &str); 3] = [
    ("group.protocol", "classic"),
    ("session.timeout.ms", "6000"),
    ("heartbeat.interval.ms", "300"),
];

/// The group's type as ListGroups v5 reports it.
fn group_type(broker: &TestBroker, group: &str) -> String {
    use aeon::protocol::messages::list_groups_request::ListGroupsRequest;
    match raw(
        &broker.bootstrap(),
        5,
        Request::ListGroups(ListGroupsRequest::default()),
    ) {
        Response::ListGroups(r) => r
            .groups
            .into_iter()
            .find(|g| g.group_id == group)
            .map(|g| g.group_type)
            .unwrap_or_default(),
        other => panic!("unexpected answer: {other:?}"),
    }
}

#[test]
fn a_live_group_moves_from_classic_to_consumer_and_back() {
    migrate_and_back("g-mig", &CLASSIC);
}

#[test]
fn a_live_cooperative_group_moves_from_classic_to_consumer_and_back() {
    let mut cooperative = CLASSIC.to_vec();
    cooperative.push(("partition.assignment.strategy", "cooperative-sticky"));
    migrate_and_back("g-coop", &cooperative);
}

/// Two classic members with `classic` settings, then a consumer-protocol member joins
/// and leaves again.
fn migrate_and_back(group: &str, classic: &[(&str, &str)]) {
    let broker = TestBroker::start_with(fast_consumer_groups);
    broker.create_topic("mig", 6);
    let values = produce_values(&broker, "mig", 6, 60);
    let owners = Owners::default();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let start = |name: &str, extra: &[(&str, &str)]| {
        Member::start(&broker, group, name, &["mig"], extra, &owners, seen.clone())
    };
    let c1 = start("c1", classic);
    let c2 = start("c2", classic);
    eventually(
        Duration::from_secs(30),
        "two classic members own three each",
        || owners.owned_by("c1").len() == 3 && owners.owned_by("c2").len() == 3,
    );
    assert_eq!(group_type(&broker, group), "classic");

    // A member of the new protocol joins the live group: it becomes a consumer group,
    // the classic members stay in it and the partitions are spread over all three.
    let n1 = start("n1", &[]);
    eventually(
        Duration::from_secs(30),
        "three members own two each",
        || {
            ["c1", "c2", "n1"]
                .iter()
                .all(|m| owners.owned_by(m).len() == 2)
        },
    );
    owners.check();
    assert_eq!(group_type(&broker, group), "consumer");
    eventually(
        Duration::from_secs(10),
        "the consumer group is stable",
        || describe(&broker, group).group_state == "Stable",
    );
    let described = describe(&broker, group);
    let mut kinds: Vec<i8> = described.members.iter().map(|m| m.member_type).collect();
    kinds.sort();
    assert_eq!(
        kinds,
        vec![0, 0, 1],
        "two classic members and one of the consumer protocol"
    );

    // The last consumer-protocol member leaves: the group turns classic again and the
    // classic members share everything.
    n1.leave();
    eventually(
        Duration::from_secs(30),
        "the classic members own three each again",
        || owners.owned_by("c1").len() == 3 && owners.owned_by("c2").len() == 3,
    );
    assert_eq!(group_type(&broker, group), "classic");
    assert_eq!(
        describe(&broker, group).error_code,
        aeon::protocol::ErrorCode::GroupIdNotFound.code()
    );
    eventually(Duration::from_secs(20), "every value consumed", || {
        let got: BTreeSet<String> = seen.lock().expect("seen").iter().cloned().collect();
        values.iter().all(|v| got.contains(v))
    });
    c1.leave();
    c2.leave();
    owners.check();
}

mod admin {
    //! The group APIs around a consumer group, over a plain socket.

    use super::*;
    use aeon::protocol::messages::consumer_group_heartbeat_request::ConsumerGroupHeartbeatRequest;
    use aeon::protocol::messages::consumer_group_heartbeat_response::ConsumerGroupHeartbeatResponse;
    use aeon::protocol::messages::delete_groups_request::DeleteGroupsRequest;
    use aeon::protocol::messages::describe_groups_request::DescribeGroupsRequest;
    use aeon::protocol::messages::join_group_request::{
        JoinGroupRequest, JoinGroupRequestProtocol,
    };
    use aeon::protocol::messages::list_groups_request::ListGroupsRequest;
    use aeon::protocol::messages::offset_commit_request::{
        OffsetCommitRequest, OffsetCommitRequestPartition, OffsetCommitRequestTopic,
    };
    use aeon::protocol::messages::offset_delete_request::{
        OffsetDeleteRequest, OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
    };
    use aeon::protocol::messages::offset_fetch_request::{
        OffsetFetchRequest, OffsetFetchRequestGroup, OffsetFetchRequestTopics,
    };
    use aeon::protocol::ErrorCode;

    fn heartbeat(
        broker: &TestBroker,
        req: ConsumerGroupHeartbeatRequest,
    ) -> ConsumerGroupHeartbeatResponse {
        match raw(&broker.bootstrap(), 1, Request::ConsumerGroupHeartbeat(req)) {
            Response::ConsumerGroupHeartbeat(r) => r,
            other => panic!("unexpected answer: {other:?}"),
        }
    }

    fn join(group: &str, member: &str, topics: &[&str]) -> ConsumerGroupHeartbeatRequest {
        ConsumerGroupHeartbeatRequest {
            group_id: group.into(),
            member_id: member.into(),
            member_epoch: 0,
            rebalance_timeout_ms: 30_000,
            subscribed_topic_names: Some(topics.iter().map(|t| t.to_string()).collect()),
            topic_partitions: Some(Vec::new()),
            ..Default::default()
        }
    }

    fn commit(group: &str, member: &str, epoch: i32, version: i16, broker: &TestBroker) -> i16 {
        let req = OffsetCommitRequest {
            group_id: group.into(),
            generation_id_or_member_epoch: epoch,
            member_id: member.into(),
            retention_time_ms: -1,
            topics: vec![OffsetCommitRequestTopic {
                name: "admin".into(),
                partitions: vec![OffsetCommitRequestPartition {
                    partition_index: 0,
                    committed_offset: 7,
                    committed_leader_epoch: -1,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        match raw(&broker.bootstrap(), version, Request::OffsetCommit(req)) {
            Response::OffsetCommit(r) => r.topics[0].partitions[0].error_code,
            other => panic!("unexpected answer: {other:?}"),
        }
    }

    fn fetch(group: &str, member: &str, epoch: i32, broker: &TestBroker) -> (i16, i64) {
        let req = OffsetFetchRequest {
            groups: vec![OffsetFetchRequestGroup {
                group_id: group.into(),
                member_id: Some(member.into()),
                member_epoch: epoch,
                topics: Some(vec![OffsetFetchRequestTopics {
                    name: "admin".into(),
                    partition_indexes: vec![0],
                    ..Default::default()
                }]),
                ..Default::default()
            }],
            ..Default::default()
        };
        match raw(&broker.bootstrap(), 9, Request::OffsetFetch(req)) {
            Response::OffsetFetch(r) => {
                let g = &r.groups[0];
                let offset = g
                    .topics
                    .first()
                    .and_then(|t| t.partitions.first())
                    .map_or(-1, |p| p.committed_offset);
                (g.error_code, offset)
            }
            other => panic!("unexpected answer: {other:?}"),
        }
    }

    #[test]
    fn offsets_check_the_member_epoch_and_admin_apis_see_a_consumer_group() {
        let broker = TestBroker::start_with(fast_consumer_groups);
        broker.create_topic("admin", 2);
        let joined = heartbeat(&broker, join("g-admin", "m1", &["admin"]));
        assert_eq!(joined.error_code, 0, "{joined:?}");
        assert_eq!(joined.member_epoch, 1);
        assert_eq!(joined.member_id.as_deref(), Some("m1"));
        assert_eq!(joined.heartbeat_interval_ms, 300);
        let assigned: usize = joined.assignment.as_ref().map_or(0, |a| {
            a.topic_partitions.iter().map(|t| t.partitions.len()).sum()
        });
        assert_eq!(assigned, 2, "the only member gets both partitions");

        // OffsetCommit: v9+ with the current epoch; older versions are refused to its
        // members, a stale epoch is STALE_MEMBER_EPOCH.
        assert_eq!(commit("g-admin", "m1", 1, 9, &broker), 0);
        assert_eq!(
            commit("g-admin", "m1", 1, 8, &broker),
            ErrorCode::UnsupportedVersion.code()
        );
        assert_eq!(
            commit("g-admin", "m1", 0, 9, &broker),
            ErrorCode::StaleMemberEpoch.code()
        );
        assert_eq!(
            commit("g-admin", "stranger", 1, 9, &broker),
            ErrorCode::UnknownMemberId.code()
        );
        assert_eq!(fetch("g-admin", "m1", 1, &broker), (0, 7));
        assert_eq!(
            fetch("g-admin", "m1", 3, &broker).0,
            ErrorCode::StaleMemberEpoch.code()
        );

        // A classic member of another protocol type cannot join; a consumer one is
        // asked for a member id first (JoinGroup v4+), as Kafka does.
        let classic = |protocol_type: &str| JoinGroupRequest {
            group_id: "g-admin".into(),
            session_timeout_ms: 10_000,
            rebalance_timeout_ms: 10_000,
            protocol_type: protocol_type.into(),
            protocols: vec![JoinGroupRequestProtocol {
                name: "range".into(),
                metadata: bytes::Bytes::from_static(b"\0\0\0\0\0\x01\0\x05admin\xff\xff\xff\xff"),
                ..Default::default()
            }],
            ..Default::default()
        };
        for (protocol_type, code) in [
            ("connect", ErrorCode::InconsistentGroupProtocol),
            ("consumer", ErrorCode::MemberIdRequired),
        ] {
            match raw(
                &broker.bootstrap(),
                5,
                Request::JoinGroup(classic(protocol_type)),
            ) {
                Response::JoinGroup(r) => assert_eq!(r.error_code, code.code()),
                other => panic!("unexpected answer: {other:?}"),
            }
        }

        // ListGroups v5: by type and by the consumer protocol's state names.
        assert_eq!(
            commit("g-classic", "", -1, 8, &broker),
            0,
            "a simple classic group"
        );
        let list = |types: &[&str], states: &[&str]| -> Vec<(String, String, String)> {
            let req = ListGroupsRequest {
                types_filter: types.iter().map(|t| t.to_string()).collect(),
                states_filter: states.iter().map(|t| t.to_string()).collect(),
                ..Default::default()
            };
            match raw(&broker.bootstrap(), 5, Request::ListGroups(req)) {
                Response::ListGroups(r) => r
                    .groups
                    .into_iter()
                    .map(|g| (g.group_id, g.group_type, g.group_state))
                    .collect(),
                other => panic!("unexpected answer: {other:?}"),
            }
        };
        assert_eq!(
            list(&["consumer"], &[]),
            vec![("g-admin".into(), "consumer".into(), "Stable".into())]
        );
        assert_eq!(
            list(&["classic"], &[]),
            vec![("g-classic".into(), "classic".into(), "Empty".into())]
        );
        assert_eq!(list(&[], &["stable"]).len(), 1);
        assert_eq!(list(&[], &[]).len(), 2);

        // DescribeGroups: a consumer group is Dead to it, with GROUP_ID_NOT_FOUND from v6.
        for (version, code) in [(5, 0), (6, ErrorCode::GroupIdNotFound.code())] {
            let req = DescribeGroupsRequest {
                groups: vec!["g-admin".into()],
                ..Default::default()
            };
            match raw(&broker.bootstrap(), version, Request::DescribeGroups(req)) {
                Response::DescribeGroups(r) => {
                    assert_eq!(r.groups[0].group_state, "Dead");
                    assert_eq!(r.groups[0].error_code, code);
                }
                other => panic!("unexpected answer: {other:?}"),
            }
        }
        // ConsumerGroupDescribe: a classic group is not a consumer group.
        let classic = describe(&broker, "g-classic");
        assert_eq!(classic.error_code, ErrorCode::GroupIdNotFound.code());

        // OffsetDelete refuses a subscribed topic; DeleteGroups a group with members.
        let req = OffsetDeleteRequest {
            group_id: "g-admin".into(),
            topics: vec![OffsetDeleteRequestTopic {
                name: "admin".into(),
                partitions: vec![OffsetDeleteRequestPartition { partition_index: 0 }],
            }],
        };
        match raw(&broker.bootstrap(), 0, Request::OffsetDelete(req.clone())) {
            Response::OffsetDelete(r) => assert_eq!(
                r.topics[0].partitions[0].error_code,
                ErrorCode::GroupSubscribedToTopic.code()
            ),
            other => panic!("unexpected answer: {other:?}"),
        }
        let delete = |broker: &TestBroker| match raw(
            &broker.bootstrap(),
            2,
            Request::DeleteGroups(DeleteGroupsRequest {
                groups_names: vec!["g-admin".into()],
                ..Default::default()
            }),
        ) {
            Response::DeleteGroups(r) => r.results[0].error_code,
            other => panic!("unexpected answer: {other:?}"),
        };
        assert_eq!(delete(&broker), ErrorCode::NonEmptyGroup.code());

        // The member leaves: the group is empty, its offsets can go, then the group.
        let left = heartbeat(
            &broker,
            ConsumerGroupHeartbeatRequest {
                group_id: "g-admin".into(),
                member_id: "m1".into(),
                member_epoch: -1,
                ..Default::default()
            },
        );
        assert_eq!((left.error_code, left.member_epoch), (0, -1));
        assert_eq!(describe(&broker, "g-admin").group_state, "Empty");
        match raw(&broker.bootstrap(), 0, Request::OffsetDelete(req)) {
            Response::OffsetDelete(r) => assert_eq!(r.topics[0].partitions[0].error_code, 0),
            other => panic!("unexpected answer: {other:?}"),
        }
        assert_eq!(delete(&broker), 0);
        assert_eq!(
            describe(&broker, "g-admin").error_code,
            ErrorCode::GroupIdNotFound.code()
        );
        assert_eq!(delete(&broker), ErrorCode::GroupIdNotFound.code());
    }

    /// IncrementalAlterConfigs of one GROUP resource key (SET, or DELETE without value).
    fn alter_group(broker: &TestBroker, group: &str, key: &str, value: Option<&str>) -> i16 {
        use aeon::protocol::messages::incremental_alter_configs_request::{
            AlterConfigsResource, AlterableConfig, IncrementalAlterConfigsRequest,
        };
        let req = IncrementalAlterConfigsRequest {
            resources: vec![AlterConfigsResource {
                resource_type: 32,
                resource_name: group.into(),
                configs: vec![AlterableConfig {
                    name: key.into(),
                    config_operation: if value.is_some() { 0 } else { 1 },
                    value: value.map(str::to_owned),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        match raw(
            &broker.bootstrap(),
            1,
            Request::IncrementalAlterConfigs(req),
        ) {
            Response::IncrementalAlterConfigs(r) => r.responses[0].error_code,
            other => panic!("unexpected answer: {other:?}"),
        }
    }

    /// DescribeConfigs of a GROUP resource: (key, value, source).
    fn describe_group(broker: &TestBroker, group: &str) -> Vec<(String, String, i8)> {
        use aeon::protocol::messages::describe_configs_request::{
            DescribeConfigsRequest, DescribeConfigsResource,
        };
        let req = DescribeConfigsRequest {
            resources: vec![DescribeConfigsResource {
                resource_type: 32,
                resource_name: group.into(),
                configuration_keys: None,
                ..Default::default()
            }],
            ..Default::default()
        };
        match raw(&broker.bootstrap(), 4, Request::DescribeConfigs(req)) {
            Response::DescribeConfigs(r) => r.results[0]
                .configs
                .iter()
                .map(|c| {
                    (
                        c.name.clone(),
                        c.value.clone().unwrap_or_default(),
                        c.config_source,
                    )
                })
                .collect(),
            other => panic!("unexpected answer: {other:?}"),
        }
    }

    #[test]
    fn group_config_overrides_set_the_heartbeat_and_session_of_one_group_and_survive_a_restart() {
        let port = free_port();
        let mut broker = TestBroker::start_with(move |c| {
            fast_consumer_groups(c);
            c.set("listeners", &format!("127.0.0.1:{port}"))
                .expect("listeners");
        });
        broker.create_topic("cfg", 1);
        assert_eq!(
            describe_group(&broker, "g-cfg"),
            vec![
                ("consumer.session.timeout.ms".into(), "4000".into(), 5),
                ("consumer.heartbeat.interval.ms".into(), "300".into(), 5),
            ],
            "the broker's defaults, before any override"
        );
        let invalid = ErrorCode::InvalidConfig.code();
        assert_eq!(
            alter_group(&broker, "g-cfg", "consumer.session.timeout.ms", Some("999")),
            invalid,
            "below group.consumer.min.session.timeout.ms"
        );
        assert_eq!(
            alter_group(
                &broker,
                "g-cfg",
                "consumer.heartbeat.interval.ms",
                Some("5000")
            ),
            invalid,
            "not below the session timeout"
        );
        assert_eq!(
            alter_group(&broker, "g-cfg", "consumer.assignors", Some("range")),
            invalid,
            "not a group config"
        );
        assert_eq!(
            alter_group(
                &broker,
                "g-cfg",
                "consumer.heartbeat.interval.ms",
                Some("150")
            ),
            0
        );
        assert_eq!(
            alter_group(
                &broker,
                "g-cfg",
                "consumer.session.timeout.ms",
                Some("2000")
            ),
            0
        );
        let joined = heartbeat(&broker, join("g-cfg", "m1", &["cfg"]));
        assert_eq!(
            joined.heartbeat_interval_ms, 150,
            "the group's own interval"
        );
        let other = heartbeat(&broker, join("g-other", "m1", &["cfg"]));
        assert_eq!(
            other.heartbeat_interval_ms, 300,
            "other groups keep the broker's"
        );
        broker.restart();
        assert_eq!(
            describe_group(&broker, "g-cfg"),
            vec![
                ("consumer.session.timeout.ms".into(), "2000".into(), 8),
                ("consumer.heartbeat.interval.ms".into(), "150".into(), 8),
            ]
        );
        // The member's session is now 2 s: silent for longer, it is gone.
        std::thread::sleep(Duration::from_millis(2600));
        assert!(describe(&broker, "g-cfg").members.is_empty());
        assert_eq!(describe(&broker, "g-other").members.len(), 1, "4 s there");
        assert_eq!(
            alter_group(&broker, "g-cfg", "consumer.heartbeat.interval.ms", None),
            0
        );
        assert_eq!(
            describe_group(&broker, "g-cfg")[1],
            ("consumer.heartbeat.interval.ms".into(), "300".into(), 5)
        );
    }

    #[test]
    fn bad_heartbeats_get_kafkas_errors() {
        let broker = TestBroker::start_with(fast_consumer_groups);
        broker.create_topic("bad", 1);
        let mut regex = join("g-bad", "m1", &[]);
        regex.subscribed_topic_names = None;
        regex.subscribed_topic_regex = Some("(unclosed".into());
        let r = heartbeat(&broker, regex);
        assert_eq!(r.error_code, ErrorCode::InvalidRegularExpression.code());
        assert!(r.error_message.is_some());
        let mut assignor = join("g-bad", "m1", &["bad"]);
        assignor.server_assignor = Some("cooperative-sticky".into());
        assert_eq!(
            heartbeat(&broker, assignor).error_code,
            ErrorCode::UnsupportedAssignor.code()
        );
        let mut owning = join("g-bad", "m1", &["bad"]);
        owning.topic_partitions = None;
        assert_eq!(
            heartbeat(&broker, owning).error_code,
            ErrorCode::InvalidRequest.code()
        );
        let mut unknown = join("g-bad", "m1", &["bad"]);
        unknown.member_epoch = 3;
        assert_eq!(
            heartbeat(&broker, unknown).error_code,
            ErrorCode::UnknownMemberId.code()
        );
        let ok = heartbeat(&broker, join("g-bad", "m1", &["bad"]));
        assert_eq!((ok.error_code, ok.member_epoch), (0, 1));
        let mut ahead = join("g-bad", "m1", &["bad"]);
        ahead.member_epoch = 9;
        assert_eq!(
            heartbeat(&broker, ahead).error_code,
            ErrorCode::FencedMemberEpoch.code()
        );
        // v0: the coordinator makes up the member id.
        let mut v0 = join("g-bad", "", &["bad"]);
        v0.member_id = String::new();
        let r = match raw(&broker.bootstrap(), 0, Request::ConsumerGroupHeartbeat(v0)) {
            Response::ConsumerGroupHeartbeat(r) => r,
            other => panic!("unexpected answer: {other:?}"),
        };
        assert_eq!(r.error_code, 0);
        assert!(r.member_id.is_some_and(|id| !id.is_empty()));
    }
}
