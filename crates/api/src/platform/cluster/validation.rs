//! The field rules of a cluster, pure functions of the object (no server needed): name, type,
//! version, networks, machines and their SSH secrets, features and addresses, with the messages
//! users see in `Invalid` errors.

use apimachinery::FieldError;

use super::super::common::{
    CLUSTER_NAME_RULE, IntOrString, check_base64, check_cidr, check_ip, check_port, check_taints, cidrs_overlap,
    is_cluster_name, is_dns_subdomain, meta_str,
};
use super::{CLUSTER_TYPES, Cluster, ClusterAddress, ClusterFeature, ClusterMachine, ClusterSpec, HOOK_TYPES};

const MAX_NODE_POD_NUMS: &[i64] = &[16, 32, 64, 128, 256];
const GPU_TYPES: &[&str] = &["Physical", "Virtual"];
const CONTAINER_RUNTIMES: &[&str] = &["containerd", "docker"];
const UPGRADE_MODES: &[&str] = &["Auto", "Manual"];
const PROXY_TYPES: &[&str] = &["SSHJumpServer", "SOCKS5"];
const ADDRESS_TYPES: &[&str] = &["Public", "Advertise", "Real", "Internal", "Support"];

/// Parses the `major.minor.patch` numbers of a Kubernetes version (`v1.21.4-tke.3` → 1,21,4).
pub(super) fn version_numbers(v: &str) -> Option<(u64, u64, u64)> {
    let core = v.trim_start_matches('v').split(['-', '+']).next()?;
    let mut it = core.split('.').map(|p| p.parse::<u64>().ok());
    let major = it.next()??;
    let minor = it.next()??;
    let patch = it.next().unwrap_or(Some(0))?;
    Some((major, minor, patch))
}

/// The rules every cluster object must satisfy, on create and on update.
pub fn validate(c: &Cluster) -> Vec<FieldError> {
    let mut errs = vec![];
    validate_name(c, &mut errs);
    validate_spec(&c.spec, &mut errs);
    if let Some(status) = &c.status {
        validate_addresses(status.addresses.as_deref().unwrap_or(&[]), &mut errs);
    }
    errs
}

fn validate_name(c: &Cluster, errs: &mut Vec<FieldError>) {
    let generate = meta_str(&c.metadata, "generateName");
    let name = c.name();
    let generated = !generate.is_empty() && name.starts_with(generate) && name.len() > generate.len();
    if generated && !is_cluster_name(&format!("{generate}a")) {
        errs.push(FieldError::invalid(
            "metadata.generateName",
            generate,
            "must be \"cls-\" optionally followed by lowercase letters and digits, so that generated names are valid cluster names",
        ));
    } else if !name.is_empty() && !is_cluster_name(name) {
        errs.push(FieldError::invalid("metadata.name", name, CLUSTER_NAME_RULE));
    }
}

fn validate_spec(s: &ClusterSpec, errs: &mut Vec<FieldError>) {
    if s.type_.is_empty() {
        errs.push(FieldError::required("spec.type", "the provider of the cluster: Baremetal, Imported or Edge"));
    } else if !CLUSTER_TYPES.contains(&s.type_.as_str()) {
        errs.push(FieldError::not_supported("spec.type", &s.type_, CLUSTER_TYPES));
    }
    if let Some(v) = s.version.as_deref().filter(|v| !v.is_empty())
        && version_numbers(v).is_none()
    {
        errs.push(FieldError::invalid(
            "spec.version",
            v,
            "must be a Kubernetes version such as 1.21.4 or 1.21.4-tke.3",
        ));
    }
    let cluster =
        s.cluster_cidr.as_deref().filter(|v| !v.is_empty()).and_then(|v| check_cidr("spec.clusterCIDR", v, errs));
    let service =
        s.service_cidr.as_deref().filter(|v| !v.is_empty()).and_then(|v| check_cidr("spec.serviceCIDR", v, errs));
    if let (Some(a), Some(b)) = (cluster, service)
        && cidrs_overlap(a, b)
    {
        errs.push(FieldError::invalid(
            "spec.serviceCIDR",
            s.service_cidr.as_deref().unwrap_or(""),
            format!("overlaps spec.clusterCIDR {}", s.cluster_cidr.as_deref().unwrap_or("")),
        ));
    }
    if let Some(d) = s.dns_domain.as_deref()
        && !is_dns_subdomain(d)
    {
        errs.push(FieldError::invalid("spec.dnsDomain", d, "must be a DNS domain such as cluster.local"));
    }
    let mut seen = vec![];
    for (i, m) in s.machines.iter().flatten().enumerate() {
        let field = format!("spec.machines[{i}]");
        validate_machine(&field, m, errs);
        if !m.ip.is_empty() {
            if seen.contains(&m.ip) {
                errs.push(FieldError::duplicate(format!("{field}.ip"), &m.ip));
            }
            seen.push(m.ip.clone());
        }
    }
    if let Some(p) = &s.properties {
        if let Some(n) = p.max_node_pod_num
            && !MAX_NODE_POD_NUMS.contains(&n)
        {
            errs.push(FieldError::not_supported("spec.properties.maxNodePodNum", n, &["16", "32", "64", "128", "256"]));
        }
        if let Some(n) = p.max_cluster_service_num
            && !((32..=32768).contains(&n) && (n as u64).is_power_of_two())
        {
            errs.push(FieldError::invalid(
                "spec.properties.maxClusterServiceNum",
                n,
                "must be a power of two from 32 to 32768",
            ));
        }
    }
    if let Some(f) = &s.features {
        validate_features(f, errs);
    }
    if let Some(e) = &s.etcd {
        match (&e.local, &e.external) {
            (Some(_), Some(_)) => {
                errs.push(FieldError::forbidden("spec.etcd", "set either local or external, not both"))
            }
            (_, Some(x)) if x.endpoints.is_empty() => {
                errs.push(FieldError::required("spec.etcd.external.endpoints", "at least one etcd endpoint"))
            }
            _ => {}
        }
    }
    if let Some(r) = &s.cluster_credential_ref
        && r.name.as_deref().unwrap_or("").is_empty()
    {
        errs.push(FieldError::required("spec.clusterCredentialRef.name", ""));
    }
}

/// Checks an SSH target (`spec.machines[i]`, reused for Machine objects).
pub(crate) fn validate_machine(field: &str, m: &ClusterMachine, errs: &mut Vec<FieldError>) {
    check_ip(&format!("{field}.ip"), &m.ip, errs);
    if let Some(p) = m.port {
        check_port(&format!("{field}.port"), p, errs);
    }
    validate_ssh_secret(field, m.password.as_deref(), m.private_key.as_deref(), m.pass_phrase.as_deref(), errs);
    if let Some(t) = &m.taints {
        check_taints(&format!("{field}.taints"), t, errs);
    }
    if let Some(p) = &m.proxy {
        let f = format!("{field}.proxy");
        if !PROXY_TYPES.contains(&p.type_.as_str()) {
            errs.push(FieldError::not_supported(format!("{f}.type"), &p.type_, PROXY_TYPES));
        }
        check_ip(&format!("{f}.ip"), &p.ip, errs);
        if let Some(port) = p.port {
            check_port(&format!("{f}.port"), port, errs);
        }
        check_base64(&format!("{f}.password"), p.password.as_deref(), errs);
        check_base64(&format!("{f}.privateKey"), p.private_key.as_deref(), errs);
        check_base64(&format!("{f}.passPhrase"), p.pass_phrase.as_deref(), errs);
    }
}

/// Password or private key: one is needed to log in, and both travel base64-encoded.
pub(crate) fn validate_ssh_secret(
    field: &str,
    password: Option<&str>,
    key: Option<&str>,
    pass_phrase: Option<&str>,
    errs: &mut Vec<FieldError>,
) {
    let empty = |v: Option<&str>| v.is_none_or(str::is_empty);
    if empty(password) && empty(key) {
        errs.push(FieldError::required(
            format!("{field}.password"),
            "a password or a privateKey is required to log in over SSH",
        ));
    }
    check_base64(&format!("{field}.password"), password, errs);
    check_base64(&format!("{field}.privateKey"), key, errs);
    check_base64(&format!("{field}.passPhrase"), pass_phrase, errs);
}

fn validate_features(f: &ClusterFeature, errs: &mut Vec<FieldError>) {
    if let Some(g) = f.gpu_type.as_deref()
        && !g.is_empty()
        && !GPU_TYPES.contains(&g)
    {
        errs.push(FieldError::not_supported("spec.features.gpuType", g, GPU_TYPES));
    }
    if let Some(r) = f.container_runtime.as_deref()
        && !r.is_empty()
        && !CONTAINER_RUNTIMES.contains(&r)
    {
        errs.push(FieldError::not_supported("spec.features.containerRuntime", r, CONTAINER_RUNTIMES));
    }
    if let Some(m) = f.upgrade.as_ref().and_then(|u| u.mode.as_deref())
        && !m.is_empty()
        && !UPGRADE_MODES.contains(&m)
    {
        errs.push(FieldError::not_supported("spec.features.upgrade.mode", m, UPGRADE_MODES));
    }
    if let Some(IntOrString::String(s)) =
        f.upgrade.as_ref().and_then(|u| u.strategy.as_ref()).and_then(|s| s.max_unready.as_ref())
        && s.strip_suffix('%').is_none_or(|n| n.parse::<u32>().is_err())
    {
        errs.push(FieldError::invalid(
            "spec.features.upgrade.strategy.maxUnready",
            s,
            "must be a number or a percentage such as 25%",
        ));
    }
    for key in f.hooks.iter().flat_map(|h| h.keys()) {
        if !HOOK_TYPES.contains(&key.as_str()) {
            errs.push(FieldError::not_supported(format!("spec.features.hooks[{key}]"), key, HOOK_TYPES));
        }
    }
    for (i, file) in f.files.iter().flatten().enumerate() {
        if file.src.is_empty() {
            errs.push(FieldError::required(format!("spec.features.files[{i}].src"), ""));
        }
        if !file.dst.starts_with('/') {
            errs.push(FieldError::invalid(
                format!("spec.features.files[{i}].dst"),
                &file.dst,
                "must be an absolute path",
            ));
        }
    }
    if let Some(ha) = &f.ha {
        if ha.tke.is_some() && ha.third_party.is_some() {
            errs.push(FieldError::forbidden("spec.features.ha", "set either tke or thirdParty, not both"));
        }
        if let Some(t) = &ha.tke {
            check_ip("spec.features.ha.tke.vip", &t.vip, errs);
            if let Some(v) = t.vrid
                && !(1..=255).contains(&v)
            {
                errs.push(FieldError::invalid("spec.features.ha.tke.vrid", v, "must be between 1 and 255"));
            }
        }
        if let Some(t) = &ha.third_party {
            if t.vip.is_empty() {
                errs.push(FieldError::required("spec.features.ha.thirdParty.vip", ""));
            }
            if let Some(p) = t.vport {
                check_port("spec.features.ha.thirdParty.vport", p, errs);
            }
        }
    }
    if let Some(x) = f.authz_webhook_addr.as_ref().and_then(|a| a.external.as_ref()) {
        check_ip("spec.features.authzWebhookAddr.external.ip", &x.ip, errs);
        if let Some(p) = x.port {
            check_port("spec.features.authzWebhookAddr.external.port", p, errs);
        }
    }
}

fn validate_addresses(addresses: &[ClusterAddress], errs: &mut Vec<FieldError>) {
    for (i, a) in addresses.iter().enumerate() {
        let f = format!("status.addresses[{i}]");
        if !ADDRESS_TYPES.contains(&a.type_.as_str()) {
            errs.push(FieldError::not_supported(format!("{f}.type"), &a.type_, ADDRESS_TYPES));
        }
        if a.host.is_empty() {
            errs.push(FieldError::required(format!("{f}.host"), ""));
        }
        check_port(&format!("{f}.port"), a.port, errs);
        if let Some(p) = a.path.as_deref()
            && !p.is_empty()
            && !p.starts_with('/')
        {
            errs.push(FieldError::invalid(format!("{f}.path"), p, "must start with /"));
        }
    }
}
