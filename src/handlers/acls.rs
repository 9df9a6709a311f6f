//! CreateAcls, DescribeAcls and DeleteAcls: the authorizer's ACLs over the Kafka API,
//! with Kafka's checks (ALTER on the cluster to change them, DESCRIBE to list them)
//! and SECURITY_DISABLED when no authorizer is set. Changes are stored in `acls.json`
//! before they are answered, and apply to the next request of every connection.

use super::BrokerContext;
use crate::protocol::messages::create_acls_request::CreateAclsRequest;
use crate::protocol::messages::create_acls_response::{AclCreationResult, CreateAclsResponse};
use crate::protocol::messages::delete_acls_request::DeleteAclsRequest;
use crate::protocol::messages::delete_acls_response::{
    DeleteAclsFilterResult, DeleteAclsMatchingAcl, DeleteAclsResponse,
};
use crate::protocol::messages::describe_acls_request::DescribeAclsRequest;
use crate::protocol::messages::describe_acls_response::{
    AclDescription, DescribeAclsResource, DescribeAclsResponse,
};
use crate::protocol::ErrorCode;
use crate::security::acl::{
    AclBinding, AclBindingFilter, AclOperation, AclPermissionType, PatternType, ResourceType,
};
use crate::security::authorizer::{AclStore, Authz};

const NO_AUTHORIZER: &str = "No Authorizer is configured.";
const REFUSED: &str = "Authorization failed.";

/// The store, or the error every result gets: SECURITY_DISABLED without an authorizer,
/// CLUSTER_AUTHORIZATION_FAILED without `operation` on the cluster.
fn store<'a>(
    ctx: &'a BrokerContext,
    authz: &Authz<'_>,
    operation: AclOperation,
) -> Result<&'a AclStore, (ErrorCode, &'static str)> {
    let store = ctx
        .acls
        .as_deref()
        .ok_or((ErrorCode::SecurityDisabled, NO_AUTHORIZER))?;
    if !authz.cluster(operation) {
        return Err((ErrorCode::ClusterAuthorizationFailed, REFUSED));
    }
    Ok(store)
}

fn failed(code: i16, message: impl Into<String>) -> AclCreationResult {
    AclCreationResult {
        error_code: code,
        error_message: Some(message.into()),
        ..Default::default()
    }
}

pub async fn create(
    ctx: &BrokerContext,
    authz: &Authz<'_>,
    req: CreateAclsRequest,
) -> CreateAclsResponse {
    let n = req.creations.len();
    let results = match store(ctx, authz, AclOperation::Alter) {
        Err((code, message)) => (0..n).map(|_| failed(code.code(), message)).collect(),
        Ok(store) => {
            let bindings = req
                .creations
                .into_iter()
                .map(|c| AclBinding {
                    resource_type: ResourceType::from_code(c.resource_type),
                    resource_name: c.resource_name,
                    pattern_type: PatternType::from_code(c.resource_pattern_type),
                    principal: c.principal,
                    host: c.host,
                    operation: AclOperation::from_code(c.operation),
                    permission_type: AclPermissionType::from_code(c.permission_type),
                })
                .collect();
            match store.create(bindings).await {
                Ok(each) => each
                    .into_iter()
                    .map(|r| match r {
                        Ok(()) => AclCreationResult::default(),
                        Err(e) => failed(e.error_code(), e.to_string()),
                    })
                    .collect(),
                Err(e) => {
                    tracing::error!(error = %e, "storing ACLs failed");
                    let code = ErrorCode::UnknownServerError.code();
                    (0..n)
                        .map(|_| failed(code, "the ACLs could not be stored"))
                        .collect()
                }
            }
        }
    };
    CreateAclsResponse {
        results,
        ..Default::default()
    }
}

/// A filter as DescribeAcls and DeleteAcls carry it.
fn filter(
    resource_type: i8,
    resource_name: Option<String>,
    pattern_type: i8,
    principal: Option<String>,
    host: Option<String>,
    operation: i8,
    permission_type: i8,
) -> AclBindingFilter {
    AclBindingFilter {
        resource_type: ResourceType::from_code(resource_type),
        resource_name,
        pattern_type: PatternType::from_code(pattern_type),
        principal,
        host,
        operation: AclOperation::from_code(operation),
        permission_type: AclPermissionType::from_code(permission_type),
    }
}

pub fn describe(
    ctx: &BrokerContext,
    authz: &Authz<'_>,
    req: DescribeAclsRequest,
) -> DescribeAclsResponse {
    let refused = |code: ErrorCode, message: String| DescribeAclsResponse {
        error_code: code.code(),
        error_message: Some(message),
        ..Default::default()
    };
    let store = match store(ctx, authz, AclOperation::Describe) {
        Ok(store) => store,
        Err((code, message)) => return refused(code, message.into()),
    };
    let wanted = filter(
        req.resource_type_filter,
        req.resource_name_filter,
        req.pattern_type_filter,
        req.principal_filter,
        req.host_filter,
        req.operation,
        req.permission_type,
    );
    if let Err(e) = wanted.validate() {
        return refused(ErrorCode::InvalidRequest, e.to_string());
    }
    // Bindings come ordered by resource, so each resource's ACLs are adjacent.
    let mut resources: Vec<DescribeAclsResource> = Vec::new();
    for b in store.snapshot().acls(&wanted) {
        let acl = AclDescription {
            principal: b.principal,
            host: b.host,
            operation: b.operation.code(),
            permission_type: b.permission_type.code(),
            ..Default::default()
        };
        match resources.last_mut() {
            Some(r)
                if r.resource_type == b.resource_type.code()
                    && r.resource_name == b.resource_name
                    && r.pattern_type == b.pattern_type.code() =>
            {
                r.acls.push(acl)
            }
            _ => resources.push(DescribeAclsResource {
                resource_type: b.resource_type.code(),
                resource_name: b.resource_name,
                pattern_type: b.pattern_type.code(),
                acls: vec![acl],
                ..Default::default()
            }),
        }
    }
    DescribeAclsResponse {
        resources,
        ..Default::default()
    }
}

pub async fn delete(
    ctx: &BrokerContext,
    authz: &Authz<'_>,
    req: DeleteAclsRequest,
) -> DeleteAclsResponse {
    let n = req.filters.len();
    let whole = |code: i16, message: &str| {
        (0..n)
            .map(|_| DeleteAclsFilterResult {
                error_code: code,
                error_message: Some(message.to_owned()),
                ..Default::default()
            })
            .collect()
    };
    let filter_results = match store(ctx, authz, AclOperation::Alter) {
        Err((code, message)) => whole(code.code(), message),
        Ok(store) => {
            let filters = req
                .filters
                .into_iter()
                .map(|f| {
                    filter(
                        f.resource_type_filter,
                        f.resource_name_filter,
                        f.pattern_type_filter,
                        f.principal_filter,
                        f.host_filter,
                        f.operation,
                        f.permission_type,
                    )
                })
                .collect();
            match store.delete(filters).await {
                Ok(each) => each
                    .into_iter()
                    .map(|r| match r {
                        Ok(matched) => DeleteAclsFilterResult {
                            matching_acls: matched
                                .into_iter()
                                .map(|b| DeleteAclsMatchingAcl {
                                    resource_type: b.resource_type.code(),
                                    resource_name: b.resource_name,
                                    pattern_type: b.pattern_type.code(),
                                    principal: b.principal,
                                    host: b.host,
                                    operation: b.operation.code(),
                                    permission_type: b.permission_type.code(),
                                    ..Default::default()
                                })
                                .collect(),
                            ..Default::default()
                        },
                        Err(e) => DeleteAclsFilterResult {
                            error_code: e.error_code(),
                            error_message: Some(e.to_string()),
                            ..Default::default()
                        },
                    })
                    .collect(),
                Err(e) => {
                    tracing::error!(error = %e, "storing ACLs failed");
                    whole(
                        ErrorCode::UnknownServerError.code(),
                        "the ACLs could not be stored",
                    )
                }
            }
        }
    };
    DeleteAclsResponse {
        filter_results,
        ..Default::default()
    }
}
