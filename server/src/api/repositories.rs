//! The repository configuration body (`POST`/`PUT /api/v1/repositories`, the
//! `configure_repository` tool, the dashboard's form) and its validation.
//! The request body is strict: unknown fields are refused so a typo in a field name is
//! reported instead of silently ignored.

use serde::Deserialize;

use super::errors::ApiError;
use crate::core::domain::RepositoryName;
use crate::store::repositories::{NewRepository, PreviewSettings};

/// A repository's preview settings: body of `POST /api/v1/repositories` and
/// `PUT /api/v1/repositories/{owner}/{name}`. Only `full_name` is required.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRepositoryRequest {
    /// `owner/name` on GitHub.
    pub full_name: String,
    /// Project grouping; defaults to the owner's name.
    #[serde(default)]
    pub project: Option<String>,
    #[serde(default)]
    pub installation_id: Option<i64>,
    #[serde(default)]
    pub chart: Option<ChartRequest>,
    /// Helm values as YAML text.
    #[serde(default)]
    pub values: Option<String>,
    #[serde(default)]
    pub values_files: Vec<String>,
    #[serde(default)]
    pub build: Option<BuildRequest>,
    /// A prebuilt image reference, `{sha}` replaced by the head SHA.
    #[serde(default)]
    pub image_pattern: Option<String>,
    #[serde(default)]
    pub health_path: Option<String>,
    #[serde(default)]
    pub quota: Option<QuotaRequest>,
    #[serde(default)]
    pub secrets: Vec<String>,
    #[serde(default)]
    pub secret_store_namespace: Option<String>,
    #[serde(default)]
    pub required_label: Option<String>,
    #[serde(default)]
    pub deploy_drafts: bool,
    #[serde(default)]
    pub fork_opt_in_label: Option<String>,
}

#[derive(Clone, Debug, Deserialize, utoipa::ToSchema, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
/// The Helm chart installed into each preview namespace.
pub struct ChartRequest {
    #[serde(default)]
    pub repo: Option<String>,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
}

#[derive(Clone, Debug, Deserialize, utoipa::ToSchema, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
/// Build the image from the pull request's head (or give `image_pattern` instead).
pub struct BuildRequest {
    #[serde(default)]
    pub dockerfile: Option<String>,
    #[serde(default)]
    pub context: Option<String>,
}

#[derive(Clone, Debug, Deserialize, utoipa::ToSchema, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
/// ResourceQuota of each preview namespace (Kubernetes quantities: `500m`, `1Gi`).
pub struct QuotaRequest {
    #[serde(default)]
    pub cpu: Option<String>,
    #[serde(default)]
    pub memory: Option<String>,
    #[serde(default)]
    pub pods: Option<i32>,
}

/// Label applied by maintainers to deploy a fork's pull request, unless configured.
pub const DEFAULT_FORK_OPT_IN_LABEL: &str = "preview-fork";

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns_label)
}

/// A Kubernetes quantity such as `500m`, `2`, `1.5`, `512Mi`, `4G`.
fn is_quantity(s: &str) -> bool {
    let suffixes = [
        "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "m", "k", "M", "G", "T", "P", "E", "",
    ];
    suffixes.iter().any(|suffix| {
        s.strip_suffix(suffix).is_some_and(|num| {
            let mut parts = num.splitn(2, '.');
            let whole = parts.next().unwrap_or("");
            let frac = parts.next();
            !whole.is_empty()
                && whole.chars().all(|c| c.is_ascii_digit())
                && frac.is_none_or(|f| !f.is_empty() && f.chars().all(|c| c.is_ascii_digit()))
        })
    })
}

fn non_blank(field: &str, value: Option<String>) -> Result<Option<String>, ApiError> {
    match value {
        Some(v) if v.trim().is_empty() => Err(ApiError::invalid_field(field, "must not be empty")),
        other => Ok(other),
    }
}

impl CreateRepositoryRequest {
    /// Checks every field; the first problem is reported with its field name.
    pub fn validate(self) -> Result<NewRepository, ApiError> {
        let full_name = RepositoryName::parse(&self.full_name)
            .map_err(|_| ApiError::invalid_field("full_name", "expected owner/name"))?;
        let project = non_blank("project", self.project)?;
        if let Some(values) = &self.values {
            serde_yaml::from_str::<serde_yaml::Value>(values)
                .map_err(|e| ApiError::invalid_field("values", format!("not valid YAML: {e}")))?;
        }
        if self.values_files.iter().any(|f| f.trim().is_empty()) {
            return Err(ApiError::invalid_field(
                "values_files",
                "paths must not be empty",
            ));
        }
        let chart = self.chart.unwrap_or(ChartRequest {
            repo: None,
            path: None,
            version: None,
        });
        let build = self.build.unwrap_or(BuildRequest {
            dockerfile: None,
            context: None,
        });
        let image_pattern = non_blank("image_pattern", self.image_pattern)?;
        if image_pattern.is_some() && (build.dockerfile.is_some() || build.context.is_some()) {
            return Err(ApiError::invalid_field(
                "image_pattern",
                "give either build (dockerfile/context) or image_pattern, not both",
            ));
        }
        let health_path = self.health_path.unwrap_or_else(|| "/".to_owned());
        if !health_path.starts_with('/') {
            return Err(ApiError::invalid_field("health_path", "must start with /"));
        }
        let quota = self.quota.unwrap_or(QuotaRequest {
            cpu: None,
            memory: None,
            pods: None,
        });
        if let Some(cpu) = quota.cpu.as_deref().filter(|c| !is_quantity(c)) {
            return Err(ApiError::invalid_field(
                "quota.cpu",
                format!("{cpu:?} is not a Kubernetes quantity (e.g. 500m or 2)"),
            ));
        }
        if let Some(memory) = quota.memory.as_deref().filter(|m| !is_quantity(m)) {
            return Err(ApiError::invalid_field(
                "quota.memory",
                format!("{memory:?} is not a Kubernetes quantity (e.g. 512Mi or 4Gi)"),
            ));
        }
        if quota.pods.is_some_and(|p| p < 1) {
            return Err(ApiError::invalid_field("quota.pods", "must be at least 1"));
        }
        if let Some(bad) = self.secrets.iter().find(|s| !is_dns_subdomain(s)) {
            return Err(ApiError::invalid_field(
                "secrets",
                format!("{bad:?} is not a Kubernetes secret name"),
            ));
        }
        if let Some(ns) = self
            .secret_store_namespace
            .as_deref()
            .filter(|ns| !is_dns_label(ns))
        {
            return Err(ApiError::invalid_field(
                "secret_store_namespace",
                format!("{ns:?} is not a Kubernetes namespace name"),
            ));
        }
        if !self.secrets.is_empty() && self.secret_store_namespace.is_none() {
            return Err(ApiError::invalid_field(
                "secret_store_namespace",
                "required when secrets are listed (the namespace they are copied from)",
            ));
        }
        if self.installation_id.is_some_and(|id| id < 1) {
            return Err(ApiError::invalid_field(
                "installation_id",
                "must be positive",
            ));
        }
        Ok(NewRepository {
            full_name,
            project,
            settings: PreviewSettings {
                chart_repo: non_blank("chart.repo", chart.repo)?,
                chart_path: non_blank("chart.path", chart.path)?,
                chart_version: non_blank("chart.version", chart.version)?,
                values_yaml: self.values,
                values_files: self.values_files,
                build_dockerfile: non_blank("build.dockerfile", build.dockerfile)?,
                build_context: non_blank("build.context", build.context)?,
                image_pattern,
                health_path,
                quota_cpu: quota.cpu,
                quota_memory: quota.memory,
                quota_pods: quota.pods,
                secrets: self.secrets,
                secret_store_namespace: self.secret_store_namespace,
                required_label: non_blank("required_label", self.required_label)?,
                deploy_drafts: self.deploy_drafts,
                fork_opt_in_label: Some(
                    non_blank("fork_opt_in_label", self.fork_opt_in_label)?
                        .unwrap_or_else(|| DEFAULT_FORK_OPT_IN_LABEL.to_owned()),
                ),
                installation_id: self.installation_id,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities() {
        for ok in ["1", "500m", "1.5", "512Mi", "4Gi", "2G"] {
            assert!(is_quantity(ok), "{ok}");
        }
        for bad in ["", "m", "1.", "abc", "4 Gi", "-1"] {
            assert!(!is_quantity(bad), "{bad}");
        }
    }
}
