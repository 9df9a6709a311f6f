//! The consumer-group protocols as pure state machines: one [`Group`] per group id, a
//! classic group (Kafka's `ClassicGroup` and the classic parts of `GroupMetadataManager`)
//! or a consumer group of KIP-848 (in `consumer/`), with the committed offsets they share.
//!
//! No actix, no tokio, no I/O, no clock: every operation takes `now_ms` and returns what
//! the caller must do as [`Effect`]s (answer a parked JoinGroup or SyncGroup, append a
//! [`GroupRecord`] to the offsets log). Parked requests are named by a [`Token`] the actor
//! maps to a reply channel. The actor calls [`Group::tick`] at [`Group::next_deadline`]
//! for session expiry, the rebalance timeout, the initial rebalance delay and offsets
//! retention, and rebuilds groups at startup with [`Group::replay`].
//!
//! Effects come in order: a `Persist` precedes the answers it backs (Kafka stores the
//! group before it answers the SyncGroup), so an actor that waits for the write before
//! sending the following answers keeps Kafka's order.
//!
//! # Where Aeon differs from Kafka, on purpose
//!
//! - A Dead group (deleted, or its offsets expired) is revived as a new Empty group by
//!   the next JoinGroup or OffsetCommit, which is what Kafka's removal from its cache
//!   amounts to; the actor may also drop groups that are [`Group::is_empty_and_unused`].
//! - A second JoinGroup of a member whose first one is still parked answers the first
//!   with REBALANCE_IN_PROGRESS instead of dropping it, so no request hangs.
//! - A restarted static leader in a Stable group is answered as JoinGroup v9+ does
//!   (`skip_assignment`, the members' metadata); Kafka answers v0-v8 with the old leader
//!   id instead, which this interface cannot tell apart. Its SyncGroup gets the stored
//!   assignment either way, so the group is unchanged.
//! - Offsets of a Stable group for topics it no longer subscribes to do not expire
//!   (Kafka expires them `offsets.retention.minutes` after their commit).
//! - Records are JSON, not Kafka's binary `__consumer_offsets` schemas (see `record.rs`).
//!
//! This module must never block, spawn, read a clock or touch a file.
//!
//! # Files
//!
//! - `api.rs`: requests, results, effects, config and state names.
//! - `state.rs`: the group, member validation and removal, stored metadata, DescribeGroups
//!   and DeleteGroups.
//! - `rebalance.rs`: prepare a rebalance, complete the join phase, the timers and `tick`.
//! - `member.rs`: one member, the protocol vote, reading a consumer subscription.
//! - `join.rs`: JoinGroup. `sync.rs`: SyncGroup, Heartbeat, LeaveGroup.
//! - `offsets.rs`: OffsetCommit, OffsetFetch, OffsetDelete, retention.
//! - `record.rs`: the offsets log's records and their encoding. `replay.rs`: rebuilding.
//! - `kinds.rs`: classic or consumer group: the consumer protocol's entry points, the
//!   switch between kinds, ListGroups data.
//! - `migration.rs`: classic members in a consumer group; the conversions both ways.
//! - `consumer/`: the consumer group protocol of KIP-848.

mod api;
pub mod consumer;
mod join;
mod kinds;
mod member;
mod migration;
mod offsets;
mod rebalance;
mod record;
mod replay;
mod state;
mod sync;

#[cfg(test)]
mod protocol_tests;

pub use api::{
    CommittedOffset, Effect, GroupConfig, GroupDescription, GroupOverview, GroupState, JoinMember,
    JoinRequest, JoinResult, MemberDescription, OffsetCommit, SyncRequest, SyncResult, Token,
    MAX_OFFSET_METADATA_BYTES, NEW_MEMBER_JOIN_TIMEOUT_MS,
};
pub use migration::MigrationPolicy;
pub use offsets::check_offset_commit;
pub use record::{GroupMetadataValue, GroupRecord, MemberValue, OffsetValue, RecordError};
pub use state::Group;
