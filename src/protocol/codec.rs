//! Kafka's primitive types and the traits the generated messages implement.
//!
//! [`Encode`] and [`Decode`] are what callers use: a whole message at a version.
//! [`WireField`] is what the derive macro calls for each field: it knows how one Rust
//! type is written given a [`FieldCtx`] (the version, whether the field is compact in a
//! flexible version, whether null is allowed). Decoding reads from a [`Bytes`] so that
//! `bytes` and `records` fields are slices of the input, never copies.
//!
//! Every length and count read off the wire is checked against the bytes that are left
//! before anything is allocated; a short or malformed input is a [`DecodeError`], never
//! a panic.

use bytes::{Buf, Bytes, BytesMut};
use thiserror::Error;
use uuid::Uuid;

/// The most elements an array preallocates for before it has seen them.
const MAX_PREALLOC: usize = 1024;

/// Why bytes could not be decoded.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("truncated: needed {needed} bytes, {remaining} left")]
    Truncated { needed: usize, remaining: usize },
    #[error("invalid length or count {length} with {remaining} bytes left")]
    InvalidLength { length: i64, remaining: usize },
    #[error("varint longer than {0} bytes")]
    VarintTooLong(usize),
    #[error("string is not valid UTF-8")]
    InvalidUtf8,
    #[error("null in a version where the field is not nullable")]
    UnexpectedNull,
    #[error("{message} version {version} is not supported")]
    UnsupportedVersion { message: &'static str, version: i16 },
    #[error("{message}.{field}: {source}")]
    Field {
        message: &'static str,
        field: &'static str,
        source: Box<DecodeError>,
    },
}

impl DecodeError {
    /// Adds the field a nested error came from (error path only).
    pub fn in_field(self, message: &'static str, field: &'static str) -> Self {
        DecodeError::Field {
            message,
            field,
            source: Box::new(self),
        }
    }

    /// The innermost error, without the field path.
    pub fn root(&self) -> &DecodeError {
        match self {
            DecodeError::Field { source, .. } => source.root(),
            e => e,
        }
    }
}

/// Why a value could not be encoded at a version.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum EncodeError {
    #[error("{message} version {version} is not supported")]
    UnsupportedVersion { message: &'static str, version: i16 },
    #[error("{message}.{field} is set but version {version} has no such field")]
    FieldNotInVersion {
        message: &'static str,
        field: &'static str,
        version: i16,
    },
    #[error("null in a version where the field is not nullable")]
    UnexpectedNull,
    #[error("length {length} exceeds the wire maximum {max}")]
    TooLong { length: usize, max: usize },
}

/// Where encoded bytes go. `put_shared` lets a gathering writer keep record data by
/// reference; the plain buffers copy it.
pub trait WireWrite {
    fn put(&mut self, bytes: &[u8]);

    fn put_shared(&mut self, bytes: &Bytes) {
        self.put(bytes)
    }
}

impl WireWrite for BytesMut {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes)
    }
}

impl WireWrite for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes)
    }
}

/// How one field is written at one version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldCtx {
    pub version: i16,
    /// Compact (KIP-482) lengths: the version is flexible for this field.
    pub compact: bool,
    /// Null is allowed at this version.
    pub nullable: bool,
}

/// A whole message (or struct) at a version.
pub trait Encode {
    fn encode<W: WireWrite + ?Sized>(&self, w: &mut W, version: i16) -> Result<(), EncodeError>;

    /// The exact number of bytes `encode` writes at `version`.
    fn encoded_size(&self, version: i16) -> usize;

    /// Encodes into a buffer sized once.
    fn to_bytes(&self, version: i16) -> Result<BytesMut, EncodeError> {
        let mut buf = BytesMut::with_capacity(self.encoded_size(version));
        self.encode(&mut buf, version)?;
        Ok(buf)
    }
}

/// A whole message (or struct) read at a version.
pub trait Decode: Sized {
    fn decode(buf: &mut Bytes, version: i16) -> Result<Self, DecodeError>;
}

/// One field's wire form, driven by a [`FieldCtx`].
pub trait WireField: Sized {
    fn write<W: WireWrite + ?Sized>(&self, w: &mut W, ctx: FieldCtx) -> Result<(), EncodeError>;
    fn wire_size(&self, ctx: FieldCtx) -> usize;
    fn read(buf: &mut Bytes, ctx: FieldCtx) -> Result<Self, DecodeError>;
}

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

// ---- helpers the derive macro calls -------------------------------------------------

/// True when `a` is not the default `b` (spelled as a function so generated code
/// compares any field type the same way).
pub fn differs<T: PartialEq>(a: &T, b: &T) -> bool {
    a != b
}

pub fn checked_u32(len: usize) -> Result<u32, EncodeError> {
    u32::try_from(len).map_err(|_| EncodeError::TooLong {
        length: len,
        max: u32::MAX as usize,
    })
}

fn need(buf: &Bytes, n: usize) -> Result<(), DecodeError> {
    if buf.len() < n {
        Err(DecodeError::Truncated {
            needed: n,
            remaining: buf.len(),
        })
    } else {
        Ok(())
    }
}

/// Splits off the next `len` bytes without copying.
pub fn take(buf: &mut Bytes, len: usize) -> Result<Bytes, DecodeError> {
    need(buf, len)?;
    Ok(buf.split_to(len))
}

/// A count of elements, each at least one byte, cannot exceed what is left.
pub fn check_count(count: usize, buf: &Bytes) -> Result<(), DecodeError> {
    if count > buf.len() {
        Err(DecodeError::InvalidLength {
            length: count as i64,
            remaining: buf.len(),
        })
    } else {
        Ok(())
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

pub fn write_nullable_struct<T: Encode, W: WireWrite + ?Sized>(
    v: Option<&T>,
    w: &mut W,
    ctx: FieldCtx,
) -> Result<(), EncodeError> {
    match v {
        None if !ctx.nullable => Err(EncodeError::UnexpectedNull),
        None => {
            w.put(&[0xff]);
            Ok(())
        }
        Some(s) => {
            w.put(&[1]);
            s.encode(w, ctx.version)
        }
    }
}

pub fn read_nullable_struct<T: Decode>(
    buf: &mut Bytes,
    ctx: FieldCtx,
) -> Result<Option<T>, DecodeError> {
    need(buf, 1)?;
    if buf.get_i8() < 0 {
        if !ctx.nullable {
            return Err(DecodeError::UnexpectedNull);
        }
        Ok(None)
    } else {
        T::decode(buf, ctx.version).map(Some)
    }
}

// ---- varints -------------------------------------------------------------------------

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

// ---- fixed-width primitives ------------------------------------------------------------

macro_rules! fixed {
    ($($t:ty => $get:ident),* $(,)?) => {$(
        impl WireField for $t {
            fn write<W: WireWrite + ?Sized>(&self, w: &mut W, _: FieldCtx) -> Result<(), EncodeError> {
                w.put(&self.to_be_bytes());
                Ok(())
            }
            fn wire_size(&self, _: FieldCtx) -> usize {
                std::mem::size_of::<$t>()
            }
            fn read(buf: &mut Bytes, _: FieldCtx) -> Result<Self, DecodeError> {
                need(buf, std::mem::size_of::<$t>())?;
                Ok(buf.$get())
            }
        }
    )*};
}

fixed!(i8 => get_i8, i16 => get_i16, i32 => get_i32, i64 => get_i64, u16 => get_u16, u32 => get_u32, f64 => get_f64);

impl WireField for bool {
    fn write<W: WireWrite + ?Sized>(&self, w: &mut W, _: FieldCtx) -> Result<(), EncodeError> {
        w.put(&[u8::from(*self)]);
        Ok(())
    }
    fn wire_size(&self, _: FieldCtx) -> usize {
        1
    }
    fn read(buf: &mut Bytes, _: FieldCtx) -> Result<Self, DecodeError> {
        need(buf, 1)?;
        Ok(buf.get_u8() != 0)
    }
}

impl WireField for Uuid {
    fn write<W: WireWrite + ?Sized>(&self, w: &mut W, _: FieldCtx) -> Result<(), EncodeError> {
        w.put(self.as_bytes());
        Ok(())
    }
    fn wire_size(&self, _: FieldCtx) -> usize {
        16
    }
    fn read(buf: &mut Bytes, _: FieldCtx) -> Result<Self, DecodeError> {
        need(buf, 16)?;
        let mut b = [0u8; 16];
        buf.copy_to_slice(&mut b);
        Ok(Uuid::from_bytes(b))
    }
}

// ---- lengths: strings, bytes, arrays ---------------------------------------------------

/// Which length prefix a variable-size value uses outside compact versions.
#[derive(Clone, Copy)]
enum LenKind {
    /// int16 (strings).
    Short,
    /// int32 (bytes, arrays).
    Int,
}

fn write_len<W: WireWrite + ?Sized>(
    w: &mut W,
    len: Option<usize>,
    ctx: FieldCtx,
    kind: LenKind,
) -> Result<(), EncodeError> {
    if len.is_none() && !ctx.nullable {
        return Err(EncodeError::UnexpectedNull);
    }
    if ctx.compact {
        let n = match len {
            None => 0,
            Some(l) => checked_u32(l)?.checked_add(1).ok_or(EncodeError::TooLong {
                length: l,
                max: u32::MAX as usize - 1,
            })?,
        };
        write_uvarint(w, n);
        return Ok(());
    }
    match kind {
        LenKind::Short => {
            let n = match len {
                None => -1,
                Some(l) => i16::try_from(l).map_err(|_| EncodeError::TooLong {
                    length: l,
                    max: i16::MAX as usize,
                })?,
            };
            w.put(&n.to_be_bytes());
        }
        LenKind::Int => {
            let n = match len {
                None => -1,
                Some(l) => i32::try_from(l).map_err(|_| EncodeError::TooLong {
                    length: l,
                    max: i32::MAX as usize,
                })?,
            };
            w.put(&n.to_be_bytes());
        }
    }
    Ok(())
}

fn len_size(len: Option<usize>, ctx: FieldCtx, kind: LenKind) -> usize {
    match (ctx.compact, kind) {
        (true, _) => uvarint_size(len.map_or(0, |l| (l as u32).saturating_add(1))),
        (false, LenKind::Short) => 2,
        (false, LenKind::Int) => 4,
    }
}

/// Reads a length prefix: `None` for null. The length is not yet checked against
/// what is left; callers do that before they allocate or split.
fn read_len(buf: &mut Bytes, ctx: FieldCtx, kind: LenKind) -> Result<Option<usize>, DecodeError> {
    let len: i64 = if ctx.compact {
        i64::from(read_uvarint(buf)?) - 1
    } else {
        match kind {
            LenKind::Short => {
                need(buf, 2)?;
                i64::from(buf.get_i16())
            }
            LenKind::Int => {
                need(buf, 4)?;
                i64::from(buf.get_i32())
            }
        }
    };
    match len {
        -1 if ctx.nullable => Ok(None),
        -1 => Err(DecodeError::UnexpectedNull),
        l if l < 0 || l as usize > buf.len() => Err(DecodeError::InvalidLength {
            length: l,
            remaining: buf.len(),
        }),
        l => Ok(Some(l as usize)),
    }
}

fn read_str(buf: &mut Bytes, len: usize) -> Result<String, DecodeError> {
    let b = take(buf, len)?;
    String::from_utf8(b.to_vec()).map_err(|_| DecodeError::InvalidUtf8)
}

/// A length-prefixed value: a string (int16 length) or bytes (int32 length).
trait Blob: Sized {
    const KIND: LenKind;
    fn blob_len(&self) -> usize;
    fn put_into<W: WireWrite + ?Sized>(&self, w: &mut W);
    fn read_body(buf: &mut Bytes, len: usize) -> Result<Self, DecodeError>;
}

impl Blob for String {
    const KIND: LenKind = LenKind::Short;
    fn blob_len(&self) -> usize {
        self.len()
    }
    fn put_into<W: WireWrite + ?Sized>(&self, w: &mut W) {
        w.put(self.as_bytes())
    }
    fn read_body(buf: &mut Bytes, len: usize) -> Result<Self, DecodeError> {
        read_str(buf, len)
    }
}

impl Blob for Bytes {
    const KIND: LenKind = LenKind::Int;
    fn blob_len(&self) -> usize {
        self.len()
    }
    fn put_into<W: WireWrite + ?Sized>(&self, w: &mut W) {
        w.put_shared(self)
    }
    fn read_body(buf: &mut Bytes, len: usize) -> Result<Self, DecodeError> {
        take(buf, len)
    }
}

fn write_blob<T: Blob, W: WireWrite + ?Sized>(
    v: Option<&T>,
    w: &mut W,
    ctx: FieldCtx,
) -> Result<(), EncodeError> {
    write_len(w, v.map(T::blob_len), ctx, T::KIND)?;
    if let Some(v) = v {
        v.put_into(w);
    }
    Ok(())
}

fn blob_size<T: Blob>(v: Option<&T>, ctx: FieldCtx) -> usize {
    let len = v.map(T::blob_len);
    len_size(len, ctx, T::KIND) + len.unwrap_or(0)
}

fn read_blob<T: Blob>(buf: &mut Bytes, ctx: FieldCtx) -> Result<Option<T>, DecodeError> {
    match read_len(buf, ctx, T::KIND)? {
        Some(len) => T::read_body(buf, len).map(Some),
        None => Ok(None),
    }
}

/// The WireField impls of a blob type and of its nullable form.
macro_rules! blob_fields {
    ($($t:ty),*) => {$(
        impl WireField for $t {
            fn write<W: WireWrite + ?Sized>(&self, w: &mut W, ctx: FieldCtx) -> Result<(), EncodeError> {
                write_blob(Some(self), w, ctx)
            }
            fn wire_size(&self, ctx: FieldCtx) -> usize {
                blob_size(Some(self), ctx)
            }
            fn read(buf: &mut Bytes, ctx: FieldCtx) -> Result<Self, DecodeError> {
                read_blob(buf, FieldCtx { nullable: false, ..ctx })?.ok_or(DecodeError::UnexpectedNull)
            }
        }

        impl WireField for Option<$t> {
            fn write<W: WireWrite + ?Sized>(&self, w: &mut W, ctx: FieldCtx) -> Result<(), EncodeError> {
                write_blob(self.as_ref(), w, ctx)
            }
            fn wire_size(&self, ctx: FieldCtx) -> usize {
                blob_size(self.as_ref(), ctx)
            }
            fn read(buf: &mut Bytes, ctx: FieldCtx) -> Result<Self, DecodeError> {
                read_blob(buf, ctx)
            }
        }
    )*};
}

blob_fields!(String, Bytes);

/// Array elements are never null themselves.
fn element_ctx(ctx: FieldCtx) -> FieldCtx {
    FieldCtx {
        nullable: false,
        ..ctx
    }
}

fn write_elements<T: WireField, W: WireWrite + ?Sized>(
    items: &[T],
    w: &mut W,
    ctx: FieldCtx,
) -> Result<(), EncodeError> {
    let ctx = element_ctx(ctx);
    items.iter().try_for_each(|i| i.write(w, ctx))
}

fn elements_size<T: WireField>(items: &[T], ctx: FieldCtx) -> usize {
    let ctx = element_ctx(ctx);
    items.iter().map(|i| i.wire_size(ctx)).sum()
}

fn read_elements<T: WireField>(
    buf: &mut Bytes,
    count: usize,
    ctx: FieldCtx,
) -> Result<Vec<T>, DecodeError> {
    let ctx = element_ctx(ctx);
    let mut out = Vec::with_capacity(count.min(MAX_PREALLOC));
    for _ in 0..count {
        out.push(T::read(buf, ctx)?);
    }
    Ok(out)
}

impl<T: WireField> WireField for Vec<T> {
    fn write<W: WireWrite + ?Sized>(&self, w: &mut W, ctx: FieldCtx) -> Result<(), EncodeError> {
        write_len(
            w,
            Some(self.len()),
            FieldCtx {
                nullable: false,
                ..ctx
            },
            LenKind::Int,
        )?;
        write_elements(self, w, ctx)
    }
    fn wire_size(&self, ctx: FieldCtx) -> usize {
        len_size(Some(self.len()), ctx, LenKind::Int) + elements_size(self, ctx)
    }
    fn read(buf: &mut Bytes, ctx: FieldCtx) -> Result<Self, DecodeError> {
        match read_len(
            buf,
            FieldCtx {
                nullable: false,
                ..ctx
            },
            LenKind::Int,
        )? {
            Some(count) => read_elements(buf, count, ctx),
            None => Err(DecodeError::UnexpectedNull),
        }
    }
}

impl<T: WireField> WireField for Option<Vec<T>> {
    fn write<W: WireWrite + ?Sized>(&self, w: &mut W, ctx: FieldCtx) -> Result<(), EncodeError> {
        write_len(w, self.as_ref().map(Vec::len), ctx, LenKind::Int)?;
        match self {
            Some(items) => write_elements(items, w, ctx),
            None => Ok(()),
        }
    }
    fn wire_size(&self, ctx: FieldCtx) -> usize {
        len_size(self.as_ref().map(Vec::len), ctx, LenKind::Int)
            + self.as_ref().map_or(0, |i| elements_size(i, ctx))
    }
    fn read(buf: &mut Bytes, ctx: FieldCtx) -> Result<Self, DecodeError> {
        match read_len(buf, ctx, LenKind::Int)? {
            Some(count) => read_elements(buf, count, ctx).map(Some),
            None => Ok(None),
        }
    }
}
