//! CustomResourceDefinitions served as a real cluster serves them: a controller watches CRDs
//! through the cluster's API (like Kubernetes' apiextensions controllers) and adds each served
//! version's resource to the in-process API server (names, short names, categories, scope, the
//! status and scale subresources, printer columns), removes what a CRD no longer serves, and
//! reports `NamesAccepted` and `Established` in the CRD's status. A deleted CRD first loses its
//! custom objects (the `customresourcecleanup` finalizer), then its resources.

use std::{collections::HashMap, sync::Arc};

use apimachinery::ApiError;
use apiserver::{
    ApiServer, Context,
    dynamic::{CustomColumn, CustomResource, intern},
    store::{DeleteOptions, ListOptions},
};
use futures::StreamExt;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, CustomResourceDefinitionCondition, CustomResourceDefinitionStatus,
};
use kube::{
    Api, Client, ResourceExt,
    api::{Patch, PatchParams},
    runtime::{WatchStreamExt, watcher},
};
use serde_json::json;

use crate::scale::{self, ScalePaths};

/// The finalizer Kubernetes puts on every CRD so its custom objects go before it does.
pub const CLEANUP_FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";

/// One served version of a CRD as the server serves it.
#[derive(Clone, Debug, PartialEq)]
struct Served {
    resource: CustomResource,
    scale: Option<ScalePaths>,
}

/// What a CRD asks for, or why it cannot be served.
fn desired(crd: &CustomResourceDefinition) -> Result<Vec<Served>, (String, String)> {
    let spec = &crd.spec;
    let names = &spec.names;
    let expected = format!("{}.{}", names.plural, spec.group);
    if crd.name_any() != expected {
        return Err(("InvalidName".into(), format!("the name must be spec.names.plural+\".\"+spec.group: {expected}")));
    }
    if spec.group.is_empty() || !spec.group.contains('.') {
        return Err((
            "InvalidGroup".into(),
            format!("spec.group {:?} should be a domain with at least one dot", spec.group),
        ));
    }
    if names.kind.is_empty() {
        return Err(("InvalidNames".into(), "spec.names.kind is required".into()));
    }
    let namespaced = match spec.scope.as_str() {
        "Namespaced" => true,
        "Cluster" => false,
        other => {
            return Err(("InvalidScope".into(), format!("spec.scope must be Namespaced or Cluster, not {other:?}")));
        }
    };
    if spec.versions.iter().filter(|v| v.storage).count() != 1 {
        return Err(("InvalidVersions".into(), "exactly one version must be the storage version".into()));
    }
    let singular = names.singular.clone().filter(|s| !s.is_empty()).unwrap_or_else(|| names.kind.to_lowercase());
    Ok(spec
        .versions
        .iter()
        .filter(|v| v.served)
        .map(|v| {
            let subresources = v.subresources.as_ref();
            let columns = v
                .additional_printer_columns
                .iter()
                .flatten()
                .map(|c| CustomColumn {
                    name: c.name.clone(),
                    type_: c.type_.clone(),
                    json_path: c.json_path.clone(),
                    description: c.description.clone().unwrap_or_default(),
                    priority: c.priority.unwrap_or(0),
                })
                .collect();
            Served {
                resource: CustomResource {
                    group: spec.group.clone(),
                    version: v.name.clone(),
                    kind: names.kind.clone(),
                    plural: names.plural.clone(),
                    singular: singular.clone(),
                    short_names: names.short_names.clone().unwrap_or_default(),
                    categories: names.categories.clone().unwrap_or_default(),
                    namespaced,
                    status: subresources.is_some_and(|s| s.status.is_some()),
                    columns,
                },
                scale: subresources.and_then(|s| s.scale.as_ref()).map(|s| ScalePaths {
                    spec_replicas: s.spec_replicas_path.clone(),
                    status_replicas: s.status_replicas_path.clone(),
                    label_selector: s.label_selector_path.clone(),
                }),
            }
        })
        .collect())
}

fn admin() -> Context {
    Context::system("system:apiextensions", None)
}

/// The controller's memory: what each CRD made the server serve.
struct Controller {
    server: Arc<ApiServer>,
    api: Api<CustomResourceDefinition>,
    served: HashMap<String, Vec<Served>>,
}

impl Controller {
    fn remove(&mut self, name: &str) {
        for s in self.served.remove(name).unwrap_or_default() {
            self.server.remove_resource(&s.resource.group, &s.resource.version, &s.resource.plural);
        }
    }

    /// Serves exactly `want` for CRD `name`: adds what changed, removes what is gone. Err is the
    /// server's first refusal (names another resource has, typically); the rest is still served.
    async fn serve(&mut self, name: &str, want: Vec<Served>) -> Result<(), ApiError> {
        let have = self.served.get(name).cloned().unwrap_or_default();
        for old in &have {
            if !want
                .iter()
                .any(|w| w.resource.version == old.resource.version && w.resource.plural == old.resource.plural)
            {
                self.server.remove_resource(&old.resource.group, &old.resource.version, &old.resource.plural);
            }
        }
        let mut now = vec![];
        let mut failure = None;
        for w in want {
            if have.contains(&w)
                && self.server.resource_store(&w.resource.group, &w.resource.version, &w.resource.plural).is_some()
            {
                now.push(w);
                continue;
            }
            match self.server.add_resource(w.resource.to_def()).await {
                Ok(()) => {
                    if let Some(paths) = &w.scale {
                        let r = &w.resource;
                        if let Err(e) = scale::register(
                            &self.server,
                            intern(&r.group),
                            intern(&r.version),
                            intern(&r.plural),
                            paths.clone(),
                        ) {
                            failure.get_or_insert(e);
                        }
                    }
                    now.push(w);
                }
                Err(e) => {
                    failure.get_or_insert(e);
                }
            }
        }
        self.served.insert(name.to_string(), now);
        failure.map_or(Ok(()), Err)
    }

    async fn reconcile(&mut self, crd: &CustomResourceDefinition) {
        let name = crd.name_any();
        if crd.metadata.deletion_timestamp.is_some() {
            self.finalize(crd).await;
            return;
        }
        let finalizers = crd.finalizers();
        if !finalizers.iter().any(|f| f == CLEANUP_FINALIZER) {
            let mut list = finalizers.to_vec();
            list.push(CLEANUP_FINALIZER.into());
            if let Err(e) = self
                .api
                .patch(&name, &PatchParams::default(), &Patch::Merge(json!({"metadata": {"finalizers": list}})))
                .await
            {
                tracing::debug!(crd = %name, error = %e, "adding the cleanup finalizer failed");
            }
        }
        let (names_accepted, established) = match desired(crd) {
            Ok(want) => match self.serve(&name, want).await {
                Ok(()) => (
                    ("True", "NoConflicts".to_string(), "no conflicts found".to_string()),
                    ("True", "InitialNamesAccepted".to_string(), "the initial names have been accepted".to_string()),
                ),
                Err(e) => (
                    ("False", "NameConflict".into(), e.message),
                    ("False", "NotAccepted".into(), "not all names are accepted".into()),
                ),
            },
            Err((reason, message)) => {
                self.remove(&name);
                (("False", reason, message), ("False", "NotAccepted".into(), "not all names are accepted".into()))
            }
        };
        let mut status = crd.status.clone().unwrap_or_default();
        let mut changed = false;
        let accepted = (names_accepted.0 == "True").then(|| crd.spec.names.clone());
        if accepted.is_some() && status.accepted_names != accepted {
            status.accepted_names = accepted;
            changed = true;
        }
        if let Some(storage) = crd.spec.versions.iter().find(|v| v.storage) {
            let stored = status.stored_versions.get_or_insert_with(Vec::new);
            if !stored.contains(&storage.name) {
                stored.push(storage.name.clone());
                changed = true;
            }
        }
        changed |= set_condition(&mut status, "NamesAccepted", names_accepted);
        changed |= set_condition(&mut status, "Established", established);
        if changed {
            let patch = json!({"status": status});
            if let Err(e) = self.api.patch_status(&name, &PatchParams::default(), &Patch::Merge(patch)).await {
                tracing::debug!(crd = %name, error = %e, "updating the CRD's status failed");
            }
        }
    }

    /// A CRD being deleted: its custom objects go, then its resources, then the finalizer.
    async fn finalize(&mut self, crd: &CustomResourceDefinition) {
        let name = crd.name_any();
        if !crd.finalizers().iter().any(|f| f == CLEANUP_FINALIZER) {
            self.remove(&name);
            return;
        }
        let storage = self.served.get(&name).and_then(|s| s.first()).map(|s| s.resource.clone());
        if let Some(r) = storage
            && let Some(store) = self.server.resource_store(&r.group, &r.version, &r.plural)
            && let Err(e) = store.delete_collection(&admin(), &ListOptions::default(), &DeleteOptions::default()).await
        {
            tracing::warn!(crd = %name, error = %e, "deleting the custom objects failed");
        }
        self.remove(&name);
        let rest: Vec<String> = crd.finalizers().iter().filter(|f| *f != CLEANUP_FINALIZER).cloned().collect();
        if let Err(e) = self
            .api
            .patch(&name, &PatchParams::default(), &Patch::Merge(json!({"metadata": {"finalizers": rest}})))
            .await
        {
            tracing::debug!(crd = %name, error = %e, "removing the cleanup finalizer failed");
        }
    }
}

/// Sets a condition, keeping its transition time when its status did not change. Returns
/// whether anything changed.
fn set_condition(
    status: &mut CustomResourceDefinitionStatus,
    type_: &str,
    (value, reason, message): (&str, String, String),
) -> bool {
    let conditions = status.conditions.get_or_insert_with(Vec::new);
    let now = k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(k8s_openapi::jiff::Timestamp::now());
    match conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(c)
            if c.status == value
                && c.reason.as_deref() == Some(reason.as_str())
                && c.message.as_deref() == Some(message.as_str()) =>
        {
            false
        }
        Some(c) => {
            if c.status != value {
                c.last_transition_time = Some(now);
            }
            c.status = value.into();
            c.reason = Some(reason);
            c.message = Some(message);
            true
        }
        None => {
            conditions.push(CustomResourceDefinitionCondition {
                type_: type_.into(),
                status: value.into(),
                reason: Some(reason),
                message: Some(message),
                last_transition_time: Some(now),
                observed_generation: None,
            });
            true
        }
    }
}

/// Runs the CRD controller until the task is aborted.
pub async fn run(client: Client, server: Arc<ApiServer>) {
    let api: Api<CustomResourceDefinition> = Api::all(client);
    let mut controller = Controller { server, api: api.clone(), served: HashMap::new() };
    let mut listed: Vec<String> = vec![];
    let mut events = watcher(api, watcher::Config::default()).default_backoff().boxed();
    while let Some(event) = events.next().await {
        match event {
            Ok(watcher::Event::Init) => listed.clear(),
            Ok(watcher::Event::InitApply(crd)) => {
                listed.push(crd.name_any());
                controller.reconcile(&crd).await;
            }
            Ok(watcher::Event::InitDone) => {
                // CRDs deleted while the watch was down.
                let gone: Vec<String> = controller.served.keys().filter(|n| !listed.contains(n)).cloned().collect();
                for name in gone {
                    controller.remove(&name);
                }
            }
            Ok(watcher::Event::Apply(crd)) => controller.reconcile(&crd).await,
            Ok(watcher::Event::Delete(crd)) => controller.remove(&crd.name_any()),
            Err(e) => tracing::debug!(error = %e, "watching CRDs failed; the watcher retries with back-off"),
        }
    }
}
