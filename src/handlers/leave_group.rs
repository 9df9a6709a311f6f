//! LeaveGroup: v0-2 one member by id; v3+ a batch of members (static ones by instance id).

use super::{existing_coordinator, BrokerContext};
use crate::actors::group_coordinator::LeaveGroup;
use crate::protocol::messages::leave_group_request::LeaveGroupRequest;
use crate::protocol::messages::leave_group_response::{LeaveGroupResponse, MemberResponse};
use crate::protocol::ErrorCode;
use crate::security::acl::AclOperation;
use crate::security::authorizer::Authz;

pub async fn handle(
    ctx: &BrokerContext,
    authz: &Authz<'_>,
    req: LeaveGroupRequest,
    version: i16,
) -> LeaveGroupResponse {
    if !authz.group(AclOperation::Read, &req.group_id) {
        return LeaveGroupResponse {
            error_code: ErrorCode::GroupAuthorizationFailed.code(),
            ..Default::default()
        };
    }
    let members: Vec<(String, Option<String>)> = if version >= 3 {
        req.members
            .into_iter()
            .map(|m| (m.member_id, m.group_instance_id))
            .collect()
    } else {
        vec![(req.member_id, None)]
    };
    let codes = match existing_coordinator(ctx, &req.group_id).await {
        Err(code) => vec![code; members.len()],
        Ok(None) => vec![ErrorCode::UnknownMemberId; members.len()],
        Ok(Some(group)) => group
            .send(LeaveGroup(members.clone()))
            .await
            .unwrap_or_else(|_| vec![ErrorCode::CoordinatorNotAvailable; members.len()]),
    };
    if version < 3 {
        let code = codes.first().copied().unwrap_or(ErrorCode::UnknownMemberId);
        return LeaveGroupResponse {
            error_code: code.code(),
            ..Default::default()
        };
    }
    LeaveGroupResponse {
        error_code: 0,
        members: members
            .into_iter()
            .zip(codes)
            .map(|((member_id, group_instance_id), code)| MemberResponse {
                member_id,
                group_instance_id,
                error_code: code.code(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}
