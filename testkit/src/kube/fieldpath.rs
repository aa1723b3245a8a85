//! Field paths and field sets, the vocabulary of server-side apply's `managedFields`.
//!
//! A set holds one path per owned leaf and one per owned keyed-list member; it converts to
//! and from the `fieldsV1` trie (`f:name`, `k:{"name":"app"}`, `.`) the API server stores.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Step {
    /// A map key.
    Field(String),
    /// A member of a keyed list, by its key fields rendered as canonical JSON.
    Key(String),
}

/// A path from the object's root.
pub type Path = Vec<Step>;

/// A set of owned paths.
pub type FieldSet = BTreeSet<Path>;

/// The key fields of the keyed ("associative") lists of the kinds served, by field name.
/// Every other list is atomic: owned and replaced as a whole.
pub fn list_keys(field: &str, items: &[Value]) -> Option<&'static [&'static str]> {
    let keys: Option<&'static [&'static str]> = match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets" => Some(&["name"]),
        "volumeMounts" => Some(&["mountPath"]),
        "ports" => {
            if items.iter().any(|i| i.get("containerPort").is_some()) {
                Some(&["containerPort", "protocol"])
            } else {
                Some(&["port", "protocol"])
            }
        }
        "ownerReferences" => Some(&["uid"]),
        _ => None,
    };
    keys.filter(|_| items.iter().all(Value::is_object))
}

/// `{"name":"app"}` with sorted keys: the `k:` form for one list member.
pub fn key_of(item: &Value, keys: &[&str]) -> String {
    let mut sorted: Vec<&&str> = keys.iter().collect();
    sorted.sort();
    let parts: Vec<String> = sorted
        .iter()
        .filter_map(|k| {
            item.get(**k)
                .map(|v| format!("{}:{}", Value::String(k.to_string()), v))
        })
        .collect();
    format!("{{{}}}", parts.join(","))
}

/// Whether `item` is the list member named by a `k:` key.
pub fn matches_key(item: &Value, key: &str, keys: &[&str]) -> bool {
    key_of(item, keys) == key
}

/// The paths an object (or applied configuration) sets.
pub fn field_set(obj: &Value) -> FieldSet {
    let mut out = FieldSet::new();
    if let Some(map) = obj.as_object() {
        for (k, v) in map {
            match k.as_str() {
                "apiVersion" | "kind" | "status" => {}
                "metadata" => {
                    if let Some(meta) = v.as_object() {
                        for (mk, mv) in meta {
                            if matches!(
                                mk.as_str(),
                                "labels" | "annotations" | "finalizers" | "ownerReferences"
                            ) {
                                walk(&mut out, vec![Step::Field(k.clone())], mk, mv);
                            }
                        }
                    }
                }
                _ => walk(&mut out, Vec::new(), k, v),
            }
        }
    }
    out
}

/// Like [`field_set`] but for the `status` stanza alone (writes to `/status`).
pub fn status_field_set(obj: &Value) -> FieldSet {
    let mut out = FieldSet::new();
    if let Some(v) = obj.get("status") {
        walk(&mut out, Vec::new(), "status", v);
    }
    out
}

fn walk(out: &mut FieldSet, prefix: Path, field: &str, v: &Value) {
    let mut path = prefix;
    path.push(Step::Field(field.to_string()));
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, child) in m {
                walk(out, path.clone(), k, child);
            }
        }
        Value::Array(items) if !items.is_empty() => match list_keys(field, items) {
            Some(keys) => {
                for item in items {
                    let mut ip = path.clone();
                    ip.push(Step::Key(key_of(item, keys)));
                    out.insert(ip.clone());
                    if let Some(m) = item.as_object() {
                        for (k, child) in m {
                            walk(out, ip.clone(), k, child);
                        }
                    }
                }
            }
            None => {
                out.insert(path);
            }
        },
        _ => {
            out.insert(path);
        }
    }
}

/// The value at a path, if present.
pub fn value_at<'a>(obj: &'a Value, path: &[Step]) -> Option<&'a Value> {
    let mut cur = obj;
    let mut last_field = "";
    for step in path {
        match step {
            Step::Field(f) => {
                cur = cur.get(f)?;
                last_field = f;
            }
            Step::Key(k) => {
                let items = cur.as_array()?;
                let keys = list_keys(last_field, items)?;
                cur = items.iter().find(|i| matches_key(i, k, keys))?;
            }
        }
    }
    Some(cur)
}

/// Removes the value at a path (a map entry or a keyed-list member).
pub fn remove_at(obj: &mut Value, path: &[Step]) {
    let Some((last, parent)) = path.split_last() else {
        return;
    };
    let mut cur = obj;
    let mut last_field = String::new();
    for step in parent {
        match step {
            Step::Field(f) => {
                let Some(next) = cur.get_mut(f) else { return };
                cur = next;
                last_field = f.clone();
            }
            Step::Key(k) => {
                let Some(items) = cur.as_array_mut() else {
                    return;
                };
                let Some(keys) = list_keys(&last_field, items) else {
                    return;
                };
                let Some(next) = items.iter_mut().find(|i| matches_key(i, k, keys)) else {
                    return;
                };
                cur = next;
            }
        }
    }
    match last {
        Step::Field(f) => {
            if let Some(m) = cur.as_object_mut() {
                m.remove(f);
            }
        }
        Step::Key(k) => {
            if let Some(items) = cur.as_array_mut()
                && let Some(keys) = list_keys(&last_field, items)
            {
                items.retain(|i| !matches_key(i, k, keys));
            }
        }
    }
}

/// `.spec.template.spec.containers[name="app"].image`, the form used in conflict messages.
pub fn display(path: &[Step]) -> String {
    let mut s = String::new();
    for step in path {
        match step {
            Step::Field(f) => {
                s.push('.');
                s.push_str(f);
            }
            Step::Key(k) => {
                let inner: Value = serde_json::from_str(k).unwrap_or(Value::Null);
                let parts: Vec<String> = inner
                    .as_object()
                    .map(|m| m.iter().map(|(k, v)| format!("{k}={v}")).collect())
                    .unwrap_or_default();
                s.push_str(&format!("[{}]", parts.join(",")));
            }
        }
    }
    s
}

/// Renders a set as the `fieldsV1` trie.
pub fn to_fields_v1(set: &FieldSet) -> Value {
    let mut root = Map::new();
    for path in set {
        let mut cur = &mut root;
        for step in path {
            let key = match step {
                Step::Field(f) => format!("f:{f}"),
                Step::Key(k) => format!("k:{k}"),
            };
            cur = cur
                .entry(key)
                .or_insert_with(|| Value::Object(Map::new()))
                .as_object_mut()
                .expect("trie nodes are objects");
        }
    }
    // A member that also has children carries an explicit "." marker.
    fn mark(node: &mut Map<String, Value>, set: &FieldSet, path: &mut Path) {
        for (k, child) in node.iter_mut() {
            let step = if let Some(f) = k.strip_prefix("f:") {
                Step::Field(f.to_string())
            } else if let Some(key) = k.strip_prefix("k:") {
                Step::Key(key.to_string())
            } else {
                continue;
            };
            path.push(step);
            if let Some(m) = child.as_object_mut()
                && !m.is_empty()
            {
                mark(m, set, path);
                if set.contains(path) {
                    m.insert(".".into(), Value::Object(Map::new()));
                }
            }
            path.pop();
        }
    }
    mark(&mut root, set, &mut Vec::new());
    Value::Object(root)
}

/// Parses a `fieldsV1` trie back into a set.
pub fn from_fields_v1(v: &Value) -> FieldSet {
    fn go(node: &Value, path: &mut Path, out: &mut FieldSet) {
        let Some(m) = node.as_object() else { return };
        for (k, child) in m {
            if k == "." {
                out.insert(path.clone());
                continue;
            }
            let step = if let Some(f) = k.strip_prefix("f:") {
                Step::Field(f.to_string())
            } else if let Some(key) = k.strip_prefix("k:") {
                Step::Key(key.to_string())
            } else {
                continue;
            };
            path.push(step);
            if child.as_object().is_none_or(|c| c.is_empty()) {
                out.insert(path.clone());
            } else {
                go(child, path, out);
            }
            path.pop();
        }
    }
    let mut out = FieldSet::new();
    go(v, &mut Vec::new(), &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_v1_round_trips_with_keyed_members() {
        let obj = json!({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"x","labels":{"a":"b"}},
            "spec":{"replicas":2,"template":{"spec":{"containers":[{"name":"app","image":"i","ports":[{"containerPort":80,"protocol":"TCP"}]}]}}}});
        let set = field_set(&obj);
        let v1 = to_fields_v1(&set);
        let c = &v1["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"app\"}"];
        assert_eq!(c["."], json!({}));
        assert_eq!(c["f:image"], json!({}));
        assert!(c["f:ports"]["k:{\"containerPort\":80,\"protocol\":\"TCP\"}"].is_object());
        assert_eq!(from_fields_v1(&v1), set);
        assert!(v1.get("f:apiVersion").is_none());
    }

    #[test]
    fn value_at_and_remove_at_follow_keys() {
        let mut obj =
            json!({"spec":{"containers":[{"name":"a","image":"1"},{"name":"b","image":"2"}]}});
        let p = vec![
            Step::Field("spec".into()),
            Step::Field("containers".into()),
            Step::Key("{\"name\":\"b\"}".into()),
        ];
        assert_eq!(
            value_at(&obj, &p).and_then(|c| c.get("image")),
            Some(&json!("2"))
        );
        remove_at(&mut obj, &p);
        assert_eq!(obj["spec"]["containers"].as_array().map(Vec::len), Some(1));
        assert_eq!(display(&p), ".spec.containers[name=\"b\"]");
    }
}
