//! tke-rs' own CronHPA: the `extensions.tkestack.io/v1` CronHPA resource of TKEStack
//! ([`types`]) and a controller ([`run`]) that scales any workload with a `scale` subresource
//! (Deployments, StatefulSets, custom resources) on cron schedules read in each CronHPA's time
//! zone ([`schedule`]), recording the last and next run of every cron in the status.
//!
//! A `tke cronhpa` command runs it as: [`install_crd`] once, then [`run`] with a client of the
//! business cluster.

pub mod controller;
pub mod schedule;
pub mod types;

use std::time::{Duration, Instant};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::{
    Api, Client, CustomResourceExt,
    api::{Patch, PatchParams},
};

pub use controller::{Clock, Error, Options, run};
pub use types::{CronHPA, CronHPASpec, CronHPAStatus};

/// The CronHPA CustomResourceDefinition.
pub fn crd() -> CustomResourceDefinition {
    CronHPA::crd()
}

/// Applies the CRD (server-side apply, so it is idempotent) and waits until the cluster has
/// established it, at most `timeout`.
pub async fn install_crd(client: &Client, timeout: Duration) -> Result<(), Error> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd = crd();
    let name = crd.metadata.name.clone().unwrap_or_default();
    api.patch(&name, &PatchParams::apply("cronhpa").force(), &Patch::Apply(&crd)).await?;
    let deadline = Instant::now() + timeout;
    loop {
        let current = api.get(&name).await?;
        let established = current
            .status
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True");
        if established {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(Error::Other(format!("the CRD {name} was not established within {timeout:?}")));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
