//! DescribeTransactions: the state, timeout, start time, producer and partitions of each
//! named transactional id; TRANSACTIONAL_ID_NOT_FOUND for an id this coordinator does
//! not know.

use super::{txn_coordinator, BrokerContext};
use crate::actors::txn_coordinator::DescribeTxn;
use crate::protocol::messages::describe_transactions_request::DescribeTransactionsRequest;
use crate::protocol::messages::describe_transactions_response::{
    DescribeTransactionsResponse, TopicData, TransactionState,
};
use crate::protocol::ErrorCode;
use crate::security::acl::AclOperation;
use crate::security::authorizer::Authz;
use std::collections::BTreeMap;

/// The answer for an id that is not described.
fn not_described(transactional_id: String, code: ErrorCode) -> TransactionState {
    TransactionState {
        error_code: code.code(),
        transactional_id,
        producer_id: -1,
        producer_epoch: -1,
        transaction_timeout_ms: -1,
        transaction_start_time_ms: -1,
        ..Default::default()
    }
}

pub async fn handle(
    ctx: &BrokerContext,
    authz: &Authz<'_>,
    req: DescribeTransactionsRequest,
) -> DescribeTransactionsResponse {
    let mut transaction_states = Vec::with_capacity(req.transactional_ids.len());
    for id in req.transactional_ids {
        if !authz.transactional_id(AclOperation::Describe, &id) {
            transaction_states.push(not_described(
                id,
                ErrorCode::TransactionalIdAuthorizationFailed,
            ));
            continue;
        }
        let found = match txn_coordinator(ctx, &id, false).await {
            Ok(Some(addr)) => addr.send(DescribeTxn).await.ok().flatten(),
            _ => None,
        };
        let Some(m) = found else {
            transaction_states.push(not_described(id, ErrorCode::TransactionalIdNotFound));
            continue;
        };
        let mut topics: BTreeMap<String, Vec<i32>> = BTreeMap::new();
        // Only the topics the caller may describe, as Kafka.
        for (t, p) in &m.partitions {
            if authz.topic(AclOperation::Describe, t) {
                topics.entry(t.clone()).or_default().push(*p);
            }
        }
        transaction_states.push(TransactionState {
            error_code: 0,
            transactional_id: id,
            transaction_state: m.state.name().to_string(),
            transaction_timeout_ms: m.timeout_ms,
            transaction_start_time_ms: m.start_ms,
            producer_id: m.producer_id,
            producer_epoch: m.producer_epoch,
            topics: topics
                .into_iter()
                .map(|(topic, partitions)| TopicData {
                    topic,
                    partitions,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        });
    }
    DescribeTransactionsResponse {
        transaction_states,
        ..Default::default()
    }
}
