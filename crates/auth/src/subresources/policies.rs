//! Subresources of policies:
//! - `binding`, `unbinding`: users and groups the policy applies to on the whole platform
//!   (`status.users`, `status.groups`), for policies of scope `platform`;
//! - `projectbinding`, `projectunbinding`: users and groups the policy applies to in one
//!   project (the `X-TKE-ProjectName` header), kept as the ProjectPolicyBinding
//!   `{projectID}-{policyID}`, for policies of scope `project`;
//! - the views `users`, `groups`, `roles` (the roles that include the policy), `projectusers`
//!   and `projectgroups` (the subjects of its ProjectPolicyBindings, in the header's project
//!   or in all).

use api::auth::{
    Policy, ProjectPolicyBinding, ProjectPolicyBindingRequest, Subject, policy::PolicyStatus, policy::scope,
    project_policy_binding::binding_name,
};
use apimachinery::{ApiError, error::Reason};
use apiserver::ConnectRequest;
use serde_json::{Value, json};

use super::{Call, Core, add_subjects, decode, list_of, nothing_to_do, remove_subjects, role_list, views};
use crate::index::system_context;

pub async fn serve(core: &Core, sub: &str, req: ConnectRequest, call: &Call) -> Result<Value, ApiError> {
    let policy: Policy = decode(&req.object)?;
    let tenant = policy.tenant().to_string();
    let name = policy.name().to_string();
    let kind = api::auth::policy::KIND;
    match sub {
        "binding" | "unbinding" => {
            let body: api::auth::Binding = super::body(req.body, "Binding").await?;
            if body.users.is_empty() && body.groups.is_empty() {
                return Err(nothing_to_do("users or groups"));
            }
            let bind = sub == "binding";
            if bind && policy.spec.scope == scope::PROJECT {
                return Err(ApiError::bad_request(format!(
                    "policy {name} is of scope project: bind it in a project with policies/{name}/projectbinding"
                )));
            }
            let (users, groups) = if bind {
                (
                    core.resolve_users(&tenant, "users", &body.users).await.map_err(|e| e.into_api(kind, &name))?,
                    core.resolve_groups(&tenant, "groups", &body.groups).await.map_err(|e| e.into_api(kind, &name))?,
                )
            } else {
                (body.users, body.groups)
            };
            let stored = core
                .modify::<Policy, _>("policies", &name, Some("status"), |p| {
                    let status = p.status.get_or_insert_with(PolicyStatus::default);
                    Ok(if bind {
                        add_subjects(&mut status.users, &users) | add_subjects(&mut status.groups, &groups)
                    } else {
                        remove_subjects(&mut status.users, &users) | remove_subjects(&mut status.groups, &groups)
                    })
                })
                .await?;
            Ok(super::object_of(kind, &decode::<Policy>(&stored)?))
        }
        "projectbinding" | "projectunbinding" => {
            let body: ProjectPolicyBindingRequest = super::body(req.body, "ProjectPolicyBindingRequest").await?;
            if body.users.is_empty() && body.groups.is_empty() {
                return Err(nothing_to_do("users or groups"));
            }
            if policy.spec.scope != scope::PROJECT {
                return Err(ApiError::bad_request(format!(
                    "policy {name} is of scope {:?}: only policies of scope project are bound in projects (use policies/{name}/binding)",
                    policy.spec.scope
                )));
            }
            let Some(project) = super::project_of(call) else {
                return Err(ApiError::bad_request(format!(
                    "name the project in the {} header",
                    crate::authz::attributes::PROJECT_HEADER
                )));
            };
            let binding =
                bind_in_project(core, &tenant, &project, &name, &body.users, &body.groups, sub == "projectbinding")
                    .await?;
            Ok(binding)
        }
        "users" => Ok(list_of(
            views::USER_KIND,
            policy
                .status
                .as_ref()
                .map(|s| s.users.as_slice())
                .unwrap_or_default()
                .iter()
                .map(|s| serde_json::to_value(views::user_of_subject(&core.people, &tenant, s)).unwrap_or_default())
                .collect(),
        )),
        "groups" => Ok(list_of(
            views::GROUP_KIND,
            policy
                .status
                .as_ref()
                .map(|s| s.groups.as_slice())
                .unwrap_or_default()
                .iter()
                .map(|s| serde_json::to_value(views::group_of_subject(&core.people, &tenant, s)).unwrap_or_default())
                .collect(),
        )),
        "roles" => {
            Ok(role_list(core.roles(&tenant).await?.into_iter().filter(|r| r.spec.policies.contains(&name)).collect()))
        }
        "projectusers" | "projectgroups" => {
            let project = super::project_of(call);
            let bindings: Vec<ProjectPolicyBinding> = core
                .project_bindings(&tenant)
                .await?
                .into_iter()
                .filter(|b| b.spec.policy_id == name && project.as_ref().is_none_or(|p| *p == b.spec.project_id))
                .collect();
            let mut subjects: Vec<Subject> = vec![];
            for b in &bindings {
                add_subjects(&mut subjects, if sub == "projectusers" { &b.spec.users } else { &b.spec.groups });
            }
            Ok(if sub == "projectusers" {
                list_of(
                    views::USER_KIND,
                    subjects
                        .iter()
                        .map(|s| {
                            serde_json::to_value(views::user_of_subject(&core.people, &tenant, s)).unwrap_or_default()
                        })
                        .collect(),
                )
            } else {
                list_of(
                    views::GROUP_KIND,
                    subjects
                        .iter()
                        .map(|s| {
                            serde_json::to_value(views::group_of_subject(&core.people, &tenant, s)).unwrap_or_default()
                        })
                        .collect(),
                )
            })
        }
        _ => Err(ApiError::not_found(api::auth::GROUP, "policies", &call.name)),
    }
}

/// Adds users and groups to (or removes them from) the ProjectPolicyBinding of `policy` in
/// `project`, creating it on the first binding. Answers the binding as stored.
pub async fn bind_in_project(
    core: &Core,
    tenant: &str,
    project: &str,
    policy: &str,
    users: &[Subject],
    groups: &[Subject],
    bind: bool,
) -> Result<Value, ApiError> {
    let kind = api::auth::project_policy_binding::KIND;
    let name = binding_name(project, policy);
    // A project of another tenant is not bound into, whatever the caller may name.
    let projects = core.store("projects")?;
    if let Ok(p) = projects.get(&system_context(), project, None).await {
        let owner = p.get("tenantID").and_then(Value::as_str).unwrap_or_default();
        if owner != tenant {
            return Err(ApiError::forbidden(
                api::auth::GROUP,
                "projectpolicybindings",
                &name,
                &format!("project {project} is not of tenant {tenant}"),
            ));
        }
    }
    let (users, groups) = if bind {
        (
            core.resolve_users(tenant, "users", users).await.map_err(|e| e.into_api(kind, &name))?,
            core.resolve_groups(tenant, "groups", groups).await.map_err(|e| e.into_api(kind, &name))?,
        )
    } else {
        (users.to_vec(), groups.to_vec())
    };
    let store = core.store("projectpolicybindings")?;
    for _ in 0..super::CONFLICT_RETRIES {
        let modified = core
            .modify::<ProjectPolicyBinding, _>("projectpolicybindings", &name, None, |b| {
                Ok(if bind {
                    add_subjects(&mut b.spec.users, &users) | add_subjects(&mut b.spec.groups, &groups)
                } else {
                    remove_subjects(&mut b.spec.users, &users) | remove_subjects(&mut b.spec.groups, &groups)
                })
            })
            .await;
        match modified {
            Ok(v) => return Ok(super::object_of(kind, &decode::<ProjectPolicyBinding>(&v)?)),
            Err(e) if e.reason == Reason::NotFound && bind => {}
            Err(e) => return Err(e),
        }
        let obj = json!({
            "apiVersion": api::auth::API_VERSION,
            "kind": kind,
            "metadata": {"name": name},
            "spec": {"tenantID": tenant, "projectID": project, "policyID": policy, "users": users, "groups": groups},
        });
        match store.create(&system_context(), obj, &super::write_options()).await {
            Ok(w) => return Ok(super::object_of(kind, &decode::<ProjectPolicyBinding>(&w.object)?)),
            // Created meanwhile by another request: add to it.
            Err(e) if e.reason == Reason::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(ApiError::new(Reason::Conflict, format!("{name} kept changing; try again")))
}
