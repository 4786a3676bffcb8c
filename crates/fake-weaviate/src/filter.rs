//! `where` filters (CONTRACT.md §6.3, WhereFilter): parsing and checking them against a class,
//! and matching stored objects. Enough for batch delete and GraphQL counts: `And`, `Or`,
//! `Not`, comparisons, `Like`, `IsNull`, and the `Contains*` operators, on properties, `id`
//! and the timestamps. Text `Equal` compares whole values, not tokens.

use crate::state::{Class, StoredObject};
use crate::util::{format_uuid, normalize_rfc3339, parse_uuid, Uuid};
use serde_json::{json, Value};
use std::cmp::Ordering;
use std::collections::BTreeSet;

#[derive(Debug)]
pub(crate) enum Filter {
    And(Vec<Filter>),
    Or(Vec<Filter>),
    Not(Box<Filter>),
    Leaf {
        path: String,
        op: String,
        value: Value,
    },
}

const VALUE_KEYS: [&str; 12] = [
    "valueText",
    "valueString",
    "valueInt",
    "valueNumber",
    "valueBoolean",
    "valueDate",
    "valueTextArray",
    "valueStringArray",
    "valueIntArray",
    "valueNumberArray",
    "valueBooleanArray",
    "valueDateArray",
];

const LEAF_OPS: [&str; 11] = [
    "Equal",
    "NotEqual",
    "GreaterThan",
    "GreaterThanEqual",
    "LessThan",
    "LessThanEqual",
    "Like",
    "IsNull",
    "ContainsAny",
    "ContainsAll",
    "ContainsNone",
];

/// Parses a `where` filter; errors are the `validate: ...` messages of a 422.
pub(crate) fn parse(class: &Class, v: &Value) -> Result<Filter, String> {
    let parse_err = |m: String| format!("validate: failed to parse where filter: {m}");
    let invalid = |m: String| format!("validate: invalid where filter: {m}");
    let obj = v
        .as_object()
        .ok_or_else(|| parse_err("the filter must be an object".into()))?;
    let op = obj
        .get("operator")
        .and_then(Value::as_str)
        .ok_or_else(|| parse_err("operator is required".into()))?;
    match op {
        "And" | "Or" | "Not" => {
            let operands = obj
                .get("operands")
                .and_then(Value::as_array)
                .filter(|o| !o.is_empty())
                .ok_or_else(|| invalid(format!("operator {op} requires operands")))?;
            let parsed = operands
                .iter()
                .map(|o| parse(class, o))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(match op {
                "And" => Filter::And(parsed),
                "Or" => Filter::Or(parsed),
                _ => Filter::Not(Box::new(Filter::And(parsed))),
            })
        }
        "WithinGeoRange" => Err(parse_err(
            "WithinGeoRange is not supported by this test server".into(),
        )),
        _ if LEAF_OPS.contains(&op) => {
            let path: Vec<&str> = obj
                .get("path")
                .and_then(Value::as_array)
                .map(|p| p.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let [path] = path.as_slice() else {
                return Err(parse_err(format!(
                    "path must have exactly one element (reference paths are not supported by this test server), got {path:?}"
                )));
            };
            let given: Vec<&str> = VALUE_KEYS
                .iter()
                .copied()
                .filter(|k| obj.get(*k).is_some_and(|v| !v.is_null()))
                .collect();
            let [key] = given.as_slice() else {
                return Err(parse_err(format!(
                    "exactly one value field is required, got {}",
                    given.len()
                )));
            };
            let value = obj[*key].clone();
            let is_id = *path == "id" || *path == "_id";
            if is_id && !key.starts_with("valueText") && !key.starts_with("valueString") {
                return Err(invalid(format!(
                    "using [\"{path}\"] to filter by uuid: must use \"valueText\" to specify the id"
                )));
            }
            let special = is_id || *path == "_creationTimeUnix" || *path == "_lastUpdateTimeUnix";
            if !special && class.property(path).is_none() {
                return Err(invalid(format!(
                    "no such prop with name '{path}' found in class '{}' in the schema. Check your schema files for which properties in this class are available",
                    class.name()
                )));
            }
            if op.starts_with("Contains") && !value.is_array() {
                return Err(invalid(format!("operator {op} requires an array value")));
            }
            Ok(Filter::Leaf {
                path: path.to_string(),
                op: op.to_string(),
                value,
            })
        }
        other => Err(parse_err(format!("unrecognized operator: {other}"))),
    }
}

/// The ids a filter matches when it matches by id alone: `id` (or `_id`) `Equal` to a string
/// or `ContainsAny` of strings. [`matches`] compares the stored id's lowercase canonical
/// text with each string, so only strings in that form can match. In ascending order, the
/// order of the objects.
pub(crate) fn id_set(f: &Filter) -> Option<BTreeSet<Uuid>> {
    let Filter::Leaf { path, op, value } = f else {
        return None;
    };
    if path != "id" && path != "_id" {
        return None;
    }
    let wanted: Vec<&Value> = match (op.as_str(), value) {
        ("Equal", v @ Value::String(_)) => vec![v],
        ("ContainsAny", Value::Array(items)) => items.iter().collect(),
        _ => return None,
    };
    let mut ids = BTreeSet::new();
    for w in wanted {
        let text = w.as_str()?;
        if let Ok(id) = parse_uuid(text) {
            if format_uuid(&id) == text {
                ids.insert(id);
            }
        }
    }
    Some(ids)
}

/// Whether a stored object passes the filter.
pub(crate) fn matches(f: &Filter, o: &StoredObject) -> bool {
    match f {
        Filter::And(fs) => fs.iter().all(|f| matches(f, o)),
        Filter::Or(fs) => fs.iter().any(|f| matches(f, o)),
        Filter::Not(f) => !matches(f, o),
        Filter::Leaf { path, op, value } => {
            let stored = match path.as_str() {
                "id" | "_id" => json!(format_uuid(&o.id)),
                "_creationTimeUnix" => json!(o.created.to_string()),
                "_lastUpdateTimeUnix" => json!(o.updated.to_string()),
                p => o.properties.get(p).cloned().unwrap_or(Value::Null),
            };
            leaf(op, &stored, value)
        }
    }
}

fn leaf(op: &str, stored: &Value, wanted: &Value) -> bool {
    // Array properties match when any element does.
    let items: Vec<&Value> = match stored {
        Value::Array(a) => a.iter().collect(),
        Value::Null => Vec::new(),
        v => vec![v],
    };
    let any = |pred: &dyn Fn(&Value) -> bool| items.iter().any(|v| pred(v));
    match op {
        "IsNull" => (items.is_empty()) == wanted.as_bool().unwrap_or(true),
        "Equal" => any(&|v| compare(v, wanted) == Ordering::Equal),
        "NotEqual" => !any(&|v| compare(v, wanted) == Ordering::Equal),
        "GreaterThan" => any(&|v| !v.is_null() && compare(v, wanted) == Ordering::Greater),
        "GreaterThanEqual" => any(&|v| !v.is_null() && compare(v, wanted) != Ordering::Less),
        "LessThan" => any(&|v| !v.is_null() && compare(v, wanted) == Ordering::Less),
        "LessThanEqual" => any(&|v| !v.is_null() && compare(v, wanted) != Ordering::Greater),
        "Like" => {
            let pattern = wanted.as_str().unwrap_or("").to_lowercase();
            any(&|v| {
                v.as_str()
                    .is_some_and(|s| like(pattern.as_bytes(), s.to_lowercase().as_bytes()))
            })
        }
        "ContainsAny" | "ContainsAll" | "ContainsNone" => {
            let wanted = wanted.as_array().map(Vec::as_slice).unwrap_or(&[]);
            let has = |w: &Value| any(&|v| compare(v, w) == Ordering::Equal);
            match op {
                "ContainsAny" => wanted.iter().any(has),
                "ContainsAll" => wanted.iter().all(has),
                _ => !wanted.iter().any(has),
            }
        }
        _ => false,
    }
}

/// `*` matches any run, `?` any one character.
fn like(pattern: &[u8], s: &[u8]) -> bool {
    match pattern.split_first() {
        None => s.is_empty(),
        Some((b'*', rest)) => (0..=s.len()).any(|i| like(rest, &s[i..])),
        Some((b'?', rest)) => !s.is_empty() && like(rest, &s[1..]),
        Some((c, rest)) => s.first() == Some(c) && like(rest, &s[1..]),
    }
}

/// Orders two JSON values for filters and sorting: numbers numerically, dates as instants,
/// other strings bytewise, `false` before `true`, `null` first.
pub(crate) fn compare(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => i.cmp(&j),
            _ => {
                let (x, y) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
                x.partial_cmp(&y).unwrap_or(Ordering::Equal)
            }
        },
        (Value::String(x), Value::String(y)) => match (instant(x), instant(y)) {
            (Some(i), Some(j)) => i.cmp(&j),
            _ => x.cmp(y),
        },
        (Value::Number(x), Value::String(y)) | (Value::String(y), Value::Number(x)) => {
            // A timestamp filter sends milliseconds as text.
            let o = y
                .parse::<f64>()
                .ok()
                .and_then(|y| x.as_f64()?.partial_cmp(&y))
                .unwrap_or(Ordering::Less);
            if a.is_number() {
                o
            } else {
                o.reverse()
            }
        }
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Less,
        (_, Value::Null) => Ordering::Greater,
        _ => a.to_string().cmp(&b.to_string()),
    }
}

/// An RFC3339 date as nanoseconds since the epoch, for ordering dates with offsets.
fn instant(s: &str) -> Option<i128> {
    let n = normalize_rfc3339(s)?;
    let b = n.as_bytes();
    let num = |r: std::ops::Range<usize>| -> i64 { n[r].parse().unwrap_or(0) };
    let days = days_from_civil(num(0..4), num(5..7), num(8..10));
    let mut secs = days * 86_400 + num(11..13) * 3600 + num(14..16) * 60 + num(17..19);
    let mut nanos: i128 = 0;
    let mut i = 19;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let digits = &n[start..i];
        nanos = format!("{digits:0<9}").parse().unwrap_or(0);
    }
    if b.get(i) != Some(&b'Z') {
        let sign = if b[i] == b'-' { -1 } else { 1 };
        secs -= sign * (num(i + 1..i + 3) * 3600 + num(i + 4..i + 6) * 60);
    }
    Some(i128::from(secs) * 1_000_000_000 + nanos)
}

/// (year, month, day) to days since 1970-01-01 (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_globs() {
        assert!(like(b"*", b""));
        assert!(like(b"*", b"c9e5b4d8-64b6"));
        assert!(like(b"c9*", b"c9e5"));
        assert!(like(b"c?e5", b"c9e5"));
        assert!(!like(b"c9", b"c9e5"));
    }

    #[test]
    fn compares_values() {
        assert_eq!(compare(&json!(2), &json!(10)), Ordering::Less);
        assert_eq!(compare(&json!(2.5), &json!(2)), Ordering::Greater);
        assert_eq!(
            compare(
                &json!("2024-01-01T01:00:00+02:00"),
                &json!("2024-01-01T00:00:00Z")
            ),
            Ordering::Less
        );
        assert_eq!(compare(&json!("b"), &json!("a")), Ordering::Greater);
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2024, 1, 1), 19_723);
    }
}
