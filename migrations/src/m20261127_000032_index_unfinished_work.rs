//! Indexes for the questions the engine asks on every admission and publishing pass:
//! which attempts are still going (`deployments.phase`), which environments are still
//! live (`preview_environments.status`) and which open pull requests of unconfigured
//! repositories still lack their "configuration missing" comment. Without them each question reads the whole
//! history of attempts, which grows with every push ever deployed (the sustained-load
//! run of BENCHMARKS.md made thousands of attempts in ten minutes).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEXES: [(&str, &str, &[&str]); 3] = [
    ("ix_deployments_phase", "deployments", &["phase"]),
    (
        "ix_preview_environments_status",
        "preview_environments",
        &["status"],
    ),
    (
        "ix_pull_requests_config_missing",
        "pull_requests",
        &["configured", "state", "config_missing_notified_at"],
    ),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, table, columns) in INDEXES {
            let mut index = Index::create();
            index.name(name).table(table);
            for column in columns {
                index.col(*column);
            }
            manager.create_index(index.to_owned()).await?;
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
