//! `listeners` and `advertised.listeners`: one `PLAINTEXT://host:port` or `host:port`.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

use super::error::ConfigError;

/// What `listeners` accepts, for error messages.
pub const EXPECTED: &str = "PLAINTEXT://host:port or host:port";
/// What `advertised.listeners` accepts, for error messages.
pub const EXPECTED_ADVERTISED: &str =
    "PLAINTEXT://host:port or host:port with a routable host and a port > 0";

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

/// Parses one listener for key `key`. `advertised` rejects port 0 and 0.0.0.0 / ::,
/// which mean nothing to a client.
pub fn parse(key: &str, raw: &str, advertised: bool) -> Result<Listener, ConfigError> {
    let expected = if advertised {
        EXPECTED_ADVERTISED
    } else {
        EXPECTED
    };
    let bad = || ConfigError::invalid(key, expected, raw);
    let value = raw.trim();
    if value.contains(',') {
        return Err(ConfigError::Unsupported {
            key: key.to_owned(),
            reason: format!("only one listener is supported, got {raw:?}"),
        });
    }
    let address = match value.split_once("://") {
        Some((protocol, address)) if protocol.eq_ignore_ascii_case("PLAINTEXT") => address,
        Some((protocol, _)) => {
            return Err(ConfigError::Unsupported {
                key: key.to_owned(),
                reason: format!("only PLAINTEXT listeners are supported, got {protocol:?}"),
            })
        }
        None => value,
    };
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
        parse("listeners", raw, false).unwrap_or_else(|e| panic!("{raw}: {e}"))
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
            let err = parse("listeners", raw, false).expect_err(raw);
            assert!(err.to_string().contains("\"listeners\""), "{raw}: {err}");
        }
        let err = parse("listeners", "SSL://h:1", false).expect_err("ssl");
        assert!(err.to_string().contains("only PLAINTEXT"), "{err}");
        let err = parse("listeners", "a:1,b:2", false).expect_err("two");
        assert!(err.to_string().contains("only one listener"), "{err}");
    }

    #[test]
    fn advertised_listener_rejects_port_zero_and_unspecified_host() {
        assert!(parse("advertised.listeners", "host:0", true).is_err());
        assert!(parse("advertised.listeners", "0.0.0.0:9092", true).is_err());
        assert!(parse("advertised.listeners", "broker.example:9092", true).is_ok());
    }

    #[test]
    fn resolve_handles_ip_literals_and_localhost() {
        let ip = resolve("listeners", &ok("127.0.0.1:0")).map_err(|e| e.to_string());
        assert_eq!(ip, Ok("127.0.0.1:0".parse().expect("literal")));
        let local = resolve("listeners", &ok("localhost:9092")).map_err(|e| e.to_string());
        assert!(local.is_ok_and(|a| a.ip().is_loopback() && a.port() == 9092));
    }
}
