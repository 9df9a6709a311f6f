//! Classic members inside a consumer group (Kafka's `classicGroupJoinToConsumerGroup` and
//! its Sync, Heartbeat and Leave siblings): while a group migrates between the protocols,
//! a member still on JoinGroup/SyncGroup is a consumer-group member like the others. The
//! coordinator assigns its partitions; JoinGroup reconciles it one step (its owned
//! partitions come in its subscription), SyncGroup hands it its assigned partitions, and
//! a heartbeat answers REBALANCE_IN_PROGRESS when it should join again to move on.

use std::collections::BTreeMap;

use bytes::Bytes;
use uuid::Uuid;

use super::api::ConsumerGroupConfig;
use super::assignor::Assignment;
use super::group::ConsumerGroup;
use super::member::{ClassicMember, ConsumerMember, MemberState};
use super::record::ConsumerRecord;
use super::topics::TopicMetadata;
use crate::protocol::consumer_protocol::decode_subscription;
use crate::protocol::ErrorCode;

/// A classic JoinGroup, as a consumer group reads it.
#[derive(Debug, Clone)]
pub struct ClassicJoin {
    /// "" for a member the group does not know yet.
    pub member_id: String,
    pub instance_id: Option<String>,
    pub session_timeout_ms: u64,
    pub rebalance_timeout_ms: u64,
    /// (name, subscription) in the member's order of preference.
    pub protocols: Vec<(String, Bytes)>,
    pub client_id: String,
    pub client_host: String,
    pub require_known_member_id: bool,
}

/// A successful classic JoinGroup: the member is a follower whose assignment comes in
/// SyncGroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassicJoined {
    pub member_id: String,
    pub generation_id: i32,
    pub protocol_name: String,
}

/// A classic request's failure; `member_id` is set for MEMBER_ID_REQUIRED.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassicError {
    pub error: ErrorCode,
    pub member_id: String,
}

impl From<ErrorCode> for ClassicError {
    fn from(error: ErrorCode) -> Self {
        ClassicError {
            error,
            member_id: String::new(),
        }
    }
}

impl ConsumerGroup {
    /// The member a classic request names: UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID, and
    /// UNKNOWN_MEMBER_ID for a member of the consumer protocol.
    fn classic_member(
        &self,
        member_id: &str,
        instance_id: Option<&str>,
    ) -> Result<&ConsumerMember, ErrorCode> {
        let member = match instance_id {
            None => self.members.get(member_id),
            Some(i) => match self.static_member(i) {
                Some(m) if m.member_id != member_id => return Err(ErrorCode::FencedInstanceId),
                found => found,
            },
        };
        member
            .filter(|m| m.is_classic())
            .ok_or(ErrorCode::UnknownMemberId)
    }

    /// JoinGroup of a classic member.
    pub fn classic_join(
        &mut self,
        now_ms: u64,
        config: &ConsumerGroupConfig,
        join: ClassicJoin,
        topics: &dyn TopicMetadata,
        records: &mut Vec<ConsumerRecord>,
    ) -> Result<ClassicJoined, ClassicError> {
        let unknown = join.member_id.is_empty();
        let member_id = if unknown {
            Uuid::new_v4().to_string()
        } else {
            join.member_id.clone()
        };
        let Some((protocol_name, metadata)) = join.protocols.first() else {
            return Err(ErrorCode::InconsistentGroupProtocol.into());
        };
        let subscription =
            decode_subscription(metadata).map_err(|_| ErrorCode::InconsistentGroupProtocol)?;
        let existing = match &join.instance_id {
            None => self.members.get(&member_id).cloned(),
            Some(instance) => match self.static_member(instance).cloned() {
                Some(m) if m.member_id == member_id => Some(m),
                // The instance comes back under a new id: it takes the old one's place.
                Some(m) if unknown => {
                    let mut replacement = m.clone();
                    replacement.member_id = member_id.clone();
                    self.replace_member(&m.member_id, &replacement, records);
                    Some(replacement)
                }
                Some(_) => return Err(ErrorCode::FencedInstanceId.into()),
                None => None,
            },
        };
        if existing.is_none() && self.members.len() >= config.max_size {
            return Err(ErrorCode::GroupMaxSizeReached.into());
        }
        if existing.is_none() && !unknown && join.instance_id.is_none() {
            return Err(ErrorCode::UnknownMemberId.into());
        }
        if unknown && join.require_known_member_id && join.instance_id.is_none() {
            return Err(ClassicError {
                error: ErrorCode::MemberIdRequired,
                member_id,
            });
        }
        let is_new = existing.is_none();
        let mut member = existing.unwrap_or_else(|| ConsumerMember::new(member_id.clone()));
        let before = member.subscription.clone();
        let s = &mut member.subscription;
        s.instance_id = join.instance_id.clone();
        if subscription.rack_id.is_some() {
            s.rack_id = subscription.rack_id.clone();
        }
        s.rebalance_timeout_ms = join.rebalance_timeout_ms;
        s.topic_names = subscription.topics.iter().cloned().collect();
        s.topic_regex = None;
        s.server_assignor = None;
        s.client_id = join.client_id;
        s.client_host = join.client_host;
        s.classic = Some(ClassicMember {
            session_timeout_ms: join.session_timeout_ms,
            protocols: join
                .protocols
                .iter()
                .map(|(name, meta)| (name.clone(), meta.to_vec()))
                .collect(),
        });
        let subscription_changed = before.topic_names != s.topic_names
            || before.topic_regex != s.topic_regex
            || before.server_assignor != s.server_assignor;
        if is_new || member.subscription != before {
            records.push(ConsumerRecord::Member {
                member: member_id.clone(),
                value: Some(member.subscription.clone()),
            });
        }
        member.session_deadline_ms = Some(now_ms + join.session_timeout_ms);
        self.put_member(member);

        self.advance_epoch(config, topics, is_new || subscription_changed, records);
        // What it owns is in its subscription (v1+); an eager member owns nothing here.
        let mut owned = Assignment::new();
        for tp in &subscription.owned_partitions {
            if let Some((id, _)) = topics.topic(&tp.topic) {
                owned
                    .entry(id)
                    .or_default()
                    .extend(tp.partitions.iter().copied());
            }
        }
        self.reconcile(now_ms, &member_id, Some(&owned), records);
        let epoch = self
            .members
            .get(&member_id)
            .map_or(0, |m| m.current.member_epoch);
        Ok(ClassicJoined {
            member_id,
            generation_id: epoch,
            protocol_name: protocol_name.clone(),
        })
    }

    /// SyncGroup of a classic member: its assigned partitions, by topic id.
    pub fn classic_sync(
        &mut self,
        now_ms: u64,
        member_id: &str,
        instance_id: Option<&str>,
        generation_id: i32,
        protocol_name: Option<&str>,
    ) -> Result<Assignment, ErrorCode> {
        let member = self.classic_member(member_id, instance_id)?;
        if member.current.member_epoch != generation_id {
            return Err(ErrorCode::IllegalGeneration);
        }
        let offered =
            member.subscription.classic.as_ref().is_some_and(|c| {
                protocol_name.is_none_or(|p| c.protocols.iter().any(|(n, _)| n == p))
            });
        if !offered {
            return Err(ErrorCode::InconsistentGroupProtocol);
        }
        if self.epoch > member.current.member_epoch
            && member.current.state != MemberState::UnrevokedPartitions
        {
            return Err(ErrorCode::RebalanceInProgress);
        }
        let assigned = member.current.assigned.clone();
        let timeout = member.session_timeout_ms(0);
        let id = member.member_id.clone();
        if let Some(m) = self.members.get_mut(&id) {
            m.session_deadline_ms = Some(now_ms + timeout);
        }
        Ok(assigned)
    }

    /// Heartbeat of a classic member: REBALANCE_IN_PROGRESS when it should join again
    /// (the group moved on, it must revoke, or what it waits for is free).
    pub fn classic_heartbeat(
        &mut self,
        now_ms: u64,
        member_id: &str,
        instance_id: Option<&str>,
        generation_id: i32,
    ) -> ErrorCode {
        let member = match self.classic_member(member_id, instance_id) {
            Ok(m) => m,
            Err(e) => return e,
        };
        if member.current.member_epoch != generation_id {
            return ErrorCode::IllegalGeneration;
        }
        let waiting_on_others = self.waiting_on_unreleased(member);
        let rejoin = member.current.member_epoch < self.epoch
            || member.current.state == MemberState::UnrevokedPartitions
            || (member.current.state == MemberState::UnreleasedPartitions && !waiting_on_others);
        let timeout = member.session_timeout_ms(0);
        let id = member.member_id.clone();
        if let Some(m) = self.members.get_mut(&id) {
            m.session_deadline_ms = Some(now_ms + timeout);
        }
        if rejoin {
            ErrorCode::RebalanceInProgress
        } else {
            ErrorCode::None
        }
    }

    /// Whether some partition of the member's target is still held by another member.
    fn waiting_on_unreleased(&self, member: &ConsumerMember) -> bool {
        let Some(target) = self.target.get(&member.member_id) else {
            return false;
        };
        target.iter().any(|(t, ps)| {
            ps.iter().any(|p| {
                !member
                    .current
                    .assigned
                    .get(t)
                    .is_some_and(|a| a.contains(p))
                    && self.owned_by_other(&member.member_id, t, *p)
            })
        })
    }

    /// LeaveGroup of one classic member.
    pub fn classic_leave(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        records: &mut Vec<ConsumerRecord>,
    ) -> ErrorCode {
        let id = match self.classic_member(member_id, instance_id) {
            Ok(m) => m.member_id.clone(),
            Err(e) => return e,
        };
        self.remove_member(&id, records);
        ErrorCode::None
    }

    /// A topic id's name among the subscribed topics.
    pub(crate) fn topic_names_by_id(&self) -> BTreeMap<Uuid, String> {
        self.subscribed
            .iter()
            .map(|(name, (id, _))| (*id, name.clone()))
            .collect()
    }
}
