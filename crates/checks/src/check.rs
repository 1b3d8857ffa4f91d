//! The [`Check`] trait every requirement check implements, the context it runs in, and its error type.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kaic_model::{Evidence, Verdict};
use kube::Client;

use crate::accelerators::inventory::AllocationMode;
use crate::capability::{Capabilities, Capability};
use crate::observability::endpoint::{Endpoint, Headers};
use crate::timeouts::{TimeoutScale, Wait, WaitOverrides};

/// Options that shape how checks run, set from the command line.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// The image for pods that only need to exist (no process of interest), pinned by tag.
    pub pause_image: String,
    /// Images by `--probe-image` key ([`crate::images`]: vendor probe labels `nvidia`, `amd`, …, and the checks'
    /// own keys), overriding the defaults.
    pub probe_images: BTreeMap<String, String>,
    /// The mirror every default image is moved to (`--image-registry`); images given outright are kept.
    pub image_registry: Option<String>,
    /// Which accelerator allocation paths to exercise.
    pub allocation_mode: AllocationMode,
    /// Scheduler names by gang solution (`volcano`, `kai-scheduler`, `coscheduling`), overriding the names
    /// those projects' own installations use.
    pub scheduler_names: BTreeMap<String, String>,
    /// Queues by gang solution (`volcano`, `kai-scheduler`), overriding the default queues.
    pub gang_queues: BTreeMap<String, String>,
    /// Multiplies every named wait and every check's budget (`--timeout-scale`).
    pub timeout_scale: TimeoutScale,
    /// The accelerator metrics endpoint the user named (`--accelerator-metrics-url`), instead of the
    /// exporters kaic finds.
    pub accelerator_metrics: Option<Endpoint>,
    /// The monitoring system's Prometheus-compatible query API the user named (`--prometheus-url`).
    pub prometheus: Option<Endpoint>,
    /// Headers for every query to it (`--prometheus-header`, `--prometheus-bearer-token-file`).
    pub prometheus_headers: Headers,
    /// The per-pod custom metric `pod_autoscaling`'s HPA scales on (`--hpa-metric`), where the platform maps
    /// vLLM's metrics under a name kaic does not recognise.
    pub hpa_metric: Option<String>,
    /// Named waits set outright (`--wait NAME=SECONDS`).
    pub wait_overrides: WaitOverrides,
    /// Whether checks may make the platform add nodes that cost money (`--include-opt-in`, an explicit
    /// consent): cluster_autoscaling makes an autoscaler add an accelerator node.
    pub allow_costly: bool,
    /// Where ai_inference and advanced_inference_ingress send their requests from (`--send-from`).
    pub send_from: crate::inference::traffic::SendFrom,
}

impl Default for CheckOptions {
    fn default() -> Self {
        Self {
            pause_image: "registry.k8s.io/pause:3.10".into(),
            probe_images: BTreeMap::new(),
            image_registry: None,
            allocation_mode: AllocationMode::Auto,
            scheduler_names: BTreeMap::new(),
            gang_queues: BTreeMap::new(),
            timeout_scale: TimeoutScale::default(),
            accelerator_metrics: None,
            prometheus: None,
            prometheus_headers: Headers::default(),
            hpa_metric: None,
            send_from: Default::default(),
            wait_overrides: WaitOverrides::default(),
            allow_costly: false,
        }
    }
}

impl CheckOptions {
    /// The image for `key` (`--probe-image KEY=IMAGE`), else `default` (moved to `--image-registry` where given).
    pub fn probe_image(&self, key: &str, default: &str) -> String {
        match (self.probe_images.get(key), &self.image_registry) {
            (Some(given), _) => given.clone(),
            (None, Some(registry)) => crate::images::with_registry(default, registry),
            (None, None) => default.to_string(),
        }
    }
}

/// How a check shares the cluster's accelerators with the others ([`Check::accelerators`]). The run has
/// one accelerator turn; a check waiting for it takes none of the `--concurrency` slots, so checks that need
/// no accelerator run meanwhile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcceleratorUse {
    /// It allocates none and runs beside any check.
    None,
    /// It allocates them from start to end: it holds the turn throughout, and the next check gets it once
    /// this one's namespace is gone (pods terminated, claims released).
    Throughout,
    /// Only its first phase allocates them: it starts holding the turn and gives it back itself
    /// ([`CheckContext::give_back_accelerators`]) once its devices are released, then goes on beside the
    /// others. Such checks get the turn first, so that the rest of their work overlaps the others'.
    FirstPhase,
}

/// What a check is given: a client, its own namespace, the labels to put on what it creates, and a place
/// to record evidence that survives the check being cancelled by a timeout or Ctrl-C.
#[derive(Clone)]
pub struct CheckContext {
    pub client: Client,
    /// The namespace created for this check (labelled, deleted after the check).
    pub namespace: String,
    pub run_id: String,
    pub check_id: &'static str,
    pub capabilities: Capabilities,
    pub options: CheckOptions,
    evidence: Arc<Mutex<Evidence>>,
    /// The run's accelerator turn while this check holds it (see [`AcceleratorUse`]).
    turn: Arc<Mutex<Option<tokio::sync::OwnedMutexGuard<()>>>>,
}

#[cfg(test)]
impl CheckContext {
    /// A context for tests that only build objects: namespace `ns`, run `r1`, and a client pointing at a
    /// closed port that is never used. Call it inside a Tokio runtime (the client spawns a task).
    pub fn offline(check_id: &'static str, options: CheckOptions) -> Self {
        let config = kube::Config::new("http://127.0.0.1:1".parse().expect("a valid URL"));
        let client = Client::try_from(config).expect("a client for a fixed URL");
        Self::new(client, "ns".into(), "r1".into(), check_id, Capabilities::default(), options)
    }
}

impl CheckContext {
    pub fn new(
        client: Client,
        namespace: String,
        run_id: String,
        check_id: &'static str,
        capabilities: Capabilities,
        options: CheckOptions,
    ) -> Self {
        Self {
            client,
            namespace,
            run_id,
            check_id,
            capabilities,
            options,
            evidence: Arc::default(),
            turn: Arc::default(),
        }
    }

    /// Hands the check the run's accelerator turn (the runner does, before it starts the check).
    pub(crate) fn hold_accelerator_turn(&self, turn: tokio::sync::OwnedMutexGuard<()>) {
        *self.turn.lock().unwrap_or_else(|p| p.into_inner()) = Some(turn);
    }

    /// Whether the check still holds the run's accelerator turn.
    pub(crate) fn holds_accelerator_turn(&self) -> bool {
        self.turn.lock().unwrap_or_else(|p| p.into_inner()).is_some()
    }

    /// Gives the run's accelerator turn back, so the next accelerator check may start: call it once every
    /// device the check allocated is released (its pods gone). Does nothing if the check does not hold it.
    pub fn give_back_accelerators(&self) {
        if self.release_accelerator_turn() {
            self.step("gave the accelerator turn back: the next accelerator check may start");
        }
    }

    /// Drops the accelerator turn if the check holds it; whether it did.
    pub(crate) fn release_accelerator_turn(&self) -> bool {
        self.turn.lock().unwrap_or_else(|p| p.into_inner()).take().is_some()
    }

    /// The labels to put on every object this check creates.
    pub fn labels(&self) -> BTreeMap<String, String> {
        crate::labels::for_check(&self.run_id, self.check_id)
    }

    /// A name for a cluster-scoped object, unique to this run: `kaic-<suffix>-<run id>`.
    pub fn cluster_name(&self, suffix: &str) -> String {
        format!("kaic-{suffix}-{}", self.run_id)
    }

    /// How long to wait for `wait` (the timeout table scaled by `--timeout-scale`, or `--wait NAME=SECONDS`).
    pub fn wait(&self, wait: Wait) -> Duration {
        self.options.wait_overrides.of(self.options.timeout_scale, wait)
    }

    /// Records evidence; the closure gets the check's evidence log.
    pub fn record(&self, f: impl FnOnce(&mut Evidence)) {
        let mut evidence = self.evidence.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut evidence);
    }

    /// Records one step, and logs it for `RUST_LOG=debug`.
    pub fn step(&self, text: impl Into<String>) {
        let text = text.into();
        tracing::debug!(check = self.check_id, "{text}");
        self.record(|e| e.step(text));
    }

    /// Records an object as YAML under `name`.
    pub fn object<T: serde::Serialize>(&self, name: &str, object: &T) {
        let yaml = serde_saphyr::to_string(object).unwrap_or_else(|e| format!("# failed to serialise: {e}\n"));
        self.record(|e| e.object(name, yaml));
    }

    /// Everything recorded so far.
    pub fn evidence(&self) -> Evidence {
        self.evidence.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }
}

/// Why a check could not run to a verdict. Becomes an `error` outcome with this message.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// A Kubernetes API call failed; `what` names the call and the object.
    #[error("failed to {what}: {message}")]
    Api { what: String, message: String },
    /// A wait ran out; `last_seen` is the last observed state.
    #[error("timed out after {after:?} waiting for {what}; last seen: {last_seen}")]
    Timeout { what: String, after: Duration, last_seen: String },
    /// Anything else, said in a sentence.
    #[error("{0}")]
    Other(String),
}

impl CheckError {
    /// Wraps a kube error with what kaic was doing, and the fix for the common causes.
    pub fn api(what: impl Into<String>, error: kube::Error) -> Self {
        let message = match &error {
            kube::Error::Api(status) if status.code == 403 => {
                format!("forbidden: {} (grant this permission to kaic's identity)", status.message)
            }
            kube::Error::Api(status) => format!("{} ({})", status.message, status.code),
            other => other.to_string(),
        };
        Self::Api { what: what.into(), message }
    }
}

/// Deserialises an object kaic built from JSON (checks write manifests with `serde_json::json!`).
///
/// # Errors
/// [`CheckError::Other`] naming the type if the JSON does not fit it: a bug in kaic, not in the cluster.
pub fn from_json<K: serde::de::DeserializeOwned>(value: serde_json::Value) -> Result<K, CheckError> {
    serde_json::from_value(value)
        .map_err(|e| CheckError::Other(format!("kaic built an invalid {}: {e}", std::any::type_name::<K>())))
}

/// Creates an object of a discovered kind (built as JSON with `apiVersion` and `kind`) and records it as
/// evidence `<Kind>-<name>`.
///
/// # Errors
/// [`CheckError::Other`] if kaic built an invalid object; [`CheckError::Api`] if the API server refuses it.
pub async fn create_dynamic(
    ctx: &CheckContext,
    api: &kube::Api<kube::api::DynamicObject>,
    value: serde_json::Value,
) -> Result<kube::api::DynamicObject, CheckError> {
    let object: kube::api::DynamicObject = from_json(value)?;
    let kind = object.types.as_ref().map_or("object", |t| t.kind.as_str());
    let what = format!("{kind} {}", object.metadata.name.as_deref().unwrap_or_default());
    let created = api
        .create(&kube::api::PostParams::default(), &object)
        .await
        .map_err(|e| CheckError::api(format!("create {what}"), e))?;
    ctx.object(&what.replace(' ', "-"), &created);
    Ok(created)
}

/// The resource of `kind` at exactly `group`/`version`, for add-ons whose API kaic drives at one version.
///
/// # Errors
/// [`CheckError::Other`] naming the version kaic drives when the cluster does not serve it.
pub async fn pinned_resource(
    ctx: &CheckContext,
    group: &str,
    version: &str,
    kind: &str,
) -> Result<kube::api::ApiResource, CheckError> {
    let gvk = kube::api::GroupVersionKind::gvk(group, version, kind);
    let (resource, _) = kube::discovery::pinned_kind(&ctx.client, &gvk).await.map_err(|e| {
        CheckError::Other(format!(
            "{group} is installed but {group}/{version} does not serve {kind} ({e}); kaic drives that version only"
        ))
    })?;
    Ok(resource)
}

/// A behavioural check of one or more requirements.
#[async_trait::async_trait]
pub trait Check: Send + Sync {
    /// The check's id, used by `--focus` and `--skip` (snake_case, like requirement ids).
    fn id(&self) -> &'static str;

    /// The requirements this check proves.
    fn requirements(&self) -> &'static [&'static str];

    /// What the cluster must offer for this check to apply. A missing capability ends the check with
    /// [`Check::when_missing`] without running it.
    fn needs(&self) -> &'static [Capability] {
        &[]
    }

    /// The verdict when a needed capability is missing: not applicable unless the check says otherwise
    /// (for `dra_support` a missing DRA API is a failure).
    fn when_missing(&self, capability: Capability) -> Verdict {
        Verdict::not_applicable(format!("the cluster does not offer {capability}"))
    }

    /// How long the check may take before it is stopped and reported as an error, before
    /// `--timeout-scale`. It must cover the sum of [`Check::waits`] (a unit test asserts it).
    fn timeout(&self) -> Duration {
        Duration::from_secs(180)
    }

    /// The named waits the check may make one after the other, with how many times each, so the budget can
    /// be checked against them ([`crate::timeouts`]).
    fn waits(&self) -> &'static [(Wait, u32)] {
        &[]
    }

    /// Whether the check is slow or costly (e.g. cluster autoscaling) and runs only when asked for.
    fn opt_in(&self) -> bool {
        false
    }

    /// Whether, and how long, the check allocates accelerators: such checks take turns, so that one check's
    /// devices never make another's "free device" vanish ([`AcceleratorUse`]).
    fn accelerators(&self) -> AcceleratorUse {
        AcceleratorUse::None
    }

    /// What the check creates, in words, for `--dry-run`.
    fn creates(&self) -> &'static [&'static str];

    /// Runs the check in `ctx.namespace` and returns its verdict.
    ///
    /// # Errors
    /// [`CheckError`] when the check could not reach a verdict (API failure, timeout, forbidden).
    async fn run(&self, ctx: &CheckContext) -> Result<Verdict, CheckError>;
}
