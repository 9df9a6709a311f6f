//! [`RecordBatch`]: a bounds-checked view of one batch, its header rewrites, and
//! [`BatchIter`] over back-to-back batches.

use super::record::RecordIter;
use super::*;

/// The compression codec of a batch (attribute bits 0-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl Compression {
    /// The codec for attribute bits 0-2, or an error for ids 5-7.
    pub fn from_id(id: u8) -> Result<Self, RecordsError> {
        match id {
            0 => Ok(Self::None),
            1 => Ok(Self::Gzip),
            2 => Ok(Self::Snappy),
            3 => Ok(Self::Lz4),
            4 => Ok(Self::Zstd),
            other => Err(RecordsError::UnknownCompression(other)),
        }
    }

    /// The id stored in attribute bits 0-2.
    pub fn id(self) -> u8 {
        match self {
            Self::None => 0,
            Self::Gzip => 1,
            Self::Snappy => 2,
            Self::Lz4 => 3,
            Self::Zstd => 4,
        }
    }
}

/// Where a batch's timestamps come from (attribute bit 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TimestampType {
    /// The producer's timestamps are kept.
    #[default]
    CreateTime,
    /// The broker stamps maxTimestamp with its clock on append.
    LogAppendTime,
}

/// A view of exactly one RecordBatch v2: `bytes().len() == total_size()`.
///
/// [`RecordBatch::parse`] checks the length and magic only; call
/// [`RecordBatch::verify_crc`] where the bytes come from outside (produce, recovery).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordBatch<'a> {
    buf: &'a [u8],
}

fn read_i16(buf: &[u8], at: usize) -> i16 {
    let mut b = [0u8; 2];
    b.copy_from_slice(&buf[at..at + 2]);
    i16::from_be_bytes(b)
}

fn read_i32(buf: &[u8], at: usize) -> i32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&buf[at..at + 4]);
    i32::from_be_bytes(b)
}

fn read_i64(buf: &[u8], at: usize) -> i64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&buf[at..at + 8]);
    i64::from_be_bytes(b)
}

impl<'a> RecordBatch<'a> {
    /// Parses the batch at the start of `buf`; bytes after it are ignored.
    ///
    /// Checks that the header is present, that `batchLength` is at least a header,
    /// that magic is 2 and that the whole batch is present. Never panics.
    pub fn parse(buf: &'a [u8]) -> Result<Self, RecordsError> {
        Self::parse_with_max(buf, i32::MAX as usize)
    }

    /// As [`RecordBatch::parse`], rejecting batches whose total size exceeds `max_size`.
    pub fn parse_with_max(buf: &'a [u8], max_size: usize) -> Result<Self, RecordsError> {
        let total = Self::peek_total_size(buf, max_size)?;
        if buf.len() < total {
            return Err(RecordsError::Incomplete {
                needed: total,
                available: buf.len(),
            });
        }
        Ok(Self { buf: &buf[..total] })
    }

    /// The total size of the batch at the start of `buf` from its first 17 bytes,
    /// after checking length bounds and magic, without requiring the whole batch.
    pub fn peek_total_size(buf: &[u8], max_size: usize) -> Result<usize, RecordsError> {
        if buf.len() < MAGIC_OFFSET + 1 {
            return Err(RecordsError::Incomplete {
                needed: MAGIC_OFFSET + 1,
                available: buf.len(),
            });
        }
        let length = i64::from(read_i32(buf, BATCH_LENGTH_OFFSET));
        let min = RECORD_BATCH_OVERHEAD - LOG_OVERHEAD;
        let max = max_size.saturating_sub(LOG_OVERHEAD);
        if length < min as i64 || length > max as i64 {
            return Err(RecordsError::InvalidBatchLength { length, min, max });
        }
        let magic = buf[MAGIC_OFFSET] as i8;
        if magic != MAGIC_V2 {
            return Err(RecordsError::UnsupportedMagic(magic));
        }
        // length is within 0..=i32::MAX here, so the cast and the add cannot overflow.
        Ok(length as usize + LOG_OVERHEAD)
    }

    /// All bytes of the batch.
    pub fn bytes(&self) -> &'a [u8] {
        self.buf
    }

    /// `batchLength + 12`: the bytes this batch occupies.
    pub fn total_size(&self) -> usize {
        self.buf.len()
    }

    pub fn base_offset(&self) -> i64 {
        read_i64(self.buf, BASE_OFFSET_OFFSET)
    }

    pub fn batch_length(&self) -> i32 {
        read_i32(self.buf, BATCH_LENGTH_OFFSET)
    }

    pub fn partition_leader_epoch(&self) -> i32 {
        read_i32(self.buf, PARTITION_LEADER_EPOCH_OFFSET)
    }

    pub fn magic(&self) -> i8 {
        self.buf[MAGIC_OFFSET] as i8
    }

    /// The stored CRC-32C.
    pub fn crc(&self) -> u32 {
        read_i32(self.buf, CRC_OFFSET) as u32
    }

    pub fn attributes(&self) -> i16 {
        read_i16(self.buf, ATTRIBUTES_OFFSET)
    }

    pub fn last_offset_delta(&self) -> i32 {
        read_i32(self.buf, LAST_OFFSET_DELTA_OFFSET)
    }

    pub fn base_timestamp(&self) -> i64 {
        read_i64(self.buf, BASE_TIMESTAMP_OFFSET)
    }

    pub fn max_timestamp(&self) -> i64 {
        read_i64(self.buf, MAX_TIMESTAMP_OFFSET)
    }

    pub fn producer_id(&self) -> i64 {
        read_i64(self.buf, PRODUCER_ID_OFFSET)
    }

    pub fn producer_epoch(&self) -> i16 {
        read_i16(self.buf, PRODUCER_EPOCH_OFFSET)
    }

    pub fn base_sequence(&self) -> i32 {
        read_i32(self.buf, BASE_SEQUENCE_OFFSET)
    }

    pub fn record_count(&self) -> i32 {
        read_i32(self.buf, RECORDS_COUNT_OFFSET)
    }

    /// `baseOffset + lastOffsetDelta` (wrapping, so a hostile header cannot panic).
    pub fn last_offset(&self) -> i64 {
        self.base_offset()
            .wrapping_add(i64::from(self.last_offset_delta()))
    }

    /// The offset after this batch.
    pub fn next_offset(&self) -> i64 {
        self.last_offset().wrapping_add(1)
    }

    pub fn compression(&self) -> Result<Compression, RecordsError> {
        Compression::from_id((self.attributes() & COMPRESSION_CODEC_MASK) as u8)
    }

    pub fn timestamp_type(&self) -> TimestampType {
        if self.attributes() & TIMESTAMP_TYPE_MASK != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }

    pub fn is_transactional(&self) -> bool {
        self.attributes() & TRANSACTIONAL_FLAG_MASK != 0
    }

    pub fn is_control(&self) -> bool {
        self.attributes() & CONTROL_FLAG_MASK != 0
    }

    pub fn has_delete_horizon(&self) -> bool {
        self.attributes() & DELETE_HORIZON_FLAG_MASK != 0
    }

    /// The CRC-32C of bytes 21..end, as it should be stored.
    pub fn compute_crc(&self) -> u32 {
        crc32c::crc32c(&self.buf[ATTRIBUTES_OFFSET..])
    }

    /// Whether the stored CRC matches the bytes.
    pub fn verify_crc(&self) -> Result<(), RecordsError> {
        let (stored, computed) = (self.crc(), self.compute_crc());
        if stored == computed {
            Ok(())
        } else {
            Err(RecordsError::CrcMismatch { stored, computed })
        }
    }

    /// Header fields that no valid batch has: negative deltas or counts.
    pub fn validate_header(&self) -> Result<(), RecordsError> {
        if self.last_offset_delta() < 0 {
            return Err(RecordsError::InvalidHeader("negative lastOffsetDelta"));
        }
        if self.record_count() < 0 {
            return Err(RecordsError::InvalidHeader("negative recordCount"));
        }
        if self.base_offset() < 0
            || self
                .base_offset()
                .checked_add(i64::from(self.last_offset_delta()))
                .is_none()
        {
            return Err(RecordsError::InvalidHeader("baseOffset out of range"));
        }
        self.compression().map(|_| ())
    }

    /// The raw records section (compressed or not).
    pub fn records_bytes(&self) -> &'a [u8] {
        &self.buf[RECORDS_OFFSET..]
    }

    /// The records of an uncompressed batch; a compressed batch is a
    /// [`RecordsError::Compressed`] error, since the broker never decompresses.
    pub fn records(&self) -> Result<RecordIter<'a>, RecordsError> {
        match self.compression()? {
            Compression::None => {}
            other => return Err(RecordsError::Compressed(other)),
        }
        let count = self.record_count();
        if count < 0 {
            return Err(RecordsError::InvalidHeader("negative recordCount"));
        }
        Ok(RecordIter::new(self.records_bytes(), count as usize))
    }
}

fn check_header(buf: &[u8]) -> Result<usize, RecordsError> {
    RecordBatch::parse(buf).map(|b| b.total_size())
}

/// Writes `offset` as the batch's base offset. The field is outside the CRC.
pub fn set_base_offset(buf: &mut [u8], offset: i64) -> Result<(), RecordsError> {
    check_header(buf)?;
    buf[BASE_OFFSET_OFFSET..BASE_OFFSET_OFFSET + 8].copy_from_slice(&offset.to_be_bytes());
    Ok(())
}

/// Writes the partition leader epoch. The field is outside the CRC.
pub fn set_partition_leader_epoch(buf: &mut [u8], epoch: i32) -> Result<(), RecordsError> {
    check_header(buf)?;
    buf[PARTITION_LEADER_EPOCH_OFFSET..PARTITION_LEADER_EPOCH_OFFSET + 4]
        .copy_from_slice(&epoch.to_be_bytes());
    Ok(())
}

/// Stamps a LogAppendTime batch, as Kafka's `DefaultRecordBatch.setMaxTimestamp(
/// LOG_APPEND_TIME, ts)` does: the attributes are recomputed with the timestamp-type bit
/// set (keeping codec, transactional, control and delete-horizon bits, clearing the
/// unused high bits), maxTimestamp becomes `ts`, and the CRC is rewritten. As in Kafka,
/// nothing is written when both already hold these values. baseTimestamp and the
/// records are untouched.
pub fn set_log_append_time(buf: &mut [u8], ts: i64) -> Result<(), RecordsError> {
    let (attributes, total) = {
        let batch = RecordBatch::parse(buf)?;
        if batch.timestamp_type() == TimestampType::LogAppendTime && batch.max_timestamp() == ts {
            return Ok(());
        }
        let kept = COMPRESSION_CODEC_MASK
            | TRANSACTIONAL_FLAG_MASK
            | CONTROL_FLAG_MASK
            | DELETE_HORIZON_FLAG_MASK;
        (
            (batch.attributes() & kept) | TIMESTAMP_TYPE_MASK,
            batch.total_size(),
        )
    };
    let buf = &mut buf[..total];
    buf[ATTRIBUTES_OFFSET..ATTRIBUTES_OFFSET + 2].copy_from_slice(&attributes.to_be_bytes());
    buf[MAX_TIMESTAMP_OFFSET..MAX_TIMESTAMP_OFFSET + 8].copy_from_slice(&ts.to_be_bytes());
    write_crc(buf)
}

/// What an append writes into a batch header's max timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxTimestampRewrite {
    /// The producer's header is right: leave it.
    Keep,
    /// A CreateTime batch whose header does not hold its records' max timestamp (some
    /// producers leave it at -1): write the recomputed one, as Kafka's `LogValidator`.
    CreateTime(i64),
    /// A LogAppendTime topic: stamp the broker's time, as [`set_log_append_time`].
    LogAppendTime(i64),
}

impl MaxTimestampRewrite {
    /// The max timestamp of `batch` once this rewrite is applied.
    pub fn max_timestamp(self, batch: &RecordBatch<'_>) -> i64 {
        match self {
            MaxTimestampRewrite::Keep => batch.max_timestamp(),
            MaxTimestampRewrite::CreateTime(ts) | MaxTimestampRewrite::LogAppendTime(ts) => ts,
        }
    }
}

/// The append-time rewrite on a copy of the 61-byte header, for writers that copy the
/// header and the records separately: writes `base_offset` and rewrites the max
/// timestamp as `max_timestamp` says, computing the CRC over the patched header and
/// `records` (the bytes after the header) when anything under it changed.
pub fn rewrite_header(
    header: &mut [u8; RECORD_BATCH_OVERHEAD],
    records: &[u8],
    base_offset: i64,
    max_timestamp: MaxTimestampRewrite,
) -> Result<(), RecordsError> {
    let total = RecordBatch::peek_total_size(header, i32::MAX as usize)?;
    if total != RECORD_BATCH_OVERHEAD + records.len() {
        return Err(RecordsError::Incomplete {
            needed: total,
            available: RECORD_BATCH_OVERHEAD + records.len(),
        });
    }
    header[BASE_OFFSET_OFFSET..BASE_OFFSET_OFFSET + 8].copy_from_slice(&base_offset.to_be_bytes());
    let attributes = read_i16(header, ATTRIBUTES_OFFSET);
    let (attributes, ts) = match max_timestamp {
        MaxTimestampRewrite::Keep => return Ok(()),
        MaxTimestampRewrite::CreateTime(ts) => (attributes & !TIMESTAMP_TYPE_MASK, ts),
        MaxTimestampRewrite::LogAppendTime(ts) => {
            let kept = COMPRESSION_CODEC_MASK
                | TRANSACTIONAL_FLAG_MASK
                | CONTROL_FLAG_MASK
                | DELETE_HORIZON_FLAG_MASK;
            ((attributes & kept) | TIMESTAMP_TYPE_MASK, ts)
        }
    };
    if attributes == read_i16(header, ATTRIBUTES_OFFSET)
        && read_i64(header, MAX_TIMESTAMP_OFFSET) == ts
    {
        return Ok(());
    }
    header[ATTRIBUTES_OFFSET..ATTRIBUTES_OFFSET + 2].copy_from_slice(&attributes.to_be_bytes());
    header[MAX_TIMESTAMP_OFFSET..MAX_TIMESTAMP_OFFSET + 8].copy_from_slice(&ts.to_be_bytes());
    let crc = crc32c::crc32c_append(crc32c::crc32c(&header[ATTRIBUTES_OFFSET..]), records);
    header[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
    Ok(())
}

/// Recomputes the CRC-32C over bytes 21..end and stores it.
pub fn write_crc(buf: &mut [u8]) -> Result<(), RecordsError> {
    let total = check_header(buf)?;
    let crc = crc32c::crc32c(&buf[ATTRIBUTES_OFFSET..total]);
    buf[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
    Ok(())
}

/// Iterates over back-to-back batches, stopping at the first bytes that are not a
/// complete batch: a partial tail, zeros, or garbage. It does not check CRCs.
///
/// After the iteration, [`BatchIter::valid_bytes`] is where the last complete batch
/// ends and [`BatchIter::stop_reason`] says why it stopped (`None` when the buffer ended
/// exactly at a batch boundary).
#[derive(Debug, Clone)]
pub struct BatchIter<'a> {
    buf: &'a [u8],
    position: usize,
    stop: Option<RecordsError>,
    done: bool,
}

impl<'a> BatchIter<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self {
            buf,
            position: 0,
            stop: None,
            done: false,
        }
    }

    /// Bytes from the start of the buffer to the end of the last batch yielded.
    pub fn valid_bytes(&self) -> usize {
        self.position
    }

    /// Why the iteration stopped early, if it did.
    pub fn stop_reason(&self) -> Option<&RecordsError> {
        self.stop.as_ref()
    }
}

impl<'a> Iterator for BatchIter<'a> {
    type Item = RecordBatch<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let rest = &self.buf[self.position..];
        if rest.is_empty() {
            self.done = true;
            return None;
        }
        match RecordBatch::parse(rest) {
            Ok(batch) => {
                self.position += batch.total_size();
                Some(batch)
            }
            Err(e) => {
                self.stop = Some(e);
                self.done = true;
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        RecordBatchBuilder::new(0, 1_700_000_000_000)
            .record(RecordSpec::new(Some(b"k"), Some(b"v")))
            .record(RecordSpec::new(None, Some(b"value-two")))
            .build()
    }

    #[test]
    fn parse_rejects_short_bad_length_and_bad_magic() {
        let bytes = sample();
        assert!(matches!(
            RecordBatch::parse(&bytes[..10]),
            Err(RecordsError::Incomplete { .. })
        ));
        assert!(matches!(
            RecordBatch::parse(&bytes[..bytes.len() - 1]),
            Err(RecordsError::Incomplete { .. })
        ));
        let mut bad = bytes.clone();
        bad[MAGIC_OFFSET] = 1;
        assert_eq!(
            RecordBatch::parse(&bad),
            Err(RecordsError::UnsupportedMagic(1))
        );
        let mut bad = bytes.clone();
        bad[BATCH_LENGTH_OFFSET..BATCH_LENGTH_OFFSET + 4].copy_from_slice(&(-5i32).to_be_bytes());
        assert!(matches!(
            RecordBatch::parse(&bad),
            Err(RecordsError::InvalidBatchLength { .. })
        ));
        let zeros = [0u8; 100];
        assert!(matches!(
            RecordBatch::parse(&zeros),
            Err(RecordsError::InvalidBatchLength { length: 0, .. })
        ));
    }

    #[test]
    fn set_base_offset_keeps_crc_valid() {
        let mut bytes = sample();
        set_base_offset(&mut bytes, 12345).unwrap();
        let batch = RecordBatch::parse(&bytes).unwrap();
        assert_eq!(batch.base_offset(), 12345);
        assert_eq!(batch.last_offset(), 12346);
        batch.verify_crc().unwrap();
    }

    #[test]
    fn set_log_append_time_sets_bit_max_timestamp_and_crc() {
        let mut bytes = sample();
        let base_ts = RecordBatch::parse(&bytes).unwrap().base_timestamp();
        set_log_append_time(&mut bytes, 42).unwrap();
        let batch = RecordBatch::parse(&bytes).unwrap();
        assert_eq!(batch.timestamp_type(), TimestampType::LogAppendTime);
        assert_eq!(batch.max_timestamp(), 42);
        assert_eq!(batch.base_timestamp(), base_ts);
        batch.verify_crc().unwrap();
    }

    #[test]
    fn rewrite_header_on_a_copy_matches_rewriting_the_whole_batch() {
        let bytes = sample();
        for lat in [None, Some(99)] {
            let mut whole = bytes.clone();
            set_base_offset(&mut whole, 500).unwrap();
            if let Some(ts) = lat {
                set_log_append_time(&mut whole, ts).unwrap();
            }
            let mut header = [0u8; RECORD_BATCH_OVERHEAD];
            header.copy_from_slice(&bytes[..RECORD_BATCH_OVERHEAD]);
            let rewrite = lat.map_or(
                MaxTimestampRewrite::Keep,
                MaxTimestampRewrite::LogAppendTime,
            );
            rewrite_header(&mut header, &bytes[RECORD_BATCH_OVERHEAD..], 500, rewrite).unwrap();
            assert_eq!(&header[..], &whole[..RECORD_BATCH_OVERHEAD]);
        }
        let mut header = [0u8; RECORD_BATCH_OVERHEAD];
        header.copy_from_slice(&bytes[..RECORD_BATCH_OVERHEAD]);
        assert!(rewrite_header(&mut header, &[], 1, MaxTimestampRewrite::Keep).is_err());
    }

    #[test]
    fn a_create_time_rewrite_sets_the_max_timestamp_and_a_valid_crc() {
        let mut bytes = RecordBatchBuilder::new(0, 1000)
            .max_timestamp(-1)
            .record(RecordSpec::new(None, Some(b"a")).timestamp(1000))
            .record(RecordSpec::new(None, Some(b"b")).timestamp(3000))
            .build();
        let mut header = [0u8; RECORD_BATCH_OVERHEAD];
        header.copy_from_slice(&bytes[..RECORD_BATCH_OVERHEAD]);
        let rewrite = MaxTimestampRewrite::CreateTime(3000);
        rewrite_header(&mut header, &bytes[RECORD_BATCH_OVERHEAD..], 7, rewrite).unwrap();
        bytes[..RECORD_BATCH_OVERHEAD].copy_from_slice(&header);
        let batch = RecordBatch::parse(&bytes).unwrap();
        assert_eq!(batch.max_timestamp(), 3000);
        assert_eq!(batch.timestamp_type(), TimestampType::CreateTime);
        batch.verify_crc().unwrap();
    }

    #[test]
    fn flipped_byte_fails_crc() {
        let mut bytes = sample();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x40;
        assert!(matches!(
            RecordBatch::parse(&bytes).unwrap().verify_crc(),
            Err(RecordsError::CrcMismatch { .. })
        ));
    }

    #[test]
    fn batch_iter_stops_at_partial_tail_and_reports_valid_end() {
        let one = sample();
        let mut buf = one.clone();
        buf.extend_from_slice(&one);
        buf.extend_from_slice(&one[..20]);
        let mut iter = BatchIter::new(&buf);
        assert_eq!(iter.by_ref().count(), 2);
        assert_eq!(iter.valid_bytes(), 2 * one.len());
        assert!(matches!(
            iter.stop_reason(),
            Some(RecordsError::Incomplete { .. })
        ));

        let mut exact = BatchIter::new(&one);
        assert_eq!(exact.by_ref().count(), 1);
        assert_eq!(exact.stop_reason(), None);
    }

    #[test]
    fn batch_iter_stops_at_preallocated_zeros() {
        let mut buf = sample();
        let len = buf.len();
        buf.resize(len + 4096, 0);
        let mut iter = BatchIter::new(&buf);
        assert_eq!(iter.by_ref().count(), 1);
        assert_eq!(iter.valid_bytes(), len);
    }

    #[test]
    fn compressed_batch_records_are_a_typed_error() {
        let mut bytes = sample();
        bytes[ATTRIBUTES_OFFSET + 1] |= 1;
        let batch = RecordBatch::parse(&bytes).unwrap();
        assert_eq!(batch.compression(), Ok(Compression::Gzip));
        assert!(matches!(
            batch.records(),
            Err(RecordsError::Compressed(Compression::Gzip))
        ));
        bytes[ATTRIBUTES_OFFSET + 1] |= 7;
        let batch = RecordBatch::parse(&bytes).unwrap();
        assert_eq!(
            batch.compression(),
            Err(RecordsError::UnknownCompression(7))
        );
    }
}
