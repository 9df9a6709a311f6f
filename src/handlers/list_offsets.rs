//! ListOffsets: latest (-1), earliest (-2), max timestamp (-3), earliest local (-4),
//! latest tiered (-5), or the first record whose timestamp is at or after the one asked
//! for. read_committed (`isolation_level` 1) answers latest with the last stable offset.
//! The leader epoch exists from v4 on; older versions leave it at its default.

use super::partition_fan_out::ask_partitions;
use super::BrokerContext;
use crate::actors::partition::{IsolationLevel, ListOffset};
use crate::protocol::messages::list_offsets_request::ListOffsetsRequest;
use crate::protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsResponse, ListOffsetsTopicResponse,
};
use crate::security::acl::AclOperation;
use crate::security::authorizer::Authz;

pub async fn handle(
    ctx: &BrokerContext,
    authz: &Authz<'_>,
    req: ListOffsetsRequest,
    version: i16,
) -> ListOffsetsResponse {
    let isolation = IsolationLevel::from_kafka(req.isolation_level);
    let asks = req
        .topics
        .into_iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let timestamp = p.timestamp;
                    (
                        p.partition_index,
                        ListOffset {
                            timestamp,
                            isolation,
                        },
                    )
                })
                .collect();
            (t.name, partitions)
        })
        .collect();
    let topics = ask_partitions(
        ctx,
        (authz, AclOperation::Describe),
        asks,
        |partition_index, res| match res {
            Ok((timestamp, offset)) => ListOffsetsPartitionResponse {
                partition_index,
                error_code: 0,
                timestamp,
                offset,
                // Aeon's partitions have had one leader, epoch 0.
                leader_epoch: if version >= 4 && offset >= 0 { 0 } else { -1 },
                ..Default::default()
            },
            Err(code) => ListOffsetsPartitionResponse {
                partition_index,
                error_code: code.code(),
                timestamp: -1,
                offset: -1,
                leader_epoch: -1,
                ..Default::default()
            },
        },
    )
    .await
    .into_iter()
    .map(|(name, partitions)| ListOffsetsTopicResponse {
        name,
        partitions,
        ..Default::default()
    })
    .collect();
    ListOffsetsResponse {
        topics,
        ..Default::default()
    }
}
