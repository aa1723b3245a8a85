//! What each managed namespace uses and may use: CPU and memory summed over its pods'
//! metrics (`metrics.k8s.io`, when a metrics server runs) and the `catalyst-quota`
//! ResourceQuota's hard limits. Read by the `/metrics` endpoint.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::ResourceQuota;
use kube::api::{Api, ApiResource, DynamicObject, ListParams};
use kube::core::GroupVersionKind;

use super::objects::QUOTA_NAME;
use super::{ClusterError, Result, namespaces};

/// One namespace's figures; `None` where the cluster did not say.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NamespaceUsage {
    pub cpu_cores: Option<f64>,
    pub memory_bytes: Option<f64>,
    pub cpu_quota_cores: Option<f64>,
    pub memory_quota_bytes: Option<f64>,
}

/// Usage and quota of every namespace Catalyst manages, by namespace name. Three list
/// calls whatever the number of namespaces. Pod metrics are optional (no metrics
/// server: usage stays `None`); failing to list namespaces or quotas is an error.
pub async fn managed_usage(client: &kube::Client) -> Result<BTreeMap<String, NamespaceUsage>> {
    let managed: BTreeSet<String> = namespaces::list_managed(client)
        .await?
        .into_iter()
        .map(|n| n.name)
        .collect();
    let mut usage: BTreeMap<String, NamespaceUsage> = managed
        .iter()
        .map(|n| (n.clone(), NamespaceUsage::default()))
        .collect();
    let quotas = Api::<ResourceQuota>::all(client.clone())
        .list(&ListParams::default().fields(&format!("metadata.name={QUOTA_NAME}")))
        .await
        .map_err(|e| ClusterError::api("listing resource quotas", e))?;
    for quota in quotas.items {
        let Some(entry) = quota
            .metadata
            .namespace
            .as_ref()
            .and_then(|ns| usage.get_mut(ns))
        else {
            continue;
        };
        let hard = quota.status.and_then(|s| s.hard).unwrap_or_default();
        let pick = |keys: &[&str]| {
            keys.iter()
                .find_map(|k| hard.get(*k).and_then(|q| parse_quantity(&q.0)))
        };
        entry.cpu_quota_cores = pick(&["limits.cpu", "requests.cpu", "cpu"]);
        entry.memory_quota_bytes = pick(&["limits.memory", "requests.memory", "memory"]);
    }
    let gvk = GroupVersionKind::gvk("metrics.k8s.io", "v1beta1", "PodMetrics");
    let resource = ApiResource::from_gvk_with_plural(&gvk, "pods");
    match Api::<DynamicObject>::all_with(client.clone(), &resource)
        .list(&ListParams::default())
        .await
    {
        Ok(pods) => {
            for pod in pods.items {
                let Some(entry) = pod
                    .metadata
                    .namespace
                    .as_ref()
                    .and_then(|ns| usage.get_mut(ns))
                else {
                    continue;
                };
                let (cpu, memory) = pod_usage(&pod.data);
                *entry.cpu_cores.get_or_insert(0.0) += cpu;
                *entry.memory_bytes.get_or_insert(0.0) += memory;
            }
        }
        Err(e) => {
            tracing::debug!(error = %e, "no pod metrics (is metrics-server installed?)");
        }
    }
    Ok(usage)
}

/// CPU cores and memory bytes summed over a PodMetrics object's containers.
pub fn pod_usage(data: &serde_json::Value) -> (f64, f64) {
    let mut cpu = 0.0;
    let mut memory = 0.0;
    for c in data["containers"].as_array().into_iter().flatten() {
        cpu += c["usage"]["cpu"]
            .as_str()
            .and_then(parse_quantity)
            .unwrap_or(0.0);
        memory += c["usage"]["memory"]
            .as_str()
            .and_then(parse_quantity)
            .unwrap_or(0.0);
    }
    (cpu, memory)
}

/// A Kubernetes quantity (`250m`, `1.5`, `128Mi`, `1G`, `12345n`, `1e3`) as a number of
/// base units (cores, bytes); `None` when it is not one.
pub fn parse_quantity(q: &str) -> Option<f64> {
    let q = q.trim();
    let split = q
        .find(|c: char| c.is_ascii_alphabetic() && c != 'e' && c != 'E')
        .unwrap_or(q.len());
    let (number, suffix) = q.split_at(split);
    let factor = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024.0 * 1024.0,
        "Gi" => 1024.0 * 1024.0 * 1024.0,
        "Ti" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        "Pi" => 1024.0 * 1024.0 * 1024.0 * 1024.0 * 1024.0,
        "Ei" => 1024.0 * 1024.0 * 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    // A bare trailing `E` is the exa suffix, not an exponent.
    let (number, factor) = match number.strip_suffix(['e', 'E']) {
        Some(n) if suffix.is_empty() && number.ends_with('E') => (n, 1e18),
        _ => (number, factor),
    };
    let value: f64 = number.parse().ok()?;
    value.is_finite().then_some(value * factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_parse_into_base_units() {
        let close = |q: &str, v: f64| {
            let got = parse_quantity(q).unwrap_or_else(|| panic!("{q} should parse"));
            assert!((got - v).abs() <= v.abs() * 1e-9, "{q}: {got} != {v}");
        };
        close("250m", 0.25);
        close("2", 2.0);
        close("1.5", 1.5);
        close("128Mi", 134_217_728.0);
        close("1Gi", 1_073_741_824.0);
        close("1G", 1e9);
        close("12345n", 12_345e-9);
        close("100u", 1e-4);
        close("64Ki", 65_536.0);
        close("1e3", 1000.0);
        close("2E", 2e18);
        assert_eq!(parse_quantity("lots"), None);
        assert_eq!(parse_quantity("1Xi"), None);
        assert_eq!(parse_quantity(""), None);
    }

    #[test]
    fn pod_usage_sums_containers() {
        let data = serde_json::json!({
            "containers": [
                { "name": "a", "usage": { "cpu": "100m", "memory": "1Mi" } },
                { "name": "b", "usage": { "cpu": "250000000n", "memory": "1024Ki" } }
            ]
        });
        let (cpu, memory) = pod_usage(&data);
        assert!((cpu - 0.35).abs() < 1e-9);
        assert!((memory - 2_097_152.0).abs() < 1e-6);
        assert_eq!(pod_usage(&serde_json::json!({})), (0.0, 0.0));
    }
}
