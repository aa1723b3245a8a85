//! The slice of the service layer the dashboard needs (server side only). `server/`
//! implements it and hands it to Leptos with `provide_context`, so this crate never
//! depends on the server crate and the pages share the service layer with the JSON API.

use std::sync::Arc;

use crate::error::AppError;
use crate::model::EnvironmentList;

#[async_trait::async_trait]
pub trait DashboardService: Send + Sync + 'static {
    /// Every environment of every configured repository, newest first.
    async fn list_environments(&self) -> Result<EnvironmentList, AppError>;
}

/// What server functions find in the Leptos context.
pub type SharedDashboard = Arc<dyn DashboardService>;

/// Fetches the service from the Leptos context of the current request.
pub fn dashboard() -> Result<SharedDashboard, AppError> {
    leptos::prelude::use_context::<SharedDashboard>()
        .ok_or_else(|| AppError::Unavailable("dashboard service not configured".into()))
}
