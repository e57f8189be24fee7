//! The console in real headless Chromium (Debian's `chromium`, driven by `playwright-core` from
//! `web/node_modules`; never a downloaded browser) against a real `tke up --demo`: the scripts in
//! `web/e2e/` log in through the platform's login page and act as a person would: the overview,
//! the demo cluster and its nodes, the kubeconfig download, the YAML import page, scaling a
//! Deployment, creating one from the form (a field error first), a command typed in a pod's
//! terminal and its answer read, cordoning a node and installing and removing an add-on, a user
//! and a policy created and that user seeing only what the policy allows, an image pushed with
//! skopeo found on the registry page with its tag, digest and size, an object whose data is
//! markup shown as text, accessibility (axe-core) of the main pages, a logout reaching the other
//! open tab, and importing a cluster from its kubeconfig with its steps followed live (a refusal,
//! its remedy, then Running), and the monitoring dashboard and a pod's charts (the platform
//! samples every 2 s here, `--monitor-sample-interval`, so charts have data at once).
//! Screenshots go to `SCREENSHOT_DIR` (default: a folder in the target directory, printed).
//!
//! Needs what `.ci/run` installs: Node.js, `chromium`, `npm ci` and `npm run build` in `web/`
//! before `tke` is built (the pages are embedded at build time).

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use testkit::{
    scenarios,
    tke::{Storage, Tke, tke_binary, wait_for},
};

const CLUSTER: &str = "cls-demo";
const APPLY: &str = "/apis/platform.tkestack.io/v1/clusters/cls-demo/apply";

/// What the scenarios need beyond the browser: skopeo pushes the image the registry page shows.
fn check_prerequisites() {
    scenarios::check_prerequisites();
    let skopeo = std::env::var_os("SKOPEO").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/usr/bin/skopeo"));
    assert!(skopeo.exists(), "{} is missing: `apt-get install -y skopeo` (or set SKOPEO)", skopeo.display());
}

const FIXTURES: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: e2e-web, namespace: default}
spec:
  replicas: 2
  selector: {matchLabels: {app: e2e-web}}
  template:
    metadata: {labels: {app: e2e-web}}
    spec: {containers: [{name: app, image: nginx}]}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: e2e-xss
  namespace: default
  annotations: {note: "<img src=x onerror=alert(1)>"}
data:
  page: "<img src=x onerror=alert(1)>"
"#;

#[test]
fn the_console_in_a_real_browser() {
    check_prerequisites();
    let t = Tke::start_with(tke_binary(), Storage::Embedded, &["--demo", "--monitor-sample-interval", "2"]);
    wait_for("the demo cluster to be Running", Duration::from_secs(60), || {
        let c = t.get_json(&["cluster", CLUSTER])?;
        (c["status"]["phase"] == "Running").then_some(())
    });
    let fixtures = t.data_dir().join("e2e-fixtures.yaml");
    std::fs::write(&fixtures, FIXTURES).expect("write fixtures");
    let out = t.kubectl(&["create", "--raw", APPLY, "-f", fixtures.to_str().expect("utf-8 path")]);
    assert!(out.status.success(), "applying the fixtures: {}", String::from_utf8_lossy(&out.stderr));

    // The simulated cluster's own kubeconfig, imported again on the import page.
    let import = t.data_dir().join("demo-cluster/admin.kubeconfig").to_string_lossy().into_owned();
    let run = scenarios::run(
        &t,
        &[],
        CLUSTER,
        &[("E2E_IMPORT_KUBECONFIG", import)],
        &Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots"),
    );
    let stdout = &run.stdout;
    assert!(
        run.output.status.success(),
        "browser scenarios failed (screenshots in {}):\n{stdout}\n{}\nserver log (end):\n{}",
        run.screenshots.display(),
        run.stderr,
        scenarios::tail(&t.log(), 40)
    );
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
}
