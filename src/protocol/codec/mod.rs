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
//!
//! This file holds the errors and the traits; the code is split by concern into
//! `varint.rs` (base-128 numbers), `tagged.rs` (tagged fields) and `fields.rs` (the
//! [`WireField`] impls and the helpers the derive macro calls). Everything is re-exported
//! here: callers and generated code name `crate::protocol::codec::X` only.

use bytes::{Bytes, BytesMut};
use thiserror::Error;

mod fields;
mod tagged;
mod varint;

pub use fields::{
    check_count, checked_u32, differs, read_nullable_struct, take, write_nullable_struct,
};
pub use tagged::{
    raw_tagged_size, skip_tagged_fields, write_raw_tagged, write_raw_tagged_before,
    write_raw_tagged_rest, RawTaggedField,
};
pub use varint::{
    read_uvarint, read_uvarint_slice, read_uvarlong_slice, read_varint_slice, read_varlong_slice,
    uvarint_size, varint_size, varlong_size, write_uvarint, write_uvarlong, write_varint,
    write_varlong,
};

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
