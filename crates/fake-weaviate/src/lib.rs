//! fake-weaviate: an in-memory stand-in for Weaviate's REST API (v1.39, as
//! `shared/weaviate/CONTRACT.md` describes it), with fault injection, for tests.
//!
//! [`Server::start`] binds a free port on 127.0.0.1 and serves, on its own threads, the
//! routes a batch toolkit uses: health and meta, schema (with Weaviate's defaults and name
//! rules), tenants, single objects, the `GET /v1/objects` cursor, batch objects (a 200 with a
//! result per object), batch delete, batch references and GraphQL `Aggregate` counts and
//! `Get` — with Weaviate's status codes and both error-body shapes. Vectors are float32
//! and come back bit for bit; integers stay integers. Tests arm faults on a [`Route`]:
//! [`Server::fail_next`] and [`Server::fail_after`] give requests a [`Fault`] (an error
//! status, a 429 with `Retry-After`, a connection dropped mid-response after the request
//! took effect, a hang-up, a delay); [`Server::reject_objects`] fails chosen objects inside a
//! successful batch; [`Server::delay`] slows a route; [`Server::requests`] counts requests,
//! faulted ones included; [`Server::object_count`] checks what was stored. Dropping the
//! [`Server`] stops it. The `fake-weaviate` binary serves the same on a fixed port.
//!
//! ```no_run
//! use fake_weaviate::{Config, Fault, Route, Server};
//!
//! let server = Server::start(Config::default()).unwrap();
//! server.fail_next(Route::Batch, 2, Fault::Status(503));
//! // ... point the client at server.url() and import ...
//! assert_eq!(server.requests(Route::Batch), 3);
//! ```

mod api;
mod batch;
mod faults;
mod filter;
mod floats;
mod graphql;
mod http;
mod json;
mod objects;
mod props;
mod schema;
mod server;
mod state;
mod util;

pub use faults::{Fault, Route};
pub(crate) use floats::FloatFixups;
pub use server::Server;

/// The Weaviate version the server claims in `GET /v1/meta`.
pub const WEAVIATE_VERSION: &str = "1.39.0";

/// `QUERY_DEFAULTS_LIMIT`: the page size of `GET /v1/objects` without `limit`.
pub(crate) const DEFAULT_LIMIT: i64 = 10;
/// `QUERY_DEFAULTS_LIMIT_GRAPHQL`: the page size of GraphQL `Get` without `limit`.
pub(crate) const DEFAULT_GRAPHQL_LIMIT: i64 = 100;

/// How the server behaves; the fields mirror Weaviate's environment settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// API keys accepted as `Authorization: Bearer <key>`. Empty: anonymous access, and an
    /// `Authorization` header is ignored.
    pub api_keys: Vec<String>,
    /// `AUTOSCHEMA_ENABLED`: create unknown classes and properties on write (default true).
    pub auto_schema: bool,
    /// `QUERY_MAXIMUM_RESULTS`: the cap on `offset + limit` and on one batch delete
    /// (default 10000).
    pub max_results: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            api_keys: Vec::new(),
            auto_schema: true,
            max_results: 10_000,
        }
    }
}
