//! Per-group config overrides: Kafka 4.x's GROUP config resource, for the consumer
//! protocol's `consumer.session.timeout.ms` and `consumer.heartbeat.interval.ms`. Set
//! with IncrementalAlterConfigs (or AlterConfigs), read with DescribeConfigs, bounded by
//! the broker's `group.consumer.min/max.*` keys, kept in `aeon-group-configs.json`
//! (replaced atomically on every change) and handed to the group's coordinator at once.

use std::collections::BTreeMap;
use std::path::Path;

use actix::prelude::*;

use super::store::write_atomically;
use super::{AdminError, BrokerActor, ConfigChange};
use crate::actors::group_coordinator::UpdateGroupConfig;
use crate::config::{AlterOp, ConfigEntry, ConfigSource, ConfigType};
use crate::group::GroupConfig;
use crate::protocol::ErrorCode;

pub(super) const GROUP_CONFIGS_FILE: &str = "aeon-group-configs.json";

const SESSION: &str = "consumer.session.timeout.ms";
const HEARTBEAT: &str = "consumer.heartbeat.interval.ms";

/// The overrides of every group that has one: group id -> key -> value.
pub(super) type GroupOverrides = BTreeMap<String, BTreeMap<String, String>>;

/// AlterConfigs / IncrementalAlterConfigs on a GROUP resource.
#[derive(Message)]
#[rtype(result = "Result<(), AdminError>")]
pub struct AlterGroupConfigs {
    pub group_id: String,
    pub change: ConfigChange,
    pub validate_only: bool,
}

/// DescribeConfigs on a GROUP resource: every group key, set or defaulted.
#[derive(Message)]
#[rtype(result = "Vec<ConfigEntry>")]
pub struct DescribeGroupConfigs(pub String);

pub(super) fn load(dir: &Path) -> anyhow::Result<GroupOverrides> {
    let path = dir.join(GROUP_CONFIGS_FILE);
    if !path.exists() {
        return Ok(GroupOverrides::new());
    }
    let text = std::fs::read_to_string(&path)
        .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("parsing {}: {e}", path.display()))
}

fn invalid(message: String) -> AdminError {
    (ErrorCode::InvalidConfig, message)
}

impl BrokerActor {
    /// The settings of one group: the broker's, with the group's overrides.
    pub(super) fn group_config_for(&self, group_id: &str) -> GroupConfig {
        let mut config = self.group_config();
        if let Some(o) = self.group_overrides.get(group_id) {
            if let Some(v) = o.get(SESSION).and_then(|v| v.parse().ok()) {
                config.consumer.session_timeout_ms = v;
            }
            if let Some(v) = o.get(HEARTBEAT).and_then(|v| v.parse().ok()) {
                config.consumer.heartbeat_interval_ms = v;
            }
        }
        config
    }

    /// The overrides after `change`, checked as Kafka's `GroupConfig.validate` does.
    fn changed_overrides(
        &self,
        group_id: &str,
        change: ConfigChange,
    ) -> Result<BTreeMap<String, String>, AdminError> {
        let mut overrides = self
            .group_overrides
            .get(group_id)
            .cloned()
            .unwrap_or_default();
        let ops = match change {
            ConfigChange::Incremental(ops) => ops,
            ConfigChange::Replace(pairs) => {
                overrides.clear();
                pairs
                    .into_iter()
                    .map(|(k, v)| match v {
                        Some(v) => AlterOp::Set(k, v),
                        None => AlterOp::Delete(k),
                    })
                    .collect()
            }
        };
        for op in ops {
            let name = op.name().to_string();
            if name != SESSION && name != HEARTBEAT {
                return Err(invalid(format!("Unknown group config name: {name}")));
            }
            match op {
                AlterOp::Set(k, v) => {
                    overrides.insert(k, v);
                }
                AlterOp::Delete(k) => {
                    overrides.remove(&k);
                }
                AlterOp::Append(..) | AlterOp::Subtract(..) => {
                    return Err((
                        ErrorCode::InvalidConfig,
                        format!("{name} is not a list: APPEND and SUBTRACT do not apply"),
                    ))
                }
            }
        }
        let c = &self.config;
        let bounds = [
            (
                SESSION,
                c.group_consumer_min_session_timeout_ms,
                c.group_consumer_max_session_timeout_ms,
            ),
            (
                HEARTBEAT,
                c.group_consumer_min_heartbeat_interval_ms,
                c.group_consumer_max_heartbeat_interval_ms,
            ),
        ];
        let mut values = [
            c.group_consumer_session_timeout_ms,
            c.group_consumer_heartbeat_interval_ms,
        ];
        for (i, (key, min, max)) in bounds.into_iter().enumerate() {
            if let Some(v) = overrides.get(key) {
                let n: u32 = v
                    .parse()
                    .map_err(|_| invalid(format!("Invalid value {v} for configuration {key}")))?;
                if !(min..=max).contains(&n) {
                    return Err(invalid(format!(
                        "Invalid value {v} for configuration {key}: must be between {min} and {max}"
                    )));
                }
                values[i] = n;
            }
        }
        if values[1] >= values[0] {
            return Err(invalid(format!(
                "{HEARTBEAT} ({}) must be less than {SESSION} ({})",
                values[1], values[0]
            )));
        }
        Ok(overrides)
    }
}

impl Handler<AlterGroupConfigs> for BrokerActor {
    type Result = Result<(), AdminError>;

    fn handle(&mut self, msg: AlterGroupConfigs, _: &mut Context<Self>) -> Self::Result {
        if msg.group_id.is_empty() {
            return Err((
                ErrorCode::InvalidRequest,
                "Group name must not be empty".into(),
            ));
        }
        let overrides = self.changed_overrides(&msg.group_id, msg.change)?;
        if msg.validate_only {
            return Ok(());
        }
        let mut all = self.group_overrides.clone();
        if overrides.is_empty() {
            all.remove(&msg.group_id);
        } else {
            all.insert(msg.group_id.clone(), overrides);
        }
        let bytes = serde_json::to_vec_pretty(&all).unwrap_or_default();
        write_atomically(&self.data_dir.join(GROUP_CONFIGS_FILE), &bytes).map_err(|e| {
            tracing::error!(error = %e, "storing group configs failed");
            (ErrorCode::KafkaStorageError, e.to_string())
        })?;
        self.group_overrides = all;
        if let Some(coordinator) = self.groups.get(&msg.group_id) {
            coordinator.do_send(UpdateGroupConfig(self.group_config_for(&msg.group_id)));
        }
        tracing::info!(group_id = %msg.group_id, "group configs changed");
        Ok(())
    }
}

impl Handler<DescribeGroupConfigs> for BrokerActor {
    type Result = MessageResult<DescribeGroupConfigs>;

    fn handle(&mut self, msg: DescribeGroupConfigs, _: &mut Context<Self>) -> Self::Result {
        let overrides = self.group_overrides.get(&msg.0);
        let defaults = [
            (
                SESSION,
                self.config.group_consumer_session_timeout_ms,
                "How long a member may go without a heartbeat before it is removed, in milliseconds.",
            ),
            (
                HEARTBEAT,
                self.config.group_consumer_heartbeat_interval_ms,
                "How often members heartbeat, in milliseconds.",
            ),
        ];
        MessageResult(
            defaults
                .into_iter()
                .map(|(key, default, doc)| {
                    let set = overrides.and_then(|o| o.get(key));
                    ConfigEntry {
                        name: key.to_string(),
                        value: Some(set.cloned().unwrap_or_else(|| default.to_string())),
                        source: if set.is_some() {
                            ConfigSource::Group
                        } else {
                            ConfigSource::Default
                        },
                        read_only: false,
                        sensitive: false,
                        config_type: ConfigType::Int,
                        documentation: doc.to_string(),
                        synonyms: Vec::new(),
                    }
                })
                .collect(),
        )
    }
}
