//! `GET /apis/business.tkestack.io/v1/portal`: who the caller is to the console, computed per
//! caller (nothing is stored): `administrator` (a platform administrator, or an administrator of
//! the caller's tenant by its IdentityProvider), `projects` (id → display name) and `extension`
//! (id → phase and parent).
//!
//! A caller's projects are those a ProjectPolicyBinding of their tenant binds them in, by user
//! name or through one of their groups; administrators see every project of their tenant (the
//! console's project switcher lists them all). Everything is read from in-memory indexes kept
//! by watches (projects, bindings, identity providers), so an answer costs a pass over the
//! tenant's bindings and no store access.
//!
//! Served by a route inside authentication and authorization (the API server's generic
//! machinery has no hook for objects computed per caller); `listPortal` is allowed to everyone.
//! `kubectl get portal` gets a Table.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, RwLock},
};

use api::{
    auth::{IdentityProvider, ProjectPolicyBinding, Subject},
    business::{
        GROUP, Project, VERSION,
        portal::{Portal, PortalProject},
    },
};
use apimachinery::ApiError;
use apiserver::{
    ApiServer, Column, Mount, UserInfo,
    http::{error_response, parse_query},
    table::{IncludeObject, table},
};
use auth::index::Index;
use axum::{
    Router,
    body::Body,
    extract::{Request, State},
    http::{Method, Response, StatusCode, header},
    routing::any,
};
use serde_json::{Value, json};

/// What the portal is computed from.
pub struct PortalSource {
    projects: Arc<Index<Project>>,
    bindings: Option<Arc<Index<ProjectPolicyBinding>>>,
    idps: Option<Arc<Index<IdentityProvider>>>,
    /// Who is bound where, derived from the bindings at their index's version.
    members: RwLock<(u64, Arc<Members>)>,
}

impl PortalSource {
    /// Follows the projects, and the bindings and identity providers when the auth component
    /// is served beside (without it nobody is bound anywhere, and no tenant has administrators).
    pub async fn start(server: &ApiServer) -> Result<Arc<Self>, ApiError> {
        let store = |group: &str, plural: &str| server.resource(group, "v1", plural).cloned();
        let projects = Index::start(
            store(GROUP, "projects")
                .ok_or_else(|| ApiError::internal("business.tkestack.io projects are not served"))?,
        )
        .await?;
        let bindings = match store(api::auth::GROUP, "projectpolicybindings") {
            Some(s) => Some(Index::start(s).await?),
            None => None,
        };
        let idps = match store(api::auth::GROUP, "identityproviders") {
            Some(s) => Some(Index::start(s).await?),
            None => None,
        };
        Ok(Arc::new(Self { projects, bindings, idps, members: RwLock::new((u64::MAX, Arc::new(Members::default()))) }))
    }

    /// Whether `user` administers the platform or their tenant.
    pub fn administrator(&self, user: &UserInfo) -> bool {
        user.is_admin()
            || self
                .idps
                .as_ref()
                .and_then(|i| i.get(&user.tenant()))
                .is_some_and(|idp| idp.is_administrator(&user.name))
    }

    /// The portal of `user`.
    pub fn portal_for(&self, user: &UserInfo) -> Portal {
        let tenant = user.tenant();
        let administrator = self.administrator(user);
        let mine: Vec<Arc<Project>> = if administrator {
            self.projects.filter(|p| p.tenant() == tenant)
        } else {
            let ids = self.bound_projects(user, &tenant);
            ids.iter().filter_map(|id| self.projects.get(id)).filter(|p| p.tenant() == tenant).collect()
        };
        let mut portal = Portal {
            api_version: Some(api::business::API_VERSION.into()),
            kind: Some(api::business::portal::KIND.into()),
            metadata: json!({"name": user.name}),
            administrator,
            ..Default::default()
        };
        for p in mine {
            let id = p.name().to_string();
            let display = if p.spec.display_name.is_empty() { id.clone() } else { p.spec.display_name.clone() };
            portal.projects.insert(id.clone(), display);
            portal.extension.insert(
                id,
                PortalProject { phase: p.phase().to_string(), parent: p.parent().unwrap_or_default().to_string() },
            );
        }
        portal
    }

    /// The projects ProjectPolicyBindings of `tenant` bind `user` in (themselves or a group).
    fn bound_projects(&self, user: &UserInfo, tenant: &str) -> Vec<String> {
        let Some(bindings) = &self.bindings else { return vec![] };
        let version = bindings.version();
        let members = {
            let cached = self.members.read().unwrap_or_else(|e| e.into_inner());
            (cached.0 == version).then(|| cached.1.clone())
        };
        let members = match members {
            Some(m) => m,
            None => {
                let fresh = Arc::new(Members::build(&bindings.all()));
                *self.members.write().unwrap_or_else(|e| e.into_inner()) = (version, fresh.clone());
                fresh
            }
        };
        members.projects(user, tenant)
    }
}

/// Who the live bindings bind where: (tenant, subject) → projects, for users by name and by
/// id, for groups by id (or name when they have none), as the policies' subject keys name them.
#[derive(Default)]
pub struct Members {
    users: HashMap<(String, String), HashSet<String>>,
    user_ids: HashMap<(String, String), HashSet<String>>,
    groups: HashMap<(String, String), HashSet<String>>,
}

impl Members {
    pub fn build(bindings: &[Arc<ProjectPolicyBinding>]) -> Self {
        let gone = [api::auth::common::phase::TERMINATING, api::auth::common::phase::DELETING];
        let mut m = Members::default();
        let add = |map: &mut HashMap<(String, String), HashSet<String>>, tenant: &str, key: &str, project: &str| {
            if !key.is_empty() {
                map.entry((tenant.to_string(), key.to_string())).or_default().insert(project.to_string());
            }
        };
        for b in bindings.iter().filter(|b| !gone.contains(&b.phase())) {
            let (tenant, project) = (b.tenant(), b.spec.project_id.as_str());
            for s in &b.spec.users {
                add(&mut m.users, tenant, &s.name, project);
                add(&mut m.user_ids, tenant, &s.id, project);
            }
            for s in &b.spec.groups {
                add(&mut m.groups, tenant, if s.id.is_empty() { &s.name } else { &s.id }, project);
            }
        }
        m
    }

    /// The projects `user` of `tenant` is bound in, sorted.
    pub fn projects(&self, user: &UserInfo, tenant: &str) -> Vec<String> {
        let key = |k: &str| (tenant.to_string(), k.to_string());
        let mut out: HashSet<&String> = HashSet::new();
        out.extend(self.users.get(&key(&user.name)).into_iter().flatten());
        if !user.uid.is_empty() {
            out.extend(self.user_ids.get(&key(&user.uid)).into_iter().flatten());
        }
        for g in &user.groups {
            out.extend(self.groups.get(&key(g)).into_iter().flatten());
        }
        let mut ids: Vec<String> = out.into_iter().cloned().collect();
        ids.sort();
        ids
    }
}

/// Whether binding `b` (live, of `tenant`) binds `user`, by name (the name policies know users
/// by) or id, or through one of their groups: what [`Members`] answers for many at once.
pub fn binds(b: &ProjectPolicyBinding, user: &UserInfo, tenant: &str) -> bool {
    let is_me = |s: &Subject| (!s.name.is_empty() && s.name == user.name) || (!user.uid.is_empty() && s.id == user.uid);
    let in_my_groups = |s: &Subject| {
        let key = if s.id.is_empty() { &s.name } else { &s.id };
        !key.is_empty() && user.groups.iter().any(|g| g == key)
    };
    let gone = [api::auth::common::phase::TERMINATING, api::auth::common::phase::DELETING];
    b.tenant() == tenant
        && !gone.contains(&b.phase())
        && (b.spec.users.iter().any(is_me) || b.spec.groups.iter().any(in_my_groups))
}

#[cfg(test)]
/// The projects of some bindings, sorted, once each.
fn project_ids(bindings: &[Arc<ProjectPolicyBinding>]) -> Vec<String> {
    let mut ids: Vec<String> = bindings.iter().map(|b| b.spec.project_id.clone()).collect();
    ids.sort();
    ids.dedup();
    ids
}

/// The portal's printer columns (`kubectl get portal`).
fn columns() -> Vec<Column> {
    fn names(v: &Value) -> Value {
        let list: Vec<&str> =
            v["projects"].as_object().map(|m| m.keys().map(String::as_str).collect()).unwrap_or_default();
        json!(list.join(","))
    }
    fn count(v: &Value) -> Value {
        json!(v["projects"].as_object().map_or(0, |m| m.len()))
    }
    vec![
        Column::new(
            "Administrator",
            "boolean",
            ".administrator",
            "Whether the caller administers the platform or their tenant.",
        ),
        Column::computed("Count", "integer", count, "How many projects the caller belongs to."),
        Column::computed("Projects", "string", names, "The caller's projects."),
    ]
}

/// Adds the portal's route, inside authentication, in front of the API.
pub fn mount(source: Arc<PortalSource>, mount: &mut Mount) {
    let previous = mount.around_api.take();
    mount.around_api = Some(Box::new(move |api: Router| {
        let api = match previous {
            Some(f) => f(api),
            None => api,
        };
        let path = format!("/apis/{GROUP}/{VERSION}/portal");
        Router::new()
            .route(&path, any(serve))
            .route(&format!("{path}/{{*rest}}"), any(serve))
            .with_state(source)
            .merge(api)
    }));
}

fn wants_table(accept: &str) -> bool {
    accept.split(',').next().is_some_and(|first| first.contains("as=Table"))
}

async fn serve(State(source): State<Arc<PortalSource>>, req: Request) -> Response<Body> {
    let user = req.extensions().get::<UserInfo>().cloned().unwrap_or_default();
    let accept = req.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let query = parse_query(req.uri().query());
    let rest = req.uri().path().trim_end_matches('/').rsplit_once("/portal").map(|(_, r)| r.to_string());
    if req.method() != Method::GET && req.method() != Method::HEAD {
        apiserver::auth::drain(req.into_body()).await;
        return error_response(&ApiError::method_not_allowed(
            "the portal is computed for each caller; it cannot be written",
        ));
    }
    if query.get("watch").is_some_and(|w| apiserver::http::parse_bool(w) == Some(true)) {
        return error_response(&ApiError::method_not_allowed(
            "the portal cannot be watched: it is computed at each request",
        ));
    }
    // `portal` and `portal/{anything}` (kubectl get portal NAME) are the caller's own portal.
    if rest.as_deref().is_some_and(|r| r.matches('/').count() > 1) {
        return error_response(&ApiError::not_found(GROUP, "portal", rest.as_deref().unwrap_or_default()));
    }
    let portal = serde_json::to_value(source.portal_for(&user)).unwrap_or_default();
    if wants_table(&accept) {
        let mut def = api::business::portal::definition();
        def.columns = columns();
        return apiserver::http::respond(
            &accept,
            StatusCode::OK,
            &table(&def, &[portal], IncludeObject::None, json!({}), true),
        );
    }
    apiserver::http::respond(&accept, StatusCode::OK, &portal)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    fn binding(tenant: &str, project: &str, users: &[&str], groups: &[&str]) -> Arc<ProjectPolicyBinding> {
        let subjects = |names: &[&str]| names.iter().map(|n| json!({"id": "", "name": n})).collect::<Vec<_>>();
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": format!("{project}-pol")},
                "spec": {"tenantID": tenant, "projectID": project, "policyID": "pol",
                    "users": subjects(users), "groups": subjects(groups)}
            }))
            .unwrap(),
        )
    }

    fn user(name: &str, groups: &[&str]) -> UserInfo {
        UserInfo { name: name.into(), groups: groups.iter().map(|g| g.to_string()).collect(), ..Default::default() }
    }

    #[test]
    fn members_by_name_or_group_in_their_tenant() {
        let all = [
            binding("default", "prj-a", &["alice"], &[]),
            binding("default", "prj-b", &["bob"], &["devs"]),
            binding("t2", "prj-c", &["alice"], &[]),
            binding("default", "prj-a", &["alice", "bob"], &[]),
        ];
        let members = Members::build(&all);
        let mine = |u: &UserInfo, tenant: &str| {
            let found: Vec<Arc<ProjectPolicyBinding>> = all.iter().filter(|b| binds(b, u, tenant)).cloned().collect();
            let ids = project_ids(&found);
            assert_eq!(members.projects(u, tenant), ids, "the index answers as the bindings say");
            ids
        };
        assert_eq!(mine(&user("alice", &["tenant:default"]), "default"), ["prj-a"]);
        assert_eq!(mine(&user("alice", &["tenant:default", "devs"]), "default"), ["prj-a", "prj-b"]);
        assert_eq!(mine(&user("bob", &[]), "default"), ["prj-a", "prj-b"]);
        assert_eq!(mine(&user("alice", &["tenant:t2"]), "t2"), ["prj-c"]);
        assert!(mine(&user("carol", &["tenant:default"]), "default").is_empty());
        // A binding on its way out binds nobody.
        let mut leaving = (*all[0]).clone();
        leaving.status = Some(serde_json::from_value(json!({"phase": "Terminating"})).unwrap());
        assert!(!binds(&leaving, &user("alice", &[]), "default"));
    }

    /// The figure: a member of 50 projects among 1,000, each with two bindings, gets
    /// their projects well under 10 ms at the 99th percentile (the pass the portal makes).
    #[test]
    fn finding_a_members_projects_is_fast() {
        let mut all = vec![];
        for i in 0..1000 {
            let owner = format!("owner-{i}");
            let member = if i % 20 == 0 { "alice" } else { "someone" };
            all.push(binding("default", &format!("prj-{i}"), &[&owner], &[]));
            all.push(binding("default", &format!("prj-{i}"), &[member, "x", "y"], &["g1"]));
        }
        let alice = user("alice", &["tenant:default", "g9", "g8"]);
        let members = Members::build(&all);
        let mut times = vec![];
        for _ in 0..200 {
            let start = Instant::now();
            assert_eq!(members.projects(&alice, "default").len(), 50);
            times.push(start.elapsed());
        }
        times.sort();
        let p99 = times[times.len() * 99 / 100];
        assert!(p99 < Duration::from_millis(10), "p99 {p99:?}");
    }

    #[test]
    fn the_table_shows_the_projects() {
        let mut def = api::business::portal::definition();
        def.columns = columns();
        let portal = json!({"metadata": {"name": "alice"}, "administrator": false,
            "projects": {"prj-a": "A", "prj-b": "B"}});
        let t = table(&def, &[portal], IncludeObject::None, json!({}), true);
        let cells = &t["rows"][0]["cells"];
        assert_eq!(cells[1], false);
        assert_eq!(cells[2], 2);
        assert_eq!(cells[3], "prj-a,prj-b");
        assert!(wants_table("application/json;as=Table;v=v1;g=meta.k8s.io,application/json"));
    }
}
