//! What GitHub's answers say about rate limits: the `x-ratelimit-*` and `retry-after`
//! headers as a struct, and the classification of a failed call the way GitHub's REST
//! documentation ("Rate limits for the REST API") prescribes. The circuit breaker in
//! [`super::breaker`] acts on the classification.
//!
//! GitHub's rules, in the order they are applied here:
//! - `403`/`429` with `x-ratelimit-remaining: 0`: the primary budget is spent; nothing
//!   helps before `x-ratelimit-reset` (epoch seconds).
//! - `403`/`429` with `retry-after`: a secondary limit; wait that many seconds.
//! - `403`/`429` whose message mentions a secondary rate limit (or the older "abuse
//!   detection"), or any `429`: a secondary limit without a header; wait at least a
//!   minute.
//! - `5xx` and `408`: transient. Everything else (`401`, `403` without rate-limit
//!   signs, `404`, `409`, `422`, …) is permanent: the same request will fail again.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

/// How long to wait after a secondary rate limit that came without `retry-after`
/// (GitHub: "wait for at least one minute").
pub const SECONDARY_LIMIT_DEFAULT_WAIT: Duration = Duration::from_secs(60);

/// The `retry-after` header: GitHub sends seconds; HTTP also allows a date.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryAfter {
    Delay(Duration),
    At(DateTime<Utc>),
}

impl RetryAfter {
    /// The instant from which a retry is allowed.
    pub fn resolve(self, now: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            Self::Delay(delay) => add(now, delay),
            Self::At(at) => at.max(now),
        }
    }

    fn parse(value: &str) -> Option<Self> {
        if let Ok(secs) = value.parse::<u64>() {
            return Some(Self::Delay(Duration::from_secs(secs)));
        }
        // IMF-fixdate ("Wed, 21 Oct 2015 07:28:00 GMT") is a subset of RFC 2822.
        DateTime::parse_from_rfc2822(value)
            .ok()
            .map(|at| Self::At(at.with_timezone(&Utc)))
    }
}

/// The rate-limit headers of one GitHub response. Missing or malformed headers are
/// `None`: a proxy or a test double may leave any of them out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RateLimitInfo {
    pub limit: Option<u64>,
    pub remaining: Option<u64>,
    pub used: Option<u64>,
    pub reset: Option<DateTime<Utc>>,
    /// The budget the call counted against (`core`, `search`, `graphql`, …).
    pub resource: Option<String>,
    pub retry_after: Option<RetryAfter>,
}

impl RateLimitInfo {
    /// Reads the headers from `(name, value)` pairs; names match case-insensitively.
    pub fn from_headers<I, K, V>(headers: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut info = Self::default();
        for (name, value) in headers {
            let value = value.as_ref().trim();
            let number = || value.parse::<u64>().ok();
            match name.as_ref().to_ascii_lowercase().as_str() {
                "x-ratelimit-limit" => info.limit = number(),
                "x-ratelimit-remaining" => info.remaining = number(),
                "x-ratelimit-used" => info.used = number(),
                "x-ratelimit-reset" => {
                    info.reset = value
                        .parse::<i64>()
                        .ok()
                        .and_then(|secs| DateTime::from_timestamp(secs, 0));
                }
                "x-ratelimit-resource" if !value.is_empty() => {
                    info.resource = Some(value.to_owned());
                }
                "retry-after" => info.retry_after = RetryAfter::parse(value),
                _ => {}
            }
        }
        info
    }

    /// Convenience for an `http` response; values that are not visible ASCII are
    /// skipped.
    pub fn from_header_map(headers: &::http::HeaderMap) -> Self {
        Self::from_headers(
            headers
                .iter()
                .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?))),
        )
    }

    /// The primary budget is spent (the next call would be refused until `reset`).
    pub fn is_exhausted(&self) -> bool {
        self.remaining == Some(0)
    }
}

/// Why a GitHub call failed, as far as retrying is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GithubFailure {
    /// The installation's hourly budget is spent until `reset`.
    PrimaryRateLimited { reset: DateTime<Utc> },
    /// Too many requests too fast (or too many concurrent ones).
    SecondaryRateLimited { retry_after: RetryAfter },
    /// GitHub or the network hiccuped; the same request may succeed later.
    Transient,
    /// The request itself is wrong or not allowed; retrying will not help.
    Permanent,
}

impl GithubFailure {
    /// When the same request may be tried again; `None` if it should not be. For a
    /// transient failure the caller's own backoff decides, so this is `now`.
    pub fn retry_at(self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Self::PrimaryRateLimited { reset } => Some(reset.max(now)),
            Self::SecondaryRateLimited { retry_after } => Some(retry_after.resolve(now)),
            Self::Transient => Some(now),
            Self::Permanent => None,
        }
    }

    pub const fn is_rate_limit(self) -> bool {
        matches!(
            self,
            Self::PrimaryRateLimited { .. } | Self::SecondaryRateLimited { .. }
        )
    }

    /// A stable label for metrics and logs.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::PrimaryRateLimited { .. } => "primary_rate_limited",
            Self::SecondaryRateLimited { .. } => "secondary_rate_limited",
            Self::Transient => "transient",
            Self::Permanent => "permanent",
        }
    }
}

/// Classifies a GitHub response. `None` for a success (below 400, including `304 Not
/// Modified` of conditional requests). `body_message` is the JSON body's `message`
/// (or the raw body); it is only searched for rate-limit wording. A call that got no
/// response at all (connection reset, timeout) is [`GithubFailure::Transient`].
pub fn classify(status: u16, info: &RateLimitInfo, body_message: &str) -> Option<GithubFailure> {
    if status < 400 {
        return None;
    }
    if status == 403 || status == 429 {
        if let (true, Some(reset)) = (info.is_exhausted(), info.reset) {
            return Some(GithubFailure::PrimaryRateLimited { reset });
        }
        if let Some(retry_after) = info.retry_after {
            return Some(GithubFailure::SecondaryRateLimited { retry_after });
        }
        let message = body_message.to_ascii_lowercase();
        // "API rate limit exceeded" without headers (a stripping proxy) is treated the
        // same way: a minute's pause is the safe guess.
        let says_rate_limit = message.contains("rate limit") || message.contains("abuse detection");
        if says_rate_limit || status == 429 {
            return Some(GithubFailure::SecondaryRateLimited {
                retry_after: RetryAfter::Delay(SECONDARY_LIMIT_DEFAULT_WAIT),
            });
        }
        return Some(GithubFailure::Permanent);
    }
    if status == 408 || status >= 500 {
        return Some(GithubFailure::Transient);
    }
    Some(GithubFailure::Permanent)
}

/// `now + delay`, saturating at the end of time instead of panicking.
pub(crate) fn add(now: DateTime<Utc>, delay: Duration) -> DateTime<Utc> {
    TimeDelta::from_std(delay)
        .ok()
        .and_then(|delta| now.checked_add_signed(delta))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, h, m, s).unwrap()
    }

    fn info(headers: &[(&str, &str)]) -> RateLimitInfo {
        RateLimitInfo::from_headers(headers.iter().copied())
    }

    #[test]
    fn headers_are_parsed_case_insensitively() {
        let reset = at(15, 0, 0);
        let reset_secs = reset.timestamp().to_string();
        let parsed = info(&[
            ("X-RateLimit-Limit", "5000"),
            ("x-ratelimit-remaining", " 4999 "),
            ("X-RATELIMIT-USED", "1"),
            ("x-ratelimit-reset", reset_secs.as_str()),
            ("x-ratelimit-resource", "core"),
            ("content-type", "application/json"),
        ]);
        assert_eq!(
            parsed,
            RateLimitInfo {
                limit: Some(5000),
                remaining: Some(4999),
                used: Some(1),
                reset: Some(reset),
                resource: Some("core".into()),
                retry_after: None,
            }
        );
        assert!(!parsed.is_exhausted());
    }

    #[test]
    fn malformed_headers_are_ignored() {
        let parsed = info(&[
            ("x-ratelimit-remaining", "-1"),
            ("x-ratelimit-reset", "soon"),
            ("retry-after", "later"),
            ("x-ratelimit-resource", ""),
        ]);
        assert_eq!(parsed, RateLimitInfo::default());
    }

    #[test]
    fn retry_after_accepts_seconds_and_http_dates() {
        let secs = info(&[("Retry-After", "30")]).retry_after;
        assert_eq!(secs, Some(RetryAfter::Delay(Duration::from_secs(30))));
        let date = info(&[("retry-after", "Fri, 27 Nov 2026 14:05:00 GMT")]).retry_after;
        assert_eq!(date, Some(RetryAfter::At(at(14, 5, 0))));
        assert_eq!(secs.unwrap().resolve(at(14, 0, 0)), at(14, 0, 30));
        // A date in the past means "now".
        assert_eq!(date.unwrap().resolve(at(14, 10, 0)), at(14, 10, 0));
    }

    #[test]
    fn header_maps_from_the_http_crate_are_read() {
        let mut map = ::http::HeaderMap::new();
        map.insert(
            "x-ratelimit-remaining",
            ::http::HeaderValue::from_static("0"),
        );
        map.insert("retry-after", ::http::HeaderValue::from_static("5"));
        let parsed = RateLimitInfo::from_header_map(&map);
        assert!(parsed.is_exhausted());
        assert_eq!(
            parsed.retry_after,
            Some(RetryAfter::Delay(Duration::from_secs(5)))
        );
    }

    #[test]
    fn successes_are_not_failures() {
        for status in [200, 201, 204, 304] {
            assert_eq!(classify(status, &RateLimitInfo::default(), ""), None);
        }
    }

    #[test]
    fn an_empty_budget_is_a_primary_limit_until_reset() {
        let reset = at(15, 0, 0).timestamp().to_string();
        for status in [403, 429] {
            let headers = [
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", reset.as_str()),
            ];
            let got = classify(status, &info(&headers), "API rate limit exceeded");
            assert_eq!(
                got,
                Some(GithubFailure::PrimaryRateLimited {
                    reset: at(15, 0, 0)
                })
            );
        }
    }

    #[test]
    fn retry_after_or_wording_means_a_secondary_limit() {
        let thirty = RetryAfter::Delay(Duration::from_secs(30));
        let minute = RetryAfter::Delay(SECONDARY_LIMIT_DEFAULT_WAIT);
        let cases = [
            (
                403,
                info(&[("retry-after", "30"), ("x-ratelimit-remaining", "12")]),
                "",
                thirty,
            ),
            (429, info(&[("retry-after", "30")]), "", thirty),
            (
                403,
                RateLimitInfo::default(),
                "You have exceeded a secondary rate limit. Please wait a few minutes.",
                minute,
            ),
            (
                403,
                RateLimitInfo::default(),
                "You have triggered an abuse detection mechanism",
                minute,
            ),
            (429, RateLimitInfo::default(), "", minute),
        ];
        for (status, info, message, retry_after) in cases {
            assert_eq!(
                classify(status, &info, message),
                Some(GithubFailure::SecondaryRateLimited { retry_after }),
                "{status} {message:?}"
            );
        }
    }

    #[test]
    fn server_errors_are_transient_and_client_errors_permanent() {
        let none = RateLimitInfo::default();
        for status in [500, 502, 503, 504, 408] {
            assert_eq!(
                classify(status, &none, ""),
                Some(GithubFailure::Transient),
                "{status}"
            );
        }
        for status in [400, 401, 404, 409, 410, 422] {
            assert_eq!(
                classify(status, &none, "Not Found"),
                Some(GithubFailure::Permanent)
            );
        }
        // A plain permission error is not a rate limit, even with budget headers.
        let budget = info(&[("x-ratelimit-remaining", "4000")]);
        let got = classify(403, &budget, "Resource not accessible by integration");
        assert_eq!(got, Some(GithubFailure::Permanent));
    }

    #[test]
    fn failures_say_when_to_try_again() {
        let now = at(14, 0, 0);
        let primary = GithubFailure::PrimaryRateLimited {
            reset: at(14, 30, 0),
        };
        assert_eq!(primary.retry_at(now), Some(at(14, 30, 0)));
        assert_eq!(GithubFailure::Permanent.retry_at(now), None);
        assert_eq!(GithubFailure::Transient.retry_at(now), Some(now));
        assert!(primary.is_rate_limit() && !GithubFailure::Transient.is_rate_limit());
        assert_eq!(add(now, Duration::MAX), DateTime::<Utc>::MAX_UTC);
    }
}
