//! `--authentication-token-webhook-config-file` against the real `tke up`: a second platform
//! takes the first one's users through the first one's `/auth/authn` (TokenReview), as a
//! business cluster's kube-apiserver would, keeps a known answer for its cache TTL when the
//! webhook goes away, and refuses tokens the webhook does not know.

use base64::Engine;
use serde_json::{Value, json};
use testkit::tke::{Storage, Tke, tke_binary};

const PASSWORD: &str = "a long webhook passphrase";

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

/// Who `t` says the bearer of `token` is, or the HTTP status.
fn whoami(t: &Tke, token: &str) -> Result<Value, u16> {
    let (code, body) = t.curl_json(&[
        "-X",
        "POST",
        "-H",
        "Content-Type: application/json",
        "-H",
        &format!("Authorization: Bearer {token}"),
        "--data",
        r#"{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}"#,
        &format!("{}/apis/authentication.k8s.io/v1/selfsubjectreviews", t.url),
    ]);
    if code < 300 { Ok(body["status"]["userInfo"].clone()) } else { Err(code) }
}

#[test]
fn a_platform_takes_another_platforms_users_through_its_token_webhook() {
    let mut first = Tke::start();
    for user in ["alice", "bob"] {
        first.create(&json!({"apiVersion": "auth.tkestack.io/v1", "kind": "LocalIdentity",
            "metadata": {"name": format!("usr-{user}")},
            "spec": {"username": user, "displayName": user,
                "hashedPassword": base64::engine::general_purpose::STANDARD.encode(PASSWORD)}}));
    }
    // The webhook's kubeconfig: the first platform's /auth/authn, its CA, and a credential
    // allowed to ask about other users (its administrator's certificate).
    let pki = first.data_dir().join("pki");
    let dir = tempfile::tempdir().expect("dir");
    let kubeconfig = dir.path().join("authn-webhook.kubeconfig");
    let config = json!({"apiVersion": "v1", "kind": "Config", "current-context": "webhook",
        "clusters": [{"name": "first", "cluster": {"server": format!("{}/auth/authn", first.url),
            "certificate-authority": pki.join("ca.crt")}}],
        "users": [{"name": "admin", "user": {"client-certificate": pki.join("admin.crt"), "client-key": pki.join("admin.key")}}],
        "contexts": [{"name": "webhook", "context": {"cluster": "first", "user": "admin"}}]});
    std::fs::write(&kubeconfig, serde_yaml_ng::to_string(&config).expect("yaml")).expect("write kubeconfig");
    let second = Tke::start_with(
        tke_binary(),
        Storage::Embedded,
        &["--authentication-token-webhook-config-file", &kubeconfig.display().to_string()],
    );

    let alice = id_token(&first, "alice");
    let user = whoami(&second, &alice).expect("alice is known through the webhook");
    assert_eq!(user["username"], "alice", "{user}");
    let groups: Vec<&str> = user["groups"].as_array().expect("groups").iter().filter_map(Value::as_str).collect();
    assert!(groups.contains(&"system:authenticated"), "{groups:?}");
    assert_eq!(user["extra"]["tenantid"], json!(["default"]), "the tenant comes along: {user}");
    // Authenticated is not authorized: alice holds no policy on the second platform.
    let (code, body) = second.curl_json(&[
        "-H",
        &format!("Authorization: Bearer {alice}"),
        &format!("{}/apis/platform.tkestack.io/v1/clusters", second.url),
    ]);
    assert_eq!((code, body["reason"].as_str()), (403, Some("Forbidden")), "{body}");
    assert_eq!(whoami(&second, "not-a-token"), Err(401));
    assert_eq!(whoami(&second, &format!("{}x", &alice[..alice.len() - 1])), Err(401), "a forged signature");

    // The webhook gone: a known answer is reused for its TTL, an unknown token is refused.
    let bob = id_token(&first, "bob");
    first.stop();
    assert_eq!(whoami(&second, &alice).expect("cached")["username"], "alice");
    assert_eq!(whoami(&second, &bob), Err(401));
}
