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
//!
//! [`archive`] reads and writes chart archives, [`repository`] keeps them, [`endpoints`] serves
//! them.

mod archive;
mod endpoints;
mod repository;

pub use archive::{inspect_chart, package_chart, valid_chart_name, valid_chart_version};
pub(crate) use endpoints::serve;
pub use repository::Charts;

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::HashMap;

use endpoints::json_response;

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
