//! `pods/{name}/exec` and `pods/{name}/attach` for simulated pods, over WebSocket with the
//! Kubernetes channel protocols `v5.channel.k8s.io` and `v4.channel.k8s.io` (what kubectl 1.30+
//! and browsers speak): binary frames whose first byte is the channel (0 stdin, 1 stdout,
//! 2 stderr, 3 the final Status, 4 terminal resize; v5 adds 255, "this channel is closed").
//!
//! Nothing runs on the simulator's host: exec runs the simulator's own [`crate::shell`] over the
//! container's virtual file system, kept per container (files written survive across sessions
//! while the simulator runs) and bounded, like the number of sessions open at once. With
//! `tty=true` the shell is interactive (prompt, echo, backspace, Ctrl-C, Ctrl-D, history on the
//! arrows); without, the command given (`command=ls&command=/`) runs and its exit status ends
//! the session, as the kubelet reports it (`NonZeroExitCode`). SPDY, which kubectl tries only
//! when WebSocket is refused, is answered with a Status saying to use WebSocket.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU32, Ordering},
    },
    time::{Duration, Instant},
};

use apimachinery::ApiError;
use apiserver::{ApiServer, Connect, ConnectDef, ConnectRequest, http::error_response};
use async_trait::async_trait;
use axum::{
    body::Body,
    http::{HeaderMap, Method, Response, StatusCode, header},
};
use chrono::Utc;
use futures::{SinkExt as _, StreamExt as _};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_tungstenite::{
    WebSocketStream,
    tungstenite::{
        Message,
        handshake::derive_accept_key,
        protocol::{CloseFrame, Role, WebSocketConfig, frame::coding::CloseCode},
    },
};

use crate::{
    logs,
    shell::{self, Container, Flow, Out, Shell, fs::Fs},
};

/// The channel protocols served, preferred first.
pub const PROTOCOLS: [&str; 2] = ["v5.channel.k8s.io", "v4.channel.k8s.io"];
/// Exec and attach sessions open at once in one simulator.
pub const MAX_SESSIONS: usize = 64;
/// Containers whose files are kept (the least recently used are forgotten beyond that).
pub const MAX_CONTAINERS: usize = 256;
/// Largest WebSocket message accepted from a client.
const MAX_MESSAGE: usize = 64 * 1024;
/// Most stdin a non-interactive command reads.
const MAX_STDIN: usize = 1024 * 1024;
/// A session without input for this long is closed.
const IDLE: Duration = Duration::from_secs(30 * 60);

const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const ERROR: u8 = 3;
const RESIZE: u8 = 4;
const CLOSE: u8 = 255;

/// A container's files, and when a session last used them.
type Files = (Arc<Mutex<Fs>>, Instant);

/// What exec and attach share in one simulator: the containers' files and the session bound.
pub struct Sessions {
    files: Mutex<HashMap<String, Files>>,
    open: Arc<Semaphore>,
    next_pid: AtomicU32,
}

impl Default for Sessions {
    fn default() -> Self {
        Sessions {
            files: Mutex::new(HashMap::new()),
            open: Arc::new(Semaphore::new(MAX_SESSIONS)),
            next_pid: AtomicU32::new(7),
        }
    }
}

impl Sessions {
    /// The files of the container `key`, made from `container` the first time.
    fn files_of(&self, key: &str, container: &Container) -> Arc<Mutex<Fs>> {
        let mut files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if let Some((fs, used)) = files.get_mut(key) {
            *used = now;
            return fs.clone();
        }
        if files.len() >= MAX_CONTAINERS
            && let Some(oldest) = files.iter().min_by_key(|(_, (_, used))| *used).map(|(k, _)| k.clone())
        {
            files.remove(&oldest);
        }
        let fs = Arc::new(Mutex::new(container.initial_fs()));
        files.insert(key.to_string(), (fs.clone(), now));
        fs
    }
}

/// The query of an exec or attach request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct StreamOptions {
    command: Vec<String>,
    container: Option<String>,
    stdin: bool,
    stdout: bool,
    stderr: bool,
    tty: bool,
}

impl StreamOptions {
    fn parse(query: Option<&str>, exec: bool) -> Result<Self, ApiError> {
        let mut o = StreamOptions::default();
        for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            let yes = v == "true" || v == "1";
            match k.as_ref() {
                "command" => o.command.push(v.into_owned()),
                "container" => o.container = Some(v.into_owned()),
                "stdin" => o.stdin = yes,
                "stdout" => o.stdout = yes,
                "stderr" => o.stderr = yes,
                "tty" => o.tty = yes,
                _ => {}
            }
        }
        if !(o.stdin || o.stdout || o.stderr) {
            return Err(ApiError::bad_request("you must specify at least 1 of stdin, stdout, stderr"));
        }
        if exec && o.command.is_empty() {
            return Err(ApiError::bad_request("you must specify at least one command for the container"));
        }
        if o.tty {
            // A terminal has one output stream.
            o.stderr = false;
        }
        Ok(o)
    }
}

/// The subprotocol to answer with, from the client's `Sec-WebSocket-Protocol`.
fn choose_protocol(headers: &HeaderMap) -> Option<&'static str> {
    let offered: Vec<String> = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(',').map(|p| p.trim().to_string()).collect::<Vec<_>>())
        .collect();
    PROTOCOLS.into_iter().find(|p| offered.iter().any(|o| o == p))
}

/// The container as its shell shows it.
fn container_info(pod: &Value, name: &str, image: &str) -> Container {
    let pod_name = pod["metadata"]["name"].as_str().unwrap_or_default().to_string();
    let spec = pod["spec"]["containers"].as_array().and_then(|cs| cs.iter().find(|c| c["name"] == name));
    let strings = |v: &Value| -> Vec<String> {
        v.as_array().map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect()).unwrap_or_default()
    };
    let mut command = spec.map(|c| strings(&c["command"])).unwrap_or_default();
    command.extend(spec.map(|c| strings(&c["args"])).unwrap_or_default());
    let mut env = vec![
        ("PATH".to_string(), "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string()),
        ("HOSTNAME".to_string(), pod_name.clone()),
    ];
    // Values only: a simulated kubelet resolves no references (valueFrom, envFrom).
    for e in spec.and_then(|c| c["env"].as_array()).into_iter().flatten() {
        if let (Some(k), Some(v)) = (e["name"].as_str(), e["value"].as_str()) {
            env.push((k.to_string(), v.to_string()));
        }
    }
    for (k, v) in [
        ("KUBERNETES_SERVICE_HOST", "10.96.0.1"),
        ("KUBERNETES_SERVICE_PORT", "443"),
        ("KUBERNETES_SERVICE_PORT_HTTPS", "443"),
        ("KUBERNETES_PORT", "tcp://10.96.0.1:443"),
        ("HOME", "/root"),
    ] {
        env.push((k.to_string(), v.to_string()));
    }
    Container {
        pod: pod_name,
        namespace: pod["metadata"]["namespace"].as_str().unwrap_or("default").to_string(),
        name: name.to_string(),
        image: image.to_string(),
        pod_ip: pod["status"]["podIP"].as_str().unwrap_or("127.0.0.1").to_string(),
        command,
        env,
        started: logs::started_at(pod, name),
    }
}

/// The Status the error channel carries when a command ends with `code`.
pub fn exit_status(argv: &[String], code: i32) -> Value {
    if code == 0 {
        return json!({"metadata": {}, "status": "Success"});
    }
    json!({"metadata": {}, "status": "Failure",
        "message": format!("command terminated with non-zero exit code: error executing command [{}], exit code {code}", argv.join(" ")),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]}})
}

struct StreamHandler {
    sessions: Arc<Sessions>,
    /// `attach` rather than `exec`.
    attach: bool,
}

impl StreamHandler {
    fn what(&self) -> &'static str {
        if self.attach { "attach" } else { "exec" }
    }

    /// Checks the request and, when it can be served, the session's parts.
    fn prepare(&self, req: &ConnectRequest) -> Result<(StreamOptions, Container, &'static str, String), ApiError> {
        if !req.path.is_empty() {
            return Err(ApiError::not_found("", &format!("pods/{}", self.what()), &req.path));
        }
        if req.method != Method::GET && req.method != Method::POST {
            return Err(ApiError::method_not_allowed(format!("pods/{} serves GET and POST only", self.what())));
        }
        let opts = StreamOptions::parse(req.query.as_deref(), !self.attach)?;
        let (name, image) = logs::container_of(&req.object, opts.container.as_deref())?;
        match req.object["status"]["phase"].as_str().unwrap_or_default() {
            "Running" => {}
            phase @ ("Succeeded" | "Failed") => {
                return Err(ApiError::bad_request(format!(
                    "cannot {} into a container in a completed pod; current phase is {phase}",
                    self.what()
                )));
            }
            _ => {
                return Err(ApiError::bad_request(format!(
                    "unable to upgrade connection: container not found (\"{name}\")"
                )));
            }
        }
        let upgrade = req.headers.get(header::UPGRADE).and_then(|v| v.to_str().ok()).unwrap_or_default();
        if upgrade.to_ascii_lowercase().starts_with("spdy") {
            return Err(ApiError::bad_request(format!(
                "this simulated cluster serves {} over WebSocket only ({}): use kubectl 1.30 or later",
                self.what(),
                PROTOCOLS.join(", ")
            )));
        }
        if !upgrade.eq_ignore_ascii_case("websocket") {
            return Err(ApiError::bad_request("Upgrade request required"));
        }
        let protocol = choose_protocol(&req.headers).ok_or_else(|| {
            ApiError::bad_request(format!(
                "{} needs one of the WebSocket subprotocols {}",
                self.what(),
                PROTOCOLS.join(", ")
            ))
        })?;
        let key = req
            .headers
            .get(header::SEC_WEBSOCKET_KEY)
            .ok_or_else(|| ApiError::bad_request("a WebSocket upgrade needs Sec-WebSocket-Key"))?;
        let accept = derive_accept_key(key.as_bytes());
        Ok((opts, container_info(&req.object, &name, &image), protocol, accept))
    }
}

#[async_trait]
impl Connect for StreamHandler {
    async fn serve(&self, mut req: ConnectRequest) -> Response<Body> {
        let (opts, container, protocol, accept) = match self.prepare(&req) {
            Ok(p) => p,
            Err(e) => return error_response(&e),
        };
        let Some(upgrade) = req.upgrade.take() else {
            return error_response(&ApiError::bad_request(
                "this connection cannot switch protocols (HTTP/2 has no upgrades): connect with HTTP/1.1",
            ));
        };
        let Ok(permit) = self.sessions.open.clone().try_acquire_owned() else {
            return error_response(&ApiError::too_many_requests(
                format!("{MAX_SESSIONS} exec and attach sessions are open in this simulated cluster: close one"),
                5,
            ));
        };
        let uid = req.object["metadata"]["uid"].as_str().unwrap_or(&container.pod).to_string();
        let files = self.sessions.files_of(&format!("{uid}/{}", container.name), &container);
        let pid = self.sessions.next_pid.fetch_add(2, Ordering::Relaxed);
        let session = Session {
            opts,
            container: Arc::new(container),
            files,
            pid,
            v5: protocol == PROTOCOLS[0],
            attach: self.attach,
            pod: req.object.clone(),
        };
        tokio::spawn(async move {
            match upgrade.await {
                Ok(upgraded) => session.run(TokioIo::new(upgraded), permit).await,
                Err(e) => tracing::debug!(error = %e, "exec connection was not upgraded"),
            }
        });
        Response::builder()
            .status(StatusCode::SWITCHING_PROTOCOLS)
            .header(header::CONNECTION, "Upgrade")
            .header(header::UPGRADE, "websocket")
            .header(header::SEC_WEBSOCKET_ACCEPT, accept)
            .header(header::SEC_WEBSOCKET_PROTOCOL, protocol)
            .body(Body::empty())
            .unwrap_or_else(|_| Response::new(Body::empty()))
    }
}

/// What the client sent.
enum Input {
    Stdin(Vec<u8>),
    Resize(u16, u16),
    /// Stdin ended (v5 close of channel 0).
    Eof,
    /// The connection ended.
    Closed,
}

/// One exec or attach session.
struct Session {
    opts: StreamOptions,
    container: Arc<Container>,
    files: Arc<Mutex<Fs>>,
    pid: u32,
    v5: bool,
    attach: bool,
    pod: Value,
}

/// Output frames on their way to the client.
struct Frames {
    tx: mpsc::Sender<Vec<u8>>,
    tty: bool,
    stdout: bool,
    stderr: bool,
}

impl Frames {
    async fn send(&self, channel: u8, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        let data = if self.tty { to_crlf(data) } else { data.to_vec() };
        // Frames stay below what clients accept in one message.
        for chunk in data.chunks(32 * 1024) {
            let mut frame = Vec::with_capacity(chunk.len() + 1);
            frame.push(channel);
            frame.extend_from_slice(chunk);
            if self.tx.send(frame).await.is_err() {
                return;
            }
        }
    }

    async fn out(&self, o: Out) {
        match o {
            Out::Stdout(d) if self.stdout => self.send(STDOUT, &d).await,
            Out::Stderr(d) if self.stderr => self.send(STDERR, &d).await,
            // A terminal shows both streams.
            Out::Stderr(d) if self.tty && self.stdout => self.send(STDOUT, &d).await,
            _ => {}
        }
    }

    async fn text(&self, s: &str) {
        if self.stdout {
            self.send(STDOUT, s.as_bytes()).await;
        }
    }
}

/// `\n` as a terminal shows it (`\r\n`), leaving existing `\r\n` alone.
fn to_crlf(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 16);
    let mut prev = 0u8;
    for &b in data {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
    out
}

impl Session {
    async fn run<S>(self, io: S, _permit: OwnedSemaphorePermit)
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let config = WebSocketConfig::default().max_message_size(Some(MAX_MESSAGE)).max_frame_size(Some(MAX_MESSAGE));
        let ws = WebSocketStream::from_raw_socket(io, Role::Server, Some(config)).await;
        let (mut sink, mut stream) = ws.split();
        let (in_tx, mut in_rx) = mpsc::channel::<Input>(64);
        let (out_tx, mut out_rx) = mpsc::channel::<Vec<u8>>(16);
        let interrupt = Arc::new(Notify::new());
        let busy = Arc::new(AtomicBool::new(false));
        let (tty, v5) = (self.opts.tty, self.v5);
        let reader = {
            let (interrupt, busy) = (interrupt.clone(), busy.clone());
            tokio::spawn(async move {
                while let Some(msg) = stream.next().await {
                    let data = match msg {
                        Ok(Message::Binary(b)) => b.to_vec(),
                        Ok(Message::Text(t)) => t.as_bytes().to_vec(),
                        Ok(Message::Close(_)) | Err(_) => break,
                        Ok(_) => continue,
                    };
                    let Some((&channel, payload)) = data.split_first() else { continue };
                    let input = match channel {
                        STDIN => {
                            if tty && busy.load(Ordering::Relaxed) && payload.contains(&0x03) {
                                // A permit: the running command's sleep stops even if it has
                                // not started waiting yet.
                                interrupt.notify_one();
                                continue;
                            }
                            Input::Stdin(payload.to_vec())
                        }
                        RESIZE => match serde_json::from_slice::<Value>(payload) {
                            Ok(v) => Input::Resize(
                                v["Width"].as_u64().unwrap_or(80).min(1000) as u16,
                                v["Height"].as_u64().unwrap_or(24).min(1000) as u16,
                            ),
                            Err(_) => continue,
                        },
                        CLOSE if v5 && payload.first() == Some(&STDIN) => Input::Eof,
                        _ => continue,
                    };
                    if in_tx.send(input).await.is_err() {
                        return;
                    }
                }
                let _ = in_tx.send(Input::Closed).await;
            })
        };
        let writer = tokio::spawn(async move {
            while let Some(frame) = out_rx.recv().await {
                if sink.send(Message::Binary(frame.into())).await.is_err() {
                    return;
                }
            }
            // A normal close is how clients learn that the error channel has ended.
            let close = CloseFrame { code: CloseCode::Normal, reason: "".into() };
            let _ = sink.send(Message::Close(Some(close))).await;
            let _ = sink.close().await;
        });
        let frames = Frames { tx: out_tx, tty, stdout: self.opts.stdout, stderr: self.opts.stderr };
        let argv = self.opts.command.clone();
        let code = if self.attach {
            self.attach_main(&frames, &mut in_rx, &interrupt, &busy).await
        } else if tty && shell::is_shell(argv.first().map(String::as_str).unwrap_or_default()) && argv.len() == 1 {
            self.interactive(&frames, &mut in_rx, &interrupt, &busy).await
        } else {
            self.command(&argv, &frames, &mut in_rx, &interrupt).await
        };
        let status = exit_status(&argv, code);
        let _ = frames.tx.send([vec![ERROR], status.to_string().into_bytes()].concat()).await;
        drop(frames);
        let _ = writer.await;
        // The client answers the close; do not wait for it long.
        let _ = tokio::time::timeout(Duration::from_secs(5), reader).await;
    }

    fn shell(&self) -> Shell {
        let (pod, container) = (self.pod.clone(), self.container.clone());
        let log = Arc::new(move || {
            logs::log_lines(&pod, &container.name, &container.image, Utc::now())
                .into_iter()
                .map(|l| format!("{}\n", l.text))
                .collect::<String>()
        });
        Shell::new(self.container.clone(), self.files.clone(), self.opts.tty, self.pid, log)
    }

    /// A command without a terminal (or one command with it): runs once, with stdin when it
    /// reads it, and ends with its status.
    async fn command(
        &self,
        argv: &[String],
        frames: &Frames,
        input: &mut mpsc::Receiver<Input>,
        interrupt: &Notify,
    ) -> i32 {
        let mut sh = self.shell();
        let line = match argv {
            [cmd, flag, script, ..] if shell::is_shell(cmd) && flag == "-c" => script.clone(),
            _ => argv.iter().map(|a| shell::quote(a)).collect::<Vec<_>>().join(" "),
        };
        let mut stdin = Vec::new();
        if self.opts.stdin && shell::reads_stdin(argv) {
            loop {
                match tokio::time::timeout(IDLE, input.recv()).await {
                    Ok(Some(Input::Stdin(d))) => {
                        let room = MAX_STDIN.saturating_sub(stdin.len());
                        stdin.extend_from_slice(&d[..d.len().min(room)]);
                    }
                    Ok(Some(Input::Resize(..))) => {}
                    _ => break,
                }
            }
        }
        let (tx, mut rx) = mpsc::channel(16);
        let run = async {
            let flow = sh.run_line(&line, &stdin, &tx, interrupt).await;
            drop(tx);
            flow
        };
        let forward = async {
            while let Some(o) = rx.recv().await {
                frames.out(o).await;
            }
        };
        let (flow, ()) = tokio::join!(run, forward);
        match flow {
            Flow::Exit(code) => code,
            Flow::Continue | Flow::Interrupted => sh.status,
        }
    }

    /// The interactive shell behind a terminal: a line editor, the prompt, and each line run
    /// as it is entered, until `exit`, Ctrl-D or the connection's end.
    async fn interactive(
        &self,
        frames: &Frames,
        input: &mut mpsc::Receiver<Input>,
        interrupt: &Notify,
        busy: &AtomicBool,
    ) -> i32 {
        let mut sh = self.shell();
        let mut editor = LineEditor::default();
        frames.text(&sh.prompt()).await;
        loop {
            let data = match tokio::time::timeout(IDLE, input.recv()).await {
                Ok(Some(Input::Stdin(d))) => d,
                Ok(Some(Input::Resize(w, h))) => {
                    sh.env.retain(|(k, _)| k != "COLUMNS" && k != "LINES");
                    sh.env.push(("COLUMNS".into(), w.to_string()));
                    sh.env.push(("LINES".into(), h.to_string()));
                    continue;
                }
                _ => return sh.status,
            };
            for key in editor.feed(&data) {
                match key {
                    Edit::Echo(bytes) => frames.send(STDOUT, &bytes).await,
                    Edit::Interrupt => {
                        sh.status = 130;
                        frames.text(&format!("^C\n{}", sh.prompt())).await;
                    }
                    Edit::Redraw(line) => frames.text(&format!("\x1b[H\x1b[2J{}{line}", sh.prompt())).await,
                    Edit::EndOfInput => {
                        frames.text("\n").await;
                        return sh.status;
                    }
                    Edit::Line(line) => {
                        // A Ctrl-C left over from an earlier command must not stop this one.
                        let _ = futures::FutureExt::now_or_never(interrupt.notified());
                        busy.store(true, Ordering::Relaxed);
                        frames.text("\n").await;
                        let (tx, mut rx) = mpsc::channel(16);
                        let run = async {
                            let flow = sh.run_line(&line, b"", &tx, interrupt).await;
                            drop(tx);
                            flow
                        };
                        let forward = async {
                            while let Some(o) = rx.recv().await {
                                frames.out(o).await;
                            }
                        };
                        let (flow, ()) = tokio::join!(run, forward);
                        busy.store(false, Ordering::Relaxed);
                        match flow {
                            Flow::Exit(code) => return code,
                            Flow::Interrupted => frames.text("^C\n").await,
                            Flow::Continue => {}
                        }
                        frames.text(&sh.prompt()).await;
                    }
                }
            }
        }
    }

    /// Attach: to a shell when the container's main process is one (`kubectl run -it -- sh`),
    /// else to the main process's output, its log lines as they come, until the client leaves
    /// or the pod goes.
    async fn attach_main(
        &self,
        frames: &Frames,
        input: &mut mpsc::Receiver<Input>,
        interrupt: &Notify,
        busy: &AtomicBool,
    ) -> i32 {
        let main = self.container.command.first().cloned().unwrap_or_default();
        if shell::is_shell(&main) && self.opts.stdin && self.opts.tty {
            return self.interactive(frames, input, interrupt, busy).await;
        }
        let mut shown = logs::log_lines(&self.pod, &self.container.name, &self.container.image, Utc::now())
            .last()
            .map(|l| l.at)
            .unwrap_or(self.container.started);
        loop {
            let due = shown + chrono::Duration::from_std(logs::LOG_INTERVAL).unwrap_or_default();
            let wait = (due - Utc::now()).to_std().unwrap_or(Duration::ZERO);
            tokio::select! {
                _ = tokio::time::sleep(wait) => {
                    let lines = logs::log_lines(&self.pod, &self.container.name, &self.container.image, Utc::now());
                    let since = shown;
                    for l in lines.into_iter().filter(|l| l.at > since) {
                        frames.text(&format!("{}\n", l.text)).await;
                        shown = l.at;
                    }
                }
                i = input.recv() => match i {
                    Some(Input::Closed) | None => return 0,
                    _ => {}
                },
            }
        }
    }
}

/// What a key (or keys) typed at the terminal does.
#[derive(Debug, PartialEq, Eq)]
enum Edit {
    /// Bytes to show (the typed text, or the erasing of a character).
    Echo(Vec<u8>),
    /// Enter: the line to run.
    Line(String),
    /// Ctrl-C: the line is dropped.
    Interrupt,
    /// Ctrl-D on an empty line.
    EndOfInput,
    /// Ctrl-L: clear the screen, show the prompt and this line again.
    Redraw(String),
}

/// Lines a session's history keeps.
const HISTORY: usize = 100;

/// The terminal's line discipline: typed bytes become echoes and finished lines; the up and
/// down arrows walk the session's history, other escape sequences are ignored; a line never
/// grows beyond [`shell::MAX_LINE`].
#[derive(Default)]
struct LineEditor {
    line: Vec<u8>,
    escape: Escape,
    last_cr: bool,
    history: std::collections::VecDeque<Vec<u8>>,
    /// Where in the history the arrows are (`None`: at the line being typed).
    recalled: Option<usize>,
}

#[derive(Default, PartialEq, Eq)]
enum Escape {
    #[default]
    None,
    Start,
    /// `ESC [` and whether parameters followed.
    Csi(bool),
    Ss3,
}

impl LineEditor {
    /// Replaces the line shown with `new`: erases what is shown, then shows `new`.
    fn replace_line(&mut self, new: Vec<u8>, echo: &mut Vec<u8>) {
        for _ in 0..String::from_utf8_lossy(&self.line).chars().count() {
            echo.extend_from_slice(b"\x08 \x08");
        }
        echo.extend_from_slice(&new);
        self.line = new;
    }

    /// The up (`back`) or down arrow.
    fn recall(&mut self, back: bool, echo: &mut Vec<u8>) {
        let len = self.history.len();
        let next = match (self.recalled, back) {
            (_, true) if len == 0 => return,
            (None, true) => Some(len - 1),
            (Some(i), true) => Some(i.saturating_sub(1)),
            (None, false) => return,
            (Some(i), false) if i + 1 < len => Some(i + 1),
            (Some(_), false) => None,
        };
        self.recalled = next;
        let line = next.and_then(|i| self.history.get(i).cloned()).unwrap_or_default();
        self.replace_line(line, echo);
    }

    fn remember(&mut self, line: &[u8]) {
        self.recalled = None;
        if line.iter().all(u8::is_ascii_whitespace) || self.history.back().is_some_and(|l| l == line) {
            return;
        }
        if self.history.len() == HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(line.to_vec());
    }
}

impl LineEditor {
    fn feed(&mut self, data: &[u8]) -> Vec<Edit> {
        let mut out = Vec::new();
        let mut echo = Vec::new();
        let flush = |echo: &mut Vec<u8>, out: &mut Vec<Edit>| {
            if !echo.is_empty() {
                out.push(Edit::Echo(std::mem::take(echo)));
            }
        };
        for &b in data {
            let was_cr = std::mem::replace(&mut self.last_cr, b == b'\r');
            match self.escape {
                Escape::Start => {
                    self.escape = match b {
                        b'[' => Escape::Csi(false),
                        b'O' => Escape::Ss3,
                        _ => Escape::None,
                    };
                    continue;
                }
                Escape::Csi(params) => {
                    if (0x40..=0x7e).contains(&b) {
                        self.escape = Escape::None;
                        if !params && (b == b'A' || b == b'B') {
                            self.recall(b == b'A', &mut echo);
                        }
                    } else {
                        self.escape = Escape::Csi(true);
                    }
                    continue;
                }
                Escape::Ss3 => {
                    self.escape = Escape::None;
                    if b == b'A' || b == b'B' {
                        self.recall(b == b'A', &mut echo);
                    }
                    continue;
                }
                Escape::None => {}
            }
            match b {
                b'\n' if was_cr => {}
                b'\r' | b'\n' => {
                    flush(&mut echo, &mut out);
                    let line = std::mem::take(&mut self.line);
                    self.remember(&line);
                    out.push(Edit::Line(String::from_utf8_lossy(&line).into_owned()));
                }
                0x7f | 0x08 => {
                    if self.line.is_empty() {
                        continue;
                    }
                    // One character, however many bytes it has in UTF-8.
                    while let Some(c) = self.line.pop() {
                        if c & 0xc0 != 0x80 {
                            break;
                        }
                    }
                    echo.extend_from_slice(b"\x08 \x08");
                }
                0x03 => {
                    flush(&mut echo, &mut out);
                    self.line.clear();
                    out.push(Edit::Interrupt);
                }
                0x04 => {
                    if self.line.is_empty() {
                        flush(&mut echo, &mut out);
                        out.push(Edit::EndOfInput);
                        return out;
                    }
                }
                0x15 => {
                    let chars = String::from_utf8_lossy(&self.line).chars().count();
                    self.line.clear();
                    for _ in 0..chars {
                        echo.extend_from_slice(b"\x08 \x08");
                    }
                }
                0x0c => {
                    flush(&mut echo, &mut out);
                    out.push(Edit::Redraw(String::from_utf8_lossy(&self.line).into_owned()));
                }
                0x1b => self.escape = Escape::Start,
                b if b < 0x20 => {}
                b => {
                    if self.line.len() >= shell::MAX_LINE {
                        echo.push(0x07);
                    } else {
                        self.line.push(b);
                        echo.push(b);
                    }
                }
            }
        }
        flush(&mut echo, &mut out);
        out
    }
}

/// Serves `pods/exec` and `pods/attach` on `server`.
pub fn register(server: &ApiServer) -> Result<(), ApiError> {
    let sessions = Arc::new(Sessions::default());
    for (sub, kind, attach) in [("exec", "PodExecOptions", false), ("attach", "PodAttachOptions", true)] {
        server.register_connect(
            ConnectDef { group: "", version: "v1", plural: "pods", subresource: sub, verbs: &["create", "get"], kind },
            Arc::new(StreamHandler { sessions: sessions.clone(), attach }),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_validated_as_kube_apiserver_does() {
        let o = StreamOptions::parse(Some("command=ls&command=/&container=c&stdout=true&stderr=true"), true).unwrap();
        assert_eq!(
            (o.command, o.container.as_deref(), o.stdout, o.stderr, o.tty),
            (vec!["ls".into(), "/".into()], Some("c"), true, true, false)
        );
        let t = StreamOptions::parse(Some("command=sh&stdin=1&stdout=1&stderr=1&tty=1"), true).unwrap();
        assert!(t.tty && !t.stderr, "a terminal has no separate stderr");
        assert_eq!(
            StreamOptions::parse(Some("command=ls"), true).unwrap_err().message,
            "you must specify at least 1 of stdin, stdout, stderr"
        );
        assert_eq!(
            StreamOptions::parse(Some("stdout=true"), true).unwrap_err().message,
            "you must specify at least one command for the container"
        );
        assert!(StreamOptions::parse(Some("stdout=true"), false).is_ok(), "attach has no command");
    }

    #[test]
    fn the_newest_channel_protocol_offered_is_chosen() {
        let mut h = HeaderMap::new();
        h.insert(header::SEC_WEBSOCKET_PROTOCOL, "v4.channel.k8s.io, v5.channel.k8s.io".parse().unwrap());
        assert_eq!(choose_protocol(&h), Some("v5.channel.k8s.io"));
        h.insert(header::SEC_WEBSOCKET_PROTOCOL, "channel.k8s.io, v4.channel.k8s.io".parse().unwrap());
        assert_eq!(choose_protocol(&h), Some("v4.channel.k8s.io"));
        h.insert(header::SEC_WEBSOCKET_PROTOCOL, "base64.channel.k8s.io".parse().unwrap());
        assert_eq!(choose_protocol(&h), None);
    }

    #[test]
    fn exit_statuses_are_what_kubectl_reads() {
        assert_eq!(exit_status(&["true".into()], 0), json!({"metadata": {}, "status": "Success"}));
        let s = exit_status(&["sh".into(), "-c".into(), "false".into()], 1);
        assert_eq!(s["reason"], "NonZeroExitCode");
        assert_eq!(s["details"]["causes"][0], json!({"reason": "ExitCode", "message": "1"}));
        assert_eq!(
            s["message"],
            "command terminated with non-zero exit code: error executing command [sh -c false], exit code 1"
        );
    }

    #[test]
    fn the_container_environment_comes_from_the_pod() {
        let pod = json!({"metadata": {"name": "web-0", "namespace": "shop"},
            "spec": {"containers": [{"name": "web", "image": "nginx", "command": ["nginx"], "args": ["-g", "daemon off;"],
                "env": [{"name": "MODE", "value": "prod"}, {"name": "SECRET", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]}]},
            "status": {"podIP": "10.0.0.9"}});
        let c = container_info(&pod, "web", "nginx");
        assert_eq!(c.command, ["nginx", "-g", "daemon off;"]);
        assert_eq!((c.namespace.as_str(), c.pod_ip.as_str()), ("shop", "10.0.0.9"));
        let names: Vec<&str> = c.env.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "PATH",
                "HOSTNAME",
                "MODE",
                "KUBERNETES_SERVICE_HOST",
                "KUBERNETES_SERVICE_PORT",
                "KUBERNETES_SERVICE_PORT_HTTPS",
                "KUBERNETES_PORT",
                "HOME"
            ]
        );
        assert!(c.env.contains(&("HOSTNAME".into(), "web-0".into())));
    }

    #[test]
    fn files_are_kept_per_container_for_the_most_recently_used() {
        let sessions = Sessions::default();
        let c = Container { pod: "p".into(), ..Default::default() };
        let first = sessions.files_of("uid-0/c", &c);
        first.lock().unwrap().write("/tmp/x", b"kept", false).unwrap();
        assert_eq!(sessions.files_of("uid-0/c", &c).lock().unwrap().read("/tmp/x").unwrap(), b"kept");
        for i in 1..=MAX_CONTAINERS {
            sessions.files_of(&format!("uid-{i}/c"), &c);
        }
        assert_eq!(sessions.files.lock().unwrap().len(), MAX_CONTAINERS);
        assert!(sessions.files_of("uid-0/c", &c).lock().unwrap().read("/tmp/x").is_err(), "the oldest was forgotten");
    }

    #[test]
    fn the_line_editor_echoes_erases_and_finishes_lines() {
        let mut e = LineEditor::default();
        assert_eq!(e.feed(b"lx\x7fs"), vec![Edit::Echo(b"lx\x08 \x08s".to_vec())]);
        assert_eq!(e.feed(b" /\r\n"), vec![Edit::Echo(b" /".to_vec()), Edit::Line("ls /".into())]);
        assert_eq!(e.feed("é\x7f".as_bytes()), vec![Edit::Echo(["é".as_bytes(), b"\x08 \x08"].concat())]);
        assert!(e.line.is_empty(), "a two-byte character is erased whole");
        assert_eq!(e.feed(b"ab\x03"), vec![Edit::Echo(b"ab".to_vec()), Edit::Interrupt]);
        assert_eq!(e.feed(b"\x1b[1;5C\x1b[Dpwd\r"), vec![Edit::Echo(b"pwd".to_vec()), Edit::Line("pwd".into())]);
        assert_eq!(e.feed(b"x\x04"), vec![Edit::Echo(b"x".to_vec())], "Ctrl-D ends only an empty line");
        assert_eq!(e.feed(b"\x15\x04"), vec![Edit::Echo(b"\x08 \x08".to_vec()), Edit::EndOfInput]);
        let mut long = LineEditor::default();
        let edits = long.feed(&vec![b'a'; shell::MAX_LINE + 3]);
        assert_eq!(long.line.len(), shell::MAX_LINE);
        assert!(matches!(&edits[0], Edit::Echo(b) if b.ends_with(&[0x07, 0x07, 0x07])));
        assert_eq!(to_crlf(b"a\nb\r\nc"), b"a\r\nb\r\nc");
    }

    #[test]
    fn the_arrows_walk_the_history() {
        let mut e = LineEditor::default();
        assert_eq!(e.feed(b"\x1b[A"), vec![], "no history yet");
        e.feed(b"ls\rpwd\rpwd\r\r");
        assert_eq!(e.history, [b"ls".to_vec(), b"pwd".to_vec()], "repeats and empty lines are not kept");
        assert_eq!(e.feed(b"x\x1b[A"), vec![Edit::Echo(b"x\x08 \x08pwd".to_vec())]);
        assert_eq!(e.feed(b"\x1bOA"), vec![Edit::Echo(b"\x08 \x08\x08 \x08\x08 \x08ls".to_vec())]);
        assert_eq!(e.feed(b"\x1b[A"), vec![Edit::Echo(b"\x08 \x08\x08 \x08ls".to_vec())], "the oldest stays");
        e.feed(b"\x1b[B");
        assert_eq!(e.line, b"pwd");
        e.feed(b"\x1b[B");
        assert!(e.line.is_empty(), "down past the newest is an empty line");
        assert_eq!(e.feed(b"\x1b[A\r"), vec![Edit::Echo(b"pwd".to_vec()), Edit::Line("pwd".into())]);
        for i in 0..HISTORY + 5 {
            e.feed(format!("echo {i}\r").as_bytes());
        }
        assert_eq!(e.history.len(), HISTORY);
    }
}
