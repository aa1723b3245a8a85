//! What one preview environment should look like in the cluster: the engine assembles
//! an [`EnvironmentSpec`] from the pull request and the repository's configuration, and
//! every builder in this layer reads only it and [`ClusterSettings`].

use std::collections::BTreeMap;

use crate::core::domain::{CommitSha, PullRequestNumber, RepositoryName};
use crate::core::naming::NamespaceName;

use super::labels;
use super::settings::ClusterSettings;
use super::{ClusterError, Result};

/// The desired state of one pull request's preview environment.
#[derive(Clone, Debug, PartialEq)]
pub struct EnvironmentSpec {
    pub namespace: NamespaceName,
    pub repository: RepositoryName,
    pub pr_number: PullRequestNumber,
    pub head_sha: CommitSha,
    /// The PR's branch name; informational (the checkout uses the exact SHA).
    pub head_ref: String,
    /// HTTPS clone URL of the repository the head SHA lives in (the fork for fork PRs).
    pub clone_url: String,
    pub chart: ChartSource,
    /// Extra values YAML from Catalyst's repository configuration (applied after the
    /// values files, before Catalyst's own `--set` values).
    pub values_yaml: Option<String>,
    /// Values files, relative to the repository root.
    pub values_files: Vec<String>,
    pub image: ImageSource,
    /// Path probed through the service proxy after rollout, e.g. `/healthz`.
    pub health_path: String,
    pub quota: QuotaOverrides,
    pub secrets: SecretCopies,
    /// Host the chart's ingress should answer on.
    pub preview_host: String,
    /// Public URL developers are sent to (recorded on the namespace).
    pub preview_url: String,
}

/// Where the Helm chart comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChartSource {
    /// A chart directory inside the repository at the head SHA.
    InRepository { path: String },
    /// A packaged chart: `chart` is a name in `repo_url`, or an `oci://` reference
    /// (then `repo_url` is `None`).
    Remote {
        chart: String,
        repo_url: Option<String>,
        version: Option<String>,
    },
}

/// How the application image is obtained.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageSource {
    /// Built from the checkout with the builder image and pushed to the registry.
    Build { dockerfile: String, context: String },
    /// Built elsewhere (CI); `{sha}`, `{short_sha}` and `{pr}` are filled in.
    Prebuilt { pattern: String },
}

/// Per-repository overrides of the default ResourceQuota; `None` keeps the default.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QuotaOverrides {
    pub cpu: Option<String>,
    pub memory: Option<String>,
    pub pods: Option<u32>,
}

/// Secrets copied into the preview namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SecretCopies {
    /// The repository's secret-store namespace.
    pub store_namespace: String,
    pub names: Vec<String>,
}

/// A resolved image reference split the way charts take it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageRef {
    pub repository: String,
    pub tag: String,
}

impl ImageRef {
    pub fn reference(&self) -> String {
        if self.tag.starts_with("sha256:") {
            format!("{}@{}", self.repository, self.tag)
        } else {
            format!("{}:{}", self.repository, self.tag)
        }
    }
}

impl EnvironmentSpec {
    /// The first 12 hex digits of the head SHA (enough to be unique in practice).
    pub fn short_sha(&self) -> &str {
        let sha = self.head_sha.as_str();
        &sha[..sha.len().min(12)]
    }

    /// Labels every object of the environment carries (drift detection selects on them).
    pub fn labels(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (
                labels::MANAGED_BY.to_owned(),
                labels::MANAGED_BY_VALUE.to_owned(),
            ),
            (
                labels::REPOSITORY.to_owned(),
                labels::repository_value(&self.repository),
            ),
            (labels::PR_NUMBER.to_owned(), self.pr_number.to_string()),
            (labels::HEAD_SHA.to_owned(), self.head_sha.to_string()),
        ])
    }

    /// Annotations with the values labels cannot hold.
    pub fn annotations(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (
                labels::REPOSITORY_ANNOTATION.to_owned(),
                self.repository.to_string(),
            ),
            (
                labels::PREVIEW_URL_ANNOTATION.to_owned(),
                self.preview_url.clone(),
            ),
        ])
    }

    /// The image the chart should run at this SHA.
    pub fn image_ref(&self, settings: &ClusterSettings) -> ImageRef {
        match &self.image {
            ImageSource::Build { .. } => ImageRef {
                repository: format!(
                    "{}/{}",
                    settings.registry_prefix.trim_end_matches('/'),
                    self.repository_slug()
                ),
                tag: self.head_sha.to_string(),
            },
            ImageSource::Prebuilt { pattern } => split_image(
                &pattern
                    .replace("{sha}", self.head_sha.as_str())
                    .replace("{short_sha}", self.short_sha())
                    .replace("{pr}", &self.pr_number.to_string()),
            ),
        }
    }

    /// The repository part of the namespace (`pr-{slug}-{n}` → `{slug}`): already a
    /// DNS label, hence a valid image path component.
    fn repository_slug(&self) -> &str {
        let ns = self.namespace.as_str();
        let suffix = format!("-{}", self.pr_number);
        ns.strip_prefix("pr-")
            .and_then(|rest| rest.strip_suffix(suffix.as_str()))
            .filter(|s| !s.is_empty())
            .unwrap_or(ns)
    }

    /// Rejects input the pull request pod could not use safely. Shell quoting already
    /// stops injection; this catches paths that escape the checkout and values that
    /// would make the Job invalid, with a message the PR comment can show.
    pub fn validate(&self) -> Result<()> {
        let sha = self.head_sha.as_str();
        if sha.len() < 7 || !sha.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(invalid(format!("head SHA {sha:?} is not a commit id")));
        }
        if !(self.clone_url.starts_with("https://") || self.clone_url.starts_with("http://")) {
            return Err(invalid(format!(
                "clone URL {:?} must be http(s)",
                self.clone_url
            )));
        }
        let mut paths: Vec<(&str, &str)> = self
            .values_files
            .iter()
            .map(|p| ("values file", p.as_str()))
            .collect();
        if let ChartSource::InRepository { path } = &self.chart {
            paths.push(("chart path", path));
        }
        if let ImageSource::Build {
            dockerfile,
            context,
        } = &self.image
        {
            paths.push(("Dockerfile", dockerfile));
            paths.push(("build context", context));
        }
        for (what, path) in paths {
            if !is_relative_inside(path) {
                return Err(invalid(format!(
                    "{what} {path:?} must be a relative path inside the repository"
                )));
            }
        }
        if let ChartSource::Remote {
            chart,
            repo_url,
            version,
        } = &self.chart
        {
            // Quoting keeps these one word each; a leading `-` would still make that
            // word a Helm option.
            let words = [Some(chart), repo_url.as_ref(), version.as_ref()];
            if chart.trim().is_empty() || words.into_iter().flatten().any(|w| w.starts_with('-')) {
                return Err(invalid(format!("chart {chart:?} is not a chart reference")));
            }
        }
        if !self.health_path.starts_with('/') {
            return Err(invalid(format!(
                "health path {:?} must start with /",
                self.health_path
            )));
        }
        Ok(())
    }
}

fn invalid(message: String) -> ClusterError {
    ClusterError::InvalidSpec(message)
}

/// Relative, non-empty, no `..` component, no NUL or newline.
fn is_relative_inside(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && !path.contains(['\0', '\n', '\r'])
        && !path.split('/').any(|part| part == "..")
}

/// Splits `registry/path:tag` or `registry/path@sha256:…`; no tag means `latest`.
pub fn split_image(reference: &str) -> ImageRef {
    if let Some((repository, digest)) = reference.split_once('@') {
        return ImageRef {
            repository: repository.to_owned(),
            tag: digest.to_owned(),
        };
    }
    let last_slash = reference.rfind('/').map_or(0, |i| i + 1);
    match reference[last_slash..].rfind(':') {
        Some(i) => ImageRef {
            repository: reference[..last_slash + i].to_owned(),
            tag: reference[last_slash + i + 1..].to_owned(),
        },
        None => ImageRef {
            repository: reference.to_owned(),
            tag: "latest".to_owned(),
        },
    }
}

#[cfg(test)]
pub(crate) mod fixtures {
    //! A ready-made spec for the builder tests.
    use super::*;
    use crate::core::naming::{self, NamespaceSlug};

    pub fn spec() -> EnvironmentSpec {
        let namespace = naming::namespace(
            &NamespaceSlug::from_stored("web".to_owned()),
            PullRequestNumber(42),
        );
        EnvironmentSpec {
            preview_host: format!("{namespace}.preview.example.com"),
            preview_url: format!("https://{namespace}.preview.example.com"),
            namespace,
            repository: RepositoryName::parse("Acme/Web").unwrap(),
            pr_number: PullRequestNumber(42),
            head_sha: CommitSha("0123456789abcdef0123456789abcdef01234567".to_owned()),
            head_ref: "feature/login".to_owned(),
            clone_url: "https://github.com/Acme/Web.git".to_owned(),
            chart: ChartSource::InRepository {
                path: "deploy/chart".to_owned(),
            },
            values_yaml: Some("replicas: 1\n".to_owned()),
            values_files: vec!["deploy/values-preview.yaml".to_owned()],
            image: ImageSource::Build {
                dockerfile: "Dockerfile".to_owned(),
                context: ".".to_owned(),
            },
            health_path: "/healthz".to_owned(),
            quota: QuotaOverrides::default(),
            secrets: SecretCopies {
                store_namespace: "acme-secrets".to_owned(),
                names: vec!["web-env".to_owned()],
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::spec;
    use super::*;

    #[test]
    fn built_images_go_to_the_registry_under_the_repository_slug() {
        let image = spec().image_ref(&ClusterSettings::default());
        assert_eq!(
            image.repository,
            "registry.catalyst.svc.cluster.local:5000/previews/web"
        );
        assert_eq!(image.tag, "0123456789abcdef0123456789abcdef01234567");
    }

    #[test]
    fn prebuilt_patterns_get_sha_and_pr_filled_in() {
        let mut s = spec();
        s.image = ImageSource::Prebuilt {
            pattern: "ghcr.io/acme/web:pr-{pr}-{short_sha}".to_owned(),
        };
        let image = s.image_ref(&ClusterSettings::default());
        assert_eq!(image.repository, "ghcr.io/acme/web");
        assert_eq!(image.tag, "pr-42-0123456789ab");
    }

    #[test]
    fn image_references_split_at_the_tag_not_the_registry_port() {
        assert_eq!(
            split_image("localhost:5000/web"),
            ImageRef {
                repository: "localhost:5000/web".to_owned(),
                tag: "latest".to_owned()
            }
        );
        let digest = split_image("ghcr.io/a/b@sha256:abc");
        assert_eq!(digest.repository, "ghcr.io/a/b");
        assert_eq!(digest.reference(), "ghcr.io/a/b@sha256:abc");
    }

    #[test]
    fn labels_carry_repository_pr_and_sha() {
        let l = spec().labels();
        assert_eq!(l[labels::MANAGED_BY], "catalyst");
        assert_eq!(l[labels::REPOSITORY], "acme.web");
        assert_eq!(l[labels::PR_NUMBER], "42");
        assert_eq!(l[labels::HEAD_SHA].len(), 40);
        assert!(l.values().all(|v| labels::is_label_value(v)));
        assert_eq!(
            spec().annotations()[labels::REPOSITORY_ANNOTATION],
            "Acme/Web"
        );
    }

    #[test]
    fn validation_rejects_escaping_paths_and_bad_shas() {
        assert!(spec().validate().is_ok());
        let mut s = spec();
        s.values_files.push("../../etc/passwd".to_owned());
        assert!(matches!(s.validate(), Err(ClusterError::InvalidSpec(_))));
        let mut s = spec();
        s.head_sha = CommitSha("main; rm -rf /".to_owned());
        assert!(s.validate().is_err());
        let mut s = spec();
        s.clone_url = "file:///etc".to_owned();
        assert!(s.validate().is_err());
        let mut s = spec();
        s.chart = ChartSource::InRepository {
            path: "/abs".to_owned(),
        };
        assert!(s.validate().is_err());
    }
}
