//! Kubernetes quantities (`500m`, `1.5`, `2Gi`, `1e3`) as exact integers, and the arithmetic
//! of resource lists (`{"cpu": "2", "requests.memory": "1Gi"}`, as in a ResourceQuota's `hard`)
//! that quotas need: sums, differences, per-key maxima and the keys where one list exceeds
//! another. Quantities are held in thousandths of their unit, so CPU millicores and memory bytes
//! both add up exactly. Keys are compared as written: `cpu` and `requests.cpu` are different
//! resources, as they are to Kubernetes' quota admission.

use std::collections::BTreeMap;

use crate::FieldError;

/// A resource list as written in objects: resource name to quantity.
pub type ResourceList = BTreeMap<String, String>;

/// A resource list parsed into thousandths of each resource's unit.
pub type Milli = BTreeMap<String, i128>;

/// A quantity that is not one, named by its key.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {value:?} is not a quantity (write a number with an optional suffix: 500m, 1.5, 2Gi, 512Mi, 1e3)")]
pub struct QuantityError {
    pub key: String,
    pub value: String,
}

impl QuantityError {
    /// The field error of the bad entry of the list at `path` (`spec.hard[cpu]`).
    pub fn field_error(&self, path: &str) -> FieldError {
        FieldError::invalid(
            format!("{path}[{}]", self.key),
            &self.value,
            "is not a quantity: write a number with an optional suffix (500m, 1.5, 2Gi, 512Mi, 1e3)",
        )
    }
}

/// A quantity in thousandths of its unit (so `500m` CPU and `1Gi` bytes both fit exactly);
/// `None` when it is not a quantity or too large to hold.
pub fn milli_units(q: &str) -> Option<i128> {
    let q = q.trim();
    let split = q.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+')).unwrap_or(q.len());
    let (num, suffix) = q.split_at(split);
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    let neg = int.starts_with('-');
    let digits = int.strip_prefix(['-', '+']).unwrap_or(int);
    if !digits.chars().all(|c| c.is_ascii_digit()) || !frac.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let int: i128 = match (digits.is_empty(), frac.is_empty()) {
        (true, true) => return None,
        (true, false) => 0,
        (false, _) => digits.parse().ok()?,
    };
    // Keep up to 9 fractional digits (nano) and scale at the end.
    let frac9: String = frac.chars().chain(std::iter::repeat('0')).take(9).collect();
    let frac9: i128 = frac9.parse().ok()?;
    let nanos = int.checked_mul(1_000_000_000)?.checked_add(frac9)?;
    let (mul, div): (i128, i128) = match suffix {
        "" => (1, 1),
        "m" => (1, 1000),
        "u" => (1, 1_000_000),
        "n" => (1, 1_000_000_000),
        "k" => (1000, 1),
        "M" => (1_000_000, 1),
        "G" => (1_000_000_000, 1),
        "T" => (1_000_000_000_000, 1),
        "P" => (1_000_000_000_000_000, 1),
        "E" => (1_000_000_000_000_000_000, 1),
        "Ki" => (1 << 10, 1),
        "Mi" => (1 << 20, 1),
        "Gi" => (1 << 30, 1),
        "Ti" => (1 << 40, 1),
        "Pi" => (1 << 50, 1),
        "Ei" => (1 << 60, 1),
        s if s.starts_with(['e', 'E']) => {
            let exp: u32 = s[1..].parse().ok()?;
            (10i128.checked_pow(exp)?, 1)
        }
        _ => return None,
    };
    // nanos * mul / div gives nano-units; milli = / 1e6.
    let v = nanos.checked_mul(mul)? / div / 1_000_000;
    Some(if neg { -v } else { v })
}

/// Formats thousandths back into a quantity: whole numbers plainly (with a binary suffix when
/// exact and large, as memory usually is), fractions in `m`.
pub fn format_milli(m: i128) -> String {
    if m % 1000 != 0 {
        return format!("{m}m");
    }
    let n = m / 1000;
    for (suffix, shift) in [("Ei", 60), ("Pi", 50), ("Ti", 40), ("Gi", 30), ("Mi", 20), ("Ki", 10)] {
        let unit = 1i128 << shift;
        if n != 0 && n % unit == 0 && n.abs() >= unit {
            return format!("{}{suffix}", n / unit);
        }
    }
    n.to_string()
}

/// Parses every quantity of a list.
pub fn parse(list: &ResourceList) -> Result<Milli, QuantityError> {
    list.iter()
        .map(|(k, v)| {
            milli_units(v).map(|m| (k.clone(), m)).ok_or_else(|| QuantityError { key: k.clone(), value: v.clone() })
        })
        .collect()
}

/// Formats a parsed list.
pub fn format(list: &Milli) -> ResourceList {
    list.iter().map(|(k, v)| (k.clone(), format_milli(*v))).collect()
}

/// `into += other`, key by key (keys of either).
pub fn add_into(into: &mut Milli, other: &Milli) {
    for (k, v) in other {
        let slot = into.entry(k.clone()).or_default();
        *slot = slot.saturating_add(*v);
    }
}

/// `into -= other`, key by key (keys of either; a key only in `other` becomes negative).
pub fn subtract_from(into: &mut Milli, other: &Milli) {
    for (k, v) in other {
        let slot = into.entry(k.clone()).or_default();
        *slot = slot.saturating_sub(*v);
    }
}

/// The larger of the two per key (keys of either).
pub fn max(a: &Milli, b: &Milli) -> Milli {
    let mut out = a.clone();
    for (k, v) in b {
        let slot = out.entry(k.clone()).or_insert(*v);
        *slot = (*slot).max(*v);
    }
    out
}

/// `a + b` of two written lists.
pub fn add(a: &ResourceList, b: &ResourceList) -> Result<ResourceList, QuantityError> {
    let mut sum = parse(a)?;
    add_into(&mut sum, &parse(b)?);
    Ok(format(&sum))
}

/// `a - b` of two written lists.
pub fn subtract(a: &ResourceList, b: &ResourceList) -> Result<ResourceList, QuantityError> {
    let mut diff = parse(a)?;
    subtract_from(&mut diff, &parse(b)?);
    Ok(format(&diff))
}

/// True when every entry is zero (or there are none).
pub fn is_zero(list: &Milli) -> bool {
    list.values().all(|v| *v == 0)
}

/// One resource where a list asks for more than a bound allows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Excess {
    pub key: String,
    /// What is asked, in thousandths.
    pub asked: i128,
    /// What the bound allows, in thousandths.
    pub allowed: i128,
}

/// The resources of `asked` that exceed `bound`, in key order. Only keys the bound names are
/// limited: a resource the bound does not mention is not bounded by it.
pub fn exceeding(asked: &Milli, bound: &Milli) -> Vec<Excess> {
    asked
        .iter()
        .filter_map(|(k, a)| {
            let allowed = *bound.get(k)?;
            (*a > allowed).then(|| Excess { key: k.clone(), asked: *a, allowed })
        })
        .collect()
}

/// Compares two written lists: the resources where `asked` exceeds `bound` (see [`exceeding`]).
pub fn compare(asked: &ResourceList, bound: &ResourceList) -> Result<Vec<Excess>, QuantityError> {
    Ok(exceeding(&parse(asked)?, &parse(bound)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(entries: &[(&str, &str)]) -> ResourceList {
        entries.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn quantities_parse_exactly() {
        assert_eq!(milli_units("4"), Some(4000));
        assert_eq!(milli_units("500m"), Some(500));
        assert_eq!(milli_units("1.5"), Some(1500));
        assert_eq!(milli_units(".5"), Some(500));
        assert_eq!(milli_units("-0.5"), Some(-500));
        assert_eq!(milli_units("8Gi"), Some(8 * 1024 * 1024 * 1024 * 1000));
        assert_eq!(milli_units("1k"), Some(1_000_000));
        assert_eq!(milli_units("1e3"), Some(1_000_000));
        for bad in ["12x", "", "-", ".", "1.2.3", "Gi", "1-2", "99999999999999999999999999999999999999Ei", "1e99"] {
            assert_eq!(milli_units(bad), None, "{bad}");
        }
    }

    #[test]
    fn quantities_format_back() {
        assert_eq!(format_milli(milli_units("8Gi").expect("q") * 3), "24Gi");
        assert_eq!(format_milli(8000 + 500), "8500m");
        assert_eq!(format_milli(110_000 * 2), "220");
        assert_eq!(format_milli(0), "0");
        assert_eq!(format_milli(-1500), "-1500m");
    }

    #[test]
    fn lists_add_and_subtract_per_key() {
        let a = list(&[("cpu", "500m"), ("memory", "1Gi")]);
        let b = list(&[("cpu", "1.5"), ("memory", "512Mi"), ("pods", "3")]);
        assert_eq!(add(&a, &b), Ok(list(&[("cpu", "2"), ("memory", "1536Mi"), ("pods", "3")])));
        assert_eq!(subtract(&b, &a), Ok(list(&[("cpu", "1"), ("memory", "-512Mi"), ("pods", "3")])));
        let m = max(&parse(&a).expect("a"), &parse(&list(&[("cpu", "100m"), ("pods", "1")])).expect("b"));
        assert_eq!(format(&m), list(&[("cpu", "500m"), ("memory", "1Gi"), ("pods", "1")]));
    }

    #[test]
    fn request_and_plain_keys_are_different_resources() {
        let a = list(&[("cpu", "1")]);
        let b = list(&[("requests.cpu", "1")]);
        assert_eq!(add(&a, &b), Ok(list(&[("cpu", "1"), ("requests.cpu", "1")])));
        // A bound on requests.cpu does not bound cpu.
        assert_eq!(compare(&list(&[("cpu", "5")]), &b), Ok(vec![]));
        assert_eq!(
            compare(&list(&[("requests.cpu", "1500m")]), &b),
            Ok(vec![Excess { key: "requests.cpu".into(), asked: 1500, allowed: 1000 }])
        );
    }

    #[test]
    fn comparing_finds_what_exceeds() {
        let bound = list(&[("cpu", "2"), ("memory", "1Gi")]);
        assert_eq!(compare(&list(&[("cpu", "2"), ("memory", "1Gi")]), &bound), Ok(vec![]));
        assert_eq!(
            compare(&list(&[("cpu", "2001m"), ("memory", "1Gi")]), &bound),
            Ok(vec![Excess { key: "cpu".into(), asked: 2001, allowed: 2000 }])
        );
        assert!(is_zero(&parse(&list(&[("cpu", "0"), ("memory", "0Gi")])).expect("zero")));
    }

    #[test]
    fn bad_quantities_name_their_key() {
        let e = add(&list(&[("cpu", "1")]), &list(&[("memory", "lots")])).expect_err("bad");
        assert_eq!(e, QuantityError { key: "memory".into(), value: "lots".into() });
        assert!(e.to_string().starts_with("memory: \"lots\" is not a quantity"), "{e}");
        let f = e.field_error("spec.hard");
        assert_eq!(f.field, "spec.hard[memory]");
    }
}
