//! The sticky comment on GitHub: find Catalyst's comment on a PR by its hidden marker
//! (and the app's bot as author), edit it in place, create it only when there is none.
//! A lost comment id (a restart, a deleted comment) is recovered by listing every page
//! of the PR's comments, so a PR never gets a second Catalyst comment from here; only a
//! comment the caller knows to be absent is created without listing.
//! Serialising writes per PR is the [`super::publisher`]'s job.

use serde::Deserialize;
use serde_json::json;

use crate::core::comment::is_catalyst_comment;

use super::request::ApiRequest;
use super::{GithubClient, GithubError, PullRequestRef, Result};

/// An issue comment's id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CommentId(pub u64);

/// The fields of an issue comment this adapter reads.
#[derive(Clone, Debug, Deserialize)]
pub struct IssueComment {
    pub id: u64,
    #[serde(default)]
    pub body: Option<String>,
    pub user: Option<CommentAuthor>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct CommentAuthor {
    pub login: String,
    #[serde(rename = "type", default)]
    pub kind: String,
}

/// What the writer knows of a PR's sticky comment before writing it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KnownComment {
    /// Its id, stored earlier; it may have been deleted since.
    Id(CommentId),
    /// There is none: Catalyst saw the pull request open and has not tried to comment
    /// since. Listing would only confirm it, at a request on the way to the first comment.
    Absent,
    /// Nothing is known: the PR's comments are listed to find it.
    Unknown,
}

/// What [`GithubClient::upsert_sticky_comment`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommentWrite {
    Created(CommentId),
    Updated(CommentId),
    /// The comment already says exactly this.
    Unchanged(CommentId),
}

impl CommentWrite {
    pub fn id(self) -> CommentId {
        match self {
            Self::Created(id) | Self::Updated(id) | Self::Unchanged(id) => id,
        }
    }
}

/// Whether `comment` is Catalyst's sticky comment: the marker first, written by a bot
/// (by this app's bot when its slug is known), so a human quoting it does not count.
pub fn is_sticky(comment: &IssueComment, bot_login: Option<&str>) -> bool {
    let by_bot = comment.user.as_ref().is_some_and(|u| match bot_login {
        Some(login) => u.login.eq_ignore_ascii_case(login),
        None => u.kind == "Bot",
    });
    by_bot && comment.body.as_deref().is_some_and(is_catalyst_comment)
}

fn comments_path(pr: &PullRequestRef) -> String {
    format!(
        "/repos/{}/{}/issues/{}/comments",
        pr.repo.owner(),
        pr.repo.name(),
        pr.number
    )
}

fn comment_path(pr: &PullRequestRef, id: CommentId) -> String {
    format!(
        "/repos/{}/{}/issues/comments/{}",
        pr.repo.owner(),
        pr.repo.name(),
        id.0
    )
}

impl GithubClient {
    /// This app's bot login, or `None` when GitHub cannot tell us right now (then any
    /// bot's comment with the marker counts).
    async fn bot_login(&self) -> Option<String> {
        match self.app_slug().await {
            Ok(slug) => Some(format!("{slug}[bot]")),
            Err(e) => {
                tracing::debug!(error = %e, "app slug unknown; matching comments by marker and bot type");
                None
            }
        }
    }

    /// Catalyst's comment on the PR, searched across every page (oldest first, so the
    /// original wins if an earlier bug ever left two).
    pub async fn find_sticky_comment(&self, pr: &PullRequestRef) -> Result<Option<IssueComment>> {
        let bot = self.bot_login().await;
        let comments: Vec<IssueComment> = self
            .get_all_pages(
                pr.installation,
                format!("{}?per_page=100", comments_path(pr)),
                "issue comments",
            )
            .await?;
        Ok(comments.into_iter().find(|c| is_sticky(c, bot.as_deref())))
    }

    pub async fn create_comment(&self, pr: &PullRequestRef, body: &str) -> Result<CommentId> {
        let request = ApiRequest::post(comments_path(pr), json!({ "body": body }));
        let response = self.send(pr.installation, &request).await?;
        Ok(CommentId(
            response.json::<IssueComment>("a created comment")?.id,
        ))
    }

    pub async fn update_comment(
        &self,
        pr: &PullRequestRef,
        id: CommentId,
        body: &str,
    ) -> Result<CommentId> {
        let request = ApiRequest::patch(comment_path(pr, id), json!({ "body": body }));
        let response = self.send(pr.installation, &request).await?;
        Ok(CommentId(
            response.json::<IssueComment>("an updated comment")?.id,
        ))
    }

    /// Writes `body` into the PR's sticky comment: edits the known comment if it still
    /// exists, else the comment found by listing, else creates one. A comment known to
    /// be [`Absent`](KnownComment::Absent) is created without listing.
    pub async fn upsert_sticky_comment(
        &self,
        pr: &PullRequestRef,
        known: KnownComment,
        body: &str,
    ) -> Result<CommentWrite> {
        match known {
            KnownComment::Id(id) => match self.update_comment(pr, id, body).await {
                Ok(id) => return Ok(CommentWrite::Updated(id)),
                // Deleted by someone: find another, or create.
                Err(GithubError::Api { status: 404, .. }) => {}
                Err(e) => return Err(e),
            },
            KnownComment::Absent => {
                return self
                    .create_comment(pr, body)
                    .await
                    .map(CommentWrite::Created);
            }
            KnownComment::Unknown => {}
        }
        match self.find_sticky_comment(pr).await? {
            Some(found) if found.body.as_deref() == Some(body) => {
                Ok(CommentWrite::Unchanged(CommentId(found.id)))
            }
            Some(found) => self
                .update_comment(pr, CommentId(found.id), body)
                .await
                .map(CommentWrite::Updated),
            None => self
                .create_comment(pr, body)
                .await
                .map(CommentWrite::Created),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::comment::MARKER;

    fn comment(login: &str, kind: &str, body: &str) -> IssueComment {
        IssueComment {
            id: 1,
            body: Some(body.to_owned()),
            user: Some(CommentAuthor {
                login: login.to_owned(),
                kind: kind.to_owned(),
            }),
        }
    }

    #[test]
    fn only_the_apps_marked_comment_is_sticky() {
        let ours = format!("{MARKER}\nstatus");
        let bot = Some("catalyst[bot]");
        assert!(is_sticky(&comment("catalyst[bot]", "Bot", &ours), bot));
        assert!(!is_sticky(&comment("other[bot]", "Bot", &ours), bot));
        assert!(!is_sticky(&comment("octocat", "User", &ours), None));
        assert!(is_sticky(&comment("other[bot]", "Bot", &ours), None));
        let quoted = format!("> {MARKER}\n> status\nthanks");
        assert!(!is_sticky(&comment("catalyst[bot]", "Bot", &quoted), bot));
    }
}
