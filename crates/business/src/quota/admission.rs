//! The admission of business Projects and Namespaces (reference 4.2): the rules that need other
//! objects (the parent project, its clusters and what is left of its quota, the ancestry, the
//! platform's clusters) and the reservation of quota on the parent before the object is stored
//! (see [`super`] for why).

use std::{
    collections::BTreeMap,
    sync::{Arc, Weak},
    time::{Duration, Instant},
};

use api::business::{
    GROUP, Namespace, Project, VERSION,
    common::{MOVED_TO_ANNOTATION, project_phase},
    project::{ProjectStatus, Reservation, UsedQuantity},
};
use apimachinery::{
    ApiError, FieldError,
    error::Reason,
    quantity::{self, Milli, format_milli},
};
use apiserver::{
    Admission, AdmissionRequest, ApiServer, Context,
    store::{ResourceStore, WriteOptions},
};
use chrono::Utc;
use serde_json::{Value, json};

use super::{counted, namespace_ref, project_ref};

/// The field manager of the reservations written into projects' status.
pub const FIELD_MANAGER: &str = "business-quota";
/// How long an admission keeps trying to reserve on a project that many writers change at once.
const RESERVE_DEADLINE: Duration = Duration::from_secs(30);
/// Ancestors followed before the chain is declared a cycle.
const MAX_DEPTH: usize = 64;

/// Registers the admission of projects and namespaces on `server` (which serves both).
pub fn register(server: &Arc<ApiServer>) -> Result<(), ApiError> {
    let projects = server
        .resource_store(GROUP, VERSION, "projects")
        .ok_or_else(|| ApiError::internal("the business admission needs projects to be served by the same server"))?;
    let clusters = server.resource_store(api::platform::GROUP, "v1", "clusters");
    let quotas = Arc::new(Quotas {
        projects: Arc::downgrade(&projects),
        clusters: clusters.as_ref().map(Arc::downgrade),
        locks: Default::default(),
    });
    server.add_admission(GROUP, VERSION, "projects", Arc::new(ProjectAdmission(quotas.clone())))?;
    server.add_admission(GROUP, VERSION, "namespaces", Arc::new(NamespaceAdmission(quotas)))?;
    Ok(())
}

/// What the admissions share: in-process access to projects and clusters. Weak, because the
/// stores hold the admissions.
struct Quotas {
    projects: Weak<ResourceStore>,
    /// Absent when the platform component is not served by this server.
    clusters: Option<Weak<ResourceStore>>,
    /// One lock per parent project: this server's reservations on a project take turns
    /// instead of racing (each losing compare-and-swap is a read and a write wasted). The
    /// compare-and-swap still orders them with other replicas and the usage controller.
    locks: std::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// The server's own reads and writes (every tenant).
fn system() -> Context {
    Context::system("system:business-quota", None)
}

/// The child being admitted, for field paths and messages.
#[derive(Clone, Copy)]
enum Child<'a> {
    Namespace { name: &'a str },
    Project { name: &'a str },
}

impl Child<'_> {
    fn kind(&self) -> &'static str {
        match self {
            Child::Namespace { .. } => api::business::namespace::KIND,
            Child::Project { .. } => api::business::project::KIND,
        }
    }
    fn name(&self) -> &str {
        match self {
            Child::Namespace { name } | Child::Project { name } => name,
        }
    }
    fn reference(&self) -> String {
        match self {
            Child::Namespace { name } => namespace_ref(name),
            Child::Project { name } => project_ref(name),
        }
    }
    fn parent_field(&self) -> &'static str {
        match self {
            Child::Namespace { .. } => "metadata.namespace",
            Child::Project { .. } => "spec.parentProjectName",
        }
    }
    fn cluster_field(&self, cluster: &str) -> String {
        match self {
            Child::Namespace { .. } => "spec.clusterName".into(),
            Child::Project { .. } => format!("spec.clusters[{cluster}]"),
        }
    }
    fn hard_field(&self, cluster: &str, key: &str) -> String {
        match self {
            Child::Namespace { .. } => format!("spec.hard[{key}]"),
            Child::Project { .. } => format!("spec.clusters[{cluster}].hard[{key}]"),
        }
    }
    fn invalid(&self, causes: Vec<FieldError>) -> ApiError {
        ApiError::invalid(GROUP, self.kind(), self.name(), causes)
    }
}

fn decode<T: serde::de::DeserializeOwned>(v: &Value) -> Result<T, ApiError> {
    serde_json::from_value(v.clone()).map_err(|e| ApiError::internal(format!("decoding the object failed: {e}")))
}

fn deleting(obj: &Value) -> bool {
    obj["metadata"]["deletionTimestamp"].as_str().is_some_and(|s| !s.is_empty())
}

impl Quotas {
    fn lock(&self, project: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.locks.lock().unwrap_or_else(|e| e.into_inner()).entry(project.to_string()).or_default().clone()
    }

    fn projects(&self) -> Result<Arc<ResourceStore>, ApiError> {
        self.projects.upgrade().ok_or_else(|| ApiError::unavailable("the server is shutting down"))
    }

    /// The project as stored now (not from the cache), with its resourceVersion.
    async fn project(&self, name: &str) -> Result<Option<(Project, Value)>, ApiError> {
        match self.projects()?.get(&system(), name, None).await {
            Ok(raw) => Ok(Some((decode(&raw)?, raw))),
            Err(e) if e.reason == Reason::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A refusal when `cluster` is not a platform Cluster of `tenant`.
    async fn check_cluster(&self, cluster: &str, tenant: &str, field: String) -> Result<Option<FieldError>, ApiError> {
        let Some(clusters) = self.clusters.as_ref().and_then(Weak::upgrade) else {
            return Ok(None);
        };
        let missing = || {
            Some(FieldError::invalid(
                field.clone(),
                cluster,
                format!("cluster {cluster} does not exist in tenant {tenant}: name a cluster of the platform"),
            ))
        };
        match clusters.get(&system(), cluster, None).await {
            Ok(c) if c["spec"]["tenantID"].as_str().unwrap_or("") == tenant => Ok(None),
            Ok(_) => Ok(missing()),
            Err(e) if e.reason == Reason::NotFound => Ok(missing()),
            Err(e) => Err(e),
        }
    }

    /// Reserves quota for `child` in project `parent`: `asks` is its quota per cluster, and
    /// `stored` what it already takes there as stored (an update; empty for a new child). Only
    /// what grows is reserved; the parent's state and quota are checked on the version of it
    /// that the reservation is written to, and the write is retried when another one won.
    async fn reserve(
        &self,
        child: Child<'_>,
        tenant: &str,
        parent: &str,
        asks: &BTreeMap<String, Milli>,
        stored: &BTreeMap<String, Milli>,
        dry_run: bool,
    ) -> Result<(), ApiError> {
        let lock = self.lock(parent);
        let _turn = lock.lock().await;
        let start = Instant::now();
        let mut attempt: u32 = 0;
        loop {
            let Some((p, raw)) = self.project(parent).await? else {
                return Err(child.invalid(vec![FieldError::invalid(
                    child.parent_field(),
                    parent,
                    format!("project {parent} does not exist"),
                )]));
            };
            // A parent of another tenant, locked or being deleted takes no new child and no
            // growth; a child it already counts may still shrink.
            let mut state = vec![];
            check_parent_state(child, &p, tenant, &mut state);
            if !state.is_empty() && stored.is_empty() {
                return Err(child.invalid(state));
            }
            let mut errs = vec![];
            let now = Utc::now();
            let mut status = p.status.clone().unwrap_or_default();
            let mut reservations = vec![];
            for (cluster, asked) in asks {
                let Some(hard) = p.spec.clusters.get(cluster) else {
                    let msg = match child {
                        Child::Namespace { .. } => {
                            format!("project {parent} forbids its namespaces to use cluster {cluster}")
                        }
                        Child::Project { .. } => {
                            format!("parent project {parent} forbids this project to use cluster {cluster}")
                        }
                    };
                    errs.push(FieldError::invalid(
                        child.cluster_field(cluster),
                        cluster,
                        format!("{msg}: add it to {parent}'s clusters first"),
                    ));
                    continue;
                };
                let hard = super::lenient(&hard.hard);
                let used = status.clusters.get(cluster).map(|u| super::lenient(&u.used)).unwrap_or_default();
                let before = counted(stored.get(cluster), &status.reservations, &child.reference(), cluster, now);
                let mut grows = false;
                for (key, want) in asked {
                    let had = before.get(key).copied().unwrap_or(0);
                    if *want <= had {
                        continue;
                    }
                    grows = true;
                    let Some(limit) = hard.get(key) else { continue };
                    let others = used.get(key).copied().unwrap_or(0).saturating_sub(had);
                    let left = limit.saturating_sub(others);
                    if *want > left {
                        errs.push(FieldError::invalid(
                            child.hard_field(cluster, key),
                            format_milli(*want),
                            format!(
                                "project {parent} has {} {key} left in cluster {cluster} (hard {}, taken by others {}): ask for at most that, or raise {parent}'s quota",
                                format_milli(left.max(0)),
                                format_milli(*limit),
                                format_milli(others),
                            ),
                        ));
                    }
                }
                if grows {
                    let after = quantity::max(&before, asked);
                    let mut delta = after;
                    quantity::subtract_from(&mut delta, &before);
                    let slot = status.clusters.entry(cluster.clone()).or_default();
                    let mut used = super::lenient(&slot.used);
                    quantity::add_into(&mut used, &delta);
                    *slot = UsedQuantity { used: quantity::format(&used) };
                    reservations.push(Reservation {
                        object: child.reference(),
                        cluster: cluster.clone(),
                        hard: quantity::format(asked),
                        time: apimachinery::time::rfc3339(now),
                    });
                }
            }
            if !errs.is_empty() {
                return Err(child.invalid(errs));
            }
            if !reservations.is_empty() && !state.is_empty() {
                return Err(child.invalid(state));
            }
            if reservations.is_empty() || dry_run {
                return Ok(());
            }
            status.reservations.extend(reservations);
            match self.write_status(parent, &raw, status).await {
                Ok(()) => return Ok(()),
                Err(e) if e.reason == Reason::Conflict && start.elapsed() < RESERVE_DEADLINE => {
                    attempt += 1;
                    // Many writers on one project: spread the retries a little.
                    let spread = (Utc::now().timestamp_subsec_nanos() % 1000) as u64 * u64::from(attempt.min(8));
                    tokio::time::sleep(Duration::from_micros(spread)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Writes `status` into the project, only if it is still at the version `raw` was read at.
    async fn write_status(&self, name: &str, raw: &Value, status: ProjectStatus) -> Result<(), ApiError> {
        let body = json!({
            "apiVersion": api::business::API_VERSION,
            "kind": api::business::project::KIND,
            "metadata": {"name": name, "resourceVersion": raw["metadata"]["resourceVersion"]},
            "status": status,
        });
        let opts = WriteOptions { field_manager: Some(FIELD_MANAGER.into()), ..Default::default() };
        self.projects()?.update(&system(), name, Some("status"), body, &opts).await.map(|_| ())
    }

    /// The ancestry of `name` if its parent were `parent`: an error naming the cycle.
    async fn check_ancestry(&self, name: &str, parent: &str) -> Result<Option<FieldError>, ApiError> {
        let mut chain = vec![name.to_string(), parent.to_string()];
        let mut current = parent.to_string();
        loop {
            if current == name || chain[..chain.len() - 1].contains(&current) || chain.len() > MAX_DEPTH {
                return Ok(Some(FieldError::invalid(
                    "spec.parentProjectName",
                    parent,
                    format!(
                        "ancestor projects form a cycle: {}; choose a parent that is not below this project",
                        chain.join(" → ")
                    ),
                )));
            }
            let Some((p, _)) = self.project(&current).await? else { return Ok(None) };
            let Some(next) = p.parent() else { return Ok(None) };
            chain.push(next.to_string());
            current = next.to_string();
        }
    }
}

/// The parent must be of the child's tenant, not locked and not being deleted.
fn check_parent_state(child: Child<'_>, p: &Project, tenant: &str, errs: &mut Vec<FieldError>) {
    let name = p.name();
    let field = child.parent_field();
    if p.tenant() != tenant {
        errs.push(FieldError::invalid(field, name, format!("project {name} does not exist in tenant {tenant}")));
    } else if deleting(&p.metadata) || p.phase() == project_phase::TERMINATING {
        errs.push(FieldError::invalid(
            field,
            name,
            format!("project {name} is being deleted: it takes no new namespaces or sub-projects"),
        ));
    } else if p.locked() {
        errs.push(FieldError::invalid(
            field,
            name,
            format!("project {name} is locked: it takes no new namespaces or sub-projects until it is unlocked"),
        ));
    }
}

/// Parses a quota, a field error per entry that is not a quantity.
fn parse_hard(list: &BTreeMap<String, String>, field: impl Fn(&str) -> String, errs: &mut Vec<FieldError>) -> Milli {
    let mut out = Milli::new();
    for (k, v) in list {
        match quantity::milli_units(v) {
            Some(m) if m >= 0 => {
                out.insert(k.clone(), m);
            }
            Some(_) => errs.push(FieldError::invalid(field(k), v, "must not be negative")),
            None => errs.push(FieldError::invalid(
                field(k),
                v,
                "is not a quantity: write a number with an optional suffix (500m, 1.5, 2Gi, 512Mi, 1e3)",
            )),
        }
    }
    out
}

struct ProjectAdmission(Arc<Quotas>);

#[async_trait::async_trait]
impl Admission for ProjectAdmission {
    async fn admit(&self, req: AdmissionRequest<'_>) -> Result<(), ApiError> {
        if deleting(req.new) {
            return Ok(());
        }
        let new: Project = decode(req.new)?;
        let old: Option<Project> = req.old.map(decode).transpose()?;
        let clusters_changed = old.as_ref().is_none_or(|o| o.spec.clusters != new.spec.clusters);
        let parent_changed = old.as_ref().is_none_or(|o| o.parent() != new.parent());
        if !clusters_changed && !parent_changed {
            return Ok(());
        }
        let name = new.name();
        let child = Child::Project { name };
        let mut errs = vec![];
        let mut asks = BTreeMap::new();
        for (cluster, q) in &new.spec.clusters {
            let hard = parse_hard(&q.hard, |k| child.hard_field(cluster, k), &mut errs);
            asks.insert(cluster.clone(), hard);
        }
        if clusters_changed {
            for cluster in new.spec.clusters.keys() {
                if old.as_ref().is_some_and(|o| o.spec.clusters.contains_key(cluster)) {
                    continue;
                }
                if let Some(e) = self.0.check_cluster(cluster, new.tenant(), child.cluster_field(cluster)).await? {
                    errs.push(e);
                }
            }
            // Lowering below what is allocated: checked on the version being replaced, which
            // carries every reservation made so far (a later one changes it, and the write of
            // this update then fails on its resourceVersion).
            let used = old.as_ref().and_then(|o| o.status.as_ref()).map(|s| &s.clusters);
            for (cluster, u) in used.into_iter().flatten() {
                let used = super::lenient(&u.used);
                if quantity::is_zero(&used) {
                    continue;
                }
                let Some(hard) = asks.get(cluster) else {
                    errs.push(FieldError::forbidden(
                        "spec.clusters",
                        format!(
                            "cluster {cluster} cannot be removed: sub-projects and namespaces take {} of it; release that first",
                            describe(&used)
                        ),
                    ));
                    continue;
                };
                for e in quantity::exceeding(&used, hard) {
                    errs.push(FieldError::invalid(
                        child.hard_field(cluster, &e.key),
                        format_milli(e.allowed),
                        format!(
                            "cluster {cluster}: the new hard {} {key} is below the {} {key} already allocated to sub-projects and namespaces; lower or remove those first",
                            format_milli(e.allowed),
                            format_milli(e.asked),
                            key = e.key,
                        ),
                    ));
                }
            }
        }
        let parent = new.parent();
        if parent_changed
            && let Some(parent) = parent
            && let Some(e) = self.0.check_ancestry(name, parent).await?
        {
            errs.push(e);
        }
        if !errs.is_empty() {
            return Err(child.invalid(errs));
        }
        let Some(parent) = parent else { return Ok(()) };
        // Counted in the parent already when the parent stays the same.
        let stored = match &old {
            Some(o) if !parent_changed => {
                o.spec.clusters.iter().map(|(c, q)| (c.clone(), super::lenient(&q.hard))).collect()
            }
            _ => BTreeMap::new(),
        };
        self.0.reserve(child, new.tenant(), parent, &asks, &stored, req.dry_run).await
    }
}

struct NamespaceAdmission(Arc<Quotas>);

#[async_trait::async_trait]
impl Admission for NamespaceAdmission {
    async fn admit(&self, req: AdmissionRequest<'_>) -> Result<(), ApiError> {
        if deleting(req.new) {
            return Ok(());
        }
        let new: Namespace = decode(req.new)?;
        // A namespace on its way out is counted in its destination project.
        if req.new["metadata"]["annotations"][MOVED_TO_ANNOTATION].as_str().is_some_and(|s| !s.is_empty()) {
            return Ok(());
        }
        let child = Child::Namespace { name: new.name() };
        let mut errs = vec![];
        let hard = parse_hard(&new.spec.hard, |k| child.hard_field("", k), &mut errs);
        if !errs.is_empty() {
            return Err(child.invalid(errs));
        }
        let cluster = new.spec.cluster_name.clone();
        let project = req.ctx.namespace.clone().unwrap_or_else(|| new.project().to_string());
        let stored = match req.old {
            Some(old) => {
                let old: Namespace = decode(old)?;
                let old_hard = super::lenient(&old.spec.hard);
                if quantity::exceeding(&hard, &old_hard).is_empty() && hard.keys().all(|k| old_hard.contains_key(k)) {
                    // Nothing grows: nothing to check or reserve.
                    return Ok(());
                }
                BTreeMap::from([(cluster.clone(), old_hard)])
            }
            None => {
                // The project's own refusals come first: they say more than the cluster's.
                if let Some((p, _)) = self.0.project(&project).await? {
                    check_parent_state(child, &p, new.tenant(), &mut errs);
                }
                if errs.is_empty()
                    && let Some(e) = self.0.check_cluster(&cluster, new.tenant(), "spec.clusterName".into()).await?
                {
                    errs.push(e);
                }
                if !errs.is_empty() {
                    return Err(child.invalid(errs));
                }
                BTreeMap::new()
            }
        };
        let asks = BTreeMap::from([(cluster, hard)]);
        self.0.reserve(child, new.tenant(), &project, &asks, &stored, req.dry_run).await
    }
}

/// `cpu 2, memory 1Gi`.
fn describe(list: &Milli) -> String {
    list.iter().map(|(k, v)| format!("{k} {}", format_milli(*v))).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use apiserver::VersionInfo;

    /// A server of the business resources alone (no platform clusters: their check is skipped).
    async fn server() -> (tempfile::TempDir, Arc<ApiServer>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store: Arc<dyn storage::Store> =
            Arc::new(storage::embedded::EmbeddedStore::open(dir.path()).expect("open store"));
        (dir, server_on(store).await)
    }

    async fn server_on(store: Arc<dyn storage::Store>) -> Arc<ApiServer> {
        let server = ApiServer::new(store, api::business::resources(), "/registry", VersionInfo::default())
            .await
            .expect("server");
        register(&server).expect("register");
        server
    }

    fn in_project(project: &str) -> Context {
        Context { namespace: Some(project.into()), ..system() }
    }

    fn project(name: &str, cpu: &str) -> Value {
        json!({"apiVersion": "business.tkestack.io/v1", "kind": "Project", "metadata": {"name": name},
               "spec": {"displayName": name, "clusters": {"c1": {"hard": {"cpu": cpu}}}}})
    }

    fn namespace(ns: &str, cpu: &str) -> Value {
        json!({"apiVersion": "business.tkestack.io/v1", "kind": "Namespace", "metadata": {},
               "spec": {"clusterName": "c1", "namespace": ns, "hard": {"cpu": cpu}}})
    }

    async fn status(server: &ApiServer, name: &str) -> Value {
        let projects = server.resource(GROUP, VERSION, "projects").expect("projects");
        projects.get(&system(), name, None).await.expect("project")["status"].clone()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_creations_take_exactly_the_quota() {
        let (_dir, server) = server().await;
        // A second server on the same store, as a second replica: its admissions race the
        // first's on the project's resourceVersion alone.
        let (store, _) = server.kv();
        let other = server_on(store).await;
        let projects = server.resource(GROUP, VERSION, "projects").expect("projects").clone();
        projects.create(&system(), project("prj-a", "20"), &WriteOptions::default()).await.expect("project");
        let tasks: Vec<_> = (0..50)
            .map(|i| {
                let s = if i % 2 == 0 { &server } else { &other };
                let namespaces = s.resource(GROUP, VERSION, "namespaces").expect("namespaces").clone();
                tokio::spawn(async move {
                    namespaces
                        .create(&in_project("prj-a"), namespace(&format!("n{i}"), "1"), &WriteOptions::default())
                        .await
                })
            })
            .collect();
        let mut admitted = 0;
        for t in tasks {
            match t.await.expect("task") {
                Ok(_) => admitted += 1,
                Err(e) => {
                    assert_eq!(e.reason, Reason::Invalid, "{e}");
                    assert_eq!(e.causes[0].field, "spec.hard[cpu]");
                    assert!(e.message.contains("project prj-a has 0 cpu left in cluster c1"), "{e}");
                }
            }
        }
        assert_eq!(admitted, 20);
        let s = status(&server, "prj-a").await;
        assert_eq!(s["clusters"]["c1"]["used"]["cpu"], json!("20"));
        assert_eq!(s["reservations"].as_array().map(Vec::len), Some(20));
    }

    #[tokio::test]
    async fn raising_reserves_the_difference_and_dry_runs_reserve_nothing() {
        let (_dir, server) = server().await;
        let projects = server.resource(GROUP, VERSION, "projects").expect("projects");
        let namespaces = server.resource(GROUP, VERSION, "namespaces").expect("namespaces");
        let opts = WriteOptions::default();
        projects.create(&system(), project("prj-a", "4"), &opts).await.expect("project");
        let ctx = in_project("prj-a");
        let dry = WriteOptions { dry_run: true, ..Default::default() };
        namespaces.create(&ctx, namespace("n1", "4"), &dry).await.expect("dry run");
        assert!(status(&server, "prj-a").await["reservations"].is_null());

        namespaces.create(&ctx, namespace("n1", "1"), &opts).await.expect("create");
        assert_eq!(status(&server, "prj-a").await["clusters"]["c1"]["used"]["cpu"], json!("1"));
        // 1 → 3 takes 2 more (not 3): 3 of 4 used.
        let raise = br#"{"spec":{"hard":{"cpu":"3"}}}"#;
        namespaces.patch(&ctx, "c1-n1", None, apiserver::patch::PatchType::Merge, raise, &opts).await.expect("raise");
        assert_eq!(status(&server, "prj-a").await["clusters"]["c1"]["used"]["cpu"], json!("3"));
        // Lowering a namespace needs nothing; raising past what is left is refused.
        let lower = br#"{"spec":{"hard":{"cpu":"2"}}}"#;
        namespaces.patch(&ctx, "c1-n1", None, apiserver::patch::PatchType::Merge, lower, &opts).await.expect("lower");
        let too_much = br#"{"spec":{"hard":{"cpu":"5"}}}"#;
        let e = namespaces
            .patch(&ctx, "c1-n1", None, apiserver::patch::PatchType::Merge, too_much, &opts)
            .await
            .expect_err("too much");
        // What the namespace itself holds (its pending raise to 3) is left to it.
        assert!(e.message.contains("has 4 cpu left in cluster c1 (hard 4, taken by others 0)"), "{e}");

        // The project cannot go below the 3 it has handed out (counted until the controller
        // recomputes usage from the objects).
        let lower_project = br#"{"spec":{"clusters":{"c1":{"hard":{"cpu":"2"}}}}}"#;
        let e = projects
            .patch(&system(), "prj-a", None, apiserver::patch::PatchType::Merge, lower_project, &opts)
            .await
            .expect_err("lowering");
        assert_eq!(e.causes[0].field, "spec.clusters[c1].hard[cpu]");
        assert!(e.message.contains("cluster c1: the new hard 2 cpu is below the 3 cpu already allocated"), "{e}");
    }

    #[tokio::test]
    async fn ancestry_cycles_are_named() {
        let (_dir, server) = server().await;
        let projects = server.resource(GROUP, VERSION, "projects").expect("projects");
        let opts = WriteOptions::default();
        projects.create(&system(), project("prj-a", "4"), &opts).await.expect("a");
        let mut b = project("prj-b", "1");
        b["spec"]["parentProjectName"] = json!("prj-a");
        projects.create(&system(), b, &opts).await.expect("b");
        let mut c = project("prj-c", "1");
        c["spec"]["parentProjectName"] = json!("prj-b");
        projects.create(&system(), c, &opts).await.expect("c");
        let body = br#"{"spec":{"parentProjectName":"prj-c"}}"#;
        let e = projects
            .patch(&system(), "prj-a", None, apiserver::patch::PatchType::Merge, body, &opts)
            .await
            .expect_err("cycle");
        assert!(e.message.contains("ancestor projects form a cycle: prj-a → prj-c → prj-b → prj-a"), "{e}");
        let e = projects
            .patch(
                &system(),
                "prj-a",
                None,
                apiserver::patch::PatchType::Merge,
                br#"{"spec":{"parentProjectName":"prj-a"}}"#,
                &opts,
            )
            .await
            .expect_err("own parent");
        assert!(e.message.contains("prj-a → prj-a"), "{e}");
    }

    #[tokio::test]
    async fn a_locked_parent_lets_children_shrink_but_not_grow() {
        use apiserver::patch::PatchType::Merge;
        let (_dir, server) = server().await;
        let projects = server.resource(GROUP, VERSION, "projects").expect("projects");
        let opts = WriteOptions::default();
        projects.create(&system(), project("prj-a", "4"), &opts).await.expect("a");
        let mut b = project("prj-b", "2");
        b["spec"]["parentProjectName"] = json!("prj-a");
        projects.create(&system(), b, &opts).await.expect("b");
        let lock = br#"{"status":{"locked":true}}"#;
        projects.patch(&system(), "prj-a", Some("status"), Merge, lock, &opts).await.expect("lock");

        let grow = br#"{"spec":{"clusters":{"c1":{"hard":{"cpu":"3"}}}}}"#;
        let e = projects.patch(&system(), "prj-b", None, Merge, grow, &opts).await.expect_err("grow");
        assert_eq!(e.causes[0].field, "spec.parentProjectName");
        assert!(e.message.contains("project prj-a is locked"), "{e}");
        let shrink = br#"{"spec":{"clusters":{"c1":{"hard":{"cpu":"1"}}}}}"#;
        projects.patch(&system(), "prj-b", None, Merge, shrink, &opts).await.expect("shrink");
        let mut c = project("prj-c", "1");
        c["spec"]["parentProjectName"] = json!("prj-a");
        let e = projects.create(&system(), c, &opts).await.expect_err("new child");
        assert!(e.message.contains("project prj-a is locked"), "{e}");
    }
}
