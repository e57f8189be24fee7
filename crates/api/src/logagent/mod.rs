//! `logagent.tkestack.io/v1` (reference 1.8 and 8.1): the `LogAgent` add-on kind, which installs
//! the node log agent into a business cluster exactly as the platform's `LogCollector` add-on
//! does, and the bodies of its subresources (`filetree`, `filecontent`, `filedownload`,
//! `esdetection`, `logcollector`). The subresources themselves are served by the logagent
//! component (crates/logagent, feature `server`).

use apimachinery::FieldError;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::platform::addon::{Addon, AddonInfo, AddonSpec, AddonSpecFields, AddonStatus, LEVEL_ENHANCE};
pub use crate::platform::prometheus::ResourceRequirements;

/// The API group.
pub const GROUP: &str = "logagent.tkestack.io";
/// The version of the group.
pub const VERSION: &str = "v1";
/// `apiVersion` of every object of the group.
pub const API_VERSION: &str = "logagent.tkestack.io/v1";

/// The names of the kind (reference 8.1: generateName `lc-`, as the add-on it replaces).
pub const INFO: AddonInfo = AddonInfo {
    kind: "LogAgent",
    plural: "logagents",
    singular: "logagent",
    short_names: &["loga"],
    generate_name: "lc-",
    level: LEVEL_ENHANCE,
    latest_version: "v1.0.0",
    description: "The node log agent of a cluster: collects containers' standard output, files inside containers and node files by the cluster's LogCollector rules, and serves the pods' log files.",
    compatible_cluster_types: &["Baremetal", "Imported", "Edge"],
};

/// The desired log agent.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogAgentSpec {
    #[serde(flatten)]
    pub addon: AddonSpec,
    /// Resources of the agent's container on every node; the manifest's defaults (100m CPU and
    /// 64Mi requested, 300m and 256Mi at most) when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
}

impl AddonSpecFields for LogAgentSpec {
    fn addon(&self) -> &AddonSpec {
        &self.addon
    }
    fn addon_mut(&mut self) -> &mut AddonSpec {
        &mut self.addon
    }
    fn validate_extra(&self, errs: &mut Vec<FieldError>) {
        let Some(r) = &self.resources else { return };
        for (part, m) in [("limits", &r.limits), ("requests", &r.requests)] {
            for (k, v) in m.iter().flatten() {
                let ok = match v {
                    Value::String(s) => {
                        !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '.')
                    }
                    Value::Number(n) => n.as_f64().is_some_and(|f| f >= 0.0),
                    _ => false,
                };
                if !ok {
                    errs.push(FieldError::invalid(
                        format!("spec.resources.{part}.{k}"),
                        v,
                        "must be a quantity such as 300m or 256Mi",
                    ));
                }
            }
        }
    }
}

/// One cluster's log agent.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogAgent {
    /// `logagent.tkestack.io/v1`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// `LogAgent`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Standard object metadata; names are generated with `lc-` when empty.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    #[schemars(with = "crate::platform::common::ObjectMeta")]
    pub metadata: Value,
    #[serde(default)]
    pub spec: LogAgentSpec,
    /// The add-on status, written by the add-on controller.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<AddonStatus>,
}

impl Addon for LogAgent {
    type Spec = LogAgentSpec;
    type Status = AddonStatus;
    fn info() -> &'static AddonInfo {
        &INFO
    }
    fn metadata_mut(&mut self) -> &mut Value {
        &mut self.metadata
    }
    fn spec(&self) -> &LogAgentSpec {
        &self.spec
    }
    fn spec_mut(&mut self) -> &mut LogAgentSpec {
        &mut self.spec
    }
    fn status(&self) -> &Option<AddonStatus> {
        &self.status
    }
    fn status_mut(&mut self) -> &mut Option<AddonStatus> {
        &mut self.status
    }
}

/// Which container's files (`LogFileTree.spec`; also the start of `LogFileContent.spec`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogFileTreeSpec {
    /// The cluster (informative: the LogAgent's cluster is the one asked).
    #[serde(default)]
    pub cluster_id: String,
    pub namespace: String,
    pub pod: String,
    pub container: String,
}

/// One log file of a container.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogFile {
    /// Its path on the node (`/var/log/pods/…/0.log`, or in a volume's directory).
    pub path: String,
    pub size: u64,
    /// Last modification, RFC 3339.
    pub mod_time: String,
    /// `stdout` (the container runtime's file of its standard output and error) or `volume`
    /// (a file on one of its volumes).
    pub kind: String,
}

/// What `filetree` found.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogFileTreeStatus {
    pub files: Vec<LogFile>,
}

/// `POST logagents/{name}/filetree`: the log files of a container.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogFileTree {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    pub spec: LogFileTreeSpec,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<LogFileTreeStatus>,
}

/// The bytes asked for (`LogFileContent.spec`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogFileContentSpec {
    #[serde(flatten)]
    pub container: LogFileTreeSpec,
    /// The file, as `filetree` names it.
    pub filepath: String,
    /// Offset of the first byte.
    #[serde(default)]
    pub start: u64,
    /// Bytes wanted; at most [`MAX_CONTENT_LENGTH`].
    #[serde(default = "default_length")]
    pub length: u64,
}

fn default_length() -> u64 {
    65536
}

/// The most bytes one `filecontent` answers.
pub const MAX_CONTENT_LENGTH: u64 = 1 << 20;

/// What `filecontent` read.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogFileContentStatus {
    /// The bytes as UTF-8 (invalid sequences replaced).
    pub content: String,
    pub start: u64,
    /// Bytes read.
    pub length: u64,
    /// The file's size.
    pub size: u64,
}

/// `POST logagents/{name}/filecontent`: a piece of a container's log file.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogFileContent {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    pub spec: LogFileContentSpec,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<LogFileContentStatus>,
}

/// `GET logagents/{name}/filedownload?namespace=&pod=&container=&filepath=`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogFileProxyOptions {
    pub namespace: String,
    pub pod: String,
    pub container: String,
    #[serde(default)]
    pub filepath: String,
}

/// `POST logagents/{name}/esdetection`: can the platform reach this Elasticsearch?
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogEsDetection {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// `http` or `https`.
    #[serde(default = "default_scheme")]
    pub scheme: String,
    pub ip: String,
    pub port: u16,
    #[serde(default)]
    pub user: String,
    /// Clear text, or base64 as the LogCollector rules hold it.
    #[serde(default)]
    pub password: String,
}

fn default_scheme() -> String {
    "http".into()
}

/// `logagents/{name}/logcollector?namespace=&name=`: which rules.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogAgentProxyOptions {
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub name: String,
}

/// The resource definition of LogAgent.
#[cfg(feature = "server")]
pub fn definition() -> apiserver::ResourceDef {
    crate::platform::addon::definition_in::<LogAgent>(GROUP)
}

/// Every resource of the group, in discovery order.
#[cfg(feature = "server")]
pub fn resources() -> Vec<apiserver::ResourceDef> {
    vec![definition()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::addon::AddonStrategy;
    use crate::platform::common::test_ctx;
    use apiserver::TypedStrategy;
    use serde_json::json;

    #[test]
    fn create_defaults_and_validation() {
        let ctx = test_ctx("t1", false);
        let s = AddonStrategy::<LogAgent>::default();
        let mut la: LogAgent = serde_json::from_value(json!({"spec": {"clusterName": "cls-a1",
            "resources": {"limits": {"cpu": "500m", "memory": "512Mi"}}}}))
        .expect("object");
        s.prepare_for_create(&ctx, &mut la).expect("prepare");
        assert_eq!(la.metadata["generateName"], "lc-");
        assert_eq!(la.spec.addon.tenant_id.as_deref(), Some("t1"));
        assert_eq!(la.spec.addon.version.as_deref(), Some("v1.0.0"));
        assert_eq!(la.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Initializing"));
        assert!(s.validate(&ctx, &la).is_empty());
        let bad: LogAgent = serde_json::from_value(
            json!({"spec": {"clusterName": "cls-a1", "resources": {"requests": {"cpu": "lots of it"}}}}),
        )
        .expect("object");
        let errs = s.validate(&ctx, &bad);
        assert_eq!(errs.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(), vec!["spec.resources.requests.cpu"]);
    }

    #[test]
    fn subresource_bodies_keep_the_console_contract() {
        let v = json!({"kind": "LogFileContent", "apiVersion": API_VERSION,
            "spec": {"clusterId": "cls-a", "namespace": "ns", "pod": "p", "container": "c", "filepath": "0.log", "start": 10, "length": 20},
            "status": {"content": "x", "start": 10, "length": 1, "size": 11}});
        let c: LogFileContent = serde_json::from_value(v.clone()).expect("content");
        assert_eq!(serde_json::to_value(&c).expect("json"), v);
        let t: LogFileTree =
            serde_json::from_value(json!({"spec": {"namespace": "ns", "pod": "p", "container": "c"}})).expect("tree");
        assert_eq!(t.spec.cluster_id, "");
        let d: LogEsDetection =
            serde_json::from_value(json!({"kind": "LogEsDetection", "ip": "10.0.0.1", "port": 9200})).expect("es");
        assert_eq!((d.scheme.as_str(), d.port), ("http", 9200));
    }
}
