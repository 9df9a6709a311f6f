//! Heartbeat: keeps a member's session alive; tells it to rejoin during a rebalance.

use super::{existing_coordinator, BrokerContext};
use crate::actors::group_coordinator::Heartbeat;
use crate::protocol::messages::heartbeat_request::HeartbeatRequest;
use crate::protocol::messages::heartbeat_response::HeartbeatResponse;
use crate::protocol::ErrorCode;
use crate::security::acl::AclOperation;
use crate::security::authorizer::Authz;

pub async fn handle(
    ctx: &BrokerContext,
    authz: &Authz<'_>,
    req: HeartbeatRequest,
) -> HeartbeatResponse {
    let code = match existing_coordinator(ctx, &req.group_id).await {
        _ if !authz.group(AclOperation::Read, &req.group_id) => ErrorCode::GroupAuthorizationFailed,
        Err(code) => code,
        Ok(None) => ErrorCode::UnknownMemberId,
        Ok(Some(group)) => group
            .send(Heartbeat {
                member_id: req.member_id,
                generation_id: req.generation_id,
                group_instance_id: req.group_instance_id,
            })
            .await
            .unwrap_or(ErrorCode::CoordinatorNotAvailable),
    };
    HeartbeatResponse {
        error_code: code.code(),
        ..Default::default()
    }
}
