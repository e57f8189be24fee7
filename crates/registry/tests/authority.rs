//! The host a request was sent to, over every protocol a client may speak: HTTP/1.1 names it in
//! the `Host` header, HTTP/2 in `:authority` (and clients send no `Host` header then). The
//! Bearer challenge's realm and the tenant chosen by host name follow it; a request naming two
//! different hosts is refused.

mod common;

use common::*;
use registry::auth::{Identity, StaticUsers, hash_password};
use registry::tenancy::StaticNamespaces;
use registry::{AuthConfig, Config, LocalServer, NamespaceInfo, Registry, Tenancy, TenantPolicy};
use reqwest::Version;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const DOMAIN: &str = "registry.test";

/// How a client reaches the registry.
#[derive(Clone, Copy, Debug)]
enum Protocol {
    /// TLS, ALPN offering `http/1.1` only.
    Http1,
    /// TLS, ALPN offering `h2` first: what curl, browsers and Go's default transport do.
    Http2,
    /// Cleartext HTTP/2 with prior knowledge (h2c).
    H2c,
}

impl Protocol {
    fn version(self) -> Version {
        match self {
            Protocol::Http1 => Version::HTTP_11,
            Protocol::Http2 | Protocol::H2c => Version::HTTP_2,
        }
    }
}

/// A client speaking `protocol`, trusting `ca_pem`, that resolves the test domain and its tenant
/// hosts to `addr`.
fn client(protocol: Protocol, ca_pem: Option<&str>, addr: SocketAddr) -> reqwest::Client {
    let mut b = reqwest::Client::builder().use_rustls_tls();
    for host in ["acme", "globex"].map(|t| format!("{t}.{DOMAIN}")).into_iter().chain([DOMAIN.to_string()]) {
        b = b.resolve(&host, addr);
    }
    if let Some(ca) = ca_pem {
        b = b.add_root_certificate(reqwest::Certificate::from_pem(ca.as_bytes()).expect("CA"));
    }
    b = match protocol {
        Protocol::Http1 => b.http1_only(),
        Protocol::Http2 => b,
        Protocol::H2c => b.http2_prior_knowledge(),
    };
    b.build().expect("client")
}

/// The `realm` of a 401's Bearer challenge.
fn realm(r: &reqwest::Response) -> String {
    let challenge = r.headers()["www-authenticate"].to_str().expect("challenge").to_string();
    let start = challenge.find("realm=\"").expect("a realm") + "realm=\"".len();
    let len = challenge[start..].find('"').expect("closing quote");
    challenge[start..start + len].to_string()
}

/// Asks `/v2/` on `base`, follows the realm of the challenge with `user`'s credentials for
/// `scope`, and returns the token; every response must come over `protocol`.
async fn login(
    c: &reqwest::Client,
    protocol: Protocol,
    base: &str,
    scope: &str,
    user: (&str, &str),
) -> (String, Vec<String>) {
    let r = c.get(format!("{base}/v2/")).send().await.expect("GET /v2/");
    assert_eq!((r.status().as_u16(), r.version()), (401, protocol.version()), "{protocol:?}");
    let realm = realm(&r);
    assert_eq!(realm, format!("{base}/registry/auth"), "{protocol:?}: the realm names the host the client used");
    let r = c
        .get(&realm)
        .query(&[("service", "tke"), ("scope", scope)])
        .basic_auth(user.0, Some(user.1))
        .send()
        .await
        .expect("token");
    assert_eq!((r.status().as_u16(), r.version()), (200, protocol.version()), "{protocol:?}");
    let v: serde_json::Value = r.json().await.expect("token JSON");
    let token = v["token"].as_str().expect("token").to_string();
    let actions = claims(&token)["access"][0]["actions"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|a| a.as_str().map(str::to_string))
        .collect();
    (token, actions)
}

fn claims(token: &str) -> serde_json::Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).expect("base64"))
        .expect("claims JSON")
}

/// A registry with one administrator and no tenancy; the realm's scheme is `scheme`.
async fn admin_registry(root: &std::path::Path, scheme: &str) -> Registry {
    let hash = hash_password(PASSWORD).expect("hash");
    let mut auth = AuthConfig::with_admin(ADMIN, &hash, vec!["library".into()]).expect("auth config");
    auth.scheme = scheme.into();
    let mut config = Config::new(root);
    config.auth = Some(auth);
    Registry::new(config).await.expect("registry")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bearer_realm_names_the_host_the_client_used_over_http1_and_http2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tls_registry = admin_registry(&dir.path().join("tls"), "https").await;
    let tls = serve_tls(tls_registry.router(), dir.path(), &[DOMAIN]).await;
    let plain_registry = admin_registry(&dir.path().join("plain"), "http").await;
    let plain = LocalServer::start(plain_registry.router(), "127.0.0.1:0".parse().expect("addr")).await.expect("serve");

    for protocol in [Protocol::Http1, Protocol::Http2, Protocol::H2c] {
        let (base, c) = match protocol {
            Protocol::H2c => (format!("http://{DOMAIN}:{}", plain.addr.port()), client(protocol, None, plain.addr)),
            _ => (format!("https://{DOMAIN}:{}", tls.addr.port()), client(protocol, Some(&tls.ca_pem), tls.addr)),
        };
        let (token, actions) = login(&c, protocol, &base, "repository:team/app:pull,push", (ADMIN, PASSWORD)).await;
        assert_eq!(actions, vec!["pull", "push"], "{protocol:?}");
        let r = c.get(format!("{base}/v2/")).bearer_auth(&token).send().await.expect("GET /v2/");
        assert_eq!((r.status().as_u16(), r.version()), (200, protocol.version()), "{protocol:?}");
        // The challenge of a repository request names the same realm.
        let r = c.get(format!("{base}/v2/team/app/tags/list")).send().await.expect("tags");
        assert_eq!(r.status(), 401);
        assert_eq!(realm(&r), format!("{base}/registry/auth"), "{protocol:?}");

        // Over 127.0.0.1 too: the realm is never `localhost` unless the client said so.
        let base = base.replace(DOMAIN, "127.0.0.1");
        let r = c.get(format!("{base}/v2/")).send().await.expect("GET /v2/");
        assert_eq!((r.status().as_u16(), r.version()), (401, protocol.version()), "{protocol:?}");
        assert_eq!(realm(&r), format!("{base}/registry/auth"), "{protocol:?}");
    }
}

/// Tenants acme (alice) and globex (bob), each with a private namespace `team`, over TLS.
async fn tenant_registry(root: &std::path::Path) -> (Registry, TlsServer) {
    let mut users = StaticUsers::new();
    let hash = hash_password(PASSWORD).expect("hash");
    users
        .add(Identity { name: "alice".into(), admin: false, tenant: Some("acme".into()), ..Default::default() }, &hash)
        .expect("alice");
    users
        .add(Identity { name: "bob".into(), admin: false, tenant: Some("globex".into()), ..Default::default() }, &hash)
        .expect("bob");
    let namespaces = Arc::new(StaticNamespaces::new());
    namespaces.set("acme", "team", NamespaceInfo { public: false, locked: false });
    namespaces.set("globex", "team", NamespaceInfo { public: false, locked: false });
    let tenancy = Tenancy::new(Some(DOMAIN.into()));
    let auth =
        AuthConfig::new(Arc::new(users), Arc::new(TenantPolicy { tenancy: tenancy.clone(), namespaces, policy: None }));
    let mut config = Config::new(root.join("registry"));
    config.auth = Some(auth);
    config.tenancy = Some(tenancy);
    let registry = Registry::new(config).await.expect("registry");
    let hosts = [format!("acme.{DOMAIN}"), format!("globex.{DOMAIN}"), DOMAIN.to_string()];
    let server = serve_tls(registry.router(), root, &hosts.iter().map(String::as_str).collect::<Vec<_>>()).await;
    (registry, server)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_chosen_by_host_name_over_http2_lands_in_that_tenant() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (registry, server) = tenant_registry(dir.path()).await;
    let c = client(Protocol::Http2, Some(&server.ca_pem), server.addr);
    let port = server.addr.port();
    let (acme, globex) = (format!("https://acme.{DOMAIN}:{port}"), format!("https://globex.{DOMAIN}:{port}"));

    let (alice, actions) =
        login(&c, Protocol::Http2, &acme, "repository:team/app:pull,push", ("alice", PASSWORD)).await;
    assert_eq!(actions, vec!["pull", "push"], "alice is a user of the tenant of her host");
    assert_eq!(claims(&alice)["tenant"], "acme");
    let bearer = |token: &str| {
        let mut b = reqwest::Client::builder()
            .use_rustls_tls()
            .add_root_certificate(reqwest::Certificate::from_pem(server.ca_pem.as_bytes()).expect("CA"));
        for host in ["acme", "globex"].map(|t| format!("{t}.{DOMAIN}")) {
            b = b.resolve(&host, server.addr);
        }
        let headers = [(reqwest::header::AUTHORIZATION, format!("Bearer {token}").parse().expect("header"))];
        b.default_headers(headers.into_iter().collect()).build().expect("client")
    };
    let (_, digest) = push_image(&bearer(&alice), &acme, "team/app", "v1", 11).await;
    let r = bearer(&alice)
        .get(format!("{acme}/v2/team/app/manifests/v1"))
        .header("accept", "application/vnd.oci.image.manifest.v1+json")
        .send()
        .await
        .expect("pull");
    assert_eq!((r.status().as_u16(), r.version()), (200, Version::HTTP_2));
    assert_eq!(r.headers()["docker-content-digest"], digest.as_str());
    assert_eq!(registry.store().repositories().await.expect("repositories"), vec!["acme/team/app"]);

    // The other tenant's host is the other tenant: bob's `team/app` is not alice's, and
    // alice's token is not valid there.
    let (bob, actions) = login(&c, Protocol::Http2, &globex, "repository:team/app:pull", ("bob", PASSWORD)).await;
    assert_eq!(actions, vec!["pull"]);
    assert_eq!(claims(&bob)["tenant"], "globex");
    let r = bearer(&bob).get(format!("{globex}/v2/team/app/tags/list")).send().await.expect("tags");
    assert_eq!((r.status().as_u16(), error_code(r).await.as_str()), (404, "NAME_UNKNOWN"));
    let r = bearer(&alice).get(format!("{globex}/v2/team/app/tags/list")).send().await.expect("tags");
    assert_eq!(r.status(), 401, "a token is valid on its tenant's host only");
    // alice cannot log in to the other tenant's host.
    let r = c.get(format!("{globex}/registry/auth?service=tke")).basic_auth("alice", Some(PASSWORD)).send().await;
    assert_eq!(r.expect("login").status(), 401);

    // Chart repositories choose the tenant the same way.
    let r = c.get(format!("{acme}/chart/team/index.yaml")).basic_auth("alice", Some(PASSWORD)).send().await;
    let r = r.expect("index");
    assert_eq!((r.status().as_u16(), r.version()), (200, Version::HTTP_2));
    let r = c.get(format!("{acme}/chart/team/index.yaml")).basic_auth("bob", Some(PASSWORD)).send().await;
    assert!(r.expect("index").status().is_client_error(), "bob is no user of acme");
}

/// Sends `request` on a fresh cleartext connection to `addr` and returns the response's head.
async fn raw_http1(addr: SocketAddr, request: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(request.as_bytes()).await.expect("write");
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.expect("read");
    let text = String::from_utf8_lossy(&out).into_owned();
    text.split("\r\n\r\n").next().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_naming_two_hosts_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (registry, server) = tenant_registry(dir.path()).await;
    let port = server.addr.port();
    let (acme, globex) = (format!("acme.{DOMAIN}:{port}"), format!("globex.{DOMAIN}:{port}"));

    // HTTP/2: `:authority` says acme, a Host header says globex.
    let c = client(Protocol::Http2, Some(&server.ca_pem), server.addr);
    for path in ["/v2/", "/registry/auth?service=tke", "/chart/team/index.yaml"] {
        let r = c.get(format!("https://{acme}{path}")).header("host", &globex).send().await.expect("request");
        assert_eq!((r.status().as_u16(), r.version()), (400, Version::HTTP_2), "{path}");
        let body = r.text().await.expect("body");
        assert!(body.contains("names two hosts"), "{path}: {body}");
        // The same request without the second name is served.
        let r = c.get(format!("https://{acme}{path}")).send().await.expect("request");
        assert_ne!(r.status(), 400, "{path}");
    }

    // HTTP/1.1 in absolute form (as through a proxy): the target says acme, Host says globex.
    let plain = LocalServer::start(registry.router(), "127.0.0.1:0".parse().expect("addr")).await.expect("serve");
    let (acme, globex) =
        (format!("acme.{DOMAIN}:{}", plain.addr.port()), format!("globex.{DOMAIN}:{}", plain.addr.port()));
    let head = raw_http1(
        plain.addr,
        &format!("GET http://{acme}/v2/ HTTP/1.1\r\nHost: {globex}\r\nConnection: close\r\n\r\n"),
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 400"), "{head}");
    // Agreeing names are the tenant they name.
    let head =
        raw_http1(plain.addr, &format!("GET http://{acme}/v2/ HTTP/1.1\r\nHost: {acme}\r\nConnection: close\r\n\r\n"))
            .await;
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");
    assert!(head.contains(&format!("realm=\"https://{acme}/registry/auth\"")), "{head}");
    // Two Host headers are refused too.
    let head = raw_http1(
        plain.addr,
        &format!("GET /v2/ HTTP/1.1\r\nHost: {acme}\r\nHost: {globex}\r\nConnection: close\r\n\r\n"),
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 400"), "{head}");
}
