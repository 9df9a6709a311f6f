//! Aeon: a Kafka-compatible message broker built as an actix actor system.
//!
//! # Layout
//!
//! A request's way through the crate, top-down:
//!
//! - [`server`]: starts a broker from a [`config::Config`] (the actor system, its
//!   arbiters, the listener), gives its address, stops it.
//! - [`net`]: the network edge: the listener and its connection caps, one
//!   `ConnectionActor` per socket, frames read within the broker-wide request memory,
//!   responses written in request order.
//! - [`handlers`]: one file per Kafka API, from typed request to typed response; they
//!   read the routing snapshot and send messages to the actors.
//! - [`actors`]: the broker's state, each piece owned by one actor: `BrokerActor`
//!   (topics, registries, routing), `PartitionActor`, `GroupCoordinatorActor`,
//!   `TxnCoordinatorActor`.
//! - [`storage`]: the on-disk log of one partition: segments, indexes, recovery,
//!   retention, compaction. Synchronous, no actors.
//! - [`group`]: the consumer-group protocol as a pure state machine (no actix, no clock).
//! - [`txn`]: a transactional id's metadata and transitions, likewise pure.
//! - [`protocol`]: the Kafka wire format and nothing else: generated message structs,
//!   primitives, frames, record batches, error codes. No I/O, no broker state.
//! - [`config`]: the broker's TOML configuration (Kafka's key names) and topic configs.
//! - [`security`]: who a client is (SASL PLAIN and SCRAM, the users' credentials,
//!   principals) and what it may do (the ACL authorizer), with Kafka's semantics.
//! - [`metrics`]: the broker's counters about itself (atomics, read by tests and tools).
//! - [`clock`]: the one wall clock the actors read (state machines take `now_ms`).
//!
//! Arrows point one way: net -> handlers -> actors -> storage / group / txn -> protocol.

pub mod actors;
pub mod clock;
pub mod cluster;
pub mod config;
#[doc(hidden)]
pub mod fuzzing;
pub mod group;
pub mod handlers;
pub mod metrics;
pub mod net;
pub mod ops;
pub mod protocol;
pub mod security;
pub mod server;
pub mod storage;
pub mod txn;

pub use server::Broker;
