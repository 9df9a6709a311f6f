//! The `aeon` binary as a child process, for tests of what only the binary does
//! (command line, signals, a process that dies).

use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The `aeon` binary as a command, without the test harness's own `AEON_*` variables
/// (`AEON_REQUIRE_SHARED`, ...): the broker reads every `AEON_*` variable as a config
/// key and refuses the ones it does not know.
pub fn aeon_command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_aeon"));
    for (name, _) in std::env::vars() {
        if name.starts_with("AEON_") {
            command.env_remove(name);
        }
    }
    // Test brokers run side by side: each gets its own operations port.
    command.env("AEON_METRICS_LISTENER", "127.0.0.1:0");
    command
}

/// `aeon` listening on 127.0.0.1:`port` (0: any free port) with its data in `data_dir`,
/// logging at info (where it says the address it listens on), for a test to add
/// arguments and environment to before [`AeonProcess::spawn`].
pub fn aeon_serving(data_dir: &Path, port: u16) -> Command {
    let mut command = aeon_command();
    command
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--data-dir")
        .arg(data_dir)
        .env("RUST_LOG", "aeon=info");
    command
}

/// A running `aeon` binary: its address (read from its log) and every log line so far.
/// It is killed when dropped, so a failing test leaves no broker behind.
pub struct AeonProcess {
    pub child: Child,
    pub addr: String,
    pub log: Arc<Mutex<Vec<String>>>,
}

impl AeonProcess {
    /// Spawns a prepared `aeon` command (see [`aeon_serving`]) and waits until it logs
    /// the address it listens on; its stderr keeps being collected.
    pub fn spawn(command: &mut Command) -> AeonProcess {
        Self::spawn_teed(command, None)
    }

    /// [`AeonProcess::spawn`], every line also appended to `tee` (kept across restarts,
    /// for a long run's diagnosis).
    pub fn spawn_teed(command: &mut Command, tee: Option<&Path>) -> AeonProcess {
        let mut tee = tee.and_then(|path| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .ok()
                .map(std::io::BufWriter::new)
        });
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start aeon");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let lines = log.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if let Some(addr) = line.split("listening addr=").nth(1) {
                    let _ = tx.send(addr.trim().to_string());
                }
                if let Some(file) = tee.as_mut() {
                    use std::io::Write;
                    let _ = writeln!(file, "{line}").and_then(|()| file.flush());
                }
                lines.lock().expect("log lines").push(line);
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|e| {
                let lines = log.lock().map(|l| l.join("\n")).unwrap_or_default();
                panic!("aeon did not log the address it listens on ({e}); its log:\n{lines}")
            });
        AeonProcess { child, addr, log }
    }

    /// How many lines it logged so far contain `text`.
    pub fn log_lines_containing(&self, text: &str) -> usize {
        self.log
            .lock()
            .expect("log lines")
            .iter()
            .filter(|l| l.contains(text))
            .count()
    }

    /// Kills it at once (SIGKILL), as a crash would.
    pub fn sigkill(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }

    /// Sends SIGTERM and checks that it exits, successfully, within `within`.
    pub fn sigterm(&mut self, within: Duration) {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .expect("kill");
        assert!(status.success());
        let deadline = Instant::now() + within;
        let exit = loop {
            if let Some(s) = self.child.try_wait().expect("wait") {
                break s;
            }
            assert!(Instant::now() < deadline, "aeon did not exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(exit.success(), "clean exit: {exit}");
    }
}

impl Drop for AeonProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
