//! The chart repositories' storage: chart versions kept per tenant and chart group under
//! `charts/`, the cached `index.yaml` of each group, who may read or write a group, and the
//! events uploads and deletions emit.

use crate::auth::{AuthConfig, Identity};
use crate::digest::{Algorithm, Digest};
use crate::events::{Action, Event, EventSink};
use crate::storage::Storage;
use crate::tenancy::Tenancy;
use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use super::archive::{check_prov, inspect_chart, newest_first, prov_subject, valid_chart_name, valid_chart_version};
use super::{ChartError, ChartGroupInfo, ChartGroups, HELM_CHART_MEDIA_TYPE, Result, StoredVersion};

/// A group's cached `index.yaml` and the generation it was built at.
#[derive(Default)]
struct GroupState {
    generation: u64,
    index: Option<Bytes>,
    /// Serialises writes to the group (the exists-check and the put of an upload).
    write: Arc<tokio::sync::Mutex<()>>,
}

/// The chart repositories of a registry.
pub struct Charts {
    pub(super) storage: Arc<dyn Storage>,
    auth: Option<AuthConfig>,
    tenancy: Option<Tenancy>,
    groups: Option<Arc<dyn ChartGroups>>,
    events: Option<Arc<dyn EventSink>>,
    pub(super) read_only: bool,
    state: Mutex<HashMap<String, GroupState>>,
}

/// What a request does to a group.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Need {
    Read,
    Write,
}

/// Who is asking.
pub(super) struct Caller {
    pub(super) tenant: String,
    pub(super) user: Option<String>,
    pub(super) user_agent: Option<String>,
}

impl Charts {
    pub(crate) fn new(
        storage: Arc<dyn Storage>,
        auth: Option<AuthConfig>,
        tenancy: Option<Tenancy>,
        groups: Option<Arc<dyn ChartGroups>>,
        events: Option<Arc<dyn EventSink>>,
        read_only: bool,
    ) -> Charts {
        Charts { storage, auth, tenancy, groups, events, read_only, state: Mutex::new(HashMap::new()) }
    }

    /// The stored prefix of a tenant's chart group.
    pub(super) fn group_dir(&self, tenant: &str, group: &str) -> Result<String> {
        if !valid_group(group) {
            return Err(ChartError::bad(format!("invalid chart group name {group:?}")));
        }
        let tenant = if tenant.is_empty() { "_" } else { tenant };
        if !valid_group(tenant) && tenant != "_" {
            return Err(ChartError::bad(format!("invalid tenant {tenant:?}")));
        }
        Ok(format!("charts/{tenant}/{group}"))
    }

    fn with_state<T>(&self, dir: &str, f: impl FnOnce(&mut GroupState) -> T) -> T {
        let mut m = self.state.lock().unwrap_or_else(|p| p.into_inner());
        f(m.entry(dir.to_string()).or_default())
    }

    fn invalidate(&self, dir: &str) {
        self.with_state(dir, |s| {
            s.generation += 1;
            s.index = None;
        });
    }

    /// A stored version, if it exists.
    pub async fn version(&self, tenant: &str, group: &str, name: &str, version: &str) -> Result<Option<StoredVersion>> {
        if !valid_chart_name(name) || !valid_chart_version(version) {
            return Ok(None);
        }
        let dir = self.group_dir(tenant, group)?;
        let Some(bytes) = self.storage.get(&format!("{dir}/{name}/{version}/meta.json")).await? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| ChartError::internal(format!("stored chart {name}-{version} is unreadable: {e}")))
    }

    /// The stored versions of a chart, newest first.
    pub async fn versions(&self, tenant: &str, group: &str, name: &str) -> Result<Vec<StoredVersion>> {
        if !valid_chart_name(name) {
            return Ok(vec![]);
        }
        let dir = self.group_dir(tenant, group)?;
        let mut out = Vec::new();
        for e in self.storage.list(&format!("{dir}/{name}")).await? {
            if e.is_dir
                && let Some(v) = self.version(tenant, group, name, &e.name).await?
            {
                out.push(v);
            }
        }
        out.sort_by(|a, b| newest_first(a.version(), b.version()));
        Ok(out)
    }

    /// Every chart of a group with its versions (newest first), by name.
    pub async fn charts(&self, tenant: &str, group: &str) -> Result<BTreeMap<String, Vec<StoredVersion>>> {
        let dir = self.group_dir(tenant, group)?;
        let mut out = BTreeMap::new();
        for e in self.storage.list(&dir).await? {
            if !e.is_dir {
                continue;
            }
            let versions = self.versions(tenant, group, &e.name).await?;
            if !versions.is_empty() {
                out.insert(e.name, versions);
            }
        }
        Ok(out)
    }

    /// Removes all charts of a tenant's chart group.
    pub async fn delete_group(&self, tenant: &str, group: &str) -> Result<()> {
        let dir = self.group_dir(tenant, group)?;
        let lock = self.with_state(&dir, |s| s.write.clone());
        let _w = lock.lock().await;
        self.storage.delete(&dir).await?;
        self.invalidate(&dir);
        tracing::info!(tenant, group, "chart group content removed");
        Ok(())
    }

    /// Stores an uploaded chart (and its provenance file); refuses an existing version unless
    /// `force`, and a chart whose upload `filename` (if any) is not `{name}-{version}.tgz`.
    pub async fn save(
        &self,
        tenant: &str,
        group: &str,
        tgz: Bytes,
        prov: Option<Bytes>,
        filename: Option<&str>,
        force: bool,
    ) -> Result<StoredVersion> {
        let dir = self.group_dir(tenant, group)?;
        let data = tgz.clone();
        let chart = tokio::task::spawn_blocking(move || inspect_chart(&data)).await.map_err(ChartError::internal)??;
        let expected = format!("{}-{}.tgz", chart.name, chart.version);
        if let Some(f) = filename.filter(|f| !f.is_empty() && *f != expected) {
            return Err(ChartError::bad(format!(
                "the file {f:?} holds chart {} version {}; its name must be {expected:?}",
                chart.name, chart.version
            )));
        }
        if let Some(p) = &prov {
            check_prov(p, &chart.name, &chart.version)?;
        }
        let (name, version) = (chart.name.as_str(), chart.version.as_str());
        let vdir = format!("{dir}/{name}/{version}");
        let digest = Digest::of(Algorithm::Sha256, &tgz);
        let hex = digest.hex().to_string();
        let lock = self.with_state(&dir, |s| s.write.clone());
        let _w = lock.lock().await;
        let old = self.version(tenant, group, name, version).await?;
        if old.is_some() && !force {
            return Err(ChartError::new(
                StatusCode::CONFLICT,
                format!("{name}-{version}.tgz already exists (upload with ?force to replace it)"),
            ));
        }
        let stored = StoredVersion {
            metadata: chart.metadata.clone(),
            digest: hex.clone(),
            size: tgz.len() as u64,
            created: apimachinery::time::rfc3339_nanos(std::time::SystemTime::now()),
            prov: prov.is_some(),
        };
        self.storage.put(&format!("{vdir}/{hex}.tgz"), tgz).await?;
        match prov {
            Some(p) => self.storage.put(&format!("{vdir}/{hex}.prov"), p).await?,
            None => self.storage.delete(&format!("{vdir}/{hex}.prov")).await?,
        }
        let meta = serde_json::to_vec(&stored).map_err(ChartError::internal)?;
        self.storage.put(&format!("{vdir}/meta.json"), meta.into()).await?;
        if let Some(old) = old.filter(|o| o.digest != hex) {
            self.storage.delete(&format!("{vdir}/{}.tgz", old.digest)).await?;
            self.storage.delete(&format!("{vdir}/{}.prov", old.digest)).await?;
        }
        self.invalidate(&dir);
        tracing::info!(tenant, group, chart = name, version, "chart uploaded");
        Ok(stored)
    }

    /// Attaches a provenance file to the stored version it names.
    pub(super) async fn save_prov(&self, tenant: &str, group: &str, prov: Bytes) -> Result<StoredVersion> {
        let (name, version) = prov_subject(&prov)
            .ok_or_else(|| ChartError::bad("the provenance file has no signed Chart.yaml with a name and version"))?;
        let dir = self.group_dir(tenant, group)?;
        let lock = self.with_state(&dir, |s| s.write.clone());
        let _w = lock.lock().await;
        let mut v = self.version(tenant, group, &name, &version).await?.ok_or_else(|| {
            ChartError::not_found(format!("no chart {name}-{version} to attach the provenance file to"))
        })?;
        check_prov(&prov, &name, &version)?;
        let vdir = format!("{dir}/{name}/{version}");
        self.storage.put(&format!("{vdir}/{}.prov", v.digest), prov).await?;
        v.prov = true;
        let meta = serde_json::to_vec(&v).map_err(ChartError::internal)?;
        self.storage.put(&format!("{vdir}/meta.json"), meta.into()).await?;
        self.invalidate(&dir);
        Ok(v)
    }

    /// Deletes one version; `None` if it did not exist.
    pub async fn delete_version(
        &self,
        tenant: &str,
        group: &str,
        name: &str,
        version: &str,
    ) -> Result<Option<StoredVersion>> {
        let dir = self.group_dir(tenant, group)?;
        let lock = self.with_state(&dir, |s| s.write.clone());
        let _w = lock.lock().await;
        let Some(old) = self.version(tenant, group, name, version).await? else {
            return Ok(None);
        };
        let vdir = format!("{dir}/{name}/{version}");
        // meta.json first: the version is gone at once; the files follow.
        self.storage.delete(&format!("{vdir}/meta.json")).await?;
        self.storage.delete(&vdir).await?;
        if self.storage.list(&format!("{dir}/{name}")).await?.is_empty() {
            self.storage.delete(&format!("{dir}/{name}")).await?;
        }
        self.invalidate(&dir);
        tracing::info!(tenant, group, chart = name, version, "chart version deleted");
        Ok(Some(old))
    }

    /// The group's `index.yaml`, from the cache or built from the stored charts.
    pub async fn index(&self, tenant: &str, group: &str) -> Result<Bytes> {
        let dir = self.group_dir(tenant, group)?;
        let (generation, cached) = self.with_state(&dir, |s| (s.generation, s.index.clone()));
        if let Some(c) = cached {
            return Ok(c);
        }
        let charts = self.charts(tenant, group).await?;
        let entries: serde_json::Map<String, Value> = charts
            .iter()
            .map(|(name, versions)| (name.clone(), Value::Array(versions.iter().map(StoredVersion::entry).collect())))
            .collect();
        let index = json!({
            "apiVersion": "v1",
            "entries": entries,
            "generated": apimachinery::time::rfc3339_nanos(std::time::SystemTime::now()),
        });
        let yaml = serde_yaml_ng::to_string(&index).map_err(ChartError::internal)?;
        let bytes = Bytes::from(yaml);
        // A change while building bumped the generation: serve this one, do not cache it.
        self.with_state(&dir, |s| {
            if s.generation == generation {
                s.index = Some(bytes.clone());
            }
        });
        Ok(bytes)
    }

    /// The stored version a download file name (`{name}-{version}`) stands for. Names and
    /// versions may both contain `-`, so every split is tried.
    pub(super) async fn resolve_file(&self, tenant: &str, group: &str, stem: &str) -> Result<Option<StoredVersion>> {
        for (i, _) in stem.match_indices('-') {
            let (name, version) = (&stem[..i], &stem[i + 1..]);
            if valid_chart_name(name)
                && valid_chart_version(version)
                && let Some(v) = self.version(tenant, group, name, version).await?
            {
                return Ok(Some(v));
            }
        }
        Ok(None)
    }

    /// The tenant of a request to `host` (its [`apiserver::http::request_authority`]).
    pub(super) fn tenant(&self, host: Option<&str>) -> Result<String> {
        match &self.tenancy {
            Some(t) => t.tenant_of_host(host).map_err(|e| ChartError::new(StatusCode::FORBIDDEN, e.message)),
            None => Ok(String::new()),
        }
    }

    /// Checks the caller's Basic credentials and rights on the group; the caller's user name.
    pub(super) async fn authorize(
        &self,
        headers: &HeaderMap,
        tenant: &str,
        group: &str,
        need: Need,
    ) -> Result<Option<String>> {
        let info = match &self.groups {
            Some(g) => g
                .chart_group(tenant, group)
                .await
                .map_err(|e| ChartError::internal(format!("looking up chart group {group}: {}", e.message)))?,
            None => Some(ChartGroupInfo::default()),
        };
        let Some(cfg) = &self.auth else {
            return match info {
                Some(_) => Ok(None),
                None => Err(ChartError::not_found(format!("chart group {group:?} not found"))),
            };
        };
        let who: Option<Identity> = match apiserver::auth::basic(headers) {
            Some((user, password)) => match cfg
                .authenticator
                .authenticate(&user, &password)
                .await
                .map_err(|e| ChartError::internal(e.message))?
            {
                Some(id) => Some(id),
                None => {
                    tracing::info!(user = %user, "chart repository login refused");
                    return Err(ChartError::new(StatusCode::UNAUTHORIZED, "invalid username or password"));
                }
            },
            None => None,
        };
        let denied = |who: &Option<Identity>| match who {
            None => ChartError::new(StatusCode::UNAUTHORIZED, "log in to use this chart repository"),
            Some(id) => ChartError::new(
                StatusCode::FORBIDDEN,
                format!(
                    "user {:?} may not {} chart group {group:?}",
                    id.name,
                    if need == Need::Read { "read" } else { "write to" }
                ),
            ),
        };
        let Some(info) = info else {
            return Err(match &who {
                Some(_) => ChartError::not_found(format!("chart group {group:?} not found")),
                None => denied(&who),
            });
        };
        let name = who.as_ref().map(|w| w.name.clone());
        if who.as_ref().is_some_and(|w| w.admin) {
            return Ok(name);
        }
        if info.locked {
            return Err(ChartError::new(StatusCode::FORBIDDEN, format!("chart group {group:?} is locked")));
        }
        let default_tenant = self.tenancy.as_ref().map(|t| t.default_tenant.as_str()).unwrap_or("");
        let member = who.as_ref().is_some_and(|w| {
            (self.tenancy.is_none() || w.tenant.as_deref().unwrap_or(default_tenant) == tenant)
                && info.users.as_ref().is_none_or(|u| u.contains(&w.name))
        });
        if member || (need == Need::Read && info.public) { Ok(name) } else { Err(denied(&who)) }
    }

    pub(super) fn emit(&self, caller: &Caller, group: &str, action: Action, v: &StoredVersion) {
        let Some(sink) = &self.events else { return };
        sink.notify(Event {
            action,
            tenant: caller.tenant.clone(),
            repository: format!("{group}/{}", v.name()),
            namespace: group.to_string(),
            name: v.name().to_string(),
            tag: Some(v.version().to_string()),
            digest: format!("sha256:{}", v.digest),
            media_type: HELM_CHART_MEDIA_TYPE.to_string(),
            size: v.size,
            user: caller.user.clone(),
            user_agent: caller.user_agent.clone(),
            time: std::time::SystemTime::now(),
        });
    }
}

/// A chart group name in paths: a DNS label.
pub(super) fn valid_group(s: &str) -> bool {
    apimachinery::validation::is_dns1123_label(s)
}
