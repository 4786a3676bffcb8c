//! ely-convert: reads any ely stream and writes the same stream in another JSONL form
//! (recompressed, decompressed, normalized), or only verifies it with `--check`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use ely_cli::{usage, Exit, InputArgs, Progress, Stats};
use ely_stream::{Counters, DeadLetter, Event, ReadOptions, StreamWriter, Summary};

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

  # To Parquet (typed columns, float32 vectors, zstd) and back, object for object
  ely-convert -i code.jsonl.zst -o code.parquet
  duckdb -c \"SELECT path, len(vector) FROM 'code.parquet' LIMIT 3\"
  ely-convert -i code.parquet -o code-again.jsonl.zst
  ely-backup --all | ely-convert -o backups/      # one <Collection>.parquet per collection

  # Objects from the REST API: compact, vectors in shortest float32 form, bad lines set aside
  curl -s 'localhost:8080/v1/objects?class=Code&include=vector' | jq -c '.objects[]' \\
    | ely-convert --normalize --skip-bad --dead-letter rejected.jsonl -o code.jsonl.zst

";

/// Recompress, decompress, normalize or verify an ely stream, or turn it into Parquet and back.
///
/// Reads JSONL (plain, zstd, gzip or lz4; detected from the first bytes, never the name) or
/// Parquet files ely wrote (a file, or a folder of them), and writes the same stream: object lines pass through byte for byte unless --normalize, and
/// every collection ends with a correct trailer. Truncated or corrupt input (a header without
/// its trailer, a trailer whose count or hash disagrees, compressed data that ends early)
/// stops the run with exit 4; an output file is then never left behind.
#[derive(Parser, Debug)]
#[command(name = NAME, version, after_help = format!("{AFTER_HELP}{}", ely_cli::EXIT_CODES_HELP))]
struct Args {
    #[command(flatten)]
    input: InputArgs,

    /// Output file, written to a temporary name and renamed when complete; stdout when absent.
    /// A `.parquet` file is Parquet (one collection); a folder (`DIR/`) gets one
    /// `<Collection>.parquet` per collection.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,

    #[command(flatten)]
    compression: ely_cli::CompressArgs,

    /// Read and verify everything, write no stream: print one JSON result line instead.
    #[arg(long, conflicts_with_all = ["output", "compress", "level", "normalize", "plain", "format"])]
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
    let parquet = match args.check {
        true => None,
        false => args.compression.parquet_target(args.output.as_deref())?,
    };
    if parquet.is_some() && (args.plain || args.normalize) {
        return Err(usage(
            "Parquet output is typed: --plain and --normalize are for JSONL",
        ));
    }
    let write_options = match parquet {
        Some(_) => None,
        None => Some(
            args.compression
                .write_options(args.output.as_deref(), args.plain)?,
        ),
    };
    let dead_letter_path = match args.skip_bad {
        true => match ely_cli::dead_letter_path(args.dead_letter.as_deref(), args.input.file()) {
            Some(p) => Some(p),
            None => return Err(usage("--skip-bad on stdin needs --dead-letter FILE")),
        },
        false => None,
    };
    let opts = ReadOptions {
        verify: !args.no_verify,
        skip_bad: args.skip_bad,
        normalize: args.normalize,
        ..args.input.read_options()
    };

    let counters = Arc::new(Counters::default());
    let source = args
        .input
        .source(NAME, opts, counters.clone(), parquet.is_some())?;
    let mut dead = dead_letter_path.map(|p| DeadLetter::new(&p, source.name()));
    let progress = Progress::start(NAME, args.report.quiet, counters.clone());
    let (summary, result, writer) = if args.check {
        let checked = ely_stream::verify(source, &counters, dead.as_mut());
        let line = serde_json::to_string(&checked.report)?;
        progress.finish();
        writeln!(std::io::stdout(), "{line}")?;
        (checked.summary, checked.result, None)
    } else {
        let mut writer = match parquet {
            Some(target) => Output::Parquet(Box::new(ely_parquet::ParquetWriter::new(
                target,
                args.compression.parquet_options(),
            ))),
            None => {
                let Some(write_options) = write_options else {
                    anyhow::bail!("no output options");
                };
                Output::Jsonl(Box::new(StreamWriter::create(
                    args.output.as_deref(),
                    write_options,
                )?))
            }
        };
        let mut summary = Summary::default();
        let result = source.read(&mut summary, &mut |event| {
            match (event, &mut writer) {
                (Event::Header { header, line, .. }, Output::Jsonl(w)) => {
                    w.header_line(line, header)?
                }
                (Event::Header { header, line, .. }, Output::Parquet(w)) => {
                    w.header(line, header)?
                }
                (
                    Event::Object {
                        line, normalized, ..
                    },
                    Output::Jsonl(w),
                ) => w.object(normalized.or(line).unwrap_or_default())?,
                (
                    Event::Object {
                        line,
                        object,
                        number,
                        ..
                    },
                    Output::Parquet(w),
                ) => match object {
                    Some(Ok(o)) => w.object(o.object, line.map_or(0, <[u8]>::len))?,
                    Some(Err(why)) if dead.is_some() => {
                        set_aside(&mut dead, number, &why, line.unwrap_or_default(), None)?
                    }
                    Some(Err(why)) => {
                        return Err(ely_stream::StreamError::bad_line(NAME, number, why).into())
                    }
                    None => anyhow::bail!("line {number}: the object was not read"),
                },
                (Event::SectionEnd { .. }, Output::Jsonl(w)) => w.end_section()?,
                (Event::SectionEnd { trailer }, Output::Parquet(w)) => w.end_section(trailer)?,
                (
                    Event::Bad {
                        line,
                        number,
                        reason,
                        too_long,
                    },
                    _,
                ) => set_aside(&mut dead, number, reason, line, too_long)?,
            }
            Ok(())
        });
        progress.finish();
        (summary, result, Some(writer))
    };
    for w in &summary.warnings {
        ely_cli::warn(NAME, w);
    }
    // What was set aside is kept whatever happens next.
    let dead_path = dead.as_ref().map(|d| (d.path().to_owned(), d.records()));
    if let Some(d) = dead {
        d.finish()?;
    }
    result?;
    let bytes_out = match writer {
        Some(Output::Jsonl(w)) => w.finish()?,
        Some(Output::Parquet(w)) => w.finish()?.iter().map(|f| f.bytes).sum(),
        None => 0,
    };

    if args.report.stats {
        let mut fields = ely_cli::counts(&(), &counters);
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

/// What a conversion wrote to.
enum Output {
    Jsonl(Box<StreamWriter>),
    Parquet(Box<ely_parquet::ParquetWriter>),
}

/// A bad line, set aside when --skip-bad gave a dead-letter file.
fn set_aside(
    dead: &mut Option<DeadLetter>,
    number: u64,
    reason: &str,
    line: &[u8],
    too_long: Option<u64>,
) -> std::io::Result<()> {
    match dead.as_mut() {
        Some(d) => d.reject(number, reason, line, too_long),
        None => Ok(()),
    }
}
