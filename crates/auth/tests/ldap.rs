//! The LDAP identity provider against a real OpenLDAP (Debian's slapd, started by the test):
//! logins, group membership, listings by keyword, and the inputs that must never log anyone in.

use auth::ldap::{Directory, Error};
use testkit::slapd::{self, Slapd};

fn directory_of(slapd: &Slapd, bind_pw: &str) -> std::sync::Arc<Directory> {
    let config = serde_json::json!({
        "host": slapd.host(),
        "insecureNoSSL": true,
        "bindDN": slapd::ADMIN_DN,
        "bindPW": bind_pw,
        "usernamePrompt": "Company ID",
        "userSearch": {
            "baseDN": format!("ou=people,{}", slapd::BASE_DN),
            "filter": "(objectClass=inetOrgPerson)",
            "username": "uid",
            "idAttr": "uid",
            "emailAttr": "mail",
            "nameAttr": "cn"
        },
        "groupSearch": {
            "baseDN": format!("ou=groups,{}", slapd::BASE_DN),
            "filter": "(objectClass=groupOfNames)",
            "userAttr": "DN",
            "groupAttr": "member",
            "nameAttr": "cn"
        }
    });
    Directory::from_json(&config.to_string()).expect("a valid configuration")
}

fn company() -> Slapd {
    let mut ldif = vec![
        slapd::person("alice", "Alice Liddell", "alice@example.org", "wonderland-1"),
        slapd::person("bob", "Bob Builder", "bob@example.org", "can-we-fix-it"),
        slapd::person("carol", "Carol Danvers", "carol@example.org", "higher-further"),
    ];
    ldif.push(slapd::group("ops", "Operations", &["alice", "bob"]));
    ldif.push(slapd::group("devs", "Developers", &["alice"]));
    Slapd::start(&ldif.join("\n"))
}

#[tokio::test]
async fn a_user_logs_in_with_the_directory_password_and_gets_the_directory_groups() {
    let slapd = company();
    let dir = directory_of(&slapd, slapd::ADMIN_PASSWORD);
    assert_eq!(dir.username_prompt(), "Company ID");

    let (user, groups) = dir.login("alice", "wonderland-1").await.unwrap().expect("alice logs in");
    assert_eq!(user.username, "alice");
    assert_eq!(user.display_name, "Alice Liddell");
    assert_eq!(user.email, "alice@example.org");
    assert_eq!(user.dn, format!("uid=alice,ou=people,{}", slapd::BASE_DN));
    let mut names: Vec<_> = groups.iter().map(|g| g.name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["devs", "ops"]);

    let (_, groups) = dir.login("carol", "higher-further").await.unwrap().expect("carol logs in");
    assert!(groups.is_empty(), "carol is in no group: {groups:?}");
}

#[tokio::test]
async fn wrong_empty_and_forged_credentials_never_log_in() {
    let slapd = company();
    let dir = directory_of(&slapd, slapd::ADMIN_PASSWORD);
    for (user, password) in [
        ("alice", "wonderland-2"),
        ("alice", ""), // an unauthenticated bind "succeeds" on the server: refused before it
        ("nobody", "whatever"),
        ("*", "wonderland-1"), // a filter wildcard is escaped, so it matches no login name
        ("alice)(uid=*", "wonderland-1"),
        ("", "wonderland-1"),
    ] {
        assert!(dir.login(user, password).await.unwrap().is_none(), "{user:?} / {password:?} must not log in");
    }
    // Still fine after the refusals: the shared connection is intact.
    assert!(dir.login("bob", "can-we-fix-it").await.unwrap().is_some());
}

#[tokio::test]
async fn users_and_groups_are_listed_by_keyword_within_the_limit() {
    let slapd = company();
    let dir = directory_of(&slapd, slapd::ADMIN_PASSWORD);
    let mut all: Vec<_> = dir.search_users("", 0).await.unwrap().into_iter().map(|u| u.username).collect();
    all.sort();
    assert_eq!(all, ["alice", "bob", "carol"]);
    // By display name and by email.
    let by_name: Vec<_> = dir.search_users("build", 10).await.unwrap().into_iter().map(|u| u.username).collect();
    assert_eq!(by_name, ["bob"]);
    let by_mail: Vec<_> = dir.search_users("carol@", 10).await.unwrap().into_iter().map(|u| u.username).collect();
    assert_eq!(by_mail, ["carol"]);
    assert_eq!(dir.search_users("", 2).await.unwrap().len(), 2, "the limit holds");
    assert!(dir.search_users("*", 10).await.unwrap().is_empty(), "a typed * is a literal star");

    let groups = dir.search_groups("op", 10).await.unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].name, "ops");
    assert_eq!(groups[0].description, "Operations");
    let mut members = groups[0].members.clone();
    members.sort();
    assert_eq!(members, ["alice", "bob"]);
    assert_eq!(dir.find_user("bob").await.unwrap().map(|u| u.email).as_deref(), Some("bob@example.org"));
}

#[tokio::test]
async fn a_wrong_service_password_is_reported_as_such() {
    let slapd = company();
    let dir = directory_of(&slapd, "not-the-password");
    let err = dir.login("alice", "wonderland-1").await.expect_err("the service account cannot bind");
    assert!(matches!(err, Error::ServiceBind { .. }), "{err}");
    assert!(err.to_string().contains(slapd::ADMIN_DN), "{err}");
    assert!(!err.to_string().contains("not-the-password"), "the password is never in a message: {err}");
}

#[tokio::test]
async fn an_unreachable_directory_is_an_error_not_a_refusal() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let config = serde_json::json!({"host": format!("127.0.0.1:{port}"), "insecureNoSSL": true,
        "userSearch": {"baseDN": "dc=example,dc=org"}});
    let dir = Directory::from_json(&config.to_string()).unwrap();
    let err = dir.login("alice", "x").await.expect_err("nothing listens there");
    assert!(matches!(err, Error::Connect { .. }), "{err}");
}

/// An `ldap` tenant in the real `tke up` (build it first: `cargo build -p tke`): its people log
/// in with their directory passwords through the platform's token endpoint, their directory
/// groups are in the token, policies bound to a directory group apply to them, and the bind
/// password is never shown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ldap_tenant_logs_in_through_the_platform_and_its_groups_get_policies() {
    use std::process::Command;
    let slapd = company();
    let tke = tokio::task::spawn_blocking(testkit::tke::Tke::start).await.expect("tke up");
    let mut config: serde_json::Value = serde_json::from_str(&format!("{{\"host\": \"{}\"}}", slapd.host())).unwrap();
    config["insecureNoSSL"] = true.into();
    config["bindDN"] = slapd::ADMIN_DN.into();
    config["bindPW"] = slapd::ADMIN_PASSWORD.into();
    config["userSearch"] = serde_json::json!({"baseDN": format!("ou=people,{}", slapd::BASE_DN),
        "filter": "(objectClass=inetOrgPerson)", "username": "uid", "idAttr": "uid", "emailAttr": "mail", "nameAttr": "cn"});
    config["groupSearch"] = serde_json::json!({"baseDN": format!("ou=groups,{}", slapd::BASE_DN),
        "filter": "(objectClass=groupOfNames)", "userAttr": "DN", "groupAttr": "member", "nameAttr": "cn"});
    let idp = serde_json::json!({"apiVersion": "auth.tkestack.io/v1", "kind": "IdentityProvider", "metadata": {"name": "corp"},
        "spec": {"name": "Corp directory", "type": "ldap", "config": config.to_string()}});
    let out = tke.kubectl_with(&["create", "-f", "-"], &[], Some(&idp.to_string()));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let shown = tke.kubectl_ok(&["get", "idp", "corp", "-o", "json"]);
    assert!(!shown.contains(slapd::ADMIN_PASSWORD), "the bind password is never shown: {shown}");

    let grant = |user: &str, password: &str| {
        let out = Command::new("curl")
            .args(["-sS", "--cacert"])
            .arg(tke.ca_file())
            .args(["-X", "POST", &format!("{}/oidc/token", tke.url)])
            .args(["--data-urlencode", "grant_type=password", "--data-urlencode", "client_id=default"])
            .args(["--data-urlencode", "tenant_id=corp", "--data-urlencode", &format!("username={user}")])
            .args(["--data-urlencode", &format!("password={password}")])
            .output()
            .unwrap();
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    assert_eq!(grant("alice", "not-her-password")["error"], "invalid_grant");
    let answer = grant("alice", "wonderland-1");
    let token = answer["id_token"].as_str().unwrap_or_else(|| panic!("{answer}")).to_string();

    let kubeconfig = tke.data_dir().join("alice.kubeconfig");
    let kc = serde_json::json!({"apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "p", "cluster": {"server": tke.url, "certificate-authority": tke.ca_file()}}],
        "users": [{"name": "u", "user": {"token": token}}],
        "contexts": [{"name": "c", "context": {"cluster": "p", "user": "u"}}]});
    std::fs::write(&kubeconfig, kc.to_string()).unwrap();
    let kubectl = |args: &[&str]| {
        let out = Command::new("kubectl").env("KUBECONFIG", &kubeconfig).args(args).output().unwrap();
        (
            out.status.success(),
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
        )
    };
    let (ok, out) = kubectl(&["auth", "whoami", "-o", "json"]);
    assert!(ok, "{out}");
    let whoami: serde_json::Value = serde_json::from_str(&out).unwrap();
    let mut groups: Vec<String> =
        serde_json::from_value(whoami["status"]["userInfo"]["groups"].clone()).unwrap_or_default();
    groups.sort();
    assert!(groups.contains(&"devs".to_string()) && groups.contains(&"ops".to_string()), "{groups:?}");
    assert_eq!(whoami["status"]["userInfo"]["extra"]["tenantid"], serde_json::json!(["corp"]));

    // The directory group `ops` gets the tenant's read-only policy: alice may list clusters.
    let (ok, _) = kubectl(&["get", "clusters"]);
    assert!(!ok);
    let policy = "pol-corp-read-only-access";
    testkit::tke::wait_for("corp's default policies", std::time::Duration::from_secs(20), || {
        tke.kubectl(&["get", "policy", policy]).status.success().then_some(())
    });
    tke.kubectl_ok(&[
        "patch",
        "policy",
        policy,
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"groups":[{"id":"ops","name":"ops"}]}}"#,
    ]);
    testkit::tke::wait_for("alice to be let in through her group", std::time::Duration::from_secs(20), || {
        kubectl(&["get", "clusters"]).0.then_some(())
    });
}
