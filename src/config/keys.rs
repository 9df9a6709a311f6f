//! The tables of known config keys: name, value kind, Kafka's type, default, one-line doc.
//!
//! Names, types, defaults and ranges follow Kafka 4.x (`ServerLogConfigs`, `LogConfig`,
//! `TopicConfig`); where Aeon differs it says so in the doc line. The validation here is
//! the only place a raw string becomes a trusted value.

use super::entry::ConfigType;
use super::error::ConfigError;
use super::listener;

const I32_MAX: i64 = i32::MAX as i64;
const I64_MAX: i64 = i64::MAX;
const I64_MIN: i64 = i64::MIN;

/// What values a key accepts.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Bool,
    /// An integer inside one of these inclusive ranges.
    Int(&'static [(i64, i64)]),
    /// A finite number inside this inclusive range.
    Double(f64, f64),
    /// Exactly one of these strings (case-sensitive, as in Kafka).
    OneOf(&'static [&'static str]),
    /// A non-empty comma-separated list of these strings.
    ListOf(&'static [&'static str]),
    /// A list of `NAME://host:port` (or `host:port`), port 0 allowed.
    Listener,
    /// Like [`Kind::Listener`] but routable: no port 0, no 0.0.0.0.
    AdvertisedListener,
    /// `host:port` of an HTTP listener (port 0 allowed), or empty for none.
    HttpListener,
    /// `NAME:PROTOCOL` pairs.
    ProtocolMap,
    /// One directory path.
    Directory,
    /// `*`, empty, or a list of `partition:broker` pairs.
    ThrottledReplicas,
    /// Any text, kept as given (a path, PEM text, a rule list).
    Text,
    /// Principals (`Type:name`) separated by `;`, as `super.users`.
    Principals,
}

/// A key's default.
#[derive(Debug, Clone, Copy)]
pub enum DefaultValue {
    /// No value unless set (described with a null value).
    Unset,
    Value(&'static str),
    /// `std::thread::available_parallelism()`.
    AvailableCores,
}

impl DefaultValue {
    pub fn resolve(self) -> Option<String> {
        match self {
            DefaultValue::Unset => None,
            DefaultValue::Value(v) => Some(v.to_owned()),
            DefaultValue::AvailableCores => Some(
                std::thread::available_parallelism()
                    .map_or(1, |n| n.get())
                    .to_string(),
            ),
        }
    }

    /// How the default reads in documentation.
    pub fn describe(self) -> String {
        match self {
            DefaultValue::Unset => "(unset)".to_owned(),
            DefaultValue::Value(v) => format!("`{v}`"),
            DefaultValue::AvailableCores => "number of cores".to_owned(),
        }
    }
}

/// One known key.
#[derive(Debug, Clone, Copy)]
pub struct KeyDef {
    pub name: &'static str,
    pub kind: Kind,
    pub config_type: ConfigType,
    pub default: DefaultValue,
    pub doc: &'static str,
}

impl KeyDef {
    /// Checks `raw` against this key and returns the normalised value.
    pub fn validate(&self, raw: &str) -> Result<String, ConfigError> {
        validate(self.name, self.kind, raw)
    }
}

/// One known topic config, with the broker keys that supply its default.
#[derive(Debug, Clone, Copy)]
pub struct TopicKeyDef {
    pub key: KeyDef,
    /// Kafka's broker synonyms, highest precedence first (`log.retention.ms`,
    /// `log.retention.minutes`, `log.retention.hours` for `retention.ms`).
    pub broker_synonyms: &'static [&'static str],
}

/// The broker keys that are spelled differently but mean the same key.
const ALIASES: &[(&str, &str)] = &[("log.dir", "log.dirs")];

/// The canonical broker key for `name`, resolving aliases; `None` if unknown.
pub fn broker_key(name: &str) -> Option<&'static KeyDef> {
    let name = ALIASES
        .iter()
        .find(|(alias, _)| *alias == name)
        .map_or(name, |(_, canonical)| canonical);
    BROKER_KEYS.iter().find(|k| k.name == name)
}

/// The topic config called `name`, if Aeon knows it.
pub fn topic_key(name: &str) -> Option<&'static TopicKeyDef> {
    TOPIC_KEYS.iter().find(|k| k.key.name == name)
}

fn expected(kind: Kind) -> String {
    match kind {
        Kind::Bool => "true or false".to_owned(),
        Kind::Int(ranges) => ranges
            .iter()
            .map(|&(lo, hi)| match (lo, hi) {
                (lo, hi) if lo == hi => lo.to_string(),
                (I64_MIN, I64_MAX) => "an integer".to_owned(),
                (lo, I32_MAX | I64_MAX) => format!("an integer >= {lo}"),
                (lo, hi) => format!("an integer between {lo} and {hi}"),
            })
            .collect::<Vec<_>>()
            .join(" or "),
        Kind::Double(lo, hi) => format!("a number between {lo} and {hi}"),
        Kind::OneOf(values) => format!(
            "one of {}",
            values
                .iter()
                .map(|v| if v.is_empty() { "(empty)" } else { v })
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Kind::ListOf(values) => format!("a comma-separated list of {}", values.join(", ")),
        Kind::Listener => listener::EXPECTED.to_owned(),
        Kind::AdvertisedListener => listener::EXPECTED_ADVERTISED.to_owned(),
        Kind::HttpListener => "host:port, or empty for none".to_owned(),
        Kind::ProtocolMap => listener::EXPECTED_MAP.to_owned(),
        Kind::Directory => "a directory path".to_owned(),
        Kind::ThrottledReplicas => "*, or a list of partition:broker pairs".to_owned(),
        Kind::Text => "text".to_owned(),
        Kind::Principals => "principals Type:name separated by ;".to_owned(),
    }
}

/// Checks `raw` against `kind` for key `name` and returns the normalised value.
pub fn validate(name: &str, kind: Kind, raw: &str) -> Result<String, ConfigError> {
    let bad = || ConfigError::invalid(name, expected(kind), raw);
    let value = raw.trim();
    match kind {
        Kind::Bool => {
            if value.eq_ignore_ascii_case("true") {
                Ok("true".to_owned())
            } else if value.eq_ignore_ascii_case("false") {
                Ok("false".to_owned())
            } else {
                Err(bad())
            }
        }
        Kind::Int(ranges) => {
            let n: i64 = value.parse().map_err(|_| bad())?;
            if ranges.iter().any(|&(lo, hi)| (lo..=hi).contains(&n)) {
                Ok(n.to_string())
            } else {
                Err(bad())
            }
        }
        Kind::Double(lo, hi) => {
            let x: f64 = value.parse().map_err(|_| bad())?;
            if x.is_finite() && (lo..=hi).contains(&x) {
                Ok(x.to_string())
            } else {
                Err(bad())
            }
        }
        Kind::OneOf(values) => values
            .iter()
            .find(|v| **v == value)
            .map(|v| (*v).to_owned())
            .ok_or_else(bad),
        Kind::ListOf(values) => {
            let mut items: Vec<&str> = Vec::new();
            for item in value.split(',').map(str::trim) {
                if !values.contains(&item) {
                    return Err(bad());
                }
                if !items.contains(&item) {
                    items.push(item);
                }
            }
            Ok(items.join(","))
        }
        Kind::Listener => listener::parse_list(name, value, false).map(|_| value.to_owned()),
        Kind::AdvertisedListener => {
            listener::parse_list(name, value, true).map(|_| value.to_owned())
        }
        Kind::HttpListener if value.is_empty() => Ok(String::new()),
        Kind::HttpListener if value.contains("://") => Err(bad()),
        Kind::HttpListener => listener::parse(name, value).map(|_| value.to_owned()),
        Kind::ProtocolMap => listener::parse_protocol_map(name, value).map(|_| value.to_owned()),
        Kind::Directory => {
            let dirs: Vec<&str> = value
                .split(',')
                .map(str::trim)
                .filter(|d| !d.is_empty())
                .collect();
            match dirs.as_slice() {
                [] => Err(bad()),
                [dir] => Ok((*dir).to_owned()),
                _ => Err(ConfigError::Unsupported {
                    key: name.to_owned(),
                    reason: format!("only one log directory is supported, got {raw:?}"),
                }),
            }
        }
        Kind::ThrottledReplicas => {
            if value.is_empty() || value == "*" {
                return Ok(value.to_owned());
            }
            let mut pairs = Vec::new();
            for pair in value.split(',').map(str::trim) {
                let (partition, broker) = pair.split_once(':').ok_or_else(bad)?;
                let partition: u32 = partition.trim().parse().map_err(|_| bad())?;
                let broker: u32 = broker.trim().parse().map_err(|_| bad())?;
                pairs.push(format!("{partition}:{broker}"));
            }
            Ok(pairs.join(","))
        }
        Kind::Text => Ok(raw.to_owned()),
        Kind::Principals => crate::security::acl::parse_super_users(value)
            .map(|_| value.to_owned())
            .map_err(|_| bad()),
    }
}

const AT_LEAST_0_INT: &[(i64, i64)] = &[(0, I32_MAX)];
const AT_LEAST_1_INT: &[(i64, i64)] = &[(1, I32_MAX)];
/// The assignors `group.consumer.assignors` may name: Kafka's short names and classes.
const CONSUMER_ASSIGNORS: &[&str] = &[
    "uniform",
    "range",
    "org.apache.kafka.coordinator.group.assignor.UniformAssignor",
    "org.apache.kafka.coordinator.group.assignor.RangeAssignor",
];
/// The authorizers `authorizer.class.name` may name: none, or Kafka's KRaft one.
const AUTHORIZERS: &[&str] = &[
    "",
    "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
];
const AT_LEAST_0_LONG: &[(i64, i64)] = &[(0, I64_MAX)];
const AT_LEAST_1_LONG: &[(i64, i64)] = &[(1, I64_MAX)];
/// Kafka 4.x: `log.segment.bytes` / `segment.bytes` are `atLeast(1024 * 1024)`.
const SEGMENT_BYTES: &[(i64, i64)] = &[(1_048_576, I32_MAX)];
/// -1 means unlimited; 0 is rejected as Kafka's `KafkaConfig` does for retention.
const RETENTION_INT: &[(i64, i64)] = &[(-1, -1), (1, I32_MAX)];
const RETENTION_LONG: &[(i64, i64)] = &[(-1, -1), (1, I64_MAX)];
const ANY_LONG: &[(i64, i64)] = &[(I64_MIN, I64_MAX)];
const CLEANUP_POLICIES: &[&str] = &["compact", "delete"];
const TIMESTAMP_TYPES: &[&str] = &["CreateTime", "LogAppendTime"];
/// `BrokerCompressionType` names.
const COMPRESSION_TYPES: &[&str] = &["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"];

const fn key(
    name: &'static str,
    kind: Kind,
    config_type: ConfigType,
    default: DefaultValue,
    doc: &'static str,
) -> KeyDef {
    KeyDef {
        name,
        kind,
        config_type,
        default,
        doc,
    }
}

use DefaultValue::{AvailableCores, Unset, Value};

/// Every broker key Aeon knows, in the order they are documented and described.
#[rustfmt::skip]
pub static BROKER_KEYS: &[KeyDef] = &[
    key("node.id", Kind::Int(AT_LEAST_0_INT), ConfigType::Int, Value("1"),
        "The id of this broker, reported to clients in Metadata."),
    key("process.roles", Kind::Text, ConfigType::List, Unset,
        "The roles of this node in a cluster: broker,controller (KRaft's combined mode: a broker that is also a voter of the metadata quorum), controller (a voter that serves no client) or broker (a broker that follows the quorum's log as a learner; it still needs a controller listener, where the quorum's leader streams the log to it). Unset: a single broker with no quorum, as before."),
    key("controller.quorum.voters", Kind::Text, ConfigType::List, Unset,
        "The voters of the metadata quorum, id@host:port entries naming each voter's controller listener; needed with process.roles, and lists this node exactly when it is a controller. Every node must list the same voters."),
    key("controller.listener.names", Kind::Text, ConfigType::List, Unset,
        "The listener (a name of listeners) that carries the metadata quorum's traffic among the voters, not served to clients; PLAINTEXT unless listener.security.protocol.map says otherwise (only PLAINTEXT is served)."),
    key("metadata.log.max.record.bytes.between.snapshots", Kind::Int(AT_LEAST_1_INT), ConfigType::Long, Value("20971520"),
        "A node snapshots its metadata image once this many bytes were appended to the metadata log since the last snapshot; the log before a snapshot is then dropped but for its last 50 entries, and a node too far behind (a new broker) is sent the snapshot."),
    key("broker.rack", Kind::Text, ConfigType::String, Unset,
        "The rack of this broker: placement spreads a topic's partitions across racks."),
    key("broker.heartbeat.interval.ms", Kind::Int(AT_LEAST_1_INT), ConfigType::Int, Value("2000"),
        "How often a broker heartbeats the active controller, in milliseconds."),
    key("broker.session.timeout.ms", Kind::Int(AT_LEAST_1_INT), ConfigType::Int, Value("9000"),
        "How long the active controller waits for a broker's heartbeat before it fences the broker (the partitions it led move to other in-sync replicas; one with none left is offline, leader -1, until a member returns), in milliseconds."),
    key("replica.lag.time.max.ms", Kind::Int(AT_LEAST_1_LONG), ConfigType::Long, Value("30000"),
        "A follower that has not caught up with its leader's log end for this long leaves the partition's in-sync replicas (the leader commits the change through the metadata quorum), in milliseconds; it rejoins once it has caught up."),
    key("replica.fetch.wait.max.ms", Kind::Int(AT_LEAST_0_INT), ConfigType::Int, Value("500"),
        "How long a follower's fetch waits at the leader for new data, in milliseconds."),
    key("replica.fetch.min.bytes", Kind::Int(AT_LEAST_1_INT), ConfigType::Int, Value("1"),
        "How many bytes a follower's fetch waits for at the leader."),
    key("replica.fetch.max.bytes", Kind::Int(AT_LEAST_0_INT), ConfigType::Int, Value("1048576"),
        "The bytes a follower fetches per partition in one request (at least one batch)."),
    key("replica.fetch.response.max.bytes", Kind::Int(AT_LEAST_0_INT), ConfigType::Int, Value("10485760"),
        "The bytes a follower fetches in one request across its partitions (at least one batch)."),
    key("replica.fetch.backoff.ms", Kind::Int(AT_LEAST_0_INT), ConfigType::Int, Value("1000"),
        "How long a follower waits before it fetches again after an error, in milliseconds."),
    key("replica.socket.timeout.ms", Kind::Int(AT_LEAST_1_INT), ConfigType::Int, Value("30000"),
        "How long a follower waits for its leader to answer (beyond replica.fetch.wait.max.ms) before it reconnects, in milliseconds."),
    key("auto.leader.rebalance.enable", Kind::Bool, ConfigType::Boolean, Value("true"),
        "Whether the active controller moves leadership back to each partition's preferred replica (its first) once that replica is live and in sync again, for brokers over leader.imbalance.per.broker.percentage."),
    key("leader.imbalance.check.interval.seconds", Kind::Int(AT_LEAST_1_LONG), ConfigType::Long, Value("300"),
        "How often the active controller checks the leadership balance, in seconds."),
    key("leader.imbalance.per.broker.percentage", Kind::Int(&[(0, 100)]), ConfigType::Int, Value("10"),
        "The share of a broker's preferred partitions (in percent) that may be led elsewhere before the controller moves them back."),
    key("controller.quorum.election.timeout.ms", Kind::Int(AT_LEAST_1_INT), ConfigType::Int, Value("1000"),
        "How long a voter goes without hearing from a leader before it stands for election, in milliseconds (drawn between it and twice it)."),
    key("listeners", Kind::Listener, ConfigType::List, Value("PLAINTEXT://127.0.0.1:9092"),
        "The addresses to listen on: a comma-separated list of NAME://host:port (host:port alone is PLAINTEXT); each name needs a protocol in listener.security.protocol.map; port 0 picks a free port."),
    key("listener.security.protocol.map", Kind::ProtocolMap, ConfigType::String, Value("PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL"),
        "The security protocol of each listener name: NAME:PROTOCOL pairs, PROTOCOL one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL (SSL and SASL_SSL need the ssl.keystore keys); a listener named after a protocol has that protocol when the map does not list it."),
    key("advertised.listeners", Kind::AdvertisedListener, ConfigType::List, Unset,
        "Per listener name, the address given to clients that connect through it (Metadata, FindCoordinator, DescribeCluster): NAME://host:port entries; a listener not listed advertises its own host (localhost for 0.0.0.0) and bound port."),
    key("metrics.listener", Kind::HttpListener, ConfigType::String, Value("127.0.0.1:9644"),
        "The host:port of the HTTP listener for operations: /metrics (Prometheus), /health and /ready; empty for none (then no metric is recorded)."),
    key("log.format", Kind::OneOf(&["text", "json"]), ConfigType::String, Value("text"),
        "The broker's own log on stderr: text lines, or one JSON object per line; RUST_LOG filters it (aeon=info by default: no line per request)."),
    key("log.dirs", Kind::Directory, ConfigType::List, Value("./data"),
        "The directory that holds all partition logs and broker metadata (one directory; alias log.dir)."),
    key("num.network.threads", Kind::Int(AT_LEAST_1_INT), ConfigType::Int, AvailableCores,
        "Threads serving connections (actix workers); Kafka's default is 3, Aeon's the number of cores."),
    key("num.recovery.threads.per.data.dir", Kind::Int(AT_LEAST_1_INT), ConfigType::Int, Value("2"),
        "Threads that open the partition logs at startup, in parallel (after an unclean shutdown they also recover them)."),
    key("num.partitions", Kind::Int(AT_LEAST_1_INT), ConfigType::Int, Value("1"),
        "The number of partitions of an auto-created topic or of a CreateTopics request that gives -1."),
    key("max.broker.partitions", Kind::Int(AT_LEAST_1_INT), ConfigType::Int, Value("10000"),
        "The most partitions this broker holds, internal topics included; a CreateTopics, CreatePartitions or auto-creation past it is refused with POLICY_VIOLATION (each partition maps three files; Kafka: unlimited, KIP-578's name)."),
    key("default.replication.factor", Kind::Int(&[(1, 32_767)]), ConfigType::Int, Value("1"),
        "The replication factor of an auto-created topic, and of a created one that names none: 1 on a single broker; in a cluster at most the number of live brokers."),
    key("auto.create.topics.enable", Kind::Bool, ConfigType::Boolean, Value("true"),
        "Create a topic when a client asks for its metadata or produces to it."),
    key("socket.request.max.bytes", Kind::Int(AT_LEAST_1_INT), ConfigType::Int, Value("104857600"),
        "The largest request the broker reads, in bytes; a bigger size prefix closes the connection."),
    key("fetch.max.bytes", Kind::Int(AT_LEAST_0_INT), ConfigType::Int, Value("57671680"),
        "The most bytes of records one fetch response carries, whatever the client asks for."),
    key("connections.max.idle.ms", Kind::Int(AT_LEAST_0_LONG), ConfigType::Long, Value("600000"),
        "Close a connection after it has been idle this many milliseconds."),
    key("sasl.enabled.mechanisms", Kind::ListOf(&["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]), ConfigType::List, Value("SCRAM-SHA-256,SCRAM-SHA-512"),
        "The SASL mechanisms SASL listeners offer; PLAIN checks the password against the user's SCRAM credential. Kafka's default is GSSAPI, which Aeon does not serve."),
    key("connections.max.reauth.ms", Kind::Int(AT_LEAST_0_LONG), ConfigType::Long, Value("0"),
        "The lifetime of a SASL session (KIP-368): clients re-authenticate on the open connection before it ends, and a request after it closes the connection; 0 for no limit."),
    key("connection.failed.authentication.delay.ms", Kind::Int(AT_LEAST_0_INT), ConfigType::Int, Value("100"),
        "After a failed SASL authentication, how long the connection stays open (taking no request) before it is closed, in milliseconds: the client reads why, a password guesser is slowed."),
    key("authorizer.class.name", Kind::OneOf(AUTHORIZERS), ConfigType::Class, Value(""),
        "Empty: no authorization, every client may do everything (the two-command start). Kafka's org.apache.kafka.metadata.authorizer.StandardAuthorizer: every request is checked against the ACLs (CreateAcls, DescribeAcls, DeleteAcls; kept in acls.json in the data directory)."),
    key("super.users", Kind::Principals, ConfigType::String, Value(""),
        "Principals allowed everything whatever the ACLs say, separated by ; (e.g. User:admin;User:CN=ops)."),
    key("allow.everyone.if.no.acl.found", Kind::Bool, ConfigType::Boolean, Value("false"),
        "With an authorizer: allow an operation on a resource that no ACL covers."),
    key("ssl.keystore.type", Kind::OneOf(&["PEM"]), ConfigType::String, Value("PEM"),
        "The format of the TLS key and certificates: PEM only (KIP-651); Aeon reads no JKS or PKCS12 store."),
    key("ssl.keystore.location", Kind::Text, ConfigType::String, Unset,
        "A PEM file with this broker's certificate chain (leaf first) and its private key, for SSL and SASL_SSL listeners; reread when it changes. Or give them inline with ssl.keystore.certificate.chain and ssl.keystore.key."),
    key("ssl.keystore.certificate.chain", Kind::Text, ConfigType::Password, Unset,
        "This broker's certificate chain as PEM text, leaf first (instead of ssl.keystore.location)."),
    key("ssl.keystore.key", Kind::Text, ConfigType::Password, Unset,
        "This broker's private key as PEM text, PKCS#8, PKCS#1 or SEC1, unencrypted (instead of ssl.keystore.location)."),
    key("ssl.key.password", Kind::Text, ConfigType::Password, Unset,
        "Refused when set: Aeon reads unencrypted PEM keys only."),
    key("ssl.truststore.type", Kind::OneOf(&["PEM"]), ConfigType::String, Value("PEM"),
        "The format of the trusted certificates: PEM only."),
    key("ssl.truststore.location", Kind::Text, ConfigType::String, Unset,
        "A PEM file with the CA certificates that client certificates must chain to (ssl.client.auth); reread when it changes."),
    key("ssl.truststore.certificates", Kind::Text, ConfigType::Password, Unset,
        "The trusted CA certificates as PEM text (instead of ssl.truststore.location)."),
    key("ssl.client.auth", Kind::OneOf(&["none", "requested", "required"]), ConfigType::String, Value("none"),
        "Whether clients of SSL listeners present a certificate: none; requested (verified if sent); required. A client's certificate names its principal (ssl.principal.mapping.rules). SASL_SSL listeners ask for none: SASL names their clients (as Kafka without a listener.name prefix)."),
    key("ssl.principal.mapping.rules", Kind::Text, ConfigType::String, Value("DEFAULT"),
        "Kafka's rules turning a client certificate's subject (RFC 2253, e.g. CN=alice,O=Acme) into a user name: RULE:pattern/replacement/[LU], ..., DEFAULT (the whole subject)."),
    key("ssl.enabled.protocols", Kind::ListOf(&["TLSv1.2", "TLSv1.3"]), ConfigType::List, Value("TLSv1.2,TLSv1.3"),
        "The TLS versions SSL and SASL_SSL listeners accept."),
    key("ssl.cipher.suites", Kind::Text, ConfigType::List, Unset,
        "The cipher suites SSL and SASL_SSL listeners accept, by IANA name (e.g. TLS_AES_128_GCM_SHA256,TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256); unset: all that rustls offers with ring."),
    key("ssl.reload.interval.ms", Kind::Int(AT_LEAST_0_LONG), ConfigType::Long, Value("30000"),
        "How often the key, certificate and trust files are checked for changes; a change is loaded for new connections without a restart (Aeon; 0: never, Kafka reloads on an AlterConfigs only)."),
    key("queued.max.requests", Kind::Int(AT_LEAST_1_INT), ConfigType::Int, Value("500"),
        "Per connection, the most requests in flight; Aeon stops reading the socket past it (Kafka: the broker-wide request queue)."),
    key("queued.max.request.bytes", Kind::Int(&[(1, 4_294_967_295)]), ConfigType::Long, Value("536870912"),
        "Broker-wide, the most bytes of requests read and not yet answered: a large request takes its bytes as they arrive and waits, unread, when none are left; an eighth is kept for requests of up to 1 MiB (Kafka: -1, unlimited). Seven eighths of it must hold socket.request.max.bytes."),
    key("max.connections", Kind::Int(AT_LEAST_1_INT), ConfigType::Int, Value("10000"),
        "The most client connections open at once; past it a new connection is accepted and closed at once, with a log line (Kafka: unlimited)."),
    key("max.connections.per.ip", Kind::Int(AT_LEAST_1_INT), ConfigType::Int, Value("1000"),
        "The most connections open at once from one IP address; past it a new connection is accepted and closed at once, with a log line (Kafka: unlimited)."),
    key("message.max.bytes", Kind::Int(AT_LEAST_0_INT), ConfigType::Int, Value("1048588"),
        "The largest record batch a topic accepts, in bytes (default of the topic config max.message.bytes)."),
    key("log.segment.bytes", Kind::Int(SEGMENT_BYTES), ConfigType::Int, Value("1073741824"),
        "Roll a new log segment when the active one reaches this many bytes."),
    key("log.roll.ms", Kind::Int(AT_LEAST_1_LONG), ConfigType::Long, Unset,
        "Roll a new log segment after this many milliseconds; takes precedence over log.roll.hours."),
    key("log.roll.hours", Kind::Int(AT_LEAST_1_INT), ConfigType::Int, Value("168"),
        "Roll a new log segment after this many hours."),
    key("log.retention.ms", Kind::Int(RETENTION_LONG), ConfigType::Long, Unset,
        "Delete segments older than this many milliseconds, -1 for no limit; takes precedence over minutes and hours."),
    key("log.retention.minutes", Kind::Int(RETENTION_INT), ConfigType::Int, Unset,
        "Delete segments older than this many minutes, -1 for no limit; takes precedence over hours."),
    key("log.retention.hours", Kind::Int(RETENTION_INT), ConfigType::Int, Value("168"),
        "Delete segments older than this many hours, -1 for no limit."),
    key("log.retention.bytes", Kind::Int(ANY_LONG), ConfigType::Long, Value("-1"),
        "Delete the oldest segments while a partition is bigger than this many bytes; -1 for no limit."),
    key("log.segment.delete.delay.ms", Kind::Int(AT_LEAST_0_LONG), ConfigType::Long, Value("60000"),
        "How long the files of a segment removed by retention, DeleteRecords or the cleaner stay (renamed *.deleted, closed) before they are deleted, in milliseconds (default of the topic config file.delete.delay.ms)."),
    key("log.index.interval.bytes", Kind::Int(AT_LEAST_0_INT), ConfigType::Int, Value("4096"),
        "Add an offset index entry every this many bytes of log."),
    key("log.index.size.max.bytes", Kind::Int(&[(4, I32_MAX)]), ConfigType::Int, Value("10485760"),
        "The largest offset or time index file, in bytes; a full index rolls the segment."),
    key("log.flush.interval.messages", Kind::Int(AT_LEAST_1_LONG), ConfigType::Long, Value("9223372036854775807"),
        "fsync a partition after this many messages (the default means never; rely on log.flush.before.ack or the OS)."),
    key("log.flush.interval.ms", Kind::Int(AT_LEAST_0_LONG), ConfigType::Long, Unset,
        "fsync a partition after its oldest unflushed message is this many milliseconds old; unset means never."),
    key("log.message.timestamp.type", Kind::OneOf(TIMESTAMP_TYPES), ConfigType::String, Value("CreateTime"),
        "Keep the producer's timestamp (CreateTime) or stamp the broker's time (LogAppendTime)."),
    key("log.cleanup.policy", Kind::ListOf(CLEANUP_POLICIES), ConfigType::List, Value("delete"),
        "What happens to old segments: delete, compact, or both (comma-separated)."),
    key("log.retention.check.interval.ms", Kind::Int(AT_LEAST_1_LONG), ConfigType::Long, Value("300000"),
        "How often, in milliseconds, the broker looks for segments to delete."),
    key("log.flush.offset.checkpoint.interval.ms", Kind::Int(AT_LEAST_0_INT), ConfigType::Int, Value("60000"),
        "How often, in milliseconds, each partition that took appends syncs its active segment and indexes and records the recovery point there, so that recovery after a crash scans only what came later; 0 moves it at segment rolls only."),
    key("log.cleaner.enable", Kind::Bool, ConfigType::Boolean, Value("true"),
        "Run the log cleaner, which compacts topics with cleanup.policy compact."),
    key("log.cleaner.backoff.ms", Kind::Int(AT_LEAST_0_LONG), ConfigType::Long, Value("15000"),
        "How often, in milliseconds, each compacted partition checks whether a cleaning is due."),
    key("log.cleaner.io.max.bytes.per.second", Kind::Double(1.0, f64::MAX), ConfigType::Double, Unset,
        "The most bytes per second one cleaning reads plus writes; unset means unlimited (Kafka: Double.MAX_VALUE)."),
    key("log.cleaner.dedupe.buffer.size", Kind::Int(&[(1024, I64_MAX)]), ConfigType::Long, Value("134217728"),
        "The memory, in bytes, for the key map of one cleaning; Aeon uses it per cleaning, not split across threads."),
    key("log.flush.before.ack", Kind::Bool, ConfigType::Boolean, Value("false"),
        "Aeon only: with acks=all, fsync before acknowledging; appends arriving together share one fsync."),
    key("group.initial.rebalance.delay.ms", Kind::Int(AT_LEAST_0_INT), ConfigType::Int, Value("3000"),
        "How long a new consumer group waits for more members before its first rebalance, in milliseconds."),
    key("group.min.session.timeout.ms", Kind::Int(AT_LEAST_0_INT), ConfigType::Int, Value("6000"),
        "The smallest session timeout a consumer may ask for, in milliseconds."),
    key("group.max.session.timeout.ms", Kind::Int(AT_LEAST_0_INT), ConfigType::Int, Value("1800000"),
        "The largest session timeout a consumer may ask for, in milliseconds."),
    key("group.consumer.session.timeout.ms", Kind::Int(AT_LEAST_1_INT), ConfigType::Int, Value("45000"),
        "How long a member of a consumer group (group.protocol=consumer) may go without a heartbeat before it is removed, in milliseconds."),
    key("group.consumer.min.session.timeout.ms", Kind::Int(AT_LEAST_1_INT), ConfigType::Int, Value("45000"),
        "The smallest group.consumer.session.timeout.ms allowed, in milliseconds."),
    key("group.consumer.max.session.timeout.ms", Kind::Int(AT_LEAST_1_INT), ConfigType::Int, Value("60000"),
        "The largest group.consumer.session.timeout.ms allowed, in milliseconds."),
    key("group.consumer.heartbeat.interval.ms", Kind::Int(AT_LEAST_1_INT), ConfigType::Int, Value("5000"),
        "How often members of a consumer group heartbeat, in milliseconds; less than the session timeout."),
    key("group.consumer.min.heartbeat.interval.ms", Kind::Int(AT_LEAST_1_INT), ConfigType::Int, Value("5000"),
        "The smallest group.consumer.heartbeat.interval.ms allowed, in milliseconds."),
    key("group.consumer.max.heartbeat.interval.ms", Kind::Int(AT_LEAST_1_INT), ConfigType::Int, Value("15000"),
        "The largest group.consumer.heartbeat.interval.ms allowed, in milliseconds."),
    key("group.consumer.max.size", Kind::Int(AT_LEAST_1_INT), ConfigType::Int, Value("2147483647"),
        "The most members a consumer group may have; one more is refused with GROUP_MAX_SIZE_REACHED."),
    key("group.consumer.assignors", Kind::ListOf(CONSUMER_ASSIGNORS), ConfigType::List, Value("uniform,range"),
        "The server-side assignors of consumer groups, by name (uniform, range) or Kafka class name; the first is the default, a member may pick another with group.remote.assignor."),
    key("group.consumer.migration.policy", Kind::OneOf(&["bidirectional", "upgrade", "downgrade", "disabled"]), ConfigType::String, Value("bidirectional"),
        "How a group moves between the consumer group protocols while it has members: bidirectional (a classic group converts when a group.protocol=consumer member joins, and back when the last one leaves), upgrade, downgrade or disabled."),
    key("offsets.retention.minutes", Kind::Int(AT_LEAST_1_INT), ConfigType::Int, Value("10080"),
        "Keep the committed offsets of an empty group this many minutes."),
    key("offsets.retention.check.interval.ms", Kind::Int(AT_LEAST_1_LONG), ConfigType::Long, Value("600000"),
        "How long an empty group that holds no committed offsets is kept before it is removed, in milliseconds (Kafka's interval of the same cleanup)."),
    key("offsets.topic.num.partitions", Kind::Int(AT_LEAST_1_INT), ConfigType::Int, Value("50"),
        "Partitions of the internal __consumer_offsets topic, created with the first group."),
    key("offsets.topic.segment.bytes", Kind::Int(SEGMENT_BYTES), ConfigType::Int, Value("104857600"),
        "Segment size of the internal __consumer_offsets topic, in bytes."),
    key("offsets.topic.replication.factor", Kind::Int(&[(1, 32_767)]), ConfigType::Short, Value("3"),
        "Replicas of each __consumer_offsets partition in a cluster, at most the live brokers when it is created (a single broker keeps one); a group's coordinator is the leader of its partition and moves with it."),
    key("producer.id.expiration.ms", Kind::Int(AT_LEAST_1_INT), ConfigType::Int, Value("86400000"),
        "Forget an idempotent producer's sequence state on a partition once its newest batch there is this old, in milliseconds, unless it has a transaction open there."),
    key("transaction.max.timeout.ms", Kind::Int(AT_LEAST_1_INT), ConfigType::Int, Value("900000"),
        "The largest transaction timeout a producer may ask for, in milliseconds."),
    key("transactional.id.expiration.ms", Kind::Int(AT_LEAST_1_INT), ConfigType::Int, Value("604800000"),
        "Forget a transactional id whose producer sent nothing for this long, in milliseconds (its state is removed from __transaction_state)."),
    key("transaction.state.log.num.partitions", Kind::Int(AT_LEAST_1_INT), ConfigType::Int, Value("50"),
        "Partitions of the internal __transaction_state topic, created with the first transactional id."),
    key("transaction.state.log.segment.bytes", Kind::Int(SEGMENT_BYTES), ConfigType::Int, Value("104857600"),
        "Segment size of the internal __transaction_state topic, in bytes."),
    key("transaction.state.log.replication.factor", Kind::Int(&[(1, 32_767)]), ConfigType::Short, Value("3"),
        "Replicas of each __transaction_state partition in a cluster, at most the live brokers when it is created (a single broker keeps one); a transactional id's coordinator is the leader of its partition and moves with it."),
    key("compression.type", Kind::OneOf(COMPRESSION_TYPES), ConfigType::String, Value("producer"),
        "The compression of stored batches: producer keeps what the producer sent; or uncompressed, gzip, snappy, lz4, zstd."),
    key("delete.topic.enable", Kind::Bool, ConfigType::Boolean, Value("true"),
        "Allow DeleteTopics; false rejects it."),
];

const fn topic(key: KeyDef, broker_synonyms: &'static [&'static str]) -> TopicKeyDef {
    TopicKeyDef {
        key,
        broker_synonyms,
    }
}

/// Every topic config Kafka 4.x defines (`LogConfig`), with Kafka's defaults and ranges.
#[rustfmt::skip]
pub static TOPIC_KEYS: &[TopicKeyDef] = &[
    topic(key("cleanup.policy", Kind::ListOf(CLEANUP_POLICIES), ConfigType::List, Value("delete"),
        "What happens to old segments: delete, compact, or both."), &["log.cleanup.policy"]),
    topic(key("compression.gzip.level", Kind::Int(&[(-1, -1), (1, 9)]), ConfigType::Int, Value("-1"),
        "The gzip level when compression.type is gzip."), &["compression.gzip.level"]),
    topic(key("compression.type", Kind::OneOf(COMPRESSION_TYPES), ConfigType::String, Value("producer"),
        "The compression of stored batches; producer keeps what the producer sent."), &["compression.type"]),
    topic(key("compression.zstd.level", Kind::Int(&[(-131_072, 22)]), ConfigType::Int, Value("3"),
        "The zstd level when compression.type is zstd."), &["compression.zstd.level"]),
    topic(key("delete.retention.ms", Kind::Int(AT_LEAST_0_LONG), ConfigType::Long, Value("86400000"),
        "How long tombstones stay in a compacted log, in milliseconds."), &["log.cleaner.delete.retention.ms"]),
    topic(key("file.delete.delay.ms", Kind::Int(AT_LEAST_0_LONG), ConfigType::Long, Value("60000"),
        "How long a deleted segment's files linger before removal, in milliseconds."), &["log.segment.delete.delay.ms"]),
    topic(key("flush.messages", Kind::Int(AT_LEAST_1_LONG), ConfigType::Long, Value("9223372036854775807"),
        "fsync after this many messages; the default means never."), &["log.flush.interval.messages"]),
    topic(key("flush.ms", Kind::Int(AT_LEAST_0_LONG), ConfigType::Long, Value("9223372036854775807"),
        "fsync after this many milliseconds; the default means never."), &["log.flush.interval.ms"]),
    topic(key("follower.replication.throttled.replicas", Kind::ThrottledReplicas, ConfigType::List, Value(""),
        "Replicas throttled on the follower side (accepted; Aeon does not replicate)."), &[]),
    topic(key("index.interval.bytes", Kind::Int(AT_LEAST_0_INT), ConfigType::Int, Value("4096"),
        "Add an offset index entry every this many bytes of log."), &["log.index.interval.bytes"]),
    topic(key("leader.replication.throttled.replicas", Kind::ThrottledReplicas, ConfigType::List, Value(""),
        "Replicas throttled on the leader side (accepted; Aeon does not replicate)."), &[]),
    topic(key("local.retention.bytes", Kind::Int(&[(-2, I64_MAX)]), ConfigType::Long, Value("-2"),
        "Local retention with tiered storage; -2 means retention.bytes (accepted; Aeon has no tiered storage)."), &["log.local.retention.bytes"]),
    topic(key("local.retention.ms", Kind::Int(&[(-2, I64_MAX)]), ConfigType::Long, Value("-2"),
        "Local retention with tiered storage; -2 means retention.ms (accepted; Aeon has no tiered storage)."), &["log.local.retention.ms"]),
    topic(key("max.compaction.lag.ms", Kind::Int(AT_LEAST_1_LONG), ConfigType::Long, Value("9223372036854775807"),
        "The longest a message may stay uncompacted, in milliseconds."), &["log.cleaner.max.compaction.lag.ms"]),
    topic(key("max.message.bytes", Kind::Int(AT_LEAST_0_INT), ConfigType::Int, Value("1048588"),
        "The largest record batch the topic accepts, in bytes."), &["message.max.bytes"]),
    topic(key("message.downconversion.enable", Kind::Bool, ConfigType::Boolean, Value("true"),
        "Deprecated no-op since Kafka 4.0; accepted and ignored."), &["log.message.downconversion.enable"]),
    topic(key("message.timestamp.after.max.ms", Kind::Int(AT_LEAST_0_LONG), ConfigType::Long, Value("3600000"),
        "With CreateTime, reject batches whose timestamp is more than this far in the future, in milliseconds."), &["log.message.timestamp.after.max.ms"]),
    topic(key("message.timestamp.before.max.ms", Kind::Int(AT_LEAST_0_LONG), ConfigType::Long, Value("9223372036854775807"),
        "With CreateTime, reject batches whose timestamp is more than this far in the past, in milliseconds."), &["log.message.timestamp.before.max.ms"]),
    topic(key("message.timestamp.type", Kind::OneOf(TIMESTAMP_TYPES), ConfigType::String, Value("CreateTime"),
        "Keep the producer's timestamp (CreateTime) or stamp the broker's time (LogAppendTime)."), &["log.message.timestamp.type"]),
    topic(key("min.cleanable.dirty.ratio", Kind::Double(0.0, 1.0), ConfigType::Double, Value("0.5"),
        "Compact once this fraction of the log is uncompacted."), &["log.cleaner.min.cleanable.ratio"]),
    topic(key("min.compaction.lag.ms", Kind::Int(AT_LEAST_0_LONG), ConfigType::Long, Value("0"),
        "The shortest a message stays uncompacted, in milliseconds."), &["log.cleaner.min.compaction.lag.ms"]),
    topic(key("min.insync.replicas", Kind::Int(AT_LEAST_1_INT), ConfigType::Int, Value("1"),
        "With acks=all, the in-sync replicas a write needs; above 1, acks=all produce is refused with NOT_ENOUGH_REPLICAS (a single broker has one replica)."), &["min.insync.replicas"]),
    topic(key("preallocate", Kind::Bool, ConfigType::Boolean, Value("false"),
        "Give each segment made ahead of its roll all its disk blocks when it is made (otherwise they are allocated a chunk ahead of the appends)."), &["log.preallocate"]),
    topic(key("remote.log.copy.disable", Kind::Bool, ConfigType::Boolean, Value("false"),
        "Stop copying to tiered storage (accepted; Aeon has no tiered storage)."), &[]),
    topic(key("remote.log.delete.on.disable", Kind::Bool, ConfigType::Boolean, Value("false"),
        "Delete tiered data when tiering is turned off (accepted; Aeon has no tiered storage)."), &[]),
    topic(key("remote.storage.enable", Kind::Bool, ConfigType::Boolean, Value("false"),
        "Tier the topic to remote storage (accepted; Aeon has no tiered storage)."), &[]),
    topic(key("retention.bytes", Kind::Int(ANY_LONG), ConfigType::Long, Value("-1"),
        "Delete the oldest segments while a partition is bigger than this many bytes; -1 for no limit."), &["log.retention.bytes"]),
    topic(key("retention.ms", Kind::Int(&[(-1, I64_MAX)]), ConfigType::Long, Value("604800000"),
        "Delete segments older than this many milliseconds; -1 for no limit."), &["log.retention.ms", "log.retention.minutes", "log.retention.hours"]),
    topic(key("segment.bytes", Kind::Int(SEGMENT_BYTES), ConfigType::Int, Value("1073741824"),
        "Roll a new segment when the active one reaches this many bytes."), &["log.segment.bytes"]),
    topic(key("segment.index.bytes", Kind::Int(&[(4, I32_MAX)]), ConfigType::Int, Value("10485760"),
        "The largest offset or time index file, in bytes."), &["log.index.size.max.bytes"]),
    topic(key("segment.jitter.ms", Kind::Int(AT_LEAST_0_LONG), ConfigType::Long, Value("0"),
        "The most random time subtracted from segment.ms, in milliseconds."), &["log.roll.jitter.ms", "log.roll.jitter.hours"]),
    topic(key("segment.ms", Kind::Int(AT_LEAST_1_LONG), ConfigType::Long, Value("604800000"),
        "Roll a new segment after this many milliseconds."), &["log.roll.ms", "log.roll.hours"]),
    topic(key("unclean.leader.election.enable", Kind::Bool, ConfigType::Boolean, Value("false"),
        "Elect an out-of-sync replica as a last resort (accepted; Aeon has one replica)."), &["unclean.leader.election.enable"]),
];

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_passes_its_own_validation() {
        let all = BROKER_KEYS.iter().chain(TOPIC_KEYS.iter().map(|t| &t.key));
        for k in all {
            if let Some(default) = k.default.resolve() {
                let normalised = k
                    .validate(&default)
                    .unwrap_or_else(|e| panic!("default of {} invalid: {e}", k.name));
                assert_eq!(
                    normalised, default,
                    "default of {} is not normalised",
                    k.name
                );
            }
        }
    }

    #[test]
    fn key_names_are_unique() {
        let mut names: Vec<&str> = BROKER_KEYS.iter().map(|k| k.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), BROKER_KEYS.len());
        let mut topics: Vec<&str> = TOPIC_KEYS.iter().map(|k| k.key.name).collect();
        topics.sort_unstable();
        topics.dedup();
        assert_eq!(topics.len(), TOPIC_KEYS.len());
    }

    #[test]
    fn integer_error_says_the_range() {
        let err = validate("log.segment.bytes", Kind::Int(SEGMENT_BYTES), "abc")
            .expect_err("abc is not an integer");
        assert_eq!(
            err.to_string(),
            r#"config key "log.segment.bytes": expected an integer >= 1048576, got "abc""#
        );
        let err = validate("x", Kind::Int(RETENTION_LONG), "0").expect_err("0 is out of range");
        assert!(
            err.to_string().contains("expected -1 or an integer >= 1"),
            "{err}"
        );
    }

    #[test]
    fn values_are_normalised() {
        assert_eq!(
            validate("b", Kind::Bool, " TRUE ").ok().as_deref(),
            Some("true")
        );
        assert_eq!(
            validate("i", Kind::Int(AT_LEAST_0_INT), "007")
                .ok()
                .as_deref(),
            Some("7")
        );
        assert_eq!(
            validate(
                "l",
                Kind::ListOf(CLEANUP_POLICIES),
                "delete, compact,delete"
            )
            .ok()
            .as_deref(),
            Some("delete,compact")
        );
    }

    #[test]
    fn int_keys_reject_values_beyond_i32() {
        assert!(validate("i", Kind::Int(AT_LEAST_0_INT), "2147483648").is_err());
    }

    #[test]
    fn several_log_dirs_are_rejected_naming_the_key() {
        let err = validate("log.dirs", Kind::Directory, "/a,/b").expect_err("two dirs");
        let msg = err.to_string();
        assert!(msg.contains("\"log.dirs\""), "{msg}");
        assert!(msg.contains("only one log directory is supported"), "{msg}");
    }

    #[test]
    fn alias_log_dir_resolves_to_log_dirs() {
        assert_eq!(broker_key("log.dir").map(|k| k.name), Some("log.dirs"));
        assert!(broker_key("log.dirz").is_none());
    }

    #[test]
    fn config_reference_markdown_has_a_row_per_key() {
        let md = config_reference_markdown();
        assert!(md.starts_with("| Key | Default | Description |"));
        for def in BROKER_KEYS {
            assert!(md.contains(&format!("| `{}` |", def.name)), "{}", def.name);
        }
        assert_eq!(md.lines().count(), BROKER_KEYS.len() + 2);
    }
}
