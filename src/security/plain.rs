//! SASL PLAIN (RFC 4616) on the server side, as Kafka's broker reads it.
//!
//! The client sends one message, `authzid NUL username NUL password`, and the broker
//! answers with nothing or an error. [`parse_plain`] checks the message; the caller
//! looks the user up and compares passwords with [`verify_password`], which takes the
//! same time whatever the passwords are.
//!
//! This module does no I/O and knows no users. It must never put a password in an
//! error or a log line: [`PlainCredentials`] hides it from `Debug`, and no error's text
//! carries the client's bytes.
//!
//! Aeon is stricter than Kafka in two places: a message that is not UTF-8 is refused
//! (Kafka decodes it with replacement characters), and an authorization id other than
//! the user name is refused while parsing, before any password is checked (Kafka checks
//! it after the password, so its error tells the client the password was right).

use sha2::{Digest, Sha256};
use std::fmt;
use subtle::ConstantTimeEq;

/// The longest message accepted, checked before parsing. RFC 4616 asks a server to
/// take up to 255 bytes in each of the three fields; this leaves room for much more.
pub const MAX_MESSAGE_LEN: usize = 8 * 1024;

/// Why a PLAIN message was refused. The texts are Kafka's where it has one; none
/// carries the client's bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlainError {
    /// The message is longer than [`MAX_MESSAGE_LEN`]; it was not parsed.
    #[error("SASL/PLAIN message of {len} bytes is longer than the limit of {max} bytes")]
    MessageTooLong { len: usize, max: usize },
    /// The message is not UTF-8.
    #[error("Invalid SASL/PLAIN response: not UTF-8")]
    NotUtf8,
    /// The message does not have exactly three NUL-separated fields.
    #[error("Invalid SASL/PLAIN response: expected 3 tokens, got {0}")]
    FieldCount(usize),
    /// The user name is empty.
    #[error("Authentication failed: username not specified")]
    EmptyUsername,
    /// The password is empty.
    #[error("Authentication failed: password not specified")]
    EmptyPassword,
    /// The authorization id is neither empty nor the user name.
    #[error("Authentication failed: Client requested an authorization id that is different from username")]
    AuthorizationIdMismatch,
}

/// The three fields of a PLAIN message, borrowed from it. `Debug` leaves the password
/// out.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PlainCredentials<'a> {
    /// Empty, or the user name.
    pub authzid: &'a str,
    /// Never empty.
    pub username: &'a str,
    /// Never empty.
    pub password: &'a str,
}

impl fmt::Debug for PlainCredentials<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlainCredentials")
            .field("authzid", &self.authzid)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// Reads a PLAIN message: exactly three fields split by NUL, in UTF-8; user name and
/// password not empty; the authorization id empty or the user name (Kafka's rule: a
/// user may act only as itself).
pub fn parse_plain(message: &[u8]) -> Result<PlainCredentials<'_>, PlainError> {
    if message.len() > MAX_MESSAGE_LEN {
        return Err(PlainError::MessageTooLong {
            len: message.len(),
            max: MAX_MESSAGE_LEN,
        });
    }
    let message = std::str::from_utf8(message).map_err(|_| PlainError::NotUtf8)?;
    let mut fields = message.split('\0');
    let (Some(authzid), Some(username), Some(password), None) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err(PlainError::FieldCount(message.split('\0').count()));
    };
    if username.is_empty() {
        return Err(PlainError::EmptyUsername);
    }
    if password.is_empty() {
        return Err(PlainError::EmptyPassword);
    }
    if !authzid.is_empty() && authzid != username {
        return Err(PlainError::AuthorizationIdMismatch);
    }
    Ok(PlainCredentials {
        authzid,
        username,
        password,
    })
}

/// Whether `supplied` is the `configured` password, in a time that does not depend on
/// whether or where they differ: both are hashed with SHA-256 and the digests compared
/// in constant time. (Hashing shows at most their lengths, to 64 bytes.)
pub fn verify_password(supplied: &str, configured: &str) -> bool {
    let supplied = Sha256::digest(supplied.as_bytes());
    let configured = Sha256::digest(configured.as_bytes());
    supplied.ct_eq(&configured).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_with_empty_authzid_gives_user_and_password() {
        let credentials = parse_plain(b"\0alice\0secret").unwrap();
        assert_eq!(credentials.authzid, "");
        assert_eq!(credentials.username, "alice");
        assert_eq!(credentials.password, "secret");
    }

    #[test]
    fn authzid_equal_to_username_is_accepted() {
        let credentials = parse_plain(b"alice\0alice\0secret").unwrap();
        assert_eq!(credentials.authzid, "alice");
        assert_eq!(credentials.username, "alice");
    }

    #[test]
    fn authzid_other_than_username_is_rejected() {
        assert_eq!(
            parse_plain(b"admin\0alice\0secret"),
            Err(PlainError::AuthorizationIdMismatch)
        );
    }

    #[test]
    fn message_without_exactly_three_fields_is_rejected() {
        assert_eq!(parse_plain(b""), Err(PlainError::FieldCount(1)));
        assert_eq!(parse_plain(b"alice"), Err(PlainError::FieldCount(1)));
        assert_eq!(
            parse_plain(b"alice\0secret"),
            Err(PlainError::FieldCount(2))
        );
        assert_eq!(
            parse_plain(b"\0alice\0sec\0ret"),
            Err(PlainError::FieldCount(4))
        );
        assert_eq!(parse_plain(b"\0\0\0\0"), Err(PlainError::FieldCount(5)));
    }

    #[test]
    fn empty_username_is_rejected() {
        assert_eq!(parse_plain(b"\0\0secret"), Err(PlainError::EmptyUsername));
        assert_eq!(parse_plain(b"\0\0"), Err(PlainError::EmptyUsername));
    }

    #[test]
    fn empty_password_is_rejected() {
        assert_eq!(parse_plain(b"\0alice\0"), Err(PlainError::EmptyPassword));
    }

    #[test]
    fn message_that_is_not_utf8_is_rejected() {
        assert_eq!(parse_plain(b"\0alice\0\xff\xfe"), Err(PlainError::NotUtf8));
        assert_eq!(parse_plain(b"\0al\xc3\0pw"), Err(PlainError::NotUtf8));
    }

    #[test]
    fn utf8_names_and_passwords_are_kept_as_sent() {
        let credentials = parse_plain("\0josé\0pässwörd ✓".as_bytes()).unwrap();
        assert_eq!(credentials.username, "josé");
        assert_eq!(credentials.password, "pässwörd ✓");
    }

    #[test]
    fn message_over_the_cap_is_rejected_before_parsing() {
        let mut message = b"\0alice\0".to_vec();
        message.resize(MAX_MESSAGE_LEN, b'x');
        assert!(parse_plain(&message).is_ok());
        message.push(b'x');
        assert_eq!(
            parse_plain(&message),
            Err(PlainError::MessageTooLong {
                len: MAX_MESSAGE_LEN + 1,
                max: MAX_MESSAGE_LEN
            })
        );
        // Too long is found before the bytes are looked at.
        let garbage = vec![0xff; MAX_MESSAGE_LEN + 1];
        assert!(matches!(
            parse_plain(&garbage),
            Err(PlainError::MessageTooLong { .. })
        ));
    }

    #[test]
    fn debug_and_errors_never_show_the_password() {
        let credentials = parse_plain(b"\0alice\0hunter2").unwrap();
        assert!(!format!("{credentials:?}").contains("hunter2"));
        for message in [&b"x\0alice\0hunter2"[..], b"\0\0hunter2", b"\0a\0hunter2\0"] {
            let error = parse_plain(message).unwrap_err();
            assert!(!error.to_string().contains("hunter2"), "{error}");
            assert!(!format!("{error:?}").contains("hunter2"), "{error:?}");
        }
    }

    #[test]
    fn verify_password_accepts_only_the_same_password() {
        assert!(verify_password("secret", "secret"));
        assert!(!verify_password("secret", "Secret"));
        assert!(!verify_password("secre", "secret"));
        assert!(!verify_password("secret\0", "secret"));
        assert!(!verify_password("", "secret"));
        assert!(verify_password("pässwörd", "pässwörd"));
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..20_000 {
            let len = (next() % 40) as usize;
            let message: Vec<u8> = (0..len)
                .map(|_| match next() % 4 {
                    0 => 0,
                    1 => b'a',
                    _ => next() as u8,
                })
                .collect();
            if let Ok(credentials) = parse_plain(&message) {
                assert!(!credentials.username.is_empty());
                assert!(!credentials.password.is_empty());
            }
        }
    }
}
