//! ServiceAccount tokens: the TokenRequest subresource
//! (`POST /api/v1/namespaces/{ns}/serviceaccounts/{name}/token`) and the bearer-token
//! authenticator that turns such a token back into the account's identity.
//!
//! Tokens are JWTs with the claims a real API server puts in bound tokens (`iss`,
//! `sub`, `aud`, `exp`, and `kubernetes.io` naming the account and its uid), signed
//! with a key only this double knows. Like bound tokens, one stops working when it
//! expires or when its ServiceAccount is deleted (the uid no longer matches).
//!
//! Requests without an `Authorization` header are the cluster administrator (the
//! testkit's kubeconfig carries no credentials), so Catalyst and existing tests keep
//! full access; a bearer token this double did not issue is `401 Unauthorized`.

use axum::http::{HeaderMap, header};
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::errors::{ApiError, ApiResult};
use super::rbac::{UserInfo, service_account_username};
use super::resources::find;
use super::store::Inner;

/// The issuer and default audience of the double's tokens (a real cluster's default).
pub const ISSUER: &str = "https://kubernetes.default.svc.cluster.local";
const DEFAULT_EXPIRATION_SECS: i64 = 3600;
/// The API server refuses shorter tokens.
const MIN_EXPIRATION_SECS: i64 = 600;

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    aud: Vec<String>,
    exp: i64,
    iat: i64,
    nbf: i64,
    jti: String,
    #[serde(rename = "kubernetes.io")]
    kubernetes: KubernetesClaims,
}

#[derive(Debug, Serialize, Deserialize)]
struct KubernetesClaims {
    namespace: String,
    serviceaccount: AccountRef,
}

#[derive(Debug, Serialize, Deserialize)]
struct AccountRef {
    name: String,
    uid: String,
}

/// The signing key of one double.
pub struct Tokens {
    key: Vec<u8>,
}

impl Default for Tokens {
    fn default() -> Self {
        Self {
            key: rand::random::<[u8; 32]>().to_vec(),
        }
    }
}

fn unauthorized() -> ApiError {
    ApiError {
        code: 401,
        reason: "Unauthorized".to_owned(),
        message: "Unauthorized".to_owned(),
        details: json!({}),
    }
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

impl Tokens {
    /// Answers a TokenRequest for `namespace/name` (the account must exist): `201` with
    /// the `TokenRequest` whose `status.token` authenticates as the account.
    pub fn request(
        &self,
        inner: &Inner,
        namespace: &str,
        name: &str,
        body: &[u8],
    ) -> ApiResult<Value> {
        let sa_rt = find("", "v1", "serviceaccounts").expect("serviceaccounts are served");
        let sa = inner
            .get(sa_rt, namespace, name)
            .ok_or_else(|| ApiError::not_found("", "serviceaccounts", name))?;
        let uid = sa["metadata"]["uid"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let req: Value = if body.is_empty() {
            json!({})
        } else {
            serde_json::from_slice(body).map_err(|e| {
                ApiError::bad_request(format!("the body of the request could not be decoded: {e}"))
            })?
        };
        let spec = &req["spec"];
        let seconds = spec["expirationSeconds"]
            .as_i64()
            .unwrap_or(DEFAULT_EXPIRATION_SECS);
        if seconds < MIN_EXPIRATION_SECS {
            return Err(ApiError::invalid(
                "authentication.k8s.io",
                "TokenRequest",
                name,
                vec![super::errors::Cause {
                    reason: "FieldValueInvalid".to_owned(),
                    message: "may not specify a duration less than 10 minutes".to_owned(),
                    field: "spec.expirationSeconds".to_owned(),
                }],
            ));
        }
        let audiences: Vec<String> = spec["audiences"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect::<Vec<_>>()
            })
            .filter(|a| !a.is_empty())
            .unwrap_or_else(|| vec![ISSUER.to_owned()]);
        let now = Utc::now();
        let expires = now + Duration::seconds(seconds);
        let claims = Claims {
            iss: ISSUER.to_owned(),
            sub: service_account_username(namespace, name),
            aud: audiences.clone(),
            exp: expires.timestamp(),
            iat: now.timestamp(),
            nbf: now.timestamp(),
            jti: uuid::Uuid::new_v4().to_string(),
            kubernetes: KubernetesClaims {
                namespace: namespace.to_owned(),
                serviceaccount: AccountRef {
                    name: name.to_owned(),
                    uid,
                },
            },
        };
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(&self.key),
        )
        .map_err(|e| ApiError::internal(500, format!("signing the token: {e}")))?;
        Ok(json!({
            "kind": "TokenRequest",
            "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"name": name, "namespace": namespace,
                "creationTimestamp": rfc3339(now)},
            "spec": {"audiences": audiences, "expirationSeconds": seconds,
                "boundObjectRef": spec.get("boundObjectRef").cloned().unwrap_or(Value::Null)},
            "status": {"token": token, "expirationTimestamp": rfc3339(expires)}
        }))
    }

    /// Who sent the request: the administrator without credentials, the account of a
    /// valid token, `401` for anything else.
    pub fn authenticate(&self, inner: &Inner, headers: &HeaderMap) -> ApiResult<UserInfo> {
        let Some(value) = headers.get(header::AUTHORIZATION) else {
            return Ok(UserInfo::admin());
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(unauthorized)?;
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        // Any audience: the double is every audience's API server.
        validation.validate_aud = false;
        let claims = jsonwebtoken::decode::<Claims>(
            token,
            &DecodingKey::from_secret(&self.key),
            &validation,
        )
        .map_err(|_| unauthorized())?
        .claims;
        let k = &claims.kubernetes;
        let sa_rt = find("", "v1", "serviceaccounts").expect("serviceaccounts are served");
        let alive = inner
            .get(sa_rt, &k.namespace, &k.serviceaccount.name)
            .is_some_and(|sa| sa["metadata"]["uid"].as_str() == Some(&k.serviceaccount.uid));
        if !alive {
            return Err(unauthorized());
        }
        Ok(UserInfo::service_account(
            &k.namespace,
            &k.serviceaccount.name,
        ))
    }
}
