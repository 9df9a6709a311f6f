//! AddPartitionsToTxn: the partitions join the producer's transaction. v0-3 carry one
//! transaction (from a producer); v4+ a batch, possibly `verify_only` (from brokers).
//! Unknown partitions fail the request: they get UNKNOWN_TOPIC_OR_PARTITION and the
//! others OPERATION_NOT_ATTEMPTED, as Kafka answers.

use super::{txn_coordinator, BrokerContext};
use crate::actors::txn_coordinator::{AddToTxn, VerifyInTxn};
use crate::protocol::messages::add_partitions_to_txn_request::{
    AddPartitionsToTxnRequest, AddPartitionsToTxnTopic, AddPartitionsToTxnTransaction,
};
use crate::protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResponse, AddPartitionsToTxnResult,
    AddPartitionsToTxnTopicResult,
};
use crate::protocol::ErrorCode;
use crate::security::acl::AclOperation;
use crate::security::authorizer::Authz;
use crate::txn::fencing_error;

fn partitions_of(topics: &[AddPartitionsToTxnTopic]) -> Vec<(String, i32)> {
    topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| (t.name.clone(), *p)))
        .collect()
}

/// One error per partition, in request order. A client's request (v3 and below) needs
/// WRITE on the transactional id and on each topic, as in Kafka; a refused or unknown
/// partition leaves the others OPERATION_NOT_ATTEMPTED.
async fn add(
    ctx: &BrokerContext,
    authz: &Authz<'_>,
    txn: AddPartitionsToTxnTransaction,
    version: i16,
) -> Vec<ErrorCode> {
    let partitions = partitions_of(&txn.topics);
    let n = partitions.len();
    let all = |code: ErrorCode| vec![code; n];
    if !authz.transactional_id(AclOperation::Write, &txn.transactional_id) {
        return all(ErrorCode::TransactionalIdAuthorizationFailed);
    }
    let refused: Vec<Option<ErrorCode>> = {
        let routing = ctx.routing.load();
        partitions
            .iter()
            .map(|(t, p)| {
                if !authz.topic(AclOperation::Write, t) {
                    Some(ErrorCode::TopicAuthorizationFailed)
                } else if !routing.topic(t).is_some_and(|r| r.has_partition(*p)) {
                    // Led here or by another broker: either may be in a transaction.
                    Some(ErrorCode::UnknownTopicOrPartition)
                } else {
                    None
                }
            })
            .collect()
    };
    if refused.iter().any(Option::is_some) {
        return refused
            .iter()
            .map(|r| r.unwrap_or(ErrorCode::OperationNotAttempted))
            .collect();
    }
    let coordinator = match txn_coordinator(ctx, &txn.transactional_id, false).await {
        Ok(Some(c)) => c,
        Ok(None) => return all(ErrorCode::InvalidProducerIdMapping),
        Err(code) => return all(code),
    };
    if txn.verify_only {
        let verified = coordinator
            .send(VerifyInTxn {
                producer_id: txn.producer_id,
                producer_epoch: txn.producer_epoch,
                partitions,
            })
            .await
            .unwrap_or(Err(ErrorCode::CoordinatorNotAvailable));
        return match verified {
            Ok(flags) => flags
                .into_iter()
                .map(|added| {
                    if added {
                        ErrorCode::None
                    } else {
                        ErrorCode::InvalidTxnState
                    }
                })
                .collect(),
            Err(code) => all(code),
        };
    }
    let result = coordinator
        .send(AddToTxn {
            producer_id: txn.producer_id,
            producer_epoch: txn.producer_epoch,
            partitions,
            group: None,
            fenced: fencing_error(version >= 2),
        })
        .await
        .unwrap_or(Err(ErrorCode::CoordinatorNotAvailable));
    vec![result.err().unwrap_or(ErrorCode::None); n]
}

fn results(
    topics: &[AddPartitionsToTxnTopic],
    codes: &[ErrorCode],
) -> Vec<AddPartitionsToTxnTopicResult> {
    let mut codes = codes.iter();
    topics
        .iter()
        .map(|t| AddPartitionsToTxnTopicResult {
            name: t.name.clone(),
            results_by_partition: t
                .partitions
                .iter()
                .map(|p| AddPartitionsToTxnPartitionResult {
                    partition_index: *p,
                    partition_error_code: codes.next().copied().unwrap_or(ErrorCode::None).code(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        })
        .collect()
}

pub async fn handle(
    ctx: &BrokerContext,
    authz: &Authz<'_>,
    req: AddPartitionsToTxnRequest,
    version: i16,
) -> AddPartitionsToTxnResponse {
    // v4+ batches are a broker's (transaction verification): CLUSTER_ACTION.
    if version > 3 && !authz.cluster(AclOperation::ClusterAction) {
        return AddPartitionsToTxnResponse {
            error_code: ErrorCode::ClusterAuthorizationFailed.code(),
            ..Default::default()
        };
    }
    if version <= 3 {
        let topics = req.v3_and_below_topics;
        let txn = AddPartitionsToTxnTransaction {
            transactional_id: req.v3_and_below_transactional_id,
            producer_id: req.v3_and_below_producer_id,
            producer_epoch: req.v3_and_below_producer_epoch,
            verify_only: false,
            topics: topics.clone(),
            ..Default::default()
        };
        let codes = add(ctx, authz, txn, version).await;
        return AddPartitionsToTxnResponse {
            results_by_topic_v3_and_below: results(&topics, &codes),
            ..Default::default()
        };
    }
    let mut by_txn = Vec::with_capacity(req.transactions.len());
    for txn in req.transactions {
        let (id, topics) = (txn.transactional_id.clone(), txn.topics.clone());
        let codes = add(ctx, authz, txn, version).await;
        by_txn.push(AddPartitionsToTxnResult {
            transactional_id: id,
            topic_results: results(&topics, &codes),
            ..Default::default()
        });
    }
    AddPartitionsToTxnResponse {
        results_by_transaction: by_txn,
        ..Default::default()
    }
}
