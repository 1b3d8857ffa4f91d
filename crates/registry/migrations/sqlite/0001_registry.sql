-- The registry's schema for SQLite. Kept column for column in step with migrations/postgres/: the
-- queries in src/db.rs are written once for both (numbered parameters, no engine-specific functions).
CREATE TABLE certifications (
    number INTEGER PRIMARY KEY AUTOINCREMENT,
    platform_id TEXT NOT NULL,
    conformance_version TEXT NOT NULL,
    vendor_name TEXT NOT NULL,
    platform_name TEXT NOT NULL,
    platform_version TEXT NOT NULL,
    description TEXT NOT NULL,
    website_url TEXT NOT NULL,
    documentation_url TEXT NOT NULL,
    repo_url TEXT NOT NULL,
    product_logo_url TEXT NOT NULL,
    k8s_conformance_url TEXT NOT NULL,
    -- Civil dates as YYYY-MM-DD: they compare as text in both engines.
    certified_on TEXT NOT NULL,
    date_source TEXT NOT NULL,
    expires_on TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    source TEXT NOT NULL,
    results_attached BIGINT NOT NULL,
    requirement_count BIGINT NOT NULL,
    verified_count BIGINT NOT NULL,
    requirements_json TEXT NOT NULL,
    -- Lowercased vendor, platform and description, for the search box.
    search_text TEXT NOT NULL,
    -- sha256 of the submission (and its results): the same submission imported twice is one entry.
    content_hash TEXT NOT NULL,
    superseded_by BIGINT REFERENCES certifications(number)
);
CREATE INDEX certifications_platform ON certifications (platform_id, superseded_by);
CREATE INDEX certifications_current ON certifications (superseded_by, conformance_version);
CREATE INDEX certifications_recorded ON certifications (recorded_at);

CREATE TABLE tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    label TEXT NOT NULL,
    -- sha256 of the token: the token itself is shown once and never stored.
    token_hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);
