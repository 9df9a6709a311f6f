//! The on-disk log of a partition: synchronous plain Rust, no actors, no async.
//!
//! It knows files and nothing of the broker; it reads batch headers only through
//! [`crate::protocol::records`]. It must never decompress outside the cleaner (which
//! reads keys), never trust a length it read from disk without checking it against the
//! file, and never panic on a corrupt file.
//!
//! # Layout
//!
//! Kafka's, so Kafka's tools read it: `<data_dir>/<topic>-<partition>/` holds
//! `<base offset, 20 digits>.log | .index | .timeindex | .txnindex` per segment and, after a clean
//! shutdown, `.aeon_clean_shutdown`.
//!
//! - [`log`]: [`Log`], the ordered segments: append, read, roll, retention, delete-records,
//!   and its sides of transactions and compaction.
//! - `segment`: one mmap'd `.log` with its indexes (format documented on the type).
//! - `index`: the sparse offset index and time index (formats documented on the types).
//! - `truncate`: [`Log::truncate_to`], cutting the end of the log: a follower whose log
//!   diverged from its leader's truncates to the leader's epoch end offset.
//! - [`epochs`]: the leader-epoch cache and its `leader-epoch-checkpoint`.
//! - [`recovery`]: opening, the clean-shutdown marker, recovering every segment from
//!   the recovery point after an unclean shutdown.
//! - [`producer_state`]: idempotent-producer sequences and open transactions per
//!   partition (the last stable offset), with snapshots.
//! - [`txn_index`]: the per-segment `.txnindex` of aborted transactions.
//! - [`flush`]: [`FlushHandle`], group-commit fsync usable from any thread.
//! - [`prepare`]: creating the next segment's files on another thread.
//! - [`cleaner`]: log compaction (keep the latest record per key), its swap protocol
//!   and checkpoint; [`Log::prepare_cleaning`] / [`Log::finish_cleaning`] drive it.
//! - `mmap`: the memory-mapped file, the only `unsafe` code.
//!
//! # Threads
//!
//! A [`Log`] has one owner (later a `PartitionActor`). The blocking work can leave the
//! owner's thread: [`Log::flush_handle`] gives a cloneable [`FlushHandle`] whose
//! `flush_up_to(offset)` runs on a blocking thread while the owner keeps appending (it
//! holds `Arc`s of what it syncs); [`Log::apply_retention`] and [`Log::delete_records`]
//! only rename files and return [`RemovedSegment`]s for [`delete_segments`] to delete
//! elsewhere; [`Log::segment_preparer`] creates the next segment's files elsewhere so
//! that a roll only renames them. Read results are `Bytes` that keep their mapping alive.

pub mod cleaner;
pub mod config;
pub mod epochs;
pub mod error;
pub mod flush;
mod index;
pub mod log;
mod mmap;
pub mod prepare;
pub mod producer_state;
pub mod recovery;
mod segment;
mod truncate;
pub mod txn_index;

#[cfg(test)]
mod model_tests;

#[cfg(test)]
mod crash_tests;

pub use cleaner::{CleanedLog, CleanerConfig, CleanerError, CleaningJob};
#[cfg(test)]
mod no_space_tests;

pub use config::LogConfig;
pub use error::{Error, Result};
pub use flush::FlushHandle;
pub use log::{delete_segments, AppendInfo, CleanableStats, Log, RemovedSegment, TimestampOffset};
pub(crate) use mmap::write_atomically;
pub use prepare::{AheadWork, PreparedSegment, SegmentPreparer};
pub use recovery::LogOpenStats;
pub use txn_index::AbortedTxn;
