//! DescribeQuorum (as `kafka-metadata-quorum --describe --status` and
//! `--replication` send it): the metadata quorum's partition, `__cluster_metadata-0`,
//! with its leader, epoch, high watermark and voters, as the quorum's leader knows
//! them (a broker that does not lead asks the one that does, as Kafka forwards it to
//! the active controller). A single broker is its own quorum: the only voter and the
//! leader, at epoch 0.

use super::BrokerContext;
use crate::cluster::{QuorumState, METADATA_TOPIC};
use crate::protocol::messages::describe_quorum_request::DescribeQuorumRequest;
use crate::protocol::messages::describe_quorum_response::{
    DescribeQuorumResponse, Listener, Node, PartitionData, ReplicaState, TopicData,
};
use crate::protocol::ErrorCode;
use crate::security::acl::AclOperation;
use crate::security::authorizer::Authz;

pub async fn handle(
    ctx: &BrokerContext,
    authz: &Authz<'_>,
    req: DescribeQuorumRequest,
    version: i16,
) -> DescribeQuorumResponse {
    // DESCRIBE on the cluster, as Kafka checks.
    if !authz.cluster(AclOperation::Describe) {
        return DescribeQuorumResponse {
            error_code: ErrorCode::ClusterAuthorizationFailed.code(),
            ..Default::default()
        };
    }
    let (quorum, voters) = match &ctx.cluster {
        None => (
            Ok(QuorumState {
                leader: Some(ctx.node_id),
                epoch: 0,
                high_watermark: 0,
                voters: vec![(ctx.node_id, 0)],
                observers: Vec::new(),
            }),
            Vec::new(),
        ),
        Some(c) => (c.describe_quorum().await, c.voter_addresses()),
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let partitions = t
                .partitions
                .into_iter()
                .map(|p| {
                    if t.topic_name != METADATA_TOPIC || p.partition_index != 0 {
                        return PartitionData {
                            partition_index: p.partition_index,
                            error_code: ErrorCode::UnknownTopicOrPartition.code(),
                            leader_id: -1,
                            ..Default::default()
                        };
                    }
                    match &quorum {
                        Err(e) => PartitionData {
                            partition_index: 0,
                            error_code: ErrorCode::NotLeaderOrFollower.code(),
                            error_message: Some(e.to_string()),
                            leader_id: -1,
                            ..Default::default()
                        },
                        Ok(q) => PartitionData {
                            partition_index: 0,
                            leader_id: q.leader.unwrap_or(-1),
                            leader_epoch: q.epoch,
                            high_watermark: q.high_watermark,
                            observers: q
                                .observers
                                .iter()
                                .map(|&(id, end)| ReplicaState {
                                    replica_id: id,
                                    log_end_offset: end,
                                    last_fetch_timestamp: -1,
                                    last_caught_up_timestamp: -1,
                                    ..Default::default()
                                })
                                .collect(),
                            current_voters: q
                                .voters
                                .iter()
                                .map(|&(id, end)| {
                                    let leads = Some(id) == q.leader;
                                    ReplicaState {
                                        replica_id: id,
                                        log_end_offset: end,
                                        last_fetch_timestamp: -1,
                                        last_caught_up_timestamp: if leads
                                            || end >= q.high_watermark
                                        {
                                            now
                                        } else {
                                            -1
                                        },
                                        ..Default::default()
                                    }
                                })
                                .collect(),
                            ..Default::default()
                        },
                    }
                })
                .collect();
            TopicData {
                topic_name: t.topic_name,
                partitions,
                ..Default::default()
            }
        })
        .collect();
    DescribeQuorumResponse {
        topics,
        // The voters' listeners exist from v2 on.
        nodes: voters
            .into_iter()
            .filter(|_| version >= 2)
            .map(|v| Node {
                node_id: v.id,
                listeners: vec![Listener {
                    name: v.listener,
                    host: v.host,
                    port: v.port,
                    ..Default::default()
                }],
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}
