//! Without credentials, every route of the real `tke up` answers 401 except the documented
//! allow-list (README, "Configuration"): health, version and discovery; the OpenID provider's
//! discovery, keys, login pages and token endpoint; the API-key password route; the registry's
//! token endpoint and its anonymous pulls of public repositories. The walk covers every
//! resource and subresource the server's discovery lists, in every verb, and the routes that
//! are not resources.

use std::process::Command;

use serde_json::Value;
use testkit::tke::Tke;

fn status(t: &Tke, method: &str, path: &str) -> u16 {
    let out = Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
        .arg(t.ca_file())
        // HTTP/1.1: over HTTP/2 curl reports the stream reset that follows an answer given
        // before the request body was read as a failure (status 0) instead of the answer.
        .args(["--http1.1", "-X", method])
        .args(if method == "GET" {
            vec![]
        } else {
            vec!["-H", "Content-Type: application/json", "--data-binary", "{}"]
        })
        .arg(format!("{}{path}", t.url))
        .output()
        .expect("curl");
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap_or(0)
}

/// What may answer without credentials, and how.
fn allowed_anonymously(method: &str, path: &str) -> bool {
    let get = method == "GET";
    let discovery = {
        let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
        matches!(segs.as_slice(), ["api"] | ["api", _] | ["apis"] | ["apis", _] | ["apis", _, _])
    };
    let open_get = discovery
        || path.starts_with("/openapi/v3")
        || matches!(
            path,
            "/healthz"
                | "/livez"
                | "/readyz"
                | "/version"
                | "/openapi/v2"
                | "/oidc/.well-known/openid-configuration"
                | "/oidc/keys"
                | "/oidc/auth"
                | "/oidc/auth/lang"
                | "/oidc/auth/upstream"
                | "/oidc/callback"
                | "/oidc/logout"
                | "/oidc/static/login.css"
                | "/oidc/userinfo"
                | "/registry/auth"
                | "/v2/"
        );
    let open_post = matches!(
        path,
        "/oidc/token"
            | "/oidc/revoke"
            | "/oidc/auth/login"
            | "/oidc/userinfo"
            | "/apis/auth.tkestack.io/v1/apikeys/default/password"
    );
    (get && open_get) || (method == "POST" && open_post)
}

#[test]
fn every_route_but_the_allow_list_needs_credentials() {
    let t = Tke::start();
    let mut paths: Vec<(String, String)> = vec![];
    let groups: Value = serde_json::from_str(&t.kubectl_ok(&["get", "--raw", "/apis"])).unwrap();
    let mut versions = vec![];
    for g in groups["groups"].as_array().unwrap() {
        for v in g["versions"].as_array().unwrap() {
            versions.push(format!("/apis/{}", v["groupVersion"].as_str().unwrap()));
        }
    }
    for base in &versions {
        let list: Value = serde_json::from_str(&t.kubectl_ok(&["get", "--raw", base])).unwrap();
        for r in list["resources"].as_array().unwrap() {
            let name = r["name"].as_str().unwrap();
            let namespaced = r["namespaced"].as_bool().unwrap_or(false);
            let prefix = if namespaced { format!("{base}/namespaces/default") } else { base.clone() };
            let path = match name.split_once('/') {
                Some((res, sub)) => format!("{prefix}/{res}/x/{sub}"),
                None => format!("{prefix}/{name}"),
            };
            for verb in r["verbs"].as_array().unwrap() {
                let method = match verb.as_str().unwrap() {
                    "get" | "list" | "watch" => "GET",
                    "create" => "POST",
                    "update" => "PUT",
                    "patch" => "PATCH",
                    "delete" | "deletecollection" => "DELETE",
                    _ => continue,
                };
                paths.push((method.into(), path.clone()));
                if !name.contains('/') && matches!(method, "GET" | "PUT" | "PATCH" | "DELETE") {
                    paths.push((method.into(), format!("{path}/x")));
                }
            }
        }
        paths.push(("GET".into(), base.clone()));
    }
    assert!(paths.len() > 300, "discovery lists every resource: {}", paths.len());
    for (m, p) in [
        ("GET", "/healthz"),
        ("GET", "/version"),
        ("GET", "/apis"),
        ("GET", "/openapi/v2"),
        ("GET", "/metrics"),
        ("GET", "/debug/pprof"),
        ("GET", "/oidc/.well-known/openid-configuration"),
        ("GET", "/oidc/keys"),
        ("POST", "/oidc/token"),
        ("GET", "/oidc/userinfo"),
        ("POST", "/oidc/revoke"),
        ("GET", "/oidc/logout"),
        ("GET", "/oidc/auth"),
        ("POST", "/oidc/auth/login"),
        ("GET", "/oidc/callback"),
        ("POST", "/auth/authn"),
        ("POST", "/auth/authz"),
        ("POST", "/auth/restauthz"),
        ("POST", "/auth/batchauthz"),
        ("POST", "/apis/auth.tkestack.io/v1/apikeys/default/token"),
        ("POST", "/apis/auth.tkestack.io/v1/apikeys/default/password"),
        ("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews"),
        ("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"),
        ("GET", "/registry/auth"),
        ("GET", "/v2/"),
        ("GET", "/v2/_catalog"),
        ("GET", "/v2/team/app/tags/list"),
        ("GET", "/chart/api/team/charts"),
        ("GET", "/chart/team/index.yaml"),
        ("GET", "/apis/platform.tkestack.io/v1/clusters/cls-x/proxy/api/v1/pods"),
    ] {
        paths.push((m.into(), p.into()));
    }
    let mut wrong = vec![];
    for (method, path) in &paths {
        let code = status(&t, method, path);
        let open = allowed_anonymously(method, path);
        // Open routes may answer anything but must not be 5xx; closed ones must be 401.
        let ok = if open { code != 0 && code < 500 } else { code == 401 };
        if !ok {
            wrong.push(format!("{method} {path} -> {code}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} routes answer wrongly without credentials:\n{}",
        wrong.len(),
        paths.len(),
        wrong.join("\n")
    );
}
