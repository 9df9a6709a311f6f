//! DescribeCluster: this broker, as the only broker and the controller, or the live
//! brokers of the cluster and its active controller.

use super::{BrokerContext, Session};
use crate::protocol::messages::describe_cluster_request::DescribeClusterRequest;
use crate::protocol::messages::describe_cluster_response::{
    DescribeClusterBroker, DescribeClusterResponse,
};
use crate::protocol::ErrorCode;
use crate::security::acl::{ResourceType, CLUSTER_NAME};
use crate::security::authorizer::Authz;

/// DescribeCluster's endpoint types: 1 = brokers, 2 = controllers.
const ENDPOINT_BROKERS: i8 = 1;

pub fn handle(
    ctx: &BrokerContext,
    session: &Session,
    authz: &Authz<'_>,
    req: DescribeClusterRequest,
) -> DescribeClusterResponse {
    if req.endpoint_type != ENDPOINT_BROKERS && req.endpoint_type != 2 {
        return DescribeClusterResponse {
            error_code: ErrorCode::UnsupportedEndpointType.code(),
            error_message: Some(format!("Unsupported endpoint type {}", req.endpoint_type)),
            endpoint_type: req.endpoint_type,
            ..Default::default()
        };
    }
    let brokers = ctx
        .brokers(&ctx.routing.load(), &session.listener)
        .into_iter()
        .map(|b| DescribeClusterBroker {
            broker_id: b.node_id,
            host: b.host,
            port: i32::from(b.port),
            rack: b.rack,
            is_fenced: false,
            ..Default::default()
        })
        .collect();
    DescribeClusterResponse {
        endpoint_type: req.endpoint_type,
        cluster_id: ctx.cluster_id.clone(),
        controller_id: ctx.controller_id(),
        cluster_authorized_operations: authz.operations_if(
            req.include_cluster_authorized_operations,
            ResourceType::Cluster,
            CLUSTER_NAME,
        ),
        brokers,
        ..Default::default()
    }
}
