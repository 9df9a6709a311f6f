//! A group is a classic group or a consumer group (KIP-848); they share the committed
//! offsets. This file holds the consumer protocol's entry points on [`Group`], the switch
//! between the two kinds, and what ListGroups and the offset APIs see of each.
//!
//! An empty group changes kind when a member of the other protocol joins it, as Kafka
//! does; a group with members converts as `group.consumer.migration.policy` allows
//! (`migration.rs`).

use super::api::{Effect, GroupOverview, GroupState};
use super::consumer::{
    validate, ConsumerGroup, ConsumerGroupDescription, ConsumerRecord, HeartbeatRequest,
    HeartbeatResult, TopicMetadata,
};
use super::record::GroupRecord;
use super::state::Group;
use crate::protocol::ErrorCode;

impl Group {
    /// Whether the group is a consumer group (Kafka's `GroupType.CONSUMER`).
    pub fn is_consumer_group(&self) -> bool {
        self.consumer.is_some()
    }

    pub(crate) fn has_consumer_members(&self) -> bool {
        self.consumer.as_ref().is_some_and(|c| !c.is_empty())
    }

    /// The consumer protocol's part, if the group is a consumer group.
    pub fn consumer_group(&self) -> Option<&ConsumerGroup> {
        self.consumer.as_ref()
    }

    /// ConsumerGroupHeartbeat. The answer must wait until the returned records are
    /// stored.
    pub fn consumer_heartbeat(
        &mut self,
        now_ms: u64,
        req: HeartbeatRequest,
        topics: &dyn TopicMetadata,
    ) -> (HeartbeatResult, Vec<Effect>) {
        let config = self.config.consumer.clone();
        if let Err(failure) = validate(&req, &config) {
            return (failure, Vec::new());
        }
        let mut effects = Vec::new();
        if self.consumer.is_none() {
            if req.member_epoch != 0 {
                let message = format!("Group {} has no member {}.", self.group_id, req.member_id);
                return (
                    HeartbeatResult::error(ErrorCode::UnknownMemberId, message),
                    effects,
                );
            }
            self.revive_if_dead();
            if !self.members.is_empty() {
                // A live classic group: converted, if the policy and the group allow.
                if !self.upgrade_to_consumer_group(now_ms, topics, &mut effects) {
                    let message = format!("Group {} is not a consumer group.", self.group_id);
                    return (
                        HeartbeatResult::error(ErrorCode::GroupIdNotFound, message),
                        effects,
                    );
                }
            } else {
                // An empty classic group becomes a consumer group; its offsets stay.
                if self.protocol_type.is_some() {
                    effects.push(self.group_tombstone());
                }
                let offsets = std::mem::take(&mut self.offsets);
                let pending = std::mem::take(&mut self.pending_txn_offsets);
                *self = Group::new(self.group_id.clone(), self.config.clone());
                self.offsets = offsets;
                self.pending_txn_offsets = pending;
                self.consumer = Some(ConsumerGroup::default());
            }
        }
        let Some(consumer) = self.consumer.as_mut() else {
            return (
                HeartbeatResult::error(ErrorCode::UnknownServerError, ""),
                effects,
            );
        };
        let mut records = Vec::new();
        let leaving = req.member_epoch == -1;
        let result = consumer.heartbeat(now_ms, &config, req, topics, &mut records);
        let group = &self.group_id;
        effects.extend(records.into_iter().map(|record| {
            Effect::Persist(GroupRecord::Consumer {
                group: group.clone(),
                record,
            })
        }));
        if leaving {
            self.maybe_downgrade(now_ms, &mut effects);
        }
        (result, effects)
    }

    /// ConsumerGroupDescribe data; GROUP_ID_NOT_FOUND for a classic group.
    pub fn consumer_describe(&self) -> Result<ConsumerGroupDescription, (ErrorCode, String)> {
        match &self.consumer {
            Some(c) if self.state != GroupState::Dead => {
                Ok(c.describe(&self.group_id, &self.config.consumer))
            }
            _ => Err((
                ErrorCode::GroupIdNotFound,
                format!("Group {} is not a consumer group.", self.group_id),
            )),
        }
    }

    /// A classic JoinGroup reaches an empty consumer group: it becomes a classic group
    /// (its offsets stay). One with members takes the member in (`migration.rs`).
    pub(crate) fn leave_consumer_protocol(
        &mut self,
        effects: &mut Vec<Effect>,
    ) -> Result<(), ErrorCode> {
        if self.has_consumer_members() {
            return Err(ErrorCode::InconsistentGroupProtocol);
        }
        if self.consumer.is_some() {
            effects.push(self.group_tombstone());
            self.consumer = None;
        }
        Ok(())
    }

    /// Kafka's `ConsumerGroup.validateOffsetCommit`: a commit without a member epoch is
    /// accepted only while the group has no member; a member's must carry its current
    /// epoch (STALE_MEMBER_EPOCH).
    pub(crate) fn validate_consumer_offset_commit(
        consumer: &ConsumerGroup,
        member_id: &str,
        member_epoch: i32,
    ) -> Result<(), ErrorCode> {
        if member_epoch < 0 && consumer.is_empty() {
            return Ok(());
        }
        let member = consumer
            .member(member_id)
            .ok_or(ErrorCode::UnknownMemberId)?;
        if member.current.member_epoch != member_epoch {
            // A classic member's epoch is its generation.
            return Err(if member.is_classic() {
                ErrorCode::IllegalGeneration
            } else {
                ErrorCode::StaleMemberEpoch
            });
        }
        Ok(())
    }

    /// A member of the consumer protocol must commit with OffsetCommit v9+, which carries
    /// its member epoch (UNSUPPORTED_VERSION otherwise, as Kafka).
    pub fn check_offset_commit_version(
        &self,
        member_id: &str,
        api_version: i16,
    ) -> Result<(), ErrorCode> {
        match &self.consumer {
            Some(c) if api_version < 9 && c.member(member_id).is_some_and(|m| !m.is_classic()) => {
                Err(ErrorCode::UnsupportedVersion)
            }
            _ => Ok(()),
        }
    }

    /// Kafka's `validateOffsetFetch` for a consumer group: a fetch that names a member
    /// must carry its current epoch.
    pub fn validate_offset_fetch(
        &self,
        member_id: Option<&str>,
        member_epoch: i32,
    ) -> Result<(), ErrorCode> {
        let Some(consumer) = &self.consumer else {
            return Ok(());
        };
        let Some(member_id) = member_id else {
            return Ok(());
        };
        if member_epoch < 0 && member_id.is_empty() {
            return Ok(());
        }
        let member = consumer
            .member(member_id)
            .ok_or(ErrorCode::UnknownMemberId)?;
        if member.current.member_epoch != member_epoch {
            return Err(ErrorCode::StaleMemberEpoch);
        }
        Ok(())
    }

    /// ListGroups data.
    pub fn overview(&self) -> GroupOverview {
        match &self.consumer {
            Some(c) => GroupOverview {
                state: c.state_name(),
                protocol_type: "consumer".to_string(),
                group_type: "consumer",
                dead: self.state == GroupState::Dead,
            },
            None => GroupOverview {
                state: self.state.name(),
                protocol_type: self.protocol_type.clone().unwrap_or_default(),
                group_type: "classic",
                dead: self.state == GroupState::Dead,
            },
        }
    }

    /// The consumer protocol's timers, due at [`ConsumerGroup::next_deadline`].
    pub(crate) fn consumer_tick(&mut self, now_ms: u64, effects: &mut Vec<Effect>) {
        let config = self.config.consumer.clone();
        let Some(consumer) = self.consumer.as_mut() else {
            return;
        };
        let group = &self.group_id;
        let records = consumer.tick(now_ms, &config);
        let removed = !records.is_empty();
        effects.extend(records.into_iter().map(|record| {
            Effect::Persist(GroupRecord::Consumer {
                group: group.clone(),
                record,
            })
        }));
        if removed {
            self.maybe_downgrade(now_ms, effects);
        }
    }

    /// Replays a consumer-protocol record.
    pub(crate) fn replay_consumer(&mut self, record: &ConsumerRecord) {
        match record {
            ConsumerRecord::Metadata(None) => self.consumer = None,
            other => self
                .consumer
                .get_or_insert_with(ConsumerGroup::default)
                .replay(other),
        }
    }
}
