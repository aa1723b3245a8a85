//! `GET /ws/environments`: the environments overview, pushed whenever it changes (the
//! database and the cluster are read every two seconds per open page).

use std::sync::Arc;
use std::time::Duration;

use app::auth::SignedIn;
use axum::Extension;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use tokio::sync::watch;

use super::DashboardBackend;
use super::auth::same_origin;

const EVERY: Duration = Duration::from_secs(2);

pub async fn environments(
    Extension(backend): Extension<Arc<DashboardBackend>>,
    who: Option<Extension<SignedIn>>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    if !same_origin(&headers) {
        return (StatusCode::FORBIDDEN, "cross-site WebSocket refused").into_response();
    }
    if who.is_none() && backend.sign_in_enabled() {
        return (StatusCode::UNAUTHORIZED, "sign in first").into_response();
    }
    ws.on_upgrade(move |socket| push(socket, backend))
}

async fn push(socket: WebSocket, backend: Arc<DashboardBackend>) {
    let (mut tx, mut rx) = socket.split();
    let mut feed = backend.overview_feed();
    // The current overview first, then every change.
    feed.mark_changed();
    loop {
        tokio::select! {
            changed = feed.changed() => {
                if changed.is_err() {
                    return;
                }
                let text = feed.borrow_and_update().clone();
                let Some(text) = text else { continue };
                if tx.send(Message::Text(text.as_str().into())).await.is_err() {
                    return;
                }
            }
            msg = rx.next() => match msg {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                _ => {}
            }
        }
    }
}

/// One poller for every open page: reads the overview every [`EVERY`] while anybody
/// listens and publishes it (as JSON) when it changed, so ten open dashboards cost the
/// database and the cluster what one does.
pub fn start_feed(backend: Arc<DashboardBackend>) -> watch::Receiver<Option<Arc<String>>> {
    let (tx, rx) = watch::channel(None);
    let weak = Arc::downgrade(&backend);
    drop(backend);
    tokio::spawn(async move {
        let mut last = String::new();
        let mut tick = tokio::time::interval(EVERY);
        loop {
            tick.tick().await;
            let Some(backend) = weak.upgrade() else {
                return;
            };
            if tx.receiver_count() <= 1 {
                // Only the backend's own receiver: nobody is watching.
                continue;
            }
            let Ok(overview) = backend.service.environments_overview().await else {
                continue;
            };
            // Compare without the timestamp, which changes every time.
            let key = serde_json::to_string(&(&overview.rows, &overview.totals, &overview.cluster))
                .unwrap_or_default();
            if key == last {
                continue;
            }
            last = key;
            let text = serde_json::to_string(&overview).unwrap_or_default();
            let _ = tx.send(Some(Arc::new(text)));
        }
    });
    rx
}
