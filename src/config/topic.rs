//! Per-topic configs: validated overrides, their DescribeConfigs view, and the typed
//! [`EffectiveTopicConfig`] the storage layer consumes.
//!
//! A topic config not overridden takes its value from its broker synonym
//! (`retention.ms` <- `log.retention.ms` / `.minutes` / `.hours`, `segment.bytes` <-
//! `log.segment.bytes`, ...), else from Kafka's default.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::broker::Config;
use super::entry::{ConfigEntry, ConfigSource, ConfigSynonym, ConfigType};
use super::error::ConfigError;
use super::keys::{self, TopicKeyDef, TOPIC_KEYS};

/// One IncrementalAlterConfigs operation on a topic config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlterOp {
    Set(String, String),
    Delete(String),
    Append(String, String),
    Subtract(String, String),
}

impl AlterOp {
    pub fn name(&self) -> &str {
        match self {
            AlterOp::Set(n, _)
            | AlterOp::Delete(n)
            | AlterOp::Append(n, _)
            | AlterOp::Subtract(n, _) => n,
        }
    }
}

/// Which timestamp a topic keeps: the record-batch attribute itself.
pub use crate::protocol::records::TimestampType;

/// Parses Kafka's spelling of `message.timestamp.type`.
pub(crate) fn parse_timestamp_type(key: &str, value: &str) -> Result<TimestampType, ConfigError> {
    match value.trim() {
        "CreateTime" => Ok(TimestampType::CreateTime),
        "LogAppendTime" => Ok(TimestampType::LogAppendTime),
        _ => Err(ConfigError::invalid(
            key,
            "one of CreateTime, LogAppendTime",
            value,
        )),
    }
}

/// Kafka's spelling of a timestamp type.
pub fn timestamp_type_name(t: TimestampType) -> &'static str {
    match t {
        TimestampType::CreateTime => "CreateTime",
        TimestampType::LogAppendTime => "LogAppendTime",
    }
}

/// What happens to old segments; both may be on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CleanupPolicy {
    pub delete: bool,
    pub compact: bool,
}

impl CleanupPolicy {
    pub(crate) fn parse(key: &str, value: &str) -> Result<Self, ConfigError> {
        let mut policy = CleanupPolicy {
            delete: false,
            compact: false,
        };
        for item in value.split(',').map(str::trim) {
            match item {
                "delete" => policy.delete = true,
                "compact" => policy.compact = true,
                _ => {
                    return Err(ConfigError::invalid(
                        key,
                        "a comma-separated list of compact, delete",
                        value,
                    ))
                }
            }
        }
        Ok(policy)
    }
}

impl fmt::Display for CleanupPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.delete, self.compact) {
            (true, true) => f.write_str("delete,compact"),
            (false, true) => f.write_str("compact"),
            _ => f.write_str("delete"),
        }
    }
}

/// The topic settings storage needs, resolved (override, else broker, else default).
#[derive(Debug, Clone, PartialEq)]
pub struct EffectiveTopicConfig {
    /// `segment.bytes`.
    pub segment_bytes: u64,
    /// `segment.ms`; `None` = never roll on time.
    pub segment_ms: Option<u64>,
    /// `segment.jitter.ms`.
    pub segment_jitter_ms: u64,
    /// `segment.index.bytes`: the largest offset / time index file.
    pub segment_index_bytes: u32,
    /// `retention.ms`; `None` = unlimited (-1).
    pub retention_ms: Option<u64>,
    /// `retention.bytes`; `None` = unlimited (-1).
    pub retention_bytes: Option<u64>,
    /// `index.interval.bytes`.
    pub index_interval_bytes: u32,
    /// `flush.messages`; `None` = never (Kafka's `i64::MAX`).
    pub flush_messages: Option<u64>,
    /// `flush.ms`; `None` = never.
    pub flush_ms: Option<u64>,
    /// `max.message.bytes`: the largest record batch.
    pub max_message_bytes: u32,
    /// `message.timestamp.type`.
    pub timestamp_type: TimestampType,
    /// `message.timestamp.before.max.ms`.
    pub timestamp_before_max_ms: u64,
    /// `message.timestamp.after.max.ms`.
    pub timestamp_after_max_ms: u64,
    /// `cleanup.policy`.
    pub cleanup_policy: CleanupPolicy,
    /// `delete.retention.ms`.
    pub delete_retention_ms: u64,
    /// `min.compaction.lag.ms`.
    pub min_compaction_lag_ms: u64,
    /// `max.compaction.lag.ms`.
    pub max_compaction_lag_ms: u64,
    /// `min.cleanable.dirty.ratio`.
    pub min_cleanable_dirty_ratio: f64,
    /// `file.delete.delay.ms`.
    pub file_delete_delay_ms: u64,
    /// `preallocate`.
    pub preallocate: bool,
    /// `compression.type`.
    pub compression_type: String,
    /// `min.insync.replicas`.
    pub min_insync_replicas: u32,
    /// `compression.gzip.level` (-1: the codec's default).
    pub compression_gzip_level: i32,
    /// `compression.zstd.level`.
    pub compression_zstd_level: i32,
    /// The broker's `log.flush.before.ack` (Aeon only).
    pub flush_before_ack: bool,
    /// The broker's `producer.id.expiration.ms`.
    pub producer_id_expiration_ms: u32,
}

/// A topic's config overrides: only validated values of known topic configs.
///
/// Serialises as a map of name to value (to persist with the topic metadata);
/// deserialising validates again, so a hand-edited file cannot smuggle in bad values.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    try_from = "BTreeMap<String, String>",
    into = "BTreeMap<String, String>"
)]
pub struct TopicConfigs {
    overrides: BTreeMap<String, String>,
}

impl TryFrom<BTreeMap<String, String>> for TopicConfigs {
    type Error = ConfigError;

    fn try_from(map: BTreeMap<String, String>) -> Result<Self, ConfigError> {
        TopicConfigs::from_overrides(map)
    }
}

impl From<TopicConfigs> for BTreeMap<String, String> {
    fn from(configs: TopicConfigs) -> Self {
        configs.overrides
    }
}

impl TopicConfigs {
    /// Checks one topic config and returns its normalised value.
    /// An unknown name is [`ConfigError::UnknownTopicConfig`] (Kafka's INVALID_CONFIG).
    pub fn validate(name: &str, value: &str) -> Result<String, ConfigError> {
        let def = keys::topic_key(name)
            .ok_or_else(|| ConfigError::UnknownTopicConfig(name.to_owned()))?;
        def.key.validate(value)
    }

    /// Builds the overrides from (name, value) pairs, validating every one.
    pub fn from_overrides<K, V>(
        overrides: impl IntoIterator<Item = (K, V)>,
    ) -> Result<TopicConfigs, ConfigError>
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut configs = TopicConfigs::default();
        for (name, value) in overrides {
            configs.set(name.as_ref(), value.as_ref())?;
        }
        Ok(configs)
    }

    /// Sets one override; on error nothing changes.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), ConfigError> {
        let value = Self::validate(name, value)?;
        self.overrides.insert(name.to_owned(), value);
        Ok(())
    }

    /// Removes an override (the topic falls back to the broker value); returns the old value.
    pub fn remove(&mut self, name: &str) -> Option<String> {
        self.overrides.remove(name)
    }

    /// The override of `name`, if any.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.overrides.get(name).map(String::as_str)
    }

    /// The overrides after `ops` (IncrementalAlterConfigs), all validated before
    /// anything changes; `self` is untouched. APPEND and SUBTRACT work on list configs
    /// only, starting from the topic's current value (its override, else the broker's).
    pub fn altered(&self, ops: &[AlterOp], broker: &Config) -> Result<TopicConfigs, ConfigError> {
        let mut next = self.clone();
        for op in ops {
            let name = op.name();
            let def = keys::topic_key(name)
                .ok_or_else(|| ConfigError::UnknownTopicConfig(name.to_owned()))?;
            let list = def.key.config_type == ConfigType::List;
            match op {
                AlterOp::Set(_, value) => next.set(name, value)?,
                AlterOp::Delete(_) => {
                    next.remove(name);
                }
                AlterOp::Append(_, value) | AlterOp::Subtract(_, value) => {
                    if !list {
                        let verb = if matches!(op, AlterOp::Append(..)) {
                            "append"
                        } else {
                            "subtract"
                        };
                        return Err(ConfigError::Unsupported {
                            key: name.to_owned(),
                            reason: format!(
                                "Config value {verb} is not allowed for config key: {name}"
                            ),
                        });
                    }
                    let current = next.describe_one(def, broker).value.unwrap_or_default();
                    let mut items: Vec<String> = current
                        .split(',')
                        .map(str::trim)
                        .filter(|v| !v.is_empty())
                        .map(str::to_owned)
                        .collect();
                    for v in value.split(',').map(str::trim).filter(|v| !v.is_empty()) {
                        if matches!(op, AlterOp::Append(..)) {
                            if !items.iter().any(|i| i == v) {
                                items.push(v.to_owned());
                            }
                        } else {
                            items.retain(|i| i != v);
                        }
                    }
                    next.set(name, &items.join(","))?;
                }
            }
        }
        Ok(next)
    }

    /// All overrides, by name.
    pub fn overrides(&self) -> &BTreeMap<String, String> {
        &self.overrides
    }

    /// Every topic config with its effective value, as DescribeConfigs for a topic
    /// reports it; synonyms list the override, then set broker keys, then the default.
    pub fn describe_topic(&self, broker: &Config) -> Vec<ConfigEntry> {
        TOPIC_KEYS
            .iter()
            .map(|def| self.describe_one(def, broker))
            .collect()
    }

    fn describe_one(&self, def: &TopicKeyDef, broker: &Config) -> ConfigEntry {
        let name = def.key.name;
        let mut synonyms = Vec::new();
        if let Some(value) = self.overrides.get(name) {
            synonyms.push(ConfigSynonym {
                name: name.to_owned(),
                value: Some(value.clone()),
                source: ConfigSource::DynamicTopic,
            });
        }
        let mut broker_set = false;
        for synonym in def.broker_synonyms {
            if let Some(origin) = broker.origin(synonym) {
                if origin.source() != ConfigSource::Default {
                    broker_set = true;
                    synonyms.push(ConfigSynonym {
                        name: (*synonym).to_owned(),
                        value: broker.value(synonym),
                        source: origin.source(),
                    });
                }
            }
        }
        // The default, under the broker key that carries one (log.retention.hours=168
        // for retention.ms), else under the first synonym in the topic's own units.
        let broker_default = def.broker_synonyms.iter().find_map(|synonym| {
            let key = keys::broker_key(synonym)?;
            Some((key.name, key.default.resolve()?))
        });
        let default_synonym = broker_default.or_else(|| {
            let first = def.broker_synonyms.first()?;
            Some((*first, def.key.default.resolve()?))
        });
        if let Some((synonym, value)) = default_synonym {
            synonyms.push(ConfigSynonym {
                name: synonym.to_owned(),
                value: Some(value),
                source: ConfigSource::Default,
            });
        }
        let source = if self.overrides.contains_key(name) {
            ConfigSource::DynamicTopic
        } else if broker_set {
            ConfigSource::StaticBroker
        } else {
            ConfigSource::Default
        };
        ConfigEntry {
            name: name.to_owned(),
            value: Some(self.value_of(def, broker)),
            source,
            read_only: false,
            sensitive: false,
            config_type: def.key.config_type,
            documentation: def.key.doc.to_owned(),
            synonyms,
        }
    }

    /// The effective value of a topic config: override, else broker, else default.
    fn value_of(&self, def: &TopicKeyDef, broker: &Config) -> String {
        let name = def.key.name;
        self.overrides
            .get(name)
            .cloned()
            .or_else(|| broker_value(name, broker))
            .or_else(|| def.key.default.resolve())
            .unwrap_or_default()
    }

    /// The typed settings storage needs for this topic.
    pub fn effective(&self, broker: &Config) -> EffectiveTopicConfig {
        let v = |name: &str| {
            keys::topic_key(name).map_or_else(String::new, |def| self.value_of(def, broker))
        };
        // Every value passed validation for its key, so these parses cannot fail; the
        // fallbacks only keep this function total.
        let long = |name: &str| v(name).parse::<i64>().unwrap_or(0);
        let non_negative = |name: &str| u64::try_from(long(name)).unwrap_or(0);
        let never_if_max = |name: &str| match long(name) {
            i64::MAX => None,
            n => u64::try_from(n).ok(),
        };
        let small = |name: &str| u32::try_from(long(name)).unwrap_or(u32::MAX);
        EffectiveTopicConfig {
            segment_bytes: non_negative("segment.bytes"),
            segment_ms: never_if_max("segment.ms"),
            segment_jitter_ms: non_negative("segment.jitter.ms"),
            segment_index_bytes: small("segment.index.bytes"),
            retention_ms: u64::try_from(long("retention.ms")).ok(),
            retention_bytes: u64::try_from(long("retention.bytes")).ok(),
            index_interval_bytes: small("index.interval.bytes"),
            flush_messages: never_if_max("flush.messages"),
            flush_ms: never_if_max("flush.ms"),
            max_message_bytes: small("max.message.bytes"),
            timestamp_type: parse_timestamp_type(
                "message.timestamp.type",
                &v("message.timestamp.type"),
            )
            .unwrap_or(TimestampType::CreateTime),
            timestamp_before_max_ms: non_negative("message.timestamp.before.max.ms"),
            timestamp_after_max_ms: non_negative("message.timestamp.after.max.ms"),
            cleanup_policy: CleanupPolicy::parse("cleanup.policy", &v("cleanup.policy")).unwrap_or(
                CleanupPolicy {
                    delete: true,
                    compact: false,
                },
            ),
            delete_retention_ms: non_negative("delete.retention.ms"),
            min_compaction_lag_ms: non_negative("min.compaction.lag.ms"),
            max_compaction_lag_ms: non_negative("max.compaction.lag.ms"),
            min_cleanable_dirty_ratio: v("min.cleanable.dirty.ratio").parse().unwrap_or(0.5),
            file_delete_delay_ms: non_negative("file.delete.delay.ms"),
            preallocate: v("preallocate") == "true",
            compression_type: v("compression.type"),
            min_insync_replicas: u32::try_from(long("min.insync.replicas")).unwrap_or(1),
            compression_gzip_level: v("compression.gzip.level").parse().unwrap_or(-1),
            compression_zstd_level: v("compression.zstd.level").parse().unwrap_or(3),
            flush_before_ack: broker.log_flush_before_ack,
            producer_id_expiration_ms: broker.producer_id_expiration_ms,
        }
    }
}

/// The broker's resolved value for a topic config, in the topic config's units, when
/// Aeon has the broker key; `None` when the topic default applies.
fn broker_value(topic_config: &str, broker: &Config) -> Option<String> {
    let as_i64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    Some(match topic_config {
        "segment.bytes" => broker.log_segment_bytes.to_string(),
        "segment.ms" => broker.log_roll_ms.to_string(),
        "segment.index.bytes" => broker.log_index_size_max_bytes.to_string(),
        "flush.messages" => broker.log_flush_interval_messages.to_string(),
        "flush.ms" => broker
            .log_flush_interval_ms
            .map_or(i64::MAX, as_i64)
            .to_string(),
        "retention.ms" => broker.log_retention_ms.map_or(-1, as_i64).to_string(),
        "retention.bytes" => broker.log_retention_bytes.map_or(-1, as_i64).to_string(),
        "max.message.bytes" => broker.message_max_bytes.to_string(),
        "index.interval.bytes" => broker.log_index_interval_bytes.to_string(),
        "cleanup.policy" => broker.log_cleanup_policy.to_string(),
        "compression.type" => broker.compression_type.clone(),
        "file.delete.delay.ms" => broker.log_segment_delete_delay_ms.to_string(),
        "message.timestamp.type" => {
            timestamp_type_name(broker.log_message_timestamp_type).to_owned()
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn broker(toml: &str) -> Config {
        let mut config = Config::default();
        config
            .apply_toml(toml, "test.toml")
            .unwrap_or_else(|e| panic!("{e}"));
        config
    }

    fn entry(entries: &[ConfigEntry], name: &str) -> ConfigEntry {
        entries
            .iter()
            .find(|e| e.name == name)
            .cloned()
            .unwrap_or_else(|| panic!("no entry {name}"))
    }

    fn synonyms(e: &ConfigEntry) -> Vec<(&str, Option<&str>, ConfigSource)> {
        e.synonyms
            .iter()
            .map(|s| (s.name.as_str(), s.value.as_deref(), s.source))
            .collect()
    }

    #[test]
    fn unknown_topic_config_is_an_error_naming_it() {
        let err = TopicConfigs::validate("retention.msec", "1").expect_err("unknown");
        assert!(matches!(err, ConfigError::UnknownTopicConfig(_)));
        assert!(err.to_string().contains("retention.msec"), "{err}");
        assert!(TopicConfigs::from_overrides([("log.retention.ms", "1")]).is_err());
    }

    #[test]
    fn topic_config_rejects_bad_enum_values() {
        for (name, value) in [
            ("cleanup.policy", "shred"),
            ("cleanup.policy", ""),
            ("compression.type", "brotli"),
            ("message.timestamp.type", "createtime"),
            ("preallocate", "maybe"),
        ] {
            let err = TopicConfigs::validate(name, value).expect_err(value);
            assert!(err.to_string().contains(name), "{err}");
        }
    }

    #[test]
    fn topic_config_rejects_out_of_range_values() {
        for (name, value) in [
            ("segment.bytes", "1000"),
            ("segment.ms", "0"),
            ("retention.ms", "-2"),
            ("min.insync.replicas", "0"),
            ("min.cleanable.dirty.ratio", "1.5"),
            ("max.message.bytes", "-1"),
            ("compression.gzip.level", "0"),
            ("segment.index.bytes", "3"),
        ] {
            let err = TopicConfigs::validate(name, value).expect_err(value);
            assert!(err.to_string().contains(name), "{name}={value}: {err}");
        }
    }

    #[test]
    fn topic_config_values_are_normalised() {
        let configs = TopicConfigs::from_overrides([
            ("cleanup.policy", "compact, delete"),
            ("retention.ms", " 1000 "),
            ("preallocate", "TRUE"),
        ])
        .expect("valid");
        assert_eq!(configs.get("cleanup.policy"), Some("compact,delete"));
        assert_eq!(configs.get("retention.ms"), Some("1000"));
        assert_eq!(configs.get("preallocate"), Some("true"));
    }

    #[test]
    fn describe_topic_lists_every_topic_config_kafka_defines() {
        let entries = TopicConfigs::default().describe_topic(&Config::default());
        assert_eq!(entries.len(), TOPIC_KEYS.len());
        for name in [
            "cleanup.policy",
            "compression.type",
            "delete.retention.ms",
            "file.delete.delay.ms",
            "flush.messages",
            "flush.ms",
            "index.interval.bytes",
            "max.compaction.lag.ms",
            "max.message.bytes",
            "message.timestamp.type",
            "message.timestamp.before.max.ms",
            "message.timestamp.after.max.ms",
            "min.cleanable.dirty.ratio",
            "min.compaction.lag.ms",
            "min.insync.replicas",
            "retention.bytes",
            "retention.ms",
            "segment.bytes",
            "segment.index.bytes",
            "segment.jitter.ms",
            "segment.ms",
            "unclean.leader.election.enable",
            "preallocate",
        ] {
            assert!(entries.iter().any(|e| e.name == name), "{name}");
        }
        assert!(entries
            .iter()
            .all(|e| !e.read_only && !e.sensitive && e.value.is_some()));
    }

    #[test]
    fn describe_topic_without_overrides_reports_defaults() {
        let entries = TopicConfigs::default().describe_topic(&Config::default());
        let retention = entry(&entries, "retention.ms");
        assert_eq!(retention.value.as_deref(), Some("604800000"));
        assert_eq!(retention.source, ConfigSource::Default);
        assert_eq!(
            synonyms(&retention),
            vec![("log.retention.hours", Some("168"), ConfigSource::Default)]
        );
        let delete_retention = entry(&entries, "delete.retention.ms");
        assert_eq!(delete_retention.value.as_deref(), Some("86400000"));
        assert_eq!(
            synonyms(&delete_retention),
            vec![(
                "log.cleaner.delete.retention.ms",
                Some("86400000"),
                ConfigSource::Default
            )]
        );
    }

    #[test]
    fn describe_topic_follows_the_broker_synonym_when_the_broker_sets_it() {
        let broker = broker("log.retention.hours = 1\nlog.segment.bytes = 2097152");
        let entries = TopicConfigs::default().describe_topic(&broker);
        let retention = entry(&entries, "retention.ms");
        assert_eq!(retention.value.as_deref(), Some("3600000"));
        assert_eq!(retention.source, ConfigSource::StaticBroker);
        assert_eq!(
            synonyms(&retention),
            vec![
                ("log.retention.hours", Some("1"), ConfigSource::StaticBroker),
                ("log.retention.hours", Some("168"), ConfigSource::Default),
            ]
        );
        let segment = entry(&entries, "segment.bytes");
        assert_eq!(segment.value.as_deref(), Some("2097152"));
        assert_eq!(segment.source, ConfigSource::StaticBroker);
    }

    #[test]
    fn describe_topic_override_comes_first_then_broker_then_default() {
        let broker = broker("log.retention.hours = 1");
        let configs = TopicConfigs::from_overrides([("retention.ms", "5000")]).expect("valid");
        let retention = entry(&configs.describe_topic(&broker), "retention.ms");
        assert_eq!(retention.value.as_deref(), Some("5000"));
        assert_eq!(retention.source, ConfigSource::DynamicTopic);
        assert_eq!(retention.source.code(), 1);
        assert_eq!(
            synonyms(&retention),
            vec![
                ("retention.ms", Some("5000"), ConfigSource::DynamicTopic),
                ("log.retention.hours", Some("1"), ConfigSource::StaticBroker),
                ("log.retention.hours", Some("168"), ConfigSource::Default),
            ]
        );
    }

    #[test]
    fn effective_takes_override_else_broker_else_default() {
        let broker = broker(
            "log.segment.bytes = 2097152\nlog.retention.ms = -1\nlog.flush.before.ack = true",
        );
        let configs = TopicConfigs::from_overrides([
            ("segment.ms", "60000"),
            ("cleanup.policy", "compact,delete"),
            ("message.timestamp.type", "LogAppendTime"),
            ("flush.messages", "1"),
        ])
        .expect("valid");
        let e = configs.effective(&broker);
        assert_eq!(e.segment_bytes, 2_097_152);
        assert_eq!(e.segment_ms, Some(60_000));
        assert_eq!(e.retention_ms, None);
        assert_eq!(e.retention_bytes, None);
        assert_eq!(e.flush_messages, Some(1));
        assert_eq!(e.flush_ms, None);
        assert_eq!(e.timestamp_type, TimestampType::LogAppendTime);
        assert_eq!(
            e.cleanup_policy,
            CleanupPolicy {
                delete: true,
                compact: true
            }
        );
        assert!(e.flush_before_ack);
        assert_eq!(e.index_interval_bytes, 4096);
        assert_eq!(e.max_message_bytes, 1_048_588);
        assert_eq!(e.delete_retention_ms, 86_400_000);
        assert_eq!(e.min_compaction_lag_ms, 0);
        assert_eq!(e.max_compaction_lag_ms, i64::MAX as u64);
        assert_eq!(e.min_cleanable_dirty_ratio, 0.5);
        assert_eq!(e.segment_index_bytes, 10_485_760);
    }

    #[test]
    fn effective_defaults_match_kafka() {
        let e = TopicConfigs::default().effective(&Config::default());
        assert_eq!(e.segment_bytes, 1_073_741_824);
        assert_eq!(e.segment_ms, Some(604_800_000));
        assert_eq!(e.retention_ms, Some(604_800_000));
        assert_eq!(e.flush_messages, None);
        assert_eq!(e.timestamp_type, TimestampType::CreateTime);
        assert_eq!(
            e.cleanup_policy,
            CleanupPolicy {
                delete: true,
                compact: false
            }
        );
        assert!(!e.flush_before_ack);
        assert_eq!(e.compression_type, "producer");
    }

    #[test]
    fn overrides_round_trip_through_serde_and_invalid_ones_are_rejected() {
        let configs = TopicConfigs::from_overrides([("retention.ms", "1000")]).expect("valid");
        let json = serde_json::to_string(&configs).expect("serialise");
        assert_eq!(json, r#"{"retention.ms":"1000"}"#);
        let back: TopicConfigs = serde_json::from_str(&json).expect("deserialise");
        assert_eq!(back, configs);
        assert!(serde_json::from_str::<TopicConfigs>(r#"{"retention.ms":"soon"}"#).is_err());
        assert!(serde_json::from_str::<TopicConfigs>(r#"{"bogus":"1"}"#).is_err());
    }

    #[test]
    fn removing_an_override_falls_back_to_the_broker() {
        let mut configs = TopicConfigs::from_overrides([("segment.ms", "60000")]).expect("valid");
        assert_eq!(configs.remove("segment.ms").as_deref(), Some("60000"));
        assert_eq!(
            configs.effective(&Config::default()).segment_ms,
            Some(604_800_000)
        );
    }
}
