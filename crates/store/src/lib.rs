//! ely's stores: where collections live. [`Store`] is the one interface every data command
//! uses, with two implementations of the same semantics: [`embedded::Embedded`], a single
//! SQLite file that needs no server, and [`weaviate::Weaviate`], a client of Weaviate's REST
//! API (`../shared/weaviate/CONTRACT.md`). [`open`] picks one from `--store`, `ELY_STORE`,
//! `WEAVIATE_URL` or the default under `ELY_HOME`.
//!
//! Objects are Weaviate's REST object shape ([`Object`]); class definitions are Weaviate's
//! class JSON, kept as `serde_json::Value` so that settings ely does not know pass through.

pub mod embedded;
mod error;
mod filter;
mod location;
pub mod names;
pub mod schema;
pub mod sqlite;
pub mod weaviate;

pub use ely_vocab::float::is_json_number;
pub use ely_vocab::id::canonical_id;
pub use ely_vocab::{parse_vector, Object, Vector};
pub use error::{ErrorKind, StoreError};
pub use filter::Filter;
pub use location::{
    ely_home, has_credentials, open, open_existing, resolve, shown, Location, OpenOptions,
    RetryReporter,
};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A tenant of a multi-tenant collection, as Weaviate's tenants API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tenant {
    pub name: String,
    /// `HOT` (active), `COLD` (inactive) or `FROZEN` (offloaded); the newer names `ACTIVE`,
    /// `INACTIVE`, `OFFLOADED` are accepted on input and reported in the old form, as
    /// Weaviate does.
    #[serde(
        rename = "activityStatus",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub activity_status: Option<String>,
}

impl Tenant {
    pub fn new(name: &str) -> Tenant {
        Tenant {
            name: name.to_owned(),
            activity_status: None,
        }
    }
}

/// The JSON text an object's `vector` and `vectors` were read from (see
/// [`Store::upsert_texts`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VectorText<'a> {
    pub vector: Option<&'a [u8]>,
    pub vectors: Option<&'a [u8]>,
}

/// What became of one object of a batch: written, or rejected with the store's message.
/// A rejected object was not written; it is never reported as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Written,
    Rejected(String),
}

/// One interface, two stores, the same semantics; the conformance suite
/// (`crates/store/tests/conformance.rs`) runs against both.
///
/// Class names are normalised as Weaviate does (first letter uppercased); `tenant` is `None`
/// for collections without multi-tenancy and required for those with it. Ids are UUIDs in any
/// accepted form; results carry the lowercase canonical form.
pub trait Store: Send + Sync {
    /// Where the store is, safe to print: a URL without credentials, or a path.
    fn location(&self) -> String;

    /// Every class definition.
    fn collections(&self) -> Result<Vec<Value>>;
    /// One class definition, or `None` when there is no such collection.
    fn class(&self, name: &str) -> Result<Option<Value>>;
    /// Creates a collection from a class definition; returns it as stored.
    fn create_class(&self, class: &Value) -> Result<Value>;
    /// Replaces a collection's definition (its mutable settings); returns it as stored.
    fn update_class(&self, class: &Value) -> Result<Value>;
    /// Deletes a collection with all its objects; deleting one that does not exist is fine.
    fn delete_class(&self, name: &str) -> Result<()>;
    /// Adds a property to a collection.
    fn add_property(&self, class: &str, property: &Value) -> Result<()>;

    /// The tenants of a multi-tenant collection, sorted by name.
    fn tenants(&self, class: &str) -> Result<Vec<Tenant>>;
    /// Creates tenants; creating one that exists is fine.
    fn create_tenants(&self, class: &str, tenants: &[Tenant]) -> Result<()>;

    /// Inserts or replaces objects by id; one outcome per object, in order.
    fn upsert(&self, objects: &[Object]) -> Result<Vec<Outcome>>;
    /// As [`Store::upsert`], with the JSON text each object's vectors were read from, when
    /// known (`texts[i]` for `objects[i]`; missing entries are none): a store that sends JSON
    /// may send that text as it is rather than write every number again. The text must be
    /// exactly what the object's vectors were read from. By default it is not used.
    fn upsert_texts(&self, objects: &[Object], texts: &[VectorText<'_>]) -> Result<Vec<Outcome>> {
        let _ = texts;
        self.upsert(objects)
    }
    /// Deletes objects by id; returns how many existed and were deleted.
    fn delete(&self, class: &str, tenant: Option<&str>, ids: &[String]) -> Result<u64>;
    /// Deletes the objects a filter matches; returns how many.
    fn delete_where(&self, class: &str, tenant: Option<&str>, filter: &Filter) -> Result<u64>;
    /// One object, with or without its vectors.
    fn get(
        &self,
        class: &str,
        tenant: Option<&str>,
        id: &str,
        vectors: bool,
    ) -> Result<Option<Object>>;
    /// For each id, whether an object with it exists.
    fn exists(&self, class: &str, tenant: Option<&str>, ids: &[String]) -> Result<Vec<bool>>;
    /// For each id, the object's values of `properties` (those it has), or `None` when there
    /// is no such object: what a source needs to know of many objects, in few requests.
    fn fields(
        &self,
        class: &str,
        tenant: Option<&str>,
        ids: &[String],
        properties: &[&str],
    ) -> Result<Vec<Option<Map<String, Value>>>> {
        ids.iter()
            .map(|id| {
                Ok(self.get(class, tenant, id, false)?.map(|o| {
                    let mut props = o.properties;
                    props.retain(|k, _| properties.contains(&k.as_str()));
                    props
                }))
            })
            .collect()
    }
    /// Up to `limit` objects with ids greater than `after` (from the start when `None`), in
    /// ascending UUID order. An empty page means the end.
    fn scan(
        &self,
        class: &str,
        tenant: Option<&str>,
        after: Option<&str>,
        limit: usize,
        vectors: bool,
    ) -> Result<Vec<Object>>;
    /// How many objects a collection (or one of its tenants) holds.
    fn count(&self, class: &str, tenant: Option<&str>) -> Result<u64>;
}
