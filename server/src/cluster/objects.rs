//! Pure builders for the namespace kit: Namespace, ResourceQuota, LimitRange,
//! NetworkPolicies, the deployer ServiceAccount with its Role and RoleBinding, and
//! copied Secrets. No I/O: [`super::apply`] sends what these return.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    LimitRange, LimitRangeItem, LimitRangeSpec, Namespace, ResourceQuota, ResourceQuotaSpec,
    Secret, ServiceAccount,
};
use k8s_openapi::api::networking::v1::{
    IPBlock, NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer,
    NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::labels;
use super::settings::{ClusterSettings, ResourceSettings};
use super::spec::EnvironmentSpec;

/// The pull request pod's ServiceAccount, Role and RoleBinding share this name.
pub const DEPLOYER: &str = "catalyst-deployer";
/// Name of the ResourceQuota and LimitRange.
pub const QUOTA_NAME: &str = "catalyst-quota";
pub const LIMITS_NAME: &str = "catalyst-limits";
/// The namespace-wide isolation policy.
pub const ISOLATION_POLICY: &str = "catalyst-isolation";
/// The extra egress allowed to the pull request pod only.
pub const DEPLOYER_EGRESS_POLICY: &str = "catalyst-deployer-egress";

fn meta(spec: &EnvironmentSpec, name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: Some(spec.namespace.to_string()),
        labels: Some(spec.labels()),
        ..ObjectMeta::default()
    }
}

/// The preview namespace, with Catalyst's labels and Pod Security `baseline` enforced
/// (the deploy Job's Kaniko build runs as root, which `restricted` would refuse).
pub fn namespace(spec: &EnvironmentSpec, _s: &ClusterSettings) -> Namespace {
    let mut labels = spec.labels();
    labels.insert(
        labels::POD_SECURITY_ENFORCE.to_owned(),
        labels::POD_SECURITY_LEVEL.to_owned(),
    );
    Namespace {
        metadata: ObjectMeta {
            name: Some(spec.namespace.to_string()),
            labels: Some(labels),
            annotations: Some(spec.annotations()),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    }
}

/// Caps what one preview may use; the repository's overrides win over the defaults.
/// CPU and memory bound both requests and limits, so the dashboard has one number.
pub fn resource_quota(spec: &EnvironmentSpec, s: &ClusterSettings) -> ResourceQuota {
    let cpu = spec.quota.cpu.as_deref().unwrap_or(&s.quota.cpu);
    let memory = spec.quota.memory.as_deref().unwrap_or(&s.quota.memory);
    let pods = spec.quota.pods.unwrap_or(s.quota.pods);
    let hard = BTreeMap::from([
        ("requests.cpu".to_owned(), Quantity(cpu.to_owned())),
        ("limits.cpu".to_owned(), Quantity(cpu.to_owned())),
        ("requests.memory".to_owned(), Quantity(memory.to_owned())),
        ("limits.memory".to_owned(), Quantity(memory.to_owned())),
        ("pods".to_owned(), Quantity(pods.to_string())),
    ]);
    ResourceQuota {
        metadata: meta(spec, QUOTA_NAME),
        spec: Some(ResourceQuotaSpec {
            hard: Some(hard),
            ..ResourceQuotaSpec::default()
        }),
        ..ResourceQuota::default()
    }
}

/// A quota on CPU/memory makes the API server reject pods without requests and
/// limits; these defaults let charts that set none still be admitted.
pub fn limit_range(spec: &EnvironmentSpec, s: &ClusterSettings) -> LimitRange {
    LimitRange {
        metadata: meta(spec, LIMITS_NAME),
        spec: Some(LimitRangeSpec {
            limits: vec![LimitRangeItem {
                type_: "Container".to_owned(),
                default: Some(quantities(&s.default_limit)),
                default_request: Some(quantities(&s.default_request)),
                ..LimitRangeItem::default()
            }],
        }),
    }
}

/// `cpu`/`memory` quantities.
pub fn quantities(r: &ResourceSettings) -> BTreeMap<String, Quantity> {
    BTreeMap::from([
        ("cpu".to_owned(), Quantity(r.cpu.clone())),
        ("memory".to_owned(), Quantity(r.memory.clone())),
    ])
}

fn namespace_peer(name: &str) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        namespace_selector: Some(LabelSelector {
            match_labels: Some(labels::single(labels::NAMESPACE_NAME, name)),
            ..LabelSelector::default()
        }),
        ..NetworkPolicyPeer::default()
    }
}

fn same_namespace_peer() -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        pod_selector: Some(LabelSelector::default()),
        ..NetworkPolicyPeer::default()
    }
}

fn cidr_peer(cidr: &str) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        ip_block: Some(IPBlock {
            cidr: cidr.to_owned(),
            except: None,
        }),
        ..NetworkPolicyPeer::default()
    }
}

fn port(protocol: &str, number: i32) -> NetworkPolicyPort {
    NetworkPolicyPort {
        protocol: Some(protocol.to_owned()),
        port: Some(IntOrString::Int(number)),
        ..NetworkPolicyPort::default()
    }
}

/// Isolation for every pod of the preview: in from the same namespace, the ingress
/// controller and (when configured) the API server's proxy only; out to the same namespace, cluster DNS (UDP and TCP 53) and the
/// configured auxiliary namespaces only.
pub fn network_policy(spec: &EnvironmentSpec, s: &ClusterSettings) -> NetworkPolicy {
    let mut egress = vec![
        NetworkPolicyEgressRule {
            to: Some(vec![same_namespace_peer()]),
            ..NetworkPolicyEgressRule::default()
        },
        NetworkPolicyEgressRule {
            to: Some(vec![namespace_peer(&s.dns_namespace)]),
            ports: Some(vec![port("UDP", 53), port("TCP", 53)]),
        },
    ];
    if !s.auxiliary_namespaces.is_empty() {
        egress.push(NetworkPolicyEgressRule {
            to: Some(
                s.auxiliary_namespaces
                    .iter()
                    .map(|ns| namespace_peer(ns))
                    .collect(),
            ),
            ..NetworkPolicyEgressRule::default()
        });
    }
    NetworkPolicy {
        metadata: meta(spec, ISOLATION_POLICY),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector::default()),
            policy_types: Some(vec!["Ingress".to_owned(), "Egress".to_owned()]),
            ingress: Some(vec![NetworkPolicyIngressRule {
                from: Some(
                    [same_namespace_peer(), namespace_peer(&s.ingress_namespace)]
                        .into_iter()
                        .chain(s.probe_source_cidrs.iter().map(|c| cidr_peer(c)))
                        .collect(),
                ),
                ..NetworkPolicyIngressRule::default()
            }]),
            egress: Some(egress),
        }),
    }
}

/// Extra egress for the pull request pod alone: it clones from GitHub, pulls base
/// images, pushes to the registry and calls the API server, none of which the
/// namespace-wide policy allows. Policies add up, so application pods stay isolated.
/// `None` when [`ClusterSettings::deployer_egress_cidrs`] is empty.
pub fn deployer_network_policy(
    spec: &EnvironmentSpec,
    s: &ClusterSettings,
) -> Option<NetworkPolicy> {
    if s.deployer_egress_cidrs.is_empty() {
        return None;
    }
    let peers = s
        .deployer_egress_cidrs
        .iter()
        .map(|c| cidr_peer(c))
        .collect();
    Some(NetworkPolicy {
        metadata: meta(spec, DEPLOYER_EGRESS_POLICY),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector {
                match_labels: Some(labels::single(labels::ROLE, labels::ROLE_PULL_REQUEST_POD)),
                ..LabelSelector::default()
            }),
            policy_types: Some(vec!["Egress".to_owned()]),
            egress: Some(vec![NetworkPolicyEgressRule {
                to: Some(peers),
                ..NetworkPolicyEgressRule::default()
            }]),
            ..NetworkPolicySpec::default()
        }),
    })
}

/// The account the pull request pod runs as.
pub fn service_account(spec: &EnvironmentSpec, _s: &ClusterSettings) -> ServiceAccount {
    ServiceAccount {
        metadata: meta(spec, DEPLOYER),
        ..ServiceAccount::default()
    }
}

const ALL_VERBS: [&str; 8] = [
    "get",
    "list",
    "watch",
    "create",
    "update",
    "patch",
    "delete",
    "deletecollection",
];

fn rule(group: &str, resources: &[&str], verbs: &[&str]) -> PolicyRule {
    PolicyRule {
        api_groups: Some(vec![group.to_owned()]),
        resources: Some(resources.iter().map(|r| (*r).to_owned()).collect()),
        verbs: verbs.iter().map(|v| (*v).to_owned()).collect(),
        ..PolicyRule::default()
    }
}

/// What `helm upgrade --install --wait` of an ordinary application chart needs, in
/// this namespace only (a Role cannot grant anything cluster-scoped). Deliberately
/// absent: NetworkPolicies, ResourceQuotas and LimitRanges (a chart must not lift its
/// own isolation or quota) and pods/exec. RBAC objects are allowed because many
/// charts ship them; the API server's escalation check stops a Role from granting
/// more than the deployer itself holds.
pub fn role(spec: &EnvironmentSpec, _s: &ClusterSettings) -> Role {
    let read = ["get", "list", "watch"];
    Role {
        metadata: meta(spec, DEPLOYER),
        rules: Some(vec![
            rule(
                "",
                &[
                    "pods",
                    "services",
                    "endpoints",
                    "configmaps",
                    "secrets",
                    "serviceaccounts",
                    "persistentvolumeclaims",
                ],
                &ALL_VERBS,
            ),
            rule("", &["pods/log", "events"], &read),
            rule(
                "apps",
                &["deployments", "statefulsets", "replicasets"],
                &ALL_VERBS,
            ),
            rule("batch", &["jobs", "cronjobs"], &ALL_VERBS),
            rule("networking.k8s.io", &["ingresses"], &ALL_VERBS),
            rule("autoscaling", &["horizontalpodautoscalers"], &ALL_VERBS),
            rule("policy", &["poddisruptionbudgets"], &ALL_VERBS),
            rule(
                "rbac.authorization.k8s.io",
                &["roles", "rolebindings"],
                &ALL_VERBS,
            ),
        ]),
    }
}

/// Binds [`role`] to [`service_account`].
pub fn role_binding(spec: &EnvironmentSpec, _s: &ClusterSettings) -> RoleBinding {
    RoleBinding {
        metadata: meta(spec, DEPLOYER),
        role_ref: RoleRef {
            api_group: Some("rbac.authorization.k8s.io".to_owned()),
            kind: "Role".to_owned(),
            name: DEPLOYER.to_owned(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".to_owned(),
            name: DEPLOYER.to_owned(),
            namespace: Some(spec.namespace.to_string()),
            ..Subject::default()
        }]),
    }
}

/// A copy of `source` for `target_ns`: same name, type and data; none of the source's
/// server-owned metadata (uid, resourceVersion, owners, managed fields), which would
/// make the apply fail or tie the copy's life to the source.
pub fn secret_copy(source: &Secret, target_ns: &str) -> Secret {
    let src = &source.metadata;
    let mut labels = src.labels.clone().unwrap_or_default();
    labels.insert(
        labels::MANAGED_BY.to_owned(),
        labels::MANAGED_BY_VALUE.to_owned(),
    );
    let mut annotations = src.annotations.clone().unwrap_or_default();
    annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
    annotations.insert(
        labels::COPIED_FROM_ANNOTATION.to_owned(),
        format!(
            "{}/{}",
            src.namespace.as_deref().unwrap_or_default(),
            src.name.as_deref().unwrap_or_default()
        ),
    );
    Secret {
        metadata: ObjectMeta {
            name: src.name.clone(),
            namespace: Some(target_ns.to_owned()),
            labels: Some(labels),
            annotations: Some(annotations),
            ..ObjectMeta::default()
        },
        type_: source.type_.clone(),
        data: source.data.clone(),
        string_data: source.string_data.clone(),
        immutable: source.immutable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::spec::fixtures::spec;
    use k8s_openapi::ByteString;

    fn settings() -> ClusterSettings {
        ClusterSettings {
            auxiliary_namespaces: vec!["registry".to_owned()],
            ..ClusterSettings::default()
        }
    }

    #[test]
    fn namespace_carries_labels_annotation_and_pod_security() {
        let ns = namespace(&spec(), &settings());
        let l = ns.metadata.labels.unwrap();
        assert_eq!(ns.metadata.name.as_deref(), Some("pr-web-42"));
        assert_eq!(l[labels::MANAGED_BY], "catalyst");
        assert_eq!(l[labels::REPOSITORY], "acme.web");
        assert_eq!(l[labels::PR_NUMBER], "42");
        assert_eq!(l[labels::POD_SECURITY_ENFORCE], "baseline");
        assert_eq!(
            ns.metadata.annotations.unwrap()[labels::REPOSITORY_ANNOTATION],
            "Acme/Web"
        );
    }

    #[test]
    fn quota_uses_defaults_and_repository_overrides() {
        let mut s = spec();
        let hard = resource_quota(&s, &settings()).spec.unwrap().hard.unwrap();
        assert_eq!(hard["limits.cpu"].0, "4");
        assert_eq!(hard["requests.memory"].0, "8Gi");
        assert_eq!(hard["pods"].0, "20");
        s.quota.memory = Some("2Gi".to_owned());
        s.quota.pods = Some(5);
        let hard = resource_quota(&s, &settings()).spec.unwrap().hard.unwrap();
        assert_eq!(hard["limits.memory"].0, "2Gi");
        assert_eq!(hard["pods"].0, "5");
        assert_eq!(hard["limits.cpu"].0, "4");
    }

    #[test]
    fn limit_range_gives_defaults_to_containers() {
        let lr = limit_range(&spec(), &settings()).spec.unwrap();
        let item = &lr.limits[0];
        assert_eq!(item.type_, "Container");
        assert_eq!(item.default.as_ref().unwrap()["cpu"].0, "500m");
        assert_eq!(item.default_request.as_ref().unwrap()["memory"].0, "128Mi");
    }

    #[test]
    fn network_policy_isolates_the_namespace() {
        let np = network_policy(&spec(), &settings()).spec.unwrap();
        assert_eq!(np.pod_selector, Some(LabelSelector::default()));
        let from = np.ingress.unwrap()[0].from.clone().unwrap();
        assert_eq!(from.len(), 2);
        assert_eq!(from[0].pod_selector, Some(LabelSelector::default()));
        assert_eq!(
            from[1]
                .namespace_selector
                .as_ref()
                .unwrap()
                .match_labels
                .as_ref()
                .unwrap()[labels::NAMESPACE_NAME],
            "ingress-nginx"
        );
        let egress = np.egress.unwrap();
        let dns = &egress[1];
        let ports = dns.ports.as_ref().unwrap();
        let protocols: Vec<_> = ports.iter().map(|p| p.protocol.clone().unwrap()).collect();
        assert_eq!(protocols, ["UDP", "TCP"]);
        assert!(ports.iter().all(|p| p.port == Some(IntOrString::Int(53))));
        let aux = egress[2].to.as_ref().unwrap();
        assert_eq!(
            aux[0]
                .namespace_selector
                .as_ref()
                .unwrap()
                .match_labels
                .as_ref()
                .unwrap()[labels::NAMESPACE_NAME],
            "registry"
        );
        // Nothing else: no ipBlock reaching other namespaces or the world.
        assert!(
            egress
                .iter()
                .all(|r| { r.to.iter().flatten().all(|p| p.ip_block.is_none()) })
        );
    }

    #[test]
    fn api_server_sources_may_be_let_in_for_the_probe() {
        let s = ClusterSettings {
            probe_source_cidrs: vec!["10.0.0.0/24".to_owned()],
            ..settings()
        };
        let np = network_policy(&spec(), &s).spec.unwrap();
        let from = np.ingress.unwrap()[0].from.clone().unwrap();
        assert_eq!(from.len(), 3);
        assert_eq!(from[2].ip_block.as_ref().unwrap().cidr, "10.0.0.0/24");
    }

    #[test]
    fn only_the_pull_request_pod_gets_wider_egress() {
        let np = deployer_network_policy(&spec(), &settings()).unwrap();
        let sel = np.spec.unwrap().pod_selector.unwrap().match_labels.unwrap();
        assert_eq!(sel[labels::ROLE], labels::ROLE_PULL_REQUEST_POD);
        let none = ClusterSettings {
            deployer_egress_cidrs: vec![],
            ..settings()
        };
        assert!(deployer_network_policy(&spec(), &none).is_none());
    }

    #[test]
    fn role_is_namespaced_and_cannot_touch_isolation_or_quota() {
        let r = role(&spec(), &settings());
        assert_eq!(r.metadata.namespace.as_deref(), Some("pr-web-42"));
        let resources: Vec<String> = r
            .rules
            .unwrap()
            .into_iter()
            .flat_map(|r| r.resources.unwrap_or_default())
            .collect();
        for needed in ["deployments", "services", "secrets", "ingresses", "jobs"] {
            assert!(resources.iter().any(|r| r == needed), "{needed}");
        }
        for forbidden in [
            "networkpolicies",
            "resourcequotas",
            "limitranges",
            "namespaces",
            "nodes",
            "pods/exec",
            "*",
        ] {
            assert!(!resources.iter().any(|r| r == forbidden), "{forbidden}");
        }
        let rb = role_binding(&spec(), &settings());
        assert_eq!(rb.role_ref.kind, "Role");
        assert_eq!(rb.subjects.unwrap()[0].name, DEPLOYER);
    }

    #[test]
    fn secret_copies_drop_server_metadata() {
        let source = Secret {
            metadata: ObjectMeta {
                name: Some("web-env".to_owned()),
                namespace: Some("acme-secrets".to_owned()),
                uid: Some("u-1".to_owned()),
                resource_version: Some("17".to_owned()),
                owner_references: Some(vec![Default::default()]),
                managed_fields: Some(vec![Default::default()]),
                annotations: Some(BTreeMap::from([(
                    "kubectl.kubernetes.io/last-applied-configuration".to_owned(),
                    "{}".to_owned(),
                )])),
                ..ObjectMeta::default()
            },
            type_: Some("Opaque".to_owned()),
            data: Some(BTreeMap::from([(
                "TOKEN".to_owned(),
                ByteString(b"s3cret".to_vec()),
            )])),
            ..Secret::default()
        };
        let copy = secret_copy(&source, "pr-web-42");
        let m = &copy.metadata;
        assert_eq!(m.namespace.as_deref(), Some("pr-web-42"));
        assert!(m.uid.is_none() && m.resource_version.is_none());
        assert!(m.owner_references.is_none() && m.managed_fields.is_none());
        assert_eq!(m.labels.as_ref().unwrap()[labels::MANAGED_BY], "catalyst");
        let ann = m.annotations.as_ref().unwrap();
        assert_eq!(ann[labels::COPIED_FROM_ANNOTATION], "acme-secrets/web-env");
        assert!(!ann.contains_key("kubectl.kubernetes.io/last-applied-configuration"));
        assert_eq!(copy.data, source.data);
        assert_eq!(copy.type_.as_deref(), Some("Opaque"));
    }

    #[test]
    fn every_kit_object_lives_in_the_preview_namespace() {
        let (sp, s) = (spec(), settings());
        let names = [
            resource_quota(&sp, &s).metadata,
            limit_range(&sp, &s).metadata,
            network_policy(&sp, &s).metadata,
            service_account(&sp, &s).metadata,
            role(&sp, &s).metadata,
            role_binding(&sp, &s).metadata,
        ];
        for m in names {
            assert_eq!(m.namespace.as_deref(), Some("pr-web-42"));
            assert!(labels::is_dns_label(m.name.as_deref().unwrap()));
            assert_eq!(m.labels.unwrap()[labels::MANAGED_BY], "catalyst");
        }
    }
}
