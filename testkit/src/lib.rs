//! Loopback doubles of the Kubernetes API and the GitHub API for Catalyst's tests.

pub mod faults;
pub mod http_util;
pub mod kube;
pub mod recorder;
