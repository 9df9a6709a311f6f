//! AlterConfigs and IncrementalAlterConfigs for topic configs: every value is validated
//! before anything changes, validate_only is honoured, and changes take effect live.
//! Broker configs: the keys Aeon can change live (`config::DYNAMIC_BROKER_KEYS`), as
//! dynamic broker configs; the others are refused. Group configs: the consumer
//! protocol's per-group overrides.

use super::config_resource::ConfigResource;
use super::BrokerContext;
use crate::actors::broker::{
    AlterBrokerConfigs, AlterGroupConfigs, AlterTopicConfigs, ConfigChange,
};
use crate::config::AlterOp;
use crate::protocol::messages::alter_configs_request::AlterConfigsRequest;
use crate::protocol::messages::alter_configs_response::{
    AlterConfigsResourceResponse, AlterConfigsResponse,
};
use crate::protocol::messages::incremental_alter_configs_request::IncrementalAlterConfigsRequest;
use crate::protocol::messages::incremental_alter_configs_response::{
    self as incremental, IncrementalAlterConfigsResponse,
};
use crate::protocol::ErrorCode;
use crate::security::acl::AclOperation;
use crate::security::authorizer::Authz;

async fn alter(
    ctx: &BrokerContext,
    authz: &Authz<'_>,
    resource_type: i8,
    name: &str,
    change: Result<ConfigChange, (ErrorCode, String)>,
    validate_only: bool,
) -> (ErrorCode, Option<String>) {
    let change = match change {
        Ok(c) => c,
        Err((code, msg)) => return (code, Some(msg)),
    };
    let resource = match ConfigResource::parse(resource_type, name, ctx.node_id).and_then(|r| {
        r.authorize(authz, name, AclOperation::AlterConfigs)
            .map(|()| r)
    }) {
        Ok(r) => r,
        Err((code, msg)) => return (code, Some(msg)),
    };
    let sent = match resource {
        ConfigResource::Group => {
            ctx.broker
                .send(AlterGroupConfigs {
                    group_id: name.to_owned(),
                    change,
                    validate_only,
                })
                .await
        }
        ConfigResource::Topic => {
            ctx.broker
                .send(AlterTopicConfigs {
                    name: name.to_owned(),
                    change,
                    validate_only,
                })
                .await
        }
        ConfigResource::Broker => {
            let ops = match change {
                ConfigChange::Incremental(ops) => ops,
                // AlterConfigs replaces every dynamic value with the given set.
                ConfigChange::Replace(pairs) => {
                    let mut ops = Vec::new();
                    for (k, v) in &pairs {
                        match v {
                            Some(v) => ops.push(AlterOp::Set(k.clone(), v.clone())),
                            None => {
                                return (
                                    ErrorCode::InvalidRequest,
                                    Some(format!("Null value not supported for : {k}")),
                                )
                            }
                        }
                    }
                    let current = ctx.config.load();
                    ops.extend(
                        current
                            .dynamic_values()
                            .filter(|(k, _)| !pairs.iter().any(|(p, _)| p == k))
                            .map(|(k, _)| AlterOp::Delete(k.to_owned())),
                    );
                    ops
                }
            };
            ctx.broker
                .send(AlterBrokerConfigs { ops, validate_only })
                .await
        }
    };
    match sent {
        Ok(Ok(())) => (ErrorCode::None, None),
        Ok(Err((code, msg))) => (code, Some(msg)),
        Err(e) => (ErrorCode::UnknownServerError, Some(e.to_string())),
    }
}

pub async fn handle_legacy(
    ctx: &BrokerContext,
    authz: &Authz<'_>,
    req: AlterConfigsRequest,
) -> AlterConfigsResponse {
    let mut responses = Vec::with_capacity(req.resources.len());
    for r in req.resources {
        let change = Ok(ConfigChange::Replace(
            r.configs.into_iter().map(|c| (c.name, c.value)).collect(),
        ));
        let (code, message) = alter(
            ctx,
            authz,
            r.resource_type,
            &r.resource_name,
            change,
            req.validate_only,
        )
        .await;
        responses.push(AlterConfigsResourceResponse {
            error_code: code.code(),
            error_message: message,
            resource_type: r.resource_type,
            resource_name: r.resource_name,
            ..Default::default()
        });
    }
    AlterConfigsResponse {
        responses,
        ..Default::default()
    }
}

/// IncrementalAlterConfigs operations: 0 SET, 1 DELETE, 2 APPEND, 3 SUBTRACT.
fn op(name: String, operation: i8, value: Option<String>) -> Result<AlterOp, (ErrorCode, String)> {
    let value = || {
        value.clone().ok_or_else(|| {
            (
                ErrorCode::InvalidRequest,
                format!("Null value not supported for : {name}"),
            )
        })
    };
    Ok(match operation {
        0 => AlterOp::Set(name.clone(), value()?),
        1 => AlterOp::Delete(name),
        2 => AlterOp::Append(name.clone(), value()?),
        3 => AlterOp::Subtract(name.clone(), value()?),
        other => {
            return Err((
                ErrorCode::InvalidRequest,
                format!("Unknown config operation {other} for {name}"),
            ))
        }
    })
}

pub async fn handle_incremental(
    ctx: &BrokerContext,
    authz: &Authz<'_>,
    req: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let mut responses = Vec::with_capacity(req.resources.len());
    for r in req.resources {
        let mut seen = std::collections::HashSet::new();
        let ops: Result<Vec<AlterOp>, _> = r
            .configs
            .into_iter()
            .map(|c| {
                if !seen.insert(c.name.clone()) {
                    return Err((
                        ErrorCode::InvalidRequest,
                        format!("Error due to duplicate config keys: {}", c.name),
                    ));
                }
                op(c.name, c.config_operation, c.value)
            })
            .collect();
        let (code, message) = alter(
            ctx,
            authz,
            r.resource_type,
            &r.resource_name,
            ops.map(ConfigChange::Incremental),
            req.validate_only,
        )
        .await;
        responses.push(incremental::AlterConfigsResourceResponse {
            error_code: code.code(),
            error_message: message,
            resource_type: r.resource_type,
            resource_name: r.resource_name,
            ..Default::default()
        });
    }
    IncrementalAlterConfigsResponse {
        responses,
        ..Default::default()
    }
}
