//! Backup: a store's collections written as an ely stream, one section per collection
//! (header, objects tenant by tenant in ascending UUID order, trailer).
//!
//! Three stages overlap: a scanner thread reads cursor pages from the store (so the next page
//! is on its way while the previous one is written), a second thread filters and serializes
//! them into object lines, and the calling thread writes those lines to the stream (hashing
//! and compressing). Bounded channels keep at most a few pages in memory.

use std::sync::atomic::Ordering;

use anyhow::{bail, Context};
use crossbeam_channel::bounded;
use ely_store::schema::{is_multi_tenant, strip_server_fields};
use ely_store::{Object, Store, Tenant};
use ely_stream::{Counters, Header, StreamOut, FORMAT_VERSION};
use serde_json::Value;

use crate::selection::Selection;
use ely_vocab::date::now_rfc3339;

/// What to back up and how.
#[derive(Debug, Clone)]
pub struct BackupOptions {
    /// Collections by name; every collection of the store when `all`.
    pub collections: Vec<String>,
    pub all: bool,
    /// Headers and trailers only, no objects.
    pub schema_only: bool,
    /// Which tenants, objects and properties.
    pub selection: Selection,
    /// Objects per cursor page.
    pub page_size: usize,
}

impl Default for BackupOptions {
    fn default() -> Self {
        BackupOptions {
            collections: Vec::new(),
            all: false,
            schema_only: false,
            selection: Selection::default(),
            page_size: 500,
        }
    }
}

/// What one collection's section holds.
#[derive(Debug, Clone)]
pub struct CollectionSummary {
    pub name: String,
    /// Objects written.
    pub objects: u64,
    /// Objects read from the store (more than `objects` when filtered).
    pub scanned: u64,
    /// Tenants backed up (0 for a collection without multi-tenancy).
    pub tenants: usize,
}

/// One collection, resolved and checked before anything is written.
struct Plan {
    name: String,
    class: Value,
    tenants: Option<Vec<Tenant>>,
}

/// Writes the chosen collections to `out` (without finishing it). Everything the options
/// name is checked before the first byte is written.
pub fn backup(
    store: &dyn Store,
    opts: &BackupOptions,
    out: &mut dyn StreamOut,
    counters: &Counters,
) -> anyhow::Result<Vec<CollectionSummary>> {
    let plans = plan(store, opts)?;
    let mut summaries = Vec::with_capacity(plans.len());
    for p in plans {
        summaries.push(collection(store, opts, &p, out, counters)?);
    }
    Ok(summaries)
}

fn plan(store: &dyn Store, opts: &BackupOptions) -> anyhow::Result<Vec<Plan>> {
    let classes = if opts.all {
        let mut all = store.collections().context("listing collections")?;
        all.sort_by(|a, b| class_name(a).cmp(class_name(b)));
        all
    } else {
        let mut v = Vec::new();
        for name in &opts.collections {
            match store
                .class(name)
                .with_context(|| format!("reading collection {name}"))?
            {
                Some(c) => v.push(c),
                None => {
                    let known: Vec<String> = store
                        .collections()
                        .map(|cs| cs.iter().map(|c| class_name(c).to_owned()).collect())
                        .unwrap_or_default();
                    bail!(
                        "no collection {name} in {} (it has: {})",
                        store.location(),
                        if known.is_empty() {
                            "none".to_owned()
                        } else {
                            known.join(", ")
                        }
                    );
                }
            }
        }
        v
    };
    let mut plans = Vec::new();
    let sel = &opts.selection;
    for class in classes {
        let mut class = strip_server_fields(&class);
        let name = class_name(&class).to_owned();
        let all_tenants = if is_multi_tenant(&class) {
            Some(
                store
                    .tenants(&name)
                    .with_context(|| format!("listing the tenants of {name}"))?,
            )
        } else {
            None
        };
        let names: Option<Vec<String>> = all_tenants
            .as_ref()
            .map(|ts| ts.iter().map(|t| t.name.clone()).collect());
        sel.check(&name, &class, names.as_deref(), !opts.all)?;
        sel.trim_class(&mut class);
        // Tenants in the order --tenant names them, else the store's.
        let tenants = all_tenants.map(|all| {
            if sel.tenants.is_empty() {
                all
            } else {
                sel.tenants
                    .iter()
                    .filter_map(|t| all.iter().find(|x| &x.name == t).cloned())
                    .collect()
            }
        });
        plans.push(Plan {
            name,
            class,
            tenants,
        });
    }
    Ok(plans)
}

fn class_name(class: &Value) -> &str {
    class.get("class").and_then(Value::as_str).unwrap_or("")
}

enum Page {
    Objects(Vec<Object>),
    Failed(anyhow::Error),
}

enum Lines {
    /// The objects selected, their serialized lines and the end offset of each.
    Batch {
        objects: Vec<ely_store::Object>,
        data: Vec<u8>,
        ends: Vec<usize>,
        scanned: u64,
    },
    Failed(anyhow::Error),
}

fn collection(
    store: &dyn Store,
    opts: &BackupOptions,
    plan: &Plan,
    out: &mut dyn StreamOut,
    counters: &Counters,
) -> anyhow::Result<CollectionSummary> {
    let header = Header {
        version: FORMAT_VERSION,
        collection: plan.name.clone(),
        class: Some(plan.class.clone()),
        tenants: plan.tenants.as_ref().map(|ts| {
            ts.iter()
                .filter_map(|t| serde_json::to_value(t).ok())
                .collect()
        }),
        source: Some(store.location()),
        created: Some(now_rfc3339()),
    };
    out.begin(&header).context("writing the stream")?;
    let mut summary = CollectionSummary {
        name: plan.name.clone(),
        objects: 0,
        scanned: 0,
        tenants: plan.tenants.as_ref().map_or(0, Vec::len),
    };
    if opts.schema_only {
        out.end().context("writing the stream")?;
        return Ok(summary);
    }
    let tenants: Vec<Option<String>> = match &plan.tenants {
        Some(ts) => ts.iter().map(|t| Some(t.name.clone())).collect(),
        None => vec![None],
    };
    // One page waiting at each stage: the scanner reads the next page while the previous
    // is serialized and the one before it written, and no more (memory stays flat when
    // whatever reads the output is slow).
    let (page_tx, page_rx) = bounded::<Page>(1);
    let (line_tx, line_rx) = bounded::<Lines>(1);
    let result = std::thread::scope(|s| -> anyhow::Result<()> {
        s.spawn(move || {
            for tenant in &tenants {
                let mut after: Option<String> = None;
                loop {
                    let page = store
                        .scan(
                            &plan.name,
                            tenant.as_deref(),
                            after.as_deref(),
                            opts.page_size,
                            true,
                        )
                        .with_context(|| match tenant {
                            Some(t) => format!("reading {} (tenant {t})", plan.name),
                            None => format!("reading {}", plan.name),
                        });
                    match page {
                        Ok(objects) if objects.is_empty() => break,
                        Ok(objects) => {
                            after = objects.last().map(|o| o.id.clone());
                            if page_tx.send(Page::Objects(objects)).is_err() {
                                return;
                            }
                        }
                        Err(e) => {
                            let _ = page_tx.send(Page::Failed(e));
                            return;
                        }
                    }
                }
            }
        });
        s.spawn(move || {
            for page in page_rx {
                let objects = match page {
                    Page::Objects(o) => o,
                    Page::Failed(e) => {
                        let _ = line_tx.send(Lines::Failed(e));
                        return;
                    }
                };
                let scanned = objects.len() as u64;
                let mut data = Vec::with_capacity(objects.len() * 256);
                let mut ends = Vec::with_capacity(objects.len());
                let mut selected = Vec::with_capacity(objects.len());
                for mut obj in objects {
                    if !opts.selection.selects(&obj) {
                        continue;
                    }
                    opts.selection.trim(&mut obj.properties);
                    obj.write_line(&mut data);
                    ends.push(data.len());
                    selected.push(obj);
                }
                if line_tx
                    .send(Lines::Batch {
                        objects: selected,
                        data,
                        ends,
                        scanned,
                    })
                    .is_err()
                {
                    return;
                }
            }
        });
        for lines in line_rx {
            match lines {
                Lines::Batch {
                    objects,
                    data,
                    ends,
                    scanned,
                } => {
                    let mut start = 0;
                    for (obj, end) in objects.into_iter().zip(&ends) {
                        out.write_object(obj, &data[start..*end])
                            .context("writing the stream")?;
                        start = *end;
                    }
                    summary.objects += ends.len() as u64;
                    summary.scanned += scanned;
                    counters
                        .objects
                        .fetch_add(ends.len() as u64, Ordering::Relaxed);
                    counters
                        .bytes_in
                        .fetch_add(data.len() as u64, Ordering::Relaxed);
                }
                Lines::Failed(e) => return Err(e),
            }
        }
        Ok(())
    });
    result?;
    out.end().context("writing the stream")?;
    Ok(summary)
}
