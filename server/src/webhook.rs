//! `POST /webhooks/github`: the GitHub entrance. Verifies the signature over the raw
//! bytes before anything parses them, translates the payload into a domain event and
//! hands it to the service layer, which records it and wakes the reconciler. The
//! request never waits on Kubernetes or GitHub.

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::core::signature;
use crate::core::webhook_event;
use crate::state::AppState;
use crate::store::intake::{Delivery, DeliveryOutcome};

/// GitHub caps webhook payloads at 25 MB; anything larger is not from GitHub.
pub const MAX_BODY_BYTES: usize = 25 * 1024 * 1024;

fn reply(status: StatusCode, body: serde_json::Value) -> Response {
    (status, axum::Json(body)).into_response()
}

fn refuse(status: StatusCode, error: impl std::fmt::Display) -> Response {
    reply(
        status,
        json!({ "error": error.to_string(), "detail": null }),
    )
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

pub async fn receive(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Some(secret) = state.config.github.webhook_secret.as_ref() else {
        state.metrics.webhook_received("disabled");
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "webhooks are disabled: set CATALYST_GITHUB_WEBHOOK_SECRET to the secret configured in the GitHub App",
        );
    };
    let body = match body {
        Ok(body) => body,
        Err(rejection) => {
            state.metrics.webhook_received("body_rejected");
            return refuse(rejection.status(), rejection.body_text());
        }
    };
    if let Err(e) = signature::verify(
        secret.expose().as_bytes(),
        &body,
        header(&headers, "x-hub-signature-256"),
        headers.contains_key("x-hub-signature"),
    ) {
        tracing::warn!(reason = %e, "webhook refused: bad signature");
        state.metrics.webhook_received("bad_signature");
        return refuse(StatusCode::UNAUTHORIZED, e);
    }
    let Some(event_name) = header(&headers, "x-github-event") else {
        state.metrics.webhook_received("bad_request");
        return refuse(StatusCode::BAD_REQUEST, "missing X-GitHub-Event header");
    };
    let Some(delivery_id) = header(&headers, "x-github-delivery").filter(|d| !d.is_empty()) else {
        state.metrics.webhook_received("bad_request");
        return refuse(StatusCode::BAD_REQUEST, "missing X-GitHub-Delivery header");
    };
    let event = match webhook_event::parse(event_name, &body) {
        Ok(event) => event,
        Err(e) => {
            state.metrics.webhook_received("bad_request");
            return refuse(StatusCode::BAD_REQUEST, e);
        }
    };
    let delivery = Delivery {
        id: delivery_id,
        event: event_name,
    };
    match state.service.ingest_webhook(delivery, &event).await {
        Ok(outcome) => {
            state.metrics.webhook_received(outcome.as_str());
            if outcome == DeliveryOutcome::Applied {
                // The PR's comment may change (or be due: configuration missing, fork).
                state.publish.wake();
            }
            tracing::info!(
                delivery = delivery_id,
                event = event_name,
                outcome = outcome.as_str(),
                "webhook delivery"
            );
            let status = match outcome {
                DeliveryOutcome::Ignored => StatusCode::ACCEPTED,
                _ => StatusCode::OK,
            };
            reply(
                status,
                json!({ "delivery": delivery_id, "outcome": outcome.as_str() }),
            )
        }
        Err(e) => {
            tracing::error!(delivery = delivery_id, error = %e, "webhook delivery could not be recorded");
            state.metrics.webhook_received("error");
            // 5xx lets GitHub's redelivery try again later.
            refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                "could not record the delivery",
            )
        }
    }
}
