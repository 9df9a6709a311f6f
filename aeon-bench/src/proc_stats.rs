//! What a run cost the broker: its CPU time from `/proc/PID/stat` before and after,
//! and its resident memory from `/proc/PID/status` at the end. Linux only; it only
//! reads `/proc` and never signals the process.

use std::process::Command;

use anyhow::{bail, Context};
use serde::Serialize;

/// CPU time (user + system) of a process, in clock ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuTicks {
    pub utime: u64,
    pub stime: u64,
}

impl CpuTicks {
    pub fn total(self) -> u64 {
        self.utime + self.stime
    }
}

/// Parses a `/proc/PID/stat` line. The command name (field 2) is in parentheses and may
/// itself hold spaces or parentheses, so fields are counted from the last `)`.
pub fn parse_stat(line: &str) -> anyhow::Result<CpuTicks> {
    let close = line.rfind(')').context("no ')' after the command name")?;
    // After the name: field 3 (state) is index 0, so utime (14) is 11 and stime (15) 12.
    let fields: Vec<&str> = line[close + 1..].split_whitespace().collect();
    if fields.len() < 13 {
        bail!("only {} fields after the command name", fields.len());
    }
    let field = |i: usize, name: &str| -> anyhow::Result<u64> {
        fields[i]
            .parse()
            .with_context(|| format!("{name} is not a number: {:?}", fields[i]))
    };
    Ok(CpuTicks {
        utime: field(11, "utime")?,
        stime: field(12, "stime")?,
    })
}

/// `VmRSS` from a `/proc/PID/status` text, in bytes.
pub fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let mut parts = line["VmRSS:".len()..].split_whitespace();
    let value: u64 = parts.next()?.parse().ok()?;
    match parts.next() {
        Some("kB") | None => Some(value * 1024),
        Some(_) => None,
    }
}

/// Clock ticks per second from `getconf CLK_TCK`, or 100 (the usual value) if that fails.
pub fn clock_ticks_per_second() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .filter(|&t| t > 0)
        .unwrap_or(100)
}

pub fn read_cpu_ticks(pid: u32) -> anyhow::Result<CpuTicks> {
    let path = format!("/proc/{pid}/stat");
    let line = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    parse_stat(&line).with_context(|| format!("parsing {path}"))
}

pub fn read_rss_bytes(pid: u32) -> anyhow::Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    parse_vm_rss(&status).with_context(|| format!("no VmRSS in {path}"))
}

/// The broker's cost over a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BrokerCost {
    pub pid: u32,
    pub cpu_seconds: f64,
    /// CPU seconds per GB (10^9 bytes) of payload moved: produced or consumed, both
    /// counted for e2e.
    pub cpu_seconds_per_gb: f64,
    pub rss_bytes: u64,
}

impl BrokerCost {
    pub fn text(&self) -> String {
        format!(
            "broker (pid {}): {:.3} CPU s, {:.3} CPU s per GB (10^9 bytes), RSS {:.1} MB at the end\n",
            self.pid,
            self.cpu_seconds,
            self.cpu_seconds_per_gb,
            self.rss_bytes as f64 / 1e6
        )
    }
}

/// Reads the broker's CPU time at the start of a run; [`BrokerProbe::finish`] at the end.
pub struct BrokerProbe {
    pid: u32,
    ticks_per_second: u64,
    start: CpuTicks,
}

impl BrokerProbe {
    pub fn start(pid: u32) -> anyhow::Result<Self> {
        let ticks_per_second = clock_ticks_per_second();
        Ok(Self {
            pid,
            ticks_per_second,
            start: read_cpu_ticks(pid)?,
        })
    }

    /// `bytes` is the payload the run moved.
    pub fn finish(self, bytes: u64) -> anyhow::Result<BrokerCost> {
        let end = read_cpu_ticks(self.pid)?;
        let ticks = end.total().saturating_sub(self.start.total());
        let cpu_seconds = ticks as f64 / self.ticks_per_second as f64;
        let gb = bytes as f64 / 1e9;
        Ok(BrokerCost {
            pid: self.pid,
            cpu_seconds,
            cpu_seconds_per_gb: if gb > 0.0 { cpu_seconds / gb } else { 0.0 },
            rss_bytes: read_rss_bytes(self.pid)?,
        })
    }
}

/// Starts a probe when `--broker-pid` was given.
pub fn probe(pid: Option<u32>) -> anyhow::Result<Option<BrokerProbe>> {
    pid.map(BrokerProbe::start).transpose()
}

/// Ends a probe, if any.
pub fn finish(probe: Option<BrokerProbe>, bytes: u64) -> anyhow::Result<Option<BrokerCost>> {
    probe.map(|p| p.finish(bytes)).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_stat_line_of_this_process() {
        let pid = std::process::id();
        let line = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let ticks = parse_stat(&line).unwrap();
        // Field 14/15 agree with a plain split when the name has no spaces.
        let fields: Vec<&str> = line.split_whitespace().collect();
        if !fields[1].contains(' ') && fields[1].ends_with(')') {
            assert_eq!(ticks.utime, fields[13].parse::<u64>().unwrap());
        }
        assert!(read_cpu_ticks(pid).unwrap().total() >= ticks.total());
    }

    #[test]
    fn command_names_with_spaces_and_parens_do_not_shift_fields() {
        let line = "42 (a b) c)) S 1 42 42 0 -1 4194560 100 0 0 0 1234 567 0 0 20 0 1 0 5 1000 50";
        assert_eq!(
            parse_stat(line).unwrap(),
            CpuTicks {
                utime: 1234,
                stime: 567
            }
        );
    }

    #[test]
    fn short_or_garbled_stat_lines_are_errors() {
        assert!(parse_stat("42 (x) S 1 2").is_err());
        assert!(parse_stat("no parens at all").is_err());
        assert!(parse_stat("1 (x) S 1 1 1 0 -1 0 0 0 0 0 u 5 0 0").is_err());
    }

    #[test]
    fn vm_rss_is_read_in_bytes() {
        let status = "Name:\taeon\nVmPeak:\t  9000 kB\nVmRSS:\t   2048 kB\nThreads:\t4\n";
        assert_eq!(parse_vm_rss(status), Some(2048 * 1024));
        assert_eq!(parse_vm_rss("Name:\tx\n"), None);
        assert!(read_rss_bytes(std::process::id()).unwrap() > 0);
    }

    #[test]
    fn clock_ticks_are_positive() {
        assert!(clock_ticks_per_second() > 0);
    }

    #[test]
    fn probe_of_this_process_reports_cost() {
        let p = BrokerProbe::start(std::process::id()).unwrap();
        let cost = p.finish(2_000_000_000).unwrap();
        assert!(cost.cpu_seconds >= 0.0 && cost.rss_bytes > 0);
        assert!((cost.cpu_seconds_per_gb - cost.cpu_seconds / 2.0).abs() < 1e-9);
    }
}
