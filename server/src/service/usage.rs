//! CPU and memory of a preview namespace: pod usage from `metrics.k8s.io` summed over
//! containers, against the namespace's ResourceQuota (`hard`, with `status.used` telling
//! whether the quota is already exhausted).

use std::time::Duration;

use app::dto::{Gauge, ResourceUsage, parse_cpu, parse_memory};
use k8s_openapi::api::core::v1::ResourceQuota;
use kube::Api;
use kube::api::{ApiResource, DynamicObject, ListParams};
use kube::core::GroupVersionKind;

/// How long one namespace's usage may take before the dashboard shows it as unknown.
const USAGE_TIMEOUT: Duration = Duration::from_secs(3);

fn pod_metrics() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("metrics.k8s.io", "v1beta1", "PodMetrics"),
        "pods",
    )
}

/// The namespace's usage; `None` when neither metrics nor a quota could be read.
pub async fn namespace_usage(client: &kube::Client, namespace: &str) -> Option<ResourceUsage> {
    tokio::time::timeout(USAGE_TIMEOUT, read(client, namespace))
        .await
        .ok()
        .flatten()
}

async fn read(client: &kube::Client, namespace: &str) -> Option<ResourceUsage> {
    let metrics: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), namespace, &pod_metrics());
    let quotas: Api<ResourceQuota> = Api::namespaced(client.clone(), namespace);
    let all = ListParams::default();
    let (m, q) = tokio::join!(metrics.list(&all), quotas.list(&all));
    if m.is_err() && q.is_err() {
        return None;
    }
    let (mut cpu, mut memory) = (0.0, 0.0);
    if let Ok(list) = m {
        for pod in list.items {
            let containers = pod
                .data
                .get("containers")
                .and_then(|c| c.as_array())
                .cloned();
            for c in containers.unwrap_or_default() {
                let usage = &c["usage"];
                cpu += usage["cpu"].as_str().and_then(parse_cpu).unwrap_or(0.0);
                memory += usage["memory"]
                    .as_str()
                    .and_then(parse_memory)
                    .unwrap_or(0.0);
            }
        }
    }
    let quota = q.ok().and_then(|l| l.items.into_iter().next());
    let (cpu_limit, memory_limit, exceeded) = match &quota {
        Some(rq) => quota_limits(rq),
        None => (None, None, false),
    };
    Some(ResourceUsage {
        cpu: Gauge {
            used: cpu,
            limit: cpu_limit,
        },
        memory: Gauge {
            used: memory,
            limit: memory_limit,
        },
        quota_exceeded: exceeded,
    })
}

/// CPU and memory limits of a quota (limits first, then requests, then the bare keys)
/// and whether anything used is above its hard value.
pub fn quota_limits(rq: &ResourceQuota) -> (Option<f64>, Option<f64>, bool) {
    let hard = rq
        .status
        .as_ref()
        .and_then(|s| s.hard.clone())
        .or_else(|| rq.spec.as_ref().and_then(|s| s.hard.clone()))
        .unwrap_or_default();
    let used = rq
        .status
        .as_ref()
        .and_then(|s| s.used.clone())
        .unwrap_or_default();
    let pick = |keys: &[&str], parse: fn(&str) -> Option<f64>| {
        keys.iter()
            .find_map(|k| hard.get(*k).and_then(|q| parse(&q.0)))
    };
    let cpu = pick(&["limits.cpu", "requests.cpu", "cpu"], parse_cpu);
    let memory = pick(
        &["limits.memory", "requests.memory", "memory"],
        parse_memory,
    );
    let exceeded = hard.iter().any(|(k, h)| {
        let parse: fn(&str) -> Option<f64> = if k.ends_with("cpu") {
            parse_cpu
        } else {
            parse_memory
        };
        match (used.get(k).and_then(|u| parse(&u.0)), parse(&h.0)) {
            (Some(u), Some(h)) => u > h,
            _ => false,
        }
    });
    (cpu, memory, exceeded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ResourceQuotaStatus;
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
    use std::collections::BTreeMap;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, Quantity> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Quantity((*v).to_owned())))
            .collect()
    }

    #[test]
    fn limits_come_from_the_quota_and_overuse_is_flagged() {
        let rq = ResourceQuota {
            status: Some(ResourceQuotaStatus {
                hard: Some(map(&[
                    ("limits.cpu", "2"),
                    ("limits.memory", "1Gi"),
                    ("pods", "10"),
                ])),
                used: Some(map(&[
                    ("limits.cpu", "500m"),
                    ("limits.memory", "2Gi"),
                    ("pods", "3"),
                ])),
            }),
            ..ResourceQuota::default()
        };
        let (cpu, mem, exceeded) = quota_limits(&rq);
        assert_eq!(cpu, Some(2.0));
        assert_eq!(mem, Some(1_073_741_824.0));
        assert!(exceeded);
    }
}
