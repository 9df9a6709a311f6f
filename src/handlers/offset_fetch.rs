//! OffsetFetch: the committed offsets of a group (v1-7) or of several groups (v8+);
//! partitions without a commit answer offset -1, and with `require_stable`, partitions
//! whose offset a transaction still holds answer UNSTABLE_OFFSET_COMMIT.

use super::{existing_coordinator, BrokerContext};
use crate::actors::group_coordinator::FetchOffsets;
use crate::group::CommittedOffset;
use crate::protocol::messages::offset_fetch_request::OffsetFetchRequest;
use crate::protocol::messages::offset_fetch_response::{
    OffsetFetchResponse, OffsetFetchResponseGroup, OffsetFetchResponsePartition,
    OffsetFetchResponsePartitions, OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use crate::protocol::ErrorCode;
use crate::security::acl::AclOperation;
use crate::security::authorizer::Authz;
use std::collections::BTreeMap;
use uuid::Uuid;

/// The committed offsets of one group, grouped by topic (in request order when asked),
/// as the caller may see them: DESCRIBE on the group (else GROUP_AUTHORIZATION_FAILED
/// for the group), and on each topic: an asked-for topic it may not describe answers
/// TOPIC_AUTHORIZATION_FAILED, and a listing of all leaves such topics out, as Kafka.
async fn offsets(
    ctx: &BrokerContext,
    authz: &Authz<'_>,
    group_id: &str,
    topics: Option<Vec<(String, Vec<i32>)>>,
    member: (Option<String>, i32),
    require_stable: bool,
) -> (ErrorCode, Vec<(String, Vec<Answer>)>) {
    if group_id.is_empty() {
        return (ErrorCode::InvalidGroupId, Vec::new());
    }
    if !authz.group(AclOperation::Describe, group_id) {
        return (ErrorCode::GroupAuthorizationFailed, Vec::new());
    }
    let visible = |topic: &str| authz.topic(AclOperation::Describe, topic);
    let found = match existing_coordinator(ctx, group_id).await {
        Err(code) => return (code, Vec::new()),
        Ok(Some(group)) => {
            let fetch = FetchOffsets {
                topics: topics
                    .as_ref()
                    .map(|asked| asked.iter().filter(|(t, _)| visible(t)).cloned().collect()),
                member_id: member.0,
                member_epoch: member.1,
            };
            match group.send(fetch).await {
                Ok(Ok(o)) => o,
                Ok(Err(code)) => return (code, Vec::new()),
                Err(_) => return (ErrorCode::CoordinatorNotAvailable, Vec::new()),
            }
        }
        Ok(None) => Vec::new(),
    };
    let mut by_topic: BTreeMap<String, Vec<CommittedOffset>> = BTreeMap::new();
    for o in found {
        by_topic.entry(o.topic.clone()).or_default().push(o);
    }
    let ordered = match topics {
        // Asked-for partitions without a commit answer offset -1.
        Some(asked) => asked
            .into_iter()
            .map(|(topic, partitions)| {
                if !visible(&topic) {
                    let refused = partitions
                        .into_iter()
                        .map(|partition| Answer {
                            partition,
                            offset: -1,
                            leader_epoch: -1,
                            metadata: None,
                            code: ErrorCode::TopicAuthorizationFailed,
                        })
                        .collect();
                    return (topic, refused);
                }
                let mut have = by_topic.remove(&topic).unwrap_or_default();
                let list = partitions
                    .into_iter()
                    .map(|p| match have.iter().position(|o| o.partition == p) {
                        Some(i) => have.swap_remove(i),
                        None => CommittedOffset {
                            topic: topic.clone(),
                            partition: p,
                            offset: -1,
                            leader_epoch: -1,
                            metadata: Some(String::new()),
                            commit_timestamp_ms: 0,
                            pending_txn: false,
                        },
                    })
                    .map(|o| stable(o, require_stable))
                    .collect();
                (topic, list)
            })
            .collect(),
        None => by_topic
            .into_iter()
            .filter(|(topic, _)| visible(topic))
            .map(|(topic, list)| {
                let list = list.into_iter().map(|o| stable(o, require_stable));
                (topic, list.collect())
            })
            .collect(),
    };
    (ErrorCode::None, ordered)
}

/// One partition's answer.
struct Answer {
    partition: i32,
    offset: i64,
    leader_epoch: i32,
    metadata: Option<String>,
    code: ErrorCode,
}

/// With `require_stable` (v7+, read_committed consumers), an offset that a transaction
/// still holds is UNSTABLE_OFFSET_COMMIT: the client retries until the transaction ends.
fn stable(o: CommittedOffset, require_stable: bool) -> Answer {
    if require_stable && o.pending_txn {
        return Answer {
            partition: o.partition,
            offset: -1,
            leader_epoch: -1,
            metadata: None,
            code: ErrorCode::UnstableOffsetCommit,
        };
    }
    Answer {
        partition: o.partition,
        offset: o.offset,
        leader_epoch: o.leader_epoch,
        metadata: o.metadata,
        code: ErrorCode::None,
    }
}

pub async fn handle(
    ctx: &BrokerContext,
    authz: &Authz<'_>,
    req: OffsetFetchRequest,
    version: i16,
) -> OffsetFetchResponse {
    if version < 8 {
        let topics = req.topics.map(|ts| {
            ts.into_iter()
                .map(|t| (t.name, t.partition_indexes))
                .collect()
        });
        let (code, found) = offsets(
            ctx,
            authz,
            &req.group_id,
            topics,
            (None, -1),
            req.require_stable,
        )
        .await;
        return OffsetFetchResponse {
            error_code: if version >= 2 { code.code() } else { 0 },
            topics: found
                .into_iter()
                .map(|(name, list)| OffsetFetchResponseTopic {
                    name,
                    partitions: list
                        .into_iter()
                        .map(|o| OffsetFetchResponsePartition {
                            partition_index: o.partition,
                            committed_offset: o.offset,
                            committed_leader_epoch: if version >= 5 { o.leader_epoch } else { -1 },
                            metadata: o.metadata,
                            error_code: if version < 2 {
                                code.code()
                            } else {
                                o.code.code()
                            },
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
    }
    let routing = ctx.routing.load();
    let mut groups = Vec::with_capacity(req.groups.len());
    for g in req.groups {
        // v10 names topics by id.
        let topics = g.topics.map(|ts| {
            ts.into_iter()
                .map(|t| {
                    let name = if version >= 10 {
                        routing
                            .topic_by_id(&t.topic_id)
                            .map(|r| r.name.clone())
                            .unwrap_or_default()
                    } else {
                        t.name
                    };
                    (name, t.partition_indexes)
                })
                .collect()
        });
        // v9+: a member of a consumer group names itself and its epoch.
        let member = (g.member_id, g.member_epoch);
        let (code, found) =
            offsets(ctx, authz, &g.group_id, topics, member, req.require_stable).await;
        groups.push(OffsetFetchResponseGroup {
            group_id: g.group_id,
            error_code: code.code(),
            topics: found
                .into_iter()
                .map(|(name, list)| OffsetFetchResponseTopics {
                    topic_id: if version >= 10 {
                        routing.topic(&name).map_or(Uuid::nil(), |r| r.id)
                    } else {
                        Uuid::nil()
                    },
                    name: if version >= 10 { String::new() } else { name },
                    partitions: list
                        .into_iter()
                        .map(|o| OffsetFetchResponsePartitions {
                            partition_index: o.partition,
                            committed_offset: o.offset,
                            committed_leader_epoch: o.leader_epoch,
                            metadata: o.metadata,
                            error_code: o.code.code(),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        });
    }
    OffsetFetchResponse {
        groups,
        ..Default::default()
    }
}
