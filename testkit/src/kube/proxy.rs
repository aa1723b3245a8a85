//! The service `proxy` subresource: answers that tests script per service, or the API
//! server's 503 when the service has no ready endpoints.

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::KubeState;
use super::errors::{ApiError, ApiResult};
use super::resources::find;
use super::selectors::LabelSelector;

/// A scripted answer of a service behind the proxy.
#[derive(Debug, Clone, PartialEq)]
pub struct ProxyResponse {
    pub status: u16,
    pub content_type: String,
    pub body: String,
}

/// `…/services/{name}[:port]/proxy/{path}`.
pub fn serve(st: &Arc<KubeState>, ns: &str, name_port: &str, path: &str) -> ApiResult<Response> {
    // `name`, `name:port` or `scheme:name:port`.
    let without_scheme = name_port
        .strip_prefix("http:")
        .or_else(|| name_port.strip_prefix("https:"))
        .unwrap_or(name_port);
    let name = without_scheme.split(':').next().unwrap_or(without_scheme);
    let services = find("", "v1", "services").expect("services are served");
    let pods = find("", "v1", "pods").expect("pods are served");
    let inner = st.store.lock();
    let svc = inner
        .get(services, ns, name)
        .cloned()
        .ok_or_else(|| ApiError::not_found("", "services", name))?;
    let scripted = st
        .proxy
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&(ns.to_string(), name.to_string()))
        .cloned();
    let selector = LabelSelector::from_match_labels(&svc["spec"]["selector"]);
    let ready = inner.list(pods, Some(ns)).into_iter().any(|p| {
        selector.matches(p)
            && p["status"]["conditions"].as_array().is_some_and(|c| {
                c.iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            })
    });
    drop(inner);
    if !ready && scripted.is_none() {
        return Err(ApiError::internal(
            503,
            format!("no endpoints available for service \"{name}\""),
        ));
    }
    let r = scripted.unwrap_or_else(|| ProxyResponse {
        status: 200,
        content_type: "text/plain".into(),
        body: format!("catalyst-testkit: service {ns}/{name} answered /{path}\n"),
    });
    let code = StatusCode::from_u16(r.status).unwrap_or(StatusCode::OK);
    Ok((
        code,
        [(axum::http::header::CONTENT_TYPE, r.content_type)],
        r.body,
    )
        .into_response())
}
