//! Every accepted GitHub delivery, keyed by `X-GitHub-Delivery` so a redelivery is
//! recognised and processed only once.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("webhook_deliveries")
                    .col(string("id").primary_key())
                    .col(string_uniq("delivery_id"))
                    .col(string("event"))
                    .col(string_null("action"))
                    .col(string_null("repository"))
                    .col(big_integer_null("pr_number"))
                    .col(timestamp_with_time_zone("received_at"))
                    .col(string("outcome"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("webhook_deliveries").to_owned())
            .await
    }
}
