//! Helm chart repositories at `/chart/...` with the chartmuseum API, one per tenant and chart
//! group: `index.yaml`, tarball and provenance downloads, and `/chart/api/{group}/...` to
//! upload, list, get and delete chart versions. The tenant comes from the host name as for
//! images; Basic credentials (`helm repo add --username --password`) are checked by the
//! registry's [`Authenticator`](crate::auth::Authenticator), and a group's visibility comes
//! from a [`ChartGroups`] source.
//!
//! Layout (relative to the storage root, beside the image content):
//! ```text
//! charts/<tenant>/<group>/<name>/<version>/meta.json     the version: Chart.yaml, digest, time
//! charts/<tenant>/<group>/<name>/<version>/<hex>.tgz     the archive, named by its sha256
//! charts/<tenant>/<group>/<name>/<version>/<hex>.prov    its provenance file, if any
//! ```
//! `meta.json` is written last and names the archive by digest, so a version appears (or is
//! replaced by a forced upload) in one atomic put and readers never see a half-written one.

use crate::auth::{AuthConfig, Identity};
use crate::digest::{Algorithm, Digest};
use crate::events::{Action, Event, EventSink};
use crate::storage::Storage;
use crate::tenancy::Tenancy;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::sync::{Arc, Mutex};

/// Largest chart archive accepted (compressed).
pub const MAX_CHART_SIZE: usize = 20 * 1024 * 1024;
/// Largest total unpacked size of a chart archive (a gzip bomb stops here).
pub const MAX_UNPACKED_SIZE: u64 = 200 * 1024 * 1024;
/// Largest `Chart.yaml`.
const MAX_CHART_YAML: u64 = 1024 * 1024;
/// Largest provenance file.
const MAX_PROV_SIZE: usize = 1024 * 1024;

/// OCI media types of a chart pushed as an artifact (`helm push oci://`).
pub const HELM_CONFIG_MEDIA_TYPE: &str = "application/vnd.cncf.helm.config.v1+json";
pub const HELM_CHART_MEDIA_TYPE: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";
pub const HELM_PROV_MEDIA_TYPE: &str = "application/vnd.cncf.helm.chart.provenance.v1.prov";

/// What the chart repository needs to know about a tenant's chart group.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChartGroupInfo {
    /// `Public`: anyone may read, also without logging in.
    pub public: bool,
    /// Locked groups serve administrators only.
    pub locked: bool,
    /// With `User` visibility, the only users of the tenant who may use the group.
    pub users: Option<Vec<String>>,
}

/// The chart repository's source of chart groups (the platform's ChartGroup objects, or a
/// fixed list). Without one, every group name exists and is private to its tenant.
#[async_trait::async_trait]
pub trait ChartGroups: Send + Sync + 'static {
    /// The chart group `name` of `tenant`, if it exists.
    async fn chart_group(&self, tenant: &str, name: &str) -> crate::error::Result<Option<ChartGroupInfo>>;
}

/// A fixed set of chart groups, for tests and small installations.
#[derive(Default)]
pub struct StaticChartGroups {
    entries: std::sync::RwLock<HashMap<(String, String), ChartGroupInfo>>,
}

impl StaticChartGroups {
    pub fn new() -> StaticChartGroups {
        StaticChartGroups::default()
    }
    pub fn set(&self, tenant: &str, name: &str, info: ChartGroupInfo) {
        if let Ok(mut m) = self.entries.write() {
            m.insert((tenant.into(), name.into()), info);
        }
    }
}

#[async_trait::async_trait]
impl ChartGroups for StaticChartGroups {
    async fn chart_group(&self, tenant: &str, name: &str) -> crate::error::Result<Option<ChartGroupInfo>> {
        let m =
            self.entries.read().map_err(|_| crate::Error::new(crate::Code::Unknown, "chart group table poisoned"))?;
        Ok(m.get(&(tenant.to_string(), name.to_string())).cloned())
    }
}

/// A chartmuseum-style error: an HTTP status and `{"error": message}`.
#[derive(Debug, Clone)]
pub struct ChartError {
    pub status: StatusCode,
    pub message: String,
}

impl ChartError {
    fn new(status: StatusCode, message: impl Into<String>) -> ChartError {
        ChartError { status, message: message.into() }
    }
    fn bad(message: impl Into<String>) -> ChartError {
        ChartError::new(StatusCode::BAD_REQUEST, message)
    }
    fn not_found(message: impl Into<String>) -> ChartError {
        ChartError::new(StatusCode::NOT_FOUND, message)
    }
    fn internal(message: impl std::fmt::Display) -> ChartError {
        ChartError::new(StatusCode::INTERNAL_SERVER_ERROR, message.to_string())
    }
}

impl std::fmt::Display for ChartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.status)
    }
}

impl std::error::Error for ChartError {}

impl IntoResponse for ChartError {
    fn into_response(self) -> Response {
        let mut r = json_response(self.status, &json!({ "error": self.message }));
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"tke chart repository\""));
        }
        r
    }
}

impl From<std::io::Error> for ChartError {
    fn from(e: std::io::Error) -> ChartError {
        ChartError::internal(format!("chart storage: {e}"))
    }
}

type Result<T, E = ChartError> = std::result::Result<T, E>;

/// A chart archive's identity and its `Chart.yaml`, as found inside it.
#[derive(Debug, Clone)]
pub struct ChartFile {
    pub name: String,
    pub version: String,
    /// `Chart.yaml` as JSON.
    pub metadata: Value,
}

/// One stored chart version (`meta.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredVersion {
    /// `Chart.yaml` as JSON.
    pub metadata: Value,
    /// sha256 of the archive, hex.
    pub digest: String,
    pub size: u64,
    /// Upload time, RFC 3339.
    pub created: String,
    #[serde(default)]
    pub prov: bool,
}

impl StoredVersion {
    pub fn name(&self) -> &str {
        self.metadata.get("name").and_then(Value::as_str).unwrap_or("")
    }
    pub fn version(&self) -> &str {
        self.metadata.get("version").and_then(Value::as_str).unwrap_or("")
    }
    fn field(&self, key: &str) -> Option<String> {
        self.metadata.get(key).and_then(Value::as_str).map(str::to_string)
    }
    pub fn description(&self) -> Option<String> {
        self.field("description")
    }
    pub fn app_version(&self) -> Option<String> {
        self.field("appVersion")
    }
    pub fn icon(&self) -> Option<String> {
        self.field("icon")
    }
    /// The chartmuseum / index.yaml entry: Chart.yaml plus `urls`, `created` and `digest`.
    fn entry(&self) -> Value {
        let mut e = match &self.metadata {
            Value::Object(m) => Value::Object(m.clone()),
            _ => json!({}),
        };
        e["urls"] = json!([format!("charts/{}-{}.tgz", self.name(), self.version())]);
        e["created"] = json!(self.created);
        e["digest"] = json!(self.digest);
        e
    }
}

/// Chart names as Helm accepts them: letters, digits, `-`, `_` and `.`, starting with a letter
/// or digit.
pub fn valid_chart_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 250
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// A SemVer 2 version (optionally with a leading `v`, as Helm tolerates).
#[derive(Debug, Clone, PartialEq, Eq)]
struct SemVer {
    core: [u64; 3],
    pre: Vec<String>,
}

impl SemVer {
    fn parse(s: &str) -> Option<SemVer> {
        if s.is_empty() || s.len() > 128 {
            return None;
        }
        let s = s.strip_prefix('v').unwrap_or(s);
        let (rest, build) = match s.split_once('+') {
            Some((r, b)) => (r, Some(b)),
            None => (s, None),
        };
        let (core, pre) = match rest.split_once('-') {
            Some((c, p)) => (c, Some(p)),
            None => (rest, None),
        };
        let ident = |i: &str| !i.is_empty() && i.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if build.is_some_and(|b| !b.split('.').all(ident)) || pre.is_some_and(|p| !p.split('.').all(ident)) {
            return None;
        }
        let nums: Vec<&str> = core.split('.').collect();
        if nums.len() != 3 {
            return None;
        }
        let mut c = [0u64; 3];
        for (slot, n) in c.iter_mut().zip(&nums) {
            if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) || (n.len() > 1 && n.starts_with('0')) {
                return None;
            }
            *slot = n.parse().ok()?;
        }
        Some(SemVer { core: c, pre: pre.map(|p| p.split('.').map(str::to_string).collect()).unwrap_or_default() })
    }
}

impl Ord for SemVer {
    fn cmp(&self, other: &SemVer) -> Ordering {
        self.core.cmp(&other.core).then_with(|| {
            match (self.pre.is_empty(), other.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                // A pre-release comes before its release.
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => {
                    for (a, b) in self.pre.iter().zip(&other.pre) {
                        let o = match (a.parse::<u64>(), b.parse::<u64>()) {
                            (Ok(x), Ok(y)) => x.cmp(&y),
                            (Ok(_), Err(_)) => Ordering::Less,
                            (Err(_), Ok(_)) => Ordering::Greater,
                            (Err(_), Err(_)) => a.cmp(b),
                        };
                        if o != Ordering::Equal {
                            return o;
                        }
                    }
                    self.pre.len().cmp(&other.pre.len())
                }
            }
        })
    }
}

impl PartialOrd for SemVer {
    fn partial_cmp(&self, other: &SemVer) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Newest first by SemVer (unparsable versions last, by text).
fn newest_first(a: &str, b: &str) -> Ordering {
    match (SemVer::parse(a), SemVer::parse(b)) {
        (Some(x), Some(y)) => y.cmp(&x).then_with(|| b.cmp(a)),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => b.cmp(a),
    }
}

pub fn valid_chart_version(s: &str) -> bool {
    SemVer::parse(s).is_some()
}

/// Counts what is read through it and fails once more than `left` bytes came out.
struct Limited<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n as u64 > self.left {
            return Err(std::io::Error::other(format!("the chart unpacks to more than {MAX_UNPACKED_SIZE} bytes")));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// Reads a chart archive (gzipped tar) as Helm packages it: one top-level directory named
/// after the chart holding `Chart.yaml`. Streams through the archive once, refusing absolute
/// or `..` paths, links, more than one top-level directory, oversized content, and a
/// `Chart.yaml` without a valid name and SemVer version or naming another chart than its
/// directory.
pub fn inspect_chart(tgz: &[u8]) -> Result<ChartFile> {
    let not_archive = |e: std::io::Error| ChartError::bad(format!("the chart is not a valid gzipped tar archive: {e}"));
    let gz = flate2::read::GzDecoder::new(tgz);
    let mut archive = tar::Archive::new(Limited { inner: gz, left: MAX_UNPACKED_SIZE });
    let mut top: Option<String> = None;
    let mut chart_yaml: Option<Vec<u8>> = None;
    let mut any = false;
    for entry in archive.entries().map_err(not_archive)? {
        let mut entry = entry.map_err(not_archive)?;
        any = true;
        let path = entry.path().map_err(not_archive)?.into_owned();
        let shown = path.display().to_string();
        let mut parts = Vec::new();
        for c in path.components() {
            match c {
                std::path::Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
                std::path::Component::CurDir => {}
                _ => {
                    return Err(ChartError::bad(format!(
                        "the chart archive has an unsafe path {shown:?} (absolute or with '..')"
                    )));
                }
            }
        }
        let kind = entry.header().entry_type();
        if kind.is_symlink() || kind.is_hard_link() {
            return Err(ChartError::bad(format!(
                "the chart archive has a link {shown:?}; charts may hold only files and directories"
            )));
        }
        if kind.is_pax_global_extensions() || kind.is_pax_local_extensions() || parts.is_empty() {
            continue;
        }
        match &top {
            None => top = Some(parts[0].clone()),
            Some(t) if *t != parts[0] => {
                return Err(ChartError::bad(format!(
                    "the chart archive has more than one top-level directory ({t:?} and {:?})",
                    parts[0]
                )));
            }
            Some(_) => {}
        }
        if parts.len() == 2 && parts[1] == "Chart.yaml" && kind.is_file() {
            let mut buf = Vec::new();
            (&mut entry).take(MAX_CHART_YAML + 1).read_to_end(&mut buf).map_err(not_archive)?;
            if buf.len() as u64 > MAX_CHART_YAML {
                return Err(ChartError::bad("Chart.yaml is larger than 1 MiB"));
            }
            chart_yaml = Some(buf);
        }
        // Read every entry to the end: the size limit and the gzip checksum cover all of it.
        std::io::copy(&mut entry, &mut std::io::sink()).map_err(not_archive)?;
    }
    if !any {
        return Err(ChartError::bad("the chart archive is empty or not a tar archive"));
    }
    let dir = top.unwrap_or_default();
    let yaml = chart_yaml.ok_or_else(|| ChartError::bad(format!("the chart archive has no {dir}/Chart.yaml")))?;
    let doc: serde_yaml_ng::Value =
        serde_yaml_ng::from_slice(&yaml).map_err(|e| ChartError::bad(format!("Chart.yaml is not valid YAML: {e}")))?;
    let metadata: Value =
        serde_json::to_value(&doc).map_err(|e| ChartError::bad(format!("Chart.yaml cannot be represented: {e}")))?;
    if !metadata.is_object() {
        return Err(ChartError::bad("Chart.yaml is not a mapping"));
    }
    let text = |k: &str| -> Result<String> {
        match metadata.get(k) {
            Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            None | Some(Value::Null) => Err(ChartError::bad(format!("Chart.yaml has no {k}"))),
            Some(other) => Err(ChartError::bad(format!("{k} in Chart.yaml must be a string, not {other}"))),
        }
    };
    let api_version = text("apiVersion")?;
    if api_version != "v1" && api_version != "v2" {
        return Err(ChartError::bad(format!("Chart.yaml has apiVersion {api_version:?}; Helm charts are v1 or v2")));
    }
    let name = text("name")?;
    if !valid_chart_name(&name) {
        return Err(ChartError::bad(format!(
            "invalid chart name {name:?}: letters, digits, '-', '_' and '.' starting with a letter or digit"
        )));
    }
    let version = text("version")?;
    if !valid_chart_version(&version) {
        return Err(ChartError::bad(format!(
            "invalid chart version {version:?}: charts are versioned with SemVer 2 (e.g. 1.2.3)"
        )));
    }
    if dir != name {
        return Err(ChartError::bad(format!("Chart.yaml names chart {name:?} but the archive's directory is {dir:?}")));
    }
    Ok(ChartFile { name, version, metadata })
}

/// Packs a chart directory as `helm package` does: a gzipped tar of `{name}/Chart.yaml` and
/// `{name}/{path}` for each of `files`, `name` taken from `chart_yaml`. For building charts in
/// code (system charts, tests).
pub fn package_chart(chart_yaml: &str, files: &[(&str, &[u8])]) -> std::io::Result<Vec<u8>> {
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(chart_yaml)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?;
    let name = doc
        .get("name")
        .and_then(|n| n.as_str())
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "Chart.yaml has no name"))?
        .to_string();
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    let mut add = |path: String, data: &[u8]| -> std::io::Result<()> {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut h, path, data)
    };
    add(format!("{name}/Chart.yaml"), chart_yaml.as_bytes())?;
    for (path, data) in files {
        add(format!("{name}/{path}"), data)?;
    }
    tar.into_inner()?.finish()
}

/// The chart name and version a provenance file is about: the `name:` and `version:` of the
/// Chart.yaml copy in its signed message (before the `...` line).
fn prov_subject(prov: &[u8]) -> Option<(String, String)> {
    let text = std::str::from_utf8(prov).ok()?;
    let body = text.split("-----BEGIN PGP SIGNED MESSAGE-----").nth(1)?;
    // Armor headers ("Hash: SHA512") end at the first blank line.
    let body = body.split_once("\n\n").or_else(|| body.split_once("\r\n\r\n"))?.1;
    let yaml = body.split("\n...").next()?;
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(yaml).ok()?;
    Some((doc.get("name")?.as_str()?.to_string(), doc.get("version")?.as_str()?.to_string()))
}

/// Seconds since the epoch as RFC 3339 UTC (civil date from days, no date crate).
fn rfc3339(t: std::time::SystemTime) -> String {
    let d = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z", rem / 3600, rem % 3600 / 60, rem % 60, d.subsec_nanos())
}

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
    storage: Arc<dyn Storage>,
    auth: Option<AuthConfig>,
    tenancy: Option<Tenancy>,
    groups: Option<Arc<dyn ChartGroups>>,
    events: Option<Arc<dyn EventSink>>,
    read_only: bool,
    state: Mutex<HashMap<String, GroupState>>,
}

/// What a request does to a group.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Need {
    Read,
    Write,
}

/// Who is asking.
struct Caller {
    tenant: String,
    user: Option<String>,
    user_agent: Option<String>,
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
    fn group_dir(&self, tenant: &str, group: &str) -> Result<String> {
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
            created: rfc3339(std::time::SystemTime::now()),
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
    async fn save_prov(&self, tenant: &str, group: &str, prov: Bytes) -> Result<StoredVersion> {
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
            "generated": rfc3339(std::time::SystemTime::now()),
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
    async fn resolve_file(&self, tenant: &str, group: &str, stem: &str) -> Result<Option<StoredVersion>> {
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

    fn tenant(&self, headers: &HeaderMap) -> Result<String> {
        match &self.tenancy {
            Some(t) => t
                .tenant_of_host(headers.get(header::HOST).and_then(|h| h.to_str().ok()))
                .map_err(|e| ChartError::new(StatusCode::FORBIDDEN, e.message)),
            None => Ok(String::new()),
        }
    }

    /// Checks the caller's Basic credentials and rights on the group; the caller's user name.
    async fn authorize(&self, headers: &HeaderMap, tenant: &str, group: &str, need: Need) -> Result<Option<String>> {
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
        let who: Option<Identity> = match basic_credentials(headers) {
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

    fn emit(&self, caller: &Caller, group: &str, action: Action, v: &StoredVersion) {
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
fn valid_group(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A provenance file must be small and sign the archive it comes with.
fn check_prov(prov: &[u8], name: &str, version: &str) -> Result<()> {
    if prov.len() > MAX_PROV_SIZE {
        return Err(ChartError::bad("the provenance file is larger than 1 MiB"));
    }
    let file = format!("{name}-{version}.tgz");
    let text = String::from_utf8_lossy(prov);
    if !text.contains("-----BEGIN PGP SIGNED MESSAGE-----") || !text.contains(&file) {
        return Err(ChartError::bad(format!("the provenance file is not a signed provenance of {file}")));
    }
    Ok(())
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ").or_else(|| value.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let (u, p) = String::from_utf8(decoded).ok()?.split_once(':').map(|(u, p)| (u.to_string(), p.to_string()))?;
    Some((u, p))
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    let text = body.to_string();
    let mut r = Response::new(Body::from(text));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// One part of a `multipart/form-data` body.
struct Part {
    name: String,
    filename: Option<String>,
    data: Bytes,
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    (from..=hay.len() - needle.len()).find(|&i| hay[i..i + needle.len()] == *needle)
}

/// The `name="..."` style parameter `key` of a header value.
fn header_param(value: &str, key: &str) -> Option<String> {
    value.split(';').skip(1).find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        (k.trim().eq_ignore_ascii_case(key)).then(|| v.trim().trim_matches('"').to_string())
    })
}

/// Splits a buffered `multipart/form-data` body (RFC 7578) into its parts.
fn multipart(body: &Bytes, boundary: &str) -> Result<Vec<Part>> {
    let bad = || ChartError::bad("malformed multipart/form-data body");
    let delim = format!("--{boundary}");
    let mut pos = find(body, delim.as_bytes(), 0).ok_or_else(bad)? + delim.len();
    let mut parts = Vec::new();
    loop {
        if body[pos..].starts_with(b"--") {
            return Ok(parts);
        }
        let head_start = pos + if body[pos..].starts_with(b"\r\n") { 2 } else { 0 };
        let head_end = find(body, b"\r\n\r\n", head_start).ok_or_else(bad)?;
        let head = std::str::from_utf8(&body[head_start..head_end]).map_err(|_| bad())?;
        let next_delim = format!("\r\n{delim}");
        let data_end = find(body, next_delim.as_bytes(), head_end + 4).ok_or_else(bad)?;
        let disposition = head
            .split("\r\n")
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim().eq_ignore_ascii_case("content-disposition").then(|| v.trim().to_string())
            })
            .ok_or_else(bad)?;
        parts.push(Part {
            name: header_param(&disposition, "name").unwrap_or_default(),
            filename: header_param(&disposition, "filename"),
            data: body.slice(head_end + 4..data_end),
        });
        pos = data_end + next_delim.len();
        if pos >= body.len() {
            return Err(bad());
        }
    }
}

/// A chart upload's archive, provenance and the archive's file name (multipart only).
async fn read_upload(req: Request) -> Result<(Bytes, Option<Bytes>, Option<String>)> {
    let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let limit = MAX_CHART_SIZE + MAX_PROV_SIZE + 64 * 1024;
    let body = axum::body::to_bytes(req.into_body(), limit).await.map_err(|_| {
        ChartError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the upload is larger than {MAX_CHART_SIZE} bytes or unreadable"),
        )
    })?;
    if !content_type.to_ascii_lowercase().starts_with("multipart/form-data") {
        if body.len() > MAX_CHART_SIZE {
            return Err(ChartError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the chart is larger than {MAX_CHART_SIZE} bytes"),
            ));
        }
        return Ok((body, None, None));
    }
    let boundary = header_param(&content_type, "boundary")
        .filter(|b| !b.is_empty())
        .ok_or_else(|| ChartError::bad("multipart/form-data without a boundary"))?;
    let mut chart = None;
    let mut prov = None;
    for p in multipart(&body, &boundary)? {
        match p.name.as_str() {
            "chart" => chart = Some((p.data, p.filename)),
            "prov" => prov = Some(p.data),
            _ => {}
        }
    }
    let (chart, filename) = chart.ok_or_else(|| ChartError::bad("the form has no \"chart\" field"))?;
    if chart.len() > MAX_CHART_SIZE {
        return Err(ChartError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the chart is larger than {MAX_CHART_SIZE} bytes"),
        ));
    }
    Ok((chart, prov, filename))
}

/// The routes under `/chart/`.
#[derive(Debug, PartialEq)]
enum Route {
    Index(String),
    Download(String, String),
    List(String),
    Chart(String, String),
    Version(String, String, String),
    Prov(String),
}

fn parse_route(path: &str) -> Option<Route> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let s = |i: usize| segs[i].to_string();
    Some(match segs.as_slice() {
        ["api", _, "charts"] => Route::List(s(1)),
        ["api", _, "prov"] => Route::Prov(s(1)),
        ["api", _, "charts", _] => Route::Chart(s(1), s(3)),
        ["api", _, "charts", _, _] => Route::Version(s(1), s(3), s(4)),
        [_, "index.yaml"] => Route::Index(s(0)),
        [_, "charts", _] => Route::Download(s(0), s(2)),
        _ => return None,
    })
}

/// `/chart/...`.
pub(crate) async fn serve(State(charts): State<Arc<Charts>>, req: Request) -> Response {
    match dispatch(&charts, req).await {
        Ok(r) => r,
        Err(e) => {
            if e.status.is_server_error() {
                tracing::error!(error = %e, "chart request failed");
            }
            e.into_response()
        }
    }
}

async fn dispatch(charts: &Charts, req: Request) -> Result<Response> {
    let path = req.uri().path().strip_prefix("/chart").unwrap_or("").to_string();
    let route = parse_route(&path).ok_or_else(|| ChartError::not_found("no such chart repository endpoint"))?;
    let method = req.method().clone();
    let head = method == Method::HEAD;
    let need = match method {
        Method::GET | Method::HEAD => Need::Read,
        Method::POST | Method::DELETE => Need::Write,
        _ => {
            return Err(ChartError::new(StatusCode::METHOD_NOT_ALLOWED, "method not allowed"));
        }
    };
    let group = match &route {
        Route::Index(g)
        | Route::Download(g, _)
        | Route::List(g)
        | Route::Chart(g, _)
        | Route::Version(g, _, _)
        | Route::Prov(g) => g.clone(),
    };
    if !valid_group(&group) {
        return Err(ChartError::not_found(format!("invalid chart group name {group:?}")));
    }
    let tenant = charts.tenant(req.headers())?;
    let user = charts.authorize(req.headers(), &tenant, &group, need).await?;
    if need == Need::Write && charts.read_only {
        return Err(ChartError::new(StatusCode::SERVICE_UNAVAILABLE, "the registry is in read-only mode"));
    }
    let caller = Caller {
        tenant: tenant.clone(),
        user,
        user_agent: req.headers().get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_string),
    };
    let force = req
        .uri()
        .query()
        .is_some_and(|q| form_urlencoded::parse(q.as_bytes()).any(|(k, v)| k == "force" && v != "false" && v != "0"));
    let t = tenant.as_str();
    let g = group.as_str();
    match (route, method) {
        (Route::Index(_), Method::GET | Method::HEAD) => {
            let body = charts.index(t, g).await?;
            let mut r = Response::new(if head { Body::empty() } else { Body::from(body.clone()) });
            set(&mut r, header::CONTENT_TYPE, "application/x-yaml");
            set(&mut r, header::CONTENT_LENGTH, &body.len().to_string());
            Ok(r)
        }
        (Route::Download(_, file), Method::GET | Method::HEAD) => download(charts, &caller, g, &file, head).await,
        (Route::List(_), Method::GET | Method::HEAD) => {
            let all: serde_json::Map<String, Value> = charts
                .charts(t, g)
                .await?
                .into_iter()
                .map(|(n, vs)| (n, Value::Array(vs.iter().map(StoredVersion::entry).collect())))
                .collect();
            Ok(json_response(StatusCode::OK, &Value::Object(all)))
        }
        (Route::List(_), Method::POST) => {
            let (tgz, prov, filename) = read_upload(req).await?;
            let v = charts.save(t, g, tgz, prov, filename.as_deref(), force).await?;
            charts.emit(&caller, g, Action::ChartPush, &v);
            Ok(json_response(StatusCode::CREATED, &json!({ "saved": true })))
        }
        (Route::Prov(_), Method::POST) => {
            let (body, prov, _) = read_upload(req).await?;
            // A form carries the file in its `prov` field; a plain body is the file itself.
            let prov = match prov {
                Some(p) => p,
                None => body,
            };
            charts.save_prov(t, g, prov).await?;
            Ok(json_response(StatusCode::CREATED, &json!({ "saved": true })))
        }
        (Route::Chart(_, name), Method::GET | Method::HEAD) => {
            let vs = charts.versions(t, g, &name).await?;
            if vs.is_empty() {
                return Err(ChartError::not_found(format!("chart {name:?} not found")));
            }
            Ok(json_response(StatusCode::OK, &Value::Array(vs.iter().map(StoredVersion::entry).collect())))
        }
        (Route::Version(_, name, version), Method::GET | Method::HEAD) => {
            let v = if version == "latest" {
                charts.versions(t, g, &name).await?.into_iter().next()
            } else {
                charts.version(t, g, &name, &version).await?
            };
            let v = v.ok_or_else(|| ChartError::not_found(format!("chart {name:?} version {version:?} not found")))?;
            Ok(json_response(StatusCode::OK, &v.entry()))
        }
        (Route::Version(_, name, version), Method::DELETE) => {
            let v = charts
                .delete_version(t, g, &name, &version)
                .await?
                .ok_or_else(|| ChartError::not_found(format!("chart {name:?} version {version:?} not found")))?;
            charts.emit(&caller, g, Action::ChartDelete, &v);
            Ok(json_response(StatusCode::OK, &json!({ "deleted": true })))
        }
        _ => Err(ChartError::new(StatusCode::METHOD_NOT_ALLOWED, "method not allowed on this endpoint")),
    }
}

fn set(r: &mut Response, name: header::HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        r.headers_mut().insert(name, v);
    }
}

/// `GET /chart/{group}/charts/{name}-{version}.tgz` (and `.tgz.prov`, `.prov`).
async fn download(charts: &Charts, caller: &Caller, group: &str, file: &str, head: bool) -> Result<Response> {
    let (stem, prov) = if let Some(s) = file.strip_suffix(".tgz.prov") {
        (s, true)
    } else if let Some(s) = file.strip_suffix(".prov") {
        (s, true)
    } else if let Some(s) = file.strip_suffix(".tgz") {
        (s, false)
    } else {
        return Err(ChartError::not_found(format!("{file:?} is not a chart file")));
    };
    let missing = || ChartError::not_found(format!("{file} not found"));
    let v = charts.resolve_file(&caller.tenant, group, stem).await?.ok_or_else(missing)?;
    if prov && !v.prov {
        return Err(missing());
    }
    let dir = charts.group_dir(&caller.tenant, group)?;
    let path = format!("{dir}/{}/{}/{}.{}", v.name(), v.version(), v.digest, if prov { "prov" } else { "tgz" });
    let size = charts.storage.size(&path).await?.ok_or_else(missing)?;
    let body = if head {
        Body::empty()
    } else {
        Body::from_stream(charts.storage.read(&path, 0, None).await?.ok_or_else(missing)?)
    };
    if !head && !prov {
        charts.emit(caller, group, Action::ChartPull, &v);
    }
    let mut r = Response::new(body);
    set(&mut r, header::CONTENT_TYPE, if prov { "application/pgp-signature" } else { "application/gzip" });
    set(&mut r, header::CONTENT_LENGTH, &size.to_string());
    if !prov {
        set(&mut r, header::ETAG, &format!("\"sha256:{}\"", v.digest));
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(parse_route("/api/g/charts"), Some(Route::List("g".into())));
        assert_eq!(parse_route("/api/g/charts/n/1.0.0"), Some(Route::Version("g".into(), "n".into(), "1.0.0".into())));
        assert_eq!(parse_route("/g/index.yaml"), Some(Route::Index("g".into())));
        assert_eq!(parse_route("/g/charts/n-1.0.0.tgz"), Some(Route::Download("g".into(), "n-1.0.0.tgz".into())));
        assert_eq!(parse_route("/g/other"), None);
    }

    #[test]
    fn versions_order_as_semver() {
        let mut v = vec!["1.0.0-rc.1", "1.0.0", "0.9.10", "0.9.9", "1.0.0-beta", "1.0.0-rc.10", "v2.0.0"];
        v.sort_by(|a, b| newest_first(a, b));
        assert_eq!(v, vec!["v2.0.0", "1.0.0", "1.0.0-rc.10", "1.0.0-rc.1", "1.0.0-beta", "0.9.10", "0.9.9"]);
        assert!(!valid_chart_version("1.0"));
        assert!(!valid_chart_version("01.0.0"));
        assert!(!valid_chart_version("../1.0.0"));
        assert!(valid_chart_version("1.2.3-alpha.1+build.5"));
    }

    #[test]
    fn inspects_packaged_charts() {
        let tgz = package_chart("apiVersion: v2\nname: web\nversion: 1.2.3\n", &[("values.yaml", b"a: 1\n")])
            .expect("package");
        let c = inspect_chart(&tgz).expect("inspect");
        assert_eq!((c.name.as_str(), c.version.as_str()), ("web", "1.2.3"));
        let err = inspect_chart(b"not gzip").expect_err("garbage");
        assert!(err.message.contains("not a valid gzipped tar"), "{}", err.message);
    }

    #[test]
    fn multipart_bodies() {
        let body = Bytes::from_static(b"--XX\r\nContent-Disposition: form-data; name=\"chart\"; filename=\"a-1.0.0.tgz\"\r\nContent-Type: application/octet-stream\r\n\r\nDATA\r\n--XX\r\nContent-Disposition: form-data; name=\"prov\"\r\n\r\nP\r\n--XX--\r\n");
        let parts = multipart(&body, "XX").expect("parts");
        assert_eq!(parts.len(), 2);
        assert_eq!(
            (parts[0].name.as_str(), parts[0].filename.as_deref(), &parts[0].data[..]),
            ("chart", Some("a-1.0.0.tgz"), &b"DATA"[..])
        );
        assert_eq!(&parts[1].data[..], b"P");
    }

    #[test]
    fn prov_subjects() {
        let prov = "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\napiVersion: v2\nname: web\nversion: 1.2.3\n\n...\nfiles:\n  web-1.2.3.tgz: sha256:00\n-----BEGIN PGP SIGNATURE-----\nxx\n-----END PGP SIGNATURE-----\n";
        assert_eq!(prov_subject(prov.as_bytes()), Some(("web".into(), "1.2.3".into())));
    }
}
