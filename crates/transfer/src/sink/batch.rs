//! Objects on their way to the store: the [`Item`], the [`Batch`] it travels in, and
//! [`InFlight`], which keeps two copies of one object from racing each other.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::bail;
use std::ops::Range;

use bytes::Bytes;
use ely_store::{Object, VectorText};
use serde_json::{Map, Value};

use super::settle::Status;
use super::Shared;

/// What the store is asked to do with an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Op {
    /// Insert or replace the object (under the conflict mode).
    #[default]
    Upsert,
    /// Delete the object with the item's id (gone already is fine).
    Delete,
}

/// One object on its way, with where it came from.
pub struct Item {
    /// Its line in the input (1-based). Several items may share one line (a source that
    /// makes several objects of one record); results and dead letters keep them together.
    pub line: u64,
    /// The source's chain hash after this line: what a checkpoint after it records.
    pub chain: u64,
    /// The original line, for the dead-letter file (shared by the items of one line).
    pub raw: Bytes,
    pub obj: Object,
    pub op: Op,
    /// Settled before reaching the store, and how: rejected early, or decided by the source
    /// (unchanged, skipped). It still travels in a batch, so results keep input order.
    pub settled: Option<Status>,
    /// More items of the same line follow: a checkpoint may not vouch for the line yet.
    pub more: bool,
    /// What the source wants to find again in the item's result (custom results).
    pub tag: Option<Box<Value>>,
    /// Reference properties held back until every object is in (written by the references
    /// pass).
    pub refs: Option<Map<String, Value>>,
    /// Where in `raw` the text of `obj`'s `vector` and `vectors` is, when `obj` holds the
    /// vectors read from it: the store may send that text as it is.
    pub vector_text: Option<Range<usize>>,
    pub vectors_text: Option<Range<usize>>,
}

impl Item {
    /// An object to upsert, from line `line` (`raw`).
    pub fn new(line: u64, chain: u64, raw: impl Into<Bytes>, obj: Object) -> Item {
        Item {
            line,
            chain,
            raw: raw.into(),
            obj,
            op: Op::Upsert,
            settled: None,
            more: false,
            tag: None,
            refs: None,
            vector_text: None,
            vectors_text: None,
        }
    }

    /// An item rejected before reaching the store; it still travels in a batch, so that
    /// results and the dead-letter file keep input order.
    pub fn rejected(
        line: u64,
        chain: u64,
        raw: impl Into<Bytes>,
        obj: Object,
        reason: String,
    ) -> Item {
        Item {
            settled: Some(Status::Rejected(reason)),
            ..Item::new(line, chain, raw, obj)
        }
    }

    /// The text of the item's vectors in its line, where known.
    pub fn vector_text(&self) -> VectorText<'_> {
        let span = |r: &Option<Range<usize>>| r.clone().and_then(|r| self.raw.get(r));
        VectorText {
            vector: span(&self.vector_text),
            vectors: span(&self.vectors_text),
        }
    }
}

/// Objects of one collection written in one call.
pub(crate) struct Batch {
    /// Its place among everything reported to the collector.
    pub seq: u64,
    /// Its number in its pass, for the result lines.
    pub number: u64,
    pub class: String,
    /// Every item of a batch has this op.
    pub op: Op,
    pub items: Vec<Item>,
    /// Ids ascend within each tenant and follow the previous batch's: the target's cursor
    /// can be merged with it.
    pub sorted: bool,
    /// The references pass: objects written again whole, plain overwrite.
    pub references: bool,
    pub bytes: usize,
}

/// The ids of batches still in flight. A batch holding an id that an earlier batch still in
/// flight also holds waits for it, so that the last copy of an object in the input is the
/// one that stays (batches in flight finish in any order).
#[derive(Default)]
pub(crate) struct InFlight {
    /// Object key (a hash of collection, tenant and id) to the last batch holding it.
    ids: HashMap<u64, u64>,
    batches: VecDeque<(u64, Vec<u64>)>,
}

impl InFlight {
    /// Two objects with one key may only make a batch wait a little longer than needed.
    fn key(class: &str, obj: &Object) -> u64 {
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        h.update(class.as_bytes());
        h.update(b"\0");
        h.update(obj.tenant.as_deref().unwrap_or("").as_bytes());
        h.update(b"\0");
        h.update(obj.id.as_bytes());
        h.digest()
    }

    fn prune(&mut self, completed: u64) {
        while self
            .batches
            .front()
            .is_some_and(|(seq, _)| *seq < completed)
        {
            if let Some((seq, keys)) = self.batches.pop_front() {
                for k in keys {
                    if self.ids.get(&k) == Some(&seq) {
                        self.ids.remove(&k);
                    }
                }
            }
        }
    }

    /// Waits until no earlier batch in flight holds one of `batch`'s objects, then records it.
    pub fn admit(&mut self, batch: &Batch, shared: &Shared<'_>) -> anyhow::Result<()> {
        let keys: Vec<u64> = batch
            .items
            .iter()
            .filter(|i| i.settled.is_none())
            .map(|i| Self::key(&batch.class, &i.obj))
            .collect();
        loop {
            self.prune(shared.completed.load(Ordering::Acquire));
            if !keys.iter().any(|k| self.ids.contains_key(k)) {
                break;
            }
            if shared.abort.load(Ordering::Relaxed) {
                bail!("stopped after an error");
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        for &k in &keys {
            self.ids.insert(k, batch.seq);
        }
        self.batches.push_back((batch.seq, keys));
        Ok(())
    }
}
