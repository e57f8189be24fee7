//! An alarm policy as TKEStack's REST API carries it (reference 7.1): settings (type, objects,
//! metrics with their thresholds), notification settings (receivers, receiver groups and
//! channel:template pairs), and for pod policies the namespace and workload kind; with the
//! validation that turns a bad body into a message a person can act on.

use serde::{Deserialize, Deserializer, Serialize};

/// The policy types.
pub const TYPES: &[&str] = &["cluster", "node", "pod", "virtualMachine"];
/// The comparisons of a threshold, as `Evaluator.Type`.
pub const EVALUATORS: &[&str] = &["gt", "eq", "lt"];
/// The longest policy name (it is a rule group name and a label value).
pub const MAX_NAME: usize = 100;

/// An alarm policy of one cluster.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AlarmPolicy {
    #[serde(rename = "AlarmPolicySettings", default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<AlarmPolicySettings>,
    #[serde(rename = "NotifySettings", default, skip_serializing_if = "Option::is_none")]
    pub notify: Option<NotifySettings>,
    /// Pod policies: the namespace of the workloads watched.
    #[serde(rename = "Namespace", default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// Pod policies: the kind of the workloads watched (`Deployment`, `StatefulSet`…).
    #[serde(rename = "WorkloadType", default, skip_serializing_if = "String::is_empty")]
    pub workload_type: String,
}

/// What the policy watches and when it fires.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AlarmPolicySettings {
    #[serde(rename = "AlarmPolicyName", default)]
    pub name: String,
    /// `cluster`, `node`, `pod` or `virtualMachine`.
    #[serde(rename = "AlarmPolicyType", default)]
    pub policy_type: String,
    #[serde(rename = "AlarmMetrics", default)]
    pub metrics: Vec<AlarmMetric>,
    /// The watched objects (node, workload or virtual machine names), comma separated, when
    /// `AlarmObjectsType` is `part`.
    #[serde(rename = "AlarmObjects", default, skip_serializing_if = "String::is_empty")]
    pub objects: String,
    /// `all` (every object of the type) or `part` (those of `AlarmObjects`).
    #[serde(rename = "AlarmObjectsType", default, skip_serializing_if = "String::is_empty")]
    pub objects_type: String,
    /// Seconds between evaluations.
    #[serde(rename = "statisticsPeriod", default)]
    pub statistics_period: i64,
}

/// One metric of a policy and its threshold.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AlarmMetric {
    /// The table the metric belongs to (`k8s_pod`, `k8s_node`…), kept for the console.
    #[serde(rename = "Measurement", default, skip_serializing_if = "String::is_empty")]
    pub measurement: String,
    /// The Prometheus metric compared with the threshold.
    #[serde(rename = "MetricName", default)]
    pub metric_name: String,
    #[serde(rename = "MetricDisplayName", default, skip_serializing_if = "String::is_empty")]
    pub display_name: String,
    /// How many evaluation periods the condition must hold before the alert fires.
    #[serde(rename = "ContinuePeriod", default)]
    pub continue_period: i64,
    #[serde(rename = "Evaluator", default)]
    pub evaluator: Evaluator,
    #[serde(rename = "Unit", default, skip_serializing_if = "String::is_empty")]
    pub unit: String,
}

/// A comparison with a threshold.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Evaluator {
    /// `gt`, `eq` or `lt`.
    #[serde(rename = "Type", default)]
    pub type_: String,
    /// A number, or `true`/`false` for metrics that are 1 or 0.
    #[serde(rename = "Value", default, deserialize_with = "string_or_number")]
    pub value: String,
}

/// Who is told, and how.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NotifySettings {
    #[serde(rename = "ReceiverGroups", default)]
    pub receiver_groups: Vec<String>,
    #[serde(rename = "Receivers", default)]
    pub receivers: Vec<String>,
    #[serde(rename = "NotifyWay", default)]
    pub notify_way: Vec<NotifyWay>,
}

/// A notify channel and the template of the messages sent through it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NotifyWay {
    #[serde(rename = "ChannelName", default)]
    pub channel: String,
    #[serde(rename = "TemplateName", default)]
    pub template: String,
}

/// Thresholds come as strings from TKEStack's console and as numbers from scripts.
fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        S(String),
        N(serde_json::Number),
        B(bool),
    }
    Ok(match Option::<Either>::deserialize(d)? {
        None => String::new(),
        Some(Either::S(s)) => s,
        Some(Either::N(n)) => n.to_string(),
        Some(Either::B(b)) => b.to_string(),
    })
}

/// A threshold: a number, or a boolean compared as 1 or 0.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Threshold {
    Number(f64),
    Bool(bool),
}

impl Evaluator {
    /// The threshold, or why it is not one.
    pub fn threshold(&self) -> Result<Threshold, String> {
        let v = self.value.trim();
        match v {
            "true" => return Ok(Threshold::Bool(true)),
            "false" => return Ok(Threshold::Bool(false)),
            _ => {}
        }
        match v.parse::<f64>() {
            Ok(n) if n.is_finite() => Ok(Threshold::Number(n)),
            _ => Err(format!("{:?} is neither a number nor true/false", self.value)),
        }
    }

    /// The PromQL comparison operator.
    pub fn operator(&self) -> Option<&'static str> {
        match self.type_.as_str() {
            "gt" => Some(">"),
            "eq" => Some("=="),
            "lt" => Some("<"),
            _ => None,
        }
    }
}

impl AlarmPolicy {
    /// The policy's name ("" when it has no settings).
    pub fn name(&self) -> &str {
        self.settings.as_ref().map(|s| s.name.as_str()).unwrap_or_default()
    }

    /// The names of the watched objects (empty when every object is watched).
    pub fn object_names(&self) -> Vec<String> {
        let Some(s) = &self.settings else { return vec![] };
        if s.objects_type != "part" {
            return vec![];
        }
        s.objects.split(',').map(str::trim).filter(|o| !o.is_empty()).map(str::to_string).collect()
    }

    /// Every problem of the policy, each naming its field; empty when it can be stored.
    pub fn validate(&self) -> Vec<String> {
        let mut errs = Vec::new();
        let Some(s) = &self.settings else {
            errs.push("AlarmPolicySettings is required".to_string());
            return errs;
        };
        if let Some(e) = name_error(&s.name) {
            errs.push(format!("AlarmPolicySettings.AlarmPolicyName: {e}"));
        }
        if !TYPES.contains(&s.policy_type.as_str()) {
            errs.push(format!(
                "AlarmPolicySettings.AlarmPolicyType: {:?} is not one of {}",
                s.policy_type,
                TYPES.join(", ")
            ));
        }
        if s.statistics_period <= 0 || s.statistics_period > 86_400 {
            errs.push(format!(
                "AlarmPolicySettings.statisticsPeriod: {} must be a number of seconds from 1 to 86400",
                s.statistics_period
            ));
        }
        match s.objects_type.as_str() {
            "" | "all" => {
                if !s.objects.trim().is_empty() {
                    errs.push(
                        "AlarmPolicySettings.AlarmObjects: objects are listed but AlarmObjectsType is not \"part\""
                            .into(),
                    );
                }
            }
            "part" => {
                if s.policy_type == "cluster" {
                    errs.push("AlarmPolicySettings.AlarmObjectsType: a cluster policy watches its whole cluster; leave it empty or \"all\"".into());
                }
                let objects = self.object_names();
                if objects.is_empty() {
                    errs.push(
                        "AlarmPolicySettings.AlarmObjects: AlarmObjectsType \"part\" needs at least one object name"
                            .into(),
                    );
                }
                for o in objects {
                    if !is_object_name(&o) {
                        errs.push(format!(
                            "AlarmPolicySettings.AlarmObjects: {o:?} is not a name of letters, digits, '.', '-' and '_'"
                        ));
                    }
                }
            }
            other => {
                errs.push(format!("AlarmPolicySettings.AlarmObjectsType: {other:?} is neither \"all\" nor \"part\""))
            }
        }
        if s.metrics.is_empty() {
            errs.push("AlarmPolicySettings.AlarmMetrics: at least one metric is required".into());
        }
        for (i, m) in s.metrics.iter().enumerate() {
            let at = format!("AlarmPolicySettings.AlarmMetrics[{i}]");
            if !is_metric_name(&m.metric_name) {
                errs.push(format!(
                    "{at}.MetricName: {:?} is not a Prometheus metric name (letters, digits, '_' and ':', not starting with a digit)",
                    m.metric_name
                ));
            }
            if m.continue_period < 1 || m.continue_period > 1000 {
                errs.push(format!("{at}.ContinuePeriod: {} must be from 1 to 1000 periods", m.continue_period));
            }
            if m.evaluator.operator().is_none() {
                errs.push(format!(
                    "{at}.Evaluator.Type: {:?} is not one of {}",
                    m.evaluator.type_,
                    EVALUATORS.join(", ")
                ));
            }
            match m.evaluator.threshold() {
                Err(e) => errs.push(format!("{at}.Evaluator.Value: {e}")),
                Ok(Threshold::Bool(_)) if m.evaluator.type_ != "eq" => {
                    errs.push(format!("{at}.Evaluator: a true/false threshold can only be compared with \"eq\""))
                }
                Ok(_) => {}
            }
            for (field, text) in
                [("Measurement", &m.measurement), ("MetricDisplayName", &m.display_name), ("Unit", &m.unit)]
            {
                if text.chars().any(char::is_control) {
                    errs.push(format!("{at}.{field}: control characters are not allowed"));
                }
            }
        }
        if s.policy_type == "pod" {
            if !self.namespace.is_empty() && !apimachinery::validation::is_dns1123_label(&self.namespace) {
                errs.push(format!("Namespace: {:?} is not a namespace name", self.namespace));
            }
            if !self.workload_type.is_empty() && !self.workload_type.chars().all(|c| c.is_ascii_alphabetic()) {
                errs.push(format!("WorkloadType: {:?} is not a workload kind such as Deployment", self.workload_type));
            }
        } else if !self.namespace.is_empty() || !self.workload_type.is_empty() {
            errs.push("Namespace and WorkloadType only apply to pod policies".into());
        }
        match &self.notify {
            None => errs.push("NotifySettings is required (it may list no receivers)".into()),
            Some(n) => {
                for (field, list) in [("ReceiverGroups", &n.receiver_groups), ("Receivers", &n.receivers)] {
                    for r in list {
                        if !is_list_item(r) {
                            errs.push(format!(
                                "NotifySettings.{field}: {r:?} must be a non-empty name without ',', ':' or spaces"
                            ));
                        }
                    }
                }
                for (i, w) in n.notify_way.iter().enumerate() {
                    if !is_list_item(&w.channel) || !is_list_item(&w.template) {
                        errs.push(format!(
                            "NotifySettings.NotifyWay[{i}]: ChannelName and TemplateName must be non-empty names without ',', ':' or spaces"
                        ));
                    }
                }
            }
        }
        errs
    }
}

/// Why `name` cannot name a policy.
pub fn name_error(name: &str) -> Option<String> {
    if name.is_empty() {
        Some("a name is required".into())
    } else if name.chars().count() > MAX_NAME {
        Some(format!("at most {MAX_NAME} characters"))
    } else if name.trim() != name {
        Some("no leading or trailing spaces".into())
    } else if name.chars().any(|c| c.is_control() || matches!(c, '/' | '%' | '?' | '#')) {
        Some(format!("{name:?} contains '/', '%', '?', '#' or control characters"))
    } else {
        None
    }
}

/// A Prometheus metric name.
pub fn is_metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// A node, workload or virtual machine name.
pub fn is_object_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

/// An item of the comma lists kept in annotations.
fn is_list_item(s: &str) -> bool {
    !s.is_empty() && !s.chars().any(|c| c == ',' || c == ':' || c.is_whitespace() || c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn thresholds_come_as_strings_or_numbers() {
        let m: AlarmMetric =
            serde_json::from_value(json!({"MetricName": "x", "Evaluator": {"Type": "gt", "Value": 80}}))
                .expect("number");
        assert_eq!(m.evaluator.value, "80");
        assert_eq!(m.evaluator.threshold(), Ok(Threshold::Number(80.0)));
        let m: AlarmMetric =
            serde_json::from_value(json!({"MetricName": "x", "Evaluator": {"Type": "eq", "Value": "false"}}))
                .expect("bool");
        assert_eq!(m.evaluator.threshold(), Ok(Threshold::Bool(false)));
    }

    #[test]
    fn every_problem_is_named_with_its_field() {
        let p: AlarmPolicy = serde_json::from_value(json!({
            "AlarmPolicySettings": {"AlarmPolicyName": "a/b", "AlarmPolicyType": "rack", "statisticsPeriod": 0,
                "AlarmObjectsType": "part", "AlarmObjects": "n 1",
                "AlarmMetrics": [{"MetricName": "1bad", "ContinuePeriod": 0, "Evaluator": {"Type": "ge", "Value": "x"}},
                                 {"MetricName": "up", "ContinuePeriod": 1, "Evaluator": {"Type": "gt", "Value": "true"}}]},
        }))
        .expect("policy");
        let errs = p.validate().join("\n");
        for expected in [
            "AlarmPolicyName: \"a/b\" contains '/'",
            "AlarmPolicyType: \"rack\" is not one of cluster, node, pod, virtualMachine",
            "statisticsPeriod: 0 must be",
            "AlarmObjects: \"n 1\" is not a name",
            "AlarmMetrics[0].MetricName: \"1bad\" is not a Prometheus metric name",
            "AlarmMetrics[0].ContinuePeriod: 0",
            "AlarmMetrics[0].Evaluator.Type: \"ge\"",
            "AlarmMetrics[0].Evaluator.Value: \"x\" is neither",
            "AlarmMetrics[1].Evaluator: a true/false threshold can only be compared with \"eq\"",
            "NotifySettings is required",
        ] {
            assert!(errs.contains(expected), "{expected} in\n{errs}");
        }
        assert_eq!(AlarmPolicy::default().validate(), ["AlarmPolicySettings is required"]);
    }
}
