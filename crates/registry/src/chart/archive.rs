//! Chart archives as Helm writes them: chart names and SemVer versions, reading a packaged
//! chart (with its limits on size and paths), packaging one, and provenance files.

use serde_json::Value;
use std::cmp::Ordering;
use std::io::Read;

use super::{ChartError, ChartFile, MAX_CHART_YAML, MAX_PROV_SIZE, MAX_UNPACKED_SIZE, Result};

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
pub(super) fn newest_first(a: &str, b: &str) -> Ordering {
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
pub(super) fn prov_subject(prov: &[u8]) -> Option<(String, String)> {
    let text = std::str::from_utf8(prov).ok()?;
    let body = text.split("-----BEGIN PGP SIGNED MESSAGE-----").nth(1)?;
    // Armor headers ("Hash: SHA512") end at the first blank line.
    let body = body.split_once("\n\n").or_else(|| body.split_once("\r\n\r\n"))?.1;
    let yaml = body.split("\n...").next()?;
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(yaml).ok()?;
    Some((doc.get("name")?.as_str()?.to_string(), doc.get("version")?.as_str()?.to_string()))
}

/// A provenance file must be small and sign the archive it comes with.
pub(super) fn check_prov(prov: &[u8], name: &str, version: &str) -> Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn prov_subjects() {
        let prov = "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\napiVersion: v2\nname: web\nversion: 1.2.3\n\n...\nfiles:\n  web-1.2.3.tgz: sha256:00\n-----BEGIN PGP SIGNATURE-----\nxx\n-----END PGP SIGNATURE-----\n";
        assert_eq!(prov_subject(prov.as_bytes()), Some(("web".into(), "1.2.3".into())));
    }
}
