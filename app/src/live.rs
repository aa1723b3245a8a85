//! Browser side of the live channels: a WebSocket that reconnects by itself and hands
//! every text frame to a callback. Compiled only for hydration.

use std::time::Duration;

use futures::StreamExt;
use futures::future::{AbortHandle, Abortable};
use gloo_net::websocket::Message;
use gloo_net::websocket::futures::WebSocket;

/// What the reader is told about the connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkState {
    Connecting,
    Open,
    /// Closed; retrying after a pause.
    Retrying,
}

/// `ws://host/path` (or `wss://` on https) for a path on this origin.
pub fn ws_url(path: &str) -> Option<String> {
    let loc = leptos::prelude::window().location();
    let scheme = if loc.protocol().ok()? == "https:" {
        "wss"
    } else {
        "ws"
    };
    Some(format!("{scheme}://{}{path}", loc.host().ok()?))
}

/// Keeps a WebSocket to `path` open until the returned handle is aborted; calls
/// `on_text` with every text frame and `on_state` when the connection changes.
pub fn subscribe(
    path: String,
    on_text: impl Fn(String) + 'static,
    on_state: impl Fn(LinkState) + 'static,
) -> AbortHandle {
    let (handle, registration) = AbortHandle::new_pair();
    let run = async move {
        loop {
            on_state(LinkState::Connecting);
            if let Some(mut socket) = ws_url(&path).and_then(|u| WebSocket::open(&u).ok()) {
                let mut opened = false;
                while let Some(msg) = socket.next().await {
                    match msg {
                        Ok(Message::Text(t)) => {
                            if !opened {
                                opened = true;
                                on_state(LinkState::Open);
                            }
                            on_text(t);
                        }
                        Ok(Message::Bytes(_)) => {}
                        Err(_) => break,
                    }
                }
            }
            on_state(LinkState::Retrying);
            gloo_timers_sleep(Duration::from_secs(2)).await;
        }
    };
    leptos::task::spawn_local(async move {
        let _ = Abortable::new(run, registration).await;
    });
    handle
}

async fn gloo_timers_sleep(d: Duration) {
    let (tx, rx) = futures::channel::oneshot::channel::<()>();
    leptos::prelude::set_timeout(
        move || {
            let _ = tx.send(());
        },
        d,
    );
    let _ = rx.await;
}
