//! SeaORM entities, one per table of the `migration` crate.

pub mod api_token;
pub mod deployment;
pub mod installation_token;
pub mod preview_environment;
pub mod project;
pub mod pull_request;
pub mod pull_request_publication;
pub mod repository;
pub mod repository_sweep;
pub mod session;
pub mod user;
pub mod webhook_delivery;
