//! `.catalyst/preview.yaml` as read at a pull request's head SHA, and the retry the
//! engine has scheduled for a failed environment.
//!
//! The file is fetched once per SHA and kept, so every replica (and a restarted one)
//! deploys an attempt with the same configuration, and the comment can show a broken
//! file's problem without asking GitHub again. The retry columns let the comment say
//! when the next attempt is due ("retry 2 of 3 at 14:05 UTC").

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("pull_request_configs")
                    .col(string("pull_request_id").primary_key())
                    .col(string("head_sha"))
                    // `missing | found | invalid | unavailable`
                    .col(string("state"))
                    // The parsed file (found) or the problem (invalid), as JSON text.
                    .col(text_null("body"))
                    .col(timestamp_with_time_zone("fetched_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_pull_request_configs_pull_request")
                            .from("pull_request_configs", "pull_request_id")
                            .to("pull_requests", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        for column in [
            ColumnDef::new("retry_at")
                .timestamp_with_time_zone()
                .null()
                .to_owned(),
            ColumnDef::new("retry_number").integer().null().to_owned(),
            ColumnDef::new("retry_limit").integer().null().to_owned(),
        ] {
            // One column per statement: SQLite's ALTER TABLE adds one at a time.
            manager
                .alter_table(
                    Table::alter()
                        .table("environment_engine_states")
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in ["retry_at", "retry_number", "retry_limit"] {
            manager
                .alter_table(
                    Table::alter()
                        .table("environment_engine_states")
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .drop_table(Table::drop().table("pull_request_configs").to_owned())
            .await
    }
}
