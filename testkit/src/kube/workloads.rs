//! The simulated controllers for Jobs, Deployments, ReplicaSets and StatefulSets: they
//! create pods from templates with owner references and report status the way
//! kube-controller-manager does, so clients that wait on conditions see the real shapes.

use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::KubeState;
use super::events::{self, EventKind};
use super::kubelet::{alive, condition, rt, set_condition};
use super::ops::{self, PatchType, Preconditions, WriteOpts};
use super::selectors::LabelSelector;

const TICK: Duration = Duration::from_millis(20);
/// A converged controller looks again at least this often even when its namespace
/// did not change (the real ones resync periodically too). Not shorter: with 500
/// previews a 1 s resync alone kept a core busy cloning unchanged objects.
const RESYNC: Duration = Duration::from_secs(10);
const MANAGER: &str = "kube-controller-manager";

/// Paces a controller loop like a watch-driven controller: the next pass starts when
/// something in the controller's namespace was written since the previous pass began
/// (checked every [`TICK`]), or after [`RESYNC`]. A loop that re-read and re-wrote its
/// objects every tick whether or not anything changed made the double spend most of its
/// time cloning JSON once hundreds of previews existed (the benchmark's 500-PR burst).
struct NamespaceChanges {
    ns: String,
    /// The namespace's version when the latest pass began.
    seen: Option<u64>,
    last_pass: std::time::Instant,
}

impl NamespaceChanges {
    fn new(ns: &str) -> Self {
        Self {
            ns: ns.to_owned(),
            seen: None,
            last_pass: std::time::Instant::now(),
        }
    }

    async fn next_pass(&mut self, st: &KubeState) {
        loop {
            tokio::time::sleep(TICK).await;
            let version = st.store.lock().namespace_version(&self.ns);
            if self.seen != Some(version) || self.last_pass.elapsed() >= RESYNC {
                self.seen = Some(version);
                self.last_pass = std::time::Instant::now();
                return;
            }
        }
    }
}

fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn owner_ref(obj: &Value) -> Value {
    json!({
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "name": obj["metadata"]["name"],
        "uid": obj["metadata"]["uid"],
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

fn owned_pods(st: &KubeState, ns: &str, uid: &str) -> Vec<Value> {
    st.store
        .lock()
        .list(rt("", "pods"), Some(ns))
        .into_iter()
        .filter(|p| {
            p["metadata"]["ownerReferences"]
                .as_array()
                .is_some_and(|r| r.iter().any(|o| o["uid"] == uid))
        })
        .cloned()
        .collect()
}

fn is_ready(pod: &Value) -> bool {
    pod["status"]["conditions"].as_array().is_some_and(|c| {
        c.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

fn create_pod(
    st: &KubeState,
    owner: &Value,
    ns: &str,
    template: &Value,
    name: Option<String>,
    extra_labels: &Value,
) -> Option<Arc<Value>> {
    let mut meta = template["metadata"].clone();
    if !meta.is_object() {
        meta = json!({});
    }
    for (k, v) in extra_labels.as_object().into_iter().flatten() {
        meta["labels"][k] = v.clone();
    }
    match name {
        Some(n) => meta["name"] = json!(n),
        None => {
            meta["generateName"] = json!(format!(
                "{}-",
                owner["metadata"]["name"].as_str().unwrap_or("pod")
            ))
        }
    }
    meta["ownerReferences"] = json!([owner_ref(owner)]);
    let pod =
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": template["spec"]});
    // Quota or a terminating namespace can refuse the pod; controllers retry on their next pass.
    ops::create(
        &mut st.store.lock(),
        rt("", "pods"),
        ns,
        pod,
        WriteOpts::by(MANAGER),
    )
    .ok()
}

fn write_status(
    st: &KubeState,
    plural_group: (&str, &str),
    ns: &str,
    name: &str,
    f: impl FnOnce(&mut Value),
) -> bool {
    let mut inner = st.store.lock();
    ops::mutate(
        &mut inner,
        rt(plural_group.0, plural_group.1),
        ns,
        name,
        WriteOpts::status_by(MANAGER),
        |o| f(&mut o["status"]),
    )
    .is_ok()
}

/// Runs one Job to completion: one pod per attempt, up to `backoffLimit` retries.
pub async fn run_job(st: Arc<KubeState>, ns: String, name: String, uid: String) {
    let jobs = rt("batch", "jobs");
    let mut failed = 0_i64;
    let behaviour = st.sim().job(&ns, &name);
    let mut created_objects = false;
    write_status(&st, ("batch", "jobs"), &ns, &name, |s| {
        s["startTime"] = json!(now());
        s["active"] = json!(0);
        s["ready"] = json!(0);
        s["terminating"] = json!(0);
        s["uncountedTerminatedPods"] = json!({});
    });
    loop {
        let Some(job) = alive(&st, jobs, &ns, &name, &uid) else {
            return;
        };
        if job["spec"]["suspend"] == true {
            tokio::time::sleep(TICK).await;
            continue;
        }
        let Some(pod) = create_pod(&st, &job, &ns, &job["spec"]["template"], None, &json!({}))
        else {
            tokio::time::sleep(TICK * 5).await;
            continue;
        };
        let pod_name = pod["metadata"]["name"].as_str().unwrap_or("").to_string();
        let pod_uid = pod["metadata"]["uid"].as_str().unwrap_or("").to_string();
        events::record(
            &st,
            &job,
            EventKind::Normal,
            "SuccessfulCreate",
            &format!("Created pod: {pod_name}"),
            "job-controller",
        );
        write_status(&st, ("batch", "jobs"), &ns, &name, |s| {
            s["active"] = json!(1)
        });
        let phase = loop {
            tokio::time::sleep(TICK).await;
            if alive(&st, jobs, &ns, &name, &uid).is_none() {
                return;
            }
            let Some(p) = alive(&st, rt("", "pods"), &ns, &pod_name, &pod_uid) else {
                break "Failed".to_string();
            };
            let phase = p["status"]["phase"].as_str().unwrap_or("").to_string();
            if phase == "Running" {
                write_status(&st, ("batch", "jobs"), &ns, &name, |s| {
                    s["ready"] = json!(1)
                });
            }
            // A pod that ran and finished between two ticks still ran its Helm step.
            if (phase == "Running" || phase == "Succeeded") && !created_objects {
                created_objects = true;
                for obj in &behaviour.creates {
                    create_object(&st, &ns, obj);
                }
            }
            if phase == "Succeeded" || phase == "Failed" {
                break phase;
            }
        };
        let backoff_limit = job["spec"]["backoffLimit"].as_i64().unwrap_or(6);
        if phase == "Succeeded" {
            write_status(&st, ("batch", "jobs"), &ns, &name, |s| {
                s["active"] = json!(0);
                s["ready"] = json!(0);
                s["succeeded"] = json!(1);
                s["completionTime"] = json!(now());
                set_condition(
                    s,
                    condition(
                        "SuccessCriteriaMet",
                        true,
                        Some("CompletionsReached"),
                        Some("Reached expected number of succeeded pods"),
                    ),
                );
                set_condition(
                    s,
                    condition(
                        "Complete",
                        true,
                        Some("CompletionsReached"),
                        Some("Reached expected number of succeeded pods"),
                    ),
                );
            });
            events::record(
                &st,
                &job,
                EventKind::Normal,
                "Completed",
                "Job completed",
                "job-controller",
            );
            return;
        }
        failed += 1;
        let give_up = failed > backoff_limit;
        write_status(&st, ("batch", "jobs"), &ns, &name, |s| {
            s["active"] = json!(0);
            s["ready"] = json!(0);
            s["failed"] = json!(failed);
            if give_up {
                set_condition(
                    s,
                    condition(
                        "FailureTarget",
                        true,
                        Some("BackoffLimitExceeded"),
                        Some("Job has reached the specified backoff limit"),
                    ),
                );
                set_condition(
                    s,
                    condition(
                        "Failed",
                        true,
                        Some("BackoffLimitExceeded"),
                        Some("Job has reached the specified backoff limit"),
                    ),
                );
            }
        });
        if give_up {
            events::record(
                &st,
                &job,
                EventKind::Warning,
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
                "job-controller",
            );
            return;
        }
        tokio::time::sleep(TICK).await;
    }
}

/// Creates (or updates) one object a simulated Helm step installs, with manager `helm`.
fn create_object(st: &KubeState, ns: &str, obj: &Value) {
    let av = obj["apiVersion"].as_str().unwrap_or("");
    let kind = obj["kind"].as_str().unwrap_or("");
    let Some(rt) = super::resources::find_kind(av, kind) else {
        return;
    };
    let name = obj["metadata"]["name"].as_str().unwrap_or("").to_string();
    let obj_ns = if rt.namespaced {
        obj["metadata"]["namespace"].as_str().unwrap_or(ns)
    } else {
        ""
    };
    let mut inner = st.store.lock();
    let opts = WriteOpts::by("helm");
    // An apply both creates and updates, like `helm upgrade --install` with SSA.
    let _ = ops::patch(
        &mut inner,
        rt,
        obj_ns,
        &name,
        PatchType::Apply { force: true },
        obj.clone(),
        opts,
    );
}

fn template_hash(template: &Value) -> String {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    template.to_string().hash(&mut h);
    const CHARS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut n = h.finish();
    (0..10)
        .map(|_| {
            let c = CHARS[(n % CHARS.len() as u64) as usize] as char;
            n /= CHARS.len() as u64;
            c
        })
        .collect()
}

/// Keeps a Deployment's ReplicaSets and status converged while it exists.
pub async fn run_deployment(st: Arc<KubeState>, ns: String, name: String, uid: String) {
    let deployments = rt("apps", "deployments");
    let replicasets = rt("apps", "replicasets");
    let mut changes = NamespaceChanges::new(&ns);
    while let Some(dep) = alive(&st, deployments, &ns, &name, &uid) {
        let hash = template_hash(&dep["spec"]["template"]);
        let rs_name = format!("{name}-{hash}");
        let replicas = dep["spec"]["replicas"].as_i64().unwrap_or(1);
        let owned: Vec<Value> = st
            .store
            .lock()
            .list(replicasets, Some(&ns))
            .into_iter()
            .filter(|r| {
                r["metadata"]["ownerReferences"]
                    .as_array()
                    .is_some_and(|o| o.iter().any(|o| o["uid"] == uid.as_str()))
            })
            .cloned()
            .collect();
        let revision = owned.len() as i64 + 1;
        match owned
            .iter()
            .find(|r| r["metadata"]["name"] == rs_name.as_str())
        {
            None => {
                let mut template = dep["spec"]["template"].clone();
                template["metadata"]["labels"]["pod-template-hash"] = json!(hash);
                let mut selector = dep["spec"]["selector"].clone();
                selector["matchLabels"]["pod-template-hash"] = json!(hash);
                let rs = json!({
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "metadata": {
                        "name": rs_name,
                        "labels": template["metadata"]["labels"],
                        "annotations": {"deployment.kubernetes.io/revision": revision.to_string(), "deployment.kubernetes.io/desired-replicas": replicas.to_string()},
                        "ownerReferences": [owner_ref(&dep)],
                    },
                    "spec": {"replicas": replicas, "selector": selector, "template": template},
                });
                let created = ops::create(
                    &mut st.store.lock(),
                    replicasets,
                    &ns,
                    rs,
                    WriteOpts::by(MANAGER),
                );
                if created.is_ok() {
                    let msg = format!("Scaled up replica set {rs_name} from 0 to {replicas}");
                    events::record(
                        &st,
                        &dep,
                        EventKind::Normal,
                        "ScalingReplicaSet",
                        &msg,
                        "deployment-controller",
                    );
                }
            }
            Some(rs) if rs["spec"]["replicas"].as_i64() != Some(replicas) => {
                let _ = ops::mutate(
                    &mut st.store.lock(),
                    replicasets,
                    &ns,
                    &rs_name,
                    WriteOpts::by(MANAGER),
                    |r| r["spec"]["replicas"] = json!(replicas),
                );
            }
            Some(_) => {}
        }
        for old in owned.iter().filter(|r| {
            r["metadata"]["name"] != rs_name.as_str() && r["spec"]["replicas"].as_i64() != Some(0)
        }) {
            let old_name = old["metadata"]["name"].as_str().unwrap_or("");
            let _ = ops::mutate(
                &mut st.store.lock(),
                replicasets,
                &ns,
                old_name,
                WriteOpts::by(MANAGER),
                |r| r["spec"]["replicas"] = json!(0),
            );
        }
        let current = st.store.lock().get(replicasets, &ns, &rs_name).cloned();
        let ready = current
            .as_ref()
            .and_then(|r| r["status"]["readyReplicas"].as_i64())
            .unwrap_or(0);
        let total: i64 = owned
            .iter()
            .filter_map(|r| r["status"]["replicas"].as_i64())
            .sum();
        let updated = current
            .as_ref()
            .and_then(|r| r["status"]["replicas"].as_i64())
            .unwrap_or(0);
        let generation = dep["metadata"]["generation"].clone();
        write_status(&st, ("apps", "deployments"), &ns, &name, |s| {
            s["observedGeneration"] = generation;
            s["replicas"] = json!(total);
            s["updatedReplicas"] = json!(updated);
            s["readyReplicas"] = json!(ready);
            s["availableReplicas"] = json!(ready);
            s["unavailableReplicas"] = json!((replicas - ready).max(0));
            let available = ready >= replicas;
            let (reason, msg) = if available {
                (
                    "MinimumReplicasAvailable",
                    "Deployment has minimum availability.".to_string(),
                )
            } else {
                (
                    "MinimumReplicasUnavailable",
                    "Deployment does not have minimum availability.".to_string(),
                )
            };
            set_condition(
                s,
                condition("Available", available, Some(reason), Some(&msg)),
            );
            let (preason, pmsg) = if available && updated == replicas {
                (
                    "NewReplicaSetAvailable",
                    format!("ReplicaSet \"{rs_name}\" has successfully progressed."),
                )
            } else {
                (
                    "ReplicaSetUpdated",
                    format!("ReplicaSet \"{rs_name}\" is progressing."),
                )
            };
            set_condition(
                s,
                condition("Progressing", true, Some(preason), Some(&pmsg)),
            );
            if let Some(c) = s["conditions"].as_array_mut() {
                for c in c.iter_mut() {
                    c["lastUpdateTime"] = c["lastTransitionTime"].clone();
                }
            }
        });
        changes.next_pass(&st).await;
    }
}

/// Keeps a ReplicaSet's pod count and status converged while it exists.
pub async fn run_replicaset(st: Arc<KubeState>, ns: String, name: String, uid: String) {
    let replicasets = rt("apps", "replicasets");
    let mut changes = NamespaceChanges::new(&ns);
    while let Some(rs) = alive(&st, replicasets, &ns, &name, &uid) {
        let want = rs["spec"]["replicas"].as_i64().unwrap_or(1).max(0) as usize;
        let pods: Vec<Value> = owned_pods(&st, &ns, &uid)
            .into_iter()
            .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
            .collect();
        if pods.len() < want {
            for _ in pods.len()..want {
                create_pod(&st, &rs, &ns, &rs["spec"]["template"], None, &json!({}));
            }
        } else if pods.len() > want {
            for p in pods.iter().skip(want) {
                let pname = p["metadata"]["name"].as_str().unwrap_or("");
                let _ = ops::delete(
                    &mut st.store.lock(),
                    rt("", "pods"),
                    &ns,
                    pname,
                    None,
                    &Preconditions::default(),
                    false,
                );
            }
        }
        let pods = owned_pods(&st, &ns, &uid);
        let ready = pods.iter().filter(|p| is_ready(p)).count();
        let selector = LabelSelector::from_match_labels(&rs["spec"]["selector"]["matchLabels"]);
        let labeled = pods.iter().filter(|p| selector.matches(p)).count();
        let generation = rs["metadata"]["generation"].clone();
        write_status(&st, ("apps", "replicasets"), &ns, &name, |s| {
            s["replicas"] = json!(pods.len());
            s["fullyLabeledReplicas"] = json!(labeled);
            s["readyReplicas"] = json!(ready);
            s["availableReplicas"] = json!(ready);
            s["observedGeneration"] = generation;
        });
        changes.next_pass(&st).await;
    }
}

/// Keeps a StatefulSet's ordinal pods (`name-0`, `name-1`, …) and status converged.
pub async fn run_statefulset(st: Arc<KubeState>, ns: String, name: String, uid: String) {
    let sets = rt("apps", "statefulsets");
    let mut changes = NamespaceChanges::new(&ns);
    while let Some(sts) = alive(&st, sets, &ns, &name, &uid) {
        let want = sts["spec"]["replicas"].as_i64().unwrap_or(1).max(0) as usize;
        let pods = owned_pods(&st, &ns, &uid);
        // OrderedReady: the next ordinal only once every earlier one is Ready.
        for i in 0..want {
            let pname = format!("{name}-{i}");
            match pods
                .iter()
                .find(|p| p["metadata"]["name"] == pname.as_str())
            {
                Some(p) if is_ready(p) => continue,
                Some(_) => break,
                None => {
                    let labels = json!({"statefulset.kubernetes.io/pod-name": pname, "apps.kubernetes.io/pod-index": i.to_string()});
                    create_pod(
                        &st,
                        &sts,
                        &ns,
                        &sts["spec"]["template"],
                        Some(pname),
                        &labels,
                    );
                    break;
                }
            }
        }
        for p in &pods {
            let idx = p["metadata"]["name"]
                .as_str()
                .and_then(|n| n.rsplit('-').next())
                .and_then(|i| i.parse::<usize>().ok());
            if idx.is_some_and(|i| i >= want) {
                let pname = p["metadata"]["name"].as_str().unwrap_or("");
                let _ = ops::delete(
                    &mut st.store.lock(),
                    rt("", "pods"),
                    &ns,
                    pname,
                    None,
                    &Preconditions::default(),
                    false,
                );
            }
        }
        let pods = owned_pods(&st, &ns, &uid);
        let ready = pods.iter().filter(|p| is_ready(p)).count();
        let generation = sts["metadata"]["generation"].clone();
        write_status(&st, ("apps", "statefulsets"), &ns, &name, |s| {
            s["replicas"] = json!(pods.len());
            s["readyReplicas"] = json!(ready);
            s["availableReplicas"] = json!(ready);
            s["currentReplicas"] = json!(pods.len());
            s["updatedReplicas"] = json!(pods.len());
            s["observedGeneration"] = generation;
        });
        changes.next_pass(&st).await;
    }
}
