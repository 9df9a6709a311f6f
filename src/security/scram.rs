//! The server side of SASL SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677), as
//! Kafka's broker speaks it.
//!
//! One [`ScramServer`] runs one authentication exchange, two round trips:
//!
//! ```text
//! client-first   n,,n=alice,r=<client nonce>                    -> client_first
//! server-first   r=<client nonce><server nonce>,s=<salt>,i=4096
//! client-final   c=biws,r=<client nonce><server nonce>,p=<proof> -> client_final
//! server-final   v=<server signature>
//! ```
//!
//! The broker keeps no password, only a [`ScramCredential`] per user and mechanism:
//! the salt, StoredKey = H(HMAC(SaltedPassword, "Client Key")), ServerKey =
//! HMAC(SaltedPassword, "Server Key") and the iteration count. The client's proof is
//! checked against StoredKey; ServerKey signs the server-final message, proving to the
//! client that the broker knew the credential.
//!
//! What this module must never do is tell an unauthenticated client whether a user
//! exists. An unknown user is answered with a server-first message built from a fake
//! credential (a salt derived from the name with a per-process secret, in the shape of
//! the salts Kafka's tools make, and the default 4096 iterations), and the exchange
//! fails at the proof with the same [`ScramError::InvalidCredentials`] as a wrong
//! password. No error's text carries the user name or the client's bytes: any of them
//! may be sent to the client and logged.
//!
//! It does no I/O and knows no broker state: the credential comes in through the
//! lookup closure given to [`ScramServer::client_first`].
//!
//! Where Aeon departs from Kafka it follows RFC 5802, and is never more lenient about
//! the proof:
//! - the gs2 flag `y` is accepted as well as `n` (Kafka accepts only `n`); Aeon offers
//!   no `-PLUS` mechanism, so a client that could bind to the channel but sees no
//!   server support for it is right to say `y`;
//! - `c=` must be the base64 of the gs2 header the client sent (Kafka does not check
//!   it), and `r=` the whole nonce, as Kafka 4.x asks, or that nonce after the client's
//!   own one: librdkafka before 2.6.1 (librdkafka#4895; Debian 12's kcat, among
//!   others) sends the client nonce twice, which Kafka 3.8.1 to 3.9 took (`endsWith`)
//!   and Kafka 4.x refuses. Either way the proof covers the nonce as sent and the
//!   server's fresh nonce is in it, so neither form can replay an exchange;
//! - the AuthMessage is made of the client's messages as sent, where Kafka rebuilds
//!   them from what it parsed; the two differ only for messages with `m=`, several
//!   extensions, or extensions in the client-final message, which Kafka's own client
//!   never sends;
//! - a user name may be any UTF-8 without NUL (Kafka's pattern allows only ASCII);
//! - the reserved `m=` attribute is refused (Kafka accepts and drops it), and so is
//!   `tokenauth=true`, since Aeon has no delegation tokens;
//! - the authorization id is checked, decoded, before the credential is looked up, so
//!   its error cannot tell that the user exists.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};
use std::fmt;
use std::sync::OnceLock;
use subtle::{Choice, ConstantTimeEq};

/// The longest client message accepted, checked before parsing. A client-first message
/// is a name and a nonce, a client-final one a nonce and two short base64 strings:
/// real ones are well under a kilobyte.
pub const MAX_MESSAGE_LEN: usize = 8 * 1024;

/// Random bytes in the server's part of the nonce, sent as 32 base64 characters.
const SERVER_NONCE_BYTES: usize = 24;

/// Random bits in a salt made by [`ScramCredential::generate_salt`] and in a fake one,
/// as in Kafka's `ScramFormatter.secureRandomBytes` (a 130-bit number in base 36).
const SALT_BITS: usize = 130;

/// The bytes that hold [`SALT_BITS`].
const SALT_BYTES: usize = SALT_BITS.div_ceil(8);

/// A SCRAM mechanism, named by its hash function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScramMechanism {
    /// `SCRAM-SHA-256` (RFC 7677).
    Sha256,
    /// `SCRAM-SHA-512`.
    Sha512,
}

impl ScramMechanism {
    /// Both mechanisms, in the order Kafka lists them.
    pub const ALL: [Self; 2] = [Self::Sha256, Self::Sha512];

    /// The fewest iterations a credential may have, for both mechanisms (Kafka's
    /// `ScramMechanism.minIterations`). Authentication refuses credentials below it.
    pub const MIN_ITERATIONS: i32 = 4096;

    /// The most iterations a new credential may have (Kafka's limit in
    /// AlterUserScramCredentials): the client pays for every iteration at each login.
    pub const MAX_ITERATIONS: i32 = 16384;

    /// The SASL mechanism name, as in SaslHandshake.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "SCRAM-SHA-256",
            Self::Sha512 => "SCRAM-SHA-512",
        }
    }

    /// The mechanism of a SASL mechanism name; the match is exact, as Kafka's.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|mechanism| mechanism.name() == name)
    }

    /// The mechanism's code in AlterUserScramCredentials, DescribeUserScramCredentials
    /// and Kafka's `UserScramCredentialRecord`: 1 for SHA-256, 2 for SHA-512.
    pub fn type_code(self) -> i8 {
        match self {
            Self::Sha256 => 1,
            Self::Sha512 => 2,
        }
    }

    /// The mechanism of a [`type_code`](Self::type_code); 0 (Kafka's UNKNOWN) and any
    /// other code give `None`.
    pub fn from_type_code(code: i8) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|mechanism| mechanism.type_code() == code)
    }

    /// The length of the hash, and so of SaltedPassword, StoredKey, ServerKey and the
    /// client's proof.
    pub fn digest_len(self) -> usize {
        match self {
            Self::Sha256 => 32,
            Self::Sha512 => 64,
        }
    }

    fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha256 => Sha256::digest(data).to_vec(),
            Self::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha256 => hmac_with::<Hmac<Sha256>>(key, data),
            Self::Sha512 => hmac_with::<Hmac<Sha512>>(key, data),
        }
    }

    /// RFC 5802's Hi(): PBKDF2 with this mechanism's HMAC, one block long.
    fn hi(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        let mut salted_password = vec![0; self.digest_len()];
        match self {
            Self::Sha256 => {
                pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut salted_password)
            }
            Self::Sha512 => {
                pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, iterations, &mut salted_password)
            }
        }
        salted_password
    }
}

impl fmt::Display for ScramMechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// HMAC takes keys of any length; were it ever to refuse one, the empty output matches
/// no stored key and no proof, so the failure is closed.
fn hmac_with<M: Mac + KeyInit>(key: &[u8], data: &[u8]) -> Vec<u8> {
    match <M as KeyInit>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(data);
            mac.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

/// Why a SCRAM exchange failed, or a credential could not be made. No variant's text
/// names the user or echoes the client's bytes: each may be sent to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScramError {
    /// The proof did not verify. A wrong password and an unknown user both end here,
    /// with this one text (Kafka's, for every SCRAM failure it does not explain).
    #[error("Authentication failed during authentication due to invalid credentials with SASL mechanism {0}")]
    InvalidCredentials(ScramMechanism),
    /// The message is longer than [`MAX_MESSAGE_LEN`]; it was not parsed.
    #[error("SCRAM message of {len} bytes is longer than the limit of {max} bytes")]
    MessageTooLong { len: usize, max: usize },
    /// The client-first message does not follow RFC 5802's grammar.
    #[error("invalid SCRAM client-first message: {0}")]
    InvalidClientFirst(&'static str),
    /// The client-final message does not follow RFC 5802's grammar.
    #[error("invalid SCRAM client-final message: {0}")]
    InvalidClientFinal(&'static str),
    /// The client asked for channel binding (gs2 flag `p=`), which Aeon does not offer.
    #[error("SCRAM channel binding is not supported")]
    ChannelBindingNotSupported,
    /// The authorization id is not the user name (Kafka's rule and text).
    #[error("Authentication failed: Client requested an authorization id that is different from username")]
    AuthorizationIdMismatch,
    /// The client asked for delegation-token authentication (`tokenauth=true`).
    #[error("SCRAM delegation token authentication is not supported")]
    TokenAuthNotSupported,
    /// `c=` of the client-final message is not the gs2 header of the client-first one.
    #[error("invalid SCRAM client-final message: channel binding does not match the gs2 header")]
    ChannelBindingMismatch,
    /// `r=` of the client-final message is not the nonce of the server-first one.
    #[error("Invalid client nonce in the final client message.")]
    NonceMismatch,
    /// A message came when the exchange did not expect one: out of order, after the
    /// end, or after an error.
    #[error("unexpected SCRAM message: the exchange is {0}")]
    UnexpectedMessage(&'static str),
    /// A new credential's iteration count is outside what Aeon accepts.
    #[error("SCRAM iterations {iterations} outside the accepted range {min}..={max}")]
    IterationsOutOfRange { iterations: i32, min: i32, max: i32 },
    /// A new credential has an empty salt.
    #[error("SCRAM salt must not be empty")]
    EmptySalt,
    /// A salted password is not one output of the mechanism's hash.
    #[error("salted password of {len} bytes for {mechanism}, which needs {expected}")]
    SaltedPasswordLength {
        mechanism: ScramMechanism,
        len: usize,
        expected: usize,
    },
    /// The operating system's random number generator failed.
    #[error("random number generator failed: {0}")]
    Random(String),
}

/// What the broker stores for one user and one mechanism (Kafka's `ScramCredential`).
/// The password cannot be recovered from it, but StoredKey and ServerKey still let one
/// pose as the broker, so it is kept out of logs: `Debug` shows the iterations only.
#[derive(Clone, PartialEq, Eq)]
pub struct ScramCredential {
    pub salt: Vec<u8>,
    pub stored_key: Vec<u8>,
    pub server_key: Vec<u8>,
    pub iterations: i32,
}

impl ScramCredential {
    /// The credential for `password` (its UTF-8 bytes, not normalized, as Kafka), as
    /// made by the command line that creates the first user. Runs PBKDF2, so it takes
    /// milliseconds.
    pub fn from_password(
        mechanism: ScramMechanism,
        password: &[u8],
        salt: &[u8],
        iterations: i32,
    ) -> Result<Self, ScramError> {
        let rounds = check_new_credential(salt, iterations)?;
        let salted_password = mechanism.hi(password, salt, rounds);
        Self::from_salted_password(mechanism, &salted_password, salt, iterations)
    }

    /// The credential for a salted password, Hi(password, salt, iterations), as
    /// AlterUserScramCredentials (KIP-554) sends it.
    pub fn from_salted_password(
        mechanism: ScramMechanism,
        salted_password: &[u8],
        salt: &[u8],
        iterations: i32,
    ) -> Result<Self, ScramError> {
        check_new_credential(salt, iterations)?;
        if salted_password.len() != mechanism.digest_len() {
            return Err(ScramError::SaltedPasswordLength {
                mechanism,
                len: salted_password.len(),
                expected: mechanism.digest_len(),
            });
        }
        let client_key = mechanism.hmac(salted_password, b"Client Key");
        Ok(Self {
            salt: salt.to_vec(),
            stored_key: mechanism.hash(&client_key),
            server_key: mechanism.hmac(salted_password, b"Server Key"),
            iterations,
        })
    }

    /// A fresh random salt in the shape Kafka's tools make: a 130-bit number written in
    /// base 36, as ASCII. A fake credential's salt has the same shape.
    pub fn generate_salt() -> Result<Vec<u8>, ScramError> {
        let mut bits = [0; SALT_BYTES];
        fill_random(&mut bits)?;
        Ok(base36_salt(bits))
    }
}

impl fmt::Debug for ScramCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramCredential")
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

/// The iteration count as PBKDF2's round count, if a new credential may have it.
fn check_new_credential(salt: &[u8], iterations: i32) -> Result<u32, ScramError> {
    let out_of_range = ScramError::IterationsOutOfRange {
        iterations,
        min: ScramMechanism::MIN_ITERATIONS,
        max: ScramMechanism::MAX_ITERATIONS,
    };
    if !(ScramMechanism::MIN_ITERATIONS..=ScramMechanism::MAX_ITERATIONS).contains(&iterations) {
        return Err(out_of_range);
    }
    if salt.is_empty() {
        return Err(ScramError::EmptySalt);
    }
    u32::try_from(iterations).map_err(|_| out_of_range)
}

fn fill_random(dest: &mut [u8]) -> Result<(), ScramError> {
    getrandom::fill(dest).map_err(|e| ScramError::Random(e.to_string()))
}

/// The low [`SALT_BITS`] of `bits` (big-endian) in lowercase base 36, without leading
/// zeros, as Java's `BigInteger.toString(36)` writes them.
fn base36_salt(mut bits: [u8; SALT_BYTES]) -> Vec<u8> {
    if let Some(top) = bits.first_mut() {
        *top &= 0xff >> (SALT_BYTES * 8 - SALT_BITS);
    }
    let mut digits = Vec::new();
    while bits.iter().any(|&byte| byte != 0) {
        let mut remainder = 0u32;
        for byte in bits.iter_mut() {
            let current = (remainder << 8) | u32::from(*byte);
            // current < 36 * 256, so the quotient fits in a byte.
            *byte = (current / 36) as u8;
            remainder = current % 36;
        }
        digits.push(char::from_digit(remainder, 36).unwrap_or('0') as u8);
    }
    if digits.is_empty() {
        digits.push(b'0');
    }
    digits.reverse();
    digits
}

/// The per-process key of the fake salts: the same unknown name gets the same salt on
/// every attempt (a fresh one each time would betray it), and without the key no one
/// can tell a fake salt from a real one. A restart changes every fake salt, which a
/// client watching one name across restarts could notice.
fn fake_salt_key() -> Result<&'static [u8; 32], ScramError> {
    static KEY: OnceLock<[u8; 32]> = OnceLock::new();
    if let Some(key) = KEY.get() {
        return Ok(key);
    }
    let mut key = [0; 32];
    fill_random(&mut key)?;
    Ok(KEY.get_or_init(|| key))
}

/// The credential an unknown user is answered with. Its keys are never matched: the
/// exchange fails at the proof whatever the client sends.
fn fake_credential(
    mechanism: ScramMechanism,
    username: &str,
) -> Result<ScramCredential, ScramError> {
    let key = fake_salt_key()?;
    let mut input = Vec::with_capacity(mechanism.name().len() + 1 + username.len());
    input.extend_from_slice(mechanism.name().as_bytes());
    input.push(0);
    input.extend_from_slice(username.as_bytes());
    let mut bits = [0; SALT_BYTES];
    for (bit, derived) in bits.iter_mut().zip(hmac_with::<Hmac<Sha256>>(key, &input)) {
        *bit = derived;
    }
    Ok(ScramCredential {
        salt: base36_salt(bits),
        stored_key: vec![0; mechanism.digest_len()],
        server_key: vec![0; mechanism.digest_len()],
        iterations: ScramMechanism::MIN_ITERATIONS,
    })
}

/// One SCRAM authentication exchange on the server side (Kafka's `ScramSaslServer`):
/// [`client_first`](Self::client_first), then [`client_final`](Self::client_final).
/// Any error ends the exchange: every later call fails with
/// [`ScramError::UnexpectedMessage`].
#[derive(Debug)]
pub struct ScramServer {
    mechanism: ScramMechanism,
    state: State,
    /// The server's part of the nonce when a test fixes it; random otherwise.
    server_nonce: Option<String>,
}

#[derive(Debug)]
enum State {
    AwaitingClientFirst,
    AwaitingClientFinal(Box<Exchange>),
    Complete,
    Failed,
}

impl State {
    fn describe(&self) -> &'static str {
        match self {
            Self::AwaitingClientFirst => "waiting for the client-first message",
            Self::AwaitingClientFinal(_) => "waiting for the client-final message",
            Self::Complete => "complete",
            Self::Failed => "over after an error",
        }
    }
}

/// What the client-first message settled, for the client-final one.
#[derive(Debug)]
struct Exchange {
    username: String,
    credential: ScramCredential,
    /// False when the user is unknown and `credential` is the fake one.
    known: bool,
    gs2_header: String,
    /// The client's nonce and the server's, as the client must send them back.
    nonce: String,
    /// The length of the client's part of `nonce`.
    client_nonce_len: usize,
    /// `client-first-message-bare "," server-first-message ","`: the AuthMessage up to
    /// the client-final message.
    auth_message_prefix: String,
}

/// Whether `nonce` is librdkafka's (before 2.6.1) echo: the client's nonce, then the
/// whole nonce (see the module doc).
fn sent_twice(nonce: &str, exchange: &Exchange) -> bool {
    let client = exchange.nonce.get(..exchange.client_nonce_len);
    nonce.len() == exchange.client_nonce_len + exchange.nonce.len()
        && client.is_some_and(|c| nonce.starts_with(c))
        && nonce.ends_with(&exchange.nonce)
}

impl ScramServer {
    /// A new exchange for `mechanism`, waiting for the client-first message.
    pub fn new(mechanism: ScramMechanism) -> Self {
        Self {
            mechanism,
            state: State::AwaitingClientFirst,
            server_nonce: None,
        }
    }

    /// An exchange whose server nonce is `server_nonce`, to replay RFC test vectors.
    #[cfg(test)]
    fn with_server_nonce(mechanism: ScramMechanism, server_nonce: &str) -> Self {
        Self {
            server_nonce: Some(server_nonce.to_string()),
            ..Self::new(mechanism)
        }
    }

    /// The mechanism this exchange speaks.
    pub fn mechanism(&self) -> ScramMechanism {
        self.mechanism
    }

    /// Whether the client proved its identity and was sent the server-final message.
    pub fn is_complete(&self) -> bool {
        matches!(self.state, State::Complete)
    }

    /// Reads the client-first message and answers with the server-first message.
    /// `lookup` gets the decoded user name and gives that user's credential for this
    /// mechanism, or `None` if there is none; it is called at most once, and not at
    /// all for a message that is malformed or asks for what Aeon does not offer.
    pub fn client_first(
        &mut self,
        message: &[u8],
        lookup: impl FnOnce(&str) -> Option<ScramCredential>,
    ) -> Result<Vec<u8>, ScramError> {
        match std::mem::replace(&mut self.state, State::Failed) {
            State::AwaitingClientFirst => {}
            other => return Err(ScramError::UnexpectedMessage(other.describe())),
        }
        let (server_first, exchange) = self.start(message, lookup)?;
        self.state = State::AwaitingClientFinal(Box::new(exchange));
        Ok(server_first.into_bytes())
    }

    /// Reads the client-final message, verifies the proof and answers with the
    /// server-final message (`v=` and the server's signature), with the name of the
    /// user now authenticated (also the authorization id, as in Kafka).
    pub fn client_final(&mut self, message: &[u8]) -> Result<(Vec<u8>, String), ScramError> {
        let exchange = match std::mem::replace(&mut self.state, State::Failed) {
            State::AwaitingClientFinal(exchange) => exchange,
            other => return Err(ScramError::UnexpectedMessage(other.describe())),
        };
        let server_final = self.finish(&exchange, message)?;
        self.state = State::Complete;
        Ok((server_final, exchange.username))
    }

    fn start(
        &self,
        message: &[u8],
        lookup: impl FnOnce(&str) -> Option<ScramCredential>,
    ) -> Result<(String, Exchange), ScramError> {
        let message = checked_text(message, ScramError::InvalidClientFirst)?;
        let first = ClientFirst::parse(message)?;
        if first
            .authzid
            .as_ref()
            .is_some_and(|authzid| *authzid != first.username)
        {
            return Err(ScramError::AuthorizationIdMismatch);
        }
        // Made for every user, before the lookup: the work, and any failure of the
        // random number generator, must not depend on whether the user exists.
        let fake = fake_credential(self.mechanism, &first.username)?;
        let server_nonce = match &self.server_nonce {
            Some(nonce) => nonce.clone(),
            None => {
                let mut bytes = [0; SERVER_NONCE_BYTES];
                fill_random(&mut bytes)?;
                BASE64.encode(bytes)
            }
        };
        // A credential with too few iterations is refused as Kafka refuses it, but
        // like an unknown user, so that the refusal does not show the user exists.
        let (credential, known) = match lookup(&first.username) {
            Some(credential) if credential.iterations >= ScramMechanism::MIN_ITERATIONS => {
                (credential, true)
            }
            _ => (fake, false),
        };
        let nonce = format!("{}{server_nonce}", first.nonce);
        let server_first = format!(
            "r={nonce},s={},i={}",
            BASE64.encode(&credential.salt),
            credential.iterations
        );
        let auth_message_prefix = format!("{},{server_first},", first.bare);
        let exchange = Exchange {
            username: first.username,
            credential,
            known,
            gs2_header: first.gs2_header.to_string(),
            client_nonce_len: first.nonce.len(),
            nonce,
            auth_message_prefix,
        };
        Ok((server_first, exchange))
    }

    fn finish(&self, exchange: &Exchange, message: &[u8]) -> Result<Vec<u8>, ScramError> {
        let message = checked_text(message, ScramError::InvalidClientFinal)?;
        let last = ClientFinal::parse(message)?;
        if last.channel_binding != exchange.gs2_header.as_bytes() {
            return Err(ScramError::ChannelBindingMismatch);
        }
        if last.nonce != exchange.nonce && !sent_twice(last.nonce, exchange) {
            return Err(ScramError::NonceMismatch);
        }
        if last.proof.len() != self.mechanism.digest_len() {
            return Err(ScramError::InvalidClientFinal("proof has the wrong length"));
        }
        let auth_message = format!("{}{}", exchange.auth_message_prefix, last.without_proof);
        let credential = &exchange.credential;
        // ClientKey = ClientProof XOR HMAC(StoredKey, AuthMessage); then H(ClientKey)
        // must be StoredKey.
        let client_signature = self
            .mechanism
            .hmac(&credential.stored_key, auth_message.as_bytes());
        let client_key: Vec<u8> = last
            .proof
            .iter()
            .zip(&client_signature)
            .map(|(proof, signature)| proof ^ signature)
            .collect();
        let verified = self
            .mechanism
            .hash(&client_key)
            .ct_eq(&credential.stored_key)
            & Choice::from(u8::from(exchange.known));
        if !bool::from(verified) {
            return Err(ScramError::InvalidCredentials(self.mechanism));
        }
        let server_signature = self
            .mechanism
            .hmac(&credential.server_key, auth_message.as_bytes());
        Ok(format!("v={}", BASE64.encode(server_signature)).into_bytes())
    }
}

/// The message as text, if it is within [`MAX_MESSAGE_LEN`] and UTF-8.
fn checked_text(
    message: &[u8],
    invalid: fn(&'static str) -> ScramError,
) -> Result<&str, ScramError> {
    if message.len() > MAX_MESSAGE_LEN {
        return Err(ScramError::MessageTooLong {
            len: message.len(),
            max: MAX_MESSAGE_LEN,
        });
    }
    std::str::from_utf8(message).map_err(|_| invalid("not UTF-8"))
}

/// A parsed client-first message:
/// `gs2-header n=saslname,r=nonce[,extensions]`, the gs2 header being
/// `("n" / "y") "," ["a=" saslname] ","`.
struct ClientFirst<'a> {
    gs2_header: &'a str,
    /// Decoded; `None` when the header has none.
    authzid: Option<String>,
    /// Decoded.
    username: String,
    nonce: &'a str,
    /// The message without its gs2 header, as the AuthMessage takes it.
    bare: &'a str,
}

impl<'a> ClientFirst<'a> {
    fn parse(message: &'a str) -> Result<Self, ScramError> {
        let invalid = ScramError::InvalidClientFirst;
        let (flag, rest) = message.split_once(',').ok_or(invalid("no gs2 header"))?;
        match flag {
            "n" | "y" => {}
            _ if flag.starts_with("p=") => return Err(ScramError::ChannelBindingNotSupported),
            _ => return Err(invalid("unknown channel binding flag")),
        }
        let (authzid, bare) = rest.split_once(',').ok_or(invalid("no gs2 header"))?;
        let authzid = match authzid {
            "" => None,
            _ => {
                let saslname = authzid
                    .strip_prefix("a=")
                    .ok_or(invalid("unknown gs2 header field"))?;
                Some(decode_saslname(saslname).ok_or(invalid("invalid authorization id"))?)
            }
        };
        let gs2_header = message
            .get(..message.len() - bare.len())
            .ok_or(invalid("no gs2 header"))?;
        if bare.starts_with("m=") {
            return Err(invalid("mandatory extensions are not supported"));
        }
        let mut attributes = bare.split(',');
        let username = attributes
            .next()
            .and_then(|attribute| attribute.strip_prefix("n="))
            .ok_or(invalid("no user name"))?;
        let username = decode_saslname(username).ok_or(invalid("invalid user name"))?;
        let nonce = attributes
            .next()
            .and_then(|attribute| attribute.strip_prefix("r="))
            .ok_or(invalid("no nonce"))?;
        if !is_printable(nonce) {
            return Err(invalid("invalid nonce"));
        }
        let mut token_auth = false;
        for extension in attributes {
            let (key, value) = parse_extension(extension).ok_or(invalid("invalid extension"))?;
            // Kafka reads the value with Java's Boolean.parseBoolean.
            token_auth |= key == "tokenauth" && value.eq_ignore_ascii_case("true");
        }
        if token_auth {
            return Err(ScramError::TokenAuthNotSupported);
        }
        Ok(Self {
            gs2_header,
            authzid,
            username,
            nonce,
            bare,
        })
    }
}

/// A parsed client-final message: `c=base64,r=nonce[,extensions],p=base64`.
struct ClientFinal<'a> {
    /// Decoded `c=`.
    channel_binding: Vec<u8>,
    nonce: &'a str,
    /// Decoded `p=`.
    proof: Vec<u8>,
    /// The message up to `,p=`, as the AuthMessage takes it.
    without_proof: &'a str,
}

impl<'a> ClientFinal<'a> {
    fn parse(message: &'a str) -> Result<Self, ScramError> {
        let invalid = ScramError::InvalidClientFinal;
        let (without_proof, proof) = message.rsplit_once(',').ok_or(invalid("no proof"))?;
        let proof = proof.strip_prefix("p=").ok_or(invalid("no proof"))?;
        let mut attributes = without_proof.split(',');
        let channel_binding = attributes
            .next()
            .and_then(|attribute| attribute.strip_prefix("c="))
            .ok_or(invalid("no channel binding"))?;
        let nonce = attributes
            .next()
            .and_then(|attribute| attribute.strip_prefix("r="))
            .ok_or(invalid("no nonce"))?;
        // Extensions are allowed and ignored, as Kafka does.
        for extension in attributes {
            parse_extension(extension).ok_or(invalid("invalid extension"))?;
        }
        Ok(Self {
            channel_binding: BASE64
                .decode(channel_binding)
                .map_err(|_| invalid("channel binding is not base64"))?,
            nonce,
            proof: BASE64
                .decode(proof)
                .map_err(|_| invalid("proof is not base64"))?,
            without_proof,
        })
    }
}

/// A user name or authorization id with `=2C` and `=3D` decoded to `,` and `=`; `None`
/// if it is empty, holds NUL or any other `=` sequence.
fn decode_saslname(saslname: &str) -> Option<String> {
    if saslname.is_empty() || saslname.contains('\0') {
        return None;
    }
    let mut decoded = String::with_capacity(saslname.len());
    let mut rest = saslname;
    while let Some(at) = rest.find('=') {
        decoded.push_str(rest.get(..at)?);
        match rest.get(at + 1..at + 3)? {
            "2C" => decoded.push(','),
            "3D" => decoded.push('='),
            _ => return None,
        }
        rest = rest.get(at + 3..)?;
    }
    decoded.push_str(rest);
    Some(decoded)
}

/// RFC 5802's `printable`: ASCII 0x21..=0x7E but `,`, at least one.
fn is_printable(value: &str) -> bool {
    !value.is_empty()
        && value
            .bytes()
            .all(|byte| (0x21..=0x7e).contains(&byte) && byte != b',')
}

/// An extension `key=value` as Kafka's pattern has it: the key ASCII letters, the
/// value ASCII from 0x01 without `,`, both non-empty.
fn parse_extension(extension: &str) -> Option<(&str, &str)> {
    let (key, value) = extension.split_once('=')?;
    let key_ok = !key.is_empty() && key.bytes().all(|byte| byte.is_ascii_alphabetic());
    let value_ok = !value.is_empty()
        && value
            .bytes()
            .all(|byte| (0x01..=0x7f).contains(&byte) && byte != b',');
    (key_ok && value_ok).then_some((key, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC_SALT: &str = "W22ZaJ0SNY7soEsUEjb6gQ==";
    const RFC_SERVER_NONCE: &str = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";

    fn credential(mechanism: ScramMechanism, password: &str) -> ScramCredential {
        ScramCredential::from_password(mechanism, password.as_bytes(), b"0123456789abcdef", 4096)
            .unwrap()
    }

    /// A SCRAM client written from RFC 5802 with the crates directly, not with the
    /// module's helpers.
    struct Client {
        mechanism: ScramMechanism,
        password: String,
        gs2_header: String,
        bare: String,
        channel_binding: String,
        extensions: String,
        nonce: String,
        /// Sent before the nonce in the client-final message (librdkafka < 2.6.1).
        nonce_prefix: String,
    }

    impl Client {
        fn new(mechanism: ScramMechanism, user: &str, password: &str) -> Self {
            let nonce = "fyko+d2lbbFgONRv9qkxdawL".to_string();
            Self {
                mechanism,
                password: password.to_string(),
                gs2_header: "n,,".to_string(),
                bare: format!("n={user},r={nonce}"),
                channel_binding: BASE64.encode("n,,"),
                extensions: String::new(),
                nonce,
                nonce_prefix: String::new(),
            }
        }

        fn first(&self) -> Vec<u8> {
            format!("{}{}", self.gs2_header, self.bare).into_bytes()
        }

        fn hmac(&self, key: &[u8], data: &[u8]) -> Vec<u8> {
            match self.mechanism {
                ScramMechanism::Sha256 => {
                    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap();
                    mac.update(data);
                    mac.finalize().into_bytes().to_vec()
                }
                ScramMechanism::Sha512 => {
                    let mut mac = <Hmac<Sha512> as KeyInit>::new_from_slice(key).unwrap();
                    mac.update(data);
                    mac.finalize().into_bytes().to_vec()
                }
            }
        }

        /// The client-final message for `server_first`, and the server-final message
        /// the client expects back.
        fn last(&self, server_first: &[u8]) -> (Vec<u8>, Vec<u8>) {
            let server_first = std::str::from_utf8(server_first).unwrap();
            let mut fields = server_first.split(',');
            let nonce = fields.next().unwrap().strip_prefix("r=").unwrap();
            let salt = BASE64
                .decode(fields.next().unwrap().strip_prefix("s=").unwrap())
                .unwrap();
            let iterations: u32 = fields
                .next()
                .unwrap()
                .strip_prefix("i=")
                .unwrap()
                .parse()
                .unwrap();
            assert!(nonce.starts_with(&self.nonce));
            let mut salted = vec![0; self.mechanism.digest_len()];
            match self.mechanism {
                ScramMechanism::Sha256 => pbkdf2::pbkdf2_hmac::<Sha256>(
                    self.password.as_bytes(),
                    &salt,
                    iterations,
                    &mut salted,
                ),
                ScramMechanism::Sha512 => pbkdf2::pbkdf2_hmac::<Sha512>(
                    self.password.as_bytes(),
                    &salt,
                    iterations,
                    &mut salted,
                ),
            }
            let client_key = self.hmac(&salted, b"Client Key");
            let stored_key = match self.mechanism {
                ScramMechanism::Sha256 => Sha256::digest(&client_key).to_vec(),
                ScramMechanism::Sha512 => Sha512::digest(&client_key).to_vec(),
            };
            let without_proof = format!(
                "c={},r={}{nonce}{}",
                self.channel_binding, self.nonce_prefix, self.extensions
            );
            let auth_message = format!("{},{server_first},{without_proof}", self.bare);
            let signature = self.hmac(&stored_key, auth_message.as_bytes());
            let proof: Vec<u8> = client_key
                .iter()
                .zip(&signature)
                .map(|(k, s)| k ^ s)
                .collect();
            let server_key = self.hmac(&salted, b"Server Key");
            let server_signature = self.hmac(&server_key, auth_message.as_bytes());
            (
                format!("{without_proof},p={}", BASE64.encode(proof)).into_bytes(),
                format!("v={}", BASE64.encode(server_signature)).into_bytes(),
            )
        }
    }

    /// Runs a whole exchange of `client` against a store holding `stored` for "user".
    fn run(
        client: &Client,
        stored: &ScramCredential,
    ) -> Result<(Vec<u8>, String, Vec<u8>), ScramError> {
        let mut server = ScramServer::new(client.mechanism);
        let server_first = server.client_first(&client.first(), |user| {
            (user == "user").then(|| stored.clone())
        })?;
        let (last, expected) = client.last(&server_first);
        let (server_final, user) = server.client_final(&last)?;
        assert!(server.is_complete());
        Ok((server_final, user, expected))
    }

    /// A server that has answered `client_first` for user "user" with `stored`, and the
    /// server-first message.
    fn started(message: &str, stored: &ScramCredential) -> (ScramServer, String) {
        let mut server = ScramServer::new(ScramMechanism::Sha256);
        let server_first = server
            .client_first(message.as_bytes(), |_| Some(stored.clone()))
            .unwrap();
        (server, String::from_utf8(server_first).unwrap())
    }

    fn server_nonce_of(server_first: &str) -> &str {
        server_first
            .strip_prefix("r=")
            .and_then(|rest| rest.split(',').next())
            .unwrap()
    }

    #[test]
    fn rfc7677_example_gives_the_exact_server_messages() {
        let salt = BASE64.decode(RFC_SALT).unwrap();
        let stored =
            ScramCredential::from_password(ScramMechanism::Sha256, b"pencil", &salt, 4096).unwrap();
        let mut server = ScramServer::with_server_nonce(ScramMechanism::Sha256, RFC_SERVER_NONCE);
        let server_first = server
            .client_first(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO", |user| {
                assert_eq!(user, "user");
                Some(stored)
            })
            .unwrap();
        assert_eq!(
            server_first,
            b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
              s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
        );
        let (server_final, user) = server
            .client_final(
                b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
                  p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
            )
            .unwrap();
        assert_eq!(
            server_final,
            b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        );
        assert_eq!(user, "user");
        assert!(server.is_complete());
    }

    #[test]
    fn round_trip_with_an_independent_client_for_both_mechanisms() {
        for mechanism in ScramMechanism::ALL {
            let client = Client::new(mechanism, "user", "correct horse");
            let (server_final, user, expected) =
                run(&client, &credential(mechanism, "correct horse")).unwrap();
            assert_eq!(server_final, expected, "{mechanism}");
            assert_eq!(user, "user");
        }
    }

    #[test]
    fn sha512_round_trip_with_a_salted_password_credential() {
        let mechanism = ScramMechanism::Sha512;
        let salt = ScramCredential::generate_salt().unwrap();
        let mut salted = [0; 64];
        pbkdf2::pbkdf2_hmac::<Sha512>(b"p\xc3\xa4ss", &salt, 8192, &mut salted);
        let stored =
            ScramCredential::from_salted_password(mechanism, &salted, &salt, 8192).unwrap();
        let client = Client::new(mechanism, "user", "päss");
        let (server_final, _, expected) = run(&client, &stored).unwrap();
        assert_eq!(server_final, expected);
    }

    #[test]
    fn wrong_password_fails_with_invalid_credentials() {
        for mechanism in ScramMechanism::ALL {
            let client = Client::new(mechanism, "user", "wrong");
            let error = run(&client, &credential(mechanism, "right")).unwrap_err();
            assert_eq!(error, ScramError::InvalidCredentials(mechanism));
        }
        assert_eq!(
            ScramError::InvalidCredentials(ScramMechanism::Sha256).to_string(),
            "Authentication failed during authentication due to invalid credentials \
             with SASL mechanism SCRAM-SHA-256"
        );
    }

    #[test]
    fn unknown_user_fails_at_the_proof_like_a_wrong_password() {
        let stored = ScramCredential::from_password(
            ScramMechanism::Sha256,
            b"pw",
            &ScramCredential::generate_salt().unwrap(),
            4096,
        )
        .unwrap();
        let first_of = |user: &str| {
            let mut server = ScramServer::new(ScramMechanism::Sha256);
            let message = format!("n,,n={user},r=abcdefgh");
            let server_first = server
                .client_first(message.as_bytes(), |name| {
                    (name == "known").then(|| stored.clone())
                })
                .unwrap();
            (server, String::from_utf8(server_first).unwrap())
        };
        let (_, known) = first_of("known");
        let (mut server, unknown) = first_of("ghost");
        // Same shape: r=<client nonce><32 base64>,s=<base64 of a base-36 salt>,i=4096.
        for server_first in [&known, &unknown] {
            let fields: Vec<&str> = server_first.split(',').collect();
            assert_eq!(fields.len(), 3, "{server_first}");
            assert_eq!(fields[0].len(), "r=abcdefgh".len() + 32);
            let salt = BASE64
                .decode(fields[1].strip_prefix("s=").unwrap())
                .unwrap();
            assert!((20..=26).contains(&salt.len()), "{server_first}");
            assert!(salt
                .iter()
                .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase()));
            assert_eq!(fields[2], "i=4096");
        }
        // The fake salt is the same on every attempt, and differs between names.
        let salt_of = |server_first: &str| server_first.split(',').nth(1).unwrap().to_string();
        assert_eq!(salt_of(&unknown), salt_of(&first_of("ghost").1));
        assert_ne!(salt_of(&unknown), salt_of(&first_of("ghost2").1));

        let client = Client::new(ScramMechanism::Sha256, "ghost", "pw");
        let mut client = client;
        client.nonce = "abcdefgh".to_string();
        client.bare = "n=ghost,r=abcdefgh".to_string();
        let (last, _) = client.last(unknown.as_bytes());
        let error = server.client_final(&last).unwrap_err();
        assert_eq!(
            error,
            ScramError::InvalidCredentials(ScramMechanism::Sha256)
        );
        assert!(!error.to_string().contains("ghost"));
    }

    #[test]
    fn credential_with_too_few_iterations_is_refused_like_an_unknown_user() {
        let mut stored = credential(ScramMechanism::Sha256, "pw");
        stored.iterations = 1000;
        let mut server = ScramServer::new(ScramMechanism::Sha256);
        let client = Client::new(ScramMechanism::Sha256, "user", "pw");
        let server_first = server
            .client_first(&client.first(), |_| Some(stored.clone()))
            .unwrap();
        assert!(String::from_utf8_lossy(&server_first).ends_with(",i=4096"));
        let (last, _) = client.last(&server_first);
        assert_eq!(
            server.client_final(&last),
            Err(ScramError::InvalidCredentials(ScramMechanism::Sha256))
        );
    }

    #[test]
    fn server_nonce_is_random_printable_and_long() {
        let stored = credential(ScramMechanism::Sha256, "pw");
        let (_, one) = started("n,,n=user,r=abc", &stored);
        let (_, two) = started("n,,n=user,r=abc", &stored);
        let (one, two) = (server_nonce_of(&one), server_nonce_of(&two));
        assert_ne!(one, two);
        let suffix = one.strip_prefix("abc").unwrap();
        assert_eq!(BASE64.decode(suffix).unwrap().len(), SERVER_NONCE_BYTES);
        assert!(is_printable(suffix));
    }

    #[test]
    fn nonce_mismatch_is_rejected() {
        let stored = credential(ScramMechanism::Sha256, "pw");
        // The client's nonce alone.
        let (mut server, _) = started("n,,n=user,r=abc", &stored);
        let proof = BASE64.encode([0u8; 32]);
        let last = format!("c=biws,r=abc,p={proof}");
        assert_eq!(
            server.client_final(last.as_bytes()),
            Err(ScramError::NonceMismatch)
        );

        // Something before the nonce other than the client's own nonce is refused.
        for prefix in ["x", "xyz", "abcabc", "ab"] {
            let (mut server, first) = started("n,,n=user,r=abc", &stored);
            let sent = format!("{prefix}{}", server_nonce_of(&first));
            let last = format!("c=biws,r={sent},p={proof}");
            assert_eq!(
                server.client_final(last.as_bytes()),
                Err(ScramError::NonceMismatch),
                "{sent}"
            );
        }
    }

    /// librdkafka before 2.6.1 sends its own nonce, then the whole nonce; with a good
    /// proof over that message it authenticates (and with a bad one it does not).
    #[test]
    fn librdkafkas_doubled_client_nonce_is_taken_with_a_good_proof() {
        for mechanism in [ScramMechanism::Sha256, ScramMechanism::Sha512] {
            let stored = credential(mechanism, "pencil");
            let mut client = Client::new(mechanism, "user", "pencil");
            client.nonce_prefix = client.nonce.clone();
            let (server_final, user, expected) = run(&client, &stored).expect("authenticated");
            assert_eq!((server_final, user.as_str()), (expected, "user"));
            let mut wrong = Client::new(mechanism, "user", "pen");
            wrong.nonce_prefix = wrong.nonce.clone();
            assert!(run(&wrong, &stored).is_err());
        }
    }

    #[test]
    fn channel_binding_request_is_rejected() {
        let mut server = ScramServer::new(ScramMechanism::Sha256);
        let result = server.client_first(b"p=tls-unique,,n=user,r=abc", |_| {
            panic!("no lookup for a refused message")
        });
        assert_eq!(result, Err(ScramError::ChannelBindingNotSupported));
    }

    #[test]
    fn y_flag_is_accepted_and_must_come_back_in_c() {
        let stored = credential(ScramMechanism::Sha256, "pw");
        let mut client = Client::new(ScramMechanism::Sha256, "user", "pw");
        client.gs2_header = "y,,".to_string();
        client.channel_binding = BASE64.encode("y,,");
        let (server_final, _, expected) = run(&client, &stored).unwrap();
        assert_eq!(server_final, expected);

        client.channel_binding = BASE64.encode("n,,");
        assert_eq!(
            run(&client, &stored),
            Err(ScramError::ChannelBindingMismatch)
        );
    }

    #[test]
    fn c_that_is_not_the_gs2_header_is_rejected() {
        let stored = credential(ScramMechanism::Sha256, "pw");
        let mut client = Client::new(ScramMechanism::Sha256, "user", "pw");
        client.gs2_header = "n,a=user,".to_string();
        // biws is "n,,": the header without the authzid the client sent.
        assert_eq!(
            run(&client, &stored),
            Err(ScramError::ChannelBindingMismatch)
        );
        client.channel_binding = BASE64.encode("n,a=user,");
        assert!(run(&client, &stored).is_ok());
    }

    #[test]
    fn bad_base64_is_rejected() {
        let stored = credential(ScramMechanism::Sha256, "pw");
        for (c, p) in [
            ("biws", "not*base64"),
            ("biws", "AAAA="),
            ("biws", "AAB"),
            ("bi!s", "AAAA"),
            ("biw", "AAAA"),
        ] {
            let (mut server, first) = started("n,,n=user,r=abc", &stored);
            let last = format!("c={c},r={},p={p}", server_nonce_of(&first));
            assert!(
                matches!(
                    server.client_final(last.as_bytes()),
                    Err(ScramError::InvalidClientFinal(_))
                ),
                "{last}"
            );
        }
    }

    #[test]
    fn proof_of_the_wrong_length_is_rejected() {
        let stored = credential(ScramMechanism::Sha256, "pw");
        for len in [0, 1, 31, 33, 64] {
            let (mut server, first) = started("n,,n=user,r=abc", &stored);
            let last = format!(
                "c=biws,r={},p={}",
                server_nonce_of(&first),
                BASE64.encode(vec![7; len])
            );
            assert_eq!(
                server.client_final(last.as_bytes()),
                Err(ScramError::InvalidClientFinal("proof has the wrong length")),
                "{len}"
            );
        }
    }

    #[test]
    fn username_escapes_are_decoded() {
        let stored = credential(ScramMechanism::Sha256, "pw");
        let cases = [
            ("a=2Cb", "a,b"),
            ("a=3Db", "a=b"),
            ("=3D=2C", "=,"),
            ("=2C3D", ",3D"),
            ("josé", "josé"),
        ];
        for (saslname, user) in cases {
            let mut server = ScramServer::new(ScramMechanism::Sha256);
            let mut seen = String::new();
            server
                .client_first(format!("n,,n={saslname},r=abc").as_bytes(), |name| {
                    seen = name.to_string();
                    Some(stored.clone())
                })
                .unwrap();
            assert_eq!(seen, user);
        }
        // And the decoded name is the one authenticated.
        let mut client = Client::new(ScramMechanism::Sha256, "a=2Cb", "pw");
        client.bare = "n=a=2Cb,r=fyko+d2lbbFgONRv9qkxdawL".to_string();
        let mut server = ScramServer::new(ScramMechanism::Sha256);
        let first = server
            .client_first(&client.first(), |name| {
                (name == "a,b").then(|| stored.clone())
            })
            .unwrap();
        let (last, _) = client.last(&first);
        assert_eq!(server.client_final(&last).unwrap().1, "a,b");
    }

    #[test]
    fn invalid_escapes_are_rejected() {
        for saslname in [
            "a=2cb",
            "a=41",
            "a=",
            "a=3",
            "=",
            "==3D",
            "a=2",
            "a=\u{e9}x",
            "a\0b",
            "",
        ] {
            let mut server = ScramServer::new(ScramMechanism::Sha256);
            let result = server.client_first(format!("n,,n={saslname},r=abc").as_bytes(), |_| {
                panic!("no lookup for a malformed name")
            });
            assert!(
                matches!(result, Err(ScramError::InvalidClientFirst(_))),
                "{saslname:?}: {result:?}"
            );
        }
    }

    #[test]
    fn authzid_must_be_the_username() {
        let stored = credential(ScramMechanism::Sha256, "pw");
        let mut server = ScramServer::new(ScramMechanism::Sha256);
        let result = server.client_first(b"n,a=admin,n=user,r=abc", |_| panic!("no lookup"));
        assert_eq!(result, Err(ScramError::AuthorizationIdMismatch));
        // Whether or not the user exists: the check comes before the lookup.
        let mut server = ScramServer::new(ScramMechanism::Sha256);
        let result = server.client_first(b"n,a=admin,n=nobody,r=abc", |_| None);
        assert_eq!(result, Err(ScramError::AuthorizationIdMismatch));
        // Compared decoded, so an escaped authzid names the same user.
        let mut server = ScramServer::new(ScramMechanism::Sha256);
        assert!(server
            .client_first(b"n,a=a=2Cb,n=a=2Cb,r=abc", |_| Some(stored.clone()))
            .is_ok());
        let mut server = ScramServer::new(ScramMechanism::Sha256);
        assert!(server
            .client_first(b"n,a=user,n=user,r=abc", |_| Some(stored.clone()))
            .is_ok());
        let mut server = ScramServer::new(ScramMechanism::Sha256);
        assert!(matches!(
            server.client_first(b"n,a=,n=user,r=abc", |_| Some(stored.clone())),
            Err(ScramError::InvalidClientFirst(_))
        ));
    }

    #[test]
    fn tokenauth_is_refused_and_other_extensions_are_ignored() {
        for extension in ["tokenauth=true", "tokenauth=TRUE", "x=1,tokenauth=True"] {
            let mut server = ScramServer::new(ScramMechanism::Sha256);
            let message = format!("n,,n=user,r=abc,{extension}");
            let result = server.client_first(message.as_bytes(), |_| panic!("no lookup"));
            assert_eq!(
                result,
                Err(ScramError::TokenAuthNotSupported),
                "{extension}"
            );
        }
        // Unknown extensions and tokenauth=false are ignored, but signed as sent.
        let stored = credential(ScramMechanism::Sha256, "pw");
        let mut client = Client::new(ScramMechanism::Sha256, "user", "pw");
        client.bare.push_str(",tokenauth=false,foo=bar=baz");
        client.extensions = ",zz=1".to_string();
        let (server_final, _, expected) = run(&client, &stored).unwrap();
        assert_eq!(server_final, expected);
    }

    #[test]
    fn malformed_client_first_messages_are_rejected() {
        let cases = [
            "",
            "n",
            "n,",
            "x,,n=user,r=abc",
            "N,,n=user,r=abc",
            "n,b=user,n=user,r=abc",
            "n,,m=ext,n=user,r=abc",
            "n,,user,r=abc",
            "n,,n=user",
            "n,,n=user,r=",
            "n,,n=user,r=a b",
            "n,,n=user,r=\u{e9}",
            "n,,n=user,s=abc",
            "n,,r=abc,n=user",
            "n,,n=user,r=abc,",
            "n,,n=user,r=abc,=x",
            "n,,n=user,r=abc,k1=x",
            "n,,n=user,r=abc,k=",
            "n,,n=user,r=abc,k=\u{e9}",
            "n,,n=user,r=abc,k",
        ];
        for message in cases {
            let mut server = ScramServer::new(ScramMechanism::Sha256);
            let result = server.client_first(message.as_bytes(), |_| panic!("no lookup"));
            assert!(
                matches!(result, Err(ScramError::InvalidClientFirst(_))),
                "{message:?}: {result:?}"
            );
        }
        let mut server = ScramServer::new(ScramMechanism::Sha256);
        assert_eq!(
            server.client_first(b"n,,n=us\xffer,r=abc", |_| None),
            Err(ScramError::InvalidClientFirst("not UTF-8"))
        );
    }

    #[test]
    fn malformed_client_final_messages_are_rejected() {
        let stored = credential(ScramMechanism::Sha256, "pw");
        let proof = BASE64.encode([0u8; 32]);
        for template in [
            "",
            "c=biws",
            "c=biws,r=NONCE",
            "r=NONCE,c=biws,p=PROOF",
            "c=biws,p=PROOF",
            "c=biws,r=NONCE,p=PROOF,x=1",
            "c=biws,r=NONCE,1=2,p=PROOF",
            "c=biws,r=NONCE,,p=PROOF",
            "biws,r=NONCE,p=PROOF",
        ] {
            let (mut server, first) = started("n,,n=user,r=abc", &stored);
            let message = template
                .replace("NONCE", server_nonce_of(&first))
                .replace("PROOF", &proof);
            let result = server.client_final(message.as_bytes());
            assert!(
                matches!(result, Err(ScramError::InvalidClientFinal(_))),
                "{message:?}: {result:?}"
            );
        }
    }

    #[test]
    fn messages_over_the_cap_are_rejected_before_parsing() {
        let long = vec![b'x'; MAX_MESSAGE_LEN + 1];
        let mut server = ScramServer::new(ScramMechanism::Sha256);
        assert_eq!(
            server.client_first(&long, |_| panic!("no lookup")),
            Err(ScramError::MessageTooLong {
                len: MAX_MESSAGE_LEN + 1,
                max: MAX_MESSAGE_LEN
            })
        );
        let stored = credential(ScramMechanism::Sha256, "pw");
        let (mut server, _) = started("n,,n=user,r=abc", &stored);
        assert!(matches!(
            server.client_final(&long),
            Err(ScramError::MessageTooLong { .. })
        ));
        // A long name within the cap is fine.
        let name = "u".repeat(MAX_MESSAGE_LEN - 20);
        let mut server = ScramServer::new(ScramMechanism::Sha256);
        assert!(server
            .client_first(format!("n,,n={name},r=abc").as_bytes(), |_| None)
            .is_ok());
    }

    #[test]
    fn calls_out_of_order_fail_and_end_the_exchange() {
        let stored = credential(ScramMechanism::Sha256, "pw");
        let client = Client::new(ScramMechanism::Sha256, "user", "pw");

        // Final before first.
        let mut server = ScramServer::new(ScramMechanism::Sha256);
        assert!(matches!(
            server.client_final(b"c=biws,r=abc,p=AAAA"),
            Err(ScramError::UnexpectedMessage(_))
        ));
        assert!(matches!(
            server.client_first(&client.first(), |_| Some(stored.clone())),
            Err(ScramError::UnexpectedMessage(_))
        ));

        // First twice.
        let mut server = ScramServer::new(ScramMechanism::Sha256);
        let first = server
            .client_first(&client.first(), |_| Some(stored.clone()))
            .unwrap();
        assert!(matches!(
            server.client_first(&client.first(), |_| Some(stored.clone())),
            Err(ScramError::UnexpectedMessage(_))
        ));
        let (last, _) = client.last(&first);
        assert!(matches!(
            server.client_final(&last),
            Err(ScramError::UnexpectedMessage(_))
        ));

        // After an error, even the right message fails.
        let mut server = ScramServer::new(ScramMechanism::Sha256);
        let first = server
            .client_first(&client.first(), |_| Some(stored.clone()))
            .unwrap();
        assert!(server.client_final(b"garbage").is_err());
        let (last, _) = client.last(&first);
        assert_eq!(
            server.client_final(&last),
            Err(ScramError::UnexpectedMessage("over after an error"))
        );
        assert!(!server.is_complete());

        // After success, nothing more.
        let mut server = ScramServer::new(ScramMechanism::Sha256);
        let first = server
            .client_first(&client.first(), |_| Some(stored.clone()))
            .unwrap();
        let (last, _) = client.last(&first);
        server.client_final(&last).unwrap();
        assert_eq!(
            server.client_final(&last),
            Err(ScramError::UnexpectedMessage("complete"))
        );
        assert!(!server.is_complete());
    }

    #[test]
    fn random_and_mutated_messages_never_panic() {
        let stored = credential(ScramMechanism::Sha256, "pw");
        let client = Client::new(ScramMechanism::Sha256, "user", "pw");
        const ALPHABET: &[u8] = b",=nyparcvsim2C3D0+/\x00\xff\xc3";
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        fn mutate(valid: &[u8], next: &mut impl FnMut() -> u64) -> Vec<u8> {
            let mut bytes = valid.to_vec();
            for _ in 0..=next() % 4 {
                let at = (next() as usize) % (bytes.len() + 1);
                let byte = if next() % 2 == 0 {
                    ALPHABET[(next() as usize) % ALPHABET.len()]
                } else {
                    next() as u8
                };
                match next() % 3 {
                    0 => bytes.insert(at, byte),
                    1 if at < bytes.len() => bytes[at] = byte,
                    _ if at < bytes.len() => {
                        bytes.remove(at);
                    }
                    _ => {}
                }
            }
            bytes
        }
        let mut completed = 0;
        for round in 0..3_000 {
            let mut server = ScramServer::new(ScramMechanism::Sha256);
            let first: Vec<u8> = if round % 3 == 0 {
                (0..round % 64)
                    .map(|_| ALPHABET[(next() as usize) % ALPHABET.len()])
                    .collect()
            } else {
                mutate(&client.first(), &mut next)
            };
            let Ok(server_first) = server.client_first(&first, |_| Some(stored.clone())) else {
                assert!(server.client_final(b"c=biws").is_err());
                continue;
            };
            let last = if first == client.first() {
                client.last(&server_first).0
            } else {
                let nonce = std::str::from_utf8(&server_first)
                    .unwrap()
                    .split(',')
                    .next()
                    .unwrap()
                    .to_string();
                format!("c=biws,{nonce},p={}", BASE64.encode([1u8; 32])).into_bytes()
            };
            if server.client_final(&mutate(&last, &mut next)).is_ok() {
                completed += 1;
            }
        }
        // A mutation can leave a message valid; what matters is that nothing panicked.
        assert!(completed < 3_000);
    }

    #[test]
    fn from_password_matches_from_salted_password_of_hi() {
        for mechanism in ScramMechanism::ALL {
            let salt = b"some salt";
            let mut salted = vec![0; mechanism.digest_len()];
            match mechanism {
                ScramMechanism::Sha256 => {
                    pbkdf2::pbkdf2_hmac::<Sha256>(b"pencil", salt, 4096, &mut salted)
                }
                ScramMechanism::Sha512 => {
                    pbkdf2::pbkdf2_hmac::<Sha512>(b"pencil", salt, 4096, &mut salted)
                }
            }
            let from_password =
                ScramCredential::from_password(mechanism, b"pencil", salt, 4096).unwrap();
            let from_salted =
                ScramCredential::from_salted_password(mechanism, &salted, salt, 4096).unwrap();
            assert_eq!(from_password, from_salted);
            assert_eq!(from_password.stored_key.len(), mechanism.digest_len());
            assert_eq!(from_password.server_key.len(), mechanism.digest_len());
        }
    }

    #[test]
    fn rfc7677_credential_has_the_expected_keys() {
        // StoredKey and ServerKey of user "user", password "pencil" in RFC 7677.
        let salt = BASE64.decode(RFC_SALT).unwrap();
        let stored =
            ScramCredential::from_password(ScramMechanism::Sha256, b"pencil", &salt, 4096).unwrap();
        assert_eq!(
            BASE64.encode(&stored.stored_key),
            "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY="
        );
        assert_eq!(
            BASE64.encode(&stored.server_key),
            "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="
        );
    }

    #[test]
    fn credentials_are_refused_outside_the_limits() {
        let mechanism = ScramMechanism::Sha256;
        for iterations in [i32::MIN, -1, 0, 1, 4095, 16385, i32::MAX] {
            assert_eq!(
                ScramCredential::from_password(mechanism, b"pw", b"salt", iterations),
                Err(ScramError::IterationsOutOfRange {
                    iterations,
                    min: 4096,
                    max: 16384
                })
            );
            assert!(ScramCredential::from_salted_password(
                mechanism, &[0; 32], b"salt", iterations
            )
            .is_err());
        }
        assert!(ScramCredential::from_salted_password(mechanism, &[0; 32], b"salt", 16384).is_ok());
        assert_eq!(
            ScramCredential::from_password(mechanism, b"pw", b"", 4096),
            Err(ScramError::EmptySalt)
        );
        assert_eq!(
            ScramCredential::from_salted_password(ScramMechanism::Sha512, &[0; 32], b"s", 4096),
            Err(ScramError::SaltedPasswordLength {
                mechanism: ScramMechanism::Sha512,
                len: 32,
                expected: 64
            })
        );
    }

    #[test]
    fn credential_debug_hides_the_keys() {
        let stored = credential(ScramMechanism::Sha256, "pw");
        let debug = format!("{stored:?}");
        assert_eq!(debug, "ScramCredential { iterations: 4096, .. }");
    }

    #[test]
    fn mechanism_names_and_type_codes_round_trip() {
        for mechanism in ScramMechanism::ALL {
            assert_eq!(ScramMechanism::from_name(mechanism.name()), Some(mechanism));
            assert_eq!(
                ScramMechanism::from_type_code(mechanism.type_code()),
                Some(mechanism)
            );
            assert_eq!(mechanism.to_string(), mechanism.name());
        }
        assert_eq!(ScramMechanism::Sha256.name(), "SCRAM-SHA-256");
        assert_eq!(ScramMechanism::Sha512.type_code(), 2);
        assert_eq!(ScramMechanism::from_name("scram-sha-256"), None);
        assert_eq!(ScramMechanism::from_name("PLAIN"), None);
        assert_eq!(ScramMechanism::from_type_code(0), None);
    }

    #[test]
    fn generated_salts_have_kafkas_shape() {
        let salts: Vec<Vec<u8>> = (0..50)
            .map(|_| ScramCredential::generate_salt().unwrap())
            .collect();
        for salt in &salts {
            assert!((1..=26).contains(&salt.len()));
            assert!(salt
                .iter()
                .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase()));
        }
        assert_ne!(salts[0], salts[1]);
        // 2^130 - 1 and 0 in base 36, as Java's BigInteger writes them.
        assert_eq!(base36_salt([0xff; 17]), b"1omfro7zwmumr3umxudzyj6scf");
        assert_eq!(base36_salt([0; 17]), b"0");
        let mut thirty_six = [0; 17];
        thirty_six[16] = 36;
        assert_eq!(base36_salt(thirty_six), b"10");
    }
}
