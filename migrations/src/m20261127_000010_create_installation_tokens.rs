//! GitHub App installation tokens, sealed with AES-256-GCM (`CATALYST_ENCRYPTION_KEY`), so a
//! restart reuses a token instead of minting a new one. Never stored in clear.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("installation_tokens")
                    .col(big_integer("installation_id").primary_key())
                    .col(text("sealed"))
                    .col(timestamp_with_time_zone("expires_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("installation_tokens").to_owned())
            .await
    }
}
