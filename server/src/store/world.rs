//! One environment's rows as the reconciler reads them before every step: the
//! environment, its pull request and repository, the engine's bookkeeping, what
//! operators asked for and the recorded `.catalyst/preview.yaml`, in one statement.
//!
//! A reconcile reads its world after every step, on the writer (see `store::Db`), and
//! every statement there waits behind every other reconcile's. Six single-row
//! `SELECT`s per read were most of the statements a new pull request costs; one
//! `LEFT JOIN` gives the same rows.

use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query, SelectStatement};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, IdenStatic, Iterable, QueryResult,
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

/// The environment `id` with everything it points at, or `None` when it is not stored.
pub async fn environment_rows(
    db: &impl ConnectionTrait,
    id: &str,
) -> Result<Option<EnvironmentRows>> {
    use environment_request::{Column as Rq, Entity as RqE};
    use preview_environment::{Column as E, Entity as EnvE};
    use pull_request::{Column as P, Entity as PrE};
    use pull_request_config::{Column as C, Entity as CfgE};
    use repository::{Column as R, Entity as RepoE};

    use engine::engine_state::{Column as S, Entity as StateE};

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
    let Some(row) = db.query_one(&q).await? else {
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
