//! kubectl's imperative commands against the demo cluster of `tke up --demo`, reached through the
//! platform's proxy (`clusters/cls-demo/proxy`). kubectl's typed clients send the built-in kinds
//! in the Kubernetes protobuf encoding and ask for it back (watches and errors included), so
//! each command here goes through `apiserver::protobuf`; every result is read back as JSON.

use std::{
    path::PathBuf,
    process::{Command, Output},
    time::Duration,
};

use serde_json::Value;
use testkit::tke::{Storage, Tke, tke_binary, wait_for};

const PROXY: &str = "/apis/platform.tkestack.io/v1/clusters/cls-demo/proxy";

/// `tke up --demo` and a kubeconfig whose server is the demo cluster behind the proxy.
struct Demo {
    tke: Tke,
    kubeconfig: PathBuf,
    cache: PathBuf,
}

impl Demo {
    fn start() -> Demo {
        let tke = Tke::start_with(tke_binary(), Storage::Embedded, &["--demo"]);
        let admin = std::fs::read_to_string(tke.kubeconfig()).expect("the admin kubeconfig");
        let mut config: serde_yaml_ng::Value = serde_yaml_ng::from_str(&admin).expect("kubeconfig YAML");
        let server = &mut config["clusters"][0]["cluster"]["server"];
        let url = format!("{}{PROXY}", server.as_str().expect("a server URL"));
        *server = serde_yaml_ng::Value::String(url);
        let kubeconfig = tke.data_dir().join("demo.kubeconfig");
        std::fs::write(&kubeconfig, serde_yaml_ng::to_string(&config).expect("YAML")).expect("write the kubeconfig");
        let cache = tke.data_dir().join("demo-kube-cache");
        Demo { tke, kubeconfig, cache }
    }

    fn kubectl(&self, args: &[&str]) -> Output {
        Command::new("kubectl")
            .env("KUBECONFIG", &self.kubeconfig)
            .arg("--cache-dir")
            .arg(&self.cache)
            .args(args)
            .output()
            .expect("kubectl must be installed")
    }

    /// Runs kubectl, failing the test (with its stderr and the server's log) unless it succeeds.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            out.status.success(),
            "kubectl {} failed ({}): {}\n{}\nserver log (end):\n{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout),
            tail(&self.tke.log()),
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `kubectl get <args> -o json`.
    fn get(&self, args: &[&str]) -> Value {
        let mut all = vec!["get"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["-o", "json"]);
        serde_json::from_str(&self.ok(&all)).expect("kubectl get -o json prints JSON")
    }

    fn rollout_status(&self) {
        let out = self.ok(&["rollout", "status", "deployment/web", "--timeout=60s"]);
        assert!(out.contains("successfully rolled out"), "{out}");
    }
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

#[test]
fn kubectl_imperative_commands_work_against_the_demo_cluster() {
    let demo = Demo::start();
    wait_for("the demo cluster's three nodes", Duration::from_secs(60), || {
        let out = demo.kubectl(&["get", "nodes", "-o", "json"]);
        let nodes: Value = serde_json::from_slice(&out.stdout).ok()?;
        (nodes["items"].as_array()?.len() == 3).then_some(())
    });

    // create deployment: a protobuf Deployment in, a protobuf Deployment out.
    let out = demo.ok(&["create", "deployment", "web", "--image=nginx", "--replicas=2"]);
    assert_eq!(out.trim(), "deployment.apps/web created");
    let web = demo.get(&["deployment", "web"]);
    assert_eq!(web["spec"]["replicas"], 2, "{web}");
    assert_eq!(web["metadata"]["labels"]["app"], "web");
    assert_eq!(web["spec"]["selector"]["matchLabels"]["app"], "web");
    assert_eq!(web["spec"]["template"]["spec"]["containers"][0]["image"], "nginx");
    // What Go sends for fields it leaves unset does not show up as values.
    assert!(web["spec"].get("paused").is_none(), "{web}");
    assert!(web["spec"]["template"]["metadata"].get("creationTimestamp").is_none(), "{web}");
    demo.rollout_status();

    let out = demo.ok(&["create", "pdb", "web", "--selector=app=web", "--min-available=1"]);
    assert_eq!(out.trim(), "poddisruptionbudget.policy/web created");
    let pdb = demo.get(&["pdb", "web"]);
    assert_eq!(pdb["spec"]["minAvailable"], 1, "{pdb}");
    assert_eq!(pdb["spec"]["selector"]["matchLabels"]["app"], "web");

    assert_eq!(demo.ok(&["create", "configmap", "cfg", "--from-literal=a=1"]).trim(), "configmap/cfg created");
    assert_eq!(demo.get(&["configmap", "cfg"])["data"]["a"], "1");

    let out = demo.ok(&["create", "secret", "generic", "sec", "--from-literal=password=s3cret"]);
    assert_eq!(out.trim(), "secret/sec created");
    let secret = demo.get(&["secret", "sec"]);
    assert_eq!(secret["data"]["password"], "czNjcmV0", "base64 of s3cret: {secret}");
    assert_eq!(secret["type"], "Opaque");

    assert_eq!(demo.ok(&["create", "namespace", "team-a"]).trim(), "namespace/team-a created");
    assert_eq!(demo.get(&["namespace", "team-a"])["metadata"]["name"], "team-a");
    // An error comes back as a protobuf Status that kubectl reads.
    let again = demo.kubectl(&["create", "namespace", "team-a"]);
    assert!(!again.status.success());
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(err.contains("AlreadyExists") && err.contains("team-a"), "{err}");

    let out = demo.ok(&["create", "service", "clusterip", "svc1", "--tcp=80:8080"]);
    assert_eq!(out.trim(), "service/svc1 created");
    let svc = demo.get(&["service", "svc1"]);
    assert_eq!(svc["spec"]["type"], "ClusterIP", "{svc}");
    assert_eq!(svc["spec"]["ports"][0]["port"], 80);
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], 8080);
    assert!(svc["spec"]["clusterIP"].as_str().is_some_and(|ip| !ip.is_empty()), "{svc}");

    let out = demo.ok(&["create", "job", "hello", "--image=busybox", "--", "echo", "hi"]);
    assert_eq!(out.trim(), "job.batch/hello created");
    let job = demo.get(&["job", "hello"]);
    assert_eq!(job["spec"]["template"]["spec"]["containers"][0]["command"], serde_json::json!(["echo", "hi"]));
    assert_eq!(job["spec"]["template"]["spec"]["restartPolicy"], "Never");

    let out = demo.ok(&["create", "cronjob", "tick", "--image=busybox", "--schedule=*/5 * * * *", "--", "date"]);
    assert_eq!(out.trim(), "cronjob.batch/tick created");
    let cronjob = demo.get(&["cronjob", "tick"]);
    assert_eq!(cronjob["spec"]["schedule"], "*/5 * * * *");
    assert_eq!(cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["command"][0], "date");

    assert_eq!(demo.ok(&["scale", "deployment", "web", "--replicas=3"]).trim(), "deployment.apps/web scaled");
    assert_eq!(demo.get(&["deployment", "web"])["spec"]["replicas"], 3);
    demo.rollout_status();
    assert_eq!(demo.get(&["deployment", "web"])["status"]["readyReplicas"], 3);

    let out = demo.ok(&["expose", "deployment", "web", "--port=80", "--target-port=8080"]);
    assert_eq!(out.trim(), "service/web exposed");
    let exposed = demo.get(&["service", "web"]);
    assert_eq!(exposed["spec"]["selector"]["app"], "web", "{exposed}");
    assert_eq!(exposed["spec"]["ports"][0]["port"], 80);
    assert_eq!(exposed["spec"]["ports"][0]["targetPort"], 8080);

    let image =
        |demo: &Demo| demo.get(&["deployment", "web"])["spec"]["template"]["spec"]["containers"][0]["image"].clone();
    let out = demo.ok(&["set", "image", "deployment/web", "nginx=nginx:1.27"]);
    assert_eq!(out.trim(), "deployment.apps/web image updated");
    assert_eq!(image(&demo), "nginx:1.27");
    demo.rollout_status();

    // rollout undo reads the ReplicaSets (a protobuf list) to find the previous template.
    assert_eq!(demo.ok(&["rollout", "undo", "deployment/web"]).trim(), "deployment.apps/web rolled back");
    assert_eq!(image(&demo), "nginx");
    demo.rollout_status();

    assert_eq!(demo.ok(&["rollout", "restart", "deployment/web"]).trim(), "deployment.apps/web restarted");
    let web = demo.get(&["deployment", "web"]);
    assert!(
        web["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"].is_string(),
        "{web}"
    );
    demo.rollout_status();

    assert_eq!(demo.ok(&["label", "deployment", "web", "tier=front"]).trim(), "deployment.apps/web labeled");
    assert_eq!(demo.ok(&["annotate", "deployment", "web", "note=hello"]).trim(), "deployment.apps/web annotated");
    let web = demo.get(&["deployment", "web"]);
    assert_eq!(web["metadata"]["labels"]["tier"], "front", "{web}");
    assert_eq!(web["metadata"]["annotations"]["note"], "hello", "{web}");

    assert_eq!(demo.ok(&["cordon", "kwok-node-0"]).trim(), "node/kwok-node-0 cordoned");
    assert_eq!(demo.get(&["node", "kwok-node-0"])["spec"]["unschedulable"], true);

    // drain lists the node's pods and evicts each (a protobuf Eviction), respecting the budget.
    let out = demo.ok(&["drain", "kwok-node-0", "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=60s"]);
    assert!(out.contains("node/kwok-node-0 drained"), "{out}");
    let left = demo.get(&["pods", "-A", "--field-selector=spec.nodeName=kwok-node-0"]);
    assert_eq!(left["items"].as_array().map(Vec::len), Some(0), "{left}");
    demo.rollout_status();
    let pods = demo.get(&["pods", "-l", "app=web"]);
    let nodes: Vec<&str> =
        pods["items"].as_array().into_iter().flatten().filter_map(|p| p["spec"]["nodeName"].as_str()).collect();
    assert!(nodes.len() >= 3 && !nodes.contains(&"kwok-node-0"), "{nodes:?}");

    // logs: the simulated container's made-up log; -f follows it until the pod goes.
    let pod = pods["items"][0]["metadata"]["name"].as_str().expect("a pod name").to_string();
    let out = demo.ok(&["logs", &pod]);
    assert!(out.contains("simulated container nginx"), "{out}");
    let out = demo.ok(&["logs", "deployment/web", "--timestamps"]);
    assert!(out.split_whitespace().next().is_some_and(|t| t.ends_with('Z')), "{out}");
    let err = demo.kubectl(&["logs", &pod, "-c", "nope"]);
    let stderr = String::from_utf8_lossy(&err.stderr);
    assert!(!err.status.success() && stderr.contains("container nope is not valid for pod"), "{stderr}");
    let mut follow = Command::new("kubectl")
        .env("KUBECONFIG", &demo.kubeconfig)
        .args(["--cache-dir", demo.cache.to_str().unwrap(), "logs", "-f", &pod])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("kubectl logs -f");
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(follow.stdout.take().unwrap()));
    let first = lines.next().expect("a first line").expect("text");
    let second = lines.next().expect("a followed line").expect("text");
    assert!(first.contains("started") && second.contains("still running"), "{first}\n{second}");
    demo.ok(&["delete", "pod", &pod, "--wait=false"]);
    // The followed log ends once the pod is being deleted, and kubectl with it.
    let status = follow.wait().expect("kubectl logs -f exits");
    assert!(status.success(), "{status}");
}
