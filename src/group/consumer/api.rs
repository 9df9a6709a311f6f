//! What callers pass in and get back for the consumer protocol: the heartbeat, its
//! answer, DescribeGroups data, the settings.

use super::assignor::{Assignment, Assignor};
use crate::protocol::ErrorCode;

/// The consumer protocol's broker settings, Kafka's `group.consumer.*` keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerGroupConfig {
    /// `group.consumer.session.timeout.ms` (45000).
    pub session_timeout_ms: u64,
    /// `group.consumer.heartbeat.interval.ms` (5000).
    pub heartbeat_interval_ms: u64,
    /// `group.consumer.assignors`: the first is the default.
    pub assignors: Vec<Assignor>,
    /// `group.consumer.max.size` (`i32::MAX`).
    pub max_size: usize,
}

impl Default for ConsumerGroupConfig {
    fn default() -> Self {
        Self {
            session_timeout_ms: 45_000,
            heartbeat_interval_ms: 5_000,
            assignors: vec![Assignor::Uniform, Assignor::Range],
            max_size: i32::MAX as usize,
        }
    }
}

/// A ConsumerGroupHeartbeat request. Optional fields are `None` when the member sent
/// them as null, i.e. unchanged since its last heartbeat.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HeartbeatRequest {
    /// The request's version: v1+ members make up their own member id (KIP-1082).
    pub version: i16,
    pub member_id: String,
    pub member_epoch: i32,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    /// -1 when unchanged.
    pub rebalance_timeout_ms: i32,
    pub topic_names: Option<Vec<String>>,
    pub topic_regex: Option<String>,
    pub server_assignor: Option<String>,
    /// The partitions the member owns.
    pub owned: Option<Assignment>,
    pub client_id: String,
    pub client_host: String,
}

/// A ConsumerGroupHeartbeat answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatResult {
    pub error: ErrorCode,
    pub message: Option<String>,
    pub member_id: Option<String>,
    pub member_epoch: i32,
    pub heartbeat_interval_ms: i32,
    /// Sent on a full request or when the member's assignment changed.
    pub assignment: Option<Assignment>,
}

impl HeartbeatResult {
    pub fn error(error: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            error,
            message: Some(message.into()),
            member_id: None,
            member_epoch: 0,
            heartbeat_interval_ms: 0,
            assignment: None,
        }
    }
}

/// ConsumerGroupDescribe data of one group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerGroupDescription {
    pub group_id: String,
    /// Kafka's state name: Empty, Assigning, Reconciling, Stable.
    pub state: &'static str,
    pub epoch: i32,
    pub assignment_epoch: i32,
    pub assignor: &'static str,
    pub members: Vec<ConsumerMemberDescription>,
}

/// ConsumerGroupDescribe data of one member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerMemberDescription {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub member_epoch: i32,
    pub client_id: String,
    pub client_host: String,
    pub topic_names: Vec<String>,
    pub topic_regex: Option<String>,
    pub assignment: Assignment,
    pub target: Assignment,
    /// A member speaking the classic protocol (during a migration).
    pub is_classic: bool,
}
