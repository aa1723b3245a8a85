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

use crate::cluster::{labels, pr_pod};

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
            let job = match event {
                Ok(watcher::Event::Delete(job)) => job,
                // Creation and progress are Catalyst's own doing or polled; a reconcile
                // waits on a Job only for its end. Kicking on every change re-ran each
                // deploying environment's reconcile three times per Job.
                Ok(watcher::Event::Apply(job)) if pr_pod::is_finished(&job) => job,
                _ => continue,
            };
            match job.metadata.namespace.as_deref() {
                Some(ns) => c.kick_namespace(ns),
                None => c.kick(Kick::InFlight),
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
                Ok(watcher::Event::Delete(ns)) => {
                    // Deleted by hand, or the end of a deletion we asked for.
                    let known = c
                        .namespaces
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .contains_key(ns.metadata.name.as_deref().unwrap_or_default());
                    if known {
                        c.kick_namespace(ns.metadata.name.as_deref().unwrap_or_default());
                    } else {
                        c.kick(Kick::All);
                    }
                }
                // Deletion under way (by Catalyst or by hand). A namespace being created
                // or labelled is Catalyst's own step and needs no second look.
                Ok(watcher::Event::Apply(ns)) if ns.metadata.deletion_timestamp.is_some() => {
                    c.kick_namespace(ns.metadata.name.as_deref().unwrap_or_default());
                }
                _ => {}
            }
        }
    });
    vec![job_watch, ns_watch]
}
