//! Everything the engine's behaviour depends on, assembled once from [`Config`] (or
//! directly by tests, with millisecond timings).

use std::time::Duration;

use crate::cluster::ClusterSettings;
use crate::config::Config;
use crate::core::queue::Limits;
use crate::core::retry::RetryPolicy;
use crate::github::eligibility::RepositoryPolicy;

/// The engine's knobs.
#[derive(Clone, Debug)]
pub struct EngineSettings {
    /// What goes into each preview namespace.
    pub cluster: ClusterSettings,
    pub limits: Limits,
    pub retry: RetryPolicy,
    /// Namespace deletion not finished after this: the environment is `deletion_stuck`.
    pub deletion_timeout: Duration,
    /// Pods unschedulable (or quota-rejected) for longer than this: a capacity failure.
    pub capacity_timeout: Duration,
    /// Full reconcile of every environment, and the orphan-namespace sweep.
    pub resync_interval: Duration,
    /// How soon in-flight work (a running Job, a terminating namespace) is looked at again.
    pub poll_interval: Duration,
    /// Pause between two looks during the health check.
    pub health_poll_interval: Duration,
    /// Longest pause after a failed reconcile (errors back off exponentially up to this).
    pub error_backoff_cap: Duration,
    /// Environments reconciled at the same time.
    pub max_workers: usize,
    /// Public URL template with `{namespace}`; `None` when no preview domain is set.
    pub preview_url_template: Option<String>,
    /// Web address of the Git host (`https://github.com`), for clone URLs.
    pub git_web_url: String,
    /// Slack-compatible incoming webhook for operator notifications.
    pub notify_webhook_url: Option<String>,
    /// Watch Jobs and namespaces to react at once instead of at the next poll.
    pub watch: bool,
    /// The service's eligibility defaults for what a repository leaves unset (the fork
    /// opt-in label, `CATALYST_GITHUB_FORK_LABEL`).
    pub default_policy: RepositoryPolicy,
    /// How long a queued attempt waits for GitHub to hand over the PR's
    /// `.catalyst/preview.yaml` before it deploys with the stored configuration alone.
    pub config_fetch_patience: Duration,
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            cluster: ClusterSettings::default(),
            limits: Limits {
                global_concurrent_deployments: 10,
                per_repository_concurrent_deployments: 3,
                max_active_environments: 100,
            },
            retry: RetryPolicy::default(),
            deletion_timeout: Duration::from_secs(300),
            capacity_timeout: Duration::from_secs(300),
            resync_interval: Duration::from_secs(300),
            poll_interval: Duration::from_secs(2),
            health_poll_interval: Duration::from_secs(2),
            error_backoff_cap: Duration::from_secs(60),
            max_workers: 16,
            preview_url_template: None,
            git_web_url: "https://github.com".to_owned(),
            notify_webhook_url: None,
            watch: true,
            default_policy: RepositoryPolicy::default(),
            config_fetch_patience: Duration::from_secs(120),
        }
    }
}

impl EngineSettings {
    /// The settings `catalyst serve` runs with.
    pub fn from_config(config: &Config) -> Self {
        let e = &config.engine;
        let preview_url_template = e.preview_url_template.clone().or_else(|| {
            config
                .preview
                .domain
                .as_ref()
                .map(|d| format!("https://{{namespace}}.{d}"))
        });
        let mut cluster = ClusterSettings::default();
        if let Some(ns) = &e.ingress_namespace {
            cluster.ingress_namespace = ns.clone();
        }
        cluster.auxiliary_namespaces = e.auxiliary_namespaces.clone();
        if let Some(image) = &e.builder_image {
            cluster.builder_image = image.clone();
        }
        cluster.health_timeout = Duration::from_secs(e.health_timeout_secs);
        if let Some(t) = &preview_url_template {
            cluster.preview_host_template = host_template(t);
        }
        let defaults = Self::default();
        Self {
            cluster,
            limits: Limits {
                global_concurrent_deployments: e.max_concurrent_deployments,
                per_repository_concurrent_deployments: e.max_concurrent_deployments_per_repository,
                max_active_environments: e.max_active_environments,
            },
            retry: RetryPolicy {
                base: Duration::from_millis(e.retry_base_ms),
                cap: Duration::from_millis(e.retry_cap_ms.max(e.retry_base_ms)),
                ..RetryPolicy::default()
            },
            deletion_timeout: Duration::from_secs(e.deletion_timeout_secs),
            capacity_timeout: Duration::from_secs(e.capacity_timeout_secs),
            resync_interval: Duration::from_secs(e.resync_interval_secs),
            max_workers: usize::try_from(e.reconcile_workers).unwrap_or(usize::MAX),
            preview_url_template,
            git_web_url: git_web_url(&config.github.api_url),
            notify_webhook_url: e.notify_webhook_url.clone(),
            default_policy: e.expiry_policy(&config.github.fork_label),
            ..defaults
        }
    }

    /// The public URL of `namespace`, when a preview domain or template is configured.
    pub fn preview_url(&self, namespace: &str) -> Option<String> {
        self.preview_url_template
            .as_ref()
            .map(|t| t.replace("{namespace}", namespace))
    }
}

/// `https://{namespace}.example.com/x` → `{namespace}.example.com` (the Ingress host).
pub fn host_template(url_template: &str) -> String {
    let rest = url_template
        .split_once("://")
        .map_or(url_template, |(_, r)| r);
    rest.split(['/', '?', '#'])
        .next()
        .unwrap_or(rest)
        .to_owned()
}

/// The web address of the Git host behind an API URL: `https://api.github.com` →
/// `https://github.com`, GitHub Enterprise `https://ghe/api/v3` → `https://ghe`.
pub fn git_web_url(api_url: &str) -> String {
    let api = api_url.trim_end_matches('/');
    if api == "https://api.github.com" {
        return "https://github.com".to_owned();
    }
    api.strip_suffix("/api/v3").unwrap_or(api).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_git_urls_come_from_the_configured_urls() {
        assert_eq!(
            host_template("https://{namespace}.preview.example.com/app"),
            "{namespace}.preview.example.com"
        );
        assert_eq!(git_web_url("https://api.github.com"), "https://github.com");
        assert_eq!(git_web_url("https://ghe.corp/api/v3/"), "https://ghe.corp");
        assert_eq!(git_web_url("http://127.0.0.1:9"), "http://127.0.0.1:9");
    }

    #[test]
    fn the_default_url_is_namespace_dot_domain() {
        let config = Config::from_sources(
            None,
            [(
                "CATALYST_PREVIEW_DOMAIN".to_owned(),
                "preview.example.com".to_owned(),
            )],
        )
        .unwrap();
        let s = EngineSettings::from_config(&config);
        assert_eq!(
            s.preview_url("pr-web-1").as_deref(),
            Some("https://pr-web-1.preview.example.com")
        );
        assert_eq!(
            s.cluster.preview_host("pr-web-1"),
            "pr-web-1.preview.example.com"
        );
        assert_eq!(s.limits.global_concurrent_deployments, 10);
        assert_eq!(s.retry.max_retries, 3);
        assert!(EngineSettings::default().preview_url("x").is_none());
    }
}
