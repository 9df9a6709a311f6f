//! Starting and stopping a broker: the actor system on its own thread, one worker
//! arbiter per network thread, the `BrokerActor` on an arbiter of its own (its topic
//! admin does file work), the accept loop on the system arbiter.

use crate::actors::broker::{ApplyImage, BrokerActor, Shutdown, WhenStarted};
use crate::actors::routing::RoutingHandle;
use crate::config::{Config, SharedConfig};
use crate::handlers::{BrokerContext, ListenerInfo};
use crate::metrics::BrokerMetrics;
use crate::net::listener::{self, ConnectionLimits};
use crate::net::tls::TlsAcceptorSource;
use crate::net::RequestMemory;
use crate::ops;
use crate::security::authorizer::AclStore;
use crate::security::users::UserStore;
use actix::prelude::*;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::oneshot;

/// A running broker. Dropping it stops it cleanly, as [`Broker::stop`] does.
pub struct Broker {
    addr: SocketAddr,
    listeners: Vec<(String, SocketAddr)>,
    metrics_addr: Option<SocketAddr>,
    cluster_id: String,
    metrics: Arc<BrokerMetrics>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

struct Started {
    addr: SocketAddr,
    listeners: Vec<(String, SocketAddr)>,
    metrics_addr: Option<SocketAddr>,
    cluster_id: String,
    metrics: Arc<BrokerMetrics>,
}

impl Broker {
    /// Starts a broker and returns once it listens (or failed to start).
    pub fn start(config: Config) -> anyhow::Result<Broker> {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<anyhow::Result<Started>>();
        let (stop_tx, stop_rx) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name("aeon-system".into())
            .spawn(move || run(config, ready_tx, stop_rx))?;
        match ready_rx.recv() {
            Ok(Ok(started)) => Ok(Broker {
                addr: started.addr,
                listeners: started.listeners,
                metrics_addr: started.metrics_addr,
                cluster_id: started.cluster_id,
                metrics: started.metrics,
                stop: Some(stop_tx),
                thread: Some(thread),
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => {
                let _ = thread.join();
                anyhow::bail!("the broker thread ended before it started")
            }
        }
    }

    /// The address of the first listener (the bound port when the config said 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every listener's name and bound address, in the order `listeners` names them.
    pub fn listener_addrs(&self) -> &[(String, SocketAddr)] {
        &self.listeners
    }

    /// The address of the operations HTTP listener (`metrics.listener`), if any.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    pub fn cluster_id(&self) -> &str {
        &self.cluster_id
    }

    /// The broker's counters about itself.
    pub fn metrics(&self) -> &BrokerMetrics {
        &self.metrics
    }

    /// Stops accepting, closes every partition cleanly (trimmed segments, the
    /// clean-shutdown marker) and waits for the actor system to end.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// A socket bound to `addr` (as `TcpListener::bind` binds it, address reuse on), not
/// yet listening; the address it got.
fn bind_socket(addr: SocketAddr) -> std::io::Result<(tokio::net::TcpSocket, SocketAddr)> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    let bound = socket.local_addr()?;
    Ok((socket, bound))
}

/// A controller-only node (`process.roles = "controller"`): a voter of the metadata
/// quorum and the operations listener, no broker. Ready once the quorum has a cluster
/// id.
fn run_controller(
    config: Config,
    ready: std::sync::mpsc::Sender<anyhow::Result<Started>>,
    stop: oneshot::Receiver<()>,
) {
    let Some(q) = config.quorum.clone() else {
        return;
    };
    let system = System::new();
    system.block_on(async move {
        let (metrics, ops) = match start_ops(&config, RoutingHandle::default()) {
            Ok(started) => started,
            Err(e) => {
                let _ = ready.send(Err(e));
                return;
            }
        };
        let cluster_config = cluster_config(&config, &q);
        let started =
            tokio::task::spawn_blocking(move || crate::cluster::Cluster::start(cluster_config))
                .await;
        let cluster = match started {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => {
                let _ = ready.send(Err(e.into()));
                return;
            }
            Err(e) => {
                let _ = ready.send(Err(anyhow::anyhow!("starting the quorum panicked: {e}")));
                return;
            }
        };
        let mut image = cluster.watch();
        let formed = tokio::time::timeout(
            Duration::from_secs(60),
            image.wait_for(|i| i.cluster_id.is_some()),
        )
        .await;
        let cluster_id = match formed {
            Ok(Ok(i)) => i.cluster_id.clone().unwrap_or_default(),
            _ => {
                let _ = ready.send(Err(anyhow::anyhow!("the metadata quorum did not form")));
                cluster.shutdown();
                return;
            }
        };
        metrics.set_ready();
        let addr = cluster.controller_addr();
        tracing::info!(%addr, %cluster_id, "aeon serves as a controller");
        let _ = ready.send(Ok(Started {
            addr,
            listeners: Vec::new(),
            metrics_addr: ops.as_ref().map(|o| o.addr),
            cluster_id,
            metrics,
        }));
        let _ = stop.await;
        if let Some(ops) = ops {
            ops.stop().await;
        }
        cluster.shutdown();
    });
}

/// Stops what a broker started, in order: the operations listener, the partitions
/// (closed cleanly), the quorum member.
async fn wind_down(
    ops: Option<ops::Ops>,
    broker: &Addr<BrokerActor>,
    cluster: Option<&Arc<crate::cluster::Cluster>>,
) {
    if let Some(ops) = ops {
        ops.stop().await;
    }
    if let Some(cluster) = cluster {
        cluster.controlled_shutdown(Duration::from_secs(2)).await;
    }
    let _ = broker.send(Shutdown).await;
    if let Some(cluster) = cluster {
        cluster.shutdown();
    }
}

/// The broker's metrics and, with `metrics.listener`, the operations listener.
fn start_ops(
    config: &Config,
    routing: RoutingHandle,
) -> anyhow::Result<(Arc<BrokerMetrics>, Option<ops::Ops>)> {
    let metrics = Arc::new(BrokerMetrics::new(
        routing,
        config.metrics_listener.is_some(),
    ));
    let ops = config
        .metrics_listener
        .map(|a| ops::start(a, metrics.clone()))
        .transpose()?;
    Ok((metrics, ops))
}

/// The quorum's settings of this node, from its config.
fn cluster_config(
    config: &Config,
    q: &crate::config::QuorumConfig,
) -> crate::cluster::ClusterConfig {
    crate::cluster::ClusterConfig {
        node_id: config.node_id,
        voter: q.voter,
        voters: q.voters.clone(),
        controller_bind: q.controller_bind,
        controller_listener: q.controller_listener.clone(),
        data_dir: config.log_dir.clone(),
        rack: config.broker_rack.clone(),
        heartbeat_interval: Duration::from_millis(q.heartbeat_interval_ms),
        session_timeout: Duration::from_millis(q.session_timeout_ms),
        election_timeout: Duration::from_millis(q.election_timeout_ms),
        snapshot_bytes: q.snapshot_bytes,
        leader_rebalance: q
            .leader_rebalance
            .map(|(seconds, percentage)| (Duration::from_secs(seconds), percentage)),
    }
}

fn run(
    config: Config,
    ready: std::sync::mpsc::Sender<anyhow::Result<Started>>,
    stop: oneshot::Receiver<()>,
) {
    if config.quorum.as_ref().is_some_and(|q| !q.broker) {
        return run_controller(config, ready, stop);
    }
    let system = System::new();
    let threads = config.num_network_threads.max(1);
    let arbiters: Vec<Arbiter> = (0..threads).map(|_| Arbiter::new()).collect();
    let handles: Vec<ArbiterHandle> = arbiters.iter().map(Arbiter::handle).collect();
    let admin = Arbiter::new();
    let admin_handle = admin.handle();
    system.block_on(async move {
        let config = Arc::new(config);
        let shared: SharedConfig = Arc::new(arc_swap::ArcSwap::new(config.clone()));
        let routing = RoutingHandle::default();
        // The operations listener answers from the start: /health while the logs are
        // recovered, /ready only once the broker serves.
        let (metrics, ops) = match start_ops(&config, routing.clone()) {
            Ok(started) => started,
            Err(e) => {
                let _ = ready.send(Err(e));
                return;
            }
        };
        let metrics_addr = ops.as_ref().map(|o| o.addr);
        // Opening (and recovering) every log blocks: off this thread, which meanwhile
        // drives the operations listener.
        let load = {
            let (shared, handles, routing, metrics) = (
                shared.clone(),
                handles.clone(),
                routing.clone(),
                metrics.clone(),
            );
            tokio::task::spawn_blocking(move || {
                let config = shared.load_full();
                let users = UserStore::open(&config.log_dir)?;
                let acls = match &config.authorizer {
                    Some(authorizer) => Some(AclStore::open(&config.log_dir, authorizer.clone())?),
                    None => None,
                };
                // TLS listeners' key material is read (and checked) here, once.
                let tls = match &config.tls {
                    Some(tls) if config.listeners.iter().any(|l| l.protocol.uses_tls()) => {
                        Some(TlsAcceptorSource::new(tls.clone())?)
                    }
                    _ => None,
                };
                // A cluster member joins the metadata quorum before its topics load.
                let cluster = match &config.quorum {
                    None => None,
                    Some(q) => Some(crate::cluster::Cluster::start(cluster_config(&config, q))?),
                };
                BrokerActor::load(shared, handles, routing, metrics, cluster.clone()).map(
                    |(broker, cluster_id)| (broker, cluster_id, (users, acls, tls, cluster)),
                )
            })
        };
        let loaded = load
            .await
            .map_err(|e| anyhow::anyhow!("loading the broker panicked: {e}"))
            .and_then(|r| r);
        let (broker, cluster_id, (users, acls, tls, cluster)) = match loaded {
            Ok(b) => b,
            Err(e) => {
                if let Some(ops) = ops {
                    ops.stop().await;
                }
                let _ = ready.send(Err(e));
                return;
            }
        };
        // The broker actor does its topic admin's file work (creating partitions,
        // fsyncing the topics journal) in its handlers, serially: it gets a thread of
        // its own, so that work never stalls the accept loop or a connection.
        let broker = BrokerActor::start_in_arbiter(&admin_handle, move |_| broker);
        if let Err(e) = broker.send(WhenStarted).await {
            let _ = ready.send(Err(anyhow::anyhow!("the broker actor did not start: {e}")));
            return;
        }
        let mut bound = Vec::new();
        for l in &config.listeners {
            // Bound now (a taken port fails the start), listening only once ready.
            let socket = bind_socket(l.bind);
            match socket {
                Ok((socket, addr)) => bound.push((l, socket, addr)),
                Err(e) => {
                    let _ = ready.send(Err(anyhow::anyhow!(
                        "binding listener {} ({}): {e}",
                        l.name,
                        l.bind
                    )));
                    wind_down(ops, &broker, cluster.as_ref()).await;
                    return;
                }
            }
        }
        // A cluster member registers its client endpoints and serves once the active
        // controller has unfenced it; the cluster's id is the metadata log's.
        let cluster_id = match &cluster {
            None => cluster_id,
            Some(cluster) => {
                let endpoints = bound
                    .iter()
                    .map(|(l, _, addr)| {
                        let (host, port) = l.advertised_endpoint(*addr);
                        crate::cluster::Endpoint {
                            listener: l.name.clone(),
                            host,
                            port,
                            security_protocol: l.protocol.id(),
                        }
                    })
                    .collect();
                if let Err(e) = cluster.register(endpoints).await {
                    let _ = ready.send(Err(anyhow::anyhow!("joining the cluster: {e}")));
                    wind_down(ops, &broker, Some(cluster)).await;
                    return;
                }
                let _ = broker.send(ApplyImage(cluster.image())).await;
                cluster.image().cluster_id.clone().unwrap_or(cluster_id)
            }
        };
        let ctx = Arc::new(BrokerContext {
            metrics: metrics.clone(),
            config: shared.clone(),
            routing,
            broker: broker.clone(),
            cluster_id: cluster_id.clone(),
            node_id: config.node_id,
            cluster: cluster.clone(),
            users: Arc::new(users),
            acls: acls.map(Arc::new),
        });
        let memory = Arc::new(RequestMemory::new(config.queued_max_request_bytes as usize));
        let limits = ConnectionLimits::new(config.max_connections, config.max_connections_per_ip);
        let listeners: Vec<(String, SocketAddr)> = bound
            .iter()
            .map(|(l, _, addr)| (l.name.clone(), *addr))
            .collect();
        let Some(&(_, addr)) = listeners.first() else {
            let _ = ready.send(Err(anyhow::anyhow!("no listener")));
            return;
        };
        // Ready first, then listening: a client is never accepted by a broker that
        // /ready says is not serving yet.
        metrics.set_ready();
        let mut listening = Vec::with_capacity(bound.len());
        for (l, socket, addr) in bound {
            match socket.listen(1024) {
                Ok(socket) => listening.push((l, socket, addr)),
                Err(e) => {
                    let _ = ready.send(Err(anyhow::anyhow!("listening on {}: {e}", l.name)));
                    wind_down(ops, &broker, cluster.as_ref()).await;
                    return;
                }
            }
        }
        let accepts: Vec<_> = listening
            .into_iter()
            .map(|(l, socket, addr)| {
                let info = Arc::new(ListenerInfo {
                    name: l.name.clone(),
                    protocol: l.protocol,
                    advertised: l.advertised_endpoint(addr),
                    metrics: metrics.listener(&l.name),
                    tls: tls.clone().filter(|_| l.protocol.uses_tls()),
                });
                tracing::info!(listener = %l.name, protocol = l.protocol.name(), %addr, "listener bound");
                actix_rt::spawn(listener::run(
                    socket,
                    info,
                    limits.clone(),
                    ctx.clone(),
                    memory.clone(),
                    handles.clone(),
                ))
            })
            .collect();
        if let Some(tls) = &tls {
            if config.ssl_reload_interval_ms > 0 {
                tls.watch(std::time::Duration::from_millis(config.ssl_reload_interval_ms));
            }
        }
        tracing::info!(%addr, %cluster_id, threads, ?metrics_addr, "aeon is serving");
        let _ = ready.send(Ok(Started {
            addr,
            listeners,
            metrics_addr,
            cluster_id,
            metrics,
        }));
        let _ = stop.await;
        tracing::info!("shutting down");
        for accept in accepts {
            accept.abort();
        }
        wind_down(ops, &broker, cluster.as_ref()).await;
    });
    for arbiter in arbiters.into_iter().chain([admin]) {
        arbiter.stop();
        let _ = arbiter.join();
    }
    tracing::info!("stopped");
}
