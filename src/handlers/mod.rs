//! One file per Kafka API: typed request -> messages to actors -> typed response.
//!
//! [`dispatch`] routes a decoded request to its handler. Handlers run on the
//! connection's arbiter, concurrently for the requests of one connection; they read the
//! routing snapshot rather than asking the `BrokerActor`, except for metadata changes.

mod alter_configs;
mod api_versions;
mod create_partitions;
mod create_topics;
mod delete_records;
mod delete_topics;
mod describe_cluster;
mod describe_configs;
mod fetch;
mod list_offsets;
mod metadata;
mod produce;

use crate::actors::broker::BrokerActor;
use crate::actors::routing::RoutingHandle;
use crate::config::Config;
use crate::protocol::{ApiKey, Request, RequestFrame, Response};
use actix::Addr;
use std::sync::Arc;

pub use api_versions::unsupported_version_response;

/// This broker node as the handlers see it.
pub struct Node {
    pub config: Arc<Config>,
    pub routing: RoutingHandle,
    pub broker: Addr<BrokerActor>,
    pub cluster_id: String,
    pub node_id: i32,
    /// The host and port clients are told to connect to.
    pub advertised: (String, u16),
}

/// The APIs this broker answers. A served codec without behaviour is not advertised:
/// clients only use what ApiVersions lists.
pub const HANDLED: &[ApiKey] = &[
    ApiKey::Produce,
    ApiKey::Fetch,
    ApiKey::ListOffsets,
    ApiKey::Metadata,
    ApiKey::ApiVersions,
    ApiKey::CreateTopics,
    ApiKey::DeleteTopics,
    ApiKey::DescribeConfigs,
    ApiKey::CreatePartitions,
    ApiKey::DescribeCluster,
    ApiKey::DeleteRecords,
    ApiKey::AlterConfigs,
    ApiKey::IncrementalAlterConfigs,
];

/// Why a request got no response and its connection must close.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error("{0:?} is not handled by this broker")]
    NotHandled(ApiKey),
}

/// Answers one request; `None` for a request that gets no response (acks=0 produce).
pub async fn dispatch(
    node: Arc<Node>,
    frame: RequestFrame,
) -> Result<Option<Response>, HandlerError> {
    let version = frame.version();
    let response: Response = match frame.body {
        Request::ApiVersions(r) => api_versions::handle(&r, version).into(),
        Request::Metadata(r) => metadata::handle(&node, r, version).await.into(),
        Request::Produce(r) => return Ok(produce::handle(&node, r, version).await.map(Into::into)),
        Request::Fetch(r) => fetch::handle(&node, r, version).await.into(),
        Request::ListOffsets(r) => list_offsets::handle(&node, r).await.into(),
        Request::CreateTopics(r) => create_topics::handle(&node, r, version).await.into(),
        Request::DeleteTopics(r) => delete_topics::handle(&node, r).await.into(),
        Request::CreatePartitions(r) => create_partitions::handle(&node, r).await.into(),
        Request::DescribeConfigs(r) => describe_configs::handle(&node, r, version).into(),
        Request::DescribeCluster(r) => describe_cluster::handle(&node, r).into(),
        Request::DeleteRecords(r) => delete_records::handle(&node, r).await.into(),
        Request::AlterConfigs(r) => alter_configs::handle_legacy(&node, r).await.into(),
        Request::IncrementalAlterConfigs(r) => {
            alter_configs::handle_incremental(&node, r).await.into()
        }
        other => return Err(HandlerError::NotHandled(other.api_key())),
    };
    Ok(Some(response))
}
