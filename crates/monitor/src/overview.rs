//! `POST /apis/monitor.tkestack.io/v1/clusteroverviews` (reference 7.3): the dashboard's totals
//! and one line per cluster the caller may see, computed from in-memory views only — the
//! clusters and projects (followed by watches on the platform's own store) and each cluster's
//! latest sampled numbers ([`crate::metrics::sampler`]) — so 1,000 clusters cost a pass over
//! 1,000 entries and no store or cluster access.

use std::sync::Arc;

use api::{
    business::Project,
    monitor::cluster_overview::{ClusterOverviewResult, ClusterStatistic},
    platform::Cluster,
};
use apiserver::UserInfo;
use auth::index::Index;

use crate::{access::Scope, metrics::sampler::Sampled};

/// What overviews are computed from.
pub struct Overviews {
    pub clusters: Arc<Index<Cluster>>,
    pub projects: Option<Arc<Index<Project>>>,
    pub sampled: Arc<Sampled>,
}

impl Overviews {
    /// The overview of the clusters `user` may see (an administrator's limited to `tenants`
    /// when given).
    pub fn compute(&self, user: &UserInfo, tenants: &[String]) -> ClusterOverviewResult {
        let scope = Scope::of(user);
        let in_scope = |tenant: &str| {
            if scope.admin { tenants.is_empty() || tenants.iter().any(|t| t == tenant) } else { tenant == scope.tenant }
        };
        let mut r = ClusterOverviewResult::default();
        let mut clusters: Vec<ClusterStatistic> = vec![];
        for c in self.clusters.all() {
            let tenant = c.spec.tenant_id.as_deref().unwrap_or(apiserver::resource::DEFAULT_TENANT);
            if !in_scope(tenant) {
                continue;
            }
            let phase = c.phase().to_string();
            let mut s = match self.sampled.latest(c.name()) {
                Some(l) => l.statistic,
                None => ClusterStatistic { cluster_id: c.name().to_string(), ..Default::default() },
            };
            // The object is newer than the last sample for what it says itself.
            s.cluster_phase = phase.clone();
            s.tenant_id = tenant.to_string();
            s.display_name = c.spec.display_name.clone().filter(|d| !d.is_empty()).unwrap_or_else(|| c.name().into());
            r.cluster_count += 1;
            if phase != "Running" {
                r.cluster_abnormal += 1;
            }
            r.node_count += s.node_count;
            r.node_abnormal += s.node_abnormal;
            r.workload_count += s.workload_count;
            r.workload_abnormal += s.workload_abnormal;
            r.pod_count += s.pod_count;
            r.cpu_capacity += s.cpu_capacity;
            r.cpu_allocatable += s.cpu_allocatable;
            r.mem_capacity += s.mem_capacity;
            r.mem_allocatable += s.mem_allocatable;
            clusters.push(s);
        }
        clusters.sort_by(|a, b| a.cluster_id.cmp(&b.cluster_id));
        r.clusters = clusters;
        if let Some(projects) = &self.projects {
            for p in projects.all() {
                let tenant = p.tenant();
                if !in_scope(tenant) {
                    continue;
                }
                r.project_count += 1;
                if p.phase() != "Active" {
                    r.project_abnormal += 1;
                }
            }
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use apiserver::{Context, store::ResourceStore, store::WriteOptions};
    use serde_json::json;

    use super::*;
    use crate::store::{Limits, SeriesStore};

    /// The overview of 1,000 clusters, computed and written as JSON in this process (the
    /// HTTP answer adds TLS, authentication and 800 KB of transfer).
    #[tokio::test]
    async fn an_overview_of_1000_clusters_is_computed_in_memory() {
        let dir = tempfile::tempdir().expect("dir");
        let kv: Arc<dyn storage::Store> = Arc::new(storage::embedded::EmbeddedStore::open(dir.path()).expect("store"));
        let clusters =
            ResourceStore::new(api::platform::cluster::definition(), kv, "/registry").await.expect("clusters");
        let ctx = Context::system("test", None);
        for i in 0..1000 {
            let tenant = if i % 10 == 0 { "t2" } else { "default" };
            let c = json!({"apiVersion": "platform.tkestack.io/v1", "kind": "Cluster", "metadata": {"name": format!("cls-{i:04}")},
                "spec": {"type": "Imported", "tenantID": tenant},
                "status": {"addresses": [{"type": "Advertise", "host": "127.0.0.1", "port": 6443}]}});
            clusters.create(&ctx, c, &WriteOptions::default()).await.expect("create");
        }
        let index = Index::start(clusters).await.expect("index");
        let sampled = Sampled::new(Arc::new(SeriesStore::new(Limits::default())));
        let overviews = Overviews { clusters: index, projects: None, sampled };
        let admin = UserInfo {
            name: "admin".into(),
            groups: vec![apiserver::resource::ADMIN_GROUP.into()],
            ..Default::default()
        };
        let tenant_user = UserInfo { name: "carol".into(), groups: vec!["tenant:t2".into()], ..Default::default() };
        assert_eq!(overviews.compute(&tenant_user, &[]).cluster_count, 100);
        let mut times: Vec<Duration> = (0..50)
            .map(|_| {
                let started = Instant::now();
                let r = overviews.compute(&admin, &[]);
                let bytes = serde_json::to_vec(&r).expect("json");
                assert_eq!(r.cluster_count, 1000);
                assert!(bytes.len() > 100_000);
                started.elapsed()
            })
            .collect();
        times.sort();
        let p99 = times[times.len() * 99 / 100 - 1];
        println!("overview of 1,000 clusters computed and written as JSON in-process: p99 {p99:?}");
        assert!(p99 < Duration::from_secs(1), "{p99:?}");
    }
}
