//! The server-side assignors of the consumer group protocol (KIP-848): given every member's
//! subscription and its current target assignment, compute the next target assignment.
//!
//! Pure functions: no clock, no I/O. The group calls [`Assignor::assign`] when its epoch
//! moves past its assignment epoch (a member joined, left, changed its subscription, or
//! a subscribed topic changed), and reconciles each member towards the result.

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

/// Partitions by topic id.
pub type Assignment = BTreeMap<Uuid, BTreeSet<i32>>;

/// What an assignor knows of one member (Kafka's `MemberSubscriptionAndAssignmentImpl`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberSpec {
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    /// The ids of the existing topics the member subscribes to.
    pub topics: BTreeSet<Uuid>,
    /// The member's target assignment so far: what a sticky assignor keeps.
    pub current: Assignment,
}

/// The assignors Aeon serves, by Kafka's names (`group.consumer.assignors`,
/// `group.remote.assignor`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Assignor {
    /// Kafka's `UniformAssignor`: balanced and sticky.
    Uniform,
    /// Kafka's server-side `RangeAssignor`: contiguous ranges per topic, co-partitioned.
    Range,
}

impl Assignor {
    /// The assignor of a Kafka name; `None` for a name Aeon does not serve
    /// (UNSUPPORTED_ASSIGNOR).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "uniform" => Some(Assignor::Uniform),
            "range" => Some(Assignor::Range),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Assignor::Uniform => "uniform",
            Assignor::Range => "range",
        }
    }

    /// The next target assignment: an entry for every member (empty when it gets
    /// nothing). `topics` maps each subscribed topic id to its partition count; a member's
    /// subscription to a topic not in `topics` is ignored. Every partition of a topic that
    /// some member subscribes to is assigned to exactly one member subscribed to it.
    pub fn assign(
        self,
        members: &BTreeMap<String, MemberSpec>,
        topics: &BTreeMap<Uuid, u32>,
    ) -> BTreeMap<String, Assignment> {
        match self {
            Assignor::Uniform => super::uniform::assign(members, topics),
            Assignor::Range => super::range::assign(members, topics),
        }
    }
}
