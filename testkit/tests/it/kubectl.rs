//! Debian's `kubectl` against the Kubernetes double: get, apply --server-side, logs -f,
//! delete. Skipped (with a message) when kubectl is not installed.

use std::path::Path;
use std::time::Duration;

use catalyst_testkit::WorkloadBehaviour;

use crate::{eventually, kit};

const KUBECTL: &str = "/usr/bin/kubectl";

async fn kubectl(kubeconfig: &Path, args: &[&str]) -> (bool, String, String) {
    let out = tokio::time::timeout(
        Duration::from_secs(20),
        tokio::process::Command::new(KUBECTL)
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(args)
            .output(),
    )
    .await
    .expect("kubectl finishes")
    .expect("kubectl runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn kubectl_get_apply_logs_delete() {
    if !Path::new(KUBECTL).exists() {
        eprintln!(
            "SKIPPED kubectl_get_apply_logs_delete: {KUBECTL} is not installed (apt-get install kubectl)"
        );
        return;
    }
    let kit = kit().await;
    kit.cluster().on_workload(
        "logger",
        WorkloadBehaviour::ready().logs(["hello from logger"]),
    );
    let kc = kit.kubeconfig_path();

    let (ok, out, err) = kubectl(&kc, &["get", "namespaces", "-o", "name"]).await;
    assert!(ok, "{err}");
    assert!(out.contains("namespace/default"), "{out}");

    let manifest = kit.state_dir().join("cm.yaml");
    std::fs::write(&manifest, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-kubectl\n  namespace: default\ndata:\n  k: v\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: logger\n  namespace: default\nspec:\n  containers:\n  - name: app\n    image: busybox:1.36\n").unwrap();
    let (ok, out, err) = kubectl(
        &kc,
        &[
            "apply",
            "--server-side",
            "--validate=false",
            "-f",
            manifest.to_str().unwrap(),
        ],
    )
    .await;
    assert!(ok, "apply failed: {err}");
    assert!(
        out.contains("configmap/from-kubectl serverside-applied"),
        "{out}"
    );
    let cm = kit
        .cluster()
        .get("v1", "ConfigMap", "default", "from-kubectl")
        .unwrap();
    assert_eq!(cm["metadata"]["managedFields"][0]["manager"], "kubectl");

    let (ok, out, err) = kubectl(&kc, &["get", "configmap", "from-kubectl", "-n", "default"]).await;
    assert!(ok, "{err}");
    assert!(
        out.starts_with("NAME") && out.contains("from-kubectl"),
        "table output: {out}"
    );

    eventually(3, "logger running", || async {
        (kit.cluster().get("v1", "Pod", "default", "logger")?["status"]["phase"] == "Running")
            .then_some(())
    })
    .await;
    let follow = tokio::process::Command::new(KUBECTL)
        .arg("--kubeconfig")
        .arg(&kc)
        .args(["logs", "-f", "logger", "-n", "default"])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    kit.cluster()
        .append_log("default", "logger", "app", &["appended while following"]);
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Deleting the pod ends the stream, as when a real pod goes away.
    let (ok, _, err) = kubectl(
        &kc,
        &["delete", "pod", "logger", "-n", "default", "--wait=false"],
    )
    .await;
    assert!(ok, "{err}");
    let out = tokio::time::timeout(Duration::from_secs(10), follow.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text, "hello from logger\nappended while following\n");

    let (ok, out, err) = kubectl(
        &kc,
        &["delete", "configmap", "from-kubectl", "-n", "default"],
    )
    .await;
    assert!(ok, "{err}");
    assert!(out.contains("deleted"), "{out}");
    assert!(
        kit.cluster()
            .get("v1", "ConfigMap", "default", "from-kubectl")
            .is_none()
    );
}
