//! Pure builder for the pull request pod: a Job that checks out the head SHA (init
//! container, `git`), builds and pushes the image (init container, Kaniko) unless a
//! prebuilt image is configured, then runs `helm upgrade --install --wait` into its own
//! namespace as `catalyst-deployer`.
//!
//! Every user-supplied word reaches `sh -c` through [`shell::quote`]; credentials reach
//! the pod only as `secretKeyRef`s and Secret volumes, never as literal values.

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    Container, EmptyDirVolumeSource, EnvVar, EnvVarSource, KeyToPath, PodSpec, PodTemplateSpec,
    ResourceRequirements, SecretKeySelector, SecretVolumeSource, SecurityContext, Volume,
    VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::labels;
use super::objects::{DEPLOYER, quantities};
use super::settings::ClusterSettings;
use super::shell::{self, quote};
use super::spec::{ChartSource, EnvironmentSpec, ImageSource};

const WORKSPACE: &str = "/workspace";
const SOURCE_DIR: &str = "/workspace/src";
const VALUES_FILE: &str = "/workspace/catalyst-values.yaml";
const WORKSPACE_VOLUME: &str = "workspace";
const REGISTRY_VOLUME: &str = "registry-credentials";
/// Where Kaniko looks for `config.json` with registry credentials.
const KANIKO_DOCKER_DIR: &str = "/kaniko/.docker";

/// The Job of one deployment attempt: `catalyst-deploy-{sha12}-{attempt}`. The attempt
/// makes a retry of the same SHA a new Job while a restarted engine that starts the
/// same attempt again finds the Job it already created.
pub fn job_name(spec: &EnvironmentSpec, attempt: u32) -> String {
    format!(
        "catalyst-deploy-{}-{attempt}",
        spec.short_sha().to_ascii_lowercase()
    )
}

/// Labels of the Job and its pod: the environment's, plus role and attempt.
pub fn job_labels(spec: &EnvironmentSpec, attempt: u32) -> BTreeMap<String, String> {
    let mut l = spec.labels();
    l.insert(
        labels::ROLE.to_owned(),
        labels::ROLE_PULL_REQUEST_POD.to_owned(),
    );
    l.insert(labels::ATTEMPT.to_owned(), attempt.to_string());
    l
}

/// The pull request pod's Job. Call [`EnvironmentSpec::validate`] first.
pub fn pr_job(spec: &EnvironmentSpec, attempt: u32, s: &ClusterSettings) -> Job {
    let labels = job_labels(spec, attempt);
    let mut init_containers = vec![checkout_container(spec, s)];
    let mut volumes = vec![Volume {
        name: WORKSPACE_VOLUME.to_owned(),
        empty_dir: Some(EmptyDirVolumeSource::default()),
        ..Volume::default()
    }];
    if let ImageSource::Build { .. } = spec.image {
        init_containers.push(build_container(spec, s));
        volumes.push(Volume {
            name: REGISTRY_VOLUME.to_owned(),
            secret: Some(SecretVolumeSource {
                secret_name: Some(s.registry_secret.clone()),
                items: Some(vec![KeyToPath {
                    key: ".dockerconfigjson".to_owned(),
                    path: "config.json".to_owned(),
                    ..KeyToPath::default()
                }]),
                // Registries that accept anonymous pushes (a dev cluster) need none.
                optional: Some(true),
                ..SecretVolumeSource::default()
            }),
            ..Volume::default()
        });
    }
    Job {
        metadata: ObjectMeta {
            name: Some(job_name(spec, attempt)),
            namespace: Some(spec.namespace.to_string()),
            labels: Some(labels.clone()),
            annotations: Some(spec.annotations()),
            ..ObjectMeta::default()
        },
        spec: Some(JobSpec {
            // A failed deploy is reported and retried by the engine with backoff, not
            // silently re-run by the Job controller.
            backoff_limit: Some(0),
            active_deadline_seconds: Some(secs(s.job_deadline)),
            ttl_seconds_after_finished: Some(secs(s.job_ttl_after_finished) as i32),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    service_account_name: Some(DEPLOYER.to_owned()),
                    restart_policy: Some("Never".to_owned()),
                    enable_service_links: Some(false),
                    init_containers: Some(init_containers),
                    containers: vec![deploy_container(spec, s)],
                    volumes: Some(volumes),
                    ..PodSpec::default()
                }),
            },
            ..JobSpec::default()
        }),
        ..Job::default()
    }
}

fn secs(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX).max(1)
}

fn resources(s: &ClusterSettings) -> ResourceRequirements {
    ResourceRequirements {
        requests: Some(quantities(&s.job_requests)),
        limits: Some(quantities(&s.job_limits)),
        ..ResourceRequirements::default()
    }
}

fn workspace_mount() -> VolumeMount {
    VolumeMount {
        name: WORKSPACE_VOLUME.to_owned(),
        mount_path: WORKSPACE.to_owned(),
        ..VolumeMount::default()
    }
}

fn no_escalation() -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        ..SecurityContext::default()
    }
}

/// An environment variable read from a Secret key; `optional` so public repositories
/// need no Git credentials.
fn secret_env(name: &str, secret: &str, key: &str) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: secret.to_owned(),
                key: key.to_owned(),
                optional: Some(true),
            }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    }
}

fn env(name: &str, value: &str) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value: Some(value.to_owned()),
        ..EnvVar::default()
    }
}

/// Git's credential helper protocol, answered from the environment so the token never
/// appears in the pod spec, the command line or `.git/config`.
const CREDENTIAL_HELPER: &str = "!f() { test \"$1\" = get && printf 'username=%s\\npassword=%s\\n' \"${GIT_USERNAME:-x-access-token}\" \"$GIT_PASSWORD\"; }; f";

/// The checkout script: fetch exactly the head SHA (GitHub serves any reachable SHA;
/// `refs/pull/N/head` is the fallback for hosts that do not), detached.
pub fn checkout_script(spec: &EnvironmentSpec) -> String {
    let sha = quote(spec.head_sha.as_str());
    let pull_ref = quote(&format!("refs/pull/{}/head", spec.pr_number));
    [
        "set -eu".to_owned(),
        format!("git init -q {SOURCE_DIR}"),
        format!("cd {SOURCE_DIR}"),
        format!("git remote add origin {}", quote(&spec.clone_url)),
        format!(
            "if [ -n \"${{GIT_PASSWORD:-}}\" ]; then git config credential.helper {}; fi",
            quote(CREDENTIAL_HELPER)
        ),
        format!("git fetch -q --depth 1 origin {sha} || git fetch -q origin {pull_ref}"),
        format!("git checkout -q --detach {sha}"),
    ]
    .join("\n")
}

fn checkout_container(spec: &EnvironmentSpec, s: &ClusterSettings) -> Container {
    Container {
        name: "checkout".to_owned(),
        image: Some(s.git_image.clone()),
        command: Some(vec![
            "sh".to_owned(),
            "-c".to_owned(),
            checkout_script(spec),
        ]),
        env: Some(vec![
            secret_env("GIT_USERNAME", &s.git_secret, "username"),
            secret_env("GIT_PASSWORD", &s.git_secret, "password"),
        ]),
        volume_mounts: Some(vec![workspace_mount()]),
        resources: Some(resources(s)),
        security_context: Some(no_escalation()),
        ..Container::default()
    }
}

/// Kaniko takes its arguments as argv (no shell), so they need no quoting; the paths
/// were checked to stay inside the checkout.
pub fn build_args(spec: &EnvironmentSpec, s: &ClusterSettings) -> Vec<String> {
    let ImageSource::Build {
        dockerfile,
        context,
    } = &spec.image
    else {
        return Vec::new();
    };
    vec![
        format!("--context=dir://{SOURCE_DIR}/{context}"),
        format!("--dockerfile={SOURCE_DIR}/{dockerfile}"),
        format!("--destination={}", spec.image_ref(s).reference()),
        format!(
            "--label=org.opencontainers.image.revision={}",
            spec.head_sha
        ),
    ]
}

fn build_container(spec: &EnvironmentSpec, s: &ClusterSettings) -> Container {
    Container {
        name: "build".to_owned(),
        image: Some(s.builder_image.clone()),
        args: Some(build_args(spec, s)),
        volume_mounts: Some(vec![
            workspace_mount(),
            VolumeMount {
                name: REGISTRY_VOLUME.to_owned(),
                mount_path: KANIKO_DOCKER_DIR.to_owned(),
                read_only: Some(true),
                ..VolumeMount::default()
            },
        ]),
        resources: Some(resources(s)),
        ..Container::default()
    }
}

/// The deploy script: clear a release left half-done by a cancelled Job (Helm refuses
/// to upgrade a `pending-*` release), then `helm upgrade --install --wait`.
pub fn deploy_script(spec: &EnvironmentSpec, s: &ClusterSettings) -> String {
    let release = quote(&s.helm_release);
    let ns = quote(spec.namespace.as_str());
    let image = spec.image_ref(s);
    let mut lines = vec!["set -eu".to_owned(), format!("cd {SOURCE_DIR}")];
    if spec.values_yaml.is_some() {
        lines.push(format!(
            "printf '%s\\n' \"$CATALYST_VALUES\" > {VALUES_FILE}"
        ));
    }
    lines.push(format!(
        "case \"$(helm status {release} --namespace {ns} 2>/dev/null | sed -n 's/^STATUS: //p')\" in \
         pending-*) helm rollback {release} --namespace {ns} --wait || helm uninstall {release} --namespace {ns} --wait ;; esac"
    ));

    let mut helm: Vec<String> = vec!["helm".into(), "upgrade".into(), "--install".into()];
    helm.push(s.helm_release.clone());
    match &spec.chart {
        ChartSource::InRepository { path } => {
            let chart = format!("./{path}");
            lines.push(format!(
                "if [ -f {dir}/Chart.lock ]; then helm dependency build {dir}; fi",
                dir = quote(&chart)
            ));
            helm.push(chart);
        }
        ChartSource::Remote {
            chart,
            repo_url,
            version,
        } => {
            helm.push(chart.clone());
            if let Some(url) = repo_url {
                helm.extend(["--repo".to_owned(), url.clone()]);
            }
            if let Some(v) = version {
                helm.extend(["--version".to_owned(), v.clone()]);
            }
        }
    }
    helm.extend([
        "--namespace".to_owned(),
        spec.namespace.to_string(),
        "--wait".to_owned(),
        "--timeout".to_owned(),
        format!("{}s", s.helm_timeout.as_secs()),
    ]);
    for file in &spec.values_files {
        helm.extend(["--values".to_owned(), format!("./{file}")]);
    }
    if spec.values_yaml.is_some() {
        helm.extend(["--values".to_owned(), VALUES_FILE.to_owned()]);
    }
    for (key, value) in [
        ("image.repository", image.repository.as_str()),
        ("image.tag", image.tag.as_str()),
        ("ingress.host", spec.preview_host.as_str()),
    ] {
        helm.extend([
            "--set-string".to_owned(),
            format!("{key}={}", set_value(value)),
        ]);
    }
    lines.push(shell::command(helm));
    lines.join("\n")
}

/// Helm's `--set` syntax splits on `,` and treats `\` as an escape; escaping both keeps
/// a value one value.
fn set_value(v: &str) -> String {
    v.replace('\\', "\\\\").replace(',', "\\,")
}

fn deploy_container(spec: &EnvironmentSpec, s: &ClusterSettings) -> Container {
    let mut env = vec![env("HOME", "/tmp")];
    if let Some(values) = &spec.values_yaml {
        // Passed through the environment, not the script, so its content is never
        // parsed by the shell.
        env.push(self::env("CATALYST_VALUES", values));
    }
    Container {
        name: "deploy".to_owned(),
        image: Some(s.helm_image.clone()),
        command: Some(vec![
            "sh".to_owned(),
            "-c".to_owned(),
            deploy_script(spec, s),
        ]),
        env: Some(env),
        volume_mounts: Some(vec![workspace_mount()]),
        resources: Some(resources(s)),
        security_context: Some(no_escalation()),
        ..Container::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::spec::fixtures::spec;
    use crate::core::domain::PullRequestNumber;

    fn job() -> Job {
        pr_job(&spec(), 1, &ClusterSettings::default())
    }

    fn pod(job: &Job) -> PodSpec {
        job.spec.clone().unwrap().template.spec.unwrap()
    }

    fn all_containers(p: &PodSpec) -> Vec<Container> {
        p.init_containers
            .clone()
            .unwrap_or_default()
            .into_iter()
            .chain(p.containers.clone())
            .collect()
    }

    #[test]
    fn job_runs_once_with_deadline_ttl_and_the_deployer_account() {
        let j = job();
        let js = j.spec.clone().unwrap();
        assert_eq!(js.backoff_limit, Some(0));
        assert_eq!(js.active_deadline_seconds, Some(1800));
        assert_eq!(js.ttl_seconds_after_finished, Some(3600));
        let p = pod(&j);
        assert_eq!(p.service_account_name.as_deref(), Some(DEPLOYER));
        assert_eq!(p.restart_policy.as_deref(), Some("Never"));
    }

    #[test]
    fn job_name_and_labels_identify_sha_attempt_and_role() {
        let j = job();
        let name = j.metadata.name.clone().unwrap();
        assert_eq!(name, "catalyst-deploy-0123456789ab-1");
        assert!(labels::is_dns_label(&name));
        let l = j.metadata.labels.clone().unwrap();
        assert_eq!(l[labels::ROLE], labels::ROLE_PULL_REQUEST_POD);
        assert_eq!(l[labels::HEAD_SHA], spec().head_sha.0);
        let pod_labels = j.spec.unwrap().template.metadata.unwrap().labels.unwrap();
        assert_eq!(pod_labels[labels::ROLE], labels::ROLE_PULL_REQUEST_POD);
        let long = job_name(&spec(), u32::MAX);
        assert!(long.len() <= 63, "{long}");
    }

    #[test]
    fn every_container_has_resources_and_ports_have_protocols() {
        let p = pod(&job());
        let containers = all_containers(&p);
        assert_eq!(
            containers
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>(),
            ["checkout", "build", "deploy"]
        );
        for c in &containers {
            let r = c.resources.as_ref().unwrap();
            assert!(
                r.limits.as_ref().unwrap().contains_key("memory"),
                "{}",
                c.name
            );
            assert!(
                r.requests.as_ref().unwrap().contains_key("cpu"),
                "{}",
                c.name
            );
            for port in c.ports.iter().flatten() {
                assert!(port.protocol.is_some(), "{}", c.name);
            }
        }
    }

    #[test]
    fn credentials_come_only_from_secrets() {
        let p = pod(&job());
        for c in all_containers(&p) {
            for e in c.env.iter().flatten() {
                if e.name.starts_with("GIT_") {
                    assert!(e.value.is_none(), "{} has a literal value", e.name);
                    let r = e
                        .value_from
                        .as_ref()
                        .unwrap()
                        .secret_key_ref
                        .as_ref()
                        .unwrap();
                    assert_eq!(r.name, "catalyst-git");
                }
            }
        }
        let registry = p
            .volumes
            .unwrap()
            .into_iter()
            .find(|v| v.name == REGISTRY_VOLUME)
            .unwrap();
        assert_eq!(
            registry.secret.unwrap().secret_name.as_deref(),
            Some("catalyst-registry")
        );
        let json = serde_json::to_string(&job()).unwrap();
        for word in ["password\":", "token\":", "dockerconfigjson\":"] {
            assert!(!json.to_lowercase().contains(word), "{word}");
        }
    }

    #[test]
    fn checkout_fetches_the_exact_sha() {
        let script = checkout_script(&spec());
        assert!(
            script.contains(
                "git fetch -q --depth 1 origin '0123456789abcdef0123456789abcdef01234567'"
            )
        );
        assert!(script.contains("'refs/pull/42/head'"));
        assert!(script.contains("git checkout -q --detach '0123456789abcdef"));
        assert!(script.contains("'https://github.com/Acme/Web.git'"));
    }

    #[test]
    fn kaniko_pushes_to_the_registry_destination() {
        let args = build_args(&spec(), &ClusterSettings::default());
        assert!(args.contains(&"--context=dir:///workspace/src/.".to_owned()));
        assert!(args.contains(&"--dockerfile=/workspace/src/Dockerfile".to_owned()));
        assert!(args.contains(
            &"--destination=registry.catalyst.svc.cluster.local:5000/previews/web:0123456789abcdef0123456789abcdef01234567"
                .to_owned()
        ));
    }

    #[test]
    fn helm_installs_into_its_own_namespace_with_host_and_image() {
        let script = deploy_script(&spec(), &ClusterSettings::default());
        let helm = script.lines().last().unwrap();
        assert!(helm.starts_with("'helm' 'upgrade' '--install' 'preview' './deploy/chart'"));
        for part in [
            "'--namespace' 'pr-web-42'",
            "'--wait' '--timeout' '600s'",
            "'--values' './deploy/values-preview.yaml'",
            "'--values' '/workspace/catalyst-values.yaml'",
            "'--set-string' 'image.tag=0123456789abcdef0123456789abcdef01234567'",
            "'--set-string' 'ingress.host=pr-web-42.preview.example.com'",
        ] {
            assert!(helm.contains(part), "missing {part} in {helm}");
        }
    }

    #[test]
    fn prebuilt_images_skip_the_build() {
        let mut sp = spec();
        sp.image = ImageSource::Prebuilt {
            pattern: "ghcr.io/acme/web:{sha}".to_owned(),
        };
        sp.chart = ChartSource::Remote {
            chart: "oci://ghcr.io/acme/charts/web".to_owned(),
            repo_url: None,
            version: Some("1.2.3".to_owned()),
        };
        let j = pr_job(&sp, 2, &ClusterSettings::default());
        let p = pod(&j);
        let names: Vec<_> = all_containers(&p).into_iter().map(|c| c.name).collect();
        assert_eq!(names, ["checkout", "deploy"]);
        assert!(p.volumes.unwrap().iter().all(|v| v.secret.is_none()));
        let script = deploy_script(&sp, &ClusterSettings::default());
        assert!(script.contains("'oci://ghcr.io/acme/charts/web' '--version' '1.2.3'"));
        assert!(script.contains("'image.repository=ghcr.io/acme/web'"));
    }

    /// Hostile input must stay one literal word. `sh -n` checks the scripts parse, and
    /// running the words through `printf` shows what the shell would pass on.
    #[test]
    fn hostile_input_is_quoted() {
        let hostile = "'; rm -rf /";
        let mut sp = spec();
        sp.clone_url = format!("https://example.com/{hostile}");
        sp.values_files = vec![format!("x{hostile}")];
        sp.preview_host = format!("h{hostile}$(id)`id`,image.tag=evil");
        sp.values_yaml = Some(format!("a: \"{hostile}\"\n$(reboot)"));
        sp.pr_number = PullRequestNumber(7);
        let s = ClusterSettings::default();
        let deploy = deploy_script(&sp, &s);
        let checkout = checkout_script(&sp);
        for script in [&deploy, &checkout] {
            assert!(!script.contains(&format!(" {hostile}")), "{script}");
            let ok = std::process::Command::new("sh")
                .args(["-n", "-c", script])
                .status()
                .unwrap();
            assert!(ok.success(), "does not parse: {script}");
        }
        // The helm line, with `helm` replaced by printf, prints each word on a line.
        let helm = deploy
            .lines()
            .last()
            .unwrap()
            .replacen("'helm'", "printf '%s\\n'", 1);
        let out = std::process::Command::new("sh")
            .args(["-c", &helm])
            .output()
            .unwrap();
        let words: Vec<String> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect();
        assert!(words.contains(&format!("./x{hostile}")));
        assert!(words.contains(&format!(
            "ingress.host=h{hostile}$(id)`id`\\,image.tag=evil"
        )));
        // The values YAML is not in any script at all.
        assert!(!deploy.contains("reboot"));
    }
}
