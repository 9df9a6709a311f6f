//! JoinGroup: the member joins (or rejoins) its group's rebalance; the answer comes
//! when the rebalance completes. v4+ joins in two steps (MEMBER_ID_REQUIRED).

use super::{coordinator, BrokerContext, Caller};
use crate::actors::group_coordinator::JoinGroup;
use crate::group::{JoinRequest, JoinResult};
use crate::protocol::messages::join_group_request::JoinGroupRequest;
use crate::protocol::messages::join_group_response::{JoinGroupResponse, JoinGroupResponseMember};
use crate::protocol::ErrorCode;
use crate::security::acl::AclOperation;
use crate::security::authorizer::Authz;

fn response(r: JoinResult, version: i16) -> JoinGroupResponse {
    JoinGroupResponse {
        error_code: r.error.code(),
        generation_id: r.generation_id,
        // Nullable from v7; before, an unknown protocol is the empty string.
        protocol_type: if version >= 7 { r.protocol_type } else { None },
        protocol_name: if version >= 7 {
            r.protocol_name
        } else {
            Some(r.protocol_name.unwrap_or_default())
        },
        leader: r.leader,
        skip_assignment: version >= 9 && r.skip_assignment,
        member_id: r.member_id,
        members: r
            .members
            .into_iter()
            .map(|m| JoinGroupResponseMember {
                member_id: m.member_id,
                group_instance_id: if version >= 5 {
                    m.group_instance_id
                } else {
                    None
                },
                metadata: m.metadata,
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

pub async fn handle(
    ctx: &BrokerContext,
    caller: &Caller,
    authz: &Authz<'_>,
    req: JoinGroupRequest,
    version: i16,
) -> JoinGroupResponse {
    if req.group_id.is_empty() {
        return response(
            JoinResult::error(&req.member_id, ErrorCode::InvalidGroupId),
            version,
        );
    }
    if !authz.group(AclOperation::Read, &req.group_id) {
        return response(
            JoinResult::error(&req.member_id, ErrorCode::GroupAuthorizationFailed),
            version,
        );
    }
    let group = match coordinator(ctx, &req.group_id).await {
        Ok(g) => g,
        Err(code) => return response(JoinResult::error(&req.member_id, code), version),
    };
    let member_id = req.member_id.clone();
    let join = JoinRequest {
        member_id: req.member_id,
        group_instance_id: req.group_instance_id,
        protocol_type: req.protocol_type,
        protocols: req
            .protocols
            .into_iter()
            .map(|p| (p.name, p.metadata))
            .collect(),
        session_timeout_ms: req.session_timeout_ms,
        rebalance_timeout_ms: if version >= 1 {
            req.rebalance_timeout_ms
        } else {
            req.session_timeout_ms
        },
        client_id: caller.client_id.clone(),
        client_host: caller.host(),
        require_known_member_id: version >= 4,
        reason: req.reason,
    };
    let result = group
        .send(JoinGroup(join, ctx.routing.load_full()))
        .await
        .unwrap_or_else(|_| JoinResult::error(&member_id, ErrorCode::CoordinatorNotAvailable));
    response(result, version)
}
