//! The registry and Git credentials every preview namespace gets a copy of, read from
//! [`ClusterSettings::credentials_namespace`] at most once per freshness window.
//!
//! Every kit apply needs them, and both are usually absent or unchanged: read on each
//! apply they were two of the thirteen API requests on a new pull request's way to its
//! Job, a hundred at once when fifty pull requests open together. One reading now
//! serves every apply within [`Credentials::new`]'s window, and applies that arrive
//! while it is under way wait for it instead of asking again. An operator's new or
//! rotated credential reaches the namespaces provisioned after the window ends
//! (existing ones get it on their next apply, as before).

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use kube::Api;

use super::settings::ClusterSettings;
use super::{ClusterError, Result, is_not_found};

/// One reading of the credentials, shared by the kit applies within its window.
/// `Credentials::default()` keeps none: every apply reads them.
#[derive(Debug, Default)]
pub struct Credentials {
    window: Duration,
    last: tokio::sync::Mutex<Option<Reading>>,
}

#[derive(Debug)]
struct Reading {
    at: Instant,
    /// Which secrets were read (namespace and names): settings that change read again.
    key: (String, Vec<String>),
    found: Vec<Secret>,
}

impl Credentials {
    /// Readings are reused for `window`; zero reads on every apply.
    pub fn new(window: Duration) -> Self {
        Self {
            window,
            last: tokio::sync::Mutex::default(),
        }
    }

    /// The registry and Git secrets that exist in the credentials namespace, as read
    /// within the window (absent ones are left out). A failed read is not kept: the
    /// next apply asks again.
    pub async fn read(
        &self,
        client: &kube::Client,
        settings: &ClusterSettings,
    ) -> Result<Vec<Secret>> {
        let key = (
            settings.credentials_namespace.clone(),
            vec![
                settings.registry_secret.clone(),
                settings.git_secret.clone(),
            ],
        );
        // Held across the read, so applies arriving meanwhile wait for its answer
        // rather than each asking the API server the same question.
        let mut last = self.last.lock().await;
        if let Some(r) = last.as_ref()
            && r.key == key
            && r.at.elapsed() < self.window
        {
            return Ok(r.found.clone());
        }
        let api: Api<Secret> = Api::namespaced(client.clone(), &key.0);
        let at = Instant::now();
        let read = futures::future::try_join_all(key.1.iter().map(|name| get_optional(&api, name)));
        let found: Vec<Secret> = read.await?.into_iter().flatten().collect();
        *last = Some(Reading {
            at,
            key,
            found: found.clone(),
        });
        Ok(found)
    }
}

/// Reads secret `name`; `None` when it does not exist.
pub(crate) async fn get_optional(api: &Api<Secret>, name: &str) -> Result<Option<Secret>> {
    match api.get(name).await {
        Ok(s) => Ok(Some(s)),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(ClusterError::api(format!("reading secret {name}"), e)),
    }
}
