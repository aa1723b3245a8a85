//! SeaORM entities, one per table of the `migration` crate.

pub mod api_token;
pub mod deployment;
pub mod preview_environment;
pub mod project;
pub mod pull_request;
pub mod repository;
pub mod session;
pub mod user;
pub mod webhook_delivery;
