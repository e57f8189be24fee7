//! Who may read which metrics: platform administrators everything; other callers the clusters
//! of their tenant and, in `k8s_project`, the projects they are members of (all of their
//! tenant's when they administer it), as the business component's portal computes them.

use std::{collections::HashSet, sync::Arc};

use api::platform::Cluster;
use apimachinery::ApiError;
use apiserver::UserInfo;
use auth::index::Index;
use business::portal::PortalSource;

use crate::metrics::{CLUSTER_LABEL, Matcher, PROJECT_LABEL, Plan};

/// The caller's reach.
pub struct Scope {
    pub admin: bool,
    pub tenant: String,
}

impl Scope {
    pub fn of(user: &UserInfo) -> Scope {
        Scope { admin: user.is_admin(), tenant: user.tenant() }
    }
}

/// Decides what a query may read.
pub struct Access {
    pub clusters: Arc<Index<Cluster>>,
    /// Project membership; without the business component nobody but administrators reads
    /// project metrics.
    pub portal: Option<Arc<PortalSource>>,
}

impl Access {
    /// The clusters `user` may read (`None`: all of them), after checking that the clusters
    /// and projects the plan names are among them; project queries get a condition on the
    /// caller's projects.
    pub fn restrict(&self, user: &UserInfo, plan: &mut Plan) -> Result<Option<HashSet<String>>, ApiError> {
        let scope = Scope::of(user);
        if scope.admin {
            return Ok(None);
        }
        let mine: HashSet<String> = self
            .clusters
            .all()
            .iter()
            .filter(|c| c.spec.tenant_id.as_deref().unwrap_or(apiserver::resource::DEFAULT_TENANT) == scope.tenant)
            .map(|c| c.name().to_string())
            .collect();
        if let Some(named) = plan.named_clusters()
            && let Some(other) = named.iter().find(|c| !mine.contains(*c))
        {
            return Err(ApiError::forbidden(
                "platform.tkestack.io",
                "clusters",
                other,
                &format!("the metrics of cluster {other} are not readable in tenant {}", scope.tenant),
            ));
        }
        if plan.table == "k8s_project" {
            let projects: Vec<String> = match &self.portal {
                Some(p) => p.portal_for(user).projects.into_keys().collect(),
                None => vec![],
            };
            if let Some(named) = plan.named(PROJECT_LABEL)
                && let Some(other) = named.iter().find(|p| !projects.contains(p))
            {
                return Err(ApiError::forbidden(
                    "business.tkestack.io",
                    "projects",
                    other,
                    &format!("{} is not a member of project {other}", user.name),
                ));
            }
            plan.matchers.push(Matcher::In(PROJECT_LABEL.into(), projects));
        }
        // Series of other tenants' clusters never reach the table, whatever the conditions.
        plan.matchers.push(Matcher::In(CLUSTER_LABEL.into(), mine.iter().cloned().collect()));
        Ok(Some(mine))
    }
}
