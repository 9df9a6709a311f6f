//! [`RecordBatchBuilder`]: writes uncompressed v2 batches byte-for-byte as Kafka's
//! `MemoryRecordsBuilder` (and `DefaultRecordBatch.writeEmptyHeader` for a batch with no
//! records) does. Used by tests and by internal logs; the produce path never builds.

use super::record::{write_varint, write_varlong};
use super::*;

/// One record to write. Its timestamp defaults to the builder's, its offset delta to
/// one past the previous record's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordSpec {
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    pub timestamp: Option<i64>,
    pub offset_delta: Option<i32>,
}

impl RecordSpec {
    pub fn new(key: Option<&[u8]>, value: Option<&[u8]>) -> Self {
        Self {
            key: key.map(<[u8]>::to_vec),
            value: value.map(<[u8]>::to_vec),
            headers: Vec::new(),
            timestamp: None,
            offset_delta: None,
        }
    }

    pub fn timestamp(mut self, ts: i64) -> Self {
        self.timestamp = Some(ts);
        self
    }

    pub fn offset_delta(mut self, delta: i32) -> Self {
        self.offset_delta = Some(delta);
        self
    }

    pub fn header(mut self, key: &str, value: Option<&[u8]>) -> Self {
        self.headers
            .push((key.to_owned(), value.map(<[u8]>::to_vec)));
        self
    }
}

/// Builds one uncompressed RecordBatch v2.
#[derive(Debug, Clone)]
pub struct RecordBatchBuilder {
    base_offset: i64,
    timestamp: i64,
    partition_leader_epoch: i32,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    transactional: bool,
    control: bool,
    log_append_time: Option<i64>,
    delete_horizon_ms: Option<i64>,
    base_timestamp: Option<i64>,
    max_timestamp: Option<i64>,
    last_offset_delta: Option<i32>,
    records: Vec<RecordSpec>,
}

impl RecordBatchBuilder {
    /// A builder for a batch at `base_offset` whose records default to `timestamp`.
    pub fn new(base_offset: i64, timestamp: i64) -> Self {
        Self {
            base_offset,
            timestamp,
            partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
            producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            base_sequence: NO_SEQUENCE,
            transactional: false,
            control: false,
            log_append_time: None,
            delete_horizon_ms: None,
            base_timestamp: None,
            max_timestamp: None,
            last_offset_delta: None,
            records: Vec::new(),
        }
    }

    pub fn partition_leader_epoch(mut self, epoch: i32) -> Self {
        self.partition_leader_epoch = epoch;
        self
    }

    pub fn producer(mut self, id: i64, epoch: i16, base_sequence: i32) -> Self {
        self.producer_id = id;
        self.producer_epoch = epoch;
        self.base_sequence = base_sequence;
        self
    }

    pub fn transactional(mut self, yes: bool) -> Self {
        self.transactional = yes;
        self
    }

    pub fn control(mut self, yes: bool) -> Self {
        self.control = yes;
        self
    }

    /// LogAppendTime: sets the timestamp-type bit and maxTimestamp = `ts`.
    pub fn log_append_time(mut self, ts: i64) -> Self {
        self.log_append_time = Some(ts);
        self
    }

    /// Sets attribute bit 6 and writes `ms` as baseTimestamp (compaction).
    pub fn delete_horizon(mut self, ms: i64) -> Self {
        self.delete_horizon_ms = Some(ms);
        self
    }

    /// Overrides baseTimestamp (default: the delete horizon, else the first record's
    /// timestamp, else -1 for a batch without records).
    pub fn base_timestamp(mut self, ts: i64) -> Self {
        self.base_timestamp = Some(ts);
        self
    }

    /// Overrides maxTimestamp (default: the largest record timestamp, or -1).
    pub fn max_timestamp(mut self, ts: i64) -> Self {
        self.max_timestamp = Some(ts);
        self
    }

    /// Overrides lastOffsetDelta (default: the last record's offset delta, or 0), as a
    /// compacted batch whose records were all removed keeps its last offset.
    pub fn last_offset_delta(mut self, delta: i32) -> Self {
        self.last_offset_delta = Some(delta);
        self
    }

    pub fn record(mut self, record: RecordSpec) -> Self {
        self.records.push(record);
        self
    }

    /// Writes the batch.
    pub fn build(&self) -> Vec<u8> {
        let mut records = Vec::new();
        let base_timestamp = self
            .base_timestamp
            .or(self.delete_horizon_ms)
            .or_else(|| {
                self.records
                    .first()
                    .map(|r| r.timestamp.unwrap_or(self.timestamp))
            })
            .unwrap_or(NO_TIMESTAMP);
        let mut max_timestamp = NO_TIMESTAMP;
        let mut next_delta: i32 = 0;
        let mut last_delta: i32 = 0;
        for spec in &self.records {
            let ts = spec.timestamp.unwrap_or(self.timestamp);
            max_timestamp = max_timestamp.max(ts);
            let delta = spec.offset_delta.unwrap_or(next_delta);
            last_delta = delta;
            next_delta = delta.wrapping_add(1);
            write_record(&mut records, spec, ts.wrapping_sub(base_timestamp), delta);
        }
        let max_timestamp = self
            .max_timestamp
            .or(self.log_append_time)
            .unwrap_or(max_timestamp);
        let last_offset_delta = self.last_offset_delta.unwrap_or(last_delta);

        let mut attributes: i16 = 0;
        if self.log_append_time.is_some() {
            attributes |= TIMESTAMP_TYPE_MASK;
        }
        if self.transactional {
            attributes |= TRANSACTIONAL_FLAG_MASK;
        }
        if self.control {
            attributes |= CONTROL_FLAG_MASK;
        }
        if self.delete_horizon_ms.is_some() {
            attributes |= DELETE_HORIZON_FLAG_MASK;
        }

        let total = RECORD_BATCH_OVERHEAD + records.len();
        let mut out = Vec::with_capacity(total);
        out.extend_from_slice(&self.base_offset.to_be_bytes());
        out.extend_from_slice(&((total - LOG_OVERHEAD) as i32).to_be_bytes());
        out.extend_from_slice(&self.partition_leader_epoch.to_be_bytes());
        out.push(MAGIC_V2 as u8);
        out.extend_from_slice(&[0; 4]); // CRC, written last
        out.extend_from_slice(&attributes.to_be_bytes());
        out.extend_from_slice(&last_offset_delta.to_be_bytes());
        out.extend_from_slice(&base_timestamp.to_be_bytes());
        out.extend_from_slice(&max_timestamp.to_be_bytes());
        out.extend_from_slice(&self.producer_id.to_be_bytes());
        out.extend_from_slice(&self.producer_epoch.to_be_bytes());
        out.extend_from_slice(&self.base_sequence.to_be_bytes());
        out.extend_from_slice(&(self.records.len() as i32).to_be_bytes());
        out.extend_from_slice(&records);
        let crc = crc32c::crc32c(&out[ATTRIBUTES_OFFSET..]);
        out[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
        out
    }
}

fn write_nullable(out: &mut Vec<u8>, bytes: Option<&[u8]>) {
    match bytes {
        None => write_varint(out, -1),
        Some(b) => {
            write_varint(out, b.len() as i32);
            out.extend_from_slice(b);
        }
    }
}

fn write_record(out: &mut Vec<u8>, spec: &RecordSpec, timestamp_delta: i64, offset_delta: i32) {
    let mut body = vec![0u8]; // attributes: unused, always 0
    write_varlong(&mut body, timestamp_delta);
    write_varint(&mut body, offset_delta);
    write_nullable(&mut body, spec.key.as_deref());
    write_nullable(&mut body, spec.value.as_deref());
    write_varint(&mut body, spec.headers.len() as i32);
    for (key, value) in &spec.headers {
        write_nullable(&mut body, Some(key.as_bytes()));
        write_nullable(&mut body, value.as_deref());
    }
    write_varint(out, body.len() as i32);
    out.extend_from_slice(&body);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn spec_strategy() -> impl Strategy<Value = RecordSpec> {
        let bytes = proptest::option::of(proptest::collection::vec(any::<u8>(), 0..200));
        let headers = proptest::collection::vec(
            (
                "[a-z]{0,8}",
                proptest::option::of(proptest::collection::vec(any::<u8>(), 0..20)),
            ),
            0..3,
        );
        (
            bytes.clone(),
            bytes,
            headers,
            proptest::option::of(-1_000_000i64..1_000_000),
        )
            .prop_map(|(key, value, headers, ts)| RecordSpec {
                key,
                value,
                headers,
                timestamp: ts.map(|t| 1_700_000_000_000 + t),
                offset_delta: None,
            })
    }

    proptest! {
        #[test]
        fn built_batches_parse_verify_and_iterate_back(
            base in 0i64..1 << 40,
            specs in proptest::collection::vec(spec_strategy(), 1..8),
            transactional: bool,
            leader_epoch in -1i32..100,
        ) {
            let mut builder = RecordBatchBuilder::new(base, 1_700_000_000_000)
                .transactional(transactional)
                .partition_leader_epoch(leader_epoch);
            for s in &specs {
                builder = builder.record(s.clone());
            }
            let bytes = builder.build();
            let batch = RecordBatch::parse(&bytes).unwrap();
            batch.verify_crc().unwrap();
            batch.validate_header().unwrap();
            prop_assert_eq!(batch.base_offset(), base);
            prop_assert_eq!(batch.record_count() as usize, specs.len());
            prop_assert_eq!(batch.last_offset(), base + specs.len() as i64 - 1);
            prop_assert_eq!(batch.is_transactional(), transactional);
            prop_assert_eq!(batch.partition_leader_epoch(), leader_epoch);
            let records: Vec<_> = batch.records().unwrap().collect::<Result<_, _>>().unwrap();
            prop_assert_eq!(records.len(), specs.len());
            let mut max_ts = -1;
            for (i, (r, s)) in records.iter().zip(&specs).enumerate() {
                let ts = s.timestamp.unwrap_or(1_700_000_000_000);
                max_ts = max_ts.max(ts);
                prop_assert_eq!(r.offset_delta, i as i32);
                prop_assert_eq!(batch.base_timestamp() + r.timestamp_delta, ts);
                prop_assert_eq!(r.key, s.key.as_deref());
                prop_assert_eq!(r.value, s.value.as_deref());
                prop_assert_eq!(r.headers.len(), s.headers.len());
                for (h, (k, v)) in r.headers.iter().zip(&s.headers) {
                    prop_assert_eq!(h.key, k.as_str());
                    prop_assert_eq!(h.value, v.as_deref());
                }
            }
            prop_assert_eq!(batch.max_timestamp(), max_ts);
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            exercise(&bytes);
        }

        #[test]
        fn mutated_batches_never_panic(
            specs in proptest::collection::vec(spec_strategy(), 1..4),
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
            cut in any::<prop::sample::Index>(),
        ) {
            let mut builder = RecordBatchBuilder::new(7, 1_700_000_000_000);
            for s in specs {
                builder = builder.record(s);
            }
            let mut bytes = builder.build();
            for (at, value) in flips {
                let i = at.index(bytes.len());
                bytes[i] = value;
            }
            exercise(&bytes);
            let cut = cut.index(bytes.len());
            exercise(&bytes[..cut]);
        }
    }

    fn exercise(bytes: &[u8]) {
        let mut iter = BatchIter::new(bytes);
        for batch in iter.by_ref() {
            let _ = batch.verify_crc();
            let _ = batch.validate_header();
            let _ = (
                batch.last_offset(),
                batch.timestamp_type(),
                batch.compression(),
            );
            if let Ok(records) = batch.records() {
                for r in records {
                    let _ = r;
                }
            }
        }
        assert!(iter.valid_bytes() <= bytes.len());
        let mut copy = bytes.to_vec();
        let _ = set_base_offset(&mut copy, 1);
        let _ = set_log_append_time(&mut copy, 2);
        let _ = write_crc(&mut copy);
    }
}
