//! From a Kubernetes-style request to the model's action and object (TKEStack's
//! `ConvertTKEAttributes`, reference 3.2).
//!
//! - The resource type is singular (`clusters` → `cluster`), from [`KNOWN_RESOURCES`] (every
//!   resource we serve or reach in a business cluster) and, for resources we do not know
//!   (custom resources of a business cluster), an English plural rule ([`singularize`]).
//!   `registry.tkestack.io` `namespaces` are `registrynamespaces`.
//! - `clusters/{cls}/{sub}[/{name}[/{subsub}]]` is resource `{sub}` inside cluster `{cls}`,
//!   except the cluster's own subresources `status`, `log`, `finalize` and `proxy`.
//! - Verbs: `get` of a collection and `get` of a subresource other than those four are `list`;
//!   `patch` is `update`; `deletecollection` is `delete`. Only `list` of a collection keeps the
//!   plural (`listClusters`); everything else names one object (`createCluster`, `watchCluster`).
//!   Exec, attach and port-forward of a pod are `create` whatever the method (a WebSocket opens
//!   them with GET; TKEStack made that `listPodExec`, which its read-only policies granted).
//! - action = verb + UpperFirst(resource) + UpperFirst(subresource): `getClusterStatus`,
//!   `createPodExec`, `listPolicyUsers`.
//! - object = `{resource}:{name or *}`, prefixed by `project:{ns}/` in
//!   `business.tkestack.io`, `registrynamespace:{ns}/` in `registry.tkestack.io`, `namespace:{ns}/`
//!   elsewhere (not for a namespace itself), and by `cluster:{cls}/` when the request is about a
//!   cluster (header `X-TKE-ClusterName`, the path, or a `cluster:` group, in that order) and the
//!   resource is not the cluster itself.
//! - Requests for paths that are not resources: action = the verb, object = the path.

use std::{
    borrow::Cow,
    collections::{BTreeSet, HashMap},
    sync::OnceLock,
};

use apiserver::{UserInfo, auth::Attributes};
use http::HeaderMap;

/// The header that names the business cluster a request is about.
pub const CLUSTER_HEADER: &str = "x-tke-clustername";
/// The header that names the project the console is working in.
pub const PROJECT_HEADER: &str = "x-tke-projectname";
/// The group of projects (its namespaces are projects).
pub const BUSINESS_GROUP: &str = "business.tkestack.io";

/// Subresources of a cluster that are about the cluster itself; any other
/// `clusters/{cls}/{sub}` is a resource inside the cluster. The same four keep `get` a `get`.
const SPECIAL_SUBRESOURCES: [&str; 4] = ["status", "log", "finalize", "proxy"];

/// What the model sees of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TkeAttributes {
    /// `createCluster`, `listClusters`, `getClusterStatus`…; the verb for non-resource paths.
    pub action: String,
    /// `cluster:cls-a/namespace:ns/pod:p1`…; the path for non-resource paths.
    pub object: String,
    /// The singular resource type (empty for non-resource paths).
    pub resource: String,
    /// The object's name (`*` when the request is about a collection).
    pub name: String,
    pub subresource: String,
    /// The cluster the request is about, if any.
    pub cluster: Option<String>,
}

/// How a known resource is reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reach {
    /// At its group's path on the platform's API server.
    Api,
    /// As `clusters/{cls}/{plural}` of the platform's API (a kind inside a cluster).
    ClusterPath,
    /// In a business cluster, through the cluster proxy (with `X-TKE-ClusterName`).
    Cluster,
}

/// A resource we serve or reach.
#[derive(Clone, Copy, Debug)]
pub struct KnownResource {
    /// `/apis/<group>/<version>` or `/api/v1`.
    pub prefix: &'static str,
    pub plural: &'static str,
    pub singular: &'static str,
    pub namespaced: bool,
    pub subresources: &'static [&'static str],
    pub reach: Reach,
}

const fn api(
    prefix: &'static str,
    plural: &'static str,
    singular: &'static str,
    namespaced: bool,
    subresources: &'static [&'static str],
) -> KnownResource {
    KnownResource { prefix, plural, singular, namespaced, subresources, reach: Reach::Api }
}

const fn in_cluster(
    prefix: &'static str,
    plural: &'static str,
    singular: &'static str,
    namespaced: bool,
    subresources: &'static [&'static str],
) -> KnownResource {
    KnownResource { prefix, plural, singular, namespaced, subresources, reach: Reach::Cluster }
}

const fn cluster_path(plural: &'static str, singular: &'static str) -> KnownResource {
    KnownResource {
        prefix: PLATFORM,
        plural,
        singular,
        namespaced: false,
        subresources: &[],
        reach: Reach::ClusterPath,
    }
}

const PLATFORM: &str = "/apis/platform.tkestack.io/v1";
const BUSINESS: &str = "/apis/business.tkestack.io/v1";
const AUTH: &str = "/apis/auth.tkestack.io/v1";
const AUTHZ: &str = "/apis/authz.tkestack.io/v1";
const REGISTRY: &str = "/apis/registry.tkestack.io/v1";
const NOTIFY: &str = "/apis/notify.tkestack.io/v1";
const MONITOR: &str = "/apis/monitor.tkestack.io/v1";
const LOGAGENT: &str = "/apis/logagent.tkestack.io/v1";
const APPLICATION: &str = "/apis/application.tkestack.io/v1";
const MESH: &str = "/apis/mesh.tkestack.io/v1";
const CORE: &str = "/api/v1";
const ADDON_STATUS: &[&str] = &["status"];
const LIFECYCLE: &[&str] = &["status", "finalize"];

/// Every resource we serve (TKEStack's groups, reference section 1, as they land) or reach in
/// business clusters (Kubernetes' built-in resources and TKEStack's add-on resources). The
/// singular names are the table [`singularize`] reads first.
pub const KNOWN_RESOURCES: &[KnownResource] = &[
    // platform.tkestack.io
    api(
        PLATFORM,
        "clusters",
        "cluster",
        false,
        &[
            "status",
            "finalize",
            "proxy",
            "apply",
            "drain",
            "addons",
            "addontypes",
            "apiresources",
            "tapps",
            "csis",
            "cronhpas",
        ],
    ),
    api(PLATFORM, "clustercredentials", "clustercredential", false, &[]),
    api(PLATFORM, "machines", "machine", false, LIFECYCLE),
    api(PLATFORM, "registries", "registry", false, &[]),
    api(PLATFORM, "configmaps", "configmap", false, &[]),
    api(PLATFORM, "clusteraddontypes", "clusteraddontype", false, &[]),
    api(PLATFORM, "cronhpas", "cronhpa", false, ADDON_STATUS),
    api(PLATFORM, "csioperators", "csioperator", false, ADDON_STATUS),
    api(PLATFORM, "gpumanagers", "gpumanager", false, ADDON_STATUS),
    api(PLATFORM, "helms", "helm", false, ADDON_STATUS),
    api(PLATFORM, "ipams", "ipam", false, ADDON_STATUS),
    api(PLATFORM, "lbcfs", "lbcf", false, ADDON_STATUS),
    api(PLATFORM, "logcollectors", "logcollector", false, ADDON_STATUS),
    api(PLATFORM, "persistentevents", "persistentevent", false, ADDON_STATUS),
    api(PLATFORM, "prometheuses", "prometheus", false, ADDON_STATUS),
    api(PLATFORM, "tappcontrollers", "tappcontroller", false, ADDON_STATUS),
    api(PLATFORM, "volumedecorators", "volumedecorator", false, ADDON_STATUS),
    // Kinds inside a cluster, served as `clusters/{cls}/{kind}`.
    cluster_path("apply", "apply"),
    cluster_path("drain", "drain"),
    cluster_path("addons", "addon"),
    cluster_path("addontypes", "addontype"),
    cluster_path("apiresources", "apiresource"),
    cluster_path("tapps", "tapp"),
    cluster_path("csis", "csi"),
    cluster_path("cronhpas", "cronhpa"),
    // business.tkestack.io (namespaces are projects)
    api(BUSINESS, "projects", "project", false, LIFECYCLE),
    api(BUSINESS, "namespaces", "namespace", true, &["status", "finalize", "certificate"]),
    api(BUSINESS, "platforms", "platform", false, &[]),
    api(BUSINESS, "portal", "portal", false, &[]),
    api(BUSINESS, "imagenamespaces", "imagenamespace", true, LIFECYCLE),
    api(BUSINESS, "chartgroups", "chartgroup", true, LIFECYCLE),
    api(BUSINESS, "nsemigrations", "nsemigration", true, &[]),
    api(BUSINESS, "configmaps", "configmap", false, &[]),
    // auth.tkestack.io
    api(
        AUTH,
        "localidentities",
        "localidentity",
        false,
        &["status", "finalize", "password", "groups", "policies", "roles"],
    ),
    api(
        AUTH,
        "localgroups",
        "localgroup",
        false,
        &["status", "finalize", "binding", "unbinding", "users", "policies", "roles"],
    ),
    api(AUTH, "users", "user", false, &["policies", "roles", "projects"]),
    api(AUTH, "groups", "group", false, &["policies", "roles"]),
    api(AUTH, "apikeys", "apikey", false, &["status", "token", "password"]),
    api(AUTH, "apisigningkeys", "apisigningkey", false, &[]),
    api(AUTH, "categories", "category", false, &[]),
    api(
        AUTH,
        "policies",
        "policy",
        false,
        &[
            "status",
            "finalize",
            "binding",
            "unbinding",
            "users",
            "groups",
            "roles",
            "projectbinding",
            "projectunbinding",
            "projectusers",
            "projectgroups",
        ],
    ),
    api(
        AUTH,
        "roles",
        "role",
        false,
        &[
            "status",
            "finalize",
            "binding",
            "unbinding",
            "policybinding",
            "policyunbinding",
            "users",
            "groups",
            "policies",
        ],
    ),
    api(AUTH, "rules", "rule", false, &[]),
    api(AUTH, "projectpolicybindings", "projectpolicybinding", false, LIFECYCLE),
    api(AUTH, "custompolicybindings", "custompolicybinding", true, LIFECYCLE),
    api(AUTH, "projects", "project", false, &["binding", "unbinding", "users", "groups", "policies"]),
    api(AUTH, "identityproviders", "identityprovider", false, &[]),
    api(AUTH, "clients", "client", false, &[]),
    api(AUTH, "configmaps", "configmap", false, &[]),
    // authz.tkestack.io
    api(AUTHZ, "policies", "policy", true, &[]),
    api(AUTHZ, "roles", "role", true, &["finalize"]),
    api(AUTHZ, "multiclusterrolebindings", "multiclusterrolebinding", true, LIFECYCLE),
    api(AUTHZ, "configmaps", "configmap", false, &[]),
    // registry.tkestack.io (its namespaces are `registrynamespaces` to the model)
    api(REGISTRY, "namespaces", "namespace", false, &["status"]),
    api(REGISTRY, "repositories", "repository", true, &["status"]),
    api(REGISTRY, "chartgroups", "chartgroup", false, &["status", "finalize", "repoupdating"]),
    api(REGISTRY, "charts", "chart", true, &["status", "finalize", "version"]),
    api(REGISTRY, "configmaps", "configmap", false, &[]),
    // notify.tkestack.io
    api(NOTIFY, "channels", "channel", false, LIFECYCLE),
    api(NOTIFY, "templates", "template", true, &[]),
    api(NOTIFY, "receivers", "receiver", false, &[]),
    api(NOTIFY, "receivergroups", "receivergroup", false, &[]),
    api(NOTIFY, "messagerequests", "messagerequest", true, &["status"]),
    api(NOTIFY, "messages", "message", false, &["status"]),
    // monitor.tkestack.io, and its alarm policies (`/apis/v1/monitor/clusters/{cls}/alarmpolicies`)
    api(MONITOR, "prometheuses", "prometheus", false, ADDON_STATUS),
    api(MONITOR, "metrics", "metric", false, &[]),
    api(MONITOR, "clusteroverviews", "clusteroverview", false, &[]),
    KnownResource {
        prefix: "/apis/v1/monitor",
        plural: "alarmpolicies",
        singular: "alarmpolicy",
        namespaced: false,
        subresources: &[],
        reach: Reach::ClusterPath,
    },
    // logagent, application, mesh
    api(
        LOGAGENT,
        "logagents",
        "logagent",
        false,
        &["status", "logcollector", "filetree", "filecontent", "filedownload", "esdetection"],
    ),
    api(APPLICATION, "apps", "app", true, &["status", "finalize", "histories", "resources", "rollback"]),
    api(MESH, "meshmanagers", "meshmanager", false, ADDON_STATUS),
    // Kubernetes, in business clusters
    in_cluster(CORE, "pods", "pod", true, &["status", "log", "exec", "attach", "portforward", "eviction", "binding"]),
    in_cluster(CORE, "services", "service", true, &["status", "proxy"]),
    in_cluster(CORE, "endpoints", "endpoint", true, &[]),
    in_cluster(CORE, "configmaps", "configmap", true, &[]),
    in_cluster(CORE, "secrets", "secret", true, &[]),
    in_cluster(CORE, "serviceaccounts", "serviceaccount", true, &["token"]),
    in_cluster(CORE, "persistentvolumeclaims", "persistentvolumeclaim", true, &["status"]),
    in_cluster(CORE, "persistentvolumes", "persistentvolume", false, &["status"]),
    in_cluster(CORE, "nodes", "node", false, &["status", "proxy"]),
    in_cluster(CORE, "namespaces", "namespace", false, &["status", "finalize"]),
    in_cluster(CORE, "events", "event", true, &[]),
    in_cluster(CORE, "limitranges", "limitrange", true, &[]),
    in_cluster(CORE, "resourcequotas", "resourcequota", true, &["status"]),
    in_cluster(CORE, "replicationcontrollers", "replicationcontroller", true, &["status", "scale"]),
    in_cluster(CORE, "podtemplates", "podtemplate", true, &[]),
    in_cluster(CORE, "componentstatuses", "componentstatus", false, &[]),
    in_cluster(CORE, "bindings", "binding", true, &[]),
    in_cluster("/apis/apps/v1", "deployments", "deployment", true, &["status", "scale", "rollback"]),
    in_cluster("/apis/apps/v1", "statefulsets", "statefulset", true, &["status", "scale"]),
    in_cluster("/apis/apps/v1", "daemonsets", "daemonset", true, &["status"]),
    in_cluster("/apis/apps/v1", "replicasets", "replicaset", true, &["status", "scale"]),
    in_cluster("/apis/apps/v1", "controllerrevisions", "controllerrevision", true, &[]),
    in_cluster("/apis/batch/v1", "jobs", "job", true, &["status"]),
    in_cluster("/apis/batch/v1", "cronjobs", "cronjob", true, &["status"]),
    in_cluster("/apis/autoscaling/v2", "horizontalpodautoscalers", "horizontalpodautoscaler", true, &["status"]),
    in_cluster("/apis/networking.k8s.io/v1", "ingresses", "ingress", true, &["status"]),
    in_cluster("/apis/networking.k8s.io/v1", "networkpolicies", "networkpolicy", true, &[]),
    in_cluster("/apis/networking.k8s.io/v1", "ingressclasses", "ingressclass", false, &[]),
    in_cluster("/apis/discovery.k8s.io/v1", "endpointslices", "endpointslice", true, &[]),
    in_cluster("/apis/storage.k8s.io/v1", "storageclasses", "storageclass", false, &[]),
    in_cluster("/apis/storage.k8s.io/v1", "volumeattachments", "volumeattachment", false, &["status"]),
    in_cluster("/apis/storage.k8s.io/v1", "csidrivers", "csidriver", false, &[]),
    in_cluster("/apis/storage.k8s.io/v1", "csinodes", "csinode", false, &[]),
    in_cluster("/apis/rbac.authorization.k8s.io/v1", "roles", "role", true, &[]),
    in_cluster("/apis/rbac.authorization.k8s.io/v1", "rolebindings", "rolebinding", true, &[]),
    in_cluster("/apis/rbac.authorization.k8s.io/v1", "clusterroles", "clusterrole", false, &[]),
    in_cluster("/apis/rbac.authorization.k8s.io/v1", "clusterrolebindings", "clusterrolebinding", false, &[]),
    in_cluster("/apis/policy/v1", "poddisruptionbudgets", "poddisruptionbudget", true, &["status"]),
    in_cluster("/apis/scheduling.k8s.io/v1", "priorityclasses", "priorityclass", false, &[]),
    in_cluster("/apis/node.k8s.io/v1", "runtimeclasses", "runtimeclass", false, &[]),
    in_cluster("/apis/coordination.k8s.io/v1", "leases", "lease", true, &[]),
    in_cluster(
        "/apis/apiextensions.k8s.io/v1",
        "customresourcedefinitions",
        "customresourcedefinition",
        false,
        &["status"],
    ),
    in_cluster(
        "/apis/certificates.k8s.io/v1",
        "certificatesigningrequests",
        "certificatesigningrequest",
        false,
        &["status", "approval"],
    ),
    in_cluster(
        "/apis/admissionregistration.k8s.io/v1",
        "mutatingwebhookconfigurations",
        "mutatingwebhookconfiguration",
        false,
        &[],
    ),
    in_cluster(
        "/apis/admissionregistration.k8s.io/v1",
        "validatingwebhookconfigurations",
        "validatingwebhookconfiguration",
        false,
        &[],
    ),
    in_cluster("/apis/metrics.k8s.io/v1beta1", "podmetrics", "podmetric", true, &[]),
    // TKEStack's add-on resources in business clusters
    in_cluster("/apis/apps.tkestack.io/v1", "tapps", "tapp", true, &["status", "scale"]),
    in_cluster("/apis/extensions.tkestack.io/v1", "cronhpas", "cronhpa", true, &["status"]),
    in_cluster("/apis/storage.tkestack.io/v1", "csis", "csi", true, &[]),
    in_cluster("/apis/lbcf.tkestack.io/v1beta1", "loadbalancers", "loadbalancer", true, &["status"]),
    in_cluster("/apis/lbcf.tkestack.io/v1beta1", "backendgroups", "backendgroup", true, &["status"]),
    in_cluster("/apis/lbcf.tkestack.io/v1beta1", "backendrecords", "backendrecord", true, &["status"]),
    in_cluster("/apis/lbcf.tkestack.io/v1beta1", "lbcfdrivers", "lbcfdriver", true, &["status"]),
];

/// Words the table lacks that the rule gets wrong, and the model's own renames.
const EXTRA_SINGULARS: &[(&str, &str)] = &[("registrynamespaces", "registrynamespace"), ("status", "status")];

fn singulars() -> &'static HashMap<&'static str, &'static str> {
    static TABLE: OnceLock<HashMap<&'static str, &'static str>> = OnceLock::new();
    TABLE.get_or_init(|| {
        KNOWN_RESOURCES.iter().map(|r| (r.plural, r.singular)).chain(EXTRA_SINGULARS.iter().copied()).collect()
    })
}

/// The singular of a lower-case resource type: from [`KNOWN_RESOURCES`], else by rule
/// (`…ies` → `…y`; `…sses`, `…shes`, `…ches`, `…xes`, `…zes`, `…uses` lose `es`; words
/// ending in `ss`, `us` or `is` are singular already; otherwise a final `s` goes).
pub fn singularize(plural: &str) -> Cow<'_, str> {
    if let Some(s) = singulars().get(plural) {
        return Cow::Borrowed(s);
    }
    let w = plural;
    if w.len() > 4 && w.ends_with("ies") {
        return Cow::Owned(format!("{}y", &w[..w.len() - 3]));
    }
    if ["sses", "shes", "ches", "xes", "zes", "uses"].iter().any(|e| w.ends_with(e)) {
        return Cow::Borrowed(&w[..w.len() - 2]);
    }
    if w.ends_with("ss") || w.ends_with("us") || w.ends_with("is") {
        return Cow::Borrowed(w);
    }
    match w.strip_suffix('s') {
        Some(stem) if !stem.is_empty() => Cow::Borrowed(stem),
        _ => Cow::Borrowed(w),
    }
}

fn upper_first(s: &str) -> Cow<'_, str> {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if !c.is_uppercase() => Cow::Owned(c.to_uppercase().chain(chars).collect()),
        _ => Cow::Borrowed(s),
    }
}

/// The value of the first group `<prefix>:<value>` (`cluster`, `project`, `namespace`).
pub fn group_value<'a>(user: &'a UserInfo, prefix: &str) -> Option<&'a str> {
    user.groups
        .iter()
        .find_map(|g| g.strip_prefix(prefix).and_then(|rest| rest.strip_prefix(':')).filter(|v| !v.is_empty()))
}

/// The groups a request's context headers stand for (`X-TKE-ClusterName` → `cluster:<name>`,
/// `X-TKE-ProjectName` → `project:<name>`), as TKEStack's authentication adds them, so the
/// authorizer (which sees only the user) knows the cluster and project.
pub fn context_groups(headers: &HeaderMap) -> Vec<String> {
    let mut groups = Vec::new();
    for (header, prefix) in [(CLUSTER_HEADER, "cluster"), (PROJECT_HEADER, "project")] {
        if let Some(v) = headers.get(header).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty()) {
            groups.push(format!("{prefix}:{v}"));
        }
    }
    groups
}

/// The name and subresource that follow `clusters/{cluster}/{sub}` in `path`.
fn after_cluster_kind(path: &str, cluster: &str, sub: &str) -> (String, String) {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    for i in 0..segments.len().saturating_sub(2) {
        if segments[i] == "clusters" && segments[i + 1] == cluster && segments[i + 2] == sub {
            let at = |j: usize| segments.get(j).map(|s| s.to_string()).unwrap_or_default();
            return (at(i + 3), at(i + 4));
        }
    }
    (String::new(), String::new())
}

/// The model's action and object for `attrs`; `cluster_header` is `X-TKE-ClusterName` when the
/// request carried it (otherwise a `cluster:` group of the user counts).
pub fn convert(attrs: &Attributes, cluster_header: Option<&str>) -> TkeAttributes {
    let header_cluster = cluster_header.map(str::trim).filter(|c| !c.is_empty());
    if !attrs.resource_request {
        return TkeAttributes {
            action: attrs.verb.clone(),
            object: attrs.path.clone(),
            resource: String::new(),
            name: String::new(),
            subresource: String::new(),
            cluster: header_cluster.or_else(|| group_value(&attrs.user, "cluster")).map(str::to_string),
        };
    }
    let registry_group = attrs.api_group == api::registry::GROUP;
    let mut resource: Cow<'_, str> = Cow::Borrowed(&attrs.resource);
    if registry_group && resource == "namespaces" {
        resource = Cow::Borrowed("registrynamespaces");
    }
    let mut name = attrs.name.clone();
    let mut subresource = attrs.subresource.clone();
    let mut cluster: Option<String> = None;
    if resource == "clusters" && !subresource.is_empty() && !SPECIAL_SUBRESOURCES.contains(&subresource.as_str()) {
        let (inner_name, inner_sub) = after_cluster_kind(&attrs.path, &attrs.name, &attrs.subresource);
        cluster = Some(std::mem::replace(&mut name, inner_name));
        resource = Cow::Owned(std::mem::replace(&mut subresource, inner_sub));
    }
    let single = singularize(&resource).into_owned();

    let mut verb = attrs.verb.as_str();
    let mut resource_type = single.as_str();
    match verb {
        "list" if name.is_empty() => resource_type = &resource,
        "get" => {
            if !subresource.is_empty() && !SPECIAL_SUBRESOURCES.contains(&subresource.as_str()) {
                verb = "list";
            }
            if name.is_empty() {
                verb = "list";
                resource_type = &resource;
            }
        }
        "patch" => verb = "update",
        "deletecollection" => verb = "delete",
        _ => {}
    }
    let action = format!("{verb}{}{}", upper_first(resource_type), upper_first(&subresource));
    if name.is_empty() {
        name = "*".to_string();
    }
    let mut object = format!("{single}:{name}");
    if !attrs.namespace.is_empty() {
        if attrs.api_group == BUSINESS_GROUP {
            object = format!("project:{}/{object}", attrs.namespace);
        } else if registry_group {
            object = format!("registrynamespace:{}/{object}", attrs.namespace);
        } else if resource_type != "namespace" {
            object = format!("namespace:{}/{object}", attrs.namespace);
        }
    }
    if let Some(c) = header_cluster {
        cluster = Some(c.to_string());
    }
    if cluster.is_none() {
        cluster = group_value(&attrs.user, "cluster").map(str::to_string);
    }
    if let Some(c) = &cluster
        && single != "cluster"
    {
        object = format!("cluster:{c}/{object}");
    }
    TkeAttributes { action, object, resource: single, name, subresource, cluster }
}

/// Every action [`convert`] derives for the requests [`KNOWN_RESOURCES`] can receive: each
/// verb on collections and objects, and each subresource. The policy catalogue and the policy
/// editor name actions from this set.
pub fn derivable_actions() -> BTreeSet<String> {
    use http::{Method, Uri};
    let mut actions = BTreeSet::new();
    let user = UserInfo::default();
    let mut derive = |method: &Method, path: &str, query: &str, cluster: Option<&str>| {
        let uri: Uri = match format!("{path}{query}").parse() {
            Ok(u) => u,
            Err(_) => return,
        };
        let attrs = Attributes::from_request(method, &uri, user.clone());
        actions.insert(convert(&attrs, cluster).action);
    };
    let collection_methods =
        [(Method::GET, ""), (Method::GET, "?watch=true"), (Method::POST, ""), (Method::DELETE, "")];
    let object_methods = [
        (Method::GET, ""),
        (Method::GET, "?watch=true"),
        (Method::PUT, ""),
        (Method::PATCH, ""),
        (Method::DELETE, ""),
        (Method::POST, ""),
    ];
    for r in KNOWN_RESOURCES {
        let (base, cluster) = match r.reach {
            Reach::Api => (r.prefix.to_string(), None),
            Reach::Cluster => (r.prefix.to_string(), Some("cls-a")),
            Reach::ClusterPath => (format!("{}/clusters/cls-a", r.prefix), None),
        };
        let collection = if r.namespaced && r.reach != Reach::ClusterPath {
            format!("{base}/namespaces/ns-a/{}", r.plural)
        } else {
            format!("{base}/{}", r.plural)
        };
        for (m, q) in &collection_methods {
            derive(m, &collection, q, cluster);
        }
        let object = format!("{collection}/x");
        for (m, q) in &object_methods {
            derive(m, &object, q, cluster);
        }
        // A list narrowed to one name by a field selector is about that object.
        derive(&Method::GET, &collection, "?fieldSelector=metadata.name%3Dx", cluster);
        for sub in r.subresources {
            let path = format!("{object}/{sub}");
            for m in [Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
                derive(&m, &path, "", cluster);
            }
            derive(&Method::GET, &format!("{path}/y"), "", cluster);
        }
    }
    actions
}

#[cfg(test)]
mod tests {
    use http::{HeaderValue, Method, Uri};

    use super::*;

    fn user(groups: &[&str]) -> UserInfo {
        UserInfo { name: "alice".into(), groups: groups.iter().map(|g| g.to_string()).collect(), ..Default::default() }
    }

    fn conv_as(method: Method, path: &str, cluster: Option<&str>, groups: &[&str]) -> (String, String) {
        let uri: Uri = path.parse().expect("uri");
        let a = convert(&Attributes::from_request(&method, &uri, user(groups)), cluster);
        (a.action, a.object)
    }

    #[test]
    fn conversions() {
        let p = "/apis/platform.tkestack.io/v1";
        type Case<'a> = (Method, String, Option<&'a str>, &'a [&'a str], &'a str, &'a str);
        let cases: Vec<Case> = vec![
            (Method::POST, format!("{p}/clusters"), None, &[], "createCluster", "cluster:*"),
            (Method::GET, format!("{p}/clusters"), None, &[], "listClusters", "cluster:*"),
            (Method::GET, format!("{p}/clusters?watch=1"), None, &[], "watchCluster", "cluster:*"),
            (Method::GET, format!("{p}/clusters/cls-a"), None, &[], "getCluster", "cluster:cls-a"),
            (
                Method::GET,
                format!("{p}/clusters?fieldSelector=metadata.name%3Dcls-a"),
                None,
                &[],
                "listCluster",
                "cluster:cls-a",
            ),
            (Method::PUT, format!("{p}/clusters/cls-a"), None, &[], "updateCluster", "cluster:cls-a"),
            (Method::PATCH, format!("{p}/clusters/cls-a"), None, &[], "updateCluster", "cluster:cls-a"),
            (Method::DELETE, format!("{p}/clusters/cls-a"), None, &[], "deleteCluster", "cluster:cls-a"),
            (Method::GET, format!("{p}/clusters/cls-a/status"), None, &[], "getClusterStatus", "cluster:cls-a"),
            (Method::PUT, format!("{p}/clusters/cls-a/status"), None, &[], "updateClusterStatus", "cluster:cls-a"),
            (Method::PUT, format!("{p}/clusters/cls-a/finalize"), None, &[], "updateClusterFinalize", "cluster:cls-a"),
            (Method::GET, format!("{p}/clusters/cls-a/proxy"), None, &[], "getClusterProxy", "cluster:cls-a"),
            // clusters/{cls}/{sub}: a kind inside the cluster.
            (Method::POST, format!("{p}/clusters/cls-a/apply"), None, &[], "createApply", "cluster:cls-a/apply:*"),
            (
                Method::POST,
                format!("{p}/clusters/cls-a/drain/node-1"),
                None,
                &[],
                "createDrain",
                "cluster:cls-a/drain:node-1",
            ),
            (Method::GET, format!("{p}/clusters/cls-a/addons"), None, &[], "listAddons", "cluster:cls-a/addon:*"),
            (Method::GET, format!("{p}/clusters/cls-a/addons/pe"), None, &[], "getAddon", "cluster:cls-a/addon:pe"),
            (
                Method::GET,
                format!("{p}/clusters/cls-a/tapps/t1/status"),
                None,
                &[],
                "getTappStatus",
                "cluster:cls-a/tapp:t1",
            ),
            (
                Method::GET,
                format!("{p}/clusters/cls-a/apiresources"),
                None,
                &[],
                "listApiresources",
                "cluster:cls-a/apiresource:*",
            ),
            // The header wins over the path's cluster.
            (
                Method::GET,
                format!("{p}/clusters/cls-a/addons"),
                Some("cls-b"),
                &[],
                "listAddons",
                "cluster:cls-b/addon:*",
            ),
            // Other platform resources; a `cluster:` group names the cluster.
            (Method::GET, format!("{p}/machines/mc-1"), None, &[], "getMachine", "machine:mc-1"),
            (
                Method::GET,
                format!("{p}/machines/mc-1"),
                None,
                &["cluster:cls-a"],
                "getMachine",
                "cluster:cls-a/machine:mc-1",
            ),
            (Method::POST, format!("{p}/clusters"), None, &["cluster:cls-a"], "createCluster", "cluster:*"),
            (Method::GET, format!("{p}/prometheuses"), None, &[], "listPrometheuses", "prometheus:*"),
            (Method::PUT, format!("{p}/prometheuses/p1"), None, &[], "updatePrometheus", "prometheus:p1"),
            (Method::GET, format!("{p}/registries"), None, &[], "listRegistries", "registry:*"),
            (Method::DELETE, format!("{p}/configmaps"), None, &[], "deleteConfigmap", "configmap:*"),
            // Kubernetes resources of a business cluster.
            (
                Method::GET,
                "/api/v1/namespaces/ns1/pods/p1/log".into(),
                Some("cls-a"),
                &[],
                "getPodLog",
                "cluster:cls-a/namespace:ns1/pod:p1",
            ),
            (
                Method::POST,
                "/api/v1/namespaces/ns1/pods/p1/exec".into(),
                Some("cls-a"),
                &[],
                "createPodExec",
                "cluster:cls-a/namespace:ns1/pod:p1",
            ),
            // A WebSocket exec or port-forward is a GET, and still a create.
            (
                Method::GET,
                "/api/v1/namespaces/ns1/pods/p1/exec?command=sh&tty=true".into(),
                Some("cls-a"),
                &[],
                "createPodExec",
                "cluster:cls-a/namespace:ns1/pod:p1",
            ),
            (
                Method::GET,
                "/api/v1/namespaces/ns1/pods/p1/portforward?ports=80".into(),
                Some("cls-a"),
                &[],
                "createPodPortforward",
                "cluster:cls-a/namespace:ns1/pod:p1",
            ),
            (
                Method::GET,
                "/api/v1/namespaces/ns1/pods".into(),
                Some("cls-a"),
                &[],
                "listPods",
                "cluster:cls-a/namespace:ns1/pod:*",
            ),
            (
                Method::GET,
                "/api/v1/namespaces/ns1".into(),
                Some("cls-a"),
                &[],
                "getNamespace",
                "cluster:cls-a/namespace:ns1",
            ),
            (
                Method::GET,
                "/api/v1/namespaces".into(),
                Some("cls-a"),
                &[],
                "listNamespaces",
                "cluster:cls-a/namespace:*",
            ),
            (
                Method::PUT,
                "/api/v1/namespaces/ns1/finalize".into(),
                Some("cls-a"),
                &[],
                "updateNamespaceFinalize",
                "cluster:cls-a/namespace:ns1",
            ),
            (
                Method::GET,
                "/apis/apps/v1/namespaces/ns1/deployments/d1/scale".into(),
                Some("cls-a"),
                &[],
                "listDeploymentScale",
                "cluster:cls-a/namespace:ns1/deployment:d1",
            ),
            (
                Method::PATCH,
                "/apis/networking.k8s.io/v1/namespaces/ns1/ingresses/i1".into(),
                Some("cls-a"),
                &[],
                "updateIngress",
                "cluster:cls-a/namespace:ns1/ingress:i1",
            ),
            (
                Method::DELETE,
                "/apis/networking.k8s.io/v1/namespaces/ns1/networkpolicies".into(),
                Some("cls-a"),
                &[],
                "deleteNetworkpolicy",
                "cluster:cls-a/namespace:ns1/networkpolicy:*",
            ),
            (
                Method::GET,
                "/apis/storage.k8s.io/v1/storageclasses".into(),
                Some("cls-a"),
                &[],
                "listStorageclasses",
                "cluster:cls-a/storageclass:*",
            ),
            (
                Method::GET,
                "/api/v1/componentstatuses/etcd-0".into(),
                Some("cls-a"),
                &[],
                "getComponentstatus",
                "cluster:cls-a/componentstatus:etcd-0",
            ),
            // An unknown custom resource: the rule.
            (
                Method::GET,
                "/apis/example.com/v1/namespaces/ns1/widgetpolicies/w".into(),
                Some("cls-a"),
                &[],
                "getWidgetpolicy",
                "cluster:cls-a/namespace:ns1/widgetpolicy:w",
            ),
            // registry.tkestack.io
            (
                Method::POST,
                "/apis/registry.tkestack.io/v1/namespaces".into(),
                None,
                &[],
                "createRegistrynamespace",
                "registrynamespace:*",
            ),
            (
                Method::GET,
                "/apis/registry.tkestack.io/v1/namespaces".into(),
                None,
                &[],
                "listRegistrynamespaces",
                "registrynamespace:*",
            ),
            (
                Method::GET,
                "/apis/registry.tkestack.io/v1/namespaces/rns-1/repositories/repo-1".into(),
                None,
                &[],
                "getRepository",
                "registrynamespace:rns-1/repository:repo-1",
            ),
            (
                Method::GET,
                "/apis/registry.tkestack.io/v1/namespaces/cg-1/charts/c-1/version".into(),
                None,
                &[],
                "listChartVersion",
                "registrynamespace:cg-1/chart:c-1",
            ),
            // business.tkestack.io: namespaces are projects.
            (
                Method::GET,
                "/apis/business.tkestack.io/v1/namespaces/prj-a/namespaces/ns-1".into(),
                None,
                &[],
                "getNamespace",
                "project:prj-a/namespace:ns-1",
            ),
            (Method::GET, "/apis/business.tkestack.io/v1/portal".into(), None, &[], "listPortal", "portal:*"),
            (
                Method::GET,
                "/apis/business.tkestack.io/v1/projects/prj-a".into(),
                None,
                &[],
                "getProject",
                "project:prj-a",
            ),
            // auth.tkestack.io: singular names from the table.
            (Method::GET, "/apis/auth.tkestack.io/v1/policies".into(), None, &[], "listPolicies", "policy:*"),
            (
                Method::POST,
                "/apis/auth.tkestack.io/v1/policies/pol-1/binding".into(),
                None,
                &[],
                "createPolicyBinding",
                "policy:pol-1",
            ),
            (
                Method::GET,
                "/apis/auth.tkestack.io/v1/policies/pol-1/users".into(),
                None,
                &[],
                "listPolicyUsers",
                "policy:pol-1",
            ),
            (
                Method::GET,
                "/apis/auth.tkestack.io/v1/localidentities/usr-1".into(),
                None,
                &[],
                "getLocalidentity",
                "localidentity:usr-1",
            ),
            (
                Method::GET,
                "/apis/auth.tkestack.io/v1/localidentities".into(),
                None,
                &[],
                "listLocalidentities",
                "localidentity:*",
            ),
            (Method::GET, "/apis/auth.tkestack.io/v1/categories/c".into(), None, &[], "getCategory", "category:c"),
            (
                Method::POST,
                "/apis/auth.tkestack.io/v1/apikeys/default/token".into(),
                None,
                &[],
                "createApikeyToken",
                "apikey:default",
            ),
            (
                Method::GET,
                "/apis/auth.tkestack.io/v1/namespaces/ns1/custompolicybindings".into(),
                None,
                &[],
                "listCustompolicybindings",
                "namespace:ns1/custompolicybinding:*",
            ),
            // Monitor's alarm policies hang off clusters.
            (
                Method::GET,
                "/apis/v1/monitor/clusters/cls-a/alarmpolicies".into(),
                None,
                &[],
                "listAlarmpolicies",
                "cluster:cls-a/alarmpolicy:*",
            ),
            (
                Method::POST,
                "/apis/application.tkestack.io/v1/namespaces/ns1/apps/a1/rollback".into(),
                None,
                &[],
                "createAppRollback",
                "namespace:ns1/app:a1",
            ),
            // Paths that are not resources.
            (Method::GET, "/metrics".into(), None, &[], "get", "/metrics"),
            (Method::POST, "/auth/authz".into(), None, &[], "post", "/auth/authz"),
        ];
        for (method, path, cluster, groups, action, object) in cases {
            let got = conv_as(method.clone(), &path, cluster, groups);
            assert_eq!((got.0.as_str(), got.1.as_str()), (action, object), "{method} {path} {cluster:?} {groups:?}");
        }
    }

    #[test]
    fn converted_fields() {
        let uri: Uri = "/apis/platform.tkestack.io/v1/clusters/cls-a/drain/node-1".parse().expect("uri");
        let a = convert(&Attributes::from_request(&Method::POST, &uri, user(&[])), None);
        assert_eq!(
            a,
            TkeAttributes {
                action: "createDrain".into(),
                object: "cluster:cls-a/drain:node-1".into(),
                resource: "drain".into(),
                name: "node-1".into(),
                subresource: String::new(),
                cluster: Some("cls-a".into()),
            }
        );
        let uri: Uri = "/healthz".parse().expect("uri");
        let a = convert(&Attributes::from_request(&Method::GET, &uri, user(&["cluster:c9"])), None);
        assert_eq!((a.action.as_str(), a.object.as_str(), a.cluster.as_deref()), ("get", "/healthz", Some("c9")));
    }

    #[test]
    fn singular_table_and_rule() {
        for (plural, single) in [
            ("policies", "policy"),
            ("localidentities", "localidentity"),
            ("clusteraddons", "clusteraddon"),
            ("clusteraddontypes", "clusteraddontype"),
            ("machines", "machine"),
            ("prometheuses", "prometheus"),
            ("registries", "registry"),
            ("repositories", "repository"),
            ("categories", "category"),
            ("ingresses", "ingress"),
            ("storageclasses", "storageclass"),
            ("componentstatuses", "componentstatus"),
            ("status", "status"),
            ("endpoints", "endpoint"),
            ("leases", "lease"),
            ("messages", "message"),
            ("apply", "apply"),
            ("drain", "drain"),
            ("portal", "portal"),
            ("registrynamespaces", "registrynamespace"),
            // The rule, for what the table lacks.
            ("widgetpolicies", "widgetpolicy"),
            ("boxes", "box"),
            ("batches", "batch"),
            ("wishes", "wish"),
            ("buses", "bus"),
            ("accesses", "access"),
            ("gadgets", "gadget"),
            ("analysis", "analysis"),
            ("prometheus", "prometheus"),
            ("glass", "glass"),
            ("data", "data"),
            ("s", "s"),
            ("", ""),
            ("ies", "ie"),
        ] {
            assert_eq!(singularize(plural), single, "{plural}");
        }
    }

    #[test]
    fn the_table_agrees_with_itself_and_with_our_definitions() {
        let mut seen: HashMap<&str, &str> = HashMap::new();
        for r in KNOWN_RESOURCES {
            if let Some(prev) = seen.insert(r.plural, r.singular) {
                assert_eq!(prev, r.singular, "{} has two singulars", r.plural);
            }
        }
        // Every resource our API groups define is in the table with its own singular.
        let defs = api::platform::resources()
            .into_iter()
            .chain(api::registry::resources())
            .chain(api::auth::resources())
            .chain(api::authz::resources());
        for def in defs {
            assert!(
                KNOWN_RESOURCES.iter().any(|r| r.plural == def.plural && r.prefix.contains(def.group)),
                "{}.{} is missing from KNOWN_RESOURCES",
                def.plural,
                def.group
            );
            assert_eq!(singularize(def.plural), def.singular, "{}.{}", def.plural, def.group);
        }
    }

    #[test]
    fn context_groups_from_headers() {
        let mut h = HeaderMap::new();
        assert!(context_groups(&h).is_empty());
        h.insert(CLUSTER_HEADER, HeaderValue::from_static("cls-a"));
        h.insert(PROJECT_HEADER, HeaderValue::from_static(" prj-1 "));
        assert_eq!(context_groups(&h), ["cluster:cls-a", "project:prj-1"]);
        h.insert(CLUSTER_HEADER, HeaderValue::from_static(""));
        assert_eq!(context_groups(&h), ["project:prj-1"]);
        let u = user(&["tenant:t1", "clusters:x", "cluster:", "cluster:c2", "project:p"]);
        assert_eq!(group_value(&u, "cluster"), Some("c2"));
        assert_eq!(group_value(&u, "project"), Some("p"));
        assert_eq!(group_value(&u, "namespace"), None);
    }

    #[test]
    fn derivable_actions_cover_the_catalogue_words() {
        let actions = derivable_actions();
        for a in [
            "createCluster",
            "listClusters",
            "getClusterStatus",
            "createMachine",
            "createDrain",
            "createApply",
            "createProjectBinding",
            "createChartgroupRepoupdating",
            "createAppRollback",
            "getPodLog",
            "createPodExec",
            "listAlarmpolicies",
            "createAlarmpolicy",
            "listPortal",
            "createPolicyBinding",
            "listNamespaceCertificate",
        ] {
            assert!(actions.contains(a), "{a} is not derivable");
        }
        assert!(!actions.contains("getClusters"));
        assert!(actions.len() > 1000, "{}", actions.len());
    }
}
