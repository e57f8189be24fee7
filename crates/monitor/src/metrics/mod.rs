//! Metrics queries (reference 7.3): `POST /apis/monitor.tkestack.io/v1/metrics` with a
//! [`MetricQuery`] answers a dense table `{columns, data}` (in `jsonResult`), read from a
//! [`Backend`]: the embedded store ([`crate::store`], filled by [`sampler`]) by default, or a
//! Prometheus-compatible HTTP API ([`prometheus`]): a central Prometheus/Thanos
//! (`--monitor-prometheus-url`) or each cluster's own Prometheus through the platform's
//! cluster proxy. TKEStack's InfluxDB and Elasticsearch backends are not offered.
//!
//! # Tables and fields
//!
//! Every series carries `cluster_id`. Names are TKEStack's (its `prometheus-records` rules and
//! console fields) except those marked *ours* (no TKEStack name exists for them).
//!
//! | table | labels | fields (embedded store) |
//! |---|---|---|
//! | `k8s_cluster` | | `k8s_cluster_cpu_core_total`, `k8s_cluster_memory_total`, `k8s_cluster_cpu_core_used`, `k8s_cluster_mem_usage_bytes`, `k8s_cluster_rate_cpu_core_used_cluster`, `k8s_cluster_rate_mem_usage_bytes_cluster`, `k8s_cluster_node_num` *ours*, `k8s_cluster_pod_num` *ours*, `k8s_cluster_pod_running_num` *ours* |
//! | `k8s_node` | `node`, `node_role` | `k8s_node_cpu_usage` (%), `k8s_node_mem_usage` (%), `k8s_node_cpu_core_used` *ours*, `k8s_node_mem_usage_bytes` *ours*, `k8s_node_pod_num`, `k8s_node_status_ready` |
//! | `k8s_workload` | `namespace`, `workload_kind`, `workload_name` | `k8s_workload_cpu_core_used`, `k8s_workload_mem_usage_bytes`, `k8s_workload_pod_num` *ours*, `k8s_workload_abnormal` |
//! | `k8s_pod` | `namespace`, `pod_name`, `node`, `workload_kind`, `workload_name` | `k8s_pod_cpu_core_used`, `k8s_pod_mem_usage_bytes`, `k8s_pod_status_ready`, `k8s_pod_rate_cpu_core_used_node`, `k8s_pod_rate_mem_usage_node` |
//! | `k8s_container` | the pod's, `container_name` | `k8s_container_cpu_core_used`, `k8s_container_mem_usage_bytes` |
//! | `k8s_namespace` | `namespace` | `k8s_namespace_cpu_core_used`, `k8s_namespace_mem_usage_bytes` |
//! | `k8s_project` | `project_name` | `project_cluster_cpu_core_used`, `project_cluster_memory_usage_bytes` |
//!
//! `k8s_component` is accepted (TKEStack's console asks it) but the embedded store keeps no
//! series for it; a Prometheus backend answers what its own rules record.
//!
//! A field must belong to its table (`k8s_pod_*` in `k8s_pod`, `project_*` in `k8s_project`).
//! With a Prometheus backend any name its rules record may be asked for (see [`rules`]).
//!
//! # The answer
//!
//! `conditions` select series by label (`=`, `!=`, `=~`, `!~`, `in`); `groupBy` names the
//! labels of a row and, with `timestamp(60s)`, the step (60 s when absent); the values of the
//! series falling in one row and step are averaged (InfluxDB's `mean`, which TKEStack's console
//! expects). Columns are the `groupBy` entries in order, then the fields; rows are ordered by
//! `orderBy` (a column; the timestamp when empty), `order` `asc` or `desc`, then `offset` and
//! `limit` apply.
//!
//! # Who sees what
//!
//! Platform administrators see every cluster. Other callers see the clusters of their tenant
//! (a condition on another tenant's cluster is refused with 403), and in `k8s_project` the
//! projects they are members of (administrators of their tenant: all of its projects).

pub mod prometheus;
pub mod rules;
pub mod sampler;

use std::{
    collections::{BTreeMap, HashSet},
    sync::Arc,
};

pub use api::monitor::metric::{MetricCondition, MetricQuery};
use apimachinery::ApiError;
use serde_json::{Value, json};

use crate::store::{SeriesData, SeriesKey, SeriesStore};

/// The tables and the prefix their fields start with.
pub const TABLES: &[(&str, &str)] = &[
    ("k8s_cluster", "k8s_cluster_"),
    ("k8s_node", "k8s_node_"),
    ("k8s_workload", "k8s_workload_"),
    ("k8s_pod", "k8s_pod_"),
    ("k8s_container", "k8s_container_"),
    ("k8s_namespace", "k8s_namespace_"),
    ("k8s_project", "project_"),
    ("k8s_component", "k8s_component_"),
];

/// The label every series of a cluster carries.
pub const CLUSTER_LABEL: &str = "cluster_id";
/// The label of a project's series.
pub const PROJECT_LABEL: &str = "project_name";

/// How a label is matched.
#[derive(Clone, Debug)]
pub enum Matcher {
    Equal(String, String),
    NotEqual(String, String),
    /// One of the values (`in`, or `=~` of plain alternatives).
    In(String, Vec<String>),
    Regex(String, String, regex::Regex),
    NotRegex(String, String, regex::Regex),
}

impl Matcher {
    pub fn label(&self) -> &str {
        match self {
            Matcher::Equal(l, _)
            | Matcher::NotEqual(l, _)
            | Matcher::In(l, _)
            | Matcher::Regex(l, _, _)
            | Matcher::NotRegex(l, _, _) => l,
        }
    }

    pub fn matches(&self, key: &SeriesKey) -> bool {
        let v = key.label(self.label()).unwrap_or_default();
        match self {
            Matcher::Equal(_, want) => v == want,
            Matcher::NotEqual(_, want) => v != want,
            Matcher::In(_, set) => set.iter().any(|w| w == v),
            Matcher::Regex(_, _, re) => re.is_match(v),
            Matcher::NotRegex(_, _, re) => !re.is_match(v),
        }
    }

    /// The matcher in PromQL.
    pub fn promql(&self) -> String {
        let quote = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
        let alternatives = |set: &[String]| set.iter().map(|v| regex_escape(v)).collect::<Vec<_>>().join("|");
        match self {
            Matcher::Equal(l, v) => format!("{l}=\"{}\"", quote(v)),
            Matcher::NotEqual(l, v) => format!("{l}!=\"{}\"", quote(v)),
            Matcher::In(l, set) => format!("{l}=~\"{}\"", quote(&alternatives(set))),
            Matcher::Regex(l, src, _) => format!("{l}=~\"{}\"", quote(src)),
            Matcher::NotRegex(l, src, _) => format!("{l}!~\"{}\"", quote(src)),
        }
    }
}

fn regex_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn is_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A query checked and resolved: what to read and how to shape it.
#[derive(Clone, Debug)]
pub struct Plan {
    pub table: String,
    pub fields: Vec<String>,
    pub matchers: Vec<Matcher>,
    pub start_ms: i64,
    pub end_ms: i64,
    pub step_ms: i64,
    /// The `groupBy` entries as columns (`timestamp(60s)` kept as written).
    pub group_columns: Vec<String>,
    /// The labels of `groupBy`.
    pub group_labels: Vec<String>,
    pub has_timestamp: bool,
    pub order_by: String,
    pub descending: bool,
    pub limit: usize,
    pub offset: usize,
}

/// The longest range one query may cover (what a 30-day chart needs).
const MAX_RANGE_MS: i64 = 31 * 24 * 3600 * 1000;
/// The most points (rows times steps) a query may produce before paging.
const MAX_STEPS: i64 = 11_000;

fn invalid(field: &str, value: impl std::fmt::Display, detail: &str) -> ApiError {
    ApiError::invalid(
        api::monitor::GROUP,
        api::monitor::metric::KIND,
        "",
        vec![apimachinery::FieldError::invalid(field, value, detail)],
    )
}

/// Reads `timestamp(60s)` (also `5m`, `1h`, plain seconds) into milliseconds.
fn step_of(entry: &str) -> Option<i64> {
    let inner = entry.strip_prefix("timestamp(")?.strip_suffix(')')?.trim();
    let (num, unit) = inner.split_at(inner.find(|c: char| !c.is_ascii_digit()).unwrap_or(inner.len()));
    let n: i64 = num.parse().ok()?;
    let mul = match unit {
        "" | "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => return None,
    };
    (n > 0).then_some(n * mul)
}

fn condition_matcher(c: &MetricCondition, i: usize) -> Result<Matcher, ApiError> {
    let field = |f: &str| format!("query.conditions[{i}].{f}");
    if !is_label_name(&c.key) {
        return Err(invalid(&field("key"), &c.key, "must be a label name (letters, digits and _)"));
    }
    let as_list = |v: &Value| -> Vec<String> {
        match v {
            Value::Array(a) => a.iter().map(scalar).collect(),
            Value::String(s) => s.split(',').map(|p| p.trim().to_string()).filter(|p| !p.is_empty()).collect(),
            other => vec![scalar(other)],
        }
    };
    let regex = |src: &str| {
        regex::Regex::new(&format!("^(?:{src})$"))
            .map_err(|e| invalid(&field("value"), src, &format!("is not a regular expression: {e}")))
    };
    let key = c.key.clone();
    Ok(match c.expr.trim().to_lowercase().as_str() {
        "=" | "==" => Matcher::Equal(key, scalar(&c.value)),
        "!=" | "<>" => Matcher::NotEqual(key, scalar(&c.value)),
        "in" => Matcher::In(key, as_list(&c.value)),
        "=~" => {
            let src = scalar(&c.value);
            Matcher::Regex(key, src.clone(), regex(&src)?)
        }
        "!~" => {
            let src = scalar(&c.value);
            Matcher::NotRegex(key, src.clone(), regex(&src)?)
        }
        other => return Err(invalid(&field("expr"), other, "supported: =, !=, in, =~, !~")),
    })
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

impl Plan {
    /// Checks `q` (at `now_ms`): the table is known, the fields are its own, the range is
    /// sane, the conditions parse.
    pub fn new(q: &MetricQuery, now_ms: i64) -> Result<Plan, ApiError> {
        let Some((_, prefix)) = TABLES.iter().find(|(t, _)| *t == q.table) else {
            let known: Vec<&str> = TABLES.iter().map(|(t, _)| *t).collect();
            return Err(invalid("query.table", &q.table, &format!("must be one of {}", known.join(", "))));
        };
        if q.fields.is_empty() {
            return Err(invalid("query.fields", "[]", "name at least one metric"));
        }
        for (i, f) in q.fields.iter().enumerate() {
            if !f.starts_with(prefix) || !is_label_name(f) {
                return Err(invalid(
                    &format!("query.fields[{i}]"),
                    f,
                    &format!("a field of table {} starts with {prefix}", q.table),
                ));
            }
        }
        let end_ms = q.end_time.filter(|t| *t > 0).unwrap_or(now_ms);
        let start_ms = q.start_time.filter(|t| *t > 0).unwrap_or(end_ms - 3_600_000);
        if start_ms > end_ms {
            return Err(invalid("query.startTime", start_ms, "must not be after endTime"));
        }
        if end_ms - start_ms > MAX_RANGE_MS {
            return Err(invalid("query.startTime", start_ms, "a query covers at most 31 days"));
        }
        let mut step_ms = 60_000;
        let mut has_timestamp = false;
        let mut group_labels = vec![];
        for (i, g) in q.group_by.iter().enumerate() {
            if g.starts_with("timestamp") {
                step_ms = step_of(g).ok_or_else(|| {
                    invalid(&format!("query.groupBy[{i}]"), g, "write the step as timestamp(60s), timestamp(5m)...")
                })?;
                has_timestamp = true;
            } else if is_label_name(g) {
                group_labels.push(g.clone());
            } else {
                return Err(invalid(&format!("query.groupBy[{i}]"), g, "must be a label name or timestamp(60s)"));
            }
        }
        if has_timestamp && (end_ms - start_ms) / step_ms > MAX_STEPS {
            return Err(invalid(
                "query.groupBy",
                format!("{step_ms}ms"),
                &format!("the range holds more than {MAX_STEPS} steps; choose a larger step"),
            ));
        }
        let matchers =
            q.conditions.iter().enumerate().map(|(i, c)| condition_matcher(c, i)).collect::<Result<Vec<_>, _>>()?;
        let columns: Vec<String> = q.group_by.iter().cloned().chain(q.fields.iter().cloned()).collect();
        if !q.order_by.is_empty() && !columns.contains(&q.order_by) {
            return Err(invalid("query.orderBy", &q.order_by, "must be one of the columns (groupBy or fields)"));
        }
        let descending = match q.order.to_lowercase().as_str() {
            "" | "asc" => false,
            "desc" => true,
            other => return Err(invalid("query.order", other, "must be asc or desc")),
        };
        Ok(Plan {
            table: q.table.clone(),
            fields: q.fields.clone(),
            matchers,
            start_ms,
            end_ms,
            step_ms,
            group_columns: q.group_by.clone(),
            group_labels,
            has_timestamp,
            order_by: q.order_by.clone(),
            descending,
            limit: usize::try_from(q.limit).unwrap_or(0),
            offset: usize::try_from(q.offset).unwrap_or(0),
        })
    }

    /// The clusters a condition names (`cluster_id` = or in), if any.
    pub fn named_clusters(&self) -> Option<Vec<String>> {
        self.named(CLUSTER_LABEL)
    }

    pub fn named(&self, label: &str) -> Option<Vec<String>> {
        let mut out: Option<Vec<String>> = None;
        for m in &self.matchers {
            let values = match m {
                Matcher::Equal(l, v) if l == label => vec![v.clone()],
                Matcher::In(l, set) if l == label => set.clone(),
                _ => continue,
            };
            out = Some(match out {
                None => values,
                Some(prev) => prev.into_iter().filter(|p| values.contains(p)).collect(),
            });
        }
        out
    }

    pub fn matches(&self, key: &SeriesKey) -> bool {
        self.matchers.iter().all(|m| m.matches(key))
    }

    /// Merges series into the dense table `{columns, data}`.
    pub fn table(&self, series: &[SeriesData]) -> Value {
        // (step, group label values) → per field (sum, count).
        type Row = (i64, Vec<String>);
        let mut rows: BTreeMap<Row, Vec<(f64, u32)>> = BTreeMap::new();
        for s in series {
            let Some(field) = self.fields.iter().position(|f| *f == s.key.metric) else { continue };
            let labels: Vec<String> =
                self.group_labels.iter().map(|l| s.key.label(l).unwrap_or_default().to_string()).collect();
            for (t, v) in &s.samples {
                if !v.is_finite() {
                    continue;
                }
                let step = if self.has_timestamp { t - t.rem_euclid(self.step_ms) } else { 0 };
                let cells = rows.entry((step, labels.clone())).or_insert_with(|| vec![(0.0, 0); self.fields.len()]);
                cells[field].0 += v;
                cells[field].1 += 1;
            }
        }
        let mut data: Vec<Vec<Value>> = rows
            .into_iter()
            .map(|((step, labels), cells)| {
                let mut labels = labels.into_iter();
                let mut row: Vec<Value> = self
                    .group_columns
                    .iter()
                    .map(|c| if c.starts_with("timestamp") { json!(step) } else { json!(labels.next()) })
                    .collect();
                row.extend(cells.into_iter().map(|(sum, n)| {
                    if n == 0 {
                        Value::Null
                    } else {
                        // Six significant decimals are plenty and keep the answer small.
                        json!(((sum / f64::from(n)) * 1e6).round() / 1e6)
                    }
                }));
                row
            })
            .collect();
        let columns: Vec<String> = self.group_columns.iter().chain(self.fields.iter()).cloned().collect();
        let order_col = if self.order_by.is_empty() {
            columns.iter().position(|c| c.starts_with("timestamp"))
        } else {
            columns.iter().position(|c| *c == self.order_by)
        };
        if let Some(col) = order_col {
            data.sort_by(|a, b| {
                let o = compare(&a[col], &b[col]);
                if self.descending { o.reverse() } else { o }
            });
        }
        let data: Vec<Vec<Value>> =
            data.into_iter().skip(self.offset).take(if self.limit == 0 { usize::MAX } else { self.limit }).collect();
        json!({"columns": columns, "data": data})
    }
}

fn compare(a: &Value, b: &Value) -> std::cmp::Ordering {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x.total_cmp(&y),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.as_str().unwrap_or_default().cmp(b.as_str().unwrap_or_default()),
    }
}

/// Where the series come from.
#[async_trait::async_trait]
pub trait Backend: Send + Sync {
    /// The series of `plan.fields` matching `plan.matchers` in the plan's range; `clusters`
    /// (when given) bounds the clusters the caller may read.
    async fn select(&self, plan: &Plan, clusters: Option<&HashSet<String>>) -> Result<Vec<SeriesData>, ApiError>;
}

/// The embedded store as a backend.
pub struct Embedded(pub Arc<SeriesStore>);

#[async_trait::async_trait]
impl Backend for Embedded {
    async fn select(&self, plan: &Plan, clusters: Option<&HashSet<String>>) -> Result<Vec<SeriesData>, ApiError> {
        let filter = |k: &SeriesKey| {
            plan.matches(k) && clusters.is_none_or(|c| k.label(CLUSTER_LABEL).is_some_and(|id| c.contains(id)))
        };
        Ok(self.0.select(&plan.fields, filter, plan.start_ms, plan.end_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(v: Value) -> MetricQuery {
        serde_json::from_value(v).expect("query")
    }

    #[test]
    fn queries_are_checked() {
        let bad = |v: Value| Plan::new(&query(v), 10_000_000).expect_err("refused").message;
        assert!(bad(json!({"table": "k8s_nope", "fields": ["x"]})).contains("k8s_pod"));
        assert!(bad(json!({"table": "k8s_pod", "fields": ["k8s_node_cpu_usage"]})).contains("starts with k8s_pod_"));
        assert!(
            bad(json!({"table": "k8s_pod", "fields": ["k8s_pod_cpu_core_used"], "groupBy": ["timestamp(1x)"]}))
                .contains("timestamp(60s)")
        );
        assert!(
            bad(json!({"table": "k8s_pod", "fields": ["k8s_pod_cpu_core_used"],
                "conditions": [{"key": "pod_name", "expr": "like", "value": "a"}]}))
            .contains("=~")
        );
        assert!(
            bad(json!({"table": "k8s_pod", "fields": ["k8s_pod_cpu_core_used"], "orderBy": "node"}))
                .contains("columns")
        );
    }

    #[test]
    fn series_merge_into_a_dense_table() {
        let plan = Plan::new(
            &query(json!({
                "table": "k8s_pod", "startTime": 0, "endTime": 600_000,
                "fields": ["k8s_pod_cpu_core_used", "k8s_pod_mem_usage_bytes"],
                "conditions": [{"key": "pod_name", "expr": "in", "value": ["a", "b"]}],
                "groupBy": ["timestamp(120s)", "pod_name"], "orderBy": "k8s_pod_cpu_core_used", "order": "desc",
                "limit": 3,
            })),
            0,
        )
        .expect("plan");
        let s = |metric: &str, pod: &str, samples: Vec<(i64, f64)>| SeriesData {
            key: Arc::new(SeriesKey::new(metric, &[("pod_name", pod), ("cluster_id", "c")])),
            samples,
        };
        assert!(plan.matches(&SeriesKey::new("x", &[("pod_name", "a")])));
        assert!(!plan.matches(&SeriesKey::new("x", &[("pod_name", "c")])));
        let t = plan.table(&[
            s("k8s_pod_cpu_core_used", "a", vec![(0, 1.0), (60_000, 2.0), (120_000, 5.0)]),
            s("k8s_pod_mem_usage_bytes", "a", vec![(0, 100.0)]),
            s("k8s_pod_cpu_core_used", "b", vec![(0, 4.0)]),
        ]);
        assert_eq!(
            t,
            json!({
                "columns": ["timestamp(120s)", "pod_name", "k8s_pod_cpu_core_used", "k8s_pod_mem_usage_bytes"],
                "data": [[120_000, "a", 5.0, null], [0, "b", 4.0, null], [0, "a", 1.5, 100.0]],
            })
        );
        assert_eq!(plan.named("pod_name"), Some(vec!["a".to_string(), "b".to_string()]));
    }
}
