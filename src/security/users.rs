//! The users: each one's SCRAM credentials (salt, StoredKey, ServerKey, iterations per
//! mechanism; never a password), as Kafka keeps them, managed with
//! AlterUserScramCredentials / DescribeUserScramCredentials (KIP-554) or, before the
//! first start, from the command line (`aeon storage add-scram`, as `kafka-storage
//! format --add-scram`).
//!
//! They live in `scram-credentials.json` in the data directory, a [`SnapshotFile`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use super::scram::{ScramCredential, ScramMechanism};
use super::snapshot_file::{read_if_exists, SnapshotFile, WriteError};

/// The file, in the data directory.
pub const FILE: &str = "scram-credentials.json";
/// The most users the broker keeps (a client adding users cannot grow it further).
pub const MAX_USERS: usize = 10_000;
/// The longest user name, in bytes.
pub const MAX_NAME_LEN: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum UserStoreError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a credentials file: {message}")]
    Corrupt { path: PathBuf, message: String },
    #[error("at most {MAX_USERS} users")]
    TooManyUsers,
}

/// One credential as the file holds it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredCredential {
    mechanism: String,
    iterations: i32,
    salt: String,
    stored_key: String,
    server_key: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct UsersFile {
    users: BTreeMap<String, Vec<StoredCredential>>,
}

/// The users at one moment.
#[derive(Debug, Default, Clone)]
pub struct Users {
    by_name: BTreeMap<String, Vec<(ScramMechanism, ScramCredential)>>,
}

impl Users {
    /// `user`'s credential for `mechanism`.
    pub fn credential(&self, user: &str, mechanism: ScramMechanism) -> Option<ScramCredential> {
        self.by_name
            .get(user)?
            .iter()
            .find(|(m, _)| *m == mechanism)
            .map(|(_, c)| c.clone())
    }

    /// Each user with its mechanisms and iterations (what DescribeUserScramCredentials
    /// tells).
    pub fn describe(&self) -> impl Iterator<Item = (&str, Vec<(ScramMechanism, i32)>)> {
        self.by_name.iter().map(|(name, creds)| {
            (
                name.as_str(),
                creds.iter().map(|(m, c)| (*m, c.iterations)).collect(),
            )
        })
    }

    pub fn contains(&self, user: &str) -> bool {
        self.by_name.contains_key(user)
    }

    /// Whether `password` is `user`'s, checked against any of its SCRAM credentials
    /// (SASL PLAIN has no credential of its own): the password is salted and hashed as
    /// SCRAM does and compared with the StoredKey in constant time. Work is done for an
    /// unknown user too, so the time taken does not tell whether it exists.
    pub fn verify_password(&self, user: &str, password: &[u8]) -> bool {
        let known = self
            .by_name
            .get(user)
            .and_then(|creds| creds.first().cloned());
        let (mechanism, credential, exists) = match known {
            Some((m, c)) => (m, c, true),
            None => (
                ScramMechanism::Sha256,
                ScramCredential {
                    salt: vec![0; 16],
                    stored_key: vec![0; 32],
                    server_key: vec![0; 32],
                    iterations: ScramMechanism::MIN_ITERATIONS,
                },
                false,
            ),
        };
        let Ok(computed) = ScramCredential::from_password(
            mechanism,
            password,
            &credential.salt,
            credential.iterations,
        ) else {
            return false;
        };
        let same: bool = computed.stored_key.ct_eq(&credential.stored_key).into();
        same && exists
    }

    fn apply(
        &mut self,
        upserts: &[(String, ScramMechanism, ScramCredential)],
        deletions: &[(String, ScramMechanism)],
    ) -> Result<(), UserStoreError> {
        for (name, mechanism) in deletions {
            if let Some(creds) = self.by_name.get_mut(name) {
                creds.retain(|(m, _)| m != mechanism);
                if creds.is_empty() {
                    self.by_name.remove(name);
                }
            }
        }
        for (name, mechanism, credential) in upserts {
            if !self.by_name.contains_key(name) && self.by_name.len() >= MAX_USERS {
                return Err(UserStoreError::TooManyUsers);
            }
            let creds = self.by_name.entry(name.clone()).or_default();
            creds.retain(|(m, _)| m != mechanism);
            creds.push((*mechanism, credential.clone()));
        }
        Ok(())
    }

    fn to_file(&self) -> UsersFile {
        let users = self
            .by_name
            .iter()
            .map(|(name, creds)| {
                let creds = creds
                    .iter()
                    .map(|(m, c)| StoredCredential {
                        mechanism: m.name().to_string(),
                        iterations: c.iterations,
                        salt: BASE64.encode(&c.salt),
                        stored_key: BASE64.encode(&c.stored_key),
                        server_key: BASE64.encode(&c.server_key),
                    })
                    .collect();
                (name.clone(), creds)
            })
            .collect();
        UsersFile { users }
    }

    fn from_file(file: UsersFile, path: &Path) -> Result<Users, UserStoreError> {
        let corrupt = |message: String| UserStoreError::Corrupt {
            path: path.to_owned(),
            message,
        };
        let mut by_name = BTreeMap::new();
        for (name, creds) in file.users {
            let mut out = Vec::new();
            for c in creds {
                let mechanism = ScramMechanism::from_name(&c.mechanism)
                    .ok_or_else(|| corrupt(format!("unknown mechanism {:?}", c.mechanism)))?;
                let bytes = |field: &str, v: &str| {
                    BASE64
                        .decode(v)
                        .map_err(|e| corrupt(format!("{name}: {field}: {e}")))
                };
                out.push((
                    mechanism,
                    ScramCredential {
                        salt: bytes("salt", &c.salt)?,
                        stored_key: bytes("stored_key", &c.stored_key)?,
                        server_key: bytes("server_key", &c.server_key)?,
                        iterations: c.iterations,
                    },
                ));
            }
            by_name.insert(name, out);
        }
        Ok(Users { by_name })
    }
}

/// The users of a broker, and the file they are kept in.
#[derive(Debug)]
pub struct UserStore(SnapshotFile<Users>);

impl From<WriteError> for UserStoreError {
    fn from(e: WriteError) -> Self {
        UserStoreError::Io {
            path: e.path,
            source: e.source,
        }
    }
}

impl UserStore {
    /// The users kept in `data_dir` (none if the file does not exist yet).
    pub fn open(data_dir: &Path) -> Result<UserStore, UserStoreError> {
        let path = data_dir.join(FILE);
        let users = read(&path)?;
        Ok(UserStore(SnapshotFile::new(path, users, encode)))
    }

    /// The users now.
    pub fn snapshot(&self) -> Arc<Users> {
        self.0.snapshot()
    }

    /// Applies `deletions` then `upserts` and stores the result; readers see it once it
    /// is on disk.
    pub async fn alter(
        &self,
        upserts: Vec<(String, ScramMechanism, ScramCredential)>,
        deletions: Vec<(String, ScramMechanism)>,
    ) -> Result<(), UserStoreError> {
        self.0
            .update(|users| users.apply(&upserts, &deletions))
            .await
    }
}

/// Adds or replaces one credential in `data_dir`'s file, with no broker running (the
/// command line's `storage add-scram`).
pub fn add_offline(
    data_dir: &Path,
    name: &str,
    mechanism: ScramMechanism,
    credential: ScramCredential,
) -> Result<(), UserStoreError> {
    let path = data_dir.join(FILE);
    let mut users = read(&path)?;
    users.apply(&[(name.to_string(), mechanism, credential)], &[])?;
    std::fs::create_dir_all(data_dir).map_err(|source| UserStoreError::Io {
        path: data_dir.to_owned(),
        source,
    })?;
    write(&path, &users)
}

fn read(path: &Path) -> Result<Users, UserStoreError> {
    let decode = |bytes: &[u8]| {
        let file: UsersFile =
            serde_json::from_slice(bytes).map_err(|e| UserStoreError::Corrupt {
                path: path.to_owned(),
                message: e.to_string(),
            })?;
        Users::from_file(file, path)
    };
    let io = |source| UserStoreError::Io {
        path: path.to_owned(),
        source,
    };
    Ok(read_if_exists(path, decode, io)?.unwrap_or_default())
}

fn encode(users: &Users) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec_pretty(&users.to_file())
}

fn write(path: &Path, users: &Users) -> Result<(), UserStoreError> {
    let io = |source| UserStoreError::Io {
        path: path.to_owned(),
        source,
    };
    let json = encode(users).map_err(|e| io(std::io::Error::other(e)))?;
    crate::actors::broker::write_atomically(path, &json).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credential(password: &str) -> ScramCredential {
        ScramCredential::from_password(ScramMechanism::Sha256, password.as_bytes(), b"salty", 4096)
            .expect("credential")
    }

    #[test]
    fn credentials_survive_a_reopen_and_hold_no_password() {
        let dir = tempfile::tempdir().expect("dir");
        add_offline(
            dir.path(),
            "alice",
            ScramMechanism::Sha256,
            credential("alice-secret"),
        )
        .expect("add");
        let text = std::fs::read_to_string(dir.path().join(FILE)).expect("file");
        assert!(!text.contains("alice-secret"));
        let users = UserStore::open(dir.path()).expect("open").snapshot();
        assert_eq!(
            users.credential("alice", ScramMechanism::Sha256),
            Some(credential("alice-secret"))
        );
        assert!(users.credential("alice", ScramMechanism::Sha512).is_none());
        assert!(users.verify_password("alice", b"alice-secret"));
        assert!(!users.verify_password("alice", b"wrong"));
        assert!(!users.verify_password("nobody", b"alice-secret"));
    }

    #[test]
    fn alter_upserts_and_deletes_and_caps_the_users() {
        let dir = tempfile::tempdir().expect("dir");
        let store = UserStore::open(dir.path()).expect("open");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(store.alter(
            vec![
                ("a".into(), ScramMechanism::Sha256, credential("1")),
                ("a".into(), ScramMechanism::Sha512, credential("2")),
                ("b".into(), ScramMechanism::Sha256, credential("3")),
            ],
            vec![],
        ))
        .expect("add");
        rt.block_on(store.alter(
            vec![],
            vec![
                ("a".into(), ScramMechanism::Sha256),
                ("b".into(), ScramMechanism::Sha256),
            ],
        ))
        .expect("delete");
        let users = UserStore::open(dir.path()).expect("reopen").snapshot();
        let described: Vec<(String, Vec<(ScramMechanism, i32)>)> =
            users.describe().map(|(n, m)| (n.to_string(), m)).collect();
        assert_eq!(
            described,
            vec![("a".to_string(), vec![(ScramMechanism::Sha512, 4096)])]
        );

        let one = credential("x");
        let many: Vec<_> = (0..=MAX_USERS)
            .map(|i| (format!("u{i}"), ScramMechanism::Sha256, one.clone()))
            .collect();
        assert!(matches!(
            rt.block_on(store.alter(many, vec![])),
            Err(UserStoreError::TooManyUsers)
        ));
        assert!(
            !store.snapshot().contains("u0"),
            "a refused change changes nothing"
        );
    }
}
