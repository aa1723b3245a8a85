//! What the simulated world does: per-Job and per-workload behaviours chosen by
//! namespace/name patterns, node capacity, and namespace deletion timing.

use std::time::Duration;

use serde_json::Value;

/// A namespace/name pattern; `*` matches any run of characters. `None` matches all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Match {
    pub namespace: Option<String>,
    pub name: Option<String>,
}

impl Match {
    /// Matches everything.
    pub fn any() -> Self {
        Self::default()
    }

    /// Matches objects whose name matches `pattern` (e.g. `"helm-*"`).
    pub fn name(pattern: impl Into<String>) -> Self {
        Self {
            namespace: None,
            name: Some(pattern.into()),
        }
    }

    /// Matches objects in namespaces matching `pattern` (e.g. `"pr-*"`).
    pub fn namespace(pattern: impl Into<String>) -> Self {
        Self {
            namespace: Some(pattern.into()),
            name: None,
        }
    }

    /// Narrows to namespaces matching `pattern`.
    pub fn in_namespace(mut self, pattern: impl Into<String>) -> Self {
        self.namespace = Some(pattern.into());
        self
    }

    /// Whether `ns`/`name` match.
    pub fn matches(&self, ns: &str, name: &str) -> bool {
        self.namespace.as_deref().is_none_or(|p| glob(p, ns))
            && self.name.as_deref().is_none_or(|p| glob(p, name))
    }
}

impl From<&str> for Match {
    /// `"ns/name"` or `"name"`, each part a pattern.
    fn from(s: &str) -> Self {
        match s.split_once('/') {
            Some((ns, name)) => Self::name(name).in_namespace(ns),
            None => Self::name(s),
        }
    }
}

/// `*` globbing (no other metacharacters).
pub fn glob(pattern: &str, s: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == s;
    }
    let mut rest = s;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            let Some(r) = rest.strip_prefix(part) else {
                return false;
            };
            rest = r;
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            let Some(pos) = rest.find(part) else {
                return false;
            };
            rest = &rest[pos + part.len()..];
        }
    }
    true
}

/// What a Job's pod does.
#[derive(Debug, Clone, PartialEq)]
pub struct JobBehaviour {
    /// Time the pod spends Pending (`ContainerCreating`) before it runs.
    pub pending_for: Duration,
    /// Time the container runs before it exits.
    pub run_for: Duration,
    /// 0 succeeds; anything else fails the attempt.
    pub exit_code: i32,
    /// Log lines, written evenly over `run_for`.
    pub logs: Vec<String>,
    /// Objects created in the Job's namespace once the pod runs (what a Helm step installs).
    pub creates: Vec<Value>,
    /// Run until deleted.
    pub forever: bool,
}

impl JobBehaviour {
    /// Succeeds quickly with no logs.
    pub fn succeed() -> Self {
        Self {
            pending_for: Duration::from_millis(10),
            run_for: Duration::from_millis(30),
            exit_code: 0,
            logs: Vec::new(),
            creates: Vec::new(),
            forever: false,
        }
    }

    /// Fails every attempt with `exit_code`.
    pub fn fail(exit_code: i32) -> Self {
        Self {
            exit_code,
            ..Self::succeed()
        }
    }

    /// Runs and never finishes.
    pub fn forever() -> Self {
        Self {
            forever: true,
            ..Self::succeed()
        }
    }

    /// The container runs for `d` before exiting.
    pub fn after(mut self, d: Duration) -> Self {
        self.run_for = d;
        self
    }

    /// The pod stays Pending for `d` first.
    pub fn pending(mut self, d: Duration) -> Self {
        self.pending_for = d;
        self
    }

    /// The container prints these lines.
    pub fn logs<I: IntoIterator<Item = S>, S: Into<String>>(mut self, lines: I) -> Self {
        self.logs = lines.into_iter().map(Into::into).collect();
        self
    }

    /// The step creates these objects (Deployments, Services, Ingresses…) in its namespace.
    pub fn creates(mut self, objects: Vec<Value>) -> Self {
        self.creates = objects;
        self
    }
}

impl Default for JobBehaviour {
    fn default() -> Self {
        Self::succeed()
    }
}

/// What the pods of a Deployment, StatefulSet or bare Pod do.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkloadBehaviour {
    /// Time before containers start.
    pub pending_for: Duration,
    /// Time from start to Ready.
    pub ready_after: Duration,
    /// Lines the container prints when it starts.
    pub logs: Vec<String>,
    /// Crash-loop: exit with this code shortly after each start.
    pub crash_exit_code: Option<i32>,
}

impl WorkloadBehaviour {
    /// Pods become Ready quickly.
    pub fn ready() -> Self {
        Self {
            pending_for: Duration::from_millis(10),
            ready_after: Duration::from_millis(20),
            logs: Vec::new(),
            crash_exit_code: None,
        }
    }

    /// Containers start, print `logs`, exit with `exit_code`, and restart with back-off.
    pub fn crash_loop<I: IntoIterator<Item = S>, S: Into<String>>(exit_code: i32, logs: I) -> Self {
        Self {
            crash_exit_code: Some(exit_code),
            logs: logs.into_iter().map(Into::into).collect(),
            ..Self::ready()
        }
    }

    /// Pods take `d` to become Ready after starting.
    pub fn ready_after(mut self, d: Duration) -> Self {
        self.ready_after = d;
        self
    }

    /// Containers print these lines when they start.
    pub fn logs<I: IntoIterator<Item = S>, S: Into<String>>(mut self, lines: I) -> Self {
        self.logs = lines.into_iter().map(Into::into).collect();
        self
    }
}

impl Default for WorkloadBehaviour {
    fn default() -> Self {
        Self::ready()
    }
}

/// The simulated node's allocatable resources (thousandths, like quantities).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeCapacity {
    pub cpu_milli: i128,
    pub memory_milli: i128,
    pub pods: usize,
}

impl Default for NodeCapacity {
    fn default() -> Self {
        Self {
            cpu_milli: 4_000,
            memory_milli: 16 * (1 << 30) * 1000,
            pods: 110,
        }
    }
}

/// Everything tests script about the simulated cluster.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub jobs: Vec<(Match, JobBehaviour)>,
    pub workloads: Vec<(Match, WorkloadBehaviour)>,
    pub capacity: NodeCapacity,
    /// How long a terminating namespace lingers after its contents are gone.
    pub namespace_deletion_delay: Duration,
    /// Namespaces whose deletion never finishes (a hanging finalizer).
    pub stuck_namespaces: Vec<Match>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            jobs: Vec::new(),
            workloads: Vec::new(),
            capacity: NodeCapacity::default(),
            namespace_deletion_delay: Duration::from_millis(100),
            stuck_namespaces: Vec::new(),
        }
    }
}

impl SimConfig {
    /// The behaviour of a Job (the last matching rule wins).
    pub fn job(&self, ns: &str, name: &str) -> JobBehaviour {
        self.jobs
            .iter()
            .rev()
            .find(|(m, _)| m.matches(ns, name))
            .map(|(_, b)| b.clone())
            .unwrap_or_default()
    }

    /// The behaviour of a workload's pods (the last matching rule wins).
    pub fn workload(&self, ns: &str, name: &str) -> WorkloadBehaviour {
        self.workloads
            .iter()
            .rev()
            .find(|(m, _)| m.matches(ns, name))
            .map(|(_, b)| b.clone())
            .unwrap_or_default()
    }

    /// Whether a namespace's deletion hangs.
    pub fn is_stuck(&self, ns: &str) -> bool {
        self.stuck_namespaces.iter().any(|m| {
            m.namespace
                .as_deref()
                .or(m.name.as_deref())
                .is_none_or(|p| glob(p, ns))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob("pr-*", "pr-12"));
        assert!(glob("*-helm-*", "pr-1-helm-abc"));
        assert!(!glob("pr-*", "xpr-1"));
        assert!(glob("exact", "exact"));
        let m = Match::name("helm-*").in_namespace("pr-*");
        assert!(m.matches("pr-1", "helm-x"));
        assert!(!m.matches("other", "helm-x"));
    }
}
