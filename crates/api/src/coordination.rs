//! `coordination.k8s.io/v1`: the Lease, served by the platform's API server so that controllers
//! with several replicas elect a leader against the platform itself, as they would against any
//! Kubernetes API server. The object is k8s-openapi's Lease, stored as Kubernetes stores it.

use apiserver::{Column, ResourceDef, Subresources, TypedStrategy, Verbs, resource::schema_of, typed};
use k8s_openapi::api::coordination::v1::Lease;

/// Leases carry no server-side behaviour beyond canonicalisation.
struct LeaseStrategy;
impl TypedStrategy<Lease> for LeaseStrategy {}

/// The resources of the group: the namespaced Lease.
pub fn resources() -> Vec<ResourceDef> {
    vec![ResourceDef {
        group: "coordination.k8s.io",
        version: "v1",
        kind: "Lease",
        plural: "leases",
        singular: "lease",
        short_names: &[],
        categories: &[],
        namespaced: true,
        verbs: Verbs::ALL,
        subresources: Subresources { status: false, finalize: false },
        columns: vec![Column::new("Holder", "string", ".spec.holderIdentity", "Who holds the lease."), Column::age()],
        field_selectors: &[],
        tenant_field: None,
        static_objects: None,
        schema: schema_of::<Lease>,
        strategy: typed::<Lease, _>(LeaseStrategy),
    }]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lease_is_namespaced_in_coordination_v1() {
        let defs = resources();
        assert_eq!(defs.len(), 1);
        assert_eq!(defs[0].api_version(), "coordination.k8s.io/v1");
        assert!(defs[0].namespaced);
    }
}
