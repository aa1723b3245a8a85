//! Preview namespaces as a whole: their state (so the engine can wait until a deleted
//! one is really gone and flag stuck deletions), deletion, and the list of every
//! namespace Catalyst manages (for drift repair: recreate missing, remove orphans).

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use kube::api::{DeleteParams, ListParams};
use serde::Serialize;

use super::diagnostics::to_chrono;
use super::labels;
use super::{ClusterError, Result, is_not_found};

/// A namespace as the engine sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NamespaceState {
    Absent,
    Active,
    /// Deletion has begun; Kubernetes is removing its contents.
    Terminating,
}

/// A namespace labelled `app.kubernetes.io/managed-by=catalyst`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ManagedNamespace {
    pub name: String,
    /// Label-safe repository value (see [`labels::repository_value`]).
    pub repository: Option<String>,
    /// The full `owner/name` from the annotation, when present.
    pub repository_full_name: Option<String>,
    pub pr_number: Option<u64>,
    pub head_sha: Option<String>,
    pub state: NamespaceState,
    pub created_at: Option<DateTime<Utc>>,
}

fn namespaces(client: &kube::Client) -> Api<Namespace> {
    Api::all(client.clone())
}

/// Absent, Active or Terminating.
pub async fn state(client: &kube::Client, namespace: &str) -> Result<NamespaceState> {
    match namespaces(client).get(namespace).await {
        Ok(ns) => Ok(state_of(&ns)),
        Err(e) if is_not_found(&e) => Ok(NamespaceState::Absent),
        Err(e) => Err(ClusterError::api(
            format!("reading namespace {namespace}"),
            e,
        )),
    }
}

/// Terminating once it has a deletion timestamp or the phase says so.
pub fn state_of(ns: &Namespace) -> NamespaceState {
    let phase = ns.status.as_ref().and_then(|s| s.phase.as_deref());
    if ns.metadata.deletion_timestamp.is_some() || phase == Some("Terminating") {
        NamespaceState::Terminating
    } else {
        NamespaceState::Active
    }
}

/// Starts deleting the namespace (and so everything in it). Deleting one that is
/// already gone or going is fine; returns the state afterwards.
pub async fn delete(client: &kube::Client, namespace: &str) -> Result<NamespaceState> {
    match namespaces(client)
        .delete(namespace, &DeleteParams::background())
        .await
    {
        Ok(either) => {
            tracing::info!(namespace, "preview namespace deletion requested");
            Ok(either
                .left()
                .map_or(NamespaceState::Absent, |ns| state_of(&ns)))
        }
        Err(e) if is_not_found(&e) => Ok(NamespaceState::Absent),
        Err(e) => Err(ClusterError::api(
            format!("deleting namespace {namespace}"),
            e,
        )),
    }
}

/// Every namespace Catalyst manages, with the labels that tie it to a pull request.
pub async fn list_managed(client: &kube::Client) -> Result<Vec<ManagedNamespace>> {
    let list = namespaces(client)
        .list(&ListParams::default().labels(labels::MANAGED_SELECTOR))
        .await
        .map_err(|e| ClusterError::api("listing managed namespaces", e))?;
    Ok(list.items.iter().map(managed).collect())
}

/// Reads a managed namespace's labels and annotations.
pub fn managed(ns: &Namespace) -> ManagedNamespace {
    let m = &ns.metadata;
    let label = |k: &str| m.labels.as_ref().and_then(|l| l.get(k)).cloned();
    ManagedNamespace {
        name: m.name.clone().unwrap_or_default(),
        repository: label(labels::REPOSITORY),
        repository_full_name: m
            .annotations
            .as_ref()
            .and_then(|a| a.get(labels::REPOSITORY_ANNOTATION))
            .cloned(),
        pr_number: label(labels::PR_NUMBER).and_then(|n| n.parse().ok()),
        head_sha: label(labels::HEAD_SHA),
        state: state_of(ns),
        created_at: m.creation_timestamp.as_ref().map(to_chrono),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::objects;
    use crate::cluster::settings::ClusterSettings;
    use crate::cluster::spec::fixtures::spec;
    use k8s_openapi::api::core::v1::NamespaceStatus;

    #[test]
    fn built_namespaces_read_back_as_managed() {
        let ns = objects::namespace(&spec(), &ClusterSettings::default());
        let m = managed(&ns);
        assert_eq!(m.name, "pr-web-42");
        assert_eq!(m.repository.as_deref(), Some("acme.web"));
        assert_eq!(m.repository_full_name.as_deref(), Some("Acme/Web"));
        assert_eq!(m.pr_number, Some(42));
        assert_eq!(m.head_sha.as_deref(), Some(spec().head_sha.as_str()));
        assert_eq!(m.state, NamespaceState::Active);
    }

    #[test]
    fn terminating_is_read_from_the_phase() {
        let mut ns = objects::namespace(&spec(), &ClusterSettings::default());
        ns.status = Some(NamespaceStatus {
            phase: Some("Terminating".to_owned()),
            ..NamespaceStatus::default()
        });
        assert_eq!(state_of(&ns), NamespaceState::Terminating);
    }
}
