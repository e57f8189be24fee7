//! The alert path of an alarm policy with the real programs, end to end: the policy's rule group,
//! rendered as the monitor component stores it, is synced into Debian `prometheus`'s rule file
//! and loaded with `/-/reload` (no operator runs here); Prometheus scrapes a small target whose
//! pod CPU the test sets, and sends to Debian `prometheus-alertmanager`, which calls a local HTTP
//! receiver (to read the alert as sent) and the platform's own `POST /webhook` with its bearer
//! token over TLS, as the Prometheus add-on configures it. The alert fires when the CPU crosses
//! the threshold, carrying the annotations notify reads, becomes a message request sent by mail
//! to a real SMTP server (Debian's aiosmtpd) and a Message in the receiver's inbox; then it
//! resolves, and the resolution arrives the same way.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{TcpListener, TcpStream},
    process::{Child, Command, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use serde_json::{Value, json};
use testkit::tke::{Tke, wait_for};

/// A child process killed on drop.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Reads one HTTP/1.1 request: its request line and body.
fn read_request(stream: &TcpStream) -> Option<(String, Vec<u8>)> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut length = 0usize;
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some((line, body))
}

fn respond(mut stream: TcpStream, content_type: &str, body: &str) {
    let _ = write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

/// Serves `handle` on a free loopback port, one request per connection, until the process ends.
fn serve(handle: impl Fn(String, Vec<u8>) -> (String, String) + Send + 'static) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            if let Some((line, body)) = read_request(&stream) {
                let (content_type, text) = handle(line, body);
                respond(stream, &content_type, &text);
            }
        }
    });
    port
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

#[test]
fn a_policys_alert_fires_and_resolves_through_prometheus_and_alertmanager() {
    let dir = tempfile::tempdir().expect("dir");
    // The scraped pod's CPU in millicores, set by the test.
    let cpu = Arc::new(AtomicU64::new(100));
    let c = cpu.clone();
    let target = serve(move |_, _| {
        let v = c.load(Ordering::SeqCst) as f64 / 1000.0;
        let text = format!(
            "# TYPE k8s_pod_cpu_core_used gauge\nk8s_pod_cpu_core_used{{namespace=\"shop\",workload_kind=\"Deployment\",workload_name=\"web\",pod=\"web-1\"}} {v}\n"
        );
        ("text/plain; version=0.0.4".into(), text)
    });
    // The receiver Alertmanager calls.
    let received: Arc<Mutex<Vec<Value>>> = Arc::default();
    let r = received.clone();
    let receiver = serve(move |_, body| {
        if let Ok(v) = serde_json::from_slice::<Value>(&body) {
            r.lock().expect("lock").push(v);
        }
        ("application/json".into(), "{}".into())
    });

    // The platform, a real SMTP server, and what a message needs: a mail channel, its template,
    // a receiver with an address.
    let t = Tke::start();
    let smtpd = testkit::smtpd::Smtpd::start();
    let smtp_port = smtpd.port();
    t.create(&json!({"apiVersion": "notify.tkestack.io/v1", "kind": "Channel", "metadata": {"name": "chn-mail"},
        "spec": {"displayName": "Mail", "smtp": {"smtpHost": "127.0.0.1", "smtpPort": smtp_port, "tls": false,
            "email": "alerts@example.org"}}}));
    t.create(&json!({"apiVersion": "notify.tkestack.io/v1", "kind": "Template",
        "metadata": {"name": "tpl-alert", "namespace": "chn-mail"},
        "spec": {"displayName": "Alert mail", "text": {
            "header": "[TKEStack alert] {{.alarmPolicyName}} {{.podName}}", "body": "{{.summary}}"}}}));
    t.create(&json!({"apiVersion": "notify.tkestack.io/v1", "kind": "Receiver", "metadata": {"name": "alice"},
        "spec": {"displayName": "Alice", "username": "alice", "identities": {"email": "alice@example.org"}}}));
    let token = notify::webhook_token(&t.data_dir()).expect("the webhook token");
    let ca = t.data_dir().join("pki").join("ca.crt");

    // Alertmanager: everything at once to the local receiver and to the platform, resolved
    // alerts too.
    let am_port = free_port();
    let am_config = dir.path().join("alertmanager.yml");
    std::fs::write(
        &am_config,
        format!(
            "route: {{receiver: local, group_by: [alarmPolicyName], group_wait: 1s, group_interval: 1s, repeat_interval: 1h}}\n\
             receivers:\n- name: local\n  webhook_configs:\n\
             \x20 - {{url: 'http://127.0.0.1:{receiver}/webhook', send_resolved: true}}\n\
             \x20 - {{url: '{}/webhook', send_resolved: true, http_config: {{authorization: {{credentials: '{token}'}}, tls_config: {{ca_file: '{}'}}}}}}\n",
            t.url,
            ca.display()
        ),
    )
    .expect("alertmanager config");
    let _am = Process(
        Command::new("prometheus-alertmanager")
            .arg(format!("--config.file={}", am_config.display()))
            .arg(format!("--storage.path={}", dir.path().join("am").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{am_port}"))
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("am.log")).expect("log"))
            .spawn()
            .expect("prometheus-alertmanager must be installed"),
    );

    // Prometheus, first without the policy.
    let rules = dir.path().join("policies.yaml");
    std::fs::write(&rules, "groups: []\n").expect("rules");
    let prom_port = free_port();
    let prom_config = dir.path().join("prometheus.yml");
    std::fs::write(
        &prom_config,
        format!(
            "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\n\
             rule_files: [{}]\n\
             alerting: {{alertmanagers: [{{static_configs: [{{targets: ['127.0.0.1:{am_port}']}}]}}]}}\n\
             scrape_configs:\n- job_name: pods\n  static_configs: [{{targets: ['127.0.0.1:{target}']}}]\n",
            rules.display()
        ),
    )
    .expect("prometheus config");
    let _prom = Process(
        Command::new("prometheus")
            .arg(format!("--config.file={}", prom_config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("prom").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .arg("--web.enable-lifecycle")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("prom.log")).expect("log"))
            .spawn()
            .expect("prometheus must be installed"),
    );
    let curl = |args: &[&str]| -> (u16, String) {
        let out =
            Command::new("curl").args(["-s", "-o", "-", "-w", "\n%{http_code}"]).args(args).output().expect("curl");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
        (code.trim().parse().unwrap_or(0), body.to_string())
    };
    let prom = format!("http://127.0.0.1:{prom_port}");
    wait_for("prometheus ready", Duration::from_secs(30), || {
        (curl(&[&format!("{prom}/-/ready")]).0 == 200).then_some(())
    });

    // The policy: a pod policy on the Deployment web of shop, CPU above 0.5 cores for 2 periods
    // of 1 s; its rule group as the monitor component stores it, synced into the rule file.
    let mut policy = monitor::alarm::examples::pod();
    let settings = policy.settings.as_mut().expect("settings");
    settings.name = "shop-web-cpu".into();
    settings.objects = "web".into();
    settings.statistics_period = 1;
    settings.metrics.truncate(1);
    settings.metrics[0].evaluator.value = "0.5".into();
    settings.metrics[0].continue_period = 2;
    let notify = policy.notify.as_mut().expect("notify settings");
    notify.receivers = vec!["alice".into()];
    notify.receiver_groups.clear();
    notify.notify_way =
        vec![monitor::alarm::policy::NotifyWay { channel: "chn-mail".into(), template: "tpl-alert".into() }];
    let group = monitor::alarm::rules::group_of(&policy);
    std::fs::write(&rules, serde_yaml_ng::to_string(&serde_json::json!({"groups": [group]})).expect("yaml"))
        .expect("sync the rule file");
    let (code, body) = curl(&["-X", "POST", &format!("{prom}/-/reload")]);
    assert_eq!(code, 200, "{body}");
    wait_for("the policy's rule loaded", Duration::from_secs(30), || {
        let (_, body) = curl(&[&format!("{prom}/api/v1/rules")]);
        body.contains("shop-web-cpu").then_some(())
    });

    // Below the threshold nothing fires; above it the alert reaches the receiver.
    cpu.store(900, Ordering::SeqCst);
    let firing = wait_for("the firing alert at the receiver", Duration::from_secs(60), || {
        received.lock().expect("lock").iter().find(|n| n["status"] == "firing").cloned()
    });
    let alert = &firing["alerts"][0];
    assert_eq!(alert["labels"]["alarmPolicyName"], "shop-web-cpu");
    assert_eq!(alert["labels"]["alertname"], "k8s_pod_cpu_core_used");
    assert_eq!(alert["labels"]["workload_name"], "web");
    assert_eq!(alert["annotations"]["notifyWay"], "chn-mail:tpl-alert");
    assert_eq!(alert["annotations"]["receivers"], "alice");
    assert_eq!(alert["annotations"]["value"], "0.9");
    assert_eq!(alert["annotations"]["alarmPolicyType"], "pod");

    // The platform turned it into a mail in alice's mailbox and a Message in her inbox.
    let mails = || smtpd.raw();
    let mail = wait_for("the alert's mail", Duration::from_secs(60), || mails().into_iter().next());
    assert!(mail.contains("alice@example.org"), "{mail}");
    assert!(mail.contains("[TKEStack alert] shop-web-cpu web-1"), "{mail}");
    let inbox = |status: &str| -> Option<Value> {
        let list = t.get_json(&["messages.notify.tkestack.io"])?;
        list["items"].as_array()?.iter().find(|m| m["status"]["alertStatus"] == status).cloned()
    };
    let message = wait_for("the firing alert in the inbox", Duration::from_secs(60), || inbox("firing"));
    assert_eq!(message["spec"]["receiverName"], "alice");
    assert_eq!(message["spec"]["alarmPolicyName"], "shop-web-cpu");
    assert_eq!(message["status"]["phase"], "Unread");

    // Back under the threshold: resolved.
    cpu.store(100, Ordering::SeqCst);
    let resolved = wait_for("the resolved alert at the receiver", Duration::from_secs(60), || {
        received.lock().expect("lock").iter().find(|n| n["status"] == "resolved").cloned()
    });
    assert_eq!(resolved["alerts"][0]["labels"]["alarmPolicyName"], "shop-web-cpu");
    assert_eq!(resolved["alerts"][0]["status"], "resolved");
    // Resolutions are sent too.
    wait_for("the resolution's mail", Duration::from_secs(60), || (mails().len() >= 2).then_some(()));
    wait_for("the resolution in the inbox", Duration::from_secs(60), || inbox("resolved"));
}
