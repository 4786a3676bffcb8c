//! ely-catalog: every backup ely wrote, known (one SQLite file), verified, and kept or
//! removed by a retention policy; backup plans that cron runs, with alerts. The work is in
//! the `ely-catalog` library crate; this file parses arguments and prints.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args as ClapArgs, Parser, Subcommand};
use ely_catalog::cleanup::{self, Decision, GroupBy};
use ely_catalog::db::{AddExtra, Added, Run};
use ely_catalog::plan::{self, Plan};
use ely_catalog::policy::{Age, Policy};
use ely_catalog::verify::{self, Mode};
use ely_catalog::{Backup, Catalog, Check, Filter, Status};
use ely_cli::table::{self, Table};
use ely_cli::{usage, Exit};
use ely_stream::{Manifest, Record};
use jiff::tz::TimeZone;

const NAME: &str = "ely-catalog";

const AFTER_HELP: &str = "\
Examples:
  # Record what ely-backup wrote, or files ely wrote earlier
  ely-backup --collection Code -o /backups/code.jsonl.zst | ely-catalog add --tag nightly
  ely-catalog add --scan /backups

  # What is there, and is it intact?
  ely-catalog list --collection Code --latest 5
  ely-catalog show 1a2b3c4d
  ely-catalog verify --all              # size and hash of every file
  ely-catalog verify --all --sample 10  # and a full read of 10% of them

  # Retention: see what would go, then do it
  ely-catalog cleanup --keep-daily 7 --keep-weekly 4 --keep-monthly 12 --dry-run
  ely-catalog pin 1a2b3c4d              # kept by every policy
  ely-catalog cleanup --keep-daily 7 --keep-weekly 4 --keep-monthly 12

  # Nightly backups at 02:00 with retention and an alert on failure
  ely-catalog schedule add nightly --collection Code --every '0 2 * * *' --to /backups \\
    --keep-daily 7 --keep-weekly 4 --alert-webhook https://hooks.example.com/T0/B0/XX
  ely-catalog schedule list

On a terminal, list, show, stats and schedule list print tables; in a pipe (or with
--json), one JSON line per record. docs/CATALOG.md has the details.

";

/// The catalog of ely's backups: what exists, whether it is intact, what can go.
///
/// Backups are files ely-backup (or ely-convert) wrote; the catalog records each one's file,
/// size, hash, format, collections and counts, source, times, tags and note, and the last
/// verification. The catalog is one SQLite file: --catalog, else $ELY_CATALOG, else
/// $ELY_HOME/catalog.db (ELY_HOME defaults to ~/.local/share/ely).
#[derive(Parser, Debug)]
#[command(name = NAME, version, after_help = format!("{AFTER_HELP}{}", ely_cli::EXIT_CODES_HELP))]
struct Args {
    /// The catalog file.
    #[arg(long, global = true, value_name = "FILE")]
    catalog: Option<PathBuf>,

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
    /// Record backups: manifest lines on stdin (what ely-backup -o prints), or files ely
    /// wrote (read to their end: collections and counts from their headers and trailers).
    /// Adding a file again changes nothing but its tags and note.
    Add(AddArgs),
    /// List backups, oldest first.
    List(ListArgs),
    /// Everything the catalog knows of one backup (by id, or its first 4+ digits).
    Show { id: String },
    /// Backups whose file, collection, source, tag, note, plan or id contains TEXT.
    Search { text: String },
    /// Per collection: backups, newest, total size, growth, success rate of scheduled runs.
    Stats,
    /// Verify backups: quick (the file is there with its size and hash) unless --deep (every
    /// line, count and trailer read and checked) or --sample PCT. Exit 4 when any fails.
    #[command(after_help = "\
Examples:
  ely-catalog verify 1a2b3c4d --deep
  ely-catalog verify --all                   # every file: present, size, hash
  ely-catalog verify --all --sample 10       # and a full read of a random 10%
  ely-catalog verify --collection Code --since 7d --deep")]
    Verify(VerifyArgs),
    /// Apply a retention policy: remove the backups (files and rows) it does not keep.
    #[command(after_help = "\
Examples:
  ely-catalog cleanup --keep-daily 7 --keep-weekly 4 --keep-monthly 12 --dry-run
  ely-catalog cleanup --keep-last 3 --collection Code --source http://weaviate:8080
  ely-catalog cleanup --older-than 90d --group-by none

The rules are restic's: per group, the newest backup of each of the N newest days (hours,
weeks, months, years) that have one, in the local time zone (TZ); the oldest too while a
rule has count left. Pinned backups are always kept. docs/CATALOG.md has the details.")]
    Cleanup(CleanupArgs),
    /// Protect backups from every retention policy.
    Pin { ids: Vec<String> },
    /// Remove the protection of `pin`.
    Unpin { ids: Vec<String> },
    /// Drop backups from the catalog; their files stay.
    Forget { ids: Vec<String> },
    /// Backup plans that cron runs.
    #[command(subcommand)]
    Schedule(ScheduleCommand),
}

#[derive(ClapArgs, Debug)]
struct AddArgs {
    /// Files ely wrote (JSONL in any compression, Parquet); manifest lines from stdin when
    /// none is given and no --scan.
    files: Vec<PathBuf>,
    /// Every file ely wrote under DIR (others are skipped).
    #[arg(long, value_name = "DIR")]
    scan: Vec<PathBuf>,
    /// A tag for the added backups (repeatable).
    #[arg(long = "tag", value_name = "TAG")]
    tags: Vec<String>,
    /// A note for the added backups.
    #[arg(long, value_name = "TEXT")]
    note: Option<String>,
}

#[derive(ClapArgs, Debug, Clone)]
struct FilterArgs {
    /// Backups holding this collection (repeatable: any of them).
    #[arg(long = "collection", value_name = "NAME")]
    collections: Vec<String>,
    /// Backups from this store, as `list` shows it.
    #[arg(long, value_name = "STORE")]
    source: Option<String>,
    /// Backups with this tag (repeatable: all of them).
    #[arg(long = "tag", value_name = "TAG")]
    tags: Vec<String>,
    /// Backups started at or after: RFC 3339, a date (local midnight), or an age (7d, 12h).
    #[arg(long, value_name = "WHEN", value_parser = parse_when)]
    since: Option<i64>,
    /// Backups started before: RFC 3339, a date, or an age.
    #[arg(long, value_name = "WHEN", value_parser = parse_when)]
    until: Option<i64>,
    /// Backups a plan's runs wrote.
    #[arg(long, value_name = "NAME")]
    plan: Option<String>,
}

impl FilterArgs {
    fn filter(&self) -> Filter {
        Filter {
            collections: self.collections.clone(),
            source: self.source.clone(),
            tags: self.tags.clone(),
            since: self.since,
            until: self.until,
            plan: self.plan.clone(),
            status: None,
            latest: None,
        }
    }

    fn is_empty(&self) -> bool {
        self.collections.is_empty()
            && self.source.is_none()
            && self.tags.is_empty()
            && self.since.is_none()
            && self.until.is_none()
            && self.plan.is_none()
    }
}

#[derive(ClapArgs, Debug)]
struct ListArgs {
    #[command(flatten)]
    filter: FilterArgs,
    /// Only the newest N.
    #[arg(long, value_name = "N")]
    latest: Option<usize>,
    /// Only backups in this state: ok, failed, missing, removing, unverified.
    #[arg(long, value_name = "STATUS", value_parser = Status::parse)]
    status: Option<Status>,
}

#[derive(ClapArgs, Debug)]
struct VerifyArgs {
    /// Backups by id (or their first 4+ digits).
    ids: Vec<String>,
    /// Every backup (that the filters pick).
    #[arg(long, conflicts_with = "ids")]
    all: bool,
    #[command(flatten)]
    filter: FilterArgs,
    /// Read every line and check counts and trailers too.
    #[arg(long, conflicts_with = "sample")]
    deep: bool,
    /// Deep-check a random PCT percent of the backups, quick-check the rest.
    #[arg(long, value_name = "PCT", value_parser = clap::value_parser!(u8).range(0..=100))]
    sample: Option<u8>,
}

#[derive(ClapArgs, Debug, Clone, Default)]
struct KeepArgs {
    /// Keep the N newest backups.
    #[arg(long, value_name = "N")]
    keep_last: Option<u32>,
    /// Keep the newest backup of each of the N newest hours that have one.
    #[arg(long, value_name = "N")]
    keep_hourly: Option<u32>,
    /// Keep the newest backup of each of the N newest days that have one.
    #[arg(long, value_name = "N")]
    keep_daily: Option<u32>,
    /// Keep the newest backup of each of the N newest ISO weeks that have one.
    #[arg(long, value_name = "N")]
    keep_weekly: Option<u32>,
    /// Keep the newest backup of each of the N newest months that have one.
    #[arg(long, value_name = "N")]
    keep_monthly: Option<u32>,
    /// Keep the newest backup of each of the N newest years that have one.
    #[arg(long, value_name = "N")]
    keep_yearly: Option<u32>,
    /// Keep every backup started within DURATION of the group's newest (h, d, w, mo, y).
    #[arg(long, value_name = "DURATION", value_parser = Age::parse)]
    keep_within: Option<Age>,
    /// Remove only backups older than DURATION (counted from now); alone, remove all of them.
    #[arg(long, value_name = "DURATION", value_parser = Age::parse)]
    older_than: Option<Age>,
}

impl KeepArgs {
    fn policy(&self) -> Policy {
        Policy {
            last: self.keep_last,
            hourly: self.keep_hourly,
            daily: self.keep_daily,
            weekly: self.keep_weekly,
            monthly: self.keep_monthly,
            yearly: self.keep_yearly,
            within: self.keep_within.clone(),
            older_than: self.older_than.clone(),
        }
    }
}

#[derive(ClapArgs, Debug)]
struct CleanupArgs {
    #[command(flatten)]
    keep: KeepArgs,
    /// What the policy applies to separately: collection, source, plan (comma-separated),
    /// or none.
    #[arg(long, value_name = "KEYS", default_value = "collection,source", value_parser = |s: &str| cleanup::parse_group_by(s).map(Groups))]
    group_by: Groups,
    /// Print each backup's verdict and reason; change nothing.
    #[arg(long, short = 'n')]
    dry_run: bool,
    #[command(flatten)]
    filter: FilterArgs,
}

/// What `--group-by` names.
#[derive(Debug, Clone)]
struct Groups(Vec<GroupBy>);

#[derive(Subcommand, Debug)]
enum ScheduleCommand {
    /// Record a backup plan and install its cron entry (in the managed `# BEGIN ely` block of
    /// your crontab, or --crontab-file).
    #[command(after_help = "\
Examples:
  ely-catalog schedule add nightly --collection Code --every '0 2 * * *' --to /backups \\
    --keep-daily 7 --keep-weekly 4 --alert-webhook https://hooks.example.com/services/T0/B0/XX
  ely-catalog schedule add hourly-docs --collection Docs --every 1h --to /backups/docs \\
    --format parquet --keep-hourly 24 --keep-daily 7 --store http://weaviate:8080

cron runs `ely-catalog schedule run NAME`; its output goes to logs/<catalog>-NAME.log beside
the catalog. A Weaviate that needs a key: set WEAVIATE_API_KEY in the crontab's environment.")]
    Add(Box<ScheduleAddArgs>),
    /// The plans, their schedules, last runs and next runs.
    List,
    /// Remove a plan and its cron entry (its backups stay).
    Remove {
        name: String,
        /// The crontab file the entry is in, when not the one the plan recorded.
        #[arg(long, value_name = "FILE")]
        crontab_file: Option<PathBuf>,
    },
    /// Run a plan now (what cron calls): back up, add, verify, apply retention, record,
    /// alert. Exit 0, or ely-backup's exit code (3: store unreachable), 4 if a file did not
    /// verify, 3 also when another run of the plan is still going.
    Run { name: String },
    /// The plan's recent runs, newest last.
    Runs {
        name: Option<String>,
        /// How many.
        #[arg(long, default_value_t = 20)]
        tail: usize,
    },
}

#[derive(ClapArgs, Debug)]
struct ScheduleAddArgs {
    /// The plan's name (letters, digits, - and _).
    name: String,
    /// A collection to back up (repeatable).
    #[arg(
        long = "collection",
        value_name = "NAME",
        required_unless_present = "all"
    )]
    collections: Vec<String>,
    /// Every collection of the store.
    #[arg(long, conflicts_with = "collections")]
    all: bool,
    /// The store: a Weaviate URL (no credentials: cron's WEAVIATE_API_KEY is used) or an
    /// embedded store's path. Default: as ely-backup resolves it now ($ELY_STORE,
    /// $WEAVIATE_URL, $ELY_HOME/store.db).
    #[arg(long, value_name = "URL|PATH")]
    store: Option<String>,
    /// When: 30m, 1h, 6h, 1d, 1w, @daily, or a cron expression ('0 2 * * *').
    #[arg(long, value_name = "WHEN")]
    every: String,
    /// The folder backups go to.
    #[arg(long, value_name = "DIR")]
    to: PathBuf,
    /// jsonl.zst, jsonl.gz, jsonl.lz4, jsonl or parquet.
    #[arg(long, default_value = "jsonl.zst")]
    format: String,
    #[command(flatten)]
    keep: KeepArgs,
    /// POST a JSON alert here when a run fails, and when one succeeds after a failure.
    #[arg(long, value_name = "URL")]
    alert_webhook: Option<String>,
    /// A tag for the plan's backups (repeatable).
    #[arg(long = "tag", value_name = "TAG")]
    tags: Vec<String>,
    /// Write the cron entry into this crontab-format file instead of your crontab.
    #[arg(long, value_name = "FILE")]
    crontab_file: Option<PathBuf>,
    /// Replace a plan of the same name.
    #[arg(long)]
    replace: bool,
}

/// `--since`/`--until`: RFC 3339, a date (local midnight), or an age back from now.
fn parse_when(s: &str) -> Result<i64, String> {
    if let Ok(t) = s.parse::<jiff::Timestamp>() {
        return Ok(t.as_microsecond());
    }
    if let Ok(d) = s.parse::<jiff::civil::Date>() {
        return d
            .to_zoned(TimeZone::system())
            .map(|z| z.timestamp().as_microsecond())
            .map_err(|e| format!("{s}: {e}"));
    }
    if let Ok(age) = Age::parse(s) {
        return age
            .before(&jiff::Zoned::now())
            .map(|z| z.timestamp().as_microsecond())
            .ok_or_else(|| format!("{s} is too far back"));
    }
    Err(format!(
        "'{s}' is not a time: use RFC 3339 (2026-11-27T02:00:00Z), a date (2026-11-27) or an age (7d)"
    ))
}

fn main() -> ExitCode {
    ely_cli::start(NAME, run)
}

fn run(args: Args) -> Result<Exit> {
    let path = ely_catalog::catalog_path(args.catalog.as_deref(), |k| std::env::var(k).ok())
        .ok_or_else(|| {
            usage("no catalog: give --catalog FILE, or set ELY_CATALOG, ELY_HOME or HOME")
        })?;
    let path = std::path::absolute(&path).unwrap_or(path);
    let people = table::for_people(args.json);
    // Only adding creates a catalog; every other command needs one to exist.
    let mut catalog = match &args.command {
        Command::Add(_) | Command::Schedule(ScheduleCommand::Add(_)) => Catalog::open(&path)?,
        _ => Catalog::open_existing(&path)?,
    };
    let out = Out { people };
    match args.command {
        Command::Add(a) => add(&mut catalog, a, &out),
        Command::List(a) => {
            let filter = Filter {
                latest: a.latest,
                status: a.status,
                ..a.filter.filter()
            };
            out.backups(&catalog.find(&filter)?)?;
            Ok(Exit::Ok)
        }
        Command::Show { id } => {
            out.show(&catalog.get(&id)?)?;
            Ok(Exit::Ok)
        }
        Command::Search { text } => {
            out.backups(&catalog.search(&text)?)?;
            Ok(Exit::Ok)
        }
        Command::Stats => {
            out.stats(&catalog.stats()?)?;
            Ok(Exit::Ok)
        }
        Command::Verify(a) => verify_cmd(&mut catalog, a, &out),
        Command::Cleanup(a) => cleanup_cmd(&mut catalog, a, &out),
        Command::Pin { ids } => each(&catalog, &ids, "pinned", |c, b| c.set_pinned(b.seq, true)),
        Command::Unpin { ids } => each(&catalog, &ids, "unpinned", |c, b| {
            c.set_pinned(b.seq, false)
        }),
        Command::Forget { ids } => each(&catalog, &ids, "forgotten (the file stays)", |c, b| {
            c.forget(b.seq)
        }),
        Command::Schedule(s) => schedule(&mut catalog, s, &out, args.report.quiet),
    }
}

/// Applies `f` to each backup named, after every id was found (a typo changes nothing).
fn each(
    catalog: &Catalog,
    ids: &[String],
    done: &str,
    f: impl Fn(&Catalog, &Backup) -> Result<()>,
) -> Result<Exit> {
    if ids.is_empty() {
        return Err(usage(
            "give the ids of the backups (see `ely-catalog list`)",
        ));
    }
    let backups = ids
        .iter()
        .map(|id| catalog.get(id))
        .collect::<Result<Vec<_>>>()?;
    for b in &backups {
        f(catalog, b)?;
        eprintln!("{NAME}: {} {done}: {}", b.short_id, b.file);
    }
    Ok(Exit::Ok)
}

fn add(catalog: &mut Catalog, a: AddArgs, out: &Out) -> Result<Exit> {
    let mut extra = AddExtra {
        tags: a.tags.clone(),
        note: a.note.clone(),
        ..AddExtra::default()
    };
    let mut rejected = 0u64;
    let mut files: Vec<(PathBuf, bool)> = a.files.iter().map(|f| (f.clone(), true)).collect();
    for dir in &a.scan {
        let found = scan(dir).with_context(|| format!("scanning {}", dir.display()))?;
        files.extend(found.into_iter().map(|f| (f, false)));
    }
    let mut seen_on_stdin = 0u64;
    if a.files.is_empty() && a.scan.is_empty() {
        // Manifest lines on stdin.
        if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
            eprintln!("{NAME}: reading manifest lines from the terminal; pipe ely-backup -o FILE in, or give files (add FILE...), or end with Ctrl-D");
        }
        let stdin = std::io::stdin().lock();
        let mut seen = 0u64;
        for (i, line) in stdin.split(b'\n').enumerate() {
            let line = line.context("reading stdin")?;
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            seen += 1;
            let n = i + 1;
            let mut m = match Manifest::from_line(&line) {
                Ok(m) => m,
                Err(e) => {
                    ely_cli::warn(NAME, format!("<stdin> line {n}: not a manifest line: {e}; it is skipped (ely-backup prints one per file it writes with -o)"));
                    rejected += 1;
                    continue;
                }
            };
            // A relative path is the file as this command sees it; the catalog keeps it whole.
            if let Ok(abs) = std::path::absolute(&m.file) {
                m.file = abs.display().to_string();
            }
            match std::fs::metadata(&m.file) {
                Ok(meta) if meta.len() == m.bytes => {}
                Ok(meta) => {
                    ely_cli::warn(NAME, format!("<stdin> line {n}: {} is {} bytes, its manifest says {}: not added (add the file itself to read what it holds)", m.file, meta.len(), m.bytes));
                    rejected += 1;
                    continue;
                }
                Err(e) => {
                    ely_cli::warn(
                        NAME,
                        format!("<stdin> line {n}: {}: {e}: not added", m.file),
                    );
                    rejected += 1;
                    continue;
                }
            }
            match catalog.add(&m, &extra) {
                Ok((action, b)) => out.added(action, &b)?,
                Err(e) => {
                    ely_cli::warn(
                        NAME,
                        format!("<stdin> line {n}: {}: {e:#}: not added", m.file),
                    );
                    rejected += 1;
                }
            }
        }
        seen_on_stdin = seen;
    }
    if a.files.is_empty() && a.scan.is_empty() && seen_on_stdin == 0 {
        return Err(anyhow::anyhow!(
            "nothing to add: no manifest line came on stdin (did the command before the pipe fail? ely-backup prints one line per file it writes with -o)"
        ));
    }
    let mut skipped = 0u64;
    for (file, named) in files {
        let found = match ely_catalog::inspect::inspect(&file) {
            Ok(f) => f,
            Err(e) if named => {
                ely_cli::warn(NAME, format!("{}: {e:#}: not added", file.display()));
                rejected += 1;
                continue;
            }
            Err(_) => {
                skipped += 1;
                continue;
            }
        };
        let Some(found) = found else {
            if named {
                ely_cli::warn(
                    NAME,
                    format!(
                        "{}: not a file ely wrote (no ely header in it): not added",
                        file.display()
                    ),
                );
                rejected += 1;
            } else {
                skipped += 1;
            }
            continue;
        };
        if let Some(e) = &found.error {
            ely_cli::warn(
                NAME,
                format!("{}: added, but it failed verification: {e}", file.display()),
            );
        }
        extra.check = Some(Check {
            at: ely_vocab::date::now_rfc3339(),
            mode: Mode::Deep.name().into(),
            ok: found.error.is_none(),
            error: found.error.clone(),
        });
        match catalog.add(&found.manifest, &extra) {
            Ok((action, b)) => out.added(action, &b)?,
            Err(e) => {
                ely_cli::warn(NAME, format!("{}: {e:#}: not added", file.display()));
                rejected += 1;
            }
        }
    }
    if skipped > 0 && out.people {
        eprintln!("{NAME}: {skipped} files under --scan are not ely backups: skipped");
    }
    Ok(if rejected > 0 {
        Exit::Rejected
    } else {
        Exit::Ok
    })
}

/// Regular files under `dir` (not hidden ones, not the temporaries of files being written).
fn scan(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)? {
            let e = e?;
            let name = e.file_name();
            if name.to_string_lossy().starts_with('.') {
                continue;
            }
            let kind = e.file_type()?;
            if kind.is_dir() {
                stack.push(e.path());
            } else if kind.is_file() {
                out.push(e.path());
            }
        }
    }
    out.sort();
    Ok(out)
}

fn verify_cmd(catalog: &mut Catalog, a: VerifyArgs, out: &Out) -> Result<Exit> {
    let backups = if a.all || (a.ids.is_empty() && !a.filter.is_empty()) {
        catalog.find(&a.filter.filter())?
    } else if a.ids.is_empty() {
        return Err(usage("give backup ids, or --all"));
    } else {
        a.ids
            .iter()
            .map(|id| catalog.get(id))
            .collect::<Result<Vec<_>>>()?
    };
    let deep_share = match (a.deep, a.sample) {
        (true, _) => 1.0,
        (false, Some(p)) => f64::from(p) / 100.0,
        (false, None) => 0.0,
    };
    // A random share, exact in number: ceil(share x count) backups read deeply.
    let deep_count = (deep_share * backups.len() as f64).ceil() as usize;
    let mut order: Vec<usize> = (0..backups.len()).collect();
    shuffle(&mut order);
    let mut deep = vec![false; backups.len()];
    for &i in order.iter().take(deep_count) {
        deep[i] = true;
    }
    let mut failed = 0;
    for (b, deep) in backups.iter().zip(deep) {
        let mode = if deep { Mode::Deep } else { Mode::Quick };
        let check = verify::check(b, mode);
        catalog.record_check(b.seq, &check)?;
        if let Some(e) = &check.error {
            failed += 1;
            ely_cli::warn(
                NAME,
                format!(
                    "backup {} ({}) failed {} verification: {e}",
                    b.short_id, b.file, check.mode
                ),
            );
        }
        out.verified(b, &check)?;
    }
    if failed > 0 {
        eprintln!(
            "{NAME}: error: {failed} of {} backups failed verification",
            backups.len()
        );
        return Ok(Exit::Verification);
    }
    Ok(Exit::Ok)
}

/// Fisher-Yates with a seed from the clock and the process id: a sample differs run to run.
fn shuffle(v: &mut [usize]) {
    let mut x = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
        ^ (u64::from(std::process::id()) << 32)
        | 1;
    for i in (1..v.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let j = (x % (i as u64 + 1)) as usize;
        v.swap(i, j);
    }
}

fn cleanup_cmd(catalog: &mut Catalog, a: CleanupArgs, out: &Out) -> Result<Exit> {
    let policy = a.keep.policy();
    if policy.is_empty() {
        return Err(usage(
            "no retention rule: give --keep-last, --keep-daily (or hourly, weekly, monthly, yearly), --keep-within or --older-than",
        ));
    }
    let decisions = cleanup::decide(
        catalog,
        &a.filter.filter(),
        &policy,
        &a.group_by.0,
        jiff::Timestamp::now(),
        &TimeZone::system(),
    )?;
    out.decisions(&decisions)?;
    let removing = decisions.iter().filter(|d| !d.keep()).count();
    if a.dry_run {
        eprintln!(
            "{NAME}: dry run: {} backups would be kept, {removing} removed ({})",
            decisions.len() - removing,
            policy.describe()
        );
        return Ok(Exit::Ok);
    }
    let removed = cleanup::remove(catalog, &decisions)?;
    for (id, e) in &removed.failed {
        ely_cli::warn(NAME, format!("backup {id}: not removed: {e}"));
    }
    for (id, file) in &removed.replaced {
        ely_cli::warn(NAME, format!("backup {id}: {file} is now another file (its size or modification time changed): the file is kept, the backup forgotten"));
    }
    eprintln!(
        "{NAME}: {} backups kept, {} removed ({})",
        decisions.len() - removing,
        removed.removed.len(),
        policy.describe()
    );
    Ok(if removed.failed.is_empty() {
        Exit::Ok
    } else {
        Exit::Fatal
    })
}

fn schedule(catalog: &mut Catalog, cmd: ScheduleCommand, out: &Out, quiet: bool) -> Result<Exit> {
    match cmd {
        ScheduleCommand::Add(a) => schedule_add(catalog, *a),
        ScheduleCommand::List => {
            let plans = catalog.plans()?;
            let mut last = Vec::new();
            for p in &plans {
                last.push((
                    catalog.runs(Some(&p.name), 1)?.pop(),
                    p.installed(catalog.path()),
                ));
            }
            out.plans(&plans, &last)?;
            Ok(Exit::Ok)
        }
        ScheduleCommand::Remove { name, crontab_file } => {
            let Some(mut plan) = catalog.plan(&name)? else {
                return Err(anyhow::anyhow!(
                    "no backup plan named {name:?} (see `ely-catalog schedule list`)"
                ));
            };
            if let Some(f) = crontab_file {
                plan.crontab_file =
                    Some(std::path::absolute(&f).unwrap_or(f).display().to_string());
            }
            let crontab = plan.crontab(catalog.path());
            match crontab.remove(&plan.cron_key(catalog.path())) {
                Ok(_) => {}
                Err(ely_schedule::CrontabError::NoCrontab { .. }) => ely_cli::warn(
                    NAME,
                    format!(
                        "no crontab command: remove the line of `{}` from your crontab by hand",
                        plan.cron_key(catalog.path())
                    ),
                ),
                Err(e) => return Err(anyhow::anyhow!("{e}")),
            }
            catalog.remove_plan(&name)?;
            eprintln!("{NAME}: plan {name} removed, and its entry from {}; its backups stay in the catalog", crontab.describe());
            Ok(Exit::Ok)
        }
        ScheduleCommand::Run { name } => {
            let Some(plan) = catalog.plan(&name)? else {
                return Err(anyhow::anyhow!(
                    "no backup plan named {name:?} (see `ely-catalog schedule list`)"
                ));
            };
            let outcome = match plan::run(catalog, &plan, &plan::backup_exe()) {
                Ok(o) => o,
                Err(e) if e.downcast_ref::<plan::Busy>().is_some() => {
                    eprintln!("{NAME}: error: {e}");
                    return Ok(Exit::Unreachable);
                }
                Err(e) => return Err(e),
            };
            if out.people {
                out.runs(std::slice::from_ref(&outcome.run))?;
            } else {
                out.record(&outcome.run)?;
            }
            if let Some(e) = &outcome.run.error {
                eprintln!("{NAME}: error: plan {name}: {e}");
            } else if !quiet && out.people {
                eprintln!(
                    "{NAME}: plan {name}: wrote {}{}",
                    outcome.run.backups.join(", "),
                    outcome
                        .run
                        .removed
                        .map(|n| format!("; retention removed {n}"))
                        .unwrap_or_default()
                );
            }
            if let Some(a) = &outcome.run.alert {
                eprintln!("{NAME}: {a}");
            }
            Ok(match outcome.exit_code {
                0 => Exit::Ok,
                1 => Exit::Rejected,
                3 => Exit::Unreachable,
                4 => Exit::Verification,
                130 => Exit::Interrupted,
                _ => Exit::Fatal,
            })
        }
        ScheduleCommand::Runs { name, tail } => {
            let runs = catalog.runs(name.as_deref(), tail)?;
            if out.people {
                out.runs(&runs)?;
            } else {
                for r in &runs {
                    out.record(r)?;
                }
            }
            Ok(Exit::Ok)
        }
    }
}

fn schedule_add(catalog: &mut Catalog, a: ScheduleAddArgs) -> Result<Exit> {
    let schedule =
        ely_schedule::Schedule::parse(&a.every).map_err(|e| usage(format!("--every: {e}")))?;
    let store = ely_store::resolve(a.store.as_deref(), |k| std::env::var(k).ok())?.full();
    let to = std::path::absolute(&a.to).unwrap_or(a.to.clone());
    let plan = Plan {
        name: a.name.clone(),
        collections: a.collections.clone(),
        all: a.all,
        store,
        every: a.every.clone(),
        cron: schedule.cron().to_owned(),
        to: to.display().to_string(),
        format: a.format.clone(),
        keep: a.keep.policy(),
        webhook: a.alert_webhook.clone(),
        crontab_file: a.crontab_file.as_ref().map(|f| {
            std::path::absolute(f)
                .unwrap_or(f.clone())
                .display()
                .to_string()
        }),
        tags: a.tags.clone(),
    };
    plan::validate(&plan).map_err(usage)?;
    // An embedded store is on this machine: that it and the collections exist is checked
    // now rather than at the first run. (Weaviate may be down for a moment; its run says so.)
    if let ely_store::Location::Embedded(p) = ely_store::resolve(Some(&plan.store), |_| None)? {
        if !p.exists() {
            return Err(usage(format!(
                "--store {}: no embedded store there (give the store the backups come from)",
                p.display()
            )));
        }
        let store = ely_store::open_existing(
            &ely_store::Location::Embedded(p.clone()),
            &ely_store::OpenOptions::default(),
        )?;
        for c in &plan.collections {
            if store.class(c)?.is_none() {
                return Err(usage(format!(
                    "--collection {c}: no such collection in {}",
                    p.display()
                )));
            }
        }
    }
    let previous = catalog.plan(&plan.name)?;
    if previous.is_some() && !a.replace {
        return Err(usage(format!(
            "a backup plan named {:?} exists already: remove it first, or give --replace",
            plan.name
        )));
    }
    let exe = std::env::current_exe().context("finding this program's path for the cron entry")?;
    let key = plan.cron_key(catalog.path());
    let command = plan.cron_command(&exe, catalog.path());
    // Every check passed: now the cron entry, then the plan; a plan that cannot be saved
    // takes its entry back, so nothing is half-made.
    let crontab = plan.crontab(catalog.path());
    let installed = match crontab.install(&key, schedule.cron(), &command) {
        Ok(_) => true,
        Err(ely_schedule::CrontabError::NoCrontab { .. }) => false,
        Err(e) => return Err(anyhow::anyhow!("{e}")),
    };
    let catalog_path = catalog.path().to_owned();
    let undo = |why: anyhow::Error| -> anyhow::Error {
        if installed {
            let _ = match &previous {
                Some(old) if old.crontab_file == plan.crontab_file => {
                    let old_command = old.cron_command(&exe, &catalog_path);
                    crontab.install(&key, &old.cron, &old_command).map(|_| true)
                }
                _ => crontab.remove(&key),
            };
        }
        why
    };
    if let Err(e) = catalog.save_plan(&plan, a.replace) {
        return Err(undo(e));
    }
    // The folders the runs write into (cron appends to the log: its folder must exist).
    for dir in [Some(to.as_path()), plan.log_path(catalog.path()).parent()]
        .into_iter()
        .flatten()
    {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the folder {}", dir.display()))?;
    }
    // A replaced plan whose entry was in another crontab: that entry goes.
    if let Some(old) = previous
        .as_ref()
        .filter(|o| o.crontab_file != plan.crontab_file)
    {
        match old.crontab(catalog.path()).remove(&key) {
            Ok(_) | Err(ely_schedule::CrontabError::NoCrontab { .. }) => {}
            Err(e) => ely_cli::warn(
                NAME,
                format!("the plan's old entry could not be removed: {e}"),
            ),
        }
    }
    if installed {
        eprintln!(
            "{NAME}: plan {} {} ({}), entry in {}; next run {}",
            plan.name,
            if previous.is_some() {
                "replaced"
            } else {
                "added"
            },
            schedule.describe(),
            crontab.describe(),
            plan.next_run().map_or("unknown".into(), |t| t
                .strftime("%Y-%m-%d %H:%M %Z")
                .to_string())
        );
    } else {
        ely_cli::warn(NAME, format!(
            "plan {} recorded, but there is no crontab command here: add this line to your crontab by hand (or give --crontab-file):\n{}",
            plan.name,
            ely_schedule::entry_line(schedule.cron(), &command)
        ));
    }
    Ok(Exit::Ok)
}

/// Prints records: tables on a terminal, JSON lines in a pipe.
struct Out {
    people: bool,
}

impl Out {
    fn record(&self, r: &impl Record) -> Result<()> {
        Ok(table::print_record(r)?)
    }

    fn backups(&self, backups: &[Backup]) -> Result<()> {
        if !self.people {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            for b in backups {
                let mut line = b.to_line();
                line.push(b'\n');
                out.write_all(&line)?;
            }
            out.flush()?;
            return Ok(());
        }
        let mut t = Table::new(&[
            "ID",
            "STARTED",
            "COLLECTIONS",
            ">OBJECTS",
            ">SIZE",
            "FORMAT",
            "STATUS",
            "VERIFIED",
            "FILE",
        ]);
        for b in backups {
            let names: Vec<&str> = b.collections.iter().map(|c| c.name.as_str()).collect();
            let status = match b.pinned {
                true => format!("{} pinned", b.status.name()),
                false => b.status.name().to_owned(),
            };
            t.row(vec![
                b.short_id.clone(),
                table::local_time(&b.started),
                names.join(","),
                table::count(b.objects),
                table::bytes(b.bytes),
                format!("{}/{}", b.format, b.compression),
                status,
                b.verified.as_ref().map_or("-".into(), |c| {
                    format!("{} {}", c.mode, table::local_time(&c.at))
                }),
                b.file.clone(),
            ]);
        }
        t.print()?;
        eprintln!("{} backups", backups.len());
        Ok(())
    }

    fn show(&self, b: &Backup) -> Result<()> {
        if !self.people {
            return self.record(b);
        }
        let mut s = String::new();
        let mut kv = |k: &str, v: String| s.push_str(&format!("{k:<12} {v}\n"));
        kv("id", b.id.clone());
        kv("file", b.file.clone());
        kv("status", b.status.name().into());
        kv("pinned", if b.pinned { "yes" } else { "no" }.into());
        kv("format", format!("{} ({})", b.format, b.compression));
        kv(
            "size",
            format!("{} ({} bytes)", table::bytes(b.bytes), b.bytes),
        );
        kv("hash", format!("{} {}", b.algorithm, b.hash));
        kv("objects", table::count(b.objects));
        for c in &b.collections {
            let tenants = if c.tenants > 0 {
                format!(", {} tenants", c.tenants)
            } else {
                String::new()
            };
            kv(
                "collection",
                format!("{} ({} objects{tenants})", c.name, table::count(c.objects)),
            );
        }
        kv("source", b.source.clone());
        kv(
            "started",
            format!("{} ({})", table::local_time(&b.started), b.started),
        );
        kv(
            "finished",
            format!("{} ({})", table::local_time(&b.finished), b.finished),
        );
        kv(
            "ely",
            if b.ely_version.is_empty() {
                "-".into()
            } else {
                b.ely_version.clone()
            },
        );
        if b.schema_only || b.filtered {
            kv(
                "partial",
                if b.schema_only {
                    "schema only".into()
                } else {
                    "filtered (--tenant, --properties or --where)".into()
                },
            );
        }
        if let Some(p) = &b.plan {
            kv("plan", p.clone());
        }
        kv(
            "tags",
            if b.tags.is_empty() {
                "-".into()
            } else {
                b.tags.join(", ")
            },
        );
        if !b.note.is_empty() {
            kv("note", b.note.clone());
        }
        kv("added", table::local_time(&b.added));
        kv(
            "verified",
            match &b.verified {
                Some(c) if c.ok => format!("ok ({}, {})", c.mode, table::local_time(&c.at)),
                Some(c) => format!(
                    "FAILED ({}, {}): {}",
                    c.mode,
                    table::local_time(&c.at),
                    c.error.as_deref().unwrap_or("")
                ),
                None => "never".into(),
            },
        );
        std::io::stdout().lock().write_all(s.as_bytes())?;
        Ok(())
    }

    fn added(&self, action: Added, b: &Backup) -> Result<()> {
        if self.people {
            let names: Vec<String> = b
                .collections
                .iter()
                .map(|c| format!("{} {}", c.name, table::count(c.objects)))
                .collect();
            let verb = match action {
                Added::Added => "added",
                Added::Exists => "known already",
                Added::Replaced => "replaced (the file was overwritten)",
            };
            println!("{} {verb}: {} ({})", b.short_id, b.file, names.join(", "));
            return Ok(());
        }
        let mut v = serde_json::to_value(b)?;
        if let Some(o) = v.as_object_mut() {
            o.insert("action".into(), serde_json::to_value(action)?);
        }
        let mut line = ely_stream::format::control_line("backup", &v);
        line.push(b'\n');
        std::io::stdout().lock().write_all(&line)?;
        Ok(())
    }

    fn verified(&self, b: &Backup, c: &Check) -> Result<()> {
        if self.people {
            let verdict = if c.ok { "ok    " } else { "FAILED" };
            println!(
                "{verdict} {} {:<5} {}{}",
                b.short_id,
                c.mode,
                b.file,
                c.error
                    .as_ref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            );
            return Ok(());
        }
        let mut v = serde_json::json!({"id": b.id, "short_id": b.short_id, "file": b.file});
        if let (Some(o), serde_json::Value::Object(check)) =
            (v.as_object_mut(), serde_json::to_value(c)?)
        {
            o.extend(check);
        }
        let mut line = ely_stream::format::control_line("verification", &v);
        line.push(b'\n');
        std::io::stdout().lock().write_all(&line)?;
        Ok(())
    }

    fn decisions(&self, decisions: &[Decision]) -> Result<()> {
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        if !self.people {
            for d in decisions {
                let mut line = d.to_line();
                line.push(b'\n');
                out.write_all(&line)?;
            }
            out.flush()?;
            return Ok(());
        }
        let mut group = None;
        for d in decisions {
            if group != Some(&d.group) {
                writeln!(
                    out,
                    "{}:",
                    if d.group.is_empty() {
                        "all backups"
                    } else {
                        &d.group
                    }
                )?;
                group = Some(&d.group);
            }
            let status = match d.status {
                Status::Ok | Status::Unverified => String::new(),
                other => format!(" (the backup is {})", other.name()),
            };
            writeln!(
                out,
                "  {:<6} {} {}  {}{status}",
                d.action,
                d.short_id,
                table::local_time(&d.started),
                d.reasons.join(", ")
            )?;
        }
        out.flush()?;
        Ok(())
    }

    fn stats(&self, stats: &[ely_catalog::db::CollectionStats]) -> Result<()> {
        if !self.people {
            for s in stats {
                let mut line = ely_stream::format::control_line("stats", s);
                line.push(b'\n');
                std::io::stdout().lock().write_all(&line)?;
            }
            return Ok(());
        }
        let mut t = Table::new(&[
            "COLLECTION",
            ">BACKUPS",
            "OLDEST",
            "NEWEST",
            ">OBJECTS",
            ">GROWTH 30D",
            ">TOTAL SIZE",
            ">SCHEDULED OK",
        ]);
        for s in stats {
            t.row(vec![
                s.collection.clone(),
                table::count(s.backups),
                table::local_time(&s.oldest),
                table::local_time(&s.newest),
                table::count(s.objects),
                format!("{:+}", s.growth_30d),
                table::bytes(s.bytes),
                s.success_rate.map_or("-".into(), |r| {
                    format!("{:.0}% of {}", r * 100.0, s.scheduled_runs)
                }),
            ]);
        }
        t.print()?;
        Ok(())
    }

    fn runs(&self, runs: &[Run]) -> Result<()> {
        let mut t = Table::new(&[
            "RUN", "PLAN", "STARTED", "RESULT", "BACKUPS", ">REMOVED", "ERROR",
        ]);
        for r in runs {
            t.row(vec![
                r.id.to_string(),
                r.plan.clone(),
                table::local_time(&r.started),
                match r.ok {
                    Some(true) => "ok".into(),
                    Some(false) => format!("FAILED (exit {})", r.exit_code.unwrap_or(2)),
                    None => "running or killed".into(),
                },
                if r.backups.is_empty() {
                    "-".into()
                } else {
                    r.backups.join(",")
                },
                r.removed.map_or("-".into(), |n| n.to_string()),
                r.error.clone().unwrap_or_default(),
            ]);
        }
        t.print()?;
        Ok(())
    }

    /// Plans with their last run and whether their cron entry is installed (`None`: the
    /// crontab could not be read).
    fn plans(&self, plans: &[Plan], last: &[(Option<Run>, Option<bool>)]) -> Result<()> {
        let next = |p: &Plan, installed: Option<bool>| match installed {
            Some(false) => None,
            _ => p.next_run(),
        };
        if !self.people {
            for (p, (r, installed)) in plans.iter().zip(last) {
                let mut v = serde_json::to_value(p)?;
                if let Some(o) = v.as_object_mut() {
                    if let Some(url) = &p.webhook {
                        o.insert("webhook".into(), ely_schedule::alert::shown_url(url).into());
                    }
                    o.insert("installed".into(), (*installed).into());
                    o.insert(
                        "next_run".into(),
                        next(p, *installed)
                            .map(|t| t.timestamp().to_string())
                            .into(),
                    );
                    o.insert("last_run".into(), serde_json::to_value(r)?);
                }
                let mut line = ely_stream::format::control_line("plan", &v);
                line.push(b'\n');
                std::io::stdout().lock().write_all(&line)?;
            }
            return Ok(());
        }
        let mut t = Table::new(&[
            "PLAN",
            "EVERY",
            "COLLECTIONS",
            "TO",
            "KEEP",
            "LAST RUN",
            "NEXT RUN",
        ]);
        for (p, (r, installed)) in plans.iter().zip(last) {
            let last = match r {
                Some(r) => format!(
                    "{} {}",
                    table::local_time(&r.started),
                    match r.ok {
                        Some(true) => "ok",
                        Some(false) => "FAILED",
                        None => "running",
                    }
                ),
                None => "never".into(),
            };
            t.row(vec![
                p.name.clone(),
                p.every.clone(),
                if p.all {
                    "all".into()
                } else {
                    p.collections.join(",")
                },
                format!("{} ({})", p.to, p.format),
                if p.keep.is_empty() {
                    "all".into()
                } else {
                    p.keep.describe().trim_start_matches("keep ").to_owned()
                },
                last,
                match installed {
                    Some(false) => "- (no cron entry)".into(),
                    _ => next(p, *installed)
                        .map_or("-".into(), |t| t.strftime("%Y-%m-%d %H:%M").to_string()),
                },
            ]);
        }
        t.print()?;
        Ok(())
    }
}
