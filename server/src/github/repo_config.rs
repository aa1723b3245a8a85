//! `.catalyst/preview.yaml` at a PR's head SHA: fetched through the contents API and
//! parsed into a typed [`PreviewConfig`]. Unknown keys are errors (a typo must not be
//! silently ignored), and every error names the file, line and column and says what was
//! expected, because it ends up in the PR comment for the developer to fix.
//!
//! Every key is optional: the file is merged over the repository's configuration stored
//! in Catalyst (see `engine::spec::merge_preview_config`). Who gets a preview (required
//! label, fork opt-in, drafts) is deliberately not in the file: a pull request must not
//! be able to change its own gate.
//!
//! ```yaml
//! chart:
//!   path: charts/app            # or: repository + name (+ version)
//! values:
//!   replicas: 1
//! values_files: [charts/app/values-preview.yaml]
//! image:
//!   build: { context: ".", dockerfile: Dockerfile }
//!   # or: prebuilt: "ghcr.io/acme/app:{sha}"
//! health_path: /healthz
//! quota: { cpu: "2", memory: 4Gi }
//! secrets: [database-credentials]
//! ```

use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::core::comment::ConfigurationProblem;
use crate::core::domain::{CommitSha, RepositoryName};

use super::request::ApiRequest;
use super::{GithubClient, GithubError, InstallationId, Result};

/// Where the configuration lives in the repository.
pub const CONFIG_PATH: &str = ".catalyst/preview.yaml";
const FILE_EXPECTATION: &str = "a mapping with any of `chart`, `values`, `values_files`, `image`, `health_path`, \
     `quota`, `secrets`";

/// The repository's preview configuration.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PreviewConfig {
    /// Replaces the stored chart when set.
    pub chart: Option<ChartSource>,
    /// Helm values set inline.
    #[serde(default)]
    pub values: serde_yaml::Mapping,
    /// Values files inside the repository, applied in order.
    #[serde(default)]
    pub values_files: Vec<String>,
    pub image: Option<ImageSource>,
    /// The HTTP path probed after the rollout (`/` when unset).
    pub health_path: Option<String>,
    pub quota: Option<Quota>,
    /// Secrets copied from the project's secret-store namespace; only names the
    /// repository's stored configuration allows.
    #[serde(default)]
    pub secrets: Vec<String>,
}

/// A chart in the repository (`path`) or in a chart repository (`repository` + `name`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ChartSource {
    pub path: Option<String>,
    pub repository: Option<String>,
    pub name: Option<String>,
    pub version: Option<String>,
}

/// Build an image from the PR, or use a prebuilt one (`{sha}` is replaced).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ImageSource {
    pub build: Option<ImageBuild>,
    pub prebuilt: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ImageBuild {
    #[serde(default = "default_context")]
    pub context: String,
    #[serde(default = "default_dockerfile")]
    pub dockerfile: String,
}

fn default_context() -> String {
    ".".to_owned()
}

fn default_dockerfile() -> String {
    "Dockerfile".to_owned()
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Quota {
    pub cpu: Option<String>,
    pub memory: Option<String>,
    pub pods: Option<u32>,
}

/// What is wrong with the file, where, and what would be right.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
pub struct ConfigProblem {
    pub file: String,
    pub line: Option<u32>,
    pub column: Option<u32>,
    pub message: String,
    pub expected: String,
}

impl ConfigProblem {
    /// The comment's form of the problem.
    pub fn to_comment(&self) -> ConfigurationProblem {
        ConfigurationProblem {
            file: self.file.clone(),
            line: self.line,
            message: self.message.clone(),
            expected: self.expected.clone(),
        }
    }
}

impl std::fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        write!(f, ": {} (expected {})", self.message, self.expected)
    }
}

/// The outcome of looking for the file at a commit.
#[derive(Clone, Debug, PartialEq)]
pub enum RepositoryConfig {
    /// No `.catalyst/preview.yaml` at this commit (not an error).
    Missing,
    Found(Box<PreviewConfig>),
    Invalid(ConfigProblem),
}

#[derive(Deserialize)]
struct Contents {
    #[serde(default)]
    content: String,
    #[serde(default)]
    encoding: String,
}

impl GithubClient {
    /// Fetches and parses `.catalyst/preview.yaml` at `sha`.
    pub async fn preview_config(
        &self,
        installation: InstallationId,
        repo: &RepositoryName,
        sha: &CommitSha,
    ) -> Result<RepositoryConfig> {
        let path = format!(
            "/repos/{}/{}/contents/{CONFIG_PATH}?ref={}",
            repo.owner(),
            repo.name(),
            sha.as_str()
        );
        let response = match self.send(installation, &ApiRequest::get(path)).await {
            Ok(response) => response,
            Err(GithubError::Api { status: 404, .. }) => return Ok(RepositoryConfig::Missing),
            Err(e) => return Err(e),
        };
        // A directory answers with a list: that is "no file" too, as far as we care.
        let Ok(contents) = response.json::<Contents>("the contents of .catalyst/preview.yaml")
        else {
            return Ok(RepositoryConfig::Invalid(problem(
                None,
                None,
                "is not a file",
                "a YAML file",
            )));
        };
        if contents.encoding != "base64" {
            return Ok(RepositoryConfig::Invalid(problem(
                None,
                None,
                "is too large to read through the contents API",
                "a file under 1 MB",
            )));
        }
        let cleaned: String = contents
            .content
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        let text = base64::engine::general_purpose::STANDARD
            .decode(cleaned)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok());
        Ok(match text {
            Some(text) => match parse_preview_config(&text) {
                Ok(config) => RepositoryConfig::Found(Box::new(config)),
                Err(problem) => RepositoryConfig::Invalid(problem),
            },
            None => {
                RepositoryConfig::Invalid(problem(None, None, "is not UTF-8 text", "UTF-8 YAML"))
            }
        })
    }
}

/// The engine reads the file through the same client as everything else, so rate limits
/// and the circuit breaker apply; a limited or failing GitHub is a temporary failure
/// (the engine waits a while, then deploys with the stored configuration).
#[async_trait::async_trait]
impl crate::engine::preview_config::ConfigSource for GithubClient {
    async fn fetch(
        &self,
        installation: Option<i64>,
        repo: &RepositoryName,
        sha: &CommitSha,
    ) -> std::result::Result<RepositoryConfig, crate::engine::preview_config::FetchFailure> {
        use crate::engine::preview_config::FetchFailure;
        let Some(installation) = installation.and_then(|i| u64::try_from(i).ok()) else {
            return Err(FetchFailure::Permanent(
                "no GitHub App installation is recorded for the repository".to_owned(),
            ));
        };
        self.preview_config(InstallationId(installation), repo, sha)
            .await
            .map_err(|e| {
                if e.is_temporary() || e.retry_at().is_some() {
                    FetchFailure::Temporary {
                        reason: e.to_string(),
                        retry_at: e.retry_at(),
                    }
                } else {
                    FetchFailure::Permanent(e.to_string())
                }
            })
    }
}

fn problem(line: Option<u32>, column: Option<u32>, message: &str, expected: &str) -> ConfigProblem {
    ConfigProblem {
        file: CONFIG_PATH.to_owned(),
        line,
        column,
        message: message.to_owned(),
        expected: expected.to_owned(),
    }
}

/// Parses and checks the file's text.
pub fn parse_preview_config(text: &str) -> Result<PreviewConfig, ConfigProblem> {
    if text.trim().is_empty() {
        return Err(problem(None, None, "the file is empty", FILE_EXPECTATION));
    }
    let deserializer = serde_yaml::Deserializer::from_str(text);
    let config: PreviewConfig = serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let location = e.inner().location();
        let path = e.path().to_string();
        let raw = e.inner().to_string();
        // serde_yaml appends " at line L column C"; the location is reported apart.
        let raw = raw.split(" at line ").next().unwrap_or(&raw).to_owned();
        let (message, expected) = match raw.split_once(", expected ") {
            Some((message, expected)) => (message.to_owned(), expected.to_owned()),
            None if raw.starts_with("missing field") => (
                raw.clone(),
                format!("{} to be set", raw.trim_start_matches("missing field ")),
            ),
            None if path == "." || path.is_empty() => (raw.clone(), FILE_EXPECTATION.to_owned()),
            None => (raw.clone(), "valid YAML".to_owned()),
        };
        // serde_yaml already prefixes nested errors with their path.
        let message = if path == "." || path.is_empty() || message.starts_with(&format!("{path}: "))
        {
            message
        } else {
            format!("{path}: {message}")
        };
        ConfigProblem {
            file: CONFIG_PATH.to_owned(),
            // An error at the end of the input is placed on the line after the last
            // one (found by fuzzing: `{` was "line 2" of a one-line file); the comment
            // must point at a line the file has.
            line: location
                .as_ref()
                .and_then(|l| u32::try_from(l.line().min(text.lines().count().max(1))).ok()),
            column: location
                .as_ref()
                .and_then(|l| u32::try_from(l.column()).ok()),
            message,
            expected,
        }
    })?;
    check(&config, text)?;
    Ok(config)
}

/// Rules the types cannot express; the line is that of the offending key.
fn check(config: &PreviewConfig, text: &str) -> Result<(), ConfigProblem> {
    let at = |key: &str, message: &str, expected: &str| {
        let line = line_of_key(text, key);
        problem(line, line.map(|_| 1), message, expected)
    };
    let chart_path = config.chart.as_ref().and_then(|c| c.path.as_ref());
    if let Some(chart) = &config.chart {
        match (&chart.path, &chart.repository, &chart.name) {
            (Some(_), None, None) | (None, Some(_), Some(_)) => {}
            _ => {
                return Err(at(
                    "chart",
                    "chart: give either `path` or both `repository` and `name`",
                    "`path: charts/app` or `repository: https://… ` with `name: app`",
                ));
            }
        }
    }
    for file in config.values_files.iter().chain(chart_path) {
        if file.starts_with('/') || file.split('/').any(|part| part == "..") {
            return Err(at(
                if chart_path == Some(file) {
                    "path"
                } else {
                    "values_files"
                },
                &format!("`{file}` is outside the repository"),
                "a path relative to the repository root, without `..`",
            ));
        }
    }
    if let Some(image) = &config.image {
        match (&image.build, &image.prebuilt) {
            (Some(_), None) => {}
            (None, Some(pattern)) if !pattern.trim().is_empty() => {}
            _ => {
                return Err(at(
                    "image",
                    "image: give exactly one of `build` or `prebuilt`",
                    "`build: {context: ., dockerfile: Dockerfile}` or `prebuilt: registry/app:{sha}`",
                ));
            }
        }
    }
    if let Some(path) = &config.health_path
        && !path.starts_with('/')
    {
        return Err(at(
            "health_path",
            &format!("health_path `{path}` does not start with `/`"),
            "an absolute HTTP path such as `/healthz`",
        ));
    }
    for name in &config.secrets {
        let dns_label = !name.is_empty()
            && name.len() <= 253
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
        if !dns_label {
            return Err(at(
                "secrets",
                &format!("secret name `{name}` is not a Kubernetes object name"),
                "lowercase letters, digits, `-` and `.`",
            ));
        }
    }
    Ok(())
}

/// The 1-based line where `key:` first appears as a mapping key.
fn line_of_key(text: &str, key: &str) -> Option<u32> {
    let wanted = format!("{key}:");
    text.lines()
        .position(|line| {
            let t = line.trim_start().trim_start_matches("- ");
            t.starts_with(&wanted)
        })
        .and_then(|i| u32::try_from(i + 1).ok())
}

#[cfg(test)]
mod tests;
