//! [`Config`]: the broker settings, loaded from defaults, a TOML file, the environment
//! and CLI overrides, with where every value came from.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use super::entry::{ConfigEntry, ConfigSource, ConfigSynonym};
use super::error::ConfigError;
use super::keys::{self, KeyDef, BROKER_KEYS};
use super::listener;
use super::topic::{CleanupPolicy, TimestampType};

/// Where a broker key's value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueOrigin {
    Default,
    /// The TOML config file.
    File,
    /// An `AEON_*` environment variable.
    Env,
    /// [`Config::set`], used for command-line flags.
    Override,
}

impl ValueOrigin {
    /// How DescribeConfigs reports it: everything set before start is Kafka's static config.
    pub fn source(self) -> ConfigSource {
        match self {
            ValueOrigin::Default => ConfigSource::Default,
            ValueOrigin::File | ValueOrigin::Env | ValueOrigin::Override => {
                ConfigSource::StaticBroker
            }
        }
    }

    fn label(self) -> &'static str {
        match self {
            ValueOrigin::Default => "default",
            ValueOrigin::File => "file",
            ValueOrigin::Env => "env",
            ValueOrigin::Override => "override",
        }
    }
}

/// The environment variable that names the config file; the loader skips it.
pub const CONFIG_PATH_ENV: &str = "AEON_CONFIG";

/// The broker configuration.
///
/// The public fields are the resolved, typed view of the keys; they are recomputed by
/// every [`Config::set`]. Change settings through `set` (not by assigning fields) so
/// that [`Config::describe`] keeps telling the truth.
#[derive(Debug, Clone)]
pub struct Config {
    /// `node.id`.
    pub node_id: i32,
    /// `listeners`, resolved; port 0 means "pick a free port".
    pub listener: SocketAddr,
    /// `advertised.listeners` when set; see [`Config::advertised_endpoint`].
    pub advertised: Option<(String, u16)>,
    /// `log.dirs` (alias `log.dir`).
    pub log_dir: PathBuf,
    /// `num.network.threads`.
    pub num_network_threads: usize,
    /// `num.partitions`.
    pub num_partitions: i32,
    /// `default.replication.factor`.
    pub default_replication_factor: i16,
    /// `auto.create.topics.enable`.
    pub auto_create_topics_enable: bool,
    /// `socket.request.max.bytes`.
    pub socket_request_max_bytes: usize,
    /// `connections.max.idle.ms`.
    pub connections_max_idle_ms: u64,
    /// `queued.max.requests`: per connection, the most requests in flight; the
    /// connection stops reading its socket past it.
    pub max_inflight_requests: usize,
    /// `message.max.bytes`.
    pub message_max_bytes: u32,
    /// `log.segment.bytes`.
    pub log_segment_bytes: u64,
    /// `log.roll.ms`, else `log.roll.hours`, in milliseconds.
    pub log_roll_ms: u64,
    /// `log.retention.ms`, else `.minutes`, else `.hours`, in milliseconds; `None` = unlimited.
    pub log_retention_ms: Option<u64>,
    /// `log.retention.bytes`; `None` = unlimited.
    pub log_retention_bytes: Option<u64>,
    /// `log.index.interval.bytes`.
    pub log_index_interval_bytes: u32,
    /// `log.index.size.max.bytes`.
    pub log_index_size_max_bytes: u32,
    /// `log.flush.interval.messages` (`i64::MAX`, Kafka's default, means never).
    pub log_flush_interval_messages: u64,
    /// `log.flush.interval.ms`; `None` = never.
    pub log_flush_interval_ms: Option<u64>,
    /// `log.message.timestamp.type`.
    pub log_message_timestamp_type: TimestampType,
    /// `log.cleanup.policy`.
    pub log_cleanup_policy: CleanupPolicy,
    /// `log.retention.check.interval.ms`.
    pub log_retention_check_interval_ms: u64,
    /// `log.flush.before.ack` (Aeon only).
    pub log_flush_before_ack: bool,
    /// `group.initial.rebalance.delay.ms`.
    pub group_initial_rebalance_delay_ms: u32,
    /// `group.min.session.timeout.ms`.
    pub group_min_session_timeout_ms: u32,
    /// `group.max.session.timeout.ms`.
    pub group_max_session_timeout_ms: u32,
    /// `offsets.retention.minutes`.
    pub offsets_retention_minutes: u32,
    /// `transaction.max.timeout.ms`.
    pub transaction_max_timeout_ms: u32,
    /// `compression.type`.
    pub compression_type: String,
    /// `delete.topic.enable`.
    pub delete_topic_enable: bool,

    /// The listener's host as written, for the advertised default.
    listener_host: String,
    /// Every key that was set, normalised, with its origin. The single source of truth.
    set_values: BTreeMap<&'static str, (String, ValueOrigin)>,
}

impl Default for Config {
    /// The built-in defaults.
    fn default() -> Self {
        match Config::from_values(BTreeMap::new()) {
            Ok(config) => config,
            // Defaults are constants; `keys::tests` proves every one of them validates.
            Err(e) => panic!("built-in config defaults are invalid: {e}"),
        }
    }
}

impl Config {
    /// Loads the broker config: defaults, then the TOML file at `path` (if any), then the
    /// `AEON_*` variables in `env` (`AEON_LOG_DIRS=/x` sets `log.dirs`; `AEON_CONFIG` is
    /// skipped: it names the file). Apply CLI flags afterwards with [`Config::set`].
    pub fn load(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut config = Config::default();
        if let Some(path) = path {
            config.apply_file(path)?;
        }
        config.apply_env(env)?;
        Ok(config)
    }

    /// Reads and applies a TOML config file.
    pub fn apply_file(&mut self, path: &Path) -> Result<(), ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        self.apply_toml(&text, &path.display().to_string())
    }

    /// Applies TOML text whose keys are Kafka's dotted names, quoted (`"log.dirs" = ..`)
    /// or as TOML dotted keys (`log.dirs = ..`); `origin` names it in errors.
    pub fn apply_toml(&mut self, text: &str, origin: &str) -> Result<(), ConfigError> {
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| ConfigError::Parse {
                origin: origin.to_owned(),
                message: e.to_string(),
            })?;
        let mut pairs = Vec::new();
        flatten(&table, "", &mut pairs)?;
        // A key spelled both ways flattens to the same name twice: refuse to guess.
        let mut seen = std::collections::BTreeSet::new();
        for (key, _) in &pairs {
            if !seen.insert(key.as_str()) {
                return Err(ConfigError::Unsupported {
                    key: key.clone(),
                    reason: format!("set more than once in {origin}"),
                });
            }
        }
        // Aliases first, so `log.dirs` wins over `log.dir` as in Kafka.
        pairs.sort_by_key(|(key, _)| keys::BROKER_KEYS.iter().any(|k| k.name == key));
        self.apply(
            pairs
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str(), format!("config file {origin}"))),
            ValueOrigin::File,
        )
    }

    /// Applies the `AEON_*` variables of `env`; other variables are ignored.
    pub fn apply_env(
        &mut self,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<(), ConfigError> {
        let mut pairs = Vec::new();
        for (var, value) in env {
            let Some(rest) = var.strip_prefix("AEON_") else {
                continue;
            };
            if var == CONFIG_PATH_ENV {
                continue;
            }
            let key = rest.to_ascii_lowercase().replace('_', ".");
            pairs.push((key, value, format!("environment variable {var}")));
        }
        self.apply(
            pairs
                .iter()
                .map(|(k, v, o)| (k.as_str(), v.as_str(), o.clone())),
            ValueOrigin::Env,
        )
    }

    /// Sets one key, as the command line does (reported as a static broker config).
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        self.apply(
            std::iter::once((key, value, "a command-line override".to_owned())),
            ValueOrigin::Override,
        )
    }

    /// Validates every pair, then recomputes the typed view; on error `self` is unchanged.
    fn apply<'a>(
        &mut self,
        pairs: impl IntoIterator<Item = (&'a str, &'a str, String)>,
        origin: ValueOrigin,
    ) -> Result<(), ConfigError> {
        let mut values = self.set_values.clone();
        for (key, value, from) in pairs {
            let def = keys::broker_key(key).ok_or_else(|| ConfigError::UnknownKey {
                key: key.to_owned(),
                origin: from,
            })?;
            values.insert(def.name, (def.validate(value)?, origin));
        }
        *self = Config::from_values(values)?;
        Ok(())
    }

    fn from_values(
        set_values: BTreeMap<&'static str, (String, ValueOrigin)>,
    ) -> Result<Config, ConfigError> {
        let v = Values(&set_values);
        let listeners = v.string("listeners")?;
        let listener = listener::parse("listeners", &listeners, false)?;
        let advertised = match v.get("advertised.listeners") {
            Some(raw) => {
                let a = listener::parse("advertised.listeners", &raw, true)?;
                Some((a.host, a.port))
            }
            None => None,
        };
        let log_roll_ms = match v.opt_num::<u64>("log.roll.ms")? {
            Some(ms) => ms,
            None => v.num::<u64>("log.roll.hours")?.saturating_mul(3_600_000),
        };
        // Kafka: ms, else minutes, else hours; any negative means unlimited.
        let retention: i64 = match v.opt_num::<i64>("log.retention.ms")? {
            Some(ms) => ms,
            None => match v.opt_num::<i64>("log.retention.minutes")? {
                Some(minutes) => minutes.saturating_mul(60_000),
                None => v
                    .num::<i64>("log.retention.hours")?
                    .saturating_mul(3_600_000),
            },
        };
        let group_min_session_timeout_ms = v.num("group.min.session.timeout.ms")?;
        let group_max_session_timeout_ms = v.num("group.max.session.timeout.ms")?;
        if group_min_session_timeout_ms > group_max_session_timeout_ms {
            return Err(ConfigError::Unsupported {
                key: "group.min.session.timeout.ms".to_owned(),
                reason: format!(
                    "must not exceed group.max.session.timeout.ms \
                     ({group_min_session_timeout_ms} > {group_max_session_timeout_ms})"
                ),
            });
        }
        Ok(Config {
            node_id: v.num("node.id")?,
            listener: listener::resolve("listeners", &listener)?,
            advertised,
            log_dir: PathBuf::from(v.string("log.dirs")?),
            num_network_threads: v.num("num.network.threads")?,
            num_partitions: v.num("num.partitions")?,
            default_replication_factor: v.num("default.replication.factor")?,
            auto_create_topics_enable: v.flag("auto.create.topics.enable")?,
            socket_request_max_bytes: v.num("socket.request.max.bytes")?,
            connections_max_idle_ms: v.num("connections.max.idle.ms")?,
            max_inflight_requests: v.num("queued.max.requests")?,
            message_max_bytes: v.num("message.max.bytes")?,
            log_segment_bytes: v.num("log.segment.bytes")?,
            log_roll_ms,
            log_retention_ms: u64::try_from(retention).ok(),
            log_retention_bytes: u64::try_from(v.num::<i64>("log.retention.bytes")?).ok(),
            log_index_interval_bytes: v.num("log.index.interval.bytes")?,
            log_index_size_max_bytes: v.num("log.index.size.max.bytes")?,
            log_flush_interval_messages: v.num("log.flush.interval.messages")?,
            log_flush_interval_ms: v.opt_num("log.flush.interval.ms")?,
            log_message_timestamp_type: TimestampType::parse(
                "log.message.timestamp.type",
                &v.string("log.message.timestamp.type")?,
            )?,
            log_cleanup_policy: CleanupPolicy::parse(
                "log.cleanup.policy",
                &v.string("log.cleanup.policy")?,
            )?,
            log_retention_check_interval_ms: v.num("log.retention.check.interval.ms")?,
            log_flush_before_ack: v.flag("log.flush.before.ack")?,
            group_initial_rebalance_delay_ms: v.num("group.initial.rebalance.delay.ms")?,
            group_min_session_timeout_ms,
            group_max_session_timeout_ms,
            offsets_retention_minutes: v.num("offsets.retention.minutes")?,
            transaction_max_timeout_ms: v.num("transaction.max.timeout.ms")?,
            compression_type: v.string("compression.type")?,
            delete_topic_enable: v.flag("delete.topic.enable")?,
            listener_host: listener.host,
            set_values,
        })
    }

    /// The host and port to give clients, once the listener is bound to `bound`:
    /// `advertised.listeners` if set, else the listener's host ("localhost" for
    /// 0.0.0.0 / ::) and the bound port (which differs from the configured one for port 0).
    pub fn advertised_endpoint(&self, bound: SocketAddr) -> (String, u16) {
        if let Some(advertised) = &self.advertised {
            return advertised.clone();
        }
        let unspecified = self
            .listener_host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_unspecified());
        let host = if unspecified {
            "localhost".to_owned()
        } else {
            self.listener_host.clone()
        };
        (host, bound.port())
    }

    /// The value of a broker key as DescribeConfigs shows it (`None` if unset with no
    /// default, or if the key is unknown).
    pub fn value(&self, key: &str) -> Option<String> {
        let def = keys::broker_key(key)?;
        Values(&self.set_values).get(def.name)
    }

    /// Where the value of a broker key came from (`None` if the key is unknown).
    pub fn origin(&self, key: &str) -> Option<ValueOrigin> {
        let def = keys::broker_key(key)?;
        Some(
            self.set_values
                .get(def.name)
                .map_or(ValueOrigin::Default, |(_, origin)| *origin),
        )
    }

    /// Every known broker key, as DescribeConfigs for the broker resource reports it.
    pub fn describe(&self) -> Vec<ConfigEntry> {
        BROKER_KEYS
            .iter()
            .map(|def| self.describe_key(def))
            .collect()
    }

    fn describe_key(&self, def: &KeyDef) -> ConfigEntry {
        let default = def.default.resolve();
        let mut synonyms = Vec::new();
        let (value, source) = match self.set_values.get(def.name) {
            Some((value, origin)) => {
                synonyms.push(ConfigSynonym {
                    name: def.name.to_owned(),
                    value: Some(value.clone()),
                    source: origin.source(),
                });
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
        ConfigEntry {
            name: def.name.to_owned(),
            value,
            source,
            // Aeon has no dynamic broker configs yet: nothing changes without a restart.
            read_only: true,
            sensitive: false,
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
                let value = self.value(def.name).unwrap_or_else(|| "null".to_owned());
                match self.set_values.get(def.name) {
                    Some((_, origin)) => format!("{}={value} ({})", def.name, origin.label()),
                    None => format!("{}={value}", def.name),
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The broker keys as a markdown table (key | default | description), for the README.
pub fn config_reference_markdown() -> String {
    let mut out = String::from("| Key | Default | Description |\n|---|---|---|\n");
    for def in BROKER_KEYS {
        out.push_str(&format!(
            "| `{}` | {} | {} |\n",
            def.name,
            def.default.describe(),
            def.doc.replace('|', "\\|")
        ));
    }
    out
}

/// Read access to set values with fallback to defaults, typed.
struct Values<'a>(&'a BTreeMap<&'static str, (String, ValueOrigin)>);

impl Values<'_> {
    fn def(key: &str) -> Result<&'static KeyDef, ConfigError> {
        keys::broker_key(key).ok_or_else(|| ConfigError::UnknownKey {
            key: key.to_owned(),
            origin: "Aeon's own code".to_owned(),
        })
    }

    fn get(&self, key: &str) -> Option<String> {
        match self.0.get(key) {
            Some((value, _)) => Some(value.clone()),
            None => Self::def(key).ok()?.default.resolve(),
        }
    }

    fn string(&self, key: &str) -> Result<String, ConfigError> {
        let def = Self::def(key)?;
        let value = self
            .get(key)
            .ok_or_else(|| ConfigError::invalid(key, "a value", ""))?;
        def.validate(&value)
    }

    fn flag(&self, key: &str) -> Result<bool, ConfigError> {
        Ok(self.string(key)? == "true")
    }

    fn opt_num<T: TryFrom<i64>>(&self, key: &str) -> Result<Option<T>, ConfigError> {
        let def = Self::def(key)?;
        let Some(raw) = self.get(key) else {
            return Ok(None);
        };
        let normalised = def.validate(&raw)?;
        let n: i64 = normalised
            .parse()
            .map_err(|_| ConfigError::invalid(key, "an integer", &raw))?;
        T::try_from(n)
            .map(Some)
            .map_err(|_| ConfigError::invalid(key, "an integer that fits", &raw))
    }

    fn num<T: TryFrom<i64>>(&self, key: &str) -> Result<T, ConfigError> {
        self.opt_num(key)?
            .ok_or_else(|| ConfigError::invalid(key, "an integer", ""))
    }
}

/// Flattens nested TOML tables into dotted names; leaves must be strings, integers,
/// booleans or floats.
fn flatten(
    table: &toml::Table,
    prefix: &str,
    out: &mut Vec<(String, String)>,
) -> Result<(), ConfigError> {
    for (name, value) in table {
        let key = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        let text = match value {
            toml::Value::Table(inner) => {
                flatten(inner, &key, out)?;
                continue;
            }
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            toml::Value::Float(f) => f.to_string(),
            other => {
                return Err(ConfigError::invalid(
                    &key,
                    "a string, an integer or a boolean",
                    &other.to_string(),
                ))
            }
        };
        out.push((key, text));
    }
    Ok(())
}
