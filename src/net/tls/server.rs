//! The key material read from PEM (inline or files) and the rustls `ServerConfig` built
//! from it.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::Path;
use std::sync::Arc;

use rustls::crypto::ring;
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::*;

/// The bytes behind a config: read once, then both hashed and parsed.
pub(super) struct Material {
    chain: Vec<u8>,
    key: Vec<u8>,
    trust: Option<Vec<u8>>,
}

impl Material {
    pub(super) fn load(cfg: &TlsConfig) -> Result<Self, TlsError> {
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

    pub(super) fn fingerprint(&self) -> u64 {
        let mut hasher = DefaultHasher::new();
        (&self.chain, &self.key, &self.trust).hash(&mut hasher);
        hasher.finish()
    }
}

pub(super) fn read(key: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Io {
        key,
        path: path.to_owned(),
        source,
    })
}

pub(super) fn pem_error(key: &'static str, err: pem::Error) -> TlsError {
    TlsError::Pem {
        key,
        reason: format!("invalid PEM: {err}"),
    }
}

pub(super) fn parse_certs(
    key: &'static str,
    bytes: &[u8],
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
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

pub(super) fn parse_key(
    key: &'static str,
    bytes: &[u8],
) -> Result<PrivateKeyDer<'static>, TlsError> {
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
#[cfg(test)]
pub fn server_config(cfg: &TlsConfig) -> Result<Arc<ServerConfig>, TlsError> {
    build(cfg, &Material::load(cfg)?, cfg.client_auth)
}

/// The config `cfg` and `material` make, asking clients for certificates as
/// `client_auth` says (`cfg.client_auth` for SSL listeners; none for SASL_SSL ones).
pub(super) fn build(
    cfg: &TlsConfig,
    material: &Material,
    client_auth: ClientAuth,
) -> Result<Arc<ServerConfig>, TlsError> {
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
    let builder = match (client_auth, roots) {
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
