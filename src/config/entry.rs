//! What DescribeConfigs reports about one config: value, source, type, synonyms.
//!
//! The numeric codes are Kafka's: `ConfigSource` ids from
//! `DescribeConfigsResponse.ConfigSource` and `ConfigType` ids from
//! `DescribeConfigsResponse.ConfigType` (clients/src/main/java/org/apache/kafka/common/
//! requests/DescribeConfigsResponse.java). The JSON schema only declares them as `int8`.

use serde::{Deserialize, Serialize};

/// Where a config value came from, as DescribeConfigs (v1+) reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConfigSource {
    /// Kafka's `DEFAULT_CONFIG`: nobody set it.
    Default,
    /// Kafka's `STATIC_BROKER_CONFIG`: set in the config file, the environment or on the command line.
    StaticBroker,
    /// Kafka's `TOPIC_CONFIG` (`DYNAMIC_TOPIC_CONFIG` in the admin client): a per-topic override.
    DynamicTopic,
    /// Kafka's `DYNAMIC_BROKER_CONFIG`: changed on a running broker (Aeon does not do this yet).
    DynamicBroker,
    /// Kafka's `GROUP_CONFIG`: a per-group override.
    Group,
}

impl ConfigSource {
    /// Kafka's wire code: TOPIC_CONFIG=1, DYNAMIC_BROKER_CONFIG=2, STATIC_BROKER_CONFIG=4,
    /// DEFAULT_CONFIG=5, GROUP_CONFIG=8 (UNKNOWN=0, DYNAMIC_DEFAULT_BROKER_CONFIG=3,
    /// DYNAMIC_BROKER_LOGGER_CONFIG=6 and CLIENT_METRICS_CONFIG=7 are not used by Aeon).
    pub fn code(self) -> i8 {
        match self {
            ConfigSource::DynamicTopic => 1,
            ConfigSource::DynamicBroker => 2,
            ConfigSource::StaticBroker => 4,
            ConfigSource::Default => 5,
            ConfigSource::Group => 8,
        }
    }
}

/// The type of a config's value, as DescribeConfigs (v3+) reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigType {
    Unknown,
    Boolean,
    String,
    Int,
    Short,
    Long,
    Double,
    List,
    Class,
    Password,
}

impl ConfigType {
    /// Kafka's wire code: UNKNOWN=0, BOOLEAN=1, STRING=2, INT=3, SHORT=4, LONG=5, DOUBLE=6,
    /// LIST=7, CLASS=8, PASSWORD=9.
    pub fn code(self) -> i8 {
        match self {
            ConfigType::Unknown => 0,
            ConfigType::Boolean => 1,
            ConfigType::String => 2,
            ConfigType::Int => 3,
            ConfigType::Short => 4,
            ConfigType::Long => 5,
            ConfigType::Double => 6,
            ConfigType::List => 7,
            ConfigType::Class => 8,
            ConfigType::Password => 9,
        }
    }
}

/// One synonym of a config: the same setting under another name or at another level,
/// highest precedence first (topic override, then broker key, then default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigSynonym {
    pub name: String,
    pub value: Option<String>,
    pub source: ConfigSource,
}

/// One config as DescribeConfigs describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigEntry {
    pub name: String,
    /// `None` for a config that is unset and has no default (e.g. `log.flush.interval.ms`).
    pub value: Option<String>,
    pub source: ConfigSource,
    /// True when Aeon cannot change the value on a running broker.
    pub read_only: bool,
    pub sensitive: bool,
    pub config_type: ConfigType,
    /// One line.
    pub documentation: String,
    pub synonyms: Vec<ConfigSynonym>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_source_codes_match_kafka_describe_configs() {
        assert_eq!(ConfigSource::DynamicTopic.code(), 1);
        assert_eq!(ConfigSource::DynamicBroker.code(), 2);
        assert_eq!(ConfigSource::StaticBroker.code(), 4);
        assert_eq!(ConfigSource::Default.code(), 5);
    }

    #[test]
    fn config_type_codes_match_kafka_describe_configs() {
        let all = [
            ConfigType::Unknown,
            ConfigType::Boolean,
            ConfigType::String,
            ConfigType::Int,
            ConfigType::Short,
            ConfigType::Long,
            ConfigType::Double,
            ConfigType::List,
            ConfigType::Class,
            ConfigType::Password,
        ];
        let codes: Vec<i8> = all.iter().map(|t| t.code()).collect();
        assert_eq!(codes, (0..=9).collect::<Vec<i8>>());
    }
}
