//! The group: its state, members and the helpers every request shares (validation,
//! removing a member, the stored metadata), DescribeGroups and DeleteGroups.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;

use super::api::{
    Effect, GroupConfig, GroupDescription, GroupState, JoinResult, MemberDescription, SyncResult,
};
use super::consumer::ConsumerGroup;
use super::consumer::ConsumerRecord;
use super::member::Member;
use super::rebalance::JoinTimer;
use super::record::{GroupMetadataValue, GroupRecord, MemberValue, OffsetValue};
use crate::protocol::ErrorCode;

/// One consumer group (Kafka's `ClassicGroup`).
#[derive(Debug, Clone)]
pub struct Group {
    pub(crate) group_id: String,
    pub(crate) config: GroupConfig,
    pub(crate) state: GroupState,
    pub(crate) state_timestamp_ms: Option<u64>,
    pub(crate) generation_id: i32,
    pub(crate) protocol_type: Option<String>,
    pub(crate) protocol_name: Option<String>,
    pub(crate) leader_id: Option<String>,
    pub(crate) members: BTreeMap<String, Member>,
    /// Two-step join: member ids handed out with MEMBER_ID_REQUIRED -> expiry.
    pub(crate) pending_members: BTreeMap<String, u64>,
    pub(crate) join_timer: Option<JoinTimer>,
    /// Members that got their JoinGroup answer but have not synced yet, and until when.
    pub(crate) pending_sync: BTreeSet<String>,
    pub(crate) sync_deadline_ms: Option<u64>,
    /// Topics the members subscribe to, when every subscription decodes.
    pub(crate) subscribed_topics: Option<BTreeSet<String>>,
    pub(crate) offsets: BTreeMap<(String, i32), OffsetValue>,
    /// TxnOffsetCommit offsets by producer id, until the transaction ends.
    pub(crate) pending_txn_offsets: BTreeMap<i64, BTreeMap<(String, i32), OffsetValue>>,
    /// Since when the group has been Empty with no offsets, members or open
    /// transactional offsets, as seen by a tick.
    pub(crate) unused_since_ms: Option<u64>,
    /// The consumer protocol's part: `Some` while the group is a consumer group
    /// (KIP-848); the classic fields above are then unused, except the offsets.
    pub(crate) consumer: Option<ConsumerGroup>,
}

impl Group {
    /// A new, Empty group.
    pub fn new(group_id: String, config: GroupConfig) -> Self {
        Self {
            group_id,
            config,
            state: GroupState::Empty,
            state_timestamp_ms: None,
            generation_id: 0,
            protocol_type: None,
            protocol_name: None,
            leader_id: None,
            members: BTreeMap::new(),
            pending_members: BTreeMap::new(),
            join_timer: None,
            pending_sync: BTreeSet::new(),
            sync_deadline_ms: None,
            subscribed_topics: None,
            offsets: BTreeMap::new(),
            pending_txn_offsets: BTreeMap::new(),
            unused_since_ms: None,
            consumer: None,
        }
    }

    /// New settings (a per-group override changed); they apply from the next request.
    pub fn set_config(&mut self, config: GroupConfig) {
        self.config = config;
    }

    pub fn group_id(&self) -> &str {
        &self.group_id
    }

    pub fn state(&self) -> GroupState {
        self.state
    }

    /// The current generation (0 before the first rebalance).
    pub fn generation_id(&self) -> i32 {
        self.generation_id
    }

    /// The leader's member id, if any.
    pub fn leader(&self) -> Option<&str> {
        self.leader_id.as_deref()
    }

    /// Empty or Dead with no committed offsets: the actor may drop it.
    pub fn is_empty_and_unused(&self) -> bool {
        matches!(self.state, GroupState::Empty | GroupState::Dead)
            && self.offsets.is_empty()
            && self.members.is_empty()
            && self.pending_members.is_empty()
            && self.pending_txn_offsets.is_empty()
            && !self.has_consumer_members()
    }

    /// DescribeGroups data.
    pub fn describe(&self) -> GroupDescription {
        let stable = self.state == GroupState::Stable;
        let protocol = self.protocol_name.clone().unwrap_or_default();
        let members = self
            .members
            .values()
            .map(|m| MemberDescription {
                member_id: m.member_id.clone(),
                group_instance_id: m.group_instance_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                metadata: if stable {
                    m.metadata(&protocol)
                } else {
                    Bytes::new()
                },
                assignment: if stable {
                    m.assignment.clone()
                } else {
                    Bytes::new()
                },
            })
            .collect();
        GroupDescription {
            group_id: self.group_id.clone(),
            state: self.state.name(),
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            protocol: if stable { protocol } else { String::new() },
            members,
            is_consumer_group: self.consumer.is_some(),
        }
    }

    /// DeleteGroups: only an Empty group; it becomes Dead and tombstones its offsets and
    /// metadata. A Dead group, or one that never existed, is GROUP_ID_NOT_FOUND (Kafka's
    /// answer for a group it does not know); any other state NON_EMPTY_GROUP.
    pub fn delete(&mut self) -> Result<Vec<Effect>, ErrorCode> {
        if self.has_consumer_members() {
            return Err(ErrorCode::NonEmptyGroup);
        }
        match self.state {
            GroupState::Dead => Err(ErrorCode::GroupIdNotFound),
            GroupState::Empty if self.never_existed() => Err(ErrorCode::GroupIdNotFound),
            GroupState::Empty => {
                let mut effects = self.offset_tombstones_all();
                effects.push(self.group_tombstone());
                self.transition(GroupState::Dead, None);
                Ok(effects)
            }
            _ => Err(ErrorCode::NonEmptyGroup),
        }
    }

    /// A deleted (Dead) group is gone in Kafka: the next JoinGroup or OffsetCommit for
    /// its id starts a new one.
    pub(crate) fn revive_if_dead(&mut self) {
        if self.state == GroupState::Dead {
            *self = Group::new(self.group_id.clone(), self.config.clone());
        }
    }

    fn never_existed(&self) -> bool {
        self.generation_id == 0
            && self.offsets.is_empty()
            && self.protocol_type.is_none()
            && self.consumer.is_none()
    }

    pub(crate) fn transition(&mut self, state: GroupState, now_ms: Option<u64>) {
        self.state = state;
        if now_ms.is_some() {
            self.state_timestamp_ms = now_ms;
        }
    }

    pub(crate) fn static_member_id(&self, instance_id: &str) -> Option<&str> {
        self.members
            .values()
            .find(|m| m.group_instance_id.as_deref() == Some(instance_id))
            .map(|m| m.member_id.as_str())
    }

    /// Kafka's `isStaticMemberFenced`: the instance is known under another member id.
    pub(crate) fn is_fenced(&self, instance_id: Option<&str>, member_id: &str) -> bool {
        instance_id
            .and_then(|i| self.static_member_id(i))
            .is_some_and(|current| current != member_id)
    }

    /// Kafka's member validation: FENCED_INSTANCE_ID, then UNKNOWN_MEMBER_ID.
    pub(crate) fn validate_member(
        &self,
        member_id: &str,
        instance_id: Option<&str>,
    ) -> Result<(), ErrorCode> {
        if self.is_fenced(instance_id, member_id) {
            Err(ErrorCode::FencedInstanceId)
        } else if !self.members.contains_key(member_id) {
            Err(ErrorCode::UnknownMemberId)
        } else {
            Ok(())
        }
    }

    pub(crate) fn refresh_session(&mut self, now_ms: u64, member_id: &str) {
        if let Some(m) = self.members.get_mut(member_id) {
            m.session_deadline_ms = Some(now_ms + m.session_timeout_ms);
        }
    }

    /// The longest rebalance timeout of the members (Kafka's `rebalanceTimeoutMs`).
    pub(crate) fn rebalance_timeout_ms(&self) -> u64 {
        self.members
            .values()
            .map(|m| m.rebalance_timeout_ms)
            .max()
            .unwrap_or(0)
    }

    /// Removes a member; its parked join or sync gets `error`, and the leadership moves on.
    pub(crate) fn remove_member(
        &mut self,
        member_id: &str,
        error: ErrorCode,
        effects: &mut Vec<Effect>,
    ) {
        let Some(m) = self.members.remove(member_id) else {
            return;
        };
        if let Some(token) = m.awaiting_join {
            effects.push(Effect::Join {
                token,
                result: JoinResult::error(member_id, error),
            });
        }
        if let Some(token) = m.awaiting_sync {
            effects.push(Effect::Sync {
                token,
                result: SyncResult::error(error),
            });
        }
        self.pending_sync.remove(member_id);
        if self.leader_id.as_deref() == Some(member_id) {
            self.leader_id = self.members.keys().next().cloned();
        }
    }

    /// Kafka's `removeMemberAndUpdateGroup`: remove, then rebalance or complete the join.
    pub(crate) fn remove_member_and_update(
        &mut self,
        now_ms: u64,
        member_id: &str,
        effects: &mut Vec<Effect>,
    ) {
        self.remove_member(member_id, ErrorCode::UnknownMemberId, effects);
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.prepare_rebalance(now_ms, effects)
            }
            GroupState::PreparingRebalance => self.try_complete_join(now_ms, effects),
            GroupState::Empty | GroupState::Dead => {}
        }
    }

    /// The group's metadata record, as Kafka stores it after a rebalance.
    pub(crate) fn metadata_record(&self) -> Effect {
        let protocol = self.protocol_name.clone().unwrap_or_default();
        let members = self
            .members
            .values()
            .map(|m| MemberValue {
                member_id: m.member_id.clone(),
                group_instance_id: m.group_instance_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                session_timeout_ms: m.session_timeout_ms,
                rebalance_timeout_ms: m.rebalance_timeout_ms,
                subscription: m.metadata(&protocol).to_vec(),
                assignment: m.assignment.to_vec(),
            })
            .collect();
        Effect::Persist(GroupRecord::Group {
            group: self.group_id.clone(),
            value: Some(GroupMetadataValue {
                protocol_type: self.protocol_type.clone(),
                generation_id: self.generation_id,
                protocol_name: self.protocol_name.clone(),
                leader: self.leader_id.clone(),
                state_timestamp_ms: self.state_timestamp_ms,
                members,
            }),
        })
    }

    /// The tombstone of the group's metadata: the classic record, or the consumer
    /// protocol's epoch record for a consumer group.
    pub(crate) fn group_tombstone(&self) -> Effect {
        if self.consumer.is_some() {
            return Effect::Persist(GroupRecord::Consumer {
                group: self.group_id.clone(),
                record: ConsumerRecord::Metadata(None),
            });
        }
        Effect::Persist(GroupRecord::Group {
            group: self.group_id.clone(),
            value: None,
        })
    }
}
