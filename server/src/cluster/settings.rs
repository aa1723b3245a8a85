//! Everything about preview namespaces that an operator may want to change, with
//! defaults that work on a stock cluster (ingress-nginx, Kaniko, Helm 3). The service's
//! configuration fills this in; nothing in the cluster layer reads the environment.

use std::time::Duration;

/// Cluster-side settings for every preview environment.
#[derive(Clone, Debug, PartialEq)]
pub struct ClusterSettings {
    /// Server-side apply field manager; one name so Catalyst owns its fields.
    pub field_manager: String,
    /// Per-namespace ResourceQuota (a repository may override parts of it).
    pub quota: QuotaSettings,
    /// LimitRange `defaultRequest` for containers that declare none.
    pub default_request: ResourceSettings,
    /// LimitRange `default` (limit) for containers that declare none.
    pub default_limit: ResourceSettings,
    /// Namespace of the ingress controller, the only other namespace allowed in.
    pub ingress_namespace: String,
    /// Namespaces previews may reach besides their own (e.g. the image registry).
    pub auxiliary_namespaces: Vec<String>,
    /// Where the API server's service-proxy traffic comes from (control-plane node
    /// CIDRs). The health probe goes through that proxy, and on clusters that enforce
    /// NetworkPolicy against host traffic the isolation policy would drop it otherwise.
    pub probe_source_cidrs: Vec<String>,
    /// Namespace of the cluster DNS (egress on port 53 is allowed to it).
    pub dns_namespace: String,
    /// CIDRs the pull request pod (and only it) may reach: it must clone from GitHub,
    /// pull base images, push to the registry and call the API server. Empty = none
    /// beyond the namespace-wide policy.
    pub deployer_egress_cidrs: Vec<String>,
    /// Image that builds and pushes the application image (Kaniko's argument syntax).
    pub builder_image: String,
    /// Image with `git` for the checkout init container.
    pub git_image: String,
    /// Image with `helm` and a POSIX shell for the deploy container.
    pub helm_image: String,
    /// Helm release name inside each preview namespace.
    pub helm_release: String,
    /// `helm upgrade --timeout`.
    pub helm_timeout: Duration,
    /// Job `activeDeadlineSeconds`: a stuck build or `--wait` is killed after this.
    pub job_deadline: Duration,
    /// Job `ttlSecondsAfterFinished`: finished Jobs (and their logs) linger this long.
    pub job_ttl_after_finished: Duration,
    /// Requests of every pull request pod container.
    pub job_requests: ResourceSettings,
    /// Limits of every pull request pod container.
    pub job_limits: ResourceSettings,
    /// Secret (type `kubernetes.io/dockerconfigjson`) with push credentials, copied into
    /// each preview namespace from [`ClusterSettings::credentials_namespace`].
    pub registry_secret: String,
    /// Secret with keys `username` and `password` (a token) for cloning private repos.
    pub git_secret: String,
    /// Where the registry and Git secrets live (usually Catalyst's own namespace).
    pub credentials_namespace: String,
    /// How long one reading of the registry and Git secrets serves the namespaces being
    /// provisioned (see [`super::Credentials`]): a new or rotated credential reaches
    /// new previews at most this much later.
    pub credentials_window: Duration,
    /// Images built by Catalyst are pushed as `{registry_prefix}/{repo-slug}:{sha}`.
    pub registry_prefix: String,
    /// How long rollouts, readiness and the health probe may take after the Job.
    pub health_timeout: Duration,
    /// Preview host; `{namespace}` is replaced (e.g. `{namespace}.preview.example.com`).
    pub preview_host_template: String,
    /// How many log lines of a failing container are kept for the PR comment.
    pub failure_log_lines: i64,
}

/// ResourceQuota `hard` values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuotaSettings {
    /// Applied to both `requests.cpu` and `limits.cpu`.
    pub cpu: String,
    /// Applied to both `requests.memory` and `limits.memory`.
    pub memory: String,
    pub pods: u32,
}

/// A CPU/memory pair in Kubernetes quantity syntax.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceSettings {
    pub cpu: String,
    pub memory: String,
}

impl ResourceSettings {
    pub fn new(cpu: &str, memory: &str) -> Self {
        Self {
            cpu: cpu.to_owned(),
            memory: memory.to_owned(),
        }
    }
}

impl Default for QuotaSettings {
    fn default() -> Self {
        Self {
            cpu: "4".to_owned(),
            memory: "8Gi".to_owned(),
            pods: 20,
        }
    }
}

impl Default for ClusterSettings {
    fn default() -> Self {
        Self {
            field_manager: "catalyst".to_owned(),
            quota: QuotaSettings::default(),
            default_request: ResourceSettings::new("100m", "128Mi"),
            default_limit: ResourceSettings::new("500m", "512Mi"),
            ingress_namespace: "ingress-nginx".to_owned(),
            auxiliary_namespaces: Vec::new(),
            probe_source_cidrs: Vec::new(),
            dns_namespace: "kube-system".to_owned(),
            deployer_egress_cidrs: vec!["0.0.0.0/0".to_owned(), "::/0".to_owned()],
            builder_image: "gcr.io/kaniko-project/executor:v1.23.2".to_owned(),
            git_image: "alpine/git:2.45.2".to_owned(),
            helm_image: "alpine/helm:3.16.2".to_owned(),
            helm_release: "preview".to_owned(),
            helm_timeout: Duration::from_secs(600),
            job_deadline: Duration::from_secs(1800),
            job_ttl_after_finished: Duration::from_secs(3600),
            job_requests: ResourceSettings::new("250m", "256Mi"),
            job_limits: ResourceSettings::new("1", "2Gi"),
            registry_secret: "catalyst-registry".to_owned(),
            git_secret: "catalyst-git".to_owned(),
            credentials_namespace: "catalyst".to_owned(),
            credentials_window: Duration::from_secs(10),
            registry_prefix: "registry.catalyst.svc.cluster.local:5000/previews".to_owned(),
            health_timeout: Duration::from_secs(300),
            preview_host_template: "{namespace}.preview.localhost".to_owned(),
            failure_log_lines: 50,
        }
    }
}

impl ClusterSettings {
    /// The preview host for a namespace, from [`ClusterSettings::preview_host_template`].
    pub fn preview_host(&self, namespace: &str) -> String {
        self.preview_host_template.replace("{namespace}", namespace)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_documented_values() {
        let s = ClusterSettings::default();
        assert_eq!(s.field_manager, "catalyst");
        assert_eq!(s.quota.cpu, "4");
        assert_eq!(s.quota.memory, "8Gi");
        assert_eq!(s.quota.pods, 20);
        assert_eq!(s.job_deadline, Duration::from_secs(1800));
        assert_eq!(s.job_ttl_after_finished, Duration::from_secs(3600));
        assert_eq!(s.registry_secret, "catalyst-registry");
        assert_eq!(s.git_secret, "catalyst-git");
    }

    #[test]
    fn preview_host_fills_in_the_namespace() {
        let s = ClusterSettings {
            preview_host_template: "{namespace}.preview.example.com".to_owned(),
            ..ClusterSettings::default()
        };
        assert_eq!(s.preview_host("pr-web-1"), "pr-web-1.preview.example.com");
    }
}
