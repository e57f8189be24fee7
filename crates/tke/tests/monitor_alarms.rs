//! Alarm policies against the real `tke up` and a simulated business cluster: the REST API of
//! `/apis/v1/monitor/clusters/{cluster}/alarmpolicies` (create, list with pages, get, replace,
//! delete, the envelope and its errors), the policies kept as rule groups of the cluster's
//! PrometheusRule `kube-system/prometheus-alerts`, and the built-in rules and preset.

use std::time::Duration;

use kube::{
    Api,
    api::{ApiResource, DynamicObject, GroupVersionKind, PostParams},
};
use serde_json::{Value, json};
use testkit::tke::Tke;

/// The PrometheusRule CRD as the Prometheus add-on installs it.
fn prometheusrule_crd() -> Value {
    let objects =
        addons::manifests::render("Prometheus", "v1.0.0", "registry.example.com", &json!({})).expect("manifest");
    objects
        .into_iter()
        .find(|o| o["metadata"]["name"] == "prometheusrules.monitoring.coreos.com")
        .expect("the add-on carries the PrometheusRule CRD")
}

struct Client<'a> {
    t: &'a Tke,
    cert: String,
    key: String,
}

impl Client<'_> {
    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let url = format!("{}{path}", self.t.url);
        let data = body.map(|b| b.to_string()).unwrap_or_default();
        let mut args = vec!["--cert", &self.cert, "--key", &self.key, "-X", method];
        if body.is_some() {
            args.extend(["-H", "Content-Type: application/json", "--data", &data]);
        }
        args.push(&url);
        self.t.curl_json(&args)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alarm_policies_are_rule_groups_of_the_clusters_prometheusrule() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let t = Tke::start();
    let sim = kubesim::SimCluster::start(kubesim::SimOptions::default()).await.expect("simulated cluster");
    t.import_cluster("cls-alarm", sim.url(), sim.ca_pem().as_bytes(), sim.admin_token());
    let pki = t.data_dir().join("pki");
    let c = Client {
        t: &t,
        cert: pki.join("admin.crt").display().to_string(),
        key: pki.join("admin.key").display().to_string(),
    };
    let base = "/apis/v1/monitor/clusters/cls-alarm/alarmpolicies";
    let pod = serde_json::to_value(monitor::alarm::examples::pod()).expect("policy");
    let nodes = serde_json::to_value(monitor::alarm::examples::node_all()).expect("policy");

    // Unknown clusters are 404; a cluster without the PrometheusRule CRD says what to install.
    let (code, body) = c.call("GET", "/apis/v1/monitor/clusters/nope/alarmpolicies", None);
    assert_eq!((code, &body["result"], &body["err"]), (404, &json!(false), &json!("cluster nope does not exist")));
    let (code, body) = c.call("POST", base, Some(&pod));
    assert_eq!(code, 503, "{body}");
    assert!(body["err"].as_str().unwrap_or_default().contains("install the Prometheus add-on"), "{body}");

    // The CRD, as the add-on would install it.
    let crds: Api<DynamicObject> = Api::all_with(
        sim.client(),
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
            "customresourcedefinitions",
        ),
    );
    let crd: DynamicObject = serde_json::from_value(prometheusrule_crd()).expect("crd");
    crds.create(&PostParams::default(), &crd).await.expect("create the CRD");
    let rules: Api<DynamicObject> = Api::namespaced_with(
        sim.client(),
        "kube-system",
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("monitoring.coreos.com", "v1", "PrometheusRule"),
            "prometheusrules",
        ),
    );
    testkit::wait_until("PrometheusRules served", Duration::from_secs(30), || {
        let rules = rules.clone();
        async move { rules.list(&Default::default()).await.ok().map(|_| ()) }
    })
    .await;

    // Create: the envelope, then the rule group in the cluster exactly as rendered.
    let (code, body) = c.call("POST", base, Some(&pod));
    assert_eq!(code, 201, "{body}");
    assert_eq!(body["result"], true);
    assert_eq!(body["err"], "");
    assert!(!body["rev"].as_str().unwrap_or_default().is_empty(), "{body}");
    let stored = rules.get("prometheus-alerts").await.expect("the PrometheusRule");
    assert_eq!(stored.metadata.labels.as_ref().and_then(|l| l.get("role")).map(String::as_str), Some("alert-rules"));
    let group = &stored.data["spec"]["groups"][0];
    assert_eq!(group, &monitor::alarm::rules::group_of(&monitor::alarm::examples::pod()));
    assert_eq!(
        group["rules"][0]["expr"],
        "k8s_pod_cpu_core_used{namespace=\"shop\",workload_kind=\"Deployment\",workload_name=~\"web|api\\\\.v2\"} > 0.8"
    );

    // Twice is a conflict; invalid bodies are 400 with what to fix.
    let (code, body) = c.call("POST", base, Some(&pod));
    assert_eq!(code, 409, "{body}");
    let mut bad = nodes.clone();
    bad["AlarmPolicySettings"]["statisticsPeriod"] = json!(0);
    bad["AlarmPolicySettings"]["AlarmMetrics"][0]["Evaluator"]["Type"] = json!("ge");
    let (code, body) = c.call("POST", base, Some(&bad));
    assert_eq!(code, 400, "{body}");
    let err = body["err"].as_str().unwrap_or_default();
    assert!(
        err.contains("statisticsPeriod: 0 must be a number of seconds") && err.contains("Evaluator.Type: \"ge\""),
        "{err}"
    );
    let (code, body) = c.call("POST", base, Some(&json!("not a policy")));
    assert_eq!(code, 400, "{body}");

    // List: sorted by name, paged.
    let (code, _) = c.call("POST", base, Some(&nodes));
    assert_eq!(code, 201);
    let (code, body) = c.call("GET", &format!("{base}?page=1&page_size=10"), None);
    assert_eq!(code, 200, "{body}");
    let names: Vec<&str> = body["data"]["alarmPolicies"]
        .as_array()
        .expect("policies")
        .iter()
        .filter_map(|p| p["AlarmPolicySettings"]["AlarmPolicyName"].as_str())
        .collect();
    assert_eq!(names, ["nodes", "pod-cpu"]);
    assert_eq!(body["data"]["total"], 2);
    let (_, body) = c.call("GET", &format!("{base}?page=2&page_size=1"), None);
    assert_eq!(body["data"]["alarmPolicies"][0]["AlarmPolicySettings"]["AlarmPolicyName"], "pod-cpu");
    assert_eq!((&body["data"]["page"], &body["data"]["pageSize"]), (&json!(2), &json!(1)));
    let (code, body) = c.call("GET", &format!("{base}?page=0"), None);
    assert_eq!(code, 400, "{body}");

    // Get reads the rule group back into the same policy.
    let (code, body) = c.call("GET", &format!("{base}/pod-cpu"), None);
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["data"], pod);

    // Replace: every metric replaced.
    let mut changed = pod.clone();
    changed["AlarmPolicySettings"]["AlarmMetrics"] = json!([{"MetricName": "k8s_pod_mem_usage_bytes", "ContinuePeriod": 2, "Evaluator": {"Type": "lt", "Value": "1024"}, "Unit": "B"}]);
    let (code, body) = c.call("PUT", &format!("{base}/pod-cpu"), Some(&changed));
    assert_eq!(code, 200, "{body}");
    let (_, body) = c.call("GET", &format!("{base}/pod-cpu"), None);
    assert_eq!(body["data"], changed);
    let stored = rules.get("prometheus-alerts").await.expect("the PrometheusRule");
    let group =
        stored.data["spec"]["groups"].as_array().expect("groups").iter().find(|g| g["name"] == "pod-cpu").cloned();
    assert_eq!(group.expect("group")["rules"][0]["for"], "120s");
    let (code, body) = c.call("PUT", &format!("{base}/other"), Some(&changed));
    assert_eq!(code, 400, "{body}");
    assert!(body["err"].as_str().unwrap_or_default().contains("renamed by deleting it"), "{body}");

    // Delete; then it is gone.
    let (code, body) = c.call("DELETE", &format!("{base}/pod-cpu"), None);
    assert_eq!(code, 200, "{body}");
    let (code, body) = c.call("GET", &format!("{base}/pod-cpu"), None);
    assert_eq!(code, 404, "{body}");
    assert_eq!(body["err"], "alarm policy \"pod-cpu\" does not exist in cluster cls-alarm");
    let (code, _) = c.call("DELETE", &format!("{base}/pod-cpu"), None);
    assert_eq!(code, 404);
    let stored = rules.get("prometheus-alerts").await.expect("the PrometheusRule");
    assert_eq!(stored.data["spec"]["groups"].as_array().map(Vec::len), Some(1));

    // The built-in rules and the preset, which can be kept as a policy of the cluster.
    let (code, yaml) = t.curl(&["--cert", &c.cert, "--key", &c.key, &format!("{}/apis/v1/monitor/rules/tke", t.url)]);
    assert_eq!(code, 200);
    assert!(yaml.contains("name: tke-platform") && yaml.contains("tke:certificate_expiry:days"), "{yaml}");
    let (code, body) = c.call("GET", "/apis/v1/monitor/presets/alarmpolicies", None);
    assert_eq!(code, 200, "{body}");
    let preset = body["data"]["alarmPolicies"][0].clone();
    let (code, body) = c.call("POST", base, Some(&preset));
    assert_eq!(code, 201, "{body}");
    let (_, body) = c.call("GET", &format!("{base}/tke-platform"), None);
    assert_eq!(body["data"], preset);

    // A user the authorizer gives nothing in the cluster may not read its policies.
    let out = t.kubectl(&["--as", "alice", "--as-group", "tenant:default", "get", "--raw", base]);
    let refused = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        !out.status.success() && refused.contains("may not listAlarmpolicies \"cluster:cls-alarm/alarmpolicy:*\""),
        "{refused}"
    );

    // Callers the server does not know get nothing.
    let (code, _) = t.curl_json(&[&format!("{}{base}", t.url)]);
    assert_eq!(code, 401);
    sim.stop().await;
}

/// The add-on's `status.phase` and `status.reason`.
fn addon_phase(t: &Tke, name: &str) -> (String, String) {
    let out = t.kubectl(&["get", "prometheus", name, "-o", "jsonpath={.status.phase}|{.status.reason}"]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (phase, reason) = text.split_once('|').unwrap_or((text.as_str(), ""));
    (phase.to_string(), reason.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_prometheus_add_on_installs_the_monitoring_stack_sized_by_its_spec_upgrades_and_removes_it() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let fast = [
        "--addon-check-interval-seconds",
        "1",
        "--addon-health-period-seconds",
        "1",
        "--addon-retry-delay-seconds",
        "1",
        "--addon-registry",
        "registry.example.com",
    ];
    let t = Tke::start_with(testkit::tke::tke_binary(), testkit::tke::Storage::Embedded, &fast);
    let sim = kubesim::SimCluster::start(kubesim::SimOptions::default()).await.expect("simulated cluster");
    t.import_cluster("cls-prom", sim.url(), sim.ca_pem().as_bytes(), sim.admin_token());
    t.create(&json!({"apiVersion": "platform.tkestack.io/v1", "kind": "Prometheus", "metadata": {"name": "prom-1"},
        "spec": {"clusterName": "cls-prom", "version": "v1.0.0", "retention": "3d", "alertRepeatInterval": "10m",
                 "resources": {"limits": {"cpu": "2", "memory": "3Gi"}, "requests": {"cpu": "500m", "memory": "1Gi"}}}}));
    testkit::tke::wait_for("the Prometheus add-on to run", Duration::from_secs(90), || {
        let (phase, reason) = addon_phase(&t, "prom-1");
        assert_ne!(phase, "Failed", "{reason}\n{}", t.log());
        (phase == "Running").then_some(())
    });

    let api = |group: &str, kind: &str, plural: &str| -> Api<DynamicObject> {
        Api::namespaced_with(
            sim.client(),
            "kube-system",
            &ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, "v1", kind), plural),
        )
    };
    let prometheuses = api("monitoring.coreos.com", "Prometheus", "prometheuses");
    let k8s = prometheuses.get("k8s").await.expect("the Prometheus k8s");
    assert_eq!(k8s.data["spec"]["retention"], "3d");
    assert_eq!(k8s.data["spec"]["resources"]["limits"], json!({"cpu": "2", "memory": "3Gi"}));
    assert_eq!(k8s.data["spec"]["resources"]["requests"], json!({"cpu": "500m", "memory": "1Gi"}));
    api("monitoring.coreos.com", "Alertmanager", "alertmanagers").get("main").await.expect("the Alertmanager main");
    let rules = api("monitoring.coreos.com", "PrometheusRule", "prometheusrules");
    rules.get("prometheus-records").await.expect("the recording rules");
    rules.get("prometheus-alerts").await.expect("the PrometheusRule of the alarm policies");
    for (kind, name) in [
        ("Deployment", "prometheus-operator"),
        ("Deployment", "kube-state-metrics"),
        ("Deployment", "custom-metrics-apiserver"),
        ("DaemonSet", "node-exporter"),
    ] {
        let plural = format!("{}s", kind.to_ascii_lowercase());
        api("apps", kind, &plural).get(name).await.unwrap_or_else(|e| panic!("{kind} {name}: {e}"));
    }
    let daemonsets = api("apps", "DaemonSet", "daemonsets");
    assert!(daemonsets.get_opt("node-problem-detector").await.expect("read").is_none(), "no NPD without withNPD");

    // Alertmanager calls the platform's webhook with the notify token, every 10 minutes.
    let secret = api("", "Secret", "secrets").get("alertmanager-main").await.expect("the Alertmanager configuration");
    let b64 = secret.data["data"]["alertmanager.yaml"].as_str().expect("alertmanager.yaml");
    use base64::Engine as _;
    let config: Value =
        serde_yaml_ng::from_slice(&base64::engine::general_purpose::STANDARD.decode(b64).expect("base64"))
            .expect("yaml");
    let token = std::fs::read_to_string(t.data_dir().join(notify::WEBHOOK_TOKEN_FILE)).expect("token file");
    let hook = &config["receivers"][0]["webhook_configs"][0];
    assert_eq!(hook["url"], format!("{}/webhook", t.url));
    assert_eq!(hook["http_config"]["authorization"]["credentials"], token.trim());
    assert_eq!(config["route"]["repeat_interval"], "10m");

    // A policy can be kept at once; removing the add-on removes the stack (and the policies).
    let pki = t.data_dir().join("pki");
    let c = Client {
        t: &t,
        cert: pki.join("admin.crt").display().to_string(),
        key: pki.join("admin.key").display().to_string(),
    };
    let (code, body) = c.call(
        "POST",
        "/apis/v1/monitor/clusters/cls-prom/alarmpolicies",
        Some(&serde_json::to_value(monitor::alarm::examples::node_all()).expect("policy")),
    );
    assert_eq!(code, 201, "{body}");

    // An upgrade re-applies the stack and keeps the policies (the manifest never owns the groups).
    t.kubectl_ok(&["patch", "prometheus", "prom-1", "--type", "merge", "-p", r#"{"spec":{"version":"v1.1.0"}}"#]);
    testkit::tke::wait_for("the upgrade to v1.1.0", Duration::from_secs(90), || {
        let out = t.kubectl(&["get", "prometheus", "prom-1", "-o", "jsonpath={.status.phase}|{.status.version}"]);
        (String::from_utf8_lossy(&out.stdout) == "Running|v1.1.0").then_some(())
    });
    let operator = api("apps", "Deployment", "deployments").get("prometheus-operator").await.expect("operator");
    assert_eq!(
        operator.data["spec"]["template"]["spec"]["containers"][0]["image"],
        "registry.example.com/tkestack/prometheus-operator:v1.1.0"
    );
    let (code, body) = c.call("GET", "/apis/v1/monitor/clusters/cls-prom/alarmpolicies/nodes", None);
    assert_eq!(code, 200, "the policy survives the upgrade: {body}");
    let k8s = prometheuses.get("k8s").await.expect("the Prometheus k8s");
    assert_eq!(k8s.data["spec"]["retention"], "3d");

    t.kubectl_ok(&["delete", "prometheus", "prom-1", "--wait=false"]);
    testkit::tke::wait_for("the add-on to go", Duration::from_secs(60), || {
        (!t.kubectl(&["get", "prometheus", "prom-1"]).status.success()).then_some(())
    });
    let deployments = api("apps", "Deployment", "deployments");
    for name in ["prometheus-operator", "kube-state-metrics", "custom-metrics-apiserver"] {
        assert!(deployments.get_opt(name).await.expect("read").is_none(), "{name} removed");
    }
    assert!(daemonsets.get_opt("node-exporter").await.expect("read").is_none(), "node-exporter removed");
    let crds: Api<DynamicObject> = Api::all_with(
        sim.client(),
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
            "customresourcedefinitions",
        ),
    );
    testkit::wait_until("the CRDs to go", Duration::from_secs(30), || {
        let crds = crds.clone();
        async move { crds.get_opt("prometheuses.monitoring.coreos.com").await.ok().flatten().is_none().then_some(()) }
    })
    .await;
    sim.stop().await;
}
