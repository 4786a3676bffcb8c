//! The batch endpoints (CONTRACT.md §6): objects (200 with a result per object, in request
//! order, upserting), delete by filter (capped at QUERY_MAXIMUM_RESULTS, reporting every
//! match), and references.

use crate::ctx::{Answer, Ctx};
use crate::filter;
use crate::floats::FloatFixups;
use crate::http::Response;
use crate::json::{self, BatchObject};
use crate::objects::{
    add_reference, parse_input, parse_read_input, prepare, store, unmarshal_error, Failure,
    ObjectInput,
};
use crate::props::parse_beacon;
use crate::state::StoredObject;
use crate::util::{format_uuid, now_ms, parse_uuid, random_uuid, upper_first};
use serde_json::{json, Map, Value};
use std::sync::Arc;

fn failed(message: &str) -> Value {
    json!({"errors": {"error": [{"message": message}]}, "status": "FAILED"})
}

/// An object of a batch as it was sent, for the answer when it fails (which echoes it).
enum Sent<'a> {
    /// Read into a `Value` (the general path).
    Value(&'a Value),
    /// Read by `json::batch_objects`.
    Read(&'a BatchObject<'a>),
}

impl Sent<'_> {
    /// `properties` as sent (`null` included), or `{}` without, for an object whose input
    /// does not hold them.
    fn properties(&self) -> Value {
        let fields = match self {
            Sent::Value(v) => v.as_object(),
            Sent::Read(o) => Some(&o.fields),
        };
        fields
            .and_then(|f| f.get("properties"))
            .cloned()
            .unwrap_or(json!({}))
    }

    /// `vector` and `vectors` as sent, when not `null`.
    fn vectors(&self) -> Vec<(&'static str, Value)> {
        match self {
            Sent::Value(v) => ["vector", "vectors"]
                .into_iter()
                .filter_map(|k| Some((k, v.get(k).filter(|x| !x.is_null())?.clone())))
                .collect(),
            // The texts were read as JSON already, so they read as `Value`s too.
            Sent::Read(o) => [("vector", o.vector_text), ("vectors", o.vectors_text)]
                .into_iter()
                .filter_map(|(k, text)| Some((k, serde_json::from_slice(text?).ok()?)))
                .collect(),
        }
    }
}

/// What became of one object of a batch.
enum Verdict {
    Stored(Arc<StoredObject>),
    /// The message, and the object's properties as sent.
    Failed(String, Value),
}

/// `POST /v1/batch/objects`.
pub(crate) fn objects(ctx: &Ctx) -> Answer {
    ctx.check_consistency()?;
    // Bodies are read without `Value` trees for their vectors when they can be
    // (`json::batch_objects`); every other body, the invalid ones included, takes the `Value`
    // path, which gives the framework's errors.
    let mut read;
    let body;
    let (inputs, sent, fixups): (Vec<ObjectInput>, Vec<Sent>, FloatFixups) =
        match json::batch_objects(&ctx.req.body) {
            Some((objects, fixups)) => {
                read = objects;
                let inputs = read
                    .iter_mut()
                    .enumerate()
                    .map(|(i, o)| {
                        let vector = o.vector.take();
                        let vectors = std::mem::take(&mut o.vectors);
                        parse_read_input(&mut o.fields, vector, vectors, i)
                    })
                    .collect::<Result<_, _>>()?;
                (inputs, read.iter().map(Sent::Read).collect(), fixups)
            }
            None => {
                body = ctx.body_json()?;
                let list = match body.get("objects") {
                    Some(Value::Array(list)) if !list.is_empty() => list,
                    None | Some(Value::Null) | Some(Value::Array(_)) => return Err(Response::error(
                        422,
                        "invalid param 'objects': cannot be empty, need at least one object for batching",
                    )),
                    Some(_) => {
                        return Err(unmarshal_error(
                            "json: cannot unmarshal into Go struct field .objects of type []*models.Object",
                        ))
                    }
                };
                // The framework checks every object's shape (ids, vector types) before the
                // handler runs: one bad object fails the whole request (CONTRACT.md §1.3).
                let fixups = FloatFixups::scan(&ctx.req.body);
                let inputs = list
                    .iter()
                    .enumerate()
                    .map(|(i, raw)| parse_input(raw, &fixups, Some(i)))
                    .collect::<Result<_, _>>()?;
                (inputs, list.iter().map(Sent::Value).collect(), fixups)
            }
        };
    let auto_schema = ctx.config().auto_schema;
    let now = now_ms();
    let mut verdicts = Vec::with_capacity(inputs.len());
    let mut ids = Vec::with_capacity(inputs.len());
    let mut state = ctx.state();
    for (mut input, sent) in inputs.into_iter().zip(&sent) {
        // The id is echoed as sent: the batch path does not lowercase it (CONTRACT.md §1.3).
        let sent_id = input.id.take();
        let id = match &sent_id {
            Some(s) => parse_uuid(s),
            None => Ok(random_uuid()),
        };
        let (outcome, canonical) = match id {
            Err(e) => (Err(format!("invalid id: {e}")), None),
            Ok(id) => {
                let canonical = format_uuid(&id);
                let rejection = ctx.faults().rejection(&canonical).map(str::to_string);
                let outcome = match rejection {
                    Some(message) => Err(message),
                    None => match prepare(&mut state, auto_schema, &mut input, &fixups) {
                        Ok(p) => Ok(store(&mut state, p, id, now, now)),
                        Err(Failure::UnknownClass(c)) => {
                            Err(format!("class '{c}' not present in schema"))
                        }
                        Err(Failure::Invalid(m)) => Err(m),
                    },
                };
                (outcome, Some(canonical))
            }
        };
        verdicts.push(match outcome {
            Ok(stored) => Verdict::Stored(stored),
            // The input holds the properties unless they were `null` or missing.
            Err(message) => Verdict::Failed(
                message,
                input.properties.take().unwrap_or_else(|| sent.properties()),
            ),
        });
        let id_text = sent_id.or(canonical).unwrap_or_default();
        ids.push((upper_first(&input.class), id_text, input.tenant));
    }
    // The answer is written from the stored objects after the lock is released.
    drop(state);
    let size: usize = verdicts
        .iter()
        .map(|v| match v {
            Verdict::Stored(o) => 512 + 16 * o.vector.as_ref().map_or(0, Vec::len),
            Verdict::Failed(..) => 512,
        })
        .sum();
    let mut out = Vec::with_capacity(size);
    out.push(b'[');
    for (k, ((verdict, (class, id_text, tenant)), sent)) in
        verdicts.iter().zip(&ids).zip(&sent).enumerate()
    {
        if k > 0 {
            out.push(b',');
        }
        // The object as stored or attempted, then `deprecations` and `result` (CONTRACT.md
        // §6.1): the members of Weaviate's answer, in the order its JSON has them.
        out.extend_from_slice(b"{\"class\":");
        json::write_str(&mut out, class);
        out.extend_from_slice(b",\"creationTimeUnix\":");
        json::write_int(&mut out, now);
        out.extend_from_slice(b",\"id\":");
        json::write_str(&mut out, id_text);
        out.extend_from_slice(b",\"lastUpdateTimeUnix\":");
        json::write_int(&mut out, now);
        out.extend_from_slice(b",\"properties\":");
        match verdict {
            Verdict::Stored(o) => json::write_map(&mut out, &o.properties),
            Verdict::Failed(_, properties) => json::write_value(&mut out, properties),
        }
        if let Some(t) = tenant {
            out.extend_from_slice(b",\"tenant\":");
            json::write_str(&mut out, t);
        }
        match verdict {
            Verdict::Stored(o) => o.write_vectors(&mut out),
            Verdict::Failed(..) => {
                for (key, v) in sent.vectors() {
                    out.extend_from_slice(b",\"");
                    out.extend_from_slice(key.as_bytes());
                    out.extend_from_slice(b"\":");
                    json::write_value(&mut out, &v);
                }
            }
        }
        out.extend_from_slice(b",\"deprecations\":null,\"result\":");
        match verdict {
            Verdict::Stored(_) => out.extend_from_slice(b"{\"status\":\"SUCCESS\"}"),
            Verdict::Failed(m, _) => json::write_value(&mut out, &failed(m)),
        }
        out.push(b'}');
    }
    out.push(b']');
    Ok(Response::json_bytes(200, out))
}

/// `DELETE /v1/batch/objects`: delete by filter (CONTRACT.md §6.3).
pub(crate) fn delete(ctx: &Ctx) -> Answer {
    ctx.check_consistency()?;
    let body = ctx.body_json()?;
    let Some(m) = body.get("match").filter(|m| !m.is_null()) else {
        return Err(Response::error(422, "validate: empty match clause"));
    };
    let class = m.get("class").and_then(Value::as_str).unwrap_or("");
    if class.is_empty() {
        return Err(Response::error(422, "validate: empty match.class clause"));
    }
    let Some(where_) = m.get("where").filter(|w| !w.is_null()) else {
        return Err(Response::error(422, "validate: empty match.where clause"));
    };
    let output = match body.get("output").and_then(Value::as_str).unwrap_or("") {
        "" | "minimal" => "minimal",
        "verbose" => "verbose",
        other => {
            return Err(Response::error(
                500,
                format!("invalid output: {other:?}, possible values are: \"minimal\", \"verbose\""),
            ))
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
        return Err(Response::error(
            422,
            format!("validate: failed to get class: {}", upper_first(class)),
        ));
    };
    let f = filter::parse(c, where_).map_err(|e| Response::error(422, e))?;
    let key = c
        .shard_key(ctx.req.query("tenant"), false)
        .map_err(|e| Response::error(422, e))?;
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
    Ok(Response::json(
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
    ))
}

/// `POST /v1/batch/references`: `from` is `weaviate://localhost/<Class>/<uuid>/<prop>`.
pub(crate) fn references(ctx: &Ctx) -> Answer {
    ctx.check_consistency()?;
    let body = ctx.body_json()?;
    let Some(list) = body.as_array() else {
        return Err(unmarshal_error(
            "json: cannot unmarshal object into Go value of type []*models.BatchReference",
        ));
    };
    if list.is_empty() {
        return Err(Response::error(
            422,
            "invalid params: length cannot be 0, need at least one reference for batching",
        ));
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
    Ok(Response::json(200, &Value::Array(results)))
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
