//! Subresources of roles: `binding`, `unbinding` (the users and groups the role applies to,
//! `status.users` and `status.groups`), `policybinding`, `policyunbinding` (the role's
//! policies, `spec.policies`: policies of the role's tenant), and the views `users`, `groups`
//! and `policies`.

use api::auth::{PolicyBinding, Role, role::RoleStatus};
use apimachinery::{ApiError, FieldError};
use apiserver::ConnectRequest;
use serde_json::Value;

use super::{Call, Core, add_subjects, decode, list_of, nothing_to_do, policy_list, remove_subjects, views};

pub async fn serve(core: &Core, sub: &str, req: ConnectRequest, call: &Call) -> Result<Value, ApiError> {
    let role: Role = decode(&req.object)?;
    let tenant = role.tenant().to_string();
    let name = role.name().to_string();
    let kind = api::auth::role::KIND;
    match sub {
        "binding" | "unbinding" => {
            let body: api::auth::Binding = super::body(req.body, "Binding").await?;
            if body.users.is_empty() && body.groups.is_empty() {
                return Err(nothing_to_do("users or groups"));
            }
            let bind = sub == "binding";
            let (users, groups) = if bind {
                (
                    core.resolve_users(&tenant, "users", &body.users).await.map_err(|e| e.into_api(kind, &name))?,
                    core.resolve_groups(&tenant, "groups", &body.groups).await.map_err(|e| e.into_api(kind, &name))?,
                )
            } else {
                (body.users, body.groups)
            };
            let stored = core
                .modify::<Role, _>("roles", &name, Some("status"), |r| {
                    let status = r.status.get_or_insert_with(RoleStatus::default);
                    Ok(if bind {
                        add_subjects(&mut status.users, &users) | add_subjects(&mut status.groups, &groups)
                    } else {
                        remove_subjects(&mut status.users, &users) | remove_subjects(&mut status.groups, &groups)
                    })
                })
                .await?;
            Ok(super::object_of(kind, &decode::<Role>(&stored)?))
        }
        "policybinding" | "policyunbinding" => {
            let body: PolicyBinding = super::body(req.body, "PolicyBinding").await?;
            if body.policies.is_empty() {
                return Err(nothing_to_do("policies"));
            }
            let bind = sub == "policybinding";
            if bind {
                // Only the role's tenant's policies: a role must not reach another tenant's.
                let known = core.policies(&tenant).await?;
                let errs: Vec<FieldError> = body
                    .policies
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| !known.iter().any(|k| k.name() == p.as_str()))
                    .map(|(i, p)| {
                        FieldError::invalid(format!("policies[{i}]"), p, format!("no policy {p:?} in tenant {tenant}"))
                    })
                    .collect();
                if !errs.is_empty() {
                    return Err(ApiError::invalid(api::auth::GROUP, kind, &name, errs));
                }
            }
            let stored = core
                .modify::<Role, _>("roles", &name, None, |r| {
                    let before = r.spec.policies.len();
                    if bind {
                        for p in &body.policies {
                            if !r.spec.policies.contains(p) {
                                r.spec.policies.push(p.clone());
                            }
                        }
                    } else {
                        r.spec.policies.retain(|p| !body.policies.contains(p));
                    }
                    Ok(r.spec.policies.len() != before)
                })
                .await?;
            Ok(super::object_of(kind, &decode::<Role>(&stored)?))
        }
        "users" => Ok(list_of(
            views::USER_KIND,
            role.status
                .as_ref()
                .map(|s| s.users.as_slice())
                .unwrap_or_default()
                .iter()
                .map(|s| serde_json::to_value(views::user_of_subject(&core.people, &tenant, s)).unwrap_or_default())
                .collect(),
        )),
        "groups" => Ok(list_of(
            views::GROUP_KIND,
            role.status
                .as_ref()
                .map(|s| s.groups.as_slice())
                .unwrap_or_default()
                .iter()
                .map(|s| serde_json::to_value(views::group_of_subject(&core.people, &tenant, s)).unwrap_or_default())
                .collect(),
        )),
        "policies" => Ok(policy_list(
            core.policies(&tenant)
                .await?
                .into_iter()
                .filter(|p| role.spec.policies.iter().any(|n| n == p.name()))
                .collect(),
        )),
        _ => Err(ApiError::not_found(api::auth::GROUP, "roles", &call.name)),
    }
}
