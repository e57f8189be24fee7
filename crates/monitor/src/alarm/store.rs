//! Where alarm policies live: rule groups of the PrometheusRule `kube-system/prometheus-alerts`
//! (`monitoring.coreos.com/v1`) of the policy's business cluster, which the Prometheus add-on's
//! operator loads into the cluster's Prometheus. The cluster is reached with the runtime's one
//! client builder ([`controller_runtime::cluster::client`]) from the Cluster and its
//! ClusterCredential as this server stores them, acting as the credential's identity (the
//! caller was authorized by the platform). Writes carry the PrometheusRule's resourceVersion and
//! are retried when another writer came first, so concurrent edits of different policies never
//! lose one another.

use std::{sync::Arc, time::Duration};

use api::platform::ClusterCredential;
use apiserver::{ApiServer, resource::Context, store::ListOptions};
use controller_runtime::cluster::{ClientOptions, base_url_of, client};
use kube::{
    Api,
    api::{ApiResource, DynamicObject, GroupVersionKind, PostParams},
};
use serde_json::{Value, json};

use super::{
    policy::AlarmPolicy,
    rules::{group_of, policy_of},
};

/// The PrometheusRule holding the policies.
pub const RULE_NAME: &str = "prometheus-alerts";
pub const RULE_NAMESPACE: &str = "kube-system";
/// The labels the add-on's Prometheus selects rules by.
pub const RULE_LABELS: [(&str, &str); 2] = [("prometheus", "k8s"), ("role", "alert-rules")];
/// Attempts of a write that keeps losing the race with other writers.
const ATTEMPTS: usize = 5;

/// Why a policy operation failed, each with the HTTP code of its answer.
#[derive(Debug, thiserror::Error)]
pub enum AlarmError {
    #[error("{0}")]
    Invalid(String),
    #[error("cluster {0} does not exist")]
    ClusterNotFound(String),
    #[error("alarm policy {policy:?} does not exist in cluster {cluster}")]
    PolicyNotFound { cluster: String, policy: String },
    #[error("alarm policy {policy:?} already exists in cluster {cluster}; PUT replaces it")]
    Exists { cluster: String, policy: String },
    #[error(
        "cluster {0} does not serve PrometheusRules (monitoring.coreos.com/v1): install the Prometheus add-on in it first"
    )]
    NotServed(String),
    #[error("cluster {cluster}: {message}")]
    Unavailable { cluster: String, message: String },
    #[error("cluster {cluster}: another writer kept changing {RULE_NAMESPACE}/{RULE_NAME}; try again")]
    Contended { cluster: String },
}

impl AlarmError {
    pub fn status(&self) -> u16 {
        match self {
            AlarmError::Invalid(_) => 400,
            AlarmError::ClusterNotFound(_) | AlarmError::PolicyNotFound { .. } => 404,
            AlarmError::Exists { .. } | AlarmError::Contended { .. } => 409,
            AlarmError::NotServed(_) | AlarmError::Unavailable { .. } => 503,
        }
    }
}

/// The PrometheusRule resource.
fn resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("monitoring.coreos.com", "v1", "PrometheusRule"),
        "prometheusrules",
    )
}

/// The policies of the business clusters this server knows.
pub struct PolicyStore {
    server: Arc<ApiServer>,
}

impl PolicyStore {
    pub fn new(server: Arc<ApiServer>) -> Self {
        PolicyStore { server }
    }

    fn context() -> Context {
        Context::system("system:tke:monitor", None)
    }

    /// A client of `cluster`, or why there is none.
    async fn client(&self, cluster: &str) -> Result<kube::Client, AlarmError> {
        let unavailable = |message: String| AlarmError::Unavailable { cluster: cluster.to_string(), message };
        let store = |plural: &str| {
            self.server
                .resource(api::platform::GROUP, api::platform::VERSION, plural)
                .ok_or_else(|| unavailable("the platform API is not served by this server".into()))
        };
        let obj = match store("clusters")?.get(&Self::context(), cluster, None).await {
            Ok(o) => o,
            Err(e) if e.code() == 404 => return Err(AlarmError::ClusterNotFound(cluster.to_string())),
            Err(e) => return Err(unavailable(e.message)),
        };
        let credentials = store("clustercredentials")?;
        let by_ref = obj["spec"]["clusterCredentialRef"]["name"].as_str().filter(|n| !n.is_empty());
        let cred: Option<Value> = match by_ref {
            Some(name) => credentials.get(&Self::context(), name, None).await.ok(),
            None => None,
        };
        let cred = match cred {
            Some(c) => Some(c),
            None => credentials
                .list(&Self::context(), &ListOptions::default())
                .await
                .map_err(|e| unavailable(e.message))?
                .items
                .iter()
                .filter_map(|i| i.decode().ok())
                .find(|c| c["clusterName"].as_str() == Some(cluster)),
        };
        let cred: ClusterCredential = cred
            .and_then(|c| serde_json::from_value(c).ok())
            .ok_or_else(|| unavailable("it has no credential (spec.clusterCredentialRef)".into()))?;
        let base = base_url_of(&obj).map_err(|e| unavailable(e.to_string()))?;
        client(&base, &cred, &ClientOptions::timeout(Duration::from_secs(10))).map_err(|e| unavailable(e.to_string()))
    }

    /// The PrometheusRule, if it exists.
    async fn read(&self, cluster: &str, api: &Api<DynamicObject>) -> Result<Option<DynamicObject>, AlarmError> {
        match api.get(RULE_NAME).await {
            Ok(o) => Ok(Some(o)),
            Err(kube::Error::Api(s)) if s.code == 404 => {
                // Either the object or the whole resource is missing: only the first is normal.
                let gvk = GroupVersionKind::gvk("monitoring.coreos.com", "v1", "PrometheusRule");
                match kube::discovery::pinned_kind(&api_client(api), &gvk).await {
                    Ok(_) => Ok(None),
                    Err(_) => Err(AlarmError::NotServed(cluster.to_string())),
                }
            }
            Err(e) => Err(AlarmError::Unavailable {
                cluster: cluster.to_string(),
                message: controller_runtime::error_chain(&e),
            }),
        }
    }

    fn api(client: &kube::Client) -> Api<DynamicObject> {
        Api::namespaced_with(client.clone(), RULE_NAMESPACE, &resource())
    }

    /// Every policy of `cluster`, sorted by name, with the PrometheusRule's resourceVersion.
    /// Groups that are not policies (written by someone else) are left out.
    pub async fn list(&self, cluster: &str) -> Result<(Vec<AlarmPolicy>, String), AlarmError> {
        let client = self.client(cluster).await?;
        let api = Self::api(&client);
        let Some(obj) = self.read(cluster, &api).await? else { return Ok((vec![], String::new())) };
        let mut out: Vec<AlarmPolicy> = groups(&obj)
            .iter()
            .filter_map(|g| match policy_of(g) {
                Ok(p) => Some(p),
                Err(e) => {
                    tracing::debug!(cluster, error = %e, "skipping a rule group");
                    None
                }
            })
            .collect();
        out.sort_by(|a, b| a.name().cmp(b.name()));
        Ok((out, obj.metadata.resource_version.unwrap_or_default()))
    }

    /// The policy `name` of `cluster`.
    pub async fn get(&self, cluster: &str, name: &str) -> Result<(AlarmPolicy, String), AlarmError> {
        let (all, rev) = self.list(cluster).await?;
        all.into_iter()
            .find(|p| p.name() == name)
            .map(|p| (p, rev))
            .ok_or_else(|| AlarmError::PolicyNotFound { cluster: cluster.into(), policy: name.into() })
    }

    /// Adds `policy` (`replace`: false) or replaces the existing one of its name.
    pub async fn put(&self, cluster: &str, policy: &AlarmPolicy, replace: bool) -> Result<String, AlarmError> {
        let name = policy.name().to_string();
        let group = group_of(policy);
        self.modify(cluster, |groups| {
            let at = groups.iter().position(|g| g["name"].as_str() == Some(name.as_str()));
            match (at, replace) {
                (Some(_), false) => Err(AlarmError::Exists { cluster: cluster.into(), policy: name.clone() }),
                (None, true) => Err(AlarmError::PolicyNotFound { cluster: cluster.into(), policy: name.clone() }),
                (Some(i), true) => {
                    groups[i] = group.clone();
                    Ok(())
                }
                (None, false) => {
                    groups.push(group.clone());
                    Ok(())
                }
            }
        })
        .await
    }

    /// Removes the policy `name`.
    pub async fn delete(&self, cluster: &str, name: &str) -> Result<String, AlarmError> {
        self.modify(cluster, |groups| {
            let before = groups.len();
            groups.retain(|g| g["name"].as_str() != Some(name));
            if groups.len() == before {
                return Err(AlarmError::PolicyNotFound { cluster: cluster.into(), policy: name.into() });
            }
            Ok(())
        })
        .await
    }

    /// Applies `change` to the rule groups and writes them back with the resourceVersion they
    /// were read at (creating the PrometheusRule when missing), again on a conflict.
    async fn modify(
        &self,
        cluster: &str,
        mut change: impl FnMut(&mut Vec<Value>) -> Result<(), AlarmError>,
    ) -> Result<String, AlarmError> {
        let client = self.client(cluster).await?;
        let api = Self::api(&client);
        let unavailable = |e: kube::Error| AlarmError::Unavailable {
            cluster: cluster.to_string(),
            message: controller_runtime::error_chain(&e),
        };
        for _ in 0..ATTEMPTS {
            let existing = self.read(cluster, &api).await?;
            let mut obj = existing.clone().unwrap_or_else(new_rule);
            let mut list = groups(&obj);
            change(&mut list)?;
            obj.data["spec"]["groups"] = Value::Array(list);
            let written = match existing {
                Some(_) => api.replace(RULE_NAME, &PostParams::default(), &obj).await,
                None => api.create(&PostParams::default(), &obj).await,
            };
            match written {
                Ok(o) => return Ok(o.metadata.resource_version.unwrap_or_default()),
                Err(kube::Error::Api(s)) if s.code == 409 => continue,
                Err(e) => return Err(unavailable(e)),
            }
        }
        Err(AlarmError::Contended { cluster: cluster.to_string() })
    }
}

fn api_client(api: &Api<DynamicObject>) -> kube::Client {
    api.clone().into_client()
}

fn groups(obj: &DynamicObject) -> Vec<Value> {
    obj.data["spec"]["groups"].as_array().cloned().unwrap_or_default()
}

/// An empty `prometheus-alerts`, labelled for the add-on's Prometheus.
fn new_rule() -> DynamicObject {
    let labels: serde_json::Map<String, Value> = RULE_LABELS.iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
    let mut obj = DynamicObject::new(RULE_NAME, &resource()).within(RULE_NAMESPACE);
    obj.metadata.labels = serde_json::from_value(Value::Object(labels)).ok();
    obj.data = json!({"spec": {"groups": []}});
    obj
}
