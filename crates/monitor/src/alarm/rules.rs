//! The storage model of alarm policies (reference 7.1): a policy is one Prometheus rule group
//! named after it, `interval` its statistics period, one alerting rule per metric:
//!
//! - `alert` = the metric name; `expr` = `<metric>[{filters}] <op> <value>` with op `>`, `==`
//!   or `<`, booleans compared as `== 1` / `== 0`; node policies filter `node=~"a|b"`, pod
//!   policies `namespace="…"`, `workload_kind="…"`, `workload_name=~"a|b"`, virtual machine
//!   policies `name=~"a|b"` (only for the objects of a `part` policy);
//! - `for` = statistics period × continue period, in seconds;
//! - labels `alert`, `alarmPolicyName`, `version=1`;
//! - annotations `isBool`, `evaluateValue`, `evaluateType`, `unit`, `receiverGroups`,
//!   `receivers`, `notifyWay` (`channel:template,…`), `alarmPolicyType`, `alarmObjectsType`,
//!   `measurement`, `value` (`{{ $value }}`, two decimals for `%`), `metricDisplayName` — what
//!   the notify component's webhook reads from each alert (reference 6.3).
//!
//! [`policy_of`] reads a group back into the policy it was rendered from.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::policy::{AlarmMetric, AlarmPolicy, AlarmPolicySettings, Evaluator, NotifySettings, NotifyWay, Threshold};

/// The `version` label of every rule (the storage model's version).
pub const MODEL_VERSION: &str = "1";

/// The rule group of a valid policy (`{name, interval, rules}`, as in a rule file and in a
/// PrometheusRule's `spec.groups`).
pub fn group_of(policy: &AlarmPolicy) -> Value {
    let s = policy.settings.clone().unwrap_or_default();
    let notify = policy.notify.clone().unwrap_or_default();
    let filters = filters(policy);
    let rules: Vec<Value> = s
        .metrics
        .iter()
        .map(|m| {
            let op = m.evaluator.operator().unwrap_or(">");
            let (value, is_bool) = match m.evaluator.threshold() {
                Ok(Threshold::Bool(b)) => (if b { "1".to_string() } else { "0".to_string() }, true),
                Ok(Threshold::Number(n)) => (format_number(n), false),
                Err(_) => (m.evaluator.value.clone(), false),
            };
            let selector = if filters.is_empty() { String::new() } else { format!("{{{}}}", filters.join(",")) };
            let expr = format!("{}{selector} {op} {value}", m.metric_name);
            let shown =
                if m.unit == "%" { "{{ printf \"%.2f\" $value }}".to_string() } else { "{{ $value }}".to_string() };
            let notify_way: Vec<String> =
                notify.notify_way.iter().map(|w| format!("{}:{}", w.channel, w.template)).collect();
            json!({
                "alert": m.metric_name,
                "expr": expr,
                "for": format!("{}s", s.statistics_period * m.continue_period),
                "labels": {"alert": m.metric_name, "alarmPolicyName": s.name, "version": MODEL_VERSION},
                "annotations": {
                    "isBool": is_bool.to_string(),
                    "evaluateValue": m.evaluator.value.trim(),
                    "evaluateType": m.evaluator.type_,
                    "unit": m.unit,
                    "receiverGroups": notify.receiver_groups.join(","),
                    "receivers": notify.receivers.join(","),
                    "notifyWay": notify_way.join(","),
                    "alarmPolicyType": s.policy_type,
                    "alarmObjectsType": s.objects_type,
                    "measurement": m.measurement,
                    "value": shown,
                    "metricDisplayName": m.display_name,
                },
            })
        })
        .collect();
    json!({"name": s.name, "interval": format!("{}s", s.statistics_period), "rules": rules})
}

/// Integers without a fraction, others as Rust prints them (shortest exact form).
fn format_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 { format!("{}", n as i64) } else { format!("{n}") }
}

/// The label matchers of a policy's expressions.
fn filters(policy: &AlarmPolicy) -> Vec<String> {
    let s = policy.settings.as_ref();
    let kind = s.map(|s| s.policy_type.as_str()).unwrap_or_default();
    let objects = policy.object_names();
    let any_of = |label: &str| {
        let alternatives: Vec<String> = objects.iter().map(|o| o.replace('.', "\\\\.")).collect();
        format!("{label}=~\"{}\"", alternatives.join("|"))
    };
    let mut out = vec![];
    match kind {
        "node" if !objects.is_empty() => out.push(any_of("node")),
        "pod" => {
            if !policy.namespace.is_empty() {
                out.push(format!("namespace=\"{}\"", policy.namespace));
            }
            if !policy.workload_type.is_empty() {
                out.push(format!("workload_kind=\"{}\"", policy.workload_type));
            }
            if !objects.is_empty() {
                out.push(any_of("workload_name"));
            }
        }
        "virtualMachine" if !objects.is_empty() => out.push(any_of("name")),
        _ => {}
    }
    out
}

/// Why a rule group is not one this model wrote.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("rule group {group:?} is not an alarm policy: {reason}")]
pub struct NotAPolicy {
    pub group: String,
    pub reason: String,
}

/// The policy a rule group was rendered from.
pub fn policy_of(group: &Value) -> Result<AlarmPolicy, NotAPolicy> {
    let name = group["name"].as_str().unwrap_or_default().to_string();
    let fail = |reason: String| NotAPolicy { group: name.clone(), reason };
    let period = group["interval"]
        .as_str()
        .and_then(seconds)
        .filter(|p| *p > 0)
        .ok_or_else(|| fail(format!("interval {} is not a number of seconds", group["interval"])))?;
    let rules = group["rules"].as_array().filter(|r| !r.is_empty()).ok_or_else(|| fail("it has no rules".into()))?;
    let a = |rule: &Value, key: &str| rule["annotations"][key].as_str().unwrap_or_default().to_string();
    let list = |s: String| -> Vec<String> {
        s.split(',').map(str::trim).filter(|x| !x.is_empty()).map(str::to_string).collect()
    };
    let first = &rules[0];
    if first["labels"]["alarmPolicyName"].as_str() != Some(name.as_str()) {
        return Err(fail("its rules are not labelled alarmPolicyName with its name".into()));
    }
    let notify = NotifySettings {
        receiver_groups: list(a(first, "receiverGroups")),
        receivers: list(a(first, "receivers")),
        notify_way: list(a(first, "notifyWay"))
            .into_iter()
            .map(|w| {
                let (channel, template) = w.split_once(':').unwrap_or((w.as_str(), ""));
                NotifyWay { channel: channel.to_string(), template: template.to_string() }
            })
            .collect(),
    };
    let mut matchers = BTreeMap::new();
    let mut metrics = vec![];
    for rule in rules {
        let expr = rule["expr"].as_str().unwrap_or_default();
        let (metric_name, found) = parse_selector(expr).map_err(|e| fail(format!("expression {expr:?}: {e}")))?;
        if matchers.is_empty() {
            matchers = found;
        }
        let held = rule["for"].as_str().and_then(seconds).unwrap_or(0);
        metrics.push(AlarmMetric {
            measurement: a(rule, "measurement"),
            metric_name: rule["labels"]["alert"].as_str().map(str::to_string).unwrap_or(metric_name),
            display_name: a(rule, "metricDisplayName"),
            continue_period: held / period,
            evaluator: Evaluator { type_: a(rule, "evaluateType"), value: a(rule, "evaluateValue") },
            unit: a(rule, "unit"),
        });
    }
    let policy_type = a(first, "alarmPolicyType");
    let objects_label = match policy_type.as_str() {
        "node" => "node",
        "pod" => "workload_name",
        "virtualMachine" => "name",
        _ => "",
    };
    let objects = matchers
        .get(objects_label)
        .map(|alternatives| alternatives.split('|').map(|o| o.replace("\\.", ".")).collect::<Vec<_>>().join(","))
        .unwrap_or_default();
    Ok(AlarmPolicy {
        settings: Some(AlarmPolicySettings {
            name: name.clone(),
            policy_type: policy_type.clone(),
            metrics,
            objects,
            objects_type: a(first, "alarmObjectsType"),
            statistics_period: period,
        }),
        notify: Some(notify),
        namespace: if policy_type == "pod" {
            matchers.get("namespace").cloned().unwrap_or_default()
        } else {
            String::new()
        },
        workload_type: if policy_type == "pod" {
            matchers.get("workload_kind").cloned().unwrap_or_default()
        } else {
            String::new()
        },
    })
}

/// Seconds of a Prometheus duration such as `60s`, `5m`, `1h`, `1h30m`.
pub fn seconds(d: &str) -> Option<i64> {
    let mut total = 0i64;
    let mut digits = String::new();
    for c in d.trim().chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let n: i64 = digits.parse().ok()?;
        digits.clear();
        total += n * match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 604_800,
            _ => return None,
        };
    }
    if !digits.is_empty() {
        return None;
    }
    Some(total)
}

/// The metric name and label matchers (value as written, string escapes undone) of
/// `metric{a="x",b=~"y"} op value`.
fn parse_selector(expr: &str) -> Result<(String, BTreeMap<String, String>), String> {
    let name_end = expr.find(|c: char| c == '{' || c.is_whitespace()).unwrap_or(expr.len());
    let name = expr[..name_end].to_string();
    let mut matchers = BTreeMap::new();
    let rest = &expr[name_end..];
    let Some(body) = rest.strip_prefix('{') else { return Ok((name, matchers)) };
    let mut chars = body.chars().peekable();
    loop {
        let label: String = std::iter::from_fn(|| chars.next_if(|c| c.is_ascii_alphanumeric() || *c == '_')).collect();
        if label.is_empty() {
            return match chars.next() {
                Some('}') => Ok((name, matchers)),
                other => Err(format!("unexpected {other:?} in the label matchers")),
            };
        }
        let op: String = std::iter::from_fn(|| chars.next_if(|c| matches!(c, '=' | '~' | '!'))).collect();
        if op != "=" && op != "=~" {
            return Err(format!("matcher {label}{op} is not = or =~"));
        }
        if chars.next() != Some('"') {
            return Err(format!("the value of {label} is not quoted"));
        }
        let mut value = String::new();
        loop {
            match chars.next() {
                Some('"') => break,
                Some('\\') => match chars.next() {
                    Some(c) => value.push(c),
                    None => return Err("an unterminated string".into()),
                },
                Some(c) => value.push(c),
                None => return Err("an unterminated string".into()),
            }
        }
        matchers.insert(label, value);
        if chars.next_if_eq(&',').is_none() && chars.peek() != Some(&'}') {
            return Err("matchers are not separated by ','".into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alarm::examples;

    #[test]
    fn a_pod_policy_renders_as_the_reference_describes() {
        let p = examples::pod();
        let g = group_of(&p);
        assert_eq!(g["name"], "pod-cpu");
        assert_eq!(g["interval"], "60s");
        let r = &g["rules"][0];
        assert_eq!(r["alert"], "k8s_pod_cpu_core_used");
        assert_eq!(
            r["expr"],
            "k8s_pod_cpu_core_used{namespace=\"shop\",workload_kind=\"Deployment\",workload_name=~\"web|api\\\\.v2\"} > 0.8"
        );
        assert_eq!(r["for"], "180s");
        assert_eq!(
            r["labels"],
            json!({"alert": "k8s_pod_cpu_core_used", "alarmPolicyName": "pod-cpu", "version": "1"})
        );
        assert_eq!(r["annotations"]["notifyWay"], "email:alert-mail,hook:alert-text");
        assert_eq!(r["annotations"]["receivers"], "alice,bob");
        assert_eq!(r["annotations"]["value"], "{{ $value }}");
        let boolean = &g["rules"][1];
        assert_eq!(
            boolean["expr"],
            "k8s_pod_status_ready{namespace=\"shop\",workload_kind=\"Deployment\",workload_name=~\"web|api\\\\.v2\"} == 0"
        );
        assert_eq!(boolean["annotations"]["isBool"], "true");
        let percent = &g["rules"][2];
        assert_eq!(percent["annotations"]["value"], "{{ printf \"%.2f\" $value }}");
        assert_eq!(percent["for"], "60s");
    }

    #[test]
    fn every_type_reads_back_into_the_same_policy() {
        for p in examples::all() {
            assert!(p.validate().is_empty(), "{:?}", p.validate());
            let back = policy_of(&group_of(&p)).expect("reads back");
            assert_eq!(back, p, "{}", p.name());
        }
    }

    #[test]
    fn groups_this_model_did_not_write_are_refused_with_the_reason() {
        let e = policy_of(&json!({"name": "x", "interval": "1m", "rules": []})).expect_err("no rules");
        assert_eq!(e.to_string(), "rule group \"x\" is not an alarm policy: it has no rules");
        let e = policy_of(&json!({"name": "x", "rules": [{}]})).expect_err("no interval");
        assert!(e.reason.contains("interval"), "{e}");
        assert_eq!(seconds("1h30m"), Some(5400));
        assert_eq!(seconds("5x"), None);
    }
}
