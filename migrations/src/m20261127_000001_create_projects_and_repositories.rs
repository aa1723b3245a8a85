//! Projects group repositories; a repository row is a *configured* repository and holds its
//! preview configuration (chart, values, image, health path, quota, secrets, policies).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("projects")
                    .col(string("id").primary_key())
                    .col(string_uniq("name"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("repositories")
                    .col(string("id").primary_key())
                    .col(string("project_id"))
                    // As GitHub spells it, for display and API calls.
                    .col(string("full_name"))
                    // Lowercased: GitHub names are case-insensitive, lookups use this.
                    .col(string_uniq("full_name_key"))
                    // Decided once when the repository is configured, so namespaces of
                    // existing environments never change when another repository arrives.
                    .col(string_uniq("namespace_slug"))
                    .col(string_null("chart_repo"))
                    .col(string_null("chart_path"))
                    .col(string_null("chart_version"))
                    .col(text_null("values_yaml"))
                    // JSON array of paths, as text.
                    .col(text("values_files"))
                    .col(string_null("build_dockerfile"))
                    .col(string_null("build_context"))
                    .col(string_null("image_pattern"))
                    .col(string("health_path"))
                    .col(string_null("quota_cpu"))
                    .col(string_null("quota_memory"))
                    .col(integer_null("quota_pods"))
                    // JSON array of secret names, as text.
                    .col(text("secrets"))
                    .col(string_null("secret_store_namespace"))
                    .col(string_null("required_label"))
                    .col(boolean("deploy_drafts"))
                    .col(string_null("fork_opt_in_label"))
                    .col(big_integer_null("installation_id"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_repositories_project")
                            .from("repositories", "project_id")
                            .to("projects", "id"),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("repositories").to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table("projects").to_owned())
            .await
    }
}
