//! Load benchmark of the registry on loopback: fills a registry with N certifications (default 1,000),
//! serves it, and sends requests at a fixed rate (open loop: each request is due at its own time, and
//! its latency counts from then, so a slow server cannot hide its queue), then prints requests/s and
//! latency percentiles for the list page and the API: answers served from the registry's answer cache
//! (the steady state: the same pages asked again and again) and, at `--miss-rate`, requests that are all
//! distinct, so every one queries the database and renders.
//!
//! ```text
//! cargo run --release -p kaic-registry --example load -- [--database URL] [--entries 1000] [--rate 1000] [--miss-rate 200] [--seconds 10]
//! ```
//!
//! Without `--database` it uses a fresh SQLite file; pass `postgres://…` for PostgreSQL (an empty
//! database: the example fills it). The server runs in this process on its own runtime threads.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use kaic_registry::dates::{self, DateSource};
use kaic_registry::db::{Db, content_hash};
use kaic_registry::model::{Facts, NewCertification, Requirement, Verification};
use tokio::sync::Mutex;

struct Options {
    database: Option<String>,
    entries: usize,
    rate: u64,
    miss_rate: u64,
    seconds: u64,
}

fn options() -> Options {
    let mut o = Options { database: None, entries: 1000, rate: 1000, miss_rate: 200, seconds: 10 };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--database" => o.database = Some(value),
            "--entries" => o.entries = value.parse().expect("--entries N"),
            "--rate" => o.rate = value.parse().expect("--rate N (requests per second)"),
            "--miss-rate" => o.miss_rate = value.parse().expect("--miss-rate N (requests per second)"),
            "--seconds" => o.seconds = value.parse().expect("--seconds N"),
            "--bench" => {
                i += 1;
                continue;
            }
            other => {
                panic!("unknown argument {other}: --database URL, --entries N, --rate N, --miss-rate N, --seconds N")
            }
        }
        i += 2;
    }
    o
}

/// A certification as `kaic registry add` would store it, for platform `i` (16 requirements, a third
/// of them verified by kaic).
fn certification(i: usize) -> NewCertification {
    let version = ["1.33", "1.34", "1.35", "1.36", "1.37"][i % 5];
    let vendor = format!("Vendor {}", i % 97);
    let platform = format!("Platform {i}");
    let requirements = (0..16)
        .map(|r| Requirement {
            section: "accelerators".into(),
            id: format!("requirement_{r}"),
            level: "MUST".into(),
            status: "Implemented".into(),
            evidence: vec![format!("https://docs.example/{i}/{r}"), "kaic-results.json".into()],
            notes: String::new(),
            verification: if r % 3 == 0 { Verification::Kaic } else { Verification::SelfAttested },
        })
        .collect();
    NewCertification {
        platform_id: kaic_registry::model::platform_id(&vendor, &platform, version),
        conformance_version: version.into(),
        facts: Facts {
            vendor_name: vendor,
            platform_name: platform,
            platform_version: "1.0".into(),
            description: "A synthetic platform for the load benchmark.".into(),
            website_url: "https://example.com".into(),
            ..Facts::default()
        },
        certified_on: dates::today() - jiff::Span::new().days((i % 400) as i64),
        date_source: DateSource::Imported,
        source: "load benchmark".into(),
        requirements,
        results_attached: true,
    }
}

async fn run(
    client: &Client<hyper_util::client::legacy::connect::HttpConnector, Empty<Bytes>>,
    url: &str,
    rate: u64,
    seconds: u64,
) -> (f64, Vec<Duration>, usize) {
    let total = rate * seconds;
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(total as usize)));
    let errors = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(total as usize);
    for n in 0..total {
        let due = started + Duration::from_nanos(n * 1_000_000_000 / rate);
        tokio::time::sleep_until(due.into()).await;
        // `{n}` in a route makes every request distinct: the answer cache misses every time.
        let url = url.replace("{n}", &n.to_string());
        let (client, latencies, errors) = (client.clone(), latencies.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            let ok = match client.get(url.parse().expect("a URL")).await {
                Ok(response) => {
                    let ok = response.status().is_success();
                    ok && response.into_body().collect().await.is_ok()
                }
                Err(_) => false,
            };
            if !ok {
                errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            latencies.lock().await.push(due.elapsed());
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let mut l = latencies.lock().await.clone();
    l.sort();
    (total as f64 / elapsed, l, errors.load(std::sync::atomic::Ordering::Relaxed))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn main() {
    let o = options();
    let tmp = tempfile::tempdir().expect("a temporary folder");
    let url = o.database.clone().unwrap_or_else(|| format!("sqlite://{}", tmp.path().join("registry.db").display()));
    // The server gets its own runtime (one worker per core), the load generator a single thread.
    let server_rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a runtime");
    let (db, address) = server_rt.block_on(async {
        let db = Db::connect(&url).await.expect("the database");
        let batch: Vec<_> =
            (0..o.entries).map(|i| (certification(i), content_hash(&[i.to_string().as_bytes()]))).collect();
        let filled = Instant::now();
        db.store_all(&batch).await.expect("stored");
        eprintln!("filled {} entries in {:.1} s ({url})", o.entries, filled.elapsed().as_secs_f64());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let address = listener.local_addr().expect("an address");
        let app = kaic_registry::server::router(db.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.expect("serving") });
        (db, address)
    });
    let client_rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    client_rt.block_on(async {
        let client = Client::builder(TokioExecutor::new()).pool_max_idle_per_host(256).build_http::<Empty<Bytes>>();
        let backend = if url.starts_with("postgres") { "PostgreSQL" } else { "SQLite" };
        println!("| backend | route | entries | offered req/s | achieved req/s | p50 | p99 | max | errors |");
        println!("|---|---|---|---|---|---|---|---|---|");
        let routes = [
            ("/", o.rate),
            ("/api/v1/platforms?limit=100", o.rate),
            ("/api/v1/platforms/vendor-8-platform-8-1.36", o.rate),
            ("/api/v1/platforms?limit=1000", o.rate),
            // Cache misses: what a request costs when it has to query and render.
            ("/?q=platform&n={n}", o.miss_rate),
            ("/api/v1/platforms?limit=100&n={n}", o.miss_rate),
        ];
        for (route, rate) in routes {
            let target = format!("http://{address}{route}");
            // Warm up connections and caches, then measure.
            let _ = run(&client, &target, rate.min(200), 1).await;
            let (achieved, latencies, errors) = run(&client, &target, rate, o.seconds).await;
            println!(
                "| {backend} | `{route}` | {} | {} | {achieved:.0} | {:.2} ms | {:.2} ms | {:.2} ms | {errors} |",
                o.entries,
                rate,
                percentile(&latencies, 0.50).as_secs_f64() * 1000.0,
                percentile(&latencies, 0.99).as_secs_f64() * 1000.0,
                percentile(&latencies, 1.0).as_secs_f64() * 1000.0,
            );
        }
    });
    server_rt.block_on(db.close());
}
