//! The simulated containers' shell: what `kubectl exec` and the console's terminal talk to in a
//! simulated pod. No process is ever started on the simulator's host (anyone allowed to exec
//! into a simulated pod would otherwise get a shell on it): commands are the simulator's own
//! functions over the container's virtual file system ([`fs`]), environment and log, with a
//! POSIX-like grammar ([`parse`]): quoting, `$VAR`, `|`, `;`, `&&`, `||` and redirections.
//!
//! Everything is bounded: a command line's length, the output of one line, the files a
//! container holds, how long `sleep` sleeps.

pub mod fs;
pub mod parse;

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use chrono::{DateTime, Utc};
use tokio::sync::{Notify, mpsc};

use self::{
    fs::{Fs, FsError, Node, base_name, resolve},
    parse::{Command, Join, List, Piece, RedirectKind, Word},
};

/// Longest command line accepted (bytes).
pub const MAX_LINE: usize = 4096;
/// Most output one command line may produce (bytes); the rest is dropped with a warning.
pub const MAX_OUTPUT: usize = 1024 * 1024;
/// Longest `sleep`.
pub const MAX_SLEEP: Duration = Duration::from_secs(60);
/// Deepest `sh -c` nesting.
const MAX_DEPTH: usize = 8;

/// The commands the shell knows, for `help`, `which` and `/bin`.
pub const COMMANDS: &[&str] = &[
    "cat", "cd", "clear", "date", "echo", "env", "exit", "export", "false", "grep", "head", "help", "hostname", "id",
    "ls", "mkdir", "printenv", "ps", "pwd", "rm", "sh", "sleep", "tail", "touch", "true", "uname", "unset", "wc",
    "which", "whoami",
];

/// Names under which the shell itself is started (`kubectl exec -- sh`, `/bin/bash`...).
pub fn is_shell(command: &str) -> bool {
    matches!(command.rsplit('/').next(), Some("sh" | "bash" | "ash" | "dash" | "zsh"))
}

/// Output of a command line, sent as it is produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Out {
    Stdout(Vec<u8>),
    Stderr(Vec<u8>),
}

/// What the session does after a command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// `exit`: the session ends with this status.
    Exit(i32),
    /// Ctrl-C stopped the line (the status is 130).
    Interrupted,
}

/// What a container is, as its shell shows it.
#[derive(Clone, Debug, Default)]
pub struct Container {
    pub pod: String,
    pub namespace: String,
    pub name: String,
    pub image: String,
    pub pod_ip: String,
    /// The main process's command line (`ps`, `/proc/1/cmdline`).
    pub command: Vec<String>,
    /// The environment, in the order a container gets it.
    pub env: Vec<(String, String)>,
    pub started: DateTime<Utc>,
}

impl Container {
    /// The container's files as it starts: `/etc` as a kubelet and image make it, the process's
    /// environment under `/proc/1`, the service account's namespace, and `/bin`.
    pub fn initial_fs(&self) -> Fs {
        let mut fs = Fs::default();
        for dir in [
            "/bin",
            "/dev",
            "/etc",
            "/home",
            "/proc/1",
            "/root",
            "/run",
            "/tmp",
            "/usr/bin",
            "/usr/local/bin",
            "/var/log",
            "/var/run/secrets/kubernetes.io/serviceaccount",
        ] {
            let _ = fs.mkdir(dir, true);
        }
        let environ: Vec<u8> =
            self.env.iter().flat_map(|(k, v)| format!("{k}={v}\0").into_bytes()).collect::<Vec<u8>>();
        let cmdline: Vec<u8> = self.command.iter().flat_map(|a| format!("{a}\0").into_bytes()).collect();
        let files: Vec<(&str, Vec<u8>)> = vec![
            ("/etc/hostname", format!("{}\n", self.pod).into_bytes()),
            (
                "/etc/hosts",
                format!("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n{}\t{}\n", self.pod_ip, self.pod)
                    .into_bytes(),
            ),
            (
                "/etc/os-release",
                format!(
                    "NAME=\"kubesim\"\nID=kubesim\nVERSION_ID=1\nPRETTY_NAME=\"kubesim simulated container ({})\"\n\
                     HOME_URL=\"https://github.com/tkestack/tke\"\n",
                    self.image
                )
                .into_bytes(),
            ),
            (
                "/etc/resolv.conf",
                format!(
                    "search {}.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n",
                    self.namespace
                )
                .into_bytes(),
            ),
            ("/etc/passwd", b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n".to_vec()),
            ("/etc/group", b"root:x:0:\nnobody:x:65534:\n".to_vec()),
            ("/proc/1/environ", environ),
            ("/proc/1/cmdline", cmdline),
            ("/var/run/secrets/kubernetes.io/serviceaccount/namespace", self.namespace.clone().into_bytes()),
        ];
        for (path, data) in files {
            let _ = fs.write(path, &data, false);
        }
        for c in COMMANDS {
            let _ = fs.write(&format!("/bin/{c}"), b"", false);
        }
        fs
    }
}

/// Output of one command, bounded by [`MAX_OUTPUT`].
#[derive(Default)]
struct Buf {
    data: Vec<u8>,
    truncated: bool,
}

impl Buf {
    fn push(&mut self, bytes: &[u8]) {
        let room = MAX_OUTPUT.saturating_sub(self.data.len());
        if bytes.len() > room {
            self.truncated = true;
        }
        self.data.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    fn line(&mut self, text: &str) {
        self.push(text.as_bytes());
        self.push(b"\n");
    }
}

/// What one command did.
#[derive(Default)]
struct Done {
    status: i32,
    out: Buf,
    err: Buf,
    exit: Option<i32>,
}

impl Done {
    fn status(status: i32) -> Self {
        Done { status, ..Default::default() }
    }

    fn fail(message: &str, status: i32) -> Self {
        let mut d = Done::status(status);
        d.err.line(message);
        d
    }
}

/// One exec session's shell: its working directory, variables and last status, over the
/// container's shared file system.
pub struct Shell {
    pub container: Arc<Container>,
    pub fs: Arc<Mutex<Fs>>,
    pub cwd: String,
    pub env: Vec<(String, String)>,
    pub status: i32,
    /// Whether output goes to a terminal (`ls` then prints names on one line).
    pub tty: bool,
    /// This shell's process id (`$$`, `ps`).
    pub pid: u32,
    /// The container's log now, for `/var/log/app.log`.
    log: Arc<dyn Fn() -> String + Send + Sync>,
    depth: usize,
}

impl Shell {
    pub fn new(
        container: Arc<Container>,
        fs: Arc<Mutex<Fs>>,
        tty: bool,
        pid: u32,
        log: Arc<dyn Fn() -> String + Send + Sync>,
    ) -> Shell {
        let mut env = container.env.clone();
        if tty && !env.iter().any(|(k, _)| k == "TERM") {
            env.push(("TERM".into(), "xterm".into()));
        }
        Shell { container, fs, cwd: "/".into(), env, status: 0, tty, pid, log, depth: 0 }
    }

    /// The interactive prompt.
    pub fn prompt(&self) -> String {
        format!("{} # ", if self.cwd == "/root" { "~" } else { &self.cwd })
    }

    fn var(&self, name: &str) -> String {
        match name {
            "?" => self.status.to_string(),
            "$" => self.pid.to_string(),
            "#" => "0".into(),
            "PWD" => self.cwd.clone(),
            _ => self.env.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default(),
        }
    }

    fn set_var(&mut self, name: &str, value: &str) {
        const MAX_VARS: usize = 256;
        if let Some(slot) = self.env.iter_mut().find(|(k, _)| k == name) {
            slot.1 = value.to_string();
        } else if self.env.len() < MAX_VARS {
            self.env.push((name.to_string(), value.to_string()));
        }
    }

    fn expand(&self, word: &Word) -> String {
        let mut s = String::new();
        for piece in &word.pieces {
            match piece {
                Piece::Lit(l) => s.push_str(l),
                Piece::Var(v) => s.push_str(&self.var(v)),
            }
        }
        s
    }

    fn path(&self, p: &str) -> String {
        resolve(&self.cwd, p)
    }

    fn fs(&self) -> std::sync::MutexGuard<'_, Fs> {
        self.fs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Refreshes the files the container itself keeps writing (its log).
    fn refresh(&self) {
        let log = (self.log)();
        let mut fs = self.fs();
        let _ = fs.mkdir("/var/log", true);
        if fs.write("/var/log/app.log", log.as_bytes(), false).is_err() {
            // The container is full: the log keeps its newest part.
            let keep = log.len().min(fs::MAX_BYTES.saturating_sub(fs.bytes()));
            let _ = fs.write("/var/log/app.log", &log.as_bytes()[log.len() - keep..], false);
        }
    }

    /// Runs one command line, sending its output to `out` as each pipeline ends. `stdin` is
    /// what the first command of each pipeline reads (empty in an interactive session).
    /// `interrupt` (Ctrl-C) stops a running `sleep`.
    pub async fn run_line(&mut self, line: &str, stdin: &[u8], out: &mpsc::Sender<Out>, interrupt: &Notify) -> Flow {
        if line.len() > MAX_LINE {
            self.status = 2;
            let _ = out.send(Out::Stderr(format!("sh: line too long (at most {MAX_LINE} bytes)\n").into_bytes())).await;
            return Flow::Continue;
        }
        let list = match parse::parse(line) {
            Ok(l) => l,
            Err(e) => {
                self.status = 2;
                let _ = out.send(Out::Stderr(format!("{e}\n").into_bytes())).await;
                return Flow::Continue;
            }
        };
        self.refresh();
        self.run_list(&list, stdin, out, interrupt).await
    }

    async fn run_list(&mut self, list: &List, stdin: &[u8], out: &mpsc::Sender<Out>, interrupt: &Notify) -> Flow {
        for (join, pipeline) in list {
            let run = match join {
                Join::Always => true,
                Join::And => self.status == 0,
                Join::Or => self.status != 0,
            };
            if !run {
                continue;
            }
            let mut input = stdin.to_vec();
            let mut exit = None;
            for (i, cmd) in pipeline.iter().enumerate() {
                let last = i + 1 == pipeline.len();
                let mut done = match self.run_command(cmd, &input, out, interrupt).await {
                    Some(d) => d,
                    None => {
                        // Interrupted: the whole line stops, as on Ctrl-C.
                        self.status = 130;
                        return Flow::Interrupted;
                    }
                };
                if done.out.truncated || done.err.truncated {
                    done.err.line(&format!("sh: output truncated at {MAX_OUTPUT} bytes"));
                }
                if !done.err.data.is_empty() {
                    let _ = out.send(Out::Stderr(std::mem::take(&mut done.err.data))).await;
                }
                self.status = done.status;
                if last {
                    if !done.out.data.is_empty() {
                        let _ = out.send(Out::Stdout(done.out.data)).await;
                    }
                    exit = done.exit;
                } else {
                    input = done.out.data;
                }
            }
            if let Some(code) = exit {
                return Flow::Exit(code);
            }
        }
        Flow::Continue
    }

    /// Runs one command with its redirections; `None` when interrupted.
    async fn run_command(
        &mut self,
        cmd: &Command,
        stdin: &[u8],
        out: &mpsc::Sender<Out>,
        interrupt: &Notify,
    ) -> Option<Done> {
        let mut argv: Vec<String> = Vec::new();
        for w in &cmd.words {
            let s = self.expand(w);
            if !s.is_empty() || w.quoted {
                argv.push(s);
            }
        }
        // `NAME=value` alone sets a variable.
        while let Some(first) = argv.first() {
            match first.split_once('=') {
                Some((name, value)) if is_name(name) => {
                    let (name, value) = (name.to_string(), value.to_string());
                    self.set_var(&name, &value);
                    argv.remove(0);
                }
                _ => break,
            }
        }
        let mut input = stdin.to_vec();
        for r in cmd.redirects.iter().filter(|r| r.kind == RedirectKind::In) {
            let path = self.path(&self.expand(&r.target));
            match self.fs().read(&path) {
                Ok(data) => input = data.to_vec(),
                Err(e) => return Some(Done::fail(&format!("sh: can't open {}: {e}", self.expand(&r.target)), 1)),
            }
        }
        let mut done =
            if argv.is_empty() { Done::status(0) } else { self.builtin(&argv, &input, out, interrupt).await? };
        for r in &cmd.redirects {
            let target = self.expand(&r.target);
            let (data, append) = match r.kind {
                RedirectKind::In => continue,
                RedirectKind::ErrToOut => {
                    let err = std::mem::take(&mut done.err.data);
                    done.out.push(&err);
                    continue;
                }
                RedirectKind::Out { append } => (std::mem::take(&mut done.out.data), append),
                RedirectKind::Err { append } => (std::mem::take(&mut done.err.data), append),
            };
            let path = self.path(&target);
            if let Err(e) = self.fs().write(&path, &data, append) {
                done.err.line(&format!("sh: can't create {target}: {e}"));
                done.status = 1;
            }
        }
        Some(done)
    }

    /// One command; `None` when interrupted.
    async fn builtin(
        &mut self,
        argv: &[String],
        stdin: &[u8],
        out: &mpsc::Sender<Out>,
        interrupt: &Notify,
    ) -> Option<Done> {
        let name = argv[0].strip_prefix("/usr/bin/").or_else(|| argv[0].strip_prefix("/bin/")).unwrap_or(&argv[0]);
        let args: Vec<&str> = argv[1..].iter().map(String::as_str).collect();
        let done = match name {
            "true" | ":" => Done::status(0),
            "false" => Done::status(1),
            "echo" => {
                let (newline, words) = match args.first() {
                    Some(&"-n") => (false, &args[1..]),
                    _ => (true, &args[..]),
                };
                let mut d = Done::default();
                d.out.push(words.join(" ").as_bytes());
                if newline {
                    d.out.push(b"\n");
                }
                d
            }
            "pwd" => text(&self.cwd),
            "cd" => self.cd(&args),
            "env" => {
                let mut d = Done::default();
                for (k, v) in &self.env {
                    d.out.line(&format!("{k}={v}"));
                }
                d
            }
            "printenv" => {
                let mut d = Done::default();
                if args.is_empty() {
                    for (k, v) in &self.env {
                        d.out.line(&format!("{k}={v}"));
                    }
                }
                for a in &args {
                    match self.env.iter().rev().find(|(k, _)| k == a) {
                        Some((_, v)) => d.out.line(v),
                        None => d.status = 1,
                    }
                }
                d
            }
            "export" => {
                for a in &args {
                    if let Some((k, v)) = a.split_once('=') {
                        if !is_name(k) {
                            return Some(Done::fail(&format!("sh: export: bad variable name '{k}'"), 1));
                        }
                        self.set_var(k, v);
                    }
                }
                Done::status(0)
            }
            "unset" => {
                self.env.retain(|(k, _)| !args.contains(&k.as_str()));
                Done::status(0)
            }
            "hostname" => text(&self.container.pod),
            "whoami" => text("root"),
            "id" => text("uid=0(root) gid=0(root) groups=0(root)"),
            "uname" => self.uname(&args),
            "date" => text(&Utc::now().format("%a %b %e %H:%M:%S UTC %Y").to_string()),
            "ps" => self.ps(),
            "help" => {
                let mut d = Done::default();
                d.out.line("kubesim shell: a simulated container's shell (no process runs anywhere).");
                d.out.line("Commands:");
                d.out.line(&format!("  {}", COMMANDS.join(" ")));
                d.out.line("with $VAR, 'quotes', \"quotes\", |, ;, &&, ||, >, >>, <, 2>, 2>&1.");
                d
            }
            "clear" => {
                let mut d = Done::default();
                d.out.push(b"\x1b[H\x1b[2J");
                d
            }
            "exit" => match args.first().map(|a| a.parse::<i32>()) {
                None => Done { exit: Some(self.status), status: self.status, ..Default::default() },
                Some(Ok(n)) => Done { exit: Some(n & 0xff), status: n & 0xff, ..Default::default() },
                Some(Err(_)) => {
                    Done { exit: Some(2), ..Done::fail(&format!("sh: exit: Illegal number: {}", args[0]), 2) }
                }
            },
            "sleep" => {
                let Some(secs) =
                    args.first().and_then(|a| a.parse::<f64>().ok()).filter(|s| s.is_finite() && *s >= 0.0)
                else {
                    return Some(Done::fail("sleep: usage: sleep SECONDS", 1));
                };
                let d = Duration::from_secs_f64(secs.min(MAX_SLEEP.as_secs_f64()));
                tokio::select! {
                    _ = tokio::time::sleep(d) => Done::status(0),
                    _ = interrupt.notified() => return None,
                }
            }
            "which" => {
                let mut d = Done::default();
                for a in &args {
                    if COMMANDS.contains(a) {
                        d.out.line(&format!("/bin/{a}"));
                    } else {
                        d.status = 1;
                    }
                }
                d
            }
            "sh" | "bash" | "ash" => return self.sub_shell(&args, stdin, out, interrupt).await,
            "cat" => self.cat(&args, stdin),
            "ls" => self.ls(&args),
            "mkdir" => self.mkdir(&args),
            "touch" => self.each_file("touch", &args, |fs, p| fs.touch(p)),
            "rm" => self.rm(&args),
            "head" | "tail" => self.head_tail(name, &args, stdin),
            "wc" => self.wc(&args, stdin),
            "grep" => self.grep(&args, stdin),
            other => Done::fail(&format!("sh: {other}: not found"), 127),
        };
        Some(done)
    }

    /// `sh -c 'script'`, or `sh` reading its script from stdin; variables and the working
    /// directory changed inside do not leak out, as with a real child shell.
    async fn sub_shell(
        &mut self,
        args: &[&str],
        stdin: &[u8],
        out: &mpsc::Sender<Out>,
        interrupt: &Notify,
    ) -> Option<Done> {
        let script = match args {
            ["-c", script, ..] => script.to_string(),
            [] if !stdin.is_empty() => String::from_utf8_lossy(stdin).into_owned(),
            [] => return Some(Done::status(0)),
            [file, ..] => match self.fs().read(&self.path(file)) {
                Ok(d) => String::from_utf8_lossy(d).into_owned(),
                Err(e) => return Some(Done::fail(&format!("sh: can't open '{file}': {e}"), 2)),
            },
        };
        if self.depth >= MAX_DEPTH {
            return Some(Done::fail("sh: too many nested shells", 2));
        }
        let (cwd, env) = (self.cwd.clone(), self.env.clone());
        self.depth += 1;
        let mut flow = Flow::Continue;
        for line in script.lines() {
            flow = Box::pin(self.run_line(line, b"", out, interrupt)).await;
            if flow != Flow::Continue {
                break;
            }
        }
        self.depth -= 1;
        self.cwd = cwd;
        self.env = env;
        match flow {
            Flow::Exit(n) => Some(Done::status(n)),
            Flow::Continue => Some(Done::status(self.status)),
            Flow::Interrupted => None,
        }
    }

    fn cd(&mut self, args: &[&str]) -> Done {
        let target = match args.first() {
            None => self.var("HOME").chars().next().map(|_| self.var("HOME")).unwrap_or_else(|| "/root".into()),
            Some(t) => t.to_string(),
        };
        let path = self.path(&target);
        let fs = self.fs();
        match fs.get(&path) {
            Some(n) if n.is_dir() => {
                drop(fs);
                self.cwd = path;
                Done::status(0)
            }
            Some(_) => Done::fail(&format!("sh: cd: can't cd to {target}: Not a directory"), 2),
            None => Done::fail(&format!("sh: cd: can't cd to {target}: No such file or directory"), 2),
        }
    }

    fn uname(&self, args: &[&str]) -> Done {
        let all = args.contains(&"-a");
        let release = "6.6.0-kubesim";
        let host = &self.container.pod;
        if all {
            return text(&format!("Linux {host} {release} #1 SMP PREEMPT_DYNAMIC x86_64 GNU/Linux"));
        }
        let mut parts = Vec::new();
        for a in args {
            for f in a.trim_start_matches('-').chars() {
                parts.push(match f {
                    's' => "Linux",
                    'n' => host.as_str(),
                    'r' => release,
                    'm' | 'p' => "x86_64",
                    'o' => "GNU/Linux",
                    _ => return Done::fail(&format!("uname: invalid option -- '{f}'"), 1),
                });
            }
        }
        if parts.is_empty() {
            parts.push("Linux");
        }
        text(&parts.join(" "))
    }

    fn ps(&self) -> Done {
        let main = if self.container.command.is_empty() {
            self.container
                .image
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .split(':')
                .next()
                .unwrap_or_default()
                .to_string()
        } else {
            self.container.command.join(" ")
        };
        let mut d = Done::default();
        d.out.line("PID   USER     TIME  COMMAND");
        d.out.line(&format!("{:>5} root      0:00 {main}", 1));
        d.out.line(&format!("{:>5} root      0:00 sh", self.pid));
        d.out.line(&format!("{:>5} root      0:00 ps", self.pid + 1));
        d
    }

    fn cat(&self, args: &[&str], stdin: &[u8]) -> Done {
        let mut d = Done::default();
        let files: Vec<&&str> = args.iter().filter(|a| !a.starts_with('-') || **a == "-").collect();
        if files.is_empty() {
            d.out.push(stdin);
            return d;
        }
        let fs = self.fs();
        for f in files {
            if *f == "-" {
                d.out.push(stdin);
                continue;
            }
            match fs.read(&self.path(f)) {
                Ok(data) => d.out.push(data),
                Err(e) => {
                    d.err.line(&format!("cat: can't open '{f}': {e}"));
                    d.status = 1;
                }
            }
        }
        d
    }

    fn ls(&self, args: &[&str]) -> Done {
        let mut long = false;
        let mut all = false;
        let mut one = !self.tty;
        let mut paths = Vec::new();
        for a in args {
            match a.strip_prefix('-') {
                Some(flags) if !flags.is_empty() => {
                    for f in flags.chars() {
                        match f {
                            'l' => long = true,
                            'a' | 'A' => all = true,
                            '1' => one = true,
                            'h' | 'F' | 'd' | 'n' => {}
                            _ => return Done::fail(&format!("ls: unrecognized option: {f}"), 1),
                        }
                    }
                }
                _ => paths.push(*a),
            }
        }
        if paths.is_empty() {
            paths.push(".");
        }
        let fs = self.fs();
        let mut d = Done::default();
        let many = paths.len() > 1;
        let entry = |name: &str, node: &Node| -> String {
            if long {
                let (mode, links) = if node.is_dir() { ("drwxr-xr-x", 2) } else { ("-rw-r--r--", 1) };
                format!(
                    "{mode} {links:>4} root     root     {:>9} {} {name}",
                    node.size(),
                    node.modified().format("%b %e %H:%M")
                )
            } else {
                name.to_string()
            }
        };
        let emit = |d: &mut Done, items: Vec<String>| {
            if items.is_empty() {
                return;
            }
            if long || one {
                for i in items {
                    d.out.line(&i);
                }
            } else {
                d.out.line(&items.join("  "));
            }
        };
        for (i, p) in paths.iter().enumerate() {
            let path = self.path(p);
            match fs.get(&path) {
                None => {
                    d.err.line(&format!("ls: {p}: No such file or directory"));
                    d.status = 1;
                }
                Some(node) if !node.is_dir() => emit(&mut d, vec![entry(p, node)]),
                Some(_) => {
                    if many {
                        if i > 0 {
                            d.out.push(b"\n");
                        }
                        d.out.line(&format!("{p}:"));
                    }
                    let mut items = Vec::new();
                    if all {
                        items.push(entry(".", &Node::Dir { modified: self.container.started }));
                        items.push(entry("..", &Node::Dir { modified: self.container.started }));
                    }
                    if let Ok(list) = fs.list(&path) {
                        items.extend(
                            list.into_iter()
                                .filter(|(n, _)| all || !n.starts_with('.'))
                                .map(|(n, node)| entry(n, node)),
                        );
                    }
                    if long {
                        d.out.line(&format!("total {}", items.len()));
                    }
                    emit(&mut d, items);
                }
            }
        }
        d
    }

    fn mkdir(&self, args: &[&str]) -> Done {
        let parents = args.contains(&"-p");
        self.each_file("mkdir", &args.iter().copied().filter(|a| *a != "-p").collect::<Vec<_>>(), |fs, p| {
            fs.mkdir(p, parents)
        })
    }

    fn rm(&self, args: &[&str]) -> Done {
        let mut recursive = false;
        let mut force = false;
        let mut files = Vec::new();
        for a in args {
            match a.strip_prefix('-') {
                Some(flags) if !flags.is_empty() => {
                    for f in flags.chars() {
                        match f {
                            'r' | 'R' => recursive = true,
                            'f' => force = true,
                            _ => return Done::fail(&format!("rm: unrecognized option: {f}"), 1),
                        }
                    }
                }
                _ => files.push(*a),
            }
        }
        if files.is_empty() {
            return Done::fail("rm: missing operand", 1);
        }
        let mut d = Done::default();
        let mut fs = self.fs();
        for f in files {
            match fs.remove(&self.path(f), recursive) {
                Ok(()) => {}
                Err(FsError::NotFound) if force => {}
                Err(FsError::IsDir) | Err(FsError::NotEmpty) if !recursive => {
                    d.err.line(&format!("rm: '{f}' is a directory"));
                    d.status = 1;
                }
                Err(e) => {
                    d.err.line(&format!("rm: can't remove '{f}': {e}"));
                    d.status = 1;
                }
            }
        }
        d
    }

    fn each_file(&self, cmd: &str, args: &[&str], mut op: impl FnMut(&mut Fs, &str) -> Result<(), FsError>) -> Done {
        if args.is_empty() {
            return Done::fail(&format!("{cmd}: missing operand"), 1);
        }
        let mut d = Done::default();
        let mut fs = self.fs();
        for a in args {
            if let Err(e) = op(&mut fs, &self.path(a)) {
                d.err.line(&format!("{cmd}: can't {cmd} '{a}': {e}"));
                d.status = 1;
            }
        }
        d
    }

    /// The inputs of a text filter: the named files, or stdin when none.
    fn inputs(&self, cmd: &str, files: &[&str], stdin: &[u8], d: &mut Done) -> Vec<(String, Vec<u8>)> {
        if files.is_empty() {
            return vec![(String::new(), stdin.to_vec())];
        }
        let fs = self.fs();
        let mut out = Vec::new();
        for f in files {
            match fs.read(&self.path(f)) {
                Ok(data) => out.push((f.to_string(), data.to_vec())),
                Err(e) => {
                    d.err.line(&format!("{cmd}: {f}: {e}"));
                    d.status = 1;
                }
            }
        }
        out
    }

    fn head_tail(&self, cmd: &str, args: &[&str], stdin: &[u8]) -> Done {
        let mut n = 10usize;
        let mut files = Vec::new();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let count = if *a == "-n" {
                it.next().copied()
            } else if let Some(rest) = a.strip_prefix("-n") {
                Some(rest)
            } else if let Some(rest) = a.strip_prefix('-').filter(|r| !r.is_empty()) {
                Some(rest)
            } else {
                files.push(*a);
                continue;
            };
            match count.and_then(|c| c.parse().ok()) {
                Some(c) => n = c,
                None => return Done::fail(&format!("{cmd}: invalid number '{}'", count.unwrap_or_default()), 1),
            }
        }
        let mut d = Done::default();
        let inputs = self.inputs(cmd, &files, stdin, &mut d);
        let many = inputs.len() > 1;
        for (i, (name, data)) in inputs.iter().enumerate() {
            if many {
                d.out.line(&format!("{}==> {name} <==", if i > 0 { "\n" } else { "" }));
            }
            let lines: Vec<&[u8]> = data.split_inclusive(|b| *b == b'\n').collect();
            let chosen =
                if cmd == "head" { &lines[..n.min(lines.len())] } else { &lines[lines.len().saturating_sub(n)..] };
            for l in chosen {
                d.out.push(l);
            }
        }
        d
    }

    fn wc(&self, args: &[&str], stdin: &[u8]) -> Done {
        let (mut l, mut w, mut c) = (false, false, false);
        let mut files = Vec::new();
        for a in args {
            match a.strip_prefix('-') {
                Some(flags) if !flags.is_empty() => {
                    for f in flags.chars() {
                        match f {
                            'l' => l = true,
                            'w' => w = true,
                            'c' | 'm' => c = true,
                            _ => return Done::fail(&format!("wc: unrecognized option: {f}"), 1),
                        }
                    }
                }
                _ => files.push(*a),
            }
        }
        if !(l || w || c) {
            (l, w, c) = (true, true, true);
        }
        let mut d = Done::default();
        let inputs = self.inputs("wc", &files, stdin, &mut d);
        let single = [l, w, c].iter().filter(|x| **x).count() == 1 && files.is_empty();
        let mut total = (0, 0, 0);
        for (name, data) in &inputs {
            let counts = (
                data.iter().filter(|b| **b == b'\n').count(),
                String::from_utf8_lossy(data).split_whitespace().count(),
                data.len(),
            );
            total = (total.0 + counts.0, total.1 + counts.1, total.2 + counts.2);
            d.out.line(&wc_line(counts, (l, w, c), name, single));
        }
        if inputs.len() > 1 {
            d.out.line(&wc_line(total, (l, w, c), "total", false));
        }
        d
    }

    fn grep(&self, args: &[&str], stdin: &[u8]) -> Done {
        let (mut invert, mut ignore_case, mut number, mut count, mut quiet) = (false, false, false, false, false);
        let mut pattern = None;
        let mut files = Vec::new();
        for a in args {
            match a.strip_prefix('-') {
                Some(flags) if !flags.is_empty() && pattern.is_none() => {
                    for f in flags.chars() {
                        match f {
                            'v' => invert = true,
                            'i' => ignore_case = true,
                            'n' => number = true,
                            'c' => count = true,
                            'q' => quiet = true,
                            'F' | 'E' => {}
                            _ => return Done::fail(&format!("grep: unrecognized option: {f}"), 2),
                        }
                    }
                }
                _ if pattern.is_none() => pattern = Some(*a),
                _ => files.push(*a),
            }
        }
        let Some(pattern) = pattern else {
            return Done::fail("usage: grep [-civnq] PATTERN [FILE]... (the pattern is a fixed string)", 2);
        };
        let needle = if ignore_case { pattern.to_lowercase() } else { pattern.to_string() };
        let mut d = Done::default();
        let inputs = self.inputs("grep", &files, stdin, &mut d);
        let errors = d.status != 0;
        let many = inputs.len() > 1;
        let mut found = false;
        for (name, data) in &inputs {
            let text = String::from_utf8_lossy(data);
            let mut n = 0;
            for (i, line) in text.lines().enumerate() {
                let hay = if ignore_case { line.to_lowercase() } else { line.to_string() };
                if hay.contains(&needle) != invert {
                    n += 1;
                    if !count && !quiet {
                        let prefix = if many { format!("{name}:") } else { String::new() };
                        let num = if number { format!("{}:", i + 1) } else { String::new() };
                        d.out.line(&format!("{prefix}{num}{line}"));
                    }
                }
            }
            found |= n > 0;
            if count && !quiet {
                d.out.line(&if many { format!("{name}:{n}") } else { n.to_string() });
            }
        }
        d.status = if errors {
            2
        } else if found {
            0
        } else {
            1
        };
        d
    }
}

fn wc_line((l, w, c): (usize, usize, usize), (sl, sw, sc): (bool, bool, bool), name: &str, single: bool) -> String {
    let mut cols = Vec::new();
    for (on, n) in [(sl, l), (sw, w), (sc, c)] {
        if on {
            cols.push(if single { n.to_string() } else { format!("{n:>7}") });
        }
    }
    let mut s = cols.join(" ");
    if !name.is_empty() {
        s.push(' ');
        s.push_str(name);
    }
    s
}

fn text(s: &str) -> Done {
    let mut d = Done::default();
    d.out.line(s);
    d
}

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Whether running `list` needs the session's stdin: a command that reads it (a filter without
/// files, or `sh` without a script) first in one of its pipelines. A non-interactive session
/// waits for stdin to end only then, so `kubectl exec -i pod -- ls` does not wait for input.
pub fn reads_stdin(argv: &[String]) -> bool {
    let Some(first) = argv.first() else { return false };
    let name = base_name(first);
    let operands = argv[1..].iter().filter(|a| !a.starts_with('-')).count();
    match name {
        "cat" | "wc" => operands == 0 || argv[1..].iter().any(|a| a == "-"),
        "head" | "tail" => {
            // `-n N` takes N as its value.
            let mut n = 0;
            let mut it = argv[1..].iter();
            while let Some(a) = it.next() {
                if a == "-n" {
                    it.next();
                } else if !a.starts_with('-') {
                    n += 1;
                }
            }
            n == 0
        }
        "grep" => operands <= 1,
        _ if is_shell(name) => match argv.get(1).map(String::as_str) {
            Some("-c") => argv.get(2).and_then(|s| parse::parse(s).ok()).is_some_and(|list| {
                list.iter().any(|(_, pipeline)| {
                    pipeline.first().is_some_and(|c| {
                        let words: Vec<String> = c
                            .words
                            .iter()
                            .map(|w| {
                                w.pieces.iter().map(|p| if let Piece::Lit(l) = p { l.as_str() } else { "x" }).collect()
                            })
                            .collect();
                        !c.redirects.iter().any(|r| r.kind == RedirectKind::In) && reads_stdin(&words)
                    })
                })
            }),
            None => true,
            _ => false,
        },
        _ => false,
    }
}

/// Quotes `s` for a shell command line (single quotes).
pub fn quote(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c)) {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests;
