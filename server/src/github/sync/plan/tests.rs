use chrono::TimeZone;

use super::*;
use crate::core::comment::render;
use crate::store::entities::{preview_environment, repository};

fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + secs, 0).unwrap()
}

pub(in crate::github::sync) fn candidate(
    status: &str,
    fork: bool,
    labels: &[&str],
) -> PublishCandidate {
    let labels: Vec<String> = labels.iter().map(|l| (*l).to_owned()).collect();
    PublishCandidate {
        environment: preview_environment::Model {
            id: "env-1".into(),
            repository_id: "repo-1".into(),
            pull_request_id: "pr-1".into(),
            pr_number: 7,
            namespace: "pr-web-7".into(),
            url: Some("https://pr-web-7.preview.example.com".into()),
            status: status.into(),
            last_error: None,
            deletion_stuck: false,
            created_at: at(0),
            updated_at: at(500),
            ready_at: None,
            deleted_at: None,
        },
        pull_request: pull_request::Model {
            id: "pr-1".into(),
            repository_full_name: "acme/web".into(),
            repository_key: "acme/web".into(),
            repository_id: Some("repo-1".into()),
            number: 7,
            title: "Add things".into(),
            head_sha: "a".repeat(40),
            head_ref: "feature".into(),
            base_ref: "main".into(),
            author: "octocat".into(),
            is_fork: fork,
            draft: false,
            labels: crate::store::encode_list(&labels),
            state: "open".into(),
            merged: false,
            github_updated_at: at(1),
            installation_id: Some(9),
            configured: true,
            config_missing_notified_at: None,
            opened_by_webhook: false,
            created_at: at(0),
            updated_at: at(900),
        },
        repository: repository::Model {
            id: "repo-1".into(),
            project_id: "p".into(),
            full_name: "acme/web".into(),
            full_name_key: "acme/web".into(),
            namespace_slug: "web".into(),
            chart_repo: None,
            chart_path: None,
            chart_version: None,
            values_yaml: None,
            values_files: "[]".into(),
            build_dockerfile: None,
            build_context: None,
            image_pattern: None,
            health_path: "/healthz".into(),
            quota_cpu: None,
            quota_memory: None,
            quota_pods: None,
            secrets: "[]".into(),
            secret_store_namespace: None,
            required_label: None,
            deploy_drafts: true,
            fork_opt_in_label: None,
            installation_id: None,
            created_at: at(0),
            updated_at: at(0),
        },
        deployment: None,
        queue_position: None,
        publication: None,
        engine_state: None,
        config: None,
    }
}

pub(in crate::github::sync) fn attempt(phase: &str) -> deployment::Model {
    deployment::Model {
        id: "dep-1".into(),
        environment_id: "env-1".into(),
        attempt: 1,
        head_sha: "a".repeat(40),
        phase: phase.into(),
        queued_at: at(10),
        provisioning_at: Some(at(12)),
        deploying_at: Some(at(20)),
        verifying_at: None,
        finished_at: None,
        outcome: None,
        error: None,
        failed_check: None,
        log_excerpt: None,
        created_at: at(10),
        updated_at: at(999),
    }
}

fn settings() -> GithubSettings {
    GithubSettings::new(1, crate::github::PrivateKeySource::Pem(Vec::new()), None)
}

#[test]
fn web_urls_follow_the_api_url() {
    assert_eq!(
        repository_web_url("https://api.github.com/", "acme/web"),
        "https://github.com/acme/web"
    );
    assert_eq!(
        repository_web_url("https://ghe.example.com/api/v3", "acme/web"),
        "https://ghe.example.com/acme/web"
    );
}

#[test]
fn pending_shows_the_queue_position_and_no_url() {
    let mut c = candidate("pending", false, &[]);
    c.queue_position = Some(3);
    let plan = plan(&c, &settings(), None).unwrap().unwrap();
    assert_eq!(
        plan.view.status,
        CommentStatus::Pending {
            queue_position: Some(3)
        }
    );
    assert_eq!(plan.view.preview_url, None);
    assert_eq!(plan.deployment, None);
    assert_eq!(plan.view.updated_at, at(1), "the newest visible fact");
}

#[test]
fn a_running_attempt_is_in_progress_with_its_phases() {
    let mut c = candidate("deploying", false, &[]);
    c.deployment = Some(attempt("deploying"));
    let plan = plan(&c, &settings(), None).unwrap().unwrap();
    assert_eq!(plan.view.status, CommentStatus::Deploying);
    let phases: Vec<_> = plan.view.phases.iter().map(|p| p.phase.as_str()).collect();
    assert_eq!(phases, ["queued", "provisioning", "deploying"]);
    assert_eq!(plan.view.phases[0].finished_at, Some(at(12)));
    assert_eq!(plan.view.phases[2].finished_at, None);
    let intent = plan.deployment.unwrap();
    assert_eq!(intent.attempt, "dep-1");
    assert_eq!(intent.status.state, DeploymentState::InProgress);
    assert_eq!(intent.status.environment_url, None);
    assert_eq!(plan.view.updated_at, at(20));
}

#[test]
fn ready_and_removed_environments_map_to_success_and_inactive() {
    let mut c = candidate("ready", false, &[]);
    let mut done = attempt("succeeded");
    done.finished_at = Some(at(60));
    c.deployment = Some(done);
    let ready = plan(&c, &settings(), None).unwrap().unwrap();
    assert_eq!(ready.view.status, CommentStatus::Ready);
    assert!(ready.view.preview_url.is_some());
    let intent = ready.deployment.unwrap();
    assert_eq!(intent.status.state, DeploymentState::Success);
    assert_eq!(
        intent.status.environment_url.as_deref(),
        Some("https://pr-web-7.preview.example.com")
    );
    c.environment.status = "deleted".into();
    let gone = plan(&c, &settings(), None).unwrap().unwrap();
    assert_eq!(gone.view.status, CommentStatus::CleanedUp);
    assert_eq!(
        gone.deployment.unwrap().status.state,
        DeploymentState::Inactive
    );
}

#[test]
fn forks_wait_for_the_label_and_other_gates_stay_silent() {
    let c = candidate("pending", true, &[]);
    let plan_ = plan(&c, &settings(), None).unwrap().unwrap();
    assert_eq!(
        plan_.view.status,
        CommentStatus::ForkAwaitingLabel {
            label: "preview".into()
        }
    );
    assert_eq!(plan_.view.namespace, None);
    let labelled = candidate("pending", true, &["Preview"]);
    assert!(matches!(
        plan(&labelled, &settings(), None)
            .unwrap()
            .unwrap()
            .view
            .status,
        CommentStatus::Pending { .. }
    ));
    let mut required = candidate("pending", false, &[]);
    required.repository.required_label = Some("deploy-me".into());
    assert_eq!(plan(&required, &settings(), None).unwrap(), None);
}

#[test]
fn the_fingerprint_covers_comment_and_deployment() {
    let mut c = candidate("deploying", false, &[]);
    c.deployment = Some(attempt("deploying"));
    let a = plan(&c, &settings(), None).unwrap().unwrap();
    let body = render(&a.view);
    let with = fingerprint(&body, a.deployment.as_ref());
    assert_ne!(with, fingerprint(&body, None));
    assert_eq!(with, fingerprint(&body, a.deployment.as_ref()));
    let limited = plan(&c, &settings(), Some(at(3600))).unwrap().unwrap();
    assert_ne!(render(&limited.view), body, "the rate-limit note shows");
}

#[test]
fn an_environment_removed_after_the_ttl_says_it_expired() {
    let mut settings = settings();
    settings.default_policy.ttl = Some(std::time::Duration::from_secs(72 * 3600));
    let mut c = candidate("deleted", false, &[]);
    // Idle since at(1); deleted three days and a bit later.
    c.environment.deleted_at = Some(at(1 + 72 * 3600 + 60));
    let plan = plan(&c, &settings, None).unwrap().unwrap();
    assert_eq!(
        plan.view.status,
        CommentStatus::Expired {
            idle_hours: 72,
            keep_label: "keep".into()
        }
    );
    // A closed PR's environment is cleaned up, not expired.
    c.pull_request.state = "closed".into();
    let plan = plan_of(&c, &settings);
    assert_eq!(plan.view.status, CommentStatus::CleanedUp);
    // Deleted before the TTL ran out (e.g. the fork label was removed): cleaned up.
    c.pull_request.state = "open".into();
    c.environment.deleted_at = Some(at(3600));
    assert_eq!(plan_of(&c, &settings).view.status, CommentStatus::CleanedUp);
}

fn plan_of(c: &PublishCandidate, settings: &GithubSettings) -> Plan {
    plan(c, settings, None).unwrap().unwrap()
}

#[test]
fn a_failed_environment_shows_its_scheduled_retry_or_capacity_requeue() {
    use crate::store::engine::engine_state;
    let mut c = candidate("failed", false, &[]);
    c.deployment = Some(attempt("failed"));
    let state = |number: Option<i32>, limit: Option<i32>| engine_state::Model {
        environment_id: "env-1".into(),
        queue_position: None,
        deletion_requested_at: None,
        failure_notified_at: None,
        updated_at: at(0),
        retry_at: Some(at(120)),
        retry_number: number,
        retry_limit: limit,
    };
    c.engine_state = Some(state(Some(1), Some(3)));
    let CommentStatus::Failed(f) = plan_of(&c, &settings()).view.status else {
        panic!("not failed");
    };
    assert_eq!(
        f.retry,
        RetryNote::Scheduled {
            retry: 1,
            max_retries: 3,
            at: at(120)
        }
    );
    c.engine_state = Some(state(None, None));
    let CommentStatus::Failed(f) = plan_of(&c, &settings()).view.status else {
        panic!("not failed");
    };
    assert_eq!(f.retry, RetryNote::Requeued { at: at(120) });
    c.engine_state = None;
    let CommentStatus::Failed(f) = plan_of(&c, &settings()).view.status else {
        panic!("not failed");
    };
    assert_eq!(f.retry, RetryNote::GivenUp);
}

#[test]
fn a_configuration_failure_shows_the_recorded_problem_at_its_commit() {
    use crate::engine::preview_config::RecordedConfig;
    use crate::github::repo_config::parse_preview_config;
    use crate::store::pull_request_configs::pull_request_config;
    let mut c = candidate("failed", false, &[]);
    let mut d = attempt("failed");
    d.outcome = Some("configuration".into());
    c.deployment = Some(d);
    let problem = parse_preview_config("chart:\n  path: /abs\n").unwrap_err();
    let (state, body) = RecordedConfig::Invalid(problem.clone()).to_row();
    let row = |sha: String| pull_request_config::Model {
        pull_request_id: "pr-1".into(),
        head_sha: sha,
        state: state.into(),
        body: body.clone(),
        fetched_at: at(5),
    };
    c.config = Some(row("a".repeat(40)));
    assert_eq!(
        plan_of(&c, &settings()).view.status,
        CommentStatus::ConfigurationError(problem.to_comment())
    );
    // Recorded at another commit: not this attempt's problem.
    c.config = Some(row("b".repeat(40)));
    assert!(matches!(
        plan_of(&c, &settings()).view.status,
        CommentStatus::Failed(_)
    ));
}
