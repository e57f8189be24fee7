//! Helm chart repositories over HTTP with the chartmuseum API, as `helm repo add`, `helm pull`
//! and `helm cm-push` use them: uploads (raw and multipart with provenance), conflicts and
//! forced replacement, listing, `index.yaml`, downloads, deletes, who may read and write, tenant
//! isolation, refused archives; and a chart pushed and pulled as an OCI artifact under `/v2/`.

mod common;

use common::*;
use registry::auth::{Identity, StaticUsers, hash_password};
use registry::chart::{ChartGroupInfo, StaticChartGroups, package_chart};
use registry::events::{Action, Recorder};
use registry::tenancy::StaticNamespaces;
use registry::{AuthConfig, Config, LocalServer, Registry, Tenancy, TenantPolicy};
use serde_json::Value;
use std::sync::Arc;

const DOMAIN: &str = "registry.test";

struct Env {
    _dir: tempfile::TempDir,
    server: LocalServer,
    events: Arc<Recorder>,
}

impl Env {
    /// Tenants acme (users admin and alice) and globex (bob); chart groups acme/pub (Public),
    /// acme/priv and globex/priv (Private).
    async fn start() -> Env {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut users = StaticUsers::new();
        for (name, tenant, admin) in
            [("admin", None, true), ("alice", Some("acme"), false), ("bob", Some("globex"), false)]
        {
            let identity =
                Identity { name: name.into(), admin, tenant: tenant.map(str::to_string), ..Default::default() };
            users.add(identity, &hash_password(&format!("{name}-pw")).expect("hash")).expect("user");
        }
        let tenancy = Tenancy::new(Some(DOMAIN.into()));
        let policy =
            TenantPolicy { tenancy: tenancy.clone(), namespaces: Arc::new(StaticNamespaces::new()), policy: None };
        let mut auth = AuthConfig::new(Arc::new(users), Arc::new(policy));
        auth.scheme = "http".into();
        let groups = Arc::new(StaticChartGroups::new());
        let private = ChartGroupInfo { public: false, locked: false, users: None };
        groups.set("acme", "pub", ChartGroupInfo { public: true, ..private.clone() });
        groups.set("acme", "priv", private.clone());
        groups.set("globex", "priv", private);
        let events = Arc::new(Recorder::new());
        let mut config = Config::new(dir.path());
        config.auth = Some(auth);
        config.tenancy = Some(tenancy);
        config.chart_groups = Some(groups);
        config.events = Some(events.clone());
        let registry = Registry::new(config).await.expect("registry");
        let server = LocalServer::start(registry.router(), "127.0.0.1:0".parse().expect("addr")).await.expect("serve");
        Env { _dir: dir, server, events }
    }

    fn base(&self, tenant: &str) -> String {
        format!("http://{tenant}.{DOMAIN}:{}/chart", self.server.addr.port())
    }

    fn client(&self) -> reqwest::Client {
        let mut b = reqwest::Client::builder();
        for t in ["acme", "globex"] {
            b = b.resolve(&format!("{t}.{DOMAIN}"), self.server.addr);
        }
        b.build().expect("client")
    }

    /// A request as `user` (password `{user}-pw`), or anonymous.
    fn req(&self, method: reqwest::Method, tenant: &str, path: &str, user: Option<&str>) -> reqwest::RequestBuilder {
        let r = self.client().request(method, format!("{}{path}", self.base(tenant)));
        match user {
            Some(u) => r.basic_auth(u, Some(format!("{u}-pw"))),
            None => r,
        }
    }

    fn get(&self, tenant: &str, path: &str, user: Option<&str>) -> reqwest::RequestBuilder {
        self.req(reqwest::Method::GET, tenant, path, user)
    }

    async fn upload(&self, tenant: &str, group: &str, user: &str, tgz: &[u8], query: &str) -> reqwest::Response {
        self.req(reqwest::Method::POST, tenant, &format!("/api/{group}/charts{query}"), Some(user))
            .header("content-type", "application/gzip")
            .body(tgz.to_vec())
            .send()
            .await
            .expect("upload")
    }
}

fn chart(name: &str, version: &str, values: &str) -> Vec<u8> {
    let yaml = format!(
        "apiVersion: v2\nname: {name}\nversion: {version}\nappVersion: \"1.25\"\ndescription: A web server\ntype: application\n"
    );
    let deployment =
        format!("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{{{ .Release.Name }}}}-{name}\n");
    package_chart(&yaml, &[("values.yaml", values.as_bytes()), ("templates/deployment.yaml", deployment.as_bytes())])
        .expect("package")
}

fn hex_sha256(data: &[u8]) -> String {
    sha256(data).trim_start_matches("sha256:").to_string()
}

/// A `multipart/form-data` body as `helm cm-push` sends it: `chart` (with a file name) and
/// optionally `prov`.
fn form(chart: &[u8], filename: &str, prov: Option<&[u8]>) -> (String, Vec<u8>) {
    let boundary = "------------------------a1b2c3d4e5f6";
    let mut body = Vec::new();
    let mut part = |name: &str, file: &str, data: &[u8]| {
        body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{file}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes());
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    };
    part("chart", filename, chart);
    if let Some(p) = prov {
        part("prov", &format!("{filename}.prov"), p);
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

fn provenance(name: &str, version: &str, tgz: &[u8]) -> Vec<u8> {
    format!(
        "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\napiVersion: v2\nname: {name}\nversion: {version}\n\n...\nfiles:\n  {name}-{version}.tgz: sha256:{}\n-----BEGIN PGP SIGNATURE-----\n\nwsBcBAEBCgAQBQJk\n-----END PGP SIGNATURE-----\n",
        hex_sha256(tgz)
    )
    .into_bytes()
}

async fn json(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn chartmuseum_api_upload_list_index_download_delete() {
    let env = Env::start().await;
    let alice = Some("alice");
    let v1 = chart("web", "0.1.0", "replicas: 1\n");

    // Upload, then the same version again: 409 unless forced.
    let (s, body) = json(env.upload("acme", "priv", "alice", &v1, "").await).await;
    assert_eq!((s, &body), (201, &serde_json::json!({"saved": true})));
    let (s, body) = json(env.upload("acme", "priv", "alice", &v1, "").await).await;
    assert_eq!(s, 409);
    assert!(body["error"].as_str().is_some_and(|e| e.contains("web-0.1.0.tgz already exists")), "{body}");
    let v1b = chart("web", "0.1.0", "replicas: 2\n");
    assert_eq!(env.upload("acme", "priv", "alice", &v1b, "?force").await.status(), 201);

    // A multipart upload with a provenance file, and a chart whose name and version hold '-'.
    let v2 = chart("web", "0.2.0", "replicas: 3\n");
    let prov = provenance("web", "0.2.0", &v2);
    let (ct, body) = form(&v2, "web-0.2.0.tgz", Some(&prov));
    let r = env
        .req(reqwest::Method::POST, "acme", "/api/priv/charts", alice)
        .header("content-type", ct)
        .body(body)
        .send()
        .await
        .expect("form");
    assert_eq!(r.status(), 201, "{:?}", r.text().await);
    let rc = chart("my-app", "1.0.0-rc.1", "{}\n");
    assert_eq!(env.upload("acme", "priv", "alice", &rc, "").await.status(), 201);

    // Listing: every chart, newest version first; one chart; one version; latest.
    let (s, all) = json(env.get("acme", "/api/priv/charts", alice).send().await.expect("list")).await;
    assert_eq!(s, 200);
    let names: Vec<&String> = all.as_object().expect("map").keys().collect();
    assert_eq!(names, vec!["my-app", "web"]);
    let versions: Vec<&str> =
        all["web"].as_array().expect("versions").iter().filter_map(|v| v["version"].as_str()).collect();
    assert_eq!(versions, vec!["0.2.0", "0.1.0"]);
    let (s, web) = json(env.get("acme", "/api/priv/charts/web", alice).send().await.expect("chart")).await;
    assert_eq!((s, web.as_array().map(Vec::len)), (200, Some(2)));
    let (s, one) = json(env.get("acme", "/api/priv/charts/web/0.1.0", alice).send().await.expect("version")).await;
    assert_eq!(s, 200);
    assert_eq!(one["digest"], hex_sha256(&v1b).as_str(), "the forced upload replaced the archive");
    assert_eq!(one["appVersion"], "1.25");
    assert_eq!(one["urls"][0], "charts/web-0.1.0.tgz");
    let (_, latest) = json(env.get("acme", "/api/priv/charts/web/latest", alice).send().await.expect("latest")).await;
    assert_eq!(latest["version"], "0.2.0");
    assert_eq!(env.get("acme", "/api/priv/charts/web/9.9.9", alice).send().await.expect("missing").status(), 404);
    assert_eq!(env.get("acme", "/api/priv/charts/nope", alice).send().await.expect("missing").status(), 404);

    // index.yaml: a Helm repository index whose digests and URLs lead to the uploaded bytes.
    let r = env.get("acme", "/priv/index.yaml", alice).send().await.expect("index");
    assert_eq!(r.status(), 200);
    let index: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&r.text().await.expect("text")).expect("index.yaml is YAML");
    assert_eq!(index["apiVersion"].as_str(), Some("v1"));
    assert!(index["generated"].as_str().is_some());
    let uploaded = [("web", "0.2.0", &v2), ("web", "0.1.0", &v1b), ("my-app", "1.0.0-rc.1", &rc)];
    for (name, version, bytes) in uploaded {
        let entry = index["entries"][name]
            .as_sequence()
            .and_then(|vs| vs.iter().find(|v| v["version"].as_str() == Some(version)))
            .unwrap_or_else(|| panic!("{name} {version} in the index"));
        assert_eq!(entry["digest"].as_str(), Some(hex_sha256(bytes).as_str()));
        assert_eq!(entry["apiVersion"].as_str(), Some("v2"));
        assert!(entry["created"].as_str().is_some_and(|c| c.ends_with('Z')));
        let url = entry["urls"][0].as_str().expect("url");
        assert_eq!(url, format!("charts/{name}-{version}.tgz"));
        // Helm resolves the relative URL against the repository URL.
        let r = env.get("acme", &format!("/priv/{url}"), alice).send().await.expect("download");
        assert_eq!(r.status(), 200);
        assert_eq!(
            r.bytes().await.expect("bytes").as_ref(),
            bytes.as_slice(),
            "{name}-{version}.tgz is byte-identical"
        );
    }
    let r = env.get("acme", "/priv/charts/web-0.2.0.tgz.prov", alice).send().await.expect("prov");
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.expect("bytes").as_ref(), prov.as_slice());
    assert_eq!(env.get("acme", "/priv/charts/web-0.1.0.tgz.prov", alice).send().await.expect("prov").status(), 404);

    // Deleting a version: gone from the API, the index (its cache invalidated) and downloads.
    let r = env.req(reqwest::Method::DELETE, "acme", "/api/priv/charts/web/0.1.0", alice).send().await.expect("delete");
    assert_eq!(json(r).await, (200, serde_json::json!({"deleted": true})));
    let r = env.req(reqwest::Method::DELETE, "acme", "/api/priv/charts/web/0.1.0", alice).send().await.expect("delete");
    assert_eq!(r.status(), 404);
    let index = env.get("acme", "/priv/index.yaml", alice).send().await.expect("index").text().await.expect("text");
    let index: serde_yaml_ng::Value = serde_yaml_ng::from_str(&index).expect("yaml");
    let left: Vec<&str> =
        index["entries"]["web"].as_sequence().expect("web").iter().filter_map(|v| v["version"].as_str()).collect();
    assert_eq!(left, vec!["0.2.0"]);
    assert_eq!(env.get("acme", "/priv/charts/web-0.1.0.tgz", alice).send().await.expect("download").status(), 404);

    // Every upload, download and delete was reported, with the chart group and version.
    let events = env.events.events();
    let of = |a: Action| events.iter().filter(|e| e.action == a).collect::<Vec<_>>();
    assert_eq!(of(Action::ChartPush).len(), 4);
    assert_eq!(of(Action::ChartPull).len(), 3);
    let del = of(Action::ChartDelete);
    assert_eq!(del.len(), 1);
    let d = del[0];
    assert_eq!(
        (d.tenant.as_str(), d.namespace.as_str(), d.name.as_str(), d.tag.as_deref()),
        ("acme", "priv", "web", Some("0.1.0"))
    );
    assert_eq!(d.user.as_deref(), Some("alice"));
    assert_eq!(d.digest, sha256(&v1b));
}

#[tokio::test]
async fn public_groups_are_readable_anonymously_private_ones_are_not() {
    let env = Env::start().await;
    let tgz = chart("web", "1.0.0", "{}\n");
    for group in ["pub", "priv"] {
        assert_eq!(env.upload("acme", group, "alice", &tgz, "").await.status(), 201);
    }
    // Anonymous: the public group's index and archive; a 401 with a Basic challenge otherwise.
    assert_eq!(env.get("acme", "/pub/index.yaml", None).send().await.expect("index").status(), 200);
    let r = env.get("acme", "/pub/charts/web-1.0.0.tgz", None).send().await.expect("download");
    assert_eq!(r.bytes().await.expect("bytes").as_ref(), tgz.as_slice());
    let r = env.get("acme", "/priv/index.yaml", None).send().await.expect("index");
    assert_eq!(r.status(), 401);
    assert!(r.headers().get("www-authenticate").and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("Basic ")));
    assert_eq!(env.get("acme", "/priv/charts/web-1.0.0.tgz", None).send().await.expect("download").status(), 401);
    assert_eq!(env.get("acme", "/api/priv/charts", None).send().await.expect("list").status(), 401);
    // Nobody uploads anonymously, not even to a public group.
    let r = env
        .client()
        .post(format!("{}/api/pub/charts", env.base("acme")))
        .body(tgz.clone())
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status(), 401);
    // A wrong password is refused, also where anonymous reads are allowed.
    let r = env.get("acme", "/pub/index.yaml", None).basic_auth("alice", Some("wrong")).send().await.expect("index");
    assert_eq!(r.status(), 401);
    let (_, body) = json(r).await;
    assert_eq!(body["error"], "invalid username or password");
    // Another tenant's user reads the public group but may not write to it or read the private one.
    assert_eq!(env.get("acme", "/pub/index.yaml", Some("bob")).send().await.expect("index").status(), 200);
    assert_eq!(env.upload("acme", "pub", "bob", &chart("web", "2.0.0", "{}\n"), "").await.status(), 403);
    assert_eq!(env.get("acme", "/priv/index.yaml", Some("bob")).send().await.expect("index").status(), 403);
    // The administrator may do everything; a group that does not exist is 404.
    assert_eq!(env.get("acme", "/priv/index.yaml", Some("admin")).send().await.expect("index").status(), 200);
    let r = env.get("acme", "/missing/index.yaml", Some("alice")).send().await.expect("index");
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn tenants_do_not_see_each_others_charts() {
    let env = Env::start().await;
    let tgz = chart("web", "1.0.0", "{}\n");
    assert_eq!(env.upload("acme", "priv", "alice", &tgz, "").await.status(), 201);
    // globex has a chart group of the same name: empty, and acme's chart is not reachable.
    let (s, list) = json(env.get("globex", "/api/priv/charts", Some("bob")).send().await.expect("list")).await;
    assert_eq!((s, list), (200, serde_json::json!({})));
    assert_eq!(
        env.get("globex", "/priv/charts/web-1.0.0.tgz", Some("bob")).send().await.expect("download").status(),
        404
    );
    let index =
        env.get("globex", "/priv/index.yaml", Some("bob")).send().await.expect("index").text().await.expect("text");
    let index: serde_yaml_ng::Value = serde_yaml_ng::from_str(&index).expect("yaml");
    assert!(index["entries"].as_mapping().is_some_and(|m| m.is_empty()), "{index:?}");
    // The same name and version in globex is a separate chart, not a conflict.
    assert_eq!(env.upload("globex", "priv", "bob", &tgz, "").await.status(), 201);
    // alice cannot use globex's group through globex's host.
    assert_eq!(env.get("globex", "/priv/index.yaml", Some("alice")).send().await.expect("index").status(), 403);
}

/// A tar entry with a raw path (tar::Builder refuses unsafe ones, as it should).
fn raw_tgz(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    for (path, data) in entries {
        let mut h = tar::Header::new_old();
        h.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        tar.append(&h, *data).expect("append");
    }
    tar.into_inner().expect("tar").finish().expect("gzip")
}

#[tokio::test]
async fn malformed_and_mismatched_charts_are_refused_with_reasons() {
    let env = Env::start().await;
    let refused = |r: reqwest::Response| async move {
        let (s, body) = json(r).await;
        assert_eq!(s, 400, "{body}");
        body["error"].as_str().unwrap_or_default().to_string()
    };
    let e = refused(env.upload("acme", "priv", "alice", b"this is not a chart", "").await).await;
    assert!(e.contains("not a valid gzipped tar archive"), "{e}");
    let mut truncated = chart("web", "1.0.0", "{}\n");
    truncated.truncate(truncated.len() / 2);
    let e = refused(env.upload("acme", "priv", "alice", &truncated, "").await).await;
    assert!(e.contains("not a valid gzipped tar archive"), "{e}");
    // Chart.yaml naming another chart than its directory.
    let yaml = b"apiVersion: v2\nname: other\nversion: 1.0.0\n";
    let e = refused(env.upload("acme", "priv", "alice", &raw_tgz(&[("web/Chart.yaml", yaml)]), "").await).await;
    assert_eq!(e, "Chart.yaml names chart \"other\" but the archive's directory is \"web\"");
    // An uploaded file whose name says another version than its Chart.yaml.
    let (ct, body) = form(&chart("web", "1.0.0", "{}\n"), "web-2.0.0.tgz", None);
    let r = env
        .req(reqwest::Method::POST, "acme", "/api/priv/charts", Some("alice"))
        .header("content-type", ct)
        .body(body)
        .send()
        .await
        .expect("form");
    let e = refused(r).await;
    assert!(e.contains("holds chart web version 1.0.0; its name must be \"web-1.0.0.tgz\""), "{e}");
    // Path traversal, a version that is not SemVer, no Chart.yaml.
    let evil =
        raw_tgz(&[("web/Chart.yaml", b"apiVersion: v2\nname: web\nversion: 1.0.0\n"), ("web/../../etc/passwd", b"x")]);
    let e = refused(env.upload("acme", "priv", "alice", &evil, "").await).await;
    assert!(e.contains("unsafe path") && e.contains("etc/passwd"), "{e}");
    let e = refused(
        env.upload(
            "acme",
            "priv",
            "alice",
            &raw_tgz(&[("web/Chart.yaml", b"apiVersion: v2\nname: web\nversion: \"1.0\"\n")]),
            "",
        )
        .await,
    )
    .await;
    assert!(e.contains("invalid chart version \"1.0\""), "{e}");
    let e = refused(env.upload("acme", "priv", "alice", &raw_tgz(&[("web/values.yaml", b"a: 1\n")]), "").await).await;
    assert_eq!(e, "the chart archive has no web/Chart.yaml");
    // A provenance file for another archive.
    let tgz = chart("web", "1.0.0", "{}\n");
    let (ct, body) = form(&tgz, "web-1.0.0.tgz", Some(&provenance("web", "9.0.0", &tgz)));
    let r = env
        .req(reqwest::Method::POST, "acme", "/api/priv/charts", Some("alice"))
        .header("content-type", ct)
        .body(body)
        .send()
        .await
        .expect("form");
    let e = refused(r).await;
    assert!(e.contains("not a signed provenance of web-1.0.0.tgz"), "{e}");
    // Nothing was stored.
    let (_, list) = json(env.get("acme", "/api/priv/charts", Some("alice")).send().await.expect("list")).await;
    assert_eq!(list, serde_json::json!({}));
}

#[tokio::test]
async fn provenance_uploaded_on_its_own_is_served_beside_the_chart() {
    let env = Env::start().await;
    let tgz = chart("web", "1.0.0", "{}\n");
    assert_eq!(env.upload("acme", "priv", "alice", &tgz, "").await.status(), 201);
    let prov = provenance("web", "1.0.0", &tgz);
    let r = env
        .req(reqwest::Method::POST, "acme", "/api/priv/prov", Some("alice"))
        .body(prov.clone())
        .send()
        .await
        .expect("prov");
    assert_eq!(r.status(), 201);
    let r = env.get("acme", "/priv/charts/web-1.0.0.tgz.prov", Some("alice")).send().await.expect("prov");
    assert_eq!(r.bytes().await.expect("bytes").as_ref(), prov.as_slice());
    let r = env
        .req(reqwest::Method::POST, "acme", "/api/priv/prov", Some("alice"))
        .body(provenance("web", "3.0.0", &tgz))
        .send()
        .await
        .expect("prov");
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn a_chart_pushed_as_an_oci_artifact_pulls_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let running = start(dir.path(), false).await;
    let client = reqwest::Client::new();
    let base = &running.base;
    let tgz = chart("web", "0.3.0", "{}\n");
    let config = serde_json::json!({"apiVersion": "v2", "name": "web", "version": "0.3.0"}).to_string();
    let layer = push_blob(&client, base, "charts/web", &tgz).await;
    let cfg = push_blob(&client, base, "charts/web", config.as_bytes()).await;
    let manifest = serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": registry::chart::HELM_CONFIG_MEDIA_TYPE, "digest": cfg, "size": config.len()},
        "layers": [{"mediaType": registry::chart::HELM_CHART_MEDIA_TYPE, "digest": layer, "size": tgz.len()}],
    })
    .to_string();
    let r = client
        .put(format!("{base}/v2/charts/web/manifests/0.3.0"))
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(manifest.clone())
        .send()
        .await
        .expect("manifest");
    assert_eq!(r.status(), 201, "{:?}", r.text().await);
    // Pull as `helm pull oci://` does: the manifest by tag, then the chart layer by digest.
    let r = client
        .get(format!("{base}/v2/charts/web/manifests/0.3.0"))
        .header("accept", "application/vnd.oci.image.manifest.v1+json")
        .send()
        .await
        .expect("pull");
    assert_eq!(r.status(), 200);
    let pulled: Value = r.json().await.expect("manifest json");
    assert_eq!(pulled["config"]["mediaType"], registry::chart::HELM_CONFIG_MEDIA_TYPE);
    assert_eq!(pulled["layers"][0]["mediaType"], registry::chart::HELM_CHART_MEDIA_TYPE);
    let digest = pulled["layers"][0]["digest"].as_str().expect("digest");
    let r = client.get(format!("{base}/v2/charts/web/blobs/{digest}")).send().await.expect("blob");
    assert_eq!(r.bytes().await.expect("bytes").as_ref(), tgz.as_slice());
    let c = registry::chart::inspect_chart(&tgz).expect("a valid chart");
    assert_eq!((c.name.as_str(), c.version.as_str()), ("web", "0.3.0"));
    let (s, tags) = json(client.get(format!("{base}/v2/charts/web/tags/list")).send().await.expect("tags")).await;
    assert_eq!((s, tags["tags"].clone()), (200, serde_json::json!(["0.3.0"])));
}
