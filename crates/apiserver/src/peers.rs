//! How the replicas of one platform find and call each other, for the components whose data
//! lives in each replica rather than in the shared store (the audit component's event
//! databases, the monitor's embedded metrics).
//!
//! Each replica registers itself under `<root>/tke-replicas/<id>` in the platform's store (the
//! id is kept in the data directory, so a restarted replica is the same one): the address other
//! replicas reach it at (`--advertise-address`), the CA of its serving certificate, the
//! components it serves and the roles it holds (such as "samples the metrics"), renewed every
//! [`RENEW`]. A record not renewed for [`TTL`] is a replica that is down; one not renewed for
//! [`FORGET`] is forgotten (deleted by whoever lists). Records of stopped replicas are kept so
//! that answers can say whose data is missing rather than silently showing less.
//!
//! Replicas call each other over HTTPS with a bearer token in [`TOKEN_HEADER`]: an HMAC of a
//! key generated once and kept in the platform's store, so every replica of the platform (and
//! nothing that cannot read the store) holds it. The store rather than a client certificate:
//! replicas need not share a CA (each may generate its own, or bring its own certificate), and
//! trusting what the store says is what every replica already does. The routes that honour it
//! are the components' internal ones, served before the API's authentication; the token is
//! never accepted as a user.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
    time::Duration,
};

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use storage::{Store, StoreError};

/// The header carrying the replicas' token.
pub const TOKEN_HEADER: &str = "x-tke-replica-token";
/// How often a replica renews its record.
pub const RENEW: Duration = Duration::from_secs(5);
/// A record older than this is a replica that is down.
pub const TTL: Duration = Duration::from_secs(15);
/// A record older than this is forgotten.
pub const FORGET: Duration = Duration::from_secs(24 * 3600);

/// One replica as its record says.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Peer {
    pub id: String,
    /// `https://host:port`; empty when the replica was given no address others can reach.
    pub address: String,
    /// The CA of its serving certificate (PEM), when it generated it.
    pub ca_pem: Option<String>,
    /// The components it serves.
    pub components: Vec<String>,
    /// Roles it holds, with when it took each (milliseconds since the epoch).
    pub roles: BTreeMap<String, i64>,
    /// Milliseconds since the epoch.
    pub renewed: i64,
}

impl Peer {
    /// Whether it renewed its record within [`TTL`] of `now` (milliseconds).
    pub fn live(&self, now: i64) -> bool {
        now - self.renewed < TTL.as_millis() as i64
    }

    /// Whether it serves `component`.
    pub fn serves(&self, component: &str) -> bool {
        self.components.iter().any(|c| c == component)
    }

    /// "replica ID (ADDRESS)", for messages.
    pub fn describe(&self) -> String {
        if self.address.is_empty() {
            format!("replica {} (no --advertise-address)", self.id)
        } else {
            format!("replica {} ({})", self.id, self.address)
        }
    }
}

/// Why a call to a peer gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("{0} has no address other replicas can reach (start it with --advertise-address)")]
    NoAddress(String),
    #[error("{0} is down (not seen for {1} s)")]
    Down(String, i64),
    #[error("{0} did not answer: {1}")]
    Failed(String, String),
    #[error("{0} answered {1}: {2}")]
    Status(String, u16, String),
}

/// This replica's view of the others, and its own record.
pub struct Peers {
    me: Mutex<Peer>,
    kv: Arc<dyn Store>,
    prefix: String,
    token: String,
    /// HTTPS clients per peer, with the CA they trust.
    clients: Mutex<HashMap<String, (Option<String>, reqwest::Client)>>,
    wake: Arc<tokio::sync::Notify>,
}

impl std::fmt::Debug for Peers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peers").field("me", &*self.lock_me()).finish_non_exhaustive()
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// HMAC-SHA256 (RFC 2104).
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.map(|b| b ^ byte);
    let inner = Sha256::new().chain_update(pad(0x36)).chain_update(message).finalize();
    Sha256::new().chain_update(pad(0x5c)).chain_update(inner).finalize().into()
}

/// The replicas' key: generated once, kept in the store.
async fn shared_key(kv: &Arc<dyn Store>, key: &str) -> Result<Vec<u8>, StoreError> {
    if let (Some(existing), _) = kv.get(key).await? {
        return Ok(existing.value.to_vec());
    }
    let fresh: [u8; 32] = rand::random();
    match kv.create(key, Bytes::copy_from_slice(&fresh)).await {
        Ok(_) => Ok(fresh.to_vec()),
        Err(StoreError::AlreadyExists { .. }) => match kv.get(key).await? {
            (Some(existing), _) => Ok(existing.value.to_vec()),
            (None, _) => Err(StoreError::Internal("the replicas' key vanished while being created".into())),
        },
        Err(e) => Err(e),
    }
}

impl Peers {
    /// Registers this replica (`id`, reached at `address` with `ca_pem`, serving `components`)
    /// and keeps its record renewed while the returned value lives.
    pub async fn start(
        kv: Arc<dyn Store>,
        root: &str,
        id: String,
        address: String,
        ca_pem: Option<String>,
        components: Vec<String>,
    ) -> Result<Arc<Peers>, StoreError> {
        let root = root.trim_end_matches('/');
        let key = shared_key(&kv, &format!("{root}/tke-replicas-key")).await?;
        let peers = Arc::new(Peers {
            me: Mutex::new(Peer { id, address, ca_pem, components, roles: BTreeMap::new(), renewed: 0 }),
            kv,
            prefix: format!("{root}/tke-replicas/"),
            token: hex(&hmac_sha256(&key, b"tke-replicas")),
            clients: Mutex::new(HashMap::new()),
            wake: Arc::new(tokio::sync::Notify::new()),
        });
        peers.register().await?;
        let weak = Arc::downgrade(&peers);
        let wake = peers.wake.clone();
        tokio::spawn(async move {
            loop {
                // Not holding the replica while waiting: dropping it ends the renewals.
                let _ = tokio::time::timeout(RENEW, wake.notified()).await;
                let Some(p) = weak.upgrade() else { return };
                if let Err(e) = p.register().await {
                    tracing::warn!(error = %e, "renewing this replica's record failed");
                }
            }
        });
        Ok(peers)
    }

    /// This replica's id.
    pub fn id(&self) -> String {
        self.lock_me().id.clone()
    }

    fn lock_me(&self) -> std::sync::MutexGuard<'_, Peer> {
        self.me.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes or gives up `role`; the record says so at once.
    pub fn set_role(&self, role: &str, held: bool) {
        {
            let mut me = self.lock_me();
            if held {
                me.roles.entry(role.to_string()).or_insert_with(now_ms);
            } else {
                me.roles.remove(role);
            }
        }
        self.wake.notify_one();
    }

    async fn register(&self) -> Result<(), StoreError> {
        let me = {
            let mut me = self.lock_me();
            me.renewed = now_ms();
            me.clone()
        };
        let key = format!("{}{}", self.prefix, me.id);
        let value = Bytes::from(serde_json::to_vec(&me).unwrap_or_default());
        // A role taken while the renewal writes races it: the later write wins on retry.
        let mut tries = 0;
        loop {
            let written = match self.kv.get(&key).await? {
                (Some(old), _) => self.kv.update(&key, value.clone(), old.mod_revision).await.map(|_| ()),
                (None, _) => self.kv.create(&key, value.clone()).await.map(|_| ()),
            };
            match written {
                Err(StoreError::Conflict { .. } | StoreError::AlreadyExists { .. }) if tries < 3 => tries += 1,
                other => return other,
            }
        }
    }

    /// Every other replica known (up or down), ordered by id; records older than [`FORGET`]
    /// are deleted.
    pub async fn others(&self) -> Result<Vec<Peer>, StoreError> {
        let me = self.id();
        let end = format!("{}\u{10ffff}", self.prefix);
        let listed = self.kv.range(&self.prefix, &end, 0, 0).await?;
        let now = now_ms();
        let mut out = vec![];
        for kv in listed.kvs {
            let Ok(p) = serde_json::from_slice::<Peer>(&kv.value) else { continue };
            if now - p.renewed > FORGET.as_millis() as i64 {
                let _ = self.kv.delete(&kv.key, Some(kv.mod_revision)).await;
                continue;
            }
            if p.id != me {
                out.push(p);
            }
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    /// Whether a request carries the replicas' token.
    pub fn trusted(&self, headers: &axum::http::HeaderMap) -> bool {
        headers.get(TOKEN_HEADER).is_some_and(|v| crate::auth::constant_time_eq(v.as_bytes(), self.token.as_bytes()))
    }

    fn client(&self, peer: &Peer) -> Result<reqwest::Client, String> {
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((ca, c)) = clients.get(&peer.id)
            && *ca == peer.ca_pem
        {
            return Ok(c.clone());
        }
        let mut builder = reqwest::Client::builder().use_rustls_tls();
        if let Some(pem) = &peer.ca_pem {
            let cert = reqwest::Certificate::from_pem(pem.as_bytes()).map_err(|e| format!("its CA: {e}"))?;
            builder = builder.add_root_certificate(cert);
        }
        let c = builder.build().map_err(|e| e.to_string())?;
        clients.insert(peer.id.clone(), (peer.ca_pem.clone(), c.clone()));
        Ok(c)
    }

    /// `POST`s `body` (JSON) to `path` of `peer` and returns what it answered (2xx), within
    /// `timeout`.
    pub async fn call(
        &self,
        peer: &Peer,
        path: &str,
        body: &serde_json::Value,
        timeout: Duration,
    ) -> Result<Bytes, CallError> {
        let now = now_ms();
        if !peer.live(now) {
            return Err(CallError::Down(peer.describe(), (now - peer.renewed) / 1000));
        }
        if peer.address.is_empty() {
            return Err(CallError::NoAddress(peer.describe()));
        }
        let client = self.client(peer).map_err(|e| CallError::Failed(peer.describe(), e))?;
        let url = format!("{}{path}", peer.address.trim_end_matches('/'));
        let sent = client.post(&url).header(TOKEN_HEADER, &self.token).json(body).timeout(timeout).send();
        let resp = sent.await.map_err(|e| CallError::Failed(peer.describe(), error_chain(&e)))?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| CallError::Failed(peer.describe(), error_chain(&e)))?;
        if !status.is_success() {
            let text = String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned();
            return Err(CallError::Status(peer.describe(), status.as_u16(), text));
        }
        Ok(bytes)
    }

    /// Calls every other replica serving `component` at once (those down are not called but
    /// answer their [`CallError::Down`]), in the order of [`Peers::others`].
    pub async fn fan_out(
        &self,
        component: &str,
        path: &str,
        body: &serde_json::Value,
        timeout: Duration,
    ) -> Result<Vec<(Peer, Result<Bytes, CallError>)>, StoreError> {
        let peers: Vec<Peer> = self.others().await?.into_iter().filter(|p| p.serves(component)).collect();
        let calls = peers.iter().map(|p| self.call(p, path, body, timeout));
        let answers = futures::future::join_all(calls).await;
        Ok(peers.into_iter().zip(answers).collect())
    }

    /// The live replica holding `role` that took it last (the holder of a Lease that changed
    /// hands may not have noticed yet), if another replica holds it.
    pub async fn holder(&self, role: &str) -> Result<Option<Peer>, StoreError> {
        if self.lock_me().roles.contains_key(role) {
            return Ok(None);
        }
        let now = now_ms();
        Ok(self
            .others()
            .await?
            .into_iter()
            .filter(|p| p.live(now) && p.roles.contains_key(role))
            .max_by_key(|p| p.roles.get(role).copied().unwrap_or_default()))
    }

    /// The components this replica serves.
    pub fn components(&self) -> Vec<String> {
        self.lock_me().components.clone()
    }

    /// Whether this replica holds `role`.
    pub fn holds(&self, role: &str) -> bool {
        self.lock_me().roles.contains_key(role)
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}

/// The id kept in `data_dir` (made on first start).
pub fn replica_id(data_dir: &std::path::Path) -> std::io::Result<String> {
    let bytes = crate::component::read_or_create_secret(&data_dir.join("replica-id"), || {
        let r: [u8; 6] = rand::random();
        hex(&r).into_bytes()
    })?;
    Ok(String::from_utf8_lossy(&bytes).trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(dir: &tempfile::TempDir) -> Arc<dyn Store> {
        Arc::new(storage::embedded::EmbeddedStore::open(dir.path()).unwrap())
    }

    #[tokio::test]
    async fn replicas_see_each_other_share_a_token_and_hand_over_roles() {
        let (dir, other_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let kv = store(&dir);
        let a =
            Peers::start(kv.clone(), "/r", "a".into(), "https://a:1".into(), None, vec!["audit".into()]).await.unwrap();
        let b = Peers::start(kv.clone(), "/r", "b".into(), String::new(), Some("pem".into()), vec!["monitor".into()])
            .await
            .unwrap();
        let seen = a.others().await.unwrap();
        assert_eq!(seen.len(), 1);
        assert_eq!((seen[0].id.as_str(), seen[0].ca_pem.as_deref()), ("b", Some("pem")));
        assert!(seen[0].live(now_ms()) && seen[0].serves("monitor") && !seen[0].serves("audit"));
        assert_eq!(b.others().await.unwrap()[0].address, "https://a:1");

        // One token for all, and only it.
        let mut h = axum::http::HeaderMap::new();
        assert!(!a.trusted(&h));
        h.insert(TOKEN_HEADER, b.token.parse().unwrap());
        assert!(a.trusted(&h));
        h.insert(TOKEN_HEADER, "nope".parse().unwrap());
        assert!(!a.trusted(&h));
        let other = Peers::start(store(&other_dir), "/r", "c".into(), String::new(), None, vec![]).await.unwrap();
        assert_ne!(other.token, a.token, "another platform's replicas have another key");

        // Roles: the holder is whoever took the role last; nobody else while we hold it.
        assert_eq!(a.holder("sampler").await.unwrap(), None);
        b.set_role("sampler", true);
        b.register().await.unwrap();
        assert_eq!(a.holder("sampler").await.unwrap().map(|p| p.id), Some("b".into()));
        a.set_role("sampler", true);
        assert!(a.holds("sampler"));
        assert_eq!(a.holder("sampler").await.unwrap(), None);

        // Calls: a replica without an address, or down, is reported, not silently skipped.
        let answers = a.fan_out("monitor", "/x", &serde_json::json!({}), Duration::from_secs(1)).await.unwrap();
        assert_eq!(answers.len(), 1);
        let err = answers[0].1.as_ref().unwrap_err().to_string();
        assert!(err.contains("no address") && err.contains("replica b"), "{err}");
        let mut old = b.lock_me().clone();
        old.renewed -= TTL.as_millis() as i64 + 1000;
        let err = a.call(&old, "/x", &serde_json::json!({}), Duration::from_secs(1)).await.unwrap_err().to_string();
        assert!(err.contains("is down"), "{err}");

        // Forgotten after FORGET.
        // b's renewals end with its last reference; one it had begun may still be writing.
        let gone = Arc::downgrade(&b);
        drop(b);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while gone.strong_count() > 0 {
            assert!(std::time::Instant::now() < deadline, "b's renewal never ended");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        old.renewed = now_ms() - FORGET.as_millis() as i64 - 1000;
        let key = format!("/r/tke-replicas/{}", old.id);
        let (cur, _) = kv.get(&key).await.unwrap();
        kv.update(&key, Bytes::from(serde_json::to_vec(&old).unwrap()), cur.unwrap().mod_revision).await.unwrap();
        assert!(a.others().await.unwrap().is_empty());
        assert!(kv.get(&key).await.unwrap().0.is_none());
    }
}
