//! The subresources of `auth.tkestack.io/v1` and the User/Group views in the real `tke up`
//! (build it first: `cargo build -p tke`), called with curl and ID tokens from the password
//! grant, as the console calls them: bindings of users and groups to local groups, policies,
//! roles and projects, the views of who is bound to what, password changes, and the refusals
//! (subjects of another tenant, unknown subjects, wrong scopes, a wrong current password,
//! objects of another tenant, writes to the views). A second test lists an LDAP tenant's
//! directory (a real slapd) through the views and binds its people.

use std::process::Command;

use base64::Engine;
use serde_json::{Value, json};
use testkit::{
    slapd::{self, Slapd},
    tke::Tke,
};

const API: &str = "/apis/auth.tkestack.io/v1";

/// A request with curl; returns the status and the JSON answer (or the text as a string).
fn call(t: &Tke, token: &str, method: &str, path: &str, body: Option<&Value>, headers: &[&str]) -> (u16, Value) {
    let mut cmd = Command::new("curl");
    // HTTP/1.1: the generic server refuses a subresource of an object the caller cannot see
    // before reading the request body, and over HTTP/2 curl then sometimes reports the stream
    // reset that follows instead of the answer (curl error 92).
    cmd.args(["-sS", "--http1.1", "--cacert"]).arg(t.ca_file()).args(["-o", "-", "-w", "\n%{http_code}", "-X", method]);
    cmd.args(["-H", &format!("Authorization: Bearer {token}")]);
    for h in headers {
        cmd.args(["-H", h]);
    }
    if let Some(b) = body {
        cmd.args(["-H", "Content-Type: application/json", "--data", &b.to_string()]);
    }
    cmd.arg(format!("{}{path}", t.url));
    let out = cmd.output().expect("curl must be installed");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    let code = code.trim().parse().unwrap_or(0);
    if code == 0 {
        // No answer at all: say what curl saw.
        return (0, Value::String(String::from_utf8_lossy(&out.stderr).into_owned()));
    }
    (code, serde_json::from_str(body).unwrap_or(Value::String(body.to_string())))
}

fn get(t: &Tke, token: &str, path: &str) -> (u16, Value) {
    call(t, token, "GET", path, None, &[])
}

fn post(t: &Tke, token: &str, path: &str, body: Value) -> (u16, Value) {
    call(t, token, "POST", path, Some(&body), &[])
}

/// The ID token of a password login.
fn login(t: &Tke, tenant: &str, username: &str, password: &str) -> Result<String, Value> {
    let out = Command::new("curl")
        .args(["-sS", "--cacert"])
        .arg(t.ca_file())
        .args(["-X", "POST", &format!("{}/oidc/token", t.url)])
        .args(["--data-urlencode", "grant_type=password", "--data-urlencode", "client_id=default"])
        .args(["--data-urlencode", &format!("tenant_id={tenant}")])
        .args(["--data-urlencode", &format!("username={username}")])
        .args(["--data-urlencode", &format!("password={password}")])
        .output()
        .expect("curl");
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    answer["id_token"].as_str().map(str::to_string).ok_or(answer)
}

fn admin_token(t: &Tke) -> String {
    let password = std::fs::read_to_string(t.data_dir().join("admin-password")).expect("admin-password");
    login(t, "default", "admin", password.trim()).expect("the administrator logs in")
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// Creates an object of the group as `token`; panics unless it is created.
fn create(t: &Tke, token: &str, plural: &str, obj: Value) -> Value {
    let (code, answer) = post(t, token, &format!("{API}/{plural}"), obj);
    assert_eq!(code, 201, "creating {plural}: {answer}");
    answer
}

fn local_user(t: &Tke, admin: &str, name: &str, username: &str, tenant: &str, password: &str) {
    create(
        t,
        admin,
        "localidentities",
        json!({"metadata": {"name": name}, "spec": {"username": username, "displayName": username.to_uppercase(),
            "tenantID": tenant, "hashedPassword": b64(password)}}),
    );
}

/// The `field` of each item of a list answer.
fn names(list: &Value, pointer: &str) -> Vec<String> {
    let mut v: Vec<String> = list["items"]
        .as_array()
        .unwrap_or_else(|| panic!("a list: {list}"))
        .iter()
        .map(|i| i.pointer(pointer).and_then(Value::as_str).unwrap_or_default().to_string())
        .collect();
    v.sort();
    v
}

/// Whether an answer shows a password or its hash.
fn shows_password(v: &Value) -> bool {
    // managedFields may name the field (`f:hashedPassword`), never hold its value.
    let text = v.to_string();
    text.contains("\"hashedPassword\":") || text.contains("$argon2") || text.contains("$2a$")
}

/// The field paths of an `Invalid` answer's causes.
fn causes(v: &Value) -> Vec<String> {
    v["details"]["causes"]
        .as_array()
        .map(|c| c.iter().map(|c| c["field"].as_str().unwrap_or_default().to_string()).collect())
        .unwrap_or_default()
}

fn policy(name: &str, scope: &str, tenant: &str) -> Value {
    json!({"metadata": {"name": name}, "spec": {"displayName": format!("{name} display"), "scope": scope,
        "tenantID": tenant, "category": "cluster",
        "statement": {"actions": ["get*"], "resources": ["*"], "effect": "allow"}}})
}

#[test]
fn bindings_views_and_password_changes() {
    let t = Tke::start();
    let admin = admin_token(&t);

    // Two tenants: default (alice, bob) and t2 (eve, its administrator).
    create(
        &t,
        &admin,
        "identityproviders",
        json!({"metadata": {"name": "t2"}, "spec": {"name": "Tenant two", "type": "tke", "administrators": ["eve"]}}),
    );
    local_user(&t, &admin, "usr-alice", "alice", "default", "alice password 1");
    local_user(&t, &admin, "usr-bob", "bob", "default", "bob password 1");
    local_user(&t, &admin, "usr-eve", "eve", "t2", "eve password 1");
    create(
        &t,
        &admin,
        "localgroups",
        json!({"metadata": {"name": "grp-ops"}, "spec": {"displayName": "Ops", "tenantID": "default"}}),
    );
    create(
        &t,
        &admin,
        "localgroups",
        json!({"metadata": {"name": "grp-t2"}, "spec": {"displayName": "T2 people", "tenantID": "t2"}}),
    );

    // ---- local groups: members -------------------------------------------------------
    let grp = format!("{API}/localgroups/grp-ops");
    let (code, answer) =
        post(&t, &admin, &format!("{grp}/binding"), json!({"users": [{"id": "usr-alice"}, {"name": "bob"}]}));
    assert_eq!(code, 201, "{answer}");
    assert_eq!(answer["kind"], "LocalGroup");
    assert_eq!(
        answer["status"]["users"],
        json!([{"id": "usr-alice", "name": "alice"}, {"id": "usr-bob", "name": "bob"}]),
        "ids and names are completed: {answer}"
    );
    // A user of another tenant, or nobody at all, is refused with the field of each.
    let (code, answer) = post(
        &t,
        &admin,
        &format!("{grp}/binding"),
        json!({"users": [{"id": "usr-alice"}, {"id": "usr-eve"}, {"name": "zed"}]}),
    );
    assert_eq!((code, answer["reason"].as_str()), (422, Some("Invalid")), "{answer}");
    assert_eq!(causes(&answer), ["users[1]", "users[2]"], "{answer}");
    assert!(answer["message"].as_str().unwrap().contains("no user \"usr-eve\" in tenant default"), "{answer}");
    let (code, answer) = post(&t, &admin, &format!("{grp}/binding"), json!({"users": []}));
    assert_eq!(code, 400, "{answer}");
    let (code, answer) = post(&t, &admin, &format!("{grp}/binding"), json!("not a binding"));
    assert_eq!(code, 400, "{answer}");
    let (code, answer) = get(&t, &admin, &format!("{grp}/binding"));
    assert_eq!(code, 405, "{answer}");
    let (code, answer) = get(&t, &admin, &format!("{grp}/users"));
    assert_eq!(code, 200, "{answer}");
    assert_eq!(answer["kind"], "UserList");
    assert_eq!(names(&answer, "/spec/name"), ["alice", "bob"]);
    assert!(!shows_password(&answer), "{answer}");
    let (code, answer) = post(&t, &admin, &format!("{grp}/unbinding"), json!({"users": [{"name": "bob"}]}));
    assert_eq!(code, 201, "{answer}");
    assert_eq!(answer["status"]["users"], json!([{"id": "usr-alice", "name": "alice"}]));
    let (code, answer) = get(&t, &admin, &format!("{API}/localidentities/usr-alice/groups"));
    assert_eq!(code, 200, "{answer}");
    assert_eq!(
        (answer["kind"].as_str(), names(&answer, "/metadata/name")),
        (Some("GroupList"), vec!["grp-ops".into()])
    );

    // ---- policies: platform-wide bindings ---------------------------------------------
    create(&t, &admin, "policies", policy("pol-view", "platform", "default"));
    create(&t, &admin, "policies", policy("pol-proj", "project", "default"));
    create(&t, &admin, "policies", policy("pol-t2", "platform", "t2"));
    let pol = format!("{API}/policies/pol-view");
    let (code, answer) = post(
        &t,
        &admin,
        &format!("{pol}/binding"),
        json!({"users": [{"id": "usr-alice"}], "groups": [{"id": "grp-ops"}]}),
    );
    assert_eq!(code, 201, "{answer}");
    assert_eq!(answer["status"]["users"], json!([{"id": "usr-alice", "name": "alice"}]));
    assert_eq!(answer["status"]["groups"], json!([{"id": "grp-ops", "name": "Ops"}]));
    let (code, answer) = post(&t, &admin, &format!("{pol}/binding"), json!({"groups": [{"id": "grp-t2"}]}));
    assert_eq!((code, causes(&answer)), (422, vec!["groups[0]".to_string()]), "{answer}");
    let (code, answer) =
        post(&t, &admin, &format!("{API}/policies/pol-proj/binding"), json!({"users": [{"id": "usr-alice"}]}));
    assert_eq!(code, 400, "a project policy is bound in projects: {answer}");
    assert!(answer["message"].as_str().unwrap().contains("projectbinding"), "{answer}");
    for (path, kind, want) in [
        (format!("{pol}/users"), "UserList", "alice"),
        (format!("{pol}/groups"), "GroupList", "Ops"),
        (format!("{API}/localidentities/usr-alice/policies"), "PolicyList", "pol-view"),
        (format!("{API}/localgroups/grp-ops/policies"), "PolicyList", "pol-view"),
        (format!("{API}/users/alice/policies"), "PolicyList", "pol-view"),
        (format!("{API}/groups/grp-ops/policies"), "PolicyList", "pol-view"),
    ] {
        let (code, answer) = get(&t, &admin, &path);
        assert_eq!((code, answer["kind"].as_str()), (200, Some(kind)), "{path}: {answer}");
        let text = answer["items"].to_string();
        assert!(answer["items"].as_array().unwrap().len() == 1 && text.contains(want), "{path}: {answer}");
        assert!(!shows_password(&answer), "{path}: {answer}");
    }
    let (code, answer) = post(&t, &admin, &format!("{pol}/unbinding"), json!({"groups": [{"id": "grp-ops"}]}));
    assert_eq!(code, 201, "{answer}");
    assert_eq!(answer["status"]["groups"], json!([]));
    assert_eq!(answer["status"]["users"].as_array().unwrap().len(), 1);

    // ---- roles ------------------------------------------------------------------------
    create(&t, &admin, "roles", json!({"metadata": {"name": "rol-a"}, "spec": {"displayName": "Role A"}}));
    let rol = format!("{API}/roles/rol-a");
    let (code, answer) = post(&t, &admin, &format!("{rol}/policybinding"), json!({"policies": ["pol-view"]}));
    assert_eq!(code, 201, "{answer}");
    assert_eq!(answer["spec"]["policies"], json!(["pol-view"]));
    let (code, answer) =
        post(&t, &admin, &format!("{rol}/policybinding"), json!({"policies": ["pol-view", "pol-none", "pol-t2"]}));
    assert_eq!((code, causes(&answer)), (422, vec!["policies[1]".into(), "policies[2]".into()]), "{answer}");
    let (code, answer) =
        post(&t, &admin, &format!("{rol}/binding"), json!({"users": [{"name": "bob"}], "groups": [{"name": "Ops"}]}));
    assert_eq!(code, 201, "{answer}");
    assert_eq!(answer["status"]["users"], json!([{"id": "usr-bob", "name": "bob"}]));
    assert_eq!(answer["status"]["groups"], json!([{"id": "grp-ops", "name": "Ops"}]), "a group named by display name");
    let (code, answer) = post(&t, &admin, &format!("{rol}/binding"), json!({"users": [{"id": "usr-eve"}]}));
    assert_eq!((code, causes(&answer)), (422, vec!["users[0]".into()]), "{answer}");
    for (path, want) in [
        (format!("{rol}/users"), vec!["bob"]),
        (format!("{rol}/policies"), vec!["pol-view"]),
        (format!("{pol}/roles"), vec!["rol-a"]),
        (format!("{API}/localidentities/usr-bob/roles"), vec!["rol-a"]),
        (format!("{API}/users/usr-bob/roles"), vec!["rol-a"]),
        (format!("{API}/localidentities/usr-alice/roles"), vec![]),
        (format!("{rol}/groups"), vec!["grp-ops"]),
        (format!("{API}/localgroups/grp-ops/roles"), vec!["rol-a"]),
        (format!("{API}/groups/Ops/roles"), vec!["rol-a"]),
    ] {
        let (code, answer) = get(&t, &admin, &path);
        assert_eq!(code, 200, "{path}: {answer}");
        let got = if path.ends_with("users") { names(&answer, "/spec/name") } else { names(&answer, "/metadata/name") };
        assert_eq!(got, want, "{path}: {answer}");
    }
    let (code, answer) = post(&t, &admin, &format!("{rol}/unbinding"), json!({"groups": [{"id": "grp-ops"}]}));
    assert_eq!(code, 201, "{answer}");
    assert_eq!(
        (answer["status"]["groups"].as_array().map(Vec::len), answer["status"]["users"].as_array().map(Vec::len)),
        (Some(0), Some(1))
    );
    let (code, answer) = post(&t, &admin, &format!("{rol}/policyunbinding"), json!({"policies": ["pol-view"]}));
    assert_eq!((code, &answer["spec"]["policies"]), (201, &json!([])), "{answer}");

    // ---- projects ---------------------------------------------------------------------
    create(&t, &admin, "projects", json!({"metadata": {"name": "prj-a"}, "tenantID": "default"}));
    create(&t, &admin, "projects", json!({"metadata": {"name": "prj-t2"}, "tenantID": "t2"}));
    let prj = format!("{API}/projects/prj-a");
    let (code, answer) =
        post(&t, &admin, &format!("{prj}/binding"), json!({"policies": ["pol-proj"], "users": [{"id": "usr-bob"}]}));
    assert_eq!(code, 201, "{answer}");
    assert_eq!(answer["kind"], "ProjectPolicyBindingList");
    assert_eq!(names(&answer, "/metadata/name"), ["prj-a-pol-proj"]);
    assert_eq!(answer["items"][0]["spec"]["users"], json!([{"id": "usr-bob", "name": "bob"}]));
    let (code, answer) = get(&t, &admin, &format!("{API}/projectpolicybindings/prj-a-pol-proj"));
    assert_eq!((code, answer["spec"]["projectID"].as_str()), (200, Some("prj-a")), "{answer}");
    let (code, answer) = post(
        &t,
        &admin,
        &format!("{prj}/binding"),
        json!({"policies": ["pol-view", "pol-none"], "users": [{"id": "usr-bob"}]}),
    );
    assert_eq!((code, causes(&answer)), (422, vec!["policies[0]".into(), "policies[1]".into()]), "{answer}");
    let (code, answer) = get(&t, &admin, &format!("{prj}/users"));
    assert_eq!(code, 200, "{answer}");
    assert_eq!(names(&answer, "/spec/name"), ["bob"]);
    let held: Value = serde_json::from_str(answer["items"][0]["spec"]["extra"]["policies"].as_str().unwrap()).unwrap();
    assert_eq!(held, json!({"pol-proj": "pol-proj display"}));
    let (_, answer) = get(&t, &admin, &format!("{prj}/policies"));
    assert_eq!(names(&answer, "/metadata/name"), ["pol-proj"]);
    let (_, answer) = get(&t, &admin, &format!("{API}/users/bob/projects"));
    assert_eq!(answer["kind"], "ProjectBelongs", "{answer}");
    assert_eq!(answer["memberdProjects"], json!({"prj-a": ["pol-proj"]}), "{answer}");
    assert_eq!(answer["managedProjects"], json!({}), "{answer}");

    // A policy bound in a project named by the console's header.
    let ppol = format!("{API}/policies/pol-proj");
    let (code, answer) = call(
        &t,
        &admin,
        "POST",
        &format!("{ppol}/projectbinding"),
        Some(&json!({"users": [{"name": "alice"}]})),
        &["X-TKE-ProjectName: prj-b"],
    );
    assert_eq!(code, 201, "{answer}");
    assert_eq!(
        (answer["kind"].as_str(), answer["metadata"]["name"].as_str()),
        (Some("ProjectPolicyBinding"), Some("prj-b-pol-proj"))
    );
    let (code, answer) = post(&t, &admin, &format!("{ppol}/projectbinding"), json!({"users": [{"name": "alice"}]}));
    assert_eq!(code, 400, "the project must be named: {answer}");
    let (code, answer) = call(
        &t,
        &admin,
        "POST",
        &format!("{pol}/projectbinding"),
        Some(&json!({"users": [{"name": "alice"}]})),
        &["X-TKE-ProjectName: prj-b"],
    );
    assert_eq!(code, 400, "a platform policy is not bound in projects: {answer}");
    let (code, answer) = call(
        &t,
        &admin,
        "POST",
        &format!("{ppol}/projectbinding"),
        Some(&json!({"users": [{"name": "alice"}]})),
        &["X-TKE-ProjectName: prj-t2"],
    );
    assert_eq!((code, answer["reason"].as_str()), (403, Some("Forbidden")), "a project of another tenant: {answer}");
    let (_, answer) = get(&t, &admin, &format!("{ppol}/projectusers"));
    assert_eq!(names(&answer, "/spec/name"), ["alice", "bob"]);
    let (_, answer) = call(&t, &admin, "GET", &format!("{ppol}/projectusers"), None, &["X-TKE-ProjectName: prj-b"]);
    assert_eq!(names(&answer, "/spec/name"), ["alice"]);
    let (code, answer) = call(
        &t,
        &admin,
        "POST",
        &format!("{ppol}/projectbinding"),
        Some(&json!({"groups": [{"id": "grp-ops"}]})),
        &["X-TKE-ProjectName: prj-b"],
    );
    assert_eq!(code, 201, "{answer}");
    let (_, answer) = get(&t, &admin, &format!("{ppol}/projectgroups"));
    assert_eq!(
        (answer["kind"].as_str(), names(&answer, "/metadata/name")),
        (Some("GroupList"), vec!["grp-ops".into()])
    );
    let (_, answer) = get(&t, &admin, &format!("{API}/localgroups/grp-ops/policies"));
    assert_eq!(names(&answer, "/metadata/name"), ["pol-proj"], "bound in a project: {answer}");
    let (code, answer) = call(
        &t,
        &admin,
        "POST",
        &format!("{ppol}/projectunbinding"),
        Some(&json!({"users": [{"name": "alice"}]})),
        &["X-TKE-ProjectName: prj-b"],
    );
    assert_eq!((code, &answer["spec"]["users"]), (201, &json!([])), "{answer}");
    let (code, answer) =
        post(&t, &admin, &format!("{prj}/unbinding"), json!({"policies": ["pol-proj"], "users": [{"id": "usr-bob"}]}));
    assert_eq!(code, 201, "{answer}");
    assert_eq!(answer["items"][0]["spec"]["users"], json!([]));
    let (_, answer) = get(&t, &admin, &format!("{API}/users/bob/projects"));
    assert_eq!(answer["memberdProjects"], json!({}), "{answer}");
    // The console sets what a member holds: the request's policies, and no others.
    create(&t, &admin, "policies", policy("pol-proj2", "project", "default"));
    let set = |policies: Value| {
        post(&t, &admin, &format!("{prj}/users"), json!({"policies": policies, "users": [{"name": "alice"}]}))
    };
    let (code, answer) = set(json!(["pol-proj", "pol-proj2"]));
    assert_eq!(code, 201, "{answer}");
    let (_, answer) = get(&t, &admin, &format!("{API}/users/alice/projects"));
    assert_eq!(answer["memberdProjects"], json!({"prj-a": ["pol-proj", "pol-proj2"]}), "{answer}");
    let (code, answer) = set(json!(["pol-proj2"]));
    assert_eq!(code, 201, "{answer}");
    let (_, answer) = get(&t, &admin, &format!("{prj}/users"));
    assert_eq!(names(&answer, "/spec/name"), ["alice"]);
    let held: Value = serde_json::from_str(answer["items"][0]["spec"]["extra"]["policies"].as_str().unwrap()).unwrap();
    assert_eq!(held, json!({"pol-proj2": "pol-proj2 display"}));
    let (code, answer) = set(json!(["pol-view"]));
    assert_eq!((code, causes(&answer)), (422, vec!["policies[0]".into()]), "{answer}");
    let (code, answer) =
        post(&t, &admin, &format!("{prj}/users"), json!({"policies": ["pol-proj"], "users": [{"id": "usr-eve"}]}));
    assert_eq!((code, causes(&answer)), (422, vec!["users[0]".into()]), "{answer}");

    // ---- the User and Group views -------------------------------------------------------
    let (code, answer) = get(&t, &admin, &format!("{API}/users"));
    assert_eq!((code, answer["kind"].as_str()), (200, Some("UserList")), "{answer}");
    assert_eq!(names(&answer, "/spec/name"), ["admin", "alice", "bob"], "the caller's tenant only");
    assert!(!shows_password(&answer), "{answer}");
    let (_, answer) = get(&t, &admin, &format!("{API}/users?fieldSelector=keyword%3Dali"));
    assert_eq!(names(&answer, "/spec/name"), ["alice"]);
    let (_, answer) = get(&t, &admin, &format!("{API}/users?keyword=o&limit=1"));
    assert_eq!(answer["items"].as_array().unwrap().len(), 1, "{answer}");
    let (_, answer) = get(&t, &admin, &format!("{API}/users?fieldSelector=spec.tenantID%3Dt2"));
    assert_eq!(names(&answer, "/spec/name"), ["eve"], "an administrator may look into another tenant");
    let (code, answer) = get(&t, &admin, &format!("{API}/users?fieldSelector=spec.phoneNumber%3D1"));
    assert_eq!(code, 400, "{answer}");
    let (code, answer) = get(&t, &admin, &format!("{API}/users/alice"));
    assert_eq!((code, answer["spec"]["id"].as_str()), (200, Some("usr-alice")), "{answer}");
    let (code, answer) = get(&t, &admin, &format!("{API}/users/usr-alice"));
    assert_eq!((code, answer["spec"]["name"].as_str()), (200, Some("alice")), "{answer}");
    let (code, answer) = get(&t, &admin, &format!("{API}/users/eve"));
    assert_eq!((code, answer["reason"].as_str()), (404, Some("NotFound")), "{answer}");
    let (code, answer) = get(&t, &admin, &format!("{API}/groups"));
    assert_eq!(code, 200, "{answer}");
    assert_eq!(names(&answer, "/metadata/name"), ["grp-ops"]);
    assert_eq!(answer["items"][0]["status"]["users"], json!([{"id": "usr-alice", "name": "alice"}]));
    let (code, answer) = post(&t, &admin, &format!("{API}/users"), json!({"metadata": {"name": "x"}}));
    assert_eq!((code, answer["reason"].as_str()), (405, Some("MethodNotAllowed")), "{answer}");
    let (code, _) = call(&t, &admin, "DELETE", &format!("{API}/groups/grp-ops"), None, &[]);
    assert_eq!(code, 405);
    // kubectl reads them as it reads any resource.
    let out = t.kubectl_ok(&["get", "users.auth.tkestack.io"]);
    assert!(out.contains("USERNAME") && out.contains("alice") && !out.contains("eve"), "{out}");
    let out = t.kubectl_ok(&["get", "groups.auth.tkestack.io", "grp-ops", "-o", "jsonpath={.spec.displayName}"]);
    assert_eq!(out.trim(), "Ops");
    let out = t.kubectl_ok(&["explain", "users.auth.tkestack.io.spec"]);
    assert!(out.contains("displayName") && out.contains("tenantID"), "{out}");
    let out = t.kubectl_ok(&["api-resources", "--api-group=auth.tkestack.io", "-o", "name"]);
    assert!(out.contains("users.auth.tkestack.io") && out.contains("groups.auth.tkestack.io"), "{out}");

    // ---- passwords ----------------------------------------------------------------------
    let alice = login(&t, "default", "alice", "alice password 1").expect("alice logs in");
    let pw = format!("{API}/localidentities/usr-alice/password");
    let put = |token: &str, body: Value| call(&t, token, "PUT", &pw, Some(&body), &[]);
    // Changing one's own password needs no policy, only the current password.
    let (code, answer) = put(&alice, json!({"hashedPassword": b64("alice password 2")}));
    assert_eq!((code, causes(&answer)), (422, vec!["originalPassword".into()]), "{answer}");
    // A policy about passwords changes nothing of that.
    let mut own = policy("pol-password", "platform", "default");
    own["spec"]["statement"] = json!({"actions": ["*LocalidentityPassword"], "resources": ["*"], "effect": "allow"});
    create(&t, &admin, "policies", own);
    let (code, answer) =
        post(&t, &admin, &format!("{API}/policies/pol-password/binding"), json!({"users": [{"name": "alice"}]}));
    assert_eq!(code, 201, "{answer}");
    let answer = testkit::tke::wait_for("alice's policy to apply", std::time::Duration::from_secs(20), || {
        let (code, answer) = put(&alice, json!({"hashedPassword": b64("alice password 2")}));
        (code != 403).then_some((code, answer))
    });
    assert_eq!((answer.0, causes(&answer.1)), (422, vec!["originalPassword".into()]), "{}", answer.1);
    let (code, answer) =
        put(&alice, json!({"hashedPassword": b64("alice password 2"), "originalPassword": b64("not it at all")}));
    assert_eq!((code, causes(&answer)), (422, vec!["originalPassword".into()]), "{answer}");
    assert!(answer["message"].as_str().unwrap().contains("wrong"), "{answer}");
    let (_, shown) = get(&t, &admin, &format!("{API}/localidentities/usr-alice"));
    assert_eq!(shown["status"]["failedLogins"], 1, "a wrong current password counts as a failed login: {shown}");
    let (code, answer) =
        put(&alice, json!({"hashedPassword": b64("short"), "originalPassword": b64("alice password 1")}));
    assert_eq!((code, causes(&answer)), (422, vec!["hashedPassword".into()]), "{answer}");
    let (code, answer) =
        put(&alice, json!({"hashedPassword": b64("alice password 2"), "originalPassword": b64("alice password 1")}));
    assert_eq!(code, 200, "{answer}");
    assert_eq!((answer["kind"].as_str(), answer["spec"]["username"].as_str()), (Some("LocalIdentity"), Some("alice")));
    assert!(!shows_password(&answer), "{answer}");
    assert!(answer["status"].get("failedLogins").is_none_or(|f| f == 0), "counters reset: {answer}");
    assert!(login(&t, "default", "alice", "alice password 1").is_err(), "the old password no longer works");
    login(&t, "default", "alice", "alice password 2").expect("the new one does");
    // A group bound to a policy gives its members the policy (alice is in Ops).
    let alice = login(&t, "default", "alice", "alice password 2").expect("alice logs in again");
    let (code, answer) = get(&t, &alice, &format!("{API}/users"));
    assert_eq!(code, 403, "{answer}");
    let mut readers = policy("pol-readers", "platform", "default");
    readers["spec"]["statement"] = json!({"actions": ["list*", "get*"], "resources": ["*"], "effect": "allow"});
    create(&t, &admin, "policies", readers);
    let (code, answer) =
        post(&t, &admin, &format!("{API}/policies/pol-readers/binding"), json!({"groups": [{"name": "Ops"}]}));
    assert_eq!(code, 201, "{answer}");
    let answer = testkit::tke::wait_for("the group's policy to apply", std::time::Duration::from_secs(20), || {
        let (code, answer) = get(&t, &alice, &format!("{API}/users"));
        (code == 200).then_some(answer)
    });
    assert_eq!(names(&answer, "/spec/name"), ["admin", "alice", "bob"]);
    // An administrator needs no current password (POST works as PUT).
    let (code, answer) = post(
        &t,
        &admin,
        &format!("{API}/localidentities/usr-bob/password"),
        json!({"hashedPassword": b64("bob password 2")}),
    );
    assert_eq!(code, 201, "{answer}");
    assert!(!shows_password(&answer), "{answer}");
    login(&t, "default", "bob", "bob password 2").expect("bob's new password works");
    let (code, _) = get(&t, &admin, &pw);
    assert_eq!(code, 405);

    // ---- tenancy --------------------------------------------------------------------------
    let eve = login(&t, "t2", "eve", "eve password 1").expect("eve logs in");
    let (code, answer) = get(&t, &eve, &format!("{API}/users"));
    assert_eq!(code, 200, "{answer}");
    assert_eq!(names(&answer, "/spec/name"), ["eve"]);
    let (code, answer) = get(&t, &eve, &format!("{API}/users?fieldSelector=spec.tenantID%3Ddefault"));
    assert_eq!((code, answer["reason"].as_str()), (403, Some("Forbidden")), "{answer}");
    let (code, _) = get(&t, &eve, &format!("{API}/users/alice"));
    assert_eq!(code, 404, "alice is not of eve's tenant");
    for (method, path, body) in [
        ("GET", format!("{grp}/users"), None),
        ("POST", format!("{grp}/binding"), Some(json!({"users": [{"id": "usr-eve"}]}))),
        ("POST", format!("{pol}/binding"), Some(json!({"users": [{"id": "usr-eve"}]}))),
        ("POST", format!("{rol}/binding"), Some(json!({"users": [{"id": "usr-eve"}]}))),
        ("POST", format!("{prj}/binding"), Some(json!({"policies": ["pol-proj"], "users": [{"id": "usr-eve"}]}))),
        (
            "PUT",
            format!("{API}/localidentities/usr-alice/password"),
            Some(json!({"hashedPassword": b64("taken over!")})),
        ),
        ("GET", format!("{API}/localidentities/usr-alice/policies"), None),
    ] {
        let (code, answer) = call(&t, &eve, method, &path, body.as_ref(), &[]);
        assert_eq!(code, 404, "{method} {path} of another tenant: {answer}");
    }
    // In her own tenant she binds her own people, and no one else.
    let (code, answer) =
        post(&t, &eve, &format!("{API}/localgroups/grp-t2/binding"), json!({"users": [{"id": "usr-eve"}]}));
    assert_eq!(code, 201, "{answer}");
    let (code, answer) =
        post(&t, &eve, &format!("{API}/localgroups/grp-t2/binding"), json!({"users": [{"id": "usr-alice"}]}));
    assert_eq!((code, causes(&answer)), (422, vec!["users[0]".into()]), "{answer}");
    // The administrator of her tenant changes passwords there without the current one.
    local_user(&t, &admin, "usr-frank", "frank", "t2", "frank password 1");
    let frank = login(&t, "t2", "frank", "frank password 1").expect("frank logs in");
    let frank_pw = format!("{API}/localidentities/usr-frank/password");
    let (code, answer) = call(
        &t,
        &frank,
        "PUT",
        &frank_pw,
        Some(&json!({"hashedPassword": b64("frank password 2"), "originalPassword": b64("frank password 1")})),
        &[],
    );
    assert_eq!(code, 200, "frank changes his own password without any policy: {answer}");
    login(&t, "t2", "frank", "frank password 2").expect("frank's new password works");
    let (code, answer) =
        call(&t, &eve, "PUT", &frank_pw, Some(&json!({"hashedPassword": b64("frank password 3")})), &[]);
    assert_eq!(code, 200, "{answer}");
    login(&t, "t2", "frank", "frank password 3").expect("the password eve set works");

    // Nothing is bound to an object being deleted (another finalizer keeps it meanwhile).
    let mut held = policy("pol-held", "platform", "default");
    held["metadata"]["finalizers"] = json!(["example.org/hold"]);
    create(&t, &admin, "policies", held);
    let (code, answer) = call(&t, &admin, "DELETE", &format!("{API}/policies/pol-held"), None, &[]);
    assert!(code == 200 || code == 202, "{answer}");
    let (code, answer) =
        post(&t, &admin, &format!("{API}/policies/pol-held/binding"), json!({"users": [{"id": "usr-bob"}]}));
    assert_eq!((code, answer["reason"].as_str()), (409, Some("Conflict")), "{answer}\n{}", t.log());
    assert!(answer["message"].as_str().unwrap().contains("being deleted"), "{answer}");
    assert!(!t.log().contains("alice password"), "passwords are never logged");
}

#[test]
fn an_ldap_tenant_is_listed_from_its_directory() {
    let mut ldif = vec![
        slapd::person("alice", "Alice Liddell", "alice@example.org", "wonderland-1"),
        slapd::person("bob", "Bob Builder", "bob@example.org", "can-we-fix-it"),
    ];
    ldif.push(slapd::group("ops", "Operations", &["alice", "bob"]));
    let directory = Slapd::start(&ldif.join("\n"));
    let t = Tke::start();
    let admin = admin_token(&t);
    let config = json!({
        "host": directory.host(), "insecureNoSSL": true, "bindDN": slapd::ADMIN_DN, "bindPW": slapd::ADMIN_PASSWORD,
        "userSearch": {"baseDN": format!("ou=people,{}", slapd::BASE_DN), "filter": "(objectClass=inetOrgPerson)",
            "username": "uid", "idAttr": "uid", "emailAttr": "mail", "nameAttr": "cn"},
        "groupSearch": {"baseDN": format!("ou=groups,{}", slapd::BASE_DN), "filter": "(objectClass=groupOfNames)",
            "userAttr": "DN", "groupAttr": "member", "nameAttr": "cn"}
    });
    create(
        &t,
        &admin,
        "identityproviders",
        json!({"metadata": {"name": "corp"}, "spec": {"name": "Corp", "type": "ldap", "config": config.to_string()}}),
    );
    let users = format!("{API}/users?fieldSelector=spec.tenantID%3Dcorp");
    let answer = testkit::tke::wait_for("the tenant to be known", std::time::Duration::from_secs(10), || {
        let (code, answer) = get(&t, &admin, &users);
        (code == 200).then_some(answer)
    });
    assert_eq!(names(&answer, "/spec/name"), ["alice", "bob"], "{answer}");
    assert_eq!(answer["items"][0]["spec"]["email"], "alice@example.org");
    let (_, answer) = get(&t, &admin, &format!("{users},keyword%3DBuild"));
    assert_eq!(names(&answer, "/spec/name"), ["bob"]);
    let (code, answer) = get(&t, &admin, &format!("{API}/users/alice?tenantID=corp"));
    assert_eq!((code, answer["spec"]["displayName"].as_str()), (200, Some("Alice Liddell")), "{answer}");
    let (code, _) = get(&t, &admin, &format!("{API}/users/nobody?tenantID=corp"));
    assert_eq!(code, 404);
    let (code, answer) = get(&t, &admin, &format!("{API}/groups?tenantID=corp"));
    assert_eq!(code, 200, "{answer}");
    assert_eq!(names(&answer, "/metadata/name"), ["ops"]);
    assert_eq!(names(&json!({"items": answer["items"][0]["status"]["users"]}), "/name"), ["alice", "bob"]);

    // Its people are bound by their directory names; someone not in the directory is refused.
    create(&t, &admin, "policies", policy("pol-corp", "platform", "corp"));
    let (code, answer) = post(
        &t,
        &admin,
        &format!("{API}/policies/pol-corp/binding"),
        json!({"users": [{"name": "alice"}], "groups": [{"name": "ops"}]}),
    );
    assert_eq!(code, 201, "{answer}");
    assert_eq!(answer["status"]["users"], json!([{"id": "alice", "name": "alice"}]));
    assert_eq!(answer["status"]["groups"], json!([{"id": "ops", "name": "ops"}]));
    let (code, answer) =
        post(&t, &admin, &format!("{API}/policies/pol-corp/binding"), json!({"users": [{"name": "mallory"}]}));
    assert_eq!((code, causes(&answer)), (422, vec!["users[0]".into()]), "{answer}");
    let (_, answer) = get(&t, &admin, &format!("{API}/users/alice/policies?tenantID=corp"));
    assert_eq!(names(&answer, "/metadata/name"), ["pol-corp"]);
    let (_, answer) = get(&t, &admin, &format!("{API}/groups/ops/policies?tenantID=corp"));
    assert_eq!(names(&answer, "/metadata/name"), ["pol-corp"]);
}
