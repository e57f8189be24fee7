//! The usage controller: keeps every project's `status.clusters[].used` equal to what its
//! sub-projects and namespaces take plus the reservations still pending (see [`super`]), drops
//! the reservations that landed or expired, and keeps `status.calculatedChildProjects` and
//! `status.calculatedNamespaces`. A change of a namespace reconciles its project; a change of a
//! project reconciles it, its parent and the parent it had before.
//!
//! Each reconcile reads the project first, then lists its children, and writes only if the
//! project is still at the version it read (a JSON merge patch of these fields alone, carrying
//! the resourceVersion): a reservation made meanwhile fails the write, and the next reconcile
//! sees it. Reading the children after the project means every child stored before the read's
//! reservations were dropped is seen.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
    time::Duration,
};

use api::business::{
    GROUP, Namespace, Project,
    common::MOVED_TO_ANNOTATION,
    project::{Reservation, UsedQuantity},
};
use apimachinery::quantity;
use chrono::{DateTime, Utc};
use controller_runtime::shell::{Failures, decode};
use futures::StreamExt;
use kube::{
    Api, Client, ResourceExt,
    api::{ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams},
    runtime::{Controller, controller::Action, reflector::ObjectRef, watcher},
};
use serde_json::{Value, json};

use super::{RESERVATION_TTL, Taken, namespace_ref, project_ref};

/// Re-examined this often even when nothing changes.
const RESYNC: Duration = Duration::from_secs(300);

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Kube(#[from] kube::Error),
    #[error("{0} cannot be read: {1}")]
    Decode(String, serde_json::Error),
}

struct Ctx {
    platform: Client,
    projects: ApiResource,
    namespaces: ApiResource,
    failures: Failures,
}

fn resource(kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(GROUP, api::business::VERSION, kind), plural)
}

/// Runs the usage controller until `shutdown` resolves.
pub async fn run(platform: Client, shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static) {
    let ctx = Arc::new(Ctx {
        platform: platform.clone(),
        projects: resource(api::business::project::KIND, "projects"),
        namespaces: resource(api::business::namespace::KIND, "namespaces"),
        failures: Failures::default(),
    });
    let (ar1, ar2) = (ctx.projects.clone(), ctx.projects.clone());
    // The parent each project had when last seen, so moving a project reconciles its old
    // parent too.
    let parents: Mutex<HashMap<String, Option<String>>> = Mutex::new(HashMap::new());
    Controller::new_with(
        Api::<DynamicObject>::all_with(platform.clone(), &ctx.projects),
        watcher::Config::default(),
        ctx.projects.clone(),
    )
    .watches_with(
        Api::<DynamicObject>::all_with(platform.clone(), &ctx.namespaces),
        ctx.namespaces.clone(),
        watcher::Config::default(),
        move |ns: DynamicObject| {
            ns.namespace().map(|p| ObjectRef::new_with(&p, ar1.clone())).into_iter().collect::<Vec<_>>()
        },
    )
    .watches_with(
        Api::<DynamicObject>::all_with(platform.clone(), &ctx.projects),
        ctx.projects.clone(),
        watcher::Config::default(),
        move |p: DynamicObject| {
            let parent = p.data["spec"]["parentProjectName"].as_str().filter(|s| !s.is_empty()).map(str::to_string);
            let before =
                parents.lock().unwrap_or_else(|e| e.into_inner()).insert(p.name_any(), parent.clone()).flatten();
            let mut refs: Vec<_> = parent.iter().map(|n| ObjectRef::new_with(n, ar2.clone())).collect();
            if let Some(b) = before.filter(|b| Some(b) != parent.as_ref()) {
                refs.push(ObjectRef::new_with(&b, ar2.clone()));
            }
            refs
        },
    )
    .graceful_shutdown_on(shutdown)
    .run(|o, c| controller_runtime::metrics::observe("project quota usage", reconcile(o, c)), error_policy, ctx)
    .for_each(|_| async {})
    .await;
}

fn error_policy(obj: Arc<DynamicObject>, e: &Error, ctx: Arc<Ctx>) -> Action {
    let wait = ctx.failures.failed(&obj.name_any());
    tracing::warn!(project = obj.name_any(), error = %e, retry_in = ?wait, "project usage reconcile failed");
    Action::requeue(wait)
}

/// The status fields this controller owns, as they should be.
#[derive(Debug, PartialEq)]
pub struct Desired {
    pub clusters: BTreeMap<String, UsedQuantity>,
    pub reservations: Vec<Reservation>,
    pub child_projects: Vec<String>,
    pub namespaces: Vec<String>,
}

/// What a project's status should say, from its children and its current reservations.
pub fn desired(project: &Project, children: &[Project], namespaces: &[Namespace], now: DateTime<Utc>) -> Desired {
    let name = project.name();
    let mut taken = Taken::new();
    let mut child_projects = vec![];
    for c in children.iter().filter(|c| c.parent() == Some(name)) {
        child_projects.push(c.name().to_string());
        let per_cluster = c.spec.clusters.iter().map(|(cl, q)| (cl.clone(), super::lenient(&q.hard))).collect();
        taken.insert(project_ref(c.name()), per_cluster);
    }
    let mut counted_namespaces = vec![];
    for ns in namespaces.iter().filter(|n| n.project() == name) {
        let moved = ns.metadata["annotations"][MOVED_TO_ANNOTATION].as_str().is_some_and(|s| !s.is_empty());
        if moved {
            continue;
        }
        counted_namespaces.push(ns.name().to_string());
        taken.insert(
            namespace_ref(ns.name()),
            BTreeMap::from([(ns.spec.cluster_name.clone(), super::lenient(&ns.spec.hard))]),
        );
    }
    child_projects.sort();
    counted_namespaces.sort();
    let reservations = project.status.as_ref().map(|s| s.reservations.as_slice()).unwrap_or_default();
    let usage = super::usage(&taken, reservations, now);
    // Every cluster of the project is listed, used or not; clusters no longer in the spec
    // stay while something still takes quota there.
    let mut clusters: BTreeMap<String, UsedQuantity> =
        project.spec.clusters.keys().map(|c| (c.clone(), UsedQuantity::default())).collect();
    for (c, used) in usage.clusters {
        if project.spec.clusters.contains_key(&c) || !quantity::is_zero(&used) {
            clusters.insert(c, UsedQuantity { used: quantity::format(&used) });
        }
    }
    Desired { clusters, reservations: usage.pending, child_projects, namespaces: counted_namespaces }
}

/// The merge patch turning `old` into `new`: members of `old` missing in `new` become `null`.
fn merge_diff(old: &Value, new: &Value) -> Value {
    match (old, new) {
        (Value::Object(o), Value::Object(n)) => {
            let mut out = serde_json::Map::new();
            for (k, nv) in n {
                match o.get(k) {
                    Some(ov) if ov == nv => {}
                    Some(ov) => {
                        out.insert(k.clone(), merge_diff(ov, nv));
                    }
                    None => {
                        out.insert(k.clone(), nv.clone());
                    }
                }
            }
            for k in o.keys().filter(|k| !n.contains_key(*k)) {
                out.insert(k.clone(), Value::Null);
            }
            Value::Object(out)
        }
        _ => new.clone(),
    }
}

async fn reconcile(obj: Arc<DynamicObject>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    let name = obj.name_any();
    let projects: Api<DynamicObject> = Api::all_with(ctx.platform.clone(), &ctx.projects);
    // The project first, then its children (see the module's comment).
    let Some(raw) = projects.get_opt(&name).await? else {
        return Ok(Action::await_change());
    };
    let project: Project = decode(&raw).map_err(|e| Error::Decode(format!("project {name}"), e))?;
    let children = projects.list(&ListParams::default().fields(&format!("spec.parentProjectName={name}"))).await?;
    let children: Vec<Project> = children.items.iter().filter_map(|c| decode(c).ok()).collect();
    let namespaces: Api<DynamicObject> = Api::namespaced_with(ctx.platform.clone(), &name, &ctx.namespaces);
    let namespaces: Vec<Namespace> =
        namespaces.list(&ListParams::default()).await?.items.iter().filter_map(|n| decode(n).ok()).collect();
    let now = Utc::now();
    let want = desired(&project, &children, &namespaces, now);
    let status = project.status.clone().unwrap_or_default();
    let current = json!({
        "clusters": status.clusters,
        "reservations": status.reservations,
        "calculatedChildProjects": status.calculated_child_projects,
        "calculatedNamespaces": status.calculated_namespaces,
    });
    let wanted = json!({
        "clusters": want.clusters,
        "reservations": want.reservations,
        "calculatedChildProjects": want.child_projects,
        "calculatedNamespaces": want.namespaces,
    });
    if current != wanted {
        let patch = json!({
            "metadata": {"resourceVersion": raw.resource_version()},
            "status": merge_diff(&current, &wanted),
        });
        match projects.patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch)).await {
            Ok(_) => {}
            // A reservation (or another write) came first: look again at once.
            Err(kube::Error::Api(e)) if e.code == 409 => return Ok(Action::requeue(Duration::from_millis(50))),
            Err(kube::Error::Api(e)) if e.code == 404 => return Ok(Action::await_change()),
            Err(e) => return Err(e.into()),
        }
        tracing::debug!(project = %name, "project usage updated");
    }
    ctx.failures.succeeded(&name);
    // Wake up when the oldest pending reservation expires.
    let next = want
        .reservations
        .iter()
        .filter_map(|r| DateTime::parse_from_rfc3339(&r.time).ok())
        .map(|t| {
            let expires = t.with_timezone(&Utc) + chrono::Duration::from_std(RESERVATION_TTL).unwrap_or_default();
            (expires - now).to_std().unwrap_or_default() + Duration::from_millis(500)
        })
        .min();
    Ok(Action::requeue(next.unwrap_or(RESYNC).min(RESYNC)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::business::project::{HardQuantity, ProjectSpec, ProjectStatus};

    fn project(name: &str, parent: Option<&str>, clusters: &[(&str, &str)], reservations: Vec<Reservation>) -> Project {
        Project {
            metadata: json!({"name": name}),
            spec: ProjectSpec {
                parent_project_name: parent.map(str::to_string),
                clusters: clusters
                    .iter()
                    .map(|(c, cpu)| {
                        (c.to_string(), HardQuantity { hard: [("cpu".to_string(), cpu.to_string())].into() })
                    })
                    .collect(),
                ..Default::default()
            },
            status: Some(ProjectStatus { reservations, ..Default::default() }),
            ..Default::default()
        }
    }

    fn namespace(project: &str, name: &str, cluster: &str, cpu: &str, moved: bool) -> Namespace {
        let mut metadata = json!({"name": name, "namespace": project});
        if moved {
            metadata["annotations"] = json!({MOVED_TO_ANNOTATION: "prj-other"});
        }
        Namespace {
            metadata,
            spec: api::business::namespace::NamespaceSpec {
                cluster_name: cluster.into(),
                hard: [("cpu".to_string(), cpu.to_string())].into(),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn used_is_children_plus_pending_reservations_without_moved_namespaces() {
        let now = Utc::now();
        let fresh = |object: &str, cpu: &str| Reservation {
            object: object.into(),
            cluster: "c1".into(),
            hard: [("cpu".to_string(), cpu.to_string())].into(),
            time: apimachinery::time::rfc3339(now),
        };
        let stale = Reservation {
            time: apimachinery::time::rfc3339(now - chrono::Duration::seconds(60)),
            ..fresh("namespaces/c1-lost", "9")
        };
        let p = project(
            "prj-a",
            None,
            &[("c1", "10"), ("c2", "4")],
            vec![fresh("namespaces/c1-x", "1"), fresh("namespaces/c1-new", "2"), stale],
        );
        let children = vec![
            project("prj-b", Some("prj-a"), &[("c1", "500m"), ("c2", "1")], vec![]),
            project("prj-c", Some("prj-z"), &[("c1", "7")], vec![]),
        ];
        let namespaces = vec![
            namespace("prj-a", "c1-x", "c1", "1", false),
            namespace("prj-a", "c1-gone", "c1", "3", true),
            namespace("prj-other", "c1-y", "c1", "5", false),
        ];
        let d = desired(&p, &children, &namespaces, now);
        assert_eq!(d.clusters["c1"].used, [("cpu".to_string(), "3500m".to_string())].into());
        assert_eq!(d.clusters["c2"].used, [("cpu".to_string(), "1".to_string())].into());
        assert_eq!(d.reservations, vec![fresh("namespaces/c1-new", "2")]);
        assert_eq!(d.child_projects, vec!["prj-b"]);
        assert_eq!(d.namespaces, vec!["c1-x"]);
    }

    #[test]
    fn merge_patches_null_what_is_gone() {
        let old =
            json!({"clusters": {"a": {"used": {"cpu": "1", "memory": "1Gi"}}, "b": {"used": {}}}, "reservations": [1]});
        let new = json!({"clusters": {"a": {"used": {"cpu": "2"}}}, "reservations": []});
        assert_eq!(
            merge_diff(&old, &new),
            json!({"clusters": {"a": {"used": {"cpu": "2", "memory": null}}, "b": null}, "reservations": []})
        );
    }
}
