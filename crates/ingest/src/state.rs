//! What ely-ingest remembers between runs, in one SQLite file (`$ELY_HOME/ingest.db`, mode
//! 0600): per store, collection and repository, the commit each source was read up to (the
//! `new_changeset` of mgit's records, or the commit `--git` ingested), and the id scheme each
//! collection was written with.

use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension};

const MIGRATIONS: &[&str] = &["CREATE TABLE commits (
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
    ) WITHOUT ROWID;"];

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
    store: String,
    collection: String,
}

impl State {
    /// Opens (creating) the state file at `path`, for `store` (its location) and `collection`.
    pub fn open(path: &Path, store: &str, collection: &str) -> anyhow::Result<State> {
        let conn = ely_store::sqlite::open(path, "ingest state", MIGRATIONS, |_| Ok(()))?;
        Ok(State {
            conn,
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
        s.set_scheme("ely").unwrap();
        assert_eq!(s.scheme().unwrap().as_deref(), Some("ely"));
        assert_eq!(other.scheme().unwrap(), None);
    }
}
