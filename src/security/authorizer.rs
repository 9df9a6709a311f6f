//! The broker's authorizer: the ACLs it holds ([`AclStore`], kept in `acls.json` in
//! the data directory), and what one request may do ([`Authz`]).
//!
//! Authorization is on once `authorizer.class.name` is set, as in Kafka; with it unset
//! every check passes and every authorized-operations field lists every operation the
//! resource type supports (Kafka's `AuthHelper` without an authorizer).
//!
//! A request takes the ACLs as they are when it is dispatched: a CreateAcls or
//! DeleteAcls applies to the next request of every open connection.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use super::acl::{
    AclBinding, AclBindingFilter, AclError, AclOperation, Acls, AuthorizeRequest, AuthorizerConfig,
    ResourceType, CLUSTER_NAME,
};
use super::principal::KafkaPrincipal;
use super::snapshot_file::{read_if_exists, SnapshotFile, WriteError};

/// The file, in the data directory.
pub const FILE: &str = "acls.json";

#[derive(Debug, thiserror::Error)]
pub enum AclStoreError {
    #[error("{path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not an ACL file: {message}")]
    Corrupt {
        path: std::path::PathBuf,
        message: String,
    },
    #[error(transparent)]
    Write(#[from] WriteError),
}

#[derive(serde::Serialize, serde::Deserialize)]
struct AclFile {
    acls: Vec<AclBinding>,
}

fn encode(acls: &Acls) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec_pretty(&AclFile {
        acls: acls.iter().collect(),
    })
}

/// The ACLs of a broker, and the file they are kept in.
#[derive(Debug)]
pub struct AclStore(SnapshotFile<Acls>);

/// One CreateAcls or DeleteAcls result per creation or filter, or the whole request's
/// failure to be stored.
pub type Results<T> = Result<Vec<Result<T, AclError>>, AclStoreError>;

impl AclStore {
    /// The ACLs kept in `data_dir` (none if the file does not exist yet).
    pub fn open(data_dir: &Path, config: AuthorizerConfig) -> Result<AclStore, AclStoreError> {
        let path = data_dir.join(FILE);
        let corrupt = |message: String| AclStoreError::Corrupt {
            path: path.clone(),
            message,
        };
        let decode = |bytes: &[u8]| {
            let file: AclFile =
                serde_json::from_slice(bytes).map_err(|e| corrupt(e.to_string()))?;
            // The cap is for what clients add; what is on disk is loaded whole.
            let config = AuthorizerConfig {
                max_acls: config.max_acls.max(file.acls.len()),
                ..config.clone()
            };
            Acls::from_bindings(config, file.acls).map_err(|e| corrupt(e.to_string()))
        };
        let io = |source| AclStoreError::Io {
            path: path.clone(),
            source,
        };
        let acls = read_if_exists(&path, decode, io)?.unwrap_or_else(|| Acls::new(config.clone()));
        Ok(AclStore(SnapshotFile::new(path, acls, encode)))
    }

    /// The ACLs now.
    pub fn snapshot(&self) -> Arc<Acls> {
        self.0.snapshot()
    }

    /// One CreateAcls request: each binding added or refused on its own; all stored
    /// together before any is in force.
    pub async fn create(&self, bindings: Vec<AclBinding>) -> Results<()> {
        self.0
            .update(|acls| {
                Ok::<_, AclStoreError>(
                    bindings
                        .into_iter()
                        .map(|b| acls.add(b).map(|_| ()))
                        .collect(),
                )
            })
            .await
    }

    /// One DeleteAcls request (see [`Acls::delete_acls`]).
    pub async fn delete(&self, filters: Vec<AclBindingFilter>) -> Results<Vec<AclBinding>> {
        self.0
            .update(|acls| Ok::<_, AclStoreError>(acls.delete_acls(&filters)))
            .await
    }
}

/// The operations each resource type supports, as Kafka's `AclEntry.supportedOperations`:
/// what an authorized-operations field may list.
pub fn supported_operations(resource_type: ResourceType) -> &'static [AclOperation] {
    use AclOperation::*;
    match resource_type {
        ResourceType::Topic => &[
            Read,
            Write,
            Create,
            Describe,
            Delete,
            Alter,
            DescribeConfigs,
            AlterConfigs,
        ],
        ResourceType::Group => &[Read, Describe, Delete],
        ResourceType::Cluster => &[
            Create,
            ClusterAction,
            DescribeConfigs,
            AlterConfigs,
            IdempotentWrite,
            Alter,
            Describe,
        ],
        ResourceType::TransactionalId => &[Describe, Write],
        ResourceType::DelegationToken => &[Describe],
        ResourceType::User => &[CreateTokens, DescribeTokens],
        ResourceType::Unknown | ResourceType::Any => &[],
    }
}

/// What one request may do: the ACLs as of its dispatch, and who sent it from where.
#[derive(Debug, Clone)]
pub struct Authz<'a> {
    acls: Option<Arc<Acls>>,
    principal: &'a KafkaPrincipal,
    address: IpAddr,
}

impl<'a> Authz<'a> {
    /// `acls` is `None` when the broker has no authorizer.
    pub fn new(acls: Option<Arc<Acls>>, principal: &'a KafkaPrincipal, address: IpAddr) -> Self {
        Authz {
            acls,
            principal,
            address,
        }
    }

    /// Whether the broker checks ACLs at all.
    pub fn enabled(&self) -> bool {
        self.acls.is_some()
    }

    /// Whether the request may do `operation` on the resource; a denial is logged at
    /// debug level (target `aeon::authorizer`), as Kafka's authorizer logger does at
    /// info.
    pub fn allows(&self, operation: AclOperation, resource_type: ResourceType, name: &str) -> bool {
        let Some(acls) = &self.acls else {
            return true;
        };
        let allowed = acls
            .authorize(&AuthorizeRequest {
                principal: self.principal,
                client_address: self.address,
                operation,
                resource_type,
                resource_name: name,
            })
            .is_allowed();
        if !allowed {
            tracing::debug!(
                target: "aeon::authorizer",
                principal = %self.principal,
                host = %self.address,
                ?operation,
                ?resource_type,
                resource = name,
                "denied"
            );
        }
        allowed
    }

    pub fn topic(&self, operation: AclOperation, topic: &str) -> bool {
        self.allows(operation, ResourceType::Topic, topic)
    }

    pub fn group(&self, operation: AclOperation, group: &str) -> bool {
        self.allows(operation, ResourceType::Group, group)
    }

    pub fn transactional_id(&self, operation: AclOperation, id: &str) -> bool {
        self.allows(operation, ResourceType::TransactionalId, id)
    }

    pub fn cluster(&self, operation: AclOperation) -> bool {
        self.allows(operation, ResourceType::Cluster, CLUSTER_NAME)
    }

    /// Creating `topic`: CREATE on the cluster or on the topic, as Kafka checks.
    pub fn create_topic(&self, topic: &str) -> bool {
        self.cluster(AclOperation::Create) || self.topic(AclOperation::Create, topic)
    }

    /// An idempotent producer's InitProducerId (see [`Acls::authorize_idempotent_producer`]).
    pub fn idempotent_producer(&self) -> bool {
        self.acls.as_ref().is_none_or(|acls| {
            acls.authorize_idempotent_producer(self.principal, self.address)
                .is_allowed()
        })
    }

    /// [`Authz::authorized_operations`] when the client `asked` for them, else
    /// [`OPERATIONS_NOT_ASKED`].
    pub fn operations_if(&self, asked: bool, resource_type: ResourceType, name: &str) -> i32 {
        if asked {
            self.authorized_operations(resource_type, name)
        } else {
            OPERATIONS_NOT_ASKED
        }
    }

    /// The operations allowed on the resource, as the bit field Kafka's
    /// authorized-operations fields carry (bit `code` set for each operation).
    pub fn authorized_operations(&self, resource_type: ResourceType, name: &str) -> i32 {
        supported_operations(resource_type)
            .iter()
            .filter(|op| match &self.acls {
                None => true,
                Some(acls) => acls
                    .authorize(&AuthorizeRequest {
                        principal: self.principal,
                        client_address: self.address,
                        operation: **op,
                        resource_type,
                        resource_name: name,
                    })
                    .is_allowed(),
            })
            .fold(0i32, |bits, op| bits | (1 << op.code()))
    }
}

/// What an authorized-operations field holds when the client did not ask for it.
pub const OPERATIONS_NOT_ASKED: i32 = i32::MIN;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::acl::{AclPermissionType, PatternType};

    fn allow(principal: &str, op: AclOperation, rt: ResourceType, name: &str) -> AclBinding {
        AclBinding {
            resource_type: rt,
            resource_name: name.into(),
            pattern_type: PatternType::Literal,
            principal: principal.into(),
            host: "*".into(),
            operation: op,
            permission_type: AclPermissionType::Allow,
        }
    }

    #[test]
    fn acls_survive_a_reopen_and_apply_to_the_next_check() {
        let dir = tempfile::tempdir().expect("dir");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let store = AclStore::open(dir.path(), AuthorizerConfig::default()).expect("open");
        let alice = KafkaPrincipal::user("alice");
        let here: IpAddr = "127.0.0.1".parse().expect("ip");
        let authz = || Authz::new(Some(store.snapshot()), &alice, here);
        assert!(!authz().topic(AclOperation::Read, "t"));
        let results = rt
            .block_on(store.create(vec![
                allow("User:alice", AclOperation::Read, ResourceType::Topic, "t"),
                allow("User:alice", AclOperation::Read, ResourceType::Cluster, "x"),
            ]))
            .expect("stored");
        assert!(results[0].is_ok());
        assert!(results[1].is_err(), "a cluster ACL must name kafka-cluster");
        assert!(authz().topic(AclOperation::Read, "t"));
        assert!(
            authz().topic(AclOperation::Describe, "t"),
            "READ implies DESCRIBE"
        );
        assert!(!authz().topic(AclOperation::Write, "t"));
        // READ and DESCRIBE of the topic's eight operations: bits 3 and 8.
        assert_eq!(
            authz().authorized_operations(ResourceType::Topic, "t"),
            (1 << 3) | (1 << 8)
        );

        let reopened = AclStore::open(dir.path(), AuthorizerConfig::default()).expect("reopen");
        assert_eq!(reopened.snapshot().len(), 1);
        let deleted = rt
            .block_on(reopened.delete(vec![AclBindingFilter::ANY]))
            .expect("stored");
        assert_eq!(deleted[0].as_ref().map(Vec::len), Ok(1));
        let again = AclStore::open(dir.path(), AuthorizerConfig::default()).expect("reopen");
        assert!(again.snapshot().is_empty());
    }

    #[test]
    fn without_an_authorizer_everything_is_allowed_and_listed() {
        let anonymous = KafkaPrincipal::anonymous();
        let authz = Authz::new(None, &anonymous, "127.0.0.1".parse().expect("ip"));
        assert!(authz.cluster(AclOperation::Alter));
        assert!(authz.idempotent_producer());
        assert_eq!(
            authz.authorized_operations(ResourceType::Group, "g"),
            (1 << 3) | (1 << 8) | (1 << 6)
        );
    }

    #[test]
    fn a_corrupt_file_is_refused_at_open() {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(dir.path().join(FILE), b"{\"acls\": [{\"nope\": 1}]}").expect("write");
        assert!(matches!(
            AclStore::open(dir.path(), AuthorizerConfig::default()),
            Err(AclStoreError::Corrupt { .. })
        ));
    }
}
