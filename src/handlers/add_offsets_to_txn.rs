//! AddOffsetsToTxn: the group's offsets partition joins the producer's transaction, so
//! its TxnOffsetCommit records get the transaction's marker, and the group learns the
//! outcome when the transaction ends.

use super::{coordinator, txn_coordinator, BrokerContext};
use crate::actors::broker::OFFSETS_TOPIC;
use crate::actors::txn_coordinator::AddToTxn;
use crate::protocol::messages::add_offsets_to_txn_request::AddOffsetsToTxnRequest;
use crate::protocol::messages::add_offsets_to_txn_response::AddOffsetsToTxnResponse;
use crate::protocol::ErrorCode;
use crate::security::acl::AclOperation;
use crate::security::authorizer::Authz;
use crate::txn::fencing_error;

async fn add(
    ctx: &BrokerContext,
    authz: &Authz<'_>,
    req: AddOffsetsToTxnRequest,
    version: i16,
) -> Result<(), ErrorCode> {
    if !authz.transactional_id(AclOperation::Write, &req.transactional_id) {
        return Err(ErrorCode::TransactionalIdAuthorizationFailed);
    }
    if !authz.group(AclOperation::Read, &req.group_id) {
        return Err(ErrorCode::GroupAuthorizationFailed);
    }
    if req.group_id.is_empty() {
        return Err(ErrorCode::InvalidGroupId);
    }
    // `__consumer_offsets` exists before the group's partition can be named: the
    // group's coordinator here makes it. (Once it exists, the group may be coordinated
    // by another broker: the transaction needs only its partition.)
    let offsets_partitions = |ctx: &BrokerContext| {
        ctx.routing
            .load()
            .topic(OFFSETS_TOPIC)
            .map(|t| t.partitions.len())
    };
    let partitions = match offsets_partitions(ctx) {
        Some(n) => n,
        None => {
            coordinator(ctx, &req.group_id).await?;
            offsets_partitions(ctx).unwrap_or(0)
        }
    };
    let partition = crate::actors::broker::partition_for_key(&req.group_id, partitions);
    let txn = txn_coordinator(ctx, &req.transactional_id, false)
        .await?
        .ok_or(ErrorCode::InvalidProducerIdMapping)?;
    txn.send(AddToTxn {
        producer_id: req.producer_id,
        producer_epoch: req.producer_epoch,
        partitions: vec![(OFFSETS_TOPIC.to_string(), partition as i32)],
        group: Some(req.group_id),
        fenced: fencing_error(version >= 2),
    })
    .await
    .unwrap_or(Err(ErrorCode::CoordinatorNotAvailable))
}

pub async fn handle(
    ctx: &BrokerContext,
    authz: &Authz<'_>,
    req: AddOffsetsToTxnRequest,
    version: i16,
) -> AddOffsetsToTxnResponse {
    AddOffsetsToTxnResponse {
        error_code: add(ctx, authz, req, version)
            .await
            .err()
            .unwrap_or(ErrorCode::None)
            .code(),
        ..Default::default()
    }
}
