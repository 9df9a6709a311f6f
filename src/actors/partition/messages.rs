//! The messages a `PartitionActor` answers, what they answer with, and its errors.

use crate::protocol::ErrorCode;
use crate::storage::producer_state::SequenceError;
use crate::storage::{self, AbortedTxn, LogConfig};
use actix::prelude::*;
use bytes::Bytes;
use tokio::sync::oneshot;

/// What a partition reports after every change: read by metadata and list-offsets
/// without a round trip through the mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PartitionOffsets {
    pub log_start_offset: i64,
    pub high_watermark: i64,
    /// The first offset of the oldest open transaction, else the high watermark:
    /// read_committed consumers read below it.
    pub last_stable_offset: i64,
    /// Bytes of batches in all segments (Kafka's `Log.Size`).
    pub size_bytes: u64,
    /// The offset the next append gets; the high watermark is at or below it.
    pub log_end_offset: i64,
    /// Counts this replica's role changes: an acks=all append waits for the high
    /// watermark only while the leadership it was written under lasts.
    pub role_term: u64,
}

impl PartitionOffsets {
    /// The end of what a read with `isolation` may see: the last stable offset for
    /// read_committed, else the high watermark.
    pub fn readable_end(&self, isolation: IsolationLevel) -> i64 {
        match isolation {
            IsolationLevel::ReadUncommitted => self.high_watermark,
            IsolationLevel::ReadCommitted => self.last_stable_offset,
        }
    }
}

/// What a fetch or list-offsets may see (Kafka's isolation level).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IsolationLevel {
    /// Everything up to the high watermark, open and aborted transactions included.
    #[default]
    ReadUncommitted,
    /// Only below the last stable offset, with the aborted transactions listed so the
    /// consumer can drop their batches.
    ReadCommitted,
}

impl IsolationLevel {
    /// From the wire: 1 is read_committed, anything else read_uncommitted (as Kafka).
    pub fn from_kafka(level: i8) -> Self {
        if level == 1 {
            Self::ReadCommitted
        } else {
            Self::ReadUncommitted
        }
    }
}

/// Appends one validated batch. With `wait_for_fsync` the reply comes once the batch
/// is on disk (appends that arrive together share one fsync).
#[derive(Message)]
#[rtype(result = "Result<Appended, PartitionError>")]
pub struct Append {
    pub batch: Bytes,
    pub wait_for_fsync: bool,
}

/// An [`Append`] that is queued the moment it is sent (`do_send`, never held back by a
/// full mailbox) and answers through `reply`: the appends of one connection's pipelined
/// produce requests reach the partition in request order. The connection's in-flight
/// cap (`queued.max.requests`) bounds what can be queued.
#[derive(Message)]
#[rtype(result = "()")]
pub struct AppendInOrder {
    pub append: Append,
    /// A compacted topic's batch: every record must have a key (Kafka's check).
    pub check_keys: bool,
    /// acks=all: the ISR must have at least this many members (`min.insync.replicas`),
    /// else NOT_ENOUGH_REPLICAS and nothing is written.
    pub min_insync: usize,
    /// A transactional batch's request names its transactional id: the partition may
    /// ask that transaction's coordinator whether it is in the transaction.
    pub txn: Option<crate::cluster::txn::TxnVerification>,
    pub reply: oneshot::Sender<Result<Appended, PartitionError>>,
}

/// Where an append landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    pub base_offset: i64,
    pub last_offset: i64,
    /// The log-append time on a LogAppendTime topic, else -1.
    pub log_append_time_ms: i64,
    pub log_start_offset: i64,
    /// The role term it was written in (see [`PartitionOffsets::role_term`]).
    pub role_term: u64,
}

/// Reads whole batches from `offset` (read_committed: only below the last stable
/// offset), answered at once.
#[derive(Message)]
#[rtype(result = "Result<FetchData, PartitionError>")]
pub struct Fetch {
    pub offset: i64,
    pub max_bytes: usize,
    pub isolation: IsolationLevel,
    /// A follower's fetch (its broker id): read up to the log end, and its position
    /// counted for the high watermark and the ISR.
    pub replica: Option<i32>,
    /// The fetcher's view of the leader epoch (KIP-320); -1 unchecked.
    pub current_leader_epoch: i32,
}

/// What a fetch read.
#[derive(Debug, Clone, Default)]
pub struct FetchData {
    pub records: Bytes,
    pub offsets: PartitionOffsets,
    /// read_committed: the aborted transactions overlapping the records returned
    /// (Kafka's `collectAbortedTransactions`); always empty for read_uncommitted.
    pub aborted: Vec<AbortedTxn>,
}

/// ListOffsets' special timestamps (Kafka's `ListOffsetsRequest` constants).
pub const LATEST_TIMESTAMP: i64 = -1;
pub const EARLIEST_TIMESTAMP: i64 = -2;
/// KIP-734.
pub const MAX_TIMESTAMP: i64 = -3;
/// KIP-405 / KIP-1005.
pub const EARLIEST_LOCAL_TIMESTAMP: i64 = -4;
pub const LATEST_TIERED_TIMESTAMP: i64 = -5;

/// Finds an offset for a ListOffsets timestamp (the constants above, else the first
/// record with a timestamp at or after it): (timestamp, offset), -1 for either that
/// has none. read_committed answers latest with the last stable offset.
#[derive(Message)]
#[rtype(result = "Result<(i64, i64), PartitionError>")]
pub struct ListOffset {
    pub timestamp: i64,
    pub isolation: IsolationLevel,
}

/// Moves the log start offset (DeleteRecords); returns the new low watermark.
#[derive(Message)]
#[rtype(result = "Result<i64, PartitionError>")]
pub struct DeleteRecords {
    pub offset: i64,
}

/// Closes the log cleanly (trimmed files, clean-shutdown marker), or deletes it, and
/// stops the actor for good.
#[derive(Message)]
#[rtype(result = "Result<(), PartitionError>")]
pub struct Close {
    pub delete: bool,
}

/// Applies changed topic configs to the log, live.
#[derive(Message)]
#[rtype(result = "()")]
pub struct UpdateConfig(pub LogConfig);

/// Makes the actor fail as a storage error would (tests of supervision).
#[derive(Message)]
#[rtype(result = "()")]
pub struct InjectFailure;

/// Errors a partition answers with; each maps to one Kafka error code.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum PartitionError {
    #[error("offset {offset} out of range [{log_start_offset}, {log_end_offset}]")]
    OffsetOutOfRange {
        offset: i64,
        log_start_offset: i64,
        log_end_offset: i64,
    },
    #[error("batch too large: {0}")]
    TooLarge(String),
    #[error("invalid batch: {0}")]
    InvalidBatch(String),
    #[error("storage error: {0}")]
    Storage(String),
    #[error("partition is closed")]
    Closed,
    #[error("{0}")]
    OutOfOrderSequence(String),
    #[error("{0}")]
    InvalidProducerEpoch(String),
    #[error("{0}")]
    InvalidTxnState(String),
    #[error("{0}")]
    InvalidTimestamp(String),
    /// A batch the produce checks refuse, with Kafka's code for it.
    #[error("{1}")]
    Refused(ErrorCode, String),
}

impl From<SequenceError> for PartitionError {
    fn from(e: SequenceError) -> Self {
        match e {
            SequenceError::FencedEpoch { .. } => {
                PartitionError::InvalidProducerEpoch(e.to_string())
            }
            SequenceError::OutOfOrder { .. } => PartitionError::OutOfOrderSequence(e.to_string()),
        }
    }
}

impl PartitionError {
    pub fn code(&self) -> ErrorCode {
        match self {
            PartitionError::OffsetOutOfRange { .. } => ErrorCode::OffsetOutOfRange,
            PartitionError::TooLarge(_) => ErrorCode::MessageTooLarge,
            PartitionError::InvalidBatch(_) => ErrorCode::CorruptMessage,
            PartitionError::Storage(_) => ErrorCode::KafkaStorageError,
            PartitionError::Closed => ErrorCode::NotLeaderOrFollower,
            PartitionError::OutOfOrderSequence(_) => ErrorCode::OutOfOrderSequenceNumber,
            PartitionError::InvalidProducerEpoch(_) => ErrorCode::InvalidProducerEpoch,
            PartitionError::InvalidTxnState(_) => ErrorCode::InvalidTxnState,
            PartitionError::InvalidTimestamp(_) => ErrorCode::InvalidTimestamp,
            PartitionError::Refused(code, _) => *code,
        }
    }
}

pub(super) fn storage_error(e: storage::Error) -> PartitionError {
    match e {
        storage::Error::OffsetOutOfRange {
            offset,
            log_start_offset,
            log_end_offset,
        } => PartitionError::OffsetOutOfRange {
            offset,
            log_start_offset,
            log_end_offset,
        },
        storage::Error::BatchTooLarge { .. } => PartitionError::TooLarge(e.to_string()),
        storage::Error::InvalidTimestamp { .. } => PartitionError::InvalidTimestamp(e.to_string()),
        storage::Error::InvalidBatch(_) | storage::Error::NotOneBatch { .. } => {
            PartitionError::InvalidBatch(e.to_string())
        }
        other => PartitionError::Storage(other.to_string()),
    }
}
