//! Garbage collection of blobs no manifest references and of abandoned upload sessions, on
//! any [`Storage`] driver, safe to run while the registry serves pushes.
//!
//! Mark: every manifest revision of every repository is marked, with everything its JSON
//! references (config, layers, index children, artifact blobs, subject) and every referrer
//! recorded for it. Sweep: a blob under `blobs/` that is not marked is deleted only if it and
//! every repository link to it are older than the grace period.
//!
//! Why that is safe during pushes: a client uploads its blobs first (each upload commits the
//! blob and links it into the repository, both freshly timestamped) and pushes the manifest
//! last. A blob whose manifest is not there yet is therefore at most as old as the push, and
//! survives as long as the push takes less than the grace period to reach its manifest. A
//! manifest pushed while the mark phase runs is caught by a second listing of the revisions
//! just before deleting. Uploads whose session (start, last append) is older than the upload
//! grace period are abandoned and removed. With a zero grace period GC is only safe while the
//! registry is read-only (`Config::read_only`).

use super::Storage;
use crate::digest::Digest;
use futures::StreamExt;
use std::collections::{HashMap, HashSet};
use std::io;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Manifests parsed at once while marking.
const PARALLELISM: usize = 16;

/// How a collection runs.
#[derive(Debug, Clone)]
pub struct GcOptions {
    /// Unreferenced blobs younger than this (by commit or repository link time) are kept:
    /// pushes in flight have not pushed their manifest yet.
    pub grace: Duration,
    /// Upload sessions idle for longer than this are removed.
    pub upload_grace: Duration,
    /// Report what would be deleted without deleting anything.
    pub dry_run: bool,
    /// The time the collection considers "now" (`None`: the clock).
    pub now: Option<SystemTime>,
}

impl Default for GcOptions {
    fn default() -> GcOptions {
        GcOptions {
            grace: Duration::from_secs(3600),
            upload_grace: Duration::from_secs(24 * 3600),
            dry_run: false,
            now: None,
        }
    }
}

/// A blob removed (or, in a dry run, to be removed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweptBlob {
    pub digest: String,
    pub size: u64,
}

/// What a collection found and did.
#[derive(Debug, Clone, Default)]
pub struct GcReport {
    pub dry_run: bool,
    pub repositories: usize,
    pub manifests: usize,
    /// Distinct blobs (manifests included) referenced by some manifest.
    pub referenced: usize,
    /// Unreferenced blobs kept because they are within the grace period.
    pub kept_recent: usize,
    pub blobs: Vec<SweptBlob>,
    /// Upload session ids removed, with the bytes they held.
    pub uploads: Vec<(String, u64)>,
}

impl GcReport {
    /// Bytes freed (or that would be) by blobs and uploads together.
    pub fn bytes_freed(&self) -> u64 {
        self.blobs.iter().map(|b| b.size).sum::<u64>() + self.uploads.iter().map(|(_, n)| n).sum::<u64>()
    }
}

/// `alg:hex` keys of marked content.
type Marks = HashSet<String>;

fn blob_path(alg: &str, hex: &str) -> String {
    format!("blobs/{alg}/{}/{hex}", hex.get(..2).unwrap_or(hex))
}

/// Every repository (a directory holding `_manifests` or `_layers`) under `repos/`.
async fn repositories(storage: &dyn Storage) -> io::Result<Vec<String>> {
    let mut out = Vec::new();
    let mut pending = vec![String::new()];
    while let Some(prefix) = pending.pop() {
        let dir = if prefix.is_empty() { "repos".to_string() } else { format!("repos/{prefix}") };
        let entries = storage.list(&dir).await?;
        if !prefix.is_empty() && entries.iter().any(|e| e.name == "_manifests" || e.name == "_layers") {
            out.push(prefix.clone());
        }
        for e in entries.into_iter().filter(|e| e.is_dir && !e.name.starts_with('_')) {
            pending.push(if prefix.is_empty() { e.name } else { format!("{prefix}/{}", e.name) });
        }
    }
    out.sort();
    Ok(out)
}

/// `(alg, hex)` of the files of a two-level `<alg>/<hex>` directory.
async fn digests_in(storage: &dyn Storage, dir: &str) -> io::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for alg in storage.list(dir).await?.into_iter().filter(|e| e.is_dir) {
        for f in storage.list(&format!("{dir}/{}", alg.name)).await? {
            if !f.is_dir {
                out.push((alg.name.clone(), f.name));
            }
        }
    }
    Ok(out)
}

/// The digests a manifest's JSON references.
fn references(manifest: &[u8]) -> Vec<Digest> {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(manifest) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut add = |d: Option<&serde_json::Value>| {
        if let Some(d) = d.and_then(|d| d.as_str()).and_then(|s| s.parse::<Digest>().ok()) {
            out.push(d);
        }
    };
    add(v.pointer("/config/digest"));
    add(v.pointer("/subject/digest"));
    for list in ["layers", "manifests", "blobs"] {
        for item in v.get(list).and_then(|l| l.as_array()).into_iter().flatten() {
            add(item.get("digest"));
        }
    }
    // Docker schema 1.
    for item in v.get("fsLayers").and_then(|l| l.as_array()).into_iter().flatten() {
        add(item.get("blobSum"));
    }
    out
}

/// Marks every manifest revision of `repos` not in `seen`, with what it references.
async fn mark_manifests(
    storage: &dyn Storage,
    repos: &[String],
    seen: &mut HashSet<String>,
    marks: &mut Marks,
) -> io::Result<()> {
    let mut todo = Vec::new();
    for repo in repos {
        for (alg, hex) in digests_in(storage, &format!("repos/{repo}/_manifests/revisions")).await? {
            let key = format!("{alg}:{hex}");
            marks.insert(key.clone());
            if seen.insert(key) {
                todo.push((alg, hex));
            }
        }
        // Referrers recorded for a subject are manifests of this repository too.
        for alg in storage.list(&format!("repos/{repo}/_referrers")).await?.into_iter().filter(|e| e.is_dir) {
            for subject in
                storage.list(&format!("repos/{repo}/_referrers/{}", alg.name)).await?.into_iter().filter(|e| e.is_dir)
            {
                let dir = format!("repos/{repo}/_referrers/{}/{}", alg.name, subject.name);
                for r in storage.list(&dir).await? {
                    if let Some((ralg, rhex)) = r.name.split_once('-') {
                        let key = format!("{ralg}:{rhex}");
                        marks.insert(key.clone());
                        if seen.insert(key) {
                            todo.push((ralg.to_string(), rhex.to_string()));
                        }
                    }
                }
            }
        }
    }
    let mut parsed = futures::stream::iter(todo)
        .map(|(alg, hex)| async move {
            let body = storage.get(&blob_path(&alg, &hex)).await?;
            io::Result::Ok(body.map(|b| references(&b)).unwrap_or_default())
        })
        .buffer_unordered(PARALLELISM);
    while let Some(refs) = parsed.next().await {
        for d in refs? {
            marks.insert(format!("{}:{}", d.algorithm().name(), d.hex()));
        }
    }
    Ok(())
}

/// The newest link of each blob into any repository (`alg:hex` -> link paths).
async fn layer_links(storage: &dyn Storage, repos: &[String]) -> io::Result<HashMap<String, Vec<String>>> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for repo in repos {
        let dir = format!("repos/{repo}/_layers");
        for (alg, hex) in digests_in(storage, &dir).await? {
            out.entry(format!("{alg}:{hex}")).or_default().push(format!("{dir}/{alg}/{hex}"));
        }
    }
    Ok(out)
}

/// Whether an object was written at or after `cutoff` (unknown times count as recent).
async fn recent(storage: &dyn Storage, path: &str, cutoff: SystemTime) -> io::Result<bool> {
    Ok(match storage.stat(path).await? {
        Some(s) => s.modified.is_none_or(|m| m >= cutoff),
        None => false,
    })
}

/// Run one collection.
pub async fn collect_garbage(storage: &dyn Storage, opts: &GcOptions) -> io::Result<GcReport> {
    let now = opts.now.unwrap_or_else(SystemTime::now);
    let cutoff = now.checked_sub(opts.grace).unwrap_or(UNIX_EPOCH);
    let upload_cutoff = now.checked_sub(opts.upload_grace).unwrap_or(UNIX_EPOCH);
    let mut report = GcReport { dry_run: opts.dry_run, ..GcReport::default() };

    // Mark.
    let repos = repositories(storage).await?;
    let (mut seen, mut marks) = (HashSet::new(), Marks::new());
    mark_manifests(storage, &repos, &mut seen, &mut marks).await?;
    let links = layer_links(storage, &repos).await?;

    // Sweep candidates: unmarked and old, blob and links alike.
    let mut candidates = Vec::new();
    for alg in storage.list("blobs").await?.into_iter().filter(|e| e.is_dir) {
        for shard in storage.list(&format!("blobs/{}", alg.name)).await?.into_iter().filter(|e| e.is_dir) {
            for blob in
                storage.list(&format!("blobs/{}/{}", alg.name, shard.name)).await?.into_iter().filter(|e| !e.is_dir)
            {
                let key = format!("{}:{}", alg.name, blob.name);
                if marks.contains(&key) {
                    continue;
                }
                let path = blob_path(&alg.name, &blob.name);
                let Some(stat) = storage.stat(&path).await? else {
                    continue;
                };
                let mut young = stat.modified.is_none_or(|m| m >= cutoff);
                for link in links.get(&key).into_iter().flatten() {
                    if young {
                        break;
                    }
                    young = recent(storage, link, cutoff).await?;
                }
                if young {
                    report.kept_recent += 1;
                } else {
                    candidates.push((key, path, stat.size));
                }
            }
        }
    }

    // Manifests pushed while marking reference blobs too: list the revisions once more.
    let repos_now = repositories(storage).await?;
    mark_manifests(storage, &repos_now, &mut seen, &mut marks).await?;
    report.repositories = repos_now.len();
    report.manifests = seen.len();
    report.referenced = marks.len();

    for (key, path, size) in candidates {
        if marks.contains(&key) {
            continue;
        }
        if !opts.dry_run {
            storage.delete(&path).await?;
        }
        tracing::info!(blob = %key, size, dry_run = opts.dry_run, "garbage blob");
        report.blobs.push(SweptBlob { digest: key, size });
    }

    // Abandoned uploads.
    for up in storage.list("uploads").await?.into_iter().filter(|e| e.is_dir) {
        let dir = format!("uploads/{}", up.name);
        let info = storage.stat(&format!("{dir}/info.json")).await?;
        let data = storage.stat(&format!("{dir}/data")).await?;
        let started = match storage.get(&format!("{dir}/info.json")).await? {
            Some(b) => serde_json::from_slice::<serde_json::Value>(&b)
                .ok()
                .and_then(|v| v.get("started").and_then(|s| s.as_u64()))
                .map(|s| UNIX_EPOCH + Duration::from_secs(s)),
            None => None,
        };
        let times = [info.map(|s| s.modified), data.map(|s| s.modified), Some(started)];
        // A time the driver cannot tell keeps the session.
        let unknown = times.iter().flatten().any(|t| t.is_none());
        let newest = times.iter().flatten().flatten().max().copied();
        // A directory with no session file yet may be a session being created: kept.
        let abandoned = !unknown && newest.is_some_and(|t| t < upload_cutoff);
        if !abandoned {
            continue;
        }
        let size = data.map(|s| s.size).unwrap_or(0);
        if !opts.dry_run {
            storage.delete(&dir).await?;
        }
        tracing::info!(upload = %up.name, size, dry_run = opts.dry_run, "abandoned upload");
        report.uploads.push((up.name, size));
    }
    Ok(report)
}
