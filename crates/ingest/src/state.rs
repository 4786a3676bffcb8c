//! What ely-ingest remembers between runs, in one SQLite file (`$ELY_HOME/ingest.db`, mode
//! 0600): per store, collection and repository, the commit each source was read up to (the
//! `new_changeset` of mgit's records, or the commit `--git` ingested), and the id scheme each
//! collection was written with.

use std::collections::HashMap;
use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension};

const MIGRATIONS: &[&str] = &[
    "CREATE TABLE commits (
        store TEXT NOT NULL,
        collection TEXT NOT NULL,
        repo TEXT NOT NULL,
        source TEXT NOT NULL,
        commit_id TEXT NOT NULL,
        branch TEXT,
        updated TEXT NOT NULL,
        PRIMARY KEY (store, collection, repo, source)
    ) WITHOUT ROWID;
    CREATE TABLE schemes (
        store TEXT NOT NULL,
        collection TEXT NOT NULL,
        scheme TEXT NOT NULL,
        PRIMARY KEY (store, collection)
    ) WITHOUT ROWID;",
    // Repositories a run began writing and has not finished: the next run checks every chunk
    // it holds of them rather than trusting a file's first chunk, and a resumed run keeps the
    // rejections made before it stopped. `worktree` is what --uncommitted indexed from the
    // working tree, re-checked by the next run.
    "CREATE TABLE unfinished (
        store TEXT NOT NULL,
        collection TEXT NOT NULL,
        repo TEXT NOT NULL,
        rejected INTEGER NOT NULL DEFAULT 0,
        started TEXT NOT NULL,
        PRIMARY KEY (store, collection, repo)
    ) WITHOUT ROWID;
    CREATE TABLE worktree (
        store TEXT NOT NULL,
        collection TEXT NOT NULL,
        repo TEXT NOT NULL,
        path TEXT NOT NULL,
        PRIMARY KEY (store, collection, repo, path)
    ) WITHOUT ROWID;",
];

/// Where a repository's commit came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// mgit's `new_changeset` records.
    Mgit,
    /// `--git`: the commit ingested from git itself.
    Git,
}

impl Source {
    fn name(self) -> &'static str {
        match self {
            Source::Mgit => "mgit",
            Source::Git => "git",
        }
    }
}

/// A remembered commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remembered {
    pub commit: String,
    pub branch: Option<String>,
    pub updated: String,
}

/// The state file, for one store and collection.
pub struct State {
    conn: Connection,
    path: std::path::PathBuf,
    store: String,
    collection: String,
}

impl State {
    /// Opens (creating) the state file at `path`, for `store` (its location) and `collection`.
    pub fn open(path: &Path, store: &str, collection: &str) -> anyhow::Result<State> {
        let conn = ely_store::sqlite::open(path, "ingest state", MIGRATIONS, |_| Ok(()))?;
        Ok(State {
            conn,
            path: path.to_owned(),
            store: store.to_owned(),
            collection: collection.to_owned(),
        })
    }

    /// The commit `repo` was read up to from `source`.
    pub fn commit(&self, repo: &str, source: Source) -> anyhow::Result<Option<Remembered>> {
        Ok(self
            .conn
            .query_row(
                "SELECT commit_id, branch, updated FROM commits
                 WHERE store = ?1 AND collection = ?2 AND repo = ?3 AND source = ?4",
                params![self.store, self.collection, repo, source.name()],
                |r| {
                    Ok(Remembered {
                        commit: r.get(0)?,
                        branch: r.get(1)?,
                        updated: r.get(2)?,
                    })
                },
            )
            .optional()?)
    }

    /// Remembers that `repo` was read up to `commit` from `source`.
    pub fn remember(
        &self,
        repo: &str,
        source: Source,
        commit: &str,
        branch: Option<&str>,
    ) -> anyhow::Result<()> {
        self.conn.execute(
            "INSERT INTO commits (store, collection, repo, source, commit_id, branch, updated)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (store, collection, repo, source) DO UPDATE
             SET commit_id = excluded.commit_id, branch = excluded.branch, updated = excluded.updated",
            params![
                self.store,
                self.collection,
                repo,
                source.name(),
                commit,
                branch,
                ely_vocab::date::now_rfc3339()
            ],
        )?;
        Ok(())
    }

    /// Another connection to the same file (the run and its results writer each hold one).
    pub fn reopen(&self) -> anyhow::Result<State> {
        State::open(&self.path, &self.store, &self.collection)
    }

    /// Repositories a run began and did not finish, with the rejections counted so far.
    pub fn unfinished(&self) -> anyhow::Result<HashMap<String, u64>> {
        let mut stmt = self.conn.prepare(
            "SELECT repo, rejected FROM unfinished WHERE store = ?1 AND collection = ?2",
        )?;
        let rows = stmt.query_map(params![self.store, self.collection], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
        })?;
        let mut out = HashMap::new();
        for row in rows {
            let (repo, n) = row?;
            out.insert(repo, n.max(0) as u64);
        }
        Ok(out)
    }

    /// Marks `repo` as being written, before anything of it is. A run that starts over
    /// (`resumed` false) counts its rejections afresh; a resumed one keeps those made before.
    pub fn begin(&self, repo: &str, resumed: bool) -> anyhow::Result<()> {
        self.conn.execute(
            "INSERT INTO unfinished (store, collection, repo, rejected, started)
             VALUES (?1, ?2, ?3, 0, ?4)
             ON CONFLICT (store, collection, repo) DO UPDATE
             SET rejected = CASE WHEN ?5 THEN rejected ELSE 0 END, started = excluded.started",
            params![
                self.store,
                self.collection,
                repo,
                ely_vocab::date::now_rfc3339(),
                resumed
            ],
        )?;
        Ok(())
    }

    /// Counts a rejection against `repo`'s unfinished run.
    pub fn rejected(&self, repo: &str) -> anyhow::Result<()> {
        self.conn.execute(
            "INSERT INTO unfinished (store, collection, repo, rejected, started)
             VALUES (?1, ?2, ?3, 1, ?4)
             ON CONFLICT (store, collection, repo) DO UPDATE SET rejected = rejected + 1",
            params![
                self.store,
                self.collection,
                repo,
                ely_vocab::date::now_rfc3339()
            ],
        )?;
        Ok(())
    }

    /// The rejections counted against `repo`'s unfinished run.
    pub fn rejections(&self, repo: &str) -> anyhow::Result<u64> {
        Ok(self
            .conn
            .query_row(
                "SELECT rejected FROM unfinished WHERE store = ?1 AND collection = ?2 AND repo = ?3",
                params![self.store, self.collection, repo],
                |r| r.get::<_, i64>(0),
            )
            .optional()?
            .map_or(0, |n| n.max(0) as u64))
    }

    /// `repo` was written whole: nothing of it is unfinished.
    pub fn finish(&self, repo: &str) -> anyhow::Result<()> {
        self.conn.execute(
            "DELETE FROM unfinished WHERE store = ?1 AND collection = ?2 AND repo = ?3",
            params![self.store, self.collection, repo],
        )?;
        Ok(())
    }

    /// The paths `--uncommitted` indexed from `repo`'s working tree.
    pub fn worktree(&self, repo: &str) -> anyhow::Result<Vec<String>> {
        let mut stmt = self.conn.prepare(
            "SELECT path FROM worktree WHERE store = ?1 AND collection = ?2 AND repo = ?3 ORDER BY path",
        )?;
        let rows = stmt.query_map(params![self.store, self.collection, repo], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Replaces the paths indexed from `repo`'s working tree.
    pub fn set_worktree(&mut self, repo: &str, paths: &[String]) -> anyhow::Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "DELETE FROM worktree WHERE store = ?1 AND collection = ?2 AND repo = ?3",
            params![self.store, self.collection, repo],
        )?;
        for p in paths {
            tx.execute(
                "INSERT OR IGNORE INTO worktree (store, collection, repo, path) VALUES (?1, ?2, ?3, ?4)",
                params![self.store, self.collection, repo, p],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The id scheme the collection was written with, as recorded here.
    pub fn scheme(&self) -> anyhow::Result<Option<String>> {
        Ok(self
            .conn
            .query_row(
                "SELECT scheme FROM schemes WHERE store = ?1 AND collection = ?2",
                params![self.store, self.collection],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Records the collection's id scheme.
    pub fn set_scheme(&self, scheme: &str) -> anyhow::Result<()> {
        self.conn.execute(
            "INSERT OR REPLACE INTO schemes (store, collection, scheme) VALUES (?1, ?2, ?3)",
            params![self.store, self.collection, scheme],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_per_store_collection_repo_and_source() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/ingest.db");
        let s = State::open(&path, "s.db", "Code").unwrap();
        assert_eq!(s.commit("app", Source::Git).unwrap(), None);
        s.remember("app", Source::Git, "abc", Some("main")).unwrap();
        s.remember("app", Source::Git, "def", None).unwrap();
        s.remember("app", Source::Mgit, "123", None).unwrap();
        assert_eq!(s.commit("app", Source::Git).unwrap().unwrap().commit, "def");
        assert_eq!(
            s.commit("app", Source::Mgit).unwrap().unwrap().commit,
            "123"
        );
        let other = State::open(&path, "s.db", "Docs").unwrap();
        assert_eq!(other.commit("app", Source::Git).unwrap(), None);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // A run that stopped leaves its repository unfinished, with its rejections.
        assert!(s.unfinished().unwrap().is_empty());
        s.begin("app", false).unwrap();
        s.rejected("app").unwrap();
        assert_eq!(s.rejections("app").unwrap(), 1);
        s.rejected("app").unwrap();
        assert_eq!(s.rejections("app").unwrap(), 2);
        s.begin("app", true).unwrap();
        assert_eq!(s.rejections("app").unwrap(), 2, "a resumed run keeps them");
        s.begin("app", false).unwrap();
        assert_eq!(
            s.rejections("app").unwrap(),
            0,
            "a run that starts over does not"
        );
        assert_eq!(other.unfinished().unwrap().len(), 0);
        s.finish("app").unwrap();
        assert!(s.unfinished().unwrap().is_empty());
        let mut s = s.reopen().unwrap();
        s.set_worktree("app", &["a b.py".into(), "x.rs".into()])
            .unwrap();
        s.set_worktree("app", &["x.rs".into()]).unwrap();
        assert_eq!(s.worktree("app").unwrap(), ["x.rs"]);
        s.set_scheme("ely").unwrap();
        assert_eq!(s.scheme().unwrap().as_deref(), Some("ely"));
        assert_eq!(other.scheme().unwrap(), None);
    }
}
