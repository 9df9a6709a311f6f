//! DescribeProducers (v0): the producers each partition remembers, with their epoch,
//! last sequence and timestamp, coordinator epoch and open transaction's first offset
//! (what `kafka-transactions.sh describe-producers` shows, and how a hanging
//! transaction is found). An unknown topic or partition gets
//! UNKNOWN_TOPIC_OR_PARTITION.

use super::BrokerContext;
use crate::actors::partition::{DescribeProducers, PartitionError};
use crate::protocol::messages::describe_producers_request::DescribeProducersRequest;
use crate::protocol::messages::describe_producers_response::{
    DescribeProducersResponse, PartitionResponse, ProducerState, TopicResponse,
};
use crate::protocol::ErrorCode;
use crate::storage::producer_state::ActiveProducer;
use futures::future::join_all;

fn producer(p: &ActiveProducer) -> ProducerState {
    ProducerState {
        producer_id: p.producer_id,
        producer_epoch: i32::from(p.producer_epoch),
        last_sequence: p.last_sequence,
        last_timestamp: p.last_timestamp,
        coordinator_epoch: p.coordinator_epoch,
        current_txn_start_offset: p.current_txn_start_offset,
        ..Default::default()
    }
}

pub async fn handle(
    ctx: &BrokerContext,
    req: DescribeProducersRequest,
) -> DescribeProducersResponse {
    let routing = ctx.routing.load();
    let mut calls = Vec::new();
    for (ti, t) in req.topics.iter().enumerate() {
        for &partition in &t.partition_indexes {
            let route = routing.partition(&t.name, partition).cloned();
            calls.push(async move {
                let res = match route {
                    Some(r) => r
                        .addr
                        .send(DescribeProducers)
                        .await
                        .unwrap_or(Err(PartitionError::Closed))
                        .map_err(|e| e.code()),
                    None => Err(ErrorCode::UnknownTopicOrPartition),
                };
                (ti, partition, res)
            });
        }
    }
    drop(routing);
    let mut topics: Vec<TopicResponse> = req
        .topics
        .iter()
        .map(|t| TopicResponse {
            name: t.name.clone(),
            ..Default::default()
        })
        .collect();
    for (ti, partition_index, res) in join_all(calls).await {
        let (code, active_producers) = match res {
            Ok(list) => (ErrorCode::None, list.iter().map(producer).collect()),
            Err(code) => (code, Vec::new()),
        };
        topics[ti].partitions.push(PartitionResponse {
            partition_index,
            error_code: code.code(),
            active_producers,
            ..Default::default()
        });
    }
    DescribeProducersResponse {
        topics,
        ..Default::default()
    }
}
