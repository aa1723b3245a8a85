//! Least privilege, checked against what the code does rather than what we believe it
//! does:
//!
//! 1. the Helm chart's RBAC (`helm template charts/catalyst`) grants every request
//!    Catalyst makes during a pull request's whole life — create, deploy, ready, push,
//!    redeploy, a failed deployment, logs, usage, metrics, deletion — at the scope it is
//!    made, and its ClusterRole grants nothing else than those requests and the
//!    `catalyst-deployer` Role that Catalyst hands out (which the API server only lets
//!    it grant if it holds it);
//! 2. Catalyst really runs under that RBAC: the engine and the leader election
//!    authenticate to the testkit's
//!    Kubernetes double, which enforces RBAC like an API server, with a token of the
//!    chart's ServiceAccount; the namespaced Role grants no lease verb left unused;
//! 3. a pull request's own account (what its chart is installed with) can install an
//!    ordinary chart into its namespace and nothing else: no Namespaces, no cluster-wide
//!    RBAC, nothing in another preview or in `kube-system`, no lifting its isolation or
//!    quota, no granting itself more.

mod engine_support;
#[path = "common/test_db.rs"]
mod test_db;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use catalyst_server::core::domain::Role as TokenRole;
use catalyst_server::leadership::{LeaderSettings, Leadership};
use catalyst_server::store::operator_requests;
use catalyst_server::{cli, cluster::objects::DEPLOYER};
use catalyst_testkit::kube::rbac::{self, Policy, PolicyRule, UserInfo};
use catalyst_testkit::kube::request_info::RequestInfo;
use catalyst_testkit::{JobBehaviour, Match, RecordedRequest};
use engine_support::{Backend, Harness, app_objects, sha, start};
use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};

/// Where the chart is installed in these tests.
const RELEASE_NAMESPACE: &str = "catalyst";
const RELEASE: &str = "catalyst";

// ---- the chart ---------------------------------------------------------------------

/// `helm` from `HELM`, `PATH` or where `scripts/tools.sh` installs it. Missing in CI is
/// a failure (CI installs it before the tests); on a laptop without it the chart tests
/// say so and pass.
fn helm() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("HELM") {
        return Some(PathBuf::from(p));
    }
    let candidates = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("helm"))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default()
        .into_iter()
        .chain(
            std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/catalyst-tools/bin/helm")),
        );
    for c in candidates {
        if c.is_file() {
            return Some(c);
        }
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "helm is not installed; CI must install it (scripts/tools.sh ensure_helm) before the tests"
    );
    eprintln!("helm not found: skipping the chart check (run scripts/tools.sh ensure_helm)");
    None
}

/// The chart's objects as `helm template` renders them (default values).
fn render_chart(helm: &Path) -> Vec<Value> {
    let chart = Path::new(env!("CARGO_MANIFEST_DIR")).join("../charts/catalyst");
    let out = Command::new(helm)
        .args(["template", RELEASE])
        .arg(&chart)
        .args(["--namespace", RELEASE_NAMESPACE])
        .output()
        .expect("helm runs");
    assert!(
        out.status.success(),
        "helm template failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("helm prints UTF-8");
    serde_yaml::Deserializer::from_str(&text)
        .filter_map(|doc| {
            let v: serde_yaml::Value = serde::Deserialize::deserialize(doc).ok()?;
            let v: Value = serde_json::to_value(v).ok()?;
            v.is_object().then_some(v)
        })
        .collect()
}

fn of_kind<'a>(objects: &'a [Value], kind: &str) -> Vec<&'a Value> {
    objects.iter().filter(|o| o["kind"] == kind).collect()
}

fn rules(obj: &Value) -> Vec<PolicyRule> {
    serde_json::from_value(obj["rules"].clone()).expect("rules parse")
}

/// The chart's ServiceAccount, as the API server knows it.
fn catalyst_user(objects: &[Value]) -> UserInfo {
    let sa = of_kind(objects, "ServiceAccount");
    assert_eq!(sa.len(), 1, "the chart has one ServiceAccount");
    let name = sa[0]["metadata"]["name"].as_str().unwrap();
    UserInfo::service_account(RELEASE_NAMESPACE, name)
}

/// The chart's RBAC plus what every cluster has (discovery for everyone).
fn chart_policy(objects: &[Value]) -> Policy {
    let mut all: Vec<Value> = rbac::bootstrap_objects();
    all.extend(objects.iter().cloned());
    Policy::from_objects(&all, RELEASE_NAMESPACE)
}

// ---- what the code does --------------------------------------------------------------

/// The authorization checks the API server made for one recorded request: its own,
/// and `create` as well when a server-side apply created the object.
fn checks(r: &RecordedRequest) -> Vec<RequestInfo> {
    let info = RequestInfo::from_request(&r.method, &r.path, &r.query);
    let mut out = vec![info.clone()];
    if info.verb == "patch" && r.status == 201 {
        out.push(RequestInfo {
            verb: "create".to_owned(),
            ..info
        });
    }
    out
}

fn describe(i: &RequestInfo) -> String {
    if !i.is_resource_request {
        return format!("{} {}", i.verb, i.path);
    }
    let scope = if i.namespace.is_empty() {
        "cluster-wide".to_owned()
    } else {
        format!("in {}", i.namespace)
    };
    format!(
        "{} {}{} {scope}",
        i.verb,
        i.resource_path(),
        if i.api_group.is_empty() {
            String::new()
        } else {
            format!(".{}", i.api_group)
        }
    )
}

async fn get_json(h: &Harness, token: &str, path: &str) -> Value {
    let res = h
        .http
        .get(format!("{}{path}", h.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{path}: {}", res.status());
    res.json().await.unwrap()
}

/// A pull request's whole life through every entrance that reaches the cluster.
async fn full_lifecycle(h: &Harness) {
    let c = h.kit.cluster();
    let viewer = cli::create_token(h.db(), "rbac-viewer", TokenRole::Viewer)
        .await
        .unwrap();

    // Opened: namespace kit, deploy Job, health check through the service proxy.
    h.open(1, &sha(1, 1)).await;
    let env = h.wait_status(1, "ready").await;
    let ns = env.namespace.clone();

    // Read by people: pods, usage gauges, a log tail and a followed log, metrics.
    let pods = c.list("v1", "Pod", Some(&ns));
    let app = pods
        .iter()
        .find(|p| {
            p["metadata"]["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("web"))
        })
        .expect("the chart's pod runs");
    let pod = app["metadata"]["name"].as_str().unwrap().to_owned();
    c.append_log(&ns, &pod, "web", &["listening on :8080"]);
    c.set_pod_metrics(&ns, &pod, "web", "15m", "64Mi");
    let detail = get_json(h, &viewer, &format!("/api/v1/environments/{}", env.id)).await;
    assert!(detail.to_string().contains(&pod), "{detail}");
    let tail = get_json(
        h,
        &viewer,
        &format!(
            "/api/v1/environments/{}/logs?pod={pod}&container=web",
            env.id
        ),
    )
    .await;
    assert_eq!(tail["lines"][0], "listening on :8080");
    let mut follow = h
        .http
        .get(format!(
            "{}/api/v1/environments/{}/logs?pod={pod}&container=web&follow=true",
            h.base, env.id
        ))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(follow.status(), 200);
    let first = tokio::time::timeout(Duration::from_secs(5), follow.chunk())
        .await
        .expect("the followed log answers")
        .unwrap();
    assert!(first.is_some());
    drop(follow);
    let metrics = h
        .http
        .get(format!("{}/metrics", h.base))
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), 200);
    let ready = h
        .http
        .get(format!("{}/readyz", h.base))
        .send()
        .await
        .unwrap();
    assert!(ready.status().is_success() || ready.status() == 503);

    // Pushed: the running attempt is replaced by one for the new SHA.
    h.push(1, &sha(1, 2)).await;
    h.wait_until("the new SHA deploys", Duration::from_secs(30), || async {
        h.attempts(1).await.len() >= 2
    })
    .await;
    h.wait_status(1, "ready").await;

    // An operator presses "redeploy".
    let env = h.env(1).await.unwrap();
    operator_requests::request_redeploy(h.db(), &env.id, "octocat", chrono::Utc::now())
        .await
        .unwrap();
    h.state.reconcile.wake();
    h.wait_until("the redeploy runs", Duration::from_secs(30), || async {
        h.attempts(1).await.len() >= 3
    })
    .await;
    h.wait_status(1, "ready").await;

    // A deployment that fails: its logs and the namespace's events are collected.
    c.on_job(Match::namespace("pr-web-2"), JobBehaviour::fail(1));
    h.open(2, &sha(2, 1)).await;
    h.wait_status(2, "failed").await;

    // At least one full resync (drift listing, orphan sweep) has run.
    tokio::time::sleep(h.settings.resync_interval + Duration::from_millis(500)).await;

    // Closed: namespaces deleted and watched until gone.
    h.close(1).await;
    h.close(2).await;
    h.wait_status(1, "deleted").await;
    h.wait_status(2, "deleted").await;
}

// ---- 1. the chart against the requests -----------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chart_grants_what_catalyst_uses_and_nothing_more() {
    let Some(helm) = helm() else { return };
    let objects = render_chart(&helm);
    let policy = chart_policy(&objects);
    let user = catalyst_user(&objects);

    // Only namespace management is cluster-wide; the rest of the chart is namespaced.
    let cluster_roles = of_kind(&objects, "ClusterRole");
    let cluster_bindings = of_kind(&objects, "ClusterRoleBinding");
    assert_eq!((cluster_roles.len(), cluster_bindings.len()), (1, 1));
    for kind in [
        "Role",
        "RoleBinding",
        "ServiceAccount",
        "Deployment",
        "Service",
    ] {
        for o in of_kind(&objects, kind) {
            assert_eq!(o["metadata"]["namespace"], RELEASE_NAMESPACE, "{kind}");
        }
    }
    for role in of_kind(&objects, "Role") {
        for r in rules(role) {
            assert_eq!(r.api_groups, ["coordination.k8s.io"], "{r:?}");
            assert_eq!(r.resources, ["leases"], "{r:?}");
        }
    }

    let h = start(Backend::Sqlite, |_| {}).await;
    full_lifecycle(&h).await;
    let recorded = h.kit.requests();
    assert!(
        recorded.len() > 50,
        "the lifecycle made {} requests",
        recorded.len()
    );

    // Every request is allowed, at its scope.
    let mut used: BTreeSet<(String, String, String)> = BTreeSet::new();
    let mut denied = BTreeSet::new();
    for r in &recorded {
        for check in checks(r) {
            if !policy.authorize(&user, &check) {
                denied.insert(describe(&check));
            }
            if check.is_resource_request {
                used.insert((
                    check.api_group.clone(),
                    check.resource_path(),
                    check.verb.clone(),
                ));
            }
        }
    }
    assert!(
        denied.is_empty(),
        "the chart's RBAC does not allow these requests Catalyst makes:\n{}",
        denied.into_iter().collect::<Vec<_>>().join("\n")
    );

    // What Catalyst hands each preview, it must hold (escalation check).
    let role_apply = recorded
        .iter()
        .find(|r| r.method == "PATCH" && r.path.ends_with(&format!("/roles/{DEPLOYER}")))
        .expect("the deployer Role was applied");
    let granted = rules(&role_apply.json().expect("the Role body parses"));
    let missing = policy.missing_rights(&user, "pr-web-1", &granted);
    assert!(
        missing.is_empty(),
        "Catalyst could not create the {DEPLOYER} Role: {missing:#?}"
    );

    // Nothing else: each (group, resource, verb) the ClusterRole grants is one the code
    // used or one the deployer Role passes on.
    let passed_on: BTreeSet<(String, String, String)> = granted
        .iter()
        .flat_map(PolicyRule::breakdown)
        .map(|r| {
            (
                r.api_groups[0].clone(),
                r.resources[0].clone(),
                r.verbs[0].clone(),
            )
        })
        .collect();
    let mut excess = Vec::new();
    for rule in rules(cluster_roles[0]) {
        if !rule.non_resource_urls.is_empty() || !rule.resource_names.is_empty() {
            excess.push(rule.compact_string());
            continue;
        }
        for one in rule.breakdown() {
            let t = (
                one.api_groups[0].clone(),
                one.resources[0].clone(),
                one.verbs[0].clone(),
            );
            if !used.contains(&t) && !passed_on.contains(&t) {
                excess.push(one.compact_string());
            }
        }
    }
    assert!(
        excess.is_empty(),
        "the ClusterRole grants more than Catalyst needs:\n{}",
        excess.join("\n")
    );
    h.finish().await;
}

// ---- 2. Catalyst under the chart's RBAC ----------------------------------------------

/// A token for `namespace/name` from the TokenRequest API, as the kubelet gets one for
/// a pod.
async fn token_for(admin: &kube::Client, namespace: &str, name: &str) -> String {
    let accounts: Api<ServiceAccount> = Api::namespaced(admin.clone(), namespace);
    let request: TokenRequest = serde_json::from_value(json!({
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
        "spec": {"audiences": [], "expirationSeconds": 3600}
    }))
    .unwrap();
    let answer = accounts
        .create_token_request(name, &PostParams::default(), &request)
        .await
        .unwrap_or_else(|e| panic!("a token for {namespace}/{name}: {e}"));
    answer.status.and_then(|s| s.token).expect("the token")
}

/// A client that authenticates with `token`, as an in-cluster pod does.
fn client_with_token(url: &str, token: &str) -> kube::Client {
    let mut config = kube::Config::new(url.parse().unwrap());
    config.auth_info.token = Some(token.to_owned().into());
    kube::Client::try_from(config).unwrap()
}

fn forbidden_requests(h: &Harness) -> Vec<String> {
    h.kit
        .requests()
        .iter()
        .filter(|r| r.status == 401 || r.status == 403)
        .map(|r| format!("{} {}?{} -> {}", r.method, r.path, r.query, r.status))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalyst_deploys_and_deletes_with_only_the_charts_rbac() {
    let Some(helm) = helm() else { return };
    let objects = render_chart(&helm);
    let user = catalyst_user(&objects);
    let mut h = start(Backend::Sqlite, |_| {}).await;
    h.kill_engine();
    let c = h.kit.cluster();
    for o in &objects {
        let kind = o["kind"].as_str().unwrap_or_default();
        if matches!(
            kind,
            "ServiceAccount" | "ClusterRole" | "ClusterRoleBinding" | "Role" | "RoleBinding"
        ) {
            c.create(o.clone())
                .unwrap_or_else(|e| panic!("installing the chart's {kind}: {e}"));
        }
    }
    let sa = user.name.rsplit(':').next().unwrap().to_owned();
    let token = token_for(&h.client, RELEASE_NAMESPACE, &sa).await;
    h.client = client_with_token(&h.kit.kube_url(), &token);
    h.start_engine();

    h.open(1, &sha(1, 1)).await;
    h.wait_status(1, "ready").await;
    assert!(
        c.get("rbac.authorization.k8s.io/v1", "Role", "pr-web-1", DEPLOYER)
            .is_some(),
        "Catalyst granted the deployer Role"
    );
    h.push(1, &sha(1, 2)).await;
    h.wait_until("the new SHA deploys", Duration::from_secs(30), || async {
        h.attempts(1).await.len() >= 2
    })
    .await;
    h.wait_status(1, "ready").await;
    h.close(1).await;
    h.wait_status(1, "deleted").await;

    // Catalyst's leader election: take the Lease in the release namespace (created on
    // first use), renew it, release it when the process stops.
    let (mut leadership, election) = Leadership::elect(
        h.client.clone(),
        LeaderSettings {
            lease_name: "catalyst-leader".to_owned(),
            namespace: RELEASE_NAMESPACE.to_owned(),
            identity: "catalyst-0".to_owned(),
            duration: Duration::from_secs(4),
        },
    );
    tokio::time::timeout(Duration::from_secs(10), leadership.until_leader())
        .await
        .expect("the only replica leads");
    drop(leadership);
    tokio::time::timeout(Duration::from_secs(10), election)
        .await
        .expect("the election stops and releases the Lease")
        .unwrap();
    let lease = c
        .get(
            "coordination.k8s.io/v1",
            "Lease",
            RELEASE_NAMESPACE,
            "catalyst-leader",
        )
        .expect("the Lease exists");
    assert_ne!(
        lease["spec"]["holderIdentity"], "catalyst-0",
        "released: {lease}"
    );

    let refused = forbidden_requests(&h);
    assert!(
        refused.is_empty(),
        "refused under the chart's RBAC: {refused:#?}"
    );

    // The namespaced Role grants no lease verb the election did not use.
    let used: BTreeSet<String> = h
        .kit
        .requests()
        .iter()
        .flat_map(checks)
        .filter(|i| i.resource == "leases")
        .map(|i| i.verb)
        .collect();
    let granted: BTreeSet<String> = of_kind(&objects, "Role")
        .into_iter()
        .flat_map(rules)
        .flat_map(|r| r.verbs)
        .collect();
    let unused: Vec<&String> = granted.difference(&used).collect();
    assert!(
        unused.is_empty(),
        "the Role grants lease verbs nothing uses: {unused:?} (used: {used:?})"
    );
    h.finish().await;
}

// ---- 3. a pull request cannot leave its namespace ----------------------------------

fn resource(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

fn object(ar: &ApiResource, name: &str, extra: Value) -> DynamicObject {
    let mut v = json!({"apiVersion": ar.api_version, "kind": ar.kind, "metadata": {"name": name}});
    if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
        for (k, val) in e {
            o.insert(k.clone(), val.clone());
        }
    }
    serde_json::from_value(v).unwrap()
}

/// What the deployer tries, and the API server's answer.
struct Attempt {
    what: String,
    result: Result<(), kube::core::Status>,
}

async fn try_create(
    client: &kube::Client,
    ns: Option<&str>,
    ar: &ApiResource,
    obj: DynamicObject,
) -> Attempt {
    let api: Api<DynamicObject> = match ns {
        Some(ns) => Api::namespaced_with(client.clone(), ns, ar),
        None => Api::all_with(client.clone(), ar),
    };
    let what = format!(
        "create {} {} in {}",
        ar.kind,
        obj.metadata.name.clone().unwrap_or_default(),
        ns.unwrap_or("the cluster")
    );
    let result = api
        .create(&PostParams::default(), &obj)
        .await
        .map(|_| ())
        .map_err(status);
    Attempt { what, result }
}

async fn try_apply(
    client: &kube::Client,
    ns: &str,
    ar: &ApiResource,
    obj: DynamicObject,
) -> Attempt {
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, ar);
    let name = obj.metadata.name.clone().unwrap_or_default();
    let what = format!("apply {} {name} in {ns}", ar.kind);
    let result = api
        .patch(
            &name,
            &PatchParams::apply("helm").force(),
            &Patch::Apply(&obj),
        )
        .await
        .map(|_| ())
        .map_err(status);
    Attempt { what, result }
}

fn status(e: kube::Error) -> kube::core::Status {
    match e {
        kube::Error::Api(s) => *s,
        other => panic!("expected an answer from the API server, got {other}"),
    }
}

both_backends!(a_pull_requests_account_cannot_escape_its_namespace);

async fn a_pull_requests_account_cannot_escape_its_namespace(backend: Backend) {
    let h = start(backend, |_| {}).await;
    // Two previews: the second is the neighbour the first must not reach.
    h.open(1, &sha(1, 1)).await;
    h.open(2, &sha(2, 1)).await;
    h.wait_status(1, "ready").await;
    h.wait_status(2, "ready").await;
    let own = "pr-web-1";
    let token = token_for(&h.client, own, DEPLOYER).await;
    let pr = client_with_token(&h.kit.kube_url(), &token);

    let deployments = resource("apps", "v1", "Deployment", "deployments");
    let services = resource("", "v1", "Service", "services");
    let configmaps = resource("", "v1", "ConfigMap", "configmaps");
    let secrets = resource("", "v1", "Secret", "secrets");
    let app = app_objects();
    let deployment = |name: &str| {
        let mut d = app[0].clone();
        d["metadata"]["name"] = json!(name);
        serde_json::from_value::<DynamicObject>(d).unwrap()
    };

    // What `helm upgrade --install` of an ordinary chart does, in its own namespace.
    let allowed = vec![
        try_apply(&pr, own, &deployments, deployment("api")).await,
        try_apply(&pr, own, &deployments, deployment("api")).await,
        try_create(&pr, Some(own), &services, object(&services, "api", json!({"spec": {"selector": {"app": "api"}, "ports": [{"port": 80, "protocol": "TCP"}]}}))).await,
        try_apply(&pr, own, &configmaps, object(&configmaps, "settings", json!({"data": {"A": "1"}}))).await,
        try_apply(&pr, own, &configmaps, object(&configmaps, "settings", json!({"data": {"A": "2"}}))).await,
        try_create(&pr, Some(own), &secrets, object(&secrets, "app-secret", json!({"stringData": {"K": "v"}}))).await,
        try_apply(&pr, own, &secrets, object(&secrets, "app-secret", json!({"stringData": {"K": "w"}}))).await,
    ];
    for a in &allowed {
        assert!(a.result.is_ok(), "{} was refused: {:?}", a.what, a.result);
    }
    let api: Api<DynamicObject> = Api::namespaced_with(pr.clone(), own, &configmaps);
    assert_eq!(api.get("settings").await.unwrap().data["data"]["A"], "2");

    // Everything that would leave the namespace, or lift its isolation and quota.
    let rbac_group = "rbac.authorization.k8s.io";
    let namespaces = resource("", "v1", "Namespace", "namespaces");
    let cluster_roles = resource(rbac_group, "v1", "ClusterRole", "clusterroles");
    let cluster_bindings = resource(
        rbac_group,
        "v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
    );
    let roles = resource(rbac_group, "v1", "Role", "roles");
    let role_bindings = resource(rbac_group, "v1", "RoleBinding", "rolebindings");
    let network_policies = resource(
        "networking.k8s.io",
        "v1",
        "NetworkPolicy",
        "networkpolicies",
    );
    let quotas = resource("", "v1", "ResourceQuota", "resourcequotas");
    let everything = json!({"rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]});
    let bind_admin = |kind: &str| {
        json!({
        "roleRef": {"apiGroup": rbac_group, "kind": kind, "name": "cluster-admin"},
        "subjects": [{"kind": "ServiceAccount", "name": DEPLOYER, "namespace": own}]})
    };
    let refused = vec![
        try_create(
            &pr,
            None,
            &namespaces,
            object(&namespaces, "escape", json!({})),
        )
        .await,
        try_create(
            &pr,
            None,
            &cluster_roles,
            object(&cluster_roles, "escape", everything.clone()),
        )
        .await,
        try_create(
            &pr,
            None,
            &cluster_bindings,
            object(&cluster_bindings, "escape", bind_admin("ClusterRole")),
        )
        .await,
        try_create(&pr, Some("pr-web-2"), &deployments, deployment("intruder")).await,
        try_apply(
            &pr,
            "pr-web-2",
            &configmaps,
            object(&configmaps, "intruder", json!({"data": {}})),
        )
        .await,
        try_create(
            &pr,
            Some("kube-system"),
            &configmaps,
            object(&configmaps, "intruder", json!({"data": {}})),
        )
        .await,
        try_create(
            &pr,
            Some("kube-system"),
            &deployments,
            deployment("intruder"),
        )
        .await,
        // Its isolation and quota stay Catalyst's.
        try_apply(
            &pr,
            own,
            &network_policies,
            object(
                &network_policies,
                "catalyst-isolation",
                json!({"spec": {"podSelector": {}, "policyTypes": []}}),
            ),
        )
        .await,
        try_apply(
            &pr,
            own,
            &quotas,
            object(
                &quotas,
                "catalyst-quota",
                json!({"spec": {"hard": {"pods": "1000"}}}),
            ),
        )
        .await,
        // No granting itself more than it holds: a Role with everything, or a binding
        // to cluster-admin, in its own namespace.
        try_create(
            &pr,
            Some(own),
            &roles,
            object(&roles, "escape", everything.clone()),
        )
        .await,
        try_create(
            &pr,
            Some(own),
            &role_bindings,
            object(&role_bindings, "escape", bind_admin("ClusterRole")),
        )
        .await,
    ];
    for a in &refused {
        match &a.result {
            Err(s) => assert_eq!(
                (s.code, s.reason.as_str()),
                (403, "Forbidden"),
                "{}: {s:?}",
                a.what
            ),
            Ok(()) => panic!("{} was allowed", a.what),
        }
    }
    // The answers are the API server's, word for word.
    let cluster_role = refused[1].result.as_ref().unwrap_err();
    assert_eq!(
        cluster_role.message,
        format!(
            "clusterroles.rbac.authorization.k8s.io is forbidden: User \"system:serviceaccount:{own}:{DEPLOYER}\" cannot create resource \"clusterroles\" in API group \"rbac.authorization.k8s.io\" at the cluster scope"
        )
    );
    let neighbour = refused[3].result.as_ref().unwrap_err();
    assert_eq!(
        neighbour.message,
        format!(
            "deployments.apps is forbidden: User \"system:serviceaccount:{own}:{DEPLOYER}\" cannot create resource \"deployments\" in API group \"apps\" in the namespace \"pr-web-2\""
        )
    );
    let escalation = refused[9].result.as_ref().unwrap_err();
    assert!(
        escalation
            .message
            .contains("is attempting to grant RBAC permissions not currently held"),
        "{}",
        escalation.message
    );
    // Reads outside the namespace are refused too: the neighbour's and the
    // repository's secret store's Secrets.
    for ns in ["pr-web-2", "acme-secrets", "kube-system"] {
        let api: Api<DynamicObject> = Api::namespaced_with(pr.clone(), ns, &secrets);
        let e = status(api.list(&Default::default()).await.unwrap_err());
        assert_eq!(e.code, 403, "listing secrets in {ns}");
    }
    // Nothing of the refused attempts exists.
    let c = h.kit.cluster();
    assert!(h.namespace("escape").is_none());
    assert!(
        c.get("apps/v1", "Deployment", "pr-web-2", "intruder")
            .is_none()
    );
    assert!(
        c.get("v1", "ConfigMap", "kube-system", "intruder")
            .is_none()
    );
    assert_eq!(
        c.get("v1", "ResourceQuota", own, "catalyst-quota").unwrap()["spec"]["hard"]["pods"],
        "20"
    );
    // And Catalyst itself (the administrator here) still manages the namespace.
    h.close(1).await;
    h.wait_status(1, "deleted").await;
    h.finish().await;
}
