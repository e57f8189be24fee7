//! The S3 storage driver: objects in a bucket (AWS S3 or any S3-compatible server), signed
//! with SigV4 by `rusty-s3` and sent with `reqwest`, bodies streamed both ways.
//!
//! S3 objects cannot be appended to, so an in-progress object (an upload's data) is kept as
//! numbered segment objects `<key>.~seg/<offset>` of at most [`SEGMENT`] bytes, each written by
//! one PUT once it is complete: a broken request keeps every byte that arrived (the tail is
//! flushed as a last, shorter segment), and the object's size is the sum of the contiguous
//! segments from offset 0. `commit` assembles the segments into the final key server-side
//! (CopyObject for one segment, a multipart upload of UploadPartCopy parts otherwise, or of
//! re-uploaded parts when clients sent chunks smaller than S3's 5 MiB part minimum) and only
//! then deletes them. S3 makes a PUT, a copy and a completed multipart upload visible whole or
//! not at all, which is the atomicity the [`Storage`] contract asks for.

use super::{AppendError, ByteStream, Entry, Stat, Storage};
use bytes::{Bytes, BytesMut};
use futures::{StreamExt, TryStreamExt};
use rusty_s3::actions::{
    AbortMultipartUpload, CompleteMultipartUpload, CreateMultipartUpload, DeleteObject, GetObject, HeadObject,
    ListObjectsV2, PutObject, UploadPart,
};
use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};
use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// In-progress objects are written in segments of this size (memory per append is bounded by
/// two of them: one being filled, one being sent).
pub const SEGMENT: usize = 8 * 1024 * 1024;
/// S3's smallest part of a multipart upload (all parts but the last).
const MIN_PART: u64 = 5 * 1024 * 1024;
/// S3's largest single PUT or copy.
const MAX_SINGLE: u64 = 5 * 1024 * 1024 * 1024;
/// Lifetime of the presigned request URLs (checked when a request starts).
const SIGN_TTL: Duration = Duration::from_secs(3600);
/// Marker of the directory holding an in-progress object's segments.
const SEG_MARK: &str = ".~seg";
/// Parallel deletes when removing a tree.
const DELETE_PARALLELISM: usize = 16;

/// Where and how to reach the bucket.
#[derive(Debug, Clone)]
pub struct S3Config {
    /// `http(s)://host[:port]` of the S3 service.
    pub endpoint: String,
    pub bucket: String,
    pub region: String,
    pub access_key: String,
    pub secret_key: String,
    /// Key prefix of every object (empty for the bucket's root), so a bucket can be shared.
    pub prefix: String,
    /// Address the bucket as `bucket.host` (AWS) rather than `host/bucket` (most S3-compatible
    /// servers).
    pub virtual_host: bool,
}

/// A [`Storage`] on an S3 bucket. Cheap to clone.
#[derive(Clone)]
pub struct S3 {
    inner: Arc<Inner>,
}

struct Inner {
    bucket: Bucket,
    credentials: Credentials,
    http: reqwest::Client,
    prefix: String,
}

/// One segment of an in-progress object.
#[derive(Debug, Clone)]
struct Segment {
    key: String,
    offset: u64,
    size: u64,
    modified: Option<SystemTime>,
}

/// One listed object.
struct Listed {
    key: String,
    size: u64,
    modified: Option<SystemTime>,
}

fn other(msg: impl Into<String>) -> io::Error {
    io::Error::other(msg.into())
}

fn from_reqwest(e: reqwest::Error) -> io::Error {
    io::Error::other(format!("S3 request: {e}"))
}

fn parse_iso(s: &str) -> Option<SystemTime> {
    s.parse::<jiff::Timestamp>().ok().map(SystemTime::from)
}

fn parse_http_date(s: &str) -> Option<SystemTime> {
    jiff::fmt::rfc2822::DateTimeParser::new().parse_timestamp(s).ok().map(SystemTime::from)
}

/// Percent-encode a key for `x-amz-copy-source` (slashes kept).
fn encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The text of the first `<tag>` element of an XML document.
fn xml_text<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{tag}>"))? + start;
    Some(&xml[start..end])
}

fn unquote_xml(s: &str) -> String {
    s.replace("&quot;", "\"").replace("&amp;", "&")
}

impl S3 {
    pub fn new(config: S3Config) -> io::Result<S3> {
        let endpoint: reqwest::Url =
            config.endpoint.parse().map_err(|e| other(format!("S3 endpoint {:?}: {e}", config.endpoint)))?;
        let style = if config.virtual_host { UrlStyle::VirtualHost } else { UrlStyle::Path };
        let bucket = Bucket::new(endpoint, style, config.bucket.clone(), config.region)
            .map_err(|e| other(format!("S3 bucket {:?}: {e}", config.bucket)))?;
        let http = reqwest::Client::builder().build().map_err(from_reqwest)?;
        let prefix = config.prefix.split('/').filter(|s| !s.is_empty()).map(|s| format!("{s}/")).collect();
        Ok(S3 {
            inner: Arc::new(Inner {
                bucket,
                credentials: Credentials::new(config.access_key, config.secret_key),
                http,
                prefix,
            }),
        })
    }

    /// Create the bucket if it does not exist yet.
    pub async fn ensure_bucket(&self) -> io::Result<()> {
        let i = &self.inner;
        let head = rusty_s3::actions::HeadBucket::new(&i.bucket, Some(&i.credentials)).sign(SIGN_TTL);
        let r = i.http.head(head).send().await.map_err(from_reqwest)?;
        if r.status().is_success() {
            return Ok(());
        }
        let create = rusty_s3::actions::CreateBucket::new(&i.bucket, &i.credentials).sign(SIGN_TTL);
        let r = i.http.put(create).header(http::header::CONTENT_LENGTH, 0).send().await.map_err(from_reqwest)?;
        let status = r.status();
        let body = r.text().await.unwrap_or_default();
        if status.is_success() || body.contains("BucketAlreadyOwnedByYou") {
            Ok(())
        } else {
            Err(other(format!("S3 create bucket: {status} {body}")))
        }
    }
}

impl Inner {
    /// The object key of a driver path; `.` and `..` segments are dropped as on the filesystem.
    fn key(&self, path: &str) -> String {
        let mut k = self.prefix.clone();
        for part in path.split('/').filter(|s| !s.is_empty() && *s != "." && *s != "..") {
            if !k.is_empty() && !k.ends_with('/') {
                k.push('/');
            }
            k.push_str(part);
        }
        // The root of a prefixed bucket is the prefix itself, without its slash.
        while k.ends_with('/') {
            k.pop();
        }
        k
    }

    fn seg_dir(key: &str) -> String {
        format!("{key}{SEG_MARK}/")
    }

    fn seg_key(key: &str, offset: u64) -> String {
        format!("{key}{SEG_MARK}/{offset:020}")
    }

    /// Fail with the response's status and body unless it succeeded.
    async fn check(r: reqwest::Response, what: &str) -> io::Result<reqwest::Response> {
        if r.status().is_success() {
            return Ok(r);
        }
        let status = r.status();
        let body = r.text().await.unwrap_or_default();
        Err(other(format!("S3 {what}: {status} {body}")))
    }

    async fn head(&self, key: &str) -> io::Result<Option<Stat>> {
        let url = HeadObject::new(&self.bucket, Some(&self.credentials), key).sign(SIGN_TTL);
        let r = self.http.head(url).send().await.map_err(from_reqwest)?;
        if r.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let r = Self::check(r, &format!("HEAD {key}")).await?;
        let size = r
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| other(format!("S3 HEAD {key}: no Content-Length")))?;
        let modified =
            r.headers().get(http::header::LAST_MODIFIED).and_then(|v| v.to_str().ok()).and_then(parse_http_date);
        Ok(Some(Stat { size, modified }))
    }

    /// Every object under `prefix` (with `delimiter`, also the common prefixes), all pages.
    async fn list_all(&self, prefix: &str, delimiter: Option<&str>) -> io::Result<(Vec<Listed>, Vec<String>)> {
        let (mut objects, mut prefixes) = (Vec::new(), Vec::new());
        let mut token: Option<String> = None;
        loop {
            let mut action = ListObjectsV2::new(&self.bucket, Some(&self.credentials));
            if !prefix.is_empty() {
                action.with_prefix(prefix.to_string());
            }
            if let Some(d) = delimiter {
                action.with_delimiter(d.to_string());
            }
            if let Some(t) = token.take() {
                action.with_continuation_token(t);
            }
            let r = self.http.get(action.sign(SIGN_TTL)).send().await.map_err(from_reqwest)?;
            let text = Self::check(r, &format!("LIST {prefix}")).await?.text().await.map_err(from_reqwest)?;
            let page = ListObjectsV2::parse_response(&text)
                .map_err(|e| other(format!("S3 LIST {prefix}: bad response: {e}")))?;
            objects.extend(page.contents.into_iter().map(|c| Listed {
                key: c.key,
                size: c.size.unwrap_or(0),
                modified: c.last_modified.as_deref().and_then(parse_iso),
            }));
            prefixes.extend(page.common_prefixes.into_iter().map(|p| p.prefix));
            match page.next_continuation_token {
                Some(t) if !t.is_empty() => token = Some(t),
                _ => break,
            }
        }
        Ok((objects, prefixes))
    }

    /// The contiguous segments of an in-progress object, from offset 0 (a segment after a gap,
    /// which only a failed write can leave, is not part of it).
    async fn segments(&self, key: &str) -> io::Result<Vec<Segment>> {
        let dir = Self::seg_dir(key);
        let (objects, _) = self.list_all(&dir, None).await?;
        let mut segs: Vec<Segment> = objects
            .into_iter()
            .filter_map(|o| {
                let offset = o.key[dir.len()..].parse().ok()?;
                Some(Segment { key: o.key, offset, size: o.size, modified: o.modified })
            })
            .collect();
        segs.sort_by_key(|s| s.offset);
        let mut end = 0;
        let mut out = Vec::new();
        for s in segs {
            if s.offset != end {
                break;
            }
            end += s.size;
            out.push(s);
        }
        Ok(out)
    }

    async fn put_object(&self, key: &str, data: Bytes) -> io::Result<()> {
        let url = PutObject::new(&self.bucket, Some(&self.credentials), key).sign(SIGN_TTL);
        let r = self
            .http
            .put(url)
            .header(http::header::CONTENT_LENGTH, data.len())
            .body(data)
            .send()
            .await
            .map_err(from_reqwest)?;
        Self::check(r, &format!("PUT {key}")).await.map(|_| ())
    }

    async fn delete_object(&self, key: &str) -> io::Result<()> {
        let url = DeleteObject::new(&self.bucket, Some(&self.credentials), key).sign(SIGN_TTL);
        let r = self.http.delete(url).send().await.map_err(from_reqwest)?;
        if r.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(());
        }
        Self::check(r, &format!("DELETE {key}")).await.map(|_| ())
    }

    async fn delete_keys(&self, keys: Vec<String>) -> io::Result<()> {
        futures::stream::iter(keys)
            .map(|k| async move { self.delete_object(&k).await })
            .buffer_unordered(DELETE_PARALLELISM)
            .try_collect::<Vec<()>>()
            .await
            .map(|_| ())
    }

    /// A GET of `key` from `offset` (`len` bytes or to the end). `Ok(None)` when the object is
    /// missing; an empty stream when it exists and `offset` is at its end.
    async fn get_range(&self, key: &str, offset: u64, len: Option<u64>) -> io::Result<Option<ByteStream>> {
        let url = GetObject::new(&self.bucket, Some(&self.credentials), key).sign(SIGN_TTL);
        let mut req = self.http.get(url);
        match len {
            Some(n) => req = req.header(http::header::RANGE, format!("bytes={offset}-{}", offset + n - 1)),
            None if offset > 0 => req = req.header(http::header::RANGE, format!("bytes={offset}-")),
            None => {}
        }
        let r = req.send().await.map_err(from_reqwest)?;
        match r.status() {
            reqwest::StatusCode::NOT_FOUND => Ok(None),
            reqwest::StatusCode::RANGE_NOT_SATISFIABLE if len.is_none() => Ok(Some(futures::stream::empty().boxed())),
            reqwest::StatusCode::RANGE_NOT_SATISFIABLE => {
                Err(io::Error::new(io::ErrorKind::UnexpectedEof, "object shorter than requested"))
            }
            _ => {
                let r = Self::check(r, &format!("GET {key}")).await?;
                Ok(Some(r.bytes_stream().map(|c| c.map_err(from_reqwest)).boxed()))
            }
        }
    }

    /// Server-side copy of a whole object (up to 5 GiB).
    async fn copy_object(&self, from: &str, to: &str) -> io::Result<()> {
        let source = format!("{}/{}", self.bucket.name(), encode_key(from));
        let mut action = PutObject::new(&self.bucket, Some(&self.credentials), to);
        action.headers_mut().insert("x-amz-copy-source", source.clone());
        let r = self
            .http
            .put(action.sign(SIGN_TTL))
            .header("x-amz-copy-source", source)
            .header(http::header::CONTENT_LENGTH, 0)
            .send()
            .await
            .map_err(from_reqwest)?;
        let body = Self::check(r, &format!("COPY {from} {to}")).await?.text().await.map_err(from_reqwest)?;
        // S3 may report a failed copy inside a 200 response.
        if body.contains("<Error>") {
            return Err(other(format!("S3 COPY {from} {to}: {body}")));
        }
        Ok(())
    }

    /// Assemble `to` from `segments` with one multipart upload; aborted on any failure.
    async fn assemble(&self, segments: &[Segment], to: &str) -> io::Result<()> {
        let url = CreateMultipartUpload::new(&self.bucket, Some(&self.credentials), to).sign(SIGN_TTL);
        let r = self.http.post(url).send().await.map_err(from_reqwest)?;
        let text = Self::check(r, &format!("CREATE MULTIPART {to}")).await?.text().await.map_err(from_reqwest)?;
        let created = CreateMultipartUpload::parse_response(&text)
            .map_err(|e| other(format!("S3 CREATE MULTIPART {to}: bad response: {e}")))?;
        let upload_id = created.upload_id().to_string();
        let result = self.assemble_parts(segments, to, &upload_id).await;
        if result.is_err() {
            let url = AbortMultipartUpload::new(&self.bucket, Some(&self.credentials), to, &upload_id).sign(SIGN_TTL);
            if let Err(e) = self.http.delete(url).send().await {
                tracing::warn!(key = to, error = %e, "aborting an S3 multipart upload failed");
            }
        }
        result
    }

    async fn assemble_parts(&self, segments: &[Segment], to: &str, upload_id: &str) -> io::Result<()> {
        let copyable = segments.iter().rev().skip(1).all(|s| s.size >= MIN_PART && s.size <= MAX_SINGLE);
        let mut etags = Vec::new();
        if copyable {
            for s in segments {
                let n = etags.len() + 1;
                etags.push(self.copy_part(&s.key, to, n, upload_id).await?);
            }
        } else {
            // Small segments (clients' small chunks): read them back and regroup into parts.
            let mut buf = BytesMut::with_capacity(SEGMENT);
            for s in segments {
                let mut body = self
                    .get_range(&s.key, 0, None)
                    .await?
                    .ok_or_else(|| other(format!("S3 segment {} vanished", s.key)))?;
                while let Some(chunk) = body.next().await {
                    buf.extend_from_slice(&chunk?);
                    if buf.len() >= SEGMENT {
                        let part = buf.split().freeze();
                        let n = etags.len() + 1;
                        etags.push(self.upload_part(to, n, upload_id, part).await?);
                    }
                }
            }
            if !buf.is_empty() || etags.is_empty() {
                let n = etags.len() + 1;
                etags.push(self.upload_part(to, n, upload_id, buf.freeze()).await?);
            }
        }
        let action = CompleteMultipartUpload::new(
            &self.bucket,
            Some(&self.credentials),
            to,
            upload_id,
            etags.iter().map(String::as_str),
        );
        let url = action.sign(SIGN_TTL);
        let body = action.body();
        let r = self.http.post(url).body(body).send().await.map_err(from_reqwest)?;
        let text = Self::check(r, &format!("COMPLETE MULTIPART {to}")).await?.text().await.map_err(from_reqwest)?;
        if text.contains("<Error>") {
            return Err(other(format!("S3 COMPLETE MULTIPART {to}: {text}")));
        }
        Ok(())
    }

    fn part_number(n: usize) -> io::Result<u16> {
        u16::try_from(n).ok().filter(|n| *n <= 10_000).ok_or_else(|| other("object needs more than 10000 S3 parts"))
    }

    async fn upload_part(&self, to: &str, n: usize, upload_id: &str, data: Bytes) -> io::Result<String> {
        let url =
            UploadPart::new(&self.bucket, Some(&self.credentials), to, Self::part_number(n)?, upload_id).sign(SIGN_TTL);
        let r = self
            .http
            .put(url)
            .header(http::header::CONTENT_LENGTH, data.len())
            .body(data)
            .send()
            .await
            .map_err(from_reqwest)?;
        let r = Self::check(r, &format!("UPLOAD PART {to} {n}")).await?;
        r.headers()
            .get(http::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .ok_or_else(|| other(format!("S3 UPLOAD PART {to} {n}: no ETag")))
    }

    async fn copy_part(&self, from: &str, to: &str, n: usize, upload_id: &str) -> io::Result<String> {
        let source = format!("{}/{}", self.bucket.name(), encode_key(from));
        let mut action = UploadPart::new(&self.bucket, Some(&self.credentials), to, Self::part_number(n)?, upload_id);
        action.headers_mut().insert("x-amz-copy-source", source.clone());
        let r = self
            .http
            .put(action.sign(SIGN_TTL))
            .header("x-amz-copy-source", source)
            .header(http::header::CONTENT_LENGTH, 0)
            .send()
            .await
            .map_err(from_reqwest)?;
        let text = Self::check(r, &format!("COPY PART {from} {to} {n}")).await?.text().await.map_err(from_reqwest)?;
        xml_text(&text, "ETag").map(unquote_xml).ok_or_else(|| other(format!("S3 COPY PART {from} {to} {n}: {text}")))
    }
}

#[async_trait::async_trait]
impl Storage for S3 {
    async fn get(&self, path: &str) -> io::Result<Option<Bytes>> {
        let i = &self.inner;
        let key = i.key(path);
        let url = GetObject::new(&i.bucket, Some(&i.credentials), &key).sign(SIGN_TTL);
        let r = i.http.get(url).send().await.map_err(from_reqwest)?;
        if r.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let r = Inner::check(r, &format!("GET {key}")).await?;
        Ok(Some(r.bytes().await.map_err(from_reqwest)?))
    }

    async fn put(&self, path: &str, data: Bytes) -> io::Result<()> {
        self.inner.put_object(&self.inner.key(path), data).await
    }

    async fn size(&self, path: &str) -> io::Result<Option<u64>> {
        Ok(self.stat(path).await?.map(|s| s.size))
    }

    async fn stat(&self, path: &str) -> io::Result<Option<Stat>> {
        let key = self.inner.key(path);
        if let Some(s) = self.inner.head(&key).await? {
            return Ok(Some(s));
        }
        let segs = self.inner.segments(&key).await?;
        if segs.is_empty() {
            return Ok(None);
        }
        Ok(Some(Stat {
            size: segs.iter().map(|s| s.size).sum(),
            modified: segs.iter().filter_map(|s| s.modified).max(),
        }))
    }

    async fn read(&self, path: &str, offset: u64, len: Option<u64>) -> io::Result<Option<ByteStream>> {
        let key = self.inner.key(path);
        if len == Some(0) {
            return Ok(self.stat(path).await?.map(|_| futures::stream::empty().boxed()));
        }
        if let Some(s) = self.inner.get_range(&key, offset, len).await? {
            return Ok(Some(s));
        }
        // Not committed: maybe an in-progress object; read across its segments.
        let segs = self.inner.segments(&key).await?;
        if segs.is_empty() {
            return Ok(None);
        }
        let size: u64 = segs.iter().map(|s| s.size).sum();
        let end = match len {
            Some(n) if offset + n > size => {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "object shorter than requested"));
            }
            Some(n) => offset + n,
            None => size,
        };
        let plan: Vec<(String, u64, u64)> = segs
            .into_iter()
            .filter(|s| s.offset + s.size > offset && s.offset < end && s.size > 0)
            .map(|s| {
                let from = offset.saturating_sub(s.offset);
                let to = (end - s.offset).min(s.size);
                (s.key, from, to - from)
            })
            .collect();
        let inner = self.inner.clone();
        let stream = futures::stream::iter(plan)
            .then(move |(key, from, n)| {
                let inner = inner.clone();
                async move {
                    inner
                        .get_range(&key, from, Some(n))
                        .await?
                        .ok_or_else(|| other(format!("S3 segment {key} vanished")))
                }
            })
            .try_flatten();
        Ok(Some(stream.boxed()))
    }

    async fn append(&self, path: &str, offset: u64, mut data: ByteStream) -> Result<u64, AppendError> {
        let key = self.inner.key(path);
        let size: u64 = self.inner.segments(&key).await?.iter().map(|s| s.size).sum();
        if size != offset {
            return Err(AppendError::Offset(size));
        }
        let mut pos = offset;
        let mut buf = BytesMut::new();
        // One segment PUT runs while the next one fills; a segment starts only after the
        // previous one is stored, so a failure never leaves a gap.
        let mut sending: Option<tokio::task::JoinHandle<io::Result<()>>> = None;
        let send =
            |inner: Arc<Inner>, key: String, seg: Bytes| tokio::spawn(async move { inner.put_object(&key, seg).await });
        let mut incoming_error = None;
        while let Some(item) = data.next().await {
            match item {
                Ok(chunk) => {
                    buf.extend_from_slice(&chunk);
                    while buf.len() >= SEGMENT {
                        let seg = buf.split_to(SEGMENT).freeze();
                        if let Some(h) = sending.take() {
                            h.await.map_err(io::Error::other)??;
                        }
                        let n = seg.len() as u64;
                        sending = Some(send(self.inner.clone(), Inner::seg_key(&key, pos), seg));
                        pos += n;
                    }
                }
                Err(e) => {
                    incoming_error = Some(e);
                    break;
                }
            }
        }
        if let Some(h) = sending.take() {
            h.await.map_err(io::Error::other)??;
        }
        if !buf.is_empty() {
            // The tail (or everything that arrived before the stream broke) is kept.
            let n = buf.len() as u64;
            self.inner.put_object(&Inner::seg_key(&key, pos), buf.freeze()).await?;
            pos += n;
        }
        match incoming_error {
            Some(e) => Err(AppendError::Io(e)),
            None => Ok(pos),
        }
    }

    async fn commit(&self, from: &str, to: &str) -> io::Result<()> {
        let i = &self.inner;
        let (from, to) = (i.key(from), i.key(to));
        let segs = i.segments(&from).await?;
        match segs.as_slice() {
            [] => {
                // An object written whole by `put`.
                let stat = i
                    .head(&from)
                    .await?
                    .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{from} missing")))?;
                if stat.size > MAX_SINGLE {
                    return Err(other(format!("{from} is too large to copy in one request")));
                }
                i.copy_object(&from, &to).await?;
                i.delete_object(&from).await
            }
            [one] if one.size <= MAX_SINGLE => {
                i.copy_object(&one.key, &to).await?;
                i.delete_keys(segs.into_iter().map(|s| s.key).collect()).await
            }
            _ => {
                i.assemble(&segs, &to).await?;
                i.delete_keys(segs.into_iter().map(|s| s.key).collect()).await
            }
        }
    }

    async fn list(&self, dir: &str) -> io::Result<Vec<Entry>> {
        let key = self.inner.key(dir);
        let prefix = if key.is_empty() { key } else { format!("{key}/") };
        let (objects, prefixes) = self.inner.list_all(&prefix, Some("/")).await?;
        let mut entries: BTreeMap<String, bool> = BTreeMap::new();
        for o in objects {
            let name = &o.key[prefix.len()..];
            if !name.is_empty() {
                entries.insert(name.to_string(), false);
            }
        }
        for p in prefixes {
            let name = p[prefix.len()..].trim_end_matches('/');
            if name.is_empty() {
                continue;
            }
            match name.strip_suffix(SEG_MARK) {
                // An in-progress object shows as the file it will become.
                Some(object) => entries.entry(object.to_string()).or_insert(false),
                None => entries.entry(name.to_string()).or_insert(true),
            };
        }
        Ok(entries.into_iter().map(|(name, is_dir)| Entry { name, is_dir }).collect())
    }

    async fn delete(&self, path: &str) -> io::Result<()> {
        let i = &self.inner;
        let key = i.key(path);
        let (objects, _) = i.list_all(&key, None).await?;
        let (dir, segs) = (format!("{key}/"), Inner::seg_dir(&key));
        let doomed: Vec<String> = objects
            .into_iter()
            .map(|o| o.key)
            .filter(|k| key.is_empty() || *k == key || k.starts_with(&dir) || k.starts_with(&segs))
            .collect();
        i.delete_keys(doomed).await
    }
}
