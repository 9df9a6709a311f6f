//! EndTxn: commits or aborts the producer's transaction. Answered once the decision is
//! persisted in `__transaction_state` and its markers are written (or, if a partition
//! cannot take its marker yet, once the decision is persisted: the coordinator retries).

use super::{txn_coordinator, BrokerContext};
use crate::actors::txn_coordinator::EndTxn;
use crate::protocol::messages::end_txn_request::EndTxnRequest;
use crate::protocol::messages::end_txn_response::EndTxnResponse;
use crate::protocol::ErrorCode;
use crate::security::acl::AclOperation;
use crate::security::authorizer::Authz;
use crate::txn::fencing_error;

async fn end(
    ctx: &BrokerContext,
    authz: &Authz<'_>,
    req: EndTxnRequest,
    version: i16,
) -> Result<(), ErrorCode> {
    if !authz.transactional_id(AclOperation::Write, &req.transactional_id) {
        return Err(ErrorCode::TransactionalIdAuthorizationFailed);
    }
    let txn = txn_coordinator(ctx, &req.transactional_id, false)
        .await?
        .ok_or(ErrorCode::InvalidProducerIdMapping)?;
    txn.send(EndTxn {
        producer_id: req.producer_id,
        producer_epoch: req.producer_epoch,
        commit: req.committed,
        fenced: fencing_error(version >= 2),
    })
    .await
    .unwrap_or(Err(ErrorCode::CoordinatorNotAvailable))
}

pub async fn handle(
    ctx: &BrokerContext,
    authz: &Authz<'_>,
    req: EndTxnRequest,
    version: i16,
) -> EndTxnResponse {
    EndTxnResponse {
        error_code: end(ctx, authz, req, version)
            .await
            .err()
            .unwrap_or(ErrorCode::None)
            .code(),
        producer_id: -1,
        producer_epoch: -1,
        ..Default::default()
    }
}
