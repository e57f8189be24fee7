//! The Platform controller (reference 3.7, 4.3): the administrators named by a tenant's
//! business Platforms are the tenant's administrators, kept in its IdentityProvider's
//! `spec.administrators` (the IdentityProvider is named like the tenant). A name added to a
//! Platform is added there; a name left out of every Platform of the tenant (or whose Platform
//! is deleted) is removed, but only if this controller added it: administrators set on the
//! IdentityProvider by other means stay, and so does the bootstrap administrator of tenant
//! `default`. The names it added are kept in the IdentityProvider's annotation
//! [`MANAGED_ANNOTATION`].
//!
//! It reconciles IdentityProviders (one per tenant), woken by every change of a Platform,
//! deletions included, so it needs no finalizer on Platforms.

use std::{collections::BTreeSet, sync::Arc};

use kube::{
    Api, Client, ResourceExt,
    api::{ApiResource, DynamicObject, Patch, PatchParams},
    runtime::controller::Action,
};
use serde_json::json;

use crate::runner::{self, Error, Watch};

/// Annotation of an IdentityProvider: the administrators (JSON list of user names) added from
/// business Platforms.
pub const MANAGED_ANNOTATION: &str = "business.tkestack.io/platform-administrators";

/// The administrator `tke up` creates in tenant `default` (the auth component's bootstrap
/// `admin`): never removed, so that the platform keeps someone who can undo a mistake.
pub const BOOTSTRAP_ADMIN: &str = "admin";

fn idp_resource() -> ApiResource {
    runner::resource(api::auth::GROUP, api::auth::VERSION, api::auth::identity_provider::KIND, "identityproviders")
}

/// The administrators after a sync, and the names the controller then manages.
#[derive(Debug, PartialEq)]
pub struct Synced {
    pub administrators: Vec<String>,
    pub managed: BTreeSet<String>,
}

/// Computes the IdentityProvider's administrators from its `current` ones, the names the
/// controller added before (`managed`) and what the tenant's Platforms name (`wanted`).
/// `protected` is never removed. The order of the current administrators is kept; new ones
/// are appended.
pub fn sync(
    current: &[String],
    managed: &BTreeSet<String>,
    wanted: &BTreeSet<String>,
    protected: Option<&str>,
) -> Synced {
    let mut administrators: Vec<String> = current
        .iter()
        .filter(|a| wanted.contains(*a) || !managed.contains(*a) || Some(a.as_str()) == protected)
        .cloned()
        .collect();
    let mut now_managed: BTreeSet<String> =
        managed.iter().filter(|m| wanted.contains(*m) && Some(m.as_str()) != protected).cloned().collect();
    for w in wanted {
        if !administrators.contains(w) {
            administrators.push(w.clone());
            if Some(w.as_str()) != protected {
                now_managed.insert(w.clone());
            }
        }
    }
    Synced { administrators, managed: now_managed }
}

/// Runs the Platform controller until `shutdown` resolves.
pub async fn run(client: Client, shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static) {
    let main = idp_resource();
    let target = main.clone();
    let mapper: runner::Mapper = Arc::new(move |o: &DynamicObject| {
        o.data["spec"]["tenantID"]
            .as_str()
            .filter(|t| !t.is_empty())
            .map(|t| runner::object_ref(&target, t, None))
            .into_iter()
            .collect()
    });
    let watches = vec![Watch { resource: runner::business(api::business::platform::KIND, "platforms"), mapper }];
    runner::run(
        client.clone(),
        main,
        "platform administrators",
        watches,
        move |idp| {
            let client = client.clone();
            async move { reconcile(idp, &client).await }
        },
        shutdown,
    )
    .await;
}

async fn reconcile(idp: Arc<DynamicObject>, client: &Client) -> Result<Action, Error> {
    if runner::deleting(&idp) {
        return Ok(Action::await_change());
    }
    let tenant = idp.name_any();
    let platforms: Api<DynamicObject> =
        Api::all_with(client.clone(), &runner::business(api::business::platform::KIND, "platforms"));
    let mut wanted = BTreeSet::new();
    for p in runner::list(&platforms, &format!("spec.tenantID={tenant}")).await? {
        if runner::deleting(&p) {
            continue;
        }
        let admins: api::business::Platform = runner::decode("platform", &p)?;
        wanted.extend(admins.spec.administrators.iter().map(|a| a.trim().to_string()).filter(|a| !a.is_empty()));
    }
    let current: Vec<String> = idp.data["spec"]["administrators"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a.as_str().map(str::to_string))
        .collect();
    let managed: BTreeSet<String> = idp
        .annotations()
        .get(MANAGED_ANNOTATION)
        .and_then(|v| serde_json::from_str::<Vec<String>>(v).ok())
        .unwrap_or_default()
        .into_iter()
        .collect();
    let protected = (tenant == apiserver::resource::DEFAULT_TENANT).then_some(BOOTSTRAP_ADMIN);
    let synced = sync(&current, &managed, &wanted, protected);
    if synced.administrators == current && synced.managed == managed {
        return Ok(Action::await_change());
    }
    let list = serde_json::to_string(&synced.managed).unwrap_or_default();
    // The resourceVersion read makes the patch fail (and the sync run again) if someone
    // changed the administrators meanwhile, rather than overwrite their change.
    let patch = json!({
        "metadata": {"resourceVersion": idp.resource_version(), "annotations": {MANAGED_ANNOTATION: list}},
        "spec": {"administrators": synced.administrators},
    });
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &idp_resource());
    api.patch(&tenant, &PatchParams::default(), &Patch::Merge(&patch)).await?;
    tracing::info!(%tenant, administrators = ?synced.administrators, "tenant administrators synced from platforms");
    Ok(Action::await_change())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }
    fn list(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn platform_administrators_are_added_and_removed() {
        // Added after the existing ones, and managed from then on.
        let s = sync(&list(&["admin"]), &set(&[]), &set(&["carol", "dave"]), Some("admin"));
        assert_eq!(s, Synced { administrators: list(&["admin", "carol", "dave"]), managed: set(&["carol", "dave"]) });
        // Dropped from the platforms: removed.
        let s = sync(&s.administrators, &s.managed, &set(&["dave"]), Some("admin"));
        assert_eq!(s, Synced { administrators: list(&["admin", "dave"]), managed: set(&["dave"]) });
        // Nothing changes: the same answer.
        assert_eq!(sync(&s.administrators, &s.managed, &set(&["dave"]), Some("admin")), s);
    }

    #[test]
    fn administrators_set_by_other_means_and_the_bootstrap_admin_stay() {
        // eve was an administrator before any platform named her: kept when the platform drops her.
        let s = sync(&list(&["admin", "eve"]), &set(&[]), &set(&["eve", "admin"]), Some("admin"));
        assert_eq!(s, Synced { administrators: list(&["admin", "eve"]), managed: set(&[]) });
        let s = sync(&s.administrators, &s.managed, &set(&[]), Some("admin"));
        assert_eq!(s.administrators, list(&["admin", "eve"]));
        // The bootstrap admin of tenant default is never removed, even if recorded as managed.
        let s = sync(&list(&["admin", "carol"]), &set(&["admin", "carol"]), &set(&[]), Some("admin"));
        assert_eq!(s, Synced { administrators: list(&["admin"]), managed: set(&[]) });
        // In another tenant an "admin" is an ordinary name.
        let s = sync(&list(&["admin"]), &set(&["admin"]), &set(&[]), None);
        assert!(s.administrators.is_empty());
    }
}
