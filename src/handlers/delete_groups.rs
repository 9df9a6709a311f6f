//! DeleteGroups: only empty groups; their offsets and metadata are tombstoned.

use super::{existing_coordinator, BrokerContext};
use crate::actors::group_coordinator::DeleteGroup;
use crate::protocol::messages::delete_groups_request::DeleteGroupsRequest;
use crate::protocol::messages::delete_groups_response::{
    DeletableGroupResult, DeleteGroupsResponse,
};
use crate::protocol::ErrorCode;
use crate::security::acl::AclOperation;
use crate::security::authorizer::Authz;

pub async fn handle(
    ctx: &BrokerContext,
    authz: &Authz<'_>,
    req: DeleteGroupsRequest,
) -> DeleteGroupsResponse {
    let mut results = Vec::with_capacity(req.groups_names.len());
    for group_id in req.groups_names {
        let code = match existing_coordinator(ctx, &group_id).await {
            _ if !authz.group(AclOperation::Delete, &group_id) => {
                ErrorCode::GroupAuthorizationFailed
            }
            Err(code) => code,
            Ok(None) => ErrorCode::GroupIdNotFound,
            Ok(Some(g)) => match g.send(DeleteGroup).await {
                Ok(Ok(())) => ErrorCode::None,
                Ok(Err(code)) => code,
                Err(_) => ErrorCode::CoordinatorNotAvailable,
            },
        };
        results.push(DeletableGroupResult {
            group_id,
            error_code: code.code(),
            ..Default::default()
        });
    }
    DeleteGroupsResponse {
        results,
        ..Default::default()
    }
}
