//! The HTTP side of the Weaviate client: one keep-alive [`ureq::Agent`], the one function
//! ([`Weaviate::send`]) that decides what is retried (429, 408, 5xx and transport errors, with
//! exponential backoff and jitter, or the server's `Retry-After`), how error bodies become
//! messages, authentication, URL handling and parallel requests. The API key is sent as
//! `Authorization: Bearer` only when one is set, and appears in no message, no `Debug` output
//! and no location.

use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};
use ureq::http::{self, HeaderValue, Method};

use crate::{ErrorKind, OpenOptions, Result, StoreError};

/// A `Retry-After` longer than this (or than `max_backoff`, if larger) is cut to it: a
/// misconfigured proxy must not stall a run for hours.
const RETRY_AFTER_CAP: Duration = Duration::from_secs(60);
/// How much of an unparsable error body goes into a message.
const MAX_ERROR_TEXT: usize = 500;

/// A Weaviate server, reached over HTTP(S).
pub struct Weaviate {
    pub(super) agent: ureq::Agent,
    /// `scheme://host[:port][/prefix]`, without credentials and without `/v1`.
    pub(super) root: String,
    /// The `Authorization` header value, marked sensitive so that `http` never shows it.
    pub(super) auth: Option<HeaderValue>,
    /// What to scrub from server messages, should a server ever echo the key back.
    pub(super) secrets: Vec<String>,
    pub(super) retries: u32,
    pub(super) backoff: Duration,
    pub(super) max_backoff: Duration,
    pub(super) in_flight: usize,
    /// The limit on one request and its answer, for messages.
    pub(super) timeout: Duration,
    /// Requests sent again after a retryable failure, over the client's life.
    pub(super) retried: AtomicU64,
    /// How long one request may be retried in all.
    pub(super) retry_for: Duration,
    /// Told of each retry.
    pub(super) on_retry: Option<crate::RetryReporter>,
    /// Some answer came back: the server exists, so failing to reach it is worth retrying.
    pub(super) reached: AtomicBool,
}

impl fmt::Debug for Weaviate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Weaviate")
            .field("root", &self.root)
            .field("auth", &self.auth.as_ref().map(|_| "<set>"))
            .field("retries", &self.retries)
            .field("in_flight", &self.in_flight)
            .finish()
    }
}

/// An answer that is final: not one to retry (any 2xx, 404, other 4xx but 401 and 403).
pub(super) struct Reply {
    pub(super) status: u16,
    pub(super) body: Vec<u8>,
    /// Attempts made; more than one means an earlier one may have been acted on.
    pub(super) attempts: u32,
}

/// One failed attempt, kept to explain the failure when the retries run out.
enum Failure {
    Status(u16, String, Option<Duration>),
    Transport(ureq::Error),
}

impl Weaviate {
    /// A client for the server at `url`: `http://` or `https://`, with or without a trailing
    /// `/v1` or `/`, keeping its port and any path prefix (a reverse proxy's). Credentials in
    /// the URL (`user:pass@`) are sent as HTTP Basic auth when no API key is set, and are
    /// never shown.
    pub fn new(url: &str, opts: &OpenOptions) -> Result<Weaviate> {
        let base = Base::parse(url)?;
        let auth = match (&opts.api_key, &base.userinfo) {
            (Some(key), _) => Some(format!("Bearer {}", key.trim())),
            (None, Some((user, pass))) => Some(format!(
                "Basic {}",
                ely_vocab::base64(format!("{user}:{pass}").as_bytes())
            )),
            (None, None) => None,
        };
        let auth = match auth {
            Some(a) => {
                let mut v = HeaderValue::from_str(&a).map_err(|_| {
                    StoreError::invalid(
                        "the API key (WEAVIATE_API_KEY) or URL credentials hold characters an HTTP header cannot carry",
                    )
                })?;
                v.set_sensitive(true);
                Some(v)
            }
            None => None,
        };
        let mut secrets: Vec<String> = opts
            .api_key
            .iter()
            .map(|k| k.trim().to_owned())
            .filter(|k| !k.is_empty())
            .collect();
        if let Some((_, pass)) = &base.userinfo {
            if !pass.is_empty() {
                secrets.push(pass.clone());
            }
        }
        let in_flight = opts.in_flight.max(1);
        let nonzero = |d: Duration| (!d.is_zero()).then_some(d);
        let config = ureq::Agent::config_builder()
            // Statuses are judged here, not turned into errors by ureq.
            .http_status_as_error(false)
            .timeout_connect(nonzero(opts.connect_timeout))
            // Each part of a request has the timeout, not the whole of it: sending the
            // request, waiting for the answer to begin, and each read or write of a body. A
            // large answer that keeps coming is not cut off; a server that stops is.
            .timeout_send_request(nonzero(opts.timeout))
            .timeout_recv_response(nonzero(opts.timeout))
            .timeout_per_write(nonzero(opts.timeout))
            .timeout_per_read(nonzero(opts.timeout))
            .max_idle_connections_per_host(in_flight * 2 + 2)
            .user_agent(concat!("ely/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(Weaviate {
            agent: ureq::Agent::new_with_config(config),
            root: base.root,
            auth,
            secrets,
            retries: opts.retries,
            backoff: opts.backoff,
            max_backoff: opts.max_backoff.max(opts.backoff),
            in_flight,
            timeout: opts.timeout,
            retried: AtomicU64::new(0),
            retry_for: opts.retry_for,
            on_retry: opts.on_retry.clone(),
            reached: AtomicBool::new(false),
        })
    }

    /// How many requests were sent again after a retryable failure (for `--stats`).
    pub fn retries_made(&self) -> u64 {
        self.retried.load(Ordering::Relaxed)
    }

    // ----- transport --------------------------------------------------------------------

    /// Sends a request to `/v1{path}` (a path with its query string, already encoded) and
    /// retries it while the answer is worth retrying. 401 and 403 become [`ErrorKind::Auth`];
    /// retries running out become [`ErrorKind::Unavailable`]; every other answer is returned.
    ///
    /// Every request this client sends may be repeated: batches are upserts, deletes and
    /// schema or tenant creation are idempotent or checked by their callers, reads are reads.
    pub(super) fn send(&self, method: Method, path: &str, body: Option<&[u8]>) -> Result<Reply> {
        let url = format!("{}/v1{path}", self.root);
        let started = std::time::Instant::now();
        let mut attempts = 0;
        loop {
            attempts += 1;
            let answer = self.attempt(&method, &url, body);
            if answer.is_ok() {
                self.reached.store(true, Ordering::Relaxed);
            }
            let failure = match answer {
                Ok((status, _, body)) if status == 401 || status == 403 => {
                    return Err(self.auth_error(&method, path, status, &body))
                }
                Ok((status, retry_after, body)) if retryable_status(status) => {
                    Failure::Status(status, self.message(&body), retry_after)
                }
                Ok((status, _, body)) => {
                    return Ok(Reply {
                        status,
                        body,
                        attempts,
                    })
                }
                // A host that does not resolve or refuses connections, before the server has
                // ever answered, is a wrong URL or a stopped server: said at once.
                Err(e) if unreachable(&e) && !self.reached.load(Ordering::Relaxed) => {
                    return Err(StoreError::new(
                        ErrorKind::Unavailable,
                        format!(
                            "Weaviate at {} cannot be reached ({method} /v1{path}): {} (check the URL and that Weaviate is running)",
                            self.root,
                            self.scrub(&e.to_string())
                        ),
                    ));
                }
                Err(e) if retryable_transport(&e) => Failure::Transport(e),
                Err(e) => return Err(self.transport_error(&method, path, &e)),
            };
            let hint = match &failure {
                Failure::Status(_, _, retry_after) => *retry_after,
                Failure::Transport(_) => None,
            };
            let wait = self.delay(attempts - 1, hint);
            let out_of_time = started.elapsed() + wait > self.retry_for;
            if attempts > self.retries || out_of_time {
                let last = match &failure {
                    Failure::Status(s, m, _) => format!("{s} {}: {m}", http_reason(*s)),
                    Failure::Transport(ureq::Error::Timeout(t)) => {
                        format!("no answer within the timeout ({t}; {:?})", self.timeout)
                    }
                    Failure::Transport(e) => self.scrub(&e.to_string()),
                };
                return Err(StoreError::new(
                    ErrorKind::Unavailable,
                    format!(
                        "Weaviate at {} did not answer {method} /v1{path} after {attempts} attempt{}{}; last: {last}",
                        self.root,
                        if attempts == 1 { "" } else { "s" },
                        if out_of_time && attempts <= self.retries {
                            format!(" in {:?} (--retry-for)", started.elapsed())
                        } else {
                            String::new()
                        }
                    ),
                ));
            }
            if let Some(tell) = &self.on_retry {
                let after = match &failure {
                    Failure::Status(s, _, _) => format!("{s} {}", http_reason(*s)),
                    Failure::Transport(ureq::Error::Timeout(_)) => "a timeout".to_owned(),
                    Failure::Transport(e) => self.scrub(&e.to_string()),
                };
                tell(&format!(
                    "retrying {method} /v1{} in {:.1}s after {after} (attempt {} of {})",
                    path.split('?').next().unwrap_or(path),
                    wait.as_secs_f64(),
                    attempts + 1,
                    self.retries + 1
                ));
            }
            std::thread::sleep(wait);
            self.retried.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// One attempt: the status, the `Retry-After` wait, and the whole body.
    fn attempt(
        &self,
        method: &Method,
        url: &str,
        body: Option<&[u8]>,
    ) -> std::result::Result<(u16, Option<Duration>, Vec<u8>), ureq::Error> {
        let mut req = http::Request::builder()
            .method(method.clone())
            .uri(url)
            .header("Accept", "application/json");
        if let Some(auth) = &self.auth {
            req = req.header("Authorization", auth.clone());
        }
        let mut resp = match body {
            Some(b) => self.agent.run(
                req.header("Content-Type", "application/json")
                    .body(b)
                    .map_err(ureq::Error::Http)?,
            )?,
            None => self.agent.run(req.body(()).map_err(ureq::Error::Http)?)?,
        };
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        // Read to the end even when the body is not needed, so the connection goes back to
        // the pool; a failure here (a connection dropped mid-answer) is a transport error.
        let body = if *method == Method::HEAD {
            Vec::new()
        } else {
            resp.body_mut()
                .with_config()
                .limit(u64::MAX)
                .read_to_vec()?
        };
        Ok((status, retry_after, body))
    }

    /// The wait before retry `n` (0 for the first): `Retry-After` when the server gave one,
    /// else `backoff * 2^n` capped at `max_backoff`, of which a random half is waited ("equal
    /// jitter"), so that parallel batches do not come back in step.
    fn delay(&self, n: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(wait) = retry_after {
            return wait.min(RETRY_AFTER_CAP.max(self.max_backoff));
        }
        let exp = self
            .backoff
            .saturating_mul(2u32.saturating_pow(n.min(31)))
            .min(self.max_backoff);
        let half = exp / 2;
        half + half.mul_f64(random_unit())
    }

    fn auth_error(&self, method: &Method, path: &str, status: u16, body: &[u8]) -> StoreError {
        let server = self.message(body);
        let message = match (status, self.auth.is_some()) {
            (401, true) => format!(
                "Weaviate refused the API key (401): set WEAVIATE_API_KEY to a key this server accepts ({server})"
            ),
            (401, false) => format!(
                "Weaviate requires an API key (401): set WEAVIATE_API_KEY ({server})"
            ),
            _ => format!(
                "Weaviate refused {method} /v1{path} (403): the API key lacks a permission ({server})"
            ),
        };
        StoreError::new(ErrorKind::Auth, message)
    }

    fn transport_error(&self, method: &Method, path: &str, e: &ureq::Error) -> StoreError {
        let kind = match e {
            ureq::Error::Tls(_) | ureq::Error::Rustls(_) | ureq::Error::Pem(_) => {
                ErrorKind::Unavailable
            }
            _ => ErrorKind::Other,
        };
        StoreError::new(
            kind,
            format!(
                "Weaviate at {}: {method} /v1{path} failed: {}",
                self.root,
                self.scrub(&e.to_string())
            ),
        )
    }

    /// The message of an error body: `error[0].message` (Weaviate's handlers), `message`
    /// (go-openapi's framework errors), `errors[0].message` (GraphQL), else the raw text.
    pub(super) fn message(&self, body: &[u8]) -> String {
        let from_json = serde_json::from_slice::<Value>(body).ok().and_then(|v| {
            ["/error/0/message", "/message", "/errors/0/message"]
                .iter()
                .find_map(|p| v.pointer(p).and_then(Value::as_str).map(str::to_owned))
        });
        let text = match from_json {
            Some(m) => m,
            None => {
                let raw = String::from_utf8_lossy(body);
                let raw = raw.trim();
                if raw.is_empty() {
                    "no details given".to_owned()
                } else {
                    raw.chars().take(MAX_ERROR_TEXT).collect()
                }
            }
        };
        self.scrub(&text)
    }

    pub(super) fn scrub(&self, text: &str) -> String {
        self.secrets
            .iter()
            .fold(text.to_owned(), |t, s| t.replace(s.as_str(), "<redacted>"))
    }

    /// The error for a final answer that is not a success: 404 is [`ErrorKind::NotFound`],
    /// 409 and 422 "already exists" [`ErrorKind::Conflict`], other 4xx [`ErrorKind::Invalid`].
    pub(super) fn refused(&self, what: &str, reply: &Reply) -> StoreError {
        let message = self.message(&reply.body);
        let kind = match reply.status {
            404 => ErrorKind::NotFound,
            409 => ErrorKind::Conflict,
            422 if message.contains("already exists") => ErrorKind::Conflict,
            422 if says_class_missing(&message) => ErrorKind::NotFound,
            400..=499 => ErrorKind::Invalid,
            _ => ErrorKind::Other,
        };
        StoreError::new(
            kind,
            format!(
                "Weaviate refused {what} ({} {}): {message}",
                reply.status,
                http_reason(reply.status)
            ),
        )
    }

    /// The answer's body as `T`, after requiring a 2xx status.
    pub(super) fn json<T: DeserializeOwned>(&self, what: &str, reply: &Reply) -> Result<T> {
        if !(200..300).contains(&reply.status) {
            return Err(self.refused(what, reply));
        }
        serde_json::from_slice(&reply.body).map_err(|e| self.unexpected(what, e))
    }

    /// The error for a 2xx answer to `what` that is not what the API promises.
    pub(super) fn unexpected(&self, what: &str, problem: impl fmt::Display) -> StoreError {
        StoreError::other(format!(
            "Weaviate at {} sent an unexpected answer to {what}: {problem}",
            self.root
        ))
    }

    /// Sends a GraphQL query about collection `name` and reads the answer as `T`. `None` when
    /// the answer says the collection does not exist: Weaviate has no GraphQL schema while no
    /// collection exists at all (a 422), and answers a query on an unknown class with a
    /// "Cannot query field" error. Other GraphQL errors, which come with HTTP 200, are
    /// [`ErrorKind::Invalid`]; `first_error` finds the first of them in `T`.
    pub(super) fn graphql<T: DeserializeOwned>(
        &self,
        name: &str,
        what: &str,
        query: &str,
        first_error: impl Fn(&T) -> Option<&Value>,
    ) -> Result<Option<T>> {
        let reply = self.send_json(Method::POST, "/graphql", &json!({ "query": query }))?;
        if reply.status == 422 && self.message(&reply.body).contains("no graphql provider") {
            return Ok(None);
        }
        let answer: T = self.json(what, &reply)?;
        if let Some(first) = first_error(&answer) {
            let message = self.scrub(
                first
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("no details given"),
            );
            if message.contains(&format!("Cannot query field \"{name}\"")) {
                return Ok(None);
            }
            return Err(StoreError::invalid(format!(
                "Weaviate refused {what}: {message}"
            )));
        }
        Ok(Some(answer))
    }

    pub(super) fn get_json<T: DeserializeOwned>(&self, what: &str, path: &str) -> Result<T> {
        let reply = self.send(Method::GET, path, None)?;
        self.json(what, &reply)
    }

    pub(super) fn send_json(
        &self,
        method: Method,
        path: &str,
        body: &impl Serialize,
    ) -> Result<Reply> {
        let bytes = serde_json::to_vec(body)
            .map_err(|e| StoreError::other(format!("cannot encode a request to Weaviate: {e}")))?;
        self.send(method, path, Some(&bytes))
    }

    /// Runs `f` over `items` on up to `workers` threads sharing the agent's connections;
    /// results come back in item order. After the first error no new item is started.
    pub(super) fn parallel<T: Sync, R: Send>(
        &self,
        items: &[T],
        workers: usize,
        f: impl Fn(&T) -> Result<R> + Sync,
    ) -> Result<Vec<R>> {
        let workers = workers.clamp(1, items.len().max(1));
        if workers == 1 {
            return items.iter().map(f).collect();
        }
        let next = AtomicUsize::new(0);
        let failed = AtomicBool::new(false);
        let slots: Mutex<Vec<Option<Result<R>>>> =
            Mutex::new((0..items.len()).map(|_| None).collect());
        std::thread::scope(|s| {
            for _ in 0..workers {
                s.spawn(|| {
                    while !failed.load(Ordering::Relaxed) {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = items.get(i) else { break };
                        let r = f(item);
                        if r.is_err() {
                            failed.store(true, Ordering::Relaxed);
                        }
                        if let Ok(mut slots) = slots.lock() {
                            slots[i] = Some(r);
                        }
                    }
                });
            }
        });
        let slots = slots
            .into_inner()
            .map_err(|_| StoreError::other("a Weaviate request thread panicked"))?;
        let mut out = Vec::with_capacity(items.len());
        let mut first_error = None;
        for slot in slots {
            match slot {
                Some(Ok(r)) => out.push(r),
                Some(Err(e)) => {
                    first_error.get_or_insert(e);
                }
                None => {}
            }
        }
        match first_error {
            Some(e) => Err(e),
            None if out.len() == items.len() => Ok(out),
            None => Err(StoreError::other("a Weaviate request thread panicked")),
        }
    }
}

/// The server's address, split from what may not be shown.
struct Base {
    root: String,
    userinfo: Option<(String, String)>,
}

impl Base {
    fn parse(url: &str) -> Result<Base> {
        let bad = |why: &str| {
            StoreError::invalid(format!(
                "not a usable Weaviate URL ({why}); expected http://host:port or https://host"
            ))
        };
        let url = url.trim();
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| bad("no http:// or https://"))?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return Err(bad("the scheme must be http or https"));
        }
        if rest.contains(['?', '#']) {
            return Err(bad("it has a query or fragment"));
        }
        let (authority, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        let (userinfo, host) = match authority.rsplit_once('@') {
            Some((u, h)) => {
                let (user, pass) = u.split_once(':').unwrap_or((u, ""));
                (Some((pct_decode(user), pct_decode(pass))), h)
            }
            None => (None, authority),
        };
        if host.is_empty() || host.starts_with(':') {
            return Err(bad("no host"));
        }
        // `http::Uri` takes any port text; the part after the last `:` outside an IPv6
        // address's brackets must be a port number.
        if let Some((_, port)) = host.rsplit_once(':').filter(|(_, p)| !p.contains(']')) {
            if port.parse::<u16>().is_err() {
                return Err(bad("the port is not a number"));
            }
        }
        let mut path = path.trim_end_matches('/');
        if let Some(p) = path.strip_suffix("/v1") {
            path = p.trim_end_matches('/');
        }
        let root = format!("{scheme}://{host}{path}");
        // Whatever http accepts here, every request URL built on it is accepted too.
        format!("{root}/v1/schema")
            .parse::<http::Uri>()
            .map_err(|_| bad("the host, port or path is malformed"))?;
        Ok(Base { root, userinfo })
    }
}

/// A query string built from parts, each percent-encoded.
pub(super) struct Query(String);

impl Query {
    pub(super) fn new() -> Query {
        Query(String::new())
    }

    pub(super) fn add(mut self, key: &str, value: &str) -> Query {
        self.0.push(if self.0.is_empty() { '?' } else { '&' });
        self.0.push_str(&enc(key));
        self.0.push('=');
        self.0.push_str(&enc(value));
        self
    }

    pub(super) fn opt(self, key: &str, value: Option<&str>) -> Query {
        match value {
            Some(v) => self.add(key, v),
            None => self,
        }
    }

    pub(super) fn finish(self) -> String {
        self.0
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters, so a value is safe as a
/// path segment and as a query value alike.
pub(super) fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn pct_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (
            b[i],
            b.get(i + 1).and_then(|c| hex(*c)),
            b.get(i + 2).and_then(|c| hex(*c)),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether a 422's message says the collection does not exist: the endpoints that take a
/// class in the body or under `/schema/{c}/...` say so with a 422, not a 404, each in its own
/// words (`class "X": not found`, `class "X" not found in schema`,
/// `validate: failed to get class: X`).
pub(super) fn says_class_missing(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("failed to get class")
        || (m.contains("class")
            && (m.contains("not found") || m.contains("not present"))
            && !m.contains("tenant"))
}

/// 429, 408 and 5xx: the server is busy, slow or failing, and may answer later.
fn retryable_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500..=599)
}

/// Errors of the connection rather than of the request: refused, reset, dropped, timed out.
/// A host that does not resolve, or refuses connections.
fn unreachable(e: &ureq::Error) -> bool {
    match e {
        ureq::Error::HostNotFound | ureq::Error::ConnectionFailed => true,
        ureq::Error::Io(io) => {
            use std::io::ErrorKind as K;
            matches!(
                io.kind(),
                K::ConnectionRefused
                    | K::NotFound
                    | K::HostUnreachable
                    | K::NetworkUnreachable
                    | K::AddrNotAvailable
            ) || {
                // A name that does not resolve comes as an I/O error of no particular kind.
                let text = io.to_string();
                text.contains("failed to lookup address")
                    || text.contains("Name or service not known")
                    || text.contains("No address associated")
            }
        }
        _ => false,
    }
}

fn retryable_transport(e: &ureq::Error) -> bool {
    matches!(
        e,
        ureq::Error::Io(_)
            | ureq::Error::Timeout(_)
            | ureq::Error::Protocol(_)
            | ureq::Error::ConnectionFailed
            | ureq::Error::HostNotFound
    )
}

fn http_reason(status: u16) -> &'static str {
    http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("")
}

/// A number in [0, 1) that differs between calls and threads: std's hasher keys are random
/// per thread and change with every `RandomState`, which is all jitter needs.
fn random_unit() -> f64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Store;

    #[test]
    fn base_urls_are_normalised() {
        let root = |u: &str| Base::parse(u).map(|b| b.root);
        assert_eq!(root("http://h:8081").unwrap(), "http://h:8081");
        assert_eq!(root("HTTP://h:8081/v1/").unwrap(), "http://h:8081");
        assert_eq!(root("https://h/proxy/v1").unwrap(), "https://h/proxy");
        let b = Base::parse("http://me:p%40ss@h:1/").unwrap();
        assert_eq!(b.root, "http://h:1");
        assert_eq!(b.userinfo, Some(("me".into(), "p@ss".into())));
        for bad in [
            "h:8080",
            "ftp://h",
            "http://",
            "http://h/?x=1",
            "http://h:port",
        ] {
            assert!(Base::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn encoding_and_base64() {
        assert_eq!(enc("a b/c?d"), "a%20b%2Fc%3Fd");
        assert_eq!(enc("T-1_x.~"), "T-1_x.~");
        assert_eq!(ely_vocab::base64(b"martin:secret"), "bWFydGluOnNlY3JldA==");
        assert_eq!(ely_vocab::base64(b"ab"), "YWI=");
        assert_eq!(ely_vocab::base64(b""), "");
    }

    #[test]
    fn backoff_doubles_within_bounds_and_honours_retry_after() {
        let w = Weaviate::new(
            "http://h:1",
            &OpenOptions {
                backoff: Duration::from_millis(100),
                max_backoff: Duration::from_millis(1000),
                ..OpenOptions::default()
            },
        )
        .unwrap();
        for n in 0..10 {
            let full =
                (Duration::from_millis(100) * 2u32.pow(n.min(20))).min(Duration::from_millis(1000));
            let d = w.delay(n, None);
            assert!(d >= full / 2 && d <= full, "{n}: {d:?}");
        }
        assert_eq!(
            w.delay(0, Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
        assert_eq!(w.delay(0, Some(Duration::from_secs(3600))), RETRY_AFTER_CAP);
    }

    #[test]
    fn debug_and_location_hide_secrets() {
        let w = Weaviate::new(
            "http://u:hunter2@h:1",
            &OpenOptions {
                api_key: Some("sekrit-key".into()),
                ..OpenOptions::default()
            },
        )
        .unwrap();
        let shown = format!("{w:?} {}", w.location());
        assert!(
            !shown.contains("sekrit") && !shown.contains("hunter2"),
            "{shown}"
        );
        assert_eq!(w.scrub("echo sekrit-key"), "echo <redacted>");
    }
}
