//! ConsumerGroupDescribe (KIP-848): a consumer group's epochs, assignor and members with
//! their current and target assignments; GROUP_ID_NOT_FOUND for a classic or unknown
//! group.

use super::{existing_coordinator, BrokerContext};
use crate::actors::group_coordinator::DescribeConsumerGroup;
use crate::group::consumer::Assignment;
use crate::protocol::messages::consumer_group_describe_request::ConsumerGroupDescribeRequest;
use crate::protocol::messages::consumer_group_describe_response::{
    Assignment as DescribedAssignment, ConsumerGroupDescribeResponse, DescribedGroup, Member,
    TopicPartitions,
};
use crate::protocol::ErrorCode;
use crate::security::acl::{AclOperation, ResourceType};
use crate::security::authorizer::{Authz, OPERATIONS_NOT_ASKED};

/// Kafka's `MemberType` in ConsumerGroupDescribe v1: a member of the classic protocol
/// (during a migration) or of the consumer protocol.
const CLASSIC_MEMBER: i8 = 0;
const CONSUMER_MEMBER: i8 = 1;

pub async fn handle(
    ctx: &BrokerContext,
    authz: &Authz<'_>,
    req: ConsumerGroupDescribeRequest,
    version: i16,
) -> ConsumerGroupDescribeResponse {
    let routing = ctx.routing.load_full();
    let mut groups = Vec::with_capacity(req.group_ids.len());
    for group_id in req.group_ids {
        if !authz.group(AclOperation::Describe, &group_id) {
            groups.push(DescribedGroup {
                error_code: ErrorCode::GroupAuthorizationFailed.code(),
                group_id,
                authorized_operations: OPERATIONS_NOT_ASKED,
                ..Default::default()
            });
            continue;
        }
        let authorized_operations = authz.operations_if(
            req.include_authorized_operations,
            ResourceType::Group,
            &group_id,
        );
        // A coordinator that stopped before answering had a dead (deleted) group.
        let described = match existing_coordinator(ctx, &group_id).await {
            Ok(Some(g)) => g.send(DescribeConsumerGroup).await.ok(),
            Ok(None) => None,
            Err(code) => {
                groups.push(DescribedGroup {
                    error_code: code.code(),
                    group_id,
                    authorized_operations: OPERATIONS_NOT_ASKED,
                    ..Default::default()
                });
                continue;
            }
        }
        .unwrap_or_else(|| {
            Err((
                ErrorCode::GroupIdNotFound,
                format!("Group {group_id} not found."),
            ))
        });
        let named = |a: Assignment| DescribedAssignment {
            topic_partitions: a
                .into_iter()
                .map(|(topic_id, partitions)| TopicPartitions {
                    topic_id,
                    topic_name: routing
                        .topic_by_id(&topic_id)
                        .map(|t| t.name.clone())
                        .unwrap_or_default(),
                    partitions: partitions.into_iter().collect(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        groups.push(match described {
            Ok(d) => DescribedGroup {
                group_id,
                group_state: d.state.to_string(),
                group_epoch: d.epoch,
                assignment_epoch: d.assignment_epoch,
                assignor_name: d.assignor.to_string(),
                members: d
                    .members
                    .into_iter()
                    .map(|m| Member {
                        member_id: m.member_id,
                        instance_id: m.instance_id,
                        rack_id: m.rack_id,
                        member_epoch: m.member_epoch,
                        client_id: m.client_id,
                        client_host: m.client_host,
                        subscribed_topic_names: m.topic_names,
                        subscribed_topic_regex: m.topic_regex,
                        assignment: named(m.assignment),
                        target_assignment: named(m.target),
                        member_type: match (version, m.is_classic) {
                            (0, _) => -1,
                            (_, true) => CLASSIC_MEMBER,
                            (_, false) => CONSUMER_MEMBER,
                        },
                        ..Default::default()
                    })
                    .collect(),
                authorized_operations,
                ..Default::default()
            },
            Err((code, message)) => DescribedGroup {
                error_code: code.code(),
                error_message: Some(message).filter(|m| !m.is_empty()),
                group_id,
                group_state: "Dead".to_string(),
                authorized_operations: OPERATIONS_NOT_ASKED,
                ..Default::default()
            },
        });
    }
    ConsumerGroupDescribeResponse {
        groups,
        ..Default::default()
    }
}
