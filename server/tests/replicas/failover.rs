//! Two `catalyst` replicas on one PostgreSQL database and one testkit: pull requests
//! arrive at both, the leader is killed with SIGKILL while deployments are running, and
//! every environment still converges exactly once.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use catalyst_server::store::entities::{deployment, preview_environment};
use catalyst_server::store::{deployments, leases};
use sea_orm::EntityTrait;

use crate::support::{
    FreshDb, LEASE_NAMESPACE, REPO, Replica, configure, deliver, open_pr, replica_env, sha,
    start_kit, wait_until,
};

const PRS: u64 = 20;

fn leader_of(kit: &catalyst_testkit::TestKit) -> Option<String> {
    kit.cluster()
        .get(
            "coordination.k8s.io/v1",
            "Lease",
            LEASE_NAMESPACE,
            "catalyst-leader",
        )
        .and_then(|l| l["spec"]["holderIdentity"].as_str().map(str::to_owned))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_replica_loses_nothing_and_nothing_happens_twice() {
    let started = tokio::time::Instant::now();
    // Deployments take a while, so the kill lands in the middle of them.
    let kit = start_kit(Duration::from_millis(2500)).await;
    let fresh = FreshDb::create().await;
    let env = replica_env(&kit, &fresh.url(), &[]);

    // A starts first (and migrates), so it takes the leader Lease; then B.
    let mut a = Replica::start("replica-a", &env).await;
    let db = fresh.connect().await;
    configure(&db).await;
    wait_until("replica-a leads", Duration::from_secs(15), || async {
        leader_of(&kit).as_deref() == Some("replica-a")
    })
    .await;
    let b = Replica::start("replica-b", &env).await;

    // Pull requests arrive at both replicas, alternately.
    for n in 1..=PRS {
        let d = open_pr(&kit, n);
        let to = if n % 2 == 0 { &a } else { &b };
        assert_eq!(deliver(to, &d).await, 200, "webhook of PR {n} to {}", to.id);
    }

    // Kill A while it holds environments whose deployment is running.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let held_by_a = loop {
        let held = leases::held_by(&db, "replica-a").await.unwrap();
        let running: HashSet<String> = deployment::Entity::find()
            .all(&db)
            .await
            .unwrap()
            .into_iter()
            .filter(|d| deployments::IN_FLIGHT.contains(&d.phase.as_str()))
            .map(|d| leases::environment(&d.environment_id))
            .collect();
        let mid: Vec<String> = held.into_iter().filter(|l| running.contains(l)).collect();
        // Several at once if it comes to that, else whatever A has mid-deployment.
        let waited_enough = deadline - tokio::time::Instant::now() < Duration::from_secs(15);
        if mid.len() >= 3 || (!mid.is_empty() && waited_enough) {
            break mid;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "replica-a never held an environment mid-deployment:\n{}",
            a.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        b.log_lines("became the leader").is_empty(),
        "B must not lead while A is alive"
    );
    a.kill().await;
    let killed_at = tokio::time::Instant::now();

    // B takes over: the leader Lease and every environment.
    wait_until("replica-b leads", Duration::from_secs(15), || async {
        leader_of(&kit).as_deref() == Some("replica-b")
    })
    .await;
    wait_until(
        "every environment ready",
        Duration::from_secs(40),
        || async {
            let envs = preview_environment::Entity::find().all(&db).await.unwrap();
            envs.len() == PRS as usize && envs.iter().all(|e| e.status == "ready")
        },
    )
    .await;
    let converged_after = killed_at.elapsed();

    // Exactly once: one attempt per environment, succeeded; one Job per (SHA, attempt).
    let envs = preview_environment::Entity::find().all(&db).await.unwrap();
    let attempts = deployment::Entity::find().all(&db).await.unwrap();
    for e in &envs {
        let mine: Vec<_> = attempts
            .iter()
            .filter(|d| d.environment_id == e.id)
            .collect();
        assert_eq!(mine.len(), 1, "{}: {mine:#?}", e.namespace);
        assert_eq!(mine[0].phase, "succeeded", "{}", e.namespace);
        let jobs = kit.cluster().list("batch/v1", "Job", Some(&e.namespace));
        let deploys: Vec<&serde_json::Value> = jobs
            .iter()
            .filter(|j| {
                j["metadata"]["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with("catalyst-deploy-"))
            })
            .collect();
        assert_eq!(deploys.len(), 1, "{}: {deploys:#?}", e.namespace);
        assert_eq!(deploys[0]["status"]["succeeded"], 1, "{}", e.namespace);
    }

    // One sticky comment per PR, and one GitHub deployment per head SHA.
    let bot = kit.github().bot_login();
    let deployments = kit.github().deployments(REPO);
    wait_until(
        "every PR's comment says ready",
        Duration::from_secs(20),
        || async {
            (1..=PRS).all(|n| {
                kit.github()
                    .comments(REPO, n)
                    .iter()
                    .any(|c| c.author == bot && c.body.contains(&format!("pr-web-{n}")))
            })
        },
    )
    .await;
    for n in 1..=PRS {
        let mine: Vec<_> = kit
            .github()
            .comments(REPO, n)
            .into_iter()
            .filter(|c| c.author == bot)
            .collect();
        assert_eq!(mine.len(), 1, "PR {n} has {} comments", mine.len());
    }
    let mut per_sha: HashMap<String, usize> = HashMap::new();
    for d in &deployments {
        *per_sha.entry(d.sha.clone()).or_default() += 1;
    }
    for n in 1..=PRS {
        assert!(
            per_sha.get(&sha(n)).copied().unwrap_or(0) <= 1,
            "{per_sha:?}"
        );
    }

    // Nothing is left claimed by the dead replica. Its claims run out on their own: an
    // environment it finished just before the kill may still be inside its lease, and
    // the admission lease (10 s) outlives the environment leases (3 s here) when the kill
    // lands inside a slot decision. So wait for them to lapse rather than assert at once.
    wait_until(
        "every claim of the dead replica lapses",
        Duration::from_secs(15),
        || async { leases::held_by(&db, "replica-a").await.unwrap().is_empty() },
    )
    .await;
    // And after the next resync no environment's lease row names it: each was taken
    // over by B and released once settled. (The admission row keeps the name of its last
    // holder until the next slot decision, which need not come.)
    wait_until(
        "no environment lease names the dead replica",
        Duration::from_secs(15),
        || async {
            leases::all(&db)
                .await
                .unwrap()
                .iter()
                .filter(|l| l.name.starts_with(&leases::environment("")))
                .all(|l| l.holder.as_deref() != Some("replica-a"))
        },
    )
    .await;

    // Only the leader swept: A before it died, B only after it took over.
    let a_sweeps = a.log_lines("github sweep");
    assert!(!a.log_lines("became the leader").is_empty());
    assert!(!a_sweeps.is_empty(), "A led and swept");
    let b_log = b.log_text();
    let b_leads_at = b_log
        .find("\"message\":\"became the leader\"")
        .expect("B became the leader");
    let b_first_sweep = b_log.find("\"message\":\"github sweep\"");
    assert!(
        b_first_sweep.is_none_or(|at| at > b_leads_at),
        "B swept before it led"
    );
    assert!(
        b.log_lines("orphan namespace sweep failed").is_empty(),
        "{}",
        b_log
    );
    eprintln!(
        "{PRS} PRs over 2 replicas; leader killed with {} environments mid-deployment; \
         converged {:.1} s after the kill; test took {:.1} s",
        held_by_a.len(),
        converged_after.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    drop(db);
    drop(b);
    fresh.drop_db().await;
}
