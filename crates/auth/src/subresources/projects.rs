//! Subresources of the auth view of projects: `binding` and `unbinding` bind users and groups
//! to project-scoped policies in the project (one ProjectPolicyBinding per policy), and the
//! views `users` and `groups` (each with `spec.extra.policies`, a JSON map from the policies
//! they hold in the project to their display names, as TKEStack's console reads it) and
//! `policies` (the policies bound in the project). A POST to `users` or `groups` sets what the
//! given users or groups hold in the project: the request's policies, and no others.

use std::collections::BTreeMap;

use api::auth::{Policy, Project, ProjectPolicyBinding, ProjectPolicyBindingRequest, Subject, policy::scope};
use apimachinery::{ApiError, FieldError};
use apiserver::ConnectRequest;
use axum::http::Method;
use serde_json::Value;

use super::{Call, Core, decode, list_of, nothing_to_do, policy_list, views};

/// The user extra naming the policies a subject holds in a project.
pub const POLICIES_EXTRA: &str = "policies";

pub async fn serve(core: &Core, sub: &str, req: ConnectRequest, call: &Call) -> Result<Value, ApiError> {
    let project: Project = decode(&req.object)?;
    let tenant = project.tenant().to_string();
    let name = project.name().to_string();
    match sub {
        "binding" | "unbinding" => {
            let body: ProjectPolicyBindingRequest = super::body(req.body, "ProjectPolicyBindingRequest").await?;
            if body.policies.is_empty() {
                return Err(nothing_to_do("policies"));
            }
            if body.users.is_empty() && body.groups.is_empty() {
                return Err(nothing_to_do("users or groups"));
            }
            check_request(core, &tenant, &name, &body).await?;
            let bind = sub == "binding";
            let mut items = vec![];
            for policy in &body.policies {
                match super::policies::bind_in_project(core, &tenant, &name, policy, &body.users, &body.groups, bind)
                    .await
                {
                    Ok(b) => items.push(b),
                    // Unbinding from a policy nobody holds here is nothing to do.
                    Err(e) if !bind && e.code() == 404 => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(list_of(api::auth::project_policy_binding::KIND, items))
        }
        "users" | "groups" if call.method == Method::POST => {
            // TKEStack's console edits a member this way: the request's policies become
            // exactly the ones its users (or groups) hold in the project.
            let body: ProjectPolicyBindingRequest = super::body(req.body, "ProjectPolicyBindingRequest").await?;
            let users = sub == "users";
            let given = if users { &body.users } else { &body.groups };
            if given.is_empty() {
                return Err(nothing_to_do(sub));
            }
            check_request(core, &tenant, &name, &body).await?;
            let subjects = if users {
                core.resolve_users(&tenant, "users", given).await
            } else {
                core.resolve_groups(&tenant, "groups", given).await
            }
            .map_err(|e| e.into_api("ProjectPolicyBindingRequest", &name))?;
            let (bind_users, bind_groups) = if users { (subjects.clone(), vec![]) } else { (vec![], subjects.clone()) };
            let mut items = vec![];
            for policy in &body.policies {
                items.push(
                    super::policies::bind_in_project(core, &tenant, &name, policy, &bind_users, &bind_groups, true)
                        .await?,
                );
            }
            for b in bindings_in(core, &tenant, &name).await? {
                if body.policies.contains(&b.spec.policy_id) {
                    continue;
                }
                let held = if users { &b.spec.users } else { &b.spec.groups };
                let dropped: Vec<Subject> =
                    subjects.iter().filter(|s| held.iter().any(|h| super::same_subject(h, s))).cloned().collect();
                if dropped.is_empty() {
                    continue;
                }
                let (u, g) = if users { (dropped, vec![]) } else { (vec![], dropped) };
                items.push(
                    super::policies::bind_in_project(core, &tenant, &name, &b.spec.policy_id, &u, &g, false).await?,
                );
            }
            Ok(list_of(api::auth::project_policy_binding::KIND, items))
        }
        "users" | "groups" => {
            let bindings = bindings_in(core, &tenant, &name).await?;
            let policies = core.policies(&tenant).await?;
            let display = |id: &str| {
                policies.iter().find(|p| p.name() == id).map_or(id.to_string(), |p| p.spec.display_name.clone())
            };
            // Subject key -> (subject, policy id -> display name), in first-bound order.
            let mut held: Vec<(Subject, BTreeMap<String, String>)> = vec![];
            for b in &bindings {
                let subjects = if sub == "users" { &b.spec.users } else { &b.spec.groups };
                for s in subjects {
                    let slot = match held.iter().position(|(h, _)| h.key() == s.key()) {
                        Some(i) => i,
                        None => {
                            held.push((s.clone(), BTreeMap::new()));
                            held.len() - 1
                        }
                    };
                    held[slot].1.insert(b.spec.policy_id.clone(), display(&b.spec.policy_id));
                }
            }
            let items = held
                .into_iter()
                .map(|(s, map)| {
                    let text = serde_json::to_string(&map).unwrap_or_default();
                    if sub == "users" {
                        let mut u = views::user_of_subject(&core.people, &tenant, &s);
                        u.spec.extra.insert(POLICIES_EXTRA.into(), text);
                        serde_json::to_value(u).unwrap_or_default()
                    } else {
                        let mut g = views::group_of_subject(&core.people, &tenant, &s);
                        g.spec.extra.insert(POLICIES_EXTRA.into(), text);
                        serde_json::to_value(g).unwrap_or_default()
                    }
                })
                .collect();
            Ok(list_of(if sub == "users" { views::USER_KIND } else { views::GROUP_KIND }, items))
        }
        "policies" => {
            let bound: Vec<String> = bindings_in(core, &tenant, &name)
                .await?
                .into_iter()
                .filter(|b| !b.spec.users.is_empty() || !b.spec.groups.is_empty())
                .map(|b| b.spec.policy_id)
                .collect();
            let policies: Vec<Policy> =
                core.policies(&tenant).await?.into_iter().filter(|p| bound.iter().any(|b| b == p.name())).collect();
            Ok(policy_list(policies))
        }
        _ => Err(ApiError::not_found(api::auth::GROUP, "projects", &call.name)),
    }
}

/// Checks a request's tenant and policies: of the project's tenant, and of scope project.
async fn check_request(
    core: &Core,
    tenant: &str,
    project: &str,
    body: &ProjectPolicyBindingRequest,
) -> Result<(), ApiError> {
    let kind = "ProjectPolicyBindingRequest";
    let mut errs = vec![];
    if !body.tenant_id.is_empty() && body.tenant_id != tenant {
        errs.push(FieldError::invalid("tenantID", &body.tenant_id, format!("project {project} is of tenant {tenant}")));
    }
    let known = core.policies(tenant).await?;
    for (i, p) in body.policies.iter().enumerate() {
        match known.iter().find(|k| k.name() == p) {
            None => errs.push(FieldError::invalid(
                format!("policies[{i}]"),
                p,
                format!("no policy {p:?} in tenant {tenant}"),
            )),
            Some(k) if k.spec.scope != scope::PROJECT => errs.push(FieldError::invalid(
                format!("policies[{i}]"),
                p,
                "only policies of scope project are bound in projects",
            )),
            Some(_) => {}
        }
    }
    if errs.is_empty() { Ok(()) } else { Err(ApiError::invalid(api::auth::GROUP, kind, project, errs)) }
}

/// The ProjectPolicyBindings of a project.
async fn bindings_in(core: &Core, tenant: &str, project: &str) -> Result<Vec<ProjectPolicyBinding>, ApiError> {
    let mut list: Vec<ProjectPolicyBinding> =
        core.project_bindings(tenant).await?.into_iter().filter(|b| b.spec.project_id == project).collect();
    list.sort_by(|a, b| a.name().cmp(b.name()));
    Ok(list)
}
