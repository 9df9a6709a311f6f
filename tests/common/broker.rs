//! A real broker in this process on 127.0.0.1:0 with a temporary data directory,
//! stopped (cleanly) on drop, and rdkafka clients configured for it.

use super::clients::{
    assigned_consumer, client_config, create_topic_with, producer_with, Deliveries,
};
use aeon::config::Config;
use aeon::Broker;
use rdkafka::admin::{AdminClient, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::BaseConsumer;
use rdkafka::producer::BaseProducer;
use tempfile::TempDir;

pub struct TestBroker {
    broker: Option<Broker>,
    pub dir: TempDir,
    tweak: Box<dyn Fn(&mut Config)>,
}

pub fn test_config(dir: &std::path::Path) -> Config {
    let mut c = Config::default();
    c.set("listeners", "127.0.0.1:0").expect("listeners");
    c.set("log.dirs", &dir.to_string_lossy()).expect("log.dirs");
    c.set("num.network.threads", "2").expect("threads");
    // No operations listener unless a test asks for one (tests run side by side).
    c.set("metrics.listener", "").expect("metrics listener");
    c.set("log.segment.bytes", "8388608")
        .expect("segment bytes");
    // Removed segments' files go at once, so tests that measure disk use see it.
    c.set("log.segment.delete.delay.ms", "0")
        .expect("delete delay");
    c
}

/// An INTERNAL PLAINTEXT listener (first: the bootstrap) and a CLIENTS SASL_PLAINTEXT
/// one with every mechanism on.
pub fn sasl_listeners(c: &mut Config) {
    c.set(
        "listener.security.protocol.map",
        "INTERNAL:PLAINTEXT,CLIENTS:SASL_PLAINTEXT",
    )
    .expect("map");
    c.set("listeners", "INTERNAL://127.0.0.1:0,CLIENTS://127.0.0.1:0")
        .expect("listeners");
    c.set(
        "sasl.enabled.mechanisms",
        "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
    )
    .expect("mechanisms");
}

impl TestBroker {
    pub fn start() -> Self {
        Self::start_with(|_| {})
    }

    pub fn start_with(tweak: impl Fn(&mut Config) + 'static) -> Self {
        // RUST_LOG=aeon=debug shows the broker's log in a failing test's output.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = test_config(dir.path());
        tweak(&mut config);
        let broker = Broker::start(config).expect("broker starts");
        TestBroker {
            broker: Some(broker),
            dir,
            tweak: Box::new(tweak),
        }
    }

    pub fn bootstrap(&self) -> String {
        self.broker
            .as_ref()
            .expect("running")
            .local_addr()
            .to_string()
    }

    /// The operations listener's address; the broker must have been started with a
    /// `metrics.listener`.
    /// The address listener `name` is bound to.
    pub fn listener_addr(&self, name: &str) -> std::net::SocketAddr {
        self.broker
            .as_ref()
            .and_then(|b| b.listener_addrs().iter().find(|(n, _)| n == name))
            .map(|(_, addr)| *addr)
            .unwrap_or_else(|| panic!("no listener {name}"))
    }

    pub fn metrics_addr(&self) -> std::net::SocketAddr {
        self.broker
            .as_ref()
            .and_then(Broker::metrics_addr)
            .expect("a broker with metrics.listener set")
    }

    /// How many responses this broker failed to encode: always a broker bug.
    pub fn response_encode_failures(&self) -> u64 {
        self.broker
            .as_ref()
            .map_or(0, |b| b.metrics().response_encode_failures())
    }

    /// Stops the broker cleanly; [`TestBroker::restart`] starts it again. Every test
    /// thereby checks that the broker encoded every response it built.
    pub fn stop(&mut self) {
        if let Some(b) = self.broker.take() {
            let failures = b.metrics().response_encode_failures();
            b.stop();
            if !std::thread::panicking() {
                assert_eq!(
                    failures, 0,
                    "responses the broker failed to encode (see its ERROR log)"
                );
            }
        }
    }

    /// Stops the broker cleanly (if it runs) and starts it again on the same data (a new
    /// port unless the test fixed one).
    pub fn restart(&mut self) {
        self.stop();
        let mut config = test_config(self.dir.path());
        (self.tweak)(&mut config);
        self.broker = Some(Broker::start(config).expect("broker restarts"));
    }

    /// A client config for this broker, with timeouts that fail a test rather than
    /// hang it.
    pub fn client_config(&self) -> ClientConfig {
        let mut c = client_config(&self.bootstrap());
        c.set("socket.timeout.ms", "10000")
            .set("message.timeout.ms", "20000");
        c
    }

    pub fn admin(&self) -> AdminClient<DefaultClientContext> {
        self.client_config().create().expect("admin client")
    }

    pub fn producer(&self, extra: &[(&str, &str)]) -> BaseProducer<Deliveries> {
        let mut c = self.client_config();
        c.set("linger.ms", "5");
        producer_with(&c, extra)
    }

    /// A consumer without a group: partitions are assigned from the beginning.
    pub fn consumer(&self, topic: &str, partitions: i32) -> BaseConsumer {
        assigned_consumer(
            self.client_config()
                .set("group.id", "aeon-test-unused")
                .set("enable.auto.commit", "false")
                .set("enable.auto.offset.store", "false"),
            topic,
            partitions,
        )
    }

    pub fn create_topic(&self, name: &str, partitions: i32) {
        self.create_topic_with(&NewTopic::new(name, partitions, TopicReplication::Fixed(1)));
    }

    /// Creates `topic` (with its configs); panics unless it is created.
    pub fn create_topic_with(&self, topic: &NewTopic<'_>) {
        create_topic_with(&self.admin(), topic);
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A free port on 127.0.0.1, so a restarted broker (in this process or the binary)
/// listens where clients expect it.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Kafka's StandardAuthorizer on, the anonymous clients of PLAINTEXT listeners super
/// users (the operator's door).
pub fn acls_on(c: &mut Config) {
    c.set(
        "authorizer.class.name",
        "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
    )
    .expect("authorizer");
    c.set("super.users", "User:ANONYMOUS").expect("super users");
}

/// TLS from PEM files: the broker's `keystore` (chain and key) and the `ca` its clients'
/// certificates must chain to; a client certificate's CN is its user name.
pub fn tls_keys(c: &mut Config, keystore: &std::path::Path, ca: &std::path::Path) {
    c.set("ssl.keystore.location", &keystore.to_string_lossy())
        .expect("keystore");
    c.set("ssl.truststore.location", &ca.to_string_lossy())
        .expect("truststore");
    c.set(
        "ssl.principal.mapping.rules",
        "RULE:^CN=([^,]+),.*$/$1/,DEFAULT",
    )
    .expect("rules");
}
