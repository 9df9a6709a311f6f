//! Raw protocol access for tests that go below the client: request frames written and
//! response frames read over a plain socket.

use aeon::protocol::frame::{decode_response, encode_request};
use aeon::protocol::messages::fetch_request::{FetchPartition, FetchRequest, FetchTopic};
use aeon::protocol::messages::produce_request::{
    PartitionProduceData, ProduceRequest, TopicProduceData,
};
use aeon::protocol::messages::produce_response::PartitionProduceResponse;
use aeon::protocol::messages::{RequestHeader, ResponseHeader};
use aeon::protocol::{Request, Response};
use bytes::{Bytes, BytesMut};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// How long a raw connection waits for a read or a write before the test fails.
pub const SOCKET_TIMEOUT: Duration = Duration::from_secs(30);

/// A connection to `addr` whose reads and writes fail after [`SOCKET_TIMEOUT`].
pub fn connect(addr: &str) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(SOCKET_TIMEOUT))
        .expect("read timeout");
    s.set_write_timeout(Some(SOCKET_TIMEOUT))
        .expect("write timeout");
    s
}

/// One request frame (size, header, body), as a client sends it.
pub fn request_frame(version: i16, correlation_id: i32, body: Request) -> BytesMut {
    let header = RequestHeader {
        request_api_key: body.api_key().code(),
        request_api_version: version,
        correlation_id,
        client_id: Some("raw-test".into()),
        ..Default::default()
    };
    encode_request(&header, &body).expect("encode")
}

/// Writes one request frame.
pub fn write_request(
    s: &mut (impl Read + Write),
    version: i16,
    correlation_id: i32,
    body: Request,
) {
    s.write_all(&request_frame(version, correlation_id, body))
        .expect("write");
}

/// Reads one response frame's bytes (after the size), or the error that ended the read.
pub fn try_read_frame(s: &mut (impl Read + Write)) -> std::io::Result<Bytes> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len)?;
    let mut buf = vec![0u8; i32::from_be_bytes(len).max(0) as usize];
    s.read_exact(&mut buf)?;
    Ok(buf.into())
}

/// Reads one response frame's bytes (after the size).
pub fn read_frame(s: &mut (impl Read + Write)) -> Bytes {
    try_read_frame(s).expect("response frame")
}

/// Sends one request and reads its response: the response header and body.
pub fn exchange(
    s: &mut (impl Read + Write),
    version: i16,
    correlation_id: i32,
    body: Request,
) -> (ResponseHeader, Response) {
    let api = body.api_key();
    write_request(s, version, correlation_id, body);
    decode_response(api, version, read_frame(s))
        .unwrap_or_else(|e| panic!("{api:?} v{version}: the response does not decode: {e}"))
}

/// Sends one request and reads its response's body.
pub fn call(
    s: &mut (impl Read + Write),
    version: i16,
    correlation_id: i32,
    body: Request,
) -> Response {
    exchange(s, version, correlation_id, body).1
}

/// One request over a fresh connection, as an operator's tool sends it.
pub fn raw(addr: &str, version: i16, body: Request) -> Response {
    call(&mut connect(addr), version, 1, body)
}

/// Reads until the broker closes the connection (EOF or reset); panics if it stays
/// open past the read timeout.
pub fn assert_closed_by_broker(s: &mut (impl Read + Write), what: &str) {
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
                ) =>
            {
                return
            }
            Err(e) => panic!("{what}: the broker kept the connection open ({e})"),
        }
    }
}

/// A FetchRequest, as a consumer sends it, of partition `partition` of `topic` from
/// offset 0, up to 1 MiB.
pub fn fetch_request(
    topic: &str,
    partition: i32,
    max_wait_ms: i32,
    min_bytes: i32,
) -> FetchRequest {
    FetchRequest {
        replica_id: -1,
        max_wait_ms,
        min_bytes,
        max_bytes: 1 << 20,
        topics: vec![FetchTopic {
            topic: topic.into(),
            partitions: vec![FetchPartition {
                partition,
                fetch_offset: 0,
                partition_max_bytes: 1 << 20,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// A ProduceRequest of one batch to one partition (raw protocol tests).
pub fn produce_request(
    topic: &str,
    partition: i32,
    transactional_id: Option<&str>,
    acks: i16,
    batch: Vec<u8>,
) -> ProduceRequest {
    ProduceRequest {
        transactional_id: transactional_id.map(Into::into),
        acks,
        timeout_ms: 30_000,
        topic_data: vec![TopicProduceData {
            name: topic.into(),
            partition_data: vec![PartitionProduceData {
                index: partition,
                records: Some(batch.into()),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// Sends one batch to one partition (acks=all, Produce v9) and reads the partition's
/// answer.
pub fn produce_raw(
    s: &mut (impl Read + Write),
    topic: &str,
    transactional_id: Option<&str>,
    batch: Vec<u8>,
) -> PartitionProduceResponse {
    let req = produce_request(topic, 0, transactional_id, -1, batch);
    let Response::Produce(r) = call(s, 9, 1, req.into()) else {
        panic!("not a produce response")
    };
    r.responses[0].partition_responses[0].clone()
}

/// A member joining `group` with the consumer protocol (ConsumerGroupHeartbeat v1,
/// epoch 0, subscribed to `topics`); panics unless the coordinator accepts it.
pub fn consumer_group_join(
    addr: &str,
    group: &str,
    member_id: &str,
    topics: &[&str],
) -> aeon::protocol::messages::consumer_group_heartbeat_response::ConsumerGroupHeartbeatResponse {
    use aeon::protocol::messages::consumer_group_heartbeat_request::ConsumerGroupHeartbeatRequest;
    let join = ConsumerGroupHeartbeatRequest {
        group_id: group.into(),
        member_id: member_id.into(),
        member_epoch: 0,
        rebalance_timeout_ms: 30_000,
        subscribed_topic_names: Some(topics.iter().map(|t| t.to_string()).collect()),
        topic_partitions: Some(vec![]),
        ..Default::default()
    };
    let Response::ConsumerGroupHeartbeat(r) = raw(addr, 1, Request::ConsumerGroupHeartbeat(join))
    else {
        panic!("not a heartbeat response")
    };
    assert_eq!(r.error_code, 0, "{r:?}");
    r
}

/// Logs in with SASL PLAIN (SaslHandshake v1, then SaslAuthenticate v2); the
/// SaslAuthenticate error code.
pub fn sasl_plain(s: &mut (impl Read + Write), user: &str, password: &str) -> i16 {
    use aeon::protocol::messages::sasl_authenticate_request::SaslAuthenticateRequest;
    use aeon::protocol::messages::sasl_handshake_request::SaslHandshakeRequest;
    let Response::SaslHandshake(h) = call(
        s,
        1,
        1,
        Request::SaslHandshake(SaslHandshakeRequest {
            mechanism: "PLAIN".into(),
        }),
    ) else {
        panic!("not a SaslHandshake response")
    };
    assert_eq!(h.error_code, 0, "PLAIN is enabled");
    let Response::SaslAuthenticate(a) = call(
        s,
        2,
        2,
        Request::SaslAuthenticate(SaslAuthenticateRequest {
            auth_bytes: format!("\0{user}\0{password}").into_bytes().into(),
            ..Default::default()
        }),
    ) else {
        panic!("not a SaslAuthenticate response")
    };
    a.error_code
}

/// Creates ACLs with CreateAcls v3 at `addr` (as its super user); each must succeed.
pub fn grant_acls(
    addr: &str,
    creations: Vec<aeon::protocol::messages::create_acls_request::AclCreation>,
) {
    use aeon::protocol::messages::create_acls_request::CreateAclsRequest;
    let Response::CreateAcls(r) = raw(
        addr,
        3,
        Request::CreateAcls(CreateAclsRequest {
            creations,
            ..Default::default()
        }),
    ) else {
        panic!("not a CreateAcls response")
    };
    assert!(r.results.iter().all(|r| r.error_code == 0), "{r:?}");
}
