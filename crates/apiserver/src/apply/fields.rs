//! Field sets as Kubernetes records them in `managedFields[].fieldsV1`: a tree of path elements
//! (`f:spec`, and `k:`/`v:`/`i:` elements written by other API servers, kept opaque) whose nodes
//! may be members. A member node with children serialises with a `.` key, a member leaf as `{}`.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// One element of a field path, as written in FieldsV1 (`f:spec`).
pub type Element = String;
pub type Path = Vec<Element>;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSet {
    member: bool,
    children: BTreeMap<Element, FieldSet>,
}

/// The FieldsV1 element of an object field.
pub fn f(name: &str) -> Element {
    format!("f:{name}")
}

impl FieldSet {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn is_empty(&self) -> bool {
        !self.member && self.children.is_empty()
    }

    pub fn insert(&mut self, path: &[Element]) {
        match path.split_first() {
            None => self.member = true,
            Some((first, rest)) => self.children.entry(first.clone()).or_default().insert(rest),
        }
    }

    pub fn contains(&self, path: &[Element]) -> bool {
        match path.split_first() {
            None => self.member,
            Some((first, rest)) => self.children.get(first).is_some_and(|c| c.contains(rest)),
        }
    }

    /// Whether any member lies strictly below `path`.
    pub fn has_descendants(&self, path: &[Element]) -> bool {
        match path.split_first() {
            None => self.children.values().any(|c| !c.is_empty()),
            Some((first, rest)) => self.children.get(first).is_some_and(|c| c.has_descendants(rest)),
        }
    }

    /// Removes `path` and everything below it.
    pub fn remove_subtree(&mut self, path: &[Element]) {
        match path.split_first() {
            None => *self = Self::default(),
            Some((first, rest)) => {
                if let Some(child) = self.children.get_mut(first) {
                    child.remove_subtree(rest);
                    if child.is_empty() {
                        self.children.remove(first);
                    }
                }
            }
        }
    }

    /// Members of either set.
    pub fn union(&self, other: &FieldSet) -> FieldSet {
        let mut out = self.clone();
        out.member |= other.member;
        for (k, c) in &other.children {
            let merged = match out.children.get(k) {
                Some(mine) => mine.union(c),
                None => c.clone(),
            };
            out.children.insert(k.clone(), merged);
        }
        out
    }

    /// Members of `self` that are not members of `other` (membership only: a member of `other`
    /// does not remove what lies below it in `self`).
    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet { member: self.member && !other.member, children: BTreeMap::new() };
        for (k, c) in &self.children {
            let d = match other.children.get(k) {
                Some(o) => c.difference(o),
                None => c.clone(),
            };
            if !d.is_empty() {
                out.children.insert(k.clone(), d);
            }
        }
        out
    }

    /// Members of both sets.
    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet { member: self.member && other.member, children: BTreeMap::new() };
        for (k, c) in &self.children {
            if let Some(o) = other.children.get(k) {
                let i = c.intersection(o);
                if !i.is_empty() {
                    out.children.insert(k.clone(), i);
                }
            }
        }
        out
    }

    /// Every member path, parents before children, in FieldsV1 order.
    pub fn paths(&self) -> Vec<Path> {
        let mut out = Vec::new();
        self.collect(&mut Vec::new(), &mut out);
        out
    }

    fn collect(&self, prefix: &mut Path, out: &mut Vec<Path>) {
        if self.member {
            out.push(prefix.clone());
        }
        for (k, c) in &self.children {
            prefix.push(k.clone());
            c.collect(prefix, out);
            prefix.pop();
        }
    }

    /// Drops members whose field no longer exists in `obj`. Only `f:` elements can be followed
    /// in an object; elements of other kinds are kept while their parent exists.
    pub fn retain_existing(&mut self, obj: &Value) {
        self.retain_in(Some(obj));
    }

    fn retain_in(&mut self, value: Option<&Value>) {
        let Some(value) = value else {
            *self = Self::default();
            return;
        };
        self.children.retain(|k, c| {
            if let Some(name) = k.strip_prefix("f:") {
                c.retain_in(value.as_object().and_then(|m| m.get(name)));
            }
            !c.is_empty()
        });
    }

    /// The FieldsV1 JSON of this set.
    pub fn to_fields_v1(&self) -> Value {
        let mut m = Map::new();
        if self.member && !self.children.is_empty() {
            m.insert(".".into(), Value::Object(Map::new()));
        }
        for (k, c) in &self.children {
            m.insert(k.clone(), c.to_fields_v1());
        }
        Value::Object(m)
    }

    /// Reads FieldsV1 JSON; `None` when it is not a tree of objects.
    pub fn from_fields_v1(v: &Value) -> Option<FieldSet> {
        let mut set = Self::from_node(v)?;
        // The root is the object itself, never a member.
        set.member = false;
        Some(set)
    }

    fn from_node(v: &Value) -> Option<FieldSet> {
        let m = v.as_object()?;
        let mut set = FieldSet { member: m.is_empty(), children: BTreeMap::new() };
        for (k, c) in m {
            if k == "." {
                set.member = true;
            } else {
                let child = Self::from_node(c)?;
                set.children.insert(k.clone(), child);
            }
        }
        Some(set)
    }
}

/// A path as Kubernetes prints it in conflicts: `.spec.type`, `.spec.ports[port=80]`,
/// `.metadata.finalizers[="a"]`, `.spec.list[0]`.
pub fn display(path: &[Element]) -> String {
    let mut s = String::new();
    for e in path {
        if let Some(name) = e.strip_prefix("f:") {
            s.push('.');
            s.push_str(name);
        } else if let Some(key) = e.strip_prefix("k:") {
            match serde_json::from_str::<Map<String, Value>>(key) {
                Ok(fields) => {
                    let parts: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    s.push_str(&format!("[{}]", parts.join(",")));
                }
                Err(_) => s.push_str(&format!("[{key}]")),
            }
        } else if let Some(v) = e.strip_prefix("v:") {
            s.push_str(&format!("[={v}]"));
        } else if let Some(i) = e.strip_prefix("i:") {
            s.push_str(&format!("[{i}]"));
        } else {
            s.push_str(&format!(".{e}"));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(names: &[&str]) -> Path {
        names.iter().map(|n| f(n)).collect()
    }

    #[test]
    fn fields_v1_round_trip_with_dot_members() {
        let v = json!({"f:metadata": {"f:labels": {".": {}, "f:app": {}}}, "f:spec": {".": {}, "f:type": {}, "f:ports": {"k:{\"port\":80}": {".": {}, "f:port": {}}}}});
        let set = FieldSet::from_fields_v1(&v).unwrap();
        assert!(set.contains(&p(&["metadata", "labels"])));
        assert!(!set.contains(&p(&["metadata"])));
        assert!(set.contains(&p(&["spec", "type"])));
        assert_eq!(set.to_fields_v1(), v);
        assert!(FieldSet::from_fields_v1(&json!({"f:spec": 1})).is_none());
    }

    #[test]
    fn set_algebra() {
        let mut a = FieldSet::new();
        a.insert(&p(&["spec", "a"]));
        a.insert(&p(&["spec", "b"]));
        let mut b = FieldSet::new();
        b.insert(&p(&["spec", "b"]));
        b.insert(&p(&["spec", "c"]));
        assert_eq!(a.intersection(&b).paths(), vec![p(&["spec", "b"])]);
        assert_eq!(a.difference(&b).paths(), vec![p(&["spec", "a"])]);
        assert_eq!(a.union(&b).paths().len(), 3);
        a.remove_subtree(&p(&["spec"]));
        assert!(a.is_empty());
        assert!(b.has_descendants(&p(&["spec"])));
        assert!(!b.has_descendants(&p(&["spec", "b"])));
    }

    #[test]
    fn retain_existing_drops_vanished_fields() {
        let mut s = FieldSet::new();
        s.insert(&p(&["spec", "a"]));
        s.insert(&p(&["spec", "gone"]));
        s.insert(&p(&["spec", "list"]));
        s.retain_existing(&json!({"spec": {"a": 1, "list": []}}));
        assert_eq!(s.paths(), vec![p(&["spec", "a"]), p(&["spec", "list"])]);
    }

    #[test]
    fn paths_print_like_kubernetes() {
        assert_eq!(display(&p(&["spec", "type"])), ".spec.type");
        assert_eq!(
            display(&["f:spec".into(), "f:ports".into(), "k:{\"port\":80,\"protocol\":\"TCP\"}".into()]),
            ".spec.ports[port=80,protocol=\"TCP\"]"
        );
        assert_eq!(
            display(&["f:metadata".into(), "f:finalizers".into(), "v:\"a\"".into()]),
            ".metadata.finalizers[=\"a\"]"
        );
    }
}
