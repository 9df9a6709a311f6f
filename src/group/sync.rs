//! SyncGroup, Heartbeat and LeaveGroup: what members do between and after joins.

use super::api::{Effect, GroupState, SyncRequest, SyncResult, Token};
use super::state::Group;
use crate::protocol::ErrorCode;

impl Group {
    /// SyncGroup. Followers that sync before the leader are parked; the leader's sync
    /// stores the group (a `Persist` effect) and answers everyone.
    pub fn sync(&mut self, now_ms: u64, token: Token, req: SyncRequest) -> Vec<Effect> {
        if self.has_consumer_members() {
            return self.classic_sync_consumer_group(now_ms, token, req);
        }
        let mut effects = Vec::new();
        if let Err(error) = self.validate_sync(&req) {
            effects.push(Effect::Sync {
                token,
                result: SyncResult::error(error),
            });
            return effects;
        }
        let member_id = req.member_id.as_str();
        match self.state {
            GroupState::Empty | GroupState::Dead => effects.push(Effect::Sync {
                token,
                result: SyncResult::error(ErrorCode::UnknownMemberId),
            }),
            GroupState::PreparingRebalance => effects.push(Effect::Sync {
                token,
                result: SyncResult::error(ErrorCode::RebalanceInProgress),
            }),
            GroupState::CompletingRebalance => {
                self.remove_pending_sync(member_id);
                self.refresh_session(now_ms, member_id);
                if let Some(m) = self.members.get_mut(member_id) {
                    if let Some(old) = m.awaiting_sync.replace(token) {
                        effects.push(Effect::Sync {
                            token: old,
                            result: SyncResult::error(ErrorCode::RebalanceInProgress),
                        });
                    }
                }
                if self.leader_id.as_deref() == Some(member_id) {
                    self.complete_sync(now_ms, req, &mut effects);
                }
            }
            GroupState::Stable => {
                self.remove_pending_sync(member_id);
                self.refresh_session(now_ms, member_id);
                let assignment = self
                    .members
                    .get(member_id)
                    .map(|m| m.assignment.clone())
                    .unwrap_or_default();
                effects.push(Effect::Sync {
                    token,
                    result: self.sync_result(assignment),
                });
            }
        }
        effects
    }

    /// Once every member synced, the pending-sync timer has nothing left to do.
    fn remove_pending_sync(&mut self, member_id: &str) {
        self.pending_sync.remove(member_id);
        if self.pending_sync.is_empty() {
            self.sync_deadline_ms = None;
        }
    }

    fn validate_sync(&self, req: &SyncRequest) -> Result<(), ErrorCode> {
        if self.state == GroupState::Dead {
            return Err(ErrorCode::CoordinatorNotAvailable);
        }
        self.validate_member(&req.member_id, req.group_instance_id.as_deref())?;
        if req.generation_id != self.generation_id {
            return Err(ErrorCode::IllegalGeneration);
        }
        let type_ok = req.protocol_type.is_none() || req.protocol_type == self.protocol_type;
        let name_ok = req.protocol_name.is_none() || req.protocol_name == self.protocol_name;
        if !type_ok || !name_ok {
            return Err(ErrorCode::InconsistentGroupProtocol);
        }
        Ok(())
    }

    /// The leader's assignment: unknown member ids are ignored, members it left out get
    /// an empty assignment; the group is stored, becomes Stable and every parked sync
    /// gets its assignment.
    fn complete_sync(&mut self, now_ms: u64, req: SyncRequest, effects: &mut Vec<Effect>) {
        for m in self.members.values_mut() {
            m.assignment = req
                .assignments
                .iter()
                .find(|(id, _)| *id == m.member_id)
                .map(|(_, a)| a.clone())
                .unwrap_or_default();
        }
        self.transition(GroupState::Stable, Some(now_ms));
        effects.push(self.metadata_record());
        let answers: Vec<(Token, bytes::Bytes)> = self
            .members
            .values_mut()
            .filter_map(|m| m.awaiting_sync.take().map(|t| (t, m.assignment.clone())))
            .collect();
        for (token, assignment) in answers {
            effects.push(Effect::Sync {
                token,
                result: self.sync_result(assignment),
            });
        }
    }

    fn sync_result(&self, assignment: bytes::Bytes) -> SyncResult {
        SyncResult {
            error: ErrorCode::None,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            assignment,
        }
    }

    /// Heartbeat: refreshes the member's session; REBALANCE_IN_PROGRESS tells it to
    /// rejoin.
    pub fn heartbeat(
        &mut self,
        now_ms: u64,
        member_id: &str,
        generation_id: i32,
        group_instance_id: Option<&str>,
    ) -> ErrorCode {
        if self.has_consumer_members() {
            return self.classic_heartbeat_consumer_group(
                now_ms,
                member_id,
                generation_id,
                group_instance_id,
            );
        }
        match self.state {
            GroupState::Dead => return ErrorCode::CoordinatorNotAvailable,
            GroupState::Empty => return ErrorCode::UnknownMemberId,
            _ => {}
        }
        if let Err(error) = self.validate_member(member_id, group_instance_id) {
            return error;
        }
        if generation_id != self.generation_id {
            return ErrorCode::IllegalGeneration;
        }
        self.refresh_session(now_ms, member_id);
        if self.state == GroupState::PreparingRebalance {
            ErrorCode::RebalanceInProgress
        } else {
            ErrorCode::None
        }
    }

    /// LeaveGroup (v3+ batch): per member its error; the group rebalances (or completes a
    /// join phase that only waited for the leavers). A static member may leave by instance
    /// id with an empty member id.
    pub fn leave(
        &mut self,
        now_ms: u64,
        members: Vec<(String, Option<String>)>,
    ) -> (Vec<ErrorCode>, Vec<Effect>) {
        if self.has_consumer_members() {
            return self.classic_leave_consumer_group(now_ms, members);
        }
        let mut effects = Vec::new();
        if self.state == GroupState::Dead {
            return (
                vec![ErrorCode::CoordinatorNotAvailable; members.len()],
                effects,
            );
        }
        let mut errors = Vec::with_capacity(members.len());
        for (member_id, instance_id) in members {
            let member_id = match (&instance_id, member_id.is_empty()) {
                (Some(i), true) => match self.static_member_id(i) {
                    Some(id) => id.to_string(),
                    None => {
                        errors.push(ErrorCode::UnknownMemberId);
                        continue;
                    }
                },
                _ => member_id,
            };
            if self.pending_members.remove(&member_id).is_some() {
                if self.state == GroupState::PreparingRebalance {
                    self.try_complete_join(now_ms, &mut effects);
                }
                errors.push(ErrorCode::None);
                continue;
            }
            match self.validate_member(&member_id, instance_id.as_deref()) {
                Ok(()) => {
                    self.remove_member_and_update(now_ms, &member_id, &mut effects);
                    errors.push(ErrorCode::None);
                }
                Err(e) => errors.push(e),
            }
        }
        (errors, effects)
    }
}
