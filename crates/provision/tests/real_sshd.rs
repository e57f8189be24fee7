//! The SSH client against a real OpenSSH server: logins, errors, host keys, jump host,
//! SOCKS5, commands, sudo and file copy.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Host, Netns, Sshd, Sudo, TestUser, options};
use provision::{Error, Exec, HostKeyPolicy, KnownHosts, Privilege, Session, Stream, Target, Via};

#[tokio::test]
async fn password_login_runs_commands_with_exit_codes_and_streamed_lines() {
    need_sshd!();
    let host = Host::start(Sudo::None);
    let s = Session::connect(&host.password_target(), &options()).await.expect("password login");
    assert_eq!(s.check("whoami").await.unwrap().trim(), host.user.name);
    let out = s.run("echo out; echo err >&2; exit 7").await.unwrap();
    assert_eq!((out.exit_code, out.stdout.as_str(), out.stderr.as_str()), (Some(7), "out\n", "err\n"));
    let err = s.check("ls /definitely/not/here").await.unwrap_err().to_string();
    assert!(
        err.contains("ls /definitely/not/here") && err.contains("exit code 2") && err.contains("No such file"),
        "{err}"
    );

    let mut lines = vec![];
    let mut sink = |st: Stream, l: &str| lines.push((st, l.to_string()));
    let out = s
        .exec(
            "for i in 1 2 3; do echo line $i; done; echo warn >&2; printf tail",
            Exec { on_line: Some(&mut sink), ..Default::default() },
        )
        .await
        .unwrap();
    assert!(out.success());
    let want = [
        (Stream::Stdout, "line 1"),
        (Stream::Stdout, "line 2"),
        (Stream::Stdout, "line 3"),
        (Stream::Stderr, "warn"),
        (Stream::Stdout, "tail"),
    ];
    for w in want {
        assert!(lines.contains(&(w.0, w.1.to_string())), "missing {w:?} in {lines:?}");
    }
    // A command that outlives its limit is reported as a timeout, and the session stays usable.
    let err =
        s.exec("sleep 30", Exec { timeout: Some(Duration::from_millis(300)), ..Default::default() }).await.unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }) && err.to_string().contains("command `sleep 30`"), "{err}");
    assert_eq!(s.check("echo still here").await.unwrap(), "still here\n");
    s.close().await;
}

#[tokio::test]
async fn keys_with_passphrase_log_in_and_a_wrong_passphrase_says_so() {
    need_sshd!();
    let host = Host::start(Sudo::None);
    let s = Session::connect(&host.key_target(), &options()).await.expect("ed25519 key login");
    assert_eq!(s.check("whoami").await.unwrap().trim(), host.user.name);
    let mut rsa = host.key_target();
    rsa.credentials.private_key = Some(host.user.rsa_key.clone());
    let s = Session::connect(&rsa, &options()).await.expect("rsa key login");
    assert_eq!(s.check("whoami").await.unwrap().trim(), host.user.name);

    let mut wrong = host.key_target();
    wrong.credentials.passphrase = Some("not it".into());
    let err = Session::connect(&wrong, &options()).await.unwrap_err();
    assert!(matches!(err, Error::Key { .. }), "{err:?}");
    assert!(err.to_string().contains("passPhrase"), "{err}");
    let mut none = host.key_target();
    none.credentials.passphrase = None;
    let err = Session::connect(&none, &options()).await.unwrap_err().to_string();
    assert!(err.contains("encrypted and no passPhrase was given"), "{err}");
}

#[tokio::test]
async fn a_wrong_password_is_a_clear_authentication_error() {
    need_sshd!();
    let host = Host::start(Sudo::None);
    let mut t = host.password_target();
    t.credentials.password = Some("wrong".into());
    let err = Session::connect(&t, &options()).await.unwrap_err();
    assert!(matches!(err, Error::Auth { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("authentication of {}@127.0.0.1:{} failed", host.user.name, host.sshd.port)),
        "{msg}"
    );
    assert!(
        msg.contains("refused the password") && msg.contains("check the username, password or private key"),
        "{msg}"
    );
    assert!(!err.is_transient());

    // Nothing listening: a connect error naming the address, worth retrying.
    let port = common::free_port();
    let err = Session::connect(&Target::password("127.0.0.1", port, "x", "y"), &options()).await.unwrap_err();
    assert!(err.to_string().contains(&format!("cannot connect to 127.0.0.1:{port}")), "{err}");
    assert!(err.is_transient());
}

#[tokio::test]
async fn host_keys_are_pinned_or_recorded_on_first_use() {
    need_sshd!();
    let host = Host::start(Sudo::None);
    let fp = host.sshd.fingerprint();
    assert!(fp.starts_with("SHA256:"), "{fp}");
    let mut o = options();
    o.host_keys = HostKeyPolicy::Pinned(vec![fp.clone()]);
    let s = Session::connect(&host.password_target(), &o).await.expect("pinned key accepted");
    assert_eq!(s.host_key_fingerprint(), Some(fp.as_str()));
    o.host_keys = HostKeyPolicy::Pinned(vec!["SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into()]);
    let err = Session::connect(&host.password_target(), &o).await.unwrap_err();
    assert!(matches!(err, Error::HostKey { .. }) && err.to_string().contains(&fp), "{err}");

    // Trust on first use, persisted in a file and reloaded.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("known_hosts");
    let known = Arc::new(KnownHosts::open(&file).unwrap());
    o.host_keys = HostKeyPolicy::TrustOnFirstUse(known.clone());
    Session::connect(&host.password_target(), &o).await.expect("first contact recorded");
    let addr = host.password_target().addr();
    assert_eq!(known.get(&addr), Some(fp.clone()));
    let reloaded = Arc::new(KnownHosts::open(&file).unwrap());
    assert_eq!(reloaded.get(&addr), Some(fp.clone()));
    // A server whose key differs from the recorded one (a reinstalled machine, or an
    // impostor) is refused until its old key is forgotten on purpose.
    drop(host);
    let host2 = Host::start(Sudo::None);
    let addr2 = host2.password_target().addr();
    std::fs::write(&file, format!("{addr2} {fp}\n")).unwrap();
    let known = Arc::new(KnownHosts::open(&file).unwrap());
    o.host_keys = HostKeyPolicy::TrustOnFirstUse(known.clone());
    let err = Session::connect(&host2.password_target(), &o).await.unwrap_err().to_string();
    assert!(err.contains("was recorded earlier") && err.contains(&fp), "{err}");
    known.forget(&addr2).unwrap();
    Session::connect(&host2.password_target(), &o).await.expect("accepted after forgetting the old key");
    assert_eq!(KnownHosts::open(&file).unwrap().get(&addr2), Some(host2.sshd.fingerprint()));
}

#[tokio::test]
async fn a_jump_host_reaches_a_machine_in_a_namespace_only_it_can_reach() {
    need_sshd!();
    let user = TestUser::create(Sudo::None);
    let netns = Netns::create();
    let (jump, target_sshd) = match &netns {
        Some(ns) => {
            (Sshd::start(&ns.ns_ip, Some(ns), &[&user.name]), Sshd::start("127.0.0.1", Some(ns), &[&user.name]))
        }
        None => (Sshd::start("127.0.0.1", None, &[&user.name]), Sshd::start("127.0.0.1", None, &[&user.name])),
    };
    let jump_target = Target::key(&jump.host, jump.port, &user.name, &user.key, Some(user.passphrase.clone()));
    let mut target = Target::password("127.0.0.1", target_sshd.port, &user.name, &user.password);
    if netns.is_some() {
        // From here 127.0.0.1:<port> is our own loopback, where nothing listens.
        let err = Session::connect(&target, &options()).await.unwrap_err();
        assert!(matches!(err, Error::Connect { .. }), "direct connection must fail: {err:?}");
    }
    target.via = Some(Via::Jump(Box::new(jump_target)));
    let s = Session::connect(&target, &options()).await.expect("login through the jump host");
    assert_eq!(s.check("whoami").await.unwrap().trim(), user.name);
    if let Some(ns) = &netns {
        let addrs = s.check("ip -o -4 addr show").await.unwrap();
        assert!(addrs.contains(&ns.ns_ip), "the target runs in the namespace: {addrs}");
    } else {
        eprintln!("NOTE: no network namespace; jump host and target are both loopback ports");
    }
    // A jump host that cannot reach the target says which hop failed.
    let mut dead = target.clone();
    dead.port = 1;
    let err = Session::connect(&dead, &options()).await.unwrap_err().to_string();
    assert!(err.contains("jump host") && err.contains("could not open a connection"), "{err}");
    s.close().await;
}

#[tokio::test]
async fn a_socks5_proxy_carries_the_connection() {
    need_sshd!();
    if !common::on_path("ssh") {
        eprintln!("SKIPPED: no ssh client for a SOCKS5 proxy (ssh -D)");
        return;
    }
    let host = Host::start(Sudo::None);
    let socks_port = common::free_port();
    let mut proxy = std::process::Command::new("ssh")
        .args([
            "-N",
            "-D",
            &format!("127.0.0.1:{socks_port}"),
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "BatchMode=yes",
            "-p",
        ])
        .arg(host.sshd.port.to_string())
        .arg("-i")
        .arg(&host.user.plain_key_path)
        .arg(format!("{}@127.0.0.1", host.user.name))
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("ssh -D");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", socks_port)).is_err() {
        assert!(std::time::Instant::now() < deadline, "ssh -D did not listen");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut t = host.password_target();
    t.via = Some(Via::Socks5 { host: "127.0.0.1".into(), port: socks_port, username: None, password: None });
    let r = Session::connect(&t, &options()).await;
    let who = match &r {
        Ok(s) => s.check("whoami").await.map(|w| w.trim().to_string()),
        Err(_) => Ok(String::new()),
    };
    let _ = proxy.kill();
    let _ = proxy.wait();
    r.expect("login through SOCKS5");
    assert_eq!(who.unwrap(), host.user.name);
}

#[tokio::test]
async fn root_commands_use_sudo_with_or_without_password_and_fail_clearly_without() {
    need_sshd!();
    if !common::on_path("sudo") {
        eprintln!("SKIPPED: sudo is not installed (apt-get install sudo)");
        return;
    }
    // sudo asking for the password: fed through sudo -S, never leaking into the command's input.
    let host = Host::start(Sudo::WithPassword);
    let s = Session::connect(&host.full_target(), &options()).await.unwrap();
    assert_eq!(s.privilege().await.unwrap(), Privilege::PasswordSudo);
    assert_eq!(s.check_root("id -u").await.unwrap().trim(), "0");
    let out = s
        .exec("cat", Exec { as_root: true, stdin: Some(Box::new(&b"payload"[..])), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(out.stdout, "payload");
    let err = s.check_root("exit 3").await.unwrap_err().to_string();
    assert!(err.contains("exit code 3"), "{err}");

    let host = Host::start(Sudo::NoPassword);
    let s = Session::connect(&host.key_target(), &options()).await.unwrap();
    assert_eq!(s.privilege().await.unwrap(), Privilege::PasswordlessSudo);
    assert_eq!(s.check_root("id -un").await.unwrap().trim(), "root");

    let host = Host::start(Sudo::None);
    let s = Session::connect(&host.full_target(), &options()).await.unwrap();
    let err = s.check_root("true").await.unwrap_err();
    assert!(matches!(err, Error::NotPrivileged { .. }), "{err:?}");
    assert!(err.to_string().contains("must be root or set sudo without password"), "{err}");
    // Plain commands still work for that user.
    assert_eq!(s.check("echo ok").await.unwrap(), "ok\n");
}

#[tokio::test]
async fn files_arrive_intact_and_atomically_even_as_root_through_sudo() {
    need_sshd!();
    let host = Host::start(Sudo::WithPassword);
    let s = Session::connect(&host.full_target(), &options()).await.unwrap();
    // 24 MiB of non-repeating data.
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("big.bin");
    let mut data = Vec::with_capacity(24 << 20);
    let mut x: u64 = 0x9e3779b97f4a7c15;
    while data.len() < 24 << 20 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        data.extend_from_slice(&x.to_le_bytes());
    }
    std::fs::write(&local, &data).unwrap();
    let want = provision::ssh::sha256_hex(&data);

    let remote_dir = tempfile::tempdir().unwrap(); // owned by root, 0700: only sudo can write there
    let remote = remote_dir.path().join("sub/dir/big.bin");
    let remote = remote.to_str().unwrap();
    let started = std::time::Instant::now();
    let sum = s.upload_file(&local, remote, 0o640, true).await.expect("upload as root");
    eprintln!("copied 24 MiB through sudo in {:?}", started.elapsed());
    assert_eq!(sum, want);
    assert_eq!(std::fs::read(remote).unwrap(), data);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(remote).unwrap().permissions().mode() & 0o777, 0o640);
    assert_eq!(s.remote_sha256(remote, true).await.unwrap().as_deref(), Some(want.as_str()));
    // No temporary files are left beside the target.
    let left: Vec<_> =
        std::fs::read_dir(remote_dir.path().join("sub/dir")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left.len(), 1, "{left:?}");

    // Writing as the user where they may not write fails with the reason, leaving nothing behind.
    let err = s
        .upload_bytes(b"x", &format!("{}/denied.txt", remote_dir.path().display()), 0o644, false)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("denied.txt") && err.contains("Permission denied"), "{err}");
    assert!(!remote_dir.path().join("denied.txt").exists());
    // Into the user's own home without sudo, and read back.
    let home_file = format!("{}/note.txt", host.user.home.display());
    s.upload_bytes(b"hello\n", &home_file, 0o600, false).await.unwrap();
    assert_eq!(s.read_file(&home_file, false).await.unwrap().as_deref(), Some("hello\n"));
    assert_eq!(s.read_file("/no/such/file", false).await.unwrap(), None);
}
