//! Fuzzes the webhook entrance as `POST /webhooks/github` runs it: the signature check
//! over the raw bytes, then the translation of the body into a domain event.
//!
//! Input layout: the first byte picks the `X-GitHub-Event` name, the rest is the body.
//! Invariants: nothing panics; a body signed with the secret verifies; an arbitrary
//! header only verifies when it is that very signature; parsing is deterministic.

#![no_main]

use catalyst_server::core::signature;
use catalyst_server::core::webhook_event;
use libfuzzer_sys::fuzz_target;

/// Event names GitHub sends to the app, plus ones Catalyst ignores and a junk one.
const EVENTS: &[&str] = &[
    "pull_request",
    "ping",
    "push",
    "installation",
    "installation_repositories",
    "issue_comment",
    "check_run",
    "",
];

const SECRET: &[u8] = b"fuzz-webhook-secret";

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let event = EVENTS[usize::from(selector) % EVENTS.len()];

    let good = signature::sign(SECRET, body);
    assert!(signature::verify(SECRET, body, Some(&good), false).is_ok());
    // The body's first line as a forged header: refused unless it is the signature.
    let forged = body
        .split(|b| *b == b'\n')
        .next()
        .and_then(|line| std::str::from_utf8(line).ok())
        .unwrap_or("");
    if signature::verify(SECRET, body, Some(forged), body.len() % 2 == 0).is_ok() {
        assert_eq!(forged.trim().to_ascii_lowercase(), good);
    }

    let first = webhook_event::parse(event, body);
    let second = webhook_event::parse(event, body);
    match (&first, &second) {
        (Ok(a), Ok(b)) => assert_eq!(a, b),
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
        _ => panic!("parse is not deterministic"),
    }
    // Errors end up in logs and in the answer to GitHub: formatting must not panic.
    let _ = format!("{first:?}");
});
