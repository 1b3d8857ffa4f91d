//! `kaic cleanup`: delete what earlier runs left behind (a killed run cannot clean up after itself).
//! Selects by kaic's labels only, so nothing kaic did not create is touched.

use kaic_checks::cleanup::{self, Scope};

use crate::cli::CleanupArgs;
use crate::{EXIT_CANNOT_RUN, EXIT_OK};

pub async fn run(args: CleanupArgs) -> anyhow::Result<u8> {
    let (cluster, _) = args.cluster.target().connect().await?;
    let scope = match args.run_id {
        Some(id) => Scope::Run(id),
        None => Scope::AllRuns,
    };
    let report = cleanup::clean(&cluster.client, &scope).await;
    if report.deleted.is_empty() && report.failed.is_empty() {
        out!("nothing to clean up: no object carries kaic's labels");
    }
    for deleted in &report.deleted {
        out!("deleted {deleted}");
    }
    for failed in &report.failed {
        eprintln!("error: could not delete {failed}");
    }
    Ok(if report.failed.is_empty() { EXIT_OK } else { EXIT_CANNOT_RUN })
}
