//! Topic configs changed while the broker runs (AlterConfigs, IncrementalAlterConfigs)
//! and DeleteRecords, through the rdkafka admin client and raw requests.

mod common;

use aeon::protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig, IncrementalAlterConfigsRequest,
};
use aeon::protocol::{ErrorCode, Response};
use common::{call, connect, consume, produce_all, raw, TestBroker};
use rdkafka::admin::{AdminOptions, AlterConfig, ResourceSpecifier};
use rdkafka::consumer::Consumer;
use rdkafka::producer::BaseRecord;
use rdkafka::{Offset, TopicPartitionList};
use std::net::TcpStream;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(30);

fn topic_config(broker: &TestBroker, topic: &str, name: &str) -> Option<String> {
    let admin = broker.admin();
    let res = futures::executor::block_on(
        admin.describe_configs([&ResourceSpecifier::Topic(topic)], &AdminOptions::new()),
    )
    .expect("describe");
    let resource = res[0].as_ref().expect("topic configs");
    resource.get(name).and_then(|e| e.value.clone())
}

fn incremental_on(
    resource_type: i8,
    broker: &TestBroker,
    topic: &str,
    ops: &[(&str, i8, Option<&str>)],
    validate_only: bool,
) -> (ErrorCode, Option<String>) {
    let req = IncrementalAlterConfigsRequest {
        resources: vec![AlterConfigsResource {
            resource_type,
            resource_name: topic.into(),
            configs: ops
                .iter()
                .map(|(n, op, v)| AlterableConfig {
                    name: (*n).into(),
                    config_operation: *op,
                    value: v.map(str::to_owned),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }],
        validate_only,
        ..Default::default()
    };
    let Response::IncrementalAlterConfigs(r) = raw(&broker.bootstrap(), 1, req.into()) else {
        panic!("wrong response")
    };
    let r = &r.responses[0];
    (
        ErrorCode::from_code(r.error_code).expect("known code"),
        r.error_message.clone(),
    )
}

fn incremental(
    broker: &TestBroker,
    topic: &str,
    ops: &[(&str, i8, Option<&str>)],
    validate_only: bool,
) -> (ErrorCode, Option<String>) {
    incremental_on(2, broker, topic, ops, validate_only)
}

#[test]
fn alter_configs_replaces_overrides_and_honours_validate_only() {
    let broker = TestBroker::start();
    broker.create_topic("altered", 1);
    let admin = broker.admin();
    let change =
        AlterConfig::new(ResourceSpecifier::Topic("altered")).set("retention.ms", "123456");
    let dry = AdminOptions::new().validate_only(true);
    futures::executor::block_on(admin.alter_configs([&change], &dry)).expect("request")[0]
        .as_ref()
        .expect("valid");
    assert_ne!(
        topic_config(&broker, "altered", "retention.ms").as_deref(),
        Some("123456"),
        "validate_only changes nothing"
    );
    futures::executor::block_on(admin.alter_configs([&change], &AdminOptions::new()))
        .expect("request")[0]
        .as_ref()
        .expect("altered");
    assert_eq!(
        topic_config(&broker, "altered", "retention.ms").as_deref(),
        Some("123456")
    );

    let bad = AlterConfig::new(ResourceSpecifier::Topic("altered")).set("retention.ms", "soon");
    // The rdkafka crate (0.39) reports every AlterConfigs resource as Ok, whatever the
    // broker answered; the raw-request test below checks the error code itself.
    futures::executor::block_on(admin.alter_configs([&bad], &AdminOptions::new()))
        .expect("request");
    assert_eq!(
        topic_config(&broker, "altered", "retention.ms").as_deref(),
        Some("123456"),
        "nothing changed"
    );
}

#[test]
fn incremental_alter_configs_sets_deletes_appends_and_subtracts() {
    let broker = TestBroker::start();
    broker.create_topic("incr", 1);
    assert_eq!(
        incremental(
            &broker,
            "incr",
            &[("retention.ms", 0, Some("1000000"))],
            false
        )
        .0,
        ErrorCode::None
    );
    assert_eq!(
        topic_config(&broker, "incr", "retention.ms").as_deref(),
        Some("1000000")
    );
    assert_eq!(
        incremental(
            &broker,
            "incr",
            &[("cleanup.policy", 2, Some("compact"))],
            false
        )
        .0,
        ErrorCode::None
    );
    assert_eq!(
        topic_config(&broker, "incr", "cleanup.policy").as_deref(),
        Some("delete,compact")
    );
    assert_eq!(
        incremental(
            &broker,
            "incr",
            &[("cleanup.policy", 3, Some("delete"))],
            false
        )
        .0,
        ErrorCode::None
    );
    assert_eq!(
        topic_config(&broker, "incr", "cleanup.policy").as_deref(),
        Some("compact")
    );
    assert_eq!(
        incremental(&broker, "incr", &[("retention.ms", 1, None)], false).0,
        ErrorCode::None
    );
    assert_eq!(
        topic_config(&broker, "incr", "retention.ms").as_deref(),
        Some("604800000"),
        "back to the default"
    );

    let (code, msg) = incremental(&broker, "incr", &[("no.such.config", 0, Some("1"))], false);
    assert_eq!(code, ErrorCode::InvalidConfig);
    assert!(
        msg.unwrap_or_default().contains("no.such.config"),
        "the error names the config"
    );
    let (code, _) = incremental(&broker, "incr", &[("retention.ms", 2, Some("5"))], false);
    assert_eq!(
        code,
        ErrorCode::InvalidConfig,
        "APPEND only applies to list configs"
    );
    let (code, _) = incremental(
        &broker,
        "incr",
        &[
            ("segment.ms", 0, Some("60000")),
            ("retention.ms", 0, Some("x")),
        ],
        false,
    );
    assert_eq!(code, ErrorCode::InvalidConfig);
    assert_ne!(
        topic_config(&broker, "incr", "segment.ms").as_deref(),
        Some("60000"),
        "all or nothing"
    );
    assert_eq!(
        incremental(&broker, "incr", &[("segment.ms", 0, Some("60000"))], true).0,
        ErrorCode::None
    );
    assert_ne!(
        topic_config(&broker, "incr", "segment.ms").as_deref(),
        Some("60000"),
        "validate_only"
    );
}

fn fill_segments(broker: &TestBroker, topic: &str) -> usize {
    let producer = broker.producer(&[("linger.ms", "0"), ("batch.size", "100000")]);
    let value = vec![7u8; 50_000];
    // About 3 MiB in 50 kB batches over 1 MiB segments.
    let n = 64;
    produce_all(
        &producer,
        (0..n).map(|_| BaseRecord::<[u8], [u8]>::to(topic).payload(value.as_slice())),
    );
    n
}

#[test]
fn retention_changed_live_takes_effect() {
    let broker = TestBroker::start();
    let topic =
        rdkafka::admin::NewTopic::new("shrinking", 1, rdkafka::admin::TopicReplication::Fixed(1))
            .set("segment.bytes", "1048576");
    broker.create_topic_with(&topic);
    let n = fill_segments(&broker, "shrinking");
    let consumer = broker.consumer("shrinking", 0);
    assert_eq!(
        consumer
            .fetch_watermarks("shrinking", 0, TIMEOUT)
            .expect("watermarks"),
        (0, n as i64)
    );
    assert_eq!(
        incremental(
            &broker,
            "shrinking",
            &[("retention.bytes", 0, Some("1"))],
            false
        )
        .0,
        ErrorCode::None
    );
    let deadline = std::time::Instant::now() + TIMEOUT;
    loop {
        let (low, high) = consumer
            .fetch_watermarks("shrinking", 0, TIMEOUT)
            .expect("watermarks");
        if low > 0 {
            assert_eq!(high, n as i64);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "retention.bytes did not remove old segments"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let segments = std::fs::read_dir(broker.dir.path().join("shrinking-0"))
        .expect("dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "log"))
        // A segment prepared for the next roll is not part of the log yet.
        .filter(|e| !e.file_name().to_string_lossy().starts_with(".prepared-"))
        .count();
    assert_eq!(segments, 1, "only the active segment is left");
}

#[test]
fn delete_records_moves_the_start_and_consumers_begin_there() {
    let broker = TestBroker::start();
    broker.create_topic("trimmed", 1);
    let producer = broker.producer(&[("linger.ms", "0")]);
    produce_all(
        &producer,
        (0..20).map(|i| {
            BaseRecord::<[u8], [u8]>::to("trimmed").payload(if i < 10 { b"old" } else { b"new" })
        }),
    );
    let admin = broker.admin();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset("trimmed", 0, Offset::Offset(10))
        .expect("tpl");
    let res = futures::executor::block_on(admin.delete_records(&tpl, &AdminOptions::new()))
        .expect("delete records");
    assert_eq!(
        res.elements()[0].offset(),
        Offset::Offset(10),
        "the new low watermark"
    );
    let got = consume(&broker.consumer("trimmed", 1), 10, TIMEOUT);
    assert_eq!(got.len(), 10);
    assert_eq!(
        got[0].offset, 10,
        "a consumer from the earliest offset starts at the new start"
    );
    assert!(got.iter().all(|g| g.value.as_deref() == Some(&b"new"[..])));
    let mut beyond = TopicPartitionList::new();
    beyond
        .add_partition_offset("trimmed", 0, Offset::Offset(99))
        .expect("tpl");
    let res = futures::executor::block_on(admin.delete_records(&beyond, &AdminOptions::new()))
        .expect("request");
    assert!(
        res.elements()[0].error().is_err(),
        "past the high watermark is OFFSET_OUT_OF_RANGE"
    );
}

#[test]
fn legacy_alter_configs_refuses_an_invalid_value_with_invalid_config() {
    use aeon::protocol::messages::alter_configs_request::{
        AlterConfigsRequest, AlterConfigsResource, AlterableConfig,
    };
    let broker = TestBroker::start();
    broker.create_topic("legacy", 1);
    let req = AlterConfigsRequest {
        resources: vec![AlterConfigsResource {
            resource_type: 2,
            resource_name: "legacy".into(),
            configs: vec![AlterableConfig {
                name: "retention.ms".into(),
                value: Some("soon".into()),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let Response::AlterConfigs(r) = raw(&broker.bootstrap(), 1, req.into()) else {
        panic!("wrong response")
    };
    assert_eq!(r.responses[0].error_code, ErrorCode::InvalidConfig.code());
    assert!(r.responses[0]
        .error_message
        .as_deref()
        .unwrap_or_default()
        .contains("retention.ms"));
}

#[test]
fn dynamic_broker_configs_change_live_follow_topics_and_survive_a_restart() {
    let mut broker = TestBroker::start();
    broker.create_topic("follower", 1);
    let set = incremental_on(
        4,
        &broker,
        "1",
        &[("log.retention.ms", 0, Some("3600000"))],
        false,
    );
    assert_eq!(set.0, ErrorCode::None, "{set:?}");
    let describe_broker = |broker: &TestBroker| {
        let admin = broker.admin();
        let res = futures::executor::block_on(
            admin.describe_configs([&ResourceSpecifier::Broker(1)], &AdminOptions::new()),
        )
        .expect("describe");
        let resource = res[0].as_ref().expect("broker configs");
        let entry = resource.get("log.retention.ms").expect("listed");
        (entry.value.clone(), format!("{:?}", entry.source))
    };
    assert_eq!(
        describe_broker(&broker),
        (Some("3600000".into()), "DynamicBroker".to_string())
    );
    assert_eq!(
        topic_config(&broker, "follower", "retention.ms").as_deref(),
        Some("3600000"),
        "a topic without an override follows"
    );

    let (code, msg) = incremental_on(4, &broker, "1", &[("num.partitions", 0, Some("3"))], false);
    assert_eq!(
        code,
        ErrorCode::InvalidConfig,
        "a static key cannot change live"
    );
    assert!(msg.unwrap_or_default().contains("num.partitions"));
    assert_eq!(
        incremental_on(
            4,
            &broker,
            "7",
            &[("log.retention.ms", 0, Some("1"))],
            false
        )
        .0,
        ErrorCode::InvalidRequest,
        "another broker id"
    );

    broker.restart();
    assert_eq!(
        describe_broker(&broker),
        (Some("3600000".into()), "DynamicBroker".to_string()),
        "kept across a restart"
    );
    assert_eq!(
        incremental_on(4, &broker, "", &[("log.retention.ms", 1, None)], false).0,
        ErrorCode::None
    );
    assert_eq!(
        topic_config(&broker, "follower", "retention.ms").as_deref(),
        Some("604800000"),
        "back to the static value"
    );
}

/// `message.timestamp.after.max.ms` (Kafka 4.x's default: one hour) and
/// `message.timestamp.before.max.ms` refuse CreateTime records too far from the broker's
/// clock with INVALID_TIMESTAMP; a LogAppendTime topic stamps its own time instead.
#[test]
fn create_time_records_outside_the_timestamp_bounds_are_refused() {
    use aeon::protocol::records::{RecordBatchBuilder, RecordSpec};
    let broker = TestBroker::start();
    broker.create_topic("clocked", 1);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let batch = |timestamps: &[i64]| {
        let mut b = RecordBatchBuilder::new(0, timestamps[0]);
        for ts in timestamps {
            b = b.record(RecordSpec::new(Some(b"k"), Some(b"v")).timestamp(*ts));
        }
        b.build()
    };
    let mut s = connect(&broker.bootstrap());
    let code = |s: &mut TcpStream, timestamps: &[i64]| {
        common::produce_raw(s, "clocked", None, batch(timestamps)).error_code
    };
    let hour = 3_600_000;
    assert_eq!(
        code(&mut s, &[now, now + 2 * hour]),
        ErrorCode::InvalidTimestamp.code()
    );
    assert_eq!(
        code(&mut s, &[now - 1000 * hour, now]),
        0,
        "no past limit by default"
    );
    assert_eq!(
        incremental(
            &broker,
            "clocked",
            &[("message.timestamp.before.max.ms", 0, Some("60000"))],
            false
        )
        .0,
        ErrorCode::None
    );
    // The oldest record is the second: every record is checked, not only the first.
    assert_eq!(
        code(&mut s, &[now, now - hour]),
        ErrorCode::InvalidTimestamp.code()
    );
    assert_eq!(code(&mut s, &[now - 1000, now + 1000]), 0);
    assert_eq!(
        incremental(
            &broker,
            "clocked",
            &[("message.timestamp.type", 0, Some("LogAppendTime"))],
            false
        )
        .0,
        ErrorCode::None
    );
    assert_eq!(
        code(&mut s, &[now + 2 * hour]),
        0,
        "LogAppendTime: the broker's time"
    );
}

/// `compression.type` on a topic (or the broker) re-encodes what producers send with
/// another codec; `producer` keeps theirs.
#[test]
fn a_topics_compression_type_re_encodes_batches_sent_with_another_codec() {
    use aeon::protocol::records::compression::compress_batch;
    use aeon::protocol::records::{BatchIter, Compression, RecordBatchBuilder, RecordSpec};
    let broker = TestBroker::start_with(|c| c.set("compression.type", "lz4").expect("set"));
    broker.create_topic("by-broker", 1);
    broker.create_topic("by-topic", 1);
    broker.create_topic("as-sent", 1);
    for (topic, value) in [("by-topic", "zstd"), ("as-sent", "producer")] {
        assert_eq!(
            incremental(
                &broker,
                topic,
                &[("compression.type", 0, Some(value))],
                false
            )
            .0,
            ErrorCode::None
        );
    }
    let batch = RecordBatchBuilder::new(0, 1)
        .record(RecordSpec::new(Some(b"k"), Some(b"v")).header("h", Some(b"1")))
        .record(RecordSpec::new(Some(b"k2"), Some(b"v2")))
        .build();
    let gzip = compress_batch(&batch, Compression::Gzip).expect("gzip");
    let mut s = connect(&broker.bootstrap());
    for (topic, stored) in [
        ("by-broker", Compression::Lz4),
        ("by-topic", Compression::Zstd),
        ("as-sent", Compression::Gzip),
    ] {
        assert_eq!(
            common::produce_raw(&mut s, topic, None, gzip.clone()).error_code,
            0
        );
        let consumer = broker.consumer(topic, 1);
        let got = consume(&consumer, 2, TIMEOUT);
        assert_eq!(got.len(), 2, "{topic}: both records read back");
        let dir = broker.dir.path().join(format!("{topic}-0"));
        let log = std::fs::read(dir.join(format!("{:020}.log", 0))).expect("segment");
        let first = BatchIter::new(&log).next().expect("a stored batch");
        assert_eq!(first.compression().expect("codec"), stored, "{topic}");
        first.verify_crc().expect("crc");
    }
}

/// `min.insync.replicas` above 1 cannot be met by a single broker's one replica: an
/// acks=all produce is refused with NOT_ENOUGH_REPLICAS and nothing is written; acks=1
/// still goes through, as with Kafka.
#[test]
fn min_insync_replicas_above_one_refuses_acks_all() {
    use aeon::protocol::records::{RecordBatchBuilder, RecordSpec};
    let broker = TestBroker::start();
    broker.create_topic("isr", 1);
    assert_eq!(
        incremental(
            &broker,
            "isr",
            &[("min.insync.replicas", 0, Some("2"))],
            false
        )
        .0,
        ErrorCode::None
    );
    let batch = RecordBatchBuilder::new(0, 1)
        .record(RecordSpec::new(Some(b"k"), Some(b"v")))
        .build();
    let mut s = connect(&broker.bootstrap());
    let all = common::produce_raw(&mut s, "isr", None, batch.clone());
    assert_eq!(all.error_code, ErrorCode::NotEnoughReplicas.code());
    let req = common::produce_request("isr", 0, None, 1, batch);
    let Response::Produce(r) = call(&mut s, 9, 2, req.into()) else {
        panic!("not a produce response")
    };
    let one = &r.responses[0].partition_responses[0];
    assert_eq!(
        (one.error_code, one.base_offset),
        (0, 0),
        "acks=1, the first write"
    );
}
