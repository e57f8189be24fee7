//! Environment checks run on a machine before it joins a cluster (reference 2.4 "Environment
//! validation" and the kubeadm-style preflight): SSH login, root or password-less sudo, OS and
//! architecture, CPU, memory, disk, clock skew, swap, kernel modules, reserved ports and overlap
//! of the cluster's CIDRs with the host's networks. Each check yields a [`CheckResult`] whose
//! message says what was found and what to do about it.

use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ssh::{Privilege, Session, SshOptions, Target};

/// Outcome of one check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    Passed,
    /// Not blocking, but worth a look (e.g. a kernel module that is loadable but not loaded).
    Warning,
    Failed,
}

/// One check's structured result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    /// Name as in the reference (`SSH`, `TimeDiff`, `MachineResourceCPU`, ...).
    pub name: String,
    pub status: Status,
    /// What was found, and for a failure what to change.
    pub message: String,
    /// The measured value, machine-readable (`"8"`, `"16777216000"`, ...), when there is one.
    pub observed: Option<String>,
}

impl CheckResult {
    fn new(name: &str, status: Status, message: impl Into<String>, observed: Option<String>) -> Self {
        CheckResult { name: name.into(), status, message: message.into(), observed }
    }
    fn pass(name: &str, message: impl Into<String>, observed: impl ToString) -> Self {
        Self::new(name, Status::Passed, message, Some(observed.to_string()))
    }
    fn fail(name: &str, message: impl Into<String>, observed: Option<String>) -> Self {
        Self::new(name, Status::Failed, message, observed)
    }
    fn error(name: &str, e: &Error) -> Self {
        Self::new(name, Status::Failed, format!("the check could not run: {e}"), None)
    }
    pub fn passed(&self) -> bool {
        self.status != Status::Failed
    }
}

pub const GIB: u64 = 1 << 30;

/// Thresholds and inputs of the checks. [`Default`] gives the reference's values for a master.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CheckConfig {
    pub min_cpus: u32,
    pub min_memory_bytes: u64,
    /// `(path, minimum free bytes, check name)`; a path that does not exist yet is measured on
    /// its nearest existing parent.
    pub disks: Vec<(String, u64, String)>,
    pub max_clock_skew: Duration,
    /// Accepted `ID` values of `/etc/os-release`; empty accepts any.
    pub allowed_os: Vec<String>,
    /// Accepted `uname -m` values.
    pub allowed_arch: Vec<String>,
    /// Minimum kernel `major.minor`.
    pub min_kernel: (u32, u32),
    pub kernel_modules: Vec<String>,
    /// TCP ports that must be free.
    pub ports: Vec<u16>,
    /// Cluster and service CIDRs that must not overlap the host's networks.
    pub cidrs: Vec<String>,
}

impl Default for CheckConfig {
    fn default() -> Self {
        CheckConfig {
            min_cpus: 4,
            min_memory_bytes: 8 * GIB,
            disks: vec![
                ("/var/lib".into(), 100 * GIB, "MachineResourceDiskLib".into()),
                ("/var/log".into(), 10 * GIB, "MachineResourceDiskLog".into()),
            ],
            max_clock_skew: Duration::from_secs(5),
            allowed_os: [
                "debian",
                "ubuntu",
                "centos",
                "rhel",
                "rocky",
                "almalinux",
                "tencentos",
                "openEuler",
                "kylin",
                "fedora",
                "ol",
                "amzn",
                "sles",
                "opensuse-leap",
            ]
            .map(String::from)
            .to_vec(),
            allowed_arch: ["x86_64", "aarch64"].map(String::from).to_vec(),
            min_kernel: (3, 10),
            kernel_modules: ["br_netfilter", "overlay", "iptable_nat", "ip_vs", "nf_conntrack"]
                .map(String::from)
                .to_vec(),
            ports: MASTER_PORTS.to_vec(),
            cidrs: vec!["10.244.0.0/16".into()],
        }
    }
}

/// Ports a master needs (reference 2.4 reserved ports and preflight).
pub const MASTER_PORTS: &[u16] = &[
    6443, 2379, 2380, 10250, 10251, 10252, 10253, 10254, 10255, 10256, 10249, 80, 443, 8181, 9100, 31180, 31443, 31138,
];
/// Ports a worker needs.
pub const WORKER_PORTS: &[u16] = &[10250, 10256, 10249];

impl CheckConfig {
    /// The preflight minimum for a worker: 1 CPU... the reference asks 2 CPU for masters only.
    pub fn worker() -> Self {
        CheckConfig { min_cpus: 1, min_memory_bytes: 2 * GIB, ports: WORKER_PORTS.to_vec(), ..Default::default() }
    }
}

/// Logs in and reports the `SSH` check; the session is returned for the other checks.
pub async fn check_ssh(target: &Target, options: &SshOptions) -> (CheckResult, Option<Session>) {
    match Session::connect(target, options).await {
        Ok(s) => (CheckResult::pass("SSH", format!("logged in as {}", s.name()), s.name()), Some(s)),
        Err(e) => (CheckResult::fail("SSH", format!("cannot log in to {}: {e}", target.display()), None), None),
    }
}

/// Runs every check on a logged-in session (the `SSH` one is [`check_ssh`]).
pub async fn run_all(s: &Session, cfg: &CheckConfig) -> Vec<CheckResult> {
    let mut out =
        vec![check_privilege(s).await, check_os(s, cfg).await, check_cpu(s, cfg).await, check_memory(s, cfg).await];
    for (path, min, name) in &cfg.disks {
        out.push(check_disk(s, name, path, *min).await);
    }
    out.push(check_clock(s, cfg).await);
    out.push(check_swap(s).await);
    out.push(check_kernel_modules(s, cfg).await);
    out.push(check_ports(s, &cfg.ports).await);
    out.push(check_cidr_overlap(s, &cfg.cidrs).await);
    out
}

/// Root or password-less sudo (sudo with the login password also works for us, with a warning).
pub async fn check_privilege(s: &Session) -> CheckResult {
    const N: &str = "Privilege";
    match s.privilege().await {
        Ok(Privilege::Root) => CheckResult::pass(N, "logged in as root", "root"),
        Ok(Privilege::PasswordlessSudo) => {
            CheckResult::pass(N, format!("{} may use sudo without a password", s.user()), "sudo")
        }
        Ok(Privilege::PasswordSudo) => CheckResult::new(
            N,
            Status::Warning,
            format!(
                "{} needs its password for sudo; it works, but set NOPASSWD in sudoers for key-only logins",
                s.user()
            ),
            Some("sudo-password".into()),
        ),
        Err(e) => CheckResult::fail(N, e.to_string(), None),
    }
}

fn os_release_field(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|l| l.strip_prefix(&format!("{key}="))).map(|v| v.trim().trim_matches('"').to_string())
}

/// Kernel `major.minor` of `uname -r` output.
pub fn kernel_version(release: &str) -> Option<(u32, u32)> {
    let mut it = release.split(|c: char| !c.is_ascii_digit()).filter(|p| !p.is_empty());
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

/// Kubernetes architecture name of `uname -m`.
pub fn kube_arch(machine: &str) -> Option<&'static str> {
    match machine {
        "x86_64" | "amd64" => Some("amd64"),
        "aarch64" | "arm64" => Some("arm64"),
        _ => None,
    }
}

/// Facts about the machine's system.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SystemInfo {
    /// `ID` of `/etc/os-release`.
    pub os_id: String,
    /// `PRETTY_NAME` of `/etc/os-release`.
    pub os_image: String,
    pub kernel: String,
    /// `uname -m`.
    pub machine: String,
    pub hostname: String,
    pub machine_id: String,
}

impl SystemInfo {
    /// `amd64`/`arm64`, for picking bundle files.
    pub fn arch(&self) -> Option<&'static str> {
        kube_arch(&self.machine)
    }
}

/// Reads OS, kernel, architecture and names in one round trip.
pub async fn system_info(s: &Session) -> Result<SystemInfo> {
    let text = s.check("cat /etc/os-release 2>/dev/null; echo ::; uname -r; echo ::; uname -m; echo ::; hostname; echo ::; cat /etc/machine-id 2>/dev/null; true").await?;
    let parts: Vec<&str> = text.split("::\n").collect();
    let get = |i: usize| parts.get(i).map(|p| p.trim().to_string()).unwrap_or_default();
    let osr = get(0);
    Ok(SystemInfo {
        os_id: os_release_field(&osr, "ID").unwrap_or_default(),
        os_image: os_release_field(&osr, "PRETTY_NAME").unwrap_or_default(),
        kernel: get(1),
        machine: get(2),
        hostname: get(3),
        machine_id: get(4),
    })
}

/// `OS`: distribution in the allowed list, supported architecture, kernel new enough.
pub async fn check_os(s: &Session, cfg: &CheckConfig) -> CheckResult {
    const N: &str = "OS";
    let info = match system_info(s).await {
        Ok(i) => i,
        Err(e) => return CheckResult::error(N, &e),
    };
    let observed = Some(format!("{} {} {}", info.os_id, info.machine, info.kernel));
    let mut problems = vec![];
    if !cfg.allowed_os.is_empty() && !cfg.allowed_os.iter().any(|o| o.eq_ignore_ascii_case(&info.os_id)) {
        problems.push(format!(
            "operating system {:?} ({}) is not supported; use one of {}",
            info.os_id,
            info.os_image,
            cfg.allowed_os.join(", ")
        ));
    }
    if !cfg.allowed_arch.iter().any(|a| a == &info.machine) {
        problems.push(format!(
            "architecture {} is not supported; use one of {}",
            info.machine,
            cfg.allowed_arch.join(", ")
        ));
    }
    match kernel_version(&info.kernel) {
        Some(v) if v >= cfg.min_kernel => {}
        _ => problems.push(format!(
            "kernel {} is older than the required {}.{}; upgrade the kernel",
            info.kernel, cfg.min_kernel.0, cfg.min_kernel.1
        )),
    }
    if problems.is_empty() {
        CheckResult::new(
            N,
            Status::Passed,
            format!("{} on {}, kernel {}", info.os_image, info.machine, info.kernel),
            observed,
        )
    } else {
        CheckResult::fail(N, problems.join("; "), observed)
    }
}

/// `MachineResourceCPU`: online CPUs.
pub async fn check_cpu(s: &Session, cfg: &CheckConfig) -> CheckResult {
    const N: &str = "MachineResourceCPU";
    let out = match s
        .check("getconf _NPROCESSORS_ONLN 2>/dev/null || nproc 2>/dev/null || grep -c ^processor /proc/cpuinfo")
        .await
    {
        Ok(o) => o,
        Err(e) => return CheckResult::error(N, &e),
    };
    let Ok(n) = out.trim().parse::<u32>() else {
        return CheckResult::fail(N, format!("cannot read the CPU count (got {:?})", out.trim()), None);
    };
    if n >= cfg.min_cpus {
        CheckResult::pass(N, format!("{n} CPUs (at least {} needed)", cfg.min_cpus), n)
    } else {
        CheckResult::fail(
            N,
            format!("{n} CPUs but at least {} are needed; give the machine more CPUs", cfg.min_cpus),
            Some(n.to_string()),
        )
    }
}

/// `MachineResourceMemory`: `MemTotal` of `/proc/meminfo`.
pub async fn check_memory(s: &Session, cfg: &CheckConfig) -> CheckResult {
    const N: &str = "MachineResourceMemory";
    let text = match s.check("cat /proc/meminfo").await {
        Ok(o) => o,
        Err(e) => return CheckResult::error(N, &e),
    };
    let kib = text
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<u64>().ok());
    let Some(kib) = kib else {
        return CheckResult::fail(N, "cannot read MemTotal from /proc/meminfo", None);
    };
    let bytes = kib * 1024;
    let show = |b: u64| format!("{:.1} GiB", b as f64 / GIB as f64);
    if bytes >= cfg.min_memory_bytes {
        CheckResult::pass(
            N,
            format!("{} of memory (at least {} needed)", show(bytes), show(cfg.min_memory_bytes)),
            bytes,
        )
    } else {
        CheckResult::fail(
            N,
            format!("{} of memory but at least {} is needed; add memory", show(bytes), show(cfg.min_memory_bytes)),
            Some(bytes.to_string()),
        )
    }
}

/// Free bytes on the file system holding `path` (or its nearest existing parent) and that parent.
pub async fn free_space(s: &Session, path: &str) -> Result<(u64, String)> {
    let script = format!(
        "p={}; while [ ! -e \"$p\" ] && [ \"$p\" != / ]; do p=$(dirname -- \"$p\"); done; echo \"$p\"; df -P -k -- \"$p\" | tail -n 1",
        crate::ssh::shell_quote(path)
    );
    let out = s.check(&script).await?;
    let mut lines = out.lines();
    let at = lines.next().unwrap_or(path).to_string();
    let avail = lines.next().and_then(|l| l.split_whitespace().nth(3)).and_then(|v| v.parse::<u64>().ok());
    match avail {
        Some(k) => Ok((k * 1024, at)),
        None => Err(Error::Command {
            host: s.host().into(),
            command: format!("df {path}"),
            status: "unparsable output".into(),
            stderr: out,
        }),
    }
}

/// Disk space check (`MachineResourceDiskLib`, `MachineResourceDiskLog`, ...).
pub async fn check_disk(s: &Session, name: &str, path: &str, min: u64) -> CheckResult {
    let (free, at) = match free_space(s, path).await {
        Ok(v) => v,
        Err(e) => return CheckResult::error(name, &e),
    };
    let show = |b: u64| format!("{:.1} GiB", b as f64 / GIB as f64);
    let place = if at == path { path.to_string() } else { format!("{path} (measured at {at})") };
    if free >= min {
        CheckResult::pass(name, format!("{} free on {place} (at least {} needed)", show(free), show(min)), free)
    } else {
        CheckResult::fail(
            name,
            format!(
                "only {} free on {place} but at least {} is needed; free space or mount a larger disk there",
                show(free),
                show(min)
            ),
            Some(free.to_string()),
        )
    }
}

/// Clock difference between the machine and this host, corrected for the round trip.
pub async fn clock_skew(s: &Session) -> Result<f64> {
    let before = now_secs();
    let out = s.check("date +%s.%N").await?;
    let after = now_secs();
    let remote: f64 = out.trim().parse().map_err(|_| Error::Command {
        host: s.host().into(),
        command: "date +%s.%N".into(),
        status: "unparsable output".into(),
        stderr: out.clone(),
    })?;
    Ok(remote - (before + after) / 2.0)
}

fn now_secs() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// `TimeDiff`: the machine's clock within the allowed skew of ours.
pub async fn check_clock(s: &Session, cfg: &CheckConfig) -> CheckResult {
    const N: &str = "TimeDiff";
    let skew = match clock_skew(s).await {
        Ok(v) => v,
        Err(e) => return CheckResult::error(N, &e),
    };
    let max = cfg.max_clock_skew.as_secs_f64();
    let obs = Some(format!("{skew:.3}"));
    if skew.abs() <= max {
        CheckResult::new(N, Status::Passed, format!("clock differs by {skew:.3}s (at most {max}s allowed)"), obs)
    } else {
        let dir = if skew > 0.0 { "ahead of" } else { "behind" };
        CheckResult::fail(
            N,
            format!(
                "clock is {:.1}s {dir} this host (at most {max}s allowed); synchronise time with NTP (chrony or systemd-timesyncd), or certificates will be rejected",
                skew.abs()
            ),
            obs,
        )
    }
}

/// `Swap`: kubelet refuses to run with swap on.
pub async fn check_swap(s: &Session) -> CheckResult {
    const N: &str = "Swap";
    let text = match s.check("cat /proc/swaps").await {
        Ok(o) => o,
        Err(e) => return CheckResult::error(N, &e),
    };
    let devices: Vec<&str> = text.lines().skip(1).filter_map(|l| l.split_whitespace().next()).collect();
    if devices.is_empty() {
        CheckResult::pass(N, "swap is off", "off")
    } else {
        CheckResult::fail(
            N,
            format!(
                "swap is on ({}); run `swapoff -a` and remove swap entries from /etc/fstab (the install step EnsureDisableSwap does this)",
                devices.join(", ")
            ),
            Some(devices.join(",")),
        )
    }
}

/// `KernelModules`: each module loaded or built in; one that only can be loaded is a warning
/// (the install step loads it), one that is nowhere to be found fails.
pub async fn check_kernel_modules(s: &Session, cfg: &CheckConfig) -> CheckResult {
    const N: &str = "KernelModules";
    let mut script = String::new();
    for m in &cfg.kernel_modules {
        let q = crate::ssh::shell_quote(m);
        script.push_str(&format!(
            "if [ -d /sys/module/{q} ]; then echo {q} loaded; elif modinfo {q} >/dev/null 2>&1 || find /lib/modules/$(uname -r) -name {q}'.ko*' 2>/dev/null | grep -q .; then echo {q} loadable; else echo {q} missing; fi; "
        ));
    }
    let out = match s.check(&script).await {
        Ok(o) => o,
        Err(e) => return CheckResult::error(N, &e),
    };
    let mut loaded = vec![];
    let mut loadable = vec![];
    let mut missing = vec![];
    for l in out.lines() {
        let mut it = l.split_whitespace();
        match (it.next(), it.next()) {
            (Some(m), Some("loaded")) => loaded.push(m.to_string()),
            (Some(m), Some("loadable")) => loadable.push(m.to_string()),
            (Some(m), Some(_)) => missing.push(m.to_string()),
            _ => {}
        }
    }
    let obs =
        Some(format!("loaded={} loadable={} missing={}", loaded.join(","), loadable.join(","), missing.join(",")));
    if !missing.is_empty() {
        CheckResult::fail(
            N,
            format!(
                "kernel modules {} are neither loaded nor installed; install the kernel's extra modules package (e.g. linux-modules-extra) or use a kernel that has them",
                missing.join(", ")
            ),
            obs,
        )
    } else if !loadable.is_empty() {
        CheckResult::new(
            N,
            Status::Warning,
            format!(
                "kernel modules {} are not loaded yet (the install step loads them with modprobe)",
                loadable.join(", ")
            ),
            obs,
        )
    } else {
        CheckResult::new(N, Status::Passed, format!("kernel modules loaded: {}", loaded.join(", ")), obs)
    }
}

/// TCP ports with a listening socket, read from `/proc/net/tcp{,6}` (no tools needed).
pub async fn listening_ports(s: &Session) -> Result<Vec<u16>> {
    let text = s.check("cat /proc/net/tcp /proc/net/tcp6 2>/dev/null; true").await?;
    let mut ports = vec![];
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        // sl local_address rem_address st ...; st 0A is LISTEN.
        if f.len() > 3
            && f[3] == "0A"
            && let Some(port) = f[1].rsplit(':').next().and_then(|p| u16::from_str_radix(p, 16).ok())
            && !ports.contains(&port)
        {
            ports.push(port);
        }
    }
    ports.sort_unstable();
    Ok(ports)
}

/// `ReservePorts`: none of the given ports has a listener.
pub async fn check_ports(s: &Session, ports: &[u16]) -> CheckResult {
    const N: &str = "ReservePorts";
    let listening = match listening_ports(s).await {
        Ok(v) => v,
        Err(e) => return CheckResult::error(N, &e),
    };
    let busy: Vec<String> = ports.iter().filter(|p| listening.contains(p)).map(|p| p.to_string()).collect();
    if busy.is_empty() {
        CheckResult::new(N, Status::Passed, format!("ports {} are free", join_ports(ports)), Some(String::new()))
    } else {
        CheckResult::fail(
            N,
            format!(
                "ports {} are in use; stop what listens there (`ss -ltnp 'sport = :{}'` shows it) or use another machine",
                busy.join(", "),
                busy[0]
            ),
            Some(busy.join(",")),
        )
    }
}

fn join_ports(p: &[u16]) -> String {
    p.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(", ")
}

/// An IP network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Why a text is not an IP network.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    #[error("{text:?} is not an IP network (like 10.244.0.0/16)")]
    NotAnAddress { text: String, source: std::net::AddrParseError },
    #[error("{0:?} has an invalid prefix length")]
    BadPrefixLength(String),
}

impl std::str::FromStr for Cidr {
    type Err = CidrError;
    fn from_str(s: &str) -> std::result::Result<Self, CidrError> {
        let (a, p) = s.trim().split_once('/').unwrap_or((s.trim(), ""));
        let addr: IpAddr = a.parse().map_err(|source| CidrError::NotAnAddress { text: s.to_string(), source })?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = if p.is_empty() {
            max
        } else {
            p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(|| CidrError::BadPrefixLength(s.to_string()))?
        };
        Ok(Cidr { addr, prefix })
    }
}

impl Cidr {
    fn bits(&self) -> (u128, u32) {
        match self.addr {
            IpAddr::V4(a) => (u128::from(u32::from(a)), 32),
            IpAddr::V6(a) => (u128::from(a), 128),
        }
    }

    /// Whether the two networks share any address.
    pub fn overlaps(&self, other: &Cidr) -> bool {
        if self.addr.is_ipv4() != other.addr.is_ipv4() {
            return false;
        }
        let (a, width) = self.bits();
        let (b, _) = other.bits();
        let p = u32::from(self.prefix.min(other.prefix));
        if p == 0 {
            return true;
        }
        let shift = width - p;
        (a >> shift) == (b >> shift)
    }
}

/// The host's networks: interface addresses with their prefixes and routed destinations
/// (the default route excluded, since it overlaps everything).
pub async fn host_networks(s: &Session) -> Result<Vec<(Cidr, String)>> {
    let text = s
        .check("if command -v ip >/dev/null 2>&1; then echo ADDR; ip -o addr show; echo ROUTE; ip route show table all 2>/dev/null || ip route show; else echo PROCROUTE; cat /proc/net/route; fi")
        .await?;
    Ok(parse_networks(&text))
}

fn parse_networks(text: &str) -> Vec<(Cidr, String)> {
    let mut nets = vec![];
    let mut section = "";
    for line in text.lines() {
        match line.trim() {
            "ADDR" | "ROUTE" | "PROCROUTE" => {
                section = line.trim();
                continue;
            }
            _ => {}
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        match section {
            "ADDR" => {
                // "2: eth0    inet 172.17.0.2/16 brd ..."
                if let Some(i) = f.iter().position(|w| *w == "inet" || *w == "inet6")
                    && let Some(c) = f.get(i + 1).and_then(|v| v.parse::<Cidr>().ok())
                {
                    let dev = f.get(1).unwrap_or(&"").trim_end_matches(':');
                    nets.push((c, format!("address of {dev}")));
                }
            }
            "ROUTE" => {
                let mut words = f.iter().copied();
                let mut first = words.next().unwrap_or("");
                // Route types (local, broadcast, unreachable...) come first in "table all".
                if [
                    "local",
                    "broadcast",
                    "unicast",
                    "unreachable",
                    "blackhole",
                    "prohibit",
                    "throw",
                    "anycast",
                    "multicast",
                ]
                .contains(&first)
                {
                    first = words.next().unwrap_or("");
                }
                if first == "default" || first.is_empty() {
                    continue;
                }
                if let Ok(c) = first.parse::<Cidr>() {
                    if c.prefix == 0 {
                        continue;
                    }
                    let dev = f.iter().position(|w| *w == "dev").and_then(|i| f.get(i + 1)).copied().unwrap_or("?");
                    nets.push((c, format!("route via {dev}")));
                }
            }
            "PROCROUTE" => {
                // Iface Destination Gateway Flags RefCnt Use Metric Mask ... (little-endian hex)
                if f.len() > 7
                    && let (Ok(d), Ok(m)) = (u32::from_str_radix(f[1], 16), u32::from_str_radix(f[7], 16))
                    && m != 0
                {
                    let addr = std::net::Ipv4Addr::from(u32::from_be(d));
                    nets.push((
                        Cidr { addr: IpAddr::V4(addr), prefix: u32::from_be(m).count_ones() as u8 },
                        format!("route via {}", f[0]),
                    ));
                }
            }
            _ => {}
        }
    }
    nets
}

/// `HostNetOverlapping`: no cluster or service CIDR overlaps the host's addresses or routes.
pub async fn check_cidr_overlap(s: &Session, cidrs: &[String]) -> CheckResult {
    const N: &str = "HostNetOverlapping";
    let mut wanted = vec![];
    for c in cidrs {
        match c.parse::<Cidr>() {
            Ok(v) => wanted.push(v),
            Err(e) => return CheckResult::fail(N, e.to_string(), None),
        }
    }
    let nets = match host_networks(s).await {
        Ok(v) => v,
        Err(e) => return CheckResult::error(N, &e),
    };
    let mut clashes = vec![];
    for w in &wanted {
        for (n, what) in &nets {
            if w.overlaps(n) {
                let c = format!("{w} overlaps {n} ({what})");
                if !clashes.contains(&c) {
                    clashes.push(c);
                }
            }
        }
    }
    if clashes.is_empty() {
        CheckResult::new(
            N,
            Status::Passed,
            format!("{} do not overlap the host's {} networks", cidrs.join(", "), nets.len()),
            Some(String::new()),
        )
    } else {
        CheckResult::fail(
            N,
            format!("{}; choose a clusterCIDR/serviceCIDR outside the host's networks", clashes.join("; ")),
            Some(clashes.join("; ")),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Cidr {
        s.parse().unwrap()
    }

    #[test]
    fn cidr_overlap_is_symmetric_and_prefix_aware() {
        assert!(c("10.244.0.0/16").overlaps(&c("10.244.3.0/24")));
        assert!(c("10.244.3.0/24").overlaps(&c("10.244.0.0/16")));
        assert!(!c("10.244.0.0/16").overlaps(&c("10.245.0.0/16")));
        assert!(c("127.10.0.0/16").overlaps(&c("127.0.0.1/8")));
        assert!(!c("10.0.0.0/8").overlaps(&c("fd00::/8")));
        assert!(c("fd00:1::/64").overlaps(&c("fd00::/16")));
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("banana".parse::<Cidr>().is_err());
    }

    #[test]
    fn networks_come_from_ip_output_or_proc_route() {
        let text = "ADDR\n1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever\n2: eth0    inet 172.17.0.2/16 brd 172.17.255.255 scope global eth0\n\
                    ROUTE\ndefault via 172.17.0.1 dev eth0\n192.168.5.0/24 dev docker0 proto kernel scope link src 192.168.5.1\nlocal 127.0.0.0/8 dev lo table local proto kernel\n";
        let nets: Vec<String> = parse_networks(text).iter().map(|(c, w)| format!("{c} {w}")).collect();
        assert_eq!(
            nets,
            [
                "127.0.0.1/8 address of lo",
                "172.17.0.2/16 address of eth0",
                "192.168.5.0/24 route via docker0",
                "127.0.0.0/8 route via lo"
            ]
        );
        let proc = "PROCROUTE\nIface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\nens3\t00000000\t0101A8C0\t0003\t0\t0\t0\t00000000\nens3\t0001A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\n";
        let nets: Vec<String> = parse_networks(proc).iter().map(|(c, _)| c.to_string()).collect();
        assert_eq!(nets, ["192.168.1.0/24"]);
    }

    #[test]
    fn kernel_and_arch_names() {
        assert_eq!(kernel_version("6.1.0-18-amd64"), Some((6, 1)));
        assert_eq!(kernel_version("3.10.0-1160.el7.x86_64"), Some((3, 10)));
        assert_eq!(kube_arch("aarch64"), Some("arm64"));
        assert_eq!(kube_arch("riscv64"), None);
    }
}
