//! Manifest parsing: media type resolution, referenced blobs and manifests, and the
//! referrers descriptor (subject, artifactType, annotations) of a pushed manifest.

use crate::digest::Digest;
use crate::error::{Code, Error, Result};
use serde_json::Value;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const DOCKER_SCHEMA1: [&str; 2] = [
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
];

/// Manifests larger than this are refused (the spec's recommended minimum limit).
pub const MAX_MANIFEST_SIZE: usize = 4 * 1024 * 1024;

/// What the registry needs to know about a manifest it stores.
#[derive(Debug)]
pub struct Manifest {
    pub media_type: String,
    /// Blobs (config and layers) that must exist in the repository.
    pub blobs: Vec<Digest>,
    /// Manifests (index entries) that must exist in the repository.
    pub manifests: Vec<Digest>,
    pub subject: Option<Digest>,
    /// `artifactType`, or the config media type for image manifests without one.
    pub artifact_type: Option<String>,
    pub annotations: Option<Value>,
}

fn invalid(msg: impl Into<String>) -> Error {
    Error::new(Code::ManifestInvalid, msg)
}

fn descriptor_digest(d: &Value, what: &str) -> Result<Digest> {
    let s = d.get("digest").and_then(Value::as_str).ok_or_else(|| invalid(format!("{what} has no digest")))?;
    s.parse().map_err(|_| invalid(format!("{what} has an invalid digest {s:?}")))
}

impl Manifest {
    /// Parse `body` pushed with the request's `Content-Type` (if any).
    pub fn parse(content_type: Option<&str>, body: &[u8]) -> Result<Manifest> {
        let v: Value = serde_json::from_slice(body).map_err(|e| invalid(format!("manifest is not JSON: {e}")))?;
        let obj = v.as_object().ok_or_else(|| invalid("manifest is not a JSON object"))?;
        let declared = obj.get("mediaType").and_then(Value::as_str);
        let content_type = content_type.map(|c| c.split(';').next().unwrap_or(c).trim()).filter(|c| {
            // Generic types say nothing about the manifest kind.
            !c.is_empty() && *c != "application/json" && *c != "application/octet-stream"
        });
        if let Some(t) = content_type.or(declared)
            && DOCKER_SCHEMA1.contains(&t)
        {
            return Err(invalid("Docker image manifest schema 1 is not supported"));
        }
        if let (Some(c), Some(d)) = (content_type, declared)
            && c != d
        {
            return Err(invalid(format!("Content-Type {c} does not match the manifest's mediaType {d}")));
        }
        let media_type = match content_type.or(declared) {
            Some(t) => t.to_string(),
            None if obj.contains_key("manifests") => OCI_INDEX.to_string(),
            None if obj.contains_key("config") => OCI_MANIFEST.to_string(),
            None => return Err(invalid("cannot tell the manifest's media type")),
        };
        if obj.get("schemaVersion").and_then(Value::as_i64) != Some(2) {
            return Err(invalid("schemaVersion must be 2"));
        }
        let mut m = Manifest {
            media_type,
            blobs: Vec::new(),
            manifests: Vec::new(),
            subject: None,
            artifact_type: obj.get("artifactType").and_then(Value::as_str).map(str::to_string),
            annotations: obj.get("annotations").filter(|a| a.is_object()).cloned(),
        };
        if let Some(s) = obj.get("subject") {
            m.subject = Some(descriptor_digest(s, "subject")?);
        }
        match m.media_type.as_str() {
            OCI_MANIFEST | DOCKER_MANIFEST => {
                let config = obj.get("config").ok_or_else(|| invalid("image manifest has no config"))?;
                m.blobs.push(descriptor_digest(config, "config")?);
                if m.artifact_type.is_none() {
                    m.artifact_type = config.get("mediaType").and_then(Value::as_str).map(str::to_string);
                }
                let layers = obj
                    .get("layers")
                    .and_then(Value::as_array)
                    .ok_or_else(|| invalid("image manifest has no layers"))?;
                for l in layers {
                    // Non-distributable layers live elsewhere (their `urls`); they need not be here.
                    let external = l.get("urls").and_then(Value::as_array).is_some_and(|u| !u.is_empty());
                    let d = descriptor_digest(l, "layer")?;
                    if !external {
                        m.blobs.push(d);
                    }
                }
            }
            OCI_INDEX | DOCKER_LIST => {
                let list =
                    obj.get("manifests").and_then(Value::as_array).ok_or_else(|| invalid("index has no manifests"))?;
                for e in list {
                    m.manifests.push(descriptor_digest(e, "index entry")?);
                }
            }
            other => return Err(invalid(format!("unsupported manifest media type {other}"))),
        }
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn image_manifest_and_index() {
        let m = serde_json::json!({"schemaVersion":2,"mediaType":OCI_MANIFEST,
            "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":D,"size":0},
            "layers":[{"mediaType":"x","digest":D,"size":0},{"mediaType":"x","digest":D,"size":0,"urls":["http://x"]}],
            "subject":{"mediaType":OCI_MANIFEST,"digest":D,"size":0}});
        let p = Manifest::parse(None, m.to_string().as_bytes()).expect("parse");
        assert_eq!(p.media_type, OCI_MANIFEST);
        assert_eq!(p.blobs.len(), 2);
        assert!(p.subject.is_some());
        assert_eq!(p.artifact_type.as_deref(), Some("application/vnd.oci.image.config.v1+json"));

        let i = serde_json::json!({"schemaVersion":2,"manifests":[{"mediaType":OCI_MANIFEST,"digest":D,"size":1}]});
        let p = Manifest::parse(Some(DOCKER_LIST), i.to_string().as_bytes()).expect("parse");
        assert_eq!(p.media_type, DOCKER_LIST);
        assert_eq!(p.manifests.len(), 1);
    }

    #[test]
    fn rejects_bad_manifests() {
        assert!(Manifest::parse(None, b"{").is_err());
        let mismatch = serde_json::json!({"schemaVersion":2,"mediaType":OCI_INDEX,"manifests":[]});
        assert!(Manifest::parse(Some(OCI_MANIFEST), mismatch.to_string().as_bytes()).is_err());
        let v1 = serde_json::json!({"schemaVersion":1});
        assert!(Manifest::parse(Some(DOCKER_SCHEMA1[0]), v1.to_string().as_bytes()).is_err());
        let bad = serde_json::json!({"schemaVersion":2,"config":{"digest":"sha256:zz"},"layers":[]});
        assert!(Manifest::parse(None, bad.to_string().as_bytes()).is_err());
    }
}
