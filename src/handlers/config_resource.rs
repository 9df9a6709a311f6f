//! The resources DescribeConfigs, AlterConfigs and IncrementalAlterConfigs address:
//! Kafka's ConfigResource type and name, checked once for all three so that they accept
//! the same resources and refuse the others with the same words.

use crate::protocol::ErrorCode;
use crate::security::acl::AclOperation;
use crate::security::authorizer::Authz;

/// Kafka's ConfigResource types that Aeon serves.
const TOPIC: i8 = 2;
const BROKER: i8 = 4;
const GROUP: i8 = 32;

/// A config resource this broker answers for.
pub(super) enum ConfigResource {
    /// The topic of the resource name (which may not exist).
    Topic,
    /// This broker: its id, or the empty name of the cluster-wide default.
    Broker,
    /// A consumer group's overrides (which may not exist yet, as in Kafka).
    Group,
}

impl ConfigResource {
    /// The resource a request names, or the error and message Kafka answers for one it
    /// cannot: another broker's id, or a type other than TOPIC, BROKER and GROUP.
    pub(super) fn parse(
        resource_type: i8,
        name: &str,
        node_id: i32,
    ) -> Result<Self, (ErrorCode, String)> {
        match resource_type {
            TOPIC => Ok(ConfigResource::Topic),
            GROUP => Ok(ConfigResource::Group),
            BROKER if name.is_empty() || name == node_id.to_string() => Ok(ConfigResource::Broker),
            BROKER => Err((
                ErrorCode::InvalidRequest,
                format!(
                    "Unexpected broker id, expected {node_id} or empty string, but received {name}"
                ),
            )),
            other => Err((
                ErrorCode::InvalidRequest,
                format!("Unsupported resource type {other}"),
            )),
        }
    }

    /// `operation` (DESCRIBE_CONFIGS or ALTER_CONFIGS) on the resource, as Kafka
    /// checks it: on the topic, the cluster for a broker, or the group.
    pub(super) fn authorize(
        &self,
        authz: &Authz<'_>,
        name: &str,
        operation: AclOperation,
    ) -> Result<(), (ErrorCode, String)> {
        let (allowed, code) = match self {
            ConfigResource::Topic => (
                authz.topic(operation, name),
                ErrorCode::TopicAuthorizationFailed,
            ),
            ConfigResource::Broker => (
                authz.cluster(operation),
                ErrorCode::ClusterAuthorizationFailed,
            ),
            ConfigResource::Group => (
                authz.group(operation, name),
                ErrorCode::GroupAuthorizationFailed,
            ),
        };
        if allowed {
            Ok(())
        } else {
            Err((code, "Authorization failed.".to_owned()))
        }
    }
}
