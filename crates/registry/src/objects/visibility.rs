//! Who may see a namespace's images and a chart group's charts, read from the live Namespace
//! and ChartGroup objects: the registry's [`crate::Namespaces`] and
//! [`crate::chart::ChartGroups`] answered from the API's stores.

use api::registry::common::visibility;
use apimachinery::ApiError;
use serde_json::Value;

use super::{Stores, deleting, list, str_at, system};

/// The live Namespace object of `tenant` named `name` in image paths.
pub async fn find_namespace(stores: &Stores, tenant: &str, name: &str) -> Result<Option<Value>, ApiError> {
    let found = list(&stores.namespaces, &system(None), &[("spec.tenantID", tenant), ("spec.name", name)]).await?;
    Ok(found.into_iter().find(|ns| !deleting(ns)))
}

/// The live ChartGroup object of `tenant` named `name` in chart paths.
pub async fn find_chart_group(stores: &Stores, tenant: &str, name: &str) -> Result<Option<Value>, ApiError> {
    let found = list(&stores.chart_groups, &system(None), &[("spec.tenantID", tenant), ("spec.name", name)]).await?;
    Ok(found.into_iter().find(|g| !deleting(g)))
}

/// Namespace visibility for the registry's token decisions, read from Namespace objects.
pub struct ApiNamespaces {
    pub stores: Stores,
}

#[async_trait::async_trait]
impl crate::Namespaces for ApiNamespaces {
    async fn namespace(&self, tenant: &str, name: &str) -> Result<Option<crate::NamespaceInfo>, crate::Error> {
        let ns = find_namespace(&self.stores, tenant, name).await.map_err(|e| {
            crate::Error::new(crate::Code::Unknown, format!("reading registry namespaces: {}", e.message))
        })?;
        Ok(ns.map(|ns| crate::NamespaceInfo {
            public: str_at(&ns, &["spec", "visibility"]) == visibility::PUBLIC,
            locked: ns.pointer("/status/locked").and_then(Value::as_bool).unwrap_or(false),
        }))
    }
}

/// Chart group visibility for the chart repositories, read from ChartGroup objects. `User`
/// groups are limited to `spec.users`; `Project` groups are treated as the tenant's (project
/// membership is not known to the registry).
pub struct ApiChartGroups {
    pub stores: Stores,
}

#[async_trait::async_trait]
impl crate::chart::ChartGroups for ApiChartGroups {
    async fn chart_group(
        &self,
        tenant: &str,
        name: &str,
    ) -> Result<Option<crate::chart::ChartGroupInfo>, crate::Error> {
        let g = find_chart_group(&self.stores, tenant, name)
            .await
            .map_err(|e| crate::Error::new(crate::Code::Unknown, format!("reading chart groups: {}", e.message)))?;
        Ok(g.map(|g| {
            let vis = str_at(&g, &["spec", "visibility"]);
            let users = g
                .pointer("/spec/users")
                .and_then(Value::as_array)
                .map(|u| u.iter().filter_map(Value::as_str).map(str::to_string).collect());
            crate::chart::ChartGroupInfo {
                public: vis == visibility::PUBLIC,
                locked: g.pointer("/status/locked").and_then(Value::as_bool).unwrap_or(false),
                users: (vis == visibility::USER).then(|| users.unwrap_or_default()),
            }
        }))
    }
}
