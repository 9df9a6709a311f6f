//! ConsumerGroupHeartbeat (Kafka's `GroupMetadataManager.consumerGroupHeartbeat`): join,
//! heartbeat, leave; the epoch checks; the target assignment and the member's
//! reconciliation; and the timers (session, revocation).

use std::collections::BTreeSet;

use uuid::Uuid;

use super::api::{ConsumerGroupConfig, HeartbeatRequest, HeartbeatResult};
use super::assignor::{Assignment, Assignor};
use super::group::ConsumerGroup;
use super::member::{
    is_subset, ConsumerMember, MemberState, LEAVE_GROUP_MEMBER_EPOCH,
    LEAVE_GROUP_STATIC_MEMBER_EPOCH,
};
use super::reconcile::{self, Step};
use super::record::ConsumerRecord;
use super::topics::{compile_regex, TopicMetadata};
use crate::protocol::ErrorCode;

type Failure = HeartbeatResult;

fn fail(error: ErrorCode, message: impl Into<String>) -> Failure {
    HeartbeatResult::error(error, message)
}

/// Kafka's `throwIfConsumerGroupHeartbeatRequestIsInvalid`.
pub fn validate(req: &HeartbeatRequest, config: &ConsumerGroupConfig) -> Result<(), Failure> {
    let invalid = |m: &str| Err(fail(ErrorCode::InvalidRequest, m));
    if req.instance_id.as_deref() == Some("") {
        return invalid("InstanceId can't be empty.");
    }
    if req.rack_id.as_deref() == Some("") {
        return invalid("RackId can't be empty.");
    }
    if req.member_id.is_empty() && (req.version >= 1 || req.member_epoch != 0) {
        return invalid("MemberId can't be empty.");
    }
    match req.member_epoch {
        0 => {
            if req.rebalance_timeout_ms == -1 {
                return invalid("RebalanceTimeoutMs must be provided in first request.");
            }
            if req.owned.as_ref().is_none_or(|o| !o.is_empty()) {
                return invalid("TopicPartitions must be empty when (re-)joining.");
            }
            if req.topic_names.is_none() && req.topic_regex.is_none() {
                return invalid(
                    "SubscribedTopicNames or SubscribedTopicRegex must be set in first request.",
                );
            }
        }
        LEAVE_GROUP_STATIC_MEMBER_EPOCH if req.instance_id.is_none() => {
            return invalid("InstanceId can't be null.");
        }
        e if e < LEAVE_GROUP_STATIC_MEMBER_EPOCH => return invalid("MemberEpoch is invalid."),
        _ => {}
    }
    if let Some(pattern) = req.topic_regex.as_deref().filter(|p| !p.is_empty()) {
        if compile_regex(pattern).is_none() {
            return Err(fail(
                ErrorCode::InvalidRegularExpression,
                format!("SubscribedTopicRegex `{pattern}` is not a valid regular expression."),
            ));
        }
    }
    if let Some(name) = &req.server_assignor {
        if Assignor::from_name(name).is_none_or(|a| !config.assignors.contains(&a)) {
            let served: Vec<&str> = config.assignors.iter().map(|a| a.name()).collect();
            return Err(fail(
                ErrorCode::UnsupportedAssignor,
                format!(
                    "ServerAssignor {name} is not supported. Supported assignors: {}.",
                    served.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

impl ConsumerGroup {
    /// One heartbeat of a validated request; `records` gets what must be stored before
    /// the answer is sent.
    pub fn heartbeat(
        &mut self,
        now_ms: u64,
        config: &ConsumerGroupConfig,
        req: HeartbeatRequest,
        topics: &dyn TopicMetadata,
        records: &mut Vec<ConsumerRecord>,
    ) -> HeartbeatResult {
        let result = match req.member_epoch {
            LEAVE_GROUP_MEMBER_EPOCH | LEAVE_GROUP_STATIC_MEMBER_EPOCH => {
                self.leave(now_ms, config, &req, records)
            }
            _ => self.join_or_heartbeat(now_ms, config, req, topics, records),
        };
        result.unwrap_or_else(|failure| failure)
    }

    /// The member a heartbeat is about, or a new one for a join (epoch 0). The bool
    /// says whether it is new to the group.
    fn find_member(
        &mut self,
        config: &ConsumerGroupConfig,
        req: &HeartbeatRequest,
        records: &mut Vec<ConsumerRecord>,
    ) -> Result<(ConsumerMember, bool), Failure> {
        let joining = req.member_epoch == 0;
        let member_id = if req.member_id.is_empty() {
            Uuid::new_v4().to_string()
        } else {
            req.member_id.clone()
        };
        let unknown = || {
            fail(
                ErrorCode::UnknownMemberId,
                format!("Member {member_id} is not a member of the group."),
            )
        };
        let existing = match &req.instance_id {
            None => self.members.get(&member_id).cloned(),
            Some(instance) => match self.static_member(instance).cloned() {
                Some(m) if m.member_id == member_id => Some(m),
                Some(m) if joining && m.current.member_epoch == LEAVE_GROUP_STATIC_MEMBER_EPOCH => {
                    // The instance comes back under a new member id: it takes over the
                    // partitions the old one kept for it.
                    let mut replacement = m.clone();
                    replacement.member_id = member_id.clone();
                    self.replace_member(&m.member_id, &replacement, records);
                    Some(replacement)
                }
                Some(_) if joining => {
                    return Err(fail(
                        ErrorCode::UnreleasedInstanceId,
                        format!("Static member with instance id {instance} is already in use."),
                    ))
                }
                Some(_) => {
                    return Err(fail(
                        ErrorCode::FencedInstanceId,
                        format!("Static member with instance id {instance} has a newer member id."),
                    ))
                }
                None => None,
            },
        };
        match existing {
            Some(m) => {
                if !joining {
                    check_epoch(&m, req)?;
                }
                Ok((m, false))
            }
            None if joining => {
                if self.members.len() >= config.max_size {
                    return Err(fail(
                        ErrorCode::GroupMaxSizeReached,
                        format!(
                            "The group has reached its maximum size of {}.",
                            config.max_size
                        ),
                    ));
                }
                Ok((ConsumerMember::new(member_id), true))
            }
            None => Err(unknown()),
        }
    }

    fn join_or_heartbeat(
        &mut self,
        now_ms: u64,
        config: &ConsumerGroupConfig,
        req: HeartbeatRequest,
        topics: &dyn TopicMetadata,
        records: &mut Vec<ConsumerRecord>,
    ) -> Result<HeartbeatResult, Failure> {
        let (mut member, is_new) = self.find_member(config, &req, records)?;
        let full_request = req.rebalance_timeout_ms != -1
            && (req.topic_names.is_some() || req.topic_regex.is_some())
            && req.owned.is_some();
        let joining = req.member_epoch == 0;

        let before = member.subscription.clone();
        let s = &mut member.subscription;
        if req.instance_id.is_some() {
            s.instance_id = req.instance_id.clone();
        }
        if req.rack_id.is_some() {
            s.rack_id = req.rack_id.clone();
        }
        if let Ok(ms) = u64::try_from(req.rebalance_timeout_ms) {
            s.rebalance_timeout_ms = ms;
        }
        if let Some(names) = &req.topic_names {
            s.topic_names = names.iter().cloned().collect();
        }
        if let Some(regex) = &req.topic_regex {
            s.topic_regex = Some(regex.clone()).filter(|r| !r.is_empty());
        }
        if let Some(name) = &req.server_assignor {
            s.server_assignor = Some(name.clone());
        }
        s.client_id = req.client_id.clone();
        s.client_host = req.client_host.clone();
        s.classic = None;
        let subscription_changed = before.topic_names != s.topic_names
            || before.topic_regex != s.topic_regex
            || before.server_assignor != s.server_assignor;
        if is_new || member.subscription != before {
            records.push(ConsumerRecord::Member {
                member: member.member_id.clone(),
                value: Some(member.subscription.clone()),
            });
        }
        let assigned_before = member.current.assigned.clone();
        let member_id = member.member_id.clone();
        self.put_member(member);

        self.advance_epoch(config, topics, is_new || subscription_changed, records);
        self.reconcile(now_ms, &member_id, req.owned.as_ref(), records);

        let Some(member) = self.members.get_mut(&member_id) else {
            return Err(fail(ErrorCode::UnknownServerError, "member vanished"));
        };
        member.session_deadline_ms =
            Some(now_ms + member.session_timeout_ms(config.session_timeout_ms));
        let changed = member.current.assigned != assigned_before;
        Ok(HeartbeatResult {
            error: ErrorCode::None,
            message: None,
            member_id: Some(member.member_id.clone()),
            member_epoch: member.current.member_epoch,
            heartbeat_interval_ms: i32::try_from(config.heartbeat_interval_ms).unwrap_or(i32::MAX),
            assignment: (joining || full_request || changed)
                .then(|| member.current.assigned.clone()),
        })
    }

    /// Moves a member one step towards its target (Kafka's `maybeReconcile`), recording
    /// its new state when it moved and arming or clearing its revocation timer.
    pub(crate) fn reconcile(
        &mut self,
        now_ms: u64,
        member_id: &str,
        owned: Option<&Assignment>,
        records: &mut Vec<ConsumerRecord>,
    ) {
        let Some(member) = self.members.get(member_id) else {
            return;
        };
        if member.current.is_reconciled_to(self.assignment_epoch) {
            return;
        }
        let subscribed: BTreeSet<Uuid> = self.member_topic_ids(member);
        let empty = Assignment::new();
        let target = self.target.get(member_id).unwrap_or(&empty);
        let is_owned = |t: &Uuid, p: i32| self.owned_by_other(member_id, t, p);
        let next = reconcile::next(
            &member.current,
            &Step {
                target_epoch: self.assignment_epoch,
                target,
                subscribed: &subscribed,
                owned,
                is_owned: &is_owned,
            },
        );
        if next == member.current {
            return;
        }
        let mut member = member.clone();
        let revoking = next.state == MemberState::UnrevokedPartitions;
        if !revoking {
            member.revocation_deadline_ms = None;
        } else if member.current.state != MemberState::UnrevokedPartitions
            || member.revocation_deadline_ms.is_none()
        {
            member.revocation_deadline_ms = Some(now_ms + member.subscription.rebalance_timeout_ms);
        }
        member.current = next;
        records.push(ConsumerRecord::Current {
            member: member_id.to_string(),
            value: Some(member.current.clone()),
        });
        self.put_member(member);
    }

    /// Epoch -1 (leave for good) or -2 (a static member's temporary leave).
    fn leave(
        &mut self,
        now_ms: u64,
        config: &ConsumerGroupConfig,
        req: &HeartbeatRequest,
        records: &mut Vec<ConsumerRecord>,
    ) -> Result<HeartbeatResult, Failure> {
        let member = match &req.instance_id {
            None => self.members.get(&req.member_id),
            Some(instance) => match self.static_member(instance) {
                Some(m) if m.member_id != req.member_id => {
                    return Err(fail(
                        ErrorCode::FencedInstanceId,
                        format!("Static member with instance id {instance} has a newer member id."),
                    ))
                }
                found => found,
            },
        };
        let Some(member) = member.cloned() else {
            return Err(fail(
                ErrorCode::UnknownMemberId,
                format!("Member {} is not a member of the group.", req.member_id),
            ));
        };
        if req.member_epoch == LEAVE_GROUP_STATIC_MEMBER_EPOCH {
            // It keeps its partitions until its session ends or it comes back.
            let mut m = member;
            m.current.set_epoch(LEAVE_GROUP_STATIC_MEMBER_EPOCH);
            m.current.pending_revocation.clear();
            m.revocation_deadline_ms = None;
            m.session_deadline_ms = Some(now_ms + config.session_timeout_ms);
            records.push(ConsumerRecord::Current {
                member: m.member_id.clone(),
                value: Some(m.current.clone()),
            });
            self.put_member(m);
        } else {
            self.remove_member(&member.member_id, records);
        }
        Ok(HeartbeatResult {
            error: ErrorCode::None,
            message: None,
            member_id: Some(req.member_id.clone()),
            member_epoch: req.member_epoch,
            heartbeat_interval_ms: 0,
            assignment: None,
        })
    }

    /// The earliest session or revocation deadline; 0 while a member restored by a
    /// replay has no session timer yet (the first tick starts it).
    pub fn next_deadline(&self) -> Option<u64> {
        self.members
            .values()
            .flat_map(|m| {
                [
                    Some(m.session_deadline_ms.unwrap_or(0)),
                    m.revocation_deadline_ms,
                ]
            })
            .flatten()
            .min()
    }

    /// Removes members whose session ended and fences those that did not revoke in
    /// time. Members restored by a replay get their session timer here.
    pub fn tick(&mut self, now_ms: u64, config: &ConsumerGroupConfig) -> Vec<ConsumerRecord> {
        let mut records = Vec::new();
        let mut expired = Vec::new();
        for m in self.members.values_mut() {
            let timeout = m.session_timeout_ms(config.session_timeout_ms);
            let session = *m.session_deadline_ms.get_or_insert(now_ms + timeout);
            let revoke_late = m.revocation_deadline_ms.is_some_and(|d| d <= now_ms);
            if session <= now_ms || revoke_late {
                expired.push(m.member_id.clone());
            }
            if m.current.state == MemberState::UnrevokedPartitions
                && m.revocation_deadline_ms.is_none()
            {
                m.revocation_deadline_ms = Some(now_ms + m.subscription.rebalance_timeout_ms);
            }
        }
        for id in expired {
            tracing::info!(member_id = %id, "consumer group member fenced: session or revocation timed out");
            self.remove_member(&id, &mut records);
        }
        records
    }
}

/// Kafka's `throwIfMemberEpochIsInvalid`: a higher epoch than the member's is fenced; a
/// lower one passes only as the member's previous epoch with owned partitions that are
/// all still assigned to it (its last answer was lost).
fn check_epoch(member: &ConsumerMember, req: &HeartbeatRequest) -> Result<(), Failure> {
    let fenced = || {
        fail(
            ErrorCode::FencedMemberEpoch,
            format!(
                "The consumer group member has a greater epoch ({}) than the one known by the group coordinator ({}). The member must abandon all its partitions and rejoin.",
                req.member_epoch, member.current.member_epoch
            ),
        )
    };
    let current = member.current.member_epoch;
    if req.member_epoch > current {
        return Err(fenced());
    }
    if req.member_epoch < current {
        let lost_response = req.member_epoch == member.current.previous_member_epoch
            && req
                .owned
                .as_ref()
                .is_some_and(|owned| is_subset(owned, &member.current.assigned));
        if !lost_response {
            return Err(fail(
                ErrorCode::FencedMemberEpoch,
                format!(
                    "The consumer group member has a smaller epoch ({}) than the one known by the group coordinator ({}). The member must abandon all its partitions and rejoin.",
                    req.member_epoch, current
                ),
            ));
        }
    }
    Ok(())
}
