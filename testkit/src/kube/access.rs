//! The double's authentication and authorization filter, run on every request before
//! it reaches a verb: who is asking ([`super::tokens`]), whether RBAC allows it
//! ([`super::rbac`], against the Roles and bindings in the store), and — for writes of
//! RBAC objects — whether the write would grant more than the writer holds.
//!
//! The administrator (no credentials) passes untouched, so only requests made with a
//! ServiceAccount token are ever refused.

use axum::http::{HeaderMap, Method, header};
use serde_json::Value;

use super::KubeState;
use super::errors::ApiResult;
use super::ops::{self, PatchType, WriteOpts};
use super::rbac::{self, Policy, RBAC_GROUP, RoleRef, UserInfo, forbidden, forbidden_status};
use super::request_info::RequestInfo;
use super::resources::{RESOURCES, ResourceType, find};
use super::store::Inner;

/// The RBAC objects currently in the store.
pub fn policy(inner: &Inner) -> Policy {
    let objects: Vec<&Value> = RESOURCES
        .iter()
        .filter(|r| r.group == RBAC_GROUP)
        .flat_map(|r| inner.list(r, None))
        .collect();
    Policy::from_objects(objects, "")
}

/// Lets the request through, or answers 401/403 the way the API server would.
pub fn admit(
    st: &KubeState,
    method: &Method,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> ApiResult<()> {
    if !headers.contains_key(header::AUTHORIZATION) {
        // The administrator: no need to take the store's lock on the hot path.
        return Ok(());
    }
    let mut inner = st.store.lock();
    let user = st.tokens.authenticate(&inner, headers)?;
    if user.is_master() {
        return Ok(());
    }
    let info = RequestInfo::from_request(method.as_str(), path, query);
    let policy = policy(&inner);
    if !policy.authorize(&user, &info) {
        return Err(forbidden(&user, &info));
    }
    let Some(rt) = rbac_target(&info) else {
        return creates_by_apply(&inner, &policy, &user, &info, headers);
    };
    creates_by_apply(&inner, &policy, &user, &info, headers)?;
    let Some(obj) = resulting_object(&mut inner, rt, &info, method, query, headers, body) else {
        // Malformed writes fail in the verb with their own error.
        return Ok(());
    };
    no_escalation(&policy, &user, rt, &info, &obj)
}

/// A server-side apply that creates the object is also a `create`, and the API server
/// checks that too.
fn creates_by_apply(
    inner: &Inner,
    policy: &Policy,
    user: &UserInfo,
    info: &RequestInfo,
    headers: &HeaderMap,
) -> ApiResult<()> {
    if info.verb != "patch" || !info.subresource.is_empty() || !is_apply(headers) {
        return Ok(());
    }
    let Some(rt) = RESOURCES.iter().find(|r| {
        r.group == info.api_group && r.version == info.api_version && r.plural == info.resource
    }) else {
        return Ok(());
    };
    if inner.get(rt, &info.namespace, &info.name).is_some() {
        return Ok(());
    }
    let create = RequestInfo {
        verb: "create".to_owned(),
        ..info.clone()
    };
    if policy.authorize(user, &create) {
        Ok(())
    } else {
        Err(forbidden(user, &create))
    }
}

fn content_type(headers: &HeaderMap) -> &str {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| ct.split(';').next())
        .map_or("", str::trim)
}

fn is_apply(headers: &HeaderMap) -> bool {
    content_type(headers).starts_with("application/apply-patch")
}

/// Roles, ClusterRoles and their bindings being written.
fn rbac_target(info: &RequestInfo) -> Option<&'static ResourceType> {
    let writes = matches!(info.verb.as_str(), "create" | "update" | "patch");
    if !writes || info.api_group != RBAC_GROUP || !info.subresource.is_empty() {
        return None;
    }
    find(RBAC_GROUP, &info.api_version, &info.resource)
}

/// The object as it would be after the write: the body of a create or update, the
/// dry-run result of a patch.
fn resulting_object(
    inner: &mut Inner,
    rt: &'static ResourceType,
    info: &RequestInfo,
    method: &Method,
    query: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Option<Value> {
    if *method != Method::PATCH {
        return serde_json::from_slice(body).ok();
    }
    let q = crate::http_util::parse_query(query);
    let (ptype, patch) = match content_type(headers) {
        "application/merge-patch+json" => (PatchType::Merge, serde_json::from_slice(body).ok()?),
        "application/strategic-merge-patch+json" => {
            (PatchType::Strategic, serde_json::from_slice(body).ok()?)
        }
        "application/json-patch+json" => (PatchType::Json, serde_json::from_slice(body).ok()?),
        ct if ct.starts_with("application/apply-patch") => (
            PatchType::Apply {
                force: q.get("force").is_some_and(|v| v == "true"),
            },
            super::apply::decode_patch(body).ok()?,
        ),
        _ => return None,
    };
    let manager = q
        .get("fieldManager")
        .cloned()
        .unwrap_or_else(|| "unknown".to_owned());
    let opts = WriteOpts {
        manager: &manager,
        dry_run: true,
        subresource: None,
    };
    ops::patch(inner, rt, &info.namespace, &info.name, ptype, patch, opts)
        .ok()
        .map(|(obj, _)| std::sync::Arc::unwrap_or_clone(obj))
}

/// The escalation check of the RBAC registry: a role may only grant what its writer
/// holds (unless the writer may `escalate`), a binding may only reference a role whose
/// permissions its writer holds (unless the writer may `bind` it).
fn no_escalation(
    policy: &Policy,
    user: &UserInfo,
    rt: &'static ResourceType,
    info: &RequestInfo,
    obj: &Value,
) -> ApiResult<()> {
    let name = obj["metadata"]["name"]
        .as_str()
        .filter(|n| !n.is_empty())
        .unwrap_or(&info.name)
        .to_owned();
    let ns = info.namespace.as_str();
    let allowed = |verb: &str, resource: &str, role: &str| {
        policy.authorize(
            user,
            &RequestInfo {
                is_resource_request: true,
                verb: verb.to_owned(),
                api_group: RBAC_GROUP.to_owned(),
                api_version: "v1".to_owned(),
                namespace: ns.to_owned(),
                resource: resource.to_owned(),
                name: role.to_owned(),
                ..RequestInfo::default()
            },
        )
    };
    let refuse = |reason: String| Err(forbidden_status(RBAC_GROUP, rt.plural, &name, reason));
    let wanted = match rt.kind {
        "Role" | "ClusterRole" => {
            if allowed("escalate", rt.plural, &name) {
                return Ok(());
            }
            serde_json::from_value(obj["rules"].clone()).unwrap_or_default()
        }
        "RoleBinding" | "ClusterRoleBinding" => {
            let Ok(role_ref) = serde_json::from_value::<RoleRef>(obj["roleRef"].clone()) else {
                return Ok(());
            };
            let plural = format!("{}s", role_ref.kind.to_ascii_lowercase());
            if allowed("bind", &plural, &role_ref.name) {
                return Ok(());
            }
            match policy.role_ref_rules(&role_ref, ns) {
                Ok(rules) => rules,
                Err(missing) => return refuse(missing),
            }
        }
        _ => return Ok(()),
    };
    let missing = policy.missing_rights(user, ns, &wanted);
    if missing.is_empty() {
        Ok(())
    } else {
        refuse(rbac::escalation_reason(user, &missing))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kube::KubeServer;
    use axum::http::HeaderValue;
    use serde_json::json;

    async fn server() -> KubeServer {
        KubeServer::start(0).await.unwrap()
    }

    fn bearer(token: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
        );
        h
    }

    fn token_for(st: &KubeState, ns: &str, sa: &str) -> String {
        let inner = st.store.lock();
        let answer = st.tokens.request(&inner, ns, sa, b"{}").unwrap();
        answer["status"]["token"].as_str().unwrap().to_owned()
    }

    #[tokio::test]
    async fn tokens_authenticate_until_their_account_is_gone() {
        let kube = server().await;
        let c = kube.cluster();
        c.create(json!({"apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": "bot", "namespace": "default"}}))
            .unwrap();
        let st = kube.state();
        let short = st.tokens.request(
            &st.store.lock(),
            "default",
            "bot",
            br#"{"spec":{"expirationSeconds":60}}"#,
        );
        assert_eq!(short.unwrap_err().code, 422);
        let token = token_for(st, "default", "bot");
        let user = st
            .tokens
            .authenticate(&st.store.lock(), &bearer(&token))
            .unwrap();
        assert_eq!(user, UserInfo::service_account("default", "bot"));
        assert!(
            st.tokens
                .authenticate(&st.store.lock(), &HeaderMap::new())
                .unwrap()
                .is_master()
        );
        let forged = st
            .tokens
            .authenticate(&st.store.lock(), &bearer("not-a-token"));
        assert_eq!(forged.unwrap_err().code, 401);
        c.delete("v1", "ServiceAccount", "default", "bot").unwrap();
        let stale = st.tokens.authenticate(&st.store.lock(), &bearer(&token));
        assert_eq!(stale.unwrap_err().code, 401);
        // No token for an account that does not exist.
        let inner = st.store.lock();
        assert_eq!(
            st.tokens
                .request(&inner, "default", "bot", b"{}")
                .unwrap_err()
                .code,
            404
        );
    }

    #[tokio::test]
    async fn role_writes_are_checked_for_escalation() {
        let kube = server().await;
        let c = kube.cluster();
        for obj in [
            json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "bot", "namespace": "default"}}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                "metadata": {"name": "bot", "namespace": "default"},
                "rules": [{"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles", "rolebindings"],
                    "verbs": ["get", "list", "create", "update", "patch", "delete"]},
                          {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": {"name": "bot", "namespace": "default"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "bot"},
                "subjects": [{"kind": "ServiceAccount", "name": "bot", "namespace": "default"}]}),
        ] {
            c.create(obj).unwrap();
        }
        let st = kube.state();
        let h = bearer(&token_for(st, "default", "bot"));
        let post = |path: &str, body: Value| {
            admit(st, &Method::POST, path, "", &h, body.to_string().as_bytes())
        };
        let roles = "/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles";
        let held = json!({"metadata": {"name": "r"}, "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]});
        assert!(post(roles, held).is_ok());
        let more = json!({"metadata": {"name": "r"}, "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]});
        let e = post(roles, more).unwrap_err();
        assert_eq!(e.code, 403);
        assert!(
            e.message.starts_with("roles.rbac.authorization.k8s.io \"r\" is forbidden: user \"system:serviceaccount:default:bot\""),
            "{}",
            e.message
        );
        assert!(
            e.message
                .ends_with("{APIGroups:[\"\"], Resources:[\"secrets\"], Verbs:[\"get\"]}")
        );
        let bindings = "/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings";
        let to_admin = json!({"metadata": {"name": "b"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
            "subjects": [{"kind": "ServiceAccount", "name": "bot"}]});
        assert_eq!(post(bindings, to_admin).unwrap_err().code, 403);
        let to_own = json!({"metadata": {"name": "b"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "bot"},
            "subjects": [{"kind": "ServiceAccount", "name": "bot"}]});
        assert!(post(bindings, to_own).is_ok());
        // An apply patch is judged by the object it would produce.
        let mut ah = h.clone();
        ah.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/apply-patch+yaml"),
        );
        let apply = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": "r2"}, "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]});
        let e = admit(
            st,
            &Method::PATCH,
            &format!("{roles}/r2"),
            "fieldManager=helm",
            &ah,
            apply.to_string().as_bytes(),
        )
        .unwrap_err();
        assert_eq!(e.code, 403);
        // Creating through apply also needs `create`: the bot may patch configmaps? No.
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}});
        let e = admit(
            st,
            &Method::PATCH,
            "/api/v1/namespaces/default/configmaps/x",
            "fieldManager=helm",
            &ah,
            cm.to_string().as_bytes(),
        )
        .unwrap_err();
        assert!(
            e.message.contains("cannot patch resource \"configmaps\""),
            "{}",
            e.message
        );
    }
}
