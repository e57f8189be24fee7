//! Request-header authentication against the real `tke up`: a front proxy with a certificate
//! of the `--requestheader-client-ca-file` CA names the user in `X-Remote-User`, `-Group` and
//! `-Extra-*`; the same headers from anyone else mean nothing, a proxy whose name is not
//! allowed is refused, and the proxy's certificate never makes its holder a user itself.

use serde_json::Value;
use testkit::{
    pki::Ca,
    tke::{Storage, Tke, tke_binary},
};

/// Who the server says the caller is (SelfSubjectReview), or the HTTP status.
fn whoami(t: &Tke, cert: Option<&(String, String)>, headers: &[&str]) -> Result<Value, u16> {
    let mut args: Vec<String> = vec!["-X".into(), "POST".into(), "-H".into(), "Content-Type: application/json".into()];
    if let Some((c, k)) = cert {
        args.extend(["--cert".into(), c.clone(), "--key".into(), k.clone()]);
    }
    for h in headers {
        args.extend(["-H".into(), (*h).into()]);
    }
    args.extend([
        "--data".into(),
        r#"{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}"#.into(),
        format!("{}/apis/authentication.k8s.io/v1/selfsubjectreviews", t.url),
    ]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, body) = t.curl_json(&refs);
    if code == 0 {
        eprintln!("{body}");
    }
    if code == 201 || code == 200 { Ok(body["status"]["userInfo"].clone()) } else { Err(code) }
}

#[test]
fn a_front_proxy_names_the_user_and_nobody_else_can() {
    let dir = tempfile::tempdir().expect("dir");
    let ca = Ca::new(dir.path());
    let ca_file = dir.path().join("ca.crt").display().to_string();
    let t = Tke::start_with(
        tke_binary(),
        Storage::Embedded,
        &["--requestheader-client-ca-file", &ca_file, "--requestheader-allowed-names", "front-proxy"],
    );
    let proxy = ca.client("front-proxy");
    let headers = ["X-Remote-User: alice", "X-Remote-Group: team-a, team-b", "X-Remote-Extra-Scopes%2fOne: read"];

    let user = whoami(&t, Some(&proxy), &headers).expect("the proxy's user is authenticated");
    assert_eq!(user["username"], "alice", "{user}");
    let groups: Vec<&str> = user["groups"].as_array().expect("groups").iter().filter_map(Value::as_str).collect();
    assert_eq!(groups, ["team-a", "team-b", "system:authenticated"], "the certificate's organization is not a group");
    assert_eq!(user["extra"]["scopes/one"], serde_json::json!(["read"]), "{user}");

    // Without the proxy's certificate the headers are nobody's word.
    assert_eq!(whoami(&t, None, &headers), Err(401));
    // A certificate of the proxy CA with another name is not an allowed proxy...
    let other = ca.client("someone-else");
    assert_eq!(whoami(&t, Some(&other), &headers), Err(401));
    // ...and no proxy certificate is a user of its own, whatever it says.
    assert_eq!(whoami(&t, Some(&proxy), &[]), Err(401));
    assert_eq!(whoami(&t, Some(&other), &[]), Err(401));
    // The platform's own client certificates still work.
    let admin = (
        t.data_dir().join("pki").join("admin.crt").display().to_string(),
        t.data_dir().join("pki").join("admin.key").display().to_string(),
    );
    let admin = whoami(&t, Some(&admin), &["X-Remote-User: mallory"]).expect("the admin");
    assert_ne!(admin["username"], "mallory", "{admin}");
}
