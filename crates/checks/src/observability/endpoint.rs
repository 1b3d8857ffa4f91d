//! Where kaic reads metrics from and how: an HTTP(S) URL the user gave (`--accelerator-metrics-url`,
//! `--prometheus-url`), reached directly from where kaic runs with the user's headers, or a pod or Service
//! reached through the API server's proxy (`/api/v1/namespaces/NS/pods/NAME:PORT/proxy/PATH`), which works
//! from anywhere kaic has API access: no port-forward, no route from kaic's host to pod IPs.
//!
//! The API server's proxy passes request headers on (authentication strips `Authorization`), so a
//! multi-tenant back-end's header (`X-Scope-OrgID`) still reaches it; a bearer token only travels to a URL.

use std::fmt;
use std::time::Duration;

use kaic_model::error_chain;
use kube::Client;

/// How long one metrics request may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Which kind of object the API server proxies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyKind {
    Pod,
    Service,
}

impl ProxyKind {
    fn plural(self) -> &'static str {
        match self {
            Self::Pod => "pods",
            Self::Service => "services",
        }
    }
}

/// A place to send HTTP requests to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A URL reached directly (`http://…`, `https://…`); requests append their path to it.
    Url(String),
    /// A pod or Service reached through the API server's proxy. `kind: None` (the user's
    /// `namespace/name:port` form): a Service of that name if one exists, else a pod.
    Proxy { namespace: String, kind: Option<ProxyKind>, name: String, port: String, path: String },
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Url(url) => f.write_str(url),
            Self::Proxy { namespace, kind, name, port, path } => {
                let kind = kind.map_or(String::new(), |k| format!("{} ", k.plural().trim_end_matches('s')));
                write!(f, "{kind}{namespace}/{name}:{port}{path} (through the API server's proxy)")
            }
        }
    }
}

/// Extra request headers (`--prometheus-header`, the bearer token file). Values never appear in `Debug`
/// output, so a token cannot leak into logs.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Headers(pub Vec<(String, String)>);

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.iter().map(|(name, _)| format!("{name}: <redacted>"))).finish()
    }
}

impl Endpoint {
    /// Parses what a user gave: a URL, or `namespace/name:port[/path]` (a Service or pod reached through the
    /// API server's proxy). `default_path` is used when the form names none.
    ///
    /// # Errors
    /// A sentence naming what is wrong and the accepted forms.
    pub fn parse(text: &str, default_path: &str) -> Result<Self, String> {
        let text = text.trim();
        let forms = "give a URL (http://host:port/path) or NAMESPACE/NAME:PORT[/PATH] for a Service or pod reached \
                     through the API server's proxy";
        if text.starts_with("http://") || text.starts_with("https://") {
            let url = reqwest::Url::parse(text).map_err(|e| format!("'{text}' is not a valid URL ({e}): {forms}"))?;
            if url.host_str().is_none_or(str::is_empty) {
                return Err(format!("'{text}' names no host: {forms}"));
            }
            return Ok(Self::Url(text.trim_end_matches('/').to_string()));
        }
        if text.contains("://") {
            return Err(format!("'{text}': only http and https URLs are supported: {forms}"));
        }
        let (namespace, rest) = text.split_once('/').ok_or_else(|| format!("'{text}' names no namespace: {forms}"))?;
        let (target, path) = match rest.find('/') {
            Some(at) => (&rest[..at], &rest[at..]),
            None => (rest, default_path),
        };
        let (name, port) =
            target.split_once(':').ok_or_else(|| format!("'{text}' names no port after the name: {forms}"))?;
        let label = |s: &str| {
            !s.is_empty()
                && s.len() <= 253
                && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        };
        if !label(namespace) || !label(name) {
            return Err(format!("'{text}': the namespace and name must be Kubernetes names (lowercase): {forms}"));
        }
        let port_ok = port.parse::<u16>().is_ok_and(|p| p > 0)
            || (port.len() <= 15
                && port.chars().any(|c| c.is_ascii_lowercase())
                && port.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'));
        if !port_ok {
            return Err(format!("'{text}': the port '{port}' is neither a number nor a port name: {forms}"));
        }
        Ok(Self::Proxy {
            namespace: namespace.to_string(),
            kind: None,
            name: name.to_string(),
            port: port.to_string(),
            path: path.to_string(),
        })
    }

    /// A pod reached through the API server's pod proxy.
    pub fn pod(namespace: &str, name: &str, port: &str, path: &str) -> Self {
        Self::Proxy {
            namespace: namespace.into(),
            kind: Some(ProxyKind::Pod),
            name: name.into(),
            port: port.into(),
            path: path.into(),
        }
    }

    /// A Service reached through the API server's service proxy.
    pub fn service(namespace: &str, name: &str, port: &str, path: &str) -> Self {
        Self::Proxy {
            namespace: namespace.into(),
            kind: Some(ProxyKind::Service),
            name: name.into(),
            port: port.into(),
            path: path.into(),
        }
    }

    /// The API server path of a proxied request to `suffix` (which starts with `/` and may carry a query).
    fn proxy_path(namespace: &str, kind: ProxyKind, name: &str, port: &str, path: &str, suffix: &str) -> String {
        format!(
            "/api/v1/namespaces/{namespace}/{}/{name}:{port}/proxy{}{suffix}",
            kind.plural(),
            path.trim_end_matches('/')
        )
    }

    /// GETs `suffix` (appended to the endpoint's path; empty for the path itself).
    ///
    /// # Errors
    /// What failed, in a sentence (status code and body, or the transport error).
    pub async fn get(&self, client: &Client, headers: &Headers, suffix: &str) -> Result<String, String> {
        self.send(client, headers, http::Method::GET, suffix, None).await
    }

    /// POSTs a JSON body to `suffix`.
    ///
    /// # Errors
    /// As [`Endpoint::get`].
    pub async fn post_json(
        &self,
        client: &Client,
        headers: &Headers,
        suffix: &str,
        body: &serde_json::Value,
    ) -> Result<String, String> {
        self.send(client, headers, http::Method::POST, suffix, Some(body.to_string().into_bytes())).await
    }

    async fn send(
        &self,
        client: &Client,
        headers: &Headers,
        method: http::Method,
        suffix: &str,
        body: Option<Vec<u8>>,
    ) -> Result<String, String> {
        match self {
            Self::Url(url) => send_url(&format!("{url}{suffix}"), headers, method, body).await,
            Self::Proxy { namespace, kind: Some(kind), name, port, path } => {
                let target = Self::proxy_path(namespace, *kind, name, port, path, suffix);
                send_proxy(client, &target, headers, method, body).await
            }
            Self::Proxy { namespace, kind: None, name, port, path } => {
                // The user's `namespace/name:port` form: a Service if one has that name, else a pod.
                let service = Self::proxy_path(namespace, ProxyKind::Service, name, port, path, suffix);
                match send_proxy(client, &service, headers, method.clone(), body.clone()).await {
                    Err(e) if e.contains(&format!("services \"{name}\" not found")) => {
                        let pod = Self::proxy_path(namespace, ProxyKind::Pod, name, port, path, suffix);
                        send_proxy(client, &pod, headers, method, body).await
                    }
                    other => other,
                }
            }
        }
    }
}

/// One request through the API server (its proxy subresources), with a timeout.
async fn send_proxy(
    client: &Client,
    path: &str,
    headers: &Headers,
    method: http::Method,
    body: Option<Vec<u8>>,
) -> Result<String, String> {
    let mut request = http::Request::builder().method(method).uri(path);
    if body.is_some() {
        request = request.header(http::header::CONTENT_TYPE, "application/json");
    }
    for (name, value) in &headers.0 {
        request = request.header(name.as_str(), value.as_str());
    }
    let request = request.body(body.unwrap_or_default()).map_err(|e| format!("kaic built an invalid request: {e}"))?;
    match tokio::time::timeout(REQUEST_TIMEOUT, client.request_text(request)).await {
        Err(_) => Err(format!("no answer within {}s from {path}", REQUEST_TIMEOUT.as_secs())),
        Ok(Ok(text)) => Ok(text),
        Ok(Err(kube::Error::Api(status))) => {
            Err(format!("{path} answered {}: {}", status.code, status.message.lines().next().unwrap_or_default()))
        }
        Ok(Err(e)) => Err(format!("{path}: {e}")),
    }
}

/// One request straight to a URL, with the user's headers.
async fn send_url(url: &str, headers: &Headers, method: http::Method, body: Option<Vec<u8>>) -> Result<String, String> {
    let client = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(REQUEST_TIMEOUT / 2)
        .build()
        .map_err(|e| format!("failed to set up an HTTP client: {e}"))?;
    let mut request = client.request(method, url);
    if let Some(body) = body {
        request = request.header(http::header::CONTENT_TYPE, "application/json").body(body);
    }
    for (name, value) in &headers.0 {
        request = request.header(name.as_str(), value.as_str());
    }
    let response = request.send().await.map_err(|e| format!("{url}: {}", error_chain(&e)))?;
    let status = response.status();
    let text = response.text().await.map_err(|e| format!("{url}: reading the answer failed: {}", error_chain(&e)))?;
    if status.is_success() {
        Ok(text)
    } else {
        Err(format!("{url} answered {status}: {}", text.lines().next().unwrap_or_default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls_and_proxied_objects() {
        assert_eq!(
            Endpoint::parse("https://prom.example:9090/", "/metrics").unwrap(),
            Endpoint::Url("https://prom.example:9090".into())
        );
        assert_eq!(
            Endpoint::parse("gpu-operator/nvidia-dcgm-exporter:9400", "/metrics").unwrap(),
            Endpoint::Proxy {
                namespace: "gpu-operator".into(),
                kind: None,
                name: "nvidia-dcgm-exporter".into(),
                port: "9400".into(),
                path: "/metrics".into()
            }
        );
        let Endpoint::Proxy { port, path, .. } =
            Endpoint::parse("monitoring/vmselect:http/select/0/prometheus", "").unwrap()
        else {
            panic!()
        };
        assert_eq!((port.as_str(), path.as_str()), ("http", "/select/0/prometheus"));
    }

    #[test]
    fn refuses_what_it_cannot_reach_and_says_the_forms() {
        for bad in ["ftp://x/y", "http://", "nvidia-dcgm-exporter:9400", "gpu-operator/exporter", "NS/x:9400", "ns/x:0"]
        {
            let err = Endpoint::parse(bad, "/metrics").unwrap_err();
            assert!(err.contains("NAMESPACE/NAME:PORT"), "{bad}: {err}");
        }
    }

    #[test]
    fn proxy_paths_and_redacted_headers() {
        assert_eq!(
            Endpoint::proxy_path("gpu-operator", ProxyKind::Pod, "dcgm-x", "9400", "/metrics", ""),
            "/api/v1/namespaces/gpu-operator/pods/dcgm-x:9400/proxy/metrics"
        );
        assert_eq!(
            Endpoint::proxy_path(
                "monitoring",
                ProxyKind::Service,
                "prometheus",
                "web",
                "",
                "/api/v1/query?query=vector(1)"
            ),
            "/api/v1/namespaces/monitoring/services/prometheus:web/proxy/api/v1/query?query=vector(1)"
        );
        let headers = Headers(vec![("Authorization".into(), "Bearer secret".into())]);
        assert!(!format!("{headers:?}").contains("secret"));
        assert_eq!(
            Endpoint::service("monitoring", "prometheus", "web", "").to_string(),
            "service monitoring/prometheus:web (through the API server's proxy)"
        );
    }
}
