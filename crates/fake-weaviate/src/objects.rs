//! Objects: reading an object from a request, checking it against its class (properties,
//! tenant, vectors), storing it, and the object endpoints: create, get, head, replace, merge,
//! delete, references, and the list and cursor of `GET /v1/objects` (CONTRACT.md §5).

use crate::config::DEFAULT_LIMIT;
use crate::ctx::{Answer, Ctx};
use crate::datatypes::is_ref_type;
use crate::floats::FloatFixups;
use crate::http::Response;
use crate::props::{self, parse_beacon, Check};
use crate::state::{Class, Shard, State, StoredObject, View};
use crate::util::{
    format_uuid, is_swagger_uuid, now_ms, parse_uuid, random_uuid, upper_first, Uuid,
};
use crate::vector::Vector;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// An object as a request sent it, after the checks go-openapi makes on the whole body.
pub(crate) struct ObjectInput {
    pub class: String,
    pub id: Option<String>,
    pub properties: Option<Value>,
    pub vector: Option<Vec<f32>>,
    pub vectors: Vec<(String, Vector)>,
    pub tenant: Option<String>,
}

/// A body that does not decode into Weaviate's models: 400 from the framework.
pub(crate) fn unmarshal_error(detail: &str) -> Response {
    Response::framework(
        400,
        400,
        format!("parsing body body from \"\" failed, because {detail}"),
    )
}

fn f32_list(v: &Value, fixups: &FloatFixups, field: &str) -> Result<Vec<f32>, Response> {
    let items = v.as_array().ok_or_else(|| {
        unmarshal_error(&format!(
            "json: cannot unmarshal {} into Go struct field {field} of type []float32",
            json_kind(v)
        ))
    })?;
    items
        .iter()
        .map(|x| {
            fixups.f32(x).ok_or_else(|| {
                unmarshal_error(&format!(
                    "json: cannot unmarshal {} {} into Go struct field {field} of type float32",
                    json_kind(x),
                    x
                ))
            })
        })
        .collect()
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Decodes one object. `index` is its place in a batch (`None` for a single object), which
/// swagger messages name.
pub(crate) fn parse_input(
    v: &Value,
    fixups: &FloatFixups,
    index: Option<usize>,
) -> Result<ObjectInput, Response> {
    let obj = v.as_object().ok_or_else(|| {
        unmarshal_error(&format!(
            "json: cannot unmarshal {} into Go value of type models.Object",
            json_kind(v)
        ))
    })?;
    let id = input_id(obj, index)?;
    let vector = match obj.get("vector") {
        None | Some(Value::Null) => None,
        Some(v) => Some(f32_list(v, fixups, "Object.vector")?),
    };
    let mut vectors = Vec::new();
    match obj.get("vectors") {
        None | Some(Value::Null) => {}
        Some(Value::Object(named)) => {
            for (name, v) in named {
                let bad = || {
                    unmarshal_error(&format!(
                        "vectors: cannot unmarshal vector into either []float32 or [][]float32 for target vector {name}"
                    ))
                };
                let parsed = match v {
                    Value::Null => continue,
                    Value::Array(items)
                        if items.iter().all(Value::is_array) && !items.is_empty() =>
                    {
                        Vector::Multi(
                            items
                                .iter()
                                .map(|row| f32_list(row, fixups, "vectors").map_err(|_| bad()))
                                .collect::<Result<_, _>>()?,
                        )
                    }
                    Value::Array(_) => {
                        Vector::Single(f32_list(v, fixups, "vectors").map_err(|_| bad())?)
                    }
                    _ => return Err(bad()),
                };
                vectors.push((name.clone(), parsed));
            }
        }
        Some(other) => {
            return Err(unmarshal_error(&format!(
            "json: cannot unmarshal {} into Go struct field Object.vectors of type models.Vectors",
            json_kind(other)
        )))
        }
    }
    let properties = obj.get("properties").filter(|p| !p.is_null()).cloned();
    input_rest(obj, id, properties, vector, vectors)
}

/// Decodes object `index` of a batch, whose vectors were already read (by
/// `json::batch_objects`) from the members `obj` leaves out; the checks and their order are
/// [`parse_input`]'s. The properties, unless `null`, move from `obj` into the input.
pub(crate) fn parse_read_input(
    obj: &mut Map<String, Value>,
    vector: Option<Vec<f32>>,
    vectors: Vec<(String, Vector)>,
    index: usize,
) -> Result<ObjectInput, Response> {
    let id = input_id(obj, Some(index))?;
    let properties = match obj.get("properties") {
        Some(p) if !p.is_null() => obj.shift_remove("properties"),
        _ => None,
    };
    input_rest(obj, id, properties, vector, vectors)
}

fn string_field(obj: &Map<String, Value>, key: &str) -> Result<Option<String>, Response> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(unmarshal_error(&format!(
            "json: cannot unmarshal {} into Go struct field Object.{key} of type string",
            json_kind(other)
        ))),
    }
}

fn input_id(obj: &Map<String, Value>, index: Option<usize>) -> Result<Option<String>, Response> {
    let id = string_field(obj, "id")?.filter(|s| !s.is_empty());
    if let Some(id) = &id {
        if !is_swagger_uuid(id) {
            let path = index.map_or(String::new(), |i| format!("body.objects.{i}."));
            return Err(Response::framework(
                422,
                601,
                format!("{path}id in body must be of type uuid: {id:?}"),
            ));
        }
    }
    Ok(id)
}

fn input_rest(
    obj: &Map<String, Value>,
    id: Option<String>,
    properties: Option<Value>,
    vector: Option<Vec<f32>>,
    vectors: Vec<(String, Vector)>,
) -> Result<ObjectInput, Response> {
    Ok(ObjectInput {
        class: string_field(obj, "class")?.unwrap_or_default(),
        id,
        properties,
        vector,
        vectors,
        tenant: string_field(obj, "tenant")?.filter(|t| !t.is_empty()),
    })
}

/// An object that passed every check, ready to store.
pub(crate) struct Prepared {
    pub class: String,
    pub shard: String,
    pub properties: Map<String, Value>,
    pub vector: Option<Vec<f32>>,
    pub vectors: BTreeMap<String, Vector>,
}

pub(crate) enum Failure {
    /// The class does not exist and auto-schema did not create it.
    UnknownClass(String),
    Invalid(String),
}

/// Checks an object against its class, creating class and properties first when auto-schema
/// is on (CONTRACT.md §5.1, §5.5, §6.2). The input's vectors move into the result (they are
/// left empty either way).
pub(crate) fn prepare(
    state: &mut State,
    auto_schema: bool,
    input: &mut ObjectInput,
    fixups: &FloatFixups,
) -> Result<Prepared, Failure> {
    let vector = input.vector.take();
    let vectors = std::mem::take(&mut input.vectors);
    if input.class.is_empty() {
        return Err(Failure::Invalid("object has an empty class".into()));
    }
    let cname = upper_first(&input.class);
    let empty = Map::new();
    let raw_props = match &input.properties {
        None => &empty,
        Some(Value::Object(m)) => m,
        Some(other) => {
            return Err(Failure::Invalid(format!(
                "could not recognize object's properties: {other}"
            )))
        }
    };
    if auto_schema {
        props::auto_schema(state, &cname, raw_props).map_err(Failure::Invalid)?;
    }
    let Some(class) = state.classes.get_mut(&cname) else {
        return Err(Failure::UnknownClass(cname));
    };
    let shard = class
        .shard_key(input.tenant.as_deref(), true)
        .map_err(Failure::Invalid)?;
    let class = &state.classes[&cname];
    let check = Check {
        state,
        class,
        tenant: input.tenant.as_deref(),
        fixups,
    };
    let properties = props::validate(&check, raw_props).map_err(Failure::Invalid)?;
    let (vector, vectors) = map_vectors(class, vector, vectors).map_err(Failure::Invalid)?;
    if let Some(s) = class.shards.get(&shard) {
        check_dims(s, &vector, &vectors).map_err(Failure::Invalid)?;
    }
    Ok(Prepared {
        class: cname,
        shard,
        properties,
        vector,
        vectors,
    })
}

/// Where an object's vectors go: the legacy vector, and the named ones.
type MappedVectors = (Option<Vec<f32>>, BTreeMap<String, Vector>);

/// Applies CONTRACT.md §5.1's vector mapping rules: where a legacy `vector` or named
/// `vectors` go in this class, and which combinations it refuses.
fn map_vectors(
    class: &Class,
    vector: Option<Vec<f32>>,
    vectors: Vec<(String, Vector)>,
) -> Result<MappedVectors, String> {
    let cname = class.name();
    let vector = vector.filter(|v| !v.is_empty());
    let vectors: Vec<_> = vectors.into_iter().filter(|(_, v)| v.dims() > 0).collect();
    let Some(named) = class.named_vectors() else {
        let mut legacy = vector;
        let others: Vec<&str> = vectors
            .iter()
            .map(|(n, _)| n.as_str())
            .filter(|n| *n != "default")
            .collect();
        if !others.is_empty() {
            return Err(format!(
                "collection {cname} is configured without multiple named vectors, but received named vectors: [{}]",
                others.join(" ")
            ));
        }
        for (_, v) in vectors {
            match v {
                Vector::Single(v) if legacy.is_none() => legacy = Some(v),
                Vector::Single(_) => {}
                Vector::Multi(_) => {
                    return Err(format!(
                        "vector index for target vector \"default\" of collection {cname} is not configured as multi-vector, but received a multi-vector"
                    ))
                }
            }
        }
        if legacy.is_some() && class.legacy_multi() {
            return Err(format!(
                "vector index of collection {cname} is configured as multi-vector, but received a regular vector"
            ));
        }
        return Ok((legacy, BTreeMap::new()));
    };
    let mut out = BTreeMap::new();
    if let Some(v) = vector {
        if named.len() != 1 {
            return Err(format!(
                "collection {cname} configuration does not have single vector index"
            ));
        }
        if let Some(name) = named.keys().next() {
            out.insert(name.clone(), Vector::Single(v));
        }
    }
    for (name, v) in vectors {
        out.insert(name, v);
    }
    for (name, v) in &out {
        let Some(&multi) = named.get(name) else {
            return Err(format!(
                "collection {cname} does not have configuration for vector {name}"
            ));
        };
        match (multi, v) {
            (true, Vector::Single(_)) => {
                return Err(format!(
                    "vector index for target vector {name:?} of collection {cname} is configured as multi-vector, but received a regular vector"
                ))
            }
            (false, Vector::Multi(_)) => {
                return Err(format!(
                    "vector index for target vector {name:?} of collection {cname} is not configured as multi-vector, but received a multi-vector"
                ))
            }
            _ => {}
        }
    }
    Ok((None, out))
}

fn check_dims(
    shard: &Shard,
    vector: &Option<Vec<f32>>,
    vectors: &BTreeMap<String, Vector>,
) -> Result<(), String> {
    let legacy = vector.as_ref().map(|v| (String::new(), v.len()));
    let named = vectors.iter().map(|(n, v)| (n.clone(), v.dims()));
    for (name, len) in legacy.into_iter().chain(named) {
        if let Some(&have) = shard.dims.get(&name) {
            if have != len {
                return Err(format!(
                    "new node has a vector with length {len}. Existing nodes have vectors with length {have}"
                ));
            }
        }
    }
    Ok(())
}

/// Stores a prepared object (an upsert) and returns it as stored.
pub(crate) fn store(
    state: &mut State,
    p: Prepared,
    id: Uuid,
    created: i64,
    updated: i64,
) -> Arc<StoredObject> {
    let obj = Arc::new(StoredObject {
        id,
        properties: p.properties,
        vector: p.vector,
        vectors: p.vectors,
        created,
        updated,
    });
    if let Some(class) = state.classes.get_mut(&p.class) {
        let shard = class.shard(&p.shard);
        if let Some(v) = &obj.vector {
            shard.dims.entry(String::new()).or_insert(v.len());
        }
        for (name, v) in &obj.vectors {
            shard.dims.entry(name.clone()).or_insert(v.dims());
        }
        shard.objects.insert(id, Arc::clone(&obj));
    }
    obj
}

/// Write responses show the object as stored, vectors included, beacons without `href`.
pub(crate) const WRITTEN: View = View {
    vectors: true,
    hrefs: false,
};

// ---------------------------------------------------------------------------------------------
// Query parameters

/// Whether `include` asks for vectors; unknown values are a 400 (CONTRACT.md §5.3).
fn include_vector(ctx: &Ctx) -> Result<bool, Response> {
    let mut vectors = false;
    for item in ctx.req.query("include").unwrap_or("").split(',') {
        match item.trim() {
            "" | "classification" => {}
            "vector" => vectors = true,
            other => {
                return Err(Response::error(
                    400,
                    format!("unrecognized property '{other}' in ?include list"),
                ))
            }
        }
    }
    Ok(vectors)
}

fn path_id(id: &str) -> Result<Uuid, Response> {
    if !is_swagger_uuid(id) {
        return Err(Response::framework(
            422,
            601,
            format!("id in path must be of type uuid: {id:?}"),
        ));
    }
    parse_uuid(id).map_err(|e| Response::error(422, e))
}

fn int_param(ctx: &Ctx, name: &str) -> Result<Option<i64>, Response> {
    match ctx.req.query(name) {
        None => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|_| {
            Response::framework(
                422,
                601,
                format!("{name} in query must be of type int64: {v:?}"),
            )
        }),
    }
}

// ---------------------------------------------------------------------------------------------
// Endpoints

/// The body of a single-object write, decoded as one object.
fn read_object(ctx: &Ctx) -> Result<(ObjectInput, FloatFixups), Response> {
    let body = ctx.body_json()?;
    let fixups = FloatFixups::scan(&ctx.req.body);
    let input = parse_input(&body, &fixups, None)?;
    Ok((input, fixups))
}

fn invalid_object(message: String) -> Response {
    Response::error(422, format!("invalid object: {message}"))
}

/// [`prepare`] for the endpoints that change a stored object (replace and merge), where an
/// unknown class is a 404.
fn prepare_update(
    ctx: &Ctx,
    state: &mut State,
    input: &mut ObjectInput,
    fixups: &FloatFixups,
) -> Result<Prepared, Response> {
    prepare(state, ctx.config().auto_schema, input, fixups).map_err(|f| match f {
        Failure::UnknownClass(_) => Response::empty(404),
        Failure::Invalid(m) => invalid_object(m),
    })
}

/// `POST /v1/objects`: create one; an existing id is a 422, unlike batch.
pub(crate) fn create(ctx: &Ctx) -> Answer {
    ctx.check_consistency()?;
    let (mut input, fixups) = read_object(ctx)?;
    let id = match &input.id {
        Some(s) => parse_uuid(s)
            .map_err(|e| Response::error(422, format!("invalid object: invalid id: {e}")))?,
        None => random_uuid(),
    };
    let mut state = ctx.state();
    let prepared = prepare(&mut state, ctx.config().auto_schema, &mut input, &fixups).map_err(
        |f| match f {
            Failure::UnknownClass(c) => Response::error(
                422,
                format!("invalid object: class {c:?} not found in schema"),
            ),
            Failure::Invalid(m) => invalid_object(m),
        },
    )?;
    let exists = state
        .classes
        .get(&prepared.class)
        .and_then(|c| c.shards.get(&prepared.shard))
        .is_some_and(|s| s.objects.contains_key(&id));
    if exists {
        let sent = input.id.clone().unwrap_or_else(|| format_uuid(&id));
        return Err(Response::error(422, format!("id '{sent}' already exists")));
    }
    let now = now_ms();
    let class = prepared.class.clone();
    let obj = store(&mut state, prepared, id, now, now);
    drop(state);
    Ok(object_response(
        &obj,
        &class,
        &[],
        input.tenant.as_deref(),
        WRITTEN,
    ))
}

/// An object as a 200 response body.
fn object_response(
    obj: &StoredObject,
    class: &str,
    refs: &[String],
    tenant: Option<&str>,
    view: View,
) -> Response {
    let mut out = Vec::with_capacity(1024);
    obj.write_json(&mut out, class, refs, tenant, view);
    Response::json_bytes(200, out)
}

/// Finds the object a single-object request names, with the 404s and 422s of §5.3.
fn locate<'s>(
    state: &'s mut State,
    class: &str,
    tenant: Option<&str>,
    id: &Uuid,
    write: bool,
) -> Result<(&'s mut Class, String, Option<Arc<StoredObject>>), Response> {
    let Some(c) = state.class_mut(class) else {
        return Err(Response::empty(404));
    };
    let key = c
        .shard_key(tenant, write)
        .map_err(|e| Response::error(422, e))?;
    let obj = c.shards.get(&key).and_then(|s| s.objects.get(id)).cloned();
    Ok((c, key, obj))
}

/// [`locate`] for the endpoints that change a stored object: a missing one is a 404.
fn locate_existing(
    state: &mut State,
    class: &str,
    tenant: Option<&str>,
    id: &Uuid,
) -> Result<Arc<StoredObject>, Response> {
    locate(state, class, tenant, id, true)?
        .2
        .ok_or_else(|| Response::empty(404))
}

/// `GET /v1/objects/{c}/{id}` (and `HEAD`, which answers 204 or 404 without a body).
pub(crate) fn get(ctx: &Ctx, class: &str, id: &str, head: bool) -> Answer {
    let id = path_id(id)?;
    ctx.check_consistency()?;
    let vectors = match include_vector(ctx) {
        Ok(v) => v,
        Err(r) if !head => return Err(r),
        Err(_) => false,
    };
    let tenant = ctx.req.query("tenant");
    let mut state = ctx.state();
    let (name, refs, obj) = match locate(&mut state, class, tenant, &id, false) {
        Err(r) if head => return Err(Response::empty(r.status)),
        Err(r) => return Err(r),
        Ok((_, _, None)) => return Err(Response::empty(404)),
        Ok((_, _, Some(_))) if head => return Ok(Response::empty(204)),
        Ok((c, _, Some(obj))) => (c.name().to_string(), c.ref_properties(), obj),
    };
    drop(state);
    let view = View {
        vectors,
        hrefs: true,
    };
    Ok(object_response(&obj, &name, &refs, tenant, view))
}

/// `PUT /v1/objects/{c}/{id}`: replaces properties and vectors, keeps `creationTimeUnix`.
pub(crate) fn replace(ctx: &Ctx, class: &str, id: &str) -> Answer {
    let id = path_id(id)?;
    ctx.check_consistency()?;
    let (mut input, fixups) = read_object(ctx)?;
    let body_id = input.id.as_deref().and_then(|s| parse_uuid(s).ok());
    if body_id != Some(id) {
        return Err(Response::error(
            422,
            "invalid update: field 'id' is immutable",
        ));
    }
    // The class comes from the body (CONTRACT.md §5.3); the path's is the fallback.
    if input.class.is_empty() {
        input.class = class.to_string();
    }
    let mut state = ctx.state();
    let old = locate_existing(&mut state, &input.class, input.tenant.as_deref(), &id)?;
    let prepared = prepare_update(ctx, &mut state, &mut input, &fixups)?;
    let cname = prepared.class.clone();
    let obj = store(&mut state, prepared, id, old.created, now_ms());
    drop(state);
    Ok(object_response(
        &obj,
        &cname,
        &[],
        input.tenant.as_deref(),
        WRITTEN,
    ))
}

/// `PATCH /v1/objects/{c}/{id}`: merges top-level properties; a vector in the body replaces
/// the stored one. 204 without a body.
pub(crate) fn merge(ctx: &Ctx, class: &str, id: &str) -> Answer {
    let id = path_id(id)?;
    ctx.check_consistency()?;
    if ctx.req.body.iter().all(u8::is_ascii_whitespace) {
        return Err(Response::error(400, "empty body"));
    }
    let (mut input, fixups) = read_object(ctx)?;
    input.class = class.to_string();
    let mut state = ctx.state();
    let old = locate_existing(&mut state, class, input.tenant.as_deref(), &id)?;
    let mut merged = old.properties.clone();
    if let Some(Value::Object(new)) = &input.properties {
        for (k, v) in new {
            merged.insert(crate::util::lower_first(k), v.clone());
        }
    }
    input.properties = Some(Value::Object(merged));
    if input.vector.is_none() {
        input.vector = old.vector.clone();
    }
    let mut named: BTreeMap<String, Vector> = old.vectors.clone();
    named.extend(input.vectors.drain(..));
    input.vectors = named.into_iter().collect();
    let prepared = prepare_update(ctx, &mut state, &mut input, &fixups)?;
    store(&mut state, prepared, id, old.created, now_ms());
    Ok(Response::empty(204))
}

/// `DELETE /v1/objects/{c}/{id}`: 204 whether or not the object existed (≥ v1.26); an
/// unknown class is a 500 (CONTRACT.md §5.3).
pub(crate) fn delete(ctx: &Ctx, class: &str, id: &str) -> Answer {
    let id = path_id(id)?;
    ctx.check_consistency()?;
    let mut state = ctx.state();
    let Some(c) = state.class_mut(class) else {
        return Err(Response::error(
            500,
            format!(
                "could not delete object from vector repo: delete from non-existing index for {}",
                upper_first(class)
            ),
        ));
    };
    let key = c
        .shard_key(ctx.req.query("tenant"), false)
        .map_err(|e| Response::error(422, e))?;
    if let Some(s) = c.shards.get_mut(&key) {
        s.objects.remove(&id);
    }
    Ok(Response::empty(204))
}

/// The deprecated class-less routes `/v1/objects/{id}`: find the class holding the id, then
/// answer as the class route would.
pub(crate) fn classless(ctx: &Ctx, id: &str) -> Answer {
    let uuid = path_id(id)?;
    let tenant = ctx.req.query("tenant").unwrap_or("");
    let found = ctx
        .state()
        .classes
        .values()
        .find(|c| {
            c.shards
                .get(tenant)
                .is_some_and(|s| s.objects.contains_key(&uuid))
        })
        .map(|c| c.name().to_string());
    let body_class = ctx
        .body_json()
        .ok()
        .and_then(|b| b.get("class").and_then(Value::as_str).map(str::to_string));
    let Some(class) = found.or(body_class) else {
        return Err(Response::empty(404));
    };
    match ctx.req.method.as_str() {
        "GET" => get(ctx, &class, id, false),
        "HEAD" => get(ctx, &class, id, true),
        "PUT" => replace(ctx, &class, id),
        "PATCH" => merge(ctx, &class, id),
        _ => delete(ctx, &class, id),
    }
}
// ---------------------------------------------------------------------------------------------
// References

/// Adds one reference to a stored object's property (single and batch reference endpoints).
/// `to` may lack the class for single-target properties.
pub(crate) fn add_reference(
    state: &mut State,
    class: &str,
    id: &Uuid,
    prop: &str,
    tenant: Option<&str>,
    to: &str,
    replace_all: Option<Vec<Value>>,
) -> Result<(), String> {
    let cname = upper_first(class);
    let c = state
        .classes
        .get_mut(&cname)
        .ok_or_else(|| format!("source class {cname:?} not found in schema"))?;
    let targets: Vec<String> = c
        .property(prop)
        .and_then(|p| p.get("dataType"))
        .and_then(Value::as_array)
        .map(|dt| {
            dt.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .filter(|dt: &Vec<String>| dt.first().is_some_and(|t| is_ref_type(t)))
        .ok_or_else(|| format!("property {prop} does not exist for class {cname}"))?;
    let key = c.shard_key(tenant, true)?;
    let beacon = |to: &str| -> Result<Value, String> {
        let (tclass, tid) = parse_beacon(to)?;
        let tclass = match tclass {
            Some(t) => upper_first(&t),
            None if targets.len() == 1 => targets[0].clone(),
            None => {
                return Err(
                    "multi-target references require the class name in the target beacon url"
                        .into(),
                )
            }
        };
        Ok(json!({"beacon": format!("weaviate://localhost/{tclass}/{}", format_uuid(&tid))}))
    };
    let replacing = replace_all.is_some();
    let new_items = match replace_all {
        Some(list) => list
            .iter()
            .map(|r| beacon(r.get("beacon").and_then(Value::as_str).unwrap_or("")))
            .collect::<Result<Vec<_>, _>>()?,
        None => vec![beacon(to)?],
    };
    let obj = c
        .shards
        .get_mut(&key)
        .and_then(|s| s.objects.get_mut(id))
        .map(Arc::make_mut)
        .ok_or_else(|| format!("source object {cname}/{} not found", format_uuid(id)))?;
    let list = obj.properties.entry(prop.to_string()).or_insert(json!([]));
    if !list.is_array() || replacing {
        *list = json!([]);
    }
    if let Value::Array(items) = list {
        for item in new_items {
            // disableDuplicatedReferences defaults to true.
            if !items.contains(&item) {
                items.push(item);
            }
        }
    }
    obj.updated = now_ms();
    Ok(())
}

/// `POST`, `PUT` and `DELETE /v1/objects/{c}/{id}/references/{prop}`.
pub(crate) fn references(ctx: &Ctx, class: &str, id: &str, prop: &str) -> Answer {
    let id = path_id(id)?;
    ctx.check_consistency()?;
    let body = ctx.body_json()?;
    let tenant = ctx.req.query("tenant");
    let mut state = ctx.state();
    locate_existing(&mut state, class, tenant, &id)?;
    let prop = crate::util::lower_first(prop);
    let beacon = body.get("beacon").and_then(Value::as_str).unwrap_or("");
    let result = match ctx.req.method.as_str() {
        "POST" => add_reference(&mut state, class, &id, &prop, tenant, beacon, None),
        "PUT" => {
            let list = body.as_array().cloned().unwrap_or_default();
            add_reference(&mut state, class, &id, &prop, tenant, "", Some(list))
        }
        _ => remove_reference(&mut state, class, &id, &prop, tenant, beacon),
    };
    match result {
        Ok(()) if ctx.req.method == "DELETE" => Ok(Response::empty(204)),
        Ok(()) => Ok(Response::empty(200)),
        Err(e) => Err(Response::error(422, e)),
    }
}

fn remove_reference(
    state: &mut State,
    class: &str,
    id: &Uuid,
    prop: &str,
    tenant: Option<&str>,
    beacon: &str,
) -> Result<(), String> {
    let (_, target) = parse_beacon(beacon)?;
    let c = state.class_mut(class).ok_or("class not found")?;
    let key = c.shard_key(tenant, true)?;
    if let Some(obj) = c
        .shards
        .get_mut(&key)
        .and_then(|s| s.objects.get_mut(id))
        .map(Arc::make_mut)
    {
        if let Some(Value::Array(items)) = obj.properties.get_mut(prop) {
            items.retain(|item| {
                item.get("beacon")
                    .and_then(Value::as_str)
                    .and_then(|b| parse_beacon(b).ok())
                    .is_none_or(|(_, t)| t != target)
            });
        }
        obj.updated = now_ms();
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// List and cursor

fn cursor_error(reason: &str) -> Response {
    Response::error(
        422,
        format!("msg:cursor api: invalid 'after' parameter code:400 err:{reason}"),
    )
}

/// `GET /v1/objects`: with `class`, the cursor API and its checks in the order of
/// CONTRACT.md §5.4; without, a list across classes.
pub(crate) fn list(ctx: &Ctx) -> Answer {
    let vectors = include_vector(ctx)?;
    let limit_given = int_param(ctx, "limit")?;
    let limit = limit_given.unwrap_or(DEFAULT_LIMIT);
    let offset = int_param(ctx, "offset")?.unwrap_or(0);
    let max = ctx.config().max_results as i64;
    if offset < 0 || limit < 0 || offset.saturating_add(limit) > max {
        return Err(Response::error(422, format!(
            "msg:offset or limit code:400 err:query maximum results exceeded: the total limit calculated from the provided offset '{offset}' and limit '{limit}' exceeds the configured value for QUERY_MAXIMUM_RESULTS '{max}'. If you've supplied a negative offset or limit, this may be an underflow error"
        )));
    }
    let view = View {
        vectors,
        hrefs: true,
    };
    let sort = ctx.req.query("sort").filter(|s| !s.is_empty());
    let after = ctx.req.query("after");
    let Some(class) = ctx.req.query("class").filter(|c| !c.is_empty()) else {
        if after.is_some() {
            return Err(Response::error(500, "list objects: after parameter not allowed, cursor must be specific to one class, set class query param"));
        }
        let state = ctx.state();
        let classes: Vec<(String, Vec<String>)> = state
            .classes
            .values()
            .map(|c| (c.name().to_string(), c.ref_properties()))
            .collect();
        let all: Vec<(usize, Arc<StoredObject>)> = state
            .classes
            .values()
            .enumerate()
            .filter(|(_, c)| !c.is_mt())
            .flat_map(|(i, c)| {
                c.shards
                    .get("")
                    .into_iter()
                    .flat_map(|s| s.objects.values())
                    .map(move |o| (i, Arc::clone(o)))
            })
            .skip(offset as usize)
            .take(limit as usize)
            .collect();
        drop(state);
        let objects = all.iter().map(|(i, o)| {
            let (name, refs) = &classes[*i];
            (&**o, name.as_str(), refs.as_slice())
        });
        return Ok(page(objects, false, None, view));
    };
    if offset + limit == 0 {
        return Ok(page(std::iter::empty(), true, None, view));
    }
    let mut state = ctx.state();
    let Some(c) = state.class_mut(class) else {
        return Err(Response::empty(404));
    };
    let sort_keys = match sort {
        Some(s) => Some(sort_spec(c, s, ctx.req.query("order"))?),
        None => None,
    };
    let mut start = None;
    if let Some(after) = after {
        let mut conflicts = Vec::new();
        if offset > 0 {
            conflicts.push("offset");
        }
        if sort.is_some() {
            conflicts.push("sort");
        }
        if !conflicts.is_empty() {
            return Err(cursor_error(&format!(
                "{} cannot be set with after and limit parameters",
                conflicts.join(",")
            )));
        }
        if !after.is_empty() {
            let id = parse_uuid(after).map_err(|e| {
                cursor_error(&format!(
                    "after parameter '{after}' is not a valid uuid: {e}"
                ))
            })?;
            start = Some(id);
        }
        if limit_given.is_none() {
            return Err(cursor_error("limit parameter must be set"));
        }
    }
    let tenant = ctx.req.query("tenant");
    let key = c
        .shard_key(tenant, false)
        .map_err(|e| Response::error(422, e))?;
    let c = &*c;
    let empty = BTreeMap::new();
    let objects = c.shards.get(&key).map_or(&empty, |s| &s.objects);
    let selected: Vec<Arc<StoredObject>> = match (start, sort_keys) {
        (Some(after), _) => {
            use std::ops::Bound::{Excluded, Unbounded};
            objects
                .range((Excluded(after), Unbounded))
                .map(|(_, o)| Arc::clone(o))
                .take(limit as usize)
                .collect()
        }
        (None, Some(keys)) => {
            let mut all: Vec<&Arc<StoredObject>> = objects.values().collect();
            all.sort_by(|a, b| compare_by(&keys, a, b));
            all.into_iter()
                .skip(offset as usize)
                .take(limit as usize)
                .map(Arc::clone)
                .collect()
        }
        (None, None) => objects
            .values()
            .skip(offset as usize)
            .take(limit as usize)
            .map(Arc::clone)
            .collect(),
    };
    let (name, refs) = (c.name().to_string(), c.ref_properties());
    // The page is written from the shared objects after the lock is released.
    drop(state);
    let objects = selected
        .iter()
        .map(|o| (&**o, name.as_str(), refs.as_slice()));
    Ok(page(objects, true, tenant, view))
}

/// A list answer: `{"deprecations":[] or null,"objects":[...],"totalResults":n}`, with
/// `totalResults` left out when 0. A large page is written in parts on several threads (the
/// client waits for it, so the cores are otherwise idle) and the parts joined in order.
fn page<'o>(
    objects: impl ExactSizeIterator<Item = (&'o StoredObject, &'o str, &'o [String])>,
    class_path: bool,
    tenant: Option<&str>,
    view: View,
) -> Response {
    let objects: Vec<_> = objects.collect();
    let n = objects.len();
    let size = |o: &StoredObject| {
        let numbers = o.vector.as_ref().map_or(0, Vec::len)
            + o.vectors
                .values()
                .map(|v| match v {
                    Vector::Single(v) => v.len(),
                    Vector::Multi(rows) => rows.iter().map(Vec::len).sum(),
                })
                .sum::<usize>();
        512 + if view.vectors { numbers * 12 } else { 0 }
    };
    let total: usize = objects.iter().map(|(o, _, _)| size(o)).sum();
    let write = |part: &[(&StoredObject, &str, &[String])]| {
        let mut out = Vec::with_capacity(part.iter().map(|(o, _, _)| size(o)).sum());
        for (i, (o, class, refs)) in part.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            o.write_json(&mut out, class, refs, tenant, view);
        }
        out
    };
    let writers = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(MAX_WRITERS)
        .min(total / PARALLEL_MIN_BYTES)
        .clamp(1, n.max(1));
    let parts: Vec<Vec<u8>> = if writers > 1 {
        std::thread::scope(|scope| {
            // A part whose thread cannot be started is written on this one.
            let handles: Vec<_> = objects
                .chunks(n.div_ceil(writers))
                .map(|part| {
                    let thread = std::thread::Builder::new()
                        .spawn_scoped(scope, move || write(part))
                        .ok();
                    (part, thread)
                })
                .collect();
            handles
                .into_iter()
                .map(|(part, thread)| match thread {
                    Some(h) => h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)),
                    None => write(part),
                })
                .collect()
        })
    } else {
        vec![write(&objects)]
    };
    let mut out = Vec::with_capacity(parts.iter().map(Vec::len).sum::<usize>() + 128);
    out.extend_from_slice(if class_path {
        b"{\"deprecations\":[],\"objects\":["
    } else {
        b"{\"deprecations\":null,\"objects\":["
    });
    for (i, part) in parts.iter().filter(|p| !p.is_empty()).enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(part);
    }
    out.push(b']');
    if n > 0 {
        out.extend_from_slice(b",\"totalResults\":");
        crate::json::write_int(&mut out, n as i64);
    }
    out.push(b'}');
    Response::json_bytes(200, out)
}

/// Pages smaller than this (estimated) are written on one thread.
const PARALLEL_MIN_BYTES: usize = 1 << 20;
/// The most threads one page is written on.
const MAX_WRITERS: usize = 8;

/// `sort=a,b&order=asc,desc` as (property, descending) pairs; properties must exist.
fn sort_spec(c: &Class, sort: &str, order: Option<&str>) -> Result<Vec<(String, bool)>, Response> {
    let orders: Vec<&str> = order.unwrap_or("").split(',').collect();
    sort.split(',')
        .enumerate()
        .map(|(i, path)| {
            let special = ["_id", "id", "_creationTimeUnix", "_lastUpdateTimeUnix"].contains(&path);
            if !special && c.property(path).is_none() {
                return Err(Response::error(422, format!(
                    "msg:sorting code:400 err:sort parameter at position {i}: no such prop with name '{path}' found in class '{}' in the schema. Check your schema files for which properties in this class are available",
                    c.name()
                )));
            }
            let desc = match orders.get(i).copied().unwrap_or("") {
                "" | "asc" => false,
                "desc" => true,
                other => {
                    return Err(Response::error(422, format!(
                        "msg:sorting code:400 err:invalid order parameter at position {i}: {other:?}, possible values are: [asc desc]"
                    )))
                }
            };
            Ok((path.to_string(), desc))
        })
        .collect()
}

fn compare_by(keys: &[(String, bool)], a: &StoredObject, b: &StoredObject) -> std::cmp::Ordering {
    for (path, desc) in keys {
        let value = |o: &StoredObject| -> Value {
            match path.as_str() {
                "_id" | "id" => json!(format_uuid(&o.id)),
                "_creationTimeUnix" => json!(o.created),
                "_lastUpdateTimeUnix" => json!(o.updated),
                p => o.properties.get(p).cloned().unwrap_or(Value::Null),
            }
        };
        let ord = crate::filter::compare(&value(a), &value(b));
        let ord = if *desc { ord.reverse() } else { ord };
        if ord != std::cmp::Ordering::Equal {
            return ord;
        }
    }
    a.id.cmp(&b.id)
}
