//! `kaic run`: preflight, run the selected checks with live progress, write the report, print the summary.

use std::sync::Arc;

use anyhow::Context as _;
use kaic_checks::preflight::{self, Preflight};
use kaic_checks::runner::{LeftOut, Plan, RunResult, Runner, Selection};
use kaic_checks::timeouts::WaitOverrides;
use kaic_checks::{Check, CheckOptions, images, labels};
use kaic_model::report::{ClusterInfo, SCHEMA_VERSION, Summary};
use kaic_model::{RequirementReport, RunReport, catalogue};

use crate::cli::RunArgs;
use crate::{EXIT_CANNOT_RUN, EXIT_NOT_MET, EXIT_OK, EXIT_UNDECIDED, output, progress};

pub async fn run(args: RunArgs) -> anyhow::Result<u8> {
    if !args.dry_run {
        output::prepare_dir(&args.output_dir)?;
    }
    // Refuse missing checklist inputs now, not after a run of many minutes.
    for file in args.checklist.iter().chain(&args.platform_info) {
        std::fs::File::open(file)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}: check the path", file.display()))?;
    }
    let prometheus_headers = args.prometheus_headers().map_err(|e| anyhow::anyhow!(e))?;
    let (cluster, version) = args.cluster.target().connect().await?;
    let preflight = preflight::run(&cluster.client, &version, args.conformance_version).await?;
    let selection =
        Selection { focus: args.focus.clone(), skip: args.skip.clone(), include_opt_in: args.include_opt_in };
    let Plan { chosen: checks, left_out } =
        selection.apply(kaic_checks::all_checks(), preflight.conformance_version)?;
    print_preflight(&cluster.server, &preflight);
    if args.dry_run {
        print_plan(&checks, &left_out, &preflight);
        return Ok(EXIT_OK);
    }

    let run_id = labels::new_run_id();
    let started_at = jiff::Timestamp::now();
    eprintln!("run {run_id}: {} checks, everything created is labelled {}={run_id}", checks.len(), labels::RUN_ID);
    let runner = Runner {
        client: cluster.client.clone(),
        run_id: run_id.clone(),
        conformance_version: preflight.conformance_version,
        capabilities: preflight.capabilities.clone(),
        options: CheckOptions {
            pause_image: args.pause_image.clone().unwrap_or_else(|| match &args.image_registry {
                Some(registry) => images::with_registry(images::DEFAULT_PAUSE_IMAGE, registry),
                None => images::DEFAULT_PAUSE_IMAGE.to_string(),
            }),
            probe_images: args.probe_image.iter().cloned().collect(),
            image_registry: args.image_registry.clone(),
            allocation_mode: args.allocation_mode.into(),
            scheduler_names: args.scheduler_name.iter().cloned().collect(),
            gang_queues: args.gang_queue.iter().cloned().collect(),
            timeout_scale: args.timeout_scale,
            accelerator_metrics: args.accelerator_metrics_url.clone(),
            prometheus: args.prometheus_url.clone(),
            prometheus_headers,
            hpa_metric: args.hpa_metric.clone(),
            wait_overrides: WaitOverrides::new(args.waits.iter().copied()),
            allow_costly: args.include_opt_in,
            send_from: args.send_from.into(),
        },
        concurrency: args.concurrency,
    };
    let (events, receiver) = tokio::sync::mpsc::unbounded_channel();
    let reporter = tokio::spawn(progress::report(receiver, !args.no_progress));
    let shutdown = async {
        // If the signal handler cannot be installed, never interrupt rather than interrupt at once.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let result = runner.run(checks, events, shutdown).await;
    let _ = reporter.await;

    let mut report = build_report(&run_id, started_at, &cluster.server, &preflight, &selection, &left_out, &result);
    output::write_all(&args.output_dir, &mut report)
        .with_context(|| format!("failed to write the report to {}", args.output_dir.display()))?;
    progress::print_summary(&report, &args.output_dir);
    if let (Some(template), Some(platform_info)) = (&args.checklist, &args.platform_info) {
        crate::certify_cli::fill_after_run(template, platform_info, &report, &args.output_dir)
            .context("the run's reports are written, but the checklist could not be filled")?;
    }
    if !result.cleanup.failed.is_empty() {
        eprintln!(
            "warning: cleanup could not delete {}; run `kaic cleanup --run-id {run_id}`",
            result.cleanup.failed.join(", ")
        );
    }
    Ok(if result.interrupted {
        eprintln!("interrupted: the report is partial; everything the run created was cleaned up");
        EXIT_CANNOT_RUN
    } else {
        exit_code(&report.summary, args.strict)
    })
}

/// The report of a run: the roll-up per requirement, and what was chosen, left out and interrupted, so
/// that `kaic checklist fill` and `kaic validate` can tell an untested requirement from an untestable one.
/// The exit code of a finished run: 0 every MUST met, 1 some MUST failed, 3 none failed but some are
/// undecided (1 with `--strict`).
fn exit_code(summary: &Summary, strict: bool) -> u8 {
    if summary.all_musts_met {
        EXIT_OK
    } else if !summary.musts_failed.is_empty() || strict {
        EXIT_NOT_MET
    } else {
        EXIT_UNDECIDED
    }
}

fn build_report(
    run_id: &str,
    started_at: jiff::Timestamp,
    server: &str,
    preflight: &Preflight,
    selection: &Selection,
    left_out: &[LeftOut],
    result: &RunResult,
) -> RunReport {
    let requirements: Vec<RequirementReport> = catalogue::requirements(preflight.conformance_version)
        .iter()
        .map(|r| RequirementReport::roll_up(r, &result.checks))
        .collect();
    let summary = Summary::of(&requirements, &result.checks);
    // `LeftOut` names the check only; the requirements it would have proved come from the check itself.
    let all_checks = kaic_checks::all_checks();
    let left_out = left_out
        .iter()
        .map(|left| kaic_model::report::LeftOutCheck {
            id: left.id.to_string(),
            requirements: all_checks
                .iter()
                .find(|c| c.id() == left.id)
                .map(|c| c.requirements().iter().map(ToString::to_string).collect())
                .unwrap_or_default(),
            why: left.why.clone(),
        })
        .collect();
    RunReport {
        schema: SCHEMA_VERSION.to_string(),
        kaic_version: env!("CARGO_PKG_VERSION").to_string(),
        run_id: run_id.to_string(),
        started_at: started_at.to_string(),
        finished_at: jiff::Timestamp::now().to_string(),
        cluster: ClusterInfo {
            server: server.to_string(),
            server_version: preflight.server_version.clone(),
            conformance_version: preflight.conformance_version,
            catalogue_note: preflight.catalogue_note.clone(),
            capabilities: preflight.capabilities.names(),
            missing_permissions: preflight.missing_permissions.clone(),
        },
        requirements,
        checks: result.checks.clone(),
        summary,
        selection: kaic_model::report::RunSelection {
            focus: selection.focus.clone(),
            skip: selection.skip.clone(),
            include_opt_in: selection.include_opt_in,
        },
        left_out,
        interrupted: result.interrupted,
    }
}

fn print_preflight(server: &str, preflight: &Preflight) {
    eprintln!("cluster {server}: Kubernetes {}", preflight.server_version);
    eprintln!("catalogue: Kubernetes AI Conformance {}", preflight.conformance_version);
    if let Some(note) = &preflight.catalogue_note {
        eprintln!("note: {note}");
    }
    eprintln!("capabilities: {}", preflight.capabilities.names().join(", "));
    if !preflight.missing_permissions.is_empty() {
        eprintln!(
            "warning: kaic lacks these permissions, checks that need them will end in error: {}",
            preflight.missing_permissions.join(", ")
        );
    }
    if !preflight.leftovers.is_empty() {
        eprintln!(
            "warning: {} namespaces left by earlier kaic runs ({}); they may hold devices: run `kaic cleanup` to remove them",
            preflight.leftovers.len(),
            preflight.leftovers.join(", ")
        );
    }
}

fn print_plan(checks: &[Arc<dyn Check>], left_out: &[LeftOut], preflight: &Preflight) {
    out!("dry run: would run {} checks", checks.len());
    for check in checks {
        let needs: Vec<String> = check.needs().iter().map(ToString::to_string).collect();
        out!(
            "- {} (requirements: {}; needs: {}; timeout {}s)",
            check.id(),
            check.requirements().join(", "),
            if needs.is_empty() { "nothing special".to_string() } else { needs.join(", ") },
            check.timeout().as_secs()
        );
        out!("  namespace {}, labelled {}=kaic", labels::namespace_name("<run id>", check.id()), labels::MANAGED_BY);
        for what in check.creates() {
            out!("  creates: {what}");
        }
    }
    for left in left_out {
        out!("- {} left out: {}", left.id, left.why);
    }
    let covered: Vec<&str> = checks.iter().flat_map(|c| c.requirements().iter().copied()).collect();
    for requirement in catalogue::requirements(preflight.conformance_version) {
        if !covered.contains(&requirement.id) {
            out!(
                "- requirement {} ({}): no check will run; it will be reported unknown",
                requirement.id,
                requirement.level
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(failed: &[&str], undecided: &[&str]) -> Summary {
        let names = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        Summary {
            musts_failed: names(failed),
            musts_not_verified: names(undecided),
            musts_not_met: names(failed).into_iter().chain(names(undecided)).collect(),
            all_musts_met: failed.is_empty() && undecided.is_empty(),
            ..Summary::default()
        }
    }

    #[test]
    fn exit_codes_tell_failed_from_undecided() {
        assert_eq!(exit_code(&summary(&[], &[]), false), EXIT_OK);
        assert_eq!(exit_code(&summary(&["gang_scheduling"], &["ai_inference"]), false), EXIT_NOT_MET);
        assert_eq!(exit_code(&summary(&[], &["ai_inference"]), false), EXIT_UNDECIDED);
        assert_eq!(exit_code(&summary(&[], &["ai_inference"]), true), EXIT_NOT_MET, "--strict");
    }
}
