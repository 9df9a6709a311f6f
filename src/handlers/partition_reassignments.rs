//! AlterPartitionReassignments (v0-1) and ListPartitionReassignments (v0), KIP-455:
//! moving a partition's replicas online. A reassignment is a record committed through
//! the metadata quorum; the replicas it adds follow the leader like any follower, and
//! once they are all in the ISR the partition keeps only its target replicas (the
//! image does this as it applies the ISR change, see `PartitionImage::settle`). The
//! brokers it removes then close the partition and delete its log. ALTER (DESCRIBE
//! for the list) on the cluster, as in Kafka.

use super::BrokerContext;
use crate::cluster::image::{check_assignment, ApplyError, MetadataImage, MetadataRecord};
use crate::cluster::ProposeError;
use crate::protocol::messages::alter_partition_reassignments_request::AlterPartitionReassignmentsRequest;
use crate::protocol::messages::alter_partition_reassignments_response::{
    AlterPartitionReassignmentsResponse, ReassignablePartitionResponse, ReassignableTopicResponse,
};
use crate::protocol::messages::list_partition_reassignments_request::ListPartitionReassignmentsRequest;
use crate::protocol::messages::list_partition_reassignments_response::{
    ListPartitionReassignmentsResponse, OngoingPartitionReassignment, OngoingTopicReassignment,
};
use crate::protocol::ErrorCode;
use crate::security::acl::AclOperation;
use crate::security::authorizer::Authz;
use futures::future::join_all;

type Outcome = Result<(), (ErrorCode, String)>;

fn unknown_partition() -> (ErrorCode, String) {
    (
        ErrorCode::UnknownTopicOrPartition,
        "This server does not host this topic-partition.".into(),
    )
}

fn no_reassignment() -> (ErrorCode, String) {
    (
        ErrorCode::NoReassignmentInProgress,
        "No reassignment is in progress for this partition.".into(),
    )
}

/// The record that reassigns partition `partition` of `topic` to `target` (`None`:
/// cancels), checked against `image` first for Kafka's error codes.
fn record(
    image: &MetadataImage,
    topic: &str,
    partition: i32,
    target: Option<&[i32]>,
    allow_rf_change: bool,
) -> Result<MetadataRecord, (ErrorCode, String)> {
    let t = image.topic(topic).ok_or_else(unknown_partition)?;
    let p = t.partition(partition).ok_or_else(unknown_partition)?;
    match target {
        None if !p.reassigning() => return Err(no_reassignment()),
        None => {}
        Some(target) => {
            let registered: Vec<i32> = image.brokers.keys().copied().collect();
            check_assignment(target, &registered)
                .map_err(|m| (ErrorCode::InvalidReplicaAssignment, m))?;
            let original = p.original_replicas().len();
            if !allow_rf_change && target.len() != original {
                return Err((
                    ErrorCode::InvalidReplicationFactor,
                    format!("The replication factor is changed from {original} to {} but AllowReplicationFactorChange is false.", target.len()),
                ));
            }
        }
    }
    Ok(MetadataRecord::Reassign {
        topic_id: t.id,
        partition,
        target: target.map(<[i32]>::to_vec),
    })
}

/// A single broker is the only replica of every partition: it can be "moved" to
/// itself and nowhere else.
fn alone(ctx: &BrokerContext, topic: &str, partition: i32, target: Option<&[i32]>) -> Outcome {
    let exists = ctx
        .routing
        .load()
        .topic(topic)
        .is_some_and(|t| t.has_partition(partition));
    if !exists {
        return Err(unknown_partition());
    }
    match target {
        None => Err(no_reassignment()),
        Some(target) => check_assignment(target, &[ctx.node_id])
            .map_err(|m| (ErrorCode::InvalidReplicaAssignment, m)),
    }
}

pub async fn alter(
    ctx: &BrokerContext,
    authz: &Authz<'_>,
    req: AlterPartitionReassignmentsRequest,
) -> AlterPartitionReassignmentsResponse {
    let allow_rf_change = req.allow_replication_factor_change;
    if !authz.cluster(AclOperation::Alter) {
        return AlterPartitionReassignmentsResponse {
            allow_replication_factor_change: allow_rf_change,
            error_code: ErrorCode::ClusterAuthorizationFailed.code(),
            error_message: Some("Cluster authorization failed.".into()),
            ..Default::default()
        };
    }
    let image = ctx.cluster.as_ref().map(|c| c.image());
    let mut responses = Vec::new();
    for topic in req.topics {
        let outcomes = topic.partitions.into_iter().map(|p| {
            let image = image.clone();
            let name = topic.name.clone();
            async move {
                let target = p.replicas.as_deref();
                let outcome = match (&ctx.cluster, image) {
                    (Some(cluster), Some(image)) => {
                        match record(&image, &name, p.partition_index, target, allow_rf_change) {
                            Err(e) => Err(e),
                            Ok(record) => proposed(cluster.propose(vec![record]).await),
                        }
                    }
                    _ => alone(ctx, &name, p.partition_index, target),
                };
                let (code, message) = outcome.err().unwrap_or((ErrorCode::None, String::new()));
                ReassignablePartitionResponse {
                    partition_index: p.partition_index,
                    error_code: code.code(),
                    error_message: (code != ErrorCode::None).then_some(message),
                    ..Default::default()
                }
            }
        });
        responses.push(ReassignableTopicResponse {
            name: topic.name.clone(),
            partitions: join_all(outcomes).await,
            ..Default::default()
        });
    }
    AlterPartitionReassignmentsResponse {
        allow_replication_factor_change: allow_rf_change,
        responses,
        ..Default::default()
    }
}

/// A committed reassignment, or the error code of why not.
fn proposed(result: Result<u64, ProposeError>) -> Outcome {
    match result {
        Ok(_) => Ok(()),
        Err(ProposeError::Rejected(ApplyError::NoReassignment(..))) => Err(no_reassignment()),
        Err(ProposeError::Rejected(ApplyError::InvalidAssignment(m))) => {
            Err((ErrorCode::InvalidReplicaAssignment, m))
        }
        Err(ProposeError::Rejected(ApplyError::UnknownPartition(..))) => Err(unknown_partition()),
        Err(ProposeError::NoLeader | ProposeError::NotLeader(_)) => Err((
            ErrorCode::NotController,
            "The metadata quorum has no leader now.".into(),
        )),
        Err(e) => Err((ErrorCode::RequestTimedOut, e.to_string())),
    }
}

pub fn list(
    ctx: &BrokerContext,
    authz: &Authz<'_>,
    req: ListPartitionReassignmentsRequest,
) -> ListPartitionReassignmentsResponse {
    if !authz.cluster(AclOperation::Describe) {
        return ListPartitionReassignmentsResponse {
            error_code: ErrorCode::ClusterAuthorizationFailed.code(),
            error_message: Some("Cluster authorization failed.".into()),
            ..Default::default()
        };
    }
    let Some(image) = ctx.cluster.as_ref().map(|c| c.image()) else {
        return ListPartitionReassignmentsResponse::default();
    };
    // Named partitions that do not exist or are not moving are left out, as in Kafka.
    let wanted = |topic: &str, partition: i32| match &req.topics {
        None => true,
        Some(topics) => topics
            .iter()
            .any(|t| t.name == topic && t.partition_indexes.contains(&partition)),
    };
    let topics = image
        .topics
        .values()
        .filter_map(|t| {
            let partitions: Vec<OngoingPartitionReassignment> = t
                .partitions
                .iter()
                .enumerate()
                .filter(|(i, p)| p.reassigning() && wanted(&t.name, *i as i32))
                .map(|(i, p)| OngoingPartitionReassignment {
                    partition_index: i as i32,
                    replicas: p.replicas.clone(),
                    adding_replicas: p.adding.clone(),
                    removing_replicas: p.removing.clone(),
                    ..Default::default()
                })
                .collect();
            (!partitions.is_empty()).then(|| OngoingTopicReassignment {
                name: t.name.clone(),
                partitions,
                ..Default::default()
            })
        })
        .collect();
    ListPartitionReassignmentsResponse {
        topics,
        ..Default::default()
    }
}
