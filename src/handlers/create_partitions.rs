//! CreatePartitions: grow a topic (never shrink it).

use super::BrokerContext;
use crate::actors::broker::CreatePartitions;
use crate::protocol::messages::create_partitions_request::CreatePartitionsRequest;
use crate::protocol::messages::create_partitions_response::{
    CreatePartitionsResponse, CreatePartitionsTopicResult,
};
use crate::protocol::ErrorCode;
use crate::security::acl::AclOperation;
use crate::security::authorizer::Authz;

pub async fn handle(
    ctx: &BrokerContext,
    authz: &Authz<'_>,
    req: CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    let mut results = Vec::with_capacity(req.topics.len());
    for t in req.topics {
        if !authz.topic(AclOperation::Alter, &t.name) {
            results.push(CreatePartitionsTopicResult {
                name: t.name,
                error_code: ErrorCode::TopicAuthorizationFailed.code(),
                error_message: Some("Authorization failed.".into()),
                ..Default::default()
            });
            continue;
        }
        let msg = CreatePartitions {
            name: t.name.clone(),
            count: t.count,
            assignments: t
                .assignments
                .map(|a| a.into_iter().map(|a| a.broker_ids).collect()),
            validate_only: req.validate_only,
        };
        let (code, message) = match ctx.broker.send(msg).await {
            Ok(Ok(())) => (ErrorCode::None, None),
            Ok(Err((code, msg))) => (code, Some(msg)),
            Err(e) => (ErrorCode::UnknownServerError, Some(e.to_string())),
        };
        results.push(CreatePartitionsTopicResult {
            name: t.name,
            error_code: code.code(),
            error_message: message,
            ..Default::default()
        });
    }
    CreatePartitionsResponse {
        results,
        ..Default::default()
    }
}
