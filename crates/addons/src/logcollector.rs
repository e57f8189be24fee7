//! What the log agent's objects take from the add-on's spec (the platform's LogCollector and
//! `logagent.tkestack.io` LogAgent install the same manifest): the DaemonSet's resources, and
//! the agents' bearer token, a Secret the platform creates once in the cluster (random, kept
//! across upgrades and re-installs) and uses to call the agents' file endpoints.

use k8s_openapi::{ByteString, api::core::v1::Secret};
use kube::{Api, Client, api::PostParams};
use serde_json::{Value, json};

/// The Secret the DaemonSet mounts (`kube-system/tke-logagent-token`, key `token`).
pub const TOKEN_SECRET: &str = "tke-logagent-token";
pub const TOKEN_NAMESPACE: &str = "kube-system";

/// Sets the agent container's resources to the spec's `resources` where it gives them.
pub fn customize(objects: &mut [Value], config: &Value) {
    let Some(res) = config.get("resources").filter(|r| r.is_object()) else { return };
    for o in objects.iter_mut().filter(|o| o["kind"] == "DaemonSet" && o["metadata"]["name"] == "log-collector") {
        let Some(containers) = o.pointer_mut("/spec/template/spec/containers").and_then(Value::as_array_mut) else {
            continue;
        };
        for c in containers.iter_mut().filter(|c| c["name"] == "log-collector") {
            for part in ["limits", "requests"] {
                if let Some(m) = res[part].as_object().filter(|m| !m.is_empty()) {
                    c["resources"][part] = Value::Object(m.clone());
                }
            }
        }
    }
}

/// Creates the token Secret unless it exists (an existing token is never replaced: agents
/// already running keep theirs).
pub async fn ensure_token(client: &Client) -> Result<(), kube::Error> {
    let api: Api<Secret> = Api::namespaced(client.clone(), TOKEN_NAMESPACE);
    if api.get_opt(TOKEN_SECRET).await?.is_some() {
        return Ok(());
    }
    let token: String = (0..32).map(|_| format!("{:02x}", rand::random::<u8>())).collect();
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": TOKEN_SECRET, "namespace": TOKEN_NAMESPACE,
            "labels": {"app.kubernetes.io/managed-by": "tke-platform", "app.kubernetes.io/name": "log-collector"}},
        "type": "Opaque",
    }))
    .unwrap_or_default();
    let secret =
        Secret { data: Some([("token".to_string(), ByteString(token.into_bytes()))].into_iter().collect()), ..secret };
    match api.create(&PostParams::default(), &secret).await {
        Ok(_) => Ok(()),
        // Made meanwhile by another reconcile: that one stands.
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifests::render;

    #[test]
    fn resources_come_from_the_spec_else_the_defaults() {
        let container = |objects: &[Value]| {
            objects.iter().find(|o| o["kind"] == "DaemonSet").expect("daemonset")["spec"]["template"]["spec"]
                ["containers"][0]
                .clone()
        };
        let mut objects = render("LogCollector", "v1.0.0", "reg.example.com", &json!({})).expect("renders");
        customize(&mut objects, &json!({}));
        assert_eq!(container(&objects)["resources"]["limits"], json!({"cpu": "300m", "memory": "256Mi"}));
        let config = json!({"resources": {"limits": {"cpu": "1", "memory": "1Gi"}}});
        let mut objects = render("LogCollector", "v1.0.0", "reg.example.com", &config).expect("renders");
        customize(&mut objects, &config);
        let c = container(&objects);
        assert_eq!(c["resources"]["limits"], json!({"cpu": "1", "memory": "1Gi"}));
        assert_eq!(c["resources"]["requests"], json!({"cpu": "100m", "memory": "64Mi"}), "defaults kept");
    }
}
