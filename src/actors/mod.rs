//! Everything that runs concurrently: the broker supervisor, the listener, one actor
//! per connection and one per partition. Actors talk only through typed messages.

pub mod broker;
pub mod connection;
pub mod group_coordinator;
pub mod listener;
pub mod partition;
pub mod routing;
pub mod txn_coordinator;
