//! Namespace deletion: Terminating phase, contents removed, creation refused with the real
//! message, the namespace gone after the delay — or stuck until released.

use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::json;

use crate::{api_error, eventually, kit};

async fn make_ns(api: &Api<Namespace>, name: &str) {
    api.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": name}})).unwrap(),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn namespace_terminates_then_disappears() {
    let kit = kit().await;
    kit.cluster()
        .set_namespace_deletion_delay(Duration::from_millis(300));
    let client = kit.kube_client().unwrap();
    let nss: Api<Namespace> = Api::all(client.clone());
    make_ns(&nss, "pr-7").await;
    let created = nss.get("pr-7").await.unwrap();
    assert_eq!(created.status.unwrap().phase.as_deref(), Some("Active"));
    assert_eq!(
        created.metadata.labels.unwrap()["kubernetes.io/metadata.name"],
        "pr-7"
    );
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "pr-7");
    cms.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "c"}})).unwrap(),
    )
    .await
    .unwrap();

    let deleted = nss
        .delete("pr-7", &DeleteParams::background())
        .await
        .unwrap();
    let ns = deleted
        .left()
        .expect("the namespace comes back, terminating");
    assert_eq!(ns.status.unwrap().phase.as_deref(), Some("Terminating"));
    assert!(ns.metadata.deletion_timestamp.is_some());

    let e = api_error(
        cms.create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "d"}})).unwrap(),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!((e.code, e.reason.as_str()), (403, "Forbidden"));
    assert_eq!(
        e.message,
        "configmaps \"d\" is forbidden: unable to create new content in namespace pr-7 because it is being terminated"
    );

    eventually(2, "contents removed", || async {
        cms.list(&Default::default())
            .await
            .unwrap()
            .items
            .is_empty()
            .then_some(())
    })
    .await;
    assert!(
        nss.get_opt("pr-7").await.unwrap().is_some(),
        "still there during the delay"
    );
    eventually(3, "namespace gone", || async {
        nss.get_opt("pr-7").await.unwrap().is_none().then_some(())
    })
    .await;
}

#[tokio::test]
async fn stuck_namespace_never_finishes_until_released() {
    let kit = kit().await;
    kit.cluster()
        .set_namespace_deletion_delay(Duration::from_millis(10));
    kit.cluster().set_namespace_stuck("pr-*", true);
    let nss: Api<Namespace> = Api::all(kit.kube_client().unwrap());
    make_ns(&nss, "pr-9").await;
    nss.delete("pr-9", &DeleteParams::default()).await.unwrap();
    let stuck = eventually(2, "stuck condition", || async {
        let ns = nss.get("pr-9").await.unwrap();
        let conds = ns.status.clone()?.conditions?;
        conds
            .iter()
            .any(|c| c.type_ == "NamespaceFinalizersRemaining" && c.status == "True")
            .then_some(ns)
    })
    .await;
    assert_eq!(stuck.status.unwrap().phase.as_deref(), Some("Terminating"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        nss.get_opt("pr-9").await.unwrap().is_some(),
        "a stuck namespace stays"
    );
    kit.cluster().set_namespace_stuck("pr-*", false);
    eventually(2, "released namespace gone", || async {
        nss.get_opt("pr-9").await.unwrap().is_none().then_some(())
    })
    .await;
}
