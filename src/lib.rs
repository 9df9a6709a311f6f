//! Aeon: a Kafka-compatible message broker.
//!
//! # Layout
//!
//! - [`protocol`]: the Kafka wire format and nothing else: generated message structs,
//!   primitives, frames, record batches, error codes. No I/O, no broker state.
//! - [`storage`]: the on-disk log of a partition: segments, indexes, recovery, flush.
//!   Synchronous; reads batch headers only through `protocol::records`.

pub mod protocol;
pub mod storage;
