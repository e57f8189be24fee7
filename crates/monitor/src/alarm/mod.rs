//! Alarm policies (reference 7.1): the policy as the REST API carries it ([`policy`]), its
//! rendering into Prometheus rule groups and back ([`rules`]), where they are kept in a business
//! cluster ([`store`]: the PrometheusRule `kube-system/prometheus-alerts`), the REST API
//! ([`rest`]) and the platform's own built-in rules and their policy preset ([`presets`]).

pub mod policy;
pub mod presets;
pub mod rest;
pub mod rules;
pub mod store;

pub use policy::AlarmPolicy;

/// Policies of every type, for tests here and in other crates.
pub mod examples {
    use super::policy::*;

    fn metric(name: &str, measurement: &str, op: &str, value: &str, continue_period: i64, unit: &str) -> AlarmMetric {
        AlarmMetric {
            measurement: measurement.into(),
            metric_name: name.into(),
            display_name: format!("{name} shown"),
            continue_period,
            evaluator: Evaluator { type_: op.into(), value: value.into() },
            unit: unit.into(),
        }
    }

    fn notify() -> NotifySettings {
        NotifySettings {
            receiver_groups: vec!["ops".into()],
            receivers: vec!["alice".into(), "bob".into()],
            notify_way: vec![
                NotifyWay { channel: "email".into(), template: "alert-mail".into() },
                NotifyWay { channel: "hook".into(), template: "alert-text".into() },
            ],
        }
    }

    /// A pod policy on two workloads of a namespace: a number, a boolean and a percentage.
    pub fn pod() -> AlarmPolicy {
        AlarmPolicy {
            settings: Some(AlarmPolicySettings {
                name: "pod-cpu".into(),
                policy_type: "pod".into(),
                metrics: vec![
                    metric("k8s_pod_cpu_core_used", "k8s_pod", "gt", "0.8", 3, "core"),
                    metric("k8s_pod_status_ready", "k8s_pod", "eq", "false", 2, ""),
                    metric("k8s_pod_mem_usage_rate", "k8s_pod", "gt", "90", 1, "%"),
                ],
                objects: "web,api.v2".into(),
                objects_type: "part".into(),
                statistics_period: 60,
            }),
            notify: Some(notify()),
            namespace: "shop".into(),
            workload_type: "Deployment".into(),
        }
    }

    /// A cluster policy.
    pub fn cluster() -> AlarmPolicy {
        AlarmPolicy {
            settings: Some(AlarmPolicySettings {
                name: "集群 CPU".into(),
                policy_type: "cluster".into(),
                metrics: vec![
                    metric("k8s_cluster_cpu_usage", "k8s_cluster", "gt", "85.5", 5, "%"),
                    metric("k8s_cluster_pod_restart_total", "k8s_cluster", "gt", "10", 1, ""),
                ],
                objects: String::new(),
                objects_type: String::new(),
                statistics_period: 300,
            }),
            notify: Some(NotifySettings::default()),
            ..Default::default()
        }
    }

    /// A node policy on every node.
    pub fn node_all() -> AlarmPolicy {
        AlarmPolicy {
            settings: Some(AlarmPolicySettings {
                name: "nodes".into(),
                policy_type: "node".into(),
                metrics: vec![metric("k8s_node_status_ready", "k8s_node", "eq", "false", 2, "")],
                objects: String::new(),
                objects_type: "all".into(),
                statistics_period: 30,
            }),
            notify: Some(notify()),
            ..Default::default()
        }
    }

    /// A node policy on two nodes named by address.
    pub fn node_part() -> AlarmPolicy {
        AlarmPolicy {
            settings: Some(AlarmPolicySettings {
                name: "two-nodes".into(),
                policy_type: "node".into(),
                metrics: vec![metric("k8s_node_cpu_usage", "k8s_node", "lt", "-1.5", 10, "%")],
                objects: "10.0.0.1,node-b".into(),
                objects_type: "part".into(),
                statistics_period: 60,
            }),
            notify: Some(notify()),
            ..Default::default()
        }
    }

    /// A virtual machine policy.
    pub fn virtual_machine() -> AlarmPolicy {
        AlarmPolicy {
            settings: Some(AlarmPolicySettings {
                name: "vm".into(),
                policy_type: "virtualMachine".into(),
                metrics: vec![metric("kubevirt_vmi_memory_used_bytes", "vm", "gt", "1073741824", 2, "B")],
                objects: "vm-1".into(),
                objects_type: "part".into(),
                statistics_period: 60,
            }),
            notify: Some(notify()),
            ..Default::default()
        }
    }

    /// Every example, and the platform's own preset.
    pub fn all() -> Vec<AlarmPolicy> {
        vec![pod(), cluster(), node_all(), node_part(), virtual_machine(), super::presets::tke()]
    }
}

#[cfg(test)]
mod promtool {
    use std::process::Command;

    /// Runs Debian's `promtool check rules` on `yaml`; Err with its output when it refuses.
    pub fn check(yaml: &str) -> Result<String, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let path = dir.path().join("rules.yaml");
        std::fs::write(&path, yaml).map_err(|e| e.to_string())?;
        let out = Command::new("promtool")
            .args(["check", "rules"])
            .arg(&path)
            .output()
            .map_err(|e| format!("promtool must be installed (Debian package prometheus): {e}"))?;
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        if out.status.success() { Ok(text) } else { Err(text) }
    }

    #[test]
    fn every_rendered_policy_passes_promtool() {
        let policies = super::examples::all();
        let rules: usize = policies.iter().map(|p| p.settings.as_ref().map_or(0, |s| s.metrics.len())).sum();
        let groups: Vec<serde_json::Value> = policies.iter().map(super::rules::group_of).collect();
        let yaml = serde_yaml_ng::to_string(&serde_json::json!({ "groups": groups })).expect("yaml");
        let out = check(&yaml).unwrap_or_else(|e| panic!("promtool refused:\n{e}\n{yaml}"));
        assert!(out.contains(&format!("SUCCESS: {rules} rules found")), "{out}");
    }

    #[test]
    fn the_built_in_rule_file_passes_promtool() {
        let out = check(super::presets::RULES).unwrap_or_else(|e| panic!("promtool refused:\n{e}"));
        assert!(out.contains("SUCCESS"), "{out}");
    }

    #[test]
    fn promtool_refuses_a_broken_rule() {
        let e = check("groups: [{name: x, rules: [{alert: a, expr: 'up >'}]}]").expect_err("broken");
        assert!(e.contains("parse error") || e.contains("unexpected"), "{e}");
    }
}
