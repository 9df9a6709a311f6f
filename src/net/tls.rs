//! TLS listeners with rustls, configured with Kafka's `ssl.*` keys (PEM only, as in KIP-651).
//!
//! [`TlsConfig::from_lookup`] parses and validates the keys, [`server_config`] builds a
//! rustls `ServerConfig`, [`TlsAcceptorSource`] keeps the current one and reloads it when the
//! key or trust material changes, and [`peer_subject`] gives the client certificate's subject
//! DN as Java's `X500Principal.getName()` prints it.

use std::fmt;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use arc_swap::ArcSwap;
use rustls::crypto::ring;
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, ServerConnection, SupportedProtocolVersion};
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use x509_parser::asn1_rs::{Any, Class, Tag};
use x509_parser::x509::{AttributeTypeAndValue, X509Name};

const KEYSTORE_TYPE: &str = "ssl.keystore.type";
const KEYSTORE_LOCATION: &str = "ssl.keystore.location";
const KEYSTORE_CHAIN: &str = "ssl.keystore.certificate.chain";
const KEYSTORE_KEY: &str = "ssl.keystore.key";
const KEY_PASSWORD: &str = "ssl.key.password";
const TRUSTSTORE_TYPE: &str = "ssl.truststore.type";
const TRUSTSTORE_LOCATION: &str = "ssl.truststore.location";
const TRUSTSTORE_CERTS: &str = "ssl.truststore.certificates";
const CLIENT_AUTH: &str = "ssl.client.auth";
const ENABLED_PROTOCOLS: &str = "ssl.enabled.protocols";
const CIPHER_SUITES: &str = "ssl.cipher.suites";
const NO_KEYSTORE: &str =
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
    fn rustls(self) -> &'static SupportedProtocolVersion {
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

fn invalid(key: &'static str, value: String, reason: impl Into<String>) -> TlsError {
    TlsError::InvalidValue {
        key,
        value,
        reason: reason.into(),
    }
}

fn missing(key: &'static str, reason: &'static str) -> TlsError {
    TlsError::Missing { key, reason }
}

fn list(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(str::trim).filter(|s| !s.is_empty())
}

/// ring's cipher suites with their IANA names (rustls spells TLS 1.3 ones `TLS13_*`).
fn ring_suites() -> impl Iterator<Item = (String, rustls::SupportedCipherSuite)> {
    ring::ALL_CIPHER_SUITES.iter().filter_map(|suite| {
        let name = suite.suite().as_str()?;
        let iana = match name.strip_prefix("TLS13_") {
            Some(rest) => format!("TLS_{rest}"),
            None => name.to_owned(),
        };
        Some((iana, *suite))
    })
}

/// The bytes behind a config: read once, then both hashed and parsed.
struct Material {
    chain: Vec<u8>,
    key: Vec<u8>,
    trust: Option<Vec<u8>>,
}

impl Material {
    fn load(cfg: &TlsConfig) -> Result<Self, TlsError> {
        let (chain, key) = match &cfg.keystore {
            KeyStore::Inline { chain, key } => {
                (chain.clone().into_bytes(), key.clone().into_bytes())
            }
            KeyStore::File(path) => {
                let bytes = read(KEYSTORE_LOCATION, path)?;
                (bytes.clone(), bytes)
            }
        };
        let trust = match &cfg.truststore {
            None => None,
            Some(PemSource::Inline(text)) => Some(text.clone().into_bytes()),
            Some(PemSource::File(path)) => Some(read(TRUSTSTORE_LOCATION, path)?),
        };
        Ok(Self { chain, key, trust })
    }

    fn fingerprint(&self) -> u64 {
        let mut hasher = DefaultHasher::new();
        (&self.chain, &self.key, &self.trust).hash(&mut hasher);
        hasher.finish()
    }
}

fn read(key: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Io {
        key,
        path: path.to_owned(),
        source,
    })
}

fn pem_error(key: &'static str, err: pem::Error) -> TlsError {
    TlsError::Pem {
        key,
        reason: format!("invalid PEM: {err}"),
    }
}

fn parse_certs(key: &'static str, bytes: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(key, e))?;
    if certs.is_empty() {
        return Err(TlsError::Pem {
            key,
            reason: "no CERTIFICATE found".into(),
        });
    }
    Ok(certs)
}

fn parse_key(key: &'static str, bytes: &[u8]) -> Result<PrivateKeyDer<'static>, TlsError> {
    let text = String::from_utf8_lossy(bytes);
    if text.contains("ENCRYPTED PRIVATE KEY") || text.contains("Proc-Type: 4,ENCRYPTED") {
        let reason = "encrypted private keys are not supported; give an unencrypted PEM key";
        return Err(TlsError::Pem {
            key,
            reason: reason.into(),
        });
    }
    PrivateKeyDer::from_pem_slice(bytes).map_err(|err| match err {
        pem::Error::NoItemsFound => TlsError::Pem {
            key,
            reason: "no private key found (expected PKCS#8, PKCS#1 or SEC1 PEM)".into(),
        },
        err => pem_error(key, err),
    })
}

/// Builds a rustls server config from `cfg`, reading any files now.
pub fn server_config(cfg: &TlsConfig) -> Result<Arc<ServerConfig>, TlsError> {
    build(cfg, &Material::load(cfg)?)
}

fn build(cfg: &TlsConfig, material: &Material) -> Result<Arc<ServerConfig>, TlsError> {
    let mut provider = ring::default_provider();
    if !cfg.cipher_suites.is_empty() {
        // In the configured order, which is the server's preference.
        let by_name = |name: &String| ring_suites().find(|(n, _)| n == name).map(|(_, s)| s);
        provider.cipher_suites = cfg.cipher_suites.iter().filter_map(by_name).collect();
    }
    // Like JSSE, a version none of whose suites is enabled is left out.
    let versions: Vec<_> = cfg
        .protocols
        .iter()
        .map(|v| v.rustls())
        .filter(|v| provider.cipher_suites.iter().any(|s| s.version() == *v))
        .collect();
    if versions.is_empty() {
        let reason = "no enabled cipher suite belongs to an enabled protocol";
        return Err(match cfg.cipher_suites.is_empty() {
            true => invalid(ENABLED_PROTOCOLS, format!("{:?}", cfg.protocols), reason),
            false => invalid(CIPHER_SUITES, cfg.cipher_suites.join(","), reason),
        });
    }
    let provider = Arc::new(provider);
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|source| TlsError::Rustls {
            key: ENABLED_PROTOCOLS,
            source,
        })?;
    let trust_key = match cfg.truststore {
        Some(PemSource::File(_)) => TRUSTSTORE_LOCATION,
        _ => TRUSTSTORE_CERTS,
    };
    let roots = match &material.trust {
        Some(bytes) => {
            let mut roots = RootCertStore::empty();
            for cert in parse_certs(trust_key, bytes)? {
                roots.add(cert).map_err(|source| TlsError::Rustls {
                    key: trust_key,
                    source,
                })?;
            }
            Some(Arc::new(roots))
        }
        None => None,
    };
    let builder = match (cfg.client_auth, roots) {
        (ClientAuth::None, _) => builder.with_no_client_auth(),
        (_, None) => {
            return Err(missing(
                TRUSTSTORE_LOCATION,
                "ssl.client.auth needs a trust store",
            ))
        }
        (auth, Some(roots)) => {
            let mut verifier = WebPkiClientVerifier::builder_with_provider(roots, provider);
            if auth == ClientAuth::Requested {
                verifier = verifier.allow_unauthenticated();
            }
            let verifier = verifier.build().map_err(|source| TlsError::Verifier {
                key: trust_key,
                source,
            })?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let (chain_key, key_key) = match cfg.keystore {
        KeyStore::File(_) => (KEYSTORE_LOCATION, KEYSTORE_LOCATION),
        KeyStore::Inline { .. } => (KEYSTORE_CHAIN, KEYSTORE_KEY),
    };
    let certs = parse_certs(chain_key, &material.chain)?;
    let key = parse_key(key_key, &material.key)?;
    let config = builder
        .with_single_cert(certs, key)
        .map_err(|source| TlsError::Rustls {
            key: key_key,
            source,
        })?;
    Ok(Arc::new(config))
}

/// Holds the current `ServerConfig`; reloads when key/trust files change.
pub struct TlsAcceptorSource {
    cfg: TlsConfig,
    current: ArcSwap<ServerConfig>,
    state: Mutex<ReloadState>,
}

impl fmt::Debug for TlsAcceptorSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsAcceptorSource")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

struct ReloadState {
    /// Fingerprint of the material behind `current`.
    loaded: u64,
    /// The last failure warned about, to warn once per distinct failure.
    warned: Option<String>,
}

impl TlsAcceptorSource {
    /// Loads `cfg` now; fails if its material is unusable.
    pub fn new(cfg: TlsConfig) -> Result<Arc<Self>, TlsError> {
        let material = Material::load(&cfg)?;
        let config = build(&cfg, &material)?;
        Ok(Arc::new(Self {
            cfg,
            current: ArcSwap::new(config),
            state: Mutex::new(ReloadState {
                loaded: material.fingerprint(),
                warned: None,
            }),
        }))
    }

    /// An acceptor for the current config; connections keep the config they started with.
    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(self.current.load_full())
    }

    /// Rereads the key and trust material and rebuilds the config if its content changed.
    ///
    /// Returns `Ok(true)` if reloaded. On bad new material the old config stays, a warning is
    /// logged (once per distinct content) and the error is returned.
    pub fn reload_if_changed(&self) -> Result<bool, TlsError> {
        self.reload_inner(false)
    }

    /// Rebuilds the config unconditionally; on error the old config stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        self.reload_inner(true).map(|_| ())
    }

    fn reload_inner(&self, force: bool) -> Result<bool, TlsError> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let result = Material::load(&self.cfg).and_then(|material| {
            let fingerprint = material.fingerprint();
            if !force && fingerprint == state.loaded {
                return Ok(None);
            }
            let config = build(&self.cfg, &material)?;
            Ok(Some((fingerprint, config)))
        });
        match result {
            Ok(None) => {
                state.warned = None;
                Ok(false)
            }
            Ok(Some((fingerprint, config))) => {
                self.current.store(config);
                state.loaded = fingerprint;
                state.warned = None;
                tracing::info!("TLS key material reloaded");
                Ok(true)
            }
            Err(e) => {
                let warning = e.to_string();
                if force || state.warned.as_ref() != Some(&warning) {
                    tracing::warn!(error = %e, "TLS reload failed; keeping the previous configuration");
                }
                state.warned = Some(warning);
                Err(e)
            }
        }
    }

    /// Spawns a tokio task calling [`Self::reload_if_changed`] every `period` until `self` is
    /// dropped. Does nothing (but warn) outside a tokio runtime.
    pub fn watch(self: &Arc<Self>, period: Duration) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!("no tokio runtime; TLS key material will not be watched");
            return;
        };
        let weak: Weak<Self> = Arc::downgrade(self);
        runtime.spawn(async move {
            let mut interval = tokio::time::interval(period.max(Duration::from_millis(1)));
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            interval.tick().await;
            loop {
                interval.tick().await;
                let Some(source) = weak.upgrade() else { break };
                // File reads block; errors are already logged by reload_if_changed.
                let _ = tokio::task::spawn_blocking(move || source.reload_if_changed()).await;
            }
        });
    }
}

/// The subject DN of the verified client certificate in RFC 2253 form, as Java's
/// `X500Principal.getName()` prints it, or `None` if the client sent no certificate.
///
/// A certificate that cannot be parsed also gives `None` (with a warning); use
/// [`try_peer_subject`] to tell that case apart and fail closed.
pub fn peer_subject(conn: &ServerConnection) -> Option<String> {
    try_peer_subject(conn).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "cannot read the client certificate subject");
        None
    })
}

/// Like [`peer_subject`], but an unparsable certificate is an error.
pub fn try_peer_subject(conn: &ServerConnection) -> Result<Option<String>, TlsError> {
    let Some(leaf) = conn.peer_certificates().and_then(|c| c.first()) else {
        return Ok(None);
    };
    let (_, cert) = x509_parser::parse_x509_certificate(leaf.as_ref())
        .map_err(|e| TlsError::PeerCertificate(e.to_string()))?;
    Ok(Some(rfc2253(cert.subject())))
}

/// Formats a name like Java's `X500Name.getRFC2253Name()`: RDNs from the last in DER (most
/// specific) to the first, AVAs of a multi-valued RDN joined with '+' in DER order.
fn rfc2253(name: &X509Name<'_>) -> String {
    let rdns: Vec<String> = name
        .iter()
        .map(|rdn| rdn.iter().map(ava).collect::<Vec<_>>().join("+"))
        .collect();
    rdns.into_iter().rev().collect::<Vec<_>>().join(",")
}

/// One AVA as OpenJDK's `sun.security.x509.AVA.toRFC2253String` prints it: only the
/// RFC 2253 keywords of `AVAKeyword` (CN C L ST O OU STREET DC UID) are names; any other type,
/// emailAddress (1.2.840.113549.1.9.1) included, is its dotted OID with `#` and the value's DER
/// in lowercase hex, as is a keyword type whose value is not a string type.
fn ava(ava: &AttributeTypeAndValue<'_>) -> String {
    let oid = ava.attr_type().to_id_string();
    let keyword = match oid.as_str() {
        "2.5.4.3" => Some("CN"),
        "2.5.4.6" => Some("C"),
        "2.5.4.7" => Some("L"),
        "2.5.4.8" => Some("ST"),
        "2.5.4.9" => Some("STREET"),
        "2.5.4.10" => Some("O"),
        "2.5.4.11" => Some("OU"),
        "0.9.2342.19200300.100.1.25" => Some("DC"),
        "0.9.2342.19200300.100.1.1" => Some("UID"),
        _ => None,
    };
    let value = ava.attr_value();
    // AVA.isDerString(value, false); Java then decodes the content bytes as UTF-8 whatever the
    // string type.
    let is_string = value.header.class() == Class::Universal
        && value.header.is_primitive()
        && [
            Tag::PrintableString,
            Tag::T61String,
            Tag::Ia5String,
            Tag::GeneralString,
            Tag::BmpString,
            Tag::Utf8String,
        ]
        .contains(&value.header.tag());
    match keyword {
        Some(keyword) if is_string => {
            format!("{keyword}={}", escape(&String::from_utf8_lossy(value.data)))
        }
        _ => {
            let hex: String = der(value).iter().map(|b| format!("{b:02x}")).collect();
            format!("{}=#{hex}", keyword.unwrap_or(&oid))
        }
    }
}

/// Java's escaping: `,=+<>#;"\` get a backslash anywhere, NUL becomes `\00`, and leading or
/// trailing spaces and CRs get a backslash each.
fn escape(value: &str) -> String {
    let mut chars = Vec::with_capacity(value.len());
    for c in value.chars() {
        match c {
            ',' | '=' | '+' | '<' | '>' | '#' | ';' | '"' | '\\' => chars.extend(['\\', c]),
            '\0' => chars.extend(['\\', '0', '0']),
            _ => chars.push(c),
        }
    }
    let blank = |c: &char| *c == ' ' || *c == '\r';
    let lead = chars.iter().take_while(|c| blank(c)).count();
    let trail = chars.len() - chars.iter().rev().take_while(|c| blank(c)).count();
    let mut out = String::with_capacity(chars.len() + 4);
    for (i, c) in chars.into_iter().enumerate() {
        if i < lead || i >= trail {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// DER encoding (tag, length, content) of a parsed value.
fn der(value: &Any<'_>) -> Vec<u8> {
    let header = &value.header;
    let mut out = Vec::with_capacity(value.data.len() + 6);
    match header.raw_tag() {
        Some(raw) => out.extend_from_slice(raw),
        None => {
            let id = ((header.class() as u8) << 6) | if header.is_constructed() { 0x20 } else { 0 };
            let tag = header.tag().0;
            if tag < 31 {
                out.push(id | tag as u8);
            } else {
                out.push(id | 0x1f);
                let groups = (0..5).rev().map(|i| (tag >> (7 * i)) as u8 & 0x7f);
                let groups: Vec<u8> = groups.skip_while(|g| *g == 0).collect();
                let last = groups.len() - 1;
                out.extend(
                    groups
                        .iter()
                        .enumerate()
                        .map(|(i, g)| if i < last { g | 0x80 } else { *g }),
                );
            }
        }
    }
    let len = value.data.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(value.data);
    out
}

#[cfg(test)]
#[path = "tls_tests.rs"]
mod tests;
