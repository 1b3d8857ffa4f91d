//! A minimal HTTP/1.1 client for `ai_inference`'s direct path: one POST per connection (`Connection: close`)
//! to an `IP:port`, the status, the response headers and how long the exchange took. A gateway and a model
//! server speak plain HTTP on the cluster's network; kaic needs nothing more, and a fresh connection per
//! request keeps every request an independent draw for the gateway's load balancing.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What one request got back.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// The status code; 0 when no response came (connection refused, reset, timed out).
    pub status: u16,
    /// Response headers, names in lower case.
    pub headers: BTreeMap<String, String>,
    pub elapsed: Duration,
    /// Why no response came, when `status` is 0.
    pub error: Option<String>,
}

/// The request bytes: a POST of `body` (JSON) to `path` on `host`, with `headers`.
pub fn request_bytes(host: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Vec<u8> {
    let mut text = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\nUser-Agent: kaic\r\n",
        body.len()
    );
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("\r\n");
    text.push_str(body);
    text.into_bytes()
}

/// Parses the status line and headers of a response; `None` if it is not HTTP.
pub fn parse_head(raw: &[u8]) -> Option<(u16, BTreeMap<String, String>)> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(raw.len());
    let head = String::from_utf8_lossy(&raw[..end]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    let mut parts = status_line.split_whitespace();
    if !parts.next()?.starts_with("HTTP/") {
        return None;
    }
    let status = parts.next()?.parse().ok()?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_string()))
        .collect();
    Some((status, headers))
}

/// Sends one POST to `addr` (`IP:port`) with `Host: host` and reads the whole response, within `timeout`.
pub async fn post(
    addr: &str,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
    timeout: Duration,
) -> Response {
    let started = Instant::now();
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await.map_err(|e| format!("connect {addr}: {e}"))?;
        stream.set_nodelay(true).ok();
        stream.write_all(&request_bytes(host, path, headers, body)).await.map_err(|e| format!("send: {e}"))?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.map_err(|e| format!("read: {e}"))?;
        parse_head(&raw).ok_or_else(|| format!("not an HTTP response ({} bytes)", raw.len()))
    };
    let result = tokio::time::timeout(timeout, exchange).await;
    let elapsed = started.elapsed();
    match result {
        Ok(Ok((status, headers))) => Response { status, headers, elapsed, error: None },
        Ok(Err(e)) => Response { status: 0, headers: BTreeMap::new(), elapsed, error: Some(e) },
        Err(_) => Response {
            status: 0,
            headers: BTreeMap::new(),
            elapsed,
            error: Some(format!("no response within {timeout:?}")),
        },
    }
}

/// Whether something accepts TCP connections at `addr` within `timeout`.
pub async fn reachable(addr: &str, timeout: Duration) -> bool {
    matches!(tokio::time::timeout(timeout, TcpStream::connect(addr)).await, Ok(Ok(_)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_a_post_and_parses_a_head() {
        let bytes = request_bytes("10.0.0.1:80", "/v1/completions", &[("x-model-variant", "canary")], "{}");
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.starts_with("POST /v1/completions HTTP/1.1\r\nHost: 10.0.0.1:80\r\n"), "{text}");
        assert!(text.contains("Content-Length: 2\r\n") && text.contains("x-model-variant: canary\r\n"));
        assert!(text.ends_with("\r\n\r\n{}"));
        let (status, headers) =
            parse_head(b"HTTP/1.1 200 OK\r\nX-Inference-Pod: canary\r\nContent-Length: 2\r\n\r\n{}").unwrap();
        assert_eq!(status, 200);
        assert_eq!(headers["x-inference-pod"], "canary");
        assert_eq!(parse_head(b"SSH-2.0-OpenSSH\r\n"), None);
    }

    #[tokio::test]
    async fn a_closed_port_is_no_response() {
        let r = post("127.0.0.1:1", "x", "/", &[], "", Duration::from_secs(2)).await;
        assert_eq!(r.status, 0);
        assert!(r.error.unwrap().contains("connect"));
        assert!(!reachable("127.0.0.1:1", Duration::from_secs(1)).await);
    }
}
