//! Kafka transactions as a pure state machine: the metadata of one transactional id
//! (Kafka's `TransactionMetadata`) and the transitions the coordinator makes to it.
//!
//! No actix, no clock, no I/O: every operation takes `now_ms` and returns the metadata
//! the coordinator must persist to `__transaction_state` before it adopts it (Kafka's
//! prepare-transition / complete-transition pair), or the Kafka error to answer with.
//!
//! ```text
//!            InitProducerId              AddPartitions/AddOffsets
//!   (new) ----------------> Empty ------------------------------> Ongoing
//!                             ^                                     |   |
//!                             |                     EndTxn(commit)  |   | EndTxn(abort), timeout,
//!                             |                                     v   v InitProducerId (fence)
//!                  CompleteCommit <-- markers written -- PrepareCommit  PrepareAbort
//!                  CompleteAbort  <-- markers written ------------------------'
//! ```
//!
//! A completed transaction's id goes back to Ongoing on its next AddPartitions; an
//! InitProducerId bumps the epoch (fencing older producers with the same id). An open
//! transaction is aborted with a bumped epoch when it times out or when a new producer
//! with its id arrives, so markers carry an epoch the old producer cannot write with.
//!
//! # Where Aeon differs from Kafka, on purpose
//!
//! - The `__transaction_state` records are JSON (see [`record`]), not Kafka's binary
//!   schemas.

pub mod record;
mod state;

pub use state::{fencing_error, EndStep, InitStep, TxnMetadata, TxnState};
