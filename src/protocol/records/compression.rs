//! The records section of compressed batches: decompression (to read keys) and
//! compression (to write retained records back with the batch's own codec).
//!
//! Only the log cleaner and the produce check of compacted topics decode compressed
//! records; the produce and fetch paths pass compressed batches through untouched.
//!
//! The codecs as Kafka frames them:
//!
//! - gzip: a gzip stream (RFC 1952).
//! - snappy: snappy-java's `SnappyOutputStream` framing (Kafka's Java producer): the
//!   8-byte magic `\x82SNAPPY\0`, version and compatible-version int32s, then blocks of
//!   `int32 compressed length` + a raw snappy block. librdkafka may also send one raw
//!   snappy block without framing; both are read, the framed form is written.
//! - lz4: the standard LZ4 frame format (magic `0x184D2204`), as Kafka's
//!   `KafkaLZ4BlockOutputStream` writes it for magic 2 (independent blocks, no content
//!   checksum).
//! - zstd: a standard zstd frame.
//!
//! Decompression is bounded: a records section that inflates past `max_bytes` is an
//! error, never an allocation of that size.

use std::borrow::Cow;
use std::io::{Read, Write};

use super::batch::{write_crc, Compression, RecordBatch};
use super::record::RecordIter;
use super::{
    RecordsError, ATTRIBUTES_OFFSET, BATCH_LENGTH_OFFSET, COMPRESSION_CODEC_MASK, LOG_OVERHEAD,
    RECORDS_OFFSET,
};

/// snappy-java's stream header magic.
const SNAPPY_JAVA_MAGIC: &[u8; 8] = b"\x82SNAPPY\0";
/// snappy-java's block size (32 KiB).
const SNAPPY_JAVA_BLOCK: usize = 32 * 1024;

fn codec_error(codec: Compression, reason: impl ToString) -> RecordsError {
    RecordsError::Codec {
        codec,
        reason: reason.to_string(),
    }
}

/// Reads all of `reader` up to `max_bytes`; more is an error.
fn read_bounded(
    codec: Compression,
    reader: impl Read,
    max_bytes: usize,
) -> Result<Vec<u8>, RecordsError> {
    let mut out = Vec::new();
    reader
        .take(max_bytes as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| codec_error(codec, e))?;
    if out.len() > max_bytes {
        return Err(codec_error(
            codec,
            format!("records inflate past {max_bytes} bytes"),
        ));
    }
    Ok(out)
}

fn snappy_raw(data: &[u8], max_bytes: usize) -> Result<Vec<u8>, RecordsError> {
    let codec = Compression::Snappy;
    let len = snap::raw::decompress_len(data).map_err(|e| codec_error(codec, e))?;
    if len > max_bytes {
        return Err(codec_error(
            codec,
            format!("records inflate past {max_bytes} bytes"),
        ));
    }
    snap::raw::Decoder::new()
        .decompress_vec(data)
        .map_err(|e| codec_error(codec, e))
}

fn snappy_decompress(data: &[u8], max_bytes: usize) -> Result<Vec<u8>, RecordsError> {
    let codec = Compression::Snappy;
    let Some(mut rest) = data
        .strip_prefix(SNAPPY_JAVA_MAGIC)
        .and_then(|r| r.get(8..))
    else {
        return snappy_raw(data, max_bytes);
    };
    let mut out = Vec::new();
    while !rest.is_empty() {
        let (len, tail) = rest
            .split_first_chunk::<4>()
            .ok_or_else(|| codec_error(codec, "truncated block length"))?;
        let len = usize::try_from(i32::from_be_bytes(*len))
            .map_err(|_| codec_error(codec, "negative block length"))?;
        let block = tail
            .get(..len)
            .ok_or_else(|| codec_error(codec, "block length exceeds the records"))?;
        out.extend(snappy_raw(block, max_bytes - out.len())?);
        rest = &tail[len..];
    }
    Ok(out)
}

/// Decompresses a records section compressed with `codec`.
pub fn decompress(
    codec: Compression,
    data: &[u8],
    max_bytes: usize,
) -> Result<Vec<u8>, RecordsError> {
    match codec {
        Compression::None => Ok(data.to_vec()),
        Compression::Gzip => {
            read_bounded(codec, flate2::read::MultiGzDecoder::new(data), max_bytes)
        }
        Compression::Snappy => snappy_decompress(data, max_bytes),
        Compression::Lz4 => {
            read_bounded(codec, lz4_flex::frame::FrameDecoder::new(data), max_bytes)
        }
        Compression::Zstd => {
            let decoder =
                zstd::stream::read::Decoder::new(data).map_err(|e| codec_error(codec, e))?;
            read_bounded(codec, decoder, max_bytes)
        }
    }
}

/// Compresses a records section with `codec`.
pub fn compress(codec: Compression, data: &[u8]) -> Result<Vec<u8>, RecordsError> {
    compress_at_level(codec, data, None)
}

/// Compresses a records section with `codec` at `level` (gzip 1-9, zstd up to 22;
/// `None` or an out-of-range level is the codec's default; snappy and lz4 have none).
pub fn compress_at_level(
    codec: Compression,
    data: &[u8],
    level: Option<i32>,
) -> Result<Vec<u8>, RecordsError> {
    let io = |e: std::io::Error| codec_error(codec, e);
    match codec {
        Compression::None => Ok(data.to_vec()),
        Compression::Gzip => {
            let level = level
                .and_then(|l| u32::try_from(l).ok())
                .filter(|l| (1..=9).contains(l))
                .map_or_else(flate2::Compression::default, flate2::Compression::new);
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), level);
            enc.write_all(data).map_err(io)?;
            enc.finish().map_err(io)
        }
        Compression::Snappy => {
            let mut out = SNAPPY_JAVA_MAGIC.to_vec();
            out.extend_from_slice(&1i32.to_be_bytes());
            out.extend_from_slice(&1i32.to_be_bytes());
            let mut encoder = snap::raw::Encoder::new();
            for chunk in data.chunks(SNAPPY_JAVA_BLOCK) {
                let block = encoder
                    .compress_vec(chunk)
                    .map_err(|e| codec_error(codec, e))?;
                out.extend_from_slice(&(block.len() as i32).to_be_bytes());
                out.extend_from_slice(&block);
            }
            Ok(out)
        }
        Compression::Lz4 => {
            let mut enc = lz4_flex::frame::FrameEncoder::new(Vec::new());
            enc.write_all(data).map_err(io)?;
            enc.finish().map_err(|e| codec_error(codec, e))
        }
        Compression::Zstd => zstd::stream::encode_all(data, level.unwrap_or(3)).map_err(io),
    }
}

/// Re-encodes a batch's records with `codec`, as a broker whose `compression.type`
/// differs from the producer's does: every header field is kept but the codec bits,
/// the length and the CRC. The records are decompressed up to `max_bytes`.
pub fn recompress_batch(
    batch: &RecordBatch<'_>,
    codec: Compression,
    level: Option<i32>,
    max_bytes: usize,
) -> Result<Vec<u8>, RecordsError> {
    let records = batch.decompressed_records(max_bytes)?;
    let compressed = compress_at_level(codec, &records, level)?;
    let mut out = Vec::with_capacity(RECORDS_OFFSET + compressed.len());
    out.extend_from_slice(&batch.bytes()[..RECORDS_OFFSET]);
    out.extend_from_slice(&compressed);
    let length = i32::try_from(out.len() - LOG_OVERHEAD)
        .map_err(|_| RecordsError::InvalidHeader("batch too large"))?;
    out[BATCH_LENGTH_OFFSET..BATCH_LENGTH_OFFSET + 4].copy_from_slice(&length.to_be_bytes());
    let attributes = (batch.attributes() & !COMPRESSION_CODEC_MASK) | i16::from(codec.id());
    out[ATTRIBUTES_OFFSET..ATTRIBUTES_OFFSET + 2].copy_from_slice(&attributes.to_be_bytes());
    write_crc(&mut out)?;
    Ok(out)
}

impl<'a> RecordBatch<'a> {
    /// The records section, decompressed if needed (borrowed when uncompressed).
    pub fn decompressed_records(&self, max_bytes: usize) -> Result<Cow<'a, [u8]>, RecordsError> {
        match self.compression()? {
            Compression::None => Ok(Cow::Borrowed(self.records_bytes())),
            codec => decompress(codec, self.records_bytes(), max_bytes).map(Cow::Owned),
        }
    }
}

/// The most bytes the broker lets a produced or stored batch's records take once it
/// decompresses them on request: the key check of a compacted topic, a re-encoding to
/// the topic's `compression.type`, a record timestamp lookup.
pub const MAX_DECOMPRESSED_BATCH: usize = 64 * 1024 * 1024;

/// The message Kafka refuses a keyless record of a compacted topic with.
pub const KEYLESS_RECORD: &str = "Compacted topic cannot accept message without key.";

impl RecordBatch<'_> {
    /// Kafka's check for compacted topics: whether every record has a key. A compressed
    /// batch is decompressed for it, up to `max_bytes`.
    pub fn every_record_has_a_key(&self, max_bytes: usize) -> Result<bool, RecordsError> {
        let section = self.decompressed_records(max_bytes)?;
        for record in records_of(&section, self.record_count())? {
            if record?.key.is_none() {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// The records of a (decompressed) records section holding `count` records.
pub fn records_of(section: &[u8], count: i32) -> Result<RecordIter<'_>, RecordsError> {
    let count =
        usize::try_from(count).map_err(|_| RecordsError::InvalidHeader("negative recordCount"))?;
    Ok(RecordIter::new(section, count))
}

/// Turns an uncompressed batch (as [`super::RecordBatchBuilder`] writes it) into one
/// whose records section is compressed with `codec`: attributes, length and CRC fixed.
pub fn compress_batch(batch: &[u8], codec: Compression) -> Result<Vec<u8>, RecordsError> {
    if codec == Compression::None {
        return Ok(batch.to_vec());
    }
    recompress_batch(&RecordBatch::parse(batch)?, codec, None, usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::records::{RecordBatchBuilder, RecordSpec};

    #[test]
    fn recompressing_keeps_every_record_and_header_field_under_a_new_codec() {
        let plain = RecordBatchBuilder::new(7, 1000)
            .producer(42, 3, 17)
            .transactional(true)
            .record(RecordSpec::new(Some(b"k1"), Some(b"v1")).header("h", Some(b"x")))
            .record(RecordSpec::new(Some(b"k2"), None).timestamp(1500))
            .build();
        let gz = compress_batch(&plain, Compression::Gzip).unwrap();
        for (codec, level) in [
            (Compression::Zstd, Some(19)),
            (Compression::Lz4, None),
            (Compression::Snappy, None),
            (Compression::Gzip, Some(1)),
            (Compression::None, None),
        ] {
            let source = RecordBatch::parse(&gz).unwrap();
            let out = recompress_batch(&source, codec, level, 1 << 20).unwrap();
            let b = RecordBatch::parse(&out).unwrap();
            b.verify_crc().unwrap();
            assert_eq!(b.compression().unwrap(), codec);
            assert!(b.is_transactional());
            assert_eq!(
                (b.producer_id(), b.producer_epoch(), b.base_sequence()),
                (42, 3, 17)
            );
            assert_eq!((b.max_timestamp(), b.record_count()), (1500, 2));
            let section = b.decompressed_records(1 << 20).unwrap();
            let records: Vec<_> = records_of(&section, 2)
                .unwrap()
                .map(Result::unwrap)
                .collect();
            assert_eq!(records[0].key, Some(&b"k1"[..]));
            assert_eq!(records[0].headers[0].value, Some(&b"x"[..]));
            assert_eq!(records[1].value, None);
        }
    }

    const CODECS: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    fn sample() -> Vec<u8> {
        let mut b = RecordBatchBuilder::new(7, 1_700_000_000_000);
        for i in 0..500 {
            let key = format!("key-{}", i % 13);
            let value = vec![(i % 7) as u8; 100 + i % 50];
            b = b.record(RecordSpec::new(Some(key.as_bytes()), Some(&value)));
        }
        b.build()
    }

    #[test]
    fn every_codec_round_trips_a_batch_and_its_records() {
        let plain = sample();
        let expected: Vec<_> = RecordBatch::parse(&plain)
            .unwrap()
            .records()
            .unwrap()
            .map(|r| r.unwrap().key.map(<[u8]>::to_vec))
            .collect();
        for codec in CODECS {
            let packed = compress_batch(&plain, codec).unwrap();
            let view = RecordBatch::parse(&packed).unwrap();
            view.verify_crc().unwrap();
            assert_eq!(view.compression().unwrap(), codec);
            if codec != Compression::None {
                assert!(packed.len() < plain.len() / 2, "{codec:?} compresses");
            }
            let section = view.decompressed_records(1 << 20).unwrap();
            let keys: Vec<_> = records_of(&section, view.record_count())
                .unwrap()
                .map(|r| r.unwrap().key.map(<[u8]>::to_vec))
                .collect();
            assert_eq!(keys, expected, "{codec:?}");
        }
    }

    #[test]
    fn decompression_is_bounded_and_garbage_is_an_error() {
        let plain = sample();
        for codec in &CODECS[1..] {
            let packed = compress_batch(&plain, *codec).unwrap();
            let view = RecordBatch::parse(&packed).unwrap();
            assert!(matches!(
                view.decompressed_records(100),
                Err(RecordsError::Codec { .. })
            ));
            assert!(decompress(*codec, b"\x01\x02\x03garbage", 1 << 20).is_err());
        }
    }

    #[test]
    fn raw_snappy_without_java_framing_is_read() {
        let data = b"hello hello hello hello".repeat(10);
        let raw = snap::raw::Encoder::new().compress_vec(&data).unwrap();
        assert_eq!(
            decompress(Compression::Snappy, &raw, 1 << 20).unwrap(),
            data
        );
    }

    #[test]
    fn lz4_frame_as_kafka_writes_it_is_read() {
        // KafkaLZ4BlockOutputStream for magic 2: FLG = version 01, block independence;
        // BD = 64 KiB blocks; header checksum; one uncompressed block (high bit set);
        // end mark. Built by hand to check the framing, not lz4_flex's own encoder.
        let payload = b"kafka lz4 frame";
        let mut frame = vec![0x04, 0x22, 0x4D, 0x18, 0x60, 0x40];
        let hc = (xxhash32(&frame[4..6]) >> 8) as u8;
        frame.push(hc);
        frame.extend_from_slice(&(payload.len() as u32 | 0x8000_0000).to_le_bytes());
        frame.extend_from_slice(payload);
        frame.extend_from_slice(&0u32.to_le_bytes());
        assert_eq!(
            decompress(Compression::Lz4, &frame, 1 << 20).unwrap(),
            payload
        );
    }

    /// XXH32 with seed 0 of a short input (< 16 bytes), for the LZ4 header checksum.
    fn xxhash32(input: &[u8]) -> u32 {
        const P1: u32 = 2_654_435_761;
        const P2: u32 = 2_246_822_519;
        const P3: u32 = 3_266_489_917;
        const P4: u32 = 668_265_263;
        const P5: u32 = 374_761_393;
        let mut h = P5.wrapping_add(input.len() as u32);
        let mut chunks = input.chunks_exact(4);
        for c in &mut chunks {
            let v = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            h = h
                .wrapping_add(v.wrapping_mul(P3))
                .rotate_left(17)
                .wrapping_mul(P4);
        }
        for &b in chunks.remainder() {
            h = h
                .wrapping_add(u32::from(b).wrapping_mul(P5))
                .rotate_left(11)
                .wrapping_mul(P1);
        }
        h ^= h >> 15;
        h = h.wrapping_mul(P2);
        h ^= h >> 13;
        h = h.wrapping_mul(P3);
        h ^= h >> 16;
        h
    }
}
