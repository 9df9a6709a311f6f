//! The broker's configuration: typed settings, where each value came from, and the
//! per-topic overrides.
//!
//! Keys are Kafka's names (`log.segment.bytes`, `retention.ms`, ...) with Kafka's types,
//! defaults and validation ranges, so Kafka's documentation applies one-to-one; the few
//! Aeon-specific keys say so in their documentation.
//!
//! Loading, lowest precedence first: defaults in code -> a TOML file (`config/aeon.toml`)
//! -> `AEON_*` environment variables -> [`Config::set`] for the binary's CLI flags. An
//! unknown key, a wrong type or a value out of range is a [`ConfigError`] that names the
//! key; the broker stops at startup with it.
//!
//! This module does no I/O beyond reading the config file it is pointed at, and never
//! reads the process environment itself: the caller passes it in, so tests stay
//! hermetic.
//!
//! # Layout
//!
//! - [`broker`] — [`Config`], the broker settings, and loading them.
//! - [`topic`] — [`TopicConfigs`], per-topic overrides, and [`EffectiveTopicConfig`] for storage.
//! - [`entry`] — what DescribeConfigs reports: [`ConfigEntry`], [`ConfigSource`], [`ConfigType`].
//! - [`keys`] — the tables of known keys and their validation.
//! - [`listener`] — `listeners` / `advertised.listeners` parsing.
//! - [`sources`] — TOML and environment variables to (key, value) pairs.
//! - [`error`] — [`ConfigError`].

pub mod broker;
pub mod entry;
pub mod error;
pub mod keys;
pub mod listener;
pub mod sources;
pub mod topic;

pub use broker::{Config, ListenerConfig, LogFormat, QuorumConfig, ValueOrigin};
pub use entry::{ConfigEntry, ConfigSource, ConfigSynonym, ConfigType};
pub use error::ConfigError;
pub use keys::config_reference_markdown;
pub use listener::SecurityProtocol;
pub use sources::{CONFIG_PATH_ENV, DEFAULT_CONFIG_PATH};
/// The broker config as running code sees it: replaced as a whole when a dynamic
/// broker config changes.
pub type SharedConfig = std::sync::Arc<arc_swap::ArcSwap<Config>>;

pub use topic::{AlterOp, CleanupPolicy, EffectiveTopicConfig, TimestampType, TopicConfigs};
