//! One environment's rows as the reconciler reads them before every step: the
//! environment, its pull request and repository, the engine's bookkeeping, what
//! operators asked for and the recorded `.catalyst/preview.yaml`, in one statement.
//!
//! A reconcile reads its world after every step, on the writer (see `store::Db`), and
//! every statement there waits behind every other reconcile's. Six single-row
//! `SELECT`s per read were most of the statements a new pull request costs; one
//! `LEFT JOIN` gives the same rows.

use std::sync::OnceLock;

use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query, SelectStatement};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, FromQueryResult, IdenStatic, Iterable,
    QueryResult, Statement,
};

use super::entities::{preview_environment, pull_request, repository};
use super::operator_requests::environment_request;
use super::pull_request_configs::pull_request_config;
use super::{Result, engine};

/// The single-row part of an environment's world (attempts are read on their own).
#[derive(Clone, Debug)]
pub struct EnvironmentRows {
    pub env: preview_environment::Model,
    pub pr: Option<pull_request::Model>,
    pub repo: Option<repository::Model>,
    /// `None` when the engine never stored any for it.
    pub state: Option<engine::engine_state::Model>,
    pub request: Option<environment_request::Model>,
    /// Keyed by pull request, whatever SHA it was read at.
    pub config: Option<pull_request_config::Model>,
}

const ENV: &str = "e_";
const PR: &str = "p_";
const REPO: &str = "r_";
const STATE: &str = "s_";
const REQUEST: &str = "q_";
const CONFIG: &str = "c_";

/// Selects every column of `E`, named `{prefix}{column}` (how [`FromQueryResult`]
/// reads a prefixed model).
fn select_all<E: EntityTrait>(q: &mut SelectStatement, prefix: &str) {
    for col in E::Column::iter() {
        q.expr_as(
            col.select_as(col.into_expr()),
            Alias::new(format!("{prefix}{}", col.as_str())),
        );
    }
}

/// The model of a left-joined table, `None` when no row matched (its key is NULL).
fn joined<M: FromQueryResult>(
    row: &QueryResult,
    prefix: &str,
    key: impl IdenStatic,
) -> Result<Option<M>> {
    let present: Option<String> = row.try_get(prefix, key.as_str())?;
    match present {
        Some(_) => Ok(Some(M::from_query_result(row, prefix)?)),
        None => Ok(None),
    }
}

/// Left-joins to a select from `preview_environments` the rows an environment points
/// at: its pull request, repository, engine state and recorded preview file (the
/// reconciler's world and the publisher's change stamps both read them).
pub(super) fn join_inputs(q: &mut SelectStatement) -> &mut SelectStatement {
    use engine::engine_state::{Column as S, Entity as StateE};
    use preview_environment::{Column as E, Entity as EnvE};
    use pull_request::{Column as P, Entity as PrE};
    use pull_request_config::{Column as C, Entity as CfgE};
    use repository::{Column as R, Entity as RepoE};

    q.left_join(
        PrE,
        Expr::col((PrE, P::Id)).equals((EnvE, E::PullRequestId)),
    )
    .left_join(
        RepoE,
        Expr::col((RepoE, R::Id)).equals((EnvE, E::RepositoryId)),
    )
    .left_join(
        StateE,
        Expr::col((StateE, S::EnvironmentId)).equals((EnvE, E::Id)),
    )
    .left_join(
        CfgE,
        Expr::col((CfgE, C::PullRequestId)).equals((EnvE, E::PullRequestId)),
    )
}

/// The select [`environment_rows`] runs, for the environment `id`.
fn rows_query(id: &str) -> SelectStatement {
    use environment_request::{Column as Rq, Entity as RqE};
    use preview_environment::{Column as E, Entity as EnvE};
    use pull_request::Entity as PrE;
    use pull_request_config::Entity as CfgE;
    use repository::Entity as RepoE;

    use engine::engine_state::Entity as StateE;

    let mut q = Query::select();
    select_all::<EnvE>(&mut q, ENV);
    select_all::<PrE>(&mut q, PR);
    select_all::<RepoE>(&mut q, REPO);
    select_all::<StateE>(&mut q, STATE);
    select_all::<RqE>(&mut q, REQUEST);
    select_all::<CfgE>(&mut q, CONFIG);
    q.from(EnvE);
    join_inputs(&mut q)
        .left_join(
            RqE,
            Expr::col((RqE, Rq::EnvironmentId)).equals((EnvE, E::Id)),
        )
        .and_where(Expr::col((EnvE, E::Id)).eq(id));
    q
}

/// [`rows_query`]'s SQL text for `backend`, rendered once: the id is its one bound value.
/// Building the hundred aliased columns, rendering and dropping them again on each of a
/// reconcile's reads (one per step, several per pull request) was about 6 % of the
/// samples of Catalyst's async threads in the 500-PR burst (BENCHMARKS.md).
fn rows_sql(backend: DbBackend) -> &'static str {
    static SQL: [OnceLock<String>; 3] = [OnceLock::new(), OnceLock::new(), OnceLock::new()];
    let slot = match backend {
        DbBackend::Sqlite => 0,
        DbBackend::Postgres => 1,
        _ => 2,
    };
    SQL[slot].get_or_init(|| backend.build(&rows_query("")).sql)
}

/// The environment `id` with everything it points at, or `None` when it is not stored.
pub async fn environment_rows(
    db: &impl ConnectionTrait,
    id: &str,
) -> Result<Option<EnvironmentRows>> {
    use environment_request::Column as Rq;
    use pull_request::Column as P;
    use pull_request_config::Column as C;
    use repository::Column as R;

    use engine::engine_state::Column as S;

    let backend = db.get_database_backend();
    let stmt = Statement::from_sql_and_values(backend, rows_sql(backend), [id.into()]);
    let Some(row) = db.query_one_raw(stmt).await? else {
        return Ok(None);
    };
    Ok(Some(EnvironmentRows {
        env: preview_environment::Model::from_query_result(&row, ENV)?,
        pr: joined(&row, PR, P::Id)?,
        repo: joined(&row, REPO, R::Id)?,
        state: joined(&row, STATE, S::EnvironmentId)?,
        request: joined(&row, REQUEST, Rq::EnvironmentId)?,
        config: joined(&row, CONFIG, C::PullRequestId)?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The text kept for each backend is what sea-query renders for any id, with the id
    /// as its only bound value: were a second value ever added to the query, binding the
    /// id alone would fail every read, and this fails first.
    #[test]
    fn the_kept_statement_binds_the_id_alone() {
        for backend in [DbBackend::Sqlite, DbBackend::Postgres] {
            let built = backend.build(&rows_query("env-1"));
            assert_eq!(built.sql, rows_sql(backend));
            let values = built.values.expect("the id is bound").0;
            assert_eq!(values, vec![sea_orm::Value::from("env-1")]);
        }
    }
}
