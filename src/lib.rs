//! Aeon: a Kafka-compatible message broker.
//!
//! # Layout
//!
//! - [`protocol`]: the Kafka wire format and nothing else: generated message structs,
//!   primitives, frames, record batches, error codes. No I/O, no broker state.

pub mod protocol;
