//! Property values as typed cells and back. A value goes into its typed column only when the
//! cell gives back exactly the same value (the same JSON); anything else (a date with
//! nanoseconds, a number written `1.0`, a `null`, a value of another type, a nested object
//! whose keys come in another order) goes to the file's `_extra` JSON column, so nothing is
//! lost and nothing changes.

use serde_json::{Map, Number, Value};

/// What a property column holds, from the class definition's data type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Int,
    Number,
    Bool,
    Date,
    Uuid,
    Blob,
    Geo,
    /// Cross-references: the list of beacons.
    Refs,
    /// A nested object (`object`, `object[]` with their `nestedProperties`, and phone
    /// numbers): a struct of its fields, in the order its [`Shape`] gives.
    Struct,
    /// Nested objects without a known shape, and anything else: the value as JSON text.
    Json,
}

/// What a column holds: a kind, whether an array of it, and for a struct its fields (name
/// and shape, in the order the object's keys come).
#[derive(Debug, Clone, PartialEq)]
pub struct Shape {
    pub kind: Kind,
    pub list: bool,
    pub fields: Vec<(String, Shape)>,
}

impl Shape {
    pub fn of(kind: Kind, list: bool) -> Shape {
        Shape {
            kind,
            list,
            fields: Vec::new(),
        }
    }
}

impl Kind {
    /// The kind of a Weaviate data type, and whether it is an array.
    pub fn of(data_type: &str) -> (Kind, bool) {
        let (base, list) = match data_type.strip_suffix("[]") {
            Some(b) => (b, true),
            None => (data_type, false),
        };
        let kind = match base {
            "text" | "string" => Kind::Text,
            "int" => Kind::Int,
            "number" => Kind::Number,
            "boolean" => Kind::Bool,
            "date" => Kind::Date,
            "uuid" => Kind::Uuid,
            "blob" if !list => Kind::Blob,
            "geoCoordinates" if !list => Kind::Geo,
            "object" => Kind::Struct,
            "phoneNumber" if !list => Kind::Struct,
            b if b.starts_with(|c: char| c.is_ascii_uppercase()) => return (Kind::Refs, false),
            _ => return (Kind::Json, false),
        };
        (kind, list)
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Text => "text",
            Kind::Int => "int",
            Kind::Number => "number",
            Kind::Bool => "boolean",
            Kind::Date => "date",
            Kind::Uuid => "uuid",
            Kind::Blob => "blob",
            Kind::Geo => "geo",
            Kind::Refs => "refs",
            Kind::Struct => "object",
            Kind::Json => "json",
        }
    }

    pub fn parse(name: &str) -> Option<Kind> {
        Some(match name {
            "text" => Kind::Text,
            "int" => Kind::Int,
            "number" => Kind::Number,
            "boolean" => Kind::Bool,
            "date" => Kind::Date,
            "uuid" => Kind::Uuid,
            "blob" => Kind::Blob,
            "geo" => Kind::Geo,
            "refs" => Kind::Refs,
            "object" => Kind::Struct,
            "json" => Kind::Json,
            _ => return None,
        })
    }
}

/// One typed value.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(String),
    Int(i64),
    Number(f64),
    Bool(bool),
    /// Microseconds since the Unix epoch, UTC.
    Time(i64),
    Uuid([u8; 16]),
    Bytes(Vec<u8>),
    Geo(f64, f64),
    List(Vec<Cell>),
    /// A nested object: each field's cell, `None` where the object has no such key.
    Struct(Vec<Option<Cell>>),
}

/// The cell of `value` in a column of `shape`, when the cell gives back exactly `value`.
pub fn to_cell(shape: &Shape, value: &Value) -> Option<Cell> {
    if shape.list {
        let Value::Array(items) = value else {
            return None;
        };
        return items
            .iter()
            .map(|v| one(shape, v))
            .collect::<Option<Vec<_>>>()
            .map(Cell::List);
    }
    match shape.kind {
        Kind::Refs => {
            let Value::Array(items) = value else {
                return None;
            };
            items
                .iter()
                .map(|v| match v {
                    Value::Object(m) if m.len() == 1 => m
                        .get("beacon")
                        .and_then(Value::as_str)
                        .map(|b| Cell::Text(b.into())),
                    _ => None,
                })
                .collect::<Option<Vec<_>>>()
                .map(Cell::List)
        }
        // serde_json keeps members in order, so the text reads back as the same value.
        Kind::Json => serde_json::to_string(value).ok().map(Cell::Text),
        _ => one(shape, value),
    }
}

/// A nested object as a struct: every key one of the fields, in the fields' order (so the
/// object reads back with its keys as they were), every value fitting its field.
fn fields_of(fields: &[(String, Shape)], value: &Value) -> Option<Cell> {
    let Value::Object(m) = value else {
        return None;
    };
    let mut cells = vec![None; fields.len()];
    let mut last: Option<usize> = None;
    for (k, v) in m {
        let i = fields.iter().position(|(n, _)| n == k)?;
        if last.is_some_and(|l| i <= l) {
            return None;
        }
        last = Some(i);
        cells[i] = Some(to_cell(&fields[i].1, v)?);
    }
    Some(Cell::Struct(cells))
}

fn one(shape: &Shape, value: &Value) -> Option<Cell> {
    let kind = shape.kind;
    if kind == Kind::Struct {
        return fields_of(&shape.fields, value);
    }
    let cell = match (kind, value) {
        (Kind::Text, Value::String(s)) => return Some(Cell::Text(s.clone())),
        (Kind::Bool, Value::Bool(b)) => return Some(Cell::Bool(*b)),
        (Kind::Int, Value::Number(n)) => Cell::Int(n.as_i64()?),
        (Kind::Number, Value::Number(n)) => Cell::Number(n.as_f64()?),
        (Kind::Date, Value::String(s)) => {
            let (secs, nanos) = ely_vocab::date::parse(s, false)?;
            if nanos % 1000 != 0 {
                return None;
            }
            Cell::Time(
                secs.checked_mul(1_000_000)?
                    .checked_add(i64::from(nanos / 1000))?,
            )
        }
        (Kind::Uuid, Value::String(s)) => Cell::Uuid(*ely_vocab::id::parse(s)?.as_bytes()),
        (Kind::Blob, Value::String(s)) => Cell::Bytes(ely_vocab::base64_decode(s).ok()?),
        (Kind::Geo, Value::Object(m)) => {
            let mut keys = m.keys();
            if m.len() != 2
                || keys.next().map(String::as_str) != Some("latitude")
                || keys.next().map(String::as_str) != Some("longitude")
            {
                return None;
            }
            Cell::Geo(m["latitude"].as_f64()?, m["longitude"].as_f64()?)
        }
        _ => return None,
    };
    // Only a cell that gives the same value back goes in its column.
    (value_of(shape, &cell) == *value).then_some(cell)
}

/// The value a cell of a column of `shape` stands for.
pub fn value_of(shape: &Shape, cell: &Cell) -> Value {
    let kind = shape.kind;
    match cell {
        Cell::Text(s) if kind == Kind::Json => serde_json::from_str(s).unwrap_or(Value::Null),
        Cell::Text(s) => Value::String(s.clone()),
        Cell::Int(i) => Value::from(*i),
        Cell::Number(f) => number(*f),
        Cell::Bool(b) => Value::Bool(*b),
        Cell::Time(us) => Value::String(ely_vocab::date::rfc3339_micros(*us)),
        Cell::Uuid(b) => Value::String(
            String::from_utf8_lossy(&ely_vocab::id::canonical(uuid::Uuid::from_bytes(*b)))
                .into_owned(),
        ),
        Cell::Bytes(b) => Value::String(ely_vocab::base64(b)),
        Cell::Geo(lat, lon) => {
            let mut m = Map::new();
            m.insert("latitude".into(), number(*lat));
            m.insert("longitude".into(), number(*lon));
            Value::Object(m)
        }
        Cell::List(items) if kind == Kind::Refs => Value::Array(
            items
                .iter()
                .map(|c| {
                    let mut m = Map::new();
                    m.insert("beacon".into(), value_of(&Shape::of(Kind::Text, false), c));
                    Value::Object(m)
                })
                .collect(),
        ),
        Cell::List(items) => Value::Array(items.iter().map(|c| value_of(shape, c)).collect()),
        Cell::Struct(cells) => Value::Object(
            shape
                .fields
                .iter()
                .zip(cells)
                .filter_map(|((name, s), c)| c.as_ref().map(|c| (name.clone(), value_of(s, c))))
                .collect(),
        ),
    }
}

/// A double as Weaviate writes it: whole numbers without a fraction (`3`, not `3.0`).
pub fn number(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 && !(f == 0.0 && f.is_sign_negative())
    {
        Value::from(f as i64)
    } else {
        Number::from_f64(f).map_or(Value::Null, Value::Number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_go_to_their_column_only_when_they_come_back_the_same() {
        let fits = |kind, list, v: Value| {
            let shape = Shape::of(kind, list);
            let c = to_cell(&shape, &v);
            if let Some(c) = &c {
                assert_eq!(value_of(&shape, c), v, "{v}");
            }
            c.is_some()
        };
        assert!(fits(Kind::Text, false, json!("naïve \"q\"")));
        assert!(fits(Kind::Int, false, json!(-5)));
        assert!(!fits(Kind::Int, false, json!(5.5)));
        assert!(fits(Kind::Number, false, json!(3)));
        assert!(fits(Kind::Number, false, json!(0.1)));
        assert!(!fits(Kind::Number, false, json!(3.0)), "3.0 is written 3");
        assert!(
            fits(Kind::Number, false, json!(-0.0)),
            "-0.0 keeps its sign"
        );
        assert!(fits(Kind::Date, false, json!("2026-04-08T12:42:00Z")));
        assert!(fits(Kind::Date, false, json!("2026-04-08T12:42:00.5Z")));
        assert!(!fits(Kind::Date, false, json!("2026-04-08T12:42:00.500Z")));
        assert!(!fits(Kind::Date, false, json!("2026-04-08T14:42:00+02:00")));
        assert!(!fits(
            Kind::Date,
            false,
            json!("2026-04-08T12:42:00.123456789Z")
        ));
        assert!(fits(
            Kind::Uuid,
            false,
            json!("6d9a1c2e-1111-4a2b-9c3d-0123456789ab")
        ));
        assert!(!fits(
            Kind::Uuid,
            false,
            json!("6D9A1C2E-1111-4A2B-9C3D-0123456789AB")
        ));
        assert!(fits(Kind::Blob, false, json!("aGVsbG8=")));
        assert!(fits(
            Kind::Geo,
            false,
            json!({"latitude": 52.37, "longitude": 4.9})
        ));
        assert!(!fits(
            Kind::Geo,
            false,
            json!({"longitude": 4.9, "latitude": 52.37})
        ));
        assert!(fits(Kind::Text, true, json!(["a", "b"])));
        assert!(!fits(Kind::Text, true, json!(["a", null])));
        assert!(fits(
            Kind::Refs,
            false,
            json!([{"beacon": "weaviate://localhost/A/6d9a1c2e-1111-4a2b-9c3d-0123456789ab"}])
        ));
        assert!(!fits(
            Kind::Refs,
            false,
            json!([{"beacon": "b", "href": "h"}])
        ));
        assert!(fits(
            Kind::Json,
            false,
            json!({"z": 1, "a": [1.5, {"k": null}]})
        ));
        assert!(!fits(Kind::Text, false, Value::Null));
    }

    #[test]
    fn nested_objects_fit_their_struct_only_with_their_keys_in_order() {
        let address = Shape {
            kind: Kind::Struct,
            list: false,
            fields: vec![
                ("city".into(), Shape::of(Kind::Text, false)),
                ("zip".into(), Shape::of(Kind::Int, false)),
            ],
        };
        let person = Shape {
            kind: Kind::Struct,
            list: true,
            fields: vec![
                ("address".into(), address),
                ("born".into(), Shape::of(Kind::Date, false)),
                ("tags".into(), Shape::of(Kind::Text, true)),
            ],
        };
        let fits = |v: Value| {
            let c = to_cell(&person, &v);
            if let Some(c) = &c {
                assert_eq!(value_of(&person, c).to_string(), v.to_string(), "{v}");
            }
            c.is_some()
        };
        assert!(fits(json!([
            {"address": {"city": "Utrecht", "zip": 3511}, "born": "1990-01-02T00:00:00Z", "tags": ["a"]},
            {"born": "2001-05-06T07:08:09Z"},
            {}
        ])));
        assert!(fits(json!([])));
        assert!(
            !fits(json!([{"born": "1990-01-02T00:00:00Z", "address": {"city": "U"}}])),
            "keys out of order"
        );
        assert!(
            !fits(json!([{"address": {"city": "U", "street": "x"}}])),
            "a key the shape lacks"
        );
        assert!(
            !fits(json!([{"address": null}])),
            "null is not an absent key"
        );
        assert!(
            !fits(json!([{"address": {"zip": 1.5}}])),
            "a value that does not fit"
        );
        assert!(!fits(json!([null])));
    }
}
