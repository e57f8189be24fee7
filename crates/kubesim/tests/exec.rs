//! The real `kubectl exec`, `attach`-less logs and friends against a simulated cluster: kubectl
//! 1.30+ speaks WebSocket (`v5.channel.k8s.io`) to exec, and must get the simulator's shell with
//! the exit statuses and stdin handling a real container gives.

use std::{
    io::Write as _,
    path::Path,
    process::{Command, Stdio},
};

use kubesim::{SimCluster, SimOptions};

fn kubectl_binary() -> String {
    std::env::var("KUBECTL").unwrap_or_else(|_| "/usr/bin/kubectl".into())
}

/// Runs kubectl with `stdin` on a blocking thread: (exit code, stdout, stderr).
async fn kubectl(kubeconfig: &Path, args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    let kubeconfig = kubeconfig.to_path_buf();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let stdin = stdin.map(str::to_string);
    tokio::task::spawn_blocking(move || {
        let mut child = Command::new(kubectl_binary())
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubectl runs");
        let mut input = child.stdin.take().expect("stdin");
        input.write_all(stdin.unwrap_or_default().as_bytes()).expect("stdin");
        drop(input);
        let out = child.wait_with_output().expect("kubectl");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    })
    .await
    .expect("kubectl thread")
}

async fn ok(kubeconfig: &Path, args: &[&str]) -> String {
    let (code, out, err) = kubectl(kubeconfig, args, None).await;
    assert_eq!(code, 0, "kubectl {}: {err}\n{out}", args.join(" "));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_exec_runs_the_simulated_shell() {
    let cluster = SimCluster::start(SimOptions::default()).await.expect("the simulated cluster starts");
    let kc = cluster.kubeconfig_path();
    ok(kc, &["run", "web", "--image=nginx:1.27", "--env=GREETING=hello there"]).await;
    ok(kc, &["wait", "--for=condition=Ready", "pod/web", "--timeout=60s"]).await;

    // A command through `sh -c`: the pod's environment and the container's files.
    let out = ok(kc, &["exec", "web", "--", "sh", "-c", "echo $HOSTNAME; echo \"$GREETING\"; ls /etc"]).await;
    assert_eq!(out, "web\nhello there\ngroup\nhostname\nhosts\nos-release\npasswd\nresolv.conf\n");
    // argv as given, no shell in between.
    assert_eq!(ok(kc, &["exec", "web", "--", "cat", "/etc/hostname"]).await, "web\n");
    assert_eq!(ok(kc, &["exec", "web", "-c", "web", "--", "ls", "/var/log"]).await, "app.log\n");

    // Exit statuses become kubectl's.
    let (code, _, err) = kubectl(kc, &["exec", "web", "--", "false"], None).await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("command terminated with exit code 1"), "{err}");
    let (code, _, err) = kubectl(kc, &["exec", "web", "--", "sh", "-c", "exit 7"], None).await;
    assert_eq!(code, 7, "{err}");
    let (code, _, err) = kubectl(kc, &["exec", "web", "--", "nosuch"], None).await;
    assert_eq!(code, 127, "{err}");
    assert!(err.contains("sh: nosuch: not found"), "{err}");
    let (code, out, err) = kubectl(kc, &["exec", "web", "--", "ls", "/nope"], None).await;
    assert_eq!((code, out.as_str()), (1, ""));
    assert!(err.contains("ls: /nope: No such file or directory"), "stderr is its own stream: {err}");

    // stdin with -i, read to its end; a command that reads no stdin does not wait for it.
    let (code, out, err) = kubectl(kc, &["exec", "-i", "web", "--", "wc", "-l"], Some("a\nb\nc\n")).await;
    assert_eq!((code, out.as_str()), (0, "3\n"), "{err}");
    let (code, out, err) =
        kubectl(kc, &["exec", "-i", "web", "--", "sh"], Some("cd /tmp\necho saved > note\npwd\n")).await;
    assert_eq!((code, out.as_str()), (0, "/tmp\n"), "{err}");
    // Files stay with the container across sessions.
    assert_eq!(ok(kc, &["exec", "web", "--", "cat", "/tmp/note"]).await, "saved\n");

    // The log file is the container's log, which `kubectl logs` shows too.
    let log = ok(kc, &["exec", "web", "--", "head", "-n", "1", "/var/log/app.log"]).await;
    assert_eq!(log, "kubesim: simulated container web (nginx:1.27) started\n");
    assert!(ok(kc, &["logs", "web"]).await.starts_with(&log));
    assert_eq!(ok(kc, &["logs", "web", "--limit-bytes=8"]).await, "kubesim:");
    assert_eq!(ok(kc, &["logs", "web", "--tail=1", "--since=1h"]).await.lines().count(), 1);
    let stamped = ok(kc, &["logs", "web", "--timestamps"]).await;
    assert!(stamped.split_whitespace().next().is_some_and(|t| t.ends_with('Z')), "{stamped}");
    let (code, _, err) = kubectl(kc, &["logs", "web", "--previous"], None).await;
    assert!(code != 0 && err.contains("previous terminated container \"web\" in pod \"web\" not found"), "{err}");

    // kubectl attach (a container whose main process is no shell): its output as it comes.
    let kubeconfig = kc.to_path_buf();
    let attached = tokio::task::spawn_blocking(move || {
        use std::io::BufRead as _;
        let mut child = Command::new(kubectl_binary())
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args(["attach", "web"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("kubectl attach");
        let line = std::io::BufReader::new(child.stdout.take().expect("stdout")).lines().next();
        let _ = child.kill();
        let _ = child.wait();
        line.and_then(Result::ok).unwrap_or_default()
    });
    let line =
        tokio::time::timeout(std::time::Duration::from_secs(30), attached).await.expect("a line in time").unwrap();
    assert!(line.starts_with("kubesim: still running ("), "{line}");

    // A container that does not exist is refused before any upgrade.
    let (code, _, err) = kubectl(kc, &["exec", "web", "-c", "nope", "--", "ls"], None).await;
    assert!(code != 0 && err.contains("container nope is not valid for pod web"), "{err}");
}
