//! The HTTP server: the routes, the shared state, and what every response gets (ETag and revalidation
//! for reads, a bounded body for writes, 404 for anything else).
//!
//! | route | what |
//! |---|---|
//! | `GET /` | the list of certified platforms, by conformance version, with search and filters |
//! | `GET /platforms/{id}` | a platform's page: facts, requirement table, history |
//! | `GET /badges/{id}.svg` | a platform's badge (version, valid until) |
//! | `GET /feed.atom` | an Atom feed of new certifications |
//! | `GET /api/v1/platforms` | every current certification, paginated (`limit`, `cursor`) |
//! | `GET /api/v1/platforms/{id}` | one platform, with requirements and history |
//! | `POST /api/v1/submissions` | a new submission (a write token is required) |
//! | `GET /api/v1/openapi.json` | the OpenAPI description of the JSON API |

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use sha2::{Digest, Sha256};
use tower_http::limit::RequestBodyLimitLayer;

use crate::db::{Db, hex};
use crate::{api, badge, feed, html};

/// The largest submission body accepted (a PRODUCT.yaml, kaic's results and small evidence files).
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// What every handler shares.
#[derive(Clone, Debug)]
pub struct AppState {
    pub db: Db,
}

/// The registry's routes over `db`.
pub fn router(db: Db) -> Router {
    let state = AppState { db };
    Router::new()
        .route("/", get(html::list_page))
        .route("/platforms/{id}", get(html::platform_page))
        .route("/badges/{file}", get(badge::badge))
        .route("/feed.atom", get(feed::feed))
        .route("/api/v1/platforms", get(api::list))
        .route("/api/v1/platforms/{id}", get(api::platform))
        .route("/api/v1/openapi.json", get(api::openapi))
        .route(
            "/api/v1/submissions",
            post(api::submit).layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES)).layer(middleware::from_fn(json_413)),
        )
        .fallback(not_found)
        .layer(middleware::from_fn(etag))
        .with_state(state)
}

async fn not_found(request: Request) -> Response {
    if request.uri().path().starts_with("/api/") {
        api::ApiError::new(StatusCode::NOT_FOUND, format!("no such resource: {}", request.uri().path())).into_response()
    } else {
        html::not_found_page(&format!("There is no page at {}.", request.uri().path()))
    }
}

/// The body limit's own 413 has a plain-text body; API clients get the API's JSON error shape.
async fn json_413(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return api::ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the request body is over {MAX_BODY_BYTES} bytes: send evidence as links rather than files"),
        )
        .into_response();
    }
    response
}

/// Adds a strong ETag (a hash of the body) to every successful read, answers `If-None-Match` with 304,
/// and asks caches to revalidate (states change with the date, not only with new submissions).
async fn etag(request: Request, next: Next) -> Response {
    let read = matches!(*request.method(), Method::GET | Method::HEAD);
    let if_none_match = request.headers().get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).map(String::from);
    let response = next.run(request).await;
    if !read || response.status() != StatusCode::OK {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let tag = format!("\"{}\"", &hex(&Sha256::digest(&bytes))[..32]);
    if let Ok(value) = HeaderValue::from_str(&tag) {
        parts.headers.insert(header::ETAG, value);
    }
    parts.headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    let matches = if_none_match
        .is_some_and(|v| v.split(',').map(str::trim).any(|t| t == "*" || t.trim_start_matches("W/") == tag));
    if matches {
        parts.status = StatusCode::NOT_MODIFIED;
        parts.headers.remove(header::CONTENT_LENGTH);
        return Response::from_parts(parts, Body::empty());
    }
    Response::from_parts(parts, Body::from(bytes))
}
