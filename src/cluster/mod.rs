//! The cluster's metadata quorum, on openraft (KRaft's model): one Raft log of
//! metadata records among the controller voters, applied by every node to an
//! in-memory [`MetadataImage`]. The rest of the broker sees only this module's small
//! interface: [`Cluster::propose`] (committed, then applied here, before it returns),
//! [`Cluster::image`] / [`Cluster::watch`] (the image, published on every applied
//! batch) and [`Cluster::quorum`] (what DescribeQuorum and DescribeCluster report).
//!
//! openraft, its storage and the controller listener run on a thread of their own
//! with its own tokio runtime: no arbiter ever waits on the quorum's disk or network.
//!
//! The active controller (the Raft leader) also keeps the brokers' liveness: brokers
//! heartbeat it every `broker.heartbeat.interval.ms`; one silent for
//! `broker.session.timeout.ms` is fenced (a committed FenceBroker record), and
//! unfenced at its next heartbeat. Heartbeats themselves are not logged.

pub mod fetcher;
pub mod image;
pub mod peer;
pub mod rpc;
pub mod store;
pub mod txn;

use image::METADATA_VERSION;
pub use image::{place, ConfigResource, Endpoint, MetadataImage, MetadataRecord};
pub use rpc::ProposeError;

use openraft::error::{ClientWriteError, RaftError};
use openraft::{BasicNode, Raft, ServerState};
use rpc::{Request, Response, Serve};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use store::{LogStore, MetadataBatch, NodeId, StateMachine, TypeConfig};
use tokio::sync::watch;
use uuid::Uuid;

/// The directory of the metadata log, under `log.dirs` (Kafka's name).
pub const METADATA_DIR: &str = "__cluster_metadata-0";
/// The metadata log's topic name, as DescribeQuorum asks for it.
pub const METADATA_TOPIC: &str = "__cluster_metadata";

/// How a node takes part in the cluster, from Kafka's config names.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// `node.id`.
    pub node_id: i32,
    /// A voter of the quorum; otherwise a learner that follows its log.
    pub voter: bool,
    /// `controller.quorum.voters`: id -> host:port of its controller listener.
    pub voters: BTreeMap<i32, String>,
    /// Where this node's controller listener binds, and its name.
    pub controller_bind: SocketAddr,
    pub controller_listener: String,
    /// `log.dirs`.
    pub data_dir: PathBuf,
    /// `broker.rack`.
    pub rack: Option<String>,
    /// `broker.heartbeat.interval.ms`.
    pub heartbeat_interval: Duration,
    /// `broker.session.timeout.ms`.
    pub session_timeout: Duration,
    /// `metadata.log.max.record.bytes.between.snapshots`.
    pub snapshot_bytes: u64,
    /// `controller.quorum.election.timeout.ms`: the least time without a leader
    /// before a voter stands for election (openraft draws from it to twice it).
    pub election_timeout: Duration,
    /// `auto.leader.rebalance.enable`: how often, and above which share (percent) of a
    /// broker's preferred partitions led elsewhere, leadership goes back to them.
    pub leader_rebalance: Option<(Duration, u32)>,
}

/// What the quorum looks like from this node (DescribeQuorum, DescribeCluster).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct QuorumState {
    pub leader: Option<i32>,
    /// The Raft term: KRaft's leader epoch.
    pub epoch: i32,
    /// The committed (applied) end of the log here.
    pub high_watermark: i64,
    /// Each voter and the end of its log as the leader knows it (-1: unknown).
    pub voters: Vec<(i32, i64)>,
    /// The learners (brokers that are not voters), likewise.
    pub observers: Vec<(i32, i64)>,
}

/// A voter's controller listener, as DescribeQuorum v2 lists it.
#[derive(Debug, Clone)]
pub struct VoterAddress {
    pub id: i32,
    pub listener: String,
    pub host: String,
    pub port: u16,
}

/// The brokers' liveness, as the active controller sees it.
#[derive(Default)]
struct Liveness {
    /// broker id -> (registration epoch, last heartbeat).
    seen: HashMap<i32, (u64, Instant)>,
    /// Since when this node leads; a broker gets one session from then to heartbeat.
    leading_since: Option<Instant>,
    /// When this leader last checked the leadership balance.
    last_rebalance: Option<Instant>,
    /// When the controller's duties last ran: a gap longer than half a session means
    /// this process was stalled (paused, starved), and the heartbeats it missed
    /// meanwhile say nothing about the brokers.
    last_tick: Option<Instant>,
}

/// The running quorum member.
pub struct Cluster {
    node_id: i32,
    raft: Raft<TypeConfig>,
    runtime: tokio::runtime::Handle,
    image: watch::Receiver<Arc<MetadataImage>>,
    liveness: Arc<Mutex<Liveness>>,
    /// Bytes appended to the metadata log since the last snapshot was asked for.
    log_bytes: Arc<std::sync::atomic::AtomicU64>,
    config: ClusterConfig,
    controller_addr: SocketAddr,
    stop: Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// When the last heartbeat the active controller acknowledged was sent (for the
    /// controller's own broker: the last leadership confirmed by a quorum).
    lease_renewed: Mutex<Option<Instant>>,
    /// Whether this broker's session has lapsed as far as it can tell (see
    /// [`Cluster::lease_lost`]).
    lease_lost: watch::Sender<bool>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Why the cluster could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("metadata log in {0}: {1}")]
    Storage(PathBuf, std::io::Error),
    #[error("binding the controller listener {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
    #[error("openraft: {0}")]
    Raft(String),
    #[error("the quorum thread: {0}")]
    Thread(String),
}

impl Cluster {
    /// Opens the metadata log, binds the controller listener and starts this node's
    /// Raft member on a thread of its own. Blocking. A voter whose log is empty
    /// proposes the configured voters as the first membership (every voter does the
    /// same, which openraft allows), so a new cluster forms without a format step.
    pub fn start(config: ClusterConfig) -> Result<Arc<Cluster>, StartError> {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread_config = config.clone();
        let thread = std::thread::Builder::new()
            .name("aeon-quorum".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(r) => r,
                    Err(e) => {
                        let _ = ready_tx.send(Err(StartError::Thread(e.to_string())));
                        return;
                    }
                };
                let handle = runtime.handle().clone();
                runtime.block_on(async move {
                    match boot(thread_config, handle).await {
                        Ok(parts) => {
                            let _ = ready_tx.send(Ok(parts));
                            let _ = stop_rx.await;
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                        }
                    }
                });
            })
            .map_err(|e| StartError::Thread(e.to_string()))?;
        let parts = ready_rx
            .recv()
            .map_err(|e| StartError::Thread(e.to_string()))??;
        let (raft, runtime, image, listener, log_bytes) = parts;
        let controller_addr = listener
            .local_addr()
            .map_err(|e| StartError::Bind(config.controller_bind, e))?;
        let cluster = Arc::new(Cluster {
            node_id: config.node_id,
            raft,
            runtime,
            image,
            liveness: Arc::default(),
            log_bytes,
            config,
            controller_addr,
            stop: Mutex::new(Some(stop_tx)),
            thread: Mutex::new(Some(thread)),
            lease_renewed: Mutex::new(None),
            lease_lost: watch::channel(false).0,
        });
        let server = ControllerServer {
            cluster: Arc::clone(&cluster),
        };
        cluster
            .runtime
            .spawn(Arc::clone(&cluster).controller_duties());
        cluster.runtime.spawn(rpc::run(listener, server));
        Ok(cluster)
    }

    /// Where the controller listener is bound.
    pub fn controller_addr(&self) -> SocketAddr {
        self.controller_addr
    }

    /// The image as last applied here.
    pub fn image(&self) -> Arc<MetadataImage> {
        Arc::clone(&self.image.borrow())
    }

    /// A receiver that sees every newly applied image.
    pub fn watch(&self) -> watch::Receiver<Arc<MetadataImage>> {
        self.image.clone()
    }

    /// Whether this registered broker's session may have lapsed: no heartbeat sent
    /// within the last `broker.session.timeout.ms` less one heartbeat interval was
    /// acknowledged by the active controller (or, on the controller's own node, no
    /// quorum confirmed its leadership), so the controller may have fenced it and moved
    /// what it leads elsewhere. Meanwhile the broker serves no partition to clients and
    /// coordinates nothing (NOT_LEADER_OR_FOLLOWER, NOT_COORDINATOR) rather than answer
    /// from an image that may be stale beside the new leaders; its replicas keep their
    /// roles, so it serves again at once when a heartbeat is acknowledged.
    pub fn lease_lost(&self) -> watch::Receiver<bool> {
        self.lease_lost.subscribe()
    }

    fn renew_lease(&self, sent: Instant) {
        let mut renewed = lock(&self.lease_renewed);
        if renewed.is_none_or(|r| r < sent) {
            *renewed = Some(sent);
        }
        drop(renewed);
        self.lease_lost
            .send_if_modified(|lost| std::mem::replace(lost, false));
    }

    /// Checks the lease every tick while the broker runs.
    async fn watch_lease(self: Arc<Self>) {
        let lapse = self
            .config
            .session_timeout
            .saturating_sub(self.config.heartbeat_interval);
        let tick = (self.config.heartbeat_interval / 4).max(Duration::from_millis(20));
        loop {
            tokio::time::sleep(tick).await;
            let renewed = *lock(&self.lease_renewed);
            let lost = renewed.is_some_and(|at| at.elapsed() > lapse);
            let changed = self
                .lease_lost
                .send_if_modified(|was| std::mem::replace(was, lost) != lost);
            if changed && lost {
                tracing::warn!(
                    "no heartbeat acknowledged within the session: serving no partition and coordinating nothing until one is"
                );
            } else if changed {
                tracing::info!("heartbeats acknowledged again");
            }
        }
    }

    /// The quorum as this node knows it.
    pub fn quorum(&self) -> QuorumState {
        let m = self.raft.metrics().borrow().clone();
        let ends: BTreeMap<NodeId, i64> = m
            .replication
            .as_ref()
            .map(|r| {
                r.iter()
                    .map(|(id, log)| (*id, log.map_or(-1, |l| l.index as i64 + 1)))
                    .collect()
            })
            .unwrap_or_default();
        let own_end = m.last_log_index.map_or(0, |i| i as i64 + 1);
        let membership = m.membership_config.membership();
        let end_of = |id: NodeId| {
            if id == m.id {
                own_end
            } else {
                ends.get(&id).copied().unwrap_or(-1)
            }
        };
        QuorumState {
            observers: membership
                .learner_ids()
                .filter_map(|id| Some((i32::try_from(id).ok()?, end_of(id))))
                .collect(),
            leader: m.current_leader.and_then(|l| i32::try_from(l).ok()),
            epoch: i32::try_from(m.current_term).unwrap_or(i32::MAX),
            high_watermark: m.last_applied.map_or(0, |l| l.index as i64 + 1),
            voters: membership
                .voter_ids()
                .filter_map(|id| Some((i32::try_from(id).ok()?, end_of(id))))
                .collect(),
        }
    }

    /// The quorum as its leader sees it (the ends of the voters' logs are known there
    /// only): asked of the leader when this node does not lead.
    pub async fn describe_quorum(&self) -> Result<QuorumState, ProposeError> {
        if self.leads() {
            return Ok(self.quorum());
        }
        let addr = self
            .raft
            .metrics()
            .borrow()
            .current_leader
            .and_then(|l| self.voter_addr(l))
            .ok_or(ProposeError::NoLeader)?;
        self.runtime
            .spawn(async move {
                match rpc::Client::new(addr)
                    .ask(&Request::DescribeQuorum, Duration::from_secs(5))
                    .await?
                {
                    Response::Quorum(r) => r,
                    _ => Err(ProposeError::unexpected()),
                }
            })
            .await
            .map_err(|e| ProposeError::Unavailable(e.to_string()))?
    }

    /// The leader of the quorum as this node knows it: the clients' "controller" when
    /// it is a broker.
    pub fn leader(&self) -> Option<i32> {
        let leader = self.raft.metrics().borrow().current_leader;
        leader.and_then(|l| i32::try_from(l).ok())
    }

    /// Where voter `id`'s controller listener is, by `controller.quorum.voters`.
    fn voter_addr(&self, id: NodeId) -> Option<String> {
        voter_addr(&self.config.voters, id)
    }

    /// The voters' controller listeners, from `controller.quorum.voters`.
    pub fn voter_addresses(&self) -> Vec<VoterAddress> {
        self.config
            .voters
            .iter()
            .filter_map(|(id, addr)| {
                let (host, port) = addr.rsplit_once(':')?;
                Some(VoterAddress {
                    id: *id,
                    listener: self.config.controller_listener.clone(),
                    host: host.to_owned(),
                    port: port.parse().ok()?,
                })
            })
            .collect()
    }

    /// Commits `batch` through the quorum (forwarded to the leader when this node does
    /// not lead) and waits until this node has applied it: on return, [`Cluster::image`]
    /// shows its effect. The log index it was committed at.
    pub async fn propose(&self, batch: MetadataBatch) -> Result<u64, ProposeError> {
        let raft = self.raft.clone();
        let index = self
            .runtime
            .spawn(commit(raft, self.config.voters.clone(), batch))
            .await
            .map_err(|e| ProposeError::Unavailable(e.to_string()))??;
        let mut image = self.image.clone();
        let applied = tokio::time::timeout(
            Duration::from_secs(30),
            image.wait_for(|i| i.applied >= index),
        )
        .await;
        match applied {
            Ok(Ok(_)) => Ok(index),
            _ => Err(ProposeError::Unavailable(format!(
                "log index {index} was not applied here in time"
            ))),
        }
    }

    /// Registers this node as a broker with its client endpoints, then heartbeats the
    /// active controller for as long as the node runs; waits until the controller has
    /// unfenced it (and this node has applied that), so that it serves only what the
    /// cluster agrees on. Its broker epoch.
    pub async fn register(self: &Arc<Self>, endpoints: Vec<Endpoint>) -> Result<u64, ProposeError> {
        let deadline = Instant::now() + Duration::from_secs(60);
        if !self.config.voter {
            self.join_as_learner(deadline).await?;
        }
        let register = MetadataRecord::RegisterBroker {
            broker_id: self.node_id,
            incarnation: Uuid::new_v4(),
            endpoints,
            rack: self.config.rack.clone(),
        };
        let epoch = loop {
            match self.propose(vec![register.clone()]).await {
                Ok(epoch) => break epoch,
                Err(e) if Instant::now() < deadline => {
                    tracing::info!(error = %e, "waiting for the metadata quorum to register");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => return Err(e),
            }
        };
        tracing::info!(broker_epoch = epoch, "registered with the metadata quorum");
        self.renew_lease(Instant::now());
        self.runtime.spawn(Arc::clone(self).heartbeats(epoch));
        self.runtime.spawn(Arc::clone(self).watch_lease());
        let mut image = self.image.clone();
        let id = self.node_id;
        let unfenced = tokio::time::timeout(
            deadline.saturating_duration_since(Instant::now()),
            image.wait_for(|i| {
                i.cluster_id.is_some()
                    && i.brokers
                        .get(&id)
                        .is_some_and(|b| b.epoch == epoch && !b.fenced)
            }),
        )
        .await;
        match unfenced {
            Ok(Ok(_)) => Ok(epoch),
            _ => Err(ProposeError::Unavailable(
                "the active controller did not unfence this broker".into(),
            )),
        }
    }

    /// A broker that is not a voter joins the quorum as a learner (KRaft's observer):
    /// asks the leader, through any voter, to replicate the log to it, and returns once
    /// the leader has caught it up.
    async fn join_as_learner(&self, deadline: Instant) -> Result<(), ProposeError> {
        let request = Request::AddLearner {
            id: self.raft_id(),
            addr: self.controller_addr.to_string(),
        };
        let voters = self.config.voters.clone();
        self.runtime
            .spawn(async move {
                let mut to: Option<String> = voters.values().next().cloned();
                loop {
                    let answer = match &to {
                        Some(addr) => rpc::Client::new(addr.clone())
                            .ask(&request, Duration::from_secs(30))
                            .await
                            .and_then(|r| match r {
                                Response::LearnerAdded(r) => r,
                                _ => Err(ProposeError::unexpected()),
                            }),
                        None => Err(ProposeError::NoLeader),
                    };
                    match answer {
                        Ok(()) => return Ok(()),
                        Err(e) if Instant::now() >= deadline => return Err(e),
                        // Sent on to the leader, or round the voters while there is none.
                        Err(ProposeError::NotLeader(id)) => to = voter_addr(&voters, id),
                        Err(e) => {
                            tracing::info!(error = %e, "waiting for the metadata quorum to take this broker");
                            let next = voters
                                .values()
                                .skip_while(|a| Some(*a) != to.as_ref())
                                .nth(1)
                                .or_else(|| voters.values().next())
                                .cloned();
                            to = next;
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                    }
                }
            })
            .await
            .map_err(|e| ProposeError::Unavailable(e.to_string()))?
    }

    /// Kafka's controlled shutdown: a broker that stops cleanly fences itself through
    /// the quorum first, so the partitions it leads move to their other in-sync
    /// replicas at once instead of after its session. Bounded by `within` (the last
    /// voters of a cluster stopping together cannot commit it, and stop anyway).
    pub async fn controlled_shutdown(&self, within: Duration) {
        let image = self.image();
        let Some(me) = image.brokers.get(&self.node_id).filter(|b| !b.fenced) else {
            return;
        };
        let fence = MetadataRecord::FenceBroker {
            broker_id: me.id,
            epoch: me.epoch,
        };
        match tokio::time::timeout(within, self.propose(vec![fence])).await {
            Ok(Ok(_)) => {
                tracing::info!("fenced before stopping: leadership moved to other replicas")
            }
            Ok(Err(error)) => tracing::info!(%error, "could not fence before stopping"),
            Err(_) => tracing::info!("could not fence before stopping in time"),
        }
    }

    /// Stops the quorum member and its thread.
    pub fn shutdown(&self) {
        let raft = self.raft.clone();
        drop(self.runtime.spawn(async move { raft.shutdown().await }));
        if let Some(stop) = lock(&self.stop).take() {
            let _ = stop.send(());
        }
        if let Some(thread) = lock(&self.thread).take() {
            let _ = thread.join();
        }
    }

    fn leads(&self) -> bool {
        let m = self.raft.metrics();
        let m = m.borrow();
        m.state == ServerState::Leader && m.current_leader == Some(self.raft_id())
    }

    /// Why this node, not leading, does not take a leader's request: the leader it
    /// knows of, to be asked instead, or none.
    fn not_leader(&self) -> ProposeError {
        let leader = self.raft.metrics().borrow().current_leader;
        leader.map_or(ProposeError::NoLeader, ProposeError::NotLeader)
    }

    fn raft_id(&self) -> NodeId {
        NodeId::try_from(self.node_id).unwrap_or_default()
    }

    /// Heartbeats the active controller every `broker.heartbeat.interval.ms`.
    async fn heartbeats(self: Arc<Self>, epoch: u64) {
        let mut clients: HashMap<NodeId, rpc::Client> = HashMap::new();
        loop {
            let leader = self.raft.metrics().borrow().current_leader;
            let sent = Instant::now();
            match leader {
                Some(l) if l == self.raft_id() => {
                    self.heartbeat_seen(self.node_id, epoch);
                    // The controller's own broker: alive while a quorum confirms it
                    // still leads (a leader cut off from the others does not know
                    // that it no longer is).
                    let confirmed = tokio::time::timeout(
                        self.config.heartbeat_interval,
                        self.raft.ensure_linearizable(),
                    )
                    .await;
                    if let Ok(Ok(_)) = confirmed {
                        self.renew_lease(sent);
                    }
                }
                Some(l) => {
                    if let Some(addr) = self.voter_addr(l) {
                        let client = clients.entry(l).or_insert_with(|| rpc::Client::new(addr));
                        let request = Request::Heartbeat {
                            broker_id: self.node_id,
                            epoch,
                        };
                        match client.call(&request, self.config.heartbeat_interval).await {
                            Ok(Response::Heartbeat(Ok(()))) => self.renew_lease(sent),
                            Ok(_) => {}
                            Err(e) => {
                                tracing::debug!(error = %e, leader = l, "heartbeat not delivered")
                            }
                        }
                    }
                }
                None => {}
            }
            tokio::time::sleep(self.config.heartbeat_interval).await;
        }
    }

    fn heartbeat_seen(&self, broker_id: i32, epoch: u64) {
        lock(&self.liveness)
            .seen
            .insert(broker_id, (epoch, Instant::now()));
    }

    /// The active controller's work: the cluster's bootstrap records, and fencing and
    /// unfencing brokers by their heartbeats. And every node's: a snapshot once
    /// `metadata.log.max.record.bytes.between.snapshots` were appended since the last.
    async fn controller_duties(self: Arc<Self>) {
        let tick = (self.config.heartbeat_interval / 4).max(Duration::from_millis(50));
        loop {
            tokio::time::sleep(tick).await;
            if self.log_bytes.load(std::sync::atomic::Ordering::Relaxed)
                >= self.config.snapshot_bytes
            {
                self.log_bytes
                    .store(0, std::sync::atomic::Ordering::Relaxed);
                if let Err(e) = self.raft.trigger().snapshot().await {
                    tracing::warn!(error = %e, "metadata snapshot not taken");
                }
            }
            if !self.leads() {
                lock(&self.liveness).leading_since = None;
                continue;
            }
            let now = Instant::now();
            let since = {
                let mut liveness = lock(&self.liveness);
                let stalled = liveness
                    .last_tick
                    .is_some_and(|t| now.duration_since(t) > self.config.session_timeout / 2);
                liveness.last_tick = Some(now);
                if stalled && liveness.leading_since.is_some() {
                    // Every broker gets a new session from now, as after an election.
                    tracing::warn!("the controller was stalled; the brokers get a new session");
                    liveness.leading_since = Some(now);
                }
                *liveness.leading_since.get_or_insert(now)
            };
            let image = self.image();
            let mut batch = Vec::new();
            if image.cluster_id.is_none() {
                batch.push(MetadataRecord::ClusterId(new_cluster_id()));
                batch.push(MetadataRecord::FeatureLevel {
                    name: "metadata.version".into(),
                    level: METADATA_VERSION,
                });
            }
            {
                let liveness = lock(&self.liveness);
                for b in image.brokers.values() {
                    let seen = liveness
                        .seen
                        .get(&b.id)
                        .filter(|(epoch, _)| *epoch == b.epoch)
                        .map(|(_, at)| *at);
                    let last = seen.unwrap_or(since).max(since);
                    let alive = now.duration_since(last) < self.config.session_timeout;
                    if b.fenced && seen.is_some() && alive {
                        batch.push(MetadataRecord::UnfenceBroker {
                            broker_id: b.id,
                            epoch: b.epoch,
                        });
                    } else if !b.fenced && !alive {
                        tracing::warn!(broker = b.id, "broker missed its session; fencing it");
                        batch.push(MetadataRecord::FenceBroker {
                            broker_id: b.id,
                            epoch: b.epoch,
                        });
                    }
                }
            }
            if !batch.is_empty() {
                if let Err(e) = commit_here(&self.raft, batch, PROPOSE_TIMEOUT).await {
                    tracing::warn!(error = %e, "controller records not committed");
                }
            }
            self.rebalance_leaders(now).await;
        }
    }

    /// Kafka's automatic preferred-leader election, every
    /// `leader.imbalance.check.interval.seconds` on the active controller. Each election
    /// is its own batch: one made stale by a concurrent change is refused alone.
    async fn rebalance_leaders(&self, now: Instant) {
        let Some((every, percentage)) = self.config.leader_rebalance else {
            return;
        };
        {
            let mut liveness = lock(&self.liveness);
            // The first check comes one interval after this node began to lead.
            let from = liveness.last_rebalance.or(liveness.leading_since);
            let due = from.is_none_or(|at| now.duration_since(at) >= every);
            if !due {
                return;
            }
            liveness.last_rebalance = Some(now);
        }
        let elections = self.image().rebalance_elections(percentage);
        if !elections.is_empty() {
            tracing::info!(
                elections = elections.len(),
                "moving leadership back to preferred replicas"
            );
        }
        for record in elections {
            if let Err(e) = commit_here(&self.raft, vec![record], PROPOSE_TIMEOUT).await {
                tracing::debug!(error = %e, "preferred election not committed");
            }
        }
    }
}

/// Where voter `id`'s controller listener is, by `voters`.
fn voter_addr(voters: &BTreeMap<i32, String>, id: NodeId) -> Option<String> {
    voters.get(&i32::try_from(id).ok()?).cloned()
}

/// A cluster id as Kafka makes them: a random UUID in URL-safe base64 without padding,
/// 22 characters.
pub fn new_cluster_id() -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Uuid::new_v4().as_bytes())
}

type Parts = (
    Raft<TypeConfig>,
    tokio::runtime::Handle,
    watch::Receiver<Arc<MetadataImage>>,
    tokio::net::TcpListener,
    Arc<std::sync::atomic::AtomicU64>,
);

/// Opens the storage, starts openraft, binds the controller listener (served once the
/// [`Cluster`] exists) and forms the first membership if the log is new.
async fn boot(config: ClusterConfig, runtime: tokio::runtime::Handle) -> Result<Parts, StartError> {
    let dir = config.data_dir.join(METADATA_DIR);
    let log = LogStore::open(&dir).map_err(|e| StartError::Storage(dir.clone(), e))?;
    let log_bytes = log.appended_bytes();
    let (sm, image) = StateMachine::open(&dir).map_err(|e| StartError::Storage(dir.clone(), e))?;
    let election_ms = config.election_timeout.as_millis() as u64;
    let raft_config = openraft::Config {
        cluster_name: "aeon".into(),
        election_timeout_min: election_ms.max(100),
        election_timeout_max: (election_ms * 2).max(200),
        heartbeat_interval: (election_ms / 4).max(20),
        install_snapshot_timeout: 10_000,
        // Snapshots are taken by bytes appended, Kafka's way (see `controller_duties`).
        snapshot_policy: openraft::SnapshotPolicy::Never,
        max_in_snapshot_log_to_keep: 50,
        ..Default::default()
    }
    .validate()
    .map_err(|e| StartError::Raft(e.to_string()))?;
    let listener = tokio::net::TcpListener::bind(config.controller_bind)
        .await
        .map_err(|e| StartError::Bind(config.controller_bind, e))?;
    let id = NodeId::try_from(config.node_id).map_err(|e| StartError::Raft(e.to_string()))?;
    let network = rpc::Network {
        voters: config.voters.clone(),
    };
    let raft = Raft::new(id, Arc::new(raft_config), network, log, sm)
        .await
        .map_err(|e| StartError::Raft(e.to_string()))?;
    let initialized = raft
        .is_initialized()
        .await
        .map_err(|e| StartError::Raft(e.to_string()))?;
    if !initialized && config.voter {
        let members: BTreeMap<NodeId, BasicNode> = config
            .voters
            .iter()
            .filter_map(|(id, addr)| Some((NodeId::try_from(*id).ok()?, BasicNode::new(addr))))
            .collect();
        match raft.initialize(members).await {
            Ok(()) => tracing::info!(voters = ?config.voters, "metadata quorum formed"),
            Err(RaftError::APIError(e)) => tracing::debug!(error = %e, "already formed"),
            Err(e) => return Err(StartError::Raft(e.to_string())),
        }
    }
    Ok((raft, runtime, image, listener, log_bytes))
}

/// How long a proposal waits for the quorum before it fails (a leader cut off from
/// the majority cannot commit; its proposals fail rather than wait forever).
const PROPOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// Commits `batch` on this node while it leads, or answers why not; never waits
/// longer than `within`.
async fn commit_here(
    raft: &Raft<TypeConfig>,
    batch: MetadataBatch,
    within: Duration,
) -> Result<u64, ProposeError> {
    match tokio::time::timeout(within, raft.client_write(batch)).await {
        Err(_) => Err(ProposeError::Unavailable(format!(
            "not committed within {within:?}"
        ))),
        Ok(Ok(r)) => r.data.map(|()| r.log_id.index).map_err(Into::into),
        Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f)))) => Err(f
            .leader_id
            .map_or(ProposeError::NoLeader, ProposeError::NotLeader)),
        Ok(Err(e)) => Err(ProposeError::Unavailable(e.to_string())),
    }
}

/// Commits `batch` on the leader, forwarding it (to the address `voters` gives) when
/// this node does not lead. Retries while there is no leader, for up to
/// [`PROPOSE_TIMEOUT`]. The log index it was committed at.
async fn commit(
    raft: Raft<TypeConfig>,
    voters: BTreeMap<i32, String>,
    batch: MetadataBatch,
) -> Result<u64, ProposeError> {
    let deadline = Instant::now() + PROPOSE_TIMEOUT;
    let mut forward: Option<(NodeId, rpc::Client)> = None;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let outcome = match commit_here(&raft, batch.clone(), left).await {
            Err(ProposeError::NotLeader(id)) => match voter_addr(&voters, id) {
                Some(addr) => {
                    let client = match &mut forward {
                        Some((to, client)) if *to == id => client,
                        slot => &mut slot.insert((id, rpc::Client::new(addr))).1,
                    };
                    match client.ask(&Request::Propose(batch.clone()), left).await {
                        Ok(Response::Proposed(r)) => r,
                        Ok(_) => Err(ProposeError::unexpected()),
                        Err(e) => Err(e),
                    }
                }
                None => Err(ProposeError::NoLeader),
            },
            other => other,
        };
        match outcome {
            Ok(index) => return Ok(index),
            Err(ProposeError::Rejected(e)) => return Err(ProposeError::Rejected(e)),
            Err(e) if Instant::now() >= deadline => return Err(e),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Answers the controller listener.
#[derive(Clone)]
struct ControllerServer {
    cluster: Arc<Cluster>,
}

impl Serve for ControllerServer {
    async fn serve(&self, request: Request) -> Response {
        let raft = &self.cluster.raft;
        match request {
            Request::AppendEntries(r) => Response::AppendEntries(raft.append_entries(r).await),
            Request::Vote(r) => Response::Vote(raft.vote(r).await),
            Request::InstallSnapshot(r) => {
                Response::InstallSnapshot(raft.install_snapshot(r).await)
            }
            Request::Propose(batch) => {
                Response::Proposed(commit_here(raft, batch, PROPOSE_TIMEOUT).await)
            }
            Request::DescribeQuorum => Response::Quorum(if self.cluster.leads() {
                Ok(self.cluster.quorum())
            } else {
                Err(self.cluster.not_leader())
            }),
            Request::AddLearner { id, addr } => {
                if !self.cluster.leads() {
                    return Response::LearnerAdded(Err(self.cluster.not_leader()));
                }
                let added = tokio::time::timeout(
                    Duration::from_secs(25),
                    raft.add_learner(id, BasicNode::new(&addr), true),
                )
                .await;
                Response::LearnerAdded(match added {
                    Ok(Ok(_)) => {
                        tracing::info!(node = id, %addr, "a broker joined the metadata quorum as a learner");
                        Ok(())
                    }
                    Ok(Err(e)) => Err(ProposeError::Unavailable(e.to_string())),
                    Err(_) => Err(ProposeError::Unavailable(
                        "the learner did not catch up".into(),
                    )),
                })
            }
            Request::Heartbeat { broker_id, epoch } => {
                if self.cluster.leads() {
                    self.cluster.heartbeat_seen(broker_id, epoch);
                    Response::Heartbeat(Ok(()))
                } else {
                    Response::Heartbeat(Err(self.cluster.not_leader()))
                }
            }
        }
    }
}
