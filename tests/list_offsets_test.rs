//! ListOffsets over the wire at every version Aeon serves, against records produced in
//! multi-record batches: lookups answer record offsets (not batch offsets), MAX_TIMESTAMP
//! names the record holding it, the special timestamps answer as Kafka 4.x does, and
//! every version's response encodes (v1-v3 have no leader epoch).

mod common;

use aeon::protocol::messages::list_offsets_request::{
    ListOffsetsPartition, ListOffsetsRequest, ListOffsetsTopic,
};
use aeon::protocol::messages::list_offsets_response::ListOffsetsPartitionResponse;
use aeon::protocol::records::compression::compress_batch;
use aeon::protocol::records::{Compression, RecordBatchBuilder, RecordSpec};
use aeon::protocol::Response;
use common::{call, connect, produce_raw, TestBroker};
use std::net::TcpStream;

const TOPIC: &str = "times";
const T0: i64 = 1_750_000_000_000;

/// Produces one batch to partition 0 and returns its base offset.
fn produce(s: &mut TcpStream, batch: Vec<u8>) -> i64 {
    let p = produce_raw(s, TOPIC, None, batch);
    assert_eq!(p.error_code, 0, "produce");
    p.base_offset
}

fn batch(timestamps: &[i64], codec: Compression, header_max: Option<i64>) -> Vec<u8> {
    let mut b = RecordBatchBuilder::new(0, timestamps[0]);
    if let Some(max) = header_max {
        b = b.max_timestamp(max);
    }
    for (i, ts) in timestamps.iter().enumerate() {
        let value = format!("value-{i}");
        b = b.record(
            RecordSpec::new(Some(format!("k{i}").as_bytes()), Some(value.as_bytes()))
                .timestamp(*ts)
                .header("h", Some(b"1")),
        );
    }
    compress_batch(&b.build(), codec).expect("compress")
}

/// One ListOffsets lookup at `version`: (error, timestamp, offset, leader epoch).
fn list(s: &mut TcpStream, version: i16, timestamp: i64, partition: i32) -> (i16, i64, i64, i32) {
    let req = ListOffsetsRequest {
        replica_id: -1,
        topics: vec![ListOffsetsTopic {
            name: TOPIC.into(),
            partitions: vec![ListOffsetsPartition {
                partition_index: partition,
                timestamp,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let Response::ListOffsets(r) = call(s, version, 7, req.into()) else {
        panic!("wrong response")
    };
    let ListOffsetsPartitionResponse {
        error_code,
        timestamp,
        offset,
        leader_epoch,
        ..
    } = r.topics[0].partitions[0].clone();
    (error_code, timestamp, offset, leader_epoch)
}

#[test]
fn timestamp_lookups_answer_the_record_at_every_version() {
    let broker = TestBroker::start();
    broker.create_topic(TOPIC, 2);
    let mut s = connect(&broker.bootstrap());
    // 0..9: ten records a second apart, uncompressed; 10..19: the same times shifted
    // by 20 s, lz4; 20..22: out of order (the max in the middle), zstd, and a header
    // that leaves its max timestamp unset, as some producers do.
    let ten: Vec<i64> = (0..10).map(|i| T0 + i * 1000).collect();
    assert_eq!(produce(&mut s, batch(&ten, Compression::None, None)), 0);
    let shifted: Vec<i64> = ten.iter().map(|t| t + 20_000).collect();
    assert_eq!(produce(&mut s, batch(&shifted, Compression::Lz4, None)), 10);
    let unordered = [T0 + 41_000, T0 + 49_000, T0 + 42_000];
    assert_eq!(
        produce(&mut s, batch(&unordered, Compression::Zstd, Some(-1))),
        20
    );
    for version in 1..=11 {
        let epoch = if version >= 4 { 0 } else { -1 };
        let at = |s: &mut TcpStream, ts| list(s, version, ts, 0);
        assert_eq!(
            at(&mut s, T0 + 5500),
            (0, T0 + 6000, 6, epoch),
            "v{version}"
        );
        assert_eq!(at(&mut s, T0 - 1), (0, T0, 0, epoch), "v{version}");
        assert_eq!(
            at(&mut s, T0 + 9001),
            (0, T0 + 20_000, 10, epoch),
            "v{version}"
        );
        assert_eq!(
            at(&mut s, T0 + 27_000),
            (0, T0 + 27_000, 17, epoch),
            "v{version}"
        );
        // Only the unset-max batch holds these: its max was recomputed on append.
        assert_eq!(
            at(&mut s, T0 + 41_500),
            (0, T0 + 49_000, 21, epoch),
            "v{version}"
        );
        assert_eq!(at(&mut s, T0 + 49_001), (0, -1, -1, -1), "v{version}");
        assert_eq!(at(&mut s, -1).2, 23, "latest v{version}");
        assert_eq!(at(&mut s, -2).2, 0, "earliest v{version}");
        if version >= 7 {
            // KIP-734: the record holding the max timestamp, not its batch's last.
            assert_eq!(at(&mut s, -3), (0, T0 + 49_000, 21, epoch), "v{version}");
            // An empty partition has no max timestamp.
            assert_eq!(list(&mut s, version, -3, 1), (0, -1, -1, -1), "v{version}");
        }
        if version >= 8 {
            assert_eq!(
                at(&mut s, -4),
                (0, -1, 0, epoch),
                "earliest-local v{version}"
            );
        }
        if version >= 9 {
            assert_eq!(at(&mut s, -5), (0, -1, -1, -1), "latest-tiered v{version}");
        }
    }
    assert_eq!(broker.response_encode_failures(), 0);
}
