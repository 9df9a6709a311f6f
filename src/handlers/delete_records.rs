//! DeleteRecords: moves each partition's log start offset (-1: to the high watermark);
//! segments wholly below it are deleted. Fetches below it get OFFSET_OUT_OF_RANGE.

use super::BrokerContext;
use crate::actors::partition::{DeleteRecords, PartitionError};
use crate::protocol::messages::delete_records_request::DeleteRecordsRequest;
use crate::protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsResponse, DeleteRecordsTopicResult,
};
use crate::protocol::ErrorCode;
use futures::future::join_all;

pub async fn handle(ctx: &BrokerContext, req: DeleteRecordsRequest) -> DeleteRecordsResponse {
    let routing = ctx.routing.load();
    let mut calls = Vec::new();
    for (ti, t) in req.topics.iter().enumerate() {
        for p in &t.partitions {
            let route = routing.partition(&t.name, p.partition_index).cloned();
            let (partition, offset) = (p.partition_index, p.offset);
            calls.push(async move {
                let res = match route {
                    Some(r) => r
                        .addr
                        .send(DeleteRecords { offset })
                        .await
                        .unwrap_or(Err(PartitionError::Closed)),
                    None => return (ti, partition, Err(ErrorCode::UnknownTopicOrPartition)),
                };
                (ti, partition, res.map_err(|e| e.code()))
            });
        }
    }
    drop(routing);
    let mut topics: Vec<DeleteRecordsTopicResult> = req
        .topics
        .iter()
        .map(|t| DeleteRecordsTopicResult {
            name: t.name.clone(),
            ..Default::default()
        })
        .collect();
    for (ti, partition, res) in join_all(calls).await {
        let (low_watermark, code) = match res {
            Ok(low) => (low, ErrorCode::None),
            Err(code) => (-1, code),
        };
        topics[ti].partitions.push(DeleteRecordsPartitionResult {
            partition_index: partition,
            low_watermark,
            error_code: code.code(),
            ..Default::default()
        });
    }
    DeleteRecordsResponse {
        topics,
        ..Default::default()
    }
}
