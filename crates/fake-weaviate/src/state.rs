//! The in-memory database: collections (classes) with their stored definitions, tenants and
//! shards of objects, and the multi-tenancy rules that pick a shard for a request.

use crate::datatypes::is_ref_type;
use crate::json::{write_f32s, write_int, write_map, write_str, write_vector};
use crate::util::{f32_json, format_uuid, Uuid};
use crate::vector::Vector;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

#[derive(Default)]
pub(crate) struct State {
    /// By canonical class name. Weaviate's order is undefined; a sorted map keeps ours stable.
    pub classes: BTreeMap<String, Class>,
}

pub(crate) struct Class {
    /// The class definition exactly as `GET /v1/schema/{c}` returns it, defaults included.
    pub def: Map<String, Value>,
    /// Tenant name → activity status (`HOT`, `COLD`, `FROZEN`). Empty unless multi-tenant.
    pub tenants: BTreeMap<String, String>,
    /// Shard key (the tenant name, or `""` without multi-tenancy) → its objects.
    pub shards: HashMap<String, Shard>,
}

#[derive(Default)]
pub(crate) struct Shard {
    /// In ascending UUID byte order: the order of the cursor. Shared, so that a response can
    /// be written from the objects after the state's lock is released; a write replaces the
    /// `Arc` (or copies the object when a response still holds it).
    pub objects: BTreeMap<Uuid, Arc<StoredObject>>,
    /// Vector index name (`""` for the legacy vector) → the length of the first vector it
    /// took. Like HNSW, an index keeps its dimension once it has one.
    pub dims: HashMap<String, usize>,
}

#[derive(Clone, Debug)]
pub(crate) struct StoredObject {
    pub id: Uuid,
    pub properties: Map<String, Value>,
    pub vector: Option<Vec<f32>>,
    pub vectors: BTreeMap<String, Vector>,
    pub created: i64,
    pub updated: i64,
}

/// How an object is rendered.
#[derive(Clone, Copy)]
pub(crate) struct View {
    /// Include `vector` and `vectors` (reads only do with `include=vector`).
    pub vectors: bool,
    /// Add `href` to cross-reference beacons, as reads do.
    pub hrefs: bool,
}

impl StoredObject {
    /// Writes the REST object shape (CONTRACT.md §5.1), with Go's `omitempty` rules, as
    /// serde_json would write it from a `Value` with these members in this order. `refs` are
    /// the class's cross-reference properties, whose beacons get an `href` when `view.hrefs`.
    pub fn write_json(
        &self,
        out: &mut Vec<u8>,
        class: &str,
        refs: &[String],
        tenant: Option<&str>,
        view: View,
    ) {
        out.extend_from_slice(b"{\"class\":");
        write_str(out, class);
        out.extend_from_slice(b",\"creationTimeUnix\":");
        write_int(out, self.created);
        out.extend_from_slice(b",\"id\":\"");
        out.extend_from_slice(format_uuid(&self.id).as_bytes());
        out.extend_from_slice(b"\",\"lastUpdateTimeUnix\":");
        write_int(out, self.updated);
        out.extend_from_slice(b",\"properties\":");
        if view.hrefs && refs.iter().any(|r| self.properties.contains_key(r)) {
            let mut props = self.properties.clone();
            add_hrefs(refs, &mut props);
            write_map(out, &props);
        } else {
            write_map(out, &self.properties);
        }
        if let Some(t) = tenant.filter(|t| !t.is_empty()) {
            out.extend_from_slice(b",\"tenant\":");
            write_str(out, t);
        }
        if view.vectors {
            self.write_vectors(out);
        }
        out.push(b'}');
    }

    /// The `"vector"` and `"vectors"` members (each with a leading comma), when not empty.
    pub fn write_vectors(&self, out: &mut Vec<u8>) {
        if let Some(v) = self.vector.as_ref().filter(|v| !v.is_empty()) {
            out.extend_from_slice(b",\"vector\":");
            write_f32s(out, v);
        }
        if !self.vectors.is_empty() {
            out.extend_from_slice(b",\"vectors\":{");
            for (i, (name, v)) in self.vectors.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(out, name);
                out.push(b':');
                write_vector(out, v);
            }
            out.push(b'}');
        }
    }
}

/// Reads give each beacon of the properties named in `refs` an `href`
/// (`/v1/objects/{Class}/{id}`), as Weaviate's handler does.
fn add_hrefs(refs: &[String], props: &mut Map<String, Value>) {
    for (name, value) in props.iter_mut() {
        if !refs.contains(name) {
            continue;
        }
        if let Value::Array(items) = value {
            for item in items.iter_mut().filter_map(Value::as_object_mut) {
                let href = item
                    .get("beacon")
                    .and_then(Value::as_str)
                    .and_then(|b| b.strip_prefix("weaviate://localhost/"))
                    .map(|rest| format!("/v1/objects/{rest}"));
                if let Some(href) = href {
                    item.insert("href".into(), Value::String(href));
                }
            }
        }
    }
}

impl Class {
    pub fn new(def: Map<String, Value>) -> Class {
        Class {
            def,
            tenants: BTreeMap::new(),
            shards: HashMap::new(),
        }
    }

    pub fn name(&self) -> &str {
        self.def.get("class").and_then(Value::as_str).unwrap_or("")
    }

    fn mt_flag(&self, key: &str) -> bool {
        self.def
            .get("multiTenancyConfig")
            .and_then(|m| m.get(key))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    pub fn is_mt(&self) -> bool {
        self.mt_flag("enabled")
    }

    pub fn properties(&self) -> &[Value] {
        self.def
            .get("properties")
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice)
    }

    /// The names of the cross-reference properties.
    pub fn ref_properties(&self) -> Vec<String> {
        self.properties()
            .iter()
            .filter_map(Value::as_object)
            .filter(|p| {
                p.get("dataType")
                    .and_then(|dt| dt.get(0))
                    .and_then(Value::as_str)
                    .is_some_and(is_ref_type)
            })
            .filter_map(|p| p.get("name").and_then(Value::as_str).map(str::to_string))
            .collect()
    }

    pub fn property(&self, name: &str) -> Option<&Map<String, Value>> {
        self.properties()
            .iter()
            .filter_map(Value::as_object)
            .find(|p| p.get("name").and_then(Value::as_str) == Some(name))
    }

    /// The named vectors (name → is it a multi-vector index), or `None` for a class that uses
    /// the legacy single vector.
    pub fn named_vectors(&self) -> Option<BTreeMap<String, bool>> {
        let config = self.def.get("vectorConfig")?.as_object()?;
        if config.is_empty() {
            return None;
        }
        Some(
            config
                .iter()
                .map(|(name, c)| {
                    let multi = c
                        .pointer("/vectorIndexConfig/multivector/enabled")
                        .and_then(Value::as_bool)
                        .unwrap_or(false);
                    (name.clone(), multi)
                })
                .collect(),
        )
    }

    /// Whether the legacy vector index is multi-vector.
    pub fn legacy_multi(&self) -> bool {
        self.def
            .get("vectorIndexConfig")
            .and_then(|c| c.pointer("/multivector/enabled"))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    /// Picks the shard for a request's tenant, applying CONTRACT.md §5.5: the tenant must be
    /// given exactly when the class is multi-tenant, must exist (unless `autoTenantCreation`
    /// and this is a write), and must be active (unless `autoTenantActivation`).
    pub fn shard_key(&mut self, tenant: Option<&str>, write: bool) -> Result<String, String> {
        let tenant = tenant.filter(|t| !t.is_empty());
        let name = self.name().to_string();
        match (self.is_mt(), tenant) {
            (false, None) => Ok(String::new()),
            (false, Some(_)) => Err(format!(
                "class {name} has multi-tenancy disabled, but request was with tenant"
            )),
            (true, None) => Err(format!(
                "class {name} has multi-tenancy enabled, but request was without tenant"
            )),
            (true, Some(t)) => {
                let auto_create = self.mt_flag("autoTenantCreation");
                let auto_activate = self.mt_flag("autoTenantActivation");
                match self.tenants.get(t).map(String::as_str) {
                    None if write && auto_create => {
                        self.tenants.insert(t.to_string(), "HOT".into());
                    }
                    None => return Err(format!("tenant not found: {t:?}")),
                    Some("HOT") => {}
                    Some(_) if auto_activate => {
                        self.tenants.insert(t.to_string(), "HOT".into());
                    }
                    Some(_) => return Err(format!("tenant not active: '{t}'")),
                }
                Ok(t.to_string())
            }
        }
    }

    pub fn shard(&mut self, key: &str) -> &mut Shard {
        self.shards.entry(key.to_string()).or_default()
    }

    pub fn count(&self, key: &str) -> usize {
        self.shards.get(key).map_or(0, |s| s.objects.len())
    }
}

impl State {
    /// The class a request names: first letter uppercased, the rest exact (CONTRACT.md §1.2).
    pub fn class(&self, name: &str) -> Option<&Class> {
        self.classes.get(&crate::util::upper_first(name))
    }

    pub fn class_mut(&mut self, name: &str) -> Option<&mut Class> {
        self.classes.get_mut(&crate::util::upper_first(name))
    }

    /// Whether an object exists, for inline-reference checks.
    pub fn object_exists(&self, class: &str, tenant: Option<&str>, id: &Uuid) -> bool {
        self.class(class).is_some_and(|c| {
            let key = if c.is_mt() { tenant.unwrap_or("") } else { "" };
            c.shards
                .get(key)
                .is_some_and(|s| s.objects.contains_key(id))
        })
    }
}

/// A geo coordinate comes back at float32 precision.
pub(crate) fn geo_json(lat: f32, lon: f32) -> Value {
    json!({"latitude": f32_json(lat), "longitude": f32_json(lon)})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::f32s_json;

    /// The object as a `Value` tree, built member by member in the order of the REST shape:
    /// what [`StoredObject::write_json`] must write byte for byte.
    fn reference(o: &StoredObject, class: &Class, tenant: Option<&str>, view: View) -> Value {
        let mut out = Map::new();
        out.insert("class".into(), Value::String(class.name().to_string()));
        out.insert("creationTimeUnix".into(), json!(o.created));
        out.insert("id".into(), Value::String(format_uuid(&o.id)));
        out.insert("lastUpdateTimeUnix".into(), json!(o.updated));
        let mut props = o.properties.clone();
        if view.hrefs {
            add_hrefs(&class.ref_properties(), &mut props);
        }
        out.insert("properties".into(), Value::Object(props));
        if let Some(t) = tenant.filter(|t| !t.is_empty()) {
            out.insert("tenant".into(), Value::String(t.to_string()));
        }
        if view.vectors {
            if let Some(v) = o.vector.as_ref().filter(|v| !v.is_empty()) {
                out.insert("vector".into(), f32s_json(v));
            }
            if !o.vectors.is_empty() {
                let named = o
                    .vectors
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_json()))
                    .collect();
                out.insert("vectors".into(), Value::Object(named));
            }
        }
        Value::Object(out)
    }

    #[test]
    fn objects_are_written_as_their_value_trees_serialise() {
        let def = json!({"class": "Doc", "properties": [
            {"name": "title", "dataType": ["text"]},
            {"name": "cites", "dataType": ["Doc"]},
            {"name": "n", "dataType": ["int"]}
        ]});
        let Value::Object(def) = def else { panic!() };
        let class = Class::new(def);
        let props = json!({
            "title": "\"quoted\" café \u{1}",
            "n": 9007199254740993_u64,
            "cites": [{"beacon": "weaviate://localhost/Doc/00000000-0000-4000-8000-000000000001"},
                      {"beacon": "elsewhere"}, 7]
        });
        let Value::Object(props) = props else {
            panic!()
        };
        let tricky = vec![
            0.1,
            1.0,
            -0.0,
            0.0,
            1e-45,
            1e-7,
            1e-6,
            1.5e-6,
            1e-5,
            1e14,
            1.2345e15,
            1e16,
            f32::MAX,
            f32::MIN,
            16_777_216.0,
            0.123_456_79,
        ];
        let mut named = BTreeMap::new();
        named.insert("a".to_string(), Vector::Single(tricky.clone()));
        named.insert(
            "m".to_string(),
            Vector::Multi(vec![vec![1.0, 2.5], vec![-3e-9]]),
        );
        let objects = [
            StoredObject {
                id: [7; 16],
                properties: props.clone(),
                vector: Some(tricky),
                vectors: BTreeMap::new(),
                created: 1_723_190_400_000,
                updated: 1_723_190_400_001,
            },
            StoredObject {
                id: [0xab; 16],
                properties: props,
                vector: Some(Vec::new()),
                vectors: named,
                created: 1,
                updated: 2,
            },
            StoredObject {
                id: [0; 16],
                properties: Map::new(),
                vector: None,
                vectors: BTreeMap::new(),
                created: 0,
                updated: 0,
            },
        ];
        let refs = class.ref_properties();
        assert_eq!(refs, ["cites"]);
        for o in &objects {
            for tenant in [None, Some(""), Some("t\"1")] {
                for (vectors, hrefs) in [(false, false), (true, false), (false, true), (true, true)]
                {
                    let view = View { vectors, hrefs };
                    let want = serde_json::to_vec(&reference(o, &class, tenant, view)).unwrap();
                    let mut got = Vec::new();
                    o.write_json(&mut got, class.name(), &refs, tenant, view);
                    assert_eq!(
                        String::from_utf8_lossy(&got),
                        String::from_utf8_lossy(&want)
                    );
                }
            }
        }
    }
}
