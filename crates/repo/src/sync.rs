//! A sync: the repository's lock taken (an overlapping sync of it stops at once), the clone
//! brought to the remote branch's newest commit, and what was committed since the last sync
//! ingested by ely-ingest's git mode (the binary beside this one), which remembers that
//! commit itself, re-indexes after a force push or a branch switch and removes the objects
//! of files that are gone. The sync is recorded with its counts and messages, and the
//! repository's webhook is alerted when a sync fails and when one succeeds after a failure.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result};
use serde_json::Value;

use crate::state::{Repo, State, Sync};

/// Another sync of the repository holds its lock.
#[derive(Debug)]
pub struct Busy {
    pub repo: String,
    pub pid: Option<u32>,
}

impl std::fmt::Display for Busy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "another sync of {} ", self.repo)?;
        if let Some(pid) = self.pid {
            write!(f, "(pid {pid}) ")?;
        }
        write!(f, "is still going; this one stops")
    }
}

impl std::error::Error for Busy {}

/// Where a sync finds what it needs.
pub struct Tools {
    /// The ely-ingest binary.
    pub ingest: PathBuf,
    /// The folder of ely-ingest's state files (the commit each repository was synced to),
    /// one per repository, beside ely-repo's state: removing a repository forgets it whole.
    pub ingest_states: PathBuf,
    /// Folder of the per-repository locks.
    pub locks: PathBuf,
    /// Counts each file ely-ingest settles (`done`), for a progress line.
    pub progress: Option<std::sync::Arc<ely_stream::Counters>>,
    /// ely-ingest running longer is stopped and the sync fails (exit 3), so a sync that
    /// hangs does not hold its repository's lock for ever.
    pub limit: Option<std::time::Duration>,
}

impl Tools {
    /// ely-ingest's state file for `repo`.
    pub fn ingest_state(&self, repo: &str) -> PathBuf {
        self.ingest_states.join(format!("{repo}.db"))
    }

    /// Forgets what ely-ingest remembered of `repo` (its state file and SQLite's companions).
    pub fn forget_ingest_state(&self, repo: &str) {
        let db = self.ingest_state(repo);
        for suffix in ["", "-wal", "-shm"] {
            let mut p = db.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
    }

    /// The lock file of `repo`'s syncs (and of whatever must not run during one).
    pub fn lock(&self, repo: &str) -> PathBuf {
        self.locks.join(format!("repo-{repo}.lock"))
    }

    /// The tools beside the state file at `state` and this binary.
    pub fn beside(state: &Path) -> Tools {
        let dir = ely_store::sqlite::folder_of(state);
        Tools {
            ingest: ely_schedule::sibling("ely-ingest"),
            ingest_states: dir.join("ingest"),
            locks: dir.join("locks"),
            progress: None,
            limit: None,
        }
    }
}

/// How long a repository whose last `failures` syncs failed waits before a scheduled sync
/// tries again: 5 minutes after the first failure, doubling, at most 4 hours.
pub fn backoff(failures: u32) -> jiff::SignedDuration {
    let minutes = 5i64.saturating_mul(1 << failures.saturating_sub(1).min(6));
    jiff::SignedDuration::from_mins(minutes.min(240))
}

/// Until when a scheduled sync leaves `repo` alone after its last `failures` syncs failed
/// (the last ending at `last`, RFC 3339): `None` when it is not waiting.
pub fn waits_until(failures: u32, last: Option<&str>) -> Option<jiff::Timestamp> {
    if failures == 0 {
        return None;
    }
    last.and_then(|l| l.parse::<jiff::Timestamp>().ok())
        .and_then(|t| t.checked_add(backoff(failures)).ok())
        .filter(|t| *t > jiff::Timestamp::now())
}

/// Syncs `repo` now. `Err` only when it could not start (another sync holds the lock, the
/// state file fails); a sync that failed is an `Ok` whose `ok` is false, with its exit
/// code: 3 when the remote or the store could not be reached, 1 when files were rejected,
/// 2 otherwise.
pub fn sync(state: &State, repo: &Repo, trigger: &str, tools: &Tools) -> Result<(Sync, i32)> {
    let lock_path = tools.lock(&repo.name);
    let Some(_lock) = ely_schedule::RunLock::try_acquire(&lock_path)
        .with_context(|| format!("taking the lock {}", lock_path.display()))?
    else {
        return Err(Busy {
            repo: repo.name.clone(),
            pid: ely_schedule::RunLock::holder(&lock_path),
        }
        .into());
    };
    state.close_dead_syncs(&repo.name)?;
    let history = state.syncs(Some(&repo.name), 100)?;
    // A recovery is told only to whom a failure was told.
    let alerted_failure = history
        .iter()
        .rev()
        .find(|s| s.ok.is_some())
        .is_some_and(|s| s.ok == Some(false) && s.alert.is_some());
    // What the last good sync reached: the files changed since are what this one counts.
    let since = history
        .into_iter()
        .rev()
        .find(|s| s.ok == Some(true))
        .and_then(|s| s.commit);
    let mut s = state.start_sync(&repo.name, trigger)?;
    let code = match steps(repo, tools, since.as_deref(), &mut s) {
        Ok(()) => 0,
        Err((code, why)) => {
            s.error = Some(why);
            code
        }
    };
    s.ok = Some(code == 0);
    s.exit_code = Some(i64::from(code));
    s.finished = Some(ely_vocab::date::now_rfc3339());
    // The first sync of an add that fails undoes the add: nothing to alert about.
    let event = match (code == 0, alerted_failure) {
        (false, _) if trigger != "add" => Some("failed"),
        (true, true) => Some("recovered"),
        _ => None,
    };
    if let (Some(event), Some(url)) = (event, &repo.webhook) {
        s.alert = Some(alert(url, event, repo, &s));
    }
    state.finish_sync(&s)?;
    Ok((s, code))
}

fn steps(
    repo: &Repo,
    tools: &Tools,
    since: Option<&str>,
    s: &mut Sync,
) -> Result<(), (i32, String)> {
    let dir = Path::new(&repo.path);
    let branch = repo.branch.as_deref().unwrap_or("main");
    let commit = crate::git::update(dir, &repo.url, branch).map_err(|e| (3, format!("{e:#}")))?;
    // How each path changed since the last good sync, to tell added files from modified
    // ones (ely-ingest writes both alike); without one, every file is new.
    let statuses = match since {
        Some(old) if old != commit => {
            crate::git::changed(dir, old, &commit).map_err(|e| (2, format!("{e:#}")))?
        }
        _ => Default::default(),
    };
    let first = since.is_none();
    s.commit = Some(commit);
    // A collection deleted behind ely-ingest's back: what it remembers is void, and the
    // whole repository is indexed again.
    if crate::add::collection_exists(repo) == Some(false) {
        tools.forget_ingest_state(&repo.name);
    }
    let mut cmd = Command::new(&tools.ingest);
    cmd.arg("--store")
        .arg(&repo.store)
        .arg("--collection")
        .arg(&repo.collection)
        .arg("--git")
        .arg(dir)
        .arg("--state")
        .arg(tools.ingest_state(&repo.name))
        .arg("--quiet");
    for g in &repo.include {
        cmd.arg("--include").arg(g);
    }
    for g in &repo.exclude {
        cmd.arg("--exclude").arg(g);
    }
    if let Some(m) = &repo.max_file_size {
        cmd.arg("--max-file-size").arg(m);
    }
    if let Some(v) = &repo.vectorizer {
        cmd.arg("--vectorizer").arg(v);
    }
    if let Some(m) = &repo.model {
        cmd.arg("--model").arg(m);
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| (2, format!("running {}: {e}", tools.ingest.display())))?;
    // ely-ingest's messages are read on their own while its results are read here, line by
    // line as each file is settled.
    let stderr = child.stderr.take().map(|mut e| {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            let _ = std::io::Read::read_to_end(&mut e, &mut text);
            text
        })
    });
    let stdout = child.stdout.take();
    // A watchdog stops ely-ingest at the time limit; the results end with its output.
    let child = std::sync::Arc::new(std::sync::Mutex::new(child));
    let timed_out = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (finished, finish) = std::sync::mpsc::channel::<()>();
    let watchdog = tools.limit.map(|limit| {
        let (child, timed_out) = (child.clone(), timed_out.clone());
        std::thread::spawn(move || {
            use std::sync::mpsc::RecvTimeoutError::Timeout;
            if let Err(Timeout) = finish.recv_timeout(limit) {
                timed_out.store(true, std::sync::atomic::Ordering::Relaxed);
                // Asked to stop first (ely-ingest stops cleanly on SIGTERM), killed if it
                // has not after a grace period. An exited child keeps its pid until waited
                // for, so the signal cannot reach another process.
                let pid = child.lock().map(|c| c.id()).ok();
                if let Some(pid) = pid {
                    let _ = Command::new("kill")
                        .args(["-TERM", &pid.to_string()])
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .status();
                }
                if let Err(Timeout) = finish.recv_timeout(std::time::Duration::from_secs(10)) {
                    if let Ok(mut c) = child.lock() {
                        let _ = c.kill();
                    }
                }
            }
        })
    });
    let mut rejected_paths = Vec::new();
    if let Some(stdout) = stdout {
        for line in std::io::BufRead::split(std::io::BufReader::new(stdout), b'\n') {
            let Ok(line) = line else { break };
            let Ok(v) = serde_json::from_slice::<Value>(&line) else {
                continue;
            };
            let field = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or_default();
            // What ely-ingest did to each file (its filters included); git says whether a
            // file written is new.
            match (field("op"), field("action")) {
                ("changeset", _) => {}
                (_, "upserted") => match statuses.get(field("path")) {
                    Some('A') => s.added += 1,
                    None if first => s.added += 1,
                    _ => s.modified += 1,
                },
                (_, "deleted") => s.deleted += 1,
                (_, "unchanged") => s.unchanged += 1,
                (_, "rejected") => {
                    s.rejected += 1;
                    rejected_paths.push(format!("{}: {}", field("path"), field("reason")));
                }
                _ => {}
            }
            if let (Some(p), false) = (&tools.progress, field("op") == "changeset") {
                p.done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            s.objects += v
                .get("chunks")
                .and_then(Value::as_u64)
                .filter(|_| field("action") == "upserted")
                .unwrap_or(0);
        }
    }
    let _ = finished.send(());
    if let Some(w) = watchdog {
        let _ = w.join();
    }
    let status = child
        .lock()
        .map_err(|_| (2, "the watchdog failed".to_owned()))?
        .wait()
        .map_err(|e| (2, format!("waiting for {}: {e}", tools.ingest.display())))?;
    let stderr = stderr.and_then(|t| t.join().ok()).unwrap_or_default();
    s.messages = String::from_utf8_lossy(&stderr).trim().to_owned();
    // Ended at the limit: failed, unless it had finished well just then.
    if let (true, false, Some(limit)) = (
        timed_out.load(std::sync::atomic::Ordering::Relaxed),
        status.success(),
        tools.limit,
    ) {
        return Err((
            3,
            format!(
                "ely-ingest ran longer than the time limit ({}) and was stopped; what it wrote stays, and the next sync goes on from the last synced commit (sync --time-limit sets the limit)",
                ely_vocab::human::duration(limit.as_secs_f64())
            ),
        ));
    }
    match status.code() {
        Some(0) => Ok(()),
        Some(1) => Err((
            1,
            format!(
                "{} files rejected (the commit is kept and tried again): {}",
                s.rejected,
                rejected_paths.join("; ")
            ),
        )),
        code => {
            // ely-ingest's own error line, else its last words.
            let lines: Vec<&str> = s
                .messages
                .lines()
                .filter(|l| !l.trim().is_empty())
                .collect();
            let why = lines
                .iter()
                .rev()
                .find(|l| l.contains("error:"))
                .or(lines.last())
                .map_or("ely-ingest failed without a message", |l| l.trim())
                .to_owned();
            Err((code.unwrap_or(2), why))
        }
    }
}

/// POSTs the alert; returns what happened, for the record.
fn alert(url: &str, event: &str, repo: &Repo, s: &Sync) -> String {
    let host = ely_schedule::alert::host();
    let text = match event {
        "failed" => format!(
            "ely-repo: sync of {} failed on {host}: {}",
            repo.name,
            s.error.as_deref().unwrap_or("no message")
        ),
        _ => format!(
            "ely-repo: {} on {host} syncs again after a failure",
            repo.name
        ),
    };
    let body = serde_json::json!({
        "ely": "alert",
        "event": event,
        "repo": repo.name,
        "collection": repo.collection,
        "host": host,
        "text": text,
        "sync": s,
    });
    match ely_schedule::alert::post(url, body.to_string().as_bytes()) {
        Ok(to) => format!("{event} alert sent to {to}"),
        Err(why) => format!("{event} alert not delivered: {why}"),
    }
}
