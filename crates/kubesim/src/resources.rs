//! The Kubernetes resources a simulated cluster serves, as [`ResourceDef`]s for our generic API
//! server: names, scopes, short names, categories, printer columns and selectable fields as real
//! clusters report them, each typed (and canonicalised) through k8s-openapi's structs, with the
//! strategies of [`crate::strategy`].

use apiserver::{Column, ResourceDef, Subresources, Verbs, resource::schema_of, typed};
use k8s_openapi::api::{
    apps::v1 as apps, batch::v1 as batch, coordination::v1 as coordination, core::v1 as core, policy::v1 as policy,
    rbac::v1 as rbac,
};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;

use crate::strategy::{
    DaemonSetStrategy, DeploymentStrategy, NamespaceStrategy, NodeStrategy, Plain, PodStrategy, PvcStrategy,
    ReplicaSetStrategy, ResourceQuotaStrategy, SecretStrategy, ServiceStrategy, StatefulSetStrategy,
};

const ALL: &[&str] = &["all"];
const NO_STATUS: Subresources = Subresources { status: false, finalize: false };
const STATUS: Subresources = Subresources { status: true, finalize: false };

/// A definition with the common parts filled in; callers set the rest.
#[allow(clippy::too_many_arguments)]
fn def(
    group: &'static str,
    kind: &'static str,
    plural: &'static str,
    singular: &'static str,
    short_names: &'static [&'static str],
    namespaced: bool,
    subresources: Subresources,
    columns: Vec<Column>,
    schema: fn(&mut schemars::SchemaGenerator) -> schemars::Schema,
    strategy: std::sync::Arc<dyn apiserver::Strategy>,
) -> ResourceDef {
    ResourceDef {
        group,
        version: "v1",
        kind,
        plural,
        singular,
        short_names,
        categories: &[],
        namespaced,
        verbs: Verbs::ALL,
        subresources,
        columns,
        field_selectors: &[],
        tenant_field: None,
        static_objects: None,
        schema,
        strategy,
    }
}

fn col(name: &'static str, type_: &'static str, path: &'static str, description: &'static str) -> Column {
    Column::new(name, type_, path, description)
}

/// Every resource of a simulated cluster, sorted by group and plural.
///
/// Each call builds fresh strategies (the service strategy remembers the cluster IPs it gave
/// out), so every simulated cluster calls this once for its own server.
pub fn resources() -> Vec<ResourceDef> {
    let mut defs = vec![
        // ----- core/v1 ---------------------------------------------------------------------
        ResourceDef {
            field_selectors: &["status.phase"],
            ..def(
                "",
                "Namespace",
                "namespaces",
                "namespace",
                &["ns"],
                false,
                STATUS,
                vec![col("Status", "string", ".status.phase", "The phase of the namespace."), Column::age()],
                schema_of::<core::Namespace>,
                typed::<core::Namespace, _>(NamespaceStrategy),
            )
        },
        ResourceDef {
            field_selectors: &["spec.unschedulable"],
            ..def(
                "",
                "Node",
                "nodes",
                "node",
                &["no"],
                false,
                STATUS,
                vec![
                    // The simulator keeps Ready as the last of the four kubelet conditions, as
                    // kubelets do; a jsonPath cell cannot search the list by type.
                    col(
                        "Ready",
                        "string",
                        ".status.conditions[3].status",
                        "Whether the node's Ready condition is True.",
                    ),
                    Column::age(),
                    col("Version", "string", ".status.nodeInfo.kubeletVersion", "Kubelet version of the node."),
                    col("Internal-IP", "string", ".status.addresses[0].address", "The node's internal IP.").wide(),
                    col("OS-Image", "string", ".status.nodeInfo.osImage", "OS image of the node.").wide(),
                    col("Kernel-Version", "string", ".status.nodeInfo.kernelVersion", "Kernel of the node.").wide(),
                    col(
                        "Container-Runtime",
                        "string",
                        ".status.nodeInfo.containerRuntimeVersion",
                        "Container runtime of the node.",
                    )
                    .wide(),
                ],
                schema_of::<core::Node>,
                typed::<core::Node, _>(NodeStrategy),
            )
        },
        ResourceDef {
            categories: ALL,
            field_selectors: &[
                "spec.nodeName",
                "spec.restartPolicy",
                "spec.schedulerName",
                "spec.serviceAccountName",
                "spec.hostNetwork",
                "status.phase",
                "status.podIP",
                "status.nominatedNodeName",
            ],
            ..def(
                "",
                "Pod",
                "pods",
                "pod",
                &["po"],
                true,
                STATUS,
                vec![
                    col(
                        "Ready",
                        "boolean",
                        ".status.containerStatuses[0].ready",
                        "Whether the (first) container is ready.",
                    ),
                    col("Status", "string", ".status.phase", "The phase of the pod."),
                    col(
                        "Restarts",
                        "integer",
                        ".status.containerStatuses[0].restartCount",
                        "Restarts of the (first) container.",
                    ),
                    Column::age(),
                    col("IP", "string", ".status.podIP", "IP address of the pod.").wide(),
                    col("Node", "string", ".spec.nodeName", "The node the pod runs on.").wide(),
                ],
                schema_of::<core::Pod>,
                typed::<core::Pod, _>(PodStrategy),
            )
        },
        ResourceDef {
            categories: ALL,
            field_selectors: &["spec.clusterIP", "spec.type"],
            ..def(
                "",
                "Service",
                "services",
                "service",
                &["svc"],
                true,
                STATUS,
                vec![
                    col("Type", "string", ".spec.type", "The type of the service."),
                    col("Cluster-IP", "string", ".spec.clusterIP", "The cluster IP of the service."),
                    col(
                        "External-IP",
                        "string",
                        ".status.loadBalancer.ingress[0].ip",
                        "The external IP of the service.",
                    ),
                    col("Port(s)", "integer", ".spec.ports[0].port", "The (first) port of the service."),
                    Column::age(),
                ],
                schema_of::<core::Service>,
                typed::<core::Service, _>(ServiceStrategy::default()),
            )
        },
        def(
            "",
            "Endpoints",
            "endpoints",
            "endpoints",
            &["ep"],
            true,
            NO_STATUS,
            vec![
                col("Endpoints", "string", ".subsets[0].addresses[0].ip", "The (first) endpoint address."),
                Column::age(),
            ],
            schema_of::<core::Endpoints>,
            typed::<core::Endpoints, _>(Plain),
        ),
        def(
            "",
            "ConfigMap",
            "configmaps",
            "configmap",
            &["cm"],
            true,
            NO_STATUS,
            vec![Column::age()],
            schema_of::<core::ConfigMap>,
            typed::<core::ConfigMap, _>(Plain),
        ),
        ResourceDef {
            field_selectors: &["type"],
            ..def(
                "",
                "Secret",
                "secrets",
                "secret",
                &[],
                true,
                NO_STATUS,
                vec![col("Type", "string", ".type", "The type of the secret."), Column::age()],
                schema_of::<core::Secret>,
                typed::<core::Secret, _>(SecretStrategy),
            )
        },
        def(
            "",
            "ServiceAccount",
            "serviceaccounts",
            "serviceaccount",
            &["sa"],
            true,
            NO_STATUS,
            vec![Column::age()],
            schema_of::<core::ServiceAccount>,
            typed::<core::ServiceAccount, _>(Plain),
        ),
        def(
            "",
            "ResourceQuota",
            "resourcequotas",
            "resourcequota",
            &["quota"],
            true,
            STATUS,
            vec![Column::age()],
            schema_of::<core::ResourceQuota>,
            typed::<core::ResourceQuota, _>(ResourceQuotaStrategy),
        ),
        ResourceDef {
            field_selectors: &[
                "involvedObject.kind",
                "involvedObject.namespace",
                "involvedObject.name",
                "involvedObject.uid",
                "involvedObject.apiVersion",
                "involvedObject.resourceVersion",
                "involvedObject.fieldPath",
                "reason",
                "reportingComponent",
                "source",
                "type",
            ],
            ..def(
                "",
                "Event",
                "events",
                "event",
                &["ev"],
                true,
                NO_STATUS,
                vec![
                    col("Last Seen", "date", ".lastTimestamp", "When the event was last seen."),
                    col("Type", "string", ".type", "Normal or Warning."),
                    col("Reason", "string", ".reason", "Why the event happened."),
                    col("Object", "string", ".involvedObject.name", "The object the event is about."),
                    col("Message", "string", ".message", "What happened."),
                ],
                schema_of::<core::Event>,
                typed::<core::Event, _>(Plain),
            )
        },
        def(
            "",
            "LimitRange",
            "limitranges",
            "limitrange",
            &["limits"],
            true,
            NO_STATUS,
            vec![Column::age()],
            schema_of::<core::LimitRange>,
            typed::<core::LimitRange, _>(Plain),
        ),
        def(
            "",
            "PersistentVolumeClaim",
            "persistentvolumeclaims",
            "persistentvolumeclaim",
            &["pvc"],
            true,
            STATUS,
            vec![
                col("Status", "string", ".status.phase", "The phase of the claim."),
                col("Volume", "string", ".spec.volumeName", "The bound volume."),
                col("Capacity", "string", ".status.capacity.storage", "The capacity of the bound volume."),
                col("Access Modes", "string", ".status.accessModes[0]", "The (first) access mode."),
                col("StorageClass", "string", ".spec.storageClassName", "The storage class."),
                Column::age(),
            ],
            schema_of::<core::PersistentVolumeClaim>,
            typed::<core::PersistentVolumeClaim, _>(PvcStrategy),
        ),
        // ----- apps/v1 ---------------------------------------------------------------------
        ResourceDef {
            categories: ALL,
            ..def(
                "apps",
                "Deployment",
                "deployments",
                "deployment",
                &["deploy"],
                true,
                STATUS,
                vec![
                    col("Ready", "integer", ".status.readyReplicas", "Ready replicas."),
                    col("Up-to-date", "integer", ".status.updatedReplicas", "Replicas of the current template."),
                    col("Available", "integer", ".status.availableReplicas", "Available replicas."),
                    Column::age(),
                    col("Containers", "string", ".spec.template.spec.containers[0].name", "The (first) container.")
                        .wide(),
                    col("Images", "string", ".spec.template.spec.containers[0].image", "The (first) image.").wide(),
                ],
                schema_of::<apps::Deployment>,
                typed::<apps::Deployment, _>(DeploymentStrategy),
            )
        },
        ResourceDef {
            categories: ALL,
            field_selectors: &["status.replicas"],
            ..def(
                "apps",
                "ReplicaSet",
                "replicasets",
                "replicaset",
                &["rs"],
                true,
                STATUS,
                vec![
                    col("Desired", "integer", ".spec.replicas", "Desired replicas."),
                    col("Current", "integer", ".status.replicas", "Current replicas."),
                    col("Ready", "integer", ".status.readyReplicas", "Ready replicas."),
                    Column::age(),
                ],
                schema_of::<apps::ReplicaSet>,
                typed::<apps::ReplicaSet, _>(ReplicaSetStrategy),
            )
        },
        ResourceDef {
            categories: ALL,
            ..def(
                "apps",
                "DaemonSet",
                "daemonsets",
                "daemonset",
                &["ds"],
                true,
                STATUS,
                vec![
                    col("Desired", "integer", ".status.desiredNumberScheduled", "Nodes that should run the pod."),
                    col("Current", "integer", ".status.currentNumberScheduled", "Nodes running the pod."),
                    col("Ready", "integer", ".status.numberReady", "Nodes with the pod ready."),
                    col(
                        "Up-to-date",
                        "integer",
                        ".status.updatedNumberScheduled",
                        "Nodes running the current template.",
                    ),
                    col("Available", "integer", ".status.numberAvailable", "Nodes with the pod available."),
                    Column::age(),
                ],
                schema_of::<apps::DaemonSet>,
                typed::<apps::DaemonSet, _>(DaemonSetStrategy),
            )
        },
        ResourceDef {
            categories: ALL,
            ..def(
                "apps",
                "StatefulSet",
                "statefulsets",
                "statefulset",
                &["sts"],
                true,
                STATUS,
                vec![col("Ready", "integer", ".status.readyReplicas", "Ready replicas."), Column::age()],
                schema_of::<apps::StatefulSet>,
                typed::<apps::StatefulSet, _>(StatefulSetStrategy),
            )
        },
        // ----- batch/v1 (stored; the simulator runs no Job or CronJob controller) ----------
        ResourceDef {
            categories: ALL,
            ..def(
                "batch",
                "Job",
                "jobs",
                "job",
                &[],
                true,
                STATUS,
                vec![
                    col("Completions", "string", ".spec.completions", "Pods that must succeed."),
                    col("Succeeded", "integer", ".status.succeeded", "Pods that succeeded."),
                    Column::age(),
                ],
                schema_of::<batch::Job>,
                typed::<batch::Job, _>(Plain),
            )
        },
        ResourceDef {
            categories: ALL,
            ..def(
                "batch",
                "CronJob",
                "cronjobs",
                "cronjob",
                &["cj"],
                true,
                STATUS,
                vec![
                    col("Schedule", "string", ".spec.schedule", "When jobs are made."),
                    col("Suspend", "boolean", ".spec.suspend", "Whether making jobs is suspended."),
                    col("Last Schedule", "date", ".status.lastScheduleTime", "When a job was last made."),
                    Column::age(),
                ],
                schema_of::<batch::CronJob>,
                typed::<batch::CronJob, _>(Plain),
            )
        },
        // ----- rbac.authorization.k8s.io/v1 ------------------------------------------------
        def(
            "rbac.authorization.k8s.io",
            "Role",
            "roles",
            "role",
            &[],
            true,
            NO_STATUS,
            vec![],
            schema_of::<rbac::Role>,
            typed::<rbac::Role, _>(Plain),
        ),
        def(
            "rbac.authorization.k8s.io",
            "RoleBinding",
            "rolebindings",
            "rolebinding",
            &[],
            true,
            NO_STATUS,
            vec![col("Role", "string", ".roleRef.name", "The role bound."), Column::age()],
            schema_of::<rbac::RoleBinding>,
            typed::<rbac::RoleBinding, _>(Plain),
        ),
        def(
            "rbac.authorization.k8s.io",
            "ClusterRole",
            "clusterroles",
            "clusterrole",
            &[],
            false,
            NO_STATUS,
            vec![],
            schema_of::<rbac::ClusterRole>,
            typed::<rbac::ClusterRole, _>(Plain),
        ),
        def(
            "rbac.authorization.k8s.io",
            "ClusterRoleBinding",
            "clusterrolebindings",
            "clusterrolebinding",
            &[],
            false,
            NO_STATUS,
            vec![col("Role", "string", ".roleRef.name", "The cluster role bound."), Column::age()],
            schema_of::<rbac::ClusterRoleBinding>,
            typed::<rbac::ClusterRoleBinding, _>(Plain),
        ),
        // ----- coordination.k8s.io/v1 ------------------------------------------------------
        def(
            "coordination.k8s.io",
            "Lease",
            "leases",
            "lease",
            &[],
            true,
            NO_STATUS,
            vec![col("Holder", "string", ".spec.holderIdentity", "Who holds the lease."), Column::age()],
            schema_of::<coordination::Lease>,
            typed::<coordination::Lease, _>(Plain),
        ),
        // ----- policy/v1 ------------------------------------------------------------------
        def(
            "policy",
            "PodDisruptionBudget",
            "poddisruptionbudgets",
            "poddisruptionbudget",
            &["pdb"],
            true,
            STATUS,
            vec![
                col("Min Available", "string", ".spec.minAvailable", "Pods that must stay available."),
                col("Max Unavailable", "string", ".spec.maxUnavailable", "Pods that may be unavailable."),
                Column::age(),
            ],
            schema_of::<policy::PodDisruptionBudget>,
            typed::<policy::PodDisruptionBudget, _>(Plain),
        ),
        // ----- apiextensions.k8s.io/v1 (stored; custom resources are not served) -----------
        def(
            "apiextensions.k8s.io",
            "CustomResourceDefinition",
            "customresourcedefinitions",
            "customresourcedefinition",
            &["crd", "crds"],
            false,
            STATUS,
            vec![],
            schema_of::<CustomResourceDefinition>,
            typed::<CustomResourceDefinition, _>(Plain),
        ),
    ];
    defs.sort_by_key(|d| (d.group, d.plural));
    defs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_resource_is_unique_and_named_like_kubernetes() {
        let defs = resources();
        let mut seen = std::collections::BTreeSet::new();
        for d in &defs {
            assert!(seen.insert((d.group, d.plural)), "{} served twice", d.plural);
            assert_eq!(d.plural, d.plural.to_lowercase());
        }
        let find = |p: &str| defs.iter().find(|d| d.plural == p).unwrap_or_else(|| panic!("{p} missing"));
        assert_eq!(find("pods").short_names, &["po"]);
        assert!(find("pods").subresources.status);
        assert!(find("pods").field_selectors.contains(&"spec.nodeName"));
        assert!(!find("nodes").namespaced);
        assert_eq!(find("deployments").group, "apps");
        assert_eq!(find("leases").api_version(), "coordination.k8s.io/v1");
        assert_eq!(find("customresourcedefinitions").short_names, &["crd", "crds"]);
        assert_eq!(find("poddisruptionbudgets").short_names, &["pdb"]);
        assert_eq!(find("cronjobs").api_version(), "batch/v1");
        assert_eq!(defs.len(), 25);
    }
}
