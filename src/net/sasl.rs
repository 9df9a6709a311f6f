//! SASL on a connection, as Kafka's `SaslServerAuthenticator`: on a SASL listener a
//! client may send ApiVersions, then SaslHandshake (the mechanism) and the mechanism's
//! messages: framed as SaslAuthenticate requests after a v1 handshake, bare tokens after
//! a v0 one (the connection unwraps them); anything else before it is authenticated
//! closes the connection. PLAIN checks the password against
//! the user's SCRAM credential; SCRAM-SHA-256/512 verifies the client's proof before
//! the server signature is sent. A failure answers SASL_AUTHENTICATION_FAILED with one
//! message whether or not the user exists, and closes. With `connections.max.reauth.ms`
//! the session lasts that long (SaslAuthenticate v1+ tells the client), the client
//! re-authenticates on the open connection (KIP-368) as the same user, and a request
//! after expiry closes it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::protocol::messages::sasl_authenticate_response::SaslAuthenticateResponse;
use crate::protocol::messages::sasl_handshake_response::SaslHandshakeResponse;
use crate::protocol::{ErrorCode, Request, Response};
use crate::security::plain::parse_plain;
use crate::security::principal::KafkaPrincipal;
use crate::security::scram::{ScramMechanism, ScramServer};
use crate::security::users::UserStore;

/// A SASL mechanism Aeon serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    Plain,
    Scram(ScramMechanism),
}

impl Mechanism {
    pub fn from_name(name: &str) -> Option<Self> {
        if name == "PLAIN" {
            return Some(Mechanism::Plain);
        }
        ScramMechanism::from_name(name).map(Mechanism::Scram)
    }

    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::Scram(m) => m.name(),
        }
    }
}

/// Where a connection stands.
pub enum Auth {
    /// Requests are served: a PLAINTEXT listener, or an authenticated session (until
    /// `expires`, when re-authentication is on).
    Open { expires: Option<Instant> },
    /// Before (re-)authentication: the handshake's mechanism once it came.
    Handshake { mechanism: Option<Mechanism> },
    /// SCRAM between its first and final messages.
    Scram(Box<ScramServer>),
    /// A PLAIN check is running; nothing else is taken meanwhile.
    Checking,
}

/// What to do with a request on this connection.
pub enum Gate {
    /// Serve it as usual.
    Serve,
    /// A SASL request: the connection answers it.
    Sasl,
    /// Close the connection.
    Close(&'static str),
}

impl Auth {
    /// Open for a PLAINTEXT listener, awaiting the handshake on a SASL one.
    pub fn new(sasl: bool) -> Auth {
        if sasl {
            Auth::Handshake { mechanism: None }
        } else {
            Auth::Open { expires: None }
        }
    }

    pub fn gate(&self, request: &Request, sasl_listener: bool) -> Gate {
        let is_sasl = matches!(
            request,
            Request::SaslHandshake(_) | Request::SaslAuthenticate(_)
        );
        match self {
            // On a PLAINTEXT listener the SASL APIs answer ILLEGAL_SASL_STATE (below).
            _ if is_sasl => Gate::Sasl,
            Auth::Open { expires: Some(at) } if sasl_listener && Instant::now() >= *at => {
                Gate::Close("the SASL session expired (connections.max.reauth.ms)")
            }
            Auth::Open { .. } => Gate::Serve,
            _ if matches!(request, Request::ApiVersions(_)) => Gate::Serve,
            _ => Gate::Close("a request before SASL authentication"),
        }
    }
}

/// The outcome of a SASL request: the response, the connection's next state, the
/// principal it authenticated (if it did), and whether to close after the response.
pub struct Outcome {
    pub response: Response,
    pub auth: Auth,
    pub principal: Option<KafkaPrincipal>,
    pub close: bool,
}

/// What a SASL request needs of the broker.
pub struct SaslContext {
    pub enabled: Vec<Mechanism>,
    pub users: Arc<UserStore>,
    pub reauth_ms: u64,
    /// The principal of the session being re-authenticated, if any.
    pub current: Option<KafkaPrincipal>,
}

fn handshake_response(code: ErrorCode, enabled: &[Mechanism]) -> Response {
    SaslHandshakeResponse {
        error_code: code.code(),
        mechanisms: enabled.iter().map(|m| m.name().to_string()).collect(),
    }
    .into()
}

fn authenticate_response(
    code: ErrorCode,
    message: Option<String>,
    bytes: Bytes,
    lifetime: i64,
) -> Response {
    SaslAuthenticateResponse {
        error_code: code.code(),
        error_message: message,
        auth_bytes: bytes,
        session_lifetime_ms: lifetime,
        ..Default::default()
    }
    .into()
}

fn failed(message: String) -> Outcome {
    Outcome {
        response: authenticate_response(
            ErrorCode::SaslAuthenticationFailed,
            Some(message),
            Bytes::new(),
            0,
        ),
        auth: Auth::Handshake { mechanism: None },
        principal: None,
        close: true,
    }
}

fn illegal(state: &str) -> Outcome {
    Outcome {
        response: authenticate_response(
            ErrorCode::IllegalSaslState,
            Some(state.to_string()),
            Bytes::new(),
            0,
        ),
        auth: Auth::Handshake { mechanism: None },
        principal: None,
        close: true,
    }
}

/// The message of every failed authentication: it does not tell whether the user
/// exists (Kafka's text).
fn invalid_credentials(m: Mechanism) -> String {
    format!(
        "Authentication failed during authentication due to invalid credentials with SASL mechanism {}",
        m.name()
    )
}

/// Answers a SaslHandshake or SaslAuthenticate at `version`, given the connection's
/// state `auth` (taken: the caller puts back `Outcome::auth`). `Err` carries a future
/// for a PLAIN check, which runs off the arbiter thread.
pub fn answer(
    auth: Auth,
    request: Request,
    sasl_listener: bool,
    sasl: &SaslContext,
) -> Result<Outcome, futures::future::BoxFuture<'static, Outcome>> {
    match request {
        // On a listener without SASL, as Kafka: ILLEGAL_SASL_STATE, nothing else changes.
        Request::SaslHandshake(_) if !sasl_listener => Ok(Outcome {
            response: handshake_response(ErrorCode::IllegalSaslState, &[]),
            auth,
            principal: None,
            close: false,
        }),
        Request::SaslAuthenticate(_) if !sasl_listener => Ok(Outcome {
            response: authenticate_response(
                ErrorCode::IllegalSaslState,
                Some("SaslAuthenticate on a listener without SASL".to_string()),
                Bytes::new(),
                0,
            ),
            auth,
            principal: None,
            close: false,
        }),
        Request::SaslHandshake(h) => {
            if !matches!(
                auth,
                Auth::Open { .. } | Auth::Handshake { mechanism: None }
            ) {
                return Ok(Outcome {
                    response: handshake_response(ErrorCode::IllegalSaslState, &sasl.enabled),
                    auth,
                    principal: None,
                    close: true,
                });
            }
            match Mechanism::from_name(&h.mechanism).filter(|m| sasl.enabled.contains(m)) {
                Some(m) => Ok(Outcome {
                    response: handshake_response(ErrorCode::None, &sasl.enabled),
                    auth: Auth::Handshake { mechanism: Some(m) },
                    principal: None,
                    close: false,
                }),
                None => Ok(Outcome {
                    response: handshake_response(
                        ErrorCode::UnsupportedSaslMechanism,
                        &sasl.enabled,
                    ),
                    auth,
                    principal: None,
                    close: true,
                }),
            }
        }
        Request::SaslAuthenticate(a) => match auth {
            Auth::Handshake {
                mechanism: Some(Mechanism::Plain),
            } => {
                let users = sasl.users.clone();
                let current = sasl.current.clone();
                let reauth_ms = sasl.reauth_ms;
                Err(Box::pin(async move {
                    let bytes = a.auth_bytes;
                    let checked = tokio::task::spawn_blocking(move || {
                        let c = parse_plain(&bytes).ok()?;
                        let snapshot = users.snapshot();
                        snapshot
                            .verify_password(c.username, c.password.as_bytes())
                            .then(|| c.username.to_string())
                    })
                    .await
                    .ok()
                    .flatten();
                    match checked {
                        Some(user) => {
                            authenticated(user, current, Bytes::new(), reauth_ms, Mechanism::Plain)
                        }
                        None => failed(invalid_credentials(Mechanism::Plain)),
                    }
                }))
            }
            Auth::Handshake {
                mechanism: Some(Mechanism::Scram(m)),
            } => {
                let mut server = ScramServer::new(m);
                let users = sasl.users.snapshot();
                match server.client_first(&a.auth_bytes, |user| users.credential(user, m)) {
                    Ok(first) => Ok(Outcome {
                        response: authenticate_response(
                            ErrorCode::None,
                            None,
                            Bytes::from(first),
                            0,
                        ),
                        auth: Auth::Scram(Box::new(server)),
                        principal: None,
                        close: false,
                    }),
                    Err(e) => {
                        tracing::debug!(error = %e, "SCRAM client-first refused");
                        Ok(failed(invalid_credentials(Mechanism::Scram(m))))
                    }
                }
            }
            Auth::Scram(mut server) => {
                let m = Mechanism::Scram(server.mechanism());
                match server.client_final(&a.auth_bytes) {
                    Ok((last, user)) => Ok(authenticated(
                        user,
                        sasl.current.clone(),
                        Bytes::from(last),
                        sasl.reauth_ms,
                        m,
                    )),
                    Err(e) => {
                        tracing::debug!(error = %e, "SCRAM client-final refused");
                        Ok(failed(invalid_credentials(m)))
                    }
                }
            }
            _ => Ok(illegal("SaslAuthenticate before a SaslHandshake")),
        },
        // Only SASL requests come here (see `Auth::gate`).
        _ => Ok(illegal("not a SASL request")),
    }
}

fn authenticated(
    user: String,
    current: Option<KafkaPrincipal>,
    bytes: Bytes,
    reauth_ms: u64,
    m: Mechanism,
) -> Outcome {
    // The session's lifetime as SaslAuthenticate v1+ tells it (0: no limit).
    let lifetime = i64::try_from(reauth_ms).unwrap_or(i64::MAX);
    let principal = KafkaPrincipal::user(user);
    if current.as_ref().is_some_and(|c| *c != principal) {
        return failed("Cannot change principals during re-authentication".to_string());
    }
    tracing::debug!(%principal, mechanism = m.name(), "authenticated");
    Outcome {
        response: authenticate_response(ErrorCode::None, None, bytes, lifetime),
        auth: Auth::Open {
            expires: (reauth_ms > 0).then(|| Instant::now() + Duration::from_millis(reauth_ms)),
        },
        principal: Some(principal),
        close: false,
    }
}
