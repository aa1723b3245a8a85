//! The Catalyst Preview dashboard: the Leptos application shared by the server (SSR) and
//! the browser (hydration), plus the DTOs that cross between them.
//!
//! Server-only code sits behind the `ssr` feature; this crate must keep building for
//! `wasm32-unknown-unknown` with only `hydrate`.

pub mod auth;
pub mod dto;
pub mod error;
#[cfg(feature = "hydrate")]
mod live;
pub mod model;
pub mod pages;
#[cfg(feature = "ssr")]
pub mod service;
mod shell;

pub use shell::{App, shell};
