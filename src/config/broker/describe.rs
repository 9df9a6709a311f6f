//! The broker config as DescribeConfigs reports it (values, sources, synonyms) and as
//! the start-up log line lists it.

use super::*;
use crate::config::ConfigType;

/// Broker keys that set the same thing, highest precedence first.
const SYNONYM_FAMILIES: &[&[&str]] = &[
    &[
        "log.retention.ms",
        "log.retention.minutes",
        "log.retention.hours",
    ],
    &["log.roll.ms", "log.roll.hours"],
];

/// The keys after `name` in its family.
fn lower_precedence_synonyms(name: &str) -> &'static [&'static str] {
    SYNONYM_FAMILIES
        .iter()
        .find_map(|f| f.iter().position(|k| *k == name).map(|i| &f[i + 1..]))
        .unwrap_or(&[])
}

impl Config {
    /// Every known broker key, as DescribeConfigs for the broker resource reports it.
    pub fn describe(&self) -> Vec<ConfigEntry> {
        BROKER_KEYS
            .iter()
            .map(|def| self.describe_key(def))
            .collect()
    }

    pub(super) fn describe_key(&self, def: &KeyDef) -> ConfigEntry {
        let default = def.default.resolve();
        let mut synonyms = Vec::new();
        let (value, source) = match self.set_values.get(def.name) {
            Some((value, origin)) => {
                synonyms.push(ConfigSynonym {
                    name: def.name.to_owned(),
                    value: Some(value.clone()),
                    source: origin.source(),
                });
                // A dynamic value hides the static one, which Kafka still lists.
                if *origin == ValueOrigin::Dynamic {
                    if let Some((v, o)) = self.static_values().get(def.name) {
                        synonyms.push(ConfigSynonym {
                            name: def.name.to_owned(),
                            value: Some(v.clone()),
                            source: o.source(),
                        });
                    }
                }
                (Some(value.clone()), origin.source())
            }
            None => (default.clone(), ConfigSource::Default),
        };
        if default.is_some() {
            synonyms.push(ConfigSynonym {
                name: def.name.to_owned(),
                value: default,
                source: ConfigSource::Default,
            });
        }
        // Kafka also lists the keys of lower precedence that mean the same setting
        // (`log.retention.minutes`, `log.retention.hours` for `log.retention.ms`).
        for other in lower_precedence_synonyms(def.name) {
            if let Some((v, o)) = self.set_values.get(other) {
                synonyms.push(ConfigSynonym {
                    name: (*other).to_owned(),
                    value: Some(v.clone()),
                    source: o.source(),
                });
            }
            let other_default = keys::broker_key(other).and_then(|d| d.default.resolve());
            if other_default.is_some() {
                synonyms.push(ConfigSynonym {
                    name: (*other).to_owned(),
                    value: other_default,
                    source: ConfigSource::Default,
                });
            }
        }
        ConfigEntry {
            name: def.name.to_owned(),
            value,
            source,
            read_only: !DYNAMIC_BROKER_KEYS.contains(&def.name),
            // Keys and passwords are never shown, as in Kafka.
            sensitive: def.config_type == ConfigType::Password,
            config_type: def.config_type,
            documentation: def.doc.to_owned(),
            synonyms,
        }
    }

    /// One line with every key, for the log at start: `key=value`, with the origin of
    /// anything not a default.
    pub fn effective_summary(&self) -> String {
        BROKER_KEYS
            .iter()
            .map(|def| {
                let value = match self.value(def.name) {
                    Some(_) if def.config_type == ConfigType::Password => "[hidden]".to_owned(),
                    Some(v) => v,
                    None => "null".to_owned(),
                };
                match self.set_values.get(def.name) {
                    Some((_, origin)) => format!("{}={value} ({})", def.name, origin.label()),
                    None => format!("{}={value}", def.name),
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}
