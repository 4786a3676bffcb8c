//! The batch endpoints (CONTRACT.md §6): objects (200 with a result per object, in request
//! order, upserting), delete by filter (capped at QUERY_MAXIMUM_RESULTS, reporting every
//! match), and references.

use crate::api::Ctx;
use crate::filter;
use crate::floats::FloatFixups;
use crate::http::Response;
use crate::objects::{
    self, add_reference, parse_input, prepare, store, unmarshal_error, Failure, ObjectInput,
};
use crate::props::parse_beacon;
use crate::util::{format_uuid, now_ms, parse_uuid, random_uuid, upper_first};
use serde_json::{json, Map, Value};

fn check_consistency(ctx: &Ctx) -> Result<(), Response> {
    match ctx.req.query("consistency_level") {
        None | Some("ONE" | "QUORUM" | "ALL") => Ok(()),
        Some(other) => Err(Response::error(
            400,
            format!("unrecognized consistency level '{other}', try one of the following: ['ONE', 'QUORUM', 'ALL']"),
        )),
    }
}

fn failed(message: &str) -> Value {
    json!({"errors": {"error": [{"message": message}]}, "status": "FAILED"})
}

/// `POST /v1/batch/objects`.
pub(crate) fn objects(ctx: &Ctx) -> Response {
    if let Err(r) = check_consistency(ctx) {
        return r;
    }
    let body = match ctx.body_json() {
        Ok(b) => b,
        Err(r) => return r,
    };
    let list =
        match body.get("objects") {
            Some(Value::Array(list)) if !list.is_empty() => list,
            None | Some(Value::Null) | Some(Value::Array(_)) => return Response::error(
                422,
                "invalid param 'objects': cannot be empty, need at least one object for batching",
            ),
            Some(_) => {
                return unmarshal_error(
                    "json: cannot unmarshal into Go struct field .objects of type []*models.Object",
                )
            }
        };
    // The framework checks every object's shape (ids, vector types) before the handler runs:
    // one bad object fails the whole request (CONTRACT.md §1.3).
    let fixups = FloatFixups::scan(&ctx.req.body);
    let mut inputs: Vec<ObjectInput> = Vec::with_capacity(list.len());
    for (i, raw) in list.iter().enumerate() {
        match parse_input(raw, &fixups, &format!("body.objects.{i}.")) {
            Ok(input) => inputs.push(input),
            Err(r) => return r,
        }
    }
    let auto_schema = ctx.config().auto_schema;
    let now = now_ms();
    let mut results = Vec::with_capacity(inputs.len());
    let mut state = ctx.state();
    for (input, raw) in inputs.iter().zip(list) {
        let id = match &input.id {
            Some(s) => parse_uuid(s),
            None => Ok(random_uuid()),
        };
        // The id is echoed as sent: the batch path does not lowercase it (CONTRACT.md §1.3).
        let id_text = input
            .id
            .clone()
            .unwrap_or_else(|| id.as_ref().map(format_uuid).unwrap_or_default());
        let echo = |properties: Value, vector: Option<Value>, result: Value| {
            let mut item = Map::new();
            item.insert("class".into(), json!(upper_first(&input.class)));
            item.insert("creationTimeUnix".into(), json!(now));
            item.insert("id".into(), json!(id_text));
            item.insert("lastUpdateTimeUnix".into(), json!(now));
            item.insert("properties".into(), properties);
            if let Some(t) = &input.tenant {
                item.insert("tenant".into(), json!(t));
            }
            if let Some(Value::Object(v)) = vector {
                item.extend(v);
            }
            item.insert("deprecations".into(), Value::Null);
            item.insert("result".into(), result);
            Value::Object(item)
        };
        let sent_props = || raw.get("properties").cloned().unwrap_or(json!({}));
        let sent_vectors = || {
            let mut v = Map::new();
            for key in ["vector", "vectors"] {
                if let Some(x) = raw.get(key).filter(|x| !x.is_null()) {
                    v.insert(key.into(), x.clone());
                }
            }
            Some(Value::Object(v))
        };
        let id = match id {
            Ok(id) => id,
            Err(e) => {
                results.push(echo(
                    sent_props(),
                    sent_vectors(),
                    failed(&format!("invalid id: {e}")),
                ));
                continue;
            }
        };
        if let Some(message) = ctx
            .faults()
            .rejection(&format_uuid(&id))
            .map(str::to_string)
        {
            results.push(echo(sent_props(), sent_vectors(), failed(&message)));
            continue;
        }
        match prepare(&mut state, auto_schema, input, &fixups) {
            Ok(p) => {
                let class = p.class.clone();
                let stored = store(&mut state, p, id, now, now);
                let c = &state.classes[&class];
                let mut rendered = stored.to_json(c, input.tenant.as_deref(), objects::WRITTEN);
                let props = rendered
                    .get_mut("properties")
                    .map(Value::take)
                    .unwrap_or(json!({}));
                let vectors = rendered.as_object().map(|o| {
                    let mut v = Map::new();
                    for key in ["vector", "vectors"] {
                        if let Some(x) = o.get(key) {
                            v.insert(key.into(), x.clone());
                        }
                    }
                    Value::Object(v)
                });
                results.push(echo(props, vectors, json!({"status": "SUCCESS"})));
            }
            Err(Failure::UnknownClass(c)) => results.push(echo(
                sent_props(),
                sent_vectors(),
                failed(&format!("class '{c}' not present in schema")),
            )),
            Err(Failure::Invalid(m)) => {
                results.push(echo(sent_props(), sent_vectors(), failed(&m)))
            }
        }
    }
    Response::json(200, &Value::Array(results))
}

/// `DELETE /v1/batch/objects`: delete by filter (CONTRACT.md §6.3).
pub(crate) fn delete(ctx: &Ctx) -> Response {
    if let Err(r) = check_consistency(ctx) {
        return r;
    }
    let body = match ctx.body_json() {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Some(m) = body.get("match").filter(|m| !m.is_null()) else {
        return Response::error(422, "validate: empty match clause");
    };
    let class = m.get("class").and_then(Value::as_str).unwrap_or("");
    if class.is_empty() {
        return Response::error(422, "validate: empty match.class clause");
    }
    let Some(where_) = m.get("where").filter(|w| !w.is_null()) else {
        return Response::error(422, "validate: empty match.where clause");
    };
    let output = match body.get("output").and_then(Value::as_str).unwrap_or("") {
        "" | "minimal" => "minimal",
        "verbose" => "verbose",
        other => {
            return Response::error(
                500,
                format!("invalid output: {other:?}, possible values are: \"minimal\", \"verbose\""),
            )
        }
    };
    let dry_run = body.get("dryRun").and_then(Value::as_bool).unwrap_or(false);
    let deletion_time = body
        .get("deletionTimeUnixMilli")
        .filter(|v| !v.is_null())
        .cloned()
        .unwrap_or(json!(-62_135_596_800_000_i64));
    let limit = ctx.config().max_results;
    let mut state = ctx.state();
    let Some(c) = state.class_mut(class) else {
        return Response::error(
            422,
            format!("validate: failed to get class: {}", upper_first(class)),
        );
    };
    let f = match filter::parse(c, where_) {
        Ok(f) => f,
        Err(e) => return Response::error(422, e),
    };
    let key = match c.shard_key(ctx.req.query("tenant"), false) {
        Ok(k) => k,
        Err(e) => return Response::error(422, e),
    };
    let shard = c.shard(&key);
    let matched: Vec<_> = shard
        .objects
        .values()
        .filter(|o| filter::matches(&f, o))
        .map(|o| o.id)
        .collect();
    let take = matched.len().min(limit);
    let status = if dry_run { "DRYRUN" } else { "SUCCESS" };
    let mut items = Vec::new();
    for id in &matched[..take] {
        if !dry_run {
            shard.objects.remove(id);
        }
        if output == "verbose" {
            items.push(json!({"id": format_uuid(id), "status": status}));
        }
    }
    let successful = if dry_run { 0 } else { take };
    let echo_match = json!({"class": upper_first(class), "where": where_});
    Response::json(
        200,
        &json!({
            "match": echo_match,
            "output": output,
            "dryRun": dry_run,
            "deletionTimeUnixMilli": deletion_time,
            "results": {
                "matches": matched.len(),
                "limit": limit,
                "successful": successful,
                "failed": 0,
                // Minimal output lists failures only, and there are none here.
                "objects": if output == "verbose" { Value::Array(items) } else { Value::Null },
            }
        }),
    )
}

/// `POST /v1/batch/references`: `from` is `weaviate://localhost/<Class>/<uuid>/<prop>`.
pub(crate) fn references(ctx: &Ctx) -> Response {
    if let Err(r) = check_consistency(ctx) {
        return r;
    }
    let body = match ctx.body_json() {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Some(list) = body.as_array() else {
        return unmarshal_error(
            "json: cannot unmarshal object into Go value of type []*models.BatchReference",
        );
    };
    if list.is_empty() {
        return Response::error(
            422,
            "invalid params: length cannot be 0, need at least one reference for batching",
        );
    }
    let mut state = ctx.state();
    let mut results = Vec::with_capacity(list.len());
    for item in list {
        let from = item.get("from").and_then(Value::as_str).unwrap_or("");
        let to = item.get("to").and_then(Value::as_str).unwrap_or("");
        let tenant = item
            .get("tenant")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty());
        let outcome = parse_from(from).and_then(|(class, id, prop)| {
            parse_beacon(to)?;
            add_reference(&mut state, &class, &id, &prop, tenant, to, None)
        });
        let mut out = Map::new();
        out.insert("from".into(), json!(from));
        out.insert("to".into(), json!(to));
        if let Some(t) = tenant {
            out.insert("tenant".into(), json!(t));
        }
        out.insert(
            "result".into(),
            match outcome {
                Ok(()) => json!({"status": "SUCCESS"}),
                Err(e) => failed(&e),
            },
        );
        results.push(Value::Object(out));
    }
    Response::json(200, &Value::Array(results))
}

fn parse_from(from: &str) -> Result<(String, [u8; 16], String), String> {
    let rest = from.strip_prefix("weaviate://localhost/").ok_or_else(|| {
        format!("invalid cref URI: {from:?} is not a weaviate://localhost/ beacon")
    })?;
    let parts: Vec<&str> = rest.split('/').collect();
    let [class, id, prop] = parts.as_slice() else {
        return Err(format!(
            "invalid cref URI: source beacon {from:?} must be weaviate://localhost/<Class>/<uuid>/<property>"
        ));
    };
    let id = parse_uuid(id).map_err(|e| format!("invalid cref URI: {e}"))?;
    Ok((class.to_string(), id, crate::util::lower_first(prop)))
}
