//! The `catalyst` command line: `serve` (default), `migrate`, `token create`, `token
//! revoke`. The token functions are public so tests exercise exactly what the CLI runs.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::config::Config;
use crate::core::domain::Role;
use crate::store::Db;
use crate::store::tokens;
use crate::{Error, open_database, run};

#[derive(Debug, Parser)]
#[command(
    name = "catalyst",
    version,
    about = "Preview environments for GitHub pull requests"
)]
pub struct Cli {
    /// TOML configuration file; CATALYST_* environment variables override it.
    #[arg(long, global = true, env = "CATALYST_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it once (only its hash is stored).
    Create {
        #[arg(long)]
        name: String,
        #[arg(long, value_enum, default_value_t = RoleArg::Operator)]
        role: RoleArg,
    },
    /// Revoke the token with this name.
    Revoke { name: String },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum RoleArg {
    Operator,
    Viewer,
}

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Self {
        match r {
            RoleArg::Operator => Role::Operator,
            RoleArg::Viewer => Role::Viewer,
        }
    }
}

/// `catalyst token create`: the new token's plain text.
pub async fn create_token(db: &Db, name: &str, role: Role) -> Result<String, Error> {
    Ok(tokens::create(db, name, role).await?)
}

/// `catalyst token revoke`.
pub async fn revoke_token(db: &Db, name: &str) -> Result<(), Error> {
    Ok(tokens::revoke(db, name).await?)
}

/// Runs a parsed command line.
pub async fn execute(cli: Cli) -> Result<(), Error> {
    let config = Config::load(cli.config.as_deref())?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => run(config).await,
        Command::Migrate => {
            open_database(&config).await?;
            tracing::info!("database schema is up to date");
            Ok(())
        }
        Command::Token(TokenCommand::Create { name, role }) => {
            let db = open_database(&config).await?;
            let token = create_token(&db, &name, role.into()).await?;
            // The only time the token is shown; stdout so it can be captured.
            println!("{token}");
            eprintln!("Token {name:?} created; store it now, it cannot be shown again.");
            Ok(())
        }
        Command::Token(TokenCommand::Revoke { name }) => {
            let db = open_database(&config).await?;
            revoke_token(&db, &name).await?;
            eprintln!("Token {name:?} revoked.");
            Ok(())
        }
    }
}
