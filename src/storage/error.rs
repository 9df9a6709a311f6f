//! [`Error`]: everything that can go wrong in the on-disk log.

use std::path::PathBuf;

use crate::protocol::records::RecordsError;

/// A storage error. I/O errors always carry the operation and the path.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("offset {offset} is out of range [{log_start_offset}, {log_end_offset}]")]
    OffsetOutOfRange {
        offset: i64,
        log_start_offset: i64,
        log_end_offset: i64,
    },
    #[error("invalid record batch: {0}")]
    InvalidBatch(#[from] RecordsError),
    #[error("append expects exactly one batch of {expected} bytes, got {actual} bytes")]
    NotOneBatch { expected: usize, actual: usize },
    #[error("batch of {size} bytes is larger than {limit} bytes ({setting})")]
    BatchTooLarge {
        size: usize,
        limit: usize,
        setting: &'static str,
    },
    /// A CreateTime record outside `message.timestamp.before.max.ms` /
    /// `message.timestamp.after.max.ms` of the broker's clock.
    #[error("timestamp {timestamp} is out of range: it should be within [{low}, {high}]")]
    InvalidTimestamp { timestamp: i64, low: i64, high: i64 },
    #[error("{}: {reason}", path.display())]
    Corrupt { path: PathBuf, reason: String },
    /// Truncation would cut bytes that a live read result still shares; retry later.
    #[error("{}: cannot truncate while read results of it are alive", path.display())]
    SegmentInUse { path: PathBuf },
    /// The filesystem is full: nothing of the append was written, the log is as it
    /// was and stays readable (ENOSPC while allocating blocks ahead of a write).
    #[error("no space left on device for {}", path.display())]
    NoSpace { path: PathBuf },
    /// The append must roll and no prepared segment is waiting, on a log whose owner
    /// has segments made off its thread ([`crate::storage::Log::prepare_segments_elsewhere`]):
    /// nothing was written; prepare one, offer it, and append again.
    #[error("the next segment is not prepared yet")]
    SegmentNotPrepared,
}

/// The storage result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Wraps an `io::Error` with what was being done and to which file.
pub(crate) fn io_err(
    op: &'static str,
    path: &std::path::Path,
) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.to_path_buf();
    move |source| Error::Io { op, path, source }
}
