//! The Kafka wire format and nothing else.
//!
//! - [`codec`]: primitives and the `Encode`/`Decode` traits the generated messages implement;
//! - [`messages`]: every served message, generated from `protocol-json/`;
//! - [`frame`]: request and response headers, frames, API keys and served versions;
//! - [`records`]: the RecordBatch v2 view, header rewrites and a builder;
//! - [`error`]: Kafka's error codes.
//!
//! This module does no I/O, knows no broker state and imports nothing else of Aeon.

pub mod codec;
pub mod consumer_protocol;
pub mod error;
pub mod frame;
pub mod messages;
pub mod records;
#[cfg(test)]
pub(crate) mod testing;

pub use codec::{Decode, DecodeError, Encode, EncodeError};
pub use error::ErrorCode;
pub use frame::{RequestFrame, VersionRange};
pub use messages::{ApiKey, Request, Response};
#[cfg(test)]
mod conformance_tests;
