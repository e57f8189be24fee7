//! The project quota gauges of reference 7.4 on the platform's `/metrics`, recomputed every
//! minute from the business projects and namespaces (followed by watches, so a computation
//! reads memory only). CPU in cores, memory in bytes, other resources in their units; label
//! `resource` names the resource.
//!
//! | gauge | labels | value |
//! |---|---|---|
//! | `project_capacity` | `project_name` | the project's quota over all its clusters |
//! | `project_capacity_cluster` | `project_name`, `cluster_name` | its quota in one cluster |
//! | `project_allocated` | `project_name` | what its namespaces and sub-projects take, over all clusters |
//! | `project_cluster_capacity` | `cluster_name` | the quotas of every project in the cluster |
//! | `project_cluster_allocated` | `cluster_name` | what every project takes in the cluster |
//! | `project_namespace_capacity` | `project_name`, `cluster_name`, `namespace`, `namespace_name` | a namespace's quota |
//! | `project_namespace_allocated` | same | what the namespace uses |

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use api::business::{Namespace, Project};
use auth::index::Index;
use prometheus_client::registry::Registry;
use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{family::Family, gauge::Gauge},
};

type FloatGauge = Gauge<f64, std::sync::atomic::AtomicU64>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet, Default)]
pub struct QuotaLabels {
    pub project_name: String,
    pub cluster_name: String,
    pub namespace: String,
    pub namespace_name: String,
    pub resource: String,
}

/// The gauges, registered once on the server's registry.
pub struct Gauges {
    families: Vec<(&'static str, Family<QuotaLabels, FloatGauge>)>,
}

const NAMES: [(&str, &str); 7] = [
    ("project_capacity", "A project's quota over all its clusters"),
    ("project_capacity_cluster", "A project's quota in one cluster"),
    ("project_allocated", "What a project's namespaces and sub-projects take over all clusters"),
    ("project_cluster_capacity", "The quotas of every project in a cluster"),
    ("project_cluster_allocated", "What every project takes in a cluster"),
    ("project_namespace_capacity", "A project namespace's quota"),
    ("project_namespace_allocated", "What a project namespace uses"),
];

fn amount(q: &str) -> f64 {
    apimachinery::quantity::milli_units(q).map(|m| m as f64 / 1000.0).unwrap_or(0.0)
}

impl Gauges {
    /// The gauges, registered in `registry` (the API server's, so `/metrics` shows them).
    pub fn register(registry: &mut Registry) -> Arc<Gauges> {
        let families: Vec<(&'static str, Family<QuotaLabels, FloatGauge>)> =
            NAMES.iter().map(|(n, _)| (*n, Family::default())).collect();
        for ((name, help), (_, f)) in NAMES.iter().zip(&families) {
            registry.register(*name, *help, f.clone());
        }
        Arc::new(Gauges { families })
    }

    fn family(&self, name: &str) -> &Family<QuotaLabels, FloatGauge> {
        &self.families.iter().find(|(n, _)| *n == name).expect("every gauge is registered").1
    }

    /// Sets every gauge from the projects and namespaces.
    pub fn compute(&self, projects: &[Arc<Project>], namespaces: &[Arc<Namespace>]) {
        let mut values: BTreeMap<(&str, QuotaLabels), f64> = BTreeMap::new();
        let mut add = |name: &'static str, labels: QuotaLabels, v: f64| *values.entry((name, labels)).or_default() += v;
        for p in projects {
            let project = p.name().to_string();
            for (cluster, hard) in &p.spec.clusters {
                for (r, q) in &hard.hard {
                    let v = amount(q);
                    let l = QuotaLabels { project_name: project.clone(), resource: r.clone(), ..Default::default() };
                    add("project_capacity", l.clone(), v);
                    add("project_capacity_cluster", QuotaLabels { cluster_name: cluster.clone(), ..l }, v);
                    add(
                        "project_cluster_capacity",
                        QuotaLabels { cluster_name: cluster.clone(), resource: r.clone(), ..Default::default() },
                        v,
                    );
                }
            }
            for (cluster, used) in p.status.as_ref().map(|s| &s.clusters).into_iter().flatten() {
                for (r, q) in &used.used {
                    let v = amount(q);
                    add(
                        "project_allocated",
                        QuotaLabels { project_name: project.clone(), resource: r.clone(), ..Default::default() },
                        v,
                    );
                    add(
                        "project_cluster_allocated",
                        QuotaLabels { cluster_name: cluster.clone(), resource: r.clone(), ..Default::default() },
                        v,
                    );
                }
            }
        }
        for n in namespaces {
            let base = QuotaLabels {
                project_name: n
                    .metadata
                    .pointer("/namespace")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                cluster_name: n.spec.cluster_name.clone(),
                namespace: n.spec.namespace.clone(),
                namespace_name: n.name().to_string(),
                resource: String::new(),
            };
            for (r, q) in &n.spec.hard {
                add("project_namespace_capacity", QuotaLabels { resource: r.clone(), ..base.clone() }, amount(q));
            }
            for (r, q) in n.status.as_ref().map(|s| &s.used).into_iter().flatten() {
                add("project_namespace_allocated", QuotaLabels { resource: r.clone(), ..base.clone() }, amount(q));
            }
        }
        // Gone projects and namespaces leave no gauge behind.
        for (_, f) in &self.families {
            f.clear();
        }
        for ((name, labels), v) in values {
            self.family(name).get_or_create(&labels).set(v);
        }
    }

    /// Recomputes every `interval` for as long as the process serves.
    pub fn spawn(
        self: &Arc<Self>,
        projects: Arc<Index<Project>>,
        namespaces: Arc<Index<Namespace>>,
        interval: Duration,
    ) {
        let gauges = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            loop {
                tick.tick().await;
                gauges.compute(&projects.all(), &namespaces.all());
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn gauges_follow_projects_and_namespaces() {
        let mut registry = Registry::default();
        let gauges = Gauges::register(&mut registry);
        let project: Project = serde_json::from_value(json!({
            "metadata": {"name": "prj-a"},
            "spec": {"clusters": {"cls-a": {"hard": {"cpu": "4", "memory": "1Gi"}}, "cls-b": {"hard": {"cpu": "2"}}}},
            "status": {"clusters": {"cls-a": {"used": {"cpu": "1500m"}}}},
        }))
        .expect("project");
        let ns: Namespace = serde_json::from_value(json!({
            "metadata": {"name": "ns-1", "namespace": "prj-a"},
            "spec": {"clusterName": "cls-a", "namespace": "team", "hard": {"cpu": "1500m"}},
            "status": {"used": {"cpu": "250m"}},
        }))
        .expect("namespace");
        gauges.compute(&[Arc::new(project)], &[Arc::new(ns)]);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encode");
        for line in [
            r#"project_capacity{project_name="prj-a",cluster_name="",namespace="",namespace_name="",resource="cpu"} 6.0"#,
            r#"project_capacity_cluster{project_name="prj-a",cluster_name="cls-b",namespace="",namespace_name="",resource="cpu"} 2.0"#,
            r#"project_allocated{project_name="prj-a",cluster_name="",namespace="",namespace_name="",resource="cpu"} 1.5"#,
            r#"project_cluster_capacity{project_name="",cluster_name="cls-a",namespace="",namespace_name="",resource="memory"} 1073741824.0"#,
            r#"project_namespace_allocated{project_name="prj-a",cluster_name="cls-a",namespace="team",namespace_name="ns-1",resource="cpu"} 0.25"#,
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
        // A project that is gone leaves nothing.
        gauges.compute(&[], &[]);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encode");
        assert!(!text.contains("prj-a"), "{text}");
    }
}
