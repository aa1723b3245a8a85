//! Pull requests as *desired state*, written by webhooks and (later) the periodic GitHub
//! sync. Pull requests of unconfigured repositories are recorded too (`configured = false`)
//! so that a "configuration missing" comment can be posted for them.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("pull_requests")
                    .col(string("id").primary_key())
                    .col(string("repository_full_name"))
                    .col(string("repository_key"))
                    .col(string_null("repository_id"))
                    .col(big_integer("number"))
                    .col(text("title"))
                    .col(string("head_sha"))
                    .col(string("head_ref"))
                    .col(string("base_ref"))
                    .col(string("author"))
                    .col(boolean("is_fork"))
                    .col(boolean("draft"))
                    // JSON array of label names, as text.
                    .col(text("labels"))
                    .col(string("state"))
                    .col(boolean("merged"))
                    // GitHub's `updated_at`: guards against out-of-order deliveries.
                    .col(timestamp_with_time_zone("github_updated_at"))
                    .col(big_integer_null("installation_id"))
                    .col(boolean("configured"))
                    .col(timestamp_with_time_zone_null("config_missing_notified_at"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_pull_requests_repository")
                            .from("pull_requests", "repository_id")
                            .to("repositories", "id")
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_pull_requests_repository_number")
                    .table("pull_requests")
                    .col("repository_key")
                    .col("number")
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("pull_requests").to_owned())
            .await
    }
}
