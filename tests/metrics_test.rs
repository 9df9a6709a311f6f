//! The operations listener: `/metrics` scraped over HTTP after known traffic, with the
//! exact values expected under the Kafka JMX exporter's names; `/health`; `/ready`.

mod common;

use aeon::protocol::records::{RecordBatchBuilder, RecordSpec};
use aeon::protocol::{Request, Response};
use common::{connect, produce_raw, raw, TestBroker};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

fn broker_with_metrics() -> TestBroker {
    TestBroker::start_with(|c| {
        c.set("metrics.listener", "127.0.0.1:0").expect("set");
    })
}

/// What Prometheus sends as `Accept` when it scrapes.
const PROMETHEUS_ACCEPT: &str =
    "application/openmetrics-text;version=1.0.0;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// GET `path`: (status code, content type, body).
fn get(addr: SocketAddr, path: &str) -> (u16, String, String) {
    get_accepting(addr, path, PROMETHEUS_ACCEPT)
}

fn get_accepting(addr: SocketAddr, path: &str, accept: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).expect("connect to the operations listener");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: {accept}\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("response");
    let (head, body) = raw.split_once("\r\n\r\n").expect("a head and a body");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("a status code");
    let content_type = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-type:")
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_default();
    (status, content_type, body.to_string())
}

/// Every sample of the scrape: `name{labels}` -> value.
fn scrape(addr: SocketAddr) -> BTreeMap<String, f64> {
    let (status, content_type, body) = get(addr, "/metrics");
    assert_eq!(status, 200);
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    assert!(
        body.ends_with("# EOF\n"),
        "an OpenMetrics exposition ends with # EOF"
    );
    body.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').expect("series value");
            (series.to_string(), value.parse().expect("a number"))
        })
        .collect()
}

/// Scrapes until `ready` holds of the scrape (a request's times are recorded once its
/// response is written, which can be just after the client has read it).
fn scrape_when(
    addr: SocketAddr,
    ready: impl Fn(&BTreeMap<String, f64>) -> bool,
) -> BTreeMap<String, f64> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let m = scrape(addr);
        if ready(&m) || std::time::Instant::now() > deadline {
            return m;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

fn batch(records: usize, value_size: usize) -> Vec<u8> {
    let value = vec![b'x'; value_size];
    let mut b = RecordBatchBuilder::new(0, 1_700_000_000_000);
    for i in 0..records {
        let key = format!("k{i}");
        b = b.record(RecordSpec::new(Some(key.as_bytes()), Some(&value)));
    }
    b.build()
}

#[test]
fn known_traffic_gives_exact_counters_under_kafkas_names() {
    let broker = broker_with_metrics();
    let ops = broker.metrics_addr();
    broker.create_topic("metered", 2);
    broker.create_topic("quiet", 1);

    // 3 batches of known sizes into partition 0 of "metered".
    let batches = [batch(10, 100), batch(25, 10), batch(1, 1000)];
    let bytes_in: usize = batches.iter().map(Vec::len).sum();
    let mut s = connect(&broker.bootstrap());
    for b in &batches {
        let r = produce_raw(&mut s, "metered", None, b.clone());
        assert_eq!(r.error_code, 0);
    }
    // A batch with a broken CRC is refused: one failed produce.
    let mut corrupt = batch(5, 10);
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0xff;
    assert_ne!(produce_raw(&mut s, "metered", None, corrupt).error_code, 0);

    // One fetch of partition 0 from offset 0 returns the three batches.
    let Response::Fetch(f) = raw(
        &broker.bootstrap(),
        12,
        Request::Fetch(common::fetch_request("metered", 0, 0, 1)),
    ) else {
        panic!("not a fetch response")
    };
    let returned = f.responses[0].partitions[0]
        .records
        .as_ref()
        .map_or(0, |r| r.len());
    assert_eq!(returned, bytes_in, "the fetch returns what was produced");

    let times = "kafka_network_requestmetrics_totaltimems";
    let m = scrape_when(ops, |m| {
        m.get(&format!("{times}_count{{request=\"Fetch\"}}")) == Some(&1.0)
    });
    let topic = |name: &str, t: &str| m.get(&format!("{name}{{topic=\"{t}\"}}")).copied();
    let all = |name: &str| m.get(name).copied();
    let msgs = "kafka_server_brokertopicmetrics_messagesin_total";
    let bin = "kafka_server_brokertopicmetrics_bytesin_total";
    let bout = "kafka_server_brokertopicmetrics_bytesout_total";
    let failed = "kafka_server_brokertopicmetrics_failedproducerequests_total";
    assert_eq!(topic(msgs, "metered"), Some(36.0));
    assert_eq!(topic(bin, "metered"), Some(bytes_in as f64));
    assert_eq!(topic(bout, "metered"), Some(bytes_in as f64));
    assert_eq!(topic(failed, "metered"), Some(1.0));
    assert_eq!(
        topic(msgs, "quiet"),
        Some(0.0),
        "every topic has its series"
    );
    // The all-topics series (no topic label) adds up every topic.
    assert_eq!(all(msgs), Some(36.0));
    assert_eq!(all(bin), Some(bytes_in as f64));
    assert_eq!(all(failed), Some(1.0));

    // Requests by API and version: 4 Produce v9, 1 Fetch v12 (and the topics' setup).
    assert_eq!(
        m.get("kafka_network_requestmetrics_requests_total{request=\"Produce\",version=\"9\"}"),
        Some(&4.0)
    );
    assert_eq!(
        m.get("kafka_network_requestmetrics_requests_total{request=\"Fetch\",version=\"12\"}"),
        Some(&1.0)
    );

    // Request times: one observation per request, every one in some bucket.
    assert_eq!(
        m.get(&format!("{times}_count{{request=\"Produce\"}}")),
        Some(&4.0)
    );
    assert_eq!(
        m.get(&format!(
            "{times}_bucket{{le=\"+Inf\",request=\"Produce\"}}"
        )),
        Some(&4.0)
    );
    assert!(m[&format!("{times}_sum{{request=\"Produce\"}}")] > 0.0);
    assert_eq!(
        m.get(&format!("{times}_count{{request=\"Fetch\"}}")),
        Some(&1.0)
    );
    // Kafka's phases: each request is counted once in each, and the phases add up to
    // the total (they are cut from the same moments).
    let phases = [
        "kafka_network_requestmetrics_requestqueuetimems",
        "kafka_network_requestmetrics_localtimems",
        "kafka_network_requestmetrics_responsequeuetimems",
        "kafka_network_requestmetrics_responsesendtimems",
    ];
    for request in ["Produce", "Fetch"] {
        let get = |name: &str, part: &str| {
            m.get(&format!("{name}_{part}{{request=\"{request}\"}}"))
                .copied()
                .unwrap_or_else(|| panic!("{name}_{part} for {request}"))
        };
        let total = get(times, "sum");
        let mut parts = 0.0;
        for phase in phases {
            assert_eq!(
                get(phase, "count"),
                get(times, "count"),
                "{phase} {request}"
            );
            assert!(get(phase, "sum") >= 0.0);
            parts += get(phase, "sum");
        }
        assert!(
            (parts - total).abs() <= total * 1e-6 + 1e-6,
            "{request}: the phases add up to {parts} ms, the total is {total} ms"
        );
        assert!(get(phases[1], "sum") > 0.0, "a handler takes some time");
    }

    // Partitions and offsets.
    assert_eq!(
        m.get("kafka_server_replicamanager_partitioncount"),
        Some(&3.0)
    );
    assert_eq!(m.get("kafka_server_replicamanager_leadercount"), Some(&3.0));
    assert_eq!(
        m.get("kafka_server_replicamanager_underreplicatedpartitions"),
        Some(&0.0)
    );
    assert_eq!(
        m.get("kafka_log_log_logendoffset{topic=\"metered\",partition=\"0\"}"),
        Some(&36.0)
    );
    assert_eq!(
        m.get("kafka_log_log_logendoffset{topic=\"metered\",partition=\"1\"}"),
        Some(&0.0)
    );
    assert_eq!(
        m.get("kafka_log_log_logstartoffset{topic=\"metered\",partition=\"0\"}"),
        Some(&0.0)
    );
    // Stored as produced: the partition holds exactly the three batches.
    assert_eq!(
        m.get("kafka_log_log_size{topic=\"metered\",partition=\"0\"}"),
        Some(&(bytes_in as f64))
    );
    assert_eq!(
        m.get("kafka_log_log_size{topic=\"metered\",partition=\"1\"}"),
        Some(&0.0)
    );

    // Connections: the produce connection is still open; the scrape's HTTP connection
    // is not a Kafka one.
    let listener = "{listener=\"PLAINTEXT\"}";
    assert!(m[&format!("kafka_server_socket_server_metrics_connection_count{listener}")] >= 1.0);
    assert!(
        m[&format!("kafka_server_socket_server_metrics_connection_creation_total{listener}")]
            >= 3.0
    );
    drop(s);
}

/// A scraper that does not ask for OpenMetrics gets the Prometheus text format 0.0.4:
/// the same samples, counters described under their `_total` names, no `# EOF`.
#[test]
fn a_scraper_without_openmetrics_gets_the_prometheus_text_format() {
    let broker = broker_with_metrics();
    broker.create_topic("texted", 1);
    let (status, content_type, text) = get_accepting(broker.metrics_addr(), "/metrics", "*/*");
    assert_eq!(status, 200);
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    assert!(!text.contains("# EOF"));
    assert!(text.contains("# TYPE kafka_server_brokertopicmetrics_messagesin_total counter\n"));
    let samples = |body: &str| -> Vec<String> {
        body.lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| {
                l.rsplit_once(' ')
                    .map_or(l, |(series, _)| series)
                    .to_string()
            })
            .collect()
    };
    let (_, _, openmetrics) = get(broker.metrics_addr(), "/metrics");
    assert_eq!(samples(&text), samples(&openmetrics), "the same series");
}

#[test]
fn a_deleted_topic_loses_its_series() {
    let broker = broker_with_metrics();
    let ops = broker.metrics_addr();
    broker.create_topic("doomed", 1);
    let mut s = connect(&broker.bootstrap());
    assert_eq!(
        produce_raw(&mut s, "doomed", None, batch(3, 10)).error_code,
        0
    );
    let series = "kafka_server_brokertopicmetrics_messagesin_total{topic=\"doomed\"}";
    assert_eq!(scrape(ops).get(series), Some(&3.0));
    let Response::DeleteTopics(d) = raw(
        &broker.bootstrap(),
        4,
        Request::DeleteTopics(
            aeon::protocol::messages::delete_topics_request::DeleteTopicsRequest {
                topic_names: vec!["doomed".into()],
                timeout_ms: 5_000,
                ..Default::default()
            },
        ),
    ) else {
        panic!("not a delete topics response")
    };
    assert_eq!(d.responses[0].error_code, 0);
    let m = scrape(ops);
    assert_eq!(m.get(series), None);
    assert_eq!(
        m.get("kafka_log_log_logendoffset{topic=\"doomed\",partition=\"0\"}"),
        None
    );
    // The all-topics count keeps what the topic had.
    assert_eq!(
        m.get("kafka_server_brokertopicmetrics_messagesin_total"),
        Some(&3.0)
    );
}

#[test]
fn health_and_ready_answer_and_unknown_paths_are_404() {
    let broker = broker_with_metrics();
    let ops = broker.metrics_addr();
    assert_eq!(get(ops, "/health").0, 200);
    // Broker::start returns once the broker serves: ready.
    let (status, _, body) = get(ops, "/ready");
    assert_eq!((status, body.as_str()), (200, "ready\n"));
    assert_eq!(get(ops, "/nothing-here").0, 404);
}

/// `/ready` answers 503 while a restarted broker recovers its logs (its Kafka port is
/// not open yet) and 200 once it serves; `/health` is 200 throughout.
#[test]
fn ready_is_false_until_startup_recovery_ends() {
    let dir = tempfile::tempdir().expect("data dir");
    let port = common::free_port();
    let ops_port = common::free_port();
    let serving = || {
        let mut c = common::aeon_serving(dir.path(), port);
        c.env("AEON_METRICS_LISTENER", format!("127.0.0.1:{ops_port}"));
        c
    };
    let mut first = common::AeonProcess::spawn(&mut serving());
    // Enough partitions that opening them after a crash takes a visible while.
    common::create_topic_at(&first.addr, "many", 1000);
    first.sigkill();

    let started = std::thread::spawn({
        let mut command = serving();
        move || common::AeonProcess::spawn(&mut command)
    });
    let ops: SocketAddr = format!("127.0.0.1:{ops_port}").parse().expect("addr");
    let mut answers = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        if TcpStream::connect(ops).is_ok() {
            let ready = get(ops, "/ready").0;
            assert_eq!(get(ops, "/health").0, 200, "healthy while starting");
            if answers.last() != Some(&ready) {
                answers.push(ready);
            }
            if ready == 200 {
                break;
            }
            // Not ready: the Kafka listener is not open either.
            assert!(
                TcpStream::connect(("127.0.0.1", port)).is_err() || get(ops, "/ready").0 == 200,
                "the Kafka port accepts before /ready says so"
            );
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never ready: {answers:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert_eq!(
        answers,
        vec![503, 200],
        "not ready while recovering, then ready"
    );
    let second = started.join().expect("the broker started");
    let m = scrape(ops);
    assert_eq!(
        m.get("kafka_server_replicamanager_partitioncount"),
        Some(&1000.0)
    );
    drop(second);
}

/// Commits `offsets` ((partition, offset) of `topic`) for `group` as an admin tool does
/// (no member, generation -1), with OffsetCommit v8.
fn commit(broker: &TestBroker, group: &str, topic: &str, offsets: &[(i32, i64)]) {
    use aeon::protocol::messages::offset_commit_request::*;
    let req = OffsetCommitRequest {
        group_id: group.into(),
        generation_id_or_member_epoch: -1,
        retention_time_ms: -1,
        topics: vec![OffsetCommitRequestTopic {
            name: topic.into(),
            partitions: offsets
                .iter()
                .map(
                    |&(partition_index, committed_offset)| OffsetCommitRequestPartition {
                        partition_index,
                        committed_offset,
                        committed_leader_epoch: -1,
                        ..Default::default()
                    },
                )
                .collect(),
            ..Default::default()
        }],
        ..Default::default()
    };
    let Response::OffsetCommit(r) = raw(&broker.bootstrap(), 8, Request::OffsetCommit(req)) else {
        panic!("not an offset commit response")
    };
    assert!(
        r.topics[0].partitions.iter().all(|p| p.error_code == 0),
        "{r:?}"
    );
}

/// kafka_exporter's lag series: the high watermark minus the group's committed offset,
/// per group and partition; a new commit moves it; a deleted group's series go.
#[test]
fn consumer_lag_is_the_high_watermark_minus_the_committed_offset() {
    let broker = broker_with_metrics();
    let ops = broker.metrics_addr();
    broker.create_topic("lagging", 2);
    let mut s = connect(&broker.bootstrap());
    assert_eq!(
        produce_raw(&mut s, "lagging", None, batch(30, 10)).error_code,
        0
    );
    commit(&broker, "readers", "lagging", &[(0, 10), (1, 0)]);
    let m = scrape(ops);
    let series = |name: &str, p: i32| {
        m.get(&format!(
            "{name}{{consumergroup=\"readers\",topic=\"lagging\",partition=\"{p}\"}}"
        ))
        .copied()
    };
    assert_eq!(series("kafka_consumergroup_current_offset", 0), Some(10.0));
    assert_eq!(series("kafka_consumergroup_lag", 0), Some(20.0));
    assert_eq!(series("kafka_consumergroup_lag", 1), Some(0.0));
    assert_eq!(
        m.get("kafka_topic_partition_current_offset{topic=\"lagging\",partition=\"0\"}"),
        Some(&30.0)
    );

    // The group coordinator's gauges: one classic group, empty, with two offsets.
    let g = "kafka_server_group_coordinator_metrics";
    assert_eq!(
        m.get(&format!("{g}_group_count{{protocol=\"classic\"}}")),
        Some(&1.0)
    );
    assert_eq!(
        m.get(&format!("{g}_group_count{{protocol=\"consumer\"}}")),
        Some(&0.0)
    );
    assert_eq!(
        m.get(&format!("{g}_classic_group_count{{state=\"Empty\"}}")),
        Some(&1.0)
    );
    assert_eq!(
        m.get(&format!("{g}_classic_group_count{{state=\"Stable\"}}")),
        Some(&0.0)
    );
    assert_eq!(m.get(&format!("{g}_offset_count")), Some(&2.0));

    commit(&broker, "readers", "lagging", &[(0, 25)]);
    let m = scrape(ops);
    assert_eq!(
        m.get(
            "kafka_consumergroup_lag{consumergroup=\"readers\",topic=\"lagging\",partition=\"0\"}"
        ),
        Some(&5.0)
    );

    use aeon::protocol::messages::delete_groups_request::DeleteGroupsRequest;
    let Response::DeleteGroups(d) = raw(
        &broker.bootstrap(),
        2,
        Request::DeleteGroups(DeleteGroupsRequest {
            groups_names: vec!["readers".into()],
            ..Default::default()
        }),
    ) else {
        panic!("not a delete groups response")
    };
    assert_eq!(d.results[0].error_code, 0);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while scrape(ops)
        .keys()
        .any(|k| k.contains("consumergroup=\"readers\""))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the deleted group's series stay"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let m = scrape(ops);
    assert_eq!(
        m.get(&format!("{g}_group_count{{protocol=\"classic\"}}")),
        Some(&0.0)
    );
    assert_eq!(m.get(&format!("{g}_offset_count")), Some(&0.0));
}

/// A consumer-protocol group counts under protocol "consumer", in one of its states.
#[test]
fn a_consumer_protocol_group_is_counted_by_state() {
    let broker = broker_with_metrics();
    broker.create_topic("counted", 2);
    common::consumer_group_join(
        &broker.bootstrap(),
        "counters",
        "m1-aaaaaaaaaaaaaaaaaa",
        &["counted"],
    );
    let m = scrape(broker.metrics_addr());
    let g = "kafka_server_group_coordinator_metrics";
    assert_eq!(
        m.get(&format!("{g}_group_count{{protocol=\"consumer\"}}")),
        Some(&1.0)
    );
    let by_state: f64 = ["Empty", "Assigning", "Reconciling", "Stable", "Dead"]
        .iter()
        .map(|s| m[&format!("{g}_consumer_group_count{{state=\"{s}\"}}")])
        .sum();
    assert_eq!(by_state, 1.0);
    assert_eq!(
        m.get(&format!("{g}_consumer_group_count{{state=\"Empty\"}}")),
        Some(&0.0)
    );
}

/// Every query string in `value` (the dashboard's `expr` and templating `query` fields).
fn queries(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("expr" | "query", serde_json::Value::String(q)) => out.push(q.clone()),
                    _ => queries(v, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| queries(v, out)),
        _ => {}
    }
}

/// The shipped Grafana dashboard asks only for series `/metrics` serves.
#[test]
fn every_series_the_dashboard_queries_is_served() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("ops/grafana/aeon-dashboard.json");
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("the dashboard"))
            .expect("JSON");
    let mut found = Vec::new();
    queries(&dashboard, &mut found);
    let names: std::collections::BTreeSet<String> = found
        .iter()
        .flat_map(|q| {
            regex::Regex::new(r"kafka_[a-z_]+")
                .expect("regex")
                .find_iter(q)
                .map(|m| m.as_str().to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(names.len() >= 10, "the dashboard queries {names:?}");

    // Traffic, so that every kind of series exists: a topic, records, a fetch, a group.
    let broker = broker_with_metrics();
    broker.create_topic("charted", 1);
    let mut s = connect(&broker.bootstrap());
    assert_eq!(
        produce_raw(&mut s, "charted", None, batch(5, 10)).error_code,
        0
    );
    commit(&broker, "charting", "charted", &[(0, 2)]);
    let served: std::collections::BTreeSet<String> = scrape(broker.metrics_addr())
        .keys()
        .map(|k| k.split('{').next().unwrap_or(k).to_string())
        .collect();
    let missing: Vec<&String> = names.iter().filter(|n| !served.contains(*n)).collect();
    assert!(missing.is_empty(), "queried but not served: {missing:?}");
}

#[test]
fn transactions_are_counted_by_state_and_open_ones_apart() {
    use rdkafka::producer::{BaseRecord, Producer};
    const T: std::time::Duration = std::time::Duration::from_secs(30);
    let broker = broker_with_metrics();
    broker.create_topic("txn-metered", 1);
    let ops = broker.metrics_addr();
    let t = "kafka_server_transaction_coordinator_metrics";
    let state = |m: &BTreeMap<String, f64>, s: &str| {
        m.get(&format!("{t}_transactional_id_count{{state=\"{s}\"}}"))
            .copied()
    };
    let open = |m: &BTreeMap<String, f64>| m.get(&format!("{t}_open_transaction_count")).copied();
    let m = scrape(ops);
    assert_eq!(open(&m), Some(0.0));
    assert_eq!(state(&m, "Ongoing"), Some(0.0));

    let a = common::transactional_producer(&broker.bootstrap(), "metered-a", &[]);
    let b = common::transactional_producer(&broker.bootstrap(), "metered-b", &[]);
    a.init_transactions(T).expect("init a");
    b.init_transactions(T).expect("init b");
    let m = scrape(ops);
    assert_eq!(state(&m, "Empty"), Some(2.0), "two ids, no transaction yet");
    assert_eq!(open(&m), Some(0.0));

    for p in [&a, &b] {
        p.begin_transaction().expect("begin");
        common::send_all(p, [BaseRecord::<str, str>::to("txn-metered").payload("v")]);
        p.flush(T).expect("the record reaches the log");
    }
    let m = scrape(ops);
    assert_eq!(state(&m, "Ongoing"), Some(2.0));
    assert_eq!(open(&m), Some(2.0), "two transactions open");

    a.commit_transaction(T).expect("commit a");
    b.abort_transaction(T).expect("abort b");
    let m = scrape_when(ops, |m| open(m) == Some(0.0));
    assert_eq!(open(&m), Some(0.0), "both ended");
    assert_eq!(state(&m, "CompleteCommit"), Some(1.0));
    assert_eq!(state(&m, "CompleteAbort"), Some(1.0));
    assert_eq!(state(&m, "Ongoing"), Some(0.0));
}
