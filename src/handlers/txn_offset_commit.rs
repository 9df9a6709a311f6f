//! TxnOffsetCommit: offsets committed inside a producer's transaction
//! (`send_offsets_to_transaction`). The group's coordinator appends them to
//! `__consumer_offsets` in the transaction and holds them back until it ends: they
//! count only if it commits.

use super::offset_commit::{commit_through_group, partition_code};
use super::BrokerContext;
use crate::actors::group_coordinator::TxnCommitOffsets;
use crate::group::OffsetCommit;
use crate::protocol::messages::txn_offset_commit_request::TxnOffsetCommitRequest;
use crate::protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponse, TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use crate::protocol::ErrorCode;
use crate::security::acl::AclOperation;
use crate::security::authorizer::Authz;
use crate::txn::fencing_error;

pub async fn handle(
    ctx: &BrokerContext,
    authz: &Authz<'_>,
    req: TxnOffsetCommitRequest,
    version: i16,
) -> TxnOffsetCommitResponse {
    // WRITE on the transactional id, READ on the group, then on each topic (Kafka's
    // order); a refusal of either of the first two fails every partition.
    let whole = if !authz.transactional_id(AclOperation::Write, &req.transactional_id) {
        Some(ErrorCode::TransactionalIdAuthorizationFailed)
    } else if !authz.group(AclOperation::Read, &req.group_id) {
        Some(ErrorCode::GroupAuthorizationFailed)
    } else {
        None
    };
    let routing = ctx.routing.load();
    let mut offsets = Vec::new();
    // Whether each requested partition exists, in request order (one pass, as in
    // OffsetCommit).
    let mut known = Vec::with_capacity(req.topics.len());
    for t in &req.topics {
        let mut topic_known = Vec::with_capacity(t.partitions.len());
        let topic_refused = whole.or_else(|| {
            (!authz.topic(AclOperation::Read, &t.name))
                .then_some(ErrorCode::TopicAuthorizationFailed)
        });
        for p in &t.partitions {
            let refused = topic_refused.or_else(|| {
                // Led here or by another broker.
                (!routing
                    .topic(&t.name)
                    .is_some_and(|r| r.has_partition(p.partition_index)))
                .then_some(ErrorCode::UnknownTopicOrPartition)
            });
            if refused.is_none() {
                offsets.push(OffsetCommit {
                    topic: t.name.clone(),
                    partition: p.partition_index,
                    offset: p.committed_offset,
                    leader_epoch: p.committed_leader_epoch,
                    metadata: p.committed_metadata.clone(),
                });
            }
            topic_known.push(refused);
        }
        known.push(topic_known);
    }
    drop(routing);
    // The coordinator is started if need be, as Kafka does: a broker restarted since
    // AddOffsetsToTxn does not restore a group that had nothing yet.
    let result = match whole {
        Some(code) => Err(code),
        None => {
            commit_through_group(ctx, &req.group_id, offsets, |offsets| TxnCommitOffsets {
                producer_id: req.producer_id,
                producer_epoch: req.producer_epoch,
                member_id: req.member_id,
                generation_id: req.generation_id_or_member_epoch,
                group_instance_id: req.group_instance_id,
                offsets,
            })
            .await
        }
    };
    // The partition refuses an old epoch with INVALID_PRODUCER_EPOCH; v3+ says fenced.
    let result = result.map_err(|code| match code {
        ErrorCode::InvalidProducerEpoch | ErrorCode::ProducerFenced => fencing_error(version >= 3),
        other => other,
    });
    let topics = req
        .topics
        .into_iter()
        .zip(known)
        .map(|(t, known)| TxnOffsetCommitResponseTopic {
            partitions: t
                .partitions
                .iter()
                .zip(known)
                .map(|(p, refused)| {
                    let code = partition_code(refused, p.committed_metadata.clone(), result);
                    TxnOffsetCommitResponsePartition {
                        partition_index: p.partition_index,
                        error_code: code.code(),
                        ..Default::default()
                    }
                })
                .collect(),
            name: t.name,
            ..Default::default()
        })
        .collect();
    TxnOffsetCommitResponse {
        topics,
        ..Default::default()
    }
}
