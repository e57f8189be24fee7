//! kube-rs, as our own controllers will use it: a `watcher` and a `Controller` that patches
//! status, against the real `tke up`.

use std::{sync::Arc, time::Duration};

use futures::StreamExt;
use kube::{
    Api, Client, Config,
    api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams},
    config::{KubeConfigOptions, Kubeconfig},
    runtime::{Controller, controller::Action, watcher},
};
use serde_json::json;
use testkit::tke::Tke;

async fn client(t: &Tke) -> Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let kubeconfig = Kubeconfig::read_from(t.kubeconfig()).expect("kubeconfig");
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await.expect("config");
    Client::try_from(config).expect("client")
}

fn clusters(client: Client) -> (Api<DynamicObject>, ApiResource) {
    let ar =
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("platform.tkestack.io", "v1", "Cluster"), "clusters");
    (Api::all_with(client, &ar), ar)
}

fn cluster(name: &str, ar: &ApiResource) -> DynamicObject {
    let mut o = DynamicObject::new(name, ar);
    o.data = json!({
        "spec": {"type": "Imported", "version": "1.32.0"},
        "status": {"addresses": [{"type": "Advertise", "host": "10.0.0.1", "port": 6443}]},
    });
    o
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct ReconcileError(#[from] kube::Error);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_rs_watcher_and_controller() {
    let t = Tke::start();
    let client = client(&t).await;
    let (api, ar) = clusters(client.clone());

    // A watcher sees objects created before and after it started.
    api.create(&PostParams::default(), &cluster("cls-before", &ar)).await.expect("create");
    let mut events = watcher(api.clone(), watcher::Config::default()).boxed();
    let mut seen = std::collections::BTreeSet::new();
    let created_after = tokio::spawn({
        let api = api.clone();
        let ar = ar.clone();
        async move { api.create(&PostParams::default(), &cluster("cls-after", &ar)).await }
    });
    tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(ev) = events.next().await {
            match ev.expect("watch event") {
                watcher::Event::Apply(o) | watcher::Event::InitApply(o) => {
                    seen.insert(o.metadata.name.clone().unwrap_or_default());
                }
                _ => {}
            }
            if seen.contains("cls-before") && seen.contains("cls-after") {
                break;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("watcher saw only {seen:?}"));
    created_after.await.expect("join").expect("create after");

    // A controller reconciles every cluster: it marks status.phase Running.
    let ctx = Arc::new(api.clone());
    let controller = Controller::new_with(api.clone(), watcher::Config::default(), ar.clone())
        .run(
            |obj: Arc<DynamicObject>, api: Arc<Api<DynamicObject>>| async move {
                let name = obj.metadata.name.clone().unwrap_or_default();
                if obj.data["status"]["phase"] != "Running" {
                    let patch = json!({"status": {"phase": "Running"}});
                    api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch)).await?;
                }
                Ok::<_, ReconcileError>(Action::requeue(Duration::from_secs(300)))
            },
            |_obj, _err: &ReconcileError, _ctx| Action::requeue(Duration::from_millis(200)),
            ctx,
        )
        .for_each(|_| async {});
    let handle = tokio::spawn(controller);
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let list = api.list(&Default::default()).await.expect("list");
            if list.items.len() == 2 && list.items.iter().all(|o| o.data["status"]["phase"] == "Running") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the controller marked every cluster Running");
    handle.abort();
}
