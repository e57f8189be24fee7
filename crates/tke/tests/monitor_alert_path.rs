//! The alert path of an alarm policy with the real programs: the policy's rule group, rendered
//! as the monitor component stores it, is synced into Debian `prometheus`'s rule file and loaded
//! with `/-/reload`; Prometheus scrapes a small target whose pod CPU the test sets, and sends to
//! Debian `prometheus-alertmanager`, which routes to a local HTTP receiver: the alert fires when
//! the CPU crosses the threshold, carrying the annotations notify reads, and resolves when it
//! falls back.

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

use serde_json::Value;
use testkit::tke::wait_for;

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

    // Alertmanager: everything to the receiver at once, resolved alerts too.
    let am_port = free_port();
    let am_config = dir.path().join("alertmanager.yml");
    std::fs::write(
        &am_config,
        format!(
            "route: {{receiver: local, group_by: [alarmPolicyName], group_wait: 1s, group_interval: 1s, repeat_interval: 1h}}\n\
             receivers:\n- name: local\n  webhook_configs: [{{url: 'http://127.0.0.1:{receiver}/webhook', send_resolved: true}}]\n"
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
    assert_eq!(alert["annotations"]["notifyWay"], "email:alert-mail,hook:alert-text");
    assert_eq!(alert["annotations"]["receivers"], "alice,bob");
    assert_eq!(alert["annotations"]["value"], "0.9");
    assert_eq!(alert["annotations"]["alarmPolicyType"], "pod");

    // Back under the threshold: resolved.
    cpu.store(100, Ordering::SeqCst);
    let resolved = wait_for("the resolved alert at the receiver", Duration::from_secs(60), || {
        received.lock().expect("lock").iter().find(|n| n["status"] == "resolved").cloned()
    });
    assert_eq!(resolved["alerts"][0]["labels"]["alarmPolicyName"], "shop-web-cpu");
    assert_eq!(resolved["alerts"][0]["status"], "resolved");
}
