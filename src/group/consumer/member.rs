//! One member of a consumer group: what it subscribes to (Kafka's
//! `ConsumerGroupMemberMetadata` record) and where its reconciliation stands (the
//! `ConsumerGroupCurrentMemberAssignment` record), plus its timers.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::assignor::Assignment;

/// The epoch a member sends to leave the group for good.
pub const LEAVE_GROUP_MEMBER_EPOCH: i32 = -1;
/// The epoch a static member sends to leave for a while: it keeps its partitions until
/// its session times out.
pub const LEAVE_GROUP_STATIC_MEMBER_EPOCH: i32 = -2;

/// Kafka's `MemberState`: how far a member has come towards its target assignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MemberState {
    /// The member owns its whole target assignment at the target epoch.
    Stable,
    /// The member must give up partitions before it can move on (it keeps its epoch).
    UnrevokedPartitions,
    /// The member is at the target epoch but waits for partitions that other members
    /// have not released yet.
    UnreleasedPartitions,
}

impl MemberState {
    /// Kafka's name, as ConsumerGroupDescribe would show it in logs.
    pub fn name(self) -> &'static str {
        match self {
            MemberState::Stable => "stable",
            MemberState::UnrevokedPartitions => "unrevoked_partitions",
            MemberState::UnreleasedPartitions => "unreleased_partitions",
        }
    }
}

/// What a member subscribes to and who it is: persisted when it changes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub topic_names: BTreeSet<String>,
    pub topic_regex: Option<String>,
    pub server_assignor: Option<String>,
    pub rebalance_timeout_ms: u64,
    /// Set for a member that speaks the classic protocol (JoinGroup, SyncGroup) inside
    /// a consumer group, as during a migration between the protocols.
    #[serde(default)]
    pub classic: Option<ClassicMember>,
}

/// What a classic member of a consumer group sent in its JoinGroup (Kafka's
/// `ClassicMemberMetadata`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassicMember {
    pub session_timeout_ms: u64,
    /// (protocol name, subscription metadata), in the member's order of preference.
    pub protocols: Vec<(String, Vec<u8>)>,
}

/// Where a member's reconciliation stands: persisted when it changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrentAssignment {
    pub member_epoch: i32,
    pub previous_member_epoch: i32,
    pub state: MemberState,
    /// The partitions the member may own.
    pub assigned: Assignment,
    /// The partitions it must give up; another member gets them once it has.
    pub pending_revocation: Assignment,
}

impl CurrentAssignment {
    /// Every partition the member holds: those assigned and those it has yet to give up.
    pub fn held(&self) -> impl Iterator<Item = (Uuid, i32)> + '_ {
        self.assigned
            .iter()
            .chain(self.pending_revocation.iter())
            .flat_map(|(topic, partitions)| partitions.iter().map(move |&p| (*topic, p)))
    }
}

impl Default for CurrentAssignment {
    fn default() -> Self {
        Self {
            member_epoch: 0,
            previous_member_epoch: 0,
            state: MemberState::Stable,
            assigned: Assignment::new(),
            pending_revocation: Assignment::new(),
        }
    }
}

impl CurrentAssignment {
    /// Kafka's `isReconciledTo`.
    pub fn is_reconciled_to(&self, target_epoch: i32) -> bool {
        self.state == MemberState::Stable && self.member_epoch == target_epoch
    }

    /// Moves to `epoch`, remembering the epoch before (for a lost response).
    pub(super) fn set_epoch(&mut self, epoch: i32) {
        if epoch != self.member_epoch {
            self.previous_member_epoch = self.member_epoch;
            self.member_epoch = epoch;
        }
    }
}

/// One member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerMember {
    pub member_id: String,
    pub subscription: Subscription,
    pub current: CurrentAssignment,
    /// When the member is removed unless it heartbeats (not persisted: set at load).
    pub session_deadline_ms: Option<u64>,
    /// When the member is fenced unless it has revoked its pending partitions.
    pub revocation_deadline_ms: Option<u64>,
}

impl ConsumerMember {
    pub fn new(member_id: String) -> Self {
        Self {
            member_id,
            subscription: Subscription::default(),
            current: CurrentAssignment::default(),
            session_deadline_ms: None,
            revocation_deadline_ms: None,
        }
    }

    pub fn instance_id(&self) -> Option<&str> {
        self.subscription.instance_id.as_deref()
    }

    /// Whether the member speaks the classic protocol.
    pub fn is_classic(&self) -> bool {
        self.subscription.classic.is_some()
    }

    /// Its session timeout: the group's, or the one a classic member asked for.
    pub fn session_timeout_ms(&self, group_default_ms: u64) -> u64 {
        self.subscription
            .classic
            .as_ref()
            .map_or(group_default_ms, |c| c.session_timeout_ms)
    }
}

/// Whether every partition of `owned` is in `assigned`.
pub fn is_subset(owned: &Assignment, assigned: &Assignment) -> bool {
    owned.iter().all(|(topic, partitions)| {
        partitions.is_empty() || assigned.get(topic).is_some_and(|a| partitions.is_subset(a))
    })
}
