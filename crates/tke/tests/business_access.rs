//! Who sees and does what in business: against the real `tke up` and two simulated business
//! clusters, project members (alice of prj-a, bob of prj-b, both of tenant default) and carol of
//! tenant t2 each see exactly their projects' business namespaces, reach through the cluster
//! proxy (and the unified proxy) only the Kubernetes namespaces of their projects, get their own
//! portal; and a namespace certificate's kubeconfig, used with the real kubectl, reaches its
//! namespace and nothing else (another namespace, another cluster, cluster-wide objects, the
//! platform's own objects).

use std::{path::Path, process::Command, time::Duration};

use serde_json::{Value, json};
use testkit::tke::{ExplainFailure, Tke, wait_for};

const WAIT: Duration = Duration::from_secs(60);
const PROXY_A: &str = "/apis/platform.tkestack.io/v1/clusters/cls-a/proxy";

/// kubectl as a user of a tenant (the admin impersonating them): (success, stdout + stderr).
fn kubectl_as(t: &Tke, user: &str, tenant: &str, args: &[&str], stdin: Option<&str>) -> (bool, String) {
    let group = format!("--as-group=tenant:{tenant}");
    let mut all = vec!["--as", user, group.as_str()];
    all.extend_from_slice(args);
    let out = t.kubectl_with(&all, &[], stdin);
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// kubectl with another kubeconfig.
fn kubectl_with_config(config: &Path, args: &[&str], stdin: Option<&str>) -> (bool, String) {
    use std::io::Write;
    let mut cmd = Command::new("kubectl");
    cmd.env("KUBECONFIG", config).arg("--cache-dir").arg(config.with_extension("cache")).args(args);
    cmd.stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("kubectl");
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin.unwrap_or_default().as_bytes()).expect("stdin");
    drop(input);
    let out = child.wait_with_output().expect("kubectl");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// What the platform's authorization webhook answers cluster `cluster` (asking with the admin
/// certificate, as a cluster's kube-apiserver asks with its own) about `user` listing pods in
/// `namespace`.
fn webhook_allows(t: &Tke, cluster: &str, user: &str, tenant: &str, namespace: &str) -> (bool, String) {
    let pki = t.data_dir().join("pki");
    let review = json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
        "spec": {"user": user, "groups": [format!("tenant:{tenant}")],
            "resourceAttributes": {"verb": "list", "version": "v1", "resource": "pods", "namespace": namespace}}});
    let out = Command::new("curl")
        .args(["-sS", "-X", "POST", "-H", "Content-Type: application/json", "--cacert"])
        .arg(t.ca_file())
        .arg("--cert")
        .arg(pki.join("admin.crt"))
        .arg("--key")
        .arg(pki.join("admin.key"))
        .args(["--data", &review.to_string()])
        .arg(format!("{}/auth/authz?cluster={cluster}", t.url))
        .output()
        .expect("curl");
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    (answer["status"]["allowed"] == true, answer.to_string())
}

/// A request through the unified proxy (header `X-TKE-ClusterName`) as a user: the HTTP code.
fn unified_as(t: &Tke, user: &str, tenant: &str, cluster: &str, path: &str) -> (u16, String) {
    let pki = t.data_dir().join("pki");
    let out = Command::new("curl")
        .args(["-sS", "-o", "-", "-w", "\n%{http_code}", "--cacert"])
        .arg(t.ca_file())
        .arg("--cert")
        .arg(pki.join("admin.crt"))
        .arg("--key")
        .arg(pki.join("admin.key"))
        .args(["-H", &format!("Impersonate-User: {user}"), "-H", &format!("Impersonate-Group: tenant:{tenant}")])
        .args(["-H", &format!("X-TKE-ClusterName: {cluster}")])
        .arg(format!("{}{path}", t.url))
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

fn create_in_cluster(t: &Tke, cluster: &str, path: &str, obj: &Value) {
    let url = format!("/apis/platform.tkestack.io/v1/clusters/{cluster}/proxy{path}");
    let out = t.kubectl_with(&["create", "--raw", &url, "-f", "-"], &[], Some(&obj.to_string()));
    assert!(out.status.success(), "creating {obj} in {cluster}: {}", String::from_utf8_lossy(&out.stderr));
}

fn pod(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {"containers": [{"name": "c", "image": "nginx"}]}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_certificates_and_the_portal() {
    let t = Tke::start();
    let _explain = ExplainFailure::new(&t);
    let a = kubesim::SimCluster::start(kubesim::SimOptions::default()).await.expect("cluster a");
    let b = kubesim::SimCluster::start(kubesim::SimOptions::default()).await.expect("cluster b");
    t.import_cluster("cls-a", a.url(), a.ca_pem().as_bytes(), a.admin_token());
    t.import_cluster("cls-b", b.url(), b.ca_pem().as_bytes(), b.admin_token());

    // People, projects, members.
    t.create(&json!({"apiVersion": "auth.tkestack.io/v1", "kind": "IdentityProvider", "metadata": {"name": "t2"},
        "spec": {"name": "Team 2", "type": "tke"}}));
    for (tenant, name) in [("default", "alice"), ("default", "bob"), ("t2", "carol")] {
        t.create(&json!({"apiVersion": "auth.tkestack.io/v1", "kind": "LocalIdentity",
            "metadata": {"name": format!("usr-{name}")},
            "spec": {"username": name, "tenantID": tenant, "hashedPassword": "YSBsb25nIHBhc3N3b3Jk"}}));
    }
    for tenant in ["default", "t2"] {
        let policy = format!("pol-{tenant}-project-member");
        wait_for(&format!("the default policy {policy}"), WAIT, || {
            t.get_json(&["policies.auth.tkestack.io", &policy]).map(|_| ())
        });
    }
    for (tenant, project, display) in
        [("default", "prj-a", "Project A"), ("default", "prj-b", "Project B"), ("t2", "prj-c", "Project C")]
    {
        // Projects of tenant default may use both clusters (the quota admission asks it).
        let clusters = if tenant == "default" {
            json!({"cls-a": {"hard": {"cpu": "4"}}, "cls-b": {"hard": {"cpu": "4"}}})
        } else {
            json!({})
        };
        t.create(&json!({"apiVersion": "business.tkestack.io/v1", "kind": "Project", "metadata": {"name": project},
            "spec": {"tenantID": tenant, "displayName": display, "clusters": clusters}}));
        // The auth view members are bound in: the project controller makes it; made here too
        // when it is not there yet (whichever comes first).
        let view = json!({"apiVersion": "auth.tkestack.io/v1", "kind": "Project",
            "metadata": {"name": project}, "tenantID": tenant});
        let _ = t.kubectl_with(&["create", "-f", "-"], &[], Some(&view.to_string()));
        wait_for(&format!("the auth view of {project}"), WAIT, || {
            t.get_json(&["projects.auth.tkestack.io", project]).map(|_| ())
        });
    }
    for (tenant, project, user) in
        [("default", "prj-a", "alice"), ("default", "prj-b", "bob"), ("t2", "prj-c", "carol")]
    {
        let body = json!({"policies": [format!("pol-{tenant}-project-member")], "users": [{"name": user}]});
        let out = t.kubectl_with(
            &["create", "--raw", &format!("/apis/auth.tkestack.io/v1/projects/{project}/binding"), "-f", "-"],
            &[],
            Some(&body.to_string()),
        );
        assert!(out.status.success(), "binding {user}: {}", String::from_utf8_lossy(&out.stderr));
    }
    // Business namespaces: ns-a of cls-a in prj-a, ns-b of cls-a in prj-b; the real namespaces
    // (and ns-free, of no project; and ns-a of cls-b, of no project either).
    for (project, cluster, ns) in [("prj-a", "cls-a", "ns-a"), ("prj-b", "cls-a", "ns-b")] {
        t.create(&json!({"apiVersion": "business.tkestack.io/v1", "kind": "Namespace",
            "metadata": {"namespace": project}, "spec": {"clusterName": cluster, "namespace": ns}}));
    }
    // The namespace controller makes the namespaces of the business ones; the others by hand.
    for (cluster, ns) in [("cls-a", "ns-free"), ("cls-b", "ns-a")] {
        create_in_cluster(
            &t,
            cluster,
            "/api/v1/namespaces",
            &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
        );
    }
    for (project, name) in [("prj-a", "cls-a-ns-a"), ("prj-b", "cls-a-ns-b")] {
        wait_for(&format!("{project}/{name} to be Available in its cluster"), WAIT, || {
            t.get_json(&["namespaces.business.tkestack.io", "-n", project, name])
                .filter(|o| o["status"]["phase"] == "Available")
                .map(|_| ())
        });
    }

    // ---- business namespaces ------------------------------------------------------------
    let out = wait_for("alice to list prj-a's namespaces", WAIT, || {
        let (ok, out) = kubectl_as(
            &t,
            "alice",
            "default",
            &["get", "namespaces.business.tkestack.io", "-n", "prj-a", "-o", "name"],
            None,
        );
        ok.then_some(out)
    });
    assert_eq!(out.trim(), "namespace.business.tkestack.io/cls-a-ns-a");
    let (ok, out) =
        kubectl_as(&t, "alice", "default", &["get", "namespaces.business.tkestack.io", "-n", "prj-b"], None);
    assert!(!ok && out.contains("Forbidden"), "{out}");
    let (ok, out) = kubectl_as(&t, "alice", "default", &["get", "namespaces.business.tkestack.io", "-A"], None);
    assert!(!ok && out.contains("Forbidden"), "a member lists one project at a time: {out}");
    let (ok, out) = kubectl_as(
        &t,
        "alice",
        "default",
        &["label", "namespaces.business.tkestack.io", "-n", "prj-a", "cls-a-ns-a", "team=a"],
        None,
    );
    assert!(ok, "alice changes her project's namespace: {out}");
    let (ok, out) = kubectl_as(
        &t,
        "alice",
        "default",
        &["label", "namespaces.business.tkestack.io", "-n", "prj-b", "cls-a-ns-b", "team=a"],
        None,
    );
    assert!(!ok && out.contains("Forbidden"), "{out}");
    wait_for("bob to list prj-b's namespaces", WAIT, || {
        let (ok, out) = kubectl_as(
            &t,
            "bob",
            "default",
            &["get", "namespaces.business.tkestack.io", "-n", "prj-b", "-o", "name"],
            None,
        );
        (ok && out.contains("cls-a-ns-b")).then_some(())
    });
    let (ok, _) = kubectl_as(&t, "bob", "default", &["get", "namespaces.business.tkestack.io", "-n", "prj-a"], None);
    assert!(!ok);
    let (ok, out) = kubectl_as(&t, "carol", "t2", &["get", "namespaces.business.tkestack.io", "-n", "prj-a"], None);
    assert!(!ok, "carol of t2 sees nothing of tenant default: {out}");

    // ---- the cluster proxy into business clusters -------------------------------------------
    let pods = |ns: &str| format!("{PROXY_A}/api/v1/namespaces/{ns}/pods");
    let (ok, out) = kubectl_as(&t, "alice", "default", &["get", "--raw", &pods("ns-a")], None);
    assert!(ok, "{out}");
    let (ok, out) = kubectl_as(
        &t,
        "alice",
        "default",
        &["create", "--raw", &pods("ns-a"), "-f", "-"],
        Some(&pod("by-alice").to_string()),
    );
    assert!(ok, "alice creates a pod in her namespace: {out}");
    for ns in ["ns-b", "ns-free"] {
        let (ok, out) = kubectl_as(&t, "alice", "default", &["get", "--raw", &pods(ns)], None);
        assert!(!ok && out.contains("Forbidden"), "{ns}: {out}");
    }
    let (ok, out) = kubectl_as(&t, "alice", "default", &["get", "--raw", &format!("{PROXY_A}/api/v1/nodes")], None);
    assert!(!ok && out.contains("platform-wide policy"), "cluster-wide is refused, saying why: {out}");
    let (ok, out) =
        kubectl_as(&t, "alice", "default", &["get", "--raw", &format!("{PROXY_A}/api/v1/namespaces")], None);
    assert!(!ok, "every namespace is cluster-wide: {out}");
    let (ok, out) = kubectl_as(
        &t,
        "alice",
        "default",
        &["get", "--raw", "/apis/platform.tkestack.io/v1/clusters/cls-b/proxy/api/v1/namespaces/ns-a/pods"],
        None,
    );
    assert!(!ok, "ns-a of cls-b is not prj-a's: {out}");
    let (ok, out) = kubectl_as(&t, "bob", "default", &["get", "--raw", &pods("ns-b")], None);
    assert!(ok, "{out}");
    let (ok, _) = kubectl_as(&t, "bob", "default", &["get", "--raw", &pods("ns-a")], None);
    assert!(!ok);
    let (ok, out) = kubectl_as(&t, "carol", "t2", &["get", "--raw", &pods("ns-a")], None);
    assert!(!ok && !out.contains("prj-a"), "carol reaches nothing of tenant default's: {out}");
    // The unified proxy decides the same way.
    let (code, body) = unified_as(&t, "alice", "default", "cls-a", "/api/v1/namespaces/ns-a/pods");
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("by-alice"), "{body}");
    let (code, body) = unified_as(&t, "alice", "default", "cls-a", "/api/v1/namespaces/ns-b/pods");
    assert_eq!(code, 403, "{body}");
    let (code, body) = unified_as(&t, "alice", "default", "cls-a", "/api/v1/nodes");
    assert_eq!(code, 403, "{body}");
    let (code, body) = unified_as(&t, "bob", "default", "cls-a", "/api/v1/namespaces/ns-b/pods");
    assert_eq!(code, 200, "{body}");
    // And so does the authorization webhook business clusters' kube-apiservers ask.
    let (allowed, answer) = webhook_allows(&t, "cls-a", "alice", "default", "ns-a");
    assert!(allowed, "{answer}");
    for (cluster, ns) in [("cls-a", "ns-b"), ("cls-b", "ns-a")] {
        let (allowed, answer) = webhook_allows(&t, cluster, "alice", "default", ns);
        assert!(!allowed, "{cluster}/{ns}: {answer}");
    }

    // ---- the portal ------------------------------------------------------------------------
    let portal = |user: &str, tenant: &str| {
        let (ok, out) = kubectl_as(&t, user, tenant, &["get", "--raw", "/apis/business.tkestack.io/v1/portal"], None);
        assert!(ok, "{out}");
        serde_json::from_str::<Value>(&out).expect("portal")
    };
    let p = portal("alice", "default");
    assert_eq!(p["kind"], "Portal");
    assert_eq!(p["administrator"], false);
    assert_eq!(p["projects"], json!({"prj-a": "Project A"}));
    assert_eq!(p["extension"]["prj-a"]["parent"], "");
    assert_eq!(portal("bob", "default")["projects"], json!({"prj-b": "Project B"}));
    assert_eq!(portal("carol", "t2")["projects"], json!({"prj-c": "Project C"}));
    let admin = serde_json::from_str::<Value>(&t.kubectl_ok(&["get", "--raw", "/apis/business.tkestack.io/v1/portal"]))
        .expect("portal");
    assert_eq!(admin["administrator"], true);
    assert_eq!(admin["projects"], json!({"prj-a": "Project A", "prj-b": "Project B"}), "the admin's tenant");
    let (ok, out) = kubectl_as(&t, "alice", "default", &["get", "portal"], None);
    assert!(ok && out.contains("ADMINISTRATOR") && out.contains("prj-a"), "{out}");

    // ---- namespace certificates --------------------------------------------------------------
    let cert_path = "/apis/business.tkestack.io/v1/namespaces/prj-a/namespaces/cls-a-ns-a/certificate?validDays=30";
    let (ok, out) = kubectl_as(&t, "bob", "default", &["get", "--raw", cert_path], None);
    assert!(!ok && out.contains("Forbidden"), "only prj-a's members get its certificates: {out}");
    let (ok, out) = kubectl_as(&t, "alice", "default", &["get", "--raw", cert_path], None);
    assert!(ok, "{out}");
    let cert: Value = serde_json::from_str(&out).expect("NamespaceCert");
    assert_eq!(cert["kind"], "NamespaceCert");
    assert_eq!(cert["apiServer"], format!("{}{PROXY_A}", t.url));
    assert!(cert["keyPem"].as_str().is_some_and(|k| k.contains("PRIVATE KEY")));
    let (ok, out) = kubectl_as(&t, "alice", "default", &["get", "--raw", &cert_path.replace("=30", "=99999")], None);
    assert!(!ok && out.contains("validDays"), "{out}");
    // The object keeps the certificate, never the key.
    let stored = t.get_json(&["namespaces.business.tkestack.io", "-n", "prj-a", "cls-a-ns-a"]).expect("namespace");
    let kept = &stored["status"]["certificate"];
    assert_eq!(kept["certPem"], cert["certPem"]);
    assert!(kept.get("keyPem").is_none() && kept.get("kubeconfig").is_none(), "{kept}");
    assert!(!stored.to_string().contains("PRIVATE KEY"));

    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("alice-ns-a.kubeconfig");
    std::fs::write(&config, cert["kubeconfig"].as_str().expect("kubeconfig")).expect("write");
    let (ok, out) = kubectl_with_config(&config, &["get", "pods", "-o", "name"], None);
    assert!(ok && out.contains("pod/by-alice"), "the kubeconfig reaches ns-a: {out}");
    let (ok, out) = kubectl_with_config(&config, &["create", "-f", "-"], Some(&pod("by-cert").to_string()));
    assert!(ok, "{out}");
    let (ok, out) = kubectl_with_config(&config, &["get", "pods", "-n", "ns-b"], None);
    assert!(!ok && out.contains("Forbidden") && out.contains("namespace ns-a"), "another namespace: {out}");
    let (ok, out) = kubectl_with_config(&config, &["get", "nodes"], None);
    assert!(!ok && out.contains("Forbidden"), "cluster-wide: {out}");
    // (`--raw` paths are from the server's root.)
    let other_cluster = format!("{}/apis/platform.tkestack.io/v1/clusters/cls-b/proxy", t.url);
    let (ok, out) = kubectl_with_config(&config, &["--server", &other_cluster, "get", "pods"], None);
    assert!(!ok && out.contains("Forbidden"), "another cluster: {out}");
    let (ok, out) = kubectl_with_config(
        &config,
        &["get", "--raw", "/apis/platform.tkestack.io/v1/clusters/cls-b/proxy/api/v1/namespaces/ns-a/pods"],
        None,
    );
    assert!(!ok && out.contains("cluster cls-a only"), "another cluster: {out}");
    let (ok, out) = kubectl_with_config(&config, &["--server", &t.url, "get", "clusters.platform.tkestack.io"], None);
    assert!(!ok && out.contains("Forbidden"), "the platform's objects: {out}");
    // What the holder created really is in the business cluster.
    let direct = Command::new("kubectl")
        .env("KUBECONFIG", a.kubeconfig_path())
        .args(["get", "pods", "-n", "ns-a", "-o", "name"])
        .output()
        .expect("kubectl");
    assert!(String::from_utf8_lossy(&direct.stdout).contains("pod/by-cert"));
    // The certificate as a kubeconfig file alone.
    let (ok, out) =
        kubectl_as(&t, "alice", "default", &["get", "--raw", &format!("{cert_path}&format=kubeconfig")], None);
    assert!(ok && out.contains("current-context: cls-a-ns-a"), "{out}");
}
