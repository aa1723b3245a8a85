//! Dashboard pages, one module each.

mod environments;
mod not_found;

pub use environments::{EnvironmentsPage, list_environments};
pub use not_found::NotFound;
