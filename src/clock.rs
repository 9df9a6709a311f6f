//! The broker's one clock: wall-clock milliseconds since the Unix epoch, Kafka's unit
//! for every timestamp it stores or sends.
//!
//! Only the actors read it. The state machines (`group`, `txn`, the producer state, the
//! `storage` log) never do: each operation takes the time as a `now_ms` argument, so a
//! test drives them on a made-up clock by passing numbers, and a replay after a restart
//! applies records with the times they were written at.

/// Milliseconds since the Unix epoch (0 if the system clock is before it).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// [`now_ms`] for the state machines that count time unsigned (the group coordinator).
pub fn now_ms_u64() -> u64 {
    u64::try_from(now_ms()).unwrap_or(0)
}
