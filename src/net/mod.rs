//! The network edge: the listener that accepts sockets under the connection caps, one
//! `ConnectionActor` per socket, and the frame reader that bounds the memory requests
//! may hold. A request's way reads top-down from here: `net` -> `handlers` -> `actors`
//! -> `storage` / `group` / `txn` -> `protocol`; nothing below calls back up.

mod connection;
mod frame_reader;
pub mod listener;
pub mod sasl;
pub mod tls;

pub use connection::ConnectionActor;
pub use frame_reader::{RequestMemory, SMALL_FRAME};
