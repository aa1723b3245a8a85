//! `meta.k8s.io/v1` `Table` answers, which `kubectl get` asks for to print its columns.

use axum::http::HeaderMap;
use serde_json::{Value, json};

use super::resources::ResourceType;

/// Whether the client asked for `as=Table`.
pub fn wants_table(headers: &HeaderMap) -> bool {
    headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("as=Table"))
}

fn age(obj: &Value) -> String {
    let Some(ts) = obj["metadata"]["creationTimestamp"].as_str() else {
        return "<unknown>".into();
    };
    let Ok(t) = chrono::DateTime::parse_from_rfc3339(ts) else {
        return "<unknown>".into();
    };
    let secs = (chrono::Utc::now() - t.with_timezone(&chrono::Utc))
        .num_seconds()
        .max(0);
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s => format!("{}h", s / 3600),
    }
}

/// Extra columns per kind (name and age are always there).
fn columns(rt: &ResourceType, obj: &Value) -> Vec<(&'static str, Value)> {
    match rt.kind {
        "Pod" => {
            let statuses = obj["status"]["containerStatuses"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let ready = statuses.iter().filter(|s| s["ready"] == true).count();
            let total = obj["spec"]["containers"].as_array().map_or(0, Vec::len);
            let restarts: i64 = statuses
                .iter()
                .filter_map(|s| s["restartCount"].as_i64())
                .sum();
            let status = statuses
                .iter()
                .find_map(|s| s["state"]["waiting"]["reason"].as_str().map(str::to_string))
                .unwrap_or_else(|| obj["status"]["phase"].as_str().unwrap_or("").to_string());
            vec![
                ("Ready", json!(format!("{ready}/{total}"))),
                ("Status", json!(status)),
                ("Restarts", json!(restarts)),
            ]
        }
        "Namespace" => vec![("Status", obj["status"]["phase"].clone())],
        "Deployment" => vec![(
            "Ready",
            json!(format!(
                "{}/{}",
                obj["status"]["readyReplicas"].as_i64().unwrap_or(0),
                obj["spec"]["replicas"].as_i64().unwrap_or(0)
            )),
        )],
        "Job" => vec![("Status", json!(job_status(obj)))],
        _ => vec![],
    }
}

fn job_status(obj: &Value) -> &'static str {
    let conds = obj["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if conds
        .iter()
        .any(|c| c["type"] == "Complete" && c["status"] == "True")
    {
        "Complete"
    } else if conds
        .iter()
        .any(|c| c["type"] == "Failed" && c["status"] == "True")
    {
        "Failed"
    } else {
        "Running"
    }
}

/// Renders objects as a `Table` with each row carrying its object.
pub fn render(rt: &ResourceType, items: &[Value], rv: &str, cont: Option<String>) -> Value {
    let mut defs = vec![
        json!({"name": "Name", "type": "string", "format": "name", "description": "Name must be unique within a namespace.", "priority": 0}),
    ];
    let extra_names: Vec<&str> = items
        .first()
        .map(|o| columns(rt, o).into_iter().map(|(n, _)| n).collect())
        .unwrap_or_else(|| {
            columns(rt, &json!({}))
                .into_iter()
                .map(|(n, _)| n)
                .collect()
        });
    for n in &extra_names {
        defs.push(
            json!({"name": n, "type": "string", "format": "", "description": n, "priority": 0}),
        );
    }
    defs.push(json!({"name": "Age", "type": "string", "format": "", "description": "CreationTimestamp", "priority": 0}));
    let rows: Vec<Value> = items
        .iter()
        .map(|o| {
            let mut cells = vec![o["metadata"]["name"].clone()];
            cells.extend(columns(rt, o).into_iter().map(|(_, v)| v));
            cells.push(json!(age(o)));
            let mut obj = o.clone();
            obj["apiVersion"] = json!(rt.api_version());
            obj["kind"] = json!(rt.kind);
            json!({"cells": cells, "object": obj})
        })
        .collect();
    let mut meta = json!({"resourceVersion": rv});
    if let Some(c) = cont {
        meta["continue"] = json!(c);
    }
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": meta, "columnDefinitions": defs, "rows": rows})
}
