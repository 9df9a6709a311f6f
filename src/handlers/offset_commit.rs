//! OffsetCommit: a group member's commit (generation and member checked), or a
//! standalone commit (generation -1) from a consumer that uses no group management.
//! Answered once the offsets are in `__consumer_offsets`.

use super::{coordinator, Node};
use crate::actors::group_coordinator::CommitOffsets;
use crate::group::{check_offset_commit, OffsetCommit};
use crate::protocol::messages::offset_commit_request::OffsetCommitRequest;
use crate::protocol::messages::offset_commit_response::{
    OffsetCommitResponse, OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use crate::protocol::ErrorCode;

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

pub async fn handle(node: &Node, req: OffsetCommitRequest, version: i16) -> OffsetCommitResponse {
    // Partitions of unknown topics get UNKNOWN_TOPIC_OR_PARTITION; the rest is committed.
    let routing = node.routing.load();
    let mut offsets = Vec::new();
    let mut unknown = Vec::new();
    for t in &req.topics {
        let route = if version >= 10 {
            routing.topic_by_id(&t.topic_id)
        } else {
            routing.topic(&t.name)
        };
        for p in &t.partitions {
            match route.filter(|r| {
                usize::try_from(p.partition_index).is_ok_and(|i| i < r.partitions.len())
            }) {
                Some(r) => offsets.push(OffsetCommit {
                    topic: r.name.clone(),
                    partition: p.partition_index,
                    offset: p.committed_offset,
                    leader_epoch: p.committed_leader_epoch,
                    metadata: p.committed_metadata.clone(),
                }),
                None => unknown.push((t.name.clone(), p.partition_index)),
            }
        }
    }
    drop(routing);
    let result = if req.group_id.is_empty() {
        Err(ErrorCode::InvalidGroupId)
    } else if offsets.is_empty() {
        Ok(())
    } else {
        match coordinator(node, &req.group_id).await {
            Ok(group) => group
                .send(CommitOffsets {
                    member_id: req.member_id,
                    generation_id: req.generation_id_or_member_epoch,
                    group_instance_id: req.group_instance_id,
                    offsets,
                })
                .await
                .unwrap_or(Err(ErrorCode::CoordinatorNotAvailable)),
            Err(code) => Err(code),
        }
    };
    let unknown_topic = if version >= 10 {
        ErrorCode::UnknownTopicId
    } else {
        ErrorCode::UnknownTopicOrPartition
    };
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let name = t.name;
            OffsetCommitResponseTopic {
                partitions: t
                    .partitions
                    .into_iter()
                    .map(|p| {
                        let is_unknown = unknown
                            .iter()
                            .any(|(n, i)| *n == name && *i == p.partition_index);
                        let code = partition_code(
                            is_unknown.then_some(unknown_topic),
                            p.committed_metadata.clone(),
                            result,
                        );
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
