//! The Python `kubernetes` client (Debian's python3-kubernetes) lists, pages and watches.

use testkit::tke::Tke;

#[test]
fn python_kubernetes_client_lists_and_watches() {
    let t = Tke::start();
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
