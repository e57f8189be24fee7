//! What the Prometheus add-on's objects take from its spec (reference 7.2), applied to the
//! rendered manifest: the Prometheus `k8s`'s resources, retention, remote write/read and
//! placement; the Alertmanager configuration (Secret `alertmanager-main`) whose webhook receiver
//! calls the platform's `/webhook` with the notify component's bearer token (or
//! `spec.notifyWebhook`), repeating firing alerts every `spec.alertRepeatInterval` (default
//! `1200s`); and node-problem-detector only with `spec.withNPD`.

use base64::Engine as _;
use serde_json::{Value, json};

/// Where Alertmanager sends alerts when the add-on does not name a webhook: the platform's
/// notify webhook and the token it accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlertWebhook {
    /// `https://platform/webhook`.
    pub url: String,
    /// Sent as `Authorization: Bearer <token>`.
    pub token: String,
    /// The CA of the platform's serving certificate (PEM), when Alertmanager must be told it.
    pub ca_pem: Option<String>,
}

/// Default repeat interval of firing alerts (TKEStack's).
pub const DEFAULT_REPEAT_INTERVAL: &str = "1200s";
/// Default retention of the Prometheus `k8s`.
pub const DEFAULT_RETENTION: &str = "15d";
const NPD: &str = "node-problem-detector";
/// Where the operator mounts the keys of the Secret `alertmanager-main`.
const CONFIG_DIR: &str = "/etc/alertmanager/config";
/// The key of the platform's CA in that Secret.
const CA_KEY: &str = "platform-ca.crt";

fn is(o: &Value, kind: &str, name: &str) -> bool {
    o["kind"] == kind && o["metadata"]["name"] == name
}

/// Applies the add-on's `config` (its spec fields) and the platform's `webhook` to `objects`.
pub fn customize(objects: &mut Vec<Value>, config: &Value, webhook: Option<&AlertWebhook>) {
    if config["withNPD"].as_bool() != Some(true) {
        objects.retain(|o| o["metadata"]["name"] != NPD && o["metadata"]["labels"]["app.kubernetes.io/name"] != NPD);
    }
    for o in objects.iter_mut() {
        if is(o, "Prometheus", "k8s") {
            let spec = &mut o["spec"];
            if let Some(r) = config["retention"].as_str().filter(|r| !r.is_empty()) {
                spec["retention"] = json!(r);
            } else if spec["retention"].is_null() {
                spec["retention"] = json!(DEFAULT_RETENTION);
            }
            for part in ["requests", "limits"] {
                if let Some(m) = config["resources"][part].as_object().filter(|m| !m.is_empty()) {
                    spec["resources"][part] = Value::Object(m.clone());
                }
            }
            let urls = |key: &str| -> Vec<Value> {
                config["remoteAddress"][key]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(|u| json!({"url": u}))
                    .collect()
            };
            let (write, read) = (urls("writeAddr"), urls("readAddr"));
            if !write.is_empty() {
                spec["remoteWrite"] = Value::Array(write);
            }
            if !read.is_empty() {
                spec["remoteRead"] = Value::Array(read);
            }
            if config["runOnMaster"].as_bool() == Some(true) {
                spec["nodeSelector"] = json!({"node-role.kubernetes.io/master": ""});
                spec["tolerations"] =
                    json!([{"key": "node-role.kubernetes.io/master", "operator": "Exists", "effect": "NoSchedule"}]);
            }
        }
        if is(o, "Secret", "alertmanager-main") {
            let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
            let yaml = alertmanager_config(config, webhook);
            o["data"] = json!({"alertmanager.yaml": b64(yaml.as_bytes())});
            if let Some(ca) = webhook.and_then(|w| w.ca_pem.as_deref()) {
                o["data"][CA_KEY] = json!(b64(ca.as_bytes()));
            }
        }
    }
}

/// Alertmanager's configuration: every alert to one webhook receiver, resolved ones included.
pub fn alertmanager_config(config: &Value, webhook: Option<&AlertWebhook>) -> String {
    let repeat = config["alertRepeatInterval"].as_str().filter(|r| !r.is_empty()).unwrap_or(DEFAULT_REPEAT_INTERVAL);
    let own = config["notifyWebhook"].as_str().filter(|w| !w.is_empty());
    let hook = match (own, webhook) {
        (Some(url), _) => Some(json!({"url": url, "send_resolved": true})),
        (None, Some(w)) => {
            let mut http = json!({"authorization": {"type": "Bearer", "credentials": w.token}});
            if w.ca_pem.is_some() {
                // Keys of the configuration Secret are files beside alertmanager.yaml.
                http["tls_config"] = json!({"ca_file": format!("{CONFIG_DIR}/{CA_KEY}")});
            }
            Some(json!({"url": w.url, "send_resolved": true, "http_config": http}))
        }
        (None, None) => None,
    };
    let receiver = match hook {
        Some(h) => json!({"name": "tke", "webhook_configs": [h]}),
        None => json!({"name": "tke"}),
    };
    let doc = json!({
        "global": {"resolve_timeout": "5m"},
        "route": {
            "receiver": "tke",
            "group_by": ["alertname", "alarmPolicyName"],
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": repeat,
        },
        "receivers": [receiver],
    });
    serde_yaml_ng::to_string(&doc).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifests::render;

    fn secret_config(objects: &[Value]) -> Value {
        let secret = objects.iter().find(|o| is(o, "Secret", "alertmanager-main")).expect("secret");
        let b64 = secret["data"]["alertmanager.yaml"].as_str().expect("config");
        let text = base64::engine::general_purpose::STANDARD.decode(b64).expect("base64");
        serde_yaml_ng::from_slice(&text).expect("yaml")
    }

    #[test]
    fn the_spec_sizes_retains_and_wires_the_stack() {
        let config = json!({
            "retention": "7d",
            "resources": {"limits": {"cpu": "3", "memory": "6Gi"}, "requests": {"memory": "1Gi"}},
            "remoteAddress": {"writeAddr": ["http://thanos:19291/api/v1/receive"]},
            "alertRepeatInterval": "30m",
            "runOnMaster": true,
        });
        let mut objects = render("Prometheus", "v1.0.0", "reg.example.com", &config).expect("renders");
        let webhook = AlertWebhook { url: "https://tke:9443/webhook".into(), token: "s3cret".into(), ca_pem: None };
        customize(&mut objects, &config, Some(&webhook));
        let prom = objects.iter().find(|o| is(o, "Prometheus", "k8s")).expect("prometheus");
        assert_eq!(prom["spec"]["retention"], "7d");
        assert_eq!(prom["spec"]["resources"]["limits"], json!({"cpu": "3", "memory": "6Gi"}));
        assert_eq!(prom["spec"]["resources"]["requests"], json!({"memory": "1Gi"}));
        assert_eq!(prom["spec"]["remoteWrite"], json!([{"url": "http://thanos:19291/api/v1/receive"}]));
        assert_eq!(prom["spec"]["nodeSelector"], json!({"node-role.kubernetes.io/master": ""}));
        let am = secret_config(&objects);
        assert_eq!(am["route"]["repeat_interval"], "30m");
        let hook = &am["receivers"][0]["webhook_configs"][0];
        assert_eq!(hook["url"], "https://tke:9443/webhook");
        assert_eq!(hook["send_resolved"], true);
        assert_eq!(hook["http_config"]["authorization"], json!({"type": "Bearer", "credentials": "s3cret"}));
        // No node-problem-detector unless asked for.
        assert!(!objects.iter().any(|o| o["metadata"]["name"] == NPD), "no NPD");
        for kind in ["Deployment", "DaemonSet"] {
            assert!(objects.iter().any(|o| o["kind"] == kind), "{kind}");
        }
        for crd in ["prometheusrules", "prometheuses", "alertmanagers", "servicemonitors"] {
            let name = format!("{crd}.monitoring.coreos.com");
            assert!(objects.iter().any(|o| is(o, "CustomResourceDefinition", &name)), "{name}");
        }
    }

    #[test]
    fn defaults_and_the_optional_parts() {
        let config = json!({"withNPD": true, "notifyWebhook": "https://hooks.example.com/alerts"});
        let mut objects = render("Prometheus", "v1.0.0", "reg.example.com", &config).expect("renders");
        customize(&mut objects, &config, None);
        let prom = objects.iter().find(|o| is(o, "Prometheus", "k8s")).expect("prometheus");
        assert_eq!(prom["spec"]["retention"], DEFAULT_RETENTION);
        assert!(objects.iter().any(|o| is(o, "DaemonSet", NPD)));
        let am = secret_config(&objects);
        assert_eq!(am["route"]["repeat_interval"], DEFAULT_REPEAT_INTERVAL);
        assert_eq!(
            am["receivers"][0]["webhook_configs"][0],
            json!({"url": "https://hooks.example.com/alerts", "send_resolved": true})
        );
    }

    /// Debian's `amtool` accepts the configuration, and `promtool` the recording rules.
    #[test]
    fn alertmanager_and_prometheus_accept_what_the_add_on_writes() {
        let dir = tempfile::tempdir().expect("dir");
        let mut webhook =
            AlertWebhook { url: "https://127.0.0.1:9443/webhook".into(), token: "t".into(), ca_pem: None };
        let path = dir.path().join("alertmanager.yaml");
        std::fs::write(&path, alertmanager_config(&json!({}), Some(&webhook))).expect("write");
        let out = std::process::Command::new("amtool")
            .arg("check-config")
            .arg(&path)
            .output()
            .expect("amtool (Debian prometheus-alertmanager)");
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // With the platform's CA, Alertmanager reads it from the Secret's other key.
        webhook.ca_pem = Some("-----BEGIN CERTIFICATE-----\n".into());
        let config: Value = serde_yaml_ng::from_str(&alertmanager_config(&json!({}), Some(&webhook))).expect("yaml");
        assert_eq!(
            config["receivers"][0]["webhook_configs"][0]["http_config"]["tls_config"]["ca_file"],
            "/etc/alertmanager/config/platform-ca.crt"
        );
        let objects = render("Prometheus", "v1.0.0", "reg.example.com", &json!({})).expect("renders");
        let records = objects.iter().find(|o| is(o, "PrometheusRule", "prometheus-records")).expect("records");
        let rules = dir.path().join("records.yaml");
        std::fs::write(&rules, serde_yaml_ng::to_string(&records["spec"]).expect("yaml")).expect("write");
        let out =
            std::process::Command::new("promtool").args(["check", "rules"]).arg(&rules).output().expect("promtool");
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
