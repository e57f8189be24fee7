//! The ImageNamespace and ChartGroup controllers (reference 4.3): a project's image namespace
//! or chart group is mirrored as the registry's object of the same `spec.name` in the project's
//! tenant (a `registry.tkestack.io/v1` Namespace, private to the tenant; a ChartGroup of
//! visibility `Project` listing the project), then is `Available`. A name the tenant already
//! uses for another registry object makes it `Failed`, retried with back-off (the name may be
//! freed). The registry object's display name follows the business object's. Deleting it
//! deletes the registry object (whose own controller removes its images or charts and
//! Repository or Chart objects), waits until it is gone, then clears the business object's
//! finalizer through `finalize`.
//!
//! The registry object carries the labels [`PROJECT_LABEL`] and [`OBJECT_LABEL`]: they tell a
//! mirror made here from an object of the same name made by someone else, and wake the business
//! object when its mirror changes.

use std::{sync::Arc, time::Duration};

use api::business::common::{ProjectItemSpec, phase};
use kube::{
    Api, Client, ResourceExt,
    api::{ApiResource, DynamicObject, Patch, PatchParams, PostParams},
    runtime::controller::Action,
};
use serde_json::{Value, json};

use crate::runner::{self, Error, Lifecycle, Watch};

/// Label of a registry object mirrored from a business one: the project.
pub const PROJECT_LABEL: &str = "business.tkestack.io/project";
/// Label of a registry object mirrored from a business one: the business object's name.
pub const OBJECT_LABEL: &str = "business.tkestack.io/object";

/// How often a deleted object looks again at its mirror, besides being woken by its changes.
const RECHECK: Duration = Duration::from_secs(5);

/// Reasons written in `status.reason`.
mod reason {
    pub const NAME_TAKEN: &str = "NameTaken";
    pub const CREATE_FAILED: &str = "CreateFailed";
    pub const DELETING: &str = "Deleting";
}

/// One kind of business object mirrored into the registry.
#[derive(Clone, Copy)]
pub struct Kind {
    /// In messages: `image namespace`, `chart group`.
    pub what: &'static str,
    /// In messages: the registry's object, `registry namespace`, `registry chart group`.
    pub mirror: &'static str,
    pub business: (&'static str, &'static str),
    pub registry: (&'static str, &'static str),
    pub finalizer: &'static str,
    /// The registry object's spec for a business object's.
    pub spec: fn(project: &str, spec: &ProjectItemSpec) -> Value,
}

impl Kind {
    fn business(&self) -> ApiResource {
        runner::business(self.business.0, self.business.1)
    }
    fn registry(&self) -> ApiResource {
        runner::resource(api::registry::GROUP, api::registry::VERSION, self.registry.0, self.registry.1)
    }
}

/// Image namespaces: registry Namespaces, private to the tenant.
pub const IMAGE_NAMESPACE: Kind = Kind {
    what: "image namespace",
    mirror: "registry namespace",
    business: (api::business::image_namespace::KIND, "imagenamespaces"),
    registry: (api::registry::namespace::KIND, "namespaces"),
    finalizer: api::business::common::finalizer::IMAGE_NAMESPACE,
    spec: registry_namespace_spec,
};

/// Chart groups: registry ChartGroups that the project's members use (visibility `Project`).
pub const CHART_GROUP: Kind = Kind {
    what: "chart group",
    mirror: "registry chart group",
    business: (api::business::chart_group::KIND, "chartgroups"),
    registry: (api::registry::chart_group::KIND, "chartgroups"),
    finalizer: api::business::common::finalizer::CHART_GROUP,
    spec: registry_chart_group_spec,
};

fn display_name(spec: &ProjectItemSpec) -> Option<&str> {
    Some(spec.display_name.as_str()).filter(|d| !d.trim().is_empty())
}

pub fn registry_namespace_spec(_project: &str, spec: &ProjectItemSpec) -> Value {
    json!({
        "name": spec.name,
        "tenantID": spec.tenant_id,
        "displayName": display_name(spec),
        "visibility": api::registry::common::visibility::PRIVATE,
    })
}

pub fn registry_chart_group_spec(project: &str, spec: &ProjectItemSpec) -> Value {
    json!({
        "name": spec.name,
        "tenantID": spec.tenant_id,
        "displayName": display_name(spec),
        "visibility": api::registry::common::visibility::PROJECT,
        "type": api::registry::chart_group::repo_type::SELF_BUILT,
        "projects": [project],
    })
}

/// Whether `o` was mirrored from the business object `name` of `project`.
pub fn mirrors(o: &DynamicObject, project: &str, name: &str) -> bool {
    let labels = o.labels();
    labels.get(PROJECT_LABEL).map(String::as_str) == Some(project)
        && labels.get(OBJECT_LABEL).map(String::as_str) == Some(name)
}

/// What to do about a live business object, given the registry objects of its tenant and name.
#[derive(Debug, PartialEq)]
pub enum Next {
    Create,
    /// The mirror exists.
    Available,
    /// The mirror is being deleted (by someone else): made again once it is gone.
    WaitForOld,
    /// Another object uses the name.
    Taken(String),
}

pub fn next(found: &[DynamicObject], project: &str, name: &str) -> Next {
    if let Some(o) = found.iter().find(|o| mirrors(o, project, name)) {
        return if runner::deleting(o) { Next::WaitForOld } else { Next::Available };
    }
    match found.iter().find(|o| !runner::deleting(o)) {
        Some(o) => Next::Taken(o.name_any()),
        None => Next::Create,
    }
}

/// Runs the controller of `kind` until `shutdown` resolves.
pub async fn run(kind: Kind, client: Client, shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static) {
    let main = kind.business();
    let target = main.clone();
    let mapper: runner::Mapper = Arc::new(move |o: &DynamicObject| {
        let labels = o.labels();
        match (labels.get(PROJECT_LABEL), labels.get(OBJECT_LABEL)) {
            (Some(p), Some(n)) => vec![runner::object_ref(&target, n, Some(p))],
            _ => vec![],
        }
    });
    let watches = vec![Watch { resource: kind.registry(), mapper }];
    runner::run(
        client.clone(),
        main,
        kind.what,
        watches,
        move |o| {
            let client = client.clone();
            async move { reconcile(kind, o, &client).await }
        },
        shutdown,
    )
    .await;
}

async fn reconcile(kind: Kind, obj: Arc<DynamicObject>, client: &Client) -> Result<Action, Error> {
    let name = obj.name_any();
    let project = obj.namespace().unwrap_or_default();
    let spec: ProjectItemSpec = serde_json::from_value(obj.data["spec"].clone()).map_err(|source| Error::Decode {
        what: kind.what,
        name: name.clone(),
        source,
    })?;
    let tenant = spec.tenant_id.clone().unwrap_or_default();
    let own: Api<DynamicObject> = Api::namespaced_with(client.clone(), &project, &kind.business());
    let registry: Api<DynamicObject> = Api::all_with(client.clone(), &kind.registry());
    // Field values are a tenant id and a DNS label: no `,` or `=` to escape.
    let found = runner::list(&registry, &format!("spec.tenantID={tenant},spec.name={}", spec.name)).await?;

    if runner::deleting(&obj) {
        if !runner::has_finalizer(&obj.data, kind.finalizer) {
            return Ok(Action::await_change());
        }
        let mine: Vec<DynamicObject> = found.into_iter().filter(|o| mirrors(o, &project, &name)).collect();
        if !mine.is_empty() {
            let names = runner::delete_each(&registry, &mine).await?;
            let message = format!("waiting for the {} {} to be deleted", kind.mirror, names.join(", "));
            let want = Lifecycle::new(phase::TERMINATING, Some(reason::DELETING), Some(message));
            runner::write_lifecycle(&own, &obj, &want, None).await?;
            return Ok(Action::requeue(RECHECK));
        }
        runner::clear_finalizer(&own, &name, kind.finalizer).await?;
        tracing::info!(what = kind.what, %project, %name, %tenant, "deleted with its registry object");
        return Ok(Action::await_change());
    }

    match next(&found, &project, &name) {
        Next::Available => {
            // The display name follows the business object's; the rest of the registry
            // object (its visibility, say) is the registry users' to change.
            if let Some(mirror) = found.iter().find(|o| mirrors(o, &project, &name)) {
                let desired = (kind.spec)(&project, &spec)["displayName"].clone();
                if mirror.data["spec"]["displayName"] != desired {
                    let patch = json!({"spec": {"displayName": desired}});
                    registry.patch(&mirror.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await?;
                }
            }
            let want = Lifecycle::new(phase::AVAILABLE, None, None);
            runner::write_lifecycle(&own, &obj, &want, None).await?;
            Ok(Action::await_change())
        }
        Next::WaitForOld => Ok(Action::requeue(RECHECK)),
        Next::Taken(other) => {
            let message = format!(
                "the {} name {:?} is already taken in tenant {tenant} (by {} {other}); choose another spec.name",
                kind.what, spec.name, kind.mirror
            );
            fail(&own, &obj, reason::NAME_TAKEN, message).await
        }
        Next::Create => {
            let mirror = json!({
                "apiVersion": api::registry::API_VERSION,
                "kind": kind.registry.0,
                // Named by the registry's own rule (its generated prefix).
                "metadata": {"labels": {PROJECT_LABEL: project, OBJECT_LABEL: name}},
                "spec": (kind.spec)(&project, &spec),
            });
            let mirror: DynamicObject = serde_json::from_value(mirror).map_err(|source| Error::Decode {
                what: kind.what,
                name: name.clone(),
                source,
            })?;
            match registry.create(&PostParams::default(), &mirror).await {
                Ok(created) => {
                    tracing::info!(what = kind.what, %project, %name, mirror = %created.name_any(), "registry object created");
                    let want = Lifecycle::new(phase::AVAILABLE, None, None);
                    runner::write_lifecycle(&own, &obj, &want, None).await?;
                    Ok(Action::await_change())
                }
                Err(kube::Error::Api(s)) if (400..500).contains(&s.code) => {
                    let message = format!("failed to create the {}: {}", kind.mirror, s.message);
                    fail(&own, &obj, reason::CREATE_FAILED, message).await
                }
                Err(e) => Err(e.into()),
            }
        }
    }
}

/// Reports `Failed` and fails the reconcile, so that it is retried with back-off.
async fn fail(own: &Api<DynamicObject>, obj: &DynamicObject, reason: &str, message: String) -> Result<Action, Error> {
    runner::write_lifecycle(own, obj, &Lifecycle::new(phase::FAILED, Some(reason), Some(message.clone())), None)
        .await?;
    Err(Error::Reported(format!("{}: {message}", obj.name_any())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry_obj(name: &str, labels: Value, deleting: bool) -> DynamicObject {
        let mut meta = json!({"name": name, "labels": labels});
        if deleting {
            meta["deletionTimestamp"] = json!("2026-12-07T00:00:00Z");
        }
        serde_json::from_value(json!({"metadata": meta, "spec": {"name": "team"}})).unwrap()
    }

    #[test]
    fn the_mirror_is_told_from_another_object_of_the_same_name() {
        let mine = registry_obj("rns-1", json!({PROJECT_LABEL: "prj-a", OBJECT_LABEL: "team"}), false);
        let other_project = registry_obj("rns-2", json!({PROJECT_LABEL: "prj-b", OBJECT_LABEL: "team"}), false);
        let by_hand = registry_obj("rns-3", json!({}), false);
        assert_eq!(next(&[], "prj-a", "team"), Next::Create);
        assert_eq!(next(std::slice::from_ref(&mine), "prj-a", "team"), Next::Available);
        assert_eq!(next(&[by_hand.clone(), mine.clone()], "prj-a", "team"), Next::Available);
        assert_eq!(next(&[by_hand], "prj-a", "team"), Next::Taken("rns-3".into()));
        assert_eq!(next(&[other_project], "prj-a", "team"), Next::Taken("rns-2".into()));
        let going = registry_obj("rns-1", json!({PROJECT_LABEL: "prj-a", OBJECT_LABEL: "team"}), true);
        assert_eq!(next(&[going], "prj-a", "team"), Next::WaitForOld);
        // Someone else's object on its way out frees the name.
        let other_going = registry_obj("rns-4", json!({}), true);
        assert_eq!(next(&[other_going], "prj-a", "team"), Next::Create);
    }

    #[test]
    fn registry_specs() {
        let spec = ProjectItemSpec {
            name: "team".into(),
            tenant_id: Some("t1".into()),
            display_name: "Team".into(),
            ..Default::default()
        };
        let ns: api::registry::Namespace =
            serde_json::from_value(json!({"spec": registry_namespace_spec("prj-a", &spec)})).unwrap();
        assert_eq!((ns.spec.name.as_str(), ns.tenant(), ns.spec.visibility.as_str()), ("team", "t1", "Private"));
        assert_eq!(ns.spec.display_name.as_deref(), Some("Team"));
        let g: api::registry::ChartGroup =
            serde_json::from_value(json!({"spec": registry_chart_group_spec("prj-a", &spec)})).unwrap();
        assert_eq!((g.spec.visibility.as_str(), g.spec.type_.as_str()), ("Project", "SelfBuilt"));
        assert_eq!(g.spec.projects, Some(vec!["prj-a".to_string()]));
        let blank = ProjectItemSpec { display_name: " ".into(), ..spec };
        assert!(registry_namespace_spec("prj-a", &blank)["displayName"].is_null());
    }
}
