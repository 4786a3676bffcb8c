//! Weaviate's own Parquet export (CONTRACT.md section 15), which Weaviate cannot load back:
//! files `{class}_{shard}_{range}.parquet` with `id` (text), `creation_time` and
//! `update_time` (Unix milliseconds), `vector` (raw little-endian float32 bytes),
//! `named_vectors` and `multi_vectors` (JSON), `properties` (the JSON Weaviate stored), and
//! the file metadata `collection` and, for a tenant's shard, `tenant`. Each row becomes the
//! object ely would have backed up.

use std::collections::BTreeMap;

use anyhow::{anyhow, bail};
use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, Int64Type};
use arrow_array::{Array, RecordBatch};
use ely_vocab::{Object, Vector};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// The text at `row` of a string column, plain or dictionary-encoded.
fn text(col: &dyn Array, row: usize) -> Option<String> {
    if col.is_null(row) {
        return None;
    }
    if let Some(s) = col.as_string_opt::<i32>() {
        return Some(s.value(row).to_owned());
    }
    if let Some(s) = col.as_string_opt::<i64>() {
        return Some(s.value(row).to_owned());
    }
    if let Some(b) = col.as_binary_opt::<i32>() {
        return Some(String::from_utf8_lossy(b.value(row)).into_owned());
    }
    let d = col.as_dictionary_opt::<Int32Type>()?;
    let key = d.keys().value(row) as usize;
    text(d.values().as_ref(), key)
}

/// The bytes at `row` of a binary (or string) column.
fn bytes(col: &dyn Array, row: usize) -> Option<Vec<u8>> {
    if col.is_null(row) {
        return None;
    }
    if let Some(b) = col.as_binary_opt::<i32>() {
        return Some(b.value(row).to_vec());
    }
    if let Some(b) = col.as_binary_opt::<i64>() {
        return Some(b.value(row).to_vec());
    }
    text(col, row).map(String::into_bytes)
}

/// The objects of a batch of Weaviate's export of `collection` (a tenant's shard: `tenant`).
pub fn objects(
    batch: &RecordBatch,
    collection: &str,
    tenant: Option<&str>,
) -> anyhow::Result<Vec<Object>> {
    let column = |name: &str| batch.column_by_name(name);
    let ids = column("id").ok_or_else(|| anyhow!("no id column"))?;
    let times = |name: &str| column(name).and_then(|c| c.as_primitive_opt::<Int64Type>().cloned());
    let (created, updated) = (times("creation_time"), times("update_time"));
    let mut out = Vec::with_capacity(batch.num_rows());
    for row in 0..batch.num_rows() {
        let id = text(ids.as_ref(), row).ok_or_else(|| anyhow!("row {row} has no id"))?;
        if ely_vocab::id::parse(&id).is_none() {
            bail!("row {row}: id {id:?} is not a UUID");
        }
        let properties: Map<String, Value> =
            match column("properties").and_then(|c| bytes(c.as_ref(), row)) {
                Some(b) if !b.is_empty() => match serde_json::from_slice(&b) {
                    Ok(Value::Object(m)) => m,
                    Ok(Value::Null) => Map::new(),
                    _ => bail!("object {id}: its properties are not a JSON object"),
                },
                _ => Map::new(),
            };
        let vector = match column("vector").and_then(|c| bytes(c.as_ref(), row)) {
            Some(b) if !b.is_empty() => {
                if b.len() % 4 != 0 {
                    bail!(
                        "object {id}: its vector is {} bytes, not whole float32 values",
                        b.len()
                    );
                }
                Some(
                    b.chunks_exact(4)
                        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                        .collect(),
                )
            }
            _ => None,
        };
        let mut vectors = BTreeMap::new();
        for name in ["named_vectors", "multi_vectors"] {
            let Some(b) = column(name).and_then(|c| bytes(c.as_ref(), row)) else {
                continue;
            };
            if b.is_empty() || b == b"null" {
                continue;
            }
            let map: BTreeMap<String, Box<RawValue>> = serde_json::from_slice(&b)
                .map_err(|e| anyhow!("object {id}: {name} is not a JSON object ({e})"))?;
            for (n, raw) in map {
                let v = ely_vocab::parse_vector(raw.get())
                    .map_err(|e| anyhow!("object {id}: vector {n}: {e}"))?;
                let empty = match &v {
                    Vector::Single(s) => s.is_empty(),
                    Vector::Multi(m) => m.is_empty(),
                };
                if !empty {
                    vectors.insert(n, v);
                }
            }
        }
        let time = |c: &Option<arrow_array::Int64Array>| {
            c.as_ref()
                .and_then(|c| (!c.is_null(row)).then(|| c.value(row)))
        };
        out.push(Object {
            class: collection.to_owned(),
            id,
            tenant: tenant.map(str::to_owned),
            properties,
            vector,
            vectors,
            creation_time_unix: time(&created),
            last_update_time_unix: time(&updated),
        });
    }
    Ok(out)
}

/// A class definition for an exported collection, which the export does not carry: its
/// vectors as the first objects have them (named vectors and multi-vectors need declaring;
/// properties are added as the objects come), multi-tenant when the files are tenants'.
pub fn class(collection: &str, tenants: bool, first: &[Object]) -> Value {
    let mut named: BTreeMap<&str, bool> = BTreeMap::new();
    for o in first {
        for (n, v) in &o.vectors {
            named.insert(n, matches!(v, Vector::Multi(_)));
        }
    }
    let mut class = Map::new();
    class.insert("class".into(), Value::from(collection));
    if named.is_empty() {
        class.insert("vectorizer".into(), Value::from("none"));
    } else {
        let configs: Map<String, Value> = named
            .into_iter()
            .map(|(n, multi)| {
                let mut c =
                    serde_json::json!({"vectorizer": {"none": {}}, "vectorIndexType": "hnsw"});
                if multi {
                    c["vectorIndexConfig"] = serde_json::json!({"multivector": {"enabled": true}});
                }
                (n.to_owned(), c)
            })
            .collect();
        class.insert("vectorConfig".into(), Value::Object(configs));
    }
    if tenants {
        class.insert(
            "multiTenancyConfig".into(),
            serde_json::json!({"enabled": true}),
        );
    }
    Value::Object(class)
}
