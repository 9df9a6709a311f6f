//! AlterUserScramCredentials and DescribeUserScramCredentials (KIP-554): the users'
//! SCRAM credentials, with Kafka's per-user errors. A client sends the salted password
//! (never the password); the broker keeps the salt, StoredKey, ServerKey and iterations.

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

type Refusal = (ErrorCode, String);

pub async fn alter(
    ctx: &BrokerContext,
    req: AlterUserScramCredentialsRequest,
) -> AlterUserScramCredentialsResponse {
    // Each user's first refusal, in Kafka's order of checks.
    let mut refused: BTreeMap<String, Refusal> = BTreeMap::new();
    let mut seen: BTreeSet<(String, i8)> = BTreeSet::new();
    let mut users: Vec<String> = Vec::new();
    let refuse = |refused: &mut BTreeMap<String, Refusal>, user: &str, code, message| {
        refused.entry(user.to_string()).or_insert((code, message));
    };
    let current = ctx.users.snapshot();
    let mut deletions = Vec::new();
    for d in &req.deletions {
        users.push(d.name.clone());
        if !seen.insert((d.name.clone(), d.mechanism)) {
            refuse(
                &mut refused,
                &d.name,
                ErrorCode::DuplicateResource,
                "A user credential cannot be altered twice in the same request".to_string(),
            );
            continue;
        }
        let Some(mechanism) = ScramMechanism::from_type_code(d.mechanism) else {
            refuse(
                &mut refused,
                &d.name,
                ErrorCode::UnsupportedSaslMechanism,
                "Unknown SCRAM mechanism".to_string(),
            );
            continue;
        };
        if d.name.is_empty() {
            refuse(
                &mut refused,
                &d.name,
                ErrorCode::UnacceptableCredential,
                "Username must not be empty".to_string(),
            );
            continue;
        }
        if current.credential(&d.name, mechanism).is_none() {
            refuse(
                &mut refused,
                &d.name,
                ErrorCode::ResourceNotFound,
                "Attempt to delete a user credential that does not exist".to_string(),
            );
            continue;
        }
        deletions.push((d.name.clone(), mechanism));
    }
    let mut upserts = Vec::new();
    for u in &req.upsertions {
        users.push(u.name.clone());
        if !seen.insert((u.name.clone(), u.mechanism)) {
            refuse(
                &mut refused,
                &u.name,
                ErrorCode::DuplicateResource,
                "A user credential cannot be altered twice in the same request".to_string(),
            );
            continue;
        }
        let Some(mechanism) = ScramMechanism::from_type_code(u.mechanism) else {
            refuse(
                &mut refused,
                &u.name,
                ErrorCode::UnsupportedSaslMechanism,
                "Unknown SCRAM mechanism".to_string(),
            );
            continue;
        };
        if u.name.is_empty() || u.name.len() > crate::security::users::MAX_NAME_LEN {
            refuse(
                &mut refused,
                &u.name,
                ErrorCode::UnacceptableCredential,
                "Username must not be empty or longer than 1024 bytes".to_string(),
            );
            continue;
        }
        match ScramCredential::from_salted_password(
            mechanism,
            &u.salted_password,
            &u.salt,
            u.iterations,
        ) {
            Ok(credential) => upserts.push((u.name.clone(), mechanism, credential)),
            Err(e) => refuse(
                &mut refused,
                &u.name,
                ErrorCode::UnacceptableCredential,
                e.to_string(),
            ),
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
    req: DescribeUserScramCredentialsRequest,
) -> DescribeUserScramCredentialsResponse {
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
    let results = match req.users {
        // Null or empty: every user.
        None => users
            .describe()
            .map(|(name, mechanisms)| DescribeUserScramCredentialsResult {
                user: name.to_string(),
                credential_infos: info(mechanisms),
                ..Default::default()
            })
            .collect(),
        Some(names) if names.is_empty() => users
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
