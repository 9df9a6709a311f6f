//! Tagged fields (KIP-482): the ones a struct does not know are kept as raw bytes and
//! written back in tag order among the known ones.

use super::fields::{check_count, take};
use super::varint::{read_uvarint, uvarint_size, write_uvarint};
use super::{DecodeError, WireWrite};
use bytes::Bytes;

/// A tagged field that the decoding version does not know. Kafka keeps these and writes
/// them back, merged in tag order with the known ones; so does Aeon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawTaggedField {
    pub tag: u32,
    pub data: Bytes,
}

pub fn write_raw_tagged<W: WireWrite + ?Sized>(w: &mut W, raw: &RawTaggedField) {
    write_uvarint(w, raw.tag);
    write_uvarint(w, raw.data.len() as u32);
    w.put_shared(&raw.data);
}

pub fn raw_tagged_size(raw: &RawTaggedField) -> usize {
    uvarint_size(raw.tag) + uvarint_size(raw.data.len() as u32) + raw.data.len()
}

/// Writes the kept fields from `next` on whose tag is below `tag`; returns the new `next`.
pub fn write_raw_tagged_before<W: WireWrite + ?Sized>(
    w: &mut W,
    raw: &[RawTaggedField],
    mut next: usize,
    tag: u32,
) -> usize {
    while let Some(r) = raw.get(next).filter(|r| r.tag < tag) {
        write_raw_tagged(w, r);
        next += 1;
    }
    next
}

/// Writes the kept fields from `next` on.
pub fn write_raw_tagged_rest<W: WireWrite + ?Sized>(
    w: &mut W,
    raw: &[RawTaggedField],
    next: usize,
) {
    for r in raw.iter().skip(next) {
        write_raw_tagged(w, r);
    }
}

/// Skips a tagged-field section that holds no field this struct knows.
pub fn skip_tagged_fields(buf: &mut Bytes) -> Result<(), DecodeError> {
    let count = read_uvarint(buf)? as usize;
    check_count(count, buf)?;
    for _ in 0..count {
        read_uvarint(buf)?;
        let len = read_uvarint(buf)? as usize;
        take(buf, len)?;
    }
    Ok(())
}
