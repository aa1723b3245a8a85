//! The routes of `/api/v1` and their OpenAPI 3.1 description, generated from these
//! handlers and the wire types (`GET /api/v1/openapi.json`). Each handler extracts the
//! caller (bearer token), reads its input strictly (JSON errors, 422 naming the field)
//! and calls one action of [`super::ops`] — the same functions the MCP tools call.

use std::sync::{Arc, OnceLock};

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::ApiCaller;
use super::errors::{ApiError, parse_json};
use super::model::*;
use super::ops::{self, EnvironmentFilter, LogsQuery, PageQuery};
use super::repositories::CreateRepositoryRequest;
use crate::state::AppState;

/// Where the routes are mounted; the document's paths include it.
pub const PREFIX: &str = "/api/v1";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Catalyst Preview API",
        description = "Preview environments for GitHub pull requests on Kubernetes. Every route needs `Authorization: Bearer <token>` (`catalyst token create`); changes need an operator token. Errors are always `{\"error\", \"detail\"}`.",
        version = "1"
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    tags(
        (name = "environments", description = "Preview environments, their deployments and logs"),
        (name = "repositories", description = "Repository configuration"),
        (name = "metrics", description = "Deployment statistics"),
        (name = "tokens", description = "API tokens (operators only)"),
        (name = "operations", description = "Running Catalyst itself")
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API token from `catalyst token create`"))
                    .build(),
            ),
        );
    }
}

/// Query string into `T`; unknown or malformed parameters are 422 naming them.
fn query<T: DeserializeOwned>(uri: &Uri) -> Result<T, ApiError> {
    let raw = uri.query().unwrap_or("");
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(raw.as_bytes()));
    serde_path_to_error::deserialize(de).map_err(|err| {
        let path = err.path().to_string();
        let message = err.into_inner().to_string();
        let named = message
            .strip_prefix("unknown field `")
            .and_then(|rest| rest.split('`').next());
        let field = match named {
            Some(name) => name.to_owned(),
            None if path.is_empty() || path == "." => "query".to_owned(),
            None => path,
        };
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("invalid query parameter {field}"),
            json!({ "field": field, "message": message }),
        )
    })
}

fn attempt_of(s: &str) -> Result<u32, ApiError> {
    s.parse()
        .map_err(|_| ApiError::invalid_field("attempt", "expected a positive whole number"))
}

/// `PUT` bodies may leave out `full_name` (it is in the path) but must not contradict it.
fn with_full_name(body: &[u8], full_name: &str) -> Result<CreateRepositoryRequest, ApiError> {
    let mut value: Value = parse_json(body)?;
    match value.get("full_name") {
        None => {
            value["full_name"] = Value::String(full_name.to_owned());
        }
        Some(Value::String(s)) if s.eq_ignore_ascii_case(full_name) => {}
        Some(_) => {
            return Err(ApiError::invalid_field(
                "full_name",
                format!("must match the path ({full_name}) or be left out"),
            ));
        }
    }
    parse_json(&serde_json::to_vec(&value).unwrap_or_default())
}

// ---- environments ------------------------------------------------------------------

/// List preview environments (open pull requests of configured repositories; deleted
/// ones are left out), newest first, with usage against quota, warnings and filters.
#[utoipa::path(
    get, path = "/environments", tag = "environments", operation_id = "list_environments",
    params(EnvironmentFilter),
    responses(
        (status = 200, description = "A page of environments", body = EnvironmentPage),
        (status = 401, description = "Missing or unknown token", body = ErrorBody),
        (status = 422, description = "A bad filter or page parameter", body = ErrorBody)
    )
)]
async fn list_environments(
    State(state): State<AppState>,
    caller: ApiCaller,
    uri: Uri,
) -> Result<Json<EnvironmentPage>, ApiError> {
    let filter: EnvironmentFilter = query(&uri)?;
    Ok(Json(
        ops::list_environments(&state.service, &caller, filter).await?,
    ))
}

/// Ask for the environment of an open pull request Catalyst knows (from a webhook or
/// the periodic sweep). Clears a pending delete and wakes the reconciler.
#[utoipa::path(
    post, path = "/environments", tag = "environments", operation_id = "create_environment",
    request_body = CreateEnvironmentRequest,
    responses(
        (status = 201, description = "The environment was created", body = CreatedEnvironment),
        (status = 200, description = "The environment existed; it is wanted again", body = CreatedEnvironment),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Missing or unknown token", body = ErrorBody),
        (status = 403, description = "Needs an operator token", body = ErrorBody),
        (status = 404, description = "Repository not configured or pull request unknown", body = ErrorBody),
        (status = 409, description = "The pull request is closed", body = ErrorBody),
        (status = 422, description = "A bad field", body = ErrorBody)
    )
)]
async fn create_environment(
    State(state): State<AppState>,
    caller: ApiCaller,
    body: Bytes,
) -> Result<(StatusCode, Json<CreatedEnvironment>), ApiError> {
    caller.require_operator()?;
    let req: CreateEnvironmentRequest = parse_json(&body)?;
    let created = ops::create_environment(&state.service, &caller, req).await?;
    let status = if created.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(created)))
}

/// One environment with its deployment history (newest first), pods, usage and
/// pending requests.
#[utoipa::path(
    get, path = "/environments/{id}", tag = "environments", operation_id = "get_environment",
    params(("id" = String, Path, description = "Environment id")),
    responses(
        (status = 200, description = "The environment", body = EnvironmentDetails),
        (status = 401, description = "Missing or unknown token", body = ErrorBody),
        (status = 404, description = "No such environment", body = ErrorBody)
    )
)]
async fn get_environment(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<Json<EnvironmentDetails>, ApiError> {
    Ok(Json(
        ops::get_environment(&state.service, &caller, &id).await?,
    ))
}

/// Mark the environment not wanted; it shows `deleting` at once and the reconciler
/// deletes its namespace.
#[utoipa::path(
    delete, path = "/environments/{id}", tag = "environments", operation_id = "delete_environment",
    params(("id" = String, Path, description = "Environment id")),
    responses(
        (status = 202, description = "Deletion requested", body = ActionAccepted),
        (status = 401, description = "Missing or unknown token", body = ErrorBody),
        (status = 403, description = "Needs an operator token", body = ErrorBody),
        (status = 404, description = "No such environment", body = ErrorBody)
    )
)]
async fn delete_environment(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<ActionAccepted>), ApiError> {
    let done = ops::delete_environment(&state.service, &caller, &id).await?;
    Ok((StatusCode::ACCEPTED, Json(done)))
}

/// Queue a new deployment attempt of the head SHA (redeploy, or retry a failed one).
#[utoipa::path(
    post, path = "/environments/{id}/redeploy", tag = "environments", operation_id = "redeploy_environment",
    params(("id" = String, Path, description = "Environment id")),
    responses(
        (status = 202, description = "Redeploy requested", body = ActionAccepted),
        (status = 401, description = "Missing or unknown token", body = ErrorBody),
        (status = 403, description = "Needs an operator token", body = ErrorBody),
        (status = 404, description = "No such environment", body = ErrorBody),
        (status = 409, description = "The environment is being deleted", body = ErrorBody)
    )
)]
async fn redeploy_environment(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<ActionAccepted>), ApiError> {
    let done = ops::redeploy_environment(&state.service, &caller, &id).await?;
    Ok((StatusCode::ACCEPTED, Json(done)))
}

/// Deployment attempts of an environment, newest first.
#[utoipa::path(
    get, path = "/environments/{id}/deployments", tag = "environments", operation_id = "list_deployments",
    params(("id" = String, Path, description = "Environment id"), PageQuery),
    responses(
        (status = 200, description = "A page of attempts", body = DeploymentPage),
        (status = 401, description = "Missing or unknown token", body = ErrorBody),
        (status = 404, description = "No such environment", body = ErrorBody),
        (status = 422, description = "A bad page parameter", body = ErrorBody)
    )
)]
async fn list_deployments(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
    uri: Uri,
) -> Result<Json<DeploymentPage>, ApiError> {
    let page: PageQuery = query(&uri)?;
    Ok(Json(
        ops::list_deployments(&state.service, &caller, &id, page).await?,
    ))
}

/// One deployment attempt with its phases, error and log excerpt.
#[utoipa::path(
    get, path = "/environments/{id}/deployments/{attempt}", tag = "environments", operation_id = "get_deployment",
    params(
        ("id" = String, Path, description = "Environment id"),
        ("attempt" = u32, Path, description = "Attempt number (1, 2, ...)")
    ),
    responses(
        (status = 200, description = "The attempt", body = Deployment),
        (status = 401, description = "Missing or unknown token", body = ErrorBody),
        (status = 404, description = "No such environment or attempt", body = ErrorBody),
        (status = 422, description = "The attempt is not a number", body = ErrorBody)
    )
)]
async fn get_deployment(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path((id, attempt)): Path<(String, String)>,
) -> Result<Json<Deployment>, ApiError> {
    let attempt = attempt_of(&attempt)?;
    Ok(Json(
        ops::get_deployment(&state.service, &caller, &id, attempt).await?,
    ))
}

/// The last lines of a container's log as JSON; with `follow=true` a live
/// `text/plain` stream (chunked) that starts with the tail and ends when the
/// container stops.
#[utoipa::path(
    get, path = "/environments/{id}/logs", tag = "environments", operation_id = "get_logs",
    params(("id" = String, Path, description = "Environment id"), LogsQuery),
    responses(
        (status = 200, description = "The tail (JSON) or, with follow=true, a live text/plain stream", 
            content((LogTail = "application/json"), (String = "text/plain"))),
        (status = 401, description = "Missing or unknown token", body = ErrorBody),
        (status = 404, description = "No such environment, pod or container", body = ErrorBody),
        (status = 409, description = "The environment is deleted", body = ErrorBody),
        (status = 422, description = "A bad parameter", body = ErrorBody),
        (status = 502, description = "Kubernetes did not return the log", body = ErrorBody),
        (status = 503, description = "The cluster is not reachable", body = ErrorBody)
    )
)]
async fn get_logs(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let q: LogsQuery = query(&uri)?;
    if !q.follow.unwrap_or(false) {
        return Ok(Json(ops::get_logs(&state.service, &caller, &id, q).await?).into_response());
    }
    let (namespace, req) = ops::resolve_logs(&state.service, &id, &q).await?;
    let stream = state
        .service
        .follow_logs(&namespace, &req)
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                format!("Kubernetes did not open the log: {e}"),
                Value::Null,
            )
        })?;
    // Lines as they come; a broken stream ends with one `error:` line.
    let body = stream
        .scan(false, |broken, item| {
            let out = if *broken {
                None
            } else {
                Some(match item {
                    Ok(line) => Ok::<_, std::io::Error>(Bytes::from(format!("{line}\n"))),
                    Err(e) => {
                        *broken = true;
                        Ok(Bytes::from(format!("error: {e}\n")))
                    }
                })
            };
            futures::future::ready(out)
        })
        .boxed();
    Ok((
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (
                header::HeaderName::from_static("x-content-type-options"),
                "nosniff",
            ),
        ],
        Body::from_stream(body),
    )
        .into_response())
}

// ---- repositories --------------------------------------------------------------------

/// Configured repositories.
#[utoipa::path(
    get, path = "/repositories", tag = "repositories", operation_id = "list_repositories",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of repositories", body = RepositoryPage),
        (status = 401, description = "Missing or unknown token", body = ErrorBody),
        (status = 422, description = "A bad page parameter", body = ErrorBody)
    )
)]
async fn list_repositories(
    State(state): State<AppState>,
    caller: ApiCaller,
    uri: Uri,
) -> Result<Json<RepositoryPage>, ApiError> {
    let page: PageQuery = query(&uri)?;
    Ok(Json(
        ops::list_repositories(&state.service, &caller, page).await?,
    ))
}

/// Configure a repository.
#[utoipa::path(
    post, path = "/repositories", tag = "repositories", operation_id = "create_repository",
    request_body = CreateRepositoryRequest,
    responses(
        (status = 201, description = "Configured", body = Repository),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Missing or unknown token", body = ErrorBody),
        (status = 403, description = "Needs an operator token", body = ErrorBody),
        (status = 409, description = "Already configured", body = ErrorBody),
        (status = 422, description = "A bad field (named in detail.field)", body = ErrorBody)
    )
)]
async fn create_repository(
    State(state): State<AppState>,
    caller: ApiCaller,
    body: Bytes,
) -> Result<(StatusCode, Json<Repository>), ApiError> {
    caller.require_operator()?;
    let req: CreateRepositoryRequest = parse_json(&body)?;
    let created = ops::create_repository(&state.service, &caller, req).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Check a repository configuration without saving it.
#[utoipa::path(
    post, path = "/repositories/validate", tag = "repositories", operation_id = "validate_repository",
    request_body = CreateRepositoryRequest,
    responses(
        (status = 200, description = "Valid (maybe with warnings)", body = ValidationResult),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Missing or unknown token", body = ErrorBody),
        (status = 422, description = "A bad field (named in detail.field)", body = ErrorBody)
    )
)]
async fn validate_repository(
    State(state): State<AppState>,
    caller: ApiCaller,
    body: Bytes,
) -> Result<Json<ValidationResult>, ApiError> {
    let req: CreateRepositoryRequest = parse_json(&body)?;
    Ok(Json(
        ops::validate_repository(&state.service, &caller, req).await?,
    ))
}

/// One configured repository.
#[utoipa::path(
    get, path = "/repositories/{owner}/{name}", tag = "repositories", operation_id = "get_repository",
    params(
        ("owner" = String, Path, description = "Repository owner"),
        ("name" = String, Path, description = "Repository name")
    ),
    responses(
        (status = 200, description = "The repository", body = Repository),
        (status = 401, description = "Missing or unknown token", body = ErrorBody),
        (status = 404, description = "Not configured", body = ErrorBody)
    )
)]
async fn get_repository(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path((owner, name)): Path<(String, String)>,
) -> Result<Json<Repository>, ApiError> {
    Ok(Json(
        ops::get_repository(&state.service, &caller, &format!("{owner}/{name}")).await?,
    ))
}

/// Replace a configured repository's settings (`full_name` may be left out).
#[utoipa::path(
    put, path = "/repositories/{owner}/{name}", tag = "repositories", operation_id = "update_repository",
    params(
        ("owner" = String, Path, description = "Repository owner"),
        ("name" = String, Path, description = "Repository name")
    ),
    request_body = CreateRepositoryRequest,
    responses(
        (status = 200, description = "Updated", body = Repository),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Missing or unknown token", body = ErrorBody),
        (status = 403, description = "Needs an operator token", body = ErrorBody),
        (status = 404, description = "Not configured", body = ErrorBody),
        (status = 422, description = "A bad field (named in detail.field)", body = ErrorBody)
    )
)]
async fn update_repository(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path((owner, name)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<Repository>, ApiError> {
    caller.require_operator()?;
    let req = with_full_name(&body, &format!("{owner}/{name}"))?;
    let (_, repo) = ops::configure_repository(&state.service, &caller, req, true).await?;
    Ok(Json(repo))
}

/// Remove a repository's configuration (only when it has no environments left).
#[utoipa::path(
    delete, path = "/repositories/{owner}/{name}", tag = "repositories", operation_id = "delete_repository",
    params(
        ("owner" = String, Path, description = "Repository owner"),
        ("name" = String, Path, description = "Repository name")
    ),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "Missing or unknown token", body = ErrorBody),
        (status = 403, description = "Needs an operator token", body = ErrorBody),
        (status = 404, description = "Not configured", body = ErrorBody),
        (status = 409, description = "It still has environments", body = ErrorBody)
    )
)]
async fn delete_repository(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path((owner, name)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    ops::delete_repository(&state.service, &caller, &format!("{owner}/{name}")).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- metrics ---------------------------------------------------------------------------

/// Success rate, p50/p95 deployment time, active environments and queue length.
#[utoipa::path(
    get, path = "/metrics/summary", tag = "metrics", operation_id = "get_metrics_summary",
    responses(
        (status = 200, description = "The summary", body = MetricsSummaryBody),
        (status = 401, description = "Missing or unknown token", body = ErrorBody)
    )
)]
async fn get_metrics_summary(
    State(state): State<AppState>,
    caller: ApiCaller,
) -> Result<Json<MetricsSummaryBody>, ApiError> {
    Ok(Json(
        ops::get_metrics_summary(&state.service, &caller).await?,
    ))
}

// ---- tokens --------------------------------------------------------------------------------

/// Active API tokens (never their secrets).
#[utoipa::path(
    get, path = "/tokens", tag = "tokens", operation_id = "list_tokens",
    responses(
        (status = 200, description = "Active tokens", body = TokenList),
        (status = 401, description = "Missing or unknown token", body = ErrorBody),
        (status = 403, description = "Needs an operator token", body = ErrorBody)
    )
)]
async fn list_tokens(
    State(state): State<AppState>,
    caller: ApiCaller,
) -> Result<Json<TokenList>, ApiError> {
    Ok(Json(ops::list_tokens(&state.service, &caller).await?))
}

/// Create a token; its secret is in this answer only.
#[utoipa::path(
    post, path = "/tokens", tag = "tokens", operation_id = "create_token",
    request_body = CreateTokenRequest,
    responses(
        (status = 201, description = "Created", body = CreatedToken),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Missing or unknown token", body = ErrorBody),
        (status = 403, description = "Needs an operator token", body = ErrorBody),
        (status = 409, description = "An active token has this name", body = ErrorBody),
        (status = 422, description = "A bad field", body = ErrorBody)
    )
)]
async fn create_token(
    State(state): State<AppState>,
    caller: ApiCaller,
    body: Bytes,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    caller.require_operator()?;
    let req: CreateTokenRequest = parse_json(&body)?;
    let created = ops::create_token(&state.service, &caller, req).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Revoke the active token with this name.
#[utoipa::path(
    delete, path = "/tokens/{name}", tag = "tokens", operation_id = "revoke_token",
    params(("name" = String, Path, description = "Token name")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "Missing or unknown token", body = ErrorBody),
        (status = 403, description = "Needs an operator token", body = ErrorBody),
        (status = 404, description = "No active token with this name", body = ErrorBody)
    )
)]
async fn revoke_token(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    ops::revoke_token(&state.service, &caller, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- operations (handlers in `log_level.rs`) ---------------------------------------------

/// The log filter in force.
#[utoipa::path(
    get, path = "/log-level", tag = "operations", operation_id = "get_log_level",
    responses(
        (status = 200, description = "The filter", body = LogFilter),
        (status = 401, description = "Missing or unknown token", body = ErrorBody),
        (status = 503, description = "The filter cannot be changed in this process", body = ErrorBody)
    )
)]
async fn get_log_level(caller: ApiCaller) -> Result<Json<Value>, ApiError> {
    super::log_level::show(caller).await
}

/// Replace the log filter of the running process.
#[utoipa::path(
    put, path = "/log-level", tag = "operations", operation_id = "set_log_level",
    request_body = LogFilter,
    responses(
        (status = 200, description = "The new filter", body = LogFilter),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Missing or unknown token", body = ErrorBody),
        (status = 403, description = "Needs an operator token", body = ErrorBody),
        (status = 422, description = "The filter does not parse", body = ErrorBody),
        (status = 503, description = "The filter cannot be changed in this process", body = ErrorBody)
    )
)]
async fn set_log_level(caller: ApiCaller, body: Bytes) -> Result<Json<Value>, ApiError> {
    super::log_level::update(caller, body).await
}

// ---- the router and its document ---------------------------------------------------------

fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(list_environments, create_environment))
        .routes(routes!(get_environment, delete_environment))
        .routes(routes!(redeploy_environment))
        .routes(routes!(list_deployments))
        .routes(routes!(get_deployment))
        .routes(routes!(get_logs))
        .routes(routes!(list_repositories, create_repository))
        .routes(routes!(validate_repository))
        .routes(routes!(
            get_repository,
            update_repository,
            delete_repository
        ))
        .routes(routes!(get_metrics_summary))
        .routes(routes!(list_tokens, create_token))
        .routes(routes!(revoke_token))
        .routes(routes!(get_log_level, set_log_level))
}

/// Prefixes every path with [`PREFIX`] (the routes are nested there).
fn prefixed(mut doc: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    let paths = std::mem::take(&mut doc.paths.paths);
    doc.paths.paths = paths
        .into_iter()
        .map(|(path, item)| (format!("{PREFIX}{path}"), item))
        .collect();
    doc
}

/// The OpenAPI document of every route, as served at `GET /api/v1/openapi.json`.
pub fn openapi() -> &'static utoipa::openapi::OpenApi {
    static DOC: OnceLock<utoipa::openapi::OpenApi> = OnceLock::new();
    DOC.get_or_init(|| prefixed(routes().split_for_parts().1))
}

/// The routes (relative to [`PREFIX`]) with `GET /openapi.json` (any valid token).
pub fn router() -> axum::Router<AppState> {
    let (router, _) = routes().split_for_parts();
    let doc: Arc<String> = Arc::new(openapi().to_json().unwrap_or_else(|_| "{}".to_owned()));
    router.route(
        "/openapi.json",
        // Like every API route it needs a token (any role).
        axum::routing::get(move |_caller: ApiCaller| {
            let doc = doc.clone();
            async move {
                (
                    [(header::CONTENT_TYPE, "application/json")],
                    doc.as_str().to_owned(),
                )
            }
        }),
    )
}
