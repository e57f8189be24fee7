//! Certificate renewal, a housekeeping step of Running clusters (`EnsureRenewCerts`): the kubeadm
//! certificates renewed when the apiserver certificate nears its expiry, and the
//! ClusterCredential refreshed from the new admin.conf.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use api::platform::Cluster;
use async_trait::async_trait;
use platform::{
    engine::{Handler, StepError},
    provider::ClusterContext,
};

use crate::{
    install::{self, InstallOptions},
    ssh::Session,
};

use super::cluster::{masters, store_credential, uid_of};
use super::{Shared, step_err};

/// What `EnsureRenewCerts` remembers of a cluster between passes.
#[derive(Default)]
pub(super) struct RenewState {
    /// When the last check found nothing due.
    checked: Option<Instant>,
    /// A master renewed but the credential was not refreshed yet (retried on the next pass even
    /// though nothing is due any more).
    store_pending: bool,
}

/// On one master: renews the kubeadm certificates when the apiserver certificate expires within
/// `within`. One command when nothing is due. Returns whether it renewed.
async fn renew_master(s: &Session, o: &InstallOptions, within: Duration) -> Result<bool, StepError> {
    let path = o.path(&format!("{}/apiserver.crt", install::paths::PKI));
    let read = |pem: Option<String>| -> Result<Option<std::time::SystemTime>, StepError> {
        pem.map(|p| install::pem_not_after(&p).map_err(|e| StepError::new(format!("{}:{path}: {e}", s.host()))))
            .transpose()
    };
    // No apiserver certificate: the control plane's certificates are not kubeadm's to renew.
    let Some(not_after) = read(s.read_file(&path, true).await.map_err(step_err)?)? else { return Ok(false) };
    let due = |t: std::time::SystemTime| t <= std::time::SystemTime::now() + within;
    if !due(not_after) {
        return Ok(false);
    }
    tracing::info!(host = %s.host(), "the apiserver certificate expires within {} days: renewing", within.as_secs() / 86400);
    install::renew_certs_if_expiring(s, o, within).await.map_err(step_err)?;
    match read(s.read_file(&path, true).await.map_err(step_err)?)? {
        Some(t) if due(t) => Err(StepError::new(format!(
            "{}: `kubeadm certs renew all` ran but {path} still expires at {} (is the CA itself expiring? see `kubeadm certs check-expiration`)",
            s.host(),
            apimachinery::time::rfc3339(t)
        ))),
        _ => Ok(true),
    }
}

pub(super) struct RenewCerts {
    pub(super) sh: Arc<Shared>,
}

#[async_trait]
impl Handler<Cluster, ClusterContext> for RenewCerts {
    async fn run(&self, cluster: &mut Cluster, ctx: &ClusterContext) -> Result<(), StepError> {
        let id = uid_of(cluster);
        let (recent, mut pending) = {
            let map = self.sh.renew_state.lock().unwrap_or_else(|p| p.into_inner());
            let st = map.get(&id);
            (
                st.and_then(|s| s.checked).is_some_and(|t| t.elapsed() < self.sh.opts.renew_check_interval),
                st.is_some_and(|s| s.store_pending),
            )
        };
        if recent && !pending {
            return Ok(());
        }
        let set = |f: &dyn Fn(&mut RenewState)| {
            f(self.sh.renew_state.lock().unwrap_or_else(|p| p.into_inner()).entry(id.clone()).or_default())
        };
        for m in masters(cluster)? {
            let s = self.sh.connect(m).await?;
            let r = renew_master(&s, &self.sh.opts.install, self.sh.opts.renew_before).await;
            s.close().await;
            if r? {
                pending = true;
                set(&|st| st.store_pending = true);
            }
        }
        if pending {
            // admin.conf's client certificate was renewed with the rest.
            let address = store_credential(&self.sh, &ctx.platform, cluster).await?;
            cluster.status.get_or_insert_with(Default::default).addresses = Some(vec![address]);
            tracing::info!(cluster = %cluster.name(), "certificates renewed and the ClusterCredential refreshed");
        }
        set(&|st| {
            st.store_pending = false;
            st.checked = Some(Instant::now());
        });
        Ok(())
    }
}
