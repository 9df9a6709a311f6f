//! ListTransactions: every transactional id this coordinator knows, filtered by state,
//! producer id, duration (v1+: open longer than this many milliseconds) and id pattern
//! (v2+, a regular expression that must match the whole id). Unknown state names are
//! reported back, as Kafka does.

use super::BrokerContext;
use crate::actors::txn_coordinator::DescribeTxn;
use crate::protocol::messages::list_transactions_request::ListTransactionsRequest;
use crate::protocol::messages::list_transactions_response::{
    ListTransactionsResponse, TransactionState,
};
use crate::protocol::ErrorCode;
use crate::security::acl::AclOperation;
use crate::security::authorizer::Authz;
use crate::txn::TxnState;

pub async fn handle(
    ctx: &BrokerContext,
    authz: &Authz<'_>,
    req: ListTransactionsRequest,
) -> ListTransactionsResponse {
    let mut unknown_state_filters = Vec::new();
    let mut states = Vec::new();
    for name in &req.state_filters {
        match TxnState::from_name(name) {
            Some(s) => states.push(s),
            None => unknown_state_filters.push(name.clone()),
        }
    }
    let pattern = match req
        .transactional_id_pattern
        .as_deref()
        .filter(|p| !p.is_empty())
    {
        Some(p) => match regex::Regex::new(&format!("^(?:{p})$")) {
            Ok(r) => Some(r),
            Err(_) => {
                return ListTransactionsResponse {
                    error_code: ErrorCode::InvalidRegularExpression.code(),
                    ..Default::default()
                }
            }
        },
        None => None,
    };
    let txns = ctx.routing.load().txns.filtered(|id| {
        pattern.as_ref().is_none_or(|r| r.is_match(id))
            && authz.transactional_id(AclOperation::Describe, id)
    });
    let now = crate::clock::now_ms();
    let mut transaction_states = Vec::new();
    for (id, addr) in txns {
        let Ok(Some(m)) = addr.send(DescribeTxn).await else {
            continue;
        };
        let state_ok = states.is_empty() || states.contains(&m.state);
        let producer_ok =
            req.producer_id_filters.is_empty() || req.producer_id_filters.contains(&m.producer_id);
        let duration_ok =
            req.duration_filter < 0 || (m.start_ms >= 0 && now - m.start_ms > req.duration_filter);
        if state_ok && producer_ok && duration_ok {
            transaction_states.push(TransactionState {
                transactional_id: id,
                producer_id: m.producer_id,
                transaction_state: m.state.name().to_string(),
                ..Default::default()
            });
        }
    }
    transaction_states.sort_by(|a, b| a.transactional_id.cmp(&b.transactional_id));
    ListTransactionsResponse {
        unknown_state_filters,
        transaction_states,
        ..Default::default()
    }
}
