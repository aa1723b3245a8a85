//! The HTTP front of the Kubernetes double: parses REST paths, runs faults and recording,
//! and dispatches to discovery, the verbs, watch, logs, proxy and metrics.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};

use super::errors::{ApiError, ApiResult};
use super::ops::{self, PatchType, Preconditions, WriteOpts};
use super::resources::{ResourceType, find};
use super::selectors::{FieldSelector, LabelSelector};
use super::watch::WatchParams;
use super::{KubeState, discovery, logs, metrics, proxy, table};
use crate::http_util::{decode_segment, parse_query};
use crate::recorder::RecordedRequest;

/// The router: everything goes through one handler that understands Kubernetes paths.
pub fn router(st: Arc<KubeState>) -> Router {
    Router::new().fallback(handle).with_state(st)
}

fn json_response(code: StatusCode, v: &Value) -> Response {
    (
        code,
        [(header::CONTENT_TYPE, "application/json")],
        v.to_string(),
    )
        .into_response()
}

async fn handle(State(st): State<Arc<KubeState>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 64 << 20)
        .await
        .unwrap_or_default();
    let received = chrono::Utc::now();
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().unwrap_or("").to_string();
    let q = parse_query(&query);
    let header_str = |h: header::HeaderName| {
        parts
            .headers
            .get(h)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let resp = match st.faults.before_request().await {
        Some(code) => {
            ApiError::internal(code, "the server is currently unable to handle the request")
                .into_response()
        }
        None => {
            match super::access::admit(&st, &parts.method, &path, &query, &parts.headers, &body) {
                Err(refused) => refused.into_response(),
                Ok(()) => route(&st, &parts.method, &path, &q, &parts.headers, body.clone())
                    .await
                    .unwrap_or_else(IntoResponse::into_response),
            }
        }
    };
    st.recorder.push(RecordedRequest {
        method: parts.method.to_string(),
        path,
        query,
        content_type: header_str(header::CONTENT_TYPE),
        user_agent: header_str(header::USER_AGENT),
        field_manager: q.get("fieldManager").cloned(),
        body: String::from_utf8_lossy(&body).into_owned(),
        status: resp.status().as_u16(),
        received,
        at: chrono::Utc::now(),
    });
    resp
}

/// Where a resource URL points.
struct Target {
    rt: &'static ResourceType,
    ns: Option<String>,
    name: Option<String>,
    sub: Option<String>,
    /// Path after the subresource (service proxy).
    rest: String,
}

fn parse_target(group: &str, version: &str, segs: &[String]) -> ApiResult<Target> {
    let (ns, tail) = match segs {
        [first, ns, third, tail @ ..]
            if first == "namespaces" && third != "status" && third != "finalize" =>
        {
            (Some(ns.clone()), {
                let mut t = vec![third.clone()];
                t.extend(tail.iter().cloned());
                t
            })
        }
        _ => (None, segs.to_vec()),
    };
    let plural = tail.first().ok_or_else(ApiError::unknown_path)?;
    let rt = find(group, version, plural).ok_or_else(ApiError::unknown_path)?;
    if ns.is_some() && !rt.namespaced {
        return Err(ApiError::unknown_path());
    }
    Ok(Target {
        rt,
        ns,
        name: tail.get(1).cloned(),
        sub: tail.get(2).cloned(),
        rest: tail.get(3..).map(|r| r.join("/")).unwrap_or_default(),
    })
}

async fn route(
    st: &Arc<KubeState>,
    method: &Method,
    path: &str,
    q: &HashMap<String, String>,
    headers: &HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let segs: Vec<String> = path
        .trim_matches('/')
        .split('/')
        .map(decode_segment)
        .collect();
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    let ok = |v: Value| Ok(json_response(StatusCode::OK, &v));
    match s.as_slice() {
        ["version"] => return ok(discovery::version()),
        ["healthz" | "livez" | "readyz"] => return Ok("ok".into_response()),
        ["api"] => return ok(discovery::core_versions(&st.server_address())),
        ["apis"] => return ok(discovery::group_list()),
        ["api", v] => {
            return discovery::resource_list("", v)
                .map_or_else(|| Err(ApiError::unknown_path()), ok);
        }
        ["apis", g] => {
            return discovery::group(g).map_or_else(|| Err(ApiError::unknown_path()), ok);
        }
        ["apis", g, v] => {
            return discovery::resource_list(g, v)
                .map_or_else(|| Err(ApiError::unknown_path()), ok);
        }
        _ => {}
    }
    let target = match s.as_slice() {
        ["api", v, ..] => parse_target("", v, &segs[2..])?,
        ["apis", g, v, ..] => parse_target(g, v, &segs[3..])?,
        _ => return Err(ApiError::unknown_path()),
    };
    if target.rt.read_only {
        if *method != Method::GET {
            return Err(ApiError::method_not_allowed());
        }
        return metrics::serve(st, target.ns.as_deref(), target.name.as_deref());
    }
    resource(st, method, target, q, headers, body).await
}

fn manager(q: &HashMap<String, String>, headers: &HeaderMap) -> String {
    q.get("fieldManager").cloned().unwrap_or_else(|| {
        // The API server names an unnamed writer after its User-Agent, up to the first '/'.
        headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.split('/').next().unwrap_or(ua).to_string())
            .unwrap_or_else(|| "unknown".into())
    })
}

fn parse_body(body: &Bytes) -> ApiResult<Value> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!("the body of the request could not be decoded: {e}"))
    })
}

async fn resource(
    st: &Arc<KubeState>,
    method: &Method,
    t: Target,
    q: &HashMap<String, String>,
    headers: &HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let rt = t.rt;
    let ns = t.ns.clone().unwrap_or_default();
    let mgr = manager(q, headers);
    let dry_run = q.get("dryRun").is_some_and(|v| v == "All");
    let sub = t.sub.as_deref();
    let opts = WriteOpts {
        manager: &mgr,
        dry_run,
        subresource: sub.filter(|s| *s == "status"),
    };
    if let Some(s) = sub
        && !rt.subresources().contains(&s)
    {
        return Err(ApiError::unknown_path());
    }
    if rt.namespaced && t.ns.is_none() && (t.name.is_some() || *method != Method::GET) {
        return Err(ApiError::unknown_path());
    }
    match (method.clone(), t.name.as_deref(), sub) {
        (Method::GET, None, None) => {
            if q.get("watch").is_some_and(|w| w == "true" || w == "1") {
                return Ok(super::watch::serve(
                    st.clone(),
                    rt,
                    watch_params(st, &t, q)?,
                ));
            }
            list(st, rt, t.ns.as_deref(), q, headers)
        }
        (Method::GET, Some(name), None | Some("status")) => {
            let obj = st
                .store
                .lock()
                .get(rt, &ns, name)
                .cloned()
                .ok_or_else(|| ApiError::not_found(rt.group, rt.plural, name))?;
            if table::wants_table(headers) {
                return Ok(json_response(
                    StatusCode::OK,
                    &table::render(rt, &[obj], &st.store.lock().current_rv().to_string(), None),
                ));
            }
            Ok(json_response(StatusCode::OK, &obj))
        }
        (Method::GET, Some(name), Some("log")) => {
            let p = logs::LogParams {
                container: q.get("container").cloned(),
                tail_lines: q.get("tailLines").and_then(|v| v.parse().ok()),
                since_seconds: q.get("sinceSeconds").and_then(|v| v.parse().ok()),
                timestamps: q.get("timestamps").is_some_and(|v| v == "true"),
                follow: q.get("follow").is_some_and(|v| v == "true"),
                limit_bytes: q.get("limitBytes").and_then(|v| v.parse().ok()),
                previous: q.get("previous").is_some_and(|v| v == "true"),
            };
            logs::serve(st.clone(), &ns, name, p).await
        }
        (_, Some(name), Some("proxy")) => proxy::serve(st, &ns, name, &t.rest),
        (Method::POST, Some(name), Some("token")) => {
            let answer = st.tokens.request(&st.store.lock(), &ns, name, &body)?;
            Ok(json_response(StatusCode::CREATED, &answer))
        }
        (Method::POST, None, None) => {
            let obj = ops::create(&mut st.store.lock(), rt, &ns, parse_body(&body)?, opts)?;
            Ok(json_response(StatusCode::CREATED, &obj))
        }
        (Method::PUT, Some(name), None | Some("status")) => {
            let obj = ops::replace(
                &mut st.store.lock(),
                rt,
                &ns,
                name,
                parse_body(&body)?,
                opts,
            )?;
            Ok(json_response(StatusCode::OK, &obj))
        }
        (Method::PATCH, Some(name), None | Some("status")) => {
            let ct = headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let ct = ct.split(';').next().unwrap_or("").trim();
            let force = q.get("force").is_some_and(|v| v == "true");
            let (ptype, patch) = match ct {
                "application/merge-patch+json" => (PatchType::Merge, parse_body(&body)?),
                "application/strategic-merge-patch+json" => {
                    (PatchType::Strategic, parse_body(&body)?)
                }
                "application/json-patch+json" => (PatchType::Json, parse_body(&body)?),
                "application/apply-patch+yaml" | "application/apply-patch+cbor" => {
                    if !q.contains_key("fieldManager") {
                        return Err(ApiError::bad_request(
                            "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
                        ));
                    }
                    let v = super::apply::decode_patch(&body)
                        .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?;
                    (PatchType::Apply { force }, v)
                }
                other => return Err(ApiError::unsupported_media(other)),
            };
            if force && !matches!(ptype, PatchType::Apply { .. }) {
                return Err(ApiError::bad_request(
                    "PatchOptions.meta.k8s.io \"\" is invalid: force: Forbidden: may not be specified for non-apply patch",
                ));
            }
            let (obj, created) =
                ops::patch(&mut st.store.lock(), rt, &ns, name, ptype, patch, opts)?;
            let code = if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            Ok(json_response(code, &obj))
        }
        (Method::DELETE, Some(name), None) => {
            let (policy, pre, dry) = delete_options(q, &body);
            let obj = ops::delete(
                &mut st.store.lock(),
                rt,
                &ns,
                name,
                policy.as_deref(),
                &pre,
                dry || dry_run,
            )?;
            let mut resp = json_response(StatusCode::OK, &obj);
            if rt.kind == "Job" && policy.is_none() {
                resp.headers_mut().insert(
                    "Warning",
                    header::HeaderValue::from_static("299 - \"child pods are preserved by default when jobs are deleted; set propagationPolicy=Background to remove them or set propagationPolicy=Orphan to suppress this warning\""),
                );
            }
            Ok(resp)
        }
        (Method::DELETE, None, None) => {
            let (policy, pre, dry) = delete_options(q, &body);
            let labels = LabelSelector::parse(q.get("labelSelector").map_or("", String::as_str))?;
            let fields = FieldSelector::parse(q.get("fieldSelector").map_or("", String::as_str))?;
            let mut inner = st.store.lock();
            let names: Vec<String> = inner
                .list(rt, t.ns.as_deref())
                .into_iter()
                .filter(|o| labels.matches(o) && fields.matches(o))
                .filter_map(|o| o["metadata"]["name"].as_str().map(str::to_string))
                .collect();
            let mut items = Vec::new();
            for n in names {
                items.push(std::sync::Arc::unwrap_or_clone(ops::delete(
                    &mut inner,
                    rt,
                    &ns,
                    &n,
                    policy.as_deref(),
                    &pre,
                    dry || dry_run,
                )?));
            }
            let rv = inner.current_rv().to_string();
            Ok(json_response(
                StatusCode::OK,
                &list_doc(rt, items, &rv, None, None),
            ))
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

fn delete_options(
    q: &HashMap<String, String>,
    body: &Bytes,
) -> (Option<String>, Preconditions, bool) {
    let opts: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let policy = q
        .get("propagationPolicy")
        .cloned()
        .or_else(|| opts["propagationPolicy"].as_str().map(str::to_string))
        .or_else(|| {
            (opts["orphanDependents"].as_bool() == Some(true)).then(|| "Orphan".to_string())
        });
    let pre = Preconditions {
        uid: opts["preconditions"]["uid"].as_str().map(str::to_string),
        resource_version: opts["preconditions"]["resourceVersion"]
            .as_str()
            .map(str::to_string),
    };
    let dry = opts["dryRun"]
        .as_array()
        .is_some_and(|a| a.iter().any(|v| v == "All"));
    (policy, pre, dry)
}

fn watch_params(st: &KubeState, t: &Target, q: &HashMap<String, String>) -> ApiResult<WatchParams> {
    let rv = match q.get("resourceVersion").map(String::as_str) {
        None | Some("") => None,
        Some(v) => Some(
            v.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid resource version: {v}")))?,
        ),
    };
    Ok(WatchParams {
        namespace: t.ns.clone(),
        resource_version: rv,
        labels: LabelSelector::parse(q.get("labelSelector").map_or("", String::as_str))?,
        fields: FieldSelector::parse(q.get("fieldSelector").map_or("", String::as_str))?,
        bookmarks: q.get("allowWatchBookmarks").is_some_and(|v| v == "true"),
        timeout: q
            .get("timeoutSeconds")
            .and_then(|v| v.parse().ok())
            .map_or(st.config().default_watch_timeout, Duration::from_secs),
        send_initial_events: q.get("sendInitialEvents").is_some_and(|v| v == "true"),
    })
}

/// A `…List` document.
pub fn list_doc(
    rt: &ResourceType,
    items: Vec<Value>,
    rv: &str,
    cont: Option<String>,
    remaining: Option<usize>,
) -> Value {
    let mut meta = json!({"resourceVersion": rv});
    if let Some(c) = cont {
        meta["continue"] = json!(c);
        meta["remainingItemCount"] = json!(remaining.unwrap_or(0));
    }
    // The API server leaves apiVersion/kind out of list items.
    let items: Vec<Value> = items
        .into_iter()
        .map(|mut i| {
            if let Some(m) = i.as_object_mut() {
                m.remove("apiVersion");
                m.remove("kind");
            }
            i
        })
        .collect();
    json!({"kind": format!("{}List", rt.kind), "apiVersion": rt.api_version(), "metadata": meta, "items": items})
}

fn list(
    st: &KubeState,
    rt: &'static ResourceType,
    ns: Option<&str>,
    q: &HashMap<String, String>,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let labels = LabelSelector::parse(q.get("labelSelector").map_or("", String::as_str))?;
    let fields = FieldSelector::parse(q.get("fieldSelector").map_or("", String::as_str))?;
    let limit: Option<usize> = q
        .get("limit")
        .and_then(|v| v.parse().ok())
        .filter(|l| *l > 0);
    let start_after: Option<String> = match q.get("continue").filter(|c| !c.is_empty()) {
        Some(c) => {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(c)
                .ok()
                .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                .ok_or_else(|| {
                    ApiError::bad_request("continue key is not valid: illegal base64 data")
                })?;
            raw["start"].as_str().map(str::to_string)
        }
        None => None,
    };
    let inner = st.store.lock();
    let rv = inner.current_rv();
    let key_of = |o: &Value| {
        format!(
            "{}/{}",
            o["metadata"]["namespace"].as_str().unwrap_or(""),
            o["metadata"]["name"].as_str().unwrap_or("")
        )
    };
    let matching: Vec<Value> = inner
        .list(rt, ns)
        .into_iter()
        .filter(|o| labels.matches(o) && fields.matches(o))
        .filter(|o| start_after.as_ref().is_none_or(|s| key_of(o) > *s))
        .cloned()
        .collect();
    drop(inner);
    let (items, cont, remaining) = match limit {
        Some(l) if matching.len() > l => {
            let page: Vec<Value> = matching[..l].to_vec();
            let last = key_of(&page[l - 1]);
            let token = json!({"v": "meta.k8s.io/v1", "rv": rv, "start": last}).to_string();
            (
                page,
                Some(base64::engine::general_purpose::STANDARD.encode(token)),
                Some(matching.len() - l),
            )
        }
        _ => (matching, None, None),
    };
    if table::wants_table(headers) {
        return Ok(json_response(
            StatusCode::OK,
            &table::render(rt, &items, &rv.to_string(), cont),
        ));
    }
    Ok(json_response(
        StatusCode::OK,
        &list_doc(rt, items, &rv.to_string(), cont, remaining),
    ))
}
