//! `.catalyst/preview.yaml` in the engine: read once per head SHA through a
//! [`ConfigSource`] (GitHub's contents API in production), recorded in the database, and
//! merged over the repository's stored configuration when the attempt's spec is built.
//!
//! Recording the file (rather than asking GitHub at every step) means every step of an
//! attempt — on any replica, after any restart — deploys the same configuration, and the
//! comment can show a broken file's problem without another call.
//!
//! A pull request controls the file, so the merge is bounded by what an operator stored:
//! it may name only secrets the repository allows and may not raise the quota above the
//! repository's (or the cluster's default) limit.

use async_trait::async_trait;

use crate::cluster::usage::parse_quantity;
use crate::core::domain::{CommitSha, RepositoryName};
use crate::github::repo_config::{CONFIG_PATH, ConfigProblem, PreviewConfig, RepositoryConfig};
use crate::store::entities::repository;
use crate::store::pull_request_configs::pull_request_config;
use crate::store::{StoreError, decode_list, encode_list};

/// Why the file could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchFailure {
    /// Worth asking again (rate limit, outage, circuit open); not before `retry_at` when
    /// GitHub named a time (a rate limit's reset).
    Temporary {
        reason: String,
        retry_at: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// Asking again will not help (no installation, permission denied).
    Permanent(String),
}

/// Where the file comes from.
#[async_trait]
pub trait ConfigSource: Send + Sync {
    async fn fetch(
        &self,
        installation: Option<i64>,
        repo: &RepositoryName,
        sha: &CommitSha,
    ) -> Result<RepositoryConfig, FetchFailure>;
}

/// What was recorded for a head SHA.
#[derive(Clone, Debug, PartialEq)]
pub enum RecordedConfig {
    /// No file at this commit: the stored configuration alone.
    Missing,
    Found(Box<PreviewConfig>),
    Invalid(ConfigProblem),
    /// GitHub could not be asked; deployed with the stored configuration.
    Unavailable(String),
}

/// The recorded state of a file that is broken at its SHA: the attempt fails in its own
/// reconcile, and admission does not start it from another's decision.
pub const INVALID_STATE: &str = "invalid";

impl RecordedConfig {
    /// What a fetch result records.
    pub fn from_fetch(result: RepositoryConfig) -> Self {
        match result {
            RepositoryConfig::Missing => Self::Missing,
            RepositoryConfig::Found(c) => Self::Found(c),
            RepositoryConfig::Invalid(p) => Self::Invalid(p),
        }
    }

    /// The row's `state` and `body`.
    pub fn to_row(&self) -> (&'static str, Option<String>) {
        match self {
            Self::Missing => ("missing", None),
            // YAML, not JSON: `values` may have keys JSON cannot represent.
            Self::Found(c) => ("found", serde_yaml::to_string(c).ok()),
            Self::Invalid(p) => (INVALID_STATE, serde_json::to_string(p).ok()),
            Self::Unavailable(why) => ("unavailable", Some(why.clone())),
        }
    }

    /// Reads a stored row back.
    pub fn from_row(row: &pull_request_config::Model) -> Result<Self, StoreError> {
        let corrupt = |e: String| StoreError::Corrupt(format!("recorded {CONFIG_PATH}: {e}"));
        let body = row.body.as_deref().unwrap_or_default();
        match row.state.as_str() {
            "missing" => Ok(Self::Missing),
            "found" => serde_yaml::from_str(body)
                .map(|c| Self::Found(Box::new(c)))
                .map_err(|e| corrupt(e.to_string())),
            INVALID_STATE => serde_json::from_str(body)
                .map(Self::Invalid)
                .map_err(|e| corrupt(e.to_string())),
            "unavailable" => Ok(Self::Unavailable(body.to_owned())),
            other => Err(corrupt(format!("unknown state {other:?}"))),
        }
    }
}

/// The limits an operator set that the file must stay within.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MergeLimits {
    /// The cluster's default quota, used where the repository stores none.
    pub default_cpu: String,
    pub default_memory: String,
    pub default_pods: u32,
}

/// The repository configuration with the file merged over it: every key the file sets
/// replaces the stored one, except `values`, which are merged key by key (nested
/// mappings too) so a PR can change one value without repeating the rest.
pub fn merge(
    stored: &repository::Model,
    file: &PreviewConfig,
    limits: &MergeLimits,
) -> Result<repository::Model, ConfigProblem> {
    let mut merged = stored.clone();
    if let Some(chart) = &file.chart {
        match (&chart.path, &chart.repository, &chart.name) {
            (Some(path), _, _) => {
                merged.chart_repo = None;
                merged.chart_path = Some(path.clone());
                merged.chart_version = None;
            }
            (None, Some(repo), Some(name)) => {
                merged.chart_repo = Some(repo.clone());
                merged.chart_path = Some(name.clone());
                merged.chart_version = chart.version.clone();
            }
            // The parser rejects any other shape.
            _ => {}
        }
    }
    if !file.values.is_empty() {
        merged.values_yaml = Some(merge_values(stored.values_yaml.as_deref(), &file.values)?);
    }
    if !file.values_files.is_empty() {
        merged.values_files = encode_list(&file.values_files);
    }
    if let Some(image) = &file.image {
        if let Some(build) = &image.build {
            merged.image_pattern = None;
            merged.build_context = Some(build.context.clone());
            merged.build_dockerfile = Some(build.dockerfile.clone());
        } else if let Some(pattern) = &image.prebuilt {
            merged.image_pattern = Some(pattern.clone());
        }
    }
    if let Some(path) = &file.health_path {
        merged.health_path = path.clone();
    }
    if let Some(quota) = &file.quota {
        let cpu_limit = stored.quota_cpu.as_deref().unwrap_or(&limits.default_cpu);
        let memory_limit = stored
            .quota_memory
            .as_deref()
            .unwrap_or(&limits.default_memory);
        let pods_limit = stored
            .quota_pods
            .and_then(|p| u32::try_from(p).ok())
            .unwrap_or(limits.default_pods);
        if let Some(cpu) = &quota.cpu {
            within("quota.cpu", cpu, cpu_limit)?;
            merged.quota_cpu = Some(cpu.clone());
        }
        if let Some(memory) = &quota.memory {
            within("quota.memory", memory, memory_limit)?;
            merged.quota_memory = Some(memory.clone());
        }
        if let Some(pods) = quota.pods {
            if pods > pods_limit {
                return Err(problem(
                    format!("quota.pods {pods} is above this repository's limit of {pods_limit}"),
                    format!("at most {pods_limit} (an operator can raise the limit in Catalyst)"),
                ));
            }
            merged.quota_pods = i32::try_from(pods).ok();
        }
    }
    if !file.secrets.is_empty() {
        let allowed = decode_list(&stored.secrets).map_err(|e| {
            problem(
                format!("the repository's stored secret list is unreadable: {e}"),
                "an operator to fix the repository's configuration in Catalyst".to_owned(),
            )
        })?;
        if let Some(name) = file.secrets.iter().find(|s| !allowed.contains(s)) {
            let expected = if allowed.is_empty() {
                "no secrets: this repository allows none (an operator can allow them in Catalyst)"
                    .to_owned()
            } else {
                format!("a subset of the allowed secrets: {}", allowed.join(", "))
            };
            return Err(problem(
                format!("secret `{name}` is not allowed for this repository"),
                expected,
            ));
        }
        merged.secrets = encode_list(&file.secrets);
    }
    Ok(merged)
}

fn problem(message: String, expected: String) -> ConfigProblem {
    ConfigProblem {
        file: CONFIG_PATH.to_owned(),
        line: None,
        column: None,
        message,
        expected,
    }
}

fn within(key: &str, wanted: &str, limit: &str) -> Result<(), ConfigProblem> {
    let bad = |message: String| {
        Err(problem(
            message,
            format!("a Kubernetes quantity of at most `{limit}`"),
        ))
    };
    match (parse_quantity(wanted), parse_quantity(limit)) {
        (None, _) => bad(format!("{key} `{wanted}` is not a Kubernetes quantity")),
        (Some(w), Some(l)) if w > l => bad(format!(
            "{key} `{wanted}` is above this repository's limit `{limit}`"
        )),
        _ => Ok(()),
    }
}

/// The stored values (YAML text) with the file's values merged over them.
fn merge_values(stored: Option<&str>, file: &serde_yaml::Mapping) -> Result<String, ConfigProblem> {
    let mut base = match stored.map(str::trim).filter(|s| !s.is_empty()) {
        None => serde_yaml::Value::Mapping(serde_yaml::Mapping::new()),
        Some(text) => serde_yaml::from_str(text).map_err(|e| {
            problem(
                format!("the repository's stored values are not valid YAML: {e}"),
                "an operator to fix the repository's values in Catalyst".to_owned(),
            )
        })?,
    };
    if !base.is_mapping() {
        base = serde_yaml::Value::Mapping(serde_yaml::Mapping::new());
    }
    deep_merge(&mut base, serde_yaml::Value::Mapping(file.clone()));
    serde_yaml::to_string(&base).map_err(|e| {
        problem(
            format!("the merged values cannot be written: {e}"),
            "plain YAML values".to_owned(),
        )
    })
}

fn deep_merge(base: &mut serde_yaml::Value, over: serde_yaml::Value) {
    match (base, over) {
        (serde_yaml::Value::Mapping(b), serde_yaml::Value::Mapping(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(existing) => deep_merge(existing, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::github::repo_config::parse_preview_config;

    fn stored() -> repository::Model {
        let now = Utc::now();
        repository::Model {
            id: "r".into(),
            project_id: "p".into(),
            full_name: "acme/shop".into(),
            full_name_key: "acme/shop".into(),
            namespace_slug: "shop".into(),
            chart_repo: None,
            chart_path: Some("chart".into()),
            chart_version: None,
            values_yaml: Some("image:\n  tag: stable\n  pullPolicy: Always\nreplicas: 2\n".into()),
            values_files: "[]".into(),
            build_dockerfile: None,
            build_context: None,
            image_pattern: None,
            health_path: "/".into(),
            quota_cpu: Some("2".into()),
            quota_memory: None,
            quota_pods: None,
            secrets: r#"["db","stripe"]"#.into(),
            secret_store_namespace: Some("secrets".into()),
            required_label: Some("preview".into()),
            deploy_drafts: false,
            fork_opt_in_label: None,
            installation_id: Some(1),
            created_at: now,
            updated_at: now,
        }
    }

    fn limits() -> MergeLimits {
        MergeLimits {
            default_cpu: "4".into(),
            default_memory: "8Gi".into(),
            default_pods: 20,
        }
    }

    fn merged(text: &str) -> Result<repository::Model, ConfigProblem> {
        merge(&stored(), &parse_preview_config(text).unwrap(), &limits())
    }

    #[test]
    fn file_keys_replace_stored_ones_and_the_rest_stays() {
        let m = merged(
            "chart:\n  repository: https://charts.example.com\n  name: shop\n  version: 1.2.3\nhealth_path: /ready\nimage:\n  prebuilt: ghcr.io/acme/shop:{sha}\nvalues_files: [values-preview.yaml]\n",
        )
        .unwrap();
        assert_eq!(m.chart_repo.as_deref(), Some("https://charts.example.com"));
        assert_eq!(m.chart_path.as_deref(), Some("shop"));
        assert_eq!(m.chart_version.as_deref(), Some("1.2.3"));
        assert_eq!(m.health_path, "/ready");
        assert_eq!(m.image_pattern.as_deref(), Some("ghcr.io/acme/shop:{sha}"));
        assert_eq!(m.values_files, r#"["values-preview.yaml"]"#);
        // Untouched: the gate, the secrets, the stored values.
        assert_eq!(m.required_label.as_deref(), Some("preview"));
        assert_eq!(m.secrets, stored().secrets);
        assert_eq!(m.values_yaml, stored().values_yaml);
    }

    #[test]
    fn values_merge_key_by_key() {
        let m = merged("values:\n  image:\n    tag: pr\n  debug: true\n").unwrap();
        let v: serde_yaml::Value = serde_yaml::from_str(m.values_yaml.as_deref().unwrap()).unwrap();
        assert_eq!(v["image"]["tag"], serde_yaml::Value::from("pr"));
        assert_eq!(v["image"]["pullPolicy"], serde_yaml::Value::from("Always"));
        assert_eq!(v["replicas"], serde_yaml::Value::from(2));
        assert_eq!(v["debug"], serde_yaml::Value::from(true));
    }

    #[test]
    fn a_chart_path_clears_a_stored_chart_repository() {
        let mut s = stored();
        s.chart_repo = Some("https://charts.example.com".into());
        s.chart_version = Some("1.0.0".into());
        let m = merge(
            &s,
            &parse_preview_config("chart:\n  path: deploy/chart\n").unwrap(),
            &limits(),
        )
        .unwrap();
        assert_eq!(m.chart_repo, None);
        assert_eq!(m.chart_version, None);
        assert_eq!(m.chart_path.as_deref(), Some("deploy/chart"));
    }

    #[test]
    fn only_allowed_secrets_may_be_named() {
        let m = merged("secrets: [db]\n").unwrap();
        assert_eq!(m.secrets, r#"["db"]"#);
        let p = merged("secrets: [db, aws-root]\n").unwrap_err();
        assert!(p.message.contains("`aws-root` is not allowed"), "{p}");
        assert!(p.expected.contains("db, stripe"), "{p}");
    }

    #[test]
    fn the_quota_cannot_exceed_the_repository_or_cluster_limit() {
        assert_eq!(
            merged("quota: {cpu: 1500m, memory: 4Gi, pods: 5}\n")
                .unwrap()
                .quota_cpu
                .as_deref(),
            Some("1500m")
        );
        let p = merged("quota: {cpu: \"3\"}\n").unwrap_err();
        assert!(
            p.message.contains("above this repository's limit `2`"),
            "{p}"
        );
        let p = merged("quota: {memory: 16Gi}\n").unwrap_err();
        assert!(p.message.contains("limit `8Gi`"), "{p}");
        let p = merged("quota: {pods: 50}\n").unwrap_err();
        assert!(p.message.contains("limit of 20"), "{p}");
        let p = merged("quota: {cpu: lots}\n").unwrap_err();
        assert!(p.message.contains("not a Kubernetes quantity"), "{p}");
    }

    #[test]
    fn records_round_trip_through_their_row() {
        let found = RecordedConfig::Found(Box::new(
            parse_preview_config("values:\n  1: one\nhealth_path: /x\n").unwrap(),
        ));
        let invalid = RecordedConfig::Invalid(parse_preview_config("chart: 3\n").unwrap_err());
        for record in [
            RecordedConfig::Missing,
            found,
            invalid,
            RecordedConfig::Unavailable("GitHub is rate limited".into()),
        ] {
            let (state, body) = record.to_row();
            let row = pull_request_config::Model {
                pull_request_id: "pr".into(),
                head_sha: "abc".into(),
                state: state.into(),
                body,
                fetched_at: Utc::now(),
            };
            assert_eq!(RecordedConfig::from_row(&row).unwrap(), record);
        }
        let row = pull_request_config::Model {
            pull_request_id: "pr".into(),
            head_sha: "abc".into(),
            state: "sideways".into(),
            body: None,
            fetched_at: Utc::now(),
        };
        assert!(RecordedConfig::from_row(&row).is_err());
    }
}
