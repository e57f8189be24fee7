//! The CronHPA controller against a simulated cluster: the CRD is applied, a Deployment is
//! scaled by a cron firing every second and the status shows the last and next runs; invalid
//! schedules and time zones are reported in the `Valid` condition; a run missed while the
//! controller was down is still carried out within the starting deadline.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use cronhpa::{
    CronHPA, CronHPASpec, Options,
    types::{Cron, ScaleTargetRef},
};
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, PostParams};
use kubesim::{SimCluster, SimOptions};
use serde_json::json;

fn deployment(name: &str, replicas: i32) -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}
    }))
    .expect("deployment")
}

fn cronhpa(name: &str, target: &str, crons: Vec<(&str, i32)>, tz: Option<&str>) -> CronHPA {
    CronHPA::new(
        name,
        CronHPASpec {
            scale_target_ref: ScaleTargetRef {
                api_version: "apps/v1".into(),
                kind: "Deployment".into(),
                name: target.into(),
            },
            crons: crons.into_iter().map(|(s, r)| Cron { schedule: s.into(), target_replicas: r }).collect(),
            time_zone: tz.map(str::to_string),
            starting_deadline_seconds: None,
        },
    )
}

fn condition<'a>(
    hpa: &'a CronHPA,
    type_: &str,
) -> Option<&'a k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition> {
    hpa.status.as_ref()?.conditions.iter().find(|c| c.type_ == type_)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cron_firing_every_second_scales_a_deployment_and_reports_its_runs() {
    let cluster = SimCluster::start(SimOptions::default()).await.expect("the simulated cluster starts");
    let client = cluster.client();
    cronhpa::install_crd(&client, Duration::from_secs(30)).await.expect("the CRD is established");
    let controller = tokio::spawn(cronhpa::run(client.clone(), Options::default()));

    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    deployments.create(&PostParams::default(), &deployment("web", 1)).await.expect("deployment");
    let hpas: Api<CronHPA> = Api::namespaced(client.clone(), "default");
    hpas.create(&PostParams::default(), &cronhpa("web-up", "web", vec![("* * * * * *", 3)], Some("Asia/Shanghai")))
        .await
        .expect("cronhpa");

    testkit::wait_until("the deployment scaled to 3 and available", Duration::from_secs(30), || {
        let deployments = deployments.clone();
        async move {
            let d = deployments.get("web").await.ok()?;
            (d.spec.replicas == Some(3) && d.status.as_ref()?.available_replicas == Some(3)).then_some(())
        }
    })
    .await;
    let hpa = testkit::wait_until("the status with the last and next runs", Duration::from_secs(10), || {
        let hpas = hpas.clone();
        async move {
            hpas.get("web-up").await.ok().filter(|h| {
                h.status.as_ref().is_some_and(|s| {
                    s.crons.first().is_some_and(|c| c.last_schedule_time.is_some() && c.next_schedule_time.is_some())
                })
            })
        }
    })
    .await;
    let status = hpa.status.clone().expect("status");
    let last =
        DateTime::parse_from_rfc3339(status.crons[0].last_schedule_time.as_deref().expect("last")).expect("rfc3339");
    let next =
        DateTime::parse_from_rfc3339(status.crons[0].next_schedule_time.as_deref().expect("next")).expect("rfc3339");
    assert!(next > last, "{last} then {next}");
    assert_eq!(condition(&hpa, "Valid").map(|c| c.status.as_str()), Some("True"));
    assert_eq!(condition(&hpa, "Scaled").map(|c| c.status.as_str()), Some("True"), "{status:?}");
    assert!(condition(&hpa, "Scaled").is_some_and(|c| c.message.contains("Deployment web to 3")));

    // Invalid specs explain themselves.
    hpas.create(&PostParams::default(), &cronhpa("bad-cron", "web", vec![("61 * * * *", 2)], None))
        .await
        .expect("cronhpa");
    hpas.create(&PostParams::default(), &cronhpa("bad-zone", "web", vec![("0 * * * *", 2)], Some("Mars/Olympus")))
        .await
        .expect("cronhpa");
    for (name, reason, text) in [
        ("bad-cron", "InvalidSchedule", "invalid schedule \"61 * * * *\""),
        ("bad-zone", "UnknownTimeZone", "unknown time zone \"Mars/Olympus\""),
    ] {
        let hpa =
            testkit::wait_until("the Valid condition", Duration::from_secs(10), || {
                let hpas = hpas.clone();
                async move {
                    hpas.get(name).await.ok().filter(|h| condition(h, "Valid").is_some_and(|c| c.status == "False"))
                }
            })
            .await;
        let c = condition(&hpa, "Valid").expect("condition");
        assert_eq!(c.reason, reason);
        assert!(c.message.contains(text), "{}", c.message);
    }
    // A missing target is reported, not fatal.
    hpas.create(&PostParams::default(), &cronhpa("ghost", "nope", vec![("* * * * * *", 2)], None))
        .await
        .expect("cronhpa");
    let hpa =
        testkit::wait_until("the Scaled condition of a missing target", Duration::from_secs(10), || {
            let hpas = hpas.clone();
            async move {
                hpas.get("ghost").await.ok().filter(|h| condition(h, "Scaled").is_some_and(|c| c.status == "False"))
            }
        })
        .await;
    assert!(condition(&hpa, "Scaled").is_some_and(|c| c.message.contains("\"nope\" not found")), "{:?}", hpa.status);
    controller.abort();
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_missed_while_the_controller_was_down_happens_within_the_deadline() {
    let cluster = SimCluster::start(SimOptions::default()).await.expect("the simulated cluster starts");
    let client = cluster.client();
    cronhpa::install_crd(&client, Duration::from_secs(30)).await.expect("the CRD is established");
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    deployments.create(&PostParams::default(), &deployment("batch", 2)).await.expect("deployment");
    let hpas: Api<CronHPA> = Api::namespaced(client.clone(), "default");
    // Every day at 08:00 in Berlin; the controller starts with a clock ten seconds past the
    // next such run, as after a restart.
    let hpa = hpas
        .create(&PostParams::default(), &cronhpa("morning", "batch", vec![("0 8 * * *", 5)], Some("Europe/Berlin")))
        .await
        .expect("cronhpa");
    let created = hpa.metadata.creation_timestamp.as_ref().map(|t| t.0.as_second()).expect("created");
    let schedule = cronhpa::schedule::Schedule::parse("0 8 * * *", chrono_tz::Europe::Berlin).expect("schedule");
    let run_at = schedule.next_after(DateTime::<Utc>::from_timestamp(created, 0).expect("time")).expect("next run");
    let now = Arc::new(Mutex::new(run_at + chrono::Duration::seconds(10)));
    let clock_now = now.clone();
    let opts = Options { clock: Arc::new(move || *clock_now.lock().expect("clock")), ..Options::default() };
    let controller = tokio::spawn(cronhpa::run(client.clone(), opts));
    testkit::wait_until("the missed run carried out", Duration::from_secs(30), || {
        let deployments = deployments.clone();
        async move { deployments.get("batch").await.ok().filter(|d| d.spec.replicas == Some(5)).map(|_| ()) }
    })
    .await;
    let hpa = testkit::wait_until("the run recorded", Duration::from_secs(10), || {
        let hpas = hpas.clone();
        async move {
            hpas.get("morning").await.ok().filter(|h| h.status.as_ref().is_some_and(|s| s.last_schedule_time.is_some()))
        }
    })
    .await;
    let status = hpa.status.expect("status");
    assert_eq!(
        status.crons[0].last_schedule_time.as_deref(),
        Some(run_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true).as_str())
    );
    // Someone scales down by hand; the recorded run is not carried out again.
    deployments
        .patch_scale("batch", &Default::default(), &kube::api::Patch::Merge(json!({"spec": {"replicas": 1}})))
        .await
        .expect("scale by hand");
    // Any change of the object makes the controller reconcile it again.
    hpas.patch(
        "morning",
        &Default::default(),
        &kube::api::Patch::Merge(json!({"metadata": {"labels": {"touched": "yes"}}})),
    )
    .await
    .expect("touch");
    testkit::wait_until("labelled", Duration::from_secs(2), || {
        let hpas = hpas.clone();
        async move {
            let h = hpas.get("morning").await.expect("get");
            h.metadata.labels.as_ref().is_some_and(|l| l.contains_key("touched")).then_some(())
        }
    })
    .await;
    // Give the controller a chance to act wrongly: reconciles of the touched object finish
    // within a few hundred milliseconds.
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        let d = deployments.get("batch").await.expect("deployment");
        assert_eq!(d.spec.replicas, Some(1), "a recorded run was carried out twice");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    controller.abort();
    cluster.stop().await;
}
