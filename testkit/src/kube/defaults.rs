//! Defaulting, as the API server does it before storing: the fields Catalyst and kubectl
//! read back (protocols, cluster IPs, job selectors, namespace finalizers, pod phase).

use serde_json::{Value, json};

use super::resources::ResourceType;

fn set_default(obj: &mut Value, key: &str, v: Value) {
    if obj.get(key).is_none_or(Value::is_null)
        && let Some(m) = obj.as_object_mut()
    {
        m.insert(key.to_string(), v);
    }
}

fn default_ports(ports: &mut Value) {
    for p in ports.as_array_mut().into_iter().flatten() {
        set_default(p, "protocol", json!("TCP"));
    }
}

/// Port protocols default to TCP; done on applied configurations too, so the list keys
/// (`containerPort`+`protocol`) of applied and live objects agree.
pub fn default_protocols(obj: &mut Value) {
    for spec in [obj.pointer_mut("/spec")].into_iter().flatten() {
        pod_spec_ports(spec);
        if spec.get("ports").is_some() {
            default_ports(&mut spec["ports"]);
        }
    }
    if let Some(spec) = obj.pointer_mut("/spec/template/spec") {
        pod_spec_ports(spec);
    }
}

fn pod_spec_ports(spec: &mut Value) {
    for list in ["containers", "initContainers"] {
        for c in spec
            .get_mut(list)
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            if let Some(p) = c.get_mut("ports") {
                default_ports(p);
            }
        }
    }
}

fn pod_spec(spec: &mut Value) {
    if !spec.is_object() {
        return;
    }
    set_default(spec, "restartPolicy", json!("Always"));
    set_default(spec, "dnsPolicy", json!("ClusterFirst"));
    set_default(spec, "schedulerName", json!("default-scheduler"));
    set_default(spec, "terminationGracePeriodSeconds", json!(30));
    set_default(spec, "securityContext", json!({}));
    for list in ["containers", "initContainers"] {
        for c in spec
            .get_mut(list)
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            let image = c["image"].as_str().unwrap_or("").to_string();
            let latest =
                image.ends_with(":latest") || !image.rsplit('/').next().unwrap_or("").contains(':');
            set_default(
                c,
                "imagePullPolicy",
                json!(if latest { "Always" } else { "IfNotPresent" }),
            );
            set_default(c, "terminationMessagePath", json!("/dev/termination-log"));
            set_default(c, "terminationMessagePolicy", json!("File"));
            set_default(c, "resources", json!({}));
            // Requests default to limits when only limits are given.
            let limits = c["resources"]["limits"].clone();
            for (k, v) in limits.as_object().into_iter().flatten() {
                if c["resources"]["requests"][k].is_null() {
                    c["resources"]["requests"][k] = v.clone();
                }
            }
        }
    }
}

fn random_ip() -> String {
    format!(
        "10.96.{}.{}",
        rand::random_range(0..=255u8),
        rand::random_range(1..=254u8)
    )
}

/// Fills defaults into an object being created (`create`) or updated.
pub fn apply_defaults(rt: &ResourceType, obj: &mut Value, create: bool) {
    default_protocols(obj);
    match (rt.group, rt.kind) {
        ("", "Namespace") => {
            let name = obj["metadata"]["name"].clone();
            obj["metadata"]["labels"]["kubernetes.io/metadata.name"] = name;
            if create {
                set_default(&mut obj["spec"], "finalizers", json!(["kubernetes"]));
            }
        }
        ("", "Pod") => {
            pod_spec(&mut obj["spec"]);
            set_default(&mut obj["spec"], "serviceAccountName", json!("default"));
        }
        ("", "Service") => {
            let spec = &mut obj["spec"];
            set_default(spec, "type", json!("ClusterIP"));
            set_default(spec, "sessionAffinity", json!("None"));
            if create {
                set_default(spec, "clusterIP", json!(random_ip()));
                let ip = spec["clusterIP"].clone();
                set_default(spec, "clusterIPs", json!([ip]));
                set_default(spec, "ipFamilies", json!(["IPv4"]));
                set_default(spec, "ipFamilyPolicy", json!("SingleStack"));
                set_default(spec, "internalTrafficPolicy", json!("Cluster"));
            }
            for p in spec
                .get_mut("ports")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                let port = p["port"].clone();
                set_default(p, "targetPort", port);
            }
        }
        ("apps", "Deployment") => {
            let spec = &mut obj["spec"];
            set_default(spec, "replicas", json!(1));
            set_default(spec, "revisionHistoryLimit", json!(10));
            set_default(spec, "progressDeadlineSeconds", json!(600));
            set_default(
                spec,
                "strategy",
                json!({"type":"RollingUpdate","rollingUpdate":{"maxSurge":"25%","maxUnavailable":"25%"}}),
            );
            pod_spec(&mut spec["template"]["spec"]);
        }
        ("apps", "ReplicaSet" | "StatefulSet") => {
            set_default(&mut obj["spec"], "replicas", json!(1));
            pod_spec(&mut obj["spec"]["template"]["spec"]);
        }
        ("batch", "Job") => {
            let uid = obj["metadata"]["uid"].clone();
            let name = obj["metadata"]["name"].clone();
            let spec = &mut obj["spec"];
            set_default(spec, "parallelism", json!(1));
            set_default(spec, "completions", json!(1));
            set_default(spec, "backoffLimit", json!(6));
            set_default(spec, "completionMode", json!("NonIndexed"));
            set_default(spec, "suspend", json!(false));
            set_default(spec, "podReplacementPolicy", json!("TerminatingOrFailed"));
            if create && spec["manualSelector"].as_bool() != Some(true) {
                spec["selector"] =
                    json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}});
                let labels = &mut spec["template"]["metadata"]["labels"];
                labels["batch.kubernetes.io/controller-uid"] = uid.clone();
                labels["batch.kubernetes.io/job-name"] = name.clone();
                labels["controller-uid"] = uid;
                labels["job-name"] = name;
            }
            pod_spec(&mut spec["template"]["spec"]);
        }
        _ => {}
    }
}

/// The `status` a freshly created object starts with (clients cannot set it on create).
pub fn initial_status(rt: &ResourceType, obj: &Value) -> Option<Value> {
    match (rt.group, rt.kind) {
        ("", "Namespace") => Some(json!({"phase": "Active"})),
        ("", "Pod") => Some(json!({"phase": "Pending", "qosClass": qos_class(&obj["spec"])})),
        ("", "Service") => Some(json!({"loadBalancer": {}})),
        ("", "Node") => obj.get("status").cloned(),
        _ if rt.has_status => Some(json!({})),
        _ => None,
    }
}

/// `Guaranteed`, `Burstable` or `BestEffort`, from the containers' requests and limits.
pub fn qos_class(spec: &Value) -> &'static str {
    let containers: Vec<&Value> = spec["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    let any = containers.iter().any(|c| {
        c["resources"]["requests"]
            .as_object()
            .is_some_and(|m| !m.is_empty())
            || c["resources"]["limits"]
                .as_object()
                .is_some_and(|m| !m.is_empty())
    });
    if !any {
        return "BestEffort";
    }
    let guaranteed = containers.iter().all(|c| {
        let l = &c["resources"]["limits"];
        let r = &c["resources"]["requests"];
        ["cpu", "memory"]
            .iter()
            .all(|k| !l[*k].is_null() && (r[*k].is_null() || r[*k] == l[*k]))
    });
    if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}
