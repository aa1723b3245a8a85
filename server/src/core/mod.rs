//! The pure core: domain newtypes, namespace naming, webhook signatures, the translation
//! of GitHub payloads into domain events, and the engine's pure decisions. No I/O and no
//! imports from the store or HTTP layers, so everything here is unit-tested directly.

pub mod backoff;
pub mod breaker;
pub mod comment;
pub mod deployment;
pub mod domain;
pub mod environment_status;
pub mod github_rate_limit;
pub mod markdown;
pub mod naming;
pub mod queue;
pub mod retry;
pub mod signature;
pub mod webhook_event;
