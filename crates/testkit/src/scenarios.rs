//! The console's browser scenarios (web/e2e, Playwright driving Debian's chromium) run against a
//! platform a test started: the prerequisites said plainly when missing, and one way to run a
//! list of scenarios with the platform's address, the admin's password and extra settings.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

use crate::tke::Tke;

/// The console's sources (web/).
pub fn web_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web")
}

/// The browser: Debian's chromium, or `CHROMIUM`.
pub fn chromium() -> PathBuf {
    std::env::var_os("CHROMIUM").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

/// Says exactly what is missing (node modules, chromium, node, the built console) instead of
/// failing somewhere inside a script.
pub fn check_prerequisites() {
    let web = web_dir();
    assert!(
        web.join("node_modules/playwright-core").is_dir(),
        "web/node_modules is missing: run `npm ci` in {} (and `npm run build` before building tke)",
        web.display()
    );
    assert!(
        chromium().exists(),
        "{} is missing: `apt-get install -y chromium` (or set CHROMIUM)",
        chromium().display()
    );
    let node = Command::new("node").arg("--version").output();
    assert!(node.map(|o| o.status.success()).unwrap_or(false), "node is not on PATH");
    assert!(
        web.join("dist/index.html").is_file(),
        "the console is not built: run `npm run build` in {} and rebuild tke (the pages are embedded)",
        web.display()
    );
}

/// What a run of scenarios printed, and where its screenshots are.
pub struct Run {
    pub output: Output,
    pub stdout: String,
    pub stderr: String,
    pub screenshots: PathBuf,
}

/// Runs `scenarios` (all of web/e2e/run.mjs's default list when empty) against `t` as the admin,
/// on business cluster `cluster`, with `env` added; screenshots go to `SCREENSHOT_DIR` or, emptied
/// first, to `default_shots`.
pub fn run(t: &Tke, scenarios: &[&str], cluster: &str, env: &[(&str, String)], default_shots: &Path) -> Run {
    let password =
        std::fs::read_to_string(t.data_dir().join("admin-password")).expect("the admin password").trim().to_string();
    let screenshots = std::env::var_os("SCREENSHOT_DIR").map(PathBuf::from).unwrap_or_else(|| {
        // The default folder holds this run's screenshots only.
        let _ = std::fs::remove_dir_all(default_shots);
        default_shots.to_path_buf()
    });
    let mut cmd = Command::new("node");
    cmd.arg(web_dir().join("e2e/run.mjs"))
        .args(scenarios)
        .current_dir(web_dir())
        .env("TKE_URL", &t.url)
        .env("TKE_USERNAME", "admin")
        .env("TKE_PASSWORD", &password)
        .env("TKE_CLUSTER", cluster)
        .env("SCREENSHOT_DIR", &screenshots)
        .env("CHROMIUM", chromium());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let output = cmd.output().expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    println!("{stdout}\n{stderr}\nscreenshots: {}", screenshots.display());
    Run { output, stdout, stderr, screenshots }
}

/// The last `n` lines of `s`.
pub fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
