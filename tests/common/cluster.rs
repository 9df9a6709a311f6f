//! A cluster of real `aeon` processes on 127.0.0.1: each node with its own data
//! directory, client and controller ports, started, killed, paused and restarted by
//! the test; and, in a proxied cluster, links that a test can cut: between controller
//! listeners, and in front of each broker's client listener (which carries the other
//! brokers' replica fetches, transaction verifications and markers, and the clients').
//! A network partition without iptables.

use super::{aeon_command, client_config, AeonProcess};
use aeon::protocol::records::BatchIter;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{DeliveryResult, ProducerContext};
use rdkafka::{ClientContext, Message};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct Node {
    pub id: i32,
    pub client_port: u16,
    pub config: PathBuf,
    pub process: Option<AeonProcess>,
}

/// Three nodes, each with its own data directory, client port and controller port.
pub struct TestCluster {
    /// One cluster at a time: five clusters of processes at once on two cores, each
    /// picking free ports that another may take before it binds them, test the
    /// machine, not Aeon.
    pub _one_at_a_time: std::sync::MutexGuard<'static, ()>,
    pub _dir: tempfile::TempDir,
    pub nodes: Vec<Node>,
    /// With [`TestCluster::proxied`]: the link from node `from` to node `to`.
    pub links: BTreeMap<(i32, i32), Link>,
    /// With [`TestCluster::proxied`]: the traffic to the brokers' client listeners
    /// that is cut, as (source, broker): another broker's id, or `None` for clients.
    pub cuts: Cuts,
}

/// The (source, broker) pairs whose connections to a broker's client listener are cut.
pub type Cuts = Arc<Mutex<BTreeSet<(Option<i32>, i32)>>>;

impl TestCluster {
    pub fn new(n: i32) -> TestCluster {
        Self::build(n, 0, false, true, "")
    }

    /// KRaft's isolated mode: `voters` controller-only nodes (no client listener) and
    /// `brokers` broker-only ones.
    pub fn dedicated(voters: i32, brokers: i32) -> TestCluster {
        Self::build(voters, brokers, false, false, "")
    }

    /// Like [`TestCluster::with_brokers`], every node's config with `extra` lines.
    pub fn configured(voters: i32, brokers: i32, extra: &str) -> TestCluster {
        Self::build(voters, brokers, false, true, extra)
    }

    /// `voters` nodes in combined mode and `brokers` more that are brokers only
    /// (learners of the quorum), numbered after the voters.
    pub fn with_brokers(voters: i32, brokers: i32) -> TestCluster {
        Self::build(voters, brokers, false, true, "")
    }

    /// A cluster whose nodes reach each other's controller listeners through links
    /// that a test can cut, one per direction: a network partition without iptables.
    pub fn proxied(n: i32) -> TestCluster {
        Self::build(n, 0, true, true, "")
    }

    pub fn build(n: i32, brokers: i32, proxied: bool, combined: bool, extra: &str) -> TestCluster {
        static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let guard = ONE_AT_A_TIME
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let dir = tempfile::tempdir().expect("tmp");
        // Each node's ports stay bound until the links have bound theirs: no link (nor
        // another node) is given a port a node will listen on.
        let reserve = || TcpListener::bind("127.0.0.1:0").expect("a free port");
        let reserved: Vec<(TcpListener, TcpListener)> =
            (0..n + brokers).map(|_| (reserve(), reserve())).collect();
        let port = |l: &TcpListener| l.local_addr().expect("addr").port();
        let ports: Vec<(u16, u16)> = reserved.iter().map(|(c, k)| (port(c), port(k))).collect();
        let mut links = BTreeMap::new();
        let cuts = Cuts::default();
        // In front of each broker's client listener, advertised in its place.
        let front: Vec<Option<u16>> = (0..n + brokers)
            .map(|i| {
                proxied.then(|| {
                    let target = format!("127.0.0.1:{}", ports[i as usize].0);
                    broker_link(target, i + 1, Arc::clone(&cuts))
                })
            })
            .collect();
        if proxied {
            for from in 1..=n {
                for to in (1..=n).filter(|&to| to != from) {
                    let target = format!("127.0.0.1:{}", ports[to as usize - 1].1);
                    links.insert((from, to), Link::new(target));
                }
            }
        }
        drop(reserved);
        // Each node's view of the voters: itself directly, the others via its links.
        let voters_of = |me: i32| {
            ports[..n as usize]
                .iter()
                .enumerate()
                .map(|(i, (_, c))| {
                    let id = i as i32 + 1;
                    let port = links.get(&(me, id)).map_or(*c, |l: &Link| l.port);
                    format!("{id}@127.0.0.1:{port}")
                })
                .collect::<Vec<_>>()
                .join(",")
        };
        let nodes = ports
            .iter()
            .enumerate()
            .map(|(i, (client, controller))| {
                let id = i as i32 + 1;
                let voters = voters_of(id);
                let advertised = front[i].map_or(String::new(), |port| {
                    format!("\"advertised.listeners\" = \"PLAINTEXT://127.0.0.1:{port}\"\n")
                });
                let (roles, listeners) = match (id <= n, combined) {
                    (true, true) => (
                        "broker,controller",
                        format!(
                            "PLAINTEXT://127.0.0.1:{client},CONTROLLER://127.0.0.1:{controller}"
                        ),
                    ),
                    (true, false) => ("controller", format!("CONTROLLER://127.0.0.1:{controller}")),
                    (false, _) => (
                        "broker",
                        format!(
                            "PLAINTEXT://127.0.0.1:{client},CONTROLLER://127.0.0.1:{controller}"
                        ),
                    ),
                };
                let config = dir.path().join(format!("node{id}.toml"));
                let data = dir.path().join(format!("data{id}"));
                std::fs::write(
                    &config,
                    format!(
                        "\"node.id\" = {id}\n\
                         \"process.roles\" = \"{roles}\"\n\
                         \"listeners\" = \"{listeners}\"\n\
                         \"controller.listener.names\" = \"CONTROLLER\"\n\
                         \"controller.quorum.voters\" = \"{voters}\"\n\
                         \"broker.session.timeout.ms\" = 3000\n\
                         \"broker.heartbeat.interval.ms\" = 500\n\
                         \"log.dirs\" = \"{}\"\n{advertised}{extra}",
                        data.display()
                    ),
                )
                .expect("config");
                Node {
                    id,
                    client_port: *client,
                    config,
                    process: None,
                }
            })
            .collect();
        TestCluster {
            _one_at_a_time: guard,
            _dir: dir,
            nodes,
            links,
            cuts,
        }
    }

    /// Cuts (or heals) every link between node `id` and the others, both ways: its
    /// quorum traffic and the brokers' traffic to each other's client listeners
    /// (replication, transaction verification and markers). Clients still reach it.
    pub fn isolate(&self, id: i32, cut: bool) {
        for ((from, to), link) in &self.links {
            if *from == id || *to == id {
                link.cut.store(cut, Ordering::SeqCst);
            }
        }
        let mut cuts = self.cuts.lock().expect("cuts");
        for other in (1..=self.nodes.len() as i32).filter(|&o| o != id) {
            for pair in [(Some(id), other), (Some(other), id)] {
                if cut {
                    cuts.insert(pair);
                } else {
                    cuts.remove(&pair);
                }
            }
        }
    }

    /// Cuts (or heals) the clients' traffic to broker `id`; the other brokers still
    /// reach it.
    pub fn cut_clients(&self, id: i32, cut: bool) {
        let mut cuts = self.cuts.lock().expect("cuts");
        if cut {
            cuts.insert((None, id));
        } else {
            cuts.remove(&(None, id));
        }
    }

    /// Starts the given nodes at once (each waits for a quorum before it serves).
    pub fn start(&mut self, ids: &[i32]) {
        let started: Vec<(i32, AeonProcess)> = std::thread::scope(|s| {
            let handles: Vec<_> = self
                .nodes
                .iter()
                .filter(|n| ids.contains(&n.id))
                .map(|n| {
                    let config = n.config.clone();
                    let id = n.id;
                    s.spawn(move || {
                        // For a long run's diagnosis: CLUSTER_RUST_LOG sets the nodes'
                        // filter, CLUSTER_LOG_DIR keeps each node's log in a file.
                        let filter = std::env::var("CLUSTER_RUST_LOG")
                            .unwrap_or_else(|_| "aeon=info".into());
                        let tee = std::env::var_os("CLUSTER_LOG_DIR")
                            .map(|d| PathBuf::from(d).join(format!("node{id}.log")));
                        let mut command = aeon_command();
                        command.arg("--config").arg(&config).env("RUST_LOG", filter);
                        (id, AeonProcess::spawn_teed(&mut command, tee.as_deref()))
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("node started"))
                .collect()
        });
        for (id, process) in started {
            self.node(id).process = Some(process);
        }
    }

    pub fn node(&mut self, id: i32) -> &mut Node {
        &mut self.nodes[id as usize - 1]
    }

    pub fn addr(&self, id: i32) -> String {
        format!("127.0.0.1:{}", self.nodes[id as usize - 1].client_port)
    }

    /// Every running node's client address.
    pub fn bootstrap(&self) -> String {
        self.nodes
            .iter()
            .filter(|n| n.process.is_some())
            .map(|n| format!("127.0.0.1:{}", n.client_port))
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn kill(&mut self, id: i32) {
        if let Some(mut p) = self.node(id).process.take() {
            p.sigkill();
        }
    }

    /// Sends `signal` (STOP, CONT) to node `id`'s process.
    pub fn signal(&mut self, id: i32, signal: &str) {
        if let Some(p) = &self.node(id).process {
            let status = std::process::Command::new("kill")
                .arg(format!("-{signal}"))
                .arg(p.child.id().to_string())
                .status()
                .expect("kill");
            assert!(status.success(), "kill -{signal}");
        }
    }

    /// Waits until brokers `ids` all list `partitions` partitions of `topic` with the
    /// same live leaders, and answers them. Each broker applies a created topic at its own
    /// pace (as in Kafka, a request that comes before gets UNKNOWN_TOPIC_OR_PARTITION);
    /// a leader among `ids` that names itself has its partitions routed to clients.
    pub fn until_applied(&self, ids: &[i32], topic: &str, partitions: usize) -> BTreeMap<i32, i32> {
        let mut agreed = BTreeMap::new();
        until(
            Duration::from_secs(30),
            &format!("{topic} applied on {ids:?}"),
            || {
                let seen: Vec<_> = ids
                    .iter()
                    .map(|&id| leaders(&self.addr(id), topic))
                    .collect();
                let same = seen.iter().all(|s| s == &seen[0]);
                let led = seen[0].len() == partitions && seen[0].values().all(|&l| l > 0);
                if same && led {
                    agreed = seen[0].clone();
                }
                same && led
            },
        );
        agreed
    }

    /// Node `id`'s data directory.
    pub fn data_dir(&self, id: i32) -> PathBuf {
        self._dir.path().join(format!("data{id}"))
    }

    /// Stops node `id` with SIGTERM; the lines it logged.
    pub fn stop(&mut self, id: i32) -> Vec<String> {
        match self.node(id).process.take() {
            Some(mut p) => {
                p.sigterm(Duration::from_secs(30));
                let lines = p.log.lock().expect("log lines").clone();
                lines
            }
            None => Vec::new(),
        }
    }
}

/// A TCP forwarder to `target` that can be cut: while cut, its connections are closed
/// and new ones dropped at once.
pub struct Link {
    pub port: u16,
    pub cut: Arc<AtomicBool>,
}

impl Link {
    pub fn new(target: String) -> Link {
        let listener = TcpListener::bind("127.0.0.1:0").expect("link port");
        let port = listener.local_addr().expect("addr").port();
        let cut = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&cut);
        std::thread::spawn(move || {
            for inbound in listener.incoming() {
                let Ok(inbound) = inbound else { continue };
                if flag.load(Ordering::SeqCst) {
                    continue;
                }
                let Ok(outbound) = TcpStream::connect(&target) else {
                    continue;
                };
                for (from, to) in [
                    (inbound.try_clone(), outbound.try_clone()),
                    (outbound.try_clone(), inbound.try_clone()),
                ] {
                    let (Ok(from), Ok(to)) = (from, to) else {
                        continue;
                    };
                    let flag = Arc::clone(&flag);
                    std::thread::spawn(move || pump(from, to, || flag.load(Ordering::SeqCst)));
                }
            }
        });
        Link { port, cut }
    }
}

/// Which broker a connection to a client listener comes from, by the client id of its
/// first request (Kafka's request header v1+): the brokers' own connections name
/// themselves `replica-fetcher-<id>`, `txn-verifier-<id>`, `txn-markers-<id>`; any
/// other is a client's (`None`).
fn source_of(frame: &[u8]) -> Option<i32> {
    let len = i16::from_be_bytes([*frame.get(8)?, *frame.get(9)?]);
    let id = frame.get(10..10 + usize::try_from(len).ok()?)?;
    let id = std::str::from_utf8(id).ok()?;
    ["replica-fetcher-", "txn-verifier-", "txn-markers-"]
        .iter()
        .find_map(|p| id.strip_prefix(p)?.parse().ok())
}

/// A forwarder to broker `id`'s client listener at `target`, its port advertised in
/// place of the listener's: each connection is classified by its first request and
/// closed (or refused) while [`Cuts`] cuts its source from `id`. Answers its port.
fn broker_link(target: String, id: i32, cuts: Cuts) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("link port");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for inbound in listener.incoming() {
            let Ok(mut inbound) = inbound else { continue };
            let (target, cuts) = (target.clone(), Arc::clone(&cuts));
            std::thread::spawn(move || {
                let mut size = [0u8; 4];
                if inbound.read_exact(&mut size).is_err() {
                    return;
                }
                let len = u32::from_be_bytes(size).min(200 << 20) as usize;
                let mut frame = vec![0u8; len];
                if inbound.read_exact(&mut frame).is_err() {
                    return;
                }
                let source = source_of(&frame);
                let cut = move || cuts.lock().expect("cuts").contains(&(source, id));
                if cut() {
                    return;
                }
                let Ok(mut outbound) = TcpStream::connect(&target) else {
                    return;
                };
                if outbound
                    .write_all(&size)
                    .and_then(|()| outbound.write_all(&frame))
                    .is_err()
                {
                    return;
                }
                let (Ok(back_from), Ok(back_to)) = (outbound.try_clone(), inbound.try_clone())
                else {
                    return;
                };
                let cut_back = cut.clone();
                std::thread::spawn(move || pump(back_from, back_to, cut_back));
                pump(inbound, outbound, cut);
            });
        }
    });
    port
}

/// Copies `from` to `to` until either ends or `cut` says the link is cut.
pub fn pump(mut from: TcpStream, mut to: TcpStream, cut: impl Fn() -> bool) {
    let _ = from.set_read_timeout(Some(Duration::from_millis(50)));
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if cut() {
            break;
        }
        match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => break,
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

/// The cluster's controller and brokers as `aeon cluster info` on `addr` prints them.
pub fn cluster_info(addr: &str) -> Option<(i32, BTreeSet<i32>)> {
    let out = aeon_command()
        .args(["cluster", "info", "-b", addr])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let controller = text
        .lines()
        .find_map(|l| l.strip_prefix("controller: "))?
        .trim()
        .parse()
        .ok()?;
    let brokers = text
        .lines()
        .skip_while(|l| !l.starts_with("BROKER"))
        .skip(1)
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect();
    Some((controller, brokers))
}

/// Each partition's leader, as broker `addr` answers Metadata for `topic`.
pub fn leaders(addr: &str, topic: &str) -> BTreeMap<i32, i32> {
    let consumer: BaseConsumer = client_config(addr).create().expect("consumer");
    let md = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    md.topics()
        .iter()
        .flat_map(|t| t.partitions())
        .map(|p| (p.id(), p.leader()))
        .collect()
}

/// A consumer's config for reading assigned partitions, outside any group's commits.
pub fn reader(bootstrap: &str) -> rdkafka::ClientConfig {
    let mut config = client_config(bootstrap);
    config
        .set("group.id", "cluster-test")
        .set("enable.auto.commit", "false");
    config
}

/// Waits until `check` holds, up to `within`; how long it took.
pub fn until(within: Duration, what: &str, mut check: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < within, "{what}: not within {within:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    start.elapsed()
}

/// A producer context that keeps the numeric values acknowledged and the errors of
/// the deliveries that failed.
#[derive(Default)]
pub struct Acked {
    pub values: Mutex<Vec<u64>>,
    pub failed: Mutex<Vec<String>>,
}

impl ClientContext for Acked {}

impl ProducerContext for Acked {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(m) => {
                let value = m
                    .payload()
                    .and_then(|p| std::str::from_utf8(p).ok()?.parse().ok())
                    .expect("a numeric value");
                self.values.lock().expect("acked").push(value);
            }
            Err((e, _)) => self.failed.lock().expect("failed").push(e.to_string()),
        }
    }
}

/// Each partition's leader and ISR as broker `addr` answers Metadata for `topic`
/// (empty if it does not answer).
pub fn placement(addr: &str, topic: &str) -> BTreeMap<i32, (i32, BTreeSet<i32>)> {
    let Ok(consumer) = client_config(addr).create::<BaseConsumer>() else {
        return BTreeMap::new();
    };
    let Ok(md) = consumer.fetch_metadata(Some(topic), Duration::from_secs(5)) else {
        return BTreeMap::new();
    };
    md.topics()
        .iter()
        .flat_map(|t| t.partitions())
        .map(|p| (p.id(), (p.leader(), p.isr().iter().copied().collect())))
        .collect()
}

/// Each partition's ISR as broker `addr` answers Metadata for `topic`.
pub fn isrs(addr: &str, topic: &str) -> BTreeMap<i32, BTreeSet<i32>> {
    placement(addr, topic)
        .into_iter()
        .map(|(p, (_, isr))| (p, isr))
        .collect()
}

/// The batches of a partition on one broker: its segments in order, whole batches up
/// to the preallocated zeros of each.
pub fn partition_batches(data_dir: &Path, topic: &str, partition: i32) -> Vec<u8> {
    let dir = data_dir.join(format!("{topic}-{partition}"));
    let mut segments: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| d.filter_map(|e| Some(e.ok()?.path())).collect())
        .unwrap_or_default();
    segments.retain(|p| p.extension().is_some_and(|x| x == "log"));
    segments.sort();
    let mut all = Vec::new();
    for path in segments {
        let bytes = std::fs::read(&path).unwrap_or_default();
        for batch in BatchIter::new(&bytes) {
            all.extend_from_slice(batch.bytes());
        }
    }
    all
}
