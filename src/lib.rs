//! Aeon: a Kafka-compatible message broker.
//!
//! # Layout
//!
//! - [`protocol`]: the Kafka wire format and nothing else: generated message structs,
//!   primitives, frames, record batches, error codes. No I/O, no broker state.
//! - [`storage`]: the on-disk log of a partition: segments, indexes, recovery, flush.
//!   Synchronous; reads batch headers only through `protocol::records`.
//! - [`config`]: the broker's configuration and per-topic configs: Kafka's keys, defaults,
//!   validation, and where each value came from.

pub mod config;
pub mod protocol;
pub mod storage;
