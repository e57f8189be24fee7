//! Which keys a cache read or watch covers: everything under a prefix, one key, or the keys under
//! a prefix with one name (a `metadata.name` field selector on a watch across namespaces).
//!
//! A scope with a name lets the cache hand a watcher only the changes to that name (from its
//! history and from the live fan-out, through a channel of that name) instead of every change
//! under the prefix: a thousand watchers of one object each cost what one does.

/// The keys a cache read or watch covers; see the module documentation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyScope {
    /// Every key starting with the prefix.
    Prefix(String),
    /// Exactly this key.
    Key(String),
    /// The keys starting with `prefix` whose last `/`-separated segment is `name`.
    Named { prefix: String, name: String },
}

impl KeyScope {
    /// Whether `key` is in this scope.
    pub fn contains(&self, key: &str) -> bool {
        match self {
            KeyScope::Prefix(prefix) => key.starts_with(prefix.as_str()),
            KeyScope::Key(k) => key == k,
            KeyScope::Named { prefix, name } => key.starts_with(prefix.as_str()) && last_segment(key) == name,
        }
    }

    /// The prefix every key of this scope starts with.
    pub fn prefix(&self) -> &str {
        match self {
            KeyScope::Prefix(prefix) | KeyScope::Named { prefix, .. } => prefix,
            KeyScope::Key(key) => key,
        }
    }

    /// The name every key of this scope ends with, if the scope is narrowed to one.
    pub fn name(&self) -> Option<&str> {
        match self {
            KeyScope::Prefix(_) => None,
            KeyScope::Key(key) => Some(last_segment(key)),
            KeyScope::Named { name, .. } => Some(name),
        }
    }
}

impl From<&str> for KeyScope {
    fn from(prefix: &str) -> Self {
        KeyScope::Prefix(prefix.to_string())
    }
}

impl From<&String> for KeyScope {
    fn from(prefix: &String) -> Self {
        KeyScope::Prefix(prefix.clone())
    }
}

impl From<String> for KeyScope {
    fn from(prefix: String) -> Self {
        KeyScope::Prefix(prefix)
    }
}

/// The part of `key` after its last `/` (the object's name in Kubernetes' key layout).
pub(crate) fn last_segment(key: &str) -> &str {
    key.rsplit('/').next().unwrap_or(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_contain_their_keys_only() {
        let prefix = KeyScope::from("/r/pods/");
        assert!(prefix.contains("/r/pods/ns/a"));
        assert!(!prefix.contains("/r/podsx/a"));
        let key = KeyScope::Key("/r/pods/ns/a".into());
        assert!(key.contains("/r/pods/ns/a"));
        assert!(!key.contains("/r/pods/ns/ab"));
        assert_eq!(key.name(), Some("a"));
        let named = KeyScope::Named { prefix: "/r/pods/".into(), name: "a".into() };
        assert!(named.contains("/r/pods/ns1/a"));
        assert!(named.contains("/r/pods/ns2/a"));
        assert!(!named.contains("/r/pods/ns1/ba"));
        assert!(!named.contains("/r/pods/a/b"));
        assert!(!named.contains("/r/other/ns/a"));
        assert_eq!(named.prefix(), "/r/pods/");
    }
}
