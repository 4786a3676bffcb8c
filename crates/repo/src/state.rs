//! What ely-repo remembers: one SQLite file (`$ELY_HOME/repos.db`, 0600, WAL, migrated by
//! `user_version`, opened by `ely_store::sqlite::open` like every ely state file) with each
//! repository's settings and the history of its syncs. Every command of ely-repo shares it.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

const MIGRATIONS: &[&str] = &["
CREATE TABLE repos (
    name TEXT PRIMARY KEY,
    spec TEXT NOT NULL,
    paused INTEGER NOT NULL DEFAULT 0,
    created TEXT NOT NULL
);
CREATE TABLE syncs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    repo TEXT NOT NULL,
    started TEXT NOT NULL,
    finished TEXT,
    ok INTEGER,
    exit_code INTEGER,
    error TEXT,
    trigger TEXT NOT NULL,
    commit_id TEXT,
    added INTEGER NOT NULL DEFAULT 0,
    modified INTEGER NOT NULL DEFAULT 0,
    deleted INTEGER NOT NULL DEFAULT 0,
    unchanged INTEGER NOT NULL DEFAULT 0,
    rejected INTEGER NOT NULL DEFAULT 0,
    objects INTEGER NOT NULL DEFAULT 0,
    messages TEXT NOT NULL DEFAULT '',
    alert TEXT
);
CREATE INDEX syncs_repo ON syncs(repo, id);
"];

/// A repository under sync.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Repo {
    pub name: String,
    /// Where it is cloned from, as given (never with credentials).
    pub url: String,
    /// The clone, under `$ELY_HOME/repos/`.
    pub path: String,
    pub collection: String,
    /// The store, resolved when added (a URL without credentials, or a full path).
    pub store: String,
    /// The branch synced; the remote's default branch when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_file_size: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vectorizer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The schedule as given (`30m`, a cron expression) and the cron expression installed.
    pub schedule: String,
    pub cron: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crontab_file: Option<String>,
    #[serde(default)]
    pub paused: bool,
    /// Being added: an add that was interrupted leaves it so, and the next add of it clears
    /// it away.
    #[serde(default)]
    pub pending: bool,
}

/// One sync.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Sync {
    pub id: i64,
    pub repo: String,
    pub started: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished: Option<String>,
    /// `None` while running, or when the sync was killed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ok: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// `add`, `cron` (a scheduled `sync`), `manual` or `retry`.
    pub trigger: String,
    /// The commit synced to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    pub added: u64,
    pub modified: u64,
    pub deleted: u64,
    pub unchanged: u64,
    pub rejected: u64,
    /// Objects (chunks) written.
    pub objects: u64,
    /// What the sync's steps said (git's and ely-ingest's messages), one per line.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub messages: String,
    /// Alert delivered (or not) after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert: Option<String>,
}

impl ely_stream::Record for Sync {
    const KIND: &'static str = "sync";
}

/// The state file.
pub struct State {
    conn: Connection,
    path: PathBuf,
}

/// `$ELY_HOME/repos.db`, or `--state FILE`.
pub fn state_path(flag: Option<&Path>, env: impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    match flag {
        Some(p) => Some(p.to_owned()),
        None => ely_store::ely_home(env).map(|h| h.join("repos.db")),
    }
}

impl State {
    pub fn open(path: &Path) -> Result<State> {
        let conn = ely_store::sqlite::open(path, "repository state", MIGRATIONS, |c| {
            c.pragma_update(None, "synchronous", "NORMAL")
        })?;
        Ok(State {
            conn,
            path: path.to_owned(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn repo(&self, name: &str) -> Result<Option<Repo>> {
        let row: Option<(String, bool)> = self
            .conn
            .query_row(
                "SELECT spec, paused FROM repos WHERE name = ?1",
                [name],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        row.map(|(spec, paused)| {
            let mut r: Repo = serde_json::from_str(&spec)
                .with_context(|| format!("the state of repository {name:?}"))?;
            r.paused = paused;
            Ok(r)
        })
        .transpose()
    }

    /// The repository of that name, or an error saying how to list them.
    pub fn need(&self, name: &str) -> Result<Repo> {
        match self.repo(name)? {
            Some(r) => Ok(r),
            None => bail!("no repository named {name:?} (see `ely-repo list`)"),
        }
    }

    pub fn repos(&self) -> Result<Vec<Repo>> {
        let mut stmt = self.conn.prepare("SELECT name FROM repos ORDER BY name")?;
        let names = stmt
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        names.iter().map(|n| self.need(n)).collect()
    }

    /// Records a repository; one of that name must not exist unless `replace`.
    pub fn save(&self, repo: &Repo, replace: bool) -> Result<()> {
        if !replace && self.repo(&repo.name)?.is_some() {
            bail!(
                "a repository named {:?} is under sync already (see `ely-repo status {}`)",
                repo.name,
                repo.name
            );
        }
        self.conn.execute(
            "INSERT INTO repos (name, spec, paused, created) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (name) DO UPDATE SET spec = excluded.spec, paused = excluded.paused",
            params![
                repo.name,
                serde_json::to_string(repo)?,
                repo.paused,
                ely_vocab::date::now_rfc3339()
            ],
        )?;
        Ok(())
    }

    /// Forgets a repository and its history.
    pub fn remove(&self, name: &str) -> Result<()> {
        self.conn
            .execute("DELETE FROM repos WHERE name = ?1", [name])?;
        self.conn
            .execute("DELETE FROM syncs WHERE repo = ?1", [name])?;
        Ok(())
    }

    /// Records that a sync started; returns it.
    pub fn start_sync(&self, repo: &str, trigger: &str) -> Result<Sync> {
        let started = ely_vocab::date::now_rfc3339();
        self.conn.execute(
            "INSERT INTO syncs (repo, started, trigger) VALUES (?1, ?2, ?3)",
            params![repo, started, trigger],
        )?;
        Ok(Sync {
            id: self.conn.last_insert_rowid(),
            repo: repo.into(),
            started,
            trigger: trigger.into(),
            ..Sync::default()
        })
    }

    /// Syncs of `repo` that never finished (killed; called while holding its lock, when
    /// none can be going) are recorded as failed.
    pub fn close_dead_syncs(&self, repo: &str) -> Result<usize> {
        Ok(self.conn.execute(
            "UPDATE syncs SET ok = 0, exit_code = 130, finished = ?2,
                error = 'the sync was killed or interrupted before it finished'
             WHERE repo = ?1 AND ok IS NULL",
            params![repo, ely_vocab::date::now_rfc3339()],
        )?)
    }

    pub fn finish_sync(&self, s: &Sync) -> Result<()> {
        self.conn.execute(
            "UPDATE syncs SET finished = ?1, ok = ?2, exit_code = ?3, error = ?4, commit_id = ?5,
                added = ?6, modified = ?7, deleted = ?8, unchanged = ?9, rejected = ?10,
                objects = ?11, messages = ?12, alert = ?14 WHERE id = ?13",
            params![
                s.finished,
                s.ok,
                s.exit_code,
                s.error,
                s.commit,
                s.added as i64,
                s.modified as i64,
                s.deleted as i64,
                s.unchanged as i64,
                s.rejected as i64,
                s.objects as i64,
                s.messages,
                s.id,
                s.alert
            ],
        )?;
        Ok(())
    }

    /// The last `n` syncs of `repo` (every repository's when `None`), oldest first.
    pub fn syncs(&self, repo: Option<&str>, n: usize) -> Result<Vec<Sync>> {
        let mut stmt = self.conn.prepare(
            "SELECT * FROM (SELECT id, repo, started, finished, ok, exit_code, error, trigger,
                commit_id, added, modified, deleted, unchanged, rejected, objects, messages, alert
                FROM syncs WHERE (?1 IS NULL OR repo = ?1) ORDER BY id DESC LIMIT ?2)
             ORDER BY id",
        )?;
        let rows = stmt
            .query_map(params![repo, n.min(i64::MAX as usize) as i64], |r| {
                Ok(Sync {
                    id: r.get(0)?,
                    repo: r.get(1)?,
                    started: r.get(2)?,
                    finished: r.get(3)?,
                    ok: r.get(4)?,
                    exit_code: r.get(5)?,
                    error: r.get(6)?,
                    trigger: r.get(7)?,
                    commit: r.get(8)?,
                    added: r.get::<_, i64>(9)? as u64,
                    modified: r.get::<_, i64>(10)? as u64,
                    deleted: r.get::<_, i64>(11)? as u64,
                    unchanged: r.get::<_, i64>(12)? as u64,
                    rejected: r.get::<_, i64>(13)? as u64,
                    objects: r.get::<_, i64>(14)? as u64,
                    messages: r.get(15)?,
                    alert: r.get(16)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// How many of the repository's last syncs failed in a row, and when the last ended.
    pub fn failures(&self, repo: &str) -> Result<(u32, Option<String>)> {
        let recent = self.syncs(Some(repo), 50)?;
        let finished: Vec<&Sync> = recent.iter().filter(|s| s.ok.is_some()).collect();
        let n = finished
            .iter()
            .rev()
            .take_while(|s| s.ok == Some(false))
            .count() as u32;
        Ok((n, finished.last().and_then(|s| s.finished.clone())))
    }

    /// Files settled per second by the last good syncs of every repository that settled
    /// some (at most 50), and how many syncs that is: what an add estimates its first sync
    /// from. `None` before any such sync.
    pub fn throughput(&self) -> Result<Option<(f64, u64)>> {
        let mut stmt = self.conn.prepare(
            "SELECT added + modified + deleted + unchanged + rejected, started, finished
             FROM syncs WHERE ok = 1 AND finished IS NOT NULL
               AND added + modified + deleted + unchanged + rejected > 0
             ORDER BY id DESC LIMIT 50",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let (mut files, mut secs, mut n) = (0f64, 0f64, 0u64);
        for (f, started, finished) in rows {
            let (Ok(a), Ok(b)) = (
                started.parse::<jiff::Timestamp>(),
                finished.parse::<jiff::Timestamp>(),
            ) else {
                continue;
            };
            files += f as f64;
            secs += b.duration_since(a).as_secs_f64().max(0.001);
            n += 1;
        }
        Ok((n > 0).then(|| (files / secs, n)))
    }
}
