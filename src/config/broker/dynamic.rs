//! Broker configs changed on a running broker (Kafka's dynamic broker configs):
//! which keys may change, and the dynamic layer over the static values.

use super::*;

/// The broker keys Aeon changes on a running broker (Kafka's cluster-wide dynamic
/// configs that Aeon can apply live): the log defaults every topic without its own
/// override follows, and the fetch cap.
pub const DYNAMIC_BROKER_KEYS: &[&str] = &[
    "log.retention.ms",
    "log.retention.bytes",
    "log.segment.bytes",
    "log.roll.ms",
    "log.index.interval.bytes",
    "log.flush.interval.messages",
    "log.flush.interval.ms",
    "log.message.timestamp.type",
    "log.cleanup.policy",
    "message.max.bytes",
    "fetch.max.bytes",
];

impl Config {
    /// The values set before start, without the dynamic ones.
    pub(super) fn static_values(&self) -> BTreeMap<&'static str, (String, ValueOrigin)> {
        self.set_values
            .iter()
            .filter(|(_, (_, o))| *o != ValueOrigin::Dynamic)
            .map(|(k, v)| (*k, v.clone()))
            .collect()
    }

    pub(super) fn with_dynamic(
        static_values: BTreeMap<&'static str, (String, ValueOrigin)>,
        dynamic: BTreeMap<&'static str, String>,
    ) -> Result<Config, ConfigError> {
        let mut values = static_values;
        for (k, v) in &dynamic {
            values.insert(k, (v.clone(), ValueOrigin::Dynamic));
        }
        let mut config = Config::from_values(values)?;
        config.dynamic = dynamic;
        Ok(config)
    }

    /// Changes broker keys on the running broker: `Some` sets, `None` removes the dynamic
    /// value (the static one applies again). Only [`DYNAMIC_BROKER_KEYS`]; everything is
    /// validated before anything changes.
    pub fn set_dynamic(&mut self, changes: &[(String, Option<String>)]) -> Result<(), ConfigError> {
        let mut dynamic = self.dynamic.clone();
        for (key, value) in changes {
            let def = keys::broker_key(key).ok_or_else(|| ConfigError::UnknownKey {
                key: key.clone(),
                origin: "a dynamic update".into(),
            })?;
            if !DYNAMIC_BROKER_KEYS.contains(&def.name) {
                return Err(ConfigError::Unsupported {
                    key: def.name.to_owned(),
                    reason: format!("Cannot update these configs dynamically: {}", def.name),
                });
            }
            match value {
                Some(v) => {
                    dynamic.insert(def.name, def.validate(v)?);
                }
                None => {
                    dynamic.remove(def.name);
                }
            }
        }
        *self = Config::with_dynamic(self.static_values(), dynamic)?;
        Ok(())
    }

    /// The values changed on the running broker, by key (to persist them).
    pub fn dynamic_values(&self) -> impl Iterator<Item = (&str, &str)> {
        self.dynamic.iter().map(|(k, v)| (*k, v.as_str()))
    }
}

#[cfg(test)]
mod dynamic_tests {
    use super::*;

    #[test]
    fn dynamic_values_override_static_ones_and_removing_them_restores_the_static_value() {
        let mut c = Config::default();
        c.set("log.retention.hours", "24").expect("static");
        c.set_dynamic(&[("log.retention.ms".into(), Some("60000".into()))])
            .expect("dynamic");
        assert_eq!(c.log_retention_ms, Some(60_000));
        assert_eq!(c.origin("log.retention.ms"), Some(ValueOrigin::Dynamic));
        let e = c
            .describe()
            .into_iter()
            .find(|e| e.name == "log.retention.ms")
            .expect("listed");
        assert_eq!(e.source, ConfigSource::DynamicBroker);
        assert!(!e.read_only);
        // A later static change keeps the dynamic value on top.
        c.set("num.partitions", "3").expect("static");
        assert_eq!(c.log_retention_ms, Some(60_000));
        c.set_dynamic(&[("log.retention.ms".into(), None)])
            .expect("remove");
        assert_eq!(c.log_retention_ms, Some(24 * 3_600_000));
        assert!(
            c.set_dynamic(&[("num.partitions".into(), Some("2".into()))])
                .is_err(),
            "not a dynamic key"
        );
        assert!(
            c.set_dynamic(&[("log.retention.ms".into(), Some("soon".into()))])
                .is_err(),
            "validated"
        );
    }
}
