//! The workers: each takes a batch, settles its conflicts with the target (which objects
//! exist, and what to do with them under the conflict mode), writes what is left in one
//! store call, and hands each object's outcome back to the collector.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;

use anyhow::{anyhow, bail, Context};
use crossbeam_channel::{Receiver, Sender};
use ely_store::{Object, Outcome, StoreError, Vector};
use serde_json::{Map, Value};

use super::batch::{Batch, Op};
use super::{Conflict, Shared};

/// What became of one object.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    Written,
    Unchanged,
    Skipped,
    /// Deleted (or gone already).
    Deleted,
    Rejected(String),
}

impl Status {
    pub fn name(&self) -> &'static str {
        match self {
            Status::Written => "written",
            Status::Unchanged => "unchanged",
            Status::Skipped => "skipped",
            Status::Deleted => "deleted",
            Status::Rejected(_) => "rejected",
        }
    }
}

/// One item's result, in input order.
#[derive(Debug, Clone)]
pub struct ItemResult {
    pub line: u64,
    pub id: String,
    pub tenant: Option<String>,
    pub status: Status,
    /// The item's line, kept for rejections only.
    pub raw: bytes::Bytes,
    /// What the source attached to the item.
    pub tag: Option<Box<Value>>,
}

/// A settled batch, on its way to the collector.
pub(crate) struct Done {
    /// The batch's number in its pass (result lines count batches from 0).
    pub number: u64,
    pub class: String,
    pub references: bool,
    /// The batch's last line whose every item is in it, and the source's chain hash after
    /// it: how far a checkpoint may vouch.
    pub last: Option<(u64, u64)>,
    pub items: Vec<ItemResult>,
    /// Objects written without their references: the line and the object as written, with
    /// its references, for the references pass.
    pub pending_refs: Vec<(u64, Object)>,
    pub error: Option<anyhow::Error>,
}

/// What reaches the collector, by one route, in sequence order: settled batches, and lines
/// the source wants printed in order with them.
pub(crate) enum Report {
    Batch(Done),
    /// A line for the output (a collection set up), after the results of every batch sent
    /// before it.
    Line(Vec<u8>),
    /// The input's first line hashed: who a checkpoint belongs to.
    Identity(String),
}

pub(crate) fn worker(shared: &Shared<'_>, rx: Receiver<Batch>, tx: Sender<(u64, Report)>) {
    for batch in rx {
        let (seq, number) = (batch.seq, batch.number);
        let class = batch.class.clone();
        let references = batch.references;
        let failed = |error| Done {
            number,
            class,
            references,
            last: None,
            items: Vec::new(),
            pending_refs: Vec::new(),
            error: Some(error),
        };
        let done = if shared.abort.load(Ordering::Relaxed) {
            failed(anyhow!("stopped after an error"))
        } else {
            match settle(shared, batch) {
                Ok(d) => d,
                Err(e) => {
                    shared.abort.store(true, Ordering::Relaxed);
                    failed(e)
                }
            }
        };
        if tx.send((seq, Report::Batch(done))).is_err() {
            return;
        }
    }
}

/// Existing objects of a batch, by id.
fn existing(
    shared: &Shared<'_>,
    class: &str,
    tenant: Option<&str>,
    ids: &[String],
    sorted: bool,
    content: bool,
) -> anyhow::Result<HashMap<String, Option<Object>>> {
    let store = shared.store;
    let mut found = HashMap::new();
    if content && sorted && !ids.is_empty() {
        // Merge with the target's cursor: one or two pages cover an ascending batch.
        let mut want: Vec<&String> = ids.iter().collect();
        want.sort();
        let max = want[want.len() - 1];
        let mut after = ely_vocab::id::before(want[0]);
        let mut scanned = 0usize;
        let page = ids.len().clamp(100, 1000);
        let budget = ids.len() * 4 + 400;
        let mut complete = false;
        'pages: while scanned <= budget {
            let objs = store
                .scan(class, tenant, after.as_deref(), page, true)
                .with_context(|| format!("reading {class}"))?;
            if objs.is_empty() {
                complete = true;
                break;
            }
            scanned += objs.len();
            after = objs.last().map(|o| o.id.clone());
            for o in objs {
                if o.id.as_str() > max.as_str() {
                    complete = true;
                    break 'pages;
                }
                if want.binary_search(&&o.id).is_ok() {
                    found.insert(o.id.clone(), Some(o));
                }
            }
        }
        if complete {
            return Ok(found);
        }
        found.clear();
    }
    let flags = store
        .exists(class, tenant, ids)
        .with_context(|| format!("checking which objects exist in {class}"))?;
    for (id, there) in ids.iter().zip(flags) {
        if !there {
            continue;
        }
        let obj = if content {
            store
                .get(class, tenant, id, true)
                .with_context(|| format!("reading {class} {id}"))?
        } else {
            None
        };
        found.insert(id.clone(), obj);
    }
    Ok(found)
}

/// The store understood the request and refused it (as opposed to being unreachable).
fn refused(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<StoreError>().is_some_and(|s| {
            s.kind == ely_store::ErrorKind::Invalid || s.kind == ely_store::ErrorKind::NotFound
        })
    })
}

/// Whether `current` equals `props` plus `refs` (the reference properties held back from
/// `props`), without building the union.
fn same_properties(
    current: &Map<String, Value>,
    props: &Map<String, Value>,
    refs: Option<&Map<String, Value>>,
) -> bool {
    current.len() == props.len() + refs.map_or(0, Map::len)
        && props
            .iter()
            .chain(refs.into_iter().flatten())
            .all(|(k, v)| current.get(k) == Some(v))
}

fn same_vectors(a: &Object, b: &Object) -> bool {
    let bits = |v: &[f32], w: &[f32]| {
        v.len() == w.len() && v.iter().zip(w).all(|(x, y)| x.to_bits() == y.to_bits())
    };
    let legacy = match (&a.vector, &b.vector) {
        (None, None) => true,
        (Some(x), Some(y)) => bits(x, y),
        _ => false,
    };
    legacy
        && a.vectors.len() == b.vectors.len()
        && a.vectors.iter().all(|(k, v)| match (v, b.vectors.get(k)) {
            (Vector::Single(x), Some(Vector::Single(y))) => bits(x, y),
            (Vector::Multi(x), Some(Vector::Multi(y))) => {
                x.len() == y.len() && x.iter().zip(y).all(|(r, s)| bits(r, s))
            }
            _ => false,
        })
}

fn settle(shared: &Shared<'_>, mut batch: Batch) -> anyhow::Result<Done> {
    let opts = shared.opts;
    let store = shared.store;
    let mode = if batch.references {
        Conflict::Overwrite
    } else {
        opts.on_conflict
    };
    let only_changed = opts.only_changed && !batch.references;
    let content = mode == Conflict::Merge || only_changed;
    let check = mode != Conflict::Overwrite || only_changed;
    let mut statuses: Vec<Option<Status>> = batch.items.iter().map(|i| i.settled.clone()).collect();
    if batch.op == Op::Delete {
        return delete(shared, batch, statuses);
    }
    // Per tenant: which objects exist already.
    let by_tenant = by_tenant(&batch.items);
    let mut to_write: Vec<(usize, Object)> = Vec::with_capacity(batch.items.len());
    // Ids and tenants for the results: the objects themselves move into the write.
    let keys: Vec<(String, Option<String>)> = batch
        .items
        .iter()
        .map(|it| (it.obj.id.clone(), it.obj.tenant.clone()))
        .collect();
    // A collection that does not exist yet (auto-schema creates it with the first batch)
    // has no objects to conflict with; once seen, it is not asked about again.
    let known = shared
        .known_classes
        .lock()
        .map(|k| k.contains(&batch.class))
        .unwrap_or(false);
    let class_exists = !check
        || known
        || match store.class(&batch.class) {
            Ok(Some(_)) => {
                if let Ok(mut k) = shared.known_classes.lock() {
                    k.insert(batch.class.clone());
                }
                true
            }
            Ok(None) => false,
            Err(_) => true,
        };
    for (tenant, idx) in &by_tenant {
        let found = if check && class_exists {
            let ids: Vec<String> = idx.iter().map(|&i| batch.items[i].obj.id.clone()).collect();
            match existing(
                shared,
                &batch.class,
                tenant.as_deref(),
                &ids,
                batch.sorted,
                content,
            ) {
                Ok(found) => found,
                // The store refuses this tenant (missing, or given for a collection without
                // multi-tenancy): its objects are rejected, the rest of the batch goes on.
                Err(e) if refused(&e) => {
                    let reason = format!("{:#}", e);
                    for &i in idx {
                        statuses[i] = Some(Status::Rejected(reason.clone()));
                    }
                    continue;
                }
                Err(e) => return Err(e),
            }
        } else {
            HashMap::new()
        };
        for &i in idx {
            let obj = std::mem::take(&mut batch.items[i].obj);
            // Compared with the target as the object will end up: with its references.
            let refs = batch.items[i].refs.as_ref();
            match found.get(&obj.id) {
                None => to_write.push((i, obj)),
                Some(current) => match mode {
                    Conflict::Fail => bail!(
                        "object {} (line {}) already exists in {}{}, and --on-conflict is fail; nothing of its batch was written",
                        obj.id,
                        batch.items[i].line,
                        batch.class,
                        tenant.as_deref().map(|t| format!(" (tenant {t})")).unwrap_or_default()
                    ),
                    Conflict::Skip => statuses[i] = Some(Status::Skipped),
                    Conflict::Overwrite => {
                        let same = current.as_ref().is_some_and(|c| {
                            same_properties(&c.properties, &obj.properties, refs)
                                && same_vectors(c, &obj)
                        });
                        if only_changed && same {
                            statuses[i] = Some(Status::Unchanged);
                        } else {
                            to_write.push((i, obj));
                        }
                    }
                    Conflict::Merge => {
                        let Some(current) = current else {
                            to_write.push((i, obj));
                            continue;
                        };
                        let mut merged = current.clone();
                        merged.class.clone_from(&obj.class);
                        merged.tenant.clone_from(&obj.tenant);
                        merged.creation_time_unix = None;
                        merged.last_update_time_unix = None;
                        for (k, v) in &obj.properties {
                            merged.properties.insert(k.clone(), v.clone());
                        }
                        if obj.vector.is_some() {
                            merged.vector.clone_from(&obj.vector);
                        }
                        for (k, v) in &obj.vectors {
                            merged.vectors.insert(k.clone(), v.clone());
                        }
                        let same = same_properties(&current.properties, &merged.properties, refs)
                            && same_vectors(&merged, current);
                        if only_changed && same {
                            statuses[i] = Some(Status::Unchanged);
                        } else {
                            // The merged object's vectors are not those of the item's line.
                            batch.items[i].vector_text = None;
                            batch.items[i].vectors_text = None;
                            to_write.push((i, merged));
                        }
                    }
                },
            }
        }
    }
    let mut pending_refs = Vec::new();
    if opts.dry_run {
        for (i, _) in &to_write {
            statuses[*i] = Some(Status::Written);
        }
    } else if !to_write.is_empty() {
        let (index, objects): (Vec<usize>, Vec<Object>) = to_write.into_iter().unzip();
        let texts: Vec<_> = index
            .iter()
            .map(|&i| batch.items[i].vector_text())
            .collect();
        let outcomes = store
            .upsert_texts(&objects, &texts)
            .with_context(|| format!("writing to {}", batch.class))?;
        drop(texts);
        for ((i, written), outcome) in index.into_iter().zip(objects).zip(outcomes) {
            statuses[i] = Some(match outcome {
                Outcome::Written => {
                    if let Some(refs) = &batch.items[i].refs {
                        let mut full = written;
                        for (k, v) in refs {
                            full.properties.insert(k.clone(), v.clone());
                        }
                        pending_refs.push((batch.items[i].line, full));
                    }
                    Status::Written
                }
                Outcome::Rejected(m) => Status::Rejected(m),
            });
        }
    }
    Ok(done(batch, statuses, keys, pending_refs))
}

/// The items still to settle, by tenant.
fn by_tenant(items: &[super::Item]) -> BTreeMap<Option<String>, Vec<usize>> {
    let mut by: BTreeMap<Option<String>, Vec<usize>> = BTreeMap::new();
    for (i, item) in items.iter().enumerate() {
        if item.settled.is_none() {
            by.entry(item.obj.tenant.clone()).or_default().push(i);
        }
    }
    by
}

/// A batch of deletes: one store call per tenant.
fn delete(
    shared: &Shared<'_>,
    mut batch: Batch,
    mut statuses: Vec<Option<Status>>,
) -> anyhow::Result<Done> {
    let by_tenant = by_tenant(&batch.items);
    for (tenant, idx) in by_tenant {
        if !shared.opts.dry_run {
            let ids: Vec<String> = idx.iter().map(|&i| batch.items[i].obj.id.clone()).collect();
            match shared
                .store
                .delete(&batch.class, tenant.as_deref(), &ids)
                .with_context(|| format!("deleting from {}", batch.class))
            {
                Ok(_) => {}
                Err(e) if refused(&e) => {
                    let reason = format!("{e:#}");
                    for &i in &idx {
                        statuses[i] = Some(Status::Rejected(reason.clone()));
                    }
                    continue;
                }
                Err(e) => return Err(e),
            }
        }
        for &i in &idx {
            statuses[i] = Some(Status::Deleted);
        }
    }
    let keys = batch
        .items
        .iter_mut()
        .map(|it| (std::mem::take(&mut it.obj.id), it.obj.tenant.take()))
        .collect();
    Ok(done(batch, statuses, keys, Vec::new()))
}

/// The settled batch, with each item's result.
fn done(
    batch: Batch,
    statuses: Vec<Option<Status>>,
    keys: Vec<(String, Option<String>)>,
    pending_refs: Vec<(u64, Object)>,
) -> Done {
    let last = batch
        .items
        .iter()
        .rev()
        .find(|i| !i.more)
        .map(|i| (i.line, i.chain));
    let items = batch
        .items
        .into_iter()
        .zip(statuses)
        .zip(keys)
        .map(|((item, st), (id, tenant))| {
            // Every object written has an outcome; one without is not counted as written.
            let status =
                st.unwrap_or_else(|| Status::Rejected("the store gave no result for it".into()));
            let raw = if matches!(status, Status::Rejected(_)) {
                item.raw
            } else {
                bytes::Bytes::new()
            };
            ItemResult {
                line: item.line,
                id,
                tenant,
                status,
                raw,
                tag: item.tag,
            }
        })
        .collect();
    Done {
        number: batch.number,
        class: batch.class,
        references: batch.references,
        last,
        items,
        pending_refs,
        error: None,
    }
}
