//! Partition replication on a cluster of three real `aeon` processes, with real
//! clients: followers fetch their leaders' batches unchanged, acks=all waits for the
//! in-sync replicas and is refused below `min.insync.replicas`, a killed leader is
//! replaced from the ISR with no acknowledged record lost or doubled, and a follower
//! whose log diverged (it took records that never reached the others) truncates them
//! when it follows the new leader.

mod common;

use aeon::protocol::messages::describe_groups_request::DescribeGroupsRequest;
use aeon::protocol::messages::offset_fetch_request::{OffsetFetchRequest, OffsetFetchRequestGroup};
use aeon::protocol::messages::produce_response::PartitionProduceResponse;
use aeon::protocol::records::{BatchIter, RecordBatchBuilder, RecordSpec};
use aeon::protocol::{ErrorCode, Request, Response};
use common::cluster::{
    cluster_info, isrs, leaders, partition_batches, reader, until, Acked, TestCluster,
};
use common::{
    admin_at, assigned_consumer, client_config, consume, create_topic_with, raw, send_all,
};
use rdkafka::admin::{NewTopic, TopicReplication};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Until every replica of every partition of `topic` holds the same bytes; on failure
/// it prints each replica's size and what the brokers logged about their roles.
fn until_replicas_match(cluster: &TestCluster, topic: &str, partitions: i32, ids: &[i32]) {
    let same = || {
        (0..partitions).all(|p| {
            let first = partition_batches(&cluster.data_dir(ids[0]), topic, p);
            !first.is_empty()
                && ids[1..]
                    .iter()
                    .all(|&id| partition_batches(&cluster.data_dir(id), topic, p) == first)
        })
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !same() {
        if std::time::Instant::now() > deadline {
            for p in 0..partitions {
                for &id in ids {
                    let n = partition_batches(&cluster.data_dir(id), topic, p).len();
                    eprintln!("{topic}-{p} on broker {id}: {n} bytes");
                }
            }
            for node in &cluster.nodes {
                if let Some(process) = &node.process {
                    for line in process.log.lock().expect("log").iter() {
                        if ["partition::replica", "cluster::fetcher"]
                            .iter()
                            .any(|w| line.contains(w))
                        {
                            eprintln!("broker {}: {line}", node.id);
                        }
                    }
                }
            }
            panic!("the replicas of {topic} differ");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// An idempotent acks=all producer that keeps what was acknowledged, patient through
/// failovers.
fn idempotent_acks_all(bootstrap: &str) -> BaseProducer<Acked> {
    client_config(bootstrap)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .set("message.timeout.ms", "120000")
        .create_with_context(Acked::default())
        .expect("producer")
}

#[test]
fn a_killed_leader_is_replaced_from_the_isr_and_no_acknowledged_record_is_lost_or_doubled() {
    let mut cluster = TestCluster::configured(3, 0, "\"replica.lag.time.max.ms\" = 5000\n");
    cluster.start(&[1, 2, 3]);
    let admin = admin_at(&cluster.bootstrap());
    create_topic_with(
        &admin,
        &NewTopic::new("replicated", 3, TopicReplication::Fixed(3)).set("min.insync.replicas", "2"),
    );
    until(
        Duration::from_secs(30),
        "every partition has three in sync",
        || {
            let isr = isrs(&cluster.addr(1), "replicated");
            isr.len() == 3 && isr.values().all(|i| i.len() == 3)
        },
    );
    let before = leaders(&cluster.addr(1), "replicated");

    // An idempotent acks=all producer sends value i to partition i % 3 throughout.
    const N: u64 = 30_000;
    let producer = idempotent_acks_all(&cluster.bootstrap());
    let values: Vec<String> = (0..N).map(|i| i.to_string()).collect();
    let records = values.iter().enumerate().map(|(i, v)| {
        BaseRecord::<[u8], [u8]>::to("replicated")
            .partition(i as i32 % 3)
            .payload(v.as_bytes())
    });
    let (first, rest) = (N / 3, N - N / 3);
    send_all(&producer, records.clone().take(first as usize));
    // The leader of partition 0 dies while the rest is being sent.
    let victim = before[&0];
    cluster.kill(victim);
    send_all(&producer, records.skip(first as usize).take(rest as usize));
    producer
        .flush(Duration::from_secs(120))
        .expect("every record acknowledged");
    let acked = producer.context().values.lock().expect("acked").clone();
    let failed = producer.context().failed.lock().expect("failed").clone();
    assert!(
        failed.is_empty(),
        "deliveries failed: {:?}",
        &failed[..failed.len().min(5)]
    );
    assert_eq!(acked.len() as u64, N, "every record acknowledged once");

    let survivor = (1..=3).find(|&id| id != victim).expect("a survivor");
    let after = leaders(&cluster.addr(survivor), "replicated");
    assert_ne!(after[&0], victim, "partition 0 has a new leader: {after:?}");
    assert!(after[&0] > 0, "partition 0 is led: {after:?}");

    // The killed broker comes back, catches up and rejoins every ISR.
    cluster.start(&[victim]);
    until(
        Duration::from_secs(60),
        "the restarted broker is in sync again",
        || {
            let isr = isrs(&cluster.addr(survivor), "replicated");
            isr.len() == 3 && isr.values().all(|i| i.len() == 3)
        },
    );

    // Every acknowledged record, exactly once, in order in its partition.
    let consumer = assigned_consumer(&reader(&cluster.bootstrap()), "replicated", 3);
    let got = consume(&consumer, N as usize, Duration::from_secs(60));
    let mut seen = BTreeSet::new();
    let mut last: BTreeMap<i32, u64> = BTreeMap::new();
    for g in &got {
        let v: u64 = std::str::from_utf8(g.value.as_deref().expect("value"))
            .expect("utf-8")
            .parse()
            .expect("number");
        assert!(seen.insert(v), "value {v} read twice");
        assert_eq!(
            v % 3,
            g.partition as u64,
            "value {v} in partition {}",
            g.partition
        );
        if let Some(prev) = last.insert(g.partition, v) {
            assert!(prev < v, "partition {}: {v} after {prev}", g.partition);
        }
    }
    assert_eq!(seen.len() as u64, N, "every acknowledged record is there");
    assert_eq!(seen, acked.iter().copied().collect::<BTreeSet<_>>());

    // Followers hold their leaders' batches unchanged: the same bytes on all three.
    until_replicas_match(&cluster, "replicated", 3, &[1, 2, 3]);
}

/// A batch of `values` as a producer without idempotence sends it.
fn batch(values: &[&str]) -> Vec<u8> {
    values
        .iter()
        .fold(RecordBatchBuilder::new(0, 1_700_000_000_000), |b, v| {
            b.record(RecordSpec::new(None, Some(v.as_bytes())))
        })
        .build()
}

/// Produces `values` to partition 0 of `topic` at `addr` with `acks` and a request
/// timeout of `timeout_ms`, and returns the partition's answer.
fn produce(
    addr: &str,
    topic: &str,
    acks: i16,
    timeout_ms: i32,
    values: &[&str],
) -> PartitionProduceResponse {
    let mut req = common::raw::produce_request(topic, 0, None, acks, batch(values));
    req.timeout_ms = timeout_ms;
    let Response::Produce(r) = common::raw::raw(addr, 9, req.into()) else {
        panic!("not a produce response")
    };
    r.responses[0].partition_responses[0].clone()
}

/// The values of partition 0 of `topic`, read from its leader through `bootstrap`.
fn values(bootstrap: &str, topic: &str, n: usize) -> Vec<String> {
    let consumer = assigned_consumer(&reader(bootstrap), topic, 1);
    consume(&consumer, n, Duration::from_secs(20))
        .into_iter()
        .map(|g| String::from_utf8(g.value.unwrap_or_default()).expect("utf-8"))
        .collect()
}

#[test]
fn a_diverged_follower_truncates_and_acks_all_waits_for_the_isr_and_min_insync_replicas() {
    // Followers stay in the ISR while paused (no lag shrink in this test's time).
    let mut cluster = TestCluster::configured(3, 0, "\"replica.lag.time.max.ms\" = 120000\n");
    cluster.start(&[1, 2, 3]);
    let admin = admin_at(&cluster.bootstrap());
    let placement: &[&[i32]] = &[&[1, 2]];
    create_topic_with(
        &admin,
        &NewTopic::new("diverge", 1, TopicReplication::Variable(placement)),
    );
    assert_eq!(cluster.until_applied(&[1, 2, 3], "diverge", 1)[&0], 1);
    let a = produce(&cluster.addr(1), "diverge", -1, 10_000, &["a0", "a1", "a2"]);
    assert_eq!(a.error_code, 0, "{a:?}");

    // The follower stops: acks=all cannot complete (it is still in the ISR) and times
    // out; acks=1 is written on the leader alone. (A fetch it had waiting at the leader
    // is answered, empty, within replica.fetch.wait.max.ms: nothing after reaches it.)
    cluster.signal(2, "STOP");
    std::thread::sleep(Duration::from_millis(1500));
    let waiting = produce(&cluster.addr(1), "diverge", -1, 1_000, &["w0"]);
    assert_eq!(
        waiting.error_code,
        ErrorCode::RequestTimedOut.code(),
        "{waiting:?}"
    );
    // If the stopped broker led the metadata quorum, broker 1's session may lapse
    // until a new quorum leader acknowledges its heartbeats: it refuses clients for
    // that moment (NOT_LEADER_OR_FOLLOWER, retriable), as a client retries.
    let mut x = produce(&cluster.addr(1), "diverge", 1, 10_000, &["x0", "x1"]);
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while x.error_code == ErrorCode::NotLeaderOrFollower.code()
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(200));
        x = produce(&cluster.addr(1), "diverge", 1, 10_000, &["x0", "x1"]);
    }
    assert_eq!(x.error_code, 0, "{x:?}");

    // The leader stops and the follower resumes: the controller fences broker 1 and
    // elects broker 2 from the ISR, which never got w0, x0 or x1.
    cluster.signal(1, "STOP");
    cluster.signal(2, "CONT");
    until(Duration::from_secs(30), "broker 2 leads", || {
        leaders(&cluster.addr(3), "diverge").get(&0) == Some(&2)
    });
    let y = produce(
        &cluster.addr(2),
        "diverge",
        -1,
        10_000,
        &["y0", "y1", "y2", "y3"],
    );
    assert_eq!(y.error_code, 0, "{y:?}");

    // Broker 1 resumes, follows broker 2, cuts w0, x0 and x1 and takes y0..y3.
    cluster.signal(1, "CONT");
    until(Duration::from_secs(30), "broker 1 in sync again", || {
        isrs(&cluster.addr(3), "diverge").get(&0) == Some(&BTreeSet::from([1, 2]))
    });
    until_replicas_match(&cluster, "diverge", 1, &[1, 2]);
    assert_eq!(
        values(&cluster.bootstrap(), "diverge", 7),
        ["a0", "a1", "a2", "y0", "y1", "y2", "y3"],
        "the diverged tail is gone everywhere"
    );

    // min.insync.replicas=2 with broker 1 gone: acks=all is refused before anything is
    // written (NOT_ENOUGH_REPLICAS); acks=1 is still served.
    cluster.kill(1);
    until(Duration::from_secs(30), "broker 1 out of the ISR", || {
        isrs(&cluster.addr(3), "diverge").get(&0) == Some(&BTreeSet::from([2]))
    });
    let config =
        rdkafka::admin::AlterConfig::new(rdkafka::admin::ResourceSpecifier::Topic("diverge"))
            .set("min.insync.replicas", "2");
    let altered =
        futures_executor(admin.alter_configs([&config], &rdkafka::admin::AdminOptions::new()));
    assert!(altered.is_ok(), "{altered:?}");
    until(Duration::from_secs(10), "acks=all refused", || {
        produce(&cluster.addr(2), "diverge", -1, 10_000, &["n0"]).error_code
            == ErrorCode::NotEnoughReplicas.code()
    });
    let one = produce(&cluster.addr(2), "diverge", 1, 10_000, &["z0"]);
    assert_eq!(one.error_code, 0, "{one:?}");
}

/// Runs an admin future to completion on this thread.
fn futures_executor<F: std::future::Future>(f: F) -> F::Output {
    futures::executor::block_on(f)
}

/// Kills the leader of partition 0 of a new three-replica topic, waits for the failover,
/// restarts it and waits until it is back in every ISR; answers the leaders from
/// before (each partition's preferred replica) and the broker that was killed.
fn fail_over_and_back(cluster: &mut TestCluster, topic: &str) -> (BTreeMap<i32, i32>, i32) {
    let admin = admin_at(&cluster.bootstrap());
    create_topic_with(&admin, &NewTopic::new(topic, 3, TopicReplication::Fixed(3)));
    until(
        Duration::from_secs(30),
        "every partition has three in sync",
        || {
            let isr = isrs(&cluster.addr(1), topic);
            isr.len() == 3 && isr.values().all(|i| i.len() == 3)
        },
    );
    let preferred = leaders(&cluster.addr(1), topic);
    let victim = preferred[&0];
    cluster.kill(victim);
    let other = (1..=3).find(|&b| b != victim).expect("a survivor");
    until(Duration::from_secs(30), "a new leader", || {
        leaders(&cluster.addr(other), topic)
            .get(&0)
            .is_some_and(|&l| l > 0 && l != victim)
    });
    cluster.start(&[victim]);
    until(
        Duration::from_secs(60),
        "the restarted broker in sync",
        || {
            let isr = isrs(&cluster.addr(other), topic);
            isr.len() == 3 && isr.values().all(|i| i.len() == 3)
        },
    );
    (preferred, victim)
}

#[test]
fn elect_leaders_moves_leadership_back_to_the_preferred_replicas() {
    use aeon::protocol::messages::elect_leaders_request::ElectLeadersRequest;
    let mut cluster = TestCluster::configured(3, 0, "\"auto.leader.rebalance.enable\" = false\n");
    cluster.start(&[1, 2, 3]);
    let (preferred, victim) = fail_over_and_back(&mut cluster, "elect");
    let now = leaders(&cluster.addr(victim), "elect");
    assert_ne!(
        now, preferred,
        "without a rebalance the leadership stays moved"
    );
    let elect = |cluster: &TestCluster| {
        let req = ElectLeadersRequest {
            election_type: 0,
            topic_partitions: None,
            timeout_ms: 10_000,
            ..Default::default()
        };
        let Response::ElectLeaders(r) = common::raw::raw(&cluster.addr(1), 2, req.into()) else {
            panic!("not an ElectLeaders response")
        };
        r.replica_election_results
            .into_iter()
            .filter(|t| t.topic == "elect")
            .flat_map(|t| t.partition_result)
            .map(|p| (p.partition_id, p.error_code))
            .collect::<BTreeMap<i32, i16>>()
    };
    let first = elect(&cluster);
    for (p, code) in &first {
        let expected = if now[p] == preferred[p] {
            ErrorCode::ElectionNotNeeded.code()
        } else {
            0
        };
        assert_eq!(*code, expected, "partition {p}: {first:?}");
    }
    until(
        Duration::from_secs(10),
        "the preferred replicas lead",
        || leaders(&cluster.addr(1), "elect") == preferred,
    );
    assert!(
        elect(&cluster)
            .values()
            .all(|&c| c == ErrorCode::ElectionNotNeeded.code()),
        "a second election has nothing to do"
    );
}

#[test]
fn the_controller_moves_leadership_back_by_itself() {
    let mut cluster =
        TestCluster::configured(3, 0, "\"leader.imbalance.check.interval.seconds\" = 2\n");
    cluster.start(&[1, 2, 3]);
    let (preferred, _) = fail_over_and_back(&mut cluster, "rebalance");
    until(
        Duration::from_secs(30),
        "the preferred replicas lead again",
        || leaders(&cluster.addr(1), "rebalance") == preferred,
    );
}

/// The coordinator of `group` as broker `addr` names it (FindCoordinator v3), if any.
fn coordinator_of(addr: &str, group: &str) -> Option<i32> {
    use aeon::protocol::messages::find_coordinator_request::FindCoordinatorRequest;
    let req = FindCoordinatorRequest {
        key: group.into(),
        key_type: 0,
        ..Default::default()
    };
    match common::raw::raw(addr, 3, req.into()) {
        Response::FindCoordinator(r) if r.error_code == 0 => Some(r.node_id),
        _ => None,
    }
}

/// Commits `offset` for partition 0 of `topic` in `group`, retried while the
/// coordinator is loading or moving.
fn commit_offset(bootstrap: &str, group: &str, topic: &str, offset: i64) {
    let consumer: BaseConsumer = client_config(bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut tpl = rdkafka::TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, rdkafka::Offset::Offset(offset))
        .expect("tpl");
    until(Duration::from_secs(60), "the commit is taken", || {
        consumer
            .commit(&tpl, rdkafka::consumer::CommitMode::Sync)
            .is_ok()
    });
}

/// The committed offset of partition 0 of `topic` for `group`.
fn committed_offset(bootstrap: &str, group: &str, topic: &str) -> Option<i64> {
    let consumer: BaseConsumer = client_config(bootstrap)
        .set("group.id", group)
        .create()
        .expect("consumer");
    let mut tpl = rdkafka::TopicPartitionList::new();
    tpl.add_partition(topic, 0);
    let got = consumer
        .committed_offsets(tpl, Duration::from_secs(10))
        .ok()?;
    match got.find_partition(topic, 0)?.offset() {
        rdkafka::Offset::Offset(o) => Some(o),
        _ => None,
    }
}

#[test]
fn a_groups_coordinator_moves_with_its_partition_and_its_commits_survive() {
    let mut cluster = TestCluster::configured(3, 0, "\"replica.lag.time.max.ms\" = 5000\n");
    cluster.start(&[1, 2, 3]);
    let admin = admin_at(&cluster.bootstrap());
    create_topic_with(
        &admin,
        &NewTopic::new("work", 1, TopicReplication::Fixed(3)),
    );
    commit_offset(&cluster.bootstrap(), "g-move", "work", 40);
    // __consumer_offsets has three replicas: every partition in sync on all three.
    until(
        Duration::from_secs(60),
        "__consumer_offsets in sync",
        || {
            let isr = isrs(&cluster.addr(1), "__consumer_offsets");
            isr.len() == 50 && isr.values().all(|i| i.len() == 3)
        },
    );
    let coordinator = coordinator_of(&cluster.addr(1), "g-move").expect("a coordinator");
    cluster.kill(coordinator);
    let survivor = (1..=3).find(|&b| b != coordinator).expect("a survivor");
    until(Duration::from_secs(30), "a new coordinator", || {
        coordinator_of(&cluster.addr(survivor), "g-move").is_some_and(|c| c != coordinator)
    });
    // The new coordinator loaded the group from its replica of the partition.
    until(Duration::from_secs(30), "the commit is there", || {
        committed_offset(&cluster.bootstrap(), "g-move", "work") == Some(40)
    });
    commit_offset(&cluster.bootstrap(), "g-move", "work", 70);
    assert_eq!(
        committed_offset(&cluster.bootstrap(), "g-move", "work"),
        Some(70)
    );
    // A broker that does not coordinate the group says so (NOT_COORDINATOR); it does
    // not answer as if the group had no offsets, which would send a consumer back to
    // its reset policy.
    let now = coordinator_of(&cluster.addr(survivor), "g-move").expect("a coordinator");
    let other = (1..=3)
        .find(|&b| b != coordinator && b != now)
        .expect("a third broker");
    let asked = raw(
        &cluster.addr(other),
        8,
        Request::OffsetFetch(OffsetFetchRequest {
            groups: vec![OffsetFetchRequestGroup {
                group_id: "g-move".into(),
                topics: None,
                ..Default::default()
            }],
            ..Default::default()
        }),
    );
    let Response::OffsetFetch(fetched) = asked else {
        panic!("not an OffsetFetch answer: {asked:?}")
    };
    assert_eq!(
        fetched.groups[0].error_code,
        ErrorCode::NotCoordinator.code(),
        "OffsetFetch at broker {other}: {fetched:?}"
    );
    let asked = raw(
        &cluster.addr(other),
        5,
        Request::DescribeGroups(DescribeGroupsRequest {
            groups: vec!["g-move".into()],
            ..Default::default()
        }),
    );
    let Response::DescribeGroups(described) = asked else {
        panic!("not a DescribeGroups answer: {asked:?}")
    };
    assert_eq!(
        described.groups[0].error_code,
        ErrorCode::NotCoordinator.code(),
        "DescribeGroups at broker {other}: {described:?}"
    );
    // The old coordinator comes back as a follower: the group stays where it is led.
    cluster.start(&[coordinator]);
    assert_eq!(
        committed_offset(&cluster.bootstrap(), "g-move", "work"),
        Some(70)
    );
}

#[test]
fn a_cleanly_stopped_leader_hands_its_partitions_over_before_it_exits() {
    let mut cluster = TestCluster::new(3);
    cluster.start(&[1, 2, 3]);
    let admin = admin_at(&cluster.bootstrap());
    create_topic_with(
        &admin,
        &NewTopic::new("handover", 3, TopicReplication::Fixed(3)),
    );
    until(
        Duration::from_secs(30),
        "every partition has three in sync",
        || {
            let isr = isrs(&cluster.addr(1), "handover");
            isr.len() == 3 && isr.values().all(|i| i.len() == 3)
        },
    );
    let before = leaders(&cluster.addr(1), "handover");
    let victim = before[&0];
    let log = cluster.stop(victim);
    // It fenced itself through the quorum before it exited (not its session running
    // out later), and its partitions are led elsewhere.
    assert!(
        log.iter()
            .any(|l| l.contains("fenced before stopping: leadership moved")),
        "no controlled shutdown in its log"
    );
    let other = (1..=3).find(|&b| b != victim).expect("a survivor");
    until(
        Duration::from_secs(10),
        "its partitions led elsewhere",
        || {
            leaders(&cluster.addr(other), "handover")
                .values()
                .all(|&l| l > 0 && l != victim)
        },
    );
}

#[test]
fn a_follower_behind_its_leaders_log_start_starts_over_there() {
    use aeon::protocol::messages::delete_records_request::{
        DeleteRecordsPartition, DeleteRecordsRequest, DeleteRecordsTopic,
    };
    let mut cluster = TestCluster::new(3);
    cluster.start(&[1, 2, 3]);
    let admin = admin_at(&cluster.bootstrap());
    let placement: &[&[i32]] = &[&[1, 2]];
    create_topic_with(
        &admin,
        &NewTopic::new("behind", 1, TopicReplication::Variable(placement)),
    );
    assert_eq!(cluster.until_applied(&[1, 2, 3], "behind", 1)[&0], 1);
    let early: Vec<String> = (0..10).map(|i| format!("a{i}")).collect();
    let early: Vec<&str> = early.iter().map(String::as_str).collect();
    assert_eq!(
        produce(&cluster.addr(1), "behind", -1, 10_000, &early).error_code,
        0
    );

    // The follower is away while the leader takes more and moves its log start past
    // everything the follower has.
    cluster.kill(2);
    until(Duration::from_secs(30), "broker 2 out of the ISR", || {
        isrs(&cluster.addr(3), "behind").get(&0) == Some(&BTreeSet::from([1]))
    });
    let late: Vec<String> = (0..10).map(|i| format!("x{i}")).collect();
    let late: Vec<&str> = late.iter().map(String::as_str).collect();
    assert_eq!(
        produce(&cluster.addr(1), "behind", -1, 10_000, &late).error_code,
        0
    );
    let req = DeleteRecordsRequest {
        topics: vec![DeleteRecordsTopic {
            name: "behind".into(),
            partitions: vec![DeleteRecordsPartition {
                partition_index: 0,
                offset: 15,
                ..Default::default()
            }],
            ..Default::default()
        }],
        timeout_ms: 10_000,
        ..Default::default()
    };
    let Response::DeleteRecords(r) = common::raw::raw(&cluster.addr(1), 2, req.into()) else {
        panic!("not a DeleteRecords response")
    };
    assert_eq!(r.topics[0].partitions[0].low_watermark, 15, "{r:?}");

    // Back, it is out of range at the leader (10 < 15), starts over at 15 and catches up.
    cluster.start(&[2]);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while isrs(&cluster.addr(3), "behind").get(&0) != Some(&BTreeSet::from([1, 2])) {
        if std::time::Instant::now() > deadline {
            for node in &cluster.nodes {
                if let Some(p) = &node.process {
                    for l in p.log.lock().expect("log").iter() {
                        if l.contains("behind") || l.contains("fetcher") {
                            eprintln!("broker {}: {l}", node.id);
                        }
                    }
                }
            }
            panic!("broker 2 not in sync again");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // Led by broker 2 now, the partition starts at 15 and holds x5..x9.
    cluster.kill(1);
    until(Duration::from_secs(30), "broker 2 leads", || {
        leaders(&cluster.addr(3), "behind").get(&0) == Some(&2)
    });
    assert_eq!(
        values(&cluster.bootstrap(), "behind", 5),
        ["x5", "x6", "x7", "x8", "x9"]
    );
}

/// Runs `tests/clients/reassign_partitions.py` (kafka-python's admin client) with
/// `args` and parses the JSON it prints; `None` when the clients are not installed and
/// the run does not require them (`AEON_REQUIRE_CLIENTS=1`, set by `.ci/run`).
fn kafka_python_admin(bootstrap: &str, args: &[&str]) -> Option<serde_json::Value> {
    let clients = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients");
    let python = clients.join(".venv/bin/python");
    if !python.exists() {
        if std::env::var_os("AEON_REQUIRE_CLIENTS").is_some_and(|v| v == "1") {
            panic!("kafka-python is not installed; AEON_REQUIRE_CLIENTS=1 requires it");
        }
        eprintln!("SKIPPED: kafka-python not installed (bash tests/clients/install.sh)");
        return None;
    }
    let out = std::process::Command::new(python)
        .arg(clients.join("reassign_partitions.py"))
        .arg(bootstrap)
        .args(args)
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "reassign_partitions.py {args:?} failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let last = stdout.lines().last().unwrap_or_default();
    Some(serde_json::from_str(last).expect("JSON"))
}

/// Partition 0 of `topic` as broker `addr` answers Metadata: leader and replicas.
fn replicas(addr: &str, topic: &str) -> (i32, Vec<i32>) {
    let consumer: BaseConsumer = client_config(addr).create().expect("consumer");
    let Ok(md) = consumer.fetch_metadata(Some(topic), Duration::from_secs(5)) else {
        return (-1, Vec::new());
    };
    md.topics()
        .iter()
        .flat_map(|t| t.partitions())
        .find(|p| p.id() == 0)
        .map(|p| (p.leader(), p.replicas().to_vec()))
        .unwrap_or((-1, Vec::new()))
}

/// Each key's last value in the batches of one replica (`partition_batches`).
fn last_values(batches: &[u8]) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let mut last = BTreeMap::new();
    for batch in BatchIter::new(batches) {
        for record in batch.records().expect("records").flatten() {
            if let (Some(key), Some(value)) = (record.key, record.value) {
                last.insert(key.to_vec(), value.to_vec());
            }
        }
    }
    last
}

/// A replica moved away and straight back while its old data is still being deleted
/// (held up here by its throttled cleaner, which the deletion waits for) opens again
/// only once the deletion is done: then it copies the log anew and keeps it. Opened
/// over the files being deleted, it lost them under its feet.
#[test]
fn a_replica_moved_back_while_its_old_data_is_deleted_keeps_the_whole_log() {
    let mut cluster = TestCluster::configured(
        3,
        0,
        "\"replica.lag.time.max.ms\" = 5000\n\"log.cleaner.io.max.bytes.per.second\" = 2048\n\"log.cleaner.backoff.ms\" = 100\n",
    );
    cluster.start(&[1, 2, 3]);
    let boot = cluster.bootstrap();
    if kafka_python_admin(&boot, &["list"]).is_none() {
        return;
    }
    let admin = admin_at(&boot);
    create_topic_with(
        &admin,
        &NewTopic::new("compacted", 1, TopicReplication::Variable(&[&[1, 2]]))
            .set("cleanup.policy", "compact")
            .set("segment.ms", "200")
            .set("min.cleanable.dirty.ratio", "0.01"),
    );
    cluster.until_applied(&[1, 2, 3], "compacted", 1);
    let producer: BaseProducer = client_config(&boot)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .create()
        .expect("producer");
    // 50 keys written over and over: dirty segments for the cleaners.
    let value = |round: usize, key: usize| format!("{round:04}-{key:02}-{}", "v".repeat(100));
    let round_of = |round: usize, keys: std::ops::Range<usize>| {
        keys.map(move |key| (format!("k{key:02}"), value(round, key)))
    };
    let send_rounds = |rounds: std::ops::Range<usize>, keys: std::ops::Range<usize>| {
        let records: Vec<(String, String)> = rounds
            .flat_map(|round| round_of(round, keys.clone()))
            .collect();
        send_all(
            &producer,
            records.iter().map(|(k, v)| {
                BaseRecord::<[u8], [u8]>::to("compacted")
                    .partition(0)
                    .key(k.as_bytes())
                    .payload(v.as_bytes())
            }),
        );
        producer
            .flush(Duration::from_secs(60))
            .expect("every record acknowledged");
    };
    // Five rounds a segment (segments roll on time).
    for first in (0..40).step_by(5) {
        send_rounds(first..first + 5, 0..50);
        std::thread::sleep(Duration::from_millis(300));
    }
    until(Duration::from_secs(60), "broker 2 in the ISR", || {
        isrs(&cluster.addr(1), "compacted")
            .get(&0)
            .is_some_and(|isr| isr.contains(&2))
    });
    // Broker 2's cleaner starts on the rolled segments, at 2 KiB a second.
    std::thread::sleep(Duration::from_secs(2));
    let ok = serde_json::json!({ "compacted-0": null });
    let moved = |target: &[i32], why: &str| {
        until(Duration::from_secs(120), why, || {
            let listed = kafka_python_admin(&boot, &["list"]);
            let settled = (1..=3).all(|id| replicas(&cluster.addr(id), "compacted").1 == target);
            listed == Some(serde_json::json!({})) && settled
        });
    };
    assert_eq!(
        kafka_python_admin(&boot, &["alter", "compacted", "0", "1,3"]),
        Some(ok.clone())
    );
    moved(&[1, 3], "the partition is on brokers 1 and 3");
    let old = cluster.data_dir(2).join("compacted-0");
    assert!(
        old.exists(),
        "broker 2's old copy is still being deleted (its cleaner holds the deletion up)"
    );
    assert_eq!(
        kafka_python_admin(&boot, &["alter", "compacted", "0", "1,2"]),
        Some(ok)
    );
    // Half the keys are written again; the other half keep the values broker 2 had
    // before it was moved away, which it must have copied anew.
    send_rounds(40..60, 0..25);
    moved(&[1, 2], "the partition is back on brokers 1 and 2");
    until(Duration::from_secs(60), "broker 2 back in the ISR", || {
        isrs(&cluster.addr(1), "compacted")
            .get(&0)
            .is_some_and(|isr| isr.contains(&2))
    });
    // Broker 2 opened a new copy, not the old files under deletion (an open over them
    // finds no clean shutdown and recovers them).
    let reopened_old: Vec<String> = cluster.nodes[1]
        .process
        .as_ref()
        .expect("broker 2 runs")
        .log
        .lock()
        .expect("log")
        .iter()
        .filter(|l| l.contains("compacted-0") && l.contains("recovered"))
        .cloned()
        .collect();
    assert!(
        reopened_old.is_empty(),
        "broker 2 reopened its old files: {reopened_old:?}"
    );
    // Broker 2's copy on disk holds every key's last value (what compaction keeps).
    cluster.kill(2);
    let expected: BTreeMap<Vec<u8>, Vec<u8>> = round_of(59, 0..25)
        .chain(round_of(39, 25..50))
        .map(|(k, v)| (k.into_bytes(), v.into_bytes()))
        .collect();
    let on_disk = last_values(&partition_batches(&cluster.data_dir(2), "compacted", 0));
    assert_eq!(
        on_disk.len(),
        expected.len(),
        "every key on broker 2's disk ({} of {})",
        on_disk.len(),
        expected.len()
    );
    assert!(
        on_disk == expected,
        "each key's last value on broker 2's disk"
    );
}

#[test]
fn a_reassignment_moves_a_partition_online_and_no_acknowledged_record_is_lost() {
    let mut cluster = TestCluster::configured(3, 0, "\"replica.lag.time.max.ms\" = 5000\n");
    cluster.start(&[1, 2, 3]);
    let boot = cluster.bootstrap();
    let Some(none) = kafka_python_admin(&boot, &["list"]) else {
        return;
    };
    assert_eq!(none, serde_json::json!({}), "nothing is moving yet");
    let admin = admin_at(&boot);
    create_topic_with(
        &admin,
        &NewTopic::new("moving", 1, TopicReplication::Variable(&[&[1, 2]])),
    );
    cluster.until_applied(&[1, 2, 3], "moving", 1);

    // An idempotent acks=all producer sends a third before, during and after each move.
    const N: usize = 9_000;
    let producer = idempotent_acks_all(&boot);
    let values: Vec<String> = (0..N).map(|i| i.to_string()).collect();
    let records = || {
        values.iter().map(|v| {
            BaseRecord::<[u8], [u8]>::to("moving")
                .partition(0)
                .payload(v.as_bytes())
        })
    };
    let ok = serde_json::json!({ "moving-0": null });
    let moved = |cluster: &TestCluster, target: &[i32], why: &str| {
        until(Duration::from_secs(60), why, || {
            let listed = kafka_python_admin(&cluster.bootstrap(), &["list"]);
            let settled = (1..=3)
                .filter(|&id| cluster.nodes[id as usize - 1].process.is_some())
                .all(|id| replicas(&cluster.addr(id), "moving").1 == target);
            listed == Some(serde_json::json!({})) && settled
        });
    };

    send_all(&producer, records().take(N / 3));
    // To [3, 1]: broker 3 is added and copies the log, broker 2 leaves, the leader stays.
    assert_eq!(
        kafka_python_admin(&boot, &["alter", "moving", "0", "3,1"]),
        Some(ok.clone())
    );
    send_all(&producer, records().skip(N / 3).take(N / 3));
    moved(
        &cluster,
        &[3, 1],
        "the partition is on brokers 3 and 1 only",
    );
    assert_eq!(
        replicas(&cluster.addr(3), "moving").0,
        1,
        "broker 1 still leads"
    );
    until(
        Duration::from_secs(30),
        "broker 2 deleted its replica",
        || !cluster.data_dir(2).join("moving-0").exists(),
    );
    // To [2, 3]: the leader itself leaves, and one of the new replicas leads.
    assert_eq!(
        kafka_python_admin(&boot, &["alter", "moving", "0", "2,3"]),
        Some(ok.clone())
    );
    send_all(&producer, records().skip(2 * (N / 3)));
    moved(
        &cluster,
        &[2, 3],
        "the partition is on brokers 2 and 3 only",
    );
    let leader = replicas(&cluster.addr(2), "moving").0;
    assert!([2, 3].contains(&leader), "a new replica leads: {leader}");
    producer
        .flush(Duration::from_secs(120))
        .expect("every record acknowledged");
    let failed = producer.context().failed.lock().expect("failed").clone();
    assert!(
        failed.is_empty(),
        "deliveries failed: {:?}",
        &failed[..failed.len().min(5)]
    );
    assert_eq!(producer.context().values.lock().expect("acked").len(), N);
    let consumer = assigned_consumer(&reader(&boot), "moving", 1);
    let read = consume(&consumer, N, Duration::from_secs(60));
    let got: Vec<String> = read
        .iter()
        .map(|g| String::from_utf8_lossy(g.value.as_deref().expect("value")).into_owned())
        .collect();
    let first_difference = got.iter().zip(&values).position(|(g, v)| g != v);
    if got.len() != N || first_difference.is_some() {
        for node in &cluster.nodes {
            let first = BatchIter::new(&partition_batches(&cluster.data_dir(node.id), "moving", 0))
                .next()
                .map(|b| b.base_offset());
            eprintln!("broker {}: first batch at {first:?}", node.id);
            if let Some(process) = &node.process {
                for line in process.log.lock().expect("log").iter() {
                    if line.contains("moving") {
                        eprintln!("broker {}: {line}", node.id);
                    }
                }
            }
        }
    }
    assert!(
        got.len() == N && first_difference.is_none(),
        "every acknowledged record, once, in order: read {} records, the first differing at {first_difference:?}: {:?}",
        got.len(),
        first_difference.map(|i| {
            read[i..(i + 3).min(read.len())]
                .iter()
                .map(|g| (g.offset, String::from_utf8_lossy(g.value.as_deref().unwrap_or_default()).into_owned()))
                .collect::<Vec<_>>()
        })
    );
    until_replicas_match(&cluster, "moving", 1, &[2, 3]);

    // Refusals, as Kafka answers them.
    let refused = |args: &[&str], code: i16| {
        let answer = kafka_python_admin(&boot, args).expect("answered");
        let key = format!("{}-{}", args[1], args[2]);
        assert_eq!(answer[&key], code, "{args:?}: {answer}");
    };
    let code = |e: ErrorCode| e.code();
    refused(
        &["alter", "moving", "0", "1,9"],
        code(ErrorCode::InvalidReplicaAssignment),
    );
    refused(
        &["alter", "moving", "0", "2,2"],
        code(ErrorCode::InvalidReplicaAssignment),
    );
    refused(
        &["alter", "moving", "0", "cancel"],
        code(ErrorCode::NoReassignmentInProgress),
    );
    refused(
        &["alter", "absent", "0", "1"],
        code(ErrorCode::UnknownTopicOrPartition),
    );

    // A move that cannot finish (its new replica is down) is listed, then cancelled.
    cluster.kill(1);
    until(Duration::from_secs(30), "broker 1 is fenced", || {
        cluster_info(&cluster.addr(2))
            .is_some_and(|(controller, live)| controller != 1 && !live.contains(&1))
    });
    assert_eq!(
        kafka_python_admin(&cluster.bootstrap(), &["alter", "moving", "0", "2,3,1"]),
        Some(ok)
    );
    let listed = kafka_python_admin(&cluster.bootstrap(), &["list"]).expect("listed");
    assert_eq!(
        listed,
        serde_json::json!({"moving-0": {"replicas": [2, 3, 1], "adding_replicas": [1], "removing_replicas": []}})
    );
    assert_eq!(
        kafka_python_admin(&cluster.bootstrap(), &["alter", "moving", "0", "cancel"]),
        Some(serde_json::json!({ "moving-0": null }))
    );
    moved(&cluster, &[2, 3], "the cancelled move is undone");
}
