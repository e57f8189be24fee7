//! CustomResourceDefinitions on a simulated cluster, as kube-rs clients and kubectl use them:
//! a CRD becomes Established, its custom objects can be created, listed, watched, printed with
//! their columns, scaled through `scale`; deleting the CRD removes them. And the `scale`
//! subresource of Deployments through kube-rs and `kubectl scale`.

use std::{path::Path, process::Command, time::Duration};

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::{
    Api, ResourceExt,
    api::{
        ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams, PostParams, WatchEvent,
        WatchParams,
    },
};
use kubesim::{SimCluster, SimOptions};
use serde_json::json;

const CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: crontabs.stable.example.com
spec:
  group: stable.example.com
  scope: Namespaced
  names:
    plural: crontabs
    singular: crontab
    kind: CronTab
    shortNames: [ct]
    categories: [all]
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
    subresources:
      status: {}
      scale:
        specReplicasPath: .spec.replicas
        statusReplicasPath: .status.replicas
        labelSelectorPath: .status.selector
    additionalPrinterColumns:
    - name: Spec
      type: string
      jsonPath: .spec.cronSpec
    - name: Replicas
      type: integer
      jsonPath: .spec.replicas
"#;

fn established(crd: &CustomResourceDefinition) -> bool {
    crd.status.as_ref().and_then(|s| s.conditions.as_ref()).is_some_and(|cs| {
        ["Established", "NamesAccepted"].iter().all(|t| cs.iter().any(|c| c.type_ == *t && c.status == "True"))
    })
}

fn crontab_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("stable.example.com", "v1", "CronTab"), "crontabs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_clients_use_custom_resources_after_applying_a_crd() {
    let cluster = SimCluster::start(SimOptions::default()).await.expect("the simulated cluster starts");
    let client = cluster.client();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd: CustomResourceDefinition = serde_yaml_ng::from_str(CRD).expect("CRD YAML");
    crds.patch("crontabs.stable.example.com", &PatchParams::apply("test"), &Patch::Apply(&crd))
        .await
        .expect("apply the CRD");
    let crd = testkit::wait_until("the CRD to be Established", Duration::from_secs(10), || {
        let crds = crds.clone();
        async move { crds.get("crontabs.stable.example.com").await.ok().filter(established) }
    })
    .await;
    let status = crd.status.expect("status");
    assert_eq!(status.accepted_names.expect("accepted names").short_names, Some(vec!["ct".to_string()]));
    assert_eq!(status.stored_versions, Some(vec!["v1".to_string()]));
    assert!(crd.metadata.finalizers.unwrap_or_default().contains(&kubesim::crds::CLEANUP_FINALIZER.to_string()));

    let ar = crontab_resource();
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &ar);
    // A watch from the start sees the object created below.
    let mut watch = api.watch(&WatchParams::default(), "0").await.expect("watch").boxed();
    let mut obj = DynamicObject::new("every-five", &ar);
    obj.data =
        json!({"spec": {"cronSpec": "*/5 * * * *", "image": "cron:1", "replicas": 1, "extra": {"kept": [1, 2]}}});
    let created = api.create(&PostParams::default(), &obj).await.expect("create a CronTab");
    assert_eq!(created.data["spec"]["extra"]["kept"], json!([1, 2]), "unknown fields are kept");
    let added = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match watch.next().await {
                Some(Ok(WatchEvent::Added(o))) => break o,
                Some(_) => continue,
                None => panic!("the watch ended"),
            }
        }
    })
    .await
    .expect("an Added event within 10s");
    assert_eq!(added.name_any(), "every-five");
    let listed = api.list(&ListParams::default()).await.expect("list");
    assert_eq!(listed.items.len(), 1);

    // Status subresource.
    api.patch_status(
        "every-five",
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"replicas": 1, "selector": "app=cron"}})),
    )
    .await
    .expect("status");
    // Scale subresource from the CRD's paths.
    let scale = api.get_scale("every-five").await.expect("get scale");
    assert_eq!(scale.spec.and_then(|s| s.replicas), Some(1));
    let status = scale.status.expect("scale status");
    assert_eq!((status.replicas, status.selector.as_deref()), (1, Some("app=cron")));
    let scaled = api
        .patch_scale("every-five", &PatchParams::default(), &Patch::Merge(json!({"spec": {"replicas": 4}})))
        .await
        .expect("patch scale");
    assert_eq!(scaled.spec.and_then(|s| s.replicas), Some(4));
    assert_eq!(api.get("every-five").await.expect("get").data["spec"]["replicas"], 4);

    // Deployments scale through kube-rs too.
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let deploy: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}
    }))
    .expect("deployment");
    deployments.create(&PostParams::default(), &deploy).await.expect("create deployment");
    let scale = deployments.get_scale("web").await.expect("deployment scale");
    assert_eq!(scale.status.and_then(|s| s.selector).as_deref(), Some("app=web"));
    deployments
        .patch_scale("web", &PatchParams::default(), &Patch::Merge(json!({"spec": {"replicas": 3}})))
        .await
        .expect("scale the deployment");
    testkit::wait_until("three available replicas", Duration::from_secs(30), || {
        let deployments = deployments.clone();
        async move {
            deployments
                .get("web")
                .await
                .ok()
                .filter(|d| d.status.as_ref().and_then(|s| s.available_replicas) == Some(3))
        }
    })
    .await;
    let bad =
        deployments.patch_scale("web", &PatchParams::default(), &Patch::Merge(json!({"spec": {"replicas": -1}}))).await;
    assert!(matches!(bad, Err(kube::Error::Api(ref s)) if s.code == 422), "{bad:?}");

    // Deleting the CRD deletes its objects and stops serving them.
    crds.delete("crontabs.stable.example.com", &Default::default()).await.expect("delete the CRD");
    testkit::wait_until("the CRD to be gone", Duration::from_secs(10), || {
        let crds = crds.clone();
        async move { crds.get_opt("crontabs.stable.example.com").await.ok().and_then(|o| o.is_none().then_some(())) }
    })
    .await;
    let gone = api.list(&ListParams::default()).await;
    assert!(matches!(gone, Err(kube::Error::Api(ref s)) if s.code == 404), "{gone:?}");
    let store = cluster.server().resource_store("stable.example.com", "v1", "crontabs");
    assert!(store.is_none());
    cluster.stop().await;
}

fn kubectl_binary() -> String {
    std::env::var("KUBECTL").unwrap_or_else(|_| "/usr/bin/kubectl".into())
}

/// Runs kubectl on a blocking thread with its own discovery cache; returns stdout, failing the
/// test with stderr when kubectl fails.
async fn kubectl(kubeconfig: &Path, args: &[&str]) -> String {
    let kubeconfig = kubeconfig.to_path_buf();
    let cache = kubeconfig.with_file_name("kubectl-cache");
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let out = Command::new(kubectl_binary())
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .arg("--cache-dir")
            .arg(&cache)
            .args(&args)
            .output()
            .expect("kubectl runs");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "kubectl {} failed: {}\n{stdout}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    })
    .await
    .expect("kubectl thread")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_applies_a_crd_and_manages_custom_objects_and_scales() {
    let cluster = SimCluster::start(SimOptions::default()).await.expect("the simulated cluster starts");
    let kc = cluster.kubeconfig_path();
    let dir = cluster.data_dir().to_path_buf();
    std::fs::write(dir.join("crd.yaml"), CRD).expect("write");
    kubectl(kc, &["apply", "-f", dir.join("crd.yaml").to_str().expect("path")]).await;
    kubectl(kc, &["wait", "--for=condition=Established", "crd/crontabs.stable.example.com", "--timeout=30s"]).await;

    std::fs::write(
        dir.join("ct.yaml"),
        "apiVersion: stable.example.com/v1\nkind: CronTab\nmetadata:\n  name: nightly\nspec:\n  cronSpec: \"0 3 * * *\"\n  replicas: 2\n",
    )
    .expect("write");
    kubectl(kc, &["apply", "-f", dir.join("ct.yaml").to_str().expect("path")]).await;
    let table = kubectl(kc, &["get", "ct"]).await;
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("NAME")
            && lines[0].contains("SPEC")
            && lines[0].contains("REPLICAS")
            && lines[0].contains("AGE"),
        "{table}"
    );
    assert!(lines[1].starts_with("nightly") && lines[1].contains("0 3 * * *") && lines[1].contains('2'), "{table}");
    // Re-applying a changed manifest patches it.
    std::fs::write(
        dir.join("ct.yaml"),
        "apiVersion: stable.example.com/v1\nkind: CronTab\nmetadata:\n  name: nightly\nspec:\n  cronSpec: \"0 4 * * *\"\n  replicas: 2\n",
    )
    .expect("write");
    kubectl(kc, &["apply", "-f", dir.join("ct.yaml").to_str().expect("path")]).await;
    let spec = kubectl(kc, &["get", "crontab", "nightly", "-o", "jsonpath={.spec.cronSpec}"]).await;
    assert_eq!(spec, "0 4 * * *");
    kubectl(kc, &["scale", "crontab", "nightly", "--replicas=5"]).await;
    let replicas =
        kubectl(kc, &["get", "crontabs.stable.example.com", "nightly", "-o", "jsonpath={.spec.replicas}"]).await;
    assert_eq!(replicas, "5");

    // `kubectl scale deployment` against the built-in scale subresource.
    let manifest = kubectl(
        kc,
        &["create", "deployment", "web", "--image=nginx", "--replicas=1", "--dry-run=client", "-o", "yaml"],
    )
    .await;
    std::fs::write(dir.join("web.yaml"), manifest).expect("write");
    kubectl(kc, &["create", "-f", dir.join("web.yaml").to_str().expect("path")]).await;
    kubectl(kc, &["scale", "deployment", "web", "--replicas=3"]).await;
    kubectl(kc, &["rollout", "status", "deployment/web", "--timeout=60s"]).await;
    let ready = kubectl(kc, &["get", "deploy", "web", "-o", "jsonpath={.status.availableReplicas}"]).await;
    assert_eq!(ready, "3");

    kubectl(kc, &["delete", "crd", "crontabs.stable.example.com", "--timeout=30s"]).await;
    cluster.stop().await;
}
