//! DescribeProducers (v0): the producers each partition remembers, with their epoch,
//! last sequence and timestamp, coordinator epoch and open transaction's first offset
//! (what `kafka-transactions.sh describe-producers` shows, and how a hanging
//! transaction is found). An unknown topic or partition gets
//! UNKNOWN_TOPIC_OR_PARTITION.

use super::partition_fan_out::ask_partitions;
use super::BrokerContext;
use crate::actors::partition::DescribeProducers;
use crate::protocol::messages::describe_producers_request::DescribeProducersRequest;
use crate::protocol::messages::describe_producers_response::{
    DescribeProducersResponse, PartitionResponse, ProducerState, TopicResponse,
};
use crate::protocol::ErrorCode;
use crate::security::acl::AclOperation;
use crate::security::authorizer::Authz;
use crate::storage::producer_state::ActiveProducer;

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
    authz: &Authz<'_>,
    req: DescribeProducersRequest,
) -> DescribeProducersResponse {
    let asks = req
        .topics
        .into_iter()
        .map(|t| {
            let partitions = t
                .partition_indexes
                .iter()
                .map(|&partition| (partition, DescribeProducers))
                .collect();
            (t.name, partitions)
        })
        .collect();
    let topics = ask_partitions(
        ctx,
        (authz, AclOperation::Read),
        asks,
        |partition_index, res| {
            let (code, active_producers) = match res {
                Ok(list) => (ErrorCode::None, list.iter().map(producer).collect()),
                Err(code) => (code, Vec::new()),
            };
            PartitionResponse {
                partition_index,
                error_code: code.code(),
                active_producers,
                ..Default::default()
            }
        },
    )
    .await
    .into_iter()
    .map(|(name, partitions)| TopicResponse {
        name,
        partitions,
        ..Default::default()
    })
    .collect();
    DescribeProducersResponse {
        topics,
        ..Default::default()
    }
}
