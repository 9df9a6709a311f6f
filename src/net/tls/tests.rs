use super::*;
use std::sync::Arc;
use std::time::Duration;

use rustls::crypto::ring;
use rustls::RootCertStore;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use x509_parser::x509::X509Name;

use std::collections::BTreeMap;
use std::net::SocketAddr;

use rcgen::string::{Ia5String, PrintableString};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, DnValue,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::{CipherSuite, ClientConfig, ProtocolVersion};
use rustls_pki_types::{PrivatePkcs8KeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::timeout;
use tokio_rustls::client::TlsStream;

const WAIT: Duration = Duration::from_secs(10);

type ClientCert = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

/// A test CA that issues server and client certificates.
struct Pki {
    ca_pem: String,
    ca_der: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
}

impl Pki {
    fn new() -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "Test CA");
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).unwrap();
        Self {
            ca_pem: cert.pem(),
            ca_der: cert.der().clone(),
            issuer: Issuer::new(params, key),
        }
    }

    /// (chain PEM with leaf first, key PEM) for localhost and 127.0.0.1.
    fn server(&self, cn: &str) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
        let mut params = CertificateParams::new(names).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem() + &self.ca_pem, key.serialize_pem())
    }

    fn client(&self, dn: &[(DnType, &str)]) -> ClientCert {
        let key = KeyPair::generate().unwrap();
        let params = client_params(dn);
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (vec![cert.der().clone()], pkcs8(&key))
    }
}

fn client_params(dn: &[(DnType, &str)]) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    // `new` presets CN; start from an empty name so that the DER order is the given one.
    params.distinguished_name = DistinguishedName::new();
    for (ty, value) in dn {
        params.distinguished_name.push(ty.clone(), *value);
    }
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params
}

fn pkcs8(key: &KeyPair) -> PrivateKeyDer<'static> {
    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()))
}

fn self_signed_client() -> ClientCert {
    let key = KeyPair::generate().unwrap();
    let cert = client_params(&[(DnType::CommonName, "mallory")])
        .self_signed(&key)
        .unwrap();
    (vec![cert.der().clone()], pkcs8(&key))
}

fn lookup(pairs: &[(&str, &str)]) -> Result<Option<TlsConfig>, TlsError> {
    let map: BTreeMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    TlsConfig::from_lookup(|key| map.get(key).cloned())
}

fn source(pairs: &[(&str, &str)]) -> Arc<TlsAcceptorSource> {
    TlsAcceptorSource::new(lookup(pairs).unwrap().unwrap()).unwrap()
}

fn client_config(pki: &Pki, cert: Option<ClientCert>) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(pki.ca_der.clone()).unwrap();
    let builder = ClientConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    Arc::new(match cert {
        Some((chain, key)) => builder.with_client_auth_cert(chain, key).unwrap(),
        None => builder.with_no_client_auth(),
    })
}

/// What the server saw of one connection: the peer subject, or the accept error.
type Outcome = Result<Option<String>, String>;

/// Accepts connections with `source`'s current acceptor, reports each, and echoes data.
async fn serve(source: Arc<TlsAcceptorSource>) -> (SocketAddr, mpsc::UnboundedReceiver<Outcome>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, tx) = (source.acceptor(false), tx.clone());
            tokio::spawn(async move {
                let mut tls = match acceptor.accept(tcp).await {
                    Ok(tls) => tls,
                    Err(e) => return drop(tx.send(Err(e.to_string()))),
                };
                let _ = tx.send(Ok(try_peer_subject(tls.get_ref().1).unwrap()));
                let mut buf = [0u8; 1024];
                while let Ok(n @ 1..) = tls.read(&mut buf).await {
                    if tls.write_all(&buf[..n]).await.is_err() || tls.flush().await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    (addr, rx)
}

async fn next(rx: &mut mpsc::UnboundedReceiver<Outcome>) -> Outcome {
    timeout(WAIT, rx.recv())
        .await
        .expect("server outcome")
        .expect("server running")
}

async fn connect(
    addr: SocketAddr,
    cfg: Arc<ClientConfig>,
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost").unwrap();
    timeout(
        WAIT,
        tokio_rustls::TlsConnector::from(cfg).connect(name, tcp),
    )
    .await
    .expect("handshake hung")
}

async fn echo(stream: &mut TlsStream<TcpStream>) -> std::io::Result<()> {
    stream.write_all(b"ping").await?;
    stream.flush().await?;
    let mut buf = [0u8; 4];
    timeout(WAIT, stream.read_exact(&mut buf))
        .await
        .expect("echo hung")?;
    assert_eq!(&buf, b"ping");
    Ok(())
}

/// The DN of the certificate the server presented.
fn server_dn(stream: &TlsStream<TcpStream>) -> String {
    let certs = stream.get_ref().1.peer_certificates().unwrap();
    let (_, cert) = x509_parser::parse_x509_certificate(certs[0].as_ref()).unwrap();
    rfc2253(cert.subject())
}

#[test]
fn config_validation() {
    let err = |pairs: &[(&str, &str)]| lookup(pairs).unwrap_err().to_string();
    let inline = [(KEYSTORE_CHAIN, "chain"), (KEYSTORE_KEY, "SECRET-KEY")];
    let with = |extra: &[(&'static str, &'static str)]| [&inline[..], extra].concat();

    assert!(lookup(&[]).unwrap().is_none());
    assert!(
        lookup(&[(CLIENT_AUTH, "required"), (KEYSTORE_LOCATION, " ")])
            .unwrap()
            .is_none()
    );

    let e = err(&with(&[(KEYSTORE_TYPE, "JKS")]));
    assert!(
        e.contains("ssl.keystore.type") && e.contains("JKS") && e.contains("only PEM"),
        "{e}"
    );
    let e = err(&with(&[(TRUSTSTORE_TYPE, "PKCS12")]));
    assert!(
        e.contains("ssl.truststore.type") && e.contains("PKCS12"),
        "{e}"
    );
    let e = err(&with(&[(KEYSTORE_LOCATION, "/x.pem")]));
    assert!(
        e.contains(KEYSTORE_LOCATION) && e.contains(KEYSTORE_CHAIN),
        "{e}"
    );
    let e = err(&[(KEYSTORE_TYPE, "PEM")]);
    assert!(
        e.contains(KEYSTORE_LOCATION) && e.contains(KEYSTORE_KEY),
        "{e}"
    );
    let e = err(&[(KEYSTORE_CHAIN, "chain")]);
    assert!(e.contains(KEYSTORE_KEY), "{e}");
    let e = err(&with(&[(KEY_PASSWORD, "secret")]));
    assert!(
        e.contains("ssl.key.password") && e.contains("encrypted private keys are not supported")
    );
    let e = err(&with(&[(CLIENT_AUTH, "required")]));
    assert!(e.contains("ssl.truststore.location"), "{e}");
    let e = err(&with(&[(CLIENT_AUTH, "sometimes")]));
    assert!(e.contains(CLIENT_AUTH), "{e}");
    let e = err(&with(&[
        (TRUSTSTORE_LOCATION, "/ca.pem"),
        (TRUSTSTORE_CERTS, "ca"),
    ]));
    assert!(
        e.contains(TRUSTSTORE_LOCATION) && e.contains(TRUSTSTORE_CERTS),
        "{e}"
    );
    let e = err(&with(&[(ENABLED_PROTOCOLS, "TLSv1.2,TLSv1.1")]));
    assert!(
        e.contains(ENABLED_PROTOCOLS) && e.contains("TLSv1.1"),
        "{e}"
    );
    let e = err(&with(&[(CIPHER_SUITES, "TLS_RSA_WITH_RC4_128_MD5")]));
    assert!(e.contains(CIPHER_SUITES) && e.contains("RC4"), "{e}");

    let cfg = lookup(&with(&[
        (KEYSTORE_TYPE, "pem"),
        (CLIENT_AUTH, "Requested"),
        (TRUSTSTORE_CERTS, "ca"),
    ]))
    .unwrap()
    .unwrap();
    assert_eq!(cfg.protocols, [TlsVersion::Tls12, TlsVersion::Tls13]);
    assert_eq!(cfg.client_auth, ClientAuth::Requested);
    assert!(cfg.cipher_suites.is_empty());
    assert!(
        !format!("{cfg:?}").contains("SECRET"),
        "key material must not be printed"
    );
    let cfg = lookup(&with(&[(CIPHER_SUITES, " tls_aes_128_gcm_sha256 ,")]))
        .unwrap()
        .unwrap();
    assert_eq!(cfg.cipher_suites, ["TLS_AES_128_GCM_SHA256"]);
}

#[test]
fn material_errors() {
    let pki = Pki::new();
    let (chain, key) = pki.server("server");
    let build = |pairs: &[(&str, &str)]| server_config(&lookup(pairs).unwrap().unwrap());

    let e = build(&[(KEYSTORE_LOCATION, "/nonexistent/server.pem")]).unwrap_err();
    assert!(matches!(e, TlsError::Io { .. }) && e.to_string().contains("/nonexistent/server.pem"));
    let e = build(&[(KEYSTORE_CHAIN, "garbage"), (KEYSTORE_KEY, &key)]).unwrap_err();
    assert!(e.to_string().contains(KEYSTORE_CHAIN), "{e}");
    let e = build(&[(KEYSTORE_CHAIN, &chain), (KEYSTORE_KEY, &chain)]).unwrap_err();
    assert!(e.to_string().contains("no private key"), "{e}");
    let encrypted =
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n";
    let e = build(&[(KEYSTORE_CHAIN, &chain), (KEYSTORE_KEY, encrypted)]).unwrap_err();
    assert!(
        e.to_string()
            .contains("encrypted private keys are not supported"),
        "{e}"
    );
    let (_, other_key) = pki.server("other");
    let e = build(&[(KEYSTORE_CHAIN, &chain), (KEYSTORE_KEY, &other_key)]).unwrap_err();
    assert!(
        matches!(
            e,
            TlsError::Rustls {
                key: KEYSTORE_KEY,
                ..
            }
        ),
        "{e}"
    );
    let e = build(&[
        (KEYSTORE_CHAIN, &chain),
        (KEYSTORE_KEY, &key),
        (CLIENT_AUTH, "required"),
        (TRUSTSTORE_CERTS, "x"),
    ])
    .unwrap_err();
    assert!(e.to_string().contains(TRUSTSTORE_CERTS), "{e}");
    assert!(build(&[(KEYSTORE_CHAIN, &chain), (KEYSTORE_KEY, &key)]).is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_inline_and_file() {
    let pki = Pki::new();
    let (chain, key) = pki.server("server");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("server.pem");
    std::fs::write(&path, format!("{key}{chain}")).unwrap();
    let path = path.to_str().unwrap();
    for pairs in [
        vec![(KEYSTORE_CHAIN, chain.as_str()), (KEYSTORE_KEY, &key)],
        vec![(KEYSTORE_LOCATION, path)],
    ] {
        let (addr, mut rx) = serve(source(&pairs)).await;
        let mut stream = connect(addr, client_config(&pki, None)).await.unwrap();
        echo(&mut stream).await.unwrap();
        assert_eq!(server_dn(&stream), "CN=server");
        assert_eq!(next(&mut rx).await, Ok(None));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mtls_required() {
    let pki = Pki::new();
    let (chain, key) = pki.server("server");
    let src = source(&[
        (KEYSTORE_CHAIN, &chain),
        (KEYSTORE_KEY, &key),
        (TRUSTSTORE_CERTS, &pki.ca_pem),
        (CLIENT_AUTH, "required"),
    ]);
    let (addr, mut rx) = serve(src).await;

    let alice = pki.client(&[
        (DnType::OrganizationName, "Acme"),
        (DnType::OrganizationalUnitName, "eng"),
        (DnType::CommonName, "alice"),
    ]);
    let mut stream = connect(addr, client_config(&pki, Some(alice)))
        .await
        .unwrap();
    echo(&mut stream).await.unwrap();
    assert_eq!(
        next(&mut rx).await,
        Ok(Some("CN=alice,OU=eng,O=Acme".into()))
    );

    // With TLS 1.3 the client may finish its side first; the server must refuse.
    for (cert, why) in [
        (None, "no certificates"),
        (Some(self_signed_client()), "UnknownIssuer"),
    ] {
        if let Ok(mut stream) = connect(addr, client_config(&pki, cert)).await {
            assert!(echo(&mut stream).await.is_err());
        }
        let err = next(&mut rx).await.unwrap_err();
        assert!(err.contains(why), "{err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mtls_requested() {
    let pki = Pki::new();
    let (chain, key) = pki.server("server");
    let src = source(&[
        (KEYSTORE_CHAIN, &chain),
        (KEYSTORE_KEY, &key),
        (TRUSTSTORE_CERTS, &pki.ca_pem),
        (CLIENT_AUTH, "requested"),
    ]);
    let (addr, mut rx) = serve(src).await;

    let mut stream = connect(addr, client_config(&pki, None)).await.unwrap();
    echo(&mut stream).await.unwrap();
    assert_eq!(next(&mut rx).await, Ok(None));

    let bob = pki.client(&[(DnType::CountryName, "US"), (DnType::CommonName, "bob")]);
    let mut stream = connect(addr, client_config(&pki, Some(bob))).await.unwrap();
    echo(&mut stream).await.unwrap();
    assert_eq!(next(&mut rx).await, Ok(Some("CN=bob,C=US".into())));

    // A certificate that is sent must still verify.
    if let Ok(mut stream) = connect(addr, client_config(&pki, Some(self_signed_client()))).await {
        assert!(echo(&mut stream).await.is_err());
    }
    let err = next(&mut rx).await.unwrap_err();
    assert!(err.contains("UnknownIssuer"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocols_and_cipher_suites() {
    let pki = Pki::new();
    let (chain, key) = pki.server("server");
    let base = [
        (KEYSTORE_CHAIN, chain.as_str()),
        (KEYSTORE_KEY, key.as_str()),
    ];
    let cases = [
        (
            (ENABLED_PROTOCOLS, "TLSv1.2"),
            ProtocolVersion::TLSv1_2,
            None,
        ),
        (
            (ENABLED_PROTOCOLS, "TLSv1.3"),
            ProtocolVersion::TLSv1_3,
            None,
        ),
        (
            (CIPHER_SUITES, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"),
            ProtocolVersion::TLSv1_2,
            Some(CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256),
        ),
        (
            (CIPHER_SUITES, "TLS_CHACHA20_POLY1305_SHA256"),
            ProtocolVersion::TLSv1_3,
            Some(CipherSuite::TLS13_CHACHA20_POLY1305_SHA256),
        ),
    ];
    for (setting, version, suite) in cases {
        let (addr, _rx) = serve(source(&[&base[..], &[setting]].concat())).await;
        let stream = connect(addr, client_config(&pki, None)).await.unwrap();
        let conn = stream.get_ref().1;
        assert_eq!(conn.protocol_version(), Some(version), "{setting:?}");
        if let Some(suite) = suite {
            assert_eq!(
                conn.negotiated_cipher_suite().map(|s| s.suite()),
                Some(suite)
            );
        }
    }
    let only_tls13_suite = [
        &base[..],
        &[
            (ENABLED_PROTOCOLS, "TLSv1.2"),
            (CIPHER_SUITES, "TLS_AES_128_GCM_SHA256"),
        ],
    ]
    .concat();
    let e = server_config(&lookup(&only_tls13_suite).unwrap().unwrap()).unwrap_err();
    assert!(e.to_string().contains(CIPHER_SUITES), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_on_change() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("server.pem");
    let write = |cn: &str| {
        let (chain, key) = pki.server(cn);
        std::fs::write(&path, format!("{chain}{key}")).unwrap();
    };
    write("server-a");
    let src = source(&[(KEYSTORE_LOCATION, path.to_str().unwrap())]);
    let (addr, _rx) = serve(src.clone()).await;
    let client = client_config(&pki, None);

    let mut old = connect(addr, client.clone()).await.unwrap();
    echo(&mut old).await.unwrap();
    assert_eq!(server_dn(&old), "CN=server-a");
    assert!(!src.reload_if_changed().unwrap());

    write("server-b");
    assert!(src.reload_if_changed().unwrap());
    assert!(!src.reload_if_changed().unwrap());
    let mut new = connect(addr, client.clone()).await.unwrap();
    echo(&mut new).await.unwrap();
    assert_eq!(server_dn(&new), "CN=server-b");
    echo(&mut old).await.unwrap();
    assert_eq!(server_dn(&old), "CN=server-a");

    std::fs::write(&path, "-----BEGIN CERTIFICATE-----\nnot base64!\n").unwrap();
    assert!(src.reload_if_changed().is_err());
    assert!(
        src.reload_if_changed().is_err(),
        "still bad, still an error"
    );
    assert!(src.reload().is_err());
    let stream = connect(addr, client.clone()).await.unwrap();
    assert_eq!(server_dn(&stream), "CN=server-b");

    std::fs::remove_file(&path).unwrap();
    assert!(matches!(src.reload_if_changed(), Err(TlsError::Io { .. })));
    write("server-c");
    src.reload().unwrap();
    let stream = connect(addr, client).await.unwrap();
    assert_eq!(server_dn(&stream), "CN=server-c");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_reloads_until_dropped() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("server.pem");
    let write = |cn: &str| {
        let (chain, key) = pki.server(cn);
        std::fs::write(&path, format!("{chain}{key}")).unwrap();
    };
    write("server-a");
    let src = source(&[(KEYSTORE_LOCATION, path.to_str().unwrap())]);
    src.watch(Duration::from_millis(20));
    assert_eq!(Arc::strong_count(&src), 1, "the watcher holds only a Weak");
    let (addr, _rx) = serve(src.clone()).await;

    write("server-b");
    let client = client_config(&pki, None);
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let stream = connect(addr, client.clone()).await.unwrap();
        if server_dn(&stream) == "CN=server-b" {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "watcher did not reload"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_client_is_rejected_promptly() {
    let pki = Pki::new();
    let (chain, key) = pki.server("server");
    let (addr, mut rx) = serve(source(&[(KEYSTORE_CHAIN, &chain), (KEYSTORE_KEY, &key)])).await;
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    // ApiVersions v3: size, api key 18, version 3, correlation id 1, null client id.
    tcp.write_all(&[0, 0, 0, 10, 0, 18, 0, 3, 0, 0, 0, 1, 0xff, 0xff])
        .await
        .unwrap();
    let outcome = timeout(Duration::from_secs(2), rx.recv())
        .await
        .expect("accept hung");
    assert!(outcome.unwrap().is_err());
    let mut rest = Vec::new();
    let _ = timeout(Duration::from_secs(2), tcp.read_to_end(&mut rest))
        .await
        .expect("not closed");
}

/// Builds a DER TLV with a short length.
fn tlv(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
    let body = parts.concat();
    [&[tag, body.len() as u8][..], &body].concat()
}

#[test]
fn rfc2253_like_java() {
    let oid_cn: &[u8] = &[0x06, 3, 0x55, 4, 3];
    let oid_o: &[u8] = &[0x06, 3, 0x55, 4, 10];
    let oid_uid: &[u8] = &[
        0x06, 10, 0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x01,
    ];
    let oid_email: &[u8] = &[
        0x06, 9, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01,
    ];
    let atv = |oid: &[u8], value: Vec<u8>| tlv(0x30, &[oid, &value]);
    let name = tlv(
        0x30,
        &[
            &tlv(0x31, &[&atv(oid_o, tlv(0x13, &[b"X"]))]),
            &tlv(
                0x31,
                &[
                    &atv(oid_cn, tlv(0x0c, &[b"a"])),
                    &atv(oid_uid, tlv(0x0c, &[b"b"])),
                ],
            ),
            &tlv(0x31, &[&atv(oid_email, tlv(0x16, &[b"a@b"]))]),
            &tlv(0x31, &[&atv(oid_cn, tlv(0x02, &[&[1]]))]),
        ],
    );
    let (_, parsed) =
        <X509Name<'_> as x509_parser::prelude::FromDer<'_, _>>::from_der(&name).unwrap();
    assert_eq!(
        rfc2253(&parsed),
        "CN=#020101,1.2.840.113549.1.9.1=#1603614062,CN=a+UID=b,O=X"
    );

    assert_eq!(
        escape(" a,b+c=d#e;f<g>h\"i\\j "),
        "\\ a\\,b\\+c\\=d\\#e\\;f\\<g\\>h\\\"i\\\\j\\ "
    );
    assert_eq!(escape("#x\0y"), "\\#x\\00y");
    assert_eq!(escape("  "), "\\ \\ ");
    assert_eq!(escape("caf\u{e9}"), "caf\u{e9}");

    // Through rcgen: PrintableString and IA5String values, DER order reversed.
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name = DistinguishedName::new();
    let dn = &mut params.distinguished_name;
    dn.push(
        DnType::CountryName,
        DnValue::PrintableString(PrintableString::try_from("US").unwrap()),
    );
    dn.push(
        DnType::CustomDnType(vec![1, 2, 840, 113549, 1, 9, 1]),
        DnValue::Ia5String(Ia5String::try_from("a@b").unwrap()),
    );
    dn.push(DnType::CommonName, "Doe, John");
    let cert = params.self_signed(&key).unwrap();
    let (_, cert) = x509_parser::parse_x509_certificate(cert.der()).unwrap();
    assert_eq!(
        rfc2253(cert.subject()),
        "CN=Doe\\, John,1.2.840.113549.1.9.1=#1603614062,C=US"
    );
}
