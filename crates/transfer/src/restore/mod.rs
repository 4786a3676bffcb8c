//! Restore: an ely stream (or a plain stream of objects) written into a store, whole or in
//! part, without losing an object.
//!
//! A [`Source`] reads the input (decompressing, checking and parsing object lines on every
//! core); the [`reader`] takes its events on the calling thread, sets up each target
//! collection ([`collections`]: created, properties added, tenants), prepares each object
//! ([`prepare`]: selection, renames, type conversions, vector checks, references held back)
//! and feeds it to the [`Sink`], which batches, writes, and reports results in input order.
//!
//! Cross-references are written last: objects go in without their reference properties, and
//! once every object of the input is in, the objects that had references are written again
//! whole, so a reference never points at an object that does not exist yet.

mod collections;
mod prepare;
mod reader;

use std::io::Write;
use std::sync::Arc;

use anyhow::anyhow;
use ely_store::Store;
use ely_stream::{Counters, ReadOptions, Source, Summary};
use serde::Serialize;
use serde_json::Value;

use crate::selection::Selection;
use crate::sink::{Sink, SinkOptions, Written};

/// How to restore.
#[derive(Debug, Clone)]
pub struct RestoreOptions {
    /// Restore a one-collection stream under this name.
    pub collection: Option<String>,
    /// `OLD=NEW` collection renames.
    pub renames: Vec<(String, String)>,
    /// Which objects and properties (stream names and values).
    pub selection: Selection,
    /// `OLD=NEW` property renames.
    pub map_properties: Vec<(String, String)>,
    /// Do conversions that lose information instead of rejecting the object.
    pub lossy: bool,
    /// Drop vectors, so that the target vectorizes.
    pub skip_vectors: bool,
    /// Replication factor of collections created by the restore.
    pub replication_factor: Option<u64>,
    /// The stream's collections, as a verification pass over the whole input found them
    /// before the restore (see [`verify_first`]): `--collection` and `--rename` are checked
    /// against them before anything is written.
    pub collections: Option<Vec<String>>,
    /// How objects are written.
    pub sink: SinkOptions,
    /// Read options (line limit, threads).
    pub read: ReadOptions,
}

impl Default for RestoreOptions {
    fn default() -> Self {
        RestoreOptions {
            collection: None,
            renames: Vec::new(),
            selection: Selection::default(),
            map_properties: Vec::new(),
            lossy: false,
            skip_vectors: false,
            replication_factor: None,
            collections: None,
            sink: SinkOptions::default(),
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
    /// What the sink did: written, unchanged, skipped, rejected, references.
    #[serde(flatten)]
    pub sink: Written,
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
    pub dead_letter: Option<std::path::PathBuf>,
    /// Things worth telling that did not stop the run.
    pub warnings: Vec<String>,
}

/// Reads a stream to its end before it is restored, verifying every section (count and hash
/// in its trailer), so that nothing of a truncated or corrupt backup is written: the error is
/// the verification's (exit 4). Bad lines are not errors here (the restore rejects them).
/// The whole input is read even when it does not start with a header: a first line that is
/// not a header may be a damaged one, which only the trailer after it shows. Returns the
/// stream's collections, or `None` for a stream without any header (plain object lines).
pub fn verify_first(source: Box<dyn Source>) -> anyhow::Result<Option<Vec<String>>> {
    let mut summary = Summary::default();
    source.read(&mut summary, &mut |_| Ok(()))?;
    let mut names: Vec<String> = Vec::new();
    for c in summary.sections.into_iter().filter_map(|s| s.collection) {
        if !names
            .iter()
            .any(|n| ely_stream::format::same_collection(n, &c))
        {
            names.push(c);
        }
    }
    Ok((!names.is_empty()).then_some(names))
}

/// `--collection` and `--rename` against the stream's collections, before anything is
/// written.
fn check_names(opts: &RestoreOptions, collections: &[String]) -> anyhow::Result<()> {
    let listed = || collections.join(", ");
    if let Some(new) = &opts.collection {
        if collections.len() > 1 {
            anyhow::bail!(
                "--collection {new} renames a one-collection stream, but this one holds {}; use --rename OLD=NEW for each",
                listed()
            );
        }
    }
    for (old, new) in &opts.renames {
        if !collections
            .iter()
            .any(|c| ely_stream::format::same_collection(c, old))
        {
            anyhow::bail!(
                "--rename {old}={new}: the stream has no collection {old} (it has: {})",
                listed()
            );
        }
    }
    Ok(())
}

/// Restores what `source` reads into `store`, writing result lines to `out`.
pub fn restore(
    store: &dyn Store,
    source: Box<dyn Source>,
    opts: &RestoreOptions,
    counters: Arc<Counters>,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<Finished> {
    let display = source.display_name().to_owned();
    if let Some(collections) = &opts.collections {
        check_names(opts, collections)?;
    }
    let sink = Sink::open(store, &opts.sink, source.name(), &counters, out)?;
    let mut totals = Totals::default();
    let mut summary = Summary::default();
    let mut rest = reader::Rest::default();
    let fed = sink.feed(|feeder| {
        let mut reader = reader::Reader::new(opts, sink.resume(), display.clone(), &mut totals);
        let mut result = source.read(&mut summary, &mut |ev| reader.event(ev, feeder));
        if result.is_ok() {
            result = reader.add_all_pending(feeder.store());
        }
        // What was read before a problem is still written (a truncated stream ends with
        // everything valid before the damage in the store).
        let flushed = feeder.flush();
        // The checkpoint's line, also when the input turned out empty (its first line,
        // which the resume is checked against, never came).
        let resume_line = sink.resume().map_or(0, |c| c.line);
        if result.is_ok() && resume_line > reader.last_line() {
            result = Err(anyhow!(
                "checkpoint {} is at line {resume_line}, but {} has only {} lines; delete it to start over",
                reader.checkpoint_path(),
                display,
                reader.last_line()
            ));
        }
        rest = reader.into_rest();
        (result, flushed)
    });
    let mut read_error = match fed {
        Err(e) => return Err(sink.abandon(e)),
        Ok((result, Err(flushed))) => return Err(sink.abandon(result.err().unwrap_or(flushed))),
        Ok((result, Ok(()))) => result.err(),
    };
    // Without a verification pass first (stdin), a --rename that matched nothing is only
    // known now; it is still an error, after what was written.
    if read_error.is_none() && opts.collections.is_none() {
        read_error = check_names(opts, &rest.sources).err();
    }
    // Collections the store made from the first objects count as created.
    if !opts.sink.dry_run {
        for target in &rest.auto_schema {
            if matches!(store.class(target), Ok(Some(_))) {
                totals.collections_created += 1;
            }
        }
    }
    // Reference properties whose target collections did not exist yet.
    if !opts.sink.dry_run {
        for (class, prop) in &rest.deferred {
            if let Err(e) = store.add_property(class, prop) {
                let e = anyhow::Error::new(e).context(format!(
                    "adding reference property {} to {class}",
                    prop.get("name").and_then(Value::as_str).unwrap_or("?")
                ));
                return Err(sink.abandon(e));
            }
            totals.properties_added += 1;
        }
    }
    // Second pass: objects written without their references get them now, also when the
    // input turned out damaged (their objects were written).
    if let Err(e) = sink.write_references() {
        return Err(sink.abandon(e));
    }
    let delivered = sink.finish(read_error.is_none())?;
    totals.sink = delivered.written;
    Ok(Finished {
        totals,
        summary,
        error: read_error,
        dead_letter: delivered.dead_letter,
        warnings: rest.warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ely_store::embedded::Embedded;
    use ely_stream::{Input, Jsonl};

    #[test]
    fn counters_say_what_was_read_and_what_is_done_without_adding_them_up() {
        let dir = tempfile::tempdir().unwrap();
        let store = Embedded::open(&dir.path().join("s.db")).unwrap();
        let lines: String = (0..250)
            .map(|n| {
                format!(
                    "{{\"class\":\"Count\",\"id\":\"00000000-0000-4000-8000-{n:012x}\",\"properties\":{{\"n\":{n}}}}}\n"
                )
            })
            .collect();
        let counters = Arc::new(Counters::default());
        let input = Input::from_reader("in.jsonl", std::io::Cursor::new(lines.into_bytes()));
        let opts = RestoreOptions::default();
        let source = Jsonl::objects(input, opts.read.clone(), counters.clone());
        let mut out = Vec::new();
        let finished =
            restore(&store, Box::new(source), &opts, counters.clone(), &mut out).unwrap();
        use std::sync::atomic::Ordering::Relaxed;
        assert_eq!(counters.objects.load(Relaxed), 250);
        assert_eq!(counters.done.load(Relaxed), 250);
        assert_eq!(finished.totals.sink.written, 250);
        // The store's auto-schema created the collection: it counts as created.
        assert_eq!(finished.totals.collections_created, 1);
    }
}
