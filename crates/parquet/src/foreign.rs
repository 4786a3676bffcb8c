//! Parquet that other tools wrote (DuckDB's `COPY ... TO`, pyarrow's `write_table`): an `id`
//! column, property columns of any Arrow type, and vectors in `vector` (the legacy vector)
//! and `vector_<name>` columns as lists of numbers. float64 vectors are narrowed to float32
//! only when that changes no value; otherwise the object is rejected, unless lossy.

use anyhow::anyhow;
use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, TimeUnit};
use ely_vocab::{Object, Vector};
use serde_json::{Map, Number, Value};

/// The value at `row` of any column, as JSON (`None` for null).
pub fn value(col: &dyn Array, row: usize) -> Option<Value> {
    if col.is_null(row) {
        return None;
    }
    macro_rules! prim {
        ($t:ty) => {
            col.as_primitive_opt::<$t>()
                .map(|a| Value::from(a.value(row)))
        };
    }
    let float = |f: f64| Number::from_f64(f).map(Value::Number);
    Some(match col.data_type() {
        DataType::Utf8 => Value::from(col.as_string::<i32>().value(row)),
        DataType::LargeUtf8 => Value::from(col.as_string::<i64>().value(row)),
        DataType::Utf8View => Value::from(col.as_string_view().value(row)),
        DataType::Boolean => Value::from(col.as_boolean().value(row)),
        DataType::Int8 => prim!(Int8Type)?,
        DataType::Int16 => prim!(Int16Type)?,
        DataType::Int32 => prim!(Int32Type)?,
        DataType::Int64 => prim!(Int64Type)?,
        DataType::UInt8 => prim!(UInt8Type)?,
        DataType::UInt16 => prim!(UInt16Type)?,
        DataType::UInt32 => prim!(UInt32Type)?,
        DataType::UInt64 => prim!(UInt64Type)?,
        DataType::Float32 => float(f64::from(col.as_primitive::<Float32Type>().value(row)))?,
        DataType::Float64 => float(col.as_primitive::<Float64Type>().value(row))?,
        DataType::Timestamp(unit, _) => {
            let v = match unit {
                TimeUnit::Second => {
                    col.as_primitive::<TimestampSecondType>().value(row) * 1_000_000
                }
                TimeUnit::Millisecond => {
                    col.as_primitive::<TimestampMillisecondType>().value(row) * 1000
                }
                TimeUnit::Microsecond => col.as_primitive::<TimestampMicrosecondType>().value(row),
                TimeUnit::Nanosecond => {
                    col.as_primitive::<TimestampNanosecondType>().value(row) / 1000
                }
            };
            Value::from(ely_vocab::date::rfc3339_micros(v))
        }
        DataType::Date32 => {
            let days = i64::from(col.as_primitive::<Date32Type>().value(row));
            Value::from(ely_vocab::date::rfc3339_micros(days * 86_400_000_000))
        }
        DataType::FixedSizeBinary(16) => {
            let b: [u8; 16] = col.as_fixed_size_binary().value(row).try_into().ok()?;
            Value::from(
                String::from_utf8_lossy(&ely_vocab::id::canonical(uuid::Uuid::from_bytes(b)))
                    .into_owned(),
            )
        }
        DataType::Binary => Value::from(ely_vocab::base64(col.as_binary::<i32>().value(row))),
        DataType::LargeBinary => Value::from(ely_vocab::base64(col.as_binary::<i64>().value(row))),
        DataType::List(_) => list(col.as_list::<i32>().value(row)),
        DataType::LargeList(_) => list(col.as_list::<i64>().value(row)),
        DataType::FixedSizeList(_, _) => list(col.as_fixed_size_list().value(row)),
        DataType::Struct(fields) => {
            let s = col.as_struct();
            let mut m = Map::new();
            for (i, f) in fields.iter().enumerate() {
                if let Some(v) = value(s.column(i).as_ref(), row) {
                    m.insert(f.name().clone(), v);
                }
            }
            Value::Object(m)
        }
        DataType::Dictionary(_, _) => {
            let d = col.as_any_dictionary();
            let key = d.normalized_keys().get(row).copied()?;
            return value(d.values().as_ref(), key);
        }
        _ => return None,
    })
}

fn list(items: ArrayRef) -> Value {
    Value::Array(
        (0..items.len())
            .map(|i| value(items.as_ref(), i).unwrap_or(Value::Null))
            .collect(),
    )
}

/// A vector column's value at `row` as float32: exactly, or when `lossy` rounded; `Err` says
/// why not.
fn vector(col: &dyn Array, row: usize, lossy: bool) -> Result<Option<Vector>, String> {
    match value(col, row) {
        Some(v) => vector_of(&v, lossy).map(Some),
        None => Ok(None),
    }
}

/// A JSON list of numbers (or of lists of numbers) as a float32 vector.
fn vector_of(v: &Value, lossy: bool) -> Result<Vector, String> {
    let one = |v: &Value| -> Result<Vec<f32>, String> {
        v.as_array()
            .ok_or("a vector column holds something else than a list")?
            .iter()
            .map(|x| {
                let f = x.as_f64().ok_or("a vector holds something else than numbers")?;
                let n = f as f32;
                if f64::from(n) != f && !lossy {
                    return Err(format!(
                        "vector value {f} is not a float32 (narrowing would change it; --lossy rounds it)"
                    ));
                }
                Ok(n)
            })
            .collect()
    };
    let items = v
        .as_array()
        .ok_or("a vector column holds something else than a list")?;
    if items.first().is_some_and(Value::is_array) {
        Ok(Vector::Multi(
            items.iter().map(one).collect::<Result<_, _>>()?,
        ))
    } else {
        Ok(Vector::Single(one(v)?))
    }
}

/// The objects of a batch of another tool's Parquet, in collection `collection`; each row
/// an object, or why it cannot be one.
pub fn objects(
    batch: &RecordBatch,
    collection: &str,
    lossy: bool,
) -> anyhow::Result<Vec<Result<Object, (Object, String)>>> {
    let schema = batch.schema();
    let ids = batch
        .column_by_name("id")
        .ok_or_else(|| anyhow!("no id column (a Parquet file of objects needs one)"))?;
    let mut out = Vec::with_capacity(batch.num_rows());
    for row in 0..batch.num_rows() {
        let id = match value(ids.as_ref(), row) {
            Some(Value::String(s)) => s,
            Some(other) => other.to_string(),
            None => String::new(),
        };
        let mut o = Object {
            class: collection.to_owned(),
            id,
            ..Object::default()
        };
        let mut problem = ely_vocab::id::parse(&o.id)
            .is_none()
            .then(|| format!("id {:?} is not a UUID", o.id));
        for (i, f) in schema.fields().iter().enumerate() {
            let name = f.name().as_str();
            let col = batch.column(i);
            match name {
                "id" => {}
                // The ely stream's own members, as DuckDB or pyarrow read them from JSONL.
                "class" => {
                    if let Some(Value::String(c)) = value(col.as_ref(), row) {
                        o.class = c;
                    }
                }
                "properties" => match value(col.as_ref(), row) {
                    Some(Value::Object(m)) => o.properties.extend(m),
                    Some(other) => {
                        o.properties.insert(name.to_owned(), other);
                    }
                    None => {}
                },
                "vectors" => {
                    if let Some(Value::Object(m)) = value(col.as_ref(), row) {
                        for (n, v) in m {
                            match vector_of(&v, lossy) {
                                Ok(v) => {
                                    o.vectors.insert(n, v);
                                }
                                Err(why) => {
                                    problem.get_or_insert(format!("vectors.{n}: {why}"));
                                }
                            }
                        }
                    }
                }
                "tenant" => {
                    o.tenant = value(col.as_ref(), row).and_then(|v| v.as_str().map(str::to_owned))
                }
                "creation_time" => {
                    o.creation_time_unix = value(col.as_ref(), row).and_then(|v| v.as_i64())
                }
                "update_time" => {
                    o.last_update_time_unix = value(col.as_ref(), row).and_then(|v| v.as_i64())
                }
                _ if name == "vector" || name.starts_with("vector_") => {
                    match vector(col.as_ref(), row, lossy) {
                        Ok(None) => {}
                        Ok(Some(Vector::Single(v))) if name == "vector" => o.vector = Some(v),
                        Ok(Some(v)) if name == "vector" => {
                            problem.get_or_insert(format!(
                                "column vector holds a multi-vector ({} rows)",
                                match v {
                                    Vector::Multi(m) => m.len(),
                                    Vector::Single(_) => 1,
                                }
                            ));
                        }
                        Ok(Some(v)) => {
                            o.vectors.insert(name["vector_".len()..].to_owned(), v);
                        }
                        Err(why) => {
                            problem.get_or_insert(format!("column {name}: {why}"));
                        }
                    }
                }
                _ => {
                    if let Some(v) = value(col.as_ref(), row) {
                        o.properties.insert(name.to_owned(), v);
                    }
                }
            }
        }
        out.push(match problem {
            None => Ok(o),
            Some(why) => Err((o, why)),
        });
    }
    Ok(out)
}
