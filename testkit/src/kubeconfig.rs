//! Writing a kubeconfig that points `kube`, `kubectl` and Catalyst at the Kubernetes double.

use std::path::Path;

/// The kubeconfig text for a server URL. No credentials: to the double that is the cluster
/// administrator (see [`crate::kube::tokens`] for ServiceAccount tokens, which RBAC limits).
pub fn render(server: &str) -> String {
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: catalyst-testkit
  cluster:
    server: {server}
contexts:
- name: catalyst-testkit
  context:
    cluster: catalyst-testkit
    user: catalyst-testkit
    namespace: default
current-context: catalyst-testkit
preferences: {{}}
users:
- name: catalyst-testkit
  user: {{}}
"
    )
}

/// Writes the kubeconfig to `path`.
pub fn write(path: &Path, server: &str) -> std::io::Result<()> {
    std::fs::write(path, render(server))
}
