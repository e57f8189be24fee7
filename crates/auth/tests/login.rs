//! Login through the platform's own OpenID provider in the real `tke up` (build it first:
//! `cargo build -p tke`): the first start's administrator and password file, discovery and
//! JWKS, the password grant, ID tokens used by the real kubectl, lockout after failed logins,
//! passwords never shown, forged and expired tokens refused; two replicas on one etcd accept
//! each other's tokens.

use std::{path::Path, process::Command, time::Duration};

use base64::Engine;
use serde_json::{Value, json};
use testkit::tke::{Storage, Tke, tke_binary, wait_for};

/// The password grant; returns the status and the JSON answer.
fn password_grant(t: &Tke, tenant: &str, username: &str, password: &str) -> (u16, Value) {
    let (code, body) = t.curl(&[
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
    (code, serde_json::from_str(&body).unwrap_or(Value::String(body)))
}

fn admin_password(t: &Tke) -> String {
    std::fs::read_to_string(t.data_dir().join("admin-password")).expect("admin-password").trim().to_string()
}

/// A kubeconfig that authenticates with `token` only (no client certificate).
fn token_kubeconfig(t: &Tke, name: &str, token: &str) -> std::path::PathBuf {
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
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// Whether output shows a password value (managedFields may name the field, never its value).
fn shows_password(out: &str) -> bool {
    out.contains("$argon2")
        || out.contains("\"hashedPassword\": \"")
        || out.contains("\"hashedPassword\":\"")
        || out.contains("hashedPassword: ")
}

fn decode_claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

#[test]
fn administrator_logs_in_and_uses_kubectl_with_the_id_token() {
    let t = Tke::start();
    let file = t.data_dir().join("admin-password");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let password = admin_password(&t);
    assert!(password.len() >= 20);
    assert!(!t.log().contains(&password), "the password is never logged");

    // Discovery and keys.
    let (code, body) = t.curl(&[&format!("{}/oidc/.well-known/openid-configuration", t.url)]);
    assert_eq!(code, 200, "{body}");
    let discovery: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(discovery["issuer"], format!("{}/oidc", t.url));
    assert_eq!(discovery["id_token_signing_alg_values_supported"], json!(["ES256"]));
    let (code, body) = t.curl(&[discovery["jwks_uri"].as_str().unwrap()]);
    assert_eq!(code, 200);
    let jwks: Value = serde_json::from_str(&body).unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1, "{jwks}");
    assert_eq!((keys[0]["kty"].as_str(), keys[0]["crv"].as_str()), (Some("EC"), Some("P-256")));
    assert!(keys[0].get("d").is_none(), "the private key is not published");

    // The password grant gives an ID token with TKEStack's claims.
    let (code, answer) = password_grant(&t, "default", "admin", &password);
    assert_eq!(code, 200, "{answer}");
    let token = answer["id_token"].as_str().unwrap().to_string();
    let claims = decode_claims(&token);
    assert_eq!(claims["name"], "admin");
    assert_eq!(claims["iss"], format!("{}/oidc", t.url));
    assert_eq!(claims["aud"], "default");
    assert_eq!(claims["federated_claims"]["connector_id"], "default");
    assert_eq!(claims["preferred_username"], "Administrator");

    // kubectl with only the token: the administrator sees everything.
    let kc = token_kubeconfig(&t, "admin", &token);
    let (ok, out) = kubectl_as(&kc, &["get", "identityproviders", "-o", "name"]);
    assert!(ok, "{out}");
    assert!(out.contains("identityprovider.auth.tkestack.io/default"), "{out}");
    let (ok, out) = kubectl_as(&kc, &["get", "clusters"]);
    assert!(ok, "{out}");

    // Passwords are never shown, not in get, list or watch.
    let (ok, out) = kubectl_as(&kc, &["get", "localidentities", "-o", "json"]);
    assert!(ok, "{out}");
    assert!(!shows_password(&out), "{out}");
    assert!(out.contains("\"username\": \"admin\""), "{out}");
    let (ok, out) = kubectl_as(&kc, &["get", "usr", "usr-admin", "-o", "yaml"]);
    assert!(ok && !shows_password(&out), "{out}");
    let (ok, out) =
        kubectl_as(&kc, &["get", "usr", "--watch", "--output-watch-events", "-o", "json", "--request-timeout=2s"]);
    assert!(out.contains("usr-admin") && !shows_password(&out), "{ok} {out}");

    // A wrong password, an unknown user and an unknown tenant all get the same answer.
    for (tenant, user, pw) in
        [("default", "admin", "wrong-password"), ("default", "nobody", "x"), ("nowhere", "admin", "x")]
    {
        let (code, answer) = password_grant(&t, tenant, user, pw);
        assert_eq!((code, answer["error"].as_str()), (400, Some("invalid_grant")), "{answer}");
    }

    // Forged tokens: a changed payload, the signature of another token, `alg: none`, HS256.
    let parts: Vec<&str> = token.split('.').collect();
    let mut forged_claims = claims.clone();
    forged_claims["name"] = json!("mallory");
    let forged_payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(forged_claims.to_string());
    let header_of = |alg: &str| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(json!({"alg": alg, "typ": "JWT", "kid": keys[0]["kid"]}).to_string())
    };
    for bad in [
        format!("{}.{}.{}", parts[0], forged_payload, parts[2]),
        format!("{}.{}.", header_of("none"), parts[1]),
        format!("{}.{}.{}", header_of("HS256"), parts[1], parts[2]),
        format!("{}.{}.{}", parts[0], parts[1], "AAAA"),
    ] {
        let kc = token_kubeconfig(&t, "forged", &bad);
        let (ok, out) = kubectl_as(&kc, &["get", "clusters"]);
        assert!(!ok && out.contains("Unauthorized"), "{bad}: {out}");
    }
}

#[test]
fn local_users_log_in_are_locked_out_after_five_failures_and_see_their_tenant_only() {
    let t = Tke::start();
    let password = "correct horse battery";
    let encoded = base64::engine::general_purpose::STANDARD.encode(password);
    let user = json!({"apiVersion": "auth.tkestack.io/v1", "kind": "LocalIdentity", "metadata": {"name": "usr-alice"},
        "spec": {"username": "alice", "displayName": "Alice", "email": "alice@example.org", "hashedPassword": encoded,
            "extra": {"platformadmin": "true"}}});
    let out = t.kubectl_with(&["create", "-f", "-", "-o", "json"], &[], Some(&user.to_string()));
    let created = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!shows_password(&created) && !created.contains(&encoded), "{created}");
    // The stored form is a hash, and kubectl's last-applied copy holds no password either.
    let applied = json!({"apiVersion": "auth.tkestack.io/v1", "kind": "LocalIdentity", "metadata": {"name": "usr-bob"},
        "spec": {"username": "bob", "hashedPassword": base64::engine::general_purpose::STANDARD.encode("bobs password")}});
    let out = t.kubectl_with(&["apply", "-f", "-"], &[], Some(&applied.to_string()));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let shown = t.kubectl_ok(&["get", "usr", "usr-bob", "-o", "json"]);
    assert!(shown.contains("last-applied-configuration") && !shown.contains("hashedPassword\\\":"), "{shown}");
    assert!(!shows_password(&shown), "{shown}");
    // A too-short password is refused with a field error and nothing stored.
    let short = json!({"apiVersion": "auth.tkestack.io/v1", "kind": "LocalIdentity", "metadata": {"name": "usr-carol"},
        "spec": {"username": "carol", "hashedPassword": base64::engine::general_purpose::STANDARD.encode("short")}});
    let out = t.kubectl_with(&["create", "-f", "-"], &[], Some(&short.to_string()));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("spec.hashedPassword") && err.contains("at least 8"), "{err}");

    let (code, answer) = password_grant(&t, "default", "alice", password);
    assert_eq!(code, 200, "{answer}");
    let token = answer["id_token"].as_str().unwrap().to_string();
    let kc = token_kubeconfig(&t, "alice", &token);
    // Alice was created by an administrator with platformadmin, so she is one.
    let (ok, out) = kubectl_as(&kc, &["get", "usr", "-o", "name"]);
    assert!(ok && out.contains("usr-bob"), "{out}");

    // Five failures lock her out; even the right password is refused then, with the reason.
    for _ in 0..5 {
        let (code, _) = password_grant(&t, "default", "alice", "not her password");
        assert_eq!(code, 400);
    }
    let locked = t.kubectl_ok(&["get", "usr", "usr-alice", "-o", "jsonpath={.status.locked} {.status.lockedUntil}"]);
    assert!(locked.starts_with("true 20"), "{locked}");
    let (code, answer) = password_grant(&t, "default", "alice", password);
    assert_eq!(code, 400);
    assert!(answer["error_description"].as_str().unwrap().contains("locked"), "{answer}");
    // An administrator unlocks her.
    t.kubectl_ok(&[
        "patch",
        "usr",
        "usr-alice",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"locked":false,"lockedUntil":null,"failedLogins":0}}"#,
    ]);
    let (code, answer) = wait_for("the unlock to be seen", Duration::from_secs(10), || {
        let r = password_grant(&t, "default", "alice", password);
        (r.0 == 200).then_some(r)
    });
    assert_eq!(code, 200, "{answer}");

    // Deleting a user ends her tokens at once.
    t.kubectl_ok(&["delete", "usr", "usr-alice"]);
    wait_for("the token to be refused", Duration::from_secs(10), || {
        let (ok, out) = kubectl_as(&kc, &["get", "clusters"]);
        (!ok && out.contains("Unauthorized")).then_some(())
    });
}

#[test]
fn two_replicas_on_etcd_share_keys_and_users() {
    let etcd = testkit::etcd::Etcd::start();
    let storage = Storage::Etcd(etcd.endpoints());
    // Replicas behind one address share its issuer.
    let args = ["--platform-controllers", "false", "--oidc-issuer-url", "https://tke.example.org/oidc"];
    let a = Tke::start_with(tke_binary(), storage.clone(), &args);
    let b = Tke::start_with(tke_binary(), storage, &args);
    // The first replica made the administrator; the second's file does not match and says so.
    let password = admin_password(&a);
    assert!(b.log().contains("differs from this file"), "{}", b.log());
    let (code, answer) = password_grant(&b, "default", "admin", &password);
    assert_eq!(code, 200, "{answer}");
    let token = answer["id_token"].as_str().unwrap();
    // One key for both, and a token from one replica works on the other.
    let (_, ja) = a.curl(&[&format!("{}/oidc/keys", a.url)]);
    let (_, jb) = b.curl(&[&format!("{}/oidc/keys", b.url)]);
    assert_eq!(ja, jb);
    let kc = token_kubeconfig(&a, "admin", token);
    let (ok, out) = kubectl_as(&kc, &["get", "usr", "usr-admin", "-o", "name"]);
    assert!(ok, "{out}");
}

#[test]
fn api_keys_work_for_kubectl_and_skopeo_and_stop_when_disabled() {
    let t = Tke::start();
    let password = admin_password(&t);
    let (_, answer) = password_grant(&t, "default", "admin", &password);
    let id_token = answer["id_token"].as_str().unwrap().to_string();

    // For the caller, with their ID token.
    let (code, body) = t.curl(&[
        "-X",
        "POST",
        "-H",
        &format!("Authorization: Bearer {id_token}"),
        "-H",
        "Content-Type: application/json",
        "--data",
        r#"{"expire":"1h","description":"ci"}"#,
        &format!("{}/apis/auth.tkestack.io/v1/apikeys/default/token", t.url),
    ]);
    assert_eq!(code, 201, "{body}");
    let key: Value = serde_json::from_str(&body).unwrap();
    let api_key = key["spec"]["apiKey"].as_str().expect("the token, shown once").to_string();
    let name = key["metadata"]["name"].as_str().unwrap().to_string();
    assert_eq!(key["spec"]["username"], "admin");
    let claims = decode_claims(&api_key);
    assert_eq!((claims["usr"].as_str(), claims["ted"].as_str()), (Some("admin"), Some("default")));

    // With a username and password, without logging in; a wrong password is a 401.
    let request = json!({"tenantID": "default", "username": "admin",
        "password": base64::engine::general_purpose::STANDARD.encode(&password), "expire": "30m"});
    let url = format!("{}/apis/auth.tkestack.io/v1/apikeys/default/password", t.url);
    let (code, body) =
        t.curl(&["-X", "POST", "-H", "Content-Type: application/json", "--data", &request.to_string(), &url]);
    assert_eq!(code, 201, "{body}");
    let mut wrong = request.clone();
    wrong["password"] = json!(base64::engine::general_purpose::STANDARD.encode("not the password"));
    let (code, body) =
        t.curl(&["-X", "POST", "-H", "Content-Type: application/json", "--data", &wrong.to_string(), &url]);
    assert_eq!(code, 401, "{body}");
    // Without a caller, the token route is closed.
    let (code, _) =
        t.curl(&["-X", "POST", "--data", "{}", &format!("{}/apis/auth.tkestack.io/v1/apikeys/default/token", t.url)]);
    assert_eq!(code, 401);

    // kubectl with the key; reads never show it again.
    let kc = token_kubeconfig(&t, "apikey", &api_key);
    let (ok, out) = kubectl_as(&kc, &["get", "apikeys", "-o", "json"]);
    assert!(ok, "{out}");
    assert!(out.contains(&name) && !out.contains(&api_key) && !out.contains("\"apiKey\":"), "{out}");

    // skopeo logs in to the registry with the key as the password.
    let host = t.url.trim_start_matches("https://").to_string();
    let cert_dir = t.data_dir().join("registry-ca");
    let authfile = t.data_dir().join("skopeo-auth.json");
    let login = |user: &str, secret: &str| {
        Command::new("skopeo")
            .args(["login", "--authfile"])
            .arg(&authfile)
            .arg("--cert-dir")
            .arg(&cert_dir)
            .args(["-u", user, "-p", secret, &host])
            .output()
            .expect("skopeo")
    };
    let out = login("admin", &api_key);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = login("admin", &password);
    assert!(
        out.status.success(),
        "the administrator's password works for the registry too: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = login("admin", "wrong-password");
    assert!(!out.status.success());

    // Disabled: refused at once, by kubectl and by the registry.
    t.kubectl_ok(&[
        "patch",
        "apikey",
        &name,
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"disabled":true}}"#,
    ]);
    wait_for("the disabled key to be refused", Duration::from_secs(10), || {
        let (ok, out) = kubectl_as(&kc, &["get", "clusters"]);
        (!ok && out.contains("Unauthorized")).then_some(())
    });
    assert!(!login("admin", &api_key).status.success());
}

#[test]
fn a_source_address_with_too_many_failures_is_blocked_for_everyone_it_tries() {
    let t = Tke::start();
    let password = admin_password(&t);
    // Guessing across many usernames: each guess fails the same way...
    for i in 0..20 {
        let (code, answer) = password_grant(&t, "default", &format!("guess{i}"), "password1");
        assert_eq!(code, 400, "{answer}");
    }
    // ...until the address is blocked, even for a right password, with the reason.
    let (code, answer) = password_grant(&t, "default", "admin", &password);
    assert_eq!(code, 429, "{answer}");
    assert!(
        answer["error_description"].as_str().unwrap().contains("too many failed logins from this address"),
        "{answer}"
    );
    // The accounts themselves are not locked: the administrator was never guessed.
    let locked = t.kubectl_ok(&["get", "usr", "usr-admin", "-o", "jsonpath={.status.locked}"]);
    assert_eq!(locked, "false");
}
