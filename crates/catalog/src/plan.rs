//! Backup plans: what `ely-catalog schedule add` records and cron runs. A run (`schedule
//! run NAME`) holds the plan's lock (an overlapping run stops at once), runs ely-backup
//! (the binary beside this one) into the plan's folder, adds each file it wrote to the
//! catalog, verifies it quickly, applies the plan's retention to the plan's own backups,
//! records the outcome, and alerts the plan's webhook when a run fails and when the first
//! run after a failure succeeds.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};
use ely_stream::{Manifest, Record};
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

use crate::cleanup::{self, GroupBy};
use crate::db::{AddExtra, Catalog, Filter, Run};
use crate::policy::Policy;
use crate::verify::{self, Mode};

/// A backup plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub name: String,
    /// Collections backed up (all of the store's when `all`).
    #[serde(default)]
    pub collections: Vec<String>,
    #[serde(default)]
    pub all: bool,
    /// The store, as ely-backup's `--store` takes it (never with credentials).
    pub store: String,
    /// The schedule as given (`1d`, `0 2 * * *`), and the cron expression installed.
    pub every: String,
    pub cron: String,
    /// The folder backups are written to.
    pub to: String,
    /// `jsonl.zst`, `jsonl.gz`, `jsonl.lz4`, `jsonl` or `parquet`.
    pub format: String,
    #[serde(default)]
    pub keep: Policy,
    /// Where alerts are POSTed. Its path and query may hold a token: shown only as
    /// scheme and host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<String>,
    /// The crontab file the entry went to (`--crontab-file`); the user's crontab when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crontab_file: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
}

/// The output formats a plan can write, and the file name each gives.
pub const FORMATS: &[&str] = &["jsonl.zst", "jsonl.gz", "jsonl.lz4", "jsonl", "parquet"];

/// A plan name: letters, digits, `-` and `_` (it becomes part of file names and a crontab
/// comment).
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    match ok {
        true => Ok(()),
        false => Err(format!(
            "plan name {name:?}: use 1 to 64 letters, digits, '-' or '_'"
        )),
    }
}

impl Plan {
    /// The crontab this plan's entry lives in.
    pub fn crontab(&self, catalog: &Path) -> ely_schedule::Crontab {
        ely_schedule::Crontab::for_job(
            self.crontab_file.as_deref(),
            &ely_store::sqlite::folder_of(catalog),
        )
    }

    /// The key of its crontab entry: the plan in its catalog, so that two catalogs' plans of
    /// one name never replace each other's entries.
    pub fn cron_key(&self, catalog: &Path) -> String {
        format!("ely-catalog schedule {} ({})", self.name, catalog.display())
    }

    /// Whether its entry is in its crontab (`None` when the crontab cannot be read).
    pub fn installed(&self, catalog: &Path) -> Option<bool> {
        let key = self.cron_key(catalog);
        self.crontab(catalog)
            .entries()
            .ok()
            .map(|e| e.iter().any(|e| e.key == key))
    }

    /// The command cron runs: this binary by its full path, the catalog by its full path,
    /// output appended to the plan's log under the catalog's folder.
    pub fn cron_command(&self, exe: &Path, catalog: &Path) -> String {
        let log = self.log_path(catalog);
        let exe = exe.display().to_string();
        let cat = catalog.display().to_string();
        let log = log.display().to_string();
        ely_schedule::append_log(
            &ely_schedule::command_line(&[&exe, "--catalog", &cat, "schedule", "run", &self.name]),
            &log,
        )
    }

    /// `logs/<catalog>-NAME.log` beside the catalog (`<catalog>` its file name without
    /// extension, so catalogs in one folder keep apart).
    pub fn log_path(&self, catalog: &Path) -> PathBuf {
        ely_store::sqlite::folder_of(catalog)
            .join("logs")
            .join(format!("{}-{}.log", stem(catalog), self.name))
    }

    /// `locks/<catalog>-NAME.lock` beside the catalog.
    pub fn lock_path(&self, catalog: &Path) -> PathBuf {
        ely_store::sqlite::folder_of(catalog)
            .join("locks")
            .join(format!("{}-{}.lock", stem(catalog), self.name))
    }

    /// The next time cron runs it, in the local time zone.
    pub fn next_run(&self) -> Option<jiff::Zoned> {
        let schedule = ely_schedule::Schedule::parse(&self.cron).ok()?;
        schedule.next_after(&jiff::Zoned::now())
    }

    /// Where a run starting at `stamp` writes: a file, or a folder for Parquet (one file per
    /// collection).
    fn output(&self, stamp: &str) -> PathBuf {
        let dir = Path::new(&self.to);
        match self.format.as_str() {
            "parquet" => dir.join(format!("{}-{stamp}", self.name)),
            ext => dir.join(format!("{}-{stamp}.{ext}", self.name)),
        }
    }
}

fn stem(catalog: &Path) -> String {
    catalog
        .file_stem()
        .map_or_else(|| "catalog".into(), |s| s.to_string_lossy().into_owned())
}

/// Why a run did not happen.
#[derive(Debug)]
pub struct Busy {
    pub plan: String,
    pub pid: Option<u32>,
}

impl std::fmt::Display for Busy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "another run of plan {} ", self.plan)?;
        if let Some(pid) = self.pid {
            write!(f, "(pid {pid}) ")?;
        }
        write!(
            f,
            "is still going; this one stops (cron will start the next on time)"
        )
    }
}

impl std::error::Error for Busy {}

/// How a run ended, for the caller's exit code: 0, or ely-backup's code when it failed, 4
/// when a file it wrote did not verify, 2 for other failures.
pub struct Outcome {
    pub run: Run,
    pub exit_code: i32,
}

/// Runs `plan` once.
pub fn run(catalog: &mut Catalog, plan: &Plan, backup_exe: &Path) -> Result<Outcome> {
    let lock_path = plan.lock_path(catalog.path());
    let Some(_lock) = ely_schedule::RunLock::try_acquire(&lock_path)
        .with_context(|| format!("taking the lock {}", lock_path.display()))?
    else {
        return Err(Busy {
            plan: plan.name.clone(),
            pid: ely_schedule::RunLock::holder(&lock_path),
        }
        .into());
    };
    // Holding the lock, no other run of the plan is going: one left unfinished was killed.
    catalog.close_dead_runs(&plan.name)?;
    let previous_ok = catalog.runs(Some(&plan.name), 1)?.last().and_then(|r| r.ok);
    let id = catalog.start_run(&plan.name)?;
    let started = ely_vocab::date::now_rfc3339();
    let mut run = Run {
        id,
        plan: plan.name.clone(),
        started,
        finished: None,
        ok: None,
        exit_code: None,
        error: None,
        backups: Vec::new(),
        removed: None,
        alert: None,
    };
    let code = match run_steps(catalog, plan, backup_exe, &mut run) {
        Ok(()) => 0,
        Err((code, why)) => {
            run.error = Some(why);
            code
        }
    };
    run.ok = Some(code == 0);
    run.exit_code = Some(i64::from(code));
    run.finished = Some(ely_vocab::date::now_rfc3339());
    let event = match (code == 0, previous_ok) {
        (false, _) => Some("failed"),
        (true, Some(false)) => Some("recovered"),
        _ => None,
    };
    if let (Some(event), Some(url)) = (event, &plan.webhook) {
        run.alert = Some(alert(url, event, &run));
    }
    catalog.finish_run(&run)?;
    Ok(Outcome {
        run,
        exit_code: code,
    })
}

/// The steps of a run; an error is the exit code and what went wrong.
fn run_steps(
    catalog: &mut Catalog,
    plan: &Plan,
    backup_exe: &Path,
    run: &mut Run,
) -> Result<(), (i32, String)> {
    std::fs::create_dir_all(&plan.to)
        .map_err(|e| (2, format!("creating the folder {}: {e}", plan.to)))?;
    // Named by the time to the millisecond; never over an earlier run's file.
    let now = jiff::Timestamp::now();
    let stamp = format!(
        "{}{:03}Z",
        now.strftime("%Y%m%dT%H%M%S."),
        now.subsec_millisecond()
    );
    let mut out = plan.output(&stamp);
    for n in 1.. {
        if !out.exists() {
            break;
        }
        out = plan.output(&format!("{stamp}-{n}"));
    }
    let mut cmd = Command::new(backup_exe);
    cmd.arg("--store").arg(&plan.store).arg("--quiet");
    match plan.all {
        true => {
            cmd.arg("--all");
        }
        false => {
            for c in &plan.collections {
                cmd.arg("--collection").arg(c);
            }
        }
    }
    if plan.format == "parquet" {
        let mut dir = out.into_os_string();
        dir.push("/");
        cmd.arg("--format").arg("parquet").arg("-o").arg(dir);
    } else {
        cmd.arg("-o").arg(&out);
    }
    let output = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| (2, format!("running {}: {e}", backup_exe.display())))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        let code = output.status.code().unwrap_or(2);
        let why = stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("ely-backup failed without a message")
            .trim()
            .to_owned();
        return Err((code, why));
    }
    let extra = AddExtra {
        tags: plan.tags.clone(),
        plan: Some(plan.name.clone()),
        ..AddExtra::default()
    };
    let mut failed = Vec::new();
    for line in output.stdout.split(|b| *b == b'\n') {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let manifest = Manifest::from_line(line).map_err(|e| {
            (
                2,
                format!("ely-backup printed a line that is not a manifest: {e}"),
            )
        })?;
        let (_, backup) = catalog
            .add(&manifest, &extra)
            .map_err(|e| (2, format!("adding {} to the catalog: {e:#}", manifest.file)))?;
        let check = verify::check(&backup, Mode::Quick);
        catalog
            .record_check(backup.seq, &check)
            .map_err(|e| (2, format!("{e:#}")))?;
        if let Some(e) = &check.error {
            failed.push(format!("{} ({}): {e}", backup.short_id, backup.file));
        }
        run.backups.push(backup.short_id);
    }
    if run.backups.is_empty() {
        return Err((2, "ely-backup wrote no file".into()));
    }
    if !failed.is_empty() {
        return Err((
            4,
            format!("backup failed verification: {}", failed.join("; ")),
        ));
    }
    if !plan.keep.is_empty() {
        let filter = Filter {
            plan: Some(plan.name.clone()),
            ..Filter::default()
        };
        let decisions = cleanup::decide(
            catalog,
            &filter,
            &plan.keep,
            &[GroupBy::Collection, GroupBy::Source],
            jiff::Timestamp::now(),
            &TimeZone::system(),
        )
        .map_err(|e| (2, format!("applying retention: {e:#}")))?;
        let removed =
            cleanup::remove(catalog, &decisions).map_err(|e| (2, format!("retention: {e:#}")))?;
        run.removed = Some(removed.removed.len() as u64);
        if plan.format == "parquet" {
            remove_empty_run_folders(plan);
        }
        if !removed.failed.is_empty() {
            let why: Vec<String> = removed
                .failed
                .iter()
                .map(|(id, e)| format!("{id}: {e}"))
                .collect();
            return Err((2, format!("retention could not remove: {}", why.join("; "))));
        }
    }
    Ok(())
}

/// A Parquet run writes a folder `<plan>-<time>/`; once retention removed its files, the
/// folder goes too (only folders named exactly so, and empty).
fn remove_empty_run_folders(plan: &Plan) {
    let Ok(entries) = std::fs::read_dir(&plan.to) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if p.is_dir()
            && is_run_stamp(&plan.name, &name)
            && std::fs::read_dir(&p).is_ok_and(|mut d| d.next().is_none())
        {
            let _ = std::fs::remove_dir(&p);
        }
    }
}

/// `<plan>-YYYYmmddTHHMMSS.mmmZ`, perhaps with `-N`: what a run names its output.
fn is_run_stamp(plan: &str, name: &str) -> bool {
    let Some(rest) = name.strip_prefix(plan).and_then(|r| r.strip_prefix('-')) else {
        return false;
    };
    let (stamp, n) = match rest.split_once("Z-") {
        Some((s, n)) => (s, n),
        None => (rest.strip_suffix('Z').unwrap_or("-"), ""),
    };
    let b = stamp.as_bytes();
    b.len() == 19
        && b[8] == b'T'
        && b[15] == b'.'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 8 || i == 15 || c.is_ascii_digit())
        && n.bytes().all(|c| c.is_ascii_digit())
}

/// The alert a webhook receives.
#[derive(Debug, Serialize)]
struct Alert<'a> {
    ely: &'static str,
    /// `failed` or `recovered`.
    event: &'a str,
    plan: &'a str,
    host: String,
    /// One line for chat webhooks (Slack, Mattermost) that show `text`.
    text: String,
    run: &'a Run,
}

/// POSTs the alert (through `ely_schedule::alert`, with its retries); returns what happened,
/// for the run's record. The URL is never shown whole.
fn alert(url: &str, event: &str, run: &Run) -> String {
    let host = ely_schedule::alert::host();
    let text = match event {
        "failed" => format!(
            "ely backup plan {} failed on {host}: {}",
            run.plan,
            run.error.as_deref().unwrap_or("no message")
        ),
        _ => format!(
            "ely backup plan {} on {host} succeeded again after a failure",
            run.plan
        ),
    };
    let body = Alert {
        ely: "alert",
        event,
        plan: &run.plan,
        host,
        text,
        run,
    };
    let Ok(body) = serde_json::to_vec(&body) else {
        return "not sent: the alert could not be written".into();
    };
    match ely_schedule::alert::post(url, &body) {
        Ok(to) => format!("{event} alert sent to {to}"),
        Err(why) => format!("{event} alert not delivered: {why}"),
    }
}

/// The ely-backup that runs a plan: the one beside this binary, else the one on PATH.
pub fn backup_exe() -> PathBuf {
    ely_schedule::sibling("ely-backup")
}

/// Checks what `schedule add` is given before anything is changed.
pub fn validate(plan: &Plan) -> Result<()> {
    check_name(&plan.name).map_err(anyhow::Error::msg)?;
    if !FORMATS.contains(&plan.format.as_str()) {
        bail!(
            "--format {}: use one of {}",
            plan.format,
            FORMATS.join(", ")
        );
    }
    if plan.collections.is_empty() && !plan.all {
        bail!("give --collection NAME (repeatable) or --all");
    }
    if ely_store::has_credentials(&plan.store) {
        bail!("--store {}: a plan keeps no credentials; give the URL without them and set WEAVIATE_API_KEY in the crontab's environment", ely_store::shown(&plan.store));
    }
    if let Some(url) = &plan.webhook {
        ely_schedule::alert::check_url(url).map_err(anyhow::Error::msg)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_runs_own_folder_names_count() {
        assert!(is_run_stamp("nightly", "nightly-20261128T020000.123Z"));
        assert!(is_run_stamp("nightly", "nightly-20261128T020000.123Z-2"));
        assert!(!is_run_stamp(
            "nightly",
            "nightly-docs-20261128T020000.123Z"
        ));
        assert!(!is_run_stamp("nightly", "nightly-20261128T020000.123"));
        assert!(!is_run_stamp("nightly", "nightly-keep"));
    }
}
