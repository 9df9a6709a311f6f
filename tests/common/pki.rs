//! A test certificate authority (rcgen) and TLS client connections (rustls) for tests
//! of SSL, mTLS and SASL_SSL listeners; PEM files for the client matrix's scripts.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A PEM certificate (or chain, leaf first) and its private key.
#[derive(Clone)]
pub struct CertKey {
    pub cert_pem: String,
    pub key_pem: String,
    der: CertificateDer<'static>,
    key_der: Vec<u8>,
}

impl CertKey {
    /// The (leaf) certificate, as a TLS peer presents it.
    pub fn der(&self) -> &CertificateDer<'static> {
        &self.der
    }
}

/// A CA that issues server and client certificates.
pub struct Pki {
    pub ca_pem: String,
    ca_der: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
}

impl Default for Pki {
    fn default() -> Self {
        Self::new()
    }
}

impl Pki {
    pub fn new() -> Self {
        let key = KeyPair::generate().expect("key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "Aeon test CA");
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).expect("CA");
        Pki {
            ca_pem: cert.pem(),
            ca_der: cert.der().clone(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A server certificate for localhost and 127.0.0.1 named `cn`; its chain holds the CA.
    pub fn server(&self, cn: &str) -> CertKey {
        let mut params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
                .expect("params");
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let mut issued = self.issue(params);
        issued.cert_pem.push_str(&self.ca_pem);
        issued
    }

    /// A client certificate whose subject is `CN=<cn>,O=Aeon test` (as Java prints it).
    pub fn client(&self, cn: &str) -> CertKey {
        self.issue(client_params(cn))
    }

    fn issue(&self, params: CertificateParams) -> CertKey {
        let key = KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &self.issuer).expect("sign");
        CertKey {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().clone(),
            key_der: key.serialize_der(),
        }
    }

    /// Writes the CA, and `server`'s chain and key as one keystore file, into `dir`:
    /// (ca.pem, server.pem).
    pub fn write(&self, dir: &Path, server: &CertKey) -> (PathBuf, PathBuf) {
        let ca = dir.join("ca.pem");
        std::fs::write(&ca, &self.ca_pem).expect("ca.pem");
        let keystore = dir.join("server.pem");
        write_keystore(&keystore, server);
        (ca, keystore)
    }

    /// A client trusting this CA, presenting `cert` if given.
    pub fn client_config(&self, cert: Option<&CertKey>) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        roots.add(self.ca_der.clone()).expect("root");
        let builder =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .expect("versions")
                .with_root_certificates(roots);
        Arc::new(match cert {
            Some(c) => builder
                .with_client_auth_cert(
                    vec![c.der.clone()],
                    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(c.key_der.clone())),
                )
                .expect("client cert"),
            None => builder.with_no_client_auth(),
        })
    }
}

/// A client certificate no CA of the broker's signed.
pub fn self_signed_client(cn: &str) -> CertKey {
    let key = KeyPair::generate().expect("key");
    let cert = client_params(cn).self_signed(&key).expect("self-signed");
    CertKey {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        der: cert.der().clone(),
        key_der: key.serialize_der(),
    }
}

fn client_params(cn: &str) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::OrganizationName, "Aeon test");
    params.distinguished_name.push(DnType::CommonName, cn);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params
}

/// Replaces a keystore file (chain then key) atomically, as an operator's tool would.
pub fn write_keystore(path: &Path, server: &CertKey) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, format!("{}{}", server.cert_pem, server.key_pem)).expect("keystore");
    std::fs::rename(&tmp, path).expect("rename");
}

/// A TLS connection to `addr` (as 127.0.0.1), handshake done; reads and writes time out
/// as [`super::connect`]'s do.
pub fn tls_connect(
    addr: &str,
    config: Arc<ClientConfig>,
) -> std::io::Result<StreamOwned<ClientConnection, TcpStream>> {
    let tcp = super::connect(addr);
    let name = ServerName::try_from("127.0.0.1").expect("name");
    let conn = ClientConnection::new(config, name).map_err(std::io::Error::other)?;
    let mut stream = StreamOwned::new(conn, tcp);
    while stream.conn.is_handshaking() {
        stream.conn.complete_io(&mut stream.sock)?;
    }
    Ok(stream)
}
