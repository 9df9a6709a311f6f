//! AlterUserScramCredentials and DescribeUserScramCredentials (KIP-554): the users'
//! SCRAM credentials, with Kafka's per-user errors. A client sends the salted password
//! (never the password); the broker keeps the salt, StoredKey, ServerKey and iterations.

use crate::security::acl::AclOperation;
use crate::security::authorizer::Authz;
use std::collections::{BTreeMap, BTreeSet};

use super::BrokerContext;
use crate::protocol::messages::alter_user_scram_credentials_request::AlterUserScramCredentialsRequest;
use crate::protocol::messages::alter_user_scram_credentials_response::{
    AlterUserScramCredentialsResponse, AlterUserScramCredentialsResult,
};
use crate::protocol::messages::describe_user_scram_credentials_request::DescribeUserScramCredentialsRequest;
use crate::protocol::messages::describe_user_scram_credentials_response::{
    CredentialInfo, DescribeUserScramCredentialsResponse, DescribeUserScramCredentialsResult,
};
use crate::protocol::ErrorCode;
use crate::security::scram::{ScramCredential, ScramMechanism};

/// Why a user's alterations were refused: the error and its message.
type Refusal = (ErrorCode, String);

pub async fn alter(
    ctx: &BrokerContext,
    authz: &Authz<'_>,
    req: AlterUserScramCredentialsRequest,
) -> AlterUserScramCredentialsResponse {
    // ALTER on the cluster, else every user named is refused (Kafka's error response).
    let denied = !authz.cluster(AclOperation::Alter);
    // Each user's first refusal, in Kafka's order of checks.
    let mut refused: BTreeMap<String, Refusal> = BTreeMap::new();
    let mut seen: BTreeSet<(String, i8)> = BTreeSet::new();
    let mut users: Vec<String> = Vec::new();
    let current = ctx.users.snapshot();
    // The checks a deletion and an upsertion share: the mechanism once per user, known,
    // and a name.
    let mut check = |name: &str, mechanism: i8| -> Result<ScramMechanism, Refusal> {
        users.push(name.to_string());
        if denied {
            return Err((
                ErrorCode::ClusterAuthorizationFailed,
                "Authorization failed.".to_string(),
            ));
        }
        if !seen.insert((name.to_string(), mechanism)) {
            return Err((
                ErrorCode::DuplicateResource,
                "A user credential cannot be altered twice in the same request".to_string(),
            ));
        }
        let m = ScramMechanism::from_type_code(mechanism).ok_or_else(|| {
            (
                ErrorCode::UnsupportedSaslMechanism,
                "Unknown SCRAM mechanism".to_string(),
            )
        })?;
        if name.is_empty() || name.len() > crate::security::users::MAX_NAME_LEN {
            return Err((
                ErrorCode::UnacceptableCredential,
                "Username must not be empty or longer than 1024 bytes".to_string(),
            ));
        }
        Ok(m)
    };
    let mut deletions = Vec::new();
    let mut upserts = Vec::new();
    let mut outcomes: Vec<(String, Result<(), Refusal>)> = Vec::new();
    for d in &req.deletions {
        let outcome = check(&d.name, d.mechanism).and_then(|m| {
            if current.credential(&d.name, m).is_none() {
                return Err((
                    ErrorCode::ResourceNotFound,
                    "Attempt to delete a user credential that does not exist".to_string(),
                ));
            }
            deletions.push((d.name.clone(), m));
            Ok(())
        });
        outcomes.push((d.name.clone(), outcome));
    }
    for u in &req.upsertions {
        let outcome = check(&u.name, u.mechanism).and_then(|m| {
            let credential =
                ScramCredential::from_salted_password(m, &u.salted_password, &u.salt, u.iterations)
                    .map_err(|e| (ErrorCode::UnacceptableCredential, e.to_string()))?;
            upserts.push((u.name.clone(), m, credential));
            Ok(())
        });
        outcomes.push((u.name.clone(), outcome));
    }
    for (name, outcome) in outcomes {
        if let Err(refusal) = outcome {
            refused.entry(name).or_insert(refusal);
        }
    }
    // A user with any refused alteration has none of its alterations applied.
    deletions.retain(|(name, _)| !refused.contains_key(name));
    upserts.retain(|(name, _, _)| !refused.contains_key(name));
    let stored = if deletions.is_empty() && upserts.is_empty() {
        Ok(())
    } else {
        ctx.users.alter(upserts, deletions).await
    };
    if let Err(e) = &stored {
        tracing::error!(error = %e, "storing SCRAM credentials failed");
    }
    users.sort();
    users.dedup();
    let results = users
        .into_iter()
        .map(|user| {
            let (code, message) = match (refused.get(&user), &stored) {
                (Some((code, message)), _) => (*code, Some(message.clone())),
                (None, Ok(())) => (ErrorCode::None, None),
                (None, Err(crate::security::users::UserStoreError::TooManyUsers)) => (
                    ErrorCode::UnacceptableCredential,
                    Some(format!(
                        "at most {} users",
                        crate::security::users::MAX_USERS
                    )),
                ),
                (None, Err(_)) => (
                    ErrorCode::UnknownServerError,
                    Some("the credentials could not be stored".to_string()),
                ),
            };
            AlterUserScramCredentialsResult {
                user,
                error_code: code.code(),
                error_message: message,
                ..Default::default()
            }
        })
        .collect();
    AlterUserScramCredentialsResponse {
        results,
        ..Default::default()
    }
}

pub fn describe(
    ctx: &BrokerContext,
    authz: &Authz<'_>,
    req: DescribeUserScramCredentialsRequest,
) -> DescribeUserScramCredentialsResponse {
    if !authz.cluster(AclOperation::Describe) {
        return DescribeUserScramCredentialsResponse {
            error_code: ErrorCode::ClusterAuthorizationFailed.code(),
            error_message: Some("Authorization failed.".into()),
            ..Default::default()
        };
    }
    let users = ctx.users.snapshot();
    let info = |mechanisms: Vec<(ScramMechanism, i32)>| {
        mechanisms
            .into_iter()
            .map(|(m, iterations)| CredentialInfo {
                mechanism: m.type_code(),
                iterations,
                ..Default::default()
            })
            .collect()
    };
    let results = match req.users.filter(|names| !names.is_empty()) {
        // Null or empty: every user.
        None => users
            .describe()
            .map(|(name, mechanisms)| DescribeUserScramCredentialsResult {
                user: name.to_string(),
                credential_infos: info(mechanisms),
                ..Default::default()
            })
            .collect(),
        Some(names) => {
            let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
            for n in &names {
                *counts.entry(n.name.as_str()).or_default() += 1;
            }
            counts
                .into_iter()
                .map(|(name, count)| {
                    let found = users.describe().find(|(n, _)| *n == name);
                    let (code, message, infos) = match (count, found) {
                        (c, _) if c > 1 => (
                            ErrorCode::DuplicateResource,
                            Some(format!("Cannot describe SCRAM credentials for the same user twice in a single request: {name}")),
                            Vec::new(),
                        ),
                        (_, None) => (
                            ErrorCode::ResourceNotFound,
                            Some(format!("Attempt to describe a user credential that does not exist: {name}")),
                            Vec::new(),
                        ),
                        (_, Some((_, mechanisms))) => (ErrorCode::None, None, info(mechanisms)),
                    };
                    DescribeUserScramCredentialsResult {
                        user: name.to_string(),
                        error_code: code.code(),
                        error_message: message,
                        credential_infos: infos,
                        ..Default::default()
                    }
                })
                .collect()
        }
    };
    DescribeUserScramCredentialsResponse {
        results,
        ..Default::default()
    }
}
