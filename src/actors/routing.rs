//! The read-only routing snapshot: which actor owns each partition. The `BrokerActor`
//! publishes a new snapshot after every metadata change; connections load it per
//! request, so the produce and fetch paths never pass through the broker's mailbox.

use super::group_coordinator::GroupCoordinatorActor;
use super::partition::{PartitionActor, PartitionOffsets};
use super::txn_coordinator::TxnCoordinatorActor;
use crate::config::{EffectiveTopicConfig, TopicConfigs};
use crate::group::consumer::TopicMetadata;
use actix::{Actor, Addr};
use arc_swap::ArcSwap;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use tokio::sync::watch;
use uuid::Uuid;

/// One partition: its actor and the offsets it last reported.
#[derive(Clone)]
pub struct PartitionRoute {
    pub addr: Addr<PartitionActor>,
    pub offsets: watch::Receiver<PartitionOffsets>,
}

impl PartitionRoute {
    pub fn offsets(&self) -> PartitionOffsets {
        *self.offsets.borrow()
    }

    /// A watch of the offsets of its own, for a reader that waits for them to change.
    pub fn watch(&self) -> OffsetsWatch {
        OffsetsWatch(self.offsets.clone())
    }
}

/// A partition's offsets as one reader follows them: what it has seen, and a wait for
/// the next change after that.
pub struct OffsetsWatch(watch::Receiver<PartitionOffsets>);

impl OffsetsWatch {
    /// The offsets now, marked seen: the next change after them completes
    /// [`OffsetsWatch::changed`].
    pub fn seen(&mut self) -> PartitionOffsets {
        *self.0.borrow_and_update()
    }

    /// Completes at the first change of the offsets after the last one seen, or at
    /// once when the partition has gone (its actor stopped).
    pub async fn changed(&mut self) {
        let _ = self.0.changed().await;
    }

    /// Like [`OffsetsWatch::changed`], telling a partition that has gone apart.
    pub async fn changed_or_gone(&mut self) -> Result<(), watch::error::RecvError> {
        self.0.changed().await
    }
}

/// Waits up to `wait` for any of `watches` to report new offsets (an append, the last
/// stable offset moving, the log start moving, or the partition going away). No
/// message reaches a partition: a waiting fetch costs its actors nothing.
pub async fn any_change<'a>(
    watches: impl IntoIterator<Item = &'a mut OffsetsWatch>,
    wait: std::time::Duration,
) {
    let changes: Vec<_> = watches.into_iter().map(|w| Box::pin(w.changed())).collect();
    if changes.is_empty() {
        return;
    }
    let _ = tokio::time::timeout(wait, futures::future::select_all(changes)).await;
}

/// One topic.
pub struct TopicRoute {
    pub name: String,
    pub id: Uuid,
    /// Every partition of the topic; `None` for one another broker of the cluster
    /// leads (see [`Routing::cluster`] for which).
    pub partitions: Vec<Option<PartitionRoute>>,
    pub configs: TopicConfigs,
    /// The configs resolved against the broker's, computed once per metadata change.
    pub effective: EffectiveTopicConfig,
    pub internal: bool,
    /// The topic's counters (and the all-topics ones), resolved once.
    pub metrics: crate::metrics::TopicMetrics,
}

/// The coordinators of one kind (groups, transactional ids) by id: written by the
/// `BrokerActor` alone, read by every handler. Shared rather than copied into each
/// routing snapshot: a broker may know hundreds of thousands of ids, and a copy per new
/// id would make starting each one cost as much as all before it.
pub struct Registry<A: Actor>(Arc<RwLock<HashMap<String, Addr<A>>>>);

impl<A: Actor> Clone for Registry<A> {
    fn clone(&self) -> Self {
        Registry(Arc::clone(&self.0))
    }
}

impl<A: Actor> Default for Registry<A> {
    fn default() -> Self {
        Registry(Arc::default())
    }
}

impl<A: Actor> Registry<A> {
    pub fn get(&self, id: &str) -> Option<Addr<A>> {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .cloned()
    }

    pub fn insert(&self, id: String, addr: Addr<A>) {
        self.0
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, addr);
    }

    /// Removes `id` if it still maps to `addr` (and not to a newer actor).
    pub fn remove_if(&self, id: &str, addr: &Addr<A>) {
        let mut map = self.0.write().unwrap_or_else(PoisonError::into_inner);
        if map.get(id) == Some(addr) {
            map.remove(id);
        }
    }

    /// The ids (and their actors) that `keep` accepts, for the List* APIs.
    pub fn filtered(&self, keep: impl Fn(&str) -> bool) -> Vec<(String, Addr<A>)> {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|(id, _)| keep(id))
            .map(|(id, addr)| (id.clone(), addr.clone()))
            .collect()
    }
}

/// Every topic, by name and by id, and the coordinator of every group and transactional
/// id. The topic maps are persistent (structurally shared): the broker publishes a
/// changed topic by inserting it into its own copy, O(log n), and the snapshot is an
/// O(1) clone of that copy, so a topic change costs the same whatever the topic count.
#[derive(Default)]
pub struct Routing {
    pub topics: imbl::HashMap<String, Arc<TopicRoute>>,
    pub by_id: imbl::HashMap<Uuid, Arc<TopicRoute>>,
    pub groups: Registry<GroupCoordinatorActor>,
    pub txns: Registry<TxnCoordinatorActor>,
    /// The cluster's metadata image this snapshot was built from; `None` for a single
    /// broker.
    pub cluster: Option<Arc<crate::cluster::MetadataImage>>,
    /// Different in every snapshot the broker publishes, so a reader can tell that the
    /// topics may have changed without comparing them.
    pub generation: u64,
    /// This broker's `node.id`.
    pub node_id: i32,
}

static GENERATION: AtomicU64 = AtomicU64::new(1);

impl Routing {
    /// A generation no snapshot had before.
    pub fn next_generation() -> u64 {
        GENERATION.fetch_add(1, Ordering::Relaxed)
    }

    pub fn topic(&self, name: &str) -> Option<&Arc<TopicRoute>> {
        self.topics.get(name)
    }

    pub fn topic_by_id(&self, id: &Uuid) -> Option<&Arc<TopicRoute>> {
        self.by_id.get(id)
    }

    /// The partition, if this broker leads it.
    pub fn partition(&self, topic: &str, partition: i32) -> Option<&PartitionRoute> {
        self.topics.get(topic)?.partition(partition)
    }
}

impl TopicRoute {
    /// Partition `partition`, if it exists and this broker leads it.
    pub fn partition(&self, partition: i32) -> Option<&PartitionRoute> {
        let p = usize::try_from(partition).ok()?;
        self.partitions.get(p)?.as_ref()
    }

    /// Whether the topic has partition `partition` (led here or elsewhere).
    pub fn has_partition(&self, partition: i32) -> bool {
        usize::try_from(partition).is_ok_and(|p| p < self.partitions.len())
    }

    /// The error for a partition this broker cannot serve: another broker leads it
    /// (NOT_LEADER_OR_FOLLOWER) or it does not exist (UNKNOWN_TOPIC_OR_PARTITION).
    pub fn unserved(&self, partition: i32) -> crate::protocol::ErrorCode {
        if self.has_partition(partition) {
            crate::protocol::ErrorCode::NotLeaderOrFollower
        } else {
            crate::protocol::ErrorCode::UnknownTopicOrPartition
        }
    }
}

/// What a consumer group sees of the topics: the non-internal ones.
impl TopicMetadata for Routing {
    fn topic(&self, name: &str) -> Option<(Uuid, u32)> {
        let t = self.topics.get(name).filter(|t| !t.internal)?;
        Some((t.id, u32::try_from(t.partitions.len()).unwrap_or(u32::MAX)))
    }

    fn topic_name(&self, id: &Uuid) -> Option<String> {
        self.by_id.get(id).map(|t| t.name.clone())
    }

    fn topic_names(&self) -> Vec<String> {
        self.topics
            .values()
            .filter(|t| !t.internal)
            .map(|t| t.name.clone())
            .collect()
    }

    fn generation(&self) -> u64 {
        self.generation
    }
}

/// The shared handle: the broker stores, connections load.
pub type RoutingHandle = Arc<ArcSwap<Routing>>;
