//! The shell's commands, pipes, redirections and exit statuses.

use super::*;

fn container() -> Arc<Container> {
    Arc::new(Container {
        pod: "web-0".into(),
        namespace: "shop".into(),
        name: "web".into(),
        image: "nginx:1.27".into(),
        pod_ip: "10.0.0.7".into(),
        command: vec!["nginx".into(), "-g".into(), "daemon off;".into()],
        env: vec![
            ("PATH".into(), "/usr/local/bin:/usr/bin:/bin".into()),
            ("HOSTNAME".into(), "web-0".into()),
            ("HOME".into(), "/root".into()),
            ("GREETING".into(), "hello world".into()),
        ],
        started: Utc::now(),
    })
}

fn shell() -> Shell {
    let c = container();
    let fs = Arc::new(Mutex::new(c.initial_fs()));
    Shell::new(c, fs, false, 7, Arc::new(|| "line one\nline two\n".to_string()))
}

/// Runs `line`: (stdout, stderr, status, flow).
async fn run(sh: &mut Shell, line: &str, stdin: &str) -> (String, String, i32, Flow) {
    let (tx, mut rx) = mpsc::channel(1024);
    let flow = sh.run_line(line, stdin.as_bytes(), &tx, &Notify::new()).await;
    drop(tx);
    let (mut out, mut err) = (String::new(), String::new());
    while let Some(o) = rx.recv().await {
        match o {
            Out::Stdout(b) => out.push_str(&String::from_utf8_lossy(&b)),
            Out::Stderr(b) => err.push_str(&String::from_utf8_lossy(&b)),
        }
    }
    (out, err, sh.status, flow)
}

async fn out(sh: &mut Shell, line: &str) -> String {
    let (o, e, status, _) = run(sh, line, "").await;
    assert_eq!((status, e.as_str()), (0, ""), "{line}");
    o
}

#[tokio::test]
async fn variables_quotes_and_the_container() {
    let mut sh = shell();
    assert_eq!(out(&mut sh, "echo $HOSTNAME").await, "web-0\n");
    assert_eq!(out(&mut sh, r#"echo "$GREETING" '$GREETING' ${HOSTNAME}x"#).await, "hello world $GREETING web-0x\n");
    assert_eq!(out(&mut sh, "echo -n a b").await, "a b");
    assert_eq!(out(&mut sh, "export A=1; echo $A; B=2; echo $B").await, "1\n2\n");
    assert_eq!(out(&mut sh, "printenv GREETING").await, "hello world\n");
    assert!(out(&mut sh, "env").await.contains("HOSTNAME=web-0\n"));
    assert_eq!(out(&mut sh, "hostname; whoami; id").await, "web-0\nroot\nuid=0(root) gid=0(root) groups=0(root)\n");
    assert_eq!(out(&mut sh, "uname").await, "Linux\n");
    assert!(out(&mut sh, "uname -a").await.starts_with("Linux web-0 "));
    let ps = out(&mut sh, "ps").await;
    assert!(ps.contains("    1 root      0:00 nginx -g daemon off;"), "{ps}");
    let date = out(&mut sh, "date").await;
    assert!(date.contains(" UTC ") && date.ends_with(&format!("{}\n", Utc::now().format("%Y"))), "{date}");
    assert_eq!(out(&mut sh, "cat /etc/hostname").await, "web-0\n");
    assert!(out(&mut sh, "cat /etc/resolv.conf").await.starts_with("search shop.svc.cluster.local"));
    assert!(out(&mut sh, "cat /proc/1/environ").await.contains("GREETING=hello world\0"));
    assert_eq!(out(&mut sh, "cat /var/log/app.log").await, "line one\nline two\n");
    assert_eq!(out(&mut sh, "cat /var/run/secrets/kubernetes.io/serviceaccount/namespace").await, "shop");
    assert!(out(&mut sh, "help").await.contains("grep"));
}

#[tokio::test]
async fn directories_and_files() {
    let mut sh = shell();
    assert_eq!(out(&mut sh, "pwd").await, "/\n");
    let root = out(&mut sh, "ls").await;
    assert!(root.contains("etc\n") && root.contains("var\n") && root.contains("bin\n"), "{root}");
    let etc = out(&mut sh, "ls /etc").await;
    assert_eq!(etc, "group\nhostname\nhosts\nos-release\npasswd\nresolv.conf\n");
    let long = out(&mut sh, "ls -l /etc").await;
    assert!(long.starts_with("total 6\n"), "{long}");
    assert!(long.contains("-rw-r--r--    1 root     root             6 "), "{long}");
    assert_eq!(out(&mut sh, "cd /tmp && pwd && echo $PWD").await, "/tmp\n/tmp\n");
    assert_eq!(out(&mut sh, "mkdir -p a/b && cd a/b && pwd; cd ../..; pwd").await, "/tmp/a/b\n/tmp\n");
    assert_eq!(out(&mut sh, "echo one > f; echo two >> f; cat f").await, "one\ntwo\n");
    assert_eq!(out(&mut sh, "cat < f | wc -l").await, "2\n");
    assert_eq!(out(&mut sh, "touch g; ls").await, "a\nf\ng\n");
    assert_eq!(out(&mut sh, "rm f g; rm -r a; ls").await, "");
    assert_eq!(out(&mut sh, "cd; pwd").await, "/root\n");

    let (_, err, status, _) = run(&mut sh, "cd /nope", "").await;
    assert_eq!((err.as_str(), status), ("sh: cd: can't cd to /nope: No such file or directory\n", 2));
    let (_, err, status, _) = run(&mut sh, "cat /nope", "").await;
    assert_eq!((err.as_str(), status), ("cat: can't open '/nope': No such file or directory\n", 1));
    let (_, err, status, _) = run(&mut sh, "ls /nope", "").await;
    assert_eq!((err.as_str(), status), ("ls: /nope: No such file or directory\n", 1));
    let (_, err, status, _) = run(&mut sh, "rm /etc", "").await;
    assert_eq!((err.as_str(), status), ("rm: '/etc' is a directory\n", 1));
    let (_, err, status, _) = run(&mut sh, "echo x > /no/such/file", "").await;
    assert_eq!((err.as_str(), status), ("sh: can't create /no/such/file: No such file or directory\n", 1));
    let (_, err, status, _) = run(&mut sh, "mkdir /etc", "").await;
    assert_eq!((err.as_str(), status), ("mkdir: can't mkdir '/etc': File exists\n", 1));
}

#[tokio::test]
async fn files_outlive_the_session_that_wrote_them() {
    let c = container();
    let fs = Arc::new(Mutex::new(c.initial_fs()));
    let log: Arc<dyn Fn() -> String + Send + Sync> = Arc::new(String::new);
    let mut first = Shell::new(c.clone(), fs.clone(), false, 7, log.clone());
    out(&mut first, "cd /tmp; echo kept > note").await;
    let mut second = Shell::new(c, fs, false, 9, log);
    assert_eq!(out(&mut second, "pwd; cat /tmp/note").await, "/\nkept\n", "files are shared, the cwd is not");
}

#[tokio::test]
async fn pipes_filters_and_redirections() {
    let mut sh = shell();
    out(&mut sh, "echo alpha > /tmp/t; echo Beta >> /tmp/t; echo gamma >> /tmp/t").await;
    assert_eq!(out(&mut sh, "cat /tmp/t | grep a | wc -l").await, "3\n");
    assert_eq!(out(&mut sh, "grep -i beta /tmp/t").await, "Beta\n");
    assert_eq!(out(&mut sh, "grep -v B /tmp/t").await, "alpha\ngamma\n");
    let (o, _, status, _) = run(&mut sh, "grep -v a /tmp/t", "").await;
    assert_eq!((o.as_str(), status), ("", 1));
    let (o, _, status, _) = run(&mut sh, "grep zeta /tmp/t", "").await;
    assert_eq!((o.as_str(), status), ("", 1));
    assert_eq!(out(&mut sh, "grep -n gamma /tmp/t").await, "3:gamma\n");
    assert_eq!(out(&mut sh, "grep -c a /tmp/t /etc/hostname").await, "/tmp/t:3\n/etc/hostname:0\n");
    assert_eq!(out(&mut sh, "head -n 1 /tmp/t; tail -1 /tmp/t").await, "alpha\ngamma\n");
    assert_eq!(out(&mut sh, "cat /tmp/t | head -2 | tail -n 1").await, "Beta\n");
    assert_eq!(out(&mut sh, "wc /tmp/t").await, "      3       3      17 /tmp/t\n");
    assert_eq!(out(&mut sh, "ls /nope 2>/dev/null; echo $?").await, "1\n");
    assert_eq!(out(&mut sh, "ls /nope 2>&1 | wc -l").await, "1\n");
    assert_eq!(out(&mut sh, "ls /nope 2> /tmp/err; cat /tmp/err").await, "ls: /nope: No such file or directory\n");
    assert_eq!(out(&mut sh, "echo hidden > /dev/null").await, "");
    // What a pipeline reads comes from the session's stdin.
    let (o, _, _, _) = run(&mut sh, "wc -l", "a\nb\n").await;
    assert_eq!(o, "2\n");
    let (o, _, _, _) = run(&mut sh, "cat | grep b", "a\nb\n").await;
    assert_eq!(o, "b\n");
}

#[tokio::test]
async fn statuses_and_control_flow() {
    let mut sh = shell();
    assert_eq!(run(&mut sh, "false", "").await.2, 1);
    assert_eq!(out(&mut sh, "false; echo $?").await, "1\n");
    assert_eq!(out(&mut sh, "true && echo yes || echo no").await, "yes\n");
    assert_eq!(out(&mut sh, "false && echo yes || echo no").await, "no\n");
    assert_eq!(out(&mut sh, "false | true; echo $?").await, "0\n");
    let (o, err, status, _) = run(&mut sh, "nosuch --flag", "").await;
    assert_eq!((o.as_str(), err.as_str(), status), ("", "sh: nosuch: not found\n", 127));
    assert_eq!(run(&mut sh, "/bin/ls /etc/hostname", "").await.0, "/etc/hostname\n");
    assert_eq!(run(&mut sh, "exit 3", "").await.3, Flow::Exit(3));
    assert_eq!(run(&mut sh, "echo bye; exit", "").await.3, Flow::Exit(0));
    assert_eq!(run(&mut sh, "false; exit", "").await.3, Flow::Exit(1));
    let (_, err, status, flow) = run(&mut sh, "echo 'open", "").await;
    assert_eq!((err.as_str(), status, flow), ("sh: syntax error: unterminated quoted string\n", 2, Flow::Continue));
    // `sh -c` runs its script in a child shell: its cd and variables stay there.
    assert_eq!(out(&mut sh, "sh -c 'cd /etc; X=1; pwd; echo $X'; pwd; echo \"[$X]\"").await, "/etc\n1\n/\n[]\n");
    let (_, _, status, flow) = run(&mut sh, "sh -c 'exit 4'", "").await;
    assert_eq!((status, flow), (4, Flow::Continue));
    let (_, _, status, flow) = run(&mut sh, "sh -c 'exit 130'", "").await;
    assert_eq!((status, flow), (130, Flow::Continue), "a status of 130 is no Ctrl-C");
    assert_eq!(run(&mut sh, "sh", "echo from stdin\nhostname\n").await.0, "from stdin\nweb-0\n");
    let long = "x".repeat(MAX_LINE + 1);
    let (_, err, status, _) = run(&mut sh, &long, "").await;
    assert!(err.starts_with("sh: line too long") && status == 2, "{err}");
}

#[tokio::test]
async fn output_and_sleep_are_bounded() {
    let mut sh = shell();
    // A file near the container's limit, printed many times: the output stops at MAX_OUTPUT.
    let (_, err, status, _) = run(&mut sh, "cat > /tmp/big", &"y".repeat(256 * 1024)).await;
    assert_eq!((err.as_str(), status), ("", 0));
    let (o, err, _, _) = run(&mut sh, "cat /tmp/big /tmp/big /tmp/big /tmp/big /tmp/big", "").await;
    assert_eq!(o.len(), MAX_OUTPUT);
    assert!(err.contains("output truncated"), "{err}");
    // Ctrl-C ends a sleep at once.
    let interrupt = Arc::new(Notify::new());
    let (tx, _rx) = mpsc::channel(16);
    let i2 = interrupt.clone();
    let started = std::time::Instant::now();
    let running = tokio::spawn(async move {
        let flow = sh.run_line("sleep 30; echo never", b"", &tx, &i2).await;
        (flow, sh.status)
    });
    // A permit, as the session gives: the sleep stops whether or not it is waiting yet.
    interrupt.notify_one();
    let (flow, status) = running.await.unwrap();
    assert_eq!((flow, status), (Flow::Interrupted, 130));
    assert!(started.elapsed() < Duration::from_secs(10));
    // Any number is a sleep of at most MAX_SLEEP (here interrupted at once); words are not.
    let mut sh = shell();
    let (tx, _rx) = mpsc::channel(16);
    let interrupt = Notify::new();
    interrupt.notify_one();
    assert_eq!(sh.run_line("sleep 1e300", b"", &tx, &interrupt).await, Flow::Interrupted);
    let (_, err, status, _) = run(&mut sh, "sleep forever", "").await;
    assert_eq!((err.as_str(), status), ("sleep: usage: sleep SECONDS\n", 1));
}

#[test]
fn which_sessions_wait_for_stdin() {
    let argv = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
    assert!(reads_stdin(&argv("cat")));
    assert!(!reads_stdin(&argv("cat /etc/hosts")));
    assert!(reads_stdin(&argv("head -n 5")));
    assert!(!reads_stdin(&argv("head -n 5 f")));
    assert!(reads_stdin(&argv("grep x")));
    assert!(!reads_stdin(&argv("ls /")));
    assert!(reads_stdin(&argv("sh")));
    assert!(reads_stdin(&["sh".into(), "-c".into(), "cat | wc -l".into()]));
    assert!(!reads_stdin(&["sh".into(), "-c".into(), "echo $HOSTNAME; ls /etc".into()]));
    assert_eq!(quote("a b'c"), r"'a b'\''c'");
    assert_eq!(quote("/etc"), "/etc");
}
