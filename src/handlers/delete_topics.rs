//! DeleteTopics: by name (all versions) or by topic id (v6+); the data is removed.

use super::BrokerContext;
use crate::actors::broker::DeleteTopic;
use crate::protocol::messages::delete_topics_request::DeleteTopicsRequest;
use crate::protocol::messages::delete_topics_response::{
    DeletableTopicResult, DeleteTopicsResponse,
};
use crate::protocol::ErrorCode;
use crate::security::acl::AclOperation;
use crate::security::authorizer::Authz;
use uuid::Uuid;

pub async fn handle(
    ctx: &BrokerContext,
    authz: &Authz<'_>,
    req: DeleteTopicsRequest,
) -> DeleteTopicsResponse {
    let targets: Vec<DeleteTopic> = req
        .topic_names
        .into_iter()
        .map(DeleteTopic::Name)
        .chain(req.topics.into_iter().map(|t| match t.name {
            Some(name) => DeleteTopic::Name(name),
            None => DeleteTopic::Id(t.topic_id),
        }))
        .collect();
    let mut responses = Vec::with_capacity(targets.len());
    for target in targets {
        let (name, id) = match &target {
            DeleteTopic::Name(n) => (Some(n.clone()), Uuid::nil()),
            DeleteTopic::Id(id) => (None, *id),
        };
        // DELETE on the topic; one named by id is looked up for its name (an unknown
        // id is left to the broker to answer).
        let topic_name = match &target {
            DeleteTopic::Name(n) => Some(n.clone()),
            DeleteTopic::Id(id) => ctx.routing.load().topic_by_id(id).map(|t| t.name.clone()),
        };
        if topic_name.is_some_and(|n| !authz.topic(AclOperation::Delete, &n)) {
            responses.push(DeletableTopicResult {
                name,
                topic_id: id,
                error_code: ErrorCode::TopicAuthorizationFailed.code(),
                error_message: Some("Authorization failed.".into()),
                ..Default::default()
            });
            continue;
        }
        let result = match ctx.broker.send(target).await {
            Ok(Ok((name, id))) => DeletableTopicResult {
                name: Some(name),
                topic_id: id,
                error_code: 0,
                ..Default::default()
            },
            Ok(Err((code, msg))) => DeletableTopicResult {
                name,
                topic_id: id,
                error_code: code.code(),
                error_message: Some(msg),
                ..Default::default()
            },
            Err(e) => DeletableTopicResult {
                name,
                topic_id: id,
                error_code: ErrorCode::UnknownServerError.code(),
                error_message: Some(e.to_string()),
                ..Default::default()
            },
        };
        responses.push(result);
    }
    DeleteTopicsResponse {
        responses,
        ..Default::default()
    }
}
