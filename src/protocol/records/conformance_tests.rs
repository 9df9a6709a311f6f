//! Conformance against RecordBatch bytes written by Apache Kafka's own writers
//! (`/work/shared/kafka-wire-vectors/records/vectors.json`, i.e. `../shared` from the
//! crate root). Skips, and says so, when the file is absent, unless
//! `AEON_REQUIRE_SHARED=1`.

use super::*;
use std::path::PathBuf;

fn decode_hex(s: &str) -> Vec<u8> {
    assert!(s.len() % 2 == 0, "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit"))
        .collect()
}

fn vectors_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/kafka-wire-vectors/records/vectors.json")
}

/// Re-encodes a parsed uncompressed batch with the builder, from its fields and records.
fn rebuild(batch: &RecordBatch<'_>) -> Vec<u8> {
    let mut b = RecordBatchBuilder::new(batch.base_offset(), 0)
        .partition_leader_epoch(batch.partition_leader_epoch())
        .producer(
            batch.producer_id(),
            batch.producer_epoch(),
            batch.base_sequence(),
        )
        .transactional(batch.is_transactional())
        .control(batch.is_control());
    if batch.timestamp_type() == TimestampType::LogAppendTime {
        b = b.log_append_time(batch.max_timestamp());
    }
    if batch.has_delete_horizon() {
        b = b.delete_horizon(batch.base_timestamp());
    }
    if batch.record_count() == 0 {
        // Kafka's writeEmptyHeader: no records, so the header fields stand alone.
        b = b
            .last_offset_delta(batch.last_offset_delta())
            .base_timestamp(batch.base_timestamp())
            .max_timestamp(batch.max_timestamp());
    }
    for r in batch.records().expect("uncompressed") {
        let r = r.expect("record decodes");
        let mut spec = RecordSpec::new(r.key, r.value)
            .timestamp(batch.base_timestamp() + r.timestamp_delta)
            .offset_delta(r.offset_delta);
        for h in &r.headers {
            spec = spec.header(h.key, h.value);
        }
        b = b.record(spec);
    }
    b.build()
}

#[test]
fn kafka_authored_batches_parse_verify_decode_and_rebuild_identically() {
    let path = vectors_path();
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            if std::env::var("AEON_REQUIRE_SHARED").as_deref() == Ok("1") {
                panic!(
                    "AEON_REQUIRE_SHARED=1 but {} is unreadable: {e}",
                    path.display()
                );
            }
            println!("skipped: {} not found ({e})", path.display());
            return;
        }
    };
    let doc: serde_json::Value = serde_json::from_str(&text).expect("vectors.json is JSON");
    let vectors = doc["vectors"].as_array().expect("a vectors array");
    let (mut checked, mut decoded, mut rebuilt) = (0, 0, 0);
    for v in vectors {
        let name = v["name"].as_str().expect("name");
        let bytes = decode_hex(v["hex"].as_str().expect("hex"));
        let batch = RecordBatch::parse(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(batch.total_size(), bytes.len(), "{name}: total size");
        assert_eq!(batch.magic(), MAGIC_V2, "{name}");
        batch.verify_crc().unwrap_or_else(|e| panic!("{name}: {e}"));
        batch
            .validate_header()
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            batch.last_offset(),
            batch.base_offset() + i64::from(batch.last_offset_delta())
        );
        let mut iter = BatchIter::new(&bytes);
        assert_eq!(iter.by_ref().count(), 1, "{name}: one batch");
        assert_eq!(iter.valid_bytes(), bytes.len());
        checked += 1;

        match batch
            .compression()
            .unwrap_or_else(|e| panic!("{name}: {e}"))
        {
            Compression::None => {}
            other => {
                assert_eq!(
                    batch.records().unwrap_err(),
                    RecordsError::Compressed(other)
                );
                continue;
            }
        }
        let records: Vec<_> = batch
            .records()
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            records.len() as i32,
            batch.record_count(),
            "{name}: record count"
        );
        if let Some(last) = records.last() {
            assert_eq!(
                last.offset_delta,
                batch.last_offset_delta(),
                "{name}: last offset delta"
            );
            if batch.timestamp_type() == TimestampType::CreateTime {
                let max = records
                    .iter()
                    .map(|r| batch.base_timestamp() + r.timestamp_delta)
                    .max();
                assert_eq!(max, Some(batch.max_timestamp()), "{name}: max timestamp");
            }
        }
        decoded += 1;

        let again = rebuild(&batch);
        assert_eq!(again, bytes, "{name}: builder bytes differ from Kafka's");
        rebuilt += 1;

        // The broker's rewrites keep a Kafka batch valid.
        let mut copy = bytes.clone();
        set_base_offset(&mut copy, 1000).unwrap();
        set_log_append_time(&mut copy, 1_800_000_000_000).unwrap();
        let stamped = RecordBatch::parse(&copy).unwrap();
        stamped.verify_crc().unwrap();
        assert_eq!(stamped.timestamp_type(), TimestampType::LogAppendTime);
        assert_eq!(stamped.is_control(), batch.is_control());
        assert_eq!(stamped.is_transactional(), batch.is_transactional());
        assert_eq!(stamped.has_delete_horizon(), batch.has_delete_horizon());
    }
    println!(
        "records conformance: {checked} Kafka vectors checked, {decoded} decoded, {rebuilt} rebuilt byte-identical"
    );
    assert!(checked > 0, "no vectors in {}", path.display());
}
