//! The monitoring system's Prometheus-compatible query API: found among the cluster's Services
//! (`prometheus-operated`, kube-prometheus-stack's, `prometheus-server`, `app.kubernetes.io/name=prometheus`,
//! Thanos Query, VictoriaMetrics) and proved with `vector(1)` through the API server's service proxy (every
//! one that answers: a cluster may run a platform Prometheus beside the one that collects workloads), or the
//! user's `--prometheus-url` with its headers (managed back-ends). Query answers are parsed and a collected
//! count is judged per collected series against the number of requests sent: a pod collected by two scrape
//! jobs, or by both Prometheus of an HA pair behind Thanos Query, has one series per collection, each with
//! the full count, and their sum would be "too many".

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::Service;
use kube::ResourceExt;
use kube::api::{Api, ListParams};
use serde_json::Value;

use super::endpoint::{Endpoint, Headers};
use super::model_server::Reader;
use crate::check::{CheckContext, CheckError};
use crate::list;

/// A Service that may serve the query API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub namespace: String,
    pub name: String,
    pub port: String,
    /// The API's path prefix (VictoriaMetrics' vmselect serves it under `/select/0/prometheus`).
    pub prefix: String,
    /// What it looks like: `Prometheus`, `Thanos Query`, `VictoriaMetrics`.
    pub kind: &'static str,
    /// Lower is tried first.
    rank: u8,
}

impl Candidate {
    pub fn endpoint(&self) -> Endpoint {
        Endpoint::service(&self.namespace, &self.name, &self.port, &self.prefix)
    }
}

/// What a Service looks like, by name and labels: (kind, rank, path prefix).
fn classify(service: &Service) -> Option<(&'static str, u8, &'static str)> {
    let name = service.name_any();
    let labels = service.labels();
    let label = |k: &str| labels.get(k).map(String::as_str).unwrap_or_default();
    let app_name = label("app.kubernetes.io/name");
    if name == "prometheus-operated" {
        return Some(("Prometheus", 0, ""));
    }
    if app_name == "prometheus" || label("app") == "prometheus" || name == "prometheus" || name == "prometheus-server" {
        return Some(("Prometheus", 1, ""));
    }
    if name.ends_with("-prometheus") || name == "prometheus-k8s" {
        return Some(("Prometheus", 2, ""));
    }
    if app_name.starts_with("thanos-quer") || name.starts_with("thanos-quer") || name.ends_with("thanos-query") {
        return Some(("Thanos Query", 3, ""));
    }
    if app_name == "vmselect" || name.starts_with("vmselect") {
        return Some(("VictoriaMetrics", 4, "/select/0/prometheus"));
    }
    if app_name == "vmsingle" || app_name == "victoria-metrics-single" || name.starts_with("vmsingle") {
        return Some(("VictoriaMetrics", 4, ""));
    }
    None
}

/// The port of a query API Service: one named like the web port, else a well-known number, else the first.
fn query_port(service: &Service) -> Option<String> {
    let ports = service.spec.as_ref()?.ports.as_ref()?;
    const NAMES: &[&str] = &["web", "http-web", "http", "http-query", "query", "http-api"];
    const NUMBERS: &[i32] = &[9090, 10902, 8481, 8428, 8080];
    let by_name = ports.iter().find(|p| p.name.as_deref().is_some_and(|n| NAMES.contains(&n)));
    let by_number = || ports.iter().find(|p| NUMBERS.contains(&p.port));
    let port = by_name.or_else(by_number).or(ports.first())?;
    Some(port.name.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| port.port.to_string()))
}

/// The Services that may serve the query API, most likely first.
pub fn candidates(services: &[Service]) -> Vec<Candidate> {
    let mut found: Vec<Candidate> = services
        .iter()
        .filter_map(|s| {
            let (kind, rank, prefix) = classify(s)?;
            Some(Candidate {
                namespace: s.namespace().unwrap_or_default(),
                name: s.name_any(),
                port: query_port(s)?,
                prefix: prefix.to_string(),
                kind,
                rank,
            })
        })
        .collect();
    found.sort_by(|a, b| (a.rank, &a.namespace, &a.name).cmp(&(b.rank, &b.namespace, &b.name)));
    found
}

/// A PromQL query as a URL query value (percent-encoded: braces, quotes, spaces, `+`).
pub fn encode(query: &str) -> String {
    query
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// One element of an instant vector: labels and value.
pub type Sample = (BTreeMap<String, String>, f64);

/// Parses an instant query answer (`/api/v1/query`) into its vector (a scalar becomes one unlabelled sample).
///
/// # Errors
/// The API's own error (`errorType: error`), or why the text is not a query answer.
pub fn parse_answer(text: &str) -> Result<Vec<Sample>, String> {
    let json: Value = serde_json::from_str(text)
        .map_err(|e| format!("not a Prometheus query answer ({e}): {}", text.chars().take(120).collect::<String>()))?;
    if json["status"] != "success" {
        return Err(format!(
            "the query failed: {}: {}",
            json["errorType"].as_str().unwrap_or("unknown error"),
            json["error"].as_str().unwrap_or("no message")
        ));
    }
    let value = |v: &Value| v.get(1).and_then(Value::as_str).and_then(|s| s.parse::<f64>().ok());
    let data = &json["data"];
    match data["resultType"].as_str() {
        Some("vector") => data["result"]
            .as_array()
            .ok_or("a vector answer without a result list")?
            .iter()
            .map(|r| {
                let labels = r["metric"]
                    .as_object()
                    .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect())
                    .unwrap_or_default();
                value(&r["value"]).map(|v| (labels, v)).ok_or_else(|| format!("a sample without a value: {r}"))
            })
            .collect(),
        Some("scalar") => Ok(value(&data["result"]).map(|v| vec![(BTreeMap::new(), v)]).unwrap_or_default()),
        other => Err(format!("an answer of type {other:?}, not an instant vector")),
    }
}

/// The sum of a vector's values; `None` when the vector is empty (nothing collected).
pub fn total(samples: &[Sample]) -> Option<f64> {
    (!samples.is_empty()).then(|| samples.iter().map(|(_, v)| v).sum())
}

/// One collected series of a count: the labels the collection gave it, and its value.
pub type Series = (BTreeMap<String, String>, f64);

/// A vector's samples as collected series: the samples of one collection (job, instance, replica, …) summed
/// over the labels the server itself sets (`own`, e.g. `finish_reason`), which split one count.
pub fn per_series(samples: &[Sample], own: &BTreeSet<String>) -> Vec<Series> {
    let mut grouped: BTreeMap<BTreeMap<String, String>, f64> = BTreeMap::new();
    for (labels, value) in samples {
        let key = labels.iter().filter(|(k, _)| !own.contains(*k) && *k != "__name__");
        *grouped.entry(key.map(|(k, v)| (k.clone(), v.clone())).collect()).or_default() += value;
    }
    grouped.into_iter().collect()
}

/// A series' labels in PromQL's form, leaving out `namespace` and `pod` (named by the query already).
pub fn describe(series: &Series) -> String {
    let labels: Vec<String> = series
        .0
        .iter()
        .filter(|(k, _)| !["namespace", "pod"].contains(&k.as_str()))
        .map(|(k, v)| format!("{k}=\"{v}\""))
        .collect();
    format!("{{{}}} {}", labels.join(", "), series.1)
}

/// Where the collected count stands against the number of requests sent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Count {
    /// Below `sent` or nothing yet: keep waiting.
    Waiting(Option<f64>),
    /// Exactly `sent`.
    Reached,
    /// More than was sent: someone else's traffic or double counting; the run proves nothing.
    TooMany(f64),
}

/// Judges a collected count.
pub fn judge_count(collected: Option<f64>, sent: u32) -> Count {
    match collected {
        Some(v) if (v - f64::from(sent)).abs() < 1e-9 => Count::Reached,
        Some(v) if v > f64::from(sent) => Count::TooMany(v),
        other => Count::Waiting(other),
    }
}

/// Judges a count's collected series: reached when one series holds exactly `sent` and none more (two
/// collections of one pod each hold the whole count); too many only when a single series exceeds it.
pub fn judge_series(series: &[Series], sent: u32) -> Count {
    judge_count(series.iter().map(|(_, v)| *v).reduce(f64::max), sent)
}

/// Runs one instant query.
///
/// # Errors
/// Why the query API did not answer, or the answer it gave instead.
pub async fn query(
    ctx: &CheckContext,
    endpoint: &Endpoint,
    headers: &Headers,
    promql: &str,
) -> Result<Vec<Sample>, String> {
    let text = endpoint.get(&ctx.client, headers, &format!("/api/v1/query?query={}", encode(promql))).await?;
    parse_answer(&text)
}

/// Whether `endpoint` answers `vector(1)` with 1.
pub async fn answers(ctx: &CheckContext, endpoint: &Endpoint, headers: &Headers) -> Result<(), String> {
    let samples = query(ctx, endpoint, headers, "vector(1)").await?;
    match total(&samples) {
        Some(v) if (v - 1.0).abs() < 1e-9 => Ok(()),
        other => Err(format!("vector(1) answered {other:?}, not 1")),
    }
}

/// A query API that answers `vector(1)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryApi {
    pub endpoint: Endpoint,
    /// What it is and where, for the report (`Prometheus at service monitoring/prometheus:web …`).
    pub what: String,
    /// Who collects what it answers: decides how kaic registers its pods.
    pub reader: Reader,
}

/// Who collects for the query API the user gave: Google Cloud Managed Service for Prometheus at its
/// `monitoring.googleapis.com` API, else something kaic cannot tell.
pub fn reader_of_url(endpoint: &Endpoint) -> Reader {
    match endpoint {
        Endpoint::Url(url) if url.contains("monitoring.googleapis.com") => Reader::Gmp,
        _ => Reader::Unknown,
    }
}

/// The query APIs to ask: the user's, or every candidate Service that answers, most likely first (the
/// first one found may be a platform Prometheus that never collects workload namespaces). `Ok(Err(text))`
/// names what was tried, for an unknown verdict.
///
/// # Errors
/// [`CheckError::Api`] when Services cannot be listed.
pub async fn find(ctx: &CheckContext) -> Result<Result<Vec<QueryApi>, String>, CheckError> {
    let headers = &ctx.options.prometheus_headers;
    if let Some(endpoint) = &ctx.options.prometheus {
        return Ok(match answers(ctx, endpoint, headers).await {
            Ok(()) => Ok(vec![QueryApi {
                endpoint: endpoint.clone(),
                what: format!("the query API given with --prometheus-url, {endpoint}"),
                reader: reader_of_url(endpoint),
            }]),
            Err(e) => {
                Err(format!("the query API given with --prometheus-url ({endpoint}) did not answer vector(1): {e}"))
            }
        });
    }
    let api: Api<Service> = Api::all(ctx.client.clone());
    let services = list::all(&api, ListParams::default()).await.map_err(|e| CheckError::api("list Services", e))?;
    let mut tried = Vec::new();
    let mut found = Vec::new();
    for candidate in candidates(&services) {
        let endpoint = candidate.endpoint();
        match answers(ctx, &endpoint, headers).await {
            Ok(()) => {
                ctx.step(format!("{} query API: {endpoint} answers vector(1)", candidate.kind));
                let what = format!("{} at {endpoint}", candidate.kind);
                found.push(QueryApi { endpoint, what, reader: Reader::Prometheus });
            }
            Err(e) => tried.push(format!("{endpoint}: {e}")),
        }
    }
    if !found.is_empty() {
        return Ok(Ok(found));
    }
    Ok(Err(if tried.is_empty() {
        "no Prometheus-compatible query API found: no Service looks like Prometheus (prometheus-operated, \
         app.kubernetes.io/name=prometheus, prometheus-server), Thanos Query or VictoriaMetrics"
            .to_string()
    } else {
        format!(
            "no Prometheus-compatible query API answered vector(1) through the API server's proxy ({})",
            tried.join("; ")
        )
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn service(ns: &str, name: &str, labels: Value, ports: Value) -> Service {
        serde_json::from_value(
            json!({"metadata": {"name": name, "namespace": ns, "labels": labels}, "spec": {"ports": ports}}),
        )
        .unwrap()
    }

    #[test]
    fn finds_prometheus_thanos_and_victoria_metrics_services() {
        let services = [
            service("default", "kubernetes", json!({}), json!([{"name": "https", "port": 443}])),
            service(
                "monitoring",
                "prometheus",
                json!({"app.kubernetes.io/name": "prometheus"}),
                json!([{"name": "web", "port": 9090}]),
            ),
            service("vm", "vmselect-main", json!({}), json!([{"name": "http", "port": 8481}])),
            service(
                "obs",
                "prometheus-operated",
                json!({}),
                json!([{"name": "web", "port": 9090}, {"name": "grpc", "port": 10901}]),
            ),
            service("thanos", "thanos-query", json!({}), json!([{"name": "grpc", "port": 10901}, {"port": 10902}])),
        ];
        let found = candidates(&services);
        let names: Vec<(&str, &str, &str)> = found.iter().map(|c| (c.name.as_str(), c.port.as_str(), c.kind)).collect();
        assert_eq!(
            names,
            vec![
                ("prometheus-operated", "web", "Prometheus"),
                ("prometheus", "web", "Prometheus"),
                ("thanos-query", "10902", "Thanos Query"),
                ("vmselect-main", "http", "VictoriaMetrics")
            ]
        );
        assert_eq!(found[3].endpoint(), Endpoint::service("vm", "vmselect-main", "http", "/select/0/prometheus"));
    }

    #[test]
    fn parses_vectors_empty_answers_and_errors() {
        let vector = r#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"namespace":"ns","pod":"model-server","finish_reason":"stop"},"value":[1764590000.1,"7"]},
            {"metric":{"namespace":"ns","pod":"model-server","finish_reason":"length"},"value":[1764590000.1,"3"]}]}}"#;
        let samples = parse_answer(vector).unwrap();
        assert_eq!(samples.len(), 2);
        assert_eq!(samples[0].0["finish_reason"], "stop");
        assert_eq!(total(&samples), Some(10.0));
        let empty = r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#;
        assert_eq!(total(&parse_answer(empty).unwrap()), None);
        let error =
            r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:5: parse error"}"#;
        assert_eq!(
            parse_answer(error).unwrap_err(),
            "the query failed: bad_data: invalid parameter \"query\": 1:5: parse error"
        );
        assert!(parse_answer("<html>502</html>").unwrap_err().starts_with("not a Prometheus query answer"));
        let scalar = r#"{"status":"success","data":{"resultType":"scalar","result":[1764590000.1,"1"]}}"#;
        assert_eq!(total(&parse_answer(scalar).unwrap()), Some(1.0));
    }

    #[test]
    fn the_count_must_be_exact() {
        assert_eq!(judge_count(Some(10.0), 10), Count::Reached);
        assert_eq!(judge_count(Some(7.0), 10), Count::Waiting(Some(7.0)));
        assert_eq!(judge_count(None, 10), Count::Waiting(None));
        assert_eq!(judge_count(Some(11.0), 10), Count::TooMany(11.0));
    }

    fn sample(labels: &[(&str, &str)], value: f64) -> Sample {
        (labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(), value)
    }

    /// kaic's pod under vLLM's `finish_reason` split, collected by `jobs` (instance and pod alike).
    fn collected(jobs: &[(&str, f64, f64)]) -> Vec<Sample> {
        jobs.iter()
            .flat_map(|(job, stop, length)| {
                let labels = |reason| {
                    vec![
                        ("job", *job),
                        ("instance", "10.1.0.5:8000"),
                        ("pod", "model-server"),
                        ("finish_reason", reason),
                    ]
                };
                [sample(&labels("stop"), *stop), sample(&labels("length"), *length)]
            })
            .collect()
    }

    #[test]
    fn each_collected_series_is_judged_on_its_own() {
        let own = BTreeSet::from(["finish_reason".to_string(), "model_name".to_string()]);
        // Two scrape jobs of one pod (a PodMonitor job and the annotation job), 10 each: reached, not 20.
        let twice =
            per_series(&collected(&[("podMonitor/ns/model-server/0", 8.0, 2.0), ("kubernetes-pods", 7.0, 3.0)]), &own);
        assert_eq!(twice.len(), 2);
        assert_eq!(judge_series(&twice, 10), Count::Reached);
        assert_eq!(describe(&twice[0]), "{instance=\"10.1.0.5:8000\", job=\"kubernetes-pods\"} 10");
        // One job ahead of the other (its next scrape not yet in): still reached.
        let lagging = per_series(&collected(&[("a", 8.0, 2.0), ("b", 5.0, 2.0)]), &own);
        assert_eq!(judge_series(&lagging, 10), Count::Reached);
        // An HA pair behind Thanos Query without deduplication: the replica label tells them apart.
        let pair: Vec<Sample> = ["prometheus-0", "prometheus-1"]
            .iter()
            .map(|r| sample(&[("job", "kubernetes-pods"), ("prometheus_replica", r), ("finish_reason", "stop")], 10.0))
            .collect();
        assert_eq!(judge_series(&per_series(&pair, &own), 10), Count::Reached);
        // One series above the count: too many, whatever the others say.
        let eleven = per_series(&collected(&[("a", 9.0, 2.0), ("b", 8.0, 2.0)]), &own);
        assert_eq!(judge_series(&eleven, 10), Count::TooMany(11.0));
        // Short of the count: keep waiting (a fail once the wait is over), with the highest seen.
        let nine = per_series(&collected(&[("a", 7.0, 2.0)]), &own);
        assert_eq!(judge_series(&nine, 10), Count::Waiting(Some(9.0)));
        assert_eq!(judge_series(&[], 10), Count::Waiting(None));
    }

    #[test]
    fn the_users_query_api_says_who_collects() {
        let gmp = Endpoint::Url("https://monitoring.googleapis.com/v1/projects/p/location/global/prometheus".into());
        assert_eq!(reader_of_url(&gmp), Reader::Gmp);
        assert_eq!(reader_of_url(&Endpoint::Url("https://thanos-querier.example:9091".into())), Reader::Unknown);
        assert_eq!(reader_of_url(&Endpoint::service("monitoring", "prometheus", "web", "")), Reader::Unknown);
    }

    #[test]
    fn queries_are_encoded() {
        assert_eq!(
            encode(r#"sum(vllm:request_success_total{namespace="ns"})"#),
            "sum%28vllm%3Arequest_success_total%7Bnamespace%3D%22ns%22%7D%29"
        );
    }
}
