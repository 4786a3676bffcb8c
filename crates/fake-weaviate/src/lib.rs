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
mod config;
mod ctx;
mod datatypes;
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
mod vector;

pub use config::{Config, WEAVIATE_VERSION};
pub use faults::{Fault, Route};
pub use server::Server;
