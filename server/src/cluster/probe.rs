//! The HTTP half of the health check: which Service to probe, and one GET of the
//! health path through the API server's service proxy (so Catalyst needs no route into
//! the preview network).

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::{Ingress, IngressBackend};

use super::{ClusterError, Result};

/// A client for health probes: `kube`'s default client retries 429/503/504 up to 15
/// times with exponential backoff, which is right for API calls but wrong for a probe,
/// where the application's 503 *is* the answer.
pub fn probe_client(mut config: kube::Config) -> Result<kube::Client> {
    config.default_retry = false;
    kube::Client::try_from(config).map_err(|e| ClusterError::api("building the probe client", e))
}

/// The Service and port to probe: the first Ingress backend (that is what users reach),
/// else the first proxyable Service's first port.
pub fn probe_target(ingresses: &[Ingress], services: &[Service]) -> Option<(String, String)> {
    let backend_target = |b: &IngressBackend| {
        let svc = b.service.as_ref()?;
        let port = svc.port.as_ref()?;
        let port = port
            .number
            .map(|n| n.to_string())
            .or_else(|| port.name.clone())?;
        Some((svc.name.clone(), port))
    };
    for ing in ingresses {
        let Some(spec) = ing.spec.as_ref() else {
            continue;
        };
        let from_rules = spec
            .rules
            .iter()
            .flatten()
            .filter_map(|r| r.http.as_ref())
            .flat_map(|h| h.paths.iter())
            .find_map(|p| backend_target(&p.backend));
        if let Some(t) =
            from_rules.or_else(|| spec.default_backend.as_ref().and_then(backend_target))
        {
            return Some(t);
        }
    }
    let mut candidates: Vec<&Service> = services
        .iter()
        .filter(|s| {
            let spec = s.spec.as_ref();
            spec.and_then(|s| s.type_.as_deref()) != Some("ExternalName")
                && spec.is_some_and(|s| s.ports.as_ref().is_some_and(|p| !p.is_empty()))
        })
        .collect();
    // Headless Services (clusterIP None) come last: the proxy needs a virtual IP.
    candidates
        .sort_by_key(|s| s.spec.as_ref().and_then(|s| s.cluster_ip.as_deref()) == Some("None"));
    let svc = candidates.first()?;
    let port = svc.spec.as_ref()?.ports.as_ref()?.first()?.port;
    Some((svc.metadata.name.clone()?, port.to_string()))
}

/// `/api/v1/namespaces/{ns}/services/{name}:{port}/proxy{path}`.
pub fn proxy_path(namespace: &str, service: &str, port: &str, health_path: &str) -> String {
    let path = if health_path.starts_with('/') {
        health_path.to_owned()
    } else {
        format!("/{health_path}")
    };
    format!("/api/v1/namespaces/{namespace}/services/{service}:{port}/proxy{path}")
}

/// One GET through the proxy; `Err` says why it does not count as healthy. Like a
/// kubelet HTTP probe, any 2xx or 3xx answer passes.
pub(crate) async fn probe(client: &kube::Client, path: &str) -> std::result::Result<(), String> {
    let request = http::Request::get(path)
        .body(Vec::new())
        .map_err(|e| format!("invalid health path: {e}"))?;
    match client.request_text(request).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) => {
            let body: String = s.message.chars().take(200).collect();
            Err(format!("answered {}: {body}", s.code))
        }
        Err(e) => Err(e.to_string()),
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{ServicePort, ServiceSpec};
    use k8s_openapi::api::networking::v1::{
        HTTPIngressPath, HTTPIngressRuleValue, IngressRule, IngressServiceBackend, IngressSpec,
        ServiceBackendPort,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn meta(name: &str) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.to_owned()),
            generation: Some(2),
            ..ObjectMeta::default()
        }
    }

    fn service(name: &str, port: i32, headless: bool) -> Service {
        Service {
            metadata: meta(name),
            spec: Some(ServiceSpec {
                cluster_ip: headless.then(|| "None".to_owned()),
                ports: Some(vec![ServicePort {
                    port,
                    protocol: Some("TCP".to_owned()),
                    ..ServicePort::default()
                }]),
                ..ServiceSpec::default()
            }),
            ..Service::default()
        }
    }

    #[test]
    fn the_ingress_backend_is_probed_first() {
        let ingress = Ingress {
            metadata: meta("web"),
            spec: Some(IngressSpec {
                rules: Some(vec![IngressRule {
                    host: Some("pr-web-1.example.com".to_owned()),
                    http: Some(HTTPIngressRuleValue {
                        paths: vec![HTTPIngressPath {
                            path: Some("/".to_owned()),
                            path_type: "Prefix".to_owned(),
                            backend: IngressBackend {
                                service: Some(IngressServiceBackend {
                                    name: "frontend".to_owned(),
                                    port: Some(ServiceBackendPort {
                                        name: Some("http".to_owned()),
                                        number: None,
                                    }),
                                }),
                                ..IngressBackend::default()
                            },
                        }],
                    }),
                }]),
                ..IngressSpec::default()
            }),
            ..Ingress::default()
        };
        let services = [service("db", 5432, true), service("api", 8080, false)];
        assert_eq!(
            probe_target(&[ingress], &services),
            Some(("frontend".to_owned(), "http".to_owned()))
        );
        assert_eq!(
            probe_target(&[], &services),
            Some(("api".to_owned(), "8080".to_owned()))
        );
        assert_eq!(probe_target(&[], &[]), None);
    }

    #[test]
    fn proxy_paths_go_through_the_api_server() {
        assert_eq!(
            proxy_path("pr-web-1", "web", "80", "/healthz"),
            "/api/v1/namespaces/pr-web-1/services/web:80/proxy/healthz"
        );
        assert_eq!(
            proxy_path("n", "s", "http", "ready"),
            "/api/v1/namespaces/n/services/s:http/proxy/ready"
        );
    }
}
