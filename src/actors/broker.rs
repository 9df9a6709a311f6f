//! `BrokerActor`: the supervisor and the only writer of cluster metadata.
//!
//! It keeps the registry of topics, starts and stops their `PartitionActor`s (spread
//! round-robin over the worker arbiters), persists the metadata so topics survive a
//! restart, and publishes the routing snapshot connections read. It runs on an
//! arbiter of its own, which serves no connection and no partition: its blocking work
//! (opening logs, fsyncing the topics journal) stalls no request path.
//!
//! Topic admin is in `topics` (its rules in `topic_rules`); what it keeps on disk in
//! `store`; the group registry in `groups`; the transactional ids in `transactions`;
//! dynamic broker configs in `dynamic`; producer ids in `producer_ids`.

use super::group_coordinator::GroupCoordinatorActor;
use super::partition::{self, Close, UpdateConfig};
use super::routing::{PartitionRoute, Registry, Routing, RoutingHandle, TopicRoute};
use super::txn_coordinator::TxnCoordinatorActor;
use crate::config::{AlterOp, Config, EffectiveTopicConfig, SharedConfig, TopicConfigs};
use crate::group::Group;
use crate::protocol::ErrorCode;
use crate::storage::{CleanerConfig, Log, LogConfig};
use actix::prelude::*;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

mod cluster;
mod dynamic;
mod group_configs;
mod groups;
mod producer_ids;
mod store;
pub(crate) use store::write_atomically;
mod topic_rules;
mod topics;
mod transactions;

use crate::metrics::BrokerMetrics;
pub use cluster::{ApplyImage, EnsureInternalTopic};
pub use dynamic::AlterBrokerConfigs;
pub use group_configs::{AlterGroupConfigs, DescribeGroupConfigs};
pub use groups::{
    partition_for_key, write_marker, FindGroupCoordinator, ForgetGroupCoordinator,
    GetGroupCoordinator, SettleGroups, OFFSETS_TOPIC,
};
pub use producer_ids::AllocateProducerId;
use producer_ids::ProducerIds;
use store::load_or_create_meta;
use topic_rules::{collision_key, refuse_internal};
pub use topic_rules::{is_internal_topic, validate_topic_name};
pub use topics::{
    AlterTopicConfigs, AutoCreateTopics, ConfigChange, CreatePartitions, CreateTopic, CreatedTopic,
    DeleteTopic,
};
pub use transactions::{ForgetTxnCoordinator, GetTxnCoordinator, TXN_TOPIC};

/// A Kafka error code with its message, as admin responses carry them.
pub type AdminError = (ErrorCode, String);

/// Closes every partition cleanly; the broker is about to stop.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct Shutdown;

struct TopicState {
    id: Uuid,
    configs: TopicConfigs,
    /// `None`: a partition another broker of the cluster leads.
    partitions: Vec<Option<PartitionRoute>>,
}

impl TopicState {
    /// Tells the partitions opened here their storage settings, after a change of the
    /// topic's configs or of the broker's defaults.
    fn send_log_config(&self, broker: &Config) {
        let log_config = log_config(&self.configs.effective(broker));
        for p in self.partitions.iter().flatten() {
            p.addr.do_send(UpdateConfig(log_config.clone()));
        }
    }
}

/// The supervisor of topics and partitions.
pub struct BrokerActor {
    config: Arc<Config>,
    /// The config handlers read; replaced when a dynamic broker config changes.
    shared_config: SharedConfig,
    data_dir: PathBuf,
    topics: BTreeMap<String, TopicState>,
    arbiters: Vec<ArbiterHandle>,
    next_arbiter: usize,
    routing: RoutingHandle,
    metrics: Arc<BrokerMetrics>,
    /// A coordinator per known group.
    groups: Registry<GroupCoordinatorActor>,
    /// Groups rebuilt from `__consumer_offsets` while loading, before their actors start.
    replayed_groups: BTreeMap<String, Group>,
    /// A coordinator per known transactional id.
    txns: Registry<TxnCoordinatorActor>,
    /// Transactional ids rebuilt from `__transaction_state` while loading.
    replayed_txns: BTreeMap<String, crate::txn::TxnMetadata>,
    producer_ids: ProducerIds,
    /// The published routes, kept to publish a change in O(log n).
    routes: imbl::HashMap<String, Arc<TopicRoute>>,
    routes_by_id: imbl::HashMap<Uuid, Arc<TopicRoute>>,
    /// Collision key ('.' as '_') -> topic name.
    collision_names: HashMap<String, String>,
    /// Lines in the topics journal since the last snapshot.
    journal_lines: usize,
    /// Partitions of every topic, against `max.broker.partitions`.
    partition_count: usize,
    /// Per-group config overrides (the GROUP config resource).
    group_overrides: group_configs::GroupOverrides,
    /// The cluster this broker is a member of; `None`: a single broker.
    cluster: Option<cluster::ClusterLink>,
    /// Internal partitions whose leadership came here and whose groups or
    /// transactional ids are being loaded (COORDINATOR_LOAD_IN_PROGRESS meanwhile).
    loading: std::collections::BTreeSet<(String, i32)>,
    /// Replicas whose data is being deleted (a topic deleted, a replica moved away). A
    /// replica placed here again meanwhile opens only once the deletion is done: its
    /// directory is the same, and a log opened over files being removed would keep
    /// some and lose others.
    deleting: std::collections::BTreeSet<(String, i32)>,
    /// Transaction markers written to a `__consumer_offsets` partition while it loads:
    /// (marker offset, producer id, commit), for the groups the load replays (a marker
    /// the replay did not read settles them before they start).
    settled_while_loading: BTreeMap<i32, Vec<(i64, i64, bool)>>,
    /// Internal partitions whose leadership came here (true) or went away (false)
    /// since the coordinators were last started or stopped for them.
    leadership_changes: Vec<(String, i32, bool)>,
    /// No heartbeat acknowledged within the session (see `Cluster::lease_lost`): no
    /// partition is routed to clients and no coordinator starts here.
    lease_lost: bool,
}

impl BrokerActor {
    /// Loads (or creates) the node's metadata and opens every partition's log. Blocking:
    /// runs before the actor starts.
    pub fn load(
        shared_config: SharedConfig,
        arbiters: Vec<ArbiterHandle>,
        routing: RoutingHandle,
        metrics: Arc<BrokerMetrics>,
        cluster: Option<Arc<crate::cluster::Cluster>>,
    ) -> anyhow::Result<(Self, String)> {
        let config = shared_config.load_full();
        let data_dir = config.log_dir.clone();
        std::fs::create_dir_all(&data_dir)
            .map_err(|e| anyhow::anyhow!("creating data dir {}: {e}", data_dir.display()))?;
        let cluster_id = load_or_create_meta(&data_dir, config.node_id)?;
        // Dynamic broker configs set on an earlier run apply before any topic opens.
        let config = dynamic::load(&data_dir, &config)?;
        shared_config.store(config.clone());
        let cluster = cluster.map(|c| cluster::ClusterLink::new(c, &config));
        let mut broker = BrokerActor {
            config,
            shared_config,
            data_dir,
            topics: BTreeMap::new(),
            arbiters,
            next_arbiter: 0,
            routing,
            metrics,
            groups: Registry::default(),
            replayed_groups: BTreeMap::new(),
            txns: Registry::default(),
            replayed_txns: BTreeMap::new(),
            producer_ids: ProducerIds::default(),
            routes: imbl::HashMap::new(),
            routes_by_id: imbl::HashMap::new(),
            collision_names: HashMap::new(),
            journal_lines: 0,
            partition_count: 0,
            group_overrides: group_configs::GroupOverrides::new(),
            cluster,
            loading: std::collections::BTreeSet::new(),
            deleting: std::collections::BTreeSet::new(),
            settled_while_loading: BTreeMap::new(),
            leadership_changes: Vec::new(),
            lease_lost: false,
        };
        broker.group_overrides = group_configs::load(&broker.data_dir)?;
        broker.producer_ids = ProducerIds::load(&broker.data_dir)?;
        // In a cluster the topics are the metadata log's, followed once the actor runs.
        let (records, journal_lines) = if broker.cluster.is_some() {
            (Vec::new(), 0)
        } else {
            store::read_topics(&broker.data_dir)?
        };
        let records = records
            .into_iter()
            .map(|t| {
                let configs = TopicConfigs::from_overrides(
                    t.configs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                )
                .map_err(|e| anyhow::anyhow!("topic {}: {e}", t.name))?;
                Ok((t, configs))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        // Every log is opened (and recovered, after a crash) first, on
        // `num.recovery.threads.per.data.dir` threads: the file work of thousands of
        // partitions (directory syncs, index checks, scans) overlaps.
        let jobs: Vec<(&str, i32, &TopicConfigs)> = records
            .iter()
            .flat_map(|(t, configs)| (0..t.partitions).map(move |p| (t.name.as_str(), p, configs)))
            .collect();
        let opened = in_parallel(
            &jobs,
            broker.config.num_recovery_threads_per_data_dir,
            |&(topic, p, configs)| {
                open_partition_log(&broker.data_dir, &broker.config, topic, p, configs)
            },
        );
        let mut opened = opened.into_iter();
        for (t, configs) in records {
            let mut partitions = Vec::new();
            for p in 0..t.partitions {
                let log = opened
                    .next()
                    .flatten()
                    .ok_or_else(|| anyhow::anyhow!("opening {}-{p} failed", t.name))??;
                partitions.push(broker.start_partition(&t.name, p, log));
            }
            tracing::info!(topic = %t.name, partitions = t.partitions, "topic loaded");
            broker
                .collision_names
                .insert(collision_key(&t.name), t.name.clone());
            broker.partition_count += partitions.len();
            broker.topics.insert(
                t.name,
                TopicState {
                    id: t.id,
                    configs,
                    partitions: partitions.into_iter().map(Some).collect(),
                },
            );
        }
        if journal_lines > 0 {
            broker.write_topics_snapshot()?;
        }
        broker.publish();
        Ok((broker, cluster_id))
    }

    fn open_partition(
        &mut self,
        topic: &str,
        partition: i32,
        configs: &TopicConfigs,
    ) -> anyhow::Result<PartitionRoute> {
        let log = open_partition_log(&self.data_dir, &self.config, topic, partition, configs)?;
        Ok(self.start_partition(topic, partition, log))
    }

    /// Starts the actor of an opened partition log (after replaying it, for an internal
    /// topic's coordinators).
    fn start_partition(
        &mut self,
        topic: &str,
        partition: i32,
        log: partition::OpenLog,
    ) -> PartitionRoute {
        // In a cluster the coordinators load when the partition's leadership comes here.
        if topic == OFFSETS_TOPIC && self.cluster.is_none() {
            let config = self.group_config();
            groups::replay(&log.log, &mut self.replayed_groups, &config);
        }
        if topic == TXN_TOPIC && self.cluster.is_none() {
            transactions::replay(&log.log, &mut self.replayed_txns);
        }
        let arbiter = self.next_arbiter();
        let intervals = partition::Intervals {
            retention_check: Duration::from_millis(self.config.log_retention_check_interval_ms),
            recovery_checkpoint: (self.config.log_flush_offset_checkpoint_interval_ms > 0).then(
                || Duration::from_millis(self.config.log_flush_offset_checkpoint_interval_ms),
            ),
        };
        let (addr, offsets) =
            partition::start(&arbiter, format!("{topic}-{partition}"), log, intervals);
        if self.config.log_cleaner_enable {
            addr.do_send(partition::StartCleaner {
                config: CleanerConfig {
                    io_max_bytes_per_second: self.config.log_cleaner_io_max_bytes_per_second,
                    dedupe_buffer_bytes: usize::try_from(
                        self.config.log_cleaner_dedupe_buffer_size,
                    )
                    .unwrap_or(usize::MAX),
                },
                backoff: Duration::from_millis(self.config.log_cleaner_backoff_ms.max(1)),
            });
        }
        PartitionRoute { addr, offsets }
    }

    /// NOT_COORDINATOR while this broker's session with the controller may have lapsed
    /// (asked by the clients' requests for a coordinator).
    fn check_session(&self) -> Result<(), AdminError> {
        if self.lease_lost {
            return Err((
                ErrorCode::NotCoordinator,
                "this broker's session with the controller may have lapsed".to_string(),
            ));
        }
        Ok(())
    }

    /// The partition of an internal topic (`__consumer_offsets`, `__transaction_state`)
    /// that holds `key`'s records, by Kafka's hash of the key. The topic is created the
    /// first time it is needed: compacted, with its own partition count and segment size.
    fn internal_log(
        &mut self,
        name: &str,
        num_partitions: i32,
        segment_bytes: u64,
        key: &str,
    ) -> Result<Addr<partition::PartitionActor>, AdminError> {
        if !self.topics.contains_key(name) {
            let rf = self.internal_replication_factor(name);
            self.create(internal_topic(name, num_partitions, segment_bytes, rf))?;
        }
        let index = self
            .topics
            .get(name)
            .map(|t| groups::partition_for_key(key, t.partitions.len()));
        // In a cluster the coordinator is the leader of the key's partition, once it
        // has loaded what the partition holds. (Whether the broker's session lapsed is
        // for the clients' requests to ask, not for restoring what a load replayed: a
        // group or transactional id dropped then would come back empty, with its
        // offsets or its producer id lost.)
        if let (Some(link), Some(index)) = (&self.cluster, index) {
            let leads = link
                .image
                .topic(name)
                .and_then(|t| t.partitions.get(index))
                .is_some_and(|p| p.leader == self.config.node_id);
            if !leads {
                return Err((
                    ErrorCode::NotCoordinator,
                    format!("another broker leads the partition of {name} for '{key}'"),
                ));
            }
            if self.loading.contains(&(name.to_string(), index as i32)) {
                return Err((
                    ErrorCode::CoordinatorLoadInProgress,
                    format!("the partition of {name} for '{key}' is being loaded"),
                ));
            }
        }
        let partitions = self
            .topics
            .get(name)
            .map(|t| t.partitions.as_slice())
            .unwrap_or_default();
        match partitions.get(groups::partition_for_key(key, partitions.len())) {
            Some(Some(p)) => Ok(p.addr.clone()),
            Some(None) => Err((
                ErrorCode::NotCoordinator,
                format!("another broker leads the partition of {name} for '{key}'"),
            )),
            None => Err((
                ErrorCode::CoordinatorNotAvailable,
                format!("{name} has no partitions"),
            )),
        }
    }

    /// The next worker arbiter, round-robin: partitions and groups are spread evenly.
    fn next_arbiter(&mut self) -> ArbiterHandle {
        let a = self.arbiters[self.next_arbiter % self.arbiters.len()].clone();
        self.next_arbiter += 1;
        a
    }

    /// Rebuilds every topic's route and publishes them (at load, and when a dynamic
    /// broker config changes what every topic inherits).
    fn publish(&mut self) {
        self.routes = imbl::HashMap::new();
        self.routes_by_id = imbl::HashMap::new();
        let names: Vec<String> = self.topics.keys().cloned().collect();
        for name in names {
            self.update_route(&name);
        }
        self.store_routing();
    }

    /// Publishes the change of one topic (created, deleted, grown or reconfigured).
    fn publish_topic(&mut self, name: &str) {
        self.update_route(name);
        self.store_routing();
    }

    fn update_route(&mut self, name: &str) {
        let old = self.routes.remove(name);
        if let Some(old) = &old {
            self.routes_by_id.remove(&old.id);
        }
        let Some(t) = self.topics.get(name) else {
            self.metrics.forget_topic(name);
            return;
        };
        // A topic's counters are resolved once, when it first gets a route.
        let metrics = old.map_or_else(|| self.metrics.topic(name), |o| o.metrics.clone());
        // Clients are served only the partitions led here; a follower's replica is the
        // fetchers' alone.
        let led = self.cluster.as_ref().and_then(|c| c.image.topic(name));
        let node = self.config.node_id;
        let partitions = t
            .partitions
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let leads = !self.lease_lost
                    && led.is_none_or(|topic| {
                        topic.partitions.get(i).is_some_and(|p| p.leader == node)
                    });
                p.clone().filter(|_| leads)
            })
            .collect();
        let route = Arc::new(TopicRoute {
            metrics,
            name: name.to_string(),
            id: t.id,
            partitions,
            configs: t.configs.clone(),
            effective: t.configs.effective(&self.config),
            internal: is_internal_topic(name),
        });
        self.routes_by_id.insert(t.id, route.clone());
        self.routes.insert(name.to_string(), route);
    }

    fn store_routing(&self) {
        self.routing.store(Arc::new(Routing {
            topics: self.routes.clone(),
            by_id: self.routes_by_id.clone(),
            groups: self.groups.clone(),
            txns: self.txns.clone(),
            cluster: self.cluster.as_ref().map(|c| Arc::clone(&c.image)),
            generation: Routing::next_generation(),
            node_id: self.config.node_id,
        }));
    }
}

/// The creation of an internal topic: compacted, with its own partition count and
/// segment size.
fn internal_topic(name: &str, num_partitions: i32, segment_bytes: u64, rf: i16) -> CreateTopic {
    CreateTopic {
        name: name.into(),
        num_partitions,
        replication_factor: rf,
        assignments: Vec::new(),
        configs: vec![
            ("cleanup.policy".into(), Some("compact".into())),
            ("segment.bytes".into(), Some(segment_bytes.to_string())),
        ],
        validate_only: false,
    }
}

/// The storage settings of a topic.
fn log_config(e: &EffectiveTopicConfig) -> LogConfig {
    LogConfig {
        segment_bytes: u32::try_from(e.segment_bytes).unwrap_or(u32::MAX),
        segment_ms: e.segment_ms.unwrap_or(u64::MAX),
        segment_index_bytes: e.segment_index_bytes,
        index_interval_bytes: e.index_interval_bytes,
        // A compact-only topic deletes nothing by age or size (Kafka's cleanup.policy).
        retention_ms: e.retention_ms.filter(|_| e.cleanup_policy.delete),
        retention_bytes: e.retention_bytes.filter(|_| e.cleanup_policy.delete),
        flush_messages: e.flush_messages,
        flush_ms: e.flush_ms,
        message_timestamp_type: e.timestamp_type,
        max_message_bytes: e.max_message_bytes,
        compact: e.cleanup_policy.compact,
        delete_retention_ms: e.delete_retention_ms,
        min_compaction_lag_ms: e.min_compaction_lag_ms,
        max_compaction_lag_ms: e.max_compaction_lag_ms,
        min_cleanable_dirty_ratio: e.min_cleanable_dirty_ratio,
        segment_jitter_ms: e.segment_jitter_ms,
        // i64::MAX is Kafka's "no limit".
        timestamp_before_max_ms: Some(e.timestamp_before_max_ms).filter(|&ms| ms < i64::MAX as u64),
        timestamp_after_max_ms: Some(e.timestamp_after_max_ms).filter(|&ms| ms < i64::MAX as u64),
        file_delete_delay_ms: e.file_delete_delay_ms,
        preallocate: e.preallocate,
        producer_id_expiration_ms: u64::from(e.producer_id_expiration_ms),
    }
}

impl Actor for BrokerActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(256);
        self.follow_cluster(ctx);
        // Group and transaction coordinators need the broker's address, so they start
        // here rather than in `load` (in a cluster, as their partitions' leadership
        // comes here).
        self.start_replayed(ctx);
    }
}

/// Answered once the broker actor has started, so once the groups and transactions
/// restored from the internal topics have their coordinators: the server accepts no
/// connection before, and no request finds a restored group missing.
#[derive(Message)]
#[rtype(result = "()")]
pub struct WhenStarted;

impl Handler<WhenStarted> for BrokerActor {
    type Result = ();

    fn handle(&mut self, _: WhenStarted, _: &mut Context<Self>) {}
}

impl Handler<Shutdown> for BrokerActor {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, _: Shutdown, _: &mut Context<Self>) -> Self::Result {
        let closes: Vec<_> = self
            .topics
            .values()
            .flat_map(|t| {
                t.partitions
                    .iter()
                    .flatten()
                    .map(|p| p.addr.send(Close { delete: false }))
            })
            .collect();
        Box::pin(
            async move {
                for res in futures::future::join_all(closes).await {
                    if let Ok(Err(e)) = res {
                        tracing::warn!(error = %e, "closing a partition failed");
                    }
                }
            }
            .into_actor(self),
        )
    }
}

/// Opens (and after a crash recovers) one partition's log: blocking file work, on any
/// thread.
fn open_partition_log(
    data_dir: &std::path::Path,
    config: &Config,
    topic: &str,
    partition: i32,
    configs: &TopicConfigs,
) -> anyhow::Result<partition::OpenLog> {
    let dir = Log::partition_dir(data_dir, topic, partition);
    let log = partition::open_log(dir, log_config(&configs.effective(config)))
        .map_err(|e| anyhow::anyhow!("opening {topic}-{partition}: {e}"))?;
    let stats = log.log.open_stats();
    if stats.recovered {
        tracing::warn!(
            partition = %format_args!("{topic}-{partition}"),
            scanned_bytes = stats.scanned_bytes,
            truncated_segments = stats.truncated_segments,
            rebuilt_indexes = stats.rebuilt_indexes,
            "log recovered after an unclean shutdown"
        );
    } else {
        tracing::debug!(partition = %format_args!("{topic}-{partition}"), walked_bytes = stats.walked_bytes, "log opened");
    }
    Ok(log)
}

/// `f` of every item on up to `threads` scoped threads; the results in item order,
/// `None` for an item whose worker panicked.
fn in_parallel<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<Option<R>> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let threads = threads.clamp(1, items.len().max(1));
    let done: Vec<(usize, R)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut out = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = items.get(i) else { break out };
                        out.push((i, f(item)));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_default())
            .collect()
    });
    let mut slots: Vec<Option<R>> = items.iter().map(|_| None).collect();
    for (i, r) in done {
        slots[i] = Some(r);
    }
    slots
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_parallel_answers_every_item_in_order() {
        let items: Vec<u64> = (0..500).collect();
        let squares = in_parallel(&items, 3, |&i| i * i);
        assert_eq!(squares.len(), 500);
        assert!(squares
            .iter()
            .enumerate()
            .all(|(i, r)| *r == Some(i as u64 * i as u64)));
        assert!(in_parallel(&[] as &[u64], 4, |&i| i).is_empty());
    }

    fn config(dir: &std::path::Path) -> Arc<Config> {
        let mut c = Config::default();
        c.set("log.dirs", &dir.to_string_lossy()).expect("log.dirs");
        c.set("log.segment.bytes", "1048576")
            .expect("segment bytes");
        c.set("max.broker.partitions", "100").expect("cap");
        Arc::new(c)
    }

    fn start(dir: &std::path::Path) -> (Addr<BrokerActor>, RoutingHandle, String) {
        let routing = RoutingHandle::default();
        let (actor, cluster_id) = BrokerActor::load(
            Arc::new(arc_swap::ArcSwap::new(config(dir))),
            vec![Arbiter::current()],
            routing.clone(),
            Arc::new(BrokerMetrics::new(routing.clone(), true)),
            None,
        )
        .expect("load");
        (actor.start(), routing, cluster_id)
    }

    fn create(name: &str, partitions: i32) -> CreateTopic {
        CreateTopic {
            name: name.into(),
            num_partitions: partitions,
            replication_factor: -1,
            assignments: Vec::new(),
            configs: vec![("retention.ms".into(), Some("60000".into()))],
            validate_only: false,
        }
    }

    #[actix::test]
    async fn a_deleted_group_leaves_the_registry_and_its_coordinator_stops() {
        use crate::actors::group_coordinator::{CommitOffsets, DeleteGroup};
        use crate::group::OffsetCommit;
        let dir = tempfile::tempdir().expect("tmp");
        let (broker, routing, _) = start(dir.path());
        broker
            .send(create("orders", 1))
            .await
            .expect("mailbox")
            .expect("created");
        let group = broker
            .send(GetGroupCoordinator("g".into()))
            .await
            .expect("mailbox")
            .expect("coordinator");
        let commit = CommitOffsets {
            api_version: 9,
            member_id: String::new(),
            generation_id: -1,
            group_instance_id: None,
            offsets: vec![OffsetCommit {
                topic: "orders".into(),
                partition: 0,
                offset: 1,
                leader_epoch: -1,
                metadata: None,
            }],
        };
        group
            .send(commit)
            .await
            .expect("mailbox")
            .expect("committed");
        assert!(routing.load().groups.get("g").is_some());
        group
            .send(DeleteGroup)
            .await
            .expect("mailbox")
            .expect("deleted");
        for _ in 0..100 {
            if routing.load().groups.get("g").is_none() && !group.connected() {
                return;
            }
            actix_rt::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the dead group's coordinator is still registered or running");
    }

    #[actix::test]
    async fn topics_are_created_routed_and_deleted_with_their_data() {
        let dir = tempfile::tempdir().expect("tmp");
        let (broker, routing, _) = start(dir.path());
        let created = broker
            .send(create("orders", 3))
            .await
            .expect("mailbox")
            .expect("created");
        assert_eq!(created.num_partitions, 3);
        assert_eq!(
            routing.load().topic("orders").map(|t| t.partitions.len()),
            Some(3)
        );
        assert!(dir.path().join("orders-2").is_dir());

        let again = broker.send(create("orders", 1)).await.expect("mailbox");
        assert_eq!(
            again.map(|_| ()).map_err(|e| e.0),
            Err(ErrorCode::TopicAlreadyExists)
        );
        let bad = broker.send(create("bad/name", 1)).await.expect("mailbox");
        assert_eq!(
            bad.map(|_| ()).map_err(|e| e.0),
            Err(ErrorCode::InvalidTopicException)
        );
        let mut rf3 = create("replicated", 1);
        rf3.replication_factor = 3;
        let rf3 = broker.send(rf3).await.expect("mailbox");
        assert_eq!(
            rf3.map(|_| ()).map_err(|e| e.0),
            Err(ErrorCode::InvalidReplicationFactor)
        );
        let mut bad_config = create("configured", 1);
        bad_config.configs = vec![("no.such.config".into(), Some("1".into()))];
        let bad_config = broker.send(bad_config).await.expect("mailbox");
        assert_eq!(
            bad_config.map(|_| ()).map_err(|e| e.0),
            Err(ErrorCode::InvalidConfig)
        );

        let (name, id) = broker
            .send(DeleteTopic::Id(created.id))
            .await
            .expect("mailbox")
            .expect("deleted");
        assert_eq!(name, "orders");
        assert_eq!(id, created.id);
        assert!(routing.load().topic("orders").is_none());
        assert!(!dir.path().join("orders-0").exists(), "the data is removed");
        let gone = broker
            .send(DeleteTopic::Name("orders".into()))
            .await
            .expect("mailbox");
        assert_eq!(
            gone.map_err(|e| e.0),
            Err(ErrorCode::UnknownTopicOrPartition)
        );
    }

    #[actix::test]
    async fn topics_and_the_cluster_id_survive_a_restart() {
        let dir = tempfile::tempdir().expect("tmp");
        let (broker, _, cluster_id) = start(dir.path());
        let created = broker
            .send(create("kept", 2))
            .await
            .expect("mailbox")
            .expect("created");
        broker
            .send(CreatePartitions {
                name: "kept".into(),
                count: 4,
                assignments: None,
                validate_only: false,
            })
            .await
            .expect("mailbox")
            .expect("grown");
        let shrink = broker
            .send(CreatePartitions {
                name: "kept".into(),
                count: 1,
                assignments: None,
                validate_only: false,
            })
            .await
            .expect("mailbox");
        assert_eq!(shrink.map_err(|e| e.0), Err(ErrorCode::InvalidPartitions));
        broker.send(Shutdown).await.expect("mailbox");

        let (_, routing, cluster_id_again) = start(dir.path());
        assert_eq!(cluster_id, cluster_id_again);
        let routing = routing.load();
        let t = routing.topic("kept").expect("topic kept");
        assert_eq!(t.id, created.id);
        assert_eq!(t.partitions.len(), 4);
        assert_eq!(t.configs.get("retention.ms"), Some("60000"));
    }

    #[actix::test]
    async fn validate_only_creates_nothing() {
        let dir = tempfile::tempdir().expect("tmp");
        let (broker, routing, _) = start(dir.path());
        let mut req = create("dry", 2);
        req.validate_only = true;
        broker.send(req).await.expect("mailbox").expect("valid");
        assert!(routing.load().topic("dry").is_none());
        assert!(!dir.path().join("dry-0").exists());
    }

    #[test]
    fn topic_names_follow_kafkas_rules() {
        assert!(validate_topic_name("a.b_c-9").is_ok());
        for bad in ["", ".", "..", "has space", "ümlaut", &"x".repeat(250)] {
            assert!(validate_topic_name(bad).is_err(), "{bad:?}");
        }
        assert!(validate_topic_name(&"x".repeat(249)).is_ok());
        assert_eq!(collision_key("a.b"), collision_key("a_b"));
        assert_ne!(collision_key("a.b"), collision_key("a-b"));
    }

    #[actix::test]
    async fn topic_changes_are_journaled_and_survive_a_restart_and_the_partition_cap_holds() {
        let dir = tempfile::tempdir().expect("tmp");
        let (broker, routing, _) = start(dir.path());
        for i in 0..30 {
            broker
                .send(create(&format!("t{i}"), 2))
                .await
                .expect("mailbox")
                .expect("created");
        }
        broker
            .send(DeleteTopic::Name("t7".into()))
            .await
            .expect("mailbox")
            .expect("deleted");
        broker
            .send(CreatePartitions {
                name: "t8".into(),
                count: 5,
                assignments: None,
                validate_only: false,
            })
            .await
            .expect("mailbox")
            .expect("grown");
        assert!(dir.path().join(store::TOPICS_JOURNAL).exists());
        let collides = broker.send(create("t_1", 1)).await.expect("mailbox");
        assert_eq!(
            collides.map(|_| ()).map_err(|e| e.0),
            Ok(()),
            "t_1 is its own key"
        );
        let collides = broker.send(create("t.1", 1)).await.expect("mailbox");
        assert_eq!(
            collides.map(|_| ()).map_err(|e| e.0),
            Err(ErrorCode::InvalidTopicException)
        );
        broker.send(Shutdown).await.expect("mailbox");
        drop(routing);

        let (broker, routing, _) = start(dir.path());
        let snapshot = routing.load();
        assert!(snapshot.topic("t7").is_none());
        assert_eq!(snapshot.topic("t8").map(|t| t.partitions.len()), Some(5));
        assert_eq!(snapshot.topics.len(), 30);
        // The restart folded the journal into the snapshot.
        assert!(!dir.path().join(store::TOPICS_JOURNAL).exists());
        // 29 * 2 + 3 + 1 = 62 partitions; the test config allows 100.
        let over = broker.send(create("big", 39)).await.expect("mailbox");
        assert_eq!(
            over.map(|_| ()).map_err(|e| e.0),
            Err(ErrorCode::PolicyViolation)
        );
        broker
            .send(create("fits", 38))
            .await
            .expect("mailbox")
            .expect("created");
        let grow = broker
            .send(CreatePartitions {
                name: "fits".into(),
                count: 39,
                assignments: None,
                validate_only: false,
            })
            .await
            .expect("mailbox");
        assert_eq!(grow.map_err(|e| e.0), Err(ErrorCode::PolicyViolation));
    }
}
