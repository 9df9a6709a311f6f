//! ElectLeaders (v0-2): preferred-leader election (type 0: the first replica, when it
//! is live and in sync) or unclean election (type 1: for a partition without a live
//! leader, any live replica) of the named partitions, or of every partition (null).
//! Each election is committed through the metadata quorum at the partition's epochs.
//! Needs ALTER on the cluster, as in Kafka.

use super::BrokerContext;
use crate::cluster::image::NoElection;
use crate::cluster::{MetadataImage, ProposeError};
use crate::protocol::messages::elect_leaders_request::ElectLeadersRequest;
use crate::protocol::messages::elect_leaders_response::{
    ElectLeadersResponse, PartitionResult, ReplicaElectionResult,
};
use crate::protocol::ErrorCode;
use crate::security::acl::AclOperation;
use crate::security::authorizer::Authz;
use futures::future::join_all;

/// What one partition's election came to.
fn refused(e: NoElection) -> (ErrorCode, String) {
    match e {
        NoElection::NotNeeded => (
            ErrorCode::ElectionNotNeeded,
            "Leader election not needed for topic partition.".into(),
        ),
        NoElection::PreferredNotAvailable => (
            ErrorCode::PreferredLeaderNotAvailable,
            "Failed to elect leader for partition: the preferred replica is not live and in sync."
                .into(),
        ),
        NoElection::EligibleLeadersNotAvailable => (
            ErrorCode::EligibleLeadersNotAvailable,
            "Failed to elect leader for partition: no replica is live.".into(),
        ),
        NoElection::UnknownPartition => (
            ErrorCode::UnknownTopicOrPartition,
            "This server does not host this topic-partition.".into(),
        ),
    }
}

/// The partitions an election names: all of them for a null list.
fn named(req: &ElectLeadersRequest, image: Option<&MetadataImage>) -> Vec<(String, Vec<i32>)> {
    match (&req.topic_partitions, image) {
        (Some(topics), _) => topics
            .iter()
            .map(|t| (t.topic.clone(), t.partitions.clone()))
            .collect(),
        (None, Some(image)) => image
            .topics
            .values()
            .map(|t| (t.name.clone(), (0..t.partitions.len() as i32).collect()))
            .collect(),
        (None, None) => Vec::new(),
    }
}

pub async fn handle(
    ctx: &BrokerContext,
    authz: &Authz<'_>,
    req: ElectLeadersRequest,
    version: i16,
) -> ElectLeadersResponse {
    let unclean = version >= 1 && req.election_type == 1;
    if !authz.cluster(AclOperation::Alter) {
        return ElectLeadersResponse {
            error_code: ErrorCode::ClusterAuthorizationFailed.code(),
            ..Default::default()
        };
    }
    let image = ctx.cluster.as_ref().map(|c| c.image());
    let mut results = Vec::new();
    for (topic, partitions) in named(&req, image.as_deref()) {
        let outcomes = partitions.into_iter().map(|partition| {
            let image = image.clone();
            let topic = topic.clone();
            async move {
                let (code, message) = match (&ctx.cluster, image) {
                    // A single broker is every partition's only and preferred replica.
                    (None, _) => match ctx.routing.load().topic(&topic) {
                        Some(t) if t.has_partition(partition) => refused(NoElection::NotNeeded),
                        _ => refused(NoElection::UnknownPartition),
                    },
                    (Some(cluster), Some(image)) => {
                        let elected = image
                            .topic(&topic)
                            .ok_or(NoElection::UnknownPartition)
                            .and_then(|t| image.election(t.id, partition, unclean));
                        match elected {
                            Err(e) => refused(e),
                            Ok(record) => match cluster.propose(vec![record]).await {
                                Ok(_) => (ErrorCode::None, String::new()),
                                Err(ProposeError::Rejected(e)) => {
                                    (ErrorCode::FencedLeaderEpoch, e.to_string())
                                }
                                Err(e) => (ErrorCode::RequestTimedOut, e.to_string()),
                            },
                        }
                    }
                    (Some(_), None) => refused(NoElection::UnknownPartition),
                };
                PartitionResult {
                    partition_id: partition,
                    error_code: code.code(),
                    error_message: (code != ErrorCode::None).then_some(message),
                    ..Default::default()
                }
            }
        });
        let partition_result = join_all(outcomes).await;
        results.push(ReplicaElectionResult {
            topic,
            partition_result,
            ..Default::default()
        });
    }
    ElectLeadersResponse {
        replica_election_results: results,
        ..Default::default()
    }
}
