//! The console's gateway in the real `tke up`, driven as a browser would (curl with a cookie
//! jar): a page without a session sends to the login at the platform's OpenID provider, the
//! callback writes the session cookies (the ID token hidden from scripts, a CSRF token the page
//! reads), the API accepts the session and refuses changes without the CSRF token, renewal
//! rotates both, logout revokes the refresh token and ends the provider's session.

use serde_json::{Value, json};
use testkit::{browser::Browser, tke::Tke};

const PREFIX: &str = "/apis/gateway.tkestack.io/v1";

/// Logs `b` in as the administrator through the console's login, returning where it landed.
fn log_in(t: &Tke, b: &Browser, start: &str) -> String {
    let password = std::fs::read_to_string(t.data_dir().join("admin-password")).unwrap().trim().to_string();
    let first = b.get(start);
    assert!(first.location().starts_with(&format!("{PREFIX}/tokens/redirect?return_to=")), "{}", first.location());
    let to_provider = b.follow(&first.location());
    let authorize = to_provider.location();
    assert!(authorize.starts_with(&format!("{}/oidc/auth?", t.url)), "{authorize}");
    assert!(authorize.contains("code_challenge_method=S256"), "{authorize}");
    let login_cookie =
        to_provider.set_cookies().into_iter().find(|c| c.starts_with("tke_login_")).expect("a login cookie");
    assert!(login_cookie.contains("HttpOnly") && login_cookie.contains("Path=/callback"), "{login_cookie}");

    let landed = b.console_login("admin", &password, start);
    assert_eq!(landed.status, 303, "{}", landed.body);
    let cookies = landed.set_cookies();
    let session = cookies.iter().find(|c| c.starts_with("tke=")).expect("the session cookie");
    for attr in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/"] {
        assert!(session.contains(attr), "{attr} in {session}");
    }
    let csrf_cookie = cookies.iter().find(|c| c.starts_with("tke_csrf=")).expect("the CSRF cookie");
    assert!(!csrf_cookie.contains("HttpOnly") && csrf_cookie.contains("SameSite=Strict"), "{csrf_cookie}");
    let refresh = cookies.iter().find(|c| c.starts_with("tke_refresh=")).expect("the refresh cookie");
    assert!(refresh.contains("HttpOnly") && refresh.contains("SameSite=Strict"), "{refresh}");
    landed.location()
}

fn json_of(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON: {body}"))
}

#[test]
fn login_session_csrf_renewal_and_logout() {
    let t = Tke::start();
    let b = Browser::new(&t, "console");
    let landed = log_in(&t, &b, "/tkestack/clusters?phase=Running");
    assert_eq!(landed, "/tkestack/clusters?phase=Running", "back where the user was going");

    let page = b.get("/tkestack/clusters");
    assert_eq!(page.status, 200);
    assert!(page.header("content-type").starts_with("text/html"), "{}", page.headers);
    let csp = page.header("content-security-policy");
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-eval") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );

    let info = b.get(&format!("{PREFIX}/tokens/info"));
    assert_eq!(info.status, 200, "{}", info.body);
    let info = json_of(&info.body);
    assert_eq!(info["name"], "admin", "{info}");
    assert!(info["groups"].as_array().unwrap().iter().any(|g| g == "system:masters"), "{info}");
    assert!(info["expiresAt"].as_i64().unwrap() > 0, "{info}");

    let sysinfo = json_of(&b.get(&format!("{PREFIX}/sysinfo")).body);
    for c in ["platform", "auth", "business", "registry", "monitor", "notify", "audit", "logagent"] {
        assert!(sysinfo[c]["groupName"].is_string(), "{c} in {sysinfo}");
    }
    assert!(sysinfo.get("mesh").is_none(), "{sysinfo}");

    // A change with the session cookie needs the CSRF token; reads do not.
    let cm = json!({"apiVersion": "platform.tkestack.io/v1", "kind": "ConfigMap", "metadata": {"name": "from-console"},
        "data": {"a": "b"}});
    let create = |extra: &[&str]| {
        let url = format!("{}/apis/platform.tkestack.io/v1/configmaps", t.url);
        let body = cm.to_string();
        let mut args = vec!["-X", "POST", "-H", "Content-Type: application/json", "--data", &body];
        args.extend_from_slice(extra);
        args.push(&url);
        b.request(&args)
    };
    let refused = create(&[]);
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(json_of(&refused.body)["message"].as_str().unwrap().contains("X-CSRF-Token"), "{}", refused.body);
    let wrong = create(&["-H", "X-CSRF-Token: guessed"]);
    assert_eq!(wrong.status, 403);
    let csrf = b.cookie("tke_csrf").expect("the CSRF cookie in the jar");
    let header = format!("X-CSRF-Token: {csrf}");
    let created = create(&["-H", &header]);
    assert_eq!(created.status, 201, "{}", created.body);
    let listed = b.get("/apis/platform.tkestack.io/v1/configmaps/from-console");
    assert_eq!(listed.status, 200, "{}", listed.body);

    // Renewal: needs the CSRF token, rotates the session and its CSRF token.
    let old_session = b.cookie("tke").unwrap();
    assert_eq!(b.request(&["-X", "POST", &format!("{}{PREFIX}/tokens/renew", t.url)]).status, 403);
    let renewed = b.request(&["-X", "POST", "-H", &header, &format!("{}{PREFIX}/tokens/renew", t.url)]);
    assert_eq!(renewed.status, 201, "{}", renewed.body);
    assert_eq!(json_of(&renewed.body)["name"], "admin");
    assert_ne!(b.cookie("tke").unwrap(), old_session);
    let stale = create(&["-H", &header]);
    assert_eq!(stale.status, 403, "the old CSRF token no longer matches: {}", stale.body);
    let old_refresh = b.cookie("tke_refresh").unwrap();

    // Logout: cookies deleted, refresh token revoked, the provider's session ended, then the
    // login. (curl 7.88's jar keeps some deleted cookies, so the browser's side of it is checked
    // in Chromium by the console's browser tests.)
    let out = b.get(&format!("{PREFIX}/logout"));
    assert_eq!(out.status, 303, "{}", out.body);
    assert!(out.location().starts_with(&format!("{}/oidc/logout?", t.url)), "{}", out.location());
    for name in ["tke=", "tke_csrf=", "tke_refresh="] {
        assert!(
            out.set_cookies().iter().any(|c| c.starts_with(&format!("{name};")) && c.contains("Max-Age=0")),
            "{name} cleared: {:?}",
            out.set_cookies()
        );
    }
    let reuse = b.post(
        "/oidc/token",
        &[("grant_type", "refresh_token"), ("client_id", "default"), ("refresh_token", &old_refresh)],
    );
    assert_eq!(reuse.status, 400, "the refresh token was revoked: {}", reuse.body);
    let ended = b.request(&[&out.location()]);
    assert_eq!(ended.status, 303, "{}", ended.body);
    assert!(ended.location().starts_with(&format!("{}/callback", t.url)), "{}", ended.location());
    let back = b.request(&[&ended.location()]);
    assert_eq!(back.location(), "/tkestack");
    // The provider asks for the password again (its session ended): the login form is shown.
    let again = b.get(&b.get(&format!("{PREFIX}/tokens/redirect")).location().replace(&t.url, ""));
    assert_eq!(again.status, 200, "{}", again.body);
    assert!(again.body.contains("name=\"password\""));
}

#[test]
fn login_does_not_return_elsewhere_and_rejects_forged_callbacks() {
    let t = Tke::start();
    let b = Browser::new(&t, "console");
    // A return address on another site is replaced by the console's home.
    let to_provider = b.get(&format!("{PREFIX}/tokens/redirect?return_to=https%3A%2F%2Fevil.example%2F"));
    assert_eq!(to_provider.status, 303);
    // A callback this browser did not start is refused with a page, not a session.
    let forged = b.get("/callback?code=abc&state=0123456789abcdef");
    assert_eq!(forged.status, 400, "{}", forged.body);
    assert!(forged.body.contains("Log in again"));
    assert!(forged.set_cookies().iter().all(|c| !c.starts_with("tke=")));
    // The provider's refusal is shown escaped.
    let refused = b.get("/callback?error=access_denied&error_description=%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E");
    assert_eq!(refused.status, 401);
    assert!(refused.body.contains("&lt;img src=x") && !refused.body.contains("<img"), "{}", refused.body);
    // A password login into a session (TKEStack's tokens route), and a wrong password.
    let password = std::fs::read_to_string(t.data_dir().join("admin-password")).unwrap().trim().to_string();
    let wrong = b.request(&["-X", "POST", "-u", "admin:nope", &format!("{}{PREFIX}/tokens", t.url)]);
    assert_eq!(wrong.status, 401, "{}", wrong.body);
    let ok = b.request(&["-X", "POST", "-u", &format!("admin:{password}"), &format!("{}{PREFIX}/tokens", t.url)]);
    assert_eq!(ok.status, 201, "{}", ok.body);
    assert_eq!(b.get(&format!("{PREFIX}/tokens/info")).status, 200);
    // The platform's CA, for the kubeconfigs the console hands out: public, and the one that
    // signed the serving certificate.
    let ca = b.request(&[&format!("{}{PREFIX}/cacert", t.url)]);
    assert_eq!(ca.status, 200);
    assert_eq!(ca.body.trim(), std::fs::read_to_string(t.ca_file()).unwrap().trim());
    // The OpenAPI alias of TKEStack's gateway.
    let alias = b.get("/tke-platform-api");
    assert_eq!((alias.status, alias.location().as_str()), (307, "/openapi/v2"));
}

#[test]
fn a_user_without_policies_still_uses_the_console_routes() {
    use base64::Engine;
    let t = Tke::start();
    let user = json!({"apiVersion": "auth.tkestack.io/v1", "kind": "LocalIdentity", "metadata": {"name": "usr-carol"},
        "spec": {"username": "carol", "tenantID": "default",
            "hashedPassword": base64::engine::general_purpose::STANDARD.encode("carols password")}});
    let out = t.kubectl_with(&["create", "-f", "-"], &[], Some(&user.to_string()));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let b = Browser::new(&t, "carol");
    let landed = b.console_login("carol", "carols password", "/tkestack");
    assert_eq!(landed.status, 303, "{}", landed.body);
    // Who they are, what runs, the platform's information and their own permissions: every
    // page asks these, so nobody needs a policy for them.
    let info = b.get(&format!("{PREFIX}/tokens/info"));
    assert_eq!(info.status, 200, "{}", info.body);
    assert_eq!(json_of(&info.body)["name"], "carol");
    assert_eq!(b.get(&format!("{PREFIX}/sysinfo")).status, 200);
    assert_eq!(b.get(&format!("{PREFIX}/platforminfo")).status, 200);
    let csrf = format!("X-CSRF-Token: {}", b.cookie("tke_csrf").unwrap());
    let review = json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
        "spec": {"resourceAttributesList": [{"verb": "create", "group": "platform.tkestack.io", "resource": "clusters"}]}});
    let body = review.to_string();
    let url = format!("{}/auth/batchauthz", t.url);
    let answer = b.request(&["-X", "POST", "-H", "Content-Type: application/json", "-H", &csrf, "--data", &body, &url]);
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(json_of(&answer.body)["status"]["allowedList"][0]["allowed"], false, "{}", answer.body);
    // And what they may not do stays refused.
    assert_eq!(b.get("/apis/platform.tkestack.io/v1/clusters").status, 403);
}
