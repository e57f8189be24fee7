//! `spec.features.files` and `spec.features.hooks`: files copied from the platform host onto
//! the nodes, and the customized hook scripts run as root on them within a time limit.

use std::{collections::VecDeque, path::PathBuf, sync::Arc, time::Duration};

use api::platform::{
    Cluster, Machine,
    cluster::{ClusterMachine, ClusterSpec},
};
use async_trait::async_trait;
use kube::{
    Api, Client,
    api::{ApiResource, DynamicObject, GroupVersionKind},
};
use platform::{
    engine::{Handler, Step, StepError, TRUE},
    machine::MachineContext,
    provider::{ClusterContext, ClusterStep},
};
use serde_json::Value;

use crate::{
    install::InstallOptions,
    ssh::{Exec, Stream, shell_quote},
};

use super::Shared;
use super::cluster::{Nodes, masters, scale_up_step, select};

/// How many of a failed hook's last output lines go into the condition message.
const HOOK_TAIL_LINES: usize = 20;
/// Longest line kept from a hook's output (a binary blob must not flood the condition).
const HOOK_LINE_MAX: usize = 400;

/// A customized hook: which `spec.features.hooks` key it reads and which step runs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hook {
    PreClusterInstall,
    PreInstall,
    PostInstall,
    PostClusterInstall,
    PreClusterUpgrade,
    PostClusterUpgrade,
    PreUpgrade,
    PostUpgrade,
    PreClusterDelete,
    PostClusterDelete,
}

impl Hook {
    /// The HookType, the key in `spec.features.hooks`.
    pub fn key(self) -> &'static str {
        match self {
            Hook::PreClusterInstall => "PreClusterInstall",
            Hook::PreInstall => "PreInstall",
            Hook::PostInstall => "PostInstall",
            Hook::PostClusterInstall => "PostClusterInstall",
            Hook::PreClusterUpgrade => "PreClusterUpgrade",
            Hook::PostClusterUpgrade => "PostClusterUpgrade",
            Hook::PreUpgrade => "PreUpgrade",
            Hook::PostUpgrade => "PostUpgrade",
            Hook::PreClusterDelete => "PreClusterDelete",
            Hook::PostClusterDelete => "PostClusterDelete",
        }
    }

    /// The step (condition) that runs it.
    pub fn step(self) -> &'static str {
        match self {
            Hook::PreClusterInstall => "EnsurePreClusterInstallHook",
            Hook::PreInstall => "EnsurePreInstallHook",
            Hook::PostInstall => "EnsurePostInstallHook",
            Hook::PostClusterInstall => "EnsurePostClusterInstallHook",
            Hook::PreClusterUpgrade => "EnsurePreClusterUpgradeHook",
            Hook::PostClusterUpgrade => "EnsurePostClusterUpgradeHook",
            Hook::PreUpgrade => "EnsurePreUpgradeHook",
            Hook::PostUpgrade => "EnsurePostUpgradeHook",
            Hook::PreClusterDelete => "EnsurePreClusterDeleteHook",
            Hook::PostClusterDelete => "EnsurePostClusterDeleteHook",
        }
    }

    /// Cluster-level hooks run on the first master only; the others on every node.
    fn first_master_only(self) -> bool {
        !matches!(self, Hook::PreInstall | Hook::PostInstall | Hook::PreUpgrade | Hook::PostUpgrade)
    }
}

/// The script path configured for `hook`, if any.
pub fn hook_script(spec: &ClusterSpec, hook: Hook) -> Option<String> {
    spec.features.as_ref()?.hooks.as_ref()?.get(hook.key()).map(|p| p.trim().to_string()).filter(|p| !p.is_empty())
}

/// Exit status of coreutils `timeout` when it stopped the command.
const TIMED_OUT: u32 = 124;

/// The shell command running a hook script: as it is when executable, else through `sh`, with
/// `TKE_HOOK`, `TKE_CLUSTER_NAME` and `TKE_INSTALL_ROOT` (the prefix, `""` on a real machine)
/// in its environment, stopped by the machine's `timeout` after `limit` (exit 124) so that a
/// hung script does not outlive its step. A missing script exits 127 saying so.
pub fn hook_command(o: &InstallOptions, hook: Hook, script: &str, cluster: &str, limit: Duration) -> String {
    let p = shell_quote(&o.path(script));
    o.command(&format!(
        "if [ ! -f {p} ]; then printf '%s does not exist on this machine (place it there with spec.features.files)\\n' {shown} >&2; exit 127; fi; \
         export TKE_HOOK={key} TKE_CLUSTER_NAME={cluster} TKE_INSTALL_ROOT={root}; \
         if [ -x {p} ]; then set -- {p}; else set -- sh {p}; fi; \
         if command -v timeout >/dev/null 2>&1; then exec timeout -k 10 {secs} \"$@\"; else exec \"$@\"; fi",
        shown = shell_quote(script),
        key = hook.key(),
        cluster = shell_quote(cluster),
        root = shell_quote(o.root.trim_end_matches('/')),
        secs = limit.as_secs().max(1),
    ))
}

fn clip(line: &str) -> String {
    if line.len() <= HOOK_LINE_MAX {
        return line.to_string();
    }
    let mut end = HOOK_LINE_MAX;
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &line[..end])
}

/// Runs `hook`'s script (if configured) on one node as root, within the hook timeout. A failure
/// names the script, the node, the exit status and the last lines of its output.
async fn run_hook(
    sh: &Shared,
    hook: Hook,
    spec: &ClusterSpec,
    cluster: &str,
    m: &ClusterMachine,
) -> Result<(), StepError> {
    let Some(script) = hook_script(spec, hook) else { return Ok(()) };
    let what = format!("hook {} script {script} on {}", hook.key(), m.ip);
    let s = sh.connect(m).await.map_err(|e| StepError::new(format!("{what}: {}", e.0)))?;
    let mut tail: VecDeque<String> = VecDeque::new();
    let timeout = sh.opts.hook_timeout;
    let result = {
        let ip = m.ip.clone();
        let mut sink = |_: Stream, line: &str| {
            tracing::debug!(host = %ip, hook = hook.key(), "{line}");
            if tail.len() == HOOK_TAIL_LINES {
                tail.pop_front();
            }
            tail.push_back(clip(line));
        };
        // The machine stops the script at the limit; this one only guards against a machine
        // without `timeout` or a connection that stops answering.
        let exec = Exec {
            as_root: true,
            timeout: Some(timeout + Duration::from_secs(15)),
            on_line: Some(&mut sink),
            ..Default::default()
        };
        s.exec(&hook_command(&sh.opts.install, hook, &script, cluster, timeout), exec).await
    };
    s.close().await;
    let output = || {
        if tail.is_empty() { "(no output)".to_string() } else { tail.iter().cloned().collect::<Vec<_>>().join("\n") }
    };
    match result {
        Ok(out) if out.success() => {
            tracing::info!(host = %m.ip, hook = hook.key(), %script, "hook ran");
            Ok(())
        }
        Ok(out) if out.exit_code == Some(TIMED_OUT) => Err(StepError::new(format!(
            "{what} did not finish within {}s and was stopped; last output:\n{}",
            timeout.as_secs(),
            output()
        ))),
        Ok(out) => Err(StepError::new(format!("{what} failed with {}; last output:\n{}", out.status(), output()))),
        Err(crate::Error::Timeout { .. }) => Err(StepError::new(format!(
            "{what} did not finish within {}s; last output:\n{}",
            timeout.as_secs(),
            output()
        ))),
        Err(e) => Err(StepError::new(format!("{what}: {e}"))),
    }
}

/// The `spec.features.files` entries, each checked on the platform host before anything is
/// copied: the source a readable regular file, the destination absolute. Returns them with
/// the source's permission bits.
fn files_to_copy(spec: &ClusterSpec) -> Result<Vec<(PathBuf, String, u32)>, StepError> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = vec![];
    for (i, f) in spec.features.iter().flat_map(|f| f.files.iter().flatten()).enumerate() {
        let field = format!("spec.features.files[{i}]");
        if !f.dst.starts_with('/') {
            return Err(StepError::new(format!("{field}.dst {:?} must be an absolute path on the machine", f.dst)));
        }
        let meta = std::fs::metadata(&f.src)
            .map_err(|e| StepError::new(format!("{field}.src {} cannot be read on the platform host: {e}", f.src)))?;
        if !meta.is_file() {
            return Err(StepError::new(format!("{field}.src {} on the platform host is not a regular file", f.src)));
        }
        out.push((PathBuf::from(&f.src), f.dst.clone(), meta.permissions().mode() & 0o7777));
    }
    Ok(out)
}

/// `EnsureCopyFiles` on one node: every file written atomically (checksum verified, then
/// renamed into place) with its source's mode, under the install prefix.
async fn copy_files(sh: &Shared, spec: &ClusterSpec, m: &ClusterMachine) -> Result<(), StepError> {
    let files = files_to_copy(spec)?;
    if files.is_empty() {
        return Ok(());
    }
    let s = sh.connect(m).await?;
    let mut result = Ok(());
    for (src, dst, mode) in &files {
        if let Err(e) = s.upload_file(src, &sh.opts.install.path(dst), *mode, true).await {
            result = Err(StepError::new(format!("copying {} to {}:{dst}: {e}", src.display(), m.ip)));
            break;
        }
    }
    s.close().await;
    result
}

/// What the stored object says of a hook step before the hook runs. Hooks are not idempotent,
/// and the controller may hand a step a copy that lags behind its own last write (its cache):
/// such a copy may show a hook as not yet run that ran a moment ago (the run's record then
/// failed to save over the newer object). So a hook runs only when the copy is the stored
/// object; a stale copy is refused (nothing is saved from it, and the controller retries with
/// the stored one), and a step the stored object already has True is not run again.
async fn hook_due(
    platform: &Client,
    kind: &str,
    plural: &str,
    metadata: &Value,
    step: &str,
) -> Result<bool, StepError> {
    let name = metadata["name"].as_str().unwrap_or_default();
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(api::platform::GROUP, api::platform::VERSION, kind),
        plural,
    );
    let stored = Api::<DynamicObject>::all_with(platform.clone(), &ar)
        .get_opt(name)
        .await
        .map_err(|e| StepError::new(format!("reading {kind} {name} before running its hook: {e}")))?
        .ok_or_else(|| StepError::new(format!("{kind} {name} no longer exists")))?;
    if stored.data["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == step && c["status"] == TRUE)
    {
        return Ok(false);
    }
    let ours = metadata["resourceVersion"].as_str();
    if ours.is_some() && stored.metadata.resource_version.as_deref() != ours {
        return Err(StepError::new(format!(
            "{kind} {name} changed while {step} was about to run its hook; it runs on the next pass"
        )));
    }
    Ok(true)
}

pub(super) struct ClusterFiles {
    pub(super) sh: Arc<Shared>,
    pub(super) nodes: Nodes,
}

#[async_trait]
impl Handler<Cluster, ClusterContext> for ClusterFiles {
    async fn run(&self, cluster: &mut Cluster, _ctx: &ClusterContext) -> Result<(), StepError> {
        for m in select(cluster, self.nodes)? {
            copy_files(&self.sh, &cluster.spec, &m).await?;
        }
        Ok(())
    }
}

/// A hook step of a cluster: cluster-level hooks on the first master, the others on `nodes`.
pub(super) struct ClusterHook {
    pub(super) sh: Arc<Shared>,
    pub(super) hook: Hook,
    pub(super) nodes: Nodes,
    pub(super) step: String,
}

impl ClusterHook {
    pub(super) fn step(sh: &Arc<Shared>, hook: Hook, nodes: Nodes) -> ClusterStep {
        let name = if nodes == Nodes::Scaling { scale_up_step(hook.step()) } else { hook.step().to_string() };
        Step::new(name.clone(), ClusterHook { sh: sh.clone(), hook, nodes, step: name })
    }
}

#[async_trait]
impl Handler<Cluster, ClusterContext> for ClusterHook {
    async fn run(&self, cluster: &mut Cluster, ctx: &ClusterContext) -> Result<(), StepError> {
        if hook_script(&cluster.spec, self.hook).is_none()
            || !hook_due(&ctx.platform, "Cluster", "clusters", &cluster.metadata, &self.step).await?
        {
            return Ok(());
        }
        let on =
            if self.hook.first_master_only() { masters(cluster)?[..1].to_vec() } else { select(cluster, self.nodes)? };
        for m in on {
            run_hook(&self.sh, self.hook, &cluster.spec, cluster.name(), &m).await?;
        }
        Ok(())
    }
}

pub(super) struct MachineFiles {
    pub(super) sh: Arc<Shared>,
}

#[async_trait]
impl Handler<Machine, MachineContext> for MachineFiles {
    async fn run(&self, machine: &mut Machine, ctx: &MachineContext) -> Result<(), StepError> {
        copy_files(&self.sh, &ctx.cluster()?.spec, &machine.ssh_target()).await
    }
}

pub(super) struct MachineHook {
    pub(super) sh: Arc<Shared>,
    pub(super) hook: Hook,
}

#[async_trait]
impl Handler<Machine, MachineContext> for MachineHook {
    async fn run(&self, machine: &mut Machine, ctx: &MachineContext) -> Result<(), StepError> {
        let cluster = ctx.cluster()?;
        if hook_script(&cluster.spec, self.hook).is_none()
            || !hook_due(&ctx.platform, "Machine", "machines", &machine.metadata, self.hook.step()).await?
        {
            return Ok(());
        }
        run_hook(&self.sh, self.hook, &cluster.spec, cluster.name(), &machine.ssh_target()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Instant;

    #[test]
    fn hooks_are_read_from_the_features_and_run_under_the_prefix() {
        let spec: ClusterSpec =
            serde_json::from_value(json!({"features": {"hooks": {"PreInstall": "/opt/pre.sh", "PostInstall": "  "}}}))
                .expect("spec");
        assert_eq!(hook_script(&spec, Hook::PreInstall).as_deref(), Some("/opt/pre.sh"));
        assert_eq!(hook_script(&spec, Hook::PostInstall), None, "a blank path is no hook");
        assert_eq!(hook_script(&ClusterSpec::default(), Hook::PreClusterInstall), None);
        assert!(Hook::PreClusterInstall.first_master_only() && !Hook::PreInstall.first_master_only());
        let o = InstallOptions { root: "/scratch/".into(), ..Default::default() };
        let cmd = hook_command(&o, Hook::PreInstall, "/opt/pre.sh", "cls-a", Duration::from_secs(90));
        assert!(
            cmd.contains("set -- /scratch/opt/pre.sh;")
                && cmd.contains("TKE_HOOK=PreInstall")
                && cmd.contains("TKE_INSTALL_ROOT=/scratch"),
            "{cmd}"
        );
        assert!(cmd.contains("timeout -k 10 90 "), "{cmd}");
        assert!(cmd.starts_with("PATH=/scratch/usr/bin"), "the prefix's binaries come first: {cmd}");
        assert_eq!(clip(&"é".repeat(300)).chars().count(), HOOK_LINE_MAX / 2 + 1);
    }

    #[test]
    fn the_hook_command_runs_scripts_and_stops_them_at_the_limit() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().expect("tempdir");
        let o = InstallOptions { root: tmp.path().to_str().expect("utf-8").into(), ..Default::default() };
        let put = |name: &str, body: &str, mode: u32| {
            let p = tmp.path().join(name);
            std::fs::write(&p, body).expect("write");
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).expect("chmod");
        };
        let run = |script: &str, limit: u64| {
            let cmd = hook_command(&o, Hook::PostInstall, script, "cls a", Duration::from_secs(limit));
            let out = std::process::Command::new("sh").arg("-c").arg(&cmd).output().expect("sh");
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
            )
        };
        put("ok.sh", "echo \"$TKE_HOOK $TKE_CLUSTER_NAME $0\"\n", 0o644);
        let (code, out) = run("/ok.sh", 30);
        assert_eq!(code, Some(0), "{out}");
        assert!(out.starts_with("PostInstall cls a "), "not executable: run through sh: {out}");
        put("fail.sh", "#!/bin/sh\necho 'disk not mounted' >&2\nexit 3\n", 0o755);
        assert_eq!(run("/fail.sh", 30), (Some(3), "disk not mounted\n".to_string()));
        let (code, out) = run("/absent.sh", 30);
        assert_eq!(code, Some(127));
        assert!(out.contains("/absent.sh does not exist on this machine"), "{out}");
        if std::process::Command::new("sh")
            .arg("-c")
            .arg("command -v timeout")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            put("hang.sh", "#!/bin/sh\nsleep 30\n", 0o755);
            let start = Instant::now();
            assert_eq!(run("/hang.sh", 1).0, Some(TIMED_OUT as i32));
            assert!(start.elapsed() < Duration::from_secs(10), "stopped at the limit");
        }
    }
}
