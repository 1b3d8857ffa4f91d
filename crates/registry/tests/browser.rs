//! The web pages in a real headless browser: Debian's Chromium driven through chromedriver (WebDriver,
//! with the fantoccini client) against the registry served on loopback. It searches with the form,
//! opens a platform's page, reads its requirement table and follows its badge link, the way a person
//! would, and with JavaScript off in the pages (the pages have none; the test only reads the DOM).
//! Without `chromium` and `chromedriver` the test says so loudly and passes: `crates/registry/ci-install`
//! installs them.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{sqlite_db, write_submission};
use fantoccini::{ClientBuilder, Locator};
use kaic_model::catalogue::{ConformanceVersion, requirements};
use kaic_registry::{dates, import};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// chromedriver, killed on drop.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test]
async fn search_then_platform_page_then_badge_in_headless_chromium() {
    if !std::path::Path::new(CHROMIUM).is_file() || !std::path::Path::new(CHROMEDRIVER).is_file() {
        eprintln!(
            "\n*** SKIPPED: {CHROMIUM} or {CHROMEDRIVER} is missing: the browser test did NOT run. Install them with \
             crates/registry/ci-install (apt-get install chromium chromium-driver). ***\n"
        );
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let db = sqlite_db(tmp.path()).await;
    let root = tmp.path().join("repo");
    let today = dates::today();
    for (version, folder, vendor, platform) in [
        (ConformanceVersion::V1_37, "acme", "Acme Corp", "Acme AI Platform"),
        (ConformanceVersion::V1_37, "hooli", "Hooli", "Hooli Cloud"),
        (ConformanceVersion::V1_36, "globex", "Globex", "Globex Kubernetes"),
    ] {
        let product = write_submission(&root, version, folder, vendor, platform, "1.0");
        import::add(&db, &product, Some(&product.with_file_name("kaic-results.json")), None, today)
            .await
            .unwrap()
            .unwrap();
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, kaic_registry::server::router(db)).await.unwrap() });

    let port = free_port();
    let _driver = Driver(
        Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts"),
    );
    let profile = tempfile::tempdir().unwrap();
    let capabilities = serde_json::json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                format!("--user-data-dir={}", profile.path().display()),
            ],
        },
    });
    let capabilities = capabilities.as_object().unwrap().clone();
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let started = Instant::now();
    let client = loop {
        match ClientBuilder::new(connector.clone())
            .capabilities(capabilities.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(c) => break c,
            Err(e) if started.elapsed() < Duration::from_secs(30) => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("chromedriver did not accept a session within 30 s: {e}"),
        }
    };

    let result = async {
        // The list: both versions, newest first.
        client.goto(&format!("{base}/")).await?;
        let headings: Vec<String> = {
            let mut out = Vec::new();
            for h in client.find_all(Locator::Css("main h2")).await? {
                out.push(h.text().await?);
            }
            out
        };
        assert_eq!(headings, ["Conformance 1.37", "Conformance 1.36"]);
        assert_eq!(client.find_all(Locator::Css("tbody tr")).await?.len(), 3);
        // Accessible by construction: every field has a label, the page has no script at all.
        let unlabelled = client
            .execute(
                "return [...document.querySelectorAll('input, select')]\
                 .filter(e => !document.querySelector('label[for=\"' + e.id + '\"]')).length",
                vec![],
            )
            .await?;
        assert_eq!(unlabelled.as_u64(), Some(0), "form fields without a label");
        assert_eq!(client.execute("return document.scripts.length", vec![]).await?.as_u64(), Some(0));
        assert_eq!(client.execute("return document.documentElement.lang", vec![]).await?.as_str(), Some("en"));

        // Search with the form, as a person would: type, press the button.
        let label = client.find(Locator::Css("label[for=q]")).await?.text().await?;
        assert!(label.starts_with("Search"), "the search box is labelled: {label}");
        client.find(Locator::Css("#q")).await?.send_keys("hooli").await?;
        client.find(Locator::Css("form button[type=submit]")).await?.click().await?;
        let started = Instant::now();
        while !client.current_url().await?.query().is_some_and(|q| q.contains("q=hooli")) {
            assert!(started.elapsed() < Duration::from_secs(10), "the search form did not submit");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let rows = client.find_all(Locator::Css("tbody tr")).await?;
        assert_eq!(rows.len(), 1);
        assert!(rows[0].text().await?.contains("Hooli Cloud"));
        assert!(client.find(Locator::Css("#count")).await?.text().await?.contains("Showing 1 platform"));

        // The platform page: facts, requirement table, badge link.
        client.find(Locator::LinkText("Hooli Cloud")).await?.click().await?;
        client.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css("#requirements")).await?;
        assert_eq!(client.current_url().await?.path(), "/platforms/hooli-cloud-1.37");
        let alt = client.find(Locator::Css("main img")).await?.attr("alt").await?.unwrap_or_default();
        assert!(alt.starts_with("Badge: AI conformance 1.37, valid until"), "the badge has a text alternative: {alt}");
        assert_eq!(client.find_all(Locator::Css("h1")).await?.len(), 1);
        let h1 = client.find(Locator::Css("h1")).await?.text().await?;
        assert_eq!(h1, "Hooli Cloud — Kubernetes AI Conformance 1.37");
        assert!(client.find(Locator::Css("#state")).await?.text().await?.contains("Certified"));
        let rows = client.find_all(Locator::Css("#requirements tbody tr")).await?;
        assert_eq!(rows.len(), requirements(ConformanceVersion::V1_37).len());
        let mut verified = 0;
        for row in &rows {
            let cells = row.find_all(Locator::Css("td")).await?;
            let status = cells[2].text().await?;
            assert!(["Implemented", "N/A"].contains(&status.as_str()), "{status}");
            if cells[3].text().await? == "verified by kaic" {
                verified += 1;
            }
        }
        assert_eq!(verified, rows.len() - 1, "every requirement but gpu_sharing (N/A) verified by kaic");
        // The badge image loaded, and its link leads to the SVG.
        let loaded = client.execute("return document.querySelector('main img').naturalWidth", vec![]).await?;
        assert!(loaded.as_u64().unwrap_or(0) > 100, "the badge image rendered: {loaded}");
        let href = client.find(Locator::Id("badge-link")).await?.prop("href").await?.unwrap_or_default();
        assert_eq!(href, format!("{base}/badges/hooli-cloud-1.37.svg"));
        client.find(Locator::Id("badge-link")).await?.click().await?;
        client.wait().at_most(Duration::from_secs(10)).for_url(&href.parse()?).await?;
        let svg = client.source().await?;
        assert!(svg.contains("AI conformance 1.37") && svg.contains("valid until"), "{svg}");
        Ok::<(), Box<dyn std::error::Error>>(())
    }
    .await;
    let _ = client.close().await;
    result.unwrap();
}
