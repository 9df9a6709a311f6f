//! InitProducerId for idempotent producers: a new producer id, epoch 0. Transactional
//! ids need a transaction coordinator, which Aeon does not have yet.

use super::Node;
use crate::actors::broker::AllocateProducerId;
use crate::protocol::messages::init_producer_id_request::InitProducerIdRequest;
use crate::protocol::messages::init_producer_id_response::InitProducerIdResponse;
use crate::protocol::ErrorCode;

pub async fn handle(node: &Node, req: InitProducerIdRequest) -> InitProducerIdResponse {
    let error = |code: ErrorCode| InitProducerIdResponse {
        error_code: code.code(),
        producer_id: -1,
        producer_epoch: -1,
        ..Default::default()
    };
    if req.transactional_id.is_some() {
        return error(ErrorCode::CoordinatorNotAvailable);
    }
    match node.broker.send(AllocateProducerId).await {
        Ok(Ok(producer_id)) => InitProducerIdResponse {
            error_code: 0,
            producer_id,
            producer_epoch: 0,
            ..Default::default()
        },
        Ok(Err((code, message))) => {
            tracing::warn!(%message, "no producer id");
            error(code)
        }
        Err(_) => error(ErrorCode::CoordinatorNotAvailable),
    }
}
