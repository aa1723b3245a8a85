//! The leader election against the testkit's Kubernetes double (kube-lease-manager's
//! server-side apply and conflicts on a `coordination.k8s.io/v1` Lease), and the work
//! leases on PostgreSQL.

use std::time::Duration;

use catalyst_server::leadership::{LeaderSettings, Leadership, election_client};
use catalyst_server::store::leases::{self, Claim};
use catalyst_testkit::{Outage, TestKit};
use serde_json::json;

use crate::support::{FreshDb, wait_until};

async fn kit() -> TestKit {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let kit = TestKit::start().await.unwrap();
    kit.cluster()
        .create(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "catalyst"}}))
        .unwrap();
    kit
}

fn candidate(kit: &TestKit, identity: &str) -> (Leadership, tokio::task::JoinHandle<()>) {
    let duration = Duration::from_secs(2);
    let config = kube::Config::new(kit.kube_url().parse().unwrap());
    let client = election_client(config, duration).unwrap();
    Leadership::elect(
        client,
        LeaderSettings {
            lease_name: "catalyst-leader".into(),
            namespace: "catalyst".into(),
            identity: identity.into(),
            duration,
        },
    )
}

fn holder(kit: &TestKit) -> Option<String> {
    kit.cluster()
        .get(
            "coordination.k8s.io/v1",
            "Lease",
            "catalyst",
            "catalyst-leader",
        )
        .and_then(|l| l["spec"]["holderIdentity"].as_str().map(str::to_owned))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_leader_at_a_time_and_a_dead_one_is_replaced() {
    let kit = kit().await;
    let (a, a_task) = candidate(&kit, "a");
    wait_until("a leads", Duration::from_secs(10), || async {
        a.is_leader()
    })
    .await;
    let (b, _b_task) = candidate(&kit, "b");
    // B keeps trying for several renewals of A's Lease and never leads meanwhile.
    for _ in 0..30 {
        assert!(a.is_leader() && !b.is_leader());
        assert_eq!(holder(&kit).as_deref(), Some("a"));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A dies without releasing anything: B takes over once the Lease has expired.
    a_task.abort();
    let died = tokio::time::Instant::now();
    wait_until("b leads", Duration::from_secs(10), || async {
        b.is_leader()
    })
    .await;
    assert!(
        died.elapsed() >= Duration::from_millis(1000),
        "{:?}",
        died.elapsed()
    );
    assert_eq!(holder(&kit).as_deref(), Some("b"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_that_cannot_reach_the_api_steps_down_and_returns() {
    let kit = kit().await;
    let (a, _task) = candidate(&kit, "a");
    wait_until("a leads", Duration::from_secs(10), || async {
        a.is_leader()
    })
    .await;
    // The API server hangs: the renewal times out and A stops leading within the Lease.
    kit.cluster()
        .faults()
        .outage(Outage::Hang, Duration::from_secs(4));
    let cut = tokio::time::Instant::now();
    wait_until("a steps down", Duration::from_secs(4), || async {
        !a.is_leader()
    })
    .await;
    assert!(
        cut.elapsed() < Duration::from_secs(3),
        "{:?}",
        cut.elapsed()
    );
    // Back: A asks again and, still the holder, leads again.
    wait_until("a leads again", Duration::from_secs(15), || async {
        a.is_leader()
    })
    .await;
    assert_eq!(holder(&kit).as_deref(), Some("a"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn work_leases_have_one_holder_and_expire() {
    let fresh = FreshDb::create().await;
    let db = fresh.connect().await;
    catalyst_server::store::migrate(&db).await.unwrap();
    let ttl = Duration::from_secs(1);

    // Many concurrent claims of one free name: exactly one wins.
    let claims = futures::future::join_all((0..16).map(|i| {
        let db = db.clone();
        async move {
            leases::claim(&db, "environment/x", &format!("r{i}"), ttl)
                .await
                .unwrap()
        }
    }))
    .await;
    let winners: Vec<usize> = claims
        .iter()
        .enumerate()
        .filter(|(_, c)| c.is_held())
        .map(|(i, _)| i)
        .collect();
    assert_eq!(winners.len(), 1, "{claims:?}");
    let winner = format!("r{}", winners[0]);

    // The holder renews; others stay out; after expiry another may take it.
    assert!(
        leases::renew(&db, "environment/x", &winner, ttl)
            .await
            .unwrap()
    );
    let other = if winner == "r0" { "r1" } else { "r0" };
    assert!(matches!(
        leases::claim(&db, "environment/x", other, ttl).await.unwrap(),
        Claim::Busy { holder: Some(h) } if h == winner
    ));
    tokio::time::sleep(ttl + Duration::from_millis(200)).await;
    assert!(
        leases::claim(&db, "environment/x", other, ttl)
            .await
            .unwrap()
            .is_held()
    );
    assert!(
        !leases::renew(&db, "environment/x", &winner, ttl)
            .await
            .unwrap()
    );
    assert_eq!(
        leases::held_by(&db, other).await.unwrap(),
        vec!["environment/x"]
    );

    // Released: free for anyone at once.
    leases::release(&db, "environment/x", other).await.unwrap();
    assert!(
        leases::claim(&db, "environment/x", &winner, ttl)
            .await
            .unwrap()
            .is_held()
    );
    drop(db);
    fresh.drop_db().await;
}
