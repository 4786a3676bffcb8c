//! ely-repo: one command puts a git repository under continuous sync into a collection
//! (clone, first sync through ely-ingest's git mode, cron entry); then status, logs, syncs,
//! pause, resume and remove. The work is in the `ely-repo` library crate; this file parses
//! arguments and prints.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args as ClapArgs, Parser, Subcommand};
use ely_cli::table::{self, Table};
use ely_cli::{usage, Exit};
use ely_repo::add::{self, Request};
use ely_repo::status::{next_sync, status_of, Status};
use ely_repo::sync::{self, Tools};
use ely_repo::{Repo, State, Sync};
use ely_stream::Record;

const NAME: &str = "ely-repo";

const AFTER_HELP: &str = "\
Examples:
  # Put a repository under sync every 30 minutes (clone, first sync, cron entry)
  ely-repo add https://github.com/org/app --schedule 30m --yes
  ely-repo add ~/src/tool --collection Tools --schedule '*/15 * * * *' --store http://weaviate:8080

  # How are they doing?
  ely-repo list
  ely-repo status app
  ely-repo logs app --tail 5
  ely-repo logs --follow --json | jq .error  # each sync as it ends

  # What cron runs; by hand, a sync now
  ely-repo sync --all --cron
  ely-repo sync app

  ely-repo diagnose app                     # what is wrong, and what to do
  ely-repo dashboard                        # live view; q quits (--once: one frame)
  ely-repo update app --branch release --schedule 1h
  ely-repo add-batch repos.txt --store http://weaviate:8080   # URL [key=value ...] per line
  ely-repo pause app && ely-repo resume app
  ely-repo remove app --delete-collection --yes

State is one SQLite file: --state, else $ELY_HOME/repos.db (ELY_HOME defaults to
~/.local/share/ely); clones live in $ELY_HOME/repos/. A token for https sources comes from
GITHUB_TOKEN or GIT_TOKEN and is never printed. docs/REPO.md has the details.

";

/// Keep git repositories in step with collections, from one command.
#[derive(Parser, Debug)]
#[command(name = NAME, version, after_help = format!("{AFTER_HELP}{}", ely_cli::EXIT_CODES_HELP))]
struct Args {
    /// The state file.
    #[arg(long, global = true, value_name = "FILE")]
    state: Option<PathBuf>,

    /// JSON lines on stdout even on a terminal.
    #[arg(long, global = true)]
    json: bool,

    #[command(flatten)]
    report: ely_cli::ReportArgs,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Put a repository under sync: check the source, clone it, sync it once (creating the
    /// collection), install its cron entry. A failure leaves nothing behind.
    Add(Box<AddArgs>),
    /// Every repository, one line each.
    List,
    /// How a repository is doing (every repository without NAME).
    Status { name: Option<String> },
    /// Sync now: fetch, then ingest what was committed since the last sync.
    Sync(SyncArgs),
    /// Sync a failing repository now, whatever its backoff.
    Retry {
        name: String,
        #[command(flatten)]
        limit: LimitArgs,
    },
    /// The history of syncs, with their messages.
    Logs {
        name: Option<String>,
        /// How many syncs.
        #[arg(long, default_value_t = 20)]
        tail: usize,
        /// Then wait for more, showing each sync as it ends (Ctrl-C stops).
        #[arg(long, short = 'f')]
        follow: bool,
    },
    /// Change a repository's settings: schedule, branch (the next sync re-indexes and removes
    /// what the new branch lacks), filters, webhook.
    Update(UpdateArgs),
    /// Add every repository of a file: one `SOURCE [key=value ...]` per line (keys: name,
    /// collection, schedule, store, branch, include, exclude, max-file-size, vectorizer,
    /// model, alert-webhook; include and exclude take comma-separated globs). One line's
    /// failure does not stop the others; each gets a result line.
    AddBatch(AddBatchArgs),
    /// What could keep a repository from syncing, each check with a verdict and what to do.
    Diagnose { name: String },
    /// A live full-screen view of every repository (health, active syncs, totals, success
    /// rate, average sync time, files per hour, storage), refreshed every second; `q` quits.
    /// With --json, each repository's status record instead.
    Dashboard {
        /// Print one frame and exit (for scripts and pipes; the default off a terminal).
        #[arg(long)]
        once: bool,
        /// The frame's width with --once [default: the terminal's, else 100].
        #[arg(long, value_name = "COLUMNS")]
        width: Option<u16>,
        /// The frame's height with --once [default: the terminal's, else 30].
        #[arg(long, value_name = "ROWS")]
        height: Option<u16>,
    },
    /// Stop syncing a repository (its cron entry goes; everything else stays).
    Pause { name: String },
    /// Start syncing a paused repository again.
    Resume { name: String },
    /// Stop syncing and forget a repository: its cron entry, clone and history go.
    Remove {
        name: String,
        /// Delete its collection from the store too.
        #[arg(long)]
        delete_collection: bool,
        /// Do not ask.
        #[arg(long, short = 'y')]
        yes: bool,
    },
}

#[derive(ClapArgs, Debug)]
struct AddArgs {
    /// A git URL (https, ssh, file://) or the path of a local clone.
    source: String,
    /// The repository's name [default: from the source].
    #[arg(long)]
    name: Option<String>,
    /// The collection [default: from the name, e.g. my-app -> MyApp].
    #[arg(long)]
    collection: Option<String>,
    /// When to sync: 30m, 1h, 1d, @hourly, or a cron expression [default: 30m].
    #[arg(long)]
    schedule: Option<String>,
    /// The store (a Weaviate URL or an embedded store's path) [default: as ely-ingest
    /// resolves it now: $ELY_STORE, $WEAVIATE_URL, $ELY_HOME/store.db].
    #[arg(long, value_name = "URL|PATH")]
    store: Option<String>,
    /// The branch [default: the remote's default branch].
    #[arg(long)]
    branch: Option<String>,
    /// Only files matching (repeatable; ely-ingest's --include).
    #[arg(long, value_name = "GLOB")]
    include: Vec<String>,
    /// Not files matching (repeatable; ely-ingest's --exclude).
    #[arg(long, value_name = "GLOB")]
    exclude: Vec<String>,
    /// Larger files are skipped (ely-ingest's --max-file-size).
    #[arg(long, value_name = "SIZE")]
    max_file_size: Option<String>,
    /// The collection's vectorizer when it is created (ely-ingest's --vectorizer).
    #[arg(long)]
    vectorizer: Option<String>,
    /// The vectorizer's model.
    #[arg(long)]
    model: Option<String>,
    /// POST a JSON alert here when a sync fails, and when one succeeds after a failure.
    #[arg(long, value_name = "URL")]
    alert_webhook: Option<String>,
    /// Write the cron entry into this crontab-format file instead of your crontab.
    #[arg(long, value_name = "FILE")]
    crontab_file: Option<PathBuf>,
    /// Do not ask: take the defaults of what is not given (always so when stdin or stderr is
    /// not a terminal). On a terminal without it, a few questions come first, then a preview
    /// to confirm.
    #[arg(long, short = 'y')]
    yes: bool,
}

#[derive(ClapArgs, Debug)]
struct UpdateArgs {
    name: String,
    /// When to sync: 30m, 1h, 1d, @hourly, or a cron expression.
    #[arg(long)]
    schedule: Option<String>,
    /// The branch to sync from now on.
    #[arg(long)]
    branch: Option<String>,
    /// Only files matching (repeatable; replaces the repository's list).
    #[arg(long, value_name = "GLOB")]
    include: Vec<String>,
    /// Not files matching (repeatable; replaces the repository's list).
    #[arg(long, value_name = "GLOB")]
    exclude: Vec<String>,
    /// Larger files are skipped.
    #[arg(long, value_name = "SIZE")]
    max_file_size: Option<String>,
    /// POST alerts here.
    #[arg(long, value_name = "URL", conflicts_with = "no_alert_webhook")]
    alert_webhook: Option<String>,
    /// No alerts any more.
    #[arg(long)]
    no_alert_webhook: bool,
}

#[derive(ClapArgs, Debug)]
struct AddBatchArgs {
    /// The file of repositories, `-` for stdin.
    file: PathBuf,
    /// The store of lines that name none.
    #[arg(long, value_name = "URL|PATH")]
    store: Option<String>,
    /// The schedule of lines that name none.
    #[arg(long, default_value = "30m")]
    schedule: String,
    /// Write the cron entries into this crontab-format file instead of your crontab.
    #[arg(long, value_name = "FILE")]
    crontab_file: Option<PathBuf>,
}

#[derive(ClapArgs, Debug)]
struct SyncArgs {
    /// The repository.
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    name: Option<String>,
    /// Every repository.
    #[arg(long)]
    all: bool,
    /// Repositories synced at once with --all.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=16))]
    parallel: u32,
    /// A scheduled run (what cron runs): paused repositories and failing ones still in their
    /// backoff are left for later.
    #[arg(long)]
    cron: bool,
    #[command(flatten)]
    limit: LimitArgs,
}

#[derive(ClapArgs, Debug)]
struct LimitArgs {
    /// A sync running longer is stopped and fails (exit 3; what it wrote stays, and the next
    /// sync goes on from the last synced commit): a hung sync never holds the lock for ever.
    #[arg(long, value_name = "DURATION", default_value = "2h", value_parser = time_limit)]
    time_limit: std::time::Duration,
}

/// A sync's time limit: a duration above zero.
fn time_limit(s: &str) -> Result<std::time::Duration, String> {
    match ely_cli::parse_duration(s)? {
        d if d.is_zero() => Err("a time limit of zero would stop every sync".into()),
        d => Ok(d),
    }
}

fn main() -> ExitCode {
    ely_cli::start(NAME, run)
}

fn run(args: Args) -> Result<Exit> {
    let path = ely_repo::state::state_path(args.state.as_deref(), |k| std::env::var(k).ok())
        .ok_or_else(|| usage("no state file: give --state FILE, or set ELY_HOME or HOME"))?;
    // One spelling of the path (its folder resolved): cron entries are keyed by it.
    let path = match (path.parent(), path.file_name()) {
        (Some(dir), Some(file)) => std::fs::canonicalize(dir)
            .map(|d| d.join(file))
            .unwrap_or_else(|_| std::path::absolute(&path).unwrap_or(path.clone())),
        _ => std::path::absolute(&path).unwrap_or(path),
    };
    let people = table::for_people(args.json);
    let out = Out {
        people,
        colour: people && table::colours(),
    };
    let quiet = args.report.quiet;
    if let Command::Add(a) = args.command {
        return add_cmd(&path, *a, &out, quiet);
    }
    if let Command::AddBatch(a) = args.command {
        return add_batch(&path, a, &out, quiet);
    }
    if !path.exists() {
        return match args.command {
            Command::List
            | Command::Status { name: None }
            | Command::Logs { name: None, .. }
            | Command::Dashboard { .. } => {
                // A frame asked for says so too, whatever stdout is.
                if out.people || matches!(args.command, Command::Dashboard { once: true, .. }) {
                    println!("no repositories under sync: add one with `ely-repo add URL`");
                }
                Ok(Exit::Ok)
            }
            _ => Err(usage(format!(
                "no repositories yet ({} does not exist): add one with `ely-repo add URL`",
                path.display()
            ))),
        };
    }
    let state = State::open(&path)?;
    match args.command {
        Command::Add(_) | Command::AddBatch(_) => Ok(Exit::Ok),
        Command::Update(a) => update(&state, a),
        Command::Dashboard {
            once,
            width,
            height,
        } => {
            let tty = std::io::stdout().is_terminal() && std::io::stdin().is_terminal();
            if args.json {
                // For scripts: each repository's status record, as `list --json` gives.
                out.statuses(&state, &state.repos()?)?;
            } else if once || !tty {
                let (w, h) = ratatui_size().unwrap_or((100, 30));
                let frame =
                    ely_repo::dashboard::once(&state, width.unwrap_or(w), height.unwrap_or(h))?;
                std::io::stdout().lock().write_all(frame.as_bytes())?;
            } else {
                drop(state);
                ely_repo::dashboard::run(&path)?;
            }
            Ok(Exit::Ok)
        }
        Command::Diagnose { name } => {
            let repo = state.need(&name)?;
            let findings = ely_repo::diagnose::diagnose(&state, &repo);
            out.findings(&findings)?;
            let failed = |check: &str| {
                findings
                    .iter()
                    .any(|f| f.verdict == "fail" && f.check == check)
            };
            Ok(if failed("remote") || failed("store") {
                Exit::Unreachable
            } else if findings.iter().any(|f| f.verdict == "fail") {
                Exit::Fatal
            } else {
                Exit::Ok
            })
        }
        Command::List => {
            let repos = state.repos()?;
            out.statuses(&state, &repos)?;
            Ok(Exit::Ok)
        }
        Command::Status { name } => {
            match name {
                Some(n) => {
                    let repo = state.need(&n)?;
                    out.status_one(&state, &repo)?;
                }
                None => out.statuses(&state, &state.repos()?)?,
            }
            Ok(Exit::Ok)
        }
        Command::Sync(a) => sync_cmd(&state, a, &out, quiet),
        Command::Retry { name, limit } => {
            let repo = state.need(&name)?;
            sync_some(&state, &[repo], "retry", 1, limit.time_limit, &out, quiet)
        }
        Command::Logs { name, tail, follow } => {
            if let Some(n) = &name {
                state.need(n)?;
            }
            let shown = state.syncs(name.as_deref(), tail)?;
            out.syncs(&shown, true)?;
            if follow {
                follow_logs(&state, name.as_deref(), shown, &out)?;
            }
            Ok(Exit::Ok)
        }
        Command::Pause { name } => pause(&state, &name, true),
        Command::Resume { name } => pause(&state, &name, false),
        Command::Remove {
            name,
            delete_collection,
            yes,
        } => remove(&state, &name, delete_collection, yes),
    }
}

fn add_cmd(path: &Path, a: AddArgs, out: &Out, quiet: bool) -> Result<Exit> {
    let home = ely_store::sqlite::folder_of(path);
    let ask = !a.yes && ely_cli::ask::can_ask();
    let mut req = Request {
        source: a.source,
        name: a.name,
        collection: a.collection,
        schedule: a.schedule.clone().unwrap_or_else(|| "30m".into()),
        store: a.store,
        branch: a.branch,
        include: a.include,
        exclude: a.exclude,
        max_file_size: a.max_file_size,
        vectorizer: a.vectorizer,
        model: a.model,
        webhook: a.alert_webhook,
        crontab_file: a.crontab_file,
    };
    if ask {
        if let Err(e) = ask_for(&mut req, a.schedule.is_none()) {
            eprintln!("{NAME}: error: {e:#}: nothing was added");
            return Ok(Exit::Fatal);
        }
    }
    // Every check (the source answering included) before the state file is touched.
    let checked = add::check(&req)?;
    if ask {
        let mut t = Table::new(&["SETTING", "VALUE"]);
        for (k, v) in checked.preview(&home, path) {
            t.row(vec![k.into(), v]);
        }
        eprintln!("\n{}", t.render());
        match ely_cli::ask::choose("Add it?", &["Yes, add it", "No, cancel"], 0)? {
            ely_cli::ask::Choice::Chosen(0) => {}
            ely_cli::ask::Choice::Interrupted => {
                eprintln!("{NAME}: interrupted; nothing was added");
                return Ok(Exit::Interrupted);
            }
            _ => {
                eprintln!("{NAME}: nothing was added");
                return Ok(Exit::Ok);
            }
        }
    }
    let state = State::open(path)?;
    let state = &state;
    let exe = std::env::current_exe().context("finding this program's path for the cron entry")?;
    let mut say = |m: String| {
        if !quiet {
            eprintln!("{NAME}: {m}");
        }
    };
    // The first sync's progress line: files settled of the clone's files.
    let counters = std::sync::Arc::new(ely_stream::Counters::default());
    let progress = ely_cli::Progress::counting(NAME, quiet, counters.clone(), "files");
    let result = add::add(state, checked, &home, &exe, &mut say, Some(counters));
    progress.finish();
    let added = match result {
        Ok(a) => a,
        Err(e) => {
            if let Some(f) = e.downcast_ref::<add::FirstSyncFailed>() {
                eprintln!("{NAME}: error: {f}");
                return Ok(exit_of(f.code));
            }
            return Err(e);
        }
    };
    let repo = &added.repo;
    if !added.installed {
        ely_cli::warn(
            NAME,
            format!(
                "there is no crontab command here: add this line to your crontab by hand (or give --crontab-file):\n{}",
                added.entry
            ),
        );
    }
    if out.people {
        let documents = add::documents(repo).map_or("?".into(), table::count);
        println!(
            "{} is under sync: collection {} holds {} objects ({} files added)",
            repo.name,
            repo.collection,
            documents,
            table::count(added.sync.added)
        );
        println!(
            "next sync: {}",
            next_sync(repo, None).map_or("-".into(), |t| table::local_time(&t))
        );
        println!(
            "check on it: `ely-repo status {0}`, `ely-repo logs {0}`, `ely-repo diagnose {0}`",
            repo.name
        );
    } else {
        out.record_status(state, repo)?;
    }
    Ok(Exit::Ok)
}

/// One line of an add-batch file as a request: `SOURCE key=value ...`.
fn batch_request(line: &str, a: &AddBatchArgs) -> Result<Request, String> {
    let mut words = line.split_whitespace();
    let source = words.next().ok_or("an empty line")?;
    let mut req = Request {
        source: source.into(),
        schedule: a.schedule.clone(),
        store: a.store.clone(),
        crontab_file: a.crontab_file.clone(),
        ..Request::default()
    };
    let globs = |v: &str| {
        v.split(',')
            .filter(|g| !g.is_empty())
            .map(str::to_owned)
            .collect()
    };
    for w in words {
        let (k, v) = w
            .split_once('=')
            .ok_or_else(|| format!("{w:?} is not key=value"))?;
        let v = v.to_owned();
        match k {
            "name" => req.name = Some(v),
            "collection" => req.collection = Some(v),
            "schedule" => req.schedule = v,
            "store" => req.store = Some(v),
            "branch" => req.branch = Some(v),
            "include" => req.include = globs(&v),
            "exclude" => req.exclude = globs(&v),
            "max-file-size" => req.max_file_size = Some(v),
            "vectorizer" => req.vectorizer = Some(v),
            "model" => req.model = Some(v),
            "alert-webhook" => req.webhook = Some(v),
            other => return Err(format!("unknown key {other:?}")),
        }
    }
    Ok(req)
}

/// The result line of one add-batch line.
#[derive(serde::Serialize, serde::Deserialize)]
struct BatchResult {
    line: usize,
    source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

impl Record for BatchResult {
    const KIND: &'static str = "added";
}

/// The wizard's questions, on a terminal: each setting not given, with the suggestion that
/// Enter takes. Answers are checked as they are given.
fn ask_for(req: &mut Request, schedule_unset: bool) -> Result<()> {
    use ely_cli::ask::line;
    eprintln!(
        "{NAME}: adding {}; Enter takes the suggestion in brackets (--yes skips the questions)",
        ely_store::shown(&req.source)
    );
    if req.name.is_none() {
        let suggested = add::name_of(&req.source);
        req.name = Some(line("Repository name", &suggested, add::check_name)?);
    }
    if req.collection.is_none() {
        let suggested = add::collection_of(req.name.as_deref().unwrap_or_default());
        req.collection = Some(line("Collection", &suggested, |c| {
            ely_store::names::check_class_name(c).map_err(|e| e.to_string())
        })?);
    }
    if req.store.is_none() {
        // A URL with credentials in it is never shown, nor suggested (it would be refused).
        let suggested = ely_store::resolve(None, |k| std::env::var(k).ok())
            .map(|l| l.full())
            .unwrap_or_default();
        let suggested = match ely_store::has_credentials(&suggested) {
            true => String::new(),
            false => suggested,
        };
        let store = line(
            "Store (a Weaviate URL or an embedded store's path)",
            &suggested,
            |s| match ely_store::resolve(Some(s), |_| None) {
                Ok(ely_store::Location::Weaviate(u)) if ely_store::has_credentials(&u) => Err(
                    "give the URL without credentials; the API key comes from WEAVIATE_API_KEY"
                        .into(),
                ),
                Ok(_) => Ok(()),
                Err(e) => Err(e.to_string()),
            },
        )?;
        req.store = Some(store);
    }
    if schedule_unset {
        req.schedule = line(
            "Sync schedule (30m, 1h, 1d, @hourly, or a cron expression)",
            &req.schedule,
            |s| ely_schedule::Schedule::parse(s).map(|_| ()),
        )?;
    }
    if req.branch.is_none() {
        let url = add::source_url(&req.source);
        let b = line("Branch (Enter: the remote's default)", "", |b| {
            match b.is_empty() {
                true => Ok(()),
                false => ely_repo::git::check_source(&url, Some(b))
                    .map(|_| ())
                    .map_err(|e| format!("{e:#}")),
            }
        })?;
        req.branch = (!b.is_empty()).then_some(b);
    }
    if req.webhook.is_none() {
        let w = line(
            "Alert webhook URL for failures and recoveries (Enter: none)",
            "",
            |w| match w.is_empty() {
                true => Ok(()),
                false => ely_schedule::alert::check_url(w),
            },
        )?;
        req.webhook = (!w.is_empty()).then_some(w);
    }
    Ok(())
}

fn add_batch(path: &Path, a: AddBatchArgs, out: &Out, quiet: bool) -> Result<Exit> {
    let text = if a.file.as_os_str() == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s).context("reading stdin")?;
        s
    } else {
        std::fs::read_to_string(&a.file).with_context(|| format!("reading {}", a.file.display()))?
    };
    let home = ely_store::sqlite::folder_of(path);
    let exe = std::env::current_exe().context("finding this program's path for the cron entry")?;
    let mut failed = 0;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let source = line.split_whitespace().next().unwrap_or_default();
        let mut result = BatchResult {
            line: i + 1,
            source: ely_store::shown(source),
            name: None,
            ok: false,
            error: None,
        };
        let outcome = batch_request(line, &a)
            .map_err(anyhow::Error::msg)
            .and_then(|req| add::check(&req))
            .and_then(|checked| {
                let state = State::open(path)?;
                let mut say = |m: String| {
                    if !quiet {
                        eprintln!("{NAME}: line {}: {m}", i + 1);
                    }
                };
                add::add(&state, checked, &home, &exe, &mut say, None)
            });
        match outcome {
            Ok(added) => {
                result.ok = true;
                result.name = Some(added.repo.name.clone());
            }
            Err(e) => {
                failed += 1;
                eprintln!("{NAME}: error: {} line {}: {e:#}", a.file.display(), i + 1);
                result.error = Some(format!("{e:#}"));
            }
        }
        if out.people {
            println!(
                "line {}: {} {}",
                result.line,
                result.source,
                if result.ok { "added" } else { "FAILED" }
            );
        } else {
            out.record(&result)?;
        }
    }
    Ok(if failed > 0 { Exit::Rejected } else { Exit::Ok })
}

fn update(state: &State, a: UpdateArgs) -> Result<Exit> {
    let mut repo = state.need(&a.name)?;
    let before = repo.clone();
    // Nothing changes while a sync of it is going.
    let tools = Tools::beside(state.path());
    let Some(_lock) = hold(&tools, &repo.name)? else {
        return Ok(Exit::Unreachable);
    };
    if let Some(s) = &a.schedule {
        let parsed =
            ely_schedule::Schedule::parse(s).map_err(|e| usage(format!("--schedule: {e}")))?;
        repo.schedule = s.clone();
        repo.cron = parsed.cron().to_owned();
    }
    if let Some(w) = &a.alert_webhook {
        ely_schedule::alert::check_url(w).map_err(usage)?;
        repo.webhook = Some(w.clone());
    }
    if a.no_alert_webhook {
        repo.webhook = None;
    }
    if !a.include.is_empty() {
        repo.include = a.include.clone();
    }
    if !a.exclude.is_empty() {
        repo.exclude = a.exclude.clone();
    }
    if let Some(m) = &a.max_file_size {
        repo.max_file_size = Some(m.clone());
    }
    if let Some(b) = &a.branch {
        // The branch must exist before anything changes.
        ely_repo::git::check_source(&repo.url, Some(b))?;
        repo.branch = Some(b.clone());
    }
    // Filters ely-ingest could not read would fail every sync from now on.
    add::check_globs(&repo.include, &repo.exclude).map_err(usage)?;
    if let Some(m) = &repo.max_file_size {
        ely_cli::parse_size(m).map_err(|e| usage(format!("--max-file-size: {e}")))?;
    }
    if repo == before {
        eprintln!(
            "{NAME}: {} unchanged (give what to change; see --help)",
            repo.name
        );
        return Ok(Exit::Ok);
    }
    if repo.cron != before.cron && !repo.paused {
        let exe = std::env::current_exe().context("finding this program's path")?;
        let command = add::cron_command(&repo, &exe, state.path());
        match add::crontab(&repo, state.path()).install(
            &add::cron_key(&repo, state.path()),
            &repo.cron,
            &command,
        ) {
            Ok(_) | Err(ely_schedule::CrontabError::NoCrontab { .. }) => {}
            Err(e) => return Err(anyhow::anyhow!("{e}")),
        }
    }
    // New filters apply to every file, not only to those that change: the next sync goes
    // over the whole repository (what the filters now leave out is removed, what they let
    // in is indexed). Not while a sync of it is going.
    let filters_changed = (&repo.include, &repo.exclude, &repo.max_file_size)
        != (&before.include, &before.exclude, &before.max_file_size);
    state.save(&repo, true)?;
    if filters_changed {
        tools.forget_ingest_state(&repo.name);
    }
    eprintln!(
        "{NAME}: {} updated{}{}",
        repo.name,
        if repo.branch != before.branch {
            "; the next sync switches branch (what the new branch lacks is removed)"
        } else {
            ""
        },
        if filters_changed {
            "; the next sync goes over every file with the new filters (what they leave out is removed)"
        } else {
            ""
        }
    );
    Ok(Exit::Ok)
}

fn sync_cmd(state: &State, a: SyncArgs, out: &Out, quiet: bool) -> Result<Exit> {
    let repos = match &a.name {
        Some(n) => vec![state.need(n)?],
        None => state.repos()?,
    };
    let trigger = if a.cron { "cron" } else { "manual" };
    let mut due = Vec::new();
    for r in repos {
        if a.cron {
            if r.paused || r.pending {
                continue;
            }
            let (failures, last) = state.failures(&r.name)?;
            if let Some(wait_until) = sync::waits_until(failures, last.as_deref()) {
                if !quiet {
                    eprintln!(
                        "{NAME}: {} failed {failures} time{} in a row: the next try is after {} (ely-repo retry {} tries now)",
                        r.name,
                        if failures == 1 { "" } else { "s" },
                        table::local_time(&wait_until.to_string()),
                        r.name
                    );
                }
                continue;
            }
        }
        due.push(r);
    }
    sync_some(
        state,
        &due,
        trigger,
        a.parallel as usize,
        a.limit.time_limit,
        out,
        quiet,
    )
}

/// Syncs the repositories, `parallel` at once; the exit code is the worst of theirs.
fn sync_some(
    state: &State,
    repos: &[Repo],
    trigger: &str,
    parallel: usize,
    limit: std::time::Duration,
    out: &Out,
    quiet: bool,
) -> Result<Exit> {
    let mut tools = Tools::beside(state.path());
    tools.limit = Some(limit);
    let path = state.path().to_owned();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..parallel.min(repos.len()).max(1) {
            scope.spawn(|| {
                // Each thread its own connection to the state file.
                let own = State::open(&path);
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(repo) = repos.get(i) else { break };
                    let result = own
                        .as_ref()
                        .map_err(|e| anyhow::anyhow!("{e:#}"))
                        .and_then(|s| sync::sync(s, repo, trigger, &tools));
                    if let Ok(mut r) = results.lock() {
                        r.push((i, result));
                    }
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_default();
    results.sort_by_key(|(i, _)| *i);
    let mut worst = Exit::Ok;
    let mut done = Vec::new();
    for (i, result) in results {
        let name = &repos[i].name;
        match result {
            Ok((s, code)) => {
                if let Some(e) = &s.error {
                    eprintln!("{NAME}: error: sync of {name} failed: {e}");
                } else if !quiet && out.people {
                    eprintln!(
                        "{NAME}: {name} synced to {}: {} added, {} modified, {} deleted, {} objects written",
                        s.commit.as_deref().map_or("-", |c| &c[..c.len().min(10)]),
                        s.added, s.modified, s.deleted, s.objects
                    );
                }
                if let Some(a) = &s.alert {
                    eprintln!("{NAME}: {a}");
                }
                worst = worse(worst, exit_of(code));
                done.push(s);
            }
            Err(e) if e.downcast_ref::<sync::Busy>().is_some() => {
                eprintln!("{NAME}: {e}");
                worst = worse(worst, Exit::Unreachable);
            }
            Err(e) => {
                eprintln!("{NAME}: error: {name}: {e:#}");
                worst = worse(worst, Exit::Fatal);
            }
        }
    }
    out.syncs(&done, false)?;
    Ok(worst)
}

/// Shows each sync as it ends, after those `shown`, until interrupted: the state file is
/// read every second.
fn follow_logs(state: &State, name: Option<&str>, shown: Vec<Sync>, out: &Out) -> Result<()> {
    // Syncs that had ended when it began are not shown again (whatever --tail showed); one
    // that was running is shown when it ends.
    let known = state.syncs(name, 100)?;
    let mut done: std::collections::HashSet<i64> = known
        .iter()
        .chain(&shown)
        .filter(|s| s.ok.is_some())
        .map(|s| s.id)
        .collect();
    let from = known
        .first()
        .into_iter()
        .chain(shown.first())
        .map(|s| s.id)
        .min()
        .unwrap_or(0);
    loop {
        std::thread::sleep(std::time::Duration::from_secs(1));
        let new: Vec<Sync> = state
            .syncs(name, 100)?
            .into_iter()
            .filter(|s| s.id >= from && s.ok.is_some() && !done.contains(&s.id))
            .collect();
        if new.is_empty() {
            continue;
        }
        done.extend(new.iter().map(|s| s.id));
        out.syncs(&new, true)?;
        std::io::stdout().flush()?;
    }
}

/// The terminal's size, when stdout is one.
fn ratatui_size() -> Option<(u16, u16)> {
    if !std::io::stdout().is_terminal() {
        return None;
    }
    ely_repo::dashboard::terminal_size()
}

fn exit_of(code: i32) -> Exit {
    match code {
        0 => Exit::Ok,
        1 => Exit::Rejected,
        3 => Exit::Unreachable,
        4 => Exit::Verification,
        130 => Exit::Interrupted,
        _ => Exit::Fatal,
    }
}

/// The exit code that says more of what went wrong.
fn worse(a: Exit, b: Exit) -> Exit {
    let rank = |e: Exit| match e {
        Exit::Ok => 0,
        Exit::Rejected => 1,
        Exit::Unreachable => 2,
        Exit::Verification => 3,
        Exit::Fatal => 4,
        Exit::Interrupted => 5,
    };
    if rank(b) > rank(a) {
        b
    } else {
        a
    }
}

/// The lock of `name`'s syncs, for a change no sync may see half-made; `None` (said on
/// stderr) when a sync of it is going.
fn hold(tools: &Tools, name: &str) -> Result<Option<ely_schedule::RunLock>> {
    let lock = ely_schedule::RunLock::try_acquire(&tools.lock(name))?;
    if lock.is_none() {
        eprintln!("{NAME}: error: a sync of {name} is going: try again when it is done");
    }
    Ok(lock)
}

fn pause(state: &State, name: &str, paused: bool) -> Result<Exit> {
    let mut repo = state.need(name)?;
    if repo.paused == paused {
        eprintln!(
            "{NAME}: {name} is {} already",
            if paused { "paused" } else { "syncing" }
        );
        return Ok(Exit::Ok);
    }
    let crontab = add::crontab(&repo, state.path());
    let key = add::cron_key(&repo, state.path());
    let changed = if paused {
        crontab.remove(&key).map(|found| {
            if !found {
                ely_cli::warn(
                    NAME,
                    format!("{} held no entry of {name}", crontab.describe()),
                );
            }
        })
    } else {
        let exe = std::env::current_exe().context("finding this program's path")?;
        let command = add::cron_command(&repo, &exe, state.path());
        crontab.install(&key, &repo.cron, &command).map(|_| ())
    };
    match changed {
        Ok(()) | Err(ely_schedule::CrontabError::NoCrontab { .. }) => {}
        Err(e) => return Err(anyhow::anyhow!("{e}")),
    }
    repo.paused = paused;
    state.save(&repo, true)?;
    eprintln!(
        "{NAME}: {name} {}; its entry {} {}",
        if paused { "paused" } else { "resumed" },
        if paused { "removed from" } else { "is back in" },
        crontab.describe()
    );
    Ok(Exit::Ok)
}

fn remove(state: &State, name: &str, delete_collection: bool, yes: bool) -> Result<Exit> {
    let repo = state.need(name)?;
    if delete_collection {
        // Another repository syncing into the collection would lose its objects.
        let sharing: Vec<String> = state
            .repos()?
            .into_iter()
            .filter(|r| {
                r.name != repo.name && r.collection == repo.collection && r.store == repo.store
            })
            .map(|r| r.name)
            .collect();
        if !sharing.is_empty() {
            return Err(usage(format!(
                "collection {} is also synced from {}: remove without --delete-collection, or remove those first",
                repo.collection,
                sharing.join(", ")
            )));
        }
    }
    if !yes && std::io::stdin().is_terminal() {
        eprint!(
            "{NAME}: remove {name} (its cron entry, clone and history{})? [y/N] ",
            if delete_collection {
                format!(", and collection {}", repo.collection)
            } else {
                String::new()
            }
        );
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            eprintln!("{NAME}: nothing removed");
            return Ok(Exit::Ok);
        }
    }
    // No sync of it may be going while it is taken apart.
    let tools = Tools::beside(state.path());
    let Some(_lock) = hold(&tools, name)? else {
        return Ok(Exit::Unreachable);
    };
    // The cron entry first (nothing starts a sync after it), the collection last.
    match add::crontab(&repo, state.path()).remove(&add::cron_key(&repo, state.path())) {
        Ok(_) | Err(ely_schedule::CrontabError::NoCrontab { .. }) => {}
        Err(e) => return Err(anyhow::anyhow!("{e}")),
    }
    state.remove(name)?;
    tools.forget_ingest_state(name);
    let _ = std::fs::remove_dir_all(&repo.path);
    if delete_collection {
        let loc = ely_store::resolve(Some(&repo.store), |_| None)?;
        let store = ely_store::open_existing(&loc, &ely_store::OpenOptions::from_env())?;
        store.delete_class(&repo.collection)?;
    }
    eprintln!(
        "{NAME}: {name} removed{}",
        if delete_collection {
            format!(" with collection {}", repo.collection)
        } else {
            format!("; collection {} stays", repo.collection)
        }
    );
    Ok(Exit::Ok)
}

/// The last sync as a cell: its time and whether it succeeded.
fn last_sync(s: &Status) -> String {
    match &s.last_sync {
        Some(t) => format!(
            "{} {}",
            table::local_time(t),
            if s.last_ok == Some(true) {
                "ok"
            } else {
                "failed"
            }
        ),
        None => "never".into(),
    }
}

struct Out {
    people: bool,
    /// Colours on the terminal (not with NO_COLOR).
    colour: bool,
}

/// A status as a table shows it: with its symbol, in its colour.
fn status_cell(status: &str, colour: bool) -> String {
    let (symbol, tone) = match status {
        "healthy" => ("✓", table::Tone::Good),
        "retrying" => ("↻", table::Tone::Warn),
        "failing" => ("✗", table::Tone::Bad),
        "paused" => ("‖", table::Tone::Quiet),
        _ => ("…", table::Tone::Quiet),
    };
    table::paint(&format!("{symbol} {status}"), tone, colour)
}

impl Out {
    fn record(&self, r: &impl Record) -> Result<()> {
        Ok(table::print_record(r)?)
    }

    fn record_status(&self, state: &State, repo: &Repo) -> Result<()> {
        self.record(&status_of(state, repo)?)
    }

    fn statuses(&self, state: &State, repos: &[Repo]) -> Result<()> {
        let statuses = repos
            .iter()
            .map(|r| status_of(state, r))
            .collect::<Result<Vec<_>>>()?;
        if !self.people {
            for s in &statuses {
                self.record(s)?;
            }
            return Ok(());
        }
        if statuses.is_empty() {
            println!("no repositories under sync: add one with `ely-repo add URL`");
            return Ok(());
        }
        let mut t = Table::new(&[
            "REPOSITORY",
            "COLLECTION",
            ">DOCUMENTS",
            "LAST SYNC",
            "NEXT SYNC",
            "STATUS",
        ]);
        for s in &statuses {
            t.row(vec![
                s.name.clone(),
                s.collection.clone(),
                s.documents.map_or("?".into(), table::count),
                last_sync(s),
                s.next_sync.as_deref().map_or("-".into(), table::local_time),
                status_cell(&s.status, self.colour),
            ]);
        }
        t.print()?;
        Ok(())
    }

    fn status_one(&self, state: &State, repo: &Repo) -> Result<()> {
        let s = status_of(state, repo)?;
        if !self.people {
            return self.record(&s);
        }
        let recent = state.syncs(Some(&repo.name), 5)?;
        let changes: Vec<String> = recent
            .iter()
            .rev()
            .filter(|r| r.ok == Some(true))
            .map(|r| {
                format!(
                    "{}: {} added, {} modified, {} deleted",
                    table::local_time(&r.started),
                    r.added,
                    r.modified,
                    r.deleted
                )
            })
            .collect();
        let rows = [
            (
                "source",
                format!("{} ({})", s.url, s.branch.clone().unwrap_or_default()),
            ),
            (
                "collection",
                format!(
                    "{} in {} ({} objects)",
                    s.collection,
                    s.store,
                    s.documents.map_or("?".into(), table::count)
                ),
            ),
            ("last sync", last_sync(&s)),
            (
                "next sync",
                s.next_sync
                    .as_deref()
                    .map_or("- (paused)".into(), table::local_time),
            ),
            (
                "recent",
                if changes.is_empty() {
                    "-".into()
                } else {
                    changes.join("; ")
                },
            ),
            (
                "success",
                s.success_rate.map_or("-".into(), |r| {
                    format!("{:.0}% of {} syncs", r * 100.0, s.syncs)
                }),
            ),
            (
                "last error",
                s.last_error.clone().unwrap_or_else(|| "-".into()),
            ),
        ];
        let mut text = format!("{}  {}\n", s.name, status_cell(&s.status, self.colour));
        for (i, (k, v)) in rows.iter().enumerate() {
            let branch = if i + 1 == rows.len() {
                "└─"
            } else {
                "├─"
            };
            text.push_str(&format!("{branch} {k:<11} {v}\n"));
        }
        std::io::stdout().lock().write_all(text.as_bytes())?;
        Ok(())
    }

    fn findings(&self, findings: &[ely_repo::diagnose::Finding]) -> Result<()> {
        if !self.people {
            for f in findings {
                self.record(f)?;
            }
            return Ok(());
        }
        let mut t = Table::new(&["CHECK", "VERDICT", "DETAIL", "WHAT TO DO"]);
        for f in findings {
            t.row(vec![
                f.check.clone(),
                {
                    let (symbol, tone) = match f.verdict.as_str() {
                        "ok" | "pass" => ("✓", table::Tone::Good),
                        "fail" => ("✗", table::Tone::Bad),
                        _ => ("!", table::Tone::Warn),
                    };
                    table::paint(
                        &format!("{symbol} {}", f.verdict.to_uppercase()),
                        tone,
                        self.colour,
                    )
                },
                f.detail.clone(),
                f.advice.clone(),
            ]);
        }
        t.print()?;
        Ok(())
    }

    fn syncs(&self, syncs: &[Sync], with_messages: bool) -> Result<()> {
        if !self.people {
            for s in syncs {
                self.record(s)?;
            }
            return Ok(());
        }
        if syncs.is_empty() {
            return Ok(());
        }
        let mut t = Table::new(&[
            "SYNC",
            "REPOSITORY",
            "STARTED",
            "TRIGGER",
            "RESULT",
            ">ADDED",
            ">MODIFIED",
            ">DELETED",
            ">OBJECTS",
            "ERROR",
        ]);
        for s in syncs {
            t.row(vec![
                s.id.to_string(),
                s.repo.clone(),
                table::local_time(&s.started),
                s.trigger.clone(),
                match s.ok {
                    Some(true) => table::paint("✓ ok", table::Tone::Good, self.colour),
                    Some(false) => table::paint(
                        &format!("✗ FAILED (exit {})", s.exit_code.unwrap_or(2)),
                        table::Tone::Bad,
                        self.colour,
                    ),
                    None => table::paint("… running or killed", table::Tone::Warn, self.colour),
                },
                s.added.to_string(),
                s.modified.to_string(),
                s.deleted.to_string(),
                s.objects.to_string(),
                s.error.clone().unwrap_or_default(),
            ]);
        }
        t.print()?;
        if with_messages {
            for s in syncs.iter().filter(|s| !s.messages.is_empty()) {
                println!("\nsync {} of {}:", s.id, s.repo);
                for l in s.messages.lines() {
                    println!("  {l}");
                }
            }
        }
        Ok(())
    }
}
