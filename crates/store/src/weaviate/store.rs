//! The [`Store`] interface over Weaviate's `/v1` API, following
//! `shared/weaviate/CONTRACT.md` (section 12 is its checklist): schema and tenants, batches
//! judged object by object, existence through batched GraphQL queries, the cursor, deletes.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use serde::Deserialize;
use serde_json::{json, Map, Value};
use ureq::http::Method;

use super::client::{enc, Query, Weaviate};
use super::wire::{
    read_batch_answer, read_object, read_object_list, write_batch, BatchItem, BatchResult,
    DeleteAnswer, Wire,
};
use crate::names::{check_class_name, check_property_name, check_tenant_name, class_name};
use crate::schema::strip_server_fields;
use crate::{
    canonical_id, ErrorKind, Filter, Object, Outcome, Result, Store, StoreError, Tenant, Vector,
    VectorText,
};

/// Objects per `POST /v1/batch/objects` request. The Python client's default, and small
/// enough that a request of 100 objects with 1536-dimension vectors (about 1.5 MB) stays far
/// from Weaviate's 30 s read and 60 s write timeouts; throughput comes from keeping
/// `in_flight` requests going at once instead.
pub const BATCH_SIZE: usize = 100;
/// Ids per `DELETE /v1/batch/objects` request: Weaviate deletes at most
/// `QUERY_MAXIMUM_RESULTS` (10000 by default) objects per call.
pub(super) const DELETE_CHUNK: usize = 10_000;
/// The largest cursor page Weaviate allows by default (`QUERY_MAXIMUM_RESULTS`).
pub const MAX_PAGE: usize = 10_000;
/// Tenants per `POST .../tenants` request, Weaviate's limit for the `PUT` of the same API.
pub(super) const TENANT_CHUNK: usize = 100;
/// Ids per GraphQL existence query: Weaviate's default `Get` limit
/// (`QUERY_DEFAULTS_LIMIT_GRAPHQL`), far below `QUERY_MAXIMUM_RESULTS`.
pub(super) const EXISTS_CHUNK: usize = 100;

impl Weaviate {
    /// The pages of a whole collection (or of one tenant of it), each up to `page_size`
    /// objects, in ascending id order; the scan ends after the first empty page. For a
    /// multi-tenant collection, list [`Store::tenants`] and scan each.
    pub fn pages<'a>(
        &'a self,
        class: &str,
        tenant: Option<&str>,
        page_size: usize,
        vectors: bool,
    ) -> Pages<'a> {
        Pages {
            store: self,
            class: class.to_owned(),
            tenant: tenant.map(str::to_owned),
            after: None,
            page_size,
            vectors,
            done: false,
        }
    }

    // ----- pieces of the Store implementation -------------------------------------------

    /// One batch request; the outcome of each of its objects, in order.
    fn upsert_chunk(&self, chunk: &[Wire<'_>]) -> Result<Vec<Outcome>> {
        // Room for the whole body up front: vectors take about 12 bytes a number.
        let numbers: usize = chunk
            .iter()
            .map(|(o, _)| {
                o.vector.as_ref().map_or(0, Vec::len)
                    + o.vectors
                        .values()
                        .map(|v| match v {
                            Vector::Single(v) => v.len(),
                            Vector::Multi(rows) => rows.iter().map(Vec::len).sum(),
                        })
                        .sum::<usize>()
            })
            .sum();
        let mut bytes = Vec::with_capacity(numbers * 12 + chunk.len() * 1024);
        write_batch(&mut bytes, chunk)
            .map_err(|e| StoreError::other(format!("cannot encode a request to Weaviate: {e}")))?;
        let reply = self.send(Method::POST, "/batch/objects", Some(&bytes))?;
        if matches!(reply.status, 413 | 422) {
            // The server judged the request's content and wrote none of it: each object is
            // rejected (and can be fed back in), the other batches go on.
            let why = self.refused("the batch", &reply).message;
            return Ok(chunk
                .iter()
                .map(|_| Outcome::Rejected(why.clone()))
                .collect());
        }
        // The answer echoes every object, vectors included; only the verdicts are read.
        let read = (200..300)
            .contains(&reply.status)
            .then(|| read_batch_answer::<BatchResult>(&reply.body))
            .flatten();
        let items: Vec<BatchItem> = match read {
            Some(items) => items
                .into_iter()
                .map(|(id, result)| BatchItem { id, result })
                .collect(),
            None => self.json("POST /v1/batch/objects", &reply)?,
        };
        Ok(chunk
            .iter()
            .enumerate()
            .map(|(i, (sent, _))| match items.get(i) {
                None => Outcome::Rejected(
                    "Weaviate's batch answer has no result for this object, so it may not have been written".into(),
                ),
                Some(item) => item.outcome(&sent.id, self),
            })
            .collect())
    }

    /// The objects among `ids` (canonical, at most [`EXISTS_CHUNK`], no repeats) that exist,
    /// with their values of `properties` (checked names): one GraphQL `Get` filtered on them
    /// (CONTRACT.md 7). A collection that does not exist holds none; other GraphQL errors
    /// (HTTP 200 with `errors`) are errors.
    fn lookup(
        &self,
        name: &str,
        tenant: Option<&str>,
        ids: &[&str],
        properties: &[&str],
    ) -> Result<Vec<(String, Map<String, Value>)>> {
        let tenant_arg = tenant
            .map(|t| format!("tenant: \"{t}\", "))
            .unwrap_or_default();
        let list = ids
            .iter()
            .map(|id| format!("\"{id}\""))
            .collect::<Vec<_>>()
            .join(", ");
        let query = format!(
            "{{ Get {{ {name}({tenant_arg}limit: {}, where: {{path: [\"id\"], operator: ContainsAny, valueTextArray: [{list}]}}) {{ {} _additional {{ id }} }} }} }}",
            ids.len(),
            properties.join(" ")
        );
        #[derive(Deserialize)]
        struct Answer {
            #[serde(default)]
            data: Option<Value>,
            #[serde(default)]
            errors: Option<Vec<Value>>,
        }
        let what = format!("looking up objects in {name}");
        let Some(answer) = self.graphql(name, &what, &query, |a: &Answer| {
            a.errors.as_ref().and_then(|e| e.first())
        })?
        else {
            return Ok(Vec::new());
        };
        let rows = answer
            .data
            .as_ref()
            .and_then(|d| d.pointer(&format!("/Get/{name}")))
            .and_then(Value::as_array)
            .ok_or_else(|| self.unexpected(&what, format!("no data.Get.{name}")))?;
        rows.iter()
            .map(|row| {
                let id = row
                    .pointer("/_additional/id")
                    .and_then(Value::as_str)
                    .and_then(canonical_id)
                    .ok_or_else(|| self.unexpected(&what, "a row without _additional.id"))?;
                let values = properties
                    .iter()
                    .filter_map(|p| {
                        row.get(*p)
                            .filter(|v| !v.is_null())
                            .map(|v| ((*p).to_owned(), v.clone()))
                    })
                    .collect();
                Ok((id, values))
            })
            .collect()
    }

    /// `ids` canonical, checked names: the objects that exist, with `properties`.
    fn lookup_all(
        &self,
        class: &str,
        tenant: Option<&str>,
        ids: &[String],
        properties: &[&str],
    ) -> Result<Option<HashMap<String, Map<String, Value>>>> {
        let name = class_name(class);
        // A name Weaviate would refuse cannot name a collection, which then holds nothing;
        // checked names are also all that can reach the GraphQL text.
        if check_class_name(&name).is_err() {
            return Ok(None);
        }
        for p in properties {
            check_property_name(p).map_err(StoreError::invalid)?;
        }
        // An empty tenant is no tenant, as in a query string.
        let tenant = tenant.filter(|t| !t.is_empty());
        if let Some(t) = tenant {
            check_tenant_name(t).map_err(StoreError::invalid)?;
        }
        let mut unique: Vec<&str> = ids.iter().map(String::as_str).collect();
        unique.sort_unstable();
        unique.dedup();
        let chunks: Vec<&[&str]> = unique.chunks(EXISTS_CHUNK).collect();
        let found = self
            .parallel(&chunks, self.in_flight, |chunk| {
                self.lookup(&name, tenant, chunk, properties)
            })?
            .into_iter()
            .flatten()
            .collect();
        Ok(Some(found))
    }

    /// `DELETE /v1/batch/objects` for one filter, repeated while Weaviate's per-call cap
    /// left matches behind (CONTRACT.md 6.3). A request retried after a dropped answer may
    /// find fewer objects than the first attempt deleted, so the count can then be low.
    fn delete_matching(&self, class: &str, tenant: Option<&str>, filter: &Value) -> Result<u64> {
        let path = format!(
            "/batch/objects{}",
            Query::new().opt("tenant", tenant).finish()
        );
        let body = json!({
            "match": {"class": class, "where": filter},
            "output": "minimal",
            "dryRun": false,
        });
        let what = format!("the delete from {class}");
        let mut total = 0;
        loop {
            let reply = self.send_json(Method::DELETE, &path, &body)?;
            let answer: DeleteAnswer = self.json(&what, &reply)?;
            let r = answer.results;
            total += r.successful;
            if r.failed > 0 {
                let first = r
                    .objects
                    .iter()
                    .flatten()
                    .find_map(|o| o.pointer("/errors/error/0/message").and_then(Value::as_str))
                    .unwrap_or("no details given");
                return Err(StoreError::other(format!(
                    "Weaviate could not delete {} of {} matching objects from {class} ({total} deleted): {}",
                    r.failed,
                    r.matches,
                    self.scrub(first)
                )));
            }
            let all_in_this_call = r.limit.is_some_and(|limit| r.matches <= limit);
            if r.matches == 0 || r.successful == 0 || all_in_this_call {
                return Ok(total);
            }
        }
    }
}

/// The pages of a cursor scan; see [`Weaviate::pages`].
pub struct Pages<'a> {
    store: &'a Weaviate,
    class: String,
    tenant: Option<String>,
    after: Option<String>,
    page_size: usize,
    vectors: bool,
    done: bool,
}

impl Iterator for Pages<'_> {
    type Item = Result<Vec<Object>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let page = self.store.scan(
            &self.class,
            self.tenant.as_deref(),
            self.after.as_deref(),
            self.page_size,
            self.vectors,
        );
        match &page {
            Ok(objects) => match objects.last() {
                Some(last) => self.after = Some(last.id.clone()),
                None => {
                    self.done = true;
                    return None;
                }
            },
            Err(_) => self.done = true,
        }
        Some(page)
    }
}

impl Store for Weaviate {
    fn location(&self) -> String {
        self.root.clone()
    }

    fn collections(&self) -> Result<Vec<Value>> {
        #[derive(Deserialize)]
        struct Schema {
            #[serde(default)]
            classes: Option<Vec<Value>>,
        }
        let schema: Schema = self.get_json("GET /v1/schema", "/schema")?;
        let mut classes: Vec<Value> = schema
            .classes
            .unwrap_or_default()
            .iter()
            .map(strip_server_fields)
            .collect();
        // Weaviate's order is a Go map's; a sorted list makes exports reproducible.
        classes.sort_by(|a, b| a["class"].as_str().cmp(&b["class"].as_str()));
        Ok(classes)
    }

    fn class(&self, name: &str) -> Result<Option<Value>> {
        let name = class_name(name);
        let reply = self.send(Method::GET, &format!("/schema/{}", enc(&name)), None)?;
        if reply.status == 404 {
            return Ok(None);
        }
        let def: Value = self.json(&format!("GET /v1/schema/{name}"), &reply)?;
        Ok(Some(strip_server_fields(&def)))
    }

    fn create_class(&self, class: &Value) -> Result<Value> {
        let name = class_of(class)?;
        let reply = self.send_json(Method::POST, "/schema", class)?;
        match self.json(&format!("creating collection {name}"), &reply) {
            // An earlier attempt may have created it before its answer was lost.
            Err(e) if e.kind == ErrorKind::Conflict && reply.attempts > 1 => {
                self.class(&name)?.ok_or(e)
            }
            other => other,
        }
    }

    fn update_class(&self, class: &Value) -> Result<Value> {
        let name = class_of(class)?;
        let reply = self.send_json(Method::PUT, &format!("/schema/{}", enc(&name)), class)?;
        if reply.status == 404 {
            return Err(missing_collection(&name));
        }
        self.json(&format!("updating collection {name}"), &reply)
    }

    fn delete_class(&self, name: &str) -> Result<()> {
        let name = class_name(name);
        let reply = self.send(Method::DELETE, &format!("/schema/{}", enc(&name)), None)?;
        // 200 whether or not it existed; a 404 from an older server means the same.
        if (200..300).contains(&reply.status) || reply.status == 404 {
            Ok(())
        } else {
            Err(self.refused(&format!("deleting collection {name}"), &reply))
        }
    }

    fn add_property(&self, class: &str, property: &Value) -> Result<()> {
        let name = class_name(class);
        let path = format!("/schema/{}/properties", enc(&name));
        let reply = self.send_json(Method::POST, &path, property)?;
        if (200..300).contains(&reply.status) {
            return Ok(());
        }
        let err = self.refused(&format!("adding a property to {name}"), &reply);
        if reply.status == 422 && err.message.contains("conflict for property") {
            // A retry of a request that did add it is not a conflict.
            if reply.attempts > 1 {
                return Ok(());
            }
            return Err(StoreError::new(ErrorKind::Conflict, err.message));
        }
        Err(err)
    }

    fn tenants(&self, class: &str) -> Result<Vec<Tenant>> {
        let name = class_name(class);
        let path = format!("/schema/{}/tenants", enc(&name));
        let mut tenants: Vec<Tenant> =
            self.get_json(&format!("listing the tenants of {name}"), &path)?;
        // Weaviate's order is a Go map's.
        tenants.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(tenants)
    }

    fn create_tenants(&self, class: &str, tenants: &[Tenant]) -> Result<()> {
        let name = class_name(class);
        let path = format!("/schema/{}/tenants", enc(&name));
        for chunk in tenants.chunks(TENANT_CHUNK) {
            let reply = self.send_json(Method::POST, &path, &chunk)?;
            let _: Value = self.json(&format!("creating tenants of {name}"), &reply)?;
        }
        Ok(())
    }

    fn upsert(&self, objects: &[Object]) -> Result<Vec<Outcome>> {
        self.upsert_texts(objects, &[])
    }

    fn upsert_texts(&self, objects: &[Object], texts: &[VectorText<'_>]) -> Result<Vec<Outcome>> {
        // Ids are checked here because one malformed id makes Weaviate refuse the whole
        // request (CONTRACT.md 1.3); they are sent in canonical form.
        let mut outcomes: Vec<Option<Outcome>> = vec![None; objects.len()];
        let mut to_send: Vec<(usize, Wire<'_>)> = Vec::with_capacity(objects.len());
        let text = |i: usize| texts.get(i).copied().unwrap_or_default();
        for (i, o) in objects.iter().enumerate() {
            match canonical_id(&o.id) {
                None => {
                    outcomes[i] = Some(Outcome::Rejected(format!(
                        "id {:?} is not a valid UUID",
                        o.id
                    )))
                }
                Some(id) if id == o.id => to_send.push((i, (Cow::Borrowed(o), text(i)))),
                Some(id) => {
                    let mut o = o.clone();
                    o.id = id;
                    to_send.push((i, (Cow::Owned(o), text(i))));
                }
            }
        }
        // Within one request Weaviate keeps the last copy of an id, but the requests of one
        // call run in parallel, in no order: only the last copy of each object (the same
        // class, tenant and id) is sent, and the earlier copies share its outcome.
        let mut sent_as = vec![0; to_send.len()];
        {
            let mut last: HashMap<(String, Option<&str>, &str), usize> = HashMap::new();
            for (k, (_, (o, _))) in to_send.iter().enumerate().rev() {
                let key = (class_name(&o.class), o.tenant.as_deref(), o.id.as_str());
                sent_as[k] = *last.entry(key).or_insert(k);
            }
        }
        let mut index = Vec::with_capacity(to_send.len());
        let mut wire: Vec<Wire<'_>> = Vec::with_capacity(to_send.len());
        let mut wire_pos = vec![usize::MAX; to_send.len()];
        let mut copies = Vec::new();
        for (k, (i, o)) in to_send.into_iter().enumerate() {
            if sent_as[k] == k {
                wire_pos[k] = wire.len();
                index.push(i);
                wire.push(o);
            } else {
                copies.push((i, sent_as[k]));
            }
        }
        let chunks: Vec<&[Wire<'_>]> = wire.chunks(BATCH_SIZE).collect();
        let results: Vec<Outcome> = self
            .parallel(&chunks, self.in_flight, |c| self.upsert_chunk(c))?
            .into_iter()
            .flatten()
            .collect();
        for (i, k) in copies {
            outcomes[i] = results.get(wire_pos[k]).cloned();
        }
        for (i, outcome) in index.into_iter().zip(results) {
            outcomes[i] = Some(outcome);
        }
        Ok(outcomes
            .into_iter()
            .map(|o| o.unwrap_or_else(|| Outcome::Rejected("not sent to Weaviate".into())))
            .collect())
    }

    fn delete(&self, class: &str, tenant: Option<&str>, ids: &[String]) -> Result<u64> {
        let name = class_name(class);
        let mut seen = HashSet::new();
        let mut unique = Vec::with_capacity(ids.len());
        for id in ids {
            let c = canonical_id(id)
                .ok_or_else(|| StoreError::invalid(format!("{id:?} is not a UUID")))?;
            if seen.insert(c.clone()) {
                unique.push(c);
            }
        }
        let mut total = 0;
        for chunk in unique.chunks(DELETE_CHUNK) {
            let filter = Filter::IdIn(chunk.to_vec()).to_where(None);
            total += self.delete_matching(&name, tenant, &filter)?;
        }
        Ok(total)
    }

    fn delete_where(&self, class: &str, tenant: Option<&str>, filter: &Filter) -> Result<u64> {
        if let Filter::IdIn(ids) = filter {
            return self.delete(class, tenant, ids);
        }
        // The value key of the filter follows the property's data type, so the definition
        // is read first; Weaviate answers an unknown class with a 422 "failed to get class".
        let name = class_name(class);
        let def = self
            .class(&name)?
            .ok_or_else(|| missing_collection(&name))?;
        let filter = match filter {
            // Weaviate compares ids as text with the stored lowercase form, so the id is sent
            // canonical; a value that is no UUID matches no object.
            Filter::Equal { property, value } if matches!(property.as_str(), "id" | "_id") => {
                match value.as_str().and_then(canonical_id) {
                    Some(id) => Cow::Owned(Filter::IdIn(vec![id])),
                    None => return Ok(0),
                }
            }
            other => Cow::Borrowed(other),
        };
        self.delete_matching(&name, tenant, &filter.to_where(Some(&def)))
    }

    fn get(
        &self,
        class: &str,
        tenant: Option<&str>,
        id: &str,
        vectors: bool,
    ) -> Result<Option<Object>> {
        let name = class_name(class);
        let id =
            canonical_id(id).ok_or_else(|| StoreError::invalid(format!("{id:?} is not a UUID")))?;
        let query = Query::new()
            .opt("include", vectors.then_some("vector"))
            .opt("tenant", tenant)
            .finish();
        let path = format!("/objects/{}/{id}{query}", enc(&name));
        let reply = self.send(Method::GET, &path, None)?;
        if reply.status == 404 {
            return Ok(None);
        }
        if (200..300).contains(&reply.status) {
            if let Some(o) = read_object(&reply.body) {
                return Ok(Some(o));
            }
        }
        self.json(&format!("GET /v1/objects/{name}/{id}"), &reply)
            .map(Some)
    }

    fn exists(&self, class: &str, tenant: Option<&str>, ids: &[String]) -> Result<Vec<bool>> {
        let ids = canonical_ids(ids)?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let Some(found) = self.lookup_all(class, tenant, &ids, &[])? else {
            return Ok(vec![false; ids.len()]);
        };
        Ok(ids.iter().map(|id| found.contains_key(id)).collect())
    }

    fn fields(
        &self,
        class: &str,
        tenant: Option<&str>,
        ids: &[String],
        properties: &[&str],
    ) -> Result<Vec<Option<Map<String, Value>>>> {
        let ids = canonical_ids(ids)?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let Some(found) = self.lookup_all(class, tenant, &ids, properties)? else {
            return Ok(vec![None; ids.len()]);
        };
        Ok(ids.iter().map(|id| found.get(id).cloned()).collect())
    }

    fn scan(
        &self,
        class: &str,
        tenant: Option<&str>,
        after: Option<&str>,
        limit: usize,
        vectors: bool,
    ) -> Result<Vec<Object>> {
        #[derive(Deserialize)]
        struct Page {
            #[serde(default)]
            objects: Option<Vec<Object>>,
        }
        if limit == 0 {
            return Ok(Vec::new());
        }
        let name = class_name(class);
        // Always `limit` (the server's default is 10 or 25), always `after` (empty for the
        // start), never `offset` or `sort` (CONTRACT.md 5.4).
        let query = Query::new()
            .add("class", &name)
            .add("limit", &limit.min(MAX_PAGE).to_string())
            .add("after", after.unwrap_or(""))
            .opt("include", vectors.then_some("vector"))
            .opt("tenant", tenant)
            .finish();
        let reply = self.send(Method::GET, &format!("/objects{query}"), None)?;
        if reply.status == 404 {
            return Err(missing_collection(&name));
        }
        if (200..300).contains(&reply.status) {
            if let Some(objects) = read_object_list(&reply.body) {
                return Ok(objects);
            }
        }
        let page: Page = self.json(&format!("the cursor over {name}"), &reply)?;
        Ok(page.objects.unwrap_or_default())
    }

    fn count(&self, class: &str, tenant: Option<&str>) -> Result<u64> {
        let name = class_name(class);
        // Both go into the query text, so they are checked against Weaviate's name rules
        // first; nothing else can reach the GraphQL parser.
        check_class_name(&name).map_err(StoreError::invalid)?;
        let args = match tenant {
            Some(t) => {
                check_tenant_name(t).map_err(StoreError::invalid)?;
                format!("(tenant: \"{t}\")")
            }
            None => String::new(),
        };
        let query = format!("{{ Aggregate {{ {name}{args} {{ meta {{ count }} }} }} }}");
        let what = format!("counting {name}");
        let Some(answer) = self.graphql(&name, &what, &query, |a: &Value| {
            a.get("errors")
                .and_then(Value::as_array)
                .and_then(|e| e.first())
        })?
        else {
            return Err(missing_collection(&name));
        };
        let groups = answer
            .pointer(&format!("/data/Aggregate/{name}"))
            .and_then(Value::as_array)
            .ok_or_else(|| self.unexpected(&what, format!("no data.Aggregate.{name}")))?;
        // No group at all is an empty collection.
        match groups.first() {
            None => Ok(0),
            Some(g) => g
                .pointer("/meta/count")
                .and_then(Value::as_u64)
                .ok_or_else(|| self.unexpected(&what, "no meta.count")),
        }
    }
}

/// The class name of a definition, normalised, for the path.
fn class_of(def: &Value) -> Result<String> {
    match def.get("class").and_then(Value::as_str) {
        Some(n) if !n.is_empty() => Ok(class_name(n)),
        _ => Err(StoreError::invalid(
            "a class definition needs a \"class\" name",
        )),
    }
}

fn missing_collection(name: &str) -> StoreError {
    StoreError::not_found(format!("collection {name} does not exist"))
}

/// Ids in canonical form, or an error naming the first that is not a UUID.
fn canonical_ids(ids: &[String]) -> Result<Vec<String>> {
    ids.iter()
        .map(|id| {
            canonical_id(id).ok_or_else(|| StoreError::invalid(format!("{id:?} is not a UUID")))
        })
        .collect()
}
