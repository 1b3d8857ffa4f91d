//! JobSet as an AI operator of `robust_controller`. The invalid object is a JobSet whose success policy
//! targets a replicated job it does not have: the CRD schema cannot see that cross-reference and only
//! JobSet's validating webhook (`vjobset.kb.io`) refuses it. The reconciled object is a JobSet of one Job of
//! one pod that exits at once, which JobSet's controller must drive to `Completed`.

use kube::Api;
use kube::api::DynamicObject;
use serde_json::{Value, json};

use super::robust_controller::{Operator, create_until_condition, pinned_api};
use crate::capability::Capability;
use crate::check::{CheckContext, CheckError};
use crate::timeouts::Wait;

const GROUP: &str = "jobset.x-k8s.io";
const VERSION: &str = "v1alpha2";
const API_VERSION: &str = "jobset.x-k8s.io/v1alpha2";

pub struct JobSet;

impl JobSet {
    /// A JobSet with one replicated job `workers` of one pod that exits at once, whose success policy
    /// targets `target`.
    fn object(ctx: &CheckContext, api_version: &str, name: &str, target: &str) -> Value {
        json!({
            "apiVersion": api_version, "kind": "JobSet",
            "metadata": {"name": name, "labels": ctx.labels()},
            "spec": {
                "successPolicy": {"operator": "All", "targetReplicatedJobs": [target]},
                "replicatedJobs": [{"name": "workers", "replicas": 1, "template": {"spec": {
                    "parallelism": 1, "completions": 1, "backoffLimit": 0,
                    "template": {"metadata": {"labels": ctx.labels()}, "spec": crate::pods::hardened(json!({
                        "restartPolicy": "Never", "terminationGracePeriodSeconds": 0,
                        "containers": [{"name": "main", "image": ctx.options.pause_image, "args": ["-v"]}]
                    }))}
                }}}]
            }
        })
    }
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

    async fn twin_api(&self, ctx: &CheckContext) -> Result<(Api<DynamicObject>, String), CheckError> {
        Ok((pinned_api(ctx, GROUP, VERSION, "JobSet").await?, API_VERSION.to_string()))
    }

    fn twin(&self, ctx: &CheckContext, api_version: &str, valid: bool) -> Value {
        Self::object(ctx, api_version, "operator-dry-run", if valid { "workers" } else { "kaic-missing" })
    }

    fn invalid_twin(&self) -> String {
        "a JobSet whose success policy targets a replicated job it does not have".into()
    }

    async fn reconcile(&self, ctx: &CheckContext) -> Result<Result<String, (String, String)>, CheckError> {
        let api = pinned_api(ctx, GROUP, VERSION, "JobSet").await?;
        let object = Self::object(ctx, API_VERSION, "kaic-operator", "workers");
        let took = match create_until_condition(
            ctx,
            &api,
            object,
            "Completed",
            Some("Failed"),
            ctx.wait(Wait::OperatorReconcile),
        )
        .await?
        {
            Ok(took) => took,
            Err(failure) => return Ok(Err(failure)),
        };
        ctx.record(|e| e.timing("JobSet: created to Completed", took));
        ctx.step(format!(
            "JobSet: kaic-operator ran its Job and became Completed {:.1}s after creation",
            took.as_secs_f64()
        ));
        Ok(Ok(format!("JobSet kaic-operator ran its Job and reached Completed in {:.1}s", took.as_secs_f64())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::CheckOptions;

    #[tokio::test]
    async fn the_twins_differ_only_in_the_success_policy_target() {
        let ctx = CheckContext::offline("robust_controller", CheckOptions::default());
        let (valid, invalid) = (JobSet.twin(&ctx, API_VERSION, true), JobSet.twin(&ctx, API_VERSION, false));
        assert_eq!(valid["spec"]["successPolicy"]["targetReplicatedJobs"], json!(["workers"]));
        assert_eq!(invalid["spec"]["successPolicy"]["targetReplicatedJobs"], json!(["kaic-missing"]));
        let mut patched = invalid.clone();
        patched["spec"]["successPolicy"]["targetReplicatedJobs"] = json!(["workers"]);
        assert_eq!(patched, valid);
        assert_eq!(valid["spec"]["replicatedJobs"][0]["name"], "workers");
        assert_eq!(valid["metadata"]["labels"]["kaic.dev/run-id"], "r1");
    }
}
