//! Choosing a store: `--store URL|PATH`, else `ELY_STORE`, else `WEAVIATE_URL`, else the
//! embedded store at `$ELY_HOME/store.db` (`ELY_HOME` defaults to `~/.local/share/ely`).
//! `http://` and `https://` mean Weaviate; anything else that looks like a URL (`ftp://...`,
//! `http:/host`) is an error, never a file name; the rest is the path of an embedded store.

use std::path::PathBuf;
use std::time::Duration;

use crate::{embedded::Embedded, weaviate::Weaviate, Result, Store, StoreError};

#[derive(Clone, PartialEq, Eq)]
pub enum Location {
    Weaviate(String),
    Embedded(PathBuf),
}

/// Never shows a password given in the URL (`https://user:password@host`).
impl Location {
    /// The location as a command line or a state file keeps it: a URL as given, an embedded
    /// store by its full path (cron and other folders still find it).
    pub fn full(&self) -> String {
        match self {
            Location::Weaviate(url) => url.clone(),
            Location::Embedded(p) => std::path::absolute(p)
                .unwrap_or_else(|_| p.clone())
                .display()
                .to_string(),
        }
    }
}

/// Whether a URL carries credentials nothing should keep: a password, or any user of an
/// http(s) URL (ssh's `git@` is a login name, not a secret).
pub fn has_credentials(url: &str) -> bool {
    let Some(scheme_end) = url.find("://") else {
        return false;
    };
    let scheme = url[..scheme_end].to_ascii_lowercase();
    let rest = &url[scheme_end + 3..];
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    match authority.rfind('@') {
        None => false,
        Some(at) => scheme.starts_with("http") || authority[..at].contains(':'),
    }
}

impl std::fmt::Debug for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Weaviate(url) => f.debug_tuple("Weaviate").field(&shown(url)).finish(),
            Location::Embedded(p) => f.debug_tuple("Embedded").field(p).finish(),
        }
    }
}

/// A URL as it may be shown: credentials (`user:password@`) replaced by `<credentials>`.
pub fn shown(url: &str) -> String {
    let scheme_end = url.find(':').map_or(0, |i| i + 1);
    let rest = &url[scheme_end..];
    let host_start = rest.len() - rest.trim_start_matches('/').len();
    let authority_end = rest[host_start..]
        .find(['/', '?', '#'])
        .map_or(rest.len(), |i| host_start + i);
    match rest[host_start..authority_end].rfind('@') {
        Some(at) => format!(
            "{}{}<credentials>@{}",
            &url[..scheme_end],
            &rest[..host_start],
            &rest[host_start + at + 1..]
        ),
        None => url.to_owned(),
    }
}

/// `host:port` (or `host:port/...`): an address missing its `http://`, which is returned
/// with it.
fn host_and_port(s: &str) -> Option<String> {
    let (host, rest) = s.split_once(':')?;
    let port = rest.split('/').next().unwrap_or("");
    let is_host = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
    let is_port = (1..=5).contains(&port.len()) && port.bytes().all(|b| b.is_ascii_digit());
    (is_host && is_port).then(|| format!("http://{s}"))
}

/// Whether `s` starts as a URL does (`scheme:/...`), or names the http scheme without `//`.
fn looks_like_url(s: &str) -> bool {
    let Some(colon) = s.find(':') else {
        return false;
    };
    let scheme = &s[..colon];
    let is_scheme = scheme.len() > 1
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    is_scheme
        && (s[colon + 1..].starts_with('/')
            || matches!(scheme.to_ascii_lowercase().as_str(), "http" | "https"))
}

/// How to talk to a store; only the Weaviate client uses most of it.
#[derive(Clone)]
pub struct OpenOptions {
    /// From `WEAVIATE_API_KEY`; sent as a bearer token, never printed.
    pub api_key: Option<String>,
    pub connect_timeout: Duration,
    /// For each part of a request: sending it, waiting for the answer to begin, receiving
    /// the answer's body (not for the whole request with its retries).
    pub timeout: Duration,
    /// Attempts after the first, for answers worth retrying (429, 408, 5xx, transport errors).
    pub retries: u32,
    /// The first retry's wait; it doubles each time, with jitter, up to `max_backoff`.
    pub backoff: Duration,
    pub max_backoff: Duration,
    /// Batches that may be in flight at once.
    pub in_flight: usize,
    /// How long one request may be retried in all, from its first attempt: no retry starts
    /// after that.
    pub retry_for: Duration,
    /// Told of every retry before its wait (`retrying in 4s after 503 ...`).
    pub on_retry: Option<RetryReporter>,
}

/// What is told of each retry (a binary prints it on stderr).
pub type RetryReporter = std::sync::Arc<dyn Fn(&str) + Send + Sync>;

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            api_key: None,
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(120),
            retries: 8,
            backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(30),
            in_flight: 4,
            retry_for: Duration::from_secs(120),
            on_retry: None,
        }
    }
}

impl std::fmt::Debug for OpenOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenOptions")
            .field("api_key", &self.api_key.as_ref().map(|_| "<set>"))
            .field("connect_timeout", &self.connect_timeout)
            .field("timeout", &self.timeout)
            .field("retries", &self.retries)
            .field("retry_for", &self.retry_for)
            .field("in_flight", &self.in_flight)
            .finish()
    }
}

impl OpenOptions {
    /// The defaults, with the API key from `WEAVIATE_API_KEY` when it is set.
    pub fn from_env() -> OpenOptions {
        OpenOptions {
            api_key: non_empty(std::env::var("WEAVIATE_API_KEY").ok()),
            ..OpenOptions::default()
        }
    }
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.trim().is_empty())
}

/// Where the store is: the flag, then the environment (`env` looks a variable up).
pub fn resolve(flag: Option<&str>, env: impl Fn(&str) -> Option<String>) -> Result<Location> {
    let chosen = non_empty(flag.map(str::to_owned))
        .or_else(|| non_empty(env("ELY_STORE")))
        .or_else(|| non_empty(env("WEAVIATE_URL")));
    if let Some(s) = chosen {
        let lower = s.to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            return Ok(Location::Weaviate(s));
        }
        if let Some(url) = host_and_port(&s) {
            return Err(StoreError::invalid(format!(
                "store {} looks like a Weaviate address without its scheme: use {url} (or ./{} for an embedded store of that name)",
                shown(&s),
                shown(&s)
            )));
        }
        if looks_like_url(&s) {
            return Err(StoreError::invalid(format!(
                "store {} is not a store ely knows: use http://host:port or https://host for Weaviate, or the path of an embedded store",
                shown(&s)
            )));
        }
        return Ok(Location::Embedded(PathBuf::from(s)));
    }
    match ely_home(env) {
        Some(home) => Ok(Location::Embedded(home.join("store.db"))),
        None => Err(StoreError::invalid(
            "no store given: use --store, ELY_STORE, WEAVIATE_URL or ELY_HOME",
        )),
    }
}

/// Where ely keeps its files: `ELY_HOME`, else `~/.local/share/ely`; `None` when neither
/// `ELY_HOME` nor `HOME` is set.
pub fn ely_home(env: impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    match non_empty(env("ELY_HOME")) {
        Some(h) => Some(PathBuf::from(h)),
        None => non_empty(env("HOME")).map(|h| PathBuf::from(h).join(".local/share/ely")),
    }
}

/// Opens the store at `location`, creating an embedded store that does not exist yet.
pub fn open(location: &Location, opts: &OpenOptions) -> Result<Box<dyn Store>> {
    Ok(match location {
        Location::Weaviate(url) => Box::new(Weaviate::new(url, opts)?),
        Location::Embedded(path) => Box::new(Embedded::open(path)?),
    })
}

/// Opens the store at `location`, which must exist already: a command that only reads never
/// creates a store, so a mistyped path is an error, not an empty store.
pub fn open_existing(location: &Location, opts: &OpenOptions) -> Result<Box<dyn Store>> {
    if let Location::Embedded(path) = location {
        if !path.exists() {
            return Err(StoreError::not_found(format!(
                "embedded store {} does not exist (a command that only reads creates none); check --store",
                path.display()
            )));
        }
    }
    open(location, opts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_then_ely_store_then_weaviate_url_then_ely_home() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                vars.iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let all = env(&[
            ("ELY_STORE", "/s.db"),
            ("WEAVIATE_URL", "http://w:8080"),
            ("ELY_HOME", "/h"),
            ("HOME", "/home/u"),
        ]);
        assert_eq!(
            resolve(Some("HTTPS://x"), all).unwrap(),
            Location::Weaviate("HTTPS://x".into())
        );
        assert_eq!(
            resolve(None, all).unwrap(),
            Location::Embedded("/s.db".into())
        );
        let no_store = env(&[("ELY_STORE", ""), ("WEAVIATE_URL", "http://w:8080")]);
        assert_eq!(
            resolve(None, no_store).unwrap(),
            Location::Weaviate("http://w:8080".into())
        );
        assert_eq!(
            resolve(None, env(&[("ELY_HOME", "/h"), ("HOME", "/home/u")])).unwrap(),
            Location::Embedded("/h/store.db".into())
        );
        assert_eq!(
            resolve(None, env(&[("HOME", "/home/u")])).unwrap(),
            Location::Embedded("/home/u/.local/share/ely/store.db".into())
        );
        assert!(resolve(None, env(&[])).is_err());
        let secret = format!(
            "{:?}",
            Location::Weaviate("https://me:hunter2@w:8080/v1".into())
        );
        assert!(
            !secret.contains("hunter2") && secret.contains("w:8080"),
            "{secret}"
        );
    }

    #[test]
    fn what_looks_like_a_url_is_never_a_file_name() {
        let none = |_: &str| None;
        for bad in [
            "http:/host:8080",
            "HTTP:host",
            "https:/h",
            "ftp://h/x",
            "file:///tmp/s.db",
            "weaviate://h",
            "ftp://me:hunter2@h/x",
        ] {
            let e = resolve(Some(bad), none).unwrap_err().to_string();
            assert!(e.contains("is not a store ely knows"), "{bad}: {e}");
            assert!(!e.contains("hunter2"), "{e}");
        }
        // An address without its scheme says which URL was meant.
        for (bad, meant) in [
            ("localhost:8080", "http://localhost:8080"),
            ("10.0.0.5:8080/", "http://10.0.0.5:8080/"),
            ("weaviate-0.svc:80", "http://weaviate-0.svc:80"),
        ] {
            let e = resolve(Some(bad), none).unwrap_err().to_string();
            assert!(e.contains(&format!("use {meant} (")), "{bad}: {e}");
        }
        for path in [
            "s.db",
            "./a:b.db",
            "/tmp/x:/s.db",
            "c:store.db",
            "./localhost:8080",
        ] {
            assert_eq!(
                resolve(Some(path), none).unwrap(),
                Location::Embedded(path.into()),
                "{path}"
            );
        }
        assert_eq!(
            shown("ftp://me:hunter2@h:1/p@x"),
            "ftp://<credentials>@h:1/p@x"
        );
        assert_eq!(shown("http://h/a@b"), "http://h/a@b");
    }
}
