//! Preflight: before any check runs, learn the server version and choose the catalogue, discover which
//! capabilities the API offers, find the permissions kaic lacks, and spot leftovers of earlier runs.

use futures::{StreamExt, stream};
use k8s_openapi::api::authorization::v1::{ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::version::Info;
use kaic_model::ConformanceVersion;
use kube::api::{ListParams, PostParams};
use kube::{Api, Client};

use crate::capability::Capabilities;
use crate::{labels, rbac};

/// What preflight learnt.
#[derive(Debug, Clone)]
pub struct Preflight {
    pub server_version: String,
    pub conformance_version: ConformanceVersion,
    /// Why this catalogue was chosen, when it is not simply the server's minor.
    pub catalogue_note: Option<String>,
    pub capabilities: Capabilities,
    /// Permissions kaic needs and was denied, as `verb resource.group`.
    pub missing_permissions: Vec<String>,
    /// Namespaces left by earlier kaic runs (`kaic cleanup` removes them).
    pub leftovers: Vec<String>,
}

/// Why preflight cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum PreflightError {
    #[error(
        "the server is Kubernetes {server}, older than the oldest catalogue ({oldest}): pass --conformance-version to check it against one anyway"
    )]
    ServerTooOld { server: String, oldest: ConformanceVersion },
    #[error("failed to discover the served APIs: {0}: check that kaic may read the discovery endpoints (/apis)")]
    Discovery(String),
    #[error(
        "kaic may not create namespaces (denied: {denied}): every check runs in a namespace of its own; grant kaic's identity the permissions listed in the README"
    )]
    CannotCreateNamespaces { denied: String },
}

/// Chooses the catalogue for a server version, honouring an explicit choice.
///
/// # Errors
/// [`PreflightError::ServerTooOld`] when the server predates every catalogue and no version was given.
pub fn choose_catalogue(
    server: &Info,
    requested: Option<ConformanceVersion>,
) -> Result<(ConformanceVersion, Option<String>), PreflightError> {
    let minor = server_minor(server);
    let server_name = minor.map_or_else(|| server.git_version.clone(), |m| format!("1.{m}"));
    if let Some(version) = requested {
        let note = (minor != Some(version.minor()))
            .then(|| format!("catalogue {version} chosen with --conformance-version; the server is {server_name}"));
        return Ok((version, note));
    }
    match minor {
        Some(m) if m > ConformanceVersion::NEWEST.minor() => Ok((
            ConformanceVersion::NEWEST,
            Some(format!(
                "the server is {server_name}, newer than the newest catalogue kaic knows: using {}",
                ConformanceVersion::NEWEST
            )),
        )),
        Some(m) => ConformanceVersion::for_minor(m)
            .map(|v| (v, None))
            .ok_or(PreflightError::ServerTooOld { server: server_name, oldest: ConformanceVersion::ALL[0] }),
        None => Ok((
            ConformanceVersion::NEWEST,
            Some(format!("the server version '{server_name}' could not be read: using {}", ConformanceVersion::NEWEST)),
        )),
    }
}

/// The server's minor version: `minor` ("37", or "37+" on some providers), else parsed from `gitVersion`.
fn server_minor(info: &Info) -> Option<u32> {
    let digits = |s: &str| s.chars().take_while(char::is_ascii_digit).collect::<String>().parse().ok();
    digits(&info.minor).or_else(|| info.git_version.trim_start_matches('v').split('.').nth(1).and_then(digits))
}

/// Runs preflight against a connected cluster.
///
/// # Errors
/// [`PreflightError`] when the checks cannot run at all.
pub async fn run(
    client: &Client,
    server: &Info,
    requested: Option<ConformanceVersion>,
) -> Result<Preflight, PreflightError> {
    let (conformance_version, catalogue_note) = choose_catalogue(server, requested)?;
    let capabilities = discover(client).await?;
    let missing_permissions = missing_permissions(client, &capabilities).await;
    let blockers = namespace_blockers(&missing_permissions);
    if !blockers.is_empty() {
        return Err(PreflightError::CannotCreateNamespaces { denied: blockers.join(", ") });
    }
    let leftovers = leftover_namespaces(client).await;
    Ok(Preflight {
        server_version: server.git_version.clone(),
        conformance_version,
        catalogue_note,
        capabilities,
        missing_permissions,
        leftovers,
    })
}

/// Lists the served API groups and versions and derives the capabilities.
async fn discover(client: &Client) -> Result<Capabilities, PreflightError> {
    let groups = client.list_api_groups().await.map_err(|e| PreflightError::Discovery(e.to_string()))?;
    let served: Vec<(&str, Vec<&str>)> = groups
        .groups
        .iter()
        .map(|g| (g.name.as_str(), g.versions.iter().map(|v| v.version.as_str()).collect()))
        .collect();
    Ok(Capabilities::from_groups(served))
}

/// Reviews asked at once: enough to be quick, few enough not to burst an API server (the table has ~80).
const CONCURRENT_REVIEWS: usize = 16;

/// Asks the API server, one SelfSubjectAccessReview per verb of each permission in [`rbac::PERMISSIONS`]
/// the cluster's capabilities call for, which ones kaic lacks, as `verb resource.group`, in table order.
/// A review without a namespace asks about every namespace, which is what kaic needs. A review that cannot
/// be made at all counts as missing, so the report says so.
async fn missing_permissions(client: &Client, capabilities: &Capabilities) -> Vec<String> {
    let api: Api<SelfSubjectAccessReview> = Api::all(client.clone());
    let reviews = rbac::needed(capabilities).map(|(permission, verb)| {
        let api = api.clone();
        async move {
            let (resource, subresource) = match permission.resource.split_once('/') {
                Some((r, s)) => (r, Some(s.to_string())),
                None => (permission.resource, None),
            };
            let review = SelfSubjectAccessReview {
                spec: SelfSubjectAccessReviewSpec {
                    resource_attributes: Some(ResourceAttributes {
                        verb: Some(verb.to_string()),
                        group: Some(permission.group.to_string()),
                        resource: Some(resource.to_string()),
                        subresource,
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                ..Default::default()
            };
            let allowed = api
                .create(&PostParams::default(), &review)
                .await
                .ok()
                .and_then(|r| r.status)
                .is_some_and(|s| s.allowed);
            (!allowed).then(|| format!("{verb} {}", permission.name()))
        }
    });
    stream::iter(reviews).buffered(CONCURRENT_REVIEWS).filter_map(std::future::ready).collect().await
}

/// The denied permissions without which nothing can run: each check needs a namespace of its own, and kaic
/// must be able to remove it again.
fn namespace_blockers(missing: &[String]) -> Vec<&str> {
    missing.iter().map(String::as_str).filter(|p| matches!(*p, "create namespaces" | "delete namespaces")).collect()
}

/// Namespaces created by earlier kaic runs that still exist.
async fn leftover_namespaces(client: &Client) -> Vec<String> {
    let api: Api<Namespace> = Api::all(client.clone());
    match api.list_metadata(&ListParams::default().labels(&labels::all_runs_selector())).await {
        Ok(list) => list.items.into_iter().filter_map(|ns| ns.metadata.name).collect(),
        Err(e) => {
            tracing::warn!("failed to list namespaces left by earlier runs: {e}");
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(minor: &str, git: &str) -> Info {
        Info { minor: minor.into(), git_version: git.into(), major: "1".into(), ..Default::default() }
    }

    #[test]
    fn server_minor_picks_its_catalogue() {
        assert_eq!(choose_catalogue(&info("34", "v1.34.2"), None).unwrap(), (ConformanceVersion::V1_34, None));
        assert_eq!(choose_catalogue(&info("35+", "v1.35.1-gke.1"), None).unwrap().0, ConformanceVersion::V1_35);
    }

    #[test]
    fn newer_server_uses_the_newest_catalogue_and_says_so() {
        // 1.37 is the newest catalogue: a 1.37 server gets its own, silently.
        assert_eq!(choose_catalogue(&info("37", "v1.37.2"), None).unwrap(), (ConformanceVersion::V1_37, None));
        let (version, note) = choose_catalogue(&info("38", "v1.38.0"), None).unwrap();
        assert_eq!(version, ConformanceVersion::V1_37);
        assert_eq!(note.unwrap(), "the server is 1.38, newer than the newest catalogue kaic knows: using 1.37");
    }

    #[test]
    fn older_server_is_refused_unless_a_version_is_given() {
        let err = choose_catalogue(&info("32", "v1.32.0"), None).unwrap_err();
        assert!(err.to_string().contains("older than the oldest catalogue (1.33)"));
        let (version, note) = choose_catalogue(&info("32", "v1.32.0"), Some(ConformanceVersion::V1_33)).unwrap();
        assert_eq!(version, ConformanceVersion::V1_33);
        assert!(note.unwrap().contains("--conformance-version"));
    }

    #[test]
    fn only_namespace_creation_and_deletion_stop_the_run() {
        let missing = ["watch namespaces", "create namespaces", "list nodes", "delete namespaces"].map(String::from);
        assert_eq!(namespace_blockers(&missing), vec!["create namespaces", "delete namespaces"]);
        assert!(namespace_blockers(&["get namespaces".to_string(), "create pods".to_string()]).is_empty());
    }

    #[test]
    fn minor_falls_back_to_git_version() {
        assert_eq!(server_minor(&info("", "v1.36.3")), Some(36));
        assert_eq!(server_minor(&info("", "garbage")), None);
    }
}
