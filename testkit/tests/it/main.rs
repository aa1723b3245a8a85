//! testkit's own end-to-end tests: the doubles driven through the real `kube`, `octocrab`
//! and `kubectl` clients over loopback HTTP. One binary, so it links once.

mod binary;
mod github_api;
mod github_webhooks;
mod kube_apply;
mod kube_crud;
mod kube_namespace;
mod kube_simulation;
mod kube_watch;
mod kubectl;

use std::time::Duration;

use catalyst_testkit::TestKit;

/// Starts a kit with the one rustls provider installed (two make kube panic).
pub async fn kit() -> TestKit {
    let _ = rustls::crypto::ring::default_provider().install_default();
    TestKit::start().await.expect("the doubles start")
}

/// Polls `f` every 10 ms until it returns `Some`, or panics after `secs` seconds.
pub async fn eventually<T, F, Fut>(secs: u64, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The `ErrorResponse` inside a kube API error.
pub fn api_error(e: kube::Error) -> kube::core::Status {
    match e {
        kube::Error::Api(r) => *r,
        other => panic!("expected an API error, got {other:?}"),
    }
}
