//! The web pages, rendered on the server with maud (every interpolated string is HTML-escaped by the
//! template engine; nothing is inserted raw) and readable without JavaScript: the list of certified
//! platforms with a search form, and a page per platform.
//!
//! Accessibility: one `h1` per page, landmarks (`header`, `main`, `footer`) and a skip link, every form
//! field labelled, tables with captions and header scopes, state written out in words (colour only
//! repeats it), links that say where they go. Evidence and facts are links only when they are
//! http(s) URLs ([`safe_link`]); anything else is shown as text.

use axum::extract::{Path as UrlPath, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use maud::{DOCTYPE, Markup, PreEscaped, html};

use crate::api::ListParams;
use crate::dates::{self, State as CertState};
use crate::db::Page;
use crate::model::{Certification, Verification};
use crate::server::AppState;

/// Platforms per page of the list.
pub const PAGE_SIZE: i64 = 100;

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:0;color:#1b1b1b;line-height:1.5}\
header,main,footer{max-width:72rem;margin:0 auto;padding:0 1rem}\
a{color:#0b57d0}a:focus,input:focus,select:focus,button:focus{outline:3px solid #f9a825;outline-offset:2px}\
.skip{position:absolute;left:-999px}.skip:focus{left:1rem;top:1rem;background:#fff;padding:.5rem}\
table{border-collapse:collapse;width:100%;margin:1rem 0}th,td{border:1px solid #c4c4c4;padding:.35rem .5rem;\
text-align:left;vertical-align:top}caption{text-align:left;font-weight:600}\
form{display:flex;flex-wrap:wrap;gap:.75rem;align-items:end}label{display:flex;flex-direction:column}\
.valid{color:#0a6b2d}.retest_due{color:#8a4b00}.expired,.superseded{color:#a30000}\
td ul{margin:0;padding-left:1.1rem}dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem}dt{font-weight:600}";

/// Whether `url` may be rendered as a link: an absolute http(s) URL without spaces or control
/// characters. `javascript:`, `data:`, relative paths and anything odd stay text.
pub fn safe_link(url: &str) -> Option<&str> {
    let url = url.trim();
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    let scheme_ok = lower.starts_with("https://") || lower.starts_with("http://");
    let host_ok = url.split_once("://").is_some_and(|(_, rest)| !rest.is_empty() && !rest.starts_with('/'));
    let clean = !url.chars().any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '<' || c == '>');
    (scheme_ok && host_ok && clean).then_some(url)
}

/// `text` as a link when it is a safe one, else as text.
fn link_or_text(text: &str) -> Markup {
    match safe_link(text) {
        Some(url) => html! { a href=(url) rel="nofollow noopener" { (text) } },
        None => html! { (text) },
    }
}

fn layout(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " — Certified Kubernetes AI Conformance" }
                link rel="alternate" type="application/atom+xml" title="New certifications" href="/feed.atom";
                style { (PreEscaped(STYLE)) }
            }
            body {
                a class="skip" href="#main" { "Skip to content" }
                header { p { a href="/" { "Certified Kubernetes AI Conformance: registry" } } }
                main id="main" { (body) }
                footer {
                    p {
                        "Certifications last 12 months; a re-test is due in the last 60 days. "
                        a href="/api/v1/openapi.json" { "JSON API (OpenAPI)" } " · "
                        a href="/feed.atom" { "Atom feed of new certifications" }
                    }
                }
            }
        }
    }
}

fn page(status: StatusCode, markup: Markup) -> Response {
    (status, Html(markup.into_string())).into_response()
}

/// A 404 page.
pub fn not_found_page(message: &str) -> Response {
    let body =
        html! { h1 { "Not found" } p { (message) } p { a href="/" { "Back to the list of certified platforms" } } };
    page(StatusCode::NOT_FOUND, layout("Not found", body))
}

fn error_page(status: StatusCode, message: &str) -> Response {
    let body = html! { h1 { "The request could not be answered" } p { (message) } };
    page(status, layout("Error", body))
}

fn state_cell(state: CertState) -> Markup {
    html! { span class=(state.as_str()) { (state.label()) } }
}

/// `GET /`: the list, by conformance version, with search and filters.
pub async fn list_page(
    State(state): State<AppState>,
    params: Result<Query<ListParams>, axum::extract::rejection::QueryRejection>,
    page_param: Result<Query<PageParam>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(params)) = params else {
        return error_page(StatusCode::BAD_REQUEST, "The query string could not be read.");
    };
    let filter = match params.filter() {
        Ok(f) => f,
        Err(e) => return error_page(StatusCode::BAD_REQUEST, &e),
    };
    let number = page_param
        .ok()
        .and_then(|Query(p)| p.page)
        .and_then(|p| p.parse::<i64>().ok())
        .unwrap_or(1)
        .clamp(1, 1_000_000);
    let today = dates::today();
    let listed = state.db.list(&filter, Page::Offset((number - 1) * PAGE_SIZE), PAGE_SIZE, today).await;
    let facets = state.db.facets().await;
    let ((items, more), (vendors, versions)) = match (listed, facets) {
        (Ok(l), Ok(f)) => (l, f),
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!("registry: {e}");
            return error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The registry failed to answer; the server log says why.",
            );
        }
    };
    let selected = |current: &Option<String>, value: &str| current.as_deref() == Some(value);
    let mut groups: Vec<(&str, Vec<&Certification>)> = Vec::new();
    for c in &items {
        match groups.last_mut() {
            Some((v, list)) if *v == c.conformance_version => list.push(c),
            _ => groups.push((&c.conformance_version, vec![c])),
        }
    }
    let query_without_page = serde_urlencoded_pairs(&params);
    let body = html! {
        h1 { "Certified Kubernetes AI Conformance platforms" }
        form method="get" action="/" role="search" aria-label="Search and filter platforms" {
            label for="q" { "Search" input id="q" name="q" type="search" value=(params.q.clone().unwrap_or_default()); }
            label for="vendor" { "Vendor"
                select id="vendor" name="vendor" {
                    option value="" { "All vendors" }
                    @for v in &vendors { option value=(v) selected[selected(&params.vendor, v)] { (v) } }
                }
            }
            label for="version" { "Conformance version"
                select id="version" name="version" {
                    option value="" { "All versions" }
                    @for v in &versions { option value=(v) selected[selected(&params.version, v)] { (v) } }
                }
            }
            label for="state" { "Status"
                select id="state" name="state" {
                    option value="" { "Any status" }
                    @for s in CertState::FILTERABLE { option value=(s.as_str()) selected[selected(&params.state, s.as_str())] { (s.label()) } }
                }
            }
            label for="min_verified" { "Verified by kaic"
                select id="min_verified" name="min_verified" {
                    option value="" { "Any share" }
                    @for (v, text) in [("50", "at least half"), ("100", "every requirement")] {
                        option value=(v) selected[selected(&params.min_verified, v)] { (text) }
                    }
                }
            }
            button type="submit" { "Search" }
        }
        p role="status" id="count" {
            @if items.is_empty() { "No certified platform matches." }
            @else { "Showing " (items.len()) " platform" @if items.len() != 1 { "s" } @if number > 1 || more { " (page " (number) ")" } "." }
        }
        @for (version, list) in &groups {
            section aria-labelledby={ "v" (version) } {
                h2 id={ "v" (version) } { "Conformance " (version) }
                table {
                    caption { "Platforms certified for Kubernetes AI Conformance " (version) }
                    thead { tr {
                        th scope="col" { "Platform" } th scope="col" { "Vendor" } th scope="col" { "Platform version" }
                        th scope="col" { "Certified on" } th scope="col" { "Valid until" } th scope="col" { "Status" }
                        th scope="col" { "Verified by kaic" }
                    } }
                    tbody {
                        @for c in list {
                            tr {
                                th scope="row" { a href={ "/platforms/" (c.platform_id) } { (c.facts.platform_name) } }
                                td { (c.facts.vendor_name) }
                                td { (c.facts.platform_version) }
                                td { (c.certified_on) }
                                td { (c.expires_on) }
                                td { (state_cell(c.state)) }
                                td { (c.verified_count) " of " (c.requirement_count) " (" (c.verified_percent()) "%)" }
                            }
                        }
                    }
                }
            }
        }
        nav aria-label="Pages" {
            @if number > 1 { a href={ "/?" (query_without_page) "page=" (number - 1) } rel="prev" { "Previous page" } " " }
            @if more { a href={ "/?" (query_without_page) "page=" (number + 1) } rel="next" { "Next page" } }
        }
    };
    page(StatusCode::OK, layout("Certified platforms", body))
}

/// The list page's page number.
#[derive(Debug, serde::Deserialize)]
pub struct PageParam {
    pub page: Option<String>,
}

/// The filters as a query string prefix (`q=…&vendor=…&`), for the page links.
fn serde_urlencoded_pairs(params: &ListParams) -> String {
    let pairs = [
        ("q", &params.q),
        ("vendor", &params.vendor),
        ("version", &params.version),
        ("state", &params.state),
        ("min_verified", &params.min_verified),
    ];
    let mut out = String::new();
    for (key, value) in pairs {
        if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
            out.push_str(key);
            out.push('=');
            out.push_str(&percent_encode(v));
            out.push('&');
        }
    }
    out
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `GET /platforms/{id}`: facts, requirement table, badge, history.
pub async fn platform_page(State(state): State<AppState>, UrlPath(id): UrlPath<String>) -> Response {
    let detail = match state.db.platform(&id, dates::today()).await {
        Ok(Some(d)) => d,
        Ok(None) => return not_found_page(&format!("No platform '{id}' is in the registry.")),
        Err(e) => {
            tracing::error!("registry: {e}");
            return error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The registry failed to answer; the server log says why.",
            );
        }
    };
    let c = &detail.current;
    let f = &c.facts;
    let title = format!("{} ({} for conformance {})", f.platform_name, f.platform_version, c.conformance_version);
    let body = html! {
        h1 { (f.platform_name) " — Kubernetes AI Conformance " (c.conformance_version) }
        p { img src={ "/badges/" (c.platform_id) ".svg" } alt={ "Badge: AI conformance " (c.conformance_version) ", " (badge_words(c)) };
            " " a id="badge-link" href={ "/badges/" (c.platform_id) ".svg" } { "Badge (SVG)" } }
        dl {
            dt { "Status" } dd id="state" { (state_cell(c.state)) }
            dt { "Vendor" } dd { (f.vendor_name) }
            dt { "Platform version" } dd { (f.platform_version) }
            dt { "Certified on" } dd { (c.certified_on) " (" (c.date_source.describe()) ")" }
            dt { "Valid until" } dd { (c.expires_on) " (expires on that day)" }
            dt { "Re-test due from" } dd { (c.retest_due_from) }
            dt { "Verified by kaic" } dd {
                (c.verified_count) " of " (c.requirement_count) " requirements (" (c.verified_percent()) "%)"
                @if !c.results_attached { "; no kaic results were attached, every requirement is self-attested" }
            }
            @if !f.description.is_empty() { dt { "Description" } dd { (f.description) } }
            @for (name, value) in [("Website", &f.website_url), ("Documentation", &f.documentation_url), ("Source repository", &f.repo_url), ("Kubernetes conformance", &f.k8s_conformance_url)] {
                @if !value.is_empty() { dt { (name) } dd { (link_or_text(value)) } }
            }
        }
        table id="requirements" {
            caption { "Requirements, as answered in the submission" }
            thead { tr {
                th scope="col" { "Requirement" } th scope="col" { "Section" } th scope="col" { "Level" }
                th scope="col" { "Status" } th scope="col" { "Verification" } th scope="col" { "Evidence" } th scope="col" { "Notes" }
            } }
            tbody {
                @for r in &detail.requirements {
                    tr {
                        th scope="row" { code { (r.id) } }
                        td { (r.section) }
                        td { (r.level) }
                        td { @if r.status.is_empty() { "(blank)" } @else { (r.status) } }
                        td class=(if r.verification == Verification::Kaic { "verified" } else { "self" }) { (r.verification.label()) }
                        td { @if r.evidence.is_empty() { "none" } @else { ul { @for e in &r.evidence { li { (link_or_text(e)) } } } } }
                        td { (r.notes) }
                    }
                }
            }
        }
        h2 { "History" }
        @if detail.history.is_empty() { p { "No earlier certification of this platform for this version." } }
        @else {
            table id="history" {
                caption { "Earlier certifications of this platform for conformance " (c.conformance_version) }
                thead { tr {
                    th scope="col" { "Number" } th scope="col" { "Platform version" } th scope="col" { "Certified on" }
                    th scope="col" { "Valid until" } th scope="col" { "Status" } th scope="col" { "Recorded from" }
                } }
                tbody {
                    @for h in &detail.history {
                        tr {
                            th scope="row" { "#" (h.number) }
                            td { (h.facts.platform_version) } td { (h.certified_on) } td { (h.expires_on) }
                            td { (state_cell(h.state)) } td { (h.source) }
                        }
                    }
                }
            }
        }
    };
    page(StatusCode::OK, layout(&title, body))
}

/// The badge's right half, in words.
pub fn badge_words(c: &Certification) -> String {
    match c.state {
        CertState::Valid => format!("valid until {}", c.expires_on),
        CertState::RetestDue => format!("re-test due, valid until {}", c.expires_on),
        CertState::Expired => format!("expired {}", c.expires_on),
        CertState::Superseded => "superseded".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_urls_become_links() {
        assert_eq!(safe_link("https://acme.example/x?a=1"), Some("https://acme.example/x?a=1"));
        assert_eq!(safe_link(" HTTP://acme.example "), Some("HTTP://acme.example"));
        for bad in [
            "javascript:alert(1)",
            "JaVaScRiPt:alert(1)",
            "data:text/html,<script>",
            "evidence/gang/junit.xml",
            "//evil.example/x",
            "https://",
            "https:///path",
            "https://a.example/\"onmouseover=x",
            "https://a.example/ x",
            "ftp://a.example/f",
        ] {
            assert_eq!(safe_link(bad), None, "{bad}");
        }
    }

    #[test]
    fn text_is_escaped_and_unsafe_links_stay_text() {
        let markup = link_or_text("javascript:alert('<x>')").into_string();
        assert_eq!(markup, "javascript:alert(&#39;&lt;x&gt;&#39;)".replace("&#39;", "'"));
        let link = link_or_text("https://a.example/?q=b&x=1").into_string();
        assert_eq!(
            link,
            r#"<a href="https://a.example/?q=b&amp;x=1" rel="nofollow noopener">https://a.example/?q=b&amp;x=1</a>"#
        );
        // A URL with markup in it is not a link at all: it is shown, escaped.
        assert_eq!(link_or_text("https://a.example/<script>").into_string(), "https://a.example/&lt;script&gt;");
    }
}
