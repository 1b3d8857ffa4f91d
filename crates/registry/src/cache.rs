//! What every read gets: a strong ETag (a hash of the body), `If-None-Match` answered with 304, and a
//! cache of rendered answers so that a read costs one tiny query instead of a list query and a render.
//!
//! The cache is keyed by the request's path and query, and each answer is stored with the registry's
//! *data version* and the day it was rendered on. The data version is the highest certification number:
//! every write is an insert with a new number (superseding happens in the same transaction), so a
//! different maximum means different data, whoever wrote it (this server, `kaic registry add` next to
//! it, or another server sharing a PostgreSQL database). The day is part of the key because states
//! (valid, re-test due, expired) change at midnight UTC without any write. The version is read before
//! the handler runs: an answer rendered from newer data than its version is only ever replaced, never
//! served for data it does not show.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use jiff::civil::Date;
use sha2::{Digest, Sha256};

use crate::dates;
use crate::db::hex;
use crate::server::AppState;

/// How many answers are kept; when full the cache starts over (query strings are unbounded, memory is not).
pub const MAX_ENTRIES: usize = 256;
/// Answers larger than this are not kept.
pub const MAX_BODY: usize = 2 * 1024 * 1024;

#[derive(Clone)]
struct Cached {
    version: i64,
    day: Date,
    content_type: Option<HeaderValue>,
    etag: HeaderValue,
    body: Bytes,
}

/// The rendered answers.
#[derive(Default)]
pub struct Cache {
    entries: Mutex<HashMap<String, Cached>>,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let len = self.entries.lock().map(|e| e.len()).unwrap_or_default();
        f.debug_struct("Cache").field("entries", &len).finish()
    }
}

impl Cache {
    fn get(&self, key: &str, version: i64, day: Date) -> Option<Cached> {
        let entries = self.entries.lock().ok()?;
        entries.get(key).filter(|c| c.version == version && c.day == day).cloned()
    }

    fn put(&self, key: String, cached: Cached) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= MAX_ENTRIES && !entries.contains_key(&key) {
                entries.clear();
            }
            entries.insert(key, cached);
        }
    }
}

/// The ETag of a body: the first 128 bits of its sha256, quoted.
pub fn etag_of(body: &[u8]) -> HeaderValue {
    let tag = format!("\"{}\"", &hex(&Sha256::digest(body))[..32]);
    HeaderValue::from_str(&tag).unwrap_or_else(|_| HeaderValue::from_static("\"0\""))
}

fn matches(if_none_match: Option<&str>, etag: &HeaderValue) -> bool {
    let Ok(etag) = etag.to_str() else { return false };
    if_none_match.is_some_and(|v| v.split(',').map(str::trim).any(|t| t == "*" || t.trim_start_matches("W/") == etag))
}

fn answer(cached: &Cached, if_none_match: Option<&str>) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(header::ETAG, cached.etag.clone());
    // Revalidate every time: the answer changes with new submissions and with the date.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if matches(if_none_match, &cached.etag) {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    if let Some(ct) = &cached.content_type {
        headers.insert(header::CONTENT_TYPE, ct.clone());
    }
    (StatusCode::OK, headers, Body::from(cached.body.clone())).into_response()
}

/// The middleware: serves reads from the cache, fills it, adds ETags and answers 304.
pub async fn reads(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if !matches!(*request.method(), Method::GET | Method::HEAD) {
        return next.run(request).await;
    }
    let key = request.uri().path_and_query().map(|p| p.as_str().to_string()).unwrap_or_default();
    let if_none_match = request.headers().get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).map(String::from);
    let day = dates::today();
    // Without a version (a database error) nothing is cached; the handler reports the error itself.
    let version = state.db.data_version().await.ok();
    if let Some(version) = version
        && let Some(cached) = state.cache.get(&key, version, day)
    {
        return answer(&cached, if_none_match.as_deref());
    }
    let response = next.run(request).await;
    if response.status() != StatusCode::OK {
        return response;
    }
    let (parts, body) = response.into_parts();
    let Ok(body) = axum::body::to_bytes(body, usize::MAX).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let cached = Cached {
        version: version.unwrap_or(-1),
        day,
        content_type: parts.headers.get(header::CONTENT_TYPE).cloned(),
        etag: etag_of(&body),
        body,
    };
    if version.is_some() && cached.body.len() <= MAX_BODY {
        state.cache.put(key, cached.clone());
    }
    answer(&cached, if_none_match.as_deref())
}
