//! Dynamic broker configs: the keys Kafka lets an operator change on a running broker
//! that Aeon can apply live (`config::DYNAMIC_BROKER_KEYS`). A change is validated,
//! persisted (`aeon-broker-configs.json`: a JSON object of key to value, replaced
//! atomically), published to the handlers, and pushed to every partition whose topic
//! does not override the key.

use super::{write_atomically, AdminError, BrokerActor};
use crate::config::{AlterOp, Config};
use crate::protocol::ErrorCode;
use actix::prelude::*;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

const FILE: &str = "aeon-broker-configs.json";

/// The config with the dynamic values persisted by an earlier run.
pub(super) fn load(dir: &Path, config: &Arc<Config>) -> anyhow::Result<Arc<Config>> {
    let path = dir.join(FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(config.clone()),
        Err(e) => anyhow::bail!("reading {}: {e}", path.display()),
    };
    let values: BTreeMap<String, String> = serde_json::from_str(&text)
        .map_err(|e| anyhow::anyhow!("parsing {}: {e}", path.display()))?;
    let mut updated = (**config).clone();
    let changes: Vec<(String, Option<String>)> =
        values.into_iter().map(|(k, v)| (k, Some(v))).collect();
    updated
        .set_dynamic(&changes)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(Arc::new(updated))
}

/// IncrementalAlterConfigs (or AlterConfigs) on the broker resource.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<(), AdminError>")]
pub struct AlterBrokerConfigs {
    pub ops: Vec<AlterOp>,
    pub validate_only: bool,
}

impl BrokerActor {
    fn apply_broker_ops(&self, ops: &[AlterOp]) -> Result<Config, AdminError> {
        let invalid = |e: crate::config::ConfigError| (ErrorCode::InvalidConfig, e.to_string());
        let mut changes = Vec::with_capacity(ops.len());
        for op in ops {
            match op {
                AlterOp::Set(k, v) => changes.push((k.clone(), Some(v.clone()))),
                AlterOp::Delete(k) => changes.push((k.clone(), None)),
                AlterOp::Append(k, _) | AlterOp::Subtract(k, _) => {
                    return Err((ErrorCode::InvalidConfig, format!("Config value append or subtract is not supported for broker config: {k}")));
                }
            }
        }
        let mut next = (*self.config).clone();
        next.set_dynamic(&changes).map_err(invalid)?;
        Ok(next)
    }
}

impl Handler<AlterBrokerConfigs> for BrokerActor {
    type Result = Result<(), AdminError>;

    fn handle(&mut self, msg: AlterBrokerConfigs, _: &mut Context<Self>) -> Self::Result {
        let next = self.apply_broker_ops(&msg.ops)?;
        if msg.validate_only {
            return Ok(());
        }
        let values: BTreeMap<&str, &str> = next.dynamic_values().collect();
        let json = serde_json::to_vec_pretty(&values)
            .map_err(|e| (ErrorCode::UnknownServerError, e.to_string()))?;
        write_atomically(&self.data_dir.join(FILE), &json).map_err(|e| {
            (
                ErrorCode::KafkaStorageError,
                format!("persisting broker configs: {e}"),
            )
        })?;
        self.config = Arc::new(next);
        self.shared_config.store(self.config.clone());
        // Every topic's effective config may follow the changed broker default.
        for t in self.topics.values() {
            t.send_log_config(&self.config);
        }
        self.publish();
        tracing::info!(changes = ?msg.ops, "dynamic broker configs changed");
        Ok(())
    }
}
