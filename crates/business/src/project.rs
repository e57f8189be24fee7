//! The Project controller (reference 4.3): a new project gets its auth view (the
//! `auth.tkestack.io/v1` Project of the same name and tenant, parent of the membership
//! subresources) and its `spec.members` bound as owners (policy `pol-{tenant}-project-owner`),
//! then turns `Active`; members later left out of `spec.members` are unbound. A failed binding
//! makes it `Failed` ("failed to add business member: …") and is retried with back-off.
//!
//! A deleted project (kept by its `project` finalizer) shows `Terminating` and takes what it
//! holds with it in order, each kind waited for until gone: chart groups, image namespaces,
//! namespaces, sub-projects; `status.message` names what it waits for. Then its members are
//! unbound, every binding left in it and its auth view are deleted, and the finalizer is
//! cleared through `finalize`.
//!
//! Which members the controller bound is kept in the annotation [`MEMBERS_ANNOTATION`], so
//! that a member dropped from `spec.members` is unbound, while owners bound by other means (the
//! console's member editor) are left alone.

use std::{collections::BTreeSet, sync::Arc, time::Duration};

use api::business::{
    Project,
    common::{finalizer, project_phase},
};
use kube::{
    Api, Client, ResourceExt,
    api::{ApiResource, DeleteParams, DynamicObject, Patch, PatchParams, PostParams},
    runtime::controller::Action,
};
use serde_json::{Value, json};

use crate::runner::{self, Error, Lifecycle, Watch};

/// Annotation of a business Project: the members (JSON list of user names) the controller has
/// bound as owners.
pub const MEMBERS_ANNOTATION: &str = "business.tkestack.io/members";

/// How often a deleted project looks again at what it waits for, besides being woken by its
/// objects' changes.
const RECHECK: Duration = Duration::from_secs(5);

/// The policy members are bound to: the tenant's project owner.
pub fn owner_policy(tenant: &str) -> String {
    format!("pol-{tenant}-project-owner")
}

/// Reasons written in `status.reason`.
mod reason {
    pub const ADD_MEMBER_FAILED: &str = "AddMemberFailed";
    pub const REMOVE_MEMBER_FAILED: &str = "RemoveMemberFailed";
    pub const AUTH_VIEW_FAILED: &str = "AuthViewFailed";
    pub const DELETING: &str = "Deleting";
}

fn projects_resource() -> ApiResource {
    runner::business(api::business::project::KIND, "projects")
}

fn auth_resource(kind: &str, plural: &str) -> ApiResource {
    runner::resource(api::auth::GROUP, api::auth::VERSION, kind, plural)
}

/// What a deleted project takes with it, in order.
struct Held {
    singular: &'static str,
    plural: &'static str,
    resource: ApiResource,
    /// The objects are in the project's Kubernetes namespace (else: sub-projects, by field).
    namespaced: bool,
}

fn held() -> Vec<Held> {
    vec![
        Held {
            singular: "chart group",
            plural: "chart groups",
            resource: runner::business(api::business::chart_group::KIND, "chartgroups"),
            namespaced: true,
        },
        Held {
            singular: "image namespace",
            plural: "image namespaces",
            resource: runner::business(api::business::image_namespace::KIND, "imagenamespaces"),
            namespaced: true,
        },
        Held {
            singular: "namespace",
            plural: "namespaces",
            resource: runner::business(api::business::namespace::KIND, "namespaces"),
            namespaced: true,
        },
        Held { singular: "sub-project", plural: "sub-projects", resource: projects_resource(), namespaced: false },
    ]
}

struct Ctx {
    client: Client,
    projects: Api<DynamicObject>,
    views: Api<DynamicObject>,
}

/// Runs the Project controller until `shutdown` resolves.
pub async fn run(client: Client, shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static) {
    let main = projects_resource();
    let mut watches = vec![];
    // A project's objects on their way out wake it (a deleted project waits for them to go).
    // Each of them carries a finalizer, so its last state before it goes is a deleting one;
    // their other changes (a namespace's usage) are none of this controller's business.
    for h in held() {
        let mapper = wakes(h.namespaced, main.clone());
        watches.push(Watch { resource: h.resource, mapper });
    }
    let ctx = Arc::new(Ctx {
        client: client.clone(),
        projects: Api::all_with(client.clone(), &main),
        views: Api::all_with(client.clone(), &auth_resource(api::auth::project::KIND, "projects")),
    });
    runner::run(
        client,
        main,
        "project",
        watches,
        move |p| {
            let ctx = ctx.clone();
            async move { reconcile(p, &ctx).await }
        },
        shutdown,
    )
    .await;
}

/// The project a held object going away wakes: the one whose Kubernetes namespace it is in
/// (`namespaced`), or its parent (a sub-project). Nothing for live objects.
fn wakes(namespaced: bool, projects: ApiResource) -> runner::Mapper {
    Arc::new(move |o: &DynamicObject| {
        if !runner::deleting(o) {
            return vec![];
        }
        let project = if namespaced {
            o.namespace()
        } else {
            o.data["spec"]["parentProjectName"].as_str().filter(|p| !p.is_empty()).map(str::to_string)
        };
        project.map(|p| runner::object_ref(&projects, &p, None)).into_iter().collect()
    })
}

async fn reconcile(obj: Arc<DynamicObject>, ctx: &Ctx) -> Result<Action, Error> {
    let p: Project = runner::decode("project", &obj)?;
    if runner::deleting(&obj) {
        if !runner::has_finalizer(&obj.data, finalizer::PROJECT) {
            return Ok(Action::await_change());
        }
        return delete(&obj, &p, ctx).await;
    }
    if let Err(cause) = ensure_view(ctx, &p).await {
        let message = format!("failed to create the auth view of the project: {cause}");
        return fail(ctx, &obj, reason::AUTH_VIEW_FAILED, message).await;
    }
    let desired = members_of(&p.spec.members);
    let recorded = bound_members(&obj);
    let path = view_path(p.name());
    let policy = owner_policy(p.tenant());
    if !desired.is_empty() && (desired != recorded || p.phase() != project_phase::ACTIVE) {
        let body = membership(p.tenant(), &policy, &desired);
        if let Err(e) = runner::post_subresource(&ctx.client, &path, "binding", &body).await {
            let message = format!("failed to add business member: {}", runner::message_of(&e));
            return fail(ctx, &obj, reason::ADD_MEMBER_FAILED, message).await;
        }
    }
    let dropped: BTreeSet<String> = recorded.difference(&desired).cloned().collect();
    if let Err(e) = unbind(ctx, p.tenant(), &path, &policy, &dropped).await {
        let message = format!("failed to remove business member: {}", runner::message_of(&e));
        return fail(ctx, &obj, reason::REMOVE_MEMBER_FAILED, message).await;
    }
    if desired != recorded {
        let list = serde_json::to_string(&desired).unwrap_or_default();
        let patch = json!({"metadata": {"annotations": {MEMBERS_ANNOTATION: list}}});
        ctx.projects.patch(p.name(), &PatchParams::default(), &Patch::Merge(&patch)).await?;
    }
    if p.phase() != project_phase::ACTIVE {
        // A new project starts unlocked; a project that failed keeps what was set meanwhile.
        let fresh = p.phase().is_empty() || p.phase() == project_phase::PENDING;
        let extra = fresh.then_some(("locked", json!(false)));
        runner::write_lifecycle(&ctx.projects, &obj, &Lifecycle::new(project_phase::ACTIVE, None, None), extra).await?;
        tracing::info!(project = p.name(), tenant = p.tenant(), members = desired.len(), "project active");
    }
    Ok(Action::await_change())
}

/// Reports a failed step as `Failed` and fails the reconcile, so that it is retried with
/// back-off.
async fn fail(ctx: &Ctx, obj: &DynamicObject, reason: &str, message: String) -> Result<Action, Error> {
    runner::write_lifecycle(
        &ctx.projects,
        obj,
        &Lifecycle::new(project_phase::FAILED, Some(reason), Some(message.clone())),
        None,
    )
    .await?;
    Err(Error::Reported(format!("project {}: {message}", obj.name_any())))
}

/// `/apis/auth.tkestack.io/v1/projects/{name}`.
fn view_path(name: &str) -> String {
    format!("/apis/{}/projects/{name}", api::auth::API_VERSION)
}

/// A ProjectPolicyBindingRequest binding (or unbinding) `users` to `policy`.
fn membership(tenant: &str, policy: &str, users: &BTreeSet<String>) -> Value {
    json!({
        "apiVersion": api::auth::API_VERSION,
        "kind": "ProjectPolicyBindingRequest",
        "tenantID": tenant,
        "policies": [policy],
        "users": users.iter().map(|u| json!({"name": u})).collect::<Vec<_>>(),
    })
}

/// Unbinds `users` from the owner policy in the project; a project without a view or without
/// the binding has nothing to unbind.
async fn unbind(
    ctx: &Ctx,
    tenant: &str,
    path: &str,
    policy: &str,
    users: &BTreeSet<String>,
) -> Result<(), kube::Error> {
    if users.is_empty() {
        return Ok(());
    }
    match runner::post_subresource(&ctx.client, path, "unbinding", &membership(tenant, policy, users)).await {
        Ok(_) => Ok(()),
        Err(e) if runner::not_found(&e) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Creates the auth view of the project unless it exists; what went wrong otherwise.
async fn ensure_view(ctx: &Ctx, p: &Project) -> Result<(), String> {
    let found = ctx.views.get_opt(p.name()).await.map_err(|e| runner::message_of(&e))?;
    if let Some(view) = found {
        let tenant = view.data["tenantID"].as_str().unwrap_or_default();
        if tenant == p.tenant() {
            return Ok(());
        }
        // A left-over view of another tenant would hand this project's members to it.
        return Err(format!("the auth view {} belongs to tenant {tenant}, not {}", p.name(), p.tenant()));
    }
    let view: DynamicObject = serde_json::from_value(json!({
        "apiVersion": api::auth::API_VERSION,
        "kind": api::auth::project::KIND,
        "metadata": {"name": p.name()},
        "tenantID": p.tenant(),
    }))
    .map_err(|e| e.to_string())?;
    match ctx.views.create(&PostParams::default(), &view).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
        Err(e) => Err(runner::message_of(&e)),
    }
}

/// Deletes what the project holds in order, then its members and auth view, then lets it go.
async fn delete(obj: &DynamicObject, p: &Project, ctx: &Ctx) -> Result<Action, Error> {
    let name = p.name();
    for h in held() {
        let (api, selector) = if h.namespaced {
            (Api::namespaced_with(ctx.client.clone(), name, &h.resource), String::new())
        } else {
            (Api::all_with(ctx.client.clone(), &h.resource), format!("spec.parentProjectName={name}"))
        };
        let objects = runner::list(&api, &selector).await?;
        if objects.is_empty() {
            continue;
        }
        let names = runner::delete_each(&api, &objects).await?;
        if names.is_empty() {
            continue;
        }
        let message = waiting_message(h.singular, h.plural, &names);
        let want = Lifecycle::new(project_phase::TERMINATING, Some(reason::DELETING), Some(message));
        runner::write_lifecycle(&ctx.projects, obj, &want, None).await?;
        return Ok(Action::requeue(RECHECK));
    }
    let want = Lifecycle::new(
        project_phase::TERMINATING,
        Some(reason::DELETING),
        Some("removing the project's members".into()),
    );
    runner::write_lifecycle(&ctx.projects, obj, &want, None).await?;

    let mut members = bound_members(obj);
    members.extend(members_of(&p.spec.members));
    unbind(ctx, p.tenant(), &view_path(name), &owner_policy(p.tenant()), &members).await?;
    // Bindings made in the project by other means (the console's member editor) go too: they
    // would otherwise grant rights in a project that no longer exists.
    let bindings: Api<DynamicObject> = Api::all_with(
        ctx.client.clone(),
        &auth_resource(api::auth::project_policy_binding::KIND, "projectpolicybindings"),
    );
    let left = runner::list(&bindings, &format!("spec.projectID={name}")).await?;
    runner::delete_each(&bindings, &left).await?;
    match ctx.views.delete(name, &DeleteParams::default()).await {
        Ok(_) => {}
        Err(e) if runner::not_found(&e) => {}
        Err(e) => return Err(e.into()),
    }
    runner::clear_finalizer(&ctx.projects, name, finalizer::PROJECT).await?;
    tracing::info!(project = name, tenant = p.tenant(), "project deleted with what it held");
    Ok(Action::await_change())
}

/// The members of a project: trimmed, without blanks and repeats.
pub fn members_of(members: &[String]) -> BTreeSet<String> {
    members.iter().map(|m| m.trim()).filter(|m| !m.is_empty()).map(str::to_string).collect()
}

/// The members the controller has bound (its annotation; nothing when absent or unreadable).
pub fn bound_members(obj: &DynamicObject) -> BTreeSet<String> {
    obj.annotations()
        .get(MEMBERS_ANNOTATION)
        .and_then(|v| serde_json::from_str::<Vec<String>>(v).ok())
        .map(|v| members_of(&v))
        .unwrap_or_default()
}

/// How many names a waiting message lists before it stops with `…`.
const NAMES_SHOWN: usize = 5;

/// `waiting for 3 namespaces to be deleted: cls-a-web, cls-a-db, cls-b-web`.
pub fn waiting_message(singular: &str, plural: &str, names: &[String]) -> String {
    let what = if names.len() == 1 { singular } else { plural };
    let mut shown = names.iter().take(NAMES_SHOWN).cloned().collect::<Vec<_>>().join(", ");
    if names.len() > NAMES_SHOWN {
        shown.push_str(", …");
    }
    format!("waiting for {} {what} to be deleted: {shown}", names.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(v: Value) -> DynamicObject {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn members_are_trimmed_and_deduplicated() {
        let m = members_of(&["bob".into(), " alice ".into(), "".into(), "bob".into()]);
        assert_eq!(m.into_iter().collect::<Vec<_>>(), ["alice", "bob"]);
    }

    #[test]
    fn bound_members_come_from_the_annotation() {
        let o = obj(json!({"metadata": {"name": "prj-a", "annotations": {MEMBERS_ANNOTATION: "[\"bob\",\"alice\"]"}}}));
        assert_eq!(bound_members(&o).into_iter().collect::<Vec<_>>(), ["alice", "bob"]);
        let junk = obj(json!({"metadata": {"name": "prj-a", "annotations": {MEMBERS_ANNOTATION: "not json"}}}));
        assert!(bound_members(&junk).is_empty());
        assert!(bound_members(&obj(json!({"metadata": {"name": "prj-a"}}))).is_empty());
    }

    #[test]
    fn membership_requests_name_the_owner_policy_and_the_users() {
        let users: BTreeSet<String> = ["bob".to_string(), "alice".to_string()].into();
        let body = membership("t1", &owner_policy("t1"), &users);
        assert_eq!(body["policies"], json!(["pol-t1-project-owner"]));
        assert_eq!(body["users"], json!([{"name": "alice"}, {"name": "bob"}]));
        assert_eq!(body["tenantID"], "t1");
        // What the auth API decodes.
        let req: api::auth::ProjectPolicyBindingRequest = serde_json::from_value(body).unwrap();
        assert_eq!(req.users[1].name, "bob");
    }

    #[test]
    fn waiting_messages_count_and_name_what_is_left() {
        let names = |n: usize| (0..n).map(|i| format!("ns-{i}")).collect::<Vec<_>>();
        assert_eq!(
            waiting_message("namespace", "namespaces", &names(1)),
            "waiting for 1 namespace to be deleted: ns-0"
        );
        assert_eq!(
            waiting_message("namespace", "namespaces", &names(3)),
            "waiting for 3 namespaces to be deleted: ns-0, ns-1, ns-2"
        );
        assert_eq!(
            waiting_message("chart group", "chart groups", &names(7)),
            "waiting for 7 chart groups to be deleted: ns-0, ns-1, ns-2, ns-3, ns-4, …"
        );
    }

    #[test]
    fn held_objects_wake_their_project_only_when_going() {
        let going = |mut v: Value| {
            v["metadata"]["deletionTimestamp"] = json!("2026-12-07T00:00:00Z");
            obj(v)
        };
        let names = |refs: Vec<kube::runtime::reflector::ObjectRef<DynamicObject>>| {
            refs.into_iter().map(|r| (r.name, r.namespace)).collect::<Vec<_>>()
        };
        let ns = json!({"metadata": {"name": "cls-a-web", "namespace": "prj-a"}});
        let in_project = wakes(true, projects_resource());
        assert!(in_project(&obj(ns.clone())).is_empty(), "a live namespace's changes are not the project's");
        assert_eq!(names(in_project(&going(ns))), [("prj-a".to_string(), None)]);
        let child = json!({"metadata": {"name": "prj-b"}, "spec": {"parentProjectName": "prj-a"}});
        let parent = wakes(false, projects_resource());
        assert!(parent(&obj(child.clone())).is_empty());
        assert_eq!(names(parent(&going(child))), [("prj-a".to_string(), None)]);
        assert!(parent(&going(json!({"metadata": {"name": "prj-top"}, "spec": {}}))).is_empty());
    }

    #[test]
    fn deletion_order_is_chart_groups_image_namespaces_namespaces_then_sub_projects() {
        let held = held();
        let order: Vec<&str> = held.iter().map(|h| h.resource.plural.as_str()).collect();
        assert_eq!(order, ["chartgroups", "imagenamespaces", "namespaces", "projects"]);
        assert!(!held[3].namespaced, "sub-projects are found by spec.parentProjectName");
    }
}
