//! The shell of a phase/condition controller (clusters, machines, and the components to come):
//! status written through the status subresource with the object's resourceVersion, so that
//! concurrent writers never lose updates, and per-object failure counts that set the back-off.

use std::{collections::HashMap, sync::Mutex, time::Duration};

use kube::{
    Api,
    api::{DynamicObject, PostParams},
};
use serde::{Serialize, de::DeserializeOwned};

/// Why a status write failed; the reconcile is retried with back-off.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error("{what} {name}: {source}")]
    Write { what: &'static str, name: String, source: kube::Error },
    #[error("{what} {name}: {source}")]
    Encode { what: &'static str, name: String, source: serde_json::Error },
}

/// Writes the status of objects of one resource and refreshes them from the stored answer.
pub struct StatusWriter<'a> {
    api: &'a Api<DynamicObject>,
    /// The kind in messages (`cluster`, `machine`).
    what: &'static str,
}

impl<'a> StatusWriter<'a> {
    pub fn new(api: &'a Api<DynamicObject>, what: &'static str) -> Self {
        StatusWriter { api, what }
    }

    /// Replaces the status of `obj` (named `name`) with its resourceVersion: a 409 when someone
    /// else wrote since it was read. `obj` becomes what the server stored.
    pub async fn write<T: Serialize + DeserializeOwned>(&self, name: &str, obj: &mut T) -> Result<(), StatusError> {
        let encode = |source| StatusError::Encode { what: self.what, name: name.to_string(), source };
        let body = serde_json::to_value(&*obj).map_err(encode)?;
        let stored = self
            .api
            .replace_subresource("status", name, &PostParams::default(), &body)
            .await
            .map_err(|source| StatusError::Write { what: self.what, name: name.to_string(), source })?;
        *obj = decode(&stored).map_err(encode)?;
        Ok(())
    }
}

/// A typed object from a dynamic one.
pub fn decode<T: DeserializeOwned>(obj: &DynamicObject) -> Result<T, serde_json::Error> {
    serde_json::from_value(serde_json::to_value(obj)?)
}

/// Consecutive failures per object (by uid), for the back-off of its next try.
#[derive(Default)]
pub struct Failures(Mutex<HashMap<String, u32>>);

impl Failures {
    /// Counts one more failure of `uid` and returns how long to wait before the next try.
    pub fn failed(&self, uid: &str) -> Duration {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = map.entry(uid.to_string()).or_default();
        *n += 1;
        crate::backoff(*n)
    }

    /// `uid` succeeded: its next failure starts the back-off again.
    pub fn succeeded(&self, uid: &str) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).remove(uid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_back_off_per_object_and_reset_on_success() {
        let f = Failures::default();
        assert_eq!(f.failed("a"), Duration::from_millis(500));
        assert_eq!(f.failed("a"), Duration::from_secs(1));
        assert_eq!(f.failed("b"), Duration::from_millis(500));
        f.succeeded("a");
        assert_eq!(f.failed("a"), Duration::from_millis(500));
    }
}
