//! The behaviour of `kaic registry add|import|token create|serve` behind the `kaic` binary's argument
//! parsing. Each returns the exit code: 0 done, 1 a submission was refused (for import: at least one;
//! the valid ones are stored all the same), 2 the registry could not run (bad database URL, unreadable
//! folder, database error, address in use).

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use jiff::civil::Date;

use crate::dates;
use crate::db::{Db, Stored};
use crate::import::{self, Added};
use crate::submit::Refusal;

pub const EXIT_OK: u8 = 0;
pub const EXIT_REFUSED: u8 = 1;
pub const EXIT_CANNOT: u8 = 2;

type Sink<'a> = &'a mut dyn Write;

/// `kaic registry add`.
#[derive(Debug, Clone)]
pub struct AddOptions {
    pub database: String,
    pub file: PathBuf,
    pub results: Option<PathBuf>,
    pub certified_on: Option<Date>,
}

/// `kaic registry add FILE [--results FILE]`.
pub async fn add(options: &AddOptions, out: Sink<'_>, err: Sink<'_>) -> u8 {
    let db = match Db::connect(&options.database).await {
        Ok(db) => db,
        Err(e) => return cannot(err, &e),
    };
    let today = dates::today();
    match import::add(&db, &options.file, options.results.as_deref(), options.certified_on, today).await {
        Ok(Ok(added)) => {
            print_added(out, &added);
            EXIT_OK
        }
        // A file that cannot be read at all is "could not run", as for `kaic validate`.
        Ok(Err(Refusal::Unreadable(e))) => cannot(err, &e),
        Ok(Err(refusal)) => refuse(out, err, &options.file, &refusal),
        Err(e) => cannot(err, &e),
    }
}

/// `kaic registry import DIR`.
pub async fn import(database: &str, dir: &std::path::Path, out: Sink<'_>, err: Sink<'_>) -> u8 {
    let db = match Db::connect(database).await {
        Ok(db) => db,
        Err(e) => return cannot(err, &e),
    };
    let report = match import::import_tree(&db, dir, dates::today()).await {
        Ok(r) => r,
        Err(e) => return cannot(err, &e),
    };
    for added in &report.added {
        print_added(out, added);
    }
    for (file, refusal) in &report.refused {
        let _ = refuse(out, err, file, refusal);
    }
    let new = report.added.iter().filter(|a| matches!(a.stored, Stored::New { .. })).count();
    let _ = writeln!(
        out,
        "imported {}: {new} new, {} already in the registry, {} refused",
        dir.display(),
        report.added.len() - new,
        report.refused.len()
    );
    if report.refused.is_empty() { EXIT_OK } else { EXIT_REFUSED }
}

/// `kaic registry token create`.
pub async fn token_create(database: &str, label: &str, out: Sink<'_>, err: Sink<'_>) -> u8 {
    let db = match Db::connect(database).await {
        Ok(db) => db,
        Err(e) => return cannot(err, &e),
    };
    match crate::auth::create(&db, label).await {
        Ok(token) => {
            // The token alone on stdout (for `TOKEN=$(kaic registry token create)`); the note on stderr.
            let _ = writeln!(out, "{token}");
            let _ = writeln!(
                err,
                "created write token '{label}': it is shown only now (the registry keeps its hash); send it as \
                 `Authorization: Bearer <token>` to POST /api/v1/submissions"
            );
            EXIT_OK
        }
        Err(e) => cannot(err, &e),
    }
}

/// `kaic registry serve`: serves until Ctrl-C.
pub async fn serve(database: &str, listen: SocketAddr, out: Sink<'_>, err: Sink<'_>) -> u8 {
    let db = match Db::connect(database).await {
        Ok(db) => db,
        Err(e) => return cannot(err, &e),
    };
    let listener = match tokio::net::TcpListener::bind(listen).await {
        Ok(l) => l,
        Err(e) => {
            let _ = writeln!(err, "error: failed to listen on {listen}: {e}; pick another --listen address");
            return EXIT_CANNOT;
        }
    };
    let address = listener.local_addr().unwrap_or(listen);
    let _ = writeln!(out, "serving the registry on http://{address}/ (Ctrl-C or SIGTERM stops it)");
    let _ = out.flush();
    // Ctrl-C, or SIGTERM from a service manager or container runtime: finish the requests in flight.
    let shutdown = async {
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            () = terminate => {}
        }
    };
    match axum::serve(listener, crate::server::router(db)).with_graceful_shutdown(shutdown).await {
        Ok(()) => EXIT_OK,
        Err(e) => {
            let _ = writeln!(err, "error: the server stopped: {e}");
            EXIT_CANNOT
        }
    }
}

fn print_added(out: Sink<'_>, added: &Added) {
    let results = match &added.results {
        Some(path) => format!("requirements marked from the kaic results {}", path.display()),
        None => "no kaic results attached: every requirement is self-attested".into(),
    };
    let line = match added.stored {
        Stored::New { number, superseded, current } => {
            let history = match (current, superseded) {
                (true, Some(old)) => format!("; supersedes certification #{old}, kept in the history"),
                (true, None) => String::new(),
                (false, _) => {
                    "; a newer certification of this platform is current, this one goes to the history".into()
                }
            };
            format!(
                "added {} as certification #{number} from {} (certified on {}, {}; {results}{history})",
                added.platform_id,
                added.file.display(),
                added.certified_on,
                added.date_source.describe(),
            )
        }
        Stored::Unchanged { number } => {
            format!("unchanged: {} is already certification #{number} of {}", added.file.display(), added.platform_id)
        }
    };
    let _ = writeln!(out, "{line}");
}

/// Reports a refused submission; an invalid one with `kaic validate`'s own report on stdout.
fn refuse(out: Sink<'_>, err: Sink<'_>, file: &std::path::Path, refusal: &Refusal) -> u8 {
    match refusal {
        Refusal::Invalid(report) => {
            let _ = write!(out, "{}", report.to_text());
            let _ =
                writeln!(err, "refused {}: it is not valid (`kaic validate` rules; problems above)", file.display());
        }
        other => {
            let _ = writeln!(err, "refused {}: {other}", file.display());
        }
    }
    EXIT_REFUSED
}

fn cannot(err: Sink<'_>, e: &dyn std::fmt::Display) -> u8 {
    let _ = writeln!(err, "error: {e}");
    EXIT_CANNOT
}
