//! One file per Kafka API: typed request -> messages to actors -> typed response.
//!
//! [`dispatch`] routes a decoded request to its handler. Handlers run on the
//! connection's arbiter, concurrently for the requests of one connection; they read the
//! routing snapshot rather than asking the `BrokerActor`, except for metadata changes.

mod acls;
mod add_offsets_to_txn;
mod add_partitions_to_txn;
mod alter_configs;
mod api_versions;
mod config_resource;
mod consumer_group_describe;
mod consumer_group_heartbeat;
mod create_partitions;
mod create_topics;
mod delete_groups;
mod delete_records;
mod delete_topics;
mod describe_cluster;
mod describe_configs;
mod describe_groups;
mod describe_producers;
mod describe_transactions;
mod end_txn;
mod fetch;
mod find_coordinator;
mod heartbeat;
mod init_producer_id;
mod join_group;
mod leave_group;
mod list_groups;
mod list_offsets;
mod list_transactions;
mod metadata;
mod offset_commit;
mod offset_delete;
mod offset_fetch;
mod partition_fan_out;
mod produce;
mod sync_group;
mod topic_naming;
mod txn_offset_commit;
mod user_scram_credentials;

use crate::actors::broker::{BrokerActor, GetGroupCoordinator, GetTxnCoordinator};
use crate::actors::group_coordinator::GroupCoordinatorActor;
use crate::actors::routing::RoutingHandle;
use crate::actors::txn_coordinator::TxnCoordinatorActor;
use crate::config::SharedConfig;
use crate::protocol::{ApiKey, ErrorCode, Request, RequestFrame, Response};
use crate::security::authorizer::Authz;
use actix::Addr;
use std::net::SocketAddr;
use std::sync::Arc;

pub use api_versions::unsupported_version_response;

/// What every handler shares: the live config, the routing snapshot, the `BrokerActor`,
/// the metrics, and this broker's identity (cluster id, node id). One per broker,
/// behind an `Arc` that each connection holds.
pub struct BrokerContext {
    pub config: SharedConfig,
    pub routing: RoutingHandle,
    pub broker: Addr<BrokerActor>,
    pub cluster_id: String,
    pub node_id: i32,
    /// The users' SCRAM credentials.
    pub users: Arc<crate::security::users::UserStore>,
    /// The ACLs, when `authorizer.class.name` is set; `None`: no authorization.
    pub acls: Option<Arc<crate::security::authorizer::AclStore>>,
    pub metrics: Arc<crate::metrics::BrokerMetrics>,
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
    ApiKey::DescribeProducers,
    ApiKey::AlterConfigs,
    ApiKey::IncrementalAlterConfigs,
    ApiKey::FindCoordinator,
    ApiKey::JoinGroup,
    ApiKey::SyncGroup,
    ApiKey::Heartbeat,
    ApiKey::LeaveGroup,
    ApiKey::OffsetCommit,
    ApiKey::OffsetFetch,
    ApiKey::OffsetDelete,
    ApiKey::DescribeGroups,
    ApiKey::ListGroups,
    ApiKey::DeleteGroups,
    ApiKey::InitProducerId,
    ApiKey::AddPartitionsToTxn,
    ApiKey::AddOffsetsToTxn,
    ApiKey::EndTxn,
    ApiKey::TxnOffsetCommit,
    ApiKey::DescribeTransactions,
    ApiKey::ListTransactions,
    ApiKey::ConsumerGroupHeartbeat,
    ApiKey::ConsumerGroupDescribe,
    ApiKey::DescribeUserScramCredentials,
    ApiKey::AlterUserScramCredentials,
    ApiKey::DescribeAcls,
    ApiKey::CreateAcls,
    ApiKey::DeleteAcls,
    // Answered by the connection itself (`net::sasl`).
    ApiKey::SaslHandshake,
    ApiKey::SaslAuthenticate,
];

/// A listener as the connections it accepted see it.
#[derive(Debug)]
pub struct ListenerInfo {
    /// Its name in `listeners`.
    pub name: String,
    pub protocol: crate::config::SecurityProtocol,
    /// The host and port given to clients that came in through it (Metadata,
    /// FindCoordinator, DescribeCluster), as Kafka answers each client with the
    /// addresses of its own listener.
    pub advertised: (String, u16),
    /// Its connection series.
    pub metrics: crate::metrics::ListenerMetrics,
    /// The TLS key material of an SSL or SASL_SSL listener.
    pub tls: Option<Arc<crate::net::tls::TlsAcceptorSource>>,
}

/// Who is on a connection: where from, through which listener, as whom.
#[derive(Debug, Clone)]
pub struct Session {
    pub peer: SocketAddr,
    pub listener: Arc<ListenerInfo>,
    /// `User:ANONYMOUS` until SASL authenticates the client.
    pub principal: Arc<crate::security::principal::KafkaPrincipal>,
}

/// Who sent a request.
pub struct Caller {
    pub client_id: String,
    pub peer: SocketAddr,
}

impl Caller {
    /// The client host as Kafka reports it (`/127.0.0.1`).
    pub fn host(&self) -> String {
        format!("/{}", self.peer.ip())
    }
}

/// The coordinator of `group_id`, started if the group is new.
async fn coordinator(
    ctx: &BrokerContext,
    group_id: &str,
) -> Result<Addr<GroupCoordinatorActor>, ErrorCode> {
    if let Some(addr) = existing_coordinator(ctx, group_id) {
        return Ok(addr);
    }
    match ctx
        .broker
        .send(GetGroupCoordinator(group_id.to_string()))
        .await
    {
        Ok(Ok(addr)) => Ok(addr),
        Ok(Err((code, message))) => {
            tracing::warn!(%group_id, %message, "no coordinator for group");
            Err(code)
        }
        Err(_) => Err(ErrorCode::CoordinatorNotAvailable),
    }
}

/// The coordinator of a group that exists, from the routing snapshot.
fn existing_coordinator(
    ctx: &BrokerContext,
    group_id: &str,
) -> Option<Addr<GroupCoordinatorActor>> {
    // A coordinator stops once its group is dead; it may still be registered.
    ctx.routing
        .load()
        .groups
        .get(group_id)
        .filter(Addr::connected)
}

/// The coordinator of a transactional id, from the routing snapshot or the broker; with
/// `create`, started if the id is new.
async fn txn_coordinator(
    ctx: &BrokerContext,
    transactional_id: &str,
    create: bool,
) -> Result<Option<Addr<TxnCoordinatorActor>>, ErrorCode> {
    if let Some(addr) = ctx.routing.load().txns.get(transactional_id) {
        return Ok(Some(addr));
    }
    match ctx
        .broker
        .send(GetTxnCoordinator {
            transactional_id: transactional_id.to_string(),
            create,
        })
        .await
    {
        Ok(Ok(addr)) => Ok(addr),
        Ok(Err((code, message))) => {
            tracing::warn!(%transactional_id, %message, "no coordinator for transactional id");
            Err(code)
        }
        Err(_) => Err(ErrorCode::CoordinatorNotAvailable),
    }
}

/// Why a request got no response and its connection must close.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error("{0:?} is not handled by this broker")]
    NotHandled(ApiKey),
}

/// Answers one request; `None` for a request that gets no response (acks=0 produce).
pub async fn dispatch(
    ctx: Arc<BrokerContext>,
    frame: RequestFrame,
    session: Arc<Session>,
) -> Result<Option<Response>, HandlerError> {
    let version = frame.version();
    let caller = Caller {
        client_id: frame.header.client_id.clone().unwrap_or_default(),
        peer: session.peer,
    };
    // The ACLs as they are now: a change applies from the next request on.
    let authz = &Authz::new(
        ctx.acls.as_ref().map(|a| a.snapshot()),
        &session.principal,
        session.peer.ip(),
    );
    let response: Response = match frame.body {
        Request::ApiVersions(r) => api_versions::handle(&r, version).into(),
        Request::Metadata(r) => metadata::handle(&ctx, &session, authz, r, version)
            .await
            .into(),
        Request::Produce(r) => {
            return Ok(produce::handle(&ctx, authz, r, version)
                .await
                .map(Into::into))
        }
        Request::Fetch(r) => fetch::handle(&ctx, authz, r, version).await.into(),
        Request::ListOffsets(r) => list_offsets::handle(&ctx, authz, r, version).await.into(),
        Request::CreateTopics(r) => create_topics::handle(&ctx, authz, r, version).await.into(),
        Request::DeleteTopics(r) => delete_topics::handle(&ctx, authz, r).await.into(),
        Request::CreatePartitions(r) => create_partitions::handle(&ctx, authz, r).await.into(),
        Request::DescribeConfigs(r) => describe_configs::handle(&ctx, authz, r, version)
            .await
            .into(),
        Request::DescribeCluster(r) => describe_cluster::handle(&ctx, &session, authz, r).into(),
        Request::DeleteRecords(r) => delete_records::handle(&ctx, authz, r).await.into(),
        Request::DescribeProducers(r) => describe_producers::handle(&ctx, authz, r).await.into(),
        Request::AlterConfigs(r) => alter_configs::handle_legacy(&ctx, authz, r).await.into(),
        Request::IncrementalAlterConfigs(r) => alter_configs::handle_incremental(&ctx, authz, r)
            .await
            .into(),
        Request::FindCoordinator(r) => {
            find_coordinator::handle(&ctx, &session, authz, r, version).into()
        }
        Request::JoinGroup(r) => join_group::handle(&ctx, &caller, authz, r, version)
            .await
            .into(),
        Request::SyncGroup(r) => sync_group::handle(&ctx, authz, r, version).await.into(),
        Request::Heartbeat(r) => heartbeat::handle(&ctx, authz, r).await.into(),
        Request::LeaveGroup(r) => leave_group::handle(&ctx, authz, r, version).await.into(),
        Request::OffsetCommit(r) => offset_commit::handle(&ctx, authz, r, version).await.into(),
        Request::OffsetFetch(r) => offset_fetch::handle(&ctx, authz, r, version).await.into(),
        Request::OffsetDelete(r) => offset_delete::handle(&ctx, authz, r).await.into(),
        Request::DescribeGroups(r) => describe_groups::handle(&ctx, authz, r, version)
            .await
            .into(),
        Request::ListGroups(r) => list_groups::handle(&ctx, authz, r, version).await.into(),
        Request::DeleteGroups(r) => delete_groups::handle(&ctx, authz, r).await.into(),
        Request::InitProducerId(r) => init_producer_id::handle(&ctx, authz, r, version)
            .await
            .into(),
        Request::AddPartitionsToTxn(r) => add_partitions_to_txn::handle(&ctx, authz, r, version)
            .await
            .into(),
        Request::AddOffsetsToTxn(r) => add_offsets_to_txn::handle(&ctx, authz, r, version)
            .await
            .into(),
        Request::EndTxn(r) => end_txn::handle(&ctx, authz, r, version).await.into(),
        Request::TxnOffsetCommit(r) => txn_offset_commit::handle(&ctx, authz, r, version)
            .await
            .into(),
        Request::DescribeTransactions(r) => {
            describe_transactions::handle(&ctx, authz, r).await.into()
        }
        Request::ListTransactions(r) => list_transactions::handle(&ctx, authz, r).await.into(),
        Request::ConsumerGroupHeartbeat(r) => {
            consumer_group_heartbeat::handle(&ctx, &caller, authz, r, version)
                .await
                .into()
        }
        Request::ConsumerGroupDescribe(r) => {
            consumer_group_describe::handle(&ctx, authz, r, version)
                .await
                .into()
        }
        Request::DescribeUserScramCredentials(r) => {
            user_scram_credentials::describe(&ctx, authz, r).into()
        }
        Request::AlterUserScramCredentials(r) => {
            user_scram_credentials::alter(&ctx, authz, r).await.into()
        }
        Request::CreateAcls(r) => acls::create(&ctx, authz, r).await.into(),
        Request::DescribeAcls(r) => acls::describe(&ctx, authz, r).into(),
        Request::DeleteAcls(r) => acls::delete(&ctx, authz, r).await.into(),
        other => return Err(HandlerError::NotHandled(other.api_key())),
    };
    Ok(Some(response))
}
