//! What Catalyst last wrote to GitHub per pull request (the sticky comment's id, a
//! fingerprint of the state it showed, the current attempt's GitHub deployment), so the
//! publishing loop only writes changes and a restart edits the same comment and
//! deployment; and per repository the `ETag` of the open-PR list the sweep asks
//! conditionally.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("pull_request_publications")
                    .col(string("pull_request_id").primary_key())
                    .col(big_integer_null("comment_id"))
                    .col(string_null("fingerprint"))
                    .col(string_null("deployment_attempt"))
                    .col(big_integer_null("github_deployment_id"))
                    .col(string_null("deployment_state"))
                    .col(timestamp_with_time_zone_null("published_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_pull_request_publications_pull_request")
                            .from("pull_request_publications", "pull_request_id")
                            .to("pull_requests", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("repository_sweeps")
                    .col(string("repository_id").primary_key())
                    .col(text_null("open_pulls_etag"))
                    .col(timestamp_with_time_zone_null("swept_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_repository_sweeps_repository")
                            .from("repository_sweeps", "repository_id")
                            .to("repositories", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("repository_sweeps").to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table("pull_request_publications").to_owned())
            .await
    }
}
