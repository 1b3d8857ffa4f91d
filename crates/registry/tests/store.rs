//! Adding and importing submissions against a real (temporary) SQLite registry: only what `kaic
//! validate` accepts goes in, with validate's own problems for what it refuses; an import is one
//! transaction; dates, expiry and superseding as stored and read back.

mod common;

use common::{break_submission, sqlite_db, write_submission};
use jiff::ToSpan;
use kaic_model::catalogue::{ConformanceVersion, requirements};
use kaic_registry::dates::{self, DateSource, State};
use kaic_registry::db::{Filter, Page, Stored};
use kaic_registry::import::{self, ImportError};
use kaic_registry::model::Verification;
use kaic_registry::submit::Refusal;

const V: ConformanceVersion = ConformanceVersion::V1_37;

#[tokio::test]
async fn add_marks_requirements_verified_by_kaic_only_with_results() {
    let tmp = tempfile::tempdir().unwrap();
    let db = sqlite_db(tmp.path()).await;
    let product = write_submission(tmp.path(), V, "acme", "Acme Corp", "Acme AI Platform", "2.4.1");
    let results = product.with_file_name("kaic-results.json");
    let today = dates::today();

    let added = import::add(&db, &product, Some(&results), None, today).await.unwrap().unwrap();
    assert_eq!(added.platform_id, "acme-corp-acme-ai-platform-1.37");
    assert_eq!(added.date_source, DateSource::Added);
    assert!(matches!(added.stored, Stored::New { superseded: None, current: true, .. }));

    let detail = db.platform(&added.platform_id, today).await.unwrap().unwrap();
    let total = requirements(V).len();
    assert_eq!(detail.requirements.len(), total);
    // Every check passed except gpu_sharing (not applicable): that one is self-attested.
    for r in &detail.requirements {
        let expected = if r.id == "gpu_sharing" { Verification::SelfAttested } else { Verification::Kaic };
        assert_eq!(r.verification, expected, "{}", r.id);
    }
    assert_eq!(detail.current.verified_count as usize, total - 1);
    assert!(detail.current.results_attached);
    assert_eq!(detail.current.certified_on, today.to_string());
    assert_eq!(detail.current.expires_on, dates::expiry(today).to_string());
    assert_eq!(detail.current.state, State::Valid);

    // The same platform submitted by another file without results: all self-attested.
    let other = tmp.path().join("other");
    let product2 = write_submission(&other, V, "acme", "Acme Corp", "Acme AI Platform", "2.5.0");
    let added2 = import::add(&db, &product2, None, None, today).await.unwrap().unwrap();
    let detail = db.platform(&added2.platform_id, today).await.unwrap().unwrap();
    assert!(detail.requirements.iter().all(|r| r.verification == Verification::SelfAttested));
    assert_eq!((detail.current.verified_count, detail.current.results_attached), (0, false));
}

#[tokio::test]
async fn an_invalid_submission_is_refused_with_validates_own_problem_list() {
    let tmp = tempfile::tempdir().unwrap();
    let db = sqlite_db(tmp.path()).await;
    let product = write_submission(tmp.path(), V, "acme", "Acme Corp", "Acme AI Platform", "2.4.1");
    break_submission(&product);
    let refusal = import::add(&db, &product, None, None, dates::today()).await.unwrap().unwrap_err();
    let Refusal::Invalid(report) = refusal else { panic!("expected an invalid submission, got {refusal}") };
    let validate = kaic_certify::validate::validate_file(&product, None).unwrap();
    assert_eq!(report.problems, validate.problems);
    assert!(report.problems.iter().any(|p| p.rule.code() == "status-invalid"), "{:?}", report.problems);
    let (items, _) = db.list(&Filter::default(), Page::After(0), 10, dates::today()).await.unwrap();
    assert!(items.is_empty(), "nothing stored");
}

#[tokio::test]
async fn results_of_another_version_are_refused_naming_the_fix() {
    let tmp = tempfile::tempdir().unwrap();
    let db = sqlite_db(tmp.path()).await;
    let product = write_submission(tmp.path(), V, "acme", "Acme Corp", "Acme AI Platform", "2.4.1");
    let old = tmp.path().join("old-results.json");
    let run = common::passing_run(ConformanceVersion::V1_36);
    std::fs::write(&old, serde_json::to_string(&run).unwrap()).unwrap();
    let refusal = import::add(&db, &product, Some(&old), None, dates::today()).await.unwrap().unwrap_err();
    let message = refusal.to_string();
    assert!(message.contains("1.36") && message.contains("--conformance-version 1.37"), "{message}");
}

#[tokio::test]
async fn import_stores_the_valid_lists_the_invalid_and_is_idempotent() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("repo");
    write_submission(&root, V, "acme", "Acme Corp", "Acme AI Platform", "2.4.1");
    write_submission(&root, ConformanceVersion::V1_36, "globex", "Globex", "Globex Kubernetes", "1.0");
    let broken = write_submission(&root, V, "initech", "Initech", "Initech Cloud", "3.1");
    break_submission(&broken);
    std::fs::create_dir_all(root.join("v1.37/empty-product")).unwrap();
    std::fs::create_dir_all(root.join("docs")).unwrap();
    let db = sqlite_db(tmp.path()).await;
    let today = dates::today();

    let report = import::import_tree(&db, &root, today).await.unwrap();
    let ids: Vec<&str> = report.added.iter().map(|a| a.platform_id.as_str()).collect();
    assert_eq!(ids, ["globex-kubernetes-1.36", "acme-corp-acme-ai-platform-1.37"]);
    assert!(report.added.iter().all(|a| a.date_source == DateSource::Imported && a.results.is_some()));
    assert_eq!(report.refused.len(), 2, "{:?}", report.refused);
    let refused: Vec<String> =
        report.refused.iter().map(|(p, _)| p.strip_prefix(&root).unwrap().display().to_string()).collect();
    assert_eq!(refused, ["v1.37/empty-product/PRODUCT.yaml", "v1.37/initech/PRODUCT.yaml"]);
    assert!(matches!(report.refused[1].1, Refusal::Invalid(_)));
    assert!(report.refused[0].1.to_string().contains("empty-product/PRODUCT.yaml"), "{}", report.refused[0].1);

    // A second import of the same tree changes nothing.
    let again = import::import_tree(&db, &root, today).await.unwrap();
    assert!(again.added.iter().all(|a| matches!(a.stored, Stored::Unchanged { .. })));
    let (items, more) = db.list(&Filter::default(), Page::After(0), 10, today).await.unwrap();
    assert_eq!((items.len(), more), (2, false));
    let detail = db.platform("acme-corp-acme-ai-platform-1.37", today).await.unwrap().unwrap();
    assert!(detail.history.is_empty());
    assert!(detail.current.source.contains("v1.37/acme/PRODUCT.yaml"), "{}", detail.current.source);
}

#[tokio::test]
async fn a_tree_without_version_folders_is_named_with_the_layout() {
    let tmp = tempfile::tempdir().unwrap();
    let db = sqlite_db(tmp.path()).await;
    std::fs::create_dir_all(tmp.path().join("acme")).unwrap();
    let err = import::import_tree(&db, tmp.path(), dates::today()).await.unwrap_err();
    assert!(matches!(err, ImportError::NoVersionFolders(_)));
    assert!(err.to_string().contains("vX.Y/<product>/PRODUCT.yaml"), "{err}");
}

/// A database failure in the middle of an import leaves nothing of it: the first submission, already
/// inserted when the second fails, is rolled back.
#[tokio::test]
async fn nothing_half_imports() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("repo");
    write_submission(&root, V, "acme", "Acme Corp", "Acme AI Platform", "2.4.1");
    write_submission(&root, V, "zeta", "Zeta", "Zeta Cloud", "9");
    let db = sqlite_db(tmp.path()).await;
    // Fail the second insert from inside the database, as a full disk or a lost connection would.
    let raw =
        sqlx::SqlitePool::connect(&format!("sqlite://{}", tmp.path().join("registry.db").display())).await.unwrap();
    sqlx::query(
        "CREATE TRIGGER fail_zeta BEFORE INSERT ON certifications WHEN NEW.platform_id LIKE 'zeta%' \
         BEGIN SELECT RAISE(ABORT, 'injected failure'); END",
    )
    .execute(&raw)
    .await
    .unwrap();
    let err = import::import_tree(&db, &root, dates::today()).await.unwrap_err();
    assert!(err.to_string().contains("injected failure"), "{err}");
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM certifications").fetch_one(&raw).await.unwrap();
    assert_eq!(count, 0, "the acme submission was rolled back with the failed one");
}

#[tokio::test]
async fn a_newer_certification_supersedes_the_older_which_stays_in_the_history() {
    let tmp = tempfile::tempdir().unwrap();
    let db = sqlite_db(tmp.path()).await;
    let today = dates::today();
    let add = async |folder: &str, platform_version: &str, certified: jiff::civil::Date| {
        let product = write_submission(&tmp.path().join(folder), V, "acme", "Acme", "Acme AI", platform_version);
        import::add(&db, &product, None, Some(certified), today).await.unwrap().unwrap()
    };
    let first = add("a", "1.0", today - 30.days()).await;
    let second = add("b", "2.0", today - 5.days()).await;
    let (Stored::New { number: n1, .. }, Stored::New { number: n2, superseded, current }) =
        (first.stored, second.stored)
    else {
        panic!("both stored")
    };
    assert_eq!((superseded, current), (Some(n1), true));
    assert_eq!(second.date_source, DateSource::Submission);
    // An older certification arriving late goes straight to the history.
    let late = add("c", "0.9", today - 200.days()).await;
    assert!(matches!(late.stored, Stored::New { current: false, superseded: None, .. }));

    let detail = db.platform("acme-ai-1.37", today).await.unwrap().unwrap();
    assert_eq!(detail.current.number, n2);
    assert_eq!(detail.current.facts.platform_version, "2.0");
    let history: Vec<(&str, State, Option<i64>)> =
        detail.history.iter().map(|h| (h.facts.platform_version.as_str(), h.state, h.superseded_by)).collect();
    assert_eq!(history, [("1.0", State::Superseded, Some(n2)), ("0.9", State::Superseded, Some(n2))]);
    // The list shows the platform once.
    let (items, _) = db.list(&Filter::default(), Page::After(0), 10, today).await.unwrap();
    assert_eq!(items.iter().map(|c| c.number).collect::<Vec<_>>(), [n2]);
}

#[tokio::test]
async fn expired_certifications_are_kept_and_filtered_by_state() {
    let tmp = tempfile::tempdir().unwrap();
    let db = sqlite_db(tmp.path()).await;
    let today = dates::today();
    let cases = [("valid", today), ("due", today - 11.months()), ("gone", today - 13.months())];
    for (name, certified) in cases {
        let product = write_submission(&tmp.path().join(name), V, name, "Vendor", &format!("Platform {name}"), "1");
        import::add(&db, &product, None, Some(certified), today).await.unwrap().unwrap();
    }
    let state_of = async |state: Option<State>| {
        let filter = Filter { state, ..Filter::default() };
        let (items, _) = db.list(&filter, Page::After(0), 10, today).await.unwrap();
        items.into_iter().map(|c| (c.facts.platform_name, c.state)).collect::<Vec<_>>()
    };
    assert_eq!(state_of(None).await.len(), 3, "expired entries are kept");
    assert_eq!(state_of(Some(State::Valid)).await, [("Platform valid".to_string(), State::Valid)]);
    assert_eq!(state_of(Some(State::RetestDue)).await, [("Platform due".to_string(), State::RetestDue)]);
    assert_eq!(state_of(Some(State::Expired)).await, [("Platform gone".to_string(), State::Expired)]);
}

/// A database that cannot be used is named with the cause and a hint at once, not after the pool's
/// 30-second retry.
#[tokio::test]
async fn an_unusable_database_is_named_with_the_cause_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let junk = tmp.path().join("junk.db");
    std::fs::write(&junk, "not a database, just text that is long enough to be read as a header").unwrap();
    let started = std::time::Instant::now();
    let err = kaic_registry::db::Db::connect(junk.to_str().unwrap()).await.unwrap_err().to_string();
    assert!(err.contains("file is not a database") && err.contains("SQLite database"), "{err}");
    // Port 1 on loopback: nothing listens there.
    let err =
        kaic_registry::db::Db::connect("postgres://kaic:secret@127.0.0.1:1/registry").await.unwrap_err().to_string();
    assert!(err.contains("refused") && err.contains("check that the server runs"), "{err}");
    assert!(err.contains("kaic:***@") && !err.contains("secret"), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}
