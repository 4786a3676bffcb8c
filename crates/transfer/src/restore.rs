//! Restore: an ely stream (or a plain stream of objects) written into a store, whole or in
//! part, without losing an object.
//!
//! The calling thread reads the stream and prepares batches (collections set up, partial
//! restore options, type conversions, vector checks); `workers` threads each take a batch,
//! settle conflicts with the target and upsert it; a collector thread takes the results back
//! in input order and writes result lines, the dead-letter file and the checkpoint.
//!
//! Cross-references are written last: objects go in without their reference properties, and
//! once every object of the input is in, the objects that had references are written again
//! whole, so a reference never points at an object that does not exist yet.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::{self, BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use crossbeam_channel::{bounded, Receiver, Sender};
use ely_store::schema::{is_multi_tenant, strip_server_fields};
use ely_store::{canonical_id, names, Object, Outcome, Store, StoreError, Tenant, Vector};
use ely_stream::{read_stream, Counters, Event, Header, Input, ReadOptions, Summary};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::expr::Expr;
use crate::migrate::{missing_properties, Fit};

/// What to do with an object whose id already exists in the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conflict {
    /// Replace it (the default).
    Overwrite,
    /// Keep the existing object.
    Skip,
    /// Update only the properties present in the stream; replace vectors present in it.
    Merge,
    /// Stop before the first existing object is touched.
    Fail,
}

impl std::str::FromStr for Conflict {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "overwrite" => Ok(Conflict::Overwrite),
            "skip" => Ok(Conflict::Skip),
            "merge" => Ok(Conflict::Merge),
            "fail" => Ok(Conflict::Fail),
            _ => Err(format!(
                "'{s}' is not a conflict mode (overwrite, skip, merge, fail)"
            )),
        }
    }
}

/// How to restore.
#[derive(Debug, Clone)]
pub struct RestoreOptions {
    /// Restore a one-collection stream under this name.
    pub collection: Option<String>,
    /// `OLD=NEW` collection renames.
    pub renames: Vec<(String, String)>,
    pub on_conflict: Conflict,
    /// Skip objects whose properties and vectors already equal the target's.
    pub only_changed: bool,
    /// Only these object ids (canonical form).
    pub objects: Option<HashSet<String>>,
    /// Only these properties (stream names).
    pub properties: Option<Vec<String>>,
    /// Only objects matching this (stream property names and values).
    pub filter: Option<Expr>,
    /// Only these tenants.
    pub tenants: Vec<String>,
    /// `OLD=NEW` property renames.
    pub map_properties: Vec<(String, String)>,
    /// Do conversions that lose information instead of rejecting the object.
    pub lossy: bool,
    /// Drop vectors, so that the target vectorizes.
    pub skip_vectors: bool,
    /// Replication factor of collections created by the restore.
    pub replication_factor: Option<u64>,
    /// Batches in flight.
    pub workers: usize,
    /// Objects per batch.
    pub batch_size: usize,
    /// Bytes of object lines per batch (a batch closes at whichever limit comes first).
    pub batch_bytes: usize,
    /// Check and report, write nothing.
    pub dry_run: bool,
    /// One result line per object instead of per batch.
    pub per_object_results: bool,
    /// Resume file.
    pub checkpoint: Option<PathBuf>,
    /// Where rejected objects go (their original lines with the reason).
    pub dead_letter: Option<PathBuf>,
    /// Read options (line limit, threads).
    pub read: ReadOptions,
}

impl Default for RestoreOptions {
    fn default() -> Self {
        RestoreOptions {
            collection: None,
            renames: Vec::new(),
            on_conflict: Conflict::Overwrite,
            only_changed: false,
            objects: None,
            properties: None,
            filter: None,
            tenants: Vec::new(),
            map_properties: Vec::new(),
            lossy: false,
            skip_vectors: false,
            replication_factor: None,
            workers: 4,
            batch_size: 100,
            batch_bytes: 16 << 20,
            dry_run: false,
            per_object_results: false,
            checkpoint: None,
            dead_letter: None,
            read: ReadOptions {
                skip_bad: true,
                ..ReadOptions::default()
            },
        }
    }
}

/// What a restore did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Totals {
    /// Object lines read (including those skipped by a checkpoint).
    pub read: u64,
    /// Objects the partial-restore options left out.
    pub filtered: u64,
    /// Objects already restored by the run a checkpoint came from.
    pub resumed: u64,
    pub written: u64,
    pub unchanged: u64,
    pub skipped: u64,
    pub rejected: u64,
    /// Objects written a second time with their cross-references.
    pub references: u64,
    pub collections_created: u64,
    pub properties_added: u64,
    pub tenants_created: u64,
}

/// The end of a run: totals, and the error that ended it early, if one did (written objects
/// stay written; a truncated or corrupt input is such an error).
pub struct Finished {
    pub totals: Totals,
    pub summary: Summary,
    pub error: Option<anyhow::Error>,
    /// The dead-letter file, when something was rejected and one was written.
    pub dead_letter: Option<PathBuf>,
}

// --- batches -----------------------------------------------------------------------------

/// One object on its way.
struct Item {
    line: u64,
    /// The reader's chain hash after this line.
    chain: u64,
    /// The original line, for the dead-letter file.
    raw: Vec<u8>,
    obj: Object,
    /// Rejected before reaching the store.
    rejected: Option<String>,
    /// Reference properties held back until every object is in.
    refs: Option<Map<String, Value>>,
}

struct Batch {
    seq: u64,
    class: String,
    items: Vec<Item>,
    /// Ids ascend within each tenant and follow the previous batch's: the target's cursor
    /// can be merged with it.
    sorted: bool,
    /// The second pass (objects written again with their references): plain overwrite.
    references: bool,
    bytes: usize,
}

#[derive(Debug, Clone, PartialEq)]
enum Status {
    Written,
    Unchanged,
    Skipped,
    Rejected(String),
}

impl Status {
    fn name(&self) -> &'static str {
        match self {
            Status::Written => "written",
            Status::Unchanged => "unchanged",
            Status::Skipped => "skipped",
            Status::Rejected(_) => "rejected",
        }
    }
}

/// One item's result: line, id, tenant, status, and the raw line (kept for rejections only).
type ItemResult = (u64, String, Option<String>, Status, Vec<u8>);

struct Done {
    seq: u64,
    class: String,
    references: bool,
    /// The batch's last line and the reader's chain hash after it.
    last: Option<(u64, u64)>,
    items: Vec<ItemResult>,
    /// Objects written without their references: the object as written, its references,
    /// and the original line.
    pending_refs: Vec<(u64, Object)>,
    error: Option<anyhow::Error>,
}

// --- collections -------------------------------------------------------------------------

/// A target collection as the restore sees it.
struct Coll {
    target: String,
    /// The target's definition (or, in a dry run, the one that would be created).
    fit: Option<Fit>,
    ref_props: HashSet<String>,
    multi_tenant: Option<bool>,
    /// First vector length seen in the stream, per vector name ("" for the legacy vector).
    dims: BTreeMap<String, usize>,
    /// Vector lengths of an object already in the target, read once.
    target_dims: Option<BTreeMap<String, usize>>,
    tenants_seen: HashSet<String>,
    /// Last id per tenant, to tell whether the input ascends.
    last_ids: HashMap<Option<String>, String>,
    sorted: bool,
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

fn vector_dims(obj: &Object) -> BTreeMap<String, usize> {
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

// --- the checkpoint ----------------------------------------------------------------------

#[derive(Debug, Serialize, Deserialize)]
struct Checkpoint {
    ely: String,
    /// The input's name, for messages.
    input: String,
    /// A hash of the input's first line, to refuse resuming another input.
    first_line: String,
    /// Every object line up to this one was acknowledged (written, unchanged, skipped,
    /// rejected into the dead-letter file, or left out).
    line: u64,
    /// The chain hash of the input's lines up to `line`: a resumed input must match it.
    #[serde(default)]
    chain: u64,
    /// The dead-letter file's length at that point; a resumed run cuts it back to this.
    #[serde(default)]
    dead_letter_bytes: u64,
    /// When it was written.
    updated: String,
}

fn first_line_hash(line: &[u8]) -> String {
    format!("{:032x}", xxhash_rust::xxh3::xxh3_128(line))
}

fn read_checkpoint(path: &Path) -> anyhow::Result<Option<Checkpoint>> {
    match std::fs::read(path) {
        Ok(bytes) => {
            let cp: Checkpoint = serde_json::from_slice(&bytes).map_err(|e| {
                anyhow!(
                    "checkpoint {}: not an ely checkpoint ({e}); delete it to start over",
                    path.display()
                )
            })?;
            if cp.ely != "checkpoint" {
                bail!(
                    "checkpoint {}: not an ely checkpoint; delete it to start over",
                    path.display()
                );
            }
            Ok(Some(cp))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(anyhow!("checkpoint {}: {e}", path.display())),
    }
}

fn write_checkpoint(path: &Path, cp: &Checkpoint) -> anyhow::Result<()> {
    let mut f = ely_stream::atomic::AtomicFile::create_with_mode(path, Some(0o600))
        .with_context(|| format!("checkpoint {}", path.display()))?;
    serde_json::to_writer(&mut f, cp)?;
    f.write_all(b"\n")?;
    f.commit()
        .with_context(|| format!("checkpoint {}", path.display()))?;
    Ok(())
}

// --- the dead-letter file ----------------------------------------------------------------

/// Rejected objects, as `{"ely":"rejected",...}` records that ely-restore reads back as they
/// are. Appended and synced before every checkpoint, so a resumed run loses none.
struct DeadLetter {
    path: PathBuf,
    input: String,
    file: Option<BufWriter<File>>,
    /// A resumed run: the length the checkpoint vouches for (what follows is cut off).
    resume_bytes: Option<u64>,
    /// Bytes in the file, counting what is still buffered.
    bytes: u64,
    records: u64,
}

impl DeadLetter {
    fn open(path: &Path, input: &str, resume_bytes: Option<u64>) -> anyhow::Result<DeadLetter> {
        Ok(DeadLetter {
            path: path.to_owned(),
            input: input.to_owned(),
            file: None,
            resume_bytes,
            bytes: resume_bytes.unwrap_or(0),
            records: 0,
        })
    }

    fn reject(&mut self, line: u64, reason: &str, raw: &[u8]) -> anyhow::Result<()> {
        if self.file.is_none() {
            let mut o = std::fs::OpenOptions::new();
            o.create(true).write(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                o.mode(0o600);
            }
            let mut f = o
                .open(&self.path)
                .with_context(|| format!("dead-letter file {}", self.path.display()))?;
            // A fresh run starts the file over; a resumed one keeps what its checkpoint
            // vouches for and drops anything written after it (a record cut by a kill).
            let keep = self.resume_bytes.unwrap_or(0);
            f.set_len(keep)?;
            use std::io::Seek;
            f.seek(io::SeekFrom::Start(keep))?;
            self.bytes = keep;
            self.file = Some(BufWriter::new(f));
        }
        let (text, b64) = match std::str::from_utf8(raw) {
            Ok(s) => (Some(s), None),
            Err(_) => (None, Some(ely_stream::format::base64(raw))),
        };
        let record = ely_stream::format::Rejected {
            ely: "rejected",
            input: &self.input,
            line,
            reason,
            raw: text,
            raw_base64: b64,
            bytes: None,
        };
        let mut text = serde_json::to_vec(&record)?;
        text.push(b'\n');
        if let Some(f) = self.file.as_mut() {
            f.write_all(&text)?;
            self.bytes += text.len() as u64;
        }
        self.records += 1;
        Ok(())
    }

    /// Flushes and syncs; returns the file's length.
    fn sync(&mut self) -> anyhow::Result<u64> {
        if let Some(f) = self.file.as_mut() {
            f.flush()?;
            f.get_ref().sync_all()?;
        }
        Ok(self.bytes)
    }
}

// --- the run -----------------------------------------------------------------------------

/// Shared between the reading thread, the workers and the collector.
struct Shared<'a> {
    store: &'a dyn Store,
    opts: &'a RestoreOptions,
    abort: AtomicBool,
    counters: &'a Counters,
    /// Collections known to exist in the target.
    known_classes: Mutex<HashSet<String>>,
    /// Batches the collector has taken back, in order.
    completed: AtomicU64,
}

/// Restores `input` into `store`, writing result lines to `out`.
pub fn restore(
    store: &dyn Store,
    input: Input,
    opts: &RestoreOptions,
    counters: Arc<Counters>,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<Finished> {
    let input_name = input.name().to_owned();
    let display = input.display_name().to_owned();
    let resume = match &opts.checkpoint {
        Some(p) => read_checkpoint(p)?,
        None => None,
    };
    let dead = match &opts.dead_letter {
        Some(p) => Some(DeadLetter::open(
            p,
            &input_name,
            resume.as_ref().map(|c| c.dead_letter_bytes),
        )?),
        None => None,
    };
    let shared = Shared {
        store,
        opts,
        abort: AtomicBool::new(false),
        counters: &counters,
        known_classes: Mutex::new(HashSet::new()),
        completed: AtomicU64::new(0),
    };
    let mut totals = Totals::default();
    let mut summary = Summary::default();
    let collector_state = Mutex::new(Collector {
        out,
        out_closed: false,
        dead,
        next: 0,
        waiting: BTreeMap::new(),
        totals: Totals::default(),
        error: None,
        spool: None,
        checkpoint: opts.checkpoint.clone(),
        cp_identity: None,
        safe: (0, 0),
        latest: (0, 0),
        refs_pending: false,
        last_cp: Instant::now(),
        dry_run: opts.dry_run,
        per_object: opts.per_object_results,
        input: input_name.clone(),
    });

    let mut deferred: Vec<(String, Value)> = Vec::new();
    let piped = pipeline(&shared, &collector_state, |batch_tx| {
        let mut reader = Reader {
            shared: &shared,
            colls: HashMap::new(),
            section: None,
            header: None,
            batch: None,
            seq: 0,
            tx: batch_tx,
            totals: &mut totals,
            resume_line: 0,
            resume: resume.as_ref(),
            identity_checked: false,
            display: display.clone(),
            collector: &collector_state,
            last_line: 0,
            deferred: Vec::new(),
            pending: Vec::new(),
            chain: 0,
            chain_of_item: 0,
            inflight: InFlight::default(),
            renames: opts.renames.clone(),
        };
        let read_opts = ReadOptions {
            skip_bad: true,
            ..opts.read.clone()
        };
        let mut result = read_stream(input, &read_opts, counters.clone(), &mut summary, |ev| {
            reader.event(ev)
        });
        // What was read before a problem is still written (a truncated stream ends with
        // everything valid before the damage in the store).
        let flushed = reader.finish();
        if result.is_ok() && reader.resume_line > reader.last_line {
            result = Err(anyhow!(
                "checkpoint {} is at line {}, but {} has only {} lines; delete it to start over",
                reader.checkpoint_path(),
                reader.resume_line,
                display,
                reader.last_line
            ));
        }
        deferred = std::mem::take(&mut reader.deferred);
        (result, flushed)
    });
    let read_error = (|| -> anyhow::Result<Option<anyhow::Error>> {
        let (result, flushed) = piped?;
        let mut state = collector_state
            .lock()
            .map_err(|_| anyhow!("the result collector stopped unexpectedly"))?;
        if let Some(e) = state.error.take() {
            return Err(e);
        }
        if let Err(e) = flushed {
            return Err(result.err().unwrap_or(e));
        }
        Ok(result.err())
    })();
    let mut state = collector_state
        .into_inner()
        .map_err(|_| anyhow!("the result collector stopped unexpectedly"))?;
    let read_error = match read_error {
        Ok(e) => e,
        Err(e) => {
            state.save_checkpoint(true)?;
            return Err(e);
        }
    };

    // Reference properties whose target collections did not exist yet.
    if !opts.dry_run {
        for (class, prop) in &deferred {
            if let Err(e) = store.add_property(class, prop) {
                state.save_checkpoint(true)?;
                return Err(anyhow::Error::new(e).context(format!(
                    "adding reference property {} to {class}",
                    prop.get("name").and_then(Value::as_str).unwrap_or("?")
                )));
            }
            totals.properties_added += 1;
        }
    }
    // Second pass: objects written without their references get them now, also when the
    // input turned out damaged (their objects were written).
    if let Some(spool) = state.spool.take() {
        let state_lock = Mutex::new(state);
        let result = references_pass(&shared, spool, &state_lock);
        state = state_lock
            .into_inner()
            .map_err(|_| anyhow!("the result collector stopped unexpectedly"))?;
        let failed = match result {
            Err(e) => Some(e),
            Ok(()) => state.error.take(),
        };
        if let Some(e) = failed {
            state.save_checkpoint(true)?;
            return Err(e);
        }
        state.refs_pending = false;
        state.safe = state.latest;
    }
    if read_error.is_none() && !opts.dry_run {
        if let Some(d) = state.dead.as_mut() {
            d.sync()?;
        }
        // The whole input is in: a rerun starts over.
        if let Some(p) = &opts.checkpoint {
            match std::fs::remove_file(p) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(anyhow!("removing checkpoint {}: {e}", p.display())),
            }
        }
    } else {
        state.save_checkpoint(true)?;
    }
    let t = &state.totals;
    totals.written = t.written;
    totals.unchanged = t.unchanged;
    totals.skipped = t.skipped;
    totals.rejected = t.rejected;
    totals.references = t.references;
    let dead_letter = state
        .dead
        .as_ref()
        .filter(|d| d.records > 0)
        .map(|d| d.path.clone());
    Ok(Finished {
        totals,
        summary,
        error: read_error,
        dead_letter,
    })
}

/// Writes the spooled objects again, whole, now that every object they reference exists.
fn references_pass(
    shared: &Shared<'_>,
    spool: Spool,
    state: &Mutex<Collector<'_>>,
) -> anyhow::Result<()> {
    let opts = shared.opts;
    let mut reader = spool.reader()?;
    {
        let mut st = state
            .lock()
            .map_err(|_| anyhow!("the result collector stopped unexpectedly"))?;
        st.next = 0;
        st.waiting.clear();
    }
    shared.completed.store(0, Ordering::Relaxed);
    pipeline(shared, state, |batch_tx| {
        let mut inflight = InFlight::default();
        let mut seq = 0;
        let mut current: Option<Batch> = None;
        let mut outcome = Ok(());
        loop {
            if shared.abort.load(Ordering::Relaxed) {
                break;
            }
            let (line, obj, raw) = match reader.next_record() {
                Ok(Some(r)) => r,
                Ok(None) => break,
                Err(e) => {
                    outcome = Err(e);
                    break;
                }
            };
            let class = obj.class.clone();
            let full = current
                .as_ref()
                .is_some_and(|b| b.class != class || b.items.len() >= opts.batch_size);
            if full {
                if let Some(b) = current.take() {
                    if let Err(e) = inflight.admit(&b, shared) {
                        outcome = Err(e);
                        break;
                    }
                    if batch_tx.send(b).is_err() {
                        break;
                    }
                }
            }
            let b = current.get_or_insert_with(|| {
                seq += 1;
                Batch {
                    seq: seq - 1,
                    class: class.clone(),
                    items: Vec::new(),
                    sorted: false,
                    references: true,
                    bytes: 0,
                }
            });
            b.items.push(Item {
                line,
                chain: 0,
                raw,
                obj,
                rejected: None,
                refs: None,
            });
        }
        if let Some(b) = current.take() {
            if outcome.is_ok() && inflight.admit(&b, shared).is_ok() {
                let _ = batch_tx.send(b);
            }
        }
        outcome
    })?
}

/// Runs `feed`, which sends batches, with the workers that settle them and the collector that
/// takes their results back in order; returns once every batch sent has been collected.
fn pipeline<R>(
    shared: &Shared<'_>,
    state: &Mutex<Collector<'_>>,
    feed: impl FnOnce(Sender<Batch>) -> R,
) -> anyhow::Result<R> {
    std::thread::scope(|s| {
        let workers = shared.opts.workers.max(1);
        let (batch_tx, batch_rx) = bounded::<Batch>(workers);
        let (done_tx, done_rx) = bounded::<Done>(workers * 2);
        for _ in 0..workers {
            let rx = batch_rx.clone();
            let tx = done_tx.clone();
            s.spawn(move || worker(shared, rx, tx));
        }
        drop(batch_rx);
        drop(done_tx);
        let collector = s.spawn(|| collect(state, shared, done_rx));
        // The sender is dropped when `feed` returns, which lets the workers finish.
        let fed = feed(batch_tx);
        collector
            .join()
            .map_err(|_| anyhow!("the result collector stopped unexpectedly"))?;
        Ok(fed)
    })
}

/// Objects written without their references, kept in a temporary file (so memory stays
/// bounded however many there are) until the second pass.
struct Spool {
    path: PathBuf,
    file: Option<BufWriter<File>>,
}

impl Spool {
    fn create() -> anyhow::Result<Spool> {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "ely-restore-references-{}-{}.jsonl",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let mut o = std::fs::OpenOptions::new();
        o.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            o.mode(0o600);
        }
        let file = o
            .open(&path)
            .with_context(|| format!("temporary file {}", path.display()))?;
        Ok(Spool {
            path,
            file: Some(BufWriter::new(file)),
        })
    }

    /// One record: the line number, a tab, the object as written plus its references.
    fn add(&mut self, line: u64, obj: &Object) -> anyhow::Result<()> {
        let mut buf = Vec::with_capacity(4096);
        buf.extend_from_slice(line.to_string().as_bytes());
        buf.push(b'\t');
        obj.write_line(&mut buf);
        buf.push(b'\n');
        if let Some(f) = self.file.as_mut() {
            f.write_all(&buf)
                .with_context(|| format!("temporary file {}", self.path.display()))?;
        }
        Ok(())
    }

    fn reader(mut self) -> anyhow::Result<SpoolReader> {
        if let Some(f) = self.file.take() {
            f.into_inner()
                .map_err(io::IntoInnerError::into_error)?
                .flush()?;
        }
        let f = File::open(&self.path)
            .with_context(|| format!("temporary file {}", self.path.display()))?;
        Ok(SpoolReader {
            lines: io::BufReader::new(f),
            _spool: self,
        })
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

struct SpoolReader {
    lines: io::BufReader<File>,
    _spool: Spool,
}

impl SpoolReader {
    fn next_record(&mut self) -> anyhow::Result<Option<(u64, Object, Vec<u8>)>> {
        let mut buf = Vec::new();
        if self.lines.read_until(b'\n', &mut buf)? == 0 {
            return Ok(None);
        }
        if buf.last() == Some(&b'\n') {
            buf.pop();
        }
        let tab = buf
            .iter()
            .position(|&b| b == b'\t')
            .ok_or_else(|| anyhow!("damaged temporary file"))?;
        let line: u64 = std::str::from_utf8(&buf[..tab])
            .ok()
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| anyhow!("damaged temporary file"))?;
        let raw = buf[tab + 1..].to_vec();
        let obj: Object = serde_json::from_slice(&raw)?;
        Ok(Some((line, obj, raw)))
    }
}

/// The ids of batches still in flight. A batch holding an id that an earlier batch still in
/// flight also holds waits for it, so that the last copy of an object in the input is the
/// one that stays (batches in flight finish in any order).
#[derive(Default)]
struct InFlight {
    /// Object key (a hash of collection, tenant and id) to the last batch holding it.
    ids: HashMap<u64, u64>,
    batches: std::collections::VecDeque<(u64, Vec<u64>)>,
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
    fn admit(&mut self, batch: &Batch, shared: &Shared<'_>) -> anyhow::Result<()> {
        let keys: Vec<u64> = batch
            .items
            .iter()
            .filter(|i| i.rejected.is_none())
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

// --- reading and preparing ---------------------------------------------------------------

struct Reader<'s, 'a> {
    shared: &'s Shared<'a>,
    colls: HashMap<String, Coll>,
    /// The open section's source collection and its target, when it had a header.
    section: Option<(String, String)>,
    header: Option<Header>,
    batch: Option<Batch>,
    seq: u64,
    tx: Sender<Batch>,
    totals: &'s mut Totals,
    resume_line: u64,
    resume: Option<&'s Checkpoint>,
    identity_checked: bool,
    display: String,
    collector: &'s Mutex<Collector<'a>>,
    last_line: u64,
    /// Reference properties added once every collection exists: (collection, property).
    deferred: Vec<(String, Value)>,
    /// Object lines read but not yet parsed, with their line numbers and chain hashes.
    pending: Vec<(u64, Vec<u8>, u64)>,
    /// The chain hash after the last line read, and after the line being handled.
    chain: u64,
    chain_of_item: u64,
    /// Batches in flight, so that a repeated id waits for its earlier copy.
    inflight: InFlight,
    /// `--rename` pairs, and the one `--collection NEW` makes of a one-collection stream.
    renames: Vec<(String, String)>,
}

/// An object line after parsing: line number, the line, chain hash, the object or why not.
type Parsed = (u64, Vec<u8>, u64, Result<Object, String>);

#[derive(Deserialize)]
struct RejectedRecord {
    ely: String,
    raw: Option<String>,
}

impl Reader<'_, '_> {
    fn opts(&self) -> &RestoreOptions {
        self.shared.opts
    }

    fn store(&self) -> &dyn Store {
        self.shared.store
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

    fn checkpoint_path(&self) -> String {
        self.opts()
            .checkpoint
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    }

    fn event(&mut self, ev: Event<'_>) -> anyhow::Result<()> {
        if self.shared.abort.load(Ordering::Relaxed) {
            bail!("stopped after an error");
        }
        match &ev {
            Event::Header { line, number, .. }
            | Event::Object { line, number, .. }
            | Event::Bad { line, number, .. } => self.link(line, *number)?,
            Event::SectionEnd { .. } => {}
        }
        match ev {
            Event::Header {
                header,
                line,
                number,
            } => {
                self.identity(line)?;
                self.last_line = number;
                self.header(header)
            }
            Event::Object { line, number, .. } => {
                self.identity(line)?;
                self.last_line = number;
                self.object(line, number)
            }
            Event::SectionEnd { .. } => {
                self.parse_pending()?;
                self.section = None;
                self.header = None;
                Ok(())
            }
            Event::Bad {
                line,
                number,
                reason,
                ..
            } => {
                self.identity(line)?;
                self.last_line = number;
                // A dead-letter record is read back as the line it holds.
                if let Ok(r) = serde_json::from_slice::<RejectedRecord>(line) {
                    if r.ely == "rejected" {
                        if let Some(raw) = r.raw {
                            return self.object(raw.as_bytes(), number);
                        }
                    }
                }
                self.totals.read += 1;
                if number <= self.resume_line {
                    self.totals.resumed += 1;
                    return Ok(());
                }
                self.parse_pending()?;
                let chain = self.chain;
                self.reject_early(number, line, reason.to_owned(), chain)
            }
        }
    }

    /// On the first line: compare with the checkpoint's input.
    fn identity(&mut self, line: &[u8]) -> anyhow::Result<()> {
        if self.identity_checked {
            return Ok(());
        }
        self.identity_checked = true;
        let hash = first_line_hash(line);
        if let Some(cp) = self.resume {
            if cp.first_line != hash {
                let path = self
                    .opts()
                    .checkpoint
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default();
                bail!(
                    "checkpoint {path} belongs to another input ({}, whose first line differs from {}'s); delete it to start over, or give another --checkpoint",
                    cp.input,
                    self.display
                );
            }
            self.resume_line = cp.line;
        }
        if let Ok(mut c) = self.collector.lock() {
            c.cp_identity = Some(hash);
            if let Some(cp) = self.resume {
                c.safe = (cp.line, cp.chain);
                c.latest = c.safe;
            }
        }
        Ok(())
    }

    /// The new name of a collection that --rename renames.
    fn renamed(&self, source: &str) -> Option<String> {
        self.renames
            .iter()
            .find(|(old, _)| ely_stream::format::same_collection(old, source))
            .map(|(_, new)| names::class_name(new))
    }

    fn target_name(&self, source: &str) -> anyhow::Result<String> {
        for (old, new) in &self.opts().renames {
            if ely_stream::format::same_collection(old, source) {
                return Ok(names::class_name(new));
            }
        }
        if let Some(new) = &self.opts().collection {
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

    fn note_rename(&mut self, source: &str, target: &str) {
        if self.opts().collection.is_some() && source != target {
            let pair = (source.to_owned(), target.to_owned());
            if !self.renames.contains(&pair) {
                self.renames.push(pair);
            }
        }
    }

    fn header(&mut self, h: &Header) -> anyhow::Result<()> {
        self.parse_pending()?;
        self.flush()?;
        let source = names::class_name(&h.collection);
        let target = self.target_name(&source)?;
        self.note_rename(&source, &target);
        self.section = Some((source.clone(), target.clone()));
        self.header = Some(h.clone());
        if !self.colls.contains_key(&source) {
            let coll = self.setup(&source, &target, Some(h))?;
            self.colls.insert(source, coll);
        }
        Ok(())
    }

    /// The stream's class definition as it should exist in the target: renamed, only the
    /// chosen properties, properties renamed.
    fn wanted_class(&self, h: &Header, target: &str) -> Option<Value> {
        let mut class = strip_server_fields(h.class.as_ref()?);
        let obj = class.as_object_mut()?;
        obj.insert("class".into(), target.into());
        if let Some(props) = obj.get_mut("properties").and_then(Value::as_array_mut) {
            if let Some(keep) = &self.opts().properties {
                props.retain(|p| {
                    p.get("name").and_then(Value::as_str).is_some_and(|n| {
                        keep.iter()
                            .any(|k| names::property_name(k) == names::property_name(n))
                    })
                });
            }
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
                    if let Some((_, new)) =
                        self.opts().map_properties.iter().find(|(old, _)| {
                            names::property_name(old) == names::property_name(&name)
                        })
                    {
                        p["name"] = Value::from(new.clone());
                    }
                }
            }
        }
        if let Some(f) = self.opts().replication_factor {
            obj.insert("replicationConfig".into(), json!({ "factor": f }));
        }
        Some(class)
    }

    /// Creates or updates the target collection and its tenants.
    fn setup(&mut self, source: &str, target: &str, h: Option<&Header>) -> anyhow::Result<Coll> {
        let dry = self.opts().dry_run;
        let existing = self
            .store()
            .class(target)
            .with_context(|| format!("reading collection {target}"))?;
        let wanted = h.and_then(|h| self.wanted_class(h, target));
        let mut report = Map::new();
        report.insert("ely".into(), "collection".into());
        report.insert("collection".into(), target.into());
        if source != target {
            report.insert("from".into(), source.into());
        }
        let def = match (existing, &wanted) {
            (Some(existing), wanted) => {
                report.insert("action".into(), "exists".into());
                if let Some(w) = wanted {
                    let (src_mt, dst_mt) = (is_multi_tenant(w), is_multi_tenant(&existing));
                    if src_mt != dst_mt {
                        bail!(
                            "collection {target} {} multi-tenant in the target but {source} {} in the stream; restore into another collection",
                            if dst_mt { "is" } else { "is not" },
                            if src_mt { "is" } else { "is not" }
                        );
                    }
                    let missing = self.defer_references(target, missing_properties(w, &existing));
                    let names: Vec<Value> = missing
                        .iter()
                        .filter_map(|p| p.get("name").cloned())
                        .collect();
                    if !missing.is_empty() {
                        report.insert("add_properties".into(), names.into());
                    }
                    if !dry {
                        for p in &missing {
                            self.store().add_property(target, p).with_context(|| {
                                format!(
                                    "adding property {} to {target}",
                                    p.get("name").and_then(Value::as_str).unwrap_or("?")
                                )
                            })?;
                            self.totals.properties_added += 1;
                        }
                    }
                    if !missing.is_empty() && !dry {
                        self.store()
                            .class(target)
                            .with_context(|| format!("reading collection {target}"))?
                            .unwrap_or(existing)
                    } else {
                        existing
                    }
                } else {
                    existing
                }
            }
            (None, Some(w)) => {
                report.insert("action".into(), "create".into());
                // References to collections that do not exist yet are added at the end.
                let mut create = w.clone();
                if let Some(props) = create.get_mut("properties").and_then(Value::as_array_mut) {
                    let all = std::mem::take(props);
                    *props = self.defer_references(target, all);
                }
                if dry {
                    w.clone()
                } else {
                    let created = self
                        .store()
                        .create_class(&create)
                        .map_err(|e| replication_hint(e, &create, target))?;
                    self.totals.collections_created += 1;
                    created
                }
            }
            (None, None) => {
                // A plain object stream: the store creates the class from the first objects,
                // as Weaviate's auto-schema does.
                report.insert("action".into(), "auto-schema".into());
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
                .filter(|t| {
                    self.opts().tenants.is_empty() || self.opts().tenants.iter().any(|x| x == t)
                })
                .map(Tenant::new)
                .collect();
            if !tenants.is_empty() {
                report.insert(
                    "tenants".into(),
                    tenants
                        .iter()
                        .map(|t| t.name.clone())
                        .collect::<Vec<_>>()
                        .into(),
                );
                if !dry {
                    self.store()
                        .create_tenants(target, &tenants)
                        .with_context(|| format!("creating the tenants of {target}"))?;
                    self.totals.tenants_created += tenants.len() as u64;
                }
            }
        }
        if let Ok(mut c) = self.collector.lock() {
            c.line(&Value::Object(report))?;
        }
        Ok(Coll {
            target: target.to_owned(),
            fit: (!def.is_null()).then(|| Fit::new(&def)),
            ref_props: {
                let mut r = ref_properties(&def);
                r.extend(wanted.as_ref().map(ref_properties).unwrap_or_default());
                r
            },
            multi_tenant,
            dims: BTreeMap::new(),
            target_dims: None,
            tenants_seen: HashSet::new(),
            last_ids: HashMap::new(),
            sorted: true,
        })
    }

    /// Keeps the properties that can be created now; reference properties whose target
    /// collection does not exist yet (or is the collection itself) wait until the end.
    fn defer_references(&mut self, target: &str, props: Vec<Value>) -> Vec<Value> {
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
                .any(|t| t == target || !matches!(self.store().class(t), Ok(Some(_))));
            if waits {
                self.deferred.push((target.to_owned(), p));
            } else {
                now.push(p);
            }
        }
        now
    }

    /// An object line rejected before reaching the store; it still goes through a batch, so
    /// that results and the dead-letter file keep input order.
    fn reject_early(
        &mut self,
        number: u64,
        raw: &[u8],
        reason: String,
        chain: u64,
    ) -> anyhow::Result<()> {
        let class = self
            .section
            .as_ref()
            .map(|(_, t)| t.clone())
            .unwrap_or_default();
        self.push(
            &class,
            Item {
                line: number,
                chain,
                raw: raw.to_vec(),
                obj: Object::default(),
                rejected: Some(reason),
                refs: None,
            },
            false,
        )
    }

    /// Object lines are parsed a batch at a time, on every core, then handled in order.
    fn object(&mut self, raw: &[u8], number: u64) -> anyhow::Result<()> {
        self.totals.read += 1;
        if number <= self.resume_line {
            self.totals.resumed += 1;
            return Ok(());
        }
        self.pending.push((number, raw.to_vec(), self.chain));
        if self.pending.len() >= self.opts().batch_size {
            self.parse_pending()?;
        }
        Ok(())
    }

    fn parse_pending(&mut self) -> anyhow::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(&mut self.pending);
        let parsed: Vec<Parsed> = pending
            .into_par_iter()
            .map(|(number, raw, chain)| {
                let obj = serde_json::from_slice::<Object>(&raw).map_err(|e| e.to_string());
                (number, raw, chain, obj)
            })
            .collect();
        for (number, raw, chain, obj) in parsed {
            self.chain_of_item = chain;
            self.parsed(number, raw, obj)?;
        }
        Ok(())
    }

    fn parsed(
        &mut self,
        number: u64,
        line: Vec<u8>,
        obj: Result<Object, String>,
    ) -> anyhow::Result<()> {
        let raw = &line[..];
        let mut obj: Object = match obj {
            Ok(o) => o,
            Err(e) => {
                return self.reject_early(
                    number,
                    raw,
                    format!("not an object: {e}"),
                    self.chain_of_item,
                )
            }
        };
        let Some(id) = canonical_id(&obj.id) else {
            let reason = format!("{:?} is not a UUID", obj.id);
            return self.reject_early(number, raw, reason, self.chain_of_item);
        };
        obj.id = id;
        let source = match &self.section {
            Some((s, _)) => s.clone(),
            None if obj.class.is_empty() && self.opts().collection.is_some() => {
                names::class_name(self.opts().collection.as_deref().unwrap_or_default())
            }
            None if obj.class.is_empty() => {
                return self.reject_early(
                    number,
                    raw,
                    "object has no \"class\" and no header names its collection (give --collection NAME)".into(),
                    self.chain_of_item,
                )
            }
            None => names::class_name(&obj.class),
        };
        // Partial restore: left-out objects are not results.
        let opts = self.shared.opts;
        if let Some(ids) = &opts.objects {
            if !ids.contains(&obj.id) {
                self.totals.filtered += 1;
                return Ok(());
            }
        }
        if !opts.tenants.is_empty()
            && !obj
                .tenant
                .as_ref()
                .is_some_and(|t| opts.tenants.iter().any(|x| x == t))
        {
            self.totals.filtered += 1;
            return Ok(());
        }
        if let Some(f) = &opts.filter {
            if !f.matches(&obj.id, &obj.properties) {
                self.totals.filtered += 1;
                return Ok(());
            }
        }
        if !self.colls.contains_key(&source) {
            let target = self.target_name(&source)?;
            self.note_rename(&source, &target);
            let coll = self.setup(&source, &target, None)?;
            self.colls.insert(source.clone(), coll);
        }
        if let Some(keep) = &opts.properties {
            obj.properties.retain(|k, _| {
                keep.iter()
                    .any(|x| names::property_name(x) == names::property_name(k))
            });
        }
        if !opts.map_properties.is_empty() {
            for (old, new) in &opts.map_properties {
                let key = obj
                    .properties
                    .keys()
                    .find(|k| names::property_name(k) == names::property_name(old))
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
        let dry = opts.dry_run;
        let store = self.shared.store;
        let renames = &self.renames;
        let Some(coll) = self.colls.get_mut(&source) else {
            bail!("collection {source} was not set up");
        };
        obj.class = coll.target.clone();
        if let Some(fit) = &coll.fit {
            if let Err(reason) = fit.apply(&mut obj.properties, opts.lossy) {
                let class = coll.target.clone();
                return self.push_rejected(class, number, raw, obj, reason);
            }
        }
        // Vectors: the same length as the first object's, and as the target's.
        let dims = vector_dims(&obj);
        let mut reason = None;
        for (name, &n) in &dims {
            match coll.dims.get(name) {
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
                    coll.dims.insert(name.clone(), n);
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
            let class = coll.target.clone();
            return self.push_rejected(class, number, raw, obj, reason);
        }
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
        let class = coll.target.clone();
        let sorted = coll.sorted;
        self.push(
            &class,
            Item {
                line: number,
                chain: self.chain_of_item,
                raw: line,
                obj,
                rejected: None,
                refs,
            },
            sorted,
        )
    }

    fn push_rejected(
        &mut self,
        class: String,
        number: u64,
        raw: &[u8],
        obj: Object,
        reason: String,
    ) -> anyhow::Result<()> {
        self.push(
            &class,
            Item {
                line: number,
                chain: self.chain_of_item,
                raw: raw.to_vec(),
                obj,
                rejected: Some(reason),
                refs: None,
            },
            false,
        )
    }

    fn push(&mut self, class: &str, item: Item, sorted: bool) -> anyhow::Result<()> {
        let opts = self.shared.opts;
        let switch = self.batch.as_ref().is_some_and(|b| {
            (b.class != class && !class.is_empty())
                || b.items.len() >= opts.batch_size
                || b.bytes + item.raw.len() > opts.batch_bytes
        });
        if switch {
            self.flush()?;
        }
        let seq = &mut self.seq;
        let b = self.batch.get_or_insert_with(|| {
            *seq += 1;
            Batch {
                seq: *seq - 1,
                class: class.to_owned(),
                items: Vec::new(),
                sorted: true,
                references: false,
                bytes: 0,
            }
        });
        if b.class.is_empty() {
            class.clone_into(&mut b.class);
        }
        b.sorted &= sorted || item.rejected.is_some();
        b.bytes += item.raw.len();
        b.items.push(item);
        Ok(())
    }

    /// Sends the open batch (after parsing any lines still waiting).
    fn finish(&mut self) -> anyhow::Result<()> {
        self.parse_pending()?;
        self.flush()
    }

    fn flush(&mut self) -> anyhow::Result<()> {
        if let Some(b) = self.batch.take() {
            self.inflight.admit(&b, self.shared)?;
            if self.tx.send(b).is_err() {
                bail!("stopped after an error");
            }
        }
        Ok(())
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

// --- workers -----------------------------------------------------------------------------

fn worker(shared: &Shared<'_>, rx: Receiver<Batch>, tx: Sender<Done>) {
    for batch in rx {
        let seq = batch.seq;
        let class = batch.class.clone();
        let references = batch.references;
        let failed = |error| Done {
            seq,
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
        if tx.send(done).is_err() {
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
    let mut statuses: Vec<Option<Status>> = batch
        .items
        .iter()
        .map(|i| i.rejected.clone().map(Status::Rejected))
        .collect();
    // Per tenant: which objects exist already.
    let mut by_tenant: BTreeMap<Option<String>, Vec<usize>> = BTreeMap::new();
    for (i, item) in batch.items.iter().enumerate() {
        if item.rejected.is_none() {
            by_tenant
                .entry(item.obj.tenant.clone())
                .or_default()
                .push(i);
        }
    }
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
        let outcomes = store
            .upsert(&objects)
            .with_context(|| format!("writing to {}", batch.class))?;
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
    let last = batch.items.last().map(|i| (i.line, i.chain));
    let items = batch
        .items
        .into_iter()
        .zip(statuses)
        .zip(keys)
        .map(|((item, st), (id, tenant))| {
            // Every object written has an outcome; one without is not counted as written.
            let st =
                st.unwrap_or_else(|| Status::Rejected("the store gave no result for it".into()));
            let raw = if matches!(st, Status::Rejected(_)) {
                item.raw
            } else {
                Vec::new()
            };
            (item.line, id, tenant, st, raw)
        })
        .collect();
    Ok(Done {
        seq: batch.seq,
        class: batch.class,
        references: batch.references,
        last,
        items,
        pending_refs,
        error: None,
    })
}

// --- results, in input order -------------------------------------------------------------

struct Collector<'a> {
    out: &'a mut (dyn Write + Send),
    dead: Option<DeadLetter>,
    next: u64,
    waiting: BTreeMap<u64, Done>,
    totals: Totals,
    error: Option<anyhow::Error>,
    /// Objects waiting for the references pass.
    spool: Option<Spool>,
    checkpoint: Option<PathBuf>,
    cp_identity: Option<String>,
    /// Where a checkpoint may say the input is acknowledged up to: (line, chain hash).
    safe: (u64, u64),
    /// The last batch boundary acknowledged, references pending or not.
    latest: (u64, u64),
    /// Some object's references are still to be written: `safe` stays before it.
    refs_pending: bool,
    last_cp: Instant,
    /// stdout went away: results are no longer printed, the restore goes on.
    out_closed: bool,
    dry_run: bool,
    per_object: bool,
    input: String,
}

impl Collector<'_> {
    fn line(&mut self, v: &Value) -> anyhow::Result<()> {
        if self.out_closed {
            return Ok(());
        }
        let mut text = serde_json::to_vec(v)?;
        text.push(b'\n');
        match self.out.write_all(&text) {
            Ok(()) => Ok(()),
            // Whoever read the results went away (`| head`): the objects still matter.
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                self.out_closed = true;
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    fn save_checkpoint(&mut self, force: bool) -> anyhow::Result<()> {
        let (Some(path), Some(identity)) = (&self.checkpoint, &self.cp_identity) else {
            return Ok(());
        };
        if self.dry_run || (!force && self.last_cp.elapsed() < Duration::from_millis(500)) {
            return Ok(());
        }
        let (line, chain) = self.safe;
        let dead_letter_bytes = match self.dead.as_mut() {
            Some(d) => d.sync()?,
            None => 0,
        };
        if !self.out_closed {
            if let Err(e) = self.out.flush() {
                if e.kind() != io::ErrorKind::BrokenPipe {
                    return Err(e.into());
                }
                self.out_closed = true;
            }
        }
        write_checkpoint(
            path,
            &Checkpoint {
                ely: "checkpoint".into(),
                input: self.input.clone(),
                first_line: identity.clone(),
                line,
                chain,
                dead_letter_bytes,
                updated: ely_vocab::date::now_rfc3339(),
            },
        )?;
        self.last_cp = Instant::now();
        Ok(())
    }

    fn done(&mut self, d: Done, shared: &Shared<'_>) -> anyhow::Result<()> {
        if let Some(e) = d.error {
            if self.error.is_none() {
                self.error = Some(e);
            }
            return Ok(());
        }
        if self.error.is_some() {
            return Ok(());
        }
        let (mut w, mut u, mut s, mut r) = (0u64, 0u64, 0u64, 0u64);
        let mut rejects = Vec::new();
        for (line, id, tenant, status, raw) in &d.items {
            match status {
                Status::Written => w += 1,
                Status::Unchanged => u += 1,
                Status::Skipped => s += 1,
                Status::Rejected(reason) => {
                    r += 1;
                    if let Some(dl) = self.dead.as_mut() {
                        if !self.dry_run {
                            dl.reject(*line, reason, raw)?;
                        }
                    }
                    rejects.push(json!({"line": line, "id": id, "reason": reason}));
                }
            }
            if self.per_object {
                let mut m = Map::new();
                m.insert("collection".into(), d.class.clone().into());
                m.insert("line".into(), (*line).into());
                m.insert("id".into(), id.clone().into());
                if let Some(t) = tenant {
                    m.insert("tenant".into(), t.clone().into());
                }
                m.insert("status".into(), status.name().into());
                if let Status::Rejected(reason) = status {
                    m.insert("reason".into(), reason.clone().into());
                }
                if d.references {
                    m.insert("pass".into(), "references".into());
                }
                if self.dry_run {
                    m.insert("dry_run".into(), true.into());
                }
                self.line(&Value::Object(m))?;
            }
        }
        if !self.per_object {
            let mut m = Map::new();
            m.insert("collection".into(), d.class.clone().into());
            m.insert("batch".into(), d.seq.into());
            if let (Some(first), Some(last)) = (d.items.first(), d.items.last()) {
                m.insert("first_line".into(), first.0.into());
                m.insert("last_line".into(), last.0.into());
            }
            m.insert("objects".into(), d.items.len().into());
            m.insert("written".into(), w.into());
            m.insert("unchanged".into(), u.into());
            m.insert("skipped".into(), s.into());
            m.insert("rejected".into(), r.into());
            if !rejects.is_empty() {
                m.insert("rejects".into(), rejects.into());
            }
            if d.references {
                m.insert("pass".into(), "references".into());
            }
            if self.dry_run {
                m.insert("dry_run".into(), true.into());
            }
            self.line(&Value::Object(m))?;
        }
        if d.references {
            self.totals.references += w;
            self.totals.rejected += r;
        } else {
            self.totals.written += w;
            self.totals.unchanged += u;
            self.totals.skipped += s;
            self.totals.rejected += r;
            if !d.pending_refs.is_empty() && !self.dry_run {
                self.refs_pending = true;
                if self.spool.is_none() {
                    self.spool = Some(Spool::create()?);
                }
                if let Some(spool) = self.spool.as_mut() {
                    for (line, obj) in &d.pending_refs {
                        spool.add(*line, obj)?;
                    }
                }
            }
            if let Some(last) = d.last {
                self.latest = last;
                if !self.refs_pending {
                    self.safe = last;
                }
            }
        }
        shared
            .counters
            .objects
            .fetch_add(d.items.len() as u64, Ordering::Relaxed);
        self.save_checkpoint(false)
    }
}

fn collect(state: &Mutex<Collector<'_>>, shared: &Shared<'_>, rx: Receiver<Done>) {
    for d in rx {
        let Ok(mut st) = state.lock() else {
            shared.abort.store(true, Ordering::Relaxed);
            return;
        };
        st.waiting.insert(d.seq, d);
        loop {
            let next = st.next;
            let Some(d) = st.waiting.remove(&next) else {
                break;
            };
            st.next += 1;
            let done = st.done(d, shared);
            shared.completed.store(st.next, Ordering::Release);
            if let Err(e) = done {
                shared.abort.store(true, Ordering::Relaxed);
                if st.error.is_none() {
                    st.error = Some(e);
                }
            }
            if st.error.is_some() {
                shared.abort.store(true, Ordering::Relaxed);
            }
        }
    }
}

/// Reads `--objects-from FILE`: one UUID per line, or JSONL records with an `"id"` (result
/// lines, dead-letter records, object lines).
pub fn read_id_file(path: &Path) -> anyhow::Result<HashSet<String>> {
    let f = File::open(path).with_context(|| format!("--objects-from {}", path.display()))?;
    let mut ids = HashSet::new();
    for (n, line) in io::BufReader::new(f).lines().enumerate() {
        let line = line.with_context(|| format!("--objects-from {}", path.display()))?;
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        let id = if t.starts_with('{') {
            let v: Value = serde_json::from_str(t)
                .map_err(|e| anyhow!("{}: line {}: {e}", path.display(), n + 1))?;
            match (
                v.get("id").and_then(Value::as_str),
                v.get("raw").and_then(Value::as_str),
            ) {
                (Some(id), _) => id.to_owned(),
                (None, Some(raw)) => serde_json::from_str::<Value>(raw)
                    .ok()
                    .and_then(|o| o.get("id").and_then(Value::as_str).map(str::to_owned))
                    .unwrap_or_default(),
                _ => String::new(),
            }
        } else {
            t.to_owned()
        };
        let id = canonical_id(&id)
            .ok_or_else(|| anyhow!("{}: line {}: {id:?} is not a UUID", path.display(), n + 1))?;
        ids.insert(id);
    }
    Ok(ids)
}
