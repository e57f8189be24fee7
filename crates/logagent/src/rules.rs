//! Collection rules: the `tke.cloud.tencent.com/v1` LogCollector objects of the business cluster
//! in the shapes TKEStack's console writes (`spec.input` with `container_log_input`,
//! `pod_log_input` or `host_log_input`; `spec.output` with `kafka_output` or
//! `elasticsearch_output`), and the questions the agent asks of them: does this container's
//! stdout belong to the rule, which in-container paths, which host files, where does it go.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

pub const GROUP: &str = "tke.cloud.tencent.com";
pub const VERSION: &str = "v1";
pub const KIND: &str = "LogCollector";
pub const PLURAL: &str = "logcollectors";

/// `spec` of a LogCollector.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct LogCollectorSpec {
    #[serde(default)]
    pub input: Input,
    #[serde(default)]
    pub output: Output,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct Input {
    /// `container-log`, `pod-log` or `host-log`.
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_log_input: Option<ContainerLogInput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_log_input: Option<PodLogInput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_log_input: Option<HostLogInput>,
}

/// Containers' stdout/stderr: every namespace, or chosen namespaces (all their containers, or
/// those of chosen workloads).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct ContainerLogInput {
    #[serde(default)]
    pub all_namespaces: bool,
    #[serde(default)]
    pub namespaces: Vec<NamespaceSelector>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct NamespaceSelector {
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub all_containers: bool,
    #[serde(default)]
    pub workloads: Vec<WorkloadRef>,
}

/// A workload by name and type (`deployment`, `statefulset`, `daemonset`, `job`, `cronjob`,
/// any case).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq, Hash)]
pub struct WorkloadRef {
    #[serde(default)]
    pub name: String,
    #[serde(rename = "type", default)]
    pub kind: String,
}

impl WorkloadRef {
    pub fn matches(&self, other: &WorkloadRef) -> bool {
        self.name == other.name && self.kind.eq_ignore_ascii_case(&other.kind)
    }
}

/// Files inside containers of one workload (of the rule's namespace): container name → its
/// directories (`/data/logs/`, `*` allowed in a component).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct PodLogInput {
    #[serde(default)]
    pub container_log_files: BTreeMap<String, Vec<PathRef>>,
    #[serde(default)]
    pub metadata: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<WorkloadRef>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct PathRef {
    #[serde(default)]
    pub path: String,
}

/// Files on every node (a glob), with the labels added to each line.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct HostLogInput {
    #[serde(default)]
    pub path: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq, Hash)]
pub struct Output {
    /// `kafka` or `elasticsearch`.
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kafka_output: Option<KafkaOutput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elasticsearch_output: Option<ElasticsearchOutput>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq, Hash)]
pub struct KafkaOutput {
    #[serde(default)]
    pub host: String,
    #[serde(default)]
    pub port: u16,
    #[serde(default)]
    pub topic: String,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq, Hash)]
pub struct ElasticsearchOutput {
    /// `http(s)://host:port` each.
    #[serde(default)]
    pub hosts: Vec<String>,
    #[serde(default)]
    pub index: String,
    #[serde(default)]
    pub user: String,
    /// Base64 of the password, as the console stores it.
    #[serde(default)]
    pub password: String,
}

impl ElasticsearchOutput {
    /// The password in clear: the base64 the console writes, or the text itself when it is not
    /// base64 (rules written by hand).
    pub fn password_clear(&self) -> String {
        base64::engine::general_purpose::STANDARD
            .decode(self.password.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .unwrap_or_else(|| self.password.clone())
    }
}

/// A rule the agent follows: the object's namespace/name and its checked spec.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    pub namespace: String,
    pub name: String,
    pub spec: LogCollectorSpec,
}

/// What is wrong with a spec, for the log line that says why a rule is not followed.
pub fn validate(spec: &LogCollectorSpec) -> Result<(), String> {
    match spec.input.kind.as_str() {
        "container-log" if spec.input.container_log_input.is_some() => {}
        "pod-log" if spec.input.pod_log_input.is_some() => {}
        "host-log" => match &spec.input.host_log_input {
            Some(h) if h.path.starts_with('/') => {}
            Some(_) => return Err("host_log_input.path must be an absolute path (a glob)".into()),
            None => return Err("input.type host-log needs host_log_input".into()),
        },
        "container-log" | "pod-log" => {
            return Err(format!(
                "input.type {} needs its {}_input",
                spec.input.kind,
                spec.input.kind.replace('-', "_")
            ));
        }
        other => return Err(format!("input.type must be container-log, pod-log or host-log, not {other:?}")),
    }
    if let Some(p) = &spec.input.pod_log_input {
        for (container, paths) in &p.container_log_files {
            for path in paths {
                if !path.path.starts_with('/') || path.path.split('/').any(|c| c == "..") {
                    return Err(format!(
                        "pod_log_input path {:?} of container {container} must be absolute, without ..",
                        path.path
                    ));
                }
            }
        }
    }
    match spec.output.kind.as_str() {
        "kafka" => match &spec.output.kafka_output {
            Some(k) if !k.host.is_empty() && k.port != 0 && !k.topic.is_empty() => Ok(()),
            _ => Err("output.type kafka needs kafka_output with host, port and topic".into()),
        },
        "elasticsearch" => match &spec.output.elasticsearch_output {
            Some(e) if !e.hosts.is_empty() && !e.index.is_empty() => Ok(()),
            _ => Err("output.type elasticsearch needs elasticsearch_output with hosts and index".into()),
        },
        other => Err(format!("output.type must be kafka or elasticsearch, not {other:?}")),
    }
}

impl Rule {
    /// Whether the stdout of a container of pod (`namespace`, `workload`) is collected.
    /// `workload` is None while the pod is not known yet: only rules that do not name
    /// workloads can match then.
    pub fn wants_stdout(&self, namespace: &str, workload: Option<&WorkloadRef>) -> bool {
        let Some(c) = &self.spec.input.container_log_input else { return false };
        if self.spec.input.kind != "container-log" {
            return false;
        }
        if c.all_namespaces {
            return true;
        }
        c.namespaces.iter().any(|n| {
            n.namespace == namespace
                && (n.all_containers || workload.is_some_and(|w| n.workloads.iter().any(|x| x.matches(w))))
        })
    }

    /// The in-container directories to collect from a container of a pod of `namespace` /
    /// `workload`, if this is a pod-log rule for it.
    pub fn pod_paths(&self, namespace: &str, workload: Option<&WorkloadRef>, container: &str) -> Vec<String> {
        let Some(p) = &self.spec.input.pod_log_input else { return vec![] };
        if self.spec.input.kind != "pod-log" || namespace != self.namespace {
            return vec![];
        }
        if let Some(want) = &p.workload
            && !workload.is_some_and(|w| want.matches(w))
        {
            return vec![];
        }
        p.container_log_files.get(container).map(|v| v.iter().map(|p| p.path.clone()).collect()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(spec: serde_json::Value) -> Rule {
        Rule { namespace: "apps".into(), name: "r".into(), spec: serde_json::from_value(spec).expect("spec") }
    }

    #[test]
    fn parses_the_console_shapes_and_matches() {
        let r = rule(json!({
            "input": {"type": "container-log", "container_log_input": {"all_namespaces": false, "namespaces": [
                {"namespace": "apps", "all_containers": false, "workloads": [{"name": "web", "type": "Deployment"}]},
                {"namespace": "ops", "all_containers": true}]}},
            "output": {"type": "elasticsearch", "elasticsearch_output": {"hosts": ["http://es:9200"], "index": "logs", "user": "u", "password": "cHc="}}
        }));
        assert_eq!(validate(&r.spec), Ok(()));
        let web = WorkloadRef { name: "web".into(), kind: "deployment".into() };
        let db = WorkloadRef { name: "db".into(), kind: "statefulset".into() };
        assert!(r.wants_stdout("apps", Some(&web)));
        assert!(!r.wants_stdout("apps", Some(&db)));
        assert!(!r.wants_stdout("apps", None));
        assert!(r.wants_stdout("ops", None));
        assert!(!r.wants_stdout("other", Some(&web)));
        assert_eq!(r.spec.output.elasticsearch_output.as_ref().map(|e| e.password_clear()), Some("pw".to_string()));
    }

    #[test]
    fn pod_log_paths_only_for_the_rules_namespace_and_workload() {
        let r = rule(json!({
            "input": {"type": "pod-log", "pod_log_input": {"container_log_files": {"app": [{"path": "/data/logs/"}]},
                "metadata": true, "workload": {"name": "web", "type": "deployment"}}},
            "output": {"type": "kafka", "kafka_output": {"host": "k", "port": 9092, "topic": "t"}}
        }));
        assert_eq!(validate(&r.spec), Ok(()));
        let web = WorkloadRef { name: "web".into(), kind: "deployment".into() };
        assert_eq!(r.pod_paths("apps", Some(&web), "app"), vec!["/data/logs/".to_string()]);
        assert!(r.pod_paths("apps", Some(&web), "sidecar").is_empty());
        assert!(r.pod_paths("other", Some(&web), "app").is_empty());
        assert!(r.pod_paths("apps", None, "app").is_empty());
    }

    #[test]
    fn invalid_specs_say_why() {
        let bad =
            |spec: serde_json::Value| validate(&serde_json::from_value(spec).expect("spec")).expect_err("invalid");
        assert!(bad(json!({"input": {"type": "stdin"}})).contains("input.type"));
        assert!(
            bad(json!({"input": {"type": "host-log", "host_log_input": {"path": "var/log"}}})).contains("absolute")
        );
        assert!(
            bad(json!({"input": {"type": "host-log", "host_log_input": {"path": "/var/log/*.log"}}, "output": {"type": "kafka"}}))
                .contains("kafka_output")
        );
        assert!(
            bad(json!({"input": {"type": "pod-log", "pod_log_input": {"container_log_files": {"a": [{"path": "/x/../../etc/"}]}}},
                "output": {"type": "kafka", "kafka_output": {"host": "k", "port": 1, "topic": "t"}}}))
            .contains("..")
        );
    }
}
