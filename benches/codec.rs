//! Codec throughput: decoding a Produce request that carries 1 MiB of records (the
//! records stay a slice of the frame, so this measures the header walk), and encoding a
//! Fetch response with 1 MiB of records into one buffer sized once.

use aeon::protocol::frame::{
    decode_request, encode_request, encode_response, encode_response_chunks,
};
use aeon::protocol::messages::fetch_response::{
    FetchResponse, FetchableTopicResponse, PartitionData,
};
use aeon::protocol::messages::produce_request::{
    PartitionProduceData, ProduceRequest, TopicProduceData,
};
use aeon::protocol::messages::RequestHeader;
use aeon::protocol::Response;
use bytes::Bytes;
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};

const MIB: usize = 1 << 20;

fn produce_frame() -> Bytes {
    let req = ProduceRequest {
        acks: -1,
        timeout_ms: 30_000,
        topic_data: vec![TopicProduceData {
            name: "bench".into(),
            partition_data: vec![PartitionProduceData {
                index: 0,
                records: Some(Bytes::from(vec![7u8; MIB])),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let header = RequestHeader {
        request_api_key: 0,
        request_api_version: 9,
        correlation_id: 1,
        client_id: Some("bench".into()),
        ..Default::default()
    };
    encode_request(&header, &req.into())
        .expect("encode")
        .freeze()
        .slice(4..)
}

fn fetch_response() -> Response {
    FetchResponse {
        responses: vec![FetchableTopicResponse {
            topic: "bench".into(),
            partitions: vec![PartitionData {
                partition_index: 0,
                high_watermark: 1000,
                records: Some(Bytes::from(vec![7u8; MIB])),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
    .into()
}

fn codec(c: &mut Criterion) {
    let mut g = c.benchmark_group("codec");
    g.throughput(Throughput::Bytes(MIB as u64));
    let frame = produce_frame();
    g.bench_function("decode_produce_request_1mib", |b| {
        b.iter(|| decode_request(black_box(frame.clone())).expect("decode"))
    });
    let resp = fetch_response();
    g.bench_function("encode_fetch_response_1mib", |b| {
        b.iter(|| encode_response(1, 12, black_box(&resp)).expect("encode"))
    });
    g.bench_function("encode_fetch_response_1mib_chunks", |b| {
        b.iter(|| encode_response_chunks(1, 12, black_box(&resp)).expect("encode"))
    });
    g.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
