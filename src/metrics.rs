//! Counters the broker keeps about itself, shared by every connection through an
//! `Arc`. Plain atomics: bumping one never takes a lock on a request's path.

use std::sync::atomic::{AtomicU64, Ordering};

/// The broker's counters.
#[derive(Debug, Default)]
pub struct BrokerMetrics {
    response_encode_failures: AtomicU64,
}

impl BrokerMetrics {
    /// A response the broker built could not be encoded at the request's version: a
    /// broker bug (a handler filled a field that version lacks), never a client error.
    pub fn note_response_encode_failure(&self) {
        self.response_encode_failures
            .fetch_add(1, Ordering::Relaxed);
    }

    /// How many responses failed to encode since the broker started.
    pub fn response_encode_failures(&self) -> u64 {
        self.response_encode_failures.load(Ordering::Relaxed)
    }
}
