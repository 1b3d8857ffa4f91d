//! `robust_controller`: an AI operator with CRDs and webhooks works. For each operator kaic can exercise
//! (an [`Operator`]: Kueue in [`super::kueue`], JobSet in [`super::jobset`], LeaderWorkerSet in
//! [`super::lws`]), [`exercise`] checks that:
//!
//! 1. its CRDs are Established;
//! 2. a validating webhook covers its objects, and the pods behind the webhook's Service are Ready (a
//!    webhook served by URL, from outside the cluster, is named instead);
//! 3. the **webhook**, not schema validation, rejects an invalid object: a server-side dry run of an object
//!    that differs from a valid twin in one field only the webhook checks must be denied with
//!    `admission webhook "<name>" denied the request`, while the same dry run of the twin is accepted. Dry
//!    runs persist nothing, so a broken webhook leaves no object behind;
//! 4. its controller reconciles a valid object to its ready condition.
//!
//! Other operators kaic recognises (KubeRay, Kubeflow Trainer) are named with what to verify by hand. The requirement asks for one working operator: one that passes is enough; one that
//! fails is reported with the pass of another; none exercisable is unknown, never a false fail.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kaic_model::Verdict;
use kaic_model::solutions::{self, SolutionResult, Subject};
use kube::Api;
use kube::api::ListParams;

use kube::api::{DynamicObject, PostParams};
use serde_json::Value;

use super::{jobset, kueue, lws};
use crate::capability::Capability;
use crate::check::{Check, CheckContext, CheckError, create_dynamic, from_json, pinned_resource};
use crate::timeouts::Wait;
use crate::wait;

pub struct RobustController;

/// Operators kaic recognises but does not exercise yet: (capability, name, API group).
const BY_HAND: [(Capability, &str, &str); 2] = [
    (Capability::KubeRay, "KubeRay", "ray.io"),
    (Capability::KubeflowTrainer, "Kubeflow Trainer", "trainer.kubeflow.org"),
];

/// How one exercised operator fared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OperatorResult {
    Pass(String),
    Fail {
        reason: String,
        expected: String,
        observed: String,
    },
    /// Its API is there but the operator does not run (CRDs left behind, no webhook, no pods behind it).
    NotOperational(String),
    Error(String),
}

impl OperatorResult {
    /// The result in the model's terms, for the one roll-up policy and the evidence.
    pub fn to_solution(&self, name: &str) -> SolutionResult {
        match self {
            Self::Pass(summary) => SolutionResult::pass(name, summary.as_str()),
            Self::Fail { reason, expected, observed } => {
                SolutionResult::fail(name, reason.as_str(), expected.as_str(), observed.as_str())
            }
            Self::NotOperational(why) => SolutionResult::not_operational(name, why.as_str()),
            Self::Error(cause) => SolutionResult::error(name, cause.as_str()),
        }
    }
}

#[async_trait::async_trait]
impl Check for RobustController {
    fn id(&self) -> &'static str {
        "robust_controller"
    }

    fn requirements(&self) -> &'static [&'static str] {
        &["robust_controller"]
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(480)
    }

    fn waits(&self) -> &'static [(Wait, u32)] {
        // Kueue's ClusterQueue, then the JobSet and the LeaderWorkerSet, one after the other.
        &[(Wait::QueueActive, 1), (Wait::OperatorReconcile, 2)]
    }

    fn creates(&self) -> &'static [&'static str] {
        &[
            "Kueue: server-side dry runs of two ResourceFlavors (persist nothing); ResourceFlavor and ClusterQueue \
             kaic-operator-<run> (the ClusterQueue admits only kaic's own namespace)",
            "JobSet: server-side dry runs of two JobSets (persist nothing); JobSet kaic-operator with one Job of one \
             pod that exits at once",
            "LeaderWorkerSet: server-side dry runs of two LeaderWorkerSets (persist nothing); LeaderWorkerSet \
             kaic-operator with one group of one pod (the pause image)",
        ]
    }

    async fn run(&self, ctx: &CheckContext) -> Result<Verdict, CheckError> {
        let by_hand: Vec<String> = BY_HAND
            .iter()
            .filter(|(capability, _, _)| ctx.capabilities.has(*capability))
            .map(|(_, name, group)| format!("{name} ({group})"))
            .collect();
        let operators: [&dyn Operator; 3] = [&kueue::Kueue, &jobset::JobSet, &lws::LeaderWorkerSet];
        let mut results = Vec::new();
        for operator in operators.into_iter().filter(|o| ctx.capabilities.has(o.capability())) {
            let result = exercise(ctx, operator).await.unwrap_or_else(|e| OperatorResult::Error(e.to_string()));
            // Kept as it comes: if a later operator hangs past the budget, this one's result still counts.
            ctx.record(|e| e.solution(result.to_solution(operator.name())));
            results.push((operator.name(), result));
        }
        ctx.record(|e| {
            let exercised = results.iter().map(|(name, _)| *name).collect::<Vec<_>>().join(", ");
            e.value("operators exercised", if exercised.is_empty() { "none".to_string() } else { exercised });
            if !by_hand.is_empty() {
                e.value("operators found but not exercised", by_hand.join(", "));
            }
        });
        Ok(roll_up(&results, &by_hand))
    }
}

/// One operator kaic exercises: where its API is, which object its webhook must refuse, and what its
/// controller must reconcile.
#[async_trait::async_trait]
pub trait Operator: Send + Sync {
    /// Its name in reports.
    fn name(&self) -> &'static str;
    fn capability(&self) -> Capability;
    /// Its API group.
    fn group(&self) -> &'static str;
    /// The resource (plural) whose validating webhook kaic exercises.
    fn webhook_resource(&self) -> &'static str;
    /// The API the dry-run twins go to, and the `apiVersion` they carry (the version discovered there).
    async fn twin_api(&self, ctx: &CheckContext) -> Result<(Api<DynamicObject>, String), CheckError>;
    /// The dry-run object: valid, or differing from the valid one in one field that only the webhook checks.
    fn twin(&self, ctx: &CheckContext, api_version: &str, valid: bool) -> Value;
    /// The invalid twin in words, for sentences.
    fn invalid_twin(&self) -> String;
    /// Creates a valid object and waits for its ready condition: `Ok(Ok(what happened))`, or
    /// `Ok(Err((expected, observed)))` when the controller did not reconcile it in time.
    async fn reconcile(&self, ctx: &CheckContext) -> Result<Result<String, (String, String)>, CheckError>;
}

/// The namespaced API of `kind` at `group`/`version`, in the check's namespace.
///
/// # Errors
/// [`CheckError::Other`] naming the version kaic drives when it is not served.
pub async fn pinned_api(
    ctx: &CheckContext,
    group: &str,
    version: &str,
    kind: &str,
) -> Result<Api<DynamicObject>, CheckError> {
    let resource = pinned_resource(ctx, group, version, kind).await?;
    Ok(Api::namespaced_with(ctx.client.clone(), &ctx.namespace, &resource))
}

/// Whether an object has a condition of `kind` that is True.
pub fn has_condition(object: &DynamicObject, kind: &str) -> bool {
    object.data["status"]["conditions"]
        .as_array()
        .is_some_and(|c| c.iter().any(|c| c["type"] == kind && c["status"] == "True"))
}

/// Creates `value` through `api`, records it, and waits until it has condition `ready` (or `failed`) True:
/// `Ok(Ok(time to ready))`, or `Ok(Err((expected, observed)))` when it failed or did not get there in time.
///
/// # Errors
/// [`CheckError`] when the object cannot be created or watched.
pub async fn create_until_condition(
    ctx: &CheckContext,
    api: &Api<DynamicObject>,
    value: Value,
    ready: &str,
    failed: Option<&str>,
    timeout: Duration,
) -> Result<Result<Duration, (String, String)>, CheckError> {
    let created = Instant::now();
    let stored = create_dynamic(ctx, api, value).await?;
    let name = stored.metadata.name.clone().unwrap_or_default();
    let kind = stored.types.as_ref().map(|t| t.kind.clone()).unwrap_or_default();
    let expected = format!("{kind} {name} {ready} within {}s", timeout.as_secs());
    let done = |o: Option<&DynamicObject>| {
        o.is_some_and(|o| has_condition(o, ready) || failed.is_some_and(|f| has_condition(o, f)))
    };
    let conditions = |o: &DynamicObject| format!("conditions: {}", o.data["status"]["conditions"]);
    let finished = match wait::until(api, &name, &format!("the {kind} to be {ready}"), timeout, done, conditions).await
    {
        Ok(object) => object,
        Err(CheckError::Timeout { last_seen, .. }) => return Ok(Err((expected, last_seen))),
        Err(e) => return Err(e),
    };
    ctx.object(&format!("{kind}-{name}-{ready}"), &finished);
    if !has_condition(&finished, ready) {
        return Ok(Err((expected, conditions(&finished))));
    }
    Ok(Ok(created.elapsed()))
}

/// A server-side dry run of creating `value`: what admission said.
async fn dry_run(api: &Api<DynamicObject>, value: Value) -> Result<Admission, CheckError> {
    let object: DynamicObject = from_json(value)?;
    match api.create(&PostParams { dry_run: true, ..PostParams::default() }, &object).await {
        Ok(_) => Ok(Admission::Accepted),
        Err(kube::Error::Api(status)) => Ok(classify(&status.message)),
        Err(e) => Err(CheckError::api("dry-run create", e)),
    }
}

/// Exercises one operator: CRDs Established, a webhook with running pods, the webhook's denial of the
/// invalid twin while the valid one is admitted, and reconciliation of a valid object.
///
/// # Errors
/// [`CheckError`] when an API call fails for another reason than the behaviour under test.
pub async fn exercise(ctx: &CheckContext, operator: &dyn Operator) -> Result<OperatorResult, CheckError> {
    let (name, group) = (operator.name(), operator.group());
    let view = ClusterView::read(ctx).await?;

    let crds = established(&view.crds, group);
    if crds.is_empty() {
        return Ok(OperatorResult::Error(format!("{group} is served but no CustomResourceDefinition of it is listed")));
    }
    let pending: Vec<&str> = crds.iter().filter(|(_, ok)| !ok).map(|(crd, _)| crd.as_str()).collect();
    if !pending.is_empty() {
        return Ok(OperatorResult::Fail {
            reason: format!("{} of {} CRDs of {group} are not Established", pending.len(), crds.len()),
            expected: format!("every CRD of {group} Established"),
            observed: format!("not Established: {}", pending.join(", ")),
        });
    }
    ctx.step(format!("{name}: {n} of {n} CRDs of {group} Established", n = crds.len()));

    let resource = operator.webhook_resource();
    let hooks = covering(&view.webhooks, group, resource);
    if hooks.is_empty() {
        // CRDs without a webhook: an operator uninstalled with its CRDs left behind looks exactly like this.
        return Ok(OperatorResult::NotOperational(format!(
            "its CRDs are Established but none of the {} ValidatingWebhookConfigurations covers CREATE of {group} \
             {resource}: the operator is not installed or not running",
            view.webhooks.len()
        )));
    }
    for hook in &hooks {
        match webhook_backends(ctx, hook).await? {
            Ok(where_) => ctx.step(format!("{name}: validating webhook {} is {where_}", hook.name)),
            Err(missing) => {
                return Ok(OperatorResult::NotOperational(format!(
                    "its webhook {} has no ready pod behind it, so the operator does not run: {missing}",
                    hook.name
                )));
            }
        }
    }

    let (api, api_version) = operator.twin_api(ctx).await?;
    let invalid = operator.invalid_twin();
    match dry_run(&api, operator.twin(ctx, &api_version, true)).await? {
        Admission::Accepted => {}
        other => {
            return Ok(OperatorResult::Error(format!(
                "the valid twin of kaic's invalid object was refused, so kaic cannot tell the webhook from schema \
                 validation: {other:?}"
            )));
        }
    }
    let denied_by = match dry_run(&api, operator.twin(ctx, &api_version, false)).await? {
        Admission::DeniedByWebhook { webhook, message } => {
            ctx.step(format!(
                "{name}: dry run of {invalid} denied by admission webhook {webhook}: {message}; its valid twin was admitted"
            ));
            ctx.record(|e| e.value(format!("{name}: webhook denial"), format!("{webhook}: {message}")));
            webhook
        }
        Admission::Accepted => {
            return Ok(OperatorResult::Fail {
                reason: "the operator's webhook admitted an invalid object".into(),
                expected: format!("{invalid} denied by a validating admission webhook"),
                observed: format!(
                    "admitted (server-side dry run, nothing stored); webhooks covering {resource}: {}",
                    hooks.iter().map(|h| h.name.as_str()).collect::<Vec<_>>().join(", ")
                ),
            });
        }
        Admission::Refused(message) => {
            return Ok(OperatorResult::Error(format!(
                "kaic's invalid object was refused without a webhook, so the webhook was not exercised: {message}"
            )));
        }
    };

    match operator.reconcile(ctx).await? {
        Ok(reconciled) => Ok(OperatorResult::Pass(format!(
            "CRDs Established ({}); webhook {denied_by} denied {invalid}, which schema validation admits; {reconciled}",
            crds.len()
        ))),
        Err((expected, observed)) => Ok(OperatorResult::Fail {
            reason: "the operator's controller did not reconcile a valid object".into(),
            expected,
            observed,
        }),
    }
}

/// What `robust_controller` is about, for the model's roll-up sentences.
const SUBJECT: Subject<'static> = Subject { works: "an AI operator works", kinds: "AI operators" };

/// Rolls up with the model's one policy: one passing operator meets the requirement and the others are
/// reported; operators installed that kaic does not exercise yet (`by_hand`) are undecided, never failed;
/// with nothing installed, unknown naming what to verify.
pub fn roll_up(results: &[(&str, OperatorResult)], by_hand: &[String]) -> Verdict {
    if results.is_empty() && by_hand.is_empty() {
        return kaic_model::installable::nothing_installed(
            "robust_controller",
            "Kueue, JobSet, LeaderWorkerSet, KubeRay, Kubeflow Trainer",
        );
    }
    let mut all: Vec<SolutionResult> = results.iter().map(|(name, r)| r.to_solution(name)).collect();
    all.extend(by_hand.iter().map(|name| {
        SolutionResult::unknown(
            name.as_str(),
            "kaic does not exercise it yet: verify by hand that its pods run, its CRDs are Established, its webhook \
             rejects an invalid object, and a valid object reaches its ready condition",
        )
    }));
    solutions::roll_up(SUBJECT, &all, &[])
}

/// The CRDs of `group` and whether each is Established: (name, established).
pub fn established(crds: &[CustomResourceDefinition], group: &str) -> Vec<(String, bool)> {
    crds.iter()
        .filter(|crd| crd.spec.group == group)
        .map(|crd| {
            let ok = crd
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| c.iter().any(|c| c.type_ == "Established" && c.status == "True"));
            (crd.metadata.name.clone().unwrap_or_default(), ok)
        })
        .collect()
}

/// Where a validating webhook that covers `resource` of `group` (on CREATE) is served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    /// The webhook's name (what the API server quotes when it denies).
    pub name: String,
    /// `Some((namespace, service))` when served by a Service in the cluster.
    pub service: Option<(String, String)>,
    /// The URL when served from outside the cluster.
    pub url: Option<String>,
}

/// The validating webhooks covering CREATE of `resource` in `group`.
pub fn covering(configs: &[ValidatingWebhookConfiguration], group: &str, resource: &str) -> Vec<Webhook> {
    let matches = |values: &Option<Vec<String>>, wanted: &str| {
        values.as_ref().is_some_and(|v| v.iter().any(|x| x == wanted || x == "*"))
    };
    configs
        .iter()
        .flat_map(|c| c.webhooks.iter().flatten())
        .filter(|w| {
            w.rules.iter().flatten().any(|r| {
                matches(&r.api_groups, group) && matches(&r.resources, resource) && matches(&r.operations, "CREATE")
            })
        })
        .map(|w| Webhook {
            name: w.name.clone(),
            service: w.client_config.service.as_ref().map(|s| (s.namespace.clone(), s.name.clone())),
            url: w.client_config.url.clone(),
        })
        .collect()
}

/// How the API server answered a dry-run create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    Accepted,
    /// Denied by the named admission webhook, with its message.
    DeniedByWebhook {
        webhook: String,
        message: String,
    },
    /// Refused before or without a webhook (schema, CEL rules, another admission plugin).
    Refused(String),
}

/// Classifies an API error message: the API server words webhook denials as
/// `admission webhook "<name>" denied the request: <message>`.
pub fn classify(message: &str) -> Admission {
    const PREFIX: &str = "admission webhook \"";
    if let Some(start) = message.find(PREFIX) {
        let rest = &message[start + PREFIX.len()..];
        if let Some((name, tail)) = rest.split_once('"')
            && let Some(denial) = tail.strip_prefix(" denied the request")
        {
            let text = denial.trim_start_matches(':').trim().to_string();
            return Admission::DeniedByWebhook { webhook: name.to_string(), message: text };
        }
    }
    Admission::Refused(message.to_string())
}

/// Lists CRDs and webhook configurations once, for the operators to look into.
pub struct ClusterView {
    pub crds: Vec<CustomResourceDefinition>,
    pub webhooks: Vec<ValidatingWebhookConfiguration>,
}

impl ClusterView {
    /// # Errors
    /// [`CheckError::Api`] when CRDs or webhook configurations cannot be listed.
    pub async fn read(ctx: &CheckContext) -> Result<Self, CheckError> {
        // Large clusters carry hundreds of CRDs (every operator's): page through them.
        let crds = crate::list::all(&Api::<CustomResourceDefinition>::all(ctx.client.clone()), ListParams::default())
            .await
            .map_err(|e| CheckError::api("list CustomResourceDefinitions", e))?;
        let webhooks =
            crate::list::all(&Api::<ValidatingWebhookConfiguration>::all(ctx.client.clone()), ListParams::default())
                .await
                .map_err(|e| CheckError::api("list ValidatingWebhookConfigurations", e))?;
        Ok(Self { crds, webhooks })
    }
}

/// Where the webhook runs, in one line: its Service's ready endpoints and the pods behind them, or its URL.
///
/// # Errors
/// [`CheckError::Api`] when EndpointSlices or pods cannot be read. `Ok(Err(_))`: the Service has no ready
/// endpoint (the operator's pods do not run).
pub async fn webhook_backends(ctx: &CheckContext, webhook: &Webhook) -> Result<Result<String, String>, CheckError> {
    let Some((namespace, service)) = &webhook.service else {
        return Ok(Ok(format!(
            "served by URL {} from outside the cluster, so no pods of it can be observed",
            webhook.url.as_deref().unwrap_or("(none)")
        )));
    };
    let slices = Api::<EndpointSlice>::namespaced(ctx.client.clone(), namespace)
        .list(&ListParams::default().labels(&format!("kubernetes.io/service-name={service}")))
        .await
        .map_err(|e| CheckError::api(format!("list EndpointSlices of Service {namespace}/{service}"), e))?;
    let mut pods = BTreeMap::new();
    for endpoint in slices.items.iter().flat_map(|s| s.endpoints.iter().flatten()) {
        let ready = endpoint.conditions.as_ref().and_then(|c| c.ready).unwrap_or(false);
        if let Some(target) = endpoint.target_ref.as_ref().filter(|t| t.kind.as_deref() == Some("Pod")) {
            pods.insert(target.name.clone().unwrap_or_default(), ready);
        }
    }
    let ready: Vec<&String> = pods.iter().filter(|(_, r)| **r).map(|(n, _)| n).collect();
    if ready.is_empty() {
        return Ok(Err(format!(
            "Service {namespace}/{service} behind webhook {} has no ready endpoint ({} pods known)",
            webhook.name,
            pods.len()
        )));
    }
    // Listed rather than read one by one: kaic is granted list on pods in every namespace, not get.
    let listed = Api::<Pod>::namespaced(ctx.client.clone(), namespace)
        .list(&ListParams::default())
        .await
        .map_err(|e| CheckError::api(format!("list pods in {namespace}"), e))?;
    let running: Vec<String> = listed
        .items
        .iter()
        .filter(|pod| pod.metadata.name.as_ref().is_some_and(|n| ready.contains(&n)))
        .map(|pod| format!("{} ({})", pod.metadata.name.clone().unwrap_or_default(), crate::wait::describe_pod(pod)))
        .collect();
    Ok(Ok(format!("Service {namespace}/{service}: ready pods {}", running.join(", "))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tells_a_webhook_denial_from_a_schema_refusal() {
        assert_eq!(
            classify(
                "ResourceFlavor.kueue.x-k8s.io \"x\" is forbidden: admission webhook \"vresourceflavor.kb.io\" denied \
                 the request: spec.nodeTaints[0].value: Invalid value: \"not valid!\""
            ),
            Admission::DeniedByWebhook {
                webhook: "vresourceflavor.kb.io".into(),
                message: "spec.nodeTaints[0].value: Invalid value: \"not valid!\"".into()
            }
        );
        let schema = "ResourceFlavor.kueue.x-k8s.io \"x\" is invalid: spec.nodeTaints[0].effect: Unsupported value";
        assert_eq!(classify(schema), Admission::Refused(schema.into()));
        assert_eq!(
            classify("admission webhook \"w\" is unreachable"),
            Admission::Refused("admission webhook \"w\" is unreachable".into())
        );
    }

    #[test]
    fn finds_the_webhooks_covering_a_resource_on_create() {
        let configs: Vec<ValidatingWebhookConfiguration> = serde_json::from_value(json!([
            {"metadata": {"name": "kueue-validating"}, "webhooks": [
                {"name": "vresourceflavor.kb.io", "admissionReviewVersions": ["v1"], "sideEffects": "None",
                 "clientConfig": {"service": {"namespace": "kueue-system", "name": "kueue-webhook-service"}},
                 "rules": [{"apiGroups": ["kueue.x-k8s.io"], "apiVersions": ["v1beta2"], "operations": ["CREATE", "UPDATE"], "resources": ["resourceflavors"]}]},
                {"name": "vclusterqueue.kb.io", "admissionReviewVersions": ["v1"], "sideEffects": "None",
                 "clientConfig": {"url": "https://127.0.0.1:9443/validate"},
                 "rules": [{"apiGroups": ["kueue.x-k8s.io"], "apiVersions": ["*"], "operations": ["UPDATE"], "resources": ["clusterqueues"]}]}
            ]},
            {"metadata": {"name": "catch-all"}, "webhooks": [
                {"name": "all.example", "admissionReviewVersions": ["v1"], "sideEffects": "None",
                 "clientConfig": {"url": "https://policy.example/validate"},
                 "rules": [{"apiGroups": ["*"], "apiVersions": ["*"], "operations": ["*"], "resources": ["*"]}]}
            ]}
        ]))
        .unwrap();
        let found = covering(&configs, "kueue.x-k8s.io", "resourceflavors");
        assert_eq!(found.iter().map(|w| w.name.as_str()).collect::<Vec<_>>(), ["vresourceflavor.kb.io", "all.example"]);
        assert_eq!(found[0].service, Some(("kueue-system".into(), "kueue-webhook-service".into())));
        assert_eq!(found[1].url.as_deref(), Some("https://policy.example/validate"));
        let updates_only = covering(&configs[..1], "kueue.x-k8s.io", "clusterqueues");
        assert!(updates_only.is_empty(), "a webhook on UPDATE only does not cover CREATE");
    }

    #[test]
    fn reads_whether_crds_are_established() {
        let crds: Vec<CustomResourceDefinition> = serde_json::from_value(json!([
            {"metadata": {"name": "clusterqueues.kueue.x-k8s.io"},
             "spec": {"group": "kueue.x-k8s.io", "names": {"kind": "ClusterQueue", "plural": "clusterqueues"}, "scope": "Cluster", "versions": []},
             "status": {"conditions": [{"type": "Established", "status": "True"}]}},
            {"metadata": {"name": "workloads.kueue.x-k8s.io"},
             "spec": {"group": "kueue.x-k8s.io", "names": {"kind": "Workload", "plural": "workloads"}, "scope": "Namespaced", "versions": []},
             "status": {"conditions": [{"type": "Established", "status": "False"}]}},
            {"metadata": {"name": "jobsets.jobset.x-k8s.io"},
             "spec": {"group": "jobset.x-k8s.io", "names": {"kind": "JobSet", "plural": "jobsets"}, "scope": "Namespaced", "versions": []}}
        ]))
        .unwrap();
        assert_eq!(
            established(&crds, "kueue.x-k8s.io"),
            vec![("clusterqueues.kueue.x-k8s.io".to_string(), true), ("workloads.kueue.x-k8s.io".to_string(), false)]
        );
    }

    #[test]
    fn one_working_operator_is_enough_and_nothing_exercised_is_unknown() {
        let fail = OperatorResult::Fail {
            reason: "webhook accepted".into(),
            expected: "denied".into(),
            observed: "accepted".into(),
        };
        let by_hand = vec!["JobSet (jobset.x-k8s.io)".to_string()];
        let verdict =
            roll_up(&[("Kueue", OperatorResult::Pass("ok".into())), ("LeaderWorkerSet", fail.clone())], &by_hand);
        assert_eq!(verdict.outcome, kaic_model::Outcome::Pass);
        assert!(verdict.reason.starts_with("an AI operator works — Kueue: ok (also: LeaderWorkerSet failed: webhook accepted; JobSet (jobset.x-k8s.io) undecided: kaic does not exercise it yet"), "{}", verdict.reason);
        let verdict = roll_up(&[("Kueue", fail)], &[]);
        assert_eq!(verdict.outcome, kaic_model::Outcome::Fail);
        assert_eq!(verdict.reason, "Kueue: webhook accepted");
        assert_eq!(
            roll_up(&[("Kueue", OperatorResult::Error("boom".into()))], &[]).outcome,
            kaic_model::Outcome::Error
        );
        let left_over = roll_up(&[("Kueue", OperatorResult::NotOperational("CRDs only".into()))], &[]);
        assert_eq!(left_over.outcome, kaic_model::Outcome::Unknown, "left-over CRDs are not a failure");
        let verdict = roll_up(&[], &by_hand);
        assert_eq!(verdict.outcome, kaic_model::Outcome::Unknown);
        assert!(
            verdict.reason.contains("JobSet (jobset.x-k8s.io) undecided: kaic does not exercise it yet"),
            "{}",
            verdict.reason
        );
        assert!(kaic_model::installable::is_nothing_installed(&roll_up(&[], &[])));
    }
}
