//! The one HTTP client Steward talks to authorization servers with: HTTPS (rustls) except for
//! loopback hosts, connect and read timeouts, a cap on every response body, and redirects
//! followed only on the same host. Every failure names the URL and says what happened.

use std::sync::OnceLock;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use url::Url;

use crate::{Error, Result};

/// The most a response body may hold (metadata, a client, a token answer).
pub const MAX_BODY: usize = 1 << 20;
/// Seconds to connect, then to wait for each read, unless `STEWARD_HTTP_TIMEOUT_MS` says.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const READ_TIMEOUT: Duration = Duration::from_secs(15);
/// The whole exchange, headers and body.
const TOTAL_TIMEOUT: Duration = Duration::from_secs(30);
/// Overrides the read and total timeouts, in milliseconds (a slow link, a test).
pub const TIMEOUT_ENV: &str = "STEWARD_HTTP_TIMEOUT_MS";

/// Whether `host` is this machine.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// `text` as a URL Steward may call: `https`, or `http` to a loopback host; no credentials
/// in it. `field` names the option or metadata member it came from.
pub fn endpoint(field: &str, text: &str) -> Result<Url> {
    let url = Url::parse(text.trim())
        .map_err(|e| Error::invalid(field, format!("'{text}' is not a URL: {e}")))?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => {
            return Err(Error::invalid(
                field,
                format!("'{text}': HTTPS is required except on this machine (loopback)"),
            ))
        }
        other => {
            return Err(Error::invalid(
                field,
                format!("'{text}': {other} is not HTTP(S)"),
            ))
        }
    }
    if url.host().is_none() {
        return Err(Error::invalid(field, format!("'{text}' names no host")));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::invalid(
            field,
            format!("'{text}' carries credentials; Steward holds them itself"),
        ));
    }
    Ok(url)
}

/// An answer, its body read in full (within [`MAX_BODY`]). A body may hold a token or a
/// client secret: it is zeroized when dropped, and `Debug` shows its length only.
pub struct Answer {
    pub url: Url,
    pub status: StatusCode,
    pub body: zeroize::Zeroizing<Vec<u8>>,
    pub ms: u64,
}

impl std::fmt::Debug for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Answer")
            .field("url", &self.url.as_str())
            .field("status", &self.status)
            .field("body", &format_args!("{} bytes", self.body.len()))
            .field("ms", &self.ms)
            .finish()
    }
}

impl Answer {
    /// The body as JSON, or an error naming the URL.
    pub fn json(&self) -> Result<serde_json::Value> {
        serde_json::from_slice(&self.body).map_err(|e| {
            Error::remote(
                &self.url,
                format!("answered {} with a body that is not JSON: {e}", self.status),
            )
        })
    }

    /// The body as JSON when the status is a success; otherwise an error that quotes the
    /// server's `error` and `error_description` (or the start of the body).
    pub fn ok_json(&self) -> Result<serde_json::Value> {
        if !self.status.is_success() {
            return Err(self.failure());
        }
        self.json()
    }

    /// The error for a status that is not a success.
    pub fn failure(&self) -> Error {
        let said = serde_json::from_slice::<serde_json::Value>(&self.body)
            .ok()
            .and_then(|v| {
                let e = v.get("error")?.as_str()?.to_string();
                Some(match v.get("error_description").and_then(|d| d.as_str()) {
                    Some(d) => format!("{e}: {d}"),
                    None => e,
                })
            })
            .unwrap_or_else(|| {
                let text = String::from_utf8_lossy(&self.body);
                text.chars()
                    .take(200)
                    .collect::<String>()
                    .trim()
                    .to_string()
            });
        let reason = self.status.canonical_reason().unwrap_or("");
        let status = format!("answered {} {reason}", self.status.as_u16());
        Error::remote(
            &self.url,
            if said.is_empty() {
                status
            } else {
                format!("{status}: {said}")
            },
        )
    }
}

/// A request to send.
pub struct Call<'a> {
    pub method: Method,
    pub url: &'a Url,
    pub bearer: Option<&'a str>,
    pub basic: Option<(&'a str, &'a str)>,
    pub form: Option<&'a [(&'a str, &'a str)]>,
    pub json: Option<&'a serde_json::Value>,
}

impl<'a> Call<'a> {
    pub fn new(method: Method, url: &'a Url) -> Call<'a> {
        Call {
            method,
            url,
            bearer: None,
            basic: None,
            form: None,
            json: None,
        }
    }

    pub fn get(url: &'a Url) -> Call<'a> {
        Call::new(Method::GET, url)
    }

    pub fn bearer(mut self, token: &'a str) -> Self {
        self.bearer = Some(token);
        self
    }

    pub fn basic(mut self, user: &'a str, password: &'a str) -> Self {
        self.basic = Some((user, password));
        self
    }

    pub fn form(mut self, form: &'a [(&'a str, &'a str)]) -> Self {
        self.form = Some(form);
        self
    }

    pub fn json(mut self, body: &'a serde_json::Value) -> Self {
        self.json = Some(body);
        self
    }
}

/// The client; cheap to clone (one connection pool).
#[derive(Clone)]
pub struct Http {
    client: reqwest::Client,
}

fn timeouts() -> (Duration, Duration) {
    match std::env::var(TIMEOUT_ENV)
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        Some(ms) => (Duration::from_millis(ms), Duration::from_millis(ms * 2)),
        None => (READ_TIMEOUT, TOTAL_TIMEOUT),
    }
}

impl Http {
    /// A client with Steward's rules.
    pub fn new() -> Result<Http> {
        static PROVIDER: OnceLock<()> = OnceLock::new();
        PROVIDER.get_or_init(|| {
            // ring: the provider the database driver's TLS already uses (aws-lc-rs, rustls's
            // post-quantum default, would add a C toolchain build). Another part of the
            // process may have installed one first.
            #[allow(deprecated)]
            let _ = rustls::crypto::ring::default_provider().install_default();
        });
        let (read, total) = timeouts();
        let policy = reqwest::redirect::Policy::custom(|attempt| {
            let first = attempt.previous().first().cloned();
            let same_host = first.as_ref().is_some_and(|f| {
                (f.host_str(), f.port_or_known_default())
                    == (
                        attempt.url().host_str(),
                        attempt.url().port_or_known_default(),
                    )
            });
            let secure = attempt.url().scheme() == "https" || is_loopback(attempt.url());
            if attempt.previous().len() > 3 {
                attempt.error("more than 3 redirects")
            } else if !same_host {
                let to = attempt.url().to_string();
                attempt.error(format!("a redirect to another host ({to})"))
            } else if !secure {
                attempt.error("a redirect from HTTPS to HTTP")
            } else {
                attempt.follow()
            }
        });
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(read)
            .timeout(total)
            .redirect(policy)
            .user_agent(concat!("steward/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::remote("https client", e.to_string()))?;
        Ok(Http { client })
    }

    /// Sends `call` and reads its answer, whatever its status.
    pub async fn send(&self, call: Call<'_>) -> Result<Answer> {
        let url = endpoint("url", call.url.as_str())?;
        let started = std::time::Instant::now();
        let mut req = self
            .client
            .request(call.method, url.clone())
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(t) = call.bearer {
            req = req.bearer_auth(t);
        }
        if let Some((u, p)) = call.basic {
            // RFC 6749 2.3.1: the client id and secret are form-encoded before Basic.
            req = req.basic_auth(form_encode(u), Some(form_encode(p)));
        }
        if let Some(f) = call.form {
            req = req.form(f);
        }
        if let Some(j) = call.json {
            req = req
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(serde_json::to_vec(j).expect("a JSON value serializes"));
        }
        let mut resp = req.send().await.map_err(|e| describe(&url, &e))?;
        let status = resp.status();
        let final_url = resp.url().clone();
        if resp.content_length().is_some_and(|n| n > MAX_BODY as u64) {
            return Err(too_large(&final_url));
        }
        let mut body = zeroize::Zeroizing::new(Vec::new());
        while let Some(chunk) = resp.chunk().await.map_err(|e| describe(&final_url, &e))? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(too_large(&final_url));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Answer {
            url: final_url,
            status,
            body,
            ms: started.elapsed().as_millis() as u64,
        })
    }
}

fn too_large(url: &Url) -> Error {
    Error::remote(
        url,
        format!("answered with more than {} KiB", MAX_BODY / 1024),
    )
}

/// `application/x-www-form-urlencoded` of one value.
fn form_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// What went wrong on the way, in words: unreachable, TLS, timed out, redirect.
fn describe(url: &Url, e: &reqwest::Error) -> Error {
    use std::error::Error as _;
    let mut chain = Vec::new();
    let mut source = e.source();
    while let Some(s) = source {
        chain.push(s.to_string());
        source = s.source();
    }
    let detail = chain.last().cloned().unwrap_or_else(|| e.to_string());
    let message = if e.is_timeout() {
        "did not answer in time (timed out)".to_string()
    } else if e.is_redirect() {
        format!("refused redirect: {detail}")
    } else if url.scheme() == "https" && {
        // rustls's errors reach here as text inside the connector's I/O error.
        let all = chain.join(" ").to_ascii_lowercase();
        [
            "certificate",
            "tls",
            "handshake",
            "corrupt message",
            "alert",
            "peer ",
        ]
        .iter()
        .any(|w| all.contains(w))
    } {
        format!("TLS failure: {detail}")
    } else if e.is_connect() {
        format!("cannot connect: {detail}")
    } else {
        detail
    };
    Error::remote(url, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case::https("https://as.example.org/token", true)]
    #[case::loopback_v4("http://127.0.0.1:8080/token", true)]
    #[case::loopback_v6("http://[::1]:8080/token", true)]
    #[case::localhost("http://localhost/token", true)]
    #[case::plain_http("http://as.example.org/token", false)]
    #[case::other_scheme("ftp://as.example.org/", false)]
    #[case::credentials("https://u:p@as.example.org/", false)]
    #[case::not_a_url("as.example.org/token", false)]
    fn only_https_or_loopback(#[case] url: &str, #[case] ok: bool) {
        assert_eq!(endpoint("issuer", url).is_ok(), ok, "{url}");
    }

    #[test]
    fn an_error_names_the_field_and_why() {
        let e = endpoint("--issuer", "http://as.example.org").expect_err("refused");
        assert_eq!(
            e.to_string(),
            "--issuer: 'http://as.example.org': HTTPS is required except on this machine (loopback)"
        );
    }
}
