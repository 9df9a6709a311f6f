//! DescribeConfigs: broker, topic and group configs with their value, source, read-only and
//! sensitive flags, type, documentation and synonyms, as Kafka reports them.

use super::config_resource::ConfigResource;
use super::BrokerContext;
use crate::actors::broker::DescribeGroupConfigs;
use crate::config::ConfigEntry;
use crate::protocol::messages::describe_configs_request::DescribeConfigsRequest;
use crate::protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResponse, DescribeConfigsResult,
    DescribeConfigsSynonym,
};
use crate::protocol::ErrorCode;
use crate::security::acl::AclOperation;
use crate::security::authorizer::Authz;

fn entry(e: ConfigEntry, synonyms: bool, docs: bool) -> DescribeConfigsResourceResult {
    DescribeConfigsResourceResult {
        name: e.name,
        value: if e.sensitive { None } else { e.value },
        read_only: e.read_only,
        config_source: e.source.code(),
        is_sensitive: e.sensitive,
        synonyms: if synonyms {
            e.synonyms
                .into_iter()
                .map(|s| DescribeConfigsSynonym {
                    name: s.name,
                    value: if e.sensitive { None } else { s.value },
                    source: s.source.code(),
                    ..Default::default()
                })
                .collect()
        } else {
            Vec::new()
        },
        config_type: e.config_type.code(),
        documentation: docs.then_some(e.documentation),
        ..Default::default()
    }
}

pub async fn handle(
    ctx: &BrokerContext,
    authz: &Authz<'_>,
    req: DescribeConfigsRequest,
    version: i16,
) -> DescribeConfigsResponse {
    let synonyms = version >= 1 && req.include_synonyms;
    let docs = version >= 3 && req.include_documentation;
    let mut results = Vec::with_capacity(req.resources.len());
    for r in req.resources {
        let resource = ConfigResource::parse(r.resource_type, &r.resource_name, ctx.node_id)
            .and_then(|resource| {
                resource
                    .authorize(authz, &r.resource_name, AclOperation::DescribeConfigs)
                    .map(|()| resource)
            });
        let entries = match resource {
            Ok(ConfigResource::Topic) => match ctx.routing.load().topic(&r.resource_name) {
                Some(t) => Ok(t.configs.describe_topic(&ctx.config.load())),
                None => Err((
                    ErrorCode::UnknownTopicOrPartition,
                    format!("Topic '{}' does not exist", r.resource_name),
                )),
            },
            Ok(ConfigResource::Broker) => Ok(ctx.config.load().describe()),
            Ok(ConfigResource::Group) => ctx
                .broker
                .send(DescribeGroupConfigs(r.resource_name.clone()))
                .await
                .map_err(|e| (ErrorCode::UnknownServerError, e.to_string())),
            Err(refused) => Err(refused),
        };
        results.push(match entries {
            Ok(entries) => DescribeConfigsResult {
                error_code: 0,
                error_message: None,
                resource_type: r.resource_type,
                resource_name: r.resource_name,
                configs: entries
                    .into_iter()
                    .filter(|e| {
                        r.configuration_keys
                            .as_ref()
                            .is_none_or(|keys| keys.contains(&e.name))
                    })
                    .map(|e| entry(e, synonyms, docs))
                    .collect(),
                ..Default::default()
            },
            Err((code, message)) => DescribeConfigsResult {
                error_code: code.code(),
                error_message: Some(message),
                resource_type: r.resource_type,
                resource_name: r.resource_name,
                ..Default::default()
            },
        });
    }
    DescribeConfigsResponse {
        results,
        ..Default::default()
    }
}
