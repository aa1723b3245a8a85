//! Keys for running several replicas on one PostgreSQL database: the replica's identity,
//! how long work leases and the leader Lease last, where the leader Lease lives, and how
//! often a replica looks for changes another replica recorded.

use super::{ConfigError, Raw, positive};

/// Several replicas on one database (issue 9).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HaConfig {
    /// This replica's identity in leases (`CATALYST_REPLICA_ID`); default: the host
    /// name (the pod name) with a random suffix, unique per process.
    pub replica_id: Option<String>,
    /// Work leases and the leader Lease last this long without renewal: a dead replica's
    /// environments and singleton loops move to another replica within it.
    pub lease_duration_secs: u64,
    /// The `coordination.k8s.io/v1` Lease the singleton loops are elected with.
    pub leader_lease_name: String,
    /// Its namespace; default: the namespace of the kube configuration (in a pod, the
    /// pod's own namespace).
    pub leader_lease_namespace: Option<String>,
    /// How often the engine looks for environments changed by another replica (a
    /// webhook it received) and for freed deployment slots.
    pub peer_poll_interval_ms: u64,
}

impl Default for HaConfig {
    fn default() -> Self {
        Self {
            replica_id: None,
            lease_duration_secs: 15,
            leader_lease_name: "catalyst-leader".to_owned(),
            leader_lease_namespace: None,
            peer_poll_interval_ms: 3000,
        }
    }
}

fn name(v: &str) -> Result<String, String> {
    let v = v.trim();
    let ok = !v.is_empty()
        && v.len() <= 253
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
    if ok {
        Ok(v.to_owned())
    } else {
        Err(format!(
            "{v:?} is not a name (letters, digits, '-', '.', '_')"
        ))
    }
}

impl HaConfig {
    pub(super) fn from_raw(raw: &Raw) -> Result<Self, ConfigError> {
        let d = Self::default();
        let lease_duration_secs = raw
            .parse("lease_duration_secs", |v| {
                positive(v).and_then(|n| {
                    if n >= 2 {
                        Ok(n)
                    } else {
                        Err(format!("{v:?} is too short (at least 2 seconds)"))
                    }
                })
            })?
            .unwrap_or(d.lease_duration_secs);
        Ok(Self {
            replica_id: raw.parse("replica_id", name)?,
            lease_duration_secs,
            leader_lease_name: raw
                .parse("leader_lease_name", |v| {
                    name(v).map(|n| n.to_ascii_lowercase())
                })?
                .unwrap_or(d.leader_lease_name),
            leader_lease_namespace: raw.parse("leader_lease_namespace", super::dns_label)?,
            peer_poll_interval_ms: raw
                .parse("peer_poll_interval_ms", positive)?
                .unwrap_or(d.peer_poll_interval_ms),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::Config;

    #[test]
    fn replicas_take_defaults_and_checked_overrides() {
        let c = Config::from_sources(None, []).unwrap();
        assert_eq!(c.ha.lease_duration_secs, 15);
        assert_eq!(c.ha.leader_lease_name, "catalyst-leader");
        assert_eq!(c.ha.replica_id, None);
        let c = Config::from_sources(
            None,
            [
                ("CATALYST_REPLICA_ID".to_owned(), "catalyst-0".to_owned()),
                ("CATALYST_LEASE_DURATION_SECS".to_owned(), "4".to_owned()),
                (
                    "CATALYST_LEADER_LEASE_NAMESPACE".to_owned(),
                    "catalyst".to_owned(),
                ),
                (
                    "CATALYST_PEER_POLL_INTERVAL_MS".to_owned(),
                    "250".to_owned(),
                ),
            ],
        )
        .unwrap();
        assert_eq!(c.ha.replica_id.as_deref(), Some("catalyst-0"));
        assert_eq!(c.ha.lease_duration_secs, 4);
        assert_eq!(c.ha.leader_lease_namespace.as_deref(), Some("catalyst"));
        assert_eq!(c.ha.peer_poll_interval_ms, 250);
        let e = Config::from_sources(
            None,
            [("CATALYST_LEASE_DURATION_SECS".to_owned(), "1".to_owned())],
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("CATALYST_LEASE_DURATION_SECS"),
            "{e}"
        );
    }
}
