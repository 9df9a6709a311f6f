//! The read-only routing snapshot: which actor owns each partition. The `BrokerActor`
//! publishes a new snapshot after every metadata change; connections load it per
//! request, so the produce and fetch paths never pass through the broker's mailbox.

use super::group_coordinator::GroupCoordinatorActor;
use super::partition::{PartitionActor, PartitionOffsets};
use super::txn_coordinator::TxnCoordinatorActor;
use crate::config::{EffectiveTopicConfig, TopicConfigs};
use actix::Addr;
use arc_swap::ArcSwap;
use std::collections::HashMap;
use std::sync::Arc;
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
}

/// One topic.
pub struct TopicRoute {
    pub name: String,
    pub id: Uuid,
    pub partitions: Vec<PartitionRoute>,
    pub configs: TopicConfigs,
    /// The configs resolved against the broker's, computed once per metadata change.
    pub effective: EffectiveTopicConfig,
    pub internal: bool,
}

/// Every topic, by name and by id, and the coordinator of every group and transactional
/// id.
#[derive(Default)]
pub struct Routing {
    pub topics: HashMap<String, Arc<TopicRoute>>,
    pub by_id: HashMap<Uuid, Arc<TopicRoute>>,
    pub groups: HashMap<String, Addr<GroupCoordinatorActor>>,
    pub txns: HashMap<String, Addr<TxnCoordinatorActor>>,
}

impl Routing {
    pub fn topic(&self, name: &str) -> Option<&Arc<TopicRoute>> {
        self.topics.get(name)
    }

    pub fn topic_by_id(&self, id: &Uuid) -> Option<&Arc<TopicRoute>> {
        self.by_id.get(id)
    }

    pub fn partition(&self, topic: &str, partition: i32) -> Option<&PartitionRoute> {
        let t = self.topics.get(topic)?;
        usize::try_from(partition)
            .ok()
            .and_then(|p| t.partitions.get(p))
    }
}

/// The shared handle: the broker stores, connections load.
pub type RoutingHandle = Arc<ArcSwap<Routing>>;
