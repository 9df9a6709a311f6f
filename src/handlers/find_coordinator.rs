//! FindCoordinator: this broker coordinates every group (key type 0) and every
//! transactional id (key type 1). v0-3 carry one key, v4+ a batch.

use super::{BrokerContext, Session};
use crate::protocol::messages::find_coordinator_request::FindCoordinatorRequest;
use crate::protocol::messages::find_coordinator_response::{Coordinator, FindCoordinatorResponse};
use crate::protocol::ErrorCode;
use crate::security::acl::AclOperation;
use crate::security::authorizer::Authz;

/// FindCoordinator key types.
const GROUP: i8 = 0;
const TRANSACTION: i8 = 1;

fn answer(
    ctx: &BrokerContext,
    session: &Session,
    authz: &Authz<'_>,
    key_type: i8,
    key: &str,
) -> (ErrorCode, Option<String>, i32, String, i32) {
    // DESCRIBE on the group or transactional id, as Kafka checks.
    let refused = match key_type {
        GROUP if !authz.group(AclOperation::Describe, key) => {
            Some(ErrorCode::GroupAuthorizationFailed)
        }
        TRANSACTION if !authz.transactional_id(AclOperation::Describe, key) => {
            Some(ErrorCode::TransactionalIdAuthorizationFailed)
        }
        _ => None,
    };
    if let Some(code) = refused {
        return (
            code,
            Some("Authorization failed.".into()),
            -1,
            String::new(),
            -1,
        );
    }
    if key_type != GROUP && key_type != TRANSACTION {
        return (
            ErrorCode::InvalidRequest,
            Some(format!("unknown coordinator key type {key_type}")),
            -1,
            String::new(),
            -1,
        );
    }
    let (host, port) = session.listener.advertised.clone();
    (ErrorCode::None, None, ctx.node_id, host, i32::from(port))
}

pub fn handle(
    ctx: &BrokerContext,
    session: &Session,
    authz: &Authz<'_>,
    req: FindCoordinatorRequest,
    version: i16,
) -> FindCoordinatorResponse {
    if version < 4 {
        let (code, message, node_id, host, port) =
            answer(ctx, session, authz, req.key_type, &req.key);
        return FindCoordinatorResponse {
            error_code: code.code(),
            error_message: if version >= 1 { message } else { None },
            node_id,
            host,
            port,
            ..Default::default()
        };
    }
    let coordinators = req
        .coordinator_keys
        .into_iter()
        .map(|key| {
            let (code, message, node_id, host, port) =
                answer(ctx, session, authz, req.key_type, &key);
            Coordinator {
                key,
                node_id,
                host,
                port,
                error_code: code.code(),
                error_message: message,
                ..Default::default()
            }
        })
        .collect();
    FindCoordinatorResponse {
        coordinators,
        ..Default::default()
    }
}
