//! Committed offsets: OffsetCommit, OffsetFetch, OffsetDelete and offsets retention.

use super::api::{CommittedOffset, Effect, GroupState, OffsetCommit, MAX_OFFSET_METADATA_BYTES};
use super::record::{GroupRecord, OffsetValue};
use super::state::Group;
use crate::protocol::ErrorCode;

/// The per-partition check of an OffsetCommit entry: OFFSET_METADATA_TOO_LARGE for
/// metadata over `offset.metadata.max.bytes`, else NONE. [`Group::commit_offsets`]
/// skips such entries; the handler reports this code for them.
pub fn check_offset_commit(offset: &OffsetCommit) -> ErrorCode {
    if offset
        .metadata
        .as_ref()
        .is_some_and(|m| m.len() > MAX_OFFSET_METADATA_BYTES)
    {
        ErrorCode::OffsetMetadataTooLarge
    } else {
        ErrorCode::None
    }
}

/// A partition's offset held in a transaction.
pub type StagedOffset = ((String, i32), OffsetValue);

impl Group {
    /// OffsetCommit. Generation < 0 with an empty member id and no instance id is a
    /// standalone commit, accepted while the group is Empty; otherwise the member and
    /// generation must be current (Kafka's `validateOffsetCommit`). On success every
    /// entry that passes [`check_offset_commit`] is stored and persisted.
    pub fn commit_offsets(
        &mut self,
        now_ms: u64,
        member_id: &str,
        generation_id: i32,
        group_instance_id: Option<&str>,
        offsets: Vec<OffsetCommit>,
    ) -> (Result<(), ErrorCode>, Vec<Effect>) {
        self.revive_if_dead();
        if let Err(e) = self.validate_offset_commit(member_id, generation_id, group_instance_id) {
            return (Err(e), Vec::new());
        }
        self.refresh_session(now_ms, member_id);
        let mut effects = Vec::new();
        for o in offsets {
            if check_offset_commit(&o) != ErrorCode::None {
                continue;
            }
            let value = OffsetValue {
                offset: o.offset,
                leader_epoch: o.leader_epoch,
                metadata: o.metadata,
                commit_timestamp_ms: now_ms,
            };
            effects.push(Effect::Persist(GroupRecord::Offset {
                group: self.group_id.clone(),
                topic: o.topic.clone(),
                partition: o.partition,
                value: Some(value.clone()),
            }));
            self.offsets.insert((o.topic, o.partition), value);
        }
        (Ok(()), effects)
    }

    fn validate_offset_commit(
        &self,
        member_id: &str,
        generation_id: i32,
        group_instance_id: Option<&str>,
    ) -> Result<(), ErrorCode> {
        if self.group_id.is_empty() {
            return Err(ErrorCode::InvalidGroupId);
        }
        if let Some(consumer) = &self.consumer {
            return Group::validate_consumer_offset_commit(consumer, member_id, generation_id);
        }
        if self.state == GroupState::Dead {
            return Err(ErrorCode::CoordinatorNotAvailable);
        }
        if generation_id < 0 && self.state == GroupState::Empty {
            return Ok(());
        }
        if generation_id >= 0 || !member_id.is_empty() || group_instance_id.is_some() {
            self.validate_member(member_id, group_instance_id)?;
            if generation_id != self.generation_id {
                return Err(ErrorCode::IllegalGeneration);
            }
        } else if self.state != GroupState::Empty {
            return Err(ErrorCode::UnknownMemberId);
        }
        if self.state == GroupState::CompletingRebalance {
            return Err(ErrorCode::RebalanceInProgress);
        }
        Ok(())
    }

    /// OffsetFetch; `None` = every committed offset. Partitions without a commit come
    /// back with offset -1, leader epoch -1 and no metadata.
    pub fn fetch_offsets(&self, topics: Option<&[(String, Vec<i32>)]>) -> Vec<CommittedOffset> {
        let committed = |topic: &str, partition: i32, v: &OffsetValue| CommittedOffset {
            topic: topic.to_string(),
            partition,
            offset: v.offset,
            leader_epoch: v.leader_epoch,
            metadata: v.metadata.clone(),
            commit_timestamp_ms: v.commit_timestamp_ms,
            pending_txn: self.has_pending_txn_offset(topic, partition),
        };
        match topics {
            None => self
                .offsets
                .iter()
                .map(|((t, p), v)| committed(t, *p, v))
                .collect(),
            Some(topics) => topics
                .iter()
                .flat_map(|(t, ps)| ps.iter().map(move |p| (t, *p)))
                .map(|(t, p)| match self.offsets.get(&(t.clone(), p)) {
                    Some(v) => committed(t, p, v),
                    None => CommittedOffset {
                        topic: t.clone(),
                        partition: p,
                        offset: -1,
                        leader_epoch: -1,
                        metadata: None,
                        commit_timestamp_ms: 0,
                        pending_txn: self.has_pending_txn_offset(t, p),
                    },
                })
                .collect(),
        }
    }

    /// TxnOffsetCommit: checked as OffsetCommit is when it names a member (v3+); a
    /// commit without member and generation (v0-2, or a producer outside the group) is
    /// taken as Kafka takes it. Returns what to append to the offsets log, in the
    /// producer's transaction; once appended, [`Group::stage_txn_offsets`] holds the
    /// offsets until the transaction ends.
    pub fn txn_offset_records(
        &mut self,
        member_id: &str,
        generation_id: i32,
        group_instance_id: Option<&str>,
        offsets: &[OffsetCommit],
        now_ms: u64,
    ) -> Result<Vec<(GroupRecord, StagedOffset)>, ErrorCode> {
        self.revive_if_dead();
        if self.group_id.is_empty() {
            return Err(ErrorCode::InvalidGroupId);
        }
        if let Some(consumer) = &self.consumer {
            // Kafka answers a stale member epoch in a transaction as ILLEGAL_GENERATION.
            Group::validate_consumer_offset_commit(consumer, member_id, generation_id).map_err(
                |e| match e {
                    ErrorCode::StaleMemberEpoch => ErrorCode::IllegalGeneration,
                    other => other,
                },
            )?;
        } else if generation_id >= 0 || !member_id.is_empty() || group_instance_id.is_some() {
            self.validate_member(member_id, group_instance_id)?;
            if generation_id != self.generation_id {
                return Err(ErrorCode::IllegalGeneration);
            }
        }
        Ok(offsets
            .iter()
            .filter(|o| check_offset_commit(o) == ErrorCode::None)
            .map(|o| {
                let value = OffsetValue {
                    offset: o.offset,
                    leader_epoch: o.leader_epoch,
                    metadata: o.metadata.clone(),
                    commit_timestamp_ms: now_ms,
                };
                let record = GroupRecord::Offset {
                    group: self.group_id.clone(),
                    topic: o.topic.clone(),
                    partition: o.partition,
                    value: Some(value.clone()),
                };
                (record, ((o.topic.clone(), o.partition), value))
            })
            .collect())
    }

    /// Holds transactional offsets (appended, or replayed from the log) until the
    /// producer's transaction ends.
    pub fn stage_txn_offsets(
        &mut self,
        producer_id: i64,
        offsets: impl IntoIterator<Item = ((String, i32), OffsetValue)>,
    ) {
        self.pending_txn_offsets
            .entry(producer_id)
            .or_default()
            .extend(offsets);
    }

    /// The producer's transaction ended: its offsets become committed, or are dropped.
    pub fn complete_txn(&mut self, producer_id: i64, commit: bool) {
        let Some(pending) = self.pending_txn_offsets.remove(&producer_id) else {
            return;
        };
        if commit {
            self.offsets.extend(pending);
        }
    }

    fn has_pending_txn_offset(&self, topic: &str, partition: i32) -> bool {
        self.pending_txn_offsets
            .values()
            .any(|p| p.contains_key(&(topic.to_string(), partition)))
    }

    /// OffsetDelete. Per partition: GROUP_ID_NOT_FOUND for a Dead group; while the group
    /// has members, GROUP_SUBSCRIBED_TO_TOPIC for a topic they subscribe to (or, when the
    /// subscriptions cannot be read, NON_EMPTY_GROUP for all: the handler may lift these
    /// two group-wide codes to the response's top level). Deleted offsets get tombstones.
    pub fn delete_offsets(
        &mut self,
        topics: &[(String, Vec<i32>)],
    ) -> (Vec<(String, i32, ErrorCode)>, Vec<Effect>) {
        let group_error = match self.state {
            GroupState::Dead => Some(ErrorCode::GroupIdNotFound),
            GroupState::Empty => None,
            _ if self.subscribed_topics.is_none() => Some(ErrorCode::NonEmptyGroup),
            _ => None,
        };
        let mut results = Vec::new();
        let mut effects = Vec::new();
        for (topic, partitions) in topics {
            let subscribed = match &self.consumer {
                Some(c) => c.is_subscribed_to(topic),
                None => {
                    self.state != GroupState::Empty
                        && self
                            .subscribed_topics
                            .as_ref()
                            .is_some_and(|s| s.contains(topic))
                }
            };
            for &p in partitions {
                let error = match group_error {
                    Some(e) => e,
                    None if subscribed => ErrorCode::GroupSubscribedToTopic,
                    None => {
                        if self.offsets.remove(&(topic.clone(), p)).is_some() {
                            effects.push(self.offset_tombstone(topic, p));
                        }
                        ErrorCode::None
                    }
                };
                results.push((topic.clone(), p, error));
            }
        }
        (results, effects)
    }

    pub(crate) fn offset_tombstone(&self, topic: &str, partition: i32) -> Effect {
        Effect::Persist(GroupRecord::Offset {
            group: self.group_id.clone(),
            topic: topic.to_string(),
            partition,
            value: None,
        })
    }

    /// Removes every offset, returning their tombstones.
    pub(crate) fn offset_tombstones_all(&mut self) -> Vec<Effect> {
        let offsets = std::mem::take(&mut self.offsets);
        offsets
            .keys()
            .map(|(t, p)| self.offset_tombstone(t, *p))
            .collect()
    }

    /// When the next offset expires: offsets of an Empty group live
    /// `offsets_retention_ms` from the moment it became Empty (Kafka's KIP-211); a group
    /// that never had a protocol (standalone commits only) counts from each commit.
    pub(crate) fn offsets_expiry(&self) -> Option<u64> {
        if self.state != GroupState::Empty || self.has_consumer_members() {
            return None;
        }
        let retention = self.config.offsets_retention_ms;
        self.offsets
            .values()
            .map(|v| self.retention_base(v) + retention)
            .min()
    }

    fn retention_base(&self, v: &OffsetValue) -> u64 {
        match (&self.protocol_type, self.state_timestamp_ms) {
            (Some(_), Some(t)) => t,
            _ => v.commit_timestamp_ms,
        }
    }

    /// Expires offsets of an Empty group; once none is left, the group is Dead and its
    /// metadata gets a tombstone, as Kafka's `cleanupGroupMetadata`.
    pub(crate) fn expire_offsets(&mut self, now_ms: u64, effects: &mut Vec<Effect>) {
        if self.state != GroupState::Empty || self.offsets.is_empty() || self.has_consumer_members()
        {
            return;
        }
        let retention = self.config.offsets_retention_ms;
        let expired: Vec<(String, i32)> = self
            .offsets
            .iter()
            .filter(|(_, v)| self.retention_base(v) + retention <= now_ms)
            .map(|(k, _)| k.clone())
            .collect();
        if expired.is_empty() {
            return;
        }
        for (t, p) in expired {
            self.offsets.remove(&(t.clone(), p));
            effects.push(self.offset_tombstone(&t, p));
        }
        if self.offsets.is_empty() && self.members.is_empty() {
            effects.push(self.group_tombstone());
            self.transition(super::api::GroupState::Dead, Some(now_ms));
        }
    }
}
