//! The subresources of `auth.tkestack.io/v1` (reference 1.3) and the User/Group views.
//!
//! - [`identity`]: `localidentities/{name}/password` (a password change), `groups`,
//!   `policies`, `roles`;
//! - [`groups`]: `localgroups/{name}/binding`, `unbinding` (members), `users`, `policies`,
//!   `roles`;
//! - [`policies`]: `policies/{name}/binding`, `unbinding` (platform-wide subjects),
//!   `projectbinding`, `projectunbinding` (ProjectPolicyBindings), `users`, `groups`, `roles`,
//!   `projectusers`, `projectgroups`;
//! - [`roles`]: `roles/{name}/binding`, `unbinding`, `policybinding`, `policyunbinding`,
//!   `users`, `groups`, `policies`;
//! - [`projects`]: the auth view of projects, `projects/{name}/binding`, `unbinding`, `users`,
//!   `groups`, `policies`;
//! - [`views`]: `users` and `groups`, read-only views of the caller's tenant (its LocalIdentity
//!   and LocalGroup objects, or its LDAP directory), with `users/{name}/projects`, `policies`,
//!   `roles` and `groups/{name}/policies`, `roles`.
//!
//! The API server has authorized the request (verb `create` or `get` on
//! `<resource>/<subresource>`) and checked that the parent object exists and is visible to the
//! caller (so it is of the caller's tenant, unless the caller is a platform administrator).
//! What is left here: the subjects bound must be users and groups of the parent's tenant; a
//! password change needs the current password unless an administrator makes it. Every write
//! goes through the resource's store (validation, status subresources) and is retried on
//! conflicts; no answer carries a password hash.

pub mod groups;
pub mod identity;
pub mod policies;
pub mod projects;
pub mod roles;
pub mod views;

use std::sync::Arc;

use api::auth::{
    GROUP, IdentityProvider, LocalGroup, LocalIdentity, Policy, ProjectPolicyBinding, Role, Subject, VERSION,
    identity_provider::types,
};
use apimachinery::{ApiError, FieldError};
use apiserver::{
    ApiServer, Connect, ConnectDef, ConnectRequest, Mount, UserInfo,
    http::error_response,
    store::{ListOptions, ResourceStore, WriteOptions},
};
use axum::{
    body::Body,
    http::{HeaderMap, Method, Response, StatusCode, header},
};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::{Value, json};

use crate::{index::system_context, people::People};

/// The largest request body a subresource accepts.
const MAX_BODY: usize = 1 << 20;
/// How many times a write is retried when another writer changed the object meanwhile.
const CONFLICT_RETRIES: usize = 8;

/// What every handler shares: the server's stores and the tenants' people.
pub struct Core {
    pub server: Arc<ApiServer>,
    pub people: Arc<People>,
}

/// Registers every subresource of the group on `server` and the User/Group views' routes in
/// `mount`.
pub fn mount(server: &Arc<ApiServer>, people: &Arc<People>, mount: &mut Mount) -> Result<(), ApiError> {
    let core = Arc::new(Core { server: server.clone(), people: people.clone() });
    let register = |plural: &'static str, subresource: &'static str, verbs: &'static [&'static str]| {
        let def = ConnectDef { group: GROUP, version: VERSION, plural, subresource, verbs, kind: "" };
        server.register_connect(def, Arc::new(Sub { core: core.clone(), plural, subresource }))
    };
    const CREATE: &[&str] = &["create"];
    const GET: &[&str] = &["get"];
    register("localidentities", "password", &["create", "update"])?;
    for sub in ["groups", "policies", "roles"] {
        register("localidentities", sub, GET)?;
    }
    for sub in ["binding", "unbinding"] {
        register("localgroups", sub, CREATE)?;
    }
    for sub in ["users", "policies", "roles"] {
        register("localgroups", sub, GET)?;
    }
    for sub in ["binding", "unbinding", "projectbinding", "projectunbinding"] {
        register("policies", sub, CREATE)?;
    }
    for sub in ["users", "groups", "roles", "projectusers", "projectgroups"] {
        register("policies", sub, GET)?;
    }
    for sub in ["binding", "unbinding", "policybinding", "policyunbinding"] {
        register("roles", sub, CREATE)?;
    }
    for sub in ["users", "groups", "policies"] {
        register("roles", sub, GET)?;
    }
    for sub in ["binding", "unbinding"] {
        register("projects", sub, CREATE)?;
    }
    for sub in ["users", "groups"] {
        register("projects", sub, &["create", "get"])?;
    }
    register("projects", "policies", GET)?;
    // Listed in discovery; served by the views' routes (the parents are not stored objects).
    for sub in ["projects", "policies", "roles"] {
        register("users", sub, GET)?;
    }
    for sub in ["policies", "roles"] {
        register("groups", sub, GET)?;
    }
    views::mount(core, mount);
    Ok(())
}

/// The subresources that change something (the others are read-only views).
const WRITES: &[&str] =
    &["password", "binding", "unbinding", "projectbinding", "projectunbinding", "policybinding", "policyunbinding"];

/// One subresource.
struct Sub {
    core: Arc<Core>,
    plural: &'static str,
    subresource: &'static str,
}

#[async_trait::async_trait]
impl Connect for Sub {
    async fn serve(&self, req: ConnectRequest) -> Response<Body> {
        let writes = WRITES.contains(&self.subresource);
        let refusal = if !req.path.is_empty() {
            Some(ApiError::not_found(
                GROUP,
                &format!("{}/{}", self.plural, self.subresource),
                &format!("{}/{}", req.name, req.path),
            ))
        } else {
            let allowed: &[Method] = match (self.plural, self.subresource, writes) {
                ("localidentities", _, true) => &[Method::POST, Method::PUT],
                // Read a project's members, or set what they hold there.
                ("projects", "users" | "groups", _) => &[Method::GET, Method::POST],
                (_, _, true) => &[Method::POST],
                (_, _, false) => &[Method::GET],
            };
            if !allowed.contains(&req.method) {
                let names: Vec<&str> = allowed.iter().map(Method::as_str).collect();
                Some(ApiError::method_not_allowed(format!(
                    "{}/{} accepts {} only",
                    self.plural,
                    self.subresource,
                    names.join(" and ")
                )))
            } else if writes || req.method == Method::POST {
                being_deleted(self.plural, &req.name, &req.object)
            } else {
                None
            }
        };
        if let Some(e) = refusal {
            drain(req.body).await;
            return error_response(&e);
        }
        let call = Call::new(&req);
        let result = match self.plural {
            "localidentities" => identity::serve(&self.core, self.subresource, req, &call).await,
            "localgroups" => groups::serve(&self.core, self.subresource, req, &call).await,
            "policies" => policies::serve(&self.core, self.subresource, req, &call).await,
            "roles" => roles::serve(&self.core, self.subresource, req, &call).await,
            "projects" => projects::serve(&self.core, self.subresource, req, &call).await,
            _ => views::serve_sub(&self.core, self.plural, self.subresource, &call).await,
        };
        match result {
            Ok(v) => {
                let code = if call.method == Method::POST { StatusCode::CREATED } else { StatusCode::OK };
                apiserver::http::respond(&call.accept, code, &v)
            }
            Err(e) => error_response(&e),
        }
    }
}

/// A Conflict when the object is being deleted: nothing is bound to an object on its way out
/// (its controller is removing what it produced).
fn being_deleted(plural: &str, name: &str, obj: &Value) -> Option<ApiError> {
    let deleting = obj.pointer("/metadata/deletionTimestamp").is_some_and(|t| !t.is_null())
        || matches!(
            obj.pointer("/status/phase").and_then(Value::as_str),
            Some(api::auth::common::phase::TERMINATING | api::auth::common::phase::DELETING)
        );
    deleting.then(|| {
        ApiError::new(
            apimachinery::error::Reason::Conflict,
            format!("{plural} {name} is being deleted: nothing can be bound to it or changed in it"),
        )
    })
}

/// What handlers need of a request besides its body.
pub struct Call {
    pub user: UserInfo,
    pub name: String,
    pub method: Method,
    pub accept: String,
    pub headers: HeaderMap,
    pub query: Option<String>,
}

impl Call {
    fn new(req: &ConnectRequest) -> Call {
        Call {
            user: req.user.clone(),
            name: req.name.clone(),
            method: req.method.clone(),
            accept: header_str(&req.headers, header::ACCEPT.as_str()),
            headers: req.headers.clone(),
            query: req.query.clone(),
        }
    }
}

pub fn header_str(headers: &HeaderMap, name: &str) -> String {
    headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string()
}

/// The manager named in managedFields for the writes of this module.
pub const FIELD_MANAGER: &str = "tke-auth";

pub fn write_options() -> WriteOptions {
    WriteOptions { field_manager: Some(FIELD_MANAGER.into()), ..Default::default() }
}

/// Reads what is left of a request body before an early answer: a client still sending it
/// (HTTP/2 in particular) would otherwise see its stream reset instead of the answer.
pub async fn drain(body: Body) {
    let _ = axum::body::to_bytes(body, MAX_BODY).await;
}

/// Reads and decodes a JSON request body.
pub async fn body<T: DeserializeOwned>(body: Body, what: &str) -> Result<T, ApiError> {
    let bytes = axum::body::to_bytes(body, MAX_BODY)
        .await
        .map_err(|_| ApiError::too_large(format!("a {what} larger than {MAX_BODY} bytes is not accepted")))?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(format!("the request needs a {what} as its JSON body")));
    }
    serde_json::from_slice(&bytes).map_err(|e| ApiError::bad_request(format!("the body is not a valid {what}: {e}")))
}

/// Decodes a stored object into its type.
pub fn decode<T: DeserializeOwned>(obj: &Value) -> Result<T, ApiError> {
    T::deserialize(obj).map_err(|e| ApiError::internal(format!("a stored object does not decode: {e}")))
}

/// A list answer of `kind` items, each with its apiVersion and kind.
pub fn list_of(kind: &str, items: Vec<Value>) -> Value {
    let items: Vec<Value> = items
        .into_iter()
        .map(|mut o| {
            if o.is_object() {
                o["apiVersion"] = json!(api::auth::API_VERSION);
                o["kind"] = json!(kind);
            }
            o
        })
        .collect();
    json!({"apiVersion": api::auth::API_VERSION, "kind": format!("{kind}List"), "metadata": {}, "items": items})
}

/// An object of `kind` as answered: apiVersion and kind set.
pub fn object_of<T: Serialize>(kind: &str, obj: &T) -> Value {
    let mut v = serde_json::to_value(obj).unwrap_or_default();
    if v.is_object() {
        v["apiVersion"] = json!(api::auth::API_VERSION);
        v["kind"] = json!(kind);
    }
    v
}

impl Core {
    pub fn store(&self, plural: &str) -> Result<Arc<ResourceStore>, ApiError> {
        self.server
            .resource(GROUP, VERSION, plural)
            .cloned()
            .ok_or_else(|| ApiError::internal(format!("{plural} is not served")))
    }

    /// Every object of `plural` in `tenant` (as stored now), decoded.
    pub async fn all<T: DeserializeOwned>(&self, plural: &str, tenant: &str) -> Result<Vec<T>, ApiError> {
        let store = self.store(plural)?;
        let list = store.list(&system_context(), &ListOptions::default()).await?;
        let field = store.def.tenant_field.unwrap_or("spec.tenantID");
        let mut out = Vec::with_capacity(list.items.len());
        for item in &list.items {
            let Ok(v) = serde_json::from_slice::<Value>(&item.value) else { continue };
            if apimachinery::path::get_string(&v, field) != tenant {
                continue;
            }
            if let Ok(t) = serde_json::from_value(v) {
                out.push(t);
            }
        }
        Ok(out)
    }

    pub async fn policies(&self, tenant: &str) -> Result<Vec<Policy>, ApiError> {
        self.all("policies", tenant).await
    }

    pub async fn roles(&self, tenant: &str) -> Result<Vec<Role>, ApiError> {
        self.all("roles", tenant).await
    }

    pub async fn project_bindings(&self, tenant: &str) -> Result<Vec<ProjectPolicyBinding>, ApiError> {
        self.all("projectpolicybindings", tenant).await
    }

    /// Reads `name` of `plural`, lets `change` edit it and writes it back (through `/status`
    /// when `subresource` says so), again from a fresh read when another writer got there
    /// first. `change` returns whether it changed anything; nothing is written otherwise.
    /// Answers the object as stored.
    pub async fn modify<T, F>(
        &self,
        plural: &str,
        name: &str,
        subresource: Option<&str>,
        mut change: F,
    ) -> Result<Value, ApiError>
    where
        T: DeserializeOwned + Serialize,
        F: FnMut(&mut T) -> Result<bool, ApiError>,
    {
        let store = self.store(plural)?;
        let ctx = system_context();
        let mut last = None;
        for _ in 0..CONFLICT_RETRIES {
            let current = store.get(&ctx, name, None).await?;
            let mut typed: T = decode(&current)?;
            if !change(&mut typed)? {
                return Ok(current);
            }
            let mut obj = serde_json::to_value(&typed).map_err(|e| ApiError::internal(e.to_string()))?;
            // The version read: a concurrent write makes this one fail with a conflict.
            if let Some(rv) = current.pointer("/metadata/resourceVersion") {
                obj["metadata"]["resourceVersion"] = rv.clone();
            }
            match store.update(&ctx, name, subresource, obj, &write_options()).await {
                Ok(w) => return Ok(w.object),
                Err(e) if e.code() == 409 => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| ApiError::internal("the write kept conflicting")))
    }

    /// The tenant's IdentityProvider.
    pub fn idp(&self, tenant: &str) -> Result<Arc<IdentityProvider>, ApiError> {
        self.people.idps.get(tenant).ok_or_else(|| ApiError::not_found(GROUP, "identityproviders", tenant))
    }

    /// Whether `user` administers `tenant`: a platform administrator, or one of the tenant
    /// IdentityProvider's `administrators` (and of that tenant).
    pub fn administers(&self, user: &UserInfo, tenant: &str) -> bool {
        user.is_admin()
            || (user.tenant() == tenant
                && self.people.idps.get(tenant).is_some_and(|idp| idp.is_administrator(&user.name)))
    }

    /// The users of a binding request, checked to be people of `tenant` and completed (a
    /// local user named by id gets its username, one named by username its id). Refuses
    /// subjects of other tenants or that do not exist, with the field path of each.
    pub async fn resolve_users(
        &self,
        tenant: &str,
        field: &str,
        given: &[Subject],
    ) -> Result<Vec<Subject>, FieldErrors> {
        let idp = self.idp(tenant).map_err(FieldErrors::Api)?;
        let mut out = Vec::with_capacity(given.len());
        let mut errs = vec![];
        for (i, s) in given.iter().enumerate() {
            let path = format!("{field}[{i}]");
            if s.id.trim().is_empty() && s.name.trim().is_empty() {
                errs.push(FieldError::required(format!("{path}.id"), "a user needs an id or a name"));
                continue;
            }
            match idp.spec.type_.as_str() {
                types::TKE => {
                    let found = self.people.users.find(|u| {
                        u.tenant() == tenant
                            && ((!s.id.is_empty() && u.name() == s.id)
                                || (s.id.is_empty() && u.spec.username == s.name))
                    });
                    match found {
                        Some(u) => out.push(Subject::new(u.name(), &u.spec.username)),
                        None => errs.push(FieldError::invalid(
                            path,
                            s.key(),
                            format!("no user {:?} in tenant {tenant}", s.key()),
                        )),
                    }
                }
                types::LDAP => {
                    let dir = self
                        .people
                        .directory(&idp)
                        .map_err(|e| FieldErrors::Api(ApiError::unavailable(e.to_string())))?;
                    let username = if s.name.is_empty() { &s.id } else { &s.name };
                    match dir.find_user(username).await {
                        Ok(Some(u)) => out.push(Subject::new(&u.id, &u.username)),
                        Ok(None) => errs.push(FieldError::invalid(
                            path,
                            username,
                            format!("no user {username:?} in the directory of tenant {tenant}"),
                        )),
                        Err(e) => return Err(FieldErrors::Api(ApiError::unavailable(e.to_string()))),
                    }
                }
                // An upstream provider cannot be asked who exists: its users are taken as named.
                _ => out.push(Subject::new(
                    if s.id.is_empty() { &s.name } else { &s.id },
                    if s.name.is_empty() { &s.id } else { &s.name },
                )),
            }
        }
        if errs.is_empty() {
            api::auth::common::dedup_subjects(&mut out);
            Ok(out)
        } else {
            Err(FieldErrors::Fields(errs))
        }
    }

    /// The groups of a binding request, checked like [`Core::resolve_users`].
    pub async fn resolve_groups(
        &self,
        tenant: &str,
        field: &str,
        given: &[Subject],
    ) -> Result<Vec<Subject>, FieldErrors> {
        let idp = self.idp(tenant).map_err(FieldErrors::Api)?;
        let mut out = Vec::with_capacity(given.len());
        let mut errs = vec![];
        for (i, s) in given.iter().enumerate() {
            let path = format!("{field}[{i}]");
            if s.id.trim().is_empty() && s.name.trim().is_empty() {
                errs.push(FieldError::required(format!("{path}.id"), "a group needs an id or a name"));
                continue;
            }
            match idp.spec.type_.as_str() {
                types::TKE => {
                    let found = self.people.groups.find(|g| {
                        g.tenant() == tenant
                            && ((!s.id.is_empty() && g.name() == s.id)
                                || (s.id.is_empty() && g.spec.display_name == s.name))
                    });
                    match found {
                        Some(g) => out.push(Subject::new(g.name(), &g.spec.display_name)),
                        None => errs.push(FieldError::invalid(
                            path,
                            s.key(),
                            format!("no group {:?} in tenant {tenant}", s.key()),
                        )),
                    }
                }
                types::LDAP => {
                    let dir = self
                        .people
                        .directory(&idp)
                        .map_err(|e| FieldErrors::Api(ApiError::unavailable(e.to_string())))?;
                    let name = s.key();
                    let found = dir
                        .search_groups(name, 50)
                        .await
                        .map_err(|e| FieldErrors::Api(ApiError::unavailable(e.to_string())))?
                        .into_iter()
                        .find(|g| g.name == name);
                    match found {
                        Some(g) => out.push(Subject::new(&g.name, &g.name)),
                        None => errs.push(FieldError::invalid(
                            path,
                            name,
                            format!("no group {name:?} in the directory of tenant {tenant}"),
                        )),
                    }
                }
                _ => out.push(Subject::new(s.key(), if s.name.is_empty() { &s.id } else { &s.name })),
            }
        }
        if errs.is_empty() {
            api::auth::common::dedup_subjects(&mut out);
            Ok(out)
        } else {
            Err(FieldErrors::Fields(errs))
        }
    }
}

/// Why subjects were refused: field errors (an `Invalid` answer once the kind is known), or
/// the tenant's directory could not be asked.
pub enum FieldErrors {
    Fields(Vec<FieldError>),
    Api(ApiError),
}

impl FieldErrors {
    /// The error to answer, as an `Invalid` of `kind` `name`.
    pub fn into_api(self, kind: &str, name: &str) -> ApiError {
        match self {
            FieldErrors::Fields(f) => ApiError::invalid(GROUP, kind, name, f),
            FieldErrors::Api(e) => e,
        }
    }
}

/// Whether a subject stands for the user with object id `id` and username `name`.
pub fn is_user(s: &Subject, id: &str, name: &str) -> bool {
    (!s.id.is_empty() && s.id == id) || (s.id.is_empty() && !s.name.is_empty() && s.name == name)
}

/// Whether a subject stands for the group `id` (display name `name`).
pub fn is_group(s: &Subject, id: &str, name: &str) -> bool {
    (!s.id.is_empty() && s.id == id) || (s.id.is_empty() && !s.name.is_empty() && s.name == name)
}

/// Whether two subjects name the same user or group: the same id, or the same name where one
/// of them has no id.
pub fn same_subject(a: &Subject, b: &Subject) -> bool {
    (!a.id.is_empty() && a.id == b.id)
        || (!a.name.is_empty() && a.name == b.name && (a.id.is_empty() || b.id.is_empty()))
}

/// Adds `add` to `to` (those not there yet); returns whether anything was added.
pub fn add_subjects(to: &mut Vec<Subject>, add: &[Subject]) -> bool {
    let mut changed = false;
    for s in add {
        if !to.iter().any(|t| same_subject(t, s)) {
            to.push(s.clone());
            changed = true;
        }
    }
    changed
}

/// Removes `remove` from `from` (by id, or by name for subjects without one); returns whether
/// anything was removed.
pub fn remove_subjects(from: &mut Vec<Subject>, remove: &[Subject]) -> bool {
    let before = from.len();
    from.retain(|t| !remove.iter().any(|s| same_subject(t, s)));
    from.len() != before
}

/// The policies answered: without nothing secret, as a PolicyList.
pub fn policy_list(mut policies: Vec<Policy>) -> Value {
    policies.sort_by(|a, b| a.name().cmp(b.name()));
    list_of(api::auth::policy::KIND, policies.iter().map(|p| serde_json::to_value(p).unwrap_or_default()).collect())
}

pub fn role_list(mut roles: Vec<Role>) -> Value {
    roles.sort_by(|a, b| a.name().cmp(b.name()));
    list_of(api::auth::role::KIND, roles.iter().map(|r| serde_json::to_value(r).unwrap_or_default()).collect())
}

/// A local user as answered: the password hash removed.
pub fn redacted_user(user: &LocalIdentity) -> Value {
    let mut v = serde_json::to_value(user).unwrap_or_default();
    if let Some(spec) = v.get_mut("spec").and_then(Value::as_object_mut) {
        spec.remove("hashedPassword");
    }
    v
}

/// The LocalGroups of a tenant whose members include the user `id`.
pub fn groups_of_user(people: &People, tenant: &str, id: &str) -> Vec<Arc<LocalGroup>> {
    let mut groups = people.groups.filter(|g| g.tenant() == tenant && g.members().iter().any(|m| m.id == id));
    groups.sort_by(|a, b| a.name().cmp(b.name()));
    groups
}

/// The project a request is about: the `X-TKE-ProjectName` header, else the project the
/// caller is confined to (a `project:` group).
pub fn project_of(call: &Call) -> Option<String> {
    let header = header_str(&call.headers, crate::authz::attributes::PROJECT_HEADER);
    if !header.is_empty() {
        return Some(header);
    }
    call.user.groups.iter().find_map(|g| g.strip_prefix("project:")).filter(|p| !p.is_empty()).map(str::to_string)
}

/// A 400 for a body that names nothing to do.
pub fn nothing_to_do(what: &str) -> ApiError {
    ApiError::bad_request(format!("the request names no {what}"))
}

#[cfg(test)]
mod tests {
    use api::auth::Subject;
    use serde_json::json;

    use super::*;

    #[test]
    fn subjects_match_by_id_or_by_name_without_id() {
        assert!(is_user(&Subject::new("usr-1", "alice"), "usr-1", "other"));
        assert!(is_user(&Subject::new("", "alice"), "usr-1", "alice"));
        assert!(!is_user(&Subject::new("usr-2", "alice"), "usr-1", "alice"), "an id decides");
        assert!(!is_user(&Subject::new("", ""), "", ""));

        let mut list = vec![Subject::new("usr-1", "alice")];
        assert!(!add_subjects(&mut list, &[Subject::new("usr-1", "alice")]));
        assert!(!add_subjects(&mut list, &[Subject::new("", "alice")]), "named without id: the same user");
        assert!(add_subjects(&mut list, &[Subject::new("usr-2", "bob"), Subject::new("usr-2", "bob")]));
        assert_eq!(list.len(), 2);
        assert!(remove_subjects(&mut list, &[Subject::new("", "alice")]));
        assert_eq!(list, vec![Subject::new("usr-2", "bob")]);
        assert!(!remove_subjects(&mut list, &[Subject::new("usr-9", "bob")]), "another id is another user");
        assert!(!remove_subjects(&mut list, &[Subject::new("usr-9", "")]));
    }

    #[test]
    fn objects_on_their_way_out_take_no_bindings() {
        let active = json!({"metadata": {"name": "pol-a"}, "status": {"phase": "Active"}});
        assert!(being_deleted("policies", "pol-a", &active).is_none());
        for gone in [
            json!({"metadata": {"name": "pol-a", "deletionTimestamp": "2026-01-01T00:00:00Z"}}),
            json!({"metadata": {"name": "pol-a"}, "status": {"phase": "Terminating"}}),
            json!({"metadata": {"name": "usr-a"}, "status": {"phase": "Deleting"}}),
        ] {
            let e = being_deleted("policies", "pol-a", &gone).expect("refused");
            assert_eq!(e.code(), 409, "{gone}");
        }
    }

    #[test]
    fn lists_carry_their_kinds() {
        let l = list_of("User", vec![json!({"metadata": {"name": "a"}})]);
        assert_eq!((l["kind"].as_str(), l["items"][0]["kind"].as_str()), (Some("UserList"), Some("User")));
        assert_eq!(l["apiVersion"], "auth.tkestack.io/v1");
    }
}
