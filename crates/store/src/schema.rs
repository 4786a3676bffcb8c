//! Class definitions: names normalised as Weaviate does, the facts both stores need from a
//! definition (multi-tenancy, named vectors), the server-only fields stripped for export
//! (CONTRACT.md 12), and the property types auto-schema infers from values (CONTRACT.md 6.2).

use serde_json::{json, Map, Value};

use crate::names::{check_class_name, check_property_name, class_name, property_name};

/// A class definition with its names normalised and checked.
pub fn normalize_class(def: &Value) -> Result<Value, String> {
    let mut def = def.clone();
    let Some(obj) = def.as_object_mut() else {
        return Err("a class definition must be a JSON object".into());
    };
    let name = class_name(obj.get("class").and_then(Value::as_str).unwrap_or(""));
    check_class_name(&name)?;
    if let Some(problem) = vectorizer_problem(obj) {
        return Err(format!("class {name}: {problem}"));
    }
    obj.insert("class".into(), Value::String(name.clone()));
    if let Some(props) = obj.get_mut("properties").and_then(Value::as_array_mut) {
        let mut seen = std::collections::HashSet::new();
        for p in props {
            normalize_property(p)?;
            let pname = p["name"].as_str().unwrap_or("").to_ascii_lowercase();
            if !seen.insert(pname) {
                return Err(format!(
                    "class \"{name}\": conflict for property \"{}\": already in use or provided multiple times",
                    p["name"].as_str().unwrap_or("")
                ));
            }
        }
    }
    if obj.contains_key("vectorConfig")
        && ["vectorizer", "vectorIndexType", "vectorIndexConfig"]
            .iter()
            .any(|k| obj.get(*k).is_some_and(|v| !v.is_null()))
    {
        return Err(format!(
            "class {name}: a class cannot have both a legacy vector (vectorizer, vectorIndexType, vectorIndexConfig) and named vectors (vectorConfig)"
        ));
    }
    Ok(def)
}

/// A property definition with its name normalised and checked.
pub fn normalize_property(p: &mut Value) -> Result<(), String> {
    let Some(obj) = p.as_object_mut() else {
        return Err("a property definition must be a JSON object".into());
    };
    let name = property_name(obj.get("name").and_then(Value::as_str).unwrap_or(""));
    check_property_name(&name)?;
    // Weaviate refuses a data type it does not know; so does the embedded store (a damaged
    // definition must not become a collection).
    if let Some(types) = obj.get("dataType") {
        let names: Option<Vec<&str>> = types
            .as_array()
            .and_then(|t| t.iter().map(Value::as_str).collect());
        let known = names.as_ref().is_some_and(|names| {
            !names.is_empty()
                && names
                    .iter()
                    .all(|t| PRIMITIVE_TYPES.contains(t) || check_class_name(t).is_ok())
        });
        if !known {
            return Err(format!(
                "property '{name}': invalid dataType: {}: given value-DataType does not exist.",
                match names {
                    Some(n) => format!("[{}]", n.join(" ")),
                    None => types.to_string(),
                }
            ));
        }
    }
    obj.insert("name".into(), Value::String(name));
    Ok(())
}

/// The data types Weaviate knows besides references to classes (`entities/schema`).
const PRIMITIVE_TYPES: [&str; 20] = [
    "text",
    "text[]",
    "int",
    "int[]",
    "number",
    "number[]",
    "boolean",
    "boolean[]",
    "date",
    "date[]",
    "uuid",
    "uuid[]",
    "geoCoordinates",
    "phoneNumber",
    "blob",
    "blobHash",
    "object",
    "object[]",
    "string",
    "string[]",
];

/// Whether `name` can be a vectorizer module's: `none`, or a module family's prefix and a
/// name (`text2vec-openai`, `multi2vec-clip`, `img2vec-neural`, `ref2vec-centroid`, ...).
fn is_vectorizer_name(name: &str) -> bool {
    const FAMILIES: [&str; 7] = [
        "text2vec-",
        "multi2vec-",
        "img2vec-",
        "ref2vec-",
        "text2multivec-",
        "multi2multivec-",
        "text2colbert-",
    ];
    name == "none"
        || FAMILIES.iter().any(|f| {
            name.strip_prefix(f).is_some_and(|rest| {
                !rest.is_empty()
                    && rest
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            })
        })
}

/// Every vectorizer a class definition names (the legacy one, and each named vector's).
fn vectorizer_problem(obj: &Map<String, Value>) -> Option<String> {
    let mut names: Vec<String> = Vec::new();
    if let Some(v) = obj.get("vectorizer").and_then(Value::as_str) {
        names.push(v.to_owned());
    }
    if let Some(configs) = obj.get("vectorConfig").and_then(Value::as_object) {
        for cfg in configs.values() {
            if let Some(modules) = cfg.get("vectorizer").and_then(Value::as_object) {
                names.extend(modules.keys().cloned());
            }
        }
    }
    names
        .into_iter()
        .find(|n| !is_vectorizer_name(n))
        .map(|n| format!("vectorizer: no module with name {n:?} present"))
}

pub fn is_multi_tenant(def: &Value) -> bool {
    def.pointer("/multiTenancyConfig/enabled")
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

/// The names of a class's named vectors with whether each is a multi-vector; empty for a
/// class with the legacy single vector.
pub fn named_vectors(def: &Value) -> Vec<(String, bool)> {
    def.get("vectorConfig")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(name, cfg)| {
                    let multi = cfg
                        .pointer("/vectorIndexConfig/multivector/enabled")
                        .and_then(Value::as_bool)
                        .unwrap_or(false);
                    (name.clone(), multi)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The property names a class defines.
pub fn property_names(def: &Value) -> Vec<String> {
    def.get("properties")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|p| p["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The definition as it should be exported: without the fields a server computes for itself,
/// which another cluster would refuse or misread.
pub fn strip_server_fields(def: &Value) -> Value {
    let mut def = def.clone();
    if let Some(obj) = def.as_object_mut() {
        if is_multi_tenant(&Value::Object(obj.clone())) {
            obj.remove("shardingConfig");
        } else if let Some(sc) = obj.get_mut("shardingConfig").and_then(Value::as_object_mut) {
            sc.retain(|k, _| !k.starts_with("actual") && k != "desiredVirtualCount");
        }
        if let Some(props) = obj.get_mut("properties").and_then(Value::as_array_mut) {
            for p in props {
                strip_property(p);
            }
        }
    }
    def
}

/// Removes the fields a server computes for itself from one property definition (and its
/// nested properties).
pub fn strip_property(p: &mut Value) {
    if let Some(obj) = p.as_object_mut() {
        obj.remove("bucketGeneration");
        obj.remove("searchableBlockmax");
        if let Some(nested) = obj
            .get_mut("nestedProperties")
            .and_then(Value::as_array_mut)
        {
            for n in nested {
                strip_property(n);
            }
        }
    }
}

/// The property auto-schema adds for a value never seen before (CONTRACT.md 6.2), or why
/// there is none: an array of arrays has no Weaviate data type (as Weaviate says).
pub fn inferred_property(name: &str, value: &Value) -> Result<Value, String> {
    let data_type = infer_type(value)?;
    let mut p = json!({"name": name, "dataType": [data_type]});
    if let Some(nested) = nested_properties(value)? {
        p["nestedProperties"] = nested;
    }
    Ok(p)
}

fn nested_properties(value: &Value) -> Result<Option<Value>, String> {
    let obj = match value {
        Value::Object(o) if !is_geo(o) && !o.contains_key("input") => o,
        Value::Array(a) => match a.first() {
            Some(Value::Object(o)) if !o.contains_key("beacon") => o,
            _ => return Ok(None),
        },
        _ => return Ok(None),
    };
    let props: Result<Vec<Value>, String> =
        obj.iter().map(|(k, v)| inferred_property(k, v)).collect();
    Ok(Some(Value::Array(props?)))
}

fn is_geo(o: &Map<String, Value>) -> bool {
    o.len() == 2 && o.contains_key("latitude") && o.contains_key("longitude")
}

fn infer_type(value: &Value) -> Result<String, String> {
    Ok(match value {
        Value::String(s) if ely_vocab::date::is_date(s) => "date".into(),
        Value::String(s) if crate::canonical_id(s).is_some() && s.len() == 36 => "uuid".into(),
        Value::String(_) | Value::Null => "text".into(),
        Value::Number(_) => "number".into(),
        Value::Bool(_) => "boolean".into(),
        Value::Object(o) if is_geo(o) => "geoCoordinates".into(),
        Value::Object(o) if o.contains_key("input") => "phoneNumber".into(),
        Value::Object(_) => "object".into(),
        Value::Array(a) => match a.first() {
            None => "text[]".into(),
            Some(Value::Object(o)) if o.contains_key("beacon") => o["beacon"]
                .as_str()
                .and_then(|b| b.strip_prefix("weaviate://localhost/"))
                .and_then(|rest| rest.split('/').next())
                .filter(|c| crate::canonical_id(c).is_none())
                .map(str::to_owned)
                .unwrap_or_else(|| "text[]".into()),
            // Weaviate has arrays of scalars and of objects only: objects in an array are
            // `object[]` (a geo-coordinates or phone-number look included).
            Some(Value::Object(_)) => "object[]".into(),
            Some(Value::Array(_)) => {
                return Err("auto-schema: nested arrays are not supported".into())
            }
            Some(first) => format!("{}[]", infer_type(first)?),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_data_types_and_vectorizers_are_refused() {
        let prop = |t: Value| normalize_property(&mut json!({"name": "p", "dataType": t}));
        assert!(prop(json!(["int"])).is_ok());
        assert!(prop(json!(["Author", "Book"])).is_ok());
        assert!(prop(json!(["geoCoordinates"])).is_ok());
        let e = prop(json!(["mnt"])).unwrap_err();
        assert_eq!(
            e,
            "property 'p': invalid dataType: [mnt]: given value-DataType does not exist."
        );
        assert!(prop(json!([])).is_err());
        assert!(prop(json!("int")).is_err());
        let class = |v: Value| normalize_class(&v);
        assert!(class(json!({"class": "A", "vectorizer": "none"})).is_ok());
        assert!(class(json!({"class": "A", "vectorizer": "text2vec-openai"})).is_ok());
        assert!(class(
            json!({"class": "A", "vectorConfig": {"v": {"vectorizer": {"multi2vec-clip": {}}}}})
        )
        .is_ok());
        let e = class(json!({"class": "A", "vectorizer": "nonf"})).unwrap_err();
        assert!(e.contains("no module with name \"nonf\" present"), "{e}");
        assert!(class(
            json!({"class": "A", "vectorConfig": {"v": {"vectorizer": {"text2vec-Open AI": {}}}}})
        )
        .is_err());
    }

    #[test]
    fn inference_follows_auto_schema() {
        let t = |v: Value| inferred_property("p", &v).unwrap()["dataType"][0].clone();
        assert_eq!(t(json!("hi")), "text");
        assert_eq!(t(json!("2024-01-02T03:04:05.5+01:00")), "date");
        assert_eq!(t(json!("6b29fc40-ca47-1067-b31d-00dd010662da")), "uuid");
        assert_eq!(t(json!(3)), "number");
        assert_eq!(t(json!([true])), "boolean[]");
        assert_eq!(t(json!({"latitude": 1, "longitude": 2})), "geoCoordinates");
        assert_eq!(
            t(
                json!([{"beacon": "weaviate://localhost/Author/6b29fc40-ca47-1067-b31d-00dd010662da"}])
            ),
            "Author"
        );
        // Every inferred type is one Weaviate (and the store, restoring its own backup) takes.
        for v in [
            json!([[1, 2]]),
            json!([{"latitude": 1, "longitude": 2}]),
            json!([{"input": "+1 555"}]),
            json!([1.5]),
            json!([null]),
        ] {
            match inferred_property("p", &v) {
                Ok(mut p) => normalize_property(&mut p).unwrap(),
                Err(e) => assert!(e.contains("nested arrays are not supported"), "{e}"),
            }
        }
        assert_eq!(t(json!([{"latitude": 1, "longitude": 2}])), "object[]");
        assert!(inferred_property("p", &json!([[1, 2]])).is_err());
        let nested = inferred_property("p", &json!({"a": {"b": 1}})).unwrap();
        assert_eq!(
            nested["nestedProperties"][0]["nestedProperties"][0]["name"],
            "b"
        );
    }

    #[test]
    fn export_strips_server_fields() {
        let def = json!({"class": "A", "multiTenancyConfig": {"enabled": true}, "shardingConfig": {"x": 1},
            "properties": [{"name": "p", "bucketGeneration": 1, "searchableBlockmax": true, "dataType": ["text"]}]});
        let s = strip_server_fields(&def);
        assert!(s.get("shardingConfig").is_none());
        assert_eq!(
            s["properties"][0],
            json!({"name": "p", "dataType": ["text"]})
        );
    }
}
