//! What people ask for in the dashboard (and later the JSON API and MCP): a manual
//! redeploy and the deletion of an environment. Recorded beside the environment so the
//! engine can honour them level-triggered: a redeploy request newer than the latest
//! attempt wants a new attempt; a delete request makes the environment not wanted.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("environment_requests")
                    .col(string("environment_id").primary_key())
                    .col(timestamp_with_time_zone_null("redeploy_requested_at"))
                    .col(string_null("redeploy_requested_by"))
                    .col(timestamp_with_time_zone_null("delete_requested_at"))
                    .col(string_null("delete_requested_by"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_environment_requests_environment")
                            .from("environment_requests", "environment_id")
                            .to("preview_environments", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("environment_requests").to_owned())
            .await
    }
}
