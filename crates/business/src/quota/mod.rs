//! Project quotas that are never oversubscribed (reference 4.2, issue #15 item 2).
//!
//! A project's `spec.clusters[c].hard` bounds what its sub-projects (`spec.clusters[c].hard`)
//! and namespaces (`spec.hard`) take in cluster `c`; `status.clusters[c].used` is what they
//! take. The store's compare-and-swap is per key, so a namespace cannot be stored together with
//! its project's usage. Instead the [`admission`] first *reserves* the quota on the project
//! (a compare-and-swap of the project's status that adds an entry to `status.reservations` and
//! to `used`), refusing when it does not fit, and only then is the namespace stored. Concurrent
//! admissions serialise on the project's resourceVersion, so their sum never exceeds the quota.
//! A crash (or a failed write) between the two leaves only a reservation: the [`usage`]
//! controller recomputes `used` from the objects themselves plus the reservations still
//! pending, and drops those whose object landed or that are older than [`RESERVATION_TTL`].
//!
//! What one object takes in a cluster is the larger, per resource, of its stored quota and its
//! pending reservations there: raising a namespace's quota reserves the new quota, which
//! replaces (not adds to) the old one once the update lands.

pub mod admission;
pub mod usage;

use std::{collections::BTreeMap, time::Duration};

use api::business::project::Reservation;
use apimachinery::quantity::{self, Milli};
use chrono::{DateTime, Utc};

pub use admission::register;

/// How long a reservation whose object never appears keeps its quota.
pub const RESERVATION_TTL: Duration = Duration::from_secs(30);

/// `status.reservations[].object` of a namespace of the project.
pub fn namespace_ref(name: &str) -> String {
    format!("namespaces/{name}")
}

/// `status.reservations[].object` of a sub-project.
pub fn project_ref(name: &str) -> String {
    format!("projects/{name}")
}

/// What each child object takes: object reference → cluster → quota.
pub type Taken = BTreeMap<String, BTreeMap<String, Milli>>;

/// A reservation that still holds quota at `now`: made less than [`RESERVATION_TTL`] ago
/// (a time that cannot be read, or lies further in the future, holds nothing).
pub fn live(r: &Reservation, now: DateTime<Utc>) -> bool {
    let Ok(t) = DateTime::parse_from_rfc3339(&r.time) else {
        return false;
    };
    let ttl = chrono::Duration::from_std(RESERVATION_TTL).unwrap_or_default();
    let age = now.signed_duration_since(t.with_timezone(&Utc));
    age < ttl && age > -ttl
}

/// The quota of a reservation; `None` when it cannot be read (it then holds nothing).
pub fn reserved(r: &Reservation) -> Option<Milli> {
    quantity::parse(&r.hard).ok()
}

/// Parses a list, leaving out entries that are not quantities (those are refused on write;
/// an object stored before that rule holds only what can be read).
pub fn lenient(list: &BTreeMap<String, String>) -> Milli {
    list.iter().filter_map(|(k, v)| Some((k.clone(), quantity::milli_units(v)?))).collect()
}

/// What `object` takes in `cluster` as the project's status counts it now: the larger of
/// `stored` (its quota, if the project counts it) and its live reservations there.
pub fn counted(
    stored: Option<&Milli>,
    reservations: &[Reservation],
    object: &str,
    cluster: &str,
    now: DateTime<Utc>,
) -> Milli {
    reservations
        .iter()
        .filter(|r| r.object == object && r.cluster == cluster && live(r, now))
        .filter_map(reserved)
        .fold(stored.cloned().unwrap_or_default(), |acc, m| quantity::max(&acc, &m))
}

/// A project's usage as its children and reservations give it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Usage {
    /// Quota taken per cluster.
    pub clusters: BTreeMap<String, Milli>,
    /// The reservations that still hold quota: live, and their object not stored with the
    /// reserved quota yet.
    pub pending: Vec<Reservation>,
}

/// The usage of a project whose existing children take `children` and whose status holds
/// `reservations`.
pub fn usage(children: &Taken, reservations: &[Reservation], now: DateTime<Utc>) -> Usage {
    let pending: Vec<Reservation> = reservations
        .iter()
        .filter(|r| live(r, now))
        .filter(|r| match reserved(r) {
            None => false,
            Some(m) => children.get(&r.object).and_then(|c| c.get(&r.cluster)) != Some(&m),
        })
        .cloned()
        .collect();
    let mut taken: BTreeMap<(String, String), Milli> = BTreeMap::new();
    for (object, clusters) in children {
        for (cluster, m) in clusters {
            taken.insert((object.clone(), cluster.clone()), m.clone());
        }
    }
    for r in &pending {
        if let Some(m) = reserved(r) {
            let slot = taken.entry((r.object.clone(), r.cluster.clone())).or_default();
            *slot = quantity::max(slot, &m);
        }
    }
    let mut clusters: BTreeMap<String, Milli> = BTreeMap::new();
    for ((_, cluster), m) in taken {
        quantity::add_into(clusters.entry(cluster).or_default(), &m);
    }
    Usage { clusters, pending }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).expect("time")
    }

    fn res(object: &str, cluster: &str, cpu: &str, secs: i64) -> Reservation {
        Reservation {
            object: object.into(),
            cluster: cluster.into(),
            hard: [("cpu".to_string(), cpu.to_string())].into(),
            time: apimachinery::time::rfc3339(at(secs)),
        }
    }

    fn cpu(m: i128) -> Milli {
        [("cpu".to_string(), m)].into()
    }

    #[test]
    fn reservations_count_until_their_object_lands_or_they_expire() {
        let now = at(100);
        let mut children = Taken::new();
        children.insert("namespaces/a".into(), [("c1".to_string(), cpu(1000))].into());
        let reservations = vec![
            // Landed: the object is stored with the reserved quota.
            res("namespaces/a", "c1", "1", 95),
            // Pending: no object yet.
            res("namespaces/b", "c1", "2", 90),
            // Expired: a crash left it.
            res("namespaces/c", "c1", "4", 60),
            // Garbage time holds nothing.
            Reservation { time: "yesterday".into(), ..res("namespaces/d", "c1", "8", 0) },
        ];
        let u = usage(&children, &reservations, now);
        assert_eq!(u.clusters, [("c1".to_string(), cpu(3000))].into());
        assert_eq!(u.pending, vec![reservations[1].clone()]);
    }

    #[test]
    fn a_raise_replaces_the_old_quota_rather_than_adding_to_it() {
        let now = at(100);
        let mut children = Taken::new();
        children.insert("namespaces/a".into(), [("c1".to_string(), cpu(1000))].into());
        // The update to 3 CPUs is reserved but not stored yet: the object takes 3, not 4.
        let r = vec![res("namespaces/a", "c1", "3", 99)];
        let u = usage(&children, &r, now);
        assert_eq!(u.clusters["c1"], cpu(3000));
        assert_eq!(counted(Some(&cpu(1000)), &r, "namespaces/a", "c1", now), cpu(3000));
        assert_eq!(counted(Some(&cpu(1000)), &r, "namespaces/a", "c2", now), cpu(1000));
        assert_eq!(counted(None, &r, "namespaces/b", "c1", now), Milli::new());
    }

    #[test]
    fn sub_projects_count_in_every_cluster() {
        let now = at(0);
        let mut children = Taken::new();
        children.insert("projects/p".into(), [("c1".to_string(), cpu(500)), ("c2".to_string(), cpu(1500))].into());
        children.insert("namespaces/n".into(), [("c1".to_string(), cpu(1500))].into());
        let u = usage(&children, &[], now);
        assert_eq!(u.clusters, [("c1".to_string(), cpu(2000)), ("c2".to_string(), cpu(1500))].into());
    }
}
