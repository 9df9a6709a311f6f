//! FindCoordinator: a single broker coordinates every group (key type 0) and every
//! transactional id (key type 1); in a cluster, the leader of the internal partition
//! that holds the key does. v0-3 carry one key, v4+ a batch.

use super::{broker_address, BrokerContext, Session};
use crate::actors::broker::{partition_for_key, EnsureInternalTopic, OFFSETS_TOPIC, TXN_TOPIC};
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
    let routing = ctx.routing.load();
    let Some(image) = &routing.cluster else {
        let (host, port) = session.listener.advertised.clone();
        return (ErrorCode::None, None, ctx.node_id, host, i32::from(port));
    };
    // In a cluster: the leader of the internal partition that holds the key.
    let topic = if key_type == GROUP {
        OFFSETS_TOPIC
    } else {
        TXN_TOPIC
    };
    let not_available = |why: &str| {
        (
            ErrorCode::CoordinatorNotAvailable,
            Some(why.to_owned()),
            -1,
            String::new(),
            -1,
        )
    };
    let Some(t) = image.topic(topic) else {
        ctx.broker.do_send(EnsureInternalTopic(topic.to_owned()));
        return not_available("The coordinator's topic is being created.");
    };
    let leader = t
        .partitions
        .get(partition_for_key(key, t.partitions.len()))
        .map_or(-1, |p| image.live_leader(p));
    match image
        .brokers
        .get(&leader)
        .and_then(|b| broker_address(b, &session.listener))
    {
        Some(b) => (ErrorCode::None, None, b.node_id, b.host, i32::from(b.port)),
        None => not_available("The coordinator is not available."),
    }
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
