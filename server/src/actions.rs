//! The one table of what Catalyst can do and where: every action with its dashboard
//! entrance (a server function of `app::pages` or a dashboard route), its JSON API
//! routes and its MCP tool. The parity test below checks the table against the real
//! surfaces — the server functions (referenced as items, so a rename breaks the build),
//! the generated OpenAPI document and the MCP server's tool list — and fails when one
//! surface lacks an action the others have, unless the gap is listed with its reason.

/// Where the dashboard offers an action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dashboard {
    /// A Leptos server function in `app::pages`.
    ServerFn(&'static str),
    /// A dashboard HTTP route (WebSocket or download), not a server function.
    Route(&'static str),
    /// Not in the dashboard, and why.
    Missing(&'static str),
}

/// Where MCP offers an action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mcp {
    Tool(&'static str),
    /// Not an MCP tool, and why.
    Missing(&'static str),
}

/// One action on every surface.
#[derive(Clone, Copy, Debug)]
pub struct Surfaces {
    pub name: &'static str,
    pub description: &'static str,
    pub dashboard: Dashboard,
    /// `(method, path)` under `/api/v1`, as in the OpenAPI document.
    pub api: &'static [(&'static str, &'static str)],
    pub mcp: Mcp,
}

/// Every action Catalyst offers people, scripts and agents.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    ListEnvironments,
    GetEnvironment,
    CreateEnvironment,
    RedeployEnvironment,
    DeleteEnvironment,
    ListDeployments,
    GetDeployment,
    GetLogs,
    ListRepositories,
    GetRepository,
    ConfigureRepository,
    ValidateRepository,
    DeleteRepository,
    GetMetricsSummary,
    ListTokens,
    CreateToken,
    RevokeToken,
}

const TOKENS_OFF_AGENTS: &str =
    "agents must not mint or revoke credentials; operators use the API or `catalyst token`";
const TOKENS_OFF_DASHBOARD: &str = "tokens are managed with `catalyst token` and the API";

impl Action {
    pub const ALL: [Action; 17] = [
        Self::ListEnvironments,
        Self::GetEnvironment,
        Self::CreateEnvironment,
        Self::RedeployEnvironment,
        Self::DeleteEnvironment,
        Self::ListDeployments,
        Self::GetDeployment,
        Self::GetLogs,
        Self::ListRepositories,
        Self::GetRepository,
        Self::ConfigureRepository,
        Self::ValidateRepository,
        Self::DeleteRepository,
        Self::GetMetricsSummary,
        Self::ListTokens,
        Self::CreateToken,
        Self::RevokeToken,
    ];

    pub fn surfaces(self) -> Surfaces {
        use Dashboard::{Missing as NoPage, Route, ServerFn};
        use Mcp::{Missing as NoTool, Tool};
        let s = |name, description, dashboard, api, mcp| Surfaces {
            name,
            description,
            dashboard,
            api,
            mcp,
        };
        match self {
            Self::ListEnvironments => s(
                "list_environments",
                "list environments with status, URL, usage, age and warnings",
                ServerFn("list_environments"),
                &[("get", "/environments")],
                Tool("list_environments"),
            ),
            Self::GetEnvironment => s(
                "get_environment",
                "environment detail with deployment history and pods",
                ServerFn("get_environment"),
                &[("get", "/environments/{id}")],
                Tool("get_environment"),
            ),
            Self::CreateEnvironment => s(
                "create_environment",
                "ask for the environment of a known open pull request",
                ServerFn("create_environment"),
                &[("post", "/environments")],
                Tool("create_environment"),
            ),
            Self::RedeployEnvironment => s(
                "redeploy_environment",
                "queue a new deployment attempt (redeploy / retry)",
                ServerFn("redeploy_environment"),
                &[("post", "/environments/{id}/redeploy")],
                Tool("redeploy_environment"),
            ),
            Self::DeleteEnvironment => s(
                "delete_environment",
                "delete an environment's namespace",
                ServerFn("delete_environment"),
                &[("delete", "/environments/{id}")],
                Tool("delete_environment"),
            ),
            Self::ListDeployments => s(
                "list_deployments",
                "deployment history of an environment",
                // The environment page's timeline.
                ServerFn("get_environment"),
                &[("get", "/environments/{id}/deployments")],
                Tool("list_deployments"),
            ),
            Self::GetDeployment => s(
                "get_deployment",
                "one attempt with phases, error and log excerpt",
                ServerFn("get_environment"),
                &[("get", "/environments/{id}/deployments/{attempt}")],
                Tool("get_deployment"),
            ),
            Self::GetLogs => s(
                "get_logs",
                "container logs: tail, and live follow (API stream, dashboard WebSocket)",
                Route("/ws/logs/{environment}"),
                &[("get", "/environments/{id}/logs")],
                Tool("get_logs"),
            ),
            Self::ListRepositories => s(
                "list_repositories",
                "configured repositories with their settings",
                ServerFn("list_repositories"),
                &[("get", "/repositories")],
                Tool("list_repositories"),
            ),
            Self::GetRepository => s(
                "get_repository",
                "one repository's settings",
                ServerFn("list_repositories"),
                &[("get", "/repositories/{owner}/{name}")],
                Tool("get_repository"),
            ),
            Self::ConfigureRepository => s(
                "configure_repository",
                "create or update a repository's preview settings",
                ServerFn("configure_repository"),
                &[
                    ("post", "/repositories"),
                    ("put", "/repositories/{owner}/{name}"),
                ],
                Tool("configure_repository"),
            ),
            Self::ValidateRepository => s(
                "validate_repository_config",
                "check a repository configuration without saving",
                // The form is validated by the same rules when it is saved.
                ServerFn("configure_repository"),
                &[("post", "/repositories/validate")],
                Tool("validate_repository_config"),
            ),
            Self::DeleteRepository => s(
                "delete_repository",
                "remove a repository's configuration",
                ServerFn("delete_repository"),
                &[("delete", "/repositories/{owner}/{name}")],
                Tool("delete_repository"),
            ),
            Self::GetMetricsSummary => s(
                "get_metrics_summary",
                "success rate, p50/p95, active environments, queue",
                ServerFn("get_overview"),
                &[("get", "/metrics/summary")],
                Tool("get_metrics_summary"),
            ),
            Self::ListTokens => s(
                "list_tokens",
                "active API tokens",
                NoPage(TOKENS_OFF_DASHBOARD),
                &[("get", "/tokens")],
                NoTool(TOKENS_OFF_AGENTS),
            ),
            Self::CreateToken => s(
                "create_token",
                "create an API token",
                NoPage(TOKENS_OFF_DASHBOARD),
                &[("post", "/tokens")],
                NoTool(TOKENS_OFF_AGENTS),
            ),
            Self::RevokeToken => s(
                "revoke_token",
                "revoke an API token",
                NoPage(TOKENS_OFF_DASHBOARD),
                &[("delete", "/tokens/{name}")],
                NoTool(TOKENS_OFF_AGENTS),
            ),
        }
    }
}

/// API routes that are not actions of the service layer: operating Catalyst itself.
pub const API_ROUTES_OUTSIDE_THE_TABLE: &[(&str, &str)] =
    &[("get", "/log-level"), ("put", "/log-level")];

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// The dashboard's server functions, referenced as items: renaming or removing one
    /// breaks this build, and a new one must be added here (and so to the table).
    macro_rules! server_fns {
        ($($name:ident),* $(,)?) => {{
            $( let _ = app::pages::$name; )*
            BTreeSet::from([$(stringify!($name)),*])
        }};
    }

    fn dashboard_server_fns() -> BTreeSet<&'static str> {
        server_fns!(
            list_environments,
            get_overview,
            get_environment,
            create_environment,
            redeploy_environment,
            delete_environment,
            list_repositories,
            configure_repository,
            delete_repository,
        )
    }

    /// Server functions that are not actions (session plumbing).
    const NOT_ACTIONS: &[&str] = &["current_session"];

    /// The gaps accepted on purpose: changing this list is a reviewed decision.
    const ACCEPTED_GAPS: &[(&str, &str)] = &[
        ("list_tokens", "dashboard"),
        ("create_token", "dashboard"),
        ("revoke_token", "dashboard"),
        ("list_tokens", "mcp"),
        ("create_token", "mcp"),
        ("revoke_token", "mcp"),
    ];

    #[test]
    fn names_are_unique() {
        let names: BTreeSet<_> = Action::ALL.iter().map(|a| a.surfaces().name).collect();
        assert_eq!(names.len(), Action::ALL.len());
    }

    #[test]
    fn every_surface_offers_every_action_or_says_why_not() {
        let _ = current_session_exists();
        let server_fns = dashboard_server_fns();
        let tools: BTreeSet<String> = crate::mcp::CatalystMcp::tool_names().into_iter().collect();
        let doc = crate::api::v1::openapi();
        let mut routes: BTreeSet<(String, String)> = BTreeSet::new();
        for (path, item) in &doc.paths.paths {
            let value = serde_json::to_value(item).unwrap();
            for method in ["get", "post", "put", "delete", "patch"] {
                if value.get(method).is_some() {
                    routes.insert((method.to_owned(), path.clone()));
                }
            }
        }

        let mut gaps = Vec::new();
        let mut used_fns = BTreeSet::new();
        let mut used_tools = BTreeSet::new();
        let mut used_routes = BTreeSet::new();
        for action in Action::ALL {
            let s = action.surfaces();
            match s.dashboard {
                Dashboard::ServerFn(f) => {
                    assert!(
                        server_fns.contains(f),
                        "{}: no dashboard server fn {f}",
                        s.name
                    );
                    used_fns.insert(f);
                }
                Dashboard::Route(r) => assert!(r.starts_with('/'), "{}", s.name),
                Dashboard::Missing(why) => {
                    assert!(!why.is_empty());
                    gaps.push((s.name, "dashboard"));
                }
            }
            match s.mcp {
                Mcp::Tool(t) => {
                    assert!(tools.contains(t), "{}: no MCP tool {t}", s.name);
                    used_tools.insert(t.to_owned());
                }
                Mcp::Missing(why) => {
                    assert!(!why.is_empty());
                    gaps.push((s.name, "mcp"));
                }
            }
            assert!(!s.api.is_empty(), "{}: no API route", s.name);
            for (method, path) in s.api {
                let key = ((*method).to_owned(), format!("/api/v1{path}"));
                assert!(
                    routes.contains(&key),
                    "{}: the API has no {method} {path}",
                    s.name
                );
                used_routes.insert(key);
            }
        }
        // Nothing on a surface that the table does not know.
        for f in &server_fns {
            assert!(
                used_fns.contains(f) || NOT_ACTIONS.contains(f),
                "dashboard server fn {f} is not in the action table"
            );
        }
        for t in &tools {
            assert!(
                used_tools.contains(t),
                "MCP tool {t} is not in the action table"
            );
        }
        for (method, path) in &routes {
            assert!(
                used_routes.contains(&(method.clone(), path.clone()))
                    || API_ROUTES_OUTSIDE_THE_TABLE
                        .iter()
                        .any(|(m, p)| m == method && format!("/api/v1{p}") == *path),
                "API route {method} {path} is not in the action table"
            );
        }
        let mut accepted: Vec<_> = ACCEPTED_GAPS.to_vec();
        accepted.sort();
        gaps.sort();
        assert_eq!(
            gaps, accepted,
            "a surface lacks an action the others have (or a listed gap was closed)"
        );
    }

    fn current_session_exists() -> &'static str {
        let _ = app::pages::current_session;
        "current_session"
    }
}
