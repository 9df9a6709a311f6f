//! The `aeon` binary as a child process, for tests of what only the binary does
//! (command line, signals, a process that dies).

use std::sync::Arc;
use std::time::Duration;

/// The `aeon` binary as a command, without the test harness's own `AEON_*` variables
/// (`AEON_REQUIRE_SHARED`, ...): the broker reads every `AEON_*` variable as a config
/// key and refuses the ones it does not know.
pub fn aeon_command() -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_aeon"));
    for (name, _) in std::env::vars() {
        if name.starts_with("AEON_") {
            command.env_remove(name);
        }
    }
    command
}

/// A running `aeon` binary: its address (read from its log) and every log line so far.
pub struct SpawnedAeon {
    pub child: std::process::Child,
    pub addr: String,
    pub log: Arc<std::sync::Mutex<Vec<String>>>,
}

/// Spawns a prepared `aeon` command (give it `--listen 127.0.0.1:0`) and waits until it
/// logs the address it listens on; its stderr keeps being collected.
pub fn spawn_aeon(mut command: std::process::Command) -> SpawnedAeon {
    use std::io::BufRead;
    let mut child = command
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start aeon");
    let stderr = child.stderr.take().expect("stderr");
    let log = Arc::new(std::sync::Mutex::new(Vec::new()));
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
            lines.lock().expect("log lines").push(line);
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("aeon logs the address it listens on");
    SpawnedAeon { child, addr, log }
}
