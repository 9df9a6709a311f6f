//! [`Config`]: the broker settings, loaded from defaults, a TOML file, the environment
//! and CLI overrides, with where every value came from. The dynamic layer (values
//! changed on a running broker) is in `dynamic`; DescribeConfigs' view in `describe`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use super::entry::{ConfigEntry, ConfigSource, ConfigSynonym};
use super::error::ConfigError;
use super::keys::{self, KeyDef, BROKER_KEYS};
use super::listener::{self, SecurityProtocol};
use super::sources;
use super::topic::{parse_timestamp_type, CleanupPolicy, TimestampType};

mod describe;
mod dynamic;
pub use dynamic::DYNAMIC_BROKER_KEYS;

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
    /// [`Config::set_dynamic`]: changed on the running broker (IncrementalAlterConfigs).
    Dynamic,
}

impl ValueOrigin {
    /// How DescribeConfigs reports it: everything set before start is Kafka's static config.
    pub fn source(self) -> ConfigSource {
        match self {
            ValueOrigin::Default => ConfigSource::Default,
            ValueOrigin::File | ValueOrigin::Env | ValueOrigin::Override => {
                ConfigSource::StaticBroker
            }
            ValueOrigin::Dynamic => ConfigSource::DynamicBroker,
        }
    }

    fn label(self) -> &'static str {
        match self {
            ValueOrigin::Default => "default",
            ValueOrigin::File => "file",
            ValueOrigin::Env => "env",
            ValueOrigin::Override => "override",
            ValueOrigin::Dynamic => "dynamic",
        }
    }
}

/// How the broker writes its own log (`log.format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// The broker configuration.
///
/// The public fields are the resolved, typed view of the keys; they are recomputed by
/// every [`Config::set`]. Change settings through `set` (not by assigning fields) so
/// that [`Config::describe`] keeps telling the truth.
#[derive(Debug, Clone)]
pub struct Config {
    /// `node.id`.
    pub node_id: i32,
    /// The first of `listeners`, resolved; port 0 means "pick a free port".
    pub listener: SocketAddr,
    /// Every listener, in the order `listeners` names them.
    pub listeners: Vec<ListenerConfig>,
    /// `metrics.listener`: the operations HTTP listener, `None` when empty.
    pub metrics_listener: Option<SocketAddr>,
    /// `process.roles` and the metadata quorum's settings; `None`: a single broker.
    pub quorum: Option<QuorumConfig>,
    /// `broker.rack`.
    pub broker_rack: Option<String>,
    /// `log.format`.
    pub log_format: LogFormat,
    /// `log.dirs` (alias `log.dir`).
    pub log_dir: PathBuf,
    /// `num.network.threads`.
    pub num_network_threads: usize,
    /// `num.recovery.threads.per.data.dir`.
    pub num_recovery_threads_per_data_dir: usize,
    /// `num.partitions`.
    pub num_partitions: i32,
    /// `max.broker.partitions`.
    pub max_broker_partitions: u32,
    /// `default.replication.factor`.
    pub default_replication_factor: i16,
    /// `auto.create.topics.enable`.
    pub auto_create_topics_enable: bool,
    /// `socket.request.max.bytes`.
    pub socket_request_max_bytes: usize,
    /// `fetch.max.bytes`: the cap on one fetch response's records.
    pub fetch_max_bytes: usize,
    /// `connections.max.idle.ms`.
    pub connections_max_idle_ms: u64,
    /// `connection.failed.authentication.delay.ms`.
    pub connection_failed_authentication_delay_ms: u64,
    /// `connections.max.reauth.ms`: 0 for sessions that never expire.
    pub connections_max_reauth_ms: u64,
    /// `sasl.enabled.mechanisms`.
    pub sasl_enabled_mechanisms: Vec<String>,
    /// The `ssl.*` keys of SSL and SASL_SSL listeners, when any key material is given.
    pub tls: Option<crate::net::tls::TlsConfig>,
    /// `ssl.principal.mapping.rules`: a TLS client certificate's subject to a user name.
    pub ssl_principal_mapper: crate::security::principal::SslPrincipalMapper,
    /// `ssl.reload.interval.ms`: how often the TLS files are checked; 0 for never.
    pub ssl_reload_interval_ms: u64,
    /// `authorizer.class.name`, `super.users`, `allow.everyone.if.no.acl.found`: `None`
    /// when no authorizer is set, and every client may do everything.
    pub authorizer: Option<crate::security::acl::AuthorizerConfig>,
    /// `queued.max.requests`: per connection, the most requests in flight; the
    /// connection stops reading its socket past it.
    pub queued_max_requests: usize,
    /// `queued.max.request.bytes`: broker-wide, the most request bytes read and not
    /// yet answered.
    pub queued_max_request_bytes: u32,
    /// `log.segment.delete.delay.ms`.
    pub log_segment_delete_delay_ms: u64,
    /// `producer.id.expiration.ms`.
    pub producer_id_expiration_ms: u32,
    /// `max.connections`: the most client connections open at once.
    pub max_connections: usize,
    /// `max.connections.per.ip`: the most connections open at once from one address.
    pub max_connections_per_ip: usize,
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
    /// `log.flush.offset.checkpoint.interval.ms` (0: recovery points at rolls only).
    pub log_flush_offset_checkpoint_interval_ms: u64,
    /// `log.cleaner.enable`.
    pub log_cleaner_enable: bool,
    /// `log.cleaner.backoff.ms`.
    pub log_cleaner_backoff_ms: u64,
    /// `log.cleaner.io.max.bytes.per.second`; `None` = unlimited (Kafka's default,
    /// `Double.MAX_VALUE`).
    pub log_cleaner_io_max_bytes_per_second: Option<u64>,
    /// `log.cleaner.dedupe.buffer.size`.
    pub log_cleaner_dedupe_buffer_size: u64,
    /// `log.flush.before.ack` (Aeon only).
    pub log_flush_before_ack: bool,
    /// `group.initial.rebalance.delay.ms`.
    pub group_initial_rebalance_delay_ms: u32,
    /// `group.min.session.timeout.ms`.
    pub group_min_session_timeout_ms: u32,
    /// `group.max.session.timeout.ms`.
    pub group_max_session_timeout_ms: u32,
    /// `group.consumer.session.timeout.ms`.
    pub group_consumer_session_timeout_ms: u32,
    /// `group.consumer.heartbeat.interval.ms`.
    pub group_consumer_heartbeat_interval_ms: u32,
    /// `group.consumer.min.session.timeout.ms` and `...max...`: bounds of group overrides.
    pub group_consumer_min_session_timeout_ms: u32,
    pub group_consumer_max_session_timeout_ms: u32,
    /// `group.consumer.min.heartbeat.interval.ms` and `...max...`.
    pub group_consumer_min_heartbeat_interval_ms: u32,
    pub group_consumer_max_heartbeat_interval_ms: u32,
    /// `group.consumer.max.size`.
    pub group_consumer_max_size: u32,
    /// `group.consumer.assignors`, as the served assignors' names, in order.
    pub group_consumer_assignors: Vec<String>,
    /// `group.consumer.migration.policy`.
    pub group_consumer_migration_policy: String,
    /// `offsets.retention.minutes`.
    pub offsets_retention_minutes: u32,
    /// `offsets.retention.check.interval.ms`.
    pub offsets_retention_check_interval_ms: u64,
    /// `offsets.topic.num.partitions`.
    pub offsets_topic_num_partitions: i32,
    /// `offsets.topic.segment.bytes`.
    pub offsets_topic_segment_bytes: u64,
    /// `offsets.topic.replication.factor`.
    pub offsets_topic_replication_factor: i16,
    /// `transaction.max.timeout.ms`.
    pub transaction_max_timeout_ms: u32,
    /// `transactional.id.expiration.ms`.
    pub transactional_id_expiration_ms: u32,
    /// `transaction.state.log.num.partitions`.
    pub transaction_state_log_num_partitions: i32,
    /// `transaction.state.log.segment.bytes`.
    pub transaction_state_log_segment_bytes: u64,
    /// `transaction.state.log.replication.factor`.
    pub transaction_state_log_replication_factor: i16,
    /// `compression.type`.
    pub compression_type: String,
    /// `delete.topic.enable`.
    pub delete_topic_enable: bool,

    /// Every key that was set, normalised, with its origin. The single source of truth.
    set_values: BTreeMap<&'static str, (String, ValueOrigin)>,
    /// The values changed on the running broker, over the static ones.
    dynamic: BTreeMap<&'static str, String>,
}

/// One listener: its name, security protocol, where it binds, and what it tells clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerConfig {
    /// The name `listeners` gives it (upper case).
    pub name: String,
    pub protocol: SecurityProtocol,
    /// Where to bind; port 0 picks a free port.
    pub bind: SocketAddr,
    /// The host as written, for the advertised default.
    host: String,
    /// Its entry in `advertised.listeners`, if any.
    advertised: Option<(String, u16)>,
}

impl ListenerConfig {
    /// The host and port to give clients that came in through this listener, once it
    /// is bound to `bound`: its `advertised.listeners` entry if set, else its host
    /// ("localhost" for 0.0.0.0 / ::) and the bound port (which differs from the
    /// configured one for port 0).
    pub fn advertised_endpoint(&self, bound: SocketAddr) -> (String, u16) {
        if let Some(advertised) = &self.advertised {
            return advertised.clone();
        }
        let unspecified = self
            .host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_unspecified());
        let host = if unspecified {
            "localhost".to_owned()
        } else {
            self.host.clone()
        };
        (host, bound.port())
    }
}

/// `listeners` with their protocols (`listener.security.protocol.map`) and advertised
/// addresses (`advertised.listeners`), checked against each other as Kafka does.
/// The metadata quorum's settings (`process.roles` set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumConfig {
    /// `controller.quorum.voters`: id -> host:port.
    pub voters: BTreeMap<i32, String>,
    /// A voter (`process.roles` with `controller`), or a broker that follows the
    /// quorum's log as a learner.
    pub voter: bool,
    /// A broker (`process.roles` with `broker`); a controller-only node serves no
    /// client.
    pub broker: bool,
    /// The listener of `controller.listener.names`, resolved, and its name.
    pub controller_bind: SocketAddr,
    pub controller_listener: String,
    /// `broker.heartbeat.interval.ms`.
    pub heartbeat_interval_ms: u64,
    /// `broker.session.timeout.ms`.
    pub session_timeout_ms: u64,
    /// `controller.quorum.election.timeout.ms`.
    pub election_timeout_ms: u64,
    /// `metadata.log.max.record.bytes.between.snapshots`.
    pub snapshot_bytes: u64,
    /// The `replica.*` settings.
    pub replication: ReplicationConfig,
    /// `auto.leader.rebalance.enable`: every `leader.imbalance.check.interval.seconds`,
    /// above `leader.imbalance.per.broker.percentage`.
    pub leader_rebalance: Option<(u64, u32)>,
}

/// How followers fetch from their leaders, and when one leaves the ISR (`replica.*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReplicationConfig {
    pub lag_time_max_ms: u64,
    pub fetch_wait_max_ms: i32,
    pub fetch_min_bytes: i32,
    pub fetch_max_bytes: i32,
    pub fetch_response_max_bytes: i32,
    pub fetch_backoff_ms: u64,
    pub socket_timeout_ms: u64,
}

/// `controller.listener.names`, upper case as listener names are; empty when unset.
fn controller_listener_names(v: &Values<'_>) -> Vec<String> {
    v.get("controller.listener.names")
        .map(|n| {
            n.split(',')
                .map(|n| n.trim().to_ascii_uppercase())
                .filter(|n| !n.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// Splits `process.roles`, `controller.quorum.voters` and `controller.listener.names`
/// off the configuration: the quorum's settings, and the client listeners (the
/// controller listener is not one).
fn quorum_config(
    v: &Values<'_>,
    listeners: Vec<ListenerConfig>,
) -> Result<(Option<QuorumConfig>, Vec<ListenerConfig>), ConfigError> {
    let Some(roles) = v.get("process.roles") else {
        for key in ["controller.quorum.voters", "controller.listener.names"] {
            if v.get(key).is_some() {
                return Err(ConfigError::Unsupported {
                    key: key.to_owned(),
                    reason: "needs process.roles (a node with no roles is a single broker)".into(),
                });
            }
        }
        return Ok((None, listeners));
    };
    let unsupported = |key: &str, reason: String| ConfigError::Unsupported {
        key: key.to_owned(),
        reason,
    };
    let mut roles: Vec<&str> = roles.split(',').map(str::trim).collect();
    roles.sort_unstable();
    let (voter, broker) = match roles.as_slice() {
        ["broker", "controller"] => (true, true),
        ["broker"] => (false, true),
        ["controller"] => (true, false),
        _ => {
            return Err(unsupported(
                "process.roles",
                format!("{roles:?}: broker, controller, or both (broker,controller)"),
            ))
        }
    };
    let node_id: i32 = v.num("node.id")?;
    let raw = v.get("controller.quorum.voters").ok_or_else(|| {
        unsupported(
            "controller.quorum.voters",
            "is needed with process.roles".into(),
        )
    })?;
    let mut voters = BTreeMap::new();
    for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let parsed = entry.split_once('@').and_then(|(id, addr)| {
            let id = id.parse::<i32>().ok().filter(|&id| id >= 0)?;
            let (host, port) = addr.rsplit_once(':')?;
            port.parse::<u16>()
                .ok()
                .filter(|&p| p > 0 && !host.is_empty())?;
            Some((id, addr.to_owned()))
        });
        let (id, addr) = parsed.ok_or_else(|| {
            ConfigError::invalid("controller.quorum.voters", "id@host:port entries", entry)
        })?;
        if voters.insert(id, addr).is_some() {
            return Err(unsupported(
                "controller.quorum.voters",
                format!("voter {id} is listed twice"),
            ));
        }
    }
    if voter != voters.contains_key(&node_id) {
        return Err(unsupported(
            "controller.quorum.voters",
            if voter {
                format!("does not list this node (node.id {node_id}), a voter in combined mode")
            } else {
                format!("lists this node (node.id {node_id}), which is not a controller")
            },
        ));
    }
    let names = controller_listener_names(v);
    if names.is_empty() {
        return Err(unsupported(
            "controller.listener.names",
            "is needed with process.roles".into(),
        ));
    }
    let (controller, clients): (Vec<_>, Vec<_>) =
        listeners.into_iter().partition(|l| names.contains(&l.name));
    let Some(controller) = controller.first() else {
        return Err(unsupported(
            "controller.listener.names",
            format!("{names:?} names no listener of listeners"),
        ));
    };
    if controller.protocol != SecurityProtocol::Plaintext {
        return Err(unsupported(
            "controller.listener.names",
            format!(
                "{}: only PLAINTEXT carries the quorum's traffic",
                controller.name
            ),
        ));
    }
    if broker && clients.is_empty() {
        return Err(unsupported(
            "listeners",
            "a broker needs a listener for clients besides the controller listener".into(),
        ));
    }
    Ok((
        Some(QuorumConfig {
            voter,
            broker,
            voters,
            controller_bind: controller.bind,
            controller_listener: controller.name.clone(),
            heartbeat_interval_ms: v.num("broker.heartbeat.interval.ms")?,
            session_timeout_ms: v.num("broker.session.timeout.ms")?,
            election_timeout_ms: v.num("controller.quorum.election.timeout.ms")?,
            snapshot_bytes: v.num("metadata.log.max.record.bytes.between.snapshots")?,
            leader_rebalance: v.flag("auto.leader.rebalance.enable")?.then_some((
                v.num("leader.imbalance.check.interval.seconds")?,
                v.num("leader.imbalance.per.broker.percentage")?,
            )),
            replication: ReplicationConfig {
                lag_time_max_ms: v.num("replica.lag.time.max.ms")?,
                fetch_wait_max_ms: v.num("replica.fetch.wait.max.ms")?,
                fetch_min_bytes: v.num("replica.fetch.min.bytes")?,
                fetch_max_bytes: v.num("replica.fetch.max.bytes")?,
                fetch_response_max_bytes: v.num("replica.fetch.response.max.bytes")?,
                fetch_backoff_ms: v.num("replica.fetch.backoff.ms")?,
                socket_timeout_ms: v.num("replica.socket.timeout.ms")?,
            },
        }),
        clients,
    ))
}

fn listener_configs(v: &Values<'_>) -> Result<Vec<ListenerConfig>, ConfigError> {
    let raw = v.string("listeners")?;
    let map = listener::parse_protocol_map(
        "listener.security.protocol.map",
        &v.string("listener.security.protocol.map")?,
    )?;
    let advertised = match v.get("advertised.listeners") {
        Some(raw) => listener::parse_list("advertised.listeners", &raw, true)?,
        None => Vec::new(),
    };
    let listeners = listener::parse_list("listeners", &raw, false)?;
    // The controller listener is PLAINTEXT unless the map says otherwise (Kafka's rule).
    let controller_names = controller_listener_names(v);
    if let Some(stray) = advertised
        .iter()
        .find(|a| !listeners.iter().any(|l| l.name == a.name))
    {
        return Err(ConfigError::Unsupported {
            key: "advertised.listeners".to_owned(),
            reason: format!("{} names no listener of listeners ({raw:?})", stray.name),
        });
    }
    listeners
        .into_iter()
        .map(|l| {
            // A name the map does not list but that is a protocol's name is that
            // protocol (so the map can be set before the listeners that use it).
            let protocol = map
                .iter()
                .find(|(name, _)| *name == l.name)
                .map(|(_, p)| *p)
                .or_else(|| SecurityProtocol::from_name(&l.name))
                .or_else(|| {
                    controller_names
                        .contains(&l.name)
                        .then_some(SecurityProtocol::Plaintext)
                })
                .ok_or_else(|| ConfigError::Unsupported {
                    key: "listener.security.protocol.map".to_owned(),
                    reason: format!("listener {} has no security protocol in it", l.name),
                })?;
            Ok(ListenerConfig {
                bind: listener::resolve("listeners", &l.listener)?,
                advertised: advertised
                    .iter()
                    .find(|a| a.name == l.name)
                    .map(|a| (a.listener.host.clone(), a.listener.port)),
                name: l.name,
                protocol,
                host: l.listener.host,
            })
        })
        .collect()
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
        let mut pairs = sources::flatten_toml(&table)?;
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
        let pairs: Vec<(String, String, String)> = sources::env_pairs(env)
            .into_iter()
            .map(|(var, key, value)| (key, value, format!("environment variable {var}")))
            .collect();
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
        let mut values = self.static_values();
        for (key, value, from) in pairs {
            let def = keys::broker_key(key).ok_or_else(|| ConfigError::UnknownKey {
                key: key.to_owned(),
                origin: from,
            })?;
            values.insert(def.name, (def.validate(value)?, origin));
        }
        *self = Config::with_dynamic(values, self.dynamic.clone())?;
        Ok(())
    }

    fn from_values(
        set_values: BTreeMap<&'static str, (String, ValueOrigin)>,
    ) -> Result<Config, ConfigError> {
        let v = Values(&set_values);
        let (quorum, listeners) = quorum_config(&v, listener_configs(&v)?)?;
        // Only keys that were set: TlsConfig has Kafka's defaults for the others.
        let set = |key: &str| set_values.get(key).map(|(value, _)| value.clone());
        let tls =
            crate::net::tls::TlsConfig::from_lookup(set).map_err(|e| ConfigError::Unsupported {
                key: "ssl.*".to_owned(),
                reason: e.to_string(),
            })?;
        if let Some(l) = listeners.iter().find(|l| l.protocol.uses_tls()) {
            if tls.is_none() {
                return Err(ConfigError::Unsupported {
                    key: "listeners".to_owned(),
                    reason: format!(
                        "listener {} is {}: give its key and certificates with \
                         ssl.keystore.location (or ssl.keystore.certificate.chain and \
                         ssl.keystore.key)",
                        l.name,
                        l.protocol.name()
                    ),
                });
            }
        }
        let ssl_principal_mapper = crate::security::principal::SslPrincipalMapper::from_rules(
            &v.string("ssl.principal.mapping.rules")?,
        )
        .map_err(|e| ConfigError::Unsupported {
            key: "ssl.principal.mapping.rules".to_owned(),
            reason: e.to_string(),
        })?;
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
        let group_consumer_session_timeout_ms: u32 = v.num("group.consumer.session.timeout.ms")?;
        let group_consumer_heartbeat_interval_ms: u32 =
            v.num("group.consumer.heartbeat.interval.ms")?;
        let group_consumer_min_session_timeout_ms =
            v.num("group.consumer.min.session.timeout.ms")?;
        let group_consumer_max_session_timeout_ms =
            v.num("group.consumer.max.session.timeout.ms")?;
        let group_consumer_min_heartbeat_interval_ms =
            v.num("group.consumer.min.heartbeat.interval.ms")?;
        let group_consumer_max_heartbeat_interval_ms =
            v.num("group.consumer.max.heartbeat.interval.ms")?;
        within(
            "group.consumer.session.timeout.ms",
            group_consumer_session_timeout_ms,
            group_consumer_min_session_timeout_ms,
            group_consumer_max_session_timeout_ms,
        )?;
        within(
            "group.consumer.heartbeat.interval.ms",
            group_consumer_heartbeat_interval_ms,
            group_consumer_min_heartbeat_interval_ms,
            group_consumer_max_heartbeat_interval_ms,
        )?;
        if group_consumer_heartbeat_interval_ms >= group_consumer_session_timeout_ms {
            return Err(ConfigError::Unsupported {
                key: "group.consumer.heartbeat.interval.ms".to_owned(),
                reason: format!(
                    "must be less than group.consumer.session.timeout.ms \
                     ({group_consumer_heartbeat_interval_ms} >= {group_consumer_session_timeout_ms})"
                ),
            });
        }
        let group_consumer_assignors = v
            .string("group.consumer.assignors")?
            .split(',')
            .map(|a| match a {
                "org.apache.kafka.coordinator.group.assignor.UniformAssignor" => "uniform",
                "org.apache.kafka.coordinator.group.assignor.RangeAssignor" => "range",
                short => short,
            })
            .fold(Vec::new(), |mut names: Vec<String>, a| {
                if !names.iter().any(|n| n == a) {
                    names.push(a.to_owned());
                }
                names
            });
        let socket_request_max_bytes: usize = v.num("socket.request.max.bytes")?;
        let queued_max_request_bytes: u32 = v.num("queued.max.request.bytes")?;
        // An eighth is kept for small requests: the rest must hold the largest one.
        let shared = queued_max_request_bytes as usize - queued_max_request_bytes as usize / 8;
        if shared < socket_request_max_bytes {
            return Err(ConfigError::Unsupported {
                key: "queued.max.request.bytes".to_owned(),
                reason: format!(
                    "seven eighths of it must be at least socket.request.max.bytes, or the \
                     largest request could never be read ({shared} < {socket_request_max_bytes})"
                ),
            });
        }
        Ok(Config {
            node_id: v.num("node.id")?,
            // A controller-only node's one listener is its controller listener.
            listener: listeners
                .first()
                .map(|l| l.bind)
                .or(quorum.as_ref().map(|q| q.controller_bind))
                .ok_or_else(|| ConfigError::invalid("listeners", listener::EXPECTED, ""))?,
            listeners,
            quorum,
            broker_rack: v.get("broker.rack").filter(|r| !r.is_empty()),
            tls,
            ssl_principal_mapper,
            ssl_reload_interval_ms: v.num("ssl.reload.interval.ms")?,
            log_format: if v.string("log.format")? == "json" {
                LogFormat::Json
            } else {
                LogFormat::Text
            },
            metrics_listener: match v.string("metrics.listener")?.as_str() {
                "" => None,
                raw => Some(listener::resolve(
                    "metrics.listener",
                    &listener::parse("metrics.listener", raw)?,
                )?),
            },
            log_dir: PathBuf::from(v.string("log.dirs")?),
            num_network_threads: v.num("num.network.threads")?,
            num_recovery_threads_per_data_dir: v.num("num.recovery.threads.per.data.dir")?,
            num_partitions: v.num("num.partitions")?,
            max_broker_partitions: v.num("max.broker.partitions")?,
            default_replication_factor: v.num("default.replication.factor")?,
            auto_create_topics_enable: v.flag("auto.create.topics.enable")?,
            socket_request_max_bytes,
            queued_max_request_bytes,
            fetch_max_bytes: v.num("fetch.max.bytes")?,
            connections_max_idle_ms: v.num("connections.max.idle.ms")?,
            connections_max_reauth_ms: v.num("connections.max.reauth.ms")?,
            connection_failed_authentication_delay_ms: v
                .num("connection.failed.authentication.delay.ms")?,
            sasl_enabled_mechanisms: v
                .string("sasl.enabled.mechanisms")?
                .split(',')
                .map(str::to_string)
                .collect(),
            authorizer: if v.string("authorizer.class.name")?.is_empty() {
                None
            } else {
                Some(crate::security::acl::AuthorizerConfig {
                    super_users: crate::security::acl::parse_super_users(&v.string("super.users")?)
                        .map_err(|e| ConfigError::invalid("super.users", e.to_string(), ""))?,
                    allow_everyone_if_no_acl_found: v.flag("allow.everyone.if.no.acl.found")?,
                    ..Default::default()
                })
            },
            queued_max_requests: v.num("queued.max.requests")?,
            max_connections: v.num("max.connections")?,
            producer_id_expiration_ms: v.num("producer.id.expiration.ms")?,
            log_segment_delete_delay_ms: v.num("log.segment.delete.delay.ms")?,
            max_connections_per_ip: v.num("max.connections.per.ip")?,
            message_max_bytes: v.num("message.max.bytes")?,
            log_segment_bytes: v.num("log.segment.bytes")?,
            log_roll_ms,
            log_retention_ms: u64::try_from(retention).ok(),
            log_retention_bytes: u64::try_from(v.num::<i64>("log.retention.bytes")?).ok(),
            log_index_interval_bytes: v.num("log.index.interval.bytes")?,
            log_index_size_max_bytes: v.num("log.index.size.max.bytes")?,
            log_flush_interval_messages: v.num("log.flush.interval.messages")?,
            log_flush_interval_ms: v.opt_num("log.flush.interval.ms")?,
            log_message_timestamp_type: parse_timestamp_type(
                "log.message.timestamp.type",
                &v.string("log.message.timestamp.type")?,
            )?,
            log_cleanup_policy: CleanupPolicy::parse(
                "log.cleanup.policy",
                &v.string("log.cleanup.policy")?,
            )?,
            log_retention_check_interval_ms: v.num("log.retention.check.interval.ms")?,
            log_flush_offset_checkpoint_interval_ms: v
                .num("log.flush.offset.checkpoint.interval.ms")?,
            log_cleaner_enable: v.flag("log.cleaner.enable")?,
            log_cleaner_backoff_ms: v.num("log.cleaner.backoff.ms")?,
            log_cleaner_io_max_bytes_per_second: {
                let key = "log.cleaner.io.max.bytes.per.second";
                match v.get(key) {
                    None => None,
                    Some(_) => {
                        let rate: f64 = v
                            .string(key)?
                            .parse()
                            .map_err(|_| ConfigError::invalid(key, "a number", ""))?;
                        (rate < u64::MAX as f64).then_some(rate as u64)
                    }
                }
            },
            log_cleaner_dedupe_buffer_size: v.num("log.cleaner.dedupe.buffer.size")?,
            log_flush_before_ack: v.flag("log.flush.before.ack")?,
            group_initial_rebalance_delay_ms: v.num("group.initial.rebalance.delay.ms")?,
            group_min_session_timeout_ms,
            group_max_session_timeout_ms,
            group_consumer_session_timeout_ms,
            group_consumer_heartbeat_interval_ms,
            group_consumer_min_session_timeout_ms,
            group_consumer_max_session_timeout_ms,
            group_consumer_min_heartbeat_interval_ms,
            group_consumer_max_heartbeat_interval_ms,
            group_consumer_max_size: v.num("group.consumer.max.size")?,
            group_consumer_assignors,
            group_consumer_migration_policy: v.string("group.consumer.migration.policy")?,
            offsets_retention_minutes: v.num("offsets.retention.minutes")?,
            offsets_retention_check_interval_ms: v.num("offsets.retention.check.interval.ms")?,
            offsets_topic_num_partitions: v.num("offsets.topic.num.partitions")?,
            offsets_topic_replication_factor: v.num("offsets.topic.replication.factor")?,
            transaction_state_log_replication_factor: v
                .num("transaction.state.log.replication.factor")?,
            offsets_topic_segment_bytes: v.num("offsets.topic.segment.bytes")?,
            transaction_max_timeout_ms: v.num("transaction.max.timeout.ms")?,
            transactional_id_expiration_ms: v.num("transactional.id.expiration.ms")?,
            transaction_state_log_num_partitions: v.num("transaction.state.log.num.partitions")?,
            transaction_state_log_segment_bytes: v.num("transaction.state.log.segment.bytes")?,
            compression_type: v.string("compression.type")?,
            delete_topic_enable: v.flag("delete.topic.enable")?,
            set_values,
            dynamic: BTreeMap::new(),
        })
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

/// Kafka's check of a `group.consumer.*` default against its min and max keys.
fn within(key: &str, value: u32, min: u32, max: u32) -> Result<(), ConfigError> {
    if (min..=max).contains(&value) {
        return Ok(());
    }
    Err(ConfigError::Unsupported {
        key: key.to_owned(),
        reason: format!("must be between its min and max keys ({min} <= {value} <= {max})"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env() -> Vec<(String, String)> {
        Vec::new()
    }

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn from_toml(text: &str) -> Result<Config, ConfigError> {
        let mut config = Config::default();
        config.apply_toml(text, "test.toml")?;
        Ok(config)
    }

    fn entry<'a>(entries: &'a [ConfigEntry], name: &str) -> &'a ConfigEntry {
        entries
            .iter()
            .find(|e| e.name == name)
            .unwrap_or_else(|| panic!("no entry {name}"))
    }

    #[test]
    fn defaults_are_kafkas_with_aeons_listener_and_log_dir() {
        let c = Config::default();
        assert_eq!(c.node_id, 1);
        assert_eq!(c.listener, "127.0.0.1:9092".parse().expect("literal"));
        assert_eq!(c.log_dir, PathBuf::from("./data"));
        assert!(c.num_network_threads >= 1);
        assert_eq!(c.num_partitions, 1);
        assert_eq!(c.socket_request_max_bytes, 104_857_600);
        assert_eq!(c.queued_max_requests, 500);
        assert_eq!(c.message_max_bytes, 1_048_588);
        assert_eq!(c.log_segment_bytes, 1_073_741_824);
        assert_eq!(c.log_roll_ms, 168 * 3_600_000);
        assert_eq!(c.log_retention_ms, Some(168 * 3_600_000));
        assert_eq!(c.log_retention_bytes, None);
        assert_eq!(c.log_flush_interval_messages, i64::MAX as u64);
        assert_eq!(c.log_flush_interval_ms, None);
        assert!(!c.log_flush_before_ack);
        assert_eq!(c.compression_type, "producer");
        assert_eq!(c.listeners.len(), 1);
        assert_eq!(c.listeners[0].advertised, None);
    }

    #[test]
    fn precedence_is_default_then_file_then_env_then_set() {
        let mut c = Config::default();
        assert_eq!(c.origin("log.dirs"), Some(ValueOrigin::Default));
        c.apply_toml("log.dirs = \"/file\"\nnum.partitions = 3", "test.toml")
            .expect("file applies");
        assert_eq!(c.log_dir, PathBuf::from("/file"));
        assert_eq!(c.origin("log.dirs"), Some(ValueOrigin::File));
        c.apply_env(env(&[("AEON_LOG_DIRS", "/env")]))
            .expect("env applies");
        assert_eq!(c.log_dir, PathBuf::from("/env"));
        assert_eq!(c.origin("log.dirs"), Some(ValueOrigin::Env));
        c.set("log.dirs", "/cli").expect("set applies");
        assert_eq!(c.log_dir, PathBuf::from("/cli"));
        assert_eq!(c.origin("log.dirs"), Some(ValueOrigin::Override));
        // Keys a later layer does not touch keep the earlier layer's value.
        assert_eq!(c.num_partitions, 3);
        assert_eq!(c.origin("num.partitions"), Some(ValueOrigin::File));
    }

    #[test]
    fn load_applies_file_then_env() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("aeon.toml");
        std::fs::write(&path, "num.partitions = 3\nnode.id = 7\n").expect("write");
        let c = Config::load(Some(&path), env(&[("AEON_NUM_PARTITIONS", "5")])).expect("loads");
        assert_eq!((c.num_partitions, c.node_id), (5, 7));
    }

    #[test]
    fn missing_config_file_error_names_the_path() {
        let err = Config::load(Some(Path::new("/nonexistent/aeon.toml")), no_env())
            .expect_err("missing file");
        assert!(err.to_string().contains("/nonexistent/aeon.toml"), "{err}");
    }

    #[test]
    fn toml_quoted_and_dotted_keys_are_the_same_key() {
        let quoted = from_toml("\"log.retention.hours\" = 5").expect("quoted");
        let dotted = from_toml("log.retention.hours = 5").expect("dotted");
        let table = from_toml("[log.retention]\nhours = 5").expect("table");
        for c in [&quoted, &dotted, &table] {
            assert_eq!(c.log_retention_ms, Some(5 * 3_600_000));
        }
    }

    #[test]
    fn toml_key_written_both_ways_is_an_error() {
        let err = from_toml("\"num.partitions\" = 2\nnum.partitions = 3").expect_err("twice");
        assert!(err.to_string().contains("\"num.partitions\""), "{err}");
    }

    #[test]
    fn integer_given_as_string_is_accepted() {
        let c = from_toml("log.segment.bytes = \"2097152\"").expect("string integer");
        assert_eq!(c.log_segment_bytes, 2_097_152);
        assert_eq!(c.value("log.segment.bytes").as_deref(), Some("2097152"));
    }

    #[test]
    fn unknown_file_key_error_names_the_key() {
        let err = from_toml("log.segment.byte = 1").expect_err("unknown");
        let msg = err.to_string();
        assert!(msg.contains("\"log.segment.byte\""), "{msg}");
        assert!(matches!(err, ConfigError::UnknownKey { .. }));
    }

    #[test]
    fn unknown_env_key_error_names_the_variable_and_other_variables_are_ignored() {
        let err = Config::load(None, env(&[("AEON_LOG_SEGMENT_BYTE", "1")])).expect_err("unknown");
        let msg = err.to_string();
        assert!(
            msg.contains("log.segment.byte") && msg.contains("AEON_LOG_SEGMENT_BYTE"),
            "{msg}"
        );
        let c = Config::load(
            None,
            env(&[
                ("PATH", "/bin"),
                ("AEON_CONFIG", "x.toml"),
                ("HOME", "/root"),
            ]),
        )
        .expect("non-config variables are ignored");
        assert_eq!(c.origin("log.dirs"), Some(ValueOrigin::Default));
    }

    #[test]
    fn invalid_value_error_names_the_key_and_what_was_expected() {
        let err = from_toml("\"log.segment.bytes\" = \"abc\"").expect_err("abc");
        assert_eq!(
            err.to_string(),
            r#"config key "log.segment.bytes": expected an integer >= 1048576, got "abc""#
        );
        let err = from_toml("num.partitions = 0").expect_err("zero partitions");
        assert!(err.to_string().contains("\"num.partitions\""), "{err}");
        let err = from_toml("auto.create.topics.enable = \"yes\"").expect_err("not a bool");
        assert!(err.to_string().contains("true or false"), "{err}");
        let err = from_toml("log.message.timestamp.type = \"Now\"").expect_err("bad enum");
        assert!(
            err.to_string().contains("CreateTime, LogAppendTime"),
            "{err}"
        );
        let err = Config::load(None, env(&[("AEON_NODE_ID", "x")])).expect_err("env");
        assert!(err.to_string().contains("\"node.id\""), "{err}");
    }

    #[test]
    fn toml_arrays_are_a_type_error_naming_the_key() {
        let err = from_toml("log.dirs = [\"/a\"]").expect_err("array");
        assert!(err.to_string().contains("\"log.dirs\""), "{err}");
    }

    #[test]
    fn toml_float_for_an_integer_key_is_a_type_error() {
        let err = from_toml("log.segment.bytes = 2097152.0").expect_err("float");
        assert!(err.to_string().contains("\"log.segment.bytes\""), "{err}");
    }

    #[test]
    fn malformed_toml_is_a_parse_error_naming_the_file() {
        let err = from_toml("log.dirs = ").expect_err("syntax");
        assert!(err.to_string().contains("test.toml"), "{err}");
    }

    #[test]
    fn failed_set_leaves_the_config_unchanged() {
        let mut c = Config::default();
        assert!(c.set("num.partitions", "-3").is_err());
        assert!(c.set("no.such.key", "1").is_err());
        assert_eq!(c.num_partitions, 1);
        assert_eq!(c.origin("num.partitions"), Some(ValueOrigin::Default));
    }

    #[test]
    fn retention_ms_beats_minutes_beats_hours() {
        let hours = from_toml("log.retention.hours = 2").expect("hours");
        assert_eq!(hours.log_retention_ms, Some(2 * 3_600_000));
        let minutes =
            from_toml("log.retention.hours = 2\nlog.retention.minutes = 3").expect("minutes");
        assert_eq!(minutes.log_retention_ms, Some(3 * 60_000));
        let ms =
            from_toml("log.retention.hours = 2\nlog.retention.minutes = 3\nlog.retention.ms = 4")
                .expect("ms");
        assert_eq!(ms.log_retention_ms, Some(4));
    }

    #[test]
    fn retention_minus_one_means_unlimited_and_zero_is_rejected() {
        assert_eq!(
            from_toml("log.retention.ms = -1")
                .expect("-1")
                .log_retention_ms,
            None
        );
        assert_eq!(
            from_toml("log.retention.hours = -1")
                .expect("-1")
                .log_retention_ms,
            None
        );
        assert!(from_toml("log.retention.ms = 0").is_err());
    }

    #[test]
    fn roll_ms_beats_roll_hours() {
        let c = from_toml("log.roll.hours = 1\nlog.roll.ms = 1000").expect("roll");
        assert_eq!(c.log_roll_ms, 1000);
        assert_eq!(
            from_toml("log.roll.hours = 1").expect("h").log_roll_ms,
            3_600_000
        );
    }

    #[test]
    fn log_dir_alias_sets_log_dirs_and_log_dirs_wins_in_one_file() {
        let alias = from_toml("log.dir = \"/alias\"").expect("alias");
        assert_eq!(alias.log_dir, PathBuf::from("/alias"));
        let both = from_toml("log.dirs = \"/dirs\"\nlog.dir = \"/alias\"").expect("both");
        assert_eq!(both.log_dir, PathBuf::from("/dirs"));
    }

    #[test]
    fn several_log_dirs_are_an_error_naming_the_key() {
        let err = from_toml("log.dirs = \"/a,/b\"").expect_err("two dirs");
        let msg = err.to_string();
        assert!(
            msg.contains("\"log.dirs\"") && msg.contains("only one log directory is supported"),
            "{msg}"
        );
    }

    #[test]
    fn group_session_timeout_min_above_max_is_an_error() {
        let err = from_toml("group.min.session.timeout.ms = 10\ngroup.max.session.timeout.ms = 5")
            .expect_err("min > max");
        assert!(
            err.to_string().contains("group.min.session.timeout.ms"),
            "{err}"
        );
    }

    #[test]
    fn listener_accepts_both_forms_and_port_zero() {
        let mut c = Config::default();
        c.set("listeners", "127.0.0.1:0").expect("bare");
        assert_eq!(c.listener, "127.0.0.1:0".parse().expect("literal"));
        c.set("listeners", "PLAINTEXT://localhost:9093")
            .expect("url");
        assert!(c.listener.ip().is_loopback());
        assert_eq!(c.listener.port(), 9093);
        let err = c.set("listeners", "nonsense").expect_err("bad");
        assert!(err.to_string().contains("\"listeners\""), "{err}");
    }

    #[test]
    fn advertised_endpoint_defaults_to_listener_host_and_bound_port() {
        let bound: SocketAddr = "127.0.0.1:40123".parse().expect("literal");
        let mut c = Config::default();
        let first = |c: &Config| c.listeners[0].advertised_endpoint(bound);
        c.set("listeners", "127.0.0.1:0").expect("listener");
        assert_eq!(first(&c), ("127.0.0.1".to_owned(), 40123));
        c.set("listeners", "0.0.0.0:0").expect("any");
        assert_eq!(first(&c), ("localhost".to_owned(), 40123));
        c.set("listeners", "[::]:0").expect("any v6");
        assert_eq!(first(&c), ("localhost".to_owned(), 40123));
        c.set("advertised.listeners", "PLAINTEXT://broker.example:9092")
            .expect("advertised");
        assert_eq!(first(&c), ("broker.example".to_owned(), 9092));
    }

    #[test]
    fn several_listeners_get_their_protocols_and_advertised_addresses() {
        let mut c = Config::default();
        c.set(
            "listener.security.protocol.map",
            "INTERNAL:PLAINTEXT,CLIENTS:PLAINTEXT",
        )
        .expect("map");
        c.set("listeners", "INTERNAL://127.0.0.1:0,CLIENTS://0.0.0.0:0")
            .expect("two listeners");
        c.set("advertised.listeners", "CLIENTS://kafka.example:9093")
            .expect("advertised");
        let bound: SocketAddr = "127.0.0.1:40123".parse().expect("literal");
        let l = &c.listeners;
        assert_eq!(
            (l[0].name.as_str(), l[0].protocol),
            ("INTERNAL", SecurityProtocol::Plaintext)
        );
        assert_eq!(l[1].protocol, SecurityProtocol::Plaintext);
        assert_eq!(
            l[0].advertised_endpoint(bound),
            ("127.0.0.1".to_owned(), 40123)
        );
        assert_eq!(
            l[1].advertised_endpoint(bound),
            ("kafka.example".to_owned(), 9093)
        );
        assert_eq!(c.listener, l[0].bind);
        // A listener without a protocol, an advertised name without a listener, TLS
        // without key material.
        let err = Config::default()
            .set("listeners", "OTHER://127.0.0.1:0")
            .expect_err("no protocol");
        assert!(err.to_string().contains("no security protocol"), "{err}");
        let err = c
            .set("advertised.listeners", "ELSEWHERE://h:1")
            .expect_err("stray");
        assert!(err.to_string().contains("names no listener"), "{err}");
        let err = Config::default()
            .set("listeners", "SSL://127.0.0.1:0")
            .expect_err("tls");
        assert!(err.to_string().contains("ssl.keystore.location"), "{err}");
    }

    #[test]
    fn describe_reports_every_key_with_its_source_type_and_synonyms() {
        let mut c = from_toml("log.retention.hours = 24").expect("file");
        c.apply_env(env(&[("AEON_NUM_PARTITIONS", "2")]))
            .expect("env");
        let entries = c.describe();
        assert_eq!(entries.len(), BROKER_KEYS.len());

        let hours = entry(&entries, "log.retention.hours");
        assert_eq!(hours.value.as_deref(), Some("24"));
        assert_eq!(hours.source, ConfigSource::StaticBroker);
        assert_eq!(hours.source.code(), 4);
        assert_eq!(hours.config_type.code(), 3);
        let synonyms: Vec<(&str, Option<&str>, ConfigSource)> = hours
            .synonyms
            .iter()
            .map(|s| (s.name.as_str(), s.value.as_deref(), s.source))
            .collect();
        assert_eq!(
            synonyms,
            vec![
                (
                    "log.retention.hours",
                    Some("24"),
                    ConfigSource::StaticBroker
                ),
                ("log.retention.hours", Some("168"), ConfigSource::Default),
            ]
        );

        let partitions = entry(&entries, "num.partitions");
        assert_eq!(partitions.source, ConfigSource::StaticBroker);

        let segment = entry(&entries, "log.segment.bytes");
        assert_eq!(segment.source, ConfigSource::Default);
        assert_eq!(segment.source.code(), 5);
        assert_eq!(segment.value.as_deref(), Some("1073741824"));

        let flush = entry(&entries, "log.flush.interval.ms");
        assert_eq!(flush.value, None);
        assert!(flush.synonyms.is_empty());

        assert!(entries.iter().all(|e| e.read_only
            != DYNAMIC_BROKER_KEYS.contains(&e.name.as_str())
            && e.sensitive == (e.config_type == crate::config::ConfigType::Password)));
        assert!(entry(&entries, "ssl.keystore.key").sensitive);
        assert!(entries.iter().all(|e| !e.documentation.is_empty()));
        assert_eq!(
            entry(&entries, "auto.create.topics.enable")
                .config_type
                .code(),
            1
        );
        assert_eq!(entry(&entries, "log.retention.ms").config_type.code(), 5);
    }

    #[test]
    fn effective_summary_lists_every_key_with_origins() {
        let c = from_toml("num.partitions = 4").expect("file");
        let summary = c.effective_summary();
        for def in BROKER_KEYS {
            assert!(summary.contains(&format!("{}=", def.name)), "{}", def.name);
        }
        assert!(summary.contains("num.partitions=4 (file)"), "{summary}");
        assert!(summary.contains("log.flush.interval.ms=null"), "{summary}");
        assert!(!summary.contains('\n'));
    }

    fn aeon_toml_path() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("config/aeon.toml")
    }

    #[test]
    fn log_cleaner_keys_default_to_kafka_and_an_io_limit_is_bytes_per_second() {
        let c = Config::default();
        assert!(c.log_cleaner_enable);
        assert_eq!(c.log_cleaner_backoff_ms, 15_000);
        assert_eq!(c.log_cleaner_io_max_bytes_per_second, None);
        assert_eq!(c.log_cleaner_dedupe_buffer_size, 128 * 1024 * 1024);
        let mut c = Config::default();
        c.set("log.cleaner.io.max.bytes.per.second", "1048576.0")
            .expect("set");
        assert_eq!(c.log_cleaner_io_max_bytes_per_second, Some(1_048_576));
        assert!(c.set("log.cleaner.io.max.bytes.per.second", "0").is_err());
        assert!(c.set("log.cleaner.backoff.ms", "-1").is_err());
    }

    #[test]
    fn shipped_aeon_toml_loads_with_the_single_node_defaults() {
        let c = Config::load(Some(&aeon_toml_path()), no_env()).expect("config/aeon.toml loads");
        assert_eq!(c.listener, "127.0.0.1:9092".parse().expect("literal"));
        assert_eq!(c.log_dir, PathBuf::from("./data"));
        assert_eq!(
            c.value("listeners").as_deref(),
            Some("PLAINTEXT://127.0.0.1:9092")
        );
    }

    #[test]
    fn a_cluster_node_splits_its_controller_listener_off_and_must_be_a_voter() {
        let node = |id: i32, voters: &str| {
            format!(
                "node.id = {id}\nprocess.roles = \"broker,controller\"\n\
                 listeners = \"PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093\"\n\
                 controller.listener.names = \"CONTROLLER\"\n\
                 controller.quorum.voters = \"{voters}\"\n"
            )
        };
        let c = from_toml(&node(2, "1@h1:9093,2@127.0.0.1:9093")).expect("a voter");
        let q = c.quorum.as_ref().expect("quorum");
        assert_eq!(q.voters.len(), 2);
        assert_eq!(
            q.controller_bind,
            "127.0.0.1:9093".parse().expect("literal")
        );
        assert_eq!(
            c.listeners.len(),
            1,
            "the controller listener serves no client"
        );
        assert_eq!(c.listeners[0].name, "PLAINTEXT");
        let err = from_toml(&node(3, "1@h1:9093,2@h2:9093")).expect_err("not a voter");
        assert!(
            err.to_string().contains("controller.quorum.voters"),
            "{err}"
        );
        let err = from_toml(&node(1, "1@h1")).expect_err("no port");
        assert!(
            err.to_string().contains("controller.quorum.voters"),
            "{err}"
        );
        let err = from_toml("controller.quorum.voters = \"1@h:1\"").expect_err("no roles");
        assert!(err.to_string().contains("process.roles"), "{err}");
        assert!(from_toml("num.partitions = 1")
            .expect("single")
            .quorum
            .is_none());
    }

    #[test]
    fn shipped_aeon_toml_documents_every_broker_key() {
        let text = std::fs::read_to_string(aeon_toml_path()).expect("read config/aeon.toml");
        let keys_in_file: Vec<String> = text
            .lines()
            .map(|line| line.trim_start_matches('#').trim())
            .filter_map(|line| line.split_once('='))
            .map(|(key, _)| key.trim().trim_matches('"').to_owned())
            .collect();
        for entry in Config::default().describe() {
            assert!(
                keys_in_file.contains(&entry.name),
                "config/aeon.toml does not mention {}",
                entry.name
            );
        }
    }
}
