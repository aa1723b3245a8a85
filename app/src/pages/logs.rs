//! The log viewer: pick a pod and container, read the last N lines, then follow live
//! over `/ws/logs/...` (the server follows the Kubernetes log stream and reconnects when
//! the container restarts, and says so). Incoming lines are buffered and rendered in
//! batches every 100 ms into a bounded buffer, so thousands of lines per second do not
//! freeze the page. Pause/resume, timestamps, a filter with highlighting, auto-scroll
//! that stops when the reader scrolls up, and a download of the raw log.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use leptos::prelude::*;

use crate::dto::{LogFrame, PodInfo, highlight};

/// Lines kept in the viewer; older ones are dropped (the download has the full tail).
pub const MAX_LINES: usize = 5_000;
/// Lines asked for when the viewer opens.
pub const DEFAULT_TAIL: u32 = 500;

/// One line on screen.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub seq: u64,
    pub ts: Option<String>,
    pub text: String,
    /// A message from Catalyst (reconnecting, restarted), not from the container.
    pub notice: bool,
}

/// The viewer's buffer: bounded, with sequence numbers for keyed rendering.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LogBuffer {
    pub entries: VecDeque<Entry>,
    pub next_seq: u64,
    /// Lines dropped from the front because of the bound.
    pub dropped: u64,
}

impl LogBuffer {
    pub fn push(&mut self, ts: Option<String>, text: String, notice: bool) {
        self.entries.push_back(Entry {
            seq: self.next_seq,
            ts,
            text,
            notice,
        });
        self.next_seq += 1;
        while self.entries.len() > MAX_LINES {
            self.entries.pop_front();
            self.dropped += 1;
        }
    }

    /// Applies one frame from the server.
    pub fn apply(&mut self, frame: LogFrame) {
        match frame {
            LogFrame::Lines { lines } => {
                for l in lines {
                    self.push(l.ts, l.text, false);
                }
            }
            LogFrame::Notice { message } | LogFrame::Error { message } => {
                self.push(None, message, true);
            }
        }
    }
}

/// The containers to choose from: `(pod, container)` pairs, init containers included.
pub fn choices(pods: &[PodInfo]) -> Vec<(String, String)> {
    pods.iter()
        .flat_map(|p| {
            p.containers
                .iter()
                .map(|c| (p.name.clone(), c.name.clone()))
        })
        .collect()
}

#[component]
pub fn LogViewer(environment_id: String, pods: Vec<PodInfo>) -> impl IntoView {
    let options = choices(&pods);
    if options.is_empty() {
        return view! {
            <div class="panel empty"><p>"No containers to show logs for."</p></div>
        }
        .into_any();
    }
    // Prefer a non-init container.
    let first = pods
        .iter()
        .flat_map(|p| {
            p.containers
                .iter()
                .filter(|c| !c.init)
                .map(|c| (p.name.clone(), c.name.clone()))
        })
        .next()
        .unwrap_or_else(|| options[0].clone());
    let selected = RwSignal::new(first);
    let tail = RwSignal::new(DEFAULT_TAIL);
    let timestamps = RwSignal::new(false);
    let paused = RwSignal::new(false);
    let follow = RwSignal::new(true);
    let filter = RwSignal::new(String::new());
    let status = RwSignal::new(String::from("Connecting…"));
    let buffer = RwSignal::new(LogBuffer::default());
    let pending: Arc<Mutex<Vec<LogFrame>>> = Arc::default();
    let scroller = NodeRef::<leptos::html::Div>::new();

    #[cfg(feature = "hydrate")]
    {
        use crate::live::{LinkState, subscribe};
        let env = environment_id.clone();
        let pending_in = pending.clone();
        // (Re)connects whenever the selection or the tail changes.
        Effect::new(move |prev: Option<futures::future::AbortHandle>| {
            if let Some(h) = prev {
                h.abort();
            }
            let (pod, container) = selected.get();
            let n = tail.get();
            buffer.set(LogBuffer::default());
            if let Ok(mut p) = pending_in.lock() {
                p.clear();
            }
            let path = format!(
                "/ws/logs/{env}?pod={}&container={}&tail={n}",
                urlencode(&pod),
                urlencode(&container)
            );
            let sink = pending_in.clone();
            subscribe(
                path,
                move |text| {
                    if let Ok(frame) = serde_json::from_str::<LogFrame>(&text)
                        && let Ok(mut p) = sink.lock()
                    {
                        p.push(frame);
                    }
                },
                move |state| {
                    status.set(
                        match state {
                            LinkState::Connecting => "Connecting…",
                            LinkState::Open => "Following live",
                            LinkState::Retrying => "Connection lost; reconnecting…",
                        }
                        .to_owned(),
                    )
                },
            )
        });
        // Batch rendering: move what arrived into the buffer ten times a second.
        let pending_out = pending.clone();
        let tick = set_interval_with_handle(
            move || {
                if paused.get_untracked() {
                    return;
                }
                let frames: Vec<LogFrame> = match pending_out.lock() {
                    Ok(mut p) if !p.is_empty() => std::mem::take(&mut *p),
                    _ => return,
                };
                buffer.update(|b| {
                    for f in frames {
                        b.apply(f);
                    }
                });
                if follow.get_untracked()
                    && let Some(el) = scroller.get_untracked()
                {
                    request_animation_frame(move || el.set_scroll_top(el.scroll_height()));
                }
            },
            std::time::Duration::from_millis(100),
        );
        if let Ok(handle) = tick {
            on_cleanup(move || handle.clear());
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (&pending, &environment_id);

    let on_scroll = move |_| {
        if let Some(el) = scroller.get_untracked() {
            let at_bottom = el.scroll_height() - el.scroll_top() - el.client_height() < 40;
            if follow.get_untracked() != at_bottom {
                follow.set(at_bottom);
            }
        }
    };
    let jump = move |_| {
        follow.set(true);
        if let Some(el) = scroller.get_untracked() {
            el.set_scroll_top(el.scroll_height());
        }
    };
    let download = {
        let env = environment_id.clone();
        move || {
            let (pod, container) = selected.get();
            format!(
                "/logs/{env}/download?pod={}&container={}&timestamps={}",
                urlencode(&pod),
                urlencode(&container),
                timestamps.get()
            )
        }
    };
    let visible = move || {
        let needle = filter.get().to_ascii_lowercase();
        buffer.with(|b| {
            b.entries
                .iter()
                .filter(|e| {
                    needle.is_empty() || e.notice || e.text.to_ascii_lowercase().contains(&needle)
                })
                .cloned()
                .collect::<Vec<_>>()
        })
    };
    let option_views = options
        .iter()
        .map(|(p, c)| {
            let value = format!("{p}/{c}");
            view! { <option value=value.clone()>{format!("{p} › {c}")}</option> }
        })
        .collect_view();

    view! {
        <div class="panel logs" data-log-viewer="">
            <div class="log-toolbar">
                <label>
                    "Container "
                    <select
                        name="container"
                        prop:value=move || { let (p, c) = selected.get(); format!("{p}/{c}") }
                        on:change=move |ev| {
                            let v = event_target_value(&ev);
                            if let Some((p, c)) = v.split_once('/') {
                                selected.set((p.to_owned(), c.to_owned()));
                            }
                        }
                    >
                        {option_views}
                    </select>
                </label>
                <label>
                    "Last "
                    <select
                        name="tail"
                        on:change=move |ev| {
                            if let Ok(n) = event_target_value(&ev).parse() {
                                tail.set(n);
                            }
                        }
                    >
                        <option value="100">"100"</option>
                        <option value="500" selected>"500"</option>
                        <option value="2000">"2000"</option>
                    </select>
                    " lines"
                </label>
                <label class="check">
                    <input type="checkbox" name="timestamps" on:change=move |ev| timestamps.set(event_target_checked(&ev)) />
                    " Timestamps"
                </label>
                <button type="button" class="button" aria-pressed=move || paused.get().to_string()
                    on:click=move |_| paused.update(|p| *p = !*p)>
                    {move || if paused.get() { "Resume" } else { "Pause" }}
                </button>
                <label>
                    "Filter "
                    <input type="search" name="filter" placeholder="text to find"
                        on:input=move |ev| filter.set(event_target_value(&ev)) />
                </label>
                <a class="button" href=download rel="external" download="">"Download"</a>
            </div>
            <p class="log-status" role="status" aria-live="polite">
                <span data-log-status="">{move || status.get()}</span>
                {move || paused.get().then_some(" · paused")}
                {move || {
                    let d = buffer.with(|b| b.dropped);
                    (d > 0).then(|| format!(" · {d} older lines dropped from view"))
                }}
            </p>
            <div class="log-scroll" node_ref=scroller on:scroll=on_scroll tabindex="0" aria-label="Log lines">
                <noscript>
                    <p>"Live logs need JavaScript. Use Download for the last lines as text."</p>
                </noscript>
                <For each=visible key=|e| e.seq let:entry>
                    <LogLineView entry filter timestamps />
                </For>
            </div>
            {move || (!follow.get()).then(|| view! {
                <button type="button" class="button jump" on:click=jump>"↓ Jump to latest"</button>
            })}
        </div>
    }
    .into_any()
}

#[component]
fn LogLineView(
    entry: Entry,
    filter: RwSignal<String>,
    timestamps: RwSignal<bool>,
) -> impl IntoView {
    let class = if entry.notice {
        "log-line notice"
    } else {
        "log-line"
    };
    let ts = entry.ts.clone();
    let text = entry.text.clone();
    view! {
        <div class=class>
            {move || timestamps.get().then(|| ts.clone().map(|t| view! { <span class="ts">{t}" "</span> }))}
            {move || {
                highlight(&text, &filter.get())
                    .into_iter()
                    .map(|(s, hit)| if hit {
                        view! { <mark>{s}</mark> }.into_any()
                    } else {
                        view! { <span>{s}</span> }.into_any()
                    })
                    .collect_view()
            }}
        </div>
    }
}

/// Percent-encodes a query value (pod and container names are DNS labels, but be safe).
pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dto::LogLine;

    #[test]
    fn the_buffer_is_bounded_and_counts_what_it_drops() {
        let mut b = LogBuffer::default();
        let lines: Vec<LogLine> = (0..MAX_LINES + 10)
            .map(|i| LogLine {
                ts: None,
                text: format!("line {i}"),
            })
            .collect();
        b.apply(LogFrame::Lines { lines });
        assert_eq!(b.entries.len(), MAX_LINES);
        assert_eq!(b.dropped, 10);
        assert_eq!(b.entries.front().map(|e| e.text.as_str()), Some("line 10"));
        b.apply(LogFrame::Notice {
            message: "container restarted".into(),
        });
        assert!(b.entries.back().is_some_and(|e| e.notice));
        assert_eq!(b.next_seq, MAX_LINES as u64 + 11);
    }

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(urlencode("web-1.a"), "web-1.a");
        assert_eq!(urlencode("a b&c"), "a%20b%26c");
    }
}
