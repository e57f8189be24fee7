//! A Prometheus-compatible HTTP API as the metrics backend: `query_range` of
//! `{__name__=~"f1|f2", conditions...}` with the query's step, the result matrix turned into
//! series for the dense table (reference 7.3's Thanos path).
//!
//! Two places to ask: a central Prometheus or Thanos Query holding every cluster's series with
//! a `cluster_id` label (`--monitor-prometheus-url`), or each cluster's own Prometheus (the
//! Prometheus add-on's `prometheus-k8s` service on port 9090 in `kube-system`, as TKEStack
//! installs it) reached through the platform's cluster proxy; its series carry no `cluster_id`,
//! so the query must name its clusters and the answer is labelled with them.

use std::{collections::HashSet, path::PathBuf, sync::Arc, time::Duration};

use apimachinery::ApiError;
use serde_json::Value;
use tokio::sync::OnceCell;

use super::{Backend, CLUSTER_LABEL, Matcher, Plan};
use crate::store::{SeriesData, SeriesKey};

/// The add-on's Prometheus service, as the cluster proxy reaches it.
pub const ADDON_SERVICE_PATH: &str = "api/v1/namespaces/kube-system/services/prometheus-k8s:9090/proxy";

/// How long one `query_range` may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// The PromQL selector of a plan: every field at once, the conditions, and (when given) the
/// clusters the caller may read.
pub fn selector(plan: &Plan, clusters: Option<&HashSet<String>>, with_cluster_label: bool) -> String {
    let names: Vec<String> = plan.fields.iter().map(|f| super::regex_escape(f)).collect();
    let mut parts = vec![format!("__name__=~\"{}\"", names.join("|"))];
    for m in &plan.matchers {
        if !with_cluster_label && m.label() == CLUSTER_LABEL {
            continue;
        }
        parts.push(m.promql());
    }
    if with_cluster_label && let Some(c) = clusters {
        let mut ids: Vec<String> = c.iter().cloned().collect();
        ids.sort();
        parts.push(Matcher::In(CLUSTER_LABEL.into(), ids).promql());
    }
    format!("{{{}}}", parts.join(","))
}

/// Reads a `query_range` answer into series.
pub fn parse_matrix(body: &Value, extra: &[(&str, &str)]) -> Result<Vec<SeriesData>, ApiError> {
    if body["status"] != "success" {
        let why = body["error"].as_str().unwrap_or("no reason given");
        return Err(ApiError::internal(format!("the Prometheus backend refused the query: {why}")));
    }
    let mut out = vec![];
    for r in body["data"]["result"].as_array().into_iter().flatten() {
        let Some(labels) = r["metric"].as_object() else { continue };
        let metric = labels.get("__name__").and_then(Value::as_str).unwrap_or_default();
        let mut pairs: Vec<(&str, &str)> = labels
            .iter()
            .filter(|(k, _)| *k != "__name__")
            .map(|(k, v)| (k.as_str(), v.as_str().unwrap_or_default()))
            .collect();
        pairs.extend_from_slice(extra);
        let samples: Vec<(i64, f64)> = r["values"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| {
                let t = p.get(0)?.as_f64()?;
                let v: f64 = p.get(1)?.as_str()?.parse().ok()?;
                Some(((t * 1000.0).round() as i64, v))
            })
            .collect();
        out.push(SeriesData { key: Arc::new(SeriesKey::new(metric, &pairs)), samples });
    }
    Ok(out)
}

fn range_query(plan: &Plan, selector: &str) -> Vec<(&'static str, String)> {
    let secs = |ms: i64| format!("{:.3}", ms as f64 / 1000.0);
    // Prometheus evaluates at start, start+step...: with a time column, aligned on the step as
    // the table is; without one, some 60 points over the range, which the table averages.
    let (start, step_ms) = if plan.has_timestamp {
        (plan.start_ms - plan.start_ms.rem_euclid(plan.step_ms), plan.step_ms)
    } else {
        (plan.start_ms, ((plan.end_ms - plan.start_ms) / 60).clamp(1000, 60_000))
    };
    vec![
        ("query", selector.to_string()),
        ("start", secs(start)),
        ("end", secs(plan.end_ms)),
        ("step", format!("{}s", (step_ms / 1000).max(1))),
    ]
}

/// A central Prometheus or Thanos Query.
pub struct Central {
    base: String,
    client: reqwest::Client,
}

impl Central {
    pub fn new(url: &str) -> Result<Self, ApiError> {
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .build()
            .map_err(|e| ApiError::internal(format!("building the Prometheus client: {e}")))?;
        Ok(Central { base: url.trim_end_matches('/').to_string(), client })
    }
}

#[async_trait::async_trait]
impl Backend for Central {
    async fn select(&self, plan: &Plan, clusters: Option<&HashSet<String>>) -> Result<Vec<SeriesData>, ApiError> {
        let url = format!("{}/api/v1/query_range", self.base);
        let resp = self
            .client
            .post(&url)
            .form(&range_query(plan, &selector(plan, clusters, true)))
            .send()
            .await
            .map_err(|e| ApiError::unavailable(format!("the Prometheus backend {url} cannot be reached: {e}")))?;
        let body: Value = resp
            .json()
            .await
            .map_err(|e| ApiError::unavailable(format!("the Prometheus backend {url} answered no JSON: {e}")))?;
        parse_matrix(&body, &[])
    }
}

/// Each cluster's own Prometheus, through the platform's cluster proxy (with the platform's
/// admin credential, read from the data directory's kubeconfig when first needed).
pub struct ClusterProxy {
    kubeconfig: PathBuf,
    client: OnceCell<kube::Client>,
}

impl ClusterProxy {
    pub fn new(kubeconfig: PathBuf) -> Self {
        ClusterProxy { kubeconfig, client: OnceCell::new() }
    }

    async fn client(&self) -> Result<&kube::Client, ApiError> {
        self.client
            .get_or_try_init(|| async {
                let kc = kube::config::Kubeconfig::read_from(&self.kubeconfig)
                    .map_err(|e| ApiError::internal(format!("reading {}: {e}", self.kubeconfig.display())))?;
                let config = kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                    .await
                    .map_err(|e| ApiError::internal(format!("loading {}: {e}", self.kubeconfig.display())))?;
                kube::Client::try_from(config).map_err(|e| ApiError::internal(format!("the platform client: {e}")))
            })
            .await
    }
}

#[async_trait::async_trait]
impl Backend for ClusterProxy {
    async fn select(&self, plan: &Plan, clusters: Option<&HashSet<String>>) -> Result<Vec<SeriesData>, ApiError> {
        let Some(named) = plan.named_clusters() else {
            return Err(ApiError::bad_request(
                "with each cluster's own Prometheus as the backend, a query names its clusters: \
                 add a condition {\"key\": \"cluster_id\", \"expr\": \"=\", \"value\": \"cls-...\"}",
            ));
        };
        let client = self.client().await?;
        let query = serde_urlencoded(&range_query(plan, &selector(plan, None, false)));
        let mut out = vec![];
        for cluster in named.iter().filter(|c| clusters.is_none_or(|allowed| allowed.contains(*c))) {
            let path = format!(
                "/apis/platform.tkestack.io/v1/clusters/{cluster}/proxy/{ADDON_SERVICE_PATH}/api/v1/query_range?{query}"
            );
            let req = http::Request::get(&path)
                .body(Vec::new())
                .map_err(|e| ApiError::internal(format!("building the request: {e}")))?;
            let body: Value = client.request(req).await.map_err(|e| {
                ApiError::unavailable(format!("the Prometheus of cluster {cluster} cannot be queried: {e}"))
            })?;
            out.extend(parse_matrix(&body, &[(CLUSTER_LABEL, cluster)])?);
        }
        Ok(out)
    }
}

fn serde_urlencoded(pairs: &[(&str, String)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn fields_and_conditions_become_one_selector() {
        let q = serde_json::from_value(json!({
            "table": "k8s_pod", "fields": ["k8s_pod_cpu_core_used", "k8s_pod_mem_usage_bytes"],
            "conditions": [{"key": "namespace", "expr": "=", "value": "de\"v"}, {"key": "cluster_id", "expr": "=", "value": "cls-a"}],
        }))
        .expect("query");
        let plan = Plan::new(&q, 0).expect("plan");
        let allowed: HashSet<String> = ["cls-a".to_string()].into();
        assert_eq!(
            selector(&plan, Some(&allowed), true),
            r#"{__name__=~"k8s_pod_cpu_core_used|k8s_pod_mem_usage_bytes",namespace="de\"v",cluster_id="cls-a",cluster_id=~"cls-a"}"#
        );
        assert_eq!(
            selector(&plan, None, false),
            r#"{__name__=~"k8s_pod_cpu_core_used|k8s_pod_mem_usage_bytes",namespace="de\"v"}"#
        );
    }

    #[test]
    fn a_matrix_becomes_series() {
        let body = json!({"status": "success", "data": {"resultType": "matrix", "result": [
            {"metric": {"__name__": "k8s_pod_cpu_core_used", "pod_name": "a"}, "values": [[60, "0.5"], [120.5, "1"]]},
        ]}});
        let s = parse_matrix(&body, &[("cluster_id", "c")]).expect("series");
        assert_eq!(s[0].key.metric, "k8s_pod_cpu_core_used");
        assert_eq!(s[0].key.label("cluster_id"), Some("c"));
        assert_eq!(s[0].samples, vec![(60_000, 0.5), (120_500, 1.0)]);
        let e = parse_matrix(&json!({"status": "error", "error": "bad"}), &[]).expect_err("error");
        assert!(e.message.contains("bad"));
    }
}
