//! The admin CLI (`aeon topic|group|cluster ...`) run as a process against a live
//! broker; each command's output (tables and `--format json`) and errors checked.

mod common;

use aeon::protocol::records::{RecordBatchBuilder, RecordSpec};
use aeon::protocol::{Request, Response};
use common::{connect, produce_raw, raw, TestBroker};

/// Runs `aeon ARGS --bootstrap-server BROKER`: (exit success, stdout, stderr).
fn aeon(broker: &TestBroker, args: &[&str]) -> (bool, String, String) {
    aeon_with_input(broker, args, "")
}

fn json(broker: &TestBroker, args: &[&str]) -> serde_json::Value {
    let mut all = args.to_vec();
    all.extend(["--format", "json"]);
    let (ok, out, err) = aeon(broker, &all);
    assert!(ok, "{args:?}: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {out}"))
}

#[test]
fn topic_commands_create_list_describe_and_delete() {
    let broker = TestBroker::start();
    let (ok, out, err) = aeon(
        &broker,
        &[
            "topic",
            "create",
            "orders",
            "--partitions",
            "3",
            "--config",
            "cleanup.policy=compact",
        ],
    );
    assert!(ok, "{err}");
    assert_eq!(out, "created topic orders with 3 partitions\n");

    // Creating it again fails with Kafka's error name, exit status 1.
    let (ok, _, err) = aeon(&broker, &["topic", "create", "orders", "-p", "3"]);
    assert!(!ok);
    assert!(
        err.starts_with("error: ") && err.contains("TOPIC_ALREADY_EXISTS"),
        "{err}"
    );

    let (ok, out, _) = aeon(&broker, &["topic", "list"]);
    assert!(ok);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["TOPIC", "PARTITIONS", "INTERNAL"]
    );
    assert!(
        lines
            .iter()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["orders", "3", "false"]),
        "{out}"
    );

    // Records in partition 1 move its end offset.
    let mut b = RecordBatchBuilder::new(0, 1_700_000_000_000);
    for i in 0..7 {
        let key = format!("k{i}");
        b = b.record(RecordSpec::new(Some(key.as_bytes()), Some(b"v")));
    }
    let mut s = connect(&broker.bootstrap());
    let req = common::produce_request("orders", 1, None, -1, b.build());
    let Response::Produce(r) = common::call(&mut s, 9, 1, req.into()) else {
        panic!("not a produce response")
    };
    assert_eq!(r.responses[0].partition_responses[0].error_code, 0);

    let d = json(&broker, &["topic", "describe", "orders"]);
    assert_eq!(d["name"], "orders");
    let parts = d["partitions"].as_array().expect("partitions");
    assert_eq!(parts.len(), 3);
    assert_eq!(parts[1]["partition"], 1);
    assert_eq!(parts[1]["leader"], 1);
    assert_eq!(parts[1]["end_offset"], 7);
    assert_eq!(parts[0]["end_offset"], 0);
    assert_eq!(parts[1]["start_offset"], 0);

    let listed = json(&broker, &["topic", "list"]);
    assert!(listed
        .as_array()
        .expect("list")
        .iter()
        .any(|t| t["name"] == "orders" && t["partitions"] == 3));

    // Grow it to 5 partitions; change and reset a config.
    let (ok, out, err) = aeon(
        &broker,
        &["topic", "add-partitions", "orders", "--partitions", "5"],
    );
    assert!(ok, "{err}");
    assert_eq!(out, "topic orders now has 5 partitions\n");
    let d = json(&broker, &["topic", "describe", "orders"]);
    assert_eq!(d["partitions"].as_array().expect("partitions").len(), 5);
    let (ok, _, err) = aeon(&broker, &["topic", "add-partitions", "orders", "-p", "2"]);
    assert!(!ok && err.contains("INVALID_PARTITIONS"), "{err}");
    let (ok, out, err) = aeon(
        &broker,
        &[
            "topic",
            "alter-config",
            "orders",
            "--set",
            "retention.ms=123456",
        ],
    );
    assert!(ok, "{err}");
    assert_eq!(out, "altered the configs of topic orders\n");
    assert_eq!(topic_config(&broker, "orders", "retention.ms"), "123456");
    let (ok, _, err) = aeon(
        &broker,
        &[
            "topic",
            "alter-config",
            "orders",
            "--set",
            "retention.ms=soon",
        ],
    );
    assert!(!ok && err.contains("INVALID_CONFIG"), "{err}");
    let (ok, _, err) = aeon(
        &broker,
        &[
            "topic",
            "alter-config",
            "orders",
            "--delete",
            "retention.ms",
        ],
    );
    assert!(ok, "{err}");
    assert_eq!(topic_config(&broker, "orders", "retention.ms"), "604800000");

    let (ok, out, err) = aeon(&broker, &["topic", "delete", "orders"]);
    assert!(ok, "{err}");
    assert_eq!(out, "deleted topic orders\n");
    let (ok, _, err) = aeon(&broker, &["topic", "describe", "orders"]);
    assert!(!ok);
    assert!(err.contains("UNKNOWN_TOPIC_OR_PARTITION"), "{err}");
}

/// One config of a topic, as DescribeConfigs reports it.
fn topic_config(broker: &TestBroker, topic: &str, key: &str) -> String {
    use aeon::protocol::messages::describe_configs_request::*;
    let req = DescribeConfigsRequest {
        resources: vec![DescribeConfigsResource {
            resource_type: 2,
            resource_name: topic.into(),
            configuration_keys: Some(vec![key.into()]),
            ..Default::default()
        }],
        ..Default::default()
    };
    let Response::DescribeConfigs(r) = raw(&broker.bootstrap(), 4, Request::DescribeConfigs(req))
    else {
        panic!("not a describe configs response")
    };
    r.results[0].configs[0].value.clone().unwrap_or_default()
}

#[test]
fn group_commands_list_and_lag() {
    let broker = TestBroker::start();
    broker.create_topic("events", 2);
    let mut b = RecordBatchBuilder::new(0, 1_700_000_000_000);
    for _ in 0..12 {
        b = b.record(RecordSpec::new(None, Some(b"e")));
    }
    let mut s = connect(&broker.bootstrap());
    assert_eq!(produce_raw(&mut s, "events", None, b.build()).error_code, 0);
    // The group "billing" committed offset 5 of partition 0, nothing of partition 1.
    use aeon::protocol::messages::offset_commit_request::*;
    let req = OffsetCommitRequest {
        group_id: "billing".into(),
        generation_id_or_member_epoch: -1,
        retention_time_ms: -1,
        topics: vec![OffsetCommitRequestTopic {
            name: "events".into(),
            partitions: vec![OffsetCommitRequestPartition {
                partition_index: 0,
                committed_offset: 5,
                committed_leader_epoch: -1,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let Response::OffsetCommit(r) = raw(&broker.bootstrap(), 8, Request::OffsetCommit(req)) else {
        panic!("not an offset commit response")
    };
    assert_eq!(r.topics[0].partitions[0].error_code, 0);

    let groups = json(&broker, &["group", "list"]);
    let billing = groups
        .as_array()
        .expect("groups")
        .iter()
        .find(|g| g["group"] == "billing")
        .expect("billing is listed");
    assert_eq!(billing["type"], "classic");
    assert_eq!(billing["state"], "Empty");

    let lag = json(&broker, &["group", "lag", "billing"]);
    assert_eq!(
        lag,
        serde_json::json!([{"group": "billing", "topic": "events", "partition": 0, "committed": 5, "end": 12, "lag": 7}])
    );
    let (ok, out, _) = aeon(&broker, &["group", "lag", "billing"]);
    assert!(ok);
    let rows: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows,
        vec![
            vec!["TOPIC", "PARTITION", "COMMITTED", "END", "LAG"],
            vec!["events", "0", "5", "12", "7"]
        ]
    );

    // Reset: a dry run changes nothing; --execute commits, clamped to each partition.
    let (ok, out, err) = aeon(
        &broker,
        &[
            "group",
            "reset-offsets",
            "billing",
            "--topic",
            "events",
            "--to-earliest",
        ],
    );
    assert!(ok, "{err}");
    assert!(
        out.ends_with("(dry run: add --execute to commit these offsets)\n"),
        "{out}"
    );
    assert_eq!(
        json(&broker, &["group", "lag", "billing"])[0]["committed"],
        5
    );
    let reset = json(
        &broker,
        &[
            "group",
            "reset-offsets",
            "billing",
            "--topic",
            "events",
            "--to-offset",
            "10",
            "--execute",
        ],
    );
    assert_eq!(
        reset["offsets"],
        serde_json::json!([{"partition": 0, "offset": 10}, {"partition": 1, "offset": 0}])
    );
    let lag = json(&broker, &["group", "lag", "billing"]);
    assert_eq!(lag[0]["committed"], 10);
    assert_eq!(lag[0]["lag"], 2);
    assert_eq!(lag[1]["committed"], 0);

    let described = json(&broker, &["group", "describe", "billing"]);
    assert_eq!(described["type"], "classic");
    assert_eq!(described["state"], "Empty");
    assert_eq!(described["members"], serde_json::json!([]));

    let (ok, out, err) = aeon(&broker, &["group", "delete", "billing"]);
    assert!(ok, "{err}");
    assert_eq!(out, "deleted group billing\n");
    assert_eq!(
        json(&broker, &["group", "lag", "billing"]),
        serde_json::json!([])
    );
    let (ok, _, err) = aeon(&broker, &["group", "delete", "billing"]);
    assert!(!ok && err.contains("GROUP_ID_NOT_FOUND"), "{err}");
}

#[test]
fn cluster_info_names_the_cluster_and_its_broker() {
    let broker = TestBroker::start();
    let info = json(&broker, &["cluster", "info"]);
    assert_eq!(info["controller_id"], 1);
    // A single broker is its own quorum's leader.
    assert_eq!(info["quorum_leader"], 1);
    assert!(info["cluster_id"].as_str().is_some_and(|c| !c.is_empty()));
    assert_eq!(info["brokers"][0]["id"], 1);
    assert_eq!(info["brokers"][0]["address"], broker.bootstrap());
    // Nothing listens there: a clear error, exit status 1.
    let out = common::aeon_command()
        .args([
            "cluster",
            "info",
            "-b",
            &format!("127.0.0.1:{}", common::free_port()),
        ])
        .output()
        .expect("run aeon");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("error: connecting to 127.0.0.1:"), "{err}");
}

/// Runs `aeon ARGS --bootstrap-server BROKER` with `input` on stdin: (exit success, stdout, stderr).
fn aeon_with_input(broker: &TestBroker, args: &[&str], input: &str) -> (bool, String, String) {
    use std::io::Write;
    let mut child = common::aeon_command()
        .args(args)
        .arg("--bootstrap-server")
        .arg(broker.bootstrap())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run aeon");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("aeon ends");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `aeon produce` sends stdin's lines (keys split off, headers added, keyed records
/// placed by Kafka's murmur2 partitioner); `aeon consume` prints them back.
#[test]
fn produce_and_consume_round_trip_keys_values_and_headers() {
    let broker = TestBroker::start();
    broker.create_topic("lines", 3);
    let input: String = (0..50)
        .map(|i| format!("user-{}:event {i}\n", i % 7))
        .collect();
    let (ok, _, err) = aeon_with_input(
        &broker,
        &[
            "produce",
            "lines",
            "--key-separator",
            ":",
            "-H",
            "source=cli",
        ],
        &input,
    );
    assert!(ok, "{err}");
    assert_eq!(err, "produced 50 records to lines\n");

    let records: Vec<serde_json::Value> = {
        let (ok, out, err) = aeon(&broker, &["consume", "lines", "--format", "json"]);
        assert!(ok, "{err}");
        out.lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect()
    };
    assert_eq!(records.len(), 50);
    let mut partition_of = std::collections::BTreeMap::new();
    for r in &records {
        assert_eq!(
            r["headers"],
            serde_json::json!([{"key": "source", "value": "cli"}])
        );
        let key = r["key"].as_str().expect("a key").to_string();
        // One key, one partition; and per partition the records keep their order.
        let p = r["partition"].as_i64().expect("partition");
        assert_eq!(*partition_of.entry(key).or_insert(p), p);
    }
    let distinct: std::collections::BTreeSet<i64> = partition_of.values().copied().collect();
    assert!(
        distinct.len() > 1,
        "7 keys over 3 partitions: {partition_of:?}"
    );
    for p in 0..3 {
        let events: Vec<i64> = records
            .iter()
            .filter(|r| r["partition"] == p)
            .map(|r| {
                r["value"].as_str().expect("value")["event ".len()..]
                    .parse()
                    .expect("n")
            })
            .collect();
        assert!(
            events.windows(2).all(|w| w[0] < w[1]),
            "partition {p}: {events:?}"
        );
    }

    // Text output of one partition from an offset, at most 2 records.
    let (ok, out, _) = aeon(
        &broker,
        &[
            "consume",
            "lines",
            "-p",
            "0",
            "--from",
            "1",
            "--max",
            "2",
            "--key-separator",
            "=",
        ],
    );
    assert!(ok);
    let expected: Vec<String> = records
        .iter()
        .filter(|r| r["partition"] == 0)
        .skip(1)
        .take(2)
        .map(|r| {
            format!(
                "{}={}",
                r["key"].as_str().unwrap_or(""),
                r["value"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(out.lines().collect::<Vec<_>>(), expected);
    // A partition the topic does not have.
    let (ok, _, err) = aeon_with_input(&broker, &["produce", "lines", "-p", "7"], "x\n");
    assert!(!ok && err.contains("no partition 7"), "{err}");
}

/// `consume --format json` piped into `produce --input json` copies a topic record for
/// record (partition, key, value, a null value, headers); `--record-format` prints
/// kcat's format strings.
#[test]
fn consume_json_feeds_produce_json_and_record_formats_print_fields() {
    let broker = TestBroker::start();
    broker.create_topic("source", 2);
    broker.create_topic("copy", 2);
    let input = [
        r#"{"key":"a","value":"one","partition":1,"headers":[{"key":"h","value":"x"}]}"#,
        r#"{"key":"b","value":null,"partition":0}"#,
        r#"{"key":null,"value":"three","partition":1,"headers":{"h2":"y","h3":null}}"#,
    ]
    .join("\n");
    let (ok, _, err) = aeon_with_input(&broker, &["produce", "source", "--input", "json"], &input);
    assert!(ok, "{err}");
    let (ok, dump, err) = aeon(&broker, &["consume", "source", "--format", "json"]);
    assert!(ok, "{err}");
    let (ok, _, err) = aeon_with_input(&broker, &["produce", "copy", "--input", "json"], &dump);
    assert!(ok, "{err}");
    let (ok, copied, err) = aeon(&broker, &["consume", "copy", "--format", "json"]);
    assert!(ok, "{err}");
    let fields = |dump: &str| -> Vec<serde_json::Value> {
        dump.lines()
            .map(|l| {
                let mut v: serde_json::Value = serde_json::from_str(l).expect("a JSON line");
                v.as_object_mut().expect("an object").remove("timestamp");
                v
            })
            .collect()
    };
    assert_eq!(fields(&copied), fields(&dump), "the copy is the source");
    assert_eq!(
        fields(&dump),
        vec![
            serde_json::json!({"partition": 0, "offset": 0, "key": "b", "value": null, "headers": []}),
            serde_json::json!({"partition": 1, "offset": 0, "key": "a", "value": "one", "headers": [{"key": "h", "value": "x"}]}),
            serde_json::json!({"partition": 1, "offset": 1, "key": null, "value": "three", "headers": [{"key": "h2", "value": "y"}, {"key": "h3", "value": null}]}),
        ]
    );

    let (ok, out, err) = aeon(
        &broker,
        &["consume", "source", "-f", "%t/%p@%o %k=%v (%K,%S) [%h]\\n"],
    );
    assert!(ok, "{err}");
    assert_eq!(
        out,
        "source/0@0 b= (1,-1) []\nsource/1@0 a=one (1,3) [h=x]\nsource/1@1 =three (-1,5) [h2=y,h3=]\n"
    );
    let (ok, _, err) = aeon(&broker, &["consume", "source", "-f", "%q"]);
    assert!(!ok && err.contains("unknown field %q"), "{err}");
}

/// `group describe` of a consumer-protocol group: its epoch, assignor and a member with
/// the partitions the coordinator assigned it.
#[test]
fn group_describe_shows_a_consumer_group_and_its_member() {
    let broker = TestBroker::start();
    broker.create_topic("streamed", 2);
    common::consumer_group_join(
        &broker.bootstrap(),
        "modern",
        "member-one-0123456789",
        &["streamed"],
    );
    let d = json(&broker, &["group", "describe", "modern"]);
    assert_eq!(d["type"], "consumer");
    assert_eq!(d["assignor"], "uniform");
    assert_eq!(d["epoch"], 1);
    assert_eq!(d["members"][0]["member_id"], "member-one-0123456789");
    assert_eq!(
        d["members"][0]["partitions"],
        serde_json::json!(["streamed-0", "streamed-1"])
    );
    let (ok, _, err) = aeon(&broker, &["group", "describe", "nobody"]);
    assert!(!ok && err.contains("GROUP_ID_NOT_FOUND"), "{err}");
}
