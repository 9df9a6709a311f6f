//! JoinGroup (Kafka's `handleJoinGroup`): new, pending, known and static members.

use std::collections::BTreeMap;

use super::consumer::TopicMetadata;
use bytes::Bytes;

use super::api::{Effect, GroupState, JoinMember, JoinRequest, JoinResult, Token};
use super::member::{select_protocol, Member};
use super::state::Group;
use crate::protocol::ErrorCode;

impl Group {
    /// JoinGroup. The answer is either in the returned effects now or parked until the
    /// join phase completes (then a later call's effects carry it).
    pub fn join(&mut self, now_ms: u64, token: Token, req: JoinRequest) -> Vec<Effect> {
        self.join_with_topics(now_ms, token, req, &BTreeMap::new())
    }

    /// JoinGroup; `topics` serves a classic member joining a consumer group.
    pub fn join_with_topics(
        &mut self,
        now_ms: u64,
        token: Token,
        req: JoinRequest,
        topics: &dyn TopicMetadata,
    ) -> Vec<Effect> {
        if self.has_consumer_members() {
            return self.classic_join_consumer_group(now_ms, token, req, topics);
        }
        let mut effects = Vec::new();
        self.revive_if_dead();
        let converted = self.leave_consumer_protocol(&mut effects);
        if let Err(error) = converted.and_then(|()| self.validate_join(&req)) {
            effects.push(Effect::Join {
                token,
                result: JoinResult::error(&req.member_id, error),
            });
            return effects;
        }
        if req.member_id.is_empty() {
            self.join_unknown_member(now_ms, token, req, &mut effects);
        } else {
            self.join_known_member(now_ms, token, req, &mut effects);
        }
        effects
    }

    fn validate_join(&self, req: &JoinRequest) -> Result<(), ErrorCode> {
        if self.group_id.is_empty() {
            return Err(ErrorCode::InvalidGroupId);
        }
        let session = u64::try_from(req.session_timeout_ms).unwrap_or(0);
        if session < self.config.min_session_timeout_ms
            || session > self.config.max_session_timeout_ms
        {
            return Err(ErrorCode::InvalidSessionTimeout);
        }
        if self.state == GroupState::Dead {
            return Err(ErrorCode::CoordinatorNotAvailable);
        }
        let known = self.members.contains_key(&req.member_id)
            || self.pending_members.contains_key(&req.member_id)
            || req
                .group_instance_id
                .as_deref()
                .is_some_and(|i| self.static_member_id(i).is_some());
        if !known && self.members.len() + self.pending_members.len() >= self.config.max_size {
            return Err(ErrorCode::GroupMaxSizeReached);
        }
        if !self.supports_protocols(&req.protocol_type, &req.protocols) {
            return Err(ErrorCode::InconsistentGroupProtocol);
        }
        Ok(())
    }

    /// Kafka's `supportsProtocols`: an Empty group takes any non-empty type and list;
    /// otherwise the type must match and one protocol must be supported by every member.
    fn supports_protocols(&self, protocol_type: &str, protocols: &[(String, Bytes)]) -> bool {
        if protocol_type.is_empty() || protocols.is_empty() {
            return false;
        }
        if self.members.is_empty() {
            return true;
        }
        self.protocol_type.as_deref() == Some(protocol_type)
            && protocols.iter().any(|(name, _)| {
                self.members
                    .values()
                    .all(|m| m.protocols.iter().any(|(n, _)| n == name))
            })
    }

    fn join_unknown_member(
        &mut self,
        now_ms: u64,
        token: Token,
        req: JoinRequest,
        effects: &mut Vec<Effect>,
    ) {
        let new_id = format!("{}-{}", req.client_id, uuid::Uuid::new_v4());
        if let Some(instance) = req.group_instance_id.clone() {
            match self.static_member_id(&instance).map(str::to_string) {
                Some(old_id) => {
                    self.rejoin_static_member(now_ms, token, req, old_id, new_id, effects)
                }
                None => self.add_member_and_rebalance(now_ms, token, req, new_id, effects),
            }
        } else if req.require_known_member_id {
            let session = u64::try_from(req.session_timeout_ms).unwrap_or(0);
            self.pending_members
                .insert(new_id.clone(), now_ms + session);
            effects.push(Effect::Join {
                token,
                result: JoinResult::error(&new_id, ErrorCode::MemberIdRequired),
            });
        } else {
            self.add_member_and_rebalance(now_ms, token, req, new_id, effects);
        }
    }

    fn join_known_member(
        &mut self,
        now_ms: u64,
        token: Token,
        req: JoinRequest,
        effects: &mut Vec<Effect>,
    ) {
        let member_id = req.member_id.clone();
        if self.pending_members.remove(&member_id).is_some() {
            if req.group_instance_id.is_some() {
                // Kafka: a static member is never pending; refuse rather than guess.
                effects.push(join_error(token, &member_id, ErrorCode::UnknownMemberId));
                return;
            }
            self.add_member_and_rebalance(now_ms, token, req, member_id, effects);
            return;
        }
        if let Err(error) = self.validate_member(&member_id, req.group_instance_id.as_deref()) {
            effects.push(join_error(token, &member_id, error));
            return;
        }
        let (matches, is_leader) = match self.members.get(&member_id) {
            Some(m) => (
                m.matches(&req.protocols),
                self.leader_id.as_deref() == Some(member_id.as_str()),
            ),
            None => return,
        };
        match self.state {
            GroupState::PreparingRebalance => {
                self.update_member_and_rebalance(now_ms, token, req, effects)
            }
            GroupState::CompletingRebalance if matches => {
                // The member missed its JoinGroup answer: give it again.
                self.refresh_session(now_ms, &member_id);
                effects.push(Effect::Join {
                    token,
                    result: self.current_join_result(&member_id, is_leader, false),
                });
            }
            GroupState::Stable if matches && !is_leader => {
                self.refresh_session(now_ms, &member_id);
                effects.push(Effect::Join {
                    token,
                    result: self.current_join_result(&member_id, false, false),
                });
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                self.update_member_and_rebalance(now_ms, token, req, effects)
            }
            GroupState::Empty | GroupState::Dead => {
                effects.push(join_error(token, &member_id, ErrorCode::UnknownMemberId))
            }
        }
    }

    /// A known static member restarted with an empty member id (KIP-345): it takes a new
    /// member id; the old id's parked requests are fenced. In Stable with unchanged
    /// protocols it gets the current generation back without a rebalance.
    fn rejoin_static_member(
        &mut self,
        now_ms: u64,
        token: Token,
        req: JoinRequest,
        old_id: String,
        new_id: String,
        effects: &mut Vec<Effect>,
    ) {
        let Some(mut member) = self.members.remove(&old_id) else {
            return;
        };
        if let Some(t) = member.awaiting_join.take() {
            effects.push(join_error(t, &old_id, ErrorCode::FencedInstanceId));
        }
        if let Some(t) = member.awaiting_sync.take() {
            effects.push(Effect::Sync {
                token: t,
                result: super::api::SyncResult::error(ErrorCode::FencedInstanceId),
            });
        }
        member.member_id = new_id.clone();
        member.client_id = req.client_id.clone();
        member.client_host = req.client_host.clone();
        let was_pending_sync = self.pending_sync.remove(&old_id);
        if was_pending_sync {
            self.pending_sync.insert(new_id.clone());
        }
        if self.leader_id.as_deref() == Some(old_id.as_str()) {
            self.leader_id = Some(new_id.clone());
        }
        self.members.insert(new_id.clone(), member);
        self.refresh_session(now_ms, &new_id);

        if self.state == GroupState::Stable {
            let selected_before = self.protocol_name.clone();
            self.set_member_protocols(&new_id, &req);
            let selected_after = select_protocol(self.members.values());
            if selected_after == selected_before {
                let is_leader = self.leader_id.as_deref() == Some(new_id.as_str());
                effects.push(self.metadata_record());
                effects.push(Effect::Join {
                    token,
                    result: self.current_join_result(&new_id, is_leader, is_leader),
                });
                return;
            }
        }
        let mut req = req;
        req.member_id = new_id;
        self.update_member_and_rebalance(now_ms, token, req, effects);
    }

    fn add_member_and_rebalance(
        &mut self,
        now_ms: u64,
        token: Token,
        req: JoinRequest,
        member_id: String,
        effects: &mut Vec<Effect>,
    ) {
        if self.members.is_empty() {
            self.protocol_type = Some(req.protocol_type.clone());
        }
        let member = Member {
            member_id: member_id.clone(),
            group_instance_id: req.group_instance_id.clone(),
            client_id: req.client_id.clone(),
            client_host: req.client_host.clone(),
            session_timeout_ms: u64::try_from(req.session_timeout_ms).unwrap_or(0),
            rebalance_timeout_ms: u64::try_from(req.rebalance_timeout_ms).unwrap_or(0),
            protocols: req.protocols,
            assignment: Bytes::new(),
            awaiting_join: Some(token),
            awaiting_sync: None,
            is_new: true,
            session_deadline_ms: Some(now_ms + super::api::NEW_MEMBER_JOIN_TIMEOUT_MS),
        };
        self.members.insert(member_id.clone(), member);
        if self.leader_id.is_none() {
            self.leader_id = Some(member_id);
        }
        if let Some(timer) = self.join_timer.as_mut() {
            timer.new_member_added = true;
        }
        self.maybe_prepare_rebalance(now_ms, effects);
    }

    fn set_member_protocols(&mut self, member_id: &str, req: &JoinRequest) {
        if let Some(m) = self.members.get_mut(member_id) {
            m.protocols = req.protocols.clone();
            m.session_timeout_ms = u64::try_from(req.session_timeout_ms).unwrap_or(0);
            m.rebalance_timeout_ms = u64::try_from(req.rebalance_timeout_ms).unwrap_or(0);
        }
    }

    /// Kafka's `updateMemberAndRebalance`: new protocols and timeouts, park the join.
    fn update_member_and_rebalance(
        &mut self,
        now_ms: u64,
        token: Token,
        req: JoinRequest,
        effects: &mut Vec<Effect>,
    ) {
        let member_id = req.member_id.clone();
        self.set_member_protocols(&member_id, &req);
        if let Some(m) = self.members.get_mut(&member_id) {
            if let Some(old) = m.awaiting_join.replace(token) {
                // A second JoinGroup replaces the first; answer the first so it never hangs.
                effects.push(join_error(old, &member_id, ErrorCode::RebalanceInProgress));
            }
        }
        self.maybe_prepare_rebalance(now_ms, effects);
    }

    /// The current generation as a JoinGroup answer; the leader gets the members.
    fn current_join_result(&self, member_id: &str, is_leader: bool, skip: bool) -> JoinResult {
        let protocol = self.protocol_name.clone().unwrap_or_default();
        JoinResult {
            error: ErrorCode::None,
            generation_id: self.generation_id,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            leader: self.leader_id.clone().unwrap_or_default(),
            skip_assignment: skip,
            member_id: member_id.to_string(),
            members: if is_leader {
                self.members
                    .values()
                    .map(|m| JoinMember {
                        member_id: m.member_id.clone(),
                        group_instance_id: m.group_instance_id.clone(),
                        metadata: m.metadata(&protocol),
                    })
                    .collect()
            } else {
                Vec::new()
            },
        }
    }
}

fn join_error(token: Token, member_id: &str, error: ErrorCode) -> Effect {
    Effect::Join {
        token,
        result: JoinResult::error(member_id, error),
    }
}
