//! The native solution: Kubernetes 1.37's `scheduling.k8s.io/v1beta1` Workload and PodGroup with a gang
//! policy, pods joined to the group through `spec.schedulingGroup.podGroupName` (shape verified against a
//! v1.37.2 API server's OpenAPI: `PodGroupSpec.schedulingPolicy.gang.minCount`, `PodGroupSpec.workloadRef`,
//! `WorkloadSpec.podGroupTemplates`, `PodSpec.schedulingGroup`). The default scheduler enforces the gang;
//! the cases themselves are [`super::pod_group`]'s.

use k8s_openapi::api::scheduling::v1beta1::{PodGroup, Workload};
use kube::api::PostParams;
use kube::{Api, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::detect::NativeApi;
use super::pod_group::{GroupApi, Join};
use crate::capability::Capability;
use crate::check::{CheckContext, CheckError, from_json};

/// Whether `scheduling.k8s.io/v1beta1` serves Workloads and PodGroups, or only an alpha version does.
///
/// # Errors
/// [`CheckError::Api`] if discovery fails for another reason than the version not being served.
pub async fn served(ctx: &CheckContext) -> Result<NativeApi, CheckError> {
    match ctx.client.list_api_group_resources("scheduling.k8s.io/v1beta1").await {
        Ok(list) => {
            let has = |name: &str| list.resources.iter().any(|r| r.name == name);
            if has("workloads") && has("podgroups") {
                return Ok(NativeApi::V1beta1);
            }
        }
        Err(kube::Error::Api(status)) if status.code == 404 => {}
        Err(e) => return Err(CheckError::api("list scheduling.k8s.io/v1beta1 resources", e)),
    }
    Ok(if ctx.capabilities.has(Capability::NativeWorkload) { NativeApi::AlphaOnly } else { NativeApi::Absent })
}

async fn create<K>(ctx: &CheckContext, value: Value) -> Result<K, CheckError>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + std::fmt::Debug
        + Serialize
        + DeserializeOwned,
{
    let object: K = from_json(value)?;
    let name = object.meta().name.clone().unwrap_or_default();
    let api: Api<K> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let created = api
        .create(&PostParams::default(), &object)
        .await
        .map_err(|e| CheckError::api(format!("create {} {name}", K::kind(&())), e))?;
    ctx.object(&format!("{}-{name}", K::kind(&())), &created);
    Ok(created)
}

/// The native Workload/PodGroup API, driven through the default scheduler.
pub struct NativeGroups;

#[async_trait::async_trait]
impl GroupApi for NativeGroups {
    fn tag(&self) -> &'static str {
        "native"
    }

    fn policy(&self, min_member: usize) -> String {
        format!("gang minCount {min_member}")
    }

    /// Creates the Workload (one gang template) and the PodGroup the pods join.
    async fn create_group(&self, ctx: &CheckContext, name: &str, min_member: usize) -> Result<(), CheckError> {
        let gang = json!({"gang": {"minCount": min_member}});
        create::<Workload>(
            ctx,
            json!({
                "metadata": {"name": name, "labels": ctx.labels()},
                "spec": {"podGroupTemplates": [{"name": "workers", "schedulingPolicy": gang}]}
            }),
        )
        .await?;
        create::<PodGroup>(
            ctx,
            json!({
                "metadata": {"name": name, "labels": ctx.labels()},
                "spec": {"workloadRef": {"workloadName": name, "templateName": "workers"}, "schedulingPolicy": gang}
            }),
        )
        .await?;
        Ok(())
    }

    fn join(&self, name: &str) -> Join {
        Join { pod_spec: json!({"schedulingGroup": {"podGroupName": name}}), ..Join::default() }
    }

    async fn group_state(&self, ctx: &CheckContext, name: &str) -> String {
        match Api::<PodGroup>::namespaced(ctx.client.clone(), &ctx.namespace).get(name).await {
            Ok(group) => {
                ctx.object(&format!("PodGroup-{name}"), &group);
                describe_group(&group)
            }
            Err(e) => format!("PodGroup {name} could not be read: {e}"),
        }
    }
}

/// A PodGroup's conditions in one line.
pub fn describe_group(group: &PodGroup) -> String {
    let conditions = group.status.as_ref().and_then(|s| s.conditions.as_ref());
    let parts: Vec<String> = conditions
        .into_iter()
        .flatten()
        .map(|c| format!("{}={} {} {}", c.type_, c.status, c.reason, c.message).trim().to_string())
        .collect();
    format!(
        "PodGroup {}: {}",
        group.metadata.name.clone().unwrap_or_default(),
        if parts.is_empty() { "no conditions".to_string() } else { parts.join("; ") }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pods_join_through_scheduling_group() {
        let join = NativeGroups.join("native-big");
        assert_eq!(join.pod_spec, json!({"schedulingGroup": {"podGroupName": "native-big"}}));
        assert!(join.labels.is_empty() && join.annotations.is_empty());
        assert_eq!(NativeGroups.policy(4), "gang minCount 4");
    }

    #[test]
    fn describes_pod_groups() {
        let group: PodGroup = serde_json::from_value(json!({
            "metadata": {"name": "native-big"},
            "spec": {"schedulingPolicy": {"gang": {"minCount": 4}}},
            "status": {"conditions": [{"type": "PodGroupInitiallyScheduled", "status": "False", "reason": "Unschedulable",
                "message": "not enough capacity", "lastTransitionTime": "2026-11-23T10:00:00Z"}]}
        }))
        .unwrap();
        assert_eq!(
            describe_group(&group),
            "PodGroup native-big: PodGroupInitiallyScheduled=False Unschedulable not enough capacity"
        );
    }
}
