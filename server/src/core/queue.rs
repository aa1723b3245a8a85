//! Who may start deploying now, and where everyone else stands in line.
//!
//! Three limits guard the cluster: concurrent deployments overall, concurrent
//! deployments per repository, and active environments (namespaces) overall. Waiting
//! work is served first come, first served, with one exception that keeps the line
//! moving: an item held back only by its own repository's limit (or, for a new
//! environment, by the environment limit) does not hold back the items behind it, since
//! they do not compete for what it waits for. Only the global deployment limit stops
//! the line.
//!
//! The engine calls [`plan`] on every pass with fresh counts; nothing is remembered
//! between calls, so restarts and several replicas see the same line.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

/// One environment waiting for a deployment slot. An environment has at most one
/// waiting item (its latest SHA).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WaitingItem<Id> {
    pub environment: Id,
    /// The repository's key (`owner/name`, as stored).
    pub repository: String,
    pub enqueued_at: DateTime<Utc>,
    /// True if starting it would create a namespace (counts against
    /// `max_active_environments`); false for a redeploy of an existing environment.
    pub creates_environment: bool,
}

/// The configured capacity limits. Zero means none (deployments paused).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub global_concurrent_deployments: u32,
    pub per_repository_concurrent_deployments: u32,
    pub max_active_environments: u32,
}

/// What is already running, as counted by the engine.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InFlight {
    /// Attempts in provisioning, deploying or verifying.
    pub global: u32,
    /// The same, by repository key; a repository absent from the map has none.
    pub per_repository: HashMap<String, u32>,
    /// Environments that hold a namespace (not deleted).
    pub active_environments: u32,
}

/// Why an item still waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BlockedBy {
    GlobalLimit,
    RepositoryLimit,
    EnvironmentLimit,
}

/// An item that still waits, with its 1-based place in line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Waiting<Id> {
    pub environment: Id,
    pub position: u32,
    pub blocked_by: BlockedBy,
}

/// The decision of one pass: start these (in this order), the rest wait.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueuePlan<Id> {
    pub start: Vec<Id>,
    /// In line order; `position` runs 1, 2, 3, …
    pub waiting: Vec<Waiting<Id>>,
}

impl<Id> QueuePlan<Id> {
    /// The queue depth metric.
    pub fn depth(&self) -> usize {
        self.waiting.len()
    }
}

/// Decides which waiting items start now and the queue position of each of the rest.
/// Line order is `enqueued_at`, ties broken by the original order of `waiting`.
pub fn plan<Id: Clone>(
    waiting: &[WaitingItem<Id>],
    in_flight: &InFlight,
    limits: &Limits,
) -> QueuePlan<Id> {
    let mut line: Vec<&WaitingItem<Id>> = waiting.iter().collect();
    // A stable sort keeps the caller's order for equal timestamps.
    line.sort_by_key(|item| item.enqueued_at);

    let mut global_free = limits
        .global_concurrent_deployments
        .saturating_sub(in_flight.global);
    let mut environments_free = limits
        .max_active_environments
        .saturating_sub(in_flight.active_environments);
    let mut started_per_repository: HashMap<&str, u32> = HashMap::new();

    let mut start = Vec::new();
    let mut still_waiting = Vec::new();
    for item in line {
        let repository = item.repository.as_str();
        let running = in_flight
            .per_repository
            .get(repository)
            .copied()
            .unwrap_or(0)
            .saturating_add(started_per_repository.get(repository).copied().unwrap_or(0));
        let blocked_by = if global_free == 0 {
            Some(BlockedBy::GlobalLimit)
        } else if running >= limits.per_repository_concurrent_deployments {
            Some(BlockedBy::RepositoryLimit)
        } else if item.creates_environment && environments_free == 0 {
            Some(BlockedBy::EnvironmentLimit)
        } else {
            None
        };
        match blocked_by {
            Some(blocked_by) => still_waiting.push((item, blocked_by)),
            None => {
                global_free -= 1;
                if item.creates_environment {
                    environments_free -= 1;
                }
                *started_per_repository.entry(repository).or_default() += 1;
                start.push(item.environment.clone());
            }
        }
    }

    let waiting = still_waiting
        .into_iter()
        .zip(1u32..)
        .map(|((item, blocked_by), position)| Waiting {
            environment: item.environment.clone(),
            position,
            blocked_by,
        })
        .collect();
    QueuePlan { start, waiting }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn item(id: u32, repository: &str, second: u32) -> WaitingItem<u32> {
        WaitingItem {
            environment: id,
            repository: repository.to_owned(),
            enqueued_at: Utc.with_ymd_and_hms(2026, 11, 27, 14, 0, 0).unwrap()
                + chrono::TimeDelta::seconds(i64::from(second)),
            creates_environment: true,
        }
    }

    fn limits(global: u32, per_repository: u32, environments: u32) -> Limits {
        Limits {
            global_concurrent_deployments: global,
            per_repository_concurrent_deployments: per_repository,
            max_active_environments: environments,
        }
    }

    fn positions(plan: &QueuePlan<u32>) -> Vec<(u32, u32)> {
        plan.waiting
            .iter()
            .map(|w| (w.environment, w.position))
            .collect()
    }

    #[test]
    fn sixty_items_with_a_global_limit_of_ten() {
        let waiting: Vec<_> = (0..60)
            .map(|i| item(i, &format!("acme/repo-{}", i % 7), i))
            .collect();
        let plan = plan(&waiting, &InFlight::default(), &limits(10, 10, 100));
        assert_eq!(plan.start, (0..10).collect::<Vec<_>>());
        assert_eq!(plan.depth(), 50);
        let expected: Vec<(u32, u32)> = (10..60).zip(1..).collect();
        assert_eq!(positions(&plan), expected);
        assert!(
            plan.waiting
                .iter()
                .all(|w| w.blocked_by == BlockedBy::GlobalLimit)
        );
    }

    #[test]
    fn the_line_is_ordered_by_enqueue_time_not_input_order() {
        let waiting = vec![item(3, "a/x", 30), item(1, "a/x", 10), item(2, "a/x", 20)];
        let plan = plan(&waiting, &InFlight::default(), &limits(1, 5, 10));
        assert_eq!(plan.start, [1]);
        assert_eq!(positions(&plan), [(2, 1), (3, 2)]);
    }

    #[test]
    fn a_busy_repository_does_not_block_other_repositories() {
        let waiting = vec![
            item(1, "acme/big", 1),
            item(2, "acme/big", 2),
            item(3, "acme/big", 3),
            item(4, "acme/small", 4),
        ];
        let plan = plan(&waiting, &InFlight::default(), &limits(10, 2, 100));
        assert_eq!(plan.start, [1, 2, 4]);
        assert_eq!(
            plan.waiting,
            [Waiting {
                environment: 3,
                position: 1,
                blocked_by: BlockedBy::RepositoryLimit
            }]
        );
    }

    #[test]
    fn running_deployments_count_against_the_limits() {
        let in_flight = InFlight {
            global: 4,
            per_repository: HashMap::from([("acme/big".to_owned(), 2)]),
            active_environments: 10,
        };
        let waiting = vec![
            item(1, "acme/big", 1),
            item(2, "acme/small", 2),
            item(3, "acme/small", 3),
        ];
        let plan = plan(&waiting, &in_flight, &limits(5, 2, 100));
        assert_eq!(plan.start, [2]);
        assert_eq!(positions(&plan), [(1, 1), (3, 2)]);
        assert_eq!(plan.waiting[0].blocked_by, BlockedBy::RepositoryLimit);
        assert_eq!(plan.waiting[1].blocked_by, BlockedBy::GlobalLimit);
    }

    #[test]
    fn redeploys_pass_new_environments_held_by_the_environment_limit() {
        let mut redeploy = item(2, "acme/b", 2);
        redeploy.creates_environment = false;
        let waiting = vec![item(1, "acme/a", 1), redeploy, item(3, "acme/c", 3)];
        let in_flight = InFlight {
            active_environments: 9,
            ..InFlight::default()
        };
        let plan = plan(&waiting, &in_flight, &limits(10, 10, 10));
        // One namespace left: the oldest new environment takes it; the redeploy
        // needs none.
        assert_eq!(plan.start, [1, 2]);
        assert_eq!(plan.waiting[0].environment, 3);
        assert_eq!(plan.waiting[0].blocked_by, BlockedBy::EnvironmentLimit);
    }

    #[test]
    fn an_item_passed_over_keeps_its_place_at_the_head_of_the_line() {
        let busy = InFlight {
            global: 1,
            per_repository: HashMap::from([("acme/big".to_owned(), 1)]),
            active_environments: 0,
        };
        let first = plan(
            &[item(1, "acme/big", 1), item(2, "acme/small", 2)],
            &busy,
            &limits(2, 1, 10),
        );
        assert_eq!(first.start, [2]);
        assert_eq!(positions(&first), [(1, 1)]);
        // acme/big's deployment finished; acme/small's runs. The older item 1 now
        // goes ahead of the younger item 3, although both could start.
        let next = InFlight {
            global: 1,
            per_repository: HashMap::from([("acme/small".to_owned(), 1)]),
            active_environments: 1,
        };
        let second = plan(
            &[item(3, "acme/other", 3), item(1, "acme/big", 1)],
            &next,
            &limits(2, 1, 10),
        );
        assert_eq!(second.start, [1]);
        assert_eq!(positions(&second), [(3, 1)]);
    }

    #[test]
    fn zero_limits_pause_everything_and_empty_input_is_fine() {
        let waiting = vec![item(1, "a/x", 1), item(2, "b/y", 2)];
        let plan = plan(&waiting, &InFlight::default(), &limits(0, 5, 5));
        assert!(plan.start.is_empty());
        assert_eq!(positions(&plan), [(1, 1), (2, 2)]);
        let empty = super::plan::<u32>(&[], &InFlight::default(), &limits(5, 5, 5));
        assert_eq!(empty.depth(), 0);
        // Counts above the limits (limits lowered at runtime) do not underflow.
        let over = InFlight {
            global: 50,
            active_environments: 50,
            ..InFlight::default()
        };
        assert!(
            super::plan(&waiting, &over, &limits(5, 5, 5))
                .start
                .is_empty()
        );
    }
}
