//! Loopback doubles of the Kubernetes API and the GitHub API, for Catalyst's tests, demos and
//! benchmarks. Start both with [`TestKit::start`]; point `kube` at [`TestKit::kube_client`]
//! and `octocrab` at [`TestKit::github_url`]; script the world with [`TestKit::cluster`] and
//! [`TestKit::github`].

#![recursion_limit = "256"]

pub mod faults;
pub mod github;
pub mod http_util;
pub mod kube;
pub mod kubeconfig;
pub mod recorder;
pub mod scenario;
mod testkit;

pub use faults::{Faults, Outage};
pub use github::{Delivery, GitHub, PrAction, PrSpec, WebhookSender};
pub use kube::{Cluster, JobBehaviour, Match, WorkloadBehaviour};
pub use recorder::RecordedRequest;
pub use testkit::{Error, TestKit, TestKitOptions};
