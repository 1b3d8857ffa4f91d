//! Storage: SQLite (a file, the default) or PostgreSQL (a URL, for a shared deployment), through sqlx's
//! `Any` driver so that every query is written once. Each engine has its own migration folder
//! (`migrations/sqlite`, `migrations/postgres`: they differ only in how a key is generated), applied on
//! every start, so a new file is created and an old one upgraded by the same call.
//!
//! Every value reaches the database as a bound parameter (`$1`, `$2`, …, which both engines read as
//! numbered parameters); the only SQL built at run time is the choice among fixed filter fragments.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use jiff::civil::Date;
use sha2::{Digest, Sha256};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Connection, Row};

use crate::dates::{self, DateSource, State};
use crate::model::{Certification, Facts, NewCertification, PlatformDetail, Requirement};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Why the registry's database could not be used.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("'{0}' is not a database URL: use sqlite://PATH (or a plain file path) or postgres://USER@HOST:PORT/DB")]
    BadUrl(String),
    #[error("failed to create the folder {path} for the SQLite database: {source}")]
    Folder { path: PathBuf, source: std::io::Error },
    #[error("failed to open the database {url}: {source}; {hint}")]
    Connect { url: String, source: sqlx::Error, hint: &'static str },
    #[error("failed to create or upgrade the schema of {url}: {source}")]
    Migrate { url: String, source: sqlx::migrate::MigrateError },
    #[error("database error: {0}")]
    Query(#[from] sqlx::Error),
    #[error("the stored certification {number} is corrupt: {problem}")]
    Corrupt { number: i64, problem: String },
}

/// Which engine a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The database URL `--database` defaults to: `registry.db` in kaic's folder of the user's data
/// directory (`$XDG_DATA_HOME/kaic`, else `~/.local/share/kaic`).
pub fn default_url() -> String {
    let base = std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."));
    format!("sqlite://{}", base.join("kaic").join("registry.db").display())
}

/// Normalises `--database`: `sqlite://PATH`, `sqlite:PATH` or a bare path → SQLite (created if missing);
/// `postgres://…` or `postgresql://…` → PostgreSQL.
///
/// # Errors
/// [`DbError::BadUrl`] for another scheme.
pub fn parse_url(url: &str) -> Result<(Backend, String), DbError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok((Backend::Postgres, url.to_string()));
    }
    let path = if let Some(rest) = url.strip_prefix("sqlite://") {
        rest
    } else if let Some(rest) = url.strip_prefix("sqlite:") {
        rest
    } else if url.contains("://") || url.is_empty() {
        return Err(DbError::BadUrl(url.to_string()));
    } else {
        url
    };
    let path = path.split('?').next().unwrap_or_default();
    if path.is_empty() {
        return Err(DbError::BadUrl(url.to_string()));
    }
    Ok((Backend::Sqlite, path.to_string()))
}

/// The registry's database.
#[derive(Clone, Debug)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
}

/// Filters of the platform list (the web page's form and the API's query).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Words to find in the vendor, platform name or description (case-insensitive).
    pub search: Option<String>,
    pub vendor: Option<String>,
    pub version: Option<String>,
    pub state: Option<State>,
    /// At least this share (percent) of requirements verified by kaic.
    pub min_verified: Option<i64>,
}

/// Which page of the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    /// By registry number, after this number (the API's cursor).
    After(i64),
    /// By version (newest first), vendor and platform, skipping this many (the web page).
    Offset(i64),
}

const COLUMNS: &str = "number, platform_id, conformance_version, vendor_name, platform_name, platform_version, \
    description, website_url, documentation_url, repo_url, product_logo_url, k8s_conformance_url, certified_on, \
    date_source, expires_on, recorded_at, source, results_attached, requirement_count, verified_count, superseded_by";

/// What storing a certification did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// A new certification with this number; `superseded`: the number of the one it replaced as current;
    /// `current`: false when a newer certification of the platform was already stored (it went to the history).
    New { number: i64, superseded: Option<i64>, current: bool },
    /// The very same submission was already stored under this number: nothing changed.
    Unchanged { number: i64 },
}

impl Db {
    /// Opens (creating a SQLite file if needed) and migrates the database at `url`.
    ///
    /// # Errors
    /// [`DbError`] naming the URL and what failed.
    pub async fn connect(url: &str) -> Result<Self, DbError> {
        sqlx::any::install_default_drivers();
        let (backend, target) = parse_url(url)?;
        let (connect_url, max) = match backend {
            Backend::Sqlite => {
                let path = Path::new(&target);
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent)
                        .map_err(|source| DbError::Folder { path: parent.to_path_buf(), source })?;
                }
                // mode=rwc creates the file on first start.
                (format!("sqlite://{target}?mode=rwc"), 8)
            }
            Backend::Postgres => (target.clone(), 16),
        };
        let hint = match backend {
            Backend::Sqlite => "check that the file's folder is writable and the file is a SQLite database",
            Backend::Postgres => "check that the server runs at that address and accepts this user and database",
        };
        let connect = |source| DbError::Connect { url: redact(url), source, hint };
        // One plain connection first: the pool retries until its timeout and then reports only that it
        // timed out, while this names the cause (refused, unknown database, not a database file) at once.
        let options = sqlx::any::AnyConnectOptions::from_str(&connect_url).map_err(connect)?;
        let mut probe = sqlx::AnyConnection::connect_with(&options).await.map_err(connect)?;
        if backend == Backend::Sqlite {
            // SQLite opens any file lazily; this reads it ("file is not a database") and sets WAL once.
            sqlx::query("PRAGMA journal_mode = WAL").execute(&mut probe).await.map_err(connect)?;
        }
        probe.close().await.map_err(connect)?;
        let pool = AnyPoolOptions::new()
            .max_connections(max)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // Readers do not wait for a writer; the timeout makes concurrent writers queue.
                        sqlx::query("PRAGMA journal_mode = WAL").execute(&mut *conn).await?;
                        sqlx::query("PRAGMA busy_timeout = 5000").execute(&mut *conn).await?;
                        sqlx::query("PRAGMA foreign_keys = ON").execute(&mut *conn).await?;
                    }
                    Ok(())
                })
            })
            .connect(&connect_url)
            .await
            .map_err(connect)?;
        let migrator = match backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&pool).await.map_err(|source| DbError::Migrate { url: redact(url), source })?;
        Ok(Self { pool, backend })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Closes the pool (tests stop a PostgreSQL server afterwards).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Stores every certification of `batch` in one transaction: all of them, or (on any error) none.
    ///
    /// # Errors
    /// A database error; then nothing of the batch is stored.
    pub async fn store_all(&self, batch: &[(NewCertification, String)]) -> Result<Vec<Stored>, DbError> {
        let mut tx = self.pool.begin().await?;
        let recorded_at = jiff::Timestamp::now().to_string();
        let mut stored = Vec::with_capacity(batch.len());
        for (certification, content_hash) in batch {
            stored.push(store(&mut tx, certification, content_hash, &recorded_at).await?);
        }
        tx.commit().await?;
        Ok(stored)
    }

    /// Stores one certification (its own transaction).
    ///
    /// # Errors
    /// A database error.
    pub async fn store(&self, certification: &NewCertification, content_hash: &str) -> Result<Stored, DbError> {
        let batch = [(certification.clone(), content_hash.to_string())];
        Ok(self.store_all(&batch).await?.remove(0))
    }

    /// One page of current (not superseded) certifications matching `filter`, on `today`; `limit` rows at
    /// most, plus whether more follow.
    ///
    /// # Errors
    /// A database error.
    pub async fn list(
        &self,
        filter: &Filter,
        page: Page,
        limit: i64,
        today: Date,
    ) -> Result<(Vec<Certification>, bool), DbError> {
        let mut sql = format!("SELECT {COLUMNS} FROM certifications WHERE superseded_by IS NULL");
        let mut params: Vec<Param> = Vec::new();
        let mut bind = |sql: &mut String, fragment: &str, value: Param| {
            params.push(value);
            sql.push_str(&fragment.replace('?', &format!("${}", params.len())));
        };
        if let Some(search) = filter.search.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            // Every word must appear; LIKE's wildcards in the words are escaped, so they match themselves.
            for word in search.split_whitespace().take(8) {
                bind(&mut sql, " AND search_text LIKE ? ESCAPE '\\'", Param::Text(format!("%{}%", like_escape(word))));
            }
        }
        if let Some(vendor) = filter.vendor.as_deref().filter(|s| !s.is_empty()) {
            bind(&mut sql, " AND vendor_name = ?", Param::Text(vendor.to_string()));
        }
        if let Some(version) = filter.version.as_deref().filter(|s| !s.is_empty()) {
            bind(&mut sql, " AND conformance_version = ?", Param::Text(version.to_string()));
        }
        // A certification is in its re-test window when today ≥ expiry − 60 days, i.e. expiry ≤ today + 60.
        let window_end = today.checked_add(jiff::ToSpan::days(dates::RETEST_DAYS)).unwrap_or(Date::MAX).to_string();
        match filter.state {
            Some(State::Expired) => bind(&mut sql, " AND expires_on <= ?", Param::Text(today.to_string())),
            Some(State::RetestDue) => {
                bind(&mut sql, " AND expires_on > ?", Param::Text(today.to_string()));
                bind(&mut sql, " AND expires_on <= ?", Param::Text(window_end));
            }
            Some(State::Valid) => bind(&mut sql, " AND expires_on > ?", Param::Text(window_end)),
            Some(State::Superseded) | None => {}
        }
        if let Some(min) = filter.min_verified.filter(|m| *m > 0) {
            bind(&mut sql, " AND verified_count * 100 >= ? * requirement_count", Param::Int(min));
            sql.push_str(" AND requirement_count > 0");
        }
        match page {
            Page::After(number) => {
                bind(&mut sql, " AND number > ?", Param::Int(number));
                sql.push_str(" ORDER BY number");
                bind(&mut sql, " LIMIT ?", Param::Int(limit + 1));
            }
            Page::Offset(offset) => {
                sql.push_str(" ORDER BY conformance_version DESC, vendor_name, platform_name, number");
                bind(&mut sql, " LIMIT ?", Param::Int(limit + 1));
                bind(&mut sql, " OFFSET ?", Param::Int(offset));
            }
        }
        let mut query = sqlx::query(&sql);
        for p in params {
            query = match p {
                Param::Text(t) => query.bind(t),
                Param::Int(i) => query.bind(i),
            };
        }
        let rows = query.fetch_all(&self.pool).await?;
        let more = rows.len() as i64 > limit;
        let items = rows.iter().take(limit as usize).map(|r| certification(r, today)).collect::<Result<_, _>>()?;
        Ok((items, more))
    }

    /// A platform's current certification, its requirements and its history; `None` when unknown.
    ///
    /// # Errors
    /// A database error, or a stored row that cannot be read back.
    pub async fn platform(&self, platform_id: &str, today: Date) -> Result<Option<PlatformDetail>, DbError> {
        let sql = format!(
            "SELECT {COLUMNS}, requirements_json FROM certifications WHERE platform_id = $1 \
             ORDER BY (CASE WHEN superseded_by IS NULL THEN 0 ELSE 1 END), certified_on DESC, number DESC"
        );
        let rows = sqlx::query(&sql).bind(platform_id).fetch_all(&self.pool).await?;
        let Some(first) = rows.first() else { return Ok(None) };
        let current = certification(first, today)?;
        if current.superseded_by.is_some() {
            return Err(DbError::Corrupt { number: current.number, problem: "no current certification".into() });
        }
        let json: String = first.try_get("requirements_json")?;
        let requirements: Vec<Requirement> = serde_json::from_str(&json)
            .map_err(|e| DbError::Corrupt { number: current.number, problem: e.to_string() })?;
        let history = rows[1..].iter().map(|r| certification(r, today)).collect::<Result<_, _>>()?;
        Ok(Some(PlatformDetail { current, requirements, history }))
    }

    /// The registry's data version: the highest certification number (0 when empty). Every write is an
    /// insert with a new number, so equal versions mean equal data ([`crate::cache`] relies on it).
    ///
    /// # Errors
    /// A database error.
    pub async fn data_version(&self) -> Result<i64, DbError> {
        let row = sqlx::query("SELECT COALESCE(MAX(number), 0) FROM certifications").fetch_one(&self.pool).await?;
        Ok(row.try_get::<i64, _>(0)?)
    }

    /// The latest recorded certifications, newest first (for the feed).
    ///
    /// # Errors
    /// A database error.
    pub async fn recent(&self, limit: i64, today: Date) -> Result<Vec<Certification>, DbError> {
        let sql = format!("SELECT {COLUMNS} FROM certifications ORDER BY recorded_at DESC, number DESC LIMIT $1");
        let rows = sqlx::query(&sql).bind(limit).fetch_all(&self.pool).await?;
        rows.iter().map(|r| certification(r, today)).collect()
    }

    /// The vendors and the versions of current certifications, for the filters.
    ///
    /// # Errors
    /// A database error.
    pub async fn facets(&self) -> Result<(Vec<String>, Vec<String>), DbError> {
        let vendors = sqlx::query(
            "SELECT DISTINCT vendor_name FROM certifications WHERE superseded_by IS NULL ORDER BY vendor_name",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| r.try_get::<String, _>(0))
        .collect::<Result<_, _>>()?;
        let versions = sqlx::query(
            "SELECT DISTINCT conformance_version FROM certifications WHERE superseded_by IS NULL \
             ORDER BY conformance_version DESC",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| r.try_get::<String, _>(0))
        .collect::<Result<_, _>>()?;
        Ok((vendors, versions))
    }

    /// Stores a new write token's hash under `label`.
    ///
    /// # Errors
    /// A database error.
    pub async fn add_token(&self, label: &str, token_hash: &str) -> Result<(), DbError> {
        sqlx::query("INSERT INTO tokens (label, token_hash, created_at) VALUES ($1, $2, $3)")
            .bind(label)
            .bind(token_hash)
            .bind(jiff::Timestamp::now().to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The label of the token with this hash, if one is stored.
    ///
    /// # Errors
    /// A database error.
    pub async fn token_label(&self, token_hash: &str) -> Result<Option<String>, DbError> {
        let row = sqlx::query("SELECT label FROM tokens WHERE token_hash = $1")
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get::<String, _>(0)).transpose()?)
    }
}

enum Param {
    Text(String),
    Int(i64),
}

/// Escapes LIKE's wildcards (`%`, `_`) and the escape character itself.
pub fn like_escape(text: &str) -> String {
    text.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

/// A URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// The sha256 of a submission's bytes (and its results'), hex: what tells a re-import from a new one.
pub fn content_hash(parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    hex(&hasher.finalize())
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn store(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    c: &NewCertification,
    content_hash: &str,
    recorded_at: &str,
) -> Result<Stored, DbError> {
    let existing = sqlx::query("SELECT number FROM certifications WHERE platform_id = $1 AND content_hash = $2")
        .bind(&c.platform_id)
        .bind(content_hash)
        .fetch_optional(&mut **tx)
        .await?;
    if let Some(row) = existing {
        return Ok(Stored::Unchanged { number: row.try_get(0)? });
    }
    let before: Option<i64> =
        sqlx::query("SELECT number FROM certifications WHERE platform_id = $1 AND superseded_by IS NULL")
            .bind(&c.platform_id)
            .fetch_optional(&mut **tx)
            .await?
            .map(|r| r.try_get(0))
            .transpose()?;
    let verified = c.requirements.iter().filter(|r| r.verification == crate::model::Verification::Kaic).count();
    let requirements_json = serde_json::to_string(&c.requirements)
        .map_err(|e| DbError::Corrupt { number: 0, problem: format!("requirements do not serialise: {e}") })?;
    let f = &c.facts;
    let search_text =
        format!("{} {} {} {}", f.vendor_name, f.platform_name, f.platform_version, f.description).to_lowercase();
    let row = sqlx::query(
        "INSERT INTO certifications (platform_id, conformance_version, vendor_name, platform_name, platform_version, \
         description, website_url, documentation_url, repo_url, product_logo_url, k8s_conformance_url, certified_on, \
         date_source, expires_on, recorded_at, source, results_attached, requirement_count, verified_count, \
         requirements_json, search_text, content_hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22) \
         RETURNING number",
    )
    .bind(&c.platform_id)
    .bind(&c.conformance_version)
    .bind(&f.vendor_name)
    .bind(&f.platform_name)
    .bind(&f.platform_version)
    .bind(&f.description)
    .bind(&f.website_url)
    .bind(&f.documentation_url)
    .bind(&f.repo_url)
    .bind(&f.product_logo_url)
    .bind(&f.k8s_conformance_url)
    .bind(c.certified_on.to_string())
    .bind(c.date_source.as_str())
    .bind(dates::expiry(c.certified_on).to_string())
    .bind(recorded_at)
    .bind(&c.source)
    .bind(i64::from(c.results_attached))
    .bind(c.requirements.len() as i64)
    .bind(verified as i64)
    .bind(requirements_json)
    .bind(search_text)
    .bind(content_hash)
    .fetch_one(&mut **tx)
    .await?;
    let number: i64 = row.try_get(0)?;
    // The newest by certification date (then by number) is current; every other certification of the
    // platform points at it. A late-imported older submission thus lands straight in the history.
    let current: i64 = sqlx::query(
        "SELECT number FROM certifications WHERE platform_id = $1 ORDER BY certified_on DESC, number DESC LIMIT 1",
    )
    .bind(&c.platform_id)
    .fetch_one(&mut **tx)
    .await?
    .try_get(0)?;
    sqlx::query("UPDATE certifications SET superseded_by = $1 WHERE platform_id = $2 AND number <> $1")
        .bind(current)
        .bind(&c.platform_id)
        .execute(&mut **tx)
        .await?;
    sqlx::query("UPDATE certifications SET superseded_by = NULL WHERE number = $1")
        .bind(current)
        .execute(&mut **tx)
        .await?;
    let is_current = current == number;
    Ok(Stored::New { number, superseded: before.filter(|_| is_current), current: is_current })
}

/// Reads a row of [`COLUMNS`] into a certification, with its state on `today`.
fn certification(row: &AnyRow, today: Date) -> Result<Certification, DbError> {
    let number: i64 = row.try_get("number")?;
    let corrupt = |problem: String| DbError::Corrupt { number, problem };
    let text = |name: &str| row.try_get::<String, _>(name);
    let certified_on: String = text("certified_on")?;
    let expires_on: String = text("expires_on")?;
    let expires: Date = expires_on.parse().map_err(|e| corrupt(format!("expires_on '{expires_on}': {e}")))?;
    let date_source = text("date_source")?;
    let superseded_by: Option<i64> = row.try_get("superseded_by")?;
    let state = if superseded_by.is_some() { State::Superseded } else { dates::state_on(expires, today) };
    Ok(Certification {
        number,
        platform_id: text("platform_id")?,
        conformance_version: text("conformance_version")?,
        facts: Facts {
            vendor_name: text("vendor_name")?,
            platform_name: text("platform_name")?,
            platform_version: text("platform_version")?,
            description: text("description")?,
            website_url: text("website_url")?,
            documentation_url: text("documentation_url")?,
            repo_url: text("repo_url")?,
            product_logo_url: text("product_logo_url")?,
            k8s_conformance_url: text("k8s_conformance_url")?,
        },
        certified_on,
        date_source: DateSource::parse(&date_source).ok_or_else(|| corrupt(format!("date_source '{date_source}'")))?,
        retest_due_from: dates::retest_from(expires).to_string(),
        expires_on,
        state,
        recorded_at: text("recorded_at")?,
        source: text("source")?,
        results_attached: row.try_get::<i64, _>("results_attached")? != 0,
        requirement_count: row.try_get("requirement_count")?,
        verified_count: row.try_get("verified_count")?,
        superseded_by,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls() {
        assert_eq!(parse_url("sqlite:///tmp/r.db").unwrap(), (Backend::Sqlite, "/tmp/r.db".into()));
        assert_eq!(parse_url("sqlite://r.db?mode=rwc").unwrap(), (Backend::Sqlite, "r.db".into()));
        assert_eq!(parse_url("/var/lib/r.db").unwrap(), (Backend::Sqlite, "/var/lib/r.db".into()));
        assert_eq!(parse_url("postgres://u@h/db").unwrap().0, Backend::Postgres);
        let err = parse_url("mysql://h/db").unwrap_err().to_string();
        assert!(err.contains("'mysql://h/db'") && err.contains("sqlite://PATH"), "{err}");
        assert!(default_url().starts_with("sqlite://") && default_url().ends_with("kaic/registry.db"));
    }

    #[test]
    fn like_wildcards_match_themselves() {
        assert_eq!(like_escape("100%_A\\b"), "100\\%\\_a\\\\b");
    }

    #[test]
    fn passwords_stay_out_of_messages() {
        assert_eq!(redact("postgres://kaic:s3cret@db:5432/r"), "postgres://kaic:***@db:5432/r");
        assert_eq!(redact("postgres://kaic@db/r"), "postgres://kaic@db/r");
    }
}
