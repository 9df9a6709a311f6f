//! The rebalance machinery and the timers (Kafka's `prepareRebalance`, `DelayedJoin`,
//! `InitialDelayedJoin`, `onCompleteJoin`, heartbeat and pending-sync expiry): what
//! [`Group::tick`] drives and requests trigger.

use std::collections::BTreeSet;

use bytes::Bytes;

use super::api::{Effect, GroupState, JoinMember, JoinResult, SyncResult};
use super::member::{select_protocol, subscribed_topics};
use super::state::Group;
use crate::protocol::ErrorCode;

/// The join phase's timer (Kafka's `DelayedJoin` / `InitialDelayedJoin`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct JoinTimer {
    pub deadline_ms: u64,
    /// `InitialDelayedJoin`: the time still allowed beyond this delay while members keep
    /// joining; `None` for an ordinary `DelayedJoin`, which completes early once all
    /// members rejoined.
    pub initial_remaining_ms: Option<u64>,
    pub new_member_added: bool,
}

impl Group {
    /// When [`Group::tick`] next has something to do. `Some(0)` right after a replay: the
    /// restored members' session timers start at the first tick.
    pub fn next_deadline(&self) -> Option<u64> {
        let mut next: Option<u64> = None;
        let mut consider = |t: u64| next = Some(next.map_or(t, |n| n.min(t)));
        for m in self.members.values() {
            let parked = m.awaiting_join.is_some() || m.awaiting_sync.is_some();
            match m.session_deadline_ms {
                None => consider(0),
                // Parked members are kept alive (see `Member::is_alive`), new ones are not.
                Some(d) if m.is_new || !parked => consider(d),
                Some(_) => {}
            }
        }
        self.pending_members.values().for_each(|d| consider(*d));
        if let Some(t) = &self.join_timer {
            consider(t.deadline_ms);
        }
        if let Some(d) = self.sync_deadline_ms {
            consider(d);
        }
        if let Some(d) = self.offsets_expiry() {
            consider(d);
        }
        if let Some(d) = self.consumer.as_ref().and_then(|c| c.next_deadline()) {
            consider(d);
        }
        if self.state == GroupState::Empty && self.is_empty_and_unused() {
            consider(
                self.unused_since_ms
                    .map_or(0, |t| t.saturating_add(self.config.empty_group_removal_ms)),
            );
        }
        next
    }

    /// Everything due at `now_ms`: restored session timers start, expired pending and
    /// regular members leave, the join phase completes at its deadline, members that did
    /// not sync in time leave, and offsets of an Empty group expire.
    pub fn tick(&mut self, now_ms: u64) -> Vec<Effect> {
        let mut effects = Vec::new();
        for m in self.members.values_mut() {
            if m.session_deadline_ms.is_none() {
                m.session_deadline_ms = Some(now_ms + m.session_timeout_ms);
            }
        }
        let expired_pending: Vec<String> = self
            .pending_members
            .iter()
            .filter(|(_, d)| **d <= now_ms)
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired_pending {
            self.pending_members.remove(&id);
            if self.state == GroupState::PreparingRebalance {
                self.try_complete_join(now_ms, &mut effects);
            }
        }
        let expired: Vec<String> = self
            .members
            .values()
            .filter(|m| !m.is_alive(now_ms))
            .map(|m| m.member_id.clone())
            .collect();
        for id in expired {
            self.remove_member_and_update(now_ms, &id, &mut effects);
        }
        if let Some(t) = &self.join_timer {
            if t.deadline_ms <= now_ms {
                self.on_join_timer(now_ms, &mut effects);
            }
        }
        if self.sync_deadline_ms.is_some_and(|d| d <= now_ms) {
            self.expire_pending_sync(now_ms, &mut effects);
        }
        self.consumer_tick(now_ms, &mut effects);
        self.expire_offsets(now_ms, &mut effects);
        self.remove_if_unused(now_ms, &mut effects);
        effects
    }

    /// Kafka's periodic cleanup also removes an Empty group that holds no offsets (one
    /// whose members all left before committing, or whose only member never completed
    /// its join): here once it has been so for `offsets.retention.check.interval.ms`.
    /// It becomes Dead, with a tombstone for its metadata, and its actor stops.
    fn remove_if_unused(&mut self, now_ms: u64, effects: &mut Vec<Effect>) {
        if self.state != GroupState::Empty || !self.is_empty_and_unused() {
            self.unused_since_ms = None;
            return;
        }
        let since = *self.unused_since_ms.get_or_insert(now_ms);
        if since.saturating_add(self.config.empty_group_removal_ms) <= now_ms {
            effects.push(self.group_tombstone());
            self.transition(GroupState::Dead, Some(now_ms));
        }
    }

    /// Kafka's `maybePrepareRebalance`.
    pub(crate) fn maybe_prepare_rebalance(&mut self, now_ms: u64, effects: &mut Vec<Effect>) {
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance | GroupState::Empty => {
                self.prepare_rebalance(now_ms, effects)
            }
            GroupState::PreparingRebalance => self.try_complete_join(now_ms, effects),
            GroupState::Dead => {}
        }
    }

    /// Kafka's `prepareRebalance`: parked syncs learn REBALANCE_IN_PROGRESS, the join phase
    /// starts (delayed for a new group).
    pub(crate) fn prepare_rebalance(&mut self, now_ms: u64, effects: &mut Vec<Effect>) {
        if self.state == GroupState::CompletingRebalance {
            self.reset_and_propagate_assignment_error(ErrorCode::RebalanceInProgress, effects);
        }
        self.pending_sync.clear();
        self.sync_deadline_ms = None;
        let rebalance_timeout = self.rebalance_timeout_ms();
        self.join_timer = Some(if self.state == GroupState::Empty {
            let delay = self.config.initial_rebalance_delay_ms;
            JoinTimer {
                deadline_ms: now_ms + delay,
                initial_remaining_ms: Some(rebalance_timeout.saturating_sub(delay)),
                new_member_added: false,
            }
        } else {
            JoinTimer {
                deadline_ms: now_ms + rebalance_timeout,
                initial_remaining_ms: None,
                new_member_added: false,
            }
        });
        self.transition(GroupState::PreparingRebalance, Some(now_ms));
        self.try_complete_join(now_ms, effects);
    }

    fn reset_and_propagate_assignment_error(
        &mut self,
        error: ErrorCode,
        effects: &mut Vec<Effect>,
    ) {
        for m in self.members.values_mut() {
            m.assignment = Bytes::new();
            if let Some(token) = m.awaiting_sync.take() {
                effects.push(Effect::Sync {
                    token,
                    result: SyncResult::error(error),
                });
            }
        }
    }

    /// Completes the join phase early when every member rejoined (not during the initial
    /// delay, which always waits).
    pub(crate) fn try_complete_join(&mut self, now_ms: u64, effects: &mut Vec<Effect>) {
        let Some(timer) = &self.join_timer else {
            return;
        };
        if timer.initial_remaining_ms.is_some() {
            return;
        }
        let all_joined = self.pending_members.is_empty()
            && self.members.values().all(|m| m.awaiting_join.is_some());
        if all_joined {
            self.complete_join(now_ms, effects);
        }
    }

    fn on_join_timer(&mut self, now_ms: u64, effects: &mut Vec<Effect>) {
        let Some(timer) = self.join_timer.as_mut() else {
            return;
        };
        if let Some(remaining) = timer.initial_remaining_ms {
            if timer.new_member_added && remaining > 0 {
                let delay = self.config.initial_rebalance_delay_ms.min(remaining);
                timer.deadline_ms = now_ms + delay;
                timer.initial_remaining_ms =
                    Some(remaining.saturating_sub(self.config.initial_rebalance_delay_ms));
                timer.new_member_added = false;
                return;
            }
        }
        self.complete_join(now_ms, effects);
    }

    /// Kafka's `onCompleteJoin`: dynamic members that did not rejoin leave, a leader that
    /// did not rejoin is replaced, the next generation starts and the parked joins are
    /// answered (the leader with every member's metadata).
    fn complete_join(&mut self, now_ms: u64, effects: &mut Vec<Effect>) {
        self.join_timer = None;
        let gone: Vec<String> = self
            .members
            .values()
            .filter(|m| m.awaiting_join.is_none() && m.group_instance_id.is_none())
            .map(|m| m.member_id.clone())
            .collect();
        for id in gone {
            self.remove_member(&id, ErrorCode::UnknownMemberId, effects);
        }
        if !self.members.is_empty() && !self.elect_joined_leader() {
            // Only static members that have not rejoined are left: wait another rebalance
            // timeout for them to rejoin or expire.
            self.join_timer = Some(JoinTimer {
                deadline_ms: now_ms + self.rebalance_timeout_ms(),
                initial_remaining_ms: None,
                new_member_added: false,
            });
            return;
        }
        self.generation_id += 1;
        if self.members.is_empty() {
            self.protocol_name = None;
            self.subscribed_topics = None;
            self.transition(GroupState::Empty, Some(now_ms));
            effects.push(self.metadata_record());
            return;
        }
        self.protocol_name = select_protocol(self.members.values());
        self.subscribed_topics = self.compute_subscribed_topics();
        self.transition(GroupState::CompletingRebalance, Some(now_ms));
        let leader = self.leader_id.clone().unwrap_or_default();
        let protocol = self.protocol_name.clone().unwrap_or_default();
        let all: Vec<JoinMember> = self
            .members
            .values()
            .map(|m| JoinMember {
                member_id: m.member_id.clone(),
                group_instance_id: m.group_instance_id.clone(),
                metadata: m.metadata(&protocol),
            })
            .collect();
        for m in self.members.values_mut() {
            m.is_new = false;
            m.session_deadline_ms = Some(now_ms + m.session_timeout_ms);
            if let Some(token) = m.awaiting_join.take() {
                let is_leader = m.member_id == leader;
                effects.push(Effect::Join {
                    token,
                    result: JoinResult {
                        error: ErrorCode::None,
                        generation_id: self.generation_id,
                        protocol_type: self.protocol_type.clone(),
                        protocol_name: self.protocol_name.clone(),
                        leader: leader.clone(),
                        skip_assignment: false,
                        member_id: m.member_id.clone(),
                        members: if is_leader { all.clone() } else { Vec::new() },
                    },
                });
            }
        }
        self.pending_sync = self.members.keys().cloned().collect();
        self.sync_deadline_ms = Some(now_ms + self.rebalance_timeout_ms());
    }

    /// Kafka's `maybeElectNewJoinedLeader`: keep a leader that rejoined, else pick a
    /// member that did; false when none did.
    fn elect_joined_leader(&mut self) -> bool {
        let leader_joined = self
            .leader_id
            .as_ref()
            .and_then(|l| self.members.get(l))
            .is_some_and(|m| m.awaiting_join.is_some());
        if leader_joined {
            return true;
        }
        match self.members.values().find(|m| m.awaiting_join.is_some()) {
            Some(m) => {
                self.leader_id = Some(m.member_id.clone());
                true
            }
            None => false,
        }
    }

    pub(crate) fn compute_subscribed_topics(&self) -> Option<BTreeSet<String>> {
        if self.protocol_type.as_deref() != Some("consumer") {
            return None;
        }
        let protocol = self.protocol_name.as_deref()?;
        let mut topics = BTreeSet::new();
        for m in self.members.values() {
            topics.extend(subscribed_topics(&m.metadata(protocol))?);
        }
        Some(topics)
    }

    /// Members that did not sync within the rebalance timeout leave, and the group
    /// rebalances (Kafka's pending-sync expiry).
    fn expire_pending_sync(&mut self, now_ms: u64, effects: &mut Vec<Effect>) {
        self.sync_deadline_ms = None;
        if !matches!(
            self.state,
            GroupState::CompletingRebalance | GroupState::Stable
        ) {
            self.pending_sync.clear();
            return;
        }
        let late: Vec<String> = std::mem::take(&mut self.pending_sync).into_iter().collect();
        if late.is_empty() {
            return;
        }
        for id in &late {
            self.remove_member(id, ErrorCode::UnknownMemberId, effects);
        }
        self.prepare_rebalance(now_ms, effects);
    }
}
