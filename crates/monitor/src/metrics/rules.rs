//! The recording rules that give a Prometheus the names of [`super`]'s tables from what
//! cAdvisor (`container_cpu_usage_seconds_total`, `container_memory_working_set_bytes`) and
//! kube-state-metrics (`kube_pod_info`, `kube_pod_status_ready`, `kube_node_status_*`,
//! `kube_replicaset_owner`, `kube_namespace_labels`...) expose, with the labels the console
//! reads (`pod_name`, `container_name`, `node`, `workload_kind`, `workload_name`,
//! `project_name`). Every aggregation keeps `cluster_id`, so the same rules serve a central
//! Prometheus whose targets carry it and a cluster's own Prometheus whose series do not.
//!
//! A node's usage here is the sum of its pods' (the embedded store reads the metrics API,
//! which adds what the node's own processes use).

/// The rule file (Prometheus' YAML), group `tke-metrics`, evaluated every `interval_seconds`
/// (the scrape interval). CPU rates are taken over two intervals (TKEStack's `[2m]` at 60 s):
/// `rate()` divides what a counter gained by the whole window, so a series younger than its
/// window reads low until the window is full.
fn recording_rules(interval_seconds: u64) -> String {
    let mut out = format!("groups:\n- name: tke-metrics\n  interval: {interval_seconds}s\n  rules:\n");
    for (record, expr) in RULES {
        out.push_str(&format!(
            "  - record: {record}\n    expr: >-\n      {}\n",
            expr.split_whitespace().collect::<Vec<_>>().join(" ")
        ));
    }
    out
}

const POD_LABELS: &str = "cluster_id, namespace, pod_name, node, workload_kind, workload_name";

/// (record, expression) in evaluation order.
const RULES: &[(&str, &str)] = &[
    // Each pod with its workload: a ReplicaSet's pods belong to the ReplicaSet's owner.
    (
        "tke:pod_workload",
        r#"max by (cluster_id, namespace, pod, node, workload_kind, workload_name) (
            label_replace(label_replace(
              kube_pod_info{created_by_kind="ReplicaSet"}
                * on (cluster_id, namespace, created_by_name) group_left (owner_kind, owner_name)
                  max by (cluster_id, namespace, created_by_name, owner_kind, owner_name) (
                    label_replace(kube_replicaset_owner, "created_by_name", "$1", "replicaset", "(.*)")),
              "workload_kind", "$1", "owner_kind", "(.*)"), "workload_name", "$1", "owner_name", "(.*)")
            or
            label_replace(label_replace(kube_pod_info{created_by_kind!="ReplicaSet"},
              "workload_kind", "$1", "created_by_kind", "(.*)"), "workload_name", "$1", "created_by_name", "(.*)"))"#,
    ),
    (
        "k8s_container_cpu_core_used",
        r#"sum by (cluster_id, namespace, pod_name, container_name, node, workload_kind, workload_name) (
            label_replace(label_replace(
              sum by (cluster_id, namespace, pod, container) (rate(container_cpu_usage_seconds_total{container!=""}[WINDOW]))
                * on (cluster_id, namespace, pod) group_left (node, workload_kind, workload_name) tke:pod_workload,
              "pod_name", "$1", "pod", "(.*)"), "container_name", "$1", "container", "(.*)"))"#,
    ),
    (
        "k8s_container_mem_usage_bytes",
        r#"sum by (cluster_id, namespace, pod_name, container_name, node, workload_kind, workload_name) (
            label_replace(label_replace(
              sum by (cluster_id, namespace, pod, container) (container_memory_working_set_bytes{container!=""})
                * on (cluster_id, namespace, pod) group_left (node, workload_kind, workload_name) tke:pod_workload,
              "pod_name", "$1", "pod", "(.*)"), "container_name", "$1", "container", "(.*)"))"#,
    ),
    ("k8s_pod_cpu_core_used", "sum by (POD) (k8s_container_cpu_core_used)"),
    ("k8s_pod_mem_usage_bytes", "sum by (POD) (k8s_container_mem_usage_bytes)"),
    (
        "k8s_pod_status_ready",
        r#"sum by (POD) (label_replace(
            kube_pod_status_ready{condition="true"}
              * on (cluster_id, namespace, pod) group_left (node, workload_kind, workload_name) tke:pod_workload,
            "pod_name", "$1", "pod", "(.*)"))"#,
    ),
    (
        "k8s_pod_rate_cpu_core_used_node",
        r#"k8s_pod_cpu_core_used * 100 / on (cluster_id, node) group_left ()
            max by (cluster_id, node) (kube_node_status_capacity{resource="cpu"})"#,
    ),
    (
        "k8s_pod_rate_mem_usage_node",
        r#"k8s_pod_mem_usage_bytes * 100 / on (cluster_id, node) group_left ()
            max by (cluster_id, node) (kube_node_status_capacity{resource="memory"})"#,
    ),
    ("k8s_node_cpu_core_used", "sum by (cluster_id, node) (k8s_pod_cpu_core_used)"),
    ("k8s_node_mem_usage_bytes", "sum by (cluster_id, node) (k8s_pod_mem_usage_bytes)"),
    (
        "k8s_node_cpu_usage",
        r#"k8s_node_cpu_core_used * 100 / on (cluster_id, node)
            max by (cluster_id, node) (kube_node_status_capacity{resource="cpu"})"#,
    ),
    (
        "k8s_node_mem_usage",
        r#"k8s_node_mem_usage_bytes * 100 / on (cluster_id, node)
            max by (cluster_id, node) (kube_node_status_capacity{resource="memory"})"#,
    ),
    ("k8s_node_pod_num", "count by (cluster_id, node) (k8s_pod_status_ready)"),
    (
        "k8s_node_status_ready",
        r#"max by (cluster_id, node) (kube_node_status_condition{condition="Ready", status="true"})"#,
    ),
    (
        "k8s_workload_cpu_core_used",
        "sum by (cluster_id, namespace, workload_kind, workload_name) (k8s_pod_cpu_core_used)",
    ),
    (
        "k8s_workload_mem_usage_bytes",
        "sum by (cluster_id, namespace, workload_kind, workload_name) (k8s_pod_mem_usage_bytes)",
    ),
    ("k8s_workload_pod_num", "count by (cluster_id, namespace, workload_kind, workload_name) (k8s_pod_status_ready)"),
    (
        "k8s_workload_abnormal",
        r#"max by (cluster_id, namespace, workload_kind, workload_name) (
            label_replace(label_replace(kube_deployment_status_replicas_unavailable,
              "workload_kind", "Deployment", "", ""), "workload_name", "$1", "deployment", "(.*)"))"#,
    ),
    ("k8s_namespace_cpu_core_used", "sum by (cluster_id, namespace) (k8s_pod_cpu_core_used)"),
    ("k8s_namespace_mem_usage_bytes", "sum by (cluster_id, namespace) (k8s_pod_mem_usage_bytes)"),
    ("k8s_cluster_cpu_core_total", r#"sum by (cluster_id) (kube_node_status_allocatable{resource="cpu"})"#),
    ("k8s_cluster_memory_total", r#"sum by (cluster_id) (kube_node_status_allocatable{resource="memory"})"#),
    ("k8s_cluster_cpu_core_used", "sum by (cluster_id) (k8s_pod_cpu_core_used)"),
    ("k8s_cluster_mem_usage_bytes", "sum by (cluster_id) (k8s_pod_mem_usage_bytes)"),
    ("k8s_cluster_node_num", r#"count by (cluster_id) (kube_node_status_condition{condition="Ready", status="true"})"#),
    ("k8s_cluster_pod_num", "count by (cluster_id) (kube_pod_info)"),
    ("k8s_cluster_pod_running_num", r#"sum by (cluster_id) (kube_pod_status_phase{phase="Running"})"#),
    (
        "k8s_cluster_rate_cpu_core_used_cluster",
        "k8s_cluster_cpu_core_used * 100 / on (cluster_id) k8s_cluster_cpu_core_total",
    ),
    (
        "k8s_cluster_rate_mem_usage_bytes_cluster",
        "k8s_cluster_mem_usage_bytes * 100 / on (cluster_id) k8s_cluster_memory_total",
    ),
    (
        "project_cluster_cpu_core_used",
        r#"sum by (cluster_id, project_name) (k8s_namespace_cpu_core_used * on (cluster_id, namespace) group_left (project_name)
            label_replace(kube_namespace_labels{label_tkestack_io_project_name!=""},
              "project_name", "$1", "label_tkestack_io_project_name", "(.*)"))"#,
    ),
    (
        "project_cluster_memory_usage_bytes",
        r#"sum by (cluster_id, project_name) (k8s_namespace_mem_usage_bytes * on (cluster_id, namespace) group_left (project_name)
            label_replace(kube_namespace_labels{label_tkestack_io_project_name!=""},
              "project_name", "$1", "label_tkestack_io_project_name", "(.*)"))"#,
    ),
];

/// The rule file with `POD` spelled out.
pub fn rule_file(interval_seconds: u64) -> String {
    recording_rules(interval_seconds)
        .replace("(POD)", &format!("({POD_LABELS})"))
        .replace("[WINDOW]", &format!("[{}s]", (2 * interval_seconds).max(10)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Debian's promtool (installed by scripts/setup) accepts the file.
    #[test]
    fn promtool_accepts_the_rules() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("rules.yml");
        std::fs::write(&path, rule_file(60)).expect("write");
        let out = std::process::Command::new("promtool")
            .arg("check")
            .arg("rules")
            .arg(&path)
            .output()
            .expect("promtool runs (Debian's prometheus package, installed by scripts/setup)");
        assert!(
            out.status.success(),
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!rule_file(60).contains("POD") && !rule_file(60).contains("WINDOW"));
        assert!(rule_file(60).contains("[120s]") && rule_file(1).contains("[10s]"));
    }
}
