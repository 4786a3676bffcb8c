//! ely-restore: writes an ely stream (any compression) or a plain stream of objects into a
//! store, whole or in part, with conflict handling, retries, a dead-letter file and resume.

use std::collections::HashSet;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use ely_cli::{usage, Exit, InputArgs, Progress, SelectArgs, SinkArgs, Stats, StoreArgs};
use ely_stream::{Counters, ReadOptions};
use ely_transfer::restore::{restore, verify_first, RestoreOptions};
use ely_transfer::selection::{parse_ids, read_id_file};

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
  ely-restore -i code.jsonl.zst.sink.rejected.jsonl

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

    #[command(flatten)]
    input: InputArgs,

    /// Restore a one-collection stream into this collection.
    #[arg(short, long, value_name = "NEW", conflicts_with = "renames")]
    collection: Option<String>,

    /// Restore collection OLD as NEW (repeatable).
    #[arg(long = "rename", value_name = "OLD=NEW", value_parser = pair)]
    renames: Vec<(String, String)>,

    #[command(flatten)]
    select: SelectArgs,

    /// Only these objects (comma-separated UUIDs).
    #[arg(long, value_name = "ID,ID", value_delimiter = ',')]
    objects: Option<Vec<String>>,

    /// Only the objects listed in FILE: one UUID per line, or JSONL with an "id" (result
    /// lines with --results objects, dead-letter records, object lines).
    #[arg(long, value_name = "FILE")]
    objects_from: Option<PathBuf>,

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

    /// Do not read an input file through first. By default a regular file is read to its
    /// end and verified before anything is written, so nothing of a truncated or corrupt
    /// backup reaches the store (stdin or another pipe cannot be read twice: what comes
    /// before the damage is written).
    #[arg(long)]
    no_verify_first: bool,

    #[command(flatten)]
    sink: SinkArgs,

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
    let mut selection = args.select.selection();
    if let Some(ids) = &args.objects {
        selection.objects = Some(parse_ids(ids).map_err(|e| usage(format!("--objects: {e}")))?);
    }
    if let Some(path) = &args.objects_from {
        let set = read_id_file(path)?;
        selection
            .objects
            .get_or_insert_with(HashSet::new)
            .extend(set);
    }
    let opts = RestoreOptions {
        collection: args.collection.clone(),
        renames: args.renames.clone(),
        selection,
        map_properties: args.map_properties.clone(),
        lossy: args.lossy,
        skip_vectors: args.skip_vectors,
        replication_factor: args.replication_factor,
        collections: None,
        sink: args.sink.options(args.input.file())?,
        read: ReadOptions {
            skip_bad: true,
            lossy: args.lossy,
            ..args.input.read_options()
        },
    };
    let mut opts = opts;
    // A --store that cannot be right fails before the input is read.
    args.store.location()?;
    // Only a regular file (or a folder of Parquet files) can be read twice: a pipe
    // (`-i /dev/stdin`, `-i <(...)`) is restored as it is read, verifying each section as it
    // ends.
    let verify = match args.input.file() {
        Some(file) if !args.no_verify_first => {
            let meta =
                std::fs::metadata(file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            meta.is_file() || (meta.is_dir() && args.input.is_parquet())
        }
        _ => false,
    };
    if verify {
        let first = args.input.source(
            NAME,
            opts.read.clone(),
            Arc::new(Counters::default()),
            false,
        )?;
        opts.collections = verify_first(first)
            .map_err(|e| e.context("verifying the input before writing anything"))?;
    }
    let store = args.store.open(NAME, args.report.quiet)?;
    let counters = Arc::new(Counters::default());
    let source = args
        .input
        .source(NAME, opts.read.clone(), counters.clone(), true)?;
    let progress = Progress::start(NAME, args.report.quiet, counters.clone());
    let mut out = BufWriter::new(std::io::stdout());
    let result = restore(store.as_ref(), source, &opts, counters.clone(), &mut out);
    progress.finish();
    out.flush()?;
    let finished = result?;
    let t = &finished.totals;
    for w in finished.summary.warnings.iter().chain(&finished.warnings) {
        ely_cli::warn(NAME, w);
    }
    if args.report.stats {
        let mut fields = ely_cli::counts(t, &counters);
        fields.insert(
            "objects".into(),
            (t.sink.written + t.sink.unchanged + t.sink.skipped).into(),
        );
        fields.insert("dry_run".into(), args.sink.write.dry_run.into());
        stats.print(NAME, fields);
    }
    if t.sink.rejected > 0 {
        ely_cli::tell_rejected(
            NAME,
            t.sink.rejected,
            "object(s)",
            finished.dead_letter.as_deref(),
            args.sink.write.dry_run,
            "the result lines name them (\"rejects\")",
        );
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
        return Err(if t.sink.written > 0 {
            e.context(format!(
                "{} object(s) before the problem were written",
                t.sink.written
            ))
        } else {
            e
        });
    }
    Ok(if t.sink.rejected > 0 {
        Exit::Rejected
    } else {
        Exit::Ok
    })
}
