//! The platform watching itself: Debian's `prometheus` scrapes a real `tke up`'s `/metrics` with
//! the built-in rule file loaded; every rule loads and evaluates without error and the
//! platform's own series (API requests, reconciles, certificate expiry) can be queried, raw and
//! recorded.

use std::{
    net::TcpListener,
    process::{Child, Command, Stdio},
    time::Duration,
};

use serde_json::Value;
use testkit::tke::{Tke, wait_for};

/// A Prometheus process, killed on drop.
struct Prometheus {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

fn start_prometheus(t: &Tke) -> Prometheus {
    let dir = tempfile::tempdir().expect("dir");
    let pki = t.data_dir().join("pki");
    let rules = dir.path().join("tke.rules.yaml");
    std::fs::write(&rules, monitor::alarm::presets::RULES).expect("rules");
    let target = t.url.trim_start_matches("https://").to_string();
    let config = format!(
        "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\n\
         rule_files: [{rules}]\n\
         scrape_configs:\n\
         - job_name: tke\n  scheme: https\n  static_configs: [{{targets: ['{target}']}}]\n  \
         tls_config: {{ca_file: {ca}, cert_file: {cert}, key_file: {key}}}\n",
        rules = rules.display(),
        ca = pki.join("ca.crt").display(),
        cert = pki.join("admin.crt").display(),
        key = pki.join("admin.key").display(),
    );
    let config_file = dir.path().join("prometheus.yml");
    std::fs::write(&config_file, config).expect("config");
    let port = free_port();
    let log = std::fs::File::create(dir.path().join("prometheus.log")).expect("log");
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", config_file.display()))
        .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("prometheus must be installed (Debian package prometheus)");
    Prometheus { child, url: format!("http://127.0.0.1:{port}"), _dir: dir }
}

fn api(t: &Tke, p: &Prometheus, path: &str) -> Option<Value> {
    let (code, body) = t.curl_json(&["-G", &format!("{}{path}", p.url)]);
    (code == 200 && body["status"] == "success").then(|| body["data"].clone())
}

fn query(t: &Tke, p: &Prometheus, promql: &str) -> Vec<Value> {
    let (code, body) =
        t.curl_json(&["-G", &format!("{}/api/v1/query", p.url), "--data-urlencode", &format!("query={promql}")]);
    if code != 200 {
        return vec![];
    }
    body["data"]["result"].as_array().cloned().unwrap_or_default()
}

#[test]
fn prometheus_scrapes_tke_and_evaluates_the_built_in_rules() {
    let t = Tke::start();
    let p = start_prometheus(&t);

    // The target is up.
    wait_for("tke's /metrics scraped", Duration::from_secs(60), || {
        let targets = api(&t, &p, "/api/v1/targets")?;
        let up = targets["activeTargets"].as_array()?.iter().any(|x| x["health"] == "up");
        up.then_some(())
    });
    // Every rule of the file loaded and was evaluated without error.
    let groups = wait_for("every rule evaluated", Duration::from_secs(60), || {
        let data = api(&t, &p, "/api/v1/rules")?;
        let groups = data["groups"].as_array()?.clone();
        let rules: Vec<&Value> = groups.iter().flat_map(|g| g["rules"].as_array().into_iter().flatten()).collect();
        let evaluated = !rules.is_empty()
            && rules.iter().all(|r| r["lastEvaluation"].as_str().is_some_and(|e| !e.starts_with("0001")));
        evaluated.then_some(groups)
    });
    let mut names: Vec<&str> = groups.iter().filter_map(|g| g["name"].as_str()).collect();
    names.sort();
    assert_eq!(names, ["tke-platform", "tke.records"]);
    for g in &groups {
        for r in g["rules"].as_array().into_iter().flatten() {
            assert_eq!(r["health"], "ok", "{r}");
        }
    }
    let alerts = groups.iter().find(|g| g["name"] == "tke-platform").expect("the alerts");
    assert_eq!(alerts["rules"].as_array().map(Vec::len), Some(8));

    // The platform's own series, raw and recorded.
    let expiry = wait_for("certificate expiry", Duration::from_secs(30), || {
        let r = query(&t, &p, "tke_certificate_expiry_timestamp_seconds");
        (r.len() == 2).then_some(r)
    });
    let labels: Vec<&str> = expiry.iter().filter_map(|s| s["metric"]["certificate"].as_str()).collect();
    assert!(labels.contains(&"ca") && labels.contains(&"serving"), "{labels:?}");
    let days = wait_for("days to expiry recorded", Duration::from_secs(30), || {
        let r = query(&t, &p, "min(tke:certificate_expiry:days)");
        r.first().and_then(|s| s["value"][1].as_str()).and_then(|v| v.parse::<f64>().ok())
    });
    assert!(days > 30.0, "freshly generated certificates last more than 30 days: {days}");
    wait_for("API requests counted", Duration::from_secs(30), || {
        (!query(&t, &p, "apiserver_request_total").is_empty()).then_some(())
    });
    // An add-on waiting for its cluster is reconciled, and counted.
    t.create(&serde_json::json!({"apiVersion": "platform.tkestack.io/v1", "kind": "CronHPA",
        "metadata": {"name": "cronhpa-count"}, "spec": {"clusterName": "cls-nowhere"}}));
    wait_for("reconciles counted", Duration::from_secs(30), || {
        let r = query(&t, &p, "tke_controller_reconcile_total{controller=\"addon-cronhpa\",result=\"success\"}");
        (!r.is_empty()).then_some(())
    });
    wait_for("the 5xx ratio recorded", Duration::from_secs(30), || {
        (!query(&t, &p, "tke:apiserver_request_5xx:ratio_rate5m").is_empty()).then_some(())
    });
    // Nothing is wrong with a fresh platform: no alert of the built-in rules fires.
    let firing = query(&t, &p, "ALERTS{alertstate=\"firing\"}");
    assert!(firing.is_empty(), "{firing:?}");
}
