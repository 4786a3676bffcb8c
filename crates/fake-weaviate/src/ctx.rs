//! What a handler works with: [`Ctx`], one request with the server it arrived at;
//! [`Shared`], the server's configuration, data and faults that every request sees; and
//! [`Answer`], what an endpoint gives back. The routing in `api` and the endpoint modules
//! (`schema`, `objects`, `batch`, `graphql`) all build on this.

use crate::config::Config;
use crate::faults::Faults;
use crate::http::{Request, Response};
use crate::state::State;
use serde_json::Value;
use std::sync::{Mutex, MutexGuard};

/// Locks a mutex, ignoring poisoning: a handler that panicked has already been answered with
/// a 500, and the data it guarded is still the best we have.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What every request sees of the server.
pub(crate) struct Shared {
    pub config: Config,
    pub state: Mutex<State>,
    pub faults: Mutex<Faults>,
    /// `http://host:port`, also `GET /v1/meta`'s hostname.
    pub base_url: String,
}

/// An endpoint's answer. An answer given before the endpoint's work is done (a request that
/// fails a check) is the `Err`, so that handlers can give it with `?`.
pub(crate) type Answer = Result<Response, Response>;

/// One request being handled, with the server it arrived at.
pub(crate) struct Ctx<'a> {
    pub shared: &'a Shared,
    pub req: &'a Request,
}

impl<'a> Ctx<'a> {
    pub fn state(&self) -> MutexGuard<'a, State> {
        lock(&self.shared.state)
    }

    pub fn faults(&self) -> MutexGuard<'a, Faults> {
        lock(&self.shared.faults)
    }

    pub fn config(&self) -> &'a Config {
        &self.shared.config
    }

    /// `consistency_level` must be ONE, QUORUM or ALL (CONTRACT.md §5.5).
    pub fn check_consistency(&self) -> Result<(), Response> {
        match self.req.query("consistency_level") {
            None | Some("ONE" | "QUORUM" | "ALL") => Ok(()),
            Some(other) => Err(Response::error(
                400,
                format!("unrecognized consistency level '{other}', try one of the following: ['ONE', 'QUORUM', 'ALL']"),
            )),
        }
    }

    /// The body as JSON: a missing body is go-swagger's 422, unparsable JSON its 400.
    pub fn body_json(&self) -> Result<Value, Response> {
        if self.req.body.iter().all(u8::is_ascii_whitespace) {
            return Err(Response::framework(422, 602, "body in body is required"));
        }
        serde_json::from_slice(&self.req.body).map_err(|e| {
            Response::framework(
                400,
                400,
                format!("parsing body body from \"\" failed, because {e}"),
            )
        })
    }
}
