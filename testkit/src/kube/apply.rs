//! Server-side apply and `metadata.managedFields` bookkeeping.
//!
//! Each manager owns a set of field paths, per operation (`Apply` or `Update`). Applying a
//! value to a field another manager owns with a different value is a conflict unless
//! `force`; fields a manager applied before and now omits are removed when nobody else owns
//! them. Non-apply writes (create, update, patch) give the writer the fields it changed.

use serde_json::{Value, json};

use super::errors::Cause;
use super::fieldpath::{
    FieldSet, display, field_set, from_fields_v1, remove_at, set_and_changed, status_field_set,
    to_fields_v1, trie_holds, value_at,
};
use super::patch::apply_merge;

/// One `managedFields` entry.
#[derive(Debug, Clone)]
struct Entry {
    manager: String,
    operation: String,
    api_version: String,
    subresource: Option<String>,
    time: String,
    /// The owned paths; empty until [`Entry::parse`] while `parsed` is false.
    set: FieldSet,
    parsed: bool,
    /// The entry as stored, while nothing above changed: written back as it is instead
    /// of re-encoding the set (most writes change one manager's fields, and encoding
    /// every other set again was a tenth of the doubles' CPU in the benchmark).
    stored: Option<Value>,
}

impl Entry {
    /// Keeps the fields `keep` accepts; the stored form is stale once one is dropped.
    fn retain(&mut self, keep: impl FnMut(&super::fieldpath::Path) -> bool) {
        self.parse();
        let before = self.set.len();
        self.set.retain(keep);
        if self.set.len() != before {
            self.stored = None;
        }
    }

    /// Decodes the stored `fieldsV1` into the set, once.
    fn parse(&mut self) {
        if !self.parsed {
            self.parsed = true;
            if let Some(stored) = &self.stored {
                self.set = from_fields_v1(&stored["fieldsV1"]);
            }
        }
    }

    /// Whether the entry owns any of `paths`; an entry not decoded yet is asked in its
    /// stored trie, without decoding it.
    fn owns_any(&self, paths: &FieldSet) -> bool {
        match (&self.stored, self.parsed) {
            (Some(stored), false) => paths.iter().any(|p| trie_holds(&stored["fieldsV1"], p)),
            _ => paths.iter().any(|p| self.set.contains(p)),
        }
    }
}

/// Every entry of an object, each set decoded (apply compares them all).
fn read(obj: &Value) -> Vec<Entry> {
    let mut entries = read_lazily(obj);
    for e in &mut entries {
        e.parse();
    }
    entries
}

/// Every entry of an object, the sets left encoded until a write needs them: a status
/// write by a controller has no use for the spec owners' sets, the largest of a pod's.
fn read_lazily(obj: &Value) -> Vec<Entry> {
    obj["metadata"]["managedFields"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| {
                    let mut entry = Entry {
                        manager: e["manager"].as_str().unwrap_or("").to_string(),
                        operation: e["operation"].as_str().unwrap_or("Update").to_string(),
                        api_version: e["apiVersion"].as_str().unwrap_or("").to_string(),
                        subresource: e["subresource"].as_str().map(str::to_string),
                        time: e["time"].as_str().unwrap_or("").to_string(),
                        set: FieldSet::new(),
                        parsed: false,
                        stored: Some(e.clone()),
                    };
                    // An entry stored without fields is dropped on the next write, as
                    // the API server drops it: decoding says so.
                    if e["fieldsV1"].as_object().is_none_or(|m| m.is_empty()) {
                        entry.parse();
                    }
                    entry
                })
                .collect()
        })
        .unwrap_or_default()
}

fn write(obj: &mut Value, entries: Vec<Entry>) {
    let arr: Vec<Value> = entries
        .into_iter()
        .filter(|e| !e.parsed || !e.set.is_empty())
        .map(|e| {
            if let Some(stored) = e.stored {
                return stored;
            }
            let mut v = json!({
                "manager": e.manager,
                "operation": e.operation,
                "apiVersion": e.api_version,
                "time": e.time,
                "fieldsType": "FieldsV1",
                "fieldsV1": to_fields_v1(&e.set),
            });
            if let Some(s) = e.subresource {
                v["subresource"] = json!(s);
            }
            v
        })
        .collect();
    if arr.is_empty() {
        if let Some(m) = obj["metadata"].as_object_mut() {
            m.remove("managedFields");
        }
    } else {
        obj["metadata"]["managedFields"] = Value::Array(arr);
    }
}

/// Decodes an apply patch's body. The API server reads it as YAML, of which JSON is a
/// subset; `kube` and `kubectl` send JSON, which the JSON parser reads at a fraction of
/// the YAML parser's cost (the YAML parser was a tenth of the harness's CPU in the
/// 500-PR benchmark), so JSON is tried first and YAML only when that fails.
pub fn decode_patch(body: &[u8]) -> Result<Value, serde_yaml::Error> {
    serde_json::from_slice(body).or_else(|_| serde_yaml::from_slice(body))
}

fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn fields_for(obj: &Value, subresource: Option<&str>) -> FieldSet {
    if subresource == Some("status") {
        status_field_set(obj)
    } else {
        field_set(obj)
    }
}

/// Records a non-apply write: the writer takes the fields it added or changed, and
/// fields that disappeared are dropped from every manager.
pub fn record_update(
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    api_version: &str,
    subresource: Option<&str>,
) {
    let mut entries = old.map(read_lazily).unwrap_or_default();
    let (new_set, changed) = set_and_changed(old, new, subresource == Some("status"));
    let sub_matches = |e: &Entry| e.subresource.as_deref() == subresource;
    for e in entries.iter_mut() {
        // Fields removed by this write are owned by nobody any more.
        if sub_matches(e) {
            e.retain(|p| new_set.contains(p));
        }
        if e.owns_any(&changed) {
            e.retain(|p| !changed.contains(p));
        }
    }
    // An entry this write leaves alone is written back as stored, times included, as on
    // the API server (`Entry::stored`): a write that moves no field keeps them all.
    if !changed.is_empty() {
        match entries
            .iter_mut()
            .find(|e| e.manager == manager && e.operation == "Update" && sub_matches(e))
        {
            Some(e) => {
                e.parse();
                e.set.extend(changed);
                e.time = now();
                e.api_version = api_version.to_string();
                e.stored = None;
            }
            None => entries.push(Entry {
                manager: manager.to_string(),
                operation: "Update".into(),
                api_version: api_version.to_string(),
                subresource: subresource.map(str::to_string),
                time: now(),
                set: changed,
                parsed: true,
                stored: None,
            }),
        }
    }
    write(new, entries);
}

/// Merges `applied` into `live` (or into nothing, for a create) on behalf of `manager`.
/// Returns the new object with updated `managedFields`, or the conflicts.
pub fn apply(
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
    api_version: &str,
    subresource: Option<&str>,
) -> Result<Value, Vec<Cause>> {
    let mut entries = live.map(read).unwrap_or_default();
    let new_set = fields_for(applied, subresource);
    let empty = Value::Null;
    let live_v = live.unwrap_or(&empty);
    let is_mine = |e: &Entry| e.manager == manager && e.operation == "Apply";

    let mut conflicts = Vec::new();
    let mut forced = FieldSet::new();
    for e in entries.iter().filter(|e| !is_mine(e)) {
        for p in new_set.intersection(&e.set) {
            if matches!(p.last(), Some(super::fieldpath::Step::Key(_))) {
                continue; // list membership never conflicts; its fields might
            }
            if value_at(live_v, p) != value_at(applied, p) {
                if force {
                    forced.insert(p.clone());
                } else {
                    conflicts.push(Cause {
                        reason: "FieldManagerConflict".into(),
                        message: format!("conflict with \"{}\" using {}", e.manager, e.api_version),
                        field: display(p),
                    });
                }
            }
        }
    }
    if !conflicts.is_empty() {
        return Err(conflicts);
    }

    let previous: FieldSet = entries
        .iter()
        .find(|e| is_mine(e) && e.subresource.as_deref() == subresource)
        .map(|e| e.set.clone())
        .unwrap_or_default();
    let owned_by_others: FieldSet = entries
        .iter()
        .filter(|e| !is_mine(e))
        .flat_map(|e| e.set.iter().cloned())
        .collect();

    let mut result = live.cloned().unwrap_or_else(|| json!({}));
    // Deepest paths first, so members go before the lists that hold them.
    let mut removed: Vec<_> = previous
        .difference(&new_set)
        .filter(|p| !owned_by_others.contains(*p))
        .cloned()
        .collect();
    removed.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in &removed {
        remove_at(&mut result, p);
    }
    let mut applied_body = applied.clone();
    if let Some(m) = applied_body.as_object_mut() {
        // Identity comes from the URL and the live object, never from the applied body.
        if let Some(meta) = m.get_mut("metadata").and_then(Value::as_object_mut) {
            for k in [
                "resourceVersion",
                "uid",
                "creationTimestamp",
                "generation",
                "managedFields",
            ] {
                meta.remove(k);
            }
        }
    }
    apply_merge(&mut result, &applied_body);

    for e in entries.iter_mut().filter(|e| !is_mine(e)) {
        e.retain(|p| !forced.contains(p));
    }
    entries.retain(|e| !(is_mine(e) && e.subresource.as_deref() == subresource));
    entries.push(Entry {
        manager: manager.to_string(),
        operation: "Apply".into(),
        api_version: api_version.to_string(),
        subresource: subresource.map(str::to_string),
        time: now(),
        set: new_set,
        parsed: true,
        stored: None,
    });
    write(&mut result, entries);
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cm(data: Value) -> Value {
        json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","namespace":"n"},"data":data})
    }

    #[test]
    fn an_update_that_moves_no_field_keeps_the_entries_as_stored() {
        let mut first = cm(json!({"k": "1", "j": "2"}));
        record_update(None, &mut first, "alice", "v1", None);
        // An entry time the double would not write now: kept only if nothing is re-encoded.
        first["metadata"]["managedFields"][0]["time"] = json!("2020-01-01T00:00:00Z");
        let mut same = first.clone();
        same["metadata"]["managedFields"] = json!([]);
        record_update(Some(&first), &mut same, "bob", "v1", None);
        assert_eq!(
            same["metadata"]["managedFields"],
            first["metadata"]["managedFields"]
        );
        let mut fewer = cm(json!({"k": "1"}));
        record_update(Some(&first), &mut fewer, "bob", "v1", None);
        let mf = &fewer["metadata"]["managedFields"][0];
        assert_eq!(mf["manager"], "alice");
        assert!(mf["fieldsV1"]["f:data"].get("f:j").is_none(), "{mf}");
        assert!(mf["fieldsV1"]["f:data"].get("f:k").is_some(), "{mf}");
    }

    #[test]
    fn a_status_write_leaves_the_spec_owners_entry_as_stored_and_a_spec_write_moves_fields() {
        let pod = json!({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"n"},
            "spec":{"containers":[{"name":"app","image":"i:1"}]},"status":{"phase":"Pending"}});
        let mut created = pod.clone();
        record_update(None, &mut created, "job-controller", "v1", None);
        created["metadata"]["managedFields"][0]["time"] = json!("2020-01-01T00:00:00Z");
        let spec_entry = created["metadata"]["managedFields"][0].clone();

        let mut running = created.clone();
        running["status"]["phase"] = json!("Running");
        record_update(
            Some(&created),
            &mut running,
            "kubelet",
            "v1",
            Some("status"),
        );
        let mf = running["metadata"]["managedFields"]
            .as_array()
            .unwrap()
            .clone();
        assert_eq!(mf.len(), 2, "{mf:?}");
        assert_eq!(mf[0], spec_entry, "untouched, time included");
        assert_eq!(mf[1]["manager"], "kubelet");
        assert_eq!(mf[1]["subresource"], "status");
        assert_eq!(mf[1]["fieldsV1"], json!({"f:status":{"f:phase":{}}}));

        let mut edited = running.clone();
        edited["spec"]["containers"][0]["image"] = json!("i:2");
        record_update(Some(&running), &mut edited, "bob", "v1", None);
        let mf = edited["metadata"]["managedFields"].as_array().unwrap();
        let app =
            |e: &Value| e["fieldsV1"]["f:spec"]["f:containers"]["k:{\"name\":\"app\"}"].clone();
        assert!(
            app(&mf[0]).get("f:image").is_none(),
            "moved to bob: {}",
            mf[0]
        );
        assert!(app(&mf[0]).get("f:name").is_some());
        assert_eq!(
            mf[1], running["metadata"]["managedFields"][1],
            "the status owner is untouched"
        );
        assert_eq!(mf[2]["manager"], "bob");
        assert!(app(&mf[2]).get("f:image").is_some(), "{}", mf[2]);
    }

    #[test]
    fn apply_bodies_are_read_as_json_or_yaml_alike() {
        let json =
            br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"k":"1"}}"#;
        let yaml = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  k: \"1\"\n";
        let from_json = decode_patch(json).unwrap();
        assert_eq!(from_json, decode_patch(yaml).unwrap());
        assert_eq!(from_json["data"]["k"], "1");
        assert!(decode_patch(b"metadata: [unclosed").is_err());
    }

    #[test]
    fn second_manager_conflicts_unless_forced() {
        let a = apply(None, &cm(json!({"k":"1"})), "alice", false, "v1", None).unwrap();
        let errs = apply(Some(&a), &cm(json!({"k":"2"})), "bob", false, "v1", None).unwrap_err();
        assert_eq!(errs[0].field, ".data.k");
        assert_eq!(errs[0].message, "conflict with \"alice\" using v1");
        // Same value: shared ownership, no conflict.
        assert!(apply(Some(&a), &cm(json!({"k":"1"})), "bob", false, "v1", None).is_ok());
        let forced = apply(Some(&a), &cm(json!({"k":"2"})), "bob", true, "v1", None).unwrap();
        assert_eq!(forced["data"]["k"], "2");
        let mf = forced["metadata"]["managedFields"].as_array().unwrap();
        assert_eq!(mf.len(), 1, "alice lost her only field: {mf:?}");
        assert_eq!(mf[0]["manager"], "bob");
    }

    #[test]
    fn omitted_fields_are_removed_unless_shared() {
        let a = apply(
            None,
            &cm(json!({"x":"1","y":"2"})),
            "alice",
            false,
            "v1",
            None,
        )
        .unwrap();
        let b = apply(Some(&a), &cm(json!({"y":"2"})), "bob", false, "v1", None).unwrap();
        let a2 = apply(Some(&b), &cm(json!({})), "alice", false, "v1", None).unwrap();
        assert_eq!(a2["data"], json!({"y":"2"}));
    }
}
