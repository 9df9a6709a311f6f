//! The one error type of the config module.

use std::path::PathBuf;

/// A configuration problem. Every variant names the key (or file) it is about, so the
/// message alone tells an operator what to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A known key with a value of the wrong type or out of range.
    #[error("config key {key:?}: expected {expected}, got {got:?}")]
    InvalidValue {
        key: String,
        expected: String,
        got: String,
    },

    /// A known key whose value is well-formed but not usable (e.g. several log directories).
    #[error("config key {key:?}: {reason}")]
    Unsupported { key: String, reason: String },

    /// A broker key Aeon does not know, with where it was found.
    #[error("unknown config key {key:?} (from {origin})")]
    UnknownKey { key: String, origin: String },

    /// A topic config name Aeon does not know; maps to Kafka's INVALID_CONFIG.
    #[error("unknown topic config {0:?}")]
    UnknownTopicConfig(String),

    /// The config file could not be read.
    #[error("reading config file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The config file is not valid TOML.
    #[error("parsing config file {origin}: {message}")]
    Parse { origin: String, message: String },
}

impl ConfigError {
    pub(crate) fn invalid(key: &str, expected: impl Into<String>, got: &str) -> Self {
        ConfigError::InvalidValue {
            key: key.to_owned(),
            expected: expected.into(),
            got: got.to_owned(),
        }
    }
}
