//! Patch formats: JSON merge patch (RFC 7386), strategic merge patch for the kinds served,
//! and JSON patch (RFC 6902).

use serde_json::{Map, Value};

use super::errors::{ApiError, ApiResult};
use super::fieldpath::{key_of, list_keys};

/// RFC 7386: objects merge recursively, `null` deletes, everything else replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Some(pm) = patch.as_object() else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let tm = target.as_object_mut().expect("made an object above");
    for (k, v) in pm {
        if v.is_null() {
            tm.remove(k);
        } else {
            merge_patch(tm.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

/// Strategic merge patch: like a merge patch, but keyed lists (containers, ports, env, …)
/// merge member by member, `$patch: delete` removes a member, and `$setElementOrder`/
/// `$retainKeys` directives are accepted.
pub fn strategic_merge_patch(target: &mut Value, patch: &Value) {
    let Some(pm) = patch.as_object() else {
        *target = patch.clone();
        return;
    };
    if pm.get("$patch").and_then(Value::as_str) == Some("replace") {
        let mut p = patch.clone();
        if let Some(m) = p.as_object_mut() {
            m.remove("$patch");
        }
        *target = p;
        return;
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let tm = target.as_object_mut().expect("made an object above");
    for (k, v) in pm {
        if k.starts_with('$') {
            continue;
        }
        if v.is_null() {
            tm.remove(k);
            continue;
        }
        match (tm.get_mut(k), v) {
            (Some(Value::Array(live)), Value::Array(items)) => {
                let all: Vec<Value> = live.iter().chain(items.iter()).cloned().collect();
                match list_keys(k, &all) {
                    Some(keys) => merge_keyed(live, items, keys),
                    None => *live = items.clone(),
                }
            }
            (Some(existing), _) => strategic_merge_patch(existing, v),
            (None, _) => {
                let mut fresh = Value::Null;
                strategic_merge_patch(&mut fresh, v);
                tm.insert(k.clone(), fresh);
            }
        }
    }
}

fn merge_keyed(live: &mut Vec<Value>, items: &[Value], keys: &[&str]) {
    for item in items {
        let key = key_of(item, keys);
        let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
        let pos = live.iter().position(|l| key_of(l, keys) == key);
        match (pos, delete) {
            (Some(i), true) => {
                live.remove(i);
            }
            (Some(i), false) => strategic_merge_patch(&mut live[i], item),
            (None, true) => {}
            (None, false) => live.push(item.clone()),
        }
    }
}

/// SSA's merge of an applied configuration into the live object: maps merge, keyed lists
/// merge by key, atomic lists and scalars are replaced.
pub fn apply_merge(target: &mut Value, applied: &Value) {
    strategic_merge_patch(target, applied);
}

/// RFC 6902 JSON patch (`add`, `remove`, `replace`, `test`, `move`, `copy`).
pub fn json_patch(target: &mut Value, ops: &Value) -> ApiResult<()> {
    let ops = ops
        .as_array()
        .ok_or_else(|| ApiError::bad_request("json patch must be an array of operations"))?;
    for op in ops {
        let kind = op["op"].as_str().unwrap_or("");
        let path = op["path"].as_str().unwrap_or("");
        match kind {
            "add" => add(target, path, op["value"].clone())?,
            "remove" => {
                remove(target, path)?;
            }
            "replace" => {
                remove(target, path)?;
                add(target, path, op["value"].clone())?;
            }
            "test" => {
                if target.pointer(path) != Some(&op["value"]) {
                    return Err(ApiError::internal(
                        500,
                        format!(
                            "the server rejected our request due to an error in our request: testing value {path} failed"
                        ),
                    ));
                }
            }
            "move" | "copy" => {
                let from = op["from"].as_str().unwrap_or("");
                let v = target.pointer(from).cloned().ok_or_else(|| missing(from))?;
                if kind == "move" {
                    remove(target, from)?;
                }
                add(target, path, v)?;
            }
            other => return Err(ApiError::bad_request(format!("Unexpected kind: {other}"))),
        }
    }
    Ok(())
}

fn missing(path: &str) -> ApiError {
    ApiError::internal(
        500,
        format!(
            "the server rejected our request due to an error in our request: doc is missing path: \"{path}\""
        ),
    )
}

fn split(path: &str) -> ApiResult<(String, String)> {
    let (parent, last) = path.rsplit_once('/').ok_or_else(|| missing(path))?;
    Ok((
        parent.to_string(),
        last.replace("~1", "/").replace("~0", "~"),
    ))
}

fn add(target: &mut Value, path: &str, value: Value) -> ApiResult<()> {
    if path.is_empty() {
        *target = value;
        return Ok(());
    }
    let (parent, last) = split(path)?;
    let p = target.pointer_mut(&parent).ok_or_else(|| missing(path))?;
    match p {
        Value::Object(m) => {
            m.insert(last, value);
        }
        Value::Array(a) => {
            if last == "-" {
                a.push(value);
            } else {
                let i: usize = last.parse().map_err(|_| missing(path))?;
                if i > a.len() {
                    return Err(missing(path));
                }
                a.insert(i, value);
            }
        }
        _ => return Err(missing(path)),
    }
    Ok(())
}

fn remove(target: &mut Value, path: &str) -> ApiResult<Value> {
    let (parent, last) = split(path)?;
    let p = target.pointer_mut(&parent).ok_or_else(|| missing(path))?;
    match p {
        Value::Object(m) => m.remove(&last).ok_or_else(|| missing(path)),
        Value::Array(a) => {
            let i: usize = last.parse().map_err(|_| missing(path))?;
            if i >= a.len() {
                return Err(missing(path));
            }
            Ok(a.remove(i))
        }
        _ => Err(missing(path)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strategic_merge_merges_containers_by_name() {
        let mut live =
            json!({"spec":{"containers":[{"name":"a","image":"1"},{"name":"b","image":"2"}]}});
        strategic_merge_patch(
            &mut live,
            &json!({"spec":{"containers":[{"name":"b","image":"3"},{"name":"a","$patch":"delete"}]}}),
        );
        assert_eq!(
            live,
            json!({"spec":{"containers":[{"name":"b","image":"3"}]}})
        );
    }

    #[test]
    fn merge_patch_null_deletes_and_lists_replace() {
        let mut live = json!({"a":1,"b":[1,2],"c":{"d":1}});
        merge_patch(&mut live, &json!({"a":null,"b":[3],"c":{"e":2}}));
        assert_eq!(live, json!({"b":[3],"c":{"d":1,"e":2}}));
    }

    #[test]
    fn json_patch_ops() {
        let mut live = json!({"metadata":{"labels":{"a":"1"}},"l":[1]});
        json_patch(
            &mut live,
            &json!([{"op":"add","path":"/metadata/labels/b","value":"2"},{"op":"remove","path":"/metadata/labels/a"},{"op":"add","path":"/l/-","value":2}]),
        )
        .unwrap();
        assert_eq!(live, json!({"metadata":{"labels":{"b":"2"}},"l":[1,2]}));
        assert!(json_patch(&mut live, &json!([{"op":"remove","path":"/nope"}])).is_err());
    }
}
