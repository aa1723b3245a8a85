//! Recognising "the cluster has no room" as its own outcome. A quota rejection or an
//! unschedulable pod is not the pull request's fault: the engine queues and retries
//! it instead of counting an application failure.

use k8s_openapi::api::core::v1::{Event, Pod};

/// The API server's message when a create was refused for quota (403, `exceeded
/// quota`), else `None`.
pub fn quota_rejection(e: &kube::Error) -> Option<String> {
    match e {
        kube::Error::Api(s) if s.code == 403 && is_quota_message(&s.message) => {
            Some(s.message.clone())
        }
        _ => None,
    }
}

fn is_quota_message(message: &str) -> bool {
    message.contains("exceeded quota")
}

/// Why a pod cannot be placed: Pending with `PodScheduled=False`, reason
/// `Unschedulable` (e.g. "0/3 nodes are available: 3 Insufficient memory").
pub fn unschedulable(pod: &Pod) -> Option<String> {
    let status = pod.status.as_ref()?;
    if status.phase.as_deref() != Some("Pending") {
        return None;
    }
    status.conditions.iter().flatten().find_map(|c| {
        (c.type_ == "PodScheduled"
            && c.status == "False"
            && c.reason.as_deref() == Some("Unschedulable"))
        .then(|| {
            c.message
                .clone()
                .unwrap_or_else(|| "pod is unschedulable".to_owned())
        })
    })
}

/// A controller's `FailedCreate` event saying the quota refused a pod for `object`
/// (e.g. the deploy Job: its pod is never created, so only the event tells).
pub fn quota_event_for(events: &[Event], object: &str) -> Option<String> {
    events.iter().rev().find_map(|e| {
        let about = e.involved_object.name.as_deref() == Some(object);
        let message = e.message.as_deref().unwrap_or_default();
        (about && e.reason.as_deref() == Some("FailedCreate") && is_quota_message(message))
            .then(|| message.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{ObjectReference, PodCondition, PodStatus};
    use kube::core::Status;

    #[test]
    fn quota_rejections_are_recognised() {
        let e = kube::Error::Api(
            Status::failure(
                "pods \"x\" is forbidden: exceeded quota: catalyst-quota, requested: pods=1, used: pods=20, limited: pods=20",
                "Forbidden",
            )
            .with_code(403)
            .boxed(),
        );
        assert!(quota_rejection(&e).unwrap().contains("exceeded quota"));
        let other = kube::Error::Api(Status::failure("nope", "Forbidden").with_code(403).boxed());
        assert!(quota_rejection(&other).is_none());
    }

    fn pending(reason: &str) -> Pod {
        Pod {
            status: Some(PodStatus {
                phase: Some("Pending".to_owned()),
                conditions: Some(vec![PodCondition {
                    type_: "PodScheduled".to_owned(),
                    status: "False".to_owned(),
                    reason: Some(reason.to_owned()),
                    message: Some("0/1 nodes are available: 1 Insufficient cpu.".to_owned()),
                    ..PodCondition::default()
                }]),
                ..PodStatus::default()
            }),
            ..Pod::default()
        }
    }

    #[test]
    fn unschedulable_pods_are_capacity_problems() {
        assert_eq!(
            unschedulable(&pending("Unschedulable")).as_deref(),
            Some("0/1 nodes are available: 1 Insufficient cpu.")
        );
        assert!(unschedulable(&pending("SchedulingGated")).is_none());
        assert!(unschedulable(&Pod::default()).is_none());
    }

    #[test]
    fn failed_create_events_for_quota_are_found() {
        let event = |name: &str, reason: &str, message: &str| Event {
            involved_object: ObjectReference {
                name: Some(name.to_owned()),
                ..ObjectReference::default()
            },
            reason: Some(reason.to_owned()),
            message: Some(message.to_owned()),
            ..Event::default()
        };
        let events = vec![
            event("other", "FailedCreate", "exceeded quota: q"),
            event("job-1", "SuccessfulCreate", "created pod"),
            event(
                "job-1",
                "FailedCreate",
                "Error creating: pods is forbidden: exceeded quota: q",
            ),
        ];
        assert!(quota_event_for(&events, "job-1").is_some());
        assert!(quota_event_for(&events, "job-2").is_none());
    }
}
