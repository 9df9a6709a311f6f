//! The timestamps of a batch's records, for what needs them one record at a time:
//! ListOffsets by timestamp (the first record at or after a time), MAX_TIMESTAMP (the
//! first record holding the batch's max timestamp) and the append-time repair of a
//! header whose max timestamp was left unset. Only each record's length, timestamp
//! delta and offset delta are read: no key, value or header is decoded, nothing is
//! allocated for an uncompressed batch. A compressed batch is decompressed once, up to
//! the caller's limit.

use super::record::{read_varint, read_varlong};
use super::{RecordBatch, RecordsError, TimestampType};
use std::ops::ControlFlow;

/// A record's offset and timestamp (for LogAppendTime, the batch's max timestamp, as
/// Kafka's `DefaultRecord.timestamp()` reports it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordTime {
    pub offset: i64,
    pub timestamp: i64,
}

impl RecordBatch<'_> {
    /// Calls `f` with each record's offset and timestamp, in order, until it breaks;
    /// returns what it broke with. A compressed batch whose records exceed `max_bytes`
    /// once decompressed is an error.
    pub fn try_for_each_record_time<B>(
        &self,
        max_bytes: usize,
        mut f: impl FnMut(RecordTime) -> ControlFlow<B>,
    ) -> Result<Option<B>, RecordsError> {
        let section = self.decompressed_records(max_bytes)?;
        let mut buf: &[u8] = &section;
        let count = usize::try_from(self.record_count())
            .map_err(|_| RecordsError::InvalidHeader("negative recordCount"))?;
        let append_time = self.timestamp_type() == TimestampType::LogAppendTime;
        for index in 0..count {
            let invalid = |reason| RecordsError::InvalidRecord { index, reason };
            let length = read_varint(&mut buf).map_err(invalid)?;
            let length = usize::try_from(length)
                .ok()
                .filter(|&l| l <= buf.len())
                .ok_or(invalid("record length exceeds the batch"))?;
            let (mut body, rest) = buf.split_at(length);
            buf = rest;
            // attributes (int8), then the two deltas.
            body = body.get(1..).ok_or(invalid("record too short"))?;
            let timestamp_delta = read_varlong(&mut body).map_err(invalid)?;
            let offset_delta = read_varint(&mut body).map_err(invalid)?;
            let time = RecordTime {
                offset: self.base_offset().saturating_add(i64::from(offset_delta)),
                timestamp: if append_time {
                    self.max_timestamp()
                } else {
                    self.base_timestamp().saturating_add(timestamp_delta)
                },
            };
            if let ControlFlow::Break(b) = f(time) {
                return Ok(Some(b));
            }
        }
        Ok(None)
    }

    /// The first record at or after `min_offset` whose timestamp is >= `timestamp`
    /// (Kafka's `LogSegment.findOffsetByTimestamp`, within one batch).
    pub fn first_record_at_or_after(
        &self,
        timestamp: i64,
        min_offset: i64,
        max_bytes: usize,
    ) -> Result<Option<RecordTime>, RecordsError> {
        self.try_for_each_record_time(max_bytes, |r| {
            if r.timestamp >= timestamp && r.offset >= min_offset {
                ControlFlow::Break(r)
            } else {
                ControlFlow::Continue(())
            }
        })
    }

    /// The offset of the first record whose timestamp equals the batch's max timestamp
    /// (Kafka's `RecordBatch.offsetOfMaxTimestamp`).
    pub fn offset_of_max_timestamp(&self, max_bytes: usize) -> Result<Option<i64>, RecordsError> {
        let max = self.max_timestamp();
        self.try_for_each_record_time(max_bytes, |r| {
            if r.timestamp == max {
                ControlFlow::Break(r.offset)
            } else {
                ControlFlow::Continue(())
            }
        })
    }

    /// The largest record timestamp (CreateTime), what the header's max timestamp must
    /// say; `None` for a batch without records.
    pub fn records_max_timestamp(&self, max_bytes: usize) -> Result<Option<i64>, RecordsError> {
        let mut max = None;
        self.try_for_each_record_time(max_bytes, |r| {
            max = Some(max.map_or(r.timestamp, |m: i64| m.max(r.timestamp)));
            ControlFlow::<()>::Continue(())
        })?;
        Ok(max)
    }
}

impl RecordBatch<'_> {
    /// The smallest record timestamp that is set (not -1); `None` if there is none.
    pub fn records_min_timestamp(&self, max_bytes: usize) -> Result<Option<i64>, RecordsError> {
        let mut min = None;
        self.try_for_each_record_time(max_bytes, |r| {
            if r.timestamp >= 0 {
                min = Some(min.map_or(r.timestamp, |m: i64| m.min(r.timestamp)));
            }
            ControlFlow::<()>::Continue(())
        })?;
        Ok(min)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::records::compression::compress_batch;
    use crate::protocol::records::{Compression, RecordBatchBuilder, RecordSpec};

    const T0: i64 = 1_700_000_000_000;

    fn batch(timestamps: &[i64], codec: Compression) -> Vec<u8> {
        let mut b = RecordBatchBuilder::new(100, T0);
        for (i, ts) in timestamps.iter().enumerate() {
            let value = vec![b'v'; 10 + i];
            b = b.record(
                RecordSpec::new(Some(b"k"), Some(&value))
                    .timestamp(*ts)
                    .header("h", Some(b"x")),
            );
        }
        compress_batch(&b.build(), codec).unwrap()
    }

    #[test]
    fn the_first_record_at_or_after_a_time_is_found_inside_a_batch_of_any_codec() {
        let times: Vec<i64> = (0..10).map(|i| T0 + i * 1000).collect();
        for codec in [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let bytes = batch(&times, codec);
            let b = RecordBatch::parse(&bytes).unwrap();
            let hit = b.first_record_at_or_after(T0 + 5500, 0, 1 << 20).unwrap();
            assert_eq!(
                hit,
                Some(RecordTime {
                    offset: 106,
                    timestamp: T0 + 6000
                }),
                "{codec:?}"
            );
            // Below the minimum offset records do not count.
            let hit = b.first_record_at_or_after(T0, 103, 1 << 20).unwrap();
            assert_eq!(hit.map(|r| r.offset), Some(103));
            assert_eq!(b.first_record_at_or_after(T0 + 9001, 0, 1 << 20), Ok(None));
        }
    }

    #[test]
    fn max_timestamp_points_at_the_record_that_holds_it_not_the_last() {
        let bytes = batch(&[T0 + 1000, T0 + 9000, T0 + 2000], Compression::Lz4);
        let b = RecordBatch::parse(&bytes).unwrap();
        assert_eq!(b.max_timestamp(), T0 + 9000);
        assert_eq!(b.offset_of_max_timestamp(1 << 20), Ok(Some(101)));
        assert_eq!(b.records_max_timestamp(1 << 20), Ok(Some(T0 + 9000)));
    }

    #[test]
    fn a_log_append_time_batch_reports_its_stamp_for_every_record() {
        let mut b = RecordBatchBuilder::new(0, T0).log_append_time(T0 + 5);
        for ts in [T0, T0 + 1] {
            b = b.record(RecordSpec::new(None, Some(b"v")).timestamp(ts));
        }
        let bytes = b.build();
        let b = RecordBatch::parse(&bytes).unwrap();
        assert_eq!(b.offset_of_max_timestamp(1 << 20), Ok(Some(0)));
        assert_eq!(
            b.first_record_at_or_after(T0 + 1, 0, 1 << 20).unwrap(),
            Some(RecordTime {
                offset: 0,
                timestamp: T0 + 5
            })
        );
    }

    #[test]
    fn damaged_records_and_oversized_decompression_are_errors_not_panics() {
        let mut bytes = batch(&[T0, T0 + 1], Compression::None);
        // Claim more records than there are.
        bytes[super::super::RECORDS_COUNT_OFFSET + 3] = 9;
        let b = RecordBatch::parse(&bytes).unwrap();
        assert!(b.records_max_timestamp(1 << 20).is_err());
        let bytes = batch(&[T0; 50], Compression::Gzip);
        let b = RecordBatch::parse(&bytes).unwrap();
        assert!(b.records_max_timestamp(64).is_err());
    }
}
