//! The registry's content model over a [`Storage`] driver: content-addressed blobs, upload
//! sessions, per-repository blob and manifest links, tags and referrers.
//!
//! Layout (relative to the driver's root):
//! ```text
//! blobs/<alg>/<hex[0..2]>/<hex>                       blob and manifest bytes, immutable
//! uploads/<uuid>/info.json, uploads/<uuid>/data        upload sessions (survive restarts)
//! repos/<name>/_layers/<alg>/<hex>                     blob linked into a repository
//! repos/<name>/_manifests/revisions/<alg>/<hex>        manifest in a repository (content: media type)
//! repos/<name>/_manifests/tags/<tag>                   tag (content: digest)
//! repos/<name>/_referrers/<alg>/<subject-hex>/<alg>-<hex>  referrer descriptor (JSON)
//! ```
//! A blob becomes visible only by the driver's atomic commit of a fully written, verified file,
//! so readers never see partial content and two concurrent pushes of the same blob both end
//! with the same complete file.

use crate::digest::{Algorithm, Digest, Hasher};
use crate::error::{Code, Error, Result};
use crate::storage::{AppendError, ByteStream, Storage};
use bytes::Bytes;
use futures::StreamExt;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Incremental hash of an upload's data, valid while `hashed` equals the data's size.
struct UploadHash {
    hasher: Hasher,
    hashed: u64,
}

/// One upload session's in-memory state; the lock serialises requests on the same session.
#[derive(Default)]
struct Session {
    lock: tokio::sync::Mutex<()>,
    hash: Arc<Mutex<Option<UploadHash>>>,
}

/// The registry's content store.
pub struct Store {
    storage: Arc<dyn Storage>,
    sessions: Mutex<HashMap<String, Arc<Session>>>,
}

fn blob_path(d: &Digest) -> String {
    format!("blobs/{}/{}/{}", d.algorithm().name(), &d.hex()[..2], d.hex())
}
fn layer_link(repo: &str, d: &Digest) -> String {
    format!("repos/{repo}/_layers/{}/{}", d.algorithm().name(), d.hex())
}
fn revision_link(repo: &str, d: &Digest) -> String {
    format!("repos/{repo}/_manifests/revisions/{}/{}", d.algorithm().name(), d.hex())
}
fn tags_dir(repo: &str) -> String {
    format!("repos/{repo}/_manifests/tags")
}
fn referrers_dir(repo: &str, subject: &Digest) -> String {
    format!("repos/{repo}/_referrers/{}/{}", subject.algorithm().name(), subject.hex())
}

fn upload_unknown() -> Error {
    Error::new(Code::BlobUploadUnknown, "upload session unknown")
}

/// Upload ids are UUIDs we minted; anything else is unknown (and never reaches a path).
fn check_upload_id(id: &str) -> Result<()> {
    uuid::Uuid::parse_str(id).map(|_| ()).map_err(|_| upload_unknown())
}

impl Store {
    pub fn new(storage: Arc<dyn Storage>) -> Store {
        Store { storage, sessions: Mutex::new(HashMap::new()) }
    }

    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.storage
    }

    // ---- blobs ----

    /// The size of a blob linked into `repo`.
    pub async fn blob_size(&self, repo: &str, d: &Digest) -> Result<Option<u64>> {
        if self.storage.size(&layer_link(repo, d)).await?.is_none() {
            return Ok(None);
        }
        Ok(self.storage.size(&blob_path(d)).await?)
    }

    /// Stream a blob's bytes (the caller checked the repository link).
    pub async fn read_blob(&self, d: &Digest, offset: u64, len: Option<u64>) -> Result<ByteStream> {
        self.storage
            .read(&blob_path(d), offset, len)
            .await?
            .ok_or_else(|| Error::new(Code::BlobUnknown, "blob unknown to registry"))
    }

    /// Link an existing blob into `repo` (cross-repository mount). False if the blob is missing.
    pub async fn link_blob(&self, repo: &str, d: &Digest) -> Result<bool> {
        if self.storage.size(&blob_path(d)).await?.is_none() {
            return Ok(false);
        }
        self.storage.put(&layer_link(repo, d), Bytes::new()).await?;
        Ok(true)
    }

    /// Remove a blob from `repo`; the content itself is left for garbage collection.
    pub async fn unlink_blob(&self, repo: &str, d: &Digest) -> Result<bool> {
        let path = layer_link(repo, d);
        if self.storage.size(&path).await?.is_none() {
            return Ok(false);
        }
        self.storage.delete(&path).await?;
        Ok(true)
    }

    // ---- uploads ----

    fn session(&self, id: &str) -> Arc<Session> {
        let mut map = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(id.to_string()).or_default().clone()
    }

    fn forget_session(&self, id: &str) {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner()).remove(id);
    }

    /// Start an upload session for `repo`; returns its id.
    pub async fn start_upload(&self, repo: &str) -> Result<String> {
        let id = uuid::Uuid::new_v4().to_string();
        let info = serde_json::json!({ "repository": repo, "started": std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0) });
        self.storage.put(&format!("uploads/{id}/info.json"), Bytes::from(info.to_string())).await?;
        Ok(id)
    }

    /// The current size of an upload of `repo`, or BLOB_UPLOAD_UNKNOWN.
    pub async fn upload_size(&self, repo: &str, id: &str) -> Result<u64> {
        check_upload_id(id)?;
        let info = self.storage.get(&format!("uploads/{id}/info.json")).await?.ok_or_else(upload_unknown)?;
        let info: serde_json::Value = serde_json::from_slice(&info).map_err(|_| upload_unknown())?;
        if info.get("repository").and_then(|r| r.as_str()) != Some(repo) {
            return Err(upload_unknown());
        }
        Ok(self.storage.size(&format!("uploads/{id}/data")).await?.unwrap_or(0))
    }

    /// The size of an upload once any request writing to it has finished (upload status).
    pub async fn upload_status(&self, repo: &str, id: &str) -> Result<u64> {
        check_upload_id(id)?;
        let session = self.session(id);
        let _serial = session.lock.lock().await;
        let r = self.upload_size(repo, id).await;
        if r.is_err() {
            self.forget_session(id);
        }
        r
    }

    /// Append `body` to an upload. With `start`, the upload must currently hold exactly that
    /// many bytes (RANGE_INVALID otherwise). Returns the new size. Data received before a
    /// broken connection stays, so the client can ask the status and resume.
    pub async fn append_upload(&self, repo: &str, id: &str, start: Option<u64>, body: ByteStream) -> Result<u64> {
        check_upload_id(id)?;
        let session = self.session(id);
        let _serial = session.lock.lock().await;
        let r = self.append_locked(repo, id, &session, start, body).await;
        if matches!(&r, Err(e) if e.code == Code::BlobUploadUnknown) {
            self.forget_session(id);
        }
        r
    }

    async fn append_locked(
        &self,
        repo: &str,
        id: &str,
        session: &Session,
        start: Option<u64>,
        body: ByteStream,
    ) -> Result<u64> {
        let size = self.upload_size(repo, id).await?;
        if let Some(start) = start
            && start != size
        {
            return Err(range_invalid(size));
        }
        let hash = session.hash.clone();
        {
            let mut h = hash.lock().unwrap_or_else(|p| p.into_inner());
            if h.as_ref().is_none_or(|h| h.hashed != size) {
                // Fresh session or state lost (restart): hash incrementally only from zero;
                // otherwise finishing re-reads the data once.
                *h = (size == 0).then(|| UploadHash { hasher: Hasher::new(Algorithm::Sha256), hashed: 0 });
            }
        }
        let tap = hash.clone();
        let body = body
            .map(move |chunk| {
                if let Ok(c) = &chunk
                    && let Some(h) = tap.lock().unwrap_or_else(|p| p.into_inner()).as_mut()
                {
                    h.hasher.update(c);
                    h.hashed += c.len() as u64;
                }
                chunk
            })
            .boxed();
        match self.storage.append(&format!("uploads/{id}/data"), size, body).await {
            Ok(n) => Ok(n),
            Err(AppendError::Offset(n)) => Err(range_invalid(n)),
            Err(AppendError::Io(e)) => {
                // The hash may have seen bytes the disk did not; let finishing re-check.
                *hash.lock().unwrap_or_else(|p| p.into_inner()) = None;
                Err(Error::new(Code::BlobUploadInvalid, format!("upload interrupted: {e}")))
            }
        }
    }

    /// Finish an upload: append the optional last chunk, verify the digest, and move the data
    /// into place. On a digest mismatch the session and its data are discarded.
    pub async fn finish_upload(
        &self,
        repo: &str,
        id: &str,
        expected: &Digest,
        last: Option<ByteStream>,
    ) -> Result<u64> {
        let session = self.session(id);
        let _serial = session.lock.lock().await;
        let mut size = self.upload_size(repo, id).await?;
        if let Some(body) = last {
            size = self.append_locked(repo, id, &session, None, body).await?;
        }
        let data = format!("uploads/{id}/data");
        let cached = session.hash.lock().unwrap_or_else(|p| p.into_inner()).take();
        let actual = match cached {
            Some(h) if h.hashed == size && h.hasher.algorithm() == expected.algorithm() => h.hasher.finish(),
            _ => self.hash_object(&data, expected.algorithm()).await?,
        };
        if &actual != expected {
            self.cancel_upload_locked(id).await?;
            return Err(Error::new(Code::DigestInvalid, "provided digest did not match uploaded content")
                .detail(serde_json::json!({ "expected": expected.to_string(), "actual": actual.to_string() })));
        }
        if size == 0 {
            // An empty blob (e.g. the OCI empty descriptor's sibling): there is no data file yet.
            self.storage.put(&data, Bytes::new()).await?;
        }
        self.storage.commit(&data, &blob_path(expected)).await?;
        self.storage.put(&layer_link(repo, expected), Bytes::new()).await?;
        self.cancel_upload_locked(id).await?;
        Ok(size)
    }

    /// Cancel an upload session and delete its data.
    pub async fn cancel_upload(&self, repo: &str, id: &str) -> Result<()> {
        let session = self.session(id);
        let _serial = session.lock.lock().await;
        self.upload_size(repo, id).await?;
        self.cancel_upload_locked(id).await
    }

    async fn cancel_upload_locked(&self, id: &str) -> Result<()> {
        self.storage.delete(&format!("uploads/{id}")).await?;
        self.forget_session(id);
        Ok(())
    }

    async fn hash_object(&self, path: &str, alg: Algorithm) -> Result<Digest> {
        let mut hasher = Hasher::new(alg);
        if let Some(mut s) = self.storage.read(path, 0, None).await? {
            while let Some(chunk) = s.next().await {
                hasher.update(&chunk?);
            }
        }
        Ok(hasher.finish())
    }

    // ---- manifests and tags ----

    /// Store manifest bytes under their digest and link them into `repo` with their media type.
    pub async fn put_manifest(&self, repo: &str, d: &Digest, media_type: &str, body: Bytes) -> Result<()> {
        self.storage.put(&blob_path(d), body).await?;
        self.storage.put(&revision_link(repo, d), Bytes::from(media_type.to_string())).await?;
        Ok(())
    }

    /// The media type of a manifest in `repo`, if it is there.
    pub async fn manifest_media_type(&self, repo: &str, d: &Digest) -> Result<Option<String>> {
        Ok(self.storage.get(&revision_link(repo, d)).await?.map(|b| String::from_utf8_lossy(&b).into_owned()))
    }

    /// A manifest of `repo`: media type and bytes.
    pub async fn get_manifest(&self, repo: &str, d: &Digest) -> Result<Option<(String, Bytes)>> {
        let Some(media_type) = self.manifest_media_type(repo, d).await? else {
            return Ok(None);
        };
        Ok(self.storage.get(&blob_path(d)).await?.map(|b| (media_type, b)))
    }

    /// Remove a manifest from `repo` with every tag pointing at it.
    pub async fn delete_manifest(&self, repo: &str, d: &Digest) -> Result<bool> {
        if self.manifest_media_type(repo, d).await?.is_none() {
            return Ok(false);
        }
        for tag in self.tags(repo).await?.unwrap_or_default() {
            if self.resolve_tag(repo, &tag).await?.as_ref() == Some(d) {
                self.storage.delete(&format!("{}/{tag}", tags_dir(repo))).await?;
            }
        }
        self.storage.delete(&revision_link(repo, d)).await?;
        Ok(true)
    }

    pub async fn resolve_tag(&self, repo: &str, tag: &str) -> Result<Option<Digest>> {
        let Some(b) = self.storage.get(&format!("{}/{tag}", tags_dir(repo))).await? else {
            return Ok(None);
        };
        Ok(std::str::from_utf8(&b).ok().and_then(|s| s.trim().parse().ok()))
    }

    pub async fn set_tag(&self, repo: &str, tag: &str, d: &Digest) -> Result<()> {
        self.storage.put(&format!("{}/{tag}", tags_dir(repo)), Bytes::from(d.to_string())).await?;
        Ok(())
    }

    pub async fn delete_tag(&self, repo: &str, tag: &str) -> Result<bool> {
        let path = format!("{}/{tag}", tags_dir(repo));
        if self.storage.size(&path).await?.is_none() {
            return Ok(false);
        }
        self.storage.delete(&path).await?;
        Ok(true)
    }

    /// The sorted tags of `repo`, or `None` if the repository does not exist.
    pub async fn tags(&self, repo: &str) -> Result<Option<Vec<String>>> {
        if !self.repository_exists(repo).await? {
            return Ok(None);
        }
        let entries = self.storage.list(&tags_dir(repo)).await?;
        Ok(Some(entries.into_iter().filter(|e| !e.is_dir).map(|e| e.name).collect()))
    }

    pub async fn repository_exists(&self, repo: &str) -> Result<bool> {
        let entries = self.storage.list(&format!("repos/{repo}")).await?;
        Ok(entries.iter().any(|e| e.name == "_manifests" || e.name == "_layers"))
    }

    /// Removes the repository `prefix` and every repository under it (`prefix/...`).
    pub async fn delete_repositories(&self, prefix: &str) -> Result<()> {
        if !crate::names::valid_repository(prefix) {
            return Err(Error::new(Code::NameInvalid, "invalid repository name"));
        }
        Ok(self.storage.delete(&format!("repos/{prefix}")).await?)
    }

    /// Every repository name, sorted.
    pub async fn repositories(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let mut pending = vec![String::new()];
        while let Some(prefix) = pending.pop() {
            let dir = if prefix.is_empty() { "repos".to_string() } else { format!("repos/{prefix}") };
            let entries = self.storage.list(&dir).await?;
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

    // ---- referrers ----

    pub async fn add_referrer(
        &self,
        repo: &str,
        subject: &Digest,
        referrer: &Digest,
        descriptor: &serde_json::Value,
    ) -> Result<()> {
        let path = format!("{}/{}-{}", referrers_dir(repo, subject), referrer.algorithm().name(), referrer.hex());
        self.storage.put(&path, Bytes::from(descriptor.to_string())).await?;
        Ok(())
    }

    pub async fn remove_referrer(&self, repo: &str, subject: &Digest, referrer: &Digest) -> Result<()> {
        let path = format!("{}/{}-{}", referrers_dir(repo, subject), referrer.algorithm().name(), referrer.hex());
        Ok(self.storage.delete(&path).await?)
    }

    /// Descriptors of the manifests in `repo` whose subject is `subject`.
    pub async fn referrers(&self, repo: &str, subject: &Digest) -> Result<Vec<serde_json::Value>> {
        let dir = referrers_dir(repo, subject);
        let mut out = Vec::new();
        for e in self.storage.list(&dir).await? {
            if let Some(b) = self.storage.get(&format!("{dir}/{}", e.name)).await?
                && let Ok(v) = serde_json::from_slice(&b)
            {
                out.push(v);
            }
        }
        Ok(out)
    }
}

fn range_invalid(size: u64) -> Error {
    Error::new(Code::RangeInvalid, format!("upload holds {size} bytes"))
        .header(http::header::RANGE, &format!("0-{}", size.saturating_sub(1)))
}
