//! SyncGroup: the leader hands in the assignment; every member gets its own part.

use super::{coordinator, BrokerContext};
use crate::actors::group_coordinator::SyncGroup;
use crate::group::{SyncRequest, SyncResult};
use crate::protocol::messages::sync_group_request::SyncGroupRequest;
use crate::protocol::messages::sync_group_response::SyncGroupResponse;
use crate::protocol::ErrorCode;
use crate::security::acl::AclOperation;
use crate::security::authorizer::Authz;

fn response(r: SyncResult, version: i16) -> SyncGroupResponse {
    SyncGroupResponse {
        error_code: r.error.code(),
        protocol_type: if version >= 5 { r.protocol_type } else { None },
        protocol_name: if version >= 5 { r.protocol_name } else { None },
        assignment: r.assignment,
        ..Default::default()
    }
}

pub async fn handle(
    ctx: &BrokerContext,
    authz: &Authz<'_>,
    req: SyncGroupRequest,
    version: i16,
) -> SyncGroupResponse {
    if req.group_id.is_empty() {
        return response(SyncResult::error(ErrorCode::InvalidGroupId), version);
    }
    if !authz.group(AclOperation::Read, &req.group_id) {
        return response(
            SyncResult::error(ErrorCode::GroupAuthorizationFailed),
            version,
        );
    }
    let group = match coordinator(ctx, &req.group_id).await {
        Ok(g) => g,
        Err(code) => return response(SyncResult::error(code), version),
    };
    let sync = SyncRequest {
        member_id: req.member_id,
        generation_id: req.generation_id,
        group_instance_id: req.group_instance_id,
        protocol_type: req.protocol_type,
        protocol_name: req.protocol_name,
        assignments: req
            .assignments
            .into_iter()
            .map(|a| (a.member_id, a.assignment))
            .collect(),
    };
    let result = group
        .send(SyncGroup(sync))
        .await
        .unwrap_or_else(|_| SyncResult::error(ErrorCode::CoordinatorNotAvailable));
    response(result, version)
}
