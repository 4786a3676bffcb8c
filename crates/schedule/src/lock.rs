//! One lock per job, so that a cron run starting while the previous one still works (a slow
//! backup, a sync stuck on the network) steps aside instead of colliding with it. The lock is
//! an advisory `flock` on a small file holding the holder's pid: the kernel releases it when
//! the process ends however it ends, so there are no stale locks to clean up.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// A held job lock; dropping it releases the lock.
#[derive(Debug)]
pub struct RunLock {
    file: File,
    path: PathBuf,
}

impl RunLock {
    /// Takes the lock at `path` if no one holds it: `Ok(None)` when another process (or
    /// another `RunLock` in this one) holds it. Creates the file (0600) and its folder (0700)
    /// as needed and writes this process's pid into it.
    pub fn try_acquire(path: &Path) -> io::Result<Option<RunLock>> {
        let context =
            |e: io::Error| io::Error::new(e.kind(), format!("cannot lock {}: {e}", path.display()));
        if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(context)?;
        }
        // Not truncated on open: until the lock is ours the pid in it is the holder's.
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .map_err(context)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Ok(None),
            Err(fs::TryLockError::Error(e)) => return Err(context(e)),
        }
        file.set_len(0).map_err(context)?;
        file.write_all(format!("{}\n", std::process::id()).as_bytes())
            .map_err(context)?;
        Ok(Some(RunLock {
            file,
            path: path.to_path_buf(),
        }))
    }

    /// The pid written by the current holder of the lock at `path`, for messages such as
    /// "another run (pid 1234) holds ...". Meant for right after [`RunLock::try_acquire`]
    /// returned None; None when the file is missing, empty (released) or unreadable.
    pub fn holder(path: &Path) -> Option<u32> {
        fs::read_to_string(path).ok()?.trim().parse().ok()
    }

    /// Whether a live process holds the lock at `path`, judged without taking it (taking it,
    /// even for a moment, could make a job starting then step aside): the pid in the file,
    /// still running. A process that was killed leaves its pid behind; where `/proc` is
    /// missing, a pid counts as running.
    pub fn is_held(path: &Path) -> bool {
        match RunLock::holder(path) {
            None => false,
            Some(pid) => {
                !Path::new("/proc").is_dir() || Path::new(&format!("/proc/{pid}")).exists()
            }
        }
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // Emptied while still held so that no later reader takes our pid for a holder; the
        // lock itself goes when the file is closed right after.
        let _ = self.file.set_len(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_is_held_while_its_holder_lives() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sync.lock");
        assert!(!RunLock::is_held(&path));
        let lock = RunLock::try_acquire(&path).unwrap().unwrap();
        assert!(RunLock::is_held(&path));
        drop(lock);
        assert!(!RunLock::is_held(&path));
        // A killed holder leaves its pid; a pid that runs no process holds nothing.
        std::fs::write(&path, "999999999\n").unwrap();
        assert!(!RunLock::is_held(&path));
    }

    #[test]
    fn second_acquire_fails_while_held_and_succeeds_after_drop() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jobs/backup.lock");
        let first = RunLock::try_acquire(&path).unwrap().expect("first acquire");
        assert_eq!(first.path(), path);
        assert!(
            RunLock::try_acquire(&path).unwrap().is_none(),
            "second acquire while held"
        );
        assert_eq!(RunLock::holder(&path), Some(std::process::id()));
        drop(first);
        assert_eq!(
            RunLock::holder(&path),
            None,
            "released lock names no holder"
        );
        let again = RunLock::try_acquire(&path).unwrap();
        assert!(again.is_some(), "acquire after drop");
    }

    #[test]
    fn lock_file_and_folder_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/locks/sync.lock");
        let _lock = RunLock::try_acquire(&path).unwrap().unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            format!("{}\n", std::process::id())
        );
    }

    #[test]
    fn stale_pid_from_an_old_holder_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.lock");
        // A holder that was killed leaves its pid behind, longer than ours.
        fs::write(&path, "4294967295\n").unwrap();
        let _lock = RunLock::try_acquire(&path).unwrap().unwrap();
        assert_eq!(RunLock::holder(&path), Some(std::process::id()));
    }

    #[test]
    fn a_held_lock_is_seen_by_another_process() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.lock");
        let _lock = RunLock::try_acquire(&path).unwrap().unwrap();
        // flock(1) from util-linux, when present, asks the kernel from another process.
        let status = std::process::Command::new("flock")
            .args(["--nonblock", "--exclusive"])
            .arg(&path)
            .arg("true")
            .status();
        match status {
            Ok(status) => assert!(!status.success(), "another process took a held lock"),
            Err(e) => eprintln!("skipped: no flock program ({e})"),
        }
    }

    #[test]
    fn missing_lock_names_no_holder() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(RunLock::holder(&dir.path().join("none.lock")), None);
    }
}
