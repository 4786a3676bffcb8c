//! The Weaviate REST client: the [`Store`] interface over Weaviate's `/v1` API, following
//! `shared/weaviate/CONTRACT.md` (section 12 is its checklist).
//!
//! One keep-alive [`ureq::Agent`] carries every request, and one function ([`Weaviate::send`])
//! decides what is retried: 429, 408, 5xx and transport errors (refused, reset or dropped
//! connections, timeouts), with exponential backoff and jitter, or the server's `Retry-After`.
//! Other 4xx answers are final. A batch is judged object by object from the answer's
//! `result`, never by the HTTP status, since Weaviate answers 200 when objects failed.
//!
//! The API key is sent as `Authorization: Bearer` only when one is set, and appears in no
//! message, no `Debug` output and no [`Store::location`].

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use ureq::http::{self, HeaderValue, Method};

use crate::names::{check_class_name, check_tenant_name, class_name};
use crate::schema::strip_server_fields;
use crate::wire_read::{read_batch_answer, read_object, read_object_list};
use crate::{
    canonical_id, ErrorKind, Filter, Object, OpenOptions, Outcome, Result, Store, StoreError,
    Tenant, Vector,
};

/// Objects per `POST /v1/batch/objects` request. The Python client's default, and small
/// enough that a request of 100 objects with 1536-dimension vectors (about 1.5 MB) stays far
/// from Weaviate's 30 s read and 60 s write timeouts; throughput comes from keeping
/// `in_flight` requests going at once instead.
pub const BATCH_SIZE: usize = 100;
/// Ids per `DELETE /v1/batch/objects` request: Weaviate deletes at most
/// `QUERY_MAXIMUM_RESULTS` (10000 by default) objects per call.
const DELETE_CHUNK: usize = 10_000;
/// The largest cursor page Weaviate allows by default (`QUERY_MAXIMUM_RESULTS`).
pub const MAX_PAGE: usize = 10_000;
/// Tenants per `POST .../tenants` request, Weaviate's limit for the `PUT` of the same API.
const TENANT_CHUNK: usize = 100;
/// Ids per GraphQL existence query: Weaviate's default `Get` limit
/// (`QUERY_DEFAULTS_LIMIT_GRAPHQL`), far below `QUERY_MAXIMUM_RESULTS`.
const EXISTS_CHUNK: usize = 100;
/// A `Retry-After` longer than this (or than `max_backoff`, if larger) is cut to it: a
/// misconfigured proxy must not stall a run for hours.
const RETRY_AFTER_CAP: Duration = Duration::from_secs(60);
/// How much of an unparsable error body goes into a message.
const MAX_ERROR_TEXT: usize = 500;

/// A Weaviate server, reached over HTTP(S).
pub struct Weaviate {
    agent: ureq::Agent,
    /// `scheme://host[:port][/prefix]`, without credentials and without `/v1`.
    root: String,
    /// The `Authorization` header value, marked sensitive so that `http` never shows it.
    auth: Option<HeaderValue>,
    /// What to scrub from server messages, should a server ever echo the key back.
    secrets: Vec<String>,
    retries: u32,
    backoff: Duration,
    max_backoff: Duration,
    in_flight: usize,
    /// The limit on one request and its answer, for messages.
    timeout: Duration,
    /// Requests sent again after a retryable failure, over the client's life.
    retried: AtomicU64,
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
struct Reply {
    status: u16,
    body: Vec<u8>,
    /// Attempts made; more than one means an earlier one may have been acted on.
    attempts: u32,
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
            .timeout_global(nonzero(opts.timeout))
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
        })
    }

    /// How many requests were sent again after a retryable failure (for `--stats`).
    pub fn retries_made(&self) -> u64 {
        self.retried.load(Ordering::Relaxed)
    }

    /// The pages of a whole collection (or of one tenant of it), each up to `page_size`
    /// objects, in ascending id order; the scan ends after the first empty page. For a
    /// multi-tenant collection, list [`Store::tenants`] and scan each.
    pub fn pages<'a>(
        &'a self,
        class: &str,
        tenant: Option<&str>,
        page_size: usize,
        vectors: bool,
    ) -> Pages<'a> {
        Pages {
            store: self,
            class: class.to_owned(),
            tenant: tenant.map(str::to_owned),
            after: None,
            page_size,
            vectors,
            done: false,
        }
    }

    // ----- transport --------------------------------------------------------------------

    /// Sends a request to `/v1{path}` (a path with its query string, already encoded) and
    /// retries it while the answer is worth retrying. 401 and 403 become [`ErrorKind::Auth`];
    /// retries running out become [`ErrorKind::Unavailable`]; every other answer is returned.
    ///
    /// Every request this client sends may be repeated: batches are upserts, deletes and
    /// schema or tenant creation are idempotent or checked by their callers, reads are reads.
    fn send(&self, method: Method, path: &str, body: Option<&[u8]>) -> Result<Reply> {
        let url = format!("{}/v1{path}", self.root);
        let mut attempts = 0;
        loop {
            attempts += 1;
            let failure = match self.attempt(&method, &url, body) {
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
                Err(e) if retryable_transport(&e) => Failure::Transport(e),
                Err(e) => return Err(self.transport_error(&method, path, &e)),
            };
            if attempts > self.retries {
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
                        "Weaviate at {} did not answer {method} /v1{path} after {attempts} attempt{}; last: {last}",
                        self.root,
                        if attempts == 1 { "" } else { "s" }
                    ),
                ));
            }
            let hint = match failure {
                Failure::Status(_, _, retry_after) => retry_after,
                Failure::Transport(_) => None,
            };
            std::thread::sleep(self.delay(attempts - 1, hint));
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
    fn message(&self, body: &[u8]) -> String {
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

    fn scrub(&self, text: &str) -> String {
        self.secrets
            .iter()
            .fold(text.to_owned(), |t, s| t.replace(s.as_str(), "<redacted>"))
    }

    /// The error for a final answer that is not a success: 404 is [`ErrorKind::NotFound`],
    /// 409 and 422 "already exists" [`ErrorKind::Conflict`], other 4xx [`ErrorKind::Invalid`].
    fn refused(&self, what: &str, reply: &Reply) -> StoreError {
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
    fn json<T: DeserializeOwned>(&self, what: &str, reply: &Reply) -> Result<T> {
        if !(200..300).contains(&reply.status) {
            return Err(self.refused(what, reply));
        }
        serde_json::from_slice(&reply.body).map_err(|e| self.unexpected(what, e))
    }

    /// The error for a 2xx answer to `what` that is not what the API promises.
    fn unexpected(&self, what: &str, problem: impl fmt::Display) -> StoreError {
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
    fn graphql<T: DeserializeOwned>(
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

    fn get_json<T: DeserializeOwned>(&self, what: &str, path: &str) -> Result<T> {
        let reply = self.send(Method::GET, path, None)?;
        self.json(what, &reply)
    }

    fn send_json(&self, method: Method, path: &str, body: &impl Serialize) -> Result<Reply> {
        let bytes = serde_json::to_vec(body)
            .map_err(|e| StoreError::other(format!("cannot encode a request to Weaviate: {e}")))?;
        self.send(method, path, Some(&bytes))
    }

    /// Runs `f` over `items` on up to `workers` threads sharing the agent's connections;
    /// results come back in item order. After the first error no new item is started.
    fn parallel<T: Sync, R: Send>(
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

    // ----- pieces of the Store implementation -------------------------------------------

    /// One batch request; the outcome of each of its objects, in order.
    fn upsert_chunk(&self, chunk: &[Cow<'_, Object>]) -> Result<Vec<Outcome>> {
        #[derive(Serialize)]
        struct Body<'a> {
            objects: &'a [Cow<'a, Object>],
        }
        // Room for the whole body up front: vectors take about 12 bytes a number.
        let numbers: usize = chunk
            .iter()
            .map(|o| {
                o.vector.as_ref().map_or(0, Vec::len)
                    + o.vectors
                        .values()
                        .map(|v| match v {
                            Vector::Single(v) => v.len(),
                            Vector::Multi(rows) => rows.iter().map(Vec::len).sum(),
                        })
                        .sum::<usize>()
            })
            .sum();
        let mut bytes = Vec::with_capacity(numbers * 12 + chunk.len() * 1024);
        serde_json::to_writer(&mut bytes, &Body { objects: chunk })
            .map_err(|e| StoreError::other(format!("cannot encode a request to Weaviate: {e}")))?;
        let reply = self.send(Method::POST, "/batch/objects", Some(&bytes))?;
        if matches!(reply.status, 413 | 422) {
            // The server judged the request's content and wrote none of it: each object is
            // rejected (and can be fed back in), the other batches go on.
            let why = self.refused("the batch", &reply).message;
            return Ok(chunk
                .iter()
                .map(|_| Outcome::Rejected(why.clone()))
                .collect());
        }
        // The answer echoes every object, vectors included; only the verdicts are read.
        let read = (200..300)
            .contains(&reply.status)
            .then(|| read_batch_answer::<BatchResult>(&reply.body))
            .flatten();
        let items: Vec<BatchItem> = match read {
            Some(items) => items
                .into_iter()
                .map(|(id, result)| BatchItem { id, result })
                .collect(),
            None => self.json("POST /v1/batch/objects", &reply)?,
        };
        Ok(chunk
            .iter()
            .enumerate()
            .map(|(i, sent)| match items.get(i) {
                None => Outcome::Rejected(
                    "Weaviate's batch answer has no result for this object, so it may not have been written".into(),
                ),
                Some(item) => item.outcome(&sent.id, self),
            })
            .collect())
    }

    /// Which of `ids` (canonical, at most [`EXISTS_CHUNK`], no repeats) exist: one GraphQL
    /// `Get` filtered on them (CONTRACT.md 7). A collection that does not exist holds none;
    /// other GraphQL errors (HTTP 200 with `errors`) are errors.
    fn existing(&self, name: &str, tenant: Option<&str>, ids: &[&str]) -> Result<Vec<String>> {
        let tenant_arg = tenant
            .map(|t| format!("tenant: \"{t}\", "))
            .unwrap_or_default();
        let list = ids
            .iter()
            .map(|id| format!("\"{id}\""))
            .collect::<Vec<_>>()
            .join(", ");
        let query = format!(
            "{{ Get {{ {name}({tenant_arg}limit: {}, where: {{path: [\"id\"], operator: ContainsAny, valueTextArray: [{list}]}}) {{ _additional {{ id }} }} }} }}",
            ids.len()
        );
        #[derive(Deserialize)]
        struct Answer {
            #[serde(default)]
            data: Option<Value>,
            #[serde(default)]
            errors: Option<Vec<Value>>,
        }
        let what = format!("looking up objects in {name}");
        let Some(answer) = self.graphql(name, &what, &query, |a: &Answer| {
            a.errors.as_ref().and_then(|e| e.first())
        })?
        else {
            return Ok(Vec::new());
        };
        let rows = answer
            .data
            .as_ref()
            .and_then(|d| d.pointer(&format!("/Get/{name}")))
            .and_then(Value::as_array)
            .ok_or_else(|| self.unexpected(&what, format!("no data.Get.{name}")))?;
        rows.iter()
            .map(|row| {
                row.pointer("/_additional/id")
                    .and_then(Value::as_str)
                    .and_then(canonical_id)
                    .ok_or_else(|| self.unexpected(&what, "a row without _additional.id"))
            })
            .collect()
    }

    /// `DELETE /v1/batch/objects` for one filter, repeated while Weaviate's per-call cap
    /// left matches behind (CONTRACT.md 6.3). A request retried after a dropped answer may
    /// find fewer objects than the first attempt deleted, so the count can then be low.
    fn delete_matching(&self, class: &str, tenant: Option<&str>, filter: &Value) -> Result<u64> {
        let path = format!(
            "/batch/objects{}",
            Query::new().opt("tenant", tenant).finish()
        );
        let body = json!({
            "match": {"class": class, "where": filter},
            "output": "minimal",
            "dryRun": false,
        });
        let what = format!("the delete from {class}");
        let mut total = 0;
        loop {
            let reply = self.send_json(Method::DELETE, &path, &body)?;
            let answer: DeleteAnswer = self.json(&what, &reply)?;
            let r = answer.results;
            total += r.successful;
            if r.failed > 0 {
                let first = r
                    .objects
                    .iter()
                    .flatten()
                    .find_map(|o| o.pointer("/errors/error/0/message").and_then(Value::as_str))
                    .unwrap_or("no details given");
                return Err(StoreError::other(format!(
                    "Weaviate could not delete {} of {} matching objects from {class} ({total} deleted): {}",
                    r.failed,
                    r.matches,
                    self.scrub(first)
                )));
            }
            let all_in_this_call = r.limit.is_some_and(|limit| r.matches <= limit);
            if r.matches == 0 || r.successful == 0 || all_in_this_call {
                return Ok(total);
            }
        }
    }
}

/// The pages of a cursor scan; see [`Weaviate::pages`].
pub struct Pages<'a> {
    store: &'a Weaviate,
    class: String,
    tenant: Option<String>,
    after: Option<String>,
    page_size: usize,
    vectors: bool,
    done: bool,
}

impl Iterator for Pages<'_> {
    type Item = Result<Vec<Object>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let page = self.store.scan(
            &self.class,
            self.tenant.as_deref(),
            self.after.as_deref(),
            self.page_size,
            self.vectors,
        );
        match &page {
            Ok(objects) => match objects.last() {
                Some(last) => self.after = Some(last.id.clone()),
                None => {
                    self.done = true;
                    return None;
                }
            },
            Err(_) => self.done = true,
        }
        Some(page)
    }
}

impl Store for Weaviate {
    fn location(&self) -> String {
        self.root.clone()
    }

    fn collections(&self) -> Result<Vec<Value>> {
        #[derive(Deserialize)]
        struct Schema {
            #[serde(default)]
            classes: Option<Vec<Value>>,
        }
        let schema: Schema = self.get_json("GET /v1/schema", "/schema")?;
        let mut classes: Vec<Value> = schema
            .classes
            .unwrap_or_default()
            .iter()
            .map(strip_server_fields)
            .collect();
        // Weaviate's order is a Go map's; a sorted list makes exports reproducible.
        classes.sort_by(|a, b| a["class"].as_str().cmp(&b["class"].as_str()));
        Ok(classes)
    }

    fn class(&self, name: &str) -> Result<Option<Value>> {
        let name = class_name(name);
        let reply = self.send(Method::GET, &format!("/schema/{}", enc(&name)), None)?;
        if reply.status == 404 {
            return Ok(None);
        }
        let def: Value = self.json(&format!("GET /v1/schema/{name}"), &reply)?;
        Ok(Some(strip_server_fields(&def)))
    }

    fn create_class(&self, class: &Value) -> Result<Value> {
        let name = class_of(class)?;
        let reply = self.send_json(Method::POST, "/schema", class)?;
        match self.json(&format!("creating collection {name}"), &reply) {
            // An earlier attempt may have created it before its answer was lost.
            Err(e) if e.kind == ErrorKind::Conflict && reply.attempts > 1 => {
                self.class(&name)?.ok_or(e)
            }
            other => other,
        }
    }

    fn update_class(&self, class: &Value) -> Result<Value> {
        let name = class_of(class)?;
        let reply = self.send_json(Method::PUT, &format!("/schema/{}", enc(&name)), class)?;
        if reply.status == 404 {
            return Err(missing_collection(&name));
        }
        self.json(&format!("updating collection {name}"), &reply)
    }

    fn delete_class(&self, name: &str) -> Result<()> {
        let name = class_name(name);
        let reply = self.send(Method::DELETE, &format!("/schema/{}", enc(&name)), None)?;
        // 200 whether or not it existed; a 404 from an older server means the same.
        if (200..300).contains(&reply.status) || reply.status == 404 {
            Ok(())
        } else {
            Err(self.refused(&format!("deleting collection {name}"), &reply))
        }
    }

    fn add_property(&self, class: &str, property: &Value) -> Result<()> {
        let name = class_name(class);
        let path = format!("/schema/{}/properties", enc(&name));
        let reply = self.send_json(Method::POST, &path, property)?;
        if (200..300).contains(&reply.status) {
            return Ok(());
        }
        let err = self.refused(&format!("adding a property to {name}"), &reply);
        if reply.status == 422 && err.message.contains("conflict for property") {
            // A retry of a request that did add it is not a conflict.
            if reply.attempts > 1 {
                return Ok(());
            }
            return Err(StoreError::new(ErrorKind::Conflict, err.message));
        }
        Err(err)
    }

    fn tenants(&self, class: &str) -> Result<Vec<Tenant>> {
        let name = class_name(class);
        let path = format!("/schema/{}/tenants", enc(&name));
        let mut tenants: Vec<Tenant> =
            self.get_json(&format!("listing the tenants of {name}"), &path)?;
        // Weaviate's order is a Go map's.
        tenants.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(tenants)
    }

    fn create_tenants(&self, class: &str, tenants: &[Tenant]) -> Result<()> {
        let name = class_name(class);
        let path = format!("/schema/{}/tenants", enc(&name));
        for chunk in tenants.chunks(TENANT_CHUNK) {
            let reply = self.send_json(Method::POST, &path, &chunk)?;
            let _: Value = self.json(&format!("creating tenants of {name}"), &reply)?;
        }
        Ok(())
    }

    fn upsert(&self, objects: &[Object]) -> Result<Vec<Outcome>> {
        // Ids are checked here because one malformed id makes Weaviate refuse the whole
        // request (CONTRACT.md 1.3); they are sent in canonical form.
        let mut outcomes: Vec<Option<Outcome>> = vec![None; objects.len()];
        let mut to_send: Vec<(usize, Cow<'_, Object>)> = Vec::with_capacity(objects.len());
        for (i, o) in objects.iter().enumerate() {
            match canonical_id(&o.id) {
                None => {
                    outcomes[i] = Some(Outcome::Rejected(format!(
                        "id {:?} is not a valid UUID",
                        o.id
                    )))
                }
                Some(id) if id == o.id => to_send.push((i, Cow::Borrowed(o))),
                Some(id) => {
                    let mut o = o.clone();
                    o.id = id;
                    to_send.push((i, Cow::Owned(o)));
                }
            }
        }
        // Within one request Weaviate keeps the last copy of an id, but the requests of one
        // call run in parallel, in no order: only the last copy of each object (the same
        // class, tenant and id) is sent, and the earlier copies share its outcome.
        let mut sent_as = vec![0; to_send.len()];
        {
            let mut last: HashMap<(String, Option<&str>, &str), usize> = HashMap::new();
            for (k, (_, o)) in to_send.iter().enumerate().rev() {
                let key = (class_name(&o.class), o.tenant.as_deref(), o.id.as_str());
                sent_as[k] = *last.entry(key).or_insert(k);
            }
        }
        let mut index = Vec::with_capacity(to_send.len());
        let mut wire: Vec<Cow<'_, Object>> = Vec::with_capacity(to_send.len());
        let mut wire_pos = vec![usize::MAX; to_send.len()];
        let mut copies = Vec::new();
        for (k, (i, o)) in to_send.into_iter().enumerate() {
            if sent_as[k] == k {
                wire_pos[k] = wire.len();
                index.push(i);
                wire.push(o);
            } else {
                copies.push((i, sent_as[k]));
            }
        }
        let chunks: Vec<&[Cow<'_, Object>]> = wire.chunks(BATCH_SIZE).collect();
        let results: Vec<Outcome> = self
            .parallel(&chunks, self.in_flight, |c| self.upsert_chunk(c))?
            .into_iter()
            .flatten()
            .collect();
        for (i, k) in copies {
            outcomes[i] = results.get(wire_pos[k]).cloned();
        }
        for (i, outcome) in index.into_iter().zip(results) {
            outcomes[i] = Some(outcome);
        }
        Ok(outcomes
            .into_iter()
            .map(|o| o.unwrap_or_else(|| Outcome::Rejected("not sent to Weaviate".into())))
            .collect())
    }

    fn delete(&self, class: &str, tenant: Option<&str>, ids: &[String]) -> Result<u64> {
        let name = class_name(class);
        let mut seen = HashSet::new();
        let mut unique = Vec::with_capacity(ids.len());
        for id in ids {
            let c = canonical_id(id)
                .ok_or_else(|| StoreError::invalid(format!("{id:?} is not a UUID")))?;
            if seen.insert(c.clone()) {
                unique.push(c);
            }
        }
        let mut total = 0;
        for chunk in unique.chunks(DELETE_CHUNK) {
            let filter = Filter::IdIn(chunk.to_vec()).to_where(None);
            total += self.delete_matching(&name, tenant, &filter)?;
        }
        Ok(total)
    }

    fn delete_where(&self, class: &str, tenant: Option<&str>, filter: &Filter) -> Result<u64> {
        if let Filter::IdIn(ids) = filter {
            return self.delete(class, tenant, ids);
        }
        // The value key of the filter follows the property's data type, so the definition
        // is read first; Weaviate answers an unknown class with a 422 "failed to get class".
        let name = class_name(class);
        let def = self
            .class(&name)?
            .ok_or_else(|| missing_collection(&name))?;
        let filter = match filter {
            // Weaviate compares ids as text with the stored lowercase form, so the id is sent
            // canonical; a value that is no UUID matches no object.
            Filter::Equal { property, value } if matches!(property.as_str(), "id" | "_id") => {
                match value.as_str().and_then(canonical_id) {
                    Some(id) => Cow::Owned(Filter::IdIn(vec![id])),
                    None => return Ok(0),
                }
            }
            other => Cow::Borrowed(other),
        };
        self.delete_matching(&name, tenant, &filter.to_where(Some(&def)))
    }

    fn get(
        &self,
        class: &str,
        tenant: Option<&str>,
        id: &str,
        vectors: bool,
    ) -> Result<Option<Object>> {
        let name = class_name(class);
        let id =
            canonical_id(id).ok_or_else(|| StoreError::invalid(format!("{id:?} is not a UUID")))?;
        let query = Query::new()
            .opt("include", vectors.then_some("vector"))
            .opt("tenant", tenant)
            .finish();
        let path = format!("/objects/{}/{id}{query}", enc(&name));
        let reply = self.send(Method::GET, &path, None)?;
        if reply.status == 404 {
            return Ok(None);
        }
        if (200..300).contains(&reply.status) {
            if let Some(o) = read_object(&reply.body) {
                return Ok(Some(o));
            }
        }
        self.json(&format!("GET /v1/objects/{name}/{id}"), &reply)
            .map(Some)
    }

    fn exists(&self, class: &str, tenant: Option<&str>, ids: &[String]) -> Result<Vec<bool>> {
        let name = class_name(class);
        let ids = ids
            .iter()
            .map(|id| {
                canonical_id(id).ok_or_else(|| StoreError::invalid(format!("{id:?} is not a UUID")))
            })
            .collect::<Result<Vec<_>>>()?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        // A name Weaviate would refuse cannot name a collection, which then holds nothing;
        // checked names are also all that can reach the GraphQL text.
        if check_class_name(&name).is_err() {
            return Ok(vec![false; ids.len()]);
        }
        // An empty tenant is no tenant, as in a query string.
        let tenant = tenant.filter(|t| !t.is_empty());
        if let Some(t) = tenant {
            check_tenant_name(t).map_err(StoreError::invalid)?;
        }
        let mut unique: Vec<&str> = ids.iter().map(String::as_str).collect();
        unique.sort_unstable();
        unique.dedup();
        let chunks: Vec<&[&str]> = unique.chunks(EXISTS_CHUNK).collect();
        let found: HashSet<String> = self
            .parallel(&chunks, self.in_flight, |chunk| {
                self.existing(&name, tenant, chunk)
            })?
            .into_iter()
            .flatten()
            .collect();
        Ok(ids.iter().map(|id| found.contains(id)).collect())
    }

    fn scan(
        &self,
        class: &str,
        tenant: Option<&str>,
        after: Option<&str>,
        limit: usize,
        vectors: bool,
    ) -> Result<Vec<Object>> {
        #[derive(Deserialize)]
        struct Page {
            #[serde(default)]
            objects: Option<Vec<Object>>,
        }
        if limit == 0 {
            return Ok(Vec::new());
        }
        let name = class_name(class);
        // Always `limit` (the server's default is 10 or 25), always `after` (empty for the
        // start), never `offset` or `sort` (CONTRACT.md 5.4).
        let query = Query::new()
            .add("class", &name)
            .add("limit", &limit.min(MAX_PAGE).to_string())
            .add("after", after.unwrap_or(""))
            .opt("include", vectors.then_some("vector"))
            .opt("tenant", tenant)
            .finish();
        let reply = self.send(Method::GET, &format!("/objects{query}"), None)?;
        if reply.status == 404 {
            return Err(missing_collection(&name));
        }
        if (200..300).contains(&reply.status) {
            if let Some(objects) = read_object_list(&reply.body) {
                return Ok(objects);
            }
        }
        let page: Page = self.json(&format!("the cursor over {name}"), &reply)?;
        Ok(page.objects.unwrap_or_default())
    }

    fn count(&self, class: &str, tenant: Option<&str>) -> Result<u64> {
        let name = class_name(class);
        // Both go into the query text, so they are checked against Weaviate's name rules
        // first; nothing else can reach the GraphQL parser.
        check_class_name(&name).map_err(StoreError::invalid)?;
        let args = match tenant {
            Some(t) => {
                check_tenant_name(t).map_err(StoreError::invalid)?;
                format!("(tenant: \"{t}\")")
            }
            None => String::new(),
        };
        let query = format!("{{ Aggregate {{ {name}{args} {{ meta {{ count }} }} }} }}");
        let what = format!("counting {name}");
        let Some(answer) = self.graphql(&name, &what, &query, |a: &Value| {
            a.get("errors")
                .and_then(Value::as_array)
                .and_then(|e| e.first())
        })?
        else {
            return Err(missing_collection(&name));
        };
        let groups = answer
            .pointer(&format!("/data/Aggregate/{name}"))
            .and_then(Value::as_array)
            .ok_or_else(|| self.unexpected(&what, format!("no data.Aggregate.{name}")))?;
        // No group at all is an empty collection.
        match groups.first() {
            None => Ok(0),
            Some(g) => g
                .pointer("/meta/count")
                .and_then(Value::as_u64)
                .ok_or_else(|| self.unexpected(&what, "no meta.count")),
        }
    }
}

/// One item of a batch answer; everything but the verdict is skipped unparsed.
#[derive(Deserialize)]
struct BatchItem {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    result: Option<BatchResult>,
}

#[derive(Deserialize)]
struct BatchResult {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    errors: Option<Value>,
}

impl BatchItem {
    /// Written only when the item has a `result` (always there, CONTRACT.md 6.1) with no
    /// error and no status other than SUCCESS, and is the answer for the object sent at its
    /// place.
    fn outcome(&self, sent_id: &str, client: &Weaviate) -> Outcome {
        if let Some(id) = &self.id {
            if canonical_id(id).as_deref() != Some(sent_id) {
                return Outcome::Rejected(format!(
                    "Weaviate's batch answer at this object's place is for id {id}, so this one may not have been written"
                ));
            }
        }
        let Some(result) = &self.result else {
            return Outcome::Rejected(
                "Weaviate's answer has no result for this object, so it may not have been written"
                    .into(),
            );
        };
        let errors = result
            .errors
            .as_ref()
            .and_then(|e| e.get("error"))
            .and_then(Value::as_array)
            .filter(|a| !a.is_empty());
        if let Some(errors) = errors {
            let messages: Vec<String> = errors
                .iter()
                .map(|e| {
                    client.scrub(
                        e.get("message")
                            .and_then(Value::as_str)
                            .unwrap_or("no details given"),
                    )
                })
                .collect();
            return Outcome::Rejected(messages.join("; "));
        }
        match result.status.as_deref() {
            None | Some("SUCCESS") => Outcome::Written,
            Some(other) => Outcome::Rejected(format!("Weaviate reported status {other}")),
        }
    }
}

#[derive(Deserialize)]
struct DeleteAnswer {
    results: DeleteResults,
}

#[derive(Deserialize)]
struct DeleteResults {
    #[serde(default)]
    matches: u64,
    #[serde(default)]
    limit: Option<u64>,
    #[serde(default)]
    successful: u64,
    #[serde(default)]
    failed: u64,
    #[serde(default)]
    objects: Option<Vec<Value>>,
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
struct Query(String);

impl Query {
    fn new() -> Query {
        Query(String::new())
    }

    fn add(mut self, key: &str, value: &str) -> Query {
        self.0.push(if self.0.is_empty() { '?' } else { '&' });
        self.0.push_str(&enc(key));
        self.0.push('=');
        self.0.push_str(&enc(value));
        self
    }

    fn opt(self, key: &str, value: Option<&str>) -> Query {
        match value {
            Some(v) => self.add(key, v),
            None => self,
        }
    }

    fn finish(self) -> String {
        self.0
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters, so a value is safe as a
/// path segment and as a query value alike.
fn enc(s: &str) -> String {
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

/// The class name of a definition, normalised, for the path.
fn class_of(def: &Value) -> Result<String> {
    match def.get("class").and_then(Value::as_str) {
        Some(n) if !n.is_empty() => Ok(class_name(n)),
        _ => Err(StoreError::invalid(
            "a class definition needs a \"class\" name",
        )),
    }
}

fn missing_collection(name: &str) -> StoreError {
    StoreError::not_found(format!("collection {name} does not exist"))
}

/// Whether a 422's message says the collection does not exist: the endpoints that take a
/// class in the body or under `/schema/{c}/...` say so with a 422, not a 404, each in its own
/// words (`class "X": not found`, `class "X" not found in schema`,
/// `validate: failed to get class: X`).
fn says_class_missing(message: &str) -> bool {
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
