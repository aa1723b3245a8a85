//! Field paths and field sets, the vocabulary of server-side apply's `managedFields`.
//!
//! A set holds one path per owned leaf and one per owned keyed-list member; it converts to
//! and from the `fieldsV1` trie (`f:name`, `k:{"name":"app"}`, `.`) the API server stores.

use std::collections::{BTreeSet, HashMap};

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
    let mut walk = Walk::default();
    walk.object(obj, Sides::default());
    walk.set
}

/// Like [`field_set`] but for the `status` stanza alone (writes to `/status`).
pub fn status_field_set(obj: &Value) -> FieldSet {
    let mut walk = Walk::default();
    walk.status(obj, Sides::default());
    walk.set
}

/// The paths `new` sets (all of `status` for a `/status` write, the rest otherwise), and
/// those of them whose value differs from `old`'s at the same path: what a non-apply
/// write takes ownership of. One walk over both objects gives what looking up every path
/// of the set in each object with [`value_at`] gives, without starting each lookup from
/// the root (those lookups were most of the managedFields bookkeeping in the benchmark).
pub fn set_and_changed(old: Option<&Value>, new: &Value, status: bool) -> (FieldSet, FieldSet) {
    let mut walk = Walk {
        changed: Some(FieldSet::new()),
        ..Walk::default()
    };
    let sides = Sides {
        old,
        new: Some(new),
    };
    if status {
        walk.status(new, sides);
    } else {
        walk.object(new, sides);
    }
    (walk.set, walk.changed.unwrap_or_default())
}

/// What [`value_at`] finds in each object at the path being walked. The `new` side is
/// the walked value itself except under a repeated key of a keyed list, where a lookup
/// finds the key's first member.
#[derive(Clone, Copy, Default)]
struct Sides<'a> {
    old: Option<&'a Value>,
    new: Option<&'a Value>,
}

impl<'a> Sides<'a> {
    fn child(self, key: &str) -> Self {
        Self {
            old: self.old.and_then(|v| v.get(key)),
            new: self.new.and_then(|v| v.get(key)),
        }
    }
}

/// Collects the paths of an object and, when `changed` is kept, those whose value
/// differs between the two [`Sides`]. A walk that keeps no `changed` starts with empty
/// sides ([`field_set`]), so it looks nothing up in them.
#[derive(Default)]
struct Walk {
    set: FieldSet,
    changed: Option<FieldSet>,
}

impl Walk {
    fn object(&mut self, obj: &Value, sides: Sides<'_>) {
        let Some(map) = obj.as_object() else { return };
        for (k, v) in map {
            match k.as_str() {
                "apiVersion" | "kind" | "status" => {}
                "metadata" => {
                    let Some(meta) = v.as_object() else { continue };
                    let meta_sides = sides.child(k);
                    for (mk, mv) in meta {
                        if matches!(
                            mk.as_str(),
                            "labels" | "annotations" | "finalizers" | "ownerReferences"
                        ) {
                            let child = meta_sides.child(mk);
                            self.walk(vec![Step::Field(k.clone())], mk, mv, child);
                        }
                    }
                }
                _ => {
                    let child = sides.child(k);
                    self.walk(Vec::new(), k, v, child);
                }
            }
        }
    }

    fn status(&mut self, obj: &Value, sides: Sides<'_>) {
        if let Some(v) = obj.get("status") {
            let child = sides.child("status");
            self.walk(Vec::new(), "status", v, child);
        }
    }

    fn walk(&mut self, prefix: Path, field: &str, v: &Value, sides: Sides<'_>) {
        let mut path = prefix;
        path.push(Step::Field(field.to_string()));
        match v {
            Value::Object(m) if !m.is_empty() => {
                for (k, child) in m {
                    let child_sides = sides.child(k);
                    self.walk(path.clone(), k, child, child_sides);
                }
            }
            Value::Array(items) if !items.is_empty() => match list_keys(field, items) {
                Some(keys) => {
                    let old_members = sides.old.map(|o| members(field, o));
                    let new_members = sides.new.map(|n| members(field, n));
                    for item in items {
                        let key = key_of(item, keys);
                        let item_sides = Sides {
                            old: old_members.as_ref().and_then(|m| m.get(&key).copied()),
                            new: new_members.as_ref().and_then(|m| m.get(&key).copied()),
                        };
                        let mut ip = path.clone();
                        ip.push(Step::Key(key));
                        if let Some(m) = item.as_object() {
                            for (k, child) in m {
                                let child_sides = item_sides.child(k);
                                self.walk(ip.clone(), k, child, child_sides);
                            }
                        }
                        self.leaf(ip, item_sides);
                    }
                }
                None => self.leaf(path, sides),
            },
            _ => self.leaf(path, sides),
        }
    }

    fn leaf(&mut self, path: Path, sides: Sides<'_>) {
        if let Some(changed) = &mut self.changed
            && sides.old != sides.new
        {
            changed.insert(path.clone());
        }
        self.set.insert(path);
    }
}

/// A keyed list's members by their `k:` key, as [`value_at`] finds them: keys chosen
/// from the list's own members, the first member of a repeated key.
fn members<'a>(field: &str, list: &'a Value) -> HashMap<String, &'a Value> {
    let mut out = HashMap::new();
    if let Some(items) = list.as_array()
        && let Some(keys) = list_keys(field, items)
    {
        for item in items {
            out.entry(key_of(item, keys)).or_insert(item);
        }
    }
    out
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

/// Whether a `fieldsV1` trie holds `path`, as the set [`from_fields_v1`] decodes from it
/// would: the path's node exists and is a leaf or carries the `.` marker. Asked without
/// decoding the trie.
pub fn trie_holds(trie: &Value, path: &[Step]) -> bool {
    let mut node = trie;
    let mut key = String::new();
    for step in path {
        key.clear();
        match step {
            Step::Field(f) => {
                key.push_str("f:");
                key.push_str(f);
            }
            Step::Key(k) => {
                key.push_str("k:");
                key.push_str(k);
            }
        }
        match node.as_object().and_then(|m| m.get(key.as_str())) {
            Some(child) => node = child,
            None => return false,
        }
    }
    !path.is_empty()
        && node
            .as_object()
            .is_none_or(|m| m.is_empty() || m.contains_key("."))
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

    /// What `set_and_changed` replaced: the set, then every path looked up in both.
    fn looked_up(old: Option<&Value>, new: &Value, status: bool) -> (FieldSet, FieldSet) {
        let set = if status {
            status_field_set(new)
        } else {
            field_set(new)
        };
        let changed = set
            .iter()
            .filter(|p| old.and_then(|o| value_at(o, p)) != value_at(new, p))
            .cloned()
            .collect();
        (set, changed)
    }

    #[test]
    fn one_walk_over_both_objects_finds_what_path_lookups_find() {
        let pod = json!({"apiVersion":"v1","kind":"Pod",
            "metadata":{"name":"p","labels":{"a":"1"},"ownerReferences":[{"uid":"u1","kind":"Job","name":"j"}]},
            "spec":{"containers":[{"name":"app","image":"i:1","ports":[{"containerPort":80,"protocol":"TCP"}],
                "env":[{"name":"A","value":"1"},{"name":"B","value":"2"}]}],
                "volumes":[],"nodeSelector":{},"args":["x","y"]},
            "status":{"phase":"Pending","conditions":[{"type":"Ready","status":"False"}]}});
        let variants: Vec<Value> = vec![
            pod.clone(),
            json!({"metadata":{"labels":{"a":"2","b":"3"}},"spec":{"containers":[{"name":"app","image":"i:2"}]}}),
            // Keyed members reordered, one changed, one repeated, one new.
            json!({"spec":{"containers":[{"name":"side","image":"s"},{"name":"app","image":"i:1",
                "ports":[{"containerPort":80,"protocol":"TCP"}],
                "env":[{"name":"B","value":"2"},{"name":"A","value":"9"},{"name":"A","value":"1"}]}]}}),
            // Types change under a path: object to scalar, scalar to object, list to atomic.
            json!({"spec":{"containers":"none","nodeSelector":{"zone":"a"},"args":{"x":1}}}),
            json!({"spec":{"containers":["app"],"volumes":[{"name":"v","emptyDir":{}}]}}),
            // The same list keyed differently (`port` instead of `containerPort`).
            json!({"spec":{"containers":[{"name":"app","ports":[{"port":80,"protocol":"TCP"}]}]}}),
            json!({"metadata":{"ownerReferences":[{"uid":"u2"},{"uid":"u1","kind":"Job","name":"k"}]},
                "status":{"phase":"Running","conditions":[{"type":"Ready","status":"True"}],"podIP":"10.0.0.1"}}),
            json!({"spec":{},"status":{}}),
            json!(null),
        ];
        for status in [false, true] {
            for new in &variants {
                assert_eq!(
                    set_and_changed(None, new, status),
                    looked_up(None, new, status),
                    "create of {new}"
                );
                for old in &variants {
                    assert_eq!(
                        set_and_changed(Some(old), new, status),
                        looked_up(Some(old), new, status),
                        "{old} → {new} (status: {status})"
                    );
                }
            }
        }
        let (set, changed) = set_and_changed(Some(&pod), &pod, false);
        assert!(!set.is_empty());
        assert!(changed.is_empty(), "an unchanged object changes nothing");
    }

    #[test]
    fn a_trie_holds_exactly_the_paths_its_set_decodes_to() {
        let obj = json!({"metadata":{"labels":{"a":"1"}},
            "spec":{"replicas":1,"template":{"spec":{"containers":[{"name":"app","image":"i",
                "ports":[{"containerPort":80,"protocol":"TCP"}]}],"volumes":[{"name":"v"}]}}},
            "status":{"conditions":[{"type":"Ready"}]}});
        let mut everything = field_set(&obj);
        everything.extend(status_field_set(&obj));
        // Prefixes of members (inner nodes) and paths nobody owns are asked too.
        let mut asked = everything.clone();
        for p in &everything {
            for n in 1..p.len() {
                asked.insert(p[..n].to_vec());
            }
            let mut longer = p.clone();
            longer.push(Step::Field("absent".into()));
            asked.insert(longer);
        }
        let image = |p: &Path| p.last() == Some(&Step::Field("image".into()));
        let subsets: Vec<FieldSet> = vec![
            everything.clone(),
            everything.iter().filter(|p| !image(p)).cloned().collect(),
            everything.iter().filter(|p| image(p)).cloned().collect(),
            status_field_set(&obj),
        ];
        for set in subsets {
            let trie = to_fields_v1(&set);
            for p in &asked {
                assert_eq!(trie_holds(&trie, p), set.contains(p), "{}", display(p));
            }
            assert!(!trie_holds(&trie, &[]));
        }
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
