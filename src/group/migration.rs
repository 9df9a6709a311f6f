//! Both protocols on one group (Kafka's `group.consumer.migration.policy`): classic
//! requests reaching a consumer group, and the two conversions. A consumer-protocol
//! member joining a classic group with members turns it into a consumer group whose
//! classic members keep their partitions and follow the coordinator's assignment through
//! JoinGroup and SyncGroup; when the last consumer-protocol member leaves and classic
//! members remain, the group turns back into a classic group that rebalances them.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;

use super::api::{Effect, GroupState, JoinRequest, JoinResult, SyncRequest, SyncResult, Token};
use super::consumer::{
    Assignment, ClassicJoin, ClassicMember, ConsumerGroup, ConsumerMember, ConsumerRecord,
    CurrentAssignment, MemberState, Subscription, TopicMetadata,
};
use super::member::Member;
use super::record::GroupRecord;
use super::state::Group;
use crate::protocol::consumer_protocol::{
    decode_assignment, decode_subscription, encode_assignment, CONSUMER_PROTOCOL_VERSION,
};
use crate::protocol::ErrorCode;

/// Kafka's `group.consumer.migration.policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MigrationPolicy {
    #[default]
    Bidirectional,
    Upgrade,
    Downgrade,
    Disabled,
}

impl MigrationPolicy {
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "bidirectional" => Some(Self::Bidirectional),
            "upgrade" => Some(Self::Upgrade),
            "downgrade" => Some(Self::Downgrade),
            "disabled" => Some(Self::Disabled),
            _ => None,
        }
    }

    fn upgrades(self) -> bool {
        matches!(self, Self::Bidirectional | Self::Upgrade)
    }

    fn downgrades(self) -> bool {
        matches!(self, Self::Bidirectional | Self::Downgrade)
    }
}

impl Group {
    fn persist_consumer(&self, records: Vec<ConsumerRecord>, effects: &mut Vec<Effect>) {
        effects.extend(records.into_iter().map(|record| {
            Effect::Persist(GroupRecord::Consumer {
                group: self.group_id.clone(),
                record,
            })
        }));
    }

    /// JoinGroup of a classic member to a consumer group with members.
    pub(crate) fn classic_join_consumer_group(
        &mut self,
        now_ms: u64,
        token: Token,
        req: JoinRequest,
        topics: &dyn TopicMetadata,
    ) -> Vec<Effect> {
        let mut effects = Vec::new();
        let answer = |result| Effect::Join { token, result };
        if req.protocol_type != "consumer" {
            effects.push(answer(JoinResult::error(
                &req.member_id,
                ErrorCode::InconsistentGroupProtocol,
            )));
            return effects;
        }
        let config = self.config.consumer.clone();
        let join = ClassicJoin {
            member_id: req.member_id.clone(),
            instance_id: req.group_instance_id.clone(),
            session_timeout_ms: u64::try_from(req.session_timeout_ms).unwrap_or(0),
            rebalance_timeout_ms: u64::try_from(req.rebalance_timeout_ms).unwrap_or(0),
            protocols: req.protocols.clone(),
            client_id: req.client_id.clone(),
            client_host: req.client_host.clone(),
            require_known_member_id: req.require_known_member_id,
        };
        let mut records = Vec::new();
        let Some(consumer) = self.consumer.as_mut() else {
            return effects;
        };
        let result = consumer.classic_join(now_ms, &config, join, topics, &mut records);
        self.persist_consumer(records, &mut effects);
        effects.push(answer(match result {
            Ok(joined) => JoinResult {
                error: ErrorCode::None,
                generation_id: joined.generation_id,
                protocol_type: Some("consumer".to_string()),
                protocol_name: Some(joined.protocol_name),
                leader: String::new(),
                skip_assignment: false,
                member_id: joined.member_id,
                members: Vec::new(),
            },
            Err(e) => {
                let id = if e.member_id.is_empty() {
                    req.member_id
                } else {
                    e.member_id
                };
                JoinResult::error(&id, e.error)
            }
        }));
        effects
    }

    /// SyncGroup of a classic member of a consumer group: its assignment, encoded in the
    /// consumer protocol's version it subscribed with.
    pub(crate) fn classic_sync_consumer_group(
        &mut self,
        now_ms: u64,
        token: Token,
        req: SyncRequest,
    ) -> Vec<Effect> {
        let result = (|| {
            let consumer = self.consumer.as_mut().ok_or(ErrorCode::UnknownMemberId)?;
            let assigned = consumer.classic_sync(
                now_ms,
                &req.member_id,
                req.group_instance_id.as_deref(),
                req.generation_id,
                req.protocol_name.as_deref(),
            )?;
            let version = consumer
                .member(&req.member_id)
                .and_then(|m| m.subscription.classic.as_ref())
                .and_then(|c| c.protocols.first())
                .and_then(|(_, meta)| meta.get(..2))
                .map_or(0, |v| i16::from_be_bytes([v[0], v[1]]));
            let names = consumer.topic_names_by_id();
            let bytes = encode_assignment(version, by_name(&assigned, &names))
                .map_err(|_| ErrorCode::UnknownServerError)?;
            Ok(SyncResult {
                error: ErrorCode::None,
                protocol_type: req.protocol_type.clone(),
                protocol_name: req.protocol_name.clone(),
                assignment: bytes,
            })
        })();
        vec![Effect::Sync {
            token,
            result: result.unwrap_or_else(SyncResult::error),
        }]
    }

    /// Heartbeat of a classic member of a consumer group.
    pub(crate) fn classic_heartbeat_consumer_group(
        &mut self,
        now_ms: u64,
        member_id: &str,
        generation_id: i32,
        instance_id: Option<&str>,
    ) -> ErrorCode {
        match self.consumer.as_mut() {
            Some(c) => c.classic_heartbeat(now_ms, member_id, instance_id, generation_id),
            None => ErrorCode::UnknownMemberId,
        }
    }

    /// LeaveGroup of classic members of a consumer group; the group may turn classic.
    pub(crate) fn classic_leave_consumer_group(
        &mut self,
        now_ms: u64,
        members: Vec<(String, Option<String>)>,
    ) -> (Vec<ErrorCode>, Vec<Effect>) {
        let mut effects = Vec::new();
        let mut records = Vec::new();
        let Some(consumer) = self.consumer.as_mut() else {
            return (vec![ErrorCode::UnknownMemberId; members.len()], effects);
        };
        let codes = members
            .iter()
            .map(|(id, instance)| consumer.classic_leave(id, instance.as_deref(), &mut records))
            .collect();
        self.persist_consumer(records, &mut effects);
        self.maybe_downgrade(now_ms, &mut effects);
        (codes, effects)
    }

    /// Upgrade: a consumer-protocol member joins a classic group that has members. The
    /// classic members become members of a consumer group at the group's generation,
    /// keeping their assignments; parked requests are told to rebalance. `false` when
    /// the policy or the group does not allow it.
    pub(crate) fn upgrade_to_consumer_group(
        &mut self,
        now_ms: u64,
        topics: &dyn TopicMetadata,
        effects: &mut Vec<Effect>,
    ) -> bool {
        let config = self.config.consumer.clone();
        if !self.config.migration_policy.upgrades()
            || self.protocol_type.as_deref() != Some("consumer")
            || self.members.len() >= config.max_size
        {
            return false;
        }
        let protocol = self.protocol_name.clone().unwrap_or_default();
        let mut consumer = ConsumerGroup::default();
        let generation = self.generation_id;
        let mut records = Vec::new();
        for m in self.members.values() {
            let Ok(subscription) = decode_subscription(&m.metadata(&protocol)) else {
                return false;
            };
            let mut assigned = Assignment::new();
            if let Ok(a) = decode_assignment(&m.assignment) {
                for tp in a.assigned_partitions {
                    if let Some((id, _)) = topics.topic(&tp.topic) {
                        assigned.entry(id).or_default().extend(tp.partitions);
                    }
                }
            }
            let member = ConsumerMember {
                member_id: m.member_id.clone(),
                subscription: Subscription {
                    instance_id: m.group_instance_id.clone(),
                    rack_id: subscription.rack_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    topic_names: subscription.topics.iter().cloned().collect(),
                    topic_regex: None,
                    server_assignor: None,
                    rebalance_timeout_ms: m.rebalance_timeout_ms,
                    classic: Some(ClassicMember {
                        session_timeout_ms: m.session_timeout_ms,
                        protocols: m
                            .protocols
                            .iter()
                            .map(|(n, b)| (n.clone(), b.to_vec()))
                            .collect(),
                    }),
                },
                current: CurrentAssignment {
                    member_epoch: generation,
                    previous_member_epoch: generation,
                    state: MemberState::Stable,
                    assigned: assigned.clone(),
                    pending_revocation: Assignment::new(),
                },
                session_deadline_ms: Some(now_ms + m.session_timeout_ms),
                revocation_deadline_ms: None,
            };
            records.push(ConsumerRecord::Member {
                member: member.member_id.clone(),
                value: Some(member.subscription.clone()),
            });
            records.push(ConsumerRecord::TargetMember {
                member: member.member_id.clone(),
                value: Some(assigned.clone()),
            });
            records.push(ConsumerRecord::Current {
                member: member.member_id.clone(),
                value: Some(member.current.clone()),
            });
            consumer.target.insert(member.member_id.clone(), assigned);
            consumer.put_member(member);
        }
        consumer.epoch = generation;
        consumer.assignment_epoch = generation;
        consumer.refresh_subscribed(topics, true);
        records.insert(0, consumer.metadata_record());
        // Parked JoinGroup and SyncGroup requests join again, now to a consumer group.
        let parked: Vec<String> = self.members.keys().cloned().collect();
        for id in parked {
            self.remove_member(&id, ErrorCode::RebalanceInProgress, effects);
        }
        effects.push(Effect::Persist(GroupRecord::Group {
            group: self.group_id.clone(),
            value: None,
        }));
        let offsets = std::mem::take(&mut self.offsets);
        let pending = std::mem::take(&mut self.pending_txn_offsets);
        *self = Group::new(self.group_id.clone(), self.config.clone());
        self.offsets = offsets;
        self.pending_txn_offsets = pending;
        self.consumer = Some(consumer);
        self.persist_consumer(records, effects);
        tracing::info!(group_id = %self.group_id, "classic group converted to a consumer group");
        true
    }

    /// Downgrade: once only classic members remain in a consumer group, it becomes a
    /// classic group at its epoch, with their assignments, and rebalances them.
    pub(crate) fn maybe_downgrade(&mut self, now_ms: u64, effects: &mut Vec<Effect>) {
        let Some(consumer) = &self.consumer else {
            return;
        };
        if !self.config.migration_policy.downgrades()
            || consumer.is_empty()
            || consumer.members.values().any(|m| !m.is_classic())
            || consumer.members.len() > self.config.max_size
        {
            return;
        }
        let names = consumer.topic_names_by_id();
        let mut records = Vec::new();
        let mut members = BTreeMap::new();
        let mut protocols: Option<BTreeSet<String>> = None;
        for m in consumer.members.values() {
            let Some(classic) = &m.subscription.classic else {
                return;
            };
            let offered: BTreeSet<String> =
                classic.protocols.iter().map(|(n, _)| n.clone()).collect();
            protocols = Some(match protocols {
                None => offered,
                Some(p) => p.intersection(&offered).cloned().collect(),
            });
            let version = classic
                .protocols
                .first()
                .and_then(|(_, meta)| meta.get(..2))
                .map_or(0, |v| i16::from_be_bytes([v[0], v[1]]))
                .min(CONSUMER_PROTOCOL_VERSION);
            let assignment = encode_assignment(version, by_name(&m.current.assigned, &names))
                .unwrap_or_default();
            members.insert(
                m.member_id.clone(),
                Member {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.subscription.instance_id.clone(),
                    client_id: m.subscription.client_id.clone(),
                    client_host: m.subscription.client_host.clone(),
                    session_timeout_ms: classic.session_timeout_ms,
                    rebalance_timeout_ms: m.subscription.rebalance_timeout_ms,
                    protocols: classic
                        .protocols
                        .iter()
                        .map(|(n, b)| (n.clone(), Bytes::from(b.clone())))
                        .collect(),
                    assignment,
                    awaiting_join: None,
                    awaiting_sync: None,
                    is_new: false,
                    session_deadline_ms: Some(now_ms + classic.session_timeout_ms),
                },
            );
            records.extend(ConsumerRecord::member_tombstones(&m.member_id));
        }
        let Some(protocol) = protocols.and_then(|p| {
            // The members' first choice among the protocols they all offer.
            members
                .values()
                .next()
                .and_then(|m| m.protocols.iter().map(|(n, _)| n).find(|n| p.contains(*n)))
                .cloned()
        }) else {
            return;
        };
        records.push(ConsumerRecord::Metadata(None));
        self.persist_consumer(records, effects);
        let generation = consumer.epoch;
        self.consumer = None;
        self.members = members;
        self.generation_id = generation;
        self.protocol_type = Some("consumer".to_string());
        self.protocol_name = Some(protocol);
        self.leader_id = self.members.keys().next().cloned();
        self.subscribed_topics = self.compute_subscribed_topics();
        self.transition(GroupState::Stable, Some(now_ms));
        effects.push(self.metadata_record());
        self.prepare_rebalance(now_ms, effects);
        tracing::info!(group_id = %self.group_id, "consumer group converted to a classic group");
    }
}

/// An assignment by topic name, for the consumer protocol's bytes.
fn by_name(assigned: &Assignment, names: &BTreeMap<uuid::Uuid, String>) -> Vec<(String, Vec<i32>)> {
    assigned
        .iter()
        .filter_map(|(id, ps)| {
            names
                .get(id)
                .map(|n| (n.clone(), ps.iter().copied().collect()))
        })
        .collect()
}
