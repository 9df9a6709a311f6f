//! Records inside an uncompressed batch and the zigzag varints they are made of.
//!
//! ```text
//! Record =>
//!   length          varint   bytes after this field
//!   attributes      int8     unused, 0
//!   timestampDelta  varlong  timestamp - batch baseTimestamp
//!   offsetDelta     varint   offset - batch baseOffset
//!   keyLength       varint   -1 for a null key
//!   key             bytes
//!   valueLength     varint   -1 for a null value
//!   value           bytes
//!   headerCount     varint
//!   Header =>
//!     headerKeyLength    varint   (never null)
//!     headerKey          UTF-8
//!     headerValueLength  varint   -1 for a null value
//!     value              bytes
//! ```

use super::RecordsError;
use crate::protocol::codec;

/// One record header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header<'a> {
    pub key: &'a str,
    pub value: Option<&'a [u8]>,
}

/// One record, borrowing its key, value and headers from the batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record<'a> {
    pub attributes: i8,
    pub timestamp_delta: i64,
    pub offset_delta: i32,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    pub headers: Vec<Header<'a>>,
}

/// Iterates over the records of an uncompressed batch. Yields an error (once, then
/// stops) for a malformed record, for fewer records than declared, and for bytes left
/// over after the declared count.
#[derive(Debug, Clone)]
pub struct RecordIter<'a> {
    buf: &'a [u8],
    remaining: usize,
    index: usize,
    failed: bool,
}

impl<'a> RecordIter<'a> {
    pub(super) fn new(buf: &'a [u8], count: usize) -> Self {
        Self {
            buf,
            remaining: count,
            index: 0,
            failed: false,
        }
    }
}

impl<'a> Iterator for RecordIter<'a> {
    type Item = Result<Record<'a>, RecordsError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        if self.remaining == 0 {
            if self.buf.is_empty() {
                return None;
            }
            self.failed = true;
            return Some(Err(RecordsError::TrailingBytes(self.buf.len())));
        }
        let index = self.index;
        let result = decode_record(&mut self.buf)
            .map_err(|reason| RecordsError::InvalidRecord { index, reason });
        self.index += 1;
        self.remaining -= 1;
        if result.is_err() {
            self.failed = true;
        }
        Some(result)
    }
}

type Reason = &'static str;

fn decode_record<'a>(buf: &mut &'a [u8]) -> Result<Record<'a>, Reason> {
    let length = read_varint(buf)?;
    let length = usize::try_from(length).map_err(|_| "negative record length")?;
    if length > buf.len() {
        return Err("record length exceeds the batch");
    }
    let (mut body, rest) = buf.split_at(length);
    *buf = rest;
    let body = &mut body;
    let attributes = take(body, 1)?[0] as i8;
    let timestamp_delta = read_varlong(body)?;
    let offset_delta = read_varint(body)?;
    let key = read_nullable_bytes(body)?;
    let value = read_nullable_bytes(body)?;
    let header_count = read_varint(body)?;
    let header_count = usize::try_from(header_count).map_err(|_| "negative header count")?;
    // Each header takes at least two bytes, so this bounds the allocation by the input.
    if header_count > body.len() / 2 {
        return Err("header count exceeds the record");
    }
    let mut headers = Vec::with_capacity(header_count);
    for _ in 0..header_count {
        let key = read_nullable_bytes(body)?.ok_or("null header key")?;
        let key = std::str::from_utf8(key).map_err(|_| "header key is not UTF-8")?;
        let value = read_nullable_bytes(body)?;
        headers.push(Header { key, value });
    }
    if !body.is_empty() {
        return Err("record length larger than its fields");
    }
    Ok(Record {
        attributes,
        timestamp_delta,
        offset_delta,
        key,
        value,
        headers,
    })
}

fn take<'a>(buf: &mut &'a [u8], n: usize) -> Result<&'a [u8], Reason> {
    if n > buf.len() {
        return Err("field runs past the end of the record");
    }
    let (head, rest) = buf.split_at(n);
    *buf = rest;
    Ok(head)
}

fn read_nullable_bytes<'a>(buf: &mut &'a [u8]) -> Result<Option<&'a [u8]>, Reason> {
    let len = read_varint(buf)?;
    if len < 0 {
        return Ok(None);
    }
    take(buf, len as usize).map(Some)
}

/// Reads a zigzag varint of at most 5 bytes (the codec's, on a slice).
pub(super) fn read_varint(buf: &mut &[u8]) -> Result<i32, Reason> {
    let (value, n) = codec::read_varint_slice(buf).map_err(|_| "malformed varint")?;
    *buf = &buf[n..];
    Ok(value)
}

/// Reads a zigzag varlong of at most 10 bytes.
pub(super) fn read_varlong(buf: &mut &[u8]) -> Result<i64, Reason> {
    let (value, n) = codec::read_varlong_slice(buf).map_err(|_| "malformed varlong")?;
    *buf = &buf[n..];
    Ok(value)
}

/// Appends a zigzag varint.
pub(super) fn write_varint(out: &mut Vec<u8>, value: i32) {
    codec::write_varint(out, value);
}

/// Appends a zigzag varlong.
pub(super) fn write_varlong(out: &mut Vec<u8>, value: i64) {
    codec::write_varlong(out, value);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_at_their_limits() {
        for v in [0, 1, -1, 63, -64, 64, 300, i32::MAX, i32::MIN] {
            let mut out = Vec::new();
            write_varint(&mut out, v);
            assert!(out.len() <= 5);
            assert_eq!(read_varint(&mut out.as_slice()), Ok(v));
        }
        for v in [0, -1, 1 << 40, i64::MAX, i64::MIN] {
            let mut out = Vec::new();
            write_varlong(&mut out, v);
            assert!(out.len() <= 10);
            assert_eq!(read_varlong(&mut out.as_slice()), Ok(v));
        }
    }

    #[test]
    fn overlong_and_truncated_varints_are_errors() {
        assert!(read_varint(&mut [0xffu8; 6].as_slice()).is_err());
        assert!(read_varint(&mut [0xff, 0xff, 0xff, 0xff, 0x7f].as_slice()).is_err());
        assert!(read_varlong(&mut [0xffu8; 11].as_slice()).is_err());
        assert!(read_varint(&mut [0x80u8].as_slice()).is_err());
    }

    #[test]
    fn record_with_huge_declared_lengths_is_rejected_without_allocating() {
        let mut body = Vec::new();
        body.push(0); // attributes
        write_varlong(&mut body, 0);
        write_varint(&mut body, 0);
        write_varint(&mut body, -1);
        write_varint(&mut body, -1);
        write_varint(&mut body, i32::MAX); // header count
        let mut rec = Vec::new();
        write_varint(&mut rec, body.len() as i32);
        rec.extend_from_slice(&body);
        let mut it = RecordIter::new(&rec, 1);
        assert!(matches!(
            it.next(),
            Some(Err(RecordsError::InvalidRecord { .. }))
        ));
        assert!(it.next().is_none());
    }

    #[test]
    fn fewer_records_than_declared_is_an_error() {
        let mut it = RecordIter::new(&[], 1);
        assert!(matches!(it.next(), Some(Err(_))));
    }
}
