//! AlterConfigs and IncrementalAlterConfigs for topic configs: every value is validated
//! before anything changes, validate_only is honoured, and changes take effect live.
//! Broker configs are static in Aeon: altering one is an error that says so.

use super::Node;
use crate::actors::broker::{AlterTopicConfigs, ConfigChange};
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

/// Kafka's ConfigResource types.
const TOPIC: i8 = 2;
const BROKER: i8 = 4;

async fn alter(
    node: &Node,
    resource_type: i8,
    name: &str,
    change: Result<ConfigChange, (ErrorCode, String)>,
    validate_only: bool,
) -> (ErrorCode, Option<String>) {
    let change = match (resource_type, change) {
        (_, Err((code, msg))) => return (code, Some(msg)),
        (TOPIC, Ok(change)) => change,
        (BROKER, Ok(_)) => {
            return (
                ErrorCode::InvalidRequest,
                Some("Aeon has no dynamic broker configs; set them in the config file".into()),
            );
        }
        (other, Ok(_)) => {
            return (
                ErrorCode::InvalidRequest,
                Some(format!("Unsupported resource type {other}")),
            )
        }
    };
    match node
        .broker
        .send(AlterTopicConfigs {
            name: name.to_owned(),
            change,
            validate_only,
        })
        .await
    {
        Ok(Ok(())) => (ErrorCode::None, None),
        Ok(Err((code, msg))) => (code, Some(msg)),
        Err(e) => (ErrorCode::UnknownServerError, Some(e.to_string())),
    }
}

pub async fn handle_legacy(node: &Node, req: AlterConfigsRequest) -> AlterConfigsResponse {
    let mut responses = Vec::with_capacity(req.resources.len());
    for r in req.resources {
        let change = Ok(ConfigChange::Replace(
            r.configs.into_iter().map(|c| (c.name, c.value)).collect(),
        ));
        let (code, message) = alter(
            node,
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
    node: &Node,
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
            node,
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
