//! DescribeGroups: state, protocol, and members with their metadata and assignment.

use super::{existing_coordinator, BrokerContext};
use crate::actors::group_coordinator::Describe;
use crate::protocol::messages::describe_groups_request::DescribeGroupsRequest;
use crate::protocol::messages::describe_groups_response::{
    DescribeGroupsResponse, DescribedGroup, DescribedGroupMember,
};
use crate::protocol::ErrorCode;
use crate::security::acl::{AclOperation, ResourceType};
use crate::security::authorizer::Authz;

pub async fn handle(
    ctx: &BrokerContext,
    authz: &Authz<'_>,
    req: DescribeGroupsRequest,
    version: i16,
) -> DescribeGroupsResponse {
    let mut groups = Vec::with_capacity(req.groups.len());
    for group_id in req.groups {
        if !authz.group(AclOperation::Describe, &group_id) {
            groups.push(DescribedGroup {
                error_code: ErrorCode::GroupAuthorizationFailed.code(),
                group_id,
                ..Default::default()
            });
            continue;
        }
        let authorized_operations = authz.operations_if(
            req.include_authorized_operations,
            ResourceType::Group,
            &group_id,
        );
        let described = match existing_coordinator(ctx, &group_id).await {
            Ok(Some(g)) => g.send(Describe).await.ok(),
            Ok(None) => None,
            Err(code) => {
                groups.push(DescribedGroup {
                    error_code: code.code(),
                    group_id,
                    ..Default::default()
                });
                continue;
            }
        };
        let (described, missing) = match described {
            Some(d) if d.is_consumer_group => {
                (None, format!("Group {group_id} is not a classic group."))
            }
            other => (other, format!("Group {group_id} not found.")),
        };
        let group = match described {
            Some(d) => DescribedGroup {
                error_code: 0,
                group_id,
                group_state: d.state.to_string(),
                protocol_type: d.protocol_type,
                protocol_data: d.protocol,
                authorized_operations,
                members: d
                    .members
                    .into_iter()
                    .map(|m| DescribedGroupMember {
                        member_id: m.member_id,
                        group_instance_id: if version >= 4 {
                            m.group_instance_id
                        } else {
                            None
                        },
                        client_id: m.client_id,
                        client_host: m.client_host,
                        member_metadata: m.metadata,
                        member_assignment: m.assignment,
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            },
            // Kafka answers an unknown group, or a consumer group, as Dead; v6+ adds
            // GROUP_ID_NOT_FOUND.
            None => DescribedGroup {
                error_code: if version >= 6 {
                    ErrorCode::GroupIdNotFound.code()
                } else {
                    0
                },
                error_message: if version >= 6 { Some(missing) } else { None },
                group_id,
                group_state: "Dead".into(),
                ..Default::default()
            },
        };
        groups.push(group);
    }
    DescribeGroupsResponse {
        groups,
        ..Default::default()
    }
}
