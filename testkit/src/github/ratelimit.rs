//! Rate limits like GitHub's: a primary budget per identity with `X-RateLimit-*` headers on
//! every answer (403 "API rate limit exceeded" at zero), and secondary limits (403 or 429
//! with `Retry-After`) that tests switch on.

use std::collections::HashMap;

use super::auth::Identity;
use super::errors::GhError;

const RATE_DOCS: &str = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api";

/// One identity's primary budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bucket {
    pub limit: u64,
    pub used: u64,
    /// Epoch seconds when the window resets.
    pub reset: i64,
}

impl Bucket {
    /// Requests left in this window.
    pub fn remaining(&self) -> u64 {
        self.limit.saturating_sub(self.used)
    }
}

#[derive(Debug, Clone, Copy)]
struct Secondary {
    hits: usize,
    status: u16,
    retry_after: u64,
}

/// All buckets, plus the budget new buckets start with.
#[derive(Debug, Default)]
pub struct RateLimits {
    buckets: HashMap<String, Bucket>,
    budget: Option<(u64, u64)>,
    secondary: Option<Secondary>,
}

fn default_limit(id: &Identity) -> u64 {
    match id {
        Identity::Anonymous => 60,
        _ => 5000,
    }
}

impl RateLimits {
    /// The caller's bucket, starting a new window when the old one has passed.
    pub fn bucket(&mut self, id: &Identity) -> &mut Bucket {
        let now = chrono::Utc::now().timestamp();
        let budget = self.budget;
        let b = self.buckets.entry(id.bucket()).or_insert_with(|| {
            let (limit, remaining) = budget.unwrap_or((default_limit(id), default_limit(id)));
            Bucket {
                limit,
                used: limit - remaining.min(limit),
                reset: now + 3600,
            }
        });
        if b.reset <= now {
            b.used = 0;
            b.reset = now + 3600;
        }
        b
    }

    /// Sets every bucket (existing and future) to `limit` with `remaining` left.
    pub fn set_budget(&mut self, limit: u64, remaining: u64) {
        self.budget = Some((limit, remaining));
        for b in self.buckets.values_mut() {
            b.limit = limit;
            b.used = limit - remaining.min(limit);
        }
    }

    /// The next `hits` requests trip a secondary limit (`status` 403 or 429).
    pub fn trigger_secondary(&mut self, hits: usize, status: u16, retry_after: u64) {
        self.secondary = Some(Secondary {
            hits,
            status,
            retry_after,
        });
    }

    /// Checks both limits before a request is served.
    pub fn check(&mut self, id: &Identity) -> Result<(), GhError> {
        if let Some(s) = self.secondary.as_mut()
            && s.hits > 0
        {
            s.hits -= 1;
            let (status, retry) = (s.status, s.retry_after);
            return Err(GhError::new(
                status,
                "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID 0000:0000:0000000:0000000:00000000.",
            )
            .with_docs("https://docs.github.com/free-pro-team@latest/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits")
            .with_header("retry-after", retry.to_string()));
        }
        let b = *self.bucket(id);
        if b.remaining() == 0 {
            let message = match id {
                Identity::Installation(i) => format!("API rate limit exceeded for installation ID {i}."),
                Identity::User(l) => format!("API rate limit exceeded for user {l}."),
                Identity::App => "API rate limit exceeded for the app.".to_string(),
                Identity::Anonymous => "API rate limit exceeded for 127.0.0.1. (But here's the good news: Authenticated requests get a higher rate limit. Check out the documentation for more details.)".to_string(),
            };
            let mut e = GhError::new(403, message).with_docs(RATE_DOCS);
            e.headers = headers(&b);
            return Err(e);
        }
        Ok(())
    }
}

/// The `X-RateLimit-*` headers for a bucket.
pub fn headers(b: &Bucket) -> Vec<(String, String)> {
    vec![
        ("x-ratelimit-limit".into(), b.limit.to_string()),
        ("x-ratelimit-remaining".into(), b.remaining().to_string()),
        ("x-ratelimit-used".into(), b.used.to_string()),
        ("x-ratelimit-reset".into(), b.reset.to_string()),
        ("x-ratelimit-resource".into(), "core".into()),
    ]
}
