//! Model-based test of [`Log`]: random appends, reads, rolls, retention,
//! delete-records and reopens (clean and crash-like), checked after every step
//! against a plain `Vec` of the batches that should be there.

use proptest::prelude::*;

use super::log::tests::{batch, small_config, T0};
use super::{Log, LogConfig};
use crate::protocol::records::{self, RecordBatch};

#[derive(Debug, Clone)]
enum Op {
    Append {
        records: usize,
        value_len: usize,
        ts_step: i64,
    },
    Read {
        at: prop::sample::Index,
        max_bytes: usize,
    },
    Roll,
    Retention,
    DeleteRecords {
        at: prop::sample::Index,
    },
    TruncateTo {
        at: prop::sample::Index,
    },
    Reopen {
        clean: bool,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (1usize..5, 0usize..200, 0i64..100).prop_map(|(records, value_len, ts_step)| Op::Append { records, value_len, ts_step }),
        3 => (any::<prop::sample::Index>(), 0usize..3000).prop_map(|(at, max_bytes)| Op::Read { at, max_bytes }),
        1 => Just(Op::Roll),
        1 => Just(Op::Retention),
        1 => any::<prop::sample::Index>().prop_map(|at| Op::DeleteRecords { at }),
        1 => any::<prop::sample::Index>().prop_map(|at| Op::TruncateTo { at }),
        1 => any::<bool>().prop_map(|clean| Op::Reopen { clean }),
    ]
}

/// The batches the log must hold: (base offset, bytes as stored).
#[derive(Debug, Default)]
struct Model {
    batches: Vec<(i64, Vec<u8>)>,
    start: i64,
    end: i64,
}

impl Model {
    fn last_offset(bytes: &[u8]) -> i64 {
        RecordBatch::parse(bytes).unwrap().last_offset()
    }

    /// Drops batches wholly below `offset` (their segments were deleted).
    fn drop_below(&mut self, offset: i64) {
        self.batches.retain(|(_, b)| Self::last_offset(b) >= offset);
    }
}

fn check(log: &Log, model: &Model) -> Result<(), TestCaseError> {
    prop_assert_eq!(log.log_end_offset(), model.end);
    prop_assert_eq!(log.log_start_offset(), model.start);
    let first_segment = log.segment_base_offsets()[0];
    prop_assert!(first_segment <= model.start);
    for (base, bytes) in &model.batches {
        let last = Model::last_offset(bytes);
        if last < model.start {
            continue;
        }
        let from = (*base).max(model.start);
        let got = log
            .read(from, 1)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(
            &got[..],
            &bytes[..],
            "read({}) in [{}, {})",
            from,
            model.start,
            model.end
        );
    }
    prop_assert!(log.read(model.end, 100).unwrap().is_empty());
    prop_assert!(log.read(model.end + 1, 100).is_err());
    if model.start > 0 {
        prop_assert!(log.read(model.start - 1, 100).is_err());
    }
    Ok(())
}

fn config() -> LogConfig {
    LogConfig {
        segment_index_bytes: 96,
        index_interval_bytes: 100,
        retention_bytes: Some(3000),
        ..small_config()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn log_matches_a_vec_model_through_any_sequence_of_operations(ops in proptest::collection::vec(op(), 1..60)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("topic-0");
        let mut log = Some(Log::open(&path, config(), T0).unwrap());
        let mut model = Model::default();
        let mut ts = T0;
        for op in ops {
            let l = log.as_mut().unwrap();
            match op {
                Op::Append { records, value_len, ts_step } => {
                    ts += ts_step;
                    let bytes = batch(records, value_len, ts);
                    let info = l.append(&bytes, T0).unwrap();
                    prop_assert_eq!(info.base_offset, model.end);
                    let mut stored = bytes.clone();
                    records::set_base_offset(&mut stored, info.base_offset).unwrap();
                    model.batches.push((info.base_offset, stored));
                    model.end = info.last_offset + 1;
                }
                Op::Read { at, max_bytes } => {
                    if model.end > model.start {
                        let offset = model.start + at.index((model.end - model.start) as usize) as i64;
                        let got = l.read(offset, max_bytes).unwrap();
                        // Whole batches, starting with the one containing offset.
                        let i = model.batches.iter().position(|(_, b)| Model::last_offset(b) >= offset).unwrap();
                        // A read stays inside one segment.
                        let segment_end = l.segment_base_offsets().into_iter().find(|&b| b > model.batches[i].0).unwrap_or(i64::MAX);
                        let mut expected = model.batches[i].1.clone();
                        for (base, b) in &model.batches[i + 1..] {
                            if *base >= segment_end || expected.len() + b.len() > max_bytes {
                                break;
                            }
                            expected.extend_from_slice(b);
                        }
                        prop_assert_eq!(&got[..], &expected[..]);
                        prop_assert!(got.len() <= max_bytes.max(model.batches[i].1.len()));
                    }
                }
                Op::Roll => l.roll(T0).unwrap(),
                Op::Retention => {
                    let before = l.segment_base_offsets();
                    let removed = l.apply_retention(T0).unwrap();
                    let after = l.segment_base_offsets();
                    prop_assert_eq!(&before[removed.len()..], &after[..], "only the oldest segments go");
                    prop_assert!(!after.is_empty());
                    if after.len() > 1 {
                        // Kafka's rule: the oldest segment stays if removing it would go below the limit.
                        let oldest = std::fs::metadata(path.join(format!("{:020}.log", after[0]))).unwrap().len();
                        prop_assert!((l.size_bytes() as i64) - 3000 < oldest as i64);
                    }
                    super::delete_segments(&removed).unwrap();
                    model.start = model.start.max(after[0]);
                    model.drop_below(after[0]);
                }
                Op::DeleteRecords { at } => {
                    let offset = model.start + at.index((model.end - model.start + 1) as usize) as i64;
                    let removed = l.delete_records(offset).unwrap();
                    super::delete_segments(&removed).unwrap();
                    model.start = model.start.max(offset);
                    model.drop_below(l.segment_base_offsets()[0]);
                }
                Op::TruncateTo { at } => {
                    let offset = model.start + at.index((model.end - model.start + 1) as usize) as i64;
                    let removed = l.truncate_to(offset, T0).unwrap();
                    super::delete_segments(&removed).unwrap();
                    if offset < model.end {
                        let i = model.batches.iter().position(|(_, b)| Model::last_offset(b) >= offset).unwrap();
                        let new_end = model.batches[i].0;
                        model.batches.truncate(i);
                        model.end = new_end;
                        model.start = model.start.min(new_end);
                    }
                }
                Op::Reopen { clean } => {
                    let l = log.take().unwrap();
                    if clean {
                        l.close().unwrap();
                    } else {
                        drop(l);
                    }
                    let reopened = Log::open(&path, config(), T0).unwrap();
                    prop_assert_eq!(reopened.open_stats().recovered, !clean);
                    if clean {
                        prop_assert_eq!(reopened.open_stats().scanned_bytes, 0);
                    } else {
                        // Without the marker the start offset falls back to the first segment.
                        model.start = reopened.segment_base_offsets()[0];
                    }
                    log = Some(reopened);
                }
            }
            check(log.as_ref().unwrap(), &model)?;
        }
    }
}
