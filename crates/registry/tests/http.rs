//! Every route of the registry's server and every error it answers, through the router itself (tower's
//! `oneshot`) over a temporary SQLite registry filled by kaic's own fill from the official templates.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::{break_submission, sqlite_db, write_submission};
use http_body_util::BodyExt;
use kaic_model::catalogue::ConformanceVersion;
use kaic_registry::db::Db;
use kaic_registry::{auth, dates, import};
use serde_json::{Value, json};
use tower::ServiceExt;

const V: ConformanceVersion = ConformanceVersion::V1_37;

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

async fn send(app: &Router, request: Request<Body>) -> Answer {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = String::from_utf8(response.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    Answer { status, headers, body }
}

async fn get(app: &Router, uri: &str) -> Answer {
    send(app, Request::get(uri).body(Body::empty()).unwrap()).await
}

async fn post(app: &Router, token: Option<&str>, body: impl Into<Body>) -> Answer {
    let mut request = Request::post("/api/v1/submissions").header(header::CONTENT_TYPE, "application/json");
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    send(app, request.body(body.into()).unwrap()).await
}

/// A registry with three platforms: two for 1.37 (one with kaic results, one whose vendor name holds
/// markup), one for 1.36.
async fn registry(dir: &Path) -> (Db, Router) {
    let db = sqlite_db(dir).await;
    let root = dir.join("repo");
    let today = dates::today();
    let acme = write_submission(&root, V, "acme", "Acme Corp", "Acme AI Platform", "2.4.1");
    import::add(&db, &acme, Some(&acme.with_file_name("kaic-results.json")), None, today).await.unwrap().unwrap();
    let evil = write_submission(&root, V, "evil", "<script>alert(1)</script> Inc", "Evil Cloud", "1.0");
    import::add(&db, &evil, None, None, today).await.unwrap().unwrap();
    let globex = write_submission(&root, ConformanceVersion::V1_36, "globex", "Globex", "Globex Kubernetes", "7");
    import::add(&db, &globex, None, None, today).await.unwrap().unwrap();
    let app = kaic_registry::server::router(db.clone());
    (db, app)
}

/// The HTTP body for a submission folder: PRODUCT.yaml, the other files as `files`, and optionally the
/// run's results as `kaic_results`.
fn submission_body(product: &Path, with_results: bool) -> Value {
    let dir = product.parent().unwrap();
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path != product {
                let name = path.strip_prefix(dir).unwrap().display().to_string();
                files.insert(name, std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    let results: Option<Value> = with_results.then(|| serde_json::from_str(&files["kaic-results.json"]).unwrap());
    json!({
        "product_yaml": std::fs::read_to_string(product).unwrap(),
        "files": files,
        "kaic_results": results,
    })
}

#[tokio::test]
async fn the_list_page_groups_by_version_searches_and_filters() {
    let tmp = tempfile::tempdir().unwrap();
    let (_db, app) = registry(tmp.path()).await;
    let page = get(&app, "/").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.headers[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/html"));
    let body = &page.body;
    assert!(body.contains("<html lang=\"en\">"));
    let v137 = body.find("Conformance 1.37").unwrap();
    let v136 = body.find("Conformance 1.36").unwrap();
    assert!(v137 < v136, "newest version first");
    assert!(body.contains("href=\"/platforms/acme-corp-acme-ai-platform-1.37\""));
    // Every string is escaped: the vendor's markup is text.
    assert!(body.contains("&lt;script&gt;alert(1)&lt;/script&gt; Inc"));
    assert!(!body.contains("<script"), "no script at all: the pages work without JavaScript");

    let search = get(&app, "/?q=acme+corp").await.body;
    assert!(
        search.contains("Acme AI Platform") && !search.contains("Globex Kubernetes") && !search.contains("Evil Cloud")
    );
    assert!(search.contains("value=\"acme corp\""), "the search box keeps the words");
    let by_vendor = get(&app, "/?vendor=Globex").await.body;
    assert!(by_vendor.contains("Globex Kubernetes") && !by_vendor.contains("Acme AI Platform"));
    let by_version = get(&app, "/?version=1.36").await.body;
    assert!(by_version.contains("Globex Kubernetes") && !by_version.contains("Conformance 1.37"));
    let verified = get(&app, "/?min_verified=50").await.body;
    assert!(verified.contains("Acme AI Platform") && !verified.contains("Evil Cloud"));
    let expired = get(&app, "/?state=expired").await.body;
    assert!(expired.contains("No certified platform matches."));
    // LIKE's wildcards are searched for literally.
    assert!(get(&app, "/?q=%25").await.body.contains("No certified platform matches."));

    let bad = get(&app, "/?state=certified").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        bad.body.contains("state &#39;certified&#39; is not one of")
            || bad.body.contains("state 'certified' is not one of")
    );
}

#[tokio::test]
async fn the_list_page_pages_by_100_and_keeps_the_filters_in_its_links() {
    let tmp = tempfile::tempdir().unwrap();
    let db = sqlite_db(tmp.path()).await;
    let batch: Vec<_> = (0..205)
        .map(|i| (common::synthetic_certification(i), kaic_registry::db::content_hash(&[&i.to_le_bytes()])))
        .collect();
    db.store_all(&batch).await.unwrap();
    let app = kaic_registry::server::router(db);
    let rows = |body: &str| body.matches("<tr><th scope=\"row\">").count();
    let first = get(&app, "/?q=bulk").await.body;
    assert_eq!(rows(&first), 100);
    assert!(first.contains("href=\"/?q=bulk&amp;page=2\" rel=\"next\""), "next page keeps the search");
    assert!(!first.contains("rel=\"prev\""));
    let last = get(&app, "/?q=bulk&page=3").await.body;
    assert_eq!(rows(&last), 5);
    assert!(last.contains("href=\"/?q=bulk&amp;page=2\" rel=\"prev\"") && !last.contains("rel=\"next\""));
    // Sorted by vendor then platform: the last page is the last vendor's last five.
    assert!(last.contains("Bulk Platform 174") && last.contains("Bulk Platform 202"));
    assert!(!last.contains("Bulk Platform 167"));
    let all = get(&app, "/api/v1/platforms?limit=1000").await.json();
    assert_eq!((all["items"].as_array().unwrap().len(), &all["next_cursor"]), (205, &Value::Null));
}

#[tokio::test]
async fn the_platform_page_has_facts_requirements_badge_and_history() {
    let tmp = tempfile::tempdir().unwrap();
    let (_db, app) = registry(tmp.path()).await;
    let page = get(&app, "/platforms/acme-corp-acme-ai-platform-1.37").await;
    assert_eq!(page.status, StatusCode::OK);
    let body = &page.body;
    assert!(body.contains("<h1>Acme AI Platform — Kubernetes AI Conformance 1.37</h1>"));
    assert!(body.contains("id=\"requirements\""));
    assert!(body.contains("<code>gang_scheduling</code>"));
    assert!(body.contains("verified by kaic") && body.contains("self-attested"));
    assert!(body.contains("src=\"/badges/acme-corp-acme-ai-platform-1.37.svg\""));
    assert!(body.contains("No earlier certification"));
    assert!(!body.contains("<script"));
    // http(s) facts are links; relative evidence paths are text, never links.
    assert!(body.contains("<a href=\"https://acme.example/ai-platform\""));
    assert!(body.contains("<li>kaic-results.json</li>"));
    assert!(!body.contains("href=\"kaic-results.json\""));

    let missing = get(&app, "/platforms/nope-1.37").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(
        missing.body.contains("No platform &#39;nope-1.37&#39;") || missing.body.contains("No platform 'nope-1.37'")
    );
    let other = get(&app, "/no/such/page").await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);
    assert!(other.body.contains("There is no page at /no/such/page."));
}

#[tokio::test]
async fn badges_and_the_feed() {
    let tmp = tempfile::tempdir().unwrap();
    let (_db, app) = registry(tmp.path()).await;
    let badge = get(&app, "/badges/acme-corp-acme-ai-platform-1.37.svg").await;
    assert_eq!(badge.status, StatusCode::OK);
    assert_eq!(badge.headers[header::CONTENT_TYPE], "image/svg+xml");
    let expires = dates::expiry(dates::today()).to_string();
    assert!(badge.body.starts_with("<svg") && badge.body.contains("AI conformance 1.37"));
    assert!(badge.body.contains(&format!("valid until {expires}")));
    let evil = get(&app, "/badges/script-alert-1-script-inc-evil-cloud-1.37.svg").await;
    assert!(evil.body.contains("role=\"img\""));
    assert_eq!(get(&app, "/badges/nope-1.37.svg").await.status, StatusCode::NOT_FOUND);
    assert_eq!(get(&app, "/badges/acme-corp-acme-ai-platform-1.37.png").await.status, StatusCode::NOT_FOUND);

    let feed = get(&app, "/feed.atom").await;
    assert_eq!(feed.status, StatusCode::OK);
    assert_eq!(feed.headers[header::CONTENT_TYPE], "application/atom+xml");
    let parsed: atom_syndication::Feed = feed.body.parse().unwrap();
    assert_eq!(parsed.entries.len(), 3);
    assert_eq!(parsed.entries[0].links[0].href, "/platforms/globex-kubernetes-1.36", "newest first");
    assert!(feed.body.contains("&lt;script&gt;"), "markup in the feed is escaped");
}

#[tokio::test]
async fn the_api_lists_every_entry_page_by_page() {
    let tmp = tempfile::tempdir().unwrap();
    let (_db, app) = registry(tmp.path()).await;
    let all = get(&app, "/api/v1/platforms").await.json();
    assert_eq!(all["items"].as_array().unwrap().len(), 3);
    assert_eq!(all["next_cursor"], Value::Null);
    let first = &all["items"][0];
    assert_eq!(first["platform_id"], "acme-corp-acme-ai-platform-1.37");
    assert_eq!(first["state"], "valid");
    assert_eq!(first["vendor_name"], "Acme Corp");
    assert_eq!(first["date_source"], "added");
    assert_eq!(first["source"], "kaic registry add: v1.37/acme/PRODUCT.yaml", "no server folders published");

    let mut seen = Vec::new();
    let mut uri = "/api/v1/platforms?limit=1".to_string();
    loop {
        let page = get(&app, &uri).await.json();
        let items = page["items"].as_array().unwrap();
        assert_eq!(items.len(), 1);
        seen.push(items[0]["platform_id"].as_str().unwrap().to_string());
        match page["next_cursor"].as_str() {
            Some(cursor) => uri = format!("/api/v1/platforms?limit=1&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(
        seen,
        ["acme-corp-acme-ai-platform-1.37", "script-alert-1-script-inc-evil-cloud-1.37", "globex-kubernetes-1.36"]
    );
    assert_eq!(get(&app, "/api/v1/platforms?limit=1000").await.status, StatusCode::OK);
    let filtered = get(&app, "/api/v1/platforms?version=1.36").await.json();
    assert_eq!(filtered["items"].as_array().unwrap().len(), 1);

    for (query, words) in [
        ("limit=0", "limit '0' is not a whole number from 1 to 1000"),
        ("limit=1001", "limit '1001'"),
        ("limit=ten", "limit 'ten'"),
        ("cursor=42", "cursor '42' is not one this API gave"),
        ("state=gone", "state 'gone' is not one of valid, retest_due, expired"),
        ("min_verified=101", "min_verified '101'"),
    ] {
        let answer = get(&app, &format!("/api/v1/platforms?{query}")).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{query}");
        assert!(answer.json()["error"].as_str().unwrap().contains(words), "{query}: {}", answer.body);
    }
}

#[tokio::test]
async fn the_api_answers_one_platform_with_requirements_and_history() {
    let tmp = tempfile::tempdir().unwrap();
    let (_db, app) = registry(tmp.path()).await;
    let detail = get(&app, "/api/v1/platforms/acme-corp-acme-ai-platform-1.37").await.json();
    assert_eq!(detail["current"]["platform_name"], "Acme AI Platform");
    let requirements = detail["requirements"].as_array().unwrap();
    assert!(requirements.iter().any(|r| r["id"] == "gang_scheduling" && r["verification"] == "kaic"));
    assert!(requirements.iter().any(|r| r["id"] == "gpu_sharing" && r["verification"] == "self_attested"));
    assert_eq!(detail["history"], json!([]));
    let missing = get(&app, "/api/v1/platforms/nope").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.json()["error"], "no platform 'nope' in the registry");
    let unknown = get(&app, "/api/v1/nothing").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert!(unknown.json()["error"].as_str().unwrap().contains("/api/v1/nothing"));
}

#[tokio::test]
async fn reads_carry_etags_and_answer_304_until_the_content_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let (db, app) = registry(tmp.path()).await;
    for uri in [
        "/",
        "/api/v1/platforms",
        "/api/v1/platforms/script-alert-1-script-inc-evil-cloud-1.37",
        "/badges/script-alert-1-script-inc-evil-cloud-1.37.svg",
        "/feed.atom",
    ] {
        let first = get(&app, uri).await;
        let tag = first.headers[header::ETAG].to_str().unwrap().to_string();
        assert!(tag.starts_with('"') && tag.len() == 34, "{uri}: {tag}");
        let again =
            send(&app, Request::get(uri).header(header::IF_NONE_MATCH, &tag).body(Body::empty()).unwrap()).await;
        assert_eq!(again.status, StatusCode::NOT_MODIFIED, "{uri}");
        assert!(again.body.is_empty());
        let other =
            send(&app, Request::get(uri).header(header::IF_NONE_MATCH, "\"x\"").body(Body::empty()).unwrap()).await;
        assert_eq!(other.status, StatusCode::OK, "{uri}");
    }
    let before = get(&app, "/api/v1/platforms").await.headers[header::ETAG].clone();
    let product = write_submission(&tmp.path().join("more"), V, "hooli", "Hooli", "Hooli Cloud", "1");
    import::add(&db, &product, None, None, dates::today()).await.unwrap().unwrap();
    // Written behind the server's back (as `kaic registry add` next to it would): the cached answers go.
    let after = get(&app, "/api/v1/platforms").await;
    assert_ne!(before, after.headers[header::ETAG], "a new entry changes the ETag");
    assert_eq!(after.json()["items"].as_array().unwrap().len(), 4);
    assert!(get(&app, "/").await.body.contains("Hooli Cloud"));
}

#[tokio::test]
async fn submissions_need_a_known_token_and_a_bounded_body() {
    let tmp = tempfile::tempdir().unwrap();
    let (db, app) = registry(tmp.path()).await;
    let token = auth::create(&db, "ci").await.unwrap();
    let product = write_submission(&tmp.path().join("new"), V, "hooli", "Hooli", "Hooli Cloud", "1");
    let body = submission_body(&product, true).to_string();

    let none = post(&app, None, body.clone()).await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    assert_eq!(none.headers[header::WWW_AUTHENTICATE], "Bearer");
    assert!(none.json()["error"].as_str().unwrap().contains("kaic registry token create"));
    let wrong = post(&app, Some("kaicreg_0000"), body.clone()).await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    // The token's hash is stored, not the token.
    let raw =
        sqlx::SqlitePool::connect(&format!("sqlite://{}", tmp.path().join("registry.db").display())).await.unwrap();
    let stored: String = sqlx::query_scalar("SELECT token_hash FROM tokens").fetch_one(&raw).await.unwrap();
    assert_eq!(stored, auth::hash(&token));
    assert_ne!(stored, token);

    let huge = format!("{{\"product_yaml\": \"{}\"}}", "x".repeat(kaic_registry::server::MAX_BODY_BYTES));
    let too_big = post(&app, Some(&token), huge).await;
    assert_eq!(too_big.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(too_big.json()["error"].as_str().unwrap().contains("bytes"));

    let not_json = post(&app, Some(&token), "product_yaml: x").await;
    assert_eq!(not_json.status, StatusCode::BAD_REQUEST);
    assert!(not_json.json()["error"].as_str().unwrap().starts_with("the body is not a submission"));
    let unknown_field = post(&app, Some(&token), json!({"product_yaml": "", "evidence": {}}).to_string()).await;
    assert_eq!(unknown_field.status, StatusCode::BAD_REQUEST, "{}", unknown_field.body);
    assert!(unknown_field.json()["error"].as_str().unwrap().contains("evidence"), "{}", unknown_field.body);
    let escape = post(&app, Some(&token), json!({"product_yaml": "x", "files": {"../x": "y"}}).to_string()).await;
    assert_eq!(escape.status, StatusCode::BAD_REQUEST);
    assert!(escape.json()["error"].as_str().unwrap().contains("'../x' is not a plain relative path"));
    let bad_date = post(&app, Some(&token), json!({"product_yaml": "x", "certified_on": "May 1"}).to_string()).await;
    assert_eq!(bad_date.status, StatusCode::BAD_REQUEST);
    assert!(bad_date.json()["error"].as_str().unwrap().contains("YYYY-MM-DD"));

    let created = post(&app, Some(&token), body.clone()).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let answer = created.json();
    assert_eq!(answer["platform_id"], "hooli-cloud-1.37");
    assert_eq!(answer["created"], true);
    assert_eq!(answer["verified"].as_u64().unwrap() + 1, answer["requirements"].as_u64().unwrap());
    assert_eq!(answer["validation"]["valid"], true);
    let again = post(&app, Some(&token), body).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.json()["created"], false);
    assert_eq!(get(&app, "/api/v1/platforms/hooli-cloud-1.37").await.status, StatusCode::OK);
}

#[tokio::test]
async fn an_invalid_submission_answers_validates_problem_list() {
    let tmp = tempfile::tempdir().unwrap();
    let (db, app) = registry(tmp.path()).await;
    let token = auth::create(&db, "ci").await.unwrap();
    let product = write_submission(&tmp.path().join("bad"), V, "hooli", "Hooli", "Hooli Cloud", "1");
    break_submission(&product);
    let answer = post(&app, Some(&token), submission_body(&product, false).to_string()).await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", answer.body);
    let body = answer.json();
    let expected = kaic_certify::validate::validate_file(&product, None).unwrap();
    let problems = body["validation"]["problems"].as_array().unwrap();
    assert_eq!(problems.len(), expected.problems.len());
    for (got, want) in problems.iter().zip(&expected.problems) {
        assert_eq!(got["rule"], want.rule.code());
        assert_eq!(got["path"], want.path);
        assert_eq!(got["message"], want.message);
    }
    assert_eq!(body["validation"]["valid"], false);
    assert_eq!(body["validation"]["file"], "PRODUCT.yaml", "the server's temporary folder is not shown");
    assert_eq!(get(&app, "/api/v1/platforms/hooli-cloud-1.37").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_openapi_description_names_every_api_route() {
    let tmp = tempfile::tempdir().unwrap();
    let (_db, app) = registry(tmp.path()).await;
    let doc = get(&app, "/api/v1/openapi.json").await.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in ["/api/v1/platforms", "/api/v1/platforms/{id}", "/api/v1/submissions"] {
        assert!(doc["paths"][path].is_object(), "{path}");
    }
    assert!(doc["components"]["schemas"]["PlatformPage"]["properties"]["next_cursor"].is_object());
    let params = doc["paths"]["/api/v1/platforms"]["get"]["parameters"].as_array().unwrap();
    let limit = params.iter().find(|p| p["name"] == "limit").unwrap();
    assert_eq!(limit["schema"]["maximum"], 1000);
    assert_eq!(doc["components"]["securitySchemes"]["token"]["scheme"], "bearer");
}
