//! Two `tke up` replicas on one etcd act as one: one leads the platform and add-on controllers
//! (their Leases in namespace `tke`), and when the leader is stopped as Kubernetes stops a pod
//! (SIGTERM) its controllers release their Leases while its server still answers, so the other
//! replica leads within two seconds instead of when the Leases expire.

use std::time::{Duration, Instant};

use testkit::tke::{Storage, Tke};

const LEASES: [&str; 3] = ["tke-platform-controller", "tke-addon-controller", "tke-registry-controller"];

/// The holder of Lease `name` as `t` sees it (empty when nobody holds it).
fn holder(t: &Tke, name: &str) -> Option<String> {
    let out = t.kubectl(&["get", "lease", "-n", "tke", name, "-o", "jsonpath={.spec.holderIdentity}"]);
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Whether `t`'s log says it took Lease `lease` as `identity`.
fn leads(t: &Tke, identity: &str) -> bool {
    t.log().lines().any(|l| l.contains("became the leader") && l.contains(identity))
}

#[test]
fn the_other_replica_leads_within_two_seconds_of_a_sigterm() {
    let etcd = testkit::etcd::Etcd::start();
    let storage = Storage::Etcd(etcd.endpoints());
    let a = Tke::start_with(testkit::tke::tke_binary(), storage.clone(), &[]);
    let b = Tke::start_with(testkit::tke::tke_binary(), storage, &[]);

    // Both Leases held, each by one of the two replicas.
    let holders: Vec<String> = LEASES
        .iter()
        .map(|lease| {
            testkit::tke::wait_for(&format!("lease {lease} held"), Duration::from_secs(30), || {
                holder(&a, lease).filter(|h| !h.is_empty())
            })
        })
        .collect();
    let (mut leader, follower) = if leads(&a, &holders[0]) { (a, b) } else { (b, a) };
    assert!(leads(&leader, &holders[0]), "one of the replicas holds {}: {}", LEASES[0], holders[0]);

    // Stop the platform controllers' leader; time until the other one holds what it held.
    let started = Instant::now();
    // What the stopping replica held is what the other one did not take itself.
    let stopping_leads = |other: &Tke, identity: &str| !leads(other, identity);
    let stopping = std::thread::spawn(move || {
        leader.stop();
        leader
    });
    let held: Vec<(&str, &String)> =
        LEASES.iter().copied().zip(&holders).filter(|(_, old)| stopping_leads(&follower, old)).collect();
    let mut taken = vec![];
    for (lease, old) in held {
        let new = testkit::tke::wait_for(&format!("lease {lease} taken over"), Duration::from_secs(20), || {
            holder(&follower, lease).filter(|h| !h.is_empty() && h != old)
        });
        taken.push((lease, new, started.elapsed()));
    }
    let leader = stopping.join().expect("the leader stops");
    for (lease, new, after) in &taken {
        assert!(leads(&follower, new), "the other replica took {lease} ({new})");
        assert!(
            *after < Duration::from_secs(2),
            "{lease} was taken over {after:?} after SIGTERM (the Lease lasts 15 s; it must be released)\nstopped replica:\n{}",
            leader.log()
        );
    }
    assert!(leader.log().contains("released the lease"), "{}", leader.log());
}
