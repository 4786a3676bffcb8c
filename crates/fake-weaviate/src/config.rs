//! How the server is set up and what it claims: [`Config`] (the fields mirror Weaviate's
//! environment settings), the Weaviate version `GET /v1/meta` reports, and the default page
//! sizes of the endpoints that take a `limit`.

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
