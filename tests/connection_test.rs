//! The connection layer with raw sockets: pipelined requests answered in order,
//! ApiVersions of an unknown version, unknown APIs, idle connections.

mod common;

use aeon::protocol::frame::decode_response;
use aeon::protocol::messages::api_versions_request::ApiVersionsRequest;
use aeon::protocol::messages::metadata_request::MetadataRequest;
use aeon::protocol::{ApiKey, ErrorCode, Response};
use common::{
    assert_closed_by_broker, connect, exchange, fetch_request, read_frame, write_request,
    TestBroker,
};
use std::io::Write;
use std::time::Duration;

#[test]
fn pipelined_requests_are_answered_in_request_order() {
    let broker = TestBroker::start();
    broker.create_topic("quiet", 1);
    let mut s = connect(&broker.bootstrap());
    // A fetch that waits (nothing to read), then quick requests behind it.
    write_request(&mut s, 11, 1, fetch_request("quiet", 0, 300, 1).into());
    write_request(&mut s, 3, 2, ApiVersionsRequest::default().into());
    write_request(
        &mut s,
        9,
        3,
        MetadataRequest {
            topics: None,
            ..Default::default()
        }
        .into(),
    );
    let expect = [
        (1, ApiKey::Fetch, 11),
        (2, ApiKey::ApiVersions, 3),
        (3, ApiKey::Metadata, 9),
    ];
    for (correlation_id, api, version) in expect {
        let (header, body) =
            decode_response(api, version, read_frame(&mut s)).expect("response decodes");
        assert_eq!(
            header.correlation_id, correlation_id,
            "responses leave in request order"
        );
        assert_eq!(body.api_key(), api);
    }
}

#[test]
fn api_versions_of_an_unknown_version_gets_a_v0_unsupported_version_answer() {
    let broker = TestBroker::start();
    let mut s = connect(&broker.bootstrap());
    // ApiVersions v99: header v2 framing, which the broker cannot know; it answers v0.
    s.write_all(&[0, 0, 0, 10, 0, 18, 0, 99, 0, 0, 0, 7, 0xff, 0xff])
        .expect("write");
    let (header, body) =
        decode_response(ApiKey::ApiVersions, 0, read_frame(&mut s)).expect("v0 response");
    assert_eq!(header.correlation_id, 7);
    let Response::ApiVersions(v) = body else {
        panic!("not ApiVersions")
    };
    assert_eq!(v.error_code, ErrorCode::UnsupportedVersion.code());
    let produce = v
        .api_keys
        .iter()
        .find(|k| k.api_key == 0)
        .expect("Produce listed");
    assert_eq!(
        (produce.min_version, produce.max_version),
        (0, ApiKey::Produce.versions().max)
    );
    // The connection stays usable.
    let (header, _) = exchange(&mut s, 3, 8, ApiVersionsRequest::default().into());
    assert_eq!(header.correlation_id, 8);
}

#[test]
fn an_unknown_api_key_or_version_closes_the_connection() {
    let broker = TestBroker::start();
    let mut s = connect(&broker.bootstrap());
    s.write_all(&[0, 0, 0, 10, 0x03, 0xe7, 0, 0, 0, 0, 0, 1, 0xff, 0xff])
        .expect("write");
    assert_closed_by_broker(&mut s, "unknown API key");
    let mut s = connect(&broker.bootstrap());
    // Metadata v99.
    s.write_all(&[0, 0, 0, 10, 0, 3, 0, 99, 0, 0, 0, 1, 0xff, 0xff])
        .expect("write");
    assert_closed_by_broker(&mut s, "unsupported Metadata version");
}

#[test]
fn idle_connections_are_closed_after_connections_max_idle_ms() {
    let broker = TestBroker::start_with(|c| c.set("connections.max.idle.ms", "300").expect("set"));
    let mut s = connect(&broker.bootstrap());
    write_request(&mut s, 3, 1, ApiVersionsRequest::default().into());
    read_frame(&mut s);
    assert_closed_by_broker(&mut s, "an idle connection is closed");
}

/// Every handled API answers a request at every version it advertises (here a request
/// with schema defaults): responses never carry a field their version lacks.
#[test]
fn every_handled_api_answers_at_every_advertised_version() {
    use aeon::protocol::Request;
    let broker =
        TestBroker::start_with(|c| c.set("group.initial.rebalance.delay.ms", "0").expect("set"));
    broker.create_topic("versions", 1);
    let mut correlation_id = 0;
    for &api in aeon::handlers::HANDLED {
        // Advertised and decoded (Produce is advertised from v0 but decoded from v3).
        let (decoded, advertised) = (api.versions(), api.advertised_versions());
        for version in decoded.min.max(advertised.min)..=decoded.max.min(advertised.max) {
            let mut body = Request::default_for(api);
            if let Request::Produce(p) = &mut body {
                p.acks = 1;
            }
            if let Request::JoinGroup(j) = &mut body {
                // A known group so the join gets past validation; MEMBER_ID_REQUIRED or
                // INCONSISTENT_GROUP_PROTOCOL answers are fine here.
                j.group_id = format!("g{version}");
                j.session_timeout_ms = 10_000;
                j.protocol_type = "consumer".into();
            }
            correlation_id += 1;
            let (header, response) = exchange(
                &mut connect(&broker.bootstrap()),
                version,
                correlation_id,
                body,
            );
            assert_eq!(header.correlation_id, correlation_id, "{api:?} v{version}");
            assert_eq!(response.api_key(), api);
        }
    }
}

/// Kafka answers a fetch with `min_bytes` 0 at once, data or not; only `min_bytes` >= 1
/// waits for data up to `max_wait_ms`.
#[test]
fn a_fetch_with_min_bytes_zero_is_answered_without_waiting() {
    let broker = TestBroker::start();
    broker.create_topic("empty", 1);
    let mut s = connect(&broker.bootstrap());
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    // A max_wait_ms far longer than the read timeout: a broker that waited would fail
    // the read.
    let fetch = fetch_request("empty", 0, 120_000, 0);
    let (header, _) = exchange(&mut s, 11, 5, fetch.into());
    assert_eq!(header.correlation_id, 5);
}

/// A fetch naming many partitions, none with anything new, waits; an append to any one
/// of them answers it with that partition's batch, long before `max_wait_ms`. A
/// partition asked past its end answers OFFSET_OUT_OF_RANGE at once, even among idle
/// ones.
#[test]
fn a_wide_fetch_waits_and_is_answered_by_an_append_to_any_of_its_partitions() {
    use aeon::protocol::records::{RecordBatchBuilder, RecordSpec};
    use common::{call, produce_request};
    const PARTITIONS: i32 = 200;
    let broker = TestBroker::start();
    broker.create_topic("wide", PARTITIONS);
    let wide = |max_wait_ms: i32, past_end: Option<i32>| {
        let mut fetch = fetch_request("wide", 0, max_wait_ms, 1);
        let template = fetch.topics[0].partitions[0].clone();
        fetch.topics[0].partitions = (0..PARTITIONS)
            .map(|partition| {
                let mut p = template.clone();
                p.partition = partition;
                if past_end == Some(partition) {
                    p.fetch_offset = 10;
                }
                p
            })
            .collect();
        fetch
    };

    let mut s = connect(&broker.bootstrap());
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    // Far longer than the read timeout: only the append can answer it in time.
    write_request(&mut s, 11, 1, wide(120_000, None).into());
    std::thread::sleep(Duration::from_millis(300));
    let batch = RecordBatchBuilder::new(0, 1)
        .record(RecordSpec::new(Some(b"k"), Some(b"v")))
        .record(RecordSpec::new(Some(b"k2"), Some(b"v2")).offset_delta(1))
        .build();
    let mut producer = connect(&broker.bootstrap());
    let Response::Produce(p) = call(
        &mut producer,
        9,
        1,
        produce_request("wide", 137, None, 1, batch).into(),
    ) else {
        panic!("not a produce response")
    };
    assert_eq!(p.responses[0].partition_responses[0].error_code, 0);
    let (header, response) =
        decode_response(ApiKey::Fetch, 11, read_frame(&mut s)).expect("the fetch response decodes");
    assert_eq!(header.correlation_id, 1);
    let Response::Fetch(f) = response else {
        panic!("not a fetch response")
    };
    let partitions = &f.responses[0].partitions;
    assert_eq!(partitions.len(), PARTITIONS as usize);
    for p in partitions {
        let records = p.records.as_ref().map_or(0, |r| r.len());
        assert_eq!(p.error_code, 0, "partition {}", p.partition_index);
        if p.partition_index == 137 {
            assert!(records > 0, "the appended batch is returned");
            assert_eq!(p.high_watermark, 2);
        } else {
            assert_eq!(records, 0, "partition {}", p.partition_index);
            assert_eq!(p.high_watermark, 0);
        }
    }

    // An offset past the end is an error to answer now, not a reason to wait.
    let (header, response) = exchange(&mut s, 11, 2, wide(120_000, Some(42)).into());
    assert_eq!(header.correlation_id, 2);
    let Response::Fetch(f) = response else {
        panic!("not a fetch response")
    };
    let code = |i: i32| {
        f.responses[0]
            .partitions
            .iter()
            .find(|p| p.partition_index == i)
            .map(|p| p.error_code)
    };
    assert_eq!(code(42), Some(ErrorCode::OffsetOutOfRange.code()));
    assert_eq!(code(41), Some(0));
}
