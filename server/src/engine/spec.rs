//! Turns the stored pull request and repository configuration into the cluster layer's
//! [`EnvironmentSpec`] and the repository's eligibility policy.

use crate::cluster::{ChartSource, EnvironmentSpec, ImageSource, QuotaOverrides, SecretCopies};
use crate::core::domain::{CommitSha, PullRequestNumber, RepositoryName};
use crate::core::naming::{self, NamespaceSlug};
use crate::github::eligibility::{self, Eligibility, RepositoryPolicy};
use crate::store::decode_list;
use crate::store::entities::{preview_environment, pull_request, repository};

use super::settings::EngineSettings;

/// The chart directory used when the repository names none.
pub const DEFAULT_CHART_PATH: &str = "chart";

/// The spec of `env` at the pull request's head SHA, or why the configuration cannot
/// be deployed (a message for the PR comment).
pub fn environment_spec(
    env: &preview_environment::Model,
    pr: &pull_request::Model,
    repo: &repository::Model,
    settings: &EngineSettings,
) -> Result<EnvironmentSpec, String> {
    let repository = RepositoryName::parse(&repo.full_name)
        .map_err(|_| format!("repository name {:?} is not owner/name", repo.full_name))?;
    let pr_number = u64::try_from(pr.number)
        .map_err(|_| format!("pull request number {} is invalid", pr.number))?;
    let chart = match (&repo.chart_repo, &repo.chart_path) {
        (Some(r), path) if r.starts_with("oci://") => ChartSource::Remote {
            chart: match path {
                Some(p) => format!("{}/{}", r.trim_end_matches('/'), p.trim_start_matches('/')),
                None => r.clone(),
            },
            repo_url: None,
            version: repo.chart_version.clone(),
        },
        (Some(r), Some(name)) => ChartSource::Remote {
            chart: name.clone(),
            repo_url: Some(r.clone()),
            version: repo.chart_version.clone(),
        },
        (Some(_), None) => {
            return Err("chart.repo is set but chart.path (the chart's name) is not".to_owned());
        }
        (None, path) => ChartSource::InRepository {
            path: path
                .clone()
                .unwrap_or_else(|| DEFAULT_CHART_PATH.to_owned()),
        },
    };
    let image = match &repo.image_pattern {
        Some(pattern) => ImageSource::Prebuilt {
            pattern: pattern.clone(),
        },
        None => ImageSource::Build {
            dockerfile: repo
                .build_dockerfile
                .clone()
                .unwrap_or_else(|| "Dockerfile".to_owned()),
            context: repo.build_context.clone().unwrap_or_else(|| ".".to_owned()),
        },
    };
    let secret_names = decode_list(&repo.secrets).map_err(|e| e.to_string())?;
    let values_files = decode_list(&repo.values_files).map_err(|e| e.to_string())?;
    let namespace = naming::namespace(
        &NamespaceSlug::from_stored(repo.namespace_slug.clone()),
        PullRequestNumber(pr_number),
    );
    if namespace.as_str() != env.namespace {
        return Err(format!(
            "namespace {} does not match the repository's slug",
            env.namespace
        ));
    }
    let preview_url = settings
        .preview_url(&env.namespace)
        .unwrap_or_else(|| format!("https://{}", settings.cluster.preview_host(&env.namespace)));
    let spec = EnvironmentSpec {
        preview_host: settings.cluster.preview_host(&env.namespace),
        preview_url,
        namespace,
        clone_url: format!(
            "{}/{}.git",
            settings.git_web_url.trim_end_matches('/'),
            repository
        ),
        repository,
        pr_number: PullRequestNumber(pr_number),
        head_sha: CommitSha(pr.head_sha.clone()),
        head_ref: pr.head_ref.clone(),
        chart,
        values_yaml: repo.values_yaml.clone(),
        values_files,
        image,
        health_path: repo.health_path.clone(),
        quota: QuotaOverrides {
            cpu: repo.quota_cpu.clone(),
            memory: repo.quota_memory.clone(),
            pods: repo.quota_pods.and_then(|p| u32::try_from(p).ok()),
        },
        secrets: SecretCopies {
            store_namespace: repo.secret_store_namespace.clone().unwrap_or_default(),
            names: secret_names,
        },
    };
    spec.validate().map_err(|e| e.to_string())?;
    Ok(spec)
}

/// Whether the pull request should have an environment at all: open, of a configured
/// repository, eligible under the repository's rules (fork opt-in, required label,
/// drafts), and not expired (idle longer than the TTL without the `keep` label).
/// `defaults` carries the service's defaults (the configured fork opt-in label). A row
/// whose labels cannot be read counts as not eligible: a preview runs PR code, so it
/// fails closed.
pub fn is_wanted(
    pr: &pull_request::Model,
    repo: Option<&repository::Model>,
    defaults: &RepositoryPolicy,
) -> bool {
    let Some(repo) = repo else {
        return false;
    };
    if pr.state != "open" || !pr.configured {
        return false;
    }
    let policy = eligibility::repository_policy(repo, defaults);
    eligibility::pull_request_facts(pr).is_ok_and(|facts| {
        eligibility::eligibility(&facts, &policy) == Eligibility::Eligible
            && !eligibility::is_expired(&facts, &policy, chrono::Utc::now())
    })
}
