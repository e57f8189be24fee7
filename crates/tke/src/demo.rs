//! `tke up --demo`: a simulated business cluster in the same process, imported as cluster
//! `cls-demo`, so a new user sees a working platform at once. The cluster speaks the real Kubernetes
//! API on its own TLS listener (nodes Ready, workloads' pods Running); the platform reaches it as
//! it would any imported cluster, through its address and a ClusterCredential. Its state lives
//! in DATA_DIR/demo-cluster and survives restarts; its address and credential are refreshed on
//! every start.

use std::{path::Path, sync::Arc};

use anyhow::Context as _;
use apiserver::{ApiServer, resource::Context, store::WriteOptions};
use base64::Engine;
use serde_json::{Value, json};

const GROUP: &str = "platform.tkestack.io";
const VERSION: &str = "v1";
/// The imported cluster's name.
pub const CLUSTER: &str = "cls-demo";
const CREDENTIAL: &str = "cc-demo";

/// Starts the simulated cluster and imports (or re-points) it.
pub async fn start(server: &Arc<ApiServer>, data_dir: &Path) -> anyhow::Result<kubesim::SimCluster> {
    let sim = kubesim::SimCluster::start(kubesim::SimOptions {
        data_dir: Some(data_dir.join("demo-cluster")),
        ..Default::default()
    })
    .await
    .context("starting the demo cluster")?;
    import(server, &sim).await.context("importing the demo cluster")?;
    Ok(sim)
}

async fn import(server: &Arc<ApiServer>, sim: &kubesim::SimCluster) -> anyhow::Result<()> {
    let ctx = platform::subresources::proxy::platform_context();
    let opts = WriteOptions { field_manager: Some("tke-demo".into()), ..Default::default() };
    let port: i64 = sim
        .url()
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .trim_end_matches('/')
        .parse()
        .context("the demo cluster's port")?;

    let creds = server.resource(GROUP, VERSION, "clustercredentials").context("the platform API is not served")?;
    let cred = json!({
        "apiVersion": "platform.tkestack.io/v1", "kind": "ClusterCredential",
        "metadata": {"name": CREDENTIAL},
        "clusterName": CLUSTER,
        "caCert": base64::engine::general_purpose::STANDARD.encode(sim.ca_pem()),
        "token": sim.admin_token(),
    });
    upsert(creds, &ctx, CREDENTIAL, cred, &opts, |old, new| {
        let mut merged = old.clone();
        merged["caCert"] = new["caCert"].clone();
        merged["token"] = new["token"].clone();
        merged
    })
    .await?;

    let clusters = server.resource(GROUP, VERSION, "clusters").context("the platform API is not served")?;
    let address = json!([{"type": "Advertise", "host": "127.0.0.1", "port": port}]);
    let cluster = json!({
        "apiVersion": "platform.tkestack.io/v1", "kind": "Cluster",
        "metadata": {"name": CLUSTER, "labels": {"tkestack.io/demo": "true"}},
        "spec": {"type": "Imported", "displayName": "Demo (simulated)", "clusterCredentialRef": {"name": CREDENTIAL}},
        "status": {"addresses": address},
    });
    let created = upsert(clusters, &ctx, CLUSTER, cluster, &opts, |old, _| old.clone()).await?;
    if created["status"]["addresses"] != address {
        let mut obj = created;
        obj["status"]["addresses"] = address;
        clusters
            .update(&ctx, CLUSTER, Some("status"), obj, &opts)
            .await
            .map_err(|e| anyhow::anyhow!("pointing cluster {CLUSTER} at the demo cluster: {e}"))?;
    }
    tracing::info!(cluster = CLUSTER, url = sim.url(), "demo cluster imported");
    Ok(())
}

/// Creates `obj`, or updates the existing object with `merge(old, new)` when that changes it.
async fn upsert(
    store: &Arc<apiserver::store::ResourceStore>,
    ctx: &Context,
    name: &str,
    obj: Value,
    opts: &WriteOptions,
    merge: impl Fn(&Value, &Value) -> Value,
) -> anyhow::Result<Value> {
    match store.get(ctx, name, None).await {
        Ok(old) => {
            let merged = merge(&old, &obj);
            if merged == old {
                return Ok(old);
            }
            Ok(store
                .update(ctx, name, None, merged, opts)
                .await
                .map_err(|e| anyhow::anyhow!("updating {name}: {e}"))?
                .object)
        }
        Err(e) if e.reason == apimachinery::error::Reason::NotFound => {
            Ok(store.create(ctx, obj, opts).await.map_err(|e| anyhow::anyhow!("creating {name}: {e}"))?.object)
        }
        Err(e) => Err(anyhow::anyhow!("reading {name}: {e}")),
    }
}
