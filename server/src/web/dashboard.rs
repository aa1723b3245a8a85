//! `app::service::DashboardService` for the pages: authorise, then call the service
//! layer, and translate its answers into the dashboard's DTOs and user-safe errors.

use app::auth::SignedIn;
use app::dto::{
    EnvironmentDetail, EnvironmentsOverview, RepositoryEntry, RepositoryForm, split_list,
};
use app::error::AppError;
use app::model::EnvironmentList;
use app::service::DashboardService;

use super::DashboardBackend;
use crate::api::repositories::{BuildRequest, ChartRequest, CreateRepositoryRequest, QuotaRequest};
use crate::core::domain::RepositoryName;
use crate::service::{EnvironmentForPr, RepositoryRemoval, RepositoryView, ServiceError};

fn unavailable(e: impl std::fmt::Display) -> AppError {
    tracing::error!(error = %e, "a dashboard request failed in the service layer");
    AppError::Unavailable("the database could not be read".into())
}

fn service_error(e: ServiceError) -> AppError {
    match e {
        ServiceError::Conflict(m) => AppError::Conflict(m),
        other => unavailable(other),
    }
}

fn opt(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

/// The form as the JSON API's request, so both are validated by the same rules.
pub fn request_of(form: &RepositoryForm) -> Result<CreateRepositoryRequest, AppError> {
    let pods = match opt(&form.quota_pods) {
        None => None,
        Some(p) => Some(p.parse::<i32>().map_err(|_| AppError::Invalid {
            field: "quota_pods".into(),
            message: format!("{p:?} is not a whole number"),
        })?),
    };
    Ok(CreateRepositoryRequest {
        full_name: form.full_name.trim().to_owned(),
        project: None,
        installation_id: None,
        chart: Some(ChartRequest {
            repo: opt(&form.chart_repo),
            path: opt(&form.chart_path),
            version: opt(&form.chart_version),
        }),
        values: opt(&form.values),
        values_files: split_list(&form.values_files),
        build: Some(BuildRequest {
            dockerfile: opt(&form.build_dockerfile),
            context: opt(&form.build_context),
        }),
        image_pattern: opt(&form.image_pattern),
        health_path: opt(&form.health_path),
        quota: Some(QuotaRequest {
            cpu: opt(&form.quota_cpu),
            memory: opt(&form.quota_memory),
            pods,
        }),
        secrets: split_list(&form.secrets),
        secret_store_namespace: opt(&form.secret_store_namespace),
        required_label: opt(&form.required_label),
        deploy_drafts: form.deploy_drafts,
        fork_opt_in_label: opt(&form.fork_opt_in_label),
    })
}

/// A stored repository as the form shows it.
pub fn entry_of(v: RepositoryView) -> RepositoryEntry {
    let build = v.build.clone();
    RepositoryEntry {
        id: v.id,
        namespace_slug: v.namespace_slug,
        updated_at: v.updated_at,
        form: RepositoryForm {
            full_name: v.full_name,
            chart_repo: v.chart.repo.unwrap_or_default(),
            chart_path: v.chart.path.unwrap_or_default(),
            chart_version: v.chart.version.unwrap_or_default(),
            values: v.values.unwrap_or_default(),
            values_files: v.values_files.join("\n"),
            build_dockerfile: build
                .as_ref()
                .and_then(|b| b.dockerfile.clone())
                .unwrap_or_default(),
            build_context: build.and_then(|b| b.context).unwrap_or_default(),
            image_pattern: v.image_pattern.unwrap_or_default(),
            health_path: v.health_path,
            quota_cpu: v.quota.cpu.unwrap_or_default(),
            quota_memory: v.quota.memory.unwrap_or_default(),
            quota_pods: v.quota.pods.map(|p| p.to_string()).unwrap_or_default(),
            secrets: v.secrets.join(", "),
            secret_store_namespace: v.secret_store_namespace.unwrap_or_default(),
            required_label: v.required_label.unwrap_or_default(),
            fork_opt_in_label: v.fork_opt_in_label.unwrap_or_default(),
            deploy_drafts: v.deploy_drafts,
        },
    }
}

impl DashboardBackend {
    async fn authorize(&self, who: &SignedIn, id: &str) -> Result<(), AppError> {
        let env = self
            .service
            .environment_summary(id)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| AppError::NotFound("no such environment".into()))?;
        if self.can_manage(who, &env.repository).await {
            Ok(())
        } else {
            tracing::info!(login = %who.viewer.login, repository = %env.repository, "refused a change");
            Err(AppError::Forbidden(format!(
                "Only operators and people who can push to {} may change this environment.",
                env.repository
            )))
        }
    }
}

#[async_trait::async_trait]
impl DashboardService for DashboardBackend {
    async fn list_environments(&self) -> Result<EnvironmentList, AppError> {
        self.service.environments().await.map_err(unavailable)
    }

    async fn environments_overview(&self) -> Result<EnvironmentsOverview, AppError> {
        self.service
            .environments_overview()
            .await
            .map_err(unavailable)
    }

    async fn get_environment(
        &self,
        actor: Option<&SignedIn>,
        id: &str,
    ) -> Result<EnvironmentDetail, AppError> {
        let mut detail = self
            .service
            .get_environment(id)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| AppError::NotFound("There is no environment with this id.".into()))?;
        detail.can_manage = match actor {
            Some(who) => self.can_manage(who, &detail.env.repository).await,
            None => false,
        };
        Ok(detail)
    }

    async fn redeploy_environment(&self, actor: &SignedIn, id: &str) -> Result<(), AppError> {
        self.authorize(actor, id).await?;
        match self
            .service
            .redeploy_environment(id, &actor.viewer.login)
            .await
        {
            Ok(true) => Ok(()),
            Ok(false) => Err(AppError::NotFound("no such environment".into())),
            Err(e) => Err(service_error(e)),
        }
    }

    async fn delete_environment(&self, actor: &SignedIn, id: &str) -> Result<(), AppError> {
        self.authorize(actor, id).await?;
        match self
            .service
            .delete_environment(id, &actor.viewer.login)
            .await
        {
            Ok(true) => {
                tracing::info!(login = %actor.viewer.login, environment = id, "environment deletion requested");
                Ok(())
            }
            Ok(false) => Err(AppError::NotFound("no such environment".into())),
            Err(e) => Err(service_error(e)),
        }
    }

    async fn list_repositories(&self) -> Result<Vec<RepositoryEntry>, AppError> {
        Ok(self
            .service
            .list_repositories()
            .await
            .map_err(unavailable)?
            .into_iter()
            .map(entry_of)
            .collect())
    }

    async fn configure_repository(
        &self,
        actor: &SignedIn,
        form: RepositoryForm,
    ) -> Result<RepositoryEntry, AppError> {
        if !actor.viewer.operator {
            return Err(AppError::Forbidden(
                "Only operators can configure repositories.".into(),
            ));
        }
        let new = request_of(&form)?.validate().map_err(|e| {
            let field = e.detail["field"].as_str().unwrap_or("full_name").to_owned();
            let message = e.detail["message"].as_str().unwrap_or(&e.error).to_owned();
            AppError::Invalid { field, message }
        })?;
        let change = self
            .service
            .configure_repository(new)
            .await
            .map_err(service_error)?;
        Ok(entry_of(change.view().clone()))
    }

    async fn create_environment(
        &self,
        actor: &SignedIn,
        repository: &str,
        pr_number: u64,
    ) -> Result<String, AppError> {
        let repo = RepositoryName::parse(repository.trim()).map_err(|_| AppError::Invalid {
            field: "repository".into(),
            message: "expected owner/name, e.g. acme/web".into(),
        })?;
        if pr_number == 0 {
            return Err(AppError::Invalid {
                field: "pr_number".into(),
                message: "pull request numbers start at 1".into(),
            });
        }
        let repo = repo.to_string();
        if !self.can_manage(actor, &repo).await {
            tracing::info!(login = %actor.viewer.login, repository = %repo, "refused an environment request");
            return Err(AppError::Forbidden(format!(
                "Only operators and people who can push to {repo} may create its environments."
            )));
        }
        // The same service action as `POST /api/v1/environments` and the MCP tool.
        match self
            .service
            .create_environment_for_pr(&repo, pr_number)
            .await
            .map_err(service_error)?
        {
            EnvironmentForPr::RepositoryNotConfigured => Err(AppError::Invalid {
                field: "repository".into(),
                message: format!(
                    "repository {repo} is not configured; configure it on the Repositories page first"
                ),
            }),
            EnvironmentForPr::PullRequestUnknown => Err(AppError::Invalid {
                field: "pr_number".into(),
                message: format!(
                    "Catalyst does not know pull request #{pr_number} of {repo}; open the pull request on GitHub, then wait for its webhook or the next sweep (every few minutes) and try again"
                ),
            }),
            EnvironmentForPr::PullRequestClosed => Err(AppError::Invalid {
                field: "pr_number".into(),
                message: format!(
                    "pull request #{pr_number} of {repo} is closed; reopen it to get an environment"
                ),
            }),
            EnvironmentForPr::Wanted { environment_id, .. } => {
                tracing::info!(login = %actor.viewer.login, repository = %repo, pr = pr_number, "environment requested");
                Ok(environment_id)
            }
        }
    }

    async fn delete_repository(&self, actor: &SignedIn, full_name: &str) -> Result<(), AppError> {
        if !actor.viewer.operator {
            return Err(AppError::Forbidden(
                "Only operators can delete repositories.".into(),
            ));
        }
        let name = RepositoryName::parse(full_name.trim()).map_err(|_| AppError::Invalid {
            field: "full_name".into(),
            message: "expected owner/name, e.g. acme/web".into(),
        })?;
        // The same service action as `DELETE /api/v1/repositories/{owner}/{name}`.
        match self
            .service
            .delete_repository(&name.to_string())
            .await
            .map_err(service_error)?
        {
            RepositoryRemoval::NotConfigured => Err(AppError::NotFound(format!(
                "repository {name} is not configured"
            ))),
            RepositoryRemoval::HasEnvironments(ids) => Err(AppError::Conflict(format!(
                "repository {name} still has {} environment(s); delete them first and wait until they are deleted",
                ids.len()
            ))),
            RepositoryRemoval::Removed => {
                tracing::info!(login = %actor.viewer.login, repository = %name, "repository removed");
                Ok(())
            }
        }
    }

    fn sign_in_enabled(&self) -> bool {
        DashboardBackend::sign_in_enabled(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_fields_map_onto_the_api_request() {
        let form = RepositoryForm {
            full_name: " acme/web ".into(),
            quota_cpu: "500m".into(),
            secrets: "db, api-key".into(),
            health_path: "/healthz".into(),
            ..RepositoryForm::default()
        };
        let r = request_of(&form).expect("request");
        assert_eq!(r.full_name, "acme/web");
        assert_eq!(r.secrets, vec!["db", "api-key"]);
        assert_eq!(
            r.quota.as_ref().and_then(|q| q.cpu.as_deref()),
            Some("500m")
        );
        let bad = RepositoryForm {
            quota_pods: "many".into(),
            ..form
        };
        assert!(
            matches!(request_of(&bad), Err(AppError::Invalid { field, .. }) if field == "quota_pods")
        );
    }
}
