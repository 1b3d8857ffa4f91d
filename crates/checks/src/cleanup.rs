//! Cleanup: delete what kaic created, selected by kaic's labels and by nothing else. Runs after every
//! check, after Ctrl-C or a timeout, and as `kaic cleanup` for leftovers of killed runs.

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::resource::v1::{DeviceClass, ResourceSlice};
use kube::api::{DeleteParams, DynamicObject, ListParams};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;

use crate::labels;

/// What a cleanup deleted, by kind, and what it could not delete.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CleanupReport {
    pub deleted: Vec<String>,
    pub failed: Vec<String>,
}

/// Which runs to clean up.
#[derive(Debug, Clone)]
pub enum Scope {
    /// Everything any kaic run created.
    AllRuns,
    /// What one run created.
    Run(String),
}

impl Scope {
    fn selector(&self) -> String {
        match self {
            Scope::AllRuns => labels::all_runs_selector(),
            Scope::Run(id) => labels::run_selector(id),
        }
    }
}

/// Deletes every labelled namespace (with everything in it) and labelled cluster-scoped object in scope.
/// Deletion is started, not awaited: namespaces finish terminating on their own.
pub async fn clean(client: &Client, scope: &Scope) -> CleanupReport {
    let selector = scope.selector();
    let mut report = CleanupReport::default();
    delete_all::<Namespace>(client, &selector, &mut report).await;
    delete_all::<ResourceSlice>(client, &selector, &mut report).await;
    delete_all::<DeviceClass>(client, &selector, &mut report).await;
    for (group, kinds) in ADD_ON_CLUSTER_KINDS {
        delete_all_dynamic(client, group, kinds, &selector, &mut report).await;
    }
    report
}

/// Cluster-scoped kinds of add-ons (not typed in k8s-openapi) that checks create, by API group, in deletion
/// order: a Kueue ClusterQueue before the ResourceFlavor it names.
const ADD_ON_CLUSTER_KINDS: &[(&str, &[&str])] = &[("kueue.x-k8s.io", &["ClusterQueue", "ResourceFlavor"])];

/// Like [`delete_all`] for kinds found through discovery; a group or kind the server does not serve is skipped.
async fn delete_all_dynamic(client: &Client, group: &str, kinds: &[&str], selector: &str, report: &mut CleanupReport) {
    let apigroup = match kube::discovery::group(client, group).await {
        Ok(apigroup) => apigroup,
        Err(kube::Error::Discovery(_)) => return,
        Err(kube::Error::Api(status)) if status.code == 404 => return,
        Err(e) => {
            report.failed.push(format!("{group}: failed to discover: {e}"));
            return;
        }
    };
    for kind in kinds {
        let Some((resource, capabilities)) = apigroup.recommended_kind(kind) else { continue };
        if capabilities.scope != kube::discovery::Scope::Cluster {
            continue;
        }
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
        delete_labelled(&api, kind, selector, report).await;
    }
}

async fn delete_all<K>(client: &Client, selector: &str, report: &mut CleanupReport)
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::ClusterResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = Api::all(client.clone());
    delete_labelled(&api, &K::kind(&()), selector, report).await;
}

/// Deletes the objects of one kind that carry `selector`, skipping those already being deleted. A kind
/// the server does not serve (e.g. no DRA) has nothing of kaic's in it.
async fn delete_labelled<K>(api: &Api<K>, kind: &str, selector: &str, report: &mut CleanupReport)
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    let list = match api.list_metadata(&ListParams::default().labels(selector)).await {
        Ok(list) => list,
        Err(kube::Error::Api(status)) if status.code == 404 => return,
        Err(e) => {
            report.failed.push(format!("{kind}: failed to list: {e}"));
            return;
        }
    };
    for item in list.items {
        let Some(name) = item.metadata.name else { continue };
        if item.metadata.deletion_timestamp.is_some() {
            continue;
        }
        match api.delete(&name, &DeleteParams::background()).await {
            Ok(_) => report.deleted.push(format!("{kind}/{name}")),
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(e) => report.failed.push(format!("{kind}/{name}: {e}")),
        }
    }
}
