//! ConsumerGroupHeartbeat (KIP-848): a member of a consumer group joins, heartbeats,
//! reports the partitions it owns and gets its assignment; the coordinator answers once
//! what changed is stored.

use super::{coordinator, BrokerContext, Caller};
use crate::actors::group_coordinator::ConsumerHeartbeat;
use crate::group::consumer::{Assignment, HeartbeatRequest, HeartbeatResult};
use crate::protocol::messages::consumer_group_heartbeat_request::ConsumerGroupHeartbeatRequest;
use crate::protocol::messages::consumer_group_heartbeat_response::{
    Assignment as ResponseAssignment, ConsumerGroupHeartbeatResponse, TopicPartitions,
};
use crate::protocol::ErrorCode;
use crate::security::acl::AclOperation;
use crate::security::authorizer::Authz;

pub async fn handle(
    ctx: &BrokerContext,
    caller: &Caller,
    authz: &Authz<'_>,
    req: ConsumerGroupHeartbeatRequest,
    version: i16,
) -> ConsumerGroupHeartbeatResponse {
    if req.group_id.is_empty() {
        return response(HeartbeatResult::error(
            ErrorCode::InvalidRequest,
            "GroupId can't be empty.",
        ));
    }
    if !authz.group(AclOperation::Read, &req.group_id) {
        return response(HeartbeatResult::error(
            ErrorCode::GroupAuthorizationFailed,
            "",
        ));
    }
    // A subscription may only name topics the member may describe (Kafka 4.x).
    if req
        .subscribed_topic_names
        .iter()
        .flatten()
        .any(|t| !authz.topic(AclOperation::Describe, t))
    {
        return response(HeartbeatResult::error(
            ErrorCode::TopicAuthorizationFailed,
            "",
        ));
    }
    let group = match coordinator(ctx, &req.group_id).await {
        Ok(g) => g,
        Err(code) => return response(HeartbeatResult::error(code, "")),
    };
    let owned = req.topic_partitions.map(|tps| {
        let mut owned = Assignment::new();
        for tp in tps {
            owned.entry(tp.topic_id).or_default().extend(tp.partitions);
        }
        owned
    });
    let request = HeartbeatRequest {
        version,
        member_id: req.member_id,
        member_epoch: req.member_epoch,
        instance_id: req.instance_id,
        rack_id: req.rack_id,
        rebalance_timeout_ms: req.rebalance_timeout_ms,
        topic_names: req.subscribed_topic_names,
        topic_regex: req.subscribed_topic_regex,
        server_assignor: req.server_assignor,
        owned,
        client_id: caller.client_id.clone(),
        client_host: caller.host(),
    };
    let topics = ctx.routing.load_full();
    let result = group
        .send(ConsumerHeartbeat { request, topics })
        .await
        .unwrap_or_else(|_| HeartbeatResult::error(ErrorCode::CoordinatorNotAvailable, ""));
    response(result)
}

fn response(r: HeartbeatResult) -> ConsumerGroupHeartbeatResponse {
    ConsumerGroupHeartbeatResponse {
        error_code: r.error.code(),
        error_message: r.message.filter(|m| !m.is_empty()),
        member_id: r.member_id,
        member_epoch: r.member_epoch,
        heartbeat_interval_ms: r.heartbeat_interval_ms,
        assignment: r.assignment.map(|a| ResponseAssignment {
            topic_partitions: a
                .into_iter()
                .map(|(topic_id, partitions)| TopicPartitions {
                    topic_id,
                    partitions: partitions.into_iter().collect(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }),
        ..Default::default()
    }
}
