//! The API's and MCP's actions: authorise the caller, call the service layer, and
//! translate its answer into the wire types of [`super::model`] or an [`ApiError`]
//! whose message says what to fix. HTTP handlers and MCP tools are thin wrappers over
//! these functions, so the two surfaces cannot drift apart.

use axum::http::StatusCode;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::IntoParams;

use super::auth::ApiCaller;
use super::errors::ApiError;
use super::model::*;
use super::repositories::CreateRepositoryRequest;
use crate::core::domain::RepositoryName;
use crate::service::{
    CatalystService, EnvironmentForPr, LogRequest, RepositoryRemoval, ServiceError,
};
use crate::store::repositories::NewRepository;
use crate::store::tokens::TokenError;

/// Page size when none is asked for, and the largest allowed.
pub const DEFAULT_LIMIT: u64 = 50;
pub const MAX_LIMIT: u64 = 500;
/// Log lines when `tail_lines` is not given, and the most returned.
pub const DEFAULT_TAIL_LINES: i64 = 100;
pub const MAX_TAIL_LINES: i64 = 10_000;

/// Pagination of list routes.
#[derive(Clone, Debug, Default, Deserialize, IntoParams, JsonSchema)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// Items per page, 1-500 (default 50).
    pub limit: Option<u64>,
    /// Items to skip (default 0); use `next_offset` of the previous page.
    pub offset: Option<u64>,
}

/// Filters and pagination of `GET /api/v1/environments`.
#[derive(Clone, Debug, Default, Deserialize, IntoParams, JsonSchema)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentFilter {
    /// Only this repository (`owner/name`, case-insensitive).
    pub repository: Option<String>,
    /// Only environments in this state.
    pub status: Option<EnvironmentState>,
    /// Only this pull request number.
    pub pr_number: Option<u64>,
    /// Items per page, 1-500 (default 50).
    pub limit: Option<u64>,
    /// Items to skip (default 0).
    pub offset: Option<u64>,
}

/// Which log to read, for `GET /api/v1/environments/{id}/logs`.
#[derive(Clone, Debug, Default, Deserialize, IntoParams, JsonSchema)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LogsQuery {
    /// Pod name; default: the first pod that has `container` (or the first pod).
    pub pod: Option<String>,
    /// Container name; default: the pod's first (non-init) container.
    pub container: Option<String>,
    /// Last N lines, 1-10000 (default 100).
    pub tail_lines: Option<i64>,
    /// Only lines newer than this: seconds (`300`), a duration (`30s`, `5m`, `2h`,
    /// `1d`) or an RFC 3339 time.
    pub since: Option<String>,
    /// Prefix lines with the API server's RFC 3339 timestamps.
    pub timestamps: Option<bool>,
    /// Keep the response open and stream new lines as they come (chunked text/plain).
    pub follow: Option<bool>,
}

fn service(e: ServiceError) -> ApiError {
    e.into()
}

/// One page of a list.
#[derive(Debug, PartialEq)]
pub struct Paged<T> {
    pub items: Vec<T>,
    pub total: u64,
    pub limit: u64,
    pub offset: u64,
    pub next_offset: Option<u64>,
}

/// Cuts a list into the asked page.
pub fn paginate<T>(
    items: Vec<T>,
    limit: Option<u64>,
    offset: Option<u64>,
) -> Result<Paged<T>, ApiError> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError::invalid_field(
            "limit",
            format!("must be between 1 and {MAX_LIMIT}"),
        ));
    }
    let offset = offset.unwrap_or(0);
    let total = items.len() as u64;
    let page: Vec<T> = items
        .into_iter()
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .collect();
    let next_offset = (offset.saturating_add(limit) < total).then(|| offset + limit);
    Ok(Paged {
        items: page,
        total,
        limit,
        offset,
        next_offset,
    })
}

fn env_not_found(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("no environment with id {id:?}; list_environments shows the ids"),
        json!({ "field": "id", "message": "unknown environment id" }),
    )
}

fn who(caller: &ApiCaller) -> String {
    format!("token:{}", caller.token_name)
}

fn parse_repository(field: &str, value: &str) -> Result<RepositoryName, ApiError> {
    RepositoryName::parse(value)
        .map_err(|_| ApiError::invalid_field(field, "expected owner/name, e.g. acme/web"))
}

async fn summary(svc: &CatalystService, id: &str) -> Result<Environment, ApiError> {
    svc.environment_summary(id)
        .await
        .map_err(service)?
        .map(Environment::from)
        .ok_or_else(|| env_not_found(id))
}

// ---- environments ----------------------------------------------------------------

pub async fn list_environments(
    svc: &CatalystService,
    _caller: &ApiCaller,
    filter: EnvironmentFilter,
) -> Result<EnvironmentPage, ApiError> {
    let repo = filter.repository.as_deref().map(str::to_ascii_lowercase);
    // The dashboard's overview: usage against quota and warnings per environment
    // (deleted environments are left out, as on the dashboard).
    let items: Vec<Environment> = svc
        .environments_overview()
        .await
        .map_err(service)?
        .rows
        .into_iter()
        .map(Environment::from)
        .filter(|e| {
            repo.as_ref()
                .is_none_or(|r| e.repository.to_ascii_lowercase() == *r)
                && filter.status.is_none_or(|s| e.status == s)
                && filter.pr_number.is_none_or(|n| e.pr_number == n)
        })
        .collect();
    let Paged {
        items,
        total,
        limit,
        offset,
        next_offset,
    } = paginate(items, filter.limit, filter.offset)?;
    Ok(EnvironmentPage {
        items,
        total,
        limit,
        offset,
        next_offset,
    })
}

pub async fn get_environment(
    svc: &CatalystService,
    _caller: &ApiCaller,
    id: &str,
) -> Result<EnvironmentDetails, ApiError> {
    svc.get_environment(id)
        .await
        .map_err(service)?
        .map(EnvironmentDetails::from)
        .ok_or_else(|| env_not_found(id))
}

pub async fn create_environment(
    svc: &CatalystService,
    caller: &ApiCaller,
    req: CreateEnvironmentRequest,
) -> Result<CreatedEnvironment, ApiError> {
    caller.require_operator()?;
    let repo = parse_repository("repository", &req.repository)?;
    if req.pr_number == 0 {
        return Err(ApiError::invalid_field(
            "pr_number",
            "pull request numbers start at 1",
        ));
    }
    let outcome = svc
        .create_environment_for_pr(&repo.to_string(), req.pr_number)
        .await
        .map_err(service)?;
    match outcome {
        EnvironmentForPr::RepositoryNotConfigured => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!(
                "repository {repo} is not configured; configure it first (POST /api/v1/repositories or the configure_repository tool)"
            ),
            json!({ "field": "repository", "message": "not configured" }),
        )),
        EnvironmentForPr::PullRequestUnknown => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!(
                "Catalyst does not know pull request #{} of {repo}; open the pull request on GitHub, then wait for its webhook or the next sweep (every few minutes) and try again",
                req.pr_number
            ),
            json!({ "field": "pr_number", "message": "unknown pull request" }),
        )),
        EnvironmentForPr::PullRequestClosed => Err(ApiError::conflict(format!(
            "pull request #{} of {repo} is closed; reopen it to get an environment",
            req.pr_number
        ))),
        EnvironmentForPr::Wanted {
            environment_id,
            created,
        } => {
            tracing::info!(repository = %repo, pr = req.pr_number, by = %caller.token_name, "environment requested");
            Ok(CreatedEnvironment {
                created,
                environment: summary(svc, &environment_id).await?,
                message: "the environment is wanted; the reconciler deploys it (watch its status with get_environment)".into(),
            })
        }
    }
}

pub async fn redeploy_environment(
    svc: &CatalystService,
    caller: &ApiCaller,
    id: &str,
) -> Result<ActionAccepted, ApiError> {
    caller.require_operator()?;
    if !svc
        .redeploy_environment(id, &who(caller))
        .await
        .map_err(service)?
    {
        return Err(env_not_found(id));
    }
    Ok(ActionAccepted {
        environment: summary(svc, id).await?,
        message: "a new deployment attempt of the head SHA is queued".into(),
    })
}

pub async fn delete_environment(
    svc: &CatalystService,
    caller: &ApiCaller,
    id: &str,
) -> Result<ActionAccepted, ApiError> {
    caller.require_operator()?;
    if !svc
        .delete_environment(id, &who(caller))
        .await
        .map_err(service)?
    {
        return Err(env_not_found(id));
    }
    tracing::info!(environment = id, by = %caller.token_name, "environment deletion requested");
    Ok(ActionAccepted {
        environment: summary(svc, id).await?,
        message: "the namespace is being deleted; the status becomes `deleted` when Kubernetes has finished".into(),
    })
}

// ---- deployments -----------------------------------------------------------------

pub async fn list_deployments(
    svc: &CatalystService,
    _caller: &ApiCaller,
    id: &str,
    page: PageQuery,
) -> Result<DeploymentPage, ApiError> {
    summary(svc, id).await?;
    let all: Vec<Deployment> = svc
        .list_deployments(id)
        .await
        .map_err(service)?
        .into_iter()
        .map(Deployment::from)
        .collect();
    let Paged {
        items,
        total,
        limit,
        offset,
        next_offset,
    } = paginate(all, page.limit, page.offset)?;
    Ok(DeploymentPage {
        items,
        total,
        limit,
        offset,
        next_offset,
    })
}

pub async fn get_deployment(
    svc: &CatalystService,
    _caller: &ApiCaller,
    id: &str,
    attempt: u32,
) -> Result<Deployment, ApiError> {
    summary(svc, id).await?;
    svc.list_deployments(id)
        .await
        .map_err(service)?
        .into_iter()
        .find(|d| d.summary.attempt == attempt)
        .map(Deployment::from)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                format!(
                    "environment {id} has no deployment attempt {attempt}; list_deployments shows its attempts"
                ),
                json!({ "field": "attempt", "message": "unknown attempt" }),
            )
        })
}

// ---- logs --------------------------------------------------------------------------

/// Parses `since`: seconds, `30s`/`5m`/`2h`/`1d`, or an RFC 3339 time; into seconds.
pub fn parse_since(value: &str) -> Result<i64, ApiError> {
    let v = value.trim();
    let bad = || {
        ApiError::invalid_field(
            "since",
            "expected seconds (300), a duration (30s, 5m, 2h, 1d) or an RFC 3339 time",
        )
    };
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(v) {
        let secs = (chrono::Utc::now() - t.with_timezone(&chrono::Utc)).num_seconds();
        return Ok(secs.max(1));
    }
    let (num, unit) = match v.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&v[..i], c),
        _ => (v, 's'),
    };
    let n: i64 = num.parse().map_err(|_| bad())?;
    let scale = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3_600,
        'd' => 86_400,
        _ => return Err(bad()),
    };
    if n <= 0 {
        return Err(bad());
    }
    Ok(n.saturating_mul(scale))
}

/// The namespace and log request a logs query names, after checking both exist.
pub async fn resolve_logs(
    svc: &CatalystService,
    id: &str,
    q: &LogsQuery,
) -> Result<(String, LogRequest), ApiError> {
    let env = summary(svc, id).await?;
    if env.status == EnvironmentState::Deleted {
        return Err(ApiError::conflict(format!(
            "environment {id} is deleted; it has no containers any more"
        )));
    }
    let tail_lines = q.tail_lines.unwrap_or(DEFAULT_TAIL_LINES);
    if !(1..=MAX_TAIL_LINES).contains(&tail_lines) {
        return Err(ApiError::invalid_field(
            "tail_lines",
            format!("must be between 1 and {MAX_TAIL_LINES}"),
        ));
    }
    let since_seconds = q.since.as_deref().map(parse_since).transpose()?;
    let pods = svc.list_pods(&env.namespace).await.map_err(|state| {
        let status = ClusterStatus::from(state);
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "the cluster cannot be read ({}); try again later",
                status.message.clone().unwrap_or(status.state.clone())
            ),
            json!({ "cluster": status.state }),
        )
    })?;
    let names: Vec<&str> = pods.iter().map(|p| p.name.as_str()).collect();
    let pod = match &q.pod {
        Some(name) => pods.iter().find(|p| &p.name == name).ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                format!("no pod {name:?} in {}; pods: {names:?}", env.namespace),
                json!({ "field": "pod", "pods": names }),
            )
        })?,
        None => pods
            .iter()
            .find(|p| {
                q.container
                    .as_ref()
                    .is_none_or(|c| p.containers.iter().any(|pc| &pc.name == c))
            })
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::NOT_FOUND,
                    match &q.container {
                        Some(c) => format!(
                            "no pod in {} has a container {c:?}; pods: {names:?}",
                            env.namespace
                        ),
                        None => format!(
                            "{} has no pods yet; wait for the deployment (get_environment shows its status)",
                            env.namespace
                        ),
                    },
                    json!({
                        "field": if q.container.is_some() { "container" } else { "pod" },
                        "pods": names,
                    }),
                )
            })?,
    };
    let containers: Vec<&str> = pod.containers.iter().map(|c| c.name.as_str()).collect();
    let container = match &q.container {
        Some(c) if containers.contains(&c.as_str()) => c.clone(),
        Some(c) => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!(
                    "pod {} has no container {c:?}; containers: {containers:?}",
                    pod.name
                ),
                json!({ "field": "container", "containers": containers }),
            ));
        }
        None => pod
            .containers
            .iter()
            .find(|c| !c.init)
            .or(pod.containers.first())
            .map(|c| c.name.clone())
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::NOT_FOUND,
                    format!("pod {} has no containers", pod.name),
                    Value::Null,
                )
            })?,
    };
    Ok((
        env.namespace,
        LogRequest {
            pod: pod.name.clone(),
            container,
            tail_lines: Some(tail_lines),
            since_seconds,
            timestamps: q.timestamps.unwrap_or(false),
        },
    ))
}

pub async fn get_logs(
    svc: &CatalystService,
    _caller: &ApiCaller,
    id: &str,
    q: LogsQuery,
) -> Result<LogTail, ApiError> {
    let (namespace, req) = resolve_logs(svc, id, &q).await?;
    let text = svc.get_logs(&namespace, &req).await.map_err(|e| {
        ApiError::new(
            StatusCode::BAD_GATEWAY,
            format!("Kubernetes did not return the log: {e}"),
            Value::Null,
        )
    })?;
    Ok(LogTail {
        environment_id: id.to_owned(),
        namespace,
        pod: req.pod,
        container: req.container,
        lines: text.lines().map(str::to_owned).collect(),
    })
}

// ---- repositories -------------------------------------------------------------------

fn repo_not_found(full_name: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!(
            "repository {full_name} is not configured; list_repositories shows the configured ones"
        ),
        json!({ "field": "full_name", "message": "not configured" }),
    )
}

pub async fn list_repositories(
    svc: &CatalystService,
    _caller: &ApiCaller,
    page: PageQuery,
) -> Result<RepositoryPage, ApiError> {
    let all: Vec<Repository> = svc
        .list_repositories()
        .await
        .map_err(service)?
        .into_iter()
        .map(Repository::from)
        .collect();
    let Paged {
        items,
        total,
        limit,
        offset,
        next_offset,
    } = paginate(all, page.limit, page.offset)?;
    Ok(RepositoryPage {
        items,
        total,
        limit,
        offset,
        next_offset,
    })
}

pub async fn get_repository(
    svc: &CatalystService,
    _caller: &ApiCaller,
    full_name: &str,
) -> Result<Repository, ApiError> {
    let key = parse_repository("full_name", full_name)?.key();
    svc.list_repositories()
        .await
        .map_err(service)?
        .into_iter()
        .find(|r| r.full_name.to_ascii_lowercase() == key)
        .map(Repository::from)
        .ok_or_else(|| repo_not_found(full_name))
}

/// Configuration that is allowed but probably incomplete.
fn warnings(new: &NewRepository) -> Vec<String> {
    let s = &new.settings;
    let mut out = Vec::new();
    if s.chart_repo.is_none() && s.chart_path.is_none() {
        out.push("no chart: set chart.path (in the repository) or chart.repo, or commit .catalyst/preview.yaml".to_owned());
    }
    if s.image_pattern.is_none() && s.build_dockerfile.is_none() && s.build_context.is_none() {
        out.push("no image: set build.dockerfile/build.context or image_pattern, or commit .catalyst/preview.yaml".to_owned());
    }
    out
}

pub async fn validate_repository(
    svc: &CatalystService,
    _caller: &ApiCaller,
    req: CreateRepositoryRequest,
) -> Result<ValidationResult, ApiError> {
    let new = req.validate()?;
    let key = new.full_name.key();
    let exists = svc
        .list_repositories()
        .await
        .map_err(service)?
        .iter()
        .any(|r| r.full_name.to_ascii_lowercase() == key);
    Ok(ValidationResult {
        valid: true,
        exists,
        warnings: warnings(&new),
    })
}

pub async fn create_repository(
    svc: &CatalystService,
    caller: &ApiCaller,
    req: CreateRepositoryRequest,
) -> Result<Repository, ApiError> {
    caller.require_operator()?;
    let new = req.validate()?;
    let created = svc.create_repository(new).await.map_err(|e| match e {
        ServiceError::Conflict(m) => ApiError::conflict(format!(
            "{m}; change it with PUT /api/v1/repositories/{{owner}}/{{name}}"
        )),
        other => other.into(),
    })?;
    tracing::info!(repository = %created.full_name, by = %caller.token_name, "repository configured");
    Ok(created.into())
}

/// Creates or replaces (`must_exist`: only replaces) a repository's settings.
pub async fn configure_repository(
    svc: &CatalystService,
    caller: &ApiCaller,
    req: CreateRepositoryRequest,
    must_exist: bool,
) -> Result<(bool, Repository), ApiError> {
    caller.require_operator()?;
    let new = req.validate()?;
    if must_exist {
        get_repository(svc, caller, &new.full_name.to_string()).await?;
    }
    let change = svc.configure_repository(new).await.map_err(service)?;
    let created = matches!(change, crate::service::RepositoryChange::Created(_));
    tracing::info!(repository = %change.view().full_name, created, by = %caller.token_name, "repository configured");
    Ok((created, change.view().clone().into()))
}

pub async fn delete_repository(
    svc: &CatalystService,
    caller: &ApiCaller,
    full_name: &str,
) -> Result<(), ApiError> {
    caller.require_operator()?;
    let name = parse_repository("full_name", full_name)?;
    match svc
        .delete_repository(&name.to_string())
        .await
        .map_err(service)?
    {
        RepositoryRemoval::NotConfigured => Err(repo_not_found(full_name)),
        RepositoryRemoval::HasEnvironments(ids) => Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "repository {name} still has {} environment(s); delete them first (delete_environment) and wait until they are deleted",
                ids.len()
            ),
            json!({ "environments": ids }),
        )),
        RepositoryRemoval::Removed => {
            tracing::info!(repository = %name, by = %caller.token_name, "repository removed");
            Ok(())
        }
    }
}

// ---- metrics -------------------------------------------------------------------------

pub async fn get_metrics_summary(
    svc: &CatalystService,
    _caller: &ApiCaller,
) -> Result<MetricsSummaryBody, ApiError> {
    Ok(svc.get_metrics_summary().await.map_err(service)?.into())
}

// ---- tokens ----------------------------------------------------------------------------

fn token_error(e: TokenError) -> ApiError {
    match e {
        TokenError::NameTaken(_) => ApiError::conflict(e.to_string()),
        TokenError::NotFound(_) => ApiError::new(
            StatusCode::NOT_FOUND,
            e.to_string(),
            json!({ "field": "name", "message": "no active token with this name" }),
        ),
        TokenError::InvalidName => ApiError::invalid_field("name", e.to_string()),
        TokenError::Store(s) => ServiceError::Store(s).into(),
    }
}

pub async fn list_tokens(svc: &CatalystService, caller: &ApiCaller) -> Result<TokenList, ApiError> {
    caller.require_operator()?;
    let items = svc
        .list_tokens()
        .await
        .map_err(service)?
        .into_iter()
        .map(|t| TokenInfo {
            name: t.name,
            role: t.role.into(),
            created_at: t.created_at,
            last_used_at: t.last_used_at,
        })
        .collect();
    Ok(TokenList { items })
}

pub async fn create_token(
    svc: &CatalystService,
    caller: &ApiCaller,
    req: CreateTokenRequest,
) -> Result<CreatedToken, ApiError> {
    caller.require_operator()?;
    let role = req.role.unwrap_or(TokenRole::Viewer);
    let token = svc
        .create_token(&req.name, role.into())
        .await
        .map_err(token_error)?;
    tracing::info!(token = %req.name, role = ?role, by = %caller.token_name, "API token created");
    Ok(CreatedToken {
        name: req.name,
        role,
        token,
    })
}

pub async fn revoke_token(
    svc: &CatalystService,
    caller: &ApiCaller,
    name: &str,
) -> Result<(), ApiError> {
    caller.require_operator()?;
    svc.revoke_token(name).await.map_err(token_error)?;
    tracing::info!(token = %name, by = %caller.token_name, "API token revoked");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_accepts_seconds_durations_and_times() {
        assert_eq!(parse_since("300").unwrap(), 300);
        assert_eq!(parse_since("5m").unwrap(), 300);
        assert_eq!(parse_since("2h").unwrap(), 7_200);
        assert_eq!(parse_since("1d").unwrap(), 86_400);
        assert!(parse_since("2020-01-01T00:00:00Z").unwrap() > 1_000);
        for bad in ["", "x", "5w", "-3", "0"] {
            assert!(parse_since(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn pages_say_where_the_next_starts() {
        let p = paginate((0..5).collect::<Vec<_>>(), Some(2), Some(2)).unwrap();
        assert_eq!(
            p,
            Paged {
                items: vec![2, 3],
                total: 5,
                limit: 2,
                offset: 2,
                next_offset: Some(4)
            }
        );
        let p = paginate((0..5).collect::<Vec<_>>(), Some(2), Some(4)).unwrap();
        assert_eq!(p.next_offset, None);
        assert!(paginate(vec![1], Some(0), None).is_err());
    }
}
