//! WriteTxnMarkers (v1-2): a transaction coordinator on another broker has this
//! broker, the leader, write a transaction's commit or abort markers (Kafka's
//! `TransactionMarkerChannelManager` sends it). Each marker is answered once every
//! in-sync replica has it. On a `__consumer_offsets` partition, the transaction's
//! offsets pending in the groups coordinated there are then committed or dropped.
//! Needs CLUSTER_ACTION, as in Kafka.

use super::BrokerContext;
use crate::actors::broker::write_marker;
use crate::actors::partition::WriteTxnMarker;
use crate::actors::routing::Routing;
use crate::protocol::messages::write_txn_markers_request::{
    WritableTxnMarker, WriteTxnMarkersRequest,
};
use crate::protocol::messages::write_txn_markers_response::{
    WritableTxnMarkerPartitionResult, WritableTxnMarkerResult, WritableTxnMarkerTopicResult,
    WriteTxnMarkersResponse,
};
use crate::protocol::ErrorCode;
use crate::security::acl::AclOperation;
use crate::security::authorizer::Authz;

/// One marker written to one partition (or its groups settled): its error.
async fn write_one(
    ctx: &BrokerContext,
    routing: &Routing,
    marker: &WritableTxnMarker,
    topic: &str,
    partition: i32,
) -> ErrorCode {
    let Some(route) = routing.topic(topic) else {
        return ErrorCode::UnknownTopicOrPartition;
    };
    let Some(led) = route.partition(partition) else {
        return route.unserved(partition);
    };
    let write = WriteTxnMarker {
        producer_id: marker.producer_id,
        producer_epoch: marker.producer_epoch,
        coordinator_epoch: marker.coordinator_epoch,
        commit: marker.transaction_result,
        wait_for_fsync: ctx.config.load().log_flush_before_ack,
    };
    match write_marker(&ctx.broker, (topic, partition), &led.addr, write).await {
        Ok(()) => ErrorCode::None,
        Err(e) => {
            tracing::debug!(%topic, partition, error = %e, "transaction marker not written");
            e.code()
        }
    }
}

pub async fn handle(
    ctx: &BrokerContext,
    authz: &Authz<'_>,
    req: WriteTxnMarkersRequest,
) -> WriteTxnMarkersResponse {
    let allowed = authz.cluster(AclOperation::ClusterAction);
    let routing = ctx.routing.load_full();
    let mut markers = Vec::with_capacity(req.markers.len());
    for marker in &req.markers {
        let mut topics = Vec::with_capacity(marker.topics.len());
        for t in &marker.topics {
            let writes = t.partition_indexes.iter().map(|&p| {
                let routing = &routing;
                async move {
                    let code = if allowed {
                        write_one(ctx, routing, marker, &t.name, p).await
                    } else {
                        ErrorCode::ClusterAuthorizationFailed
                    };
                    WritableTxnMarkerPartitionResult {
                        partition_index: p,
                        error_code: code.code(),
                        ..Default::default()
                    }
                }
            });
            topics.push(WritableTxnMarkerTopicResult {
                name: t.name.clone(),
                partitions: futures::future::join_all(writes).await,
                ..Default::default()
            });
        }
        markers.push(WritableTxnMarkerResult {
            producer_id: marker.producer_id,
            topics,
            ..Default::default()
        });
    }
    WriteTxnMarkersResponse {
        markers,
        ..Default::default()
    }
}
