//! Tenants, namespaces and events over HTTP: each tenant is a host name under the registry's
//! domain and sees only its own repositories; namespace visibility decides who may pull; the
//! catalog is for administrators; pushes, pulls and deletes are reported as events.

mod common;

use common::*;
use registry::auth::{Identity, StaticUsers, hash_password};
use registry::events::{Action, Recorder};
use registry::tenancy::StaticNamespaces;
use registry::{AuthConfig, Config, LocalServer, NamespaceInfo, Registry, Tenancy, TenantPolicy};
use std::sync::Arc;

const DOMAIN: &str = "registry.test";

struct Env {
    _dir: tempfile::TempDir,
    server: LocalServer,
    registry: Registry,
    events: Arc<Recorder>,
}

impl Env {
    /// `http://{tenant}.registry.test:{port}` (or the bare domain for the default tenant).
    fn base(&self, tenant: Option<&str>) -> String {
        match tenant {
            Some(t) => format!("http://{t}.{DOMAIN}:{}", self.server.addr.port()),
            None => format!("http://{DOMAIN}:{}", self.server.addr.port()),
        }
    }

    /// A client that resolves every tenant host of the test domain to the server.
    fn client(&self, bearer: Option<&str>) -> reqwest::Client {
        let mut b = reqwest::Client::builder();
        for host in ["acme", "globex"].map(|t| format!("{t}.{DOMAIN}")).into_iter().chain([DOMAIN.to_string()]) {
            b = b.resolve(&host, self.server.addr);
        }
        if let Some(t) = bearer {
            let headers = [(reqwest::header::AUTHORIZATION, format!("Bearer {t}").parse().expect("header"))]
                .into_iter()
                .collect();
            b = b.default_headers(headers);
        }
        b.build().expect("client")
    }

    /// The token and the actions granted for `scope` (None: a login without scopes).
    async fn token(
        &self,
        tenant: Option<&str>,
        scope: Option<&str>,
        user: Option<(&str, &str)>,
    ) -> (reqwest::StatusCode, String, Vec<String>) {
        let mut req =
            self.client(None).get(format!("{}/registry/auth", self.base(tenant))).query(&[("service", "tke")]);
        if let Some(s) = scope {
            req = req.query(&[("scope", s)]);
        }
        if let Some((u, p)) = user {
            req = req.basic_auth(u, Some(p));
        }
        let r = req.send().await.expect("token request");
        let status = r.status();
        let v: serde_json::Value = r.json().await.unwrap_or_default();
        let token = v["token"].as_str().unwrap_or_default().to_string();
        // The access claim, read from the JWT's payload.
        let actions = token
            .split('.')
            .nth(1)
            .and_then(base64_url)
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|c| c["access"][0]["actions"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|a| a.as_str().map(str::to_string))
            .collect();
        (status, token, actions)
    }
}

fn base64_url(s: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s).ok()
}

async fn start_env() -> Env {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut users = StaticUsers::new();
    let hash = hash_password(PASSWORD).expect("hash");
    users.add(Identity { name: ADMIN.into(), admin: true, tenant: None, ..Default::default() }, &hash).expect("admin");
    users
        .add(Identity { name: "alice".into(), admin: false, tenant: Some("acme".into()), ..Default::default() }, &hash)
        .expect("alice");
    users
        .add(Identity { name: "bob".into(), admin: false, tenant: Some("globex".into()), ..Default::default() }, &hash)
        .expect("bob");
    let namespaces = Arc::new(StaticNamespaces::new());
    namespaces.set("acme", "team", NamespaceInfo { public: false, locked: false });
    namespaces.set("acme", "pub", NamespaceInfo { public: true, locked: false });
    namespaces.set("globex", "team", NamespaceInfo { public: false, locked: false });
    let tenancy = Tenancy::new(Some(DOMAIN.into()));
    let mut auth =
        AuthConfig::new(Arc::new(users), Arc::new(TenantPolicy { tenancy: tenancy.clone(), namespaces, policy: None }));
    auth.scheme = "http".into();
    let events = Arc::new(Recorder::new());
    let mut config = Config::new(dir.path());
    config.auth = Some(auth);
    config.tenancy = Some(tenancy);
    config.events = Some(events.clone());
    let registry = Registry::new(config).await.expect("registry");
    let server = LocalServer::start(registry.router(), "127.0.0.1:0".parse().expect("addr")).await.expect("serve");
    Env { _dir: dir, server, registry, events }
}

#[tokio::test]
async fn two_hosts_are_two_isolated_tenants() {
    let env = start_env().await;
    let (acme, globex) = (env.base(Some("acme")), env.base(Some("globex")));
    let (status, alice, actions) =
        env.token(Some("acme"), Some("repository:team/app:pull,push"), Some(("alice", PASSWORD))).await;
    assert_eq!((status.as_u16(), actions), (200, vec!["pull".to_string(), "push".to_string()]));
    let (_, bob, actions) =
        env.token(Some("globex"), Some("repository:team/app:pull,push"), Some(("bob", PASSWORD))).await;
    assert_eq!(actions, vec!["pull", "push"]);

    let (_, acme_digest) = push_image(&env.client(Some(&alice)), &acme, "team/app", "v1", 1).await;
    let (_, globex_digest) = push_image(&env.client(Some(&bob)), &globex, "team/app", "v1", 2).await;
    assert_ne!(acme_digest, globex_digest);

    // The same name resolves to each tenant's own image.
    for (base, token, digest) in [(&acme, &alice, &acme_digest), (&globex, &bob, &globex_digest)] {
        let r = env
            .client(Some(token))
            .get(format!("{base}/v2/team/app/manifests/v1"))
            .header("accept", "application/vnd.oci.image.manifest.v1+json")
            .send()
            .await
            .expect("pull");
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["docker-content-digest"], digest.as_str());
    }
    // Stored apart, under tenant-qualified names.
    let stored = env.registry.store().repositories().await.expect("repositories");
    assert_eq!(stored, vec!["acme/team/app", "globex/team/app"]);

    // A token is valid on the host it was issued for only.
    let r = env.client(Some(&alice)).get(format!("{globex}/v2/team/app/tags/list")).send().await.expect("tags");
    assert_eq!(r.status(), 401);
    // A user of another tenant gets nothing in a private namespace.
    let (_, _, actions) = env.token(Some("acme"), Some("repository:team/app:pull"), Some(("bob", PASSWORD))).await;
    assert!(actions.is_empty(), "{actions:?}");
    // ... and cannot log in to it.
    let (status, _, _) = env.token(Some("acme"), None, Some(("bob", PASSWORD))).await;
    assert_eq!(status, 401);
    let (status, _, _) = env.token(Some("acme"), None, Some(("alice", PASSWORD))).await;
    assert_eq!(status, 200);
    // A name without a namespace is not a tenant repository.
    let r = env.client(Some(&alice)).get(format!("{acme}/v2/app/tags/list")).send().await.expect("tags");
    assert_eq!(r.status(), 401, "no token covers it");

    // The administrator's catalog on a tenant's host lists that tenant's repositories.
    let (_, admin, actions) = env.token(Some("globex"), Some("registry:catalog:*"), Some((ADMIN, PASSWORD))).await;
    assert_eq!(actions, vec!["*"]);
    let v: serde_json::Value = env
        .client(Some(&admin))
        .get(format!("{globex}/v2/_catalog"))
        .send()
        .await
        .expect("catalog")
        .json()
        .await
        .expect("json");
    assert_eq!(v["repositories"], serde_json::json!(["team/app"]));
    // Ordinary users get no catalog.
    let (_, token, actions) = env.token(Some("acme"), Some("registry:catalog:*"), Some(("alice", PASSWORD))).await;
    assert!(actions.is_empty());
    let r = env.client(Some(&token)).get(format!("{acme}/v2/_catalog")).send().await.expect("catalog");
    assert_eq!(r.status(), 401);

    // Deleting a namespace removes its content and nothing else.
    assert_eq!(env.registry.namespace_repositories("acme", "team").await.expect("list"), vec!["team/app"]);
    env.registry.delete_namespace("acme", "team").await.expect("delete namespace");
    let r = env.client(Some(&alice)).get(format!("{acme}/v2/team/app/tags/list")).send().await.expect("tags");
    assert_eq!((r.status().as_u16(), error_code(r).await.as_str()), (404, "NAME_UNKNOWN"));
    let r = env.client(Some(&bob)).get(format!("{globex}/v2/team/app/tags/list")).send().await.expect("tags");
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn public_namespaces_are_pullable_anonymously_and_private_ones_are_not() {
    let env = start_env().await;
    let acme = env.base(Some("acme"));
    let (_, alice, _) = env.token(Some("acme"), Some("repository:pub/web:pull,push"), Some(("alice", PASSWORD))).await;
    push_image(&env.client(Some(&alice)), &acme, "pub/web", "latest", 3).await;
    let (_, alice, _) = env.token(Some("acme"), Some("repository:team/db:pull,push"), Some(("alice", PASSWORD))).await;
    push_image(&env.client(Some(&alice)), &acme, "team/db", "latest", 4).await;

    // Anonymous: the challenge first, then a pull-only token for the public namespace.
    let r = env.client(None).get(format!("{acme}/v2/pub/web/manifests/latest")).send().await.expect("pull");
    assert_eq!(r.status(), 401);
    let challenge = r.headers()["www-authenticate"].to_str().expect("header").to_string();
    assert!(challenge.contains(&format!("realm=\"{acme}/registry/auth\"")), "{challenge}");
    let (_, anon, actions) = env.token(Some("acme"), Some("repository:pub/web:pull,push"), None).await;
    assert_eq!(actions, vec!["pull"]);
    let r = env
        .client(Some(&anon))
        .get(format!("{acme}/v2/pub/web/manifests/latest"))
        .header("accept", "application/vnd.oci.image.manifest.v1+json")
        .send()
        .await
        .expect("pull");
    assert_eq!(r.status(), 200);
    let r = env.client(Some(&anon)).post(format!("{acme}/v2/pub/web/blobs/uploads/")).send().await.expect("push");
    assert_eq!(r.status(), 401, "no anonymous push");

    // Private: nothing granted, 401 with insufficient_scope.
    let (_, anon, actions) = env.token(Some("acme"), Some("repository:team/db:pull"), None).await;
    assert!(actions.is_empty());
    let r = env.client(Some(&anon)).get(format!("{acme}/v2/team/db/manifests/latest")).send().await.expect("pull");
    assert_eq!(r.status(), 401);
    assert!(r.headers()["www-authenticate"].to_str().expect("header").contains("error=\"insufficient_scope\""));
    // The other tenant's users may pull the public namespace, not the private one.
    let (_, _, actions) = env.token(Some("acme"), Some("repository:pub/web:pull,push"), Some(("bob", PASSWORD))).await;
    assert_eq!(actions, vec!["pull"]);
    // An unknown namespace grants nothing, even to the tenant's users.
    let (_, _, actions) =
        env.token(Some("acme"), Some("repository:nowhere/x:pull,push"), Some(("alice", PASSWORD))).await;
    assert!(actions.is_empty());
    // The same namespace name on another tenant's host is another namespace.
    let (_, _, actions) = env.token(Some("globex"), Some("repository:pub/web:pull"), None).await;
    assert!(actions.is_empty());
}

#[tokio::test]
async fn push_pull_and_delete_are_reported_as_events() {
    let env = start_env().await;
    let acme = env.base(Some("acme"));
    let (_, alice, _) =
        env.token(Some("acme"), Some("repository:team/app:pull,push,delete"), Some(("alice", PASSWORD))).await;
    let c = env.client(Some(&alice));
    let (_, digest) = push_image(&c, &acme, "team/app", "v1", 7).await;
    // Pull by tag, then the way docker does: HEAD by tag (no event), GET by digest.
    let accept = "application/vnd.oci.image.manifest.v1+json";
    for reference in ["v1", digest.as_str()] {
        let r = c
            .get(format!("{acme}/v2/team/app/manifests/{reference}"))
            .header("accept", accept)
            .send()
            .await
            .expect("pull");
        assert_eq!(r.status(), 200);
    }
    let r = c.head(format!("{acme}/v2/team/app/manifests/v1")).header("accept", accept).send().await.expect("head");
    assert_eq!(r.status(), 200);
    let r = c.delete(format!("{acme}/v2/team/app/manifests/v1")).send().await.expect("delete tag");
    assert_eq!(r.status(), 202);

    let events = env.events.events();
    let summary: Vec<(Action, Option<&str>)> = events.iter().map(|e| (e.action, e.tag.as_deref())).collect();
    assert_eq!(
        summary,
        vec![
            (Action::Push, Some("v1")),
            (Action::Pull, Some("v1")),
            (Action::Pull, Some("v1")),
            (Action::Delete, Some("v1"))
        ]
    );
    for e in &events {
        assert_eq!(
            (e.tenant.as_str(), e.namespace.as_str(), e.name.as_str(), e.repository.as_str()),
            ("acme", "team", "app", "team/app")
        );
        assert_eq!(e.digest, digest);
        assert_eq!(e.user.as_deref(), Some("alice"));
        assert_eq!(e.media_type, accept);
    }
    assert!(events[0].size > 0);
}
