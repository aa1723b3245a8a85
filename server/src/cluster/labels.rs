//! Label and annotation keys Catalyst puts on the objects it owns, and the label-safe
//! form of values that come from GitHub. Drift detection and the dashboard select on
//! these, so they are part of Catalyst's contract with the cluster.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::core::domain::RepositoryName;

pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
pub const MANAGED_BY_VALUE: &str = "catalyst";
/// `MANAGED_BY=MANAGED_BY_VALUE`, ready for a label selector.
pub const MANAGED_SELECTOR: &str = "app.kubernetes.io/managed-by=catalyst";
pub const REPOSITORY: &str = "catalyst.dev/repository";
pub const PR_NUMBER: &str = "catalyst.dev/pr-number";
pub const HEAD_SHA: &str = "catalyst.dev/head-sha";
pub const ROLE: &str = "catalyst.dev/role";
/// [`ROLE`] value of the pull request pod's Job and Pod.
pub const ROLE_PULL_REQUEST_POD: &str = "pull-request-pod";
pub const ATTEMPT: &str = "catalyst.dev/attempt";

/// Annotation with the repository's full `owner/name` (labels cannot hold `/`).
pub const REPOSITORY_ANNOTATION: &str = "catalyst.dev/repository-full-name";
pub const PREVIEW_URL_ANNOTATION: &str = "catalyst.dev/preview-url";
/// Annotation on copied Secrets naming their source, `namespace/name`.
pub const COPIED_FROM_ANNOTATION: &str = "catalyst.dev/copied-from";

pub const POD_SECURITY_ENFORCE: &str = "pod-security.kubernetes.io/enforce";
pub const POD_SECURITY_LEVEL: &str = "baseline";
/// Set by Kubernetes on every namespace; NetworkPolicies select namespaces by it.
pub const NAMESPACE_NAME: &str = "kubernetes.io/metadata.name";

/// Longest label value Kubernetes accepts.
pub const LABEL_VALUE_MAX: usize = 63;
const HASH_LEN: usize = 8;

/// The repository as a label value: `owner.name`, lowercased (GitHub names are
/// case-insensitive). Label values are at most 63 characters of `[A-Za-z0-9._-]`,
/// starting and ending alphanumeric; a longer or oddly-ended name is cut and given a
/// short hash of the full name so two repositories never share a value.
pub fn repository_value(repo: &RepositoryName) -> String {
    let key = repo.key();
    let plain = key.replacen('/', ".", 1);
    if is_label_value(&plain) {
        return plain;
    }
    let hash = &hex::encode(Sha256::digest(key.as_bytes()))[..HASH_LEN];
    let mut cut: String = plain
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        .take(LABEL_VALUE_MAX - HASH_LEN - 1)
        .collect();
    while cut.ends_with(|c: char| !c.is_ascii_alphanumeric()) {
        cut.pop();
    }
    let cut = cut.trim_start_matches(|c: char| !c.is_ascii_alphanumeric());
    if cut.is_empty() {
        hash.to_owned()
    } else {
        format!("{cut}-{hash}")
    }
}

/// Whether `s` is a valid (non-empty) Kubernetes label value.
pub fn is_label_value(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= LABEL_VALUE_MAX
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// Whether `s` is a DNS-1123 label (names of namespaces, Jobs, Services...).
pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= LABEL_VALUE_MAX
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// One-entry map, for selectors.
pub fn single(key: &str, value: &str) -> BTreeMap<String, String> {
    BTreeMap::from([(key.to_owned(), value.to_owned())])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(s: &str) -> RepositoryName {
        RepositoryName::parse(s).unwrap()
    }

    #[test]
    fn ordinary_repositories_read_as_owner_dot_name() {
        assert_eq!(
            repository_value(&repo("Codertocat/Hello-World")),
            "codertocat.hello-world"
        );
    }

    #[test]
    fn long_or_odd_names_are_cut_and_hashed_into_valid_values() {
        let long = format!("org/{}", "x".repeat(100));
        let odd = "org/trailing-";
        for name in [long.as_str(), odd, "o/_lead", "o/..."] {
            let v = repository_value(&repo(name));
            assert!(is_label_value(&v), "{name} -> {v}");
        }
        let a = repository_value(&repo(&format!("org/{}a", "x".repeat(80))));
        let b = repository_value(&repo(&format!("org/{}b", "x".repeat(80))));
        assert_ne!(a, b);
    }

    #[test]
    fn label_values_are_checked() {
        assert!(is_label_value("a.b-c_d"));
        assert!(!is_label_value("-a"));
        assert!(!is_label_value("a/b"));
        assert!(!is_label_value(&"a".repeat(64)));
        assert!(is_dns_label("pr-web-1"));
        assert!(!is_dns_label("PR-web"));
    }
}
