//! Subresources of local groups: `binding` and `unbinding` add and remove members
//! (`status.users`; they must be users of the group's tenant), and the views `users`,
//! `policies` and `roles`.

use api::auth::{Binding, LocalGroup, local_group::LocalGroupStatus};
use apimachinery::ApiError;
use apiserver::ConnectRequest;
use serde_json::Value;

use super::{
    Call, Core, add_subjects, decode, is_group, list_of, nothing_to_do, policy_list, remove_subjects, role_list,
};

pub async fn serve(core: &Core, sub: &str, req: ConnectRequest, call: &Call) -> Result<Value, ApiError> {
    let group: LocalGroup = decode(&req.object)?;
    let tenant = group.tenant().to_string();
    let name = group.name().to_string();
    let kind = api::auth::local_group::KIND;
    match sub {
        "binding" | "unbinding" => {
            let body: Binding = super::body(req.body, "Binding").await?;
            if body.users.is_empty() {
                return Err(nothing_to_do("users (a group's members are users)"));
            }
            let bind = sub == "binding";
            let users = if bind {
                core.resolve_users(&tenant, "users", &body.users).await.map_err(|e| e.into_api(kind, &name))?
            } else {
                body.users.clone()
            };
            let stored = core
                .modify::<LocalGroup, _>("localgroups", &name, Some("status"), |g| {
                    let status = g.status.get_or_insert_with(LocalGroupStatus::default);
                    Ok(if bind {
                        add_subjects(&mut status.users, &users)
                    } else {
                        remove_subjects(&mut status.users, &users)
                    })
                })
                .await?;
            Ok(super::object_of(kind, &decode::<LocalGroup>(&stored)?))
        }
        "users" => {
            let users: Vec<Value> = group
                .members()
                .iter()
                .map(|m| {
                    serde_json::to_value(super::views::user_of_subject(&core.people, &tenant, m)).unwrap_or_default()
                })
                .collect();
            Ok(list_of(super::views::USER_KIND, users))
        }
        "policies" => Ok(policy_list(policies_of_group(core, &tenant, &name, &group.spec.display_name).await?)),
        "roles" => Ok(role_list(roles_of_group(core, &tenant, &name, &group.spec.display_name).await?)),
        _ => Err(ApiError::not_found(api::auth::GROUP, "localgroups", &call.name)),
    }
}

/// The policies bound to a group, platform-wide or in a project.
pub async fn policies_of_group(
    core: &Core,
    tenant: &str,
    id: &str,
    name: &str,
) -> Result<Vec<api::auth::Policy>, ApiError> {
    let in_projects: Vec<String> = core
        .project_bindings(tenant)
        .await?
        .into_iter()
        .filter(|b| b.spec.groups.iter().any(|s| is_group(s, id, name)))
        .map(|b| b.spec.policy_id)
        .collect();
    Ok(core
        .policies(tenant)
        .await?
        .into_iter()
        .filter(|p| {
            p.status.as_ref().is_some_and(|s| s.groups.iter().any(|s| is_group(s, id, name)))
                || in_projects.iter().any(|n| n == p.name())
        })
        .collect())
}

/// The roles bound to a group.
pub async fn roles_of_group(core: &Core, tenant: &str, id: &str, name: &str) -> Result<Vec<api::auth::Role>, ApiError> {
    Ok(core
        .roles(tenant)
        .await?
        .into_iter()
        .filter(|r| r.status.as_ref().is_some_and(|s| s.groups.iter().any(|s| is_group(s, id, name))))
        .collect())
}
