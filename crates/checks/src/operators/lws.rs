//! LeaderWorkerSet as an AI operator of `robust_controller`. The invalid object is a LeaderWorkerSet whose
//! group size is 0: the CRD schema sets no minimum and only LWS's validating webhook
//! (`vleaderworkerset.kb.io`) requires at least the leader. The reconciled object is a LeaderWorkerSet of
//! one group of one pod, which LWS's controller must report `Available` once the leader pod is ready.

use kube::Api;
use kube::api::DynamicObject;
use serde_json::{Value, json};

use super::robust_controller::{Operator, create_until_condition, pinned_api};
use crate::capability::Capability;
use crate::check::{CheckContext, CheckError};
use crate::timeouts::Wait;

const GROUP: &str = "leaderworkerset.x-k8s.io";
const VERSION: &str = "v1";
const API_VERSION: &str = "leaderworkerset.x-k8s.io/v1";

pub struct LeaderWorkerSet;

impl LeaderWorkerSet {
    /// A LeaderWorkerSet of one group of `size` pods running the pause image.
    fn object(ctx: &CheckContext, api_version: &str, name: &str, size: u32) -> Value {
        json!({
            "apiVersion": api_version, "kind": "LeaderWorkerSet",
            "metadata": {"name": name, "labels": ctx.labels()},
            "spec": {
                "replicas": 1,
                "leaderWorkerTemplate": {
                    "size": size,
                    "workerTemplate": {"metadata": {"labels": ctx.labels()}, "spec": crate::pods::hardened(json!({
                        "terminationGracePeriodSeconds": 0,
                        "containers": [{"name": "main", "image": ctx.options.pause_image}]
                    }))}
                }
            }
        })
    }
}

#[async_trait::async_trait]
impl Operator for LeaderWorkerSet {
    fn name(&self) -> &'static str {
        "LeaderWorkerSet"
    }

    fn capability(&self) -> Capability {
        Capability::LeaderWorkerSet
    }

    fn group(&self) -> &'static str {
        GROUP
    }

    fn webhook_resource(&self) -> &'static str {
        "leaderworkersets"
    }

    async fn twin_api(&self, ctx: &CheckContext) -> Result<(Api<DynamicObject>, String), CheckError> {
        Ok((pinned_api(ctx, GROUP, VERSION, "LeaderWorkerSet").await?, API_VERSION.to_string()))
    }

    fn twin(&self, ctx: &CheckContext, api_version: &str, valid: bool) -> Value {
        Self::object(ctx, api_version, "operator-dry-run", if valid { 1 } else { 0 })
    }

    fn invalid_twin(&self) -> String {
        "a LeaderWorkerSet whose groups have size 0".into()
    }

    async fn reconcile(&self, ctx: &CheckContext) -> Result<Result<String, (String, String)>, CheckError> {
        let api = pinned_api(ctx, GROUP, VERSION, "LeaderWorkerSet").await?;
        let object = Self::object(ctx, API_VERSION, "kaic-operator", 1);
        let took = match create_until_condition(ctx, &api, object, "Available", None, ctx.wait(Wait::OperatorReconcile))
            .await?
        {
            Ok(took) => took,
            Err(failure) => return Ok(Err(failure)),
        };
        ctx.record(|e| e.timing("LeaderWorkerSet: created to Available", took));
        ctx.step(format!("LeaderWorkerSet: kaic-operator became Available {:.1}s after creation", took.as_secs_f64()));
        Ok(Ok(format!(
            "LeaderWorkerSet kaic-operator started its leader and became Available in {:.1}s",
            took.as_secs_f64()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::CheckOptions;

    #[tokio::test]
    async fn the_twins_differ_only_in_the_group_size() {
        let ctx = CheckContext::offline("robust_controller", CheckOptions::default());
        let (valid, invalid) =
            (LeaderWorkerSet.twin(&ctx, API_VERSION, true), LeaderWorkerSet.twin(&ctx, API_VERSION, false));
        assert_eq!(valid["spec"]["leaderWorkerTemplate"]["size"], 1);
        let mut patched = invalid.clone();
        patched["spec"]["leaderWorkerTemplate"]["size"] = json!(1);
        assert_eq!(patched, valid);
        assert_eq!(invalid["spec"]["leaderWorkerTemplate"]["size"], 0);
    }
}
