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
