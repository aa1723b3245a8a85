//! The Kubernetes adapter: everything Catalyst does to a cluster for one preview
//! environment — the namespace kit, the pull request pod, health checks, namespace
//! lifecycle, drift listing and logs.
//!
//! Named `cluster` rather than `kube` so it does not shadow the `kube` crate.
//!
//! Shape: pure builders ([`objects`], [`deploy_job`], [`shell`], [`capacity`]) turn an
//! [`EnvironmentSpec`] and [`ClusterSettings`] into Kubernetes objects and are unit-tested
//! without a cluster; the I/O modules ([`apply`], [`credentials`], [`pr_pod`], [`health`],
//! [`probe`], [`namespaces`], [`logs`], [`diagnostics`]) are small async functions over a
//! `kube::Client`, so the engine can call them from an idempotent, level-triggered
//! reconcile loop.

pub mod apply;
pub mod capacity;
pub mod credentials;
pub mod deploy_job;
pub mod diagnostics;
pub mod health;
pub mod labels;
pub mod logs;
pub mod namespaces;
pub mod objects;
pub mod pr_pod;
pub mod probe;
pub mod settings;
pub mod shell;
pub mod spec;
pub mod usage;

pub use apply::{KitApplied, apply_kit};
pub use credentials::Credentials;
pub use deploy_job::{job_name, pr_job};
pub use diagnostics::{ContainerLogTail, WarningEvent};
pub use health::{FailedCheck, HealthOutcome, HealthReport};
pub use logs::{ContainerSummary, PodSummary};
pub use namespaces::{ManagedNamespace, NamespaceState};
pub use pr_pod::JobOutcome;
pub use settings::{ClusterSettings, QuotaSettings, ResourceSettings};
pub use spec::{ChartSource, EnvironmentSpec, ImageSource, QuotaOverrides, SecretCopies};

/// Result alias for this layer.
pub type Result<T, E = ClusterError> = std::result::Result<T, E>;

/// Why a cluster operation did not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The API server refused or could not be reached.
    #[error("Kubernetes API call failed while {action}: {source}")]
    Api {
        action: String,
        #[source]
        source: kube::Error,
    },
    /// The cluster or the namespace's quota has no room; the engine queues and retries
    /// instead of counting this as an application failure.
    #[error("no capacity while {action}: {message}")]
    Capacity { action: String, message: String },
    /// "One pull request pod at a time": another deploy Job is still active.
    #[error("deploy Job {job} is still running in {namespace}")]
    DeploymentInProgress { namespace: String, job: String },
    /// A secret the repository asks to copy is not in its secret-store namespace.
    #[error("secret {namespace}/{name} to copy into the preview does not exist")]
    SecretMissing { namespace: String, name: String },
    /// The namespace is still being deleted; nothing can be created in it until it is gone.
    #[error("namespace {namespace} is still being deleted")]
    NamespaceTerminating { namespace: String },
    /// The repository's preview configuration cannot be turned into a deployment.
    #[error("invalid preview configuration: {0}")]
    InvalidSpec(String),
    /// A followed log stream broke off.
    #[error("the log stream broke off: {0}")]
    LogStream(#[source] std::io::Error),
}

impl ClusterError {
    /// A short, stable label for counting failures in metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Self::Api { .. } => "api",
            Self::Capacity { .. } => "capacity",
            Self::DeploymentInProgress { .. } => "deployment_in_progress",
            Self::SecretMissing { .. } => "secret_missing",
            Self::NamespaceTerminating { .. } => "namespace_terminating",
            Self::InvalidSpec(_) => "invalid_spec",
            Self::LogStream(_) => "log_stream",
        }
    }

    /// Whether waiting for room (rather than retrying as a failure) is the answer.
    pub fn is_capacity(&self) -> bool {
        matches!(self, Self::Capacity { .. })
    }

    /// Wraps a client error, recognising quota rejections as capacity problems.
    pub(crate) fn api(action: impl Into<String>, source: kube::Error) -> Self {
        let action = action.into();
        if let Some(message) = capacity::quota_rejection(&source) {
            return Self::Capacity { action, message };
        }
        if let Some(namespace) = terminating_namespace(&source) {
            return Self::NamespaceTerminating { namespace };
        }
        Self::Api { action, source }
    }
}

/// The namespace named by the API server's "unable to create new content in namespace
/// X because it is being terminated" refusal.
fn terminating_namespace(e: &kube::Error) -> Option<String> {
    let kube::Error::Api(s) = e else {
        return None;
    };
    if s.code != 403 || !s.message.contains("because it is being terminated") {
        return None;
    }
    let after = s.message.split("in namespace ").nth(1)?;
    after.split_whitespace().next().map(str::to_owned)
}

/// Whether a client error is the API server's 404.
pub(crate) fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

/// Whether a client error is the API server's 409 AlreadyExists.
pub(crate) fn is_already_exists(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409 && s.reason == "AlreadyExists")
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::Status;

    fn api_error(code: u16, message: &str) -> kube::Error {
        kube::Error::Api(
            Status::failure(message, "Forbidden")
                .with_code(code)
                .boxed(),
        )
    }

    #[test]
    fn refusals_are_classified_for_the_engine() {
        let quota = ClusterError::api(
            "creating pod",
            api_error(
                403,
                "pods \"x\" is forbidden: exceeded quota: q, requested: pods=1",
            ),
        );
        assert!(quota.is_capacity());
        assert_eq!(quota.metric_label(), "capacity");
        let terminating = ClusterError::api(
            "applying Role",
            api_error(
                403,
                "roles \"r\" is forbidden: unable to create new content in namespace pr-web-1 because it is being terminated",
            ),
        );
        assert!(
            matches!(&terminating, ClusterError::NamespaceTerminating { namespace } if namespace == "pr-web-1"),
            "{terminating:?}"
        );
        let other = ClusterError::api("reading", api_error(500, "boom"));
        assert_eq!(other.metric_label(), "api");
    }
}
