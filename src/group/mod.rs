//! The classic consumer-group protocol (Kafka's `ClassicGroup` and the classic parts of
//! `GroupMetadataManager`) as a pure state machine: one [`Group`] per group id.
//!
//! No actix, no tokio, no I/O, no clock: every operation takes `now_ms` and returns what
//! the caller must do as [`Effect`]s (answer a parked JoinGroup or SyncGroup, append a
//! [`GroupRecord`] to the offsets log). Parked requests are named by a [`Token`] the actor
//! maps to a reply channel. The actor calls [`Group::tick`] at [`Group::next_deadline`]
//! for session expiry, the rebalance timeout, the initial rebalance delay and offsets
//! retention, and rebuilds groups at startup with [`Group::replay`].
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

mod api;
mod join;
mod member;
mod offsets;
mod rebalance;
mod record;
mod replay;
mod state;
mod sync;

#[cfg(test)]
mod protocol_tests;

pub use api::{
    CommittedOffset, Effect, GroupConfig, GroupDescription, GroupState, JoinMember, JoinRequest,
    JoinResult, MemberDescription, OffsetCommit, SyncRequest, SyncResult, Token,
    MAX_OFFSET_METADATA_BYTES, NEW_MEMBER_JOIN_TIMEOUT_MS,
};
pub use offsets::check_offset_commit;
pub use record::{GroupMetadataValue, GroupRecord, MemberValue, OffsetValue, RecordError};
pub use state::Group;
