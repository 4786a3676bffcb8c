//! The sink: objects in, acknowledged results out, in input order. Whatever feeds it (ely-
//! restore's stream reader, and every other source of objects) gets the same delivery:
//!
//! - batches closed at a count, a byte size or a change of collection ([`Feeder::push`]);
//! - `workers` batches in flight, each settled against the target under the conflict mode
//!   (which objects exist, skip, merge, fail, `--only-changed`) and written in one store call,
//!   the store retrying what can be retried (`settle`);
//! - two copies of one object never in flight at once, so the last copy in the input is the
//!   one that stays (`batch::InFlight`);
//! - results back in input order, by one route: result lines, rejected objects into the
//!   dead-letter file, and a checkpoint that vouches only for lines every one of which was
//!   acknowledged (`collector`);
//! - cross-references written last: objects go in without them, wait in a spool, and are
//!   written again whole once every object is in ([`Sink::write_references`]).
//!
//! Nothing counts as written until the store acknowledged that very object.

mod batch;
mod checkpoint;
mod collector;
mod settle;
mod spool;

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{anyhow, bail};
use crossbeam_channel::{bounded, Sender};
use ely_store::Store;
use ely_stream::{Checkpoint, Counters, DeadLetter};
use serde::Serialize;

pub use batch::{Item, Op};
pub use checkpoint::first_line_hash;
pub use settle::{ItemResult, Status};

use batch::{Batch, InFlight};
use collector::{collect, Collector};
use settle::{worker, Report};

/// Result lines of a source's own shape, in place of the sink's batch or object lines (for a
/// source whose records are not one object each). The collector calls it in input order,
/// only with what the store acknowledged (or refused).
pub trait Results: Send {
    /// The results of one settled batch, in input order; lines to print go to `out`.
    fn items(&mut self, items: &[ItemResult], out: &mut Vec<Vec<u8>>) -> anyhow::Result<()>;
    /// A line the source reported between items (see [`Feeder::report`]): `Some` to print it.
    fn line(&mut self, line: Vec<u8>, out: &mut Vec<Vec<u8>>) -> anyhow::Result<()> {
        out.push(line);
        Ok(())
    }
    /// The run ends; `complete` when the whole input was written. Lines still to print go to
    /// `out`.
    fn finish(&mut self, complete: bool, out: &mut Vec<Vec<u8>>) -> anyhow::Result<()>;
}

/// What to do with an object whose id already exists in the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conflict {
    /// Replace it (the default).
    Overwrite,
    /// Keep the existing object.
    Skip,
    /// Update only the properties present in the input; replace vectors present in it.
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

/// How the sink writes.
#[derive(Debug, Clone)]
pub struct SinkOptions {
    pub on_conflict: Conflict,
    /// Skip objects whose properties and vectors already equal the target's.
    pub only_changed: bool,
    /// Batches in flight. Each is one store call; the Weaviate client may split a call into
    /// several requests (of 100 objects, `--in-flight` at once), so at most
    /// `workers x in-flight` requests are in flight.
    pub workers: usize,
    /// Objects per batch.
    pub batch_size: usize,
    /// Bytes of input lines per batch (a batch closes at whichever limit comes first).
    pub batch_bytes: usize,
    /// Check and report, write nothing.
    pub dry_run: bool,
    /// One result line per object instead of per batch.
    pub per_object_results: bool,
    /// Resume file.
    pub checkpoint: Option<PathBuf>,
    /// Where rejected objects go (their original lines with the reason).
    pub dead_letter: Option<PathBuf>,
}

impl Default for SinkOptions {
    fn default() -> Self {
        SinkOptions {
            on_conflict: Conflict::Overwrite,
            only_changed: false,
            workers: 4,
            batch_size: 100,
            batch_bytes: 16 << 20,
            dry_run: false,
            per_object_results: false,
            checkpoint: None,
            dead_letter: None,
        }
    }
}

/// What the sink did with the objects it was given.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Written {
    pub written: u64,
    pub unchanged: u64,
    pub skipped: u64,
    pub rejected: u64,
    /// Objects deleted (items with [`Op::Delete`]).
    #[serde(skip_serializing_if = "is_zero")]
    pub deleted: u64,
    /// Objects written a second time with their cross-references.
    pub references: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The end of a sink's work.
pub struct Delivered {
    pub written: Written,
    /// The dead-letter file, when something was rejected and one was written.
    pub dead_letter: Option<PathBuf>,
}

/// Shared between the feeding thread, the workers and the collector.
pub(crate) struct Shared<'a> {
    store: &'a dyn Store,
    opts: &'a SinkOptions,
    abort: AtomicBool,
    counters: &'a Counters,
    /// Collections known to exist in the target.
    known_classes: Mutex<HashSet<String>>,
    /// Reports the collector has handed out, in order.
    completed: AtomicU64,
}

/// The write path: see the module documentation.
pub struct Sink<'a> {
    shared: Shared<'a>,
    collector: Mutex<Collector<'a>>,
    resume: Option<Checkpoint>,
}

impl<'a> Sink<'a> {
    /// A sink writing into `store` the objects of the input named `input`, with result lines
    /// to `out`. Reads the checkpoint, when there is one: see [`Sink::resume`].
    pub fn open(
        store: &'a dyn Store,
        opts: &'a SinkOptions,
        input: &str,
        counters: &'a Counters,
        out: &'a mut (dyn Write + Send),
    ) -> anyhow::Result<Sink<'a>> {
        let resume = match &opts.checkpoint {
            Some(p) => checkpoint::read(p)?,
            None => None,
        };
        let dead = opts
            .dead_letter
            .as_ref()
            .map(|p| DeadLetter::resumable(p, input, resume.as_ref().map(|c| c.dead_letter_bytes)));
        let safe = resume.as_ref().map_or((0, 0), |c| (c.line, c.chain));
        Ok(Sink {
            shared: Shared {
                store,
                opts,
                abort: AtomicBool::new(false),
                counters,
                known_classes: Mutex::new(HashSet::new()),
                completed: AtomicU64::new(0),
            },
            collector: Mutex::new(Collector {
                out,
                out_closed: false,
                dead,
                next: 0,
                waiting: BTreeMap::new(),
                totals: Written::default(),
                error: None,
                spool: None,
                checkpoint: opts.checkpoint.clone(),
                identity: None,
                safe,
                latest: safe,
                refs_pending: false,
                last_cp: Instant::now(),
                dry_run: opts.dry_run,
                per_object: opts.per_object_results,
                input: input.to_owned(),
                results: None,
                last_dead: None,
            }),
            resume,
        })
    }

    /// Result lines of the source's own shape from now on (see [`Results`]).
    pub fn set_results(&self, results: Box<dyn Results + 'a>) -> anyhow::Result<()> {
        self.lock()?.results = Some(results);
        Ok(())
    }

    /// The checkpoint this run resumes from: the source skips the lines it vouches for, and
    /// checks that its input is the one the checkpoint was written for.
    pub fn resume(&self) -> Option<&Checkpoint> {
        self.resume.as_ref()
    }

    /// Runs `feed` on this thread, with the workers and the collector on theirs; returns once
    /// everything fed was collected. An error of the write path (the store refused or could
    /// not be reached, `--on-conflict fail` met an object) is the `Err`; what `feed` returns
    /// is the caller's.
    pub fn feed<R>(&self, feed: impl FnOnce(&mut Feeder<'_, 'a>) -> R) -> anyhow::Result<R> {
        let fed = self.pipeline(false, feed)?;
        match self.lock()?.error.take() {
            Some(e) => Err(e),
            None => Ok(fed),
        }
    }

    /// Writes the objects held back for their references again, whole, now that every object
    /// they can point at exists.
    pub fn write_references(&self) -> anyhow::Result<()> {
        let Some(spool) = self.lock()?.spool.take() else {
            return Ok(());
        };
        let mut reader = spool.reader()?;
        {
            let mut st = self.lock()?;
            st.next = 0;
            st.waiting.clear();
        }
        self.shared.completed.store(0, Ordering::Relaxed);
        let fed = self.pipeline(true, |feeder| -> anyhow::Result<()> {
            while !feeder.aborted() {
                let Some((line, obj, raw)) = reader.next_record()? else {
                    break;
                };
                let class = obj.class.clone();
                feeder.push(&class, Item::new(line, 0, raw, obj), false)?;
            }
            feeder.flush()
        })?;
        let mut st = self.lock()?;
        if let Some(e) = st.error.take() {
            return Err(e);
        }
        fed?;
        st.refs_pending = false;
        st.safe = st.latest;
        Ok(())
    }

    /// Ends a run that stopped on `e`: records how far the input was acknowledged, so that
    /// a rerun resumes there, and gives `e` back.
    pub fn abandon(&self, e: anyhow::Error) -> anyhow::Error {
        match self.lock().and_then(|mut st| st.save_checkpoint(true)) {
            Ok(()) => e,
            Err(saving) => saving,
        }
    }

    /// Ends the run: when `complete` (the whole input is in), the dead-letter file is synced
    /// and the checkpoint removed; otherwise the checkpoint records how far it got.
    pub fn finish(self, complete: bool) -> anyhow::Result<Delivered> {
        let mut st = self
            .collector
            .into_inner()
            .map_err(|_| anyhow!("the result collector stopped unexpectedly"))?;
        if let Some(mut results) = st.results.take() {
            let mut lines = Vec::new();
            results.finish(complete, &mut lines)?;
            for l in lines {
                st.line(&l)?;
            }
        }
        if complete && !self.shared.opts.dry_run {
            if let Some(d) = st.dead.as_mut() {
                d.sync()?;
            }
            if let Some(p) = &self.shared.opts.checkpoint {
                checkpoint::remove(p)?;
            }
        } else {
            st.save_checkpoint(true)?;
        }
        Ok(Delivered {
            written: st.totals.clone(),
            dead_letter: st
                .dead
                .as_ref()
                .filter(|d| d.records() > 0)
                .map(|d| d.path().to_owned()),
        })
    }

    fn lock(&self) -> anyhow::Result<std::sync::MutexGuard<'_, Collector<'a>>> {
        self.collector
            .lock()
            .map_err(|_| anyhow!("the result collector stopped unexpectedly"))
    }

    /// Runs `feed` with the workers that settle batches and the collector that takes their
    /// results back in order.
    fn pipeline<R>(
        &self,
        references: bool,
        feed: impl FnOnce(&mut Feeder<'_, 'a>) -> R,
    ) -> anyhow::Result<R> {
        let shared = &self.shared;
        std::thread::scope(|s| {
            let workers = shared.opts.workers.max(1);
            let (batch_tx, batch_rx) = bounded::<Batch>(workers);
            let (report_tx, report_rx) = bounded::<(u64, Report)>(workers * 2);
            for _ in 0..workers {
                let rx = batch_rx.clone();
                let tx = report_tx.clone();
                s.spawn(move || worker(shared, rx, tx));
            }
            drop(batch_rx);
            let collector = s.spawn(|| collect(&self.collector, shared, report_rx));
            let mut feeder = Feeder {
                shared,
                batches: batch_tx,
                reports: report_tx,
                seq: 0,
                number: 0,
                batch: None,
                inflight: InFlight::default(),
                references,
            };
            let fed = feed(&mut feeder);
            // The senders go with the feeder, which lets the workers and the collector end.
            drop(feeder);
            collector
                .join()
                .map_err(|_| anyhow!("the result collector stopped unexpectedly"))?;
            Ok(fed)
        })
    }
}

/// The sink's input side, on the feeding thread.
pub struct Feeder<'f, 'a> {
    shared: &'f Shared<'a>,
    batches: Sender<Batch>,
    reports: Sender<(u64, Report)>,
    /// The next report's place in the collector's order.
    seq: u64,
    /// The next batch's number.
    number: u64,
    batch: Option<Batch>,
    inflight: InFlight,
    references: bool,
}

impl Feeder<'_, '_> {
    /// The store objects go to (for the source's own preparations).
    pub fn store(&self) -> &dyn Store {
        self.shared.store
    }

    /// Whether the write path stopped on an error: feeding more is pointless.
    pub fn aborted(&self) -> bool {
        self.shared.abort.load(Ordering::Relaxed)
    }

    /// Adds an object of collection `class` (`""` for one rejected before its collection was
    /// known, which joins the open batch). `sorted`: the object's id follows the previous
    /// one's of its tenant, so the target's cursor can be merged with the batch.
    pub fn push(&mut self, class: &str, item: Item, sorted: bool) -> anyhow::Result<()> {
        let opts = self.shared.opts;
        // The references pass rewrites objects already split into batches once: only their
        // count and collection close its batches.
        let byte_limit = if self.references {
            usize::MAX
        } else {
            opts.batch_bytes
        };
        let switch = self.batch.as_ref().is_some_and(|b| {
            (b.class != class && !class.is_empty())
                || (b.op != item.op && item.settled.is_none())
                || b.items.len() >= opts.batch_size
                || b.bytes.saturating_add(item.raw.len()) > byte_limit
        });
        if switch {
            self.flush()?;
        }
        if self.batch.is_none() {
            self.batch = Some(Batch {
                seq: self.seq,
                number: self.number,
                class: class.to_owned(),
                op: item.op,
                items: Vec::new(),
                sorted: true,
                references: self.references,
                bytes: 0,
            });
            self.seq += 1;
            self.number += 1;
        }
        if let Some(b) = self.batch.as_mut() {
            b.sorted &= sorted || item.settled.is_some();
            b.bytes += item.raw.len();
            b.items.push(item);
        }
        Ok(())
    }

    /// Sends the open batch on its way.
    pub fn flush(&mut self) -> anyhow::Result<()> {
        if let Some(b) = self.batch.take() {
            self.inflight.admit(&b, self.shared)?;
            if self.batches.send(b).is_err() {
                bail!("stopped after an error");
            }
        }
        Ok(())
    }

    /// A line for the output, after the results of everything fed before it.
    pub fn report(&mut self, line: Vec<u8>) -> anyhow::Result<()> {
        self.flush()?;
        self.send(Report::Line(line))
    }

    /// The input's first line: a checkpoint records its hash, to refuse resuming another
    /// input.
    pub fn identify(&mut self, first_line: &[u8]) -> anyhow::Result<()> {
        self.flush()?;
        self.send(Report::Identity(first_line_hash(first_line)))
    }

    fn send(&mut self, r: Report) -> anyhow::Result<()> {
        let seq = self.seq;
        self.seq += 1;
        if self.reports.send((seq, r)).is_err() {
            bail!("stopped after an error");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ely_store::embedded::Embedded;
    use ely_store::Object;
    use serde_json::{json, Value};

    fn item(n: u64, rejected: bool) -> Item {
        let obj = Object {
            class: "Thing".into(),
            id: format!("00000000-0000-4000-8000-{n:012x}"),
            properties: json!({"n": n}).as_object().cloned().unwrap_or_default(),
            ..Object::default()
        };
        let raw = serde_json::to_vec(&obj).unwrap_or_default();
        let mut item = Item::rejected(n, n, raw, obj, "refused early".into());
        if !rejected {
            item.settled = None;
        }
        item
    }

    #[test]
    fn results_come_back_in_input_order_by_one_route() {
        let dir = tempfile::tempdir().unwrap();
        let store = Embedded::open(&dir.path().join("s.db")).unwrap();
        let opts = SinkOptions {
            batch_size: 3,
            workers: 3,
            dead_letter: Some(dir.path().join("dead.jsonl")),
            ..SinkOptions::default()
        };
        let counters = Counters::default();
        let mut out: Vec<u8> = Vec::new();
        let sink = Sink::open(&store, &opts, "in.jsonl", &counters, &mut out).unwrap();
        sink.feed(|f| -> anyhow::Result<()> {
            f.identify(b"first line")?;
            for n in 1..=10 {
                if n == 5 {
                    f.report(br#"{"note":"before line 5"}"#.to_vec())?;
                }
                f.push("Thing", item(n, n == 7), true)?;
            }
            f.flush()
        })
        .unwrap()
        .unwrap();
        let delivered = sink.finish(true).unwrap();
        assert_eq!(delivered.written.written, 9);
        assert_eq!(delivered.written.rejected, 1);
        assert_eq!(store.count("Thing", None).unwrap(), 9);
        let lines: Vec<Value> = out
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect();
        // Batches of 3 numbered from 0, the note after the results of lines 1 to 4 (the
        // report closed the open batch), and every line once, in order.
        let shape: Vec<String> = lines
            .iter()
            .map(|l| match l.get("batch") {
                Some(b) => format!("{b}:{}-{}", l["first_line"], l["last_line"]),
                None => "note".into(),
            })
            .collect();
        assert_eq!(shape, ["0:1-3", "1:4-4", "note", "2:5-7", "3:8-10"]);
        assert_eq!(lines[3]["rejects"][0]["line"], 7);
        let dead = std::fs::read_to_string(dir.path().join("dead.jsonl")).unwrap();
        assert_eq!(dead.lines().count(), 1);
        assert!(
            dead.contains(r#""line":7,"reason":"refused early""#),
            "{dead}"
        );
    }
}
