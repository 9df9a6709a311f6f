//! The consumer protocol's records in the offsets log, after Kafka's: the group's epoch
//! and subscribed topics (`ConsumerGroupMetadata`, which here also holds the target assignment's epoch), each
//! member's subscription (`ConsumerGroupMemberMetadata`), each member's target
//! (`ConsumerGroupTargetAssignmentMember`) and each member's current assignment
//! (`ConsumerGroupCurrentMemberAssignment`). Each has a key of its own, so a change writes
//! only what changed and a tombstone removes one member's part. Encoded as JSON by
//! [`crate::group::GroupRecord`], like the classic protocol's records.

use serde::{Deserialize, Serialize};

use super::assignor::Assignment;
use super::member::{CurrentAssignment, Subscription};
use super::topics::SubscribedTopics;

/// One consumer-protocol record of a group; `None` values are tombstones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsumerRecord {
    /// The group epoch, the target assignment's epoch and the metadata of the topics
    /// the members subscribe to.
    Metadata(Option<GroupEpochValue>),
    /// A member's subscription.
    Member {
        member: String,
        value: Option<Subscription>,
    },
    /// A member's part of the target assignment.
    TargetMember {
        member: String,
        value: Option<Assignment>,
    },
    /// A member's reconciliation state.
    Current {
        member: String,
        value: Option<CurrentAssignment>,
    },
}

/// The value of [`ConsumerRecord::Metadata`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupEpochValue {
    pub epoch: i32,
    pub assignment_epoch: i32,
    pub subscribed: SubscribedTopics,
}

impl ConsumerRecord {
    /// The tombstones that remove a member: current assignment, target, subscription.
    pub fn member_tombstones(member: &str) -> [ConsumerRecord; 3] {
        [
            ConsumerRecord::Current {
                member: member.to_string(),
                value: None,
            },
            ConsumerRecord::TargetMember {
                member: member.to_string(),
                value: None,
            },
            ConsumerRecord::Member {
                member: member.to_string(),
                value: None,
            },
        ]
    }

    /// The member a record belongs to, if it is a member's.
    pub fn member(&self) -> Option<&str> {
        match self {
            ConsumerRecord::Member { member, .. }
            | ConsumerRecord::TargetMember { member, .. }
            | ConsumerRecord::Current { member, .. } => Some(member),
            ConsumerRecord::Metadata(_) => None,
        }
    }
}
