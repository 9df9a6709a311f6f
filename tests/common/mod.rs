//! The one harness every integration test shares.
//!
//! - [`broker`]: a real broker in this process on 127.0.0.1:0 with a temporary data
//!   directory, stopped (cleanly) on drop.
//! - [`clients`]: rdkafka producers, consumers and admin clients for it, and helpers to
//!   produce and consume.
//! - [`cluster`]: a cluster of `aeon` processes, and links between them to cut.
//! - [`pki`]: a test CA, certificates, and TLS client connections.
//! - [`process`]: the `aeon` binary as a child process.
//! - [`raw`]: requests and responses below the client, over a plain socket.
//! - [`steady`]: a client that keeps producing and consuming while a test attacks
//!   the broker, and checks it lost nothing.
//!
//! Each test binary compiles this module on its own and uses part of it, hence
//! `allow(dead_code)` here and `allow(unused_imports)` on the re-exports.
#![allow(dead_code)]

pub mod broker;
pub mod clients;
pub mod cluster;
pub mod pki;
pub mod process;
pub mod raw;
pub mod steady;

// The harness's items at `common::`; a test binary that uses none of a module's is
// not an unused import.
#[allow(unused_imports)]
pub use broker::*;
#[allow(unused_imports)]
pub use clients::*;
#[allow(unused_imports)]
pub use pki::*;
#[allow(unused_imports)]
pub use process::*;
#[allow(unused_imports)]
pub use raw::*;
#[allow(unused_imports)]
pub use steady::*;
