//! The node log agent run by `tke logagent` (the LogCollector add-on's DaemonSet): follows the
//! business cluster's LogCollector rules, reads the node's container (CRI), in-container and
//! host log files, and ships every line as enriched JSON to Elasticsearch or Kafka, at least
//! once: positions are checkpointed only after the output acknowledged the lines, a bounded
//! memory + disk buffer holds the backlog while an output is down, and the readers pause rather
//! than drop when it is full (what is lost anyway — files deleted while paused — is counted).
//!
//! Pieces: [`rules`] (the LogCollector shapes), [`discover`] (watches and which files),
//! [`tail`] (reading files), [`buffer`], [`ship`] (outputs), [`checkpoint`], [`server`] (the
//! agent's HTTPS endpoints), [`stats`]; and [`component`], the `logagent.tkestack.io/v1` API
//! the platform serves (the LogAgent kind and its subresources, which call the agents).

pub mod buffer;
pub mod checkpoint;
pub mod component;
pub mod cri;
pub mod discover;
pub mod rules;
pub mod server;
pub mod ship;
pub mod stats;
pub mod tail;

use std::{
    collections::{HashMap, HashSet},
    net::SocketAddr,
    path::PathBuf,
    sync::{Arc, RwLock},
    time::Duration,
};

use anyhow::Context as _;

/// How the agent runs.
#[derive(Clone, Debug)]
pub struct Config {
    pub node: String,
    pub pods_dir: PathBuf,
    pub kubelet_root: PathBuf,
    pub host_root: PathBuf,
    pub state_dir: PathBuf,
    pub memory_cap: u64,
    pub disk_cap: u64,
    pub listen: SocketAddr,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// The bearer token callers of the endpoints must send.
    pub token: String,
    /// How often a file at its end is looked at again.
    pub poll: Duration,
    /// How often the rules, pods and directories are matched again.
    pub scan: Duration,
    pub batch_lines: usize,
    pub max_backoff: Duration,
}

/// Parses `64MiB`, `1GiB`, `500M`, `1024` (bytes).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("{s:?} is not a size such as 64MiB or 1GiB"))?;
    let mult: u64 = match unit.trim() {
        "" | "B" => 1,
        "K" | "KB" => 1000,
        "Ki" | "KiB" => 1 << 10,
        "M" | "MB" => 1_000_000,
        "Mi" | "MiB" => 1 << 20,
        "G" | "GB" => 1_000_000_000,
        "Gi" | "GiB" => 1 << 30,
        other => return Err(format!("unknown size unit {other:?} (use KiB, MiB, GiB, K, M or G)")),
    };
    n.checked_mul(mult).ok_or_else(|| format!("{s} is too large"))
}

/// Runs the agent until `shutdown` resolves.
pub async fn run(
    client: kube::Client,
    cfg: Config,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(&cfg.state_dir).with_context(|| format!("creating {}", cfg.state_dir.display()))?;
    let checkpoints = Arc::new(checkpoint::Checkpoints::load(&cfg.state_dir)?);
    let buffer = Arc::new(
        buffer::Buffer::new(cfg.state_dir.join("spool"), cfg.memory_cap, cfg.disk_cap)
            .with_context(|| format!("preparing the spool in {}", cfg.state_dir.display()))?,
    );
    let stats = Arc::new(stats::Stats::default());
    let outputs = Arc::new(ship::Outputs::new()?);

    // The endpoints.
    let mut hosts = vec![cfg.node.clone(), "localhost".to_string(), "127.0.0.1".to_string()];
    if !cfg.listen.ip().is_unspecified() {
        hosts.push(cfg.listen.ip().to_string());
    }
    let tls = if cfg.tls_cert.is_some() || cfg.tls_key.is_some() {
        let pki = apiserver::tls::ensure_pki(&cfg.state_dir, &hosts).context("preparing certificates")?;
        apiserver::tls::server_config(
            &pki,
            &apiserver::tls::TlsOptions {
                cert_file: cfg.tls_cert.clone(),
                key_file: cfg.tls_key.clone(),
                ..Default::default()
            },
        )
    } else {
        let pki = apiserver::tls::ensure_pki(&cfg.state_dir, &hosts).context("preparing a self-signed certificate")?;
        apiserver::tls::server_config(&pki, &Default::default())
    }
    .context("the TLS configuration")?;
    let listener =
        tokio::net::TcpListener::bind(cfg.listen).await.with_context(|| format!("listening on {}", cfg.listen))?;
    let addr = listener.local_addr()?;
    let app = server::router(Arc::new(server::ServerState {
        pods_dir: cfg.pods_dir.clone(),
        token: cfg.token.clone(),
        stats: stats.clone(),
        buffer: buffer.clone(),
    }));
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let mut server_stop = stop_rx.clone();
    let server = tokio::spawn(async move {
        let stopped = async move {
            let _ = server_stop.wait_for(|s| *s).await;
        };
        if let Err(e) = apiserver::tls::serve(listener, tls, app, stopped).await {
            tracing::warn!(error = %e, "the agent's endpoints stopped");
        }
    });
    eprintln!("logagent: serving on https://{addr}");

    // Watches, reading and shipping.
    let pods: discover::Pods = Arc::new(RwLock::new(HashMap::new()));
    let rules: discover::Rules = Arc::new(RwLock::new(Default::default()));
    let (pods_synced, mut pods_ready) = tokio::sync::watch::channel(false);
    let (rules_synced, mut rules_ready) = tokio::sync::watch::channel(false);
    let watches = [
        tokio::spawn(discover::watch_pods(client.clone(), cfg.node.clone(), pods.clone(), pods_synced)),
        tokio::spawn(discover::watch_rules(client, rules.clone(), rules_synced)),
    ];
    let shipper = tokio::spawn(ship::run(
        buffer.clone(),
        outputs.clone(),
        checkpoints.clone(),
        stats.clone(),
        ship::ShipOptions {
            batch_lines: cfg.batch_lines.max(1),
            batch_bytes: 8 << 20,
            initial_backoff: Duration::from_millis(100),
            max_backoff: cfg.max_backoff,
        },
    ));
    let shared = Arc::new(tail::Shared { buffer: buffer.clone(), checkpoints, stats, poll: cfg.poll });
    let mut readers = discover::Readers::new(shared);
    let layout = discover::Layout {
        node: cfg.node.clone(),
        pods_dir: cfg.pods_dir.clone(),
        kubelet_root: cfg.kubelet_root.clone(),
        host_root: cfg.host_root.clone(),
    };
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    // Readers start once the pods and rules are listed, so that the first lines carry their
    // pod's labels.
    let synced = async {
        let _ = pods_ready.wait_for(|r| *r).await;
        let _ = rules_ready.wait_for(|r| *r).await;
    };
    tokio::select! {
        _ = synced => {}
        _ = stop_rx.wait_for(|s| *s) => {}
    }
    eprintln!("logagent: collecting on node {}", cfg.node);
    loop {
        let rule_list: Vec<rules::Rule> = rules.read().unwrap_or_else(|p| p.into_inner()).values().cloned().collect();
        let live: HashSet<String> = rule_list.iter().map(|r| format!("{}/{}", r.namespace, r.name)).collect();
        let pod_map = pods.read().unwrap_or_else(|p| p.into_inner()).clone();
        let layout2 = layout.clone();
        let outputs2 = outputs.clone();
        let wanted = tokio::task::spawn_blocking(move || discover::wanted(&layout2, &rule_list, &pod_map, &outputs2))
            .await
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "matching the rules failed");
                Default::default()
            });
        tracing::debug!(paths = wanted.len(), rules = live.len(), "scan");
        readers.reconcile(wanted, &live);
        tokio::select! {
            _ = tokio::time::sleep(cfg.scan) => {}
            _ = stop_rx.wait_for(|s| *s) => break,
        }
    }
    eprintln!("logagent: stopping");
    readers.abort_all();
    buffer.close();
    for w in watches {
        w.abort();
    }
    shipper.abort();
    let _ = server.await;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes() {
        assert_eq!(super::parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(super::parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(super::parse_size("500M"), Ok(500_000_000));
        assert_eq!(super::parse_size("1024"), Ok(1024));
        assert!(super::parse_size("lots").is_err());
        assert!(super::parse_size("5TiB").is_err());
    }
}
