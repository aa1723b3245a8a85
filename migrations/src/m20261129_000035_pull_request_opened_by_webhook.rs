//! Whether Catalyst saw a pull request open: its row was created from GitHub's `opened`
//! webhook, not from a later event or the reconciliation sweep. Such a pull request
//! cannot carry an older Catalyst comment, so the publisher may create its first comment
//! without listing the pull request's comments first (one request fewer per new pull
//! request, on the path every first comment waits on). Rows already stored were not
//! necessarily seen opening: they all start `false`.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("pull_requests")
                    .add_column(
                        ColumnDef::new("opened_by_webhook")
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("pull_requests")
                    .drop_column("opened_by_webhook")
                    .to_owned(),
            )
            .await
    }
}
