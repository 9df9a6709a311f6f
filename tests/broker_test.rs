//! End to end with the real `rdkafka` client against a broker started in this process
//! on 127.0.0.1:0: topics, produce and fetch, compression, restart, metadata, and
//! hostile sockets.

mod common;

use common::{assert_closed_by_broker, connect, consume, produce_all, TestBroker};
use rdkafka::consumer::Consumer;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::BaseRecord;
use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(30);

#[test]
fn the_admin_client_creates_a_topic_that_metadata_then_lists() {
    let broker = TestBroker::start();
    broker.create_topic("orders", 3);
    let consumer = broker.consumer("orders", 0);
    let md = consumer
        .fetch_metadata(Some("orders"), TIMEOUT)
        .expect("metadata");
    let t = &md.topics()[0];
    assert_eq!(t.name(), "orders");
    assert!(t.error().is_none(), "{:?}", t.error());
    assert_eq!(t.partitions().len(), 3);
    assert_eq!(md.brokers().len(), 1);
    assert_eq!(
        md.brokers()[0].port(),
        broker
            .bootstrap()
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or(0)
    );
}

fn keyed_record(i: usize) -> (String, Vec<u8>, i64) {
    (
        format!("key-{i}"),
        format!("value-{i}-{}", "x".repeat(i % 50)).into_bytes(),
        1_700_000_000_000 + i as i64,
    )
}

#[test]
fn ten_thousand_messages_with_keys_headers_and_timestamps_come_back_byte_exact_in_order() {
    let mut broker = TestBroker::start();
    broker.create_topic("events", 3);
    let producer = broker.producer(&[]);
    let records: Vec<_> = (0..10_000).map(keyed_record).collect();
    produce_all(
        &producer,
        records.iter().enumerate().map(|(i, (k, v, ts))| {
            BaseRecord::to("events")
                .partition((i % 3) as i32)
                .key(k.as_bytes())
                .payload(v.as_slice())
                .timestamp(*ts)
                .headers(OwnedHeaders::new().insert(Header {
                    key: "seq",
                    value: Some(&i.to_string()),
                }))
        }),
    );
    let check = |broker: &TestBroker| {
        let consumer = broker.consumer("events", 3);
        let got = consume(&consumer, 10_000, TIMEOUT);
        assert_eq!(got.len(), 10_000, "every message comes back");
        let mut per_partition: BTreeMap<i32, Vec<&common::Got>> = BTreeMap::new();
        for g in &got {
            per_partition.entry(g.partition).or_default().push(g);
        }
        for (p, msgs) in per_partition {
            for (n, g) in msgs.iter().enumerate() {
                assert_eq!(
                    g.offset, n as i64,
                    "partition {p} offsets are dense and ordered"
                );
                let i = 3 * n + p as usize;
                let (k, v, ts) = &records[i];
                assert_eq!(g.key.as_deref(), Some(k.as_bytes()));
                assert_eq!(g.value.as_deref(), Some(v.as_slice()));
                assert_eq!(g.timestamp, Some(*ts));
                assert_eq!(
                    g.headers,
                    vec![("seq".to_string(), Some(i.to_string().into_bytes()))]
                );
            }
        }
    };
    check(&broker);
    broker.restart();
    check(&broker);
}

#[test]
fn every_compression_codec_round_trips() {
    let broker = TestBroker::start();
    for codec in ["gzip", "snappy", "lz4", "zstd"] {
        let topic = format!("compressed-{codec}");
        broker.create_topic(&topic, 1);
        let producer = broker.producer(&[("compression.type", codec), ("linger.ms", "20")]);
        let values: Vec<Vec<u8>> = (0..500)
            .map(|i| format!("{codec} message {i} {}", "abc".repeat(20)).into_bytes())
            .collect();
        produce_all(
            &producer,
            values
                .iter()
                .map(|v| BaseRecord::<[u8], [u8]>::to(&topic).payload(v.as_slice())),
        );
        let got = consume(&broker.consumer(&topic, 1), values.len(), TIMEOUT);
        let got: Vec<Vec<u8>> = got.into_iter().filter_map(|g| g.value).collect();
        assert_eq!(got, values, "{codec}");
    }
}

#[test]
fn metadata_for_an_unknown_topic_says_unknown_when_auto_creation_is_off() {
    let broker =
        TestBroker::start_with(|c| c.set("auto.create.topics.enable", "false").expect("set"));
    let consumer = broker.consumer("nope", 0);
    let md = consumer
        .fetch_metadata(Some("no-such-topic"), TIMEOUT)
        .expect("metadata");
    let t = &md.topics()[0];
    assert_eq!(
        t.error(),
        Some(rdkafka::types::RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
    );
}

#[test]
fn metadata_for_an_unknown_topic_creates_it_when_auto_creation_is_on() {
    use rdkafka::producer::Producer;
    let broker = TestBroker::start();
    // A consumer's metadata request does not allow auto-creation (librdkafka's
    // allow.auto.create.topics=false); a producer's does.
    let consumer = broker.consumer("nope", 0);
    let md = consumer
        .fetch_metadata(Some("not-by-consumers"), TIMEOUT)
        .expect("metadata");
    assert!(
        md.topics()[0].error().is_some(),
        "a consumer's metadata request must not create topics"
    );
    let producer = broker.producer(&[]);
    let md = producer
        .client()
        .fetch_metadata(Some("auto-made"), TIMEOUT)
        .expect("metadata");
    let t = &md.topics()[0];
    assert!(t.error().is_none(), "{:?}", t.error());
    assert_eq!(t.partitions().len(), 1, "num.partitions");
}

#[test]
fn garbage_and_an_oversized_length_prefix_close_only_their_connections() {
    let broker = TestBroker::start();
    broker.create_topic("steady", 1);
    let producer = broker.producer(&[]);
    produce_all(
        &producer,
        (0..100).map(|_| BaseRecord::<[u8], [u8]>::to("steady").payload(b"before")),
    );

    let mut garbage = connect(&broker.bootstrap());
    garbage
        .write_all(&[0, 0, 0, 12, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8])
        .expect("write");
    assert_closed_by_broker(&mut garbage, "garbage");

    let mut huge = connect(&broker.bootstrap());
    huge.write_all(&[0x7f, 0xff, 0xff, 0xff]).expect("write");
    assert_closed_by_broker(&mut huge, "an oversized length prefix");

    // The client on its own connection is unaffected.
    produce_all(
        &producer,
        (0..100).map(|_| BaseRecord::<[u8], [u8]>::to("steady").payload(b"after")),
    );
    let got = consume(&broker.consumer("steady", 1), 200, TIMEOUT);
    assert_eq!(got.len(), 200);
}

#[test]
fn admin_deletes_topics_grows_partitions_and_describes_configs() {
    use rdkafka::admin::{
        AdminOptions, ConfigSource, NewPartitions, NewTopic, ResourceSpecifier, TopicReplication,
    };
    let broker = TestBroker::start();
    let admin = broker.admin();
    let opts = AdminOptions::new();
    let topic = NewTopic::new("configured", 2, TopicReplication::Fixed(1))
        .set("retention.ms", "3600000")
        .set("cleanup.policy", "delete");
    for r in futures::executor::block_on(admin.create_topics([&topic], &opts)).expect("create") {
        r.expect("created");
    }
    // Kafka's errors for what one node cannot do.
    let bad = NewTopic::new("rf3", 1, TopicReplication::Fixed(3));
    let res = futures::executor::block_on(admin.create_topics([&bad], &opts)).expect("request");
    assert!(
        matches!(
            &res[0],
            Err((
                _,
                rdkafka::types::RDKafkaErrorCode::InvalidReplicationFactor
            ))
        ),
        "{res:?}"
    );
    let bad = NewTopic::new("badconf", 1, TopicReplication::Fixed(1)).set("no.such.config", "1");
    let res = futures::executor::block_on(admin.create_topics([&bad], &opts)).expect("request");
    assert!(
        matches!(
            &res[0],
            Err((_, rdkafka::types::RDKafkaErrorCode::InvalidConfig))
        ),
        "{res:?}"
    );
    let validate = AdminOptions::new().validate_only(true);
    let dry = NewTopic::new("dry-run", 1, TopicReplication::Fixed(1));
    futures::executor::block_on(admin.create_topics([&dry], &validate)).expect("request")[0]
        .as_ref()
        .expect("valid");

    let configs = futures::executor::block_on(
        admin.describe_configs([&ResourceSpecifier::Topic("configured")], &opts),
    )
    .expect("describe");
    let resource = configs[0].as_ref().expect("topic configs");
    let retention = resource.get("retention.ms").expect("retention.ms listed");
    assert_eq!(retention.value.as_deref(), Some("3600000"));
    assert_eq!(retention.source, ConfigSource::DynamicTopic);
    let segment = resource.get("segment.bytes").expect("segment.bytes listed");
    assert!(
        matches!(
            segment.source,
            ConfigSource::Default | ConfigSource::StaticBroker
        ),
        "{:?}",
        segment.source
    );
    let broker_configs =
        futures::executor::block_on(admin.describe_configs([&ResourceSpecifier::Broker(1)], &opts))
            .expect("describe");
    let b = broker_configs[0].as_ref().expect("broker configs");
    assert!(b.get("log.segment.bytes").is_some());

    let grow = NewPartitions::new("configured", 5);
    futures::executor::block_on(admin.create_partitions([&grow], &opts)).expect("request")[0]
        .as_ref()
        .expect("grown");
    let shrink = NewPartitions::new("configured", 1);
    let res =
        futures::executor::block_on(admin.create_partitions([&shrink], &opts)).expect("request");
    assert!(
        matches!(
            &res[0],
            Err((_, rdkafka::types::RDKafkaErrorCode::InvalidPartitions))
        ),
        "{res:?}"
    );

    let consumer = broker.consumer("configured", 0);
    let md = consumer
        .fetch_metadata(Some("configured"), TIMEOUT)
        .expect("metadata");
    assert_eq!(md.topics()[0].partitions().len(), 5);
    let all = consumer.fetch_metadata(None, TIMEOUT).expect("metadata");
    assert!(
        all.topics().iter().all(|t| t.name() != "dry-run"),
        "validate_only created nothing"
    );

    futures::executor::block_on(admin.delete_topics(&["configured"], &opts)).expect("request")[0]
        .as_ref()
        .expect("deleted");
    assert!(
        !broker.dir.path().join("configured-0").exists(),
        "the topic's data is removed"
    );
    let md = consumer.fetch_metadata(None, TIMEOUT).expect("metadata");
    assert!(md.topics().iter().all(|t| t.name() != "configured"));
}

#[test]
fn list_offsets_answers_earliest_latest_and_by_timestamp() {
    let broker = TestBroker::start();
    broker.create_topic("timed", 1);
    let producer = broker.producer(&[("linger.ms", "0")]);
    for i in 0..10i64 {
        produce_all(
            &producer,
            [BaseRecord::<[u8], [u8]>::to("timed")
                .payload(b"v")
                .timestamp(1_000_000 + i * 1000)],
        );
    }
    let consumer = broker.consumer("timed", 0);
    let (low, high) = consumer
        .fetch_watermarks("timed", 0, TIMEOUT)
        .expect("watermarks");
    assert_eq!((low, high), (0, 10));
    let mut tpl = rdkafka::TopicPartitionList::new();
    tpl.add_partition_offset("timed", 0, rdkafka::Offset::Offset(1_004_500))
        .expect("tpl");
    let found = consumer
        .offsets_for_times(tpl, TIMEOUT)
        .expect("offsets for times");
    assert_eq!(
        found.elements()[0].offset(),
        rdkafka::Offset::Offset(5),
        "first batch at or after the timestamp"
    );
}

#[test]
fn a_log_append_time_topic_stamps_the_brokers_clock() {
    use rdkafka::admin::{NewTopic, TopicReplication};
    use rdkafka::message::Timestamp;
    let broker = TestBroker::start();
    broker.create_topic_with(
        &NewTopic::new("stamped", 1, TopicReplication::Fixed(1))
            .set("message.timestamp.type", "LogAppendTime"),
    );
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    let producer = broker.producer(&[]);
    produce_all(
        &producer,
        (0..10).map(|_| {
            BaseRecord::<[u8], [u8]>::to("stamped")
                .payload(b"v")
                .timestamp(1_000)
        }),
    );
    let consumer = broker.consumer("stamped", 1);
    let deadline = std::time::Instant::now() + TIMEOUT;
    let mut seen = 0;
    while seen < 10 && std::time::Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            use rdkafka::Message;
            match m.timestamp() {
                Timestamp::LogAppendTime(ts) => {
                    assert!(ts >= before, "the broker's clock, not the producer's 1000")
                }
                other => panic!("expected LogAppendTime, got {other:?}"),
            }
            seen += 1;
        }
    }
    assert_eq!(seen, 10);
}
