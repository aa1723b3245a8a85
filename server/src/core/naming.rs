//! Kubernetes namespace names for preview environments: `pr-{repo}-{number}`.
//!
//! The rule, in full:
//! 1. The repository *name* (not the owner) is normalised to a DNS-1123 label fragment:
//!    lowercase, every run of characters outside `[a-z0-9]` becomes one `-`, no leading
//!    or trailing `-` (an empty result becomes `repo`). This is the repository's *slug*.
//! 2. The slug is decided once, when the repository is configured, and stored with it,
//!    so namespaces of existing environments never change later.
//! 3. If the plain slug is longer than [`SLUG_MAX`], or another configured repository
//!    already uses it (`org-a/web` and `org-b/web`), the slug becomes a prefix of the
//!    plain slug plus `-` and the first 8 hex digits of SHA-256 of the lowercased full
//!    name. The hash is stable (same repository, same slug) and tells apart names that
//!    differ only after the cut or only in the owner.
//! 4. [`SLUG_MAX`] leaves room for `pr-`, `-` and any `u64` pull request number, so the
//!    namespace is always at most 63 characters.

use sha2::{Digest, Sha256};

use super::domain::{PullRequestNumber, RepositoryName};

/// Longest namespace Kubernetes accepts (a DNS-1123 label).
pub const NAMESPACE_MAX: usize = 63;
/// `63 - "pr-".len() - "-".len() - u64::MAX.to_string().len()`.
pub const SLUG_MAX: usize = NAMESPACE_MAX - 3 - 1 - 20;
const HASH_LEN: usize = 8;

/// The repository part of its environments' namespaces.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NamespaceSlug(String);

impl NamespaceSlug {
    /// Wraps a slug read back from the store (it was produced by this module).
    pub fn from_stored(s: String) -> Self {
        Self(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A preview environment's namespace.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NamespaceName(String);

impl NamespaceName {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl std::fmt::Display for NamespaceName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Rule 1: the DNS-1123 fragment of a repository name.
fn normalize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    if out.is_empty() {
        "repo".to_owned()
    } else {
        out
    }
}

fn short_hash(repo: &RepositoryName) -> String {
    let digest = Sha256::digest(repo.key().as_bytes());
    hex::encode(digest)[..HASH_LEN].to_owned()
}

/// The slug a repository gets when nothing else uses its plain name.
pub fn plain_slug(repo: &RepositoryName) -> NamespaceSlug {
    let base = normalize(repo.name());
    if base.len() <= SLUG_MAX {
        NamespaceSlug(base)
    } else {
        hashed_slug(repo)
    }
}

/// Rule 3: the cut plain slug plus a stable hash of the full name.
pub fn hashed_slug(repo: &RepositoryName) -> NamespaceSlug {
    let base = normalize(repo.name());
    let keep = SLUG_MAX - HASH_LEN - 1;
    let mut prefix: String = base.chars().take(keep).collect();
    while prefix.ends_with('-') {
        prefix.pop();
    }
    NamespaceSlug(format!("{prefix}-{}", short_hash(repo)))
}

/// Rules 2–3: picks the slug for a newly configured repository, given whether its plain
/// slug is already taken by another repository.
pub fn slug_for_new_repository(repo: &RepositoryName, plain_taken: bool) -> NamespaceSlug {
    if plain_taken {
        hashed_slug(repo)
    } else {
        plain_slug(repo)
    }
}

/// `pr-{slug}-{number}`.
pub fn namespace(slug: &NamespaceSlug, number: PullRequestNumber) -> NamespaceName {
    NamespaceName(format!("pr-{}-{}", slug.0, number.0))
}

/// `https://{namespace}.{preview_domain}`.
pub fn public_url(namespace: &NamespaceName, preview_domain: &str) -> String {
    format!(
        "https://{}.{}",
        namespace.0,
        preview_domain.trim_matches('.')
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(s: &str) -> RepositoryName {
        RepositoryName::parse(s).unwrap()
    }

    fn is_dns1123_label(s: &str) -> bool {
        !s.is_empty()
            && s.len() <= NAMESPACE_MAX
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !s.starts_with('-')
            && !s.ends_with('-')
    }

    #[test]
    fn short_names_give_plain_namespaces() {
        let ns = namespace(
            &plain_slug(&repo("Codertocat/Hello-World")),
            PullRequestNumber(2),
        );
        assert_eq!(ns.as_str(), "pr-hello-world-2");
    }

    #[test]
    fn odd_characters_are_folded_into_single_dashes() {
        let ns = namespace(&plain_slug(&repo("o/My__Repo.js")), PullRequestNumber(7));
        assert_eq!(ns.as_str(), "pr-my-repo-js-7");
        let ns = namespace(&plain_slug(&repo("o/...")), PullRequestNumber(1));
        assert_eq!(ns.as_str(), "pr-repo-1");
        let ns = namespace(&plain_slug(&repo("o/_x_")), PullRequestNumber(1));
        assert_eq!(ns.as_str(), "pr-x-1");
    }

    #[test]
    fn namespaces_are_dns_labels_even_for_the_longest_inputs() {
        let long = format!("o/{}", "a".repeat(100));
        let ns = namespace(&plain_slug(&repo(&long)), PullRequestNumber(u64::MAX));
        assert!(is_dns1123_label(ns.as_str()), "{ns}");
        assert_eq!(ns.as_str().len(), NAMESPACE_MAX);
    }

    #[test]
    fn long_names_sharing_a_prefix_do_not_collide() {
        let a = format!("o/{}-alpha", "service".repeat(8));
        let b = format!("o/{}-beta", "service".repeat(8));
        let sa = plain_slug(&repo(&a));
        let sb = plain_slug(&repo(&b));
        assert_ne!(sa, sb);
        assert!(sa.as_str().len() <= SLUG_MAX);
    }

    #[test]
    fn same_name_in_two_orgs_is_told_apart_by_the_hash() {
        let first = slug_for_new_repository(&repo("org-a/web"), false);
        let second = slug_for_new_repository(&repo("org-b/web"), true);
        assert_eq!(first.as_str(), "web");
        assert!(second.as_str().starts_with("web-"));
        assert_ne!(first, second);
        assert_ne!(second, hashed_slug(&repo("org-a/web")));
    }

    #[test]
    fn hashes_are_stable_and_case_insensitive() {
        assert_eq!(hashed_slug(&repo("Org/Web")), hashed_slug(&repo("org/web")));
        assert_eq!(
            hashed_slug(&repo("org/web")).as_str().len(),
            "web".len() + 1 + 8
        );
    }

    #[test]
    fn public_urls_join_namespace_and_domain() {
        let ns = namespace(&plain_slug(&repo("o/web")), PullRequestNumber(3));
        assert_eq!(
            public_url(&ns, "preview.example.com"),
            "https://pr-web-3.preview.example.com"
        );
    }
}
