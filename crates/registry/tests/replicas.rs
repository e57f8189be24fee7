//! The registry component in the real `tke` binary (build it first: `cargo build -p tke`): two
//! `tke up` replicas on one etcd run the Namespace and ChartGroup controllers under one Lease
//! (`tke-registry-controller`), so one replica reconciles; the registry's admin password file is
//! private to its owner.

use std::time::Duration;

use testkit::tke::{Storage, Tke, tke_binary, wait_for};

const LEASE: &str = "tke-registry-controller";

fn holder(t: &Tke) -> Option<String> {
    let out = t.kubectl(&["get", "lease", "-n", "tke", LEASE, "-o", "jsonpath={.spec.holderIdentity}"]);
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string()).filter(|h| !h.is_empty())
}

#[test]
fn two_replicas_share_one_lease_and_the_leader_reconciles_namespaces() {
    let etcd = testkit::etcd::Etcd::start();
    let storage = Storage::Etcd(etcd.endpoints());
    let a = Tke::start_with(tke_binary(), storage.clone(), &["--platform-controllers", "false"]);
    let b = Tke::start_with(tke_binary(), storage, &["--platform-controllers", "false"]);

    let leader = wait_for("the registry Lease held", Duration::from_secs(30), || holder(&a));
    let leads = |t: &Tke| t.log().lines().any(|l| l.contains("became the leader") && l.contains(&leader));
    assert!(leads(&a) ^ leads(&b), "exactly one replica leads the registry controllers ({leader})");

    // A Namespace created through either replica gets the image finalizer from the leader, and
    // its deletion is finished by it.
    let manifest = r#"{"apiVersion": "registry.tkestack.io/v1", "kind": "Namespace", "spec": {"name": "team"}}"#;
    let out = b.kubectl_with(&["create", "-o", "jsonpath={.metadata.name}", "-f", "-"], &[], Some(manifest));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let name = String::from_utf8_lossy(&out.stdout).trim().to_string();
    wait_for("the image finalizer", Duration::from_secs(20), || {
        let f = a.kubectl_ok(&["get", "rns", &name, "-o", "jsonpath={.metadata.finalizers}"]);
        f.contains("registry.tkestack.io/images").then_some(())
    });
    a.kubectl_ok(&["delete", "rns", &name, "--wait=false"]);
    wait_for("the namespace to go", Duration::from_secs(20), || {
        let out = b.kubectl(&["get", "rns", &name]);
        (!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("NotFound")).then_some(())
    });

    // The admin password is readable by its owner only.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(a.data_dir().join("admin-password")).expect("password file");
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    }
}
