//! One ACL ([`AclBinding`]), a filter over them ([`AclBindingFilter`]), and why either
//! is refused ([`AclError`]).

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::*;
use crate::security::principal::{KafkaPrincipal, PrincipalParseError};

/// One ACL: a resource pattern and who may (or may not) do what to it.
///
/// Serialized (serde) with Kafka's names for the enums, to be persisted as JSON.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AclBinding {
    /// The type of the resources covered.
    pub resource_type: ResourceType,
    /// The resource name, `*` for all (literal), or a prefix (prefixed).
    pub resource_name: String,
    /// LITERAL or PREFIXED.
    pub pattern_type: PatternType,
    /// `Type:name`, e.g. `User:alice`, or `User:*` for everyone.
    pub principal: String,
    /// A client IP address, or `*` for all.
    pub host: String,
    /// The operation allowed or denied.
    pub operation: AclOperation,
    /// ALLOW or DENY.
    pub permission_type: AclPermissionType,
}

impl AclBinding {
    /// Checks the binding as Kafka's CreateAcls path does (see [`AclError`]).
    pub fn validate(&self) -> Result<(), AclError> {
        if matches!(
            self.resource_type,
            ResourceType::Unknown | ResourceType::Any
        ) {
            return Err(AclError::InvalidResourceType(self.resource_type));
        }
        if !matches!(
            self.pattern_type,
            PatternType::Literal | PatternType::Prefixed
        ) {
            return Err(AclError::InvalidPatternType(self.pattern_type));
        }
        if matches!(self.operation, AclOperation::Unknown | AclOperation::Any) {
            return Err(AclError::InvalidOperation(self.operation));
        }
        if !matches!(
            self.permission_type,
            AclPermissionType::Allow | AclPermissionType::Deny
        ) {
            return Err(AclError::InvalidPermissionType(self.permission_type));
        }
        if self.resource_type == ResourceType::Cluster && self.resource_name != CLUSTER_NAME {
            return Err(AclError::InvalidClusterResourceName);
        }
        if self.resource_name.is_empty() {
            return Err(AclError::EmptyResourceName);
        }
        self.principal
            .parse::<KafkaPrincipal>()
            .map_err(AclError::InvalidPrincipal)?;
        Ok(())
    }

    /// The filter that matches exactly this binding.
    pub fn to_filter(&self) -> AclBindingFilter {
        AclBindingFilter {
            resource_type: self.resource_type,
            resource_name: Some(self.resource_name.clone()),
            pattern_type: self.pattern_type,
            principal: Some(self.principal.clone()),
            host: Some(self.host.clone()),
            operation: self.operation,
            permission_type: self.permission_type,
        }
    }
}

/// Selects bindings, for DescribeAcls and DeleteAcls: Kafka's `AclBindingFilter`
/// (a `ResourcePatternFilter` and an `AccessControlEntryFilter`), flattened as on the
/// wire.
///
/// `None` and the ANY values match everything; see [`AclBindingFilter::matches`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AclBindingFilter {
    /// The resource type, or ANY.
    pub resource_type: ResourceType,
    /// The resource name, or `None` for any.
    pub resource_name: Option<String>,
    /// LITERAL, PREFIXED, ANY (any pattern type, exact name) or MATCH.
    pub pattern_type: PatternType,
    /// The principal string, compared exactly, or `None` for any.
    pub principal: Option<String>,
    /// The host string, compared exactly, or `None` for any.
    pub host: Option<String>,
    /// The operation, or ANY.
    pub operation: AclOperation,
    /// The permission type, or ANY.
    pub permission_type: AclPermissionType,
}

impl AclBindingFilter {
    /// The filter that matches every binding.
    pub const ANY: AclBindingFilter = AclBindingFilter {
        resource_type: ResourceType::Any,
        resource_name: None,
        pattern_type: PatternType::Any,
        principal: None,
        host: None,
        operation: AclOperation::Any,
        permission_type: AclPermissionType::Any,
    };

    /// Checks the filter as Kafka's DeleteAcls path does: an UNKNOWN in the resource
    /// half or the entry half is refused. (Kafka refuses to parse a DescribeAcls
    /// request with one; a handler may call this for both.)
    pub fn validate(&self) -> Result<(), AclError> {
        if self.resource_type == ResourceType::Unknown || self.pattern_type == PatternType::Unknown
        {
            return Err(AclError::UnknownPatternFilter);
        }
        if self.operation == AclOperation::Unknown
            || self.permission_type == AclPermissionType::Unknown
        {
            return Err(AclError::UnknownEntryFilter);
        }
        Ok(())
    }

    /// Whether the filter selects the binding, exactly as Kafka's
    /// `AclBindingFilter.matches`:
    ///
    /// - resource type: ANY or equal;
    /// - pattern type: ANY, MATCH, or equal;
    /// - name: `None` matches all; with ANY or the binding's own pattern type the name
    ///   must be equal; with MATCH a literal binding matches if its name is the
    ///   filter's or `*`, a prefixed one if its name is a prefix of the filter's;
    /// - principal and host: `None` or equal strings; operation and permission type:
    ///   ANY or equal (no implication here).
    pub fn matches(&self, binding: &AclBinding) -> bool {
        self.matches_pattern(
            binding.resource_type,
            &binding.resource_name,
            binding.pattern_type,
        ) && self.matches_entry(
            |p| p == binding.principal,
            &binding.host,
            binding.operation,
            binding.permission_type,
        )
    }

    /// Kafka's `ResourcePatternFilter.matches`.
    pub(super) fn matches_pattern(
        &self,
        resource_type: ResourceType,
        name: &str,
        pattern_type: PatternType,
    ) -> bool {
        if self.resource_type != ResourceType::Any && self.resource_type != resource_type {
            return false;
        }
        if !matches!(self.pattern_type, PatternType::Any | PatternType::Match)
            && self.pattern_type != pattern_type
        {
            return false;
        }
        let Some(filter_name) = &self.resource_name else {
            return true;
        };
        if self.pattern_type == PatternType::Any || self.pattern_type == pattern_type {
            return filter_name == name;
        }
        match pattern_type {
            PatternType::Literal => filter_name == name || name == WILDCARD_RESOURCE,
            PatternType::Prefixed => filter_name.starts_with(name),
            // Kafka throws here; stored bindings are never of another pattern type.
            _ => false,
        }
    }

    /// Kafka's `AccessControlEntryFilter.matches`; `principal_is` says whether the
    /// binding's principal is the filter's principal string.
    pub(super) fn matches_entry(
        &self,
        principal_is: impl FnOnce(&str) -> bool,
        host: &str,
        operation: AclOperation,
        permission_type: AclPermissionType,
    ) -> bool {
        self.principal.as_deref().is_none_or(principal_is)
            && self.host.as_deref().is_none_or(|h| h == host)
            && (self.operation == AclOperation::Any || self.operation == operation)
            && (self.permission_type == AclPermissionType::Any
                || self.permission_type == permission_type)
    }
}

/// Why a binding or filter was refused. [`AclError::error_code`] is the error to answer
/// with; the `Display` text is the error message (Kafka's, where Kafka has one).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AclError {
    /// The binding's resource type is UNKNOWN or ANY.
    #[error("Invalid resourceType {0}")]
    InvalidResourceType(ResourceType),
    /// The binding's pattern type is not LITERAL or PREFIXED.
    #[error("Invalid patternType {0}")]
    InvalidPatternType(PatternType),
    /// The binding's operation is UNKNOWN or ANY.
    #[error("Invalid operation {0}")]
    InvalidOperation(AclOperation),
    /// The binding's permission type is not ALLOW or DENY.
    #[error("Invalid permissionType {0}")]
    InvalidPermissionType(AclPermissionType),
    /// A CLUSTER binding not named `kafka-cluster` (`*` included, as in Kafka).
    #[error("The only valid name for the CLUSTER resource is kafka-cluster")]
    InvalidClusterResourceName,
    /// The binding's resource name is empty.
    #[error("Invalid empty resource name")]
    EmptyResourceName,
    /// The binding's principal is not `Type:name` (an Aeon check; see the module doc).
    #[error(transparent)]
    InvalidPrincipal(PrincipalParseError),
    /// A filter's resource type or pattern type is UNKNOWN.
    #[error("Unknown patternFilter.")]
    UnknownPatternFilter,
    /// A filter's operation or permission type is UNKNOWN.
    #[error("Unknown entryFilter.")]
    UnknownEntryFilter,
    /// [`AuthorizerConfig::max_acls`] bindings are held already.
    #[error("Cannot create more ACLs: the broker holds its maximum of {limit}")]
    TooManyAcls {
        /// The configured maximum.
        limit: usize,
    },
}

impl AclError {
    /// The Kafka error code to answer with: POLICY_VIOLATION (44) for
    /// [`AclError::TooManyAcls`], INVALID_REQUEST (42) for everything else.
    pub const fn error_code(&self) -> i16 {
        match self {
            AclError::TooManyAcls { .. } => POLICY_VIOLATION,
            _ => INVALID_REQUEST,
        }
    }
}
