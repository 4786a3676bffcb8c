//! The catalog file: one SQLite file (0600, WAL, busy timeout, migrated by `user_version`,
//! opened by `ely_store::sqlite::open` like every ely state file) holding every backup ely
//! knows of, the result of its last verification, the backup plans and the history of their
//! runs. Two cron jobs adding at once is safe: every change is one immediate transaction,
//! and a writer waits for the other's lock.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use ely_stream::{Manifest, ManifestCollection};
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, TransactionBehavior};
use serde::{Deserialize, Serialize};
use sha2::Digest;

use crate::plan::Plan;

const MIGRATIONS: &[&str] = &["
CREATE TABLE backups (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    file TEXT NOT NULL UNIQUE,
    format TEXT NOT NULL,
    compression TEXT NOT NULL,
    objects INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL DEFAULT 0,
    hash TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    schema_only INTEGER NOT NULL,
    filtered INTEGER NOT NULL,
    started TEXT NOT NULL,
    finished TEXT NOT NULL,
    time_us INTEGER NOT NULL,
    source TEXT NOT NULL,
    ely_version TEXT NOT NULL,
    grp TEXT NOT NULL,
    collections TEXT NOT NULL,
    tags TEXT NOT NULL DEFAULT '[]',
    note TEXT NOT NULL DEFAULT '',
    plan TEXT,
    pinned INTEGER NOT NULL DEFAULT 0,
    removing INTEGER NOT NULL DEFAULT 0,
    added TEXT NOT NULL,
    check_at TEXT,
    check_mode TEXT,
    check_ok INTEGER,
    check_error TEXT
);
CREATE INDEX backups_time ON backups(time_us, seq);
CREATE INDEX backups_source ON backups(source, time_us);
CREATE INDEX backups_plan ON backups(plan, time_us);
CREATE TABLE collections (
    name TEXT NOT NULL,
    seq INTEGER NOT NULL REFERENCES backups(seq) ON DELETE CASCADE,
    time_us INTEGER NOT NULL,
    objects INTEGER NOT NULL,
    tenants INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    PRIMARY KEY (name, seq)
) WITHOUT ROWID;
CREATE INDEX collections_seq ON collections(seq);
CREATE INDEX collections_time ON collections(name, time_us);
-- Per collection: backups, bytes, oldest and newest, kept up to date by triggers, so `stats`
-- reads one row per collection however many backups there are.
CREATE TABLE collection_stats (
    name TEXT PRIMARY KEY,
    backups INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    oldest INTEGER NOT NULL,
    newest INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TRIGGER collections_added AFTER INSERT ON collections BEGIN
    INSERT INTO collection_stats (name, backups, bytes, oldest, newest)
        VALUES (new.name, 1, new.bytes, new.time_us, new.time_us)
        ON CONFLICT (name) DO UPDATE SET backups = backups + 1, bytes = bytes + new.bytes,
            oldest = min(oldest, new.time_us), newest = max(newest, new.time_us);
END;
CREATE TRIGGER collections_removed AFTER DELETE ON collections BEGIN
    UPDATE collection_stats SET backups = backups - 1, bytes = bytes - old.bytes,
        oldest = coalesce((SELECT min(time_us) FROM collections WHERE name = old.name), 0),
        newest = coalesce((SELECT max(time_us) FROM collections WHERE name = old.name), 0)
        WHERE name = old.name;
    DELETE FROM collection_stats WHERE name = old.name AND backups <= 0;
END;
CREATE TABLE tags (
    tag TEXT NOT NULL,
    seq INTEGER NOT NULL REFERENCES backups(seq) ON DELETE CASCADE,
    PRIMARY KEY (tag, seq)
) WITHOUT ROWID;
CREATE INDEX tags_seq ON tags(seq);
CREATE TABLE checks (
    seq INTEGER NOT NULL REFERENCES backups(seq) ON DELETE CASCADE,
    at TEXT NOT NULL,
    mode TEXT NOT NULL,
    ok INTEGER NOT NULL,
    error TEXT
);
CREATE INDEX checks_seq ON checks(seq);
CREATE TABLE plans (
    name TEXT PRIMARY KEY,
    spec TEXT NOT NULL,
    created TEXT NOT NULL
);
CREATE TABLE runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    plan TEXT NOT NULL,
    started TEXT NOT NULL,
    finished TEXT,
    ok INTEGER,
    exit_code INTEGER,
    error TEXT,
    backups TEXT,
    removed INTEGER,
    alert TEXT
);
CREATE INDEX runs_plan ON runs(plan, id);
"];

/// The columns of `backups` a [`Backup`] is read from, in [`Backup::from_row`]'s order. Its
/// collections and tags are kept in the row too (as JSON), so a listing reads one row per
/// backup; the `collections` and `tags` tables are what filters and stats search.
const COLUMNS: &str = "seq, id, file, format, compression, objects, bytes, hash, algorithm, \
    schema_only, filtered, started, finished, time_us, source, ely_version, grp, note, plan, \
    pinned, removing, added, check_at, check_mode, check_ok, check_error, collections, tags, \
    mtime_ns";

/// The open catalog.
pub struct Catalog {
    conn: Connection,
    path: PathBuf,
}

/// A verification's outcome, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    /// When, RFC 3339.
    pub at: String,
    /// `quick` (present, size and hash) or `deep` (every line, count and trailer too).
    pub mode: String,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What a backup is now: its file gone, being removed, or as its last verification found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Verified, and the file is there.
    Ok,
    /// Its last verification failed.
    Failed,
    /// The file is not on disk.
    Missing,
    /// Marked for removal by a cleanup that has not finished.
    Removing,
    /// Never verified since it was added from a manifest.
    Unverified,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Failed => "failed",
            Status::Missing => "missing",
            Status::Removing => "removing",
            Status::Unverified => "unverified",
        }
    }

    pub fn parse(s: &str) -> Result<Status, String> {
        Ok(match s {
            "ok" => Status::Ok,
            "failed" => Status::Failed,
            "missing" => Status::Missing,
            "removing" => Status::Removing,
            "unverified" => Status::Unverified,
            _ => {
                return Err(format!(
                    "'{s}' is not a status: use ok, failed, missing, removing or unverified"
                ))
            }
        })
    }
}

/// One backup: one file ely wrote.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Backup {
    /// Internal row number (insertion order): ties between equal times are broken by it.
    #[serde(skip)]
    pub seq: i64,
    /// The full id: hex SHA-256 of the file's hash and path. Shown by its first 8 digits.
    pub id: String,
    pub short_id: String,
    pub file: String,
    pub status: Status,
    pub format: String,
    pub compression: String,
    pub collections: Vec<ManifestCollection>,
    pub objects: u64,
    pub bytes: u64,
    pub hash: String,
    pub algorithm: String,
    pub schema_only: bool,
    pub filtered: bool,
    pub started: String,
    pub finished: String,
    /// `started` in microseconds since the Unix epoch.
    #[serde(skip)]
    pub time_us: i64,
    pub source: String,
    pub ely_version: String,
    /// The collections, sorted and joined by commas: what retention groups by.
    #[serde(skip)]
    pub group: String,
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
    pub pinned: bool,
    /// The backup plan whose run wrote it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
    pub added: String,
    /// The last verification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified: Option<Check>,
    #[serde(skip)]
    pub removing: bool,
    /// The file's modification time when it was added (nanoseconds; 0 when unknown): a file
    /// at the path that differs in it is not this backup, and cleanup leaves it alone.
    #[serde(skip)]
    pub mtime_ns: i64,
}

impl ely_stream::Record for Backup {
    const KIND: &'static str = "backup";
}

impl Backup {
    fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Backup> {
        let id: String = r.get(1)?;
        let check_at: Option<String> = r.get(22)?;
        let verified = match check_at {
            Some(at) => Some(Check {
                at,
                mode: r.get::<_, Option<String>>(23)?.unwrap_or_default(),
                ok: r.get::<_, Option<bool>>(24)?.unwrap_or(false),
                error: r.get(25)?,
            }),
            None => None,
        };
        let removing: bool = r.get(20)?;
        Ok(Backup {
            seq: r.get(0)?,
            short_id: short(&id).to_owned(),
            id,
            file: r.get(2)?,
            status: Status::Unverified,
            format: r.get(3)?,
            compression: r.get(4)?,
            collections: serde_json::from_str(&r.get::<_, String>(26)?).unwrap_or_default(),
            objects: r.get::<_, i64>(5)? as u64,
            bytes: r.get::<_, i64>(6)? as u64,
            hash: r.get(7)?,
            algorithm: r.get(8)?,
            schema_only: r.get(9)?,
            filtered: r.get(10)?,
            started: r.get(11)?,
            finished: r.get(12)?,
            time_us: r.get(13)?,
            source: r.get(14)?,
            ely_version: r.get(15)?,
            group: r.get(16)?,
            tags: serde_json::from_str(&r.get::<_, String>(27)?).unwrap_or_default(),
            note: r.get(17)?,
            plan: r.get(18)?,
            pinned: r.get(19)?,
            removing,
            mtime_ns: r.get(28)?,
            added: r.get(21)?,
            verified,
        })
    }

    /// Sets `status` from the file on disk and the last verification.
    pub fn refresh_status(&mut self) {
        self.status = if self.removing {
            Status::Removing
        } else if !Path::new(&self.file).exists() {
            Status::Missing
        } else {
            match &self.verified {
                Some(c) if c.ok => Status::Ok,
                Some(_) => Status::Failed,
                None => Status::Unverified,
            }
        };
    }
}

/// The short form of an id: its first 8 hex digits, as restic shows snapshot ids.
pub fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

/// A backup's id: hex SHA-256 of its file's hash and absolute path, so adding the same file
/// again finds the same backup, and the same bytes copied elsewhere are another backup.
pub fn backup_id(m: &Manifest) -> String {
    let mut h = sha2::Sha256::new();
    h.update(m.algorithm.as_bytes());
    h.update(b":");
    h.update(m.hash.as_bytes());
    h.update(b"\n");
    h.update(m.file.as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// A file's modification time in nanoseconds since the Unix epoch (0 when unknown).
pub fn mtime_ns(meta: &std::fs::Metadata) -> i64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as i64)
}

/// RFC 3339 text as microseconds since the Unix epoch.
pub fn micros(text: &str) -> Option<i64> {
    text.parse::<jiff::Timestamp>()
        .ok()
        .map(|t| t.as_microsecond())
}

/// What adding a manifest did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Added {
    /// A new backup.
    Added,
    /// The catalog knew this very file already (its tags and note were merged).
    Exists,
    /// The file at this path was another backup, overwritten since: that one was dropped.
    Replaced,
}

/// What else an added backup records.
#[derive(Debug, Clone, Default)]
pub struct AddExtra {
    pub tags: Vec<String>,
    pub note: Option<String>,
    pub plan: Option<String>,
    /// The verification done while adding (files read by `add FILE`).
    pub check: Option<Check>,
}

/// Which backups a command is about.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Backups holding any of these collections.
    pub collections: Vec<String>,
    pub source: Option<String>,
    /// Backups with every one of these tags.
    pub tags: Vec<String>,
    /// Started at or after (microseconds).
    pub since: Option<i64>,
    /// Started before (microseconds).
    pub until: Option<i64>,
    pub plan: Option<String>,
    pub status: Option<Status>,
    /// Only the newest N (after every other filter).
    pub latest: Option<usize>,
}

/// One collection's figures for `stats`.
#[derive(Debug, Clone, Serialize)]
pub struct CollectionStats {
    pub collection: String,
    pub backups: u64,
    pub oldest: String,
    pub newest: String,
    /// Bytes of every file holding the collection.
    pub bytes: u64,
    /// Objects in the newest backup.
    pub objects: u64,
    /// Objects in the newest backup minus those in the oldest backup of the 30 days before
    /// it.
    pub growth_30d: i64,
    /// Runs of the backup plans that include the collection.
    pub scheduled_runs: u64,
    /// The share of them that succeeded, 0 to 1; absent without runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub success_rate: Option<f64>,
}

/// One run of a backup plan.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Run {
    pub id: i64,
    pub plan: String,
    pub started: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished: Option<String>,
    /// `None` while running (or when the run was killed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ok: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Short ids of the backups it wrote.
    #[serde(default)]
    pub backups: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removed: Option<u64>,
    /// What became of its alert, when it sent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert: Option<String>,
}

impl ely_stream::Record for Run {
    const KIND: &'static str = "run";
}

impl Catalog {
    /// Opens (creating when missing) the catalog at `path`.
    pub fn open(path: &Path) -> Result<Catalog> {
        let conn = ely_store::sqlite::open(path, "catalog", MIGRATIONS, |c| {
            c.pragma_update(None, "foreign_keys", "ON")?;
            c.pragma_update(None, "synchronous", "NORMAL")
        })?;
        Ok(Catalog {
            conn,
            path: path.to_owned(),
        })
    }

    /// Opens a catalog that must exist (for every command but those that add to it): a
    /// mistyped path is an error, not a new empty catalog.
    pub fn open_existing(path: &Path) -> Result<Catalog> {
        if !path.exists() {
            bail!(
                "no catalog at {} (`ely-catalog add` or `schedule add` creates one; check --catalog or ELY_CATALOG)",
                path.display()
            );
        }
        Catalog::open(path)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records the backup a manifest describes. Adding the same file (same path and hash)
    /// again changes nothing but merging tags and note.
    pub fn add(&mut self, m: &Manifest, extra: &AddExtra) -> Result<(Added, Backup)> {
        let Some(time_us) = micros(&m.started) else {
            bail!("its started time {:?} is not an RFC 3339 time", m.started);
        };
        let id = backup_id(m);
        let mut group: Vec<&str> = m.collections.iter().map(|c| c.name.as_str()).collect();
        group.sort_unstable();
        group.dedup();
        let group = group.join(",");
        let now = ely_vocab::date::now_rfc3339();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let known: Option<(i64, String)> = tx
            .query_row(
                "SELECT seq, id FROM backups WHERE file = ?1",
                [&m.file],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let (action, seq) = match known {
            Some((seq, known_id)) if known_id == id => (Added::Exists, seq),
            other => {
                let action = match other {
                    Some((old, _)) => {
                        tx.execute("DELETE FROM backups WHERE seq = ?1", [old])?;
                        Added::Replaced
                    }
                    None => Added::Added,
                };
                tx.execute(
                    "INSERT INTO backups (id, file, format, compression, objects, bytes, hash,
                        algorithm, schema_only, filtered, started, finished, time_us, source,
                        ely_version, grp, note, plan, added, collections, mtime_ns)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15,
                        ?16, '', ?17, ?18, ?19, ?20)",
                    params![
                        id,
                        m.file,
                        m.format,
                        m.compression,
                        m.objects as i64,
                        m.bytes as i64,
                        m.hash,
                        m.algorithm,
                        m.schema_only,
                        m.filtered,
                        m.started,
                        m.finished,
                        time_us,
                        m.source,
                        m.ely_version,
                        group,
                        extra.plan,
                        now,
                        serde_json::to_string(&m.collections)?,
                        std::fs::metadata(&m.file).map_or(0, |meta| mtime_ns(&meta)),
                    ],
                )?;
                let seq = tx.last_insert_rowid();
                let mut ins = tx.prepare(
                    "INSERT INTO collections (name, seq, time_us, objects, tenants, bytes)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT (name, seq) DO UPDATE SET objects = objects + excluded.objects",
                )?;
                for c in &m.collections {
                    ins.execute(params![
                        c.name,
                        seq,
                        time_us,
                        c.objects as i64,
                        c.tenants as i64,
                        m.bytes as i64
                    ])?;
                }
                (action, seq)
            }
        };
        if !extra.tags.is_empty() {
            for t in &extra.tags {
                tx.execute(
                    "INSERT OR IGNORE INTO tags (tag, seq) VALUES (?1, ?2)",
                    params![t, seq],
                )?;
            }
            let tags: Vec<String> = tx
                .prepare("SELECT tag FROM tags WHERE seq = ?1 ORDER BY tag")?
                .query_map([seq], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            tx.execute(
                "UPDATE backups SET tags = ?1 WHERE seq = ?2",
                params![serde_json::to_string(&tags)?, seq],
            )?;
        }
        if let Some(note) = &extra.note {
            tx.execute(
                "UPDATE backups SET note = ?1 WHERE seq = ?2",
                params![note, seq],
            )?;
        }
        if let Some(check) = &extra.check {
            record_check(&tx, seq, check)?;
        }
        tx.commit()?;
        let mut b = self.by_seq(seq)?;
        b.refresh_status();
        Ok((action, b))
    }

    fn by_seq(&self, seq: i64) -> Result<Backup> {
        Ok(self.conn.query_row(
            &format!("SELECT {COLUMNS} FROM backups WHERE seq = ?1"),
            [seq],
            Backup::from_row,
        )?)
    }

    /// The backups `filter` picks, oldest first (ties in the order they were added), with
    /// their status read from the disk.
    pub fn find(&self, filter: &Filter) -> Result<Vec<Backup>> {
        let mut backups = self.rows(filter, filter.status.is_none())?;
        if let Some(status) = filter.status {
            backups.retain_mut(|b| {
                b.refresh_status();
                b.status == status
            });
            if let Some(n) = filter.latest {
                let skip = backups.len().saturating_sub(n);
                backups.drain(..skip);
            }
        }
        if filter.status.is_none() {
            for b in &mut backups {
                b.refresh_status();
            }
        }
        Ok(backups)
    }

    /// The rows `filter` picks, without collections, tags or status (what retention needs).
    pub fn rows(&self, filter: &Filter, limit: bool) -> Result<Vec<Backup>> {
        let mut clauses: Vec<String> = Vec::new();
        let mut values: Vec<rusqlite::types::Value> = Vec::new();
        if !filter.collections.is_empty() {
            let marks = vec!["?"; filter.collections.len()].join(", ");
            clauses.push(format!(
                "seq IN (SELECT seq FROM collections WHERE name IN ({marks}))"
            ));
            values.extend(filter.collections.iter().map(|c| c.clone().into()));
        }
        if let Some(s) = &filter.source {
            clauses.push("source = ?".into());
            values.push(s.clone().into());
        }
        for t in &filter.tags {
            clauses.push("seq IN (SELECT seq FROM tags WHERE tag = ?)".into());
            values.push(t.clone().into());
        }
        if let Some(t) = filter.since {
            clauses.push("time_us >= ?".into());
            values.push(t.into());
        }
        if let Some(t) = filter.until {
            clauses.push("time_us < ?".into());
            values.push(t.into());
        }
        if let Some(p) = &filter.plan {
            clauses.push("plan = ?".into());
            values.push(p.clone().into());
        }
        let wher = match clauses.is_empty() {
            true => String::new(),
            false => format!("WHERE {}", clauses.join(" AND ")),
        };
        let sql = match filter.latest.filter(|_| limit) {
            Some(n) => format!(
                "SELECT * FROM (SELECT {COLUMNS} FROM backups {wher}
                    ORDER BY time_us DESC, seq DESC LIMIT {}) ORDER BY time_us, seq",
                n.min(i64::MAX as usize)
            ),
            None => format!("SELECT {COLUMNS} FROM backups {wher} ORDER BY time_us, seq"),
        };
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt
            .query_map(params_from_iter(values), Backup::from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// The backup whose id starts with `prefix` (at least 4 hex digits); an error when none
    /// or several do.
    pub fn get(&self, prefix: &str) -> Result<Backup> {
        let p = prefix.trim().to_ascii_lowercase();
        if p.len() < 4 || !p.bytes().all(|b| b.is_ascii_hexdigit()) {
            bail!("{prefix:?} is not a backup id: give at least 4 hex digits of one (see `ely-catalog list`)");
        }
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM backups WHERE id >= ?1 AND id < ?2 ORDER BY id LIMIT 2"
        ))?;
        let upper = format!("{p}g");
        let mut found = stmt
            .query_map(params![p, upper], Backup::from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        match found.len() {
            0 => bail!("no backup has an id starting with {p} (see `ely-catalog list`)"),
            1 => {}
            _ => bail!("several backups have ids starting with {p}: give more digits"),
        }
        let mut b = found.remove(0);
        b.refresh_status();
        Ok(b)
    }

    /// Backups whose file, note, tags, collections, source, plan or id contain `text`
    /// (ignoring case), oldest first.
    pub fn search(&self, text: &str) -> Result<Vec<Backup>> {
        let like = format!(
            "%{}%",
            text.replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        let sql = format!(
            "SELECT {COLUMNS} FROM backups WHERE file LIKE ?1 ESCAPE '\\' OR note LIKE ?1 ESCAPE '\\'
               OR source LIKE ?1 ESCAPE '\\' OR plan LIKE ?1 ESCAPE '\\' OR id LIKE ?2
               OR seq IN (SELECT seq FROM tags WHERE tag LIKE ?1 ESCAPE '\\')
               OR seq IN (SELECT seq FROM collections WHERE name LIKE ?1 ESCAPE '\\')
             ORDER BY time_us, seq"
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let prefix = format!("{}%", text.to_ascii_lowercase().replace(['%', '_'], ""));
        let mut found = stmt
            .query_map(params![like, prefix], Backup::from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        for b in &mut found {
            b.refresh_status();
        }
        Ok(found)
    }

    /// Pins or unpins a backup; a pin also stops an unfinished removal of it.
    pub fn set_pinned(&self, seq: i64, pinned: bool) -> Result<()> {
        self.conn.execute(
            "UPDATE backups SET pinned = ?1, removing = removing AND NOT ?1 WHERE seq = ?2",
            params![pinned, seq],
        )?;
        Ok(())
    }

    /// Drops a backup's row; its file stays.
    pub fn forget(&self, seq: i64) -> Result<()> {
        self.conn
            .execute("DELETE FROM backups WHERE seq = ?1", [seq])?;
        Ok(())
    }

    /// Records a verification (nothing when the backup was dropped meanwhile).
    pub fn record_check(&mut self, seq: i64, check: &Check) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        record_check(&tx, seq, check)?;
        tx.commit()?;
        Ok(())
    }

    /// Marks backups as being removed, before their files are deleted: a crash in between
    /// leaves rows that say so, and the next cleanup finishes them. A backup pinned since the
    /// policy was applied is not marked. Returns those marked. The mark is synced to disk
    /// before any file goes.
    pub fn mark_removing(&mut self, seqs: &[i64]) -> Result<Vec<i64>> {
        self.conn.pragma_update(None, "synchronous", "FULL")?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut marked = Vec::new();
        {
            let mut stmt =
                tx.prepare("UPDATE backups SET removing = 1 WHERE seq = ?1 AND pinned = 0")?;
            for s in seqs {
                if stmt.execute([s])? > 0 {
                    marked.push(*s);
                }
            }
        }
        tx.commit()?;
        self.conn.pragma_update(None, "synchronous", "NORMAL")?;
        Ok(marked)
    }

    /// Backups marked for removal by a cleanup that did not finish.
    pub fn unfinished_removals(&self) -> Result<Vec<Backup>> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {COLUMNS} FROM backups WHERE removing = 1 AND pinned = 0 ORDER BY seq"
        ))?;
        let rows = stmt
            .query_map([], Backup::from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Per collection: backups, newest and oldest, bytes, objects and growth, and the success
    /// rate of the scheduled runs that back it up.
    pub fn stats(&self) -> Result<Vec<CollectionStats>> {
        let mut stmt = self.conn.prepare(
            "SELECT name, backups, oldest, newest, bytes FROM collection_stats ORDER BY name",
        )?;
        let groups = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, i64>(4)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        // The parts of one split backup share its start time: their objects add up.
        let mut newest_objects = self.conn.prepare_cached(
            "SELECT coalesce(SUM(objects), 0) FROM collections INDEXED BY collections_time
             WHERE name = ?1 AND time_us = ?2",
        )?;
        let mut first_since = self.conn.prepare_cached(
            "SELECT coalesce(SUM(objects), 0) FROM collections INDEXED BY collections_time
             WHERE name = ?1 AND time_us = (SELECT MIN(time_us) FROM collections
                INDEXED BY collections_time WHERE name = ?1 AND time_us >= ?2)",
        )?;
        // Runs per plan, and each plan's collections.
        let mut runs: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        {
            let mut stmt = self.conn.prepare(
                "SELECT plan, COUNT(*), SUM(ok = 1) FROM runs WHERE ok IS NOT NULL GROUP BY plan",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, Option<i64>>(2)?,
                ))
            })?;
            for row in rows {
                let (plan, n, ok) = row?;
                runs.insert(plan, (n as u64, ok.unwrap_or(0) as u64));
            }
        }
        let plans = self.plans()?;
        let mut out = Vec::with_capacity(groups.len());
        for (name, backups, oldest, newest, bytes) in groups {
            let objects: i64 = newest_objects.query_row(params![name, newest], |r| r.get(0))?;
            let month_before = newest - 30 * 86_400 * 1_000_000;
            let first: i64 = first_since.query_row(params![name, month_before], |r| r.get(0))?;
            let (mut total, mut ok) = (0, 0);
            for p in plans
                .iter()
                .filter(|p| p.all || p.collections.contains(&name))
            {
                if let Some((n, k)) = runs.get(&p.name) {
                    total += n;
                    ok += k;
                }
            }
            out.push(CollectionStats {
                collection: name,
                backups: backups as u64,
                oldest: ely_vocab::date::rfc3339_micros(oldest),
                newest: ely_vocab::date::rfc3339_micros(newest),
                bytes: bytes as u64,
                objects: objects as u64,
                growth_30d: objects - first,
                scheduled_runs: total,
                success_rate: (total > 0).then(|| ok as f64 / total as f64),
            });
        }
        Ok(out)
    }

    // Backup plans and their runs.

    pub fn plan(&self, name: &str) -> Result<Option<Plan>> {
        let spec: Option<String> = self
            .conn
            .query_row("SELECT spec FROM plans WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .optional()?;
        spec.map(|s| {
            serde_json::from_str(&s).with_context(|| format!("the catalog's plan {name:?}"))
        })
        .transpose()
    }

    pub fn plans(&self) -> Result<Vec<Plan>> {
        let mut stmt = self
            .conn
            .prepare("SELECT name, spec FROM plans ORDER BY name")?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter()
            .map(|(name, spec)| {
                serde_json::from_str(&spec).with_context(|| format!("the catalog's plan {name:?}"))
            })
            .collect()
    }

    /// Saves a plan; an existing plan of that name is replaced only when `replace`.
    pub fn save_plan(&mut self, plan: &Plan, replace: bool) -> Result<bool> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let exists: bool = tx
            .query_row("SELECT 1 FROM plans WHERE name = ?1", [&plan.name], |_| {
                Ok(true)
            })
            .optional()?
            .unwrap_or(false);
        if exists && !replace {
            bail!(
                "a backup plan named {:?} exists already: remove it first, or give --replace",
                plan.name
            );
        }
        tx.execute(
            "INSERT OR REPLACE INTO plans (name, spec, created) VALUES (?1, ?2, ?3)",
            params![
                plan.name,
                serde_json::to_string(plan)?,
                ely_vocab::date::now_rfc3339()
            ],
        )?;
        tx.commit()?;
        Ok(exists)
    }

    pub fn remove_plan(&self, name: &str) -> Result<bool> {
        Ok(self
            .conn
            .execute("DELETE FROM plans WHERE name = ?1", [name])?
            > 0)
    }

    /// Records that a run of `plan` started; returns its id.
    pub fn start_run(&self, plan: &str) -> Result<i64> {
        self.conn.execute(
            "INSERT INTO runs (plan, started) VALUES (?1, ?2)",
            params![plan, ely_vocab::date::now_rfc3339()],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Runs of `plan` that never finished (killed, or the machine went down) are recorded as
    /// failed; called while holding the plan's lock, when no run of it can be going. Returns
    /// how many.
    pub fn close_dead_runs(&self, plan: &str) -> Result<usize> {
        Ok(self.conn.execute(
            "UPDATE runs SET ok = 0, exit_code = 130, finished = ?2,
                error = 'the run was killed or interrupted before it finished'
             WHERE plan = ?1 AND ok IS NULL",
            params![plan, ely_vocab::date::now_rfc3339()],
        )?)
    }

    /// Records how a run ended.
    pub fn finish_run(&self, run: &Run) -> Result<()> {
        self.conn.execute(
            "UPDATE runs SET finished = ?1, ok = ?2, exit_code = ?3, error = ?4, backups = ?5,
                removed = ?6, alert = ?7 WHERE id = ?8",
            params![
                run.finished,
                run.ok,
                run.exit_code,
                run.error,
                serde_json::to_string(&run.backups)?,
                run.removed.map(|n| n as i64),
                run.alert,
                run.id
            ],
        )?;
        Ok(())
    }

    /// The last `n` finished runs of `plan` (all plans when `None`), newest last.
    pub fn runs(&self, plan: Option<&str>, n: usize) -> Result<Vec<Run>> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT * FROM (SELECT id, plan, started, finished, ok, exit_code, error, backups,
                removed, alert FROM runs WHERE (?1 IS NULL OR plan = ?1)
                ORDER BY id DESC LIMIT {}) ORDER BY id",
            n.min(i64::MAX as usize)
        ))?;
        let rows = stmt
            .query_map([plan], |r| {
                let backups: Option<String> = r.get(7)?;
                Ok(Run {
                    id: r.get(0)?,
                    plan: r.get(1)?,
                    started: r.get(2)?,
                    finished: r.get(3)?,
                    ok: r.get(4)?,
                    exit_code: r.get(5)?,
                    error: r.get(6)?,
                    backups: backups
                        .and_then(|b| serde_json::from_str(&b).ok())
                        .unwrap_or_default(),
                    removed: r.get::<_, Option<i64>>(8)?.map(|n| n as u64),
                    alert: r.get(9)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }
}

fn record_check(conn: &Connection, seq: i64, check: &Check) -> Result<()> {
    let changed = conn.execute(
        "UPDATE backups SET check_at = ?1, check_mode = ?2, check_ok = ?3, check_error = ?4
         WHERE seq = ?5",
        params![check.at, check.mode, check.ok, check.error, seq],
    )?;
    if changed == 0 {
        return Ok(());
    }
    conn.execute(
        "INSERT INTO checks (seq, at, mode, ok, error) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![seq, check.at, check.mode, check.ok, check.error],
    )?;
    Ok(())
}

/// Where the catalog is: `--catalog FILE`, else `$ELY_CATALOG`, else
/// `$ELY_HOME/catalog.db` (ELY_HOME defaults to ~/.local/share/ely).
pub fn catalog_path(flag: Option<&Path>, env: impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    if let Some(p) = flag {
        return Some(p.to_owned());
    }
    if let Some(p) = env("ELY_CATALOG").filter(|p| !p.trim().is_empty()) {
        return Some(PathBuf::from(p));
    }
    ely_store::ely_home(env).map(|h| h.join("catalog.db"))
}
