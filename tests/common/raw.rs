//! Raw protocol access for tests that go below the client: request frames written and
//! response frames read over a plain socket.

/// Writes one request frame.
pub fn write_request(
    s: &mut std::net::TcpStream,
    version: i16,
    correlation_id: i32,
    body: aeon::protocol::Request,
) {
    use std::io::Write;
    let header = aeon::protocol::messages::RequestHeader {
        request_api_key: body.api_key().code(),
        request_api_version: version,
        correlation_id,
        client_id: Some("raw-test".into()),
        ..Default::default()
    };
    let frame = aeon::protocol::frame::encode_request(&header, &body).expect("encode");
    s.write_all(&frame).expect("write");
}

/// Reads one response frame's bytes (after the size).
pub fn read_frame(s: &mut std::net::TcpStream) -> bytes::Bytes {
    use std::io::Read;
    let mut len = [0u8; 4];
    s.read_exact(&mut len).expect("frame size");
    let mut buf = vec![0u8; i32::from_be_bytes(len) as usize];
    s.read_exact(&mut buf).expect("frame");
    buf.into()
}

/// A ProduceRequest of one batch to one partition (raw protocol tests).
pub fn produce_request(
    topic: &str,
    partition: i32,
    transactional_id: Option<&str>,
    acks: i16,
    batch: Vec<u8>,
) -> aeon::protocol::messages::produce_request::ProduceRequest {
    use aeon::protocol::messages::produce_request::{
        PartitionProduceData, ProduceRequest, TopicProduceData,
    };
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
    s: &mut std::net::TcpStream,
    topic: &str,
    transactional_id: Option<&str>,
    batch: Vec<u8>,
) -> aeon::protocol::messages::produce_response::PartitionProduceResponse {
    use aeon::protocol::{ApiKey, Response};
    let req = produce_request(topic, 0, transactional_id, -1, batch);
    write_request(s, 9, 1, req.into());
    let (_, body) = aeon::protocol::frame::decode_response(ApiKey::Produce, 9, read_frame(s))
        .expect("produce response");
    let Response::Produce(r) = body else {
        panic!("not a produce response")
    };
    r.responses[0].partition_responses[0].clone()
}
