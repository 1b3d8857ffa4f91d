//! The runner: selects checks for a catalogue version, runs them concurrently, each in its own labelled
//! namespace under a timeout, streams [`RunEvent`]s to reporters, and cleans up whatever happens —
//! success, failure, timeout or Ctrl-C.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::api::resource::v1::ResourceClaim;
use kaic_model::solutions::{self, SolutionResult, Subject};
use kaic_model::{CheckReport, ConformanceVersion, Requirement, Verdict, catalogue};
use kube::api::{DeleteParams, ListParams, ObjectMeta, PostParams};
use kube::{Api, Client};
use tokio::sync::mpsc::UnboundedSender;

use crate::capability::Capabilities;
use crate::check::{AcceleratorUse, Check, CheckContext, CheckError, CheckOptions};
use crate::cleanup::{self, CleanupReport, Scope};
use crate::labels;
use crate::timeouts::Wait;

/// The verdict of a check that ran out of its budget.
fn out_of_time(ctx: &CheckContext, budget: std::time::Duration) -> Verdict {
    unfinished(
        ctx,
        format!(
            "the check did not finish within its {}s budget (raise it with --timeout-scale); see its steps for how far \
             it got",
            budget.as_secs()
        ),
    )
}

/// The verdict of a check that stopped early (out of time, or an error it could not get past). Solutions it
/// had already decided are kept (a solution that passed is not erased by another that hung or whose API call
/// failed); the rest is reported as not finished, with `cause`.
fn unfinished(ctx: &CheckContext, cause: String) -> Verdict {
    let decided = ctx.evidence().solutions;
    if decided.is_empty() {
        return Verdict::error(cause);
    }
    let mut results = decided;
    results.push(SolutionResult::error("the solutions not yet exercised", cause));
    solutions::roll_up(Subject { works: "the requirement is met", kinds: "solutions" }, &results, &[])
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Which checks to run.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Only these check ids (empty: all).
    pub focus: Vec<String>,
    /// Not these check ids.
    pub skip: Vec<String>,
    /// Also run opt-in (slow or costly) checks.
    pub include_opt_in: bool,
}

/// A check id given to `--focus` or `--skip` that kaic does not know.
#[derive(Debug, thiserror::Error)]
#[error("unknown check id '{given}': known checks are {known} (see `kaic requirements`)")]
pub struct UnknownCheck {
    pub given: String,
    pub known: String,
}

/// The checks a selection chose and those it left out.
pub struct Plan {
    pub chosen: Vec<Arc<dyn Check>>,
    pub left_out: Vec<LeftOut>,
}

/// A check the selection left out, and why (for `--dry-run` and the report).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeftOut {
    pub id: &'static str,
    pub why: String,
}

impl Selection {
    /// Picks the checks that apply to `version`.
    ///
    /// # Errors
    /// [`UnknownCheck`] for an id in `focus` or `skip` that no check has.
    pub fn apply(&self, checks: Vec<Box<dyn Check>>, version: ConformanceVersion) -> Result<Plan, UnknownCheck> {
        let known: BTreeSet<&str> = checks.iter().map(|c| c.id()).collect();
        for given in self.focus.iter().chain(&self.skip) {
            if !known.contains(given.as_str()) {
                let known = known.iter().copied().collect::<Vec<_>>().join(", ");
                return Err(UnknownCheck { given: given.clone(), known });
            }
        }
        let in_catalogue: BTreeSet<&str> = catalogue::requirements(version).iter().map(|r| r.id).collect();
        let mut chosen = Vec::new();
        let mut left_out = Vec::new();
        for check in checks {
            let id = check.id();
            let why = if !check.requirements().iter().any(|r| in_catalogue.contains(r)) {
                Some(format!("its requirement is not in the {version} catalogue"))
            } else if !self.focus.is_empty() && !self.focus.iter().any(|f| f == id) {
                Some("not in --focus".to_string())
            } else if self.skip.iter().any(|s| s == id) {
                Some("in --skip".to_string())
            } else if check.opt_in() && !self.include_opt_in && !self.focus.iter().any(|f| f == id) {
                Some("opt-in check: name it with --focus or pass --include-opt-in".to_string())
            } else {
                None
            };
            match why {
                Some(why) => left_out.push(LeftOut { id, why }),
                None => chosen.push(Arc::from(check)),
            }
        }
        Ok(Plan { chosen, left_out })
    }
}

/// What the runner tells reporters as it goes.
#[derive(Debug, Clone)]
pub enum RunEvent {
    /// A check started in `namespace`.
    Started { id: &'static str, namespace: String },
    /// A check finished.
    Finished(Box<CheckReport>),
    /// Ctrl-C (or another shutdown signal) arrived; running checks are being stopped.
    Interrupted,
    /// Final cleanup started.
    CleaningUp,
    /// Final cleanup finished.
    Cleaned(CleanupReport),
}

/// The result of a run, before it is turned into a report.
#[derive(Debug, Clone)]
pub struct RunResult {
    pub checks: Vec<CheckReport>,
    pub interrupted: bool,
    pub cleanup: CleanupReport,
}

/// Runs checks against one cluster.
pub struct Runner {
    pub client: Client,
    pub run_id: String,
    /// The catalogue the run checks against: which requirements have a condition that may not hold.
    pub conformance_version: ConformanceVersion,
    pub capabilities: Capabilities,
    pub options: CheckOptions,
    /// How many checks run at once.
    pub concurrency: usize,
}

impl Runner {
    /// Runs `checks`, sending events to `events`, until all finish or `shutdown` completes. Cleans up
    /// everything labelled with this run's id in both cases.
    pub async fn run(
        &self,
        checks: Vec<Arc<dyn Check>>,
        events: UnboundedSender<RunEvent>,
        shutdown: impl Future<Output = ()>,
    ) -> RunResult {
        let run_started = Instant::now();
        let finished = std::sync::Mutex::new(Vec::new());
        let turn = Arc::new(tokio::sync::Mutex::new(()));
        let slots = tokio::sync::Semaphore::new(self.concurrency.max(1));
        let creating = Arc::new(tokio::sync::RwLock::new(()));
        // The accelerator turn goes in the order checks ask for it: those that give it back early ask first.
        let mut checks = checks;
        checks.sort_by_key(|c| c.accelerators() != AcceleratorUse::FirstPhase);
        let every = checks.len().max(1);
        let all = futures::stream::iter(checks)
            .map(|check| self.run_one(check, &events, &turn, &slots, &creating, run_started))
            .buffer_unordered(every)
            .for_each(|report| {
                let _ = events.send(RunEvent::Finished(Box::new(report.clone())));
                finished.lock().unwrap_or_else(|p| p.into_inner()).push(report);
                async {}
            });
        let interrupted = tokio::select! {
            () = all => false,
            () = shutdown => {
                let _ = events.send(RunEvent::Interrupted);
                true
            }
        };
        let _ = events.send(RunEvent::CleaningUp);
        // A namespace whose creation was in flight when Ctrl-C dropped its check must exist before the sweep
        // lists what to delete, or it would outlive the run.
        let _settled = tokio::time::timeout(Duration::from_secs(30), creating.write()).await;
        let cleanup = cleanup::clean(&self.client, &Scope::Run(self.run_id.clone())).await;
        let _ = events.send(RunEvent::Cleaned(cleanup.clone()));
        RunResult { checks: finished.into_inner().unwrap_or_else(|p| p.into_inner()), interrupted, cleanup }
    }

    /// Runs one check in its own namespace and always deletes the namespace afterwards.
    async fn run_one(
        &self,
        check: Arc<dyn Check>,
        events: &UnboundedSender<RunEvent>,
        turn: &Arc<tokio::sync::Mutex<()>>,
        slots: &tokio::sync::Semaphore,
        creating: &Arc<tokio::sync::RwLock<()>>,
        run_started: Instant,
    ) -> CheckReport {
        // Checks that allocate accelerators take turns (see `AcceleratorUse`); waiting for the turn takes no
        // slot, so checks that need none run meanwhile. Nothing waits for the turn while holding a slot.
        let turn = match check.accelerators() {
            AcceleratorUse::None => None,
            AcceleratorUse::Throughout | AcceleratorUse::FirstPhase => Some(turn.clone().lock_owned().await),
        };
        let _slot = slots.acquire().await;
        let id = check.id();
        let namespace = labels::namespace_name(&self.run_id, id);
        let ctx = CheckContext::new(
            self.client.clone(),
            namespace.clone(),
            self.run_id.clone(),
            id,
            self.capabilities.clone(),
            self.options.clone(),
        );
        if let Some(turn) = turn {
            ctx.hold_accelerator_turn(turn);
        }
        let _ = events.send(RunEvent::Started { id, namespace: namespace.clone() });
        let started = Instant::now();
        let missing = check.needs().iter().find(|cap| !self.capabilities.has(**cap));
        let budget = self.options.timeout_scale.apply(check.timeout())
            + self.options.wait_overrides.extra(self.options.timeout_scale, check.waits());
        let (verdict, used_namespace) = match missing {
            Some(capability) => (check.when_missing(*capability), false),
            None => match self.create_namespace(&ctx, creating).await {
                Err(e) => (Verdict::error(e.to_string()), false),
                Ok(()) => {
                    let verdict = match tokio::time::timeout(budget, check.run(&ctx)).await {
                        Ok(Ok(verdict)) => verdict,
                        Ok(Err(e)) => unfinished(&ctx, e.to_string()),
                        Err(_) => out_of_time(&ctx, budget),
                    };
                    if ctx.holds_accelerator_turn() {
                        // The next accelerator check may start only once this one's pods and claims are gone,
                        // or its "free device" would still be held (pods terminating gracefully, finalizers).
                        self.delete_namespace_and_wait(&ctx).await;
                    } else {
                        self.delete_namespace(&namespace).await;
                    }
                    (verdict, true)
                }
            },
        };
        // Measured before the turn goes to the next check, so the two never seem to overlap.
        let duration = started.elapsed();
        ctx.release_accelerator_turn();
        let in_catalogue = catalogue::requirements(self.conformance_version);
        let requirements: Vec<&Requirement> =
            in_catalogue.iter().filter(|r| check.requirements().contains(&r.id)).collect();
        let verdict = catalogue::honest_not_applicable(verdict, &requirements);
        CheckReport {
            id: id.to_string(),
            requirements: check.requirements().iter().map(|r| r.to_string()).collect(),
            verdict,
            duration_millis: millis(duration),
            started_after_millis: millis(started.duration_since(run_started)),
            namespace: used_namespace.then_some(namespace),
            evidence: ctx.evidence(),
            evidence_files: Vec::new(),
        }
    }

    /// Creates the check's namespace in a task of its own that holds a read guard of `creating` until the API
    /// server answered: dropping the check (Ctrl-C, timeout) does not cancel a create already sent, and the
    /// final sweep waits for the write guard, so it sees every namespace this run created.
    async fn create_namespace(
        &self,
        ctx: &CheckContext,
        creating: &Arc<tokio::sync::RwLock<()>>,
    ) -> Result<(), CheckError> {
        let guard = creating.clone().read_owned().await;
        let api: Api<Namespace> = Api::all(self.client.clone());
        let namespace = Namespace {
            metadata: ObjectMeta {
                name: Some(ctx.namespace.clone()),
                labels: Some(ctx.labels().into_iter().chain(crate::pods::pod_security_labels()).collect()),
                ..Default::default()
            },
            ..Default::default()
        };
        let created = tokio::spawn(async move {
            let _guard = guard;
            api.create(&PostParams::default(), &namespace).await.map(|_| ())
        });
        match created.await {
            Ok(result) => result.map_err(|e| CheckError::api(format!("create namespace {}", ctx.namespace), e)),
            Err(e) => Err(CheckError::Other(format!("creating namespace {}: {e}", ctx.namespace))),
        }
    }

    /// Deletes the check's namespace and waits until the pods and ResourceClaims in it are gone: then its devices
    /// are free for the next accelerator check, while the namespace finishes terminating on its own (what else it
    /// holds — Services, ServiceAccounts, Deployments without pods — holds no device; the namespace controller's
    /// sweep through every API of a cluster with many CRDs takes seconds more). A terminating namespace admits no
    /// new pod, so kaic deletes its pods at once instead of waiting for the sweep to reach them. How long that
    /// took is recorded; pods or claims still there after [`Wait::NamespaceGone`] are recorded too (the final
    /// sweep deletes the namespace again).
    async fn delete_namespace_and_wait(&self, ctx: &CheckContext) {
        let api: Api<Namespace> = Api::all(self.client.clone());
        let started = Instant::now();
        let limit = ctx.wait(Wait::NamespaceGone);
        match api.delete(&ctx.namespace, &DeleteParams::background()).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 => return,
            Err(e) => return ctx.step(format!("failed to delete namespace {}: {e}", ctx.namespace)),
        }
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), &ctx.namespace);
        let claims: Api<ResourceClaim> = Api::namespaced(self.client.clone(), &ctx.namespace);
        let dra = self.capabilities.has(crate::capability::Capability::Dra);
        let _ = pods.delete_collection(&DeleteParams::background(), &ListParams::default()).await;
        let released = async {
            loop {
                let pods_left = pods.list_metadata(&ListParams::default().limit(1)).await.map(|l| l.items.len());
                let claims_left = if dra {
                    claims.list_metadata(&ListParams::default().limit(1)).await.map(|l| l.items.len())
                } else {
                    Ok(0)
                };
                if matches!((pods_left, claims_left), (Ok(0), Ok(0))) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        };
        match tokio::time::timeout(limit, released).await {
            Ok(()) => ctx.record(|e| {
                e.timing("namespace deleted to its pods and claims gone (devices released)", started.elapsed())
            }),
            Err(_) => ctx.step(format!(
                "pods or ResourceClaims of namespace {} were still there after {}s; the next accelerator check starts \
                 anyway and may find its devices busy",
                ctx.namespace,
                limit.as_secs()
            )),
        }
    }

    async fn delete_namespace(&self, name: &str) {
        let api: Api<Namespace> = Api::all(self.client.clone());
        if let Err(e) = api.delete(name, &Default::default()).await {
            // The final sweep by label tries again; say so in the logs only.
            tracing::warn!("failed to delete namespace {name}: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kaic_model::Verdict;

    struct Fake(&'static str, &'static [&'static str], bool);

    #[async_trait::async_trait]
    impl Check for Fake {
        fn id(&self) -> &'static str {
            self.0
        }
        fn requirements(&self) -> &'static [&'static str] {
            self.1
        }
        fn opt_in(&self) -> bool {
            self.2
        }
        fn creates(&self) -> &'static [&'static str] {
            &[]
        }
        async fn run(&self, _: &CheckContext) -> Result<Verdict, CheckError> {
            Ok(Verdict::pass("fake"))
        }
    }

    fn fakes() -> Vec<Box<dyn Check>> {
        vec![
            Box::new(Fake("dra_support", &["dra_support"], false)),
            Box::new(Fake("gang_scheduling", &["gang_scheduling"], false)),
            Box::new(Fake("cluster_autoscaling", &["cluster_autoscaling"], true)),
        ]
    }

    fn ids(checks: &[Arc<dyn Check>]) -> Vec<&'static str> {
        checks.iter().map(|c| c.id()).collect()
    }

    #[test]
    fn selects_by_catalogue_focus_skip_and_opt_in() {
        let Plan { chosen, left_out: left } = Selection::default().apply(fakes(), ConformanceVersion::V1_36).unwrap();
        assert_eq!(ids(&chosen), vec!["gang_scheduling"]);
        assert_eq!(left[0].why, "its requirement is not in the 1.36 catalogue");
        assert!(left[1].why.starts_with("opt-in check"));

        let focus = Selection { focus: vec!["cluster_autoscaling".into()], ..Default::default() };
        assert_eq!(ids(&focus.apply(fakes(), ConformanceVersion::V1_35).unwrap().chosen), vec!["cluster_autoscaling"]);

        let skip = Selection { skip: vec!["gang_scheduling".into()], include_opt_in: true, ..Default::default() };
        assert_eq!(
            ids(&skip.apply(fakes(), ConformanceVersion::V1_35).unwrap().chosen),
            vec!["dra_support", "cluster_autoscaling"]
        );
    }

    #[tokio::test]
    async fn a_timeout_keeps_the_solutions_already_decided() {
        let ctx = CheckContext::offline("gang_scheduling", CheckOptions::default());
        let budget = std::time::Duration::from_secs(1500);
        assert_eq!(out_of_time(&ctx, budget).outcome, kaic_model::Outcome::Error, "nothing decided yet");
        ctx.record(|e| e.solution(SolutionResult::pass("Kueue", "a gang of 3 ran whole")));
        let verdict = out_of_time(&ctx, budget);
        assert_eq!(verdict.outcome, kaic_model::Outcome::Pass, "{}", verdict.reason);
        assert!(verdict.reason.contains("Kueue: a gang of 3 ran whole"), "{}", verdict.reason);
        assert!(verdict.reason.contains("did not finish within its 1500s budget"), "{}", verdict.reason);
        ctx.record(|e| e.solution(SolutionResult::fail("Volcano", "partial", "0 bound", "3 bound")));
        assert_eq!(out_of_time(&ctx, budget).outcome, kaic_model::Outcome::Pass, "one pass meets the requirement");
    }

    #[tokio::test]
    async fn an_error_a_check_could_not_get_past_keeps_the_solutions_already_decided() {
        let ctx = CheckContext::offline("ai_inference", CheckOptions::default());
        let verdict = unfinished(&ctx, "failed to get Gateway b: boom (500)".into());
        assert_eq!(verdict, Verdict::error("failed to get Gateway b: boom (500)"), "nothing decided yet");
        ctx.record(|e| e.solution(SolutionResult::pass("GatewayClass a", "routes 80/20")));
        let verdict = unfinished(&ctx, "failed to get Gateway b: boom (500)".into());
        assert_eq!(verdict.outcome, kaic_model::Outcome::Pass, "{}", verdict.reason);
        assert!(verdict.reason.contains("GatewayClass a: routes 80/20"), "{}", verdict.reason);
        assert!(verdict.reason.contains("failed to get Gateway b: boom (500)"), "{}", verdict.reason);
    }

    #[test]
    fn unknown_ids_are_named_with_the_known_ones() {
        let bad = Selection { focus: vec!["gang".into()], ..Default::default() };
        let err = bad.apply(fakes(), ConformanceVersion::V1_35).err().unwrap();
        assert_eq!(
            err.to_string(),
            "unknown check id 'gang': known checks are cluster_autoscaling, dra_support, gang_scheduling (see `kaic requirements`)"
        );
    }
}
