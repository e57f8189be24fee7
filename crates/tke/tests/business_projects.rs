//! Business projects against the real `tke up` (reference 4.3): a project's members become its
//! owners (the auth view `projects/{id}/users`, and `kubectl auth can-i` as the member), a
//! member dropped from `spec.members` is unbound, a binding that fails makes the project
//! `Failed` and is retried until it works; a deleted project shows `Terminating`, says what it
//! waits for, and takes its chart groups, image namespaces (with their registry namespaces),
//! namespaces and sub-projects with it in that order before it goes; image namespaces and chart
//! groups are mirrored into the registry (a name taken in the tenant fails); a Platform's
//! administrators become the tenant's.

use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};
use testkit::tke::{ExplainFailure, Tke, wait_for};

const WAIT: Duration = Duration::from_secs(60);

fn create_user(t: &Tke, username: &str) {
    let password = base64::engine::general_purpose::STANDARD.encode(format!("{username} password"));
    t.create(&json!({"apiVersion": "auth.tkestack.io/v1", "kind": "LocalIdentity",
        "metadata": {"name": format!("usr-{username}")},
        "spec": {"username": username, "tenantID": "default", "hashedPassword": password}}));
}

fn project(t: &Tke, name: &str) -> Option<Value> {
    t.get_json(&["projects.business.tkestack.io", name])
}

fn phase(obj: &Option<Value>) -> String {
    obj.as_ref().and_then(|o| o["status"]["phase"].as_str()).unwrap_or_default().to_string()
}

/// The users bound in the project (auth view) with the policies each holds there.
fn project_users(t: &Tke, project: &str) -> Vec<(String, String)> {
    let out = t.kubectl(&["get", "--raw", &format!("/apis/auth.tkestack.io/v1/projects/{project}/users")]);
    let list: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let mut users: Vec<(String, String)> = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|u| {
            let s = |k: &str| u["spec"][k].as_str().unwrap_or_default().to_string();
            (s("name"), u["spec"]["extra"]["policies"].as_str().unwrap_or_default().to_string())
        })
        .collect();
    users.sort();
    users
}

/// `kubectl auth can-i` as `user` of tenant default: "yes" or "no" (without the reason).
fn can_i(t: &Tke, user: &str, args: &[&str]) -> String {
    let mut all = vec!["auth", "can-i"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--as", user, "--as-group", "tenant:default"]);
    let out = String::from_utf8_lossy(&t.kubectl(&all).stdout).into_owned();
    out.split_whitespace().next().unwrap_or_default().to_string()
}

fn patch(t: &Tke, args: &[&str], patch: &Value) {
    let p = patch.to_string();
    let mut all = vec!["patch"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--type=merge", "-p", &p]);
    t.kubectl_ok(&all);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_become_owners_and_platform_administrators_the_tenants() {
    let t = Tke::start();
    let _explain = ExplainFailure::new(&t).dumping(&["get", "projects.business.tkestack.io", "-o", "yaml"]);
    for u in ["alice", "bob", "carol"] {
        create_user(&t, u);
    }
    t.create(&json!({"apiVersion": "business.tkestack.io/v1", "kind": "Project",
        "metadata": {"name": "prj-team"},
        "spec": {"tenantID": "default", "displayName": "Team", "members": ["alice", "bob"]}}));

    // Active, with the auth view, both members owners there.
    let p = wait_for("the project to be Active", WAIT, || {
        let p = project(&t, "prj-team");
        (phase(&p) == "Active").then_some(p)
    });
    let p = p.expect("project");
    assert_eq!(p["status"]["locked"], false, "{p}");
    assert!(p["status"]["lastTransitionTime"].is_string(), "{p}");
    let view = t.get_json(&["projects.auth.tkestack.io", "prj-team"]).expect("the auth view");
    assert_eq!(view["tenantID"], "default");
    let users = project_users(&t, "prj-team");
    assert_eq!(users.iter().map(|u| u.0.as_str()).collect::<Vec<_>>(), ["alice", "bob"], "{users:?}");
    assert!(users.iter().all(|u| u.1.contains("pol-default-project-owner")), "{users:?}");
    // The owners may act in the project; carol, no member, may not.
    let in_project = ["create", "imagenamespaces.business.tkestack.io", "-n", "prj-team"];
    wait_for("alice to own the project", WAIT, || (can_i(&t, "alice", &in_project) == "yes").then_some(()));
    assert_eq!(can_i(&t, "bob", &in_project), "yes");
    assert_eq!(can_i(&t, "carol", &in_project), "no");

    // bob leaves the members: unbound, alice stays.
    patch(&t, &["projects.business.tkestack.io", "prj-team"], &json!({"spec": {"members": ["alice"]}}));
    wait_for("bob to be unbound", WAIT, || {
        let users = project_users(&t, "prj-team");
        (users.len() == 1 && users[0].0 == "alice").then_some(())
    });
    wait_for("bob to lose the project", WAIT, || (can_i(&t, "bob", &in_project) == "no").then_some(()));
    assert_eq!(can_i(&t, "alice", &in_project), "yes");
    assert_eq!(phase(&project(&t, "prj-team")), "Active");

    // A member who is no user of the tenant: Failed with the cause, retried until dave exists.
    t.create(&json!({"apiVersion": "business.tkestack.io/v1", "kind": "Project",
        "metadata": {"name": "prj-late"},
        "spec": {"tenantID": "default", "displayName": "Late", "members": ["dave"]}}));
    let failed = wait_for("the project to fail", WAIT, || {
        let p = project(&t, "prj-late");
        (phase(&p) == "Failed").then_some(p)
    })
    .expect("project");
    let message = failed["status"]["message"].as_str().unwrap_or_default();
    assert!(message.starts_with("failed to add business member") && message.contains("dave"), "{failed}");
    create_user(&t, "dave");
    wait_for("the project to recover", WAIT, || (phase(&project(&t, "prj-late")) == "Active").then_some(()));
    assert_eq!(project_users(&t, "prj-late").len(), 1);

    // Platform administrators: carol becomes an administrator of tenant default and may do
    // anything in it; dropped, she no longer is; the bootstrap admin always stays.
    let create_cluster = ["create", "clusters.platform.tkestack.io"];
    assert_eq!(can_i(&t, "carol", &create_cluster), "no");
    t.create(&json!({"apiVersion": "business.tkestack.io/v1", "kind": "Platform",
        "metadata": {"name": "plat-default"},
        "spec": {"tenantID": "default", "administrators": ["carol"]}}));
    let admins = |t: &Tke| -> Vec<String> {
        t.get_json(&["identityproviders.auth.tkestack.io", "default"])
            .and_then(|i| serde_json::from_value(i["spec"]["administrators"].clone()).ok())
            .unwrap_or_default()
    };
    wait_for("carol to be an administrator", WAIT, || (admins(&t) == ["admin", "carol"]).then_some(()));
    wait_for("carol to act as one", WAIT, || (can_i(&t, "carol", &create_cluster) == "yes").then_some(()));
    patch(&t, &["platforms.business.tkestack.io", "plat-default"], &json!({"spec": {"administrators": ["bob"]}}));
    wait_for("carol replaced by bob", WAIT, || (admins(&t) == ["admin", "bob"]).then_some(()));
    wait_for("carol to lose it", WAIT, || (can_i(&t, "carol", &create_cluster) == "no").then_some(()));
    t.kubectl_ok(&["delete", "platforms.business.tkestack.io", "plat-default"]);
    wait_for("only the bootstrap admin", WAIT, || (admins(&t) == ["admin"]).then_some(()));
}

/// The registry namespaces of tenant default named `name` in image paths.
fn registry_namespaces(t: &Tke, name: &str) -> Vec<Value> {
    let list = t.get_json(&["namespaces.registry.tkestack.io"]).unwrap_or_default();
    list["items"].as_array().into_iter().flatten().filter(|n| n["spec"]["name"] == name).cloned().collect()
}

fn registry_chart_groups(t: &Tke, name: &str) -> Vec<Value> {
    let list = t.get_json(&["chartgroups.registry.tkestack.io"]).unwrap_or_default();
    list["items"].as_array().into_iter().flatten().filter(|n| n["spec"]["name"] == name).cloned().collect()
}

fn exists(t: &Tke, args: &[&str]) -> bool {
    t.get_json(args).is_some()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_project_takes_what_it_holds_in_order() {
    let t = Tke::start();
    let _explain = ExplainFailure::new(&t).dumping(&["get", "projects.business.tkestack.io", "-o", "yaml"]);
    let sim = kubesim::SimCluster::start(kubesim::SimOptions::default()).await.expect("simulated cluster");
    t.import_cluster("cls-a", sim.url(), sim.ca_pem().as_bytes(), sim.admin_token());
    create_user(&t, "alice");
    let quota = |cpu: &str| json!({"cls-a": {"hard": {"cpu": cpu}}});
    t.create(&json!({"apiVersion": "business.tkestack.io/v1", "kind": "Project",
        "metadata": {"name": "prj-del"},
        "spec": {"tenantID": "default", "displayName": "Doomed", "members": ["alice"], "clusters": quota("4")}}));
    wait_for("the project to be Active", WAIT, || (phase(&project(&t, "prj-del")) == "Active").then_some(()));
    t.create(&json!({"apiVersion": "business.tkestack.io/v1", "kind": "Project",
        "metadata": {"name": "prj-del-child"},
        "spec": {"tenantID": "default", "displayName": "Child", "parentProjectName": "prj-del", "clusters": quota("1")}}));
    t.create(&json!({"apiVersion": "business.tkestack.io/v1", "kind": "ImageNamespace",
        "metadata": {"name": "images", "namespace": "prj-del"},
        "spec": {"name": "doomed-images", "displayName": "Images"}}));
    t.create(&json!({"apiVersion": "business.tkestack.io/v1", "kind": "ChartGroup",
        "metadata": {"name": "charts", "namespace": "prj-del"},
        "spec": {"name": "doomed-charts", "displayName": "Charts"}}));
    // The namespace controller clears `namespace` once the cluster's namespace is gone; the
    // extra entry `test-hold` keeps the object until this test lets it go, so that what the
    // project waits for can be seen, with or without that controller.
    t.create(&json!({"apiVersion": "business.tkestack.io/v1", "kind": "Namespace",
        "metadata": {"namespace": "prj-del"},
        "spec": {"clusterName": "cls-a", "namespace": "web", "hard": {"cpu": "1"}, "finalizers": ["test-hold"]}}));

    // Mirrored into the registry, then Available.
    let item_phase =
        |kind: &str, name: &str| phase(&t.get_json(&[&format!("{kind}.business.tkestack.io"), "-n", "prj-del", name]));
    wait_for("the image namespace to be Available", WAIT, || {
        (item_phase("imagenamespaces", "images") == "Available").then_some(())
    });
    wait_for("the chart group to be Available", WAIT, || {
        (item_phase("chartgroups", "charts") == "Available").then_some(())
    });
    let rns = registry_namespaces(&t, "doomed-images");
    assert_eq!(rns.len(), 1, "{rns:?}");
    assert_eq!(
        (rns[0]["spec"]["tenantID"].as_str(), rns[0]["spec"]["displayName"].as_str()),
        (Some("default"), Some("Images"))
    );
    let out = t.kubectl_ok(&["get", "namespaces.registry.tkestack.io"]);
    assert!(out.contains(rns[0]["metadata"]["name"].as_str().unwrap_or("?")), "{out}");
    // The display name follows the business object's.
    patch(
        &t,
        &["imagenamespaces.business.tkestack.io", "-n", "prj-del", "images"],
        &json!({"spec": {"displayName": "Renamed"}}),
    );
    wait_for("the registry display name to follow", WAIT, || {
        let rns = registry_namespaces(&t, "doomed-images");
        (rns.len() == 1 && rns[0]["spec"]["displayName"] == "Renamed").then_some(())
    });
    let rcg = registry_chart_groups(&t, "doomed-charts");
    assert_eq!(rcg.len(), 1, "{rcg:?}");
    assert_eq!(
        (rcg[0]["spec"]["visibility"].as_str(), rcg[0]["spec"]["projects"].clone()),
        (Some("Project"), json!(["prj-del"]))
    );

    // A name the tenant already uses: Failed, saying so.
    t.create(&json!({"apiVersion": "registry.tkestack.io/v1", "kind": "Namespace",
        "metadata": {"name": "rns-by-hand"}, "spec": {"name": "taken", "tenantID": "default"}}));
    t.create(&json!({"apiVersion": "business.tkestack.io/v1", "kind": "ImageNamespace",
        "metadata": {"name": "clash", "namespace": "prj-del"}, "spec": {"name": "taken"}}));
    let clash = wait_for("the clash to fail", WAIT, || {
        t.get_json(&["imagenamespaces.business.tkestack.io", "-n", "prj-del", "clash"])
            .filter(|o| o["status"]["phase"] == "Failed")
    });
    assert!(clash["status"]["message"].as_str().unwrap_or_default().contains("already taken"), "{clash}");
    assert_eq!(registry_namespaces(&t, "taken").len(), 1, "the other object is left alone");

    // Deleted: Terminating; chart groups and image namespaces go first, the registry's objects
    // with them; then it waits for the namespace, while the sub-project is still there.
    t.kubectl_ok(&["delete", "projects.business.tkestack.io", "prj-del", "--wait=false"]);
    let waiting = wait_for("the project to wait for its namespace", WAIT, || {
        let p = project(&t, "prj-del")?;
        let message = p["status"]["message"].as_str().unwrap_or_default().to_string();
        (message == "waiting for 1 namespace to be deleted: cls-a-web").then_some(p)
    });
    assert_eq!(waiting["status"]["phase"], "Terminating", "{waiting}");
    let out = t.kubectl_ok(&["get", "projects.business.tkestack.io", "prj-del"]);
    assert!(out.contains("Terminating"), "{out}");
    for (kind, name) in [("chartgroups", "charts"), ("imagenamespaces", "images"), ("imagenamespaces", "clash")] {
        assert!(
            !exists(&t, &[&format!("{kind}.business.tkestack.io"), "-n", "prj-del", name]),
            "{kind} {name} is gone"
        );
    }
    assert!(registry_namespaces(&t, "doomed-images").is_empty(), "the registry namespace went with it");
    assert!(registry_chart_groups(&t, "doomed-charts").is_empty(), "the registry chart group went with it");
    assert_eq!(registry_namespaces(&t, "taken").len(), 1, "another's registry namespace stays");
    let child = project(&t, "prj-del-child");
    assert!(child.is_some() && phase(&child) != "Terminating", "sub-projects wait for the namespaces: {child:?}");
    assert!(exists(&t, &["projects.auth.tkestack.io", "prj-del"]), "members are removed last");

    // The namespace goes (its controller's part done by hand if it has not run): then the
    // sub-project, then the members and the auth view, then the project.
    let released = json!({"apiVersion": "business.tkestack.io/v1", "kind": "Namespace",
        "metadata": {"name": "cls-a-web", "namespace": "prj-del"}, "spec": {"finalizers": []}});
    let out = t.kubectl_with(
        &[
            "replace",
            "--raw",
            "/apis/business.tkestack.io/v1/namespaces/prj-del/namespaces/cls-a-web/finalize",
            "-f",
            "-",
        ],
        &[],
        Some(&released.to_string()),
    );
    assert!(out.status.success(), "finalize: {}", String::from_utf8_lossy(&out.stderr));
    wait_for("the project to go", WAIT, || project(&t, "prj-del").is_none().then_some(()));
    assert!(project(&t, "prj-del-child").is_none(), "the sub-project went first");
    assert!(!exists(&t, &["namespaces.business.tkestack.io", "-n", "prj-del", "cls-a-web"]));
    assert!(!exists(&t, &["projects.auth.tkestack.io", "prj-del"]), "the auth view went");
    // Deleted bindings go once the auth controller has removed their rows.
    wait_for("no binding left in the project", WAIT, || {
        let bindings = t.get_json(&["projectpolicybindings.auth.tkestack.io"])?;
        let left = bindings["items"].as_array()?.iter().filter(|b| b["spec"]["projectID"] == "prj-del").count();
        (left == 0).then_some(())
    });
}
