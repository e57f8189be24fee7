//! The `platform.tkestack.io/v1` resource definitions as the generic server sees them: names,
//! scopes, columns, selectable fields, schemas, and the untyped strategies driven the way the
//! object store drives them (canonicalize, prepare, validate; update; delete decision).

use api::platform;
use apiserver::{Context, DeleteDecision, ResourceDef, UserInfo};
use serde_json::{Value, json};

fn defs() -> Vec<ResourceDef> {
    platform::resources()
}

fn def(kind: &str) -> ResourceDef {
    defs().into_iter().find(|d| d.kind == kind).unwrap_or_else(|| panic!("no {kind}"))
}

fn ctx(tenant: &str) -> Context {
    Context {
        user: UserInfo { name: "alice".into(), groups: vec![format!("tenant:{tenant}")], ..Default::default() },
        namespace: None,
    }
}

/// The store's create path without storage: canonicalize, prepare, name from generateName,
/// validate. Returns the object as it would be stored, or the field errors.
fn create(d: &ResourceDef, ctx: &Context, obj: Value) -> Result<Value, Vec<apimachinery::FieldError>> {
    let (mut obj, unknown) = d.strategy.canonicalize(obj).expect("decodes");
    assert!(unknown.is_empty(), "unknown fields {unknown:?}");
    d.strategy.prepare_for_create(ctx, &mut obj).expect("prepares");
    if obj["metadata"]["name"].as_str().unwrap_or("").is_empty() {
        let prefix = obj["metadata"]["generateName"].as_str().unwrap_or("").to_string();
        obj["metadata"]["name"] = json!(format!("{prefix}x7k2p"));
    }
    let errs = d.strategy.validate(ctx, &obj);
    if errs.is_empty() { Ok(obj) } else { Err(errs) }
}

#[test]
fn the_group_has_seventeen_cluster_scoped_kinds() {
    let expected = [
        ("Cluster", "clusters", "cls"),
        ("ClusterCredential", "clustercredentials", "cc"),
        ("Machine", "machines", "mc"),
        ("Registry", "registries", "rg"),
        ("ConfigMap", "configmaps", "cm"),
        ("ClusterAddonType", "clusteraddontypes", "cat"),
        ("CronHPA", "cronhpas", "cronhpa"),
        ("CSIOperator", "csioperators", "co"),
        ("GPUManager", "gpumanagers", "gm"),
        ("Helm", "helms", "hm"),
        ("IPAM", "ipams", "ipam"),
        ("LBCF", "lbcfs", "lbcf"),
        ("LogCollector", "logcollectors", "lc"),
        ("PersistentEvent", "persistentevents", "pe"),
        ("Prometheus", "prometheuses", "prom"),
        ("TappController", "tappcontrollers", "tc"),
        ("VolumeDecorator", "volumedecorators", "vd"),
    ];
    let defs = defs();
    assert_eq!(defs.len(), 17);
    for (d, (kind, plural, short)) in defs.iter().zip(expected) {
        assert_eq!((d.kind, d.plural, d.short_names), (kind, plural, &[short][..]));
        assert_eq!(d.api_version(), "platform.tkestack.io/v1");
        assert!(!d.namespaced, "{kind} is cluster-scoped");
        assert_eq!(d.singular, kind.to_lowercase());
    }
    let mut plurals: Vec<&str> = defs.iter().map(|d| d.plural).collect();
    plurals.dedup();
    assert_eq!(plurals.len(), 17);
}

#[test]
fn verbs_subresources_and_tenancy() {
    let cls = def("Cluster");
    assert!(!cls.verbs.delete_collection, "clusters have no deleteCollection");
    assert!(cls.subresources.status && cls.subresources.finalize);
    let mc = def("Machine");
    assert!(mc.subresources.status && mc.subresources.finalize);
    let cat = def("ClusterAddonType");
    assert_eq!(cat.verbs.names(), vec!["get", "list"]);
    assert!(cat.static_objects.is_some());
    assert_eq!(def("ClusterCredential").tenant_field, Some("tenantID"));
    assert_eq!(def("ConfigMap").tenant_field, None);
    for kind in ["Cluster", "Machine", "Registry", "PersistentEvent", "Helm"] {
        assert_eq!(def(kind).tenant_field, Some("spec.tenantID"), "{kind}");
    }
    assert!(def("TappController").subresources.status);
}

#[test]
fn printer_columns_match_tkestack() {
    let header = |d: ResourceDef| d.columns.iter().map(|c| c.name.to_uppercase()).collect::<Vec<_>>().join(" ");
    assert_eq!(format!("NAME {}", header(def("Cluster"))), "NAME TYPE VERSION STATUS AGE");
    assert_eq!(format!("NAME {}", header(def("Machine"))), "NAME TYPE IP STATUS AGE");
    let paths: Vec<&str> = def("Cluster").columns.iter().map(|c| c.json_path).collect();
    assert_eq!(paths, vec![".spec.type", ".status.version", ".status.phase", ".metadata.creationTimestamp"]);
    let paths: Vec<&str> = def("Machine").columns.iter().map(|c| c.json_path).collect();
    assert_eq!(paths, vec![".spec.type", ".spec.ip", ".status.phase", ".metadata.creationTimestamp"]);
    assert!(def("PersistentEvent").columns.is_empty(), "default table like TKEStack");
}

#[test]
fn field_selectors_match_tkestack() {
    assert_eq!(
        def("Cluster").field_selectors,
        &["spec.tenantID", "spec.type", "spec.version", "status.locked", "status.version", "status.phase"]
    );
    assert_eq!(
        def("Machine").field_selectors,
        &["spec.tenantID", "spec.clusterName", "spec.type", "spec.ip", "status.locked", "status.phase"]
    );
    assert_eq!(def("ClusterCredential").field_selectors, &["tenantID", "clusterName"]);
    for kind in ["PersistentEvent", "TappController", "CSIOperator", "CronHPA", "Prometheus", "LogCollector"] {
        assert_eq!(
            def(kind).field_selectors,
            &["spec.tenantID", "spec.clusterName", "spec.version", "status.version", "status.phase"],
            "{kind}"
        );
    }
}

#[test]
fn the_catalogue_lists_eleven_add_on_types() {
    let objs = (def("ClusterAddonType").static_objects.unwrap())();
    let mut types: Vec<&str> = objs.iter().filter_map(|o| o["type"].as_str()).collect();
    types.sort();
    assert_eq!(
        types,
        vec![
            "CSIOperator",
            "CronHPA",
            "GPUManager",
            "Helm",
            "IPAM",
            "LBCF",
            "LogCollector",
            "PersistentEvent",
            "Prometheus",
            "TappController",
            "VolumeDecorator"
        ]
    );
    // Every catalogue entry is a served add-on kind.
    let kinds: Vec<&str> = defs().iter().map(|d| d.kind).collect();
    assert!(types.iter().all(|t| kinds.contains(t)));
}

#[test]
fn schemas_carry_field_descriptions() {
    let mut generator = schemars::SchemaGenerator::default();
    for d in defs() {
        let schema = (d.schema)(&mut generator);
        assert!(schema.get("$ref").is_some() || schema.get("properties").is_some(), "{}", d.kind);
    }
    let defs_json = serde_json::to_value(generator.definitions()).unwrap();
    let ip = &defs_json["MachineSpec"]["properties"]["ip"];
    assert!(ip["description"].as_str().unwrap_or("").contains("IP address"), "{ip}");
    let meta = &defs_json["ObjectMeta"]["properties"]["generateName"];
    assert!(meta["description"].as_str().unwrap_or("").contains("prefix"), "{meta}");
    // Flattened add-on specs expose the common fields.
    let pe = &defs_json["PersistentEventSpec"]["properties"];
    assert!(pe.get("clusterName").is_some() && pe.get("persistentBackEnd").is_some(), "{pe}");
}

#[test]
fn creating_a_cluster_through_the_untyped_strategy() {
    let d = def("Cluster");
    let stored = create(
        &d,
        &ctx("t1"),
        json!({"apiVersion": "platform.tkestack.io/v1", "kind": "Cluster", "metadata": {},
               "spec": {"type": "Imported", "version": "1.30.2"},
               "status": {"addresses": [{"type": "Advertise", "host": "10.0.0.1", "port": 6443}], "phase": "Running"}}),
    )
    .unwrap();
    assert_eq!(stored["metadata"]["name"], "cls-x7k2p");
    assert_eq!(stored["spec"]["tenantID"], "t1");
    assert_eq!(stored["spec"]["finalizers"], json!(["cluster"]));
    assert_eq!(stored["spec"]["dnsDomain"], "cluster.local");
    assert_eq!(stored["status"]["phase"], "Initializing");

    let errs = create(&d, &ctx("t1"), json!({"metadata": {"name": "my-cluster"}, "spec": {"type": "Imported"}, "status": {"addresses": [{"type": "Real", "host": "h", "port": 443}]}})).unwrap_err();
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].field, "metadata.name");
    let e = apimachinery::ApiError::invalid(d.group, d.kind, "my-cluster", errs);
    assert_eq!(e.to_status()["reason"], "Invalid");
    assert!(
        e.message.starts_with(
            "Cluster.platform.tkestack.io \"my-cluster\" is invalid: metadata.name: Invalid value: \"my-cluster\""
        ),
        "{}",
        e.message
    );
}

#[test]
fn deleting_a_cluster_keeps_it_terminating_until_finalized() {
    let d = def("Cluster");
    let c = ctx("t1");
    let stored = create(&d, &c, json!({"metadata": {"name": "cls-a1"}, "spec": {"type": "Baremetal", "machines": [{"ip": "10.0.0.1", "password": "cA=="}]}})).unwrap();
    let DeleteDecision::Keep(kept) = d.strategy.prepare_for_delete(&c, &stored) else {
        panic!("a cluster is kept until finalized")
    };
    assert_eq!(kept["status"]["phase"], "Terminating");
    assert_eq!(kept["spec"]["finalizers"], json!(["cluster"]));

    // The controller clears the finalizers through /finalize: the store merges only
    // spec.finalizers and validates the result.
    let mut finalized = kept.clone();
    finalized["spec"]["finalizers"] = json!([]);
    assert!(d.strategy.validate_update(&c, &finalized, &kept).is_empty());

    // A plain update cannot drop the finalizer by omission.
    let mut replaced = kept.clone();
    replaced["spec"].as_object_mut().unwrap().remove("finalizers");
    d.strategy.prepare_for_update(&c, &mut replaced, &kept).unwrap();
    assert_eq!(replaced["spec"]["finalizers"], json!(["cluster"]));
}

#[test]
fn a_machine_with_a_bad_ip_is_invalid_naming_spec_ip() {
    let d = def("Machine");
    let errs = create(
        &d,
        &ctx("t1"),
        json!({"spec": {"clusterName": "cls-a1", "type": "Baremetal", "ip": "300.1.1.1", "password": "cA=="}}),
    )
    .unwrap_err();
    assert_eq!(errs.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(), vec!["spec.ip"]);
    let ok = create(
        &d,
        &ctx("t1"),
        json!({"spec": {"clusterName": "cls-a1", "type": "Baremetal", "ip": "10.1.1.1", "password": "cA=="}}),
    )
    .unwrap();
    assert_eq!(ok["metadata"]["name"], "mc-x7k2p");
    assert_eq!(ok["status"]["phase"], "Initializing");
    assert!(
        matches!(d.strategy.prepare_for_delete(&ctx("t1"), &ok), DeleteDecision::Keep(k) if k["status"]["phase"] == "Terminating")
    );
}

#[test]
fn add_ons_start_initializing_and_are_deleted_at_once() {
    for kind in [
        "CronHPA",
        "GPUManager",
        "Helm",
        "IPAM",
        "LBCF",
        "LogCollector",
        "TappController",
        "VolumeDecorator",
        "CSIOperator",
    ] {
        let d = def(kind);
        let stored = create(&d, &ctx("t1"), json!({"spec": {"clusterName": "cls-a1"}})).unwrap();
        assert_eq!(stored["status"]["phase"], "Initializing", "{kind}");
        assert_eq!(stored["spec"]["tenantID"], "t1");
        assert!(!stored["spec"]["version"].as_str().unwrap_or("").is_empty());
        assert!(
            stored["metadata"]["name"].as_str().unwrap().starts_with(&d.short_names[0][..2]),
            "{kind}: {}",
            stored["metadata"]["name"]
        );
        assert!(matches!(d.strategy.prepare_for_delete(&ctx("t1"), &stored), DeleteDecision::Delete));
        let errs = create(&d, &ctx("t1"), json!({"spec": {}})).unwrap_err();
        assert_eq!(errs[0].field, "spec.clusterName", "{kind}");
    }
}

#[test]
fn unknown_fields_are_reported_for_strict_validation() {
    let d = def("Machine");
    let (_, unknown) = d
        .strategy
        .canonicalize(json!({"metadata": {"name": "mc-1"}, "spec": {"ip": "10.0.0.1", "ipAddress": "x"}, "extra": 1}))
        .unwrap();
    assert_eq!(unknown, vec!["extra", "spec.ipAddress"]);
}
