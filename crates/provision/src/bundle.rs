//! The offline bundle: everything a machine needs to become a Kubernetes node without
//! Internet access, in one directory.
//!
//! ```text
//! <bundle>/
//!   manifest.json                               which releases the bundle holds (below)
//!   SHA256SUMS                                  "<sha256>  <relative path>" for every other file
//!   kubernetes/<k8s version>/<arch>/            kubelet kubeadm kubectl
//!   containerd/<containerd version>/<arch>/     containerd containerd-shim-runc-v2 ctr runc
//!   cni/<cni version>/<arch>/                   bridge host-local loopback portmap (+ any other plugin)
//!   crictl/<crictl version>/<arch>/             crictl
//!   images/<k8s version>/<arch>/*.tar           image archives (`ctr images export` format)
//! ```
//!
//! `manifest.json`:
//!
//! ```json
//! { "schemaVersion": 1,
//!   "releases": [ { "kubernetes": "1.30.2", "containerd": "1.7.18", "cni": "1.5.1",
//!                   "crictl": "1.30.0", "architectures": ["amd64", "arm64"] } ] }
//! ```
//!
//! `<arch>` is a Kubernetes architecture name (`amd64`, `arm64`). Versions are written without
//! a leading `v`. Every file of every listed release and architecture must exist and be listed
//! in `SHA256SUMS` with its correct digest; files in the component directories that are not
//! listed are refused too, so a bundle is exactly what its checksums say. See `BUNDLE.md`.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

pub const MANIFEST: &str = "manifest.json";
pub const SUMS: &str = "SHA256SUMS";
pub const SCHEMA_VERSION: u32 = 1;

/// Files each component directory must contain.
pub const KUBERNETES_FILES: &[&str] = &["kubelet", "kubeadm", "kubectl"];
pub const CONTAINERD_FILES: &[&str] = &["containerd", "containerd-shim-runc-v2", "ctr", "runc"];
pub const CNI_FILES: &[&str] = &["bridge", "host-local", "loopback", "portmap"];
pub const CRICTL_FILES: &[&str] = &["crictl"];

/// `manifest.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub schema_version: u32,
    pub releases: Vec<ReleaseSpec>,
}

/// One Kubernetes version and the component versions that go with it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseSpec {
    pub kubernetes: String,
    pub containerd: String,
    pub cni: String,
    pub crictl: String,
    pub architectures: Vec<String>,
}

/// A file of the bundle with its expected digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BundleFile {
    /// Path relative to the bundle root.
    pub rel: String,
    pub path: PathBuf,
    pub sha256: String,
}

/// The files for one Kubernetes version on one architecture.
#[derive(Clone, Debug)]
pub struct Release {
    pub kubernetes: String,
    pub arch: String,
    pub containerd: String,
    pub cni: String,
    pub crictl: String,
    /// kubelet, kubeadm, kubectl.
    pub kubernetes_bins: Vec<BundleFile>,
    /// containerd, containerd-shim-runc-v2, ctr, runc.
    pub containerd_bins: Vec<BundleFile>,
    /// Every CNI plugin of the bundle.
    pub cni_plugins: Vec<BundleFile>,
    pub crictl_bins: Vec<BundleFile>,
    /// Image archives.
    pub images: Vec<BundleFile>,
}

/// A validated bundle directory.
#[derive(Clone, Debug)]
pub struct Bundle {
    pub dir: PathBuf,
    pub manifest: Manifest,
    sums: BTreeMap<String, String>,
}

/// How much of the bundle to check when loading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verify {
    /// Structure and presence only (fast; for repeated loads of a bundle already verified).
    Structure,
    /// Also recompute every digest.
    Full,
}

fn normalize(v: &str) -> String {
    v.trim().trim_start_matches('v').to_string()
}

fn safe_segment(s: &str) -> bool {
    !s.is_empty() && s != "." && s != ".." && !s.contains('/') && !s.contains('\\')
}

impl Bundle {
    /// Loads and validates the bundle at `dir`. Errors name the file at fault.
    pub fn load(dir: impl AsRef<Path>, verify: Verify) -> Result<Bundle> {
        let dir = dir.as_ref().to_path_buf();
        let d = dir.display().to_string();
        let bad = |detail: String| Error::Bundle { dir: d.clone(), detail };
        if !dir.is_dir() {
            return Err(bad("is not a directory; point the platform at the unpacked offline bundle".into()));
        }
        let text =
            std::fs::read_to_string(dir.join(MANIFEST)).map_err(|e| bad(format!("cannot read {MANIFEST}: {e}")))?;
        let manifest: Manifest =
            serde_json::from_str(&text).map_err(|e| bad(format!("{MANIFEST} is not valid: {e}")))?;
        if manifest.schema_version != SCHEMA_VERSION {
            return Err(bad(format!(
                "{MANIFEST} has schemaVersion {} but this version of tke understands {SCHEMA_VERSION}",
                manifest.schema_version
            )));
        }
        if manifest.releases.is_empty() {
            return Err(bad(format!("{MANIFEST} lists no releases")));
        }
        for r in &manifest.releases {
            for (what, v) in
                [("kubernetes", &r.kubernetes), ("containerd", &r.containerd), ("cni", &r.cni), ("crictl", &r.crictl)]
            {
                if !safe_segment(&normalize(v)) {
                    return Err(bad(format!("{MANIFEST}: {what} version {v:?} is not a plain version")));
                }
            }
            if r.architectures.is_empty() || !r.architectures.iter().all(|a| safe_segment(a)) {
                return Err(bad(format!("{MANIFEST}: release {} needs architectures like [\"amd64\"]", r.kubernetes)));
            }
        }
        let sums_text = std::fs::read_to_string(dir.join(SUMS)).map_err(|e| bad(format!("cannot read {SUMS}: {e}")))?;
        let sums = parse_sums(&sums_text).map_err(|e| bad(format!("{SUMS}: {e}")))?;
        let bundle = Bundle { dir, manifest, sums };

        // Every file the releases need is present and summed.
        for r in &bundle.manifest.releases {
            for arch in &r.architectures {
                bundle.release(&r.kubernetes, arch)?;
            }
        }
        // Every file in the component trees is summed (nothing unaccounted for).
        for top in ["kubernetes", "containerd", "cni", "crictl", "images"] {
            for f in walk(&bundle.dir.join(top)).map_err(|e| bad(format!("cannot list {top}/: {e}")))? {
                let rel = rel_path(&bundle.dir, &f);
                if !bundle.sums.contains_key(&rel) {
                    return Err(bad(format!("{rel} is not listed in {SUMS}; regenerate the sums or remove the file")));
                }
            }
        }
        for (rel, want) in &bundle.sums {
            let path = bundle.dir.join(rel);
            if !path.is_file() {
                return Err(bad(format!("{rel} is listed in {SUMS} but missing")));
            }
            if verify == Verify::Full {
                let got = sha256_path(&path).map_err(|e| bad(format!("cannot read {rel}: {e}")))?;
                if &got != want {
                    return Err(bad(format!(
                        "{rel} is corrupt: its sha256 is {got} but {SUMS} says {want}; copy the bundle again"
                    )));
                }
            }
        }
        Ok(bundle)
    }

    /// Kubernetes versions in the bundle.
    pub fn versions(&self) -> Vec<String> {
        self.manifest.releases.iter().map(|r| normalize(&r.kubernetes)).collect()
    }

    /// The files for `kubernetes` (with or without `v`) on `arch`.
    pub fn release(&self, kubernetes: &str, arch: &str) -> Result<Release> {
        let want = normalize(kubernetes);
        let d = self.dir.display().to_string();
        let bad = |detail: String| Error::Bundle { dir: d.clone(), detail };
        let spec = self.manifest.releases.iter().find(|r| normalize(&r.kubernetes) == want).ok_or_else(|| {
            bad(format!(
                "has no Kubernetes {want} (it has {}); use a bundle for that version",
                self.versions().join(", ")
            ))
        })?;
        if !spec.architectures.iter().any(|a| a == arch) {
            return Err(bad(format!(
                "has Kubernetes {want} only for {}, not for {arch}",
                spec.architectures.join(", ")
            )));
        }
        let files = |component: &str, version: &str, names: &[&str]| -> Result<Vec<BundleFile>> {
            names.iter().map(|n| self.file(&format!("{component}/{}/{arch}/{n}", normalize(version)))).collect()
        };
        let prefix = |component: &str, version: &str| format!("{component}/{}/{arch}/", normalize(version));
        let listed = |p: &str, suffix: &str| -> Vec<BundleFile> {
            self.sums
                .iter()
                .filter(|(rel, _)| rel.starts_with(p) && !rel[p.len()..].contains('/') && rel.ends_with(suffix))
                .map(|(rel, sum)| BundleFile { rel: rel.clone(), path: self.dir.join(rel), sha256: sum.clone() })
                .collect()
        };
        let cni_prefix = prefix("cni", &spec.cni);
        let mut cni = files("cni", &spec.cni, CNI_FILES)?;
        for extra in listed(&cni_prefix, "") {
            if !cni.iter().any(|f| f.rel == extra.rel) {
                cni.push(extra);
            }
        }
        let images = listed(&prefix("images", &want), ".tar");
        if images.is_empty() {
            return Err(bad(format!(
                "{}*.tar: no image archives for Kubernetes {want} on {arch}",
                prefix("images", &want)
            )));
        }
        Ok(Release {
            kubernetes: want.clone(),
            arch: arch.to_string(),
            containerd: normalize(&spec.containerd),
            cni: normalize(&spec.cni),
            crictl: normalize(&spec.crictl),
            kubernetes_bins: files("kubernetes", &want, KUBERNETES_FILES)?,
            containerd_bins: files("containerd", &spec.containerd, CONTAINERD_FILES)?,
            cni_plugins: cni,
            crictl_bins: files("crictl", &spec.crictl, CRICTL_FILES)?,
            images,
        })
    }

    fn file(&self, rel: &str) -> Result<BundleFile> {
        let path = self.dir.join(rel);
        let sha256 = self.sums.get(rel).cloned().ok_or_else(|| Error::Bundle {
            dir: self.dir.display().to_string(),
            detail: if path.exists() { format!("{rel} is not listed in {SUMS}") } else { format!("{rel} is missing") },
        })?;
        Ok(BundleFile { rel: rel.to_string(), path, sha256 })
    }
}

/// Why a checksum list (`sha256sum` output) cannot be used.
#[derive(Debug, thiserror::Error)]
enum SumsError {
    #[error("line {0} is not \"<sha256>  <path>\"")]
    Malformed(usize),
    #[error("line {line}: {sum:?} is not a sha256 digest")]
    NotSha256 { line: usize, sum: String },
    #[error("line {line}: path {path:?} must be relative to the bundle, without ..")]
    BadPath { line: usize, path: String },
}

fn parse_sums(text: &str) -> std::result::Result<BTreeMap<String, String>, SumsError> {
    let mut sums = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let (sum, rest) = line.split_once(' ').ok_or(SumsError::Malformed(i + 1))?;
        // sha256sum writes "  " for text mode and " *" for binary mode.
        let rel = rest
            .strip_prefix(' ')
            .or_else(|| rest.strip_prefix('*'))
            .unwrap_or(rest)
            .trim_start_matches("./")
            .to_string();
        if sum.len() != 64 || !sum.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(SumsError::NotSha256 { line: i + 1, sum: sum.to_string() });
        }
        let p = Path::new(&rel);
        if rel.is_empty() || p.is_absolute() || p.components().any(|c| !matches!(c, Component::Normal(_))) {
            return Err(SumsError::BadPath { line: i + 1, path: rel });
        }
        if rel == SUMS {
            continue;
        }
        sums.insert(rel, sum.to_ascii_lowercase());
    }
    Ok(sums)
}

fn walk(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = vec![];
    if !dir.exists() {
        return Ok(out);
    }
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)? {
            let e = e?;
            let t = e.file_type()?;
            if t.is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    out.sort();
    Ok(out)
}

fn rel_path(root: &Path, p: &Path) -> String {
    p.strip_prefix(root).unwrap_or(p).to_string_lossy().replace('\\', "/")
}

fn sha256_path(p: &Path) -> std::io::Result<String> {
    use sha2::{Digest, Sha256};
    use std::io::Read;
    let mut f = std::fs::File::open(p)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 << 10];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(crate::ssh::hex(&h.finalize()))
}

/// Writes `SHA256SUMS` for every file of the bundle (for bundle builders and tests).
pub fn write_sums(dir: impl AsRef<Path>) -> Result<()> {
    let dir = dir.as_ref();
    let io = |e: std::io::Error| Error::io(format!("writing sums of {}", dir.display()), e);
    let mut text = String::new();
    for f in walk(dir).map_err(io)? {
        let rel = rel_path(dir, &f);
        if rel == SUMS {
            continue;
        }
        text.push_str(&format!("{}  {rel}\n", sha256_path(&f).map_err(io)?));
    }
    std::fs::write(dir.join(SUMS), text).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_lines_are_strict() {
        let good = format!(
            "{}  kubernetes/1.30.2/amd64/kubelet\n{} *./cni/1.5.1/amd64/bridge\n",
            "a".repeat(64),
            "B".repeat(64)
        );
        let s = parse_sums(&good).unwrap();
        assert_eq!(s.keys().collect::<Vec<_>>(), ["cni/1.5.1/amd64/bridge", "kubernetes/1.30.2/amd64/kubelet"]);
        assert_eq!(s["cni/1.5.1/amd64/bridge"], "b".repeat(64));
        assert!(
            parse_sums(&format!("{}  ../etc/passwd", "a".repeat(64))).unwrap_err().to_string().contains("without ..")
        );
        assert!(parse_sums(&format!("{}  /etc/passwd", "a".repeat(64))).is_err());
        assert!(parse_sums("abc  x").unwrap_err().to_string().contains("not a sha256"));
    }
}
