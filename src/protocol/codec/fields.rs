//! The [`WireField`] impls of Kafka's types: fixed-width numbers, booleans, UUIDs,
//! strings, bytes and arrays (nullable or not, compact or not), and the helpers the
//! derive macro calls.

use super::varint::{read_uvarint, uvarint_size, write_uvarint};
use super::{Decode, DecodeError, Encode, EncodeError, FieldCtx, WireField, WireWrite};
use bytes::{Buf, Bytes};
use uuid::Uuid;

/// The most elements an array preallocates for before it has seen them.
const MAX_PREALLOC: usize = 1024;

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
