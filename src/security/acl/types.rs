//! Kafka's ACL enums (resource and pattern types, operations, permissions) and the
//! names and limits ACLs use.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The resource name of a literal ACL that covers every resource of its type.
pub const WILDCARD_RESOURCE: &str = "*";

/// The host of an ACL that matches every client address.
pub const WILDCARD_HOST: &str = "*";

/// The principal of an ACL that matches every principal.
pub const WILDCARD_PRINCIPAL: &str = "User:*";

/// The one name of the CLUSTER resource.
pub const CLUSTER_NAME: &str = "kafka-cluster";

/// Kafka's INVALID_REQUEST error code.
pub const INVALID_REQUEST: i16 = 42;

/// Kafka's POLICY_VIOLATION error code.
pub const POLICY_VIOLATION: i16 = 44;

/// A default for [`AuthorizerConfig::max_acls`].
pub const DEFAULT_MAX_ACLS: usize = 100_000;

/// The resource name that [`Acls::authorize_by_resource_type`] authorizes first, as
/// Kafka's `Authorizer.authorizeByResourceType` does.
pub(super) const HARDCODED_RESOURCE_NAME: &str = "hardcode";

/// Generates one of Kafka's ACL enums: variants in code order, `code`/`from_code` for
/// the wire (an unknown code is `Unknown`, as in Kafka), Kafka's names for `Display`
/// and serde.
macro_rules! kafka_enum {
    (
        $(#[$meta:meta])*
        $name:ident {
            $($(#[$vmeta:meta])* $code:literal $variant:ident $java:literal,)*
        }
    ) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
        )]
        #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
        }

        impl $name {
            /// Every value, in code order.
            pub const VALUES: [$name; [$($name::$variant),*].len()] = [$($name::$variant),*];

            /// The wire code.
            pub const fn code(self) -> i8 {
                match self {
                    $($name::$variant => $code,)*
                }
            }

            /// The value with this wire code; `Unknown` for a code Kafka does not
            /// define, as Kafka's `fromCode`.
            pub const fn from_code(code: i8) -> Self {
                match code {
                    $($code => $name::$variant,)*
                    _ => $name::Unknown,
                }
            }

            /// Kafka's name, e.g. `TRANSACTIONAL_ID`.
            pub const fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $java,)*
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

kafka_enum! {
    /// The type of a resource an ACL applies to (Kafka's `ResourceType`).
    ResourceType {
        /// A type this broker does not know.
        0 Unknown "UNKNOWN",
        /// In a filter, any type.
        1 Any "ANY",
        /// A topic.
        2 Topic "TOPIC",
        /// A consumer group.
        3 Group "GROUP",
        /// The cluster, always named `kafka-cluster`.
        4 Cluster "CLUSTER",
        /// A transactional id.
        5 TransactionalId "TRANSACTIONAL_ID",
        /// A delegation token id.
        6 DelegationToken "DELEGATION_TOKEN",
        /// A user principal.
        7 User "USER",
    }
}

kafka_enum! {
    /// How an ACL's resource name is read (Kafka's `PatternType`).
    PatternType {
        /// A pattern type this broker does not know.
        0 Unknown "UNKNOWN",
        /// In a filter, any pattern type, the name compared exactly.
        1 Any "ANY",
        /// In a filter, every pattern that covers the filter's name: the literal name,
        /// the literal `*`, and prefixes of the name.
        2 Match "MATCH",
        /// The full name of one resource, or `*` for all of the type.
        3 Literal "LITERAL",
        /// A prefix of resource names.
        4 Prefixed "PREFIXED",
    }
}

kafka_enum! {
    /// An operation an ACL allows or denies (Kafka's `AclOperation`).
    AclOperation {
        /// An operation this broker does not know.
        0 Unknown "UNKNOWN",
        /// In a filter, any operation.
        1 Any "ANY",
        /// Every operation.
        2 All "ALL",
        /// Read.
        3 Read "READ",
        /// Write.
        4 Write "WRITE",
        /// Create.
        5 Create "CREATE",
        /// Delete.
        6 Delete "DELETE",
        /// Alter.
        7 Alter "ALTER",
        /// Describe.
        8 Describe "DESCRIBE",
        /// Cluster action (inter-broker requests).
        9 ClusterAction "CLUSTER_ACTION",
        /// Describe configs.
        10 DescribeConfigs "DESCRIBE_CONFIGS",
        /// Alter configs.
        11 AlterConfigs "ALTER_CONFIGS",
        /// Idempotent write (cluster).
        12 IdempotentWrite "IDEMPOTENT_WRITE",
        /// Create delegation tokens (user).
        13 CreateTokens "CREATE_TOKENS",
        /// Describe delegation tokens (user).
        14 DescribeTokens "DESCRIBE_TOKENS",
        /// Two-phase commit on a transactional id (KIP-939, Kafka 4.1).
        15 TwoPhaseCommit "TWO_PHASE_COMMIT",
    }
}

kafka_enum! {
    /// Whether an ACL allows or denies (Kafka's `AclPermissionType`).
    AclPermissionType {
        /// A permission type this broker does not know.
        0 Unknown "UNKNOWN",
        /// In a filter, either.
        1 Any "ANY",
        /// Denies; wins over any ALLOW.
        2 Deny "DENY",
        /// Allows.
        3 Allow "ALLOW",
    }
}
