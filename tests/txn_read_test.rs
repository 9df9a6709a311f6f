//! The read side of transactions over the wire: a transaction begun by hand
//! (InitProducerId, AddPartitionsToTxn) whose transactional batches are produced by
//! hand keeps the last stable offset at its start, read_committed fetches and
//! list-offsets stop there, and DescribeProducers shows the open transaction. (Markers
//! are covered at the partition actor's level and by `transactions_test`.)

mod common;

use aeon::protocol::messages::describe_producers_request::{
    DescribeProducersRequest, TopicRequest,
};
use aeon::protocol::messages::fetch_request::FetchRequest;
use aeon::protocol::messages::fetch_response::PartitionData;
use aeon::protocol::messages::list_offsets_request::{
    ListOffsetsPartition, ListOffsetsRequest, ListOffsetsTopic,
};
use aeon::protocol::records::{BatchIter, RecordBatchBuilder, RecordSpec};
use aeon::protocol::{ErrorCode, Response};
use common::{call, connect, fetch_request, TestBroker};
use std::net::TcpStream;

const TOPIC: &str = "txn-read";

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn produce(s: &mut TcpStream, batch: Vec<u8>) {
    assert_eq!(
        common::produce_raw(s, TOPIC, Some("tx-1"), batch).error_code,
        0
    );
}

/// Begins transactional id `tx-1` with partition 0 of the topic in its transaction;
/// its producer id (epoch 0).
fn begin_txn(s: &mut TcpStream) -> i64 {
    use aeon::protocol::messages::add_partitions_to_txn_request::{
        AddPartitionsToTxnRequest, AddPartitionsToTxnTopic,
    };
    use aeon::protocol::messages::init_producer_id_request::InitProducerIdRequest;
    let init = InitProducerIdRequest {
        transactional_id: Some("tx-1".into()),
        transaction_timeout_ms: 60_000,
        producer_id: -1,
        producer_epoch: -1,
        ..Default::default()
    };
    let Response::InitProducerId(r) = call(s, 4, 100, init.into()) else {
        panic!("wrong response")
    };
    assert_eq!((r.error_code, r.producer_epoch), (0, 0));
    let add = AddPartitionsToTxnRequest {
        v3_and_below_transactional_id: "tx-1".into(),
        v3_and_below_producer_id: r.producer_id,
        v3_and_below_producer_epoch: 0,
        v3_and_below_topics: vec![AddPartitionsToTxnTopic {
            name: TOPIC.into(),
            partitions: vec![0],
            ..Default::default()
        }],
        ..Default::default()
    };
    let Response::AddPartitionsToTxn(added) = call(s, 3, 101, add.into()) else {
        panic!("wrong response")
    };
    assert_eq!(
        added.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code,
        0
    );
    r.producer_id
}

fn fetch(s: &mut TcpStream, id: i32, isolation_level: i8) -> PartitionData {
    let req = FetchRequest {
        isolation_level,
        session_epoch: -1,
        ..fetch_request(TOPIC, 0, 0, 0)
    };
    let Response::Fetch(r) = call(s, 11, id, req.into()) else {
        panic!("wrong response")
    };
    r.responses[0].partitions[0].clone()
}

fn batch(producer: Option<(i64, i32)>) -> Vec<u8> {
    let b = RecordBatchBuilder::new(0, now_ms());
    let b = match producer {
        Some((pid, seq)) => b.producer(pid, 0, seq).transactional(true),
        None => b,
    };
    b.record(RecordSpec::new(None, Some(b"v"))).build()
}

#[test]
fn read_committed_fetch_and_list_offsets_stop_at_an_open_transaction() {
    let broker = TestBroker::start();
    broker.create_topic(TOPIC, 1);
    let mut s = connect(&broker.bootstrap());
    let pid = begin_txn(&mut s);
    produce(&mut s, batch(None));
    produce(&mut s, batch(Some((pid, 0))));
    produce(&mut s, batch(Some((pid, 1))));
    produce(&mut s, batch(None));

    let committed = fetch(&mut s, 5, 1);
    assert_eq!(committed.error_code, 0);
    assert_eq!(committed.high_watermark, 4);
    assert_eq!(
        committed.last_stable_offset, 1,
        "the open transaction's start"
    );
    let records = committed.records.clone().unwrap_or_default();
    let bases: Vec<i64> = BatchIter::new(&records).map(|b| b.base_offset()).collect();
    assert_eq!(bases, vec![0], "nothing at or past the LSO");
    assert_eq!(committed.aborted_transactions, Some(Vec::new()));

    let uncommitted = fetch(&mut s, 6, 0);
    assert_eq!(uncommitted.last_stable_offset, 1);
    let records = uncommitted.records.clone().unwrap_or_default();
    assert_eq!(BatchIter::new(&records).count(), 4);
    assert_eq!(uncommitted.aborted_transactions, None);

    for (isolation_level, expected) in [(0i8, 4i64), (1, 1)] {
        let req = ListOffsetsRequest {
            replica_id: -1,
            isolation_level,
            topics: vec![ListOffsetsTopic {
                name: TOPIC.into(),
                partitions: vec![ListOffsetsPartition {
                    partition_index: 0,
                    timestamp: -1,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        let Response::ListOffsets(r) = call(&mut s, 5, 7, req.into()) else {
            panic!("wrong response")
        };
        assert_eq!(
            r.topics[0].partitions[0].offset, expected,
            "{isolation_level}"
        );
    }

    let req = DescribeProducersRequest {
        topics: vec![TopicRequest {
            name: TOPIC.into(),
            partition_indexes: vec![0, 7],
            ..Default::default()
        }],
        ..Default::default()
    };
    let Response::DescribeProducers(r) = call(&mut s, 0, 8, req.into()) else {
        panic!("wrong response")
    };
    let partitions = &r.topics[0].partitions;
    assert_eq!(partitions[0].error_code, 0);
    let producer = &partitions[0].active_producers[0];
    assert_eq!(
        (
            producer.producer_id,
            producer.last_sequence,
            producer.current_txn_start_offset
        ),
        (pid, 1, 1)
    );
    assert_eq!(
        partitions[1].error_code,
        ErrorCode::UnknownTopicOrPartition.code()
    );
}
