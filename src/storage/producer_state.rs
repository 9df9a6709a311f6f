//! Idempotent-producer state of one partition: for each producer id, its epoch and the
//! sequence ranges of its last five batches, as Kafka keeps them.
//!
//! A batch from a producer (producer id >= 0, base sequence >= 0) is checked before it is
//! appended: the same sequence range as one of the last five is a duplicate (answered
//! with its original offsets, not written again); a gap is OUT_OF_ORDER_SEQUENCE_NUMBER;
//! an older epoch is fenced (INVALID_PRODUCER_EPOCH). A new epoch must start at sequence
//! 0; a producer the partition has no state for may start anywhere (its state may have
//! been removed with old data), as Kafka allows.
//!
//! # Transactions
//!
//! A transactional batch (attribute bit 4, not a control batch) opens its producer's
//! transaction on this partition at its base offset if none is open; the control batch
//! (commit or abort marker) of the producer closes it ([`ProducerState::apply`], used
//! by the append path and by [`rebuild`] alike, so the two cannot disagree). The last
//! stable offset (LSO) is the first offset of the oldest open transaction, or the high
//! watermark when none is open: read_committed consumers read below it. Transactional
//! batches without a sequence (the group coordinator's TxnOffsetCommit writes) open and
//! close transactions like any other but have no sequence to check.
//!
//! The snapshot files and the rebuild of the state when a log opens are in `snapshot`.

use super::error::{io_err, Result};
use super::txn_index::AbortedTxn;
use crate::protocol::records::{control, RecordBatch, NO_TIMESTAMP};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::{Path, PathBuf};

/// Batches remembered per producer (Kafka: 5, the most in flight per connection).
pub const BATCHES_KEPT: usize = 5;

mod snapshot;
pub use snapshot::{load_snapshot, rebuild, snapshot_path, write_snapshot};

/// Where one batch of a producer landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerBatch {
    pub first_seq: i32,
    pub last_seq: i32,
    pub first_offset: i64,
    pub last_offset: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct ProducerEntry {
    epoch: i16,
    batches: VecDeque<ProducerBatch>,
    /// The newest timestamp of its batches (DescribeProducers).
    last_timestamp: i64,
    /// The coordinator epoch of its last marker, -1 before one.
    coordinator_epoch: i32,
    /// The offset of the first batch of its open transaction on this partition.
    current_txn_first_offset: Option<i64>,
}

impl ProducerEntry {
    fn new(epoch: i16) -> Self {
        Self {
            epoch,
            batches: VecDeque::new(),
            last_timestamp: NO_TIMESTAMP,
            coordinator_epoch: -1,
            current_txn_first_offset: None,
        }
    }

    /// A newer epoch forgets the older epoch's batches (its sequences restart at 0).
    fn bump_epoch(&mut self, epoch: i16) {
        if epoch != self.epoch {
            self.epoch = epoch;
            self.batches.clear();
        }
    }
}

/// A transaction that a control batch ended on this partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompletedTxn {
    pub producer_id: i64,
    /// Its first batch here (the marker's own offset if it wrote no batch here).
    pub first_offset: i64,
    /// The marker's offset.
    pub last_offset: i64,
    pub commit: bool,
}

/// One producer as DescribeProducers reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActiveProducer {
    pub producer_id: i64,
    pub producer_epoch: i16,
    /// The last sequence of its newest batch, -1 if none is remembered.
    pub last_sequence: i32,
    pub last_timestamp: i64,
    pub coordinator_epoch: i32,
    /// The first offset of its open transaction, -1 if none.
    pub current_txn_start_offset: i64,
}

/// Why a producer's batch is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SequenceError {
    #[error("producer {producer_id}: epoch {epoch} is older than the current {current}")]
    FencedEpoch {
        producer_id: i64,
        epoch: i16,
        current: i16,
    },
    #[error("producer {producer_id}: sequence {first_seq} does not follow {last_seq}")]
    OutOfOrder {
        producer_id: i64,
        first_seq: i32,
        last_seq: i32,
    },
}

/// The identity and sequence range of a batch, from its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchIdentity {
    pub producer_id: i64,
    pub epoch: i16,
    pub first_seq: i32,
    pub last_seq: i32,
}

impl BatchIdentity {
    /// `None` for a batch without a producer (not idempotent) or a control batch.
    pub fn of(batch: &RecordBatch<'_>) -> Option<Self> {
        if batch.producer_id() < 0 || batch.base_sequence() < 0 || batch.is_control() {
            return None;
        }
        let first_seq = batch.base_sequence();
        Some(BatchIdentity {
            producer_id: batch.producer_id(),
            epoch: batch.producer_epoch(),
            first_seq,
            // Sequences wrap at i32::MAX, as Kafka's do.
            last_seq: first_seq.wrapping_add(batch.last_offset_delta()) & i32::MAX,
        })
    }
}

/// The producer state of one partition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProducerState {
    producers: HashMap<i64, ProducerEntry>,
    /// First offset -> producer id of every open transaction, so the LSO is the first
    /// key (a producer has at most one open transaction, so the offsets are distinct).
    open_txns: BTreeMap<i64, i64>,
}

fn next_seq(seq: i32) -> i32 {
    if seq == i32::MAX {
        0
    } else {
        seq + 1
    }
}

impl ProducerState {
    /// Whether `producer_id` at `epoch` has an open transaction here.
    pub fn in_transaction(&self, producer_id: i64, epoch: i16) -> bool {
        self.producers
            .get(&producer_id)
            .is_some_and(|e| e.epoch == epoch && e.current_txn_first_offset.is_some())
    }

    /// Checks a batch before it is appended: `Ok(Some(batch))` for a duplicate of an
    /// appended batch, `Ok(None)` for a new one.
    pub fn check(&self, id: &BatchIdentity) -> Result<Option<ProducerBatch>, SequenceError> {
        let Some(entry) = self.producers.get(&id.producer_id) else {
            return Ok(None);
        };
        if id.epoch < entry.epoch {
            return Err(SequenceError::FencedEpoch {
                producer_id: id.producer_id,
                epoch: id.epoch,
                current: entry.epoch,
            });
        }
        if id.epoch > entry.epoch {
            return if id.first_seq == 0 {
                Ok(None)
            } else {
                Err(SequenceError::OutOfOrder {
                    producer_id: id.producer_id,
                    first_seq: id.first_seq,
                    last_seq: -1,
                })
            };
        }
        if let Some(dup) = entry
            .batches
            .iter()
            .find(|b| b.first_seq == id.first_seq && b.last_seq == id.last_seq)
        {
            return Ok(Some(*dup));
        }
        match entry.batches.back() {
            Some(last) if next_seq(last.last_seq) != id.first_seq => {
                Err(SequenceError::OutOfOrder {
                    producer_id: id.producer_id,
                    first_seq: id.first_seq,
                    last_seq: last.last_seq,
                })
            }
            _ => Ok(None),
        }
    }

    /// Records an appended batch.
    pub fn update(&mut self, id: &BatchIdentity, first_offset: i64, last_offset: i64) {
        let entry = self
            .producers
            .entry(id.producer_id)
            .or_insert_with(|| ProducerEntry::new(id.epoch));
        entry.bump_epoch(id.epoch);
        entry.batches.push_back(ProducerBatch {
            first_seq: id.first_seq,
            last_seq: id.last_seq,
            first_offset,
            last_offset,
        });
        while entry.batches.len() > BATCHES_KEPT {
            entry.batches.pop_front();
        }
    }

    /// Refuses a batch with a producer but no sequence (a control batch, or a
    /// transactional write of the group coordinator) whose epoch is older than the
    /// producer's: a zombie's marker or write must not end a newer transaction.
    pub fn check_epoch(&self, producer_id: i64, epoch: i16) -> Result<(), SequenceError> {
        match self.producers.get(&producer_id) {
            Some(entry) if epoch < entry.epoch => Err(SequenceError::FencedEpoch {
                producer_id,
                epoch,
                current: entry.epoch,
            }),
            _ => Ok(()),
        }
    }

    /// Applies an appended batch whose first record landed at `first_offset`, with
    /// `timestamp` its (stored) max timestamp: its sequences, its epoch, and the
    /// transaction it opens or (a control batch) ends. Returns the ended transaction.
    /// The one place where batches change the state, for appends and rebuilds alike.
    pub fn apply(
        &mut self,
        batch: &RecordBatch<'_>,
        first_offset: i64,
        timestamp: i64,
    ) -> Option<CompletedTxn> {
        let producer_id = batch.producer_id();
        if producer_id < 0 {
            return None;
        }
        let epoch = batch.producer_epoch();
        if batch.is_control() {
            let marker = control::parse_marker(batch)?;
            let entry = self
                .producers
                .entry(producer_id)
                .or_insert_with(|| ProducerEntry::new(epoch));
            if epoch > entry.epoch {
                entry.bump_epoch(epoch);
            }
            entry.coordinator_epoch = marker.coordinator_epoch;
            entry.last_timestamp = entry.last_timestamp.max(timestamp);
            let first = entry.current_txn_first_offset.take();
            if let Some(first) = first {
                self.open_txns.remove(&first);
            }
            return Some(CompletedTxn {
                producer_id,
                first_offset: first.unwrap_or(first_offset),
                last_offset: first_offset,
                commit: marker.commit,
            });
        }
        match BatchIdentity::of(batch) {
            Some(id) => {
                let last_offset = first_offset.saturating_add(i64::from(batch.last_offset_delta()));
                self.update(&id, first_offset, last_offset);
            }
            None => self
                .producers
                .entry(producer_id)
                .or_insert_with(|| ProducerEntry::new(epoch))
                .bump_epoch(epoch),
        }
        let entry = self.producers.get_mut(&producer_id)?;
        entry.last_timestamp = entry.last_timestamp.max(timestamp);
        if batch.is_transactional() && entry.current_txn_first_offset.is_none() {
            entry.current_txn_first_offset = Some(first_offset);
            self.open_txns.insert(first_offset, producer_id);
        }
        None
    }

    /// The first offset of the oldest open transaction, if any.
    pub fn first_unstable_offset(&self) -> Option<i64> {
        self.open_txns.keys().next().copied()
    }

    /// The last stable offset of a log whose high watermark is `high_watermark`.
    pub fn last_stable_offset(&self, high_watermark: i64) -> i64 {
        self.first_unstable_offset()
            .map_or(high_watermark, |o| o.min(high_watermark))
    }

    /// The index entry of an aborted transaction that just ended, with the LSO at
    /// that moment as Kafka computes it: the oldest other open transaction's start, or
    /// the offset after the marker.
    pub fn aborted_entry(&self, txn: &CompletedTxn) -> AbortedTxn {
        AbortedTxn {
            producer_id: txn.producer_id,
            first_offset: txn.first_offset,
            last_offset: txn.last_offset,
            last_stable_offset: self
                .first_unstable_offset()
                .unwrap_or(txn.last_offset.saturating_add(1)),
        }
    }

    /// Every producer the partition remembers, by producer id.
    pub fn active_producers(&self) -> Vec<ActiveProducer> {
        let mut out: Vec<ActiveProducer> = self
            .producers
            .iter()
            .map(|(&producer_id, e)| ActiveProducer {
                producer_id,
                producer_epoch: e.epoch,
                last_sequence: e.batches.back().map_or(-1, |b| b.last_seq),
                last_timestamp: e.last_timestamp,
                coordinator_epoch: e.coordinator_epoch,
                current_txn_start_offset: e.current_txn_first_offset.unwrap_or(-1),
            })
            .collect();
        out.sort_unstable_by_key(|p| p.producer_id);
        out
    }

    /// Forgets the producers with no open transaction here whose newest batch is older
    /// than `expiration_ms` (Kafka's `producer.id.expiration.ms`); how many went. Their
    /// sequences are then unknown: a returning producer starts afresh, as with Kafka.
    pub fn expire_producers(&mut self, now_ms: i64, expiration_ms: i64) -> usize {
        let before = self.producers.len();
        self.producers.retain(|_, e| {
            e.current_txn_first_offset.is_some()
                || e.last_timestamp < 0
                || now_ms.saturating_sub(e.last_timestamp) < expiration_ms
        });
        before - self.producers.len()
    }

    pub fn len(&self) -> usize {
        self.producers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.producers.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn id(producer_id: i64, epoch: i16, first_seq: i32, last_seq: i32) -> BatchIdentity {
        BatchIdentity {
            producer_id,
            epoch,
            first_seq,
            last_seq,
        }
    }

    #[test]
    fn duplicates_are_found_gaps_refused_and_old_epochs_fenced() {
        let mut s = ProducerState::default();
        assert_eq!(s.check(&id(7, 0, 0, 4)), Ok(None));
        s.update(&id(7, 0, 0, 4), 100, 104);
        s.update(&id(7, 0, 5, 9), 105, 109);
        assert_eq!(
            s.check(&id(7, 0, 0, 4))
                .expect("dup")
                .map(|b| b.first_offset),
            Some(100)
        );
        assert_eq!(s.check(&id(7, 0, 10, 12)), Ok(None));
        assert!(matches!(
            s.check(&id(7, 0, 12, 14)),
            Err(SequenceError::OutOfOrder { .. })
        ));
        s.update(&id(7, 1, 0, 0), 110, 110);
        assert!(matches!(
            s.check(&id(7, 0, 1, 1)),
            Err(SequenceError::FencedEpoch { .. })
        ));
        assert!(
            matches!(
                s.check(&id(7, 2, 5, 5)),
                Err(SequenceError::OutOfOrder { .. })
            ),
            "a new epoch starts at 0"
        );
        assert_eq!(
            s.check(&id(8, 0, 42, 42)),
            Ok(None),
            "an unknown producer may start anywhere"
        );
    }

    #[test]
    fn idle_producers_expire_unless_a_transaction_is_open() {
        use crate::protocol::records::{RecordBatchBuilder, RecordSpec};
        let batch = |pid: i64, txn: bool| {
            RecordBatchBuilder::new(0, 0)
                .producer(pid, 0, 0)
                .transactional(txn)
                .record(RecordSpec::new(None, Some(b"v")))
                .build()
        };
        let mut s = ProducerState::default();
        for (pid, txn, at) in [(1, false, 1_000), (2, true, 1_000), (3, false, 9_000)] {
            let bytes = batch(pid, txn);
            s.apply(&RecordBatch::parse(&bytes).unwrap(), pid * 10, at);
        }
        assert_eq!(s.expire_producers(10_000, 5_000), 1, "producer 1 idled out");
        let left: Vec<i64> = s.active_producers().iter().map(|p| p.producer_id).collect();
        assert_eq!(left, vec![2, 3], "the open transaction keeps producer 2");
        assert_eq!(s.expire_producers(20_000, 5_000), 1);
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn only_the_last_five_batches_are_remembered() {
        let mut s = ProducerState::default();
        for i in 0..7 {
            s.update(&id(1, 0, i, i), i64::from(i), i64::from(i));
        }
        assert!(matches!(
            s.check(&id(1, 0, 1, 1)),
            Err(SequenceError::OutOfOrder { .. })
        ));
        assert!(s.check(&id(1, 0, 2, 2)).expect("dup").is_some());
    }

    #[test]
    fn sequences_wrap_at_i32_max() {
        let mut s = ProducerState::default();
        s.update(&id(1, 0, i32::MAX - 1, i32::MAX), 0, 1);
        assert_eq!(s.check(&id(1, 0, 0, 3)), Ok(None));
    }

    use crate::protocol::records::control::{marker_batch, ControlMarker};
    use crate::protocol::records::{RecordBatchBuilder, RecordSpec};

    /// A batch of `n` records from producer `pid`, transactional or not.
    fn data(pid: i64, epoch: i16, seq: i32, n: usize, txn: bool) -> Vec<u8> {
        let mut b = RecordBatchBuilder::new(0, 1_000)
            .producer(pid, epoch, seq)
            .transactional(txn);
        for _ in 0..n {
            b = b.record(RecordSpec::new(None, Some(b"v")));
        }
        b.build()
    }

    fn marker(pid: i64, epoch: i16, commit: bool) -> Vec<u8> {
        marker_batch(
            pid,
            epoch,
            ControlMarker {
                commit,
                coordinator_epoch: 4,
            },
            2_000,
        )
    }

    fn apply(s: &mut ProducerState, bytes: &[u8], at: i64) -> Option<CompletedTxn> {
        let batch = RecordBatch::parse(bytes).expect("batch");
        s.apply(&batch, at, batch.max_timestamp())
    }

    #[test]
    fn a_transaction_opens_at_its_first_batch_and_its_marker_closes_it() {
        let mut s = ProducerState::default();
        assert_eq!(apply(&mut s, &data(1, 0, 0, 3, true), 10), None);
        assert_eq!(apply(&mut s, &data(1, 0, 3, 2, true), 13), None);
        assert_eq!(s.first_unstable_offset(), Some(10));
        assert_eq!(s.last_stable_offset(20), 10);
        let done = apply(&mut s, &marker(1, 0, false), 15);
        assert_eq!(
            done,
            Some(CompletedTxn {
                producer_id: 1,
                first_offset: 10,
                last_offset: 15,
                commit: false
            })
        );
        assert_eq!(s.first_unstable_offset(), None);
        assert_eq!(s.last_stable_offset(16), 16, "the high watermark");
        let p = s.active_producers();
        assert_eq!(p.len(), 1);
        assert_eq!(
            (
                p[0].last_sequence,
                p[0].coordinator_epoch,
                p[0].current_txn_start_offset
            ),
            (4, 4, -1)
        );
        assert_eq!(p[0].last_timestamp, 2_000);
    }

    #[test]
    fn the_lso_is_the_oldest_open_transaction_over_all_producers() {
        let mut s = ProducerState::default();
        apply(&mut s, &data(1, 0, 0, 1, false), 0);
        assert_eq!(s.first_unstable_offset(), None, "not transactional");
        apply(&mut s, &data(2, 0, 0, 1, true), 1);
        apply(&mut s, &data(3, 0, 0, 1, true), 2);
        apply(&mut s, &data(2, 0, 1, 1, true), 3);
        assert_eq!(s.last_stable_offset(4), 1);
        let done = apply(&mut s, &marker(2, 0, true), 4).expect("completed");
        assert!(done.commit);
        assert_eq!(s.last_stable_offset(5), 2, "producer 3's still open");
        let aborted = apply(&mut s, &marker(3, 0, false), 5).expect("completed");
        assert_eq!(
            s.aborted_entry(&aborted).last_stable_offset,
            6,
            "none open: the offset after the marker"
        );
        assert_eq!(s.last_stable_offset(6), 6);
    }

    #[test]
    fn a_transactional_batch_without_a_sequence_still_opens_the_transaction() {
        let mut s = ProducerState::default();
        apply(&mut s, &data(5, 2, -1, 1, true), 7);
        assert_eq!(s.first_unstable_offset(), Some(7));
        assert_eq!(s.active_producers()[0].producer_epoch, 2);
        assert_eq!(s.active_producers()[0].last_sequence, -1);
        let done = apply(&mut s, &marker(5, 2, true), 8).expect("completed");
        assert_eq!((done.first_offset, done.last_offset), (7, 8));
    }

    #[test]
    fn a_marker_with_a_newer_epoch_bumps_it_and_an_older_one_is_fenced() {
        let mut s = ProducerState::default();
        apply(&mut s, &data(1, 0, 0, 1, true), 0);
        assert_eq!(s.check_epoch(1, 0), Ok(()));
        apply(&mut s, &marker(1, 1, false), 1);
        assert!(
            s.check(&id(1, 0, 1, 1)).is_err(),
            "the old epoch's batches are fenced"
        );
        assert_eq!(
            s.check(&id(1, 1, 0, 0)),
            Ok(None),
            "not a duplicate: the old epoch's batches were forgotten"
        );
        assert!(matches!(
            s.check_epoch(1, 0),
            Err(SequenceError::FencedEpoch { current: 1, .. })
        ));
        assert_eq!(s.check_epoch(99, 0), Ok(()), "unknown producers pass");
        let done = apply(&mut s, &marker(1, 1, true), 2).expect("completed");
        assert_eq!(
            (done.first_offset, done.last_offset),
            (2, 2),
            "nothing open: the marker's own offset, as Kafka"
        );
    }

    #[test]
    fn snapshots_v2_keep_open_transactions_and_v1_files_still_load() {
        let mut s = ProducerState::default();
        apply(&mut s, &data(1, 3, 0, 2, true), 100);
        apply(&mut s, &data(2, 0, 0, 1, false), 102);
        apply(&mut s, &data(4, 0, -1, 1, true), 103);
        apply(&mut s, &marker(4, 0, false), 104);
        let bytes = s.snapshot(105);
        let (offset, loaded) = ProducerState::from_snapshot(&bytes).expect("v2");
        assert_eq!((offset, &loaded), (105, &s));
        assert_eq!(loaded.first_unstable_offset(), Some(100));
        assert_eq!(loaded.active_producers(), s.active_producers());

        // A version 1 file as the previous release wrote it: one producer, one batch.
        let mut v1 = Vec::new();
        v1.extend_from_slice(super::snapshot::MAGIC);
        v1.extend_from_slice(&1u16.to_be_bytes());
        v1.extend_from_slice(&9i64.to_be_bytes());
        v1.extend_from_slice(&1u32.to_be_bytes());
        v1.extend_from_slice(&7i64.to_be_bytes());
        v1.extend_from_slice(&2i16.to_be_bytes());
        v1.push(1);
        for v in [0i32, 4] {
            v1.extend_from_slice(&v.to_be_bytes());
        }
        for v in [0i64, 4] {
            v1.extend_from_slice(&v.to_be_bytes());
        }
        let crc = crc32c::crc32c(&v1);
        v1.extend_from_slice(&crc.to_be_bytes());
        let (offset, old) = ProducerState::from_snapshot(&v1).expect("v1");
        assert_eq!(offset, 9);
        assert_eq!(old.first_unstable_offset(), None);
        assert_eq!(
            old.check(&id(7, 2, 0, 4))
                .expect("dup")
                .map(|b| b.last_offset),
            Some(4)
        );
    }
}
