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
//! The code is split by concern: `error.rs` (the errors), `traits.rs` (the traits),
//! `varint.rs` (base-128 numbers), `tagged.rs` (tagged fields) and `fields.rs` (the
//! [`WireField`] impls and the helpers the derive macro calls). Everything is re-exported
//! here: callers and generated code name `crate::protocol::codec::X` only.

mod error;
mod fields;
mod tagged;
mod traits;
mod varint;

pub use error::{DecodeError, EncodeError};
pub use fields::{
    check_count, checked_u32, differs, read_nullable_struct, take, write_nullable_struct,
};
pub use tagged::{
    raw_tagged_size, skip_tagged_fields, write_raw_tagged, write_raw_tagged_before,
    write_raw_tagged_rest, RawTaggedField,
};
pub use traits::{Decode, Encode, FieldCtx, WireField, WireWrite};
pub use varint::{
    read_uvarint, read_uvarint_slice, read_uvarlong_slice, read_varint_slice, read_varlong_slice,
    uvarint_size, varint_size, varlong_size, write_uvarint, write_uvarlong, write_varint,
    write_varlong,
};
