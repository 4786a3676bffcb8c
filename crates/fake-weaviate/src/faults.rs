//! Fault injection: which requests fail, how, and how many requests each route has seen.
//!
//! Tests arm faults through [`crate::Server`]; the connection threads consult this table once
//! per request, after reading it and before handling it, so a faulted request is counted but
//! (except for [`Fault::DropConnection`], [`Fault::Delay`] and [`Fault::Trickle`]) never reaches the data.

use std::collections::HashMap;
use std::time::Duration;

/// A group of endpoints, for arming faults and counting requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Route {
    /// `POST /v1/batch/objects`.
    Batch,
    /// `DELETE /v1/batch/objects`.
    BatchDelete,
    /// `POST /v1/batch/references`.
    BatchReferences,
    /// `GET /v1/objects`: the list and the cursor.
    Objects,
    /// Single-object routes: `POST /v1/objects` and everything under `/v1/objects/{...}`,
    /// including the reference endpoints.
    Object,
    /// Everything under `/v1/schema`, tenants and properties included.
    Schema,
    /// `POST /v1/graphql`.
    GraphQl,
    /// `/v1`, `/v1/meta`, `/v1/nodes` and `/v1/.well-known/*` (live, ready, openid).
    Meta,
    /// Every request, including those to unknown paths.
    Any,
}

impl Route {
    /// The route a request belongs to, or `None` for paths Weaviate does not serve (which
    /// only [`Route::Any`] counts).
    pub(crate) fn of(method: &str, path: &str) -> Option<Route> {
        let rest = path.strip_prefix("/v1")?;
        if rest.is_empty() || rest == "/" || rest == "/meta" || rest == "/nodes" {
            return Some(Route::Meta);
        }
        let rest = rest.strip_prefix('/')?;
        let first = rest.split('/').next().unwrap_or("");
        Some(match first {
            ".well-known" => Route::Meta,
            "schema" => Route::Schema,
            "graphql" => Route::GraphQl,
            "objects" if rest == "objects" && method != "POST" => Route::Objects,
            "objects" => Route::Object,
            "batch" if rest == "batch/objects" && method == "DELETE" => Route::BatchDelete,
            "batch" if rest == "batch/objects" => Route::Batch,
            "batch" if rest == "batch/references" => Route::BatchReferences,
            _ => return None,
        })
    }

    fn covers(self, route: Option<Route>) -> bool {
        self == Route::Any || Some(self) == route
    }
}

/// What happens to a request that a fault hits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this status and a Weaviate-shaped error body
    /// (`{"error":[{"message":...}]}`), without handling the request.
    Status(u16),
    /// Answer 429 with a `Retry-After: <secs>` header, without handling the request.
    TooManyRequests { retry_after_secs: u64 },
    /// Handle the request (its effects happen), then send the status line, the headers and
    /// only part of the body (or of the head, when there is no body) and close the socket, so
    /// the client sees a transport error after the server acted: the case at-least-once
    /// delivery exists for.
    DropConnection,
    /// Close the socket as soon as the request is read, without handling it or answering.
    Hangup,
    /// Wait this long, then handle and answer normally (for client timeouts).
    Delay(Duration),
    /// Handle the request, then send the answer's head, and its body in `pieces` parts with
    /// `gap` before each (an answer that takes long to arrive but never stops coming).
    Trickle { pieces: usize, gap: Duration },
}

struct Rule {
    route: Route,
    skip: usize,
    remaining: usize,
    fault: Fault,
}

/// The armed faults, delays, per-object rejections and request counts.
#[derive(Default)]
pub(crate) struct Faults {
    rules: Vec<Rule>,
    delays: HashMap<Route, Duration>,
    counts: HashMap<Route, u64>,
    total: u64,
    /// Lowercase canonical id → the message its batch item fails with.
    rejects: HashMap<String, String>,
}

impl Faults {
    pub fn arm(&mut self, route: Route, skip: usize, n: usize, fault: Fault) {
        if n > 0 {
            self.rules.push(Rule {
                route,
                skip,
                remaining: n,
                fault,
            });
        }
    }

    pub fn set_delay(&mut self, route: Route, d: Duration) {
        if d.is_zero() {
            self.delays.remove(&route);
        } else {
            self.delays.insert(route, d);
        }
    }

    pub fn reject(&mut self, id: String, message: &str) {
        self.rejects.insert(id, message.to_string());
    }

    pub fn rejection(&self, id: &str) -> Option<&str> {
        self.rejects.get(id).map(String::as_str)
    }

    pub fn clear(&mut self) {
        self.rules.clear();
        self.delays.clear();
        self.rejects.clear();
    }

    pub fn requests(&self, route: Route) -> u64 {
        if route == Route::Any {
            self.total
        } else {
            self.counts.get(&route).copied().unwrap_or(0)
        }
    }

    /// Counts a request and decides its fate: the fault to apply (rules in the order they
    /// were armed; each rule sees every request to its route, so its `skip` counts them) and
    /// the standing delay of its route.
    pub fn on_request(&mut self, route: Option<Route>) -> (Option<Fault>, Duration) {
        self.total += 1;
        if let Some(r) = route {
            *self.counts.entry(r).or_insert(0) += 1;
        }
        let mut chosen = None;
        for rule in self.rules.iter_mut().filter(|r| r.route.covers(route)) {
            if rule.skip > 0 {
                rule.skip -= 1;
            } else if chosen.is_none() && rule.remaining > 0 {
                rule.remaining -= 1;
                chosen = Some(rule.fault.clone());
            }
        }
        self.rules.retain(|r| r.remaining > 0);
        let delay = self
            .delays
            .iter()
            .filter(|(r, _)| r.covers(route))
            .map(|(_, d)| *d)
            .max()
            .unwrap_or_default();
        (chosen, delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_classify_paths() {
        assert_eq!(Route::of("POST", "/v1/batch/objects"), Some(Route::Batch));
        assert_eq!(
            Route::of("DELETE", "/v1/batch/objects"),
            Some(Route::BatchDelete)
        );
        assert_eq!(Route::of("GET", "/v1/objects"), Some(Route::Objects));
        assert_eq!(Route::of("POST", "/v1/objects"), Some(Route::Object));
        assert_eq!(Route::of("GET", "/v1/objects/A/x"), Some(Route::Object));
        assert_eq!(
            Route::of("GET", "/v1/schema/A/tenants"),
            Some(Route::Schema)
        );
        assert_eq!(Route::of("GET", "/v1/.well-known/live"), Some(Route::Meta));
        assert_eq!(Route::of("GET", "/v1"), Some(Route::Meta));
        assert_eq!(Route::of("GET", "/v1/nope"), None);
        assert_eq!(Route::of("GET", "/elsewhere"), None);
    }

    #[test]
    fn skip_then_fail_then_pass() {
        let mut f = Faults::default();
        f.arm(Route::Objects, 2, 1, Fault::Status(500));
        let fates: Vec<_> = (0..4)
            .map(|_| f.on_request(Some(Route::Objects)).0)
            .collect();
        assert_eq!(fates, vec![None, None, Some(Fault::Status(500)), None]);
        assert_eq!(f.requests(Route::Objects), 4);
        assert_eq!(f.requests(Route::Any), 4);
    }

    #[test]
    fn any_covers_everything_and_unknown_paths() {
        let mut f = Faults::default();
        f.arm(Route::Any, 0, 2, Fault::Hangup);
        assert_eq!(f.on_request(None).0, Some(Fault::Hangup));
        assert_eq!(f.on_request(Some(Route::Schema)).0, Some(Fault::Hangup));
        assert_eq!(f.on_request(Some(Route::Schema)).0, None);
        f.set_delay(Route::Schema, Duration::from_millis(5));
        assert_eq!(
            f.on_request(Some(Route::Schema)).1,
            Duration::from_millis(5)
        );
        assert_eq!(f.on_request(Some(Route::Batch)).1, Duration::ZERO);
    }
}
