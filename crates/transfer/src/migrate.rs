//! Fitting objects to an existing target class: the properties to add to it, and the value
//! conversions that make a stream written under one definition fit another
//! (docs/WHERE.md, "Type conversions on restore").
//!
//! [`Fit::apply`] works in two passes over the properties the target defines: the first only
//! reads, deciding whether anything must change and whether it may; the second, run only when
//! something must change, converts. So an object whose values already have the target's types
//! costs one read-only pass and no allocation, and a rejected object is left as it came in.

use std::collections::{HashMap, HashSet};

use ely_store::canonical_id;
use ely_store::names::property_name;
use serde_json::{Map, Number, Value};

use ely_vocab::date::parse as parse_date;
use ely_vocab::id;

/// Properties of `source` (the stream header's class definition) that `target` lacks, as
/// property definitions to add with `Store::add_property`. Names are compared as Weaviate
/// stores them, with the first letter lowercased (CONTRACT.md 1.2), and returned that way;
/// fields a server computes for itself (`bucketGeneration`, `searchableBlockmax`) are
/// dropped. A name the source defines twice is returned once.
pub fn missing_properties(source: &Value, target: &Value) -> Vec<Value> {
    let have: HashSet<String> = defs(target)
        .iter()
        .filter_map(|p| p.get("name").and_then(Value::as_str))
        .map(property_name)
        .collect();
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for p in defs(source) {
        let Some(obj) = p.as_object() else { continue };
        let Some(name) = obj.get("name").and_then(Value::as_str) else {
            continue;
        };
        let name = property_name(name);
        if have.contains(&name) || !seen.insert(name.clone()) {
            continue;
        }
        let mut def = Value::Object(obj.clone());
        def["name"] = Value::String(name);
        ely_store::schema::strip_property(&mut def);
        out.push(def);
    }
    out
}

fn defs(class: &Value) -> &[Value] {
    class
        .get("properties")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// Per-property target types, built once per collection from the target class definition.
#[derive(Clone, Debug, Default)]
pub struct Fit {
    /// By name as Weaviate stores it (first letter lowercased).
    props: HashMap<String, Target>,
}

#[derive(Clone, Debug)]
struct Target {
    kind: Kind,
    array: bool,
    /// The data type as the definition gives it (`string` read as `text`), for messages.
    data_type: String,
}

#[derive(Clone, Debug)]
enum Kind {
    Text,
    Int,
    Number,
    Boolean,
    Date,
    Uuid,
    Blob,
    Geo,
    Phone,
    /// A nested object, with the types of its nested properties.
    Object(Fit),
    /// Cross-references and types ely does not convert: left alone.
    Other,
}

/// What a scalar value needs to fit its target type.
enum Step {
    Keep,
    /// Its JSON text, as a string.
    ToText,
    ToInt(i64),
    ToFloat(f64),
    /// A string that holds an integer, as that integer.
    ToNumber(Number),
    ToBool(bool),
    /// A bare `YYYY-MM-DD`, as midnight UTC.
    DateMidnight,
    /// A date with a lowercase `t` or `z`, uppercased.
    DateUpper,
    UuidCanonical(String),
    /// A nested object some of whose properties need converting.
    Nested,
}

/// Why a value does not fit: where (a path below the property) and what.
struct Misfit {
    path: String,
    message: String,
}

impl Misfit {
    fn new(message: String) -> Misfit {
        Misfit {
            path: String::new(),
            message,
        }
    }

    fn under(mut self, prefix: &str) -> Misfit {
        self.path = if self.path.is_empty() {
            prefix.to_string()
        } else if self.path.starts_with('[') {
            format!("{prefix}{}", self.path)
        } else {
            format!("{prefix}.{}", self.path)
        };
        self
    }

    fn at_index(self, i: usize) -> Misfit {
        self.under(&format!("[{i}]"))
    }

    fn into_message(self) -> String {
        format!("property '{}': {}", self.path, self.message)
    }
}

impl Fit {
    /// The target types of the properties `target` (a class definition) defines.
    pub fn new(target: &Value) -> Fit {
        Fit::from_defs(defs(target))
    }

    fn from_defs(defs: &[Value]) -> Fit {
        let mut props = HashMap::new();
        for p in defs {
            let Some(name) = p.get("name").and_then(Value::as_str) else {
                continue;
            };
            props.insert(property_name(name), Target::of(p));
        }
        Fit { props }
    }

    /// Whether the target defines no properties (then `apply` changes nothing).
    pub fn is_empty(&self) -> bool {
        self.props.is_empty()
    }

    fn lookup(&self, key: &str) -> Option<&Target> {
        match self.props.get(key) {
            Some(t) => Some(t),
            None if key.chars().next().is_some_and(char::is_uppercase) => {
                self.props.get(&property_name(key))
            }
            None => None,
        }
    }

    /// Converts `properties` in place to the target's types. Lossless conversions always
    /// happen; a lossy one only when `lossy` is true, otherwise the result is `Err(reason)`,
    /// naming the property, the value and its type and the target type, e.g. "property
    /// 'year': 2024.5 (number) does not fit int without loss; use --lossy to convert".
    /// Values that can never fit (text that is not a date for a date property, ...) are
    /// always an error. On error `properties` is left unchanged. Properties the target does
    /// not define, and null values, are left alone.
    pub fn apply(&self, properties: &mut Map<String, Value>, lossy: bool) -> Result<(), String> {
        if self.props.is_empty() {
            return Ok(());
        }
        if self
            .plan_map(properties, lossy)
            .map_err(Misfit::into_message)?
        {
            self.convert_map(properties, lossy);
        }
        Ok(())
    }

    /// True when no property needs converting for objects written under `source` (a class
    /// definition): every property the target also defines has the same data type (nested
    /// properties compared likewise). False when unsure, e.g. when `source` lists no
    /// properties.
    pub fn is_identity_for(&self, source: &Value) -> bool {
        match source.get("properties").and_then(Value::as_array) {
            Some(defs) => self.identity_for_defs(defs),
            None => false,
        }
    }

    fn identity_for_defs(&self, defs: &[Value]) -> bool {
        defs.iter().all(|p| {
            let Some(name) = p.get("name").and_then(Value::as_str) else {
                return false;
            };
            let Some(t) = self.props.get(&property_name(name)) else {
                // Properties the target does not define are left alone.
                return true;
            };
            match &t.kind {
                Kind::Other => true,
                kind => {
                    let source = Target::of(p);
                    if source.data_type != t.data_type {
                        return false;
                    }
                    match (kind, &source.kind) {
                        (Kind::Object(target), Kind::Object(_)) => {
                            match p.get("nestedProperties").and_then(Value::as_array) {
                                Some(nested) => target.identity_for_defs(nested),
                                None => target.is_empty(),
                            }
                        }
                        _ => true,
                    }
                }
            }
        })
    }

    /// Whether any property of `m` needs converting; an error when one cannot be.
    fn plan_map(&self, m: &Map<String, Value>, lossy: bool) -> Result<bool, Misfit> {
        let mut change = false;
        for (key, value) in m {
            if let Some(t) = self.lookup(key) {
                change |= t.plan(value, lossy).map_err(|e| e.under(key))?;
            }
        }
        Ok(change)
    }

    fn convert_map(&self, m: &mut Map<String, Value>, lossy: bool) {
        for (key, value) in m.iter_mut() {
            if let Some(t) = self.lookup(key) {
                t.convert(value, lossy);
            }
        }
    }
}

impl Target {
    fn of(def: &Value) -> Target {
        let dt = def
            .get("dataType")
            .and_then(Value::as_array)
            .filter(|a| a.len() == 1)
            .and_then(|a| a[0].as_str())
            .unwrap_or("");
        let (base, array) = match dt.strip_suffix("[]") {
            Some(b) => (b, true),
            None => (dt, false),
        };
        let kind = match base {
            "text" | "string" => Kind::Text,
            "int" => Kind::Int,
            "number" => Kind::Number,
            "boolean" => Kind::Boolean,
            "date" => Kind::Date,
            "uuid" => Kind::Uuid,
            "blob" if !array => Kind::Blob,
            "geoCoordinates" if !array => Kind::Geo,
            "phoneNumber" if !array => Kind::Phone,
            "object" => Kind::Object(Fit::from_defs(
                def.get("nestedProperties")
                    .and_then(Value::as_array)
                    .map_or(&[], Vec::as_slice),
            )),
            _ => Kind::Other,
        };
        let data_type = match dt {
            "string" => "text".to_string(),
            "string[]" => "text[]".to_string(),
            _ => dt.to_string(),
        };
        Target {
            kind,
            array,
            data_type,
        }
    }

    /// The scalar type's name (`int` for `int[]`), for messages.
    fn scalar_name(&self) -> &str {
        self.data_type.trim_end_matches("[]")
    }

    /// Whether `v` needs converting; an error when it cannot be (or only with loss, and
    /// `lossy` is false).
    fn plan(&self, v: &Value, lossy: bool) -> Result<bool, Misfit> {
        if v.is_null() || matches!(self.kind, Kind::Other) {
            return Ok(false);
        }
        match (v, self.array) {
            (Value::Array(items), true) => {
                let mut change = false;
                for (i, item) in items.iter().enumerate() {
                    if !item.is_null() {
                        change |= !matches!(
                            self.step(item, lossy).map_err(|e| e.at_index(i))?,
                            Step::Keep
                        );
                    }
                }
                Ok(change)
            }
            (_, true) => {
                self.step(v, lossy)?;
                Ok(true)
            }
            (Value::Array(items), false) => {
                if items.len() > 1 && !lossy {
                    return Err(Misfit::new(format!(
                        "an array of {} elements does not fit {} without loss; use --lossy to keep the first element",
                        items.len(),
                        self.data_type
                    )));
                }
                if let Some(first) = items.first().filter(|f| !f.is_null()) {
                    self.step(first, lossy)?;
                }
                Ok(true)
            }
            (_, false) => Ok(!matches!(self.step(v, lossy)?, Step::Keep)),
        }
    }

    /// Converts `v`, which `plan` accepted.
    fn convert(&self, v: &mut Value, lossy: bool) {
        if v.is_null() || matches!(self.kind, Kind::Other) {
            return;
        }
        match (&mut *v, self.array) {
            (Value::Array(items), true) => {
                for item in items.iter_mut().filter(|i| !i.is_null()) {
                    self.convert_scalar(item, lossy);
                }
            }
            (_, true) => {
                self.convert_scalar(v, lossy);
                let one = std::mem::take(v);
                *v = Value::Array(vec![one]);
            }
            (Value::Array(items), false) => {
                // Empty: no value. Otherwise the first element (more than one only when lossy).
                let first = if items.is_empty() {
                    Value::Null
                } else {
                    items.swap_remove(0)
                };
                *v = first;
                if !v.is_null() {
                    self.convert_scalar(v, lossy);
                }
            }
            (_, false) => self.convert_scalar(v, lossy),
        }
    }

    fn convert_scalar(&self, v: &mut Value, lossy: bool) {
        let Ok(step) = self.step(v, lossy) else {
            return;
        };
        let new = match step {
            Step::Keep => return,
            Step::ToText => Value::String(v.to_string()),
            Step::ToInt(i) => Value::from(i),
            Step::ToFloat(f) => match Number::from_f64(f) {
                Some(n) => Value::Number(n),
                None => return,
            },
            Step::ToNumber(n) => Value::Number(n),
            Step::ToBool(b) => Value::Bool(b),
            Step::DateMidnight => match v.as_str() {
                Some(s) => Value::String(format!("{s}T00:00:00Z")),
                None => return,
            },
            Step::DateUpper => match v.as_str() {
                Some(s) => Value::String(s.to_ascii_uppercase()),
                None => return,
            },
            Step::UuidCanonical(s) => Value::String(s),
            Step::Nested => {
                if let (Kind::Object(fit), Value::Object(m)) = (&self.kind, v) {
                    fit.convert_map(m, lossy);
                }
                return;
            }
        };
        *v = new;
    }

    /// What a non-null scalar (or, for object types, object) value needs to fit.
    fn step(&self, v: &Value, lossy: bool) -> Result<Step, Misfit> {
        match (&self.kind, v) {
            (Kind::Other, _) | (Kind::Text, Value::String(_)) | (Kind::Blob, Value::String(_)) => {
                Ok(Step::Keep)
            }
            (Kind::Text, Value::Number(_) | Value::Bool(_)) => Ok(Step::ToText),
            (Kind::Int, Value::Number(n)) => self.int_from(n, v, lossy),
            (Kind::Int, Value::String(s)) => match parse_number(s) {
                Some((_, true)) => Err(self.never(v, "it is beyond int's 64-bit range")),
                Some((n, false)) => match self.int_from(&n, v, lossy)? {
                    Step::Keep => Ok(n.as_i64().map_or(Step::Keep, Step::ToInt)),
                    step => Ok(step),
                },
                None => Err(self.never(v, "it is not a number")),
            },
            (Kind::Number, Value::Number(n)) => self.number_from(n, v, lossy, false),
            (Kind::Number, Value::String(s)) => match parse_number(s) {
                Some((_, true)) if !lossy => Err(self.lossy(v)),
                Some((n, _)) => self.number_from(&n, v, lossy, true),
                None => Err(self.never(v, "it is not a number")),
            },
            (Kind::Boolean, Value::Bool(_)) => Ok(Step::Keep),
            (Kind::Boolean, Value::String(s)) => match s.as_str() {
                "true" => Ok(Step::ToBool(true)),
                "false" => Ok(Step::ToBool(false)),
                _ => Err(self.never(v, "only the text true or false converts to boolean")),
            },
            (Kind::Date, Value::String(s)) => date_step(s).ok_or_else(|| {
                self.never(
                    v,
                    "it is not an RFC 3339 date such as \"2024-01-02T03:04:05Z\" or \"2024-01-02\"",
                )
            }),
            (Kind::Uuid, Value::String(s)) => {
                if id::parse_loose(s).is_some_and(|u| id::canonical(u) == s.as_bytes()) {
                    return Ok(Step::Keep);
                }
                let bare = s
                    .strip_prefix('{')
                    .and_then(|r| r.strip_suffix('}'))
                    .unwrap_or(s);
                canonical_id(bare)
                    .map(Step::UuidCanonical)
                    .ok_or_else(|| self.never(v, "it is not a UUID"))
            }
            (Kind::Geo, Value::Object(_)) | (Kind::Phone, Value::Object(_)) => Ok(Step::Keep),
            (Kind::Object(fit), Value::Object(m)) => {
                if fit.plan_map(m, lossy)? {
                    Ok(Step::Nested)
                } else {
                    Ok(Step::Keep)
                }
            }
            _ => Err(self.never(v, "")),
        }
    }

    /// An integer value, or a float that is integral (lossless) or not (lossy: rounded half
    /// away from zero), within i64.
    fn int_from(&self, n: &Number, v: &Value, lossy: bool) -> Result<Step, Misfit> {
        if n.is_i64() {
            return Ok(Step::Keep);
        }
        if n.is_u64() {
            return Err(self.never(v, "it is beyond int's 64-bit range"));
        }
        let f = n.as_f64().unwrap_or(f64::NAN);
        let r = f.round();
        // -2^63 <= r < 2^63: the cast below is exact.
        if !(-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&r) {
            return Err(self.never(v, "it is beyond int's 64-bit range"));
        }
        if r == f || lossy {
            Ok(Step::ToInt(r as i64))
        } else {
            Err(self.lossy(v))
        }
    }

    /// A number: integers stay as they are when float64 holds them exactly, and otherwise
    /// (lossy) become the nearest float64. `from_text` when `n` was parsed from a string.
    fn number_from(
        &self,
        n: &Number,
        v: &Value,
        lossy: bool,
        from_text: bool,
    ) -> Result<Step, Misfit> {
        let exact_int = n
            .as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from));
        match exact_int {
            Some(i) => {
                let f = i as f64;
                if f as i128 == i {
                    Ok(if from_text {
                        Step::ToNumber(n.clone())
                    } else {
                        Step::Keep
                    })
                } else if lossy {
                    Ok(Step::ToFloat(f))
                } else {
                    Err(self.lossy(v))
                }
            }
            None => {
                let f = n.as_f64().unwrap_or(f64::NAN);
                if from_text {
                    Ok(Step::ToFloat(f))
                } else {
                    Ok(Step::Keep)
                }
            }
        }
    }

    fn lossy(&self, v: &Value) -> Misfit {
        Misfit::new(format!(
            "{} ({}) does not fit {} without loss; use --lossy to convert",
            show(v),
            type_name(v),
            self.scalar_name()
        ))
    }

    fn never(&self, v: &Value, why: &str) -> Misfit {
        let why = if why.is_empty() {
            String::new()
        } else {
            format!(": {why}")
        };
        Misfit::new(format!(
            "{} ({}) cannot be converted to {}{why}",
            show(v),
            type_name(v),
            self.scalar_name()
        ))
    }
}

/// What a string needs to be a date Weaviate accepts: nothing when it is RFC 3339 with an
/// uppercase `T` and `Z`; `None` when it is not a date at all.
fn date_step(s: &str) -> Option<Step> {
    parse_date(s, true)?;
    Some(if s.len() == 10 {
        Step::DateMidnight
    } else if s.bytes().any(|c| c == b't' || c == b'z') {
        Step::DateUpper
    } else {
        Step::Keep
    })
}

/// A string that is exactly a JSON number (no sign `+`, no spaces, no `.5`), as a number:
/// an integer when it is written as one and fits i64 or u64, otherwise a finite float; and
/// whether it is an integer too large for both (so the float only approximates it).
fn parse_number(s: &str) -> Option<(Number, bool)> {
    if !ely_store::is_json_number(s.as_bytes()) {
        return None;
    }
    let integral = !s.contains(['.', 'e', 'E']);
    if integral {
        if let Ok(n) = s.parse::<i64>() {
            return Some((n.into(), false));
        }
        if let Ok(n) = s.parse::<u64>() {
            return Some((n.into(), false));
        }
    }
    let f = s.parse::<f64>().ok().filter(|f| f.is_finite())?;
    Some((Number::from_f64(f)?, integral))
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "int",
        Value::String(_) => "text",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A value as JSON, shortened for a message.
fn show(v: &Value) -> String {
    const MAX: usize = 60;
    let s = v.to_string();
    if s.chars().count() <= MAX {
        return s;
    }
    let mut t: String = s.chars().take(MAX).collect();
    t.push_str("...");
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn class() -> Value {
        json!({"class": "T", "properties": [
            {"name": "title", "dataType": ["text"]},
            {"name": "legacy", "dataType": ["string"]},
            {"name": "tags", "dataType": ["text[]"]},
            {"name": "year", "dataType": ["int"]},
            {"name": "years", "dataType": ["int[]"]},
            {"name": "score", "dataType": ["number"]},
            {"name": "scores", "dataType": ["number[]"]},
            {"name": "done", "dataType": ["boolean"]},
            {"name": "flags", "dataType": ["boolean[]"]},
            {"name": "created", "dataType": ["date"]},
            {"name": "dates", "dataType": ["date[]"]},
            {"name": "ref", "dataType": ["uuid"]},
            {"name": "refs", "dataType": ["uuid[]"]},
            {"name": "loc", "dataType": ["geoCoordinates"]},
            {"name": "phone", "dataType": ["phoneNumber"]},
            {"name": "data", "dataType": ["blob"]},
            {"name": "author", "dataType": ["Author"]},
            {"name": "meta", "dataType": ["object"], "nestedProperties": [
                {"name": "n", "dataType": ["int"]},
                {"name": "inner", "dataType": ["object[]"], "nestedProperties": [
                    {"name": "d", "dataType": ["date"]}
                ]}
            ]},
            {"name": "Capital", "dataType": ["int"]}
        ]})
    }

    fn props(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    /// Applies the test class's Fit to one property.
    fn fit(name: &str, v: Value, lossy: bool) -> Result<Value, String> {
        let mut p = props(json!({ name: v }));
        Fit::new(&class()).apply(&mut p, lossy)?;
        Ok(p.remove(name).unwrap_or(Value::Null))
    }

    fn ok(name: &str, v: Value) -> Value {
        fit(name, v.clone(), false).unwrap_or_else(|e| panic!("{name} = {v}: {e}"))
    }

    fn fails(name: &str, v: Value, lossy: bool) -> String {
        match fit(name, v.clone(), lossy) {
            Ok(got) => panic!("{name} = {v} became {got}"),
            Err(e) => e,
        }
    }

    #[test]
    fn right_types_are_untouched() {
        let mut p = props(json!({
            "title": "x", "tags": ["a"], "year": 3, "years": [1, 2], "score": 2.5,
            "scores": [1, 2.5], "done": true, "flags": [false], "created": "2024-01-02T03:04:05+02:00",
            "dates": ["2024-01-02T03:04:05.5Z"], "ref": "6b29fc40-ca47-1067-b31d-00dd010662da",
            "refs": [], "loc": {"latitude": 1, "longitude": 2}, "phone": {"input": "020"},
            "data": "AAAA", "author": [{"beacon": "weaviate://localhost/Author/x"}],
            "meta": {"n": 1, "inner": [{"d": "2024-01-02T03:04:05Z"}]},
            "unknown": {"anything": [1, "x"]}, "n": null
        }));
        let before = p.clone();
        let f = Fit::new(&class());
        assert_eq!(f.plan_map(&p, false).ok(), Some(false));
        let mut result = Err(String::new());
        let n = crate::expr::tests::allocations(|| result = f.apply(&mut p, false));
        assert_eq!(result, Ok(()));
        assert_eq!(n, 0, "fitting values of the right types allocates nothing");
        assert_eq!(p, before);
    }

    #[test]
    fn numbers_convert_losslessly() {
        assert_eq!(ok("score", json!(3)), json!(3));
        assert_eq!(
            ok("score", json!(9007199254740992i64)),
            json!(9007199254740992i64)
        );
        // 2^60 is exact in float64.
        assert_eq!(
            ok("score", json!(1152921504606846976i64)),
            json!(1152921504606846976i64)
        );
        assert_eq!(ok("year", json!(3.0)), json!(3));
        assert!(ok("year", json!(3.0)).is_i64());
        assert_eq!(ok("year", json!(-0.0)), json!(0));
        assert_eq!(ok("year", json!(1e18)), json!(1_000_000_000_000_000_000i64));
        assert_eq!(ok("years", json!([1.0, 2, null])), json!([1, 2, null]));
    }

    #[test]
    fn lossy_number_conversions() {
        assert_eq!(
            fails("year", json!(2024.5), false),
            "property 'year': 2024.5 (number) does not fit int without loss; use --lossy to convert"
        );
        assert_eq!(fit("year", json!(2024.5), true), Ok(json!(2025)));
        assert_eq!(fit("year", json!(-2.5), true), Ok(json!(-3)));
        assert_eq!(fit("year", json!(2.4), true), Ok(json!(2)));
        assert_eq!(fit("year", json!(-2.6), true), Ok(json!(-3)));
        assert_eq!(
            fails("score", json!(9007199254740993u64), false),
            "property 'score': 9007199254740993 (int) does not fit number without loss; use --lossy to convert"
        );
        assert_eq!(
            fit("score", json!(9007199254740993u64), true),
            Ok(json!(9007199254740992.0))
        );
        assert_eq!(
            fails("years", json!([1, 2.5]), false),
            "property 'years[1]': 2.5 (number) does not fit int without loss; use --lossy to convert"
        );
        assert_eq!(fit("years", json!([1, 2.5]), true), Ok(json!([1, 3])));
    }

    #[test]
    fn out_of_range_ints_are_never_converted() {
        for lossy in [false, true] {
            assert_eq!(
                fails("year", json!(18446744073709551615u64), lossy),
                "property 'year': 18446744073709551615 (int) cannot be converted to int: it is beyond int's 64-bit range"
            );
            assert!(fails("year", json!(1e19), lossy).contains("beyond int's 64-bit range"));
            assert!(fails("year", json!("1e300"), lossy).contains("beyond int's 64-bit range"));
        }
        assert_eq!(ok("year", json!(-9223372036854775808.0)), json!(i64::MIN));
        // Through float64 this text would be exactly -2^63.
        assert!(fails("year", json!("-9223372036854775809"), true)
            .contains("beyond int's 64-bit range"));
        assert!(fails("score", json!("123456789012345678901"), false).contains("without loss"));
        assert_eq!(
            fit("score", json!("123456789012345678901"), true),
            Ok(json!(123456789012345678901.0))
        );
    }

    #[test]
    fn scalars_and_arrays() {
        assert_eq!(ok("tags", json!("a")), json!(["a"]));
        assert_eq!(ok("years", json!(3)), json!([3]));
        assert_eq!(ok("years", json!(3.0)), json!([3]));
        assert_eq!(ok("flags", json!(true)), json!([true]));
        assert_eq!(ok("tags", json!(5)), json!(["5"]));
        assert_eq!(
            ok("dates", json!("2024-01-02")),
            json!(["2024-01-02T00:00:00Z"])
        );
        assert_eq!(ok("title", json!(["a"])), json!("a"));
        assert_eq!(ok("year", json!([7])), json!(7));
        assert_eq!(ok("year", json!(["7"])), json!(7));
        assert_eq!(ok("title", json!([])), Value::Null);
        assert_eq!(ok("title", json!([null])), Value::Null);
        assert_eq!(
            fails("title", json!(["a", "b", "c"]), false),
            "property 'title': an array of 3 elements does not fit text without loss; use --lossy to keep the first element"
        );
        assert_eq!(fit("title", json!(["a", "b"]), true), Ok(json!("a")));
        assert_eq!(fit("year", json!([1.5, 2]), true), Ok(json!(2)));
        assert!(fails("year", json!([1.5, 2]), false).contains("an array of 2 elements"));
        assert!(fails("year", json!(["x", 2]), true)
            .contains("\"x\" (text) cannot be converted to int"));
    }

    #[test]
    fn to_and_from_text() {
        assert_eq!(ok("title", json!(3)), json!("3"));
        assert_eq!(ok("title", json!(2.5)), json!("2.5"));
        assert_eq!(ok("title", json!(true)), json!("true"));
        assert_eq!(ok("legacy", json!(false)), json!("false"));
        assert_eq!(
            ok("title", json!(9007199254740993u64)),
            json!("9007199254740993")
        );
        assert_eq!(ok("year", json!("42")), json!(42));
        assert_eq!(ok("year", json!("-42")), json!(-42));
        assert_eq!(ok("year", json!("42.0")), json!(42));
        assert_eq!(ok("year", json!("1e3")), json!(1000));
        assert_eq!(ok("score", json!("2.5")), json!(2.5));
        assert_eq!(ok("score", json!("7")), json!(7));
        assert_eq!(ok("score", json!("-0.125e1")), json!(-1.25));
        assert_eq!(ok("done", json!("true")), json!(true));
        assert_eq!(ok("done", json!("false")), json!(false));
        assert_eq!(ok("flags", json!(["true", false])), json!([true, false]));
        assert_eq!(
            fails("year", json!("2024.5"), false),
            "property 'year': \"2024.5\" (text) does not fit int without loss; use --lossy to convert"
        );
        assert_eq!(fit("year", json!("2024.5"), true), Ok(json!(2025)));
        assert!(fails("score", json!("9007199254740993"), false)
            .contains("does not fit number without loss"));
        for bad in [
            " 42", "42 ", "+1", ".5", "1.", "0x10", "", "1_000", "NaN", "inf", "01",
        ] {
            let e = fails("year", json!(bad), true);
            assert!(
                e.contains("(text) cannot be converted to int: it is not a number"),
                "{bad}: {e}"
            );
            assert!(fails("score", json!(bad), true).contains("it is not a number"));
        }
        assert_eq!(
            fails("done", json!("yes"), true),
            "property 'done': \"yes\" (text) cannot be converted to boolean: only the text true or false converts to boolean"
        );
        assert!(fails("done", json!("True"), true).contains("cannot be converted to boolean"));
        assert!(fails("done", json!(1), true).contains("1 (int) cannot be converted to boolean"));
        assert!(fails("title", json!({"a": 1}), true)
            .contains("{\"a\":1} (object) cannot be converted to text"));
        assert!(
            fails("year", json!(true), true).contains("true (boolean) cannot be converted to int")
        );
    }

    #[test]
    fn dates() {
        assert_eq!(
            ok("created", json!("2024-01-02")),
            json!("2024-01-02T00:00:00Z")
        );
        assert_eq!(
            ok("created", json!("2024-01-02t03:04:05.5z")),
            json!("2024-01-02T03:04:05.5Z")
        );
        assert_eq!(
            ok("created", json!("2024-01-02T03:04:05-07:30")),
            json!("2024-01-02T03:04:05-07:30")
        );
        assert_eq!(
            ok("dates", json!(["2024-01-02", "2024-01-03T00:00:00Z"])),
            json!(["2024-01-02T00:00:00Z", "2024-01-03T00:00:00Z"])
        );
        for lossy in [false, true] {
            assert_eq!(
                fails("created", json!("yesterday"), lossy),
                "property 'created': \"yesterday\" (text) cannot be converted to date: it is not an RFC 3339 date such as \"2024-01-02T03:04:05Z\" or \"2024-01-02\""
            );
            assert!(fails("created", json!("2024-02-30"), lossy).contains("not an RFC 3339 date"));
            assert!(fails("created", json!("2024-01-02 03:04:05Z"), lossy)
                .contains("not an RFC 3339 date"));
            assert!(fails("created", json!(1700000000), lossy)
                .contains("1700000000 (int) cannot be converted to date"));
            assert!(fails("dates", json!(["2024-01-02", "x"]), lossy)
                .starts_with("property 'dates[1]': \"x\""));
        }
    }

    #[test]
    fn uuids() {
        let c = "6b29fc40-ca47-1067-b31d-00dd010662da";
        assert_eq!(ok("ref", json!(c)), json!(c));
        assert_eq!(
            ok("ref", json!("6B29FC40-CA47-1067-B31D-00DD010662DA")),
            json!(c)
        );
        assert_eq!(
            ok("ref", json!("{6B29FC40-CA47-1067-B31D-00DD010662DA}")),
            json!(c)
        );
        assert_eq!(
            ok("ref", json!("6b29fc40ca471067b31d00dd010662da")),
            json!(c)
        );
        assert_eq!(
            ok("refs", json!(["{6b29fc40-ca47-1067-b31d-00dd010662da}"])),
            json!([c])
        );
        assert_eq!(
            ok("refs", json!("6B29FC40CA471067B31D00DD010662DA")),
            json!([c])
        );
        assert_eq!(
            fails("ref", json!("not-a-uuid"), true),
            "property 'ref': \"not-a-uuid\" (text) cannot be converted to uuid: it is not a UUID"
        );
        assert!(fails("ref", json!(5), true).contains("cannot be converted to uuid"));
    }

    #[test]
    fn other_types() {
        assert!(fails("loc", json!("52,4"), true).contains("cannot be converted to geoCoordinates"));
        assert!(fails("phone", json!(5), true).contains("cannot be converted to phoneNumber"));
        assert!(fails("data", json!(5), true).contains("cannot be converted to blob"));
        // Cross-references are left to Weaviate.
        assert_eq!(ok("author", json!("whatever")), json!("whatever"));
        assert_eq!(ok("unknown", json!(2.5)), json!(2.5));
        assert_eq!(ok("title", Value::Null), Value::Null);
        assert_eq!(ok("year", Value::Null), Value::Null);
    }

    #[test]
    fn nested_objects_convert_recursively() {
        assert_eq!(
            ok(
                "meta",
                json!({"n": "5", "inner": {"d": "2024-01-02"}, "extra": 1.5})
            ),
            json!({"n": 5, "inner": [{"d": "2024-01-02T00:00:00Z"}], "extra": 1.5})
        );
        assert_eq!(ok("meta", json!([{"n": 2.0}])), json!({"n": 2}));
        assert_eq!(
            fails("meta", json!({"n": 1, "inner": [{"d": "2024-01-02"}, {"d": "soon"}]}), false),
            "property 'meta.inner[1].d': \"soon\" (text) cannot be converted to date: it is not an RFC 3339 date such as \"2024-01-02T03:04:05Z\" or \"2024-01-02\""
        );
        assert_eq!(
            fails("meta", json!({"n": 1.5}), false),
            "property 'meta.n': 1.5 (number) does not fit int without loss; use --lossy to convert"
        );
        assert!(
            fails("meta", json!("x"), true).contains("\"x\" (text) cannot be converted to object")
        );
    }

    #[test]
    fn rejected_objects_are_left_unchanged() {
        let mut p = props(json!({"year": 3.0, "title": 5, "created": "never"}));
        let before = p.clone();
        assert!(Fit::new(&class()).apply(&mut p, true).is_err());
        assert_eq!(p, before);
    }

    #[test]
    fn keys_with_an_uppercase_first_letter_find_their_property() {
        let mut p = props(json!({"Year": "3", "capital": 4.0, "Capital": "5"}));
        Fit::new(&class()).apply(&mut p, false).unwrap();
        assert_eq!(p["Year"], json!(3));
        assert_eq!(p["capital"], json!(4));
        assert_eq!(p["Capital"], json!(5));
    }

    #[test]
    fn long_values_are_shortened_in_messages() {
        let long = "x".repeat(500);
        let e = fails("created", json!(long), false);
        assert!(e.len() < 250, "{e}");
        assert!(
            e.contains("...\" (text)") || e.contains("... (text)"),
            "{e}"
        );
    }

    #[test]
    fn missing_properties_compare_names_as_weaviate_stores_them() {
        let source = json!({"properties": [
            {"name": "Title", "dataType": ["text"]},
            {"name": "year", "dataType": ["int"], "bucketGeneration": 3},
            {"name": "Body", "dataType": ["text"], "tokenization": "word", "searchableBlockmax": true},
            {"name": "body", "dataType": ["text"]},
            {"name": "meta", "dataType": ["object"], "nestedProperties": [
                {"name": "a", "dataType": ["int"], "bucketGeneration": 1}
            ]},
            {"name": "sUMMARY", "dataType": ["text"]},
            "garbage",
            {"dataType": ["text"]}
        ]});
        let target = json!({"properties": [
            {"name": "title", "dataType": ["text"]},
            {"name": "Summary", "dataType": ["text"]}
        ]});
        let missing = missing_properties(&source, &target);
        assert_eq!(
            missing,
            vec![
                json!({"name": "year", "dataType": ["int"]}),
                json!({"name": "body", "dataType": ["text"], "tokenization": "word"}),
                json!({"name": "meta", "dataType": ["object"], "nestedProperties": [{"name": "a", "dataType": ["int"]}]}),
                json!({"name": "sUMMARY", "dataType": ["text"]}),
            ]
        );
        assert!(missing_properties(&target, &target).is_empty());
        assert_eq!(missing_properties(&source, &json!({})).len(), 5);
        assert!(missing_properties(&json!({}), &target).is_empty());
    }

    #[test]
    fn identity() {
        let target = class();
        let f = Fit::new(&target);
        assert!(f.is_identity_for(&target));
        assert!(f.is_identity_for(&json!({"properties": [
            {"name": "Title", "dataType": ["string"]},
            {"name": "brandNew", "dataType": ["number"]},
            {"name": "author", "dataType": ["Other"]}
        ]})));
        assert!(
            !f.is_identity_for(&json!({"properties": [{"name": "year", "dataType": ["number"]}]}))
        );
        assert!(
            !f.is_identity_for(&json!({"properties": [{"name": "tags", "dataType": ["text"]}]}))
        );
        assert!(!f.is_identity_for(
            &json!({"properties": [{"name": "meta", "dataType": ["object"],
            "nestedProperties": [{"name": "n", "dataType": ["number"]}]}]})
        ));
        assert!(f.is_identity_for(&json!({"properties": [{"name": "meta", "dataType": ["object"],
            "nestedProperties": [{"name": "n", "dataType": ["int"]}, {"name": "z", "dataType": ["text"]}]}]})));
        assert!(!f.is_identity_for(&json!({"properties": [{"dataType": ["int"]}]})));
        assert!(!f.is_identity_for(&json!({"class": "NoProperties"})));
        assert!(Fit::new(&json!({})).is_identity_for(&target));
        assert!(Fit::new(&json!({})).is_empty());
    }

    #[test]
    fn random_values_never_panic() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let values = [
            json!(null),
            json!(1),
            json!(-1),
            json!(2.5),
            json!(1e300),
            json!(u64::MAX),
            json!(i64::MIN),
            json!("x"),
            json!("2024-01-02"),
            json!("1.5"),
            json!("true"),
            json!([]),
            json!([1, "a"]),
            json!({"n": "2"}),
            json!([{"d": "x"}]),
            json!(true),
            json!("6B29FC40CA471067B31D00DD010662DA"),
            json!("2024-01-02t00:00:00z"),
        ];
        let names: Vec<String> = crate::migrate::defs(&class())
            .iter()
            .filter_map(|p| p["name"].as_str().map(str::to_owned))
            .collect();
        let f = Fit::new(&class());
        for _ in 0..20_000 {
            let name = &names[(next() % names.len() as u64) as usize];
            let v = values[(next() % values.len() as u64) as usize].clone();
            let mut p = Map::new();
            p.insert(name.clone(), v);
            let lossy = next() % 2 == 0;
            if f.apply(&mut p, lossy).is_ok() {
                // A converted object fits: converting again changes nothing.
                let again = p.clone();
                assert_eq!(f.apply(&mut p, lossy), Ok(()));
                assert_eq!(p, again);
            }
        }
    }
}
