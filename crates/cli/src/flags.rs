//! Every flag more than one binary takes, defined once (as ripgrep defines its flags in one
//! place), in groups a binary flattens into its own arguments:
//!
//! - [`InputArgs`]: `-i FILE`, `--max-line-bytes`;
//! - [`StoreArgs`]: `--store` and the Weaviate client's timeouts, retries and requests in
//!   flight (the API key is never a flag: it would show in `ps` and in shell history; it
//!   comes from `WEAVIATE_API_KEY`);
//! - [`SelectArgs`]: `--tenant`, `--properties`, `--where` (parsed here, so a bad expression
//!   is a usage error naming the flag), giving one [`Selection`];
//! - [`SinkArgs`]: how objects are written (conflicts, batches, workers, dead letters,
//!   checkpoints, dry runs, result lines), giving the sink's [`SinkOptions`];
//! - [`CompressArgs`], [`ReportArgs`]: output compression; `--stats` and `--quiet`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ely_store::{Location, OpenOptions, Store};
use ely_stream::{Input, ReadOptions};
use ely_transfer::expr::Expr;
use ely_transfer::selection::Selection;
use ely_transfer::sink::{Conflict, SinkOptions};

use crate::usage;

/// Where a binary reads its input.
#[derive(Debug, Clone, clap::Args)]
pub struct InputArgs {
    /// Input file; stdin when absent or `-`.
    #[arg(short, long, value_name = "FILE")]
    pub input: Option<PathBuf>,

    /// The input file, given without -i (as zstd and jq take theirs).
    #[arg(value_name = "FILE", conflicts_with = "input")]
    pub positional: Option<PathBuf>,

    /// Longest line accepted (K, M, G suffixes).
    #[arg(long, value_name = "SIZE", default_value = "256M", value_parser = parse_size)]
    pub max_line_bytes: usize,
}

impl InputArgs {
    /// The input as given: `-i FILE` or `FILE`; `None` for stdin.
    pub fn path(&self) -> Option<&Path> {
        self.input.as_deref().or(self.positional.as_deref())
    }

    /// The input: the file, or stdin. Reading a stream from a terminal is most often a
    /// forgotten file name: binary `name` says so on stderr, and waits.
    pub fn open(&self, name: &str) -> std::io::Result<Input> {
        if self.file().is_none() && std::io::stdin().is_terminal() {
            eprintln!(
                "{name}: reading a stream from the terminal; pipe one in or give a file (-i FILE), or end with Ctrl-D"
            );
        }
        Input::open(self.path())
    }

    /// How to read it (the line limit; everything else as `ReadOptions` has it).
    pub fn read_options(&self) -> ReadOptions {
        ReadOptions {
            max_line_bytes: self.max_line_bytes,
            ..ReadOptions::default()
        }
    }

    /// The input file, when it is one (not stdin).
    pub fn file(&self) -> Option<&Path> {
        self.path().filter(|p| p.as_os_str() != "-")
    }

    /// Whether the input is Parquet: a file that starts as Parquet files do, or a folder
    /// of them.
    pub fn is_parquet(&self) -> bool {
        self.file().is_some_and(ely_parquet::is_parquet)
    }

    /// The input as a source of an ely stream: Parquet files ely wrote, else the stream
    /// itself (JSONL in any compression), its object lines read into objects when `objects`.
    pub fn source(
        &self,
        name: &str,
        opts: ReadOptions,
        counters: std::sync::Arc<ely_stream::Counters>,
        objects: bool,
    ) -> std::io::Result<Box<dyn ely_stream::Source>> {
        if let Some(p) = self.file() {
            return ely_parquet::file_source(p, opts, counters, objects, false);
        }
        let input = self.open(name)?;
        // Parquet through a pipe (`ely-backup --format parquet | ely-restore`) is spooled.
        let (head, input) = input.peek(4)?;
        if head == b"PAR1" {
            let display = input.display_name().to_owned();
            let source =
                ely_parquet::ParquetSource::spooled(&display, input.into_reader(), counters)
                    .map_err(|e| std::io::Error::other(format!("{e:#}")))?
                    .lossy(opts.lossy)
                    .skip_bad(opts.skip_bad);
            return Ok(Box::new(source));
        }
        Ok(match objects {
            true => Box::new(ely_stream::Jsonl::objects(input, opts, counters)),
            false => Box::new(ely_stream::Jsonl::lines(input, opts, counters)),
        })
    }
}

/// Which objects and properties a command takes.
#[derive(Debug, Clone, clap::Args)]
pub struct SelectArgs {
    /// Only this tenant of multi-tenant collections (repeatable). Collections without
    /// multi-tenancy are taken whole, unless one was named: then it is an error.
    #[arg(long = "tenant", value_name = "NAME")]
    pub tenants: Vec<String>,

    /// Only these properties (comma-separated, as the input names them); the class
    /// definition keeps only them too. A name the collection does not have is an error.
    #[arg(long, value_name = "A,B", value_delimiter = ',')]
    pub properties: Option<Vec<String>>,

    /// Only objects matching EXPR (docs/WHERE.md), e.g. 'year >= 2020 and lang = "en"'.
    /// Checked against each collection's properties and their types before anything of
    /// that collection is read or written.
    #[arg(long = "where", value_name = "EXPR", value_parser = parse_where)]
    pub filter: Option<Expr>,
}

impl SelectArgs {
    /// The selection these flags ask for.
    pub fn selection(&self) -> Selection {
        Selection {
            objects: None,
            tenants: self.tenants.clone(),
            properties: self.properties.clone(),
            filter: self.filter.clone(),
        }
    }
}

fn parse_where(text: &str) -> Result<Expr, String> {
    Expr::parse(text)
}

/// How objects are written into a store, for every binary that writes: workers, batches,
/// dead letters, checkpoints, dry runs.
#[derive(Debug, Clone, clap::Args)]
pub struct WriteArgs {
    /// Batches in flight at once, each one store call. A call to Weaviate is sent as
    /// requests of 100 objects, --in-flight of them at once: at most
    /// workers x in-flight requests are in flight.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub workers: u32,

    /// Objects per batch.
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=10000))]
    pub batch_size: u32,

    /// Most bytes of input lines per batch (K, M, G suffixes).
    #[arg(long, value_name = "SIZE", default_value = "16M", value_parser = parse_size)]
    pub batch_bytes: usize,

    /// Where rejected records go [default: INPUT.rejected.jsonl beside -i; on stdin, only
    /// the result lines and a summary on stderr name them].
    #[arg(long, value_name = "FILE")]
    pub dead_letter: Option<PathBuf>,

    /// Record how far the input has been acknowledged; rerunning the same command continues
    /// from there. Removed when the run completes.
    #[arg(long, value_name = "FILE")]
    pub checkpoint: Option<PathBuf>,

    /// Check everything and report what would happen; write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

impl WriteArgs {
    /// The sink's options (overwriting, batch result lines), with the dead-letter file
    /// beside `input` unless given; an error when it would be the input itself.
    pub fn options(&self, input: Option<&Path>) -> anyhow::Result<SinkOptions> {
        let dead_letter = crate::dead_letter_path(self.dead_letter.as_deref(), input);
        if let (Some(d), Some(i)) = (&dead_letter, input) {
            if d == i {
                return Err(usage(
                    "the dead-letter file would overwrite the input; give another --dead-letter FILE",
                ));
            }
        }
        Ok(SinkOptions {
            workers: self.workers as usize,
            batch_size: self.batch_size as usize,
            batch_bytes: self.batch_bytes,
            dry_run: self.dry_run,
            checkpoint: self.checkpoint.clone(),
            dead_letter,
            ..SinkOptions::default()
        })
    }
}

/// How ely-restore writes objects: [`WriteArgs`], and conflicts and result lines.
#[derive(Debug, Clone, clap::Args)]
pub struct SinkArgs {
    /// What to do with objects that exist already: overwrite, skip (keep them), merge
    /// (update the properties and vectors present in the input) or fail (stop before
    /// touching one).
    #[arg(long, value_name = "MODE", default_value = "overwrite")]
    pub on_conflict: Conflict,

    /// Write only objects whose properties or vectors differ from the target's.
    #[arg(long)]
    pub only_changed: bool,

    #[command(flatten)]
    pub write: WriteArgs,

    /// Result lines: one per batch, or one per object.
    #[arg(long, value_name = "batches|objects", default_value = "batches", value_parser = ["batches", "objects"])]
    pub results: String,
}

impl SinkArgs {
    /// The sink's options, with the dead-letter file beside `input` unless given; an error
    /// when it would be the input itself.
    pub fn options(&self, input: Option<&Path>) -> anyhow::Result<SinkOptions> {
        Ok(SinkOptions {
            on_conflict: self.on_conflict,
            only_changed: self.only_changed,
            per_object_results: self.results == "objects",
            ..self.write.options(input)?
        })
    }
}

#[derive(Debug, Clone, clap::Args)]
pub struct StoreArgs {
    /// The store: a Weaviate URL (http:// or https://) or the path of an embedded store.
    /// Default: $ELY_STORE, then $WEAVIATE_URL, then $ELY_HOME/store.db
    /// (ELY_HOME defaults to ~/.local/share/ely). The API key comes from $WEAVIATE_API_KEY.
    #[arg(long, value_name = "URL|PATH")]
    pub store: Option<String>,

    /// Time allowed to connect to Weaviate.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub connect_timeout: Duration,

    /// Time allowed for each part of a request: sending it, waiting for the answer to begin,
    /// receiving the answer (a long answer that keeps coming is not cut off).
    #[arg(long, value_name = "DURATION", default_value = "120s", value_parser = parse_duration)]
    pub timeout: Duration,

    /// Retries of a request that failed with 429, 408, 5xx or a network error (with
    /// exponential backoff and jitter, honouring Retry-After). Each retry says so on stderr
    /// unless --quiet. A host that does not resolve or refuses connections before it ever
    /// answered is not retried: the run stops at once (exit 3).
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub retries: u32,

    /// How long one request may be retried in all; no retry starts after that (exit 3).
    #[arg(long, value_name = "DURATION", default_value = "2m", value_parser = parse_duration)]
    pub retry_for: Duration,

    /// Requests the Weaviate client sends at once for one call: a write of more than 100
    /// objects is sent as requests of 100, an existence check as queries of 100 ids.
    /// ely-restore and ely-ingest make --workers such calls at once: at most
    /// workers x in-flight requests.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub in_flight: u32,
}

impl StoreArgs {
    /// Where the store is, from the flag and then the environment.
    pub fn location(&self) -> ely_store::Result<Location> {
        ely_store::resolve(self.store.as_deref(), |k| std::env::var(k).ok())
    }

    /// The client options these flags ask for, with the API key from the environment.
    pub fn options(&self) -> OpenOptions {
        OpenOptions {
            connect_timeout: self.connect_timeout,
            timeout: self.timeout,
            retries: self.retries,
            retry_for: self.retry_for,
            in_flight: self.in_flight as usize,
            ..OpenOptions::from_env()
        }
    }

    /// Opens the store, creating an embedded store that does not exist yet. Binary `name`
    /// tells of each retry on stderr, unless `quiet`.
    pub fn open(&self, name: &'static str, quiet: bool) -> ely_store::Result<Box<dyn Store>> {
        ely_store::open(&self.location()?, &self.telling(name, quiet))
    }

    /// Opens a store that must exist already (for commands that only read it).
    pub fn open_existing(
        &self,
        name: &'static str,
        quiet: bool,
    ) -> ely_store::Result<Box<dyn Store>> {
        ely_store::open_existing(&self.location()?, &self.telling(name, quiet))
    }

    fn telling(&self, name: &'static str, quiet: bool) -> OpenOptions {
        let on_retry: Option<ely_store::RetryReporter> = if quiet {
            None
        } else {
            Some(std::sync::Arc::new(move |m: &str| crate::warn(name, m)))
        };
        OpenOptions {
            on_retry,
            ..self.options()
        }
    }
}

/// `500ms`, `10s`, `2m`, `1h`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a duration (use e.g. 500ms, 10s, 2m)"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "" | "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("'{s}': unknown unit '{unit}' (use ms, s, m or h)")),
    };
    Duration::try_from_secs_f64(secs).map_err(|_| format!("'{s}' is not a duration"))
}

/// `--stats` and `--quiet`, which every binary takes.
#[derive(Debug, Clone, clap::Args)]
pub struct ReportArgs {
    /// Print one JSON summary line to stderr at the end.
    #[arg(long)]
    pub stats: bool,

    /// No progress line.
    #[arg(short, long)]
    pub quiet: bool,

    /// Print a shell completion script or the man page on stdout and exit: complete-bash,
    /// complete-zsh, complete-fish, man.
    #[arg(long, value_name = "KIND", value_parser = ["complete-bash", "complete-zsh", "complete-fish", "man"])]
    pub generate: Option<String>,
}

/// How a stream is compressed when written: `--compress`, `--level`, `--threads`.
#[derive(Debug, Clone, clap::Args)]
pub struct CompressArgs {
    /// Output compression: zstd, gzip, lz4 or none [default: from the -o extension
    /// (.zst, .gz, .lz4), else none].
    #[arg(long, value_name = "KIND")]
    pub compress: Option<ely_stream::Compression>,

    /// Compression level: zstd 1-22 (default 3; for Parquet, 3 and 1 for vector columns),
    /// gzip 0-9 (default 6).
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub level: Option<i32>,

    /// zstd worker threads; 0 uses every core.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub threads: u32,

    /// Output format: jsonl, or parquet [default: from -o (.parquet, or a folder DIR/),
    /// else jsonl].
    #[arg(long, value_name = "FORMAT", value_parser = ["jsonl", "parquet"])]
    pub format: Option<String>,

    /// Parquet: write each collection in numbered parts of at most N objects
    /// (DIR/<Collection>/part-00000.parquet, ...; needs -o DIR/).
    #[arg(long, value_name = "N")]
    pub split_rows: Option<u64>,

    /// Parquet: parts of about SIZE bytes each (K, M, G suffixes; needs -o DIR/).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub split_bytes: Option<usize>,

    /// Parquet: each tenant's objects in Hive-style folders,
    /// DIR/<Collection>/tenant=<name>/part-N.parquet, which DuckDB, pyarrow and Spark read as
    /// one dataset.
    #[arg(long, value_name = "COLUMN", value_parser = ["tenant"])]
    pub partition_by: Option<String>,

    /// Parquet: objects of a stream without a class definition whose properties decide the
    /// columns (later surprises are kept in the _extra column).
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub infer_rows: usize,
}

impl CompressArgs {
    /// Where Parquet output goes, when the output is Parquet: `--format parquet`, a `.parquet`
    /// file, or a folder (`DIR/`, or one that exists), which gets a file per collection.
    pub fn parquet_target(
        &self,
        output: Option<&std::path::Path>,
    ) -> anyhow::Result<Option<ely_parquet::Target>> {
        let out = output.filter(|p| p.as_os_str() != "-");
        let folder = out.is_some_and(|p| p.to_string_lossy().ends_with('/') || p.is_dir());
        let by_name = out.is_some_and(|p| p.extension().is_some_and(|e| e == "parquet"));
        let parquet = match self.format.as_deref() {
            Some("parquet") => true,
            Some(_) if folder || by_name => {
                return Err(usage(
                    "--format jsonl writes one stream: give -o FILE (.jsonl, .jsonl.zst, ...)",
                ))
            }
            Some(_) => false,
            None => folder || by_name,
        };
        let parts =
            self.split_rows.is_some() || self.split_bytes.is_some() || self.partition_by.is_some();
        if !parquet {
            if parts {
                return Err(usage(
                    "--split-rows, --split-bytes and --partition-by are for Parquet output (-o DIR/ --format parquet)",
                ));
            }
            return Ok(None);
        }
        if self.compress.is_some() {
            return Err(usage(
                "Parquet output is compressed with zstd column by column: --compress is for JSONL",
            ));
        }
        if self.level.is_some_and(|l| !(1..=22).contains(&l)) {
            return Err(usage("zstd levels are 1-22"));
        }
        if parts && !folder {
            return Err(usage(
                "--split-rows, --split-bytes and --partition-by write several files: give -o DIR/",
            ));
        }
        if self.split_rows == Some(0) || self.split_bytes == Some(0) {
            return Err(usage("a part holds at least one object"));
        }
        Ok(Some(match out {
            None => {
                if std::io::stdout().is_terminal() {
                    return Err(usage(
                        "refusing to write Parquet to a terminal; redirect stdout or use -o FILE",
                    ));
                }
                ely_parquet::Target::Stdout
            }
            Some(p) if folder => ely_parquet::Target::Dir(p.to_owned()),
            Some(p) => ely_parquet::Target::File(p.to_owned()),
        }))
    }

    /// The Parquet writer's options these flags ask for.
    pub fn parquet_options(&self) -> ely_parquet::Options {
        ely_parquet::Options {
            level: self.level,
            split_rows: self.split_rows,
            split_bytes: self.split_bytes.map(|b| b as u64),
            partition_by_tenant: self.partition_by.is_some(),
            infer_rows: self.infer_rows.max(1),
            ..ely_parquet::Options::default()
        }
    }

    /// The write options these flags ask for, for output to `output` (stdout when `None`).
    pub fn write_options(
        &self,
        output: Option<&std::path::Path>,
        plain: bool,
    ) -> anyhow::Result<ely_stream::WriteOptions> {
        Ok(ely_stream::WriteOptions {
            compression: output_compression(self.compress, output, self.level)?,
            level: self.level,
            threads: threads(self.threads),
            plain,
        })
    }
}

/// The output compression: `--compress`, else from the `-o` file's extension, else none;
/// checks `--level` against it.
pub fn output_compression(
    compress: Option<ely_stream::Compression>,
    output: Option<&std::path::Path>,
    level: Option<i32>,
) -> anyhow::Result<ely_stream::Compression> {
    let compression = match (compress, output) {
        (Some(c), _) => c,
        (None, Some(path)) if path.as_os_str() != "-" => {
            ely_stream::Compression::for_output(path).map_err(usage)?
        }
        (None, _) => ely_stream::Compression::None,
    };
    if let Some(level) = level {
        match compression.levels() {
            None => {
                return Err(usage(format!(
                    "--level does not apply to {compression} output"
                )))
            }
            Some((_, range)) if !range.contains(&level) => {
                return Err(usage(format!(
                    "{compression} levels are {}-{}",
                    range.start(),
                    range.end()
                )))
            }
            Some(_) => {}
        }
    }
    Ok(compression)
}

/// `--threads`: 0 means every core.
pub fn threads(n: u32) -> u32 {
    match n {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
        n => n,
    }
}

/// Parses a size such as `1048576`, `64K`, `256M`, `1G` (powers of 1024).
pub fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: usize = num
        .parse()
        .map_err(|_| format!("'{s}' is not a size (use e.g. 65536, 64K, 256M, 1G)"))?;
    let shift = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        _ => return Err(format!("'{s}' has an unknown unit (use K, M or G)")),
    };
    n.checked_mul(1 << shift)
        .ok_or_else(|| format!("'{s}' is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cmd {
        #[command(flatten)]
        store: StoreArgs,
    }

    #[test]
    fn flags_have_sane_defaults_and_parse_durations() {
        let c = Cmd::try_parse_from(["x"]).expect("defaults");
        let o = c.store.options();
        assert_eq!(o.connect_timeout, Duration::from_secs(10));
        assert_eq!(o.timeout, Duration::from_secs(120));
        assert_eq!((o.retries, o.in_flight), (8, 4));
        let c = Cmd::try_parse_from([
            "x",
            "--store",
            "/tmp/s.db",
            "--timeout",
            "1.5m",
            "--connect-timeout",
            "250ms",
        ])
        .expect("flags");
        assert_eq!(c.store.timeout, Duration::from_secs(90));
        assert_eq!(c.store.connect_timeout, Duration::from_millis(250));
        assert_eq!(
            c.store.location().expect("location"),
            Location::Embedded("/tmp/s.db".into())
        );
        assert!(parse_duration("10x").is_err());
        assert!(parse_duration("-1s").is_err());
        assert!(Cmd::try_parse_from(["x", "--in-flight", "0"]).is_err());
    }
}
