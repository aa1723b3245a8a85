//! Translation of a verified GitHub delivery into a small domain event. Only the fields
//! Catalyst acts on are read; everything else in GitHub's large payloads is ignored, so
//! new fields GitHub adds never break intake.

use chrono::{DateTime, TimeDelta, Utc};
use serde::Deserialize;

use super::domain::{CommitSha, PullRequestNumber, RepositoryName};

/// What a delivery means to Catalyst.
#[derive(Clone, Debug, PartialEq)]
pub enum WebhookEvent {
    /// GitHub checking that the hook works.
    Ping,
    /// A pull request change that affects desired state.
    PullRequest(PullRequestEvent),
    /// Valid, but nothing Catalyst acts on (other events or actions).
    Ignored(IgnoredEvent),
}

/// An event Catalyst records but does not act on.
#[derive(Clone, Debug, PartialEq)]
pub struct IgnoredEvent {
    pub action: Option<String>,
    pub repository: Option<String>,
    pub pr_number: Option<u64>,
}

/// The pull request actions that change desired state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PullRequestAction {
    Opened,
    Reopened,
    Synchronize,
    Closed,
    ReadyForReview,
    ConvertedToDraft,
    Labeled,
    Unlabeled,
    /// Only when the base branch changed.
    BaseChanged,
}

impl PullRequestAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Opened => "opened",
            Self::Reopened => "reopened",
            Self::Synchronize => "synchronize",
            Self::Closed => "closed",
            Self::ReadyForReview => "ready_for_review",
            Self::ConvertedToDraft => "converted_to_draft",
            Self::Labeled => "labeled",
            Self::Unlabeled => "unlabeled",
            Self::BaseChanged => "edited",
        }
    }
}

/// A pull request event: the action plus a snapshot of the pull request as GitHub saw it.
#[derive(Clone, Debug, PartialEq)]
pub struct PullRequestEvent {
    pub action: PullRequestAction,
    pub repository: RepositoryName,
    pub installation_id: Option<i64>,
    pub pull_request: PullRequestSnapshot,
}

/// How soon after a pull request's opening its `opened` delivery must arrive for Catalyst
/// to count as having seen it open. GitHub delivers within seconds; an `opened` arriving
/// later is a redelivery (after a database was restored, say) of a pull request an
/// earlier Catalyst may already have commented on.
pub const OPENING_DELIVERED_WITHIN: TimeDelta = TimeDelta::minutes(10);

impl PullRequestEvent {
    /// Whether this event, received at `received`, is GitHub announcing the pull
    /// request's opening as it happens (GitHub's `updated_at` of an opening is the
    /// moment it opened). A clock running behind GitHub's counts as on time.
    pub fn announces_opening(&self, received: DateTime<Utc>) -> bool {
        self.action == PullRequestAction::Opened
            && received - self.pull_request.updated_at <= OPENING_DELIVERED_WITHIN
    }
}

/// The desired-state fields of a pull request.
#[derive(Clone, Debug, PartialEq)]
pub struct PullRequestSnapshot {
    pub number: PullRequestNumber,
    pub title: String,
    pub head_sha: CommitSha,
    pub head_ref: String,
    pub base_ref: String,
    pub author: String,
    /// The head lives in another repository (or in one that was deleted).
    pub is_fork: bool,
    pub draft: bool,
    pub labels: Vec<String>,
    pub open: bool,
    pub merged: bool,
    /// GitHub's `updated_at`; orders deliveries that arrive out of order.
    pub updated_at: DateTime<Utc>,
}

/// Why a signed body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    #[error("payload is not valid JSON: {0}")]
    Json(#[source] serde_json::Error),
    #[error("pull_request payload is missing or has invalid fields: {0}")]
    PullRequest(#[source] serde_json::Error),
    #[error("invalid repository full_name {0:?}")]
    Repository(String),
}

#[derive(Deserialize)]
struct Envelope {
    action: Option<String>,
    #[serde(default)]
    number: Option<u64>,
    repository: Option<RepositoryRef>,
    #[serde(default)]
    changes: Option<Changes>,
}

/// `changes` of an `edited` event: only whether the base branch changed matters.
#[derive(Deserialize)]
struct Changes {
    #[serde(default)]
    base: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
struct RepositoryRef {
    full_name: String,
}

#[derive(Deserialize)]
struct PullRequestPayload {
    repository: RepositoryRef,
    installation: Option<InstallationRef>,
    pull_request: PullRequestFields,
}

#[derive(Deserialize)]
struct InstallationRef {
    id: i64,
}

#[derive(Deserialize)]
struct PullRequestFields {
    number: u64,
    #[serde(default)]
    title: Option<String>,
    state: String,
    #[serde(default)]
    draft: bool,
    #[serde(default)]
    merged: Option<bool>,
    updated_at: DateTime<Utc>,
    user: Option<UserRef>,
    #[serde(default)]
    labels: Vec<LabelRef>,
    head: BranchRef,
    base: BranchRef,
}

#[derive(Deserialize)]
struct UserRef {
    login: String,
}

#[derive(Deserialize)]
struct LabelRef {
    name: String,
}

#[derive(Deserialize)]
struct BranchRef {
    #[serde(rename = "ref")]
    git_ref: String,
    sha: String,
    repo: Option<RepositoryRef>,
}

/// Reads a delivery. `event` is the `X-GitHub-Event` header.
pub fn parse(event: &str, body: &[u8]) -> Result<WebhookEvent, PayloadError> {
    // Every event must at least be a JSON object; that also rejects garbage for events
    // that are otherwise ignored. The bytes are read straight into the few fields used
    // (twice for a pull request) rather than into a `Value` tree first: building and
    // copying that tree was a tenth of Catalyst's CPU at 500 webhooks a second.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        let e = serde_json::from_slice::<serde::de::IgnoredAny>(body)
            .err()
            .unwrap_or_else(|| {
                <serde_json::Error as serde::de::Error>::custom("expected a JSON object")
            });
        return Err(PayloadError::Json(e));
    }
    let envelope: Envelope = serde_json::from_slice(body).map_err(PayloadError::Json)?;
    let ignored = |envelope: Envelope| {
        WebhookEvent::Ignored(IgnoredEvent {
            action: envelope.action,
            repository: envelope.repository.map(|r| r.full_name),
            pr_number: envelope.number,
        })
    };
    match event {
        "ping" => Ok(WebhookEvent::Ping),
        "pull_request" => {
            let base_changed = envelope.changes.as_ref().is_some_and(|c| c.base.is_some());
            let action = match envelope.action.as_deref() {
                Some("opened") => PullRequestAction::Opened,
                Some("reopened") => PullRequestAction::Reopened,
                Some("synchronize") => PullRequestAction::Synchronize,
                Some("closed") => PullRequestAction::Closed,
                Some("ready_for_review") => PullRequestAction::ReadyForReview,
                Some("converted_to_draft") => PullRequestAction::ConvertedToDraft,
                Some("labeled") => PullRequestAction::Labeled,
                Some("unlabeled") => PullRequestAction::Unlabeled,
                Some("edited") if base_changed => PullRequestAction::BaseChanged,
                _ => return Ok(ignored(envelope)),
            };
            let payload: PullRequestPayload =
                serde_json::from_slice(body).map_err(PayloadError::PullRequest)?;
            Ok(WebhookEvent::PullRequest(translate(action, payload)?))
        }
        _ => Ok(ignored(envelope)),
    }
}

fn translate(
    action: PullRequestAction,
    payload: PullRequestPayload,
) -> Result<PullRequestEvent, PayloadError> {
    let repo_name = payload.repository.full_name;
    let repository =
        RepositoryName::parse(&repo_name).map_err(|_| PayloadError::Repository(repo_name))?;
    let pr = payload.pull_request;
    let is_fork = match &pr.head.repo {
        Some(head_repo) => !head_repo
            .full_name
            .eq_ignore_ascii_case(repository.as_str()),
        None => true,
    };
    Ok(PullRequestEvent {
        action,
        repository,
        installation_id: payload.installation.map(|i| i.id),
        pull_request: PullRequestSnapshot {
            number: PullRequestNumber(pr.number),
            title: pr.title.unwrap_or_default(),
            head_sha: CommitSha(pr.head.sha),
            head_ref: pr.head.git_ref,
            base_ref: pr.base.git_ref,
            author: pr.user.map(|u| u.login).unwrap_or_default(),
            is_fork,
            draft: pr.draft,
            labels: pr.labels.into_iter().map(|l| l.name).collect(),
            open: pr.state == "open",
            merged: pr.merged.unwrap_or(false),
            updated_at: pr.updated_at,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pr_body(action: &str, extra: &str) -> String {
        format!(
            r#"{{"action":"{action}","number":5,{extra}
            "repository":{{"full_name":"acme/web"}},
            "installation":{{"id":42}},
            "pull_request":{{"number":5,"title":"Fix","state":"open","draft":false,
              "merged":false,"updated_at":"2026-01-02T03:04:05Z","user":{{"login":"dev"}},
              "labels":[{{"name":"preview"}}],
              "head":{{"ref":"feature","sha":"abc123","repo":{{"full_name":"dev/web"}}}},
              "base":{{"ref":"main","sha":"def456","repo":{{"full_name":"acme/web"}}}}}}}}"#
        )
    }

    fn event(action: &str) -> PullRequestEvent {
        match parse("pull_request", pr_body(action, "").as_bytes()).unwrap() {
            WebhookEvent::PullRequest(e) => e,
            other => panic!("not a pull request event: {other:?}"),
        }
    }

    #[test]
    fn only_a_timely_opened_announces_an_opening() {
        let opened = event("opened");
        let at = opened.pull_request.updated_at;
        assert!(opened.announces_opening(at + TimeDelta::seconds(3)));
        assert!(opened.announces_opening(at + OPENING_DELIVERED_WITHIN));
        // Our clock behind GitHub's.
        assert!(opened.announces_opening(at - TimeDelta::seconds(30)));
        // A redelivery hours later.
        assert!(!opened.announces_opening(at + OPENING_DELIVERED_WITHIN + TimeDelta::seconds(1)));
        assert!(!opened.announces_opening(at + TimeDelta::hours(5)));
        for action in ["reopened", "synchronize", "labeled", "ready_for_review"] {
            assert!(
                !event(action).announces_opening(at),
                "{action} is not an opening"
            );
        }
    }

    #[test]
    fn opened_becomes_a_pull_request_event() {
        let WebhookEvent::PullRequest(e) =
            parse("pull_request", pr_body("opened", "").as_bytes()).unwrap()
        else {
            panic!("not a pull request event");
        };
        assert_eq!(e.action, PullRequestAction::Opened);
        assert_eq!(e.repository.as_str(), "acme/web");
        assert_eq!(e.installation_id, Some(42));
        let pr = e.pull_request;
        assert_eq!(pr.number, PullRequestNumber(5));
        assert_eq!(pr.head_sha.as_str(), "abc123");
        assert_eq!(
            (pr.head_ref.as_str(), pr.base_ref.as_str()),
            ("feature", "main")
        );
        assert!(pr.is_fork);
        assert!(pr.open);
        assert_eq!(pr.labels, vec!["preview".to_owned()]);
    }

    #[test]
    fn edited_counts_only_when_the_base_changed() {
        let plain = parse("pull_request", pr_body("edited", "").as_bytes()).unwrap();
        assert!(matches!(plain, WebhookEvent::Ignored(_)));
        let base = pr_body("edited", r#""changes":{"base":{"ref":{"from":"dev"}}},"#);
        let WebhookEvent::PullRequest(e) = parse("pull_request", base.as_bytes()).unwrap() else {
            panic!("base change not recognised");
        };
        assert_eq!(e.action, PullRequestAction::BaseChanged);
    }

    #[test]
    fn other_actions_and_events_are_ignored_but_described() {
        let WebhookEvent::Ignored(i) =
            parse("pull_request", pr_body("assigned", "").as_bytes()).unwrap()
        else {
            panic!("assigned should be ignored");
        };
        assert_eq!(i.action.as_deref(), Some("assigned"));
        assert_eq!(i.pr_number, Some(5));
        assert!(matches!(
            parse("push", b"{}").unwrap(),
            WebhookEvent::Ignored(_)
        ));
        assert_eq!(
            parse("ping", b"{\"zen\":\"x\"}").unwrap(),
            WebhookEvent::Ping
        );
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(matches!(
            parse("pull_request", b"{nope"),
            Err(PayloadError::Json(_))
        ));
        assert!(matches!(parse("push", b"[1,"), Err(PayloadError::Json(_))));
        // Valid JSON that is not one object is refused too, whatever the event.
        for body in [&b"[1,2]"[..], b" \"x\"", b"null", b"{\"a\":1} {}"] {
            assert!(
                matches!(parse("ping", body), Err(PayloadError::Json(_))),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        assert!(matches!(
            parse("pull_request", br#"{"action":"opened","pull_request":{}}"#),
            Err(PayloadError::PullRequest(_))
        ));
    }
}
