//! Control batches: the commit and abort markers a transaction coordinator writes to
//! every partition of a transaction.
//!
//! A control batch has the transactional and control attribute bits set, the producer
//! id and epoch of the transaction, no sequence, and one record (Kafka's
//! `EndTransactionMarker`):
//!
//! ```text
//! key   = version int16 (0), type int16 (0 abort, 1 commit)
//! value = version int16 (0), coordinatorEpoch int32
//! ```

use super::{RecordBatch, RecordBatchBuilder, RecordSpec, NO_SEQUENCE};

const ABORT: i16 = 0;
const COMMIT: i16 = 1;
const VERSION: i16 = 0;

/// What a control batch says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControlMarker {
    pub commit: bool,
    pub coordinator_epoch: i32,
}

/// The control batch that ends a transaction, at offset 0 (the log assigns the real
/// one on append).
pub fn marker_batch(
    producer_id: i64,
    producer_epoch: i16,
    marker: ControlMarker,
    timestamp_ms: i64,
) -> Vec<u8> {
    let mut key = Vec::with_capacity(4);
    key.extend_from_slice(&VERSION.to_be_bytes());
    key.extend_from_slice(&(if marker.commit { COMMIT } else { ABORT }).to_be_bytes());
    let mut value = Vec::with_capacity(6);
    value.extend_from_slice(&VERSION.to_be_bytes());
    value.extend_from_slice(&marker.coordinator_epoch.to_be_bytes());
    RecordBatchBuilder::new(0, timestamp_ms)
        .producer(producer_id, producer_epoch, NO_SEQUENCE)
        .transactional(true)
        .control(true)
        .record(RecordSpec::new(Some(&key), Some(&value)))
        .build()
}

/// Reads the marker of a control batch; `None` for any other batch and for a control
/// record this version does not know (Kafka skips those too).
pub fn parse_marker(batch: &RecordBatch<'_>) -> Option<ControlMarker> {
    if !batch.is_control() {
        return None;
    }
    let record = batch.records().ok()?.next()?.ok()?;
    let key = record.key?;
    if key.len() < 4 || i16::from_be_bytes([key[0], key[1]]) < 0 {
        return None;
    }
    let commit = match i16::from_be_bytes([key[2], key[3]]) {
        ABORT => false,
        COMMIT => true,
        _ => return None,
    };
    let coordinator_epoch = record
        .value
        .filter(|v| v.len() >= 6)
        .map_or(-1, |v| i32::from_be_bytes([v[2], v[3], v[4], v[5]]));
    Some(ControlMarker {
        commit,
        coordinator_epoch,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_round_trip_and_other_batches_are_not_markers() {
        for commit in [true, false] {
            let marker = ControlMarker {
                commit,
                coordinator_epoch: 7,
            };
            let bytes = marker_batch(42, 3, marker, 1_000);
            let batch = RecordBatch::parse(&bytes).expect("batch");
            batch.verify_crc().expect("crc");
            assert!(batch.is_control() && batch.is_transactional());
            assert_eq!((batch.producer_id(), batch.producer_epoch()), (42, 3));
            assert_eq!(parse_marker(&batch), Some(marker));
        }
        let data = RecordBatchBuilder::new(0, 0)
            .record(RecordSpec::new(None, Some(b"v")))
            .build();
        assert_eq!(
            parse_marker(&RecordBatch::parse(&data).expect("batch")),
            None
        );
    }
}
