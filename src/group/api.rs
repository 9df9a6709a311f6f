//! The types a caller (the `GroupCoordinatorActor` and the group API handlers) passes in
//! and gets back: requests, results, effects, configuration.

use bytes::Bytes;

use super::consumer::ConsumerGroupConfig;
use super::migration::MigrationPolicy;
use super::record::GroupRecord;
use crate::protocol::ErrorCode;

/// A parked request; the actor maps it to a reply channel.
pub type Token = u64;

/// Kafka's `offset.metadata.max.bytes` default: longer commit metadata is refused per partition.
pub const MAX_OFFSET_METADATA_BYTES: usize = 4096;

/// How long a member that joined with an empty member id (and without the two-step join)
/// may wait in a rebalance before it is dropped: Kafka's `NewMemberJoinTimeoutMs`.
pub const NEW_MEMBER_JOIN_TIMEOUT_MS: u64 = 5 * 60 * 1000;

/// The group coordinator's settings, Kafka's broker keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupConfig {
    /// `group.initial.rebalance.delay.ms` (3000).
    pub initial_rebalance_delay_ms: u64,
    /// `group.min.session.timeout.ms` (6000).
    pub min_session_timeout_ms: u64,
    /// `group.max.session.timeout.ms` (1800000).
    pub max_session_timeout_ms: u64,
    /// `offsets.retention.minutes` * 60000.
    pub offsets_retention_ms: u64,
    /// `group.max.size` (`i32::MAX`).
    pub max_size: usize,
    /// `offsets.retention.check.interval.ms` (600000): how long an Empty group without
    /// offsets lingers before it is removed.
    pub empty_group_removal_ms: u64,
    /// The consumer protocol's settings (`group.consumer.*`).
    pub consumer: ConsumerGroupConfig,
    /// `group.consumer.migration.policy`.
    pub migration_policy: MigrationPolicy,
}

impl Default for GroupConfig {
    fn default() -> Self {
        Self {
            initial_rebalance_delay_ms: 3000,
            min_session_timeout_ms: 6000,
            max_session_timeout_ms: 1_800_000,
            offsets_retention_ms: 7 * 24 * 60 * 60 * 1000,
            max_size: i32::MAX as usize,
            empty_group_removal_ms: 600_000,
            consumer: ConsumerGroupConfig::default(),
            migration_policy: MigrationPolicy::default(),
        }
    }
}

/// The classic group states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
    Dead,
}

impl GroupState {
    /// Kafka's name of the state, as DescribeGroups and ListGroups report it.
    pub fn name(&self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

/// A JoinGroup request, all versions.
#[derive(Debug, Clone, PartialEq)]
pub struct JoinRequest {
    /// "" for a new member.
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub protocol_type: String,
    /// (name, metadata), in the client's preference order.
    pub protocols: Vec<(String, Bytes)>,
    pub session_timeout_ms: i32,
    /// v0: the session timeout (the caller fills that in).
    pub rebalance_timeout_ms: i32,
    pub client_id: String,
    pub client_host: String,
    /// JoinGroup v4+: the two-step join.
    pub require_known_member_id: bool,
    pub reason: Option<String>,
}

/// One member as the leader sees it in its JoinGroup response.
#[derive(Debug, Clone, PartialEq)]
pub struct JoinMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub metadata: Bytes,
}

/// A JoinGroup response.
#[derive(Debug, Clone, PartialEq)]
pub struct JoinResult {
    pub error: ErrorCode,
    pub generation_id: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: String,
    pub skip_assignment: bool,
    pub member_id: String,
    /// Only for the leader.
    pub members: Vec<JoinMember>,
}

impl JoinResult {
    /// An error answer: generation -1, no leader, no members.
    pub fn error(member_id: &str, error: ErrorCode) -> Self {
        Self {
            error,
            generation_id: -1,
            protocol_type: None,
            protocol_name: None,
            leader: String::new(),
            skip_assignment: false,
            member_id: member_id.to_string(),
            members: Vec::new(),
        }
    }
}

/// A SyncGroup request.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncRequest {
    pub member_id: String,
    pub generation_id: i32,
    pub group_instance_id: Option<String>,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    /// (member id, assignment): only the leader sends them.
    pub assignments: Vec<(String, Bytes)>,
}

/// A SyncGroup response.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncResult {
    pub error: ErrorCode,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignment: Bytes,
}

impl SyncResult {
    /// An error answer with an empty assignment.
    pub fn error(error: ErrorCode) -> Self {
        Self {
            error,
            protocol_type: None,
            protocol_name: None,
            assignment: Bytes::new(),
        }
    }
}

/// What the caller must do after an operation, in order. A `Persist` comes before the
/// answers it backs, so an actor that waits for the write before answering keeps Kafka's
/// order (store the group, then answer the SyncGroup).
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Answer a (possibly parked) JoinGroup.
    Join { token: Token, result: JoinResult },
    /// Answer a (possibly parked) SyncGroup.
    Sync { token: Token, result: SyncResult },
    /// Append to the offsets log (group metadata / offsets / tombstones).
    Persist(GroupRecord),
}

/// One partition of an OffsetCommit request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetCommit {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<String>,
}

/// One partition of an OffsetFetch answer; offset -1 when nothing is committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<String>,
    pub commit_timestamp_ms: u64,
    /// A transaction holds an offset for this partition that is not yet committed or
    /// aborted: OffsetFetch with require_stable answers UNSTABLE_OFFSET_COMMIT.
    pub pending_txn: bool,
}

/// DescribeGroups data of one group.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupDescription {
    pub group_id: String,
    /// Kafka's state name.
    pub state: &'static str,
    /// "" when the group has none.
    pub protocol_type: String,
    /// The chosen protocol, only while Stable (as Kafka), else "".
    pub protocol: String,
    pub members: Vec<MemberDescription>,
    /// A consumer group (KIP-848): DescribeGroups answers it as Kafka does, Dead, and
    /// from v6 with GROUP_ID_NOT_FOUND.
    pub is_consumer_group: bool,
}

/// DescribeGroups data of one member. Metadata and assignment are only filled while the
/// group is Stable, as Kafka does.
#[derive(Debug, Clone, PartialEq)]
pub struct MemberDescription {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub metadata: Bytes,
    pub assignment: Bytes,
}

/// ListGroups data of one group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupOverview {
    /// Kafka's state name (the classic or the consumer protocol's).
    pub state: &'static str,
    /// "" when the group has none; "consumer" for a consumer group.
    pub protocol_type: String,
    /// "classic" or "consumer".
    pub group_type: &'static str,
    /// Dead (deleted, or expired): not listed.
    pub dead: bool,
}
