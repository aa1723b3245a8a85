//! `metav1.Status` error bodies, with the messages and reasons the real API server uses.
//!
//! Clients (kube's `ErrorResponse`, kubectl) branch on `reason` and `code`, and humans read
//! `message`, so both are copied verbatim from the API server's formats.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// One cause inside an `Invalid` or `Conflict` status (`details.causes[]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Cause {
    /// e.g. `FieldValueInvalid`, `FieldValueRequired`, `FieldManagerConflict`.
    pub reason: String,
    pub message: String,
    pub field: String,
}

/// An API failure, rendered as a `Status` object.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{code} {reason}: {message}")]
pub struct ApiError {
    pub code: u16,
    pub reason: String,
    pub message: String,
    /// `details`, already shaped (`name`, `group`, `kind`, `causes`).
    pub details: Value,
}

impl ApiError {
    fn new(code: u16, reason: &str, message: String, details: Value) -> Self {
        Self {
            code,
            reason: reason.to_string(),
            message,
            details,
        }
    }

    fn details(group: &str, plural: &str, name: &str) -> Value {
        let mut d = json!({ "name": name, "kind": plural });
        if !group.is_empty() {
            d["group"] = json!(group);
        }
        d
    }

    /// `namespaces "x" not found` / `deployments.apps "x" not found`.
    pub fn not_found(group: &str, plural: &str, name: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", qualified(group, plural)),
            Self::details(group, plural, name),
        )
    }

    /// `configmaps "x" already exists`.
    pub fn already_exists(group: &str, plural: &str, name: &str) -> Self {
        Self::new(
            409,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", qualified(group, plural)),
            Self::details(group, plural, name),
        )
    }

    /// A binding of a pod that is bound already (`BindingREST`'s `NewConflict` on
    /// `pods/binding`).
    pub fn conflict_bound(name: &str, node: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on pods/binding \"{name}\": pod {name} is already assigned to node \"{node}\""
            ),
            Self::details("", "pods/binding", name),
        )
    }

    /// The optimistic-concurrency failure of a replace with a stale `resourceVersion`.
    pub fn conflict_stale(group: &str, plural: &str, name: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
                qualified(group, plural)
            ),
            Self::details(group, plural, name),
        )
    }

    /// Server-side apply conflicts with other field managers.
    pub fn apply_conflict(group: &str, plural: &str, name: &str, causes: Vec<Cause>) -> Self {
        let n = causes.len();
        let lines: Vec<String> = causes
            .iter()
            .map(|c| format!("- {}: {}", c.message, c.field))
            .collect();
        let message = if n == 1 {
            format!(
                "Apply failed with 1 conflict: {}: {}",
                causes[0].message, causes[0].field
            )
        } else {
            format!("Apply failed with {n} conflicts: {}", lines.join("\n"))
        };
        let mut details = Self::details(group, plural, name);
        details["causes"] = causes_json(&causes);
        Self::new(409, "Conflict", message, details)
    }

    /// `Kind "name" is invalid: field: Invalid value: …` (422).
    pub fn invalid(group: &str, kind: &str, name: &str, causes: Vec<Cause>) -> Self {
        let parts: Vec<String> = causes
            .iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect();
        let joined = if parts.len() == 1 {
            parts[0].clone()
        } else {
            format!("[{}]", parts.join(", "))
        };
        let qual = if group.is_empty() {
            kind.to_string()
        } else {
            format!("{kind}.{group}")
        };
        let mut details = json!({ "name": name, "kind": kind, "group": group });
        details["causes"] = causes_json(&causes);
        Self::new(
            422,
            "Invalid",
            format!("{qual} \"{name}\" is invalid: {joined}"),
            details,
        )
    }

    /// 403 with a message the caller formats (quota, terminating namespace, RBAC).
    pub fn forbidden(group: &str, plural: &str, name: &str, message: String) -> Self {
        Self::new(
            403,
            "Forbidden",
            message,
            Self::details(group, plural, name),
        )
    }

    /// 400 BadRequest, e.g. a malformed body or a missing `fieldManager` on apply.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message.into(), json!({}))
    }

    /// 405 for a verb the resource does not support.
    pub fn method_not_allowed() -> Self {
        Self::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource".into(),
            json!({}),
        )
    }

    /// 410 Gone, for list/watch from a compacted `resourceVersion`.
    pub fn gone(rv: u64, oldest: u64) -> Self {
        Self::new(
            410,
            "Expired",
            format!("too old resource version: {rv} ({oldest})"),
            json!({}),
        )
    }

    /// 415 for a patch type the server does not understand.
    pub fn unsupported_media(ct: &str) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got {ct})"
            ),
            json!({}),
        )
    }

    /// 404 for a URL that names no known resource.
    pub fn unknown_path() -> Self {
        Self::new(
            404,
            "NotFound",
            "the server could not find the requested resource".into(),
            json!({}),
        )
    }

    /// A 5xx answer used by fault injection.
    pub fn internal(code: u16, message: impl Into<String>) -> Self {
        let reason = match code {
            503 => "ServiceUnavailable",
            504 => "Timeout",
            _ => "InternalError",
        };
        Self::new(code, reason, message.into(), json!({}))
    }

    /// The `Status` object itself (also embedded in watch `ERROR` events).
    pub fn to_status(&self) -> Value {
        let mut s = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if self.details.as_object().is_some_and(|d| !d.is_empty()) {
            s["details"] = self.details.clone();
        }
        s
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (
            code,
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            self.to_status().to_string(),
        )
            .into_response()
    }
}

fn causes_json(causes: &[Cause]) -> Value {
    Value::Array(
        causes
            .iter()
            .map(|c| json!({ "reason": c.reason, "message": c.message, "field": c.field }))
            .collect(),
    )
}

/// `plural` for the core group, `plural.group` otherwise — the API server's `GroupResource` string.
pub fn qualified(group: &str, plural: &str) -> String {
    if group.is_empty() {
        plural.to_string()
    } else {
        format!("{plural}.{group}")
    }
}

/// Result alias for the Kubernetes double.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// 409 for a failed delete precondition.
    pub fn conflict_precondition(group: &str, plural: &str, name: &str, detail: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": Precondition failed: {detail}",
                qualified(group, plural)
            ),
            Self::details(group, plural, name),
        )
    }
}
