//! The audit component's flags (`tke up`): the platform's own audit policy and the retention of
//! the event store.

use std::path::PathBuf;

use anyhow::Context;

#[derive(clap::Args, Debug, Clone)]
pub struct AuditArgs {
    /// The platform's own audit policy (an audit.k8s.io/v1 Policy, YAML or JSON); without it,
    /// probes, discovery, Leases and status updates are not recorded, reads are recorded at
    /// Metadata and changes with their bodies (never the bodies of secrets, credentials,
    /// channels, API keys, passwords or tokens).
    #[arg(long, env = "TKE_AUDIT_POLICY_FILE")]
    pub audit_policy_file: Option<PathBuf>,
    /// Audit events older than this many days are deleted (hourly; `updateStoreConfig` may
    /// change it at run time).
    #[arg(long, env = "TKE_AUDIT_RETENTION_DAYS", default_value_t = 7)]
    pub audit_retention_days: u32,
    /// The oldest audit events are deleted while the database is larger than this (0: no bound).
    #[arg(long, env = "TKE_AUDIT_MAX_BYTES", default_value_t = 0)]
    pub audit_max_bytes: u64,
}

/// The component these flags describe.
pub fn component(args: &AuditArgs) -> anyhow::Result<audit::Audit> {
    let policy = match &args.audit_policy_file {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            audit::policy::Policy::parse(&text).with_context(|| format!("the audit policy {}", path.display()))?
        }
        None => audit::policy::Policy::default_policy(),
    };
    if args.audit_retention_days == 0 {
        anyhow::bail!("--audit-retention-days must be at least 1");
    }
    Ok(audit::Audit::new(audit::Config {
        policy,
        retention: audit::store::Retention { reserve_days: args.audit_retention_days, max_bytes: args.audit_max_bytes },
        ..Default::default()
    }))
}
