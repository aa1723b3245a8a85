//! Container logs for the dashboard: `GET /ws/logs/{environment}` follows one
//! container over a WebSocket (tail first, then live lines in batches), and
//! `GET /logs/{environment}/download` returns the last lines as a text file.
//!
//! The follow survives container restarts: when the Kubernetes stream ends the server
//! says so, waits briefly and follows again from just after the last line it sent
//! (timestamps make the join exact), until the reader closes the socket.

use std::sync::Arc;
use std::time::Duration;

use app::auth::SignedIn;
use app::dto::{LogFrame, LogLine, split_timestamp};
use axum::Extension;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use futures::{SinkExt, StreamExt};
use serde::Deserialize;

use super::DashboardBackend;
use super::auth::same_origin;
use crate::service::LogRequest;

/// Lines per frame at most; a frame also goes out every [`FLUSH_EVERY`].
const MAX_BATCH: usize = 1_000;
const FLUSH_EVERY: Duration = Duration::from_millis(100);
const RECONNECT_AFTER: Duration = Duration::from_secs(2);
const MAX_TAIL: i64 = 10_000;

#[derive(Deserialize)]
pub struct FollowQuery {
    pod: String,
    container: String,
    tail: Option<i64>,
}

#[derive(Deserialize)]
pub struct DownloadQuery {
    pod: String,
    container: String,
    #[serde(default)]
    timestamps: bool,
}

/// Who may read logs: anyone signed in (everyone when sign-in is not configured).
fn may_read(backend: &DashboardBackend, who: Option<&SignedIn>) -> bool {
    who.is_some() || !backend.sign_in_enabled()
}

async fn namespace_of(backend: &DashboardBackend, id: &str) -> Result<String, Response> {
    match backend.service.environment_summary(id).await {
        Ok(Some(env)) => Ok(env.namespace),
        Ok(None) => Err((StatusCode::NOT_FOUND, "no such environment").into_response()),
        Err(e) => {
            tracing::error!(error = %e, "reading the environment failed");
            Err((
                StatusCode::SERVICE_UNAVAILABLE,
                "the database could not be read",
            )
                .into_response())
        }
    }
}

pub async fn download(
    Extension(backend): Extension<Arc<DashboardBackend>>,
    who: Option<Extension<SignedIn>>,
    Path(id): Path<String>,
    Query(q): Query<DownloadQuery>,
) -> Response {
    if !may_read(&backend, who.as_ref().map(|w| &w.0)) {
        return (StatusCode::UNAUTHORIZED, "sign in to read logs").into_response();
    }
    let namespace = match namespace_of(&backend, &id).await {
        Ok(n) => n,
        Err(r) => return r,
    };
    let req = LogRequest {
        pod: q.pod.clone(),
        container: q.container.clone(),
        tail_lines: Some(MAX_TAIL),
        since_seconds: None,
        timestamps: q.timestamps,
    };
    match backend.service.get_logs(&namespace, &req).await {
        Ok(text) => {
            let name = format!("{namespace}-{}-{}.log", q.pod, q.container).replace(
                |c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '.'),
                "_",
            );
            (
                [
                    (header::CONTENT_TYPE, "text/plain; charset=utf-8".to_owned()),
                    (
                        header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"{name}\""),
                    ),
                    (header::CACHE_CONTROL, "no-store".to_owned()),
                ],
                text,
            )
                .into_response()
        }
        Err(e) => (
            StatusCode::BAD_GATEWAY,
            format!("the log could not be read: {e}"),
        )
            .into_response(),
    }
}

pub async fn follow(
    Extension(backend): Extension<Arc<DashboardBackend>>,
    who: Option<Extension<SignedIn>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<FollowQuery>,
    ws: WebSocketUpgrade,
) -> Response {
    if !same_origin(&headers) {
        return (StatusCode::FORBIDDEN, "cross-site WebSocket refused").into_response();
    }
    if !may_read(&backend, who.as_ref().map(|w| &w.0)) {
        return (StatusCode::UNAUTHORIZED, "sign in to read logs").into_response();
    }
    let namespace = match namespace_of(&backend, &id).await {
        Ok(n) => n,
        Err(r) => return r,
    };
    let tail = q.tail.unwrap_or(500).clamp(0, MAX_TAIL);
    ws.on_upgrade(move |socket| stream_logs(socket, backend, namespace, q.pod, q.container, tail))
}

fn frame(f: &LogFrame) -> Message {
    Message::Text(serde_json::to_string(f).unwrap_or_default().into())
}

/// Seconds to ask for so that the line at `ts` is included again (then de-duplicated).
fn since_seconds(ts: Option<&str>, now: DateTime<Utc>) -> Option<i64> {
    let t = DateTime::parse_from_rfc3339(ts?).ok()?;
    Some((now - t.with_timezone(&Utc)).num_seconds().max(0) + 1)
}

/// The container's restart count and whether it runs, when the pod can be read.
async fn container_state(
    backend: &DashboardBackend,
    namespace: &str,
    pod: &str,
    container: &str,
) -> Option<(i32, String)> {
    let pods = backend.service.list_pods(namespace).await.ok()?;
    let p = pods.into_iter().find(|p| p.name == pod)?;
    let c = p.containers.into_iter().find(|c| c.name == container)?;
    Some((c.restarts, c.state))
}

/// De-duplicates the lines a reconnect replays: everything before the last line sent,
/// and as many lines with exactly its timestamp as were already sent.
#[derive(Debug, Default)]
struct Replay {
    last_ts: Option<String>,
    /// Lines sent that carry `last_ts` (several lines can share one timestamp).
    sent_at_last: usize,
    /// While replaying: how many lines at `last_ts` are still to be skipped.
    skipping: Option<usize>,
}

impl Replay {
    fn reconnecting(&mut self) {
        self.skipping = self.last_ts.as_ref().map(|_| self.sent_at_last);
    }

    /// Whether to send `line`; records it when so.
    fn admit(&mut self, line: &LogLine) -> bool {
        let Some(ts) = &line.ts else { return true };
        if let (Some(left), Some(last)) = (self.skipping, &self.last_ts) {
            if ts < last {
                return false;
            }
            if ts == last && left > 0 {
                self.skipping = Some(left - 1);
                return false;
            }
            self.skipping = None;
        }
        if self.last_ts.as_ref() == Some(ts) {
            self.sent_at_last += 1;
        } else {
            self.last_ts = Some(ts.clone());
            self.sent_at_last = 1;
        }
        true
    }
}

async fn stream_logs(
    socket: WebSocket,
    backend: Arc<DashboardBackend>,
    namespace: String,
    pod: String,
    container: String,
    tail: i64,
) {
    let (mut tx, mut rx) = socket.split();
    // The reader closing the socket ends everything.
    let (closed_tx, mut closed) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        while let Some(Ok(msg)) = rx.next().await {
            if matches!(msg, Message::Close(_)) {
                break;
            }
        }
        let _ = closed_tx.send(true);
    });

    let mut replay = Replay::default();
    let mut announce_reconnect = false;
    loop {
        let before = container_state(&backend, &namespace, &pod, &container).await;
        let req = LogRequest {
            pod: pod.clone(),
            container: container.clone(),
            // Until a line has arrived, ask for the tail again; afterwards continue from
            // the last line sent (the replayed part is skipped by `replay`).
            tail_lines: replay.last_ts.is_none().then_some(tail),
            since_seconds: since_seconds(replay.last_ts.as_deref(), Utc::now()),
            timestamps: true,
        };
        replay.reconnecting();
        match backend.service.follow_logs(&namespace, &req).await {
            Ok(stream) => {
                if announce_reconnect {
                    let note = LogFrame::Notice {
                        message: format!("Reconnected to {pod}/{container}."),
                    };
                    if tx.send(frame(&note)).await.is_err() {
                        return;
                    }
                    announce_reconnect = false;
                }
                let mut stream = Box::pin(stream);
                let mut batch: Vec<LogLine> = Vec::new();
                let mut tick = tokio::time::interval(FLUSH_EVERY);
                loop {
                    tokio::select! {
                        line = stream.next() => match line {
                            Some(Ok(text)) => {
                                let l = split_timestamp(&text);
                                if !replay.admit(&l) {
                                    continue;
                                }
                                batch.push(l);
                                if batch.len() >= MAX_BATCH {
                                    let f = LogFrame::Lines { lines: std::mem::take(&mut batch) };
                                    if tx.send(frame(&f)).await.is_err() {
                                        return;
                                    }
                                }
                            }
                            Some(Err(e)) => {
                                tracing::debug!(error = %e, "log stream broke");
                                break;
                            }
                            None => break,
                        },
                        _ = tick.tick() => {
                            if !batch.is_empty() {
                                let f = LogFrame::Lines { lines: std::mem::take(&mut batch) };
                                if tx.send(frame(&f)).await.is_err() {
                                    return;
                                }
                            }
                        }
                        _ = closed.changed() => return,
                    }
                }
                if !batch.is_empty() {
                    let f = LogFrame::Lines { lines: batch };
                    if tx.send(frame(&f)).await.is_err() {
                        return;
                    }
                }
                // An idle connection times out now and then; only a container that
                // restarted or stopped is worth telling the reader about.
                let after = container_state(&backend, &namespace, &pod, &container).await;
                let same_instance =
                    matches!((&before, &after), (Some(b), Some(a)) if b == a && a.1 == "running");
                if !same_instance {
                    let why = match &after {
                        Some((restarts, state))
                            if before.as_ref().is_some_and(|b| b.0 != *restarts) =>
                        {
                            format!(
                                "The container restarted (restart #{restarts}, now {state}); reconnecting…"
                            )
                        }
                        Some((_, state)) => {
                            format!("The log stream ended (container {state}); reconnecting…")
                        }
                        None => "The log stream ended (the pod is gone or unreadable); retrying…"
                            .to_owned(),
                    };
                    if tx
                        .send(frame(&LogFrame::Notice { message: why }))
                        .await
                        .is_err()
                    {
                        return;
                    }
                    announce_reconnect = true;
                }
            }
            Err(e) => {
                let err = LogFrame::Error {
                    message: format!("The log could not be opened: {e}. Retrying…"),
                };
                if tx.send(frame(&err)).await.is_err() {
                    return;
                }
                announce_reconnect = true;
            }
        }
        let pause = if announce_reconnect {
            RECONNECT_AFTER
        } else {
            Duration::from_millis(100)
        };
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = closed.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconnects_ask_from_just_before_the_last_line() {
        let now = DateTime::parse_from_rfc3339("2026-11-27T10:00:10Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        assert_eq!(since_seconds(Some("2026-11-27T10:00:00.5Z"), now), Some(10));
        assert_eq!(since_seconds(None, now), None);
        assert_eq!(since_seconds(Some("garbage"), now), None);
    }

    fn line(ts: &str, text: &str) -> LogLine {
        LogLine {
            ts: Some(ts.to_owned()),
            text: text.to_owned(),
        }
    }

    #[test]
    fn replayed_lines_are_skipped_even_when_they_share_a_timestamp() {
        let mut r = Replay::default();
        assert!(r.admit(&line("t1", "a")));
        assert!(r.admit(&line("t2", "b")));
        assert!(r.admit(&line("t2", "c")));
        r.reconnecting();
        assert!(!r.admit(&line("t1", "a")));
        assert!(!r.admit(&line("t2", "b")));
        assert!(!r.admit(&line("t2", "c")));
        assert!(r.admit(&line("t2", "d")));
        assert!(r.admit(&line("t3", "e")));
        // Live lines with one timestamp all pass.
        assert!(r.admit(&line("t3", "f")));
    }
}
