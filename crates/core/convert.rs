//! ely-convert: reads any ely stream and writes the same stream in another JSONL form
//! (recompressed, decompressed, normalized), or only verifies it with `--check`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use ely_cli::{usage, Exit, Progress, Stats};
use ely_stream::{
    read_stream, Counters, DeadLetter, Event, Input, ReadOptions, StreamWriter, Summary,
};
use serde_json::{json, Map, Value};

const NAME: &str = "ely-convert";

const AFTER_HELP: &str = "\
Examples:
  # Compress a backup (compression from the extension), then verify it
  ely-backup --collection Code | ely-convert -o code.jsonl.zst
  ely-convert --check -i code.jsonl.zst

  # Decompress to stdout (the input's compression is detected from its content)
  ely-convert -i code.jsonl.zst | jq -c 'select(.ely == null) | .id'

  # Recompress with gzip level 9, or zstd on 4 threads
  ely-convert -i code.jsonl.zst --compress gzip --level 9 > code.jsonl.gz
  ely-convert -i code.jsonl.gz -o code.jsonl.zst --level 19 --threads 4

  # Objects from the REST API: compact, vectors in shortest float32 form, bad lines set aside
  curl -s 'localhost:8080/v1/objects?class=Code&include=vector' | jq -c '.objects[]' \\
    | ely-convert --normalize --skip-bad --dead-letter rejected.jsonl -o code.jsonl.zst

";

/// Recompress, decompress, normalize or verify an ely stream.
///
/// Reads JSONL (plain, zstd, gzip or lz4; detected from the first bytes, never the name) and
/// writes the same stream: object lines pass through byte for byte unless --normalize, and
/// every collection ends with a correct trailer. Truncated or corrupt input (a header without
/// its trailer, a trailer whose count or hash disagrees, compressed data that ends early)
/// stops the run with exit 4; an output file is then never left behind.
#[derive(Parser, Debug)]
#[command(name = NAME, version, after_help = format!("{AFTER_HELP}{}", ely_cli::EXIT_CODES_HELP))]
struct Args {
    /// Input file; stdin when absent or `-`.
    #[arg(short, long, value_name = "FILE")]
    input: Option<PathBuf>,

    /// Output file, written to a temporary name and renamed when complete; stdout when absent.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,

    #[command(flatten)]
    compression: ely_cli::CompressArgs,

    /// Read and verify everything, write no stream: print one JSON result line instead.
    #[arg(long, conflicts_with_all = ["output", "compress", "level", "normalize", "plain"])]
    check: bool,

    /// Re-serialize object lines compactly, vectors in shortest float32 form (no vector
    /// value changes; other values are kept as written).
    #[arg(long)]
    normalize: bool,

    /// Write object lines only, without headers and trailers (for jq and other tools).
    #[arg(long)]
    plain: bool,

    /// Set bad lines aside in the dead-letter file and go on (exit 1 at the end).
    #[arg(long)]
    skip_bad: bool,

    /// Where --skip-bad writes rejected lines [default: INPUT.rejected.jsonl beside -i].
    #[arg(long, value_name = "FILE", requires = "skip_bad")]
    dead_letter: Option<PathBuf>,

    /// Longest line accepted (K, M, G suffixes).
    #[arg(long, value_name = "SIZE", default_value = "256M", value_parser = ely_cli::parse_size)]
    max_line_bytes: usize,

    /// Do not check trailers, and read truncated input as far as it goes (with a warning).
    #[arg(long)]
    no_verify: bool,

    #[command(flatten)]
    report: ely_cli::ReportArgs,
}

fn main() -> ExitCode {
    ely_cli::start(NAME, run)
}

fn run(args: Args) -> anyhow::Result<Exit> {
    let stats = Stats::default();
    let write_options = args
        .compression
        .write_options(args.output.as_deref(), args.plain)?;
    let dead_letter_path = match args.skip_bad {
        true => match ely_cli::dead_letter_path(args.dead_letter.as_deref(), args.input.as_deref())
        {
            Some(p) => Some(p),
            None => return Err(usage("--skip-bad on stdin needs --dead-letter FILE")),
        },
        false => None,
    };
    let opts = ReadOptions {
        max_line_bytes: args.max_line_bytes,
        verify: !args.no_verify,
        skip_bad: args.skip_bad,
        normalize: args.normalize,
        ..ReadOptions::default()
    };

    let input = Input::open(args.input.as_deref())?;
    let input_name = input.display_name().to_owned();
    let mut writer = match args.check {
        true => None,
        false => Some(StreamWriter::create(args.output.as_deref(), write_options)?),
    };
    let mut dead = dead_letter_path.map(|p| DeadLetter::new(&p, input.name()));
    let counters = Arc::new(Counters::default());
    let progress = Progress::start(NAME, args.report.quiet, counters.clone());
    let mut summary = Summary::default();

    let result = read_stream(input, &opts, counters.clone(), &mut summary, |event| {
        match (event, writer.as_mut()) {
            (Event::Header { header, line, .. }, Some(w)) => {
                w.header_line(line, &header.collection)?
            }
            (
                Event::Object {
                    line, normalized, ..
                },
                Some(w),
            ) => w.object(normalized.unwrap_or(line))?,
            (Event::SectionEnd { .. }, Some(w)) => w.end_section()?,
            (
                Event::Bad {
                    line,
                    number,
                    reason,
                    too_long,
                },
                _,
            ) => {
                if let Some(d) = dead.as_mut() {
                    d.reject(number, reason, line, too_long)?;
                }
            }
            (_, None) => {}
        }
        Ok(())
    });
    progress.finish();
    for w in &summary.warnings {
        ely_cli::warn(NAME, w);
    }
    // What was set aside is kept whatever happens next.
    let dead_path = dead.as_ref().map(|d| (d.path().to_owned(), d.records()));
    if let Some(d) = dead {
        d.finish()?;
    }

    if args.check {
        let mut line = check_result(
            &input_name,
            &summary,
            counters.bytes_in.load(std::sync::atomic::Ordering::Relaxed),
        );
        if let Err(e) = &result {
            line.insert("verified".into(), false.into());
            line.insert("error".into(), format!("{e:#}").into());
        }
        writeln!(std::io::stdout(), "{}", Value::Object(line))?;
    }
    result?;
    let bytes_out = match writer {
        Some(w) => w.finish()?,
        None => 0,
    };

    if args.report.stats {
        let mut fields = Map::new();
        fields.insert("objects".into(), summary.objects.into());
        fields.insert(
            "collections".into(),
            summary
                .sections
                .iter()
                .filter(|s| s.collection.is_some())
                .count()
                .into(),
        );
        fields.insert("lines".into(), summary.lines.into());
        fields.insert("bad_lines".into(), summary.bad_lines.into());
        fields.insert(
            "bytes_in".into(),
            counters
                .bytes_in
                .load(std::sync::atomic::Ordering::Relaxed)
                .into(),
        );
        fields.insert("bytes_out".into(), bytes_out.into());
        stats.print(NAME, fields);
    }
    if let Some((path, n)) = dead_path.filter(|d| d.1 > 0) {
        ely_cli::warn(
            NAME,
            format!("{n} bad line(s) set aside in {}", path.display()),
        );
        return Ok(Exit::Rejected);
    }
    Ok(Exit::Ok)
}

fn check_result(input: &str, s: &Summary, compressed: u64) -> Map<String, Value> {
    let collections: Vec<Value> = s
        .sections
        .iter()
        .map(|c| json!({"collection": c.collection, "objects": c.objects, "verified": c.verified}))
        .collect();
    let mut m = Map::new();
    m.insert("input".into(), input.into());
    m.insert("compression".into(), s.compression.map(|c| c.name()).into());
    m.insert("verified".into(), s.verified().into());
    m.insert("collections".into(), collections.into());
    m.insert("objects".into(), s.objects.into());
    m.insert("lines".into(), s.lines.into());
    m.insert("bad_lines".into(), s.bad_lines.into());
    m.insert("bytes".into(), s.bytes.into());
    m.insert("compressed_bytes".into(), compressed.into());
    m
}
