//! Business clusters that ask the platform, against the real `tke up` (issue #14 item 7).
//!
//! `golden_webhook_fixtures`: the TokenReviews and SubjectAccessReviews a kube-apiserver 1.30
//! sends (`fixtures/webhooks/*.json`, see its README) are posted to `/auth/authn` and
//! `/auth/authz` with the credential `clusters/{name}/authwebhook` gives the cluster, and the
//! answers are checked field by field against what kube-apiserver needs of them.
//!
//! `a_business_cluster_asks_the_platform`: a simulated cluster started with the kubeconfigs
//! of `clusters/{name}/authwebhook` (as its kube-apiserver flags say) lets a platform user in
//! with their ID token as far as the platform's policies allow: a bound policy allows, what it
//! does not cover is refused (403 with the reason), an unknown token is 401, and the cluster's
//! own RBAC still answers first.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use apiserver::webhook::WebhookClient;
use base64::Engine;
use serde_json::{Value, json};
use testkit::tke::Tke;

const PASSWORD: &str = "a long webhook passphrase";
const CLUSTER: &str = "cls-hook";

/// An ID token of `user` from `t`'s OpenID provider (password grant).
fn id_token(t: &Tke, user: &str) -> String {
    let (code, body) = t.curl_json(&[
        "-X",
        "POST",
        &format!("{}/oidc/token", t.url),
        "--data-urlencode",
        "grant_type=password",
        "--data-urlencode",
        "client_id=default",
        "--data-urlencode",
        &format!("username={user}"),
        "--data-urlencode",
        &format!("password={PASSWORD}"),
    ]);
    assert_eq!(code, 200, "{body}");
    body["id_token"].as_str().expect("id_token").to_string()
}

/// A platform with users alice and bob, cluster [`CLUSTER`] imported, a policy letting alice
/// list and get the pods of its namespace `default`, and the cluster's webhook kubeconfigs.
struct Platform {
    /// Kept for the test's length: dropping it stops the platform.
    _t: Tke,
    authn: PathBuf,
    authz: PathBuf,
    alice: String,
    /// An API key of alice's.
    alice_key: String,
    bob: String,
    _dir: tempfile::TempDir,
}

async fn platform(business: &kubesim::SimCluster) -> Platform {
    let t = Tke::start();
    for user in ["alice", "bob"] {
        t.create(&json!({"apiVersion": "auth.tkestack.io/v1", "kind": "LocalIdentity",
            "metadata": {"name": format!("usr-{user}")},
            "spec": {"username": user, "displayName": user,
                "hashedPassword": base64::engine::general_purpose::STANDARD.encode(PASSWORD)}}));
    }
    t.import_cluster(CLUSTER, business.url(), business.ca_pem().as_bytes(), business.admin_token());
    t.create(&json!({"apiVersion": "auth.tkestack.io/v1", "kind": "Policy",
        "metadata": {"name": "pol-pods"},
        "spec": {"displayName": "read pods of default", "tenantID": "default", "scope": "platform",
            "category": "cluster",
            "statement": {"actions": ["listPods", "getPod"],
                "resources": [format!("cluster:{CLUSTER}/namespace:default/pod:*")], "effect": "allow"}}}));
    let out = t.kubectl_with(
        &["create", "--raw", "/apis/auth.tkestack.io/v1/policies/pol-pods/binding", "-f", "-"],
        &[],
        Some(r#"{"users": [{"id": "usr-alice"}]}"#),
    );
    assert!(out.status.success(), "binding the policy: {}", String::from_utf8_lossy(&out.stderr));

    // The files the cluster's administrator would put on its masters.
    let out = t.kubectl_ok(&["get", "--raw", &format!("/apis/platform.tkestack.io/v1/clusters/{CLUSTER}/authwebhook")]);
    let answer: Value = serde_json::from_str(&out).expect("authwebhook answer");
    let flags = answer["flags"].to_string();
    assert!(flags.contains("authorization-mode=Node,RBAC,Webhook"), "{answer}");
    let dir = tempfile::tempdir().expect("dir");
    let file = |suffix: &str| -> PathBuf {
        let (_, content) = answer["files"]
            .as_object()
            .expect("files")
            .iter()
            .find(|(path, _)| path.ends_with(suffix))
            .unwrap_or_else(|| panic!("no {suffix} in {answer}"));
        let path = dir.path().join(suffix);
        std::fs::write(&path, content.as_str().expect("file content")).expect("write");
        path
    };
    let (authn, authz) = (file("tke-authn-webhook.yaml"), file("tke-authz-webhook.yaml"));
    let (alice, bob) = (id_token(&t, "alice"), id_token(&t, "bob"));
    let (code, key) = t.curl_json(&[
        "-X",
        "POST",
        "-H",
        &format!("Authorization: Bearer {alice}"),
        "-H",
        "Content-Type: application/json",
        "--data",
        r#"{"expire":"1h","description":"webhook test"}"#,
        &format!("{}/apis/auth.tkestack.io/v1/apikeys/default/token", t.url),
    ]);
    assert_eq!(code, 201, "{key}");
    let alice_key = key["spec"]["apiKey"].as_str().expect("the API key").to_string();
    Platform { _t: t, authn, authz, alice, alice_key, bob, _dir: dir }
}

fn client(kubeconfig: &Path) -> WebhookClient {
    WebhookClient::from_kubeconfig(kubeconfig, Duration::from_secs(10)).expect("webhook kubeconfig")
}

/// Waits until the platform applies alice's policy (asking as the cluster does, uncached).
async fn policy_applies(p: &Platform) {
    let authz = client(&p.authz);
    let review = json!({"kind": "SubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
        "spec": {"resourceAttributes": {"namespace": "default", "verb": "list", "version": "v1", "resource": "pods"},
            "user": "alice", "groups": ["system:authenticated"], "extra": {"tenantid": ["default"]}}});
    testkit::wait_until("alice's policy to apply", Duration::from_secs(30), || async {
        (authz.post(&review).await.ok()?["status"]["allowed"] == true).then_some(())
    })
    .await;
}

/// Why `actual` does not match the `expected` pattern at `at` (see fixtures/webhooks/README.md).
fn mismatches(expected: &Value, actual: Option<&Value>, at: &str, out: &mut Vec<String>) {
    match (expected, actual) {
        (Value::Object(fields), Some(Value::Object(got))) => {
            for (k, v) in fields {
                mismatches(v, got.get(k), &format!("{at}/{k}"), out);
            }
        }
        (Value::Object(_), got) => out.push(format!("{at}: want an object, got {got:?}")),
        (Value::String(s), Some(Value::String(g))) if s == "$NONEMPTY" => {
            if g.is_empty() {
                out.push(format!("{at}: want a non-empty string"));
            }
        }
        (Value::String(s), got) if s == "$BOOL" => {
            if !matches!(got, Some(Value::Bool(_))) {
                out.push(format!("{at}: want true or false, got {got:?}"));
            }
        }
        (want, got) => {
            if got != Some(want) {
                out.push(format!("{at}: want {want}, got {got:?}"));
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn golden_webhook_fixtures() {
    let business = kubesim::SimCluster::start(kubesim::SimOptions::default()).await.expect("business cluster");
    let p = platform(&business).await;
    policy_applies(&p).await;
    let (authn, authz) = (client(&p.authn), client(&p.authz));

    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/webhooks");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("fixtures")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    names.sort();
    assert!(names.len() >= 11, "fixtures missing from {}", dir.display());
    let mut failures = vec![];
    for path in &names {
        let text = std::fs::read_to_string(path).expect("fixture");
        let text =
            text.replace("$TOKEN_ALICE", &p.alice).replace("$APIKEY_ALICE", &p.alice_key).replace("$TOKEN_BOB", &p.bob);
        let fixture: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let name = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
        let webhook = match fixture["endpoint"].as_str() {
            Some("/auth/authn") => &authn,
            Some("/auth/authz") => &authz,
            other => panic!("{name}: unknown endpoint {other:?}"),
        };
        let answer = match webhook.post(&fixture["request"]).await {
            Ok(a) => a,
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        let mut wrong = vec![];
        mismatches(&fixture["expect"], Some(&answer), "", &mut wrong);
        for pointer in fixture["absent"].as_array().into_iter().flatten().filter_map(Value::as_str) {
            if let Some(v) = answer.pointer(pointer) {
                wrong.push(format!("{pointer}: want it absent, got {v}"));
            }
        }
        if !wrong.is_empty() {
            failures.push(format!(
                "{name} ({}):\n  {}\n  answer: {answer}",
                fixture["description"],
                wrong.join("\n  ")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// `curl` of the business cluster's `path` with `token`: the status and the body as JSON.
fn call(cluster: &kubesim::SimCluster, ca: &Path, token: &str, path: &str) -> (u16, Value) {
    let out = Command::new("curl")
        .args(["-sS", "--cacert"])
        .arg(ca)
        .args(["-o", "-", "-w", "\n%{http_code}", "-H", &format!("Authorization: Bearer {token}")])
        .arg(format!("{}{path}", cluster.url()))
        .output()
        .expect("curl must be installed");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), serde_json::from_str(body).unwrap_or(Value::String(body.to_string())))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_business_cluster_asks_the_platform() {
    let imported = kubesim::SimCluster::start(kubesim::SimOptions::default()).await.expect("imported cluster");
    let p = platform(&imported).await;
    policy_applies(&p).await;
    // The cluster's kube-apiserver with the flags authwebhook gave (Node,RBAC,Webhook): a
    // second simulated cluster speaking for the imported one, with its webhook identity.
    let cluster = kubesim::SimCluster::start(kubesim::SimOptions {
        rbac: true,
        authn_webhook: Some(p.authn.clone()),
        authz_webhook: Some(p.authz.clone()),
        ..Default::default()
    })
    .await
    .expect("cluster with webhooks");
    let ca = p._dir.path().join("cluster-ca.crt");
    std::fs::write(&ca, cluster.ca_pem()).expect("write CA");

    let pods = "/api/v1/namespaces/default/pods";
    let (code, body) = call(&cluster, &ca, &p.alice, pods);
    assert_eq!((code, body["kind"].as_str()), (200, Some("PodList")), "alice's policy lets her list: {body}");
    let (code, body) = call(&cluster, &ca, &p.alice, "/api/v1/namespaces/default/pods/web-0");
    assert_eq!(code, 404, "alice may get pods (there is none by that name): {body}");
    let (code, body) = call(&cluster, &ca, &p.alice_key, "/api/v1/namespaces/default/pods/web-1");
    assert_eq!(code, 404, "alice's API key works in the cluster too: {body}");

    for (who, token, path) in [
        ("alice", &p.alice, "/api/v1/namespaces/kube-system/pods"),
        ("alice", &p.alice, "/api/v1/namespaces/default/secrets"),
        ("bob", &p.bob, pods),
    ] {
        let (code, body) = call(&cluster, &ca, token, path);
        let message = body["message"].as_str().unwrap_or_default();
        assert_eq!((code, body["reason"].as_str()), (403, Some("Forbidden")), "{who} {path}: {body}");
        assert!(
            message.contains(&format!("\"{who}\""))
                && message.contains("the authorization webhook: ")
                && message.contains("no policy bound in the platform allows it"),
            "the refusal names the user, who decided and why: {message}"
        );
    }
    let (code, body) = call(&cluster, &ca, "not-a-platform-token", pods);
    assert_eq!(code, 401, "an unknown token: {body}");
    let (code, _) = call(&cluster, &ca, cluster.admin_token(), "/api/v1/namespaces/kube-system/pods");
    assert_eq!(code, 200, "the cluster's own administrator is not asked about");

    // The cluster's RBAC answers before the webhook: a grant there lets bob in.
    let crb = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": "bob-view"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "pod-reader"},
        "subjects": [{"kind": "User", "name": "bob", "apiGroup": "rbac.authorization.k8s.io"}]});
    let role = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "pod-reader"},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}]});
    for (plural, obj) in [("clusterroles", role), ("clusterrolebindings", crb)] {
        let api: kube::Api<kube::api::DynamicObject> = kube::Api::all_with(
            cluster.client(),
            &kube::api::ApiResource {
                group: "rbac.authorization.k8s.io".into(),
                version: "v1".into(),
                api_version: "rbac.authorization.k8s.io/v1".into(),
                kind: obj["kind"].as_str().unwrap_or_default().into(),
                plural: plural.into(),
            },
        );
        let obj: kube::api::DynamicObject = serde_json::from_value(obj).expect("object");
        api.create(&Default::default(), &obj).await.expect("create RBAC object");
    }
    let (code, body) = call(&cluster, &ca, &p.bob, pods);
    assert_eq!(code, 200, "RBAC lets bob list pods: {body}");
}
