//! `aeon group ...`: list, describe, lag, reset-offsets, delete.

use super::*;

pub(super) fn group(command: GroupCommand, c: &Connection) -> anyhow::Result<()> {
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
            let t = topic_metadata(&mut client, &topic)?;
            let partitions: Vec<i32> = t.partitions.iter().map(|p| p.partition_index).collect();
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
