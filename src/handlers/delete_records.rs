//! DeleteRecords: moves each partition's log start offset (-1: to the high watermark);
//! segments wholly below it are deleted. Fetches below it get OFFSET_OUT_OF_RANGE.

use super::partition_fan_out::ask_partitions;
use super::BrokerContext;
use crate::actors::partition::DeleteRecords;
use crate::protocol::messages::delete_records_request::DeleteRecordsRequest;
use crate::protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsResponse, DeleteRecordsTopicResult,
};
use crate::protocol::ErrorCode;
use crate::security::acl::AclOperation;
use crate::security::authorizer::Authz;

pub async fn handle(
    ctx: &BrokerContext,
    authz: &Authz<'_>,
    req: DeleteRecordsRequest,
) -> DeleteRecordsResponse {
    let asks = req
        .topics
        .into_iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| (p.partition_index, DeleteRecords { offset: p.offset }))
                .collect();
            (t.name, partitions)
        })
        .collect();
    let topics = ask_partitions(
        ctx,
        (authz, AclOperation::Delete),
        asks,
        |partition_index, res| {
            let (low_watermark, code) = match res {
                Ok(low) => (low, ErrorCode::None),
                Err(code) => (-1, code),
            };
            DeleteRecordsPartitionResult {
                partition_index,
                low_watermark,
                error_code: code.code(),
                ..Default::default()
            }
        },
    )
    .await
    .into_iter()
    .map(|(name, partitions)| DeleteRecordsTopicResult {
        name,
        partitions,
        ..Default::default()
    })
    .collect();
    DeleteRecordsResponse {
        topics,
        ..Default::default()
    }
}
