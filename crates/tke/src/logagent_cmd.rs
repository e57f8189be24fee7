//! `tke logagent`: the node log agent (what the LogCollector add-on's DaemonSet runs on every
//! node): follows the cluster's LogCollector rules and ships the node's log lines to
//! Elasticsearch or Kafka (see the logagent crate).

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use anyhow::Context as _;

#[derive(clap::Args, Debug)]
pub struct LogAgentArgs {
    /// The node this agent runs on (its pods are the ones enriched; the DaemonSet passes
    /// spec.nodeName).
    #[arg(long, env = "NODE_NAME")]
    pub node_name: String,
    /// Kubeconfig of the business cluster (default: the in-cluster service account, else
    /// $KUBECONFIG / ~/.kube/config).
    #[arg(long, env = "KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// Use the pod's service account.
    #[arg(long, default_value_t = false)]
    pub in_cluster: bool,
    /// The kubelet's container log directory.
    #[arg(long, default_value = "/var/log/pods")]
    pub pods_dir: PathBuf,
    /// The kubelet's root directory (pods' emptyDir volumes live under <it>/pods/<uid>/volumes).
    #[arg(long, default_value = "/var/lib/kubelet")]
    pub kubelet_root: PathBuf,
    /// Where the node's root file system is seen (host-log paths and hostPath volumes are read
    /// under it; `/host` when the DaemonSet mounts / there).
    #[arg(long, default_value = "/")]
    pub host_root: PathBuf,
    /// Positions, the disk spool and the generated certificate.
    #[arg(long)]
    pub state_dir: PathBuf,
    /// Memory buffer cap (e.g. 64MiB).
    #[arg(long, default_value = "64MiB")]
    pub buffer_memory: String,
    /// Disk spool cap, in the state directory (e.g. 1GiB); beyond memory + disk the readers
    /// pause.
    #[arg(long, default_value = "1GiB")]
    pub buffer_disk: String,
    /// Address of the agent's HTTPS endpoints (metrics, status, log files).
    #[arg(long, default_value = "0.0.0.0:31139")]
    pub listen: SocketAddr,
    /// Serving certificate (PEM); default: a self-signed one generated in the state directory.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// File holding the bearer token callers must send (a mounted Secret); when not given, or
    /// absent (an optional Secret not created), a token generated into <state-dir>/token.
    #[arg(long)]
    pub token_file: Option<PathBuf>,
    /// How often a file at its end is read again (milliseconds).
    #[arg(long, default_value_t = 250)]
    pub poll_ms: u64,
    /// How often rules, pods and directories are matched again (milliseconds).
    #[arg(long, default_value_t = 1000)]
    pub scan_ms: u64,
    /// Lines per request to an output.
    #[arg(long, default_value_t = 2000)]
    pub batch_lines: usize,
    /// Longest wait between retries of an output that is down (seconds).
    #[arg(long, default_value_t = 30)]
    pub max_backoff_seconds: u64,
}

fn token(args: &LogAgentArgs) -> anyhow::Result<String> {
    if let Some(path) = args.token_file.as_ref().filter(|p| p.exists()) {
        let t = std::fs::read_to_string(path).with_context(|| format!("reading the token file {}", path.display()))?;
        let t = t.trim().to_string();
        anyhow::ensure!(!t.is_empty(), "the token file {} is empty", path.display());
        return Ok(t);
    }
    if let Some(p) = &args.token_file {
        eprintln!("logagent: the token file {} does not exist: using a token of this agent's own", p.display());
    }
    let path = args.state_dir.join("token");
    if let Ok(t) = std::fs::read_to_string(&path)
        && !t.trim().is_empty()
    {
        return Ok(t.trim().to_string());
    }
    std::fs::create_dir_all(&args.state_dir).with_context(|| format!("creating {}", args.state_dir.display()))?;
    let t: String = {
        use rand::Rng as _;
        let mut rng = rand::rng();
        (0..32).map(|_| format!("{:02x}", rng.random::<u8>())).collect()
    };
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    std::io::Write::write_all(
        &mut opts.open(&path).with_context(|| format!("writing {}", path.display()))?,
        t.as_bytes(),
    )?;
    eprintln!("logagent: generated the endpoints' bearer token into {}", path.display());
    Ok(t)
}

pub async fn run(args: LogAgentArgs) -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = match (&args.kubeconfig, args.in_cluster) {
        (_, true) => kube::Config::incluster().context("reading the in-cluster configuration")?,
        (Some(path), false) => {
            let kc =
                kube::config::Kubeconfig::read_from(path).with_context(|| format!("reading {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kc, &Default::default()).await.context("the kubeconfig")?
        }
        (None, false) => kube::Config::infer().await.context("finding a cluster configuration")?,
    };
    let client = kube::Client::try_from(config).context("building the client")?;
    let size = |flag: &str, v: &str| logagent::parse_size(v).map_err(|e| anyhow::anyhow!("--{flag}: {e}"));
    let cfg = logagent::Config {
        node: args.node_name.clone(),
        pods_dir: args.pods_dir.clone(),
        kubelet_root: args.kubelet_root.clone(),
        host_root: args.host_root.clone(),
        state_dir: args.state_dir.clone(),
        memory_cap: size("buffer-memory", &args.buffer_memory)?,
        disk_cap: size("buffer-disk", &args.buffer_disk)?,
        listen: args.listen,
        tls_cert: args.tls_cert.clone(),
        tls_key: args.tls_key.clone(),
        token: token(&args)?,
        poll: Duration::from_millis(args.poll_ms.max(10)),
        scan: Duration::from_millis(args.scan_ms.max(50)),
        batch_lines: args.batch_lines,
        max_backoff: Duration::from_secs(args.max_backoff_seconds.max(1)),
    };
    logagent::run(client, cfg, crate::serve::shutdown_signal()).await
}
