//! `aeon topic ...`: list, describe, create, delete, add-partitions, alter-config.

use super::*;

pub(super) fn topic(command: TopicCommand, c: &Connection) -> anyhow::Result<()> {
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
            let t = topic_metadata(&mut client, &name)?;
            let partitions = &t.partitions;
            let ids: Vec<i32> = partitions.iter().map(|p| p.partition_index).collect();
            let starts = offsets(&mut client, &name, &ids, -2)?;
            let ends = offsets(&mut client, &name, &ids, -1)?;
            let at =
                |v: &[(i32, i64)], p: i32| v.iter().find(|(i, _)| *i == p).map_or(-1, |(_, o)| *o);
            // Each partition: its offsets beside its replicas and ISR.
            let rows: Vec<(&_, i64, i64)> = partitions
                .iter()
                .map(|p| {
                    (
                        p,
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
                        "partitions": rows.iter().map(|(p, s, e)| json!({"partition": p.partition_index, "leader": p.leader_id, "replicas": p.replica_nodes, "isr": p.isr_nodes, "start_offset": s, "end_offset": e})).collect::<Vec<_>>(),
                    })
                ),
                Format::Table => {
                    println!(
                        "topic: {name}  id: {}  internal: {}",
                        t.topic_id, t.is_internal
                    );
                    print_table(
                        &["PARTITION", "LEADER", "REPLICAS", "ISR", "START", "END"],
                        &rows
                            .into_iter()
                            .map(|(p, s, e)| {
                                let ids = |v: &[i32]| {
                                    v.iter().map(i32::to_string).collect::<Vec<_>>().join(",")
                                };
                                vec![
                                    p.partition_index.to_string(),
                                    p.leader_id.to_string(),
                                    ids(&p.replica_nodes),
                                    ids(&p.isr_nodes),
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
            replication_factor,
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
                    replication_factor: replication_factor.unwrap_or(-1),
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
