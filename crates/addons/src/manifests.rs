//! The add-ons' manifests, embedded in the binary and versioned: for each add-on kind, the
//! versions this build can install and the objects each version consists of (CRDs first, then
//! service accounts and bindings, configuration, and the workloads).
//!
//! A manifest is a template with three placeholders: `{{registry}}` (the image registry prefix,
//! configurable so air-gapped installations pull from their own registry), `{{version}}` (the
//! image tag) and `{{config}}` (the add-on's own spec fields as JSON, mounted into the workload
//! as `config.json`). One template serves every version whose objects have the same shape; a
//! version that changes the shape gets its own template in the table below.

use serde::Deserialize;
use serde_json::Value;

/// `(kind, versions, template)`; the last version is the newest.
const TABLE: &[(&str, &[&str], &str)] = &[
    ("CronHPA", &["v1.0.0", "v1.1.0"], include_str!("../manifests/cronhpa.yaml")),
    ("CSIOperator", &["v1.0.0", "v1.1.0"], include_str!("../manifests/csioperator.yaml")),
    ("GPUManager", &["v1.0.0", "v1.1.0"], include_str!("../manifests/gpumanager.yaml")),
    ("Helm", &["v1.0.0", "v1.1.0"], include_str!("../manifests/helm.yaml")),
    ("IPAM", &["v1.0.0", "v1.1.0"], include_str!("../manifests/ipam.yaml")),
    ("LBCF", &["v1.0.0", "v1.1.0"], include_str!("../manifests/lbcf.yaml")),
    ("LogCollector", &["v1.0.0", "v1.1.0"], include_str!("../manifests/logcollector.yaml")),
    ("PersistentEvent", &["v1.0.0", "v1.1.0"], include_str!("../manifests/persistentevent.yaml")),
    ("Prometheus", &["v1.0.0", "v1.1.0"], include_str!("../manifests/prometheus.yaml")),
    ("TappController", &["v1.0.0", "v1.1.0"], include_str!("../manifests/tappcontroller.yaml")),
    ("VolumeDecorator", &["v1.0.0", "v1.1.0"], include_str!("../manifests/volumedecorator.yaml")),
];

/// Why a manifest cannot be produced.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ManifestError {
    #[error("{0} is not an add-on kind this platform knows")]
    UnknownKind(String),
    #[error("{kind} has no version {version}; this platform installs {available}")]
    UnknownVersion { kind: String, version: String, available: String },
    #[error("the registry prefix {0:?} is not a host[:port][/path] of letters, digits, '.', '-', '_', ':' and '/'")]
    BadRegistry(String),
    #[error("the manifest of {kind} {version} is broken: {detail}")]
    Broken { kind: String, version: String, detail: String },
}

/// The versions of `kind` this build can install, oldest first.
pub fn versions(kind: &str) -> Option<&'static [&'static str]> {
    TABLE.iter().find(|(k, _, _)| *k == kind).map(|(_, v, _)| *v)
}

/// The newest version of `kind`.
pub fn latest(kind: &str) -> Option<&'static str> {
    versions(kind).and_then(|v| v.last().copied())
}

/// The objects of `kind` at `version`, images from `registry`, with `config` as the add-on's
/// configuration.
pub fn render(kind: &str, version: &str, registry: &str, config: &Value) -> Result<Vec<Value>, ManifestError> {
    let (_, available, template) =
        TABLE.iter().find(|(k, _, _)| *k == kind).ok_or_else(|| ManifestError::UnknownKind(kind.to_string()))?;
    if !available.contains(&version) {
        return Err(ManifestError::UnknownVersion {
            kind: kind.into(),
            version: version.into(),
            available: available.join(", "),
        });
    }
    let registry = registry.trim_end_matches('/');
    if registry.is_empty()
        || !registry.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':' | '/'))
    {
        return Err(ManifestError::BadRegistry(registry.to_string()));
    }
    // The configuration goes in as a YAML double-quoted string (JSON string syntax is valid YAML).
    let config_json = serde_json::to_string(config).unwrap_or_else(|_| "{}".into());
    let config_literal = serde_json::to_string(&config_json).unwrap_or_else(|_| "\"{}\"".into());
    let text = template
        .replace("'{{config}}'", &config_literal)
        .replace("{{registry}}", registry)
        .replace("{{version}}", version);
    let broken = |detail: String| ManifestError::Broken { kind: kind.into(), version: version.into(), detail };
    let mut objects = Vec::new();
    for doc in serde_yaml_ng::Deserializer::from_str(&text) {
        let v = Value::deserialize(doc).map_err(|e| broken(e.to_string()))?;
        if v.is_null() {
            continue;
        }
        if v["kind"].as_str().is_none() || v["metadata"]["name"].as_str().is_none() {
            return Err(broken("an object without kind or metadata.name".into()));
        }
        objects.push(v);
    }
    Ok(objects)
}

/// The workloads among `objects` whose availability decides the add-on's health:
/// `(kind, namespace, name)`.
pub fn workloads(objects: &[Value]) -> Vec<(String, String, String)> {
    objects
        .iter()
        .filter(|o| matches!(o["kind"].as_str(), Some("Deployment" | "DaemonSet" | "StatefulSet")))
        .map(|o| {
            (
                o["kind"].as_str().unwrap_or_default().to_string(),
                o["metadata"]["namespace"].as_str().unwrap_or("default").to_string(),
                o["metadata"]["name"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_catalogue_kind_renders_at_every_version() {
        for info in api::platform::addon::ADDONS {
            let versions = versions(info.kind).unwrap_or_else(|| panic!("{} has manifests", info.kind));
            assert!(
                versions.contains(&info.latest_version),
                "{} ships its catalogue version {}",
                info.kind,
                info.latest_version
            );
            for v in versions {
                let objects =
                    render(info.kind, v, "registry.example.com:5000/library", &json!({"a": "it's \"quoted\""}))
                        .expect("renders");
                assert!(!workloads(&objects).is_empty(), "{} {v} has a workload", info.kind);
                for o in &objects {
                    for c in o["spec"]["template"]["spec"]["containers"].as_array().into_iter().flatten() {
                        let image = c["image"].as_str().unwrap_or_default();
                        assert!(
                            image.starts_with("registry.example.com:5000/library/tkestack/")
                                && image.ends_with(&format!(":{v}")),
                            "{image}"
                        );
                    }
                    if o["kind"] == "ConfigMap" {
                        let config: Value = serde_json::from_str(o["data"]["config.json"].as_str().expect("config"))
                            .expect("JSON config");
                        assert_eq!(config["a"], "it's \"quoted\"");
                    }
                }
                // CRDs come before everything else, so custom objects can follow in one pass.
                let first_other = objects.iter().position(|o| o["kind"] != "CustomResourceDefinition").unwrap_or(0);
                assert!(
                    objects[first_other..].iter().all(|o| o["kind"] != "CustomResourceDefinition"),
                    "{}",
                    info.kind
                );
            }
        }
    }

    #[test]
    fn unknown_kinds_versions_and_bad_registries_are_refused_with_the_reason() {
        assert_eq!(render("Nope", "v1.0.0", "r", &json!({})), Err(ManifestError::UnknownKind("Nope".into())));
        let e = render("CronHPA", "v9", "r", &json!({})).expect_err("unknown version");
        assert_eq!(e.to_string(), "CronHPA has no version v9; this platform installs v1.0.0, v1.1.0");
        assert!(matches!(render("CronHPA", "v1.0.0", "bad registry!", &json!({})), Err(ManifestError::BadRegistry(_))));
        assert_eq!(latest("CronHPA"), Some("v1.1.0"));
    }
}
