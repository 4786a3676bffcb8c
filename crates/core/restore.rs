//! ely-restore: writes an ely stream (any compression) or a plain stream of objects into a
//! store, whole or in part, with conflict handling, retries, a dead-letter file and resume.

use std::collections::HashSet;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use ely_cli::{usage, Exit, Progress, Stats, StoreArgs};
use ely_store::canonical_id;
use ely_stream::{Counters, Input, ReadOptions};
use ely_transfer::expr::Expr;
use ely_transfer::restore::{read_id_file, restore, Conflict, RestoreOptions};
use serde_json::{Map, Value};

const NAME: &str = "ely-restore";

const AFTER_HELP: &str = "\
Examples:
  # Restore a backup into the default store (compression is detected from the content)
  ely-restore -i code.jsonl.zst

  # Under another name, keeping objects that exist already
  ely-restore -i code.jsonl.zst --collection CodeCopy --on-conflict skip

  # Move collections between clusters, renaming one
  ely-backup --store http://old:8080 --all \\
    | ely-restore --store http://new:8080 --rename Code=CodeV2

  # Repeat a restore cheaply: only objects that differ are written
  ely-restore -i code.jsonl.zst --only-changed

  # Part of a backup: two objects, some properties, one tenant, matching objects
  ely-restore -i docs.jsonl.gz --objects 3f2b...,9c1d... --properties title,body
  ely-restore -i docs.jsonl.gz --tenant acme --where 'year >= 2020'

  # Resumable: after a crash or kill, the same command continues where it stopped
  ely-restore -i big.jsonl.zst --checkpoint big.checkpoint

  # Objects from the REST API or jq (no header: a missing class is created by auto-schema)
  curl -s 'localhost:8080/v1/objects?class=Code&include=vector' | jq -c '.objects[]' | ely-restore

  # Try again what was rejected, after fixing the cause
  ely-restore -i code.jsonl.zst.rejected.jsonl

  # What would happen, writing nothing
  ely-restore -i code.jsonl.zst --dry-run

Output: one JSON line per collection set up ({\"ely\":\"collection\",...}), then one result
line per batch (--results objects: per object) with written, unchanged, skipped and
rejected counts, in input order. Rejected objects go to the dead-letter file as their
original lines with the reason; that file can be fed back in as it is.

";

/// Restore an ely stream into a store.
///
/// Reads any ely stream (plain, zstd, gzip or lz4) or plain object lines, creates missing
/// collections (from the stream's header, or by auto-schema for plain objects), adds missing
/// properties, converts values where nothing is lost, creates tenants, writes objects in
/// batches with several in flight, and writes cross-references after the objects they point
/// to. Nothing counts as written until the store acknowledged that object. A truncated or
/// corrupt stream ends with exit 4 after everything valid before it was written.
#[derive(Parser, Debug)]
#[command(name = NAME, version, after_help = format!("{AFTER_HELP}{}", ely_cli::EXIT_CODES_HELP))]
struct Args {
    #[command(flatten)]
    store: StoreArgs,

    /// Input file; stdin when absent or `-`.
    #[arg(short, long, value_name = "FILE")]
    input: Option<PathBuf>,

    /// Restore a one-collection stream into this collection.
    #[arg(short, long, value_name = "NEW", conflicts_with = "renames")]
    collection: Option<String>,

    /// Restore collection OLD as NEW (repeatable).
    #[arg(long = "rename", value_name = "OLD=NEW", value_parser = pair)]
    renames: Vec<(String, String)>,

    /// What to do with objects that exist already: overwrite, skip (keep them), merge
    /// (update the properties and vectors present in the stream) or fail (stop before
    /// touching one).
    #[arg(long, value_name = "MODE", default_value = "overwrite")]
    on_conflict: Conflict,

    /// Write only objects whose properties or vectors differ from the target's.
    #[arg(long)]
    only_changed: bool,

    /// Only these objects (comma-separated UUIDs).
    #[arg(long, value_name = "ID,ID", value_delimiter = ',')]
    objects: Option<Vec<String>>,

    /// Only the objects listed in FILE: one UUID per line, or JSONL with an "id" (result
    /// lines with --results objects, dead-letter records, object lines).
    #[arg(long, value_name = "FILE")]
    objects_from: Option<PathBuf>,

    /// Only these properties (comma-separated, as named in the stream).
    #[arg(long, value_name = "A,B", value_delimiter = ',')]
    properties: Option<Vec<String>>,

    /// Only objects matching EXPR (docs/WHERE.md), e.g. 'year >= 2020 and lang = "en"'.
    #[arg(long = "where", value_name = "EXPR")]
    filter: Option<String>,

    /// Only this tenant (repeatable).
    #[arg(long = "tenant", value_name = "NAME")]
    tenants: Vec<String>,

    /// Write property OLD as NEW (repeatable).
    #[arg(long = "map-property", value_name = "OLD=NEW", value_parser = pair)]
    map_properties: Vec<(String, String)>,

    /// Convert values even where the target's type loses information (4.5 into an int
    /// property); without it such objects are rejected.
    #[arg(long)]
    lossy: bool,

    /// Drop the stream's vectors, so that the target vectorizes the objects.
    #[arg(long)]
    skip_vectors: bool,

    /// Replication factor of collections the restore creates.
    #[arg(long, value_name = "N")]
    replication_factor: Option<u64>,

    /// Batches in flight.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64))]
    workers: u32,

    /// Objects per batch.
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=10000))]
    batch_size: u32,

    /// Most bytes of object lines per batch (K, M, G suffixes).
    #[arg(long, value_name = "SIZE", default_value = "16M", value_parser = ely_cli::parse_size)]
    batch_bytes: usize,

    /// Where rejected objects go [default: INPUT.rejected.jsonl beside -i; on stdin, only
    /// the result lines and a summary on stderr name them].
    #[arg(long, value_name = "FILE")]
    dead_letter: Option<PathBuf>,

    /// Record how far the input has been acknowledged; rerunning the same command continues
    /// from there. Removed when the run completes.
    #[arg(long, value_name = "FILE")]
    checkpoint: Option<PathBuf>,

    /// Check everything and report what would happen; write nothing.
    #[arg(long)]
    dry_run: bool,

    /// Result lines: one per batch, or one per object.
    #[arg(long, value_name = "batches|objects", default_value = "batches", value_parser = ["batches", "objects"])]
    results: String,

    /// Longest line accepted (K, M, G suffixes).
    #[arg(long, value_name = "SIZE", default_value = "256M", value_parser = ely_cli::parse_size)]
    max_line_bytes: usize,

    #[command(flatten)]
    report: ely_cli::ReportArgs,
}

fn pair(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((a, b)) if !a.trim().is_empty() && !b.trim().is_empty() => {
            Ok((a.trim().to_owned(), b.trim().to_owned()))
        }
        _ => Err(format!("'{s}' is not OLD=NEW")),
    }
}

fn main() -> ExitCode {
    ely_cli::start(NAME, run)
}

fn run(args: Args) -> anyhow::Result<Exit> {
    let stats = Stats::default();
    let filter = match &args.filter {
        Some(text) => Some(Expr::parse(text).map_err(|e| usage(format!("--where: {e}")))?),
        None => None,
    };
    let mut objects: Option<HashSet<String>> = None;
    if let Some(ids) = &args.objects {
        let mut set = HashSet::new();
        for id in ids.iter().filter(|i| !i.trim().is_empty()) {
            set.insert(
                canonical_id(id.trim())
                    .ok_or_else(|| usage(format!("--objects: {id:?} is not a UUID")))?,
            );
        }
        objects = Some(set);
    }
    if let Some(path) = &args.objects_from {
        let set = read_id_file(path)?;
        objects.get_or_insert_with(HashSet::new).extend(set);
    }
    let dead_letter = ely_cli::dead_letter_path(args.dead_letter.as_deref(), args.input.as_deref());
    if let (Some(d), Some(i)) = (&dead_letter, &args.input) {
        if d == i {
            return Err(usage(
                "the dead-letter file would overwrite the input; give another --dead-letter FILE",
            ));
        }
    }
    let opts = RestoreOptions {
        collection: args.collection.clone(),
        renames: args.renames.clone(),
        on_conflict: args.on_conflict,
        only_changed: args.only_changed,
        objects,
        properties: args.properties.clone(),
        filter,
        tenants: args.tenants.clone(),
        map_properties: args.map_properties.clone(),
        lossy: args.lossy,
        skip_vectors: args.skip_vectors,
        replication_factor: args.replication_factor,
        workers: args.workers as usize,
        batch_size: args.batch_size as usize,
        batch_bytes: args.batch_bytes,
        dry_run: args.dry_run,
        per_object_results: args.results == "objects",
        checkpoint: args.checkpoint.clone(),
        dead_letter,
        read: ReadOptions {
            max_line_bytes: args.max_line_bytes,
            skip_bad: true,
            ..ReadOptions::default()
        },
    };
    let store = args.store.open()?;
    let input = Input::open(args.input.as_deref())?;
    let counters = Arc::new(Counters::default());
    let progress = Progress::start(NAME, args.report.quiet, counters.clone());
    let mut out = BufWriter::new(std::io::stdout());
    let result = restore(store.as_ref(), input, &opts, counters.clone(), &mut out);
    progress.finish();
    out.flush()?;
    let finished = result?;
    let t = &finished.totals;
    for w in &finished.summary.warnings {
        ely_cli::warn(NAME, w);
    }
    if args.report.stats {
        let mut fields = match serde_json::to_value(t) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        };
        fields.insert(
            "objects".into(),
            (t.written + t.unchanged + t.skipped).into(),
        );
        fields.insert(
            "bytes_in".into(),
            counters
                .bytes_in
                .load(std::sync::atomic::Ordering::Relaxed)
                .into(),
        );
        fields.insert("dry_run".into(), args.dry_run.into());
        stats.print(NAME, fields);
    }
    if t.rejected > 0 {
        match &finished.dead_letter {
            Some(p) => ely_cli::warn(
                NAME,
                format!(
                    "{} object(s) rejected; their lines and reasons are in {}",
                    t.rejected,
                    p.display()
                ),
            ),
            None if args.dry_run => ely_cli::warn(
                NAME,
                format!("{} object(s) would be rejected (see the result lines)", t.rejected),
            ),
            None => ely_cli::warn(
                NAME,
                format!(
                    "{} object(s) rejected; the result lines name them (\"rejects\"); use --dead-letter FILE to keep their lines",
                    t.rejected
                ),
            ),
        }
    }
    if let Some(e) = finished.error {
        // A damaged input cannot be "read anyway" here: what came before it is written.
        let e = match e.downcast::<ely_stream::StreamError>() {
            Ok(mut se) => {
                se.message = se
                    .message
                    .replace(" (use --no-verify to read it anyway)", "");
                anyhow::Error::new(se)
            }
            Err(e) => e,
        };
        return Err(if t.written > 0 {
            e.context(format!(
                "{} object(s) before the problem were written",
                t.written
            ))
        } else {
            e
        });
    }
    Ok(if t.rejected > 0 {
        Exit::Rejected
    } else {
        Exit::Ok
    })
}
