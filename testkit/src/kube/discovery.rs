//! Discovery documents: `/version`, `/api`, `/api/v1`, `/apis`, `/apis/{group}[/{version}]`.
//! Clients (kube's `Discovery`, kubectl's REST mapper) build their resource maps from these.

use serde_json::{Value, json};

use super::resources::{RESOURCES, group_version, groups};

/// The Kubernetes version the double claims to be.
pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": "37",
        "emulationMajor": "1",
        "emulationMinor": "37",
        "gitVersion": "v1.37.0",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.25.0",
        "compiler": "gc",
        "platform": "linux/amd64"
    })
}

/// `/api`: the core group's versions.
pub fn core_versions(server: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server}]
    })
}

fn group_doc(g: &str) -> Value {
    let v = group_version(g);
    let gv = json!({"groupVersion": format!("{g}/{v}"), "version": v});
    json!({"name": g, "versions": [gv.clone()], "preferredVersion": gv})
}

/// `/apis`: every named group.
pub fn group_list() -> Value {
    json!({
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": groups().into_iter().map(group_doc).collect::<Vec<_>>()
    })
}

/// `/apis/{group}`, if the group is served.
pub fn group(g: &str) -> Option<Value> {
    groups().contains(&g).then(|| {
        let mut d = group_doc(g);
        d["kind"] = json!("APIGroup");
        d["apiVersion"] = json!("v1");
        d
    })
}

/// `/api/v1` or `/apis/{group}/{version}`: the resources of one group version.
pub fn resource_list(g: &str, v: &str) -> Option<Value> {
    let mut resources = Vec::new();
    for r in RESOURCES.iter().filter(|r| r.group == g && r.version == v) {
        let mut doc = json!({
            "name": r.plural,
            "singularName": r.singular,
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": r.verbs(),
        });
        if !r.short_names.is_empty() {
            doc["shortNames"] = json!(r.short_names);
        }
        resources.push(doc);
        for sub in r.subresources() {
            let verbs: &[&str] = match *sub {
                "status" => &["get", "patch", "update"],
                "log" => &["get"],
                "token" => &["create"],
                _ => &["create", "delete", "get", "patch", "update"],
            };
            let mut doc = json!({
                "name": format!("{}/{sub}", r.plural),
                "singularName": "",
                "namespaced": r.namespaced,
                "kind": if *sub == "proxy" { "ServiceProxyOptions" } else if *sub == "log" { "Pod" } else { r.kind },
                "verbs": verbs,
            });
            if *sub == "token" {
                // A TokenRequest lives in another group than its ServiceAccount.
                doc["group"] = json!("authentication.k8s.io");
                doc["version"] = json!("v1");
                doc["kind"] = json!("TokenRequest");
            }
            resources.push(doc);
        }
    }
    if resources.is_empty() {
        return None;
    }
    let gv = if g.is_empty() {
        v.to_string()
    } else {
        format!("{g}/{v}")
    };
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}),
    )
}
