//! The registry joined to its `registry.tkestack.io/v1` objects on an in-process API server
//! (embedded store): pushes, pulls and chart uploads recorded on Repository and Chart objects,
//! visibility from Namespace and ChartGroup objects, and the Namespace and ChartGroup
//! controllers (kube-runtime, through a kube client of that server) removing images and charts
//! behind their finalizers.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    },
    time::Duration,
};

use apimachinery::error::Reason;
use apiserver::{
    ApiServer, Context, UserInfo, VersionInfo,
    resource::ADMIN_GROUP,
    store::{DeleteOptions, ListOptions, WriteOptions},
};
use kube::{api::ApiResource, runtime::controller::Action};
use registry::objects::{
    Installed, Stores,
    controllers::{self, NAMESPACE_FINALIZER},
    list, name_of, str_at, system,
};
use serde_json::{Value, json};
use storage::Store;
use tokio::sync::oneshot;

fn sha256(data: &[u8]) -> String {
    registry::digest::Digest::of(registry::digest::Algorithm::Sha256, data).to_string()
}

/// Polls `f` until it returns `Some`, for at most 10 seconds.
async fn eventually<T, F, Fut>(what: &str, f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    testkit::wait_until(what, Duration::from_secs(10), f).await
}

fn user(tenant: &str, namespace: Option<&str>) -> Context {
    Context {
        user: UserInfo { name: "alice".into(), groups: vec![format!("tenant:{tenant}")], ..Default::default() },
        namespace: namespace.map(str::to_string),
    }
}

/// A kube client of `server` acting as a platform administrator, the way the controllers reach
/// the API in `tke` (there over HTTPS with the admin credential).
fn client_of(server: &Arc<ApiServer>) -> kube::Client {
    let admin = UserInfo { name: "admin".into(), groups: vec![ADMIN_GROUP.into()], ..Default::default() };
    let routes = server.router().layer(axum::middleware::map_request(move |mut req: axum::extract::Request| {
        let admin = admin.clone();
        async move {
            req.extensions_mut().insert(admin);
            req
        }
    }));
    kube::Client::new(routes, "default")
}

/// The registry joined to `server`'s objects with its controllers running.
struct Running {
    installed: Installed,
    stop: Option<oneshot::Sender<()>>,
    controllers: tokio::task::JoinHandle<()>,
}

impl std::ops::Deref for Running {
    type Target = Installed;
    fn deref(&self) -> &Installed {
        &self.installed
    }
}

impl Running {
    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.controllers).await;
    }
}

async fn start(server: &Arc<ApiServer>, config: registry::Config, tenancy: registry::Tenancy) -> Running {
    let installed = registry::objects::install(server, config, tenancy).await.expect("install");
    let (stop, stopped) = oneshot::channel::<()>();
    let controllers = tokio::spawn(controllers::run(client_of(server), installed.registry.clone(), async move {
        let _ = stopped.await;
    }));
    Running { installed, stop: Some(stop), controllers }
}

#[tokio::test]
async fn a_failed_reconcile_is_retried_without_a_new_change() {
    let dir = tempfile::tempdir().expect("dir");
    let backend: Arc<dyn Store> = Arc::new(storage::embedded::EmbeddedStore::open(dir.path()).expect("open store"));
    let server =
        ApiServer::new(backend, api::registry::resources(), "/registry", VersionInfo::default()).await.expect("server");
    let stores = Stores::of(&server).expect("stores");
    stores
        .namespaces
        .create(&user("acme", None), json!({"apiVersion": "registry.tkestack.io/v1", "kind": "Namespace", "metadata": {"name": "rns-x"}, "spec": {"name": "team"}}), &WriteOptions::default())
        .await
        .expect("namespace");
    // Fails twice (e.g. a conflict storm or a full disk), then succeeds.
    let calls = Arc::new(AtomicU32::new(0));
    let counted = calls.clone();
    let gvk = kube::api::GroupVersionKind::gvk("registry.tkestack.io", "v1", "Namespace");
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(controllers::run_controller(
        client_of(&server),
        ApiResource::from_gvk_with_plural(&gvk, "namespaces"),
        "test",
        move |_ns| {
            let n = counted.fetch_add(1, Ordering::SeqCst);
            async move {
                if n < 2 {
                    let source = registry::Error::new(registry::Code::Unknown, "transient");
                    Err(controllers::Error::Images { namespace: "team".into(), source })
                } else {
                    Ok(Action::await_change())
                }
            }
        },
        async move {
            let _ = stopped.await;
        },
    ));
    eventually("the third attempt", || async { (calls.load(Ordering::SeqCst) >= 3).then_some(()) }).await;
    let _ = stop.send(());
    task.await.expect("controller");
}

#[tokio::test]
async fn pushes_and_pulls_update_repositories_and_deleting_a_namespace_removes_its_images() {
    let dir = std::env::temp_dir().join(format!("tke-registry-api-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(dir.join("store")).expect("dir");
    let backend: Arc<dyn Store> =
        Arc::new(storage::embedded::EmbeddedStore::open(&dir.join("store")).expect("open store"));
    let server =
        ApiServer::new(backend, api::registry::resources(), "/registry", VersionInfo::default()).await.expect("server");
    let stores = Stores::of(&server).expect("stores");

    // A user of tenant acme creates namespace "team".
    let ns = stores
        .namespaces
        .create(
            &user("acme", None),
            json!({"apiVersion": "registry.tkestack.io/v1", "kind": "Namespace", "spec": {"name": "team"}}),
            &WriteOptions::default(),
        )
        .await
        .expect("namespace")
        .object;
    let ns_object = name_of(&ns).to_string();

    let mut config = registry::Config::new(dir.join("registry"));
    let hash = registry::auth::hash_password("pw").expect("hash");
    config.auth = Some(registry::AuthConfig::with_admin("admin", &hash, vec![]).expect("auth"));
    if let Some(a) = config.auth.as_mut() {
        a.scheme = "http".into();
    }
    let running = start(&server, config, registry::Tenancy::new(Some("registry.test".into()))).await;
    let http = registry::LocalServer::start(running.registry.router(), "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("serve");
    let base = format!("http://acme.registry.test:{}", http.addr.port());
    let anon = reqwest::Client::builder().resolve("acme.registry.test", http.addr).build().expect("client");

    // The finalizer is added, and the namespace is private: anonymous pulls get nothing.
    eventually("the finalizer", || async {
        let ns = stores.namespaces.get(&system(None), &ns_object, None).await.ok()?;
        ns.pointer("/metadata/finalizers/0").filter(|f| f.as_str() == Some(NAMESPACE_FINALIZER)).map(|_| ())
    })
    .await;
    let token = |scope: &'static str, login: bool| {
        let (anon, base) = (anon.clone(), base.clone());
        async move {
            let mut req = anon.get(format!("{base}/registry/auth")).query(&[("service", "tke"), ("scope", scope)]);
            if login {
                req = req.basic_auth("admin", Some("pw"));
            }
            let v: Value = req.send().await.expect("token").json().await.expect("json");
            let t = v["token"].as_str().unwrap_or_default().to_string();
            reqwest::Client::builder()
                .resolve("acme.registry.test", http_addr(&base))
                .default_headers(
                    [(reqwest::header::AUTHORIZATION, format!("Bearer {t}").parse().expect("header"))]
                        .into_iter()
                        .collect(),
                )
                .build()
                .expect("client")
        }
    };
    let r = token("repository:team/app:pull", false)
        .await
        .get(format!("{base}/v2/team/app/tags/list"))
        .send()
        .await
        .expect("tags");
    assert_eq!(r.status(), 401);

    // The administrator pushes team/app:v1 and pulls it twice.
    let admin = token("repository:team/app:pull,push", true).await;
    let layer = b"layer bytes".to_vec();
    let config_blob = br#"{"architecture":"amd64","os":"linux"}"#.to_vec();
    for blob in [&layer, &config_blob] {
        let r = admin
            .post(format!("{base}/v2/team/app/blobs/uploads/?digest={}", sha256(blob)))
            .body(blob.clone())
            .send()
            .await
            .expect("blob");
        assert_eq!(r.status(), 201);
    }
    let manifest = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256(&config_blob), "size": config_blob.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha256(&layer), "size": layer.len()}]})
    .to_string();
    let media = "application/vnd.oci.image.manifest.v1+json";
    let r = admin
        .put(format!("{base}/v2/team/app/manifests/v1"))
        .header("content-type", media)
        .body(manifest.clone())
        .send()
        .await
        .expect("manifest");
    assert_eq!(r.status(), 201);
    for _ in 0..2 {
        let r =
            admin.get(format!("{base}/v2/team/app/manifests/v1")).header("accept", media).send().await.expect("pull");
        assert_eq!(r.status(), 200);
    }

    // The Repository object appears in the namespace's Kubernetes namespace, with the tag
    // and two pulls; the namespace counts one repository. The tenant's user sees it.
    let repo = eventually("the repository with two pulls", || async {
        let items = list(&stores.repositories, &user("acme", Some(&ns_object)), &[("spec.name", "app")]).await.ok()?;
        items.into_iter().find(|r| r.pointer("/status/pullCount").and_then(Value::as_i64) == Some(2))
    })
    .await;
    assert_eq!(repo["spec"]["namespaceName"], "team");
    assert_eq!(repo["spec"]["tenantID"], "acme");
    assert_eq!(repo["status"]["tags"][0]["name"], "v1");
    assert_eq!(repo["status"]["tags"][0]["digest"], sha256(manifest.as_bytes()).as_str());
    assert!(repo["status"]["tags"][0]["timeCreated"].as_str().is_some_and(|t| t.ends_with('Z')));
    // The tag's size is what the image takes: its config and its layer.
    assert_eq!(repo["status"]["tags"][0]["size"].as_u64(), Some((config_blob.len() + layer.len()) as u64));
    eventually("repoCount 1", || async {
        let ns = stores.namespaces.get(&system(None), &ns_object, None).await.ok()?;
        (ns.pointer("/status/repoCount").and_then(Value::as_i64) == Some(1)).then_some(())
    })
    .await;

    // Making the namespace Public lets anyone pull.
    let mut ns = stores.namespaces.get(&system(None), &ns_object, None).await.expect("get");
    ns["spec"]["visibility"] = json!("Public");
    stores
        .namespaces
        .update(&user("acme", None), &ns_object, None, ns, &WriteOptions::default())
        .await
        .expect("update");
    let r = token("repository:team/app:pull", false)
        .await
        .get(format!("{base}/v2/team/app/manifests/v1"))
        .header("accept", media)
        .send()
        .await
        .expect("pull");
    assert_eq!(r.status(), 200);

    // Deleting the namespace removes its images and Repository objects, then the object.
    stores.namespaces.delete(&user("acme", None), &ns_object, &DeleteOptions::default()).await.expect("delete");
    eventually("the namespace to go", || async {
        match stores.namespaces.get(&system(None), &ns_object, None).await {
            Err(e) if e.reason == Reason::NotFound => Some(()),
            _ => None,
        }
    })
    .await;
    assert!(running.registry.namespace_repositories("acme", "team").await.expect("list").is_empty());
    assert!(
        stores
            .repositories
            .list(&system(Some(&ns_object)), &ListOptions::default())
            .await
            .expect("list")
            .items
            .is_empty()
    );
    let r = admin.get(format!("{base}/v2/team/app/tags/list")).send().await.expect("tags");
    assert_eq!(r.status(), 404);

    http.stop().await;
    running.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

fn http_addr(base: &str) -> std::net::SocketAddr {
    let port = base.rsplit(':').next().and_then(|p| p.parse().ok()).unwrap_or(0);
    std::net::SocketAddr::from(([127, 0, 0, 1], port))
}

#[tokio::test]
async fn chart_uploads_downloads_and_deletes_update_chart_objects() {
    let dir = std::env::temp_dir().join(format!("tke-registry-api-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(dir.join("store")).expect("dir");
    let backend: Arc<dyn Store> =
        Arc::new(storage::embedded::EmbeddedStore::open(&dir.join("store")).expect("open store"));
    let server =
        ApiServer::new(backend, api::registry::resources(), "/registry", VersionInfo::default()).await.expect("server");
    let stores = Stores::of(&server).expect("stores");
    let mut config = registry::Config::new(dir.join("registry"));
    let hash = registry::auth::hash_password("pw").expect("hash");
    config.auth = Some(registry::AuthConfig::with_admin("admin", &hash, vec![]).expect("auth"));
    let running = start(&server, config, registry::Tenancy::new(Some("registry.test".into()))).await;
    let http = registry::LocalServer::start(running.registry.router(), "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("serve");
    let base = format!("http://acme.registry.test:{}/chart", http.addr.port());
    let client = reqwest::Client::builder().resolve("acme.registry.test", http.addr).build().expect("client");

    // Tenant acme's private chart group "apps".
    let g = stores
        .chart_groups
        .create(&user("acme", None), json!({"spec": {"name": "apps"}}), &WriteOptions::default())
        .await
        .expect("group")
        .object;
    let group = name_of(&g).to_string();
    let chart_yaml =
        |v: &str| format!("apiVersion: v2\nname: web\nversion: {v}\nappVersion: \"2.1\"\ndescription: Web server\n");
    let v1 =
        registry::chart::package_chart(&chart_yaml("0.1.0"), &[("values.yaml", b"replicas: 1\n")]).expect("package");
    let v2 =
        registry::chart::package_chart(&chart_yaml("0.2.0"), &[("values.yaml", b"replicas: 2\n")]).expect("package");
    for tgz in [&v1, &v2] {
        let r = client
            .post(format!("{base}/api/apps/charts"))
            .basic_auth("admin", Some("pw"))
            .body(tgz.clone())
            .send()
            .await
            .expect("upload");
        assert_eq!(r.status(), 201);
    }

    // The Chart object appears in the group's Kubernetes namespace with both versions; the
    // group counts one chart; the tenant's user sees it.
    let chart = eventually("the chart with two versions", || async {
        let items = list(&stores.charts, &user("acme", Some(&group)), &[("spec.name", "web")]).await.ok()?;
        items
            .into_iter()
            .find(|c| c.pointer("/status/versions").and_then(Value::as_array).is_some_and(|v| v.len() == 2))
    })
    .await;
    assert_eq!(
        (chart["spec"]["chartGroupName"].as_str(), chart["spec"]["tenantID"].as_str()),
        (Some("apps"), Some("acme"))
    );
    let versions = &chart["status"]["versions"];
    assert_eq!((versions[0]["version"].as_str(), versions[1]["version"].as_str()), (Some("0.2.0"), Some("0.1.0")));
    assert_eq!(versions[1]["chartSize"].as_i64(), Some(v1.len() as i64));
    assert_eq!(versions[1]["appVersion"], "2.1");
    assert_eq!(versions[1]["description"], "Web server");
    eventually("chartCount 1", || async {
        let g = stores.chart_groups.get(&system(None), &group, None).await.ok()?;
        (g.pointer("/status/chartCount").and_then(Value::as_i64) == Some(1)).then_some(())
    })
    .await;

    // Downloads count as pulls. The group is private: anonymous reads are refused until it
    // is made Public.
    let r = client
        .get(format!("{base}/apps/charts/web-0.1.0.tgz"))
        .basic_auth("admin", Some("pw"))
        .send()
        .await
        .expect("download");
    assert_eq!(r.bytes().await.expect("bytes").as_ref(), v1.as_slice());
    assert_eq!(client.get(format!("{base}/apps/index.yaml")).send().await.expect("index").status(), 401);
    let mut g = stores.chart_groups.get(&system(None), &group, None).await.expect("get");
    g["spec"]["visibility"] = json!("Public");
    stores.chart_groups.update(&user("acme", None), &group, None, g, &WriteOptions::default()).await.expect("update");
    let r = client.get(format!("{base}/apps/charts/web-0.2.0.tgz")).send().await.expect("download");
    assert_eq!(r.status(), 200);
    eventually("two pulls", || async {
        let items = list(&stores.charts, &system(Some(&group)), &[("spec.name", "web")]).await.ok()?;
        items.into_iter().find(|c| c.pointer("/status/pullCount").and_then(Value::as_i64) == Some(2))
    })
    .await;

    // Deleting a version updates the list; deleting the last removes the Chart object.
    for (v, left) in [("0.1.0", 1usize), ("0.2.0", 0)] {
        let r = client
            .delete(format!("{base}/api/apps/charts/web/{v}"))
            .basic_auth("admin", Some("pw"))
            .send()
            .await
            .expect("delete");
        assert_eq!(r.status(), 200);
        eventually("the versions left", || async {
            let items = list(&stores.charts, &system(Some(&group)), &[("spec.name", "web")]).await.ok()?;
            let n = items
                .first()
                .and_then(|c| c.pointer("/status/versions").and_then(Value::as_array).map(Vec::len))
                .unwrap_or(0);
            (n == left).then_some(())
        })
        .await;
    }
    eventually("chartCount 0", || async {
        let g = stores.chart_groups.get(&system(None), &group, None).await.ok()?;
        (g.pointer("/status/chartCount").and_then(Value::as_i64) == Some(0)).then_some(())
    })
    .await;

    // Deleting the group removes the charts stored in it.
    let r = client
        .post(format!("{base}/api/apps/charts"))
        .basic_auth("admin", Some("pw"))
        .body(v1.clone())
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status(), 201);
    stores.chart_groups.delete(&user("acme", None), &group, &DeleteOptions::default()).await.expect("delete");
    eventually("the group to go", || async {
        match stores.chart_groups.get(&system(None), &group, None).await {
            Err(e) if e.reason == Reason::NotFound => Some(()),
            _ => None,
        }
    })
    .await;
    assert!(running.registry.charts().charts("acme", "apps").await.expect("charts").is_empty());
    http.stop().await;
    running.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn deleting_a_chart_group_removes_its_charts() {
    let dir = std::env::temp_dir().join(format!("tke-registry-api-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(dir.join("store")).expect("dir");
    let backend: Arc<dyn Store> =
        Arc::new(storage::embedded::EmbeddedStore::open(&dir.join("store")).expect("open store"));
    let server =
        ApiServer::new(backend, api::registry::resources(), "/registry", VersionInfo::default()).await.expect("server");
    let stores = Stores::of(&server).expect("stores");
    let running = start(&server, registry::Config::new(dir.join("registry")), registry::Tenancy::new(None)).await;
    let g = stores
        .chart_groups
        .create(&user("acme", None), json!({"spec": {"name": "charts"}}), &WriteOptions::default())
        .await
        .expect("group")
        .object;
    let group = name_of(&g).to_string();
    eventually("Available", || async {
        let g = stores.chart_groups.get(&system(None), &group, None).await.ok()?;
        (str_at(&g, &["status", "phase"]) == "Available").then_some(())
    })
    .await;
    stores
        .charts
        .create(
            &user("acme", Some(&group)),
            json!({"spec": {"name": "nginx", "chartGroupName": "charts"}}),
            &WriteOptions::default(),
        )
        .await
        .expect("chart");
    stores.chart_groups.delete(&user("acme", None), &group, &DeleteOptions::default()).await.expect("delete");
    eventually("the group to go", || async {
        match stores.chart_groups.get(&system(None), &group, None).await {
            Err(e) if e.reason == Reason::NotFound => Some(()),
            _ => None,
        }
    })
    .await;
    assert!(stores.charts.list(&system(Some(&group)), &ListOptions::default()).await.expect("list").items.is_empty());
    running.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}
