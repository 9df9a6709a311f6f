//! The idempotent producer through a TCP proxy that cuts every connection again and
//! again: the producer retries, and the broker's per-producer sequence state keeps the
//! log free of duplicates and gaps.

mod common;

use common::{consume, send_all, TestBroker};
use rdkafka::producer::{BaseRecord, Producer};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Forwards connections to `target`; `cut()` closes every open one.
struct Proxy {
    addr: SocketAddr,
    target: Arc<Mutex<Option<SocketAddr>>>,
    generation: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

fn pump(
    mut from: TcpStream,
    mut to: TcpStream,
    generation: Arc<AtomicU64>,
    born: u64,
    stop: Arc<AtomicBool>,
) {
    let _ = from.set_read_timeout(Some(Duration::from_millis(20)));
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if generation.load(Ordering::Relaxed) != born || stop.load(Ordering::Relaxed) {
            break;
        }
        match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
    let _ = from.shutdown(std::net::Shutdown::Both);
    let _ = to.shutdown(std::net::Shutdown::Both);
}

impl Proxy {
    fn start() -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let addr = listener.local_addr().expect("addr");
        let target: Arc<Mutex<Option<SocketAddr>>> = Arc::new(Mutex::new(None));
        let generation = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (t, g, s) = (target.clone(), generation.clone(), stop.clone());
        listener.set_nonblocking(true).expect("nonblocking");
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let client = match listener.accept() {
                    Ok((c, _)) => c,
                    Err(_) => {
                        std::thread::sleep(Duration::from_millis(5));
                        continue;
                    }
                };
                let _ = client.set_nonblocking(false);
                let Some(target) = *t.lock().expect("target") else {
                    continue;
                };
                let Ok(server) = TcpStream::connect(target) else {
                    continue;
                };
                let born = g.load(Ordering::Relaxed);
                let (c2, s2) = (
                    client.try_clone().expect("clone"),
                    server.try_clone().expect("clone"),
                );
                let (g1, g2, s1, s3) = (g.clone(), g.clone(), s.clone(), s.clone());
                std::thread::spawn(move || pump(client, server, g1, born, s1));
                std::thread::spawn(move || pump(s2, c2, g2, born, s3));
            }
        });
        Proxy {
            addr,
            target,
            generation,
            stop,
        }
    }

    fn cut(&self) {
        self.generation.fetch_add(1, Ordering::Relaxed);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[test]
fn an_idempotent_producer_whose_connections_are_cut_leaves_no_duplicates_and_no_gaps() {
    let proxy = Proxy::start();
    let advertised = format!("PLAINTEXT://{}", proxy.addr);
    let broker = TestBroker::start_with(move |c| {
        c.set("advertised.listeners", &advertised)
            .expect("advertised")
    });
    *proxy.target.lock().expect("target") = broker.bootstrap().parse().ok();
    broker.create_topic("exactly", 3);

    let producer = common::producer_with(
        broker
            .client_config()
            .set("bootstrap.servers", proxy.addr.to_string()),
        &[
            ("enable.idempotence", "true"),
            ("linger.ms", "2"),
            ("batch.num.messages", "50"),
            ("message.timeout.ms", "120000"),
            ("retry.backoff.ms", "10"),
            ("reconnect.backoff.ms", "10"),
        ],
    );

    // The connections are cut right after each chunk is handed to the producer, while
    // that chunk is still unacknowledged: the cuts land mid-flight however fast the
    // machine is, so retries (and the duplicates they would cause) are certain.
    let n = 15_000usize;
    let values: Vec<String> = (0..n).map(|i| format!("{i}")).collect();
    let mut cuts = 0;
    for (c, chunk) in values.chunks(500).enumerate() {
        send_all(
            &producer,
            chunk.iter().enumerate().map(|(i, v)| {
                BaseRecord::<[u8], [u8]>::to("exactly")
                    .partition(((c * 500 + i) % 3) as i32)
                    .payload(v.as_bytes())
            }),
        );
        producer.poll(Duration::from_millis(2));
        if producer.context().acked.load(Ordering::Relaxed) < (c + 1) * 500 {
            proxy.cut();
            cuts += 1;
        }
    }
    producer
        .flush(Duration::from_secs(60))
        .expect("all messages acknowledged");
    assert_eq!(producer.context().failed.load(Ordering::Relaxed), 0);
    assert!(
        cuts >= 10,
        "the connections were cut while messages were in flight ({cuts} cuts)"
    );

    let consumer = broker.consumer("exactly", 3);
    let got = consume(&consumer, n, Duration::from_secs(30));
    assert_eq!(got.len(), n, "no losses ({cuts} cuts)");
    assert!(
        consume(&consumer, 1, Duration::from_secs(2)).is_empty(),
        "no duplicates ({cuts} cuts)"
    );
    for p in 0..3 {
        let seq: Vec<usize> = got
            .iter()
            .filter(|g| g.partition == p)
            .map(|g| {
                String::from_utf8_lossy(g.value.as_deref().unwrap_or_default())
                    .parse()
                    .expect("number")
            })
            .collect();
        let expected: Vec<usize> = (0..n).filter(|i| i % 3 == p as usize).collect();
        assert_eq!(seq, expected, "partition {p}: every message once, in order");
    }
}
