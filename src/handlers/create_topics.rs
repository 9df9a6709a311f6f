//! CreateTopics: one `CreateTopic` to the `BrokerActor` per topic, with Kafka's checks
//! (names, partitions, replication factor 1 on one node, known configs, validate_only).

use super::BrokerContext;
use crate::actors::broker::CreateTopic;
use crate::protocol::messages::create_topics_request::CreateTopicsRequest;
use crate::protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult, CreateTopicsResponse,
};
use crate::protocol::ErrorCode;
use crate::security::acl::AclOperation;
use crate::security::authorizer::Authz;
use std::collections::HashSet;

pub async fn handle(
    ctx: &BrokerContext,
    authz: &Authz<'_>,
    req: CreateTopicsRequest,
    version: i16,
) -> CreateTopicsResponse {
    let mut results = Vec::with_capacity(req.topics.len());
    let mut seen = HashSet::new();
    let duplicates: HashSet<String> = req
        .topics
        .iter()
        .filter(|t| !seen.insert(t.name.clone()))
        .map(|t| t.name.clone())
        .collect();
    for t in req.topics {
        if duplicates.contains(&t.name) {
            results.push(CreatableTopicResult {
                name: t.name.clone(),
                error_code: ErrorCode::InvalidRequest.code(),
                error_message: Some(format!(
                    "Create topics request from client contains duplicate topic name '{}'",
                    t.name
                )),
                num_partitions: -1,
                replication_factor: -1,
                configs: None,
                ..Default::default()
            });
            continue;
        }
        if !authz.create_topic(&t.name) {
            results.push(CreatableTopicResult {
                name: t.name,
                error_code: ErrorCode::TopicAuthorizationFailed.code(),
                error_message: Some("Authorization failed.".into()),
                num_partitions: -1,
                replication_factor: -1,
                configs: None,
                ..Default::default()
            });
            continue;
        }
        // Kafka shows the new topic's configs only to who may describe them.
        let configs_shown = authz.topic(AclOperation::DescribeConfigs, &t.name);
        let msg = CreateTopic {
            name: t.name.clone(),
            num_partitions: t.num_partitions,
            replication_factor: t.replication_factor,
            assignments: t
                .assignments
                .into_iter()
                .map(|a| (a.partition_index, a.broker_ids))
                .collect(),
            configs: t.configs.into_iter().map(|c| (c.name, c.value)).collect(),
            validate_only: req.validate_only,
        };
        let result = match ctx.broker.send(msg).await {
            Ok(Ok(created)) => CreatableTopicResult {
                name: t.name,
                topic_id: created.id,
                error_code: 0,
                num_partitions: created.num_partitions,
                replication_factor: created.replication_factor,
                topic_config_error_code: if configs_shown {
                    0
                } else {
                    ErrorCode::TopicAuthorizationFailed.code()
                },
                configs: (version >= 5 && configs_shown).then(|| {
                    created
                        .configs
                        .describe_topic(&ctx.config.load())
                        .into_iter()
                        .map(|e| CreatableTopicConfigs {
                            name: e.name,
                            value: e.value,
                            read_only: e.read_only,
                            config_source: e.source.code(),
                            is_sensitive: e.sensitive,
                            ..Default::default()
                        })
                        .collect()
                }),
                ..Default::default()
            },
            Ok(Err((code, message))) => CreatableTopicResult {
                name: t.name,
                error_code: code.code(),
                error_message: Some(message),
                num_partitions: -1,
                replication_factor: -1,
                configs: None,
                ..Default::default()
            },
            Err(e) => CreatableTopicResult {
                name: t.name,
                error_code: ErrorCode::UnknownServerError.code(),
                error_message: Some(e.to_string()),
                num_partitions: -1,
                replication_factor: -1,
                configs: None,
                ..Default::default()
            },
        };
        results.push(result);
    }
    CreateTopicsResponse {
        topics: results,
        ..Default::default()
    }
}
