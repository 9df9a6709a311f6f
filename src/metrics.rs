//! What the broker counts about itself, served on `/metrics` under the names Kafka's
//! JMX exporter gives the same measurements (so that dashboards built for Kafka read
//! Aeon unchanged).
//!
//! Cost on the request path: every counter a request bumps is resolved before the
//! request arrives (per topic when the topic is created, per API version at start), so
//! a bump is one relaxed atomic add; no lock, no allocation, no label lookup. Gauges
//! that describe state (partitions, offsets) are read from the routing snapshot when
//! `/metrics` is scraped.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use crate::actors::routing::RoutingHandle;
use crate::protocol::ApiKey;

type Labels = Vec<(String, String)>;

/// The per-topic families of `kafka.server:type=BrokerTopicMetrics`.
struct TopicFamilies {
    messages_in: Family<Labels, Counter>,
    bytes_in: Family<Labels, Counter>,
    bytes_out: Family<Labels, Counter>,
    failed_produce: Family<Labels, Counter>,
    failed_fetch: Family<Labels, Counter>,
}

impl TopicFamilies {
    fn new(registry: &mut Registry) -> Self {
        let mut family = |name: &str, help: &str| {
            let f = Family::<Labels, Counter>::default();
            registry.register(
                format!("kafka_server_brokertopicmetrics_{name}"),
                help,
                f.clone(),
            );
            f
        };
        TopicFamilies {
            messages_in: family("messagesin", "Records appended by produce requests"),
            bytes_in: family(
                "bytesin",
                "Bytes of record batches appended by produce requests",
            ),
            bytes_out: family(
                "bytesout",
                "Bytes of record batches returned by fetch requests",
            ),
            failed_produce: family(
                "failedproducerequests",
                "Partitions of produce requests that failed",
            ),
            failed_fetch: family(
                "failedfetchrequests",
                "Partitions of fetch requests that failed",
            ),
        }
    }

    /// The counters of one label set (a topic's, or none: the all-topics series).
    fn counters(&self, labels: &Labels) -> TopicCounters {
        TopicCounters {
            messages_in: self.messages_in.get_or_create(labels).clone(),
            bytes_in: self.bytes_in.get_or_create(labels).clone(),
            bytes_out: self.bytes_out.get_or_create(labels).clone(),
            failed_produce: self.failed_produce.get_or_create(labels).clone(),
            failed_fetch: self.failed_fetch.get_or_create(labels).clone(),
        }
    }
}

#[derive(Clone, Debug)]
struct TopicCounters {
    messages_in: Counter,
    bytes_in: Counter,
    bytes_out: Counter,
    failed_produce: Counter,
    failed_fetch: Counter,
}

/// One topic's counters and the all-topics ones, resolved when the topic is created;
/// each method bumps both (and nothing when metrics are off).
#[derive(Clone, Debug)]
pub struct TopicMetrics(Option<Box<[TopicCounters; 2]>>);

impl TopicMetrics {
    fn each(&self) -> &[TopicCounters] {
        self.0.as_deref().map_or(&[], |c| c.as_slice())
    }

    /// A produced batch of `records` records and `bytes` bytes was appended.
    pub fn produced(&self, records: u64, bytes: u64) {
        for c in self.each() {
            c.messages_in.inc_by(records);
            c.bytes_in.inc_by(bytes);
        }
    }

    /// A fetch returned `bytes` bytes of record batches of this topic.
    pub fn fetched(&self, bytes: u64) {
        if bytes > 0 {
            for c in self.each() {
                c.bytes_out.inc_by(bytes);
            }
        }
    }

    pub fn produce_failed(&self) {
        for c in self.each() {
            c.failed_produce.inc();
        }
    }

    pub fn fetch_failed(&self) {
        for c in self.each() {
            c.failed_fetch.inc();
        }
    }
}

/// The upper bounds of the request time buckets, in milliseconds (Kafka's unit for
/// request times); one more bucket takes the rest.
const TIME_BUCKETS_MS: [f64; 14] = [
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 1000.0, 5000.0,
];

/// A histogram of durations in atomics: recording one is three relaxed adds.
#[derive(Debug, Default)]
struct TimeHistogram {
    buckets: [AtomicU64; TIME_BUCKETS_MS.len() + 1],
    count: AtomicU64,
    sum_ns: AtomicU64,
}

impl TimeHistogram {
    fn observe(&self, elapsed: Duration) {
        let ms = elapsed.as_secs_f64() * 1000.0;
        let bucket = TIME_BUCKETS_MS
            .iter()
            .position(|&bound| ms <= bound)
            .unwrap_or(TIME_BUCKETS_MS.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        let ns = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.sum_ns.fetch_add(ns, Ordering::Relaxed);
    }
}

/// A request's times on its connection, one histogram per phase (Kafka's phases).
#[derive(Debug, Default)]
struct ApiTimes {
    total: TimeHistogram,
    request_queue: TimeHistogram,
    local: TimeHistogram,
    response_queue: TimeHistogram,
    response_send: TimeHistogram,
}

/// The moments a request passed on its connection.
#[derive(Debug, Clone, Copy)]
pub struct RequestTiming {
    /// Its frame was read whole off the socket.
    pub received: Instant,
    /// Its connection took it up and started its handler.
    pub dispatched: Instant,
    /// Its response was built and encoded.
    pub answered: Instant,
}

/// The phases as Kafka names them: the series, its help, and where its histogram is.
/// A phase's histogram among an API's.
type Phase = fn(&ApiTimes) -> &TimeHistogram;

const PHASES: [(&str, &str, Phase); 5] = [
    (
        "kafka_network_requestmetrics_totaltimems",
        "Time from a request read whole to its response written to the socket, in milliseconds",
        |t| &t.total,
    ),
    (
        "kafka_network_requestmetrics_requestqueuetimems",
        "Time a request waited, read, for its connection to take it up, in milliseconds",
        |t| &t.request_queue,
    ),
    (
        "kafka_network_requestmetrics_localtimems",
        "Time a request's handler took to build and encode its response, in milliseconds (Aeon has no remote phase: waits for data or a flush are in it)",
        |t| &t.local,
    ),
    (
        "kafka_network_requestmetrics_responsequeuetimems",
        "Time a response waited for its writer (and for earlier responses of its connection), in milliseconds",
        |t| &t.response_queue,
    ),
    (
        "kafka_network_requestmetrics_responsesendtimems",
        "Time a response took to be written to the socket, in milliseconds",
        |t| &t.response_send,
    ),
];

/// The request-time histograms, one family per phase, one series per API.
struct RequestTimes(Arc<Vec<Option<ApiTimes>>>);

impl std::fmt::Debug for RequestTimes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RequestTimes")
    }
}

impl Collector for RequestTimes {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        for (name, help, phase) in PHASES {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Histogram)?;
            for (api, times) in ApiKey::ALL
                .iter()
                .filter_map(|&api| Some((api, self.0.get(api_index(api)?)?.as_ref()?)))
            {
                let h = phase(times);
                let count = h.count.load(Ordering::Relaxed);
                let buckets: Vec<(f64, u64)> = TIME_BUCKETS_MS
                    .iter()
                    .copied()
                    .chain([f64::INFINITY])
                    .zip(h.buckets.iter().map(|b| b.load(Ordering::Relaxed)))
                    .collect();
                let sum_ms = h.sum_ns.load(Ordering::Relaxed) as f64 / 1e6;
                let labels: Labels = vec![("request".to_string(), api.name().to_string())];
                family
                    .encode_family(&labels)?
                    .encode_histogram::<Labels>(sum_ms, count, &buckets, None)?;
            }
        }
        Ok(())
    }
}

/// What coordinators publish for the scrape: one value per group or transactional
/// id, replaced on a change, read when `/metrics` is scraped.
#[derive(Debug)]
pub struct Board<V>(RwLock<HashMap<String, V>>);

impl<V> Default for Board<V> {
    fn default() -> Self {
        Board(RwLock::new(HashMap::new()))
    }
}

impl<V> Board<V> {
    /// Replaces `key`'s value; `None` removes it.
    pub fn publish(&self, key: &str, value: Option<V>) {
        let mut map = self.0.write().unwrap_or_else(PoisonError::into_inner);
        match value {
            Some(v) => {
                map.insert(key.to_string(), v);
            }
            None => {
                map.remove(key);
            }
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, V>> {
        self.0.read().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Each group's committed offsets as its coordinator last published them (on offset
/// changes: commits, deletions, expiry, transaction outcomes), for the lag series.
pub type CommittedOffsets = Board<GroupOffsets>;

/// One group's committed offsets: (topic, partition, offset).
pub type GroupOffsets = Vec<(String, i32, i64)>;

/// Each live group's protocol ("classic" or "consumer") and Kafka state name.
pub type GroupStates = Board<(&'static str, &'static str)>;

/// Each transactional id's state, by Kafka's name (Empty, Ongoing, PrepareCommit, ...).
pub type TxnStates = Board<&'static str>;

/// The transaction coordinator's gauges: ids by state, and the open transactions.
struct TxnGauges {
    states: Arc<TxnStates>,
}

impl std::fmt::Debug for TxnGauges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TxnGauges")
    }
}

/// Kafka's transaction states, as DescribeTransactions names them.
const TXN_STATES: [&str; 8] = [
    "Empty",
    "Ongoing",
    "PrepareCommit",
    "PrepareAbort",
    "CompleteCommit",
    "CompleteAbort",
    "PrepareEpochFence",
    "Dead",
];

impl Collector for TxnGauges {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let states = self.states.read();
        let count = |state: &str| states.values().filter(|s| **s == state).count() as i64;
        let mut family = encoder.encode_descriptor(
            "kafka_server_transaction_coordinator_metrics_transactional_id_count",
            "Transactional ids by the state of their transaction",
            None,
            MetricType::Gauge,
        )?;
        for state in TXN_STATES {
            let labels: Labels = vec![("state".to_string(), state.to_string())];
            ConstGauge::new(count(state)).encode(family.encode_family(&labels)?)?;
        }
        // Open: begun and not yet complete (Ongoing, or its end decided and its markers
        // not all written).
        let open = [
            "Ongoing",
            "PrepareCommit",
            "PrepareAbort",
            "PrepareEpochFence",
        ]
        .iter()
        .map(|s| count(s))
        .sum::<i64>();
        ConstGauge::new(open).encode(encoder.encode_descriptor(
            "kafka_server_transaction_coordinator_metrics_open_transaction_count",
            "Transactions begun and not yet complete",
            None,
            MetricType::Gauge,
        )?)?;
        Ok(())
    }
}

/// The group coordinator's gauges, with the names Kafka 4's `group-coordinator-metrics`
/// get from the JMX exporter.
struct GroupGauges {
    states: Arc<GroupStates>,
    committed: Arc<CommittedOffsets>,
}

impl std::fmt::Debug for GroupGauges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GroupGauges")
    }
}

const CLASSIC_STATES: [&str; 5] = [
    "PreparingRebalance",
    "CompletingRebalance",
    "Stable",
    "Dead",
    "Empty",
];
const CONSUMER_STATES: [&str; 5] = ["Empty", "Assigning", "Reconciling", "Stable", "Dead"];

impl Collector for GroupGauges {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let states = self.states.read();
        let count = |protocol: &str, state: Option<&str>| {
            states
                .values()
                .filter(|(p, s)| *p == protocol && state.is_none_or(|want| *s == want))
                .count() as i64
        };
        let mut groups = encoder.encode_descriptor(
            "kafka_server_group_coordinator_metrics_group_count",
            "Groups by rebalance protocol",
            None,
            MetricType::Gauge,
        )?;
        for protocol in ["classic", "consumer"] {
            let labels: Labels = vec![("protocol".to_string(), protocol.to_string())];
            ConstGauge::new(count(protocol, None)).encode(groups.encode_family(&labels)?)?;
        }
        for (name, help, protocol, all) in [
            (
                "kafka_server_group_coordinator_metrics_classic_group_count",
                "Classic groups by state",
                "classic",
                &CLASSIC_STATES,
            ),
            (
                "kafka_server_group_coordinator_metrics_consumer_group_count",
                "Consumer groups by state",
                "consumer",
                &CONSUMER_STATES,
            ),
        ] {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            for state in all {
                let labels: Labels = vec![("state".to_string(), state.to_string())];
                ConstGauge::new(count(protocol, Some(state)))
                    .encode(family.encode_family(&labels)?)?;
            }
        }
        drop(states);
        let offsets: i64 = self.committed.read().values().map(|o| o.len() as i64).sum();
        ConstGauge::new(offsets).encode(encoder.encode_descriptor(
            "kafka_server_group_coordinator_metrics_offset_count",
            "Committed offsets retained",
            None,
            MetricType::Gauge,
        )?)?;
        Ok(())
    }
}

/// The lag series, with kafka_exporter's names.
struct LagGauges {
    routing: RoutingHandle,
    committed: Arc<CommittedOffsets>,
}

impl std::fmt::Debug for LagGauges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LagGauges")
    }
}

impl Collector for LagGauges {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let routing = self.routing.load();
        let end = |topic: &str, partition: i32| {
            routing
                .partition(topic, partition)
                .map(|p| p.offsets().high_watermark)
        };
        let mut current = encoder.encode_descriptor(
            "kafka_topic_partition_current_offset",
            "The partition's high watermark",
            None,
            MetricType::Gauge,
        )?;
        for topic in routing.topics.values().filter(|t| !t.internal) {
            for (index, p) in topic.partitions.iter().enumerate() {
                // Only the partitions this broker leads.
                let Some(p) = p else { continue };
                let labels: Labels = vec![
                    ("topic".to_string(), topic.name.clone()),
                    ("partition".to_string(), index.to_string()),
                ];
                ConstGauge::new(p.offsets().high_watermark)
                    .encode(current.encode_family(&labels)?)?;
            }
        }
        let groups = self.committed.read();
        for (name, help, lag) in [
            (
                "kafka_consumergroup_current_offset",
                "The group's committed offset of the partition",
                false,
            ),
            (
                "kafka_consumergroup_lag",
                "The partition's high watermark minus the group's committed offset",
                true,
            ),
        ] {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            for (group, offsets) in groups.iter() {
                for (topic, partition, offset) in offsets {
                    // Only partitions that exist: a deleted topic's offsets have no lag.
                    let Some(high) = end(topic, *partition) else {
                        continue;
                    };
                    let labels: Labels = vec![
                        ("consumergroup".to_string(), group.clone()),
                        ("topic".to_string(), topic.clone()),
                        ("partition".to_string(), partition.to_string()),
                    ];
                    let value = if lag { (high - offset).max(0) } else { *offset };
                    ConstGauge::new(value).encode(family.encode_family(&labels)?)?;
                }
            }
        }
        Ok(())
    }
}

/// One listener's connection series (nothing when metrics are off).
#[derive(Debug, Clone)]
pub struct ListenerMetrics(Option<(Gauge, Counter)>);

impl ListenerMetrics {
    pub fn opened(&self) {
        if let Some((open, accepted)) = &self.0 {
            open.inc();
            accepted.inc();
        }
    }

    pub fn closed(&self) {
        if let Some((open, _)) = &self.0 {
            open.dec();
        }
    }
}

/// The broker's metrics: the registry `/metrics` encodes, and the handles the request
/// paths bump.
pub struct BrokerMetrics {
    /// Off when nothing can scrape them (`metrics.listener` empty): the request paths
    /// then record nothing.
    enabled: bool,
    response_encode_failures: AtomicU64,
    ready: AtomicBool,
    registry: Registry,
    topics: TopicFamilies,
    all_topics: TopicCounters,
    /// `requests[api key][version]`, for the versions the broker decodes.
    requests: Vec<Option<Vec<Counter>>>,
    connection_counts: Family<Labels, Gauge>,
    connection_creations: Family<Labels, Counter>,
    /// Per API, indexed by its key.
    request_times: Arc<Vec<Option<ApiTimes>>>,
    committed: Arc<CommittedOffsets>,
    group_states: Arc<GroupStates>,
    txn_states: Arc<TxnStates>,
}

impl std::fmt::Debug for BrokerMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerMetrics").finish_non_exhaustive()
    }
}

impl BrokerMetrics {
    /// The metrics of a broker whose topics and partitions `routing` describes;
    /// recorded only when `enabled`.
    pub fn new(routing: RoutingHandle, enabled: bool) -> Self {
        let mut registry = Registry::default();
        let topics = TopicFamilies::new(&mut registry);
        let all_topics = topics.counters(&Vec::new());
        let requests_family = Family::<Labels, Counter>::default();
        registry.register(
            "kafka_network_requestmetrics_requests",
            "Requests received, by API and version",
            requests_family.clone(),
        );
        let requests = by_api_key(|api| {
            let versions = api.versions();
            (0..=versions.max)
                .map(|v| {
                    if v < versions.min {
                        // Never bumped: a version below the floor fails to decode.
                        return Counter::default();
                    }
                    requests_family
                        .get_or_create(&vec![
                            ("request".to_string(), api.name().to_string()),
                            ("version".to_string(), v.to_string()),
                        ])
                        .clone()
                })
                .collect()
        });
        // Per listener, as Kafka labels them (see `listener`).
        let connection_counts = Family::<Labels, Gauge>::default();
        registry.register(
            "kafka_server_socket_server_metrics_connection_count",
            "Open client connections",
            connection_counts.clone(),
        );
        let connection_creations = Family::<Labels, Counter>::default();
        registry.register(
            "kafka_server_socket_server_metrics_connection_creation",
            "Client connections accepted",
            connection_creations.clone(),
        );
        let committed = Arc::new(CommittedOffsets::default());
        registry.register_collector(Box::new(LagGauges {
            routing: routing.clone(),
            committed: committed.clone(),
        }));
        registry.register_collector(Box::new(PartitionGauges { routing }));
        let group_states = Arc::new(GroupStates::default());
        registry.register_collector(Box::new(GroupGauges {
            states: group_states.clone(),
            committed: committed.clone(),
        }));
        let txn_states = Arc::new(TxnStates::default());
        registry.register_collector(Box::new(TxnGauges {
            states: txn_states.clone(),
        }));
        let request_times = Arc::new(by_api_key(|_| ApiTimes::default()));
        registry.register_collector(Box::new(RequestTimes(request_times.clone())));
        BrokerMetrics {
            enabled,
            response_encode_failures: AtomicU64::new(0),
            ready: AtomicBool::new(false),
            registry,
            topics,
            all_topics,
            requests,
            connection_counts,
            connection_creations,
            request_times,
            committed,
            group_states,
            txn_states,
        }
    }

    /// Where transaction coordinators publish their id's state.
    pub fn txn_states(&self) -> &TxnStates {
        &self.txn_states
    }

    /// Where group coordinators publish their group's protocol and state.
    pub fn group_states(&self) -> &GroupStates {
        &self.group_states
    }

    /// Where group coordinators publish their committed offsets.
    pub fn committed_offsets(&self) -> &CommittedOffsets {
        &self.committed
    }

    /// Whether the request paths record (the operations listener is on).
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The counters of topic `name`, created once when the broker learns the topic.
    pub fn topic(&self, name: &str) -> TopicMetrics {
        TopicMetrics(self.enabled.then(|| {
            let topic = vec![("topic".to_string(), name.to_string())];
            Box::new([self.topics.counters(&topic), self.all_topics.clone()])
        }))
    }

    /// Drops a deleted topic's series.
    pub fn forget_topic(&self, name: &str) {
        let labels = vec![("topic".to_string(), name.to_string())];
        for family in [
            &self.topics.messages_in,
            &self.topics.bytes_in,
            &self.topics.bytes_out,
            &self.topics.failed_produce,
            &self.topics.failed_fetch,
        ] {
            family.remove(&labels);
        }
    }

    /// A request of `api` at `version` arrived (the version was decoded, so it is in
    /// the table).
    pub fn request(&self, api: ApiKey, version: i16) {
        if !self.enabled {
            return;
        }
        if let Some(c) = api_index(api)
            .and_then(|i| self.requests.get(i)?.as_ref())
            .and_then(|by_version| by_version.get(usize::try_from(version).ok()?))
        {
            c.inc();
        }
    }

    /// A request of `api` is done: its response was taken by the connection's writer at
    /// `picked` and written by `sent` (both `timing.answered` for a request that has no
    /// response, an acks=0 produce).
    pub fn request_done(
        &self,
        api: ApiKey,
        timing: &RequestTiming,
        picked: Instant,
        sent: Instant,
    ) {
        if !self.enabled {
            return;
        }
        let Some(t) = api_index(api).and_then(|i| self.request_times.get(i)?.as_ref()) else {
            return;
        };
        let since = |later: Instant, earlier: Instant| later.saturating_duration_since(earlier);
        t.request_queue
            .observe(since(timing.dispatched, timing.received));
        t.local.observe(since(timing.answered, timing.dispatched));
        t.response_queue.observe(since(picked, timing.answered));
        t.response_send.observe(since(sent, picked));
        t.total.observe(since(sent, timing.received));
    }

    /// The connection series of listener `name`, resolved once when it binds.
    pub fn listener(&self, name: &str) -> ListenerMetrics {
        let labels: Labels = vec![("listener".to_string(), name.to_string())];
        ListenerMetrics(self.enabled.then(|| {
            (
                self.connection_counts.get_or_create(&labels).clone(),
                self.connection_creations.get_or_create(&labels).clone(),
            )
        }))
    }

    /// Startup is over: every partition opened, the coordinators restored, the listener
    /// bound.
    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::Release);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Every series, in the OpenMetrics text format (which Prometheus scrapes).
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }

    /// A response the broker built could not be encoded at the request's version: a
    /// broker bug (a handler filled a field that version lacks), never a client error.
    pub fn note_response_encode_failure(&self) {
        self.response_encode_failures
            .fetch_add(1, Ordering::Relaxed);
    }

    /// How many responses failed to encode since the broker started.
    pub fn response_encode_failures(&self) -> u64 {
        self.response_encode_failures.load(Ordering::Relaxed)
    }
}

/// Where `api` stands in the per-API tables: at its key, so a request finds its entry
/// without a search.
fn api_index(api: ApiKey) -> Option<usize> {
    usize::try_from(api.code()).ok()
}

/// A per-API table indexed by API key (`None` at keys the broker does not know).
fn by_api_key<T>(make: impl Fn(ApiKey) -> T) -> Vec<Option<T>> {
    let mut table: Vec<Option<T>> = Vec::new();
    for api in ApiKey::ALL.iter().copied() {
        let Some(i) = api_index(api) else { continue };
        if table.len() <= i {
            table.resize_with(i + 1, || None);
        }
        table[i] = Some(make(api));
    }
    table
}

/// Partition gauges, read from the routing snapshot at each scrape.
struct PartitionGauges {
    routing: RoutingHandle,
}

impl std::fmt::Debug for PartitionGauges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PartitionGauges")
    }
}

impl Collector for PartitionGauges {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let routing = self.routing.load();
        // A single broker holds and leads every partition, none under-replicated; in a
        // cluster the image says which replicas are here and which it leads.
        let (partitions, leaders, under) = match &routing.cluster {
            None => {
                let n: i64 = routing
                    .topics
                    .values()
                    .map(|t| t.partitions.len() as i64)
                    .sum();
                (n, n, 0)
            }
            Some(image) => {
                let me = routing.node_id;
                let all = image.topics.values().flat_map(|t| &t.partitions);
                all.fold((0, 0, 0), |(p, l, u), part| {
                    let here = i64::from(part.replicas.contains(&me));
                    let leads = part.leader == me;
                    let short = leads && part.isr.len() < part.replicas.len();
                    (p + here, l + i64::from(leads), u + i64::from(short))
                })
            }
        };
        for (name, help, value) in [
            (
                "kafka_server_replicamanager_partitioncount",
                "Partitions on this broker",
                partitions,
            ),
            (
                "kafka_server_replicamanager_leadercount",
                "Partitions this broker leads",
                leaders,
            ),
            (
                "kafka_server_replicamanager_underreplicatedpartitions",
                "Partitions this broker leads with fewer in-sync replicas than replicas",
                under,
            ),
        ] {
            let metric = ConstGauge::new(value);
            metric.encode(encoder.encode_descriptor(name, help, None, MetricType::Gauge)?)?;
        }
        for (name, help, read) in [
            (
                "kafka_log_log_logendoffset",
                "The offset the next record of the partition gets",
                (|o: &crate::actors::partition::PartitionOffsets| o.high_watermark)
                    as fn(&crate::actors::partition::PartitionOffsets) -> i64,
            ),
            (
                "kafka_log_log_logstartoffset",
                "The first offset of the partition",
                |o| o.log_start_offset,
            ),
            (
                "kafka_log_log_size",
                "Bytes of the partition's batches in all its segments",
                |o| i64::try_from(o.size_bytes).unwrap_or(i64::MAX),
            ),
        ] {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            for topic in routing.topics.values() {
                for (index, partition) in topic.partitions.iter().enumerate() {
                    let Some(partition) = partition else { continue };
                    let mut label = String::new();
                    write!(label, "{index}")?;
                    let labels: Labels = vec![
                        ("topic".to_string(), topic.name.clone()),
                        ("partition".to_string(), label),
                    ];
                    let value = read(&partition.offsets());
                    ConstGauge::new(value).encode(family.encode_family(&labels)?)?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(m: &BrokerMetrics, name: &str) -> Option<f64> {
        m.encode()
            .expect("encodes")
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
    }

    /// With the operations listener off nothing is recorded; on, the same calls count.
    #[test]
    fn metrics_off_record_nothing_and_on_record_everything() {
        for enabled in [false, true] {
            let m = BrokerMetrics::new(RoutingHandle::default(), enabled);
            let t = m.topic("t");
            t.produced(3, 300);
            m.request(ApiKey::Produce, 9);
            m.listener("PLAINTEXT").opened();
            let now = Instant::now();
            let timing = RequestTiming {
                received: now,
                dispatched: now,
                answered: now,
            };
            m.request_done(ApiKey::Produce, &timing, now, now);
            let want = if enabled { 1.0 } else { 0.0 };
            let name = |n: &str| format!("kafka_server_brokertopicmetrics_{n}_total");
            assert_eq!(series(&m, &name("messagesin")), Some(3.0 * want));
            assert_eq!(
                series(
                    &m,
                    "kafka_network_requestmetrics_requests_total{request=\"Produce\",version=\"9\"}"
                ),
                Some(want)
            );
            assert_eq!(
                series(
                    &m,
                    "kafka_server_socket_server_metrics_connection_count{listener=\"PLAINTEXT\"}"
                ),
                enabled.then_some(1.0),
                "a listener's series exist only with metrics on"
            );
            assert_eq!(
                series(
                    &m,
                    "kafka_network_requestmetrics_totaltimems_count{request=\"Produce\"}"
                ),
                Some(want)
            );
        }
    }
}
