//! The verbs (create, replace, patch, apply, delete) with everything the API server does
//! around them: identity, status rules, managed fields, defaulting, validation, admission,
//! optimistic concurrency and garbage collection. Both the HTTP layer and the simulated
//! controllers write through here, so the rules hold for every writer.

use std::sync::Arc;

use serde_json::{Value, json};

use super::admission::{apply_limit_ranges, check_quota};
use super::apply::{apply, record_update};
use super::defaults::{apply_defaults, default_protocols, initial_status};
use super::errors::{ApiError, ApiResult};
use super::patch::{json_patch, merge_patch, strategic_merge_patch};
use super::resources::{ResourceType, find};
use super::store::{EventType, Inner};
use super::validation::{validate, validate_update};

/// Who writes, and how.
#[derive(Debug, Clone, Copy)]
pub struct WriteOpts<'a> {
    /// The field manager (`fieldManager`, or derived from the User-Agent).
    pub manager: &'a str,
    pub dry_run: bool,
    /// `Some("status")` for writes to the `/status` subresource.
    pub subresource: Option<&'a str>,
}

impl<'a> WriteOpts<'a> {
    /// A plain write to the main resource by `manager`.
    pub fn by(manager: &'a str) -> Self {
        Self {
            manager,
            dry_run: false,
            subresource: None,
        }
    }

    /// A write to `/status` by `manager` (controllers, the kubelet).
    pub fn status_by(manager: &'a str) -> Self {
        Self {
            manager,
            dry_run: false,
            subresource: Some("status"),
        }
    }
}

/// Patch body formats, by `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    Merge,
    Strategic,
    Json,
    Apply { force: bool },
}

fn namespace_rt() -> &'static ResourceType {
    find("", "v1", "namespaces").expect("namespaces are served")
}

fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn has_generation(rt: &ResourceType) -> bool {
    !matches!(
        rt.kind,
        "ConfigMap"
            | "Secret"
            | "ServiceAccount"
            | "Event"
            | "Role"
            | "RoleBinding"
            | "Namespace"
            | "Lease"
            | "Node"
    )
}

/// Whether a namespace is being deleted.
pub fn is_terminating(ns: &Value) -> bool {
    !ns["metadata"]["deletionTimestamp"].is_null()
}

/// Namespace must exist and not be terminating for anything to be created in it.
fn check_namespace(inner: &Inner, rt: &ResourceType, ns: &str, name: &str) -> ApiResult<()> {
    if !rt.namespaced {
        return Ok(());
    }
    match inner.get(namespace_rt(), "", ns) {
        None => Err(ApiError::not_found("", "namespaces", ns)),
        Some(n) if is_terminating(n) => Err(ApiError::forbidden(
            rt.group,
            rt.plural,
            name,
            format!(
                "{} \"{name}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated",
                super::errors::qualified(rt.group, rt.plural)
            ),
        )),
        Some(_) => Ok(()),
    }
}

fn check_kind(rt: &ResourceType, body: &mut Value) -> ApiResult<()> {
    if !body.is_object() {
        return Err(ApiError::bad_request(
            "the body of the request must be an object",
        ));
    }
    let av = rt.api_version();
    match (body["apiVersion"].as_str(), body["kind"].as_str()) {
        (Some(a), _) if a != av => Err(ApiError::bad_request(format!(
            "the API version in the data ({a}) does not match the expected API version ({av})"
        ))),
        (_, Some(k)) if k != rt.kind => Err(ApiError::bad_request(format!(
            "the kind in the data ({k}) does not match the expected kind ({})",
            rt.kind
        ))),
        _ => {
            body["apiVersion"] = json!(av);
            body["kind"] = json!(rt.kind);
            Ok(())
        }
    }
}

fn generate_name(prefix: &str) -> String {
    const CHARS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let suffix: String = (0..5)
        .map(|_| CHARS[rand::random_range(0..CHARS.len())] as char)
        .collect();
    format!("{prefix}{suffix}")
}

/// Whether two objects are equal apart from the top-level keys in `skip`; compared in
/// place, because the double runs this on every write and cloning whole objects to
/// compare them was most of its CPU in a 500-pull-request benchmark.
fn equal_except(a: &Value, b: &Value, skip: &[&str]) -> bool {
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
        return a == b;
    };
    let kept = |m: &serde_json::Map<String, Value>| {
        m.keys().filter(|k| !skip.contains(&k.as_str())).count()
    };
    kept(a) == kept(b)
        && a.iter()
            .filter(|(k, _)| !skip.contains(&k.as_str()))
            .all(|(k, v)| b.get(k) == Some(v))
}

/// Whether a write changes nothing a client can see but `resourceVersion` and the
/// times in `managedFields` (the API server then keeps the object as it was).
fn unchanged(old: &Value, new: &Value) -> bool {
    if !equal_except(old, new, &["metadata"]) {
        return false;
    }
    let (old_meta, new_meta) = (&old["metadata"], &new["metadata"]);
    if !old_meta.is_object() || !new_meta.is_object() {
        return old_meta == new_meta;
    }
    if !equal_except(old_meta, new_meta, &["resourceVersion", "managedFields"]) {
        return false;
    }
    match (old_meta.get("managedFields"), new_meta.get("managedFields")) {
        (Some(Value::Array(a)), Some(Value::Array(b))) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| equal_except(x, y, &["time"]))
        }
        (a, b) => a == b,
    }
}

/// Stores a new state of an object after applying the server's rules.
fn finalize(
    inner: &mut Inner,
    rt: &'static ResourceType,
    old: Option<&Value>,
    mut new: Value,
    opts: WriteOpts<'_>,
    managed: bool,
) -> ApiResult<Arc<Value>> {
    let create = old.is_none();
    if let Some(old) = old {
        let new_rv = new["metadata"]["resourceVersion"].as_str().unwrap_or("");
        if !new_rv.is_empty() && new_rv != old["metadata"]["resourceVersion"].as_str().unwrap_or("")
        {
            let name = old["metadata"]["name"].as_str().unwrap_or("");
            return Err(ApiError::conflict_stale(rt.group, rt.plural, name));
        }
        for k in [
            "uid",
            "creationTimestamp",
            "generation",
            "deletionTimestamp",
            "name",
            "namespace",
        ] {
            match old["metadata"].get(k) {
                Some(v) => new["metadata"][k] = v.clone(),
                None => {
                    if let Some(m) = new["metadata"].as_object_mut() {
                        m.remove(k);
                    }
                }
            }
        }
        new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"].clone();
    }
    if rt.has_status {
        match (opts.subresource, old) {
            (Some("status"), Some(old)) => keep_all_but_status(old, &mut new),
            (_, Some(old)) => match old.get("status") {
                Some(s) => new["status"] = s.clone(),
                None => {
                    if let Some(m) = new.as_object_mut() {
                        m.remove("status");
                    }
                }
            },
            (_, None) => match initial_status(rt, &new) {
                Some(s) => new["status"] = s,
                None => {
                    if let Some(m) = new.as_object_mut() {
                        m.remove("status");
                    }
                }
            },
        }
    }
    if !managed {
        record_update(
            old,
            &mut new,
            opts.manager,
            &rt.api_version(),
            opts.subresource,
        );
    }
    if create {
        new["metadata"]["uid"] = json!(uuid::Uuid::new_v4().to_string());
        new["metadata"]["creationTimestamp"] = json!(now());
        if has_generation(rt) {
            new["metadata"]["generation"] = json!(1);
        }
    } else if has_generation(rt)
        && old.is_some_and(|old| !equal_except(old, &new, &["metadata", "status"]))
    {
        let g = new["metadata"]["generation"].as_i64().unwrap_or(0);
        new["metadata"]["generation"] = json!(g + 1);
    }
    apply_defaults(rt, &mut new, create);
    validate(rt, &new)?;
    if let Some(old) = old
        && opts.subresource.is_none()
    {
        validate_update(rt, old, &new)?;
    }
    let ns = new["metadata"]["namespace"]
        .as_str()
        .unwrap_or("")
        .to_string();
    if create && rt.kind == "Pod" && rt.group.is_empty() {
        apply_limit_ranges(inner, &ns, &mut new);
        check_quota(inner, &ns, &new)?;
        new["status"] = initial_status(rt, &new).unwrap_or(json!({}));
    }
    if let Some(old) = old
        && unchanged(old, &new)
    {
        return Ok(Arc::new(old.clone()));
    }
    if opts.dry_run {
        return Ok(Arc::new(new));
    }
    let finalizers_done = new["metadata"]["finalizers"]
        .as_array()
        .is_none_or(Vec::is_empty);
    if !create
        && !new["metadata"]["deletionTimestamp"].is_null()
        && finalizers_done
        && rt.kind != "Namespace"
    {
        return Ok(inner.put(rt, new, EventType::Deleted));
    }
    let kind = if create {
        EventType::Added
    } else {
        EventType::Modified
    };
    Ok(inner.put(rt, new, kind))
}

/// A write to `/status` changes the status and nothing else: `new` keeps its status and
/// its `managedFields` (the stored ones when it brings none); everything else is as
/// stored in `old`. Only what differs is copied back from `old`: the simulated
/// controllers' and kubelet's status writes change nothing else, and copying the whole
/// stored object for each of them was a large part of the double's clones.
fn keep_all_but_status(old: &Value, new: &mut Value) {
    const MANAGED: &str = "managedFields";
    let mf = new
        .get_mut("metadata")
        .and_then(Value::as_object_mut)
        .and_then(|m| m.remove(MANAGED));
    match (old.as_object(), new.as_object_mut()) {
        (Some(stored), Some(written)) => {
            written.retain(|k, _| k == "status" || stored.contains_key(k));
            for (k, v) in stored {
                match k.as_str() {
                    "status" => {}
                    "metadata" => {
                        let same = written
                            .get(k)
                            .is_some_and(|n| equal_except(v, n, &[MANAGED]));
                        if !same {
                            let mut meta = v.clone();
                            if let Some(m) = meta.as_object_mut() {
                                m.remove(MANAGED);
                            }
                            written.insert(k.clone(), meta);
                        }
                    }
                    _ if written.get(k) != Some(v) => {
                        written.insert(k.clone(), v.clone());
                    }
                    _ => {}
                }
            }
        }
        // Only a body that is not an object gets here (every stored object is one): it
        // has no status, so the stored object stays, without its status.
        _ => {
            *new = old.clone();
            if let Some(m) = new.as_object_mut() {
                m.remove("status");
            }
        }
    }
    if let Some(mf) = mf.or_else(|| old["metadata"].get(MANAGED).cloned()) {
        new["metadata"][MANAGED] = mf;
    }
}

/// `POST` to a collection.
pub fn create(
    inner: &mut Inner,
    rt: &'static ResourceType,
    ns: &str,
    mut body: Value,
    opts: WriteOpts<'_>,
) -> ApiResult<Arc<Value>> {
    check_kind(rt, &mut body)?;
    if rt.namespaced {
        match body["metadata"]["namespace"].as_str() {
            Some(n) if !n.is_empty() && n != ns => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            _ => body["metadata"]["namespace"] = json!(ns),
        }
    } else if let Some(m) = body["metadata"].as_object_mut() {
        m.remove("namespace");
    }
    if body["metadata"]["name"].as_str().is_none_or(str::is_empty)
        && let Some(prefix) = body["metadata"]["generateName"].as_str()
    {
        body["metadata"]["name"] = json!(generate_name(prefix));
    }
    if let Some(m) = body["metadata"].as_object_mut() {
        for k in [
            "resourceVersion",
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "generation",
        ] {
            m.remove(k);
        }
    }
    let name = body["metadata"]["name"].as_str().unwrap_or("").to_string();
    validate(rt, &body)?;
    check_namespace(inner, rt, ns, &name)?;
    if inner.get(rt, ns, &name).is_some() {
        return Err(ApiError::already_exists(rt.group, rt.plural, &name));
    }
    finalize(inner, rt, None, body, opts, false)
}

/// `PUT` of a whole object (or of its `/status`).
pub fn replace(
    inner: &mut Inner,
    rt: &'static ResourceType,
    ns: &str,
    name: &str,
    mut body: Value,
    opts: WriteOpts<'_>,
) -> ApiResult<Arc<Value>> {
    check_kind(rt, &mut body)?;
    if body["metadata"]["name"].as_str().is_some_and(|n| n != name) {
        return Err(ApiError::bad_request(
            "the name of the object does not match the name on the URL",
        ));
    }
    let old = inner
        .get_shared(rt, ns, name)
        .ok_or_else(|| ApiError::not_found(rt.group, rt.plural, name))?;
    finalize(inner, rt, Some(&old), body, opts, false)
}

/// `PATCH`, including server-side apply. Returns the object and whether it was created.
pub fn patch(
    inner: &mut Inner,
    rt: &'static ResourceType,
    ns: &str,
    name: &str,
    ptype: PatchType,
    body: Value,
    opts: WriteOpts<'_>,
) -> ApiResult<(Arc<Value>, bool)> {
    let old = inner.get_shared(rt, ns, name);
    let PatchType::Apply { force } = ptype else {
        let old = old.ok_or_else(|| ApiError::not_found(rt.group, rt.plural, name))?;
        let mut new = Value::clone(&old);
        match ptype {
            PatchType::Merge => merge_patch(&mut new, &body),
            PatchType::Strategic => strategic_merge_patch(&mut new, &body),
            PatchType::Json => json_patch(&mut new, &body)?,
            PatchType::Apply { .. } => unreachable!("handled above"),
        }
        return finalize(inner, rt, Some(&old), new, opts, false).map(|v| (v, false));
    };
    let mut applied = body;
    match (applied["apiVersion"].as_str(), applied["kind"].as_str()) {
        (Some(a), Some(k)) if a == rt.api_version() && k == rt.kind => {}
        (a, k) => {
            return Err(ApiError::bad_request(format!(
                "invalid object type: {}, Kind={}",
                a.unwrap_or("/"),
                k.unwrap_or("")
            )));
        }
    }
    if applied["metadata"]["name"]
        .as_str()
        .is_some_and(|n| n != name)
    {
        return Err(ApiError::bad_request(
            "the name of the object does not match the name on the URL",
        ));
    }
    applied["metadata"]["name"] = json!(name);
    if rt.namespaced {
        applied["metadata"]["namespace"] = json!(ns);
    }
    default_protocols(&mut applied);
    if old.is_none() {
        check_namespace(inner, rt, ns, name)?;
    }
    let merged = apply(
        old.as_deref(),
        &applied,
        opts.manager,
        force,
        &rt.api_version(),
        opts.subresource,
    )
    .map_err(|causes| ApiError::apply_conflict(rt.group, rt.plural, name, causes))?;
    let created = old.is_none();
    finalize(inner, rt, old.as_deref(), merged, opts, true).map(|v| (v, created))
}

/// Reads an object, changes it with `f`, and writes it back through the rules (controllers).
pub fn mutate(
    inner: &mut Inner,
    rt: &'static ResourceType,
    ns: &str,
    name: &str,
    opts: WriteOpts<'_>,
    f: impl FnOnce(&mut Value),
) -> ApiResult<Arc<Value>> {
    // The stored state is shared, not copied: the one copy is the one `f` changes (the
    // simulated controllers and kubelet write through here, several times a pod).
    let old = inner
        .get_shared(rt, ns, name)
        .ok_or_else(|| ApiError::not_found(rt.group, rt.plural, name))?;
    let mut new = Value::clone(&old);
    f(&mut new);
    // A write that changes nothing keeps the stored object, as `finalize` concludes after
    // all its work (the managedFields bookkeeping first): the controllers rewrite the same
    // status on many passes, so they are answered here.
    if new == *old {
        return Ok(old);
    }
    finalize(inner, rt, Some(&old), new, opts, false)
}

/// What `POST pods/{name}/binding` does in the API server (`BindingREST` →
/// `assignPod`): one storage update that sets `spec.nodeName` and the `PodScheduled`
/// condition together, without admission, validation or `managedFields` bookkeeping
/// (a pod bound at the first try names no `kube-scheduler` manager), and 409 when the
/// pod is bound already. One write and one `MODIFIED` event, as a watcher of
/// real pods sees; two writes used to show a bound pod without the condition.
pub fn bind(inner: &mut Inner, ns: &str, name: &str, node: &str) -> ApiResult<Arc<Value>> {
    let pods = find("", "v1", "pods").expect("pods are served");
    let old = inner
        .get_shared(pods, ns, name)
        .ok_or_else(|| ApiError::not_found("", "pods", name))?;
    // Any node, this one included: the API server refuses to bind a bound pod again.
    if let Some(bound) = old["spec"]["nodeName"].as_str().filter(|n| !n.is_empty()) {
        return Err(ApiError::conflict_bound(name, bound));
    }
    let mut new = Value::clone(&old);
    new["spec"]["nodeName"] = json!(node);
    super::podstatus::set_condition(
        &mut new["status"],
        super::podstatus::condition("PodScheduled", true, None, None),
    );
    Ok(inner.put(pods, new, EventType::Modified))
}

/// Preconditions of a delete (`DeleteOptions.preconditions`).
#[derive(Debug, Default, Clone)]
pub struct Preconditions {
    pub uid: Option<String>,
    pub resource_version: Option<String>,
}

/// `DELETE` of one object, with `propagationPolicy` (`Background`, `Foreground`, `Orphan`).
pub fn delete(
    inner: &mut Inner,
    rt: &'static ResourceType,
    ns: &str,
    name: &str,
    policy: Option<&str>,
    pre: &Preconditions,
    dry_run: bool,
) -> ApiResult<Arc<Value>> {
    let obj = inner
        .get_shared(rt, ns, name)
        .ok_or_else(|| ApiError::not_found(rt.group, rt.plural, name))?;
    let uid = obj["metadata"]["uid"].as_str().unwrap_or("").to_string();
    if let Some(want) = &pre.uid
        && *want != uid
    {
        return Err(ApiError::conflict_precondition(
            rt.group,
            rt.plural,
            name,
            &format!("UID in precondition: {want}, UID in object meta: {uid}"),
        ));
    }
    if let Some(want) = &pre.resource_version {
        let have = obj["metadata"]["resourceVersion"].as_str().unwrap_or("");
        if want != have {
            return Err(ApiError::conflict_precondition(
                rt.group,
                rt.plural,
                name,
                &format!(
                    "ResourceVersion in precondition: {want}, ResourceVersion in object meta: {have}"
                ),
            ));
        }
    }
    if dry_run {
        return Ok(obj);
    }
    if rt.kind == "Namespace" && rt.group.is_empty() {
        if is_terminating(&obj) {
            return Ok(obj);
        }
        let mut new = Value::clone(&obj);
        new["metadata"]["deletionTimestamp"] = json!(now());
        new["metadata"]["deletionGracePeriodSeconds"] = json!(0);
        new["status"]["phase"] = json!("Terminating");
        return Ok(inner.put(rt, new, EventType::Modified));
    }
    if obj["metadata"]["finalizers"]
        .as_array()
        .is_some_and(|f| !f.is_empty())
    {
        if obj["metadata"]["deletionTimestamp"].is_null() {
            let mut new = Value::clone(&obj);
            new["metadata"]["deletionTimestamp"] = json!(now());
            new["metadata"]["deletionGracePeriodSeconds"] = json!(0);
            return Ok(inner.put(rt, new, EventType::Modified));
        }
        return Ok(obj);
    }
    // batch/v1 Jobs orphan their pods unless told otherwise, for compatibility.
    let default = if rt.kind == "Job" {
        "Orphan"
    } else {
        "Background"
    };
    let policy = policy.unwrap_or(default);
    collect_dependents(inner, ns, &uid, policy);
    Ok(inner.put(rt, Value::clone(&obj), EventType::Deleted))
}

fn collect_dependents(inner: &mut Inner, ns: &str, owner_uid: &str, policy: &str) {
    let dependents: Vec<(&'static ResourceType, String)> = inner
        .all_in_namespace(ns)
        .into_iter()
        .filter(|(_, v)| {
            v["metadata"]["ownerReferences"]
                .as_array()
                .is_some_and(|refs| refs.iter().any(|r| r["uid"] == owner_uid))
        })
        .filter_map(|(k, v)| {
            let rt = super::resources::RESOURCES
                .iter()
                .find(|r| r.group == k.0 && r.plural == k.1)?;
            Some((rt, v["metadata"]["name"].as_str().unwrap_or("").to_string()))
        })
        .collect();
    for (rt, name) in dependents {
        if policy == "Orphan" {
            let _ = mutate(
                inner,
                rt,
                ns,
                &name,
                WriteOpts::by("kube-controller-manager"),
                |o| {
                    if let Some(refs) = o["metadata"]["ownerReferences"].as_array_mut() {
                        refs.retain(|r| r["uid"] != owner_uid);
                        if refs.is_empty()
                            && let Some(m) = o["metadata"].as_object_mut()
                        {
                            m.remove("ownerReferences");
                        }
                    }
                },
            );
        } else {
            // A dependent already gone is fine: someone else collected it.
            let _ = delete(
                inner,
                rt,
                ns,
                &name,
                Some("Background"),
                &Preconditions::default(),
                false,
            );
        }
    }
}

#[cfg(test)]
mod comparison_tests {
    use serde_json::json;

    use super::{equal_except, unchanged};

    fn pod(rv: &str, time: &str, image: &str) -> serde_json::Value {
        json!({
            "metadata": {
                "name": "p", "resourceVersion": rv,
                "managedFields": [{"manager": "m", "operation": "Update", "time": time}],
            },
            "spec": {"containers": [{"name": "c", "image": image}]},
            "status": {"phase": "Running"},
        })
    }

    #[test]
    fn a_write_that_moves_only_the_resource_version_and_times_is_unchanged() {
        assert!(unchanged(&pod("1", "t1", "a"), &pod("2", "t2", "a")));
        assert!(!unchanged(&pod("1", "t1", "a"), &pod("1", "t1", "b")));
        let mut relabelled = pod("1", "t1", "a");
        relabelled["metadata"]["labels"] = json!({"x": "y"});
        assert!(!unchanged(&pod("1", "t1", "a"), &relabelled));
        let mut other_manager = pod("1", "t1", "a");
        other_manager["metadata"]["managedFields"][0]["manager"] = json!("n");
        assert!(!unchanged(&pod("1", "t1", "a"), &other_manager));
        let mut unmanaged = pod("1", "t1", "a");
        unmanaged["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("managedFields");
        assert!(!unchanged(&pod("1", "t1", "a"), &unmanaged));
    }

    #[test]
    fn the_spec_is_everything_but_metadata_and_status() {
        let skip = ["metadata", "status"];
        let mut running = pod("1", "t1", "a");
        running["status"]["phase"] = json!("Succeeded");
        assert!(equal_except(&pod("1", "t1", "a"), &running, &skip));
        assert!(!equal_except(
            &pod("1", "t1", "a"),
            &pod("1", "t1", "b"),
            &skip
        ));
        let mut extra = pod("1", "t1", "a");
        extra["data"] = json!({});
        assert!(!equal_except(&pod("1", "t1", "a"), &extra, &skip));
    }
}

#[cfg(test)]
mod status_write_tests {
    use serde_json::json;

    use super::keep_all_but_status;

    fn stored() -> serde_json::Value {
        json!({
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": {
                "name": "j", "labels": {"a": "1"},
                "managedFields": [{"manager": "catalyst", "operation": "Apply"}],
            },
            "spec": {"backoffLimit": 0},
            "status": {"active": 1},
        })
    }

    #[test]
    fn a_status_write_keeps_only_its_status_and_managed_fields() {
        // A plain status write: the status and the writer's managedFields.
        let mut new = stored();
        new["status"] = json!({"succeeded": 1});
        new["metadata"]["managedFields"] = json!([{"manager": "job-controller"}]);
        keep_all_but_status(&stored(), &mut new);
        let mut want = stored();
        want["status"] = json!({"succeeded": 1});
        want["metadata"]["managedFields"] = json!([{"manager": "job-controller"}]);
        assert_eq!(new, want);

        // Changes outside the status are dropped, keys it added or removed included;
        // without managedFields of its own it keeps the stored ones.
        let mut new = stored();
        new["spec"]["backoffLimit"] = json!(6);
        new["metadata"]["labels"] = json!({"b": "2"});
        new["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("managedFields");
        new["extra"] = json!(true);
        new.as_object_mut().unwrap().remove("apiVersion");
        new.as_object_mut().unwrap().remove("status");
        keep_all_but_status(&stored(), &mut new);
        let mut want = stored();
        want.as_object_mut().unwrap().remove("status");
        assert_eq!(new, want);

        // A body that is not an object keeps nothing but the stored object.
        let mut new = json!("nonsense");
        keep_all_but_status(&stored(), &mut new);
        let mut want = stored();
        want.as_object_mut().unwrap().remove("status");
        assert_eq!(new, want);
    }
}

#[cfg(test)]
mod write_tests {
    use serde_json::json;

    use super::super::resources::find;
    use super::super::store::Store;
    use super::{WriteOpts, bind, create, mutate};

    #[test]
    fn a_controller_write_that_changes_nothing_keeps_the_version_and_sends_no_event() {
        let store = Store::new();
        let mut inner = store.lock();
        let nss = find("", "v1", "namespaces").unwrap();
        let made = create(
            &mut inner,
            nss,
            "",
            json!({"apiVersion": "v1", "kind": "Namespace",
                   "metadata": {"name": "n", "labels": {"a": "1"}}}),
            WriteOpts::by("test"),
        )
        .unwrap();
        let rv = made["metadata"]["resourceVersion"].clone();
        let events = inner.events_since(0).unwrap().len();

        let same = mutate(&mut inner, nss, "", "n", WriteOpts::by("ctl"), |n| {
            n["metadata"]["labels"]["a"] = json!("1");
        })
        .unwrap();
        assert_eq!(same, made);
        assert_eq!(inner.events_since(0).unwrap().len(), events);

        let changed = mutate(&mut inner, nss, "", "n", WriteOpts::by("ctl"), |n| {
            n["metadata"]["labels"]["a"] = json!("2");
        })
        .unwrap();
        assert_ne!(changed["metadata"]["resourceVersion"], rv);
        assert_eq!(inner.events_since(0).unwrap().len(), events + 1);
        let managers: Vec<&str> = changed["metadata"]["managedFields"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["manager"].as_str())
            .collect();
        assert!(managers.contains(&"ctl"), "{managers:?}");
    }

    #[test]
    fn a_pod_is_bound_once_in_one_event_and_a_second_binding_conflicts() {
        let store = Store::new();
        let mut inner = store.lock();
        let nss = find("", "v1", "namespaces").unwrap();
        let pods = find("", "v1", "pods").unwrap();
        create(
            &mut inner,
            nss,
            "",
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n"}}),
            WriteOpts::by("test"),
        )
        .unwrap();
        create(
            &mut inner,
            pods,
            "n",
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                   "spec": {"containers": [{"name": "c", "image": "c:1"}]}}),
            WriteOpts::by("test"),
        )
        .unwrap();
        let events = inner.events_since(0).unwrap().len();

        let bound = bind(&mut inner, "n", "p", "node-a").unwrap();
        assert_eq!(bound["spec"]["nodeName"], "node-a");
        let conditions = bound["status"]["conditions"].as_array().unwrap();
        assert!(
            conditions
                .iter()
                .any(|c| c["type"] == "PodScheduled" && c["status"] == "True")
        );
        assert_eq!(inner.events_since(0).unwrap().len(), events + 1);

        for node in ["node-a", "node-b"] {
            let refused = bind(&mut inner, "n", "p", node).unwrap_err();
            assert_eq!((refused.code, refused.reason.as_str()), (409, "Conflict"));
            assert!(
                refused
                    .message
                    .ends_with(r#"pod p is already assigned to node "node-a""#),
                "{}",
                refused.message
            );
        }
        assert_eq!(inner.events_since(0).unwrap().len(), events + 1);
        assert_eq!(bind(&mut inner, "n", "q", "node-a").unwrap_err().code, 404);
    }
}
