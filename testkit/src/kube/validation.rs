//! Object validation, for the rules Catalyst can trip over: names, labels, required fields.
//! Messages are the API server's, word for word, because users read them in PR comments.

use serde_json::Value;

use super::errors::{ApiError, ApiResult, Cause};
use super::resources::ResourceType;

const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const DNS1035_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
const QUALIFIED_NAME_MSG: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";

/// RFC 1123 label: `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63 characters.
pub fn is_dns1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// RFC 1123 subdomain: dot-separated labels, at most 253 characters.
pub fn is_dns1123_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns1123_label)
}

fn is_dns1035_label(s: &str) -> bool {
    is_dns1123_label(s) && s.as_bytes()[0].is_ascii_lowercase()
}

fn is_label_value(s: &str) -> bool {
    let b = s.as_bytes();
    b.is_empty()
        || (b
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric())
}

fn invalid(field: &str, value: &str, msg: &str) -> Cause {
    Cause {
        reason: "FieldValueInvalid".into(),
        message: format!("Invalid value: \"{value}\": {msg}"),
        field: field.into(),
    }
}

fn required(field: &str, detail: &str) -> Cause {
    let message = if detail.is_empty() {
        "Required value".to_string()
    } else {
        format!("Required value: {detail}")
    };
    Cause {
        reason: "FieldValueRequired".into(),
        message,
        field: field.into(),
    }
}

fn check_name(rt: &ResourceType, name: &str, causes: &mut Vec<Cause>) {
    let field = "metadata.name";
    if name.is_empty() {
        causes.push(required(field, "name or generateName is required"));
        return;
    }
    match (rt.group, rt.kind) {
        ("rbac.authorization.k8s.io", _) => {
            if name == "." || name == ".." || name.contains('/') || name.contains('%') {
                causes.push(invalid(field, name, "may not contain '/' or '%'"));
            }
        }
        ("", "Namespace") => {
            if name.len() > 63 {
                causes.push(invalid(field, name, "must be no more than 63 characters"));
            } else if !is_dns1123_label(name) {
                causes.push(invalid(field, name, LABEL_MSG));
            }
        }
        ("", "Service") => {
            if name.len() > 63 {
                causes.push(invalid(field, name, "must be no more than 63 characters"));
            } else if !is_dns1035_label(name) {
                causes.push(invalid(field, name, DNS1035_MSG));
            }
        }
        _ => {
            if name.len() > 253 {
                causes.push(invalid(field, name, "must be no more than 253 characters"));
            } else if !is_dns1123_subdomain(name) {
                causes.push(invalid(field, name, SUBDOMAIN_MSG));
            }
        }
    }
}

fn check_labels(labels: &Value, field: &str, causes: &mut Vec<Cause>) {
    let Some(m) = labels.as_object() else { return };
    for (k, v) in m {
        let name = k.rsplit_once('/').map(|(p, n)| {
            if !is_dns1123_subdomain(p) {
                causes.push(invalid(field, k, &format!("prefix part {SUBDOMAIN_MSG}")));
            }
            n
        });
        let name = name.unwrap_or(k);
        if name.is_empty() || name.len() > 63 || !is_label_value(name) {
            causes.push(invalid(field, k, QUALIFIED_NAME_MSG));
        }
        let v = v.as_str().unwrap_or("");
        if v.len() > 63 {
            causes.push(invalid(field, v, "must be no more than 63 characters"));
        } else if !is_label_value(v) {
            causes.push(invalid(field, v, LABEL_VALUE_MSG));
        }
    }
}

fn check_pod_spec(spec: &Value, prefix: &str, causes: &mut Vec<Cause>) {
    let containers = spec["containers"].as_array();
    if containers.is_none_or(Vec::is_empty) {
        causes.push(required(&format!("{prefix}.containers"), ""));
        return;
    }
    for (i, c) in containers.into_iter().flatten().enumerate() {
        let f = format!("{prefix}.containers[{i}]");
        match c["name"].as_str() {
            None | Some("") => causes.push(required(&format!("{f}.name"), "")),
            Some(n) if !is_dns1123_label(n) => {
                causes.push(invalid(&format!("{f}.name"), n, LABEL_MSG))
            }
            _ => {}
        }
        if c["image"].as_str().is_none_or(str::is_empty) {
            causes.push(required(&format!("{f}.image"), ""));
        }
    }
}

fn selector_matches_template(spec: &Value, causes: &mut Vec<Cause>) {
    let Some(sel) = spec["selector"]["matchLabels"].as_object() else {
        if spec["selector"].is_null() {
            causes.push(required("spec.selector", ""));
        }
        return;
    };
    let labels = &spec["template"]["metadata"]["labels"];
    let ok = sel.iter().all(|(k, v)| &labels[k] == v);
    if !ok {
        let shown = labels
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| format!("{k}:{}", v.as_str().unwrap_or("")))
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_default();
        causes.push(Cause {
            reason: "FieldValueInvalid".into(),
            message: format!("Invalid value: map[string]string{{{shown}}}: `selector` does not match template `labels`"),
            field: "spec.template.metadata.labels".into(),
        });
    }
}

/// Validates an object about to be stored; `Invalid` (422) with every cause found.
pub fn validate(rt: &ResourceType, obj: &Value) -> ApiResult<()> {
    let name = obj["metadata"]["name"].as_str().unwrap_or("");
    let mut causes = Vec::new();
    check_name(rt, name, &mut causes);
    check_labels(&obj["metadata"]["labels"], "metadata.labels", &mut causes);
    match (rt.group, rt.kind) {
        ("", "Pod") => check_pod_spec(&obj["spec"], "spec", &mut causes),
        ("apps", "Deployment" | "ReplicaSet" | "StatefulSet") => {
            selector_matches_template(&obj["spec"], &mut causes);
            check_pod_spec(
                &obj["spec"]["template"]["spec"],
                "spec.template.spec",
                &mut causes,
            );
        }
        ("batch", "Job") => {
            let spec = &obj["spec"]["template"]["spec"];
            check_pod_spec(spec, "spec.template.spec", &mut causes);
            let rp = spec["restartPolicy"].as_str().unwrap_or("");
            if rp != "Never" && rp != "OnFailure" {
                causes.push(Cause {
                    reason: "FieldValueNotSupported".into(),
                    message: format!(
                        "Unsupported value: \"{rp}\": supported values: \"OnFailure\", \"Never\""
                    ),
                    field: "spec.template.spec.restartPolicy".into(),
                });
            }
        }
        ("", "Service") => {
            let headless = obj["spec"]["clusterIP"].as_str() == Some("None");
            if !headless && obj["spec"]["ports"].as_array().is_none_or(Vec::is_empty) {
                causes.push(required("spec.ports", ""));
            }
        }
        _ => {}
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(rt.group, rt.kind, name, causes))
    }
}

fn immutable(field: &str, value: &Value) -> Cause {
    Cause {
        reason: "FieldValueInvalid".into(),
        message: format!("Invalid value: {value}: field is immutable"),
        field: field.into(),
    }
}

/// The pod spec without what a pod update may change (images, deadline, binding).
fn mutable_pod_fields_removed(spec: &Value, old_node: &Value) -> Value {
    let mut s = spec.clone();
    for list in ["containers", "initContainers"] {
        for c in s[list].as_array_mut().into_iter().flatten() {
            if let Some(m) = c.as_object_mut() {
                m.remove("image");
            }
        }
    }
    if let Some(m) = s.as_object_mut() {
        m.remove("activeDeadlineSeconds");
        m.remove("tolerations");
        // Binding a pod (setting nodeName once) is how scheduling works.
        if old_node.is_null() {
            m.remove("nodeName");
        }
    }
    s
}

/// Rules for updates: fields the API server refuses to change once set.
pub fn validate_update(rt: &ResourceType, old: &Value, new: &Value) -> ApiResult<()> {
    let name = new["metadata"]["name"].as_str().unwrap_or("");
    let mut causes = Vec::new();
    match (rt.group, rt.kind) {
        ("batch", "Job") => {
            for f in ["template", "selector", "completions", "completionMode"] {
                if old["spec"][f] != new["spec"][f]
                    && !(f == "completions" && new["spec"][f].is_null())
                {
                    causes.push(immutable(&format!("spec.{f}"), &new["spec"][f]));
                }
            }
        }
        ("apps", "Deployment" | "ReplicaSet" | "StatefulSet")
            if old["spec"]["selector"] != new["spec"]["selector"] =>
        {
            causes.push(immutable("spec.selector", &new["spec"]["selector"]));
        }
        ("", "Pod") => {
            let old_node = &old["spec"]["nodeName"];
            if mutable_pod_fields_removed(&old["spec"], old_node)
                != mutable_pod_fields_removed(&new["spec"], old_node)
            {
                causes.push(Cause {
                    reason: "FieldValueForbidden".into(),
                    message: "Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)".into(),
                    field: "spec".into(),
                });
            }
        }
        _ => {}
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(rt.group, rt.kind, name, causes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kube::resources::find;
    use serde_json::json;

    #[test]
    fn namespace_names_are_labels() {
        let ns = find("", "v1", "namespaces").unwrap();
        let err = validate(ns, &json!({"metadata":{"name":"Bad_Name"}})).unwrap_err();
        assert_eq!(err.code, 422);
        assert!(err.message.starts_with("Namespace \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 label"));
        let long = "a".repeat(64);
        let err = validate(ns, &json!({"metadata":{"name":long}})).unwrap_err();
        assert!(err.message.ends_with("must be no more than 63 characters"));
        assert!(validate(ns, &json!({"metadata":{"name":"pr-42-web"}})).is_ok());
    }

    #[test]
    fn label_values_and_pod_containers() {
        let pods = find("", "v1", "pods").unwrap();
        let err = validate(
            pods,
            &json!({"metadata":{"name":"p","labels":{"a":"-x"}},"spec":{}}),
        )
        .unwrap_err();
        let causes = err.details["causes"].as_array().unwrap();
        assert_eq!(causes.len(), 2);
        assert_eq!(causes[1]["field"], "spec.containers");
        assert_eq!(causes[1]["message"], "Required value");
    }
}
