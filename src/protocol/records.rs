//! The RecordBatch v2 format (magic 2): a zero-copy view over the bytes, the few header
//! rewrites that a broker performs on append, and record decoding for uncompressed
//! batches.
//!
//! A batch on the wire and on disk is laid out as follows (all integers big-endian):
//!
//! ```text
//! offset  field                 type    notes
//!      0  baseOffset            int64   rewritten by the broker on append
//!      8  batchLength           int32   bytes after this field (total size - 12)
//!     12  partitionLeaderEpoch  int32
//!     16  magic                 int8    always 2 here
//!     17  crc                   uint32  CRC-32C of bytes 21..end
//!     21  attributes            int16   bits 0-2 compression, 3 timestamp type,
//!                                       4 transactional, 5 control, 6 delete horizon
//!     23  lastOffsetDelta       int32
//!     27  baseTimestamp         int64
//!     35  maxTimestamp          int64
//!     43  producerId            int64
//!     51  producerEpoch         int16
//!     53  baseSequence          int32
//!     57  recordCount           int32
//!     61  records               recordCount records, possibly compressed as a whole
//! ```
//!
//! The base offset and the partition leader epoch lie before the CRC'd range, so a
//! broker can assign offsets without recomputing the CRC; stamping the log-append time
//! changes the attributes and maxTimestamp and therefore the CRC.
//!
//! This module never panics on input bytes, never allocates from a length it has not
//! checked against the bytes that are present, and does no I/O. The batch view never
//! decompresses; [`compression`] does, on request only (the log cleaner and the produce
//! check of compacted topics), bounded by a size limit.

mod batch;
mod builder;
pub mod compression;
pub mod control;
mod record;
mod timestamps;

#[cfg(test)]
mod conformance_tests;

pub use batch::{
    rewrite_header, set_base_offset, set_log_append_time, set_partition_leader_epoch, write_crc,
    BatchIter, Compression, MaxTimestampRewrite, RecordBatch, TimestampType,
};
pub use builder::{RecordBatchBuilder, RecordSpec};
pub use record::{Header, Record, RecordIter};
pub use timestamps::RecordTime;

/// Offset of `baseOffset` (int64).
pub const BASE_OFFSET_OFFSET: usize = 0;
/// Offset of `batchLength` (int32): the number of bytes that follow this field.
pub const BATCH_LENGTH_OFFSET: usize = 8;
/// Offset of `partitionLeaderEpoch` (int32).
pub const PARTITION_LEADER_EPOCH_OFFSET: usize = 12;
/// Offset of `magic` (int8).
pub const MAGIC_OFFSET: usize = 16;
/// Offset of `crc` (uint32, CRC-32C over [`ATTRIBUTES_OFFSET`]..end).
pub const CRC_OFFSET: usize = 17;
/// Offset of `attributes` (int16), the first byte covered by the CRC.
pub const ATTRIBUTES_OFFSET: usize = 21;
/// Offset of `lastOffsetDelta` (int32).
pub const LAST_OFFSET_DELTA_OFFSET: usize = 23;
/// Offset of `baseTimestamp` (int64).
pub const BASE_TIMESTAMP_OFFSET: usize = 27;
/// Offset of `maxTimestamp` (int64).
pub const MAX_TIMESTAMP_OFFSET: usize = 35;
/// Offset of `producerId` (int64).
pub const PRODUCER_ID_OFFSET: usize = 43;
/// Offset of `producerEpoch` (int16).
pub const PRODUCER_EPOCH_OFFSET: usize = 51;
/// Offset of `baseSequence` (int32).
pub const BASE_SEQUENCE_OFFSET: usize = 53;
/// Offset of `recordCount` (int32).
pub const RECORDS_COUNT_OFFSET: usize = 57;
/// Offset of the first record.
pub const RECORDS_OFFSET: usize = 61;
/// Size of the batch header: the smallest possible batch.
pub const RECORD_BATCH_OVERHEAD: usize = 61;
/// Bytes before `batchLength` counts: baseOffset and batchLength themselves.
pub const LOG_OVERHEAD: usize = 12;
/// The only magic value this module reads.
pub const MAGIC_V2: i8 = 2;
/// Kafka's "no timestamp" sentinel.
pub const NO_TIMESTAMP: i64 = -1;
/// Kafka's "no producer id" sentinel.
pub const NO_PRODUCER_ID: i64 = -1;
/// Kafka's "no producer epoch" sentinel.
pub const NO_PRODUCER_EPOCH: i16 = -1;
/// Kafka's "no sequence" sentinel.
pub const NO_SEQUENCE: i32 = -1;
/// Kafka's "no partition leader epoch" sentinel.
pub const NO_PARTITION_LEADER_EPOCH: i32 = -1;

/// Attribute bits 0-2: the compression codec.
pub const COMPRESSION_CODEC_MASK: i16 = 0x07;
/// Attribute bit 3: set for LogAppendTime.
pub const TIMESTAMP_TYPE_MASK: i16 = 0x08;
/// Attribute bit 4: part of a transaction.
pub const TRANSACTIONAL_FLAG_MASK: i16 = 0x10;
/// Attribute bit 5: a control batch (transaction markers).
pub const CONTROL_FLAG_MASK: i16 = 0x20;
/// Attribute bit 6: baseTimestamp holds the delete horizon (compaction).
pub const DELETE_HORIZON_FLAG_MASK: i16 = 0x40;

/// Why bytes are not a usable RecordBatch v2 (or record).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordsError {
    /// Fewer bytes are present than the batch (or its header) needs. At the tail of a
    /// log or a fetch response this is normal flow, not corruption.
    #[error("incomplete record batch: need {needed} bytes, have {available}")]
    Incomplete { needed: usize, available: usize },
    /// `batchLength` is smaller than a header or larger than the allowed maximum.
    #[error("invalid batch length {length} (minimum {min}, maximum {max})")]
    InvalidBatchLength { length: i64, min: usize, max: usize },
    /// The magic byte is not 2.
    #[error("unsupported record batch magic {0} (only 2 is supported)")]
    UnsupportedMagic(i8),
    /// The stored CRC does not match the bytes.
    #[error("record batch CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    CrcMismatch { stored: u32, computed: u32 },
    /// Attribute bits 0-2 name no known codec.
    #[error("unknown compression codec id {0}")]
    UnknownCompression(u8),
    /// Records of a compressed batch: the broker passes them through, it never decodes them.
    #[error("records are compressed with {0:?}; they are not decoded here")]
    Compressed(Compression),
    /// A compressed records section could not be decoded (or encoded).
    #[error("{codec:?} records: {reason}")]
    Codec { codec: Compression, reason: String },
    /// A header field holds a value that no valid batch has.
    #[error("invalid batch header: {0}")]
    InvalidHeader(&'static str),
    /// A record is malformed: the field that failed and why.
    #[error("invalid record {index}: {reason}")]
    InvalidRecord { index: usize, reason: &'static str },
    /// Bytes remain after the declared number of records.
    #[error("{0} bytes left over after the last declared record")]
    TrailingBytes(usize),
}
