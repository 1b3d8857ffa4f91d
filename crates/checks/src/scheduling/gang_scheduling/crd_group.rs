//! Gang solutions that bring their own scheduler and a `PodGroup` custom resource: Volcano
//! (`scheduling.volcano.sh`), KAI scheduler (`scheduling.run.ai`) and scheduler-plugins coscheduling
//! (`scheduling.x-k8s.io`). They differ only in data — the API version, how a pod names its group (a label or
//! an annotation), the scheduler's name and the queue — so one [`Flavor`] table drives all three through the
//! cases of [`super::pod_group`].
//!
//! The scheduler name and queue default to what each project's own installation uses; clusters that rename
//! them pass `--scheduler-name SOLUTION=NAME` and `--gang-queue SOLUTION=QUEUE`.

use std::collections::BTreeMap;

use kube::api::{Api, ApiResource, DynamicObject};
use serde_json::{Value, json};

use super::detect::Solution;
use super::pod_group::{GroupApi, Join};
use crate::check::{CheckContext, CheckError, create_dynamic, pinned_resource};

/// How a pod names the group it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Member {
    /// A label with the group's name (coscheduling's `scheduling.x-k8s.io/pod-group`).
    Label(&'static str),
    /// An annotation with the group's name (Volcano's `scheduling.k8s.io/group-name`).
    Annotation(&'static str),
}

/// A queue the group is submitted to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Queue {
    /// The queue kaic uses unless told otherwise.
    pub default: &'static str,
    /// A label that also puts each pod into the queue (KAI's `kai.scheduler/queue`).
    pub pod_label: Option<&'static str>,
}

/// Everything kaic needs to know to drive one PodGroup-based scheduler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flavor {
    pub solution: Solution,
    /// Object-name prefix and step tag.
    pub tag: &'static str,
    /// The key of `--scheduler-name` and `--gang-queue` (the capability's name).
    pub key: &'static str,
    pub group: &'static str,
    pub version: &'static str,
    /// `schedulerName` of the pods, as the project's own installation names its scheduler.
    pub scheduler: &'static str,
    pub member: Member,
    pub queue: Option<Queue>,
    /// Submit the gang as bare pods instead of a Job. KAI's podgrouper gives every pod that has an owner a
    /// PodGroup of its own making (for a batch Job: one group of one per pod, overwriting the pod's
    /// `pod-group-name`); it leaves alone only pods without an owner that already name their group.
    pub bare_pods: bool,
}

/// The PodGroup-based schedulers kaic drives, as data.
pub const FLAVORS: [Flavor; 3] = [
    Flavor {
        solution: Solution::Volcano,
        tag: "volcano",
        key: "volcano",
        group: "scheduling.volcano.sh",
        version: "v1beta1",
        scheduler: "volcano",
        member: Member::Annotation("scheduling.k8s.io/group-name"),
        // Volcano's scheduler creates the `default` queue itself.
        queue: Some(Queue { default: "default", pod_label: None }),
        bare_pods: false,
    },
    Flavor {
        solution: Solution::Kai,
        tag: "kai",
        key: "kai-scheduler",
        group: "scheduling.run.ai",
        version: "v2alpha2",
        scheduler: "kai-scheduler",
        member: Member::Annotation("pod-group-name"),
        // KAI's quick start creates `default-queue`; pods name their queue by label as well.
        queue: Some(Queue { default: "default-queue", pod_label: Some("kai.scheduler/queue") }),
        bare_pods: true,
    },
    Flavor {
        solution: Solution::Coscheduling,
        tag: "cosched",
        key: "coscheduling",
        group: "scheduling.x-k8s.io",
        version: "v1alpha1",
        // The name the scheduler-plugins Helm chart gives its second scheduler.
        scheduler: "scheduler-plugins-scheduler",
        member: Member::Label("scheduling.x-k8s.io/pod-group"),
        queue: None,
        bare_pods: false,
    },
];

/// The flavor of a solution, if it is PodGroup-based.
pub fn flavor(solution: Solution) -> Option<&'static Flavor> {
    FLAVORS.iter().find(|f| f.solution == solution)
}

/// One flavor with the names this run uses, bound to the served API.
pub struct CrdGroups {
    pub flavor: &'static Flavor,
    pub scheduler: String,
    pub queue: Option<String>,
    resource: ApiResource,
}

impl CrdGroups {
    /// Resolves the flavor against discovery (its PodGroup must be served at the version kaic knows) and the
    /// run's options.
    ///
    /// # Errors
    /// [`CheckError::Other`] naming the group and version when that version does not serve PodGroups.
    pub async fn resolve(ctx: &CheckContext, flavor: &'static Flavor) -> Result<Self, CheckError> {
        let resource = pinned_resource(ctx, flavor.group, flavor.version, "PodGroup").await?;
        Ok(Self::with_resource(ctx, flavor, resource))
    }

    fn with_resource(ctx: &CheckContext, flavor: &'static Flavor, resource: ApiResource) -> Self {
        let scheduler = ctx.options.scheduler_names.get(flavor.key).cloned().unwrap_or_else(|| flavor.scheduler.into());
        let queue = flavor.queue.map(|q| ctx.options.gang_queues.get(flavor.key).cloned().unwrap_or(q.default.into()));
        Self { flavor, scheduler, queue, resource }
    }

    /// The PodGroup object for a gang named `name` of at least `min_member` pods.
    pub fn group_object(&self, ctx: &CheckContext, name: &str, min_member: usize) -> Value {
        let mut spec = json!({"minMember": min_member});
        if let Some(queue) = &self.queue {
            spec["queue"] = json!(queue);
        }
        json!({
            "apiVersion": self.resource.api_version,
            "kind": self.resource.kind,
            "metadata": {"name": name, "labels": ctx.labels()},
            "spec": spec
        })
    }

    fn api(&self, ctx: &CheckContext) -> Api<DynamicObject> {
        Api::namespaced_with(ctx.client.clone(), &ctx.namespace, &self.resource)
    }
}

#[async_trait::async_trait]
impl GroupApi for CrdGroups {
    fn tag(&self) -> &'static str {
        self.flavor.tag
    }

    fn policy(&self, min_member: usize) -> String {
        let queue = self.queue.as_ref().map(|q| format!(", queue {q}")).unwrap_or_default();
        format!("{} minMember {min_member}, scheduler {}{queue}", self.flavor.group, self.scheduler)
    }

    async fn create_group(&self, ctx: &CheckContext, name: &str, min_member: usize) -> Result<(), CheckError> {
        create_dynamic(ctx, &self.api(ctx), self.group_object(ctx, name, min_member)).await?;
        Ok(())
    }

    fn bare_pods(&self) -> bool {
        self.flavor.bare_pods
    }

    fn join(&self, name: &str) -> Join {
        let mut join = Join { pod_spec: json!({"schedulerName": self.scheduler}), ..Join::default() };
        match self.flavor.member {
            Member::Label(key) => join.labels.insert(key.into(), name.into()),
            Member::Annotation(key) => join.annotations.insert(key.into(), name.into()),
        };
        if let (Some(queue), Some(label)) = (&self.queue, self.flavor.queue.and_then(|q| q.pod_label)) {
            join.labels.insert(label.into(), queue.clone());
        }
        join
    }

    async fn group_state(&self, ctx: &CheckContext, name: &str) -> String {
        match self.api(ctx).get(name).await {
            Ok(group) => {
                ctx.object(&format!("PodGroup-{name}"), &group);
                describe_status(name, group.data.get("status").unwrap_or(&Value::Null))
            }
            Err(e) => format!("PodGroup {name} could not be read: {e}"),
        }
    }

    async fn held_back(&self, ctx: &CheckContext, name: &str) -> Option<String> {
        let group = self.api(ctx).get(name).await.ok()?;
        held_condition(name, group.data.get("status")?)
    }

    fn scheduler_hint(&self) -> String {
        format!("no scheduler named {} seems to run", self.scheduler)
    }
}

/// The condition of a PodGroup's status that says the scheduler held the gang back: Volcano's
/// `Unschedulable=True`, KAI's `schedulingConditions` (reasons such as `NotEnoughResources`), or any
/// condition whose type names unschedulability.
pub fn held_condition(name: &str, status: &Value) -> Option<String> {
    let lists = ["conditions", "schedulingConditions"];
    let conditions = lists.iter().filter_map(|k| status.get(*k).and_then(Value::as_array)).flatten();
    for condition in conditions {
        let field = |k: &str| condition.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
        let unschedulable = field("type").contains("Unschedulable") && field("status") != "False";
        let kai = condition.get("reasons").is_some() || field("type") == "NotEnoughResources";
        if unschedulable || kai {
            let mut message = field("message");
            if message.is_empty() {
                message = condition.get("reasons").map(Value::to_string).unwrap_or_default();
            }
            message.truncate(240);
            return Some(
                format!("PodGroup {name}: {}={} {}", field("type"), field("status"), message).trim().to_string(),
            );
        }
    }
    None
}

/// A PodGroup custom resource's status in one line: phase, member counts, conditions. The three projects
/// share these field names (`phase`, `running`, `succeeded`, `failed`, `scheduled`, `conditions`).
pub fn describe_status(name: &str, status: &Value) -> String {
    let mut parts = Vec::new();
    if let Some(phase) = status.get("phase").and_then(Value::as_str) {
        parts.push(format!("phase {phase}"));
    }
    let counts: BTreeMap<&str, i64> = ["scheduled", "running", "succeeded", "failed"]
        .into_iter()
        .filter_map(|k| status.get(k).and_then(Value::as_i64).map(|n| (k, n)))
        .collect();
    if !counts.is_empty() {
        parts.push(counts.iter().map(|(k, n)| format!("{k} {n}")).collect::<Vec<_>>().join(", "));
    }
    for condition in status.get("conditions").and_then(Value::as_array).into_iter().flatten() {
        let field = |k: &str| condition.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
        let text = format!("{}={} {} {}", field("type"), field("status"), field("reason"), field("message"));
        parts.push(text.trim().to_string());
    }
    format!("PodGroup {name}: {}", if parts.is_empty() { "no status".to_string() } else { parts.join("; ") })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unschedulable_condition_is_proof_and_a_scheduled_group_is_not() {
        let volcano = json!({"phase": "Inqueue", "conditions": [{"type": "Unschedulable", "status": "True",
            "reason": "NotEnoughResources", "message": "3/4 tasks in gang unschedulable"}]});
        assert_eq!(
            held_condition("volcano-big", &volcano).unwrap(),
            "PodGroup volcano-big: Unschedulable=True 3/4 tasks in gang unschedulable"
        );
        let running = json!({"phase": "Running", "conditions": [{"type": "Scheduled", "status": "True"}]});
        assert_eq!(held_condition("g", &running), None);
    }
    use crate::check::CheckOptions;
    use kube::api::GroupVersionKind;

    fn ctx(options: CheckOptions) -> CheckContext {
        CheckContext::offline("gang_scheduling", options)
    }

    fn groups(ctx: &CheckContext, solution: Solution) -> CrdGroups {
        let flavor = flavor(solution).unwrap();
        let gvk = GroupVersionKind::gvk(flavor.group, flavor.version, "PodGroup");
        CrdGroups::with_resource(ctx, flavor, ApiResource::from_gvk_with_plural(&gvk, "podgroups"))
    }

    #[tokio::test]
    async fn volcano_groups_carry_the_queue_and_pods_name_them_by_annotation() {
        let ctx = ctx(CheckOptions::default());
        let volcano = groups(&ctx, Solution::Volcano);
        let group = volcano.group_object(&ctx, "volcano-big", 4);
        assert_eq!(group["apiVersion"], "scheduling.volcano.sh/v1beta1");
        assert_eq!(group["kind"], "PodGroup");
        assert_eq!(group["spec"], json!({"minMember": 4, "queue": "default"}));
        assert_eq!(group["metadata"]["labels"]["kaic.dev/run-id"], "r1");
        let join = volcano.join("volcano-big");
        assert_eq!(join.pod_spec, json!({"schedulerName": "volcano"}));
        assert_eq!(join.annotations["scheduling.k8s.io/group-name"], "volcano-big");
        assert!(join.labels.is_empty());
        assert_eq!(volcano.policy(4), "scheduling.volcano.sh minMember 4, scheduler volcano, queue default");
    }

    #[tokio::test]
    async fn coscheduling_pods_name_their_group_by_label_and_have_no_queue() {
        let ctx = ctx(CheckOptions::default());
        let cosched = groups(&ctx, Solution::Coscheduling);
        let group = cosched.group_object(&ctx, "cosched-fit", 3);
        assert_eq!(group["apiVersion"], "scheduling.x-k8s.io/v1alpha1");
        assert_eq!(group["spec"], json!({"minMember": 3}));
        let join = cosched.join("cosched-fit");
        assert_eq!(join.labels["scheduling.x-k8s.io/pod-group"], "cosched-fit");
        assert_eq!(join.pod_spec["schedulerName"], "scheduler-plugins-scheduler");
    }

    #[tokio::test]
    async fn options_rename_the_scheduler_and_the_queue() {
        let mut options = CheckOptions::default();
        options.scheduler_names.insert("kai-scheduler".into(), "kai-prod".into());
        options.gang_queues.insert("kai-scheduler".into(), "team-a".into());
        let ctx = ctx(options);
        let kai = groups(&ctx, Solution::Kai);
        let join = kai.join("kai-big");
        assert_eq!(join.pod_spec["schedulerName"], "kai-prod");
        assert_eq!(join.annotations["pod-group-name"], "kai-big");
        assert_eq!(join.labels["kai.scheduler/queue"], "team-a");
        let group = kai.group_object(&ctx, "kai-big", 4);
        assert_eq!(group["apiVersion"], "scheduling.run.ai/v2alpha2");
        assert_eq!(group["spec"]["queue"], "team-a");
    }

    #[test]
    fn every_pod_group_solution_has_one_flavor_with_a_distinct_tag() {
        let tags: std::collections::BTreeSet<_> = FLAVORS.iter().map(|f| f.tag).collect();
        assert_eq!(tags.len(), FLAVORS.len());
        for solution in [Solution::Volcano, Solution::Kai, Solution::Coscheduling] {
            assert_eq!(flavor(solution).unwrap().group, solution.api());
        }
        assert!(flavor(Solution::Kueue).is_none() && flavor(Solution::Native).is_none());
        // Only KAI's podgrouper takes over the PodGroup of owned pods, so only KAI's gangs are bare pods.
        let bare: Vec<_> = FLAVORS.iter().filter(|f| f.bare_pods).map(|f| f.solution).collect();
        assert_eq!(bare, [Solution::Kai]);
    }

    #[test]
    fn describes_a_pod_group_status() {
        let status = json!({
            "phase": "Inqueue", "running": 0, "succeeded": 3,
            "conditions": [{"type": "Unschedulable", "status": "True", "reason": "NotEnoughResources",
                "message": "3/4 tasks in gang unschedulable"}]
        });
        assert_eq!(
            describe_status("volcano-big", &status),
            "PodGroup volcano-big: phase Inqueue; running 0, succeeded 3; Unschedulable=True NotEnoughResources 3/4 tasks \
             in gang unschedulable"
        );
        assert_eq!(describe_status("g", &Value::Null), "PodGroup g: no status");
    }
}
