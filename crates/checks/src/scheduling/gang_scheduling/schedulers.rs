//! Gang schedulers in use that kaic does not exercise. They turn "nothing found" into unknown and are named
//! beside failures, so only real gang schedulers may count: a pod counts when its scheduler is a known gang
//! scheduler ([`GANG_SCHEDULERS`]) or when it carries a gang label or annotation ([`GANG_MARKS`]). A second
//! scheduler that does not gang-schedule (EKS Fargate's `fargate-scheduler`, GKE's
//! `gke.io/optimize-utilization-scheduler`, an in-house bin-packer) says nothing about gang scheduling.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;

/// Scheduler names kaic exercises (through the solutions it drives), beside those given with
/// `--scheduler-name`: their pods are never "unrecognised".
pub const EXERCISED: &[&str] = &["default-scheduler", "volcano", "kai-scheduler", "scheduler-plugins-scheduler"];

/// Gang schedulers kaic recognises by the default scheduler name of their installation, with their project.
/// A name matches when it contains the token (Helm releases add prefixes and suffixes).
pub const GANG_SCHEDULERS: &[(&str, &str)] = &[
    ("yunikorn", "Apache YuniKorn"),
    ("koord-scheduler", "Koordinator"),
    ("runai-scheduler", "Run:ai"),
    ("kube-batch", "kube-batch"),
    ("godel-scheduler", "Gödel scheduler"),
];

/// Labels and annotations by which a pod joins a gang, whatever its scheduler is called, with the project.
pub const GANG_MARKS: &[(&str, &str)] = &[
    ("scheduling.x-k8s.io/pod-group", "scheduler-plugins coscheduling"),
    ("pod-group.scheduling.sigs.k8s.io", "scheduler-plugins coscheduling (pre-v0.25) or Koordinator"),
    ("gang.scheduling.koordinator.sh/name", "Koordinator"),
    ("yunikorn.apache.org/task-group-name", "Apache YuniKorn"),
    ("yunikorn.apache.org/task-groups", "Apache YuniKorn"),
    ("scheduling.k8s.io/group-name", "Volcano"),
];

/// Why a pod counts as gang-scheduled by a scheduler kaic does not exercise, if it does: the project.
fn gang_project(scheduler: &str, pod: &Pod) -> Option<&'static str> {
    if let Some((_, project)) = GANG_SCHEDULERS.iter().find(|(token, _)| scheduler.contains(token)) {
        return Some(project);
    }
    let labels = pod.metadata.labels.iter().flatten();
    let annotations = pod.metadata.annotations.iter().flatten();
    let mut keys = labels.chain(annotations).map(|(k, _)| k.as_str());
    keys.find_map(|key| GANG_MARKS.iter().find(|(mark, _)| *mark == key).map(|(_, project)| *project))
}

/// Names the gang schedulers that `pods` (not kaic's) use and kaic does not exercise, one entry per
/// scheduler name: `Apache YuniKorn (schedulerName yunikorn, 2 pods)`. Pods of the default scheduler, of a
/// scheduler kaic drives or named with `--scheduler-name` (`also_known`), and of schedulers that are not gang
/// schedulers and carry no gang mark, are left out.
pub fn unrecognised_gang_schedulers(pods: &[Pod], also_known: &[String]) -> Vec<String> {
    let mut counts: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for pod in pods {
        let Some(scheduler) = pod.spec.as_ref().and_then(|s| s.scheduler_name.as_deref()) else { continue };
        if EXERCISED.contains(&scheduler) || also_known.iter().any(|k| k == scheduler) {
            continue;
        }
        if let Some(project) = gang_project(scheduler, pod) {
            *counts.entry((project, scheduler)).or_default() += 1;
        }
    }
    counts
        .into_iter()
        .map(|((project, name), pods)| {
            format!("{project} (schedulerName {name}, {pods} pod{})", if pods == 1 { "" } else { "s" })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(scheduler: &str, labels: serde_json::Value, annotations: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "team", "labels": labels, "annotations": annotations},
            "spec": {"schedulerName": scheduler, "containers": [{"name": "c", "image": "i"}]}
        }))
        .unwrap()
    }

    fn plain(scheduler: &str) -> Pod {
        pod(scheduler, json!({}), json!({}))
    }

    #[test]
    fn known_gang_schedulers_count_by_name() {
        let pods = [
            plain("yunikorn"),
            plain("yunikorn"),
            plain("koord-scheduler"),
            plain("runai-scheduler"),
            plain("default-scheduler"),
            plain("volcano"),
        ];
        assert_eq!(
            unrecognised_gang_schedulers(&pods, &[]),
            vec![
                "Apache YuniKorn (schedulerName yunikorn, 2 pods)",
                "Koordinator (schedulerName koord-scheduler, 1 pod)",
                "Run:ai (schedulerName runai-scheduler, 1 pod)",
            ]
        );
    }

    #[test]
    fn schedulers_that_do_not_gang_schedule_are_not_counted() {
        // EKS Fargate, GKE's optimize-utilization profile, an in-house bin-packer: second schedulers, no gangs.
        let pods = [
            plain("fargate-scheduler"),
            plain("gke.io/optimize-utilization-scheduler"),
            plain("binpack-scheduler"),
            // A gang mark on a default-scheduler pod is not another scheduler.
            pod("default-scheduler", json!({"scheduling.x-k8s.io/pod-group": "g"}), json!({})),
        ];
        assert!(unrecognised_gang_schedulers(&pods, &[]).is_empty());
    }

    #[test]
    fn a_gang_label_or_annotation_counts_whatever_the_scheduler_is_called() {
        let pods = [
            pod("my-cosched", json!({"scheduling.x-k8s.io/pod-group": "train"}), json!({})),
            pod("my-cosched", json!({"scheduling.x-k8s.io/pod-group": "train"}), json!({})),
            pod("custom-yk", json!({}), json!({"yunikorn.apache.org/task-group-name": "workers"})),
            pod("sched-x", json!({"pod-group.scheduling.sigs.k8s.io": "g"}), json!({})),
            pod("sched-y", json!({"unrelated": "x"}), json!({"note": "scheduling.x-k8s.io/pod-group"})),
        ];
        assert_eq!(
            unrecognised_gang_schedulers(&pods, &[]),
            vec![
                "Apache YuniKorn (schedulerName custom-yk, 1 pod)",
                "scheduler-plugins coscheduling (schedulerName my-cosched, 2 pods)",
                "scheduler-plugins coscheduling (pre-v0.25) or Koordinator (schedulerName sched-x, 1 pod)",
            ]
        );
    }

    #[test]
    fn schedulers_kaic_exercises_or_was_told_about_are_never_unrecognised() {
        let pods = [
            pod("scheduler-plugins-scheduler", json!({"scheduling.x-k8s.io/pod-group": "g"}), json!({})),
            pod("my-volcano", json!({}), json!({"scheduling.k8s.io/group-name": "g"})),
            plain("yunikorn"),
        ];
        assert_eq!(
            unrecognised_gang_schedulers(&pods, &["my-volcano".to_string(), "yunikorn".to_string()]),
            Vec::<String>::new(),
            "--scheduler-name"
        );
    }
}
