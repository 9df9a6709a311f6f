//! TLS listeners with rustls, configured with Kafka's `ssl.*` keys (PEM only, as in KIP-651).
//!
//! [`TlsConfig::from_lookup`] parses and validates the keys, [`TlsAcceptorSource`] builds
//! the rustls `ServerConfig`s and reloads them when the key or trust material changes,
//! and [`try_peer_subject`] gives the client certificate's subject DN as Java's
//! `X500Principal.getName()` prints it.

mod config;
mod server;
mod source;
mod subject;

pub use config::*;
use server::*;
pub use source::*;
pub use subject::*;

#[cfg(test)]
mod tests;
