//! Admission for pods: LimitRange defaults and ResourceQuota enforcement, plus the quota
//! usage that the quota controller writes to `status.used`.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::errors::{ApiError, ApiResult};
use super::quantity::{format_milli, parse_milli};
use super::resources::find;
use super::store::Inner;

fn rt(plural: &str) -> &'static super::resources::ResourceType {
    find("", "v1", plural).expect("core kinds are in the table")
}

/// Applies `LimitRange` container defaults (`default` → limits, `defaultRequest` → requests)
/// to containers that do not set them.
pub fn apply_limit_ranges(inner: &Inner, ns: &str, pod: &mut Value) {
    for lr in inner.list(rt("limitranges"), Some(ns)) {
        for limit in lr["spec"]["limits"].as_array().into_iter().flatten() {
            if limit["type"].as_str() != Some("Container") {
                continue;
            }
            for c in pod["spec"]["containers"]
                .as_array_mut()
                .into_iter()
                .flatten()
            {
                let res = &mut c["resources"];
                for (src, dst) in [
                    ("default", "limits"),
                    ("defaultRequest", "requests"),
                    ("default", "requests"),
                ] {
                    for (k, v) in limit[src].as_object().into_iter().flatten() {
                        if res[dst][k].is_null() {
                            res[dst][k] = v.clone();
                        }
                    }
                }
            }
        }
    }
}

fn is_terminal(pod: &Value) -> bool {
    matches!(
        pod["status"]["phase"].as_str(),
        Some("Succeeded" | "Failed")
    )
}

/// The quota-relevant amounts of one pod, in thousandths.
fn pod_usage(pod: &Value) -> BTreeMap<String, i128> {
    let mut out = BTreeMap::new();
    out.insert("pods".to_string(), 1000);
    out.insert("count/pods".to_string(), 1000);
    for c in pod["spec"]["containers"].as_array().into_iter().flatten() {
        for (kind, prefix) in [("requests", "requests."), ("limits", "limits.")] {
            for (res, q) in c["resources"][kind].as_object().into_iter().flatten() {
                let v = q
                    .as_str()
                    .and_then(parse_milli)
                    .or_else(|| q.as_i64().map(|i| i128::from(i) * 1000))
                    .unwrap_or(0);
                *out.entry(format!("{prefix}{res}")).or_insert(0) += v;
                if kind == "requests" {
                    *out.entry(res.clone()).or_insert(0) += v;
                }
            }
        }
    }
    out
}

/// What a quota's `status.used` should be, given the pods in its namespace.
pub fn quota_used(inner: &Inner, ns: &str, quota: &Value) -> Value {
    let mut used: BTreeMap<String, i128> = BTreeMap::new();
    for pod in inner
        .list(rt("pods"), Some(ns))
        .into_iter()
        .filter(|p| !is_terminal(p))
    {
        for (k, v) in pod_usage(pod) {
            *used.entry(k).or_insert(0) += v;
        }
    }
    let mut out = serde_json::Map::new();
    for k in quota["spec"]["hard"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, _)| k)
    {
        out.insert(
            k.clone(),
            json!(format_milli(k, *used.get(k).unwrap_or(&0))),
        );
    }
    Value::Object(out)
}

/// Rejects a pod that would exceed a quota in its namespace, with the API server's message.
pub fn check_quota(inner: &Inner, ns: &str, pod: &Value) -> ApiResult<()> {
    let name = pod["metadata"]["name"].as_str().unwrap_or("");
    let usage = pod_usage(pod);
    for quota in inner.list(rt("resourcequotas"), Some(ns)) {
        let qname = quota["metadata"]["name"].as_str().unwrap_or("");
        let Some(hard) = quota["spec"]["hard"].as_object() else {
            continue;
        };
        // A quota on limits/requests needs every container to say them.
        let mut missing = Vec::new();
        for k in hard.keys() {
            let Some((kind, res)) = k.split_once('.') else {
                continue;
            };
            if !matches!(kind, "limits" | "requests") {
                continue;
            }
            for c in pod["spec"]["containers"].as_array().into_iter().flatten() {
                if c["resources"][kind][res].is_null() {
                    missing.push(format!("{k} for: {}", c["name"].as_str().unwrap_or("")));
                }
            }
        }
        if !missing.is_empty() {
            return Err(ApiError::forbidden(
                "",
                "pods",
                name,
                format!(
                    "pods \"{name}\" is forbidden: failed quota: {qname}: must specify {}",
                    missing.join(",")
                ),
            ));
        }
        let used = quota_used(inner, ns, quota);
        let mut requested = Vec::new();
        let mut used_s = Vec::new();
        let mut limited = Vec::new();
        for (k, limit) in hard {
            let Some(req) = usage.get(k) else { continue };
            let cap = limit.as_str().and_then(parse_milli).unwrap_or(i128::MAX);
            let now = used[k].as_str().and_then(parse_milli).unwrap_or(0);
            if now + req > cap {
                requested.push(format!("{k}={}", format_milli(k, *req)));
                used_s.push(format!("{k}={}", format_milli(k, now)));
                limited.push(format!("{k}={}", limit.as_str().unwrap_or("")));
            }
        }
        if !requested.is_empty() {
            return Err(ApiError::forbidden(
                "",
                "pods",
                name,
                format!(
                    "pods \"{name}\" is forbidden: exceeded quota: {qname}, requested: {}, used: {}, limited: {}",
                    requested.join(","),
                    used_s.join(","),
                    limited.join(",")
                ),
            ));
        }
    }
    Ok(())
}
