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
        Command::Produce {
            topic,
            partition,
            key_separator,
            headers,
            connection,
        } => produce(
            &topic,
            partition,
            key_separator.as_deref(),
            &headers,
            &connection,
        ),
        Command::Consume {
            topic,
            partition,
            from,
            max,
            key_separator,
            connection,
        } => consume(
            &topic,
            partition,
            &from,
            max,
            key_separator.as_deref(),
            &connection,
        ),
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
            report(
                c.format,
                json!({"created": name, "partitions": created}),
                &format!("created topic {name} with {created} partitions"),
            );
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
            report(
                c.format,
                json!({"deleted": name}),
                &format!("deleted topic {name}"),
            );
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
            report(
                c.format,
                json!({"topic": name, "partitions": partitions}),
                &format!("topic {name} now has {partitions} partitions"),
            );
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
            report(
                c.format,
                json!({"topic": name, "set": set, "deleted": delete}),
                &format!("altered the configs of topic {name}"),
            );
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
            report(
                c.format,
                json!({"deleted": group}),
                &format!("deleted group {group}"),
            );
        }
        GroupCommand::Describe { group } => describe_group(&mut client, &group, c.format)?,
        GroupCommand::ResetOffsets {
            group,
            topic,
            to_earliest,
            to_latest,
            to_offset,
            execute,
        } => {
            let m = metadata(&mut client, Some(vec![topic.clone()]))?;
            let t = m
                .topics
                .first()
                .ok_or_else(|| anyhow!("no answer for topic {topic}"))?;
            check(t.error_code, None, &format!("topic {topic}"))?;
            let mut partitions: Vec<i32> = t.partitions.iter().map(|p| p.partition_index).collect();
            partitions.sort_unstable();
            let starts = offsets(&mut client, &topic, &partitions, -2)?;
            let ends = offsets(&mut client, &topic, &partitions, -1)?;
            let at =
                |v: &[(i32, i64)], p: i32| v.iter().find(|(i, _)| *i == p).map_or(0, |(_, o)| *o);
            let plan: Vec<(i32, i64)> = partitions
                .iter()
                .map(|&p| {
                    let (start, end) = (at(&starts, p), at(&ends, p));
                    let target = match (to_earliest, to_latest, to_offset) {
                        (true, _, _) => start,
                        (_, true, _) => end,
                        (_, _, Some(o)) => o.clamp(start, end),
                        _ => {
                            return Err(anyhow!(
                                "say where to: --to-earliest, --to-latest or --to-offset N"
                            ))
                        }
                    };
                    Ok((p, target))
                })
                .collect::<anyhow::Result<_>>()?;
            if execute {
                use offset_commit_request::*;
                let req = OffsetCommitRequest {
                    group_id: group.clone(),
                    generation_id_or_member_epoch: -1,
                    retention_time_ms: -1,
                    topics: vec![OffsetCommitRequestTopic {
                        name: topic.clone(),
                        partitions: plan
                            .iter()
                            .map(|&(partition_index, committed_offset)| {
                                OffsetCommitRequestPartition {
                                    partition_index,
                                    committed_offset,
                                    committed_leader_epoch: -1,
                                    ..Default::default()
                                }
                            })
                            .collect(),
                        ..Default::default()
                    }],
                    ..Default::default()
                };
                let Response::OffsetCommit(r) = client.call(8, req)? else {
                    bail!("unexpected answer to OffsetCommit");
                };
                for t in &r.topics {
                    for p in &t.partitions {
                        check(
                            p.error_code,
                            None,
                            &format!("resetting {group} on {topic}-{}", p.partition_index),
                        )?;
                    }
                }
            }
            match c.format {
                Format::Json => println!(
                    "{}",
                    json!({
                        "group": group,
                        "topic": topic,
                        "executed": execute,
                        "offsets": plan.iter().map(|(p, o)| json!({"partition": p, "offset": o})).collect::<Vec<_>>(),
                    })
                ),
                Format::Table => {
                    print_table(
                        &["TOPIC", "PARTITION", "NEW OFFSET"],
                        &plan
                            .iter()
                            .map(|(p, o)| vec![topic.clone(), p.to_string(), o.to_string()])
                            .collect::<Vec<_>>(),
                    );
                    if !execute {
                        println!("(dry run: add --execute to commit these offsets)");
                    }
                }
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

/// Kafka's murmur2 (`Utils.murmur2`), which its default partitioner hashes keys with.
fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: i32 = 0x5bd1_e995;
    let length = data.len() as i32;
    let mut h: i32 = (SEED as i32) ^ length;
    let chunks = data.chunks_exact(4);
    let tail = chunks.remainder();
    for c in chunks {
        let mut k = i32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= ((k as u32) >> 24) as i32;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    if !tail.is_empty() {
        if tail.len() >= 3 {
            h ^= i32::from(tail[2]) << 16;
        }
        if tail.len() >= 2 {
            h ^= i32::from(tail[1]) << 8;
        }
        h ^= i32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= ((h as u32) >> 13) as i32;
    h = h.wrapping_mul(M);
    h ^= ((h as u32) >> 15) as i32;
    h
}

/// `group describe`: ConsumerGroupDescribe for a consumer group, else DescribeGroups.
fn describe_group(client: &mut Client, group: &str, format: Format) -> anyhow::Result<()> {
    use aeon::protocol::consumer_protocol::decode_assignment;
    // (member id, client id, host, partitions as topic-partition)
    let mut members: Vec<(String, String, String, Vec<String>)> = Vec::new();
    let req = consumer_group_describe_request::ConsumerGroupDescribeRequest {
        group_ids: vec![group.to_string()],
        ..Default::default()
    };
    let Response::ConsumerGroupDescribe(r) = client.call(1, req)? else {
        bail!("unexpected answer to ConsumerGroupDescribe");
    };
    let consumer = r.groups.into_iter().next().filter(|g| g.error_code == 0);
    let (kind, state, epoch, assignor) = if let Some(g) = consumer {
        for m in g.members {
            let parts = m
                .assignment
                .topic_partitions
                .iter()
                .flat_map(|t| {
                    t.partitions
                        .iter()
                        .map(move |p| format!("{}-{p}", t.topic_name))
                })
                .collect();
            members.push((m.member_id, m.client_id, m.client_host, parts));
        }
        ("consumer", g.group_state, g.group_epoch, g.assignor_name)
    } else {
        let req = describe_groups_request::DescribeGroupsRequest {
            groups: vec![group.to_string()],
            ..Default::default()
        };
        let Response::DescribeGroups(r) = client.call(5, req)? else {
            bail!("unexpected answer to DescribeGroups");
        };
        let g = r
            .groups
            .into_iter()
            .next()
            .ok_or_else(|| anyhow!("no answer for group {group}"))?;
        check(
            g.error_code,
            g.error_message.as_deref(),
            &format!("group {group}"),
        )?;
        if g.group_state == "Dead" {
            bail!("group {group}: GROUP_ID_NOT_FOUND");
        }
        for m in g.members {
            let parts = decode_assignment(&m.member_assignment)
                .map(|a| {
                    a.assigned_partitions
                        .iter()
                        .flat_map(|t| t.partitions.iter().map(move |p| format!("{}-{p}", t.topic)))
                        .collect()
                })
                .unwrap_or_default();
            members.push((m.member_id, m.client_id, m.client_host, parts));
        }
        ("classic", g.group_state, -1, g.protocol_data)
    };
    members.sort();
    match format {
        Format::Json => println!(
            "{}",
            json!({
                "group": group,
                "type": kind,
                "state": state,
                "epoch": (epoch >= 0).then_some(epoch),
                "assignor": assignor,
                "members": members.iter().map(|(id, client, host, parts)| json!({"member_id": id, "client_id": client, "host": host, "partitions": parts})).collect::<Vec<_>>(),
            })
        ),
        Format::Table => {
            println!("group: {group}  type: {kind}  state: {state}  assignor: {assignor}");
            print_table(
                &["MEMBER", "CLIENT", "HOST", "PARTITIONS"],
                &members
                    .into_iter()
                    .map(|(id, client, host, parts)| vec![id, client, host, parts.join(",")])
                    .collect::<Vec<_>>(),
            );
        }
    }
    Ok(())
}

/// A record to produce: its key, if any, and its value.
type KeyValue = (Option<Vec<u8>>, Vec<u8>);

/// Records per produce request and partition.
const PRODUCE_BATCH: usize = 1000;

fn produce(
    topic: &str,
    partition: Option<i32>,
    key_separator: Option<&str>,
    headers: &[String],
    c: &Connection,
) -> anyhow::Result<()> {
    use aeon::protocol::records::{RecordBatchBuilder, RecordSpec};
    use std::io::BufRead;
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| anyhow!("--header wants KEY=VALUE, got {kv:?}"))
        })
        .collect::<anyhow::Result<_>>()?;
    let mut client = Client::connect(&c.bootstrap)?;
    let m = metadata(&mut client, Some(vec![topic.to_string()]))?;
    let t = m
        .topics
        .first()
        .ok_or_else(|| anyhow!("no answer for topic {topic}"))?;
    check(t.error_code, None, &format!("topic {topic}"))?;
    let count = i32::try_from(t.partitions.len()).unwrap_or(i32::MAX).max(1);
    if let Some(p) = partition.filter(|p| !(0..count).contains(p)) {
        bail!("topic {topic} has no partition {p} (it has {count})");
    }
    let mut pending: std::collections::BTreeMap<i32, Vec<KeyValue>> =
        std::collections::BTreeMap::new();
    let mut round_robin = 0;
    let mut produced = 0usize;
    let mut send = |client: &mut Client,
                    p: i32,
                    records: Vec<(Option<Vec<u8>>, Vec<u8>)>|
     -> anyhow::Result<()> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let mut b = RecordBatchBuilder::new(0, now);
        for (key, value) in &records {
            let mut spec = RecordSpec::new(key.as_deref(), Some(value));
            for (k, v) in &headers {
                spec = spec.header(k, Some(v.as_bytes()));
            }
            b = b.record(spec);
        }
        use produce_request::*;
        let req = ProduceRequest {
            acks: -1,
            timeout_ms: 30_000,
            topic_data: vec![TopicProduceData {
                name: topic.to_string(),
                partition_data: vec![PartitionProduceData {
                    index: p,
                    records: Some(b.build().into()),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        let Response::Produce(r) = client.call(9, req)? else {
            bail!("unexpected answer to Produce");
        };
        for t in &r.responses {
            for pr in &t.partition_responses {
                check(
                    pr.error_code,
                    pr.error_message.as_deref(),
                    &format!("producing to {topic}-{p}"),
                )?;
            }
        }
        produced += records.len();
        Ok(())
    };
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        let (key, value) = match key_separator.and_then(|sep| line.split_once(sep)) {
            Some((k, v)) => (Some(k.as_bytes().to_vec()), v.as_bytes().to_vec()),
            None => (None, line.into_bytes()),
        };
        let p = match (partition, &key) {
            (Some(p), _) => p,
            (None, Some(k)) => (murmur2(k) & 0x7fff_ffff) % count,
            (None, None) => round_robin,
        };
        let batch = pending.entry(p).or_default();
        batch.push((key, value));
        if batch.len() >= PRODUCE_BATCH {
            let records = std::mem::take(batch);
            send(&mut client, p, records)?;
            if partition.is_none() {
                round_robin = (round_robin + 1) % count;
            }
        }
    }
    for (p, records) in std::mem::take(&mut pending) {
        if !records.is_empty() {
            send(&mut client, p, records)?;
        }
    }
    match c.format {
        Format::Json => println!("{}", json!({"topic": topic, "produced": produced})),
        Format::Table => eprintln!("produced {produced} records to {topic}"),
    }
    Ok(())
}

fn consume(
    topic: &str,
    partition: Option<i32>,
    from: &str,
    max: Option<usize>,
    key_separator: Option<&str>,
    c: &Connection,
) -> anyhow::Result<()> {
    use aeon::protocol::records::compression::records_of;
    use aeon::protocol::records::BatchIter;
    let mut client = Client::connect(&c.bootstrap)?;
    let m = metadata(&mut client, Some(vec![topic.to_string()]))?;
    let t = m
        .topics
        .first()
        .ok_or_else(|| anyhow!("no answer for topic {topic}"))?;
    check(t.error_code, None, &format!("topic {topic}"))?;
    let mut partitions: Vec<i32> = t.partitions.iter().map(|p| p.partition_index).collect();
    partitions.sort_unstable();
    if let Some(p) = partition {
        if !partitions.contains(&p) {
            bail!("topic {topic} has no partition {p}");
        }
        partitions = vec![p];
    }
    let ends = offsets(&mut client, topic, &partitions, -1)?;
    let starts = match from {
        "beginning" => offsets(&mut client, topic, &partitions, -2)?,
        "end" => ends.clone(),
        offset => {
            let o: i64 = offset
                .parse()
                .map_err(|_| anyhow!("--from wants beginning, end or an offset, got {offset:?}"))?;
            partitions.iter().map(|&p| (p, o)).collect()
        }
    };
    let mut printed = 0usize;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for &p in &partitions {
        let end = ends.iter().find(|(i, _)| *i == p).map_or(0, |(_, o)| *o);
        let mut next = starts.iter().find(|(i, _)| *i == p).map_or(0, |(_, o)| *o);
        while next < end && max.is_none_or(|m| printed < m) {
            use fetch_request::*;
            let req = FetchRequest {
                replica_id: -1,
                max_wait_ms: 0,
                min_bytes: 1,
                max_bytes: 8 << 20,
                isolation_level: 1,
                topics: vec![FetchTopic {
                    topic: topic.to_string(),
                    partitions: vec![FetchPartition {
                        partition: p,
                        fetch_offset: next,
                        partition_max_bytes: 4 << 20,
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            };
            let Response::Fetch(r) = client.call(12, req)? else {
                bail!("unexpected answer to Fetch");
            };
            let data = r
                .responses
                .into_iter()
                .flat_map(|t| t.partitions)
                .next()
                .ok_or_else(|| anyhow!("no answer for {topic}-{p}"))?;
            check(data.error_code, None, &format!("fetching {topic}-{p}"))?;
            let records = data.records.unwrap_or_default();
            let before = next;
            for batch in BatchIter::new(&records) {
                let batch_next = batch.next_offset();
                if batch.is_control() {
                    next = next.max(batch_next);
                    continue;
                }
                let section = batch
                    .decompressed_records(64 << 20)
                    .map_err(|e| anyhow!("a batch of {topic}-{p}: {e}"))?;
                for record in records_of(&section, batch.record_count())? {
                    let record = record.map_err(|e| anyhow!("a record of {topic}-{p}: {e}"))?;
                    let offset = batch.base_offset() + i64::from(record.offset_delta);
                    if offset < next || offset >= end || max.is_some_and(|m| printed >= m) {
                        continue;
                    }
                    let text =
                        |b: Option<&[u8]>| b.map(|b| String::from_utf8_lossy(b).into_owned());
                    match c.format {
                        Format::Json => writeln!(
                            out,
                            "{}",
                            json!({
                                "partition": p,
                                "offset": offset,
                                "timestamp": batch.base_timestamp() + record.timestamp_delta,
                                "key": text(record.key),
                                "value": text(record.value),
                                "headers": record.headers.iter().map(|h| json!({"key": h.key, "value": text(h.value)})).collect::<Vec<_>>(),
                            })
                        )?,
                        Format::Table => match key_separator {
                            Some(sep) => writeln!(
                                out,
                                "{}{sep}{}",
                                text(record.key).unwrap_or_default(),
                                text(record.value).unwrap_or_default()
                            )?,
                            None => writeln!(out, "{}", text(record.value).unwrap_or_default())?,
                        },
                    }
                    printed += 1;
                }
                next = next.max(batch_next);
            }
            if next == before {
                // Nothing readable below the end (e.g. records above the last stable
                // offset): stop rather than spin.
                break;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::murmur2;

    /// Kafka's `UtilsTest.testMurmur2`.
    #[test]
    fn murmur2_is_kafkas() {
        for (key, hash) in [
            (&b"21"[..], -973_932_308),
            (b"foobar", -790_332_482),
            (b"a-little-bit-long-string", -985_981_536),
            (b"a-little-bit-longer-string", -1_486_304_829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58_897_971,
            ),
            (b"abc", 479_470_107),
        ] {
            assert_eq!(murmur2(key), hash, "{}", String::from_utf8_lossy(key));
        }
    }
}
