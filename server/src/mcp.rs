//! The MCP server at `/mcp` (streamable HTTP): one tool per API action, each a thin
//! wrapper over the same [`crate::api::ops`] function the JSON API calls. Callers
//! authenticate with the API's bearer tokens; tools that change something need an
//! operator token. Failures are tool errors (`isError: true`) whose text says what to
//! fix, so an agent can correct its call.

use std::sync::Arc;

use axum::extract::{FromRequestParts, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rmcp::handler::server::tool::Extension;
use rmcp::handler::server::{router::tool::ToolRouter, wrapper::Parameters};
use rmcp::model::{Implementation, ServerCapabilities, ServerConfig};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{Json, ServerHandler, tool, tool_handler, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::api::auth::ApiCaller;
use crate::api::errors::ApiError;
use crate::api::model::*;
use crate::api::ops::{self, EnvironmentFilter, LogsQuery, PageQuery};
use crate::api::repositories::CreateRepositoryRequest;
use crate::service::CatalystService;
use crate::state::AppState;

/// What a failed tool call says: the API's error sentence plus its details.
fn tool_error(e: ApiError) -> String {
    let mut text = format!("{} (HTTP {})", e.error, e.status.as_u16());
    if let Some(field) = e.detail.get("field").and_then(|f| f.as_str()) {
        text.push_str(&format!("; field `{field}`"));
    }
    if let Some(message) = e.detail.get("message").and_then(|m| m.as_str()) {
        text.push_str(&format!(": {message}"));
    }
    for key in ["pods", "containers", "environments"] {
        if let Some(v) = e.detail.get(key) {
            text.push_str(&format!("; {key}: {v}"));
        }
    }
    text
}

fn caller(parts: &http::request::Parts) -> Result<ApiCaller, String> {
    parts.extensions.get::<ApiCaller>().cloned().ok_or_else(|| {
        "not authenticated: send Authorization: Bearer <token> with every MCP request".to_owned()
    })
}

/// Input of tools that name one environment.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentId {
    /// Environment id, from `list_environments` (field `id`).
    pub id: String,
}

/// Input of `list_deployments`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListDeploymentsInput {
    /// Environment id, from `list_environments`.
    pub environment_id: String,
    /// Items per page, 1-500 (default 50).
    pub limit: Option<u64>,
    /// Items to skip (default 0).
    pub offset: Option<u64>,
}

/// Input of `get_deployment`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetDeploymentInput {
    /// Environment id, from `list_environments`.
    pub environment_id: String,
    /// Attempt number (1, 2, ...), from `list_deployments`.
    pub attempt: u32,
}

/// Input of `get_logs`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetLogsInput {
    /// Environment id, from `list_environments`.
    pub environment_id: String,
    /// Pod name (see `pods` in `get_environment`); default: the first pod that has
    /// `container`, or the first pod.
    pub pod: Option<String>,
    /// Container name; default: the pod's first non-init container.
    pub container: Option<String>,
    /// Last N lines, 1-10000 (default 100).
    pub tail_lines: Option<i64>,
    /// Only newer lines: seconds (`300`), a duration (`30s`, `5m`, `2h`, `1d`) or an
    /// RFC 3339 time.
    pub since: Option<String>,
}

/// Input of tools that name one repository.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RepositoryInput {
    /// `owner/name`
    pub full_name: String,
}

/// A plain confirmation.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Done {
    pub message: String,
}

/// A configured repository and whether this call created it.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Configured {
    /// `true`: newly configured; `false`: its settings were replaced.
    pub created: bool,
    pub repository: Repository,
}

/// The MCP server: tools over the service layer.
#[derive(Clone)]
pub struct CatalystMcp {
    service: Arc<CatalystService>,
    tool_router: ToolRouter<Self>,
}

#[tool_router(router = tool_router)]
impl CatalystMcp {
    pub fn new(service: Arc<CatalystService>) -> Self {
        Self {
            service,
            tool_router: Self::tool_router(),
        }
    }

    /// The names of every tool, for the parity check.
    pub fn tool_names() -> Vec<String> {
        Self::tool_router()
            .list_all()
            .into_iter()
            .map(|t| t.name.to_string())
            .collect()
    }

    #[tool(
        name = "list_environments",
        description = "List preview environments (one per open pull request of a configured repository), newest first. Deleted environments are left out. Filter by `repository` (owner/name), `status` (pending|deploying|ready|failed|deleting) or `pr_number`; page with `limit`/`offset` (next page: `next_offset`). Each item has `id` (use it with the other tools), `status`, `url`, `head_sha`, `latest_deployment`, `last_error`, `usage` (CPU/memory against quota) and `warnings`.",
        annotations(read_only_hint = true)
    )]
    async fn list_environments(
        &self,
        Parameters(filter): Parameters<EnvironmentFilter>,
        Extension(parts): Extension<http::request::Parts>,
    ) -> Result<Json<EnvironmentPage>, String> {
        let caller = caller(&parts)?;
        ops::list_environments(&self.service, &caller, filter)
            .await
            .map(Json)
            .map_err(tool_error)
    }

    #[tool(
        name = "get_environment",
        description = "One environment by `id`: status, public URL, deployment history (newest first, with phases and errors), pods with their containers (names for get_logs), CPU/memory against quota, and pending redeploy/delete requests.",
        annotations(read_only_hint = true)
    )]
    async fn get_environment(
        &self,
        Parameters(input): Parameters<EnvironmentId>,
        Extension(parts): Extension<http::request::Parts>,
    ) -> Result<Json<EnvironmentDetails>, String> {
        let caller = caller(&parts)?;
        ops::get_environment(&self.service, &caller, &input.id)
            .await
            .map(Json)
            .map_err(tool_error)
    }

    #[tool(
        name = "create_environment",
        description = "Ask for the preview environment of an open pull request (`repository` owner/name, `pr_number`). The repository must be configured and Catalyst must know the pull request (from its webhook or the periodic sweep); a deleted environment is brought back. Deployment is asynchronous: poll get_environment until `status` is `ready` or `failed`. Needs an operator token.",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true
        )
    )]
    async fn create_environment(
        &self,
        Parameters(input): Parameters<CreateEnvironmentRequest>,
        Extension(parts): Extension<http::request::Parts>,
    ) -> Result<Json<CreatedEnvironment>, String> {
        let caller = caller(&parts)?;
        ops::create_environment(&self.service, &caller, input)
            .await
            .map(Json)
            .map_err(tool_error)
    }

    #[tool(
        name = "redeploy_environment",
        description = "Queue a new deployment attempt of the environment's current head SHA (redeploy, or retry after a failure). Asynchronous: poll get_environment or list_deployments. Refused while the environment is being deleted. Needs an operator token.",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true
        )
    )]
    async fn redeploy_environment(
        &self,
        Parameters(input): Parameters<EnvironmentId>,
        Extension(parts): Extension<http::request::Parts>,
    ) -> Result<Json<ActionAccepted>, String> {
        let caller = caller(&parts)?;
        ops::redeploy_environment(&self.service, &caller, &input.id)
            .await
            .map(Json)
            .map_err(tool_error)
    }

    #[tool(
        name = "delete_environment",
        description = "Delete an environment: it shows `deleting` at once and its Kubernetes namespace is removed in the background (status becomes `deleted`). create_environment brings it back while the pull request is open. Needs an operator token.",
        annotations(
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = true
        )
    )]
    async fn delete_environment(
        &self,
        Parameters(input): Parameters<EnvironmentId>,
        Extension(parts): Extension<http::request::Parts>,
    ) -> Result<Json<ActionAccepted>, String> {
        let caller = caller(&parts)?;
        ops::delete_environment(&self.service, &caller, &input.id)
            .await
            .map(Json)
            .map_err(tool_error)
    }

    #[tool(
        name = "list_deployments",
        description = "Deployment attempts of an environment, newest first: phase (queued|provisioning|deploying|verifying|succeeded|failed|superseded|cancelled), timings per phase, error and failing check. Page with `limit`/`offset`.",
        annotations(read_only_hint = true)
    )]
    async fn list_deployments(
        &self,
        Parameters(input): Parameters<ListDeploymentsInput>,
        Extension(parts): Extension<http::request::Parts>,
    ) -> Result<Json<DeploymentPage>, String> {
        let caller = caller(&parts)?;
        let page = PageQuery {
            limit: input.limit,
            offset: input.offset,
        };
        ops::list_deployments(&self.service, &caller, &input.environment_id, page)
            .await
            .map(Json)
            .map_err(tool_error)
    }

    #[tool(
        name = "get_deployment",
        description = "One deployment attempt (`environment_id`, `attempt`) with its phases, error, failing check and the failing containers' last log lines (`log_excerpt`). Use it to explain why a deployment failed.",
        annotations(read_only_hint = true)
    )]
    async fn get_deployment(
        &self,
        Parameters(input): Parameters<GetDeploymentInput>,
        Extension(parts): Extension<http::request::Parts>,
    ) -> Result<Json<Deployment>, String> {
        let caller = caller(&parts)?;
        ops::get_deployment(&self.service, &caller, &input.environment_id, input.attempt)
            .await
            .map(Json)
            .map_err(tool_error)
    }

    #[tool(
        name = "get_logs",
        description = "The last lines (default 100, at most 10000) of one container's log in the environment's namespace. Without `pod`/`container` the first pod's first container is read; get_environment lists pods and containers. `since` limits to newer lines (`5m`, `2h`, seconds or an RFC 3339 time). For a live stream use GET /api/v1/environments/{id}/logs?follow=true.",
        annotations(read_only_hint = true)
    )]
    async fn get_logs(
        &self,
        Parameters(input): Parameters<GetLogsInput>,
        Extension(parts): Extension<http::request::Parts>,
    ) -> Result<Json<LogTail>, String> {
        let caller = caller(&parts)?;
        let q = LogsQuery {
            pod: input.pod,
            container: input.container,
            tail_lines: input.tail_lines,
            since: input.since,
            timestamps: None,
            follow: None,
        };
        ops::get_logs(&self.service, &caller, &input.environment_id, q)
            .await
            .map(Json)
            .map_err(tool_error)
    }

    #[tool(
        name = "list_repositories",
        description = "Repositories configured for previews, with their settings (chart, values, image build or pattern, health path, quota, secrets, required label). Page with `limit`/`offset`.",
        annotations(read_only_hint = true)
    )]
    async fn list_repositories(
        &self,
        Parameters(page): Parameters<PageQuery>,
        Extension(parts): Extension<http::request::Parts>,
    ) -> Result<Json<RepositoryPage>, String> {
        let caller = caller(&parts)?;
        ops::list_repositories(&self.service, &caller, page)
            .await
            .map(Json)
            .map_err(tool_error)
    }

    #[tool(
        name = "get_repository",
        description = "One configured repository's settings by `full_name` (owner/name).",
        annotations(read_only_hint = true)
    )]
    async fn get_repository(
        &self,
        Parameters(input): Parameters<RepositoryInput>,
        Extension(parts): Extension<http::request::Parts>,
    ) -> Result<Json<Repository>, String> {
        let caller = caller(&parts)?;
        ops::get_repository(&self.service, &caller, &input.full_name)
            .await
            .map(Json)
            .map_err(tool_error)
    }

    #[tool(
        name = "configure_repository",
        description = "Configure a repository for previews, or replace the settings of a configured one (every field given replaces the stored one; omitted fields get their defaults). Only `full_name` is required; give a chart (`chart.path` or `chart.repo`) and an image (`build` or `image_pattern` with `{sha}`) unless the repository commits .catalyst/preview.yaml. Check first with validate_repository_config. Needs an operator token.",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true
        )
    )]
    async fn configure_repository(
        &self,
        Parameters(input): Parameters<CreateRepositoryRequest>,
        Extension(parts): Extension<http::request::Parts>,
    ) -> Result<Json<Configured>, String> {
        let caller = caller(&parts)?;
        ops::configure_repository(&self.service, &caller, input, false)
            .await
            .map(|(created, repository)| {
                Json(Configured {
                    created,
                    repository,
                })
            })
            .map_err(tool_error)
    }

    #[tool(
        name = "validate_repository_config",
        description = "Check a repository configuration (same input as configure_repository) without saving it. Answers `valid`, whether the repository is configured already, and warnings about likely omissions; an invalid field is an error naming the field.",
        annotations(read_only_hint = true)
    )]
    async fn validate_repository_config(
        &self,
        Parameters(input): Parameters<CreateRepositoryRequest>,
        Extension(parts): Extension<http::request::Parts>,
    ) -> Result<Json<ValidationResult>, String> {
        let caller = caller(&parts)?;
        ops::validate_repository(&self.service, &caller, input)
            .await
            .map(Json)
            .map_err(tool_error)
    }

    #[tool(
        name = "delete_repository",
        description = "Remove a repository's configuration (`full_name`). Refused while it still has environments that are not deleted: delete those first. Needs an operator token.",
        annotations(
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = false
        )
    )]
    async fn delete_repository(
        &self,
        Parameters(input): Parameters<RepositoryInput>,
        Extension(parts): Extension<http::request::Parts>,
    ) -> Result<Json<Done>, String> {
        let caller = caller(&parts)?;
        ops::delete_repository(&self.service, &caller, &input.full_name)
            .await
            .map(|()| {
                Json(Done {
                    message: format!("repository {} is no longer configured", input.full_name),
                })
            })
            .map_err(tool_error)
    }

    #[tool(
        name = "get_metrics_summary",
        description = "Deployment statistics: active environments, deployments in flight, queue length, success rate (0..1) and p50/p95 deployment time in seconds.",
        annotations(read_only_hint = true)
    )]
    async fn get_metrics_summary(
        &self,
        Extension(parts): Extension<http::request::Parts>,
    ) -> Result<Json<MetricsSummaryBody>, String> {
        let caller = caller(&parts)?;
        ops::get_metrics_summary(&self.service, &caller)
            .await
            .map(Json)
            .map_err(tool_error)
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for CatalystMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("catalyst", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "Catalyst Preview: a Kubernetes preview environment per GitHub pull request. \
                 Start with list_environments (or list_repositories); use an environment's `id` \
                 with get_environment, list_deployments, get_deployment, get_logs, \
                 redeploy_environment and delete_environment. Changes are asynchronous: poll \
                 get_environment for the status. Tools that change something need an operator token.",
            )
    }
}

/// The hosts the MCP endpoint answers for: loopback, plus `CATALYST_PUBLIC_URL`'s host.
fn allowed_hosts(public_url: Option<&str>) -> Vec<String> {
    let mut hosts: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
    if let Some(uri) = public_url.and_then(|u| u.parse::<http::Uri>().ok())
        && let Some(authority) = uri.authority()
    {
        hosts.push(authority.host().to_owned());
        hosts.push(authority.as_str().to_owned());
    }
    hosts
}

/// Authenticates every MCP request with the API's bearer tokens; the caller travels in
/// the request's extensions to the tools.
async fn authenticate(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    match ApiCaller::from_request_parts(&mut parts, &state).await {
        Ok(caller) => {
            parts.extensions.insert(caller);
            next.run(Request::from_parts(parts, body)).await
        }
        Err(e) => e.into_response(),
    }
}

/// The `/mcp` service: streamable HTTP with sessions, behind bearer-token auth.
pub fn router(state: &AppState) -> axum::Router<AppState> {
    let mut config = StreamableHttpServerConfig::default();
    config.allowed_hosts = allowed_hosts(state.config.http.public_url.as_deref());
    let service = state.service.clone();
    let mcp = StreamableHttpService::new(
        move || Ok(CatalystMcp::new(service.clone())),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    axum::Router::new().nest_service(
        "/mcp",
        tower::ServiceBuilder::new()
            .layer(axum::middleware::from_fn_with_state(
                state.clone(),
                authenticate,
            ))
            .service(mcp),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_public_host_is_allowed() {
        let hosts = allowed_hosts(Some("https://catalyst.example.com"));
        assert!(hosts.contains(&"catalyst.example.com".to_owned()));
        let hosts = allowed_hosts(Some("http://ci.internal:8080/"));
        assert!(hosts.contains(&"ci.internal:8080".to_owned()));
        assert_eq!(allowed_hosts(None).len(), 3);
    }

    #[test]
    fn every_tool_has_a_description_and_an_object_schema() {
        for tool in CatalystMcp::tool_router().list_all() {
            assert!(
                tool.description.as_ref().is_some_and(|d| d.len() > 40),
                "{}",
                tool.name
            );
            assert_eq!(
                tool.input_schema.get("type").and_then(|t| t.as_str()),
                Some("object"),
                "{}",
                tool.name
            );
            assert!(tool.output_schema.is_some(), "{}", tool.name);
        }
    }
}
