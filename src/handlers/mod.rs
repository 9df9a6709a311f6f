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
mod describe_quorum;
mod describe_transactions;
mod elect_leaders;
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
mod offset_for_leader_epoch;
mod partition_fan_out;
mod partition_reassignments;
mod produce;
mod sync_group;
mod topic_naming;
mod txn_offset_commit;
mod user_scram_credentials;
mod write_txn_markers;

use crate::actors::broker::{
    BrokerActor, FindGroupCoordinator, GetGroupCoordinator, GetTxnCoordinator, OFFSETS_TOPIC,
    TXN_TOPIC,
};
use crate::actors::group_coordinator::GroupCoordinatorActor;
use crate::actors::routing::{Routing, RoutingHandle};
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
    /// The cluster this broker is a member of; `None`: a single broker.
    pub cluster: Option<Arc<crate::cluster::Cluster>>,
    /// The users' SCRAM credentials.
    pub users: Arc<crate::security::users::UserStore>,
    /// The ACLs, when `authorizer.class.name` is set; `None`: no authorization.
    pub acls: Option<Arc<crate::security::authorizer::AclStore>>,
    pub metrics: Arc<crate::metrics::BrokerMetrics>,
}

/// A broker as the clients of one listener reach it.
pub struct BrokerAddress {
    pub node_id: i32,
    pub host: String,
    pub port: u16,
    pub rack: Option<String>,
}

impl BrokerContext {
    /// The brokers clients are told of, at the addresses of the listener the client
    /// came in through: this broker alone, or every live broker of the cluster.
    pub fn brokers(
        &self,
        routing: &crate::actors::routing::Routing,
        listener: &ListenerInfo,
    ) -> Vec<BrokerAddress> {
        match &routing.cluster {
            None => {
                let (host, port) = listener.advertised.clone();
                vec![BrokerAddress {
                    node_id: self.node_id,
                    host,
                    port,
                    rack: self.config.load().broker_rack.clone(),
                }]
            }
            Some(image) => image
                .live_brokers()
                .filter_map(|b| broker_address(b, listener))
                .collect(),
        }
    }

    /// The "controller" clients are told of (Metadata, DescribeCluster), where they
    /// send admin requests: this broker when it is the only one; in a cluster the
    /// active controller when it is a live broker (combined mode), else a live broker
    /// (as KRaft does: clients cannot reach controller-only nodes, and any broker
    /// forwards admin requests to the quorum); -1 when there is neither.
    pub fn controller_id(&self) -> i32 {
        let Some(cluster) = &self.cluster else {
            return self.node_id;
        };
        let image = cluster.image();
        let live = |id: i32| image.brokers.get(&id).is_some_and(|b| !b.fenced);
        match cluster.leader() {
            Some(leader) if live(leader) => leader,
            _ => image.live_brokers().map(|b| b.id).next().unwrap_or(-1),
        }
    }
}

/// KIP-951's hints of one Produce or Fetch response: for each partition another broker
/// of the cluster leads, that leader (-1 while offline) and its leader epoch, and the
/// endpoints of the leaders named, so that NOT_LEADER_OR_FOLLOWER tells the client
/// where to go.
pub struct LeaderHints {
    noted: std::collections::BTreeMap<i32, BrokerAddress>,
    /// The response's version has CurrentLeader (Produce v10+, Fetch v12+).
    leaders: bool,
    /// The response's version has NodeEndpoints (Produce v10+, Fetch v16+).
    endpoints: bool,
}

impl LeaderHints {
    /// The hints a response of `version` can carry: the leaders from `leaders_from`
    /// on, their endpoints from `endpoints_from` on (none before: a field a version
    /// does not have cannot be encoded).
    pub fn for_version(version: i16, leaders_from: i16, endpoints_from: i16) -> Self {
        LeaderHints {
            noted: std::collections::BTreeMap::new(),
            leaders: version >= leaders_from,
            endpoints: version >= endpoints_from,
        }
    }

    /// The leader and leader epoch of `partition` of `topic` (nothing for a single
    /// broker), noting the leader's endpoint for clients of `listener`.
    pub fn note(
        &mut self,
        routing: &crate::actors::routing::Routing,
        listener: &ListenerInfo,
        topic: &crate::actors::routing::TopicRoute,
        partition: i32,
    ) -> Option<(i32, i32)> {
        if !self.leaders {
            return None;
        }
        let image = routing.cluster.as_ref()?;
        let p = image.topics.get(&topic.id)?.partition(partition)?;
        let leader = image.live_leader(p);
        if let Some(b) = image
            .brokers
            .get(&leader)
            .and_then(|b| broker_address(b, listener))
        {
            self.noted.insert(leader, b);
        }
        Some((leader, p.leader_epoch))
    }

    /// The endpoints of the leaders noted, as the response's NodeEndpoints list them.
    pub fn endpoints<T>(self, endpoint: impl Fn(i32, String, i32, Option<String>) -> T) -> Vec<T> {
        if !self.endpoints {
            return Vec::new();
        }
        self.noted
            .into_values()
            .map(|b| endpoint(b.node_id, b.host, i32::from(b.port), b.rack))
            .collect()
    }
}

/// Broker `b` as the clients of `listener` reach it, if it has that listener.
pub(super) fn broker_address(
    b: &crate::cluster::image::BrokerImage,
    listener: &ListenerInfo,
) -> Option<BrokerAddress> {
    let e = b.endpoints.iter().find(|e| e.listener == listener.name)?;
    Some(BrokerAddress {
        node_id: b.id,
        host: e.host.clone(),
        port: e.port,
        rack: b.rack.clone(),
    })
}

/// The APIs this broker answers. A served codec without behaviour is not advertised:
/// clients only use what ApiVersions lists.
pub const HANDLED: &[ApiKey] = &[
    ApiKey::Produce,
    ApiKey::Fetch,
    ApiKey::ListOffsets,
    ApiKey::OffsetForLeaderEpoch,
    ApiKey::ElectLeaders,
    ApiKey::AlterPartitionReassignments,
    ApiKey::ListPartitionReassignments,
    ApiKey::Metadata,
    ApiKey::ApiVersions,
    ApiKey::CreateTopics,
    ApiKey::DeleteTopics,
    ApiKey::DescribeConfigs,
    ApiKey::CreatePartitions,
    ApiKey::DescribeCluster,
    ApiKey::DescribeQuorum,
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
    ApiKey::WriteTxnMarkers,
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
    if let Some(addr) = routed_coordinator(ctx, group_id) {
        return Ok(addr);
    }
    ask_broker(ctx, GetGroupCoordinator(group_id.to_string()), group_id).await
}

/// The broker's answer to a coordinator question about `key`, its refusal as the error
/// code the client gets (logged).
async fn ask_broker<M, T>(ctx: &BrokerContext, question: M, key: &str) -> Result<T, ErrorCode>
where
    M: actix::Message<Result = Result<T, crate::actors::broker::AdminError>> + Send + 'static,
    T: Send + 'static,
    BrokerActor: actix::Handler<M>,
{
    match ctx.broker.send(question).await {
        Ok(Ok(answer)) => Ok(answer),
        Ok(Err((code, message))) => {
            tracing::debug!(%key, %message, "no coordinator here");
            Err(code)
        }
        Err(_) => Err(ErrorCode::CoordinatorNotAvailable),
    }
}

/// The coordinator of `group_id` in the routing snapshot, if this broker coordinates it.
fn routed_coordinator(ctx: &BrokerContext, group_id: &str) -> Option<Addr<GroupCoordinatorActor>> {
    // A coordinator stops once its group is dead; it may still be registered.
    let routing = ctx.routing.load();
    routing
        .groups
        .get(group_id)
        .filter(Addr::connected)
        .filter(|_| coordinates(&routing, OFFSETS_TOPIC, group_id))
}

/// The coordinator of a group that exists: `None` for a group unknown here. In a
/// cluster, a group not in the routing snapshot is asked of the broker, which answers
/// NOT_COORDINATOR (another broker coordinates it) or COORDINATOR_LOAD_IN_PROGRESS (its
/// partition is loading) where Kafka does: a client must not be told that a group it
/// has offsets in is empty because it asked a broker that does not hold it.
async fn existing_coordinator(
    ctx: &BrokerContext,
    group_id: &str,
) -> Result<Option<Addr<GroupCoordinatorActor>>, ErrorCode> {
    let routed = routed_coordinator(ctx, group_id);
    if routed.is_some() || ctx.cluster.is_none() {
        return Ok(routed);
    }
    ask_broker(ctx, FindGroupCoordinator(group_id.to_string()), group_id).await
}

/// Whether this broker coordinates `key` now: the key's partition of `topic` is routed
/// here (led here, with a live session with the controller). Always on a single
/// broker.
fn coordinates(routing: &Routing, topic: &str, key: &str) -> bool {
    routing.cluster.is_none()
        || matches!(
            crate::cluster::txn::coordinator_of(routing, topic, key),
            crate::cluster::txn::Led::Here
        )
}

/// The coordinator of a transactional id, from the routing snapshot or the broker; with
/// `create`, started if the id is new.
async fn txn_coordinator(
    ctx: &BrokerContext,
    transactional_id: &str,
    create: bool,
) -> Result<Option<Addr<TxnCoordinatorActor>>, ErrorCode> {
    let routing = ctx.routing.load();
    if let Some(addr) = routing.txns.get(transactional_id) {
        if !coordinates(&routing, TXN_TOPIC, transactional_id) {
            return Err(ErrorCode::NotCoordinator);
        }
        return Ok(Some(addr));
    }
    drop(routing);
    let question = GetTxnCoordinator {
        transactional_id: transactional_id.to_string(),
        create,
    };
    ask_broker(ctx, question, transactional_id).await
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
            return Ok(produce::handle(&ctx, &session, authz, r, version)
                .await
                .map(Into::into))
        }
        Request::Fetch(r) => fetch::handle(&ctx, &session, authz, r, version)
            .await
            .into(),
        Request::ListOffsets(r) => list_offsets::handle(&ctx, authz, r, version).await.into(),
        Request::CreateTopics(r) => create_topics::handle(&ctx, authz, r, version).await.into(),
        Request::DeleteTopics(r) => delete_topics::handle(&ctx, authz, r).await.into(),
        Request::CreatePartitions(r) => create_partitions::handle(&ctx, authz, r).await.into(),
        Request::DescribeConfigs(r) => describe_configs::handle(&ctx, authz, r, version)
            .await
            .into(),
        Request::DescribeCluster(r) => describe_cluster::handle(&ctx, &session, authz, r).into(),
        Request::DescribeQuorum(r) => describe_quorum::handle(&ctx, authz, r, version)
            .await
            .into(),
        Request::DeleteRecords(r) => delete_records::handle(&ctx, authz, r).await.into(),
        Request::ElectLeaders(r) => elect_leaders::handle(&ctx, authz, r, version).await.into(),
        Request::AlterPartitionReassignments(r) => {
            partition_reassignments::alter(&ctx, authz, r).await.into()
        }
        Request::ListPartitionReassignments(r) => {
            partition_reassignments::list(&ctx, authz, r).into()
        }
        Request::OffsetForLeaderEpoch(r) => {
            offset_for_leader_epoch::handle(&ctx, authz, r).await.into()
        }
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
        Request::WriteTxnMarkers(r) => write_txn_markers::handle(&ctx, authz, r).await.into(),
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
