//! Applies the namespace kit with server-side apply (field manager `catalyst`, forced:
//! Catalyst owns these fields). Applying the same spec twice changes nothing, so the
//! engine may call [`apply_kit`] on every reconcile.

use std::fmt::Debug;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Patch, PatchParams};
use kube::{Api, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::credentials::{Credentials, get_optional};
use super::objects::{self, secret_copy};
use super::settings::ClusterSettings;
use super::spec::EnvironmentSpec;
use super::{ClusterError, Result};

/// What [`apply_kit`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KitApplied {
    /// This apply created the Namespace (`201 Created`): it did not exist a moment ago,
    /// so it holds nothing but the kit — no earlier deploy Job or pod.
    pub namespace_created: bool,
}

/// Applies, in order: the Namespace; ResourceQuota and LimitRange (before anything can
/// start a pod); NetworkPolicies; the deployer's ServiceAccount, Role and RoleBinding;
/// the repository's secrets copied from its secret-store namespace; the registry and
/// Git credentials from [`ClusterSettings::credentials_namespace`] when they exist
/// there (as `credentials` last read them); and `extra_secrets` the engine supplies
/// itself (e.g. a short-lived Git token as [`ClusterSettings::git_secret`], which then
/// wins over the copied one).
///
/// Fails with [`ClusterError::NamespaceTerminating`] when the namespace is still being
/// deleted (a PR closed and reopened quickly): the engine waits and tries again.
pub async fn apply_kit(
    client: &kube::Client,
    spec: &EnvironmentSpec,
    settings: &ClusterSettings,
    credentials: &Credentials,
    extra_secrets: &[Secret],
) -> Result<KitApplied> {
    spec.validate()?;
    let ns = spec.namespace.as_str();
    let pp = PatchParams::apply(&settings.field_manager).force();

    let (applied, namespace_created) =
        apply_namespace(client, &objects::namespace(spec, settings), &pp).await?;
    if applied.metadata.deletion_timestamp.is_some() {
        return Err(ClusterError::NamespaceTerminating {
            namespace: ns.to_owned(),
        });
    }

    // The kit's objects do not depend on each other, and nothing runs in the namespace
    // before all of them exist, so they are applied together, while the secrets to copy
    // are read — except the RoleBinding: the API server checks a binding against the
    // Role it names (Catalyst may only grant what it holds), so the Role must exist
    // first. It goes out with the secret copies: three round trips in all.
    let (quota, limits, policy, deployer_policy, account, role, binding) = (
        objects::resource_quota(spec, settings),
        objects::limit_range(spec, settings),
        objects::network_policy(spec, settings),
        objects::deployer_network_policy(spec, settings),
        objects::service_account(spec, settings),
        objects::role(spec, settings),
        objects::role_binding(spec, settings),
    );
    let (.., copies) = tokio::try_join!(
        apply_in(client, ns, &quota, &pp),
        apply_in(client, ns, &limits, &pp),
        apply_in(client, ns, &policy, &pp),
        async {
            match &deployer_policy {
                Some(np) => apply_in(client, ns, np, &pp).await.map(Some),
                None => Ok(None),
            }
        },
        apply_in(client, ns, &account, &pp),
        apply_in(client, ns, &role, &pp),
        secrets_to_copy(client, spec, settings, credentials, extra_secrets),
    )?;
    let copies = copies.iter().map(|source| secret_copy(source, ns));
    let extra = extra_secrets.iter().map(|secret| {
        let mut secret = secret_copy(secret, ns);
        if let Some(a) = secret.metadata.annotations.as_mut() {
            a.remove(super::labels::COPIED_FROM_ANNOTATION);
        }
        secret
    });
    let secrets: Vec<Secret> = copies.chain(extra).collect();
    tokio::try_join!(
        apply_in(client, ns, &binding, &pp),
        futures::future::try_join_all(secrets.iter().map(|s| apply_in(client, ns, s, &pp))),
    )?;
    tracing::debug!(namespace = ns, namespace_created, "namespace kit applied");
    Ok(KitApplied { namespace_created })
}

/// Server-side applies the Namespace, and tells whether this request created it. The
/// status code is the API server's own answer to that (`201` created, `200` existed);
/// `Api::patch` keeps only the body, so the request is sent as it would send it.
async fn apply_namespace(
    client: &kube::Client,
    namespace: &Namespace,
    pp: &PatchParams,
) -> Result<(Namespace, bool)> {
    let name = namespace.metadata.name.clone().unwrap_or_default();
    let action = || format!("applying Namespace {name}");
    let request = kube::core::Request::new(Namespace::url_path(&(), None))
        .patch(&name, pp, &Patch::Apply(namespace))
        .map_err(|e| ClusterError::api(action(), kube::Error::BuildRequest(e)))?;
    let response = client
        .send(request.map(kube::client::Body::from))
        .await
        .map_err(|e| ClusterError::api(action(), e))?;
    let status = response.status();
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .map_err(|e| ClusterError::api(action(), e))?
        .to_bytes();
    if !status.is_success() {
        return Err(ClusterError::api(action(), api_error(status, &body)));
    }
    let applied = serde_json::from_slice(&body)
        .map_err(|e| ClusterError::api(action(), kube::Error::SerdeError(e)))?;
    Ok((applied, status == http::StatusCode::CREATED))
}

/// The error `kube` makes of a failed response: the API server's `Status`, or one made
/// from the status code and text when the body is not one (a proxy's page).
fn api_error(status: http::StatusCode, body: &[u8]) -> kube::Error {
    let parsed = serde_json::from_slice::<kube::core::Status>(body).unwrap_or_else(|_| {
        let text = String::from_utf8_lossy(body);
        kube::core::Status::failure(text.trim(), "Failed to parse error data")
            .with_code(status.as_u16())
    });
    kube::Error::Api(parsed.boxed())
}

/// The secrets to copy into the namespace, read side by side: the repository's (each
/// must exist in its secret-store namespace), then the registry and Git credentials
/// that exist in [`ClusterSettings::credentials_namespace`] (optional: public
/// repositories need no Git token, a dev registry no login). One named like an
/// `extra_secrets` entry is left out: the engine's own wins, and all are applied at once.
async fn secrets_to_copy(
    client: &kube::Client,
    spec: &EnvironmentSpec,
    settings: &ClusterSettings,
    credentials: &Credentials,
    extra_secrets: &[Secret],
) -> Result<Vec<Secret>> {
    let store: Api<Secret> = Api::namespaced(client.clone(), &spec.secrets.store_namespace);
    let required = spec.secrets.names.iter().map(|name| {
        let store = &store;
        async move {
            get_optional(store, name)
                .await?
                .ok_or_else(|| ClusterError::SecretMissing {
                    namespace: spec.secrets.store_namespace.clone(),
                    name: name.clone(),
                })
        }
    });
    let supplied = |name: &str| {
        extra_secrets
            .iter()
            .any(|s| s.metadata.name.as_deref() == Some(name))
    };
    let (mut copies, optional) = tokio::try_join!(
        futures::future::try_join_all(required),
        credentials.read(client, settings),
    )?;
    copies.extend(optional);
    copies.retain(|s| !supplied(s.metadata.name.as_deref().unwrap_or_default()));
    Ok(copies)
}

/// Server-side applies one namespaced object into `namespace`.
async fn apply_in<K>(client: &kube::Client, namespace: &str, obj: &K, pp: &PatchParams) -> Result<K>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + Debug
        + Serialize
        + DeserializeOwned,
{
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    apply(&api, obj, pp).await
}

/// Server-side applies `obj` through `api`.
pub(crate) async fn apply<K>(api: &Api<K>, obj: &K, pp: &PatchParams) -> Result<K>
where
    K: Resource<DynamicType = ()> + Clone + Debug + Serialize + DeserializeOwned,
{
    let name = obj.meta().name.clone().unwrap_or_default();
    api.patch(&name, pp, &Patch::Apply(obj))
        .await
        .map_err(|e| ClusterError::api(format!("applying {} {name}", K::kind(&())), e))
}
