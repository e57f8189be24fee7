//! The `registry.tkestack.io/v1` resource definitions as the generic server sees them: names,
//! scopes, subresources, selectable fields, schemas, and the untyped strategies driven the way
//! the object store drives them (canonicalize, prepare, validate; update; delete decision).

use api::registry;
use apiserver::{Context, DeleteDecision, ResourceDef, UserInfo};
use serde_json::{Value, json};

fn def(kind: &str) -> ResourceDef {
    registry::resources().into_iter().find(|d| d.kind == kind).unwrap_or_else(|| panic!("no {kind}"))
}

fn ctx(tenant: &str) -> Context {
    Context {
        user: UserInfo { name: "alice".into(), groups: vec![format!("tenant:{tenant}")], ..Default::default() },
        namespace: None,
    }
}

/// The store's create path without storage: canonicalize, prepare, name from generateName,
/// validate.
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
fn kinds_names_and_scopes_match_tkestack() {
    let got: Vec<(&str, &str, &[&str], bool)> =
        registry::resources().iter().map(|d| (d.kind, d.plural, d.short_names, d.namespaced)).collect();
    let expected: Vec<(&str, &str, &[&str], bool)> = vec![
        ("Namespace", "namespaces", &["rns"], false),
        ("Repository", "repositories", &["repo"], true),
        ("ChartGroup", "chartgroups", &[], false),
        ("Chart", "charts", &["chart"], true),
        ("ConfigMap", "configmaps", &["cm"], false),
    ];
    assert_eq!(got, expected);
    for d in registry::resources() {
        assert_eq!(d.api_version(), "registry.tkestack.io/v1");
        assert!(d.columns.is_empty(), "{}: TKEStack prints the default table", d.kind);
    }
    assert!(def("Namespace").subresources.status && !def("Namespace").subresources.finalize);
    assert!(def("ChartGroup").subresources.status && def("ChartGroup").subresources.finalize);
    assert!(def("Chart").subresources.finalize);
    for kind in ["Namespace", "Repository", "ChartGroup", "Chart"] {
        assert_eq!(def(kind).tenant_field, Some("spec.tenantID"), "{kind}");
        assert!(def(kind).field_selectors.starts_with(&["spec.tenantID", "spec.name"]), "{kind}");
    }
    assert!(def("Repository").field_selectors.contains(&"spec.namespaceName"));
    assert!(def("Chart").field_selectors.contains(&"spec.chartGroupName"));
    assert!(def("ChartGroup").field_selectors.contains(&"spec.type"));
}

#[test]
fn a_namespace_gets_its_tenant_a_generated_name_and_private_visibility() {
    let ns = create(
        &def("Namespace"),
        &ctx("t1"),
        json!({"apiVersion": "registry.tkestack.io/v1", "kind": "Namespace", "spec": {"name": "team"}}),
    )
    .expect("valid");
    assert_eq!(ns["metadata"]["name"], "rns-x7k2p");
    assert_eq!(ns["spec"], json!({"name": "team", "tenantID": "t1", "visibility": "Private"}));
    assert_eq!(ns["status"], json!({"repoCount": 0}));
    let errs = create(&def("Namespace"), &ctx("t1"), json!({"spec": {"name": "Team", "visibility": "Everyone"}}))
        .expect_err("invalid");
    let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, vec!["spec.name", "spec.visibility"]);
}

#[test]
fn a_repository_keeps_tags_and_pull_count_in_status() {
    let obj = json!({"metadata": {"namespace": "rns-x7k2p"}, "spec": {"name": "team/app", "namespaceName": "dev"},
        "status": {"pullCount": 3, "tags": [{"name": "v1", "digest": "sha256:00", "timeCreated": "2024-01-01T00:00:00Z"}]}});
    let repo = create(&def("Repository"), &ctx("t1"), obj).expect("valid");
    assert_eq!(repo["status"]["tags"][0]["name"], "v1");
    assert_eq!(repo["spec"]["visibility"], "Private");
    let mut changed = repo.clone();
    changed["spec"]["namespaceName"] = json!("prod");
    let d = def("Repository");
    d.strategy.prepare_for_update(&ctx("t1"), &mut changed, &repo).expect("prepares");
    let errs = d.strategy.validate_update(&ctx("t1"), &changed, &repo);
    assert_eq!(errs.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(), vec!["spec.namespaceName"]);
}

#[test]
fn deleting_a_chart_group_keeps_it_terminating_until_finalized() {
    let d = def("ChartGroup");
    let g = create(&d, &ctx("t1"), json!({"spec": {"name": "charts"}})).expect("valid");
    assert_eq!(g["spec"]["finalizers"], json!(["chartgroup"]));
    assert_eq!(g["status"]["phase"], "Pending");
    match d.strategy.prepare_for_delete(&ctx("t1"), &g) {
        DeleteDecision::Keep(kept) => assert_eq!(kept["status"]["phase"], "Terminating"),
        DeleteDecision::Delete => panic!("a chart group is kept until its charts are removed"),
    }
    let chart = create(&def("Chart"), &ctx("t1"), json!({"spec": {"name": "nginx", "chartGroupName": "charts"},
        "status": {"versions": [{"version": "1.0.0", "chartSize": 1024, "timeCreated": "2024-01-01T00:00:00Z", "appVersion": "1.25"}]}}))
    .expect("valid");
    assert_eq!(chart["status"]["versions"][0]["appVersion"], "1.25");
}

#[test]
fn schemas_document_fields() {
    let mut generator = schemars::SchemaGenerator::default();
    for d in registry::resources() {
        let schema = (d.schema)(&mut generator);
        assert!(schema.get("$ref").is_some() || schema.get("properties").is_some(), "{}", d.kind);
    }
    let defs = serde_json::to_value(generator.definitions()).expect("json");
    let tags = &defs["RepositoryStatus"]["properties"]["tags"];
    assert!(tags.get("description").is_some(), "{tags}");
}
