//! DescribeCluster: this broker, as the only broker and the controller.

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
    let (host, port) = session.listener.advertised.clone();
    DescribeClusterResponse {
        endpoint_type: req.endpoint_type,
        cluster_id: ctx.cluster_id.clone(),
        controller_id: ctx.node_id,
        cluster_authorized_operations: authz.operations_if(
            req.include_cluster_authorized_operations,
            ResourceType::Cluster,
            CLUSTER_NAME,
        ),
        brokers: vec![DescribeClusterBroker {
            broker_id: ctx.node_id,
            host,
            port: i32::from(port),
            rack: None,
            is_fenced: false,
            ..Default::default()
        }],
        ..Default::default()
    }
}
