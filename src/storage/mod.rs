//! The on-disk log of a partition: synchronous plain Rust, no actors, no async.
//!
//! It knows files and nothing of the broker; it reads batch headers only through
//! [`crate::protocol::records`]. It must never decompress, never trust a length it read
//! from disk without checking it against the file, and never panic on a corrupt file.
//!
//! # Layout
//!
//! Kafka's, so Kafka's tools read it: `<data_dir>/<topic>-<partition>/` holds
//! `<base offset, 20 digits>.log | .index | .timeindex` per segment and, after a clean
//! shutdown, `.aeon_clean_shutdown`.
//!
//! - [`log`]: [`Log`], the ordered segments: append, read, roll, retention, delete-records.
//! - `segment`: one mmap'd `.log` with its indexes (format documented on the type).
//! - `index`: the sparse offset index and time index (formats documented on the types).
//! - [`recovery`]: opening, the clean-shutdown marker, scanning the last segment.
//! - [`flush`]: [`FlushHandle`], group-commit fsync usable from any thread.
//! - `mmap`: the memory-mapped file, the only `unsafe` code.
//!
//! # Threads
//!
//! A [`Log`] has one owner (later a `PartitionActor`). The blocking work can leave the
//! owner's thread: [`Log::flush_handle`] gives a cloneable [`FlushHandle`] whose
//! `flush_up_to(offset)` runs on a blocking thread while the owner keeps appending (it
//! holds `Arc`s of what it syncs); [`Log::apply_retention`] and [`Log::delete_records`]
//! only rename files and return [`RemovedSegment`]s for [`delete_segments`] to delete
//! elsewhere. Read results are `Bytes` that keep their mapping alive.

pub mod config;
pub mod error;
pub mod flush;
mod index;
pub mod log;
mod mmap;
pub mod recovery;
mod segment;

#[cfg(test)]
mod model_tests;

#[cfg(test)]
mod crash_tests;

#[cfg(test)]
mod no_space_tests;

pub use config::LogConfig;
pub use error::{Error, Result};
pub use flush::FlushHandle;
pub use log::{delete_segments, AppendInfo, Log, RemovedSegment, TimestampOffset};
pub use recovery::LogOpenStats;
