//! The create/update/delete rules of clusters (`ClusterStrategy`): the tenant, names and
//! finalizer forced, the lifecycle started at `Initializing`, spec changes turned into
//! `Upgrading`/`Upscaling`/`Downscaling` (and refused outside `Running`), and a deleted cluster
//! kept `Terminating` until the controller clears `spec.finalizers`.

use apimachinery::{ApiError, FieldError};
use apiserver::{Context, TypedStrategy};

use super::super::common::{self, check_immutable};
use super::validation::{validate, version_numbers};
use super::{Cluster, ClusterMachine, ClusterStatus, DEFAULT_DNS_DOMAIN, FINALIZER, GENERATE_NAME, phase};

/// The create/update/delete rules of clusters (reference 2.1).
pub struct ClusterStrategy;

fn default_machine(m: &mut ClusterMachine) {
    if m.port.is_none() {
        m.port = Some(22);
    }
    if m.username.as_deref().unwrap_or("").is_empty() {
        m.username = Some("root".into());
    }
}

impl TypedStrategy<Cluster> for ClusterStrategy {
    /// Machines' SSH credentials: the controllers read them over the API; tenants never see them.
    fn administrators_only_fields(&self) -> &'static [&'static str] {
        &[
            "/spec/machines/*/password",
            "/spec/machines/*/privateKey",
            "/spec/machines/*/passPhrase",
            "/spec/machines/*/proxy/password",
            "/spec/machines/*/proxy/privateKey",
            "/spec/machines/*/proxy/passPhrase",
            "/spec/scalingMachines/*/password",
            "/spec/scalingMachines/*/privateKey",
            "/spec/scalingMachines/*/passPhrase",
            "/spec/scalingMachines/*/proxy/password",
            "/spec/scalingMachines/*/proxy/privateKey",
            "/spec/scalingMachines/*/proxy/passPhrase",
        ]
    }

    fn prepare_for_create(&self, ctx: &Context, c: &mut Cluster) -> Result<(), ApiError> {
        c.spec.tenant_id = Some(common::tenant_for_create(ctx, c.spec.tenant_id.as_deref()));
        common::default_generate_name(&mut c.metadata, GENERATE_NAME);
        c.spec.finalizers = Some(vec![FINALIZER.to_string()]);
        if c.spec.dns_domain.as_deref().unwrap_or("").is_empty() {
            c.spec.dns_domain = Some(DEFAULT_DNS_DOMAIN.into());
        }
        for m in c.spec.machines.iter_mut().flatten() {
            default_machine(m);
        }
        c.spec.scaling_machines = None;
        // The status belongs to the controller; only the API server addresses survive, because
        // an Imported cluster is created with them (they say where the cluster is).
        let addresses = c.status.take().and_then(|s| s.addresses);
        c.status = Some(ClusterStatus { phase: Some(phase::INITIALIZING.into()), addresses, ..Default::default() });
        Ok(())
    }

    fn validate(&self, _ctx: &Context, c: &Cluster) -> Vec<FieldError> {
        let mut errs = validate(c);
        // Creation-only rules: an imported cluster must say where its API server is; a
        // Baremetal one needs machines to install on.
        if c.spec.type_ == "Imported"
            && c.status.as_ref().and_then(|s| s.addresses.as_ref()).is_none_or(|a| a.is_empty())
        {
            errs.push(FieldError::required(
                "status.addresses",
                "an Imported cluster needs the address of its API server (type, host, port)",
            ));
        }
        if c.spec.type_ == "Baremetal" && c.spec.machines.as_ref().is_none_or(|m| m.is_empty()) {
            errs.push(FieldError::required("spec.machines", "a Baremetal cluster needs at least one master machine"));
        }
        errs
    }

    fn prepare_for_update(&self, _ctx: &Context, new: &mut Cluster, old: &Cluster) -> Result<(), ApiError> {
        // Status is written through /status, finalizers through /finalize.
        new.status = old.status.clone();
        new.spec.finalizers = old.spec.finalizers.clone();
        // The machines being added or removed are the server's record of a scaling in progress;
        // once it is over (the controller has set the phase back), the next update forgets them.
        let scaling = matches!(old.phase(), phase::UPSCALING | phase::DOWNSCALING);
        new.spec.scaling_machines = if scaling { old.spec.scaling_machines.clone() } else { None };
        for m in new.spec.machines.iter_mut().flatten() {
            default_machine(m);
            if let Some(o) = old.spec.machines.iter().flatten().find(|o| o.ip == m.ip) {
                m.keep_credentials_of(o);
            }
        }
        let old_version = old.spec.version.as_deref().unwrap_or("");
        let new_version = new.spec.version.as_deref().unwrap_or("");
        let status_version = old.status.as_ref().and_then(|s| s.version.as_deref()).unwrap_or("");
        if !old_version.is_empty() && new_version != old_version && new_version != status_version {
            new.status_mut().phase = Some(phase::UPGRADING.into());
        }
        let old_ips: Vec<&str> = old.spec.machines.iter().flatten().map(|m| m.ip.as_str()).collect();
        let new_ips: Vec<&str> = new.spec.machines.iter().flatten().map(|m| m.ip.as_str()).collect();
        let added: Vec<ClusterMachine> =
            new.spec.machines.iter().flatten().filter(|m| !old_ips.contains(&m.ip.as_str())).cloned().collect();
        let removed: Vec<ClusterMachine> =
            old.spec.machines.iter().flatten().filter(|m| !new_ips.contains(&m.ip.as_str())).cloned().collect();
        if !added.is_empty() && removed.is_empty() {
            new.status_mut().phase = Some(phase::UPSCALING.into());
            new.spec.scaling_machines = Some(added);
        } else if !removed.is_empty() && added.is_empty() {
            new.status_mut().phase = Some(phase::DOWNSCALING.into());
            new.spec.scaling_machines = Some(removed);
        }
        Ok(())
    }

    fn validate_update(&self, _ctx: &Context, new: &Cluster, old: &Cluster) -> Vec<FieldError> {
        let mut errs = validate(new);
        let (n, o) = (&new.spec, &old.spec);
        common::check_tenant_unchanged("spec.tenantID", n.tenant_id.as_deref(), o.tenant_id.as_deref(), &mut errs);
        check_immutable("spec.type", &n.type_, &o.type_, &mut errs);
        let s = |v: &Option<String>| v.clone().unwrap_or_default();
        check_immutable("spec.clusterCIDR", &s(&n.cluster_cidr), &s(&o.cluster_cidr), &mut errs);
        check_immutable("spec.serviceCIDR", &s(&n.service_cidr), &s(&o.service_cidr), &mut errs);
        check_immutable("spec.dnsDomain", &s(&n.dns_domain), &s(&o.dns_domain), &mut errs);

        let old_phase = old.phase();
        let (old_version, new_version) = (s(&o.version), s(&n.version));
        let observed = old.status.as_ref().and_then(|s| s.version.clone()).unwrap_or_default();
        // Setting spec.version to the version the cluster already runs is bookkeeping (e.g.
        // after an import detected it), not an upgrade.
        let upgrading = !old_version.is_empty() && new_version != old_version && new_version != observed;
        if upgrading {
            if old_phase != phase::RUNNING {
                errs.push(FieldError::forbidden(
                    "spec.version",
                    format!("the cluster can only be upgraded while Running (it is {})", phase_text(old_phase)),
                ));
            } else {
                let current = if observed.is_empty() { old_version } else { observed };
                if let Some(msg) = upgrade_problem(&current, &new_version) {
                    errs.push(FieldError::invalid("spec.version", &new_version, msg));
                }
            }
        }
        let ips = |m: &Option<Vec<ClusterMachine>>| m.iter().flatten().map(|m| m.ip.clone()).collect::<Vec<_>>();
        let (old_ips, new_ips) = (ips(&o.machines), ips(&n.machines));
        let mut sorted_old = old_ips.clone();
        let mut sorted_new = new_ips.clone();
        sorted_old.sort();
        sorted_new.sort();
        if sorted_old != sorted_new && !old_ips.is_empty() {
            let added = new_ips.iter().any(|ip| !old_ips.contains(ip));
            let removed = old_ips.iter().any(|ip| !new_ips.contains(ip));
            if old_phase != phase::RUNNING {
                errs.push(FieldError::forbidden(
                    "spec.machines",
                    format!(
                        "masters can only be added or removed while the cluster is Running (it is {})",
                        phase_text(old_phase)
                    ),
                ));
            } else if added && removed {
                errs.push(FieldError::forbidden("spec.machines", "add masters and remove masters in separate updates"));
            } else if upgrading {
                errs.push(FieldError::forbidden(
                    "spec.machines",
                    "do not scale and upgrade the cluster in the same update",
                ));
            } else if new_ips.is_empty() {
                errs.push(FieldError::forbidden(
                    "spec.machines",
                    "a cluster needs at least one master; delete the cluster instead",
                ));
            } else if new_ips.first() != old_ips.first() {
                // The first master initialised the cluster: its address is the API endpoint the
                // nodes and the credential use, and cluster-level hooks run on it.
                errs.push(FieldError::forbidden(
                    "spec.machines[0]",
                    format!("the first master {} holds the cluster's API endpoint and must stay first; add masters after it and remove only the others", old_ips[0]),
                ));
            }
        }
        errs
    }

    fn prepare_for_delete(&self, _ctx: &Context, c: &Cluster) -> Option<Cluster> {
        let mut kept = c.clone();
        kept.status_mut().phase = Some(phase::TERMINATING.into());
        Some(kept)
    }
}

fn phase_text(p: &str) -> &str {
    if p.is_empty() { "without a phase" } else { p }
}

/// Why upgrading from `current` to `target` is not allowed, if it is not.
fn upgrade_problem(current: &str, target: &str) -> Option<String> {
    let Some(t) = version_numbers(target) else {
        return Some("must be a Kubernetes version such as 1.21.4 or 1.21.4-tke.3".into());
    };
    let c = version_numbers(current)?;
    if t < c {
        return Some(format!("downgrading from {current} is not supported"));
    }
    if t.0 != c.0 || t.1 > c.1 + 1 {
        return Some(format!("upgrade one minor version at a time (the cluster runs {current})"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::common::test_ctx;
    use apimachinery::error::FieldErrorKind;
    use serde_json::{Value, json};

    fn cluster(v: Value) -> Cluster {
        serde_json::from_value(v).unwrap()
    }

    fn baremetal() -> Cluster {
        cluster(json!({
            "metadata": {"name": "cls-abc1"},
            "spec": {"type": "Baremetal", "version": "1.21.4-tke.3", "clusterCIDR": "10.244.0.0/16",
                     "machines": [{"ip": "10.0.0.1", "password": "cGFzcw=="}]}
        }))
    }

    fn running(mut c: Cluster) -> Cluster {
        ClusterStrategy.prepare_for_create(&test_ctx("t1", false), &mut c).unwrap();
        let s = c.status_mut();
        s.phase = Some(phase::RUNNING.into());
        s.version = Some("1.21.4-tke.3".into());
        c
    }

    fn fields(errs: &[FieldError]) -> Vec<&str> {
        errs.iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn create_sets_tenant_finalizer_defaults_and_phase() {
        let mut c = cluster(json!({
            "metadata": {},
            "spec": {"type": "Imported", "tenantID": "other", "finalizers": []},
            "status": {"phase": "Running", "version": "1.30.0", "addresses": [{"type": "Advertise", "host": "10.0.0.1", "port": 6443}]}
        }));
        ClusterStrategy.prepare_for_create(&test_ctx("t1", false), &mut c).unwrap();
        assert_eq!(c.spec.tenant_id.as_deref(), Some("t1"), "a non-admin cannot pick the tenant");
        assert_eq!(c.metadata["generateName"], "cls-");
        assert_eq!(c.spec.finalizers, Some(vec!["cluster".to_string()]));
        assert_eq!(c.spec.dns_domain.as_deref(), Some("cluster.local"));
        let status = c.status.as_ref().unwrap();
        assert_eq!(status.phase.as_deref(), Some("Initializing"));
        assert_eq!(status.version, None, "status is reset");
        assert_eq!(status.addresses.as_ref().map(Vec::len), Some(1), "addresses of an imported cluster are kept");

        let mut c = cluster(json!({"metadata": {"name": "cls-x"}, "spec": {"type": "Imported", "tenantID": "other"}}));
        ClusterStrategy.prepare_for_create(&test_ctx("t1", true), &mut c).unwrap();
        assert_eq!(c.spec.tenant_id.as_deref(), Some("other"), "an administrator may create for another tenant");
        assert!(c.metadata.get("generateName").is_none(), "a given name is kept");
    }

    #[test]
    fn create_defaults_ssh_port_and_user() {
        let mut c = baremetal();
        ClusterStrategy.prepare_for_create(&test_ctx("t1", false), &mut c).unwrap();
        let m = &c.spec.machines.as_ref().unwrap()[0];
        assert_eq!((m.port, m.username.as_deref()), (Some(22), Some("root")));
        assert!(ClusterStrategy.validate(&test_ctx("t1", false), &c).is_empty());
    }

    #[test]
    fn bad_names_are_rejected_not_rewritten() {
        let ctx = test_ctx("t1", false);
        for name in ["prod", "cls-Prod", "cls-a-b", "cls-"] {
            let mut c = baremetal();
            c.metadata = json!({"name": name});
            let errs = ClusterStrategy.validate(&ctx, &c);
            assert_eq!(fields(&errs), vec!["metadata.name"], "{name}");
            assert!(errs[0].detail.contains("\"global\" or \"cls-\""), "{}", errs[0].detail);
        }
        let mut c = baremetal();
        c.metadata = json!({"name": "global"});
        assert!(ClusterStrategy.validate(&ctx, &c).is_empty());
        // A generated name from a bad prefix names the prefix, not the random name.
        c.metadata = json!({"name": "prod-x7k2p", "generateName": "prod-"});
        assert_eq!(fields(&ClusterStrategy.validate(&ctx, &c)), vec!["metadata.generateName"]);
        c.metadata = json!({"name": "cls-x7k2p", "generateName": "cls-"});
        assert!(ClusterStrategy.validate(&ctx, &c).is_empty());
    }

    #[test]
    fn validation_names_each_bad_field() {
        let c = cluster(json!({
            "metadata": {"name": "cls-a"},
            "spec": {
                "type": "Cloud",
                "clusterCIDR": "10.244.0.0/16", "serviceCIDR": "10.244.128.0/17", "dnsDomain": "Bad_Domain",
                "machines": [{"ip": "10.0.0.300", "port": 70000, "password": "cGFzcw=="}, {"ip": "10.0.0.2"}, {"ip": "10.0.0.2", "privateKey": "!!"}],
                "properties": {"maxNodePodNum": 100, "maxClusterServiceNum": 100},
                "features": {"gpuType": "Magic", "hooks": {"OnBoot": "/x.sh"}, "ha": {"tke": {"vip": "vip", "vrid": 0}},
                             "upgrade": {"mode": "Sometimes", "strategy": {"maxUnready": "ten"}}}
            }
        }));
        let errs = ClusterStrategy.validate(&test_ctx("t1", false), &c);
        let f = fields(&errs);
        for expected in [
            "spec.type",
            "spec.serviceCIDR",
            "spec.dnsDomain",
            "spec.machines[0].ip",
            "spec.machines[0].port",
            "spec.machines[1].password",
            "spec.machines[2].ip",
            "spec.machines[2].privateKey",
            "spec.properties.maxNodePodNum",
            "spec.properties.maxClusterServiceNum",
            "spec.features.gpuType",
            "spec.features.hooks[OnBoot]",
            "spec.features.ha.tke.vip",
            "spec.features.ha.tke.vrid",
            "spec.features.upgrade.mode",
            "spec.features.upgrade.strategy.maxUnready",
        ] {
            assert!(f.contains(&expected), "missing {expected} in {f:?}");
        }
        let ty = errs.iter().find(|e| e.field == "spec.type").unwrap();
        assert_eq!(ty.kind, FieldErrorKind::NotSupported);
        assert!(ty.detail.contains("\"Baremetal\", \"Imported\", \"Edge\""));
        let dup = errs.iter().find(|e| e.field == "spec.machines[2].ip").unwrap();
        assert_eq!(dup.kind, FieldErrorKind::Duplicate);
        let cidr = errs.iter().find(|e| e.field == "spec.serviceCIDR").unwrap();
        assert!(cidr.detail.contains("overlaps spec.clusterCIDR"), "{}", cidr.detail);
    }

    #[test]
    fn creation_needs_type_specific_fields() {
        let ctx = test_ctx("t1", false);
        let c = cluster(json!({"metadata": {"name": "cls-a"}, "spec": {"type": "Imported"}}));
        assert_eq!(fields(&ClusterStrategy.validate(&ctx, &c)), vec!["status.addresses"]);
        let c = cluster(json!({"metadata": {"name": "cls-a"}, "spec": {"type": "Baremetal"}}));
        assert_eq!(fields(&ClusterStrategy.validate(&ctx, &c)), vec!["spec.machines"]);
        let c = cluster(json!({"metadata": {"name": "cls-a"}, "spec": {}}));
        let errs = ClusterStrategy.validate(&ctx, &c);
        assert_eq!(errs[0].field, "spec.type");
        assert_eq!(errs[0].kind, FieldErrorKind::Required);
        let c = cluster(json!({"metadata": {"name": "cls-a"}, "spec": {"type": "Imported"},
            "status": {"addresses": [{"type": "Nowhere", "host": "", "port": 0, "path": "api"}]}}));
        let f = ClusterStrategy.validate(&ctx, &c);
        assert_eq!(
            fields(&f),
            vec![
                "status.addresses[0].type",
                "status.addresses[0].host",
                "status.addresses[0].port",
                "status.addresses[0].path"
            ]
        );
    }

    #[test]
    fn update_keeps_status_and_finalizers_and_rejects_immutable_changes() {
        let ctx = test_ctx("t1", false);
        let old = running(baremetal());
        let mut new = old.clone();
        new.status = Some(ClusterStatus { phase: Some("Failed".into()), ..Default::default() });
        new.spec.finalizers = Some(vec![]);
        new.spec.type_ = "Imported".into();
        new.spec.tenant_id = Some("t2".into());
        new.spec.cluster_cidr = Some("10.100.0.0/16".into());
        ClusterStrategy.prepare_for_update(&ctx, &mut new, &old).unwrap();
        assert_eq!(new.phase(), "Running", "status changes only through /status");
        assert_eq!(new.spec.finalizers, old.spec.finalizers, "finalizers change only through /finalize");
        let errs = ClusterStrategy.validate_update(&ctx, &new, &old);
        assert_eq!(fields(&errs), vec!["spec.tenantID", "spec.type", "spec.clusterCIDR"]);
        assert!(errs[1].detail.contains("field is immutable"), "{}", errs[1].detail);
        assert_eq!(errs[0].kind, FieldErrorKind::Forbidden);
    }

    #[test]
    fn version_change_upgrades_a_running_cluster() {
        let ctx = test_ctx("t1", false);
        let old = running(baremetal());
        let mut new = old.clone();
        new.spec.version = Some("1.22.5".into());
        ClusterStrategy.prepare_for_update(&ctx, &mut new, &old).unwrap();
        assert_eq!(new.phase(), "Upgrading");
        assert!(ClusterStrategy.validate_update(&ctx, &new, &old).is_empty());

        for (target, why) in
            [("1.20.1", "downgrading"), ("1.23.0", "one minor version at a time"), ("latest", "Kubernetes version")]
        {
            let mut new = old.clone();
            new.spec.version = Some(target.into());
            ClusterStrategy.prepare_for_update(&ctx, &mut new, &old).unwrap();
            let errs = ClusterStrategy.validate_update(&ctx, &new, &old);
            assert!(errs.iter().any(|e| e.field == "spec.version" && e.detail.contains(why)), "{target}: {errs:?}");
        }

        let mut initializing = old.clone();
        initializing.status_mut().phase = Some("Initializing".into());
        let mut new = initializing.clone();
        new.spec.version = Some("1.22.5".into());
        ClusterStrategy.prepare_for_update(&ctx, &mut new, &initializing).unwrap();
        let errs = ClusterStrategy.validate_update(&ctx, &new, &initializing);
        assert_eq!(fields(&errs), vec!["spec.version"]);
        assert!(errs[0].detail.contains("only be upgraded while Running (it is Initializing)"));
    }

    #[test]
    fn syncing_spec_version_to_the_observed_version_is_not_an_upgrade() {
        let ctx = test_ctx("t1", false);
        let mut old = cluster(
            json!({"metadata": {"name": "cls-i1"}, "spec": {"type": "Imported", "version": "1.30.0"},
            "status": {"phase": "Initializing", "version": "1.30.2", "addresses": [{"type": "Real", "host": "h", "port": 443}]}}),
        );
        old.spec.tenant_id = Some("t1".into());
        let mut new = old.clone();
        new.spec.version = Some("1.30.2".into());
        ClusterStrategy.prepare_for_update(&ctx, &mut new, &old).unwrap();
        assert_eq!(new.phase(), "Initializing");
        assert!(ClusterStrategy.validate_update(&ctx, &new, &old).is_empty());
    }

    #[test]
    fn machine_changes_scale_up_and_down() {
        let ctx = test_ctx("t1", false);
        let old = running(baremetal());
        let mut up = old.clone();
        up.spec.machines.as_mut().unwrap().push(ClusterMachine {
            ip: "10.0.0.2".into(),
            password: Some("cGFzcw==".into()),
            ..Default::default()
        });
        ClusterStrategy.prepare_for_update(&ctx, &mut up, &old).unwrap();
        assert_eq!(up.phase(), "Upscaling");
        let scaling: Vec<&str> = up.spec.scaling_machines.iter().flatten().map(|m| m.ip.as_str()).collect();
        assert_eq!(scaling, vec!["10.0.0.2"]);
        assert!(ClusterStrategy.validate_update(&ctx, &up, &old).is_empty());

        let mut grown = running(baremetal());
        grown.spec.machines = up.spec.machines.clone();
        let mut down = grown.clone();
        down.spec.machines.as_mut().unwrap().remove(1);
        ClusterStrategy.prepare_for_update(&ctx, &mut down, &grown).unwrap();
        assert_eq!(down.phase(), "Downscaling");
        let scaling: Vec<&str> = down.spec.scaling_machines.iter().flatten().map(|m| m.ip.as_str()).collect();
        assert_eq!(scaling, vec!["10.0.0.2"]);
        assert!(ClusterStrategy.validate_update(&ctx, &down, &grown).is_empty());

        // The first master stays, and stays first.
        let mut headless = grown.clone();
        headless.spec.machines.as_mut().unwrap().remove(0);
        ClusterStrategy.prepare_for_update(&ctx, &mut headless, &grown).unwrap();
        let errs = ClusterStrategy.validate_update(&ctx, &headless, &grown);
        assert!(errs.iter().any(|e| e.field == "spec.machines[0]" && e.detail.contains("10.0.0.1")), "{errs:?}");
        let mut before = old.clone();
        before.spec.machines.as_mut().unwrap().insert(
            0,
            ClusterMachine { ip: "10.0.0.9".into(), password: Some("cGFzcw==".into()), ..Default::default() },
        );
        ClusterStrategy.prepare_for_update(&ctx, &mut before, &old).unwrap();
        assert!(ClusterStrategy.validate_update(&ctx, &before, &old).iter().any(|e| e.field == "spec.machines[0]"));

        // Once the scaling is over (Running again), the next update forgets the scaled machines.
        let mut done = up.clone();
        done.status_mut().phase = Some("Running".into());
        let mut next = done.clone();
        ClusterStrategy.prepare_for_update(&ctx, &mut next, &done).unwrap();
        assert_eq!(next.spec.scaling_machines, None);
        let mut during = up.clone();
        ClusterStrategy.prepare_for_update(&ctx, &mut during, &up).unwrap();
        assert_eq!(during.spec.scaling_machines, up.spec.scaling_machines, "kept while Upscaling");

        let mut empty = old.clone();
        empty.spec.machines = Some(vec![]);
        ClusterStrategy.prepare_for_update(&ctx, &mut empty, &old).unwrap();
        let errs = ClusterStrategy.validate_update(&ctx, &empty, &old);
        assert!(
            errs.iter().any(|e| e.field == "spec.machines" && e.detail.contains("at least one master")),
            "{errs:?}"
        );
    }

    #[test]
    fn delete_keeps_the_cluster_terminating() {
        let c = running(baremetal());
        let kept = ClusterStrategy.prepare_for_delete(&test_ctx("t1", false), &c).expect("kept until finalized");
        assert_eq!(kept.phase(), "Terminating");
        assert_eq!(kept.spec.finalizers, Some(vec!["cluster".to_string()]));
    }
}
