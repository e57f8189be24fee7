//! The browser login of the platform's OpenID provider in the real `tke up`, driven with curl
//! as a browser would (a cookie jar, form posts): authorization code with PKCE (S256), exact
//! redirect URIs (loopback on any port), the login form's anti-forgery value, single sign-on,
//! refresh-token rotation with reuse detection, logout, and escaped pages.

use base64::Engine;
use serde_json::{Value, json};
use testkit::{
    browser::{Browser, hidden, query_param},
    tke::Tke,
};

fn challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes()))
}

const REDIRECT: &str = "http://127.0.0.1:49999/callback";

fn authorize_path(redirect: &str, state: &str, challenge: &str) -> String {
    format!(
        "/oidc/auth?client_id=default&response_type=code&scope=openid%20offline_access&nonce=n-1&state={state}&code_challenge={challenge}&code_challenge_method=S256&redirect_uri={}",
        login_page_encode(redirect)
    )
}

fn login_page_encode(s: &str) -> String {
    serde_urlencoded::to_string([("v", s)]).unwrap()[2..].to_string()
}

fn token(b: &Browser, form: &[(&str, &str)]) -> (u16, Value) {
    let a = b.post("/oidc/token", form);
    (a.status, serde_json::from_str(&a.body).unwrap_or(Value::String(a.body)))
}

#[test]
fn code_flow_with_pkce_refresh_rotation_and_logout() {
    let t = Tke::start();
    let password = std::fs::read_to_string(t.data_dir().join("admin-password")).unwrap().trim().to_string();
    // A tenant whose display name is markup: the login page shows it as text.
    let idp = json!({"apiVersion": "auth.tkestack.io/v1", "kind": "IdentityProvider", "metadata": {"name": "xss"},
        "spec": {"name": "<img src=x onerror=alert(1)>", "type": "tke"}});
    let out = t.kubectl_with(&["create", "-f", "-"], &[], Some(&idp.to_string()));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let b = Browser::new(&t, "browser");
    let verifier = "a-verifier-of-at-least-43-characters-0123456789abcdef";
    let page = b.get(&authorize_path(REDIRECT, "st-1", &challenge(verifier)));
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.headers.to_ascii_lowercase().contains("content-security-policy: default-src 'none'"),
        "{}",
        page.headers
    );
    assert!(page.body.contains("&lt;img src=x onerror=alert(1)&gt;") && !page.body.contains("<img"), "{}", page.body);
    assert!(!page.body.contains("<script"), "no script on the login page");
    let (req, csrf) = (hidden(&page.body, "req"), hidden(&page.body, "csrf"));

    // The form without its anti-forgery value, or from a browser without the request cookie.
    let forged = b.post(
        "/oidc/auth/login",
        &[("req", &req), ("csrf", "guess"), ("tenant", "default"), ("username", "admin"), ("password", &password)],
    );
    assert_eq!(forged.status, 403, "{}", forged.body);
    let other = Browser::new(&t, "other");
    let stolen = other.post(
        "/oidc/auth/login",
        &[("req", &req), ("csrf", &csrf), ("tenant", "default"), ("username", "admin"), ("password", &password)],
    );
    assert_eq!(stolen.status, 403);
    // A wrong password shows the form again with a message, and the username kept.
    let wrong = b.post(
        "/oidc/auth/login",
        &[
            ("req", &req),
            ("csrf", &csrf),
            ("tenant", "default"),
            ("username", "admin"),
            ("password", "not-the-password"),
        ],
    );
    assert_eq!(wrong.status, 401);
    assert!(
        wrong.body.contains("Wrong tenant, username or password") && wrong.body.contains("value=\"admin\""),
        "{}",
        wrong.body
    );

    let done = b.post(
        "/oidc/auth/login",
        &[("req", &req), ("csrf", &csrf), ("tenant", "default"), ("username", "admin"), ("password", &password)],
    );
    assert_eq!(done.status, 303, "{}", done.body);
    let location = done.location();
    assert!(location.starts_with(REDIRECT), "{location}");
    assert_eq!(query_param(&location, "state").as_deref(), Some("st-1"));
    let code = query_param(&location, "code").expect("a code");

    // A wrong verifier, then another redirect URI, are refused; each attempt uses the code up.
    let (status, answer) = token(
        &b,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", "default"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", "wrong-verifier-wrong-verifier-wrong-verifier-0"),
        ],
    );
    assert_eq!((status, answer["error"].as_str()), (400, Some("invalid_grant")), "{answer}");
    let (status, _) = token(
        &b,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", "default"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier),
        ],
    );
    assert_eq!(status, 400, "a code is used once, also after a failed attempt");

    // Single sign-on: the session answers the next authorization at once.
    let sso = b.get(&authorize_path(REDIRECT, "st-2", &challenge(verifier)));
    assert_eq!(sso.status, 303, "{}", sso.body);
    let code = query_param(&sso.location(), "code").expect("a code");
    let (status, answer) = token(
        &b,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", "default"),
            ("code", &code),
            ("redirect_uri", "http://127.0.0.1:49999/callbacK"),
            ("code_verifier", verifier),
        ],
    );
    assert_eq!(status, 400, "{answer}");
    let sso = b.get(&authorize_path(REDIRECT, "st-3", &challenge(verifier)));
    let code = query_param(&sso.location(), "code").expect("a code");
    let (status, answer) = token(
        &b,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", "default"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier),
        ],
    );
    assert_eq!(status, 200, "{answer}");
    let id_token = answer["id_token"].as_str().unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(id_token.split('.').nth(1).unwrap()).unwrap(),
    )
    .unwrap();
    assert_eq!((claims["nonce"].as_str(), claims["name"].as_str()), (Some("n-1"), Some("admin")));
    let (status, _) = token(
        &b,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", "default"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier),
        ],
    );
    assert_eq!(status, 400, "a reused code is refused");

    // Refresh rotation; a token used twice revokes its whole family.
    let first = answer["refresh_token"].as_str().expect("offline_access gives a refresh token").to_string();
    let (status, answer) =
        token(&b, &[("grant_type", "refresh_token"), ("client_id", "default"), ("refresh_token", &first)]);
    assert_eq!(status, 200, "{answer}");
    let second = answer["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(first, second);
    let (status, answer) =
        token(&b, &[("grant_type", "refresh_token"), ("client_id", "default"), ("refresh_token", &first)]);
    assert_eq!(status, 400);
    assert!(answer["error_description"].as_str().unwrap().contains("used before"), "{answer}");
    let (status, _) =
        token(&b, &[("grant_type", "refresh_token"), ("client_id", "default"), ("refresh_token", &second)]);
    assert_eq!(status, 400, "the family is revoked");

    // An unregistered redirect URI is an error page, never a redirect.
    let bad = b.get(&authorize_path("https://evil.example/callback", "st-4", &challenge(verifier)));
    assert_eq!(bad.status, 400);
    assert!(bad.location().is_empty() && bad.body.contains("is not registered"), "{}", bad.body);
    // A public client without PKCE is sent back with an error.
    let no_pkce = b.get(&format!(
        "/oidc/auth?client_id=default&response_type=code&scope=openid&state=s&redirect_uri={}",
        login_page_encode(REDIRECT)
    ));
    assert_eq!(query_param(&no_pkce.location(), "error").as_deref(), Some("invalid_request"));

    // Logout ends the session: the next authorization shows the login page again.
    let out = b.get("/oidc/logout");
    assert_eq!(out.status, 200, "{}", out.body);
    let again = b.get(&authorize_path(REDIRECT, "st-5", &challenge(verifier)));
    assert_eq!(again.status, 200, "{}", again.body);
    assert!(again.body.contains("name=\"password\""));
    // The Chinese login page.
    let zh = b.get(&format!("{}&lang=zh", authorize_path(REDIRECT, "st-6", &challenge(verifier))));
    assert!(zh.body.contains("登录 TKEStack") && zh.body.contains("lang=\"zh-CN\""), "{}", zh.body);
}
