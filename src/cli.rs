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
    /// The cluster: its id, controller and brokers.
    Cluster {
        #[command(subcommand)]
        command: ClusterCommand,
        #[command(flatten)]
        connection: Connection,
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
}

#[derive(Subcommand, Debug)]
pub enum ClusterCommand {
    /// The cluster id, the controller and the brokers.
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

/// Each partition's offset at `timestamp` (-1: the end, -2: the start).
fn offsets(
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
        Command::Topic {
            command,
            connection,
        } => topic(command, &connection),
        Command::Group {
            command,
            connection,
        } => group(command, &connection),
        Command::Cluster {
            command: ClusterCommand::Info,
            connection,
        } => cluster_info(&connection),
    }
}

fn cluster_info(c: &Connection) -> anyhow::Result<()> {
    let mut client = Client::connect(&c.bootstrap)?;
    let m = metadata(&mut client, Some(Vec::new()))?;
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
                "brokers": brokers.iter().map(|(id, addr, rack)| json!({"id": id, "address": addr, "rack": rack})).collect::<Vec<_>>(),
            })
        ),
        Format::Table => {
            println!("cluster id: {}", m.cluster_id.unwrap_or_default());
            println!("controller: {}", m.controller_id);
            let rows: Vec<Vec<String>> = brokers
                .into_iter()
                .map(|(id, addr, rack)| vec![id.to_string(), addr, rack.unwrap_or_default()])
                .collect();
            print_table(&["BROKER", "ADDRESS", "RACK"], &rows);
        }
    }
    Ok(())
}

fn topic(command: TopicCommand, c: &Connection) -> anyhow::Result<()> {
    let mut client = Client::connect(&c.bootstrap)?;
    match command {
        TopicCommand::List => {
            let m = metadata(&mut client, None)?;
            let mut topics: Vec<(String, usize, bool)> = m
                .topics
                .iter()
                .map(|t| {
                    (
                        t.name.clone().unwrap_or_default(),
                        t.partitions.len(),
                        t.is_internal,
                    )
                })
                .collect();
            topics.sort();
            match c.format {
                Format::Json => println!(
                    "{}",
                    json!(topics
                        .iter()
                        .map(|(n, p, i)| json!({"name": n, "partitions": p, "internal": i}))
                        .collect::<Vec<_>>())
                ),
                Format::Table => print_table(
                    &["TOPIC", "PARTITIONS", "INTERNAL"],
                    &topics
                        .into_iter()
                        .map(|(n, p, i)| vec![n, p.to_string(), i.to_string()])
                        .collect::<Vec<_>>(),
                ),
            }
        }
        TopicCommand::Describe { name } => {
            let m = metadata(&mut client, Some(vec![name.clone()]))?;
            let t = m
                .topics
                .into_iter()
                .next()
                .ok_or_else(|| anyhow!("no answer for topic {name}"))?;
            check(t.error_code, None, &format!("topic {name}"))?;
            let mut partitions = t.partitions;
            partitions.sort_by_key(|p| p.partition_index);
            let ids: Vec<i32> = partitions.iter().map(|p| p.partition_index).collect();
            let starts = offsets(&mut client, &name, &ids, -2)?;
            let ends = offsets(&mut client, &name, &ids, -1)?;
            let at =
                |v: &[(i32, i64)], p: i32| v.iter().find(|(i, _)| *i == p).map_or(-1, |(_, o)| *o);
            let rows: Vec<(i32, i32, Vec<i32>, i64, i64)> = partitions
                .iter()
                .map(|p| {
                    (
                        p.partition_index,
                        p.leader_id,
                        p.replica_nodes.clone(),
                        at(&starts, p.partition_index),
                        at(&ends, p.partition_index),
                    )
                })
                .collect();
            match c.format {
                Format::Json => println!(
                    "{}",
                    json!({
                        "name": name,
                        "id": t.topic_id.to_string(),
                        "internal": t.is_internal,
                        "partitions": rows.iter().map(|(p, l, r, s, e)| json!({"partition": p, "leader": l, "replicas": r, "start_offset": s, "end_offset": e})).collect::<Vec<_>>(),
                    })
                ),
                Format::Table => {
                    println!(
                        "topic: {name}  id: {}  internal: {}",
                        t.topic_id, t.is_internal
                    );
                    print_table(
                        &["PARTITION", "LEADER", "REPLICAS", "START", "END"],
                        &rows
                            .into_iter()
                            .map(|(p, l, r, s, e)| {
                                let replicas: Vec<String> = r.iter().map(i32::to_string).collect();
                                vec![
                                    p.to_string(),
                                    l.to_string(),
                                    replicas.join(","),
                                    s.to_string(),
                                    e.to_string(),
                                ]
                            })
                            .collect::<Vec<_>>(),
                    );
                }
            }
        }
        TopicCommand::Create {
            name,
            partitions,
            configs,
        } => {
            use create_topics_request::*;
            let configs = configs
                .iter()
                .map(|kv| {
                    let (k, v) = kv
                        .split_once('=')
                        .ok_or_else(|| anyhow!("--config wants KEY=VALUE, got {kv:?}"))?;
                    Ok(CreatableTopicConfig {
                        name: k.to_string(),
                        value: Some(v.to_string()),
                        ..Default::default()
                    })
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let req = CreateTopicsRequest {
                topics: vec![CreatableTopic {
                    name: name.clone(),
                    num_partitions: partitions.unwrap_or(-1),
                    replication_factor: -1,
                    configs,
                    ..Default::default()
                }],
                timeout_ms: 30_000,
                ..Default::default()
            };
            let Response::CreateTopics(r) = client.call(7, req)? else {
                bail!("unexpected answer to CreateTopics");
            };
            for t in &r.topics {
                check(
                    t.error_code,
                    t.error_message.as_deref(),
                    &format!("creating topic {}", t.name),
                )?;
            }
            let created = r.topics.first().map_or(0, |t| t.num_partitions);
            match c.format {
                Format::Json => println!("{}", json!({"created": name, "partitions": created})),
                Format::Table => println!("created topic {name} with {created} partitions"),
            }
        }
        TopicCommand::Delete { name } => {
            use delete_topics_request::*;
            let req = DeleteTopicsRequest {
                topics: vec![DeleteTopicState {
                    name: Some(name.clone()),
                    ..Default::default()
                }],
                timeout_ms: 30_000,
                ..Default::default()
            };
            let Response::DeleteTopics(r) = client.call(6, req)? else {
                bail!("unexpected answer to DeleteTopics");
            };
            for t in &r.responses {
                check(
                    t.error_code,
                    t.error_message.as_deref(),
                    &format!("deleting topic {name}"),
                )?;
            }
            match c.format {
                Format::Json => println!("{}", json!({"deleted": name})),
                Format::Table => println!("deleted topic {name}"),
            }
        }
        TopicCommand::AddPartitions { name, partitions } => {
            use create_partitions_request::*;
            let req = CreatePartitionsRequest {
                topics: vec![CreatePartitionsTopic {
                    name: name.clone(),
                    count: partitions,
                    assignments: None,
                    ..Default::default()
                }],
                timeout_ms: 30_000,
                ..Default::default()
            };
            let Response::CreatePartitions(r) = client.call(3, req)? else {
                bail!("unexpected answer to CreatePartitions");
            };
            for t in &r.results {
                check(
                    t.error_code,
                    t.error_message.as_deref(),
                    &format!("adding partitions to {name}"),
                )?;
            }
            match c.format {
                Format::Json => println!("{}", json!({"topic": name, "partitions": partitions})),
                Format::Table => println!("topic {name} now has {partitions} partitions"),
            }
        }
        TopicCommand::AlterConfig { name, set, delete } => {
            use incremental_alter_configs_request::*;
            const TOPIC: i8 = 2;
            const SET: i8 = 0;
            const DELETE: i8 = 1;
            let mut configs = Vec::new();
            for kv in &set {
                let (k, v) = kv
                    .split_once('=')
                    .ok_or_else(|| anyhow!("--set wants KEY=VALUE, got {kv:?}"))?;
                configs.push(AlterableConfig {
                    name: k.to_string(),
                    config_operation: SET,
                    value: Some(v.to_string()),
                    ..Default::default()
                });
            }
            for k in &delete {
                configs.push(AlterableConfig {
                    name: k.clone(),
                    config_operation: DELETE,
                    value: None,
                    ..Default::default()
                });
            }
            if configs.is_empty() {
                bail!("nothing to change: give --set KEY=VALUE or --delete KEY");
            }
            let req = IncrementalAlterConfigsRequest {
                resources: vec![AlterConfigsResource {
                    resource_type: TOPIC,
                    resource_name: name.clone(),
                    configs,
                    ..Default::default()
                }],
                ..Default::default()
            };
            let Response::IncrementalAlterConfigs(r) = client.call(1, req)? else {
                bail!("unexpected answer to IncrementalAlterConfigs");
            };
            for res in &r.responses {
                check(
                    res.error_code,
                    res.error_message.as_deref(),
                    &format!("altering the configs of {name}"),
                )?;
            }
            match c.format {
                Format::Json => {
                    println!("{}", json!({"topic": name, "set": set, "deleted": delete}))
                }
                Format::Table => println!("altered the configs of topic {name}"),
            }
        }
    }
    Ok(())
}

fn group(command: GroupCommand, c: &Connection) -> anyhow::Result<()> {
    let mut client = Client::connect(&c.bootstrap)?;
    match command {
        GroupCommand::List => {
            let Response::ListGroups(r) =
                client.call(5, list_groups_request::ListGroupsRequest::default())?
            else {
                bail!("unexpected answer to ListGroups");
            };
            check(r.error_code, None, "listing groups")?;
            let mut groups: Vec<(String, String, String, String)> = r
                .groups
                .into_iter()
                .map(|g| (g.group_id, g.group_type, g.protocol_type, g.group_state))
                .collect();
            groups.sort();
            match c.format {
                Format::Json => println!(
                    "{}",
                    json!(groups.iter().map(|(g, t, p, s)| json!({"group": g, "type": t, "protocol_type": p, "state": s})).collect::<Vec<_>>())
                ),
                Format::Table => print_table(
                    &["GROUP", "TYPE", "PROTOCOL TYPE", "STATE"],
                    &groups
                        .into_iter()
                        .map(|(g, t, p, s)| vec![g, t, p, s])
                        .collect::<Vec<_>>(),
                ),
            }
        }
        GroupCommand::Delete { group } => {
            let req = delete_groups_request::DeleteGroupsRequest {
                groups_names: vec![group.clone()],
                ..Default::default()
            };
            let Response::DeleteGroups(r) = client.call(2, req)? else {
                bail!("unexpected answer to DeleteGroups");
            };
            for g in &r.results {
                check(g.error_code, None, &format!("deleting group {group}"))?;
            }
            match c.format {
                Format::Json => println!("{}", json!({"deleted": group})),
                Format::Table => println!("deleted group {group}"),
            }
        }
        GroupCommand::Lag { group } => {
            use offset_fetch_request::*;
            let req = OffsetFetchRequest {
                groups: vec![OffsetFetchRequestGroup {
                    group_id: group.clone(),
                    member_epoch: -1,
                    topics: None,
                    ..Default::default()
                }],
                ..Default::default()
            };
            let Response::OffsetFetch(r) = client.call(8, req)? else {
                bail!("unexpected answer to OffsetFetch");
            };
            let g = r
                .groups
                .into_iter()
                .next()
                .ok_or_else(|| anyhow!("no answer for group {group}"))?;
            check(g.error_code, None, &format!("offsets of group {group}"))?;
            let mut rows: Vec<(String, i32, i64, i64)> = Vec::new();
            for t in g.topics {
                let partitions: Vec<i32> = t.partitions.iter().map(|p| p.partition_index).collect();
                let ends = offsets(&mut client, &t.name, &partitions, -1)?;
                for p in t.partitions {
                    check(
                        p.error_code,
                        None,
                        &format!("offset of {}-{}", t.name, p.partition_index),
                    )?;
                    let end = ends
                        .iter()
                        .find(|(i, _)| *i == p.partition_index)
                        .map_or(-1, |(_, o)| *o);
                    rows.push((t.name.clone(), p.partition_index, p.committed_offset, end));
                }
            }
            rows.sort();
            let lag = |committed: i64, end: i64| (committed >= 0).then(|| (end - committed).max(0));
            match c.format {
                Format::Json => println!(
                    "{}",
                    json!(rows.iter().map(|(t, p, o, e)| json!({"group": group, "topic": t, "partition": p, "committed": o, "end": e, "lag": lag(*o, *e)})).collect::<Vec<_>>())
                ),
                Format::Table => print_table(
                    &["TOPIC", "PARTITION", "COMMITTED", "END", "LAG"],
                    &rows
                        .into_iter()
                        .map(|(t, p, o, e)| {
                            vec![
                                t,
                                p.to_string(),
                                o.to_string(),
                                e.to_string(),
                                lag(o, e).map_or("-".to_string(), |l| l.to_string()),
                            ]
                        })
                        .collect::<Vec<_>>(),
                ),
            }
        }
    }
    Ok(())
}
