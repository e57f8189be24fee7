//! Authorization of every request by the platform's policies, in the real `tke up` (build it
//! first: `cargo build -p tke`): a user without policies is refused with a Forbidden naming
//! user, verb and resource; binding a default policy (kept as Rule rows by the controller)
//! lets them in; `kubectl auth can-i` and `/auth/batchauthz` tell the truth; `/auth/authn`
//! reviews the platform's tokens; tenants do not see each other; a deleted policy takes its
//! rows with it.

use std::{path::Path, process::Command, time::Duration};

use base64::Engine;
use serde_json::json;
use testkit::tke::{Tke, wait_for};

fn create_user(t: &Tke, tenant: &str, username: &str, password: &str) {
    let user = json!({"apiVersion": "auth.tkestack.io/v1", "kind": "LocalIdentity", "metadata": {"name": format!("usr-{username}")},
        "spec": {"username": username, "tenantID": tenant, "hashedPassword": base64::engine::general_purpose::STANDARD.encode(password)}});
    let out = t.kubectl_with(&["create", "-f", "-"], &[], Some(&user.to_string()));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn token_of(t: &Tke, tenant: &str, username: &str, password: &str) -> String {
    let (code, answer) = t.curl_json(&[
        "-X",
        "POST",
        &format!("{}/oidc/token", t.url),
        "--data-urlencode",
        "grant_type=password",
        "--data-urlencode",
        "client_id=default",
        "--data-urlencode",
        &format!("tenant_id={tenant}"),
        "--data-urlencode",
        &format!("username={username}"),
        "--data-urlencode",
        &format!("password={password}"),
    ]);
    assert_eq!(code, 200, "{answer}");
    answer["id_token"].as_str().unwrap().to_string()
}

fn kubeconfig_for(t: &Tke, name: &str, token: &str) -> std::path::PathBuf {
    let path = t.data_dir().join(format!("{name}.kubeconfig"));
    let config = json!({"apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "p", "cluster": {"server": t.url, "certificate-authority": t.ca_file()}}],
        "users": [{"name": "u", "user": {"token": token}}],
        "contexts": [{"name": "c", "context": {"cluster": "p", "user": "u"}}]});
    std::fs::write(&path, config.to_string()).unwrap();
    path
}

fn kubectl_as(kubeconfig: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("kubectl").env("KUBECONFIG", kubeconfig).args(args).output().expect("kubectl");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn policies_decide_every_request_and_tenants_stay_apart() {
    let t = Tke::start();
    create_user(&t, "default", "bob", "bobs password");
    let bob_token = token_of(&t, "default", "bob", "bobs password");
    let bob = kubeconfig_for(&t, "bob", &bob_token);

    // Without policies: refused, with the user, verb and resource named; can-i says no.
    let (ok, out) = kubectl_as(&bob, &["get", "clusters"]);
    assert!(!ok, "{out}");
    assert!(out.contains("Forbidden") || out.contains("forbidden"), "{out}");
    assert!(out.contains("User \"bob\" cannot list resource \"clusters\""), "{out}");
    let (_, out) = kubectl_as(&bob, &["auth", "can-i", "list", "clusters"]);
    assert!(out.starts_with("no"), "{out}");
    let (ok, out) = kubectl_as(&bob, &["auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"]);
    assert!(ok && out == "bob", "{out}");

    // The controller gives the tenant its default policies and categories.
    let ro = "pol-default-read-only-access";
    wait_for("the default policies", Duration::from_secs(20), || {
        t.kubectl(&["get", "policy", ro]).status.success().then_some(())
    });
    assert!(t.kubectl_ok(&["get", "categories", "-o", "name"]).contains("category.auth.tkestack.io/cluster"));

    // Bound to read-only access: bob may list and get, not create.
    t.kubectl_ok(&[
        "patch",
        "policy",
        ro,
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"users":[{"id":"usr-bob","name":"bob"}]}}"#,
    ]);
    wait_for("bob to be let in", Duration::from_secs(20), || kubectl_as(&bob, &["get", "clusters"]).0.then_some(()));
    let (_, out) = kubectl_as(&bob, &["auth", "can-i", "list", "clusters"]);
    assert!(out.starts_with("yes"), "{out}");
    let (_, out) = kubectl_as(&bob, &["auth", "can-i", "create", "clusters"]);
    assert!(out.starts_with("no"), "{out}");
    let rules = t.kubectl_ok(&["get", "rules", "-o", "json"]);
    assert!(rules.contains("default##user##bob"), "the binding is a Rule row");

    // The console's batch question, asked by bob about himself.
    let review = json!({"apiVersion": "auth.tkestack.io/v1", "kind": "SubjectAccessReview", "spec": {
        "resourceAttributesList": [
            {"verb": "list", "group": "platform.tkestack.io", "resource": "clusters"},
            {"verb": "create", "group": "platform.tkestack.io", "resource": "clusters"}]}});
    let (code, answer) = t.curl_json(&[
        "-X",
        "POST",
        "-H",
        &format!("Authorization: Bearer {bob_token}"),
        "-H",
        "Content-Type: application/json",
        "--data",
        &review.to_string(),
        &format!("{}/auth/batchauthz", t.url),
    ]);
    assert_eq!(code, 200, "{answer}");
    let verdicts: Vec<bool> =
        answer["status"]["allowedList"].as_array().unwrap().iter().map(|v| v["allowed"].as_bool().unwrap()).collect();
    assert_eq!(verdicts, vec![true, false], "{answer}");
    // Asking about someone else needs an administrator.
    let mut other = review.clone();
    other["spec"]["user"] = json!("admin");
    let (code, _) = t.curl_json(&[
        "-X",
        "POST",
        "-H",
        &format!("Authorization: Bearer {bob_token}"),
        "-H",
        "Content-Type: application/json",
        "--data",
        &other.to_string(),
        &format!("{}/auth/batchauthz", t.url),
    ]);
    assert_eq!(code, 403);

    // A business cluster's kube-apiserver reviews bob's token (here with the admin certificate).
    let cert_dir = t.data_dir().join("pki");
    let token_review =
        json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": bob_token}});
    let (code, answer) = t.curl_json(&[
        "-X",
        "POST",
        "--cert",
        cert_dir.join("admin.crt").to_str().unwrap(),
        "--key",
        cert_dir.join("admin.key").to_str().unwrap(),
        "-H",
        "Content-Type: application/json",
        "--data",
        &token_review.to_string(),
        &format!("{}/auth/authn", t.url),
    ]);
    assert_eq!(code, 200, "{answer}");
    assert_eq!(answer["status"]["authenticated"], true, "{answer}");
    assert_eq!(answer["status"]["user"]["username"], "bob");
    let bad_review =
        json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": "x.y.z"}});
    let (_, answer) = t.curl_json(&[
        "-X",
        "POST",
        "--cert",
        cert_dir.join("admin.crt").to_str().unwrap(),
        "--key",
        cert_dir.join("admin.key").to_str().unwrap(),
        "--data",
        &bad_review.to_string(),
        &format!("{}/auth/authn", t.url),
    ]);
    assert_eq!(answer["status"]["authenticated"], false, "{answer}");

    // Another tenant: its administrator sees only its own objects.
    let idp = json!({"apiVersion": "auth.tkestack.io/v1", "kind": "IdentityProvider", "metadata": {"name": "t2"},
        "spec": {"name": "Team 2", "type": "tke", "administrators": ["carol"]}});
    let out = t.kubectl_with(&["create", "-f", "-"], &[], Some(&idp.to_string()));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    create_user(&t, "t2", "carol", "carols password");
    let carol = kubeconfig_for(&t, "carol", &token_of(&t, "t2", "carol", "carols password"));
    let (ok, out) = kubectl_as(&carol, &["get", "localidentities", "-o", "name"]);
    assert!(ok, "{out}");
    assert!(out.contains("usr-carol") && !out.contains("usr-bob") && !out.contains("usr-admin"), "{out}");
    let (ok, out) = kubectl_as(&carol, &["get", "localidentity", "usr-bob"]);
    assert!(!ok && out.contains("NotFound"), "{out}");
    let (ok, out) = kubectl_as(&carol, &["get", "identityproviders", "-o", "name"]);
    assert!(ok && out.trim() == "identityprovider.auth.tkestack.io/t2", "{out}");
    let (ok, out) = kubectl_as(&carol, &["delete", "localidentity", "usr-bob"]);
    assert!(!ok && out.contains("NotFound"), "{out}");

    // Unbinding takes bob's access away again; deleting a custom policy takes its rows along.
    t.kubectl_ok(&["patch", "policy", ro, "--subresource=status", "--type=merge", "-p", r#"{"status":{"users":[]}}"#]);
    wait_for("bob to be refused again", Duration::from_secs(20), || {
        (!kubectl_as(&bob, &["get", "clusters"]).0).then_some(())
    });
    let custom = json!({"apiVersion": "auth.tkestack.io/v1", "kind": "Policy", "metadata": {"name": "pol-custom"},
        "spec": {"displayName": "Custom", "tenantID": "default", "category": "cluster",
            "statement": {"actions": ["getCluster"], "resources": ["cluster:cls-x"], "effect": "allow"}}});
    let out = t.kubectl_with(&["create", "-f", "-"], &[], Some(&custom.to_string()));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    wait_for("the custom policy's rows", Duration::from_secs(20), || {
        t.kubectl_ok(&["get", "rules", "-o", "json"]).contains("cluster:cls-x").then_some(())
    });
    t.kubectl_ok(&["delete", "policy", "pol-custom", "--wait=false"]);
    wait_for("the policy and its rows to go", Duration::from_secs(20), || {
        let gone = !t.kubectl(&["get", "policy", "pol-custom"]).status.success();
        (gone && !t.kubectl_ok(&["get", "rules", "-o", "json"]).contains("cluster:cls-x")).then_some(())
    });
}
