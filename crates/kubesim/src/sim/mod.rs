//! The simulator: what kubelets, the scheduler, the workload controllers and the garbage
//! collector do in a real cluster, done in the manner of kwok — nodes that report Ready and
//! capacity, pods that are scheduled round-robin and become Running at once, Deployments,
//! ReplicaSets, DaemonSets and StatefulSets that create and count their pods, ResourceQuotas that
//! count what the pods of their namespace use — as kube-rs
//! controllers that reach the cluster only through its HTTPS API with a `kube::Client`.

mod gc;
pub mod model;
mod nodes;
mod pods;
mod quotas;
mod workloads;

use std::{sync::Arc, time::Duration};

use futures::StreamExt;
use k8s_openapi::api::core::v1 as core;
use kube::{
    Api, Client,
    api::{Patch, PatchParams, PostParams},
    runtime::reflector::Store,
};
use tokio::task::JoinHandle;

/// How a simulated cluster behaves.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Number of simulated nodes.
    pub nodes: usize,
    /// Node names are `<prefix>-<index>`.
    pub node_prefix: String,
    /// The first node carries `node-role.kubernetes.io/control-plane`.
    pub control_plane: bool,
    /// The kubelet (and cluster) version the nodes report.
    pub kubelet_version: String,
    /// Capacity of each node.
    pub node_cpu: String,
    pub node_memory: String,
    pub node_pods: String,
    /// How often each node renews its Lease in `kube-node-lease` (kubelets: 10s).
    pub lease_period: Duration,
    /// How often each node rewrites its status heartbeat (kubelets: 5 minutes when unchanged).
    pub status_period: Duration,
    /// How often the garbage collector sweeps for orphans besides reacting to deletions.
    pub gc_period: Duration,
    /// The CA served in every namespace's `kube-root-ca.crt` ConfigMap.
    pub ca_pem: Option<String>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            nodes: 3,
            node_prefix: "kwok-node".into(),
            control_plane: true,
            kubelet_version: "v1.32.0".into(),
            node_cpu: "32".into(),
            node_memory: "256Gi".into(),
            node_pods: "110".into(),
            lease_period: Duration::from_secs(10),
            status_period: Duration::from_secs(60),
            gc_period: Duration::from_secs(30),
            ca_pem: None,
        }
    }
}

/// Errors of one reconcile; the controllers retry with back-off.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("{0}")]
    Other(String),
}

/// What every controller shares: the client, the configuration and the view of nodes.
pub(crate) struct Shared {
    pub client: Client,
    pub config: SimConfig,
    pub nodes: Store<core::Node>,
    /// Round-robin position of the scheduler.
    pub next_node: std::sync::atomic::AtomicUsize,
    /// Pod IP sequence per simulated node.
    pub pod_seq: std::sync::atomic::AtomicUsize,
    /// Ready, schedulable node names, published when the set changes (DaemonSets follow it).
    pub ready_nodes: tokio::sync::watch::Sender<Vec<String>>,
}

/// A running simulator. Its tasks stop when it is dropped.
pub struct Simulator {
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Simulator {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Whether a kube error is the API's `AlreadyExists` / `NotFound`.
pub(crate) fn is_status(e: &kube::Error, code: u16) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == code)
}

/// Creates an object unless it exists (idempotent bootstrap writes).
pub(crate) async fn create_if_missing<K>(api: &Api<K>, obj: &K) -> Result<(), kube::Error>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    match api.create(&PostParams::default(), obj).await {
        Ok(_) => Ok(()),
        Err(e) if is_status(&e, 409) => Ok(()),
        Err(e) => Err(e),
    }
}

/// The field manager of every write the simulator makes.
pub(crate) const MANAGER: &str = "kubesim";

pub(crate) fn merge_params() -> PatchParams {
    PatchParams { field_manager: Some(MANAGER.into()), ..Default::default() }
}

/// Merge-patches `{"status": status}` onto an object's status subresource.
pub(crate) async fn patch_status<K, S>(api: &Api<K>, name: &str, status: &S) -> Result<(), kube::Error>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    S: serde::Serialize,
{
    api.patch_status(name, &merge_params(), &Patch::Merge(serde_json::json!({ "status": status }))).await.map(|_| ())
}

impl Simulator {
    /// Registers the nodes and the namespaces every cluster has, then starts the controllers.
    /// Returns once the nodes are registered and Ready.
    pub async fn start(client: Client, config: SimConfig) -> Result<Simulator, Error> {
        bootstrap(&client, &config).await?;
        let (store, writer) = kube::runtime::reflector::store::<core::Node>();
        let (ready_tx, _) = tokio::sync::watch::channel(Vec::new());
        let shared = Arc::new(Shared {
            client: client.clone(),
            config: config.clone(),
            nodes: store,
            next_node: Default::default(),
            pod_seq: Default::default(),
            ready_nodes: ready_tx,
        });
        let mut tasks = vec![];
        tasks.push(tokio::spawn(nodes::reflect(shared.clone(), writer)));
        for index in 0..config.nodes {
            nodes::register(&shared, index).await?;
            tasks.push(tokio::spawn(nodes::heartbeat(shared.clone(), index)));
        }
        tasks.push(tokio::spawn(nodes::namespaces(shared.clone())));
        tasks.push(tokio::spawn(pods::run(shared.clone())));
        tasks.push(tokio::spawn(workloads::deployments(shared.clone())));
        tasks.push(tokio::spawn(workloads::replica_sets(shared.clone())));
        tasks.push(tokio::spawn(workloads::daemon_sets(shared.clone())));
        tasks.push(tokio::spawn(workloads::stateful_sets(shared.clone())));
        tasks.push(tokio::spawn(quotas::run(shared.clone())));
        tasks.push(tokio::spawn(gc::run(shared.clone())));
        let sim = Simulator { tasks };
        // The node view must hold every node before pods can be scheduled onto them.
        let mut ready = shared.ready_nodes.subscribe();
        let want = config.nodes;
        let waited = tokio::time::timeout(Duration::from_secs(30), ready.wait_for(|names| names.len() >= want)).await;
        if !matches!(waited, Ok(Ok(_))) {
            return Err(Error::Other(format!("the {want} simulated nodes did not become Ready within 30s")));
        }
        Ok(sim)
    }
}

/// The namespaces and the `kubernetes` service of every cluster.
async fn bootstrap(client: &Client, config: &SimConfig) -> Result<(), Error> {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    let namespaces: Api<core::Namespace> = Api::all(client.clone());
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        let obj = core::Namespace {
            metadata: ObjectMeta { name: Some(ns.into()), ..Default::default() },
            ..Default::default()
        };
        create_if_missing(&namespaces, &obj).await?;
    }
    let services: Api<core::Service> = Api::namespaced(client.clone(), "default");
    let kubernetes = core::Service {
        metadata: ObjectMeta {
            name: Some("kubernetes".into()),
            labels: Some(
                [
                    ("component".to_string(), "apiserver".to_string()),
                    ("provider".to_string(), "kubernetes".to_string()),
                ]
                .into(),
            ),
            ..Default::default()
        },
        spec: Some(core::ServiceSpec {
            cluster_ip: Some(crate::strategy::KUBERNETES_SERVICE_IP.to_string()),
            ports: Some(vec![core::ServicePort {
                name: Some("https".into()),
                port: 443,
                target_port: Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(6443)),
                protocol: Some("TCP".into()),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        status: None,
    };
    create_if_missing(&services, &kubernetes).await?;
    let _ = config;
    Ok(())
}

/// A stream that yields once per change of a watch channel (and once at the start).
pub(crate) fn changes<T: Clone + Send + Sync + 'static>(
    rx: tokio::sync::watch::Receiver<T>,
) -> impl futures::Stream<Item = ()> + Send + 'static {
    futures::stream::unfold((rx, true), |(mut rx, first)| async move {
        if first {
            return Some(((), (rx, false)));
        }
        rx.changed().await.ok()?;
        Some(((), (rx, false)))
    })
    .boxed()
}
