//! [`Throttler`]: keeps a cleaning's I/O under `log.cleaner.io.max.bytes.per.second`.

use std::time::{Duration, Instant};

/// Counts bytes and sleeps whenever the average rate since the start would exceed the
/// limit (Kafka's `Throttler`, without its check interval: the cleaner calls it once
/// per batch, which is fine-grained enough).
#[derive(Debug)]
pub struct Throttler {
    bytes_per_second: Option<u64>,
    start: Instant,
    bytes: u64,
    slept: Duration,
}

impl Throttler {
    /// `None` is unlimited.
    pub fn new(bytes_per_second: Option<u64>) -> Self {
        Self {
            bytes_per_second: bytes_per_second.filter(|&r| r > 0),
            start: Instant::now(),
            bytes: 0,
            slept: Duration::ZERO,
        }
    }

    /// Accounts for `bytes` of I/O, sleeping if it came too fast.
    pub fn maybe_throttle(&mut self, bytes: u64) {
        self.bytes += bytes;
        let Some(rate) = self.bytes_per_second else {
            return;
        };
        let due = Duration::from_secs_f64(self.bytes as f64 / rate as f64);
        let elapsed = self.start.elapsed();
        if due > elapsed {
            let pause = due - elapsed;
            std::thread::sleep(pause);
            self.slept += pause;
        }
    }

    /// Total time slept.
    pub fn slept(&self) -> Duration {
        self.slept
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttler_keeps_the_average_rate_under_the_limit() {
        let mut t = Throttler::new(Some(1_000_000));
        let start = Instant::now();
        for _ in 0..20 {
            t.maybe_throttle(10_000);
        }
        // 200 kB at 1 MB/s: at least 200 ms.
        assert!(start.elapsed() >= Duration::from_millis(195));
        assert!(t.slept() > Duration::ZERO);
        let mut free = Throttler::new(None);
        free.maybe_throttle(u64::MAX / 2);
        assert_eq!(free.slept(), Duration::ZERO);
    }
}
