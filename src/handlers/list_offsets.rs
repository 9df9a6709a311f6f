//! ListOffsets: latest (-1), earliest (-2), max timestamp (-3), earliest local (-4),
//! latest tiered (-5), or the first record whose timestamp is at or after the one asked
//! for. read_committed (`isolation_level` 1) answers latest with the last stable offset.
//! The leader epoch exists from v4 on; older versions leave it at its default.

use super::BrokerContext;
use crate::actors::partition::{IsolationLevel, ListOffset, PartitionError};
use crate::protocol::messages::list_offsets_request::ListOffsetsRequest;
use crate::protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsResponse, ListOffsetsTopicResponse,
};
use crate::protocol::ErrorCode;
use futures::future::join_all;

pub async fn handle(
    ctx: &BrokerContext,
    req: ListOffsetsRequest,
    version: i16,
) -> ListOffsetsResponse {
    let routing = ctx.routing.load();
    let isolation = IsolationLevel::from_kafka(req.isolation_level);
    let mut lookups = Vec::new();
    for (ti, t) in req.topics.iter().enumerate() {
        for p in &t.partitions {
            let route = routing.partition(&t.name, p.partition_index).cloned();
            let timestamp = p.timestamp;
            lookups.push(async move {
                let known = route.is_some();
                let res = match route {
                    Some(r) => r
                        .addr
                        .send(ListOffset {
                            timestamp,
                            isolation,
                        })
                        .await
                        .unwrap_or(Err(PartitionError::Closed)),
                    None => Err(PartitionError::Closed),
                };
                (ti, p.partition_index, res, known)
            });
        }
    }
    drop(routing);
    let mut topics: Vec<ListOffsetsTopicResponse> = req
        .topics
        .iter()
        .map(|t| ListOffsetsTopicResponse {
            name: t.name.clone(),
            ..Default::default()
        })
        .collect();
    for (ti, partition, res, known) in join_all(lookups).await {
        let out = match res {
            Ok((timestamp, offset)) => ListOffsetsPartitionResponse {
                partition_index: partition,
                error_code: 0,
                timestamp,
                offset,
                // Aeon's partitions have had one leader, epoch 0.
                leader_epoch: if version >= 4 && offset >= 0 { 0 } else { -1 },
                ..Default::default()
            },
            Err(e) => ListOffsetsPartitionResponse {
                partition_index: partition,
                error_code: if known {
                    e.code().code()
                } else {
                    ErrorCode::UnknownTopicOrPartition.code()
                },
                timestamp: -1,
                offset: -1,
                leader_epoch: -1,
                ..Default::default()
            },
        };
        topics[ti].partitions.push(out);
    }
    ListOffsetsResponse {
        topics,
        ..Default::default()
    }
}
