//! ely-ingest: keeps a collection in step with git repositories, from mgit's records, the
//! designed three-tier records, plain path lists, or git itself.

use std::io::{BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use ely_cli::{Exit, InputArgs, Progress, ReportArgs, Stats, StoreArgs, WriteArgs};
use ely_ingest::chunk::Chunking;
use ely_ingest::filter::Filters;
use ely_ingest::model::IdScheme;
use ely_ingest::repos::Repos;
use ely_ingest::state::State;
use ely_ingest::{ingest, IngestOptions};
use ely_stream::Counters;

const NAME: &str = "ely-ingest";

const AFTER_HELP: &str = "\
Examples:
  # Index what mgit reports (uncommitted changes), reading summarized files from disk
  mgit diff ~/src --embed-content | ely-ingest --collection Code --root ~/src

  # Cron, every 30 minutes: pull every clone, then ingest what was committed since last time
  mgit sync ~/ws | ely-ingest --collection Code --git ~/ws

  # The first run of --git indexes every tracked file; later runs only what changed
  ely-ingest --collection Code --git ~/src/app

  # A path list, from git or find (a path that no longer exists is deleted)
  git -C ~/src/app diff --name-only HEAD~5 | ely-ingest --collection Code --repo ~/src/app
  find src -name '*.py' | ely-ingest --collection Code --repo .

  # Into Weaviate, vectorized by its OpenAI module, only Rust and Python files
  ely-ingest --store http://localhost:8080 --collection Code --git ~/ws \\
    --vectorizer text2vec-openai --model text-embedding-3-small --include '*.rs' --include '*.py'

  # What would happen, writing nothing
  ely-ingest --collection Code --git ~/ws --dry-run

  # Feed back what was rejected, once the cause is fixed
  ely-ingest --collection Code --root ~/src -i changes.jsonl.rejected.jsonl

Output: one JSON line per change, in input order: {\"repo\",\"path\",\"op\",\"action\",...} where
action is upserted, unchanged, deleted, skipped (with the reason) or rejected (with the
reason); \"chunks\" is the file's chunk count, \"removed\" the stale chunks deleted. A
repository's changeset line says whether its commit was remembered (every change of it
acknowledged) or kept (something was rejected: the next run tries again).

";

/// Keep a collection in step with git repositories.
///
/// Reads change records on stdin (or -i FILE, any compression): mgit's records as mgit 0.13
/// prints them (C-quoted paths, renames, summaries in place of content), the designed
/// three-tier records (content, content_base64, content_ref, skip_index), and plain path lists;
/// lines that are not records (progress bars, tables) are counted and skipped. With --git, it
/// also reads git itself: what was committed since the commit it last ingested for each
/// repository, or every tracked file the first time. Each file becomes one object per chunk,
/// with ids that depend only on the repository, the path and the chunk, so any input can be
/// replayed; unchanged files are not rewritten, deleted and renamed files are removed.
#[derive(Parser, Debug)]
#[command(name = NAME, version, after_help = format!("{AFTER_HELP}{}", ely_cli::EXIT_CODES_HELP))]
struct Args {
    #[command(flatten)]
    store: StoreArgs,

    #[command(flatten)]
    input: InputArgs,

    /// The collection to keep in step (created when missing).
    #[arg(short, long, value_name = "NAME")]
    collection: String,

    /// Repositories are folders under DIR, named as mgit names them (repeatable).
    #[arg(long = "root", value_name = "DIR")]
    roots: Vec<PathBuf>,

    /// Repository NAME is at DIR; a DIR alone is named after its folder. With exactly one
    /// --repo, plain input lines are paths in it (repeatable).
    #[arg(long = "repo", value_name = "NAME=DIR|DIR")]
    repos: Vec<String>,

    /// content_ref may only name files inside DIR (repeatable) [default: the repository
    /// folders and roots].
    #[arg(long = "allow-root", value_name = "DIR")]
    allow_roots: Vec<PathBuf>,

    /// Read the git repositories at or under DIR: what was committed since the last run, or
    /// every tracked file the first time (repeatable).
    #[arg(long = "git", value_name = "DIR")]
    git: Vec<PathBuf>,

    /// With --git, the working tree's changes too (read from disk).
    #[arg(long, requires = "git")]
    uncommitted: bool,

    /// The vectorizer of a collection this run creates: none, text2vec-openai,
    /// text2vec-transformers, text2vec-ollama, ... [default: the store's default; none in the
    /// embedded store].
    #[arg(long, value_name = "NAME")]
    vectorizer: Option<String>,

    /// The vectorizer's model.
    #[arg(long, value_name = "NAME", requires = "vectorizer")]
    model: Option<String>,

    /// How object ids are made: ely (repository, path and chunk), or elysiactl (the ids the
    /// tool it replaces gave, for collections it made).
    #[arg(long, value_name = "SCHEME", default_value = "ely")]
    id_scheme: IdScheme,

    /// Most lines in a chunk.
    #[arg(long, value_name = "N", default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..))]
    chunk_lines: u64,

    /// Most characters in a chunk.
    #[arg(long, value_name = "N", default_value_t = 8000, value_parser = clap::value_parser!(u64).range(1..))]
    chunk_chars: u64,

    /// Lines a chunk repeats from the one before it.
    #[arg(long, value_name = "N", default_value_t = 20)]
    chunk_overlap: u64,

    /// Larger files are skipped (K, M, G suffixes).
    #[arg(long, value_name = "SIZE", default_value = "1M", value_parser = ely_cli::parse_size)]
    max_file_size: usize,

    /// Only files matching GLOB (repeatable; without a /, it matches the file name).
    #[arg(long = "include", value_name = "GLOB")]
    include: Vec<String>,

    /// Not files matching GLOB (repeatable).
    #[arg(long = "exclude", value_name = "GLOB")]
    exclude: Vec<String>,

    /// Index what is excluded by default: .git/, node_modules/, vendor/, target/, dist/,
    /// build/, __pycache__/, minified files, lock files.
    #[arg(long)]
    no_default_excludes: bool,

    /// Rewrite files whose content did not change.
    #[arg(long)]
    force: bool,

    /// The state file: the commits remembered between runs [default:
    /// $ELY_HOME/ingest.db].
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,

    #[command(flatten)]
    write: WriteArgs,

    #[command(flatten)]
    report: ReportArgs,
}

fn main() -> ExitCode {
    ely_cli::start(NAME, run)
}

fn run(args: Args) -> anyhow::Result<Exit> {
    let stats = Stats::default();
    // Everything that can be wrong with the arguments, before anything is read or written.
    let location = args.store.location()?;
    let filters = Filters::new(
        &args.include,
        &args.exclude,
        !args.no_default_excludes,
        args.max_file_size as u64,
    )
    .map_err(ely_cli::usage)?;
    let mut repos = Repos::new(args.allow_roots.clone());
    for r in &args.roots {
        repos
            .add_root(r)
            .map_err(|e| ely_cli::usage(format!("--root {e}")))?;
    }
    let mut path_repo = None;
    for r in &args.repos {
        let (name, dir) = match r.split_once('=') {
            Some((n, d)) if !n.is_empty() && !n.contains('/') => (n.to_owned(), PathBuf::from(d)),
            _ => {
                let dir = PathBuf::from(r);
                let name = std::fs::canonicalize(&dir)
                    .ok()
                    .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
                    .ok_or_else(|| ely_cli::usage(format!("--repo {r}: no such folder")))?;
                (name, dir)
            }
        };
        repos
            .add(&name, &dir)
            .map_err(|e| ely_cli::usage(format!("--repo {e}")))?;
        path_repo = Some(name);
    }
    if args.repos.len() != 1 {
        path_repo = None;
    }
    let mut git = Vec::new();
    for dir in &args.git {
        for g in ely_ingest::git::discover(dir).map_err(|e| ely_cli::usage(format!("{e:#}")))? {
            repos
                .add(&g.name, &g.dir)
                .map_err(|e| ely_cli::usage(format!("--git: {e}")))?;
            git.push(g);
        }
    }
    let sink = args.write.options(args.input.file())?;
    let opts = IngestOptions {
        collection: args.collection.clone(),
        vectorizer: args.vectorizer.clone(),
        model: args.model.clone(),
        id_scheme: args.id_scheme,
        chunking: Chunking {
            max_lines: args.chunk_lines as usize,
            max_chars: args.chunk_chars as usize,
            overlap: args.chunk_overlap as usize,
        },
        filters,
        repos,
        path_repo,
        git,
        uncommitted: args.uncommitted,
        force: args.force,
        sink,
        max_line_bytes: args.input.max_line_bytes,
    };
    // Records come from -i, or stdin unless --git reads git and stdin is a terminal.
    let read_input =
        args.input.path().is_some() || args.git.is_empty() || !std::io::stdin().is_terminal();
    let input = if read_input {
        Some(args.input.open(NAME)?)
    } else {
        None
    };
    // A dry run creates nothing: an embedded store that does not exist yet is stood in for
    // by an empty one in a temporary folder, removed at the end.
    let dry = args.write.dry_run;
    let mut stand_in = None;
    let store = match &location {
        ely_store::Location::Embedded(p) if dry && !p.exists() => {
            let dir =
                std::env::temp_dir().join(format!("ely-ingest-dry-run-{}", std::process::id()));
            let guard = RemoveOnDrop(dir.clone());
            let store = ely_store::open(
                &ely_store::Location::Embedded(dir.join("store.db")),
                &ely_store::OpenOptions::default(),
            )?;
            stand_in = Some(guard);
            store
        }
        _ => args.store.open(NAME, args.report.quiet)?,
    };
    let state_path = match &args.state {
        Some(p) => p.clone(),
        None => ely_store::ely_home(|k| std::env::var(k).ok())
            .ok_or_else(|| {
                ely_cli::usage("no state file: give --state FILE, or set ELY_HOME or HOME")
            })?
            .join("ingest.db"),
    };
    // The store as the state file knows it: a URL without credentials, or the embedded
    // store's full path (cron runs from another folder).
    let store_key = match &location {
        ely_store::Location::Embedded(p) => std::fs::canonicalize(p)
            .unwrap_or_else(|_| p.clone())
            .display()
            .to_string(),
        ely_store::Location::Weaviate(_) => store.location(),
    };
    let state = if dry && !state_path.exists() {
        None
    } else {
        Some(State::open(
            &state_path,
            &store_key,
            &ely_store::names::class_name(&args.collection),
        )?)
    };
    let counters = Arc::new(Counters::default());
    let progress = Progress::start(NAME, args.report.quiet, counters.clone());
    let mut out = BufWriter::new(std::io::stdout());
    let result = ingest(
        store.as_ref(),
        input,
        &opts,
        state,
        counters.clone(),
        &mut out,
    );
    progress.finish();
    out.flush()?;
    drop(store);
    drop(stand_in);
    let finished = result?;
    let t = &finished.totals;
    for w in &finished.warnings {
        ely_cli::warn(NAME, w);
    }
    if args.report.stats {
        let mut fields = ely_cli::counts(t, &counters);
        fields.insert("dry_run".into(), args.write.dry_run.into());
        stats.print(NAME, fields);
    }
    if t.rejected == 0 && t.kept > 0 {
        ely_cli::warn(
            NAME,
            format!(
                "{} repositor(ies) keep their last commit: records of them were rejected before this run resumed (see the dead-letter file)",
                t.kept
            ),
        );
        return Ok(Exit::Rejected);
    }
    if t.rejected > 0 {
        ely_cli::tell_rejected(
            NAME,
            t.rejected,
            "change(s)",
            finished.dead_letter.as_deref(),
            args.write.dry_run,
            "the result lines say why",
        );
        return Ok(Exit::Rejected);
    }
    Ok(Exit::Ok)
}

/// A folder removed, with what is in it, when this is dropped.
struct RemoveOnDrop(std::path::PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
