//! Reading fields of JSON objects by dotted path (`spec.tenantID`, `metadata.name`), as field
//! selectors and printer columns address them.

use serde_json::Value;

/// The value at a dotted path, if every step exists. A leading `.` is allowed (`.spec.ip`), and
/// a step may index an array (`status.addresses[0]`).
pub fn get<'a>(obj: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = obj;
    for step in path.trim_start_matches('.').split('.') {
        if step.is_empty() {
            continue;
        }
        let (name, index) = match step.find('[') {
            Some(i) if step.ends_with(']') => (&step[..i], step[i + 1..step.len() - 1].parse::<usize>().ok()),
            _ => (step, None),
        };
        if !name.is_empty() {
            cur = cur.get(name)?;
        }
        if let Some(i) = index {
            cur = cur.get(i)?;
        }
    }
    Some(cur)
}

/// The value at a path rendered as a field selector compares it: strings as they are, booleans
/// and numbers in their JSON form, absent or null as the empty string.
pub fn get_string(obj: &Value, path: &str) -> String {
    match get(obj, path) {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// Sets a dotted path (objects only), creating intermediate objects.
pub fn set(obj: &mut Value, path: &str, value: Value) {
    let mut cur = obj;
    let steps: Vec<&str> = path.trim_start_matches('.').split('.').filter(|s| !s.is_empty()).collect();
    for (i, step) in steps.iter().enumerate() {
        if !cur.is_object() {
            *cur = Value::Object(Default::default());
        }
        let map = cur.as_object_mut().expect("made an object above");
        if i == steps.len() - 1 {
            map.insert(step.to_string(), value);
            return;
        }
        cur = map.entry(step.to_string()).or_insert_with(|| Value::Object(Default::default()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_nested_and_indexed() {
        let v = json!({"spec": {"ip": "1.2.3.4", "m": [{"a": 1}]}, "status": {"locked": true}});
        assert_eq!(get_string(&v, "spec.ip"), "1.2.3.4");
        assert_eq!(get_string(&v, ".spec.m[0].a"), "1");
        assert_eq!(get_string(&v, "status.locked"), "true");
        assert_eq!(get_string(&v, "status.phase"), "");
    }

    #[test]
    fn sets_creating_parents() {
        let mut v = json!({});
        set(&mut v, "spec.tenantID", json!("t1"));
        assert_eq!(v, json!({"spec": {"tenantID": "t1"}}));
    }
}
