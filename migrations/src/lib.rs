//! Catalyst Preview's database schema as SeaORM migrations.
//!
//! The schema is identical on SQLite and PostgreSQL: only portable column types are used
//! (text, integers, booleans, timestamps with time zone, blobs); JSON values are stored as
//! text so both backends compare and return them the same way. Ids are UUID strings.
//! The server runs these migrations at start-up (`catalyst serve`) and on `catalyst migrate`.

pub use sea_orm_migration::prelude::*;

mod m20261127_000001_create_projects_and_repositories;
mod m20261127_000002_create_pull_requests;
mod m20261127_000003_create_environments_and_deployments;
mod m20261127_000004_create_webhook_deliveries;
mod m20261127_000005_create_api_tokens;
mod m20261127_000006_create_users_and_sessions;
mod m20261127_000007_create_environment_engine_state;
mod m20261127_000010_create_installation_tokens;
mod m20261127_000011_create_github_sync_state;
mod m20261127_000020_dashboard;
mod m20261127_000030_pull_request_configs_and_retries;
mod m20261127_000031_create_work_leases;
mod m20261127_000032_index_unfinished_work;
mod m20261127_000033_index_pull_request_changes;
mod m20261128_000034_index_publishing_changes;
mod m20261129_000035_pull_request_opened_by_webhook;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261127_000001_create_projects_and_repositories::Migration),
            Box::new(m20261127_000002_create_pull_requests::Migration),
            Box::new(m20261127_000003_create_environments_and_deployments::Migration),
            Box::new(m20261127_000004_create_webhook_deliveries::Migration),
            Box::new(m20261127_000005_create_api_tokens::Migration),
            Box::new(m20261127_000006_create_users_and_sessions::Migration),
            Box::new(m20261127_000007_create_environment_engine_state::Migration),
            Box::new(m20261127_000010_create_installation_tokens::Migration),
            Box::new(m20261127_000011_create_github_sync_state::Migration),
            Box::new(m20261127_000020_dashboard::Migration),
            Box::new(m20261127_000030_pull_request_configs_and_retries::Migration),
            Box::new(m20261127_000031_create_work_leases::Migration),
            Box::new(m20261127_000032_index_unfinished_work::Migration),
            Box::new(m20261127_000033_index_pull_request_changes::Migration),
            Box::new(m20261128_000034_index_publishing_changes::Migration),
            Box::new(m20261129_000035_pull_request_opened_by_webhook::Migration),
        ]
    }
}
