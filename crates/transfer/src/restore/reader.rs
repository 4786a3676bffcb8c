//! The restore's side of the source: takes the source's events in order, checks a resumed
//! input against its checkpoint (skipping what it vouches for), opens each collection's
//! section, and hands objects on to be prepared, and bad lines to be rejected in order.

use std::collections::{BTreeMap, HashMap, HashSet};

use anyhow::bail;
use ely_store::Object;
use ely_stream::{Checkpoint, Event, Header, Record, Rejected};
use ely_vocab::ObjectLine;
use serde_json::Value;

use super::collections::Coll;
use super::{RestoreOptions, Totals};
use crate::sink::{first_line_hash, Feeder, Item};

pub(super) struct Reader<'r> {
    pub opts: &'r RestoreOptions,
    pub resume: Option<&'r Checkpoint>,
    /// The input as messages name it.
    pub display: String,
    pub totals: &'r mut Totals,
    /// Collections set up so far, by their name in the stream.
    pub colls: HashMap<String, Coll>,
    /// The open section's source collection and its target, when it had a header.
    pub section: Option<(String, String)>,
    pub header: Option<Header>,
    resume_line: u64,
    identity_checked: bool,
    last_line: u64,
    /// Reference properties added once every collection exists: (collection, property).
    pub deferred: Vec<(String, Value)>,
    /// The chain hash after the last line read.
    pub chain: u64,
    /// `--rename` pairs, and the one `--collection NEW` makes of a one-collection stream.
    pub renames: Vec<(String, String)>,
    /// Things worth telling that did not stop the run.
    pub warnings: Vec<String>,
    /// Collections whose objects have no tenant although `--tenant` was given (told once).
    pub tenantless: HashSet<String>,
    /// Per collection of the stream, the vector lengths of its first selected object with
    /// each vector ("" for the legacy vector): later objects must have the same.
    pub first_dims: HashMap<String, BTreeMap<String, usize>>,
    /// The stream's collections as read, before any selection or resumed skip: what an
    /// unmatched `--rename` is checked against.
    pub seen: HashSet<String>,
}

/// What is left once the input is read.
#[derive(Default)]
pub(super) struct Rest {
    /// Reference properties to add once every collection exists: (collection, property).
    pub deferred: Vec<(String, Value)>,
    pub warnings: Vec<String>,
    /// Collections left to the store's auto-schema (those it created count as created).
    pub auto_schema: Vec<String>,
    /// The stream's collections, by their names in the stream.
    pub sources: Vec<String>,
}

impl<'r> Reader<'r> {
    pub fn new(
        opts: &'r RestoreOptions,
        resume: Option<&'r Checkpoint>,
        display: String,
        totals: &'r mut Totals,
    ) -> Reader<'r> {
        Reader {
            opts,
            resume,
            display,
            totals,
            colls: HashMap::new(),
            section: None,
            header: None,
            resume_line: 0,
            identity_checked: false,
            last_line: 0,
            deferred: Vec::new(),
            chain: 0,
            renames: opts.renames.clone(),
            warnings: Vec::new(),
            tenantless: HashSet::new(),
            first_dims: HashMap::new(),
            seen: HashSet::new(),
        }
    }

    /// The last line read.
    pub fn last_line(&self) -> u64 {
        self.last_line
    }

    /// Adds the properties still pending (collections whose input ended before an object
    /// was written).
    pub fn add_all_pending(&mut self, store: &dyn ely_store::Store) -> anyhow::Result<()> {
        for coll in self.colls.values_mut() {
            coll.add_pending(store, &mut self.totals.properties_added)?;
        }
        Ok(())
    }

    /// What is left to do once the input is read.
    pub fn into_rest(self) -> Rest {
        let sources = self.seen.into_iter().collect();
        let auto_schema = self
            .colls
            .into_values()
            .filter(|c| c.auto_schema)
            .map(|c| c.target)
            .collect();
        Rest {
            deferred: self.deferred,
            warnings: self.warnings,
            auto_schema,
            sources,
        }
    }

    pub fn checkpoint_path(&self) -> String {
        self.opts
            .sink
            .checkpoint
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    }

    /// Every line the reader hands over extends a chain of hashes, so that a checkpoint can
    /// tell whether the input it is resumed with is the one it was written for, up to its line.
    fn link(&mut self, line: &[u8], number: u64) -> anyhow::Result<()> {
        self.chain = xxhash_rust::xxh3::xxh3_64_with_seed(line, self.chain);
        if let Some(cp) = self.resume {
            if number == cp.line && cp.chain != 0 && cp.chain != self.chain {
                bail!(
                    "checkpoint {} does not match this input: its lines up to {} differ from those of {} the checkpoint was written for; delete it to start over, or give another --checkpoint",
                    self.checkpoint_path(),
                    cp.line,
                    cp.input
                );
            }
        }
        Ok(())
    }

    pub fn event(&mut self, ev: Event<'_>, feeder: &mut Feeder<'_, '_>) -> anyhow::Result<()> {
        if feeder.aborted() {
            bail!("stopped after an error");
        }
        match &ev {
            Event::Header { line, number, .. } | Event::Bad { line, number, .. } => {
                self.link(line, *number)?
            }
            Event::Object { line, number, .. } => self.link(line.unwrap_or_default(), *number)?,
            Event::SectionEnd { .. } => {}
        }
        match ev {
            Event::Header {
                header,
                line,
                number,
            } => {
                self.identity(line, feeder)?;
                self.last_line = number;
                self.header(header, feeder)
            }
            Event::Object {
                line,
                object,
                number,
                ..
            } => {
                let line = line.unwrap_or_default();
                self.identity(line, feeder)?;
                self.last_line = number;
                let object = object.unwrap_or_else(|| Object::read_line(line));
                self.object(line, object, number, feeder)
            }
            Event::SectionEnd { .. } => {
                // A section without objects to write still gets the properties it asks for.
                if let Some((source, _)) = self.section.take() {
                    if let Some(coll) = self.colls.get_mut(&source) {
                        coll.add_pending(feeder.store(), &mut self.totals.properties_added)?;
                    }
                }
                self.header = None;
                Ok(())
            }
            Event::Bad {
                line,
                number,
                reason,
                ..
            } => {
                self.identity(line, feeder)?;
                self.last_line = number;
                // A dead-letter record is read back as the line it holds.
                if let Ok(Rejected { raw: Some(raw), .. }) = Rejected::from_line(line) {
                    let object = Object::read_line(raw.as_bytes());
                    return self.object(raw.as_bytes(), object, number, feeder);
                }
                self.totals.read += 1;
                if number <= self.resume_line {
                    self.totals.resumed += 1;
                    return Ok(());
                }
                let chain = self.chain;
                self.reject_early(number, line, reason.to_owned(), chain, feeder)
            }
        }
    }

    /// On the first line: compare with the checkpoint's input.
    fn identity(&mut self, line: &[u8], feeder: &mut Feeder<'_, '_>) -> anyhow::Result<()> {
        if self.identity_checked {
            return Ok(());
        }
        self.identity_checked = true;
        if let Some(cp) = self.resume {
            if cp.first_line != first_line_hash(line) {
                bail!(
                    "checkpoint {} belongs to another input ({}, whose first line differs from {}'s); delete it to start over, or give another --checkpoint",
                    self.checkpoint_path(),
                    cp.input,
                    self.display
                );
            }
            self.resume_line = cp.line;
        }
        feeder.identify(line)
    }

    fn header(&mut self, h: &Header, feeder: &mut Feeder<'_, '_>) -> anyhow::Result<()> {
        feeder.flush()?;
        let source = ely_store::names::class_name(&h.collection);
        self.seen.insert(source.clone());
        let target = self.target_name(&source)?;
        self.note_rename(&source, &target);
        self.section = Some((source.clone(), target.clone()));
        self.header = Some(h.clone());
        if !self.colls.contains_key(&source) {
            let coll = self.setup(&source, &target, Some(h), feeder)?;
            self.colls.insert(source, coll);
        }
        Ok(())
    }

    fn object(
        &mut self,
        raw: &[u8],
        object: Result<ObjectLine, String>,
        number: u64,
        feeder: &mut Feeder<'_, '_>,
    ) -> anyhow::Result<()> {
        self.totals.read += 1;
        let names_checked = !self.opts.renames.is_empty() || self.opts.collection.is_some();
        if let (Ok(read), None, true) = (&object, &self.section, names_checked) {
            if let Some(source) = self.source_of(&read.object) {
                if !self.seen.contains(&source) {
                    self.seen.insert(source);
                }
            }
        }
        if number <= self.resume_line {
            self.totals.resumed += 1;
            if let Ok(read) = object {
                self.note_skipped(read.object);
            }
            return Ok(());
        }
        let chain = self.chain;
        match object {
            Ok(obj) => self.prepare(number, raw, obj, chain, feeder),
            Err(e) => self.reject_early(number, raw, format!("not an object: {e}"), chain, feeder),
        }
    }

    /// A line rejected before reaching the store; it still goes through a batch, so that
    /// results and the dead-letter file keep input order.
    pub fn reject_early(
        &mut self,
        number: u64,
        raw: &[u8],
        reason: String,
        chain: u64,
        feeder: &mut Feeder<'_, '_>,
    ) -> anyhow::Result<()> {
        let class = self
            .section
            .as_ref()
            .map(|(_, t)| t.clone())
            .unwrap_or_default();
        let item = Item::rejected(number, chain, raw.to_vec(), Object::default(), reason);
        feeder.push(&class, item, false)
    }
}
