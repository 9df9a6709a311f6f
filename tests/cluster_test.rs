//! A cluster of three real `aeon` processes on 127.0.0.1 in combined mode (each a
//! broker and a voter of the metadata quorum), with real clients: topics created on
//! any broker are seen on every one, partitions are led across all three, a killed
//! controller is replaced while clients keep producing to the live leaders, and the
//! whole cluster restarts with its topics and data.

mod common;

use aeon::protocol::messages::describe_quorum_request::{
    DescribeQuorumRequest, PartitionData, TopicData,
};
use aeon::protocol::messages::init_producer_id_request::InitProducerIdRequest;
use aeon::protocol::records::{RecordBatchBuilder, RecordSpec};
use aeon::protocol::{ErrorCode, Response};
use common::cluster::{cluster_info, leaders, reader, until, TestCluster};
use common::{
    assigned_consumer, client_config, consume, create_topic_at, produce_all, producer_with,
};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::BaseRecord;
use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn produce_to(bootstrap: &str, topic: &str, partitions: &[i32], per_partition: usize) {
    let producer = producer_with(&client_config(bootstrap), &[("acks", "all")]);
    let value = b"cluster".to_vec();
    let records: Vec<(i32, usize)> = partitions
        .iter()
        .flat_map(|&p| (0..per_partition).map(move |i| (p, i)))
        .collect();
    produce_all(
        &producer,
        records.iter().map(|&(p, _)| {
            BaseRecord::<[u8], [u8]>::to(topic)
                .partition(p)
                .payload(&value[..])
        }),
    );
}

#[test]
fn a_topic_created_on_any_broker_is_led_across_all_three_and_seen_on_each() {
    let mut cluster = TestCluster::new(3);
    cluster.start(&[1, 2, 3]);
    for id in 1..=3 {
        let (_, brokers) = cluster_info(&cluster.addr(id)).expect("cluster info");
        assert_eq!(
            brokers,
            BTreeSet::from([1, 2, 3]),
            "broker {id} lists all three"
        );
    }

    // Created through broker 2; every broker answers the same leaders, spread over all.
    create_topic_at(&cluster.addr(2), "spread", 6);
    let seen = cluster.until_applied(&[1, 2, 3], "spread", 6);
    assert_eq!(
        seen.values().copied().collect::<BTreeSet<_>>(),
        BTreeSet::from([1, 2, 3]),
        "leaders on every broker: {seen:?}"
    );

    // rdkafka produces to each partition's leader and consumes from each.
    produce_to(&cluster.bootstrap(), "spread", &[0, 1, 2, 3, 4, 5], 50);
    let consumer = assigned_consumer(&reader(&cluster.addr(1)), "spread", 6);
    let got = consume(&consumer, 300, Duration::from_secs(30));
    assert_eq!(got.len(), 300);
    let mut per_partition = BTreeMap::<i32, usize>::new();
    for g in &got {
        *per_partition.entry(g.partition).or_default() += 1;
    }
    assert_eq!(
        per_partition.values().copied().collect::<Vec<_>>(),
        vec![50; 6]
    );

    // A broker that does not lead a partition refuses to serve it: NOT_LEADER_OR_FOLLOWER.
    let (partition, leader) = seen
        .iter()
        .find(|(_, &l)| l != 1)
        .map(|(p, l)| (*p, *l))
        .expect("a partition led elsewhere");
    let batch = RecordBatchBuilder::new(0, 1)
        .record(RecordSpec::new(None, Some(b"misrouted")))
        .build();
    let req = common::raw::produce_request("spread", partition, None, -1, batch);
    let Response::Produce(r) = common::raw::raw(&cluster.addr(1), 11, req.into()) else {
        panic!("not a produce response")
    };
    let answer = &r.responses[0].partition_responses[0];
    assert_eq!(
        answer.error_code,
        ErrorCode::NotLeaderOrFollower.code(),
        "partition {partition} is led by {leader}, not 1"
    );
    // KIP-951: the answer names the leader and where to reach it.
    assert_eq!(answer.current_leader.leader_id, leader);
    let endpoint = r.node_endpoints.iter().find(|e| e.node_id == leader);
    assert_eq!(
        endpoint.map(|e| format!("{}:{}", e.host, e.port)),
        Some(cluster.addr(leader))
    );
    // Versions before the hints' fields get the error alone (a hint they cannot carry
    // once closed the connection): Produce v9, Fetch v11 and v12 (no NodeEndpoints).
    let batch = RecordBatchBuilder::new(0, 1)
        .record(RecordSpec::new(None, Some(b"misrouted")))
        .build();
    let req = common::raw::produce_request("spread", partition, None, -1, batch);
    let Response::Produce(r) = common::raw::raw(&cluster.addr(1), 9, req.into()) else {
        panic!("not a produce response")
    };
    assert_eq!(
        r.responses[0].partition_responses[0].error_code,
        ErrorCode::NotLeaderOrFollower.code()
    );
    for version in [11, 12] {
        let req = common::raw::fetch_request("spread", partition, 0, 1);
        let Response::Fetch(r) = common::raw::raw(&cluster.addr(1), version, req.into()) else {
            panic!("not a fetch response")
        };
        assert_eq!(
            r.responses[0].partitions[0].error_code,
            ErrorCode::NotLeaderOrFollower.code(),
            "Fetch v{version}"
        );
    }

    // Producer ids come in blocks committed through the quorum: idempotent producers
    // on different brokers never share one.
    let ids: BTreeSet<i64> = (1..=3)
        .flat_map(|id| {
            let addr = cluster.addr(id);
            (0..2).map(move |_| {
                let req = InitProducerIdRequest {
                    transactional_id: None,
                    transaction_timeout_ms: 60_000,
                    ..Default::default()
                };
                let Response::InitProducerId(r) = common::raw::raw(&addr, 4, req.into()) else {
                    panic!("not an InitProducerId response")
                };
                assert_eq!(r.error_code, 0);
                r.producer_id
            })
        })
        .collect();
    assert_eq!(ids.len(), 6, "six producers, six ids: {ids:?}");

    // DescribeQuorum, asked of any broker, answers as the quorum's leader knows it.
    let (controller, _) = cluster_info(&cluster.addr(1)).expect("info");
    let asked = if controller == 1 { 2 } else { 1 };
    let r = describe_quorum(&cluster.addr(asked));
    let p = &r.topics[0].partitions[0];
    assert_eq!((p.error_code, p.leader_id), (0, controller));
    assert!(p.leader_epoch >= 1 && p.high_watermark > 0, "{p:?}");
    let voters: BTreeSet<i32> = p.current_voters.iter().map(|v| v.replica_id).collect();
    assert_eq!(voters, BTreeSet::from([1, 2, 3]));
    assert!(
        p.current_voters.iter().all(|v| v.log_end_offset > 0),
        "the leader knows every voter's log end: {:?}",
        p.current_voters
    );
    assert_eq!(
        r.nodes.len(),
        3,
        "v2 lists the voters' controller listeners"
    );
    for version in [0, 1] {
        let older = describe_quorum_at(&cluster.addr(asked), version);
        assert_eq!(
            older.topics[0].partitions[0].leader_id, controller,
            "v{version}"
        );
    }

    // Grown through broker 3 and reconfigured through broker 1: every broker follows.
    use rdkafka::admin::NewPartitions;
    let options = admin_options();
    let grown = futures::executor::block_on(
        common::admin_at(&cluster.addr(3))
            .create_partitions(&[NewPartitions::new("spread", 9)], &options),
    )
    .expect("create partitions");
    assert!(grown.iter().all(Result::is_ok), "{grown:?}");
    until(
        Duration::from_secs(10),
        "nine partitions on broker 2",
        || leaders(&cluster.addr(2), "spread").len() == 9,
    );
    produce_to(&cluster.bootstrap(), "spread", &[6, 7, 8], 5);
    set_retention(&cluster.addr(1), "spread", "123456");
    until(Duration::from_secs(10), "broker 2 sees the change", || {
        retention(&cluster.addr(2), "spread").as_deref() == Some("123456")
    });

    // Deleted through broker 3: gone everywhere.
    let admin = common::admin_at(&cluster.addr(3));
    let deleted = futures::executor::block_on(
        admin.delete_topics(&["spread"], &rdkafka::admin::AdminOptions::new()),
    )
    .expect("delete");
    assert!(deleted.iter().all(Result::is_ok), "{deleted:?}");
    until(
        Duration::from_secs(10),
        "the topic is gone on broker 1",
        || leaders(&cluster.addr(1), "spread").is_empty(),
    );
}

#[test]
fn a_killed_controller_is_replaced_and_a_restarted_cluster_keeps_its_topics() {
    let mut cluster = TestCluster::new(3);
    cluster.start(&[1, 2, 3]);
    create_topic_at(&cluster.addr(1), "durable", 3);
    produce_to(&cluster.bootstrap(), "durable", &[0, 1, 2], 100);

    // kill -9 the active controller: another takes over.
    let (controller, _) = cluster_info(&cluster.addr(1)).expect("info");
    assert!((1..=3).contains(&controller), "a controller: {controller}");
    let survivor = if controller == 1 { 2 } else { 1 };
    let before = leaders(&cluster.addr(survivor), "durable");
    let alive: Vec<i32> = before
        .iter()
        .filter(|(_, &l)| l != controller)
        .map(|(p, _)| *p)
        .collect();
    assert!(!alive.is_empty());

    // A client keeps producing to the partitions whose leaders live, throughout.
    let stop = Arc::new(AtomicBool::new(false));
    let producing = {
        let (bootstrap, alive, stop) = (cluster.bootstrap(), alive.clone(), Arc::clone(&stop));
        std::thread::spawn(move || {
            let producer = producer_with(&client_config(&bootstrap), &[("acks", "all")]);
            let mut sent = 0usize;
            while !stop.load(Ordering::SeqCst) {
                let records = alive.iter().map(|&p| {
                    BaseRecord::<[u8], [u8]>::to("durable")
                        .partition(p)
                        .payload(&b"during"[..])
                });
                common::send_all(&producer, records);
                sent += alive.len();
                std::thread::sleep(Duration::from_millis(20));
            }
            use rdkafka::producer::Producer;
            producer
                .flush(Duration::from_secs(30))
                .expect("every message acknowledged");
            let failed = producer.context().failed.load(Ordering::Relaxed);
            assert_eq!(failed, 0, "no delivery failed while the controller died");
            sent
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    cluster.kill(controller);
    let took = until(Duration::from_secs(15), "a new controller", || {
        let leader = describe_quorum(&cluster.addr(survivor)).topics[0].partitions[0].leader_id;
        leader > 0 && leader != controller
    });
    eprintln!("controller {controller} killed; a new one in {took:?}");
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::SeqCst);
    let during = producing.join().expect("the producing client");
    assert!(during > 0);

    // Past its session the dead broker is fenced: its partitions are offline.
    until(Duration::from_secs(15), "the dead broker fenced", || {
        let now = leaders(&cluster.addr(survivor), "durable");
        now.iter().all(|(p, &l)| {
            if before[p] == controller {
                l == -1
            } else {
                l == before[p]
            }
        })
    });

    // Back: its partitions are led by it again, with their data.
    cluster.start(&[controller]);
    until(Duration::from_secs(15), "the broker back", || {
        leaders(&cluster.addr(survivor), "durable") == before
    });

    // A group commits its offsets through its coordinator, the leader of the group's
    // partition of __consumer_offsets (created through the quorum on first use).
    commit(&cluster.bootstrap(), "keeper", "durable", 7);
    // And a topic config.
    set_retention(&cluster.addr(2), "durable", "777777");

    // The whole cluster restarts: the topic, its leaders and every record are there.
    for id in 1..=3 {
        cluster.stop(id);
    }
    cluster.start(&[1, 2, 3]);
    until(Duration::from_secs(15), "the leaders from before", || {
        leaders(&cluster.addr(3), "durable") == before
    });
    let expected = 300 + during;
    let consumer = assigned_consumer(&reader(&cluster.bootstrap()), "durable", 3);
    let got = consume(&consumer, expected, Duration::from_secs(30));
    assert_eq!(
        got.len(),
        expected,
        "every acknowledged record after the restart"
    );
    assert_eq!(
        committed(&cluster.bootstrap(), "keeper", "durable"),
        7,
        "the group's commit"
    );
    assert_eq!(
        retention(&cluster.addr(3), "durable").as_deref(),
        Some("777777")
    );
}

fn admin_options() -> rdkafka::admin::AdminOptions {
    rdkafka::admin::AdminOptions::new().request_timeout(Some(Duration::from_secs(30)))
}

/// Sets `retention.ms` of `topic` through the broker at `addr`.
fn set_retention(addr: &str, topic: &str, ms: &str) {
    use rdkafka::admin::{AlterConfig, ResourceSpecifier};
    let altered = futures::executor::block_on(common::admin_at(addr).alter_configs(
        &[AlterConfig::new(ResourceSpecifier::Topic(topic)).set("retention.ms", ms)],
        &admin_options(),
    ))
    .expect("alter configs");
    assert!(altered.iter().all(Result::is_ok), "{altered:?}");
}

/// `retention.ms` of `topic` as the broker at `addr` describes it.
fn retention(addr: &str, topic: &str) -> Option<String> {
    use rdkafka::admin::ResourceSpecifier;
    let described = futures::executor::block_on(
        common::admin_at(addr)
            .describe_configs(&[ResourceSpecifier::Topic(topic)], &admin_options()),
    )
    .expect("describe configs");
    described[0]
        .as_ref()
        .ok()
        .and_then(|r| r.get("retention.ms"))
        .and_then(|e| e.value.clone())
}

/// Commits offset `offset` of partition 0 of `topic` for `group`.
fn commit(bootstrap: &str, group: &str, topic: &str, offset: i64) {
    let mut config = client_config(bootstrap);
    config
        .set("group.id", group)
        .set("enable.auto.commit", "false");
    let consumer: BaseConsumer = config.create().expect("consumer");
    let mut tpl = rdkafka::TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, rdkafka::Offset::Offset(offset))
        .expect("tpl");
    let deadline = Instant::now() + Duration::from_secs(30);
    // The coordinator is not available until __consumer_offsets exists: retried.
    while let Err(e) = consumer.commit(&tpl, rdkafka::consumer::CommitMode::Sync) {
        assert!(Instant::now() < deadline, "commit: {e}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The committed offset of partition 0 of `topic` for `group`.
fn committed(bootstrap: &str, group: &str, topic: &str) -> i64 {
    let mut config = client_config(bootstrap);
    config.set("group.id", group);
    let consumer: BaseConsumer = config.create().expect("consumer");
    let mut tpl = rdkafka::TopicPartitionList::new();
    tpl.add_partition(topic, 0);
    let got = consumer
        .committed_offsets(tpl, Duration::from_secs(30))
        .expect("committed");
    match got.find_partition(topic, 0).map(|p| p.offset()) {
        Some(rdkafka::Offset::Offset(o)) => o,
        other => panic!("no committed offset: {other:?}"),
    }
}

/// Creates `topic` through the broker at `addr`; the broker's answer.
fn try_create(addr: &str, topic: &str) -> Result<(), String> {
    let admin = common::admin_at(addr);
    let new = rdkafka::admin::NewTopic::new(topic, 1, rdkafka::admin::TopicReplication::Fixed(1));
    let options =
        rdkafka::admin::AdminOptions::new().request_timeout(Some(Duration::from_secs(30)));
    match futures::executor::block_on(admin.create_topics([&new], &options)) {
        Ok(results) => match results.into_iter().next() {
            Some(Ok(_)) => Ok(()),
            Some(Err((_, code))) => Err(format!("{code:?}")),
            None => Err("no answer".into()),
        },
        Err(e) => Err(e.to_string()),
    }
}

#[test]
fn a_partition_leaves_the_majority_serving_metadata_and_the_isolated_controller_refusing_it() {
    let mut cluster = TestCluster::proxied(3);
    cluster.start(&[1, 2, 3]);
    let (controller, _) = cluster_info(&cluster.addr(1)).expect("info");
    let other = if controller == 1 { 2 } else { 1 };
    create_topic_at(&cluster.addr(1), "led", 3);
    let placed = cluster.until_applied(&[1, 2, 3], "led", 3);
    let (&led_there, _) = placed
        .iter()
        .find(|(_, &l)| l == controller)
        .expect("a partition the controller leads");
    let produce_acks1 = |addr: &str| {
        let batch = RecordBatchBuilder::new(0, 1)
            .record(RecordSpec::new(None, Some(b"x")))
            .build();
        let req = common::raw::produce_request("led", led_there, None, 1, batch);
        let Response::Produce(r) = common::raw::raw(addr, 9, req.into()) else {
            panic!("not a produce response")
        };
        r.responses[0].partition_responses[0].error_code
    };
    assert_eq!(produce_acks1(&cluster.addr(controller)), 0);

    // The controller is cut off from both others, both ways.
    cluster.isolate(controller, true);
    let took = until(
        Duration::from_secs(20),
        "the majority elects a leader",
        || cluster_info(&cluster.addr(other)).is_some_and(|(c, _)| c > 0 && c != controller),
    );
    eprintln!("the majority elected a new controller in {took:?}");
    try_create(&cluster.addr(other), "on-the-majority").expect("the majority commits");

    // Its heartbeats unacknowledged past its session, the isolated broker no longer
    // serves what it led (the majority's controller fenced it and moved it): it does
    // not take writes beside the new leader.
    until(
        Duration::from_secs(20),
        "the isolated broker stands down",
        || produce_acks1(&cluster.addr(controller)) == ErrorCode::NotLeaderOrFollower.code(),
    );

    // The isolated node cannot commit: its change is refused, not made alone.
    let refused = try_create(&cluster.addr(controller), "on-the-minority");
    assert!(refused.is_err(), "the minority made a change: {refused:?}");

    // Healed: the isolated node follows the majority's log, and only its change exists.
    cluster.isolate(controller, false);
    until(
        Duration::from_secs(20),
        "the healed node catches up",
        || leaders(&cluster.addr(controller), "on-the-majority").len() == 1,
    );
    for id in 1..=3 {
        assert!(
            leaders(&cluster.addr(id), "on-the-minority").is_empty(),
            "broker {id} has the minority's topic"
        );
    }
}

/// DescribeQuorum (v2) of the metadata partition, asked of `addr`.
fn describe_quorum(
    addr: &str,
) -> aeon::protocol::messages::describe_quorum_response::DescribeQuorumResponse {
    describe_quorum_at(addr, 2)
}

/// DescribeQuorum of the metadata partition at `version`, asked of `addr`.
fn describe_quorum_at(
    addr: &str,
    version: i16,
) -> aeon::protocol::messages::describe_quorum_response::DescribeQuorumResponse {
    let req = DescribeQuorumRequest {
        topics: vec![TopicData {
            topic_name: "__cluster_metadata".into(),
            partitions: vec![PartitionData {
                partition_index: 0,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let Response::DescribeQuorum(r) = common::raw::raw(addr, version, req.into()) else {
        panic!("not a DescribeQuorum response")
    };
    r
}

#[test]
fn a_fourth_broker_joins_a_running_cluster_and_leads_new_partitions() {
    let mut cluster = TestCluster::with_brokers(3, 1);
    cluster.start(&[1, 2, 3]);
    create_topic_at(&cluster.addr(1), "before", 3);
    produce_to(&cluster.bootstrap(), "before", &[0, 1, 2], 10);

    // Node 4 is a broker only: it follows the quorum's log as a learner.
    cluster.start(&[4]);
    let (_, brokers) = cluster_info(&cluster.addr(2)).expect("info");
    assert_eq!(brokers, BTreeSet::from([1, 2, 3, 4]));
    let quorum = describe_quorum(&cluster.addr(4)).topics[0].partitions[0].clone();
    let voters: BTreeSet<i32> = quorum.current_voters.iter().map(|v| v.replica_id).collect();
    let observers: Vec<i32> = quorum.observers.iter().map(|v| v.replica_id).collect();
    assert_eq!((voters, observers), (BTreeSet::from([1, 2, 3]), vec![4]));
    // It knows what was created before it came.
    cluster.until_applied(&[1, 4], "before", 3);

    // New partitions are placed on it too, and served by it.
    create_topic_at(&cluster.addr(4), "after", 8);
    let placed = cluster.until_applied(&[1, 2, 3, 4], "after", 8);
    assert_eq!(
        placed.values().copied().collect::<BTreeSet<_>>(),
        BTreeSet::from([1, 2, 3, 4]),
        "{placed:?}"
    );
    let all: Vec<i32> = (0..8).collect();
    produce_to(&cluster.bootstrap(), "after", &all, 20);
    let consumer = assigned_consumer(&reader(&cluster.addr(4)), "after", 8);
    assert_eq!(consume(&consumer, 160, Duration::from_secs(30)).len(), 160);

    // Restarted, it rejoins as the learner it was.
    cluster.stop(4);
    cluster.start(&[4]);
    until(Duration::from_secs(15), "broker 4 back", || {
        leaders(&cluster.addr(1), "after") == placed
    });
}

#[test]
fn controller_only_voters_serve_the_quorum_and_broker_only_nodes_serve_clients() {
    let mut cluster = TestCluster::dedicated(3, 2);
    cluster.start(&[1, 2, 3, 4, 5]);
    // Only the two brokers are brokers; the controllers serve no client, and clients
    // are told of a broker as their "controller" (the quorum's leader is not one).
    let (told, brokers) = cluster_info(&cluster.addr(4)).expect("info");
    assert_eq!(brokers, BTreeSet::from([4, 5]));
    assert!(
        brokers.contains(&told),
        "clients' controller {told} is a broker"
    );
    let controller = describe_quorum(&cluster.addr(4)).topics[0].partitions[0].leader_id;
    assert!((1..=3).contains(&controller), "a voter leads: {controller}");
    assert!(
        TcpStream::connect(cluster.addr(1)).is_err(),
        "no client port"
    );
    let quorum = describe_quorum(&cluster.addr(5)).topics[0].partitions[0].clone();
    let voters: BTreeSet<i32> = quorum.current_voters.iter().map(|v| v.replica_id).collect();
    let observers: BTreeSet<i32> = quorum.observers.iter().map(|v| v.replica_id).collect();
    assert_eq!(
        (voters, observers),
        (BTreeSet::from([1, 2, 3]), BTreeSet::from([4, 5]))
    );

    create_topic_at(&cluster.addr(4), "dedicated", 4);
    let placed = cluster.until_applied(&[4, 5], "dedicated", 4);
    assert_eq!(
        placed.values().copied().collect::<BTreeSet<_>>(),
        BTreeSet::from([4, 5])
    );
    produce_to(&cluster.addr(5), "dedicated", &[0, 1, 2, 3], 25);
    let consumer = assigned_consumer(&reader(&cluster.addr(4)), "dedicated", 4);
    assert_eq!(consume(&consumer, 100, Duration::from_secs(30)).len(), 100);

    // The active controller killed: another voter takes over, the brokers go on.
    cluster.kill(controller);
    until(Duration::from_secs(15), "a new controller", || {
        let leader = describe_quorum(&cluster.addr(4)).topics[0].partitions[0].leader_id;
        leader > 0 && leader != controller
    });
    create_topic_at(&cluster.addr(5), "after-failover", 2);
    cluster.until_applied(&[4, 5], "after-failover", 2);
}

#[test]
fn a_broker_that_joins_after_a_snapshot_is_sent_it_and_a_restarted_voter_loads_it() {
    // A snapshot every 2 KiB of metadata log: creating 80 topics takes several, and
    // the log before them is dropped (but for its last 50 entries).
    let mut cluster = TestCluster::configured(
        3,
        1,
        "\"metadata.log.max.record.bytes.between.snapshots\" = 2048\n",
    );
    cluster.start(&[1, 2, 3]);
    let admin = common::admin_at(&cluster.bootstrap());
    let names: Vec<String> = (0..80).map(|i| format!("snap-{i}")).collect();
    let topics: Vec<rdkafka::admin::NewTopic<'_>> = names
        .iter()
        .map(|n| rdkafka::admin::NewTopic::new(n, 1, rdkafka::admin::TopicReplication::Fixed(1)))
        .collect();
    let options =
        rdkafka::admin::AdminOptions::new().request_timeout(Some(Duration::from_secs(60)));
    for chunk in topics.chunks(10) {
        let created = futures::executor::block_on(admin.create_topics(chunk, &options))
            .expect("create topics");
        assert!(created.iter().all(Result::is_ok), "{created:?}");
    }
    // Every voter has a snapshot on disk by now.
    until(Duration::from_secs(15), "snapshots on the voters", || {
        (1..=3).all(|id| {
            cluster
                ._dir
                .path()
                .join(format!("data{id}/__cluster_metadata-0/snapshot"))
                .exists()
        })
    });

    // The new broker is behind the dropped log: it must be sent the snapshot.
    cluster.start(&[4]);
    let consumer: BaseConsumer = client_config(&cluster.addr(4)).create().expect("consumer");
    let md = consumer
        .fetch_metadata(None, Duration::from_secs(10))
        .expect("metadata");
    let seen: BTreeSet<String> = md.topics().iter().map(|t| t.name().to_string()).collect();
    assert!(
        names.iter().all(|n| seen.contains(n)),
        "broker 4 sees {} topics",
        seen.len()
    );
    assert!(
        cluster
            ._dir
            .path()
            .join("data4/__cluster_metadata-0/snapshot")
            .exists(),
        "broker 4 was sent a snapshot"
    );

    // A voter restarted from its snapshot and the log after it has them all too.
    cluster.stop(2);
    cluster.start(&[2]);
    let consumer: BaseConsumer = client_config(&cluster.addr(2)).create().expect("consumer");
    let md = consumer
        .fetch_metadata(None, Duration::from_secs(10))
        .expect("metadata");
    assert!(md.topics().len() >= names.len());
}

/// The broker that coordinates `key` (a group for `key_type` 0, a transactional id
/// for 1), as FindCoordinator (v4) on `addr` names it once the coordinator's topic
/// exists.
fn coordinator(addr: &str, key_type: i8, key: &str) -> i32 {
    use aeon::protocol::messages::find_coordinator_request::FindCoordinatorRequest;
    let mut found = -1;
    until(Duration::from_secs(30), "a coordinator", || {
        let req = FindCoordinatorRequest {
            key_type,
            coordinator_keys: vec![key.to_string()],
            ..Default::default()
        };
        let Response::FindCoordinator(r) = common::raw::raw(addr, 4, req.into()) else {
            panic!("not a FindCoordinator response")
        };
        found = r
            .coordinators
            .first()
            .map_or(-1, |c| if c.error_code == 0 { c.node_id } else { -1 });
        found > 0
    });
    found
}

#[test]
fn transactions_span_partitions_led_by_every_broker_and_commit_offsets_of_a_group_elsewhere() {
    use rdkafka::producer::Producer;
    let mut cluster = TestCluster::new(3);
    cluster.start(&[1, 2, 3]);
    create_topic_at(&cluster.addr(1), "txn", 6);
    let placed = cluster.until_applied(&[1, 2, 3], "txn", 6);
    assert_eq!(
        placed.values().collect::<BTreeSet<_>>().len(),
        3,
        "leaders on every broker: {placed:?}"
    );
    let txn_coordinator = coordinator(&cluster.addr(2), 1, "cluster-txn");
    // A group whose coordinator is another broker than the transaction's.
    let group = (0..)
        .map(|i| format!("transform-{i}"))
        .find(|g| coordinator(&cluster.addr(1), 0, g) != txn_coordinator)
        .expect("a group coordinated elsewhere");

    let producer = common::transactional_producer(&cluster.bootstrap(), "cluster-txn", &[]);
    producer
        .init_transactions(Duration::from_secs(30))
        .expect("init");
    let send_everywhere = |value: &str| {
        for p in 0..6 {
            producer
                .send(
                    BaseRecord::<[u8], [u8]>::to("txn")
                        .partition(p)
                        .payload(value.as_bytes()),
                )
                .map_err(|(e, _)| e)
                .expect("send");
        }
    };
    // Committed, aborted, then committed with the offsets of a group coordinated by
    // a third broker: the markers go to every leader, the offsets to that group.
    producer.begin_transaction().expect("begin");
    send_everywhere("c1");
    producer
        .commit_transaction(Duration::from_secs(30))
        .expect("a transaction across three leaders commits");
    producer.begin_transaction().expect("begin");
    send_everywhere("a1");
    // Written (a BaseProducer's deliveries are polled by flush) before the abort.
    producer.flush(Duration::from_secs(30)).expect("a1 written");
    producer
        .abort_transaction(Duration::from_secs(30))
        .expect("and aborts");
    producer.begin_transaction().expect("begin");
    send_everywhere("c2");
    let mut group_config = client_config(&cluster.bootstrap());
    group_config.set("group.id", &group);
    let grouped: BaseConsumer = group_config.create().expect("consumer");
    let mut offsets = rdkafka::TopicPartitionList::new();
    offsets
        .add_partition_offset("txn", 0, rdkafka::Offset::Offset(42))
        .expect("tpl");
    producer
        .send_offsets_to_transaction(
            &offsets,
            &grouped.group_metadata().expect("group metadata"),
            Duration::from_secs(30),
        )
        .expect("offsets in the transaction");
    producer
        .commit_transaction(Duration::from_secs(30))
        .expect("commits with the offsets");

    // read_committed shows c1 and c2 on every partition, in order, never a1.
    let mut config = reader(&cluster.bootstrap());
    config.set("isolation.level", "read_committed");
    let consumer = assigned_consumer(&config, "txn", 6);
    let got = consume(&consumer, 12, Duration::from_secs(30));
    let mut by_partition = BTreeMap::<i32, Vec<String>>::new();
    for g in &got {
        by_partition
            .entry(g.partition)
            .or_default()
            .push(String::from_utf8(g.value.clone().unwrap_or_default()).expect("utf-8"));
    }
    for p in 0..6 {
        assert_eq!(
            by_partition.get(&p).map(Vec::as_slice),
            Some(&["c1".to_string(), "c2".to_string()][..]),
            "partition {p} (led by {})",
            placed[&p]
        );
    }
    until(
        Duration::from_secs(30),
        "the group's offset committed",
        || committed(&cluster.bootstrap(), &group, "txn") == 42,
    );

    // A made-up producer's transactional batch at a leader that is not the
    // coordinator: the coordinator does not know it, so it is refused and nothing is
    // written (no transaction left open to hold back read_committed readers).
    let (&partition, &leader) = placed
        .iter()
        .find(|(_, &l)| l != txn_coordinator)
        .expect("a partition led elsewhere");
    let before = consumer
        .fetch_watermarks("txn", partition, Duration::from_secs(10))
        .expect("watermarks");
    let forged = RecordBatchBuilder::new(0, 1)
        .producer(987_654, 0, 0)
        .transactional(true)
        .record(RecordSpec::new(None, Some(b"forged")))
        .build();
    let req = common::raw::produce_request("txn", partition, Some("cluster-txn"), -1, forged);
    let Response::Produce(r) = common::raw::raw(&cluster.addr(leader), 9, req.into()) else {
        panic!("not a produce response")
    };
    assert_eq!(
        r.responses[0].partition_responses[0].error_code,
        ErrorCode::InvalidTxnState.code(),
        "{r:?}"
    );
    let after = consumer
        .fetch_watermarks("txn", partition, Duration::from_secs(10))
        .expect("watermarks");
    assert_eq!(before, after, "nothing of the forged batch was written");
}
