//! The `fake-weaviate` binary: serves the test server on a fixed port until killed, for
//! trying a client by hand (`curl`, the Python client) or for scripts.

use clap::Parser;
use fake_weaviate::{Config, Server};
use std::process::ExitCode;

/// An in-memory stand-in for Weaviate's REST API, for tests.
///
/// Examples:
///   fake-weaviate --port 8080
///   fake-weaviate --port 8080 --api-key secret --no-auto-schema --max-results 500
#[derive(Parser)]
#[command(name = "fake-weaviate", version)]
struct Args {
    /// The port to listen on.
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Require `Authorization: Bearer KEY` (repeat for several keys).
    #[arg(long = "api-key", value_name = "KEY")]
    api_keys: Vec<String>,
    /// Do not create unknown classes and properties on write (AUTOSCHEMA_ENABLED=false).
    #[arg(long)]
    no_auto_schema: bool,
    /// QUERY_MAXIMUM_RESULTS: the cap on offset + limit and on one batch delete.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    max_results: usize,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let config = Config {
        api_keys: args.api_keys,
        auto_schema: !args.no_auto_schema,
        max_results: args.max_results,
    };
    let addr = format!("{}:{}", args.host, args.port);
    match Server::bind(&addr, config) {
        Ok(server) => {
            eprintln!("fake-weaviate: serving on {}", server.url());
            server.wait();
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("fake-weaviate: error: cannot listen on {addr}: {e}");
            ExitCode::from(2)
        }
    }
}
