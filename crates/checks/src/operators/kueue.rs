//! Kueue as an AI operator of `robust_controller`. The invalid object is a ResourceFlavor whose node taint
//! value is not a valid label value: Kueue's CRD schema accepts any string there and only its validating
//! webhook (`vresourceflavor.kb.io`) checks it. The reconciled object is a ClusterQueue, which Kueue's
//! controller marks `Active` once its ResourceFlavor exists.

use kube::Api;
use kube::api::DynamicObject;
use serde_json::{Value, json};

use super::robust_controller::{Operator, create_until_condition};
use crate::capability::Capability;
use crate::check::{CheckContext, CheckError, create_dynamic};
use crate::scheduling::gang_scheduling::kueue::Apis;
use crate::timeouts::Wait;

const INVALID_TAINT_VALUE: &str = "not a label value!";

pub struct Kueue;

#[async_trait::async_trait]
impl Operator for Kueue {
    fn name(&self) -> &'static str {
        "Kueue"
    }

    fn capability(&self) -> Capability {
        Capability::Kueue
    }

    fn group(&self) -> &'static str {
        "kueue.x-k8s.io"
    }

    fn webhook_resource(&self) -> &'static str {
        "resourceflavors"
    }

    async fn twin_api(&self, ctx: &CheckContext) -> Result<(Api<DynamicObject>, String), CheckError> {
        let apis = Apis::discover(ctx).await?;
        Ok((Api::all_with(ctx.client.clone(), &apis.flavors), apis.flavors.api_version))
    }

    fn twin(&self, ctx: &CheckContext, api_version: &str, valid: bool) -> Value {
        let value = if valid { "valid" } else { INVALID_TAINT_VALUE };
        json!({
            "apiVersion": api_version, "kind": "ResourceFlavor",
            "metadata": {"name": ctx.cluster_name("operator-dry-run"), "labels": ctx.labels()},
            "spec": {"nodeTaints": [{"key": "kaic.dev/robust-controller", "value": value, "effect": "NoSchedule"}]}
        })
    }

    fn invalid_twin(&self) -> String {
        format!("a ResourceFlavor with node taint value {INVALID_TAINT_VALUE:?}")
    }

    async fn reconcile(&self, ctx: &CheckContext) -> Result<Result<String, (String, String)>, CheckError> {
        let apis = Apis::discover(ctx).await?;
        let name = ctx.cluster_name("operator");
        let flavors = Api::<DynamicObject>::all_with(ctx.client.clone(), &apis.flavors);
        create_dynamic(
            ctx,
            &flavors,
            json!({"apiVersion": apis.flavors.api_version, "kind": "ResourceFlavor",
                   "metadata": {"name": name, "labels": ctx.labels()}, "spec": {}}),
        )
        .await?;
        let queues = Api::<DynamicObject>::all_with(ctx.client.clone(), &apis.cluster_queues);
        let queue = json!({
            "apiVersion": apis.cluster_queues.api_version, "kind": "ClusterQueue",
            "metadata": {"name": name, "labels": ctx.labels()},
            "spec": {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ctx.namespace}},
                "resourceGroups": [{"coveredResources": ["cpu"],
                    "flavors": [{"name": name, "resources": [{"name": "cpu", "nominalQuota": "1"}]}]}]
            }
        });
        let took =
            match create_until_condition(ctx, &queues, queue, "Active", None, ctx.wait(Wait::QueueActive)).await? {
                Ok(took) => took,
                Err(failure) => return Ok(Err(failure)),
            };
        ctx.record(|e| e.timing("Kueue: ClusterQueue created to Active", took));
        ctx.step(format!("Kueue: ClusterQueue {name} became Active {} ms after creation", took.as_millis()));
        Ok(Ok(format!("ClusterQueue {name} reconciled to Active in {} ms", took.as_millis())))
    }
}
