//! `#[derive(Encode, Decode)]` for Aeon's generated Kafka messages.
//!
//! `build.rs` writes every message as a plain struct whose fields carry the schema's
//! version facts in `#[kafka(...)]` attributes:
//!
//! - on the struct: `flexible = "9+"` (KIP-482 flexible versions) and, on a top-level
//!   message, `versions = "3-13"`;
//! - on a field: `name` (Kafka's field name), `versions`, `nullable`, `tagged` + `tag`,
//!   `ignorable`, `flexible` (a per-field override, as the request header's client id
//!   has) and `default` (a Rust expression for the schema default).
//!
//! `Encode` writes a struct at a version and knows its exact `encoded_size`; `Decode`
//! reads one from a `Bytes` buffer. Both go through `crate::protocol::codec::WireField`,
//! which each field type implements, so this macro only decides per field *whether* and
//! *how* (compact, nullable, tagged) it is on the wire. `Encode` also derives `Default`
//! from the schema defaults, and, under `cfg(test)`, random sampling and Kafka-JSON views
//! for the conformance and round-trip tests.

mod attrs;
mod expand;

use proc_macro::TokenStream;
use syn::{parse_macro_input, DeriveInput};

/// Derives `Encode` (and `Default`, `WireField` and the test helpers) for a message struct.
#[proc_macro_derive(Encode, attributes(kafka))]
pub fn derive_encode(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::encode(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Derives `Decode` for a message struct.
#[proc_macro_derive(Decode, attributes(kafka))]
pub fn derive_decode(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::decode(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
