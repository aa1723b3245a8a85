//! Integration tests over real HTTP: the server runs in-process on 127.0.0.1:0 and is
//! driven with reqwest. Every test runs once against SQLite and once against the
//! PostgreSQL at 127.0.0.1:5432 (a fresh schema per test; `CATALYST_TEST_POSTGRES_URL`
//! overrides the URL). One binary keeps link time down.

mod support;
#[path = "../common/test_db.rs"]
mod test_db;

mod api;
mod api_v1;
mod dashboard;
mod health;
mod refusals;
mod tokens;
mod webhooks;
