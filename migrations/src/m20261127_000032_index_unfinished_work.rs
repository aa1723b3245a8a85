//! Indexes for the questions the engine asks on every admission and publishing pass:
//! which attempts are still going (`deployments.phase`) and which environments are still
//! live (`preview_environments.status`). Without them each question reads the whole
//! history of attempts, which grows with every push ever deployed (the sustained-load
//! run of BENCHMARKS.md made thousands of attempts in ten minutes).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEXES: [(&str, &str, &str); 2] = [
    ("ix_deployments_phase", "deployments", "phase"),
    (
        "ix_preview_environments_status",
        "preview_environments",
        "status",
    ),
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
