//! The admin CLI (`aeon topic ...`, `aeon group ...`, `aeon cluster info`): a small
//! Kafka client on the broker's own generated codecs, speaking to any broker at
//! `--bootstrap-server` as Kafka's tools do. Human tables by default, `--format json`
//! for scripts; a Kafka error is reported by its name.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use aeon::protocol::frame::{decode_response, encode_request};
use aeon::protocol::messages::*;
use aeon::protocol::{ErrorCode, Request, Response};
use anyhow::{anyhow, bail, Context as _};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::json;

mod group;
mod records;
mod topic;

/// The largest response the CLI reads (a cap before allocating what a broker claims).
const MAX_RESPONSE: usize = 100 << 20;

#[derive(Args, Debug)]
pub struct Connection {
    /// The broker to talk to (HOST:PORT).
    #[arg(
        long = "bootstrap-server",
        short = 'b',
        default_value = "127.0.0.1:9092",
        global = true
    )]
    bootstrap: String,
    /// Output: human tables, or JSON for scripts.
    #[arg(long, value_enum, default_value_t = Format::Table, global = true)]
    format: Format,
}

/// How `aeon produce` reads stdin.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Input {
    Lines,
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Topics: list, describe, create, delete.
    Topic {
        #[command(subcommand)]
        command: TopicCommand,
        #[command(flatten)]
        connection: Connection,
    },
    /// Consumer groups: list, lag.
    Group {
        #[command(subcommand)]
        command: GroupCommand,
        #[command(flatten)]
        connection: Connection,
    },
    /// Produces stdin's lines to a topic, one record per line.
    Produce {
        topic: String,
        /// The partition of every record [default: Kafka's partitioner: murmur2 of the
        /// key, or round robin across batches for records without a key].
        #[arg(long, short)]
        partition: Option<i32>,
        /// Split each line at the first SEP into key and value.
        #[arg(long, value_name = "SEP")]
        key_separator: Option<String>,
        /// A header on every record (repeatable).
        #[arg(long = "header", short = 'H', value_name = "KEY=VALUE")]
        headers: Vec<String>,
        /// What each stdin line is: `lines` (a value, or KEY<SEP>VALUE), or `json`, an
        /// object as `aeon consume --format json` prints (`key`, `value`, `headers`,
        /// `partition`; null key or value for none), so a topic's records can be copied.
        #[arg(long, value_enum, default_value_t = Input::Lines)]
        input: Input,
        #[command(flatten)]
        connection: Connection,
    },
    /// Prints a topic's records on stdout, one per line, and exits at the end of the
    /// partitions (as they stood when it started).
    Consume {
        topic: String,
        /// One partition [default: every partition].
        #[arg(long, short)]
        partition: Option<i32>,
        /// Where to start: beginning, end, or an offset.
        #[arg(long, default_value = "beginning")]
        from: String,
        /// Stop after this many records.
        #[arg(long)]
        max: Option<usize>,
        /// Print KEY<SEP>VALUE instead of the value alone.
        #[arg(long, value_name = "SEP")]
        key_separator: Option<String>,
        /// Print each record as FMT (kcat's format): %t topic, %p partition, %o offset,
        /// %T timestamp (ms), %k key, %v value, %K key length, %S value length (-1 for
        /// none), %h headers (k=v,...), %% a %, and \n \t \\ escapes; no newline is
        /// added.
        #[arg(
            long,
            short = 'f',
            value_name = "FMT",
            conflicts_with = "key_separator"
        )]
        record_format: Option<String>,
        #[command(flatten)]
        connection: Connection,
    },
    /// The cluster: its id, controller and brokers.
    Cluster {
        #[command(subcommand)]
        command: ClusterCommand,
        #[command(flatten)]
        connection: Connection,
    },
    /// The data directory, with no broker running.
    Storage {
        #[command(subcommand)]
        command: StorageCommand,
    },
}

#[derive(Subcommand, Debug)]
pub enum StorageCommand {
    /// Adds or replaces a user's SCRAM credential before the broker starts (as
    /// `kafka-storage format --add-scram`), e.g. the first super user.
    AddScram {
        /// The broker's data directory (log.dirs).
        #[arg(long)]
        data_dir: std::path::PathBuf,
        /// Kafka's form: 'SCRAM-SHA-256=[name=alice,password=alice-secret]', with an
        /// optional iterations=N (default 4096).
        credential: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum TopicCommand {
    /// Every topic with its partition count.
    List,
    /// One topic's partitions: leader, replicas, start and end offsets.
    Describe { name: String },
    /// Creates a topic.
    Create {
        name: String,
        /// Partitions [default: the broker's num.partitions].
        #[arg(long, short)]
        partitions: Option<i32>,
        /// Replicas of each partition [default: the broker's default.replication.factor].
        #[arg(long, short)]
        replication_factor: Option<i16>,
        /// Topic configs (repeatable), e.g. --config cleanup.policy=compact.
        #[arg(long = "config", short = 'c', value_name = "KEY=VALUE")]
        configs: Vec<String>,
    },
    /// Deletes a topic.
    Delete { name: String },
    /// Grows a topic to `--partitions` partitions.
    AddPartitions {
        name: String,
        /// The new total number of partitions.
        #[arg(long, short)]
        partitions: i32,
    },
    /// Sets (KEY=VALUE) or removes (KEY) topic configs, as IncrementalAlterConfigs.
    AlterConfig {
        name: String,
        /// A config to set (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// A config to remove, back to the broker's default (repeatable).
        #[arg(long = "delete", value_name = "KEY")]
        delete: Vec<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum GroupCommand {
    /// Every group: type, protocol type, state.
    List,
    /// A group's committed offsets against each partition's end: the lag.
    Lag { group: String },
    /// Deletes an empty group and its committed offsets.
    Delete { group: String },
    /// A group's type, state and members with their partitions.
    Describe { group: String },
    /// Moves an inactive group's committed offsets of a topic; a dry run unless
    /// --execute, as Kafka's tool.
    ResetOffsets {
        group: String,
        #[arg(long)]
        topic: String,
        /// To each partition's start.
        #[arg(long, conflicts_with_all = ["to_latest", "to_offset"])]
        to_earliest: bool,
        /// To each partition's end.
        #[arg(long, conflicts_with = "to_offset")]
        to_latest: bool,
        /// To this offset (within each partition's start and end).
        #[arg(long)]
        to_offset: Option<i64>,
        /// Commit the new offsets (without it, only print them).
        #[arg(long)]
        execute: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum ClusterCommand {
    /// The cluster id, the controller, the metadata quorum's leader and the brokers.
    Info,
}

/// One connection to a broker, one request at a time.
struct Client {
    stream: TcpStream,
    correlation_id: i32,
}

impl Client {
    fn connect(bootstrap: &str) -> anyhow::Result<Client> {
        let stream =
            TcpStream::connect(bootstrap).with_context(|| format!("connecting to {bootstrap}"))?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        stream.set_write_timeout(Some(Duration::from_secs(30)))?;
        Ok(Client {
            stream,
            correlation_id: 0,
        })
    }

    fn call(&mut self, version: i16, body: impl Into<Request>) -> anyhow::Result<Response> {
        let body = body.into();
        let api = body.api_key();
        self.correlation_id += 1;
        let header = RequestHeader {
            request_api_key: api.code(),
            request_api_version: version,
            correlation_id: self.correlation_id,
            client_id: Some("aeon-cli".into()),
            ..Default::default()
        };
        let frame = encode_request(&header, &body).map_err(|e| anyhow!("encoding {api:?}: {e}"))?;
        self.stream.write_all(&frame)?;
        let mut len = [0u8; 4];
        self.stream.read_exact(&mut len)?;
        let len = usize::try_from(i32::from_be_bytes(len)).unwrap_or(0);
        if len > MAX_RESPONSE {
            bail!("the broker announced a {len}-byte response; refusing it");
        }
        let mut buf = vec![0u8; len];
        self.stream.read_exact(&mut buf)?;
        let (_, response) = decode_response(api, version, buf.into())
            .map_err(|e| anyhow!("decoding the {api:?} response: {e}"))?;
        Ok(response)
    }
}

/// `Err` with Kafka's error name (and the broker's message) unless `code` is 0.
fn check(code: i16, message: Option<&str>, what: &str) -> anyhow::Result<()> {
    if code == 0 {
        return Ok(());
    }
    let name = ErrorCode::from_code(code).map_or("UNKNOWN_ERROR_CODE", ErrorCode::name);
    match message.filter(|m| !m.is_empty()) {
        Some(m) => bail!("{what}: {name} ({m})"),
        None => bail!("{what}: {name}"),
    }
}

/// A one-line outcome: `value` as JSON, or `text`.
fn report(format: Format, value: serde_json::Value, text: &str) {
    match format {
        Format::Json => println!("{value}"),
        Format::Table => println!("{text}"),
    }
}

/// A table with a header row, columns padded to their widest cell.
fn print_table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

fn metadata(
    client: &mut Client,
    topics: Option<Vec<String>>,
) -> anyhow::Result<metadata_response::MetadataResponse> {
    let req = metadata_request::MetadataRequest {
        topics: topics.map(|names| {
            names
                .into_iter()
                .map(|n| metadata_request::MetadataRequestTopic {
                    name: Some(n),
                    ..Default::default()
                })
                .collect()
        }),
        allow_auto_topic_creation: false,
        ..Default::default()
    };
    match client.call(12, req)? {
        Response::Metadata(m) => Ok(m),
        other => bail!("unexpected answer to Metadata: {:?}", other.api_key()),
    }
}

/// One topic's metadata, refused with Kafka's error name if the topic is not there;
/// its partitions sorted by index.
fn topic_metadata(
    client: &mut Client,
    topic: &str,
) -> anyhow::Result<metadata_response::MetadataResponseTopic> {
    let t = metadata(client, Some(vec![topic.to_string()]))?
        .topics
        .into_iter()
        .next()
        .ok_or_else(|| anyhow!("no answer for topic {topic}"))?;
    check(t.error_code, None, &format!("topic {topic}"))?;
    let mut t = t;
    t.partitions.sort_by_key(|p| p.partition_index);
    Ok(t)
}

/// Each partition's offset at `timestamp` (-1: the end, -2: the start), asked of
/// each partition's leader (in a cluster, not every partition is on `client`'s broker).
fn offsets(
    client: &mut Client,
    topic: &str,
    partitions: &[i32],
    timestamp: i64,
) -> anyhow::Result<Vec<(i32, i64)>> {
    let m = metadata(client, Some(vec![topic.to_string()]))?;
    let leaders: std::collections::BTreeMap<i32, i32> = m
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter())
        .map(|p| (p.partition_index, p.leader_id))
        .collect();
    let mut by_leader: std::collections::BTreeMap<i32, Vec<i32>> = Default::default();
    for &p in partitions {
        by_leader
            .entry(leaders.get(&p).copied().unwrap_or(-1))
            .or_default()
            .push(p);
    }
    let mut out = Vec::new();
    for (leader, ps) in by_leader {
        let broker = m.brokers.iter().find(|b| b.node_id == leader);
        let mut other = match broker {
            Some(b) if m.brokers.len() > 1 => {
                Some(Client::connect(&format!("{}:{}", b.host, b.port))?)
            }
            _ => None,
        };
        let c = other.as_mut().unwrap_or(&mut *client);
        out.extend(leader_offsets(c, topic, &ps, timestamp)?);
    }
    out.sort_unstable();
    Ok(out)
}

/// [`offsets`] of partitions `client`'s broker leads.
fn leader_offsets(
    client: &mut Client,
    topic: &str,
    partitions: &[i32],
    timestamp: i64,
) -> anyhow::Result<Vec<(i32, i64)>> {
    use list_offsets_request::*;
    let req = ListOffsetsRequest {
        replica_id: -1,
        topics: vec![ListOffsetsTopic {
            name: topic.to_string(),
            partitions: partitions
                .iter()
                .map(|&partition_index| ListOffsetsPartition {
                    partition_index,
                    current_leader_epoch: -1,
                    timestamp,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }],
        ..Default::default()
    };
    let Response::ListOffsets(r) = client.call(7, req)? else {
        bail!("unexpected answer to ListOffsets");
    };
    let mut out = Vec::new();
    for t in r.topics {
        for p in t.partitions {
            check(
                p.error_code,
                None,
                &format!("offsets of {topic}-{}", p.partition_index),
            )?;
            out.push((p.partition_index, p.offset));
        }
    }
    Ok(out)
}

pub fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Produce {
            topic,
            partition,
            key_separator,
            headers,
            input,
            connection,
        } => records::produce(
            &topic,
            partition,
            key_separator.as_deref(),
            &headers,
            input,
            &connection,
        ),
        Command::Consume {
            topic,
            partition,
            from,
            max,
            key_separator,
            record_format,
            connection,
        } => records::consume(
            &topic,
            partition,
            &from,
            max,
            key_separator.as_deref(),
            record_format.as_deref(),
            &connection,
        ),
        Command::Topic {
            command,
            connection,
        } => topic::topic(command, &connection),
        Command::Group {
            command,
            connection,
        } => group::group(command, &connection),
        Command::Cluster {
            command: ClusterCommand::Info,
            connection,
        } => cluster_info(&connection),
        Command::Storage {
            command:
                StorageCommand::AddScram {
                    data_dir,
                    credential,
                },
        } => add_scram(&data_dir, &credential),
    }
}

/// The metadata quorum's leader and epoch, as DescribeQuorum answers (-1: none now).
fn quorum_leader(client: &mut Client) -> anyhow::Result<(i32, i32)> {
    use aeon::protocol::messages::describe_quorum_request::*;
    let req = DescribeQuorumRequest {
        topics: vec![TopicData {
            topic_name: aeon::cluster::METADATA_TOPIC.into(),
            partitions: vec![PartitionData {
                partition_index: 0,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let Response::DescribeQuorum(r) = client.call(0, req)? else {
        bail!("unexpected answer to DescribeQuorum");
    };
    check(r.error_code, None, "the quorum")?;
    let p = r
        .topics
        .first()
        .and_then(|t| t.partitions.first())
        .ok_or_else(|| anyhow!("no answer for the quorum"))?;
    if p.error_code != 0 {
        return Ok((-1, -1));
    }
    Ok((p.leader_id, p.leader_epoch))
}

fn cluster_info(c: &Connection) -> anyhow::Result<()> {
    let mut client = Client::connect(&c.bootstrap)?;
    let m = metadata(&mut client, Some(Vec::new()))?;
    let (leader, epoch) = quorum_leader(&mut client)?;
    let brokers: Vec<_> = m
        .brokers
        .iter()
        .map(|b| (b.node_id, format!("{}:{}", b.host, b.port), b.rack.clone()))
        .collect();
    match c.format {
        Format::Json => println!(
            "{}",
            json!({
                "cluster_id": m.cluster_id,
                "controller_id": m.controller_id,
                "quorum_leader": leader,
                "quorum_epoch": epoch,
                "brokers": brokers.iter().map(|(id, addr, rack)| json!({"id": id, "address": addr, "rack": rack})).collect::<Vec<_>>(),
            })
        ),
        Format::Table => {
            println!("cluster id: {}", m.cluster_id.unwrap_or_default());
            println!("controller: {}", m.controller_id);
            println!("quorum leader: {leader} (epoch {epoch})");
            let rows: Vec<Vec<String>> = brokers
                .into_iter()
                .map(|(id, addr, rack)| vec![id.to_string(), addr, rack.unwrap_or_default()])
                .collect();
            print_table(&["BROKER", "ADDRESS", "RACK"], &rows);
        }
    }
    Ok(())
}

/// `aeon storage add-scram`: parses Kafka's `MECHANISM=[name=..,password=..]` and
/// stores the credential (never the password) in the data directory.
fn add_scram(data_dir: &std::path::Path, spec: &str) -> anyhow::Result<()> {
    use aeon::security::scram::{ScramCredential, ScramMechanism};
    let bad =
        || anyhow!("wanted MECHANISM=[name=NAME,password=PASSWORD(,iterations=N)], got {spec:?}");
    let (mechanism, fields) = spec.split_once('=').ok_or_else(bad)?;
    let mechanism = ScramMechanism::from_name(mechanism.trim())
        .ok_or_else(|| anyhow!("unknown SCRAM mechanism {mechanism:?}"))?;
    let fields = fields
        .trim()
        .strip_prefix('[')
        .and_then(|f| f.strip_suffix(']'))
        .ok_or_else(bad)?;
    let (mut name, mut password, mut iterations) = (None, None, ScramMechanism::MIN_ITERATIONS);
    for field in fields.split(',') {
        match field.split_once('=').ok_or_else(bad)? {
            ("name", v) => name = Some(v.trim_matches('"').to_string()),
            ("password", v) => password = Some(v.trim_matches('"').to_string()),
            ("iterations", v) => iterations = v.parse().map_err(|_| bad())?,
            (other, _) => bail!("unknown field {other:?} in {spec:?}"),
        }
    }
    let (name, password) = name.zip(password).ok_or_else(bad)?;
    if name.is_empty() {
        bail!("the user name is empty");
    }
    let salt = ScramCredential::generate_salt()?;
    let credential =
        ScramCredential::from_password(mechanism, password.as_bytes(), &salt, iterations)?;
    aeon::security::users::add_offline(data_dir, &name, mechanism, credential)?;
    eprintln!(
        "added {} credential of user {name} in {}",
        mechanism.name(),
        data_dir.display()
    );
    Ok(())
}
