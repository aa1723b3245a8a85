//! `GET /ws/environments?repo=&status=&q=&sort=&page=`: one page of the environments
//! overview, pushed whenever that page changes. One poller reads the database and the
//! cluster every two seconds while anybody listens and shares the unpaginated overview;
//! each connection cuts its own page out of it and sends only when the page changed.
//! While nobody listens the poller keeps nothing, so a page that connects later is never
//! sent an overview that aged unseen (older than what the page itself was rendered with).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use app::auth::SignedIn;
use app::dto::{EnvironmentsOverview, OverviewPage, OverviewQuery, page_of};
use axum::Extension;
use axum::extract::Query;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use tokio::sync::{Notify, watch};

use super::DashboardBackend;
use super::auth::same_origin;

const EVERY: Duration = Duration::from_secs(2);

pub async fn environments(
    Extension(backend): Extension<Arc<DashboardBackend>>,
    who: Option<Extension<SignedIn>>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
    ws: WebSocketUpgrade,
) -> Response {
    if !same_origin(&headers) {
        return (StatusCode::FORBIDDEN, "cross-site WebSocket refused").into_response();
    }
    if who.is_none() && backend.sign_in_enabled() {
        return (StatusCode::UNAUTHORIZED, "sign in first").into_response();
    }
    let query = OverviewQuery::from_params(|k| params.get(k).cloned());
    ws.on_upgrade(move |socket| push(socket, backend, query))
}

async fn push(socket: WebSocket, backend: Arc<DashboardBackend>, query: OverviewQuery) {
    let (mut tx, mut rx) = socket.split();
    let mut feed = backend.overview_feed().subscribe();
    let mut page = PageOfFeed::new(query);
    // The current page first, then every change of it.
    feed.mark_changed();
    loop {
        tokio::select! {
            changed = feed.changed() => {
                if changed.is_err() {
                    return;
                }
                let overview = feed.borrow_and_update().clone();
                let Some(text) = overview.and_then(|o| page.next(&o)) else { continue };
                if tx.send(Message::Text(text.into())).await.is_err() {
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

/// One connection's page of the shared feed, remembering what it sent last.
struct PageOfFeed {
    query: OverviewQuery,
    last: String,
}

impl PageOfFeed {
    fn new(query: OverviewQuery) -> Self {
        Self {
            query,
            last: String::new(),
        }
    }

    /// The page (JSON) to send for a new overview, or `None` when this connection's page
    /// is what it sent last (other pages may have changed).
    fn next(&mut self, overview: &EnvironmentsOverview) -> Option<String> {
        let page = page_of(overview, &self.query);
        let key = change_key(&page);
        if key == self.last {
            return None;
        }
        self.last = key;
        serde_json::to_string(&page).ok()
    }
}

/// Everything a page shows but its timestamp, which changes every time.
fn change_key(page: &OverviewPage) -> String {
    serde_json::to_string(&OverviewPage {
        generated_at: chrono::DateTime::UNIX_EPOCH,
        ..page.clone()
    })
    .unwrap_or_default()
}

/// The shared overview and a way to ask the poller for a fresh one.
pub struct OverviewFeed {
    overview: watch::Receiver<Option<Arc<EnvironmentsOverview>>>,
    kick: Arc<Notify>,
}

impl OverviewFeed {
    /// A receiver for one more page. The poller reads at once rather than at its next
    /// tick, so the page gets the current overview without waiting up to [`EVERY`].
    pub fn subscribe(&self) -> watch::Receiver<Option<Arc<EnvironmentsOverview>>> {
        let rx = self.overview.clone();
        self.kick.notify_one();
        rx
    }
}

/// One poller for every open page: reads the unpaginated overview every [`EVERY`] (or when
/// a page connects) while anybody listens and publishes it when it changed, so ten open
/// dashboards cost the database and the cluster what one does.
pub fn start_feed(backend: Arc<DashboardBackend>) -> OverviewFeed {
    let (tx, rx) = watch::channel(None);
    let kick = Arc::new(Notify::new());
    let weak = Arc::downgrade(&backend);
    drop(backend);
    let kicked = kick.clone();
    tokio::spawn(async move {
        let mut last = String::new();
        let mut tick = tokio::time::interval(EVERY);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = kicked.notified() => {}
            }
            let Some(backend) = weak.upgrade() else {
                return;
            };
            if tx.receiver_count() <= 1 {
                // Only the feed's own receiver: nobody is watching. Forget the overview:
                // the next page to connect must not be sent one that aged meanwhile.
                if tx.borrow().is_some() {
                    tx.send_replace(None);
                }
                last.clear();
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
            let _ = tx.send(Some(Arc::new(overview)));
        }
    });
    OverviewFeed { overview: rx, kick }
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::dto::{ClusterState, EnvironmentRow, MetricsSummary, RowFilter};
    use app::model::{EnvironmentStatus, EnvironmentSummary};
    use chrono::{TimeZone, Utc};

    fn row(n: u64, status: EnvironmentStatus) -> EnvironmentRow {
        let at = Utc.timestamp_opt(1_800_000_000 + n as i64, 0).unwrap();
        EnvironmentRow {
            env: EnvironmentSummary {
                id: format!("env-{n}"),
                repository: "acme/web".into(),
                pr_number: n,
                pr_title: Some(format!("PR {n}")),
                author: None,
                namespace: format!("pr-web-{n}"),
                status,
                url: None,
                head_sha: "abc".into(),
                created_at: at,
                updated_at: at,
                latest_deployment: None,
                queue_position: None,
                last_error: None,
                deletion_stuck: false,
            },
            usage: None,
            last_deployment_secs: None,
        }
    }

    fn overview(rows: Vec<EnvironmentRow>, at: i64) -> EnvironmentsOverview {
        EnvironmentsOverview {
            github_web_url: "https://github.com".into(),
            rows,
            totals: MetricsSummary::default(),
            cluster: ClusterState::Connected,
            configured_repositories: 1,
            generated_at: Utc.timestamp_opt(at, 0).unwrap(),
        }
    }

    #[test]
    fn a_connection_sends_its_page_only_when_that_page_changed() {
        let rows = |changed: u64| -> Vec<EnvironmentRow> {
            (1..=120)
                .map(|n| {
                    let status = if n == changed {
                        EnvironmentStatus::Failed
                    } else {
                        EnvironmentStatus::Ready
                    };
                    row(n, status)
                })
                .collect()
        };
        // Page 1 (newest first) holds PRs 120..=71, page 3 holds 20..=1.
        let mut first = PageOfFeed::new(OverviewQuery::default());
        let mut third = PageOfFeed::new(OverviewQuery {
            page: 3,
            ..OverviewQuery::default()
        });
        let sent = first.next(&overview(rows(0), 1)).expect("the first page");
        let page: OverviewPage = serde_json::from_str(&sent).unwrap();
        assert_eq!((page.page, page.pages, page.rows.len()), (1, 3, 50));
        assert!(third.next(&overview(rows(0), 1)).is_some());
        // A row of page 3 changes: only page 3 is sent; a new timestamp alone sends nothing.
        assert_eq!(first.next(&overview(rows(5), 2)), None);
        let sent = third.next(&overview(rows(5), 2)).expect("page 3 changed");
        let page: OverviewPage = serde_json::from_str(&sent).unwrap();
        let pr5 = page.rows.iter().find(|r| r.env.pr_number == 5).unwrap();
        assert_eq!(pr5.env.status, EnvironmentStatus::Failed);
        assert_eq!(third.next(&overview(rows(5), 3)), None);
    }

    #[test]
    fn the_filter_of_the_connection_applies() {
        let mut failed = PageOfFeed::new(OverviewQuery {
            filter: RowFilter {
                status: Some(EnvironmentStatus::Failed),
                ..RowFilter::default()
            },
            ..OverviewQuery::default()
        });
        let rows = vec![
            row(1, EnvironmentStatus::Ready),
            row(2, EnvironmentStatus::Failed),
        ];
        let page: OverviewPage =
            serde_json::from_str(&failed.next(&overview(rows, 1)).unwrap()).unwrap();
        assert_eq!((page.matching, page.total), (1, 2));
        assert_eq!(page.rows[0].env.pr_number, 2);
    }
}
