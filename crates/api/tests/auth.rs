//! The policy model of `auth.tkestack.io/v1` and the `authz.tkestack.io/v1` group on the real
//! generic object store (embedded backend): what tenants and administrators see from create,
//! the status and finalize subresources, delete and finalization, and tenant isolation.

use std::sync::Arc;

use apimachinery::{FieldSelector, error::Reason};
use apiserver::{
    Context, ResourceDef, UserInfo,
    store::{DeleteOptions, ListOptions, ResourceStore, WriteOptions},
};
use serde_json::{Value, json};
use storage::{Store, embedded::EmbeddedStore};

struct Fixture {
    _dir: tempfile::TempDir,
    backend: Arc<dyn Store>,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let backend: Arc<dyn Store> = Arc::new(EmbeddedStore::open(dir.path()).expect("open store"));
        Fixture { _dir: dir, backend }
    }

    async fn store(&self, defs: Vec<ResourceDef>, kind: &str) -> Arc<ResourceStore> {
        let def = defs.into_iter().find(|d| d.kind == kind).unwrap_or_else(|| panic!("no {kind}"));
        ResourceStore::new(def, self.backend.clone(), "/registry").await.expect("resource store")
    }
}

fn user(tenant: &str, namespace: Option<&str>) -> Context {
    Context {
        user: UserInfo {
            name: format!("user-{tenant}"),
            groups: vec![format!("tenant:{tenant}")],
            ..Default::default()
        },
        namespace: namespace.map(String::from),
    }
}

fn admin(namespace: Option<&str>) -> Context {
    Context {
        user: UserInfo { name: "admin".into(), groups: vec!["system:masters".into()], ..Default::default() },
        namespace: namespace.map(String::from),
    }
}

fn w() -> WriteOptions {
    WriteOptions::default()
}

fn names(list: &apiserver::store::ListResult) -> Vec<String> {
    list.items
        .iter()
        .map(|i| i.decode().expect("decode")["metadata"]["name"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn policy(display: &str) -> Value {
    json!({"apiVersion": "auth.tkestack.io/v1", "kind": "Policy", "spec": {"displayName": display, "category": "cluster",
        "statement": {"actions": ["*Cluster*"], "resources": ["*"], "effect": "allow"}}})
}

#[tokio::test]
async fn a_policy_lives_until_its_controller_finalizes_it() {
    let f = Fixture::new();
    let policies = f.store(api::auth::resources(), "Policy").await;
    let t1 = user("t1", None);
    let created = policies.create(&t1, policy("Cluster admin"), &w()).await.expect("create").object;
    let name = created["metadata"]["name"].as_str().expect("name").to_string();
    assert!(name.starts_with("pol-"), "{name}");
    assert_eq!(
        (
            &created["spec"]["tenantID"],
            &created["spec"]["username"],
            &created["spec"]["type"],
            &created["status"]["phase"]
        ),
        (&json!("t1"), &json!("user-t1"), &json!("custom"), &json!("Active"))
    );

    // The binding subresources write status; an update of the object cannot.
    let mut bound = created.clone();
    bound["status"]["users"] = json!([{"id": "usr-b", "name": "bob"}]);
    let bound = policies.update(&admin(None), &name, Some("status"), bound, &w()).await.expect("status").object;
    assert_eq!(bound["status"]["users"][0]["name"], "bob");
    let mut sneaky = bound.clone();
    sneaky["status"]["users"] = json!([]);
    sneaky["spec"]["description"] = json!("edited");
    let edited = policies.update(&t1, &name, None, sneaky, &w()).await.expect("update").object;
    assert_eq!(
        (&edited["spec"]["description"], edited["status"]["users"].as_array().map(Vec::len)),
        (&json!("edited"), Some(1))
    );

    // Deleting keeps it Terminating; clearing the finalizers through /finalize removes it.
    let deleted = policies.delete(&t1, &name, &DeleteOptions::default()).await.expect("delete");
    assert!(!deleted.removed);
    assert_eq!(deleted.object["status"]["phase"], "Terminating");
    let mut fin = policies.get(&t1, &name, None).await.expect("still there");
    fin["spec"]["finalizers"] = json!([]);
    policies.update(&admin(None), &name, Some("finalize"), fin, &w()).await.expect("finalize");
    let gone = policies.get(&t1, &name, None).await.expect_err("removed");
    assert_eq!(gone.reason, Reason::NotFound);
}

#[tokio::test]
async fn tenants_see_only_their_policies_and_cannot_write_the_catalogue() {
    let f = Fixture::new();
    let policies = f.store(api::auth::resources(), "Policy").await;
    let (t1, t2) = (user("t1", None), user("t2", None));
    let a = policies.create(&t1, policy("A"), &w()).await.expect("t1").object;
    policies.create(&t2, policy("B"), &w()).await.expect("t2");
    let mut default = policy("ReadOnlyAccess");
    default["spec"]["type"] = json!("default");
    default["spec"]["tenantID"] = json!("t2");
    let e = policies.create(&t1, default.clone(), &w()).await.expect_err("tenant users do not write the catalogue");
    assert_eq!(e.reason, Reason::Forbidden);
    let catalogue = policies.create(&admin(None), default, &w()).await.expect("admin").object;
    assert_eq!((&catalogue["spec"]["tenantID"], &catalogue["spec"]["type"]), (&json!("t2"), &json!("default")));

    let listed = policies.list(&t1, &ListOptions::default()).await.expect("list");
    assert_eq!(names(&listed), vec![a["metadata"]["name"].as_str().unwrap_or_default()]);
    assert_eq!(policies.list(&admin(None), &ListOptions::default()).await.expect("list").items.len(), 3);
    let by_type = ListOptions {
        field_selector: FieldSelector::parse("spec.type=default").expect("selector"),
        ..Default::default()
    };
    assert_eq!(policies.list(&admin(None), &by_type).await.expect("list").items.len(), 1);
    let other = catalogue["metadata"]["name"].as_str().unwrap_or_default();
    assert_eq!(policies.get(&t1, other, None).await.expect_err("hidden").reason, Reason::NotFound);
}

#[tokio::test]
async fn rules_are_written_by_administrators_and_read_per_tenant() {
    let f = Fixture::new();
    let rules = f.store(api::auth::resources(), "Rule").await;
    let row = json!({"spec": {"ptype": "g", "v0": "t1##user##bob", "v1": "pol-t1-administrator", "v2": "*", "tenantID": "t1"}});
    let e = rules.create(&user("t1", None), row.clone(), &w()).await.expect_err("tenant users cannot write rows");
    assert_eq!(e.reason, Reason::Forbidden);
    rules.create(&admin(None), row, &w()).await.expect("admin");
    let bad = json!({"spec": {"ptype": "p", "v0": "pol-a", "v1": "*", "v2": "*", "v3": "*"}});
    assert_eq!(rules.create(&admin(None), bad, &w()).await.expect_err("arity").reason, Reason::Invalid);
    assert_eq!(rules.list(&user("t1", None), &ListOptions::default()).await.expect("list").items.len(), 1);
    assert_eq!(rules.list(&user("t2", None), &ListOptions::default()).await.expect("list").items.len(), 0);
}

#[tokio::test]
async fn a_project_policy_binding_is_named_after_project_and_policy() {
    let f = Fixture::new();
    let bindings = f.store(api::auth::resources(), "ProjectPolicyBinding").await;
    let t1 = user("t1", None);
    let b = json!({"spec": {"projectID": "prj-a", "policyID": "pol-t1-project-member", "users": [{"id": "usr-b", "name": "bob"}]}});
    let created = bindings.create(&t1, b.clone(), &w()).await.expect("create").object;
    assert_eq!(created["metadata"]["name"], "prj-a-pol-t1-project-member");
    assert_eq!(created["status"]["phase"], "Active");
    assert_eq!(bindings.create(&t1, b, &w()).await.expect_err("once per project").reason, Reason::AlreadyExists);
    let mut moved = created.clone();
    moved["spec"]["projectID"] = json!("prj-b");
    assert_eq!(
        bindings.update(&t1, "prj-a-pol-t1-project-member", None, moved, &w()).await.expect_err("immutable").reason,
        Reason::Invalid
    );
}

#[tokio::test]
async fn the_auth_view_of_projects_is_read_only_for_tenants() {
    let f = Fixture::new();
    let projects = f.store(api::auth::resources(), "Project").await;
    let p = json!({"metadata": {"name": "prj-a"}, "members": {"usr-b": "bob"}, "groups": null});
    assert_eq!(
        projects.create(&user("t1", None), p.clone(), &w()).await.expect_err("read-only").reason,
        Reason::Forbidden
    );
    let mut for_t1 = p;
    for_t1["tenantID"] = json!("t1");
    projects.create(&admin(None), for_t1, &w()).await.expect("admin");
    let got = projects.get(&user("t1", None), "prj-a", None).await.expect("readable by its tenant");
    assert_eq!(got["members"]["usr-b"], "bob");
    assert_eq!(projects.get(&user("t2", None), "prj-a", None).await.expect_err("hidden").reason, Reason::NotFound);
}

#[tokio::test]
async fn authz_objects_live_in_their_tenants_namespace() {
    let f = Fixture::new();
    let policies = f.store(api::authz::resources(), "Policy").await;
    let view = json!({"displayName": "view", "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]});
    let created = policies.create(&user("t1", Some("t1")), view.clone(), &w()).await.expect("own namespace").object;
    assert_eq!((&created["tenantID"], &created["scope"]), (&json!("t1"), &json!("MultiCluster")));
    let e = policies.create(&user("t1", Some("t2")), view.clone(), &w()).await.expect_err("another tenant's namespace");
    assert_eq!(e.reason, Reason::Forbidden);
    let template = policies.create(&admin(Some("default")), view, &w()).await.expect("admin").object;
    assert_eq!(template["tenantID"], "default");
}

#[tokio::test]
async fn a_multi_cluster_role_binding_waits_for_its_metadata_finalizer() {
    let f = Fixture::new();
    let bindings = f.store(api::authz::resources(), "MultiClusterRoleBinding").await;
    let t1 = user("t1", Some("t1"));
    let b = json!({"spec": {"username": "bob", "roleName": "rol-view", "clusters": ["*"]}});
    let created = bindings.create(&t1, b, &w()).await.expect("create").object;
    let name = "mcrb-bob-rol-view";
    assert_eq!(created["metadata"]["name"], name);
    assert_eq!(created["metadata"]["finalizers"], json!(["rolebinding"]));
    let deleted = bindings.delete(&t1, name, &DeleteOptions::default()).await.expect("delete");
    assert!(!deleted.removed);
    assert_eq!(deleted.object["status"]["phase"], "Terminating");
    // The controller, done with the clusters, removes its finalizer with a plain update.
    let mut done = bindings.get(&admin(Some("t1")), name, None).await.expect("kept");
    done["metadata"]["finalizers"] = json!([]);
    bindings.update(&admin(Some("t1")), name, None, done, &w()).await.expect("update");
    assert_eq!(bindings.get(&t1, name, None).await.expect_err("removed").reason, Reason::NotFound);
}
