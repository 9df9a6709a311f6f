//! The metadata records (modelled on KRaft's) and the image they build. Pure: no I/O,
//! no openraft. Every node applies the same committed batches in the same order, so
//! every check here is deterministic, and a batch that fails one changes nothing.

use imbl::OrdMap;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use uuid::Uuid;

/// The `metadata.version` feature level the cluster starts at.
pub const METADATA_VERSION: i16 = 1;

/// One client endpoint of a broker (a listener of `listeners`, as advertised).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub listener: String,
    pub host: String,
    pub port: u16,
    pub security_protocol: i16,
}

/// What a config record applies to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ConfigResource {
    Topic(String),
    /// A broker's dynamic configs; -1: the cluster-wide default.
    Broker(i32),
}

/// A metadata record. Records travel in batches; a batch is applied whole or not at all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MetadataRecord {
    /// The cluster's identity, written once by the first leader (KRaft formats it into
    /// every node's `meta.properties` instead; here it needs no format step).
    ClusterId(String),
    /// A broker (re)joins: its endpoints and rack. Its epoch is the record's log index.
    RegisterBroker {
        broker_id: i32,
        incarnation: Uuid,
        endpoints: Vec<Endpoint>,
        rack: Option<String>,
    },
    /// The broker missed its heartbeats: its partitions are offline until it returns.
    FenceBroker {
        broker_id: i32,
        epoch: u64,
    },
    /// The broker heartbeats again (or for the first time since registering).
    UnfenceBroker {
        broker_id: i32,
        epoch: u64,
    },
    Topic {
        name: String,
        topic_id: Uuid,
    },
    Partition {
        topic_id: Uuid,
        partition: i32,
        replicas: Vec<i32>,
        isr: Vec<i32>,
        leader: i32,
        leader_epoch: i32,
    },
    /// A change of a partition's leader or ISR; `None` keeps the field. With `expect`,
    /// applied only at that (leader epoch, partition epoch): a leader's ISR change
    /// (Kafka's AlterPartition) made on a view that has moved on changes nothing.
    PartitionChange {
        topic_id: Uuid,
        partition: i32,
        leader: Option<i32>,
        isr: Option<Vec<i32>>,
        #[serde(default)]
        expect: Option<(i32, i32)>,
    },
    RemoveTopic {
        topic_id: Uuid,
    },
    /// A config set (`Some`) or removed (`None`).
    Config {
        resource: ConfigResource,
        name: String,
        value: Option<String>,
    },
    /// A block of producer ids handed to a broker: the next block starts at `next`.
    ProducerIds {
        broker_id: i32,
        next: i64,
    },
    FeatureLevel {
        name: String,
        level: i16,
    },
    /// A reassignment of a partition's replicas (KIP-455): to `target`, or (`None`)
    /// the one in progress cancelled. The new replicas join as followers; once they
    /// are all in the ISR the partition keeps only `target` (see
    /// [`PartitionImage::settle`]).
    Reassign {
        topic_id: Uuid,
        partition: i32,
        target: Option<Vec<i32>>,
    },
}

/// Why `target` cannot be a partition's replicas: empty, a broker named twice, or a
/// broker that is not registered (Kafka's INVALID_REPLICA_ASSIGNMENT messages).
pub fn check_assignment(target: &[i32], registered: &[i32]) -> Result<(), String> {
    if target.is_empty() {
        return Err("The manual partition assignment includes an empty replica list.".into());
    }
    for (i, r) in target.iter().enumerate() {
        if target[..i].contains(r) {
            return Err(format!(
                "The manual partition assignment includes the broker {r} more than once."
            ));
        }
        if !registered.contains(r) {
            return Err(format!(
                "The manual partition assignment includes broker {r}, but no such broker is registered."
            ));
        }
    }
    Ok(())
}

/// Why a batch was not applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum ApplyError {
    #[error("the cluster id is already set")]
    ClusterIdSet,
    #[error("topic '{0}' already exists")]
    TopicExists(String),
    #[error("topic id {0} is unknown")]
    UnknownTopic(Uuid),
    #[error("topic '{0}' is unknown")]
    UnknownTopicName(String),
    #[error("broker {0} is not registered")]
    UnknownBroker(i32),
    #[error("partition {1} of topic {0} is not the next one")]
    PartitionOutOfOrder(Uuid, i32),
    #[error("partition {1} of topic {0} is unknown")]
    UnknownPartition(Uuid, i32),
    #[error("producer ids must grow: {0} is not past {1}")]
    ProducerIdsBackwards(i64, i64),
    #[error("stale epoch {1} for broker {0}")]
    StaleBrokerEpoch(i32, u64),
    #[error("partition {1} of topic {0} has moved past epochs {2:?}")]
    StalePartitionEpoch(Uuid, i32, (i32, i32)),
    #[error(
        "the ISR {2:?} of partition {1} of topic {0} is not among its replicas or lacks its leader"
    )]
    InvalidIsr(Uuid, i32, Vec<i32>),
    #[error("{0}")]
    InvalidAssignment(String),
    #[error("no reassignment of partition {1} of topic {0} is in progress")]
    NoReassignment(Uuid, i32),
}

/// Why a partition gets no new leader from an election (Kafka's errors for it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoElection {
    /// ELECTION_NOT_NEEDED: the preferred replica leads, or (unclean) a live one does.
    NotNeeded,
    /// PREFERRED_LEADER_NOT_AVAILABLE: it is down or out of the ISR.
    PreferredNotAvailable,
    /// ELIGIBLE_LEADERS_NOT_AVAILABLE: no replica is live.
    EligibleLeadersNotAvailable,
    UnknownPartition,
}

/// A registered broker as the image knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerImage {
    pub id: i32,
    /// The log index of its latest registration.
    pub epoch: u64,
    pub incarnation: Uuid,
    pub endpoints: Vec<Endpoint>,
    pub rack: Option<String>,
    pub fenced: bool,
}

/// One partition's placement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionImage {
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub leader: i32,
    pub leader_epoch: i32,
    /// Bumped on every change of this partition (KRaft's partition epoch).
    pub partition_epoch: i32,
    /// While a reassignment is in progress: the replicas it adds (not yet all in the
    /// ISR) and those it will remove. `replicas` holds the target, then `removing`.
    #[serde(default)]
    pub adding: Vec<i32>,
    #[serde(default)]
    pub removing: Vec<i32>,
}

/// `list` in its order, less the brokers of `drop`.
fn without(list: &[i32], drop: &[i32]) -> Vec<i32> {
    list.iter().copied().filter(|r| !drop.contains(r)).collect()
}

impl PartitionImage {
    pub fn reassigning(&self) -> bool {
        !self.adding.is_empty() || !self.removing.is_empty()
    }

    /// The replicas it had before the reassignment in progress (KRaft's revert).
    pub fn original_replicas(&self) -> Vec<i32> {
        without(&self.replicas, &self.adding)
    }

    /// Starts a reassignment to `target` (KRaft's `PartitionReassignmentReplicas`):
    /// the replicas become `target` then those it drops, which are removed once every
    /// added one is in the ISR.
    fn reassign(&mut self, target: &[i32], live: &[i32]) {
        let current = std::mem::take(&mut self.replicas);
        self.removing = without(&current, target);
        self.adding = without(target, &current);
        self.replicas = target.to_vec();
        self.replicas.extend_from_slice(&self.removing);
        self.settle(live);
    }

    /// Cancels the reassignment in progress: the replicas it added leave.
    fn revert(&mut self, live: &[i32]) -> Result<(), String> {
        let isr = without(&self.isr, &self.adding);
        if isr.is_empty() {
            return Err("cancelling the reassignment would leave the ISR empty".into());
        }
        self.replicas = self.original_replicas();
        self.isr = isr;
        self.adding.clear();
        self.removing.clear();
        self.settle(live);
        Ok(())
    }

    /// Completes a reassignment whose added replicas are all in the ISR (KRaft's
    /// `maybeCompleteReassignment`: the removed ones leave the replicas and the ISR,
    /// unless that empties the ISR), then gives the partition a leader from its ISR if
    /// its leader is no longer a replica in sync: the first replica in the ISR that is
    /// live, else none (-1) until one returns.
    fn settle(&mut self, live: &[i32]) {
        if self.reassigning() && self.adding.iter().all(|r| self.isr.contains(r)) {
            let isr = without(&self.isr, &self.removing);
            if !isr.is_empty() {
                self.replicas.retain(|r| !self.removing.contains(r));
                self.isr = isr;
                self.adding.clear();
                self.removing.clear();
            }
        }
        let leads = self.isr.contains(&self.leader) && self.replicas.contains(&self.leader);
        if self.leader >= 0 && !leads {
            self.leader = self
                .replicas
                .iter()
                .copied()
                .find(|r| self.isr.contains(r) && live.contains(r))
                .unwrap_or(-1);
            self.leader_epoch += 1;
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicImage {
    pub name: String,
    pub id: Uuid,
    pub partitions: Vec<PartitionImage>,
}

impl TopicImage {
    /// Partition `index`, if the topic has it.
    pub fn partition(&self, index: i32) -> Option<&PartitionImage> {
        self.partitions.get(usize::try_from(index).ok()?)
    }

    fn partition_mut(&mut self, index: i32) -> Option<&mut PartitionImage> {
        self.partitions.get_mut(usize::try_from(index).ok()?)
    }
}

/// Everything the committed metadata log says, at `applied`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetadataImage {
    pub cluster_id: Option<String>,
    pub brokers: OrdMap<i32, BrokerImage>,
    pub topics: OrdMap<Uuid, TopicImage>,
    pub topic_ids: OrdMap<String, Uuid>,
    pub configs: OrdMap<ConfigResource, BTreeMap<String, String>>,
    /// The first producer id not yet handed out.
    pub next_producer_id: i64,
    pub features: OrdMap<String, i16>,
    /// The index of the last log entry applied.
    pub applied: u64,
}

impl MetadataImage {
    /// Applies `batch`, committed at log index `index`: all of it, or (on the first
    /// record that does not fit the image) none of it.
    pub fn apply(&mut self, index: u64, batch: &[MetadataRecord]) -> Result<(), ApplyError> {
        let mut next = self.clone();
        for record in batch {
            next.apply_one(index, record)?;
        }
        next.applied = index;
        *self = next;
        Ok(())
    }

    fn apply_one(&mut self, index: u64, record: &MetadataRecord) -> Result<(), ApplyError> {
        match record {
            MetadataRecord::ClusterId(id) => {
                if self.cluster_id.is_some() {
                    return Err(ApplyError::ClusterIdSet);
                }
                self.cluster_id = Some(id.clone());
            }
            MetadataRecord::RegisterBroker {
                broker_id,
                incarnation,
                endpoints,
                rack,
            } => {
                // A broker registers fenced; its first heartbeat unfences it. One that
                // comes back (a restart) loses what it led, as if it had been fenced.
                let was_live = self.brokers.get(broker_id).is_some_and(|b| !b.fenced);
                self.brokers.insert(
                    *broker_id,
                    BrokerImage {
                        id: *broker_id,
                        epoch: index,
                        incarnation: *incarnation,
                        endpoints: endpoints.clone(),
                        rack: rack.clone(),
                        fenced: true,
                    },
                );
                if was_live {
                    self.move_off(*broker_id);
                }
            }
            MetadataRecord::FenceBroker { broker_id, epoch }
            | MetadataRecord::UnfenceBroker { broker_id, epoch } => {
                let broker = self
                    .brokers
                    .get_mut(broker_id)
                    .ok_or(ApplyError::UnknownBroker(*broker_id))?;
                if broker.epoch != *epoch {
                    return Err(ApplyError::StaleBrokerEpoch(*broker_id, *epoch));
                }
                let fence = matches!(record, MetadataRecord::FenceBroker { .. });
                let was_fenced = std::mem::replace(&mut broker.fenced, fence);
                match (was_fenced, fence) {
                    (false, true) => self.move_off(*broker_id),
                    (true, false) => self.elect_offline(*broker_id),
                    _ => {}
                }
            }
            MetadataRecord::Topic { name, topic_id } => {
                if self.topic_ids.contains_key(name) || self.topics.contains_key(topic_id) {
                    return Err(ApplyError::TopicExists(name.clone()));
                }
                self.topic_ids.insert(name.clone(), *topic_id);
                self.topics.insert(
                    *topic_id,
                    TopicImage {
                        name: name.clone(),
                        id: *topic_id,
                        partitions: Vec::new(),
                    },
                );
            }
            MetadataRecord::Partition {
                topic_id,
                partition,
                replicas,
                isr,
                leader,
                leader_epoch,
            } => {
                let topic = self
                    .topics
                    .get_mut(topic_id)
                    .ok_or(ApplyError::UnknownTopic(*topic_id))?;
                if usize::try_from(*partition).ok() != Some(topic.partitions.len()) {
                    return Err(ApplyError::PartitionOutOfOrder(*topic_id, *partition));
                }
                topic.partitions.push(PartitionImage {
                    replicas: replicas.clone(),
                    isr: isr.clone(),
                    leader: *leader,
                    leader_epoch: *leader_epoch,
                    partition_epoch: 0,
                    adding: Vec::new(),
                    removing: Vec::new(),
                });
            }
            MetadataRecord::PartitionChange {
                topic_id,
                partition,
                leader,
                isr,
                expect,
            } => {
                let live = self.live_ids();
                let p = self.partition_mut(*topic_id, *partition)?;
                if let Some(expect) = expect {
                    if (p.leader_epoch, p.partition_epoch) != *expect {
                        return Err(ApplyError::StalePartitionEpoch(
                            *topic_id, *partition, *expect,
                        ));
                    }
                }
                let new_leader = leader.unwrap_or(p.leader);
                if let Some(isr) = isr {
                    let valid = isr.iter().all(|r| p.replicas.contains(r))
                        && (new_leader < 0 || isr.contains(&new_leader));
                    if !valid {
                        return Err(ApplyError::InvalidIsr(*topic_id, *partition, isr.clone()));
                    }
                    p.isr = isr.clone();
                }
                if new_leader != p.leader {
                    p.leader = new_leader;
                    p.leader_epoch += 1;
                }
                p.partition_epoch += 1;
                if p.reassigning() {
                    p.settle(&live);
                }
            }
            MetadataRecord::Reassign {
                topic_id,
                partition,
                target,
            } => {
                let registered: Vec<i32> = self.brokers.keys().copied().collect();
                let live = self.live_ids();
                let p = self.partition_mut(*topic_id, *partition)?;
                match target {
                    Some(target) => {
                        check_assignment(target, &registered)
                            .map_err(ApplyError::InvalidAssignment)?;
                        p.reassign(target, &live);
                    }
                    None if !p.reassigning() => {
                        return Err(ApplyError::NoReassignment(*topic_id, *partition))
                    }
                    None => p.revert(&live).map_err(ApplyError::InvalidAssignment)?,
                }
                p.partition_epoch += 1;
            }
            MetadataRecord::RemoveTopic { topic_id } => {
                let topic = self
                    .topics
                    .remove(topic_id)
                    .ok_or(ApplyError::UnknownTopic(*topic_id))?;
                self.topic_ids.remove(&topic.name);
                self.configs
                    .remove(&ConfigResource::Topic(topic.name.clone()));
            }
            MetadataRecord::Config {
                resource,
                name,
                value,
            } => {
                if let ConfigResource::Topic(topic) = resource {
                    if !self.topic_ids.contains_key(topic) {
                        return Err(ApplyError::UnknownTopicName(topic.clone()));
                    }
                }
                let mut configs = self.configs.get(resource).cloned().unwrap_or_default();
                match value {
                    Some(v) => configs.insert(name.clone(), v.clone()),
                    None => configs.remove(name),
                };
                if configs.is_empty() {
                    self.configs.remove(resource);
                } else {
                    self.configs.insert(resource.clone(), configs);
                }
            }
            MetadataRecord::ProducerIds { broker_id: _, next } => {
                if *next <= self.next_producer_id {
                    return Err(ApplyError::ProducerIdsBackwards(
                        *next,
                        self.next_producer_id,
                    ));
                }
                self.next_producer_id = *next;
            }
            MetadataRecord::FeatureLevel { name, level } => {
                self.features.insert(name.clone(), *level);
            }
        }
        Ok(())
    }

    /// Broker `id` is fenced (or came back as a new incarnation): every partition it
    /// leads gets a new leader from its ISR among the live brokers (none: leader -1,
    /// the ISR kept, until a member returns), and it leaves every ISR it is not the
    /// last member of (KRaft's `generateLeaderAndIsrUpdates` without unclean election).
    fn move_off(&mut self, id: i32) {
        let live: Vec<i32> = self
            .brokers
            .values()
            .filter(|b| !b.fenced && b.id != id)
            .map(|b| b.id)
            .collect();
        let touched = self.topics_where(|p| p.leader == id || p.isr.contains(&id));
        for topic_id in touched {
            let Some(topic) = self.topics.get_mut(&topic_id) else {
                continue;
            };
            for p in topic.partitions.iter_mut() {
                if p.leader != id && !p.isr.contains(&id) {
                    continue;
                }
                let isr: Vec<i32> = p.isr.iter().copied().filter(|&r| r != id).collect();
                if p.leader == id {
                    let next = p
                        .replicas
                        .iter()
                        .copied()
                        .find(|r| isr.contains(r) && live.contains(r));
                    p.leader = next.unwrap_or(-1);
                    p.leader_epoch += 1;
                }
                if !isr.is_empty() {
                    p.isr = isr;
                }
                p.partition_epoch += 1;
            }
        }
    }

    /// Broker `id` is live again: partitions without a leader whose ISR holds it are
    /// led by it.
    fn elect_offline(&mut self, id: i32) {
        let touched = self.topics_where(|p| p.leader < 0 && p.isr.contains(&id));
        for topic_id in touched {
            let Some(topic) = self.topics.get_mut(&topic_id) else {
                continue;
            };
            for p in topic.partitions.iter_mut() {
                if p.leader < 0 && p.isr.contains(&id) {
                    p.leader = id;
                    p.leader_epoch += 1;
                    p.partition_epoch += 1;
                }
            }
        }
    }

    fn partition_mut(
        &mut self,
        topic_id: Uuid,
        partition: i32,
    ) -> Result<&mut PartitionImage, ApplyError> {
        self.topics
            .get_mut(&topic_id)
            .and_then(|t| t.partition_mut(partition))
            .ok_or(ApplyError::UnknownPartition(topic_id, partition))
    }

    /// The live brokers, as ids.
    fn live_ids(&self) -> Vec<i32> {
        self.live_brokers().map(|b| b.id).collect()
    }

    /// Kafka's leader election for one partition (ElectLeaders, and the controller's
    /// automatic rebalance), as the record that makes it, at the partition's epochs.
    /// Preferred: the first replica, if it is live, in the ISR and not already the
    /// leader. Unclean: only for a partition with no live leader, a live ISR member if
    /// any, else the first live replica, which becomes the whole ISR.
    pub fn election(
        &self,
        topic_id: Uuid,
        partition: i32,
        unclean: bool,
    ) -> Result<MetadataRecord, NoElection> {
        let p = self
            .topics
            .get(&topic_id)
            .and_then(|t| t.partition(partition))
            .ok_or(NoElection::UnknownPartition)?;
        let live = self.live_ids();
        let change = |leader: i32, isr: Option<Vec<i32>>| MetadataRecord::PartitionChange {
            topic_id,
            partition,
            leader: Some(leader),
            isr,
            expect: Some((p.leader_epoch, p.partition_epoch)),
        };
        if !unclean {
            let preferred = *p
                .replicas
                .first()
                .ok_or(NoElection::PreferredNotAvailable)?;
            if p.leader == preferred {
                return Err(NoElection::NotNeeded);
            }
            if live.contains(&preferred) && p.isr.contains(&preferred) {
                return Ok(change(preferred, None));
            }
            return Err(NoElection::PreferredNotAvailable);
        }
        if p.leader >= 0 && live.contains(&p.leader) {
            return Err(NoElection::NotNeeded);
        }
        let in_sync = p
            .replicas
            .iter()
            .find(|r| p.isr.contains(r) && live.contains(r));
        if let Some(&r) = in_sync {
            return Ok(change(r, None));
        }
        match p.replicas.iter().find(|r| live.contains(r)) {
            Some(&r) => Ok(change(r, Some(vec![r]))),
            None => Err(NoElection::EligibleLeadersNotAvailable),
        }
    }

    /// The controller's automatic rebalance (Kafka's `auto.leader.rebalance.enable`):
    /// for every broker of which more than `percentage` percent of the partitions it is
    /// the preferred replica of are led elsewhere, the preferred elections that can run.
    pub fn rebalance_elections(&self, percentage: u32) -> Vec<MetadataRecord> {
        let mut preferred: BTreeMap<i32, (u32, u32)> = BTreeMap::new();
        for t in self.topics.values() {
            for p in &t.partitions {
                if let Some(&first) = p.replicas.first() {
                    let e = preferred.entry(first).or_default();
                    e.0 += 1;
                    e.1 += u32::from(p.leader != first);
                }
            }
        }
        let imbalanced: Vec<i32> = preferred
            .into_iter()
            .filter(|(_, (total, elsewhere))| *elsewhere * 100 > *total * percentage)
            .map(|(id, _)| id)
            .collect();
        let mut records = Vec::new();
        for t in self.topics.values() {
            for (i, p) in t.partitions.iter().enumerate() {
                let wanted = p.replicas.first().is_some_and(|f| imbalanced.contains(f));
                if wanted {
                    if let Ok(r) = self.election(t.id, i as i32, false) {
                        records.push(r);
                    }
                }
            }
        }
        records
    }

    /// The topics with a partition that `f` picks (changed without copying the rest).
    fn topics_where(&self, f: impl Fn(&PartitionImage) -> bool) -> Vec<Uuid> {
        self.topics
            .values()
            .filter(|t| t.partitions.iter().any(&f))
            .map(|t| t.id)
            .collect()
    }

    pub fn topic(&self, name: &str) -> Option<&TopicImage> {
        self.topics.get(self.topic_ids.get(name)?)
    }

    /// The brokers that serve now: registered and not fenced.
    pub fn live_brokers(&self) -> impl Iterator<Item = &BrokerImage> {
        self.brokers.values().filter(|b| !b.fenced)
    }

    /// The leader clients are told of: -1 while the leader's broker is fenced or gone.
    pub fn live_leader(&self, p: &PartitionImage) -> i32 {
        match self.brokers.get(&p.leader) {
            Some(b) if !b.fenced => p.leader,
            _ => -1,
        }
    }

    /// A topic's config overrides.
    pub fn topic_configs(&self, name: &str) -> BTreeMap<String, String> {
        self.configs
            .get(&ConfigResource::Topic(name.to_owned()))
            .cloned()
            .unwrap_or_default()
    }
}

/// Places `partitions` new partitions of `rf` replicas each on `brokers` (id, rack),
/// Kafka's way: brokers ordered so that racks alternate, the first replica of
/// partition p on broker (start + p), the others after it; leaders spread evenly.
/// `start` rotates where a topic begins, so small topics do not all lead on one
/// broker. None when there are fewer brokers than `rf`.
pub fn place(
    brokers: &[(i32, Option<String>)],
    first_partition: i32,
    partitions: i32,
    rf: usize,
    start: usize,
) -> Option<Vec<Vec<i32>>> {
    if rf == 0 || brokers.len() < rf {
        return None;
    }
    let ordered = rack_alternating(brokers);
    let n = ordered.len();
    Some(
        (first_partition..first_partition + partitions)
            .map(|p| {
                let p = usize::try_from(p).unwrap_or(0);
                let first = (start + p) % n;
                // Kafka's `replicaIndex`: the followers come after the first replica,
                // shifted by one more every full round so that they spread too, and
                // never on the first replica's broker or twice on one.
                let others = (n - 1).max(1);
                let shift = (start + p / n) % others;
                (0..rf)
                    .map(|r| {
                        if r == 0 {
                            ordered[first]
                        } else {
                            ordered[(first + 1 + (shift + r - 1) % others) % n]
                        }
                    })
                    .collect()
            })
            .collect(),
    )
}

/// Broker ids ordered so that consecutive ones are on different racks where possible
/// (Kafka's rack-alternated list): rack by rack, one broker of each in turn.
fn rack_alternating(brokers: &[(i32, Option<String>)]) -> Vec<i32> {
    let mut by_rack: BTreeMap<Option<&str>, Vec<i32>> = BTreeMap::new();
    for (id, rack) in brokers {
        by_rack.entry(rack.as_deref()).or_default().push(*id);
    }
    for ids in by_rack.values_mut() {
        ids.sort_unstable();
    }
    let mut out = Vec::with_capacity(brokers.len());
    let mut round = 0;
    while out.len() < brokers.len() {
        for ids in by_rack.values() {
            if let Some(&id) = ids.get(round) {
                out.push(id);
            }
        }
        round += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn register(id: i32) -> MetadataRecord {
        MetadataRecord::RegisterBroker {
            broker_id: id,
            incarnation: Uuid::nil(),
            endpoints: vec![],
            rack: None,
        }
    }

    #[test]
    fn a_batch_that_does_not_fit_changes_nothing() {
        let mut image = MetadataImage::default();
        let id = Uuid::new_v4();
        image
            .apply(
                1,
                &[MetadataRecord::Topic {
                    name: "a".into(),
                    topic_id: id,
                }],
            )
            .expect("topic");
        let before = image.clone();
        let err = image
            .apply(
                2,
                &[
                    MetadataRecord::Topic {
                        name: "b".into(),
                        topic_id: Uuid::new_v4(),
                    },
                    MetadataRecord::Topic {
                        name: "a".into(),
                        topic_id: Uuid::new_v4(),
                    },
                ],
            )
            .expect_err("a exists");
        assert_eq!(err, ApplyError::TopicExists("a".into()));
        assert_eq!(image, before);
    }

    #[test]
    fn a_fenced_leader_is_reported_offline_and_a_stale_epoch_is_refused() {
        let mut image = MetadataImage::default();
        image.apply(5, &[register(1)]).expect("register");
        let p = PartitionImage {
            replicas: vec![1],
            isr: vec![1],
            leader: 1,
            leader_epoch: 0,
            partition_epoch: 0,
            adding: Vec::new(),
            removing: Vec::new(),
        };
        assert_eq!(image.live_leader(&p), -1, "registered fenced");
        image
            .apply(
                6,
                &[MetadataRecord::UnfenceBroker {
                    broker_id: 1,
                    epoch: 5,
                }],
            )
            .expect("unfence");
        assert_eq!(image.live_leader(&p), 1);
        // Registered again (a restart): the old epoch's fence is stale.
        image.apply(7, &[register(1)]).expect("again");
        let err = image
            .apply(
                8,
                &[MetadataRecord::FenceBroker {
                    broker_id: 1,
                    epoch: 5,
                }],
            )
            .expect_err("stale");
        assert_eq!(err, ApplyError::StaleBrokerEpoch(1, 5));
    }

    #[test]
    fn producer_id_blocks_only_grow() {
        let mut image = MetadataImage::default();
        let block = |next| MetadataRecord::ProducerIds { broker_id: 1, next };
        image.apply(1, &[block(1000)]).expect("first");
        assert!(image.apply(2, &[block(1000)]).is_err());
        assert_eq!(image.next_producer_id, 1000);
    }

    #[test]
    fn placement_spreads_leaders_and_alternates_racks() {
        let brokers = vec![
            (1, Some("a".to_owned())),
            (2, Some("a".to_owned())),
            (3, Some("b".to_owned())),
            (4, Some("b".to_owned())),
        ];
        let placed = place(&brokers, 0, 8, 2, 0).expect("enough brokers");
        let mut leaders = BTreeMap::<i32, usize>::new();
        for replicas in &placed {
            *leaders.entry(replicas[0]).or_default() += 1;
            assert_eq!(replicas.len(), 2);
            assert_ne!(replicas[0], replicas[1]);
        }
        assert_eq!(leaders.values().copied().collect::<Vec<_>>(), vec![2; 4]);
        // Racks alternate: the first replicas of consecutive partitions change rack.
        let rack = |id: i32| if id <= 2 { "a" } else { "b" };
        for pair in placed.windows(2) {
            assert_ne!(rack(pair[0][0]), rack(pair[1][0]));
        }
        assert!(place(&brokers, 0, 1, 5, 0).is_none());
    }

    /// Three live brokers (registered at indexes 1-3) and topic "t" of one partition on
    /// replicas 1, 2, 3, led by 1.
    fn three_brokers_one_partition() -> (MetadataImage, Uuid) {
        let mut image = MetadataImage::default();
        let id = Uuid::new_v4();
        for b in 1..=3 {
            image.apply(b as u64, &[register(b)]).expect("register");
            image
                .apply(
                    10 + b as u64,
                    &[MetadataRecord::UnfenceBroker {
                        broker_id: b,
                        epoch: b as u64,
                    }],
                )
                .expect("unfence");
        }
        let topic = [
            MetadataRecord::Topic {
                name: "t".into(),
                topic_id: id,
            },
            MetadataRecord::Partition {
                topic_id: id,
                partition: 0,
                replicas: vec![1, 2, 3],
                isr: vec![1, 2, 3],
                leader: 1,
                leader_epoch: 0,
            },
        ];
        image.apply(20, &topic).expect("topic");
        (image, id)
    }

    #[test]
    fn a_reassignment_adds_then_removes_and_moves_the_leader_only_when_it_leaves() {
        let (mut image, id) = three_brokers_one_partition();
        image.apply(30, &[register(4)]).expect("register");
        image
            .apply(
                31,
                &[MetadataRecord::UnfenceBroker {
                    broker_id: 4,
                    epoch: 30,
                }],
            )
            .expect("unfence");
        let part = |image: &MetadataImage| image.topics[&id].partitions[0].clone();
        let reassign = |target: Option<Vec<i32>>| MetadataRecord::Reassign {
            topic_id: id,
            partition: 0,
            target,
        };
        // Refused: nothing changes.
        let before = image.clone();
        for bad in [vec![], vec![2, 2], vec![2, 9]] {
            let refused = image.apply(40, &[reassign(Some(bad.clone()))]);
            assert!(
                matches!(refused, Err(ApplyError::InvalidAssignment(_))),
                "{bad:?}: {refused:?}"
            );
        }
        assert_eq!(
            image.apply(40, &[reassign(None)]),
            Err(ApplyError::NoReassignment(id, 0))
        );
        assert_eq!(image, before);

        // To [4, 2]: 4 is added, 1 and 3 wait to be removed; the leader stays.
        image
            .apply(41, &[reassign(Some(vec![4, 2]))])
            .expect("reassign");
        let p = part(&image);
        assert_eq!(
            (p.replicas.clone(), p.adding.clone(), p.removing.clone()),
            (vec![4, 2, 1, 3], vec![4], vec![1, 3])
        );
        assert_eq!(
            (p.leader, p.leader_epoch, p.isr.clone()),
            (1, 0, vec![1, 2, 3])
        );
        // 4 joins the ISR (the leader's AlterPartition): the move completes, and the
        // leader, no longer a replica, hands over to the first target replica in sync.
        let join = MetadataRecord::PartitionChange {
            topic_id: id,
            partition: 0,
            leader: None,
            isr: Some(vec![1, 2, 3, 4]),
            expect: Some((p.leader_epoch, p.partition_epoch)),
        };
        image.apply(42, &[join]).expect("ISR");
        let p = part(&image);
        assert!(!p.reassigning());
        assert_eq!(
            (p.replicas.clone(), p.isr.clone()),
            (vec![4, 2], vec![2, 4])
        );
        assert_eq!((p.leader, p.leader_epoch), (4, 1));

        // To [4, 2, 1], then cancelled: 1 leaves again.
        image
            .apply(43, &[reassign(Some(vec![4, 2, 1]))])
            .expect("reassign");
        assert_eq!(part(&image).adding, vec![1]);
        image.apply(44, &[reassign(None)]).expect("cancel");
        let p = part(&image);
        assert!(!p.reassigning());
        assert_eq!(
            (p.replicas.clone(), p.isr.clone(), p.leader),
            (vec![4, 2], vec![2, 4], 4)
        );

        // Fewer replicas completes at once: to [2].
        image.apply(45, &[reassign(Some(vec![2]))]).expect("shrink");
        let p = part(&image);
        assert!(!p.reassigning());
        assert_eq!(
            (p.replicas, p.isr, p.leader, p.leader_epoch),
            (vec![2], vec![2], 2, 2)
        );
    }

    fn fence(image: &mut MetadataImage, index: u64, b: i32, unfence: bool) {
        let record = if unfence {
            MetadataRecord::UnfenceBroker {
                broker_id: b,
                epoch: b as u64,
            }
        } else {
            MetadataRecord::FenceBroker {
                broker_id: b,
                epoch: b as u64,
            }
        };
        image.apply(index, &[record]).expect("fence");
    }

    #[test]
    fn a_fenced_leader_is_replaced_from_the_isr_and_the_last_member_waits_offline() {
        let (mut image, id) = three_brokers_one_partition();
        let p = |image: &MetadataImage| image.topics[&id].partitions[0].clone();
        fence(&mut image, 30, 1, false);
        assert_eq!((p(&image).leader, p(&image).leader_epoch), (2, 1));
        assert_eq!(
            p(&image).isr,
            vec![2, 3],
            "the fenced broker leaves the ISR"
        );
        fence(&mut image, 31, 3, false);
        assert_eq!(p(&image).leader, 2, "a follower's fence moves no leader");
        assert_eq!(p(&image).isr, vec![2]);
        fence(&mut image, 32, 2, false);
        assert_eq!(p(&image).leader, -1, "no live ISR member: offline");
        assert_eq!(
            p(&image).isr,
            vec![2],
            "the last member stays, to lead again"
        );
        fence(&mut image, 33, 1, true);
        assert_eq!(
            p(&image).leader,
            -1,
            "broker 1 is not in the ISR: no unclean election"
        );
        fence(&mut image, 34, 2, true);
        assert_eq!((p(&image).leader, p(&image).leader_epoch), (2, 3));
    }

    #[test]
    fn partition_changes_are_checked_against_the_epochs_and_the_replicas() {
        let (mut image, id) = three_brokers_one_partition();
        let change = |isr: Vec<i32>, expect| MetadataRecord::PartitionChange {
            topic_id: id,
            partition: 0,
            leader: None,
            isr: Some(isr),
            expect: Some(expect),
        };
        assert_eq!(
            image.apply(30, &[change(vec![1, 2], (0, 1))]),
            Err(ApplyError::StalePartitionEpoch(id, 0, (0, 1)))
        );
        assert!(matches!(
            image.apply(30, &[change(vec![1, 4], (0, 0))]),
            Err(ApplyError::InvalidIsr(..))
        ));
        assert!(
            matches!(
                image.apply(30, &[change(vec![2, 3], (0, 0))]),
                Err(ApplyError::InvalidIsr(..))
            ),
            "the leader must stay in its ISR"
        );
        image
            .apply(30, &[change(vec![1, 2], (0, 0))])
            .expect("shrink");
        let p = &image.topics[&id].partitions[0];
        assert_eq!(
            (p.isr.clone(), p.leader_epoch, p.partition_epoch),
            (vec![1, 2], 0, 1)
        );
    }

    #[test]
    fn elections_follow_kafkas_rules() {
        let (mut image, id) = three_brokers_one_partition();
        assert_eq!(image.election(id, 0, false), Err(NoElection::NotNeeded));
        assert_eq!(
            image.election(id, 1, false),
            Err(NoElection::UnknownPartition)
        );
        fence(&mut image, 30, 1, false);
        assert_eq!(
            image.election(id, 0, false),
            Err(NoElection::PreferredNotAvailable)
        );
        fence(&mut image, 31, 1, true);
        // Back, but out of the ISR until it catches up.
        assert_eq!(
            image.election(id, 0, false),
            Err(NoElection::PreferredNotAvailable)
        );
        let p = image.topics[&id].partitions[0].clone();
        let rejoin = MetadataRecord::PartitionChange {
            topic_id: id,
            partition: 0,
            leader: None,
            isr: Some(vec![2, 3, 1]),
            expect: Some((p.leader_epoch, p.partition_epoch)),
        };
        image.apply(32, &[rejoin]).expect("rejoin");
        let preferred = image.election(id, 0, false).expect("preferred election");
        image.apply(33, &[preferred]).expect("elect");
        assert_eq!(image.topics[&id].partitions[0].leader, 1);
        assert_eq!(image.rebalance_elections(10), vec![], "balanced");
        // Unclean: every ISR member down, a live out-of-sync replica takes over.
        for (i, b) in [(34, 2), (35, 3), (36, 1)] {
            fence(&mut image, i, b, false);
        }
        fence(&mut image, 37, 3, true);
        assert_eq!(image.topics[&id].partitions[0].leader, -1);
        assert_eq!(
            image.election(id, 0, false),
            Err(NoElection::PreferredNotAvailable)
        );
        let unclean = image.election(id, 0, true).expect("unclean election");
        image.apply(38, &[unclean]).expect("elect");
        let p = &image.topics[&id].partitions[0];
        assert_eq!((p.leader, p.isr.clone()), (3, vec![3]));
    }

    #[test]
    fn placement_never_puts_two_replicas_of_a_partition_on_one_broker() {
        for n in 1..=6 {
            let brokers: Vec<(i32, Option<String>)> = (1..=n).map(|id| (id, None)).collect();
            for rf in 1..=n as usize {
                for start in 0..7 {
                    let placed = place(&brokers, 0, 50, rf, start).expect("enough brokers");
                    for (p, replicas) in placed.iter().enumerate() {
                        let distinct: std::collections::BTreeSet<_> = replicas.iter().collect();
                        assert_eq!(
                            distinct.len(),
                            rf,
                            "n={n} rf={rf} start={start} p={p}: {replicas:?}"
                        );
                    }
                    // Every broker holds about as many replicas as the others.
                    let mut held = BTreeMap::<i32, usize>::new();
                    for r in placed.iter().flatten() {
                        *held.entry(*r).or_default() += 1;
                    }
                    let (lo, hi) = (held.values().min(), held.values().max());
                    assert!(
                        hi.zip(lo).is_some_and(|(h, l)| h - l <= rf + 1),
                        "n={n} rf={rf}: {held:?}"
                    );
                }
            }
        }
    }
}
