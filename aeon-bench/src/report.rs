//! The result of a run: latency histograms, the report printed as text or JSON, and the
//! progress bar. Nothing here talks to a broker.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::limit::LimitReport;
use crate::proc_stats::BrokerCost;

/// Latencies are recorded in microseconds, up to an hour, with 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("static histogram bounds are valid")
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LatencyMs {
    pub samples: u64,
    pub p50: f64,
    pub p99: f64,
    pub p99_9: f64,
    pub max: f64,
}

impl LatencyMs {
    /// `None` when nothing was recorded.
    pub fn from_histogram(h: &Histogram<u64>) -> Option<Self> {
        if h.is_empty() {
            return None;
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Some(Self {
            samples: h.len(),
            p50: ms(h.value_at_quantile(0.5)),
            p99: ms(h.value_at_quantile(0.99)),
            p99_9: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
        })
    }
}

/// Our own throughput as a fraction of what the machine can do.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LimitRatios {
    pub limit: LimitReport,
    pub of_loopback: f64,
    pub of_disk_no_fsync: f64,
    pub of_disk_fsync_1mib: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub mode: &'static str,
    /// What the latency measures, e.g. "send -> delivery ack".
    pub latency_of: Option<&'static str>,
    pub messages: u64,
    /// Payload bytes (values only; no keys, headers or protocol overhead).
    pub bytes: u64,
    pub errors: u64,
    pub seconds: f64,
    pub msgs_per_sec: f64,
    /// MB = 10^6 bytes.
    pub mb_per_sec: f64,
    pub latency_ms: Option<LatencyMs>,
    /// e2e only: the produce leg of the same run (send -> delivery ack), so the fetch
    /// leg's share of the latency can be told apart.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ack_latency_ms: Option<LatencyMs>,
    pub limit: Option<LimitRatios>,
    pub broker: Option<BrokerCost>,
}

impl Report {
    pub fn new(
        mode: &'static str,
        messages: u64,
        bytes: u64,
        errors: u64,
        elapsed: Duration,
    ) -> Self {
        let seconds = elapsed.as_secs_f64();
        let per_sec = |x: u64| {
            if seconds > 0.0 {
                x as f64 / seconds
            } else {
                0.0
            }
        };
        Self {
            mode,
            latency_of: None,
            messages,
            bytes,
            errors,
            seconds,
            msgs_per_sec: per_sec(messages),
            mb_per_sec: per_sec(bytes) / 1e6,
            latency_ms: None,
            ack_latency_ms: None,
            limit: None,
            broker: None,
        }
    }

    pub fn with_latency(mut self, of: &'static str, h: &Histogram<u64>) -> Self {
        self.latency_of = Some(of);
        self.latency_ms = LatencyMs::from_histogram(h);
        self
    }

    /// The produce leg's latency (send -> delivery ack), beside an e2e latency.
    pub fn with_ack_latency(mut self, h: &Histogram<u64>) -> Self {
        self.ack_latency_ms = LatencyMs::from_histogram(h);
        self
    }

    pub fn with_limit(mut self, limit: Option<LimitReport>) -> Self {
        self.limit = limit.map(|limit| {
            let ratio = |cap: f64| {
                if cap > 0.0 {
                    self.mb_per_sec / cap
                } else {
                    0.0
                }
            };
            LimitRatios {
                of_loopback: ratio(limit.loopback_mb_per_sec),
                of_disk_no_fsync: ratio(limit.disk_no_fsync_mb_per_sec),
                of_disk_fsync_1mib: ratio(limit.disk_fsync_1mib_mb_per_sec),
                limit,
            }
        });
        self
    }

    pub fn text(&self) -> String {
        let mut out = format!(
            "{}: {} messages, {} bytes, {} errors in {:.3} s\nthroughput: {:.0} msgs/s, {:.2} MB/s (MB = 10^6 bytes of payload)\n",
            self.mode, self.messages, self.bytes, self.errors, self.seconds, self.msgs_per_sec, self.mb_per_sec
        );
        if let (Some(of), Some(l)) = (self.latency_of, &self.latency_ms) {
            out += &format!(
                "latency ({of}), ms: p50 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}  ({} samples)\n",
                l.p50, l.p99, l.p99_9, l.max, l.samples
            );
        }
        if let Some(l) = &self.ack_latency_ms {
            out += &format!(
                "latency (send -> delivery ack, same run), ms: p50 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}  ({} samples)\n",
                l.p50, l.p99, l.p99_9, l.max, l.samples
            );
        }
        if let Some(r) = &self.limit {
            out += &r.limit.text();
            out += &format!(
                "this run: {:.1}% of loopback, {:.1}% of disk without fsync, {:.1}% of disk with fsync per MiB\n",
                r.of_loopback * 100.0,
                r.of_disk_no_fsync * 100.0,
                r.of_disk_fsync_1mib * 100.0
            );
        }
        if let Some(b) = &self.broker {
            out += &b.text();
        }
        out
    }

    pub fn print(&self, json: bool) -> anyhow::Result<()> {
        if json {
            println!("{}", serde_json::to_string_pretty(self)?);
        } else {
            print!("{}", self.text());
        }
        Ok(())
    }
}

/// How long a run lasts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RunLength {
    Messages(u64),
    Duration(Duration),
}

/// A progress bar on stderr that appears only once a run has lasted a few seconds, and
/// never with `--json` or when stderr is not a terminal.
pub struct Progress {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

const PROGRESS_AFTER: Duration = Duration::from_secs(2);

impl Progress {
    /// `done` counts messages; the bar follows it (or the clock, for a timed run).
    pub fn start(length: RunLength, done: Arc<AtomicU64>, json: bool) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        if json || !std::io::stderr().is_terminal() {
            return Self { stop, thread: None };
        }
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let started = Instant::now();
            let mut bar: Option<ProgressBar> = None;
            while !flag.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(200));
                if started.elapsed() < PROGRESS_AFTER {
                    continue;
                }
                let n = done.load(Ordering::Relaxed);
                let b = bar.get_or_insert_with(|| new_bar(length, started.elapsed()));
                match length {
                    RunLength::Messages(_) => b.set_position(n),
                    RunLength::Duration(_) => {
                        b.set_position(started.elapsed().as_secs());
                        b.set_message(format!("{n} msgs"));
                    }
                }
            }
            if let Some(b) = bar {
                b.finish_and_clear();
            }
        });
        Self {
            stop,
            thread: Some(thread),
        }
    }

    pub fn finish(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn new_bar(length: RunLength, elapsed: Duration) -> ProgressBar {
    let (len, template) = match length {
        RunLength::Messages(n) => (n, "{bar:40} {pos}/{len} msgs, {elapsed} elapsed, eta {eta}"),
        RunLength::Duration(d) => (d.as_secs(), "{bar:40} {pos}/{len} s {msg}"),
    };
    let bar = ProgressBar::new(len).with_elapsed(elapsed);
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_one_to_a_thousand_ms() {
        let mut h = new_histogram();
        for ms in 1..=1000u64 {
            h.record(ms * 1000).unwrap();
        }
        let l = LatencyMs::from_histogram(&h).unwrap();
        assert_eq!(l.samples, 1000);
        // 3 significant digits: within 0.1%.
        assert!((l.p50 - 500.0).abs() <= 0.5, "{l:?}");
        assert!((l.p99 - 990.0).abs() <= 1.0, "{l:?}");
        assert!((l.p99_9 - 999.0).abs() <= 1.0, "{l:?}");
        assert!((l.max - 1000.0).abs() <= 1.0, "{l:?}");
    }

    #[test]
    fn empty_histogram_has_no_latency() {
        assert_eq!(LatencyMs::from_histogram(&new_histogram()), None);
    }

    #[test]
    fn throughput_uses_decimal_megabytes() {
        let r = Report::new("produce", 200_000, 20_000_000, 0, Duration::from_secs(2));
        assert_eq!(r.msgs_per_sec, 100_000.0);
        assert_eq!(r.mb_per_sec, 10.0);
        let text = r.text();
        assert!(
            text.contains("200000 messages, 20000000 bytes, 0 errors in 2.000 s"),
            "{text}"
        );
        assert!(
            text.contains("100000 msgs/s, 10.00 MB/s (MB = 10^6 bytes"),
            "{text}"
        );
    }

    #[test]
    fn text_and_json_carry_latency() {
        let mut h = new_histogram();
        h.record(1500).unwrap();
        let r = Report::new("e2e", 1, 100, 0, Duration::from_secs(1))
            .with_latency("send -> receipt", &h);
        assert!(
            r.text()
                .contains("latency (send -> receipt), ms: p50 1.500"),
            "{}",
            r.text()
        );
        let v: serde_json::Value = serde_json::to_value(&r).unwrap();
        assert_eq!(v["latency_ms"]["p50"], 1.5);
        assert_eq!(v["mb_per_sec"], 0.0001);
    }

    #[test]
    fn zero_seconds_gives_zero_rates() {
        let r = Report::new("consume", 0, 0, 0, Duration::ZERO);
        assert_eq!((r.msgs_per_sec, r.mb_per_sec), (0.0, 0.0));
    }
}
