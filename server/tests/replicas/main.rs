//! Catalyst as an operator runs it: several real `catalyst` processes on one PostgreSQL
//! database against the testkit's doubles, with replicas killed and dependencies cut.
//! PostgreSQL at 127.0.0.1:5432 is needed (`CATALYST_TEST_POSTGRES_URL` overrides the
//! server; each test creates and drops its own database). One binary keeps link time
//! down.

mod support;

mod failover;
mod faults;
mod leadership;
