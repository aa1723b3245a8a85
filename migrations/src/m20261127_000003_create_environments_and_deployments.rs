//! Preview environments (one per pull request of a configured repository) and their
//! deployment attempts with per-phase timestamps of the engine's state machine.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("preview_environments")
                    .col(string("id").primary_key())
                    .col(string("repository_id"))
                    .col(string_uniq("pull_request_id"))
                    .col(big_integer("pr_number"))
                    .col(string_uniq("namespace"))
                    .col(string_null("url"))
                    .col(string("status"))
                    .col(text_null("last_error"))
                    .col(boolean("deletion_stuck"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .col(timestamp_with_time_zone_null("ready_at"))
                    .col(timestamp_with_time_zone_null("deleted_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_preview_environments_repository")
                            .from("preview_environments", "repository_id")
                            .to("repositories", "id"),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_preview_environments_pull_request")
                            .from("preview_environments", "pull_request_id")
                            .to("pull_requests", "id"),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("deployments")
                    .col(string("id").primary_key())
                    .col(string("environment_id"))
                    .col(integer("attempt"))
                    .col(string("head_sha"))
                    .col(string("phase"))
                    .col(timestamp_with_time_zone("queued_at"))
                    .col(timestamp_with_time_zone_null("provisioning_at"))
                    .col(timestamp_with_time_zone_null("deploying_at"))
                    .col(timestamp_with_time_zone_null("verifying_at"))
                    .col(timestamp_with_time_zone_null("finished_at"))
                    .col(string_null("outcome"))
                    .col(text_null("error"))
                    .col(string_null("failed_check"))
                    .col(text_null("log_excerpt"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_deployments_environment")
                            .from("deployments", "environment_id")
                            .to("preview_environments", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_deployments_environment")
                    .table("deployments")
                    .col("environment_id")
                    .col("attempt")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("deployments").to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table("preview_environments").to_owned())
            .await
    }
}
