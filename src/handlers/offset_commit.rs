//! OffsetCommit: a group member's commit (generation and member checked), or a
//! standalone commit (generation -1) from a consumer that uses no group management.
//! Answered once the offsets are in `__consumer_offsets`.

use super::topic_naming::TopicNaming;
use super::{coordinator, BrokerContext};
use crate::actors::group_coordinator::{CommitOffsets, GroupCoordinatorActor};
use crate::group::{check_offset_commit, OffsetCommit};
use crate::protocol::messages::offset_commit_request::OffsetCommitRequest;
use crate::protocol::messages::offset_commit_response::{
    OffsetCommitResponse, OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use crate::protocol::ErrorCode;
use crate::security::acl::AclOperation;
use crate::security::authorizer::Authz;

/// OffsetCommit names topics by id from v10.
const TOPIC_IDS_FROM: i16 = 10;

/// One partition's answer to an offset commit (OffsetCommit, TxnOffsetCommit): its
/// unknown-topic code if any, else OFFSET_METADATA_TOO_LARGE for oversized metadata
/// (that entry was not committed), else the group's answer.
pub(super) fn partition_code(
    unknown: Option<ErrorCode>,
    metadata: Option<String>,
    result: Result<(), ErrorCode>,
) -> ErrorCode {
    let metadata_check = check_offset_commit(&OffsetCommit {
        topic: String::new(),
        partition: 0,
        offset: 0,
        leader_epoch: -1,
        metadata,
    });
    match unknown {
        Some(code) => code,
        None if metadata_check != ErrorCode::None => metadata_check,
        None => result.err().unwrap_or(ErrorCode::None),
    }
}

/// Hands the offsets to the group's coordinator (started if need be) as the message
/// `commit` builds: INVALID_GROUP_ID for an empty group id, nothing to do without
/// offsets. Shared by OffsetCommit and TxnOffsetCommit.
pub(super) async fn commit_through_group<M>(
    ctx: &BrokerContext,
    group_id: &str,
    offsets: Vec<OffsetCommit>,
    commit: impl FnOnce(Vec<OffsetCommit>) -> M,
) -> Result<(), ErrorCode>
where
    M: actix::Message<Result = Result<(), ErrorCode>> + Send + 'static,
    GroupCoordinatorActor: actix::Handler<M>,
{
    if group_id.is_empty() {
        return Err(ErrorCode::InvalidGroupId);
    }
    if offsets.is_empty() {
        return Ok(());
    }
    coordinator(ctx, group_id)
        .await?
        .send(commit(offsets))
        .await
        .unwrap_or(Err(ErrorCode::CoordinatorNotAvailable))
}

pub async fn handle(
    ctx: &BrokerContext,
    authz: &Authz<'_>,
    req: OffsetCommitRequest,
    version: i16,
) -> OffsetCommitResponse {
    // READ on the group, then on each topic (Kafka's order): a group the caller may
    // not read fails every partition.
    let group_allowed = authz.group(AclOperation::Read, &req.group_id);
    // Partitions of unknown topics get UNKNOWN_TOPIC_OR_PARTITION; the rest is committed.
    // Whether each requested partition exists, in request order: the answer is built
    // from it in one pass (a request may name hundreds of thousands of partitions).
    let naming = TopicNaming::of(version, TOPIC_IDS_FROM);
    let routing = ctx.routing.load();
    let mut offsets = Vec::new();
    let mut known = Vec::with_capacity(req.topics.len());
    for t in &req.topics {
        let route = if group_allowed {
            naming.find_authorized(&routing, &t.name, &t.topic_id, authz, AclOperation::Read)
        } else {
            Err(ErrorCode::GroupAuthorizationFailed)
        };
        let mut topic_known = Vec::with_capacity(t.partitions.len());
        for p in &t.partitions {
            let route = route.and_then(|r| {
                if usize::try_from(p.partition_index).is_ok_and(|i| i < r.partitions.len()) {
                    Ok(r)
                } else {
                    Err(naming.unknown_topic())
                }
            });
            if let Ok(r) = route {
                offsets.push(OffsetCommit {
                    topic: r.name.clone(),
                    partition: p.partition_index,
                    offset: p.committed_offset,
                    leader_epoch: p.committed_leader_epoch,
                    metadata: p.committed_metadata.clone(),
                });
            }
            topic_known.push(route.err());
        }
        known.push(topic_known);
    }
    drop(routing);
    let result = if !group_allowed {
        Err(ErrorCode::GroupAuthorizationFailed)
    } else {
        commit_through_group(ctx, &req.group_id, offsets, |offsets| CommitOffsets {
            api_version: version,
            member_id: req.member_id,
            generation_id: req.generation_id_or_member_epoch,
            group_instance_id: req.group_instance_id,
            offsets,
        })
        .await
    };
    let topics = req
        .topics
        .into_iter()
        .zip(known)
        .map(|(t, known)| {
            let name = t.name;
            OffsetCommitResponseTopic {
                partitions: t
                    .partitions
                    .into_iter()
                    .zip(known)
                    .map(|(p, refused)| {
                        let code = partition_code(refused, p.committed_metadata.clone(), result);
                        OffsetCommitResponsePartition {
                            partition_index: p.partition_index,
                            error_code: code.code(),
                            ..Default::default()
                        }
                    })
                    .collect(),
                name,
                topic_id: t.topic_id,
                ..Default::default()
            }
        })
        .collect();
    OffsetCommitResponse {
        topics,
        ..Default::default()
    }
}
