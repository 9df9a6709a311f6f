//! A broker process of the curves: an `aeon` binary started on a data directory and a
//! loopback port of its own, timed from spawn until it accepts a connection (the
//! listeners bind only once every log is open), stopped with SIGTERM or killed with
//! SIGKILL, and watched through `/proc` (resident memory, open files, CPU).

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::proc_stats::read_rss_bytes;

/// How long a start may take (a recovery of 100 GB included).
const START_TIMEOUT: Duration = Duration::from_secs(900);
const STOP_TIMEOUT: Duration = Duration::from_secs(300);

/// How to start a broker: the binary and its settings (Kafka's names).
#[derive(Clone)]
pub struct BrokerSpec {
    pub binary: PathBuf,
    pub settings: Vec<(String, String)>,
}

pub struct BrokerProcess {
    spec: BrokerSpec,
    dir: PathBuf,
    addr: SocketAddr,
    child: Option<Child>,
}

impl BrokerProcess {
    /// Starts a broker on `dir` and a free loopback port; returns it and how long it
    /// took to accept a connection.
    pub fn start(spec: &BrokerSpec, dir: &Path) -> anyhow::Result<(Self, Duration)> {
        let addr = free_port()?;
        let mut broker = Self {
            spec: spec.clone(),
            dir: dir.to_path_buf(),
            addr,
            child: None,
        };
        let took = broker.spawn()?;
        Ok((broker, took))
    }

    pub fn bootstrap(&self) -> String {
        self.addr.to_string()
    }

    pub fn pid(&self) -> anyhow::Result<u32> {
        self.child
            .as_ref()
            .map(Child::id)
            .context("the broker is not running")
    }

    /// SIGTERM (a clean shutdown), then a new start on the same directory and port.
    pub fn restart_clean(&mut self) -> anyhow::Result<Duration> {
        self.stop()?;
        self.spawn()
    }

    /// SIGKILL, then a new start on the same directory and port.
    pub fn restart_killed(&mut self) -> anyhow::Result<Duration> {
        if let Some(mut child) = self.child.take() {
            child.kill().context("killing the broker")?;
            child.wait().context("reaping the broker")?;
        }
        self.spawn()
    }

    /// A clean shutdown: SIGTERM, and a wait for the process to end.
    pub fn stop(&mut self) -> anyhow::Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .context("running kill")?;
        if !status.success() {
            bail!("kill -TERM {} failed", child.id());
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            if let Some(status) = child.try_wait().context("waiting for the broker")? {
                if !status.success() {
                    eprintln!("broker exited with {status} on SIGTERM");
                }
                return Ok(());
            }
            if Instant::now() > deadline {
                child.kill().ok();
                bail!("the broker did not stop within {STOP_TIMEOUT:?} of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn spawn(&mut self) -> anyhow::Result<Duration> {
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("creating {}", self.dir.display()))?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("broker.log"))
            .context("opening the broker's log")?;
        let mut command = Command::new(&self.spec.binary);
        command
            .arg("--listen")
            .arg(self.addr.to_string())
            .arg("--data-dir")
            .arg(self.dir.join("data"))
            .env("RUST_LOG", "aeon=warn")
            .stdout(Stdio::null())
            .stderr(log);
        for (key, value) in &self.spec.settings {
            command.env(env_name(key), value);
        }
        let began = Instant::now();
        let mut child = command
            .spawn()
            .with_context(|| format!("starting {}", self.spec.binary.display()))?;
        loop {
            if TcpStream::connect_timeout(&self.addr, Duration::from_millis(100)).is_ok() {
                break;
            }
            if let Some(status) = child.try_wait()? {
                bail!(
                    "the broker exited with {status} while starting; see {}",
                    self.dir.join("broker.log").display()
                );
            }
            if began.elapsed() > START_TIMEOUT {
                child.kill().ok();
                bail!("the broker did not listen within {START_TIMEOUT:?}");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let took = began.elapsed();
        self.child = Some(child);
        Ok(took)
    }
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().ok();
            child.wait().ok();
        }
    }
}

/// A Kafka setting as the broker's environment override: `num.partitions` ->
/// `AEON_NUM_PARTITIONS`.
fn env_name(key: &str) -> String {
    format!("AEON_{}", key.replace(['.', '-'], "_").to_ascii_uppercase())
}

fn free_port() -> anyhow::Result<SocketAddr> {
    let socket = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(socket.local_addr()?)
}

/// Open files of a process: the entries of `/proc/PID/fd`.
pub fn open_files(pid: u32) -> anyhow::Result<u64> {
    let dir = format!("/proc/{pid}/fd");
    Ok(std::fs::read_dir(&dir)
        .with_context(|| format!("listing {dir}"))?
        .count() as u64)
}

/// `RssAnon` of a process: its own memory, without the file pages it maps.
pub fn anon_bytes(pid: u32) -> anyhow::Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("RssAnon:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|kb| kb.parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .with_context(|| format!("no RssAnon in {path}"))
}

/// Samples a process's resident memory and open files every 100 ms until finished;
/// keeps the peaks.
pub struct PeakSampler {
    stop: Arc<AtomicBool>,
    rss: Arc<AtomicU64>,
    anon: Arc<AtomicU64>,
    files: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Debug, Clone, Copy)]
pub struct Peaks {
    pub rss_bytes: u64,
    pub anon_bytes: u64,
    pub open_files: u64,
}

impl PeakSampler {
    pub fn start(pid: u32) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let rss = Arc::new(AtomicU64::new(0));
        let anon = Arc::new(AtomicU64::new(0));
        let files = Arc::new(AtomicU64::new(0));
        let thread = {
            let (stop, rss, anon, files) = (stop.clone(), rss.clone(), anon.clone(), files.clone());
            std::thread::spawn(move || loop {
                if let Ok(bytes) = read_rss_bytes(pid) {
                    rss.fetch_max(bytes, Ordering::Relaxed);
                }
                if let Ok(bytes) = anon_bytes(pid) {
                    anon.fetch_max(bytes, Ordering::Relaxed);
                }
                if let Ok(n) = open_files(pid) {
                    files.fetch_max(n, Ordering::Relaxed);
                }
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            })
        };
        Self {
            stop,
            rss,
            anon,
            files,
            thread: Some(thread),
        }
    }

    pub fn finish(mut self) -> Peaks {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().ok();
        }
        Peaks {
            rss_bytes: self.rss.load(Ordering::Relaxed),
            anon_bytes: self.anon.load(Ordering::Relaxed),
            open_files: self.files.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_become_environment_overrides() {
        assert_eq!(env_name("num.partitions"), "AEON_NUM_PARTITIONS");
        assert_eq!(
            env_name("group.initial.rebalance.delay.ms"),
            "AEON_GROUP_INITIAL_REBALANCE_DELAY_MS"
        );
    }

    #[test]
    fn peaks_of_this_process_are_seen() {
        let sampler = PeakSampler::start(std::process::id());
        std::thread::sleep(Duration::from_millis(150));
        let peaks = sampler.finish();
        assert!(peaks.rss_bytes > 0 && peaks.open_files > 0);
        assert!(peaks.anon_bytes > 0 && peaks.anon_bytes <= peaks.rss_bytes);
    }
}
