//! CPU and memory of preview namespaces: pod usage from `metrics.k8s.io` summed over
//! containers, against the namespace's ResourceQuota (`hard`, with `status.used` telling
//! whether the quota is already exhausted). One namespace reads its own two lists (the
//! environment page); the overview reads every namespace at once from two cluster-wide
//! lists, so its cost does not grow with the number of environments, and shares them
//! through [`UsageCache`]: every page view and every live feed tick within
//! [`FRESH_FOR`] of the last read uses that read.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use app::dto::{Gauge, ResourceUsage, parse_cpu, parse_memory};
use k8s_openapi::api::core::v1::ResourceQuota;
use kube::Api;
use kube::api::{ApiResource, DynamicObject, ListParams, ObjectList};
use kube::core::GroupVersionKind;
use tokio::time::Instant;

use crate::cluster::labels;

/// How long reading usage may take before the dashboard shows it as unknown.
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
    let usage = UsageByNamespace::from_lists(m.ok(), q.ok())?;
    Some(usage.of(namespace))
}

/// Usage of every namespace, from one cluster-wide list of pod metrics and one of the
/// ResourceQuotas Catalyst created; `None` when neither list could be read in time.
///
/// Pod metrics are not narrowed by label: the pods come from each repository's own
/// chart and carry none of Catalyst's labels (metrics-server copies the pod's labels).
pub async fn usage_by_namespace(client: &kube::Client) -> Option<UsageByNamespace> {
    tokio::time::timeout(USAGE_TIMEOUT, read_all(client))
        .await
        .ok()
        .flatten()
}

async fn read_all(client: &kube::Client) -> Option<UsageByNamespace> {
    let metrics: Api<DynamicObject> = Api::all_with(client.clone(), &pod_metrics());
    let quotas: Api<ResourceQuota> = Api::all(client.clone());
    let every = ListParams::default();
    let catalysts = ListParams::default().labels(labels::MANAGED_SELECTOR);
    let (m, q) = tokio::join!(metrics.list(&every), quotas.list(&catalysts));
    UsageByNamespace::from_lists(m.ok(), q.ok())
}

/// How long one read of every namespace's usage is shown as it is. metrics-server
/// samples pods every 15 s, so a fresher read would mostly repeat the last one; with
/// 1,000 previews the two lists were most of a page view's time (BENCHMARKS.md).
pub const FRESH_FOR: Duration = Duration::from_secs(10);

/// How long an older read is still shown while a new one is made in the background;
/// after that a reader waits for the new read rather than see figures this old.
pub const STALE_FOR: Duration = Duration::from_secs(60);

/// What a reader does with a read of age `age` (`None`: nothing read yet).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Freshness {
    /// Use it.
    Fresh,
    /// Use it, and start a new read in the background.
    Stale,
    /// Wait for a new read.
    Expired,
}

fn freshness(age: Option<Duration>) -> Freshness {
    match age {
        Some(age) if age < FRESH_FOR => Freshness::Fresh,
        Some(age) if age < STALE_FOR => Freshness::Stale,
        _ => Freshness::Expired,
    }
}

/// The last read of every namespace's usage ([`usage_by_namespace`]), shared by the
/// overview's readers: at most one read runs at a time, and readers use a read younger
/// than [`FRESH_FOR`] (or, while a new one is made, younger than [`STALE_FOR`]).
pub struct UsageCache {
    client: kube::Client,
    /// When the last read finished and what it found (`None`: neither list answered).
    last: Mutex<Option<(Instant, Option<Arc<UsageByNamespace>>)>>,
    /// Held by the read in progress.
    reading: Arc<tokio::sync::Mutex<()>>,
}

impl std::fmt::Debug for UsageCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UsageCache").finish_non_exhaustive()
    }
}

impl UsageCache {
    pub fn new(client: kube::Client) -> Arc<Self> {
        Arc::new(Self {
            client,
            last: Mutex::new(None),
            reading: Arc::new(tokio::sync::Mutex::new(())),
        })
    }

    fn last(&self) -> (Freshness, Option<Arc<UsageByNamespace>>) {
        let last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        match last.as_ref() {
            Some((at, usage)) => (freshness(Some(at.elapsed())), usage.clone()),
            None => (freshness(None), None),
        }
    }

    /// Every namespace's usage, as recently read as [`FRESH_FOR`] allows; `None` when
    /// the last read found neither list.
    pub async fn current(self: &Arc<Self>) -> Option<Arc<UsageByNamespace>> {
        match self.last() {
            (Freshness::Fresh, usage) => usage,
            (Freshness::Stale, usage) => {
                if let Ok(guard) = self.reading.clone().try_lock_owned() {
                    let this = self.clone();
                    tokio::spawn(async move {
                        this.read().await;
                        drop(guard);
                    });
                }
                usage
            }
            (Freshness::Expired, _) => {
                let _reading = self.reading.lock().await;
                // Another reader may have read while this one waited.
                match self.last() {
                    (Freshness::Fresh, usage) => usage,
                    _ => self.read().await,
                }
            }
        }
    }

    /// Reads both lists and keeps the result; the caller holds `reading`.
    async fn read(&self) -> Option<Arc<UsageByNamespace>> {
        let usage = usage_by_namespace(&self.client).await.map(Arc::new);
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((Instant::now(), usage.clone()));
        usage
    }
}

/// Pod usage and quota per namespace, from whichever of the two lists could be read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UsageByNamespace {
    /// (CPU cores, memory bytes) summed over the namespace's pods.
    used: HashMap<String, (f64, f64)>,
    /// (CPU limit, memory limit, exceeded) of the namespace's first quota.
    quotas: HashMap<String, (Option<f64>, Option<f64>, bool)>,
}

impl UsageByNamespace {
    /// `None` when neither list was read: nothing is known then.
    fn from_lists(
        metrics: Option<ObjectList<DynamicObject>>,
        quotas: Option<ObjectList<ResourceQuota>>,
    ) -> Option<Self> {
        if metrics.is_none() && quotas.is_none() {
            return None;
        }
        let mut out = Self::default();
        for pod in metrics.map(|l| l.items).unwrap_or_default() {
            let ns = pod.metadata.namespace.clone().unwrap_or_default();
            let (cpu, memory) = pod_usage(&pod);
            let sum = out.used.entry(ns).or_insert((0.0, 0.0));
            sum.0 += cpu;
            sum.1 += memory;
        }
        for rq in quotas.map(|l| l.items).unwrap_or_default() {
            let ns = rq.metadata.namespace.clone().unwrap_or_default();
            out.quotas.entry(ns).or_insert_with(|| quota_limits(&rq));
        }
        Some(out)
    }

    /// The namespace's usage: what was read of it, zero for a namespace without pods.
    pub fn of(&self, namespace: &str) -> ResourceUsage {
        let (cpu, memory) = self.used.get(namespace).copied().unwrap_or((0.0, 0.0));
        let (cpu_limit, memory_limit, exceeded) = self
            .quotas
            .get(namespace)
            .copied()
            .unwrap_or((None, None, false));
        ResourceUsage {
            cpu: Gauge {
                used: cpu,
                limit: cpu_limit,
            },
            memory: Gauge {
                used: memory,
                limit: memory_limit,
            },
            quota_exceeded: exceeded,
        }
    }
}

/// (CPU cores, memory bytes) of one PodMetrics object, summed over its containers.
fn pod_usage(pod: &DynamicObject) -> (f64, f64) {
    let (mut cpu, mut memory) = (0.0, 0.0);
    let containers = pod.data.get("containers").and_then(|c| c.as_array());
    for c in containers.into_iter().flatten() {
        let usage = &c["usage"];
        cpu += usage["cpu"].as_str().and_then(parse_cpu).unwrap_or(0.0);
        memory += usage["memory"]
            .as_str()
            .and_then(parse_memory)
            .unwrap_or(0.0);
    }
    (cpu, memory)
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

    fn list<K>(items: Vec<K>) -> ObjectList<K>
    where
        K: Clone,
    {
        ObjectList {
            types: Default::default(),
            metadata: Default::default(),
            items,
        }
    }

    fn metrics(ns: &str, name: &str, usage: &[(&str, &str)]) -> DynamicObject {
        let mut o = DynamicObject::new(name, &pod_metrics()).within(ns);
        o.data = serde_json::json!({
            "containers": usage
                .iter()
                .map(|(cpu, mem)| serde_json::json!({"name": "c", "usage": {"cpu": cpu, "memory": mem}}))
                .collect::<Vec<_>>(),
        });
        o
    }

    fn quota(ns: &str, cpu: &str) -> ResourceQuota {
        let mut rq = ResourceQuota {
            status: Some(ResourceQuotaStatus {
                hard: Some(map(&[("limits.cpu", cpu), ("limits.memory", "1Gi")])),
                used: None,
            }),
            ..ResourceQuota::default()
        };
        rq.metadata.namespace = Some(ns.to_owned());
        rq
    }

    #[test]
    fn a_read_is_used_then_refreshed_behind_then_waited_for() {
        assert_eq!(freshness(None), Freshness::Expired);
        assert_eq!(freshness(Some(Duration::ZERO)), Freshness::Fresh);
        assert_eq!(
            freshness(Some(FRESH_FOR - Duration::from_millis(1))),
            Freshness::Fresh
        );
        assert_eq!(freshness(Some(FRESH_FOR)), Freshness::Stale);
        assert_eq!(
            freshness(Some(STALE_FOR - Duration::from_millis(1))),
            Freshness::Stale
        );
        assert_eq!(freshness(Some(STALE_FOR)), Freshness::Expired);
    }

    #[test]
    fn cluster_wide_lists_are_grouped_by_namespace() {
        let usage = UsageByNamespace::from_lists(
            Some(list(vec![
                metrics("pr-a-1", "web", &[("250m", "64Mi"), ("50m", "16Mi")]),
                metrics("pr-a-1", "db", &[("100m", "128Mi")]),
                metrics("pr-b-2", "web", &[("1", "1Gi")]),
            ])),
            Some(list(vec![quota("pr-a-1", "2"), quota("pr-b-2", "500m")])),
        )
        .expect("both lists were read");
        let a = usage.of("pr-a-1");
        assert!((a.cpu.used - 0.4).abs() < 1e-9, "{a:?}");
        assert_eq!(a.memory.used, 208.0 * 1_048_576.0);
        assert_eq!(
            (a.cpu.limit, a.memory.limit),
            (Some(2.0), Some(1_073_741_824.0))
        );
        assert_eq!(usage.of("pr-b-2").cpu.limit, Some(0.5));
        assert_eq!(usage.of("pr-b-2").cpu.level(), app::dto::Level::Error);
        // A namespace without pods or quota yet: zero, no limit (as its own lists say).
        let empty = usage.of("pr-c-3");
        assert_eq!((empty.cpu.used, empty.cpu.limit), (0.0, None));
    }

    #[test]
    fn one_readable_list_is_enough_and_none_is_unknown() {
        let only_quotas =
            UsageByNamespace::from_lists(None, Some(list(vec![quota("pr-a-1", "2")])))
                .expect("the quotas were read");
        assert_eq!(only_quotas.of("pr-a-1").cpu.used, 0.0);
        assert_eq!(only_quotas.of("pr-a-1").cpu.limit, Some(2.0));
        assert_eq!(UsageByNamespace::from_lists(None, None), None);
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
