//! Work leases: which replica may work on what, and until when. One row per leased
//! name (an environment id, or a shared name such as the admission lock); a replica
//! that stops renewing its row loses it once `expires_at` has passed, so another
//! replica can take the work over.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("work_leases")
                    .col(string("name").primary_key())
                    .col(string_null("holder"))
                    .col(timestamp_with_time_zone("expires_at"))
                    .col(timestamp_with_time_zone_null("acquired_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_work_leases_holder")
                    .table("work_leases")
                    .col("holder")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("work_leases").to_owned())
            .await
    }
}
