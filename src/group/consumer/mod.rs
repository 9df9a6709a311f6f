//! The consumer group protocol of KIP-848 (Kafka's `ConsumerGroup`, the consumer parts of
//! `GroupMetadataManager`, `CurrentAssignmentBuilder` and the server-side assignors) as a
//! pure state machine, beside the classic protocol of the parent module.
//!
//! The coordinator computes each member's target assignment with a server-side assignor
//! ([`Assignor`]) whenever the group epoch moves (a member joins or leaves, changes its
//! subscription, or a subscribed topic changes), and each heartbeat moves its member one
//! step towards its target ([`reconcile`]): a partition is given to a member only once its
//! previous owner has reported it revoked, so no partition is ever owned twice. Members
//! heartbeat with their epoch; the epoch checks fence a member that fell behind.
//!
//! Like the classic protocol this module never blocks, spawns, reads a clock or touches a
//! file: operations take `now_ms` and return the records to store ([`ConsumerRecord`]);
//! the actor runs [`ConsumerGroup::tick`] at [`ConsumerGroup::next_deadline`] and reads
//! topics through [`TopicMetadata`].
//!
//! # Where Aeon differs from Kafka, on purpose
//!
//! - Regular expressions are resolved at each heartbeat against the broker's topics
//!   (Kafka resolves them in the background); they are compiled by the `regex` crate,
//!   whose RE2 syntax is what Kafka's RE2/J accepts for topic patterns.
//! - The subscribed topics' metadata is stored whole in the group's epoch record (Kafka
//!   4.1 stores a hash of it).
//!
//! # Files
//!
//! - `api.rs`: the heartbeat request and answer, descriptions, settings.
//! - `group.rs`: the group, its epochs, partition owners, target assignment, replay.
//! - `heartbeat.rs`: ConsumerGroupHeartbeat: validation, join, epoch checks, leave, timers.
//! - `member.rs`: one member: subscription and current assignment.
//! - `classic.rs`: classic members (JoinGroup, SyncGroup) inside a consumer group.
//! - `reconcile.rs`: one reconciliation step (Kafka's `CurrentAssignmentBuilder`).
//! - `assignor.rs`, `uniform.rs`, `range.rs`: the server-side assignors.
//! - `topics.rs`: topic metadata and regular expressions.
//! - `record.rs`: the records of the offsets log.

mod api;
mod assignor;
mod classic;
mod group;
mod heartbeat;
mod member;
mod range;
mod reconcile;
mod record;
#[cfg(test)]
mod tests;
mod topics;
mod uniform;

pub use api::{
    ConsumerGroupConfig, ConsumerGroupDescription, ConsumerMemberDescription, HeartbeatRequest,
    HeartbeatResult,
};
pub use assignor::{Assignment, Assignor, MemberSpec};
pub use classic::{ClassicError, ClassicJoin, ClassicJoined};
pub use group::ConsumerGroup;
pub use heartbeat::validate;
pub use member::{ClassicMember, ConsumerMember, CurrentAssignment, MemberState, Subscription};
pub use record::{ConsumerRecord, GroupEpochValue};
pub use topics::{compile_regex, TopicMetadata};
