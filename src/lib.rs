//! Aeon: a Kafka-compatible message broker built as an actix actor system.
//!
//! # Layout
//!
//! - [`protocol`]: the Kafka wire format and nothing else: generated message structs,
//!   primitives, frames, record batches, error codes. No I/O, no broker state.
//! - [`storage`]: the on-disk log of one partition: segments, indexes, recovery,
//!   retention. Synchronous, no actors.
//! - [`config`]: the broker's TOML configuration (Kafka's key names) and topic configs.
//! - [`actors`]: everything that runs concurrently: `BrokerActor`, the listener,
//!   `ConnectionActor`s and `PartitionActor`s.
//! - [`group`]: the consumer-group protocol as a pure state machine (no actix, no clock).
//! - [`txn`]: a transactional id's metadata and transitions, likewise pure.
//! - [`handlers`]: one file per Kafka API, from typed request to typed response.
//! - [`metrics`]: the broker's counters about itself (atomics, read by tests and tools).
//! - [`clock`]: the one wall clock the actors read (state machines take `now_ms`).
//! - [`server`]: start a broker from a [`config::Config`], get its address, stop it.
//!
//! Arrows point one way: connection -> handlers -> actors -> storage -> protocol.

pub mod actors;
pub mod clock;
pub mod config;
#[doc(hidden)]
pub mod fuzzing;
pub mod group;
pub mod handlers;
pub mod metrics;
pub mod protocol;
pub mod server;
pub mod storage;
pub mod txn;

pub use server::Broker;
