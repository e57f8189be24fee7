//! How Alertmanager's alerts become message requests (reference 6.3). Each alert names where it
//! goes in its annotations (labels as a fallback): `notifyWay`, a comma list of
//! `channel:template`; `receivers` and `receiverGroups`, comma lists. Every channel/template
//! pair gets one MessageRequest in the channel's namespace and tenant, with the variables below
//! (the alarm policy's, the object's, and `summary`, a Chinese summary for people) and
//! `status.alertStatus` `firing` or `resolved`.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Value, json};

/// Alertmanager's webhook payload (version 4).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Payload {
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub group_key: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub receiver: String,
    #[serde(default)]
    pub external_url: String,
    #[serde(default)]
    pub alerts: Vec<Alert>,
}

/// One alert of the payload.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub starts_at: String,
    #[serde(default)]
    pub ends_at: String,
}

impl Alert {
    /// An annotation, else a label, under any of `names`.
    fn get(&self, names: &[&str]) -> String {
        names
            .iter()
            .find_map(|n| self.annotations.get(*n).or_else(|| self.labels.get(*n)).filter(|v| !v.is_empty()))
            .cloned()
            .unwrap_or_default()
    }

    fn list(&self, name: &str) -> Vec<String> {
        self.get(&[name]).split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
    }

    /// The `(channel, template)` pairs of `notifyWay`; malformed entries are reported.
    pub fn notify_ways(&self) -> Result<Vec<(String, String)>, String> {
        self.list("notifyWay")
            .into_iter()
            .map(|w| match w.split_once(':') {
                Some((c, t)) if !c.trim().is_empty() && !t.trim().is_empty() => {
                    Ok((c.trim().to_string(), t.trim().to_string()))
                }
                _ => Err(format!("notifyWay entry {w:?} is not channel:template")),
            })
            .collect()
    }

    pub fn receivers(&self) -> Vec<String> {
        self.list("receivers")
    }

    pub fn receiver_groups(&self) -> Vec<String> {
        self.list("receiverGroups")
    }

    /// `firing` or `resolved`.
    pub fn alert_status(&self) -> &str {
        if self.status == api::notify::common::alert_status::RESOLVED {
            api::notify::common::alert_status::RESOLVED
        } else {
            api::notify::common::alert_status::FIRING
        }
    }

    /// The variables of the alert's message requests.
    pub fn variables(&self) -> BTreeMap<String, String> {
        let mut v = BTreeMap::new();
        let starts_at = chrono::DateTime::parse_from_rfc3339(&self.starts_at)
            .map(|t| t.with_timezone(&chrono::Local).to_rfc3339_opts(chrono::SecondsFormat::Secs, false))
            .unwrap_or_else(|_| self.starts_at.clone());
        v.insert("startsAt".into(), starts_at);
        let fields: &[(&str, &[&str])] = &[
            ("alarmPolicyType", &["alarmPolicyType", "alarm_policy_type"]),
            ("alarmPolicyName", &["alarmPolicyName", "alarm_policy_name"]),
            ("value", &["value"]),
            ("alertName", &["alertName", "alertname"]),
            ("clusterID", &["clusterID", "cluster_id"]),
            ("clusterDisplayName", &["clusterDisplayName", "cluster_display_name"]),
            ("workloadKind", &["workloadKind", "workload_kind"]),
            ("workloadName", &["workloadName", "workload_name"]),
            ("namespace", &["namespace"]),
            ("podName", &["podName", "pod_name", "pod"]),
            ("nodeName", &["nodeName", "node"]),
            ("nodeRole", &["nodeRole", "node_role"]),
            ("unit", &["unit"]),
            ("evaluateType", &["evaluateType", "evaluate_type"]),
            ("evaluateValue", &["evaluateValue", "evaluate_value"]),
            ("metricDisplayName", &["metricDisplayName", "metric_display_name"]),
            ("virtualMachine", &["virtualMachine", "name"]),
        ];
        for (var, names) in fields {
            v.insert(var.to_string(), self.get(names));
        }
        let summary = summary(&v, self.alert_status());
        v.insert("summary".into(), summary);
        v
    }
}

/// The comparison of `evaluateType`, as people write it.
fn comparison(t: &str) -> &str {
    match t {
        "gt" => ">",
        "ge" => ">=",
        "lt" => "<",
        "le" => "<=",
        "eq" => "=",
        "ne" => "!=",
        other => other,
    }
}

/// The Chinese summary of an alert: what policy, about what, which metric crossed what, and
/// when, one item a line, leaving out what the alert does not say.
pub fn summary(v: &BTreeMap<String, String>, status: &str) -> String {
    let g = |k: &str| v.get(k).map(String::as_str).unwrap_or("");
    let mut lines = vec![];
    let state = if status == api::notify::common::alert_status::RESOLVED { "已恢复" } else { "未恢复" };
    let name = if g("alarmPolicyName").is_empty() { g("alertName") } else { g("alarmPolicyName") };
    lines.push(format!("告警策略：{name}（{state}）"));
    if !g("alarmPolicyType").is_empty() {
        lines.push(format!("策略类型：{}", g("alarmPolicyType")));
    }
    let cluster = match (g("clusterDisplayName"), g("clusterID")) {
        ("", id) => id.to_string(),
        (shown, "") => shown.to_string(),
        (shown, id) => format!("{shown}({id})"),
    };
    if !cluster.is_empty() {
        lines.push(format!("集群：{cluster}"));
    }
    for (key, label) in [
        ("namespace", "命名空间"),
        ("workloadName", "工作负载"),
        ("podName", "Pod"),
        ("nodeName", "节点"),
        ("virtualMachine", "虚拟机"),
    ] {
        if !g(key).is_empty() {
            let value = if key == "workloadName" && !g("workloadKind").is_empty() {
                format!("{}/{}", g("workloadKind"), g(key))
            } else {
                g(key).to_string()
            };
            lines.push(format!("{label}：{value}"));
        }
    }
    let metric = if g("metricDisplayName").is_empty() { g("alertName") } else { g("metricDisplayName") };
    if !g("evaluateType").is_empty() || !g("evaluateValue").is_empty() {
        lines.push(format!("告警条件：{metric} {} {}{}", comparison(g("evaluateType")), g("evaluateValue"), g("unit")));
    }
    if !g("value").is_empty() {
        lines.push(format!("当前值：{}{}", g("value"), g("unit")));
    }
    if !g("startsAt").is_empty() {
        lines.push(format!("开始时间：{}", g("startsAt")));
    }
    lines.join("\n")
}

/// One message request to create: its channel (namespace) and body.
pub struct NewRequest {
    pub channel: String,
    pub object: Value,
}

/// The message requests of an alert, for channels of `tenant`.
pub fn request(alert: &Alert, channel: &str, template: &str, tenant: &str) -> NewRequest {
    NewRequest {
        channel: channel.to_string(),
        object: json!({
            "apiVersion": api::notify::API_VERSION,
            "kind": api::notify::message_request::KIND,
            "metadata": {"generateName": api::notify::message_request::GENERATE_NAME, "namespace": channel,
                "labels": {crate::ALERT_LABEL: "true"}},
            "spec": {
                "tenantID": tenant,
                "templateName": template,
                "receivers": alert.receivers(),
                "receiverGroups": alert.receiver_groups(),
                "variables": alert.variables(),
            },
            "status": {"alertStatus": alert.alert_status()},
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert() -> Alert {
        serde_json::from_value(json!({
            "status": "firing",
            "labels": {"alertname": "cpu", "cluster_id": "cls-a", "namespace": "default", "pod_name": "web-1",
                "workload_kind": "Deployment", "workload_name": "web", "alarmPolicyName": "cpu-high"},
            "annotations": {"notifyWay": "chn-a:tpl-a, chn-b:tpl-b", "receivers": "rcv-a,rcv-b", "receiverGroups": "rg-1",
                "value": "93.5", "unit": "%", "evaluateType": "gt", "evaluateValue": "80", "metricDisplayName": "CPU 使用率"},
            "startsAt": "2026-12-07T10:00:00Z",
        }))
        .unwrap()
    }

    #[test]
    fn alerts_give_variables_and_a_summary() {
        let a = alert();
        assert_eq!(a.notify_ways().unwrap(), vec![("chn-a".into(), "tpl-a".into()), ("chn-b".into(), "tpl-b".into())]);
        assert_eq!(a.receivers(), vec!["rcv-a", "rcv-b"]);
        let v = a.variables();
        assert_eq!(v["clusterID"], "cls-a");
        assert_eq!(v["podName"], "web-1");
        assert_eq!(v["alarmPolicyName"], "cpu-high");
        let s = &v["summary"];
        assert!(s.contains("告警策略：cpu-high（未恢复）"), "{s}");
        assert!(s.contains("工作负载：Deployment/web"), "{s}");
        assert!(s.contains("告警条件：CPU 使用率 > 80%"), "{s}");
        assert!(s.contains("当前值：93.5%"), "{s}");
        let r = request(&a, "chn-a", "tpl-a", "t1");
        assert_eq!(r.object["status"]["alertStatus"], "firing");
        assert_eq!(r.object["spec"]["tenantID"], "t1");
        let bad: Alert = serde_json::from_value(json!({"annotations": {"notifyWay": "chn-a"}})).unwrap();
        assert!(bad.notify_ways().is_err());
    }
}
