//! Watches: events across changes, resourceVersion resumption, 410 Gone for compacted
//! history, label-filtered watches, bookmarks, and kube-runtime's watcher.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::runtime::watcher;
use serde_json::json;

use crate::kit;

fn cm(name: &str, app: &str) -> ConfigMap {
    serde_json::from_value(
        json!({"metadata": {"name": name, "labels": {"app": app}}, "data": {"v": "1"}}),
    )
    .unwrap()
}

async fn next<S: futures::Stream<Item = kube::Result<WatchEvent<ConfigMap>>> + Unpin>(
    s: &mut S,
) -> WatchEvent<ConfigMap> {
    tokio::time::timeout(Duration::from_secs(3), s.next())
        .await
        .expect("an event in time")
        .expect("the stream is open")
        .expect("a good event")
}

fn name_of(e: &WatchEvent<ConfigMap>) -> (&'static str, String) {
    match e {
        WatchEvent::Added(o) => ("ADDED", o.metadata.name.clone().unwrap()),
        WatchEvent::Modified(o) => ("MODIFIED", o.metadata.name.clone().unwrap()),
        WatchEvent::Deleted(o) => ("DELETED", o.metadata.name.clone().unwrap()),
        WatchEvent::Bookmark(_) => ("BOOKMARK", String::new()),
        WatchEvent::Error(e) => panic!("watch error {e:?}"),
    }
}

#[tokio::test]
async fn watch_sees_a_change_and_resumes_from_a_resource_version() {
    let kit = kit().await;
    let api: Api<ConfigMap> = Api::namespaced(kit.kube_client().unwrap(), "default");
    let first = api
        .create(&PostParams::default(), &cm("a", "web"))
        .await
        .unwrap();
    let rv = first.metadata.resource_version.clone().unwrap();

    let mut s = api
        .watch(&WatchParams::default().labels("app=web"), "0")
        .await
        .unwrap()
        .boxed();
    assert_eq!(
        name_of(&next(&mut s).await),
        ("ADDED", "a".into()),
        "initial state first"
    );
    api.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"v": "2"}})),
    )
    .await
    .unwrap();
    assert_eq!(name_of(&next(&mut s).await), ("MODIFIED", "a".into()));
    api.create(&PostParams::default(), &cm("other", "db"))
        .await
        .unwrap();
    api.create(&PostParams::default(), &cm("b", "web"))
        .await
        .unwrap();
    assert_eq!(
        name_of(&next(&mut s).await),
        ("ADDED", "b".into()),
        "label selector filters 'other'"
    );
    // Relabelling out of the selector looks like a deletion to this watcher.
    api.patch(
        "b",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"app": "db"}}})),
    )
    .await
    .unwrap();
    assert_eq!(name_of(&next(&mut s).await), ("DELETED", "b".into()));
    api.delete("a", &DeleteParams::default()).await.unwrap();
    assert_eq!(name_of(&next(&mut s).await), ("DELETED", "a".into()));

    // Resuming from the first object's version replays everything after it, in order.
    let mut resumed = api
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    let mut seen = Vec::new();
    for _ in 0..5 {
        seen.push(name_of(&next(&mut resumed).await));
    }
    let expect: Vec<(&str, String)> = vec![
        ("MODIFIED", "a".into()),
        ("ADDED", "other".into()),
        ("ADDED", "b".into()),
        ("MODIFIED", "b".into()),
        ("DELETED", "a".into()),
    ];
    assert_eq!(seen, expect);
}

#[tokio::test]
async fn too_old_resource_version_is_410_gone_and_bookmarks_arrive() {
    let kit = kit().await;
    kit.cluster().set_watch_history_limit(3);
    kit.cluster()
        .set_bookmark_interval(Duration::from_millis(50));
    let api: Api<ConfigMap> = Api::namespaced(kit.kube_client().unwrap(), "default");
    let old = api
        .create(&PostParams::default(), &cm("a", "web"))
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    for i in 0..5 {
        api.create(&PostParams::default(), &cm(&format!("n{i}"), "web"))
            .await
            .unwrap();
    }
    let mut s = api
        .watch(&WatchParams::default(), &old)
        .await
        .unwrap()
        .boxed();
    match next(&mut s).await {
        WatchEvent::Error(e) => {
            assert_eq!((e.code, e.reason.as_str()), (410, "Expired"));
            assert!(
                e.message.starts_with("too old resource version"),
                "{}",
                e.message
            );
        }
        other => panic!("expected 410, got {other:?}"),
    }
    let current = api
        .list(&Default::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut s = api
        .watch(
            &WatchParams {
                bookmarks: true,
                ..Default::default()
            },
            &current,
        )
        .await
        .unwrap()
        .boxed();
    assert!(matches!(next(&mut s).await, WatchEvent::Bookmark(_)));
}

#[tokio::test]
async fn watch_ends_after_timeout_seconds() {
    let kit = kit().await;
    let api: Api<ConfigMap> = Api::namespaced(kit.kube_client().unwrap(), "default");
    let rv = api
        .list(&Default::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let s = api
        .watch(&WatchParams::default().timeout(1), &rv)
        .await
        .unwrap();
    let events: Vec<_> = tokio::time::timeout(Duration::from_secs(3), s.collect::<Vec<_>>())
        .await
        .expect("the watch ends by itself");
    let changes = events
        .iter()
        .filter(|e| !matches!(e, Ok(WatchEvent::Bookmark(_))))
        .count();
    assert_eq!(changes, 0);
}

#[tokio::test]
async fn kube_runtime_watcher_follows_changes() {
    let kit = kit().await;
    let api: Api<ConfigMap> = Api::namespaced(kit.kube_client().unwrap(), "default");
    api.create(&PostParams::default(), &cm("before", "web"))
        .await
        .unwrap();
    let mut stream = watcher(api.clone(), watcher::Config::default()).boxed();
    let mut init_done = false;
    let mut saw_before = false;
    while !init_done {
        match tokio::time::timeout(Duration::from_secs(3), stream.try_next())
            .await
            .unwrap()
            .unwrap()
            .unwrap()
        {
            watcher::Event::InitApply(o) => {
                saw_before |= o.metadata.name.as_deref() == Some("before")
            }
            watcher::Event::InitDone => init_done = true,
            _ => {}
        }
    }
    assert!(saw_before);
    api.create(&PostParams::default(), &cm("after", "web"))
        .await
        .unwrap();
    loop {
        if let watcher::Event::Apply(o) =
            tokio::time::timeout(Duration::from_secs(3), stream.try_next())
                .await
                .unwrap()
                .unwrap()
                .unwrap()
        {
            assert_eq!(o.metadata.name.as_deref(), Some("after"));
            break;
        }
    }
}

#[tokio::test]
async fn streaming_list_watcher_gets_initial_events_then_changes() {
    let kit = kit().await;
    let api: Api<ConfigMap> = Api::namespaced(kit.kube_client().unwrap(), "default");
    api.create(&PostParams::default(), &cm("seed", "web"))
        .await
        .unwrap();
    let mut stream = watcher(api.clone(), watcher::Config::default().streaming_lists()).boxed();
    let mut initial = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_secs(3), stream.try_next())
            .await
            .unwrap()
            .unwrap()
            .unwrap()
        {
            watcher::Event::InitApply(o) => initial.push(o.metadata.name.unwrap()),
            watcher::Event::InitDone => break,
            _ => {}
        }
    }
    assert_eq!(initial, vec!["seed"]);
    let req = kit
        .requests()
        .into_iter()
        .find(|r| r.query.contains("sendInitialEvents=true"))
        .expect("a streaming list request");
    assert_eq!(req.query_param("watch").as_deref(), Some("true"));
    api.delete("seed", &DeleteParams::default()).await.unwrap();
    loop {
        if let watcher::Event::Delete(o) =
            tokio::time::timeout(Duration::from_secs(3), stream.try_next())
                .await
                .unwrap()
                .unwrap()
                .unwrap()
        {
            assert_eq!(o.metadata.name.as_deref(), Some("seed"));
            break;
        }
    }
}
