//! The consumer group (Kafka's `ConsumerGroup`): its epochs, members, target assignment
//! and who owns which partition; the helpers the heartbeat, the timers and the replay
//! share.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use uuid::Uuid;

use super::api::{ConsumerGroupConfig, ConsumerGroupDescription, ConsumerMemberDescription};
use super::assignor::{Assignment, Assignor, MemberSpec};
use super::member::ConsumerMember;
use super::record::{ConsumerRecord, GroupEpochValue};
use super::topics::{compile_regex, SubscribedTopics, TopicMetadata};

/// One group of the consumer protocol.
#[derive(Debug, Clone, Default)]
pub struct ConsumerGroup {
    /// Moves when members, subscriptions or the subscribed topics change.
    pub(crate) epoch: i32,
    /// The group epoch the target assignment was computed at.
    pub(crate) assignment_epoch: i32,
    pub(crate) members: BTreeMap<String, ConsumerMember>,
    /// The target assignment, by member.
    pub(crate) target: BTreeMap<String, Assignment>,
    /// The subscribed topics' metadata as of the group epoch.
    pub(crate) subscribed: SubscribedTopics,
    /// Which member owns each partition (assigned to it or pending its revocation).
    pub(crate) owners: HashMap<(Uuid, i32), String>,
    /// The topics each subscribed regex selected at the last refresh.
    pub(crate) regexes: BTreeMap<String, BTreeSet<String>>,
    /// The assignor of the last target assignment.
    pub(crate) assignor: Option<Assignor>,
    /// The topics' generation at the last refresh of `regexes` and `subscribed`.
    pub(crate) topics_generation: Option<u64>,
}

impl ConsumerGroup {
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    pub fn epoch(&self) -> i32 {
        self.epoch
    }

    pub fn member(&self, member_id: &str) -> Option<&ConsumerMember> {
        self.members.get(member_id)
    }

    /// Kafka's `ConsumerGroupState` name.
    pub fn state_name(&self) -> &'static str {
        if self.members.is_empty() {
            "Empty"
        } else if self.epoch > self.assignment_epoch {
            "Assigning"
        } else if self
            .members
            .values()
            .any(|m| !m.current.is_reconciled_to(self.assignment_epoch))
        {
            "Reconciling"
        } else {
            "Stable"
        }
    }

    /// Whether a member subscribes to `topic` (OffsetDelete refuses its offsets).
    pub fn is_subscribed_to(&self, topic: &str) -> bool {
        !self.members.is_empty() && self.subscribed.contains_key(topic)
    }

    pub(crate) fn static_member(&self, instance_id: &str) -> Option<&ConsumerMember> {
        self.members
            .values()
            .find(|m| m.instance_id() == Some(instance_id))
    }

    /// Whether another member than `member_id` owns the partition.
    pub(crate) fn owned_by_other(&self, member_id: &str, topic: &Uuid, partition: i32) -> bool {
        self.owners
            .get(&(*topic, partition))
            .is_some_and(|owner| owner != member_id)
    }

    /// Replaces a member's entry, keeping the partition owners in step.
    pub(crate) fn put_member(&mut self, member: ConsumerMember) {
        if let Some(old) = self.members.get(&member.member_id) {
            let old = old.clone();
            self.release(&old);
        }
        for tp in member.current.held() {
            self.owners.insert(tp, member.member_id.clone());
        }
        self.members.insert(member.member_id.clone(), member);
    }

    fn release(&mut self, member: &ConsumerMember) {
        for tp in member.current.held() {
            if self.owners.get(&tp) == Some(&member.member_id) {
                self.owners.remove(&tp);
            }
        }
    }

    /// Puts `replacement` (a static member back under a new member id) in the place of
    /// `old_id`, with its partitions and target: no epoch moves.
    pub(crate) fn replace_member(
        &mut self,
        old_id: &str,
        replacement: &ConsumerMember,
        records: &mut Vec<ConsumerRecord>,
    ) {
        if let Some(old) = self.members.remove(old_id) {
            self.release(&old);
        }
        let target = self.target.remove(old_id).unwrap_or_default();
        records.extend(ConsumerRecord::member_tombstones(old_id));
        let id = replacement.member_id.clone();
        records.push(ConsumerRecord::Member {
            member: id.clone(),
            value: Some(replacement.subscription.clone()),
        });
        records.push(ConsumerRecord::TargetMember {
            member: id.clone(),
            value: Some(target.clone()),
        });
        records.push(ConsumerRecord::Current {
            member: id.clone(),
            value: Some(replacement.current.clone()),
        });
        self.target.insert(id, target);
        self.put_member(replacement.clone());
    }

    /// Removes a member and its records and moves the group epoch.
    pub(crate) fn remove_member(&mut self, member_id: &str, records: &mut Vec<ConsumerRecord>) {
        let Some(member) = self.members.remove(member_id) else {
            return;
        };
        self.release(&member);
        self.target.remove(member_id);
        // Its subscription leaves the group's, in the same epoch.
        let names = self.subscribed_names();
        self.subscribed.retain(|name, _| names.contains(name));
        records.extend(ConsumerRecord::member_tombstones(&member.member_id));
        self.bump_epoch(records);
    }

    /// After a member joined or changed (`members_changed`: a new member or a new
    /// subscription): the group epoch moves with the membership, the subscriptions and
    /// the subscribed topics' metadata, and a new epoch gets a new target assignment.
    pub(crate) fn advance_epoch(
        &mut self,
        config: &ConsumerGroupConfig,
        topics: &dyn TopicMetadata,
        members_changed: bool,
        records: &mut Vec<ConsumerRecord>,
    ) {
        let metadata_changed = self.refresh_subscribed(topics, members_changed);
        if members_changed || metadata_changed {
            self.bump_epoch(records);
        }
        if self.epoch > self.assignment_epoch {
            self.compute_target(config, records);
        }
    }

    pub(crate) fn bump_epoch(&mut self, records: &mut Vec<ConsumerRecord>) {
        self.epoch += 1;
        records.push(self.metadata_record());
    }

    pub(crate) fn metadata_record(&self) -> ConsumerRecord {
        ConsumerRecord::Metadata(Some(GroupEpochValue {
            epoch: self.epoch,
            assignment_epoch: self.assignment_epoch,
            subscribed: self.subscribed.clone(),
        }))
    }

    /// Every topic name some member subscribes to, directly or through its regex as last
    /// resolved.
    fn subscribed_names(&self) -> BTreeSet<String> {
        let mut names = BTreeSet::new();
        for m in self.members.values() {
            names.extend(m.subscription.topic_names.iter().cloned());
            if let Some(topics) = m
                .subscription
                .topic_regex
                .as_ref()
                .and_then(|r| self.regexes.get(r))
            {
                names.extend(topics.iter().cloned());
            }
        }
        names
    }

    /// Resolves the members' regexes again and reads the subscribed topics' metadata,
    /// when the topics or (`subscriptions_changed`) the subscriptions changed since the
    /// last time; returns whether it changed (then the group epoch must move).
    pub(crate) fn refresh_subscribed(
        &mut self,
        topics: &dyn TopicMetadata,
        subscriptions_changed: bool,
    ) -> bool {
        let generation = topics.generation();
        if !subscriptions_changed && self.topics_generation == Some(generation) {
            return false;
        }
        self.topics_generation = Some(generation);
        let patterns: BTreeSet<&String> = self
            .members
            .values()
            .filter_map(|m| m.subscription.topic_regex.as_ref())
            .collect();
        let mut regexes = BTreeMap::new();
        if !patterns.is_empty() {
            let names = topics.topic_names();
            for pattern in patterns {
                let selected = match compile_regex(pattern) {
                    Some(re) => names.iter().filter(|n| re.is_match(n)).cloned().collect(),
                    None => BTreeSet::new(),
                };
                regexes.insert(pattern.clone(), selected);
            }
        }
        self.regexes = regexes;
        let subscribed: SubscribedTopics = self
            .subscribed_names()
            .into_iter()
            .filter_map(|name| topics.topic(&name).map(|t| (name, t)))
            .collect();
        if subscribed == self.subscribed {
            return false;
        }
        self.subscribed = subscribed;
        true
    }

    /// The ids of the existing topics a member subscribes to.
    pub(crate) fn member_topic_ids(&self, member: &ConsumerMember) -> BTreeSet<Uuid> {
        let by_regex = member
            .subscription
            .topic_regex
            .as_ref()
            .and_then(|r| self.regexes.get(r));
        member
            .subscription
            .topic_names
            .iter()
            .chain(by_regex.into_iter().flatten())
            .filter_map(|name| self.subscribed.get(name).map(|(id, _)| *id))
            .collect()
    }

    /// The assignor the members prefer (`group.remote.assignor`), the most named one;
    /// the broker's default when none names one.
    fn preferred_assignor(&self, config: &ConsumerGroupConfig) -> Assignor {
        let mut votes: BTreeMap<&str, usize> = BTreeMap::new();
        for m in self.members.values() {
            if let Some(name) = &m.subscription.server_assignor {
                *votes.entry(name.as_str()).or_default() += 1;
            }
        }
        votes
            .into_iter()
            .max_by_key(|(_, n)| *n)
            .and_then(|(name, _)| Assignor::from_name(name))
            .or_else(|| config.assignors.first().copied())
            .unwrap_or(Assignor::Uniform)
    }

    /// Computes the target assignment at the group epoch, recording the members whose
    /// part changed.
    pub(crate) fn compute_target(
        &mut self,
        config: &ConsumerGroupConfig,
        records: &mut Vec<ConsumerRecord>,
    ) {
        let assignor = self.preferred_assignor(config);
        let specs: BTreeMap<String, MemberSpec> = self
            .members
            .values()
            .map(|m| {
                let spec = MemberSpec {
                    instance_id: m.subscription.instance_id.clone(),
                    rack_id: m.subscription.rack_id.clone(),
                    topics: self.member_topic_ids(m),
                    current: self.target.get(&m.member_id).cloned().unwrap_or_default(),
                };
                (m.member_id.clone(), spec)
            })
            .collect();
        let topics: BTreeMap<Uuid, u32> = self.subscribed.values().copied().collect();
        let target = assignor.assign(&specs, &topics);
        for (member, assignment) in &target {
            if self.target.get(member) != Some(assignment) {
                records.push(ConsumerRecord::TargetMember {
                    member: member.clone(),
                    value: Some(assignment.clone()),
                });
            }
        }
        self.target = target;
        self.assignment_epoch = self.epoch;
        self.assignor = Some(assignor);
        records.push(self.metadata_record());
    }

    /// ConsumerGroupDescribe data; topic ids are named through `topics`.
    pub fn describe(
        &self,
        group_id: &str,
        config: &ConsumerGroupConfig,
    ) -> ConsumerGroupDescription {
        let members = self
            .members
            .values()
            .map(|m| ConsumerMemberDescription {
                member_id: m.member_id.clone(),
                instance_id: m.subscription.instance_id.clone(),
                rack_id: m.subscription.rack_id.clone(),
                member_epoch: m.current.member_epoch,
                client_id: m.subscription.client_id.clone(),
                client_host: m.subscription.client_host.clone(),
                topic_names: m.subscription.topic_names.iter().cloned().collect(),
                topic_regex: m.subscription.topic_regex.clone(),
                assignment: m.current.assigned.clone(),
                target: self.target.get(&m.member_id).cloned().unwrap_or_default(),
                is_classic: m.is_classic(),
            })
            .collect();
        ConsumerGroupDescription {
            group_id: group_id.to_string(),
            state: self.state_name(),
            epoch: self.epoch,
            assignment_epoch: self.assignment_epoch,
            assignor: self
                .assignor
                .unwrap_or_else(|| self.preferred_assignor(config))
                .name(),
            members,
        }
    }

    /// Applies one record read back from the offsets log.
    pub(crate) fn replay(&mut self, record: &ConsumerRecord) {
        match record {
            ConsumerRecord::Metadata(Some(v)) => {
                self.epoch = v.epoch;
                self.assignment_epoch = v.assignment_epoch;
                self.subscribed = v.subscribed.clone();
            }
            ConsumerRecord::Metadata(None) => *self = ConsumerGroup::default(),
            ConsumerRecord::TargetMember { member, value } => match value {
                Some(a) => {
                    self.target.insert(member.clone(), a.clone());
                }
                None => {
                    self.target.remove(member);
                }
            },
            ConsumerRecord::Member { member, value } => match value {
                Some(s) => {
                    let mut m = self
                        .members
                        .get(member)
                        .cloned()
                        .unwrap_or_else(|| ConsumerMember::new(member.clone()));
                    m.subscription = s.clone();
                    self.put_member(m);
                }
                None => {
                    if let Some(old) = self.members.remove(member) {
                        self.release(&old);
                    }
                }
            },
            ConsumerRecord::Current { member, value } => match (value, self.members.get(member)) {
                (Some(c), Some(m)) => {
                    let mut m = m.clone();
                    m.current = c.clone();
                    self.put_member(m);
                }
                (Some(c), None) => {
                    // Kafka writes the subscription first; tolerate any order.
                    let mut m = ConsumerMember::new(member.clone());
                    m.current = c.clone();
                    self.put_member(m);
                }
                (None, _) => {}
            },
        }
    }
}
