//! Downloading an official checklist template from the program's public repository, so the official
//! description texts never need to be shipped inside kaic.
//!
//! The templates live in `docs/` of <https://github.com/cncf/k8s-ai-conformance>; the raw files are
//! served from `raw.githubusercontent.com`. A download is checked before it is trusted: it must be a
//! template, for the version asked for.

use std::path::Path;
use std::time::Duration;

use kaic_model::catalogue::ConformanceVersion;

use crate::checklist::{Template, TemplateError};
use crate::http;
use crate::source::{MAX_CHECKLIST_BYTES, human_size};

/// Where the raw templates are served from.
pub const TEMPLATE_BASE_URL: &str = "https://raw.githubusercontent.com/cncf/k8s-ai-conformance/main/docs";
/// The folder a person can browse when the download fails.
pub const TEMPLATE_BROWSE_URL: &str = "https://github.com/cncf/k8s-ai-conformance/tree/main/docs";
/// How long a download may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a template could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(
        "failed to download {url}: {cause}. Are you offline? Download AIConformance-{version}.yaml by hand \
         from {TEMPLATE_BROWSE_URL} and pass it with --template"
    )]
    Unreachable { url: String, version: ConformanceVersion, cause: String },
    #[error("failed to download {url}: the server answered HTTP {status}{hint}")]
    Status { url: String, status: u16, hint: String },
    #[error("failed to download {url}: it is larger than {limit}, which no template is")]
    TooLarge { url: String, limit: String },
    #[error("failed to download {url}: the answer is not UTF-8 text")]
    NotText { url: String },
    #[error("failed to use the download from {url}: {source}")]
    NotATemplate { url: String, source: TemplateError },
    #[error("failed to use the download from {url}: it is the template for {got}, not {wanted}")]
    WrongVersion { url: String, got: ConformanceVersion, wanted: ConformanceVersion },
}

/// The URL of one version's template under `base`.
pub fn template_url(base: &str, version: ConformanceVersion) -> String {
    format!("{}/AIConformance-{version}.yaml", base.trim_end_matches('/'))
}

/// Downloads and checks a template. Returns its text (to write as is) and its reading.
///
/// # Errors
/// When the host cannot be reached in `timeout`, answers with an error status, or sends something that
/// is not the template of `version`.
pub async fn fetch_template(
    version: ConformanceVersion,
    base: &str,
    timeout: Duration,
) -> Result<(String, Template), FetchError> {
    let url = template_url(base, version);
    let unreachable =
        |e: reqwest::Error| FetchError::Unreachable { url: url.clone(), version, cause: kaic_model::error_chain(&e) };
    let client = http::client(timeout).map_err(unreachable)?;
    let mut response = client.get(&url).send().await.map_err(unreachable)?;
    let status = response.status().as_u16();
    if status >= 400 {
        let hint = if status == 404 {
            format!(" (the program may not have published a {version} template yet; see {TEMPLATE_BROWSE_URL})")
        } else {
            String::new()
        };
        return Err(FetchError::Status { url, status, hint });
    }
    let mut body: Vec<u8> = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(unreachable)? {
        body.extend_from_slice(&chunk);
        if body.len() as u64 > MAX_CHECKLIST_BYTES {
            return Err(FetchError::TooLarge { url, limit: human_size(MAX_CHECKLIST_BYTES) });
        }
    }
    let text = String::from_utf8(body).map_err(|_| FetchError::NotText { url: url.clone() })?;
    let template = Template::parse(Path::new(&url), &text)
        .map_err(|source| FetchError::NotATemplate { url: url.clone(), source })?;
    if template.version != version {
        return Err(FetchError::WrongVersion { url, got: template.version, wanted: version });
    }
    Ok((text, template))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checklist::tests::template_path;
    use crate::http::tests::serve;

    fn route(_: &str, path: &str) -> (u16, String) {
        let file = |v| std::fs::read_to_string(template_path(v)).unwrap();
        match path {
            "/docs/AIConformance-1.36.yaml" => (200, file(ConformanceVersion::V1_36)),
            // A mirror that serves the wrong file under the 1.35 name.
            "/docs/AIConformance-1.35.yaml" => (200, file(ConformanceVersion::V1_34)),
            "/docs/AIConformance-1.34.yaml" => (200, "<html>rate limited</html>".into()),
            _ => (404, "not found".into()),
        }
    }

    #[tokio::test]
    async fn downloads_and_checks_the_template() {
        let server = serve(route);
        let base = format!("{}/docs", server.base);
        let (text, template) = fetch_template(ConformanceVersion::V1_36, &base, DEFAULT_TIMEOUT).await.unwrap();
        assert_eq!(template.version, ConformanceVersion::V1_36);
        assert_eq!(text, std::fs::read_to_string(template_path(ConformanceVersion::V1_36)).unwrap());
        let seen = server.seen.lock().unwrap().clone();
        assert_eq!(seen[0].0, "GET /docs/AIConformance-1.36.yaml");
        assert_eq!(seen[0].1, http::USER_AGENT);

        let err = fetch_template(ConformanceVersion::V1_35, &base, DEFAULT_TIMEOUT).await.unwrap_err().to_string();
        assert!(err.ends_with("it is the template for 1.34, not 1.35"), "{err}");
        let err = fetch_template(ConformanceVersion::V1_34, &base, DEFAULT_TIMEOUT).await.unwrap_err().to_string();
        assert!(err.contains("as a checklist template"), "{err}");
        let err = fetch_template(ConformanceVersion::V1_33, &base, DEFAULT_TIMEOUT).await.unwrap_err().to_string();
        assert!(err.contains("HTTP 404 (the program may not have published a 1.33 template yet"), "{err}");
    }

    #[tokio::test]
    async fn offline_is_a_clear_error() {
        // A port nothing listens on: what being offline looks like to the client.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let base = format!("http://127.0.0.1:{port}/docs");
        let err = fetch_template(ConformanceVersion::V1_36, &base, DEFAULT_TIMEOUT).await.unwrap_err().to_string();
        assert!(err.starts_with(&format!("failed to download {base}/AIConformance-1.36.yaml: ")), "{err}");
        assert!(err.contains("Are you offline? Download AIConformance-1.36.yaml by hand from https://github.com/cncf/k8s-ai-conformance/tree/main/docs and pass it with --template"), "{err}");
        assert!(err.to_lowercase().contains("connect"), "{err}");
    }

    #[test]
    fn official_url() {
        assert_eq!(
            template_url(TEMPLATE_BASE_URL, ConformanceVersion::V1_36),
            "https://raw.githubusercontent.com/cncf/k8s-ai-conformance/main/docs/AIConformance-1.36.yaml"
        );
    }
}
