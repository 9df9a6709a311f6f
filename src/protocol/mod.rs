//! The Kafka wire format and nothing else.
//!
//! This module does no I/O and knows no broker state; it imports nothing else of Aeon.

pub mod records;
