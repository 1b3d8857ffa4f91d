//! The validator's online checks: does every link in the submission answer?
//!
//! As the program's own validator does, each URL is asked with HEAD first and, if that fails or is
//! refused (many servers answer HEAD with 403 or 405), with GET; a status below 400, or 429 (the site is
//! up but rate-limits), counts as an answer. Unlike it, requests are bounded: a few at a time, each within
//! a timeout, all within an overall deadline, every URL asked once however often it is cited, and only
//! the status line is awaited, never a whole body.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt;

use crate::http;
use crate::validate::{Rule, ValidationReport};

/// Limits of the online checks.
#[derive(Debug, Clone, Copy)]
pub struct OnlineOptions {
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Per request (HEAD and GET each).
    pub timeout: Duration,
    /// For all links together; links not answered by then are reported as not checked.
    pub deadline: Duration,
}

impl Default for OnlineOptions {
    fn default() -> Self {
        Self { concurrency: 8, timeout: Duration::from_secs(15), deadline: Duration::from_secs(120) }
    }
}

/// What asking one URL found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Ok,
    /// Why it is not reachable.
    Failed(String),
}

fn answers(status: u16) -> bool {
    status < 400 || status == 429
}

/// Asks one URL: HEAD, then GET.
pub async fn probe(client: &reqwest::Client, url: &str) -> Answer {
    let head = client.head(url).send().await;
    if let Ok(response) = &head
        && answers(response.status().as_u16())
    {
        return Answer::Ok;
    }
    match client.get(url).send().await {
        // Dropping the response closes it without reading the body.
        Ok(response) if answers(response.status().as_u16()) => Answer::Ok,
        Ok(response) => Answer::Failed(format!("HTTP {}", response.status().as_u16())),
        Err(e) if e.is_timeout() => Answer::Failed("no answer in time".into()),
        Err(e) => Answer::Failed(kaic_model::error_chain(&e)),
    }
}

/// Checks every link the offline validation collected and adds a problem for each that does not answer.
pub async fn check_links(report: &mut ValidationReport, options: OnlineOptions) {
    report.online = true;
    let mut by_url: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for link in &report.links {
        by_url.entry(link.url.clone()).or_default().push(link.path.clone());
    }
    if by_url.is_empty() {
        return;
    }
    let client = match http::client(options.timeout) {
        Ok(c) => c,
        Err(e) => {
            for paths in by_url.values() {
                for path in paths {
                    report.push(
                        Rule::UrlNotChecked,
                        path.clone(),
                        format!("no HTTP client: {}", kaic_model::error_chain(&e)),
                    );
                }
            }
            return;
        }
    };
    let urls: Vec<String> = by_url.keys().cloned().collect();
    let mut results = futures::stream::iter(urls.into_iter().map(|url| {
        let client = client.clone();
        async move {
            let answer = probe(&client, &url).await;
            (url, answer)
        }
    }))
    .buffer_unordered(options.concurrency.max(1));
    let deadline = tokio::time::Instant::now() + options.deadline;
    let mut done: BTreeMap<String, Answer> = BTreeMap::new();
    while let Ok(Some((url, answer))) = tokio::time::timeout_at(deadline, results.next()).await {
        done.insert(url, answer);
    }
    for (url, paths) in &by_url {
        for path in paths {
            match done.get(url) {
                Some(Answer::Ok) => {}
                Some(Answer::Failed(why)) => {
                    report.push(Rule::UrlUnreachable, path.clone(), format!("'{url}' does not answer: {why}"))
                }
                None => report.push(
                    Rule::UrlNotChecked,
                    path.clone(),
                    format!("'{url}' was not checked within {} s", options.deadline.as_secs()),
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::tests::serve;
    use crate::validate::Link;

    fn route(method: &str, path: &str) -> (u16, String) {
        match (method, path) {
            (_, "/ok") => (200, "fine".into()),
            ("HEAD", "/no-head") => (405, String::new()),
            ("GET", "/no-head") => (200, "fine".into()),
            (_, "/busy") => (429, String::new()),
            (_, "/slow") => {
                std::thread::sleep(Duration::from_secs(3));
                (200, String::new())
            }
            _ => (404, "gone".into()),
        }
    }

    fn report_with(links: &[(&str, String)]) -> ValidationReport {
        ValidationReport {
            file: "PRODUCT.yaml".into(),
            version: None,
            compared_with: String::new(),
            online: false,
            problems: Vec::new(),
            links: links.iter().map(|(p, u)| Link { path: (*p).into(), url: u.clone() }).collect(),
        }
    }

    #[tokio::test]
    async fn links_that_answer_pass_and_others_are_reported_once_per_place() {
        let server = serve(route);
        let url = |p: &str| format!("{}{p}", server.base);
        let mut report = report_with(&[
            ("metadata.websiteUrl", url("/ok")),
            ("spec.a[0].evidence[0]", url("/no-head")),
            ("spec.a[0].evidence[1]", url("/busy")),
            ("spec.a[1].evidence[0]", url("/missing")),
            ("spec.a[2].evidence[0]", url("/missing")),
        ]);
        check_links(&mut report, OnlineOptions::default()).await;
        assert!(report.online);
        let problems: Vec<(&str, &str)> = report.problems.iter().map(|p| (p.path.as_str(), p.rule.code())).collect();
        assert_eq!(
            problems,
            [("spec.a[1].evidence[0]", "url-unreachable"), ("spec.a[2].evidence[0]", "url-unreachable")]
        );
        assert!(report.problems[0].message.ends_with("does not answer: HTTP 404"));
        let seen = server.seen.lock().unwrap().clone();
        // HEAD first, GET only where HEAD did not do; the missing URL is asked once for both places.
        let requests: Vec<&str> = seen.iter().map(|(r, _)| r.as_str()).collect();
        assert_eq!(requests.iter().filter(|r| r.ends_with("/missing")).count(), 2, "{requests:?}");
        assert!(requests.contains(&"GET /no-head"));
        assert!(!requests.contains(&"GET /ok"));
        assert!(seen.iter().all(|(_, agent)| agent == http::USER_AGENT));
    }

    #[tokio::test]
    async fn slow_and_unreachable_links_are_bounded() {
        let server = serve(route);
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut report = report_with(&[
            ("metadata.websiteUrl", format!("{}/slow", server.base)),
            ("metadata.repoUrl", format!("http://127.0.0.1:{port}/")),
        ]);
        let options =
            OnlineOptions { concurrency: 2, timeout: Duration::from_secs(5), deadline: Duration::from_millis(1500) };
        let started = std::time::Instant::now();
        check_links(&mut report, options).await;
        assert!(started.elapsed() < Duration::from_secs(3), "the deadline holds");
        let by_path: BTreeMap<&str, &str> = report.problems.iter().map(|p| (p.path.as_str(), p.rule.code())).collect();
        assert_eq!(by_path["metadata.websiteUrl"], "url-not-checked");
        assert_eq!(by_path["metadata.repoUrl"], "url-unreachable");
    }
}
