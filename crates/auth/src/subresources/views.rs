//! `users` and `groups` (kinds User and Group, reference 1.3): read-only views of the people
//! of the caller's tenant, whatever keeps them — the tenant's LocalIdentity and LocalGroup
//! objects (`tke` tenants) or its LDAP directory (`ldap` tenants, searched at each request).
//! Tenants of type `oidc` have no listing: their upstream provider does not say who exists.
//!
//! How they are served: the resources are declared to the API server (discovery, OpenAPI,
//! `kubectl explain`, authorization by resource) with only `get` and `list` and a strategy that
//! refuses writes, but nothing of them is stored; the auth component answers their paths itself
//! with routes inside authentication and authorization (the generic machinery has no hook for
//! objects computed per caller: its static catalogues are the same for everyone).
//!
//! - `GET users` / `groups`: the tenant's people; `?keyword=` (or the field selector
//!   `keyword=`) keeps those whose login name, display name or e-mail contains it, `?limit=`
//!   caps the answer; platform administrators pick another tenant with the field selector
//!   `spec.tenantID=`. `kubectl get users` gets a Table.
//! - `GET users/{name}`: by object name (a local user's `usr-…`) or login name.
//! - `GET users/{name}/projects` (ProjectBelongs: the projects the user is bound in, and those
//!   they own), `users/{name}/policies`, `users/{name}/roles`, `groups/{name}/policies`,
//!   `groups/{name}/roles`.

use std::{collections::BTreeMap, sync::Arc};

use api::auth::{GROUP, LocalGroup, LocalIdentity, Subject, VERSION, common::ObjectMeta, identity_provider::types};
use apimachinery::{ApiError, selector::FieldSelector};
use apiserver::{
    Column, Context, Mount, ResourceDef, Subresources, TypedStrategy, UserInfo, Verbs,
    http::{error_response, parse_query},
    resource::schema_of,
    table::{IncludeObject, table},
    typed,
};
use axum::{
    Router,
    body::Body,
    extract::{Request, State},
    http::{Method, Response, StatusCode, header},
    routing::any,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Call, Core, list_of};
use crate::people::People;

pub const USER_KIND: &str = "User";
pub const GROUP_KIND: &str = "Group";
/// The most people one listing answers.
const MAX_LIMIT: usize = 1000;

/// A person of a tenant, as its identity provider knows them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct User {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The name is the user's id: a local user's object name, a directory's login name.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    #[schemars(with = "ObjectMeta")]
    pub metadata: Value,
    #[serde(default)]
    pub spec: UserSpec,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserSpec {
    /// Stable id (the LocalIdentity's name, or the directory's id attribute).
    #[serde(default)]
    pub id: String,
    /// The login name.
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub display_name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub email: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub phone_number: String,
    #[serde(rename = "tenantID", default)]
    pub tenant_id: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, String>,
}

/// A group of a tenant, as its identity provider knows it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The name is the group's id: a local group's object name, a directory group's name.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    #[schemars(with = "ObjectMeta")]
    pub metadata: Value,
    #[serde(default)]
    pub spec: GroupSpec,
    #[serde(default)]
    pub status: GroupStatus,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GroupSpec {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(rename = "tenantID", default)]
    pub tenant_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GroupStatus {
    /// The members.
    #[serde(default)]
    pub users: Vec<Subject>,
}

/// The answer of `users/{name}/projects` (TKEStack's ProjectBelongs, its spelling kept).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProjectBelongs {
    #[serde(rename = "tenantID")]
    pub tenant_id: String,
    /// Projects the user owns: project -> the policies held there.
    pub managed_projects: BTreeMap<String, Vec<String>>,
    /// Projects the user is bound in: project -> the policies held there.
    pub memberd_projects: BTreeMap<String, Vec<String>>,
}

/// Refuses every write: the views are computed, never stored.
pub struct ReadOnly;

fn refused(what: &str) -> ApiError {
    ApiError::method_not_allowed(format!(
        "{what} are a read-only view of the tenant's identity provider: manage LocalIdentity and LocalGroup objects (or the directory) instead"
    ))
}

impl TypedStrategy<User> for ReadOnly {
    fn prepare_for_create(&self, _ctx: &Context, _obj: &mut User) -> Result<(), ApiError> {
        Err(refused("users"))
    }
    fn prepare_for_update(&self, _ctx: &Context, _new: &mut User, _old: &User) -> Result<(), ApiError> {
        Err(refused("users"))
    }
}

impl TypedStrategy<Group> for ReadOnly {
    fn prepare_for_create(&self, _ctx: &Context, _obj: &mut Group) -> Result<(), ApiError> {
        Err(refused("groups"))
    }
    fn prepare_for_update(&self, _ctx: &Context, _new: &mut Group, _old: &Group) -> Result<(), ApiError> {
        Err(refused("groups"))
    }
}

fn member_count(obj: &Value) -> Value {
    json!(obj.pointer("/status/users").and_then(Value::as_array).map_or(0, Vec::len))
}

pub fn user_definition() -> ResourceDef {
    ResourceDef {
        group: GROUP,
        version: VERSION,
        kind: USER_KIND,
        plural: "users",
        singular: "user",
        short_names: &[],
        categories: &["tkestack"],
        namespaced: false,
        verbs: Verbs::READ_ONLY,
        subresources: Subresources::default(),
        columns: vec![
            Column::new("Username", "string", ".spec.name", "The login name."),
            Column::new("Display Name", "string", ".spec.displayName", "The name shown in the console."),
            Column::new("Email", "string", ".spec.email", "The e-mail address."),
            Column::new("Tenant", "string", ".spec.tenantID", "The tenant of the user.").wide(),
        ],
        field_selectors: &["keyword", "spec.tenantID", "spec.name", "spec.displayName", "spec.email"],
        tenant_field: Some("spec.tenantID"),
        static_objects: None,
        schema: schema_of::<User>,
        strategy: typed::<User, _>(ReadOnly),
    }
}

pub fn group_definition() -> ResourceDef {
    ResourceDef {
        group: GROUP,
        version: VERSION,
        kind: GROUP_KIND,
        plural: "groups",
        singular: "group",
        short_names: &[],
        categories: &["tkestack"],
        namespaced: false,
        verbs: Verbs::READ_ONLY,
        subresources: Subresources::default(),
        columns: vec![
            Column::new("Display Name", "string", ".spec.displayName", "The group's name."),
            Column::computed("Members", "integer", member_count, "Number of members."),
            Column::new("Tenant", "string", ".spec.tenantID", "The tenant of the group.").wide(),
        ],
        field_selectors: &["keyword", "spec.tenantID", "spec.displayName"],
        tenant_field: Some("spec.tenantID"),
        static_objects: None,
        schema: schema_of::<Group>,
        strategy: typed::<Group, _>(ReadOnly),
    }
}

fn meta(name: &str, from: Option<&Value>) -> Value {
    let mut m = json!({"name": name});
    if let Some(ts) = from.and_then(|f| f.get("creationTimestamp")) {
        m["creationTimestamp"] = ts.clone();
    }
    m
}

/// The view of a local user (never its password).
pub fn user_of_local(u: &LocalIdentity) -> User {
    User {
        api_version: Some(api::auth::API_VERSION.into()),
        kind: Some(USER_KIND.into()),
        metadata: meta(u.name(), Some(&u.metadata)),
        spec: UserSpec {
            id: u.name().to_string(),
            name: u.spec.username.clone(),
            display_name: u.spec.display_name.clone(),
            email: u.spec.email.clone(),
            phone_number: u.spec.phone_number.clone(),
            tenant_id: u.tenant().to_string(),
            extra: u.spec.extra.clone(),
        },
    }
}

fn user_of_directory(tenant: &str, u: &crate::ldap::User) -> User {
    User {
        api_version: Some(api::auth::API_VERSION.into()),
        kind: Some(USER_KIND.into()),
        metadata: meta(&u.username, None),
        spec: UserSpec {
            id: u.id.clone(),
            name: u.username.clone(),
            display_name: u.display_name.clone(),
            email: u.email.clone(),
            tenant_id: tenant.to_string(),
            ..Default::default()
        },
    }
}

/// The view of a bound user: the local user it names, else what the binding says.
pub fn user_of_subject(people: &People, tenant: &str, s: &Subject) -> User {
    let local = people.users.find(|u| u.tenant() == tenant && super::is_user(s, u.name(), &u.spec.username));
    match local {
        Some(u) => user_of_local(&u),
        None => User {
            api_version: Some(api::auth::API_VERSION.into()),
            kind: Some(USER_KIND.into()),
            metadata: meta(if s.name.is_empty() { &s.id } else { &s.name }, None),
            spec: UserSpec {
                id: s.id.clone(),
                name: s.name.clone(),
                tenant_id: tenant.to_string(),
                ..Default::default()
            },
        },
    }
}

/// The view of a local group.
pub fn group_of_local(g: &LocalGroup) -> Group {
    Group {
        api_version: Some(api::auth::API_VERSION.into()),
        kind: Some(GROUP_KIND.into()),
        metadata: meta(g.name(), Some(&g.metadata)),
        spec: GroupSpec {
            id: g.name().to_string(),
            display_name: g.spec.display_name.clone(),
            tenant_id: g.tenant().to_string(),
            description: g.spec.description.clone(),
            extra: g.spec.extra.clone(),
        },
        status: GroupStatus { users: g.members().to_vec() },
    }
}

fn group_of_directory(tenant: &str, g: &crate::ldap::Group) -> Group {
    Group {
        api_version: Some(api::auth::API_VERSION.into()),
        kind: Some(GROUP_KIND.into()),
        metadata: meta(&g.name, None),
        spec: GroupSpec {
            id: g.name.clone(),
            display_name: g.name.clone(),
            tenant_id: tenant.to_string(),
            description: g.description.clone(),
            extra: BTreeMap::new(),
        },
        status: GroupStatus { users: g.members.iter().map(|m| Subject::new(m, m)).collect() },
    }
}

/// The view of a bound group.
pub fn group_of_subject(people: &People, tenant: &str, s: &Subject) -> Group {
    let local = people.groups.find(|g| g.tenant() == tenant && super::is_group(s, g.name(), &g.spec.display_name));
    match local {
        Some(g) => group_of_local(&g),
        None => Group {
            api_version: Some(api::auth::API_VERSION.into()),
            kind: Some(GROUP_KIND.into()),
            metadata: meta(s.key(), None),
            spec: GroupSpec {
                id: s.key().to_string(),
                display_name: s.name.clone(),
                tenant_id: tenant.to_string(),
                ..Default::default()
            },
            status: GroupStatus::default(),
        },
    }
}

/// Adds the views' routes, inside authentication, in front of the API.
pub fn mount(core: Arc<Core>, mount: &mut Mount) {
    let previous = mount.around_api.take();
    mount.around_api = Some(Box::new(move |api: Router| {
        let api = match previous {
            Some(f) => f(api),
            None => api,
        };
        let base = format!("/apis/{GROUP}/{VERSION}");
        Router::new()
            .route(&format!("{base}/users"), any(serve))
            .route(&format!("{base}/users/{{*rest}}"), any(serve))
            .route(&format!("{base}/groups"), any(serve))
            .route(&format!("{base}/groups/{{*rest}}"), any(serve))
            .with_state(core)
            .merge(api)
    }));
}

/// What a listing asks for.
struct Query {
    tenant: String,
    keyword: String,
    limit: usize,
    selector: FieldSelector,
}

impl Query {
    fn parse(user: &UserInfo, query: &std::collections::HashMap<String, String>) -> Result<Query, ApiError> {
        let selector = FieldSelector::parse(query.get("fieldSelector").map(String::as_str).unwrap_or(""))?;
        let mut tenant = user.tenant();
        if let Some(t) = selector.required_value("spec.tenantID").or(query.get("tenantID").map(String::as_str))
            && t != tenant
        {
            if !user.is_admin() {
                return Err(ApiError::forbidden(
                    GROUP,
                    "users",
                    "",
                    &format!("User {:?} may only list the people of tenant {tenant}", user.name),
                ));
            }
            tenant = t.to_string();
        }
        let keyword = selector.required_value("keyword").or(query.get("keyword").map(String::as_str)).unwrap_or("");
        let limit = match query.get("limit").filter(|l| !l.is_empty()) {
            None => MAX_LIMIT,
            Some(l) => match l.parse::<usize>() {
                Ok(0) => MAX_LIMIT,
                Ok(n) => n.min(MAX_LIMIT),
                Err(_) => return Err(ApiError::bad_request(format!("limit must be a number, got {l:?}"))),
            },
        };
        Ok(Query { tenant, keyword: keyword.to_string(), limit, selector })
    }

    /// Whether an object's fields satisfy the selector (besides `keyword` and the tenant, used
    /// to search).
    fn selects(&self, obj: &Value) -> bool {
        self.selector.matches(|f| match f {
            "keyword" | "spec.tenantID" => self.selector.required_value(f).unwrap_or_default().to_string(),
            other => apimachinery::path::get_string(obj, other),
        })
    }
}

fn contains(haystack: &str, needle: &str) -> bool {
    haystack.to_lowercase().contains(&needle.to_lowercase())
}

impl Core {
    /// The people of a tenant matching `keyword`, at most `limit`, by name.
    pub async fn list_users(&self, tenant: &str, keyword: &str, limit: usize) -> Result<Vec<User>, ApiError> {
        let idp = self.idp(tenant)?;
        let mut users: Vec<User> = match idp.spec.type_.as_str() {
            types::TKE => self
                .people
                .users
                .filter(|u| {
                    u.tenant() == tenant
                        && (keyword.is_empty()
                            || u.name() == keyword
                            || contains(&u.spec.username, keyword)
                            || contains(&u.spec.display_name, keyword)
                            || contains(&u.spec.email, keyword))
                })
                .iter()
                .map(|u| user_of_local(u))
                .collect(),
            types::LDAP => {
                let dir = self.people.directory(&idp).map_err(|e| ApiError::unavailable(e.to_string()))?;
                dir.search_users(keyword, i32::try_from(limit).unwrap_or(i32::MAX))
                    .await
                    .map_err(|e| ApiError::unavailable(e.to_string()))?
                    .iter()
                    .map(|u| user_of_directory(tenant, u))
                    .collect()
            }
            other => return Err(no_listing(tenant, other)),
        };
        users.sort_by(|a: &User, b: &User| a.spec.name.cmp(&b.spec.name));
        users.truncate(limit);
        Ok(users)
    }

    /// One person of a tenant, by id or login name.
    pub async fn get_user(&self, tenant: &str, name: &str) -> Result<User, ApiError> {
        let idp = self.idp(tenant)?;
        let found = match idp.spec.type_.as_str() {
            types::TKE => self
                .people
                .users
                .find(|u| u.tenant() == tenant && (u.name() == name || u.spec.username == name))
                .map(|u| user_of_local(&u)),
            types::LDAP => {
                let dir = self.people.directory(&idp).map_err(|e| ApiError::unavailable(e.to_string()))?;
                dir.find_user(name)
                    .await
                    .map_err(|e| ApiError::unavailable(e.to_string()))?
                    .map(|u| user_of_directory(tenant, &u))
            }
            other => return Err(no_listing(tenant, other)),
        };
        found.ok_or_else(|| ApiError::not_found(GROUP, "users", name))
    }

    pub async fn list_groups(&self, tenant: &str, keyword: &str, limit: usize) -> Result<Vec<Group>, ApiError> {
        let idp = self.idp(tenant)?;
        let mut groups: Vec<Group> = match idp.spec.type_.as_str() {
            types::TKE => self
                .people
                .groups
                .filter(|g| {
                    g.tenant() == tenant
                        && (keyword.is_empty() || g.name() == keyword || contains(&g.spec.display_name, keyword))
                })
                .iter()
                .map(|g| group_of_local(g))
                .collect(),
            types::LDAP => {
                let dir = self.people.directory(&idp).map_err(|e| ApiError::unavailable(e.to_string()))?;
                dir.search_groups(keyword, i32::try_from(limit).unwrap_or(i32::MAX))
                    .await
                    .map_err(|e| ApiError::unavailable(e.to_string()))?
                    .iter()
                    .map(|g| group_of_directory(tenant, g))
                    .collect()
            }
            other => return Err(no_listing(tenant, other)),
        };
        groups.sort_by(|a: &Group, b: &Group| a.spec.id.cmp(&b.spec.id));
        groups.truncate(limit);
        Ok(groups)
    }

    pub async fn get_group(&self, tenant: &str, name: &str) -> Result<Group, ApiError> {
        let idp = self.idp(tenant)?;
        let found = match idp.spec.type_.as_str() {
            types::TKE => self
                .people
                .groups
                .find(|g| g.tenant() == tenant && (g.name() == name || g.spec.display_name == name))
                .map(|g| group_of_local(&g)),
            types::LDAP => {
                let dir = self.people.directory(&idp).map_err(|e| ApiError::unavailable(e.to_string()))?;
                dir.search_groups(name, MAX_LIMIT as i32)
                    .await
                    .map_err(|e| ApiError::unavailable(e.to_string()))?
                    .iter()
                    .find(|g| g.name == name)
                    .map(|g| group_of_directory(tenant, g))
            }
            other => return Err(no_listing(tenant, other)),
        };
        found.ok_or_else(|| ApiError::not_found(GROUP, "groups", name))
    }
}

fn no_listing(tenant: &str, kind: &str) -> ApiError {
    ApiError::new(
        apimachinery::error::Reason::MethodNotAllowed,
        format!("tenant {tenant} is of type {kind}: its people live at its upstream provider, which cannot be listed"),
    )
}

/// `users/{name}/{sub}` and `groups/{name}/{sub}`.
pub async fn serve_sub(core: &Core, plural: &str, sub: &str, call: &Call) -> Result<Value, ApiError> {
    let query = parse_query(call.query.as_deref());
    let tenant = Query::parse(&call.user, &query)?.tenant;
    match (plural, sub) {
        ("users", "projects") => {
            let user = core.get_user(&tenant, &call.name).await?;
            let owner = format!("pol-{tenant}-project-owner");
            let mut belongs = ProjectBelongs { tenant_id: tenant.clone(), ..Default::default() };
            for b in core.project_bindings(&tenant).await? {
                if !b.spec.users.iter().any(|s| super::is_user(s, &user.spec.id, &user.spec.name)) {
                    continue;
                }
                let project = b.spec.project_id.clone();
                if b.spec.policy_id == owner {
                    belongs.managed_projects.entry(project.clone()).or_default().push(b.spec.policy_id.clone());
                }
                belongs.memberd_projects.entry(project).or_default().push(b.spec.policy_id.clone());
            }
            let mut v = serde_json::to_value(&belongs).unwrap_or_default();
            v["apiVersion"] = json!(api::auth::API_VERSION);
            v["kind"] = json!("ProjectBelongs");
            Ok(v)
        }
        ("users", "policies") => {
            let user = core.get_user(&tenant, &call.name).await?;
            Ok(super::policy_list(
                super::identity::policies_of_user(core, &tenant, &user.spec.id, &user.spec.name).await?,
            ))
        }
        ("users", "roles") => {
            let user = core.get_user(&tenant, &call.name).await?;
            Ok(super::role_list(super::identity::roles_of_user(core, &tenant, &user.spec.id, &user.spec.name).await?))
        }
        ("groups", "policies") => {
            let group = core.get_group(&tenant, &call.name).await?;
            Ok(super::policy_list(
                super::groups::policies_of_group(core, &tenant, &group.spec.id, &group.spec.display_name).await?,
            ))
        }
        ("groups", "roles") => {
            let group = core.get_group(&tenant, &call.name).await?;
            Ok(super::role_list(
                super::groups::roles_of_group(core, &tenant, &group.spec.id, &group.spec.display_name).await?,
            ))
        }
        _ => Err(ApiError::not_found(GROUP, &format!("{plural}/{sub}"), &call.name)),
    }
}

fn wants_table(accept: &str) -> bool {
    accept.split(',').next().is_some_and(|first| first.contains("as=Table"))
}

/// The views' routes.
async fn serve(State(core): State<Arc<Core>>, req: Request) -> Response<Body> {
    let user = req.extensions().get::<UserInfo>().cloned().unwrap_or_default();
    let path = req.uri().path().to_string();
    let rest = path.strip_prefix(&format!("/apis/{GROUP}/{VERSION}/")).unwrap_or_default();
    let segments: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
    let accept = req.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let query = parse_query(req.uri().query());
    let plural = segments.first().copied().unwrap_or_default().to_string();
    if req.method() != Method::GET {
        super::drain(req.into_body()).await;
        return error_response(&refused(&plural));
    }
    let plural = plural.as_str();
    if query.get("watch").is_some_and(|w| apiserver::http::parse_bool(w) == Some(true)) {
        return error_response(&ApiError::method_not_allowed(format!(
            "{plural} cannot be watched: they are computed at each request"
        )));
    }
    let result = match segments.as_slice() {
        [plural] => list(&core, plural, &user, &query, &accept).await,
        [plural, name] if !name.is_empty() => get(&core, plural, name, &user, &query, &accept).await,
        [plural, name, sub] if !name.is_empty() => {
            let call = Call {
                user: user.clone(),
                name: name.to_string(),
                method: Method::GET,
                accept: accept.clone(),
                headers: req.headers().clone(),
                query: req.uri().query().map(str::to_string),
            };
            serve_sub(&core, plural, sub, &call).await
        }
        _ => Err(ApiError::not_found(GROUP, plural, rest)),
    };
    match result {
        Ok(v) => apiserver::http::respond(&accept, StatusCode::OK, &v),
        Err(e) => error_response(&e),
    }
}

async fn list(
    core: &Core,
    plural: &str,
    user: &UserInfo,
    query: &std::collections::HashMap<String, String>,
    accept: &str,
) -> Result<Value, ApiError> {
    let q = Query::parse(user, query)?;
    let def = if plural == "users" { user_definition() } else { group_definition() };
    for f in q.selector.fields() {
        if f != "metadata.name" && !def.field_selectors.contains(&f) {
            return Err(ApiError::bad_request(format!(
                "field label not supported: {f} (supported: metadata.name, {})",
                def.field_selectors.join(", ")
            )));
        }
    }
    let items: Vec<Value> = if plural == "users" {
        core.list_users(&q.tenant, &q.keyword, q.limit)
            .await?
            .iter()
            .map(|u| serde_json::to_value(u).unwrap_or_default())
            .collect()
    } else {
        core.list_groups(&q.tenant, &q.keyword, q.limit)
            .await?
            .iter()
            .map(|g| serde_json::to_value(g).unwrap_or_default())
            .collect()
    };
    let items: Vec<Value> = items.into_iter().filter(|o| q.selects(o)).collect();
    if wants_table(accept) {
        return Ok(table(&def, &items, IncludeObject::Metadata, json!({}), true));
    }
    Ok(list_of(def.kind, items))
}

async fn get(
    core: &Core,
    plural: &str,
    name: &str,
    user: &UserInfo,
    query: &std::collections::HashMap<String, String>,
    accept: &str,
) -> Result<Value, ApiError> {
    let q = Query::parse(user, query)?;
    let (def, obj) = if plural == "users" {
        (user_definition(), serde_json::to_value(core.get_user(&q.tenant, name).await?).unwrap_or_default())
    } else {
        (group_definition(), serde_json::to_value(core.get_group(&q.tenant, name).await?).unwrap_or_default())
    };
    if wants_table(accept) {
        return Ok(table(&def, &[obj], IncludeObject::Metadata, json!({}), true));
    }
    Ok(obj)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(tenant: &str, admin: bool) -> UserInfo {
        let mut u = UserInfo { name: "alice".into(), ..Default::default() };
        u.extra.insert("tenantid".into(), vec![tenant.into()]);
        if admin {
            u.groups.push(apiserver::resource::ADMIN_GROUP.into());
        }
        u
    }

    fn q(pairs: &[(&str, &str)]) -> std::collections::HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// `kubectl explain users` reads the OpenAPI document: the kinds must be in it, in the forms
    /// the v2 document allows.
    #[test]
    fn the_views_are_described_for_kubectl_explain() {
        let docs = apiserver::openapi::build(&[user_definition(), group_definition()], "test");
        let text = String::from_utf8_lossy(docs.v2_json()).to_string();
        for bad in ["\"anyOf\"", "\"oneOf\"", "\"nullable\""] {
            assert!(!text.contains(bad), "{bad} in the v2 document");
        }
        let doc: Value = serde_json::from_str(&text).unwrap();
        let d = &doc["definitions"];
        for kind in ["User", "Group"] {
            assert!(
                d[format!("io.tkestack.auth.v1.{kind}")].is_object(),
                "{kind}: {:?}",
                d.as_object().map(|m| m.keys().collect::<Vec<_>>())
            );
        }
        assert!(text.contains("/apis/auth.tkestack.io/v1/users"), "the paths are listed");
    }

    #[test]
    fn listings_stay_in_the_callers_tenant_unless_an_administrator_asks() {
        let parsed = Query::parse(&user("t1", false), &q(&[("fieldSelector", "keyword=ali"), ("limit", "5")])).unwrap();
        assert_eq!((parsed.tenant.as_str(), parsed.keyword.as_str(), parsed.limit), ("t1", "ali", 5));
        let parsed = Query::parse(&user("t1", false), &q(&[("keyword", "bo")])).unwrap();
        assert_eq!((parsed.keyword.as_str(), parsed.limit), ("bo", MAX_LIMIT));
        let e = Query::parse(&user("t1", false), &q(&[("fieldSelector", "spec.tenantID=t2")])).err().unwrap();
        assert_eq!(e.code(), 403);
        // Naming one's own tenant is fine.
        assert!(Query::parse(&user("t1", false), &q(&[("fieldSelector", "spec.tenantID=t1")])).is_ok());
        let parsed = Query::parse(&user("default", true), &q(&[("fieldSelector", "spec.tenantID=t2")])).unwrap();
        assert_eq!(parsed.tenant, "t2");
        assert_eq!(Query::parse(&user("t1", false), &q(&[("limit", "x")])).err().unwrap().code(), 400);
        assert_eq!(Query::parse(&user("t1", false), &q(&[("limit", "99999")])).unwrap().limit, MAX_LIMIT);
    }

    #[test]
    fn selectors_match_fields_besides_the_search_terms() {
        let parsed =
            Query::parse(&user("t1", false), &q(&[("fieldSelector", "keyword=a,spec.name=alice,spec.tenantID=t1")]))
                .unwrap();
        assert!(parsed.selects(&json!({"spec": {"name": "alice", "tenantID": "t1"}})));
        assert!(!parsed.selects(&json!({"spec": {"name": "albert", "tenantID": "t1"}})));
    }

    #[test]
    fn views_never_carry_a_password_and_refuse_writes() {
        let local: LocalIdentity = serde_json::from_value(json!({
            "metadata": {"name": "usr-1", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"username": "alice", "displayName": "Alice", "hashedPassword": "$argon2id$secret", "tenantID": "t1"}
        }))
        .unwrap();
        let v = serde_json::to_value(user_of_local(&local)).unwrap();
        assert!(!v.to_string().contains("argon2"), "{v}");
        assert_eq!(v["spec"]["name"], "alice");
        assert_eq!(v["metadata"]["name"], "usr-1");
        assert_eq!(v["kind"], "User");

        let ctx = Context { user: user("t1", true), namespace: None };
        let mut u = User::default();
        assert_eq!(TypedStrategy::<User>::prepare_for_create(&ReadOnly, &ctx, &mut u).unwrap_err().code(), 405);
        let mut g = Group::default();
        assert_eq!(TypedStrategy::<Group>::prepare_for_create(&ReadOnly, &ctx, &mut g).unwrap_err().code(), 405);
        let t = table(
            &group_definition(),
            &[json!({"metadata": {"name": "g"}, "status": {"users": [{"id": "a"}]}})],
            IncludeObject::None,
            json!({}),
            true,
        );
        assert_eq!(t["rows"][0]["cells"][2], 1);
        assert!(wants_table("application/json;as=Table;v=v1;g=meta.k8s.io,application/json"));
        assert!(!wants_table("application/json"));
    }
}
