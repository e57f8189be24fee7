//! What the platform reads from a live business cluster: its Kubernetes version and vendor, the
//! resources of its nodes (capacity and allocatable summed over nodes, allocated summed over the
//! requests of running pods) and the replicas of its kube-system components.

use std::collections::BTreeMap;

use api::platform::cluster::{ClusterComponent, ClusterComponentReplicas, ClusterResource};
// Re-exported: other code read them here before they moved to apimachinery.
pub use apimachinery::quantity::{format_milli, milli_units};
use k8s_openapi::{
    api::{
        apps::v1::{DaemonSet, Deployment},
        core::v1::{Node, Pod},
    },
    apimachinery::pkg::api::resource::Quantity,
};
use kube::{Api, Client, api::ListParams};
use serde_json::Value;

/// The version without its leading `v` (`v1.32.1+k3s1` → `1.32.1+k3s1`).
pub fn version_of(git_version: &str) -> String {
    git_version.trim().trim_start_matches('v').to_string()
}

/// `major.minor` of a version, if it has them.
pub fn major_minor(version: &str) -> Option<(u64, u64)> {
    let mut parts = version_of(version)
        .split(['.', '-', '+'])
        .take(2)
        .map(|p| p.parse::<u64>().ok())
        .collect::<Vec<_>>()
        .into_iter();
    Some((parts.next()??, parts.next()??))
}

/// The oldest Kubernetes version that may be imported.
pub const MIN_VERSION: (u64, u64) = (1, 10);

/// The distribution, guessed from the version string as TKEStack does (`TKE`, `EKS`, `GKE`,
/// `AKS`, `IKS`, `ICP`, `OpenShift`, else `Other`).
pub fn vendor_of(git_version: &str) -> &'static str {
    let v = git_version.to_ascii_lowercase();
    if v.contains("tke") {
        "TKE"
    } else if v.contains("eks") {
        "EKS"
    } else if v.contains("gke") {
        "GKE"
    } else if v.contains("aks") || v.contains("azure") {
        "AKS"
    } else if v.contains("iks") {
        "IKS"
    } else if v.contains("icp") {
        "ICP"
    } else if v.contains("openshift") || v.contains("ocp") {
        "OpenShift"
    } else {
        "Other"
    }
}

fn add_all(sum: &mut BTreeMap<String, i128>, quantities: Option<&BTreeMap<String, Quantity>>) {
    for (k, q) in quantities.into_iter().flatten() {
        if let Some(v) = milli_units(&q.0) {
            *sum.entry(k.clone()).or_default() += v;
        }
    }
}

fn formatted(sum: BTreeMap<String, i128>) -> BTreeMap<String, Value> {
    sum.into_iter().map(|(k, v)| (k, Value::String(format_milli(v)))).collect()
}

/// Resources of the cluster from its nodes and pods.
pub async fn resources(client: &Client) -> Result<ClusterResource, kube::Error> {
    let nodes = Api::<Node>::all(client.clone()).list(&ListParams::default()).await?;
    let (mut capacity, mut allocatable) = (BTreeMap::new(), BTreeMap::new());
    for n in &nodes.items {
        let status = n.status.as_ref();
        add_all(&mut capacity, status.and_then(|s| s.capacity.as_ref()));
        add_all(&mut allocatable, status.and_then(|s| s.allocatable.as_ref()));
    }
    let pods = Api::<Pod>::all(client.clone()).list(&ListParams::default()).await?;
    let mut allocated = BTreeMap::new();
    for p in &pods.items {
        let phase = p.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("");
        if matches!(phase, "Succeeded" | "Failed") {
            continue;
        }
        for c in p.spec.iter().flat_map(|s| s.containers.iter()) {
            add_all(&mut allocated, c.resources.as_ref().and_then(|r| r.requests.as_ref()));
        }
    }
    Ok(ClusterResource {
        capacity: Some(formatted(capacity)),
        allocatable: Some(formatted(allocatable)),
        allocated: Some(formatted(allocated)),
    })
}

/// Replicas of the kube-system Deployments and DaemonSets (CoreDNS, kube-proxy, CNI...).
pub async fn components(client: &Client) -> Result<Vec<ClusterComponent>, kube::Error> {
    let mut out = vec![];
    for d in Api::<Deployment>::namespaced(client.clone(), "kube-system").list(&ListParams::default()).await?.items {
        let s = d.status.unwrap_or_default();
        out.push(ClusterComponent {
            type_: d.metadata.name.unwrap_or_default(),
            replicas: ClusterComponentReplicas {
                desired: d.spec.replicas.unwrap_or(1) as i64,
                current: s.replicas.unwrap_or(0) as i64,
                available: s.available_replicas.unwrap_or(0) as i64,
                updated: s.updated_replicas.unwrap_or(0) as i64,
            },
        });
    }
    for d in Api::<DaemonSet>::namespaced(client.clone(), "kube-system").list(&ListParams::default()).await?.items {
        let s = d.status.unwrap_or_default();
        out.push(ClusterComponent {
            type_: d.metadata.name.unwrap_or_default(),
            replicas: ClusterComponentReplicas {
                desired: s.desired_number_scheduled as i64,
                current: s.current_number_scheduled as i64,
                available: s.number_available.unwrap_or(0) as i64,
                updated: s.updated_number_scheduled.unwrap_or(0) as i64,
            },
        });
    }
    out.sort_by(|a, b| a.type_.cmp(&b.type_));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_and_vendors() {
        assert_eq!(version_of("v1.32.1"), "1.32.1");
        assert_eq!(major_minor("v1.21.4-tke.3"), Some((1, 21)));
        assert_eq!(major_minor("1.9.11"), Some((1, 9)));
        assert!(major_minor("1.9.11").expect("parsed") < MIN_VERSION);
        assert_eq!(major_minor("garbage"), None);
        assert_eq!(vendor_of("v1.21.4-tke.3"), "TKE");
        assert_eq!(vendor_of("v1.29.3-eks-adc7111"), "EKS");
        assert_eq!(vendor_of("v1.30.5-gke.1014001"), "GKE");
        assert_eq!(vendor_of("v1.32.0"), "Other");
    }
}
