//! The static table of resource kinds the double serves.
//!
//! Everything generic (discovery, CRUD, list, watch, apply) is driven by this table, so
//! adding a kind is one line; kind-specific behaviour lives in hooks elsewhere.

/// One served resource: where it lives in the API and what it supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceType {
    /// `""` for the core group.
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    pub singular: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    /// Whether a `/status` subresource exists (writes to the main resource then keep
    /// `status`, and writes to `/status` keep everything else).
    pub has_status: bool,
    /// Read-only kinds (metrics) only answer get/list.
    pub read_only: bool,
}

impl ResourceType {
    /// `v1` or `apps/v1`, as in an object's `apiVersion`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The verbs advertised by discovery.
    pub fn verbs(&self) -> &'static [&'static str] {
        if self.read_only {
            &["get", "list"]
        } else {
            &[
                "create",
                "delete",
                "deletecollection",
                "get",
                "list",
                "patch",
                "update",
                "watch",
            ]
        }
    }

    /// Whether a subresource of this kind is served (discovery lists them too).
    pub fn subresources(&self) -> &'static [&'static str] {
        match (self.group, self.plural) {
            ("", "pods") => &["status", "log"],
            ("", "services") => &["status", "proxy"],
            ("", "serviceaccounts") => &["token"],
            _ if self.has_status => &["status"],
            _ => &[],
        }
    }
}

macro_rules! rt {
    ($g:expr, $v:expr, $k:expr, $p:expr, $s:expr, $ns:expr, [$($sn:expr),*], $st:expr) => {
        ResourceType { group: $g, version: $v, kind: $k, plural: $p, singular: $s, namespaced: $ns, short_names: &[$($sn),*], has_status: $st, read_only: false }
    };
}

/// Every kind the double serves.
pub static RESOURCES: &[ResourceType] = &[
    rt!(
        "",
        "v1",
        "Namespace",
        "namespaces",
        "namespace",
        false,
        ["ns"],
        true
    ),
    rt!("", "v1", "Pod", "pods", "pod", true, ["po"], true),
    rt!(
        "",
        "v1",
        "Service",
        "services",
        "service",
        true,
        ["svc"],
        true
    ),
    rt!("", "v1", "Secret", "secrets", "secret", true, [], false),
    rt!(
        "",
        "v1",
        "ConfigMap",
        "configmaps",
        "configmap",
        true,
        ["cm"],
        false
    ),
    rt!(
        "",
        "v1",
        "ServiceAccount",
        "serviceaccounts",
        "serviceaccount",
        true,
        ["sa"],
        false
    ),
    rt!("", "v1", "Event", "events", "event", true, ["ev"], false),
    rt!(
        "",
        "v1",
        "ResourceQuota",
        "resourcequotas",
        "resourcequota",
        true,
        ["quota"],
        true
    ),
    rt!(
        "",
        "v1",
        "LimitRange",
        "limitranges",
        "limitrange",
        true,
        ["limits"],
        false
    ),
    rt!("", "v1", "Node", "nodes", "node", false, ["no"], true),
    rt!(
        "apps",
        "v1",
        "Deployment",
        "deployments",
        "deployment",
        true,
        ["deploy"],
        true
    ),
    rt!(
        "apps",
        "v1",
        "ReplicaSet",
        "replicasets",
        "replicaset",
        true,
        ["rs"],
        true
    ),
    rt!(
        "apps",
        "v1",
        "StatefulSet",
        "statefulsets",
        "statefulset",
        true,
        ["sts"],
        true
    ),
    rt!("batch", "v1", "Job", "jobs", "job", true, [], true),
    rt!(
        "networking.k8s.io",
        "v1",
        "Ingress",
        "ingresses",
        "ingress",
        true,
        ["ing"],
        true
    ),
    rt!(
        "networking.k8s.io",
        "v1",
        "NetworkPolicy",
        "networkpolicies",
        "networkpolicy",
        true,
        ["netpol"],
        false
    ),
    rt!(
        "rbac.authorization.k8s.io",
        "v1",
        "Role",
        "roles",
        "role",
        true,
        [],
        false
    ),
    rt!(
        "rbac.authorization.k8s.io",
        "v1",
        "RoleBinding",
        "rolebindings",
        "rolebinding",
        true,
        [],
        false
    ),
    rt!(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRole",
        "clusterroles",
        "clusterrole",
        false,
        [],
        false
    ),
    rt!(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
        "clusterrolebinding",
        false,
        [],
        false
    ),
    rt!(
        "coordination.k8s.io",
        "v1",
        "Lease",
        "leases",
        "lease",
        true,
        [],
        false
    ),
    ResourceType {
        group: "metrics.k8s.io",
        version: "v1beta1",
        kind: "PodMetrics",
        plural: "pods",
        singular: "",
        namespaced: true,
        short_names: &[],
        has_status: false,
        read_only: true,
    },
];

/// Looks a resource up by its URL coordinates.
pub fn find(group: &str, version: &str, plural: &str) -> Option<&'static ResourceType> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

/// Looks a resource up by `apiVersion` + `kind`, as found in an object body.
pub fn find_kind(api_version: &str, kind: &str) -> Option<&'static ResourceType> {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.kind == kind)
}

/// The groups, in discovery order (core excluded).
pub fn groups() -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for r in RESOURCES {
        if !r.group.is_empty() && !out.contains(&r.group) {
            out.push(r.group);
        }
    }
    out
}

/// The preferred (only) version of a group.
pub fn group_version(group: &str) -> &'static str {
    RESOURCES
        .iter()
        .find(|r| r.group == group)
        .map(|r| r.version)
        .unwrap_or("v1")
}
