//! ely-backup: writes collections of a store (Weaviate or the embedded store) as an ely
//! stream, to stdout or atomically to a file followed by a manifest line.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use ely_cli::{usage, Exit, Progress, SelectArgs, Stats, StoreArgs};
use ely_stream::{Counters, Manifest, ManifestCollection, Record, StreamWriter};
use ely_transfer::backup::{backup, BackupOptions};
use ely_vocab::date::now_rfc3339;
use serde_json::Map;

const NAME: &str = "ely-backup";

const AFTER_HELP: &str = "\
Examples:
  # One collection to stdout, compressed by zstd
  ely-backup --collection Code | zstd > code.jsonl.zst

  # Every collection to a file (atomically), then record its manifest in the catalog
  ely-backup --all -o nightly.jsonl.zst | ely-catalog add

  # From Weaviate, only two tenants, only some properties, only recent objects
  WEAVIATE_API_KEY=... ely-backup --store https://weaviate.example:443 --collection Docs \\
    --tenant acme --tenant globex --properties title,body \\
    --where 'updated >= \"2026-01-01\" and lang = \"en\"' -o docs.jsonl.gz

  # Move a collection between clusters (or from the embedded store to Weaviate)
  ely-backup --store http://old:8080 --collection Code | ely-restore --store http://new:8080

  # Only the class definitions
  ely-backup --all --schema-only > schema.jsonl

--where filters as objects stream past: Weaviate's cursor takes no filter, so every object
is still read from the store; only matching ones are written. docs/WHERE.md has the
expression language.

";

/// Back up collections as an ely stream.
///
/// Writes, per collection, a header (the class definition without server-only fields, and
/// the tenants), every object with its properties, vector, named vectors and multi-vectors
/// (tenant by tenant, in ascending UUID order), and a trailer with the object count and a
/// hash. With -o FILE the file appears only when complete, and one manifest line (file,
/// compression, collections and counts, bytes, hash, times, source, ely version) is printed
/// on stdout.
#[derive(Parser, Debug)]
#[command(name = NAME, version, after_help = format!("{AFTER_HELP}{}", ely_cli::EXIT_CODES_HELP))]
struct Args {
    #[command(flatten)]
    store: StoreArgs,

    /// A collection to back up (repeatable).
    #[arg(
        short,
        long = "collection",
        value_name = "NAME",
        required_unless_present = "all"
    )]
    collections: Vec<String>,

    /// Every collection of the store.
    #[arg(long, conflicts_with = "collections")]
    all: bool,

    /// Output file, written to a temporary name and renamed when complete; stdout when
    /// absent. With a file, a manifest line is printed on stdout.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,

    #[command(flatten)]
    compression: ely_cli::CompressArgs,

    /// Headers and trailers only: class definitions and tenants, no objects.
    #[arg(long)]
    schema_only: bool,

    #[command(flatten)]
    select: SelectArgs,

    /// Objects per cursor page.
    #[arg(long, value_name = "N", default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=10000))]
    page_size: u32,

    #[command(flatten)]
    report: ely_cli::ReportArgs,
}

fn main() -> ExitCode {
    ely_cli::start(NAME, run)
}

fn run(args: Args) -> anyhow::Result<Exit> {
    let stats = Stats::default();
    let started = now_rfc3339();
    let parquet = args.compression.parquet_target(args.output.as_deref())?;
    let write_options = match parquet {
        Some(_) => None,
        None => Some(
            args.compression
                .write_options(args.output.as_deref(), false)?,
        ),
    };
    let selection = args.select.selection();
    if args.schema_only && (selection.filter.is_some() || selection.properties.is_some()) {
        return Err(usage(
            "--schema-only writes no objects; --where and --properties do not apply",
        ));
    }
    let opts = BackupOptions {
        collections: args.collections.clone(),
        all: args.all,
        schema_only: args.schema_only,
        selection,
        page_size: args.page_size as usize,
    };
    let store = args.store.open_existing(NAME, args.report.quiet)?;
    let counters = Arc::new(Counters::default());
    // Each file written: its path, format, compression, collections, bytes and hash.
    let mut files: Vec<FileOut> = Vec::new();
    let summaries = match (parquet, write_options) {
        (Some(target), _) => {
            let mut writer =
                ely_parquet::ParquetWriter::new(target, args.compression.parquet_options());
            let progress = Progress::start(NAME, args.report.quiet, counters.clone());
            let result = backup(store.as_ref(), &opts, &mut writer, &counters);
            progress.finish();
            let summaries = result?;
            for f in writer.finish()? {
                let names = f.collection.into_iter().collect();
                files.push(FileOut {
                    path: f.path,
                    format: "parquet",
                    compression: "zstd",
                    collections: names,
                    objects: Some(f.objects),
                    bytes: f.bytes,
                    hash: f.hash,
                });
            }
            summaries
        }
        (None, Some(write_options)) => {
            let compression = write_options.compression;
            let mut writer = StreamWriter::create(args.output.as_deref(), write_options)?;
            let progress = Progress::start(NAME, args.report.quiet, counters.clone());
            let result = backup(store.as_ref(), &opts, &mut writer, &counters);
            progress.finish();
            let summaries = result?;
            let written = writer.finish_with_hash()?;
            let names = summaries.iter().map(|s| s.name.clone()).collect();
            files.push(FileOut {
                path: args.output.clone(),
                format: "jsonl",
                compression: compression.name(),
                collections: names,
                objects: None,
                bytes: written.bytes,
                hash: written.hash,
            });
            summaries
        }
        (None, None) => anyhow::bail!("no output"),
    };
    let objects: u64 = summaries.iter().map(|s| s.objects).sum();
    let bytes_out: u64 = files.iter().map(|f| f.bytes).sum();

    // One manifest line per file written (none for stdout).
    for FileOut {
        path,
        format,
        compression,
        collections: names,
        objects: file_objects,
        bytes,
        hash,
    } in files
    {
        let Some(path) = path.filter(|p| p.as_os_str() != "-") else {
            continue;
        };
        let path = std::path::absolute(&path).unwrap_or(path);
        let collections: Vec<ManifestCollection> = summaries
            .iter()
            .filter(|s| names.contains(&s.name))
            .map(|s| ManifestCollection {
                name: s.name.clone(),
                objects: file_objects.unwrap_or(s.objects),
                tenants: s.tenants,
            })
            .collect();
        let manifest = Manifest {
            file: path.display().to_string(),
            format: format.into(),
            compression: compression.into(),
            objects: collections.iter().map(|c| c.objects).sum(),
            collections,
            bytes,
            hash,
            algorithm: ely_stream::HASH_ALGORITHM.into(),
            schema_only: args.schema_only,
            filtered: opts.selection.is_partial(),
            started: started.clone(),
            finished: now_rfc3339(),
            source: store.location(),
            ely_version: env!("CARGO_PKG_VERSION").into(),
        };
        let mut line = manifest.to_line();
        line.push(b'\n');
        std::io::stdout().write_all(&line)?;
    }
    if args.report.stats {
        let mut fields = Map::new();
        fields.insert("objects".into(), objects.into());
        fields.insert(
            "scanned".into(),
            summaries.iter().map(|s| s.scanned).sum::<u64>().into(),
        );
        fields.insert("collections".into(), summaries.len().into());
        fields.insert("bytes_out".into(), bytes_out.into());
        stats.print(NAME, fields);
    }
    Ok(Exit::Ok)
}

/// A file written, for its manifest line.
struct FileOut {
    path: Option<PathBuf>,
    format: &'static str,
    compression: &'static str,
    collections: Vec<String>,
    /// The objects in it, when it holds a part of its collection.
    objects: Option<u64>,
    bytes: u64,
    hash: String,
}
