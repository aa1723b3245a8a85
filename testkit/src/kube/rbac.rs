//! Kubernetes' RBAC authorizer and its escalation checks, over Role, RoleBinding,
//! ClusterRole and ClusterRoleBinding objects as JSON.
//!
//! Same rules as k8s.io/kubernetes `plugin/pkg/auth/authorizer/rbac` and
//! `pkg/registry/rbac/validation`:
//!
//! - a ClusterRoleBinding grants its ClusterRole's rules everywhere (cluster scope and
//!   every namespace); a RoleBinding grants its Role's — or a ClusterRole's — rules in
//!   the binding's namespace only;
//! - a rule matches when its `verbs`, `apiGroups` and `resources` contain the request's
//!   (or `*`; `*/log` matches the `log` subresource of anything) and, when it has
//!   `resourceNames`, the request names one of them (so lists and creates never match
//!   such a rule); `nonResourceURLs` (`/healthz`, `/apis/*`) match non-resource requests
//!   and count only from ClusterRoleBindings;
//! - subjects: `User` by name, `Group` by the user's groups, `ServiceAccount` by
//!   `system:serviceaccount:{namespace}:{name}` (a RoleBinding's subject without a
//!   namespace means the binding's namespace);
//! - members of `system:masters` are allowed everything without looking at any rule;
//! - writing a Role/ClusterRole needs every permission it grants (or `escalate` on
//!   it), writing a binding needs every permission of the role it references (or
//!   `bind` on that role): that is what stops an account from granting itself more.
//!
//! ClusterRole `aggregationRule`s are not evaluated (the double has no aggregation
//! controller); their `rules` are used as stored.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::errors::{ApiError, qualified};
use super::request_info::RequestInfo;

pub const RBAC_GROUP: &str = "rbac.authorization.k8s.io";
/// The group whose members bypass authorization, as on a real API server.
pub const SYSTEM_MASTERS: &str = "system:masters";
pub const SYSTEM_AUTHENTICATED: &str = "system:authenticated";

/// Who is asking: the API server's `user.Info` (name and groups).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    pub name: String,
    pub groups: Vec<String>,
}

impl UserInfo {
    /// A cluster administrator (what a kubeconfig without credentials means to the double).
    pub fn admin() -> Self {
        Self {
            name: "kubernetes-admin".to_owned(),
            groups: vec![SYSTEM_MASTERS.to_owned(), SYSTEM_AUTHENTICATED.to_owned()],
        }
    }

    /// A ServiceAccount's identity, with the groups the token authenticator adds.
    pub fn service_account(namespace: &str, name: &str) -> Self {
        Self {
            name: service_account_username(namespace, name),
            groups: vec![
                "system:serviceaccounts".to_owned(),
                format!("system:serviceaccounts:{namespace}"),
                SYSTEM_AUTHENTICATED.to_owned(),
            ],
        }
    }

    pub fn is_master(&self) -> bool {
        self.groups.iter().any(|g| g == SYSTEM_MASTERS)
    }
}

/// `system:serviceaccount:{namespace}:{name}`.
pub fn service_account_username(namespace: &str, name: &str) -> String {
    format!("system:serviceaccount:{namespace}:{name}")
}

/// One `rules[]` entry of a Role or ClusterRole.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyRule {
    #[serde(default)]
    pub verbs: Vec<String>,
    #[serde(default)]
    pub api_groups: Vec<String>,
    #[serde(default)]
    pub resources: Vec<String>,
    #[serde(default)]
    pub resource_names: Vec<String>,
    #[serde(default, rename = "nonResourceURLs")]
    pub non_resource_urls: Vec<String>,
}

fn has(set: &[String], want: &str) -> bool {
    set.iter().any(|s| s == want)
}

impl PolicyRule {
    /// A rule on resources, e.g. `PolicyRule::new(&[""], &["pods"], &["get"])`.
    pub fn new(groups: &[&str], resources: &[&str], verbs: &[&str]) -> Self {
        let own = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect();
        Self {
            verbs: own(verbs),
            api_groups: own(groups),
            resources: own(resources),
            ..Self::default()
        }
    }

    /// Whether this rule allows the request (`RuleAllows` in the authorizer).
    pub fn allows(&self, req: &RequestInfo) -> bool {
        if !(has(&self.verbs, "*") || has(&self.verbs, &req.verb)) {
            return false;
        }
        if req.is_resource_request {
            (has(&self.api_groups, "*") || has(&self.api_groups, &req.api_group))
                && self.resource_matches(req)
                && (self.resource_names.is_empty() || has(&self.resource_names, &req.name))
        } else {
            self.non_resource_urls
                .iter()
                .any(|u| non_resource_url_matches(u, &req.path))
        }
    }

    fn resource_matches(&self, req: &RequestInfo) -> bool {
        let combined = req.resource_path();
        self.resources.iter().any(|r| {
            r == "*"
                || *r == combined
                || (!req.subresource.is_empty()
                    && r.strip_prefix("*/") == Some(req.subresource.as_str()))
        })
    }

    /// One rule per (group, resource, verb[, name]) and per (url, verb): the unit the
    /// escalation check compares (`BreakdownRule`).
    pub fn breakdown(&self) -> Vec<PolicyRule> {
        let mut out = Vec::new();
        for g in &self.api_groups {
            for r in &self.resources {
                for v in &self.verbs {
                    let one = PolicyRule::new(&[g.as_str()], &[r.as_str()], &[v.as_str()]);
                    if self.resource_names.is_empty() {
                        out.push(one);
                    } else {
                        for n in &self.resource_names {
                            out.push(PolicyRule {
                                resource_names: vec![n.clone()],
                                ..one.clone()
                            });
                        }
                    }
                }
            }
        }
        for u in &self.non_resource_urls {
            for v in &self.verbs {
                out.push(PolicyRule {
                    verbs: vec![v.clone()],
                    non_resource_urls: vec![u.clone()],
                    ..Self::default()
                });
            }
        }
        out
    }

    /// Whether this (owner's) rule covers all of `sub` (`ruleCovers`).
    pub fn covers(&self, sub: &PolicyRule) -> bool {
        let all = |set: &[String], want: &[String]| want.iter().all(|w| has(set, w));
        let verbs = has(&self.verbs, "*") || all(&self.verbs, &sub.verbs);
        let groups = has(&self.api_groups, "*") || all(&self.api_groups, &sub.api_groups);
        let resources = has(&self.resources, "*")
            || all(&self.resources, &sub.resources)
            || sub.resources.iter().all(|r| {
                has(&self.resources, r)
                    || r.split_once('/')
                        .is_some_and(|(_, s)| has(&self.resources, &format!("*/{s}")))
            });
        let urls = has(&self.non_resource_urls, "*")
            || sub.non_resource_urls.iter().all(|u| {
                self.non_resource_urls
                    .iter()
                    .any(|o| o == u || o.strip_suffix('*').is_some_and(|p| u.starts_with(p)))
            });
        let names = if sub.resource_names.is_empty() {
            self.resource_names.is_empty()
        } else {
            self.resource_names.is_empty() || all(&self.resource_names, &sub.resource_names)
        };
        verbs && groups && resources && urls && names
    }

    /// `{APIGroups:["apps"], Resources:["deployments"], Verbs:["create"]}`, as the API
    /// server prints missing permissions (`CompactString`).
    pub fn compact_string(&self) -> String {
        let q = |v: &[String]| {
            let items: Vec<String> = v.iter().map(|s| format!("{s:?}")).collect();
            format!("[{}]", items.join(" "))
        };
        let mut parts = Vec::new();
        for (label, v) in [
            ("APIGroups", &self.api_groups),
            ("Resources", &self.resources),
            ("NonResourceURLs", &self.non_resource_urls),
            ("ResourceNames", &self.resource_names),
            ("Verbs", &self.verbs),
        ] {
            if !v.is_empty() {
                parts.push(format!("{label}:{}", q(v)));
            }
        }
        format!("{{{}}}", parts.join(", "))
    }
}

fn non_resource_url_matches(rule: &str, path: &str) -> bool {
    rule == "*"
        || rule == path
        || rule
            .strip_suffix('*')
            .is_some_and(|prefix| path.starts_with(prefix))
}

/// A binding's subject.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
pub struct Subject {
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub namespace: Option<String>,
}

impl Subject {
    /// `appliesToUser`: `binding_ns` is `""` for ClusterRoleBindings.
    fn applies_to(&self, user: &UserInfo, binding_ns: &str) -> bool {
        match self.kind.as_str() {
            "User" => self.name == user.name,
            "Group" => user.groups.contains(&self.name),
            "ServiceAccount" => {
                let ns = self
                    .namespace
                    .as_deref()
                    .filter(|n| !n.is_empty())
                    .unwrap_or(binding_ns);
                !ns.is_empty() && service_account_username(ns, &self.name) == user.name
            }
            _ => false,
        }
    }
}

/// A binding's `roleRef`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleRef {
    #[serde(default)]
    pub api_group: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub name: String,
}

#[derive(Debug, Clone)]
struct Binding {
    /// `""` for a ClusterRoleBinding.
    namespace: String,
    role_ref: RoleRef,
    subjects: Vec<Subject>,
}

#[derive(Debug, Clone)]
struct NamedRules {
    /// `""` for a ClusterRole.
    namespace: String,
    name: String,
    rules: Vec<PolicyRule>,
}

/// The RBAC objects of a cluster (or of a rendered chart), ready to answer questions.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    roles: Vec<NamedRules>,
    cluster_roles: Vec<NamedRules>,
    bindings: Vec<Binding>,
}

fn rules_of(obj: &Value) -> Vec<PolicyRule> {
    serde_json::from_value(obj["rules"].clone()).unwrap_or_default()
}

impl Policy {
    /// Reads every Role, ClusterRole, RoleBinding and ClusterRoleBinding among `objects`
    /// (other kinds are ignored). Namespaced objects without `metadata.namespace` (as
    /// `helm template` renders them) are taken to be in `default_namespace`.
    pub fn from_objects<'a>(
        objects: impl IntoIterator<Item = &'a Value>,
        default_namespace: &str,
    ) -> Self {
        let mut p = Self::default();
        for obj in objects {
            if obj["apiVersion"] != format!("{RBAC_GROUP}/v1") {
                continue;
            }
            let name = obj["metadata"]["name"].as_str().unwrap_or("").to_owned();
            let ns = obj["metadata"]["namespace"]
                .as_str()
                .filter(|n| !n.is_empty())
                .unwrap_or(default_namespace)
                .to_owned();
            match obj["kind"].as_str() {
                Some("Role") => p.roles.push(NamedRules {
                    namespace: ns,
                    name,
                    rules: rules_of(obj),
                }),
                Some("ClusterRole") => p.cluster_roles.push(NamedRules {
                    namespace: String::new(),
                    name,
                    rules: rules_of(obj),
                }),
                Some(kind @ ("RoleBinding" | "ClusterRoleBinding")) => {
                    let Ok(role_ref) = serde_json::from_value(obj["roleRef"].clone()) else {
                        continue;
                    };
                    p.bindings.push(Binding {
                        namespace: if kind == "RoleBinding" {
                            ns
                        } else {
                            String::new()
                        },
                        role_ref,
                        subjects: serde_json::from_value(obj["subjects"].clone())
                            .unwrap_or_default(),
                    });
                }
                _ => {}
            }
        }
        p
    }

    /// The rules a role reference stands for in `namespace`; `Err` names a missing role
    /// the way the API server does.
    pub fn role_ref_rules(&self, r: &RoleRef, namespace: &str) -> Result<Vec<PolicyRule>, String> {
        let (list, ns, plural) = match r.kind.as_str() {
            "ClusterRole" => (&self.cluster_roles, "", "clusterroles"),
            "Role" => (&self.roles, namespace, "roles"),
            other => return Err(format!("unsupported role reference kind: {other:?}")),
        };
        list.iter()
            .find(|n| n.name == r.name && n.namespace == ns)
            .map(|n| n.rules.clone())
            .ok_or_else(|| format!("{} {:?} not found", qualified(RBAC_GROUP, plural), r.name))
    }

    /// Every rule that applies to `user` in `namespace` (`""`: at the cluster scope):
    /// the ruleResolver's `RulesFor`.
    pub fn rules_for(&self, user: &UserInfo, namespace: &str) -> Vec<PolicyRule> {
        let mut out = Vec::new();
        for b in &self.bindings {
            let in_scope =
                b.namespace.is_empty() || (!namespace.is_empty() && b.namespace == namespace);
            if !in_scope || !b.subjects.iter().any(|s| s.applies_to(user, &b.namespace)) {
                continue;
            }
            if let Ok(rules) = self.role_ref_rules(&b.role_ref, &b.namespace) {
                out.extend(rules);
            }
        }
        out
    }

    /// Whether RBAC allows the request.
    pub fn authorize(&self, user: &UserInfo, req: &RequestInfo) -> bool {
        if user.is_master() {
            return true;
        }
        let ns = if req.is_resource_request {
            req.namespace.as_str()
        } else {
            ""
        };
        self.rules_for(user, ns).iter().any(|r| r.allows(req))
    }

    /// The parts of `wanted` that `user` does not hold in `namespace`, compacted and
    /// sorted; empty when granting `wanted` is no escalation (`ConfirmNoEscalation`).
    pub fn missing_rights(
        &self,
        user: &UserInfo,
        namespace: &str,
        wanted: &[PolicyRule],
    ) -> Vec<String> {
        if user.is_master() {
            return Vec::new();
        }
        let owned = self.rules_for(user, namespace);
        let missing: Vec<PolicyRule> = wanted
            .iter()
            .flat_map(PolicyRule::breakdown)
            .filter(|sub| !owned.iter().any(|o| o.covers(sub)))
            .collect();
        let compact: BTreeSet<String> = compact_rules(missing)
            .iter()
            .map(PolicyRule::compact_string)
            .collect();
        compact.into_iter().collect()
    }
}

/// Merges single-group, single-resource rules that differ only in verbs (`CompactRules`).
fn compact_rules(rules: Vec<PolicyRule>) -> Vec<PolicyRule> {
    let mut out: Vec<PolicyRule> = Vec::new();
    for r in rules {
        let simple = r.api_groups.len() == 1
            && r.resources.len() == 1
            && r.resource_names.is_empty()
            && r.non_resource_urls.is_empty();
        if simple
            && let Some(existing) = out.iter_mut().find(|e| {
                e.api_groups == r.api_groups
                    && e.resources == r.resources
                    && e.resource_names.is_empty()
                    && e.non_resource_urls.is_empty()
            })
        {
            for v in r.verbs {
                if !existing.verbs.contains(&v) {
                    existing.verbs.push(v);
                }
            }
            continue;
        }
        out.push(r);
    }
    out
}

/// `%q` of a Go string slice: `["a" "b"]`.
fn go_quoted(v: &[String]) -> String {
    let items: Vec<String> = v.iter().map(|s| format!("{s:?}")).collect();
    format!("[{}]", items.join(" "))
}

/// The API server's 403 for a request RBAC denied (`responsewriters.Forbidden`):
/// `deployments.apps "web" is forbidden: User "system:serviceaccount:ns:sa" cannot
/// patch resource "deployments" in API group "apps" in the namespace "other"`.
pub fn forbidden(user: &UserInfo, req: &RequestInfo) -> ApiError {
    if !req.is_resource_request {
        return ApiError {
            code: 403,
            reason: "Forbidden".to_owned(),
            message: format!(
                "forbidden: User {:?} cannot {} path {:?}",
                user.name, req.verb, req.path
            ),
            details: json!({}),
        };
    }
    let scope = if req.namespace.is_empty() {
        "at the cluster scope".to_owned()
    } else {
        format!("in the namespace {:?}", req.namespace)
    };
    let reason = format!(
        "User {:?} cannot {} resource {:?} in API group {:?} {scope}",
        user.name,
        req.verb,
        req.resource_path(),
        req.api_group
    );
    forbidden_status(&req.api_group, &req.resource, &req.name, reason)
}

/// A `Forbidden` Status for `group/resource` `name` (`apierrors.NewForbidden`).
pub fn forbidden_status(group: &str, resource: &str, name: &str, reason: String) -> ApiError {
    let gr = qualified(group, resource);
    let message = if name.is_empty() {
        format!("{gr} is forbidden: {reason}")
    } else {
        format!("{gr} {name:?} is forbidden: {reason}")
    };
    let mut details = json!({ "kind": resource });
    if !group.is_empty() {
        details["group"] = json!(group);
    }
    if !name.is_empty() {
        details["name"] = json!(name);
    }
    ApiError {
        code: 403,
        reason: "Forbidden".to_owned(),
        message,
        details,
    }
}

/// The escalation refusal's reason text (`ConfirmNoEscalation`).
pub fn escalation_reason(user: &UserInfo, missing: &[String]) -> String {
    format!(
        "user {:?} (groups={}) is attempting to grant RBAC permissions not currently held:\n{}",
        user.name,
        go_quoted(&user.groups),
        missing.join("\n")
    )
}

/// The ClusterRoles and ClusterRoleBindings every cluster starts with that matter here:
/// `cluster-admin` for `system:masters`, and the discovery/health URLs every
/// authenticated user may read (`system:discovery`, `system:public-info-viewer`).
pub fn bootstrap_objects() -> Vec<Value> {
    let meta = |name: &str| {
        json!({"name": name, "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
            "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"}})
    };
    let cluster_role = |name: &str, rules: Value| {
        json!({"apiVersion": format!("{RBAC_GROUP}/v1"), "kind": "ClusterRole",
            "metadata": meta(name), "rules": rules})
    };
    let binding = |name: &str, groups: &[&str]| {
        let subjects: Vec<Value> = groups
            .iter()
            .map(|g| json!({"apiGroup": RBAC_GROUP, "kind": "Group", "name": g}))
            .collect();
        json!({"apiVersion": format!("{RBAC_GROUP}/v1"), "kind": "ClusterRoleBinding",
            "metadata": meta(name),
            "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": name},
            "subjects": subjects})
    };
    vec![
        cluster_role(
            "cluster-admin",
            json!([
                {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
                {"nonResourceURLs": ["*"], "verbs": ["*"]}
            ]),
        ),
        binding("cluster-admin", &[SYSTEM_MASTERS]),
        cluster_role(
            "system:discovery",
            json!([{"nonResourceURLs": ["/api", "/api/*", "/apis", "/apis/*", "/healthz",
                "/livez", "/openapi", "/openapi/*", "/readyz", "/version", "/version/"],
                "verbs": ["get"]}]),
        ),
        binding("system:discovery", &[SYSTEM_AUTHENTICATED]),
        cluster_role(
            "system:public-info-viewer",
            json!([{"nonResourceURLs": ["/healthz", "/livez", "/readyz", "/version", "/version/"],
                "verbs": ["get"]}]),
        ),
        binding(
            "system:public-info-viewer",
            &[SYSTEM_AUTHENTICATED, "system:unauthenticated"],
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, path: &str) -> RequestInfo {
        RequestInfo::from_request(method, path, "")
    }

    /// A deployer-like account in `pr-1`, a ClusterRole for reading nodes bound to a
    /// group, and a RoleBinding in `pr-1` to a ClusterRole.
    fn policy() -> Policy {
        let objs = vec![
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": "deployer", "namespace": "pr-1"},
            "rules": [
                {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "create", "patch"]},
                {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
                {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["only-this"], "verbs": ["*"]}
            ]}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": {"name": "deployer", "namespace": "pr-1"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "deployer"},
                "subjects": [{"kind": "ServiceAccount", "name": "deployer"}]}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": {"name": "node-reader"},
                "rules": [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list"]},
                          {"apiGroups": ["*"], "resources": ["*/status"], "verbs": ["get"]}]}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                "metadata": {"name": "node-reader"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "node-reader"},
                "subjects": [{"kind": "Group", "name": "system:serviceaccounts:pr-1"}]}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": {"name": "secret-reader"},
                "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": {"name": "secrets", "namespace": "pr-1"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "secret-reader"},
                "subjects": [{"kind": "User", "name": "system:serviceaccount:pr-1:deployer"}]}),
        ];
        let mut all = bootstrap_objects();
        all.extend(objs);
        Policy::from_objects(&all, "default")
    }

    fn deployer() -> UserInfo {
        UserInfo::service_account("pr-1", "deployer")
    }

    #[test]
    fn role_rules_apply_in_their_namespace_only() {
        let p = policy();
        let u = deployer();
        assert!(p.authorize(
            &u,
            &req("POST", "/apis/apps/v1/namespaces/pr-1/deployments")
        ));
        assert!(p.authorize(
            &u,
            &req("PATCH", "/apis/apps/v1/namespaces/pr-1/deployments/web")
        ));
        assert!(!p.authorize(
            &u,
            &req("DELETE", "/apis/apps/v1/namespaces/pr-1/deployments/web")
        ));
        assert!(!p.authorize(
            &u,
            &req("POST", "/apis/apps/v1/namespaces/pr-2/deployments")
        ));
        assert!(!p.authorize(&u, &req("GET", "/apis/apps/v1/deployments")));
        // Another account in the same namespace gets nothing from the binding.
        let other = UserInfo::service_account("pr-1", "default");
        assert!(!p.authorize(
            &other,
            &req("POST", "/apis/apps/v1/namespaces/pr-1/deployments")
        ));
        // Nor does the same name in another namespace.
        let twin = UserInfo::service_account("pr-2", "deployer");
        assert!(!p.authorize(
            &twin,
            &req("POST", "/apis/apps/v1/namespaces/pr-1/deployments")
        ));
    }

    #[test]
    fn subresources_need_their_own_rule() {
        let p = policy();
        let u = deployer();
        assert!(p.authorize(&u, &req("GET", "/api/v1/namespaces/pr-1/pods/web/log")));
        assert!(!p.authorize(&u, &req("GET", "/api/v1/namespaces/pr-1/pods/web")));
        assert!(!p.authorize(&u, &req("POST", "/api/v1/namespaces/pr-1/pods/web/exec")));
        // `*/status` from the group-bound ClusterRole: any status, anywhere.
        assert!(p.authorize(
            &u,
            &req("GET", "/apis/apps/v1/namespaces/pr-9/deployments/x/status")
        ));
        assert!(!p.authorize(
            &u,
            &req("PUT", "/apis/apps/v1/namespaces/pr-9/deployments/x/status")
        ));
    }

    #[test]
    fn resource_names_restrict_and_never_match_lists_or_creates() {
        let p = policy();
        let u = deployer();
        assert!(p.authorize(
            &u,
            &req("PUT", "/api/v1/namespaces/pr-1/configmaps/only-this")
        ));
        assert!(!p.authorize(&u, &req("PUT", "/api/v1/namespaces/pr-1/configmaps/other")));
        assert!(!p.authorize(&u, &req("GET", "/api/v1/namespaces/pr-1/configmaps")));
        assert!(!p.authorize(&u, &req("POST", "/api/v1/namespaces/pr-1/configmaps")));
    }

    #[test]
    fn cluster_role_bindings_reach_the_cluster_scope_and_role_bindings_do_not() {
        let p = policy();
        let u = deployer();
        assert!(p.authorize(&u, &req("GET", "/api/v1/nodes")));
        assert!(!p.authorize(&u, &req("DELETE", "/api/v1/nodes/n1")));
        // A ClusterRole bound by a RoleBinding counts in that namespace only.
        assert!(p.authorize(&u, &req("GET", "/api/v1/namespaces/pr-1/secrets/s")));
        assert!(!p.authorize(&u, &req("GET", "/api/v1/namespaces/kube-system/secrets/s")));
        assert!(!p.authorize(&u, &req("POST", "/api/v1/namespaces")));
        assert!(!p.authorize(
            &u,
            &req("POST", "/apis/rbac.authorization.k8s.io/v1/clusterroles")
        ));
    }

    #[test]
    fn discovery_is_open_and_masters_bypass_rules() {
        let p = policy();
        assert!(p.authorize(&deployer(), &req("GET", "/version")));
        assert!(p.authorize(&deployer(), &req("GET", "/apis/apps/v1")));
        assert!(!p.authorize(&deployer(), &req("GET", "/metrics")));
        assert!(!p.authorize(&deployer(), &req("POST", "/version")));
        let empty = Policy::default();
        assert!(empty.authorize(
            &UserInfo::admin(),
            &req("DELETE", "/api/v1/namespaces/kube-system")
        ));
    }

    #[test]
    fn forbidden_answers_read_like_the_api_server() {
        let u = deployer();
        let e = forbidden(
            &u,
            &req("POST", "/apis/rbac.authorization.k8s.io/v1/clusterroles"),
        );
        assert_eq!(e.code, 403);
        assert_eq!(
            e.to_status(),
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": "clusterroles.rbac.authorization.k8s.io is forbidden: User \"system:serviceaccount:pr-1:deployer\" cannot create resource \"clusterroles\" in API group \"rbac.authorization.k8s.io\" at the cluster scope",
                "reason": "Forbidden",
                "details": {"group": "rbac.authorization.k8s.io", "kind": "clusterroles"},
                "code": 403})
        );
        let e = forbidden(
            &u,
            &req("GET", "/api/v1/namespaces/kube-system/secrets/token"),
        );
        assert_eq!(
            e.message,
            "secrets \"token\" is forbidden: User \"system:serviceaccount:pr-1:deployer\" cannot get resource \"secrets\" in API group \"\" in the namespace \"kube-system\""
        );
        assert_eq!(e.details, json!({"kind": "secrets", "name": "token"}));
        let e = forbidden(&u, &req("GET", "/metrics"));
        assert_eq!(
            e.message,
            "forbidden: User \"system:serviceaccount:pr-1:deployer\" cannot get path \"/metrics\""
        );
    }

    #[test]
    fn granting_more_than_one_holds_is_an_escalation() {
        let p = policy();
        let u = deployer();
        let within = [PolicyRule::new(
            &["apps"],
            &["deployments"],
            &["get", "create"],
        )];
        assert!(p.missing_rights(&u, "pr-1", &within).is_empty());
        let beyond = [
            PolicyRule::new(&["apps"], &["deployments"], &["get", "delete", "update"]),
            PolicyRule::new(&["networking.k8s.io"], &["networkpolicies"], &["create"]),
        ];
        assert_eq!(
            p.missing_rights(&u, "pr-1", &beyond),
            [
                "{APIGroups:[\"apps\"], Resources:[\"deployments\"], Verbs:[\"delete\" \"update\"]}",
                "{APIGroups:[\"networking.k8s.io\"], Resources:[\"networkpolicies\"], Verbs:[\"create\"]}",
            ]
        );
        // What is held in pr-1 is not held in pr-2.
        assert_eq!(p.missing_rights(&u, "pr-2", &within).len(), 1);
        // Subresource wildcards and resource names are compared like the API server does.
        let status = [PolicyRule::new(&["batch"], &["jobs/status"], &["get"])];
        assert!(p.missing_rights(&u, "pr-2", &status).is_empty());
        let named = [PolicyRule {
            resource_names: vec!["only-this".into()],
            ..PolicyRule::new(&[""], &["configmaps"], &["delete"])
        }];
        assert!(p.missing_rights(&u, "pr-1", &named).is_empty());
        let unnamed = [PolicyRule::new(&[""], &["configmaps"], &["delete"])];
        assert_eq!(p.missing_rights(&u, "pr-1", &unnamed).len(), 1);
        assert!(p.missing_rights(&UserInfo::admin(), "", &beyond).is_empty());
        let admin_rules = p
            .role_ref_rules(
                &RoleRef {
                    api_group: RBAC_GROUP.into(),
                    kind: "ClusterRole".into(),
                    name: "cluster-admin".into(),
                },
                "pr-1",
            )
            .unwrap();
        assert_eq!(
            p.missing_rights(&u, "pr-1", &admin_rules),
            [
                "{APIGroups:[\"*\"], Resources:[\"*\"], Verbs:[\"*\"]}",
                "{NonResourceURLs:[\"*\"], Verbs:[\"*\"]}"
            ]
        );
        let reason = escalation_reason(&u, &p.missing_rights(&u, "pr-1", &unnamed));
        assert!(reason.starts_with(
            "user \"system:serviceaccount:pr-1:deployer\" (groups=[\"system:serviceaccounts\" \"system:serviceaccounts:pr-1\" \"system:authenticated\"]) is attempting to grant RBAC permissions not currently held:\n{APIGroups:[\"\"], Resources:[\"configmaps\"], Verbs:[\"delete\"]}"
        ), "{reason}");
    }

    #[test]
    fn missing_roles_are_named() {
        let p = policy();
        let r = RoleRef {
            api_group: RBAC_GROUP.into(),
            kind: "Role".into(),
            name: "nope".into(),
        };
        assert_eq!(
            p.role_ref_rules(&r, "pr-1").unwrap_err(),
            "roles.rbac.authorization.k8s.io \"nope\" not found"
        );
    }
}
