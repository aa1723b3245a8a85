//! Dashboard pages, one module each, plus the pieces they share.

mod common;
mod environment;
mod environment_create;
mod environments;
mod logs;
mod not_found;
mod repositories;
mod session;

pub use environment::{EnvironmentPage, delete_environment, get_environment, redeploy_environment};
pub use environment_create::create_environment;
pub use environments::{EnvironmentsPage, get_overview, list_environments};
pub use logs::{LogBuffer, MAX_LINES};
pub use not_found::NotFound;
pub use repositories::{
    RepositoriesPage, configure_repository, delete_repository, list_repositories,
};
pub use session::{SessionResource, UserMenu, current_session};
