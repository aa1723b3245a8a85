//! The slice of the service layer the dashboard needs (server side only). `server/`
//! implements it and hands it to Leptos with `provide_context`, so this crate never
//! depends on the server crate and the pages share the service layer with the JSON API.
//! Methods are named after the actions the JSON API and MCP expose as well.

use std::sync::Arc;

use crate::auth::SignedIn;
use crate::dto::{EnvironmentDetail, EnvironmentsOverview, RepositoryEntry, RepositoryForm};
use crate::error::AppError;
use crate::model::EnvironmentList;

#[async_trait::async_trait]
pub trait DashboardService: Send + Sync + 'static {
    /// Every environment of every configured repository, newest first.
    async fn list_environments(&self) -> Result<EnvironmentList, AppError>;

    /// The environments page: rows with usage gauges, totals, cluster state.
    async fn environments_overview(&self) -> Result<EnvironmentsOverview, AppError>;

    /// One environment with deployments and pods; `can_manage` is computed for `actor`.
    async fn get_environment(
        &self,
        actor: Option<&SignedIn>,
        id: &str,
    ) -> Result<EnvironmentDetail, AppError>;

    /// Asks the engine for a new deployment attempt (authorised for `actor`).
    async fn redeploy_environment(&self, actor: &SignedIn, id: &str) -> Result<(), AppError>;

    /// Marks the environment not wanted; the engine deletes its namespace.
    async fn delete_environment(&self, actor: &SignedIn, id: &str) -> Result<(), AppError>;

    async fn list_repositories(&self) -> Result<Vec<RepositoryEntry>, AppError>;

    /// Creates or updates a repository's preview settings (operators only).
    async fn configure_repository(
        &self,
        actor: &SignedIn,
        form: RepositoryForm,
    ) -> Result<RepositoryEntry, AppError>;

    /// `create_environment`: the environment of a known open pull request is wanted
    /// (operators, or push access to `repository`). Answers the environment's id.
    async fn create_environment(
        &self,
        actor: &SignedIn,
        repository: &str,
        pr_number: u64,
    ) -> Result<String, AppError>;

    /// `delete_repository`: forgets a repository's configuration once it has no
    /// environments left (operators only).
    async fn delete_repository(&self, actor: &SignedIn, full_name: &str) -> Result<(), AppError>;

    /// Whether a GitHub OAuth app is configured; without one reading is open and
    /// nothing can be changed from the dashboard.
    fn sign_in_enabled(&self) -> bool;
}

/// What server functions find in the Leptos context.
pub type SharedDashboard = Arc<dyn DashboardService>;

/// Fetches the service from the Leptos context of the current request.
pub fn dashboard() -> Result<SharedDashboard, AppError> {
    leptos::prelude::use_context::<SharedDashboard>()
        .ok_or_else(|| AppError::Unavailable("dashboard service not configured".into()))
}
