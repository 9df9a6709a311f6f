//! Kafka's base-128 varints: unsigned (compact lengths, tagged fields) and zigzag
//! (records), 32-bit and 64-bit.

use super::{DecodeError, WireWrite};
use bytes::{Buf, Bytes};

pub fn write_uvarint<W: WireWrite + ?Sized>(w: &mut W, v: u32) {
    write_uvarlong(w, u64::from(v))
}

pub fn uvarint_size(v: u32) -> usize {
    match v {
        0..=0x7f => 1,
        0x80..=0x3fff => 2,
        0x4000..=0x1f_ffff => 3,
        0x20_0000..=0x0fff_ffff => 4,
        _ => 5,
    }
}

pub fn read_uvarint(buf: &mut Bytes) -> Result<u32, DecodeError> {
    read_uvarint_slice(buf.as_ref()).map(|(v, n)| {
        buf.advance(n);
        v
    })
}

/// Reads an unsigned base-128 number of at most `max_bytes` bytes whose value fits
/// `max_last` in the last byte's 7 bits: the value and its length.
fn read_unsigned(buf: &[u8], max_bytes: usize, max_last: u8) -> Result<(u64, usize), DecodeError> {
    let mut v: u64 = 0;
    for i in 0..max_bytes {
        let b = *buf.get(i).ok_or(DecodeError::Truncated {
            needed: i + 1,
            remaining: buf.len(),
        })?;
        if i == max_bytes - 1 && b > max_last {
            return Err(DecodeError::VarintTooLong(max_bytes));
        }
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok((v, i + 1));
        }
    }
    Err(DecodeError::VarintTooLong(max_bytes))
}

/// Reads an unsigned varint from the front of a slice: the value and its length.
pub fn read_uvarint_slice(buf: &[u8]) -> Result<(u32, usize), DecodeError> {
    // 5 bytes carry 35 bits: the last one may hold 4 of them.
    read_unsigned(buf, 5, 0x0f).map(|(v, n)| (v as u32, n))
}

/// Reads an unsigned varlong (up to 10 bytes) from the front of a slice.
pub fn read_uvarlong_slice(buf: &[u8]) -> Result<(u64, usize), DecodeError> {
    // 10 bytes carry 70 bits: the last one may hold 1 of them.
    read_unsigned(buf, 10, 0x01)
}

/// Zigzag varint (records): the value and its length.
pub fn read_varint_slice(buf: &[u8]) -> Result<(i32, usize), DecodeError> {
    read_uvarint_slice(buf).map(|(v, n)| (((v >> 1) as i32) ^ -((v & 1) as i32), n))
}

/// Zigzag varlong (records): the value and its length.
pub fn read_varlong_slice(buf: &[u8]) -> Result<(i64, usize), DecodeError> {
    read_uvarlong_slice(buf).map(|(v, n)| (((v >> 1) as i64) ^ -((v & 1) as i64), n))
}

pub fn write_uvarlong<W: WireWrite + ?Sized>(w: &mut W, mut v: u64) {
    let mut out = [0u8; 10];
    let mut i = 0;
    while v >= 0x80 {
        out[i] = (v as u8) | 0x80;
        v >>= 7;
        i += 1;
    }
    out[i] = v as u8;
    w.put(&out[..=i]);
}

pub fn write_varint<W: WireWrite + ?Sized>(w: &mut W, v: i32) {
    write_uvarint(w, ((v << 1) ^ (v >> 31)) as u32)
}

pub fn write_varlong<W: WireWrite + ?Sized>(w: &mut W, v: i64) {
    write_uvarlong(w, ((v << 1) ^ (v >> 63)) as u64)
}

pub fn varint_size(v: i32) -> usize {
    uvarint_size(((v << 1) ^ (v >> 31)) as u32)
}

pub fn varlong_size(v: i64) -> usize {
    let mut u = ((v << 1) ^ (v >> 63)) as u64;
    let mut n = 1;
    while u >= 0x80 {
        u >>= 7;
        n += 1;
    }
    n
}
