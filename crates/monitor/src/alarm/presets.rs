//! The platform watching itself: the built-in rule file `rules/tke.rules.yaml` (embedded, served
//! at `GET /apis/v1/monitor/rules/tke`) with recording rules over tke's own `/metrics` (API 5xx
//! ratio and p99 latency, reconcile errors, reconciles in flight, certificate expiry, Leases held
//! and lost, open watches) and the alerts on them, which are exactly the rule group of the alarm
//! policy [`tke`] (a test holds the two together), so the same alerts can be kept as a policy of
//! a cluster whose Prometheus scrapes the platform.

use super::policy::{AlarmMetric, AlarmPolicy, AlarmPolicySettings, Evaluator, NotifySettings};

/// The built-in rule file.
pub const RULES: &str = include_str!("../../rules/tke.rules.yaml");

/// The name of the preset policy (its rule group in [`RULES`]).
pub const NAME: &str = "tke-platform";

/// The platform's own alerts as an alarm policy of type `cluster`, over the recorded series of
/// [`RULES`]; it notifies nobody until receivers are added.
pub fn tke() -> AlarmPolicy {
    let m = |name: &str, display: &str, op: &str, value: &str, continue_period: i64, unit: &str| AlarmMetric {
        measurement: "tke_platform".into(),
        metric_name: name.into(),
        display_name: display.into(),
        continue_period,
        evaluator: Evaluator { type_: op.into(), value: value.into() },
        unit: unit.into(),
    };
    AlarmPolicy {
        settings: Some(AlarmPolicySettings {
            name: NAME.into(),
            policy_type: "cluster".into(),
            metrics: vec![
                m("tke:apiserver_request_5xx:ratio_rate5m", "API requests answered 5xx", "gt", "5", 5, "%"),
                m("tke:apiserver_request_duration_seconds:p99_5m", "API request latency p99", "gt", "1", 5, "s"),
                m("tke:controller_reconcile_errors:rate5m", "Failed reconciles per second", "gt", "0.1", 10, ""),
                m("tke:controller_reconciles_in_flight:max", "Reconciles running at once", "gt", "20", 10, ""),
                m("tke:certificate_expiry:days", "Days until a certificate expires", "lt", "30", 1, "d"),
                m("tke:leader:held", "Replicas holding a controller Lease", "eq", "0", 5, ""),
                m("tke:leader_lost:increase10m", "Leases lost in 10 minutes", "gt", "0", 1, ""),
                m("tke:apiserver_registered_watchers:sum", "Open watches", "gt", "5000", 5, ""),
            ],
            objects: String::new(),
            objects_type: String::new(),
            statistics_period: 60,
        }),
        notify: Some(NotifySettings::default()),
        namespace: String::new(),
        workload_type: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule_file_alerts_are_the_preset_policy() {
        let file: serde_json::Value = serde_yaml_ng::from_str(RULES).expect("the rule file is YAML");
        let groups = file["groups"].as_array().expect("groups");
        let alerts = groups.iter().find(|g| g["name"] == NAME).expect("the preset's group");
        assert_eq!(alerts, &super::super::rules::group_of(&tke()));
        assert!(tke().validate().is_empty(), "{:?}", tke().validate());
        // Every series the alerts compare is recorded in the file.
        let recorded: Vec<&str> = groups
            .iter()
            .flat_map(|g| g["rules"].as_array().into_iter().flatten())
            .filter_map(|r| r["record"].as_str())
            .collect();
        for m in tke().settings.expect("settings").metrics {
            assert!(recorded.contains(&m.metric_name.as_str()), "{} is recorded", m.metric_name);
        }
    }
}
