//! The shape of one GitHub request and its answer, independent of credentials and
//! retries: relative paths, JSON bodies, conditional `If-None-Match`, `Link` pagination,
//! and GitHub's error `message`.

use bytes::Bytes;
use http::header::HeaderMap;
use http::{Method, StatusCode};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::{GithubError, Result};

/// One request, before authentication.
#[derive(Clone, Debug)]
pub(crate) struct ApiRequest {
    pub method: Method,
    /// Path and query, relative to the API base (`/repos/o/r/pulls?state=open`).
    pub path: String,
    pub body: Option<serde_json::Value>,
    pub if_none_match: Option<String>,
}

impl ApiRequest {
    pub fn get(path: impl Into<String>) -> Self {
        Self {
            method: Method::GET,
            path: path.into(),
            body: None,
            if_none_match: None,
        }
    }

    pub fn post(path: impl Into<String>, body: serde_json::Value) -> Self {
        Self {
            method: Method::POST,
            body: Some(body),
            ..Self::get(path)
        }
    }

    pub fn patch(path: impl Into<String>, body: serde_json::Value) -> Self {
        Self {
            method: Method::PATCH,
            body: Some(body),
            ..Self::get(path)
        }
    }

    /// A POST may have taken effect even when the answer was a 502, so it is never
    /// repeated here; callers that must not duplicate (comments) re-check first.
    pub(crate) fn idempotent(&self) -> bool {
        self.method != Method::POST
    }

    pub(crate) fn api_error(&self, status: u16, message: String) -> GithubError {
        GithubError::Api {
            method: self.method.to_string(),
            path: self.path.clone(),
            status,
            message,
        }
    }
}

/// GitHub's answer, body read.
#[derive(Clone, Debug)]
pub(crate) struct ApiResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl ApiResponse {
    pub fn json<T: DeserializeOwned>(&self, what: &str) -> Result<T> {
        serde_json::from_slice(&self.body).map_err(|source| GithubError::Decode {
            what: what.to_owned(),
            source,
        })
    }

    pub fn etag(&self) -> Option<String> {
        header_str(&self.headers, "etag").map(str::to_owned)
    }

    /// The `rel="next"` page of a paginated list, as a path relative to the host.
    pub fn next_page(&self) -> Option<String> {
        next_link(header_str(&self.headers, "link")?)
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The `rel="next"` target of a `Link` header, reduced to path and query so the request
/// goes to the configured host with the configured credentials.
pub(crate) fn next_link(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let is_next = params
            .split(';')
            .any(|p| p.trim().replace(' ', "") == "rel=\"next\"");
        if !is_next {
            return None;
        }
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        let uri: http::Uri = target.parse().ok()?;
        uri.path_and_query().map(|pq| pq.as_str().to_owned())
    })
}

/// GitHub's error `message` (JSON), else the start of the raw body.
pub(crate) fn error_message(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct ErrorBody {
        message: String,
    }
    if body.is_empty() {
        return String::new();
    }
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(b) => b.message,
        Err(_) => String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_link_is_reduced_to_path_and_query() {
        let link = "<https://api.github.com/repositories/1/issues/2/comments?page=2&per_page=100>; rel=\"next\", \
                    <https://api.github.com/repositories/1/issues/2/comments?page=5&per_page=100>; rel=\"last\"";
        assert_eq!(
            next_link(link).as_deref(),
            Some("/repositories/1/issues/2/comments?page=2&per_page=100")
        );
        let last_page = "<http://127.0.0.1:1/x?page=1>; rel=\"first\", <http://127.0.0.1:1/x?page=2>; rel=\"prev\"";
        assert_eq!(next_link(last_page), None);
        assert_eq!(next_link("garbage"), None);
    }

    #[test]
    fn error_messages_come_from_the_json_body_or_the_raw_text() {
        assert_eq!(
            error_message(br#"{"message":"Not Found","documentation_url":"x"}"#),
            "Not Found"
        );
        assert_eq!(error_message(b"Bad Gateway"), "Bad Gateway");
        assert_eq!(error_message(b""), "");
    }

    #[test]
    fn only_posts_are_not_repeated() {
        assert!(ApiRequest::get("/x").idempotent());
        assert!(ApiRequest::patch("/x", serde_json::json!({})).idempotent());
        assert!(!ApiRequest::post("/x", serde_json::json!({})).idempotent());
    }
}
