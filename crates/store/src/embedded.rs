//! The embedded store: collections in Weaviate's object model in one SQLite file, so that
//! every ely command works with no server at all.
//!
//! The file is created with mode 0600 and runs in WAL mode with a busy timeout, so one process
//! can scan while another writes. Each batch is one transaction. Vectors are little-endian
//! float32 blobs and come back bit for bit; properties are JSON text, so integers stay
//! integers. The schema carries a version (`PRAGMA user_version`) and is migrated on open.
//! Objects are checked the way Weaviate checks them (names, tenants, vector targets,
//! property types, auto-schema), with Weaviate's messages, so that what the embedded store
//! accepts a server accepts too.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension, Transaction};
use serde_json::{json, Map, Value};

use crate::names::{check_tenant_name, class_name, property_name};
use crate::schema::{
    inferred_property, is_multi_tenant, named_vectors, normalize_class, normalize_property,
    property_names, strip_server_fields,
};
use crate::{
    canonical_id, ErrorKind, Filter, Object, Outcome, Result, Store, StoreError, Tenant, Vector,
};

/// Each entry brings the schema from the previous version to the next.
const MIGRATIONS: &[&str] = &[
    // 1: classes, tenants, objects.
    "CREATE TABLE classes (
         name TEXT PRIMARY KEY,
         folded TEXT NOT NULL UNIQUE,
         definition TEXT NOT NULL
     );
     CREATE TABLE tenants (
         class TEXT NOT NULL,
         name TEXT NOT NULL,
         status TEXT NOT NULL,
         PRIMARY KEY (class, name)
     ) WITHOUT ROWID;
     CREATE TABLE objects (
         class TEXT NOT NULL,
         tenant TEXT NOT NULL,
         id BLOB NOT NULL,
         properties TEXT NOT NULL,
         vector BLOB,
         vectors BLOB,
         created INTEGER NOT NULL,
         updated INTEGER NOT NULL,
         PRIMARY KEY (class, tenant, id)
     ) WITHOUT ROWID;",
    // 2: the vector length each target took first.
    "CREATE TABLE vector_dims (
         class TEXT NOT NULL,
         target TEXT NOT NULL,
         dims INTEGER NOT NULL,
         PRIMARY KEY (class, target)
     ) WITHOUT ROWID;",
    // 3: objects in a rowid table with a unique index on (class, tenant, id). An object's row
    // (kilobytes of vectors and text) is far larger than SQLite's pages: in a WITHOUT ROWID
    // table every row is also the b-tree's key, so inserting and finding one read overflow
    // pages at each level; now only the index's small keys are searched.
    "CREATE TABLE objects_rows (
         class TEXT NOT NULL,
         tenant TEXT NOT NULL,
         id BLOB NOT NULL,
         created INTEGER NOT NULL,
         updated INTEGER NOT NULL,
         properties TEXT NOT NULL,
         vector BLOB,
         vectors BLOB
     );
     INSERT INTO objects_rows (class, tenant, id, created, updated, properties, vector, vectors)
         SELECT class, tenant, id, created, updated, properties, vector, vectors FROM objects
         ORDER BY class, tenant, id;
     DROP TABLE objects;
     ALTER TABLE objects_rows RENAME TO objects;
     CREATE UNIQUE INDEX objects_key ON objects (class, tenant, id);",
];

pub struct Embedded {
    path: PathBuf,
    conn: Mutex<Connection>,
    auto_schema: bool,
}

impl Embedded {
    /// Opens the store at `path`, creating the file (and its folder) when missing.
    pub fn open(path: &Path) -> Result<Embedded> {
        let conn = crate::sqlite::open(path, "embedded store", MIGRATIONS, |conn| {
            conn.pragma_update(None, "synchronous", "FULL")?;
            // The WAL is copied into the database every 10,000 pages (40 MB) rather than
            // SQLite's 1,000: fewer, larger checkpoints (each ends with an fsync of the
            // database) made a 20,000-object restore of 1536-dimension vectors about 12%
            // faster, for at most 40 MB more disk while a write is under way.
            conn.pragma_update(None, "wal_autocheckpoint", 10_000)
        })?;
        Ok(Embedded {
            path: path.to_owned(),
            conn: Mutex::new(conn),
            auto_schema: true,
        })
    }

    /// With auto-schema off, unknown collections and properties are refused, as Weaviate
    /// does with `AUTOSCHEMA_ENABLED=false`.
    pub fn with_auto_schema(mut self, on: bool) -> Embedded {
        self.auto_schema = on;
        self
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite consistent (transactions roll back).
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn write<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn id_bytes(id: &str) -> Result<[u8; 16]> {
    let canon =
        canonical_id(id).ok_or_else(|| StoreError::invalid(format!("{id:?} is not a UUID")))?;
    let hex: Vec<u8> = canon.bytes().filter(|&c| c != b'-').collect();
    let mut out = [0u8; 16];
    for (i, pair) in hex.chunks(2).enumerate() {
        let s = std::str::from_utf8(pair).unwrap_or("00");
        out[i] = u8::from_str_radix(s, 16).unwrap_or(0);
    }
    Ok(out)
}

fn id_text(b: &[u8]) -> Result<String> {
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    match canonical_id(&hex) {
        Some(id) if b.len() == 16 => Ok(id),
        _ => Err(damaged("an object id")),
    }
}

fn f32_blob(v: &[f32], out: &mut Vec<u8>) {
    for x in v {
        out.extend_from_slice(&x.to_le_bytes());
    }
}

fn blob_f32(b: &[u8]) -> Result<Vec<f32>> {
    if !b.len().is_multiple_of(4) {
        return Err(damaged("a vector"));
    }
    Ok(b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

/// Named vectors as one blob: per vector, the name's length (u16) and bytes, 0 for a vector
/// or 1 for a multi-vector, the row count and width (u32 each), then the floats.
fn encode_named(vectors: &NamedVectors) -> Option<Vec<u8>> {
    if vectors.is_empty() {
        return None;
    }
    let mut out = Vec::new();
    for (name, v) in vectors {
        out.extend_from_slice(&(name.len() as u16).to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        let rows: Vec<&[f32]> = match v {
            Vector::Single(v) => vec![v],
            Vector::Multi(m) => m.iter().map(Vec::as_slice).collect(),
        };
        out.push(u8::from(matches!(v, Vector::Multi(_))));
        out.extend_from_slice(&(rows.len() as u32).to_le_bytes());
        for r in rows {
            out.extend_from_slice(&(r.len() as u32).to_le_bytes());
            f32_blob(r, &mut out);
        }
    }
    Some(out)
}

fn decode_named(mut b: &[u8]) -> Result<NamedVectors> {
    let corrupt = || damaged("a named vector");
    let take = |n: usize, b: &mut &[u8]| -> Result<Vec<u8>> {
        if b.len() < n {
            return Err(corrupt());
        }
        let (head, tail) = b.split_at(n);
        *b = tail;
        Ok(head.to_vec())
    };
    let u32_at = |v: Vec<u8>| u32::from_le_bytes([v[0], v[1], v[2], v[3]]) as usize;
    let mut out = std::collections::BTreeMap::new();
    while !b.is_empty() {
        let len = take(2, &mut b)?;
        let len = u16::from_le_bytes([len[0], len[1]]) as usize;
        let name = String::from_utf8(take(len, &mut b)?).map_err(|_| corrupt())?;
        let multi = take(1, &mut b)?[0] == 1;
        let rows = u32_at(take(4, &mut b)?);
        let mut vs = Vec::with_capacity(rows.min(1 << 16));
        for _ in 0..rows {
            let dims = u32_at(take(4, &mut b)?);
            vs.push(blob_f32(&take(
                dims.checked_mul(4).ok_or_else(corrupt)?,
                &mut b,
            )?)?);
        }
        let v = match (multi, vs.len()) {
            (true, _) => Vector::Multi(vs),
            (false, 1) => Vector::Single(vs.pop().ok_or_else(corrupt)?),
            (false, _) => return Err(corrupt()),
        };
        out.insert(name, v);
    }
    Ok(out)
}

fn load_class(tx: &Connection, name: &str) -> Result<Option<Value>> {
    let def: Option<String> = tx
        .query_row(
            "SELECT definition FROM classes WHERE name = ?1",
            [name],
            |r| r.get(0),
        )
        .optional()?;
    def.map(|d| match serde_json::from_str::<Value>(&d) {
        Ok(v) if v.is_object() => Ok(v),
        _ => Err(damaged(&format!("the definition of class {name}"))),
    })
    .transpose()
}

fn damaged(what: &str) -> StoreError {
    StoreError::other(format!(
        "embedded store: {what} is damaged (was the file changed by another program?)"
    ))
}

fn save_class(tx: &Connection, def: &Value) -> Result<()> {
    let name = def["class"].as_str().unwrap_or_default();
    tx.execute(
        "INSERT INTO classes (name, folded, definition) VALUES (?1, ?2, ?3)
         ON CONFLICT(name) DO UPDATE SET definition = excluded.definition",
        params![name, name.to_lowercase(), def.to_string()],
    )?;
    Ok(())
}

fn require_class(tx: &Connection, name: &str) -> Result<Value> {
    load_class(tx, &class_name(name))?.ok_or_else(|| {
        StoreError::not_found(format!("collection {:?} does not exist", class_name(name)))
    })
}

/// The tenant key of an object row, after Weaviate's multi-tenancy rules (CONTRACT.md 5.5).
fn tenant_key(tx: &Connection, def: &Value, tenant: Option<&str>, write: bool) -> Result<String> {
    let class = def["class"].as_str().unwrap_or_default();
    match (is_multi_tenant(def), tenant.filter(|t| !t.is_empty())) {
        (false, None) => Ok(String::new()),
        (false, Some(_)) => Err(StoreError::invalid(format!(
            "class {class} has multi-tenancy disabled, but request was with tenant"
        ))),
        (true, None) => Err(StoreError::invalid(format!(
            "class {class} has multi-tenancy enabled, but request was without tenant"
        ))),
        (true, Some(t)) => {
            let status: Option<String> = tx
                .prepare_cached("SELECT status FROM tenants WHERE class = ?1 AND name = ?2")?
                .query_row([class, t], |r| r.get(0))
                .optional()?;
            let auto = |what: &str| {
                def.pointer(&format!("/multiTenancyConfig/{what}"))
                    .and_then(Value::as_bool)
                    .unwrap_or(false)
            };
            match status.as_deref() {
                None if write && auto("autoTenantCreation") => {
                    check_tenant_name(t).map_err(StoreError::invalid)?;
                    tx.execute(
                        "INSERT INTO tenants (class, name, status) VALUES (?1, ?2, 'HOT')",
                        [class, t],
                    )?;
                    Ok(t.to_owned())
                }
                None => Err(StoreError::invalid(format!("tenant not found: {t:?}"))),
                Some("HOT") => Ok(t.to_owned()),
                Some("COLD") if auto("autoTenantActivation") => {
                    tx.execute(
                        "UPDATE tenants SET status = 'HOT' WHERE class = ?1 AND name = ?2",
                        [class, t],
                    )?;
                    Ok(t.to_owned())
                }
                Some(_) => Err(StoreError::invalid(format!("tenant not active: '{t}'"))),
            }
        }
    }
}

fn legacy_status(s: Option<&str>) -> Result<String> {
    Ok(match s.unwrap_or("").to_ascii_uppercase().as_str() {
        "" | "HOT" | "ACTIVE" => "HOT",
        "COLD" | "INACTIVE" => "COLD",
        "FROZEN" | "OFFLOADED" => {
            return Err(StoreError::invalid(
                "tenants can be FROZEN (offloaded) only on a Weaviate with the offload-s3 module",
            ))
        }
        other => {
            return Err(StoreError::invalid(format!(
                "unknown tenant activity status {other:?}"
            )))
        }
    }
    .to_owned())
}

const OBJECT_COLUMNS: &str = "id, properties, vector, vectors, created, updated";

/// An object row as read, before its bytes are checked and decoded.
struct Row {
    id: Vec<u8>,
    properties: String,
    vector: Option<Vec<u8>>,
    vectors: Option<Vec<u8>>,
    created: i64,
    updated: i64,
}

fn read_row(r: &rusqlite::Row<'_>, vectors: bool) -> rusqlite::Result<Row> {
    Ok(Row {
        id: r.get(0)?,
        properties: r.get(1)?,
        vector: if vectors { r.get(2)? } else { None },
        vectors: if vectors { r.get(3)? } else { None },
        created: r.get(4)?,
        updated: r.get(5)?,
    })
}

fn parse_properties(text: &str) -> Result<Map<String, Value>> {
    serde_json::from_str(text).map_err(|_| damaged("an object's properties"))
}

fn to_object(row: Row, def: &Value, tenant: &str) -> Result<Object> {
    let class = def["class"].as_str().unwrap_or_default();
    let mut properties = parse_properties(&row.properties)?;
    add_hrefs(def, &mut properties);
    Ok(Object {
        class: class.to_owned(),
        id: id_text(&row.id)?,
        tenant: (!tenant.is_empty()).then(|| tenant.to_owned()),
        properties,
        vector: row
            .vector
            .map(|b| blob_f32(&b))
            .transpose()?
            .filter(|v| !v.is_empty()),
        vectors: row
            .vectors
            .map(|b| decode_named(&b))
            .transpose()?
            .unwrap_or_default(),
        creation_time_unix: Some(row.created),
        last_update_time_unix: Some(row.updated),
    })
}

/// Weaviate adds the API path of each reference's target on read.
fn add_hrefs(def: &Value, properties: &mut Map<String, Value>) {
    for p in def["properties"].as_array().into_iter().flatten() {
        let is_ref = p["dataType"][0]
            .as_str()
            .is_some_and(|t| t.starts_with(|c: char| c.is_ascii_uppercase()));
        let Some(Value::Array(refs)) = p["name"].as_str().and_then(|n| properties.get_mut(n))
        else {
            continue;
        };
        if !is_ref {
            continue;
        }
        for r in refs.iter_mut().filter_map(Value::as_object_mut) {
            let href = r
                .get("beacon")
                .and_then(Value::as_str)
                .and_then(|b| b.strip_prefix("weaviate://localhost/"))
                .map(|rest| format!("/v1/objects/{rest}"));
            if let Some(h) = href {
                r.insert("href".into(), Value::String(h));
            }
        }
    }
}

impl Store for Embedded {
    fn location(&self) -> String {
        // The full path: a manifest or a header read from another folder (a catalog, cron)
        // still names this store, and one store is one source.
        std::path::absolute(&self.path)
            .unwrap_or_else(|_| self.path.clone())
            .display()
            .to_string()
    }

    fn collections(&self) -> Result<Vec<Value>> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT definition FROM classes ORDER BY name")?;
        let defs = stmt
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        defs.iter()
            .map(|d| match serde_json::from_str::<Value>(d) {
                Ok(v) if v.is_object() => Ok(strip_server_fields(&v)),
                _ => Err(damaged("a class definition")),
            })
            .collect()
    }

    fn class(&self, name: &str) -> Result<Option<Value>> {
        Ok(load_class(&self.conn(), &class_name(name))?.map(|d| strip_server_fields(&d)))
    }

    fn create_class(&self, class: &Value) -> Result<Value> {
        let def = normalize_class(class).map_err(StoreError::invalid)?;
        let name = def["class"].as_str().unwrap_or_default().to_owned();
        self.write(|tx| {
            let similar: Option<String> = tx
                .query_row(
                    "SELECT name FROM classes WHERE folded = ?1",
                    [name.to_lowercase()],
                    |r| r.get(0),
                )
                .optional()?;
            match similar {
                Some(s) if s == name => Err(StoreError::new(
                    ErrorKind::Conflict,
                    format!("class name {name} already exists"),
                )),
                Some(s) => Err(StoreError::new(
                    ErrorKind::Conflict,
                    format!("class already exists: found similar class {s:?}"),
                )),
                None => save_class(tx, &def),
            }
        })?;
        Ok(def)
    }

    /// Replaces the mutable settings. Properties are kept as they are, as in Weaviate
    /// (whose update cannot change them; new ones go through `add_property`).
    fn update_class(&self, class: &Value) -> Result<Value> {
        let mut def = normalize_class(class).map_err(StoreError::invalid)?;
        let name = def["class"].as_str().unwrap_or_default().to_owned();
        self.write(|tx| {
            let old = require_class(tx, &name)?;
            if is_multi_tenant(&old) != is_multi_tenant(&def) {
                return Err(StoreError::invalid(format!(
                    "class {name}: multi-tenancy cannot be turned on or off on an existing collection"
                )));
            }
            if def.get("properties").is_some_and(|p| !p.is_null())
                && property_names(&def) != property_names(&old)
            {
                return Err(StoreError::invalid(format!(
                    "class {name}: an update cannot add, remove or rename properties (add them one by one)"
                )));
            }
            def["properties"] = old.get("properties").cloned().unwrap_or(Value::Null);
            if def["properties"].is_null() {
                if let Some(obj) = def.as_object_mut() {
                    obj.remove("properties");
                }
            }
            save_class(tx, &def)
        })?;
        Ok(def)
    }

    fn delete_class(&self, name: &str) -> Result<()> {
        let name = class_name(name);
        self.write(|tx| {
            tx.execute("DELETE FROM objects WHERE class = ?1", [&name])?;
            tx.execute("DELETE FROM tenants WHERE class = ?1", [&name])?;
            tx.execute("DELETE FROM vector_dims WHERE class = ?1", [&name])?;
            tx.execute("DELETE FROM classes WHERE name = ?1", [&name])?;
            Ok(())
        })
    }

    fn add_property(&self, class: &str, property: &Value) -> Result<()> {
        let mut p = property.clone();
        normalize_property(&mut p).map_err(StoreError::invalid)?;
        self.write(|tx| {
            let mut def = require_class(tx, class)?;
            let name = p["name"].as_str().unwrap_or_default();
            if property_names(&def)
                .iter()
                .any(|n| n.eq_ignore_ascii_case(name))
            {
                return Err(StoreError::new(
                    ErrorKind::Conflict,
                    format!(
                        "class {:?}: conflict for property {name:?}: already in use or provided multiple times",
                        def["class"].as_str().unwrap_or_default()
                    ),
                ));
            }
            push_property(&mut def, p.clone());
            save_class(tx, &def)
        })
    }

    fn tenants(&self, class: &str) -> Result<Vec<Tenant>> {
        let conn = self.conn();
        let def = require_class(&conn, class)?;
        require_multi_tenant(&def)?;
        let mut stmt =
            conn.prepare("SELECT name, status FROM tenants WHERE class = ?1 ORDER BY name")?;
        let tenants = stmt
            .query_map([def["class"].as_str().unwrap_or_default()], |r| {
                Ok(Tenant {
                    name: r.get(0)?,
                    activity_status: Some(r.get(1)?),
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(tenants)
    }

    fn create_tenants(&self, class: &str, tenants: &[Tenant]) -> Result<()> {
        self.write(|tx| {
            let def = require_class(tx, class)?;
            require_multi_tenant(&def)?;
            let mut seen = std::collections::HashSet::new();
            for (i, t) in tenants.iter().enumerate() {
                check_tenant_name(&t.name)
                    .map_err(|e| StoreError::invalid(format!("tenant name at index {i}: {e}")))?;
                if !seen.insert(&t.name) {
                    return Err(StoreError::invalid(format!(
                        "tenant name {} existed multiple times",
                        t.name
                    )));
                }
                let status = legacy_status(t.activity_status.as_deref())?;
                tx.execute(
                    "INSERT INTO tenants (class, name, status) VALUES (?1, ?2, ?3)
                     ON CONFLICT(class, name) DO NOTHING",
                    params![def["class"].as_str().unwrap_or_default(), t.name, status],
                )?;
            }
            Ok(())
        })
    }

    fn upsert(&self, objects: &[Object]) -> Result<Vec<Outcome>> {
        self.write(|tx| {
            let mut batch = Batch {
                tx,
                classes: HashMap::new(),
                changed: Vec::new(),
                auto_schema: self.auto_schema,
                now: now_ms(),
                dims: HashMap::new(),
            };
            let outcomes = objects
                .iter()
                .map(|o| match batch.put(o) {
                    Ok(()) => Ok(Outcome::Written),
                    Err(e) if e.kind == ErrorKind::Invalid => Ok(Outcome::Rejected(e.message)),
                    Err(e) => Err(e),
                })
                .collect::<Result<Vec<_>>>()?;
            for name in &batch.changed {
                save_class(tx, &batch.classes[name])?;
            }
            Ok(outcomes)
        })
    }

    fn delete(&self, class: &str, tenant: Option<&str>, ids: &[String]) -> Result<u64> {
        self.write(|tx| {
            let def = require_class(tx, class)?;
            let key = tenant_key(tx, &def, tenant, true)?;
            let mut stmt =
                tx.prepare("DELETE FROM objects WHERE class = ?1 AND tenant = ?2 AND id = ?3")?;
            let mut n = 0;
            for id in ids {
                n += stmt.execute(params![def["class"].as_str(), key, id_bytes(id)?])? as u64;
            }
            Ok(n)
        })
    }

    fn delete_where(&self, class: &str, tenant: Option<&str>, filter: &Filter) -> Result<u64> {
        if let Filter::IdIn(ids) = filter {
            return self.delete(class, tenant, ids);
        }
        self.write(|tx| {
            let def = require_class(tx, class)?;
            let name = def["class"].as_str().unwrap_or_default();
            let key = tenant_key(tx, &def, tenant, true)?;
            // A page of rows at a time, so memory stays flat however large the collection.
            let mut select = tx.prepare(
                "SELECT id, properties FROM objects WHERE class = ?1 AND tenant = ?2 AND id > ?3
                 ORDER BY id LIMIT 1000",
            )?;
            let mut delete =
                tx.prepare("DELETE FROM objects WHERE class = ?1 AND tenant = ?2 AND id = ?3")?;
            let (mut after, mut deleted) = (Vec::new(), 0u64);
            loop {
                let page = select
                    .query_map(params![name, key, after], |r| {
                        Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, String>(1)?))
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                let Some((last, _)) = page.last() else {
                    return Ok(deleted);
                };
                after = last.clone();
                for (id, props) in &page {
                    if filter.matches(&id_text(id)?, &parse_properties(props)?) {
                        deleted += delete.execute(params![name, key, id])? as u64;
                    }
                }
            }
        })
    }

    fn get(
        &self,
        class: &str,
        tenant: Option<&str>,
        id: &str,
        vectors: bool,
    ) -> Result<Option<Object>> {
        let conn = self.conn();
        // As with Weaviate's 404, a missing collection holds no such object.
        let Some(def) = load_class(&conn, &class_name(class))? else {
            return Ok(None);
        };
        let name = def["class"].as_str().unwrap_or_default();
        let key = tenant_key(&conn, &def, tenant, false)?;
        let found = conn
            .query_row(
                &format!(
                    "SELECT {OBJECT_COLUMNS} FROM objects WHERE class = ?1 AND tenant = ?2 AND id = ?3"
                ),
                params![name, key, id_bytes(id)?],
                |r| read_row(r, vectors),
            )
            .optional()?;
        found.map(|row| to_object(row, &def, &key)).transpose()
    }

    fn exists(&self, class: &str, tenant: Option<&str>, ids: &[String]) -> Result<Vec<bool>> {
        let ids = ids
            .iter()
            .map(|id| id_bytes(id))
            .collect::<Result<Vec<_>>>()?;
        let conn = self.conn();
        let Some(def) = load_class(&conn, &class_name(class))? else {
            return Ok(vec![false; ids.len()]);
        };
        let key = tenant_key(&conn, &def, tenant, false)?;
        let mut stmt =
            conn.prepare("SELECT 1 FROM objects WHERE class = ?1 AND tenant = ?2 AND id = ?3")?;
        ids.iter()
            .map(|id| Ok(stmt.exists(params![def["class"].as_str(), key, id])?))
            .collect()
    }

    fn scan(
        &self,
        class: &str,
        tenant: Option<&str>,
        after: Option<&str>,
        limit: usize,
        vectors: bool,
    ) -> Result<Vec<Object>> {
        let conn = self.conn();
        let def = require_class(&conn, class)?;
        let name = def["class"].as_str().unwrap_or_default();
        let key = tenant_key(&conn, &def, tenant, false)?;
        // `after` is exclusive; from the start is `>=` the all-zero UUID, itself a valid id.
        let (op, after) = match after.filter(|a| !a.is_empty()) {
            Some(a) => (
                ">",
                id_bytes(a).map_err(|_| {
                    StoreError::invalid(format!(
                        "cursor api: invalid 'after' parameter: {a:?} is not a valid uuid"
                    ))
                })?,
            ),
            None => (">=", [0u8; 16]),
        };
        let mut stmt = conn.prepare(&format!(
            "SELECT {OBJECT_COLUMNS} FROM objects WHERE class = ?1 AND tenant = ?2 AND id {op} ?3
             ORDER BY id LIMIT ?4"
        ))?;
        let rows = stmt
            .query_map(params![name, key, after, limit as i64], |r| {
                read_row(r, vectors)
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter()
            .map(|row| to_object(row, &def, &key))
            .collect()
    }

    fn count(&self, class: &str, tenant: Option<&str>) -> Result<u64> {
        let conn = self.conn();
        let def = require_class(&conn, class)?;
        let key = tenant_key(&conn, &def, tenant, false)?;
        let n: i64 = conn.query_row(
            "SELECT COUNT(*) FROM objects WHERE class = ?1 AND tenant = ?2",
            params![def["class"].as_str(), key],
            |r| r.get(0),
        )?;
        Ok(n as u64)
    }
}

fn require_multi_tenant(def: &Value) -> Result<()> {
    if is_multi_tenant(def) {
        Ok(())
    } else {
        Err(StoreError::invalid(format!(
            "multi-tenancy is not enabled for class {:?}",
            def["class"].as_str().unwrap_or_default()
        )))
    }
}

fn push_property(def: &mut Value, p: Value) {
    match def.get_mut("properties").and_then(Value::as_array_mut) {
        Some(props) => props.push(p),
        None => def["properties"] = Value::Array(vec![p]),
    }
}

/// One upsert batch inside its transaction; class definitions are cached, and those that
/// auto-schema extended are saved at the end.
struct Batch<'a, 'c> {
    tx: &'a Transaction<'c>,
    classes: HashMap<String, Value>,
    changed: Vec<String>,
    auto_schema: bool,
    now: i64,
    /// Vector lengths already known, by (class, target), so each is looked up once a batch.
    dims: HashMap<(String, String), usize>,
}

impl Batch<'_, '_> {
    fn put(&mut self, o: &Object) -> Result<()> {
        let name = class_name(&o.class);
        if name.is_empty() {
            return Err(StoreError::invalid("object has an empty class"));
        }
        let id = id_bytes(&o.id)
            .map_err(|_| StoreError::invalid(format!("id {:?} is not a valid UUID", o.id)))?;
        if !self.classes.contains_key(&name) {
            let def = match load_class(self.tx, &name)? {
                Some(def) => def,
                None if self.auto_schema => {
                    let def = normalize_class(&json!({"class": name, "vectorizer": "none"}))
                        .map_err(StoreError::invalid)?;
                    self.changed.push(name.clone());
                    def
                }
                None => {
                    return Err(StoreError::invalid(format!(
                        "class '{name}' not present in schema"
                    )))
                }
            };
            self.classes.insert(name.clone(), def);
        }
        let key = tenant_key(self.tx, &self.classes[&name], o.tenant.as_deref(), true)?;
        let properties = self.properties(&name, &key, &o.properties)?;
        let def = &self.classes[&name];
        let (vector, vectors) = place_vectors(def, o)?;
        if let Some(v) = &vector {
            self.check_dims(&name, "", v.len())?;
        }
        for (target, v) in &vectors {
            let dims = match v {
                Vector::Single(s) => s.len(),
                Vector::Multi(m) => {
                    let w = m.first().map_or(0, Vec::len);
                    if m.iter().any(|r| r.len() != w) {
                        return Err(StoreError::invalid(format!(
                            "multi-vector {target} has rows of different lengths"
                        )));
                    }
                    w
                }
            };
            self.check_dims(&name, target, dims)?;
        }
        let mut blob = Vec::new();
        if let Some(v) = &vector {
            f32_blob(v, &mut blob);
        }
        self.tx
            .prepare_cached(
                "INSERT OR REPLACE INTO objects (class, tenant, id, properties, vector, vectors, created, updated)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
            )?
            .execute(params![
                name,
                key,
                id,
                Value::Object(properties).to_string(),
                vector.map(|_| blob),
                encode_named(&vectors),
                self.now
            ])?;
        Ok(())
    }

    /// Names normalised, nulls dropped, unknown properties added (auto-schema) or refused,
    /// values checked against their types.
    fn properties(
        &mut self,
        class: &str,
        tenant: &str,
        given: &Map<String, Value>,
    ) -> Result<Map<String, Value>> {
        let mut out = Map::new();
        for (k, v) in given {
            if v.is_null() {
                continue;
            }
            let k = property_name(k);
            let def = self
                .classes
                .get_mut(class)
                .ok_or_else(|| StoreError::other("class"))?;
            let data_type = def
                .get("properties")
                .and_then(Value::as_array)
                .and_then(|ps| ps.iter().find(|p| p["name"].as_str() == Some(k.as_str())))
                .and_then(|p| p["dataType"][0].as_str())
                .map(str::to_owned);
            let mut v = v.clone();
            match data_type {
                Some(t) => {
                    check_value(class, &k, &t, &v).map_err(StoreError::invalid)?;
                    normalize_value(&t, &mut v);
                    if t.starts_with(|c: char| c.is_ascii_uppercase()) {
                        self.check_references(class, &k, &t, tenant, &mut v)?;
                    }
                }
                None if self.auto_schema => {
                    crate::names::check_property_name(&k).map_err(StoreError::invalid)?;
                    push_property(
                        def,
                        inferred_property(&k, &v).map_err(StoreError::invalid)?,
                    );
                    if !self.changed.iter().any(|c| c == class) {
                        self.changed.push(class.to_owned());
                    }
                }
                None => {
                    return Err(StoreError::invalid(format!(
                        "no such prop with name '{k}' found in class '{class}' in the schema. Check your schema files for which properties in this class are available"
                    )))
                }
            }
            out.insert(k, v);
        }
        Ok(out)
    }

    /// Every vector of a target has the length of the first one it took (CONTRACT.md 5.1).
    fn check_dims(&mut self, class: &str, target: &str, dims: usize) -> Result<()> {
        if dims == 0 {
            return Ok(());
        }
        let key = (class.to_owned(), target.to_owned());
        let known = match self.dims.get(&key) {
            Some(&m) => Some(m),
            None => self
                .tx
                .prepare_cached("SELECT dims FROM vector_dims WHERE class = ?1 AND target = ?2")?
                .query_row(params![class, target], |r| r.get::<_, i64>(0))
                .optional()?
                .map(|m| m as usize),
        };
        match known {
            Some(m) if m != dims => Err(StoreError::invalid(format!(
                "new node has a vector with length {dims}. Existing nodes have vectors with length {m}"
            ))),
            Some(m) => {
                self.dims.insert(key, m);
                Ok(())
            }
            None => {
                self.tx.execute(
                    "INSERT INTO vector_dims (class, target, dims) VALUES (?1, ?2, ?3)",
                    params![class, target, dims as i64],
                )?;
                self.dims.insert(key, dims);
                Ok(())
            }
        }
    }

    /// Inline references must point at objects that exist (CONTRACT.md 6.1); a beacon
    /// without a class gets the property's single target class.
    fn check_references(
        &mut self,
        class: &str,
        prop: &str,
        target: &str,
        tenant: &str,
        refs: &mut Value,
    ) -> Result<()> {
        for r in refs.as_array_mut().into_iter().flatten() {
            let beacon = r["beacon"].as_str().unwrap_or_default();
            let rest = beacon.strip_prefix("weaviate://localhost/").unwrap_or("");
            let (to_class, id) = match rest.split_once('/') {
                Some((c, id)) => (class_name(c), id.to_owned()),
                None => (target.to_owned(), rest.to_owned()),
            };
            let bad = || {
                StoreError::invalid(format!(
                    "invalid cref URI: {beacon:?} (property {prop} of class {class})"
                ))
            };
            let id_blob = id_bytes(&id).map_err(|_| bad())?;
            let found = self.tx.prepare_cached(
                "SELECT 1 FROM objects WHERE class = ?1 AND id = ?2 AND (tenant = ?3 OR tenant = '')",
            )?.query_row(
                params![to_class, id_blob, tenant],
                |_| Ok(()),
            )
            .optional()?;
            if found.is_none() {
                return Err(StoreError::invalid(format!(
                    "invalid cref: 'cref' {class}:{prop}: no object with id {id} found"
                )));
            }
            r["beacon"] = Value::String(format!(
                "weaviate://localhost/{to_class}/{}",
                canonical_id(&id).unwrap_or(id)
            ));
        }
        Ok(())
    }
}

/// Values as Weaviate stores them: UUIDs in lowercase canonical form, dates with the
/// fraction's trailing zeros trimmed and a zero offset written `Z`.
fn normalize_value(data_type: &str, v: &mut Value) {
    if let Some(elem) = data_type.strip_suffix("[]") {
        for x in v.as_array_mut().into_iter().flatten() {
            normalize_value(elem, x);
        }
        return;
    }
    let Value::String(s) = v else { return };
    match data_type {
        "uuid" => {
            if let Some(c) = canonical_id(s) {
                *s = c;
            }
        }
        "date" => *s = ely_vocab::date::stored_form(s),
        _ => {}
    }
}

type NamedVectors = std::collections::BTreeMap<String, Vector>;

/// Weaviate's vector rules (CONTRACT.md 5.1): which target each given vector goes to.
fn place_vectors(def: &Value, o: &Object) -> Result<(Option<Vec<f32>>, NamedVectors)> {
    let class = def["class"].as_str().unwrap_or_default();
    let targets = named_vectors(def);
    // JSON has no NaN or infinity, so Weaviate can never hold one, and neither does ely.
    let finite = |v: &[f32]| v.iter().all(|x| x.is_finite());
    let all_finite = o.vector.as_deref().is_none_or(finite)
        && o.vectors.values().all(|v| match v {
            Vector::Single(s) => finite(s),
            Vector::Multi(m) => m.iter().all(|r| finite(r)),
        });
    if !all_finite {
        return Err(StoreError::invalid(
            "a vector holds NaN or infinity, which JSON (and so Weaviate) cannot carry",
        ));
    }
    // An empty vector is no vector (Weaviate stores none and returns none).
    let mut vectors = o.vectors.clone();
    vectors.retain(|_, v| match v {
        Vector::Single(s) => !s.is_empty(),
        Vector::Multi(m) => !m.is_empty(),
    });
    let mut vector = o.vector.clone().filter(|v| !v.is_empty());
    if targets.is_empty() {
        if let Some(d) = vectors.remove("default") {
            match d {
                Vector::Single(v) => vector = Some(v).filter(|v| !v.is_empty()),
                Vector::Multi(_) => {
                    return Err(StoreError::invalid(format!(
                        "collection {class} is not configured as multi-vector"
                    )))
                }
            }
        }
        if !vectors.is_empty() {
            let names: Vec<&String> = vectors.keys().collect();
            return Err(StoreError::invalid(format!(
                "collection {class} is configured without multiple named vectors, but received named vectors: {names:?}"
            )));
        }
        return Ok((vector, vectors));
    }
    if let Some(v) = vector.take() {
        if targets.len() != 1 {
            return Err(StoreError::invalid(format!(
                "collection {class} configuration does not have single vector index"
            )));
        }
        vectors.insert(targets[0].0.clone(), Vector::Single(v));
    }
    for (name, v) in &vectors {
        let Some((_, multi)) = targets.iter().find(|(n, _)| n == name) else {
            return Err(StoreError::invalid(format!(
                "collection {class} does not have configuration for vector {name}"
            )));
        };
        match (multi, v) {
            (true, Vector::Single(s)) if !s.is_empty() => {
                return Err(StoreError::invalid(format!(
                    "collection {class}: vector {name} is configured as multi-vector"
                )))
            }
            (false, Vector::Multi(_)) => {
                return Err(StoreError::invalid(format!(
                    "collection {class}: vector {name} is not configured as multi-vector"
                )))
            }
            _ => {}
        }
    }
    Ok((None, vectors))
}

/// A value against its property's data type, with Weaviate's messages (CONTRACT.md 9).
fn check_value(class: &str, prop: &str, data_type: &str, v: &Value) -> Result<(), String> {
    if let Some(elem) = data_type.strip_suffix("[]") {
        let Value::Array(items) = v else {
            return Err(format!(
                "invalid {data_type} property '{prop}' on class '{class}': not an array"
            ));
        };
        return items
            .iter()
            .try_for_each(|x| check_value(class, prop, elem, x));
    }
    let ok = match data_type {
        "text" | "string" => v.is_string(),
        "int" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "date" => v.as_str().is_some_and(ely_vocab::date::is_date),
        "uuid" => v.as_str().and_then(canonical_id).is_some(),
        "geoCoordinates" => v["latitude"].is_number() && v["longitude"].is_number(),
        "phoneNumber" => v["input"].is_string(),
        "blob" => v.as_str().is_some_and(|s| {
            s.len() % 4 == 0
                && s.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'='))
        }),
        "object" => v.is_object(),
        // A cross-reference: an array of beacons.
        t if t.starts_with(|c: char| c.is_ascii_uppercase()) => v
            .as_array()
            .is_some_and(|a| a.iter().all(|r| r["beacon"].is_string())),
        _ => true,
    };
    if ok {
        return Ok(());
    }
    let given = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    Err(match data_type {
        "int" => format!(
            "invalid integer property '{prop}' on class '{class}': requires an integer, the given value is '{given}'"
        ),
        "date" => format!(
            "invalid date property '{prop}' on class '{class}': requires a string with a RFC3339 formatted date, but the given value is '{given}'"
        ),
        "uuid" => format!(
            "invalid uuid property '{prop}' on class '{class}': requires a string of UUID format, but the given value is '{given}'"
        ),
        "text" | "string" => format!(
            "invalid text property '{prop}' on class '{class}': not a string, but {}",
            json_kind(v)
        ),
        t => format!("invalid {t} property '{prop}' on class '{class}': the given value is '{given}'"),
    })
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Number(_) => "json.Number",
        Value::Bool(_) => "bool",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
        _ => "nil",
    }
}
