//! The broker's state, each piece owned by one actor: the broker supervisor (topics,
//! registries, routing), one actor per partition, per consumer group and per
//! transactional id. Actors talk only through typed messages; the network edge that
//! sends them is `crate::net`.

pub mod broker;
pub mod group_coordinator;
pub mod partition;
pub mod routing;
pub mod txn_coordinator;
