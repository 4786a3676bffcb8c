//! Object properties: checking each value against its property's data type and normalising it
//! as Weaviate stores it (CONTRACT.md §9), and auto-schema, which adds the classes and
//! properties an object needs from the values it carries (§6.2).

use crate::datatypes::is_ref_type;
use crate::floats::FloatFixups;
use crate::schema;
use crate::state::{geo_json, Class, State};
use crate::util::{
    ansic_now, format_uuid, go_display, go_type_name, is_base64, lower_first, normalize_rfc3339,
    parse_uuid, upper_first,
};
use serde_json::{json, Map, Value};

/// What a property check needs besides the value.
pub(crate) struct Check<'a> {
    pub state: &'a State,
    pub class: &'a Class,
    pub tenant: Option<&'a str>,
    pub fixups: &'a FloatFixups,
}

/// Validates and normalises an object's properties: keys get their first letter lowercased,
/// `null` values are dropped, every value must fit its property's data type.
pub(crate) fn validate(
    check: &Check,
    props: &Map<String, Value>,
) -> Result<Map<String, Value>, String> {
    let cname = check.class.name();
    let mut out = Map::new();
    for (key, value) in props {
        if value.is_null() {
            continue;
        }
        let key = lower_first(key);
        let prop = check.class.property(&key).ok_or_else(|| {
            format!("no such prop with name '{key}' found in class '{cname}' in the schema. Check your schema files for which properties in this class are available")
        })?;
        let v = check_value(check, prop, &key, value)?;
        out.insert(key, v);
    }
    Ok(out)
}

fn data_type(prop: &Map<String, Value>) -> Vec<&str> {
    prop.get("dataType")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn check_value(
    check: &Check,
    prop: &Map<String, Value>,
    name: &str,
    v: &Value,
) -> Result<Value, String> {
    let cname = check.class.name();
    let dt = data_type(prop);
    let first = dt.first().copied().unwrap_or("");
    if is_ref_type(first) {
        return check_refs(check, &dt, name, v);
    }
    let base = first.trim_end_matches("[]");
    let array = first.ends_with("[]");
    let what = match base {
        "text" | "string" => "text",
        "int" => "integer",
        "number" => "number",
        "boolean" => "boolean",
        "date" => "date",
        "uuid" => "uuid",
        other => other,
    };
    let err = |detail: String| {
        let arr = if array { " array" } else { "" };
        format!("invalid {what}{arr} property '{name}' on class '{cname}': {detail}")
    };
    if array {
        let items = v
            .as_array()
            .ok_or_else(|| err(format!("not an array, but {}", go_type_name(v))))?;
        let out = items
            .iter()
            .map(|item| scalar(check, base, prop, item).map_err(&err))
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(Value::Array(out));
    }
    scalar(check, base, prop, v).map_err(err)
}

/// Checks one non-array value of a primitive type; the error is the detail after the prefix.
fn scalar(
    check: &Check,
    base: &str,
    prop: &Map<String, Value>,
    v: &Value,
) -> Result<Value, String> {
    match base {
        "text" | "string" => match v {
            Value::String(_) => Ok(v.clone()),
            _ => Err(format!("not a string, but {}", go_type_name(v))),
        },
        "int" => match v {
            // Integers stay as written: never through f64 (CONTRACT.md §9).
            Value::Number(n) if n.is_i64() || n.is_u64() => Ok(v.clone()),
            _ => Err(format!(
                "requires an integer, the given value is '{}'",
                go_display(v)
            )),
        },
        "number" => match v {
            Value::Number(_) => Ok(v.clone()),
            _ => Err(format!(
                "requires a float, the given value is '{}'",
                go_display(v)
            )),
        },
        "boolean" => match v {
            Value::Bool(_) => Ok(v.clone()),
            _ => Err(format!("not a boolean, but {}", go_type_name(v))),
        },
        "date" => v
            .as_str()
            .and_then(normalize_rfc3339)
            .map(Value::String)
            .ok_or_else(|| {
                format!(
                    "requires a string with a RFC3339 formatted date, but the given value is '{}'",
                    go_display(v)
                )
            }),
        "uuid" => v
            .as_str()
            .and_then(|s| parse_uuid(s).ok())
            .map(|id| Value::String(format_uuid(&id)))
            .ok_or_else(|| {
                format!(
                    "requires a string of UUID format, but the given value is '{}'",
                    go_display(v)
                )
            }),
        "geoCoordinates" => {
            let coord = |k: &str| {
                v.get(k)
                    .and_then(|x| check.fixups.f32(x))
                    .ok_or_else(|| format!("{k} is missing or not a float32"))
            };
            Ok(geo_json(coord("latitude")?, coord("longitude")?))
        }
        "phoneNumber" => {
            let input = v
                .get("input")
                .and_then(Value::as_str)
                .ok_or("input is missing")?;
            let mut out = json!({"input": input});
            if let Some(c) = v.get("defaultCountry").and_then(Value::as_str) {
                out["defaultCountry"] = json!(c);
            }
            Ok(out)
        }
        "blob" => match v.as_str() {
            Some(s) if is_base64(s) => Ok(v.clone()),
            _ => Err("not a valid blob base64 string".into()),
        },
        "blobHash" => match v {
            Value::String(_) => Ok(v.clone()),
            _ => Err(format!("not a string, but {}", go_type_name(v))),
        },
        "object" => {
            let obj = v
                .as_object()
                .ok_or_else(|| format!("not an object, but {}", go_type_name(v)))?;
            let nested: Vec<&Map<String, Value>> = prop
                .get("nestedProperties")
                .and_then(Value::as_array)
                .map(|l| l.iter().filter_map(Value::as_object).collect())
                .unwrap_or_default();
            let mut out = Map::new();
            for (k, x) in obj {
                if x.is_null() {
                    continue;
                }
                let np = nested
                    .iter()
                    .find(|p| p.get("name").and_then(Value::as_str) == Some(k))
                    .ok_or_else(|| format!("unknown property '{k}'"))?;
                let ndt = data_type(np);
                let nfirst = ndt.first().copied().unwrap_or("");
                let nbase = nfirst.trim_end_matches("[]");
                let value = if nfirst.ends_with("[]") {
                    let items = x
                        .as_array()
                        .ok_or_else(|| format!("property '{k}': not an array"))?;
                    Value::Array(
                        items
                            .iter()
                            .map(|i| scalar(check, nbase, np, i))
                            .collect::<Result<_, _>>()
                            .map_err(|e| format!("property '{k}': {e}"))?,
                    )
                } else {
                    scalar(check, nbase, np, x).map_err(|e| format!("property '{k}': {e}"))?
                };
                out.insert(k.clone(), value);
            }
            Ok(Value::Object(out))
        }
        other => Err(format!("unsupported data type '{other}'")),
    }
}

/// A beacon `weaviate://localhost/<Class>/<uuid>` or `weaviate://localhost/<uuid>`.
pub(crate) fn parse_beacon(beacon: &str) -> Result<(Option<String>, [u8; 16]), String> {
    let rest = beacon
        .strip_prefix("weaviate://localhost/")
        .ok_or_else(|| {
            format!("invalid cref URI: {beacon:?} is not a weaviate://localhost/ beacon")
        })?;
    let mut parts = rest.split('/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(id), None, None) => Ok((
            None,
            parse_uuid(id).map_err(|e| format!("invalid cref URI: {e}"))?,
        )),
        (Some(class), Some(id), None) => Ok((
            Some(class.to_string()),
            parse_uuid(id).map_err(|e| format!("invalid cref URI: {e}"))?,
        )),
        _ => Err(format!("invalid cref URI: unexpected beacon {beacon:?}")),
    }
}

/// Inline cross-references: an array of beacons whose targets must exist (CONTRACT.md §9).
fn check_refs(check: &Check, targets: &[&str], name: &str, v: &Value) -> Result<Value, String> {
    let cname = check.class.name();
    let items = match v {
        Value::Array(items) => items,
        Value::Object(_) => {
            return Err("invalid cref: reference must be an array, but got a map".into())
        }
        other => {
            return Err(format!(
                "invalid cref: reference must be an array, but got {}",
                go_type_name(other)
            ))
        }
    };
    let mut out = Vec::new();
    for item in items {
        let beacon = item
            .get("beacon")
            .and_then(Value::as_str)
            .ok_or("invalid cref: each reference needs a beacon")?;
        let (class, id) = parse_beacon(beacon).map_err(|e| format!("invalid cref: {e}"))?;
        let class = match class {
            Some(c) => upper_first(&c),
            None if targets.len() == 1 => targets[0].to_string(),
            None => {
                return Err(
                    "invalid cref: multi-target references require the class name in the target beacon url"
                        .into(),
                )
            }
        };
        if !check.state.object_exists(&class, check.tenant, &id) {
            return Err(format!(
                "invalid cref: 'cref' {cname}:{name}: no object with id {} found",
                format_uuid(&id)
            ));
        }
        out.push(json!({"beacon": format!("weaviate://localhost/{class}/{}", format_uuid(&id))}));
    }
    Ok(Value::Array(out))
}

// ---------------------------------------------------------------------------------------------
// Auto-schema

fn generated_description() -> String {
    format!(
        "This property was generated by Weaviate's auto-schema feature on {}",
        ansic_now()
    )
}

/// Creates the object's class if it is missing and adds the properties it lacks, inferring
/// their types from the values (CONTRACT.md §6.2).
pub(crate) fn auto_schema(
    state: &mut State,
    class: &str,
    props: &Map<String, Value>,
) -> Result<(), String> {
    let cname = upper_first(class);
    if !state.classes.contains_key(&cname) {
        let def = schema::auto_class(state, &cname, &generated_description())?;
        state.classes.insert(cname.clone(), Class::new(def));
    }
    for (key, value) in props {
        let key = lower_first(key);
        let existing = state
            .classes
            .get(&cname)
            .and_then(|c| c.property(&key))
            .cloned();
        match existing {
            None => {
                let inferred = infer(state, &key, value)?;
                let prop = schema::normalize_property(state, &cname, &Value::Object(inferred))?;
                // A name differing only in case from an existing property: leave it to
                // validation, which reports the unknown property.
                let _ = schema::add_to_class(state, &cname, prop);
            }
            Some(prop) => {
                let dt = data_type(&prop).first().copied().unwrap_or("").to_string();
                if dt == "object" || dt == "object[]" {
                    let mut nested = prop
                        .get("nestedProperties")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default();
                    let before = nested.len();
                    let values: Vec<&Value> = match value {
                        Value::Array(items) if dt == "object[]" => items.iter().collect(),
                        v => vec![v],
                    };
                    for v in values {
                        merge_nested(state, &mut nested, v)?;
                    }
                    if nested.len() != before {
                        set_nested(state, &cname, &key, nested);
                    }
                }
            }
        }
    }
    Ok(())
}

fn set_nested(state: &mut State, class: &str, prop: &str, nested: Vec<Value>) {
    let Some(Value::Array(list)) = state
        .classes
        .get_mut(class)
        .and_then(|c| c.def.get_mut("properties"))
    else {
        return;
    };
    for p in list.iter_mut().filter_map(Value::as_object_mut) {
        if p.get("name").and_then(Value::as_str) == Some(prop) {
            p.insert("nestedProperties".into(), Value::Array(nested));
            return;
        }
    }
}

/// Adds nested properties a value has and the definition lacks.
fn merge_nested(state: &State, nested: &mut Vec<Value>, value: &Value) -> Result<(), String> {
    let Some(obj) = value.as_object() else {
        return Ok(());
    };
    for (k, v) in obj {
        let known = nested
            .iter()
            .any(|p| p.get("name").and_then(Value::as_str) == Some(k));
        if !known && !v.is_null() {
            let mut np = infer_nested(state, k, v)?;
            np.insert("description".into(), json!(generated_description()));
            nested.push(Value::Object(np));
        }
    }
    Ok(())
}

fn infer(state: &State, name: &str, value: &Value) -> Result<Map<String, Value>, String> {
    let mut p = Map::new();
    p.insert("name".into(), json!(name));
    p.insert("description".into(), json!(generated_description()));
    let (dt, nested) = infer_type(state, value, false)?;
    p.insert("dataType".into(), dt);
    if let Some(n) = nested {
        p.insert("nestedProperties".into(), n);
    }
    Ok(p)
}

fn infer_nested(state: &State, name: &str, value: &Value) -> Result<Map<String, Value>, String> {
    let mut p = Map::new();
    p.insert("name".into(), json!(name));
    let (dt, nested) = infer_type(state, value, true)?;
    p.insert("dataType".into(), dt);
    if let Some(n) = nested {
        p.insert("nestedProperties".into(), n);
    }
    Ok(p)
}

fn scalar_type(v: &Value, nested: bool) -> &'static str {
    match v {
        Value::Null => "text",
        Value::String(s) if normalize_rfc3339(s).is_some() => "date",
        Value::String(s) if parse_uuid(s).is_ok() => "uuid",
        Value::String(_) => "text",
        Value::Number(_) => "number",
        Value::Bool(_) => "boolean",
        Value::Object(m) if !nested && is_geo(m) => "geoCoordinates",
        Value::Object(m) if !nested && is_phone(m) => "phoneNumber",
        Value::Object(_) => "object",
        Value::Array(_) => "array",
    }
}

fn is_geo(m: &Map<String, Value>) -> bool {
    m.len() == 2 && m.contains_key("latitude") && m.contains_key("longitude")
}

fn is_phone(m: &Map<String, Value>) -> bool {
    m.contains_key("input") && m.keys().all(|k| k == "input" || k == "defaultCountry")
}

/// The data type (and nested properties) auto-schema gives a value.
fn infer_type(
    state: &State,
    value: &Value,
    nested: bool,
) -> Result<(Value, Option<Value>), String> {
    let kind = scalar_type(value, nested);
    match (kind, value) {
        ("object", v) => {
            let mut props = Vec::new();
            merge_nested(state, &mut props, v)?;
            if props.is_empty() {
                return Err(
                    "auto-schema: an object property needs at least one nested property".into(),
                );
            }
            Ok((json!(["object"]), Some(Value::Array(props))))
        }
        ("array", Value::Array(items)) => {
            let Some(first) = items.first() else {
                return Ok((json!(["text[]"]), None));
            };
            if let Some(beacon) = first.get("beacon").and_then(Value::as_str) {
                let (class, _) = parse_beacon(beacon)?;
                let class = class.ok_or(
                    "auto-schema: a reference needs the class name in its beacon to infer its type",
                )?;
                return Ok((json!([upper_first(&class)]), None));
            }
            let expected = scalar_type(first, true);
            for (i, item) in items.iter().enumerate() {
                let got = scalar_type(item, true);
                if got != expected {
                    return Err(format!(
                        "element [{i}]: mismatched data type - '{expected}' expected, got '{got}'"
                    ));
                }
            }
            match expected {
                "object" => {
                    let mut props = Vec::new();
                    for item in items {
                        merge_nested(state, &mut props, item)?;
                    }
                    Ok((json!(["object[]"]), Some(Value::Array(props))))
                }
                "array" => Err("auto-schema: nested arrays are not supported".into()),
                t => Ok((json!([format!("{t}[]")]), None)),
            }
        }
        (t, _) => Ok((json!([t]), None)),
    }
}
