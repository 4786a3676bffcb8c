//! Collections and tenants: turning a posted class into the stored definition with Weaviate's
//! defaults (CONTRACT.md §3.3), the name rules of §1.2, and the schema and tenant endpoints
//! (§3, §4).

use crate::ctx::{Answer, Ctx};
use crate::datatypes::{is_primitive, is_ref_type};
use crate::http::Response;
use crate::state::{Class, State};
use crate::util::{lower_first, name_matches, upper_first};
use serde_json::{json, Map, Value};
use std::collections::HashSet;

// ---------------------------------------------------------------------------------------------
// Definitions and defaults

/// Whether a class is being created, or replaced by `PUT` (which keeps what is immutable).
pub(crate) enum Mode<'a> {
    Create,
    Update(&'a Class),
}

fn hnsw_defaults() -> Value {
    json!({
        "skip": false, "cleanupIntervalSeconds": 300, "maxConnections": 32, "efConstruction": 128,
        "ef": -1, "dynamicEfMin": 100, "dynamicEfMax": 500, "dynamicEfFactor": 8,
        "vectorCacheMaxObjects": 1_000_000_000_000_i64, "flatSearchCutoff": 40000,
        "distance": "cosine",
        "pq": {"enabled": false, "bitCompression": false, "segments": 0, "centroids": 256,
               "trainingLimit": 100000, "encoder": {"type": "kmeans", "distribution": "log-normal"}},
        "bq": {"enabled": false},
        "sq": {"enabled": false, "trainingLimit": 100000, "rescoreLimit": 20},
        "rq": {"enabled": false, "bits": 8, "rescoreLimit": 20},
        "filterStrategy": "acorn",
        "multivector": {"enabled": false,
                        "muvera": {"enabled": false, "ksim": 4, "dprojections": 16, "repetitions": 10},
                        "aggregation": "maxSim"},
        "skipDefaultQuantization": false, "trackDefaultQuantization": false
    })
}

fn flat_defaults() -> Value {
    json!({
        "distance": "cosine", "vectorCacheMaxObjects": 1_000_000_000_000_i64,
        "pq": {"enabled": false, "rescoreLimit": -1, "cache": false},
        "bq": {"enabled": false, "rescoreLimit": -1, "cache": false},
        "sq": {"enabled": false, "rescoreLimit": -1, "cache": false}
    })
}

fn index_defaults(index_type: &str) -> Value {
    match index_type {
        "hnsw" => hnsw_defaults(),
        "flat" => flat_defaults(),
        "dynamic" => json!({"distance": "cosine", "threshold": 10000,
                            "hnsw": hnsw_defaults(), "flat": flat_defaults()}),
        _ => json!({"distance": "cosine"}),
    }
}

const INDEX_TYPES: [&str; 4] = ["hnsw", "flat", "dynamic", "hfresh"];
const DISTANCES: [&str; 5] = ["cosine", "dot", "l2-squared", "hamming", "manhattan"];
const TOKENIZATIONS: [&str; 9] = [
    "word",
    "lowercase",
    "whitespace",
    "field",
    "trigram",
    "gse",
    "gse_ch",
    "kagome_ja",
    "kagome_kr",
];

/// Fills `given` over `defaults`, recursively for objects: every default key is present, and
/// keys the defaults do not know are kept (vector index configs are opaque to clients).
fn merge(defaults: Value, given: Option<&Value>) -> Value {
    match (defaults, given) {
        (Value::Object(mut d), Some(Value::Object(g))) => {
            for (k, v) in g {
                let merged = merge(d.remove(k).unwrap_or(Value::Null), Some(v));
                d.insert(k.clone(), merged);
            }
            Value::Object(d)
        }
        (d, Some(Value::Null) | None) => d,
        (_, Some(g)) => g.clone(),
    }
}

/// Sorts an object's keys: Go marshals go-swagger models in field order, which is alphabetical.
fn sorted(map: Map<String, Value>) -> Map<String, Value> {
    let mut entries: Vec<_> = map.into_iter().collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    entries.into_iter().collect()
}

fn validate_index_config(index_type: &str, config: &Value) -> Result<(), String> {
    if !INDEX_TYPES.contains(&index_type) {
        return Err(format!(
            "unrecognized or unsupported vectorIndexType {index_type:?}"
        ));
    }
    if let Some(d) = config.get("distance") {
        let d = d.as_str().unwrap_or("");
        if !DISTANCES.contains(&d) {
            return Err(format!(
                "vectorIndexConfig: distance {d:?} not supported, use one of {DISTANCES:?}"
            ));
        }
    }
    Ok(())
}

/// Checks a class name as Weaviate does: first letter uppercased, then the regex.
pub(crate) fn canonical_class_name(raw: &str) -> Result<String, String> {
    let name = upper_first(raw);
    if !name_matches(&name, |c| c.is_ascii_uppercase(), 255) {
        return Err(format!("'{raw}' is not a valid class name"));
    }
    if name.eq_ignore_ascii_case("raft") {
        return Err(format!("class name {name:?} is reserved"));
    }
    Ok(name)
}

/// Turns a posted (or `PUT`) class into the stored definition with every default
/// (CONTRACT.md §3.3), or the 422 message that rejects it.
pub(crate) fn normalize_class(
    state: &State,
    body: &Value,
    mode: Mode,
) -> Result<Map<String, Value>, String> {
    let input = body
        .as_object()
        .ok_or("the class definition must be a JSON object")?;
    let raw = input.get("class").and_then(Value::as_str).unwrap_or("");
    let name = canonical_class_name(raw)?;
    if let Mode::Create = mode {
        if state.classes.contains_key(&name) {
            return Err(format!("class name {name} already exists"));
        }
        if let Some(similar) = state.classes.keys().find(|k| k.eq_ignore_ascii_case(&name)) {
            return Err(format!(
                "class already exists: found similar class {similar:?}"
            ));
        }
    }
    let mut out = Map::new();
    out.insert("class".into(), Value::String(name.clone()));
    for key in ["description", "moduleConfig", "objectTtlConfig"] {
        if let Some(v) = input.get(key).filter(|v| !v.is_null()) {
            out.insert(key.into(), v.clone());
        }
    }

    let mt_in = input.get("multiTenancyConfig");
    let flag = |k: &str| {
        mt_in
            .and_then(|m| m.get(k))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    };
    let mt = flag("enabled");
    out.insert(
        "multiTenancyConfig".into(),
        json!({"autoTenantActivation": flag("autoTenantActivation"),
               "autoTenantCreation": flag("autoTenantCreation"), "enabled": mt}),
    );

    let sharding = match mode {
        Mode::Update(old) => old
            .def
            .get("shardingConfig")
            .cloned()
            .unwrap_or(Value::Null),
        Mode::Create => {
            let given = input.get("shardingConfig").filter(|v| !v.is_null());
            if mt && given.is_some() {
                return Err("cannot have both shardingConfig and multiTenancyConfig".into());
            }
            sharding_config(mt, given)?
        }
    };
    out.insert("shardingConfig".into(), sharding);

    let repl = input.get("replicationConfig");
    let factor = repl
        .and_then(|r| r.get("factor"))
        .and_then(Value::as_i64)
        .filter(|&f| f >= 1)
        .unwrap_or(1);
    if factor > 1 {
        return Err(format!(
            "init sharding state: not enough replicas: found 1 want {factor}"
        ));
    }
    let strategy = repl
        .and_then(|r| r.get("deletionStrategy"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .unwrap_or("TimeBasedResolution");
    if ![
        "NoAutomatedResolution",
        "DeleteOnConflict",
        "TimeBasedResolution",
    ]
    .contains(&strategy)
    {
        return Err(format!("unknown deletion strategy: {strategy}"));
    }
    let mut replication = repl.and_then(Value::as_object).cloned().unwrap_or_default();
    replication.insert("deletionStrategy".into(), json!(strategy));
    replication.insert("factor".into(), json!(factor));
    out.insert(
        "replicationConfig".into(),
        Value::Object(sorted(replication)),
    );

    let inverted_defaults = json!({
        "bm25": {"b": 0.75, "k1": 1.2}, "cleanupIntervalSeconds": 60,
        "stopwords": {"additions": null, "preset": "en", "removals": null},
        "usingBlockMaxWAND": true
    });
    out.insert(
        "invertedIndexConfig".into(),
        merge(inverted_defaults, input.get("invertedIndexConfig")),
    );

    vector_settings(input, &name, &mut out)?;

    let properties = match input.get("properties") {
        None | Some(Value::Null) => Value::Null,
        Some(Value::Array(list)) => {
            let mut seen = HashSet::new();
            let mut props = Vec::new();
            for p in list {
                let prop = normalize_property(state, &name, p)?;
                let pname = prop.get("name").and_then(Value::as_str).unwrap_or("");
                if !seen.insert(pname.to_ascii_lowercase()) {
                    return Err(conflict(&name, pname));
                }
                props.push(Value::Object(prop));
            }
            Value::Array(props)
        }
        Some(_) => return Err("properties must be an array".into()),
    };

    if let Mode::Update(old) = mode {
        check_immutable(old, &out, &properties)?;
        // Properties change only through POST .../properties: keep the stored ones.
        out.insert(
            "properties".into(),
            old.def.get("properties").cloned().unwrap_or(Value::Null),
        );
    } else {
        out.insert("properties".into(), properties);
    }
    Ok(sorted(out))
}

fn sharding_config(mt: bool, given: Option<&Value>) -> Result<Value, String> {
    if mt {
        // Multi-tenant classes store the zero struct (CONTRACT.md §3.3).
        return Ok(
            json!({"actualCount": 0, "actualVirtualCount": 0, "desiredCount": 0,
                         "desiredVirtualCount": 0, "function": "", "key": "", "strategy": "",
                         "virtualPerPhysical": 0}),
        );
    }
    let get_int = |k: &str, default: i64| {
        given
            .and_then(|g| g.get(k))
            .and_then(Value::as_i64)
            .filter(|&v| v > 0)
            .unwrap_or(default)
    };
    let vpp = get_int("virtualPerPhysical", 128);
    let count = get_int("desiredCount", 1);
    for (key, only) in [
        ("key", "_id"),
        ("strategy", "hash"),
        ("function", "murmur3"),
    ] {
        if let Some(v) = given.and_then(|g| g.get(key)).and_then(Value::as_str) {
            if !v.is_empty() && v != only {
                return Err(format!(
                    "sharding config: only {key} {only:?} is supported, got {v:?}"
                ));
            }
        }
    }
    Ok(
        json!({"actualCount": count, "actualVirtualCount": count.saturating_mul(vpp), "desiredCount": count,
              "desiredVirtualCount": count.saturating_mul(vpp), "function": "murmur3", "key": "_id",
              "strategy": "hash", "virtualPerPhysical": vpp}),
    )
}

/// The legacy single vector or the named vectors, never both (CONTRACT.md §3.3).
fn vector_settings(
    input: &Map<String, Value>,
    class: &str,
    out: &mut Map<String, Value>,
) -> Result<(), String> {
    let vectorizer = input
        .get("vectorizer")
        .filter(|v| v.as_str() != Some("") && !v.is_null());
    let index_type = input
        .get("vectorIndexType")
        .filter(|v| v.as_str() != Some("") && !v.is_null());
    let index_config = input.get("vectorIndexConfig").filter(|v| !v.is_null());
    let legacy = vectorizer.is_some() || index_type.is_some() || index_config.is_some();
    let named = input
        .get("vectorConfig")
        .and_then(Value::as_object)
        .filter(|m| !m.is_empty());
    if let Some(named) = named {
        if legacy {
            return Err(
                "creating a class with both a class level vector index and named vectors is forbidden"
                    .into(),
            );
        }
        let mut configs = Map::new();
        for (vname, cfg) in named {
            if !name_matches(vname, |c| c.is_ascii_alphabetic() || c == b'_', 230) {
                return Err(format!("'{vname}' is not a valid vector name"));
            }
            let cfg = cfg
                .as_object()
                .ok_or_else(|| format!("vectorConfig of vector {vname:?} must be an object"))?;
            let vectorizer = match cfg.get("vectorizer") {
                None | Some(Value::Null) => json!({"none": {}}),
                Some(v @ Value::Object(m)) if !m.is_empty() => v.clone(),
                Some(_) => {
                    return Err(format!(
                        "class.VectorConfig.Vectorizer of vector {vname:?} must be an object with one module"
                    ))
                }
            };
            let itype = cfg
                .get("vectorIndexType")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .unwrap_or("hnsw");
            let icfg = merge(index_defaults(itype), cfg.get("vectorIndexConfig"));
            validate_index_config(itype, &icfg)?;
            let mut entry = cfg.clone();
            entry.insert("vectorIndexConfig".into(), icfg);
            entry.insert("vectorIndexType".into(), json!(itype));
            entry.insert("vectorizer".into(), vectorizer);
            configs.insert(vname.clone(), Value::Object(sorted(entry)));
        }
        out.insert("vectorConfig".into(), Value::Object(configs));
        return Ok(());
    }
    let vectorizer = match vectorizer {
        None => "none",
        Some(Value::String(s)) => s.as_str(),
        Some(_) => return Err(format!("class {class}: vectorizer must be a string")),
    };
    let itype = match index_type {
        None => "hnsw",
        Some(Value::String(s)) => s.as_str(),
        Some(_) => return Err("vectorIndexType must be a string".into()),
    };
    let icfg = merge(index_defaults(itype), index_config);
    validate_index_config(itype, &icfg)?;
    out.insert("vectorIndexConfig".into(), icfg);
    out.insert("vectorIndexType".into(), json!(itype));
    out.insert("vectorizer".into(), json!(vectorizer));
    Ok(())
}

/// What `PUT /v1/schema/{c}` may not change (CONTRACT.md §3.4).
fn check_immutable(old: &Class, new: &Map<String, Value>, new_props: &Value) -> Result<(), String> {
    let mt = |d: &Map<String, Value>| {
        d.get("multiTenancyConfig")
            .and_then(|m| m.get("enabled"))
            .cloned()
    };
    if mt(&old.def) != mt(new) {
        return Err("enabling or disabling multi-tenancy is not allowed".into());
    }
    for (key, what) in [
        ("vectorizer", "vectorizer"),
        ("vectorIndexType", "vector index type"),
    ] {
        let (a, b) = (old.def.get(key), new.get(key));
        if a != b {
            return Err(format!(
                "{what} is immutable: attempted change from {} to {}",
                a.map_or("null".into(), Value::to_string),
                b.map_or("null".into(), Value::to_string)
            ));
        }
    }
    if let Some(old_named) = old.def.get("vectorConfig").and_then(Value::as_object) {
        let new_named = new.get("vectorConfig").and_then(Value::as_object);
        for (name, cfg) in old_named {
            let same = new_named.and_then(|n| n.get(name)).is_some_and(|n| {
                n.get("vectorizer") == cfg.get("vectorizer")
                    && n.get("vectorIndexType") == cfg.get("vectorIndexType")
            });
            if !same {
                return Err(format!("vectorizer config of vector {name:?} is immutable"));
            }
        }
    }
    // Properties sent with PUT must be the stored ones (by name and data type).
    if let Value::Array(list) = new_props {
        let key = |p: &Value| {
            (
                p.get("name").cloned().unwrap_or(Value::Null),
                p.get("dataType").cloned().unwrap_or(Value::Null),
            )
        };
        let mut a: Vec<_> = old.properties().iter().map(key).collect();
        let mut b: Vec<_> = list.iter().map(key).collect();
        a.sort_by_key(|k| k.0.to_string());
        b.sort_by_key(|k| k.0.to_string());
        if a != b {
            return Err("properties cannot be updated through updating the class. Use the add property feature (e.g. \"POST /v1/schema/{className}/properties\") to add additional properties".into());
        }
    }
    Ok(())
}

fn conflict(class: &str, prop: &str) -> String {
    format!(
        "class {class:?}: conflict for property {prop:?}: already in use or provided multiple times"
    )
}

/// Turns a posted property into its stored form with defaults (CONTRACT.md §3.3, Property).
pub(crate) fn normalize_property(
    state: &State,
    class: &str,
    p: &Value,
) -> Result<Map<String, Value>, String> {
    property(state, class, p, false)
}

fn property(
    state: &State,
    class: &str,
    p: &Value,
    nested: bool,
) -> Result<Map<String, Value>, String> {
    let input = p.as_object().ok_or("a property must be a JSON object")?;
    let raw = input.get("name").and_then(Value::as_str).unwrap_or("");
    let name = if nested {
        raw.to_string()
    } else {
        lower_first(raw)
    };
    let limit = if nested { usize::MAX } else { 231 };
    if !name_matches(&name, |c| c.is_ascii_alphabetic() || c == b'_', limit) {
        return Err(format!(
            "'{name}' is not a valid property name. Property names in Weaviate are restricted to valid GraphQL names, which must be “/[_A-Za-z][_0-9A-Za-z]{{0,230}}/”."
        ));
    }
    if ["_additional", "_id", "id"].contains(&name.as_str()) {
        return Err(format!("'{name}' is a reserved property name"));
    }
    let data_type: Vec<String> = match input.get("dataType") {
        Some(Value::Array(dt)) if !dt.is_empty() => dt
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<_>>()
            .ok_or("property must contain dataType")?,
        _ => return Err("property must contain dataType".into()),
    };
    let first = data_type[0].as_str();
    let migrated = match first {
        "string" => Some("text"),
        "string[]" => Some("text[]"),
        _ => None,
    };
    let dt = migrated.unwrap_or(first).to_string();
    if is_primitive(&dt) {
        if data_type.len() != 1 {
            return Err(format!(
                "property '{name}': invalid dataType: {data_type:?}: a primitive data type must be alone"
            ));
        }
        if nested && (dt == "geoCoordinates" || dt == "phoneNumber") {
            return Err(format!(
                "property '{name}': data type '{dt}' is not allowed in nested properties"
            ));
        }
    } else {
        for target in &data_type {
            if !is_ref_type(target) || nested {
                return Err(format!(
                    "property '{name}': invalid dataType: [{}]: given value-DataType does not exist.",
                    data_type.join(" ")
                ));
            }
            if target != class && !state.classes.contains_key(target) {
                return Err(format!(
                    "property '{name}': invalid dataType: reference property to nonexistent class"
                ));
            }
        }
    }
    let text = dt == "text" || dt == "text[]";
    let mut out = Map::new();
    out.insert(
        "dataType".into(),
        if is_primitive(&dt) {
            json!([dt])
        } else {
            json!(data_type)
        },
    );
    for key in [
        "description",
        "moduleConfig",
        "textAnalyzer",
        "disableDuplicatedReferences",
    ] {
        if let Some(v) = input.get(key).filter(|v| !v.is_null()) {
            out.insert(key.into(), v.clone());
        }
    }
    let legacy_inverted = input.get("indexInverted").and_then(Value::as_bool);
    let flag = |k: &str| input.get(k).and_then(Value::as_bool);
    let filterable = flag("indexFilterable").or(legacy_inverted).unwrap_or(true);
    let searchable = flag("indexSearchable")
        .or(legacy_inverted.filter(|_| text))
        .unwrap_or(text);
    if searchable && !text {
        return Err(format!(
            "`indexSearchable` is not allowed for other than text/text[] data types (property '{name}')"
        ));
    }
    let range = flag("indexRangeFilters").unwrap_or(false);
    if range && !["int", "number", "date"].contains(&dt.as_str()) {
        return Err(format!(
            "`indexRangeFilters` is not allowed for other than int/number/date data types (property '{name}')"
        ));
    }
    out.insert("indexFilterable".into(), json!(filterable));
    out.insert("indexRangeFilters".into(), json!(range));
    out.insert("indexSearchable".into(), json!(searchable));
    out.insert("name".into(), json!(name));
    let tokenization = input
        .get("tokenization")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty());
    match tokenization {
        Some(t) if !text => {
            return Err(format!(
                "Tokenization '{t}' is not allowed for data type '{dt}'"
            ))
        }
        Some(t) if !TOKENIZATIONS.contains(&t) => {
            return Err(format!("tokenization '{t}' is not supported"))
        }
        _ => {}
    }
    if text {
        let mut t = tokenization.unwrap_or("word");
        if migrated.is_some() && t == "word" {
            t = "whitespace";
        }
        out.insert("tokenization".into(), json!(t));
    }
    let is_object = dt == "object" || dt == "object[]";
    match input.get("nestedProperties") {
        Some(Value::Array(list)) if is_object && !list.is_empty() => {
            let mut seen = HashSet::new();
            let mut nested_out = Vec::new();
            for np in list {
                let np = property(state, class, np, true)?;
                let npname = np.get("name").and_then(Value::as_str).unwrap_or("");
                if !seen.insert(npname.to_ascii_lowercase()) {
                    return Err(conflict(class, npname));
                }
                nested_out.push(Value::Object(np));
            }
            out.insert("nestedProperties".into(), Value::Array(nested_out));
        }
        _ if is_object => {
            return Err(format!(
                "property '{name}': At least one nested property is required for data type object/object[]"
            ))
        }
        Some(Value::Array(list)) if !list.is_empty() => {
            return Err(format!(
                "property '{name}': nestedProperties are only allowed for data types object/object[]"
            ))
        }
        _ => {}
    }
    Ok(sorted(out))
}

/// The definition auto-schema gives a class it creates (≤ v1.39: legacy vector defaults).
pub(crate) fn auto_class(
    state: &State,
    name: &str,
    description: &str,
) -> Result<Map<String, Value>, String> {
    normalize_class(
        state,
        &json!({"class": name, "description": description}),
        Mode::Create,
    )
}

// ---------------------------------------------------------------------------------------------
// Endpoints

/// `GET /v1/schema`.
pub(crate) fn list(ctx: &Ctx) -> Response {
    let state = ctx.state();
    let classes: Vec<Value> = state
        .classes
        .values()
        .map(|c| Value::Object(c.def.clone()))
        .collect();
    Response::json(200, &json!({"classes": classes}))
}

/// `GET /v1/schema/{c}`: 404 without a body when missing.
pub(crate) fn get(ctx: &Ctx, class: &str) -> Response {
    match ctx.state().class(class) {
        Some(c) => Response::json(200, &Value::Object(c.def.clone())),
        None => Response::empty(404),
    }
}

/// `POST /v1/schema`.
pub(crate) fn create(ctx: &Ctx) -> Answer {
    let body = ctx.body_json()?;
    let mut state = ctx.state();
    let def = normalize_class(&state, &body, Mode::Create).map_err(Response::restriction)?;
    let name = def
        .get("class")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    state.classes.insert(name, Class::new(def.clone()));
    Ok(Response::json(200, &Value::Object(def)))
}

/// `PUT /v1/schema/{c}`: replaces the settings that may change; 404 without a body when the
/// class is missing.
pub(crate) fn update(ctx: &Ctx, class: &str) -> Answer {
    let mut body = ctx.body_json()?;
    let mut state = ctx.state();
    let Some(old) = state.class(class) else {
        return Err(Response::empty(404));
    };
    let old_name = old.name().to_string();
    if let Some(obj) = body.as_object_mut() {
        let given = obj.get("class").and_then(Value::as_str).unwrap_or("");
        if given.is_empty() {
            obj.insert("class".into(), json!(old_name));
        } else if upper_first(given) != old_name {
            return Err(Response::restriction(format!(
                "class name is immutable: attempted change from {old_name:?} to {:?}",
                upper_first(given)
            )));
        }
    }
    let def = normalize_class(&state, &body, Mode::Update(old)).map_err(Response::restriction)?;
    if let Some(c) = state.classes.get_mut(&old_name) {
        c.def = def.clone();
    }
    Ok(Response::json(200, &Value::Object(def)))
}

/// `DELETE /v1/schema/{c}`: 200 whether or not the class existed.
pub(crate) fn delete(ctx: &Ctx, class: &str) -> Response {
    ctx.state().classes.remove(&upper_first(class));
    Response::empty(200)
}

/// `POST /v1/schema/{c}/properties`.
pub(crate) fn add_property(ctx: &Ctx, class: &str) -> Answer {
    let body = ctx.body_json()?;
    let mut state = ctx.state();
    let Some(c) = state.class(class) else {
        return Err(Response::restriction(format!(
            "class {:?}: not found",
            upper_first(class)
        )));
    };
    let cname = c.name().to_string();
    let prop = normalize_property(&state, &cname, &body).map_err(Response::restriction)?;
    let pname = prop
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    match add_to_class(&mut state, &cname, prop.clone()) {
        Ok(()) => Ok(Response::json(200, &Value::Object(prop))),
        Err(_) => Err(Response::restriction(conflict(&cname, &pname))),
    }
}

/// Appends a property unless one with the same name (any case) exists.
pub(crate) fn add_to_class(
    state: &mut State,
    class: &str,
    prop: Map<String, Value>,
) -> Result<(), ()> {
    let c = state.classes.get_mut(class).ok_or(())?;
    let pname = prop.get("name").and_then(Value::as_str).unwrap_or("");
    let taken = c.properties().iter().any(|p| {
        p.get("name")
            .and_then(Value::as_str)
            .is_some_and(|n| n.eq_ignore_ascii_case(pname))
    });
    if taken {
        return Err(());
    }
    match c.def.get_mut("properties") {
        Some(Value::Array(list)) => list.push(Value::Object(prop)),
        _ => {
            c.def.insert("properties".into(), json!([prop]));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Tenants

/// The class a tenants request names, which must exist and be multi-tenant (else 422).
fn mt_class<'s>(state: &'s mut State, class: &str) -> Result<&'s mut Class, Response> {
    let name = upper_first(class);
    let c = state
        .classes
        .get_mut(&name)
        .ok_or_else(|| Response::error(422, format!("class {name:?} not found in schema")))?;
    if !c.is_mt() {
        return Err(Response::error(
            422,
            format!("multi-tenancy is not enabled for class {name:?}"),
        ));
    }
    Ok(c)
}

/// New status names become the legacy ones the server stores and returns (CONTRACT.md §4).
fn legacy_status(s: &str) -> Option<&'static str> {
    Some(match s {
        "" => "",
        "HOT" | "ACTIVE" => "HOT",
        "COLD" | "INACTIVE" => "COLD",
        "FROZEN" | "OFFLOADED" => "FROZEN",
        _ => return None,
    })
}

fn tenant_json(name: &str, status: &str) -> Value {
    json!({"activityStatus": status, "name": name})
}

/// Parses a tenants body: `[{"name": ..., "activityStatus": ...}, ...]`, statuses converted.
fn tenant_list(body: &Value) -> Result<Vec<(String, &'static str)>, String> {
    let list = body
        .as_array()
        .ok_or("the body must be an array of tenants")?;
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (i, t) in list.iter().enumerate() {
        let name = t.get("name").and_then(Value::as_str).unwrap_or("");
        let valid = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_');
        if !valid {
            return Err(if name.is_empty() {
                format!("tenant name at index {i}: empty tenant name")
            } else {
                format!("tenant name at index {i}:  '{name}' is not a valid tenant name. should only contain alphanumeric characters (a-z, A-Z, 0-9), underscore (_), and hyphen (-), with a length between 1 and 64 characters")
            });
        }
        if !seen.insert(name) {
            return Err(format!("tenant name {name} existed multiple times"));
        }
        let raw = t
            .get("activityStatus")
            .and_then(Value::as_str)
            .unwrap_or("");
        let status = legacy_status(raw).ok_or_else(|| format!("invalid activity status: {raw}"))?;
        if status == "FROZEN" {
            return Err("can't offload tenants, because offload-s3 module is not enabled".into());
        }
        out.push((name.to_string(), status));
    }
    Ok(out)
}

/// `GET /v1/schema/{c}/tenants`.
pub(crate) fn tenants_get(ctx: &Ctx, class: &str) -> Answer {
    let mut state = ctx.state();
    let c = mt_class(&mut state, class)?;
    let list: Vec<Value> = c.tenants.iter().map(|(n, s)| tenant_json(n, s)).collect();
    Ok(Response::json(200, &Value::Array(list)))
}

/// `GET` or `HEAD /v1/schema/{c}/tenants/{t}`.
pub(crate) fn tenant_get(ctx: &Ctx, class: &str, tenant: &str, head: bool) -> Answer {
    let mut state = ctx.state();
    let c = mt_class(&mut state, class)?;
    Ok(match c.tenants.get(tenant) {
        Some(_) if head => Response::empty(200),
        Some(s) => Response::json(200, &tenant_json(tenant, s)),
        None => Response::empty(404),
    })
}

/// `POST /v1/schema/{c}/tenants`: idempotent for existing tenants.
pub(crate) fn tenants_create(ctx: &Ctx, class: &str) -> Answer {
    let body = ctx.body_json()?;
    let mut state = ctx.state();
    let c = mt_class(&mut state, class)?;
    let list = tenant_list(&body).map_err(|e| Response::error(422, e))?;
    let mut echo = Vec::new();
    for (name, status) in list {
        c.tenants
            .entry(name.clone())
            .or_insert_with(|| if status.is_empty() { "HOT" } else { status }.to_string());
        echo.push(if status.is_empty() {
            json!({"name": name})
        } else {
            tenant_json(&name, status)
        });
    }
    Ok(Response::json(200, &Value::Array(echo)))
}

/// `PUT /v1/schema/{c}/tenants`: changes activity statuses of existing tenants.
pub(crate) fn tenants_update(ctx: &Ctx, class: &str) -> Answer {
    let body = ctx.body_json()?;
    let mut state = ctx.state();
    let c = mt_class(&mut state, class)?;
    let list = tenant_list(&body).map_err(|e| Response::error(422, e))?;
    if list.len() > 100 {
        return Err(Response::error(
            422,
            "too many tenants: at most 100 per request",
        ));
    }
    if let Some((missing, _)) = list.iter().find(|(n, _)| !c.tenants.contains_key(n)) {
        return Err(Response::error(
            422,
            format!("tenant not found: {missing:?}"),
        ));
    }
    let mut echo = Vec::new();
    for (name, status) in list {
        let status = if status.is_empty() { "HOT" } else { status };
        c.tenants.insert(name.clone(), status.to_string());
        echo.push(tenant_json(&name, status));
    }
    Ok(Response::json(200, &Value::Array(echo)))
}

/// `DELETE /v1/schema/{c}/tenants` with a body of names: removes them and their objects.
pub(crate) fn tenants_delete(ctx: &Ctx, class: &str) -> Answer {
    let body = ctx.body_json()?;
    let Some(names) = body
        .as_array()
        .and_then(|l| l.iter().map(Value::as_str).collect::<Option<Vec<_>>>())
    else {
        return Err(Response::framework(
            400,
            400,
            "parsing body body from \"\" failed, because json: cannot unmarshal into Go value of type []string",
        ));
    };
    let mut state = ctx.state();
    let c = mt_class(&mut state, class)?;
    for name in names {
        c.tenants.remove(name);
        c.shards.remove(name);
    }
    Ok(Response::empty(200))
}
