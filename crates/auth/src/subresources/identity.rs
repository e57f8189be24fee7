//! Subresources of local users: `password` (a password change) and the views `groups`,
//! `policies` and `roles` (what the user is a member of, or bound to).
//!
//! A password change needs the current password unless an administrator of the user's tenant
//! (or of the platform) makes it; a wrong current password counts as a failed login, so a
//! stolen token cannot be used to guess the password. The new password is hashed (argon2id,
//! on the blocking pool) before it reaches the store, the lockout counters are reset, and the
//! answer is the user without its hash.

use api::auth::{LocalIdentity, PasswordReq, local_identity::LocalIdentityStatus};
use apimachinery::{ApiError, FieldError};
use apiserver::ConnectRequest;
use serde_json::Value;

use super::{Call, Core, decode, groups_of_user, is_user, list_of, policy_list, redacted_user, role_list};

pub async fn serve(core: &Core, sub: &str, req: ConnectRequest, call: &Call) -> Result<Value, ApiError> {
    let user: LocalIdentity = decode(&req.object)?;
    match sub {
        "password" => password(core, user, req, call).await,
        "groups" => {
            let groups = groups_of_user(&core.people, user.tenant(), user.name());
            Ok(list_of(
                super::views::GROUP_KIND,
                groups
                    .iter()
                    .map(|g| super::views::group_of_local(g))
                    .map(|g| serde_json::to_value(g).unwrap_or_default())
                    .collect(),
            ))
        }
        "policies" => Ok(policy_list(policies_of_user(core, user.tenant(), user.name(), &user.spec.username).await?)),
        "roles" => Ok(role_list(roles_of_user(core, user.tenant(), user.name(), &user.spec.username).await?)),
        _ => Err(ApiError::not_found(api::auth::GROUP, "localidentities", &call.name)),
    }
}

/// The policies bound to a user: platform-wide (`status.users`) or in a project (its
/// ProjectPolicyBindings).
pub async fn policies_of_user(
    core: &Core,
    tenant: &str,
    id: &str,
    username: &str,
) -> Result<Vec<api::auth::Policy>, ApiError> {
    let in_projects: Vec<String> = core
        .project_bindings(tenant)
        .await?
        .into_iter()
        .filter(|b| b.spec.users.iter().any(|s| is_user(s, id, username)))
        .map(|b| b.spec.policy_id)
        .collect();
    Ok(core
        .policies(tenant)
        .await?
        .into_iter()
        .filter(|p| {
            p.status.as_ref().is_some_and(|s| s.users.iter().any(|s| is_user(s, id, username)))
                || in_projects.iter().any(|n| n == p.name())
        })
        .collect())
}

/// The roles bound to a user.
pub async fn roles_of_user(
    core: &Core,
    tenant: &str,
    id: &str,
    username: &str,
) -> Result<Vec<api::auth::Role>, ApiError> {
    Ok(core
        .roles(tenant)
        .await?
        .into_iter()
        .filter(|r| r.status.as_ref().is_some_and(|s| s.users.iter().any(|s| is_user(s, id, username))))
        .collect())
}

fn invalid(name: &str, field: &str, detail: impl Into<String>) -> ApiError {
    ApiError::invalid(
        api::auth::GROUP,
        api::auth::local_identity::KIND,
        name,
        vec![FieldError::invalid(field, "(hidden)", detail)],
    )
}

async fn password(core: &Core, user: LocalIdentity, req: ConnectRequest, call: &Call) -> Result<Value, ApiError> {
    let body: PasswordReq = super::body(req.body, "PasswordReq").await?;
    let name = user.name().to_string();
    if body.hashed_password.trim().is_empty() {
        return Err(ApiError::invalid(
            api::auth::GROUP,
            api::auth::local_identity::KIND,
            &name,
            vec![FieldError::required("hashedPassword", "the new password, base64-encoded, is required")],
        ));
    }
    let tenant = user.tenant().to_string();
    if !core.administers(&call.user, &tenant) {
        if body.original_password.trim().is_empty() {
            return Err(ApiError::invalid(
                api::auth::GROUP,
                api::auth::local_identity::KIND,
                &name,
                vec![FieldError::required(
                    "originalPassword",
                    "the current password, base64-encoded, is required to change it",
                )],
            ));
        }
        if let Some(until) = crate::people::locked_until(&user, chrono::Utc::now()) {
            return Err(ApiError::forbidden(
                api::auth::GROUP,
                "localidentities/password",
                &name,
                &format!("the account is locked after repeated failed logins until {until}"),
            ));
        }
        let original = crate::password::decode_field(&body.original_password)
            .map_err(|e| invalid(&name, "originalPassword", e.to_string()))?;
        let stored = user.spec.hashed_password.clone();
        let ok = !stored.is_empty() && crate::password::verify_blocking(original, stored).await;
        core.people.record(&user, ok, chrono::Utc::now()).await;
        if !ok {
            return Err(invalid(&name, "originalPassword", "the current password is wrong"));
        }
    }
    let given = body.hashed_password.clone();
    let hash = tokio::task::spawn_blocking(move || crate::password::from_field(&given))
        .await
        .map_err(|e| ApiError::internal(format!("hashing the password: {e}")))?
        .map_err(|e| invalid(&name, "hashedPassword", e.to_string()))?;
    core.modify::<LocalIdentity, _>("localidentities", &name, None, |u| {
        u.spec.hashed_password = hash.clone();
        Ok(true)
    })
    .await?;
    // A new password starts with a clean slate: no failures counted, no lockout.
    let stored = core
        .modify::<LocalIdentity, _>("localidentities", &name, Some("status"), |u| {
            let status = u.status.get_or_insert_with(LocalIdentityStatus::default);
            let before = status.clone();
            status.failed_logins = 0;
            status.lockouts = 0;
            status.locked = false;
            status.locked_until = None;
            Ok(*status != before)
        })
        .await?;
    tracing::info!(user = %user.spec.username, tenant, by = %call.user.name, "password changed");
    let user: LocalIdentity = decode(&stored)?;
    Ok(super::object_of(api::auth::local_identity::KIND, &redacted_user(&user)))
}
