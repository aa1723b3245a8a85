//! Indexes for the publisher's question on every wake: which environments' comments
//! may have changed since its last pass. Each input of a comment has its own change
//! time (`deployments.updated_at`, `environment_engine_states.updated_at`,
//! `pull_request_publications.updated_at`, `pull_request_configs.fetched_at`,
//! `preview_environments.updated_at`, `repositories.updated_at`); without an index each
//! wake would read the whole history of attempts to find the few that moved.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEXES: [(&str, &str, &str); 6] = [
    ("ix_deployments_updated_at", "deployments", "updated_at"),
    (
        "ix_environment_engine_states_updated_at",
        "environment_engine_states",
        "updated_at",
    ),
    (
        "ix_pull_request_publications_updated_at",
        "pull_request_publications",
        "updated_at",
    ),
    (
        "ix_pull_request_configs_fetched_at",
        "pull_request_configs",
        "fetched_at",
    ),
    (
        "ix_preview_environments_updated_at",
        "preview_environments",
        "updated_at",
    ),
    ("ix_repositories_updated_at", "repositories", "updated_at"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, table, column) in INDEXES {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(table)
                        .col(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, table, _) in INDEXES {
            manager
                .drop_index(Index::drop().name(name).table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
