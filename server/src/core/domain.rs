//! Domain newtypes (bors style): a value that has been checked once is carried with its
//! type, so a pull request number is never confused with an installation id and a
//! repository name is always `owner/name`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A GitHub repository's full name, `owner/name`, as GitHub spells it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RepositoryName {
    full: String,
    slash: usize,
}

/// Why a string is not a repository name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("expected owner/name")]
pub struct InvalidRepositoryName;

impl RepositoryName {
    /// Accepts GitHub's character sets: owners `[A-Za-z0-9-]` (at most 39), repository
    /// names `[A-Za-z0-9._-]` (at most 100, not `.` or `..`).
    pub fn parse(s: &str) -> Result<Self, InvalidRepositoryName> {
        let (owner, name) = s.split_once('/').ok_or(InvalidRepositoryName)?;
        let owner_ok = !owner.is_empty()
            && owner.len() <= 39
            && owner.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        let name_ok = !name.is_empty()
            && name.len() <= 100
            && name != "."
            && name != ".."
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if owner_ok && name_ok {
            Ok(Self {
                full: s.to_owned(),
                slash: owner.len(),
            })
        } else {
            Err(InvalidRepositoryName)
        }
    }

    pub fn owner(&self) -> &str {
        &self.full[..self.slash]
    }

    pub fn name(&self) -> &str {
        &self.full[self.slash + 1..]
    }

    pub fn as_str(&self) -> &str {
        &self.full
    }

    /// GitHub treats names case-insensitively; this is the key stored and looked up.
    pub fn key(&self) -> String {
        self.full.to_ascii_lowercase()
    }
}

impl TryFrom<String> for RepositoryName {
    type Error = InvalidRepositoryName;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<RepositoryName> for String {
    fn from(r: RepositoryName) -> String {
        r.full
    }
}

impl fmt::Display for RepositoryName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.full)
    }
}

/// A pull request's number within its repository.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PullRequestNumber(pub u64);

impl fmt::Display for PullRequestNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A git commit id (hex).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CommitSha(pub String);

impl CommitSha {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CommitSha {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What an API caller may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Reads and changes everything.
    Operator,
    /// Reads only.
    Viewer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Operator => "operator",
            Self::Viewer => "viewer",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "operator" => Some(Self::Operator),
            "viewer" => Some(Self::Viewer),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_names_split_into_owner_and_name() {
        let r = RepositoryName::parse("Codertocat/Hello-World").unwrap();
        assert_eq!(r.owner(), "Codertocat");
        assert_eq!(r.name(), "Hello-World");
        assert_eq!(r.key(), "codertocat/hello-world");
    }

    #[test]
    fn malformed_repository_names_are_rejected() {
        for bad in [
            "", "noslash", "/x", "x/", "a/b/c", "a b/c", "o/..", "o/na me",
        ] {
            assert!(RepositoryName::parse(bad).is_err(), "{bad}");
        }
    }
}
