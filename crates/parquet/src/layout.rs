//! A file's columns: which there are and what each holds (the layout, kept in the file's
//! metadata as `ely.layout`), objects turned into Arrow arrays of those columns, and rows
//! turned back into the same objects.
//!
//! Columns, in order: `id` (16-byte UUID), `tenant`, `creation_time`, `update_time` (Unix
//! milliseconds), one typed column per property of the class definition, `vector`, one
//! `vector_<name>` per named vector, and `_extra`: JSON text of whatever did not fit a typed
//! column (properties the class does not list, values their column cannot give back
//! exactly, a vector of another length, the order of an object's properties when it is not
//! the file's), so that every object reads back as it was written.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{anyhow, bail, Context};
use arrow_array::builder::{
    BinaryBuilder, BooleanBuilder, FixedSizeBinaryBuilder, Float64Builder, Int64Builder,
    ListBuilder, StringBuilder, StructBuilder, TimestampMicrosecondBuilder,
};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Float64Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, ArrayRef, FixedSizeListArray, ListArray, RecordBatch};
use arrow_buffer::{BooleanBuffer, NullBuffer, ScalarBuffer};
use arrow_schema::{DataType, Field, Fields, Schema, TimeUnit};
use ely_vocab::{Object, Vector};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::cells::{to_cell, value_of, Cell, Kind, Shape};

/// Columns that are not properties; a property of one of these names goes to `_extra`.
const SYSTEM: [&str; 6] = [
    "id",
    "tenant",
    "creation_time",
    "update_time",
    "vector",
    "_extra",
];

/// A typed property column.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PropCol {
    pub name: String,
    pub kind: String,
    pub list: bool,
    /// A struct's fields (kind `object`), in the order its objects' keys come.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<PropCol>,
}

impl PropCol {
    fn shape(&self) -> anyhow::Result<Shape> {
        Ok(Shape {
            kind: Kind::parse(&self.kind)
                .ok_or_else(|| anyhow!("unknown column kind {:?}", self.kind))?,
            list: self.list,
            fields: self
                .fields
                .iter()
                .map(|f| Ok((f.name.clone(), f.shape()?)))
                .collect::<anyhow::Result<_>>()?,
        })
    }

    /// The column of a property of the class definition (`p`: its entry in `properties`
    /// or `nestedProperties`). Nested objects become structs of their nested properties;
    /// phone numbers structs of the fields Weaviate gives them. Fields come in name order
    /// (as Weaviate writes an object's keys) unless `defined_order`.
    fn of(name: &str, data_type: &str, p: &Value, defined_order: bool) -> PropCol {
        let (kind, list) = Kind::of(data_type);
        let mut fields: Vec<PropCol> = Vec::new();
        if kind == Kind::Struct {
            if data_type == "phoneNumber" {
                fields = [
                    ("countryCode", "int"),
                    ("defaultCountry", "text"),
                    ("input", "text"),
                    ("internationalFormatted", "text"),
                    ("national", "int"),
                    ("nationalFormatted", "text"),
                    ("valid", "boolean"),
                ]
                .iter()
                .map(|(n, dt)| PropCol::of(n, dt, &Value::Null, defined_order))
                .collect();
            } else {
                for np in p
                    .get("nestedProperties")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if let (Some(n), Some(dt)) = (
                        np.get("name").and_then(Value::as_str),
                        np.get("dataType")
                            .and_then(Value::as_array)
                            .and_then(|a| a.first())
                            .and_then(Value::as_str),
                    ) {
                        if !fields.iter().any(|f| f.name == n) {
                            fields.push(PropCol::of(n, dt, np, defined_order));
                        }
                    }
                }
                if !defined_order {
                    fields.sort_by(|a, b| a.name.cmp(&b.name));
                }
            }
            if fields.is_empty() {
                // An object without nested properties: JSON text.
                return PropCol {
                    name: name.into(),
                    kind: Kind::Json.name().into(),
                    list: false,
                    fields,
                };
            }
        }
        PropCol {
            name: name.into(),
            kind: kind.name().into(),
            list,
            fields,
        }
    }
}

/// A vector column: `vector`, or `vector_<name>` for a named vector.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VecCol {
    /// The named vector's name; `None` for the legacy vector.
    pub name: Option<String>,
    /// All of one length: a fixed-size list of that many float32.
    pub dims: Option<usize>,
    /// A multi-vector (a list of lists).
    pub multi: bool,
}

impl VecCol {
    fn column(&self) -> String {
        match &self.name {
            Some(n) => format!("vector_{n}"),
            None => "vector".into(),
        }
    }
}

/// What a file's columns are, decided from the class definition and the first objects.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Layout {
    /// The class objects have (objects of another class keep theirs in `_extra`).
    pub class: String,
    pub properties: Vec<PropCol>,
    pub vectors: Vec<VecCol>,
    /// Objects' properties are in name order (as Weaviate gives them) rather than in the
    /// class definition's.
    pub sorted_keys: bool,
}

impl Layout {
    /// The layout for objects of `class` (its definition, when there is one), looking at
    /// the first objects for what the definition does not say.
    pub fn plan(collection: &str, definition: Option<&Value>, sample: &[Object]) -> Layout {
        let mut properties = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let usable = |name: &str| !SYSTEM.contains(&name) && !name.starts_with("vector_");
        if let Some(props) = definition
            .and_then(|d| d.get("properties"))
            .and_then(Value::as_array)
        {
            for p in props {
                let (Some(name), Some(dt)) = (
                    p.get("name").and_then(Value::as_str),
                    p.get("dataType")
                        .and_then(Value::as_array)
                        .and_then(|a| a.first())
                        .and_then(Value::as_str),
                ) else {
                    continue;
                };
                if usable(name) && seen.insert(name.to_owned()) {
                    // Nested objects: their fields in the order the first objects' keys
                    // come (name order, as Weaviate writes them, unless the definition's
                    // order fits more of them).
                    let sorted = PropCol::of(name, dt, p, false);
                    let defined = PropCol::of(name, dt, p, true);
                    let fitting = |c: &PropCol| {
                        let Ok(shape) = c.shape() else { return 0 };
                        sample
                            .iter()
                            .filter_map(|o| o.properties.get(name))
                            .filter(|v| to_cell(&shape, v).is_some())
                            .count()
                    };
                    properties.push(if fitting(&defined) > fitting(&sorted) {
                        defined
                    } else {
                        sorted
                    });
                }
            }
        } else {
            // No class definition (a plain object stream): kinds from the first objects.
            for o in sample {
                for (name, v) in &o.properties {
                    if !usable(name) || seen.contains(name) {
                        continue;
                    }
                    let inferred = match v {
                        Value::String(_) => Some((Kind::Text, false)),
                        Value::Bool(_) => Some((Kind::Bool, false)),
                        Value::Number(n) if n.is_i64() || n.is_u64() => Some((Kind::Int, false)),
                        Value::Number(_) => Some((Kind::Number, false)),
                        Value::Array(a) if a.first().is_some_and(Value::is_string) => {
                            Some((Kind::Text, true))
                        }
                        Value::Array(_) | Value::Object(_) => Some((Kind::Json, false)),
                        Value::Null => None,
                    };
                    if let Some((kind, list)) = inferred {
                        seen.insert(name.clone());
                        properties.push(PropCol {
                            name: name.clone(),
                            kind: kind.name().into(),
                            list,
                            fields: Vec::new(),
                        });
                    }
                }
            }
        }
        let mut vectors = Vec::new();
        let lengths: Vec<usize> = sample
            .iter()
            .filter_map(|o| o.vector.as_ref().map(Vec::len))
            .collect();
        if !lengths.is_empty() {
            vectors.push(VecCol {
                name: None,
                dims: lengths
                    .iter()
                    .all(|&n| n == lengths[0])
                    .then_some(lengths[0]),
                multi: false,
            });
        }
        let mut named: BTreeMap<&str, Vec<&Vector>> = BTreeMap::new();
        for o in sample {
            for (n, v) in &o.vectors {
                named.entry(n).or_default().push(v);
            }
        }
        for (name, vs) in named {
            let multi = vs.iter().all(|v| matches!(v, Vector::Multi(_)));
            let single: Vec<usize> = vs
                .iter()
                .filter_map(|v| match v {
                    Vector::Single(s) => Some(s.len()),
                    Vector::Multi(_) => None,
                })
                .collect();
            let dims = (!multi && single.len() == vs.len())
                .then(|| single.iter().all(|&n| n == single[0]).then_some(single[0]))
                .flatten();
            vectors.push(VecCol {
                name: Some(name.to_owned()),
                dims,
                multi,
            });
        }
        let class = sample
            .first()
            .map(|o| o.class.clone())
            .filter(|c| !c.is_empty() || definition.is_none())
            .unwrap_or_else(|| collection.to_owned());
        let mut layout = Layout {
            class,
            properties,
            vectors,
            sorted_keys: false,
        };
        // The key order that needs the fewest orders kept.
        let unsorted = sample
            .iter()
            .filter(|o| layout.order_of(o, None).is_some())
            .count();
        layout.sorted_keys = true;
        let sorted = sample
            .iter()
            .filter(|o| layout.order_of(o, None).is_some())
            .count();
        layout.sorted_keys = sorted < unsorted;
        layout
    }

    fn kinds(&self) -> anyhow::Result<Vec<Shape>> {
        self.properties.iter().map(PropCol::shape).collect()
    }

    /// The order of `o`'s properties when it is not the one the file gives back: the typed
    /// ones in the file's order, then the others as they came.
    /// `typed`: the properties whose values went to their columns (when not given, every
    /// property with a column is taken to).
    fn order_of(
        &self,
        o: &Object,
        typed: Option<&std::collections::HashSet<&str>>,
    ) -> Option<Vec<String>> {
        let columns: std::collections::HashSet<&str> =
            self.properties.iter().map(|p| p.name.as_str()).collect();
        let typed = typed.unwrap_or(&columns);
        let mut expected: Vec<&str> = self
            .properties
            .iter()
            .map(|p| p.name.as_str())
            .filter(|n| typed.contains(n) && o.properties.contains_key(*n))
            .collect();
        expected.extend(
            o.properties
                .keys()
                .map(String::as_str)
                .filter(|k| !typed.contains(k)),
        );
        if self.sorted_keys {
            expected.sort_unstable();
        }
        let same = expected.len() == o.properties.len()
            && expected
                .iter()
                .zip(o.properties.keys())
                .all(|(a, b)| *a == b);
        (!same).then(|| o.properties.keys().cloned().collect())
    }

    /// The Arrow schema of the file.
    pub fn schema(&self) -> anyhow::Result<Schema> {
        let uuid = || {
            Field::new("id", DataType::FixedSizeBinary(16), false)
                .with_extension_type(arrow_schema::extension::Uuid)
        };
        let mut fields = vec![
            uuid(),
            Field::new("tenant", DataType::Utf8, true),
            Field::new("creation_time", DataType::Int64, true),
            Field::new("update_time", DataType::Int64, true),
        ];
        for (p, shape) in self.properties.iter().zip(self.kinds()?) {
            fields.push(column_field(&p.name, &shape));
        }
        for v in &self.vectors {
            fields.push(Field::new(v.column(), vector_type(v), true));
        }
        fields.push(Field::new("_extra", DataType::Utf8, true));
        Ok(Schema::new(fields))
    }

    /// The objects as one record batch.
    pub fn batch(&self, objects: &[Object]) -> anyhow::Result<RecordBatch> {
        let kinds = self.kinds()?;
        let n = objects.len();
        let mut ids = FixedSizeBinaryBuilder::with_capacity(n, 16);
        let mut tenants = StringBuilder::new();
        let mut created = Int64Builder::with_capacity(n);
        let mut updated = Int64Builder::with_capacity(n);
        let mut cells: Vec<Vec<Option<Cell>>> = vec![Vec::with_capacity(n); kinds.len()];
        let mut vecs: Vec<VecBuf> = self.vectors.iter().map(|_| VecBuf::default()).collect();
        let mut extras = StringBuilder::new();
        for o in objects {
            let mut extra = Map::new();
            match ely_vocab::id::parse(&o.id) {
                Some(u) => {
                    ids.append_value(u.as_bytes())?;
                    if ely_vocab::id::canonical(u) != o.id.as_bytes() {
                        extra.insert("id".into(), Value::String(o.id.clone()));
                    }
                }
                None => {
                    ids.append_value([0u8; 16])?;
                    extra.insert("id".into(), Value::String(o.id.clone()));
                }
            }
            if o.class != self.class {
                extra.insert("class".into(), Value::String(o.class.clone()));
            }
            tenants.append_option(o.tenant.as_deref());
            created.append_option(o.creation_time_unix);
            updated.append_option(o.last_update_time_unix);
            let mut typed = std::collections::HashSet::new();
            for ((p, shape), col) in self.properties.iter().zip(&kinds).zip(&mut cells) {
                let cell = o.properties.get(&p.name).and_then(|v| to_cell(shape, v));
                if cell.is_some() {
                    typed.insert(p.name.as_str());
                }
                col.push(cell);
            }
            let rest: Map<String, Value> = o
                .properties
                .iter()
                .filter(|(k, _)| !typed.contains(k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            if !rest.is_empty() {
                extra.insert("properties".into(), Value::Object(rest));
            }
            if let Some(order) = self.order_of(o, Some(&typed)) {
                extra.insert("order".into(), Value::from(order));
            }
            let mut other_vectors = Map::new();
            for (v, buf) in self.vectors.iter().zip(&mut vecs) {
                let value = match &v.name {
                    None => o.vector.as_ref().map(|s| Vector::Single(s.clone())),
                    Some(n) => o.vectors.get(n).cloned(),
                };
                if !buf.push(v, value.as_ref()) {
                    if let Some(value) = value {
                        match &v.name {
                            None => {
                                extra.insert("vector".into(), vector_json(&value));
                            }
                            Some(n) => {
                                other_vectors.insert(n.clone(), vector_json(&value));
                            }
                        }
                    }
                }
            }
            for (n, v) in &o.vectors {
                if !self.vectors.iter().any(|c| c.name.as_deref() == Some(n)) {
                    other_vectors.insert(n.clone(), vector_json(v));
                }
            }
            if o.vector.is_some() && !self.vectors.iter().any(|c| c.name.is_none()) {
                if let Some(v) = &o.vector {
                    extra.insert("vector".into(), vector_json(&Vector::Single(v.clone())));
                }
            }
            if !other_vectors.is_empty() {
                extra.insert("vectors".into(), Value::Object(other_vectors));
            }
            if extra.is_empty() {
                extras.append_null();
            } else {
                extras.append_value(serde_json::to_string(&Value::Object(extra))?);
            }
        }
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(ids.finish()),
            Arc::new(tenants.finish()),
            Arc::new(created.finish()),
            Arc::new(updated.finish()),
        ];
        for (shape, col) in kinds.iter().zip(&cells) {
            columns.push(build_cells(shape, col)?);
        }
        for (v, buf) in self.vectors.iter().zip(vecs) {
            columns.push(buf.finish(v)?);
        }
        columns.push(Arc::new(extras.finish()));
        let schema = Arc::new(self.schema()?);
        RecordBatch::try_new(schema, columns).context("building a record batch")
    }

    /// The objects of a record batch read from a file of this layout.
    pub fn objects(&self, batch: &RecordBatch) -> anyhow::Result<Vec<Object>> {
        let kinds = self.kinds()?;
        let want = 5 + kinds.len() + self.vectors.len();
        if batch.num_columns() != want {
            bail!(
                "the file has {} columns where its layout says {want}",
                batch.num_columns()
            );
        }
        let ids = batch
            .column(0)
            .as_fixed_size_binary_opt()
            .ok_or_else(|| anyhow!("column id is not 16-byte binary"))?;
        let tenants = batch
            .column(1)
            .as_string_opt::<i32>()
            .ok_or_else(|| anyhow!("column tenant is not text"))?;
        let created = batch
            .column(2)
            .as_primitive_opt::<Int64Type>()
            .ok_or_else(|| anyhow!("column creation_time is not int64"))?;
        let updated = batch
            .column(3)
            .as_primitive_opt::<Int64Type>()
            .ok_or_else(|| anyhow!("column update_time is not int64"))?;
        let extras = batch
            .column(want - 1)
            .as_string_opt::<i32>()
            .ok_or_else(|| anyhow!("column _extra is not text"))?;
        let mut out = Vec::with_capacity(batch.num_rows());
        for row in 0..batch.num_rows() {
            let extra: Map<String, Value> = if extras.is_null(row) {
                Map::new()
            } else {
                match serde_json::from_str(extras.value(row)) {
                    Ok(Value::Object(m)) => m,
                    _ => bail!("row {row}: _extra is not a JSON object"),
                }
            };
            let id = match extra.get("id").and_then(Value::as_str) {
                Some(s) => s.to_owned(),
                None => {
                    let b: [u8; 16] = ids
                        .value(row)
                        .try_into()
                        .map_err(|_| anyhow!("row {row}: an id is not 16 bytes"))?;
                    String::from_utf8_lossy(&ely_vocab::id::canonical(uuid::Uuid::from_bytes(b)))
                        .into_owned()
                }
            };
            let class = match extra.get("class").and_then(Value::as_str) {
                Some(c) => c.to_owned(),
                None => self.class.clone(),
            };
            let mut properties = Map::new();
            for (i, (p, shape)) in self.properties.iter().zip(&kinds).enumerate() {
                let col = batch.column(4 + i);
                if col.is_null(row) {
                    continue;
                }
                let cell = read_cell(col.as_ref(), row, shape, shape.list)?;
                properties.insert(p.name.clone(), value_of(shape, &cell));
            }
            if let Some(Value::Object(rest)) = extra.get("properties") {
                for (k, v) in rest {
                    properties.insert(k.clone(), v.clone());
                }
            }
            if self.sorted_keys {
                properties.sort_keys();
            }
            if let Some(Value::Array(order)) = extra.get("order") {
                let mut ordered = Map::new();
                for k in order.iter().filter_map(Value::as_str) {
                    if let Some(v) = properties.remove(k) {
                        ordered.insert(k.to_owned(), v);
                    }
                }
                ordered.append(&mut properties);
                properties = ordered;
            }
            let mut object = Object {
                class,
                id,
                tenant: (!tenants.is_null(row)).then(|| tenants.value(row).to_owned()),
                properties,
                vector: None,
                vectors: BTreeMap::new(),
                creation_time_unix: (!created.is_null(row)).then(|| created.value(row)),
                last_update_time_unix: (!updated.is_null(row)).then(|| updated.value(row)),
            };
            for (j, v) in self.vectors.iter().enumerate() {
                let col = batch.column(4 + kinds.len() + j);
                if col.is_null(row) {
                    continue;
                }
                let value = read_vector(col.as_ref(), row)?;
                match &v.name {
                    None => match value {
                        Vector::Single(s) => object.vector = Some(s),
                        Vector::Multi(_) => {
                            bail!("row {row}: the vector column holds a multi-vector")
                        }
                    },
                    Some(n) => {
                        object.vectors.insert(n.clone(), value);
                    }
                }
            }
            if let Some(v) = extra.get("vector") {
                match json_vector(v)? {
                    Vector::Single(s) => object.vector = Some(s),
                    Vector::Multi(_) => bail!("row {row}: _extra's vector is a multi-vector"),
                }
            }
            if let Some(Value::Object(named)) = extra.get("vectors") {
                for (n, v) in named {
                    object.vectors.insert(n.clone(), json_vector(v)?);
                }
            }
            out.push(object);
        }
        Ok(out)
    }
}

/// The Arrow field of a column (or a struct's field) of `shape`.
fn column_field(name: &str, shape: &Shape) -> Field {
    let kind = shape.kind;
    let item = item_type(shape);
    let dt = if shape.list || kind == Kind::Refs {
        DataType::List(Arc::new(element(item, kind)))
    } else {
        item
    };
    let f = Field::new(name, dt, true);
    if kind == Kind::Uuid && !shape.list {
        f.with_extension_type(arrow_schema::extension::Uuid)
    } else {
        f
    }
}

fn struct_fields(fields: &[(String, Shape)]) -> Fields {
    fields
        .iter()
        .map(|(n, s)| column_field(n, s))
        .collect::<Vec<_>>()
        .into()
}

fn item_type(shape: &Shape) -> DataType {
    match shape.kind {
        Kind::Struct => DataType::Struct(struct_fields(&shape.fields)),
        Kind::Text | Kind::Json | Kind::Refs => DataType::Utf8,
        Kind::Int => DataType::Int64,
        Kind::Number => DataType::Float64,
        Kind::Bool => DataType::Boolean,
        Kind::Date => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        Kind::Uuid => DataType::FixedSizeBinary(16),
        Kind::Blob => DataType::Binary,
        Kind::Geo => DataType::Struct(geo_fields()),
    }
}

fn element(dt: DataType, kind: Kind) -> Field {
    let f = Field::new("element", dt, true);
    if kind == Kind::Uuid {
        f.with_extension_type(arrow_schema::extension::Uuid)
    } else {
        f
    }
}

fn geo_fields() -> Fields {
    Fields::from(vec![
        Field::new("latitude", DataType::Float64, true),
        Field::new("longitude", DataType::Float64, true),
    ])
}

fn f32_list() -> DataType {
    DataType::List(Arc::new(Field::new("element", DataType::Float32, false)))
}

fn vector_type(v: &VecCol) -> DataType {
    if v.multi {
        return DataType::List(Arc::new(Field::new("element", f32_list(), false)));
    }
    match v.dims {
        Some(d) => DataType::FixedSizeList(
            Arc::new(Field::new("element", DataType::Float32, false)),
            d as i32,
        ),
        None => f32_list(),
    }
}

/// A vector column being built: values, offsets and validity.
#[derive(Default)]
struct VecBuf {
    values: Vec<f32>,
    /// Per row: the end of its values (single) or of its rows (multi).
    offsets: Vec<i32>,
    /// Multi-vectors: the end of each inner row's values.
    inner: Vec<i32>,
    valid: Vec<bool>,
}

impl VecBuf {
    /// Adds a row; false when the value does not fit the column (it is kept elsewhere).
    fn push(&mut self, col: &VecCol, value: Option<&Vector>) -> bool {
        let fits = match (value, col.multi) {
            (None, _) => true,
            (Some(Vector::Single(s)), false) => col.dims.is_none_or(|d| d == s.len()),
            (Some(Vector::Multi(_)), true) => true,
            _ => false,
        };
        let value = if fits { value } else { None };
        match value {
            None => {
                if let Some(d) = col.dims.filter(|_| !col.multi) {
                    self.values.extend(std::iter::repeat_n(0.0, d));
                }
                self.valid.push(false);
            }
            Some(Vector::Single(s)) => {
                self.values.extend_from_slice(s);
                self.valid.push(true);
            }
            Some(Vector::Multi(rows)) => {
                for r in rows {
                    self.values.extend_from_slice(r);
                    self.inner.push(self.values.len() as i32);
                }
                self.valid.push(true);
            }
        }
        self.offsets.push(if col.multi {
            self.inner.len() as i32
        } else {
            self.values.len() as i32
        });
        fits
    }

    fn finish(self, col: &VecCol) -> anyhow::Result<ArrayRef> {
        let nulls = Some(NullBuffer::new(BooleanBuffer::from(self.valid)));
        let values = Arc::new(arrow_array::Float32Array::new(
            ScalarBuffer::from(self.values),
            None,
        ));
        let item = Arc::new(Field::new("element", DataType::Float32, false));
        let offsets = |ends: Vec<i32>| {
            let mut all = Vec::with_capacity(ends.len() + 1);
            all.push(0);
            all.extend(ends);
            arrow_buffer::OffsetBuffer::new(ScalarBuffer::from(all))
        };
        Ok(match (col.multi, col.dims) {
            (true, _) => {
                let rows = ListArray::try_new(item, offsets(self.inner), values, None)?;
                let row_field = Arc::new(Field::new("element", f32_list(), false));
                Arc::new(ListArray::try_new(
                    row_field,
                    offsets(self.offsets),
                    Arc::new(rows),
                    nulls,
                )?)
            }
            (false, Some(d)) => {
                Arc::new(FixedSizeListArray::try_new(item, d as i32, values, nulls)?)
            }
            (false, None) => Arc::new(ListArray::try_new(
                item,
                offsets(self.offsets),
                values,
                nulls,
            )?),
        })
    }
}

fn vector_json(v: &Vector) -> Value {
    let row = |s: &[f32]| Value::Array(s.iter().map(|&x| Value::from(f64::from(x))).collect());
    match v {
        Vector::Single(s) => row(s),
        Vector::Multi(rows) => Value::Array(rows.iter().map(|r| row(r)).collect()),
    }
}

fn json_vector(v: &Value) -> anyhow::Result<Vector> {
    let row = |v: &Value| -> anyhow::Result<Vec<f32>> {
        v.as_array()
            .ok_or_else(|| anyhow!("a vector in _extra is not an array"))?
            .iter()
            .map(|x| {
                x.as_f64()
                    .map(|f| f as f32)
                    .ok_or_else(|| anyhow!("a vector in _extra holds a non-number"))
            })
            .collect()
    };
    let items = v
        .as_array()
        .ok_or_else(|| anyhow!("a vector in _extra is not an array"))?;
    if items.first().is_some_and(Value::is_array) {
        Ok(Vector::Multi(
            items.iter().map(row).collect::<Result<_, _>>()?,
        ))
    } else {
        Ok(Vector::Single(row(v)?))
    }
}

fn build_cells(shape: &Shape, cells: &[Option<Cell>]) -> anyhow::Result<ArrayRef> {
    let kind = shape.kind;
    if shape.list || kind == Kind::Refs {
        return build_list(shape, cells);
    }
    Ok(match kind {
        Kind::Struct => build_struct(&shape.fields, cells)?,
        Kind::Text | Kind::Json => {
            let mut b = StringBuilder::new();
            for c in cells {
                match c {
                    Some(Cell::Text(s)) => b.append_value(s),
                    _ => b.append_null(),
                }
            }
            Arc::new(b.finish())
        }
        Kind::Int => Arc::new(arrow_array::Int64Array::from_iter(cells.iter().map(
            |c| match c {
                Some(Cell::Int(i)) => Some(*i),
                _ => None,
            },
        ))),
        Kind::Number => Arc::new(arrow_array::Float64Array::from_iter(cells.iter().map(
            |c| match c {
                Some(Cell::Number(f)) => Some(*f),
                _ => None,
            },
        ))),
        Kind::Bool => Arc::new(arrow_array::BooleanArray::from_iter(cells.iter().map(
            |c| match c {
                Some(Cell::Bool(b)) => Some(*b),
                _ => None,
            },
        ))),
        Kind::Date => Arc::new(
            arrow_array::TimestampMicrosecondArray::from_iter(cells.iter().map(|c| match c {
                Some(Cell::Time(t)) => Some(*t),
                _ => None,
            }))
            .with_timezone("UTC"),
        ),
        Kind::Uuid => {
            let mut b = FixedSizeBinaryBuilder::with_capacity(cells.len(), 16);
            for c in cells {
                match c {
                    Some(Cell::Uuid(u)) => b.append_value(u)?,
                    _ => b.append_null(),
                }
            }
            Arc::new(b.finish())
        }
        Kind::Blob => {
            let mut b = BinaryBuilder::new();
            for c in cells {
                match c {
                    Some(Cell::Bytes(v)) => b.append_value(v),
                    _ => b.append_null(),
                }
            }
            Arc::new(b.finish())
        }
        Kind::Geo => {
            let mut b = StructBuilder::from_fields(geo_fields(), cells.len());
            for c in cells {
                let (lat, lon, ok) = match c {
                    Some(Cell::Geo(a, o)) => (Some(*a), Some(*o), true),
                    _ => (None, None, false),
                };
                if let Some(f) = b.field_builder::<Float64Builder>(0) {
                    f.append_option(lat);
                }
                if let Some(f) = b.field_builder::<Float64Builder>(1) {
                    f.append_option(lon);
                }
                b.append(ok);
            }
            Arc::new(b.finish())
        }
        Kind::Refs => unreachable!("refs are lists"),
    })
}

/// A struct array: each field's array built from that field's cells.
fn build_struct(fields: &[(String, Shape)], cells: &[Option<Cell>]) -> anyhow::Result<ArrayRef> {
    let mut children = Vec::with_capacity(fields.len());
    for (i, (_, shape)) in fields.iter().enumerate() {
        let field_cells: Vec<Option<Cell>> = cells
            .iter()
            .map(|c| match c {
                Some(Cell::Struct(v)) => v.get(i).cloned().flatten(),
                _ => None,
            })
            .collect();
        children.push(build_cells(shape, &field_cells)?);
    }
    let valid: Vec<bool> = cells
        .iter()
        .map(|c| matches!(c, Some(Cell::Struct(_))))
        .collect();
    Ok(Arc::new(arrow_array::StructArray::try_new(
        struct_fields(fields),
        children,
        Some(NullBuffer::from(valid)),
    )?))
}

fn build_list(shape: &Shape, cells: &[Option<Cell>]) -> anyhow::Result<ArrayRef> {
    let kind = shape.kind;
    if kind == Kind::Struct {
        // The items of every row as one struct array, cut into rows by offsets.
        let mut items: Vec<Option<Cell>> = Vec::new();
        let mut ends = vec![0i32];
        let mut valid = Vec::with_capacity(cells.len());
        for c in cells {
            if let Some(Cell::List(row)) = c {
                items.extend(row.iter().cloned().map(Some));
                valid.push(true);
            } else {
                valid.push(false);
            }
            ends.push(i32::try_from(items.len()).context("a list column over 2^31 items")?);
        }
        let values = build_struct(&shape.fields, &items)?;
        return Ok(Arc::new(ListArray::try_new(
            Arc::new(element(item_type(shape), kind)),
            arrow_buffer::OffsetBuffer::new(ScalarBuffer::from(ends)),
            values,
            Some(NullBuffer::from(valid)),
        )?));
    }
    macro_rules! list {
        ($builder:expr, $item:expr, |$b:ident, $c:ident| $push:expr) => {{
            let mut lb = ListBuilder::new($builder).with_field(Arc::new(element($item, kind)));
            for c in cells {
                match c {
                    Some(Cell::List(items)) => {
                        for $c in items {
                            let $b = lb.values();
                            $push;
                        }
                        lb.append(true);
                    }
                    _ => lb.append(false),
                }
            }
            Arc::new(lb.finish()) as ArrayRef
        }};
    }
    Ok(match kind {
        Kind::Text | Kind::Refs | Kind::Json => {
            list!(StringBuilder::new(), DataType::Utf8, |b, c| match c {
                Cell::Text(s) => b.append_value(s),
                _ => b.append_null(),
            })
        }
        Kind::Int => list!(Int64Builder::new(), DataType::Int64, |b, c| match c {
            Cell::Int(i) => b.append_value(*i),
            _ => b.append_null(),
        }),
        Kind::Number => list!(Float64Builder::new(), DataType::Float64, |b, c| match c {
            Cell::Number(f) => b.append_value(*f),
            _ => b.append_null(),
        }),
        Kind::Bool => list!(BooleanBuilder::new(), DataType::Boolean, |b, c| match c {
            Cell::Bool(x) => b.append_value(*x),
            _ => b.append_null(),
        }),
        Kind::Date => list!(
            TimestampMicrosecondBuilder::new().with_timezone("UTC"),
            item_type(&Shape::of(Kind::Date, false)),
            |b, c| match c {
                Cell::Time(t) => b.append_value(*t),
                _ => b.append_null(),
            }
        ),
        Kind::Uuid => {
            let mut lb = ListBuilder::new(FixedSizeBinaryBuilder::new(16))
                .with_field(Arc::new(element(DataType::FixedSizeBinary(16), kind)));
            for c in cells {
                match c {
                    Some(Cell::List(items)) => {
                        for c in items {
                            match c {
                                Cell::Uuid(u) => lb.values().append_value(u)?,
                                _ => lb.values().append_null(),
                            }
                        }
                        lb.append(true);
                    }
                    _ => lb.append(false),
                }
            }
            Arc::new(lb.finish())
        }
        Kind::Blob | Kind::Geo | Kind::Struct => bail!("{} has no array form", kind.name()),
    })
}

/// The cell at `row` of a column of `shape` (`list`: whether this level is the list, or its
/// items).
fn read_cell(col: &dyn Array, row: usize, shape: &Shape, list: bool) -> anyhow::Result<Cell> {
    let kind = shape.kind;
    if list || kind == Kind::Refs {
        let l = col
            .as_list_opt::<i32>()
            .ok_or_else(|| anyhow!("a {} column is not a list", kind.name()))?;
        let items = l.value(row);
        let mut out = Vec::with_capacity(items.len());
        // A reference list holds beacons: text.
        let text = Shape::of(Kind::Text, false);
        let item = if kind == Kind::Refs { &text } else { shape };
        for i in 0..items.len() {
            out.push(read_cell(items.as_ref(), i, item, false)?);
        }
        return Ok(Cell::List(out));
    }
    let wrong = || anyhow!("a {} column has another type", kind.name());
    Ok(match kind {
        Kind::Struct => {
            let s = col.as_struct_opt().ok_or_else(wrong)?;
            if s.num_columns() != shape.fields.len() {
                return Err(wrong());
            }
            let mut cells = Vec::with_capacity(shape.fields.len());
            for (i, (_, f)) in shape.fields.iter().enumerate() {
                let child = s.column(i);
                cells.push(match child.is_null(row) {
                    true => None,
                    false => Some(read_cell(child.as_ref(), row, f, f.list)?),
                });
            }
            Cell::Struct(cells)
        }
        Kind::Text | Kind::Json | Kind::Refs => Cell::Text(
            col.as_string_opt::<i32>()
                .ok_or_else(wrong)?
                .value(row)
                .to_owned(),
        ),
        Kind::Int => Cell::Int(
            col.as_primitive_opt::<Int64Type>()
                .ok_or_else(wrong)?
                .value(row),
        ),
        Kind::Number => Cell::Number(
            col.as_primitive_opt::<Float64Type>()
                .ok_or_else(wrong)?
                .value(row),
        ),
        Kind::Bool => Cell::Bool(col.as_boolean_opt().ok_or_else(wrong)?.value(row)),
        Kind::Date => Cell::Time(
            col.as_primitive_opt::<TimestampMicrosecondType>()
                .ok_or_else(wrong)?
                .value(row),
        ),
        Kind::Uuid => Cell::Uuid(
            col.as_fixed_size_binary_opt()
                .ok_or_else(wrong)?
                .value(row)
                .try_into()
                .map_err(|_| wrong())?,
        ),
        Kind::Blob => Cell::Bytes(
            col.as_binary_opt::<i32>()
                .ok_or_else(wrong)?
                .value(row)
                .to_vec(),
        ),
        Kind::Geo => {
            let s = col.as_struct_opt().ok_or_else(wrong)?;
            let f = |i: usize| -> anyhow::Result<f64> {
                Ok(s.column(i)
                    .as_primitive_opt::<Float64Type>()
                    .ok_or_else(wrong)?
                    .value(row))
            };
            Cell::Geo(f(0)?, f(1)?)
        }
    })
}

fn read_vector(col: &dyn Array, row: usize) -> anyhow::Result<Vector> {
    let floats = |a: ArrayRef| -> anyhow::Result<Vec<f32>> {
        Ok(a.as_primitive_opt::<Float32Type>()
            .ok_or_else(|| anyhow!("a vector column does not hold float32"))?
            .values()
            .to_vec())
    };
    if let Some(f) = col.as_fixed_size_list_opt() {
        return Ok(Vector::Single(floats(f.value(row))?));
    }
    let l = col
        .as_list_opt::<i32>()
        .ok_or_else(|| anyhow!("a vector column is not a list"))?;
    let v = l.value(row);
    if let Some(rows) = v.as_list_opt::<i32>() {
        let mut out = Vec::with_capacity(rows.len());
        for i in 0..rows.len() {
            out.push(floats(rows.value(i))?);
        }
        return Ok(Vector::Multi(out));
    }
    Ok(Vector::Single(floats(v)?))
}
