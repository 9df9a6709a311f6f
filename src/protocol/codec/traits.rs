//! The traits callers and the generated messages use: a whole message at a version
//! ([`Encode`], [`Decode`]), one field in its [`FieldCtx`] ([`WireField`]), and where
//! the bytes go ([`WireWrite`]).

use super::error::{DecodeError, EncodeError};
use bytes::{Bytes, BytesMut};

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
