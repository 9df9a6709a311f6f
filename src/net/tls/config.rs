//! Kafka's `ssl.*` keys, parsed and checked: [`TlsConfig`], and [`TlsError`].

use std::fmt;
use std::path::PathBuf;

use rustls::crypto::ring;
use rustls::SupportedProtocolVersion;

pub(super) const KEYSTORE_TYPE: &str = "ssl.keystore.type";
pub(super) const KEYSTORE_LOCATION: &str = "ssl.keystore.location";
pub(super) const KEYSTORE_CHAIN: &str = "ssl.keystore.certificate.chain";
pub(super) const KEYSTORE_KEY: &str = "ssl.keystore.key";
pub(super) const KEY_PASSWORD: &str = "ssl.key.password";
pub(super) const TRUSTSTORE_TYPE: &str = "ssl.truststore.type";
pub(super) const TRUSTSTORE_LOCATION: &str = "ssl.truststore.location";
pub(super) const TRUSTSTORE_CERTS: &str = "ssl.truststore.certificates";
pub(super) const CLIENT_AUTH: &str = "ssl.client.auth";
pub(super) const ENABLED_PROTOCOLS: &str = "ssl.enabled.protocols";
pub(super) const CIPHER_SUITES: &str = "ssl.cipher.suites";
pub(super) const NO_KEYSTORE: &str =
    "give ssl.keystore.location, or ssl.keystore.certificate.chain and ssl.keystore.key";

/// Errors from parsing TLS settings or loading key material; each names the Kafka key at fault.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A store type other than PEM.
    #[error("{key}={value:?} is not supported: only PEM is supported")]
    UnsupportedStoreType { key: &'static str, value: String },
    /// Two mutually exclusive keys are both set.
    #[error("{0} and {1} are both set; give exactly one")]
    Conflict(&'static str, &'static str),
    /// A required key is missing.
    #[error("{key} must be set: {reason}")]
    Missing {
        key: &'static str,
        reason: &'static str,
    },
    /// `ssl.key.password` is set.
    #[error(
        "{KEY_PASSWORD}: encrypted private keys are not supported; give an unencrypted PEM key"
    )]
    EncryptedKey,
    /// A value that cannot be parsed or is not supported.
    #[error("{key}: invalid value {value:?}: {reason}")]
    InvalidValue {
        key: &'static str,
        value: String,
        reason: String,
    },
    /// A file named by a `*.location` key cannot be read.
    #[error("{key}: cannot read {}: {source}", path.display())]
    Io {
        key: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// PEM text without the expected items, or with unusable ones.
    #[error("{key}: {reason}")]
    Pem { key: &'static str, reason: String },
    /// rustls rejected the material or the settings.
    #[error("{key}: {source}")]
    Rustls {
        key: &'static str,
        source: rustls::Error,
    },
    /// The client certificate verifier could not be built from the trust store.
    #[error("{key}: {source}")]
    Verifier {
        key: &'static str,
        source: rustls::server::VerifierBuilderError,
    },
    /// The client certificate could not be parsed to read its subject.
    #[error("client certificate: {0}")]
    PeerCertificate(String),
}

/// PEM text given inline or as a file path.
#[derive(Clone)]
pub enum PemSource {
    /// PEM text from the config value itself.
    Inline(String),
    /// Path of a PEM file, read when a config is built.
    File(PathBuf),
}

impl fmt::Debug for PemSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Inline(text) => write!(f, "Inline(<{} bytes>)", text.len()),
            Self::File(path) => f.debug_tuple("File").field(path).finish(),
        }
    }
}

/// Where the server's certificate chain and private key come from.
#[derive(Clone)]
pub enum KeyStore {
    /// `ssl.keystore.certificate.chain` and `ssl.keystore.key`.
    Inline { chain: String, key: String },
    /// `ssl.keystore.location`: one PEM file holding the chain and the key.
    File(PathBuf),
}

impl fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Inline { chain, .. } => {
                write!(
                    f,
                    "Inline {{ chain: <{} bytes>, key: <redacted> }}",
                    chain.len()
                )
            }
            Self::File(path) => f.debug_tuple("File").field(path).finish(),
        }
    }
}

/// `ssl.client.auth`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ClientAuth {
    /// No client certificate is asked for.
    #[default]
    None,
    /// A client certificate is verified if sent, but optional.
    Requested,
    /// A verified client certificate is mandatory.
    Required,
}

/// A TLS version from `ssl.enabled.protocols`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsVersion {
    /// `TLSv1.2`
    Tls12,
    /// `TLSv1.3`
    Tls13,
}

impl TlsVersion {
    pub(super) fn rustls(self) -> &'static SupportedProtocolVersion {
        match self {
            Self::Tls12 => &rustls::version::TLS12,
            Self::Tls13 => &rustls::version::TLS13,
        }
    }
}

/// Parsed and validated TLS settings of one listener.
#[derive(Clone, Debug)]
pub struct TlsConfig {
    /// Server certificate chain and key.
    pub keystore: KeyStore,
    /// CA certificates for client certificates; required unless `client_auth` is `None`.
    pub truststore: Option<PemSource>,
    /// Whether client certificates are asked for.
    pub client_auth: ClientAuth,
    /// Enabled TLS versions, never empty.
    pub protocols: Vec<TlsVersion>,
    /// IANA cipher suite names; empty means all of ring's suites.
    pub cipher_suites: Vec<String>,
}

impl TlsConfig {
    /// Reads Kafka's `ssl.*` keys through `get` (empty values count as unset) and validates them.
    ///
    /// Returns `Ok(None)` when none of the key store, key password or trust store keys is set.
    /// An unset `ssl.keystore.type` or `ssl.truststore.type` means PEM.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, TlsError> {
        let get = |key: &str| {
            get(key)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let store_keys = [
            KEYSTORE_TYPE,
            KEYSTORE_LOCATION,
            KEYSTORE_CHAIN,
            KEYSTORE_KEY,
            KEY_PASSWORD,
            TRUSTSTORE_TYPE,
            TRUSTSTORE_LOCATION,
            TRUSTSTORE_CERTS,
        ];
        if store_keys.iter().all(|k| get(k).is_none()) {
            return Ok(None);
        }
        for key in [KEYSTORE_TYPE, TRUSTSTORE_TYPE] {
            if let Some(value) = get(key).filter(|v| !v.eq_ignore_ascii_case("PEM")) {
                return Err(TlsError::UnsupportedStoreType { key, value });
            }
        }
        if get(KEY_PASSWORD).is_some() {
            return Err(TlsError::EncryptedKey);
        }
        use TlsError::Conflict;
        let keystore = match (
            get(KEYSTORE_LOCATION),
            get(KEYSTORE_CHAIN),
            get(KEYSTORE_KEY),
        ) {
            (Some(path), None, None) => Ok(KeyStore::File(path.into())),
            (None, Some(chain), Some(key)) => Ok(KeyStore::Inline { chain, key }),
            (Some(_), Some(_), _) => Err(Conflict(KEYSTORE_LOCATION, KEYSTORE_CHAIN)),
            (Some(_), None, Some(_)) => Err(Conflict(KEYSTORE_LOCATION, KEYSTORE_KEY)),
            (None, Some(_), None) => Err(missing(KEYSTORE_KEY, "the chain has no key")),
            (None, None, Some(_)) => Err(missing(KEYSTORE_CHAIN, "the key has no chain")),
            (None, None, None) => Err(missing(KEYSTORE_LOCATION, NO_KEYSTORE)),
        }?;
        let truststore = match (get(TRUSTSTORE_LOCATION), get(TRUSTSTORE_CERTS)) {
            (Some(_), Some(_)) => Err(Conflict(TRUSTSTORE_LOCATION, TRUSTSTORE_CERTS)),
            (Some(path), None) => Ok(Some(PemSource::File(path.into()))),
            (None, Some(text)) => Ok(Some(PemSource::Inline(text))),
            (None, None) => Ok(None),
        }?;
        let client_auth = match get(CLIENT_AUTH) {
            None => ClientAuth::None,
            Some(v) => match v.to_ascii_lowercase().as_str() {
                "none" => ClientAuth::None,
                "requested" => ClientAuth::Requested,
                "required" => ClientAuth::Required,
                _ => return Err(invalid(CLIENT_AUTH, v, "use none, requested or required")),
            },
        };
        if client_auth != ClientAuth::None && truststore.is_none() {
            let reason =
                "ssl.client.auth needs ssl.truststore.location or ssl.truststore.certificates";
            return Err(missing(TRUSTSTORE_LOCATION, reason));
        }
        let protocols_value = get(ENABLED_PROTOCOLS).unwrap_or_else(|| "TLSv1.2,TLSv1.3".into());
        let mut protocols = Vec::new();
        for name in list(&protocols_value) {
            let version = match name.to_ascii_lowercase().as_str() {
                "tlsv1.2" => TlsVersion::Tls12,
                "tlsv1.3" => TlsVersion::Tls13,
                _ => {
                    let reason = format!("unknown protocol {name:?}; supported: TLSv1.2, TLSv1.3");
                    return Err(invalid(ENABLED_PROTOCOLS, protocols_value.clone(), reason));
                }
            };
            if !protocols.contains(&version) {
                protocols.push(version);
            }
        }
        if protocols.is_empty() {
            return Err(invalid(
                ENABLED_PROTOCOLS,
                protocols_value,
                "no protocol given",
            ));
        }
        let mut cipher_suites = Vec::new();
        if let Some(value) = get(CIPHER_SUITES) {
            for name in list(&value) {
                if !ring_suites().any(|(iana, _)| iana.eq_ignore_ascii_case(name)) {
                    let reason = format!(
                        "unknown cipher suite {name:?}; supported: {}",
                        ring_suites().map(|(n, _)| n).collect::<Vec<_>>().join(", ")
                    );
                    return Err(invalid(CIPHER_SUITES, value.clone(), reason));
                }
                cipher_suites.push(name.to_ascii_uppercase());
            }
        }
        Ok(Some(Self {
            keystore,
            truststore,
            client_auth,
            protocols,
            cipher_suites,
        }))
    }
}

pub(super) fn invalid(key: &'static str, value: String, reason: impl Into<String>) -> TlsError {
    TlsError::InvalidValue {
        key,
        value,
        reason: reason.into(),
    }
}

pub(super) fn missing(key: &'static str, reason: &'static str) -> TlsError {
    TlsError::Missing { key, reason }
}

pub(super) fn list(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(str::trim).filter(|s| !s.is_empty())
}

/// ring's cipher suites with their IANA names (rustls spells TLS 1.3 ones `TLS13_*`).
pub(super) fn ring_suites() -> impl Iterator<Item = (String, rustls::SupportedCipherSuite)> {
    ring::ALL_CIPHER_SUITES.iter().filter_map(|suite| {
        let name = suite.suite().as_str()?;
        let iana = match name.strip_prefix("TLS13_") {
            Some(rest) => format!("TLS_{rest}"),
            None => name.to_owned(),
        };
        Some((iana, *suite))
    })
}
