//! The real kubectl (v1.32) against the real `tke up`, on the embedded store and on etcd.

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    sync::mpsc,
    time::Duration,
};

use testkit::tke::{Storage, Tke, tke_binary};

const CLUSTER: &str = r#"
apiVersion: platform.tkestack.io/v1
kind: Cluster
metadata:
  name: cls-demo
  labels:
    team: infra
spec:
  type: Imported
  version: 1.32.0
  clusterCIDR: 10.244.0.0/16
  serviceCIDR: 10.96.0.0/12
status:
  addresses:
  - type: Advertise
    host: 10.0.0.10
    port: 6443
"#;

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}
fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The API machinery on its own: without the cluster controllers, a deleted cluster stays
/// Terminating until a client clears its finalizers, which the suite does through `finalize`.
fn start(storage: &Storage) -> Tke {
    Tke::start_with(tke_binary(), storage.clone(), &["--platform-controllers", "false"])
}

/// Everything a user does with kubectl, against one running server.
fn kubectl_suite(t: &Tke) {
    // Discovery.
    let out = t.kubectl_ok(&["api-resources", "--api-group=platform.tkestack.io"]);
    let row = out.lines().find(|l| l.starts_with("clusters ")).unwrap_or_else(|| panic!("no clusters row in:\n{out}"));
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cols, ["clusters", "cls", "platform.tkestack.io/v1", "false", "Cluster"], "{out}");
    assert!(out.lines().any(|l| l.starts_with("machines ") && l.contains(" mc ")), "{out}");

    // The static add-on catalogue.
    let out = t.kubectl_ok(&["get", "clusteraddontypes", "-o", "name"]);
    assert_eq!(out.lines().count(), 11, "{out}");

    // Create with apply, read back as a table, YAML, wide.
    let out = t.kubectl_with(&["apply", "-f", "-"], &[], Some(CLUSTER));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("cluster.platform.tkestack.io/cls-demo created"), "{}", stdout(&out));
    let out = t.kubectl_ok(&["get", "cls"]);
    let header: Vec<&str> = out.lines().next().unwrap_or("").split_whitespace().collect();
    assert_eq!(header, ["NAME", "TYPE", "VERSION", "STATUS", "AGE"], "{out}");
    assert!(
        out.lines().any(|l| l.starts_with("cls-demo") && l.contains("Imported") && l.contains("Initializing")),
        "{out}"
    );
    let yaml = t.kubectl_ok(&["get", "cls", "cls-demo", "-o", "yaml"]);
    for want in
        ["tenantID: default", "dnsDomain: cluster.local", "- cluster", "resourceVersion:", "uid:", "creationTimestamp:"]
    {
        assert!(yaml.contains(want), "missing {want:?} in\n{yaml}");
    }
    assert!(t.kubectl_ok(&["get", "cls", "-o", "wide"]).contains("cls-demo"));

    // Selectors.
    assert!(t.kubectl_ok(&["get", "cls", "-l", "team=infra", "-o", "name"]).contains("cls-demo"));
    assert_eq!(t.kubectl_ok(&["get", "cls", "-l", "team=other", "-o", "name"]).trim(), "");
    assert!(t.kubectl_ok(&["get", "cls", "--field-selector", "spec.type=Imported", "-o", "name"]).contains("cls-demo"));
    assert_eq!(t.kubectl_ok(&["get", "cls", "--field-selector", "spec.type=Baremetal", "-o", "name"]).trim(), "");
    let bad = t.kubectl(&["get", "cls", "--field-selector", "spec.nothing=x"]);
    assert!(!bad.status.success() && stderr(&bad).contains("field label not supported"), "{}", stderr(&bad));

    // Watch: events for changes made while watching.
    let mut watch = Command::new("kubectl")
        .env("KUBECONFIG", t.kubeconfig())
        .args(["get", "cls", "-w", "--output-watch-events", "--no-headers"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kubectl watch");
    let (tx, rx) = mpsc::channel();
    let out = watch.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let first = rx.recv_timeout(Duration::from_secs(30)).expect("initial watch event");
    assert!(first.starts_with("ADDED") && first.contains("cls-demo"), "{first}");

    // Patches: merge, JSON, status subresource.
    t.kubectl_ok(&["patch", "cls", "cls-demo", "--type", "merge", "-p", r#"{"spec":{"displayName":"Demo"}}"#]);
    let modified = rx.recv_timeout(Duration::from_secs(30)).expect("watch event for the patch");
    assert!(modified.starts_with("MODIFIED") && modified.contains("cls-demo"), "{modified}");
    t.kubectl_ok(&[
        "patch",
        "cls",
        "cls-demo",
        "--type",
        "json",
        "-p",
        r#"[{"op":"add","path":"/metadata/labels/tier","value":"gold"}]"#,
    ]);
    t.kubectl_ok(&[
        "patch",
        "cls",
        "cls-demo",
        "--subresource",
        "status",
        "--type",
        "merge",
        "-p",
        r#"{"status":{"phase":"Running","version":"1.32.0"}}"#,
    ]);
    let out = t.kubectl_ok(&["get", "cls", "cls-demo", "--no-headers"]);
    assert!(out.contains("Running") && out.contains("1.32.0"), "{out}");
    // The main resource cannot change status.
    t.kubectl_ok(&["patch", "cls", "cls-demo", "--type", "merge", "-p", r#"{"status":{"phase":"Failed"}}"#]);
    assert!(t.kubectl_ok(&["get", "cls", "cls-demo", "-o", "jsonpath={.status.phase}"]).contains("Running"));
    let _ = watch.kill();
    let _ = watch.wait();

    // Describe and explain.
    let out = t.kubectl_ok(&["describe", "cls", "cls-demo"]);
    assert!(out.contains("Name:") && out.contains("cls-demo") && out.contains("Imported"), "{out}");
    let out = t.kubectl_ok(&["explain", "cls.spec"]);
    assert!(out.contains("KIND:") && out.contains("Cluster") && out.contains("clusterCIDR"), "{out}");

    // Client-side apply of a change, then server-side apply by another manager.
    let changed = CLUSTER.replace("team: infra", "team: platform");
    let out = t.kubectl_with(&["apply", "-f", "-"], &[], Some(&changed));
    assert!(stdout(&out).contains("configured"), "{}{}", stdout(&out), stderr(&out));
    assert!(t.kubectl_ok(&["get", "cls", "-l", "team=platform", "-o", "name"]).contains("cls-demo"));
    let ssa = "apiVersion: platform.tkestack.io/v1\nkind: Cluster\nmetadata:\n  name: cls-ssa\nspec:\n  type: Imported\n  displayName: Applied\nstatus:\n  addresses:\n  - {type: Advertise, host: 10.0.0.11, port: 6443}\n";
    let out = t.kubectl_with(&["apply", "--server-side", "--field-manager", "tour", "-f", "-"], &[], Some(ssa));
    assert!(out.status.success() && stdout(&out).contains("serverside-applied"), "{}{}", stdout(&out), stderr(&out));
    let yaml = t.kubectl_ok(&["get", "cls", "cls-ssa", "-o", "yaml", "--show-managed-fields"]);
    assert!(yaml.contains("manager: tour") && yaml.contains("operation: Apply"), "{yaml}");

    // Edit through an editor that rewrites the displayName.
    let out = t.kubectl_with(
        &["edit", "cls", "cls-ssa"],
        &[("KUBE_EDITOR", "sed -i s/displayName:.Applied/displayName:\\ Edited/")],
        None,
    );
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert_eq!(t.kubectl_ok(&["get", "cls", "cls-ssa", "-o", "jsonpath={.spec.displayName}"]), "Edited");

    // Validation errors name the field.
    let machine = r#"{"apiVersion":"platform.tkestack.io/v1","kind":"Machine","metadata":{"name":"mc-bad"},"spec":{"clusterName":"cls-demo","type":"Baremetal","ip":"10.0.0.300"}}"#;
    let out = t.kubectl_with(&["create", "-f", "-"], &[], Some(machine));
    assert!(!out.status.success() && stderr(&out).contains("spec.ip"), "{}", stderr(&out));
    let out = t.kubectl_with(&["create", "-f", "-"], &[], Some(&CLUSTER.replace("cls-demo", "Bad_Name")));
    assert!(!out.status.success() && stderr(&out).contains("metadata.name"), "{}", stderr(&out));

    // Delete: the cluster stays Terminating until its finalizers are cleared through finalize.
    t.kubectl_ok(&["delete", "cls", "cls-demo", "--wait=false"]);
    assert!(t.kubectl_ok(&["get", "cls", "cls-demo", "--no-headers"]).contains("Terminating"));
    let mut obj: serde_json::Value =
        serde_json::from_str(&t.kubectl_ok(&["get", "cls", "cls-demo", "-o", "json"])).expect("json");
    obj["spec"]["finalizers"] = serde_json::json!([]);
    let body = serde_json::to_string(&obj).expect("json");
    let out = t.kubectl_with(
        &["replace", "--raw", "/apis/platform.tkestack.io/v1/clusters/cls-demo/finalize", "-f", "-"],
        &[],
        Some(&body),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = t.kubectl(&["get", "cls", "cls-demo"]);
    assert!(!out.status.success() && stderr(&out).contains("NotFound"), "{}{}", stdout(&out), stderr(&out));
    t.kubectl_ok(&["delete", "cls", "cls-ssa", "--wait=false"]);
}

#[test]
fn kubectl_against_embedded_store() {
    let mut t = start(&Storage::Embedded);
    kubectl_suite(&t);
    // Objects survive a clean restart and a crash.
    t.kubectl_with(&["apply", "-f", "-"], &[], Some(&CLUSTER.replace("cls-demo", "cls-durable")));
    t.restart();
    assert!(t.kubectl_ok(&["get", "cls", "-o", "name"]).contains("cls-durable"));
    t.kubectl_with(&["apply", "-f", "-"], &[], Some(&CLUSTER.replace("cls-demo", "cls-crash")));
    t.kill9();
    t.start_again();
    let names = t.kubectl_ok(&["get", "cls", "-o", "name"]);
    assert!(names.contains("cls-crash") && names.contains("cls-durable"), "{names}");
}

#[test]
fn kubectl_against_etcd() {
    let etcd = testkit::etcd::Etcd::start();
    let t = start(&Storage::Etcd(etcd.endpoints()));
    kubectl_suite(&t);
}

#[test]
fn unauthenticated_requests_are_refused() {
    let t = start(&Storage::Embedded);
    // A kubeconfig with the server and its CA but no usable credentials.
    let admin: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(t.kubeconfig()).expect("kubeconfig")).expect("yaml");
    let mut anon = admin.clone();
    // Basic credentials the server does not accept: kubectl sends them instead of prompting,
    // and the request arrives with no identity.
    anon["users"][0]["user"] = serde_yaml_ng::from_str("{username: nobody, password: ''}").expect("yaml");
    let path = t.data_dir().join("anonymous.kubeconfig");
    std::fs::write(&path, serde_yaml_ng::to_string(&anon).expect("yaml")).expect("write");
    let out = t.kubectl(&["--kubeconfig", path.to_str().expect("utf-8"), "get", "cls"]);
    assert!(!out.status.success() && stderr(&out).contains("Unauthorized"), "{}{}", stdout(&out), stderr(&out));
    let out = t.kubectl(&["--kubeconfig", path.to_str().expect("utf-8"), "get", "--raw", "/readyz"]);
    assert_eq!(stdout(&out).trim(), "ok", "health stays open, as in Kubernetes: {}", stderr(&out));
}

#[test]
fn kubectl_as_other_users_sees_their_tenant_only() {
    let tokens = tempfile_dir();
    let file = tokens.join("tokens.csv");
    std::fs::write(&file, "tok-carol,carol,u3,\"tenant:t3\"\n").expect("token file");
    let t = Tke::start_with(
        testkit::tke::tke_binary(),
        Storage::Embedded,
        &["--token-auth-file", file.to_str().expect("utf-8")],
    );
    // Tenants t1, t2 and t3, administered by alice, bob and carol: inside their tenant they may
    // do anything, and they see nothing of the others.
    for (tenant, admin) in [("t1", "alice"), ("t2", "bob"), ("t3", "carol")] {
        let idp = format!(
            r#"{{"apiVersion": "auth.tkestack.io/v1", "kind": "IdentityProvider", "metadata": {{"name": "{tenant}"}},
                "spec": {{"name": "{tenant}", "type": "tke", "administrators": ["{admin}"]}}}}"#
        );
        let out = t.kubectl_with(&["create", "-f", "-"], &[], Some(&idp));
        assert!(out.status.success(), "{}", stderr(&out));
    }
    // The administrator acts as alice of tenant t1: the cluster is hers.
    let as_alice = ["--as", "alice", "--as-group", "tenant:t1"];
    let out = t.kubectl_with(
        &[&as_alice[..], &["apply", "-f", "-"]].concat(),
        &[],
        Some(&CLUSTER.replace("cls-demo", "cls-alice")),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(t.kubectl_ok(&["get", "cls", "cls-alice", "-o", "jsonpath={.spec.tenantID}"]), "t1");
    assert!(t.kubectl_ok(&[&as_alice[..], &["get", "cls", "-o", "name"]].concat()).contains("cls-alice"));
    let bob = t.kubectl_ok(&["get", "cls", "-o", "name", "--as", "bob", "--as-group", "tenant:t2"]);
    assert!(!bob.contains("cls-alice"), "another tenant does not see it: {bob}");
    // A user who is not an administrator cannot impersonate.
    let mut carol: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(t.kubeconfig()).expect("kubeconfig")).expect("yaml");
    carol["users"][0]["user"] = serde_yaml_ng::from_str("{token: tok-carol}").expect("yaml");
    let path = t.data_dir().join("carol.kubeconfig");
    std::fs::write(&path, serde_yaml_ng::to_string(&carol).expect("yaml")).expect("write");
    let carol = ["--kubeconfig", path.to_str().expect("utf-8")];
    assert!(
        !t.kubectl_ok(&[&carol[..], &["get", "cls", "-o", "name"]].concat()).contains("cls-alice"),
        "carol sees only tenant t3"
    );
    let out = t.kubectl(&[&carol[..], &["get", "cls", "--as", "alice", "--as-group", "tenant:t1"]].concat());
    assert!(!out.status.success() && stderr(&out).contains("cannot impersonate"), "{}{}", stdout(&out), stderr(&out));
}

/// Machines' SSH credentials reach the platform's controllers (administrators) over the API, but
/// never a tenant's user, in a get, a list or the object an update returns; and an update made
/// from what the user was shown keeps them.
#[test]
fn ssh_credentials_are_shown_to_administrators_only() {
    let t = Tke::start();
    let idp = r#"{"apiVersion": "auth.tkestack.io/v1", "kind": "IdentityProvider", "metadata": {"name": "t1"},
        "spec": {"name": "t1", "type": "tke", "administrators": ["alice"]}}"#;
    let out = t.kubectl_with(&["create", "-f", "-"], &[], Some(idp));
    assert!(out.status.success(), "{}", stderr(&out));
    let as_alice = ["--as", "alice", "--as-group", "tenant:t1"];
    // "cGFzcw==" is "pass"; the address is unroutable, so provisioning fails, which is beside the point.
    let cluster = r#"{"apiVersion": "platform.tkestack.io/v1", "kind": "Cluster", "metadata": {"name": "cls-bm"},
        "spec": {"type": "Baremetal", "version": "1.32.0", "clusterCIDR": "10.244.0.0/16",
                 "machines": [{"ip": "192.0.2.10", "password": "cGFzcw=="}]}}"#;
    let out = t.kubectl_with(&[&as_alice[..], &["create", "-o", "json", "-f", "-"]].concat(), &[], Some(cluster));
    assert!(out.status.success(), "{}", stderr(&out));
    let created: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(created["spec"]["machines"][0]["ip"], "192.0.2.10");
    assert!(created["spec"]["machines"][0].get("password").is_none(), "create answered the password: {created}");
    let seen = |who: &[&str], what: &[&str]| -> serde_json::Value {
        serde_json::from_str(&t.kubectl_ok(&[who, what, &["-o", "json"]].concat())).expect("json")
    };
    let mine = seen(&as_alice, &["get", "cls", "cls-bm"]);
    assert!(mine["spec"]["machines"][0].get("password").is_none(), "alice got the password: {mine}");
    let list = seen(&as_alice, &["get", "cls"]);
    assert!(!list.to_string().contains("cGFzcw=="), "the list carries the password: {list}");
    let admin = seen(&[], &["get", "cls", "cls-bm"]);
    assert_eq!(admin["spec"]["machines"][0]["password"], "cGFzcw==", "the controllers need it: {admin}");
    // Alice edits what she was shown (no password in it): the stored one stays.
    let mut edited = mine.clone();
    edited["metadata"]["labels"] = serde_json::json!({"team": "infra"});
    let out = t.kubectl_with(
        &[&as_alice[..], &["replace", "-o", "json", "-f", "-"]].concat(),
        &[],
        Some(&edited.to_string()),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("cGFzcw=="), "the update answered the password");
    let admin = seen(&[], &["get", "cls", "cls-bm"]);
    assert_eq!(admin["metadata"]["labels"]["team"], "infra");
    assert_eq!(admin["spec"]["machines"][0]["password"], "cGFzcw==", "the update kept it: {admin}");
}

/// A directory that lives as long as the test process (the token file outlives `Tke`'s start).
fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tke-kubectl-as-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}
