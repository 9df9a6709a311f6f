//! OffsetForLeaderEpoch (v2-4): where a leader epoch ends in the leader's log (Kafka's
//! `endOffsetFor`). Followers ask it before they fetch from a new leader and truncate
//! what they hold beyond it (KIP-101/279); consumers ask it to detect a log that was
//! truncated under them (KIP-320). A follower's request (ReplicaId >= 0) needs
//! CLUSTER_ACTION; a consumer's DESCRIBE on the topic.

use super::partition_fan_out::ask_partitions;
use super::BrokerContext;
use crate::actors::partition::EpochEndOffset as EndOffsetOf;
use crate::protocol::messages::offset_for_leader_epoch_request::OffsetForLeaderEpochRequest;
use crate::protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderEpochResponse, OffsetForLeaderTopicResult,
};
use crate::protocol::ErrorCode;
use crate::security::acl::AclOperation;
use crate::security::authorizer::Authz;

pub async fn handle(
    ctx: &BrokerContext,
    authz: &Authz<'_>,
    req: OffsetForLeaderEpochRequest,
) -> OffsetForLeaderEpochResponse {
    let follower = req.replica_id >= 0;
    let cluster_refused = follower && !authz.cluster(AclOperation::ClusterAction);
    let asks = req
        .topics
        .into_iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let ask = EndOffsetOf {
                        epoch: p.leader_epoch,
                        current_epoch: p.current_leader_epoch,
                        local: false,
                    };
                    (p.partition, ask)
                })
                .collect();
            (t.topic, partitions)
        })
        .collect();
    let operation = if follower {
        AclOperation::ClusterAction
    } else {
        AclOperation::Describe
    };
    let topics = ask_partitions(ctx, (authz, operation), asks, |partition, res| {
        let res = if cluster_refused {
            Err(ErrorCode::ClusterAuthorizationFailed)
        } else {
            res
        };
        let (leader_epoch, end_offset, code) = match res {
            Ok((epoch, offset)) => (epoch, offset, ErrorCode::None),
            Err(code) => (-1, -1, code),
        };
        EpochEndOffset {
            error_code: code.code(),
            partition,
            leader_epoch,
            end_offset,
            ..Default::default()
        }
    })
    .await
    .into_iter()
    .map(|(topic, partitions)| OffsetForLeaderTopicResult {
        topic,
        partitions,
        ..Default::default()
    })
    .collect();
    OffsetForLeaderEpochResponse {
        topics,
        ..Default::default()
    }
}
