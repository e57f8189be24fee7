//! The Python `kubernetes` client (Debian's python3-kubernetes) lists, pages and watches.

use testkit::tke::{Storage, Tke, tke_binary};

#[test]
fn python_kubernetes_client_lists_and_watches() {
    // The script asserts that a watch sees exactly the client's own change, so the cluster
    // controllers (which write status to the clusters it creates) stay off.
    let t = Tke::start_with(tke_binary(), Storage::Embedded, &["--platform-controllers", "false"]);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/list_watch.py");
    // Debian's python3-kubernetes lives with Debian's interpreter.
    let out = std::process::Command::new("/usr/bin/python3")
        .arg(script)
        .env("KUBECONFIG", t.kubeconfig())
        .output()
        .expect("/usr/bin/python3 (apt-get install python3-kubernetes)");
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("python client: ok"),
        "python client failed:\n{}\n{}\nserver log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        t.log()
    );
}
