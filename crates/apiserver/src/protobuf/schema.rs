//! The messages of the Kubernetes protobuf encoding, read once from `kubernetes-protos.txt` (the
//! `generated.proto` files of k8s.io/api and k8s.io/apimachinery without their comments; see
//! `scripts/kubernetes-protos`). Their field names are the JSON names of the same fields; two
//! marks read from the Go types say where the JSON form differs: `[inline]` (the field's message
//! is inlined into its parent in JSON) and `[omitempty]` (a non-pointer scalar whose zero value
//! means "not set").

use std::{collections::HashMap, sync::OnceLock};

const PROTOS: &str = include_str!("kubernetes-protos.txt");

/// The package of the Kubernetes meta types (`ObjectMeta`, `Status`, `DeleteOptions`...).
pub const META: &str = "k8s.io.apimachinery.pkg.apis.meta.v1";

/// A scalar or message type of a field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Type {
    String,
    Bytes,
    Int32,
    Int64,
    Bool,
    /// A message, by its full name (`k8s.io.api.core.v1.PodSpec`).
    Message(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Label {
    Optional,
    Repeated,
    /// `map<string, V>`: repeated entries of key 1 and value 2.
    Map,
}

#[derive(Clone, Debug)]
pub struct Field {
    pub name: String,
    pub number: u32,
    pub label: Label,
    pub ty: Type,
    /// In JSON, the fields of this message field sit in the parent object.
    pub inline: bool,
    /// A zero value of this scalar field is "not set" (Go writes it anyway).
    pub omitempty: bool,
}

#[derive(Debug, Default)]
pub struct Message {
    pub name: String,
    pub fields: Vec<Field>,
}

impl Message {
    pub fn by_number(&self, n: u32) -> Option<&Field> {
        self.fields.iter().find(|f| f.number == n)
    }

    pub fn by_name(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }
}

/// Every message, by full name.
pub struct Schema {
    messages: HashMap<String, Message>,
}

impl Schema {
    /// The schema of this build (parsed on first use).
    pub fn get() -> &'static Schema {
        static SCHEMA: OnceLock<Schema> = OnceLock::new();
        SCHEMA.get_or_init(|| Schema::parse(PROTOS))
    }

    pub fn message(&self, full_name: &str) -> Option<&Message> {
        self.messages.get(full_name)
    }

    /// Whether `package` has any message.
    pub fn has_package(&self, package: &str) -> bool {
        let prefix = format!("{package}.");
        self.messages.keys().any(|k| k.strip_prefix(&prefix).is_some_and(|rest| !rest.contains('.')))
    }

    fn parse(text: &str) -> Schema {
        let mut messages = HashMap::new();
        let mut package = "";
        let mut current: Option<Message> = None;
        for line in text.lines() {
            let line = line.trim();
            if let Some(p) = line.strip_prefix("package ") {
                package = p.trim_end_matches(';');
            } else if let Some(m) = line.strip_prefix("message ") {
                let name = m.trim_end_matches('{').trim();
                current = Some(Message { name: format!("{package}.{name}"), fields: vec![] });
            } else if line == "}" {
                if let Some(m) = current.take() {
                    messages.insert(m.name.clone(), m);
                }
            } else if let Some(m) = current.as_mut()
                && let Some(f) = parse_field(line, package)
            {
                m.fields.push(f);
            }
        }
        Schema { messages }
    }
}

/// `optional T name = N;`, `repeated T name = N;` or `map<string, T> name = N;`.
fn parse_field(line: &str, package: &str) -> Option<Field> {
    let line = line.strip_suffix(';')?;
    let (line, inline) = line.strip_suffix(" [inline]").map_or((line, false), |l| (l, true));
    let (line, omitempty) = line.strip_suffix(" [omitempty]").map_or((line, false), |l| (l, true));
    let (decl, number) = line.rsplit_once('=')?;
    let number = number.trim().parse().ok()?;
    let (label, ty, name) = if let Some(rest) = decl.strip_prefix("map<") {
        let (types, name) = rest.split_once('>')?;
        let (_key, value) = types.split_once(',')?;
        (Label::Map, value.trim(), name.trim())
    } else {
        let mut words = decl.split_whitespace();
        let label = match words.next()? {
            "optional" => Label::Optional,
            "repeated" => Label::Repeated,
            _ => return None,
        };
        (label, words.next()?, words.next()?)
    };
    let ty = match ty {
        "string" => Type::String,
        "bytes" => Type::Bytes,
        "int32" => Type::Int32,
        "int64" => Type::Int64,
        "bool" => Type::Bool,
        qualified if qualified.starts_with('.') => Type::Message(qualified[1..].to_string()),
        local => Type::Message(format!("{package}.{local}")),
    };
    Some(Field { name: name.to_string(), number, label, ty, inline, omitempty })
}

/// The protobuf package of an API group version (`apps/v1` → `k8s.io.api.apps.v1`), when the
/// group is one of Kubernetes' own and the schema has it.
pub fn package_of(api_version: &str) -> Option<String> {
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let dir = match group {
        "" => "core",
        "apps" | "autoscaling" | "batch" | "extensions" | "policy" => group,
        "meta.k8s.io" => return (version == "v1").then(|| META.to_string()),
        "rbac.authorization.k8s.io" => "rbac",
        "flowcontrol.apiserver.k8s.io" => "flowcontrol",
        "internal.apiserver.k8s.io" => "apiserverinternal",
        g => g.strip_suffix(".k8s.io").filter(|d| !d.contains('.'))?,
    };
    let package = format!("k8s.io.api.{dir}.{version}");
    Schema::get().has_package(&package).then_some(package)
}

/// The message of `kind` in `api_version`: the group's own, or a meta type every Kubernetes
/// group version also serves (`Status`, `DeleteOptions`, `WatchEvent`...).
pub fn message_of(api_version: &str, kind: &str) -> Option<&'static Message> {
    let schema = Schema::get();
    let package = package_of(api_version)?;
    schema.message(&format!("{package}.{kind}")).or_else(|| schema.message(&format!("{META}.{kind}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_kubernetes_messages() {
        let deployment = message_of("apps/v1", "Deployment").expect("Deployment");
        assert_eq!(deployment.name, "k8s.io.api.apps.v1.Deployment");
        let meta = deployment.by_name("metadata").expect("metadata");
        assert_eq!((meta.number, &meta.ty), (1, &Type::Message(format!("{META}.ObjectMeta"))));
        let labels = Schema::get().message(&format!("{META}.ObjectMeta")).and_then(|m| m.by_name("labels"));
        assert_eq!(labels.map(|f| (f.number, f.label)), Some((11, Label::Map)));
        assert_eq!(
            message_of("v1", "Status").map(|m| m.name.as_str()),
            Some("k8s.io.apimachinery.pkg.apis.meta.v1.Status")
        );
        assert!(message_of("policy/v1", "PodDisruptionBudget").is_some());
        let spec = Schema::get().message("k8s.io.api.apps.v1.DeploymentSpec").expect("DeploymentSpec");
        assert!(!spec.by_name("replicas").is_some_and(|f| f.omitempty), "a pointer: zero is a value");
        assert!(spec.by_name("paused").is_some_and(|f| f.omitempty));
        let volume = Schema::get().message("k8s.io.api.core.v1.Volume").and_then(|m| m.by_name("volumeSource"));
        assert!(volume.is_some_and(|f| f.inline));
        assert!(message_of("rbac.authorization.k8s.io/v1", "ClusterRole").is_some());
        // Not Kubernetes' own groups, or not a kind of it.
        assert!(message_of("apps.tkestack.io/v1", "Deployment").is_none());
        assert!(message_of("platform.tkestack.io/v1", "Cluster").is_none());
        assert!(message_of("apiextensions.k8s.io/v1", "CustomResourceDefinition").is_none());
        assert!(message_of("apps/v1", "Frobnicator").is_none());
    }
}
