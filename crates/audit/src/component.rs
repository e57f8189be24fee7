//! The audit component in an API server: `audit.tkestack.io/v1` (reference 8.2). Mounting it
//! opens the event store in the data directory, serves the sink in front of authentication and
//! the query API behind it, registers `clusters/{name}/auditwebhook`, gives the server its
//! [`apiserver::audit::Auditor`] (the policy, with events labelled cluster `control-plane`), and
//! runs retention hourly.

use std::{
    collections::BTreeSet,
    path::PathBuf,
    sync::{Arc, atomic::AtomicU64},
    time::{Duration, Instant},
};

use apiserver::{
    ApiServer, Component, Mount, ResourceDef,
    audit::{Auditor, Event, Level},
    auth::Attributes,
    component::{MountContext, MountError},
};

use crate::{
    policy::Policy,
    record::{CONTROL_PLANE, Record},
    routes::{self, Shared},
    sink::SinkTokens,
    store::{EventStore, Retention},
};

/// How the component runs.
#[derive(Clone, Debug)]
pub struct Config {
    /// The platform's own audit policy.
    pub policy: Policy,
    /// Retention until `updateStoreConfig` stores another.
    pub retention: Retention,
    /// The database's directory; `DATA_DIR/audit` when `None`.
    pub dir: Option<PathBuf>,
    /// How often retention runs.
    pub retention_interval: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            policy: Policy::default_policy(),
            retention: Retention { reserve_days: 7, max_bytes: 0 },
            dir: None,
            retention_interval: Duration::from_secs(3600),
        }
    }
}

/// The audit component.
#[derive(Default)]
pub struct Audit {
    pub config: Config,
}

impl Audit {
    pub fn new(config: Config) -> Audit {
        Audit { config }
    }
}

/// The platform's own events: the policy decides, the store queues.
struct PlatformAuditor {
    policy: Policy,
    shared: Arc<Shared>,
}

/// The tenant an event belongs to: that of the user the request acted as (the impersonated
/// one, if any), by the rules of [`apiserver::UserInfo::tenant`].
fn tenant_of(event: &Event) -> String {
    let u = event.impersonated_user.as_ref().unwrap_or(&event.user);
    let user = apiserver::UserInfo {
        name: u.username.clone(),
        uid: u.uid.clone(),
        groups: u.groups.clone(),
        extra: u.extra.clone(),
    };
    user.tenant()
}

impl Auditor for PlatformAuditor {
    fn level(&self, attributes: &Attributes) -> Level {
        self.policy.level(attributes)
    }

    fn record(&self, event: Event) {
        if routes::control_plane_blocked(&self.shared) {
            self.shared.dropped_blocked.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return;
        }
        let record = Record::flatten(&event, CONTROL_PLANE, &tenant_of(&event));
        self.shared.store.offer(record);
    }
}

/// The key the sink's tokens are derived with: generated once, kept in the platform's store so
/// every replica shares it.
async fn sink_key(server: &ApiServer) -> Result<Vec<u8>, MountError> {
    let (kv, root) = server.kv();
    let key = format!("{}/audit/sinkkey", root.trim_end_matches('/'));
    if let (Some(existing), _) = kv.get(&key).await? {
        return Ok(existing.value.to_vec());
    }
    let fresh: [u8; 32] = rand::random();
    match kv.create(&key, bytes::Bytes::copy_from_slice(&fresh)).await {
        Ok(_) => Ok(fresh.to_vec()),
        // Another replica made it first.
        Err(storage::StoreError::AlreadyExists { .. }) => match kv.get(&key).await? {
            (Some(existing), _) => Ok(existing.value.to_vec()),
            (None, _) => Err("the audit sink key vanished while being created".into()),
        },
        Err(e) => Err(e.into()),
    }
}

#[async_trait::async_trait]
impl Component for Audit {
    fn name(&self) -> &'static str {
        "audit"
    }

    fn resources(&self) -> Vec<ResourceDef> {
        api::audit::resources()
    }

    async fn mount(&self, server: &Arc<ApiServer>, ctx: &MountContext) -> Result<Mount, MountError> {
        let dir = self.config.dir.clone().unwrap_or_else(|| ctx.data_dir.join("audit"));
        let store = EventStore::open(&dir)?;
        let mut tokens = SinkTokens::new(sink_key(server).await?);
        // Client certificates of the platform's CA (the one the server generated in its data
        // directory, which every listener trusts) as the other credential of the sink.
        tokens.ca = crate::sink::SinkCa::from_data_dir(&ctx.data_dir);
        let tokens = Arc::new(tokens);
        let (kv, key_root) = server.kv();
        let shared = Arc::new(Shared {
            store: store.clone(),
            server: server.clone(),
            tokens: tokens.clone(),
            kv,
            key_root: key_root.to_string(),
            default_retention: self.config.retention,
            // Read from the store just below, before anything asks.
            blocked: std::sync::RwLock::new((Instant::now(), BTreeSet::new())),
            dropped_blocked: AtomicU64::new(0),
            peers: ctx.peers.clone(),
        });
        shared.refresh_blocked().await;
        crate::sink::register(server, tokens, ctx.url.clone(), ctx.serving_ca_pem.clone())?;

        // Retention on every replica (each has its own database), and the blocked clusters
        // re-read for the platform's own events, which must not wait for the store.
        let weak = Arc::downgrade(&shared);
        let interval = self.config.retention_interval;
        tokio::spawn(async move {
            // The first pass at start, then every interval.
            let mut last: Option<Instant> = None;
            loop {
                let Some(s) = weak.upgrade() else { return };
                s.refresh_blocked().await;
                if last.is_none_or(|l| l.elapsed() >= interval) {
                    last = Some(Instant::now());
                    let r = s.retention().await;
                    match s.store.retain(r, crate::store::now_millis()).await {
                        Ok(swept) => tracing::debug!(?swept, "audit retention"),
                        Err(e) => tracing::warn!(error = %e, "audit retention failed"),
                    }
                }
                drop(s);
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        });

        let api = routes::api_routes(shared.clone());
        Ok(Mount {
            front: Some(routes::sink_routes(shared.clone())),
            around_api: Some(Box::new(move |r| r.merge(api))),
            auditor: Some(Arc::new(PlatformAuditor { policy: self.config.policy.clone(), shared })),
            ..Default::default()
        })
    }
}
