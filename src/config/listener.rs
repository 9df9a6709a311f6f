//! `listeners`, `advertised.listeners` and `listener.security.protocol.map`, with
//! Kafka's grammar: a comma-separated list of `NAME://host:port` (a bare `host:port` is
//! the PLAINTEXT listener), each name mapped to a security protocol.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

use super::error::ConfigError;

/// What `listeners` accepts, for error messages.
pub const EXPECTED: &str = "a comma-separated list of NAME://host:port (or host:port)";
/// What `advertised.listeners` accepts, for error messages.
pub const EXPECTED_ADVERTISED: &str =
    "a comma-separated list of NAME://host:port with a routable host and a port > 0";
/// What `listener.security.protocol.map` accepts, for error messages.
pub const EXPECTED_MAP: &str = "a comma-separated list of NAME:PROTOCOL, PROTOCOL one of \
     PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL";
/// What `metrics.listener` accepts.
const EXPECTED_ONE: &str = "host:port";

/// Kafka's security protocols: whether a listener speaks TLS, and whether its clients
/// authenticate with SASL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecurityProtocol {
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl SecurityProtocol {
    pub const ALL: [SecurityProtocol; 4] = [
        SecurityProtocol::Plaintext,
        SecurityProtocol::Ssl,
        SecurityProtocol::SaslPlaintext,
        SecurityProtocol::SaslSsl,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }

    /// As Kafka, case-insensitive.
    /// Kafka's id of the protocol (`SecurityProtocol.id`).
    pub fn id(self) -> i16 {
        match self {
            SecurityProtocol::Plaintext => 0,
            SecurityProtocol::Ssl => 1,
            SecurityProtocol::SaslPlaintext => 2,
            SecurityProtocol::SaslSsl => 3,
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(name))
    }

    /// Clients of this protocol authenticate with SASL before anything else.
    pub fn uses_sasl(self) -> bool {
        matches!(
            self,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        )
    }

    /// Connections of this protocol are TLS.
    pub fn uses_tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }
}

/// One entry of `listeners` or `advertised.listeners`: its name (upper case, as Kafka
/// normalises it) and address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedListener {
    pub name: String,
    pub listener: Listener,
}

/// Parses a list of listeners for key `key`: `NAME://host:port` entries (a bare
/// `host:port` is named PLAINTEXT), names unique. `advertised` rejects port 0 and
/// 0.0.0.0 / ::, which mean nothing to a client.
pub fn parse_list(
    key: &str,
    raw: &str,
    advertised: bool,
) -> Result<Vec<NamedListener>, ConfigError> {
    let expected = if advertised {
        EXPECTED_ADVERTISED
    } else {
        EXPECTED
    };
    let mut out: Vec<NamedListener> = Vec::new();
    for entry in raw.split(',').map(str::trim) {
        let (name, address) = match entry.split_once("://") {
            Some((name, address)) => (name.to_ascii_uppercase(), address),
            None => ("PLAINTEXT".to_owned(), entry),
        };
        let valid_name = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !valid_name {
            return Err(ConfigError::invalid(key, expected, raw));
        }
        let listener = parse_address(key, address, advertised, expected, raw)?;
        if out.iter().any(|l| l.name == name) {
            return Err(ConfigError::Unsupported {
                key: key.to_owned(),
                reason: format!("listener name {name} appears twice in {raw:?}"),
            });
        }
        out.push(NamedListener { name, listener });
    }
    Ok(out)
}

/// Parses `listener.security.protocol.map`: listener name -> security protocol.
pub fn parse_protocol_map(
    key: &str,
    raw: &str,
) -> Result<Vec<(String, SecurityProtocol)>, ConfigError> {
    let bad = || ConfigError::invalid(key, EXPECTED_MAP, raw);
    let mut out: Vec<(String, SecurityProtocol)> = Vec::new();
    for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (name, protocol) = entry.split_once(':').ok_or_else(bad)?;
        let name = name.trim().to_ascii_uppercase();
        let protocol = SecurityProtocol::from_name(protocol.trim()).ok_or_else(bad)?;
        if name.is_empty() || out.iter().any(|(n, _)| *n == name) {
            return Err(bad());
        }
        out.push((name, protocol));
    }
    Ok(out)
}

/// A parsed listener: the host as written (brackets removed) and the port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    pub host: String,
    pub port: u16,
}

impl Listener {
    /// True for 0.0.0.0 and ::, which a client cannot connect to.
    pub fn is_unspecified(&self) -> bool {
        self.host
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_unspecified())
    }
}

/// Parses one `host:port` (the operations listener's).
pub fn parse(key: &str, raw: &str) -> Result<Listener, ConfigError> {
    parse_address(key, raw.trim(), false, EXPECTED_ONE, raw)
}

/// Parses `host:port` (`[v6]:port`; an empty host is every interface).
fn parse_address(
    key: &str,
    address: &str,
    advertised: bool,
    expected: &str,
    raw: &str,
) -> Result<Listener, ConfigError> {
    let bad = || ConfigError::invalid(key, expected, raw);
    let (host, port) = address.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    let host = match host.strip_prefix('[') {
        Some(bracketed) => {
            let inner = bracketed.strip_suffix(']').ok_or_else(bad)?;
            inner.parse::<std::net::Ipv6Addr>().map_err(|_| bad())?;
            inner
        }
        // An unbracketed IPv6 address would be ambiguous with the port separator.
        None if host.contains(':') => return Err(bad()),
        None => host,
    };
    let host = if host.is_empty() { "0.0.0.0" } else { host };
    if host.chars().any(char::is_whitespace) {
        return Err(bad());
    }
    let listener = Listener {
        host: host.to_owned(),
        port,
    };
    if advertised && (port == 0 || listener.is_unspecified()) {
        return Err(bad());
    }
    Ok(listener)
}

/// Resolves a listener to the address to bind, preferring IPv4 when a name has both.
pub fn resolve(key: &str, listener: &Listener) -> Result<SocketAddr, ConfigError> {
    if let Ok(ip) = listener.host.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, listener.port));
    }
    let unresolvable = || {
        ConfigError::invalid(
            key,
            "a host name that resolves",
            &format!("{}:{}", listener.host, listener.port),
        )
    };
    let addrs: Vec<SocketAddr> = (listener.host.as_str(), listener.port)
        .to_socket_addrs()
        .map_err(|_| unresolvable())?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| addrs.first())
        .copied()
        .ok_or_else(unresolvable)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(raw: &str) -> Listener {
        let mut list = parse_list("listeners", raw, false).unwrap_or_else(|e| panic!("{raw}: {e}"));
        assert_eq!(list.len(), 1);
        list.remove(0).listener
    }

    #[test]
    fn listener_accepts_plaintext_url_and_bare_host_port() {
        assert_eq!(ok("PLAINTEXT://127.0.0.1:9092"), ok("127.0.0.1:9092"));
        assert_eq!(ok("plaintext://localhost:9093").host, "localhost");
        assert_eq!(ok("[::1]:9092").host, "::1");
    }

    #[test]
    fn listener_port_zero_is_allowed_for_binding() {
        assert_eq!(ok("127.0.0.1:0").port, 0);
    }

    #[test]
    fn listener_empty_host_means_all_interfaces() {
        let l = ok("PLAINTEXT://:9092");
        assert_eq!(l.host, "0.0.0.0");
        assert!(l.is_unspecified());
    }

    #[test]
    fn listener_rejects_bad_input_naming_the_key() {
        for raw in [
            "127.0.0.1",
            "127.0.0.1:99999",
            "127.0.0.1:abc",
            "::1:9092",
            "[::1:9092",
            "",
        ] {
            let err = parse_list("listeners", raw, false).expect_err(raw);
            assert!(err.to_string().contains("\"listeners\""), "{raw}: {err}");
        }
        let err = parse_list("listeners", "A://h:1,a://h:2", false).expect_err("twice");
        assert!(err.to_string().contains("appears twice"), "{err}");
        assert!(parse_list("listeners", "A B://h:1", false).is_err());
    }

    #[test]
    fn advertised_listener_rejects_port_zero_and_unspecified_host() {
        assert!(parse_list("advertised.listeners", "host:0", true).is_err());
        assert!(parse_list("advertised.listeners", "0.0.0.0:9092", true).is_err());
        assert!(parse_list("advertised.listeners", "broker.example:9092", true).is_ok());
    }

    #[test]
    fn resolve_handles_ip_literals_and_localhost() {
        let ip = resolve("listeners", &ok("127.0.0.1:0")).map_err(|e| e.to_string());
        assert_eq!(ip, Ok("127.0.0.1:0".parse().expect("literal")));
        let local = resolve("listeners", &ok("localhost:9092")).map_err(|e| e.to_string());
        assert!(local.is_ok_and(|a| a.ip().is_loopback() && a.port() == 9092));
    }

    #[test]
    fn several_named_listeners_and_their_protocols() {
        let list = parse_list(
            "listeners",
            "PLAINTEXT://127.0.0.1:9092, sasl_plaintext://0.0.0.0:9093,INTERNAL://[::1]:0",
            false,
        )
        .expect("three");
        let names: Vec<&str> = list.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["PLAINTEXT", "SASL_PLAINTEXT", "INTERNAL"]);
        assert_eq!(list[2].listener.host, "::1");
        let map = parse_protocol_map("m", "INTERNAL:SASL_PLAINTEXT, external:ssl").expect("map");
        assert_eq!(
            map,
            [
                ("INTERNAL".to_owned(), SecurityProtocol::SaslPlaintext),
                ("EXTERNAL".to_owned(), SecurityProtocol::Ssl)
            ]
        );
        for bad in ["A", "A:KERBEROS", "A:SSL,A:PLAINTEXT", ":SSL"] {
            assert!(parse_protocol_map("m", bad).is_err(), "{bad}");
        }
    }
}
