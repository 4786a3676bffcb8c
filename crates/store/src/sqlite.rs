//! SQLite files that hold state (the embedded store, and the state files of ely-ingest and
//! the tools after it), opened one way: the folder and the file created when missing, the file
//! mode 0600 (no other user can read it), WAL journal with a busy timeout, and the schema
//! migrated by `PRAGMA user_version`.

use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;

use crate::{ErrorKind, Result, StoreError};

/// How long a writer waits for another process's lock.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(60);

/// Opens (creating when missing) the SQLite file `path`, named `what` in errors, and brings
/// its schema up to date: `migrations[n]` takes version `n` to `n + 1`. `setup` sets the
/// file's own pragmas.
pub fn open(
    path: &Path,
    what: &str,
    migrations: &[&str],
    setup: impl Fn(&Connection) -> rusqlite::Result<()>,
) -> Result<Connection> {
    let fail = |doing: &str, e: &dyn std::fmt::Display| {
        StoreError::other(format!("{what} {}: {doing}: {e}", path.display()))
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| fail("creating its folder", &e))?;
    }
    create_private(path).map_err(|e| fail("creating the file", &e))?;
    let mut conn = Connection::open(path).map_err(|e| fail("opening", &e))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|e| fail("setting it up", &e))?;
    // Switching a new file to WAL takes a lock the busy timeout does not wait for, so a file
    // that several processes open at once is retried here.
    let started = std::time::Instant::now();
    loop {
        let done = conn
            .pragma_update(None, "journal_mode", "WAL")
            .and_then(|_| setup(&conn))
            .map_err(StoreError::from)
            .and_then(|_| migrate(&mut conn, migrations));
        match done {
            Ok(()) => return Ok(conn),
            Err(e) if e.kind == ErrorKind::Unavailable && started.elapsed() < BUSY_TIMEOUT => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(fail("setting it up", &e)),
        }
    }
}

/// The folder of a state file, where what belongs to it goes (its locks and logs): `.` for a
/// bare file name.
pub fn folder_of(path: &Path) -> std::path::PathBuf {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| std::path::PathBuf::from("."), Path::to_owned)
}

/// Creates the file with mode 0600 if it does not exist, so no other user can read it.
fn create_private(path: &Path) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    match opts.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

fn migrate(conn: &mut Connection, migrations: &[&str]) -> Result<()> {
    // Up to date (the common case): no write lock is taken.
    let current: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if current == migrations.len() as i64 {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let version: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let known = migrations.len() as i64;
    if !(0..=known).contains(&version) {
        return Err(StoreError::other(format!(
            "it has schema version {version}, newer than this ely knows ({known}); upgrade ely"
        )));
    }
    for sql in &migrations[version as usize..] {
        tx.execute_batch(sql)?;
    }
    tx.pragma_update(None, "user_version", known)?;
    tx.commit()?;
    Ok(())
}
