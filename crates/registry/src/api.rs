//! The JSON API (`/api/v1/…`) and its OpenAPI description, generated from the handlers and types with
//! utoipa. Lists are paginated by an opaque cursor (the last registry number seen), so a page never
//! repeats or skips a certification while new ones arrive. Writes need a token ([`crate::auth`]).

use std::collections::BTreeMap;
use std::path::{Component, Path};

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoParams, Modify, OpenApi, ToSchema};

use crate::auth::{self, Access};
use crate::dates::{self, DateSource, State as CertState};
use crate::db::{Filter, Page, Stored, content_hash};
use crate::model::{Certification, PlatformDetail, PlatformPage, Requirement, Verification};
use crate::server::AppState;
use crate::submit::{self, Intake, Refusal};

/// The most items one page of the list holds.
pub const MAX_LIMIT: i64 = 1000;
/// Items per page when `limit` is not given.
pub const DEFAULT_LIMIT: i64 = 100;

/// An error answer: what went wrong and, for an invalid submission, `kaic validate`'s report.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiErrorBody {
    pub error: String,
    /// For an invalid submission: validate's report (`problems`, `valid`, `errors`, …), as
    /// `kaic validate --output json` prints it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub validation: Option<serde_json::Value>,
}

/// An error response.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: ApiErrorBody,
}

impl ApiError {
    pub fn new(status: StatusCode, error: impl Into<String>) -> Self {
        Self { status, body: ApiErrorBody { error: error.into(), validation: None } }
    }

    fn bad_request(error: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, error)
    }

    fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!("registry: {e}");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "the registry failed to answer; the server log says why")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// Filters and pagination of the list. Every parameter is optional.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Items per page, 1 to 1000 (default 100).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Words that must all appear in the vendor, platform name, version or description.
    pub q: Option<String>,
    /// Exact vendor name.
    pub vendor: Option<String>,
    /// Conformance version, e.g. `1.37`.
    pub version: Option<String>,
    /// `valid`, `retest_due` or `expired`.
    #[param(value_type = Option<String>, pattern = "^(valid|retest_due|expired)$")]
    pub state: Option<String>,
    /// At least this share (0–100, percent) of requirements verified by kaic.
    #[param(value_type = Option<u32>, minimum = 0, maximum = 100)]
    pub min_verified: Option<String>,
}

impl ListParams {
    /// The filter, or a message naming the bad parameter and what it accepts.
    pub fn filter(&self) -> Result<Filter, String> {
        let text = |v: &Option<String>| v.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(String::from);
        let state = match text(&self.state) {
            None => None,
            Some(s) => Some(
                CertState::parse(&s)
                    .filter(|s| CertState::FILTERABLE.contains(s))
                    .ok_or_else(|| format!("state '{s}' is not one of valid, retest_due, expired"))?,
            ),
        };
        let min_verified = match text(&self.min_verified) {
            None => None,
            Some(s) => Some(
                s.parse::<i64>()
                    .ok()
                    .filter(|v| (0..=100).contains(v))
                    .ok_or_else(|| format!("min_verified '{s}' is not a whole percentage from 0 to 100"))?,
            ),
        };
        Ok(Filter {
            search: text(&self.q),
            vendor: text(&self.vendor),
            version: text(&self.version),
            state,
            min_verified,
        })
    }
}

/// `GET /api/v1/platforms`.
#[utoipa::path(get, path = "/api/v1/platforms", params(ListParams), responses(
    (status = 200, description = "A page of current certifications (expired ones included, each with its state)", body = PlatformPage),
    (status = 304, description = "Not modified (If-None-Match matched the ETag)"),
    (status = 400, description = "A bad parameter", body = ApiErrorBody),
))]
pub async fn list(
    State(state): State<AppState>,
    params: Result<Query<ListParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<PlatformPage>, ApiError> {
    let Query(params) = params.map_err(|e| ApiError::bad_request(format!("bad query: {e}")))?;
    let limit =
        match params.limit.as_deref().map(str::trim) {
            None | Some("") => DEFAULT_LIMIT,
            Some(l) => l.parse::<i64>().ok().filter(|l| (1..=MAX_LIMIT).contains(l)).ok_or_else(|| {
                ApiError::bad_request(format!("limit '{l}' is not a whole number from 1 to {MAX_LIMIT}"))
            })?,
        };
    let after = match params.cursor.as_deref().map(str::trim) {
        None | Some("") => 0,
        Some(c) => decode_cursor(c).ok_or_else(|| {
            ApiError::bad_request(format!("cursor '{c}' is not one this API gave: pass next_cursor as it came"))
        })?,
    };
    let filter = params.filter().map_err(ApiError::bad_request)?;
    let (items, more) =
        state.db.list(&filter, Page::After(after), limit, dates::today()).await.map_err(ApiError::internal)?;
    let next_cursor = if more { items.last().map(|c| encode_cursor(c.number)) } else { None };
    Ok(Json(PlatformPage { items, next_cursor }))
}

/// The cursor is the last number seen, in a form that does not invite arithmetic.
fn encode_cursor(number: i64) -> String {
    format!("n{number}")
}

fn decode_cursor(cursor: &str) -> Option<i64> {
    cursor.strip_prefix('n')?.parse::<i64>().ok().filter(|n| *n >= 0)
}

/// `GET /api/v1/platforms/{id}`.
#[utoipa::path(get, path = "/api/v1/platforms/{id}", params(("id" = String, Path, description = "The platform id, e.g. acme-ai-platform-1.37")), responses(
    (status = 200, description = "The platform's current certification, requirements and history", body = PlatformDetail),
    (status = 304, description = "Not modified"),
    (status = 404, description = "No such platform", body = ApiErrorBody),
))]
pub async fn platform(
    State(state): State<AppState>,
    UrlPath(id): UrlPath<String>,
) -> Result<Json<PlatformDetail>, ApiError> {
    match state.db.platform(&id, dates::today()).await.map_err(ApiError::internal)? {
        Some(detail) => Ok(Json(detail)),
        None => Err(ApiError::new(StatusCode::NOT_FOUND, format!("no platform '{id}' in the registry"))),
    }
}

/// A submission sent over HTTP: the PRODUCT.yaml text, and optionally kaic's results and the evidence
/// files it cites (by path relative to PRODUCT.yaml), so that `kaic validate` checks it as it would on disk.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmissionBody {
    pub product_yaml: String,
    /// kaic's `kaic-results.json` of the run; marks requirements verified by kaic. Also available to the
    /// submission as `kaic-results.json` beside PRODUCT.yaml.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub kaic_results: Option<serde_json::Value>,
    /// Evidence files: relative path → text content.
    #[serde(default)]
    pub files: BTreeMap<String, String>,
    /// The certification date (`YYYY-MM-DD`); default: the day it is received.
    #[serde(default)]
    pub certified_on: Option<String>,
}

/// What a stored submission became.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubmissionAnswer {
    pub platform_id: String,
    pub number: i64,
    /// False when the very same submission was already stored (nothing changed).
    pub created: bool,
    /// Whether it is now the platform's current certification.
    pub current: bool,
    pub superseded: Option<i64>,
    pub certified_on: String,
    pub date_source: DateSource,
    pub verified: usize,
    pub requirements: usize,
    /// Warnings of `kaic validate` (the submission is valid; these are worth a look).
    #[schema(value_type = Object)]
    pub validation: serde_json::Value,
}

/// `POST /api/v1/submissions`.
#[utoipa::path(post, path = "/api/v1/submissions", request_body = SubmissionBody, security(("token" = [])), responses(
    (status = 201, description = "Stored as a new certification", body = SubmissionAnswer),
    (status = 200, description = "The same submission was already stored", body = SubmissionAnswer),
    (status = 400, description = "A malformed body (not JSON, a bad path or date)", body = ApiErrorBody),
    (status = 401, description = "No token (Authorization: Bearer …)", body = ApiErrorBody),
    (status = 403, description = "A token the registry does not know", body = ApiErrorBody),
    (status = 413, description = "The body is over 8 MiB", body = ApiErrorBody),
    (status = 422, description = "Invalid: `validation` holds kaic validate's problem list", body = ApiErrorBody),
))]
pub async fn submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<SubmissionBody>, JsonRejection>,
) -> Result<(StatusCode, Json<SubmissionAnswer>), ApiError> {
    let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    match auth::check(&state.db, authorization).await.map_err(ApiError::internal)? {
        Access::Missing => {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "a write token is required: send `Authorization: Bearer <token>` (`kaic registry token create` makes one)",
            ));
        }
        Access::Denied => return Err(ApiError::new(StatusCode::FORBIDDEN, "the token is not one of this registry's")),
        Access::Granted(_) => {}
    }
    // One status for every malformed body (syntax, shape, content type); 413 stays 413. 422 is kept for
    // a well-formed submission that kaic validate refuses.
    let Json(body) = body.map_err(|e| {
        let status = if e.status() == StatusCode::PAYLOAD_TOO_LARGE { e.status() } else { StatusCode::BAD_REQUEST };
        ApiError::new(status, format!("the body is not a submission: {}", e.body_text()))
    })?;
    let certified_on = match body.certified_on.as_deref() {
        Some(d) => Some(dates::parse_date(d).map_err(|e| ApiError::bad_request(format!("certified_on: {e}")))?),
        None => None,
    };
    let dir = tempfile::tempdir().map_err(ApiError::internal)?;
    let folder = dir.path().join("submission");
    std::fs::create_dir_all(&folder).map_err(ApiError::internal)?;
    let product = folder.join(crate::import::PRODUCT_FILE);
    std::fs::write(&product, &body.product_yaml).map_err(ApiError::internal)?;
    for (name, text) in &body.files {
        let relative = Path::new(name);
        let plain = relative.components().all(|c| matches!(c, Component::Normal(_)));
        if !plain || name.is_empty() || name == crate::import::PRODUCT_FILE {
            return Err(ApiError::bad_request(format!(
                "files: '{name}' is not a plain relative path inside the submission folder (no '..', no leading '/', \
                 not PRODUCT.yaml)"
            )));
        }
        let path = folder.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(ApiError::internal)?;
        }
        std::fs::write(&path, text).map_err(ApiError::internal)?;
    }
    let results = match &body.kaic_results {
        Some(value) => {
            let path = folder.join(kaic_model::render::REPORT_FILE);
            std::fs::write(&path, serde_json::to_vec(value).map_err(ApiError::internal)?)
                .map_err(ApiError::internal)?;
            Some(path)
        }
        None => None,
    };
    // Validation reads files: off the async workers.
    let owned = (product.clone(), results.clone(), certified_on, dates::today());
    let accepted = tokio::task::spawn_blocking(move || {
        let (product, results, certified_on, fallback_date) = owned;
        submit::accept(&Intake {
            file: &product,
            results: results.as_deref(),
            certified_on,
            fallback_date,
            fallback_source: DateSource::Added,
            source: "POST /api/v1/submissions".into(),
        })
    })
    .await
    .map_err(ApiError::internal)?;
    let accepted = match accepted {
        Ok(a) => a,
        Err(Refusal::Invalid(mut report)) => {
            report.file = crate::import::PRODUCT_FILE.into();
            let mut error = ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("the submission is not valid: {} error(s) by kaic validate's rules", report.errors()),
            );
            error.body.validation = Some(report.to_json());
            return Err(error);
        }
        Err(other) => {
            let folder_text = folder.display().to_string();
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                other.to_string().replace(&folder_text, "submission"),
            ));
        }
    };
    let results_bytes = results.as_ref().and_then(|p| std::fs::read(p).ok()).unwrap_or_default();
    let hash = content_hash(&[body.product_yaml.as_bytes(), &results_bytes]);
    let stored = state.db.store(&accepted.certification, &hash).await.map_err(ApiError::internal)?;
    let c = &accepted.certification;
    let (status, number, created, current, superseded) = match stored {
        Stored::New { number, superseded, current } => (StatusCode::CREATED, number, true, current, superseded),
        Stored::Unchanged { number } => (StatusCode::OK, number, false, true, None),
    };
    let mut report = accepted.report.clone();
    report.file = crate::import::PRODUCT_FILE.into();
    Ok((
        status,
        Json(SubmissionAnswer {
            platform_id: c.platform_id.clone(),
            number,
            created,
            current,
            superseded,
            certified_on: c.certified_on.to_string(),
            date_source: c.date_source,
            verified: c.requirements.iter().filter(|r| r.verification == Verification::Kaic).count(),
            requirements: c.requirements.len(),
            validation: report.to_json(),
        }),
    ))
}

struct TokenScheme;

impl Modify for TokenScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("`kaic registry token create`"))
                    .build(),
            ),
        );
    }
}

/// The OpenAPI description of the JSON API.
#[derive(OpenApi)]
#[openapi(
    info(title = "kaic registry", description = "Certified Kubernetes AI Conformance platforms"),
    paths(list, platform, submit),
    components(schemas(PlatformPage, PlatformDetail, Certification, Requirement, Verification, CertState, DateSource, ApiErrorBody, SubmissionBody, SubmissionAnswer)),
    modifiers(&TokenScheme)
)]
pub struct ApiDoc;

/// `GET /api/v1/openapi.json`.
pub async fn openapi() -> Response {
    Json(ApiDoc::openapi()).into_response()
}
