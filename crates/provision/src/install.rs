//! Install steps of a Baremetal node, each an idempotent function the platform's step engine
//! calls once per condition (reference 2.4/2.6): system settings, binaries and images from the
//! offline bundle, systemd units, kubeadm init/join phases with a config generated from the
//! cluster spec, worker removal, drain and certificate renewal. A step that needs a program the
//! machine lacks fails with [`Error::MissingBinary`] naming it and the step that provides it,
//! so the controller records the condition and retries after that is fixed.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use api::platform::cluster::{ClusterMachine, ClusterSpec};
use serde_json::{Value, json};

use crate::bundle::{BundleFile, Release};
use crate::error::{Error, Result};
use crate::ssh::{Exec, Session, Stream, shell_quote};

/// Where and how steps act on the machine.
#[derive(Clone, Debug)]
pub struct InstallOptions {
    /// Prefix of every path written (`""` on a real machine; a scratch directory in tests).
    pub root: String,
    /// Run systemctl, modprobe, sysctl and swapoff (off when writing into a prefix).
    pub manage_system: bool,
    /// Limit for long commands (kubeadm phases, image import).
    pub timeout: Duration,
}

impl Default for InstallOptions {
    fn default() -> Self {
        InstallOptions { root: String::new(), manage_system: true, timeout: Duration::from_secs(20 * 60) }
    }
}

impl InstallOptions {
    /// Directories searched before root's PATH: the prefix's binary directories, so that
    /// binaries installed into a prefix are the ones the later steps run.
    pub fn search_dirs(&self) -> Vec<String> {
        if self.root.trim_end_matches('/').is_empty() {
            return vec![];
        }
        [paths::BIN, paths::LOCAL_BIN, paths::LOCAL_SBIN].iter().map(|d| self.path(d)).collect()
    }

    /// `command` with [`InstallOptions::search_dirs`] in front of PATH.
    pub fn command(&self, command: &str) -> String {
        let dirs = self.search_dirs();
        if dirs.is_empty() {
            return command.to_string();
        }
        let quoted: Vec<String> = dirs.iter().map(|d| shell_quote(d)).collect();
        format!("PATH={}:\"$PATH\"; {command}", quoted.join(":"))
    }

    /// The path `p` (absolute on the machine) under the prefix.
    pub fn path(&self, p: &str) -> String {
        format!("{}{p}", self.root.trim_end_matches('/'))
    }
}

/// Well-known paths on a node.
pub mod paths {
    pub const BIN: &str = "/usr/bin";
    pub const LOCAL_BIN: &str = "/usr/local/bin";
    pub const LOCAL_SBIN: &str = "/usr/local/sbin";
    pub const CNI_BIN: &str = "/opt/cni/bin";
    pub const CONTAINERD_CONFIG: &str = "/etc/containerd/config.toml";
    pub const CONTAINERD_UNIT: &str = "/etc/systemd/system/containerd.service";
    pub const KUBELET_UNIT: &str = "/etc/systemd/system/kubelet.service";
    pub const KUBELET_DROPIN: &str = "/etc/systemd/system/kubelet.service.d/10-kubeadm.conf";
    pub const KUBELET_DEFAULTS: &str = "/etc/default/kubelet";
    pub const CRICTL_CONFIG: &str = "/etc/crictl.yaml";
    pub const MODULES_LOAD: &str = "/etc/modules-load.d/tke.conf";
    pub const SYSCTL: &str = "/etc/sysctl.d/99-tke.conf";
    pub const KUBEADM_CONFIG: &str = "/etc/kubernetes/kubeadm-config.yaml";
    pub const ADMIN_KUBECONFIG: &str = "/etc/kubernetes/admin.conf";
    pub const PKI: &str = "/etc/kubernetes/pki";
    pub const IMAGES_DIR: &str = "/var/lib/tke/images";
    pub const CRI_SOCKET: &str = "unix:///run/containerd/containerd.sock";
}

/// One file placed on the machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placed {
    pub path: String,
    pub sha256: String,
    /// Already there with the right content: nothing was copied.
    pub unchanged: bool,
}

/// Copies a bundle file unless the machine already has it with the same digest.
pub async fn place(s: &Session, f: &BundleFile, remote: &str, mode: u32) -> Result<Placed> {
    if s.remote_sha256(remote, true).await?.as_deref() == Some(f.sha256.as_str()) {
        return Ok(Placed { path: remote.into(), sha256: f.sha256.clone(), unchanged: true });
    }
    let got = s.upload_file(&f.path, remote, mode, true).await?;
    if got != f.sha256 {
        return Err(Error::Bundle {
            dir: f.path.display().to_string(),
            detail: format!(
                "{} changed since the bundle was validated (sha256 {got}, expected {}); copy the bundle again",
                f.rel, f.sha256
            ),
        });
    }
    Ok(Placed { path: remote.into(), sha256: got, unchanged: false })
}

fn file_name(f: &BundleFile) -> &str {
    f.rel.rsplit('/').next().unwrap_or(&f.rel)
}

/// `EnsureContainerRuntime` (binaries part), `EnsureKubelet`, `EnsureKubeadm`, `EnsureCNIPlugins`:
/// every binary of the release to its place (kubelet/kubeadm/kubectl/crictl in /usr/bin,
/// containerd in /usr/local/bin, runc in /usr/local/sbin, CNI plugins in /opt/cni/bin).
pub async fn install_binaries(s: &Session, r: &Release, o: &InstallOptions) -> Result<Vec<Placed>> {
    let mut placed = vec![];
    for f in r.kubernetes_bins.iter().chain(&r.crictl_bins) {
        placed.push(place(s, f, &o.path(&format!("{}/{}", paths::BIN, file_name(f))), 0o755).await?);
    }
    for f in &r.containerd_bins {
        let dir = if file_name(f) == "runc" { paths::LOCAL_SBIN } else { paths::LOCAL_BIN };
        placed.push(place(s, f, &o.path(&format!("{dir}/{}", file_name(f))), 0o755).await?);
    }
    for f in &r.cni_plugins {
        placed.push(place(s, f, &o.path(&format!("{}/{}", paths::CNI_BIN, file_name(f))), 0o755).await?);
    }
    Ok(placed)
}

/// Writes a text file as root unless it already has exactly this content.
pub async fn write_config(s: &Session, path: &str, content: &str, mode: u32) -> Result<bool> {
    if s.remote_sha256(path, true).await?.as_deref() == Some(crate::ssh::sha256_hex(content.as_bytes()).as_str()) {
        return Ok(false);
    }
    s.upload_bytes(content.as_bytes(), path, mode, true).await?;
    Ok(true)
}

/// Kernel modules Kubernetes networking needs.
pub const MODULES: &[&str] = &["overlay", "br_netfilter", "iptable_nat", "nf_conntrack"];

/// `EnsureKernelModule`: load now and on every boot.
pub async fn ensure_kernel_modules(s: &Session, o: &InstallOptions, extra: &[&str]) -> Result<()> {
    let mods: Vec<&str> = MODULES.iter().chain(extra).copied().collect();
    write_config(s, &o.path(paths::MODULES_LOAD), &format!("# written by tke\n{}\n", mods.join("\n")), 0o644).await?;
    if o.manage_system {
        require(s, o, &["modprobe"], "the kmod package provides it").await?;
        for m in mods {
            s.check_root(&format!("modprobe {}", shell_quote(m))).await?;
        }
    }
    Ok(())
}

/// `EnsureSysctl`: forwarding and bridged traffic through iptables.
pub async fn ensure_sysctl(s: &Session, o: &InstallOptions) -> Result<()> {
    let text = "# written by tke\nnet.ipv4.ip_forward = 1\nnet.bridge.bridge-nf-call-iptables = 1\nnet.bridge.bridge-nf-call-ip6tables = 1\nnet.ipv6.conf.all.forwarding = 1\nfs.inotify.max_user_watches = 524288\n";
    write_config(s, &o.path(paths::SYSCTL), text, 0o644).await?;
    if o.manage_system {
        require(s, o, &["sysctl"], "the procps package provides it").await?;
        s.check_root(&format!("sysctl -p {}", shell_quote(paths::SYSCTL))).await?;
    }
    Ok(())
}

/// `EnsureDisableSwap`: swap off now, and swap lines of fstab commented out.
pub async fn ensure_disable_swap(s: &Session, o: &InstallOptions) -> Result<()> {
    if o.manage_system {
        s.check_root("swapoff -a").await?;
    }
    let fstab = shell_quote(&o.path("/etc/fstab"));
    s.check_root(&format!("if [ -f {fstab} ]; then sed -i -E 's@^([^#[:space:]][^[:space:]]*[[:space:]]+[^[:space:]]+[[:space:]]+swap[[:space:]].*)$@# \\1@' {fstab}; fi")).await?;
    Ok(())
}

/// Settings of the container runtime.
#[derive(Clone, Debug)]
pub struct ContainerdSettings {
    /// The pause image (must be among the bundle's images for offline nodes).
    pub sandbox_image: String,
    /// Registry host → mirror endpoints.
    pub mirrors: BTreeMap<String, Vec<String>>,
}

impl Default for ContainerdSettings {
    fn default() -> Self {
        ContainerdSettings { sandbox_image: "registry.k8s.io/pause:3.9".into(), mirrors: BTreeMap::new() }
    }
}

/// containerd's config.toml (version 2 schema), systemd cgroups.
pub fn containerd_config(c: &ContainerdSettings) -> String {
    let mut t = format!(
        "# written by tke\nversion = 2\n\n[plugins.\"io.containerd.grpc.v1.cri\"]\n  sandbox_image = {:?}\n\
         [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc]\n  runtime_type = \"io.containerd.runc.v2\"\n\
         [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc.options]\n  SystemdCgroup = true\n\
         [plugins.\"io.containerd.grpc.v1.cri\".cni]\n  bin_dir = \"/opt/cni/bin\"\n  conf_dir = \"/etc/cni/net.d\"\n",
        c.sandbox_image
    );
    for (host, eps) in &c.mirrors {
        t.push_str(&format!(
            "[plugins.\"io.containerd.grpc.v1.cri\".registry.mirrors.{host:?}]\n  endpoint = {eps:?}\n"
        ));
    }
    t
}

pub const CONTAINERD_UNIT: &str = "# written by tke\n[Unit]\nDescription=containerd container runtime\nAfter=network.target local-fs.target\n\n[Service]\nExecStartPre=-/sbin/modprobe overlay\nExecStart=/usr/local/bin/containerd\nType=notify\nDelegate=yes\nKillMode=process\nRestart=always\nRestartSec=5\nLimitNPROC=infinity\nLimitCORE=infinity\nLimitNOFILE=infinity\nTasksMax=infinity\nOOMScoreAdjust=-999\n\n[Install]\nWantedBy=multi-user.target\n";

pub const KUBELET_UNIT: &str = "# written by tke\n[Unit]\nDescription=kubelet: The Kubernetes Node Agent\nWants=network-online.target containerd.service\nAfter=network-online.target containerd.service\n\n[Service]\nExecStart=/usr/bin/kubelet\nRestart=always\nStartLimitInterval=0\nRestartSec=10\n\n[Install]\nWantedBy=multi-user.target\n";

pub const KUBELET_DROPIN: &str = "# written by tke\n[Service]\nEnvironment=\"KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf\"\nEnvironment=\"KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml\"\nEnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env\nEnvironmentFile=-/etc/default/kubelet\nExecStart=\nExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS\n";

/// `EnsureContainerRuntime` (configuration part): config.toml, crictl.yaml and the unit, then
/// (re)start containerd.
pub async fn ensure_containerd(s: &Session, o: &InstallOptions, c: &ContainerdSettings) -> Result<()> {
    let mut changed = write_config(s, &o.path(paths::CONTAINERD_CONFIG), &containerd_config(c), 0o644).await?;
    changed |= write_config(s, &o.path(paths::CONTAINERD_UNIT), CONTAINERD_UNIT, 0o644).await?;
    let crictl = format!("runtime-endpoint: {0}\nimage-endpoint: {0}\ntimeout: 10\n", paths::CRI_SOCKET);
    write_config(s, &o.path(paths::CRICTL_CONFIG), &crictl, 0o644).await?;
    if o.manage_system {
        require(
            s,
            o,
            &["systemctl", "containerd"],
            "run EnsureContainerRuntime's binary copy (install_binaries) first",
        )
        .await?;
        let restart = if changed { "systemctl restart containerd" } else { "systemctl start containerd" };
        s.check_root(&format!("systemctl daemon-reload && systemctl enable containerd && {restart}")).await?;
    }
    Ok(())
}

/// `KUBELET_EXTRA_ARGS` for `/etc/default/kubelet`.
pub fn kubelet_defaults(extra: &BTreeMap<String, String>, node_ip: Option<&str>) -> String {
    let mut args: Vec<String> = vec![];
    if let Some(ip) = node_ip {
        args.push(format!("--node-ip={ip}"));
    }
    for (k, v) in extra {
        args.push(format!("--{}={v}", k.trim_start_matches('-')));
    }
    format!("KUBELET_EXTRA_ARGS={}\n", shell_quote(&args.join(" ")))
}

/// `EnsureKubelet` (configuration part): unit, kubeadm drop-in and extra args; enabled so that
/// kubeadm's kubelet-start phase can start it.
pub async fn ensure_kubelet(
    s: &Session,
    o: &InstallOptions,
    extra: &BTreeMap<String, String>,
    node_ip: Option<&str>,
) -> Result<()> {
    write_config(s, &o.path(paths::KUBELET_UNIT), KUBELET_UNIT, 0o644).await?;
    write_config(s, &o.path(paths::KUBELET_DROPIN), KUBELET_DROPIN, 0o644).await?;
    write_config(s, &o.path(paths::KUBELET_DEFAULTS), &kubelet_defaults(extra, node_ip), 0o644).await?;
    if o.manage_system {
        require(s, o, &["systemctl", "kubelet"], "run install_binaries (EnsureKubelet) first").await?;
        s.check_root("systemctl daemon-reload && systemctl enable kubelet").await?;
    }
    Ok(())
}

/// `EnsureKubernetesImages`: copies each image archive and imports it into containerd's
/// `k8s.io` namespace (skipping archives already imported with the same digest).
pub async fn load_images(
    s: &Session,
    r: &Release,
    o: &InstallOptions,
    progress: &mut (dyn FnMut(Stream, &str) + Send),
) -> Result<Vec<Placed>> {
    require(
        s,
        o,
        &["ctr"],
        "it comes with containerd from the offline bundle: run install_binaries (EnsureContainerRuntime) first",
    )
    .await?;
    let mut placed = vec![];
    for img in &r.images {
        let remote = o.path(&format!("{}/{}", paths::IMAGES_DIR, file_name(img)));
        let p = place(s, img, &remote, 0o644).await?;
        let marker = format!("{remote}.imported");
        let done = s.read_file(&marker, true).await?.is_some_and(|m| m.trim() == img.sha256);
        if !done || !p.unchanged {
            let cmd = o.command(&format!("ctr -n k8s.io images import {}", shell_quote(&remote)));
            let out = s
                .exec(
                    &cmd,
                    Exec {
                        as_root: true,
                        timeout: Some(o.timeout),
                        on_line: Some(&mut *progress),
                        ..Default::default()
                    },
                )
                .await?;
            s.require_success(&cmd, out)?;
            s.upload_bytes(format!("{}\n", img.sha256).as_bytes(), &marker, 0o644, true).await?;
        }
        placed.push(p);
    }
    Ok(placed)
}

/// Fails with [`Error::MissingBinary`] if any of `programs` is missing on the machine.
pub async fn require(s: &Session, o: &InstallOptions, programs: &[&str], hint: &str) -> Result<()> {
    let missing = s.missing_programs_in(programs, &o.search_dirs()).await?;
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Error::MissingBinary { host: s.host().into(), missing: missing.join(", "), hint: hint.into() })
    }
}

// ---------------------------------------------------------------------------------------------
// kubeadm

/// What kubeadm needs beyond the cluster spec.
#[derive(Clone, Debug, Default)]
pub struct KubeadmParams {
    /// The node being configured.
    pub node: ClusterMachine,
    /// Node name (defaults to the IP, or the host name when `hostnameAsNodename`).
    pub node_name: Option<String>,
    /// Bootstrap token `abcdef.0123456789abcdef` (init creates it, join uses it).
    pub bootstrap_token: Option<String>,
    /// kubeadm upload-certs key (hex, 64 characters).
    pub certificate_key: Option<String>,
    /// `sha256:<hex>` of the cluster CA's public key, for join discovery.
    pub ca_cert_hash: Option<String>,
    /// Image registry prefix (e.g. the platform's registry); `None` uses kubeadm's default.
    pub image_repository: Option<String>,
    /// The directory holding the platform's webhook kubeconfigs when the cluster's API server
    /// asks the platform to authenticate tokens and authorize requests (`EnsureAuthzWebhook`
    /// writes them there); `None` leaves both webhooks off.
    pub auth_webhook_dir: Option<String>,
    /// The directory holding the audit policy and the audit webhook kubeconfig when the
    /// cluster sends its audit events to the platform (`EnsureAuditConfig` writes them there);
    /// `None` leaves auditing off.
    pub audit_dir: Option<String>,
}

/// The audit policy's file name in the audit directory (as `clusters/{name}/auditwebhook`
/// names it).
pub const AUDIT_POLICY_FILE: &str = "audit-policy.yaml";
/// The audit webhook kubeconfig's file name in the audit directory.
pub const AUDIT_WEBHOOK_FILE: &str = "audit-webhook.kubeconfig";
/// Where the audit files go on the masters.
pub const AUDIT_DIR: &str = "/etc/kubernetes/audit";

/// Whether the cluster sends its audit events to the platform (`spec.features.enableAudit`).
pub fn audit_enabled(spec: &ClusterSpec) -> bool {
    spec.features.as_ref().and_then(|f| f.enable_audit).unwrap_or(false)
}

/// Whether the cluster's API server uses the platform's authn/authz webhooks
/// (`spec.features.authzWebhookAddr`, `builtin` or `external`).
pub fn auth_webhook_enabled(spec: &ClusterSpec) -> bool {
    spec.features
        .as_ref()
        .and_then(|f| f.authz_webhook_addr.as_ref())
        .is_some_and(|a| a.builtin.is_some() || a.external.is_some())
}

/// The webhook server when `authzWebhookAddr.external` names one (`https://ip:port`); `None`
/// for the platform's own address.
pub fn auth_webhook_server(spec: &ClusterSpec) -> Option<String> {
    let x = spec.features.as_ref()?.authz_webhook_addr.as_ref()?.external.as_ref()?;
    let host = if x.ip.contains(':') { format!("[{}]", x.ip) } else { x.ip.clone() };
    Some(format!("https://{host}:{}", x.port.unwrap_or(443)))
}

/// Address clients and joining nodes use for the API server.
pub fn control_plane_endpoint(spec: &ClusterSpec) -> Result<String> {
    if let Some(ha) = spec.features.as_ref().and_then(|f| f.ha.as_ref()) {
        if let Some(t) = &ha.tke {
            return Ok(format!("{}:6443", t.vip));
        }
        if let Some(t) = &ha.third_party {
            return Ok(format!("{}:{}", t.vip, t.vport.unwrap_or(6443)));
        }
    }
    let first = spec
        .machines
        .as_ref()
        .and_then(|m| m.first())
        .ok_or_else(|| Error::InvalidTarget("the cluster has no master machines".into()))?;
    Ok(format!("{}:6443", first.ip))
}

/// The service CIDR: `spec.serviceCIDR`, or (as TKE does) the last `maxClusterServiceNum`
/// addresses of the cluster CIDR.
pub fn service_cidr(spec: &ClusterSpec) -> Result<String> {
    if let Some(s) = spec.service_cidr.as_deref().filter(|s| !s.is_empty()) {
        return Ok(s.to_string());
    }
    let cluster = spec.cluster_cidr.as_deref().unwrap_or("10.244.0.0/16");
    let c = cluster.parse::<crate::checks::Cidr>().map_err(|e| Error::InvalidTarget(e.to_string()))?;
    let std::net::IpAddr::V4(a) = c.addr else {
        return Err(Error::InvalidTarget("an IPv6 clusterCIDR needs an explicit serviceCIDR".into()));
    };
    let n = u32::try_from(spec.properties.as_ref().and_then(|p| p.max_cluster_service_num).unwrap_or(256))
        .unwrap_or(256)
        .max(4);
    let bits = 32 - n.next_power_of_two().trailing_zeros();
    if bits < u32::from(c.prefix) {
        return Err(Error::InvalidTarget(format!("maxClusterServiceNum {n} does not fit in clusterCIDR {cluster}")));
    }
    let base = u32::from(a) & (u32::MAX.checked_shl(32 - u32::from(c.prefix)).unwrap_or(0));
    let size = 1u32 << (32 - u32::from(c.prefix));
    let last = base.wrapping_add(size).wrapping_sub(1u32 << (32 - bits));
    Ok(format!("{}/{bits}", std::net::Ipv4Addr::from(last)))
}

fn kube_version(spec: &ClusterSpec) -> String {
    format!("v{}", spec.version.as_deref().unwrap_or("1.30.2").trim_start_matches('v'))
}

/// kubeadm's config API version for a Kubernetes version (v1beta4 from 1.31 on).
pub fn kubeadm_api(version: &str) -> &'static str {
    let v = crate::checks::kernel_version(version.trim_start_matches('v')).unwrap_or((1, 30));
    if v >= (1, 31) { "kubeadm.k8s.io/v1beta4" } else { "kubeadm.k8s.io/v1beta3" }
}

fn args(api: &str, m: Option<&BTreeMap<String, String>>) -> Option<Value> {
    let m = m.filter(|m| !m.is_empty())?;
    Some(if api.ends_with("v1beta4") {
        Value::Array(m.iter().map(|(k, v)| json!({"name": k, "value": v})).collect())
    } else {
        json!(m)
    })
}

fn insert(obj: &mut Value, key: &str, v: Option<Value>) {
    if let (Some(v), Some(o)) = (v, obj.as_object_mut()) {
        o.insert(key.into(), v);
    }
}

fn node_registration(spec: &ClusterSpec, p: &KubeadmParams, api: &str, master: bool) -> Value {
    let mut nr = json!({"criSocket": paths::CRI_SOCKET});
    insert(&mut nr, "name", p.node_name.clone().map(Value::String));
    let mut kubelet_args = spec.kubelet_extra_args.clone().unwrap_or_default();
    kubelet_args.insert("node-ip".into(), p.node.ip.clone());
    insert(&mut nr, "kubeletExtraArgs", args(api, Some(&kubelet_args)));
    let mut taints: Vec<Value> =
        p.node.taints.iter().flatten().map(|t| json!({"key": t.key, "value": t.value, "effect": t.effect})).collect();
    let schedulable = spec.features.as_ref().and_then(|f| f.enable_master_schedule).unwrap_or(false);
    if master && !schedulable {
        taints.push(json!({"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}));
    }
    nr["taints"] = Value::Array(taints);
    nr
}

fn to_yaml(docs: &[Value]) -> Result<String> {
    let mut out = String::new();
    for (i, d) in docs.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        out.push_str(
            &serde_yaml_ng::to_string(d)
                .map_err(|e| Error::InvalidTarget(format!("cannot render kubeadm config: {e}")))?,
        );
    }
    Ok(out)
}

/// The kubeadm config for `kubeadm init` on the first master: InitConfiguration,
/// ClusterConfiguration, KubeletConfiguration and KubeProxyConfiguration.
pub fn kubeadm_init_config(spec: &ClusterSpec, p: &KubeadmParams) -> Result<String> {
    let version = kube_version(spec);
    let api = kubeadm_api(&version);
    let mut init = json!({
        "apiVersion": api, "kind": "InitConfiguration",
        "localAPIEndpoint": {"advertiseAddress": p.node.ip, "bindPort": 6443},
        "nodeRegistration": node_registration(spec, p, api, true),
    });
    if let Some(t) = &p.bootstrap_token {
        init["bootstrapTokens"] = json!([{"token": t, "ttl": "24h0m0s", "usages": ["signing", "authentication"], "groups": ["system:bootstrappers:kubeadm:default-node-token"]}]);
    }
    insert(&mut init, "certificateKey", p.certificate_key.clone().map(Value::String));

    let mut sans: Vec<String> = spec.public_alternative_names.clone().unwrap_or_default();
    sans.extend(spec.machines.iter().flatten().map(|m| m.ip.clone()));
    if let Some(ha) = spec.features.as_ref().and_then(|f| f.ha.as_ref()) {
        sans.extend(ha.tke.as_ref().map(|t| t.vip.clone()));
        sans.extend(ha.third_party.as_ref().map(|t| t.vip.clone()));
    }
    sans.push("127.0.0.1".into());
    sans.dedup();
    let mut api_server = json!({"certSANs": sans});
    let mut api_args = BTreeMap::new();
    if let Some(dir) = &p.auth_webhook_dir {
        let dir = dir.trim_end_matches('/');
        api_args = platform::authwebhook::apiserver_flags(
            &format!("{dir}/{}", platform::authwebhook::AUTHN_FILE),
            &format!("{dir}/{}", platform::authwebhook::AUTHZ_FILE),
        );
        // kubeadm mounts only the PKI into the static pod; the webhook files need their own.
        api_server["extraVolumes"] = json!([{"name": "tke-webhooks", "hostPath": dir, "mountPath": dir,
            "readOnly": true, "pathType": "DirectoryOrCreate"}]);
    }
    if let Some(dir) = &p.audit_dir {
        let dir = dir.trim_end_matches('/');
        api_args.insert("audit-policy-file".into(), format!("{dir}/{AUDIT_POLICY_FILE}"));
        api_args.insert("audit-webhook-config-file".into(), format!("{dir}/{AUDIT_WEBHOOK_FILE}"));
        api_args.insert("audit-webhook-mode".into(), "batch".into());
        let volume = json!({"name": "tke-audit", "hostPath": dir, "mountPath": dir, "readOnly": true,
            "pathType": "DirectoryOrCreate"});
        match api_server.get_mut("extraVolumes").and_then(Value::as_array_mut) {
            Some(volumes) => volumes.push(volume),
            None => api_server["extraVolumes"] = json!([volume]),
        }
    }
    // The cluster's own extra arguments win over the webhook defaults.
    api_args.extend(spec.api_server_extra_args.clone().unwrap_or_default());
    insert(&mut api_server, "extraArgs", args(api, Some(&api_args)));
    let mut cm_args = spec.controller_manager_extra_args.clone().unwrap_or_default();
    if let Some(pods) = spec.properties.as_ref().and_then(|p| p.max_node_pod_num) {
        // A node's pod range must hold twice its pods so addresses are not reused at once.
        let size = (pods.max(1) as u64 * 2).next_power_of_two();
        cm_args.entry("node-cidr-mask-size".into()).or_insert_with(|| (32 - size.trailing_zeros()).to_string());
    }
    let mut cm = json!({});
    insert(&mut cm, "extraArgs", args(api, Some(&cm_args)));
    let mut sched = json!({});
    insert(&mut sched, "extraArgs", args(api, spec.scheduler_extra_args.as_ref()));
    let etcd = match spec.etcd.as_ref() {
        Some(e) if e.external.is_some() => {
            let x = e.external.as_ref().map(|x| json!({"endpoints": x.endpoints, "caFile": x.ca_file, "certFile": x.cert_file, "keyFile": x.key_file}));
            json!({"external": x})
        }
        other => {
            let l = other.and_then(|e| e.local.as_ref());
            let mut local =
                json!({"dataDir": l.and_then(|l| l.data_dir.clone()).unwrap_or_else(|| "/var/lib/etcd".into())});
            let mut server_sans = vec!["etcd".to_string(), "etcd.kube-system".to_string()];
            server_sans.extend(l.and_then(|l| l.server_cert_sans.clone()).unwrap_or_default());
            local["serverCertSANs"] = json!(server_sans);
            insert(&mut local, "peerCertSANs", l.and_then(|l| l.peer_cert_sans.clone()).map(|v| json!(v)));
            insert(&mut local, "extraArgs", args(api, l.and_then(|l| l.extra_args.as_ref())));
            json!({"local": local})
        }
    };
    let mut cluster = json!({
        "apiVersion": api, "kind": "ClusterConfiguration",
        "kubernetesVersion": version,
        "controlPlaneEndpoint": control_plane_endpoint(spec)?,
        "networking": {
            "podSubnet": spec.cluster_cidr.clone().unwrap_or_else(|| "10.244.0.0/16".into()),
            "serviceSubnet": service_cidr(spec)?,
            "dnsDomain": spec.dns_domain.clone().unwrap_or_else(|| "cluster.local".into()),
        },
        "apiServer": api_server, "controllerManager": cm, "scheduler": sched, "etcd": etcd,
    });
    insert(&mut cluster, "imageRepository", p.image_repository.clone().map(Value::String));
    let mut kubelet = json!({"apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration", "cgroupDriver": "systemd"});
    insert(&mut kubelet, "maxPods", spec.properties.as_ref().and_then(|p| p.max_node_pod_num).map(|n| json!(n)));
    let ipvs = spec.features.as_ref().and_then(|f| f.ipvs).unwrap_or(false);
    let proxy = json!({"apiVersion": "kubeproxy.config.k8s.io/v1alpha1", "kind": "KubeProxyConfiguration", "mode": if ipvs { "ipvs" } else { "iptables" }});
    to_yaml(&[init, cluster, kubelet, proxy])
}

/// The JoinConfiguration for a worker, or for another master when `certificate_key` is set.
pub fn kubeadm_join_config(spec: &ClusterSpec, p: &KubeadmParams, master: bool) -> Result<String> {
    let version = kube_version(spec);
    let api = kubeadm_api(&version);
    let token = p
        .bootstrap_token
        .clone()
        .ok_or_else(|| Error::InvalidTarget("joining needs the bootstrap token of the cluster".into()))?;
    let hash = p
        .ca_cert_hash
        .clone()
        .ok_or_else(|| Error::InvalidTarget("joining needs the CA certificate hash (sha256:...)".into()))?;
    let mut join = json!({
        "apiVersion": api, "kind": "JoinConfiguration",
        "discovery": {"bootstrapToken": {"apiServerEndpoint": control_plane_endpoint(spec)?, "token": token, "caCertHashes": [hash]}},
        "nodeRegistration": node_registration(spec, p, api, master),
    });
    if master {
        let key = p
            .certificate_key
            .clone()
            .ok_or_else(|| Error::InvalidTarget("joining a master needs the certificate key of upload-certs".into()))?;
        join["controlPlane"] =
            json!({"localAPIEndpoint": {"advertiseAddress": p.node.ip, "bindPort": 6443}, "certificateKey": key});
    }
    to_yaml(&[join])
}

/// `kubeadm init` phases, in the order of the reference's create steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InitPhase {
    KubeletStart,
    Certs,
    KubeConfig,
    ControlPlane,
    Etcd,
    WaitControlPlane,
    UploadConfig,
    UploadCerts,
    MarkControlPlane,
    BootstrapToken,
    Addon,
}

impl InitPhase {
    /// The condition (step) name of the reference.
    pub fn step(self) -> &'static str {
        match self {
            InitPhase::KubeletStart => "EnsureKubeadmInitPhaseKubeletStart",
            InitPhase::Certs => "EnsureKubeadmInitPhaseCerts",
            InitPhase::KubeConfig => "EnsureKubeadmInitPhaseKubeConfig",
            InitPhase::ControlPlane => "EnsureKubeadmInitPhaseControlPlane",
            InitPhase::Etcd => "EnsureKubeadmInitPhaseETCD",
            InitPhase::WaitControlPlane => "EnsureKubeadmInitPhaseWaitControlPlane",
            InitPhase::UploadConfig => "EnsureKubeadmInitPhaseUploadConfig",
            InitPhase::UploadCerts => "EnsureKubeadmInitPhaseUploadCerts",
            InitPhase::MarkControlPlane => "EnsureMarkControlPlane",
            InitPhase::BootstrapToken => "EnsureKubeadmInitPhaseBootstrapToken",
            InitPhase::Addon => "EnsureKubeadmInitPhaseAddon",
        }
    }

    /// The `kubeadm init phase …` command line (config at `config`).
    pub fn command(self, config: &str) -> String {
        let c = shell_quote(config);
        match self {
            InitPhase::KubeletStart => format!("kubeadm init phase kubelet-start --config {c}"),
            InitPhase::Certs => format!("kubeadm init phase certs all --config {c}"),
            InitPhase::KubeConfig => format!("kubeadm init phase kubeconfig all --config {c}"),
            InitPhase::ControlPlane => format!("kubeadm init phase control-plane all --config {c}"),
            InitPhase::Etcd => format!("kubeadm init phase etcd local --config {c}"),
            // The phase exists only from 1.31; polling the health endpoint works everywhere.
            InitPhase::WaitControlPlane => {
                "for i in $(seq 1 240); do if curl -ksf https://127.0.0.1:6443/healthz >/dev/null 2>&1 || kubectl --kubeconfig /etc/kubernetes/admin.conf get --raw=/healthz >/dev/null 2>&1; then exit 0; fi; sleep 1; done; echo 'the API server did not become healthy within 240s; see journalctl -u kubelet and crictl ps -a' >&2; exit 1".into()
            }
            InitPhase::UploadConfig => format!("kubeadm init phase upload-config all --config {c}"),
            InitPhase::UploadCerts => format!("kubeadm init phase upload-certs --upload-certs --config {c}"),
            InitPhase::MarkControlPlane => format!("kubeadm init phase mark-control-plane --config {c}"),
            InitPhase::BootstrapToken => format!("kubeadm init phase bootstrap-token --config {c}"),
            InitPhase::Addon => format!("kubeadm init phase addon all --config {c}"),
        }
    }
}

/// `kubeadm join` phases.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JoinPhase {
    Preflight,
    ControlPlanePrepare,
    KubeletStart,
    ControlPlaneJoin,
}

impl JoinPhase {
    pub fn step(self) -> &'static str {
        match self {
            JoinPhase::Preflight => "EnsureJoinPhasePreflight",
            JoinPhase::ControlPlanePrepare => "EnsureJoinPhaseControlPlanePrepare",
            JoinPhase::KubeletStart => "EnsureJoinPhaseKubeletStart",
            JoinPhase::ControlPlaneJoin => "EnsureJoinPhaseControlPlaneJoinETCD",
        }
    }

    pub fn command(self, config: &str) -> String {
        let c = shell_quote(config);
        match self {
            // Swap and an unset ip_forward were handled by earlier steps; kubeadm's check of
            // them on hosts in containers is noise, the rest of preflight still runs.
            JoinPhase::Preflight => format!("kubeadm join phase preflight --config {c} --ignore-preflight-errors=Swap"),
            JoinPhase::ControlPlanePrepare => format!("kubeadm join phase control-plane-prepare all --config {c}"),
            JoinPhase::KubeletStart => format!("kubeadm join phase kubelet-start --config {c}"),
            JoinPhase::ControlPlaneJoin => format!("kubeadm join phase control-plane-join all --config {c}"),
        }
    }
}

/// Writes the kubeadm config and runs one kubeadm command with it, streaming its output.
async fn kubeadm(
    s: &Session,
    o: &InstallOptions,
    config: &str,
    command: &str,
    progress: &mut (dyn FnMut(Stream, &str) + Send),
) -> Result<String> {
    require(s, o, &["kubeadm"], "install it from the offline bundle (EnsureKubeadm) and retry this step").await?;
    let path = o.path(paths::KUBEADM_CONFIG);
    write_config(s, &path, config, 0o600).await?;
    let cmd = o.command(&command.replace(&shell_quote(paths::KUBEADM_CONFIG), &shell_quote(&path)));
    let out = s
        .exec(&cmd, Exec { as_root: true, timeout: Some(o.timeout), on_line: Some(progress), ..Default::default() })
        .await?;
    s.require_success(&cmd, out).map(|o| o.stdout)
}

/// Runs one `kubeadm init` phase on the first master.
pub async fn kubeadm_init_phase(
    s: &Session,
    o: &InstallOptions,
    config: &str,
    phase: InitPhase,
    progress: &mut (dyn FnMut(Stream, &str) + Send),
) -> Result<String> {
    kubeadm(s, o, config, &phase.command(paths::KUBEADM_CONFIG), progress).await
}

/// Runs one `kubeadm join` phase on a joining node.
pub async fn kubeadm_join_phase(
    s: &Session,
    o: &InstallOptions,
    config: &str,
    phase: JoinPhase,
    progress: &mut (dyn FnMut(Stream, &str) + Send),
) -> Result<String> {
    kubeadm(s, o, config, &phase.command(paths::KUBEADM_CONFIG), progress).await
}

/// The command upgrading a node's control plane or kubelet configuration: `kubeadm upgrade
/// apply v{version}` on the first master (it upgrades the cluster's configuration, the control
/// plane and the CoreDNS and kube-proxy add-ons), `kubeadm upgrade node` on every other node.
/// Both may run again on a node that is already upgraded.
pub fn kubeadm_upgrade_command(version: &str, apply: bool) -> String {
    if apply {
        format!("kubeadm upgrade apply v{} --yes", version.trim_start_matches('v'))
    } else {
        "kubeadm upgrade node".to_string()
    }
}

/// Runs [`kubeadm_upgrade_command`] on the node, streaming its output.
pub async fn kubeadm_upgrade(
    s: &Session,
    o: &InstallOptions,
    version: &str,
    apply: bool,
    progress: &mut (dyn FnMut(Stream, &str) + Send),
) -> Result<String> {
    require(
        s,
        o,
        &["kubeadm"],
        "the upgrade installs it from the offline bundle first; check the bundle holds this release",
    )
    .await?;
    let cmd = o.command(&kubeadm_upgrade_command(version, apply));
    let out = s
        .exec(&cmd, Exec { as_root: true, timeout: Some(o.timeout), on_line: Some(progress), ..Default::default() })
        .await?;
    s.require_success(&cmd, out).map(|o| o.stdout)
}

/// Restarts the kubelet so that it runs the binary just installed (nothing to do when the
/// system is not managed).
pub async fn restart_kubelet(s: &Session, o: &InstallOptions) -> Result<()> {
    if o.manage_system {
        s.check_root("systemctl daemon-reload && systemctl restart kubelet").await?;
    }
    Ok(())
}

/// Directories a removed node must not keep.
pub const NODE_STATE_DIRS: &[&str] = &[
    "/etc/kubernetes",
    "/var/lib/kubelet",
    "/var/lib/etcd",
    "/etc/cni/net.d",
    "/var/lib/cni",
    "/var/lib/tke/images",
    "/root/.kube",
];

/// `EnsureRemoveNode`/`EnsureRemoveMachine` on the machine itself: `kubeadm reset` when
/// kubeadm is there (a half-installed machine must still be removable, so it is optional),
/// services stopped, and every piece of node state deleted. Returns what was done.
pub async fn remove_node(s: &Session, o: &InstallOptions) -> Result<Vec<String>> {
    let mut done = vec![];
    if o.manage_system {
        if s.missing_programs_in(&["kubeadm"], &o.search_dirs()).await?.is_empty() {
            s.check_root(&o.command(&format!("kubeadm reset -f --cri-socket {}", paths::CRI_SOCKET))).await?;
            done.push("kubeadm reset".to_string());
        }
        s.run_root("systemctl disable --now kubelet 2>/dev/null; true").await?;
        done.push("stopped kubelet".into());
    }
    let dirs: Vec<String> = NODE_STATE_DIRS.iter().map(|d| o.path(d)).collect();
    let quoted: Vec<String> = dirs.iter().map(|d| shell_quote(d)).collect();
    s.check_root(&format!("rm -rf -- {}", quoted.join(" "))).await?;
    done.extend(dirs.into_iter().map(|d| format!("removed {d}")));
    Ok(done)
}

/// Options of a node drain.
#[derive(Clone, Debug)]
pub struct DrainOptions {
    pub timeout: Duration,
    pub grace_period: Option<u32>,
    /// Evict pods that are not managed by a controller too.
    pub force: bool,
}

impl Default for DrainOptions {
    fn default() -> Self {
        DrainOptions { timeout: Duration::from_secs(300), grace_period: None, force: false }
    }
}

/// The `kubectl drain` command a master runs for `node` with the admin kubeconfig.
pub fn drain_command(node: &str, d: &DrainOptions) -> String {
    let mut c = format!(
        "kubectl --kubeconfig {} drain {} --ignore-daemonsets --delete-emptydir-data --timeout={}s",
        paths::ADMIN_KUBECONFIG,
        shell_quote(node),
        d.timeout.as_secs()
    );
    if let Some(g) = d.grace_period {
        c.push_str(&format!(" --grace-period={g}"));
    }
    if d.force {
        c.push_str(" --force");
    }
    c
}

/// Drains `node` from a master session.
pub async fn drain(s: &Session, o: &InstallOptions, node: &str, d: &DrainOptions) -> Result<String> {
    require(s, o, &["kubectl"], "drain runs on a master, which has kubectl from the offline bundle").await?;
    let cmd = o.command(&drain_command(node, d));
    let out = s
        .exec(&cmd, Exec { as_root: true, timeout: Some(d.timeout + Duration::from_secs(30)), ..Default::default() })
        .await?;
    s.require_success(&cmd, out).map(|o| o.stdout)
}

/// Expiry of one certificate file on a master.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertExpiry {
    pub path: String,
    pub not_after: SystemTime,
}

/// The control-plane certificates kubeadm renews.
pub const CONTROL_PLANE_CERTS: &[&str] = &[
    "apiserver.crt",
    "apiserver-kubelet-client.crt",
    "apiserver-etcd-client.crt",
    "front-proxy-client.crt",
    "etcd/server.crt",
    "etcd/peer.crt",
    "etcd/healthcheck-client.crt",
];

/// Reads the expiry of every control-plane certificate present under the PKI directory.
pub async fn cert_expiry(s: &Session, o: &InstallOptions) -> Result<Vec<CertExpiry>> {
    let mut out = vec![];
    for c in CONTROL_PLANE_CERTS {
        let path = o.path(&format!("{}/{c}", paths::PKI));
        let Some(pem) = s.read_file(&path, true).await? else { continue };
        out.push(CertExpiry {
            not_after: pem_not_after(&pem).map_err(|e| Error::Copy {
                host: s.host().into(),
                path: path.clone(),
                detail: e.to_string(),
            })?,
            path,
        });
    }
    Ok(out)
}

/// Why a PEM text gives no certificate.
#[derive(Debug, thiserror::Error)]
pub enum PemCertError {
    #[error("not a PEM certificate: {0}")]
    NotPem(#[source] x509_parser::nom::Err<x509_parser::error::PEMError>),
    #[error("not an X.509 certificate: {0}")]
    NotX509(#[source] x509_parser::nom::Err<x509_parser::error::X509Error>),
}

/// `notAfter` of the first certificate of a PEM text.
pub fn pem_not_after(pem: &str) -> std::result::Result<SystemTime, PemCertError> {
    let (_, p) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).map_err(PemCertError::NotPem)?;
    let cert = p.parse_x509().map_err(PemCertError::NotX509)?;
    let secs = cert.validity().not_after.timestamp();
    Ok(if secs >= 0 { SystemTime::UNIX_EPOCH + Duration::from_secs(secs as u64) } else { SystemTime::UNIX_EPOCH })
}

/// The certificates expiring within `within` of `now` (the reference renews at 30 days).
pub fn expiring(certs: &[CertExpiry], now: SystemTime, within: Duration) -> Vec<&CertExpiry> {
    certs.iter().filter(|c| c.not_after <= now + within).collect()
}

/// The renewal command: renew everything, then restart the static control-plane pods by
/// moving their manifests away until the kubelet has stopped them, and back.
pub fn renew_command(o: &InstallOptions) -> String {
    let m = shell_quote(&o.path("/etc/kubernetes/manifests"));
    let r = shell_quote(&o.path("/etc/kubernetes/manifests.renew"));
    format!(
        "kubeadm certs renew all && mkdir -p {r} && mv {m}/*.yaml {r}/ && \
         for i in $(seq 1 60); do crictl ps -q --name 'kube-apiserver|etcd|kube-controller-manager|kube-scheduler' 2>/dev/null | grep -q . || break; sleep 1; done; \
         mv {r}/*.yaml {m}/ && rmdir {r}"
    )
}

/// `EnsureRenewCerts`: renews when any control-plane certificate expires within `within`.
/// Returns whether a renewal ran.
pub async fn renew_certs_if_expiring(s: &Session, o: &InstallOptions, within: Duration) -> Result<bool> {
    let certs = cert_expiry(s, o).await?;
    if expiring(&certs, SystemTime::now(), within).is_empty() {
        return Ok(false);
    }
    require(
        s,
        o,
        &["kubeadm", "crictl"],
        "a master has them from the offline bundle; install them (EnsureKubeadm) and retry",
    )
    .await?;
    let out = s
        .exec(&o.command(&renew_command(o)), Exec { as_root: true, timeout: Some(o.timeout), ..Default::default() })
        .await?;
    s.require_success("kubeadm certs renew all", out)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::platform::cluster::ClusterProperty;

    fn spec() -> ClusterSpec {
        serde_json::from_value(json!({
            "type": "Baremetal", "version": "1.30.2", "clusterCIDR": "10.244.0.0/16",
            "machines": [{"ip": "10.0.0.10"}, {"ip": "10.0.0.11"}],
            "apiServerExtraArgs": {"audit-log-maxage": "7"},
            "properties": {"maxNodePodNum": 64},
            "features": {"ipvs": true}
        }))
        .unwrap()
    }

    #[test]
    fn service_cidr_is_carved_from_the_end_of_the_cluster_cidr() {
        let mut s = spec();
        assert_eq!(service_cidr(&s).unwrap(), "10.244.255.0/24");
        s.properties = Some(ClusterProperty { max_cluster_service_num: Some(1024), ..Default::default() });
        assert_eq!(service_cidr(&s).unwrap(), "10.244.252.0/22");
        s.service_cidr = Some("10.96.0.0/12".into());
        assert_eq!(service_cidr(&s).unwrap(), "10.96.0.0/12");
    }

    #[test]
    fn init_config_carries_the_spec() {
        let p = KubeadmParams {
            node: spec().machines.unwrap()[0].clone(),
            bootstrap_token: Some("abcdef.0123456789abcdef".into()),
            ..Default::default()
        };
        let y = kubeadm_init_config(&spec(), &p).unwrap();
        let docs: Vec<Value> = y.split("---\n").map(|d| serde_yaml_ng::from_str(d).unwrap()).collect();
        assert_eq!(docs.len(), 4);
        assert_eq!(docs[0]["apiVersion"], "kubeadm.k8s.io/v1beta3");
        assert_eq!(docs[0]["localAPIEndpoint"]["advertiseAddress"], "10.0.0.10");
        assert_eq!(docs[0]["nodeRegistration"]["taints"][0]["key"], "node-role.kubernetes.io/control-plane");
        assert_eq!(docs[1]["kubernetesVersion"], "v1.30.2");
        assert_eq!(docs[1]["controlPlaneEndpoint"], "10.0.0.10:6443");
        assert_eq!(docs[1]["networking"]["serviceSubnet"], "10.244.255.0/24");
        assert_eq!(docs[1]["apiServer"]["extraArgs"]["audit-log-maxage"], "7");
        assert_eq!(docs[1]["controllerManager"]["extraArgs"]["node-cidr-mask-size"], "25");
        assert!(docs[1]["apiServer"]["certSANs"].as_array().unwrap().contains(&json!("10.0.0.11")));
        assert_eq!(docs[2]["maxPods"], 64);
        assert_eq!(docs[3]["mode"], "ipvs");
        // From 1.31 extra args are name/value lists (v1beta4).
        let mut s = spec();
        s.version = Some("1.31.1".into());
        let y = kubeadm_init_config(&s, &p).unwrap();
        let docs: Vec<Value> = y.split("---\n").map(|d| serde_yaml_ng::from_str(d).unwrap()).collect();
        assert_eq!(docs[1]["apiVersion"], "kubeadm.k8s.io/v1beta4");
        assert_eq!(docs[1]["apiServer"]["extraArgs"][0], json!({"name": "audit-log-maxage", "value": "7"}));
    }

    #[test]
    fn audit_is_kube_apiserver_flags_and_a_mounted_directory() {
        let mut s = spec();
        assert!(!audit_enabled(&s));
        s.features.as_mut().unwrap().enable_audit = Some(true);
        assert!(audit_enabled(&s));
        s.features.as_mut().unwrap().authz_webhook_addr = Some(serde_json::from_value(json!({"builtin": {}})).unwrap());
        let p = KubeadmParams {
            node: s.machines.clone().unwrap()[0].clone(),
            auth_webhook_dir: Some("/etc/kubernetes/tke".into()),
            audit_dir: Some(AUDIT_DIR.into()),
            ..Default::default()
        };
        let y = kubeadm_init_config(&s, &p).unwrap();
        let docs: Vec<Value> = y.split("---\n").map(|d| serde_yaml_ng::from_str(d).unwrap()).collect();
        let api_server = &docs[1]["apiServer"];
        let args = &api_server["extraArgs"];
        assert_eq!(args["audit-policy-file"], "/etc/kubernetes/audit/audit-policy.yaml");
        assert_eq!(args["audit-webhook-config-file"], "/etc/kubernetes/audit/audit-webhook.kubeconfig");
        assert_eq!(args["audit-webhook-mode"], "batch");
        assert_eq!(args["authorization-mode"], "Node,RBAC,Webhook", "beside the authz webhook");
        assert_eq!(args["audit-log-maxage"], "7", "the cluster's own arguments stay");
        let volumes = api_server["extraVolumes"].as_array().unwrap();
        assert_eq!(volumes.len(), 2, "{volumes:?}");
        assert_eq!(volumes[1]["hostPath"], "/etc/kubernetes/audit");
        assert_eq!(volumes[1]["mountPath"], "/etc/kubernetes/audit");
        // Without it, no audit flags.
        let off = KubeadmParams { audit_dir: None, ..p };
        let y = kubeadm_init_config(&s, &off).unwrap();
        assert!(!y.contains("audit-webhook"), "{y}");
    }

    #[test]
    fn the_webhooks_are_kube_apiserver_flags_and_a_mounted_directory() {
        let mut s = spec();
        assert!(!auth_webhook_enabled(&s));
        s.features.as_mut().unwrap().authz_webhook_addr = Some(serde_json::from_value(json!({"builtin": {}})).unwrap());
        assert!(auth_webhook_enabled(&s));
        assert_eq!(auth_webhook_server(&s), None);
        let p = KubeadmParams {
            node: s.machines.clone().unwrap()[0].clone(),
            auth_webhook_dir: Some("/etc/kubernetes/tke".into()),
            ..Default::default()
        };
        let y = kubeadm_init_config(&s, &p).unwrap();
        let docs: Vec<Value> = y.split("---\n").map(|d| serde_yaml_ng::from_str(d).unwrap()).collect();
        let api_server = &docs[1]["apiServer"];
        let args = &api_server["extraArgs"];
        assert_eq!(args["authentication-token-webhook-config-file"], "/etc/kubernetes/tke/tke-authn-webhook.yaml");
        assert_eq!(args["authorization-webhook-config-file"], "/etc/kubernetes/tke/tke-authz-webhook.yaml");
        assert_eq!(args["authorization-mode"], "Node,RBAC,Webhook");
        assert_eq!(args["authentication-token-webhook-version"], "v1");
        assert_eq!(args["audit-log-maxage"], "7", "the cluster's own arguments stay");
        assert_eq!(api_server["extraVolumes"][0]["hostPath"], "/etc/kubernetes/tke");
        assert_eq!(api_server["extraVolumes"][0]["mountPath"], "/etc/kubernetes/tke");
        assert_eq!(api_server["extraVolumes"][0]["readOnly"], true);

        // The cluster's own arguments win; v1beta4 lists carry the same flags.
        s.api_server_extra_args.as_mut().unwrap().insert("authorization-mode".into(), "Node,Webhook,RBAC".into());
        s.version = Some("1.31.1".into());
        let y = kubeadm_init_config(&s, &p).unwrap();
        let docs: Vec<Value> = y.split("---\n").map(|d| serde_yaml_ng::from_str(d).unwrap()).collect();
        let list = docs[1]["apiServer"]["extraArgs"].as_array().unwrap().clone();
        assert!(list.contains(&json!({"name": "authorization-mode", "value": "Node,Webhook,RBAC"})), "{list:?}");
        assert!(list.contains(&json!({"name": "authorization-webhook-version", "value": "v1"})), "{list:?}");

        // An external endpoint; without the feature nothing changes.
        s.features.as_mut().unwrap().authz_webhook_addr =
            Some(serde_json::from_value(json!({"external": {"ip": "10.0.0.9", "port": 31138}})).unwrap());
        assert_eq!(auth_webhook_server(&s).as_deref(), Some("https://10.0.0.9:31138"));
        let off = KubeadmParams { auth_webhook_dir: None, ..p };
        let y = kubeadm_init_config(&spec(), &off).unwrap();
        assert!(!y.contains("webhook") && !y.contains("extraVolumes"), "{y}");
    }

    #[test]
    fn join_config_needs_token_and_hash() {
        let mut p = KubeadmParams {
            node: ClusterMachine { ip: "10.0.0.20".into(), ..Default::default() },
            ..Default::default()
        };
        assert!(kubeadm_join_config(&spec(), &p, false).unwrap_err().to_string().contains("bootstrap token"));
        p.bootstrap_token = Some("abcdef.0123456789abcdef".into());
        p.ca_cert_hash = Some(format!("sha256:{}", "0".repeat(64)));
        let y = kubeadm_join_config(&spec(), &p, false).unwrap();
        let d: Value = serde_yaml_ng::from_str(&y).unwrap();
        assert_eq!(d["discovery"]["bootstrapToken"]["apiServerEndpoint"], "10.0.0.10:6443");
        assert!(d.get("controlPlane").is_none());
        assert!(d["nodeRegistration"]["taints"].as_array().unwrap().is_empty());
        assert!(kubeadm_join_config(&spec(), &p, true).unwrap_err().to_string().contains("certificate key"));
    }

    #[test]
    fn drain_and_phase_commands() {
        assert_eq!(
            drain_command("node-1", &DrainOptions { force: true, ..Default::default() }),
            "kubectl --kubeconfig /etc/kubernetes/admin.conf drain node-1 --ignore-daemonsets --delete-emptydir-data --timeout=300s --force"
        );
        assert_eq!(InitPhase::Certs.command("/x.yaml"), "kubeadm init phase certs all --config /x.yaml");
        assert_eq!(InitPhase::Etcd.step(), "EnsureKubeadmInitPhaseETCD");
    }

    #[test]
    fn kubelet_defaults_are_one_quoted_variable() {
        let extra = BTreeMap::from([("max-pods".to_string(), "64".to_string())]);
        assert_eq!(
            kubelet_defaults(&extra, Some("10.0.0.5")),
            "KUBELET_EXTRA_ARGS='--node-ip=10.0.0.5 --max-pods=64'\n"
        );
    }
}
