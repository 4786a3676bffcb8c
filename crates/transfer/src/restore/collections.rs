//! Target collections: what each collection of the stream is called in the target
//! (`--collection`, `--rename`), and making it ready before its first object is written:
//! the selection checked against the stream's class, the class created (or missing
//! properties added), tenants created, and one report line saying what was done.

use std::collections::{BTreeMap, HashMap, HashSet};

use anyhow::{anyhow, bail, Context};
use ely_store::schema::{is_multi_tenant, strip_server_fields};
use ely_store::{names, Store, StoreError, Tenant};
use ely_stream::{CollectionReport, Header, Record};
use serde_json::{json, Value};

use super::reader::Reader;
use crate::migrate::{missing_properties, Fit};
use crate::sink::Feeder;

/// A target collection as the restore sees it.
pub(super) struct Coll {
    pub target: String,
    /// The target's definition (or, in a dry run, the one that would be created).
    pub fit: Option<Fit>,
    pub ref_props: HashSet<String>,
    pub multi_tenant: Option<bool>,
    /// Vector lengths of an object already in the target, read once.
    pub target_dims: Option<BTreeMap<String, usize>>,
    pub tenants_seen: HashSet<String>,
    /// Last id per tenant, to tell whether the input ascends.
    pub last_ids: HashMap<Option<String>, String>,
    pub sorted: bool,
    /// The store creates it from the first objects, as Weaviate's auto-schema does.
    pub auto_schema: bool,
    /// Properties the target lacks, added before its first object is written (or when its
    /// section ends without one).
    pub pending_properties: Vec<Value>,
    /// An object of the stream was fed to the sink for it (not rejected).
    pub fed: bool,
}

impl Coll {
    /// Adds the properties still pending to the target; `added` counts them.
    pub fn add_pending(&mut self, store: &dyn Store, added: &mut u64) -> anyhow::Result<()> {
        for p in std::mem::take(&mut self.pending_properties) {
            store.add_property(&self.target, &p).with_context(|| {
                format!(
                    "adding property {} to {}",
                    p.get("name").and_then(Value::as_str).unwrap_or("?"),
                    self.target
                )
            })?;
            *added += 1;
        }
        Ok(())
    }
}

fn ref_properties(class: &Value) -> HashSet<String> {
    class
        .get("properties")
        .and_then(Value::as_array)
        .map(|ps| {
            ps.iter()
                .filter(|p| {
                    p.get("dataType")
                        .and_then(|d| d.get(0))
                        .and_then(Value::as_str)
                        .and_then(|t| t.chars().next())
                        .is_some_and(|c| c.is_ascii_uppercase())
                })
                .filter_map(|p| p.get("name").and_then(Value::as_str).map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

impl Reader<'_> {
    /// The new name of a collection that --rename renames.
    pub(super) fn renamed(&self, source: &str) -> Option<String> {
        self.renames
            .iter()
            .find(|(old, _)| ely_stream::format::same_collection(old, source))
            .map(|(_, new)| names::class_name(new))
    }

    pub(super) fn target_name(&self, source: &str) -> anyhow::Result<String> {
        for (old, new) in &self.opts.renames {
            if ely_stream::format::same_collection(old, source) {
                return Ok(names::class_name(new));
            }
        }
        if let Some(new) = &self.opts.collection {
            let others: Vec<&String> = self
                .colls
                .keys()
                .filter(|k| !ely_stream::format::same_collection(k, source))
                .collect();
            if let Some(other) = others.first() {
                bail!(
                    "--collection {new} renames a one-collection stream, but this one holds {other} and {source}; use --rename OLD=NEW for each"
                );
            }
            return Ok(names::class_name(new));
        }
        Ok(names::class_name(source))
    }

    pub(super) fn note_rename(&mut self, source: &str, target: &str) {
        if self.opts.collection.is_some() && source != target {
            let pair = (source.to_owned(), target.to_owned());
            if !self.renames.contains(&pair) {
                self.renames.push(pair);
            }
        }
    }

    /// The stream's class definition as it should exist in the target: renamed, only the
    /// chosen properties, properties renamed.
    fn wanted_class(&self, h: &Header, target: &str) -> Option<Value> {
        let mut class = strip_server_fields(h.class.as_ref()?);
        let obj = class.as_object_mut()?;
        obj.insert("class".into(), target.into());
        self.opts.selection.trim_class(&mut class);
        let obj = class.as_object_mut()?;
        if let Some(props) = obj.get_mut("properties").and_then(Value::as_array_mut) {
            for p in props.iter_mut() {
                // References follow renamed collections.
                if let Some(types) = p.get_mut("dataType").and_then(Value::as_array_mut) {
                    for t in types.iter_mut() {
                        if let Some(renamed) = t.as_str().and_then(|c| self.renamed(c)) {
                            *t = Value::from(renamed);
                        }
                    }
                }
                let name = p.get("name").and_then(Value::as_str).map(str::to_owned);
                if let Some(name) = name {
                    if let Some((_, new)) = self
                        .opts
                        .map_properties
                        .iter()
                        .find(|(old, _)| names::same_property(old, &name))
                    {
                        p["name"] = Value::from(new.clone());
                    }
                }
            }
        }
        if let Some(f) = self.opts.replication_factor {
            obj.insert("replicationConfig".into(), json!({ "factor": f }));
        }
        Some(class)
    }

    /// Creates or updates the target collection and its tenants.
    pub(super) fn setup(
        &mut self,
        source: &str,
        target: &str,
        h: Option<&Header>,
        feeder: &mut Feeder<'_, '_>,
    ) -> anyhow::Result<Coll> {
        let dry = self.opts.sink.dry_run;
        // The selection is checked against the stream's class before anything changes.
        if let Some((h, class)) = h.and_then(|h| Some((h, h.class.as_ref()?))) {
            let tenants: Option<Vec<String>> = h.tenants.as_ref().map(|ts| {
                ts.iter()
                    .filter_map(|t| t.get("name").and_then(Value::as_str).map(str::to_owned))
                    .collect()
            });
            self.opts.selection.check(
                source,
                class,
                tenants.as_deref(),
                self.opts.collection.is_some(),
            )?;
        }
        let store = feeder.store();
        let existing = store
            .class(target)
            .with_context(|| format!("reading collection {target}"))?;
        let wanted = h.and_then(|h| self.wanted_class(h, target));
        let mut report = CollectionReport {
            collection: target.to_owned(),
            from: (source != target).then(|| source.to_owned()),
            action: String::new(),
            add_properties: Vec::new(),
            tenants: Vec::new(),
        };
        let mut pending = Vec::new();
        let def = match (existing, &wanted) {
            (Some(existing), wanted) => {
                report.action = "exists".into();
                if let Some(w) = wanted {
                    let (src_mt, dst_mt) = (is_multi_tenant(w), is_multi_tenant(&existing));
                    if src_mt != dst_mt {
                        bail!(
                            "collection {target} {} multi-tenant in the target but {source} {} in the stream; restore into another collection",
                            if dst_mt { "is" } else { "is not" },
                            if src_mt { "is" } else { "is not" }
                        );
                    }
                    let missing =
                        self.defer_references(store, target, missing_properties(w, &existing));
                    report.add_properties = missing
                        .iter()
                        .filter_map(|p| p.get("name").and_then(Value::as_str))
                        .map(str::to_owned)
                        .collect();
                    // The properties are added once the collection's first object has passed
                    // every check (its vectors against the target's, above all): a restore
                    // that stops on a check leaves the target's schema as it was. Until then
                    // conversions see them as they will be.
                    let mut def = existing;
                    if let Some(props) = def.get_mut("properties").and_then(Value::as_array_mut) {
                        props.extend(missing.iter().cloned());
                    } else if let Some(obj) = def.as_object_mut() {
                        obj.insert("properties".into(), Value::from(missing.clone()));
                    }
                    if !dry {
                        pending = missing;
                    }
                    def
                } else {
                    existing
                }
            }
            (None, Some(w)) => {
                report.action = "create".into();
                // References to collections that do not exist yet are added at the end.
                let mut create = w.clone();
                if let Some(props) = create.get_mut("properties").and_then(Value::as_array_mut) {
                    let all = std::mem::take(props);
                    *props = self.defer_references(store, target, all);
                }
                if dry {
                    w.clone()
                } else {
                    let created = store
                        .create_class(&create)
                        .map_err(|e| replication_hint(e, &create, target))?;
                    self.totals.collections_created += 1;
                    created
                }
            }
            (None, None) => {
                // A plain object stream: the store creates the class from the first objects,
                // as Weaviate's auto-schema does.
                report.action = "auto-schema".into();
                Value::Null
            }
        };
        let multi_tenant = if def.is_null() {
            None
        } else {
            Some(is_multi_tenant(&def))
        };
        if let (Some(h), Some(true)) = (h, multi_tenant) {
            let tenants: Vec<Tenant> = h
                .tenants
                .iter()
                .flatten()
                .filter_map(|t| t.get("name").and_then(Value::as_str))
                .filter(|t| self.opts.selection.tenant(t))
                .map(Tenant::new)
                .collect();
            if !tenants.is_empty() {
                report.tenants = tenants.iter().map(|t| t.name.clone()).collect();
                if !dry {
                    store
                        .create_tenants(target, &tenants)
                        .with_context(|| format!("creating the tenants of {target}"))?;
                    self.totals.tenants_created += tenants.len() as u64;
                }
            }
        }
        feeder.report(report.to_line())?;
        Ok(Coll {
            target: target.to_owned(),
            fit: (!def.is_null()).then(|| Fit::new(&def)),
            ref_props: {
                let mut r = ref_properties(&def);
                r.extend(wanted.as_ref().map(ref_properties).unwrap_or_default());
                r
            },
            multi_tenant,
            target_dims: None,
            tenants_seen: HashSet::new(),
            last_ids: HashMap::new(),
            sorted: true,
            auto_schema: def.is_null(),
            pending_properties: pending,
            fed: false,
        })
    }

    /// Keeps the properties that can be created now; reference properties whose target
    /// collection does not exist yet (or is the collection itself) wait until the end.
    fn defer_references(
        &mut self,
        store: &dyn Store,
        target: &str,
        props: Vec<Value>,
    ) -> Vec<Value> {
        let mut now = Vec::with_capacity(props.len());
        for p in props {
            let targets: Vec<String> = p
                .get("dataType")
                .and_then(Value::as_array)
                .map(|d| {
                    d.iter()
                        .filter_map(Value::as_str)
                        .filter(|t| t.chars().next().is_some_and(|c| c.is_ascii_uppercase()))
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            let waits = targets
                .iter()
                .any(|t| t == target || !matches!(store.class(t), Ok(Some(_))));
            if waits {
                self.deferred.push((target.to_owned(), p));
            } else {
                now.push(p);
            }
        }
        now
    }
}

fn replication_hint(e: StoreError, class: &Value, target: &str) -> anyhow::Error {
    let msg = e.to_string();
    if msg.contains("not enough replicas") {
        let factor = class
            .pointer("/replicationConfig/factor")
            .and_then(Value::as_u64)
            .unwrap_or(1);
        return anyhow!(
            "collection {target} asks for replication factor {factor}, more than the target has nodes ({msg}); pass --replication-factor N with N no more than its nodes"
        );
    }
    anyhow::Error::new(e).context(format!("creating collection {target}"))
}
