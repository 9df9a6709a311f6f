//! The client matrix: real clients of several kinds drive a broker of this process
//! through the scripts in `tests/clients/`, one script per client (see its README).
//! Each script prints `ok <check>` / `FAIL <check>: <why>` lines and exits non-zero if
//! any check failed; the test fails with the script's output. The broker must also
//! have encoded every response it built (a failed encode closes the client's
//! connection, which clients often survive by reconnecting, so it is counted, not
//! guessed from the scripts' results).
//!
//! `bash tests/clients/install.sh` installs the clients. Where one is missing the test
//! says so and passes over it, unless `AEON_REQUIRE_CLIENTS=1` (set by `.ci/run`), which
//! makes a missing client a failure.

mod common;

use common::TestBroker;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// No script may take longer than this against a working broker (they take seconds).
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(300);

fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients")
}

fn on_path(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// `Some(command)` to run the script, or `None` (after saying why) when its client is
/// not installed and the run does not require it.
fn client(interpreter: &str, script: &str, installed: bool, install_hint: &str) -> Option<Command> {
    if !installed {
        let why = format!("{script}: client not installed ({install_hint})");
        if std::env::var_os("AEON_REQUIRE_CLIENTS").is_some_and(|v| v == "1") {
            panic!("{why}; AEON_REQUIRE_CLIENTS=1 requires it");
        }
        eprintln!("SKIPPED {why}; run `bash tests/clients/install.sh`");
        return None;
    }
    let mut command = Command::new(interpreter);
    command.arg(clients_dir().join(script));
    Some(command)
}

/// One script at a time: five clients and five brokers at once on two cores starve
/// the clients' own threads and make client-side races (kafka-python 3.0's lost IO
/// wakeup, see `keep_awake` in its script) far likelier than any user would see them.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn run_matrix_script(command: Option<Command>) {
    run_script_against(command, Listeners::Plaintext);
}

/// What the script connects to.
enum Listeners {
    /// One PLAINTEXT listener, given as the script's argument.
    Plaintext,
    /// ACLs on; a SASL_PLAINTEXT listener with every mechanism on, given as the
    /// argument; a PLAINTEXT one for administration (its anonymous clients super users)
    /// in `AEON_ADMIN_BOOTSTRAP`; an mTLS SSL listener in `AEON_SSL` and a SASL_SSL one
    /// in `AEON_SASL_SSL`, with the CA and a client certificate's PEM files.
    Secure,
}

/// The broker settings and the script's environment of [`Listeners::Secure`]: a CA and
/// certificates written to `dir`.
fn secure_setup(
    dir: &Path,
) -> (
    impl Fn(&mut aeon::config::Config) + 'static,
    Vec<(&'static str, String)>,
) {
    let pki = common::Pki::new();
    let (ca, keystore) = pki.write(dir, &pki.server("aeon-matrix"));
    let client = pki.client("matrix-cert-user");
    let (cert, key) = (dir.join("client.pem"), dir.join("client.key"));
    std::fs::write(&cert, &client.cert_pem).expect("client cert");
    std::fs::write(&key, &client.key_pem).expect("client key");
    let tweak = move |c: &mut aeon::config::Config| {
        common::tls_keys(c, &keystore, &ca);
        c.set("ssl.client.auth", "required").expect("client auth");
        c.set(
            "listener.security.protocol.map",
            "INTERNAL:PLAINTEXT,CLIENTS:SASL_PLAINTEXT,TLS:SSL,SASLTLS:SASL_SSL",
        )
        .expect("map");
        c.set(
            "listeners",
            "INTERNAL://127.0.0.1:0,CLIENTS://127.0.0.1:0,TLS://127.0.0.1:0,SASLTLS://127.0.0.1:0",
        )
        .expect("listeners");
        c.set(
            "sasl.enabled.mechanisms",
            "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
        )
        .expect("mechanisms");
        common::acls_on(c);
    };
    let env = vec![
        ("AEON_CA", dir.join("ca.pem").to_string_lossy().into_owned()),
        ("AEON_CLIENT_CERT", cert.to_string_lossy().into_owned()),
        ("AEON_CLIENT_KEY", key.to_string_lossy().into_owned()),
        ("AEON_CLIENT_CN", "matrix-cert-user".to_owned()),
    ];
    (tweak, env)
}

fn run_script_against(command: Option<Command>, listeners: Listeners) {
    let Some(mut command) = command else {
        return;
    };
    let secure = matches!(listeners, Listeners::Secure);
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let pem_dir = tempfile::tempdir().expect("dir");
    let (secure_tweak, env) = secure_setup(pem_dir.path());
    let broker = TestBroker::start_with(move |c| {
        if secure {
            secure_tweak(c);
        }
        c.set("group.initial.rebalance.delay.ms", "0").expect("set");
        c.set("offsets.topic.num.partitions", "5").expect("set");
        c.set("transaction.state.log.num.partitions", "5")
            .expect("set");
    });
    let started = Instant::now();
    if secure {
        command
            .arg(broker.listener_addr("CLIENTS").to_string())
            .env("AEON_ADMIN_BOOTSTRAP", broker.bootstrap())
            .env("AEON_SSL", broker.listener_addr("TLS").to_string())
            .env("AEON_SASL_SSL", broker.listener_addr("SASLTLS").to_string())
            .envs(env);
    } else {
        command.arg(broker.bootstrap());
    }
    let mut child = command
        .current_dir(clients_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script starts");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break Some(status);
        }
        if started.elapsed() > SCRIPT_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let (out, err) = (
        out.join().unwrap_or_default(),
        err.join().unwrap_or_default(),
    );
    // Shown by `cargo test -- --nocapture`, and with any failure.
    println!("{out}");
    let report = format!("--- stdout\n{out}\n--- stderr\n{err}");
    let Some(status) = status else {
        panic!("the script ran past {SCRIPT_TIMEOUT:?}\n{report}");
    };
    assert!(status.success(), "the script failed ({status})\n{report}");
    assert!(
        out.lines().any(|l| l.starts_with("ok ")) && !out.contains("FAIL "),
        "the script passed no check, or failed one\n{report}"
    );
    assert_eq!(
        broker.response_encode_failures(),
        0,
        "the broker failed to encode responses during the run\n{report}"
    );
}

fn python(script: &str) -> Option<Command> {
    let venv = clients_dir().join(".venv/bin/python");
    client(
        &venv.to_string_lossy(),
        script,
        venv.exists(),
        "tests/clients/.venv",
    )
}

/// confluent-kafka (librdkafka) and kafka-python with ACLs on: over SASL_PLAINTEXT and
/// SASL_SSL with PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512, and over SSL with a client
/// certificate (mTLS): a user made with AlterUserScramCredentials is refused until
/// CreateAcls grants it, then produce, a consumer group and a transaction; a wrong
/// password refused.
#[test]
fn security_with_confluent_kafka_and_kafka_python() {
    run_script_against(python("secure_clients.py"), Listeners::Secure);
}

#[test]
fn confluent_kafka_python() {
    run_matrix_script(python("confluent_kafka_client.py"));
}

#[test]
fn kafka_python() {
    run_matrix_script(python("kafka_python_client.py"));
}

#[test]
fn aiokafka() {
    run_matrix_script(python("aiokafka_client.py"));
}

#[test]
fn kafkajs() {
    let installed = on_path("node") && clients_dir().join("node_modules/kafkajs").exists();
    run_matrix_script(client(
        "node",
        "kafkajs_client.js",
        installed,
        "node and tests/clients/node_modules",
    ));
}

#[test]
fn kcat() {
    let installed = Command::new("kcat")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    run_matrix_script(client("bash", "kcat_client.sh", installed, "Debian's kcat"));
}
