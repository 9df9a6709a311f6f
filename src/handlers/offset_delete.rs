//! OffsetDelete: removes a group's committed offsets of partitions it no longer consumes.

use super::{existing_coordinator, BrokerContext};
use crate::actors::group_coordinator::DeleteOffsets;
use crate::protocol::messages::offset_delete_request::OffsetDeleteRequest;
use crate::protocol::messages::offset_delete_response::{
    OffsetDeleteResponse, OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use crate::protocol::ErrorCode;
use crate::security::acl::AclOperation;
use crate::security::authorizer::Authz;

pub async fn handle(
    ctx: &BrokerContext,
    authz: &Authz<'_>,
    req: OffsetDeleteRequest,
) -> OffsetDeleteResponse {
    // DELETE on the group, then READ on each topic, as Kafka checks.
    if !authz.group(AclOperation::Delete, &req.group_id) {
        return OffsetDeleteResponse {
            error_code: ErrorCode::GroupAuthorizationFailed.code(),
            ..Default::default()
        };
    }
    let group = match existing_coordinator(ctx, &req.group_id).await {
        Ok(Some(group)) => group,
        found => {
            return OffsetDeleteResponse {
                error_code: found.err().unwrap_or(ErrorCode::GroupIdNotFound).code(),
                ..Default::default()
            }
        }
    };
    let readable = |name: &str| authz.topic(AclOperation::Read, name);
    let asked: Vec<(String, Vec<i32>)> = req
        .topics
        .iter()
        .filter(|t| readable(&t.name))
        .map(|t| {
            (
                t.name.clone(),
                t.partitions.iter().map(|p| p.partition_index).collect(),
            )
        })
        .collect();
    let Ok(results) = group.send(DeleteOffsets(asked)).await else {
        return OffsetDeleteResponse {
            error_code: ErrorCode::CoordinatorNotAvailable.code(),
            ..Default::default()
        };
    };
    // Errors of the whole group come back on every partition; Kafka reports them once.
    if let Some((_, _, code)) = results.first() {
        if matches!(code, ErrorCode::GroupIdNotFound | ErrorCode::NonEmptyGroup)
            && results.iter().all(|r| r.2 == *code)
        {
            return OffsetDeleteResponse {
                error_code: code.code(),
                ..Default::default()
            };
        }
    }
    let topics = req
        .topics
        .into_iter()
        .map(|t| OffsetDeleteResponseTopic {
            partitions: t
                .partitions
                .iter()
                .map(|p| {
                    let code = if readable(&t.name) {
                        results
                            .iter()
                            .find(|(n, i, _)| *n == t.name && *i == p.partition_index)
                            .map_or(ErrorCode::None, |(_, _, c)| *c)
                    } else {
                        ErrorCode::TopicAuthorizationFailed
                    };
                    OffsetDeleteResponsePartition {
                        partition_index: p.partition_index,
                        error_code: code.code(),
                    }
                })
                .collect(),
            name: t.name,
        })
        .collect();
    OffsetDeleteResponse {
        error_code: 0,
        topics,
        ..Default::default()
    }
}
