//! Hostile clients against a running broker. Each attack runs while a normal rdkafka
//! producer and consumer on other connections keep producing and consuming
//! ([`under_attack`]); after each, the broker still serves, the process's resident
//! memory (the broker runs in this process) stays under [`RSS_CAP_KB`], and the
//! rdkafka client lost nothing: every message acknowledged, consumed once, in order.
//!
//! The tests share one lock: RSS is per process, so they run one at a time.

mod common;

use aeon::protocol::frame::decode_response;
use aeon::protocol::messages::api_versions_request::ApiVersionsRequest;
use aeon::protocol::messages::join_group_request::{JoinGroupRequest, JoinGroupRequestProtocol};
use aeon::protocol::{ApiKey, ErrorCode, Response};
use common::{
    assert_closed_by_broker, call, connect, consume, exchange, produce_all, read_frame,
    request_frame, Steady, TestBroker,
};
use rdkafka::consumer::BaseConsumer;
use rdkafka::producer::{BaseRecord, Producer};
use std::io::Write;
use std::net::TcpStream;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Resident memory of the whole test process (broker, clients, attackers), in KiB.
const RSS_CAP_KB: u64 = 400 * 1024;
const TIMEOUT: Duration = Duration::from_secs(60);

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn exclusive() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// VmRSS of this process, from `/proc/self/status`, in KiB.
fn rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS line")
}

/// Runs `attack` while the steady client works; then checks that the broker still
/// answers a new connection, that resident memory stayed under the cap, and that the
/// steady client kept working during and after the attack and lost nothing.
fn under_attack(broker: &TestBroker, attack: impl FnOnce(&str)) {
    let steady = Steady::start(broker);
    steady.wait_for_progress(5, "before the attack");
    // The steady client's acknowledged messages per second, before and during.
    let rate = |from: (Instant, usize)| {
        let n = steady.acked().saturating_sub(from.1);
        n as f64 / from.0.elapsed().as_secs_f64().max(1e-3)
    };
    let warmup = (Instant::now(), steady.acked());
    std::thread::sleep(Duration::from_millis(500));
    let rate_before = rate(warmup);
    let before = rss_kb();
    let start = (Instant::now(), steady.acked());
    attack(&broker.bootstrap());
    let (rate_during, attack_secs) = (rate(start), start.0.elapsed().as_secs_f64());
    let during = rss_kb();
    steady.wait_for_progress(20, "after the attack");
    assert_broker_answers(broker);
    steady.finish();
    let after = rss_kb();
    eprintln!("RSS: {before} KiB before, {during} KiB after the attack, {after} KiB at the end");
    eprintln!(
        "steady client: {rate_before:.0} msgs/s acknowledged before the attack, {rate_during:.0} during it ({attack_secs:.1} s)"
    );
    for rss in [during, after] {
        assert!(
            rss < RSS_CAP_KB,
            "RSS {rss} KiB over the {RSS_CAP_KB} KiB cap"
        );
    }
}

/// A new connection gets an ApiVersions answer.
fn assert_broker_answers(broker: &TestBroker) {
    let mut s = connect(&broker.bootstrap());
    let (header, body) = exchange(&mut s, 3, 7, ApiVersionsRequest::default().into());
    assert_eq!(header.correlation_id, 7);
    assert!(matches!(body, Response::ApiVersions(r) if r.error_code == 0));
}

/// Writes what it can: a closed or full socket ends the write, which is what a
/// hostile client gets.
fn write_some(s: &mut TcpStream, bytes: &[u8]) {
    let _ = s.write_all(bytes);
}

/// A deterministic pseudo-random byte stream (xorshift64).
fn random_bytes(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A request header (v1: api key, version, correlation id, client id) in bytes.
fn header_v1(api_key: i16, version: i16, correlation_id: i32) -> Vec<u8> {
    let mut h = Vec::new();
    h.extend_from_slice(&api_key.to_be_bytes());
    h.extend_from_slice(&version.to_be_bytes());
    h.extend_from_slice(&correlation_id.to_be_bytes());
    h.extend_from_slice(&4i16.to_be_bytes());
    h.extend_from_slice(b"evil");
    h
}

fn framed(body: &[u8]) -> Vec<u8> {
    let mut f = (body.len() as u32).to_be_bytes().to_vec();
    f.extend_from_slice(body);
    f
}

fn hostile_config(c: &mut aeon::config::Config) {
    c.set("group.initial.rebalance.delay.ms", "0").expect("set");
    c.set("max.connections.per.ip", "5000").expect("set");
}

#[test]
fn random_bytes_close_only_their_own_connections() {
    let _one = exclusive();
    let broker = TestBroker::start_with(hostile_config);
    under_attack(&broker, |addr| {
        for seed in 1..=50u64 {
            let mut s = connect(addr);
            // A first size below the cap, so the broker reads a "frame" of garbage.
            let mut bytes = framed(&random_bytes(seed, 200));
            bytes.extend(random_bytes(seed * 7919, 64 * 1024));
            write_some(&mut s, &bytes);
            assert_closed_by_broker(&mut s, "random bytes");
        }
        for seed in 51..=60u64 {
            // Random from the first byte: usually an oversized size prefix.
            let mut s = connect(addr);
            write_some(&mut s, &random_bytes(seed, 64 * 1024));
            assert_closed_by_broker(&mut s, "random bytes");
        }
    });
}

#[test]
fn a_two_gib_length_prefix_is_refused_without_allocating() {
    let _one = exclusive();
    let broker = TestBroker::start_with(hostile_config);
    under_attack(&broker, |addr| {
        for prefix in [0x8000_0000u32, 0x7fff_ffff, 0xffff_ffff, 0x7000_0000] {
            let mut s = connect(addr);
            write_some(&mut s, &prefix.to_be_bytes());
            write_some(&mut s, &header_v1(3, 1, 1));
            write_some(&mut s, &[0u8; 16 * 1024]);
            assert_closed_by_broker(&mut s, "2 GiB size prefix");
        }
    });
}

#[test]
fn a_frame_cut_off_mid_way_then_silence_is_closed_when_idle() {
    let _one = exclusive();
    let broker = TestBroker::start_with(|c| {
        hostile_config(c);
        c.set("connections.max.idle.ms", "3000").expect("set");
    });
    under_attack(&broker, |addr| {
        let mut sockets: Vec<TcpStream> = (0..50)
            .map(|_| {
                let mut s = connect(addr);
                let body = header_v1(18, 3, 1);
                // Announces 1000 bytes, sends a few, then nothing.
                write_some(&mut s, &1000u32.to_be_bytes());
                write_some(&mut s, &body);
                s
            })
            .collect();
        for s in &mut sockets {
            assert_closed_by_broker(s, "a silent half frame (connections.max.idle.ms)");
        }
    });
}

#[test]
fn huge_array_counts_inside_valid_frames_close_the_connection_without_allocating() {
    let _one = exclusive();
    let broker = TestBroker::start_with(hostile_config);
    under_attack(&broker, |addr| {
        let mut frames = Vec::new();
        // Metadata v1: topics array of i32::MAX entries, none present.
        let mut m = header_v1(3, 1, 1);
        m.extend_from_slice(&i32::MAX.to_be_bytes());
        frames.push(m);
        // Metadata v12 (flexible): compact array count u32::MAX - 1.
        let mut m = header_v1(3, 12, 2);
        m.push(0); // header tagged fields
        m.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
        frames.push(m);
        // Produce v3: topics array of i32::MAX entries.
        let mut p = header_v1(0, 3, 3);
        p.extend_from_slice(&(-1i16).to_be_bytes()); // transactional id: null
        p.extend_from_slice(&1i16.to_be_bytes()); // acks
        p.extend_from_slice(&30_000i32.to_be_bytes()); // timeout
        p.extend_from_slice(&i32::MAX.to_be_bytes());
        frames.push(p);
        // Produce v3 with one topic of one partition whose records claim 2 GiB.
        let mut p = header_v1(0, 3, 4);
        p.extend_from_slice(&(-1i16).to_be_bytes());
        p.extend_from_slice(&1i16.to_be_bytes());
        p.extend_from_slice(&30_000i32.to_be_bytes());
        p.extend_from_slice(&1i32.to_be_bytes());
        p.extend_from_slice(&6i16.to_be_bytes());
        p.extend_from_slice(b"steady");
        p.extend_from_slice(&1i32.to_be_bytes());
        p.extend_from_slice(&0i32.to_be_bytes());
        p.extend_from_slice(&i32::MAX.to_be_bytes());
        frames.push(p);
        // JoinGroup v5: a protocols array of i32::MAX entries.
        let mut j = header_v1(11, 5, 5);
        for s in ["g", "", "consumer"] {
            j.extend_from_slice(&(s.len() as i16).to_be_bytes());
            j.extend_from_slice(s.as_bytes());
            if s == "g" {
                j.extend_from_slice(&6000i32.to_be_bytes());
                j.extend_from_slice(&6000i32.to_be_bytes());
            }
            if s.is_empty() {
                j.extend_from_slice(&(-1i16).to_be_bytes()); // group instance id
            }
        }
        j.extend_from_slice(&i32::MAX.to_be_bytes());
        frames.push(j);
        for f in frames {
            let mut s = connect(addr);
            write_some(&mut s, &framed(&f));
            assert_closed_by_broker(&mut s, "a huge array count");
        }
    });
}

#[test]
fn unknown_api_keys_and_versions_get_an_error_or_a_close() {
    let _one = exclusive();
    let broker = TestBroker::start_with(hostile_config);
    under_attack(&broker, |addr| {
        for (key, version) in [(999i16, 0i16), (-1, 0), (i16::MAX, 3), (3, 99), (0, -1)] {
            let mut s = connect(addr);
            write_some(&mut s, &framed(&header_v1(key, version, 1)));
            assert_closed_by_broker(&mut s, "an unknown API key or version");
        }
        // ApiVersions of a version the broker does not know: UNSUPPORTED_VERSION in v0.
        for version in [99i16, i16::MAX] {
            let mut s = connect(addr);
            write_some(&mut s, &framed(&header_v1(18, version, 42)));
            let (header, body) = decode_response(ApiKey::ApiVersions, 0, read_frame(&mut s))
                .expect("a v0 ApiVersions response");
            assert_eq!(header.correlation_id, 42);
            assert!(
                matches!(body, Response::ApiVersions(r) if r.error_code == ErrorCode::UnsupportedVersion.code())
            );
        }
    });
}

fn api_versions_frames(n: i32) -> Vec<u8> {
    let mut out = Vec::new();
    for correlation_id in 0..n {
        let body = ApiVersionsRequest {
            client_software_name: "hostile".into(),
            client_software_version: "1".into(),
            ..Default::default()
        };
        out.extend_from_slice(&request_frame(3, correlation_id, body.into()));
    }
    out
}

#[test]
fn ten_thousand_pipelined_requests_without_reading_are_held_back_not_buffered() {
    let _one = exclusive();
    let broker = TestBroker::start_with(hostile_config);
    under_attack(&broker, |addr| {
        let frames = api_versions_frames(10_000);
        // Never reads: the broker stops reading at queued.max.requests in flight, so
        // this write stalls once the socket buffers are full.
        let mut s = connect(addr);
        s.set_write_timeout(Some(Duration::from_secs(5)))
            .expect("write timeout");
        let _ = s.write_all(&frames);
        drop(s);
        // The same, read back: every response, in request order.
        let mut s = connect(addr);
        let mut writer = s.try_clone().expect("clone");
        let w = std::thread::spawn(move || writer.write_all(&frames).expect("write all"));
        for correlation_id in 0..10_000 {
            let (header, _) = decode_response(ApiKey::ApiVersions, 3, read_frame(&mut s))
                .expect("ApiVersions response");
            assert_eq!(header.correlation_id, correlation_id, "in request order");
        }
        w.join().expect("writer");
    });
}

#[test]
fn two_thousand_idle_connections_do_not_disturb_a_working_client() {
    let _one = exclusive();
    let broker = TestBroker::start_with(hostile_config);
    under_attack(&broker, |addr| {
        let mut idle: Vec<TcpStream> = (0..2000).map(|_| connect(addr)).collect();
        // All of them were admitted and are served: the last and the first answer.
        for i in [0, 999, 1999] {
            let (header, _) = exchange(
                &mut idle[i],
                3,
                i as i32,
                ApiVersionsRequest::default().into(),
            );
            assert_eq!(header.correlation_id, i as i32);
        }
        std::thread::sleep(Duration::from_secs(2));
    });
}

/// The subscription a consumer sends in JoinGroup (ConsumerProtocolSubscription v0).
fn subscription(topic: &str) -> Vec<u8> {
    let mut m = 0i16.to_be_bytes().to_vec();
    m.extend_from_slice(&1i32.to_be_bytes());
    m.extend_from_slice(&(topic.len() as i16).to_be_bytes());
    m.extend_from_slice(topic.as_bytes());
    m.extend_from_slice(&(-1i32).to_be_bytes());
    m
}

#[test]
fn a_group_member_that_joins_and_never_heartbeats_is_evicted_and_the_group_moves_on() {
    let _one = exclusive();
    let broker = TestBroker::start_with(hostile_config);
    broker.create_topic("grouped", 2);
    let producer = broker.producer(&[]);
    produce_all(
        &producer,
        (0..100).map(|i| {
            BaseRecord::<[u8], [u8]>::to("grouped")
                .partition(i % 2)
                .payload(b"for the group")
        }),
    );
    under_attack(&broker, |addr| {
        let mut s = connect(addr);
        let join = |member_id: &str| JoinGroupRequest {
            group_id: "hostile-group".into(),
            session_timeout_ms: 6000,
            rebalance_timeout_ms: 6000,
            member_id: member_id.into(),
            protocol_type: "consumer".into(),
            protocols: vec![JoinGroupRequestProtocol {
                name: "range".into(),
                metadata: subscription("grouped").into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let Response::JoinGroup(first) = call(&mut s, 5, 1, join("").into()) else {
            panic!("not a JoinGroup response")
        };
        let member_id = if first.error_code == ErrorCode::MemberIdRequired.code() {
            let Response::JoinGroup(second) = call(&mut s, 5, 2, join(&first.member_id).into())
            else {
                panic!("not a JoinGroup response")
            };
            assert_eq!(second.error_code, 0, "joined");
            second.member_id
        } else {
            assert_eq!(first.error_code, 0, "joined");
            first.member_id
        };
        assert!(!member_id.is_empty());
        // Now silence: no SyncGroup, no heartbeat, the socket left open. A real
        // consumer of the same group must get every partition once the silent member's
        // session runs out.
        let consumer = common::group_consumer(&broker, "hostile-group", &["grouped"], &[]);
        let got = consume(&consumer, 100, Duration::from_secs(90));
        assert_eq!(
            got.len(),
            100,
            "the group moved on without the silent member"
        );
        drop(s);
    });
}

/// Produces `batch` to partition 0 of `topic` over a new connection; the error code.
fn produce_raw(addr: &str, topic: &str, transactional_id: Option<&str>, batch: Vec<u8>) -> i16 {
    common::produce_raw(&mut connect(addr), topic, transactional_id, batch).error_code
}

/// The log end offset of partition 0 of `topic`.
fn log_end(broker: &TestBroker, topic: &str) -> i64 {
    use rdkafka::consumer::Consumer;
    let consumer: BaseConsumer = broker.client_config().create().expect("consumer");
    consumer
        .fetch_watermarks(topic, 0, Duration::from_secs(10))
        .expect("watermarks")
        .1
}

#[test]
fn control_batches_from_clients_are_refused() {
    use aeon::protocol::records::control::{marker_batch, ControlMarker};
    let _one = exclusive();
    let broker = TestBroker::start_with(hostile_config);
    broker.create_topic("victim", 1);
    under_attack(&broker, |addr| {
        for (commit, producer_id) in [(false, 0), (true, 0), (false, 4000)] {
            let marker = ControlMarker {
                commit,
                coordinator_epoch: 0,
            };
            for topic in ["victim", "steady"] {
                let code = produce_raw(addr, topic, None, marker_batch(producer_id, 0, marker, 1));
                assert_eq!(code, ErrorCode::InvalidRecord.code(), "a forged marker");
            }
        }
    });
    assert_eq!(
        log_end(&broker, "victim"),
        0,
        "nothing of the markers was written"
    );
}

#[test]
fn an_offset_commit_naming_150_000_unknown_partitions_is_answered_in_one_pass() {
    use aeon::protocol::messages::offset_commit_request::{
        OffsetCommitRequest, OffsetCommitRequestPartition, OffsetCommitRequestTopic,
    };
    let _one = exclusive();
    let broker = TestBroker::start_with(hostile_config);
    under_attack(&broker, |addr| {
        const PARTITIONS: i32 = 150_000;
        let req = OffsetCommitRequest {
            group_id: "nobody".into(),
            generation_id_or_member_epoch: -1,
            retention_time_ms: -1,
            topics: vec![OffsetCommitRequestTopic {
                name: "no-such-topic".into(),
                partitions: (0..PARTITIONS)
                    .map(|partition_index| OffsetCommitRequestPartition {
                        partition_index,
                        committed_offset: 1,
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        };
        // The read timeout (30 s) bounds the answer: a scan of the unknown partitions
        // per partition took 52 s here.
        let Response::OffsetCommit(r) = call(&mut connect(addr), 2, 1, req.into()) else {
            panic!("not an OffsetCommit response")
        };
        let partitions = &r.topics[0].partitions;
        assert_eq!(partitions.len(), PARTITIONS as usize);
        assert!(partitions
            .iter()
            .all(|p| p.error_code == ErrorCode::UnknownTopicOrPartition.code()));
    });
}

#[test]
fn internal_topics_cannot_be_deleted_created_or_written_by_clients() {
    use rdkafka::admin::{AdminOptions, NewTopic, TopicReplication};
    use rdkafka::types::RDKafkaErrorCode;
    let _one = exclusive();
    let broker = TestBroker::start_with(hostile_config);
    // A commit creates __consumer_offsets; __transaction_state does not exist yet.
    broker.create_topic("committed", 1);
    let mut config = broker.client_config();
    config.set("group.id", "committer");
    let consumer: BaseConsumer = config.create().expect("consumer");
    let mut tpl = rdkafka::TopicPartitionList::new();
    tpl.add_partition_offset("committed", 0, rdkafka::Offset::Offset(0))
        .expect("tpl");
    rdkafka::consumer::Consumer::commit(&consumer, &tpl, rdkafka::consumer::CommitMode::Sync)
        .expect("commit");
    under_attack(&broker, |addr| {
        let admin = broker.admin();
        let options = AdminOptions::new();
        let deleted =
            futures::executor::block_on(admin.delete_topics(&["__consumer_offsets"], &options))
                .expect("delete answered");
        assert!(
            matches!(deleted[0], Err((_, RDKafkaErrorCode::InvalidTopic))),
            "{deleted:?}"
        );
        let created = futures::executor::block_on(
            admin.create_topics(
                &[
                    NewTopic::new("__transaction_state", 1, TopicReplication::Fixed(1))
                        .set("cleanup.policy", "delete"),
                ],
                &options,
            ),
        )
        .expect("create answered");
        assert!(
            matches!(created[0], Err((_, RDKafkaErrorCode::InvalidTopic))),
            "{created:?}"
        );
        let batch = aeon::protocol::records::RecordBatchBuilder::new(0, 1)
            .record(aeon::protocol::records::RecordSpec::new(
                Some(b"k"),
                Some(b"v"),
            ))
            .build();
        let code = produce_raw(addr, "__consumer_offsets", None, batch);
        assert_eq!(code, ErrorCode::InvalidTopicException.code(), "produce");
    });
    // The group's offsets are still there.
    let committed =
        rdkafka::consumer::Consumer::committed_offsets(&consumer, tpl, Duration::from_secs(10))
            .expect("committed");
    assert_eq!(committed.elements()[0].offset(), rdkafka::Offset::Offset(0));
}

#[test]
fn transactional_batches_of_a_transaction_that_never_added_the_partition_are_refused() {
    use aeon::protocol::records::{RecordBatchBuilder, RecordSpec};
    let _one = exclusive();
    let broker = TestBroker::start_with(hostile_config);
    broker.create_topic("victim", 1);
    // A real transactional producer, whose transaction does include the partition.
    let honest =
        common::transactional_producer(&broker.bootstrap(), "honest", &[("linger.ms", "0")]);
    honest
        .init_transactions(Duration::from_secs(30))
        .expect("init");
    honest.begin_transaction().expect("begin");
    let forged = |producer_id: i64, sequence: i32| {
        RecordBatchBuilder::new(0, 1)
            .producer(producer_id, 0, sequence)
            .transactional(true)
            .record(RecordSpec::new(Some(b"k"), Some(b"forged")))
            .build()
    };
    under_attack(&broker, |addr| {
        // A made-up producer id, with and without a transactional id, and the honest
        // producer's own id before its transaction added the partition.
        for (i, (transactional_id, producer_id)) in [
            (None, 4000),
            (Some("honest"), 4000),
            (Some("made-up"), 4001),
            (None, 0),
            (Some("honest"), 0),
        ]
        .into_iter()
        .enumerate()
        {
            for topic in ["victim", "steady"] {
                let code =
                    produce_raw(addr, topic, transactional_id, forged(producer_id, i as i32));
                assert_eq!(
                    code,
                    ErrorCode::InvalidTxnState.code(),
                    "forged {i} to {topic}"
                );
            }
        }
    });
    assert_eq!(log_end(&broker, "victim"), 0, "nothing forged was written");
    // The honest transaction still writes and commits, and a read_committed consumer
    // reads it: nothing left a transaction open.
    honest
        .send(BaseRecord::<[u8], [u8]>::to("victim").payload(b"honest".as_slice()))
        .expect("send");
    honest
        .commit_transaction(Duration::from_secs(30))
        .expect("commit");
    let reader = common::assigned_consumer(
        broker
            .client_config()
            .set("group.id", "reader")
            .set("isolation.level", "read_committed"),
        "victim",
        1,
    );
    let got = consume(&reader, 1, TIMEOUT);
    assert_eq!(got.len(), 1);
}

#[test]
fn many_connections_sending_large_frames_slowly_hold_no_more_than_the_request_memory() {
    let _one = exclusive();
    let broker = TestBroker::start_with(|c| {
        hostile_config(c);
        c.set("socket.request.max.bytes", "52428800").expect("set");
        c.set("queued.max.request.bytes", "67108864").expect("set");
    });
    under_attack(&broker, |addr| {
        const CONNECTIONS: usize = 300;
        const SENT_EACH: usize = 2 << 20;
        let before = rss_kb();
        let mut socks: Vec<(TcpStream, usize)> = (0..CONNECTIONS)
            .map(|_| {
                let mut s = connect(addr);
                // Each announces a 40 MiB request, then sends its bytes slowly.
                s.write_all(&(40u32 << 20).to_be_bytes()).expect("prefix");
                s.set_nonblocking(true).expect("nonblocking");
                (s, 0)
            })
            .collect();
        let chunk = vec![0x5a_u8; 64 * 1024];
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            for (s, sent) in socks.iter_mut().filter(|(_, sent)| *sent < SENT_EACH) {
                if let Ok(n) = s.write(&chunk) {
                    *sent += n;
                }
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let sent: usize = socks.iter().map(|(_, n)| n).sum();
        let grown = rss_kb().saturating_sub(before);
        eprintln!(
            "{CONNECTIONS} connections sent {} MiB; RSS grew by {grown} KiB",
            sent >> 20
        );
        // The memory for requests (64 MiB) holds what the broker read of them: the rest
        // waits in the sockets. Without it every connection's bytes were read.
        assert!(grown < 100 * 1024, "RSS grew by {grown} KiB");
        // Meanwhile an ordinary request is read and answered, from the reserve for
        // small requests.
        assert_broker_answers(&broker);
        drop(socks);
    });
}

#[test]
fn a_metadata_flood_of_new_topic_names_stops_at_max_broker_partitions() {
    use aeon::protocol::messages::metadata_request::{MetadataRequest, MetadataRequestTopic};
    let _one = exclusive();
    let broker = TestBroker::start_with(|c| {
        hostile_config(c);
        c.set("max.broker.partitions", "300").expect("set");
    });
    let mut refused = 0;
    let mut created = 0;
    under_attack(&broker, |addr| {
        let mut s = connect(addr);
        for round in 0..20 {
            let req = MetadataRequest {
                topics: Some(
                    (0..100)
                        .map(|i| MetadataRequestTopic {
                            name: Some(format!("flood-{round}-{i}")),
                            ..Default::default()
                        })
                        .collect(),
                ),
                allow_auto_topic_creation: true,
                ..Default::default()
            };
            let Response::Metadata(r) = call(&mut s, 9, round, req.into()) else {
                panic!("not a metadata response")
            };
            for t in &r.topics {
                match ErrorCode::from_code(t.error_code) {
                    Some(ErrorCode::None) => created += 1,
                    Some(ErrorCode::PolicyViolation) => refused += 1,
                    other => panic!("unexpected {other:?} for {:?}", t.name),
                }
            }
        }
    });
    eprintln!("{created} topics created, {refused} refused");
    // 300 partitions in all: the steady topic has one.
    assert_eq!(created, 299);
    assert_eq!(refused, 2000 - 299);
}

/// The groups the broker lists (ListGroups v4).
fn listed_groups(s: &mut TcpStream, correlation_id: i32) -> usize {
    use aeon::protocol::messages::list_groups_request::ListGroupsRequest;
    let Response::ListGroups(r) = call(s, 4, correlation_id, ListGroupsRequest::default().into())
    else {
        panic!("not a ListGroups response")
    };
    assert_eq!(r.error_code, 0);
    r.groups.len()
}

#[test]
fn a_join_group_flood_of_new_group_ids_leaves_no_group_behind() {
    let _one = exclusive();
    let broker = TestBroker::start_with(|c| {
        hostile_config(c);
        c.set("group.min.session.timeout.ms", "1000").expect("set");
        c.set("offsets.retention.check.interval.ms", "2000")
            .expect("set");
    });
    const GROUPS: i32 = 3000;
    let mut peak = 0;
    under_attack(&broker, |addr| {
        let mut s = connect(addr);
        // Each JoinGroup v5 without a member id makes a group with one pending member
        // (MEMBER_ID_REQUIRED), who never comes back.
        for i in 0..GROUPS {
            let join = JoinGroupRequest {
                group_id: format!("flood-{i}"),
                session_timeout_ms: 1000,
                rebalance_timeout_ms: 1000,
                protocol_type: "consumer".into(),
                protocols: vec![JoinGroupRequestProtocol {
                    name: "range".into(),
                    metadata: subscription("flood").into(),
                    ..Default::default()
                }],
                ..Default::default()
            };
            let Response::JoinGroup(r) = call(&mut s, 5, i, join.into()) else {
                panic!("not a JoinGroup response")
            };
            assert_eq!(r.error_code, ErrorCode::MemberIdRequired.code());
            // Groups live about a second and a half after their join: how many are
            // alive at once depends on the machine's speed, so the peak is sampled.
            if i % 250 == 249 {
                peak = peak.max(listed_groups(&mut s, GROUPS + i));
            }
        }
        peak = peak.max(listed_groups(&mut s, 2 * GROUPS));
        // Pending members expire after 1 s, empty groups without offsets go 2 s later.
        let deadline = Instant::now() + Duration::from_secs(30);
        while listed_groups(&mut s, 2 * GROUPS + 1) > 0 {
            assert!(Instant::now() < deadline, "empty groups were never removed");
            std::thread::sleep(Duration::from_millis(250));
        }
    });
    eprintln!("at most {peak} groups listed during the flood, none 30 s later");
    // At least the joins of one sample's stretch were alive together.
    assert!(peak >= 250, "{peak} groups listed");
    // A removed group's id works again.
    let consumer = common::group_consumer(&broker, "flood-7", &["steady"], &[]);
    drop(consumer);
}
