//! InitProducerId: a new producer id (epoch 0) for an idempotent producer; for a
//! transactional id, its coordinator fences older producers with the id (aborting their
//! open transaction) and answers the id's producer id with a bumped epoch.

use super::{txn_coordinator, BrokerContext};
use crate::actors::broker::AllocateProducerId;
use crate::actors::txn_coordinator::InitTxnProducer;
use crate::protocol::messages::init_producer_id_request::InitProducerIdRequest;
use crate::protocol::messages::init_producer_id_response::InitProducerIdResponse;
use crate::protocol::ErrorCode;
use crate::security::acl::AclOperation;
use crate::security::authorizer::Authz;

pub async fn handle(
    ctx: &BrokerContext,
    authz: &Authz<'_>,
    req: InitProducerIdRequest,
    version: i16,
) -> InitProducerIdResponse {
    let result = match req.transactional_id {
        Some(id) if !id.is_empty() && !authz.transactional_id(AclOperation::Write, &id) => {
            Err(ErrorCode::TransactionalIdAuthorizationFailed)
        }
        Some(id) if !id.is_empty() => {
            let expected = (req.producer_id >= 0).then_some((req.producer_id, req.producer_epoch));
            match txn_coordinator(ctx, &id, true).await {
                Ok(Some(txn)) => txn
                    .send(InitTxnProducer {
                        timeout_ms: req.transaction_timeout_ms,
                        expected,
                    })
                    .await
                    .unwrap_or(Err(ErrorCode::CoordinatorNotAvailable)),
                Ok(None) => Err(ErrorCode::CoordinatorNotAvailable),
                Err(code) => Err(code),
            }
        }
        _ if !authz.idempotent_producer() => Err(ErrorCode::ClusterAuthorizationFailed),
        _ => match ctx.broker.send(AllocateProducerId).await {
            Ok(Ok(producer_id)) => Ok((producer_id, 0)),
            Ok(Err((code, message))) => {
                tracing::warn!(%message, "no producer id");
                Err(code)
            }
            Err(_) => Err(ErrorCode::CoordinatorNotAvailable),
        },
    };
    match result {
        Ok((producer_id, producer_epoch)) => InitProducerIdResponse {
            error_code: 0,
            producer_id,
            producer_epoch,
            ..Default::default()
        },
        Err(code) => InitProducerIdResponse {
            // PRODUCER_FENCED arrived with v4 (KIP-588).
            error_code: match code {
                ErrorCode::ProducerFenced if version < 4 => ErrorCode::InvalidProducerEpoch,
                other => other,
            }
            .code(),
            producer_id: -1,
            producer_epoch: -1,
            ..Default::default()
        },
    }
}
