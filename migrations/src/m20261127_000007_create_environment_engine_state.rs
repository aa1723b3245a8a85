//! The engine's bookkeeping beside each preview environment: when its namespace
//! deletion was first requested (for the "deletion stuck" deadline) and its place in the
//! capacity queue. Kept in its own table so the environment rows stay as the intake
//! writes them; plus a unique (environment, attempt) index so a deployment attempt can
//! never be recorded twice, whatever restarts or races happen.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("environment_engine_states")
                    .col(string("environment_id").primary_key())
                    .col(integer_null("queue_position"))
                    .col(timestamp_with_time_zone_null("deletion_requested_at"))
                    .col(timestamp_with_time_zone_null("failure_notified_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_environment_engine_states_environment")
                            .from("environment_engine_states", "environment_id")
                            .to("preview_environments", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_deployments_environment_attempt")
                    .table("deployments")
                    .col("environment_id")
                    .col("attempt")
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ux_deployments_environment_attempt")
                    .table("deployments")
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table("environment_engine_states").to_owned())
            .await
    }
}
