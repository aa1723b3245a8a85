//! What GitHub certainly has not seen yet: a pull request without a Catalyst comment,
//! an attempt without a GitHub deployment. Their first comment or deployment may be
//! created without looking for an existing one first.
//!
//! Looking (listing the pull request's comments for Catalyst's marker, the deployments
//! of the commit for the attempt's id) is how a lost id is found: a crash between
//! creating the thing and storing its id, a fresh database, a comment from before the
//! sweep found the pull request. In a burst every new pull request paid for it twice: a
//! `GET` before its first comment, on the path the comment waits on, and one before its
//! deployment, all in the installation's budget and on the same two cores as the rest.
//! It is needed only when some Catalyst may have written without this replica knowing.
//!
//! For a comment, that is ruled out when all of these hold:
//! - the pull request's row was created from a timely `opened` webhook, so Catalyst
//!   watched it from its first moment ([`opened_by_webhook`]);
//! - the row was created after this replica began publishing (its *term*: the process
//!   started, or it became the leader), by more than [`CLOCK_MARGIN`]: a publisher
//!   before this term, which may have crashed between creating the comment and storing
//!   its id, never saw it;
//! - the caller's part: nothing about publishing it was ever stored (no comment id, no
//!   refusal recorded), and this term has not handed it to the publisher before. The
//!   first hand-over of the term vouches, and the publisher uses the promise up on its
//!   first try, so a create that failed half-way is followed by a listing.
//!
//! For an attempt's deployment, that is ruled out when the attempt was stored after the
//! term began (by more than [`CLOCK_MARGIN`]) and this term has not handed it to the
//! publisher before (the caller's part; the publisher again uses the promise up on its
//! first try).
//!
//! [`opened_by_webhook`]: crate::store::entities::pull_request::Model::opened_by_webhook

use chrono::{DateTime, TimeDelta, Utc};

use crate::store::entities::{deployment, pull_request};

/// How much later than the start of the term a row must be stamped. Rows are stamped by
/// the replica that took the webhook, whose clock may run a little ahead of this one's.
pub(super) const CLOCK_MARGIN: TimeDelta = TimeDelta::seconds(1);

/// What one hand-over to the publisher may vouch for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Unseen {
    /// The pull request has no Catalyst comment ([`certainly_uncommented`]).
    pub comment: bool,
    /// This attempt has no GitHub deployment ([`certainly_undeployed`]).
    pub attempt: Option<String>,
}

impl Unseen {
    /// What is certain of `pull` and its newest `attempt` in a term that started at
    /// `term_started`.
    pub(super) fn of(
        pull: &pull_request::Model,
        attempt: Option<&deployment::Model>,
        term_started: DateTime<Utc>,
    ) -> Self {
        Self {
            comment: certainly_uncommented(pull, term_started),
            attempt: attempt
                .filter(|a| certainly_undeployed(a, term_started))
                .map(|a| a.id.clone()),
        }
    }
}

/// Whether `pull`, of which nothing about its publishing is stored, certainly has no
/// Catalyst comment, in a term that started at `term_started`.
pub(super) fn certainly_uncommented(
    pull: &pull_request::Model,
    term_started: DateTime<Utc>,
) -> bool {
    pull.opened_by_webhook && stored_in_term(pull.created_at, term_started)
}

/// Whether no GitHub deployment can carry `attempt`'s id yet, in a term that started at
/// `term_started`: no earlier term's publisher saw the attempt.
pub(super) fn certainly_undeployed(
    attempt: &deployment::Model,
    term_started: DateTime<Utc>,
) -> bool {
    stored_in_term(attempt.created_at, term_started)
}

/// Whether a row stamped `created_at` was stored after the term began, by more than
/// [`CLOCK_MARGIN`]: no publisher of an earlier term can have seen it.
fn stored_in_term(created_at: DateTime<Utc>, term_started: DateTime<Utc>) -> bool {
    created_at >= term_started + CLOCK_MARGIN
}

#[cfg(test)]
mod tests {
    use super::super::plan::tests::{attempt as stored_attempt, candidate};
    use super::*;

    /// The plan tests' pull request, seen opening or not, stored at `created_at`.
    fn pull(opened_by_webhook: bool, created_at: DateTime<Utc>) -> pull_request::Model {
        pull_request::Model {
            opened_by_webhook,
            created_at,
            ..candidate("pending", false, &[]).pull_request
        }
    }

    /// The plan tests' attempt, stored at `created_at`.
    fn attempt(created_at: DateTime<Utc>) -> deployment::Model {
        deployment::Model {
            created_at,
            ..stored_attempt("queued")
        }
    }

    #[test]
    fn only_an_attempt_of_this_term_is_certainly_undeployed() {
        let term = Utc::now();
        assert!(certainly_undeployed(&attempt(term + CLOCK_MARGIN), term));
        assert!(!certainly_undeployed(
            &attempt(term + CLOCK_MARGIN - TimeDelta::milliseconds(1)),
            term
        ));
        assert!(!certainly_undeployed(
            &attempt(term - TimeDelta::hours(1)),
            term
        ));
    }

    #[test]
    fn a_pull_request_seen_opening_in_this_term_has_no_comment() {
        let term = Utc::now();
        let later = term + CLOCK_MARGIN;
        assert!(certainly_uncommented(&pull(true, later), term));
        assert!(certainly_uncommented(
            &pull(true, later + TimeDelta::hours(1)),
            term
        ));
    }

    #[test]
    fn any_doubt_means_listing() {
        let term = Utc::now();
        let later = term + TimeDelta::seconds(5);
        // Stored by the sweep, or first seen through a later event.
        assert!(!certainly_uncommented(&pull(false, later), term));
        // Stored before this term began: a crashed publisher may have commented.
        assert!(!certainly_uncommented(
            &pull(true, term - TimeDelta::seconds(5)),
            term
        ));
        // Within the clock margin of the term's start.
        assert!(!certainly_uncommented(
            &pull(true, term + CLOCK_MARGIN - TimeDelta::milliseconds(1)),
            term
        ));
    }
}
