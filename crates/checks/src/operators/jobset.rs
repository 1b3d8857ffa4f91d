//! JobSet as an AI operator of `robust_controller`. The invalid object is a JobSet whose success policy
//! targets a replicated job it does not have: the CRD schema cannot see that cross-reference and only
//! JobSet's validating webhook (`vjobset.kb.io`) refuses it. The reconciled object is a JobSet of one Job of
//! one pod that exits at once, which JobSet's controller must drive to `Completed`.

use std::time::{Duration, Instant};

use kube::Api;
use kube::api::{DynamicObject, GroupVersionKind, PostParams};
use serde_json::{Value, json};

use super::robust_controller::Operator;
use crate::capability::Capability;
use crate::check::{CheckContext, CheckError, from_json};
use crate::wait;

/// How long JobSet may take to run its one pod and report Completed.
const RECONCILE_TIMEOUT: Duration = Duration::from_secs(120);
const GROUP: &str = "jobset.x-k8s.io";
const VERSION: &str = "v1alpha2";

pub struct JobSet;

impl JobSet {
    async fn api(ctx: &CheckContext) -> Result<Api<DynamicObject>, CheckError> {
        let gvk = GroupVersionKind::gvk(GROUP, VERSION, "JobSet");
        let (resource, _) = kube::discovery::pinned_kind(&ctx.client, &gvk).await.map_err(|e| {
            CheckError::Other(format!("JobSet is installed but {GROUP}/{VERSION} does not serve JobSets ({e})"))
        })?;
        Ok(Api::namespaced_with(ctx.client.clone(), &ctx.namespace, &resource))
    }

    /// A JobSet with one replicated job `workers` of one pod that exits at once, whose success policy
    /// targets `target`.
    fn object(ctx: &CheckContext, name: &str, target: &str) -> Value {
        json!({
            "apiVersion": format!("{GROUP}/{VERSION}"), "kind": "JobSet",
            "metadata": {"name": name, "labels": ctx.labels()},
            "spec": {
                "successPolicy": {"operator": "All", "targetReplicatedJobs": [target]},
                "replicatedJobs": [{"name": "workers", "replicas": 1, "template": {"spec": {
                    "parallelism": 1, "completions": 1, "backoffLimit": 0,
                    "template": {"metadata": {"labels": ctx.labels()}, "spec": {
                        "restartPolicy": "Never", "terminationGracePeriodSeconds": 0,
                        "containers": [{"name": "main", "image": ctx.options.pause_image, "args": ["-v"]}]
                    }}
                }}}]
            }
        })
    }
}

/// Whether a JobSet has a condition of `kind` that is True.
fn has_condition(object: &DynamicObject, kind: &str) -> bool {
    object.data["status"]["conditions"]
        .as_array()
        .is_some_and(|c| c.iter().any(|c| c["type"] == kind && c["status"] == "True"))
}

#[async_trait::async_trait]
impl Operator for JobSet {
    fn name(&self) -> &'static str {
        "JobSet"
    }

    fn capability(&self) -> Capability {
        Capability::JobSet
    }

    fn group(&self) -> &'static str {
        GROUP
    }

    fn webhook_resource(&self) -> &'static str {
        "jobsets"
    }

    async fn twin_api(&self, ctx: &CheckContext) -> Result<Api<DynamicObject>, CheckError> {
        Self::api(ctx).await
    }

    fn twin(&self, ctx: &CheckContext, valid: bool) -> Value {
        Self::object(ctx, "operator-dry-run", if valid { "workers" } else { "kaic-missing" })
    }

    fn invalid_twin(&self) -> String {
        "a JobSet whose success policy targets a replicated job it does not have".into()
    }

    async fn reconcile(&self, ctx: &CheckContext) -> Result<Result<String, (String, String)>, CheckError> {
        let api = Self::api(ctx).await?;
        let name = "kaic-operator";
        let object: DynamicObject = from_json(Self::object(ctx, name, "workers"))?;
        let created = Instant::now();
        let stored = api
            .create(&PostParams::default(), &object)
            .await
            .map_err(|e| CheckError::api(format!("create JobSet {name}"), e))?;
        ctx.object(&format!("JobSet-{name}"), &stored);
        let finished =
            |j: Option<&DynamicObject>| j.is_some_and(|j| has_condition(j, "Completed") || has_condition(j, "Failed"));
        let expected = format!("JobSet {name} Completed within {}s", RECONCILE_TIMEOUT.as_secs());
        let jobset = match wait::until(&api, name, "the JobSet to finish", RECONCILE_TIMEOUT, finished, |j| {
            format!("conditions: {}", j.data["status"]["conditions"])
        })
        .await
        {
            Ok(jobset) => jobset,
            Err(CheckError::Timeout { last_seen, .. }) => return Ok(Err((expected, last_seen))),
            Err(e) => return Err(e),
        };
        ctx.object(&format!("JobSet-{name}-finished"), &jobset);
        if !has_condition(&jobset, "Completed") {
            return Ok(Err((expected, format!("conditions: {}", jobset.data["status"]["conditions"]))));
        }
        let took = created.elapsed();
        ctx.record(|e| e.timing("JobSet: created to Completed", took));
        ctx.step(format!("JobSet: {name} ran its Job and became Completed {:.1}s after creation", took.as_secs_f64()));
        Ok(Ok(format!("JobSet {name} ran its Job and reached Completed in {:.1}s", took.as_secs_f64())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::CheckOptions;

    #[tokio::test]
    async fn the_twins_differ_only_in_the_success_policy_target() {
        let ctx = CheckContext::offline("robust_controller", CheckOptions::default());
        let (valid, invalid) = (JobSet.twin(&ctx, true), JobSet.twin(&ctx, false));
        assert_eq!(valid["spec"]["successPolicy"]["targetReplicatedJobs"], json!(["workers"]));
        assert_eq!(invalid["spec"]["successPolicy"]["targetReplicatedJobs"], json!(["kaic-missing"]));
        let mut patched = invalid.clone();
        patched["spec"]["successPolicy"]["targetReplicatedJobs"] = json!(["workers"]);
        assert_eq!(patched, valid);
        assert_eq!(valid["spec"]["replicatedJobs"][0]["name"], "workers");
        assert_eq!(valid["metadata"]["labels"]["kaic.dev/run-id"], "r1");
    }
}
