//! A test log of any size in little disk: every partition's first segment is filled with
//! record batches (Kafka's v2 format) of one record each, `BATCH` bytes apiece, whose
//! values are zeros left as holes in a sparse file. Only each batch's header is
//! written, so 100 GB takes about 400 MB of disk; a broker opening the log reads the
//! holes as zeros, which is what the batches' CRCs were computed over.
//!
//! The partition directories must exist (the broker made the topic); their segment
//! files are replaced and their indexes, clean-shutdown marker and recovery point
//! removed, so the next start recovers every log and rebuilds its indexes.

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};

/// Bytes per batch, header included.
const BATCH: u64 = 1 << 20;
/// The batch header up to the records: base offset .. record count.
const HEADER: usize = 61;
/// Where the CRC-covered part of a batch begins (the attributes).
const CRC_FROM: usize = 21;

/// Fills partitions `0..partitions` of `topic` under `data` with `bytes` in all.
pub fn fill(data: &Path, topic: &str, partitions: i32, bytes: u64) -> anyhow::Result<()> {
    if partitions <= 0 {
        bail!("no partitions to fill");
    }
    let per_partition = bytes / partitions as u64;
    let batches = per_partition.div_ceil(BATCH).max(1);
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)?
        .as_millis()
        .try_into()?;
    let template = Batch::new(now_ms);
    for p in 0..partitions {
        let dir = data.join(format!("{topic}-{p}"));
        if !dir.is_dir() {
            bail!("{} is not a partition directory", dir.display());
        }
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
        }
        let path = dir.join(format!("{:020}.log", 0));
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(&path)
            .with_context(|| format!("creating {}", path.display()))?;
        file.set_len(batches * BATCH)?;
        for offset in 0..batches {
            file.write_all_at(&template.header(offset as i64), offset * BATCH)
                .with_context(|| format!("writing {}", path.display()))?;
        }
        file.sync_all()?;
    }
    Ok(())
}

/// One batch's bytes before its zeros; only the base offset differs between batches,
/// and it is outside the CRC.
struct Batch {
    head: Vec<u8>,
}

impl Batch {
    fn new(timestamp_ms: i64) -> Self {
        let value_len = value_len(BATCH as usize);
        // The record: attributes, timestamp delta, offset delta, key length -1, value
        // length, the value (zeros), no headers.
        let mut record = vec![0u8, 0, 0];
        put_varint(&mut record, -1);
        put_varint(&mut record, value_len as i64);
        let body_len = record.len() + value_len + 1;
        let mut head = Vec::with_capacity(HEADER + 16);
        head.extend_from_slice(&0i64.to_be_bytes()); // base offset
                                                     // A constant well inside i32.
        head.extend_from_slice(&((BATCH - 12) as i32).to_be_bytes());
        head.extend_from_slice(&0i32.to_be_bytes()); // partition leader epoch
        head.push(2); // magic
        head.extend_from_slice(&0u32.to_be_bytes()); // crc, below
        head.extend_from_slice(&0i16.to_be_bytes()); // attributes
        head.extend_from_slice(&0i32.to_be_bytes()); // last offset delta
        head.extend_from_slice(&timestamp_ms.to_be_bytes()); // base timestamp
        head.extend_from_slice(&timestamp_ms.to_be_bytes()); // max timestamp
        head.extend_from_slice(&(-1i64).to_be_bytes()); // producer id
        head.extend_from_slice(&(-1i16).to_be_bytes()); // producer epoch
        head.extend_from_slice(&(-1i32).to_be_bytes()); // base sequence
        head.extend_from_slice(&1i32.to_be_bytes()); // records
        debug_assert_eq!(head.len(), HEADER);
        put_varint(&mut head, body_len as i64);
        head.extend_from_slice(&record);
        // The value's zeros and the header count (0) follow: all zeros.
        let tail = BATCH as usize - head.len();
        let mut crc = crc32c::crc32c(&head[CRC_FROM..]);
        let zeros = vec![0u8; 1 << 16];
        let mut left = tail;
        while left > 0 {
            let n = left.min(zeros.len());
            crc = crc32c::crc32c_append(crc, &zeros[..n]);
            left -= n;
        }
        head[17..21].copy_from_slice(&crc.to_be_bytes());
        Self { head }
    }

    fn header(&self, base_offset: i64) -> Vec<u8> {
        let mut head = self.head.clone();
        head[..8].copy_from_slice(&base_offset.to_be_bytes());
        head
    }
}

/// The value length that makes a one-record batch exactly `batch` bytes.
fn value_len(batch: usize) -> usize {
    let varint_len = |v: usize| {
        let mut probe = Vec::new();
        put_varint(&mut probe, v as i64);
        probe.len()
    };
    // attributes, timestamp delta, offset delta, key length -1; the header count.
    let body = |value: usize| 4 + varint_len(value) + value + 1;
    let total = |value: usize| HEADER + varint_len(body(value)) + body(value);
    let mut value = batch - HEADER - 4 - 1;
    while total(value) > batch {
        value -= 1;
    }
    value
}

/// Kafka's zig-zag varint.
fn put_varint(out: &mut Vec<u8>, value: i64) {
    let mut v = ((value << 1) ^ (value >> 63)) as u64;
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_is_exactly_its_length_and_its_crc_covers_the_zeros() {
        let batch = Batch::new(1_700_000_000_000);
        let mut bytes = batch.header(7);
        bytes.resize(BATCH as usize, 0);
        assert_eq!(i64::from_be_bytes(bytes[..8].try_into().unwrap()), 7);
        let length = i32::from_be_bytes(bytes[8..12].try_into().unwrap());
        assert_eq!(length as u64 + 12, BATCH);
        let crc = u32::from_be_bytes(bytes[17..21].try_into().unwrap());
        assert_eq!(crc, crc32c::crc32c(&bytes[CRC_FROM..]));
        // The record's length prefix spans exactly to the end of the batch.
        let (len, used) = varint(&bytes[HEADER..]);
        assert_eq!(HEADER + used + len as usize, BATCH as usize);
    }

    fn varint(b: &[u8]) -> (i64, usize) {
        let (mut v, mut shift, mut i) = (0u64, 0, 0);
        loop {
            v |= u64::from(b[i] & 0x7f) << shift;
            i += 1;
            if b[i - 1] & 0x80 == 0 {
                return (((v >> 1) as i64) ^ -((v & 1) as i64), i);
            }
            shift += 7;
        }
    }
}
