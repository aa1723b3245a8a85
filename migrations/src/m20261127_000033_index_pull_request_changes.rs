//! An index for the engine's question on every wake: which pull requests changed since
//! its last pass (`pull_requests.updated_at`). Pull request rows stay after their PR
//! closes, so without it each wake reads every pull request Catalyst has ever seen.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const NAME: &str = "ix_pull_requests_updated_at";
const TABLE: &str = "pull_requests";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(NAME)
                    .table(TABLE)
                    .col("updated_at")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(Index::drop().name(NAME).table(TABLE).to_owned())
            .await
    }
}
