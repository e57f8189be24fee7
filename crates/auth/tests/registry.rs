//! The registry's permissions are the platform's policies (against the real `tke up`): what
//! the registry's token endpoint grants a tenant's user in a private namespace follows the
//! `getRepository` / `createRepository` / `deleteRepository` rows bound to them, while a
//! `Public` namespace stays pullable by anyone and the administrator may do everything.

use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};
use testkit::tke::{Tke, wait_for};

const PASSWORD: &str = "a long registry passphrase";

/// The actions the registry's token endpoint grants `user` on `repository`.
fn granted(t: &Tke, user: &str, password: &str, repository: &str) -> Vec<String> {
    let url = format!("{}/registry/auth?service=tke&scope=repository:{repository}:pull,push,delete", t.url);
    let (code, body) = t.curl_json(&["-u", &format!("{user}:{password}"), &url]);
    assert_eq!(code, 200, "{body}");
    let token = body["token"].as_str().expect("a token");
    let payload = token.split('.').nth(1).expect("a JWT");
    let claims: Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).expect("base64"))
            .expect("claims");
    let mut actions: Vec<String> = claims["access"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["name"] == repository)
        .flat_map(|a| a["actions"].as_array().cloned().unwrap_or_default())
        .filter_map(|a| a.as_str().map(str::to_string))
        .collect();
    actions.sort();
    actions
}

/// Binds or unbinds alice to the policy `pol-team-push`.
fn bind(t: &Tke, sub: &str) {
    let path = format!("/apis/auth.tkestack.io/v1/policies/pol-team-push/{sub}");
    let out = t.kubectl_with(&["create", "--raw", &path, "-f", "-"], &[], Some(r#"{"users": [{"name": "alice"}]}"#));
    assert!(out.status.success(), "{sub}: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn push_and_pull_follow_the_policies() {
    let t = Tke::start();
    let admin_password =
        std::fs::read_to_string(t.data_dir().join("admin-password")).expect("admin-password").trim().to_string();
    for (name, visibility) in [("team", "Private"), ("shared", "Public")] {
        t.create(&json!({"apiVersion": "registry.tkestack.io/v1", "kind": "Namespace",
            "metadata": {"name": format!("rns-{name}")}, "spec": {"name": name, "visibility": visibility}}));
    }
    let encoded = base64::engine::general_purpose::STANDARD.encode(PASSWORD);
    for user in ["alice", "bob"] {
        t.create(&json!({"apiVersion": "auth.tkestack.io/v1", "kind": "LocalIdentity",
            "metadata": {"name": format!("usr-{user}")},
            "spec": {"username": user, "displayName": user, "hashedPassword": encoded}}));
    }

    // Without a policy, a user of the tenant gets nothing in its private namespace, and only
    // pulls from the public one.
    assert!(granted(&t, "alice", PASSWORD, "team/app").is_empty());
    assert_eq!(granted(&t, "alice", PASSWORD, "shared/app"), ["pull"]);
    assert_eq!(granted(&t, "admin", &admin_password, "team/app"), ["delete", "pull", "push"]);

    // A policy to pull and push in `team`, bound to alice.
    t.create(&json!({"apiVersion": "auth.tkestack.io/v1", "kind": "Policy", "metadata": {"name": "pol-team-push"},
        "spec": {"displayName": "push to team", "category": "registry",
            "statement": {"actions": ["getRepository", "createRepository"],
                "resources": ["registrynamespace:team/repository:*"], "effect": "allow"}}}));
    bind(&t, "binding");
    let actions = wait_for("alice's policy to reach the registry", Duration::from_secs(30), || {
        let a = granted(&t, "alice", PASSWORD, "team/app");
        (!a.is_empty()).then_some(a)
    });
    assert_eq!(actions, ["pull", "push"], "delete is not in the policy");
    assert!(granted(&t, "bob", PASSWORD, "team/app").is_empty(), "bob holds no policy");
    assert_eq!(granted(&t, "bob", PASSWORD, "shared/app"), ["pull"]);

    // Unbound: the rights go with the binding.
    bind(&t, "unbinding");
    wait_for("alice's rights to go", Duration::from_secs(30), || {
        granted(&t, "alice", PASSWORD, "team/app").is_empty().then_some(())
    });
}
