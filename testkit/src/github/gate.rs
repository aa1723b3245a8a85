//! What every GitHub request passes through: fault injection, authentication, primary and
//! secondary rate limits, `ETag`/`If-None-Match` (a 304 costs nothing), the
//! `X-RateLimit-*` headers, and the request record.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::Digest;

use super::GhState;
use super::auth::{Identity, identify};
use super::errors::GhError;
use super::ratelimit::headers;
use crate::recorder::RecordedRequest;

fn set_headers(resp: &mut Response, hs: Vec<(String, String)>) {
    for (k, v) in hs {
        if let (Ok(k), Ok(v)) = (HeaderName::try_from(k), HeaderValue::try_from(v)) {
            resp.headers_mut().insert(k, v);
        }
    }
}

/// The middleware.
pub async fn gate(State(st): State<Arc<GhState>>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 16 << 20)
        .await
        .unwrap_or_default();
    let method = parts.method.clone();
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().unwrap_or("").to_string();
    let header_str = |h: header::HeaderName| {
        parts
            .headers
            .get(h)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let record = RecordedRequest {
        method: method.to_string(),
        path: path.clone(),
        query,
        content_type: header_str(header::CONTENT_TYPE),
        user_agent: header_str(header::USER_AGENT),
        field_manager: None,
        body: String::from_utf8_lossy(&bytes).into_owned(),
        status: 0,
        received: chrono::Utc::now(),
        at: chrono::Utc::now(),
    };
    let if_none_match = header_str(header::IF_NONE_MATCH);
    let resp = serve(&st, parts, bytes, next, &method, &path, if_none_match).await;
    st.recorder.push(RecordedRequest {
        status: resp.status().as_u16(),
        at: chrono::Utc::now(),
        ..record
    });
    resp
}

async fn serve(
    st: &Arc<GhState>,
    parts: axum::http::request::Parts,
    bytes: bytes::Bytes,
    next: Next,
    method: &Method,
    path: &str,
    if_none_match: Option<String>,
) -> Response {
    if let Some(code) = st.faults.before_request().await {
        return GhError::new(
            code,
            if code == 503 {
                "Service Unavailable"
            } else {
                "Server Error"
            },
        )
        .into_response();
    }
    // Control and OAuth endpoints are not part of the rate-limited REST API.
    let unmetered = path.starts_with("/_testkit") || path.starts_with("/login/oauth");
    let identity = if unmetered {
        Identity::Anonymous
    } else {
        match identify(&st.world(), &parts.headers) {
            Ok(i) => i,
            Err(e) => return e.into_response(),
        }
    };
    let counts = !unmetered && path != "/rate_limit";
    if counts && let Err(e) = st.limits().check(&identity) {
        return e.into_response();
    }
    let mut req = Request::from_parts(parts, Body::from(bytes));
    req.extensions_mut().insert(identity.clone());
    let resp = next.run(req).await;
    if unmetered {
        return resp;
    }
    let (mut rparts, rbody) = resp.into_parts();
    let rbytes = axum::body::to_bytes(rbody, usize::MAX)
        .await
        .unwrap_or_default();
    let mut not_modified = false;
    if *method == Method::GET && rparts.status == StatusCode::OK {
        let etag = format!("W/\"{}\"", hex::encode(sha2::Sha256::digest(&rbytes)));
        not_modified = if_none_match.as_deref().is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim().trim_start_matches("W/") == etag.trim_start_matches("W/"))
        });
        if let Ok(v) = HeaderValue::from_str(&etag) {
            rparts.headers.insert(header::ETAG, v);
        }
    }
    let hs = {
        let mut limits = st.limits();
        let b = limits.bucket(&identity);
        if counts && !not_modified {
            b.used += 1;
        }
        headers(b)
    };
    let mut resp = if not_modified {
        let mut r = StatusCode::NOT_MODIFIED.into_response();
        if let Some(e) = rparts.headers.get(header::ETAG) {
            r.headers_mut().insert(header::ETAG, e.clone());
        }
        r
    } else {
        Response::from_parts(rparts, Body::from(rbytes))
    };
    set_headers(&mut resp, hs);
    resp.headers_mut().insert(
        "x-github-media-type",
        HeaderValue::from_static("github.v3; format=json"),
    );
    resp.headers_mut().insert(
        "x-github-request-id",
        HeaderValue::from_str(&uuid::Uuid::new_v4().simple().to_string()[..20].to_uppercase())
            .unwrap_or(HeaderValue::from_static("0")),
    );
    resp
}
