//! The registry on a real PostgreSQL server: the harness starts one from Debian's `postgresql` package
//! (`initdb` and `pg_ctl` from /usr/lib/postgresql/<major>/bin) in a temporary folder, on 127.0.0.1 and
//! a free port, and stops it at the end, also when an assertion fails. As root it runs the server as
//! the `postgres` user (PostgreSQL refuses to run as root). Without the binaries the test says so
//! loudly and passes: `crates/registry/ci-install` installs them.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::{break_submission, write_submission};
use http_body_util::BodyExt;
use jiff::ToSpan;
use kaic_model::catalogue::ConformanceVersion;
use kaic_registry::dates::{self, State};
use kaic_registry::db::{Backend, Db, Filter, Page, Stored};
use kaic_registry::{auth, import};
use tower::ServiceExt;

const V: ConformanceVersion = ConformanceVersion::V1_37;

/// The newest PostgreSQL binaries installed, if any.
fn pg_bin() -> Option<PathBuf> {
    let mut dirs: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, bin): &(u32, PathBuf)| bin.join("initdb").is_file() && bin.join("pg_ctl").is_file())
        .collect();
    dirs.sort();
    dirs.pop().map(|(_, bin)| bin)
}

/// A running PostgreSQL server, stopped on drop.
struct Server {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    as_postgres: bool,
    _dir: tempfile::TempDir,
}

impl Server {
    fn command(&self, program: &str) -> Command {
        command(&self.bin, program, self.as_postgres)
    }

    fn start() -> Server {
        let bin = pg_bin().expect("checked by the caller");
        let as_postgres = is_root();
        let dir = tempfile::tempdir().unwrap();
        if as_postgres {
            // The server runs as `postgres`: it must own its folder.
            let uid = id_of("-u");
            let gid = id_of("-g");
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).unwrap();
        }
        let data = dir.path().join("data");
        let out = command(&bin, "initdb", as_postgres)
            .args(["-D"])
            .arg(&data)
            .args(["-U", "kaic", "--auth=trust", "-E", "UTF8", "--no-instructions"])
            .output()
            .unwrap();
        assert!(out.status.success(), "initdb failed: {}", String::from_utf8_lossy(&out.stderr));
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let options = format!("-p {port} -c listen_addresses=127.0.0.1 -k {} -c fsync=off", dir.path().display());
        let log = dir.path().join("server.log");
        let out = command(&bin, "pg_ctl", as_postgres)
            .arg("-D")
            .arg(&data)
            .args(["-o", &options, "-l"])
            .arg(&log)
            .args(["-w", "-t", "60", "start"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg_ctl start failed: {}{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        Server { bin, data, port, as_postgres, _dir: dir }
    }

    /// A new, empty database on this server, as a URL.
    fn database(&self, name: &str) -> String {
        let out = self
            .command("createdb")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", "kaic", name])
            .output()
            .unwrap();
        assert!(out.status.success(), "createdb failed: {}", String::from_utf8_lossy(&out.stderr));
        format!("postgres://kaic@127.0.0.1:{}/{name}", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.command("pg_ctl").arg("-D").arg(&self.data).args(["-m", "immediate", "-w", "stop"]).output();
    }
}

fn command(bin: &Path, program: &str, as_postgres: bool) -> Command {
    if as_postgres {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin.join(program));
        c
    } else {
        Command::new(bin.join(program))
    }
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

fn id_of(flag: &str) -> u32 {
    let out = Command::new("id").args([flag, "postgres"]).output().unwrap();
    assert!(out.status.success(), "running as root needs a `postgres` user (Debian's package creates it)");
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

async fn get(app: &axum::Router, uri: &str) -> (StatusCode, serde_json::Value) {
    let response = app.clone().oneshot(Request::get(uri).body(Body::empty()).unwrap()).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null))
}

#[tokio::test]
async fn the_registry_on_a_real_postgresql_server() {
    if pg_bin().is_none() {
        eprintln!(
            "\n*** SKIPPED: no PostgreSQL binaries in /usr/lib/postgresql/*/bin: the PostgreSQL tests did NOT run. \
             Install them with crates/registry/ci-install (apt-get install postgresql). ***\n"
        );
        return;
    }
    let server = Server::start();
    let tmp = tempfile::tempdir().unwrap();
    let today = dates::today();

    // Import: valid ones in, the invalid one listed, migrations applied on first start and again harmless.
    let root = tmp.path().join("repo");
    write_submission(&root, V, "acme", "Acme Corp", "Acme AI Platform", "2.4.1");
    write_submission(&root, ConformanceVersion::V1_36, "globex", "Globex", "Globex 100% Kubernetes", "7");
    break_submission(&write_submission(&root, V, "initech", "Initech", "Initech Cloud", "3.1"));
    let url = server.database("registry");
    let db = Db::connect(&url).await.unwrap();
    assert_eq!(db.backend(), Backend::Postgres);
    let report = import::import_tree(&db, &root, today).await.unwrap();
    assert_eq!((report.added.len(), report.refused.len()), (2, 1));
    assert!(report.added.iter().all(|a| matches!(a.stored, Stored::New { .. })));
    db.close().await;
    let db = Db::connect(&url).await.unwrap();
    let again = import::import_tree(&db, &root, today).await.unwrap();
    assert!(again.added.iter().all(|a| matches!(a.stored, Stored::Unchanged { .. })));

    // Superseding, history and states on PostgreSQL.
    for (folder, version, certified) in [("old", "2.0", today - 13.months()), ("new", "2.5", today - 11.months())] {
        let product = write_submission(&tmp.path().join(folder), V, "acme", "Acme Corp", "Acme AI Platform", version);
        import::add(&db, &product, None, Some(certified), today).await.unwrap().unwrap();
    }
    let detail = db.platform("acme-corp-acme-ai-platform-1.37", today).await.unwrap().unwrap();
    assert_eq!((detail.current.facts.platform_version.as_str(), detail.current.state), ("2.4.1", State::Valid));
    assert_eq!(detail.history.len(), 2);
    assert!(detail.history.iter().all(|h| h.state == State::Superseded));

    // Filters: search (LIKE wildcards literal), state, verified share.
    let list = async |filter: Filter| {
        let (items, _) = db.list(&filter, Page::After(0), 10, today).await.unwrap();
        items.into_iter().map(|c| c.platform_id).collect::<Vec<_>>()
    };
    assert_eq!(list(Filter { search: Some("100%".into()), ..Filter::default() }).await, ["globex-100-kubernetes-1.36"]);
    assert_eq!(list(Filter { search: Some("1_0".into()), ..Filter::default() }).await, Vec::<String>::new());
    assert_eq!(list(Filter { state: Some(State::Expired), ..Filter::default() }).await, Vec::<String>::new());
    assert_eq!(list(Filter { min_verified: Some(80), ..Filter::default() }).await.len(), 2, "imported with results");

    // The HTTP API over PostgreSQL: pagination, detail, 404, the write endpoint's auth.
    let app = kaic_registry::server::router(db.clone());
    let (status, page) = get(&app, "/api/v1/platforms?limit=1").await;
    assert_eq!(status, StatusCode::OK);
    let cursor = page["next_cursor"].as_str().unwrap().to_string();
    let (_, next) = get(&app, &format!("/api/v1/platforms?limit=1&cursor={cursor}")).await;
    assert_eq!(next["next_cursor"], serde_json::Value::Null);
    assert_ne!(page["items"][0]["platform_id"], next["items"][0]["platform_id"]);
    assert_eq!(get(&app, "/api/v1/platforms/nope").await.0, StatusCode::NOT_FOUND);
    let token = auth::create(&db, "pg").await.unwrap();
    let submit = |token: Option<String>| {
        let mut r = Request::post("/api/v1/submissions").header(header::CONTENT_TYPE, "application/json");
        if let Some(t) = token {
            r = r.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        r.body(Body::from("{\"product_yaml\": \"metadata: {}\\nspec: {}\\n\"}")).unwrap()
    };
    assert_eq!(app.clone().oneshot(submit(None)).await.unwrap().status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.clone().oneshot(submit(Some("kaicreg_bad".into()))).await.unwrap().status(), StatusCode::FORBIDDEN);
    assert_eq!(app.clone().oneshot(submit(Some(token))).await.unwrap().status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = app.clone().oneshot(Request::get("/?q=acme").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(html.status(), StatusCode::OK);

    // Nothing half-imports on PostgreSQL either: a failure inside the database rolls the batch back.
    let url = server.database("atomic");
    let db = Db::connect(&url).await.unwrap();
    let raw = sqlx::PgPool::connect(&url).await.unwrap();
    sqlx::raw_sql(
        "CREATE FUNCTION fail_zeta() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$ \
         LANGUAGE plpgsql; \
         CREATE TRIGGER fail_zeta BEFORE INSERT ON certifications FOR EACH ROW \
         WHEN (NEW.platform_id LIKE 'zeta%') EXECUTE FUNCTION fail_zeta();",
    )
    .execute(&raw)
    .await
    .unwrap();
    let tree = tmp.path().join("atomic");
    write_submission(&tree, V, "acme", "Acme Corp", "Acme AI Platform", "2.4.1");
    write_submission(&tree, V, "zeta", "Zeta", "Zeta Cloud", "9");
    let err = import::import_tree(&db, &tree, today).await.unwrap_err();
    assert!(err.to_string().contains("injected failure"), "{err}");
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM certifications").fetch_one(&raw).await.unwrap();
    assert_eq!(count, 0);
    raw.close().await;
    db.close().await;
}
