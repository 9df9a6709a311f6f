//! Listeners and security: several named listeners at once, each client answered with
//! the addresses of the listener it came in on.

mod common;

use aeon::protocol::messages::describe_cluster_request::DescribeClusterRequest;
use aeon::protocol::messages::find_coordinator_request::FindCoordinatorRequest;
use aeon::protocol::messages::metadata_request::MetadataRequest;
use aeon::protocol::{Request, Response};
use common::{raw, TestBroker};

/// What a client that came in at `addr` is told to connect to: (Metadata's broker,
/// FindCoordinator's coordinator, DescribeCluster's broker), each as host:port.
fn advertised_to(addr: &str) -> [String; 3] {
    let Response::Metadata(m) = raw(addr, 12, Request::Metadata(MetadataRequest::default())) else {
        panic!("not a Metadata response")
    };
    let Response::FindCoordinator(f) = raw(
        addr,
        4,
        Request::FindCoordinator(FindCoordinatorRequest {
            key_type: 0,
            coordinator_keys: vec!["g".into()],
            ..Default::default()
        }),
    ) else {
        panic!("not a FindCoordinator response")
    };
    let Response::DescribeCluster(d) = raw(
        addr,
        1,
        Request::DescribeCluster(DescribeClusterRequest {
            endpoint_type: 1,
            ..Default::default()
        }),
    ) else {
        panic!("not a DescribeCluster response")
    };
    [
        format!("{}:{}", m.brokers[0].host, m.brokers[0].port),
        format!("{}:{}", f.coordinators[0].host, f.coordinators[0].port),
        format!("{}:{}", d.brokers[0].host, d.brokers[0].port),
    ]
}

#[test]
fn each_listener_advertises_its_own_address() {
    let broker = TestBroker::start_with(|c| {
        c.set(
            "listener.security.protocol.map",
            "INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT",
        )
        .expect("map");
        c.set("listeners", "INTERNAL://127.0.0.1:0,EXTERNAL://127.0.0.1:0")
            .expect("listeners");
        c.set("advertised.listeners", "EXTERNAL://kafka.example:19092")
            .expect("advertised");
    });
    let internal = broker.listener_addr("INTERNAL").to_string();
    let external = broker.listener_addr("EXTERNAL").to_string();
    assert_ne!(internal, external);
    assert_eq!(broker.bootstrap(), internal, "the first listener");
    assert_eq!(
        advertised_to(&internal),
        [internal.clone(), internal.clone(), internal]
    );
    let outside = "kafka.example:19092".to_string();
    assert_eq!(
        advertised_to(&external),
        [outside.clone(), outside.clone(), outside]
    );

    // A real client through the internal listener.
    broker.create_topic("both", 1);
    let p = broker.producer(&[]);
    common::send_all(
        &p,
        [rdkafka::producer::BaseRecord::<str, str>::to("both").payload("x")],
    );
    rdkafka::producer::Producer::flush(&p, std::time::Duration::from_secs(10)).expect("flush");
}

mod sasl {
    use super::common::{self, assert_closed_by_broker, call, connect, TestBroker};
    use aeon::protocol::messages::alter_user_scram_credentials_request::{
        AlterUserScramCredentialsRequest, ScramCredentialDeletion, ScramCredentialUpsertion,
    };
    use aeon::protocol::messages::create_topics_request::{CreatableTopic, CreateTopicsRequest};
    use aeon::protocol::messages::describe_user_scram_credentials_request::{
        DescribeUserScramCredentialsRequest, UserName,
    };
    use aeon::protocol::messages::metadata_request::MetadataRequest;
    use aeon::protocol::messages::sasl_authenticate_request::SaslAuthenticateRequest;
    use aeon::protocol::messages::sasl_handshake_request::SaslHandshakeRequest;
    use aeon::protocol::{ErrorCode, Request, Response};
    use base64::engine::general_purpose::STANDARD as B64;
    use base64::Engine as _;
    use hmac::{Hmac, Mac};
    use sha2::{Digest, Sha256, Sha512};
    use std::net::TcpStream;

    pub const ITERATIONS: i32 = 4096;
    pub const SALT: &[u8] = b"aeon-test-salt";

    /// A broker with an INTERNAL PLAINTEXT listener (first: the bootstrap) and a
    /// CLIENTS SASL_PLAINTEXT one, every mechanism on, users alice (SCRAM-SHA-256 and
    /// SCRAM-SHA-512) and bob (SCRAM-SHA-512) made over the API.
    pub fn broker(tweak: impl Fn(&mut aeon::config::Config) + 'static) -> TestBroker {
        let broker = TestBroker::start_with(move |c| {
            common::sasl_listeners(c);
            tweak(c);
        });
        let upserts = [
            ("alice", 1, "alice-secret"),
            ("alice", 2, "alice-secret"),
            ("bob", 2, "bob-secret"),
        ]
        .into_iter()
        .map(|(name, mechanism, password)| ScramCredentialUpsertion {
            name: name.into(),
            mechanism,
            iterations: ITERATIONS,
            salt: SALT.to_vec().into(),
            salted_password: salted(mechanism, password).into(),
            ..Default::default()
        })
        .collect();
        let Response::AlterUserScramCredentials(r) = common::raw(
            &broker.bootstrap(),
            0,
            Request::AlterUserScramCredentials(AlterUserScramCredentialsRequest {
                upsertions: upserts,
                ..Default::default()
            }),
        ) else {
            panic!("not an AlterUserScramCredentials response")
        };
        assert!(r.results.iter().all(|r| r.error_code == 0), "{r:?}");
        broker
    }

    pub fn clients(broker: &TestBroker) -> String {
        broker.listener_addr("CLIENTS").to_string()
    }

    pub fn salted(mechanism: i8, password: &str) -> Vec<u8> {
        let rounds = ITERATIONS as u32;
        if mechanism == 1 {
            pbkdf2::pbkdf2_hmac_array::<Sha256, 32>(password.as_bytes(), SALT, rounds).to_vec()
        } else {
            pbkdf2::pbkdf2_hmac_array::<Sha512, 64>(password.as_bytes(), SALT, rounds).to_vec()
        }
    }

    fn hmac(mechanism: i8, key: &[u8], data: &[u8]) -> Vec<u8> {
        if mechanism == 1 {
            let mut m = Hmac::<Sha256>::new_from_slice(key).expect("key");
            m.update(data);
            m.finalize().into_bytes().to_vec()
        } else {
            let mut m = Hmac::<Sha512>::new_from_slice(key).expect("key");
            m.update(data);
            m.finalize().into_bytes().to_vec()
        }
    }

    fn hash(mechanism: i8, data: &[u8]) -> Vec<u8> {
        if mechanism == 1 {
            Sha256::digest(data).to_vec()
        } else {
            Sha512::digest(data).to_vec()
        }
    }

    fn mechanism_name(mechanism: i8) -> &'static str {
        if mechanism == 1 {
            "SCRAM-SHA-256"
        } else {
            "SCRAM-SHA-512"
        }
    }

    pub fn handshake(s: &mut TcpStream, mechanism: &str) -> i16 {
        let Response::SaslHandshake(h) = call(
            s,
            1,
            1,
            Request::SaslHandshake(SaslHandshakeRequest {
                mechanism: mechanism.into(),
            }),
        ) else {
            panic!("not a SaslHandshake response")
        };
        h.error_code
    }

    pub fn authenticate(s: &mut TcpStream, bytes: &[u8]) -> (i16, Option<String>, Vec<u8>, i64) {
        let Response::SaslAuthenticate(a) = call(
            s,
            2,
            2,
            Request::SaslAuthenticate(SaslAuthenticateRequest {
                auth_bytes: bytes.to_vec().into(),
                ..Default::default()
            }),
        ) else {
            panic!("not a SaslAuthenticate response")
        };
        (
            a.error_code,
            a.error_message,
            a.auth_bytes.to_vec(),
            a.session_lifetime_ms,
        )
    }

    /// What a SCRAM client sends and checks; `tamper` may change the client-final
    /// message before it goes.
    pub struct Scram {
        pub first: String,
        pub server_first: String,
        pub last: String,
        pub expected_server_final: String,
    }

    /// Runs the first half of a SCRAM exchange and computes the final message.
    pub fn scram_first(s: &mut TcpStream, mechanism: i8, user: &str, password: &str) -> Scram {
        assert_eq!(handshake(s, mechanism_name(mechanism)), 0);
        let bare = format!("n={user},r=clientnonce0123456789");
        let first = format!("n,,{bare}");
        let (code, _, server_first, _) = authenticate(s, first.as_bytes());
        assert_eq!(code, 0, "client-first is answered, known user or not");
        let server_first = String::from_utf8(server_first).expect("utf-8");
        assert!(
            server_first.starts_with("r=clientnonce0123456789"),
            "{server_first}"
        );
        let (last, expected_server_final) = scram_final(mechanism, password, &bare, &server_first);
        Scram {
            first,
            server_first,
            last,
            expected_server_final,
        }
    }

    /// The client-final message (with its proof) for `server_first`, and the
    /// server-final message a broker that knows the password must send.
    pub fn scram_final(
        mechanism: i8,
        password: &str,
        client_first_bare: &str,
        server_first: &str,
    ) -> (String, String) {
        let field = |k: &str| {
            server_first
                .split(',')
                .find_map(|f| f.strip_prefix(k))
                .expect("field")
                .to_string()
        };
        let (nonce, salt, iterations) = (field("r="), field("s="), field("i="));
        assert!(nonce.len() > 30, "the server's nonce is appended");
        let salt = B64.decode(salt).expect("salt");
        let iterations: u32 = iterations.parse().expect("iterations");
        let salted = if mechanism == 1 {
            pbkdf2::pbkdf2_hmac_array::<Sha256, 32>(password.as_bytes(), &salt, iterations).to_vec()
        } else {
            pbkdf2::pbkdf2_hmac_array::<Sha512, 64>(password.as_bytes(), &salt, iterations).to_vec()
        };
        let client_key = hmac(mechanism, &salted, b"Client Key");
        let stored = hash(mechanism, &client_key);
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
        let signature = hmac(mechanism, &stored, auth_message.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&signature)
            .map(|(a, b)| a ^ b)
            .collect();
        let server_key = hmac(mechanism, &salted, b"Server Key");
        let server_signature = hmac(mechanism, &server_key, auth_message.as_bytes());
        (
            format!("{without_proof},p={}", B64.encode(proof)),
            format!("v={}", B64.encode(server_signature)),
        )
    }

    fn metadata_ok(s: &mut TcpStream) {
        let Response::Metadata(m) = call(s, 12, 9, Request::Metadata(MetadataRequest::default()))
        else {
            panic!("not a Metadata response")
        };
        assert_eq!(m.brokers.len(), 1);
    }

    #[test]
    fn scram_both_mechanisms_verify_the_client_and_sign_the_server() {
        let broker = broker(|_| {});
        for (mechanism, user, password) in [(1, "alice", "alice-secret"), (2, "bob", "bob-secret")]
        {
            let mut s = connect(&clients(&broker));
            let scram = scram_first(&mut s, mechanism, user, password);
            let (code, message, server_final, lifetime) =
                authenticate(&mut s, scram.last.as_bytes());
            assert_eq!((code, message), (0, None));
            assert_eq!(
                String::from_utf8(server_final).expect("utf-8"),
                scram.expected_server_final
            );
            assert_eq!(lifetime, 0, "no re-authentication configured");
            metadata_ok(&mut s);
        }
    }

    #[test]
    fn wrong_password_unknown_user_forged_proof_and_tampered_nonce_fail_alike() {
        let broker = broker(|_| {});
        let failure = "Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512";
        type LastMessage = fn(&Scram) -> String;
        let attempts: [(&str, &str, LastMessage); 4] = [
            ("bob", "not-bobs", |s| s.last.clone()),
            ("mallory", "anything", |s| s.last.clone()),
            ("bob", "bob-secret", |s| {
                let (without, _) = s.last.rsplit_once(",p=").expect("proof");
                format!("{without},p={}", B64.encode([7u8; 64]))
            }),
            ("bob", "bob-secret", |s| {
                s.last.replacen("r=clientnonce", "r=clientNONCE", 1)
            }),
        ];
        for (user, password, last) in attempts {
            let mut s = connect(&clients(&broker));
            let scram = scram_first(&mut s, 2, user, password);
            let (code, message, bytes, _) = authenticate(&mut s, last(&scram).as_bytes());
            assert_eq!(code, ErrorCode::SaslAuthenticationFailed.code(), "{user}");
            assert_eq!(
                message.as_deref(),
                Some(failure),
                "one message, whoever asks"
            );
            assert!(bytes.is_empty(), "no server signature");
            assert_closed_by_broker(&mut s, "after a failed authentication");
        }
    }

    #[test]
    fn a_replayed_scram_exchange_is_refused() {
        let broker = broker(|_| {});
        let mut first = connect(&clients(&broker));
        let recorded = scram_first(&mut first, 2, "bob", "bob-secret");
        assert_eq!(authenticate(&mut first, recorded.last.as_bytes()).0, 0);
        // The same client messages on a new connection: the server's nonce differs.
        let mut replay = connect(&clients(&broker));
        assert_eq!(handshake(&mut replay, "SCRAM-SHA-512"), 0);
        let (code, _, server_first, _) = authenticate(&mut replay, recorded.first.as_bytes());
        assert_eq!(code, 0);
        assert_ne!(server_first, recorded.server_first.as_bytes());
        let (code, ..) = authenticate(&mut replay, recorded.last.as_bytes());
        assert_eq!(code, ErrorCode::SaslAuthenticationFailed.code());
        assert_closed_by_broker(&mut replay, "after a replayed exchange");
    }

    #[test]
    fn requests_before_authentication_close_the_connection_and_do_nothing() {
        let broker = broker(|_| {});
        let create = |name: &str| {
            Request::CreateTopics(CreateTopicsRequest {
                topics: vec![CreatableTopic {
                    name: name.into(),
                    num_partitions: 1,
                    replication_factor: 1,
                    ..Default::default()
                }],
                timeout_ms: 5000,
                ..Default::default()
            })
        };
        // Before any handshake; after the handshake; between the SCRAM messages.
        for stage in 0..3 {
            let mut s = connect(&clients(&broker));
            if stage >= 1 {
                assert_eq!(handshake(&mut s, "SCRAM-SHA-512"), 0);
            }
            if stage >= 2 {
                let first = b"n,,n=bob,r=abcdefghijklmnopqrstuvwx";
                assert_eq!(authenticate(&mut s, first).0, 0);
            }
            let frame = common::request_frame(5, 3, create(&format!("sneaky-{stage}")));
            std::io::Write::write_all(&mut s, &frame).expect("send");
            assert_closed_by_broker(&mut s, "a request before authentication");
        }
        // ApiVersions is allowed first, as Kafka allows it.
        let mut s = connect(&clients(&broker));
        let Response::ApiVersions(v) = call(&mut s, 3, 1, Request::ApiVersions(Default::default()))
        else {
            panic!("not ApiVersions")
        };
        assert_eq!(v.error_code, 0);
        // Nothing was created.
        let Response::Metadata(m) = common::raw(
            &broker.bootstrap(),
            12,
            Request::Metadata(MetadataRequest::default()),
        ) else {
            panic!("not a Metadata response")
        };
        assert!(m
            .topics
            .iter()
            .all(|t| !t.name.as_deref().unwrap_or("").starts_with("sneaky")));
    }

    #[test]
    fn plain_checks_the_password_against_the_scram_credential() {
        let broker = broker(|_| {});
        let mut s = connect(&clients(&broker));
        assert_eq!(handshake(&mut s, "PLAIN"), 0);
        let (code, message, ..) = authenticate(&mut s, b"\0alice\0alice-secret");
        assert_eq!((code, message), (0, None));
        metadata_ok(&mut s);
        for wrong in [&b"\0alice\0nope"[..], b"\0nobody\0alice-secret", b"garbage"] {
            let mut s = connect(&clients(&broker));
            assert_eq!(handshake(&mut s, "PLAIN"), 0);
            let (code, message, ..) = authenticate(&mut s, wrong);
            assert_eq!(code, ErrorCode::SaslAuthenticationFailed.code());
            assert_eq!(
                message.as_deref(),
                Some("Authentication failed during authentication due to invalid credentials with SASL mechanism PLAIN")
            );
            assert_closed_by_broker(&mut s, "after a failed PLAIN");
        }
    }

    /// SaslHandshake v0 (before KIP-152): the tokens that follow travel bare, each a
    /// size and its bytes, with no request header; a refusal is a closed connection.
    #[test]
    fn a_v0_handshake_takes_bare_tokens() {
        use std::io::Write;
        let broker = broker(|_| {});
        let bare = |s: &mut TcpStream, token: &[u8]| {
            let mut frame = (token.len() as u32).to_be_bytes().to_vec();
            frame.extend_from_slice(token);
            s.write_all(&frame).expect("write");
        };
        let v0_handshake = |s: &mut TcpStream, mechanism: &str| {
            let Response::SaslHandshake(h) = call(
                s,
                0,
                1,
                Request::SaslHandshake(SaslHandshakeRequest {
                    mechanism: mechanism.into(),
                }),
            ) else {
                panic!("not a SaslHandshake response")
            };
            assert_eq!(h.error_code, 0);
        };
        let mut s = connect(&clients(&broker));
        v0_handshake(&mut s, "PLAIN");
        bare(&mut s, b"\0alice\0alice-secret");
        assert!(
            common::read_frame(&mut s).is_empty(),
            "PLAIN's empty answer"
        );
        metadata_ok(&mut s);
        // SCRAM: two rounds, the server's signature in the second answer.
        let mut s = connect(&clients(&broker));
        v0_handshake(&mut s, "SCRAM-SHA-512");
        let nonce = "v0-client-nonce";
        let first_bare = format!("n=bob,r={nonce}");
        bare(&mut s, format!("n,,{first_bare}").as_bytes());
        let server_first = String::from_utf8(common::read_frame(&mut s).to_vec()).expect("utf-8");
        let last = scram_final(2, "bob-secret", &first_bare, &server_first);
        bare(&mut s, last.0.as_bytes());
        let server_final = String::from_utf8(common::read_frame(&mut s).to_vec()).expect("utf-8");
        assert_eq!(server_final, last.1);
        metadata_ok(&mut s);
        // A wrong password closes the connection.
        let mut s = connect(&clients(&broker));
        v0_handshake(&mut s, "PLAIN");
        bare(&mut s, b"\0alice\0wrong");
        assert_closed_by_broker(&mut s, "a refused v0 token");
    }

    #[test]
    fn an_unknown_or_disabled_mechanism_is_refused_and_plaintext_listeners_refuse_sasl() {
        let broker = broker(|c| {
            c.set("sasl.enabled.mechanisms", "SCRAM-SHA-512")
                .expect("one mechanism");
        });
        for mechanism in ["GSSAPI", "PLAIN", "SCRAM-SHA-256"] {
            let mut s = connect(&clients(&broker));
            assert_eq!(
                handshake(&mut s, mechanism),
                ErrorCode::UnsupportedSaslMechanism.code(),
                "{mechanism}"
            );
            assert_closed_by_broker(&mut s, "after an unsupported mechanism");
        }
        // On the PLAINTEXT listener: ILLEGAL_SASL_STATE, and the connection serves on.
        let mut s = connect(&broker.bootstrap());
        assert_eq!(
            handshake(&mut s, "SCRAM-SHA-512"),
            ErrorCode::IllegalSaslState.code()
        );
        metadata_ok(&mut s);
    }

    #[test]
    fn sessions_expire_after_connections_max_reauth_ms_and_reauthenticate_as_the_same_user() {
        let broker = broker(|c| {
            c.set("connections.max.reauth.ms", "1000").expect("reauth");
        });
        let mut s = connect(&clients(&broker));
        let scram = scram_first(&mut s, 2, "bob", "bob-secret");
        let (code, _, _, lifetime) = authenticate(&mut s, scram.last.as_bytes());
        assert_eq!((code, lifetime), (0, 1000));
        metadata_ok(&mut s);
        // Re-authentication on the open connection, as the same user: served on.
        let again = scram_first(&mut s, 2, "bob", "bob-secret");
        assert_eq!(authenticate(&mut s, again.last.as_bytes()).0, 0);
        metadata_ok(&mut s);
        // As another user: refused.
        let other = scram_first(&mut s, 1, "alice", "alice-secret");
        let (code, message, ..) = authenticate(&mut s, other.last.as_bytes());
        assert_eq!(code, ErrorCode::SaslAuthenticationFailed.code());
        assert!(message.unwrap_or_default().contains("change principals"));
        assert_closed_by_broker(&mut s, "after a change of principal");
        // A session left to expire: the next request closes the connection.
        let mut s = connect(&clients(&broker));
        let scram = scram_first(&mut s, 2, "bob", "bob-secret");
        assert_eq!(authenticate(&mut s, scram.last.as_bytes()).0, 0);
        std::thread::sleep(std::time::Duration::from_millis(1200));
        let frame = common::request_frame(12, 5, Request::Metadata(MetadataRequest::default()));
        std::io::Write::write_all(&mut s, &frame).expect("send");
        assert_closed_by_broker(&mut s, "a request after the session expired");
    }

    #[test]
    fn credentials_are_described_deleted_and_kept_across_a_restart() {
        let mut broker = broker(|_| {});
        let describe = |broker: &TestBroker, names: Option<Vec<&str>>| {
            let Response::DescribeUserScramCredentials(d) = common::raw(
                &broker.bootstrap(),
                0,
                Request::DescribeUserScramCredentials(DescribeUserScramCredentialsRequest {
                    users: names.map(|n| {
                        n.into_iter()
                            .map(|name| UserName {
                                name: name.into(),
                                ..Default::default()
                            })
                            .collect()
                    }),
                    ..Default::default()
                }),
            ) else {
                panic!("not a DescribeUserScramCredentials response")
            };
            d.results
                .iter()
                .map(|r| {
                    let mechanisms: Vec<(i8, i32)> = r
                        .credential_infos
                        .iter()
                        .map(|c| (c.mechanism, c.iterations))
                        .collect();
                    (r.user.clone(), r.error_code, mechanisms)
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(
            describe(&broker, None),
            vec![
                (
                    "alice".to_string(),
                    0,
                    vec![(1, ITERATIONS), (2, ITERATIONS)]
                ),
                ("bob".to_string(), 0, vec![(2, ITERATIONS)])
            ]
        );
        assert_eq!(
            describe(&broker, Some(vec!["nobody"])),
            vec![(
                "nobody".to_string(),
                ErrorCode::ResourceNotFound.code(),
                vec![]
            )]
        );
        // Refusals: an unknown mechanism, too few iterations, a missing credential, twice
        // in one request; a refused user keeps what it had.
        let Response::AlterUserScramCredentials(r) = common::raw(
            &broker.bootstrap(),
            0,
            Request::AlterUserScramCredentials(AlterUserScramCredentialsRequest {
                deletions: vec![
                    ScramCredentialDeletion {
                        name: "alice".into(),
                        mechanism: 1,
                        ..Default::default()
                    },
                    ScramCredentialDeletion {
                        name: "carol".into(),
                        mechanism: 1,
                        ..Default::default()
                    },
                ],
                upsertions: vec![
                    ScramCredentialUpsertion {
                        name: "dave".into(),
                        mechanism: 9,
                        iterations: ITERATIONS,
                        salt: SALT.to_vec().into(),
                        salted_password: salted(1, "x").into(),
                        ..Default::default()
                    },
                    ScramCredentialUpsertion {
                        name: "erin".into(),
                        mechanism: 1,
                        iterations: 1000,
                        salt: SALT.to_vec().into(),
                        salted_password: salted(1, "x").into(),
                        ..Default::default()
                    },
                    ScramCredentialUpsertion {
                        name: "bob".into(),
                        mechanism: 2,
                        iterations: ITERATIONS,
                        salt: SALT.to_vec().into(),
                        salted_password: salted(2, "x").into(),
                        ..Default::default()
                    },
                    ScramCredentialUpsertion {
                        name: "bob".into(),
                        mechanism: 2,
                        iterations: ITERATIONS,
                        salt: SALT.to_vec().into(),
                        salted_password: salted(2, "y").into(),
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }),
        ) else {
            panic!("not an AlterUserScramCredentials response")
        };
        let codes: Vec<(String, i16)> = r
            .results
            .iter()
            .map(|r| (r.user.clone(), r.error_code))
            .collect();
        assert_eq!(
            codes,
            vec![
                ("alice".to_string(), 0),
                ("bob".to_string(), ErrorCode::DuplicateResource.code()),
                ("carol".to_string(), ErrorCode::ResourceNotFound.code()),
                (
                    "dave".to_string(),
                    ErrorCode::UnsupportedSaslMechanism.code()
                ),
                ("erin".to_string(), ErrorCode::UnacceptableCredential.code()),
            ]
        );
        broker.restart();
        assert_eq!(
            describe(&broker, None),
            vec![
                ("alice".to_string(), 0, vec![(2, ITERATIONS)]),
                ("bob".to_string(), 0, vec![(2, ITERATIONS)])
            ],
            "the deletion was kept, the refused changes were not made"
        );
        // bob's password is unchanged.
        let mut s = connect(&clients(&broker));
        let scram = scram_first(&mut s, 2, "bob", "bob-secret");
        assert_eq!(authenticate(&mut s, scram.last.as_bytes()).0, 0);
    }

    /// The first user made from the command line before the broker starts, as
    /// `kafka-storage format --add-scram`: it authenticates, and the file holds no
    /// password.
    #[test]
    fn a_first_user_is_added_from_the_command_line_before_the_start() {
        let mut broker = broker(|_| {});
        broker.stop();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_aeon"))
            .args(["storage", "add-scram", "--data-dir"])
            .arg(broker.dir.path())
            .arg("SCRAM-SHA-512=[name=root,password=root-secret,iterations=8192]")
            .output()
            .expect("aeon runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let bad = std::process::Command::new(env!("CARGO_BIN_EXE_aeon"))
            .args(["storage", "add-scram", "--data-dir"])
            .arg(broker.dir.path())
            .arg("SCRAM-SHA-1=[name=x,password=y]")
            .output()
            .expect("aeon runs");
        assert!(!bad.status.success());
        let file = std::fs::read_to_string(broker.dir.path().join("scram-credentials.json"))
            .expect("credentials file");
        assert!(!file.contains("root-secret"));
        broker.restart();
        let mut s = connect(&clients(&broker));
        let scram = scram_first(&mut s, 2, "root", "root-secret");
        assert!(scram.server_first.ends_with(",i=8192"));
        assert_eq!(authenticate(&mut s, scram.last.as_bytes()).0, 0);
        metadata_ok(&mut s);
        // The users made over the API before are still there.
        let mut s = connect(&clients(&broker));
        let scram = scram_first(&mut s, 2, "bob", "bob-secret");
        assert_eq!(authenticate(&mut s, scram.last.as_bytes()).0, 0);
    }
}
