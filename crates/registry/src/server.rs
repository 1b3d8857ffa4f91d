//! The HTTP server: the routes, the shared state, and what every response gets (ETag, revalidation and
//! the answer cache for reads, see [`crate::cache`]; a bounded body for writes; 404 for anything else).
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

use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tower_http::limit::RequestBodyLimitLayer;

use crate::cache::{self, Cache};
use crate::db::Db;
use crate::{api, badge, feed, html};

/// The largest submission body accepted (a PRODUCT.yaml, kaic's results and small evidence files).
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// What every handler shares.
#[derive(Clone, Debug)]
pub struct AppState {
    pub db: Db,
    pub cache: Arc<Cache>,
}

/// The registry's routes over `db`.
pub fn router(db: Db) -> Router {
    let state = AppState { db, cache: Arc::new(Cache::default()) };
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
        .layer(middleware::from_fn_with_state(state.clone(), cache::reads))
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
