//! Leadership: the work that must run on one replica only — the orphan-namespace sweep,
//! the GitHub sweep and the publisher of sticky comments and deployment statuses (two
//! publishers could both create a PR's comment) — runs on the holder of a Kubernetes
//! `coordination.k8s.io/v1` Lease. The election itself is `kube-lease-manager`'s: it
//! takes the Lease with server-side apply (a second claimant gets a 409 conflict),
//! renews it before it expires and takes over a Lease whose holder stopped renewing.
//!
//! Around it this module adds the safety rule the crate leaves to its user: a replica
//! that cannot reach the API server stops counting itself as the leader at once (its
//! Lease may expire and be taken meanwhile), and asks again with a fresh manager when
//! the API answers again. Requests of the election use a client without kube's
//! automatic retries and with a read timeout shorter than the Lease, so an API outage
//! is noticed within the Lease's duration instead of minutes later.
//!
//! Without a cluster there is nothing to elect with: the process is the only replica
//! and leads ([`Leadership::always`]).

use std::time::Duration;

use kube_lease_manager::{LeaseCreateMode, LeaseManager, LeaseManagerBuilder};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Where the Lease lives and how long it lasts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaderSettings {
    pub lease_name: String,
    pub namespace: String,
    /// This replica's identity (the Lease's `holderIdentity` while it leads).
    pub identity: String,
    /// The Lease's duration: a dead leader is replaced after at most this long.
    pub duration: Duration,
}

/// Whether this replica leads now; cheap to clone and to ask.
#[derive(Clone, Debug)]
pub struct Leadership {
    rx: watch::Receiver<bool>,
}

impl Leadership {
    /// A single process that always leads (no cluster, or a test).
    pub fn always() -> Self {
        // One sender for the process, kept alive so waiters never see a closed channel.
        static ALWAYS: std::sync::OnceLock<watch::Sender<bool>> = std::sync::OnceLock::new();
        Self {
            rx: ALWAYS.get_or_init(|| watch::channel(true).0).subscribe(),
        }
    }

    /// Follows a value set by someone else (tests switch leadership by hand).
    pub fn from_receiver(rx: watch::Receiver<bool>) -> Self {
        Self { rx }
    }

    pub fn is_leader(&self) -> bool {
        *self.rx.borrow()
    }

    /// Waits until this replica leads (at once when it does).
    pub async fn until_leader(&mut self) {
        if self.rx.wait_for(|l| *l).await.is_err() {
            // The election stopped: nobody will make this replica lead any more.
            std::future::pending::<()>().await;
        }
    }

    /// Waits until this replica stops leading.
    pub async fn until_follower(&mut self) {
        if self.rx.wait_for(|l| !*l).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// Starts the election on `client`; the task runs until every [`Leadership`] made
    /// from it is dropped, then releases the Lease.
    pub fn elect(client: kube::Client, settings: LeaderSettings) -> (Self, JoinHandle<()>) {
        let (tx, rx) = watch::channel(false);
        let task = tokio::spawn(campaign(client, settings, tx));
        (Self { rx }, task)
    }
}

/// Builds the election's client from a kube configuration: no automatic retries and
/// reads bounded by a third of the Lease, so a hanging API server costs the leadership
/// instead of silently outliving the Lease.
pub fn election_client(
    mut config: kube::Config,
    duration: Duration,
) -> Result<kube::Client, kube::Error> {
    config.default_retry = false;
    config.read_timeout = Some((duration / 3).max(Duration::from_millis(500)));
    config.write_timeout = Some((duration / 3).max(Duration::from_millis(500)));
    config.connect_timeout = Some(Duration::from_secs(2).min(duration / 3));
    kube::Client::try_from(config)
}

fn seconds(d: Duration) -> u64 {
    d.as_secs().max(2)
}

async fn manager(client: &kube::Client, s: &LeaderSettings) -> Option<LeaseManager> {
    let duration = seconds(s.duration);
    // Renew a third of the way before expiry (at least a second).
    let grace = (duration / 3).clamp(1, duration - 1);
    let built = LeaseManagerBuilder::new(client.clone(), &s.lease_name)
        .with_namespace(&s.namespace)
        .with_identity(&s.identity)
        .with_duration(duration)
        .with_grace(grace)
        .with_create_mode(LeaseCreateMode::AutoCreate)
        .build()
        .await;
    match built {
        Ok(m) => Some(m),
        Err(e) => {
            tracing::warn!(error = %e, lease = %s.lease_name, "cannot reach the leader Lease; not leading");
            None
        }
    }
}

fn announce(tx: &watch::Sender<bool>, s: &LeaderSettings, leading: bool) {
    let was = tx.send_replace(leading);
    if was != leading {
        if leading {
            tracing::info!(identity = %s.identity, lease = %s.lease_name, "became the leader");
        } else {
            tracing::info!(identity = %s.identity, lease = %s.lease_name, "no longer the leader");
        }
    }
}

async fn campaign(client: kube::Client, s: LeaderSettings, tx: watch::Sender<bool>) {
    let retry = (s.duration / 3).max(Duration::from_millis(500));
    loop {
        let Some(m) = manager(&client, &s).await else {
            announce(&tx, &s, false);
            tokio::select! {
                () = tx.closed() => return,
                () = tokio::time::sleep(retry) => continue,
            }
        };
        loop {
            tokio::select! {
                () = tx.closed() => {
                    if let Err(e) = m.release().await {
                        tracing::debug!(error = %e, "cannot release the leader Lease");
                    }
                    return;
                }
                changed = m.changed() => match changed {
                    Ok(leading) => announce(&tx, &s, leading),
                    Err(e) => {
                        // Unsure whether the Lease is still ours: step down now and
                        // ask again with a fresh manager (same identity, so a Lease we
                        // still hold is simply renewed).
                        tracing::warn!(error = %e, "leader election interrupted");
                        announce(&tx, &s, false);
                        break;
                    }
                },
            }
        }
        tokio::select! {
            () = tx.closed() => return,
            () = tokio::time::sleep(retry) => {}
        }
    }
}

/// The leadership of `catalyst serve`: an election on the cluster's Lease when a cluster
/// is configured, else [`Leadership::always`]. The returned task runs the election.
pub async fn for_process(
    ha: &crate::config::HaConfig,
    cluster: Option<&kube::Client>,
    identity: &str,
) -> (Leadership, Option<JoinHandle<()>>) {
    let Some(cluster) = cluster else {
        return (Leadership::always(), None);
    };
    let duration = Duration::from_secs(ha.lease_duration_secs);
    let client = match kube::Config::infer().await {
        Ok(config) => election_client(config, duration),
        Err(e) => {
            tracing::warn!(error = %e, "no kube configuration for the election; leading alone");
            return (Leadership::always(), None);
        }
    };
    let client = match client {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "cannot build the election client; leading alone");
            return (Leadership::always(), None);
        }
    };
    let namespace = ha
        .leader_lease_namespace
        .clone()
        .unwrap_or_else(|| cluster.default_namespace().to_owned());
    let (leadership, task) = Leadership::elect(
        client,
        LeaderSettings {
            lease_name: ha.leader_lease_name.clone(),
            namespace,
            identity: identity.to_owned(),
            duration,
        },
    );
    (leadership, Some(task))
}
