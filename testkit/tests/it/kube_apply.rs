//! Server-side apply: create by apply, idempotent re-apply, conflicts between managers,
//! force, removal of fields a manager stops applying, and the recorded field manager.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use crate::{api_error, kit};

fn cm(data: serde_json::Value) -> serde_json::Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "labels": {"app": "web"}}, "data": data})
}

#[tokio::test]
async fn apply_twice_with_the_same_and_a_different_manager() {
    let kit = kit().await;
    let api: Api<ConfigMap> = Api::namespaced(kit.kube_client().unwrap(), "default");
    let alice = PatchParams::apply("alice");
    let first = api
        .patch(
            "cfg",
            &alice,
            &Patch::Apply(cm(json!({"a": "1", "b": "2"}))),
        )
        .await
        .unwrap();
    let again = api
        .patch(
            "cfg",
            &alice,
            &Patch::Apply(cm(json!({"a": "1", "b": "2"}))),
        )
        .await
        .unwrap();
    assert_eq!(
        first.metadata.resource_version, again.metadata.resource_version,
        "a no-op apply keeps the resourceVersion"
    );
    let mf = again.metadata.managed_fields.clone().unwrap();
    assert_eq!(mf.len(), 1);
    assert_eq!(
        (mf[0].manager.as_deref(), mf[0].operation.as_deref()),
        (Some("alice"), Some("Apply"))
    );
    let fields = serde_json::to_value(&mf[0].fields_v1).unwrap();
    assert!(
        fields["f:data"]["f:a"].is_object()
            && fields["f:metadata"]["f:labels"]["f:app"].is_object(),
        "{fields}"
    );

    // Bob applies a different value to a field Alice owns: conflict, naming field and manager.
    let bob = PatchParams::apply("bob");
    let e = api_error(
        api.patch("cfg", &bob, &Patch::Apply(cm(json!({"a": "9"}))))
            .await
            .unwrap_err(),
    );
    assert_eq!((e.code, e.reason.as_str()), (409, "Conflict"));
    assert_eq!(
        e.message,
        "Apply failed with 1 conflict: conflict with \"alice\" using v1: .data.a"
    );
    let cause = &e.details.as_ref().unwrap().causes[0];
    assert_eq!(
        (cause.reason.as_str(), cause.field.as_str()),
        ("FieldManagerConflict", ".data.a")
    );

    // Same value: shared ownership, no conflict.
    api.patch("cfg", &bob, &Patch::Apply(cm(json!({"a": "1"}))))
        .await
        .unwrap();
    // Forced: Bob takes the field.
    let forced = api
        .patch(
            "cfg",
            &bob.clone().force(),
            &Patch::Apply(cm(json!({"a": "9"}))),
        )
        .await
        .unwrap();
    assert_eq!(forced.data.as_ref().unwrap()["a"], "9");
    let owners: Vec<String> = forced
        .metadata
        .managed_fields
        .unwrap()
        .iter()
        .filter(|m| {
            serde_json::to_value(&m.fields_v1).unwrap()["f:data"]
                .get("f:a")
                .is_some()
        })
        .filter_map(|m| m.manager.clone())
        .collect();
    assert_eq!(owners, vec!["bob"]);

    // Alice stops applying b: it is removed, as nobody else owns it.
    let after = api.patch("cfg", &alice, &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": {}}))).await.unwrap();
    let data = after.data.unwrap_or_default();
    assert!(!data.contains_key("b"), "{data:?}");
    assert_eq!(data["a"], "9", "bob's field stays");
    assert_eq!(
        after.metadata.labels.unwrap_or_default()["app"],
        "web",
        "the label stays: bob applied it too"
    );

    let applies: Vec<_> = kit
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH")
        .collect();
    assert_eq!(applies.len(), 6);
    assert_eq!(applies[0].field_manager.as_deref(), Some("alice"));
    assert_eq!(
        applies[0].content_type.as_deref(),
        Some("application/apply-patch+yaml")
    );
    assert_eq!(applies[4].query_param("force").as_deref(), Some("true"));
}

#[tokio::test]
async fn apply_merges_keyed_lists_and_requires_a_field_manager() {
    let kit = kit().await;
    let client = kit.kube_client().unwrap();
    let api: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let dep = |containers: serde_json::Value| {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": containers}}}})
    };
    let pp = PatchParams::apply("catalyst");
    let d = api
        .patch(
            "web",
            &pp,
            &Patch::Apply(dep(
                json!([{"name": "app", "image": "web:1", "ports": [{"containerPort": 8080}]}]),
            )),
        )
        .await
        .unwrap();
    let port = &d.spec.template.spec.as_ref().unwrap().containers[0]
        .ports
        .as_ref()
        .unwrap()[0];
    assert_eq!(
        port.protocol.as_deref(),
        Some("TCP"),
        "protocol defaults to TCP"
    );
    // Another manager owns a sidecar; Catalyst's next apply must not remove it.
    let sidecar = PatchParams::apply("mesh");
    api.patch(
        "web",
        &sidecar,
        &Patch::Apply(dep(json!([{"name": "proxy", "image": "envoy:1"}]))),
    )
    .await
    .unwrap();
    let d = api.patch("web", &pp, &Patch::Apply(dep(json!([{"name": "app", "image": "web:2", "ports": [{"containerPort": 8080, "protocol": "TCP"}]}])))).await.unwrap();
    let images: Vec<String> = d
        .spec
        .template
        .spec
        .unwrap()
        .containers
        .into_iter()
        .filter_map(|c| c.image)
        .collect();
    assert_eq!(images, vec!["web:2", "envoy:1"]);
    assert_eq!(d.metadata.generation, Some(3));

    let req = http::Request::patch("/api/v1/namespaces/default/configmaps/x")
        .header("content-type", "application/apply-patch+yaml")
        .body(b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n".to_vec())
        .unwrap();
    let e = api_error(client.request::<ConfigMap>(req).await.unwrap_err());
    assert_eq!(e.code, 400);
    assert!(e.message.contains("fieldManager"), "{}", e.message);
}

#[tokio::test]
async fn immutable_fields_are_refused_on_update() {
    let kit = kit().await;
    kit.cluster()
        .on_job("default/*", catalyst_testkit::JobBehaviour::forever());
    let jobs: Api<k8s_openapi::api::batch::v1::Job> =
        Api::namespaced(kit.kube_client().unwrap(), "default");
    let job = |image: &str| {
        json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "deploy"},
            "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "helm", "image": image}]}}}})
    };
    let pp = PatchParams::apply("catalyst");
    api_ok(
        jobs.patch("deploy", &pp, &Patch::Apply(job("helm:1")))
            .await,
    );
    // Re-applying the same spec is fine; changing the pod template is not.
    api_ok(
        jobs.patch("deploy", &pp, &Patch::Apply(job("helm:1")))
            .await,
    );
    let e = api_error(
        jobs.patch("deploy", &pp, &Patch::Apply(job("helm:2")))
            .await
            .unwrap_err(),
    );
    assert_eq!((e.code, e.reason.as_str()), (422, "Invalid"));
    assert!(
        e.message
            .starts_with("Job.batch \"deploy\" is invalid: spec.template: Invalid value: "),
        "{}",
        e.message
    );
    assert!(e.message.ends_with("field is immutable"), "{}", e.message);
}

fn api_ok<T>(r: kube::Result<T>) {
    if let Err(e) = r {
        panic!("expected success, got {e}");
    }
}
