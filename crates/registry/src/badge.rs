//! A platform's SVG badge: "AI conformance 1.37 | valid until 2027-01-10" (amber while a re-test is due,
//! red once expired), for vendors' READMEs and pages. The text is XML-escaped; the badge carries a
//! `<title>` and `role="img"` so screen readers announce it.

use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::dates::{self, State as CertState};
use crate::html::badge_words;
use crate::model::Certification;
use crate::server::AppState;

/// Escapes text for XML content and attribute values.
pub fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Approximate width of `text` in Verdana 11px, the badge font (wide enough for digits and capitals).
fn text_width(text: &str) -> usize {
    text.chars().count() * 7 + 10
}

/// The badge of a certification.
pub fn render(c: &Certification) -> String {
    let left = format!("AI conformance {}", c.conformance_version);
    let right = badge_words(c);
    let colour = match c.state {
        CertState::Valid => "#2e7d32",
        CertState::RetestDue => "#b26a00",
        CertState::Expired | CertState::Superseded => "#c62828",
    };
    let (lw, rw) = (text_width(&left), text_width(&right));
    let width = lw + rw;
    let title = xml_escape(&format!("{}: {left}, {right}", c.facts.platform_name));
    let (left, right) = (xml_escape(&left), xml_escape(&right));
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"20\" role=\"img\" aria-label=\"{title}\">\
         <title>{title}</title>\
         <rect width=\"{lw}\" height=\"20\" fill=\"#555\"/><rect x=\"{lw}\" width=\"{rw}\" height=\"20\" fill=\"{colour}\"/>\
         <g fill=\"#fff\" font-family=\"Verdana,DejaVu Sans,sans-serif\" font-size=\"11\" text-anchor=\"middle\">\
         <text x=\"{lx}\" y=\"14\">{left}</text><text x=\"{rx}\" y=\"14\">{right}</text></g></svg>",
        lx = lw / 2,
        rx = lw + rw / 2,
    )
}

/// `GET /badges/{id}.svg`.
pub async fn badge(State(state): State<AppState>, UrlPath(file): UrlPath<String>) -> Response {
    let Some(id) = file.strip_suffix(".svg") else {
        return (StatusCode::NOT_FOUND, format!("no badge '{file}': badges are at /badges/<platform id>.svg"))
            .into_response();
    };
    match state.db.platform(id, dates::today()).await {
        Ok(Some(detail)) => {
            let mut response = render(&detail.current).into_response();
            response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("image/svg+xml"));
            response
        }
        Ok(None) => (StatusCode::NOT_FOUND, format!("no platform '{id}' in the registry")).into_response(),
        Err(e) => {
            tracing::error!("registry: {e}");
            (StatusCode::INTERNAL_SERVER_ERROR, "the registry failed to answer").into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_special_characters_are_escaped() {
        assert_eq!(xml_escape("a<b>&\"c'\u{7}"), "a&lt;b&gt;&amp;&quot;c&apos;");
    }
}
