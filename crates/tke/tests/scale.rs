//! The scale scenario in small: `tke bench clusters` imports 50 simulated clusters into a `tke up`
//! with a 5 s health period; every cluster must reach Running and be health-checked again within
//! the measuring window, at about the rate the period promises.

use std::{
    collections::HashMap,
    io::Read,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

const COUNT: usize = 50;

#[test]
fn fifty_imported_clusters_run_and_are_all_health_checked_every_period() {
    let mut child = Command::new(testkit::tke::tke_binary())
        .args([
            "--log",
            "warn",
            "bench",
            "clusters",
            "--count",
            &COUNT.to_string(),
            "--health-period",
            "5s",
            "--window",
            "12s",
            "--timeout",
            "90s",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("tke bench clusters starts");
    let deadline = Instant::now() + Duration::from_secs(150);
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for the bench") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("tke bench clusters did not finish within 150 s");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let mut out = String::new();
    child.stdout.take().expect("stdout").read_to_string(&mut out).expect("the bench's output");
    assert!(status.success(), "tke bench clusters failed: {status}\n{out}");

    let result: HashMap<&str, f64> = out
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .unwrap_or_else(|| panic!("no RESULT line in:\n{out}"))
        .split_whitespace()
        .filter_map(|kv| kv.split_once('=').and_then(|(k, v)| Some((k, v.parse().ok()?))))
        .collect();
    let get = |k: &str| *result.get(k).unwrap_or_else(|| panic!("no {k} in the RESULT line:\n{out}"));
    assert_eq!(get("clusters"), COUNT as f64, "{out}");
    assert_eq!(get("running"), COUNT as f64, "every cluster Running at the end:\n{out}");
    assert_eq!(get("checked"), COUNT as f64, "every cluster checked again within the window:\n{out}");
    // 12 s at a 5 s period (plus up to 1.25 s of jitter): about two checks per cluster.
    let checks = get("checks");
    assert!(
        checks >= COUNT as f64 * 1.5 && checks <= COUNT as f64 * 3.5,
        "{checks} checks of {COUNT} clusters in 12 s:\n{out}"
    );
    assert!(get("time_to_running_s") < 90.0, "{out}");
    assert!(get("cpu_pct") > 0.0 && get("rss_mib") > 0.0, "the controller process was sampled:\n{out}");
}
