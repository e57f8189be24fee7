//! Every environment check run against this very host through a real sshd, with values a
//! person can verify locally.

mod common;

use common::{Host, Sudo, options};
use provision::checks::{self, CheckConfig, Status};

fn local_online_cpus() -> u32 {
    std::thread::available_parallelism().map(|n| n.get() as u32).unwrap_or(1)
}

#[tokio::test]
async fn every_check_reports_plausible_values_for_this_host() {
    need_sshd!();
    let host = Host::start(Sudo::NoPassword);

    let mut bad = host.password_target();
    bad.credentials.password = Some("wrong".into());
    let (r, s) = checks::check_ssh(&bad, &options()).await;
    assert!(s.is_none());
    assert_eq!((r.name.as_str(), r.status), ("SSH", Status::Failed));
    assert!(r.message.contains("cannot log in") && r.message.contains("refused the password"), "{}", r.message);

    let (r, s) = checks::check_ssh(&host.key_target(), &options()).await;
    assert_eq!(r.status, Status::Passed, "{}", r.message);
    let s = s.expect("session");

    let r = checks::check_privilege(&s).await;
    assert_eq!((r.status, r.observed.as_deref()), (Status::Passed, Some("sudo")), "{}", r.message);

    // A port we hold open is in use; a CIDR inside 127.0.0.0/8 overlaps loopback.
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = held.local_addr().unwrap().port();
    let free = common::free_port();
    let cfg = CheckConfig {
        min_cpus: 1,
        min_memory_bytes: 1,
        disks: vec![
            ("/".into(), 1, "MachineResourceDiskRoot".into()),
            ("/var/lib/tke-not-created-yet/etcd".into(), 1, "MachineResourceDiskLib".into()),
        ],
        ports: vec![busy, free],
        cidrs: vec!["127.10.0.0/16".into(), "198.18.0.0/24".into()],
        kernel_modules: vec!["overlay".into(), "tke_no_such_module".into()],
        ..Default::default()
    };
    let results = checks::run_all(&s, &cfg).await;
    let names: Vec<&str> = results.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "Privilege",
            "OS",
            "MachineResourceCPU",
            "MachineResourceMemory",
            "MachineResourceDiskRoot",
            "MachineResourceDiskLib",
            "TimeDiff",
            "Swap",
            "KernelModules",
            "ReservePorts",
            "HostNetOverlapping"
        ]
    );
    let get = |n: &str| results.iter().find(|r| r.name == n).unwrap().clone();
    for r in &results {
        eprintln!("{:<24} {:?}: {}", r.name, r.status, r.message);
    }

    let os = get("OS");
    assert_eq!(os.status, Status::Passed, "{}", os.message);
    assert!(os.message.contains(std::env::consts::ARCH), "{}", os.message);

    let cpu = get("MachineResourceCPU");
    let n: u32 = cpu.observed.as_deref().unwrap().parse().unwrap();
    assert!(n >= 1 && n >= local_online_cpus().min(n), "{n}");
    assert_eq!(cpu.status, Status::Passed);

    let mem = get("MachineResourceMemory");
    assert!(mem.observed.as_deref().unwrap().parse::<u64>().unwrap() > 0);

    assert!(get("MachineResourceDiskRoot").observed.unwrap().parse::<u64>().unwrap() > 0);
    let lib = get("MachineResourceDiskLib");
    assert!(lib.message.contains("measured at /var/lib"), "{}", lib.message);

    let clock = get("TimeDiff");
    assert_eq!(clock.status, Status::Passed, "{}", clock.message);
    assert!(clock.observed.unwrap().parse::<f64>().unwrap().abs() < 1.0);

    let swap = get("Swap");
    let local_swaps = std::fs::read_to_string("/proc/swaps").unwrap().lines().count() > 1;
    assert_eq!(swap.status == Status::Failed, local_swaps, "{}", swap.message);

    let km = get("KernelModules");
    assert_eq!(km.status, Status::Failed);
    assert!(km.message.contains("tke_no_such_module") && !km.message.contains("overlay,"), "{}", km.message);

    let ports = get("ReservePorts");
    assert_eq!((ports.status, ports.observed.clone()), (Status::Failed, Some(busy.to_string())), "{}", ports.message);
    assert!(ports.message.contains(&format!("ports {busy} are in use")), "{}", ports.message);
    drop(held);

    let net = get("HostNetOverlapping");
    assert_eq!(net.status, Status::Failed);
    assert!(
        net.message.contains("127.10.0.0/16 overlaps 127.") && !net.message.contains("198.18.0.0/24 overlaps"),
        "{}",
        net.message
    );

    // Thresholds are honoured: the reference defaults flag what is short, with the remedy.
    let strict = CheckConfig { min_cpus: 100_000, min_memory_bytes: u64::MAX / 2, ..Default::default() };
    let cpu = checks::check_cpu(&s, &strict).await;
    assert_eq!(cpu.status, Status::Failed);
    assert!(cpu.message.contains("at least 100000 are needed"), "{}", cpu.message);
    let mem = checks::check_memory(&s, &strict).await;
    assert!(mem.status == Status::Failed && mem.message.contains("add memory"), "{}", mem.message);
    let disk = checks::check_disk(&s, "MachineResourceDiskLog", "/var/log", u64::MAX / 2).await;
    assert!(
        disk.status == Status::Failed && disk.message.contains("free space or mount a larger disk"),
        "{}",
        disk.message
    );
    let bad_cidr = checks::check_cidr_overlap(&s, &["10.0.0.0/99".into()]).await;
    assert!(bad_cidr.status == Status::Failed && bad_cidr.message.contains("invalid prefix"), "{}", bad_cidr.message);

    let info = checks::system_info(&s).await.unwrap();
    assert_eq!(info.arch(), provision::checks::kube_arch(std::env::consts::ARCH));
    assert!(!info.hostname.is_empty() && !info.kernel.is_empty());
}

#[tokio::test]
async fn a_user_without_sudo_fails_the_privilege_check_with_the_reference_advice() {
    need_sshd!();
    let host = Host::start(Sudo::None);
    let (_, s) = checks::check_ssh(&host.full_target(), &options()).await;
    let r = checks::check_privilege(&s.expect("session")).await;
    assert_eq!(r.status, Status::Failed);
    assert!(r.message.contains("must be root or set sudo without password"), "{}", r.message);
}
