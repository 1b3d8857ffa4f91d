//! The Atom feed of new certifications (`/feed.atom`): the latest 50 recorded, newest first, each
//! linking to its platform's page. Links are relative to the registry (the feed's own URL resolves them).

use atom_syndication::{Entry, Feed, FixedDateTime, Link, Text};
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::dates;
use crate::model::Certification;
use crate::server::AppState;

/// How many certifications the feed holds.
pub const FEED_LENGTH: i64 = 50;

fn timestamp(text: &str) -> FixedDateTime {
    // recorded_at is RFC 3339 as jiff writes it; chrono (atom_syndication's) reads the same form.
    FixedDateTime::parse_from_rfc3339(text).unwrap_or_default()
}

/// The feed for `items` (newest first).
pub fn render(items: &[Certification]) -> String {
    let link = |href: String, rel: &str| Link { href, rel: rel.into(), ..Default::default() };
    let entries: Vec<Entry> = items
        .iter()
        .map(|c| Entry {
            id: format!("urn:kaic-registry:certification:{}", c.number),
            title: Text::plain(format!(
                "{} ({}) certified for Kubernetes AI Conformance {}",
                c.facts.platform_name, c.facts.vendor_name, c.conformance_version
            )),
            updated: timestamp(&c.recorded_at),
            links: vec![link(format!("/platforms/{}", c.platform_id), "alternate")],
            summary: Some(Text::plain(format!(
                "Certified on {} ({}), valid until {}; {} of {} requirements verified by kaic.",
                c.certified_on,
                c.date_source.describe(),
                c.expires_on,
                c.verified_count,
                c.requirement_count
            ))),
            ..Default::default()
        })
        .collect();
    let feed = Feed {
        id: "urn:kaic-registry:certifications".into(),
        title: Text::plain("New Kubernetes AI Conformance certifications"),
        updated: items.first().map(|c| timestamp(&c.recorded_at)).unwrap_or_default(),
        links: vec![link("/feed.atom".into(), "self"), link("/".into(), "alternate")],
        entries,
        ..Default::default()
    };
    feed.to_string()
}

/// `GET /feed.atom`.
pub async fn feed(State(state): State<AppState>) -> Response {
    match state.db.recent(FEED_LENGTH, dates::today()).await {
        Ok(items) => {
            let mut response = render(&items).into_response();
            response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/atom+xml"));
            response
        }
        Err(e) => {
            tracing::error!("registry: {e}");
            (StatusCode::INTERNAL_SERVER_ERROR, "the registry failed to answer").into_response()
        }
    }
}
