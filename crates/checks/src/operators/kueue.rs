//! Kueue as the AI operator of `robust_controller`. The invalid object is a ResourceFlavor whose node taint
//! value is not a valid label value: Kueue's CRD schema accepts any string there and only its validating
//! webhook (`vresourceflavor.kb.io`) checks it, so the denial shows the webhook at work. The reconciled
//! object is a ClusterQueue, which Kueue's controller marks `Active` once its ResourceFlavor exists.

use std::time::{Duration, Instant};

use kube::Api;
use kube::api::{DynamicObject, PostParams};
use serde_json::{Value, json};

use super::robust_controller::{
    Admission, ClusterView, OperatorResult, classify, covering, established, webhook_backends,
};
use crate::check::{CheckContext, CheckError, from_json};
use crate::scheduling::gang_scheduling::kueue::{Apis, QueueView, create_dynamic};
use crate::wait;

const GROUP: &str = "kueue.x-k8s.io";
/// How long Kueue's controller may take to mark a valid ClusterQueue Active.
const RECONCILE_TIMEOUT: Duration = Duration::from_secs(60);

/// A ResourceFlavor tainting nodes with `taint_value`; only the value differs between the valid and the
/// invalid twin.
fn flavor_with_taint(ctx: &CheckContext, api_version: &str, taint_value: &str) -> Value {
    json!({
        "apiVersion": api_version, "kind": "ResourceFlavor",
        "metadata": {"name": ctx.cluster_name("operator-dry-run"), "labels": ctx.labels()},
        "spec": {"nodeTaints": [{"key": "kaic.dev/robust-controller", "value": taint_value, "effect": "NoSchedule"}]}
    })
}

/// A server-side dry run of creating `value`: what admission said.
async fn dry_run(api: &Api<DynamicObject>, value: Value) -> Result<Admission, CheckError> {
    let object: DynamicObject = from_json(value)?;
    match api.create(&PostParams { dry_run: true, ..PostParams::default() }, &object).await {
        Ok(_) => Ok(Admission::Accepted),
        Err(kube::Error::Api(status)) => Ok(classify(&status.message)),
        Err(e) => Err(CheckError::api("dry-run create ResourceFlavor", e)),
    }
}

/// Exercises Kueue: CRDs, webhook and its pods, webhook denial, reconciliation.
///
/// # Errors
/// [`CheckError`] when an API call fails for another reason than the behaviour under test.
pub async fn run(ctx: &CheckContext) -> Result<OperatorResult, CheckError> {
    let view = ClusterView::read(ctx).await?;

    // 1. CRDs Established.
    let crds = established(&view.crds, GROUP);
    if crds.is_empty() {
        return Ok(OperatorResult::Error(format!("{GROUP} is served but no CustomResourceDefinition of it is listed")));
    }
    let pending: Vec<&str> = crds.iter().filter(|(_, ok)| !ok).map(|(name, _)| name.as_str()).collect();
    if !pending.is_empty() {
        return Ok(OperatorResult::Fail {
            reason: format!("{} of {} CRDs of {GROUP} are not Established", pending.len(), crds.len()),
            expected: format!("every CRD of {GROUP} Established"),
            observed: format!("not Established: {}", pending.join(", ")),
        });
    }
    ctx.step(format!("Kueue: all {} CRDs of {GROUP} are Established", crds.len()));

    // 2. A validating webhook covers ResourceFlavors, and its pods run.
    let hooks = covering(&view.webhooks, GROUP, "resourceflavors");
    if hooks.is_empty() {
        return Ok(OperatorResult::Fail {
            reason: format!("no validating webhook covers CREATE of {GROUP} resourceflavors"),
            expected: "Kueue's validating webhook (vresourceflavor.kb.io) registered for ResourceFlavors".into(),
            observed: format!("none of the {} ValidatingWebhookConfigurations covers them", view.webhooks.len()),
        });
    }
    for hook in &hooks {
        match webhook_backends(ctx, hook).await? {
            Ok(where_) => ctx.step(format!("Kueue: validating webhook {} is {where_}", hook.name)),
            Err(missing) => {
                return Ok(OperatorResult::Fail {
                    reason: "the operator's webhook has no running pod behind it".into(),
                    expected: format!("ready pods behind webhook {}", hook.name),
                    observed: missing,
                });
            }
        }
    }

    // 3. The webhook, not the schema, denies an invalid object; its valid twin is admitted.
    let apis = Apis::discover(ctx).await?;
    let flavors = Api::<DynamicObject>::all_with(ctx.client.clone(), &apis.flavors);
    let api_version = apis.flavors.api_version.clone();
    let invalid_value = "not a label value!";
    match dry_run(&flavors, flavor_with_taint(ctx, &api_version, "valid")).await? {
        Admission::Accepted => {}
        other => {
            return Ok(OperatorResult::Error(format!(
                "the valid twin of kaic's invalid ResourceFlavor was refused, so kaic cannot tell the webhook from \
                 schema validation: {other:?}"
            )));
        }
    }
    match dry_run(&flavors, flavor_with_taint(ctx, &api_version, invalid_value)).await? {
        Admission::DeniedByWebhook { webhook, message } => {
            ctx.step(format!(
                "Kueue: dry run of a ResourceFlavor with taint value {invalid_value:?} denied by admission webhook \
                 {webhook}: {message}; the same object with value \"valid\" was admitted"
            ));
            ctx.record(|e| e.value("Kueue: webhook denial", format!("{webhook}: {message}")));
        }
        Admission::Accepted => {
            return Ok(OperatorResult::Fail {
                reason: "the operator's webhook admitted an invalid object".into(),
                expected: format!(
                    "a ResourceFlavor with node taint value {invalid_value:?} denied by a validating admission webhook"
                ),
                observed: format!(
                    "admitted (server-side dry run, nothing stored); webhooks covering ResourceFlavors: {}",
                    hooks.iter().map(|h| h.name.as_str()).collect::<Vec<_>>().join(", ")
                ),
            });
        }
        Admission::Refused(message) => {
            return Ok(OperatorResult::Error(format!(
                "kaic's invalid ResourceFlavor was refused without a webhook, so the webhook was not exercised: {message}"
            )));
        }
    }

    // 4. The controller reconciles a valid object.
    let name = ctx.cluster_name("operator");
    create_dynamic(
        ctx,
        &flavors,
        json!({"apiVersion": api_version, "kind": "ResourceFlavor", "metadata": {"name": name, "labels": ctx.labels()}, "spec": {}}),
    )
    .await?;
    let queues = Api::<DynamicObject>::all_with(ctx.client.clone(), &apis.cluster_queues);
    let created = Instant::now();
    create_dynamic(
        ctx,
        &queues,
        json!({
            "apiVersion": apis.cluster_queues.api_version, "kind": "ClusterQueue",
            "metadata": {"name": name, "labels": ctx.labels()},
            "spec": {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ctx.namespace}},
                "resourceGroups": [{"coveredResources": ["cpu"], "flavors": [{"name": name, "resources": [{"name": "cpu", "nominalQuota": "1"}]}]}]
            }
        }),
    )
    .await?;
    let conditions = |q: &DynamicObject| format!("conditions: {}", q.data["status"]["conditions"]);
    match wait::until(
        &queues,
        &name,
        "the ClusterQueue to become Active",
        RECONCILE_TIMEOUT,
        |q: Option<&DynamicObject>| q.is_some_and(|q| QueueView::parse(q).active),
        conditions,
    )
    .await
    {
        Ok(queue) => ctx.object(&format!("ClusterQueue-{name}-active"), &queue),
        Err(CheckError::Timeout { last_seen, .. }) => {
            return Ok(OperatorResult::Fail {
                reason: "the operator's controller did not reconcile a valid object".into(),
                expected: format!("ClusterQueue {name} Active within {}s", RECONCILE_TIMEOUT.as_secs()),
                observed: last_seen,
            });
        }
        Err(e) => return Err(e),
    }
    let took = created.elapsed();
    ctx.record(|e| e.timing("Kueue: ClusterQueue created to Active", took));
    ctx.step(format!("Kueue: ClusterQueue {name} became Active {} ms after creation", took.as_millis()));
    Ok(OperatorResult::Pass(format!(
        "{} CRDs Established; webhook {} denied an invalid ResourceFlavor that schema validation admits; ClusterQueue {name} \
         reconciled to Active in {} ms",
        crds.len(),
        hooks[0].name,
        took.as_millis()
    )))
}
