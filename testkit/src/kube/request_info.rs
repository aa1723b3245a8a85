//! What an HTTP request to the API server asks for, in the terms RBAC decides on: verb,
//! API group, resource, subresource, namespace and name.
//!
//! This is the API server's `RequestInfoFactory` (k8s.io/apiserver, `requestinfo.go`)
//! rule for rule, as a pure function of method, path and query, so the double's
//! authorizer and tests that map recorded requests to RBAC rules read requests the same
//! way the real API server does:
//!
//! - `GET`/`HEAD` on a named object is `get`; on a collection `list`, or `watch` with
//!   `?watch=true` (a `fieldSelector` of `metadata.name=X` names the object);
//! - `POST` is `create`, `PUT` `update`, `PATCH` `patch` (server-side apply included);
//! - `DELETE` on a named object is `delete`, on a collection `deletecollection`;
//! - the legacy `/api/v1/watch/...` and `/api/v1/proxy/...` prefixes give `watch`/`proxy`;
//! - `/api/v1/namespaces/{ns}` is the Namespace `ns` *in* namespace `ns` (so a Role in
//!   `ns` may grant reading its own Namespace object), and `status`/`finalize` after it
//!   are subresources of the Namespace;
//! - anything that is not `/api/{version}/...` or `/apis/{group}/{version}/...` is a
//!   non-resource request (`/version`, `/healthz`, discovery roots), whose verb is the
//!   lowercase HTTP method.

use crate::http_util::{decode_segment, parse_query};

/// The attributes of one request, as the API server's authorizers see them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RequestInfo {
    /// `false` for non-resource URLs such as `/version` or `/apis`.
    pub is_resource_request: bool,
    /// The URL path, as sent.
    pub path: String,
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, `deletecollection`
    /// (or the lowercase method for non-resource requests).
    pub verb: String,
    /// `""` for the core group.
    pub api_group: String,
    pub api_version: String,
    /// `""` for cluster-scoped requests.
    pub namespace: String,
    /// The plural resource, e.g. `pods`.
    pub resource: String,
    /// e.g. `log`, `status`, `proxy`, `token`; `""` when none.
    pub subresource: String,
    /// The object's name; `""` for collections and creates.
    pub name: String,
}

impl RequestInfo {
    /// Reads a request the way the API server does.
    pub fn from_request(method: &str, path: &str, query: &str) -> Self {
        let mut info = Self {
            path: path.to_owned(),
            verb: method.to_ascii_lowercase(),
            ..Self::default()
        };
        let parts: Vec<String> = path
            .trim_matches('/')
            .split('/')
            .filter(|p| !p.is_empty())
            .map(decode_segment)
            .collect();
        if parts.len() < 3 {
            return info;
        }
        let mut rest: &[String] = match parts[0].as_str() {
            "api" => &parts[1..],
            "apis" => {
                // `/apis/{group}/{version}` alone is discovery, not a resource.
                if parts.len() < 4 {
                    return info;
                }
                info.api_group = parts[1].clone();
                &parts[2..]
            }
            _ => return info,
        };
        info.is_resource_request = true;
        info.api_version = rest[0].clone();
        rest = &rest[1..];

        let special = matches!(rest[0].as_str(), "watch" | "proxy");
        if special {
            if rest.len() < 2 {
                // The API server refuses these; nothing sensible to authorize.
                info.is_resource_request = false;
                return info;
            }
            info.verb = rest[0].clone();
            rest = &rest[1..];
        } else {
            info.verb = match method.to_ascii_uppercase().as_str() {
                "POST" => "create",
                "GET" | "HEAD" => "get",
                "PUT" => "update",
                "PATCH" => "patch",
                "DELETE" => "delete",
                _ => "",
            }
            .to_owned();
        }

        if rest[0] == "namespaces" && rest.len() > 1 {
            info.namespace = rest[1].clone();
            if rest.len() > 2 && !matches!(rest[2].as_str(), "status" | "finalize") {
                rest = &rest[2..];
            }
        }

        if rest.len() >= 3 && info.verb != "proxy" {
            info.subresource = rest[2].clone();
        }
        if rest.len() >= 2 {
            info.name = rest[1].clone();
        }
        info.resource = rest[0].clone();

        if info.name.is_empty() && info.verb == "get" {
            let q = parse_query(query);
            let watch = q.get("watch").is_some_and(|w| go_bool(w));
            info.verb = if watch { "watch" } else { "list" }.to_owned();
            if let Some(name) = q.get("fieldSelector").and_then(|s| exact_name_selector(s)) {
                info.name = name;
            }
        }
        if info.name.is_empty() && info.verb == "delete" {
            info.verb = "deletecollection".to_owned();
        }
        info
    }

    /// `resource` or `resource/subresource`, as written in a rule's `resources`.
    pub fn resource_path(&self) -> String {
        if self.subresource.is_empty() {
            self.resource.clone()
        } else {
            format!("{}/{}", self.resource, self.subresource)
        }
    }

    /// Whether the request is scoped to a namespace.
    pub fn is_namespaced(&self) -> bool {
        !self.namespace.is_empty()
    }
}

/// Go's `strconv.ParseBool` truths, which the API server's query decoding uses.
fn go_bool(v: &str) -> bool {
    matches!(v, "1" | "t" | "T" | "true" | "TRUE" | "True")
}

/// `metadata.name=X` (or `==`) as the only requirement of a field selector.
fn exact_name_selector(selector: &str) -> Option<String> {
    let mut name = None;
    for term in selector.split(',').map(str::trim) {
        let Some((key, value)) = term.split_once("==").or_else(|| term.split_once('=')) else {
            continue;
        };
        if key.ends_with('!') || key.trim() != "metadata.name" {
            continue;
        }
        name = Some(value.trim().to_owned());
    }
    name.filter(|n| !n.is_empty() && n != "." && n != ".." && !n.contains('/') && !n.contains('%'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(method: &str, path: &str, query: &str) -> RequestInfo {
        RequestInfo::from_request(method, path, query)
    }

    /// (verb, group, resource path, namespace, name)
    fn summary(i: &RequestInfo) -> (&str, &str, String, &str, &str) {
        (
            &i.verb,
            &i.api_group,
            i.resource_path(),
            &i.namespace,
            &i.name,
        )
    }

    #[test]
    fn methods_map_to_verbs() {
        let p = "/apis/apps/v1/namespaces/pr-1/deployments";
        assert_eq!(info("GET", p, "").verb, "list");
        assert_eq!(info("GET", p, "watch=true&resourceVersion=5").verb, "watch");
        assert_eq!(info("GET", p, "watch=1").verb, "watch");
        assert_eq!(info("GET", p, "watch=false").verb, "list");
        assert_eq!(info("POST", p, "").verb, "create");
        assert_eq!(
            info("DELETE", p, "labelSelector=a%3Db").verb,
            "deletecollection"
        );
        let named = format!("{p}/web");
        assert_eq!(info("GET", &named, "").verb, "get");
        assert_eq!(info("HEAD", &named, "").verb, "get");
        assert_eq!(info("PUT", &named, "").verb, "update");
        assert_eq!(
            info("PATCH", &named, "fieldManager=x&force=true").verb,
            "patch"
        );
        assert_eq!(info("DELETE", &named, "").verb, "delete");
        assert_eq!(
            summary(&info("PATCH", &named, "")),
            ("patch", "apps", "deployments".to_owned(), "pr-1", "web")
        );
    }

    #[test]
    fn subresources_and_the_core_group() {
        let log = info(
            "GET",
            "/api/v1/namespaces/pr-1/pods/web-0/log",
            "follow=true",
        );
        assert_eq!(
            summary(&log),
            ("get", "", "pods/log".to_owned(), "pr-1", "web-0")
        );
        assert!(log.is_resource_request);
        let proxy = info(
            "GET",
            "/api/v1/namespaces/pr-1/services/web:80/proxy/healthz",
            "",
        );
        assert_eq!(
            summary(&proxy),
            ("get", "", "services/proxy".to_owned(), "pr-1", "web:80")
        );
        let token = info(
            "POST",
            "/api/v1/namespaces/pr-1/serviceaccounts/catalyst-deployer/token",
            "",
        );
        assert_eq!(
            summary(&token),
            (
                "create",
                "",
                "serviceaccounts/token".to_owned(),
                "pr-1",
                "catalyst-deployer"
            )
        );
        let status = info("PUT", "/apis/batch/v1/namespaces/n/jobs/j/status", "");
        assert_eq!(status.resource_path(), "jobs/status");
    }

    #[test]
    fn namespaces_are_in_themselves() {
        let ns = info("GET", "/api/v1/namespaces/pr-1", "");
        assert_eq!(
            summary(&ns),
            ("get", "", "namespaces".to_owned(), "pr-1", "pr-1")
        );
        let fin = info("PUT", "/api/v1/namespaces/pr-1/finalize", "");
        assert_eq!(
            summary(&fin),
            (
                "update",
                "",
                "namespaces/finalize".to_owned(),
                "pr-1",
                "pr-1"
            )
        );
        let all = info(
            "GET",
            "/api/v1/namespaces",
            "labelSelector=x%3Dy&watch=true",
        );
        assert_eq!(
            summary(&all),
            ("watch", "", "namespaces".to_owned(), "", "")
        );
        assert!(!all.is_namespaced());
        let create = info("POST", "/api/v1/namespaces", "");
        assert_eq!(create.verb, "create");
        assert_eq!(create.namespace, "");
    }

    #[test]
    fn cluster_wide_lists_and_name_field_selectors() {
        let jobs = info(
            "GET",
            "/apis/batch/v1/jobs",
            "labelSelector=a%3Db&watch=true",
        );
        assert_eq!(
            summary(&jobs),
            ("watch", "batch", "jobs".to_owned(), "", "")
        );
        let quotas = info(
            "GET",
            "/api/v1/resourcequotas",
            "fieldSelector=metadata.name%3Dcatalyst-quota",
        );
        assert_eq!(
            summary(&quotas),
            (
                "list",
                "",
                "resourcequotas".to_owned(),
                "",
                "catalyst-quota"
            )
        );
        let not_name = info("GET", "/api/v1/pods", "fieldSelector=metadata.name%21%3Dx");
        assert_eq!(not_name.name, "");
        let metrics = info("GET", "/apis/metrics.k8s.io/v1beta1/pods", "");
        assert_eq!(
            summary(&metrics),
            ("list", "metrics.k8s.io", "pods".to_owned(), "", "")
        );
    }

    #[test]
    fn legacy_watch_and_proxy_prefixes() {
        let w = info("GET", "/api/v1/watch/namespaces/pr-1/pods/web", "");
        assert_eq!(summary(&w), ("watch", "", "pods".to_owned(), "pr-1", "web"));
        let p = info("GET", "/api/v1/proxy/namespaces/pr-1/services/web/x/y", "");
        assert_eq!(
            summary(&p),
            ("proxy", "", "services".to_owned(), "pr-1", "web")
        );
    }

    #[test]
    fn discovery_and_health_are_not_resource_requests() {
        for path in [
            "/version",
            "/api",
            "/api/v1",
            "/apis",
            "/apis/apps",
            "/apis/apps/v1",
            "/healthz",
            "/openapi/v3/api/v1",
        ] {
            let i = info("GET", path, "");
            assert!(!i.is_resource_request, "{path}");
            assert_eq!(i.verb, "get", "{path}");
            assert_eq!(i.path, path);
        }
    }
}
