//! Watches that wake the loop as soon as the cluster changes, instead of at the next
//! poll: deploy Jobs (their outcome) and managed namespaces (terminated, deleted by
//! hand). Best effort — polling still converges without them.

use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use kube::runtime::{WatchStreamExt, watcher};
use tokio::task::JoinHandle;

use crate::cluster::labels;

use super::{Context, Kick};

pub(super) fn spawn(ctx: Arc<Context>) -> Vec<JoinHandle<()>> {
    let jobs: Api<Job> = Api::all(ctx.client.clone());
    let job_selector = format!("{}={}", labels::ROLE, labels::ROLE_PULL_REQUEST_POD);
    let c = ctx.clone();
    let job_watch = tokio::spawn(async move {
        let mut stream = watcher(jobs, watcher::Config::default().labels(&job_selector))
            .default_backoff()
            .boxed();
        while let Some(event) = stream.next().await {
            if let Ok(watcher::Event::Apply(_) | watcher::Event::Delete(_)) = event {
                c.kick(Kick::InFlight);
            }
        }
    });
    let nss: Api<Namespace> = Api::all(ctx.client.clone());
    let c = ctx;
    let ns_watch = tokio::spawn(async move {
        let mut stream = watcher(
            nss,
            watcher::Config::default().labels(labels::MANAGED_SELECTOR),
        )
        .default_backoff()
        .boxed();
        while let Some(event) = stream.next().await {
            match event {
                Ok(watcher::Event::Delete(_)) => c.kick(Kick::All),
                Ok(watcher::Event::Apply(_)) => c.kick(Kick::InFlight),
                _ => {}
            }
        }
    });
    vec![job_watch, ns_watch]
}
