//! The stock sea-orm-migration command line (`up`, `down`, `status`, `fresh`, ...) for
//! developers; operators use `catalyst migrate`. Built only with the `cli` feature.

use sea_orm_migration::prelude::*;

#[tokio::main]
async fn main() {
    cli::run_cli(migration::Migrator).await;
}
