//! The HTTP client the certification tools use: an honest user agent (so a vendor whose documentation
//! sits behind a firewall can allow it by name), bounded times, and the ring crypto provider installed
//! if the binary has not done so yet (rustls panics without one).

use std::time::Duration;

/// Says who is asking and why.
pub const USER_AGENT: &str = concat!(
    "kaic/",
    env!("CARGO_PKG_VERSION"),
    " (Kubernetes AI Conformance submission checker; +https://github.com/kaic-dev/kaic)"
);

/// A client whose requests each end within `timeout` (connecting within half of it).
///
/// # Errors
/// When the TLS back-end cannot be set up.
pub fn client(timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    // Installing twice is harmless: the second call returns an error that says one is installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .timeout(timeout)
        .connect_timeout(timeout / 2)
        .redirect(reqwest::redirect::Policy::limited(10))
        .build()
}

#[cfg(test)]
pub(crate) mod tests {
    //! A tiny HTTP server on 127.0.0.1 for the tests of fetch and online checks.

    use std::io::{BufRead, BufReader, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::{Arc, Mutex};
    use std::thread;

    /// A response: status and body.
    pub(crate) type Route = fn(method: &str, path: &str) -> (u16, String);

    pub(crate) struct Server {
        pub base: String,
        /// Every request line and User-Agent seen.
        pub seen: Arc<Mutex<Vec<(String, String)>>>,
    }

    /// Serves `route` on a free port of 127.0.0.1 until the test process ends.
    pub(crate) fn serve(route: Route) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let log = log.clone();
                thread::spawn(move || answer(stream, route, &log));
            }
        });
        Server { base, seen }
    }

    fn answer(stream: TcpStream, route: Route, log: &Mutex<Vec<(String, String)>>) {
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut request = String::new();
        if reader.read_line(&mut request).is_err() {
            return;
        }
        let mut agent = String::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                break;
            }
            if let Some(v) = line.strip_prefix("user-agent: ").or_else(|| line.strip_prefix("User-Agent: ")) {
                agent = v.trim().to_string();
            }
        }
        let mut parts = request.split_whitespace();
        let (method, path) = (parts.next().unwrap_or("").to_string(), parts.next().unwrap_or("").to_string());
        log.lock().unwrap().push((format!("{method} {path}"), agent));
        let (status, body) = route(&method, &path);
        let body = if method == "HEAD" { String::new() } else { body };
        let mut stream = stream;
        let _ =
            write!(stream, "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
    }
}
