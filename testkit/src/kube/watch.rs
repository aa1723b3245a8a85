//! Watches: newline-delimited JSON events over a chunked response, from a
//! `resourceVersion` (served from the bounded event history, 410 Gone when it is older),
//! with bookmarks, `timeoutSeconds`, label/field selectors and `sendInitialEvents`.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;

use super::KubeState;
use super::errors::ApiError;
use super::resources::ResourceType;
use super::selectors::{FieldSelector, LabelSelector};
use super::store::{EventType, WatchEvent};

/// Parameters of one watch request.
#[derive(Debug, Clone)]
pub struct WatchParams {
    pub namespace: Option<String>,
    pub resource_version: Option<u64>,
    pub labels: LabelSelector,
    pub fields: FieldSelector,
    pub bookmarks: bool,
    pub timeout: Duration,
    pub send_initial_events: bool,
}

/// One line of a watch stream as the API server writes it: `type` before `object` (Go
/// encodes `metav1.WatchEvent`'s fields in declaration order). A JSON map sorts its keys
/// and puts `object` first, which made kube's adjacently tagged `WatchEvent` buffer every
/// object whole before decoding it: 6 % of the samples of Catalyst's async threads in the
/// 500-PR burst.
fn line(kind: &str, object: &Value) -> Bytes {
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(b"{\"type\":");
    // Neither a `&str` nor a `Value` can fail to serialise.
    let _ = serde_json::to_writer(&mut out, kind);
    out.extend_from_slice(b",\"object\":");
    let _ = serde_json::to_writer(&mut out, object);
    out.extend_from_slice(b"}\n");
    Bytes::from(out)
}

fn bookmark(rt: &ResourceType, rv: u64, initial_end: bool) -> Value {
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if initial_end {
        meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    json!({"kind": rt.kind, "apiVersion": rt.api_version(), "metadata": meta})
}

/// Starts a watch and returns the streaming response.
pub fn serve(st: Arc<KubeState>, rt: &'static ResourceType, p: WatchParams) -> Response {
    let in_scope = {
        let p = p.clone();
        move |ev_ns: &str, obj: &Value| {
            p.namespace.as_deref().is_none_or(|n| n == ev_ns) && p.fields.matches(obj)
        }
    };
    let (tx, rx) = mpsc::channel::<Result<Bytes, Infallible>>(256);
    let (seed, send_seed, backlog, mut events, start_rv, gone) = {
        let inner = st.store.lock();
        let from = p.resource_version.filter(|rv| *rv > 0);
        let seed: Vec<Value> = inner
            .list(rt, p.namespace.as_deref())
            .into_iter()
            .filter(|o| {
                p.labels.matches(o)
                    && in_scope(o["metadata"]["namespace"].as_str().unwrap_or(""), o)
            })
            .cloned()
            .collect();
        let (backlog, gone) = match from {
            Some(rv) if !p.send_initial_events => match inner.events_since(rv) {
                Ok(b) => (b, None),
                Err(oldest) => (Vec::new(), Some(ApiError::gone(rv, oldest))),
            },
            _ => (Vec::new(), None),
        };
        let send_seed = from.is_none() || p.send_initial_events;
        let start_rv = if send_seed {
            inner.current_rv()
        } else {
            from.unwrap_or(0)
        };
        (seed, send_seed, backlog, inner.subscribe(), start_rv, gone)
    };
    let bookmark_every = st.config().bookmark_interval;
    tokio::spawn(async move {
        if let Some(err) = gone {
            let _ = tx.send(Ok(line("ERROR", &err.to_status()))).await;
            return;
        }
        let mut last_rv = start_rv;
        if send_seed {
            for o in &seed {
                if tx.send(Ok(line("ADDED", o))).await.is_err() {
                    return;
                }
            }
        }
        if p.send_initial_events
            && tx
                .send(Ok(line("BOOKMARK", &bookmark(rt, start_rv, true))))
                .await
                .is_err()
        {
            return;
        }
        let deadline = tokio::time::sleep(p.timeout);
        tokio::pin!(deadline);
        let mut ticker = tokio::time::interval(bookmark_every);
        ticker.tick().await;
        let emit = |ev: &WatchEvent| -> Option<Bytes> {
            if ev.resource.group != rt.group
                || ev.resource.plural != rt.plural
                || !in_scope(&ev.namespace, &ev.object)
            {
                return None;
            }
            let was = ev
                .previous
                .as_ref()
                .is_some_and(|prev| p.labels.matches(prev));
            let now = p.labels.matches(&ev.object);
            let kind = match (ev.kind, was, now) {
                (EventType::Deleted, true, _) => "DELETED",
                (EventType::Deleted, false, _) => return None,
                (EventType::Added, _, true) => "ADDED",
                (_, true, true) => "MODIFIED",
                (_, false, true) => "ADDED",
                (_, true, false) => "DELETED",
                (_, false, false) => return None,
            };
            Some(line(kind, &ev.object))
        };
        for ev in &backlog {
            last_rv = ev.rv;
            if let Some(b) = emit(ev)
                && tx.send(Ok(b)).await.is_err()
            {
                return;
            }
        }
        loop {
            tokio::select! {
                () = &mut deadline => return,
                () = tx.closed() => return,
                _ = ticker.tick() => {
                    if p.bookmarks && tx.send(Ok(line("BOOKMARK", &bookmark(rt, last_rv, false)))).await.is_err() {
                        return;
                    }
                }
                r = events.recv() => match r {
                    Ok(ev) => {
                        if ev.rv <= last_rv {
                            continue;
                        }
                        last_rv = ev.rv;
                        if let Some(b) = emit(&ev)
                            && tx.send(Ok(b)).await.is_err()
                        {
                            return;
                        }
                    }
                    Err(RecvError::Lagged(_)) => {
                        let _ = tx.send(Ok(line("ERROR", &ApiError::gone(last_rv, last_rv + 1).to_status()))).await;
                        return;
                    }
                    Err(RecvError::Closed) => return,
                }
            }
        }
    });
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The line is one JSON object with `type` first, as the API server writes it, and
    /// decodes as the event it carries.
    #[test]
    fn a_watch_line_leads_with_its_type() {
        let pod = json!({"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "p\"q"}});
        let bytes = line("MODIFIED", &pod);
        let text = std::str::from_utf8(&bytes).unwrap();
        assert!(
            text.starts_with("{\"type\":\"MODIFIED\",\"object\":{"),
            "{text}"
        );
        assert!(
            text.ends_with("}\n") && text.matches('\n').count() == 1,
            "{text}"
        );
        let back: Value = serde_json::from_str(text.trim_end()).unwrap();
        assert_eq!(back, json!({"type": "MODIFIED", "object": pod}));
    }
}
