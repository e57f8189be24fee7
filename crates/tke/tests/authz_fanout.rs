//! `authz.tkestack.io/v1` against the real `tke up` and simulated business clusters: a
//! MultiClusterRoleBinding becomes a ClusterRole (the rules of its role's policies) and a
//! ClusterRoleBinding for the user in each listed cluster (`*` = every cluster of the tenant),
//! follows policy changes, leaves clusters dropped from the list, never touches objects it did
//! not make, reports unreachable and unknown clusters per cluster, and is revoked everywhere
//! before a deleted binding or role goes away.

use std::{future::Future, time::Duration};

use base64::Engine;
use k8s_openapi::api::{
    core::v1::Pod,
    rbac::v1::{ClusterRole, ClusterRoleBinding, RoleRef, Subject},
};
use kube::{Api, api::PostParams};
use serde_json::{Value, json};
use testkit::tke::{ExplainFailure, Tke};

const WAIT: Duration = Duration::from_secs(60);

/// Polls `check` every 100 ms until it gives a value; fails the test after `WAIT`.
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out after {WAIT:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The conditions of a binding as `cluster -> (status, reason)`.
fn grant_conditions(t: &Tke, name: &str) -> Vec<(String, String, String)> {
    t.get_json(&["multiclusterrolebindings.authz.tkestack.io", "-n", "default", name])
        .and_then(|b| b["status"]["conditions"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .map(|c| {
            let s = |k: &str| c[k].as_str().unwrap_or_default().to_string();
            (s("cluster"), s("status"), s("reason"))
        })
        .collect()
}

/// A client of `sim` acting as `user` (the admin certificate impersonating them), so the
/// cluster's authorizer decides for that user.
async fn as_user(sim: &kubesim::SimCluster, user: &str) -> kube::Client {
    let kc = kube::config::Kubeconfig::read_from(sim.kubeconfig_path()).expect("kubeconfig");
    let mut config =
        kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default()).await.expect("config");
    config.auth_info.impersonate = Some(user.to_string());
    kube::Client::try_from(config).expect("client")
}

/// The HTTP status of a refused call (0 when it succeeded or failed otherwise).
fn api_code<T>(r: Result<T, kube::Error>) -> u16 {
    match r {
        Err(kube::Error::Api(s)) => s.code,
        _ => 0,
    }
}

fn verbs(role: &ClusterRole) -> Vec<String> {
    role.rules.iter().flatten().flat_map(|r| r.verbs.clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bindings_fan_out_to_business_clusters_and_are_revoked() {
    let t = Tke::start();
    let _explain = ExplainFailure::new(&t).dumping(&["get", "mcrb", "-A", "-o", "yaml"]);
    // Cluster a authorizes by RBAC, as a real cluster: the grants really let the user in.
    let a = kubesim::SimCluster::start(kubesim::SimOptions { rbac: true, ..Default::default() })
        .await
        .expect("simulated cluster a");
    let b = kubesim::SimCluster::start(kubesim::SimOptions::default()).await.expect("simulated cluster b");
    import(&t, &a, "cls-a");
    import(&t, &b, "cls-b");
    let roles_a: Api<ClusterRole> = Api::all(a.client());
    let roles_b: Api<ClusterRole> = Api::all(b.client());
    let bindings_a: Api<ClusterRoleBinding> = Api::all(a.client());
    let bindings_b: Api<ClusterRoleBinding> = Api::all(b.client());

    let bob_pods: Api<Pod> = Api::namespaced(as_user(&a, "bob").await, "default");
    assert_eq!(api_code(bob_pods.list(&Default::default()).await), 403, "bob has no grant yet");
    t.create(&json!({"apiVersion": "authz.tkestack.io/v1", "kind": "Policy",
            "metadata": {"name": "pol-pods", "namespace": "default"}, "displayName": "read pods",
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]}));
    // A policy about the platform itself is not fanned out.
    t.create(
        &json!({"apiVersion": "authz.tkestack.io/v1", "kind": "Policy",
            "metadata": {"name": "pol-platform", "namespace": "default"}, "displayName": "platform", "scope": "Platform",
            "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]}),
    );
    t.create(&json!({"apiVersion": "authz.tkestack.io/v1", "kind": "Role",
            "metadata": {"name": "rol-view", "namespace": "default"}, "displayName": "viewer",
            "policies": ["pol-pods", "default/pol-missing", "pol-platform"]}));
    t.create(&json!({"apiVersion": "authz.tkestack.io/v1", "kind": "MultiClusterRoleBinding",
            "metadata": {"namespace": "default"},
            "spec": {"username": "bob", "roleName": "rol-view", "clusters": ["cls-a", "cls-b", "cls-nope"]}}));
    let bob = "mcrb-bob-rol-view";
    let role_name = "tkestack-authz.default.rol-view";
    let bob_crb = format!("tkestack-authz.default.{bob}");

    // Granted in both clusters, with the rules of the policies that exist.
    for (roles, bindings) in [(&roles_a, &bindings_a), (&roles_b, &bindings_b)] {
        let role = eventually("the ClusterRole", || async { roles.get_opt(role_name).await.ok().flatten() }).await;
        assert_eq!(verbs(&role), ["get", "list"]);
        assert_eq!(role.metadata.labels.as_ref().expect("labels")["tkestack.io/managed-by"], "authz");
        let crb =
            eventually("the ClusterRoleBinding", || async { bindings.get_opt(&bob_crb).await.ok().flatten() }).await;
        assert_eq!(crb.role_ref.name, role_name);
        let subjects = crb.subjects.expect("subjects");
        assert_eq!((subjects[0].kind.as_str(), subjects[0].name.as_str()), ("User", "bob"));
    }
    // One condition per cluster; the unknown cluster says so.
    let conds = eventually("conditions of every cluster", || async {
        let c = grant_conditions(&t, bob);
        (c.len() == 3).then_some(c)
    })
    .await;
    assert_eq!(
        conds,
        [
            ("cls-a".into(), "True".into(), "Granted".into()),
            ("cls-b".into(), "True".into(), "Granted".into()),
            ("cls-nope".into(), "False".into(), "ClusterNotFound".into()),
        ]
    );
    // In the cluster, bob may now read pods, and only that.
    eventually("bob to list pods in cls-a", || async { bob_pods.list(&Default::default()).await.ok() }).await;
    assert_eq!(api_code(bob_pods.delete("any", &Default::default()).await.map(|_| ())), 403);
    let binding = t.get_json(&["mcrb", "-n", "default", bob]).expect("binding");
    assert_eq!(binding["status"]["phase"], "Active");
    let messages = binding["status"]["conditions"].to_string();
    assert!(messages.contains("default/pol-missing (not found)"), "the missing policy is named: {messages}");
    assert!(messages.contains("default/pol-platform (scope Platform)"), "{messages}");

    // A policy change reaches the ClusterRoles.
    let out = t.kubectl(&[
        "patch",
        "policies.authz.tkestack.io",
        "-n",
        "default",
        "pol-pods",
        "--type=merge",
        "-p",
        r#"{"rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}]}"#,
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for roles in [&roles_a, &roles_b] {
        eventually("the new rules", || async {
            roles.get_opt(role_name).await.ok().flatten().filter(|r| verbs(r).len() == 3)
        })
        .await;
    }

    // Dropped from the list: revoked from cls-b only.
    let out = t.kubectl(&[
        "patch",
        "mcrb",
        "-n",
        "default",
        bob,
        "--type=merge",
        "-p",
        r#"{"spec": {"clusters": ["cls-a"]}}"#,
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    eventually("the grant to leave cls-b", || async {
        let gone =
            bindings_b.get_opt(&bob_crb).await.ok()?.is_none() && roles_b.get_opt(role_name).await.ok()?.is_none();
        gone.then_some(())
    })
    .await;
    assert!(bindings_a.get_opt(&bob_crb).await.expect("read").is_some(), "cls-a keeps the grant");
    eventually("only cls-a in the conditions", || async {
        (grant_conditions(&t, bob) == [("cls-a".to_string(), "True".to_string(), "Granted".to_string())]).then_some(())
    })
    .await;

    // `*`: every cluster of the tenant. Someone else's object of the same name is left alone.
    let foreign = ClusterRoleBinding {
        metadata: kube::api::ObjectMeta {
            name: Some("tkestack-authz.default.mcrb-eve-rol-view".into()),
            ..Default::default()
        },
        role_ref: RoleRef {
            api_group: Some("rbac.authorization.k8s.io".into()),
            kind: "ClusterRole".into(),
            name: "view".into(),
        },
        subjects: Some(vec![Subject { kind: "User".into(), name: "mallory".into(), ..Default::default() }]),
    };
    bindings_b.create(&PostParams::default(), &foreign).await.expect("foreign binding");
    t.create(&json!({"apiVersion": "authz.tkestack.io/v1", "kind": "MultiClusterRoleBinding",
            "metadata": {"namespace": "default"},
            "spec": {"username": "eve", "roleName": "rol-view", "clusters": ["*"]}}));
    let eve = "mcrb-eve-rol-view";
    let conds = eventually("eve's conditions", || async {
        let c = grant_conditions(&t, eve);
        (c.len() == 2).then_some(c)
    })
    .await;
    assert_eq!(
        conds,
        [("cls-a".into(), "True".into(), "Granted".into()), ("cls-b".into(), "False".into(), "NotManaged".into())]
    );
    let untouched = bindings_b.get("tkestack-authz.default.mcrb-eve-rol-view").await.expect("foreign binding");
    assert_eq!(untouched.role_ref.name, "view");
    assert_eq!(untouched.subjects.expect("subjects")[0].name, "mallory");
    assert!(untouched.metadata.labels.unwrap_or_default().is_empty());

    // A tenant's binding never reaches another tenant's cluster.
    t.create(&json!({"apiVersion": "authz.tkestack.io/v1", "kind": "MultiClusterRoleBinding",
            "metadata": {"namespace": "t1"},
            "spec": {"username": "tina", "roleName": "rol-view", "clusters": ["cls-a"]}}));
    let tina = eventually("tina's condition", || async {
        let b = t.get_json(&["mcrb", "-n", "t1", "mcrb-tina-rol-view"])?;
        b["status"]["conditions"].as_array().filter(|c| !c.is_empty()).cloned()
    })
    .await;
    assert_eq!((tina[0]["status"].as_str(), tina[0]["reason"].as_str()), (Some("False"), Some("ClusterNotInTenant")));
    assert!(bindings_a.get_opt("tkestack-authz.t1.mcrb-tina-rol-view").await.expect("read").is_none());

    // An unreachable cluster is reported with the reason.
    b.stop().await;
    t.create(&json!({"apiVersion": "authz.tkestack.io/v1", "kind": "MultiClusterRoleBinding",
            "metadata": {"namespace": "default"},
            "spec": {"username": "carol", "roleName": "rol-view", "clusters": ["cls-b"]}}));
    let carol = "mcrb-carol-rol-view";
    eventually("carol's cluster to be unreachable", || async {
        (grant_conditions(&t, carol) == [("cls-b".to_string(), "False".to_string(), "ClusterUnreachable".to_string())])
            .then_some(())
    })
    .await;
    let out = t.kubectl(&["delete", "mcrb", "-n", "default", carol, "--wait=false"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // Never granted there: nothing to revoke, so it goes at once.
    eventually("carol's binding to go", || async {
        t.get_json(&["mcrb", "-n", "default", carol]).is_none().then_some(())
    })
    .await;

    // Deleting bob's binding revokes it; eve's grant in cls-a still uses the ClusterRole.
    let out = t.kubectl(&["delete", "mcrb", "-n", "default", bob, "--wait=false"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    eventually("bob's binding to go", || async { t.get_json(&["mcrb", "-n", "default", bob]).is_none().then_some(()) })
        .await;
    assert!(bindings_a.get_opt(&bob_crb).await.expect("read").is_none());
    assert!(roles_a.get_opt(role_name).await.expect("read").is_some(), "eve's grant keeps the ClusterRole");
    assert_eq!(api_code(bob_pods.list(&Default::default()).await), 403, "bob's grant is gone");

    // Deleting the role revokes every grant of it, then the role goes.
    let out = t.kubectl(&["delete", "roles.authz.tkestack.io", "-n", "default", "rol-view", "--wait=false"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    eventually("the role to go", || async {
        t.get_json(&["roles.authz.tkestack.io", "-n", "default", "rol-view"]).is_none().then_some(())
    })
    .await;
    assert!(bindings_a.get_opt(&format!("tkestack-authz.default.{eve}")).await.expect("read").is_none());
    assert!(roles_a.get_opt(role_name).await.expect("read").is_none());
    let conds = grant_conditions(&t, eve);
    assert!(conds.iter().all(|(_, status, _)| status == "False"), "{conds:?}");
    a.stop().await;
}

/// `clusters/{name}/authwebhook`: the webhook kubeconfigs and kube-apiserver flags for an
/// imported cluster; the certificate in them is one the platform accepts, naming the cluster.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_imported_cluster_gets_its_webhook_configuration() {
    use kube::config::{KubeConfigOptions, Kubeconfig};
    let t = Tke::start();
    let _explain = ExplainFailure::new(&t).dumping(&["get", "mcrb", "-A", "-o", "yaml"]);
    let sim = kubesim::SimCluster::start(kubesim::SimOptions::default()).await.expect("simulated cluster");
    import(&t, &sim, "cls-wh");

    let raw = t.kubectl_ok(&["get", "--raw", "/apis/platform.tkestack.io/v1/clusters/cls-wh/authwebhook"]);
    let answer: Value = serde_json::from_str(&raw).expect("json");
    assert_eq!(answer["kind"], "ClusterAuthWebhook");
    let flags: Vec<&str> = answer["flags"].as_array().expect("flags").iter().filter_map(Value::as_str).collect();
    for want in [
        "--authentication-token-webhook-config-file=/etc/kubernetes/tke/tke-authn-webhook.yaml",
        "--authorization-webhook-config-file=/etc/kubernetes/tke/tke-authz-webhook.yaml",
        "--authorization-mode=Node,RBAC,Webhook",
        "--authentication-token-webhook-version=v1",
        "--authorization-webhook-version=v1",
    ] {
        assert!(flags.contains(&want), "{want} in {flags:?}");
    }
    let files = answer["files"].as_object().expect("files");
    assert_eq!(files.len(), 2);
    let ca = std::fs::read_to_string(t.ca_file()).expect("platform CA");
    for (path, text) in files {
        let endpoint = if path.ends_with("tke-authn-webhook.yaml") { "/auth/authn" } else { "/auth/authz" };
        let kc = Kubeconfig::from_yaml(text.as_str().expect("text")).expect("a kubeconfig");
        let server = kc.clusters[0].cluster.as_ref().and_then(|c| c.server.clone()).expect("server");
        assert_eq!(server, format!("{}{endpoint}", t.url));
        let ca_data = kc.clusters[0].cluster.as_ref().and_then(|c| c.certificate_authority_data.clone()).expect("ca");
        assert_eq!(
            String::from_utf8(base64::engine::general_purpose::STANDARD.decode(ca_data).expect("b64")).expect("pem"),
            ca
        );

        // The platform accepts the certificate: who am I with it.
        let mut config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await.expect("config");
        config.cluster_url = t.url.parse().expect("url");
        let client = kube::Client::try_from(config).expect("client");
        let review = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"});
        let req = http::Request::post("/apis/authentication.k8s.io/v1/selfsubjectreviews")
            .header("content-type", "application/json")
            .body(serde_json::to_vec(&review).expect("body"))
            .expect("request");
        let me: Value = client.request(req).await.expect("the platform accepts the cluster's certificate");
        assert_eq!(me["status"]["userInfo"]["username"], "tke:cluster:cls-wh", "{me}");
        let groups = me["status"]["userInfo"]["groups"].to_string();
        assert!(groups.contains("\"tke:clusters\"") && groups.contains("\"tenant:default\""), "{groups}");
    }

    // Another directory; a bad one is refused; an unknown cluster is NotFound.
    let raw = t.kubectl_ok(&[
        "get",
        "--raw",
        "/apis/platform.tkestack.io/v1/clusters/cls-wh/authwebhook?directory=%2Fetc%2Fkubernetes%2Fpki",
    ]);
    assert!(raw.contains("--authorization-webhook-config-file=/etc/kubernetes/pki/tke-authz-webhook.yaml"), "{raw}");
    let raw = t.kubectl_ok(&[
        "get",
        "--raw",
        "/apis/platform.tkestack.io/v1/clusters/cls-wh/authwebhook?server=https%3A%2F%2Ftke.example.com%3A8443",
    ]);
    assert!(raw.contains("https://tke.example.com:8443/auth/authz"), "{raw}");
    let out = t.kubectl(&["get", "--raw", "/apis/platform.tkestack.io/v1/clusters/cls-wh/authwebhook?directory=etc"]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("absolute path"));
    let out = t.kubectl(&["get", "--raw", "/apis/platform.tkestack.io/v1/clusters/cls-none/authwebhook"]);
    assert!(
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("NotFound"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    sim.stop().await;
}

/// Imports `sim` as cluster `name`.
fn import(t: &Tke, sim: &kubesim::SimCluster, name: &str) {
    t.import_cluster(name, sim.url(), sim.ca_pem().as_bytes(), sim.admin_token());
}
