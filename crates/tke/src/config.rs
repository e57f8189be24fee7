//! The optional YAML configuration file (`--config FILE`): its keys are the long flag names of
//! the subcommand (`data-dir: /var/lib/tke`), and flags given on the command line win.

use std::ffi::OsString;

use anyhow::{Context, bail};

/// Expands `--config FILE` (or `--config=FILE`) into flags placed before the command-line ones,
/// so the command line overrides the file.
pub fn args_with_config_file(args: Vec<OsString>) -> anyhow::Result<Vec<OsString>> {
    let mut path = None;
    let mut rest = Vec::with_capacity(args.len());
    let mut iter = args.into_iter();
    while let Some(a) = iter.next() {
        let s = a.to_string_lossy().to_string();
        if s == "--config" {
            path = Some(iter.next().context("--config needs a file name")?);
        } else if let Some(p) = s.strip_prefix("--config=") {
            path = Some(OsString::from(p));
        } else {
            rest.push(a);
        }
    }
    let Some(path) = path else { return Ok(rest) };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("reading the config file {}", path.to_string_lossy()))?;
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text)
        .with_context(|| format!("parsing the config file {}", path.to_string_lossy()))?;
    let map = match doc {
        serde_yaml_ng::Value::Mapping(m) => m,
        serde_yaml_ng::Value::Null => Default::default(),
        _ => bail!("the config file {} must be a mapping of flag names to values", path.to_string_lossy()),
    };
    let mut from_file = vec![];
    for (k, v) in map {
        let key = k.as_str().context("config file keys must be strings (flag names such as data-dir)")?.to_string();
        let values: Vec<String> = match v {
            serde_yaml_ng::Value::Sequence(items) => items.iter().map(scalar).collect::<anyhow::Result<_>>()?,
            other => vec![scalar(&other)?],
        };
        for value in values {
            from_file.push(OsString::from(format!("--{key}={value}")));
        }
    }
    // argv[0] and the subcommand first, then the file's flags, then the command line's.
    let at = subcommand_end(&rest);
    let mut out: Vec<OsString> = rest[..at].to_vec();
    out.extend(from_file);
    out.extend_from_slice(&rest[at..]);
    Ok(out)
}

/// The index just after the subcommand (skipping global flags and their values).
fn subcommand_end(args: &[OsString]) -> usize {
    const GLOBAL_WITH_VALUE: &[&str] = &["--log", "--log-format"];
    let mut i = 1;
    while i < args.len() {
        let a = args[i].to_string_lossy();
        if GLOBAL_WITH_VALUE.contains(&a.as_ref()) {
            i += 2;
        } else if a.starts_with('-') {
            i += 1;
        } else {
            return i + 1;
        }
    }
    args.len()
}

fn scalar(v: &serde_yaml_ng::Value) -> anyhow::Result<String> {
    Ok(match v {
        serde_yaml_ng::Value::String(s) => s.clone(),
        serde_yaml_ng::Value::Bool(b) => b.to_string(),
        serde_yaml_ng::Value::Number(n) => n.to_string(),
        _ => bail!("config file values must be strings, numbers, booleans or lists of them"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_flags_come_before_command_line_flags() {
        let dir = std::env::temp_dir().join(format!("tke-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.yaml");
        std::fs::write(&file, "data-dir: /var/lib/tke\nlisten: 0.0.0.0:9443\n").unwrap();
        let args: Vec<OsString> = ["tke", "up", "--config", file.to_str().unwrap(), "--listen", "127.0.0.1:1"]
            .iter()
            .map(OsString::from)
            .collect();
        let out: Vec<String> =
            args_with_config_file(args).unwrap().iter().map(|a| a.to_string_lossy().into()).collect();
        assert_eq!(out, ["tke", "up", "--data-dir=/var/lib/tke", "--listen=0.0.0.0:9443", "--listen", "127.0.0.1:1"]);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
