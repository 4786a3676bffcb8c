//! Preparing one object for the target: the partial-restore selection, the target's names
//! (collection, properties, reference beacons), conversions to the target's property types,
//! vector checks (the same length as earlier objects and as the target's), tenants of a
//! plain stream created, and reference properties held back for the references pass.

use std::collections::BTreeMap;

use anyhow::{bail, Context};
use ely_store::{canonical_id, names, Object, Tenant, Vector};
use ely_vocab::ObjectLine;
use serde_json::{Map, Value};

use super::reader::Reader;
use crate::sink::{Feeder, Item};

impl Reader<'_> {
    /// Prepares the object of line `number` (`raw`) and feeds it to the sink, or rejects it
    /// in order; an object the selection leaves out is only counted.
    pub(super) fn prepare(
        &mut self,
        number: u64,
        raw: &[u8],
        read: ObjectLine,
        chain: u64,
        feeder: &mut Feeder<'_, '_>,
    ) -> anyhow::Result<()> {
        let mut obj = read.object;
        let Some(id) = canonical_id(&obj.id) else {
            let reason = format!("{:?} is not a UUID", obj.id);
            return self.reject_early(number, raw, reason, chain, feeder);
        };
        obj.id = id;
        let Some(source) = self.source_of(&obj) else {
            return self.reject_early(
                number,
                raw,
                "object has no \"class\" and no header names its collection (give --collection NAME)".into(),
                chain,
                feeder,
            );
        };
        // Partial restore: left-out objects are not results.
        let opts = self.opts;
        if !opts.selection.selects(&obj) {
            self.totals.filtered += 1;
            return Ok(());
        }
        if obj.tenant.is_none()
            && !opts.selection.tenants.is_empty()
            && self.tenantless.insert(source.clone())
        {
            self.warnings.push(format!(
                "--tenant does not apply to collection {source}, whose objects have no tenant: they are restored whole"
            ));
        }
        if !self.colls.contains_key(&source) {
            let target = self.target_name(&source)?;
            self.note_rename(&source, &target);
            let coll = self.setup(&source, &target, None, feeder)?;
            self.colls.insert(source.clone(), coll);
        }
        opts.selection.trim(&mut obj.properties);
        if !opts.map_properties.is_empty() {
            for (old, new) in &opts.map_properties {
                let key = obj
                    .properties
                    .keys()
                    .find(|k| names::same_property(k, old))
                    .cloned();
                if let Some(key) = key {
                    if let Some(v) = obj.properties.remove(&key) {
                        obj.properties.insert(new.clone(), v);
                    }
                }
            }
        }
        if opts.skip_vectors {
            obj.vector = None;
            obj.vectors.clear();
        }
        obj.creation_time_unix = None;
        obj.last_update_time_unix = None;
        let dry = opts.sink.dry_run;
        let store = feeder.store();
        let renames = &self.renames;
        let Some(coll) = self.colls.get_mut(&source) else {
            bail!("collection {source} was not set up");
        };
        obj.class = coll.target.clone();
        // A multi-tenancy mismatch stops the run while nothing of the collection was written
        // (for plain object streams as for streams with a header, whose class is checked in
        // `setup`); after that, the object is rejected like any other that does not fit.
        let mismatch = match (coll.multi_tenant, &obj.tenant) {
            (Some(false), Some(t)) => Some(format!(
                "collection {} is not multi-tenant in the target, but the object at line {number} has tenant {t}",
                coll.target
            )),
            (Some(true), None) => Some(format!(
                "collection {} is multi-tenant in the target, but the object at line {number} has no tenant",
                coll.target
            )),
            _ => None,
        };
        if let Some(why) = mismatch {
            if !coll.fed {
                let fix = if obj.tenant.is_some() {
                    "restore into another collection (--collection, --rename)"
                } else {
                    "give every object its tenant, or restore into another collection (--collection, --rename)"
                };
                bail!("{why}; {fix}");
            }
            let item = Item::rejected(number, chain, raw.to_vec(), obj, why);
            return feeder.push(&coll.target, item, false);
        }
        // Vectors: the same length as the first selected object's in the stream (also when
        // this run resumed after it: see `first_dims`), and as the target's.
        let dims = vector_dims(&obj);
        let mut reason = None;
        let first_dims = self.first_dims.entry(source.clone()).or_default();
        for (name, &n) in &dims {
            match first_dims.get(name) {
                Some(&first) if first != n => {
                    reason = Some(format!(
                        "{} has {n} dimensions, but earlier objects of {} in this stream have {first} (Weaviate would store it and corrupt its index)",
                        vector_label(name),
                        coll.target
                    ));
                    break;
                }
                Some(_) => {}
                None => {
                    if coll.target_dims.is_none() && coll.fit.is_some() {
                        let sample = store
                            .scan(&coll.target, obj.tenant.as_deref(), None, 1, true)
                            .ok()
                            .and_then(|v| v.into_iter().next());
                        coll.target_dims =
                            Some(sample.as_ref().map(vector_dims).unwrap_or_default());
                    }
                    if let Some(&theirs) = coll.target_dims.as_ref().and_then(|t| t.get(name)) {
                        if theirs != n && theirs > 0 {
                            bail!(
                                "{} of {} has {n} dimensions in the stream (line {number}), but the target's objects have {theirs}; restore into another collection (--collection, --rename), or pass --skip-vectors to let the target vectorize",
                                vector_label(name),
                                coll.target
                            );
                        }
                    }
                    first_dims.insert(name.clone(), n);
                }
            }
        }
        if reason.is_none() {
            if let Some(fit) = &coll.fit {
                if let Err(why) = fit.apply(&mut obj.properties, opts.lossy) {
                    reason = Some(why);
                }
            }
        }
        for v in obj.vectors.values() {
            if let Vector::Multi(rows) = v {
                if rows.windows(2).any(|w| w[0].len() != w[1].len()) {
                    reason = Some("a multi-vector's rows have different lengths".into());
                }
            }
        }
        if let Some(reason) = reason {
            let item = Item::rejected(number, chain, raw.to_vec(), obj, reason);
            return feeder.push(&coll.target, item, false);
        }
        // Every check passed: the schema changes the collection waits for happen now.
        coll.add_pending(store, &mut self.totals.properties_added)?;
        // Tenants seen in a plain stream are created before their objects.
        if let Some(t) = &obj.tenant {
            if coll.multi_tenant == Some(true) && !coll.tenants_seen.contains(t) {
                coll.tenants_seen.insert(t.clone());
                if self.header.is_none() && !dry {
                    store
                        .create_tenants(&coll.target, &[Tenant::new(t)])
                        .with_context(|| format!("creating tenant {t} of {}", coll.target))?;
                    self.totals.tenants_created += 1;
                }
            }
        }
        // Whether the input ascends, so the target's cursor can be merged with it.
        let last = coll.last_ids.entry(obj.tenant.clone()).or_default();
        if obj.id.as_str() <= last.as_str() {
            coll.sorted = false;
        }
        last.clone_from(&obj.id);
        // References wait until every object is in.
        let mut refs = None;
        if !coll.ref_props.is_empty() {
            let held: Map<String, Value> = coll
                .ref_props
                .iter()
                .filter_map(|k| obj.properties.remove(k).map(|v| (k.clone(), v)))
                .filter(|(_, v)| !v.is_null())
                .collect();
            if !held.is_empty() {
                let mut held = held;
                if !renames.is_empty() {
                    for v in held.values_mut() {
                        rename_beacons(v, renames);
                    }
                }
                refs = Some(held);
            }
        }
        // Vectors go to the store as the line has them, unless they were dropped.
        let keep_text = !opts.skip_vectors;
        let item = Item {
            refs,
            vector_text: read.vector_text.filter(|_| keep_text),
            vectors_text: read.vectors_text.filter(|_| keep_text),
            ..Item::new(number, chain, raw.to_vec(), obj)
        };
        coll.fed = true;
        feeder.push(&coll.target, item, coll.sorted)
    }
}

impl Reader<'_> {
    /// The stream's collection an object belongs to: its section's, else `--collection`'s
    /// for an object without a class, else its class; `None` when nothing names it.
    pub(super) fn source_of(&self, obj: &Object) -> Option<String> {
        match &self.section {
            Some((s, _)) => Some(s.clone()),
            None if obj.class.is_empty() => self.opts.collection.as_deref().map(names::class_name),
            None => Some(names::class_name(&obj.class)),
        }
    }

    /// An object a resumed run skips (the checkpoint vouches for it) still sets the vector
    /// lengths later objects are held to, as it did in the run that wrote it: what is
    /// rejected does not depend on where a run resumed.
    pub(super) fn note_skipped(&mut self, mut obj: Object) {
        if self.opts.skip_vectors {
            return;
        }
        let Some(id) = canonical_id(&obj.id) else {
            return;
        };
        obj.id = id;
        let Some(source) = self.source_of(&obj) else {
            return;
        };
        if !self.opts.selection.selects(&obj) {
            return;
        }
        let first = self.first_dims.entry(source).or_default();
        for (name, n) in vector_dims(&obj) {
            first.entry(name).or_insert(n);
        }
    }
}

pub(super) fn vector_dims(obj: &Object) -> BTreeMap<String, usize> {
    let mut d = BTreeMap::new();
    if let Some(v) = &obj.vector {
        d.insert(String::new(), v.len());
    }
    for (name, v) in &obj.vectors {
        let n = match v {
            Vector::Single(v) => v.len(),
            Vector::Multi(rows) => rows.first().map_or(0, Vec::len),
        };
        d.insert(name.clone(), n);
    }
    // An empty vector is no vector (Weaviate stores none): it sets no length.
    d.retain(|_, n| *n > 0);
    d
}

fn vector_label(name: &str) -> String {
    if name.is_empty() {
        "the vector".to_owned()
    } else {
        format!("vector '{name}'")
    }
}

/// `weaviate://localhost/Old/<id>` becomes `.../New/<id>` for renamed collections.
fn rename_beacons(v: &mut Value, renames: &[(String, String)]) {
    let Some(items) = v.as_array_mut() else {
        return;
    };
    for item in items {
        let Some(beacon) = item.get("beacon").and_then(Value::as_str) else {
            continue;
        };
        let Some((class, id)) = beacon
            .strip_prefix("weaviate://localhost/")
            .and_then(|rest| rest.split_once('/'))
        else {
            continue;
        };
        if let Some((_, new)) = renames
            .iter()
            .find(|(old, _)| ely_stream::format::same_collection(old, class))
        {
            let renamed = format!("weaviate://localhost/{}/{id}", names::class_name(new));
            item["beacon"] = Value::from(renamed);
        }
    }
}
